/* The hamqtt C API with a disk outbox (hamqtt_options.outbox_dir): see outbox_common.h for
 * what this program does. hamqtt_publish_async() returns once the message is stored (with
 * HAMQTT_SYNC_ALWAYS: once an fsync covered it); its delivery callback runs on the PUBACK.
 * Everything else is the client's defaults (probe every 105-245 ms, warm-up 2 s after a
 * total outage). */
#include <hamqtt.h>

#include "outbox_common.h"

typedef struct {
    acks_t acks;
    window_t win;
    int windowed;
} state_t;

static state_t st;

static void on_delivery(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    (void)user, (void)c;
    if (d->status != HAMQTT_OK) fprintf(stderr, "hamqtt: publish failed: %s\n", d->error ? d->error : "");
    acks_hit(&st.acks, d->status == HAMQTT_OK);
    if (st.windowed) win_release(&st.win, d->status == HAMQTT_OK);
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

static void wait_live(hamqtt_client c, size_t want, const char *what) {
    int64_t until = now_ns() + 30LL * 1000000000LL;
    while (live_count(c) != want) {
        if (now_ns() > until) die("hamqtt", what);
        usleep(1000);
    }
}

int main(int argc, char **argv) {
    ob_args a = ob_parse(argc, argv);
    st.windowed = !a.flush;
    win_init(&st.win, a.window);

    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    char id[64];
    client_id(id, sizeof id, "outbox-hamqtt");
    o.name = "outbox";
    o.client_id = id;
    o.outbox_dir = a.dir;
    if (strcmp(a.sync, "always") == 0)
        o.outbox_sync = HAMQTT_SYNC_ALWAYS;
    else if (strcmp(a.sync, "interval") == 0)
        o.outbox_sync = HAMQTT_SYNC_INTERVAL;
    else if (strcmp(a.sync, "never") == 0)
        o.outbox_sync = HAMQTT_SYNC_NEVER;
    else
        die("sync policy", a.sync);
    hamqtt_client c;
    check(hamqtt_client_new(a.uri, &o, &c), "hamqtt_client_new");
    check(hamqtt_connect(c), "hamqtt_connect");
    wait_live(c, 1, "the broker did not come up");

    unsigned char *payload = malloc(a.size ? a.size : 1);
    random_payload(payload, a.size);
    int64_t up = 0;
    if (a.flush) {
        ob_say("ready");
        ob_expect("down");
        wait_live(c, 0, "the connection was not seen lost");
    }
    int64_t start = now_ns();
    for (long i = 0; i < a.n; i++) {
        if (st.windowed) win_acquire(&st.win);
        check(hamqtt_publish_async(c, a.topic, payload, a.size, 1, 0, on_delivery, NULL, NULL), "hamqtt_publish_async");
    }
    int64_t store_ns = now_ns() - start;
    if (a.flush) {
        ob_say("stored");
        ob_expect("up");
        up = now_ns();
    }
    acks_wait(&st.acks, a.n);
    ob_result(&a, &st.acks, start, store_ns, up);

    struct hamqtt_outbox_stats s = HAMQTT_OUTBOX_STATS_INIT;
    if (hamqtt_outbox_stats(c, &s) == HAMQTT_OK && s.messages != 0)
        fprintf(stderr, "hamqtt: %llu messages still held\n", (unsigned long long)s.messages);
    hamqtt_close(c);
    free(payload);
    return 0;
}
