/* churn_client: the C client of the churn harness (internal/churn, run by internal/cmd/churn),
 * written against hamqtt.h the way a C gateway would be: a client with the default options
 * and what the configuration names, a blocking connect, a subscription with a callback, and
 * blocking publishes paced at the rate (asynchronous ones through a disk outbox).
 *
 *   churn_client sub --brokers H:P,H:P,H:P --topic T [--config NAME]
 *   churn_client pub --brokers H:P,H:P,H:P --topic T --count N --rate R [--config NAME]
 *                    [--outbox DIR] [--start N]
 *
 * Line protocol on stdout (one line each, flushed at once; logs go to stderr): the subscriber
 * prints READY once its subscription is acknowledged, then MSG <seq> per delivered message,
 * and exits 0 on SIGTERM; the publisher publishes START..COUNT-1 (--start, default 0) and
 * prints ACK <seq> when hamqtt_publish returned HAMQTT_OK, FAIL <seq> <why> when it failed,
 * then DONE, and exits 0.
 *
 * Configurations: default (all defaults: a STICKY publisher), noloss (publisher type ALL with
 * an acknowledgement quorum of 2, a de-duplicating subscriber), roundrobin, and outbox: the
 * publisher keeps a disk outbox in --outbox DIR (everything else at its default) and publishes
 * with hamqtt_publish_async, printing STORED <seq> when the call stored the message, then ACK
 * or FAIL when its outcome comes; it starts even when no broker is reachable, sends first what
 * a killed predecessor left in the outbox, and prints DONE once that is resolved too. The
 * subscriber de-duplicates. --outbox is ignored by the other configurations. Each name with
 * "-v5" appended (noloss-v5, outbox-v5) is the same configuration over MQTT 5. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hamqtt.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static void usage(void) {
    fprintf(stderr, "usage: churn_client pub|sub --brokers H:P,... --topic T [--count N] [--rate R] "
                    "[--config default|noloss|roundrobin|outbox] [--outbox DIR] [--start N]\n");
}

static void on_log(void *user, hamqtt_client client, int level, const char *line) {
    (void)user;
    (void)client;
    fprintf(stderr, "hamqtt[%d]: %s\n", level, line);
}

static void on_error(void *user, hamqtt_client client, int status, const char *error) {
    (void)user;
    (void)client;
    fprintf(stderr, "churn_client: error event: %s: %s\n", hamqtt_strerror(status), error);
}

/* Writes one protocol line and flushes it. */
static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    flockfile(stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    funlockfile(stdout);
    va_end(ap);
}

