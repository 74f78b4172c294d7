/*
 * hamqtt.h - the C API of hamqtt, an HA MQTT client that clusters independent
 * brokers from the client side (a "virtual cluster").
 *
 * Link with -lhamqtt (pkg-config: hamqtt; CMake: find_package(hamqtt) and the
 * target hamqtt::hamqtt). The library is the hamqtt Go engine built with
 * `go build -buildmode=c-shared`; this header is the whole public interface.
 *
 * CONVENTIONS
 *
 *   Status codes  Every function that can fail returns an int: HAMQTT_OK (0)
 *                 on success, a negative HAMQTT_ERR_* code on failure.
 *                 hamqtt_strerror(code) gives static text for a code and
 *                 hamqtt_last_error() the detail of the calling thread's last
 *                 failure ("publish: topic \"a/+\" contains a wildcard ...").
 *                 One positive code exists: HAMQTT_STORED, which the publish
 *                 functions of a client with an outbox return for a message
 *                 the outbox holds but no broker acknowledged yet. It is not
 *                 a failure: test `rc < 0` for failures (see "Outbox" below).
 *
 *   Handles       A client is an opaque 64-bit integer (hamqtt_client). 0 is
 *                 never a valid handle and ids are never reused, so a stale or
 *                 double-closed handle returns HAMQTT_ERR_HANDLE instead of
 *                 touching freed memory.
 *
 *   Memory        Inputs (strings, payloads, option structs) are copied or only
 *                 read during the call; the caller keeps ownership. Whatever the
 *                 library returns that must be freed is freed with
 *                 hamqtt_free() (never free(): the allocator may differ). Data
 *                 handed to a callback is valid only during the callback: copy
 *                 what you keep. Strings are UTF-8 and NUL-terminated; topics
 *                 and filters must be valid UTF-8 (MQTT 3.1.1 section 1.5.3).
 *
 *   Threads       Every function may be called from any thread, concurrently,
 *                 unless its comment says otherwise.
 *
 *   Events        Events (messages, endpoint up/down, delivery outcomes of
 *                 asynchronous publishes, errors) reach the application in one
 *                 of two ways per client:
 *                 - pull (the initial mode): hamqtt_poll() drains a batch of
 *                   events on the caller's thread; hamqtt_event_fd() gives a
 *                   descriptor that is readable while events wait, for epoll,
 *                   poll(2), asyncio or libuv loops (one descriptor for the
 *                   life of the client; docs/c-event-loop.md shows a loop);
 *                 - push: callbacks called on a library thread (one per client,
 *                   so one client's callbacks never run concurrently and arrive
 *                   in event order), never while the library holds a lock, so a
 *                   callback may call any hamqtt function except closing or
 *                   disconnecting its own client (HAMQTT_ERR_BUSY).
 *                 A client switches to push mode, for good, the first time a
 *                 callback is installed: hamqtt_set_callbacks(),
 *                 hamqtt_subscribe() with a callback, or hamqtt_publish_async()
 *                 with a callback. In push mode hamqtt_poll() and
 *                 hamqtt_event_fd() return HAMQTT_ERR_MODE. The log callback
 *                 (hamqtt_set_log_callback) does not change the mode. In pull
 *                 mode, poll regularly: events queue without bound until polled
 *                 (a slow consumer never slows the network down).
 *
 *   Compatibility A program built with an older header keeps working with a
 *                 newer libhamqtt.so.0 unchanged: structs only ever gain fields
 *                 at their end. Those the application passes in
 *                 (hamqtt_options, hamqtt_callbacks, hamqtt_sub_options, and
 *                 struct hamqtt_outbox_stats, which the library fills) carry
 *                 struct_size, and the library reads or writes only the fields
 *                 it covers. Those the library hands to callbacks are its own
 *                 memory (older code reads the leading fields it knows). The
 *                 array of hamqtt_poll() is written in the layout of the
 *                 application's header (see hamqtt_poll()).
 *
 * PROCESS CONSTRAINTS (they come from the Go runtime inside the library)
 *
 *   - One Go runtime per process: do not load another Go c-shared library
 *     (or a package built on one) into the same process, and do not load this
 *     library into a Go program.
 *   - Never dlclose() the library: it cannot be unloaded (it is marked
 *     NODELETE, so dlclose is a no-op anyway).
 *   - No use after fork() without exec: a child of fork() must not call any
 *     hamqtt function (it would hang); fork+exec, posix_spawn and calls made
 *     before the library was loaded are fine.
 *   - Signals: the library installs handlers for SIGSEGV, SIGBUS, SIGFPE,
 *     SIGPIPE and SIGURG when it is loaded and forwards signals raised in
 *     non-Go code to the handlers installed before it. Any handler the host
 *     installs afterwards must use SA_ONSTACK (sigaction), or the process may
 *     crash when the signal lands on a library thread. The library never takes
 *     other signals for itself and never calls exit().
 *   - The library starts threads of its own when loaded; glibc only.
 */
#ifndef HAMQTT_H
#define HAMQTT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAMQTT_VERSION_MAJOR 0
#define HAMQTT_VERSION_MINOR 5
#define HAMQTT_VERSION_PATCH 0
#define HAMQTT_VERSION_STRING "0.5.0"

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */
/* ------------------------------------------------------------------------ */

enum hamqtt_status {
    HAMQTT_OK = 0,
    HAMQTT_ERR_INVALID = -1,       /* bad argument: NULL pointer, bad value  */
    HAMQTT_ERR_HANDLE = -2,        /* unknown, stale or closed client handle */
    HAMQTT_ERR_TOPIC = -3,         /* invalid topic or filter                */
    HAMQTT_ERR_QOS = -4,           /* QoS not 0, 1 or 2                      */
    HAMQTT_ERR_PAYLOAD = -5,       /* payload larger than MQTT allows        */
    HAMQTT_ERR_CONFIG = -6,        /* bad configuration, URI or option       */
    HAMQTT_ERR_NO_ENDPOINT = -7,   /* no endpoint could take it in time      */
    HAMQTT_ERR_CLOSED = -8,        /* client closed/disconnected meanwhile   */
    HAMQTT_ERR_NOT_FOUND = -9,     /* no such cluster or endpoint            */
    HAMQTT_ERR_BUSY = -10,         /* not allowed from this callback/thread  */
    HAMQTT_ERR_MODE = -11,         /* pull call on a push-mode client        */
    HAMQTT_ERR_STATE = -12,        /* wrong state (not connected, ...)       */
    HAMQTT_ERR_REFUSED = -13,      /* a broker refused it: a subscription, or (MQTT 5) a
                                      publish or connection with a reason code; see
                                      hamqtt_last_reason_code() (0.5) */
    HAMQTT_ERR_IO = -14,           /* file or system error                   */
    HAMQTT_ERR_NOT_INITIALIZED = -15, /* no configuration loaded            */
    HAMQTT_ERR_TIMEOUT = -16,      /* the wait ended before the condition (0.2) */
    HAMQTT_ERR_FULL = -17,         /* the outbox is full: the message was not stored (0.4) */
    HAMQTT_ERR_DROPPED = -18,      /* outcome: dropped from the full outbox (drop-oldest) (0.4) */
    HAMQTT_ERR_EXPIRED = -19,      /* outcome: waited in the outbox past its expiry (0.4) */
    HAMQTT_ERR_LOCKED = -20,       /* the outbox directory is owned by another client or process (0.4) */
    HAMQTT_ERR_BUFFER = -21,       /* the caller's buffer is too small; the length needed was
                                      stored (hamqtt_props_encode) (0.5) */
    HAMQTT_ERR_INTERNAL = -99,     /* a bug: an internal panic was caught    */
    /* Not an error (0.4): the outbox holds the message and delivers it when a broker is
     * live; no broker acknowledged it yet. Do NOT publish it again. */
    HAMQTT_STORED = 1
};

/* ------------------------------------------------------------------------ */
/* Types                                                                     */
/* ------------------------------------------------------------------------ */

/* A client of one virtual cluster. 0 is never valid. */
typedef uint64_t hamqtt_client;

/* Publisher policies (hamqtt_options.publisher_type). */
enum hamqtt_publisher_type {
    HAMQTT_PUBLISHER_STICKY = 0,      /* one endpoint until it fails (default) */
    HAMQTT_PUBLISHER_ROUND_ROBIN = 1, /* the live endpoints in turn           */
    HAMQTT_PUBLISHER_RANDOM = 2,      /* a random live endpoint per message    */
    HAMQTT_PUBLISHER_ALL = 3          /* every live endpoint                   */
};

/* Log levels (the numbers of Python's logging module). */
enum hamqtt_log_level {
    HAMQTT_LOG_DEBUG = 10,
    HAMQTT_LOG_INFO = 20,
    HAMQTT_LOG_WARN = 30,
    HAMQTT_LOG_ERROR = 40,
    HAMQTT_LOG_OFF = 100
};

/* Endpoint states (hamqtt_endpoint_stats.state). */
enum hamqtt_endpoint_state {
    HAMQTT_ENDPOINT_DEAD = 0,
    HAMQTT_ENDPOINT_CONNECTING = 1,
    HAMQTT_ENDPOINT_LIVE = 2,
    HAMQTT_ENDPOINT_QUARANTINED = 3,
    HAMQTT_ENDPOINT_REMOVED = 4
};

/* What a full outbox does with a new message (hamqtt_options.outbox_overflow, 0.4). */
enum hamqtt_outbox_overflow {
    HAMQTT_OVERFLOW_REFUSE = 0,     /* the new publish fails with HAMQTT_ERR_FULL (default)    */
    HAMQTT_OVERFLOW_BLOCK = 1,      /* the publisher waits for room, up to time_to_wait_ms,
                                       then HAMQTT_ERR_FULL                                    */
    HAMQTT_OVERFLOW_DROP_OLDEST = 2 /* the oldest message not yet being sent is dropped (its
                                       outcome: HAMQTT_ERR_DROPPED) to make room               */
};

