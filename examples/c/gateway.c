/*
 * gateway.c - a sensor gateway on a hamqtt virtual cluster.
 *
 * What a real gateway does: it loads its configuration (the YAML of hamqtt/padogrid), publishes
 * sensor readings at QoS 1 in a loop, listens on a command topic, reports failovers between
 * brokers, and shuts down cleanly on SIGINT and SIGTERM. Nothing is dropped:
 *   - when the cluster has an outbox (the configuration's `outbox` key; gateway.yaml keeps a
 *     disk outbox in ./gateway-outbox), each reading is stored there and the loop goes on at
 *     once (hamqtt_publish_async): while no broker is reachable readings pile up in the outbox,
 *     which the gateway reports ("stored seq=N, outbox depth D"), and they are sent in order
 *     when a broker is back ("published seq=N"); what is still stored at exit is sent by the
 *     next run;
 *   - without one, a reading that could not be published (no broker live within the
 *     configured time) is kept and sent again.
 *
 *   gateway [-c CONFIG] [-C CLUSTER] [-d DEVICE] [-i INTERVAL_MS] [-n COUNT]
 *
 *   -c  configuration file (default: $HAMQTT_CONFIG, else gateway.yaml)
 *   -C  cluster to use (default: the file's default cluster)
 *   -d  device id (default gw-1): readings go to sensors/<device>/temperature,
 *       commands are read from sensors/<device>/cmd/#
 *   -i  interval between readings in ms (default 1000)
 *   -n  stop after COUNT readings (default: run until signalled)
 *
 * Commands (payload of a message on sensors/<device>/cmd/...): "interval <ms>" changes the
 * interval, "stop" shuts the gateway down.
 */
#define _XOPEN_SOURCE 700 /* sigaction with SA_ONSTACK, nanosleep, getopt */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hamqtt.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t interval_ms = 1000;
static volatile sig_atomic_t kept_for_next_run; /* stored readings still held at exit */

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* Callbacks run on a library thread: they only print and set flags. */
static void on_command(void *user, hamqtt_client c, const hamqtt_message *m) {
    char cmd[128];
    size_t n = m->payload_len < sizeof cmd - 1 ? m->payload_len : sizeof cmd - 1;
    (void)user;
    (void)c;
    memcpy(cmd, m->payload, n);
    cmd[n] = 0;
    printf("command on %s via %s: %s\n", m->topic, m->endpoint, cmd);
    if (strcmp(cmd, "stop") == 0) {
        stop_requested = 1;
    } else if (strncmp(cmd, "interval ", 9) == 0) {
        int v = atoi(cmd + 9);
        if (v >= 10 && v <= 3600000) interval_ms = v;
    }
}

static void print_live(hamqtt_client c) {
    char **live = NULL;
    size_t n = 0, i;
    if (hamqtt_live_endpoints(c, &live, &n) != HAMQTT_OK) return;
    printf("  live endpoints (%zu):", n);
    for (i = 0; i < n; i++) printf(" %s", live[i]);
    printf("\n");
    hamqtt_free(live);
}

static void on_endpoint_up(void *user, hamqtt_client c, const char *endpoint, const char *reason) {
    (void)user;
    (void)reason;
    printf("endpoint up: %s\n", endpoint);
    print_live(c);
}

static void on_endpoint_down(void *user, hamqtt_client c, const char *endpoint, const char *reason) {
    (void)user;
    printf("failover: endpoint %s down (%s)\n", endpoint, reason);
    print_live(c);
}

/* The outcome of a reading the outbox stored (user: its sequence number). */
static void on_delivery(void *user, hamqtt_client c, const hamqtt_delivery *d) {
    long seq = (long)(size_t)user;
    (void)c;
    if (d->status == HAMQTT_OK)
        printf("published seq=%ld\n", seq);
    else if (d->status == HAMQTT_ERR_CLOSED)
        kept_for_next_run++; /* shutting down: a disk outbox keeps it for the next run */
    else
        fprintf(stderr, "gateway: reading seq=%ld lost: %s: %s\n", seq, hamqtt_strerror(d->status), d->error);
}

