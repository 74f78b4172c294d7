//go:build cabitest

/* Test-only C shim (build tag cabitest): drives the exported C ABI the way a C host does, from
 * pthreads, so `go test -race -tags cabitest ./capi` sees the library's Go code under real
 * foreign-thread use, and `go test -fuzz FuzzCABI` feeds arbitrary input through it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hamqtt.h"
#include "capi.h"
#include "cabitest_shim.h"

static char shim_err[512];
#define SHIM_FAIL(...) do { snprintf(shim_err, sizeof shim_err, __VA_ARGS__); return shim_err; } while (0)

const char *hqtest_last(void) { return shim_err; }

static void shim_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct shim_state {
    hamqtt_client c;
    int per_thread;
    atomic_int received, delivered, failed, busy_ok;
};

static void shim_on_msg(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct shim_state *s = (struct shim_state *)user;
    (void)m;
    /* closing the own client from its callback must be refused, not deadlock */
    if (hamqtt_close(c) == HAMQTT_ERR_BUSY) atomic_fetch_add(&s->busy_ok, 1);
    atomic_fetch_add(&s->received, 1); /* last: the test reads busy_ok once this is complete */
}

static void shim_on_delivery(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    struct shim_state *s = (struct shim_state *)user;
    (void)c;
    if (d->status != HAMQTT_OK) atomic_fetch_add(&s->failed, 1);
    atomic_fetch_add(&s->delivered, 1);
}

static void *shim_publisher(void *arg) {
    struct shim_state *s = (struct shim_state *)arg;
    char **names;
    size_t n;
    int i;
    for (i = 0; i < s->per_thread; i++) {
        int rc = (i % 2) ? hamqtt_publish(s->c, "race/t", "x", 1, 1, 0)
                         : hamqtt_publish_async(s->c, "race/t", "y", 1, 1, 0, shim_on_delivery, s, NULL);
        if (rc != HAMQTT_OK) atomic_fetch_add(&s->failed, 1);
        if (i % 20 == 0) {
            if (hamqtt_live_endpoints(s->c, &names, &n) == HAMQTT_OK) hamqtt_free(names);
            if (hamqtt_publish(s->c, "race/#", "x", 1, 0, 0) != HAMQTT_ERR_TOPIC) atomic_fetch_add(&s->failed, 1);
            if (hamqtt_publish(0, "race/t", "x", 1, 0, 0) != HAMQTT_ERR_HANDLE) atomic_fetch_add(&s->failed, 1);
        }
    }
    return NULL;
}

const char *hqtest_threads(const char *uris, int threads, int per_thread) {
    static struct shim_state s;
    pthread_t th[16];
    hamqtt_endpoint_stats *st;
    size_t n;
    int i, want, waited = 0;
    memset(&s, 0, sizeof s);
    if (threads > 16) threads = 16;
    s.per_thread = per_thread;
    if (hamqtt_client_new(uris, NULL, &s.c) != HAMQTT_OK) SHIM_FAIL("client_new: %s", hamqtt_last_error());
    if (hamqtt_connect(s.c) != HAMQTT_OK) SHIM_FAIL("connect: %s", hamqtt_last_error());
    if (hamqtt_subscribe(s.c, "race/t", 1, shim_on_msg, &s) != HAMQTT_OK) SHIM_FAIL("subscribe: %s", hamqtt_last_error());
    for (i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, shim_publisher, &s) != 0) SHIM_FAIL("pthread_create");
    for (i = 0; i < threads; i++) pthread_join(th[i], NULL);
    want = threads * per_thread;
    while ((atomic_load(&s.received) < want || atomic_load(&s.delivered) < want / 2) && waited < 20000) {
        shim_sleep_ms(10);
        waited += 10;
    }
    if (atomic_load(&s.received) < want) SHIM_FAIL("received %d of %d", atomic_load(&s.received), want);
    if (atomic_load(&s.delivered) < want / 2) SHIM_FAIL("delivered %d of %d", atomic_load(&s.delivered), want / 2);
    if (atomic_load(&s.failed) != 0) SHIM_FAIL("%d calls failed", atomic_load(&s.failed));
    if (atomic_load(&s.busy_ok) != atomic_load(&s.received)) SHIM_FAIL("close from a callback was not refused");
    if (hamqtt_stats(s.c, &st, &n) != HAMQTT_OK) SHIM_FAIL("stats: %s", hamqtt_last_error());
    hamqtt_free(st);
    if (hamqtt_close(s.c) != HAMQTT_OK) SHIM_FAIL("close: %s", hamqtt_last_error());
    if (hamqtt_close(s.c) != HAMQTT_ERR_HANDLE) SHIM_FAIL("double close was not refused");
    return NULL;
}

