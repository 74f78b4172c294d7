/* Tests of MQTT 5 through the C API (hamqtt_props_*, the *_props publishes,
 * hamqtt_subscribe_opts, reason codes, hamqtt_connack_props), linked into test_capi: its cases
 * run as their own ctest tests, and in the valgrind and cgocheck2 runs too. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hamqtt.h"
#include "testutil.h"
#include "test_mqtt5.h"

extern char **environ;

static const unsigned char corr[] = {0, 1, 2, 0xff};

/* Fills p with every message property a publish can carry. */
static void set_message_props(hamqtt_props *p) {
    CHECK_OK(hamqtt_props_set_int(p, HAMQTT_PROP_PAYLOAD_FORMAT, 1));
    CHECK_OK(hamqtt_props_set_int(p, HAMQTT_PROP_MESSAGE_EXPIRY, 300));
    CHECK_OK(hamqtt_props_set_string(p, HAMQTT_PROP_CONTENT_TYPE, "text/plain"));
    CHECK_OK(hamqtt_props_set_string(p, HAMQTT_PROP_RESPONSE_TOPIC, "v5/reply"));
    CHECK_OK(hamqtt_props_set_binary(p, HAMQTT_PROP_CORRELATION_DATA, corr, sizeof corr));
    CHECK_OK(hamqtt_props_add_user(p, "a", "1"));
    CHECK_OK(hamqtt_props_add_user(p, "a", "2"));
    CHECK_OK(hamqtt_props_add_user(p, "b", ""));
}

static int has_subid(const hamqtt_props *p, uint32_t id) {
    size_t i;
    for (i = 0; i < hamqtt_props_subscription_id_count(p); i++)
        if (hamqtt_props_subscription_id_at(p, i) == id) return 1;
    return 0;
}

/* Checks that p holds what set_message_props set (a received message's expiry may have been
 * counted down) and, when subid is not 0, that subscription identifier. */
static void check_message_props(const hamqtt_props *p, uint32_t subid) {
    uint32_t v = 0;
    const char *s, *k;
    const void *d;
    size_t n;
    CHECK(p != NULL);
    CHECK_OK(hamqtt_props_get_int(p, HAMQTT_PROP_PAYLOAD_FORMAT, &v));
    CHECK(v == 1);
    CHECK_OK(hamqtt_props_get_int(p, HAMQTT_PROP_MESSAGE_EXPIRY, &v));
    CHECK(v <= 300 && v >= 250);
    CHECK_OK(hamqtt_props_get_string(p, HAMQTT_PROP_CONTENT_TYPE, &s, &n));
    CHECK(n == 10 && strcmp(s, "text/plain") == 0);
    CHECK_OK(hamqtt_props_get_string(p, HAMQTT_PROP_RESPONSE_TOPIC, &s, NULL));
    CHECK(strcmp(s, "v5/reply") == 0);
    CHECK_OK(hamqtt_props_get_binary(p, HAMQTT_PROP_CORRELATION_DATA, &d, &n));
    CHECK(n == sizeof corr && memcmp(d, corr, n) == 0);
    CHECK_RC(hamqtt_props_get_string(p, HAMQTT_PROP_REASON_STRING, &s, &n), HAMQTT_ERR_NOT_FOUND);
    CHECK(s == NULL && n == 0);
    /* in order, repeated keys kept, the engine's message id stamp never shown */
    CHECK(hamqtt_props_user_count(p) == 3);
    CHECK_OK(hamqtt_props_user_at(p, 0, &k, &s));
    CHECK(strcmp(k, "a") == 0 && strcmp(s, "1") == 0);
    CHECK_OK(hamqtt_props_user_at(p, 1, &k, &s));
    CHECK(strcmp(k, "a") == 0 && strcmp(s, "2") == 0);
    CHECK_OK(hamqtt_props_user_at(p, 2, &k, &s));
    CHECK(strcmp(k, "b") == 0 && strcmp(s, "") == 0);
    CHECK_RC(hamqtt_props_user_at(p, 3, &k, &s), HAMQTT_ERR_INVALID);
    if (subid) CHECK(has_subid(p, subid));
}

/* ------------------------------------------------------------------------------------------ */
/* the property list: accessors, wire form, malformed input; no broker needed                  */

