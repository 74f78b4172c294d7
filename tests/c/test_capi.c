/* Tests of the C API (include/hamqtt.h) against real Mosquitto brokers started through
 * internal/cmd/brokerctl. Run one case with `test_capi NAME`, every case with `test_capi all`;
 * ctest runs each case as its own test. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hamqtt.h"
#include "testutil.h"
#include "test_outbox.h"
#include "test_mqtt5.h"
#include "compat/test_compat.h"

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

/* Polls c until pred(event) holds for an event or timeout; returns the number of events seen. */
typedef int (*event_pred)(const hamqtt_event *e, void *arg);

static int poll_until(hamqtt_client c, event_pred pred, void *arg, int timeout_ms) {
    hamqtt_event evs[32];
    int64_t deadline = now_ms() + (int64_t)timeout_ms * test_scale();
    int seen = 0;
    while (now_ms() < deadline) {
        size_t n = 0, i;
        CHECK_OK(hamqtt_poll(c, evs, 32, 50, &n));
        for (i = 0; i < n; i++) {
            seen++;
            if (pred(&evs[i], arg)) return seen;
        }
    }
    FAILF("no matching event within %d ms (%d events seen)", timeout_ms, seen);
    return seen;
}

static int is_message_on(const hamqtt_event *e, void *topic) {
    return e->kind == HAMQTT_EVENT_MESSAGE && strcmp(e->message.topic, (const char *)topic) == 0;
}

static void wait_counter(atomic_int *v, int want, int timeout_ms, const char *what) {
    int64_t deadline = now_ms() + (int64_t)timeout_ms * test_scale();
    while (atomic_load(v) < want) {
        if (now_ms() > deadline) FAILF("%s: %d after %d ms, want %d", what, atomic_load(v), timeout_ms, want);
        sleep_ms(5);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* version, strerror, last_error, free                                                        */

static void test_version(void) {
    int codes[] = {HAMQTT_OK, HAMQTT_ERR_INVALID, HAMQTT_ERR_HANDLE, HAMQTT_ERR_TOPIC, HAMQTT_ERR_QOS,
                   HAMQTT_ERR_PAYLOAD, HAMQTT_ERR_CONFIG, HAMQTT_ERR_NO_ENDPOINT, HAMQTT_ERR_CLOSED,
                   HAMQTT_ERR_NOT_FOUND, HAMQTT_ERR_BUSY, HAMQTT_ERR_MODE, HAMQTT_ERR_STATE,
                   HAMQTT_ERR_REFUSED, HAMQTT_ERR_IO, HAMQTT_ERR_NOT_INITIALIZED, HAMQTT_ERR_TIMEOUT,
                   HAMQTT_ERR_FULL, HAMQTT_ERR_DROPPED, HAMQTT_ERR_EXPIRED, HAMQTT_ERR_LOCKED, HAMQTT_ERR_BUFFER,
                   HAMQTT_ERR_INTERNAL, HAMQTT_STORED};
    size_t i;
    CHECK(strcmp(hamqtt_version(), HAMQTT_VERSION_STRING) == 0);
    CHECK(strcmp(hamqtt_last_error(), "") == 0);
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = hamqtt_strerror(codes[i]);
        CHECK(s != NULL && *s != 0);
        CHECK(strcmp(s, "unknown status code") != 0);
        CHECK(hamqtt_strerror(codes[i]) == s); /* static text */
    }
    CHECK(strcmp(hamqtt_strerror(12345), "unknown status code") == 0);
    CHECK(strcmp(hamqtt_strerror(-1000), "unknown status code") == 0);
    hamqtt_free(NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* bad input: every function, no broker needed                                                 */

static void test_bad_input(void) {
    hamqtt_client c = 0, closed = 0;
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    hamqtt_event ev[4];
    size_t n = 99;
    int fd = 0;
    char **names = NULL;
    char *s = NULL;
    hamqtt_endpoint_stats *st = NULL;
    uint64_t id = 7;
    static char big[16];
    const char bad_utf8[] = {'a', '/', (char)0xff, (char)0xfe, 0};
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;

    /* client_new */
    CHECK_ERR(hamqtt_client_new(NULL, NULL, &c), HAMQTT_ERR_INVALID, "endpoints is NULL");
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", NULL, NULL), HAMQTT_ERR_INVALID, "out is NULL");
    CHECK_ERR(hamqtt_client_new("", NULL, &c), HAMQTT_ERR_CONFIG, "names no broker");
    CHECK(c == 0);
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:99999", NULL, &c), HAMQTT_ERR_CONFIG, "99999");
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1890-1880", NULL, &c), HAMQTT_ERR_CONFIG, "1890-1880");
    CHECK_ERR(hamqtt_client_new("gopher://127.0.0.1:1883", NULL, &c), HAMQTT_ERR_CONFIG, "gopher");
    CHECK_ERR(hamqtt_client_new("tcp://10.0.0.1-254:1-65535", NULL, &c), HAMQTT_ERR_CONFIG, "more than 1024 brokers");
    o.struct_size = 4;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_INVALID, "HAMQTT_OPTIONS_INIT");
    o.struct_size = sizeof o;
    o.keep_alive_ms = -1; /* no keep-alive: valid */
    CHECK_OK(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c));
    CHECK_OK(hamqtt_close(c));
    c = 0;
    o.keep_alive_ms = 0;
    /* TLS material in memory (the Node transports test connects with it to a TLS listener) */
    o.tls_ca_file = "/nonexistent.pem";
    o.tls_ca_pem = "-----BEGIN CERTIFICATE-----\n";
    CHECK_ERR(hamqtt_client_new("ssl://127.0.0.1:8883", &o, &c), HAMQTT_ERR_CONFIG, "not both");
    o.tls_ca_file = NULL;
    CHECK_ERR(hamqtt_client_new("ssl://127.0.0.1:8883", &o, &c), HAMQTT_ERR_CONFIG, "no PEM certificate");
    o.tls_ca_pem = NULL;
    o.tls_key_pem = "not a key";
    CHECK_ERR(hamqtt_client_new("ssl://127.0.0.1:8883", &o, &c), HAMQTT_ERR_CONFIG, "together");
    o.tls_key_pem = NULL;
    o.time_to_wait_ms = -5;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "time_to_wait_ms");
    o.time_to_wait_ms = 0;
    o.publisher_type = 9;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "publisher type");
    o.publisher_type = 0;
    o.fos = 4;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "fos 4");
    o.fos = 0;
    o.will_topic = "will/+";
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "wildcard");
    o.will_topic = "will";
    o.will_qos = 3;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "will_qos");
    o.will_qos = 1;
    o.tls_cert_file = "/nonexistent.pem";
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "tls_key_file");
    o.tls_cert_file = NULL;
    o.tls_ca_file = "/nonexistent/ca.pem";
    CHECK_ERR(hamqtt_client_new("ssl://127.0.0.1:8883", &o, &c), HAMQTT_ERR_CONFIG, "tls_ca_file");
    /* files that are not files: refused at once, never read into memory or waited on */
    o.tls_ca_file = "/dev/zero";
    CHECK_ERR(hamqtt_client_new("ssl://127.0.0.1:8883", &o, &c), HAMQTT_ERR_CONFIG, "not a regular file");
    {
        char fifo[] = "/tmp/hamqtt-test-fifo-XXXXXX";
        int fd = mkstemp(fifo);
        CHECK(fd >= 0);
        close(fd);
        unlink(fifo);
        CHECK(mkfifo(fifo, 0600) == 0);
        o.tls_ca_file = fifo;
        CHECK_ERR(hamqtt_client_new("ssl://127.0.0.1:8883", &o, &c), HAMQTT_ERR_CONFIG, "not a regular file");
        unlink(fifo);
    }
    o.tls_ca_file = NULL;
    CHECK(c == 0);

    /* a valid client that is never connected (the port refuses) */
    CHECK_OK(hamqtt_client_new("tcp://127.0.0.1:1", &o, &c));
    CHECK(c != 0);

    /* handles: 0, never issued, closed; double close */
    CHECK_ERR(hamqtt_connect(0), HAMQTT_ERR_HANDLE, "handle 0");
    CHECK_ERR(hamqtt_connect(c + 1000), HAMQTT_ERR_HANDLE, "never issued");
    CHECK_OK(hamqtt_client_new("tcp://127.0.0.1:2", NULL, &closed));
    CHECK_OK(hamqtt_close(closed));
    CHECK_ERR(hamqtt_close(closed), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_connect(closed), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_disconnect(closed), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_publish(closed, "t", "x", 1, 0, 0), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_publish_async(closed, "t", "x", 1, 0, 0, NULL, NULL, &id), HAMQTT_ERR_HANDLE, "closed");
    CHECK(id == 0);
    CHECK_ERR(hamqtt_publish_to(closed, "e", "t", "x", 1, 0, 0), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_subscribe(closed, "t", 0, NULL, NULL), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_unsubscribe(closed, "t"), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_set_callbacks(closed, &cbs), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_set_log_callback(closed, HAMQTT_LOG_INFO, NULL, NULL), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_poll(closed, ev, 4, 0, &n), HAMQTT_ERR_HANDLE, "closed");
    CHECK(n == 0);
    CHECK_ERR(hamqtt_event_fd(closed, &fd), HAMQTT_ERR_HANDLE, "closed");
    CHECK(fd == -1);
    CHECK_ERR(hamqtt_live_endpoints(closed, &names, &n), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_dead_endpoints(closed, &names, &n), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_stats(closed, &st, &n), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_add_endpoint(closed, "tcp://127.0.0.1:3", NULL, &s), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_remove_endpoint(closed, "x"), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_client_name(closed, &s), HAMQTT_ERR_HANDLE, "closed");
    CHECK(names == NULL && st == NULL && s == NULL);

    /* publish: topics, QoS, payloads, state */
    CHECK_ERR(hamqtt_publish(c, NULL, "x", 1, 0, 0), HAMQTT_ERR_INVALID, "topic is NULL");
    CHECK_ERR(hamqtt_publish(c, "", "x", 1, 0, 0), HAMQTT_ERR_TOPIC, "empty topic");
    CHECK_ERR(hamqtt_publish(c, "a/+/b", "x", 1, 0, 0), HAMQTT_ERR_TOPIC, "wildcard");
    CHECK_ERR(hamqtt_publish(c, "a/#", "x", 1, 0, 0), HAMQTT_ERR_TOPIC, "wildcard");
    CHECK_ERR(hamqtt_publish(c, bad_utf8, "x", 1, 0, 0), HAMQTT_ERR_TOPIC, "UTF-8");
    CHECK_ERR(hamqtt_publish(c, "t", "x", 1, -1, 0), HAMQTT_ERR_QOS, "QoS -1");
    CHECK_ERR(hamqtt_publish(c, "t", "x", 1, 3, 0), HAMQTT_ERR_QOS, "QoS 3");
    CHECK_ERR(hamqtt_publish(c, "t", NULL, 5, 0, 0), HAMQTT_ERR_INVALID, "payload is NULL");
    /* an oversized length is refused before the buffer is read */
    CHECK_ERR(hamqtt_publish(c, "t", big, (size_t)268435455, 1, 0), HAMQTT_ERR_PAYLOAD, "exceeds");
    CHECK_ERR(hamqtt_publish(c, "t", big, (size_t)-1, 1, 0), HAMQTT_ERR_PAYLOAD, "exceeds");
    CHECK_ERR(hamqtt_publish(c, "t", "x", 1, 1, 0), HAMQTT_ERR_STATE, "hamqtt_connect");
    CHECK_ERR(hamqtt_publish_async(c, "a/#", "x", 1, 0, 0, NULL, NULL, &id), HAMQTT_ERR_TOPIC, "wildcard");
    CHECK_ERR(hamqtt_publish_async(c, "t", "x", 1, 7, 0, NULL, NULL, &id), HAMQTT_ERR_QOS, "QoS 7");
    CHECK_ERR(hamqtt_publish_async(c, "t", "x", 1, 1, 0, NULL, NULL, NULL), HAMQTT_ERR_STATE, "not connected");
    CHECK_ERR(hamqtt_publish_to(c, NULL, "t", "x", 1, 0, 0), HAMQTT_ERR_INVALID, "endpoint is NULL");
    CHECK_ERR(hamqtt_publish_to(c, "x", "t/#", "x", 1, 0, 0), HAMQTT_ERR_TOPIC, "wildcard");
    CHECK_ERR(hamqtt_publish_to(c, "x", "t", "x", 1, 0, 0), HAMQTT_ERR_STATE, "not connected");

    /* subscribe / unsubscribe */
    CHECK_ERR(hamqtt_subscribe(c, NULL, 0, NULL, NULL), HAMQTT_ERR_INVALID, "filter is NULL");
    CHECK_ERR(hamqtt_subscribe(c, "", 0, NULL, NULL), HAMQTT_ERR_TOPIC, "empty filter");
    CHECK_ERR(hamqtt_subscribe(c, "a/#/b", 0, NULL, NULL), HAMQTT_ERR_TOPIC, "'#' must be the last level");
    CHECK_ERR(hamqtt_subscribe(c, "a/b#", 0, NULL, NULL), HAMQTT_ERR_TOPIC, "whole level");
    CHECK_ERR(hamqtt_subscribe(c, "a/+x", 0, NULL, NULL), HAMQTT_ERR_TOPIC, "whole level");
    CHECK_ERR(hamqtt_subscribe(c, bad_utf8, 0, NULL, NULL), HAMQTT_ERR_TOPIC, "UTF-8");
    CHECK_ERR(hamqtt_subscribe(c, "a/#", -1, NULL, NULL), HAMQTT_ERR_QOS, "QoS -1");
    CHECK_ERR(hamqtt_subscribe(c, "a/#", 3, NULL, NULL), HAMQTT_ERR_QOS, "QoS 3");
    CHECK_ERR(hamqtt_unsubscribe(c, NULL), HAMQTT_ERR_INVALID, "filter is NULL");
    CHECK_ERR(hamqtt_unsubscribe(c, "a/#/b"), HAMQTT_ERR_TOPIC, "last level");
    CHECK_ERR(hamqtt_unsubscribe(c, "never/subscribed"), HAMQTT_ERR_NOT_FOUND, "not subscribed");
    /* before connect a subscription is only registered */
    CHECK_OK(hamqtt_subscribe(c, "a/+/c", 1, NULL, NULL));
    CHECK_OK(hamqtt_unsubscribe(c, "a/+/c"));

    /* events */
    CHECK_ERR(hamqtt_poll(c, NULL, 4, 0, &n), HAMQTT_ERR_INVALID, "must not be NULL");
    CHECK_ERR(hamqtt_poll(c, ev, 4, 0, NULL), HAMQTT_ERR_INVALID, "must not be NULL");
    CHECK_ERR(hamqtt_poll(c, ev, 0, 0, &n), HAMQTT_ERR_INVALID, "max_events");
    CHECK_OK(hamqtt_poll(c, ev, 4, 0, &n));
    CHECK(n == 0);
    CHECK_ERR(hamqtt_event_fd(c, NULL), HAMQTT_ERR_INVALID, "fd is NULL");
    cbs.struct_size = 3;
    CHECK_ERR(hamqtt_set_callbacks(c, &cbs), HAMQTT_ERR_INVALID, "HAMQTT_CALLBACKS_INIT");

    /* endpoints */
    CHECK_ERR(hamqtt_live_endpoints(c, NULL, &n), HAMQTT_ERR_INVALID, "names is NULL");
    CHECK_ERR(hamqtt_dead_endpoints(c, NULL, NULL), HAMQTT_ERR_INVALID, "names is NULL");
    CHECK_ERR(hamqtt_stats(c, NULL, &n), HAMQTT_ERR_INVALID, "must not be NULL");
    CHECK_ERR(hamqtt_stats(c, &st, NULL), HAMQTT_ERR_INVALID, "must not be NULL");
    CHECK_ERR(hamqtt_add_endpoint(c, NULL, NULL, NULL), HAMQTT_ERR_INVALID, "uri is NULL");
    CHECK_ERR(hamqtt_add_endpoint(c, "tcp://127.0.0.1:70000", NULL, NULL), HAMQTT_ERR_CONFIG, "70000");
    CHECK_ERR(hamqtt_add_endpoint(c, "tcp://127.0.0.1:5-6", "one", NULL), HAMQTT_ERR_INVALID, "single broker");
    CHECK_ERR(hamqtt_add_endpoint(c, "tcp://127.0.0.1:1-2000", NULL, NULL), HAMQTT_ERR_CONFIG, "more than 1024");
    CHECK_ERR(hamqtt_add_endpoint(c, "tcp://127.0.0.1:1", NULL, NULL), HAMQTT_ERR_CONFIG, "already");
    CHECK_ERR(hamqtt_remove_endpoint(c, NULL), HAMQTT_ERR_INVALID, "name is NULL");
    CHECK_ERR(hamqtt_remove_endpoint(c, "no-such-endpoint"), HAMQTT_ERR_NOT_FOUND, "no-such-endpoint");
    CHECK_ERR(hamqtt_client_name(c, NULL), HAMQTT_ERR_INVALID, "name is NULL");

    /* configuration */
    CHECK_ERR(hamqtt_init_file(NULL), HAMQTT_ERR_INVALID, "path is NULL");
    CHECK_ERR(hamqtt_init_file("/nonexistent/hamqtt.yaml"), HAMQTT_ERR_IO, "/nonexistent/hamqtt.yaml");
    CHECK_ERR(hamqtt_init_yaml(NULL, 3), HAMQTT_ERR_INVALID, "yaml is NULL");
    {
        const char *bad = "clusters:\n  - name: a\n    fos: 9\n";
        CHECK_ERR(hamqtt_init_yaml(bad, strlen(bad)), HAMQTT_ERR_CONFIG, ":3");
        bad = "clusters: [\n";
        CHECK_ERR(hamqtt_init_yaml(bad, strlen(bad)), HAMQTT_ERR_CONFIG, "<hamqtt_init_yaml>");
    }
    CHECK_ERR(hamqtt_cluster_client(NULL, &closed), HAMQTT_ERR_NOT_INITIALIZED, "hamqtt_init_file");
    CHECK(closed == 0);
    CHECK_ERR(hamqtt_cluster_client(NULL, NULL), HAMQTT_ERR_INVALID, "out is NULL");
    CHECK_ERR(hamqtt_cluster_names(&names, &n), HAMQTT_ERR_NOT_INITIALIZED, "no configuration");
    CHECK_ERR(hamqtt_cluster_names(NULL, &n), HAMQTT_ERR_INVALID, "names is NULL");
    CHECK_OK(hamqtt_shutdown());

    CHECK_OK(hamqtt_close(c));
    CHECK_ERR(hamqtt_close(c), HAMQTT_ERR_HANDLE, "closed");
}

