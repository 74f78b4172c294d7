/* The event layout hamqtt_poll writes for programs built with this header: the current one
 * through the hamqtt_poll macro (hamqtt_poll_sized) and through the exported function itself
 * for a client made with this header's HAMQTT_OPTIONS_INIT; a larger event_size (a newer
 * header) gets the current layout with zeros after it; any other size is refused. The 0.4
 * layout is test_compat04.c's. Linked into test_capi (case layout_poll). */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hamqtt.h"
#include "../testutil.h"
#include "test_compat.h"

#define CANARY 0xA5

/* An event of a header newer than this one: this one's, then fields this library does not know. */
struct newer_event {
    hamqtt_event e;
    unsigned char later[40];
};

struct guarded {
    struct newer_event ev[4];
    unsigned char canary[256];
};

/* Publishes one message with a content type (QoS 1, async) to the client's own subscription
 * and polls with poll() until its outcome and the message came, checking the MQTT 5 fields
 * and that nothing is written past the array. */
static void exercise(hamqtt_client c, const char *tag, int (*poll)(hamqtt_client, struct guarded *, size_t *),
                     size_t stride) {
    static struct guarded g;
    hamqtt_props *p = hamqtt_props_new();
    char topic[64];
    int got_msg = 0, got_ok = 0, user = 0;
    int64_t deadline = now_ms() + 10000 * test_scale();

    snprintf(topic, sizeof topic, "layout/%s", tag);
    CHECK_OK(hamqtt_props_set_string(p, HAMQTT_PROP_CONTENT_TYPE, "text/x-layout"));
    CHECK_OK(hamqtt_subscribe(c, topic, 1, NULL, NULL));
    CHECK_OK(hamqtt_connect(c));
    CHECK_OK(hamqtt_publish_async_props(c, topic, "m", 1, 1, 0, p, &user, NULL));
    hamqtt_props_free(p);
    while (!(got_msg && got_ok)) {
        size_t count = 0, k;
        if (now_ms() > deadline) FAILF("%s: message %d, outcome %d", tag, got_msg, got_ok);
        memset(&g, CANARY, sizeof g);
        CHECK_OK(poll(c, &g, &count));
        for (k = 0; k < sizeof g.canary; k++) CHECK(g.canary[k] == CANARY);
        CHECK(count <= 4);
        for (k = 0; k < count; k++) {
            const hamqtt_event *e = (const hamqtt_event *)((const char *)g.ev + k * stride);
            if (stride > sizeof(hamqtt_event)) {
                size_t j;
                for (j = sizeof(hamqtt_event); j < stride; j++) CHECK(((const unsigned char *)e)[j] == 0);
            }
            if (e->kind == HAMQTT_EVENT_MESSAGE) {
                const char *s = NULL;
                CHECK(strcmp(e->message.topic, topic) == 0 && e->message.payload_len == 1);
                CHECK(e->message.props != NULL);
                CHECK_OK(hamqtt_props_get_string(e->message.props, HAMQTT_PROP_CONTENT_TYPE, &s, NULL));
                CHECK(strcmp(s, "text/x-layout") == 0);
                CHECK(e->delivery.reason_code == 0 && e->delivery.user == NULL);
                got_msg++;
            } else if (e->kind == HAMQTT_EVENT_DELIVERY) {
                CHECK(e->delivery.user == &user && e->delivery.status == HAMQTT_OK);
                CHECK(e->delivery.reason_code == 0 && strcmp(e->delivery.topic, topic) == 0);
                CHECK(e->message.props == NULL);
                got_ok++;
            } else {
                CHECK(e->kind == HAMQTT_EVENT_ENDPOINT_UP);
                CHECK(e->message.props == NULL && e->delivery.reason_code == 0);
            }
        }
    }
    CHECK(got_msg == 1 && got_ok == 1);
    CHECK_OK(hamqtt_close(c));
}

/* The exported function, not the macro: what a function pointer or dlsym() reaches. */
static int poll_exported(hamqtt_client c, struct guarded *g, size_t *count) {
    hamqtt_event *ev = (hamqtt_event *)(void *)g->ev;
    memset(g->ev, 0, sizeof g->ev); /* its layout: 4 hamqtt_event, not struct newer_event */
    return (hamqtt_poll)(c, ev, 4, 100, count);
}

static int poll_macro(hamqtt_client c, struct guarded *g, size_t *count) {
    hamqtt_event ev[4];
    int rc = hamqtt_poll(c, ev, 4, 100, count); /* hamqtt_poll_sized(..., sizeof(hamqtt_event), ...) */
    memset(g->ev, 0, sizeof g->ev); /* as poll_exported leaves it */
    if (rc == HAMQTT_OK) memcpy(g->ev, ev, *count * sizeof ev[0]);
    return rc;
}

static int poll_newer(hamqtt_client c, struct guarded *g, size_t *count) {
    return hamqtt_poll_sized(c, &g->ev[0].e, sizeof(struct newer_event), 4, 100, count);
}

static hamqtt_client v5_client(brokers *b, const char *name) {
    hamqtt_options o;
    hamqtt_client c = 0;
    test_options(&o, name);
    o.protocol_version = 5;
    CHECK_OK(hamqtt_client_new(brokers_uris(b, 1), &o, &c));
    return c;
}

void test_layout_poll(void) {
    brokers b;
    hamqtt_client c;
    hamqtt_event ev[2];
    size_t count = 7;

    char yaml[512];

    brokers_start(&b, 1);
    /* the exported hamqtt_poll with this header's options: the current layout */
    exercise(v5_client(&b, "exported"), "exported", poll_exported, sizeof(hamqtt_event));
    /* the macro: the current layout, also for a client made without options (which the
     * exported function would give the 0.4 layout) */
    snprintf(yaml, sizeof yaml,
             "clusters:\n"
             "  - name: macro\n"
             "    protocolVersion: 5\n"
             "    connections:\n"
             "      - connection:\n"
             "          serverURIs: [tcp://127.0.0.1:%d]\n",
             b.ports[0]);
    CHECK_OK(hamqtt_init_yaml(yaml, strlen(yaml)));
    CHECK_OK(hamqtt_cluster_client("macro", &c));
    exercise(c, "macro", poll_macro, sizeof(hamqtt_event));
    CHECK_OK(hamqtt_shutdown());
    /* a newer header's larger events: the current layout, then zeros */
    exercise(v5_client(&b, "newer"), "newer", poll_newer, sizeof(struct newer_event));

    /* sizes of no header */
    c = v5_client(&b, "sizes");
    CHECK_ERR(hamqtt_poll_sized(c, ev, sizeof ev[0] - 8, 2, 0, &count), HAMQTT_ERR_INVALID, "event_size");
    CHECK(count == 0);
    CHECK_ERR(hamqtt_poll_sized(c, ev, 1, 2, 0, &count), HAMQTT_ERR_INVALID, "event_size");
    CHECK_ERR(hamqtt_poll_sized(c, ev, 0, 2, 0, &count), HAMQTT_ERR_INVALID, "event_size");
    CHECK_OK(hamqtt_poll_sized(c, ev, sizeof ev[0], 2, 0, &count));
    CHECK_OK(hamqtt_close(c));
    brokers_quit(&b);
}