void test_mqtt5_props(void) {
    hamqtt_props *p = hamqtt_props_new(), *q = NULL;
    unsigned char buf[512];
    size_t n = 0, need = 0;
    uint32_t v;
    const char *s;
    const void *d;
    /* malformed wire forms: each must be refused, with nothing stored */
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } bad[] = {
        {"", 0, "no length"},
        {"\x05\x01\x01", 3, "length beyond the input"},
        {"\x02\x01\x01\x00", 4, "bytes left over"},
        {"\x80\x80\x80\x80\x01", 5, "length of five bytes"},
        {"\x02\x01\x02", 3, "payload format 2"},
        {"\x04\x01\x01\x01\x00", 5, "payload format twice"},
        {"\x02\x17\x01", 3, "request problem information: not a message's"},
        {"\x02\x7f\x00", 3, "unknown identifier"},
        {"\x05\x03\x00\x03\x61\xff", 6, "string cut short"},
        {"\x06\x03\x00\x03\x61\xc3\x28", 7, "content type not UTF-8"},
        {"\x04\x03\x00\x01\x00", 5, "content type holding U+0000"},
        {"\x02\x0b\x00", 3, "subscription identifier 0"},
        {"\x03\x21\x00\x00", 4, "receive maximum 0"},
        {"\x05\x26\x00\x01\x61\x00", 6, "user property without its value"},
    };
    size_t i;

    CHECK(p != NULL);
    hamqtt_props_free(NULL);
    CHECK(hamqtt_props_user_count(NULL) == 0 && hamqtt_props_subscription_id_count(NULL) == 0);
    CHECK(hamqtt_props_subscription_id_at(NULL, 0) == 0);
    /* empty: encodes as one zero byte, decodes back to an empty list */
    CHECK_OK(hamqtt_props_encode(p, buf, sizeof buf, &n));
    CHECK(n == 1 && buf[0] == 0);
    CHECK_RC(hamqtt_props_get_int(p, HAMQTT_PROP_PAYLOAD_FORMAT, &v), HAMQTT_ERR_NOT_FOUND);

    set_message_props(p);
    CHECK_OK(hamqtt_props_set_int(p, HAMQTT_PROP_SUBSCRIPTION_ID, 7));
    CHECK_OK(hamqtt_props_set_int(p, HAMQTT_PROP_SUBSCRIPTION_ID, 268435455));
    check_message_props(p, 268435455);
    CHECK_OK(hamqtt_props_get_int(p, HAMQTT_PROP_SUBSCRIPTION_ID, &v));
    CHECK(v == 7);
    /* what the setters refuse */
    CHECK_ERR(hamqtt_props_set_int(p, HAMQTT_PROP_PAYLOAD_FORMAT, 2), HAMQTT_ERR_INVALID, "payload format");
    CHECK_ERR(hamqtt_props_set_int(p, HAMQTT_PROP_SUBSCRIPTION_ID, 0), HAMQTT_ERR_INVALID, "out of range");
    CHECK_ERR(hamqtt_props_set_int(p, HAMQTT_PROP_RECEIVE_MAXIMUM, 5), HAMQTT_ERR_INVALID, "read only");
    CHECK_ERR(hamqtt_props_set_string(p, HAMQTT_PROP_ASSIGNED_CLIENT_ID, "x"), HAMQTT_ERR_INVALID, "read only");
    CHECK_ERR(hamqtt_props_set_string(p, HAMQTT_PROP_CORRELATION_DATA, "x"), HAMQTT_ERR_INVALID, "not a string");
    CHECK_ERR(hamqtt_props_set_string(p, HAMQTT_PROP_CONTENT_TYPE, "a\xc3\x28"), HAMQTT_ERR_INVALID, "UTF-8");
    CHECK_ERR(hamqtt_props_set_string(p, HAMQTT_PROP_CONTENT_TYPE, NULL), HAMQTT_ERR_INVALID, "NULL");
    CHECK_ERR(hamqtt_props_set_int(p, 0x7f, 1), HAMQTT_ERR_INVALID, "0x7F");
    CHECK_ERR(hamqtt_props_set_binary(p, HAMQTT_PROP_CORRELATION_DATA, NULL, 3), HAMQTT_ERR_INVALID, "NULL");
    CHECK_ERR(hamqtt_props_add_user(p, "k", "\xed\xa0\x80"), HAMQTT_ERR_INVALID, "UTF-8"); /* a surrogate */
    CHECK_ERR(hamqtt_props_add_user(NULL, "k", "v"), HAMQTT_ERR_INVALID, "NULL");
    CHECK_ERR(hamqtt_props_get_string(p, HAMQTT_PROP_PAYLOAD_FORMAT, &s, NULL), HAMQTT_ERR_INVALID, "another type");
    CHECK_ERR(hamqtt_props_get_int(p, HAMQTT_PROP_USER, &v), HAMQTT_ERR_INVALID, "another type");
    CHECK(hamqtt_last_reason_code() == 0);
    check_message_props(p, 7); /* unchanged by the refusals */

    /* encode: the length it needs first, HAMQTT_ERR_BUFFER when short, then a round trip */
    CHECK_RC(hamqtt_props_encode(p, NULL, 0, &need), HAMQTT_ERR_BUFFER);
    CHECK(need > 40 && need < sizeof buf);
    CHECK_RC(hamqtt_props_encode(p, buf, need - 1, &n), HAMQTT_ERR_BUFFER);
    CHECK(n == need);
    CHECK_OK(hamqtt_props_encode(p, buf, sizeof buf, &n));
    CHECK(n == need && buf[0] == need - 1);
    CHECK_OK(hamqtt_props_decode(buf, n, &q));
    check_message_props(q, 7);
    CHECK(hamqtt_props_subscription_id_count(q) == 2 && has_subid(q, 268435455));
    hamqtt_props_free(q);
    q = NULL;

    /* a list with CONNACK properties and a topic alias (dropped) decodes too */
    {
        static const unsigned char connack[] = {0x14, 0x12, 0x00, 0x02, 'i', 'd', 0x21, 0x00, 0x14, 0x23, 0x00, 0x05,
                                                0x24, 0x01, 0x27, 0x00, 0x01, 0x00, 0x00, 0x2a, 0x00};
        CHECK_OK(hamqtt_props_decode(connack, sizeof connack, &q));
        CHECK_OK(hamqtt_props_get_string(q, HAMQTT_PROP_ASSIGNED_CLIENT_ID, &s, &n));
        CHECK(n == 2 && strcmp(s, "id") == 0);
        CHECK_OK(hamqtt_props_get_int(q, HAMQTT_PROP_RECEIVE_MAXIMUM, &v));
        CHECK(v == 20);
        CHECK_OK(hamqtt_props_get_int(q, HAMQTT_PROP_MAXIMUM_PACKET_SIZE, &v));
        CHECK(v == 65536);
        CHECK_OK(hamqtt_props_get_int(q, HAMQTT_PROP_SHARED_SUB_AVAILABLE, &v));
        CHECK(v == 0);
        CHECK_RC(hamqtt_props_get_binary(q, HAMQTT_PROP_CORRELATION_DATA, &d, &n), HAMQTT_ERR_NOT_FOUND);
        /* re-encoded without the alias: 3 bytes shorter */
        CHECK_OK(hamqtt_props_encode(q, buf, sizeof buf, &n));
        CHECK(n == sizeof connack - 3 && buf[0] == connack[0] - 3);
        hamqtt_props_free(q);
        q = NULL;
    }

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        q = (hamqtt_props *)1;
        if (hamqtt_props_decode(bad[i].bytes, bad[i].len, &q) != HAMQTT_ERR_INVALID)
            FAILF("malformed input accepted: %s", bad[i].why);
        CHECK(q == NULL);
        CHECK(strstr(hamqtt_last_error(), "hamqtt_props_decode") != NULL);
    }
    CHECK_RC(hamqtt_props_decode(NULL, 3, &q), HAMQTT_ERR_INVALID);
    CHECK_RC(hamqtt_props_decode(buf, 1, NULL), HAMQTT_ERR_INVALID);
    hamqtt_props_free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* messages between MQTT 5 clients: properties, subscription options, CONNACK properties        */