static void on_message(void *user, hamqtt_client client, const hamqtt_message *msg) {
    const char *p = msg->payload;
    size_t n = 0;
    (void)user;
    (void)client;
    while (n < msg->payload_len && p[n] >= '0' && p[n] <= '9')
        n++;
    if (n == 0 || n > 18 || (n < msg->payload_len && p[n] != ' ')) {
        fprintf(stderr, "churn_client: payload of %zu bytes from %s is not a sequence number\n", msg->payload_len,
                msg->endpoint);
        return;
    }
    emit("MSG %.*s", (int)n, p);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until the monotonic time `until` (seconds), waking early when a signal stops us. */
static void sleep_until(double until) {
    double d;
    while (!stopping && (d = until - now_s()) > 0) {
        struct timespec ts;
        if (d > 0.05)
            d = 0.05;
        ts.tv_sec = (time_t)d;
        ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
        nanosleep(&ts, NULL);
    }
}

/* Outcomes of the outbox configuration's asynchronous publishes. order_mu is held from the
 * publish call to its STORED line, so that the outcome (on the library thread) comes after. */
static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long outcomes;

static void on_delivery(void *user, hamqtt_client client, const hamqtt_delivery *d) {
    long seq = (long)(intptr_t)user;
    char why[1024], *s;
    (void)client;
    pthread_mutex_lock(&order_mu);
    if (d->status == HAMQTT_OK) {
        emit("ACK %ld", seq);
    } else {
        snprintf(why, sizeof why, "%s: %s", hamqtt_strerror(d->status), d->error ? d->error : "");
        for (s = why; *s; s++)
            if (*s == '\n' || *s == '\r') *s = ' ';
        emit("FAIL %ld %s", seq, why);
    }
    pthread_mutex_unlock(&order_mu);
    atomic_fetch_add(&outcomes, 1);
}

/* The failure of the last call, on one line. */
static const char *why(int rc) {
    static char buf[1024];
    char *s;
    snprintf(buf, sizeof buf, "%s: %s", hamqtt_strerror(rc), hamqtt_last_error());
    for (s = buf; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
    return buf;
}

int main(int argc, char **argv) {
    const char *mode, *brokers = NULL, *topic = "hamqtt/churn", *config = "default", *outbox = NULL;
    long count = 1500, start_seq = 0, stored = 0;
    double rate = 100;
    hamqtt_options opts = HAMQTT_OPTIONS_INIT;
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
    hamqtt_client c;
    struct sigaction sa;
    int i, rc, pub, use_outbox;

    if (argc < 2 || (strcmp(argv[1], "pub") != 0 && strcmp(argv[1], "sub") != 0)) {
        usage();
        return 2;
    }
    mode = argv[1];
    pub = strcmp(mode, "pub") == 0;
    for (i = 2; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
            return 2;
        }
        if (strcmp(k, "--brokers") == 0)
            brokers = v;
        else if (strcmp(k, "--topic") == 0)
            topic = v;
        else if (strcmp(k, "--count") == 0)
            count = strtol(v, NULL, 10);
        else if (strcmp(k, "--rate") == 0)
            rate = strtod(v, NULL);
        else if (strcmp(k, "--config") == 0)
            config = v;
        else if (strcmp(k, "--outbox") == 0)
            outbox = v;
        else if (strcmp(k, "--start") == 0)
            start_seq = strtol(v, NULL, 10);
        else {
            usage();
            return 2;
        }
    }
    if (brokers == NULL || count < 0 || rate <= 0 || start_seq < 0) {
        usage();
        return 2;
    }

    opts.name = pub ? "churn-pub" : "churn-sub";
    /* NAME-v5: the same configuration over MQTT 5 (copies carry message ids, removed exactly). */
    {
        size_t n = strlen(config);
        static char base[64];
        if (n > 3 && n < sizeof base && strcmp(config + n - 3, "-v5") == 0) {
            memcpy(base, config, n - 3);
            base[n - 3] = 0;
            config = base;
            opts.protocol_version = 5;
        }
    }
    if (strcmp(config, "noloss") == 0) {
        if (pub) {
            opts.publisher_type = HAMQTT_PUBLISHER_ALL;
            opts.ack_quorum = 2;
        } else {
            opts.dedup = 1;
        }
    } else if (strcmp(config, "roundrobin") == 0) {
        opts.publisher_type = HAMQTT_PUBLISHER_ROUND_ROBIN;
    } else if (strcmp(config, "outbox") == 0) {
        if (pub) {
            if (outbox == NULL || *outbox == 0) {
                fprintf(stderr, "churn_client: config outbox needs --outbox DIR\n");
                return 2;
            }
            opts.outbox_dir = outbox;
        } else {
            opts.dedup = 1;
        }
    } else if (strcmp(config, "default") != 0) {
        fprintf(stderr, "churn_client: unknown config %s (default, noloss, roundrobin, outbox)\n", config);
        return 2;
    }
    use_outbox = pub && opts.outbox_dir != NULL;

    /* Handlers installed after the library was loaded need SA_ONSTACK (hamqtt.h). */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if ((rc = hamqtt_client_new(brokers, &opts, &c)) != HAMQTT_OK) {
        fprintf(stderr, "churn_client: client: %s\n", why(rc));
        return 1;
    }
    /* Endpoint changes reach the log; events go to callbacks (push mode), so none piles up
     * unpolled. */
    hamqtt_set_log_callback(c, HAMQTT_LOG_INFO, on_log, NULL);
    cbs.on_error = on_error;
    hamqtt_set_callbacks(c, &cbs);
    if ((rc = hamqtt_connect(c)) != HAMQTT_OK) {
        fprintf(stderr, "churn_client: connect: %s\n", why(rc));
        /* With an outbox no broker is needed to start: it stores, and the client keeps probing. */
        if (!use_outbox || rc != HAMQTT_ERR_NO_ENDPOINT) {
            hamqtt_close(c);
            return 1;
        }
    }

    if (!pub) {
        if ((rc = hamqtt_subscribe(c, topic, 1, on_message, NULL)) != HAMQTT_OK) {
            fprintf(stderr, "churn_client: subscribe: %s\n", why(rc));
            hamqtt_close(c);
            return 1;
        }
        emit("READY");
        while (!stopping)
            sleep_until(now_s() + 3600);
        fprintf(stderr, "churn_client: terminating\n");
        return hamqtt_close(c) == HAMQTT_OK ? 0 : 1;
    }

    {
        double start = now_s();
        long seq;
        for (seq = start_seq; seq < count && !stopping; seq++) {
            char payload[32];
            int n = snprintf(payload, sizeof payload, "%ld", seq);
            sleep_until(start + (double)(seq - start_seq) / rate);
            if (stopping)
                break;
            if (use_outbox) {
                pthread_mutex_lock(&order_mu);
                rc = hamqtt_publish_async(c, topic, payload, (size_t)n, 1, 0, on_delivery, (void *)(intptr_t)seq, NULL);
                if (rc == HAMQTT_OK) {
                    emit("STORED %ld", seq);
                    stored++;
                } else {
                    emit("FAIL %ld %s", seq, why(rc));
                }
                pthread_mutex_unlock(&order_mu);
                continue;
            }
            rc = hamqtt_publish(c, topic, payload, (size_t)n, 1, 0);
            if (rc == HAMQTT_OK)
                emit("ACK %ld", seq);
            else
                emit("FAIL %ld %s", seq, why(rc));
        }
    }
    if (use_outbox) {
        /* Everything the outbox holds, what a predecessor left included, is resolved however
         * long an outage lasts; then every outcome is printed. */
        while (!stopping && hamqtt_flush(c, 100) == HAMQTT_ERR_TIMEOUT) {
        }
        while (!stopping && atomic_load(&outcomes) < stored)
            sleep_until(now_s() + 0.01);
    }
    emit("DONE");
    return hamqtt_close(c) == HAMQTT_OK ? 0 : 1;
}