/* ------------------------------------------------------------------------------------------ */
/* pull delivery: poll, event fd, async publish with a user pointer, lists, stats              */

static int is_delivery(const hamqtt_event *e, void *arg) {
    uint64_t want = *(uint64_t *)arg;
    if (e->kind != HAMQTT_EVENT_DELIVERY || e->delivery.id != want) return 0;
    CHECK(e->delivery.status == HAMQTT_OK);
    CHECK(e->delivery.error == NULL);
    CHECK(strcmp(e->delivery.topic, "pull/async") == 0);
    CHECK(e->delivery.user == (void *)0x1234);
    CHECK(strlen(e->delivery.endpoints) > 0);
    return 1;
}

static void test_pull(void) {
    brokers b;
    hamqtt_client c;
    hamqtt_event evs[16];
    size_t n = 0, i;
    int fd = -1, got = 0;
    struct pollfd pfd;
    static const unsigned char payload[] = {'h', 0, 'i', 0xff};
    uint64_t id = 0;
    char **names = NULL;
    hamqtt_endpoint_stats *st = NULL;
    char *name = NULL;
    int64_t deadline;

    brokers_start(&b, 1);
    c = test_client(brokers_uris(&b, 1), "pull", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_client_name(c, &name));
    CHECK(strcmp(name, "pull") == 0);
    hamqtt_free(name);
    CHECK_OK(hamqtt_subscribe(c, "pull/#", 2, NULL, NULL)); /* before connect: replayed */
    {
        int granted = -1;
        CHECK_OK(hamqtt_subscribe_granted(c, "pull/g", 1, NULL, NULL, &granted));
        CHECK(granted == 1); /* before connect: as asked */
        CHECK_OK(hamqtt_connect(c));
        CHECK_OK(hamqtt_subscribe_granted(c, "pull/g2", 2, NULL, NULL, &granted));
        CHECK(granted == 2);
        CHECK_ERR(hamqtt_subscribe_granted(c, "pull/g3", 1, NULL, NULL, NULL), HAMQTT_ERR_INVALID, "granted is NULL");
        CHECK_OK(hamqtt_unsubscribe(c, "pull/g"));
        CHECK_OK(hamqtt_unsubscribe(c, "pull/g2"));
    }
    CHECK_OK(hamqtt_connect(c)); /* no-op */
    CHECK_OK(hamqtt_event_fd(c, &fd));
    CHECK(fd >= 0);

    CHECK_OK(hamqtt_publish(c, "pull/bin", payload, sizeof payload, 1, 0));
    /* the fd wakes a poll(2) loop */
    pfd.fd = fd;
    pfd.events = POLLIN;
    CHECK(poll(&pfd, 1, 5000) == 1);
    deadline = now_ms() + 5000 * test_scale();
    while (!got && now_ms() < deadline) {
        CHECK_OK(hamqtt_poll(c, evs, 16, 100, &n));
        for (i = 0; i < n; i++) {
            if (evs[i].kind == HAMQTT_EVENT_ENDPOINT_UP) {
                CHECK(strcmp(evs[i].endpoint, "pull-1") == 0);
                CHECK(evs[i].time_unix_ns > 0);
            }
            if (evs[i].kind == HAMQTT_EVENT_MESSAGE) {
                const hamqtt_message *m = &evs[i].message;
                CHECK(strcmp(m->topic, "pull/bin") == 0);
                CHECK(m->topic_len == 8);
                CHECK(m->payload_len == sizeof payload);
                CHECK(memcmp(m->payload, payload, sizeof payload) == 0);
                CHECK(m->qos == 1);
                CHECK(m->retained == 0);
                CHECK(strcmp(m->endpoint, "pull-1") == 0);
                CHECK(strcmp(evs[i].endpoint, "pull-1") == 0);
                got = 1;
            }
        }
    }
    CHECK(got);
    /* drained: the fd is no longer readable */
    CHECK_OK(hamqtt_poll(c, evs, 16, 0, &n));
    CHECK(poll(&pfd, 1, 0) == 0);

    /* empty payload, QoS 0 and 2, retained */
    CHECK_OK(hamqtt_publish(c, "pull/empty", NULL, 0, 0, 0));
    poll_until(c, is_message_on, (void *)"pull/empty", 5000);
    CHECK_OK(hamqtt_publish(c, "pull/two", "2", 1, 2, 0));
    poll_until(c, is_message_on, (void *)"pull/two", 5000);

    /* async publish: the outcome comes back from hamqtt_poll with the id and user pointer */
    CHECK_OK(hamqtt_publish_async(c, "pull/async", "a", 1, 1, 0, NULL, (void *)0x1234, &id));
    CHECK(id != 0);
    poll_until(c, is_delivery, &id, 5000);

    /* detached publishes report nothing; hamqtt_flush waits until they went out */
    for (i = 0; i < 50; i++) CHECK_OK(hamqtt_publish_detached(c, "pull/det", "d", 1, (int)(i % 3), 0));
    CHECK_OK(hamqtt_flush(c, 10000 * test_scale()));
    got = 0;
    deadline = now_ms() + 5000 * test_scale();
    while (got < 50 && now_ms() < deadline) {
        CHECK_OK(hamqtt_poll(c, evs, 16, 50, &n));
        for (i = 0; i < n; i++) {
            CHECK(evs[i].kind != HAMQTT_EVENT_DELIVERY);
            if (evs[i].kind == HAMQTT_EVENT_MESSAGE && strcmp(evs[i].message.topic, "pull/det") == 0) got++;
        }
    }
    CHECK(got == 50);
    CHECK_ERR(hamqtt_publish_detached(c, "pull/+", "d", 1, 0, 0), HAMQTT_ERR_TOPIC, "wildcard");
    CHECK_ERR(hamqtt_publish_detached(c, "pull/det", "d", 1, 3, 0), HAMQTT_ERR_QOS, "QoS");
    CHECK_ERR(hamqtt_flush(c + 1000, 0), HAMQTT_ERR_HANDLE, "never issued");
    CHECK_OK(hamqtt_flush(c, 0)); /* nothing outstanding */

    /* publish_to a named endpoint; unknown endpoint */
    CHECK_OK(hamqtt_publish_to(c, "pull-1", "pull/to", "t", 1, 1, 0));
    poll_until(c, is_message_on, (void *)"pull/to", 5000);
    CHECK_ERR(hamqtt_publish_to(c, "pull-9", "pull/to", "t", 1, 1, 0), HAMQTT_ERR_NOT_FOUND, "pull-9");

    /* lists and stats */
    CHECK_OK(hamqtt_live_endpoints(c, &names, &n));
    CHECK(n == 1 && strcmp(names[0], "pull-1") == 0 && names[1] == NULL);
    hamqtt_free(names);
    CHECK_OK(hamqtt_dead_endpoints(c, &names, NULL));
    CHECK(names[0] == NULL);
    hamqtt_free(names);
    CHECK_OK(hamqtt_stats(c, &st, &n));
    CHECK(n == 1);
    CHECK(strcmp(st[0].name, "pull-1") == 0);
    CHECK(strncmp(st[0].uri, "tcp://127.0.0.1:", 16) == 0);
    CHECK(st[0].state == HAMQTT_ENDPOINT_LIVE);
    CHECK(st[0].subscriber == 1);
    CHECK(st[0].live_since_unix_ns > 0);
    CHECK(st[0].published >= 5 && st[0].acked >= 5);
    CHECK(st[0].received >= 4);
    CHECK(st[0].connects == 1);
    CHECK(strcmp(st[0].last_error, "") == 0);
    hamqtt_free(st);

    /* unsubscribe: no more messages */
    CHECK_OK(hamqtt_unsubscribe(c, "pull/#"));
    CHECK_OK(hamqtt_publish(c, "pull/after", "x", 1, 1, 0));
    sleep_ms(200);
    CHECK_OK(hamqtt_poll(c, evs, 16, 0, &n));
    for (i = 0; i < n; i++) CHECK(evs[i].kind != HAMQTT_EVENT_MESSAGE);

    CHECK_OK(hamqtt_close(c));
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* push callbacks                                                                              */

struct push_state {
    atomic_int sub_msgs, fallback_msgs, up, deliveries, own_deliveries, errors;
    atomic_int wrong;
    pthread_t main_thread;
    hamqtt_client client;
    uint64_t async_id;
};

static void on_sub_msg(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct push_state *s = (struct push_state *)user;
    if (c != s->client || strncmp(m->topic, "push/sub/", 9) != 0 || m->payload_len != 3 ||
        memcmp(m->payload, "abc", 3) != 0 || pthread_equal(pthread_self(), s->main_thread))
        atomic_fetch_add(&s->wrong, 1);
    atomic_fetch_add(&s->sub_msgs, 1);
}

static void on_fallback(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct push_state *s = (struct push_state *)user;
    (void)c;
    if (strcmp(m->topic, "push/other") != 0) atomic_fetch_add(&s->wrong, 1);
    atomic_fetch_add(&s->fallback_msgs, 1);
}

static void on_up(void *user, hamqtt_client c, const char *endpoint, const char *reason) {
    struct push_state *s = (struct push_state *)user;
    (void)c;
    if (reason != NULL || strcmp(endpoint, "push-1") != 0) atomic_fetch_add(&s->wrong, 1);
    atomic_fetch_add(&s->up, 1);
}

static void on_delivery_all(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    struct push_state *s = (struct push_state *)user;
    (void)c;
    if (d->status != HAMQTT_OK || d->user != NULL) atomic_fetch_add(&s->wrong, 1);
    atomic_fetch_add(&s->deliveries, 1);
}

static void on_own_delivery(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    struct push_state *s = (struct push_state *)user;
    (void)c;
    if (d->status != HAMQTT_OK || d->user != user || strcmp(d->topic, "push/other") != 0 ||
        strcmp(d->endpoints, "push-1") != 0)
        atomic_fetch_add(&s->wrong, 1);
    atomic_fetch_add(&s->own_deliveries, 1);
}

static void test_push(void) {
    brokers b;
    static struct push_state s;
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
    hamqtt_event ev[2];
    size_t n;
    int fd;
    uint64_t id = 0;
    int i;

    brokers_start(&b, 1);
    s.main_thread = pthread_self();
    s.client = test_client(brokers_uris(&b, 1), "push", HAMQTT_PUBLISHER_STICKY, 0);
    cbs.user = &s;
    cbs.on_message = on_fallback;
    cbs.on_endpoint_up = on_up;
    cbs.on_delivery = on_delivery_all;
    CHECK_OK(hamqtt_set_callbacks(s.client, &cbs));
    CHECK_ERR(hamqtt_poll(s.client, ev, 2, 0, &n), HAMQTT_ERR_MODE, "push mode");
    CHECK_ERR(hamqtt_event_fd(s.client, &fd), HAMQTT_ERR_MODE, "push mode");
    CHECK_OK(hamqtt_connect(s.client));
    CHECK_OK(hamqtt_subscribe(s.client, "push/sub/+", 1, on_sub_msg, &s));
    CHECK_OK(hamqtt_subscribe(s.client, "push/other", 1, NULL, NULL));
    wait_counter(&s.up, 1, 5000, "endpoint up");
    for (i = 0; i < 10; i++) CHECK_OK(hamqtt_publish(s.client, "push/sub/x", "abc", 3, 1, 0));
    CHECK_OK(hamqtt_publish(s.client, "push/other", "o", 1, 1, 0));
    wait_counter(&s.sub_msgs, 10, 5000, "subscription callback");
    wait_counter(&s.fallback_msgs, 1, 5000, "on_message");
    /* async: the client-wide on_delivery, then a per-call callback */
    for (i = 0; i < 5; i++) CHECK_OK(hamqtt_publish_async(s.client, "push/sub/y", "abc", 3, 1, 0, NULL, NULL, NULL));
    wait_counter(&s.deliveries, 5, 5000, "on_delivery");
    CHECK_OK(hamqtt_publish_async(s.client, "push/other", "o", 1, 1, 0, on_own_delivery, &s, &id));
    CHECK(id != 0);
    wait_counter(&s.own_deliveries, 1, 5000, "per-publish delivery callback");
    wait_counter(&s.sub_msgs, 15, 5000, "subscription callback");
    /* unsubscribing waits for a running callback; afterwards none is called */
    CHECK_OK(hamqtt_unsubscribe(s.client, "push/sub/+"));
    i = atomic_load(&s.sub_msgs);
    CHECK_OK(hamqtt_publish(s.client, "push/sub/z", "abc", 3, 1, 0));
    sleep_ms(200);
    CHECK(atomic_load(&s.sub_msgs) == i);
    CHECK(atomic_load(&s.deliveries) == 5); /* the per-call callback took its own */
    CHECK_OK(hamqtt_close(s.client));
    CHECK(atomic_load(&s.wrong) == 0);
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* re-entrancy: close and disconnect from inside own callback, publish from a callback         */

struct reentry {
    hamqtt_client c;
    atomic_int close_rc, disconnect_rc, shutdown_ok, done, log_close_rc, log_lines;
    char close_err[512];
};

static void on_msg_close(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct reentry *r = (struct reentry *)user;
    (void)m;
    if (atomic_load(&r->done)) return;
    atomic_store(&r->close_rc, hamqtt_close(c));
    snprintf(r->close_err, sizeof r->close_err, "%s", hamqtt_last_error());
    atomic_store(&r->disconnect_rc, hamqtt_disconnect(c));
    /* other calls still work from the callback */
    if (hamqtt_publish(c, "reentry/echo", "e", 1, 1, 0) == HAMQTT_OK) atomic_store(&r->shutdown_ok, 1);
    atomic_store(&r->done, 1);
}

static void on_log_close(void *user, hamqtt_client c, int level, const char *line) {
    struct reentry *r = (struct reentry *)user;
    (void)level;
    if (line == NULL || *line == 0) return;
    atomic_fetch_add(&r->log_lines, 1);
    atomic_store(&r->log_close_rc, hamqtt_close(c));
}

static void test_close_in_callback(void) {
    brokers b;
    static struct reentry r;
    int64_t t0;
    brokers_start(&b, 1);
    r.c = test_client(brokers_uris(&b, 1), "reentry", HAMQTT_PUBLISHER_STICKY, 0);
    atomic_store(&r.log_close_rc, 1);
    CHECK_OK(hamqtt_set_log_callback(r.c, HAMQTT_LOG_DEBUG, on_log_close, &r));
    CHECK_OK(hamqtt_subscribe(r.c, "reentry/go", 1, on_msg_close, &r));
    CHECK_OK(hamqtt_connect(r.c));
    CHECK_OK(hamqtt_publish(r.c, "reentry/go", "x", 1, 1, 0));
    t0 = now_ms();
    while (!atomic_load(&r.done)) {
        CHECK(now_ms() - t0 < 5000 * test_scale()); /* a deadlock would stop here */
        sleep_ms(5);
    }
    CHECK(atomic_load(&r.close_rc) == HAMQTT_ERR_BUSY);
    CHECK(strstr(r.close_err, "callback") != NULL);
    CHECK(atomic_load(&r.disconnect_rc) == HAMQTT_ERR_BUSY);
    CHECK(atomic_load(&r.shutdown_ok) == 1);
    wait_counter(&r.log_lines, 1, 5000, "log lines");
    CHECK(atomic_load(&r.log_close_rc) == HAMQTT_ERR_BUSY);
    /* the client is still open and usable */
    CHECK_OK(hamqtt_publish(r.c, "reentry/after", "x", 1, 1, 0));
    CHECK_OK(hamqtt_set_log_callback(r.c, HAMQTT_LOG_OFF, NULL, NULL));
    CHECK_OK(hamqtt_close(r.c));
    brokers_quit(&b);
}

/* Two clients whose message callbacks close (or disconnect) each other at the same moment:
 * each call returns; neither waits for the other's running callback. */
struct cross {
    hamqtt_client self, other;
    atomic_int *arrived;
    atomic_int rc, done;
    int disconnect;
};

static void on_msg_cross(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct cross *x = (struct cross *)user;
    int64_t t0 = now_ms();
    (void)c;
    (void)m;
    if (atomic_fetch_add(&x->done, 0)) return;
    atomic_fetch_add(x->arrived, 1);
    while (atomic_load(x->arrived) < 2 && now_ms() - t0 < 5000) sleep_ms(1); /* both inside */
    atomic_store(&x->rc, x->disconnect ? hamqtt_disconnect(x->other) : hamqtt_close(x->other));
    atomic_store(&x->done, 1);
}

static void test_cross_close(void) {
    int round;
    for (round = 0; round < 6; round++) {
        brokers b;
        static struct cross xa, xb;
        static atomic_int arrived;
        hamqtt_client pub;
        int64_t t0;
        int disconnect = round % 2;
        brokers_start(&b, 1);
        atomic_store(&arrived, 0);
        memset(&xa, 0, sizeof xa);
        memset(&xb, 0, sizeof xb);
        xa.self = test_client(brokers_uris(&b, 1), "crossa", HAMQTT_PUBLISHER_STICKY, 0);
        xb.self = test_client(brokers_uris(&b, 1), "crossb", HAMQTT_PUBLISHER_STICKY, 0);
        xa.other = xb.self;
        xb.other = xa.self;
        xa.arrived = xb.arrived = &arrived;
        xa.disconnect = xb.disconnect = disconnect;
        CHECK_OK(hamqtt_subscribe(xa.self, "cross/go", 1, on_msg_cross, &xa));
        CHECK_OK(hamqtt_subscribe(xb.self, "cross/go", 1, on_msg_cross, &xb));
        CHECK_OK(hamqtt_connect(xa.self));
        CHECK_OK(hamqtt_connect(xb.self));
        pub = test_client(brokers_uris(&b, 1), "crosspub", HAMQTT_PUBLISHER_STICKY, 0);
        CHECK_OK(hamqtt_connect(pub));
        CHECK_OK(hamqtt_publish(pub, "cross/go", "x", 1, 1, 0));
        t0 = now_ms();
        while (!atomic_load(&xa.done) || !atomic_load(&xb.done)) {
            CHECK(now_ms() - t0 < 10000 * test_scale()); /* a deadlock would stop here */
            sleep_ms(5);
        }
        CHECK(atomic_load(&xa.rc) == HAMQTT_OK);
        CHECK(atomic_load(&xb.rc) == HAMQTT_OK);
        if (disconnect) {
            /* still valid handles: reconnect one, then close both */
            CHECK_OK(hamqtt_connect(xa.self));
            CHECK_OK(hamqtt_close(xa.self));
            CHECK_OK(hamqtt_close(xb.self));
        } else {
            /* closed from the callbacks: the handles are invalid now */
            CHECK(hamqtt_close(xa.self) == HAMQTT_ERR_HANDLE);
            CHECK(hamqtt_close(xb.self) == HAMQTT_ERR_HANDLE);
        }
        CHECK_OK(hamqtt_close(pub));
        brokers_quit(&b);
    }
}

struct echo {
    hamqtt_client c;
    atomic_int requests, replies, async_done, failed;
};

static void on_async_in_cb(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    struct echo *e = (struct echo *)user;
    (void)c;
    if (d->status != HAMQTT_OK) atomic_fetch_add(&e->failed, 1);
    atomic_fetch_add(&e->async_done, 1);
}

static void on_request(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct echo *e = (struct echo *)user;
    char topic[64];
    atomic_fetch_add(&e->requests, 1);
    snprintf(topic, sizeof topic, "echo/reply/%.*s", (int)(m->topic_len - 13), m->topic + 13);
    /* a blocking QoS 1 publish from inside a message callback */
    if (hamqtt_publish(c, topic, m->payload, m->payload_len, 1, 0) != HAMQTT_OK) atomic_fetch_add(&e->failed, 1);
    if (hamqtt_publish_async(c, "echo/async", "a", 1, 1, 0, on_async_in_cb, e, NULL) != HAMQTT_OK)
        atomic_fetch_add(&e->failed, 1);
}

static void on_reply(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct echo *e = (struct echo *)user;
    (void)c;
    (void)m;
    atomic_fetch_add(&e->replies, 1);
}

static void test_publish_in_callback(void) {
    brokers b;
    static struct echo e;
    int i;
    char topic[64];
    brokers_start(&b, 1);
    e.c = test_client(brokers_uris(&b, 1), "echo", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_connect(e.c));
    CHECK_OK(hamqtt_subscribe(e.c, "echo/request/+", 1, on_request, &e));
    CHECK_OK(hamqtt_subscribe(e.c, "echo/reply/+", 1, on_reply, &e));
    for (i = 0; i < 50; i++) {
        snprintf(topic, sizeof topic, "echo/request/%d", i);
        CHECK_OK(hamqtt_publish(e.c, topic, "ping", 4, 1, 0));
    }
    wait_counter(&e.replies, 50, 10000, "replies published from callbacks");
    wait_counter(&e.async_done, 50, 10000, "async publishes from callbacks");
    CHECK(atomic_load(&e.failed) == 0);
    CHECK_OK(hamqtt_close(e.c));
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* several C threads publishing at once while callbacks run                                    */

#define THREADS 4
#define PER_THREAD 300

struct mt {
    hamqtt_client c;
    atomic_int received, delivered, failed;
    atomic_int seen[THREADS * PER_THREAD];
};

static void mt_on_msg(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct mt *s = (struct mt *)user;
    char buf[32];
    int k;
    (void)c;
    if (m->payload_len >= sizeof buf) return;
    memcpy(buf, m->payload, m->payload_len);
    buf[m->payload_len] = 0;
    k = atoi(buf);
    if (k >= 0 && k < THREADS * PER_THREAD) atomic_fetch_add(&s->seen[k], 1);
    atomic_fetch_add(&s->received, 1);
}

static void mt_on_delivery(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    struct mt *s = (struct mt *)user;
    (void)c;
    if (d->status != HAMQTT_OK) atomic_fetch_add(&s->failed, 1);
    atomic_fetch_add(&s->delivered, 1);
}

static struct mt mt_state;
struct mt_arg {
    int index;
};

static void *mt_publisher(void *arg) {
    int t = ((struct mt_arg *)arg)->index, i;
    char buf[32];
    for (i = 0; i < PER_THREAD; i++) {
        int k = t * PER_THREAD + i, rc;
        int n = snprintf(buf, sizeof buf, "%d", k);
        if (i % 2 == 0)
            rc = hamqtt_publish(mt_state.c, "mt/data", buf, (size_t)n, 1, 0);
        else
            rc = hamqtt_publish_async(mt_state.c, "mt/data", buf, (size_t)n, 1, 0, mt_on_delivery, &mt_state, NULL);
        if (rc != HAMQTT_OK) {
            fprintf(stderr, "thread %d publish %d: %s\n", t, i, hamqtt_last_error());
            atomic_fetch_add(&mt_state.failed, 1);
        }
        /* bad input from many threads: last_error is per thread */
        if (i % 50 == 0) {
            char want[32];
            snprintf(want, sizeof want, "QoS %d", 10 + t);
            if (hamqtt_publish(mt_state.c, "mt/x", "x", 1, 10 + t, 0) != HAMQTT_ERR_QOS ||
                strstr(hamqtt_last_error(), want) == NULL)
                atomic_fetch_add(&mt_state.failed, 1);
        }
    }
    return NULL;
}

static void test_threads(void) {
    brokers b;
    pthread_t th[THREADS];
    struct mt_arg args[THREADS];
    int i;
    brokers_start(&b, 1);
    mt_state.c = test_client(brokers_uris(&b, 1), "mt", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_connect(mt_state.c));
    CHECK_OK(hamqtt_subscribe(mt_state.c, "mt/data", 1, mt_on_msg, &mt_state));
    for (i = 0; i < THREADS; i++) {
        args[i].index = i;
        CHECK(pthread_create(&th[i], NULL, mt_publisher, &args[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    wait_counter(&mt_state.delivered, THREADS * PER_THREAD / 2, 20000, "async deliveries");
    wait_counter(&mt_state.received, THREADS * PER_THREAD, 20000, "messages received");
    CHECK(atomic_load(&mt_state.failed) == 0);
    for (i = 0; i < THREADS * PER_THREAD; i++)
        if (atomic_load(&mt_state.seen[i]) < 1) FAILF("message %d never arrived", i);
    CHECK_OK(hamqtt_close(mt_state.c));
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* failover: a broker SIGKILLed during a QoS 1 stream, nothing lost                            */

#define FO_MESSAGES 3000

struct fo {
    atomic_int got[FO_MESSAGES];
    atomic_int downs, ups;
    atomic_int received;
};

static void fo_on_msg(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct fo *s = (struct fo *)user;
    char buf[16];
    int k;
    (void)c;
    if (m->payload_len == 0 || m->payload_len >= sizeof buf) return;
    memcpy(buf, m->payload, m->payload_len);
    buf[m->payload_len] = 0;
    k = atoi(buf);
    if (k >= 0 && k < FO_MESSAGES) atomic_fetch_add(&s->got[k], 1);
    atomic_fetch_add(&s->received, 1);
}

static void fo_on_down(void *user, hamqtt_client c, const char *endpoint, const char *reason) {
    struct fo *s = (struct fo *)user;
    (void)c;
    fprintf(stderr, "failover: %s down: %s\n", endpoint, reason ? reason : "?");
    atomic_fetch_add(&s->downs, 1);
}

static void test_failover(void) {
    brokers b;
    static struct fo s;
    hamqtt_client sub, pub;
    hamqtt_callbacks pcb = HAMQTT_CALLBACKS_INIT;
    hamqtt_endpoint_stats *st = NULL;
    size_t n, i;
    int k, acked = 0, lost = 0, dups = 0;
    uint64_t failovers = 0;
    int64_t deadline;

    brokers_start(&b, 3);
    /* the recommended configuration: an ALL publisher and a de-duplicating subscriber */
    sub = test_client(brokers_uris(&b, 3), "fosub", HAMQTT_PUBLISHER_STICKY, 1);
    CHECK_OK(hamqtt_connect(sub));
    CHECK_OK(hamqtt_subscribe(sub, "fo/stream", 1, fo_on_msg, &s));
    wait_live(sub, 3, 10000);
    pub = test_client(brokers_uris(&b, 3), "fopub", HAMQTT_PUBLISHER_ALL, 0);
    pcb.user = &s;
    pcb.on_endpoint_down = fo_on_down;
    CHECK_OK(hamqtt_set_callbacks(pub, &pcb));
    CHECK_OK(hamqtt_connect(pub));
    wait_live(pub, 3, 10000);

    for (k = 0; k < FO_MESSAGES; k++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "%d", k);
        if (k == FO_MESSAGES / 3) brokers_kill(&b, 0);
        if (k == 2 * FO_MESSAGES / 3) brokers_restart(&b, 0);
        if (hamqtt_publish(pub, "fo/stream", buf, (size_t)len, 1, 0) == HAMQTT_OK)
            acked++;
        else
            fprintf(stderr, "publish %d: %s\n", k, hamqtt_last_error());
    }
    CHECK(acked == FO_MESSAGES);
    deadline = now_ms() + 10000 * test_scale();
    for (;;) {
        lost = 0;
        for (k = 0; k < FO_MESSAGES; k++)
            if (atomic_load(&s.got[k]) == 0) lost++;
        if (lost == 0 || now_ms() > deadline) break;
        sleep_ms(20);
    }
    for (k = 0; k < FO_MESSAGES; k++)
        if (atomic_load(&s.got[k]) > 1) dups += atomic_load(&s.got[k]) - 1;
    CHECK_OK(hamqtt_stats(pub, &st, &n));
    for (i = 0; i < n; i++) failovers += st[i].failed;
    hamqtt_free(st);
    fprintf(stderr, "failover: sent=%d acked=%d lost=%d duplicates=%d endpoint-downs=%d failed-attempts=%llu\n",
            FO_MESSAGES, acked, lost, dups, atomic_load(&s.downs), (unsigned long long)failovers);
    CHECK(atomic_load(&s.downs) >= 1);
    CHECK(lost == 0);
    CHECK(dups == 0);
    CHECK_OK(hamqtt_close(pub));
    CHECK_OK(hamqtt_close(sub));
    brokers_quit(&b);
}

/* A sticky publisher: the broker it publishes through is SIGKILLed mid-stream. Every publish
 * still succeeds (the one in flight fails over), and every message published from the kill on
 * reaches a subscriber on both brokers. Messages the killed broker had acknowledged but not
 * yet forwarded to the subscriber die with it (its socket is reset): a sticky publisher cannot
 * prevent that, which is why the test above uses the recommended ALL + dedup configuration. */
#define ST_MESSAGES 1000
#define ST_KILL_AT 300
static void test_failover_sticky(void) {
    brokers b;
    static struct fo s;
    hamqtt_client sub, pub;
    hamqtt_endpoint_stats *st = NULL;
    size_t n, i;
    int k, victim = -1, lost_before = 0, lost_after = 0;
    int64_t deadline;

    brokers_start(&b, 2);
    sub = test_client(brokers_uris(&b, 2), "stsub", HAMQTT_PUBLISHER_STICKY, 1);
    CHECK_OK(hamqtt_connect(sub));
    CHECK_OK(hamqtt_subscribe(sub, "st/stream", 1, fo_on_msg, &s));
    wait_live(sub, 2, 10000);
    pub = test_client(brokers_uris(&b, 2), "stpub", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_connect(pub));
    wait_live(pub, 2, 10000);
    for (k = 0; k < ST_MESSAGES; k++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "%d", k);
        if (k == ST_KILL_AT) {
            /* kill the broker the sticky publisher uses */
            CHECK_OK(hamqtt_stats(pub, &st, &n));
            for (i = 0; i < n; i++)
                if (st[i].acked > 0) victim = (int)i;
            hamqtt_free(st);
            CHECK(victim >= 0);
            brokers_kill(&b, victim);
        }
        CHECK_OK(hamqtt_publish(pub, "st/stream", buf, (size_t)len, 1, 0));
    }
    deadline = now_ms() + 10000 * test_scale();
    do {
        lost_after = 0;
        for (k = ST_KILL_AT; k < ST_MESSAGES; k++)
            if (atomic_load(&s.got[k]) == 0) lost_after++;
        if (lost_after) sleep_ms(20);
    } while (lost_after && now_ms() < deadline);
    for (k = 0; k < ST_KILL_AT; k++)
        if (atomic_load(&s.got[k]) == 0) lost_before++;
    CHECK_OK(hamqtt_stats(pub, &st, &n));
    CHECK(st[victim].state != HAMQTT_ENDPOINT_LIVE);
    CHECK(strlen(st[victim].last_error) > 0);
    CHECK(st[1 - victim].acked > 0);
    hamqtt_free(st);
    fprintf(stderr, "sticky failover: victim=%d; of the messages acked by the victim before the kill %d never "
                    "left it; lost after the kill: %d\n", victim, lost_before, lost_after);
    CHECK(lost_after == 0);
    CHECK_OK(hamqtt_close(pub));
    CHECK_OK(hamqtt_close(sub));
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* disconnect / reconnect, endpoints at runtime, no endpoint                                   */

static int any_event(const hamqtt_event *e, void *arg) {
    (void)e;
    (void)arg;
    return 1;
}

static int is_delivery_closed(const hamqtt_event *e, void *arg) {
    (void)arg;
    return e->kind == HAMQTT_EVENT_DELIVERY && e->delivery.status != HAMQTT_OK;
}

static void test_reconnect(void) {
    brokers b;
    hamqtt_client c;
    hamqtt_event evs[8];
    size_t n;
    int fd, rc, i;
    char **names;
    brokers_start(&b, 1);
    c = test_client(brokers_uris(&b, 1), "re", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_connect(c));
    CHECK_OK(hamqtt_subscribe(c, "re/+", 1, NULL, NULL));
    CHECK_OK(hamqtt_publish(c, "re/one", "1", 1, 1, 0));
    poll_until(c, is_message_on, (void *)"re/one", 5000);
    CHECK_OK(hamqtt_disconnect(c));
    CHECK_OK(hamqtt_disconnect(c)); /* idempotent */
    CHECK_ERR(hamqtt_publish(c, "re/x", "x", 1, 1, 0), HAMQTT_ERR_STATE, "not connected");
    CHECK_OK(hamqtt_event_fd(c, &fd)); /* the descriptor lives as long as the client */
    CHECK(fd >= 0);
    /* drained events, then CLOSED */
    for (i = 0; i < 100; i++) {
        rc = hamqtt_poll(c, evs, 8, 0, &n);
        if (rc == HAMQTT_ERR_CLOSED) break;
        CHECK_OK(rc);
    }
    CHECK(rc == HAMQTT_ERR_CLOSED);
    CHECK_OK(hamqtt_dead_endpoints(c, &names, &n));
    CHECK(n == 1 && strcmp(names[0], "re-1") == 0);
    hamqtt_free(names);
    /* reconnect: the subscription is replayed */
    CHECK_OK(hamqtt_connect(c));
    {
        int again = -1;
        CHECK_OK(hamqtt_event_fd(c, &again));
        CHECK(again == fd);
    }
    CHECK_OK(hamqtt_publish(c, "re/two", "2", 1, 1, 0));
    poll_until(c, is_message_on, (void *)"re/two", 5000);

    /* async publishes pending at disconnect report an error (broker stopped: nothing acks) */
    brokers_kill(&b, 0);
    sleep_ms(100);
    CHECK_OK(hamqtt_publish_async(c, "re/pending", "p", 1, 1, 0, NULL, NULL, NULL));
    CHECK_OK(hamqtt_disconnect(c));
    poll_until(c, is_delivery_closed, NULL, 2000);
    CHECK_OK(hamqtt_close(c));
    (void)any_event;
    brokers_quit(&b);
}

static void test_endpoints(void) {
    brokers b;
    hamqtt_client c;
    char *assigned = NULL;
    char **names;
    size_t n;
    char uri[64];
    brokers_start(&b, 2);
    c = test_client(brokers_uris(&b, 1), "ep", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_connect(c));
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", b.ports[1]);
    CHECK_OK(hamqtt_add_endpoint(c, uri, "second", &assigned));
    CHECK(strcmp(assigned, "second") == 0);
    hamqtt_free(assigned);
    CHECK_ERR(hamqtt_add_endpoint(c, uri, NULL, NULL), HAMQTT_ERR_CONFIG, "already");
    wait_live(c, 2, 5000);
    CHECK_OK(hamqtt_publish_to(c, "second", "ep/t", "x", 1, 1, 0));
    CHECK_OK(hamqtt_remove_endpoint(c, "ep-1"));
    CHECK_ERR(hamqtt_remove_endpoint(c, "ep-1"), HAMQTT_ERR_NOT_FOUND, "ep-1");
    CHECK_OK(hamqtt_live_endpoints(c, &names, &n));
    CHECK(n == 1 && strcmp(names[0], "second") == 0);
    hamqtt_free(names);
    CHECK_OK(hamqtt_publish(c, "ep/t", "x", 1, 1, 0));
    /* a dead endpoint takes no publish_to */
    brokers_kill(&b, 1);
    sleep_ms(300);
    CHECK_ERR(hamqtt_publish_to(c, "second", "ep/t", "x", 1, 1, 0), HAMQTT_ERR_NO_ENDPOINT, "second");
    /* disconnected: endpoints are recorded and used at the next connect */
    CHECK_OK(hamqtt_disconnect(c));
    brokers_restart(&b, 1);
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", b.ports[0]);
    CHECK_OK(hamqtt_add_endpoint(c, uri, NULL, &assigned));
    CHECK(strcmp(assigned, "ep-3") == 0);
    hamqtt_free(assigned);
    CHECK_OK(hamqtt_connect(c));
    wait_live(c, 2, 5000);
    CHECK_OK(hamqtt_publish_to(c, "ep-3", "ep/t", "x", 1, 1, 0));
    CHECK_OK(hamqtt_close(c));
    brokers_quit(&b);
}

static void test_no_endpoint(void) {
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    hamqtt_client c;
    int64_t t0;
    o.name = "none";
    o.time_to_wait_ms = 500;
    o.probe_delay_ms = 50;
    CHECK_OK(hamqtt_client_new("tcp://127.0.0.1:1", &o, &c));
    t0 = now_ms();
    CHECK_ERR(hamqtt_connect(c), HAMQTT_ERR_NO_ENDPOINT, "none-1");
    CHECK(now_ms() - t0 < 3000 * test_scale());
    CHECK_ERR(hamqtt_publish(c, "t", "x", 1, 1, 0), HAMQTT_ERR_NO_ENDPOINT, "no live endpoint");
    CHECK_ERR(hamqtt_subscribe(c, "t", 1, NULL, NULL), HAMQTT_ERR_NO_ENDPOINT, "no live endpoint");
    CHECK_OK(hamqtt_close(c));
}

/* ------------------------------------------------------------------------------------------ */
/* configuration                                                                               */

static atomic_int cfg_up;
static void cfg_on_up(void *user, hamqtt_client c, const char *endpoint, const char *reason) {
    (void)user;
    (void)c;
    (void)endpoint;
    (void)reason;
    atomic_fetch_add(&cfg_up, 1);
}

static void test_config(void) {
    brokers b;
    char yaml[1024], path[] = "/tmp/hamqtt-test-XXXXXX";
    hamqtt_client a = 0, a2 = 0, other = 0, d = 0;
    char **names;
    size_t n;
    int fd;
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
    brokers_start(&b, 2);
    snprintf(yaml, sizeof yaml,
             "defaultCluster: edge\n"
             "clusters:\n"
             "  - name: edge\n"
             "    connections:\n"
             "      - connection:\n"
             "          serverURIs: [tcp://127.0.0.1:%d]\n"
             "  - name: core\n"
             "    publisherType: ROUND_ROBIN\n"
             "    connections:\n"
             "      - connection:\n"
             "          serverURIs: [tcp://127.0.0.1:%d]\n",
             b.ports[0], b.ports[1]);
    CHECK_OK(hamqtt_init_yaml(yaml, strlen(yaml)));
    CHECK_ERR(hamqtt_init_yaml(yaml, strlen(yaml)), HAMQTT_ERR_STATE, "hamqtt_shutdown");
    CHECK_OK(hamqtt_cluster_names(&names, &n));
    CHECK(n == 2 && strcmp(names[0], "edge") == 0 && strcmp(names[1], "core") == 0 && names[2] == NULL);
    hamqtt_free(names);
    CHECK_OK(hamqtt_cluster_client(NULL, &a));
    CHECK_OK(hamqtt_cluster_client("edge", &a2));
    CHECK(a == a2 && a != 0);
    CHECK_OK(hamqtt_cluster_client("core", &other));
    CHECK(other != a);
    CHECK_ERR(hamqtt_cluster_client("nope", &d), HAMQTT_ERR_NOT_FOUND, "edge, core");
    cbs.on_endpoint_up = cfg_on_up;
    CHECK_OK(hamqtt_set_callbacks(other, &cbs));
    CHECK_OK(hamqtt_connect(a));
    CHECK_OK(hamqtt_connect(other));
    CHECK_OK(hamqtt_subscribe(a, "cfg/#", 1, NULL, NULL));
    CHECK_OK(hamqtt_publish(a, "cfg/a", "x", 1, 1, 0));
    poll_until(a, is_message_on, (void *)"cfg/a", 5000);
    CHECK_OK(hamqtt_publish(other, "cfg/b", "x", 1, 1, 0));
    wait_counter(&cfg_up, 1, 5000, "endpoint up on a config cluster");
    CHECK_OK(hamqtt_event_fd(a, &fd));
    /* closing a config client: a new call makes a new one */
    CHECK_OK(hamqtt_close(other));
    CHECK_OK(hamqtt_cluster_client("core", &d));
    CHECK(d != other);
    /* shutdown closes every config client */
    CHECK_OK(hamqtt_shutdown());
    CHECK_ERR(hamqtt_publish(a, "cfg/a", "x", 1, 1, 0), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_close(d), HAMQTT_ERR_HANDLE, "closed");
    CHECK_ERR(hamqtt_cluster_client(NULL, &a), HAMQTT_ERR_NOT_INITIALIZED, "no configuration");
    CHECK_OK(hamqtt_shutdown());

    /* from a file */
    {
        int tfd = mkstemp(path);
        FILE *f;
        CHECK(tfd >= 0);
        f = fdopen(tfd, "w");
        fputs(yaml, f);
        fclose(f);
    }
    CHECK_OK(hamqtt_init_file(path));
    CHECK_OK(hamqtt_cluster_client("core", &a));
    CHECK_OK(hamqtt_connect(a));
    CHECK_OK(hamqtt_publish(a, "cfg/file", "x", 1, 1, 0));
    CHECK_OK(hamqtt_shutdown());
    unlink(path);

    /* hamqtt_connect_all: the clusters with autoConnect, not the others */
    CHECK_ERR(hamqtt_connect_all(), HAMQTT_ERR_NOT_INITIALIZED, "no configuration");
    snprintf(yaml, sizeof yaml,
             "clusters:\n"
             "  - name: eager\n"
             "    connections: [{connection: {serverURIs: [tcp://127.0.0.1:%d]}}]\n"
             "  - name: lazy\n"
             "    autoConnect: false\n"
             "    connections: [{connection: {serverURIs: [tcp://127.0.0.1:%d]}}]\n",
             b.ports[0], b.ports[1]);
    CHECK_OK(hamqtt_init_yaml(yaml, strlen(yaml)));
    CHECK_OK(hamqtt_connect_all());
    CHECK_OK(hamqtt_cluster_client("eager", &a));
    CHECK_OK(hamqtt_live_endpoints(a, &names, &n));
    CHECK(n == 1);
    hamqtt_free(names);
    CHECK_OK(hamqtt_publish(a, "cfg/all", "x", 1, 1, 0));
    CHECK_OK(hamqtt_cluster_client("lazy", &d));
    CHECK_OK(hamqtt_live_endpoints(d, &names, &n));
    CHECK(n == 0);
    hamqtt_free(names);
    CHECK_OK(hamqtt_shutdown());
    brokers_quit(&b);
    /* a cluster that cannot connect is named in the error */
    snprintf(yaml, sizeof yaml,
             "clusters:\n"
             "  - name: unreachable\n"
             "    timeToWait: 300\n"
             "    connections: [{connection: {serverURIs: [tcp://127.0.0.1:1]}}]\n");
    CHECK_OK(hamqtt_init_yaml(yaml, strlen(yaml)));
    CHECK_ERR(hamqtt_connect_all(), HAMQTT_ERR_NO_ENDPOINT, "unreachable");
    CHECK_OK(hamqtt_shutdown());
}

/* ------------------------------------------------------------------------------------------ */
/* log lines                                                                                   */

static atomic_int log_lines, log_up;
static void on_log(void *user, hamqtt_client c, int level, const char *line) {
    (void)user;
    (void)c;
    if (level < HAMQTT_LOG_DEBUG || level > HAMQTT_LOG_ERROR) return;
    atomic_fetch_add(&log_lines, 1);
    if (strstr(line, "endpoint up") != NULL && strstr(line, "endpoint=log-1") != NULL) atomic_fetch_add(&log_up, 1);
}

static void test_log(void) {
    brokers b;
    hamqtt_client c;
    brokers_start(&b, 1);
    c = test_client(brokers_uris(&b, 1), "log", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_set_log_callback(c, HAMQTT_LOG_INFO, on_log, NULL));
    CHECK_OK(hamqtt_connect(c));
    wait_counter(&log_up, 1, 5000, "an 'endpoint up' log line");
    /* logging does not switch to push mode */
    {
        hamqtt_event ev[4];
        size_t n;
        CHECK_OK(hamqtt_poll(c, ev, 4, 0, &n));
    }
    CHECK_OK(hamqtt_close(c));
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------------------------ */
/* share_connections                                                                          */

static hamqtt_client shared_client(const char *uris, const char *name) {
    hamqtt_options o;
    hamqtt_client c = 0;
    test_options(&o, name);
    /* One client id for both: two connections would take the session from each other (the
     * broker drops the older one), so both stay up only if they really share one. */
    o.client_id = "hamqtt-shared-test";
    o.share_connections = 1;
    CHECK_OK(hamqtt_client_new(uris, &o, &c));
    return c;
}

/* Polls c until a message on `end` arrives; fails on a message outside `prefix` or an
 * endpoint going down. Returns how many messages under prefix arrived before `end`. */
static int own_messages_until(hamqtt_client c, const char *prefix, const char *end) {
    hamqtt_event evs[32];
    int64_t deadline = now_ms() + 5000 * test_scale();
    int own = 0;
    while (now_ms() < deadline) {
        size_t n = 0, i;
        CHECK_OK(hamqtt_poll(c, evs, 32, 50, &n));
        for (i = 0; i < n; i++) {
            if (evs[i].kind == HAMQTT_EVENT_ENDPOINT_DOWN) FAILF("endpoint %s went down: %s", evs[i].endpoint, evs[i].error);
            if (evs[i].kind != HAMQTT_EVENT_MESSAGE) continue;
            if (strcmp(evs[i].message.topic, end) == 0) return own;
            if (strncmp(evs[i].message.topic, prefix, strlen(prefix)) != 0) FAILF("got %s, not under %s", evs[i].message.topic, prefix);
            own++;
        }
    }
    FAILF("no message on %s within 5 s", end);
    return own;
}

static void test_shared(void) {
    brokers b;
    hamqtt_client a, c, pub;
    hamqtt_options old = HAMQTT_OPTIONS_INIT;
    int i;
    brokers_start(&b, 1);
    a = shared_client(brokers_uris(&b, 1), "sa");
    c = shared_client(brokers_uris(&b, 1), "sb");
    CHECK_OK(hamqtt_subscribe(a, "sa/#", 1, NULL, NULL));
    CHECK_OK(hamqtt_subscribe(a, "end", 1, NULL, NULL));
    CHECK_OK(hamqtt_subscribe(c, "sb/#", 1, NULL, NULL));
    CHECK_OK(hamqtt_subscribe(c, "end", 1, NULL, NULL));
    CHECK_OK(hamqtt_connect(a));
    CHECK_OK(hamqtt_connect(c));
    pub = test_client(brokers_uris(&b, 1), "spub", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_connect(pub));
    for (i = 0; i < 3; i++) {
        CHECK_OK(hamqtt_publish(pub, "sa/x", "a", 1, 1, 0));
        CHECK_OK(hamqtt_publish(pub, "sb/x", "b", 1, 1, 0));
    }
    CHECK_OK(hamqtt_publish(pub, "end", "", 0, 1, 0));
    CHECK(own_messages_until(a, "sa/", "end") == 3);
    CHECK(own_messages_until(c, "sb/", "end") == 3);
    /* Closing one leaves the other's connection up. */
    CHECK_OK(hamqtt_close(a));
    CHECK_OK(hamqtt_publish(pub, "sb/y", "b", 1, 1, 0));
    CHECK_OK(hamqtt_publish(pub, "end", "", 0, 1, 0));
    CHECK(own_messages_until(c, "sb/", "end") == 1);
    CHECK_OK(hamqtt_close(c));
    CHECK_OK(hamqtt_close(pub));
    brokers_quit(&b);

    /* A program built against the 0.1 header (no share_connections) still works. */
    old.struct_size = (uint32_t)offsetof(hamqtt_options, share_connections);
    CHECK_OK(hamqtt_client_new("tcp://127.0.0.1:1883", &old, &a));
    CHECK_OK(hamqtt_close(a));
}

/* ------------------------------------------------------------------------------------------ */
/* hamqtt_connect_async                                                                       */

/* Records the endpoint cas-1 coming up, the delivery of publish s->id and the arrival of a
 * message on cas/t; true once all three came (in any order, possibly in one batch). */
struct up_delivered_received {
    uint64_t id;
    int up, delivered, received;
};

static int is_up_delivered_received(const hamqtt_event *e, void *arg) {
    struct up_delivered_received *s = arg;
    if (e->kind == HAMQTT_EVENT_ENDPOINT_UP && strcmp(e->endpoint, "cas-1") == 0) s->up = 1;
    if (e->kind == HAMQTT_EVENT_DELIVERY && e->delivery.id == s->id) {
        CHECK(e->delivery.status == HAMQTT_OK);
        s->delivered = 1;
    }
    if (e->kind == HAMQTT_EVENT_MESSAGE && strcmp(e->message.topic, "cas/t") == 0) s->received = 1;
    return s->up && s->delivered && s->received;
}

static int is_no_endpoint_error(const hamqtt_event *e, void *arg) {
    (void)arg;
    return e->kind == HAMQTT_EVENT_ERROR && e->status == HAMQTT_ERR_NO_ENDPOINT && strstr(e->error, "nowhere-1") != NULL;
}

static void test_connect_async(void) {
    brokers b;
    hamqtt_client c, d;
    hamqtt_options o;
    struct up_delivered_received udr = {0, 0, 0, 0};
    brokers_start(&b, 1);
    c = test_client(brokers_uris(&b, 1), "cas", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_subscribe(c, "cas/#", 1, NULL, NULL));
    CHECK_OK(hamqtt_connect_async(c));
    CHECK_OK(hamqtt_connect_async(c)); /* started: nothing to do */
    /* no waiting before publishing: the publish waits for the endpoint itself */
    CHECK_OK(hamqtt_publish_async(c, "cas/t", "x", 1, 1, 0, NULL, NULL, &udr.id));
    poll_until(c, is_up_delivered_received, &udr, 5000);
    CHECK_OK(hamqtt_close(c));
    CHECK_ERR(hamqtt_connect_async(c), HAMQTT_ERR_HANDLE, "closed");

    /* nothing reachable: it still returns at once, and an error event follows time_to_wait */
    test_options(&o, "nowhere");
    o.time_to_wait_ms = 300;
    CHECK_OK(hamqtt_client_new("tcp://127.0.0.1:1", &o, &d));
    CHECK_OK(hamqtt_connect_async(d));
    poll_until(d, is_no_endpoint_error, NULL, 5000);
    CHECK_OK(hamqtt_close(d));
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* TLS options as users expect them                                                           */

/* Log lines collected by a callback, for the tests that look for a warning or a secret. */
static pthread_mutex_t logbuf_mu = PTHREAD_MUTEX_INITIALIZER;
static char logbuf[1 << 16];
static size_t logbuf_len;
static atomic_int logbuf_lines;

static void collect_log(void *user, hamqtt_client c, int level, const char *line) {
    size_t n = strlen(line);
    (void)user;
    (void)c;
    pthread_mutex_lock(&logbuf_mu);
    if (logbuf_len + n + 16 < sizeof logbuf) {
        logbuf_len += (size_t)snprintf(logbuf + logbuf_len, sizeof logbuf - logbuf_len, "%d %s\n", level, line);
    }
    pthread_mutex_unlock(&logbuf_mu);
    atomic_fetch_add(&logbuf_lines, 1);
}

static void logbuf_reset(void) {
    pthread_mutex_lock(&logbuf_mu);
    logbuf_len = 0;
    logbuf[0] = 0;
    pthread_mutex_unlock(&logbuf_mu);
    atomic_store(&logbuf_lines, 0);
}

static int logbuf_has(const char *needle) {
    int found;
    pthread_mutex_lock(&logbuf_mu);
    found = strstr(logbuf, needle) != NULL;
    pthread_mutex_unlock(&logbuf_mu);
    return found;
}

/* Waits until the collected log holds needle (aborts after timeout_ms). */
static void wait_log(const char *needle, int timeout_ms) {
    int64_t deadline = now_ms() + (int64_t)timeout_ms * test_scale();
    while (!logbuf_has(needle)) {
        if (now_ms() > deadline) FAILF("no log line with \"%s\" within %d ms; log:\n%s", needle, timeout_ms, logbuf);
        sleep_ms(5);
    }
}

static void test_tls_options(void) {
    hamqtt_options o;
    hamqtt_client c = 0;
    test_options(&o, "tlsopt");

    /* TLS options for endpoints that do not use TLS: refused, not silently ignored */
    o.tls_insecure = 1;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "no endpoint uses TLS");
    CHECK_ERR(hamqtt_client_new("127.0.0.1:1883,ws://127.0.0.1:8080/mqtt", &o, &c), HAMQTT_ERR_CONFIG, "ssl://");
    o.tls_insecure = 0;
    o.tls_skip_hostname_check = 1;
    CHECK_ERR(hamqtt_client_new("mqtt://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "no endpoint uses TLS");
    o.tls_skip_hostname_check = 0;
    o.tls_ca_file = "/etc/hostname"; /* read before the check: not PEM */
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "no PEM certificate");
    o.tls_ca_file = NULL;
    CHECK(c == 0);

    /* verification off entirely: a warning reaches the log callback installed afterwards */
    logbuf_reset();
    o.tls_insecure = 1;
    CHECK_OK(hamqtt_client_new("ssl://127.0.0.1:1", &o, &c));
    CHECK_OK(hamqtt_set_log_callback(c, HAMQTT_LOG_INFO, collect_log, NULL));
    wait_log("30 ", 5000);
    wait_log("verification is OFF", 5000);
    CHECK_OK(hamqtt_close(c));
    /* a callback whose level is above warnings does not get it */
    logbuf_reset();
    CHECK_OK(hamqtt_client_new("ssl://127.0.0.1:1", &o, &c));
    CHECK_OK(hamqtt_set_log_callback(c, HAMQTT_LOG_ERROR, collect_log, NULL));
    sleep_ms(100);
    CHECK(!logbuf_has("verification"));
    CHECK_OK(hamqtt_close(c));
    o.tls_insecure = 0;

    /* only the host name check off: a warning that says so */
    logbuf_reset();
    o.tls_skip_hostname_check = 1;
    CHECK_OK(hamqtt_client_new("ssl://127.0.0.1:1,tcp://127.0.0.1:2", &o, &c));
    CHECK_OK(hamqtt_set_log_callback(c, HAMQTT_LOG_WARN, collect_log, NULL));
    wait_log("host name verification is off", 5000);
    CHECK(!logbuf_has("verification is OFF"));
    CHECK_OK(hamqtt_close(c));

    /* a program built before tls_skip_hostname_check: the field is not read */
    logbuf_reset();
    o.struct_size = (uint32_t)offsetof(hamqtt_options, tls_skip_hostname_check);
    CHECK_OK(hamqtt_client_new("ssl://127.0.0.1:1", &o, &c));
    CHECK_OK(hamqtt_set_log_callback(c, HAMQTT_LOG_DEBUG, collect_log, NULL));
    sleep_ms(100);
    CHECK(!logbuf_has("verification"));
    CHECK_OK(hamqtt_close(c));
}

/* ------------------------------------------------------------------------------------------ */
/* values MQTT cannot carry are refused with the limit named, never cut or wrapped             */

static void test_limits(void) {
    hamqtt_options o;
    hamqtt_client c = 0;
    char *big = malloc(65537);
    CHECK(big != NULL);
    memset(big, 'x', 65536);
    big[65536] = 0;
    test_options(&o, "limits");

    o.keep_alive_ms = 65536000; /* 65536 s: would wrap to 0 s (no keep-alive) in 16 bits */
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "keep_alive_ms is 65536000");
    CHECK(strstr(hamqtt_last_error(), "65535 s") != NULL);
    o.keep_alive_ms = 2147483647;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "65535");
    o.keep_alive_ms = 500; /* would be cut to 0 s */
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "keep_alive_ms is 500");
    o.keep_alive_ms = 65535000; /* the limit itself is fine */
    CHECK_OK(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c));
    CHECK_OK(hamqtt_close(c));
    c = 0;
    o.keep_alive_ms = 0;
    /* a rate whose bucket (the rate rounded up) would overflow, or no number at all */
    o.connect_rate = 1e300;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "connect_rate is 1e+300");
    o.connect_rate = HUGE_VAL;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "connect_rate is +Inf");
    o.connect_rate = -HUGE_VAL; /* unlimited is a negative number, not -inf */
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "connect_rate is -Inf");
    o.connect_rate = nan("");
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "connect_rate is NaN");
    o.connect_rate = -1;

    o.client_id = big;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "client_id is 65536 bytes long: MQTT allows at most 65535");
    o.client_id = "a\001b";
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "control character U+0001");
    o.client_id = "a\xff";
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "UTF-8");
    o.client_id = NULL;
    o.username = big;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "username is 65536 bytes long");
    o.username = "u\xef\xbf\xbf"; /* U+FFFF */
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "non-character U+FFFF");
    o.username = "u";
    o.password = big;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "password is 65536 bytes long");
    CHECK(strstr(hamqtt_last_error(), "xxxx") == NULL); /* never the value itself */
    o.password = NULL;
    o.username = NULL;
    o.will_topic = "will";
    o.will_payload = big;
    o.will_payload_len = 65536;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_PAYLOAD, "limit of 65535 bytes");
    o.will_payload_len = 65535;
    CHECK_OK(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c));
    CHECK_OK(hamqtt_close(c));
    c = 0;
    o.will_topic = "will\001";
    o.will_payload_len = 0;
    CHECK_ERR(hamqtt_client_new("tcp://127.0.0.1:1883", &o, &c), HAMQTT_ERR_CONFIG, "control character");
    CHECK(c == 0);
    free(big);
}