/* Polls c, handing every event to fn, until done(arg) holds (aborts after 10 s). */
typedef void (*event_fn)(const hamqtt_event *e, void *arg);

static void pump(hamqtt_client c, event_fn fn, int (*done)(void *arg), void *arg) {
    hamqtt_event evs[16];
    int64_t deadline = now_ms() + 10000 * test_scale();
    while (!done(arg)) {
        size_t n = 0, i;
        if (now_ms() > deadline) FAILF("client %llu: not done within 10 s", (unsigned long long)c);
        CHECK_OK(hamqtt_poll(c, evs, 16, 50, &n));
        for (i = 0; i < n; i++) fn(&evs[i], arg);
    }
}

struct pull_sub {
    int props_seen, nl_seen, plain_seen, mark_seen, up;
    uint64_t async_id;
    int delivered;
};

static int sub_done(void *arg) {
    struct pull_sub *s = (struct pull_sub *)arg;
    return s->props_seen == 3 && s->nl_seen == 1 && s->plain_seen == 1;
}

static int pub_done(void *arg) {
    struct pull_sub *s = (struct pull_sub *)arg;
    return s->mark_seen && s->delivered;
}

static void on_sub_event(const hamqtt_event *e, void *arg) {
    struct pull_sub *s = (struct pull_sub *)arg;
    if (e->kind == HAMQTT_EVENT_ENDPOINT_UP) s->up++;
    if (e->kind != HAMQTT_EVENT_MESSAGE) return;
    if (strncmp(e->message.topic, "v5/props/", 9) == 0) {
        unsigned char buf[256];
        size_t n;
        hamqtt_props *copy = NULL;
        check_message_props(e->message.props, 7);
        CHECK(!has_subid(e->message.props, 9));
        /* the library's list: not to be changed or freed; its wire form is the bindings' copy */
        CHECK_ERR(hamqtt_props_add_user((hamqtt_props *)e->message.props, "x", "y"), HAMQTT_ERR_INVALID, "belong to the library");
        hamqtt_props_free((hamqtt_props *)e->message.props); /* ignored */
        CHECK_OK(hamqtt_props_encode(e->message.props, buf, sizeof buf, &n));
        CHECK_OK(hamqtt_props_decode(buf, n, &copy));
        check_message_props(copy, 7);
        hamqtt_props_free(copy);
        s->props_seen++;
    } else if (strncmp(e->message.topic, "v5/nl/", 6) == 0) {
        CHECK(e->message.props != NULL && has_subid(e->message.props, 9));
        s->nl_seen++;
    } else if (strcmp(e->message.topic, "v5/plain") == 0) {
        CHECK(e->message.props == NULL); /* none sent: none handed over */
        s->plain_seen++;
    }
}

struct push_sub {
    atomic_int props_seen;
};

static void on_push_message(void *user, hamqtt_client c, const hamqtt_message *m) {
    struct push_sub *s = (struct push_sub *)user;
    (void)c;
    if (strncmp(m->topic, "v5/props/", 9) == 0) {
        check_message_props(m->props, 0);
        atomic_fetch_add(&s->props_seen, 1);
    }
}

static void on_pub_event(const hamqtt_event *e, void *arg) {
    struct pull_sub *s = (struct pull_sub *)arg;
    if (e->kind == HAMQTT_EVENT_DELIVERY && e->delivery.id == s->async_id) {
        CHECK(e->delivery.status == HAMQTT_OK && e->delivery.reason_code == 0);
        CHECK(e->delivery.user == (void *)0x55);
        s->delivered++;
    }
    if (e->kind == HAMQTT_EVENT_MESSAGE) {
        /* published by this client on its no-local subscription: never comes back */
        CHECK(strncmp(e->message.topic, "v5/nl/", 6) != 0);
        if (strcmp(e->message.topic, "v5/mark") == 0) s->mark_seen = 1;
    }
}

/* The options of the MQTT 5 clients of these tests. */
static void v5_options(hamqtt_options *o, const char *name, const char *client_id) {
    test_options(o, name);
    o->protocol_version = 5;
    o->client_id = client_id;
    o->message_ids = HAMQTT_MESSAGE_IDS_ALWAYS; /* the stamp must never reach the application */
    o->receive_maximum = 100;
    o->topic_alias_maximum = 10;
    o->session_expiry_ms = 0;
}