/* When a disk outbox forces its writes to disk (hamqtt_options.outbox_sync, 0.4). */
enum hamqtt_outbox_sync {
    HAMQTT_SYNC_ALWAYS = 0,   /* a message counts as stored once fsync covered it (concurrent
                                 publishers share one fsync): survives a power loss (default) */
    HAMQTT_SYNC_INTERVAL = 1, /* stored once written to the operating system, forced to disk
                                 every outbox_sync_interval_ms: survives a crash of the
                                 process; a power loss can take the last interval's messages */
    HAMQTT_SYNC_NEVER = 2     /* written to the operating system, which writes it when it
                                 chooses: survives a crash of the process, not a power loss  */
};

/* Event kinds (hamqtt_event.kind). */
enum hamqtt_event_kind {
    HAMQTT_EVENT_MESSAGE = 1,       /* .message holds a received message      */
    HAMQTT_EVENT_ENDPOINT_UP = 2,   /* .endpoint connected (MQTT 5: its CONNACK's
                                       properties from hamqtt_connack_props()) */
    HAMQTT_EVENT_ENDPOINT_DOWN = 3, /* .endpoint moved to the dead list; .error */
    HAMQTT_EVENT_DELIVERY = 4,      /* .delivery: an async publish completed  */
    HAMQTT_EVENT_ERROR = 5          /* .error: a failure that belongs to no call */
};

/* MQTT 5 properties (0.5): an opaque list of the properties of a message (or of a CONNACK),
 * made with hamqtt_props_new() or hamqtt_props_decode() and filled with the hamqtt_props_set_*()
 * functions; see "MQTT 5 properties" below. */
typedef struct hamqtt_props hamqtt_props;

/* Property identifiers (the MQTT 5 numbers). The message properties can be set, and the two a
 * client's DISCONNECT carries (hamqtt_disconnect_props()); the other CONNACK ones are read only
 * (hamqtt_connack_props(), hamqtt_props_decode()). The Topic Alias (0x23) is not here: the
 * engine assigns aliases per connection itself. */
enum hamqtt_prop {
    HAMQTT_PROP_PAYLOAD_FORMAT = 0x01,     /* int 0 (bytes) or 1 (UTF-8 text)              */
    HAMQTT_PROP_MESSAGE_EXPIRY = 0x02,     /* int: lifetime in seconds                     */
    HAMQTT_PROP_CONTENT_TYPE = 0x03,       /* string                                       */
    HAMQTT_PROP_RESPONSE_TOPIC = 0x08,     /* string: a topic (no wildcards)               */
    HAMQTT_PROP_CORRELATION_DATA = 0x09,   /* binary                                       */
    HAMQTT_PROP_SUBSCRIPTION_ID = 0x0B,    /* int 1..268435455, repeated: on a received
                                              message the ids of the subscriptions it matched
                                              (hamqtt_props_subscription_id_at()); ignored on
                                              a publish                                    */
    HAMQTT_PROP_SESSION_EXPIRY = 0x11,     /* CONNACK; DISCONNECT: int, seconds            */
    HAMQTT_PROP_ASSIGNED_CLIENT_ID = 0x12, /* CONNACK, read only: string                   */
    HAMQTT_PROP_SERVER_KEEP_ALIVE = 0x13,  /* CONNACK, read only: int, seconds             */
    HAMQTT_PROP_RESPONSE_INFO = 0x1A,      /* CONNACK, read only: string                   */
    HAMQTT_PROP_SERVER_REFERENCE = 0x1C,   /* CONNACK, read only: string                   */
    HAMQTT_PROP_REASON_STRING = 0x1F,      /* CONNACK; DISCONNECT: string                  */
    HAMQTT_PROP_RECEIVE_MAXIMUM = 0x21,    /* CONNACK, read only: int                      */
    HAMQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22, /* CONNACK, read only: int                     */
    HAMQTT_PROP_MAXIMUM_QOS = 0x24,        /* CONNACK, read only: int 0 or 1               */
    HAMQTT_PROP_RETAIN_AVAILABLE = 0x25,   /* CONNACK, read only: int 0 or 1               */
    HAMQTT_PROP_USER = 0x26,               /* key/value string pairs, in order, repeated
                                              keys allowed (hamqtt_props_add_user())       */
    HAMQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27, /* CONNACK, read only: int                     */
    HAMQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28, /* CONNACK, read only: int 0 or 1           */
    HAMQTT_PROP_SUB_ID_AVAILABLE = 0x29,   /* CONNACK, read only: int 0 or 1               */
    HAMQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A /* CONNACK, read only: int 0 or 1              */
};

/* hamqtt_options.message_ids (0.5). */
enum hamqtt_message_ids {
    HAMQTT_MESSAGE_IDS_AUTO = 0,   /* stamp when copies are expected: publisher type ALL, or
                                      a disk outbox (outbox_dir: a re-send after a crash)  */
    HAMQTT_MESSAGE_IDS_ALWAYS = 1,
    HAMQTT_MESSAGE_IDS_NEVER = -1  /* messages leave exactly as the application made them  */
};

/*
 * Options for hamqtt_client_new(). Initialise with HAMQTT_OPTIONS_INIT (or
 * memset 0 and set struct_size) and set only what you need: every zero or
 * NULL field means "the default" given beside it. Durations are milliseconds.
 * Fields are only ever appended; the library reads no field beyond
 * struct_size, so a program built against an older header keeps working.
 * TLS fields (tls_*) apply to the TLS endpoints (ssl://, tls://, mqtts://,
 * wss://); giving any of them when no endpoint uses TLS is HAMQTT_ERR_CONFIG,
 * since the traffic would not be encrypted as the caller believes.
 * Strings that travel in CONNECT (client_id, username, password) and the will
 * payload hold at most 65535 bytes; client_id and username must be valid
 * UTF-8 without control characters (U+0001-U+001F, U+007F-U+009F) or Unicode
 * non-characters. keep_alive_ms is at most 65535000 (MQTT carries seconds in
 * 16 bits) and, when positive, at least 1000. A value beyond a limit is
 * HAMQTT_ERR_CONFIG (HAMQTT_ERR_PAYLOAD for will_payload_len) naming the limit:
 * nothing is cut or wrapped.
 */
