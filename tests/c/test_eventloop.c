/* The C API in an application's own event loop: an epoll loop that is woken by
 * hamqtt_event_fd() and serves what is due with hamqtt_poll(timeout 0), against real Mosquitto
 * brokers (internal/cmd/brokerctl) that are SIGKILLed and restarted under it; the descriptor's
 * contract (one number for the life of the client, readable exactly while hamqtt_poll has
 * something to give, level- and edge-triggered); and hamqtt_connect when no broker is
 * reachable. Run one case with `test_eventloop NAME`; ctest runs each case as its own test. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "hamqtt.h"
#include "testutil.h"

/* ------------------------------------------------------------------------------------------ */
/* An epoll loop around one client                                                            */

#define MAX_SEQ 200000
#define MAX_EPS 4

typedef struct loop {
    hamqtt_client c;
    const char *name; /* cluster name: endpoints are <name>-1, <name>-2, ... */
    const char *topic;
    int ep;           /* our epoll instance */
    int hfd;          /* hamqtt_event_fd() */
    int tfd;          /* publishing timer (timerfd), -1 when not publishing */
    int et;           /* hfd registered with EPOLLET */
    size_t batch;     /* max_events per hamqtt_poll */
    int burst_every;  /* every this many ticks publish `burst` messages at once (0: never) */
    int burst;
    int ticks;
    hamqtt_event *evs;
    /* what the loop saw */
    int ups[MAX_EPS], downs[MAX_EPS];
    int live;
    uint64_t published, delivered_ok, delivered_failed, received, duplicates, errors;
    unsigned char *got; /* got[seq]: received */
    uint64_t wakes, polls, empty_polls;
    int closed; /* hamqtt_poll answered HAMQTT_ERR_CLOSED */
} loop;

static int endpoint_index(const loop *l, const char *endpoint) {
    size_t n = strlen(l->name);
    int i;
    if (endpoint == NULL || strncmp(endpoint, l->name, n) != 0 || endpoint[n] != '-') FAILF("unexpected endpoint %s", endpoint ? endpoint : "(null)");
    i = atoi(endpoint + n + 1) - 1;
    if (i < 0 || i >= MAX_EPS) FAILF("unexpected endpoint %s", endpoint);
    return i;
}

static void loop_init(loop *l, hamqtt_client c, const char *name, const char *topic, int et, size_t batch) {
    struct epoll_event ev;
    memset(l, 0, sizeof *l);
    l->c = c;
    l->name = name;
    l->topic = topic;
    l->et = et;
    l->batch = batch;
    l->tfd = -1;
    l->evs = calloc(batch, sizeof *l->evs);
    l->got = calloc(MAX_SEQ, 1);
    CHECK(l->evs != NULL && l->got != NULL);
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(l->ep >= 0);
    /* The descriptor exists before the client connects, and stays the same until it closes:
     * it is registered once. */
    CHECK_OK(hamqtt_event_fd(c, &l->hfd));
    CHECK(l->hfd >= 0);
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | (et ? EPOLLET : 0);
    ev.data.fd = l->hfd;
    CHECK(epoll_ctl(l->ep, EPOLL_CTL_ADD, l->hfd, &ev) == 0);
}

static void loop_free(loop *l) {
    if (l->tfd >= 0) close(l->tfd);
    close(l->ep);
    free(l->evs);
    free(l->got);
}

static void publish_one(loop *l) {
    char payload[32];
    int n;
    if (l->published >= MAX_SEQ) FAILF("too many messages");
    n = snprintf(payload, sizeof payload, "%llu", (unsigned long long)l->published);
    /* never blocks: queued until an endpoint takes it; the outcome is a DELIVERY event */
    CHECK_OK(hamqtt_publish_async(l->c, l->topic, payload, (size_t)n, 1, 0, NULL, NULL, NULL));
    l->published++;
}

static void start_publishing(loop *l, int period_ms) {
    struct epoll_event ev;
    struct itimerspec its;
    l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    CHECK(l->tfd >= 0);
    memset(&its, 0, sizeof its);
    its.it_interval.tv_nsec = (long)period_ms * 1000000L;
    its.it_value = its.it_interval;
    CHECK(timerfd_settime(l->tfd, 0, &its, NULL) == 0);
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = l->tfd;
    CHECK(epoll_ctl(l->ep, EPOLL_CTL_ADD, l->tfd, &ev) == 0);
}