/* Failures nobody waits for, such as a reading stored by an earlier run that expired. */
static void on_error(void *user, hamqtt_client c, int status, const char *error) {
    (void)user;
    (void)c;
    fprintf(stderr, "gateway: %s: %s\n", hamqtt_strerror(status), error);
}

static void print_outbox(hamqtt_client c, const char *when) {
    struct hamqtt_outbox_stats st = HAMQTT_OUTBOX_STATS_INIT;
    if (hamqtt_outbox_stats(c, &st) != HAMQTT_OK) return;
    printf("outbox %s: %llu readings held (%llu bytes, oldest %lld ms), %llu stored, %llu delivered, %llu resumed from an earlier run\n",
           when, (unsigned long long)st.messages, (unsigned long long)st.bytes, (long long)st.oldest_age_ms,
           (unsigned long long)st.stored, (unsigned long long)st.delivered, (unsigned long long)st.recovered);
}

static void on_log(void *user, hamqtt_client c, int level, const char *line) {
    (void)user;
    (void)c;
    if (level >= HAMQTT_LOG_WARN) fprintf(stderr, "hamqtt: %s\n", line);
}

static void sleep_interruptible(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    /* a signal ends the sleep early (EINTR): the loop then sees stop_requested */
    (void)nanosleep(&ts, NULL);
}

static int install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* The Go runtime inside libhamqtt requires SA_ONSTACK for handlers installed after it. */
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) return -1;
    return 0;
}