/* hqtest_outbox_cycles: pthreads publish (blocking and async) through a client with an outbox
 * while the main thread disconnects and connects it again and again, and a subscription's
 * callback publishes an echo of what it receives (a disconnect waits for that callback): every
 * call is stored or acknowledged, and every async publish gets exactly one outcome, HAMQTT_OK,
 * in the end. */
struct ob_state {
    hamqtt_client c;
    int per_thread;
    atomic_int async_ok, calls, outcomes, bad_outcomes, failed, echoes;
};

static void ob_on_msg(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct ob_state *s = (struct ob_state *)user;
    int rc = hamqtt_publish(c, "race/echo", m->payload, m->payload_len, 1, 0);
    (void)m;
    if (rc != HAMQTT_OK && rc != HAMQTT_STORED) atomic_fetch_add(&s->failed, 1);
    else atomic_fetch_add(&s->echoes, 1);
}

static void ob_on_delivery(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    struct ob_state *s = (struct ob_state *)user;
    (void)c;
    if (d->status != HAMQTT_OK) atomic_fetch_add(&s->bad_outcomes, 1);
    atomic_fetch_add(&s->outcomes, 1);
}

static void *ob_publisher(void *arg) {
    struct ob_state *s = (struct ob_state *)arg;
    struct hamqtt_outbox_stats st = HAMQTT_OUTBOX_STATS_INIT;
    int i, rc;
    for (i = 0; i < s->per_thread; i++) {
        if (i % 4 == 0) {
            rc = hamqtt_publish(s->c, "race/ob", "b", 1, 1, 0);
            if (rc != HAMQTT_OK && rc != HAMQTT_STORED) atomic_fetch_add(&s->failed, 1);
        } else {
            rc = hamqtt_publish_async(s->c, "race/ob", "a", 1, 1, 0, ob_on_delivery, s, NULL);
            if (rc == HAMQTT_OK) atomic_fetch_add(&s->async_ok, 1);
            else atomic_fetch_add(&s->failed, 1);
        }
        if (i % 16 == 0 && hamqtt_outbox_stats(s->c, &st) != HAMQTT_OK) atomic_fetch_add(&s->failed, 1);
        atomic_fetch_add(&s->calls, 1);
    }
    return NULL;
}

const char *hqtest_outbox_cycles(const char *uris, int threads, int per_thread) {
    static struct ob_state s;
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    struct hamqtt_outbox_stats st = HAMQTT_OUTBOX_STATS_INIT;
    pthread_t th[16];
    int i, want, waited = 0, cycles = 0;
    memset(&s, 0, sizeof s);
    if (threads > 16) threads = 16;
    s.per_thread = per_thread;
    o.outbox = 1;
    o.connect_rate = -1;
    o.warm_up_ms = -1;
    if (hamqtt_client_new(uris, &o, &s.c) != HAMQTT_OK) SHIM_FAIL("client_new: %s", hamqtt_last_error());
    if (hamqtt_subscribe(s.c, "race/ob", 1, ob_on_msg, &s) != HAMQTT_OK) SHIM_FAIL("subscribe: %s", hamqtt_last_error());
    for (i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, ob_publisher, &s) != 0) SHIM_FAIL("pthread_create");
    want = threads * per_thread;
    while (atomic_load(&s.calls) < want || cycles < 20) {
        if (cycles % 2 == 0) {
            if (hamqtt_connect(s.c) != HAMQTT_OK) SHIM_FAIL("connect: %s", hamqtt_last_error());
        } else if (hamqtt_disconnect(s.c) != HAMQTT_OK) {
            SHIM_FAIL("disconnect: %s", hamqtt_last_error());
        }
        cycles++;
        shim_sleep_ms(5);
    }
    for (i = 0; i < threads; i++) pthread_join(th[i], NULL);
    if (hamqtt_connect(s.c) != HAMQTT_OK) SHIM_FAIL("connect: %s", hamqtt_last_error());
    if (atomic_load(&s.failed) != 0) SHIM_FAIL("%d calls failed", atomic_load(&s.failed));
    while (atomic_load(&s.outcomes) < atomic_load(&s.async_ok) && waited < 30000) {
        shim_sleep_ms(10);
        waited += 10;
    }
    if (hamqtt_flush(s.c, 30000) != HAMQTT_OK) SHIM_FAIL("flush: %s", hamqtt_last_error());
    if (hamqtt_unsubscribe(s.c, "race/ob") != HAMQTT_OK) SHIM_FAIL("unsubscribe: %s", hamqtt_last_error());
    if (hamqtt_flush(s.c, 30000) != HAMQTT_OK) SHIM_FAIL("flush: %s", hamqtt_last_error());
    if (hamqtt_outbox_stats(s.c, &st) != HAMQTT_OK) SHIM_FAIL("outbox_stats: %s", hamqtt_last_error());
    want += atomic_load(&s.echoes);
    if (st.messages != 0 || st.stored != (uint64_t)want || st.delivered != (uint64_t)want)
        SHIM_FAIL("outbox after %d cycles: %llu held, %llu stored, %llu delivered; want 0, %d, %d", cycles,
                  (unsigned long long)st.messages, (unsigned long long)st.stored, (unsigned long long)st.delivered, want, want);
    if (atomic_load(&s.failed) != 0) SHIM_FAIL("%d calls failed", atomic_load(&s.failed));
    if (hamqtt_close(s.c) != HAMQTT_OK) SHIM_FAIL("close: %s", hamqtt_last_error());
    if (atomic_load(&s.outcomes) != atomic_load(&s.async_ok) || atomic_load(&s.bad_outcomes) != 0)
        SHIM_FAIL("after %d cycles: %d outcomes (%d not OK) for %d async publishes", cycles, atomic_load(&s.outcomes),
                  atomic_load(&s.bad_outcomes), atomic_load(&s.async_ok));
    return NULL;
}