static void stop_publishing(loop *l) {
    if (l->tfd < 0) return;
    CHECK(epoll_ctl(l->ep, EPOLL_CTL_DEL, l->tfd, NULL) == 0);
    close(l->tfd);
    l->tfd = -1;
}

static void handle(loop *l, const hamqtt_event *e) {
    switch (e->kind) {
    case HAMQTT_EVENT_ENDPOINT_UP:
        l->ups[endpoint_index(l, e->endpoint)]++;
        l->live++;
        fprintf(stderr, "  up %s\n", e->endpoint);
        break;
    case HAMQTT_EVENT_ENDPOINT_DOWN:
        l->downs[endpoint_index(l, e->endpoint)]++;
        l->live--;
        CHECK(e->error != NULL);
        fprintf(stderr, "  down %s: %s\n", e->endpoint, e->error);
        break;
    case HAMQTT_EVENT_MESSAGE: {
        char buf[32];
        size_t n = e->message.payload_len < sizeof buf - 1 ? e->message.payload_len : sizeof buf - 1;
        unsigned long long seq;
        CHECK(strcmp(e->message.topic, l->topic) == 0);
        memcpy(buf, e->message.payload, n);
        buf[n] = 0;
        seq = strtoull(buf, NULL, 10);
        CHECK(seq < l->published);
        if (l->got[seq]) {
            l->duplicates++;
        } else {
            l->got[seq] = 1;
            l->received++;
        }
        break;
    }
    case HAMQTT_EVENT_DELIVERY:
        if (e->delivery.status == HAMQTT_OK) {
            l->delivered_ok++;
        } else {
            l->delivered_failed++;
            fprintf(stderr, "  delivery %llu failed: %s\n", (unsigned long long)e->delivery.id, e->delivery.error);
        }
        break;
    case HAMQTT_EVENT_ERROR:
        l->errors++;
        fprintf(stderr, "  error %d: %s\n", e->status, e->error);
        break;
    default:
        FAILF("unknown event kind %d", e->kind);
    }
}

/* Serves what is due: hamqtt_poll with timeout 0. Level-triggered, one batch per wake-up is
 * enough (the descriptor stays readable while more waits); edge-triggered, poll until a
 * batch comes back short, since the next wake-up comes only with the next event. */
static void drain(loop *l) {
    size_t n, i;
    do {
        int rc = hamqtt_poll(l->c, l->evs, l->batch, 0, &n);
        l->polls++;
        if (rc == HAMQTT_ERR_CLOSED) {
            l->closed = 1;
            return;
        }
        CHECK_OK(rc);
        if (n == 0) l->empty_polls++;
        for (i = 0; i < n; i++) handle(l, &l->evs[i]);
    } while (l->et && n == l->batch);
}

/* One turn of the loop: waits up to timeout_ms for the descriptors and serves them. */
static void loop_turn(loop *l, int timeout_ms) {
    struct epoll_event evs[4];
    int n = epoll_wait(l->ep, evs, 4, timeout_ms), i;
    if (n < 0 && errno == EINTR) return;
    CHECK(n >= 0);
    for (i = 0; i < n; i++) {
        if (evs[i].data.fd == l->hfd) {
            l->wakes++;
            drain(l);
        } else if (evs[i].data.fd == l->tfd) {
            uint64_t expirations = 0;
            if (read(l->tfd, &expirations, sizeof expirations) != (ssize_t)sizeof expirations) continue;
            l->ticks++;
            if (l->burst_every > 0 && l->ticks % l->burst_every == 0) {
                int k;
                for (k = 0; k < l->burst; k++) publish_one(l);
            } else {
                publish_one(l);
            }
        }
    }
}

typedef int (*loop_pred)(loop *l, void *arg);