/* ------------------------------------------------------------------------------------------ */
/* topics brokers drop the connection for are refused before anything is sent, at any QoS      */

static int is_down(const hamqtt_event *e, void *arg) {
    (void)arg;
    if (e->kind == HAMQTT_EVENT_ENDPOINT_DOWN) FAILF("endpoint %s went down: %s", e->endpoint, e->error);
    return 0;
}

/* The first message that arrives must be on `topic` (nothing was sent before it). */
static int first_message_is(const hamqtt_event *e, void *topic) {
    is_down(e, NULL);
    if (e->kind != HAMQTT_EVENT_MESSAGE) return 0;
    if (strcmp(e->message.topic, (const char *)topic) != 0) FAILF("got a message on \"%s\" first", e->message.topic);
    return 1;
}

static void test_poison_topics(void) {
    static const char *poison[] = {"a\001b", "a/\x1f", "a\x7f", "a\xc2\x85", "a\xef\xbf\xbf", "a\xef\xb7\x90", "a\xf0\x9f\xbf\xbe"};
    brokers b;
    hamqtt_client c;
    uint64_t id = 0;
    size_t i;
    int qos, granted = 0;
    char *names = NULL;
    brokers_start(&b, 1);
    c = test_client(brokers_uris(&b, 1), "poison", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_subscribe(c, "#", 1, NULL, NULL));
    CHECK_OK(hamqtt_connect(c));
    for (i = 0; i < sizeof poison / sizeof poison[0]; i++) {
        for (qos = 0; qos <= 2; qos++) {
            CHECK_ERR(hamqtt_publish(c, poison[i], "x", 1, qos, 0), HAMQTT_ERR_TOPIC, "brokers close the connection");
            CHECK_ERR(hamqtt_publish_async(c, poison[i], "x", 1, qos, 0, NULL, NULL, &id), HAMQTT_ERR_TOPIC, "U+");
            CHECK(id == 0);
            CHECK_ERR(hamqtt_publish_detached(c, poison[i], "x", 1, qos, 0), HAMQTT_ERR_TOPIC, "U+");
            CHECK_ERR(hamqtt_publish_to(c, "poison-1", poison[i], "x", 1, qos, 0), HAMQTT_ERR_TOPIC, "U+");
        }
        CHECK_ERR(hamqtt_subscribe(c, poison[i], 0, NULL, NULL), HAMQTT_ERR_TOPIC, "U+");
        CHECK_ERR(hamqtt_subscribe_granted(c, poison[i], 0, NULL, NULL, &granted), HAMQTT_ERR_TOPIC, "U+");
        CHECK_ERR(hamqtt_unsubscribe(c, poison[i]), HAMQTT_ERR_TOPIC, "U+");
    }
    CHECK(hamqtt_flush(c, 5000) == HAMQTT_OK);
    /* nothing reached the broker, and the connection is still the first one */
    CHECK_OK(hamqtt_publish(c, "poison/after", "ok", 2, 0, 0));
    poll_until(c, first_message_is, (void *)"poison/after", 5000);
    wait_live(c, 1, 1000);
    CHECK_OK(hamqtt_client_name(c, &names));
    hamqtt_free(names);
    CHECK_OK(hamqtt_close(c));
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* secrets: a password given as an option or in a URI shows in no output of the library       */

static void check_no_secret(const char *text, const char *where) {
    if (text != NULL && strstr(text, "SECRET") != NULL) FAILF("the password shows in %s: %s", where, text);
}

static int no_secret_in_event(const hamqtt_event *e, void *arg) {
    (void)arg;
    check_no_secret(e->error, "an event's error");
    check_no_secret(e->endpoint, "an event's endpoint");
    if (e->kind == HAMQTT_EVENT_ERROR && e->status == HAMQTT_ERR_NO_ENDPOINT) return 1;
    return 0;
}

static void test_secrets(void) {
    brokers b;
    hamqtt_client c = 0;
    hamqtt_options o;
    char uri[256];
    hamqtt_endpoint_stats *st = NULL;
    size_t n = 0, i;
    char *assigned = NULL;
    brokers_start(&b, 1);
    test_options(&o, "secret");
    o.time_to_wait_ms = 300 * test_scale();

    /* in a URI: refused (credentials go in username/password), and never echoed */
    snprintf(uri, sizeof uri, "tcp://alice:SECRET@127.0.0.1:%d", b.ports[0]);
    CHECK_ERR(hamqtt_client_new(uri, &o, &c), HAMQTT_ERR_CONFIG, "alice:***@");
    check_no_secret(hamqtt_last_error(), "hamqtt_last_error");
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d,tcp://alice:SECRET@127.0.0.1:1-3000", b.ports[0]);
    CHECK_RC(hamqtt_client_new(uri, &o, &c), HAMQTT_ERR_CONFIG);
    check_no_secret(hamqtt_last_error(), "hamqtt_last_error");
    snprintf(uri, sizeof uri, "tcp://alice:SECRET@127.0.0.1:1-2000");
    CHECK_RC(hamqtt_client_new(uri, &o, &c), HAMQTT_ERR_CONFIG);
    check_no_secret(hamqtt_last_error(), "hamqtt_last_error");

    /* as an option: a client that connects, and one that cannot; every log line at debug,
     * every event, every error text and the statistics are searched */
    o.username = "alice";
    o.password = "SECRET";
    logbuf_reset();
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), &o, &c));
    CHECK_OK(hamqtt_set_log_callback(c, HAMQTT_LOG_DEBUG, collect_log, NULL));
    CHECK_OK(hamqtt_connect(c));
    CHECK_OK(hamqtt_publish(c, "secret/t", "x", 1, 1, 0));
    snprintf(uri, sizeof uri, "tcp://bob:SECRET@127.0.0.1:%d", b.ports[0] + 1);
    CHECK_RC(hamqtt_add_endpoint(c, uri, NULL, &assigned), HAMQTT_ERR_CONFIG);
    check_no_secret(hamqtt_last_error(), "hamqtt_add_endpoint's error");
    CHECK_OK(hamqtt_add_endpoint(c, "tcp://127.0.0.1:1", NULL, &assigned));
    hamqtt_free(assigned);
    CHECK_OK(hamqtt_stats(c, &st, &n));
    for (i = 0; i < n; i++) {
        check_no_secret(st[i].name, "stats");
        check_no_secret(st[i].uri, "stats");
        check_no_secret(st[i].last_error, "stats");
    }
    hamqtt_free(st);
    brokers_kill(&b, 0);
    {
        hamqtt_event ev[32];
        int64_t deadline = now_ms() + 1500 * test_scale();
        while (now_ms() < deadline) {
            size_t k = 0, j;
            CHECK_OK(hamqtt_poll(c, ev, 32, 50, &k));
            for (j = 0; j < k; j++) no_secret_in_event(&ev[j], NULL);
        }
    }
    CHECK_RC(hamqtt_publish(c, "secret/t", "x", 1, 1, 0), HAMQTT_ERR_NO_ENDPOINT);
    check_no_secret(hamqtt_last_error(), "hamqtt_publish's error");
    CHECK_OK(hamqtt_close(c));
    CHECK(atomic_load(&logbuf_lines) > 0);
    check_no_secret(logbuf, "the log");

    /* connecting to nothing: the failure names each endpoint, without the password */
    logbuf_reset();
    CHECK_OK(hamqtt_client_new("tcp://127.0.0.1:1", &o, &c));
    CHECK_OK(hamqtt_set_log_callback(c, HAMQTT_LOG_DEBUG, collect_log, NULL));
    CHECK_RC(hamqtt_connect(c), HAMQTT_ERR_NO_ENDPOINT);
    check_no_secret(hamqtt_last_error(), "hamqtt_connect's error");
    CHECK_OK(hamqtt_disconnect(c));
    CHECK_OK(hamqtt_connect_async(c));
    poll_until(c, no_secret_in_event, NULL, 5000);
    CHECK_OK(hamqtt_close(c));
    check_no_secret(logbuf, "the log");
    brokers_quit(&b);
}

