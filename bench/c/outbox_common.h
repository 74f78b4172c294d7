/*
 * Shared by the outbox bench programs (outbox_pahoc.c, outbox_hamqtt.c): the same QoS 1
 * workload through a client library's store on disk, driven by `gobench outbox`.
 *
 *   PROG tp    URI N SIZE WINDOW DIR TOPIC SYNC   durable publish throughput against a live
 *                                                 broker: N QoS 1 messages, at most WINDOW
 *                                                 awaiting their acknowledgement; elapsed is
 *                                                 first publish to last acknowledgement
 *   PROG flush URI N SIZE WINDOW DIR TOPIC SYNC   flush after an outage: connects, prints
 *                                                 "ready"; on the line "down" (the broker was
 *                                                 stopped) waits until the client saw the
 *                                                 connection go, publishes N QoS 1 messages
 *                                                 (all stored; WINDOW unused) and prints
 *                                                 "stored"; on the line "up" (the broker
 *                                                 accepts connections again) waits until all
 *                                                 N are acknowledged
 *
 * DIR is the library's store (a fresh directory per run). SYNC is hamqtt's sync policy
 * (always, interval, never); Paho C has none (its file persistence never calls fsync).
 * Both modes print one JSON line:
 *   {"sent":N,"received":ACKED,"elapsed_ns":..,"store_ns":..,"first_ns":..,"flush_ns":..}
 * flush: elapsed_ns is from "up" to the last acknowledgement, first_ns from "up" to the
 * first, flush_ns from the first to the last, store_ns the time the N publishes took.
 */
#ifndef BENCH_OUTBOX_COMMON_H
#define BENCH_OUTBOX_COMMON_H

#include "common.h"

typedef struct {
    int flush; /* 0: tp, 1: flush */
    const char *uri;
    long n;
    size_t size;
    int window;
    const char *dir;
    const char *topic;
    const char *sync;
} ob_args;

static inline void ob_usage(const char *prog) {
    fprintf(stderr, "usage: %s tp|flush URI N SIZE WINDOW DIR TOPIC SYNC\n", prog);
    exit(2);
}

static inline ob_args ob_parse(int argc, char **argv) {
    ob_args a;
    if (argc < 9) ob_usage(argv[0]);
    if (strcmp(argv[1], "tp") == 0)
        a.flush = 0;
    else if (strcmp(argv[1], "flush") == 0)
        a.flush = 1;
    else
        ob_usage(argv[0]);
    a.uri = argv[2];
    a.n = atol(argv[3]);
    a.size = (size_t)atol(argv[4]);
    a.window = atoi(argv[5]);
    a.dir = argv[6];
    a.topic = argv[7];
    a.sync = argv[8];
    if (a.n <= 0 || a.window <= 0) ob_usage(argv[0]);
    return a;
}

/* Acknowledgements: counted from library threads. */
typedef struct {
    atomic_long acked, failed;
    atomic_llong first_ns, last_ns;
} acks_t;

static inline void acks_hit(acks_t *a, int ok) {
    int64_t t = now_ns();
    if (!ok) {
        atomic_fetch_add(&a->failed, 1);
        return;
    }
    long long zero = 0;
    atomic_compare_exchange_strong(&a->first_ns, &zero, t);
    atomic_store(&a->last_ns, t);
    atomic_fetch_add(&a->acked, 1);
}

/* Waits until n publishes completed (acknowledged or failed), or none completed for 30 s. */
static inline void acks_wait(acks_t *a, long n) {
    long prev = -1;
    int64_t since = now_ns();
    for (;;) {
        long done = atomic_load(&a->acked) + atomic_load(&a->failed);
        if (done >= n) return;
        if (done != prev) {
            prev = done;
            since = now_ns();
        } else if (now_ns() - since > 30LL * 1000000000LL) {
            return;
        }
        usleep(500);
    }
}

/* Reads one line from the harness and checks it is the expected command. */
static inline void ob_expect(const char *want) {
    char line[64];
    if (!fgets(line, sizeof line, stdin)) die("harness", "stdin closed");
    line[strcspn(line, "\r\n")] = 0;
    if (strcmp(line, want) != 0) die("harness: unexpected command", line);
}

static inline void ob_say(const char *what) {
    printf("%s\n", what);
    fflush(stdout);
}

static inline void ob_result(const ob_args *a, acks_t *k, int64_t start, int64_t store_ns, int64_t up_ns) {
    long acked = atomic_load(&k->acked), failed = atomic_load(&k->failed);
    int64_t first = atomic_load(&k->first_ns), last = atomic_load(&k->last_ns);
    int64_t from = a->flush ? up_ns : start;
    if (a->flush && first > 0 && first < up_ns) first = up_ns; /* an ack raced the "up" line */
    printf("{\"sent\":%ld,\"received\":%ld,\"elapsed_ns\":%lld,\"store_ns\":%lld,\"first_ns\":%lld,\"flush_ns\":%lld",
           a->n, acked, (long long)(last > 0 ? last - from : 0), (long long)store_ns,
           (long long)(first > 0 ? first - from : 0), (long long)(first > 0 && last > first ? last - first : 0));
    if (acked < a->n || failed)
        printf(",\"error\":\"%ld of %ld not acknowledged, %ld publishes failed\"", a->n - acked, a->n, failed);
    printf("}\n");
    fflush(stdout);
}

#endif