static void loop_report(const loop *l) {
    fprintf(stderr,
            "  published %llu, delivered %llu (failed %llu), received %llu (duplicates %llu), live %d, wakes %llu, "
            "polls %llu (empty %llu), errors %llu\n",
            (unsigned long long)l->published, (unsigned long long)l->delivered_ok,
            (unsigned long long)l->delivered_failed, (unsigned long long)l->received,
            (unsigned long long)l->duplicates, l->live, (unsigned long long)l->wakes, (unsigned long long)l->polls,
            (unsigned long long)l->empty_polls, (unsigned long long)l->errors);
}

/* Turns the loop until pred holds; fails after timeout_ms (scaled under valgrind). The loop
 * never polls the client unless its descriptor said so: a missed wake-up stalls it and fails
 * the test. */
static void loop_until(loop *l, loop_pred pred, void *arg, int timeout_ms, const char *what) {
    int64_t deadline = now_ms() + (int64_t)timeout_ms * test_scale();
    while (!pred(l, arg)) {
        if (now_ms() > deadline) {
            loop_report(l);
            FAILF("the loop did not see %s within %d ms", what, timeout_ms);
        }
        loop_turn(l, 50);
    }
}

struct count_at_least {
    const int *v;
    int want;
};
static int int_at_least(loop *l, void *arg) {
    struct count_at_least *c = arg;
    (void)l;
    return *c->v >= c->want;
}
static void wait_int(loop *l, const int *v, int want, int timeout_ms, const char *what) {
    struct count_at_least c = {v, want};
    loop_until(l, int_at_least, &c, timeout_ms, what);
}

/* At least arg[1] messages published from seq arg[0] on were received. */
static int received_since(loop *l, void *arg) {
    const uint64_t *a = arg;
    uint64_t s, n = 0;
    for (s = a[0]; s < l->published; s++) n += l->got[s];
    return n >= a[1];
}
static void wait_received_since(loop *l, uint64_t from, uint64_t count, int timeout_ms, const char *what) {
    uint64_t a[2];
    a[0] = from;
    a[1] = count;
    loop_until(l, received_since, a, timeout_ms, what);
}

static int all_outcomes(loop *l, void *arg) {
    (void)arg;
    return l->delivered_ok + l->delivered_failed == l->published;
}

static int is_closed(loop *l, void *arg) {
    (void)arg;
    return l->closed;
}

/* The descriptor is not readable for `ms` (nothing to give: no busy loop). */
static void check_quiet(int fd, int ms) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    CHECK(poll(&p, 1, ms) == 0);
}

static int readable(int fd, int ms) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* ------------------------------------------------------------------------------------------ */
/* The loop through broker kills, level- and edge-triggered                                    */

