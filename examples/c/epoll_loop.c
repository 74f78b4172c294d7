/*
 * epoll_loop.c - hamqtt in an application's own epoll loop, with no library callbacks.
 *
 * The loop owns one thread and three descriptors: hamqtt_event_fd() (readable while the
 * client has events for hamqtt_poll), a timerfd that paces the publishes, and a self-pipe
 * written by the SIGINT/SIGTERM handler. Nothing on the loop thread blocks: the client is
 * started with hamqtt_connect_async(), messages go out with hamqtt_publish_async() (each
 * outcome comes back as an event), and every event (endpoint up/down, messages, delivery
 * outcomes, errors) is taken with hamqtt_poll(timeout 0).
 *
 *   epoll_loop [-e] [-i INTERVAL_MS] [-n COUNT] [-q QOS] [-t TOPIC] ENDPOINTS
 *
 *   ENDPOINTS  the brokers of the virtual cluster, e.g. tcp://127.0.0.1:1883-1885
 *   -e  watch the event descriptor edge-triggered (EPOLLET); level-triggered by default
 *   -i  interval between publishes in ms (default 100)
 *   -n  exit after COUNT messages were received (default: until SIGINT/SIGTERM)
 *   -q  QoS of the publishes and the subscription (default 1)
 *   -t  topic to publish to (default demo/epoll/readings); the loop subscribes to it
 *
 * It prints one line per event; kill a broker while it runs and "down" and later "up" lines
 * show the failover while messages keep coming. At the end it prints what it published,
 * what the brokers acknowledged, what failed and what it received, and exits 0 unless a
 * publish failed.
 */
#define _GNU_SOURCE /* pipe2, timerfd */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "hamqtt.h"

#define BATCH 64 /* events per hamqtt_poll */

static int signal_pipe[2] = {-1, -1};

/* Signal handlers run on whatever thread the kernel picks, possibly one of the library's:
 * installed with SA_ONSTACK (see the header's process constraints), they only write a byte. */
static void on_signal(int sig) {
    int saved = errno;
    ssize_t r = write(signal_pipe[1], "s", 1);
    (void)sig;
    (void)r;
    errno = saved;
}

typedef struct app {
    hamqtt_client client;
    const char *topic;
    int qos;
    int edge;
    long count; /* exit after this many messages (0: never) */
    unsigned long long published, acknowledged, failed, received;
    int stop;
    hamqtt_event events[BATCH];
} app;

static int add_fd(int ep, int fd, uint32_t events) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.fd = fd;
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void publish_reading(app *a) {
    char payload[64];
    int n = snprintf(payload, sizeof payload, "reading %llu", a->published);
    /* Returns at once; the outcome is a HAMQTT_EVENT_DELIVERY from hamqtt_poll. While no
     * broker is live the message waits (up to time_to_wait) instead of blocking the loop. */
    int rc = hamqtt_publish_async(a->client, a->topic, payload, (size_t)n, a->qos, 0, NULL, NULL, NULL);
    if (rc != HAMQTT_OK) {
        fprintf(stderr, "publish: %s\n", hamqtt_last_error());
        a->failed++;
        return;
    }
    a->published++;
}

static void handle_event(app *a, const hamqtt_event *e) {
    switch (e->kind) {
    case HAMQTT_EVENT_ENDPOINT_UP:
        printf("up %s\n", e->endpoint);
        break;
    case HAMQTT_EVENT_ENDPOINT_DOWN:
        printf("down %s: %s\n", e->endpoint, e->error);
        break;
    case HAMQTT_EVENT_MESSAGE:
        /* The payload is not NUL-terminated and lives until the next hamqtt_poll. */
        printf("message %s %.*s via %s\n", e->message.topic, (int)e->message.payload_len,
               e->message.payload_len ? (const char *)e->message.payload : "", e->message.endpoint);
        a->received++;
        if (a->count > 0 && a->received >= (unsigned long long)a->count) a->stop = 1;
        break;
    case HAMQTT_EVENT_DELIVERY:
        if (e->delivery.status == HAMQTT_OK) {
            a->acknowledged++;
        } else {
            a->failed++;
            printf("failed publish %llu: %s\n", (unsigned long long)e->delivery.id, e->delivery.error);
        }
        break;
    case HAMQTT_EVENT_ERROR:
        printf("error %s: %s\n", hamqtt_strerror(e->status), e->error);
        break;
    }
}

/* Serves what is due: hamqtt_poll with timeout 0 never waits. Level-triggered, one batch per
 * wake-up is enough (the descriptor stays readable while more events wait). Edge-triggered,
 * poll until a batch comes back short: the next wake-up comes only with the next event. */
static int serve_events(app *a) {
    size_t n, i;
    do {
        int rc = hamqtt_poll(a->client, a->events, BATCH, 0, &n);
        if (rc == HAMQTT_ERR_CLOSED) return 0; /* disconnected and drained */
        if (rc != HAMQTT_OK) {
            fprintf(stderr, "hamqtt_poll: %s\n", hamqtt_last_error());
            return -1;
        }
        for (i = 0; i < n; i++) handle_event(a, &a->events[i]);
    } while (a->edge && n == BATCH);
    return 0;
}