typedef struct hamqtt_options {
    uint32_t struct_size;           /* sizeof(hamqtt_options)                 */
    const char *name;               /* cluster name ("cluster-default"); endpoints are named <name>-1, <name>-2, ... */
    const char *client_id;          /* MQTT client id (generated)            */
    const char *username;           /* NULL: none                             */
    const char *password;           /* NULL: none                             */
    int publisher_type;             /* enum hamqtt_publisher_type (STICKY)    */
    const char *primary_server_uri; /* preferred endpoint (URI or name)       */
    const char *default_topic_base; /* routes "<base><endpoint name>..." topics */
    int persistent_session;         /* non-zero: brokers keep the session (MQTT clean session off; use a fixed client_id); 0: clean session */
    int keep_alive_ms;              /* 30000; <0: no keep-alive (a silently dead broker is then noticed only by an overdue ack) */
    int connect_timeout_ms;         /* 5000                                   */
    int time_to_wait_ms;            /* bound of connect/publish/subscribe (10000) */
    int ack_timeout_ms;             /* per-endpoint ack wait before failover (3000) */
    int probe_delay_ms;             /* backoff after a broker's first refusal (1000); a broker that is down is re-checked every 105-245 ms regardless */
    int max_probe_delay_ms;         /* refusal backoff cap (30000)            */
    double connect_rate;            /* MQTT CONNECTs/s over the cluster, only to reachable brokers (4; <0: unlimited) */
    int connect_burst;              /* rate limiter bucket (rate rounded up)  */
    int warm_up_ms;                 /* revived endpoint kept from publishing (2000; <0: off) */
    int flap_limit;                 /* drops within flap_window -> quarantine (5; <0: off) */
    int flap_window_ms;             /* 60000                                  */
    int quarantine_ms;              /* 60000                                  */
    int live_endpoint_count;        /* cap on live connections (0/-1: all)    */
    int initial_endpoint_count;     /* cap on the first probe (0/-1: none)    */
    int subscriber_count;           /* endpoints carrying subscriptions (0/-1: all) */
    int publish_only;               /* non-zero: refuse subscriptions         */
    int fos;                        /* failover service level 0..3 (0)       */
    int dedup;                      /* non-zero: drop copies from several endpoints */
    int dedup_window_ms;            /* 30000                                  */
    const char *will_topic;         /* NULL: no last will                     */
    const void *will_payload;       /* may be NULL when will_payload_len is 0 */
    size_t will_payload_len;
    int will_qos;
    int will_retain;
    const char *file_store_dir;     /* NULL: in-flight messages kept in memory */
    const char *tls_ca_file;        /* PEM CA bundle for ssl:// and wss://    */
    const char *tls_cert_file;      /* PEM client certificate                 */
    const char *tls_key_file;       /* PEM client key                         */
    int tls_insecure;               /* non-zero: no server verification at all (neither the
                                       certificate chain nor the host name; anyone in between
                                       can pose as the broker): for tests only. A warning is
                                       logged when the client is made. See also
                                       tls_skip_hostname_check. */
    /* Appended in 0.2. Non-zero: share each broker connection with the other sharing clients
     * of the process that reach it with the same session settings (URI, credentials,
     * keepalive, connect timeout, will, file store; TLS options never share); each client
     * still receives only its own subscriptions' messages. padogrid's liveEndpointPoolEnabled. */
    int share_connections;
    /* Appended in 0.2. TLS material in memory, as NUL-terminated PEM text, instead of the
     * files above (giving both for one item is HAMQTT_ERR_CONFIG). The text is read by
     * hamqtt_client_new() and not kept: the caller may free it when that returns. The key
     * must not be encrypted. */
    const char *tls_ca_pem;         /* CA certificates                        */
    const char *tls_cert_pem;       /* client certificate chain               */
    const char *tls_key_pem;        /* client private key                     */
    /* Appended in 0.2. Publisher type ALL: how many brokers must acknowledge a publish before
     * it counts as acknowledged (hamqtt_publish returns 0, a delivery reports HAMQTT_OK).
     * 0 or 1: any one broker (as without this field); k > 1: k of the live brokers, or every
     * live broker while fewer than k are live; -1: every live broker. Less than -1 is
     * HAMQTT_ERR_CONFIG. The other publisher types ignore it. */
    int ack_quorum;
    /* Appended in 0.2. Non-zero: do not check that the broker's certificate names the host
     * of its URI; the certificate chain is still verified against tls_ca_file/tls_ca_pem (the
     * system's CAs when neither is given), so only a holder of a certificate from those CAs
     * can pose as the broker. For brokers reached by an address their certificate does not
     * name (paho-mqtt's tls_insecure_set(True)). A warning is logged when the client is made.
     * tls_insecure, when also set, turns every check off. */
    int tls_skip_hostname_check;
    /* Appended in 0.4. The outbox (store and forward; see "Outbox" above the publishing
     * functions): publishes of QoS 1 and 2 (and 0 with outbox_qos0) are stored first and
     * leave the outbox only once a broker acknowledged them, in publish order, through total
     * outages and (with outbox_dir) restarts. The outbox belongs to the client: it outlives
     * hamqtt_disconnect() and is closed by hamqtt_close(). Without outbox and outbox_dir,
     * every outbox_* field must be 0 (HAMQTT_ERR_CONFIG otherwise). */
    int outbox;                  /* non-zero: store publishes in an outbox (in memory unless
                                    outbox_dir is given)                                      */
    const char *outbox_dir;      /* non-NULL: a durable disk outbox in this directory (made if
                                    missing; implies outbox). One client or process owns a
                                    directory at a time (HAMQTT_ERR_LOCKED otherwise). What an
                                    earlier client left there is resumed, oldest first.       */
    int outbox_max_messages;     /* messages held at most (0: 100000; <0: unbounded)          */
    int64_t outbox_max_bytes;    /* topic + payload bytes held at most (0: 64 MiB; <0: unbounded) */
    int outbox_overflow;         /* enum hamqtt_outbox_overflow (HAMQTT_OVERFLOW_REFUSE)      */
    int outbox_sync;             /* enum hamqtt_outbox_sync (HAMQTT_SYNC_ALWAYS); disk only   */
    int outbox_sync_interval_ms; /* HAMQTT_SYNC_INTERVAL's period (0: 100); only with it      */
    int outbox_qos0;             /* non-zero: QoS 0 messages are stored too (without it they
                                    bypass the outbox: HAMQTT_ERR_STATE when not connected,
                                    a failure after time_to_wait_ms when no broker is live, as
                                    QoS 0 promises no delivery)                                */
    int outbox_expiry_ms;        /* a message not delivered after this long is dropped with
                                    the outcome HAMQTT_ERR_EXPIRED (0: never)                  */
    /* Appended in 0.5: MQTT 5. Every broker of the cluster speaks the protocol version given
     * here. The fields after protocol_version apply to MQTT 5 only: the numbers are ignored
     * under MQTT 3.1.1, while connect_props, will_props and will_delay_ms are refused there
     * (HAMQTT_ERR_CONFIG), as they could not travel. */
    int protocol_version;        /* 0 or 4: MQTT 3.1.1; 5: MQTT 5 (others: HAMQTT_ERR_CONFIG) */
    int64_t session_expiry_ms;   /* how long brokers keep the session once the connection
                                    ended (whole seconds on the wire, at most 4294967295 s);
                                    0: none, or never expires with persistent_session, as
                                    MQTT 3.1.1 behaves                                       */
    int receive_maximum;         /* QoS 1 and 2 messages a broker may have unacknowledged
                                    towards this client (0: 65535; at most 65535)           */
    int topic_alias_maximum;     /* topic aliases brokers may use towards this client (0: none;
                                    at most 65535)                                          */
    int no_topic_aliases;        /* non-zero: the engine uses no topic aliases towards brokers
                                    (it does by default, within each broker's maximum)      */
    int request_response_info;   /* non-zero: ask brokers for Response Information
                                    (HAMQTT_PROP_RESPONSE_INFO of hamqtt_connack_props())   */
    int no_problem_info;         /* non-zero: ask brokers not to send reason strings and user
                                    properties with failures                                */
    int message_ids;             /* enum hamqtt_message_ids (AUTO): whether publishes carry a
                                    message id (a user property "hamqtt-id", the same on every
                                    copy and retry) that lets a dedup subscriber drop copies
                                    exactly and keep a message published twice on purpose; a
                                    receiver that is not hamqtt sees the user property       */
    const hamqtt_props *connect_props; /* the user properties of every CONNECT (only
                                    HAMQTT_PROP_USER allowed; read by hamqtt_client_new() and
                                    not kept)                                               */
    const hamqtt_props *will_props; /* the will message's properties (needs will_topic; read
                                    by hamqtt_client_new() and not kept)                    */
    int64_t will_delay_ms;       /* brokers publish the will this long after the connection
                                    ended, and not at all if the session resumes first (whole
                                    seconds on the wire; needs will_topic)                  */
    int max_packet_size;         /* the largest packet, in bytes, a broker may send this client
                                    (0: 64 MiB; 16 up to 268435460). MQTT 5 announces it in
                                    every CONNECT as the Maximum Packet Size, and a broker then
                                    does not forward larger messages to this client; under MQTT
                                    3.1.1 a larger packet closes the connection as malformed */
} hamqtt_options;

#define HAMQTT_OPTIONS_INIT { (uint32_t)sizeof(hamqtt_options), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
                              0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/* A received message. All pointers are valid only during the callback (push)
 * or until the next hamqtt_poll() on the client (pull). */
typedef struct hamqtt_message {
    const char *topic;      /* NUL-terminated                                */
    size_t topic_len;
    const void *payload;    /* not NUL-terminated; NULL when payload_len is 0 */
    size_t payload_len;
    int qos;
    int retained;
    int duplicate;          /* the MQTT DUP flag                             */
    const char *endpoint;   /* name of the endpoint it arrived through       */
    const hamqtt_props *props; /* MQTT 5: its properties, read with the hamqtt_props_get_*()
                               functions; NULL when it carried none (always under MQTT
                               3.1.1). Same lifetime as the pointers above; never free it
                               (0.5) */
} hamqtt_message;

/* The outcome of an asynchronous publish. Same lifetime as hamqtt_message. */
typedef struct hamqtt_delivery {
    uint64_t id;            /* the id hamqtt_publish_async() returned (with an outbox, also
                               an id never returned: see "Outbox")          */
    const char *topic;
    int status;             /* HAMQTT_OK when delivered, else a HAMQTT_ERR_* */
    const char *error;      /* why it failed; NULL when delivered            */
    const char *endpoints;  /* comma-separated endpoints that took it ("" if none) */
    void *user;             /* the user pointer given to hamqtt_publish_async() */
    int reason_code;        /* MQTT 5: the broker's failure reason code (0x80 and above, e.g.
                               0x87 not authorized) when it refused the message (status
                               HAMQTT_ERR_REFUSED); on success its success code, 0x10 when no
                               subscription matched (a message resent after a failover
                               reports 0); else 0 (0.5) */
} hamqtt_delivery;

/* hamqtt_event.status of an ENDPOINT_UP event: the broker's CONNACK said it still had a
 * session for this client id (only with a persistent session, clean_session off). */
#define HAMQTT_UP_SESSION_PRESENT 1

/* One event drained by hamqtt_poll(). Pointers stay valid until the next
 * hamqtt_poll(), hamqtt_disconnect() or hamqtt_close() on the client.
 * 0.5 made it larger (message.props, delivery.reason_code, reason_code); the library
 * writes the 0.4 layout for programs built with the 0.4 header (see
 * hamqtt_poll()). */
typedef struct hamqtt_event {
    int kind;                 /* enum hamqtt_event_kind                       */
    int status;               /* ENDPOINT_DOWN, ERROR, DELIVERY: error code or 0;
                                 ENDPOINT_UP: HAMQTT_UP_SESSION_PRESENT when the broker
                                 still had this client's session, else 0 */
    const char *endpoint;     /* MESSAGE, ENDPOINT_UP/DOWN: endpoint name; else NULL */
    const char *error;        /* ENDPOINT_DOWN, ERROR, failed DELIVERY: reason; else NULL */
    int64_t time_unix_ns;     /* when it happened                             */
    hamqtt_message message;   /* kind MESSAGE; zeroed otherwise               */
    hamqtt_delivery delivery; /* kind DELIVERY; zeroed otherwise              */
    int reason_code;          /* MQTT 5: the broker's reason code behind the event, else 0:
                                 ENDPOINT_DOWN, the code of the DISCONNECT the broker
                                 closed the connection with (e.g. 0x8E session taken
                                 over, 0x89 server busy; the error text has its reason
                                 string); DELIVERY, as delivery.reason_code; ERROR, the
                                 code of the answer that caused it (0.5) */
} hamqtt_event;

/* A snapshot of one endpoint, from hamqtt_stats(). */
typedef struct hamqtt_endpoint_stats {
    const char *name;
    const char *uri;
    int state;                  /* enum hamqtt_endpoint_state               */
    int subscriber;             /* carries the cluster's subscriptions      */
    int64_t live_since_unix_ns; /* 0 unless live                            */
    uint64_t published;         /* publish attempts sent to it              */
    uint64_t acked;             /* of those, acknowledged (QoS 0: written)  */
    uint64_t failed;            /* of those, not completed here             */
    uint64_t failovers;         /* of the failed, moved on to another endpoint */
    uint64_t connects;          /* connection attempts                      */
    uint64_t connect_failures;
    uint64_t received;          /* messages received through it             */
    const char *last_error;     /* "" when none                             */
} hamqtt_endpoint_stats;

/* A snapshot of a client's outbox, from hamqtt_outbox_stats() (0.4). Initialise with
 * HAMQTT_OUTBOX_STATS_INIT: the library fills only the fields struct_size covers, so that
 * fields can be appended. Counters count since the outbox was opened (hamqtt_client_new(), or
 * the loading of the configuration whose cluster has it).
 * Like POSIX's struct stat and stat(), the struct shares its name with its function, so it
 * has no typedef: write `struct hamqtt_outbox_stats`. */