static hamqtt_client v5_client(const char *uris, const char *name, const char *client_id) {
    hamqtt_options o;
    hamqtt_client c = 0;
    v5_options(&o, name, client_id);
    CHECK_OK(hamqtt_client_new(uris, &o, &c));
    return c;
}

void test_mqtt5_messages(void) {
    brokers b;
    hamqtt_client pub, sub, psub, old;
    hamqtt_props *p = hamqtt_props_new(), *cp = NULL, *empty = hamqtt_props_new();
    hamqtt_sub_options so = HAMQTT_SUB_OPTIONS_INIT;
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
    struct pull_sub ss, ps;
    static struct push_sub pushs;
    const char *s;
    size_t n;
    uint32_t v;
    int rc_code = -1;

    memset(&ss, 0, sizeof ss);
    memset(&ps, 0, sizeof ps);
    atomic_store(&pushs.props_seen, 0);
    brokers_start(&b, 1);
    pub = v5_client(brokers_uris(&b, 1), "v5pub", "v5-pub-client");
    sub = v5_client(brokers_uris(&b, 1), "v5sub", NULL);
    psub = v5_client(brokers_uris(&b, 1), "v5push", NULL);
    set_message_props(p);

    /* subscriptions with options, before connect (made at connect with their options) */
    so.subscription_id = 7;
    CHECK_OK(hamqtt_subscribe_opts(sub, "v5/props/#", 2, &so, &rc_code));
    CHECK(rc_code == 2);
    CHECK_OK(hamqtt_connect(sub));
    so.subscription_id = 9;
    CHECK_OK(hamqtt_subscribe_opts(sub, "v5/nl/#", 1, &so, &rc_code));
    CHECK(rc_code == 1);
    CHECK_OK(hamqtt_subscribe_opts(sub, "v5/plain", 1, NULL, NULL));
    so.subscription_id = 0;
    so.retain_handling = 3;
    CHECK_ERR(hamqtt_subscribe_opts(sub, "v5/x", 1, &so, NULL), HAMQTT_ERR_INVALID, "retain_handling");
    so.retain_handling = 0;
    so.no_local = 1;
    CHECK_ERR(hamqtt_subscribe_opts(sub, "$share/g/v5/x", 1, &so, NULL), HAMQTT_ERR_INVALID, "shared");
    so.struct_size = 4;
    CHECK_ERR(hamqtt_subscribe_opts(sub, "v5/x", 1, &so, NULL), HAMQTT_ERR_INVALID, "HAMQTT_SUB_OPTIONS_INIT");
    so.struct_size = sizeof so;

    /* the publisher does not get its own messages on a no-local subscription */
    CHECK_OK(hamqtt_connect(pub));
    /* its CONNACK is readable at once, before any event was polled */
    CHECK_OK(hamqtt_connack_props(pub, NULL, &cp));
    hamqtt_props_free(cp);
    cp = NULL;
    CHECK_OK(hamqtt_subscribe_opts(pub, "v5/nl/#", 1, &so, NULL));
    CHECK_OK(hamqtt_subscribe_opts(pub, "v5/mark", 1, NULL, NULL));

    cbs.on_message = on_push_message;
    cbs.user = &pushs;
    CHECK_OK(hamqtt_set_callbacks(psub, &cbs));
    CHECK_OK(hamqtt_subscribe_opts(psub, "v5/props/#", 1, NULL, NULL));
    CHECK_OK(hamqtt_connect(psub));

    /* every message property, through each publish function */
    CHECK_OK(hamqtt_publish_props(pub, "v5/props/1", "one", 3, 1, 0, p));
    CHECK_OK(hamqtt_publish_async_props(pub, "v5/props/2", "two", 3, 2, 0, p, (void *)0x55, &ps.async_id));
    CHECK_OK(hamqtt_publish_detached_props(pub, "v5/props/0", "zero", 4, 0, 0, p));
    CHECK_OK(hamqtt_publish_props(pub, "v5/plain", "x", 1, 1, 0, empty)); /* empty: as none */
    CHECK_OK(hamqtt_publish_props(pub, "v5/nl/x", "own", 3, 1, 0, NULL));
    CHECK_OK(hamqtt_publish_props(pub, "v5/mark", "m", 1, 1, 0, NULL));
    pump(sub, on_sub_event, sub_done, &ss);       /* others get the no-local message ... */
    pump(pub, on_pub_event, pub_done, &ps);       /* ... its publisher does not: the marker
                                                     published after it comes alone */
    {
        int64_t deadline = now_ms() + 10000 * test_scale();
        while (atomic_load(&pushs.props_seen) < 3 && now_ms() < deadline) sleep_ms(5);
        CHECK(atomic_load(&pushs.props_seen) == 3);
    }

    /* CONNACK properties: the generated client id as the assigned one; none assigned when the
     * application named itself */
    CHECK(ss.up >= 1);
    CHECK_OK(hamqtt_connack_props(sub, NULL, &cp));
    CHECK_OK(hamqtt_props_get_string(cp, HAMQTT_PROP_ASSIGNED_CLIENT_ID, &s, &n));
    CHECK(strncmp(s, "hamqtt-v5sub-", 13) == 0 && n == strlen(s));
    CHECK_OK(hamqtt_props_get_int(cp, HAMQTT_PROP_TOPIC_ALIAS_MAXIMUM, &v)); /* Mosquitto's 10 */
    CHECK(v > 0);
    hamqtt_props_free(cp);
    cp = NULL;
    CHECK_OK(hamqtt_connack_props(pub, "v5pub-1", &cp));
    CHECK_RC(hamqtt_props_get_string(cp, HAMQTT_PROP_ASSIGNED_CLIENT_ID, &s, &n), HAMQTT_ERR_NOT_FOUND);
    hamqtt_props_free(cp);
    CHECK_ERR(hamqtt_connack_props(pub, "nosuch", &cp), HAMQTT_ERR_NOT_FOUND, "not live");
    CHECK(cp == NULL);
    CHECK_RC(hamqtt_connack_props(pub, NULL, NULL), HAMQTT_ERR_INVALID);

    /* a client speaking MQTT 3.1.1 refuses what it cannot send, and takes an empty list */
    old = test_client(brokers_uris(&b, 1), "v311", HAMQTT_PUBLISHER_STICKY, 0);
    CHECK_OK(hamqtt_connect(old));
    CHECK_ERR(hamqtt_publish_props(old, "v5/plain", "x", 1, 1, 0, p), HAMQTT_ERR_INVALID, "3.1.1");
    CHECK_ERR(hamqtt_publish_async_props(old, "v5/plain", "x", 1, 1, 0, p, NULL, NULL), HAMQTT_ERR_INVALID, "3.1.1");
    CHECK_ERR(hamqtt_publish_detached_props(old, "v5/plain", "x", 1, 1, 0, p), HAMQTT_ERR_INVALID, "3.1.1");
    CHECK_OK(hamqtt_publish_props(old, "v5/plain", "x", 1, 1, 0, empty));
    CHECK_OK(hamqtt_publish_props(old, "v5/plain", "x", 1, 1, 0, NULL));
    CHECK_ERR(hamqtt_subscribe_opts(old, "v5/nl/#", 1, &so, NULL), HAMQTT_ERR_INVALID, "3.1.1");
    CHECK_ERR(hamqtt_connack_props(old, NULL, &cp), HAMQTT_ERR_NOT_FOUND, "3.1.1");
    CHECK_OK(hamqtt_close(old));
    {
        hamqtt_options o;
        test_options(&o, "v311will");
        o.will_topic = "v5/will";
        o.will_props = p;
        CHECK_ERR(hamqtt_client_new(brokers_uris(&b, 1), &o, &old), HAMQTT_ERR_CONFIG, "will_props");
        o.protocol_version = 5; /* ... which MQTT 5 takes */
        CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), &o, &old));
        CHECK_OK(hamqtt_close(old));
        o.protocol_version = 7;
        CHECK_ERR(hamqtt_client_new(brokers_uris(&b, 1), &o, &old), HAMQTT_ERR_CONFIG, "protocol_version");
        o.protocol_version = 5;
        o.connect_props = p; /* only user properties */
        CHECK_ERR(hamqtt_client_new(brokers_uris(&b, 1), &o, &old), HAMQTT_ERR_CONFIG, "connect_props");
    }
    /* a user property name of the engine's own is refused */
    CHECK_OK(hamqtt_props_add_user(empty, "hamqtt-id", "x"));
    CHECK_ERR(hamqtt_publish_props(pub, "v5/plain", "x", 1, 1, 0, empty), HAMQTT_ERR_INVALID, "engine's own");

    CHECK_OK(hamqtt_close(psub));
    CHECK_OK(hamqtt_close(sub));
    CHECK_OK(hamqtt_close(pub));
    hamqtt_props_free(p);
    hamqtt_props_free(empty);
    brokers_quit(&b);
}

