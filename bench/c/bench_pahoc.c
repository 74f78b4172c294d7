/* Eclipse Paho C, asynchronous API (Debian libpaho-mqtt-dev, libpaho-mqtt3a): see common.h for
 * what this program does. MQTTAsync runs its own send and receive threads. MQTT 5 (VERSION 5):
 * MQTTAsync_createWithOptions with MQTTVERSION_5, MQTTAsync_connectOptions_initializer5
 * (cleanstart), and the *5 success/failure callbacks Paho C calls for an MQTT 5 client. */
#include <MQTTAsync.h>

#include "common.h"

typedef struct {
    latch_t conn, sub;
    counter_t cnt;
    window_t win;
} state_t;

static state_t st;

static void on_conn_ok(void *ctx, MQTTAsync_successData *r) {
    (void)ctx, (void)r;
    latch_set(&st.conn, 0);
}

static void on_conn_fail(void *ctx, MQTTAsync_failureData *r) {
    (void)ctx;
    latch_set(&st.conn, r && r->code ? r->code : -1);
}

static void on_sub_ok(void *ctx, MQTTAsync_successData *r) {
    (void)ctx, (void)r;
    latch_set(&st.sub, 0);
}

static void on_sub_fail(void *ctx, MQTTAsync_failureData *r) {
    (void)ctx, (void)r;
    latch_set(&st.sub, -1);
}

static void on_pub_ok(void *ctx, MQTTAsync_successData *r) {
    (void)ctx, (void)r;
    win_release(&st.win, 1);
}

static void on_pub_fail(void *ctx, MQTTAsync_failureData *r) {
    (void)ctx, (void)r;
    win_release(&st.win, 0);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m) {
    (void)ctx, (void)topic_len;
    counter_hit(&st.cnt);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_conn_ok5(void *ctx, MQTTAsync_successData5 *r) {
    (void)ctx, (void)r;
    latch_set(&st.conn, 0);
}

static void on_conn_fail5(void *ctx, MQTTAsync_failureData5 *r) {
    (void)ctx;
    latch_set(&st.conn, r && r->code ? r->code : -1);
}

static void on_sub_ok5(void *ctx, MQTTAsync_successData5 *r) {
    (void)ctx;
    /* a SUBACK refusing the filter is a success with a reason code >= 0x80 */
    latch_set(&st.sub, r && r->reasonCode >= 0x80 ? -1 : 0);
}

static void on_sub_fail5(void *ctx, MQTTAsync_failureData5 *r) {
    (void)ctx, (void)r;
    latch_set(&st.sub, -1);
}

static void on_pub_ok5(void *ctx, MQTTAsync_successData5 *r) {
    (void)ctx;
    win_release(&st.win, !(r && r->reasonCode >= 0x80));
}

static void on_pub_fail5(void *ctx, MQTTAsync_failureData5 *r) {
    (void)ctx, (void)r;
    win_release(&st.win, 0);
}

static void on_lost(void *ctx, char *cause) {
    (void)ctx;
    fprintf(stderr, "paho c: connection lost: %s\n", cause ? cause : "");
}

static MQTTAsync connect_one(const char *uri, const char *prefix, int window, int version) {
    char id[64];
    client_id(id, sizeof id, prefix);
    MQTTAsync c;
    int rc;
    if (version == 5) {
        MQTTAsync_createOptions cro = MQTTAsync_createOptions_initializer5;
        rc = MQTTAsync_createWithOptions(&c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &cro);
    } else {
        rc = MQTTAsync_create(&c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    }
    if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_create", MQTTAsync_strerror(rc));
    MQTTAsync_setCallbacks(c, NULL, on_lost, on_message, NULL);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
    if (version == 5) {
        co = co5;
        co.cleanstart = 1;
        co.onSuccess5 = on_conn_ok5;
        co.onFailure5 = on_conn_fail5;
    } else {
        co.cleansession = 1;
        co.MQTTVersion = MQTTVERSION_3_1_1;
        co.onSuccess = on_conn_ok;
        co.onFailure = on_conn_fail;
    }
    co.keepAliveInterval = 30;
    if (window > 0) co.maxInflight = window;
    if ((rc = MQTTAsync_connect(c, &co)) != MQTTASYNC_SUCCESS) die("MQTTAsync_connect", MQTTAsync_strerror(rc));
    if ((rc = latch_wait(&st.conn, 10)) != 0) die("connect", rc == -1000 ? "timeout" : MQTTAsync_strerror(rc));
    return c;
}

int main(int argc, char **argv) {
    if (argc < 3) usage(argv[0]);
    latch_init(&st.conn);
    latch_init(&st.sub);
    char *uris[8];
    int nuris = split_uris(argv[2], uris, 8);

    if (strcmp(argv[1], "idle") == 0) {
        MQTTAsync cs[8];
        for (int i = 0; i < nuris; i++) cs[i] = connect_one(uris[i], "idle-pahoc", 0, 4);
        idle_ready_and_wait();
        (void)cs;
        _exit(0); /* see the end of main */
    }
    tp_args a = tp_parse(argc, argv);
    st.cnt.n = a.n;
    win_init(&st.win, a.window);

    MQTTAsync sub = connect_one(uris[0], "bench-sub", a.window, a.version);
    MQTTAsync_responseOptions so = MQTTAsync_responseOptions_initializer;
    if (a.version == 5) {
        so.onSuccess5 = on_sub_ok5;
        so.onFailure5 = on_sub_fail5;
    } else {
        so.onSuccess = on_sub_ok;
        so.onFailure = on_sub_fail;
    }
    int rc = MQTTAsync_subscribe(sub, a.topic, a.qos, &so);
    if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_subscribe", MQTTAsync_strerror(rc));
    if (latch_wait(&st.sub, 10) != 0) die("suback", "failed or timed out");
    MQTTAsync pub = connect_one(uris[0], "bench-pub", a.window, a.version);

    unsigned char *payload = malloc(a.size ? a.size : 1);
    random_payload(payload, a.size);
    MQTTAsync_responseOptions po = MQTTAsync_responseOptions_initializer;
    if (a.version == 5) {
        po.onSuccess5 = on_pub_ok5;
        po.onFailure5 = on_pub_fail5;
    } else {
        po.onSuccess = on_pub_ok;
        po.onFailure = on_pub_fail;
    }
    int64_t start = now_ns();
    for (long i = 0; i < a.n; i++) {
        MQTTAsync_message m = MQTTAsync_message_initializer;
        m.payload = payload;
        m.payloadlen = (int)a.size;
        m.qos = a.qos;
        m.retained = 0;
        win_acquire(&st.win);
        rc = MQTTAsync_sendMessage(pub, a.topic, &m, &po);
        if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_sendMessage", MQTTAsync_strerror(rc));
    }
    win_drain(&st.win);
    counter_wait(&st.cnt);
    print_result(&st.cnt, a.n, start, st.win.failed);
    /* MQTTAsync_disconnect + MQTTAsync_destroy take seconds here; the measurement is done and
     * the broker copes with a closed socket. */
    (void)pub, (void)sub;
    free(payload);
    _exit(0);
}