struct hamqtt_outbox_stats {
    uint32_t struct_size;   /* sizeof(struct hamqtt_outbox_stats)                              */
    uint64_t messages;      /* held now: stored and not yet acknowledged (being sent included) */
    uint64_t bytes;         /* their topics and payloads                                        */
    int64_t oldest_unix_ns; /* when the oldest message held was stored; 0 when empty            */
    int64_t oldest_age_ms;  /* how long it has waited; 0 when empty                             */
    uint64_t stored;        /* messages stored                                                  */
    uint64_t delivered;     /* ... acknowledged by a broker                                     */
    uint64_t dropped;       /* ... dropped by HAMQTT_OVERFLOW_DROP_OLDEST                       */
    uint64_t expired;       /* ... expired (outbox_expiry_ms)                                   */
    uint64_t recovered;     /* messages a disk outbox found, stored by an earlier client, when
                               it was opened (they are sent first); 0 in memory                  */
};

#define HAMQTT_OUTBOX_STATS_INIT { (uint32_t)sizeof(struct hamqtt_outbox_stats), 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/* Push callbacks. `user` is the pointer registered with the callback. They run
 * on the client's library thread (see "Events" above), one at a time per
 * client, never under a library lock. Pointer arguments are valid only during
 * the call. A callback may call hamqtt functions, including publishing
 * (blocking or not) and subscribing, but hamqtt_close()/hamqtt_disconnect() of
 * its own client return HAMQTT_ERR_BUSY. A callback should return promptly:
 * the client's events wait meanwhile (nothing is lost; they queue). */
typedef void (*hamqtt_message_cb)(void *user, hamqtt_client client, const hamqtt_message *msg);
/* reason is NULL for an endpoint coming up, the cause for one going down; in on_endpoint_down
 * and on_error, hamqtt_last_reason_code() gives the event's MQTT 5 reason code (as
 * hamqtt_event.reason_code; read it before any other hamqtt call). */
typedef void (*hamqtt_endpoint_cb)(void *user, hamqtt_client client, const char *endpoint, const char *reason);
typedef void (*hamqtt_delivery_cb)(void *user, hamqtt_client client, const hamqtt_delivery *delivery);
typedef void (*hamqtt_error_cb)(void *user, hamqtt_client client, int status, const char *error);
/* Log lines arrive on a separate library thread and may run concurrently
 * with the other callbacks of the client. */
typedef void (*hamqtt_log_cb)(void *user, hamqtt_client client, int level, const char *line);

/* The client-wide callbacks of hamqtt_set_callbacks(). Any may be NULL
 * (events of that kind are then dropped). Initialise with
 * HAMQTT_CALLBACKS_INIT. */
typedef struct hamqtt_callbacks {
    uint32_t struct_size;            /* sizeof(hamqtt_callbacks)              */
    void *user;                      /* passed to every callback below        */
    hamqtt_message_cb on_message;    /* messages no subscription callback took */
    hamqtt_endpoint_cb on_endpoint_up;
    hamqtt_endpoint_cb on_endpoint_down; /* a failover: the endpoint died    */
    hamqtt_delivery_cb on_delivery;  /* async publishes given no own callback */
    hamqtt_error_cb on_error;
} hamqtt_callbacks;

#define HAMQTT_CALLBACKS_INIT { (uint32_t)sizeof(hamqtt_callbacks), 0, 0, 0, 0, 0, 0 }

/* ------------------------------------------------------------------------ */
/* Library                                                                   */
/* ------------------------------------------------------------------------ */

/* The library's version, "MAJOR.MINOR.PATCH" (compare HAMQTT_VERSION_STRING).
 * Returns static text: do not free. Never fails. Any thread. */
const char *hamqtt_version(void);

/* Static English text for a status code (also for unknown codes). Do not free.
 * Never fails. Any thread. */
const char *hamqtt_strerror(int status);

/* The detail of the last failure of a hamqtt call on the calling thread, or ""
 * if none failed yet. Successful calls do not reset it: read it right after a
 * call returned an error. The string belongs to the library and stays valid
 * until the next failing hamqtt call on the same thread. Any thread. */
const char *hamqtt_last_error(void);

/* Frees memory the library returned (lists, stats, names). NULL is a no-op.
 * Never pass memory from another allocator. Any thread. */
void hamqtt_free(void *ptr);

/* The MQTT 5 reason code of the last failure of a hamqtt call on the calling
 * thread: the code a broker refused it with (0x80 and above, e.g. 0x87 not
 * authorized for a publish its ACL denies, or a SUBACK's failure code), 0 when
 * that failure carried none (or no call failed yet). Like hamqtt_last_error(),
 * successful calls do not reset it. Never fails. Any thread (0.5). */
int hamqtt_last_reason_code(void);

/* ------------------------------------------------------------------------ */
/* MQTT 5 properties (0.5)                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A hamqtt_props holds the MQTT 5 properties of a message: what
 * hamqtt_publish_props() and its siblings send, what a received
 * hamqtt_message.props carries, and the will's (hamqtt_options.will_props).
 * Each single-valued property (enum hamqtt_prop) is present or absent; the
 * user properties (HAMQTT_PROP_USER) and subscription identifiers are lists.
 *
 * Ownership: a hamqtt_props from hamqtt_props_new(), hamqtt_props_decode() or
 * hamqtt_connack_props() belongs to the caller, who frees it with
 * hamqtt_props_free(). One the library hands over (hamqtt_message.props) is
 * the library's: it lives as long as the message (until the callback returns
 * in push mode, until the next hamqtt_poll() in pull mode); do not free or
 * change it. Whatever a set function is given is copied.
 *
 * Strings are NUL-terminated UTF-8 as MQTT allows it (no U+0000, no
 * surrogates, at most 65535 bytes); binary data at most 65535 bytes.
 * A hamqtt_props may be read from several threads at once, but not changed
 * while another thread uses it. The functions never block.
 */

/* A new, empty property list; NULL when out of memory. Free with
 * hamqtt_props_free(). */
hamqtt_props *hamqtt_props_new(void);

/* Frees a property list the caller owns and everything in it. NULL, and a
 * list that belongs to the library (hamqtt_message.props), are ignored. */
void hamqtt_props_free(hamqtt_props *props);

/* Sets an integer property: HAMQTT_PROP_PAYLOAD_FORMAT (0 or 1),
 * HAMQTT_PROP_MESSAGE_EXPIRY (seconds), or adds a HAMQTT_PROP_SUBSCRIPTION_ID
 * (1..268435455; repeats). Setting a property again replaces its value.
 * Returns HAMQTT_OK, HAMQTT_ERR_INVALID (NULL, a list of the library's, an id
 * that is not an integer or is read only, a value out of range). */
int hamqtt_props_set_int(hamqtt_props *props, int id, uint32_t value);

/* Sets a string property: HAMQTT_PROP_CONTENT_TYPE or
 * HAMQTT_PROP_RESPONSE_TOPIC (copied). Returns HAMQTT_OK, HAMQTT_ERR_INVALID
 * (NULL, a list of the library's, an id that is not a string or is read only,
 * a string longer than 65535 bytes or not valid UTF-8). */
int hamqtt_props_set_string(hamqtt_props *props, int id, const char *value);

/* Sets a binary property: HAMQTT_PROP_CORRELATION_DATA, `len` bytes at `data`
 * (copied; NULL allowed when len is 0: present and empty). Returns HAMQTT_OK,
 * HAMQTT_ERR_INVALID (as above, or len above 65535). */
int hamqtt_props_set_binary(hamqtt_props *props, int id, const void *data, size_t len);

/* Appends a user property (key and value copied; repeated keys allowed, order
 * kept). Returns HAMQTT_OK, HAMQTT_ERR_INVALID (NULL, a list of the library's,
 * a string longer than 65535 bytes or not valid UTF-8). Keys starting with
 * "hamqtt-" are the engine's own: a publish refuses them. */
int hamqtt_props_add_user(hamqtt_props *props, const char *key, const char *value);

/* Stores in *value an integer property (any integer id of enum hamqtt_prop;
 * HAMQTT_PROP_SUBSCRIPTION_ID gives the first). Returns HAMQTT_OK,
 * HAMQTT_ERR_NOT_FOUND (absent; *value is 0), HAMQTT_ERR_INVALID (NULL, not an
 * integer id). */
int hamqtt_props_get_int(const hamqtt_props *props, int id, uint32_t *value);

/* Stores in *value a string property (NUL-terminated; valid while `props`
 * lives and is not changed) and in *len (may be NULL) its length. Returns
 * HAMQTT_OK, HAMQTT_ERR_NOT_FOUND (absent; *value NULL), HAMQTT_ERR_INVALID
 * (NULL, not a string id). */
int hamqtt_props_get_string(const hamqtt_props *props, int id, const char **value, size_t *len);

/* Stores in *data and *len (may be NULL) a binary property
 * (HAMQTT_PROP_CORRELATION_DATA; a string id gives its bytes). Valid while
 * `props` lives and is not changed; *data is never NULL when present, even
 * for 0 bytes. Returns HAMQTT_OK, HAMQTT_ERR_NOT_FOUND (absent; *data NULL),
 * HAMQTT_ERR_INVALID (NULL, not a binary or string id). */
int hamqtt_props_get_binary(const hamqtt_props *props, int id, const void **data, size_t *len);

/* The number of user properties (0 for NULL). */
size_t hamqtt_props_user_count(const hamqtt_props *props);

/* Stores in *key and *value (valid while `props` lives and is not changed) the
 * i-th user property, 0-based, in order. Returns HAMQTT_OK,
 * HAMQTT_ERR_INVALID (NULL, i not below hamqtt_props_user_count()). */
int hamqtt_props_user_at(const hamqtt_props *props, size_t i, const char **key, const char **value);

/* The number of subscription identifiers (0 for NULL). A received message
 * carries one for each of this client's subscriptions with an identifier that
 * it matched on the broker it came through. */
size_t hamqtt_props_subscription_id_count(const hamqtt_props *props);

/* The i-th subscription identifier, 0 when i is out of range or props NULL. */
uint32_t hamqtt_props_subscription_id_at(const hamqtt_props *props, size_t i);

/* Writes the MQTT 5 wire form of the list (its length as a variable byte
 * integer, then the properties, as paho-mqtt's Properties.pack() makes it)
 * into buf (cap bytes) and its length into *len. When cap is too small,
 * nothing is written, *len receives the length needed and HAMQTT_ERR_BUFFER
 * is returned (buf may be NULL with cap 0 to ask for the length). Returns
 * HAMQTT_OK, HAMQTT_ERR_BUFFER, HAMQTT_ERR_INVALID (NULL props or len, NULL
 * buf with cap > 0). */