static int usage(const char *argv0) {
    fprintf(stderr, "usage: %s [-e] [-i INTERVAL_MS] [-n COUNT] [-q QOS] [-t TOPIC] ENDPOINTS\n", argv0);
    return 2;
}

int main(int argc, char **argv) {
    app a;
    hamqtt_options opts = HAMQTT_OPTIONS_INIT;
    struct sigaction sa;
    struct itimerspec its;
    int opt, interval_ms = 100, ep = -1, efd = -1, tfd = -1, rc = 1;

    memset(&a, 0, sizeof a);
    a.topic = "demo/epoll/readings";
    a.qos = 1;
    while ((opt = getopt(argc, argv, "ei:n:q:t:")) != -1) {
        switch (opt) {
        case 'e': a.edge = 1; break;
        case 'i': interval_ms = atoi(optarg); break;
        case 'n': a.count = atol(optarg); break;
        case 'q': a.qos = atoi(optarg); break;
        case 't': a.topic = optarg; break;
        default: return usage(argv[0]);
        }
    }
    if (optind != argc - 1 || interval_ms < 1 || interval_ms > 3600000) return usage(argv[0]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        perror("pipe2");
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    opts.name = "epoll"; /* endpoints are epoll-1, epoll-2, ... */
    if (hamqtt_client_new(argv[optind], &opts, &a.client) != HAMQTT_OK) {
        fprintf(stderr, "hamqtt_client_new: %s\n", hamqtt_last_error());
        return 1;
    }
    /* Before the client starts, subscribing only registers the filter: it returns at once.
     * The library makes the subscription on every broker as it comes up, and again on a
     * broker that comes back after a failure. (After the start, hamqtt_subscribe waits for
     * the brokers' acknowledgements: call it from another thread then.) */
    if (hamqtt_subscribe(a.client, a.topic, a.qos, NULL, NULL) != HAMQTT_OK) {
        fprintf(stderr, "hamqtt_subscribe: %s\n", hamqtt_last_error());
        goto out;
    }

    ep = epoll_create1(EPOLL_CLOEXEC);
    /* The event descriptor exists before the start and stays the same until hamqtt_close,
     * across disconnects: register it once. Never read or close it. */
    if (ep < 0 || hamqtt_event_fd(a.client, &efd) != HAMQTT_OK ||
        add_fd(ep, efd, EPOLLIN | (a.edge ? EPOLLET : 0)) != 0 || add_fd(ep, signal_pipe[0], EPOLLIN) != 0) {
        fprintf(stderr, "setting up the loop: %s / %s\n", strerror(errno), hamqtt_last_error());
        goto out;
    }
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    memset(&its, 0, sizeof its);
    its.it_interval.tv_sec = interval_ms / 1000;
    its.it_interval.tv_nsec = (long)(interval_ms % 1000) * 1000000L;
    its.it_value = its.it_interval;
    if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) != 0 || add_fd(ep, tfd, EPOLLIN) != 0) {
        perror("timerfd");
        goto out;
    }

    /* Starts probing the brokers and returns at once: each broker that connects is an
     * ENDPOINT_UP event. If none is reachable the client keeps trying, and an ERROR event
     * (HAMQTT_ERR_NO_ENDPOINT) says so once time_to_wait has passed. */
    if (hamqtt_connect_async(a.client) != HAMQTT_OK) {
        fprintf(stderr, "hamqtt_connect_async: %s\n", hamqtt_last_error());
        goto out;
    }
    printf("started on %s (%s-triggered)\n", argv[optind], a.edge ? "edge" : "level");

    while (!a.stop) {
        struct epoll_event ready[8];
        int n = epoll_wait(ep, ready, 8, -1), i;
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            goto out;
        }
        for (i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            if (fd == efd) {
                if (serve_events(&a) != 0) goto out;
            } else if (fd == tfd) {
                uint64_t expirations;
                if (read(tfd, &expirations, sizeof expirations) == (ssize_t)sizeof expirations) publish_reading(&a);
            } else if (fd == signal_pipe[0]) {
                printf("signalled: stopping\n");
                a.stop = 1;
            }
        }
    }
    rc = 0;

out:
    /* Out of the loop before closing: hamqtt_close closes the event descriptor. */
    if (ep >= 0 && efd >= 0) epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL);
    /* Publishes still pending fail with HAMQTT_ERR_CLOSED: wait a little for them first. */
    if (hamqtt_flush(a.client, 2000) != HAMQTT_OK) fprintf(stderr, "flush: %s\n", hamqtt_last_error());
    hamqtt_disconnect(a.client);
    {
        /* The outcomes the flush and the disconnect produced, up to HAMQTT_ERR_CLOSED. */
        int saved_edge = a.edge;
        a.edge = 1;
        (void)serve_events(&a);
        a.edge = saved_edge;
    }
    hamqtt_close(a.client);
    if (tfd >= 0) close(tfd);
    if (ep >= 0) close(ep);
    printf("published %llu, acknowledged %llu, failed %llu, received %llu\n", a.published, a.acknowledged, a.failed,
           a.received);
    return rc != 0 ? rc : (a.failed > 0 ? 3 : 0);
}
