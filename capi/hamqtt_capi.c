/* C half of the capi package: thread-local state and the callback trampolines. Helpers are
 * named hqcapi_* so the linker version script (hamqtt_* only) keeps them private. */
#include <pthread.h>
#include "capi.h"

/* Memory the library hands to C is filled by Go code from Go memory, whose state valgrind's
 * memcheck cannot follow (Go switches and reuses goroutine stacks), so it would flag the
 * host's use of perfectly defined bytes. Client requests tell it they are defined; outside
 * valgrind they cost a few instructions. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HQ_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef HQ_DEFINED
#define HQ_DEFINED(p, n) ((void)(p), (void)(n))
#endif

void hqcapi_mark_defined(const void *p, size_t n) {
    if (p != NULL && n > 0) HQ_DEFINED(p, n);
}

static void mark_str(const char *s) {
    if (s != NULL) HQ_DEFINED(s, strlen(s) + 1);
}

/* The last error is kept under a pthread key so its string is freed when the thread exits. */
static pthread_key_t err_key;
static pthread_once_t err_once = PTHREAD_ONCE_INIT;

static void err_make_key(void) { (void)pthread_key_create(&err_key, free); }

void hqcapi_set_error(const char *msg, size_t len) {
    char *s, *old;
    (void)pthread_once(&err_once, err_make_key);
    s = (char *)malloc(len + 1);
    if (s == NULL) return; /* keep the previous text rather than lose the thread's state */
    memcpy(s, msg, len);
    s[len] = 0;
    HQ_DEFINED(s, len + 1);
    old = (char *)pthread_getspecific(err_key);
    (void)pthread_setspecific(err_key, s);
    free(old);
}

const char *hqcapi_get_error(void) {
    const char *s;
    (void)pthread_once(&err_once, err_make_key);
    s = (const char *)pthread_getspecific(err_key);
    return s ? s : "";
}

static _Thread_local int last_reason;

void hqcapi_set_reason(int code) { last_reason = code; }
int hqcapi_get_reason(void) { return last_reason; }

static _Thread_local hamqtt_client cb_client;

hamqtt_client hqcapi_callback_client(void) { return cb_client; }

void hqcapi_call_message(hamqtt_message_cb cb, void *user, hamqtt_client c, const char *topic, size_t topic_len,
                         const void *payload, size_t payload_len, int qos, int retained, int dup,
                         const char *endpoint, const hamqtt_props *props) {
    hamqtt_message m;
    hamqtt_client prev = cb_client;
    m.topic = topic;
    m.topic_len = topic_len;
    m.payload = payload_len ? payload : NULL;
    m.payload_len = payload_len;
    m.qos = qos;
    m.retained = retained;
    m.duplicate = dup;
    m.endpoint = endpoint;
    m.props = props;
    if (topic != NULL) HQ_DEFINED(topic, topic_len + 1);
    if (payload_len) HQ_DEFINED(payload, payload_len);
    mark_str(endpoint);
    cb_client = c;
    cb(user, c, &m);
    cb_client = prev;
}

void hqcapi_call_endpoint(hamqtt_endpoint_cb cb, void *user, hamqtt_client c, const char *endpoint,
                          const char *reason, int reason_code) {
    hamqtt_client prev = cb_client;
    mark_str(endpoint);
    mark_str(reason);
    last_reason = reason_code;
    cb_client = c;
    cb(user, c, endpoint, reason);
    cb_client = prev;
}

void hqcapi_call_delivery(hamqtt_delivery_cb cb, void *user, hamqtt_client c, uint64_t id, const char *topic,
                          int status, const char *error, const char *endpoints, void *duser, int reason_code) {
    hamqtt_delivery d;
    hamqtt_client prev = cb_client;
    d.id = id;
    d.topic = topic;
    d.status = status;
    d.error = error;
    d.endpoints = endpoints;
    d.user = duser;
    d.reason_code = reason_code;
    mark_str(topic);
    mark_str(error);
    mark_str(endpoints);
    cb_client = c;
    cb(user, c, &d);
    cb_client = prev;
}

void hqcapi_call_error(hamqtt_error_cb cb, void *user, hamqtt_client c, int status, const char *error,
                       int reason_code) {
    hamqtt_client prev = cb_client;
    mark_str(error);
    last_reason = reason_code;
    cb_client = c;
    cb(user, c, status, error);
    cb_client = prev;
}

void hqcapi_call_log(hamqtt_log_cb cb, void *user, hamqtt_client c, int level, const char *line) {
    hamqtt_client prev = cb_client;
    mark_str(line);
    cb_client = c;
    cb(user, c, level, line);
    cb_client = prev;
}

void hqcapi_events_out(void *dst, size_t stride, const hamqtt_event *src, size_t n) {
    size_t i;
    char *out = (char *)dst;
    for (i = 0; i < n; i++, out += stride) {
        const hamqtt_event *e = &src[i];
        if (stride == HQCAPI_EVENT_V04_SIZE) {
            hqcapi_event_v04 *o = (hqcapi_event_v04 *)out;
            memset(o, 0, sizeof *o);
            o->kind = e->kind;
            o->status = e->status;
            o->endpoint = e->endpoint;
            o->error = e->error;
            o->time_unix_ns = e->time_unix_ns;
            o->message.topic = e->message.topic;
            o->message.topic_len = e->message.topic_len;
            o->message.payload = e->message.payload;
            o->message.payload_len = e->message.payload_len;
            o->message.qos = e->message.qos;
            o->message.retained = e->message.retained;
            o->message.duplicate = e->message.duplicate;
            o->message.endpoint = e->message.endpoint;
            o->delivery.id = e->delivery.id;
            o->delivery.topic = e->delivery.topic;
            o->delivery.status = e->delivery.status;
            o->delivery.error = e->delivery.error;
            o->delivery.endpoints = e->delivery.endpoints;
            o->delivery.user = e->delivery.user;
        } else {
            memcpy(out, e, sizeof *e);
            memset(out + sizeof *e, 0, stride - sizeof *e);
        }
    }
    if (n > 0) HQ_DEFINED(dst, n * stride);
}