/* ------------------------------------------------------------------------------------------ */
/* a broker refuses a message with a reason code: that message fails, the client stays         */

/* A Mosquitto whose ACL lets anonymous clients use ok/# only, started here (brokerctl makes
 * brokers without an ACL) under a shell that kills it when its stdin closes: when this
 * process ends, however it ends, the broker ends too. */
struct acl_broker {
    pid_t pid; /* the shell */
    FILE *to;  /* its stdin */
    int port;
    char dir[64];
};

static int free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        FAILF("free port: %s", strerror(errno));
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int accepts(int port) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

static void acl_broker_start(struct acl_broker *ab) {
    static const char script[] = "exec >>\"$2\" 2>&1; \"$0\" -c \"$1\" & p=$!; read x; kill -9 $p; wait $p";
    const char *bin = getenv("HAMQTT_MOSQUITTO");
    char conf[128], acl[128], logf[128];
    char *argv[7];
    posix_spawn_file_actions_t fa;
    int in[2];
    FILE *f;
    int64_t deadline;
    if (bin == NULL || *bin == 0) bin = access("/usr/sbin/mosquitto", X_OK) == 0 ? "/usr/sbin/mosquitto" : "mosquitto";
    snprintf(ab->dir, sizeof ab->dir, "/tmp/hamqtt-acl-XXXXXX");
    if (mkdtemp(ab->dir) == NULL) FAILF("mkdtemp: %s", strerror(errno));
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", ab->dir);
    snprintf(acl, sizeof acl, "%s/acl", ab->dir);
    snprintf(logf, sizeof logf, "%s/mosquitto.log", ab->dir);
    if ((f = fopen(acl, "w")) == NULL) FAILF("acl file: %s", strerror(errno));
    fputs("topic readwrite ok/#\n", f);
    fclose(f);
    ab->port = free_port();
    if ((f = fopen(conf, "w")) == NULL) FAILF("conf file: %s", strerror(errno));
    fprintf(f, "listener %d 127.0.0.1\nallow_anonymous true\nacl_file %s\npersistence false\n%s", ab->port, acl,
            geteuid() == 0 ? "user root\n" : "");
    fclose(f);
    if (pipe2(in, O_CLOEXEC) != 0) FAILF("pipe: %s", strerror(errno));
    argv[0] = (char *)"sh";
    argv[1] = (char *)"-c";
    argv[2] = (char *)script;
    argv[3] = (char *)bin;
    argv[4] = conf;
    argv[5] = logf;
    argv[6] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    if (posix_spawn(&ab->pid, "/bin/sh", &fa, NULL, argv, environ) != 0) FAILF("cannot start %s", bin);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    ab->to = fdopen(in[1], "w");
    deadline = now_ms() + 10000;
    while (!accepts(ab->port)) {
        if (now_ms() > deadline || waitpid(ab->pid, NULL, WNOHANG) == ab->pid) FAILF("mosquitto with an ACL did not start (see %s)", logf);
        sleep_ms(10);
    }
}