int main(int argc, char **argv) {
    const char *config = getenv("HAMQTT_CONFIG"), *cluster = NULL, *device = "gw-1";
    long count = -1, seq = 0, failed = 0;
    char topic[256], cmd_filter[256], payload[256];
    hamqtt_client c = 0;
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
    hamqtt_endpoint_stats *stats = NULL;
    struct hamqtt_outbox_stats ob = HAMQTT_OUTBOX_STATS_INIT;
    size_t n = 0, i;
    int opt, rc, pending = 0, plen = 0, outbox;

    while ((opt = getopt(argc, argv, "c:C:d:i:n:h")) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'C': cluster = optarg; break;
        case 'd': device = optarg; break;
        case 'i': interval_ms = atoi(optarg); break;
        case 'n': count = atol(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-c CONFIG] [-C CLUSTER] [-d DEVICE] [-i INTERVAL_MS] [-n COUNT]\n", argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }
    if (config == NULL || *config == 0) config = "gateway.yaml";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (install_signals() != 0) {
        perror("sigaction");
        return 1;
    }

    printf("hamqtt %s, configuration %s\n", hamqtt_version(), config);
    if ((rc = hamqtt_init_file(config)) != HAMQTT_OK) {
        fprintf(stderr, "gateway: %s: %s\n", hamqtt_strerror(rc), hamqtt_last_error());
        return 1;
    }
    if ((rc = hamqtt_cluster_client(cluster, &c)) != HAMQTT_OK) {
        fprintf(stderr, "gateway: %s: %s\n", hamqtt_strerror(rc), hamqtt_last_error());
        hamqtt_shutdown();
        return 1;
    }
    cbs.on_endpoint_up = on_endpoint_up;
    cbs.on_endpoint_down = on_endpoint_down;
    cbs.on_error = on_error;
    hamqtt_set_callbacks(c, &cbs);
    outbox = hamqtt_outbox_stats(c, &ob) == HAMQTT_OK;
    if (outbox) print_outbox(c, "at start");
    hamqtt_set_log_callback(c, HAMQTT_LOG_WARN, on_log, NULL);

    snprintf(topic, sizeof topic, "sensors/%s/temperature", device);
    snprintf(cmd_filter, sizeof cmd_filter, "sensors/%s/cmd/#", device);
    /* Subscribing before connecting: the subscription is made on every broker as it comes up. */
    if ((rc = hamqtt_subscribe(c, cmd_filter, 1, on_command, NULL)) != HAMQTT_OK) {
        fprintf(stderr, "gateway: subscribe %s: %s\n", cmd_filter, hamqtt_last_error());
        hamqtt_shutdown();
        return 1;
    }
    /* Connect fails only when no broker is reachable in time; the library keeps probing. */
    if ((rc = hamqtt_connect(c)) != HAMQTT_OK)
        fprintf(stderr, "gateway: no broker yet (%s); retrying in the background\n", hamqtt_last_error());

    while (!stop_requested && (count < 0 || seq < count)) {
        if (!pending) {
            double t = (double)seq * interval_ms / 1000.0;
            double temp = 21.0 + 3.0 * sin(t / 60.0) + (double)(rand() % 100) / 100.0;
            plen = snprintf(payload, sizeof payload, "{\"device\":\"%s\",\"seq\":%ld,\"temp_c\":%.2f,\"ts\":%ld}",
                            device, seq, temp, (long)time(NULL));
            pending = 1;
        }
        if (outbox) {
            /* Returns once the outbox stored it (on disk, fsynced by default); on_delivery
             * tells when a broker acknowledged it. */
            rc = hamqtt_publish_async(c, topic, payload, (size_t)plen, 1, 0, on_delivery, (void *)(size_t)seq, NULL);
            if (rc == HAMQTT_OK) {
                if (hamqtt_outbox_stats(c, &ob) == HAMQTT_OK && ob.messages > 1)
                    printf("stored seq=%ld, outbox depth %llu\n", seq, (unsigned long long)ob.messages);
                pending = 0;
                seq++;
            } else {
                /* not stored (the outbox is full, or the disk failed): try again later */
                failed++;
                fprintf(stderr, "gateway: publish seq=%ld: %s: %s\n", seq, hamqtt_strerror(rc), hamqtt_last_error());
                if (rc != HAMQTT_ERR_FULL) break;
            }
        } else if ((rc = hamqtt_publish(c, topic, payload, (size_t)plen, 1, 0)) == HAMQTT_OK) {
            printf("published seq=%ld\n", seq);
            pending = 0;
            seq++;
        } else {
            /* keep the reading and try again: it is sent as soon as a broker takes it */
            failed++;
            fprintf(stderr, "gateway: publish seq=%ld: %s: %s\n", seq, hamqtt_strerror(rc), hamqtt_last_error());
            if (rc != HAMQTT_ERR_NO_ENDPOINT) break;
        }
        if (!stop_requested && (count < 0 || seq < count)) sleep_interruptible(interval_ms);
    }

    if (outbox && count >= 0 && !stop_requested) {
        /* A run of COUNT readings: give the outbox a moment to deliver the last ones. */
        (void)hamqtt_flush(c, 10000);
    }
    printf("shutting down after %ld readings (%ld publish attempts failed)\n", seq, failed);
    if (outbox) print_outbox(c, "at exit");
    if (hamqtt_stats(c, &stats, &n) == HAMQTT_OK) {
        for (i = 0; i < n; i++)
            printf("  %-16s %-28s published=%llu acked=%llu failovers=%llu connects=%llu\n", stats[i].name,
                   stats[i].uri, (unsigned long long)stats[i].published, (unsigned long long)stats[i].acked,
                   (unsigned long long)stats[i].failovers, (unsigned long long)stats[i].connects);
        hamqtt_free(stats);
    }
    rc = hamqtt_shutdown(); /* closes the client and waits for its callbacks */
    if (rc != HAMQTT_OK) {
        fprintf(stderr, "gateway: shutdown: %s\n", hamqtt_last_error());
        return 1;
    }
    if (kept_for_next_run > 0)
        printf("%d readings not delivered yet stay in the outbox for the next run\n", (int)kept_for_next_run);
    printf("bye\n");
    return 0;
}