/* hqtest_fuzz interprets data as a script of API calls on an unconnected client, with topics,
 * filters, QoS values, handles and YAML taken from the input. Nothing may crash, every call
 * must return a known status, and every failure must leave a last_error. */
static int known_status(int rc) {
    return (rc <= 0 && rc >= HAMQTT_ERR_BUFFER) || rc == HAMQTT_ERR_INTERNAL || rc == HAMQTT_STORED;
}

const char *hqtest_fuzz(const unsigned char *data, size_t len) {
    hamqtt_client c = 0, stale;
    hamqtt_event ev[8];
    char str[256];
    size_t pos = 0, n, k;
    int rc, step;
    if (hamqtt_client_new("tcp://127.0.0.1:1", NULL, &c) != HAMQTT_OK) SHIM_FAIL("client_new: %s", hamqtt_last_error());
    stale = c + 1000;
    for (step = 0; pos < len && step < 64; step++) {
        unsigned op = data[pos++];
        size_t sl = pos < len ? data[pos++] % sizeof str : 0;
        int q = pos < len ? (int)(signed char)data[pos++] : 0;
        if (sl > len - pos) sl = len - pos;
        memcpy(str, data + pos, sl);
        str[sl] = 0; /* the C string ends at the first NUL, like a C caller's would */
        pos += sl;
        switch (op % 13) {
        case 0: rc = hamqtt_publish(c, str, data, len, q, 0); break;
        case 1: rc = hamqtt_publish_async(c, str, str, sl, q, q & 1, NULL, NULL, NULL); break;
        case 2: rc = hamqtt_subscribe(c, str, q, NULL, NULL); break;
        case 3: rc = hamqtt_unsubscribe(c, str); break;
        case 4: rc = hamqtt_publish_to(c, str, str, NULL, 0, q, 0); break;
        case 5: rc = hamqtt_add_endpoint(c, str, (q & 1) ? str : NULL, NULL); break;
        case 6: rc = hamqtt_remove_endpoint(c, str); break;
        case 7: rc = hamqtt_poll_sized(c, ev, sizeof ev[0], (size_t)(q & 7), 0, &n); break; /* capi.h undefines the macro */
        case 8: rc = hamqtt_publish(stale, str, NULL, 0, 0, 0); break;
        case 9:
            rc = hamqtt_init_yaml(str, sl);
            if (rc == HAMQTT_OK) rc = hamqtt_shutdown();
            break;
        case 11: {
            /* the wire form of a property list: whatever decodes re-encodes, and that decodes
             * to the same encoding */
            hamqtt_props *a = NULL, *b = NULL;
            unsigned char e1[1024], e2[1024];
            size_t n1 = 0, n2 = 0;
            rc = hamqtt_props_decode(data + pos - sl, sl, &a);
            if (rc != HAMQTT_OK && a != NULL) SHIM_FAIL("step %d: failed decode left a list", step);
            if (rc == HAMQTT_OK) {
                if (hamqtt_props_encode(a, e1, sizeof e1, &n1) != HAMQTT_OK) SHIM_FAIL("step %d: encode after decode: %s", step, hamqtt_last_error());
                if (hamqtt_props_decode(e1, n1, &b) != HAMQTT_OK) SHIM_FAIL("step %d: decode of an encoding: %s", step, hamqtt_last_error());
                if (hamqtt_props_encode(b, e2, sizeof e2, &n2) != HAMQTT_OK || n1 != n2 || memcmp(e1, e2, n1) != 0)
                    SHIM_FAIL("step %d: the encoding changed across a round trip", step);
                if (hamqtt_props_user_count(a) != hamqtt_props_user_count(b)) SHIM_FAIL("step %d: user properties lost", step);
            }
            hamqtt_props_free(a);
            hamqtt_props_free(b);
            break;
        }
        case 10: {
            hamqtt_client other = 0;
            rc = hamqtt_client_new(str, NULL, &other);
            if (rc == HAMQTT_OK && hamqtt_close(other) != HAMQTT_OK) SHIM_FAIL("close of a new client failed");
            if (rc == HAMQTT_OK && hamqtt_close(other) != HAMQTT_ERR_HANDLE) SHIM_FAIL("double close accepted");
            break;
        }
        default: {
            char **names;
            rc = hamqtt_dead_endpoints(c, &names, &k);
            if (rc == HAMQTT_OK) hamqtt_free(names);
        }
        }
        if (!known_status(rc)) SHIM_FAIL("step %d op %u: unknown status %d", step, op % 13, rc);
        if (rc == HAMQTT_ERR_INTERNAL) SHIM_FAIL("step %d op %u: internal error: %s", step, op % 13, hamqtt_last_error());
        if (rc != HAMQTT_OK && hamqtt_last_error()[0] == 0) SHIM_FAIL("step %d: status %d without last_error", step, rc);
    }
    if (hamqtt_close(c) != HAMQTT_OK) SHIM_FAIL("close: %s", hamqtt_last_error());
    return NULL;
}