int hamqtt_props_encode(const hamqtt_props *props, void *buf, size_t cap, size_t *len);

/* Reads the MQTT 5 wire form (`len` bytes at `buf`, exactly one property list
 * with its length prefix, as paho-mqtt's Properties.unpack() reads it) into a
 * new list stored in *out, which the caller frees with hamqtt_props_free().
 * Every property of enum hamqtt_prop is read; a Topic Alias is checked and
 * dropped. Returns HAMQTT_OK, HAMQTT_ERR_INVALID (NULL arguments; malformed
 * input: a bad length, an unknown or repeated property, a value out of range,
 * a string that is not valid UTF-8, bytes left over; *out is NULL then). */
int hamqtt_props_decode(const void *buf, size_t len, hamqtt_props **out);

/* ------------------------------------------------------------------------ */
/* Configuration file (padogrid-compatible YAML) and its clusters            */
/* ------------------------------------------------------------------------ */

/* Loads the YAML configuration at `path` and creates a client for every
 * cluster it defines (not yet connected; see hamqtt_cluster_client()). At most
 * one configuration is loaded at a time: call hamqtt_shutdown() before loading
 * another (HAMQTT_ERR_STATE otherwise).
 * The outboxes the file configures (its `outbox` keys) are opened here, before
 * their clusters, and closed by hamqtt_shutdown() (0.4): a cluster's outbox
 * outlives hamqtt_close() of its client, so the cluster's next client
 * (hamqtt_cluster_client()) sends what it holds.
 * Returns HAMQTT_OK, HAMQTT_ERR_INVALID (path NULL), HAMQTT_ERR_IO (cannot
 * read the file), HAMQTT_ERR_CONFIG (invalid YAML or values; last_error gives
 * the line), HAMQTT_ERR_STATE, HAMQTT_ERR_LOCKED (an outbox directory is owned
 * by another client or process). */
int hamqtt_init_file(const char *path);

/* Like hamqtt_init_file(), from YAML text: `len` bytes at `yaml` (need not be
 * NUL-terminated). The text is copied. */
int hamqtt_init_yaml(const char *yaml, size_t len);

/* Closes every client of the loaded configuration (as hamqtt_close() does,
 * waiting for their callbacks) and forgets the configuration. Clients made
 * with hamqtt_client_new() are not affected. Calling it when nothing is
 * loaded returns HAMQTT_OK. Returns HAMQTT_ERR_BUSY when called from a
 * callback of one of those clients. */
int hamqtt_shutdown(void);

/* The client of the named cluster of the loaded configuration, or of its
 * default cluster when `name` is NULL (as in padogrid, the default cluster
 * exists even when the file does not define it: it is then made on
 * tcp://localhost:1883-1885). The same handle is returned on every
 * call until it is closed; a later call after hamqtt_close() returns a new
 * handle on a fresh cluster. The client is not connected: call
 * hamqtt_connect(). Returns HAMQTT_OK, HAMQTT_ERR_INVALID (out NULL),
 * HAMQTT_ERR_NOT_INITIALIZED, HAMQTT_ERR_NOT_FOUND (last_error lists the
 * names). */
int hamqtt_cluster_client(const char *name, hamqtt_client *out);

/* Connects the client of every cluster of the loaded configuration that has
 * `autoConnect` (true unless the file says false), in parallel, as padogrid
 * does when it starts; clusters with `autoConnect: false` wait for
 * hamqtt_connect(). The clients are those hamqtt_cluster_client() returns.
 * Blocks until each connected or gave up (its `timeToWait`). Returns
 * HAMQTT_OK, HAMQTT_ERR_NOT_INITIALIZED, or the error of the first cluster
 * that failed (HAMQTT_ERR_NO_ENDPOINT mostly); last_error names every
 * cluster that failed and why. The others stay connected either way. */
int hamqtt_connect_all(void);

/* The names of the clusters of the loaded configuration, default first.
 * *names receives a NULL-terminated array of strings and *count its length
 * (count may be NULL); free the array with one hamqtt_free(*names). */
int hamqtt_cluster_names(char ***names, size_t *count);

/* ------------------------------------------------------------------------ */
/* Clients                                                                   */
/* ------------------------------------------------------------------------ */

/* Creates a client of a virtual cluster made of the brokers in `endpoints`: a
 * comma-separated list of URIs with optional ranges, for example
 * "tcp://10.0.0.5-7:1883,ssl://b.example:8883" or "localhost:1883-1885"
 * (schemes tcp, mqtt, ssl, tls, mqtts, ws, wss; no scheme means tcp), at
 * most 1024 brokers once expanded.
 * `opts` may be NULL for all defaults. The client is not connected.
 * On success *out holds a new handle; close it with hamqtt_close().
 * With hamqtt_options.outbox or outbox_dir it opens the client's outbox (0.4):
 * a disk outbox resumes what an earlier client stored in outbox_dir (sent after
 * hamqtt_connect(), oldest first, ahead of anything published later; damage
 * found in its files, such as a write torn by a power loss, is repaired and
 * logged as a warning).
 * Returns HAMQTT_OK, HAMQTT_ERR_INVALID (NULL endpoints/out, bad struct_size),
 * HAMQTT_ERR_CONFIG (bad URI, range or option, a value beyond MQTT's limits, TLS
 * options while no endpoint uses TLS, outbox_* options without an outbox;
 * last_error says which, and never shows a password), HAMQTT_ERR_PAYLOAD
 * (will_payload_len above 65535), HAMQTT_ERR_LOCKED (outbox_dir is owned by
 * another client of this process or by another process; last_error names the
 * process), HAMQTT_ERR_IO (outbox_dir cannot be made, read or locked). Warnings
 * logged meanwhile (TLS verification switched off by tls_insecure or
 * tls_skip_hostname_check, a repaired outbox) are kept for the first log
 * callback installed with hamqtt_set_log_callback() at HAMQTT_LOG_WARN or below. */
int hamqtt_client_new(const char *endpoints, const hamqtt_options *opts, hamqtt_client *out);

/* Starts the client: probes every endpoint and returns once at least one is
 * live (and the first round of attempts settled). Subscriptions made before
 * (or before a disconnect) are replayed. Connecting a connected client does
 * nothing. Blocks the caller (event loops: hamqtt_connect_async()).
 *
 * When no broker is reachable it fails fast with HAMQTT_ERR_NO_ENDPOINT: as
 * soon as every endpoint has failed an attempt made during the call, which
 * takes milliseconds when the brokers refuse the connection (nothing listens
 * on the port, or the broker refuses the CONNECT) and up to
 * connect_timeout_ms when a dial gets no answer; time_to_wait_ms only bounds
 * the whole wait. last_error names every endpoint, its URI and why it failed,
 * e.g. 'cluster "c": no live endpoint: c-1 (tcp://10.0.0.5:1883): dial tcp
 * 10.0.0.5:1883: connect: connection refused; c-2 (...): ...'. The client stays
 * started all the same and keeps probing in the background (a down broker is
 * dialled every 105-245 ms) until hamqtt_disconnect() or hamqtt_close(): a
 * broker that comes back is connected without a second hamqtt_connect(), its
 * subscriptions are made, and hamqtt_publish() (which waits up to
 * time_to_wait_ms for a live endpoint) uses it. Calling hamqtt_connect()
 * again while none is live answers the same way after the next attempt on
 * each endpoint.
 * A client with an outbox sends what the outbox holds (stored before the call,
 * or by an earlier client on its outbox_dir) once a broker is live and past its
 * warm-up, in publish order.
 * Returns HAMQTT_OK, HAMQTT_ERR_HANDLE, HAMQTT_ERR_NO_ENDPOINT,
 * HAMQTT_ERR_CLOSED (closed meanwhile), HAMQTT_ERR_CONFIG, HAMQTT_ERR_BUSY (0.4,
 * with an outbox: called from a callback while a hamqtt_disconnect() of the
 * client is still under way on another thread). */
int hamqtt_connect(hamqtt_client client);

/* hamqtt_connect() without the waiting, for event loops: starts probing every
 * endpoint and returns at once. Progress comes as events (callbacks or
 * hamqtt_poll()): HAMQTT_EVENT_ENDPOINT_UP for each endpoint that connects,
 * and one HAMQTT_EVENT_ERROR (HAMQTT_ERR_NO_ENDPOINT, naming every endpoint
 * and why it failed) if none is live once every endpoint has failed an
 * attempt (milliseconds when all refuse, as hamqtt_connect() answers) or
 * after time_to_wait_ms; probing goes on either way, until
 * hamqtt_disconnect() or hamqtt_close(), and later failures give no event
 * (hamqtt_stats() shows each endpoint's last_error). Publishing needs no
 * wait: hamqtt_publish_async() queues until an
 * endpoint is up. Starting a started client does nothing. Returns HAMQTT_OK,
 * HAMQTT_ERR_HANDLE, HAMQTT_ERR_CLOSED, HAMQTT_ERR_CONFIG (0.2), and
 * HAMQTT_ERR_BUSY as hamqtt_connect(). */
int hamqtt_connect_async(hamqtt_client client);

/* Disconnects every endpoint and stops probing. Asynchronous publishes still
 * pending complete with HAMQTT_ERR_CLOSED (with an outbox, those the outbox
 * holds do not: they stay stored, are sent after the next hamqtt_connect(),
 * and their outcomes come then; publishes made while disconnected are stored
 * too, see "Outbox"); their delivery events are still
 * delivered (push: before this returns; pull: by the next hamqtt_poll()).
 * The handle stays valid: hamqtt_connect() starts again with the same
 * subscriptions; statistics start from zero. No HAMQTT_EVENT_ENDPOINT_DOWN
 * is reported for the endpoints it disconnects. The event descriptor stays
 * open and keeps its number (hamqtt_event_fd()): it is readable until
 * hamqtt_poll() has given the events left and HAMQTT_ERR_CLOSED, then quiet
 * until the client connects again. Waits for in-flight callbacks, except when
 * called from a callback of another client: then the disconnect completes on
 * a library thread after this client's running callback (if any) returned,
 * because that callback might be waiting for the caller's client (two clients
 * closing each other from their callbacks would otherwise wait forever).
 * Returns HAMQTT_OK (also when not connected), HAMQTT_ERR_HANDLE,
 * HAMQTT_ERR_BUSY (called from one of this client's callbacks). */
