/* libmosquitto (Debian libmosquitto-dev): see common.h for what this program does. Each client
 * runs libmosquitto's own network thread (mosquitto_loop_start). MQTT 5 (VERSION 5):
 * MOSQ_OPT_PROTOCOL_VERSION = MQTT_PROTOCOL_V5, the same calls otherwise (libmosquitto runs the
 * 3.1.1-style callbacks for a v5 client too). */
#include <mosquitto.h>

#include "common.h"

typedef struct {
    latch_t conn, sub;
    counter_t cnt;
    window_t win;
} state_t;

static void on_connect(struct mosquitto *m, void *u, int rc) {
    (void)m;
    latch_set(&((state_t *)u)->conn, rc);
}

static void on_subscribe(struct mosquitto *m, void *u, int mid, int n, const int *granted) {
    (void)m, (void)mid, (void)n, (void)granted;
    latch_set(&((state_t *)u)->sub, 0);
}

static void on_message(struct mosquitto *m, void *u, const struct mosquitto_message *msg) {
    (void)m, (void)msg;
    counter_hit(&((state_t *)u)->cnt);
}

static void on_publish(struct mosquitto *m, void *u, int mid) {
    (void)m, (void)mid;
    win_release(&((state_t *)u)->win, 1);
}

static struct mosquitto *connect_one(const char *uri, const char *prefix, state_t *st, int window, int version) {
    char host[256], id[64];
    int port;
    host_port(uri, host, sizeof host, &port);
    client_id(id, sizeof id, prefix);
    struct mosquitto *m = mosquitto_new(id, true, st);
    if (!m) die("mosquitto_new", strerror(errno));
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, version == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
    if (window > 0) mosquitto_max_inflight_messages_set(m, (unsigned)window);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    mosquitto_publish_callback_set(m, on_publish);
    int rc = mosquitto_connect(m, host, port, 30);
    if (rc != MOSQ_ERR_SUCCESS) die("mosquitto_connect", mosquitto_strerror(rc));
    if ((rc = mosquitto_loop_start(m)) != MOSQ_ERR_SUCCESS) die("mosquitto_loop_start", mosquitto_strerror(rc));
    if ((rc = latch_wait(&st->conn, 10)) != 0) die("connack", mosquitto_connack_string(rc));
    return m;
}

int main(int argc, char **argv) {
    if (argc < 3) usage(argv[0]);
    mosquitto_lib_init();
    static state_t st;
    latch_init(&st.conn);
    latch_init(&st.sub);
    char *uris[8];
    int nuris = split_uris(argv[2], uris, 8);

    if (strcmp(argv[1], "idle") == 0) {
        struct mosquitto *ms[8];
        for (int i = 0; i < nuris; i++) ms[i] = connect_one(uris[i], "idle-mosq", &st, 0, 4);
        idle_ready_and_wait();
        for (int i = 0; i < nuris; i++) {
            mosquitto_disconnect(ms[i]);
            mosquitto_loop_stop(ms[i], false);
            mosquitto_destroy(ms[i]);
        }
        mosquitto_lib_cleanup();
        return 0;
    }
    tp_args a = tp_parse(argc, argv);
    st.cnt.n = a.n;
    win_init(&st.win, a.window);

    struct mosquitto *sub = connect_one(uris[0], "bench-sub", &st, a.window, a.version);
    int rc = mosquitto_subscribe(sub, NULL, a.topic, a.qos);
    if (rc != MOSQ_ERR_SUCCESS) die("mosquitto_subscribe", mosquitto_strerror(rc));
    if (latch_wait(&st.sub, 10) != 0) die("suback", "timeout");
    struct mosquitto *pub = connect_one(uris[0], "bench-pub", &st, a.window, a.version);

    unsigned char *payload = malloc(a.size ? a.size : 1);
    random_payload(payload, a.size);
    int64_t start = now_ns();
    for (long i = 0; i < a.n; i++) {
        win_acquire(&st.win);
        rc = mosquitto_publish(pub, NULL, a.topic, (int)a.size, payload, a.qos, false);
        if (rc != MOSQ_ERR_SUCCESS) die("mosquitto_publish", mosquitto_strerror(rc));
    }
    win_drain(&st.win);
    counter_wait(&st.cnt);
    print_result(&st.cnt, a.n, start, st.win.failed);

    mosquitto_disconnect(pub);
    mosquitto_disconnect(sub);
    mosquitto_loop_stop(pub, false);
    mosquitto_loop_stop(sub, false);
    mosquitto_destroy(pub);
    mosquitto_destroy(sub);
    free(payload);
    mosquitto_lib_cleanup();
    return 0;
}
