/* Tests of the outbox through the C API (hamqtt_options.outbox*, HAMQTT_STORED and the outbox
 * status codes, hamqtt_outbox_stats), linked into test_capi: its cases run as their own ctest
 * tests, and the quick ones in the valgrind and cgocheck2 runs too. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hamqtt.h"
#include "testutil.h"
#include "test_outbox.h"

/* Nothing listens there: a client that is never connected. */
#define NOWHERE "tcp://127.0.0.1:1"

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                    */

/* A subscriber (push mode) that records the sequence numbers (decimal payloads) it receives. */
#define SEQ_MAX 4096
struct seqsub {
    hamqtt_client c;
    pthread_mutex_t mu;
    int n;             /* messages received (copies included)   */
    int first_n;       /* distinct sequence numbers received    */
    int out_of_order;  /* first arrivals below an earlier one    */
    int highest;       /* highest first arrival                  */
    unsigned char seen[SEQ_MAX];
};

static void seqsub_on_msg(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct seqsub *s = (struct seqsub *)user;
    char buf[32];
    size_t len = m->payload_len < sizeof buf - 1 ? m->payload_len : sizeof buf - 1;
    int seq;
    (void)c;
    memcpy(buf, m->payload, len);
    buf[len] = 0;
    seq = atoi(buf);
    pthread_mutex_lock(&s->mu);
    s->n++;
    if (seq >= 0 && seq < SEQ_MAX && !s->seen[seq]) {
        s->seen[seq] = 1;
        s->first_n++;
        if (seq < s->highest) s->out_of_order++;
        if (seq > s->highest) s->highest = seq;
    }
    pthread_mutex_unlock(&s->mu);
}

static void seqsub_start(struct seqsub *s, const char *uris, const char *topic) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->highest = -1;
    s->c = test_client(uris, "obsub", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_connect(s->c));
    CHECK_OK(hamqtt_subscribe(s->c, topic, 1, seqsub_on_msg, s));
}

/* Waits until 0..count-1 all arrived, and checks they arrived in order (first copies). */
static void seqsub_wait(struct seqsub *s, int count, int timeout_ms) {
    int64_t deadline = now_ms() + (int64_t)timeout_ms * test_scale();
    int i, got;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        got = 0;
        for (i = 0; i < count && i < SEQ_MAX; i++) got += s->seen[i];
        pthread_mutex_unlock(&s->mu);
        if (got == count) break;
        if (now_ms() > deadline) {
            for (i = 0; i < count && i < SEQ_MAX; i++)
                if (!s->seen[i]) fprintf(stderr, "missing: %d\n", i);
            FAILF("subscriber: %d of messages 0..%d after %d ms", got, count - 1, timeout_ms);
        }
        sleep_ms(10);
    }
    pthread_mutex_lock(&s->mu);
    if (s->out_of_order != 0) FAILF("subscriber: %d messages arrived after a later one", s->out_of_order);
    pthread_mutex_unlock(&s->mu);
}

static void seqsub_stop(struct seqsub *s) {
    CHECK_OK(hamqtt_close(s->c));
    pthread_mutex_destroy(&s->mu);
}

/* Delivery outcomes counted by status (push mode). */
struct outcomes {
    atomic_int ok, closed, dropped, expired, other, errors;
    atomic_int unknown; /* on_error calls */
    char last_error[512];
};

static void outcomes_on_delivery(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    struct outcomes *o = (struct outcomes *)user;
    (void)c;
    CHECK(d->topic != NULL && d->endpoints != NULL);
    CHECK((d->status == HAMQTT_OK) == (d->error == NULL));
    if (d->error) snprintf(o->last_error, sizeof o->last_error, "%s", d->error);
    switch (d->status) {
    case HAMQTT_OK: atomic_fetch_add(&o->ok, 1); break;
    case HAMQTT_ERR_CLOSED: atomic_fetch_add(&o->closed, 1); break;
    case HAMQTT_ERR_DROPPED: atomic_fetch_add(&o->dropped, 1); break;
    case HAMQTT_ERR_EXPIRED: atomic_fetch_add(&o->expired, 1); break;
    default: atomic_fetch_add(&o->other, 1); break;
    }
}

static void outcomes_on_error(void *user, hamqtt_client c, int status, const char *error) {
    struct outcomes *o = (struct outcomes *)user;
    (void)c;
    snprintf(o->last_error, sizeof o->last_error, "%s (%d)", error, status);
    if (status == HAMQTT_ERR_DROPPED) atomic_fetch_add(&o->dropped, 1);
    atomic_fetch_add(&o->errors, 1);
}