static void run_loop_through_kills(int et) {
    brokers b;
    hamqtt_client c;
    loop l;
    const char *name = et ? "elet" : "ellt";
    const char *topic = et ? "el/et/data" : "el/lt/data";
    uint64_t mark;
    int fd_again = -1;

    brokers_start(&b, 2);
    c = test_client(brokers_uris(&b, 2), name, HAMQTT_PUBLISHER_STICKY, 0);
    /* Edge-triggered with a small batch: each wake-up needs several polls. */
    loop_init(&l, c, name, topic, et, et ? 3 : 16);
    if (et) {
        l.burst_every = 10;
        l.burst = 25;
    }
    /* Before the client starts, a subscription is only registered: this never blocks. */
    CHECK_OK(hamqtt_subscribe(c, "el/+/data", 1, NULL, NULL));
    check_quiet(l.hfd, 0);
    CHECK_OK(hamqtt_connect_async(c));
    start_publishing(&l, 10);

    wait_int(&l, &l.ups[0], 1, 5000, "endpoint 1 up");
    wait_int(&l, &l.ups[1], 1, 5000, "endpoint 2 up");
    wait_received_since(&l, 0, 50, 5000, "50 messages");

    /* Kill broker 1: the loop sees it go down and keeps receiving through broker 2. */
    brokers_kill(&b, 0);
    wait_int(&l, &l.downs[0], 1, 5000, "endpoint 1 down");
    mark = l.published;
    wait_received_since(&l, mark, 30, 5000, "messages after endpoint 1 went down");
    /* Back: the loop sees it come up. */
    brokers_restart(&b, 0);
    wait_int(&l, &l.ups[0], 2, 5000, "endpoint 1 up again");

    /* Kill broker 2: everything now goes through the revived broker 1, subscriptions
     * included. */
    brokers_kill(&b, 1);
    wait_int(&l, &l.downs[1], 1, 5000, "endpoint 2 down");
    mark = l.published;
    wait_received_since(&l, mark, 30, 5000, "messages through the revived endpoint 1");
    brokers_restart(&b, 1);
    wait_int(&l, &l.ups[1], 2, 5000, "endpoint 2 up again");
    mark = l.published;
    wait_received_since(&l, mark, 30, 5000, "messages after both brokers were back");

    /* Every publish reports its outcome through the loop: no event is missed. */
    stop_publishing(&l);
    loop_until(&l, all_outcomes, NULL, 15000, "every delivery outcome");
    loop_report(&l);
    CHECK(l.delivered_failed == 0); /* a broker was live throughout */
    CHECK(l.errors == 0);
    /* A broker killed between acknowledging a message and passing it on takes it along
     * (README: the single-copy window); nothing else may be missing. */
    {
        uint64_t s, missing = 0;
        for (s = 0; s < l.published; s++) missing += !l.got[s];
        if (missing > 0) fprintf(stderr, "  %llu messages taken by the killed brokers\n", (unsigned long long)missing);
        CHECK(missing <= (uint64_t)(et ? 2 * l.burst : 10));
    }

    /* Disconnect from the loop: the descriptor wakes it, hamqtt_poll hands over what is left
     * and then HAMQTT_ERR_CLOSED, after which the descriptor is quiet (no busy loop). */
    CHECK_OK(hamqtt_disconnect(c));
    loop_until(&l, is_closed, NULL, 5000, "HAMQTT_ERR_CLOSED after the disconnect");
    check_quiet(l.hfd, 100);
    CHECK_OK(hamqtt_event_fd(c, &fd_again));
    CHECK(fd_again == l.hfd);

    /* Connected again: the same registration, the same descriptor, events again. */
    l.closed = 0;
    CHECK_OK(hamqtt_connect_async(c));
    CHECK_OK(hamqtt_event_fd(c, &fd_again));
    CHECK(fd_again == l.hfd);
    wait_int(&l, &l.ups[0], 3, 5000, "endpoint 1 up after reconnecting");
    wait_int(&l, &l.ups[1], 3, 5000, "endpoint 2 up after reconnecting");
    mark = l.published;
    start_publishing(&l, 10);
    wait_received_since(&l, mark, 20, 5000, "messages after reconnecting");
    stop_publishing(&l);
    loop_until(&l, all_outcomes, NULL, 15000, "every delivery outcome after reconnecting");
    CHECK(l.closed == 0);
    loop_report(&l);

    /* Out of the loop before closing: the descriptor is closed by hamqtt_close. */
    CHECK(epoll_ctl(l.ep, EPOLL_CTL_DEL, l.hfd, NULL) == 0);
    CHECK_OK(hamqtt_close(c));
    CHECK_ERR(hamqtt_event_fd(c, &fd_again), HAMQTT_ERR_HANDLE, "closed");
    loop_free(&l);
    brokers_quit(&b);
}

static void test_epoll_level(void) { run_loop_through_kills(0); }
static void test_epoll_edge(void) { run_loop_through_kills(1); }

/* ------------------------------------------------------------------------------------------ */
/* The descriptor's contract                                                                  */

static int poll_all(hamqtt_client c, hamqtt_event *evs, size_t max, int *kinds) {
    size_t n = 0, i;
    int rc = hamqtt_poll(c, evs, max, 0, &n);
    if (rc != HAMQTT_OK) return rc;
    for (i = 0; i < n; i++) kinds[evs[i].kind]++;
    return (int)n;
}

