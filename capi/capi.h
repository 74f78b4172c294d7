/* Internal declarations shared by the Go files of capi and hamqtt_capi.c. Not installed. */
#ifndef HQCAPI_H
#define HQCAPI_H

#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include "hamqtt.h"

/* hamqtt.h maps hamqtt_poll() to hamqtt_poll_sized() for the programs it is compiled into; here
 * (and in cgo's declarations of the exports, which include this file) it names the exported
 * function itself. */
#undef hamqtt_poll

/* const-qualified aliases so cgo's generated prototypes match hamqtt.h exactly. */
typedef const char hqcapi_cchar;
typedef const void hqcapi_cvoid;
typedef const hamqtt_options hqcapi_coptions;
typedef const hamqtt_callbacks hqcapi_ccallbacks;
typedef const hamqtt_props hqcapi_cprops;
typedef const hamqtt_sub_options hqcapi_csub_options;

/* sizeof(hamqtt_options) of the first release: the library accepts any struct_size from here
 * on and reads an appended field only when struct_size covers it. */
#define HQCAPI_OPTIONS_V1_SIZE offsetof(hamqtt_options, share_connections)
static inline size_t hqcapi_options_v1_size(void) { return HQCAPI_OPTIONS_V1_SIZE; }
static inline size_t hqcapi_options_has_share(const hamqtt_options *o) {
    return o->struct_size >= offsetof(hamqtt_options, share_connections) + sizeof o->share_connections;
}
static inline size_t hqcapi_options_has_pem(const hamqtt_options *o) {
    return o->struct_size >= offsetof(hamqtt_options, tls_key_pem) + sizeof o->tls_key_pem;
}
static inline size_t hqcapi_options_has_ack_quorum(const hamqtt_options *o) {
    return o->struct_size >= offsetof(hamqtt_options, ack_quorum) + sizeof o->ack_quorum;
}
static inline size_t hqcapi_options_has_skip_hostname(const hamqtt_options *o) {
    return o->struct_size >= offsetof(hamqtt_options, tls_skip_hostname_check) + sizeof o->tls_skip_hostname_check;
}
static inline size_t hqcapi_options_has_outbox(const hamqtt_options *o) {
    return o->struct_size >= offsetof(hamqtt_options, outbox_expiry_ms) + sizeof o->outbox_expiry_ms;
}

static inline size_t hqcapi_options_has_v5(const hamqtt_options *o) {
    return o->struct_size >= offsetof(hamqtt_options, will_delay_ms) + sizeof o->will_delay_ms;
}
static inline size_t hqcapi_options_has_max_packet(const hamqtt_options *o) {
    return o->struct_size >= offsetof(hamqtt_options, max_packet_size) + sizeof o->max_packet_size;
}

/* The event layout of 0.4.0 and before (0.1 to 0.4 have the same one), exactly as its hamqtt.h
 * declared hamqtt_message, hamqtt_delivery and hamqtt_event. 0.5 appended props to
 * hamqtt_message and reason_code to hamqtt_delivery, both embedded in hamqtt_event, so an
 * application built with an older header has smaller events: hamqtt_poll writes this layout
 * into its array (see hqcapi_events_out). Never change these. */
typedef struct hqcapi_message_v04 {
    const char *topic;
    size_t topic_len;
    const void *payload;
    size_t payload_len;
    int qos;
    int retained;
    int duplicate;
    const char *endpoint;
} hqcapi_message_v04;

typedef struct hqcapi_delivery_v04 {
    uint64_t id;
    const char *topic;
    int status;
    const char *error;
    const char *endpoints;
    void *user;
} hqcapi_delivery_v04;

typedef struct hqcapi_event_v04 {
    int kind;
    int status;
    const char *endpoint;
    const char *error;
    int64_t time_unix_ns;
    hqcapi_message_v04 message;
    hqcapi_delivery_v04 delivery;
} hqcapi_event_v04;

/* The current structs only appended fields to the 0.4 ones. */
#define HQCAPI_SAME_OFFSET(cur, old, f) (offsetof(cur, f) == offsetof(old, f))
/* (A field appended may sit in the old struct's tail padding, as reason_code does on 32-bit
 * targets: the old code never reads that.) */
_Static_assert(HQCAPI_SAME_OFFSET(hamqtt_message, hqcapi_message_v04, endpoint) &&
                   offsetof(hamqtt_message, props) >= offsetof(hqcapi_message_v04, endpoint) + sizeof(const char *),
               "hamqtt_message must extend the 0.4 layout");
