/* The hamqtt C API (libhamqtt.so, include/hamqtt.h): see common.h for what this program does.
 * URIS is the whole virtual cluster (one client per role over every URI, STICKY). Push mode:
 * hamqtt_subscribe with a message callback, hamqtt_publish_async with a delivery callback, both
 * called on the client's library thread. MQTT 5 (VERSION 5): hamqtt_options.protocol_version = 5
 * for both clients, everything else the same (message ids left to the default: none here). */
#include <hamqtt.h>

#include "common.h"

typedef struct {
    counter_t cnt;
    window_t win;
} state_t;

static state_t st;

static void on_message(void *user, hamqtt_client c, const hamqtt_message *m) {
    (void)user, (void)c, (void)m;
    counter_hit(&st.cnt);
}

static void on_delivery(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    (void)user, (void)c;
    win_release(&st.win, d->status == HAMQTT_OK);
}

static void check(int rc, const char *what) {
    if (rc != HAMQTT_OK) {
        char detail[512];
        snprintf(detail, sizeof detail, "%s (%s)", hamqtt_strerror(rc), hamqtt_last_error());
        for (char *p = detail; *p; p++)
            if (*p == '"' || *p == '\\') *p = '\'';
        die(what, detail);
    }
}

static size_t live_count(hamqtt_client c) {
    char **names = NULL;
    size_t n = 0;
    check(hamqtt_live_endpoints(c, &names, &n), "hamqtt_live_endpoints");
    hamqtt_free(names);
    return n;
}

/* A connected client with every endpoint live (so the subscriber is subscribed wherever the
 * sticky publisher ends up). */
static hamqtt_client connect_all(const char *uris, int nuris, const char *name, int version) {
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    o.protocol_version = version;
    char id[64];
    client_id(id, sizeof id, name);
    o.name = name;
    o.client_id = id;
    o.publisher_type = HAMQTT_PUBLISHER_STICKY;
    hamqtt_client c;
    check(hamqtt_client_new(uris, &o, &c), "hamqtt_client_new");
    check(hamqtt_connect(c), "hamqtt_connect");
    int64_t until = now_ns() + 15LL * 1000000000LL;
    while (live_count(c) < (size_t)nuris) {
        if (now_ns() > until) die("hamqtt", "not every endpoint came up");
        usleep(5000);
    }
    return c;
}

int main(int argc, char **argv) {
    if (argc < 3) usage(argv[0]);
    char *list = strdup(argv[2]);
    char *uris[8];
    int nuris = split_uris(argv[2], uris, 8);

    if (strcmp(argv[1], "idle") == 0) {
        hamqtt_client c = connect_all(list, nuris, "idle", 4);
        idle_ready_and_wait();
        hamqtt_close(c);
        return 0;
    }
    tp_args a = tp_parse(argc, argv);
    st.cnt.n = a.n;
    win_init(&st.win, a.window);

    hamqtt_client sub = connect_all(list, nuris, "bench-sub", a.version);
    check(hamqtt_subscribe(sub, a.topic, a.qos, on_message, NULL), "hamqtt_subscribe");
    hamqtt_client pub = connect_all(list, nuris, "bench-pub", a.version);

    unsigned char *payload = malloc(a.size ? a.size : 1);
    random_payload(payload, a.size);
    int64_t start = now_ns();
    for (long i = 0; i < a.n; i++) {
        win_acquire(&st.win);
        check(hamqtt_publish_async(pub, a.topic, payload, a.size, a.qos, 0, on_delivery, NULL, NULL), "hamqtt_publish_async");
    }
    win_drain(&st.win);
    counter_wait(&st.cnt);
    print_result(&st.cnt, a.n, start, st.win.failed);

    hamqtt_close(pub);
    hamqtt_close(sub);
    free(payload);
    free(list);
    return 0;
}
