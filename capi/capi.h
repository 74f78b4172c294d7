/* Internal declarations shared by the Go files of capi and hamqtt_capi.c. Not installed. */
#ifndef HQCAPI_H
#define HQCAPI_H

#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include "hamqtt.h"

/* const-qualified aliases so cgo's generated prototypes match hamqtt.h exactly. */
typedef const char hqcapi_cchar;
typedef const void hqcapi_cvoid;
typedef const hamqtt_options hqcapi_coptions;
typedef const hamqtt_callbacks hqcapi_ccallbacks;

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

/* Thread-local error text (hamqtt_last_error). */
void hqcapi_set_error(const char *msg, size_t len);
const char *hqcapi_get_error(void);

/* Tells valgrind's memcheck that memory filled from Go is defined (no-op outside valgrind). */
void hqcapi_mark_defined(const void *p, size_t n);

/* The client whose callback runs on this thread (0: none). */
hamqtt_client hqcapi_callback_client(void);

/* Trampolines: Go cannot call C function pointers, so it calls these. Each marks the thread as
 * running a callback of `c` for the duration of the call. */
void hqcapi_call_message(hamqtt_message_cb cb, void *user, hamqtt_client c, const char *topic, size_t topic_len,
                         const void *payload, size_t payload_len, int qos, int retained, int dup,
                         const char *endpoint);
void hqcapi_call_endpoint(hamqtt_endpoint_cb cb, void *user, hamqtt_client c, const char *endpoint,
                          const char *reason);
void hqcapi_call_delivery(hamqtt_delivery_cb cb, void *user, hamqtt_client c, uint64_t id, const char *topic,
                          int status, const char *error, const char *endpoints, void *duser);
void hqcapi_call_error(hamqtt_error_cb cb, void *user, hamqtt_client c, int status, const char *error);
void hqcapi_call_log(hamqtt_log_cb cb, void *user, hamqtt_client c, int level, const char *line);

#endif