/* hamqtt_client_new with ack_quorum set to `quorum`; `old_header` gives the struct_size of a
 * program built against a header from before the field (which the library must not read). */
int hqtest_client_with_ack_quorum(const char *uris, int quorum, int old_header, hamqtt_client *out) {
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    o.publisher_type = HAMQTT_PUBLISHER_ALL;
    o.ack_quorum = quorum;
    if (old_header) o.struct_size = (uint32_t)offsetof(hamqtt_options, ack_quorum);
    return hamqtt_client_new(uris, &o, out);
}

/* hamqtt_client_new on `uri` with a CA in memory and the two switches that relax verification,
 * then hamqtt_connect. `old_header` gives the struct_size of a program built before
 * tls_skip_hostname_check (which the library must not read then). Returns the first failing
 * status (hamqtt_last_error() tells why) or HAMQTT_OK once a broker was connected and the
 * client closed. */
int hqtest_tls_connect(const char *uri, const char *ca_pem, int skip_hostname, int insecure, int old_header) {
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    hamqtt_client c = 0;
    int rc;
    o.tls_ca_pem = ca_pem;
    o.tls_skip_hostname_check = skip_hostname;
    o.tls_insecure = insecure;
    o.time_to_wait_ms = 3000;
    o.connect_timeout_ms = 2000;
    o.connect_rate = -1;
    o.warm_up_ms = -1;
    if (old_header) o.struct_size = (uint32_t)offsetof(hamqtt_options, tls_skip_hostname_check);
    rc = hamqtt_client_new(uri, &o, &c);
    if (rc != HAMQTT_OK) return rc;
    rc = hamqtt_connect(c);
    if (rc == HAMQTT_OK) rc = hamqtt_publish(c, "tls/t", "x", 1, 1, 0);
    if (rc != HAMQTT_OK) {
        /* keep the connect's error text across the close */
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", hamqtt_last_error());
        hamqtt_close(c);
        hqcapi_set_error(msg, strlen(msg));
        return rc;
    }
    return hamqtt_close(c);
}

/* hamqtt_client_new with every MQTT 5 option set; `old_header` gives the struct_size of a
 * program built against a header from before them (which the library must not read). */
int hqtest_client_v5(const char *uris, int old_header, hamqtt_client *out) {
    hamqtt_options o = HAMQTT_OPTIONS_INIT;
    hamqtt_props *user = hamqtt_props_new(), *will = hamqtt_props_new();
    int rc;
    hamqtt_props_add_user(user, "app", "shim");
    hamqtt_props_set_string(will, HAMQTT_PROP_CONTENT_TYPE, "text/plain");
    hamqtt_props_set_int(will, HAMQTT_PROP_MESSAGE_EXPIRY, 60);
    o.will_topic = "shim/will";
    o.protocol_version = 5;
    o.session_expiry_ms = 90000;
    o.receive_maximum = 42;
    o.topic_alias_maximum = 7;
    o.no_topic_aliases = 1;
    o.request_response_info = 1;
    o.no_problem_info = 1;
    o.message_ids = HAMQTT_MESSAGE_IDS_NEVER;
    o.connect_props = user;
    o.will_props = will;
    o.will_delay_ms = 5000;
    if (old_header) o.struct_size = (uint32_t)offsetof(hamqtt_options, protocol_version);
    rc = hamqtt_client_new(uris, &o, out);
    hamqtt_props_free(user); /* read during the call, not kept */
    hamqtt_props_free(will);
    return rc;
}