static struct hamqtt_outbox_stats outbox_stats(hamqtt_client c) {
    struct hamqtt_outbox_stats st = HAMQTT_OUTBOX_STATS_INIT;
    CHECK_OK(hamqtt_outbox_stats(c, &st));
    CHECK(st.struct_size == sizeof st);
    return st;
}

/* Waits until the outbox holds `messages` messages. */
static struct hamqtt_outbox_stats wait_outbox(hamqtt_client c, uint64_t messages, int timeout_ms) {
    int64_t deadline = now_ms() + (int64_t)timeout_ms * test_scale();
    struct hamqtt_outbox_stats st;
    for (;;) {
        st = outbox_stats(c);
        if (st.messages == messages) return st;
        if (now_ms() > deadline)
            FAILF("outbox holds %llu messages after %d ms, want %llu", (unsigned long long)st.messages, timeout_ms,
                  (unsigned long long)messages);
        sleep_ms(10);
    }
}

static void wait_dead(hamqtt_client c, int timeout_ms) {
    int64_t deadline = now_ms() + (int64_t)timeout_ms * test_scale();
    for (;;) {
        char **names = NULL;
        size_t n = 0;
        CHECK_OK(hamqtt_live_endpoints(c, &names, &n));
        hamqtt_free(names);
        if (n == 0) return;
        if (now_ms() > deadline) FAILF("%zu endpoints still live after %d ms", n, timeout_ms);
        sleep_ms(10);
    }
}

/* The next event of a pull-mode client (aborts after timeout_ms). */
static hamqtt_event next_event(hamqtt_client c, int timeout_ms) {
    hamqtt_event ev;
    size_t n = 0;
    int64_t deadline = now_ms() + (int64_t)timeout_ms * test_scale();
    while (n == 0) {
        if (now_ms() > deadline) FAILF("no event within %d ms", timeout_ms);
        CHECK_OK(hamqtt_poll(c, &ev, 1, 50, &n));
    }
    return ev;
}

/* Polls until the delivery outcome of `id` (events of other kinds are skipped). */
static hamqtt_event wait_delivery(hamqtt_client c, uint64_t id, int timeout_ms) {
    for (;;) {
        hamqtt_event ev = next_event(c, timeout_ms);
        if (ev.kind == HAMQTT_EVENT_DELIVERY && ev.delivery.id == id) return ev;
    }
}