static void acl_broker_stop(struct acl_broker *ab) {
    char path[128];
    fclose(ab->to); /* the shell kills the broker */
    waitpid(ab->pid, NULL, 0);
    snprintf(path, sizeof path, "%s/mosquitto.conf", ab->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/acl", ab->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/mosquitto.log", ab->dir);
    unlink(path);
    rmdir(ab->dir);
}

struct refused {
    uint64_t id;
    int done;
};

static void on_refused_event(const hamqtt_event *e, void *arg) {
    struct refused *r = (struct refused *)arg;
    if (e->kind != HAMQTT_EVENT_DELIVERY || e->delivery.id != r->id) return;
    CHECK(e->delivery.status == HAMQTT_ERR_REFUSED);
    CHECK(e->delivery.reason_code == 0x87);
    CHECK(e->delivery.error != NULL && strstr(e->delivery.error, "0x87") != NULL);
    r->done = 1;
}

void test_mqtt5_refused(void) {
    struct acl_broker ab;
    char uri[64];
    hamqtt_client c;
    hamqtt_props *p = hamqtt_props_new();
    struct refused r = {0, 0};
    char **names;
    size_t n;
    int64_t deadline;

    acl_broker_start(&ab);
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", ab.port);
    c = v5_client(uri, "v5acl", NULL);
    CHECK_OK(hamqtt_connect(c));
    CHECK_OK(hamqtt_props_add_user(p, "k", "v"));

    CHECK_ERR(hamqtt_publish_props(c, "denied/x", "no", 2, 1, 0, p), HAMQTT_ERR_REFUSED, "0x87");
    CHECK(hamqtt_last_reason_code() == 0x87);
    CHECK_ERR(hamqtt_publish(c, "denied/y", "no", 2, 1, 0), HAMQTT_ERR_REFUSED, "PUBACK");
    CHECK(hamqtt_last_reason_code() == 0x87);
    /* QoS 2: the PUBREC's code, as the asynchronous outcome */
    CHECK_OK(hamqtt_publish_async_props(c, "denied/z", "no", 2, 2, 0, p, NULL, &r.id));
    deadline = now_ms() + 10000 * test_scale();
    while (!r.done && now_ms() < deadline) {
        hamqtt_event ev[8];
        size_t k, i;
        CHECK_OK(hamqtt_poll(c, ev, 8, 50, &k));
        for (i = 0; i < k; i++) on_refused_event(&ev[i], &r);
    }
    CHECK(r.done);
    /* a call that fails without a reason code resets it */
    CHECK_RC(hamqtt_publish_props(c, "denied/#", "no", 2, 1, 0, p), HAMQTT_ERR_TOPIC);
    CHECK(hamqtt_last_reason_code() == 0);

    /* the broker stays live: the refusals failed those messages only */
    CHECK_OK(hamqtt_live_endpoints(c, &names, &n));
    hamqtt_free(names);
    CHECK(n == 1);
    CHECK_OK(hamqtt_publish_props(c, "ok/x", "yes", 3, 1, 0, p));
    CHECK_OK(hamqtt_close(c));
    hamqtt_props_free(p);
    acl_broker_stop(&ab);
}

/* ------------------------------------------------------------------------------------------ */
/* reasons both ways: the broker's DISCONNECT in events, the client's in hamqtt_disconnect_props */

/* A stand-in for a broker that ends every session with a DISCONNECT carrying a reason code
 * (0x89 server busy and a reason string): Mosquitto 2.0 closes connections without one on
 * session takeover and shutdown, so the real broker cannot show this path. It answers each
 * CONNECT with a CONNACK, then sends the DISCONNECT and closes. */
struct busy_broker {
    int listen_fd, port;
    pthread_t thread;
    atomic_int sessions;
};