int hamqtt_disconnect(hamqtt_client client);

/* hamqtt_disconnect() that tells each MQTT 5 broker why, in its DISCONNECT:
 * `reason_code` 0x00 (normal: the will is not published), 0x04 (disconnect
 * with will message: each broker publishes the will, as if the connection had
 * been lost) or a failure code a client may send (0x80-0x83, 0x90, 0x93-0x97,
 * 0x99). `props` (may be NULL; copied, the caller keeps ownership) may hold
 * HAMQTT_PROP_SESSION_EXPIRY (a new session expiry interval; not allowed to
 * become non-zero when the client connected with none),
 * HAMQTT_PROP_REASON_STRING and user properties. Brokers spoken to over MQTT
 * 3.1.1 get their plain DISCONNECT. Same threads, waits and returns as
 * hamqtt_disconnect(), and HAMQTT_ERR_INVALID (a reason code a client may not
 * send, another property, a session expiry MQTT forbids) with the client left
 * as it was (0.5). */
int hamqtt_disconnect_props(hamqtt_client client, int reason_code, const hamqtt_props *props);

/* Disconnects (as above) and releases the client. When it returns, none of
 * the client's callbacks is running or will run again, and the handle is
 * invalid (HAMQTT_ERR_HANDLE from then on, including a second close). It
 * closes the event descriptor: take it out of your event loop first.
 * Called from a callback of another client, it does not wait: the handle is
 * invalid at once, and the release completes on a library thread after this
 * client's running callback (if any) returned, so two clients may close each
 * other from their callbacks. Then do not free what this client's callbacks
 * use until they have stopped (e.g. have the callback signal its end).
 * With an outbox (0.4), the outbox is closed after the connections: every
 * asynchronous publish it still holds ends with HAMQTT_ERR_CLOSED, reported in
 * push mode before this returns, on a library thread (in pull mode nothing can
 * be polled any more; hamqtt_publish_detached() messages are not reported). A
 * disk outbox keeps those messages for the next client on its directory; a
 * memory outbox loses them (hamqtt_flush() first to wait for them).
 * Returns HAMQTT_OK, HAMQTT_ERR_HANDLE, HAMQTT_ERR_BUSY (called from one of
 * this client's own callbacks: it would wait for itself; the client stays
 * open). */
int hamqtt_close(hamqtt_client client);

/* The cluster's name. *name is allocated: free with hamqtt_free(). */
int hamqtt_client_name(hamqtt_client client, char **name);

/* ------------------------------------------------------------------------ */
/* Outbox (store and forward, 0.4)                                           */
/* ------------------------------------------------------------------------ */

/*
 * A client made with hamqtt_options.outbox or outbox_dir (or the client of a
 * configured cluster with an outbox) stores every publish of QoS 1 and 2 (and
 * QoS 0 with outbox_qos0) before sending it. A stored message leaves the outbox
 * only when a broker acknowledged it, or when it failed for good (below). It
 * waits out a total outage (every broker down) for as long as it lasts instead
 * of failing after time_to_wait_ms, and is sent in publish order once a broker
 * is live and past its warm-up. A disk outbox (outbox_dir) also survives a
 * crash or restart of the process: the next client on that directory resumes
 * what it holds.
 *
 * Two outcomes are told apart:
 *   stored     the outbox holds the message: hamqtt_publish() returned
 *              HAMQTT_STORED, hamqtt_publish_async() or hamqtt_publish_detached()
 *              returned HAMQTT_OK. It is not lost and must not be published
 *              again: it will be delivered.
 *   delivered  a broker acknowledged it: hamqtt_publish() returned HAMQTT_OK,
 *              or the delivery outcome has status HAMQTT_OK.
 * A message that was not stored is reported by the call itself: HAMQTT_ERR_FULL
 * (the outbox is full: refused, or no room came within time_to_wait_ms with
 * HAMQTT_OVERFLOW_BLOCK), HAMQTT_ERR_IO (the disk outbox could not write it).
 *
 * A stored message can still fail; its outcome then says why:
 * HAMQTT_ERR_DROPPED (HAMQTT_OVERFLOW_DROP_OLDEST made room for a newer one),
 * HAMQTT_ERR_EXPIRED (outbox_expiry_ms), HAMQTT_ERR_NO_ENDPOINT (brokers kept
 * closing the connection on this message: it is failed alone),
 * HAMQTT_ERR_CLOSED (hamqtt_close() came first; a disk outbox keeps it for the
 * next client on the directory). Dropped and expired messages are reported
 * even when nobody waits for them: those of hamqtt_publish_detached() as an
 * error naming the topic (on_error, HAMQTT_EVENT_ERROR); those hamqtt_publish()
 * left stored, or a disk outbox resumed from an earlier client, as a delivery
 * outcome with an id the application was never given (on_delivery, or on_error
 * when no on_delivery is installed; HAMQTT_EVENT_DELIVERY in pull mode), and
 * their other failures as errors.
 *
 * The outbox belongs to the client, not to its connections. A client with an
 * outbox accepts publishes of the QoS it stores before hamqtt_connect() and
 * after hamqtt_disconnect(): they are stored and sent once the client is
 * connected (other QoS: HAMQTT_ERR_STATE, as without an outbox).
 * hamqtt_disconnect() leaves stored publishes unresolved (their outcomes come
 * after the next hamqtt_connect()); hamqtt_close() closes the outbox.
 * Publish ids come from the outbox's sequence: unique for the life of the
 * client (and of a disk outbox's directory). hamqtt_publish_to() bypasses the
 * outbox.
 */

/* Stores in *out a snapshot of the client's outbox: depth, bytes, the age of
 * the oldest message, counters. Set out->struct_size first
 * (HAMQTT_OUTBOX_STATS_INIT): the library fills the fields it covers and leaves
 * struct_size as it is. Works for a client of the configuration whose cluster
 * has an outbox too. Never waits for the network. Returns HAMQTT_OK,
 * HAMQTT_ERR_HANDLE, HAMQTT_ERR_INVALID (out NULL, or struct_size smaller than
 * the 0.4 struct), HAMQTT_ERR_STATE (the client has no outbox). */
int hamqtt_outbox_stats(hamqtt_client client, struct hamqtt_outbox_stats *out);

/* ------------------------------------------------------------------------ */
/* Publishing                                                                */
/* ------------------------------------------------------------------------ */

/* Publishes `len` bytes at `payload` (NULL allowed when len is 0) to `topic`
 * and blocks until delivered: QoS 1 and 2 until a broker acknowledged it,
 * QoS 0 until a live connection to one took it (no broker acknowledges
 * QoS 0). An endpoint that fails meanwhile is
 * moved to the dead list and the message goes to the next live endpoint; the
 * call fails only when no endpoint took it within time_to_wait_ms.
 * With an outbox (0.4), for a QoS it stores: HAMQTT_OK when a broker
 * acknowledged it within time_to_wait_ms; HAMQTT_STORED (positive, not an
 * error) when the wait ended first, and at once when the client is not
 * connected (before hamqtt_connect(), after hamqtt_disconnect()): the outbox
 * holds it and delivers it, so do not publish it again; HAMQTT_ERR_FULL or
 * HAMQTT_ERR_IO when it was not stored (see "Outbox"). A total outage then ends
 * in HAMQTT_STORED, never in HAMQTT_ERR_NO_ENDPOINT.
 * Returns HAMQTT_OK, HAMQTT_ERR_HANDLE, HAMQTT_ERR_INVALID (NULL topic, NULL
 * payload with len > 0), HAMQTT_ERR_TOPIC (empty, wildcard, invalid UTF-8,
 * too long), HAMQTT_ERR_QOS, HAMQTT_ERR_PAYLOAD, HAMQTT_ERR_STATE (not
 * connected, and no outbox stores this QoS), HAMQTT_ERR_NO_ENDPOINT,
 * HAMQTT_ERR_CLOSED, and with an outbox HAMQTT_STORED, HAMQTT_ERR_FULL,
 * HAMQTT_ERR_IO. */
int hamqtt_publish(hamqtt_client client, const char *topic, const void *payload, size_t len, int qos, int retain);

/* Starts a publish with the rules of hamqtt_publish() and returns at once;
 * messages published from one thread are sent in order. The payload is
 * copied. On HAMQTT_OK, *id (may be NULL) receives the publish id and exactly
 * one outcome is reported later, with that id and `user`:
 *   - to `cb` when it is not NULL (this switches the client to push mode),
 *     on the client's library thread;
 *   - otherwise to hamqtt_callbacks.on_delivery (push mode) or as a
 *     HAMQTT_EVENT_DELIVERY from hamqtt_poll() (pull mode).
 * On any other return nothing is reported later. Returns the codes of
 * hamqtt_publish() except HAMQTT_ERR_NO_ENDPOINT/HAMQTT_ERR_CLOSED, which are
 * reported in the delivery outcome, and HAMQTT_STORED.
 * With an outbox (0.4), for a QoS it stores: HAMQTT_OK once the message is
 * stored, also before hamqtt_connect() and after hamqtt_disconnect(); its
 * outcome follows when a broker acknowledged it (HAMQTT_OK, however long the
 * outage) or it failed for good (HAMQTT_ERR_DROPPED, HAMQTT_ERR_EXPIRED,
 * HAMQTT_ERR_NO_ENDPOINT, HAMQTT_ERR_CLOSED: see "Outbox"). HAMQTT_ERR_FULL or
 * HAMQTT_ERR_IO at once when it was not stored (nothing is reported later). */
int hamqtt_publish_async(hamqtt_client client, const char *topic, const void *payload, size_t len, int qos,
                         int retain, hamqtt_delivery_cb cb, void *user, uint64_t *id);