/* Nothing but endpoint events for `ms`. */
static void expect_no_outcome(hamqtt_client c, int ms) {
    hamqtt_event evs[8];
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        size_t n = 0, i;
        CHECK_OK(hamqtt_poll(c, evs, 8, 20, &n));
        for (i = 0; i < n; i++)
            if (evs[i].kind == HAMQTT_EVENT_DELIVERY || evs[i].kind == HAMQTT_EVENT_ERROR)
                FAILF("unexpected event of kind %d: status %d, %s", evs[i].kind, evs[i].status,
                      evs[i].error ? evs[i].error : "");
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ------------------------------------------------------------------------------------------ */
/* options                                                                                    */

void test_outbox_options(void) {
    hamqtt_options o;
    hamqtt_client c = 0;
    struct hamqtt_outbox_stats st = HAMQTT_OUTBOX_STATS_INIT;
    char dir[] = "/tmp/hamqtt-obopt-XXXXXX", file[64];
    int fd;

    test_options(&o, "obopt");
    o.outbox_max_messages = 5;
    CHECK_ERR(hamqtt_client_new(NOWHERE, &o, &c), HAMQTT_ERR_CONFIG, "outbox_max_messages is set but the client has no outbox");
    CHECK(c == 0);
    test_options(&o, "obopt");
    o.outbox_qos0 = 1;
    CHECK_ERR(hamqtt_client_new(NOWHERE, &o, &c), HAMQTT_ERR_CONFIG, "outbox_qos0");
    test_options(&o, "obopt");
    o.outbox = 1;
    o.outbox_overflow = 7;
    CHECK_ERR(hamqtt_client_new(NOWHERE, &o, &c), HAMQTT_ERR_CONFIG, "outbox_overflow is 7");
    o.outbox_overflow = HAMQTT_OVERFLOW_DROP_OLDEST;
    o.outbox_sync = HAMQTT_SYNC_NEVER;
    CHECK_ERR(hamqtt_client_new(NOWHERE, &o, &c), HAMQTT_ERR_CONFIG, "in memory");
    o.outbox_sync = 9;
    CHECK_ERR(hamqtt_client_new(NOWHERE, &o, &c), HAMQTT_ERR_CONFIG, "outbox_sync is 9");
    o.outbox_sync = HAMQTT_SYNC_ALWAYS;
    o.outbox_expiry_ms = -1;
    CHECK_ERR(hamqtt_client_new(NOWHERE, &o, &c), HAMQTT_ERR_CONFIG, "outbox_expiry_ms is -1");
    o.outbox_expiry_ms = 0;
    o.outbox_dir = "";
    CHECK_ERR(hamqtt_client_new(NOWHERE, &o, &c), HAMQTT_ERR_CONFIG, "outbox_dir is empty");

    CHECK(mkdtemp(dir) != NULL);
    o.outbox_dir = dir;
    o.outbox_sync_interval_ms = 50;
    CHECK_ERR(hamqtt_client_new(NOWHERE, &o, &c), HAMQTT_ERR_CONFIG, "not HAMQTT_SYNC_INTERVAL");
    o.outbox_sync = HAMQTT_SYNC_INTERVAL;
    CHECK_OK(hamqtt_client_new(NOWHERE, &o, &c));
    st = outbox_stats(c);
    CHECK(st.messages == 0 && st.oldest_unix_ns == 0 && st.oldest_age_ms == 0 && st.recovered == 0);
    CHECK_OK(hamqtt_close(c));
    /* a directory that cannot be made: a file is in the way */
    snprintf(file, sizeof file, "%s/file", dir);
    fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    close(fd);
    o.outbox_dir = file;
    c = 0;
    CHECK_RC(hamqtt_client_new(NOWHERE, &o, &c), HAMQTT_ERR_IO);
    CHECK(c == 0);
    rm_tree(dir);

    /* A program built before the outbox fields: whatever follows its struct is not read. */
    test_options(&o, "obold");
    o.outbox = 1;
    o.outbox_overflow = 99;
    o.struct_size = (uint32_t)offsetof(hamqtt_options, outbox);
    CHECK_OK(hamqtt_client_new(NOWHERE, &o, &c));
    CHECK_ERR(hamqtt_outbox_stats(c, &st), HAMQTT_ERR_STATE, "has no outbox");
    CHECK_ERR(hamqtt_publish(c, "ob/x", "x", 1, 1, 0), HAMQTT_ERR_STATE, "not connected");
    CHECK_ERR(hamqtt_outbox_stats(c, NULL), HAMQTT_ERR_INVALID, "out is NULL");
    st.struct_size = 4;
    CHECK_ERR(hamqtt_outbox_stats(c, &st), HAMQTT_ERR_INVALID, "HAMQTT_OUTBOX_STATS_INIT");
    CHECK_OK(hamqtt_close(c));
    st.struct_size = sizeof st;
    CHECK_RC(hamqtt_outbox_stats(c, &st), HAMQTT_ERR_HANDLE);

    /* the status codes */
    CHECK(HAMQTT_STORED > 0);
    CHECK(strstr(hamqtt_strerror(HAMQTT_STORED), "stored") != NULL);
    CHECK(strstr(hamqtt_strerror(HAMQTT_ERR_FULL), "full") != NULL);
    CHECK(strstr(hamqtt_strerror(HAMQTT_ERR_LOCKED), "in use") != NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* publishing before hamqtt_connect and after hamqtt_disconnect                                */

void test_outbox_before_connect(void) {
    brokers b;
    struct seqsub sub;
    hamqtt_options o;
    hamqtt_client c0, c;
    hamqtt_event ev;
    struct hamqtt_outbox_stats st = HAMQTT_OUTBOX_STATS_INIT;
    uint64_t id1 = 0, id4 = 0;
    int rc, i;

    brokers_start(&b, 1);
    /* without an outbox nothing changed: not connected is HAMQTT_ERR_STATE, no stats */
    c0 = test_client(brokers_uris(&b, 1), "nobox", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_ERR(hamqtt_publish(c0, "ob/seq", "x", 1, 1, 0), HAMQTT_ERR_STATE, "not connected");
    CHECK_ERR(hamqtt_publish_async(c0, "ob/seq", "x", 1, 1, 0, NULL, NULL, NULL), HAMQTT_ERR_STATE, "not connected");
    CHECK_ERR(hamqtt_outbox_stats(c0, &st), HAMQTT_ERR_STATE, "has no outbox");
    CHECK_OK(hamqtt_close(c0));

    seqsub_start(&sub, brokers_uris(&b, 1), "ob/seq");
    test_options(&o, "obpub");
    o.outbox = 1;
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), &o, &c));
    /* stored at once: nothing can acknowledge before the connect */
    CHECK_RC(hamqtt_publish(c, "ob/seq", "0", 1, 1, 0), HAMQTT_STORED);
    CHECK_OK(hamqtt_publish_async(c, "ob/seq", "1", 1, 1, 0, NULL, (void *)0x51, &id1));
    CHECK(id1 != 0);
    CHECK_OK(hamqtt_publish_detached(c, "ob/seq", "2", 1, 2, 0));
    /* QoS 0 is not stored (no outbox_qos0): as without an outbox */
    CHECK_ERR(hamqtt_publish(c, "ob/seq", "x", 1, 0, 0), HAMQTT_ERR_STATE, "not connected");
    st = outbox_stats(c);
    CHECK(st.messages == 3 && st.stored == 3 && st.delivered == 0);
    CHECK(st.bytes == 3 * (strlen("ob/seq") + 1));
    CHECK(st.oldest_unix_ns > 0 && st.oldest_age_ms >= 0);

    CHECK_OK(hamqtt_connect(c));
    seqsub_wait(&sub, 3, 10000);
    ev = wait_delivery(c, id1, 10000);
    CHECK(ev.delivery.status == HAMQTT_OK && ev.delivery.user == (void *)0x51);
    st = wait_outbox(c, 0, 5000);
    CHECK(st.delivered == 3 && st.oldest_unix_ns == 0);

    /* after a disconnect: stored, and sent by the next connect */
    CHECK_OK(hamqtt_disconnect(c));
    CHECK_RC(hamqtt_publish(c, "ob/seq", "3", 1, 1, 0), HAMQTT_STORED);
    CHECK_OK(hamqtt_publish_async(c, "ob/seq", "4", 1, 1, 0, NULL, NULL, &id4));
    CHECK(id4 > id1);
    CHECK(outbox_stats(c).messages == 2);
    /* the disconnected answer still comes, after the events left */
    for (i = 0; i < 1000; i++) {
        size_t n = 0;
        rc = hamqtt_poll(c, &ev, 1, 0, &n);
        if (rc == HAMQTT_ERR_CLOSED) break;
        CHECK_OK(rc);
        CHECK(ev.kind != HAMQTT_EVENT_DELIVERY || ev.delivery.id != id4);
    }
    CHECK(rc == HAMQTT_ERR_CLOSED);
    CHECK_RC(hamqtt_flush(c, 0), HAMQTT_ERR_TIMEOUT); /* held, not sent while disconnected */
    CHECK_OK(hamqtt_connect(c));
    seqsub_wait(&sub, 5, 10000);
    ev = wait_delivery(c, id4, 10000);
    CHECK(ev.delivery.status == HAMQTT_OK);
    /* connected: acknowledged within the wait */
    CHECK_OK(hamqtt_publish(c, "ob/seq", "5", 1, 1, 0));
    seqsub_wait(&sub, 6, 10000);
    CHECK_OK(hamqtt_flush(c, 10000));
    CHECK(wait_outbox(c, 0, 5000).delivered == 6);
    CHECK_OK(hamqtt_close(c));
    seqsub_stop(&sub);
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* a total outage: every broker killed while publishing                                        */

void test_outbox_outage(void) {
    enum { BEFORE = 50, COUNT = 400 };
    brokers b;
    struct seqsub sub;
    hamqtt_options o;
    hamqtt_client c;
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
    static struct outcomes out;
    struct hamqtt_outbox_stats st;
    char payload[16];
    int i, n;
    int64_t deadline;

    memset(&out, 0, sizeof out);
    brokers_start(&b, 2);
    seqsub_start(&sub, brokers_uris(&b, 2), "ob/out");
    wait_live(sub.c, 2, 5000);
    test_options(&o, "obout");
    o.outbox = 1;
    o.time_to_wait_ms = 500 * test_scale(); /* the outage lasts longer: stored messages outlast it */
    o.warm_up_ms = 1000;                     /* the subscriber is back on a revived broker first */
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 2), &o, &c));
    cbs.user = &out;
    cbs.on_delivery = outcomes_on_delivery;
    cbs.on_error = outcomes_on_error;
    CHECK_OK(hamqtt_set_callbacks(c, &cbs));
    CHECK_OK(hamqtt_connect(c));
    wait_live(c, 2, 5000);
    for (i = 0; i < BEFORE; i++) {
        n = snprintf(payload, sizeof payload, "%d", i);
        CHECK_OK(hamqtt_publish_async(c, "ob/out", payload, (size_t)n, 1, 0, NULL, NULL, NULL));
    }
    /* (a broker killed between its acknowledgement and its forwarding loses a message: that
     * is not the outbox's to prevent, so the kill comes after these arrived) */
    seqsub_wait(&sub, BEFORE, 10000);
    brokers_kill(&b, 0);
    brokers_kill(&b, 1);
    wait_dead(c, 5000);
    for (; i < COUNT; i++) {
        n = snprintf(payload, sizeof payload, "%d", i);
        CHECK_OK(hamqtt_publish_async(c, "ob/out", payload, (size_t)n, 1, 0, NULL, NULL, NULL));
    }
    /* a blocking publish waits time_to_wait_ms, then leaves its message stored */
    n = snprintf(payload, sizeof payload, "%d", i++);
    CHECK_RC(hamqtt_publish(c, "ob/out", payload, (size_t)n, 1, 0), HAMQTT_STORED);
    st = outbox_stats(c);
    CHECK(st.messages >= COUNT + 1 - BEFORE && st.oldest_unix_ns > 0);
    /* nothing failed for want of a broker, however long the outage */
    sleep_ms(2 * 500 * test_scale());
    CHECK(atomic_load(&out.other) == 0 && atomic_load(&out.errors) == 0 && atomic_load(&out.closed) == 0);
    CHECK(outbox_stats(c).oldest_age_ms >= 500);
    brokers_restart(&b, 0);
    brokers_restart(&b, 1);
    seqsub_wait(&sub, COUNT + 1, 30000);
    deadline = now_ms() + 10000 * test_scale();
    while (atomic_load(&out.ok) < COUNT && now_ms() < deadline) sleep_ms(10);
    if (atomic_load(&out.ok) != COUNT || atomic_load(&out.other) != 0)
        FAILF("outcomes: %d ok, %d other (last error: %s), want %d ok", atomic_load(&out.ok), atomic_load(&out.other),
              out.last_error, COUNT);
    st = wait_outbox(c, 0, 5000);
    CHECK(st.delivered == COUNT + 1 && st.dropped == 0 && st.expired == 0);
    CHECK_OK(hamqtt_close(c));
    seqsub_stop(&sub);
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* a disk outbox across clients: closed with messages held, resumed by the next client         */