static void *busy_broker_run(void *arg) {
    struct busy_broker *bb = (struct busy_broker *)arg;
    static const unsigned char connack[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    static const unsigned char bye[] = {0xE0, 0x09, 0x89, 0x07, 0x1F, 0x00, 0x04, 'b', 'u', 's', 'y'};
    for (;;) {
        unsigned char buf[512];
        int fd = accept(bb->listen_fd, NULL, NULL);
        if (fd < 0) return NULL; /* the listener was shut down */
        if (read(fd, buf, sizeof buf) > 0 && write(fd, connack, sizeof connack) == (ssize_t)sizeof connack &&
            write(fd, bye, sizeof bye) == (ssize_t)sizeof bye)
            atomic_fetch_add(&bb->sessions, 1);
        close(fd);
    }
}

static void busy_broker_start(struct busy_broker *bb) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bb->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (bb->listen_fd < 0 || bind(bb->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(bb->listen_fd, 8) != 0 ||
        getsockname(bb->listen_fd, (struct sockaddr *)&a, &len) != 0)
        FAILF("busy broker: %s", strerror(errno));
    bb->port = ntohs(a.sin_port);
    atomic_store(&bb->sessions, 0);
    CHECK(pthread_create(&bb->thread, NULL, busy_broker_run, bb) == 0);
}

static void busy_broker_stop(struct busy_broker *bb) {
    shutdown(bb->listen_fd, SHUT_RDWR);
    pthread_join(bb->thread, NULL);
    close(bb->listen_fd);
}

struct reasons_seen {
    int down_code, will_seen, normal_will_seen, big_seen, small_seen, to_seen;
    uint64_t nobody_id;
    int nobody_code; /* -1 until its delivery came */
};

static void on_nobody_event(const hamqtt_event *e, void *arg) {
    struct reasons_seen *t = (struct reasons_seen *)arg;
    if (e->kind == HAMQTT_EVENT_DELIVERY && e->delivery.id == t->nobody_id) {
        CHECK(e->delivery.status == HAMQTT_OK && e->reason_code == e->delivery.reason_code);
        t->nobody_code = e->delivery.reason_code;
    }
}

static int nobody_done(void *arg) { return ((struct reasons_seen *)arg)->nobody_code >= 0; }

static void on_down_event(const hamqtt_event *e, void *arg) {
    struct reasons_seen *t = (struct reasons_seen *)arg;
    if (e->kind == HAMQTT_EVENT_ENDPOINT_DOWN && t->down_code == 0) {
        t->down_code = e->reason_code;
        CHECK(e->error != NULL && strstr(e->error, "busy") != NULL);
    }
}

static int down_seen(void *arg) { return ((struct reasons_seen *)arg)->down_code != 0; }

static atomic_int push_down_code;

static void on_push_down(void *user, hamqtt_client c, const char *endpoint, const char *reason) {
    (void)user, (void)c, (void)endpoint, (void)reason;
    if (atomic_load(&push_down_code) == 0) atomic_store(&push_down_code, hamqtt_last_reason_code());
}

static void on_will_event(const hamqtt_event *e, void *arg) {
    struct reasons_seen *t = (struct reasons_seen *)arg;
    if (e->kind != HAMQTT_EVENT_MESSAGE) return;
    if (strcmp(e->message.topic, "v5/will/with") == 0) t->will_seen++;
    if (strcmp(e->message.topic, "v5/will/normal") == 0) t->normal_will_seen++;
    if (strcmp(e->message.topic, "v5/will/big") == 0) t->big_seen++;
    if (strcmp(e->message.topic, "v5/will/small") == 0) t->small_seen++;
    if (strcmp(e->message.topic, "v5/will/to") == 0) {
        const char *k, *v;
        CHECK(e->message.props != NULL && hamqtt_props_user_count(e->message.props) == 1);
        CHECK_OK(hamqtt_props_user_at(e->message.props, 0, &k, &v));
        CHECK(strcmp(k, "via") == 0 && strcmp(v, "v5with-1") == 0);
        t->to_seen++;
    }
}

static int to_seen(void *arg) { return ((struct reasons_seen *)arg)->to_seen > 0; }

static int small_seen(void *arg) { return ((struct reasons_seen *)arg)->small_seen > 0; }

static int will_seen(void *arg) { return ((struct reasons_seen *)arg)->will_seen > 0; }

static hamqtt_client will_client(const char *uris, const char *name, const char *topic) {
    hamqtt_options o;
    hamqtt_client c = 0;
    v5_options(&o, name, NULL);
    o.will_topic = topic;
    o.will_payload = "gone";
    o.will_payload_len = 4;
    o.will_qos = 1;
    CHECK_OK(hamqtt_client_new(uris, &o, &c));
    return c;
}

void test_mqtt5_disconnect(void) {
    brokers b;
    struct busy_broker bb;
    hamqtt_client a, watcher, normal, with;
    hamqtt_callbacks cbs = HAMQTT_CALLBACKS_INIT;
    hamqtt_sub_options so = HAMQTT_SUB_OPTIONS_INIT;
    hamqtt_props *tags = hamqtt_props_new(), *bad = hamqtt_props_new(), *bye = hamqtt_props_new();
    struct reasons_seen t;
    char uri[64];
    int64_t deadline;

    memset(&t, 0, sizeof t);
    brokers_start(&b, 1);
    busy_broker_start(&bb);
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", bb.port);

    /* the broker's DISCONNECT reason code in a pull-mode event ... */
    a = v5_client(uri, "v5victim", NULL);
    CHECK_OK(hamqtt_connect_async(a));
    pump(a, on_down_event, down_seen, &t);
    CHECK(t.down_code == 0x89);
    CHECK_OK(hamqtt_close(a));

    /* ... and, in push mode, from hamqtt_last_reason_code() inside on_endpoint_down */
    atomic_store(&push_down_code, 0);
    a = v5_client(uri, "v5victim2", NULL);
    cbs.on_endpoint_down = on_push_down;
    CHECK_OK(hamqtt_set_callbacks(a, &cbs));
    CHECK_OK(hamqtt_connect_async(a));
    deadline = now_ms() + 10000 * test_scale();
    while (atomic_load(&push_down_code) == 0 && now_ms() < deadline) sleep_ms(5);
    CHECK(atomic_load(&push_down_code) == 0x89);
    CHECK_OK(hamqtt_close(a));
    busy_broker_stop(&bb);

    /* user properties in the SUBSCRIBE: accepted (the wire is checked by the Go tests), and
     * only user properties; the watcher takes packets of up to 256 bytes */
    {
        hamqtt_options o;
        v5_options(&o, "v5watch", NULL);
        o.max_packet_size = 8;
        CHECK_ERR(hamqtt_client_new(brokers_uris(&b, 1), &o, &watcher), HAMQTT_ERR_CONFIG, "max_packet_size");
        o.max_packet_size = 256;
        CHECK_OK(hamqtt_client_new(brokers_uris(&b, 1), &o, &watcher));
    }
    CHECK_OK(hamqtt_props_add_user(tags, "team", "ops"));
    so.props = tags;
    CHECK_OK(hamqtt_subscribe_opts(watcher, "v5/will/#", 1, &so, NULL));
    CHECK_OK(hamqtt_props_set_string(bad, HAMQTT_PROP_CONTENT_TYPE, "text/plain"));
    so.props = bad;
    CHECK_ERR(hamqtt_subscribe_opts(watcher, "v5/x", 1, &so, NULL), HAMQTT_ERR_INVALID, "only user properties");
    CHECK_OK(hamqtt_connect(watcher));

    /* the client's DISCONNECT: 0x04 has the broker publish the will, a normal one does not */
    normal = will_client(brokers_uris(&b, 1), "v5normal", "v5/will/normal");
    with = will_client(brokers_uris(&b, 1), "v5with", "v5/will/with");
    CHECK_OK(hamqtt_connect(normal));
    CHECK_OK(hamqtt_connect(with));
    CHECK_ERR(hamqtt_disconnect_props(with, 0x8E, NULL), HAMQTT_ERR_INVALID, "not one a client may send");
    CHECK_ERR(hamqtt_disconnect_props(with, 256, NULL), HAMQTT_ERR_INVALID, "not a byte");
    CHECK_ERR(hamqtt_disconnect_props(with, 0x04, bad), HAMQTT_ERR_INVALID, "cannot travel in a DISCONNECT");
    CHECK_OK(hamqtt_props_set_int(bye, HAMQTT_PROP_SESSION_EXPIRY, 60));
    CHECK_ERR(hamqtt_disconnect_props(with, 0x04, bye), HAMQTT_ERR_INVALID, "protocol error");
    CHECK_OK(hamqtt_publish(with, "v5/still", "x", 1, 1, 0)); /* refusals left it connected */
    hamqtt_props_free(bye);
    bye = hamqtt_props_new();
    CHECK_OK(hamqtt_props_set_string(bye, HAMQTT_PROP_REASON_STRING, "maintenance"));
    CHECK_OK(hamqtt_props_add_user(bye, "k", "v"));
    CHECK_OK(hamqtt_disconnect_props(normal, 0x00, bye));
    CHECK_OK(hamqtt_disconnect_props(with, 0x04, bye));
    pump(watcher, on_will_event, will_seen, &t);
    CHECK(t.will_seen == 1 && t.normal_will_seen == 0);
    /* the handle stays usable, as after hamqtt_disconnect(); a message larger than the
     * watcher's Maximum Packet Size is not forwarded to it, the next one is */
    CHECK_OK(hamqtt_connect(with));
    {
        static char big[1000];
        memset(big, 'b', sizeof big);
        CHECK_OK(hamqtt_publish(with, "v5/will/big", big, sizeof big, 1, 0));
        CHECK_OK(hamqtt_publish(with, "v5/will/small", "s", 1, 1, 0));
        pump(watcher, on_will_event, small_seen, &t);
        CHECK(t.big_seen == 0);
    }
    /* properties through hamqtt_publish_to_props */
    hamqtt_props_free(bye);
    bye = hamqtt_props_new();
    CHECK_OK(hamqtt_props_add_user(bye, "via", "v5with-1"));
    CHECK_OK(hamqtt_publish_to_props(with, "v5with-1", "v5/will/to", "t", 1, 1, 0, bye));
    {
        hamqtt_props *own = hamqtt_props_new();
        CHECK_OK(hamqtt_props_add_user(own, "hamqtt-id", "forged"));
        CHECK_ERR(hamqtt_publish_to_props(with, "v5with-1", "v5/will/to", "t", 1, 1, 0, own), HAMQTT_ERR_INVALID, "engine's own");
        hamqtt_props_free(own);
    }
    pump(watcher, on_will_event, to_seen, &t);
    /* a broker's success reason code: 0x10, nobody subscribed to the topic */
    t.nobody_code = -1;
    CHECK_OK(hamqtt_publish_async(with, "v5/nobody/listens", "n", 1, 1, 0, NULL, NULL, &t.nobody_id));
    pump(with, on_nobody_event, nobody_done, &t);
    CHECK(t.nobody_code == 0x10);
    /* user properties in the UNSUBSCRIBE, and only those */
    CHECK_ERR(hamqtt_unsubscribe_props(watcher, "v5/will/#", bad), HAMQTT_ERR_INVALID, "only user properties");
    CHECK_OK(hamqtt_unsubscribe_props(watcher, "v5/will/#", tags));
    CHECK_RC(hamqtt_unsubscribe_props(watcher, "v5/will/#", tags), HAMQTT_ERR_NOT_FOUND);

    CHECK_OK(hamqtt_close(with));
    CHECK_OK(hamqtt_close(normal));
    CHECK_OK(hamqtt_close(watcher));
    hamqtt_props_free(tags);
    hamqtt_props_free(bad);
    hamqtt_props_free(bye);
    brokers_quit(&b);
}