/* Starts a publish like hamqtt_publish_async() and reports only its failure:
 * no delivery outcome on success; if no endpoint took it within
 * time_to_wait_ms, an error (on_error in push mode, HAMQTT_EVENT_ERROR from
 * hamqtt_poll() in pull mode) naming the topic. Nothing is reported for
 * publishes that hamqtt_close() or hamqtt_disconnect() ended. For producers
 * that would throw a success away (telemetry, MQTT.js-style publish without
 * a callback).
 * hamqtt_flush() waits for these publishes too. The payload is copied.
 * With an outbox (0.4), for a QoS it stores: HAMQTT_OK once stored (also when
 * not connected), HAMQTT_ERR_FULL or HAMQTT_ERR_IO when not; a stored message
 * that fails for good (dropped, expired, refused by the brokers) is reported
 * as an error naming the topic; HAMQTT_ERR_CLOSED is not reported.
 * Returns HAMQTT_OK and the codes of hamqtt_publish_async(), and
 * HAMQTT_ERR_CLOSED. */
int hamqtt_publish_detached(hamqtt_client client, const char *topic, const void *payload, size_t len, int qos,
                            int retain);

/* Waits until no asynchronous publish (hamqtt_publish_async() or
 * hamqtt_publish_detached()) of the client is outstanding: each was
 * acknowledged (QoS 1, 2), written (QoS 0) or failed. Publishes started by
 * other threads meanwhile count too. `timeout_ms` < 0 waits without limit.
 * Outcomes of publishes with a callback may still be queued for delivery when
 * it returns. With an outbox, every message it holds counts, also while the
 * client is not connected (nothing is sent then: the wait times out).
 * Returns HAMQTT_OK (also when the client is not connected and has nothing
 * outstanding), HAMQTT_ERR_HANDLE, HAMQTT_ERR_TIMEOUT. */
int hamqtt_flush(hamqtt_client client, int timeout_ms);

/* hamqtt_publish() with MQTT 5 properties (0.5): `props` (NULL or empty for
 * none) is copied during the call. The Topic Alias is the engine's own, and
 * subscription identifiers in `props` are ignored. A broker that refuses the
 * message with a reason code (0x80 and above, e.g. 0x87 not authorized by its
 * ACL) fails this message alone: HAMQTT_ERR_REFUSED, with the code in
 * hamqtt_last_reason_code(); it is not sent to another broker, and the broker
 * stays live. Returns the codes of hamqtt_publish(), HAMQTT_ERR_REFUSED, and
 * HAMQTT_ERR_INVALID for properties a client speaking MQTT 3.1.1 cannot send
 * (any, when non-empty), CONNACK properties, a user property key starting
 * with "hamqtt-", a payload format other than 0 or 1, or a response topic
 * with wildcards. */
int hamqtt_publish_props(hamqtt_client client, const char *topic, const void *payload, size_t len, int qos,
                         int retain, const hamqtt_props *props);

/* hamqtt_publish_async() with MQTT 5 properties (copied during the call), as
 * hamqtt_publish_props() takes them. No callback argument: the outcome goes to
 * hamqtt_callbacks.on_delivery (push mode) or comes as a HAMQTT_EVENT_DELIVERY
 * (pull mode), with `user`. A message a broker refused has the outcome
 * HAMQTT_ERR_REFUSED with hamqtt_delivery.reason_code set (0.5). */
int hamqtt_publish_async_props(hamqtt_client client, const char *topic, const void *payload, size_t len, int qos,
                               int retain, const hamqtt_props *props, void *user, uint64_t *id);

/* hamqtt_publish_detached() with MQTT 5 properties (copied during the call),
 * as hamqtt_publish_props() takes them; a refused message is reported as an
 * error naming the topic (0.5). */
int hamqtt_publish_detached_props(hamqtt_client client, const char *topic, const void *payload, size_t len, int qos,
                                  int retain, const hamqtt_props *props);

/* Publishes through the named endpoint only, without failover; blocks like
 * hamqtt_publish(). Returns its codes, and HAMQTT_ERR_NOT_FOUND (no such
 * endpoint), HAMQTT_ERR_NO_ENDPOINT (the endpoint is not live or failed). */
int hamqtt_publish_to(hamqtt_client client, const char *endpoint, const char *topic, const void *payload,
                      size_t len, int qos, int retain);

/* hamqtt_publish_to() with MQTT 5 properties (copied during the call), as
 * hamqtt_publish_props() takes them; returns the codes of both (0.5). */
int hamqtt_publish_to_props(hamqtt_client client, const char *endpoint, const char *topic, const void *payload,
                            size_t len, int qos, int retain, const hamqtt_props *props);

/* ------------------------------------------------------------------------ */
/* Subscribing                                                               */
/* ------------------------------------------------------------------------ */

/* Subscribes `filter` (wildcards + and # allowed, # last) at `qos` on every
 * live subscriber endpoint, and on every endpoint that comes up later. With a
 * non-NULL `cb` (this switches the client to push mode) the matching messages
 * go to cb(user, ...); otherwise to on_message (push) or hamqtt_poll() (pull).
 * A message matching several subscriptions with callbacks goes to each.
 * Subscribing the same filter again replaces its QoS and callback. Before
 * hamqtt_connect() the subscription is only registered (made at connect) and
 * HAMQTT_OK is returned at once; otherwise blocks until every subscriber
 * endpoint acknowledged. Returns HAMQTT_OK, HAMQTT_ERR_HANDLE,
 * HAMQTT_ERR_INVALID (NULL filter), HAMQTT_ERR_TOPIC (empty, '#' not last,
 * misplaced wildcard, invalid UTF-8), HAMQTT_ERR_QOS, HAMQTT_ERR_REFUSED (a
 * broker refused it), HAMQTT_ERR_NO_ENDPOINT (no subscriber endpoint live in
 * time; the subscription stays registered and is made when one comes up),
 * HAMQTT_ERR_STATE (publish-only cluster), HAMQTT_ERR_CLOSED. */
int hamqtt_subscribe(hamqtt_client client, const char *filter, int qos, hamqtt_message_cb cb, void *user);

/* hamqtt_subscribe() that also stores in *granted (not NULL) the QoS the
 * brokers granted: the lowest any subscriber endpoint granted (a broker may
 * cap it, as Mosquitto's max_qos does), 0x80 when one refused the filter
 * (HAMQTT_ERR_REFUSED; under MQTT 5 the broker's failure code, 0x80 and
 * above; hamqtt_last_reason_code() gives it too, 0.5). Before hamqtt_connect()
 * it is `qos`; after any other failure, 0x80. Returns the codes of
 * hamqtt_subscribe(), and
 * HAMQTT_ERR_INVALID for a NULL granted (0.2). */
int hamqtt_subscribe_granted(hamqtt_client client, const char *filter, int qos, hamqtt_message_cb cb, void *user,
                             int *granted);

/* MQTT 5 subscription options (0.5), for hamqtt_subscribe_opts(). Initialise
 * with HAMQTT_SUB_OPTIONS_INIT. */
typedef struct hamqtt_sub_options {
    uint32_t struct_size;    /* sizeof(hamqtt_sub_options)                         */
    int no_local;            /* non-zero: brokers do not send this client the messages
                                it published itself (every broker of the cluster knows
                                the client by the same client id, so it holds on each;
                                not allowed on a $share/ filter)                     */
    int retain_as_published; /* non-zero: forwarded messages keep the RETAIN flag they
                                were published with                                  */
    int retain_handling;     /* retained messages when subscribing: 0 sent, 1 sent only
                                when the subscription is new (a broker that restarted
                                without the session sees it as new), 2 never         */
    int subscription_id;     /* 1..268435455, given back with every message this
                                subscription matched (hamqtt_props_subscription_id_at());
                                0: none                                              */
    const hamqtt_props *props; /* user properties (HAMQTT_PROP_USER only) sent with the
                                SUBSCRIBE, and again wherever the subscription is made
                                later; NULL: none. Copied: the caller keeps ownership */
} hamqtt_sub_options;

#define HAMQTT_SUB_OPTIONS_INIT { (uint32_t)sizeof(hamqtt_sub_options), 0, 0, 0, 0, NULL }

/* hamqtt_subscribe() with MQTT 5 subscription options (`opts` NULL: none, as
 * hamqtt_subscribe()) and without a callback: the messages go to on_message
 * (push mode) or hamqtt_poll() (pull mode). The options are kept with the
 * subscription, which is made again with them on every endpoint that comes
 * up. *reason_code (may be NULL) receives, as hamqtt_subscribe_granted() does,
 * the QoS granted (the lowest any subscriber endpoint granted) or the failure
 * code (0x80 and above) a broker refused the filter with, which
 * hamqtt_last_reason_code() gives too; before hamqtt_connect() it is `qos`;
 * after any other failure 0x80. Returns the codes of hamqtt_subscribe(), and
 * HAMQTT_ERR_INVALID (opts->struct_size too small, retain_handling not 0-2,
 * subscription_id out of range, no_local on a shared subscription, props
 * with anything but user properties, any option on a client speaking MQTT
 * 3.1.1) (0.5). */
int hamqtt_subscribe_opts(hamqtt_client client, const char *filter, int qos, const hamqtt_sub_options *opts,
                          int *reason_code);

/* Removes `filter` (exactly as subscribed) from the client and from every
 * subscriber endpoint. Called outside a callback, its callback is not
 * running and will not run again once this returns. Returns HAMQTT_OK,
 * HAMQTT_ERR_HANDLE, HAMQTT_ERR_INVALID, HAMQTT_ERR_TOPIC,
 * HAMQTT_ERR_NOT_FOUND (not subscribed), HAMQTT_ERR_NO_ENDPOINT,
 * HAMQTT_ERR_CLOSED. */
int hamqtt_unsubscribe(hamqtt_client client, const char *filter);

/* hamqtt_unsubscribe() with user properties (HAMQTT_PROP_USER only; `props`
 * may be NULL, copied during the call) in the UNSUBSCRIBE each live
 * subscriber endpoint gets (MQTT 5). Returns the codes of
 * hamqtt_unsubscribe(), and HAMQTT_ERR_INVALID for other properties or any on
 * a client speaking MQTT 3.1.1 (0.5). */
int hamqtt_unsubscribe_props(hamqtt_client client, const char *filter, const hamqtt_props *props);

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

/* Installs the client-wide push callbacks (copied) and switches the client to
 * push mode. May be called again to replace them; `cbs` NULL clears them
 * (the client stays in push mode). Events queued before are delivered to
 * the new callbacks. Returns HAMQTT_OK, HAMQTT_ERR_HANDLE, HAMQTT_ERR_INVALID
 * (struct_size too small). */