void test_outbox_disk(void) {
    enum { COUNT = 20 };
    brokers b;
    struct seqsub sub;
    hamqtt_options o;
    hamqtt_client c, other = 0;
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
    static struct outcomes out;
    struct hamqtt_outbox_stats st;
    char dir[] = "/tmp/hamqtt-obdisk-XXXXXX", payload[16];
    int i, n;

    memset(&out, 0, sizeof out);
    CHECK(mkdtemp(dir) != NULL);
    brokers_start(&b, 1);
    test_options(&o, "obdisk");
    o.outbox_dir = dir;
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), &o, &c));
    /* one owner per directory */
    CHECK_ERR(hamqtt_client_new(brokers_uris(&b, 1), &o, &other), HAMQTT_ERR_LOCKED, "in use");
    CHECK(other == 0);
    cbs.user = &out;
    cbs.on_delivery = outcomes_on_delivery;
    CHECK_OK(hamqtt_set_callbacks(c, &cbs));
    for (i = 0; i < COUNT - 1; i++) {
        n = snprintf(payload, sizeof payload, "%d", i);
        CHECK_OK(hamqtt_publish_async(c, "ob/disk", payload, (size_t)n, 1, 0, NULL, NULL, NULL));
    }
    n = snprintf(payload, sizeof payload, "%d", i);
    CHECK_RC(hamqtt_publish(c, "ob/disk", payload, (size_t)n, 1, 0), HAMQTT_STORED);
    st = outbox_stats(c);
    CHECK(st.messages == COUNT && st.recovered == 0);
    /* closed before any broker took them: each async publish ends with HAMQTT_ERR_CLOSED before
     * hamqtt_close returns, and the messages stay on disk */
    CHECK_OK(hamqtt_close(c));
    if (atomic_load(&out.closed) != COUNT - 1 || atomic_load(&out.ok) != 0)
        FAILF("outcomes at close: %d closed, %d ok, want %d closed", atomic_load(&out.closed), atomic_load(&out.ok), COUNT - 1);
    CHECK(strstr(out.last_error, "stays stored") != NULL);

    seqsub_start(&sub, brokers_uris(&b, 1), "ob/disk");
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), &o, &c));
    st = outbox_stats(c);
    CHECK(st.recovered == COUNT && st.messages == COUNT && st.oldest_unix_ns > 0);
    CHECK_OK(hamqtt_connect(c));
    seqsub_wait(&sub, COUNT, 10000);
    st = wait_outbox(c, 0, 5000);
    CHECK(st.delivered == COUNT);
    CHECK_OK(hamqtt_close(c));
    /* delivered means gone from the disk too */
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), &o, &c));
    st = outbox_stats(c);
    CHECK(st.recovered == 0 && st.messages == 0);
    CHECK_OK(hamqtt_close(c));
    seqsub_stop(&sub);
    brokers_quit(&b);
    rm_tree(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* a full outbox: refused at once, with the block policy after the wait                        */

void test_outbox_full(void) {
    hamqtt_options o;
    hamqtt_client c;
    uint64_t id = 0;
    int i;

    test_options(&o, "obfull");
    o.outbox = 1;
    o.outbox_max_messages = 3;
    CHECK_OK(hamqtt_client_new(NOWHERE, &o, &c));
    for (i = 0; i < 3; i++) CHECK_OK(hamqtt_publish_async(c, "ob/full", "m", 1, 1, 0, NULL, NULL, NULL));
    CHECK_ERR(hamqtt_publish_async(c, "ob/full", "m", 1, 1, 0, NULL, (void *)1, &id), HAMQTT_ERR_FULL, "outbox is full");
    CHECK(id == 0);
    CHECK_ERR(hamqtt_publish(c, "ob/full", "m", 1, 2, 0), HAMQTT_ERR_FULL, "nothing was stored");
    CHECK_ERR(hamqtt_publish_detached(c, "ob/full", "m", 1, 1, 0), HAMQTT_ERR_FULL, "outbox is full");
    CHECK(outbox_stats(c).messages == 3);
    /* what the calls reported is not reported again */
    expect_no_outcome(c, 200);
    CHECK_OK(hamqtt_close(c));

    /* bounded by bytes (topic + payload) */
    test_options(&o, "obbytes");
    o.outbox = 1;
    o.outbox_max_bytes = 12;
    CHECK_OK(hamqtt_client_new(NOWHERE, &o, &c));
    CHECK_OK(hamqtt_publish_async(c, "ob/b", "12345", 5, 1, 0, NULL, NULL, NULL)); /* 9 bytes */
    CHECK_ERR(hamqtt_publish_async(c, "ob/b", "1234", 4, 1, 0, NULL, NULL, NULL), HAMQTT_ERR_FULL, "outbox is full");
    CHECK(outbox_stats(c).bytes == 9);
    CHECK_OK(hamqtt_close(c));

    /* HAMQTT_OVERFLOW_BLOCK: waits for room up to time_to_wait_ms, then HAMQTT_ERR_FULL */
    test_options(&o, "obblock");
    o.outbox = 1;
    o.outbox_max_messages = 1;
    o.outbox_overflow = HAMQTT_OVERFLOW_BLOCK;
    o.time_to_wait_ms = 100;
    CHECK_OK(hamqtt_client_new(NOWHERE, &o, &c));
    CHECK_OK(hamqtt_publish_async(c, "ob/block", "m", 1, 1, 0, NULL, NULL, NULL));
    CHECK_ERR(hamqtt_publish_async(c, "ob/block", "m", 1, 1, 0, NULL, NULL, NULL), HAMQTT_ERR_FULL, "overflow policy block");
    expect_no_outcome(c, 50);
    CHECK_OK(hamqtt_close(c));
}

/* ------------------------------------------------------------------------------------------ */
/* outcomes of stored messages: dropped (each way of publishing) and expired                   */

static int is_own_id(uint64_t id, const uint64_t *ids, int n) {
    int i;
    for (i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

/* The next event must be the drop of `id`. */
static hamqtt_event expect_dropped(hamqtt_client c, uint64_t id) {
    hamqtt_event ev = next_event(c, 5000);
    if (ev.kind != HAMQTT_EVENT_DELIVERY || ev.delivery.id != id || ev.delivery.status != HAMQTT_ERR_DROPPED)
        FAILF("event kind %d id %llu status %d (%s), want the drop of %llu", ev.kind, (unsigned long long)ev.delivery.id,
              ev.status, ev.error ? ev.error : "", (unsigned long long)id);
    CHECK(ev.status == HAMQTT_ERR_DROPPED && strstr(ev.delivery.error, "dropped") != NULL);
    return ev;
}

void test_outbox_outcomes(void) {
    hamqtt_options o;
    hamqtt_client c;
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
    static struct outcomes out;
    hamqtt_event ev;
    struct hamqtt_outbox_stats st;
    uint64_t pin, prev, f, a1, a3, a5, e1, ids[6];
    int tries;

    test_options(&o, "obdrop");
    o.outbox = 1;
    o.outbox_max_messages = 2;
    o.outbox_overflow = HAMQTT_OVERFLOW_DROP_OLDEST;
    CHECK_OK(hamqtt_client_new(NOWHERE, &o, &c));
    /* The oldest message is taken by the sender, which waits with it for a broker, and is
     * never dropped; the other one is. Find which is held (each drop is reported during the
     * publish that caused it): from then on each publish drops the one before it. */
    CHECK_OK(hamqtt_publish_async(c, "ob/pin", "p", 1, 1, 0, NULL, NULL, &pin));
    CHECK_OK(hamqtt_publish_async(c, "ob/fill", "f", 1, 1, 0, NULL, NULL, &prev));
    for (tries = 0;; tries++) {
        CHECK(tries < 1000);
        CHECK_OK(hamqtt_publish_async(c, "ob/fill", "f", 1, 1, 0, NULL, NULL, &f));
        ev = next_event(c, 5000);
        CHECK(ev.kind == HAMQTT_EVENT_DELIVERY && ev.delivery.status == HAMQTT_ERR_DROPPED);
        if (ev.delivery.id == prev) {
            prev = f;
            break;
        }
        CHECK(ev.delivery.id == pin);
        pin = prev;
        prev = f;
    }
    CHECK_OK(hamqtt_publish_async(c, "ob/1", "1", 1, 1, 0, NULL, (void *)0xa1, &a1));
    expect_dropped(c, prev);
    /* the outcome of an async publish, with its user pointer */
    CHECK_OK(hamqtt_publish_detached(c, "ob/2", "2", 1, 1, 0));
    ev = expect_dropped(c, a1);
    CHECK(ev.delivery.user == (void *)0xa1 && strcmp(ev.delivery.topic, "ob/1") == 0);
    /* a detached publish's loss is an error naming its topic */
    CHECK_OK(hamqtt_publish_async(c, "ob/3", "3", 1, 1, 0, NULL, NULL, &a3));
    ev = next_event(c, 5000);
    CHECK(ev.kind == HAMQTT_EVENT_ERROR && ev.status == HAMQTT_ERR_DROPPED);
    CHECK(strstr(ev.error, "\"ob/2\"") != NULL && strstr(ev.error, "detached") != NULL);
    /* a message hamqtt_publish left stored: a delivery with an id the application never had */
    CHECK_RC(hamqtt_publish(c, "ob/4", "4", 1, 1, 0), HAMQTT_STORED);
    expect_dropped(c, a3);
    CHECK_OK(hamqtt_publish_async(c, "ob/5", "5", 1, 1, 0, NULL, NULL, &a5));
    ev = next_event(c, 5000);
    ids[0] = pin, ids[1] = prev, ids[2] = a1, ids[3] = a3, ids[4] = a5, ids[5] = f;
    CHECK(ev.kind == HAMQTT_EVENT_DELIVERY && !is_own_id(ev.delivery.id, ids, 6) && ev.delivery.id > a3 && ev.delivery.id < a5);
    CHECK(strcmp(ev.delivery.topic, "ob/4") == 0 && ev.delivery.status == HAMQTT_ERR_DROPPED && ev.delivery.user == NULL);
    st = outbox_stats(c);
    CHECK(st.messages == 2 && st.dropped == st.stored - 2 && st.dropped >= 5);
    expect_no_outcome(c, 50);

    /* push mode: without on_delivery, such a loss goes to on_error */
    memset(&out, 0, sizeof out);
    cbs.user = &out;
    cbs.on_error = outcomes_on_error;
    CHECK_OK(hamqtt_set_callbacks(c, &cbs));
    CHECK_RC(hamqtt_publish(c, "ob/6", "6", 1, 1, 0), HAMQTT_STORED); /* drops ob/5: no callback for it */
    CHECK_OK(hamqtt_publish_async(c, "ob/7", "7", 1, 1, 0, NULL, NULL, NULL)); /* drops ob/6 */
    {
        int64_t deadline = now_ms() + 5000 * test_scale();
        while (atomic_load(&out.dropped) < 1 && now_ms() < deadline) sleep_ms(5);
    }
    CHECK(atomic_load(&out.dropped) == 1 && atomic_load(&out.errors) == 1 && strstr(out.last_error, "ob/6") != NULL);
    CHECK_OK(hamqtt_close(c));

    /* expiry */
    test_options(&o, "obexp");
    o.outbox = 1;
    o.outbox_expiry_ms = 100;
    CHECK_OK(hamqtt_client_new(NOWHERE, &o, &c));
    CHECK_OK(hamqtt_publish_async(c, "ob/e", "e", 1, 1, 0, NULL, NULL, &e1));
    ev = wait_delivery(c, e1, 5000);
    CHECK(ev.delivery.status == HAMQTT_ERR_EXPIRED && strstr(ev.delivery.error, "expired") != NULL);
    st = wait_outbox(c, 0, 5000);
    CHECK(st.expired == 1);
    CHECK_OK(hamqtt_close(c));
}

/* ------------------------------------------------------------------------------------------ */
/* clients of a configuration whose clusters have outboxes                                     */

void test_outbox_config(void) {
    brokers b;
    hamqtt_client c, again, plain, other = 0;
    hamqtt_options o;
    struct hamqtt_outbox_stats st = HAMQTT_OUTBOX_STATS_INIT;
    char dir[] = "/tmp/hamqtt-obcfg-XXXXXX", yaml[2048];
    int n;

    CHECK(mkdtemp(dir) != NULL);
    brokers_start(&b, 1);
    n = snprintf(yaml, sizeof yaml,
                 "clusters:\n"
                 "  - name: obcfg\n"
                 "    outbox: {dir: \"%s\", qos0: true}\n"
                 "    connections:\n"
                 "      - connection:\n"
                 "          serverURIs: [\"%s\"]\n"
                 "  - name: plain\n"
                 "    connections:\n"
                 "      - connection:\n"
                 "          serverURIs: [\"%s\"]\n",
                 dir, brokers_uris(&b, 1), brokers_uris(&b, 1));
    CHECK_OK(hamqtt_init_yaml(yaml, (size_t)n));
    CHECK_OK(hamqtt_cluster_client("obcfg", &c));
    CHECK_OK(hamqtt_cluster_client("plain", &plain));
    CHECK_ERR(hamqtt_outbox_stats(plain, &st), HAMQTT_ERR_STATE, "has no outbox");
    /* the configured outbox stores QoS 0 too, before the connect */
    CHECK_RC(hamqtt_publish(c, "ob/cfg", "0", 1, 0, 0), HAMQTT_STORED);
    CHECK_OK(hamqtt_publish_async(c, "ob/cfg", "1", 1, 1, 0, NULL, NULL, NULL));
    CHECK(outbox_stats(c).messages == 2);
    /* the registry owns the directory */
    test_options(&o, "obcfg2");
    o.outbox_dir = dir;
    CHECK_ERR(hamqtt_client_new(brokers_uris(&b, 1), &o, &other), HAMQTT_ERR_LOCKED, "in use");
    CHECK_OK(hamqtt_connect(c));
    st = wait_outbox(c, 0, 10000);
    CHECK(st.delivered == 2);
    /* a later client of the cluster has the same outbox */
    CHECK_OK(hamqtt_close(c));
    CHECK_OK(hamqtt_cluster_client("obcfg", &again));
    CHECK(again != c);
    CHECK_RC(hamqtt_publish(again, "ob/cfg", "2", 1, 1, 0), HAMQTT_STORED);
    st = outbox_stats(again);
    CHECK(st.messages == 1 && st.stored == 3);
    CHECK_OK(hamqtt_shutdown());
    /* released: a client of its own may have it now, and resumes the message left */
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), &o, &other));
    st = outbox_stats(other);
    CHECK(st.recovered == 1 && st.messages == 1);
    CHECK_OK(hamqtt_close(other));
    rm_tree(dir);

    /* the default cluster made on demand gets the top-level outbox */
    n = snprintf(yaml, sizeof yaml,
                 "outbox: {enabled: true}\n"
                 "clusters:\n"
                 "  - name: other\n"
                 "    connections:\n"
                 "      - connection:\n"
                 "          serverURIs: [\"%s\"]\n",
                 brokers_uris(&b, 1));
    CHECK_OK(hamqtt_init_yaml(yaml, (size_t)n));
    CHECK_OK(hamqtt_cluster_client(NULL, &c));
    CHECK_RC(hamqtt_publish(c, "ob/def", "d", 1, 1, 0), HAMQTT_STORED);
    CHECK(outbox_stats(c).messages == 1);
    CHECK_OK(hamqtt_shutdown());
    brokers_quit(&b);
}
