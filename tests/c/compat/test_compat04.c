/* A program built with the 0.4.0 header (hamqtt_0_4.h, that release's include/hamqtt.h as it
 * was) against the current library: hamqtt_poll must write its smaller events, in their
 * layout, never past the end of its array (a canary follows it), with the values the fields
 * had in 0.4. Its clients are made the ways a 0.4 program makes them: with 0.4's
 * HAMQTT_OPTIONS_INIT, with NULL options, and from a configuration. Linked into test_capi
 * (case compat04_poll, also in the valgrind and cgocheck2 runs). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hamqtt_0_4.h" /* instead of hamqtt.h: testutil.h's include of it is then skipped */
#include "../testutil.h"
#include "test_compat.h"

#if HAMQTT_VERSION_MINOR != 4 || HAMQTT_VERSION_MAJOR != 0
#error "this file must be compiled with the 0.4 header"
#endif

#define BATCH 4                /* events per hamqtt_poll */
#define MESSAGES (3 * BATCH)   /* async publishes, each giving a delivery and a message */
#define CANARY 0xA5

/* The application's array and what follows it in memory. */
struct guarded {
    hamqtt_event ev[BATCH];
    unsigned char canary[512];
};

static void check_canary(const struct guarded *g) {
    size_t i;
    for (i = 0; i < sizeof g->canary; i++)
        if (g->canary[i] != CANARY) FAILF("byte %zu after the event array was overwritten", i);
}

/* Publishes MESSAGES async messages to the client's own subscription and polls their
 * deliveries and messages (and anything else) BATCH at a time into a guarded array, checking
 * every field. `c` is in pull mode, not connected, named `name`. */
static void exercise(hamqtt_client c, const char *name) {
    static struct guarded g;
    int users[MESSAGES];
    uint64_t ids[MESSAGES];
    int delivered[MESSAGES], received[MESSAGES];
    char filter[64], topic[64], payload[32];
    int full = 0, ups = 0, done = 0, i;
    int64_t deadline;

    memset(delivered, 0, sizeof delivered);
    memset(received, 0, sizeof received);
    snprintf(filter, sizeof filter, "compat/%s/#", name);
    CHECK_OK(hamqtt_subscribe(c, filter, 1, NULL, NULL));
    CHECK_OK(hamqtt_connect(c));
    for (i = 0; i < MESSAGES; i++) {
        snprintf(topic, sizeof topic, "compat/%s/%d", name, i);
        snprintf(payload, sizeof payload, "payload %d", i);
        CHECK_OK(hamqtt_publish_async(c, topic, payload, strlen(payload), 1, 0, NULL, &users[i], &ids[i]));
    }
    /* every outcome is queued: the first poll fills the whole array */
    CHECK_OK(hamqtt_flush(c, 10000 * test_scale()));

    deadline = now_ms() + 10000 * test_scale();
    while (done < 2 * MESSAGES) {
        size_t count = 99, k;
        if (now_ms() > deadline) FAILF("%s: %d of %d deliveries and messages polled", name, done, 2 * MESSAGES);
        memset(g.ev, 0x5A, sizeof g.ev);
        memset(g.canary, CANARY, sizeof g.canary);
        CHECK_OK(hamqtt_poll(c, g.ev, BATCH, 100, &count));
        check_canary(&g);
        CHECK(count <= BATCH);
        if (count == BATCH) full++;
        for (k = 0; k < count; k++) {
            const hamqtt_event *e = &g.ev[k];
            CHECK(e->time_unix_ns > 0);
            switch (e->kind) {
            case HAMQTT_EVENT_ENDPOINT_UP:
                CHECK(e->endpoint != NULL && strncmp(e->endpoint, name, strlen(name)) == 0);
                CHECK(e->error == NULL && e->message.topic == NULL && e->delivery.topic == NULL);
                ups++;
                break;
            case HAMQTT_EVENT_DELIVERY: {
                const hamqtt_delivery *d = &e->delivery;
                int *u = (int *)d->user;
                CHECK(u >= users && u < users + MESSAGES);
                i = (int)(u - users);
                CHECK(!delivered[i]);
                delivered[i] = 1;
                done++;
                snprintf(topic, sizeof topic, "compat/%s/%d", name, i);
                CHECK(d->id == ids[i]);
                CHECK(d->topic != NULL && strcmp(d->topic, topic) == 0);
                CHECK(d->status == HAMQTT_OK && d->error == NULL && e->status == HAMQTT_OK && e->error == NULL);
                CHECK(d->endpoints != NULL && strncmp(d->endpoints, name, strlen(name)) == 0);
                CHECK(e->message.topic == NULL && e->message.payload == NULL && e->message.endpoint == NULL);
                break;
            }
            case HAMQTT_EVENT_MESSAGE: {
                const hamqtt_message *m = &e->message;
                size_t prefix = strlen(filter) - 1; /* "compat/<name>/" */
                CHECK(m->topic != NULL && m->topic_len == strlen(m->topic));
                CHECK(strncmp(m->topic, filter, prefix) == 0);
                i = atoi(m->topic + prefix);
                CHECK(i >= 0 && i < MESSAGES && !received[i]);
                received[i] = 1;
                done++;
                snprintf(payload, sizeof payload, "payload %d", i);
                CHECK(m->payload_len == strlen(payload) && memcmp(m->payload, payload, m->payload_len) == 0);
                CHECK(m->qos == 1 && m->retained == 0 && m->duplicate == 0);
                CHECK(m->endpoint != NULL && strncmp(m->endpoint, name, strlen(name)) == 0);
                CHECK(e->endpoint != NULL && strcmp(e->endpoint, m->endpoint) == 0);
                CHECK(e->status == 0 && e->error == NULL);
                CHECK(e->delivery.id == 0 && e->delivery.topic == NULL && e->delivery.user == NULL);
                break;
            }
            default:
                FAILF("%s: unexpected event kind %d (status %d: %s)", name, e->kind, e->status,
                      e->error ? e->error : "");
            }
        }
    }
    CHECK(ups == 1);
    CHECK(full > 0); /* an array filled to its end: a larger layout would have hit the canary */
    CHECK_OK(hamqtt_close(c));
}