int hamqtt_set_callbacks(hamqtt_client client, const hamqtt_callbacks *cbs);

/* Sends the client's log lines at `min_level` and above (enum
 * hamqtt_log_level) to cb(user, client, level, line) on a library thread of
 * their own (lines may come concurrently with other callbacks). cb NULL turns
 * logging off. Does not change the event mode. Lines are dropped rather than
 * ever slowing the client down when the callback falls behind. The first
 * callback installed also receives the warnings logged before it (those of
 * hamqtt_client_new() or the configuration's loading, at most 32). Returns
 * HAMQTT_OK, HAMQTT_ERR_HANDLE. */
int hamqtt_set_log_callback(hamqtt_client client, int min_level, hamqtt_log_cb cb, void *user);

/* Pull delivery: moves up to `max_events` queued events into `events`
 * (caller-allocated), in the order they happened, on the calling thread,
 * waiting up to `timeout_ms` for the first (0: do not wait; negative: until an
 * event comes or the client is disconnected). *count (required) receives how
 * many were stored; one call moves at most 4096. The strings and payloads the
 * events point to belong to the library and stay valid until the next
 * hamqtt_poll(), hamqtt_disconnect() or hamqtt_close() on the client. Only one
 * thread may poll a client at a time (any thread; in an event loop, the
 * loop's).
 * Event loops serve what is due with timeout_ms 0 when hamqtt_event_fd() is
 * readable: the call then never waits, neither for events nor for a lock (a
 * second poller gets HAMQTT_ERR_BUSY). Level-triggered, one call per wake-up
 * is enough; edge-triggered, call it until it stores fewer than max_events
 * (fewer than 4096 when max_events is larger), 0, or fails.
 * Returns HAMQTT_OK (also with *count 0 on timeout), HAMQTT_ERR_HANDLE,
 * HAMQTT_ERR_INVALID (NULL events/count, max_events 0), HAMQTT_ERR_MODE
 * (push mode), HAMQTT_ERR_BUSY (another thread is polling this client),
 * HAMQTT_ERR_CLOSED (disconnected and every event drained; every call answers
 * so until the client is connected again).
 *
 * Event layout: hamqtt_event grew in 0.5, and programs built with the 0.4
 * header keep working unchanged, because the library writes each event in
 * the layout of the header the program was built with:
 *   - In a program compiled with this header, hamqtt_poll(...) is a macro
 *     that calls hamqtt_poll_sized() with sizeof(hamqtt_event): always this
 *     header's layout, whatever made the client.
 *   - The exported function hamqtt_poll() (what a program built with an older
 *     header calls, and what `(hamqtt_poll)(...)`, a function pointer or
 *     dlsym() reaches) goes by the client's hamqtt_options.struct_size: this
 *     header's layout when it covers the 0.5 fields (HAMQTT_OPTIONS_INIT of
 *     this header), else the 0.4 layout, which is also the one for clients
 *     made without options (hamqtt_client_new() with NULL opts,
 *     hamqtt_cluster_client()). A binding that declares the structs itself
 *     calls hamqtt_poll_sized() with the size of its hamqtt_event.
 * The 0.4 layout has the same fields with the same values, without
 * message.props and delivery.reason_code. */
int hamqtt_poll(hamqtt_client client, hamqtt_event *events, size_t max_events, int timeout_ms, size_t *count);

/* hamqtt_poll() that writes the events in the layout whose size the caller
 * gives: `event_size` is sizeof(hamqtt_event) of the caller's header (the
 * hamqtt_poll macro passes it). The 0.4 size gives the 0.4 layout (without
 * message.props and delivery.reason_code); this header's size or more gives
 * this layout (the bytes beyond it zeroed: the events of a newer header start
 * with it). Returns the codes of hamqtt_poll(), and HAMQTT_ERR_INVALID for any
 * other event_size (0.5). */
int hamqtt_poll_sized(hamqtt_client client, hamqtt_event *events, size_t event_size, size_t max_events,
                      int timeout_ms, size_t *count);

#define hamqtt_poll(client, events, max_events, timeout_ms, count)                                          \
    hamqtt_poll_sized((client), (events), sizeof(hamqtt_event), (max_events), (timeout_ms), (count))

/* Stores in *fd the client's event descriptor, to wake an event loop (epoll,
 * poll(2), select(2), libuv's uv_poll_t, libevent, asyncio's add_reader). It
 * is readable (POLLIN, EPOLLIN) while hamqtt_poll() has something to give:
 * events, or after hamqtt_disconnect() the answer HAMQTT_ERR_CLOSED. Wake on
 * it, then serve what is due with hamqtt_poll() and timeout_ms 0.
 *
 * One descriptor for the life of the client: it can be had from
 * hamqtt_client_new() on, before hamqtt_connect() or hamqtt_connect_async(),
 * and every call returns the same number, also across hamqtt_disconnect() and
 * the next connect, so a loop registers it once. hamqtt_close() (and
 * hamqtt_shutdown() for the clients of the configuration) closes it: take it
 * out of the loop first (EPOLL_CTL_DEL, uv_poll_stop(), event_del()), since
 * the number can be reused at once.
 *
 * Readiness is level-triggered: it stays readable while anything waits, so
 * one hamqtt_poll() per wake-up is enough. Edge-triggered watching (EPOLLET,
 * EV_ET) is safe too: every event that comes after a hamqtt_poll() took the
 * last one makes it readable anew, so after each wake-up poll until a batch
 * comes back short (see hamqtt_poll()). Readiness is a hint: a wake-up whose
 * hamqtt_poll() stores nothing is possible and harmless. After
 * hamqtt_disconnect() it is readable until hamqtt_poll() has given the events
 * left and answered HAMQTT_ERR_CLOSED, then quiet (no busy loop) until the
 * client connects again.
 *
 * The descriptor belongs to the library: never read, write or close it (a
 * dup() of it is yours to close). It is close-on-exec; on Linux it is an
 * epoll descriptor. Any thread may ask for it. In push mode the client has
 * none; one obtained before switching to push mode stays open and quiet.
 * On failure *fd is -1. Returns HAMQTT_OK, HAMQTT_ERR_HANDLE,
 * HAMQTT_ERR_INVALID (fd NULL), HAMQTT_ERR_MODE (push mode),
 * HAMQTT_ERR_CLOSED (closed meanwhile), HAMQTT_ERR_IO (no descriptor could be
 * made, e.g. the process is out of descriptors). (0.2: before, the descriptor
 * lasted one connection and hamqtt_disconnect() closed it.) */
int hamqtt_event_fd(hamqtt_client client, int *fd);

/* ------------------------------------------------------------------------ */
/* Endpoints                                                                 */
/* ------------------------------------------------------------------------ */

/* The names of the live endpoints, longest-live first. *names receives a
 * NULL-terminated array of strings, *count (may be NULL) its length; free
 * the whole array with one hamqtt_free(*names). */
int hamqtt_live_endpoints(hamqtt_client client, char ***names, size_t *count);

/* The names of the endpoints that are not live (dead, connecting,
 * quarantined), in configuration order. Same ownership as above. */
int hamqtt_dead_endpoints(hamqtt_client client, char ***names, size_t *count);

/* A snapshot of every endpoint, in configuration order. *stats receives an
 * array of *count entries (strings included in the same block): free with
 * one hamqtt_free(*stats). */
int hamqtt_stats(hamqtt_client client, hamqtt_endpoint_stats **stats, size_t *count);

/* Adds the broker(s) at `uri` (a URI, list or range as in hamqtt_client_new)
 * to the cluster at runtime; a connected client connects them at once.
 * `name` (NULL: "<cluster>-<n>") is allowed only when `uri` names one broker.
 * *assigned (may be NULL) receives the comma-separated names given: free
 * with hamqtt_free(). Returns HAMQTT_OK, HAMQTT_ERR_HANDLE,
 * HAMQTT_ERR_INVALID, HAMQTT_ERR_CONFIG (bad URI, duplicate name or broker),
 * HAMQTT_ERR_CLOSED. */
int hamqtt_add_endpoint(hamqtt_client client, const char *uri, const char *name, char **assigned);

/* Disconnects the named endpoint and removes it for good; publishes in
 * flight on it fail over. Returns HAMQTT_OK, HAMQTT_ERR_HANDLE,
 * HAMQTT_ERR_INVALID, HAMQTT_ERR_NOT_FOUND. */
int hamqtt_remove_endpoint(hamqtt_client client, const char *name);

/* Stores in *out a new property list (the caller frees it with
 * hamqtt_props_free()) with what the broker of a live endpoint said in its MQTT
 * 5 CONNACK: its limits (HAMQTT_PROP_RECEIVE_MAXIMUM,
 * HAMQTT_PROP_TOPIC_ALIAS_MAXIMUM, HAMQTT_PROP_MAXIMUM_QOS,
 * HAMQTT_PROP_RETAIN_AVAILABLE, HAMQTT_PROP_MAXIMUM_PACKET_SIZE, the
 * *_AVAILABLE flags: each present only when the broker departs from MQTT's
 * default, as a broker sends them), HAMQTT_PROP_SERVER_KEEP_ALIVE,
 * HAMQTT_PROP_RESPONSE_INFO, HAMQTT_PROP_REASON_STRING, the user properties.
 * `endpoint` names the endpoint; NULL takes the longest-live one. The engine
 * always sends a client id (one it generated when hamqtt_options.client_id was
 * NULL), so that every broker knows the client by the same name and none
 * assigns one: when the application gave none, HAMQTT_PROP_ASSIGNED_CLIENT_ID
 * holds the generated id, as a broker that assigned it would have said.
 * It is the CONNACK of the endpoint's current connection: readable as soon as
 * the endpoint is live (hamqtt_connect() returned, or its
 * HAMQTT_EVENT_ENDPOINT_UP), from any thread. Returns HAMQTT_OK,
 * HAMQTT_ERR_HANDLE, HAMQTT_ERR_INVALID (out NULL), HAMQTT_ERR_NOT_FOUND (no
 * such live endpoint, or the client speaks MQTT 3.1.1; *out is NULL) (0.5). */
int hamqtt_connack_props(hamqtt_client client, const char *endpoint, hamqtt_props **out);

#ifdef __cplusplus
}
#endif

#endif /* HAMQTT_H */