_Static_assert(HQCAPI_SAME_OFFSET(hamqtt_delivery, hqcapi_delivery_v04, user) &&
                   offsetof(hamqtt_delivery, reason_code) >= offsetof(hqcapi_delivery_v04, user) + sizeof(void *),
               "hamqtt_delivery must extend the 0.4 layout");
_Static_assert(HQCAPI_SAME_OFFSET(hamqtt_event, hqcapi_event_v04, time_unix_ns) &&
                   HQCAPI_SAME_OFFSET(hamqtt_event, hqcapi_event_v04, message),
               "hamqtt_event must start as the 0.4 layout");
_Static_assert(sizeof(hqcapi_event_v04) < sizeof(hamqtt_event),
               "the 0.4 and current events must differ in size (hamqtt_poll_sized tells them apart by it)");

/* Event sizes hamqtt_poll_sized accepts: the 0.4 one, and the current one or more (a newer
 * header's event starts with the current layout). */
#define HQCAPI_EVENT_V04_SIZE sizeof(hqcapi_event_v04)
#define HQCAPI_EVENT_SIZE sizeof(hamqtt_event)

/* Copies n events of the current layout (src) into the application's array dst, whose
 * elements are `stride` bytes: HQCAPI_EVENT_V04_SIZE writes the 0.4 layout, a stride of
 * HQCAPI_EVENT_SIZE or more the current one followed by zeros. */
void hqcapi_events_out(void *dst, size_t stride, const hamqtt_event *src, size_t n);

/* struct hamqtt_props (opaque in hamqtt.h). Single-valued properties sit in slots (an integer
 * or a byte string each, hqcapi_prop_slot), present when their bit (1 << id) is set. A list the
 * library hands over with a message (owned 0) lives in the library's event memory: its strings
 * and arrays point there and hamqtt_props_free ignores it. An owned list (hamqtt_props_new)
 * holds malloc'd copies. Strings are NUL-terminated, binary data too (not counted in len). */
typedef struct hqcapi_bytes {
    const char *p;
    size_t len;
} hqcapi_bytes;

typedef struct hqcapi_pair {
    hqcapi_bytes key, value;
} hqcapi_pair;

#define HQCAPI_PROP_INTS 12
#define HQCAPI_PROP_STRS 7

struct hamqtt_props {
    uint64_t present;
    int owned;
    uint32_t ints[HQCAPI_PROP_INTS];
    hqcapi_bytes strs[HQCAPI_PROP_STRS];
    hqcapi_pair *user;
    size_t nuser, capuser;
    uint32_t *subids;
    size_t nsubids, capsubids;
};

/* Kinds of property (hqcapi_prop_kind). */
enum { HQCAPI_KIND_NONE = 0, HQCAPI_KIND_INT, HQCAPI_KIND_STR, HQCAPI_KIND_BIN, HQCAPI_KIND_SUBID, HQCAPI_KIND_USER };

/* The kind of property id and its slot in ints or strs (-1 for the lists and unknown ids). */
static inline int hqcapi_prop_kind(int id) {
    switch (id) {
    case HAMQTT_PROP_PAYLOAD_FORMAT: case HAMQTT_PROP_MESSAGE_EXPIRY: case HAMQTT_PROP_SESSION_EXPIRY:
    case HAMQTT_PROP_SERVER_KEEP_ALIVE: case HAMQTT_PROP_RECEIVE_MAXIMUM: case HAMQTT_PROP_TOPIC_ALIAS_MAXIMUM:
    case HAMQTT_PROP_MAXIMUM_QOS: case HAMQTT_PROP_RETAIN_AVAILABLE: case HAMQTT_PROP_MAXIMUM_PACKET_SIZE:
    case HAMQTT_PROP_WILDCARD_SUB_AVAILABLE: case HAMQTT_PROP_SUB_ID_AVAILABLE: case HAMQTT_PROP_SHARED_SUB_AVAILABLE:
        return HQCAPI_KIND_INT;
    case HAMQTT_PROP_CONTENT_TYPE: case HAMQTT_PROP_RESPONSE_TOPIC: case HAMQTT_PROP_ASSIGNED_CLIENT_ID:
    case HAMQTT_PROP_RESPONSE_INFO: case HAMQTT_PROP_SERVER_REFERENCE: case HAMQTT_PROP_REASON_STRING:
        return HQCAPI_KIND_STR;
    case HAMQTT_PROP_CORRELATION_DATA:
        return HQCAPI_KIND_BIN;
    case HAMQTT_PROP_SUBSCRIPTION_ID:
        return HQCAPI_KIND_SUBID;
    case HAMQTT_PROP_USER:
        return HQCAPI_KIND_USER;
    }
    return HQCAPI_KIND_NONE;
}