static void test_fd_contract(void) {
    brokers b;
    hamqtt_client c;
    hamqtt_event evs[64];
    int fd = -1, fd2 = -1, kinds[8], rc, i;
    size_t n = 0;
    int64_t deadline;
    brokers_start(&b, 1);
    c = test_client(brokers_uris(&b, 1), "fdc", HAMQTT_PUBLISHER_STICKY, 0);

    /* Before connecting: a descriptor, not readable (nothing happened yet). */
    CHECK_OK(hamqtt_event_fd(c, &fd));
    CHECK(fd >= 0);
    check_quiet(fd, 0);
    CHECK_OK(hamqtt_event_fd(c, &fd2));
    CHECK(fd2 == fd);
    CHECK_OK(hamqtt_subscribe(c, "fdc/#", 1, NULL, NULL));

    /* Connected: readable once the endpoint came up; hamqtt_poll gives the event; quiet again. */
    CHECK_OK(hamqtt_connect(c));
    CHECK_OK(hamqtt_event_fd(c, &fd2));
    CHECK(fd2 == fd);
    CHECK(readable(fd, 5000 * test_scale()));
    memset(kinds, 0, sizeof kinds);
    CHECK(poll_all(c, evs, 64, kinds) >= 1);
    CHECK(kinds[HAMQTT_EVENT_ENDPOINT_UP] == 1);
    check_quiet(fd, 50);

    /* Level-triggered: with more events than one batch takes, it stays readable until the
     * last is taken. */
    for (i = 0; i < 10; i++) CHECK_OK(hamqtt_publish(c, "fdc/t", "x", 1, 1, 0));
    memset(kinds, 0, sizeof kinds);
    while (kinds[HAMQTT_EVENT_MESSAGE] < 10) {
        /* at once while a message waits; a message still on its way makes it readable */
        if (!readable(fd, 5000 * test_scale())) FAILF("quiet with %d of 10 messages polled", kinds[HAMQTT_EVENT_MESSAGE]);
        CHECK((rc = poll_all(c, evs, 3, kinds)) >= 0);
    }
    check_quiet(fd, 50);

    /* A disconnect with events still pending: the descriptor is readable for them and for
     * the answer HAMQTT_ERR_CLOSED, then quiet. Pending here: a publish the killed broker
     * never acknowledged, failed by the disconnect. */
    brokers_kill(&b, 0);
    sleep_ms(100);
    CHECK_OK(hamqtt_publish_async(c, "fdc/pending", "p", 1, 1, 0, NULL, NULL, NULL));
    CHECK_OK(hamqtt_disconnect(c));
    CHECK_OK(hamqtt_event_fd(c, &fd2)); /* still the same descriptor */
    CHECK(fd2 == fd);
    memset(kinds, 0, sizeof kinds);
    deadline = now_ms() + 5000 * test_scale();
    for (;;) {
        if (now_ms() > deadline) FAILF("no HAMQTT_ERR_CLOSED after the disconnect");
        CHECK(readable(fd, 0)); /* never quiet before the answer was given */
        rc = poll_all(c, evs, 2, kinds);
        if (rc == HAMQTT_ERR_CLOSED) break;
        CHECK(rc >= 0);
    }
    CHECK(kinds[HAMQTT_EVENT_DELIVERY] == 1);
    check_quiet(fd, 100);
    CHECK_RC(hamqtt_poll(c, evs, 2, 0, &n), HAMQTT_ERR_CLOSED); /* the answer stays */
    check_quiet(fd, 0);

    /* Connected again: the same descriptor carries the new connection's events. */
    brokers_restart(&b, 0);
    CHECK_OK(hamqtt_connect(c));
    CHECK_OK(hamqtt_event_fd(c, &fd2));
    CHECK(fd2 == fd);
    CHECK_OK(hamqtt_publish(c, "fdc/again", "y", 1, 1, 0));
    memset(kinds, 0, sizeof kinds);
    deadline = now_ms() + 5000 * test_scale();
    while (kinds[HAMQTT_EVENT_MESSAGE] < 1) {
        if (now_ms() > deadline) FAILF("no message after reconnecting");
        if (readable(fd, 100)) CHECK(poll_all(c, evs, 64, kinds) >= 0);
    }

    /* Disconnected and connected again before anything was polled: what the first session
     * left is given first, then the new session's events; no HAMQTT_ERR_CLOSED in between. */
    CHECK_OK(hamqtt_publish(c, "fdc/left", "z", 1, 1, 0));
    sleep_ms(200); /* the message arrives, unpolled */
    CHECK_OK(hamqtt_disconnect(c));
    CHECK_OK(hamqtt_connect(c));
    memset(kinds, 0, sizeof kinds);
    deadline = now_ms() + 5000 * test_scale();
    while (kinds[HAMQTT_EVENT_MESSAGE] < 1 || kinds[HAMQTT_EVENT_ENDPOINT_UP] < 1) {
        if (now_ms() > deadline) FAILF("left-over message or new endpoint-up missing");
        if (readable(fd, 100)) CHECK(poll_all(c, evs, 64, kinds) >= 0);
    }
    check_quiet(fd, 50);

    /* Edge-triggered: a disconnect leaves fewer events than a batch; the poll that hands them
     * over is short, so the loop waits for a new edge, which must come for the answer
     * HAMQTT_ERR_CLOSED still to give. */
    {
        struct epoll_event ev, got;
        int et = epoll_create1(EPOLL_CLOEXEC);
        CHECK(et >= 0);
        ev.events = EPOLLIN | EPOLLET;
        ev.data.fd = fd;
        CHECK(epoll_ctl(et, EPOLL_CTL_ADD, fd, &ev) == 0);
        brokers_kill(&b, 0);
        sleep_ms(100);
        CHECK_OK(hamqtt_publish_async(c, "fdc/pending-et", "p", 1, 1, 0, NULL, NULL, NULL));
        CHECK_OK(hamqtt_disconnect(c));
        memset(kinds, 0, sizeof kinds);
        deadline = now_ms() + 5000 * test_scale();
        for (;;) {
            if (now_ms() > deadline) FAILF("edge-triggered: no HAMQTT_ERR_CLOSED after the disconnect (a missed edge)");
            if (epoll_wait(et, &got, 1, 1000 * test_scale()) != 1) FAILF("edge-triggered: no edge while HAMQTT_ERR_CLOSED is still to come");
            do {
                rc = poll_all(c, evs, 64, kinds);
            } while (rc == 64);
            if (rc == HAMQTT_ERR_CLOSED) break;
            CHECK(rc >= 0 && rc < 64); /* short: the loop now waits for an edge */
        }
        CHECK(kinds[HAMQTT_EVENT_DELIVERY] == 1);
        close(et);
        brokers_restart(&b, 0);
    }

    /* Push mode has no descriptor. */
    {
        hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
        hamqtt_client p = test_client(brokers_uris(&b, 1), "fdp", HAMQTT_PUBLISHER_STICKY, 0);
        CHECK_OK(hamqtt_set_callbacks(p, &cbs));
        CHECK_ERR(hamqtt_event_fd(p, &fd2), HAMQTT_ERR_MODE, "push mode");
        CHECK(fd2 == -1);
        CHECK_OK(hamqtt_close(p));
    }

    CHECK_OK(hamqtt_close(c));
    CHECK_ERR(hamqtt_event_fd(c, &fd2), HAMQTT_ERR_HANDLE, "closed");
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* Nothing reachable                                                                          */

static int count_in(const char *hay, const char *needle) {
    int n = 0;
    const char *p = hay;
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

static void test_nothing_reachable(void) {
    brokers b;
    hamqtt_options o;
    hamqtt_client c, a;
    hamqtt_event evs[16];
    char want[64];
    const char *err;
    char **names = NULL;
    size_t n = 0, i;
    int64_t t0, took;
    int rc, got = 0, fd = -1;

    /* Two brokers that refuse: started for their ports, then killed. */
    brokers_start(&b, 2);
    brokers_kill(&b, 0);
    brokers_kill(&b, 1);

    test_options(&o, "gone");
    o.time_to_wait_ms = 60000; /* the answer must not wait for this */
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 2), &o, &c));
    CHECK_OK(hamqtt_subscribe(c, "gone/#", 1, NULL, NULL));
    t0 = now_ms();
    rc = hamqtt_connect(c);
    took = now_ms() - t0;
    err = hamqtt_last_error();
    fprintf(stderr, "  hamqtt_connect: %d after %lld ms: %s\n", rc, (long long)took, err);
    CHECK_RC(rc, HAMQTT_ERR_NO_ENDPOINT);
    /* Generous: the answer comes in milliseconds; time_to_wait is 60 s. */
    CHECK(took < 10000 * test_scale());
    CHECK(strstr(err, "gone-1") != NULL && strstr(err, "gone-2") != NULL);
    snprintf(want, sizeof want, "127.0.0.1:%d", b.ports[0]);
    CHECK(strstr(err, want) != NULL);
    snprintf(want, sizeof want, "127.0.0.1:%d", b.ports[1]);
    CHECK(strstr(err, want) != NULL);
    CHECK(count_in(err, "connection refused") == 2);

    /* The client goes on probing: a broker started on that port is used without a second
     * hamqtt_connect, subscriptions included. */
    brokers_restart(&b, 1);
    wait_live(c, 1, 5000);
    CHECK_OK(hamqtt_live_endpoints(c, &names, &n));
    CHECK(n == 1 && strcmp(names[0], "gone-2") == 0);
    hamqtt_free(names);
    CHECK_OK(hamqtt_publish(c, "gone/t", "back", 4, 1, 0));
    t0 = now_ms();
    while (!got) {
        if (now_ms() - t0 > 5000 * test_scale()) FAILF("the message did not come back");
        CHECK_OK(hamqtt_poll(c, evs, 16, 100, &n));
        for (i = 0; i < n; i++)
            if (evs[i].kind == HAMQTT_EVENT_MESSAGE && strcmp(evs[i].message.topic, "gone/t") == 0) got = 1;
    }
    CHECK_OK(hamqtt_close(c));

    /* hamqtt_connect_async returns at once either way; once every endpoint refused, one
     * NO_ENDPOINT error event comes (long before time_to_wait), and the endpoint that comes up
     * later is an event on the descriptor. */
    brokers_kill(&b, 1);
    test_options(&o, "gonea");
    o.time_to_wait_ms = 60000;
    CHECK_OK(hamqtt_client_new(brokers_uris(&b, 2), &o, &a));
    CHECK_OK(hamqtt_event_fd(a, &fd));
    t0 = now_ms();
    CHECK_OK(hamqtt_connect_async(a));
    CHECK(now_ms() - t0 < 1000 * test_scale());
    got = 0;
    while (!got) {
        if (now_ms() - t0 > 10000 * test_scale()) FAILF("no NO_ENDPOINT error event while every broker refuses");
        if (!readable(fd, 100)) continue;
        CHECK_OK(hamqtt_poll(a, evs, 16, 0, &n));
        for (i = 0; i < n; i++) {
            if (evs[i].kind == HAMQTT_EVENT_ERROR) {
                CHECK(evs[i].status == HAMQTT_ERR_NO_ENDPOINT);
                CHECK(evs[i].error != NULL && strstr(evs[i].error, "connection refused") != NULL);
                got = 1;
            }
        }
    }
    brokers_restart(&b, 0);
    got = 0;
    t0 = now_ms();
    while (!got) {
        if (now_ms() - t0 > 5000 * test_scale()) FAILF("no endpoint-up event");
        if (!readable(fd, 100)) continue;
        CHECK_OK(hamqtt_poll(a, evs, 16, 0, &n));
        for (i = 0; i < n; i++) {
            CHECK(evs[i].kind != HAMQTT_EVENT_ERROR); /* one error event only */
            if (evs[i].kind == HAMQTT_EVENT_ENDPOINT_UP && strcmp(evs[i].endpoint, "gonea-1") == 0) got = 1;
        }
    }
    CHECK_OK(hamqtt_close(a));
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */

static const struct test_case cases[] = {
    {"epoll_level", test_epoll_level, 1},
    {"epoll_edge", test_epoll_edge, 1},
    {"fd_contract", test_fd_contract, 1},
    {"nothing_reachable", test_nothing_reachable, 1},
};

int main(int argc, char **argv) { return test_main(argc, argv, cases, sizeof cases / sizeof cases[0]); }