static const struct test_case cases[] = {
    {"version", test_version, 1},
    {"bad_input", test_bad_input, 1},
    {"pull", test_pull, 1},
    {"push", test_push, 1},
    {"close_in_callback", test_close_in_callback, 1},
    {"cross_close", test_cross_close, 1},
    {"publish_in_callback", test_publish_in_callback, 1},
    {"threads", test_threads, 1},
    {"failover", test_failover, 0},
    {"failover_sticky", test_failover_sticky, 1},
    {"reconnect", test_reconnect, 1},
    {"endpoints", test_endpoints, 1},
    {"no_endpoint", test_no_endpoint, 1},
    {"config", test_config, 1},
    {"log", test_log, 1},
    {"shared", test_shared, 1},
    {"connect_async", test_connect_async, 1},
    {"tls_options", test_tls_options, 1},
    {"limits", test_limits, 1},
    {"poison_topics", test_poison_topics, 1},
    {"secrets", test_secrets, 1},
    {"outbox_options", test_outbox_options, 1},
    {"outbox_before_connect", test_outbox_before_connect, 1},
    {"outbox_outage", test_outbox_outage, 0},
    {"outbox_disk", test_outbox_disk, 1},
    {"outbox_full", test_outbox_full, 1},
    {"outbox_outcomes", test_outbox_outcomes, 1},
    {"outbox_config", test_outbox_config, 1},
    {"mqtt5_props", test_mqtt5_props, 1},
    {"mqtt5_messages", test_mqtt5_messages, 1},
    {"mqtt5_refused", test_mqtt5_refused, 1},
    {"mqtt5_disconnect", test_mqtt5_disconnect, 1},
    {"compat04_poll", test_compat04_poll, 1},
    {"layout_poll", test_layout_poll, 1},
};

int main(int argc, char **argv) { return test_main(argc, argv, cases, sizeof cases / sizeof cases[0]); }