void test_compat04_poll(void) {
    brokers b;
    hamqtt_options o = HAMQTT_OPTIONS_INIT; /* 0.4's: its struct_size tells the library */
    hamqtt_client c = 0;
    char yaml[512];

    brokers_start(&b, 1);
    o.name = "old";
    o.keep_alive_ms = 2000 * test_scale();
    o.connect_timeout_ms = 2000 * test_scale();
    o.time_to_wait_ms = 10000 * test_scale();
    o.ack_timeout_ms = 2000 * test_scale();
    o.probe_delay_ms = 50;
    o.max_probe_delay_ms = 500;
    o.connect_rate = -1;
    o.warm_up_ms = -1;
    o.flap_limit = -1;
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), &o, &c));
    exercise(c, "old");

    /* no options: nothing tells the library the header, so it takes the 0.4 layout */
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), NULL, &c));
    {
        char *name = NULL;
        CHECK_OK(hamqtt_client_name(c, &name));
        exercise(c, name);
        hamqtt_free(name);
    }

    /* a cluster of the configuration: no options either */
    snprintf(yaml, sizeof yaml,
             "defaultCluster: oldcfg\n"
             "clusters:\n"
             "  - name: oldcfg\n"
             "    connections:\n"
             "      - connection:\n"
             "          serverURIs: [tcp://127.0.0.1:%d]\n",
             b.ports[0]);
    CHECK_OK(hamqtt_init_yaml(yaml, strlen(yaml)));
    CHECK_OK(hamqtt_cluster_client(NULL, &c));
    exercise(c, "oldcfg");
    CHECK_OK(hamqtt_shutdown());
    brokers_quit(&b);
}