static inline int hqcapi_prop_slot(int id) {
    switch (id) {
    case HAMQTT_PROP_PAYLOAD_FORMAT: return 0;
    case HAMQTT_PROP_MESSAGE_EXPIRY: return 1;
    case HAMQTT_PROP_SESSION_EXPIRY: return 2;
    case HAMQTT_PROP_SERVER_KEEP_ALIVE: return 3;
    case HAMQTT_PROP_RECEIVE_MAXIMUM: return 4;
    case HAMQTT_PROP_TOPIC_ALIAS_MAXIMUM: return 5;
    case HAMQTT_PROP_MAXIMUM_QOS: return 6;
    case HAMQTT_PROP_RETAIN_AVAILABLE: return 7;
    case HAMQTT_PROP_MAXIMUM_PACKET_SIZE: return 8;
    case HAMQTT_PROP_WILDCARD_SUB_AVAILABLE: return 9;
    case HAMQTT_PROP_SUB_ID_AVAILABLE: return 10;
    case HAMQTT_PROP_SHARED_SUB_AVAILABLE: return 11;
    case HAMQTT_PROP_CONTENT_TYPE: return 0;
    case HAMQTT_PROP_RESPONSE_TOPIC: return 1;
    case HAMQTT_PROP_CORRELATION_DATA: return 2;
    case HAMQTT_PROP_ASSIGNED_CLIENT_ID: return 3;
    case HAMQTT_PROP_RESPONSE_INFO: return 4;
    case HAMQTT_PROP_SERVER_REFERENCE: return 5;
    case HAMQTT_PROP_REASON_STRING: return 6;
    }
    return -1;
}

/* Building an owned list without the checks of the public setters (read-only ids allowed):
 * the library's own lists (hamqtt_connack_props, hamqtt_props_decode). 0 or an error code. */
int hqcapi_props_put_int(hamqtt_props *p, int id, uint32_t v);
int hqcapi_props_put_bytes(hamqtt_props *p, int id, const void *data, size_t len);
int hqcapi_props_put_user(hamqtt_props *p, const char *key, size_t klen, const char *value, size_t vlen);
int hqcapi_props_put_subid(hamqtt_props *p, uint32_t v);
/* Whether s (n bytes) is a string MQTT allows: well-formed UTF-8 without U+0000. */
int hqcapi_valid_utf8(const char *s, size_t n);

/* The MQTT 5 reason code of the thread's last failure (hamqtt_last_reason_code). */
void hqcapi_set_reason(int code);
int hqcapi_get_reason(void);

/* Thread-local error text (hamqtt_last_error). */
void hqcapi_set_error(const char *msg, size_t len);
const char *hqcapi_get_error(void);

/* Tells valgrind's memcheck that memory filled from Go is defined (no-op outside valgrind). */
void hqcapi_mark_defined(const void *p, size_t n);

/* The client whose callback runs on this thread (0: none). */
hamqtt_client hqcapi_callback_client(void);

/* Trampolines: Go cannot call C function pointers, so it calls these. Each marks the thread as
 * running a callback of `c` for the duration of the call; those with a reason_code make it what
 * hamqtt_last_reason_code() gives in the callback. */
void hqcapi_call_message(hamqtt_message_cb cb, void *user, hamqtt_client c, const char *topic, size_t topic_len,
                         const void *payload, size_t payload_len, int qos, int retained, int dup,
                         const char *endpoint, const hamqtt_props *props);
void hqcapi_call_endpoint(hamqtt_endpoint_cb cb, void *user, hamqtt_client c, const char *endpoint,
                          const char *reason, int reason_code);
void hqcapi_call_delivery(hamqtt_delivery_cb cb, void *user, hamqtt_client c, uint64_t id, const char *topic,
                          int status, const char *error, const char *endpoints, void *duser, int reason_code);
void hqcapi_call_error(hamqtt_error_cb cb, void *user, hamqtt_client c, int status, const char *error,
                       int reason_code);
void hqcapi_call_log(hamqtt_log_cb cb, void *user, hamqtt_client c, int level, const char *line);

#endif
