/*
 * Shared by the C bench programs: one program per client library, each linked against that
 * library only, with the same shape:
 *
 *   PROG tp   URIS QOS SIZE N WINDOW TOPIC [VERSION]
 *                                            publish-to-receive throughput; prints one JSON line
 *                                            {"sent":..,"received":..,"elapsed_ns":..}; VERSION
 *                                            is the MQTT protocol version both clients speak:
 *                                            4 (3.1.1, the default) or 5
 *   PROG idle URIS                           connects to every broker of the comma-separated
 *                                            URIS, prints "ready" and waits for stdin to close
 *
 * Throughput: a subscriber client and a publisher client of the library, on one topic. The
 * publisher keeps at most WINDOW publishes whose completion callback has not run yet (QoS 0:
 * written, QoS 1/2: acknowledged); the subscriber counts. The run ends when all N messages
 * arrived, or nothing arrived for 3 s (the rest is lost). Elapsed: first publish to the last
 * message received.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IDLE_TIMEOUT_NS (3LL * 1000000000LL)

static inline int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void die(const char *what, const char *detail) {
    printf("{\"sent\":0,\"received\":0,\"elapsed_ns\":0,\"error\":\"%s: %s\"}\n", what, detail ? detail : "");
    fflush(stdout);
    exit(1);
}

/* A counting window: acquire before a publish, release from its completion callback. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long inflight, max;
    long failed;
} window_t;

static inline void win_init(window_t *w, long max) {
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->inflight = 0;
    w->max = max;
    w->failed = 0;
}

static inline void win_acquire(window_t *w) {
    pthread_mutex_lock(&w->mu);
    while (w->inflight >= w->max) pthread_cond_wait(&w->cv, &w->mu);
    w->inflight++;
    pthread_mutex_unlock(&w->mu);
}

static inline void win_release(window_t *w, int ok) {
    pthread_mutex_lock(&w->mu);
    w->inflight--;
    if (!ok) w->failed++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static inline void win_drain(window_t *w) {
    pthread_mutex_lock(&w->mu);
    int64_t until = now_ns() + 30LL * 1000000000LL;
    while (w->inflight > 0 && now_ns() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
}

/* The subscriber's count. */
typedef struct {
    atomic_long got;
    atomic_llong last_ns;
    long n;
} counter_t;

static inline void counter_hit(counter_t *c) {
    atomic_store_explicit(&c->last_ns, now_ns(), memory_order_relaxed);
    atomic_fetch_add_explicit(&c->got, 1, memory_order_release);
}

/* Waits until every message arrived or none arrived for IDLE_TIMEOUT_NS. */
static inline void counter_wait(counter_t *c) {
    long prev = atomic_load(&c->got);
    int64_t since = now_ns();
    for (;;) {
        long g = atomic_load(&c->got);
        if (g >= c->n) return;
        if (g != prev) {
            prev = g;
            since = now_ns();
        } else if (now_ns() - since > IDLE_TIMEOUT_NS) {
            return;
        }
        usleep(1000);
    }
}

static inline void print_result(counter_t *c, long sent, int64_t start, long failed) {
    long got = atomic_load(&c->got);
    int64_t last = atomic_load(&c->last_ns);
    printf("{\"sent\":%ld,\"received\":%ld,\"elapsed_ns\":%lld", sent, got, (long long)(last > 0 ? last - start : 0));
    if (got < sent || failed) printf(",\"error\":\"%ld of %ld lost, %ld publishes failed\"", sent - got, sent, failed);
    printf("}\n");
    fflush(stdout);
}

/* A one-shot latch for connect/subscribe confirmations from library threads. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, rc;
} latch_t;

static inline void latch_init(latch_t *l) {
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->done = 0;
    l->rc = 0;
}

static inline void latch_set(latch_t *l, int rc) {
    pthread_mutex_lock(&l->mu);
    l->done = 1;
    l->rc = rc;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Returns the rc given to latch_set, or -1000 on timeout. Resets the latch. */
static inline int latch_wait(latch_t *l, int seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    pthread_mutex_lock(&l->mu);
    while (!l->done) {
        if (pthread_cond_timedwait(&l->cv, &l->mu, &ts) == ETIMEDOUT) break;
    }
    int rc = l->done ? l->rc : -1000;
    l->done = 0;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static inline void random_payload(unsigned char *p, size_t n) {
    srand((unsigned)now_ns());
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)rand();
}

/* Splits "tcp://h:p,tcp://h:p" in place into up to max URIs. */
static inline int split_uris(char *list, char **out, int max) {
    int n = 0;
    for (char *s = strtok(list, ","); s && n < max; s = strtok(NULL, ",")) out[n++] = s;
    return n;
}

/* "tcp://host:port" -> host (static buffer per call site) and port. */
static inline void host_port(const char *uri, char *host, size_t hostlen, int *port) {
    const char *h = strstr(uri, "://");
    h = h ? h + 3 : uri;
    const char *colon = strrchr(h, ':');
    size_t n = colon ? (size_t)(colon - h) : strlen(h);
    if (n >= hostlen) n = hostlen - 1;
    memcpy(host, h, n);
    host[n] = 0;
    *port = colon ? atoi(colon + 1) : 1883;
}

static inline void client_id(char *buf, size_t n, const char *prefix) {
    snprintf(buf, n, "%s-%d-%lld", prefix, (int)getpid(), (long long)(now_ns() % 1000000007LL));
}

/* Idle mode: report readiness, then wait until the parent closes stdin. */
static inline void idle_ready_and_wait(void) {
    printf("ready\n");
    fflush(stdout);
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {
    }
}

static inline void usage(const char *prog) {
    fprintf(stderr, "usage: %s tp URIS QOS SIZE N WINDOW TOPIC [4|5] | %s idle URIS\n", prog, prog);
    exit(2);
}

/* The arguments of the throughput run: tp URIS QOS SIZE N WINDOW TOPIC [VERSION]. */
typedef struct {
    int qos;
    size_t size;
    long n;
    int window;
    const char *topic;
    int version; /* MQTT protocol version: 4 (3.1.1) or 5 */
} tp_args;

static inline tp_args tp_parse(int argc, char **argv) {
    tp_args a;
    if (strcmp(argv[1], "tp") != 0 || argc < 8) usage(argv[0]);
    a.qos = atoi(argv[3]);
    a.size = (size_t)atol(argv[4]);
    a.n = atol(argv[5]);
    a.window = atoi(argv[6]);
    a.topic = argv[7];
    a.version = argc > 8 ? atoi(argv[8]) : 4;
    if (a.version != 4 && a.version != 5) usage(argv[0]);
    return a;
}

#endif
