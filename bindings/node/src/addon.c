/*
 * addon.c - the Node-API addon of hamqtt: a thin, typed layer over libhamqtt.so
 * (include/hamqtt.h). Everything user-facing (MQTT.js compatibility, HaClusters,
 * promises) is JavaScript in lib/; this file owns the parts JavaScript cannot do:
 *
 *   Events   Pull delivery only. Each watched client has a uv_poll_t on the
 *            main loop watching hamqtt_event_fd(); when it is readable, the
 *            events are drained with hamqtt_poll() in batches on the main
 *            thread, copied into JavaScript values, and handed to the client's
 *            JavaScript handler. No library thread ever calls into Node, so
 *            there is no thread-safe function and nothing to deadlock on.
 *   Blocking calls
 *            hamqtt_connect/subscribe/unsubscribe/publish_to/disconnect/close
 *            block. They run on threads of our own (one detached thread per
 *            call; JavaScript serialises them per client), never on libuv's
 *            four-thread pool (a connect waiting for dead brokers would stall
 *            fs and dns) and never on the main thread. Results come back
 *            through one uv_async_t per environment.
 *   Teardown An async env cleanup hook stops and closes every uv handle and
 *            closes every client in the background, so a Node environment
 *            (the main one or a worker) always finishes tearing down.
 *            Threads still blocked in the library at that point only hold a
 *            reference to a refcounted state block, never to Node.
 *
 * Build: node-gyp (binding.gyp), NAPI_VERSION 8, linked with -l:libhamqtt.so.0
 * and RUNPATH $ORIGIN/../../native.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>
#include <uv.h>

#include "hamqtt.h"

/* ------------------------------------------------------------------------ */
/* Signals                                                                    */
/* ------------------------------------------------------------------------ */

/* Go code called from a thread runs on a small goroutine stack. Node and libuv install signal
 * handlers without SA_ONSTACK (SIGCHLD once a child process is spawned, SIGINT, ...); if such
 * a signal lands on a thread while it runs library code, the handler runs on that goroutine
 * stack and can overflow it (include/hamqtt.h, "Signals"). So every call into the library
 * runs with the asynchronous signals blocked: for its duration (two rt_sigprocmask calls), or
 * for the rest of the turn of JavaScript that holds them (see GO below), the
 * addon's own threads block them for good, and lib/native.js loads the library with them
 * blocked so that the Go runtime's threads inherit that mask (see src/sigmask.c). The kernel
 * then delivers them to a thread of Node's that is not inside the library. */
static sigset_t async_signals;
static pthread_once_t async_signals_once = PTHREAD_ONCE_INIT;

static void async_signals_init(void) {
    sigfillset(&async_signals);
    sigdelset(&async_signals, SIGSEGV);
    sigdelset(&async_signals, SIGBUS);
    sigdelset(&async_signals, SIGFPE);
    sigdelset(&async_signals, SIGILL);
    sigdelset(&async_signals, SIGTRAP);
    sigdelset(&async_signals, SIGSYS);
    sigdelset(&async_signals, SIGABRT);
    sigdelset(&async_signals, SIGKILL);
    sigdelset(&async_signals, SIGSTOP);
    /* SIGCHLD stays deliverable: Go unblocks it on its own threads whatever we do, so blocking
     * it here would only push it off this thread onto one of those. The kernel sends it to the
     * thread that forked the child (Node's main thread) when that thread does not block it;
     * ensure_onstack() keeps its handler on the signal stack when it runs during library code. */
    sigdelset(&async_signals, SIGCHLD);
}

/* Handlers the host installs without SA_ONSTACK are given it: with it, a handler that fires on
 * a library thread runs on that thread's signal stack (Go gives each of its threads one) instead
 * of the goroutine stack. The Go runtime itself does this for glibc's handlers. SIGCHLD needs
 * more: Go keeps it (and SIGPROF) unblocked on its threads whatever the mask, and libuv installs
 * its SIGCHLD handler (without SA_ONSTACK) when a child process is spawned and removes it when
 * the last one is reaped, again and again; a SIGCHLD landing on a library thread between such an
 * install and our fix-up corrupted memory (about one run in 30 of a spawn-heavy test). So every
 * environment keeps a libuv SIGCHLD watcher of its own for its whole life (unref'd; its callback
 * does nothing): libuv's handler then stays installed, and is fixed once. Handlers are checked
 * when the addon loads, after every turn of the loop for SIGCHLD (one sigaction call) and for
 * every signal at most every 20 ms (process.on('SIGINT') and the like; see on_check). */
static void ensure_onstack(int sig) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) != 0) {
        return;
    }
    if (!(sa.sa_flags & SA_SIGINFO) && (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)) {
        return;
    }
    if (sa.sa_flags & SA_ONSTACK) {
        return;
    }
    sa.sa_flags |= SA_ONSTACK;
    sigaction(sig, &sa, NULL);
}

static void ensure_onstack_all(void) {
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            ensure_onstack(sig);
        }
    }
}

/* Signals held for a turn of JavaScript. Two rt_sigprocmask calls per call into the library
 * were a sixth to a third of a publish(). So JavaScript holds the mask across a synchronous
 * burst instead: the first publish of a turn calls holdSignals(), which blocks the asynchronous
 * signals on this thread, and queues releaseSignals() as a microtask (lib/base.js,
 * holdSignalsForTurn); every call into the library while they are held skips the two syscalls.
 * The protection is the same (no library code runs on this thread with them unblocked); what
 * the delay changes is said in src/sigmask.c. Per thread (each worker has its own loop and
 * turns); a count, so that holds and releases pair up however they nest. The addon's own
 * threads block the signals for good and count as held from their first instruction. */
static __thread int signals_held;
static __thread sigset_t signals_saved;

/* Blocks the asynchronous signals unless they are held; *old gets what mask_leave restores. */
static inline int mask_enter(sigset_t *old) {
    if (signals_held) {
        return 0;
    }
    pthread_sigmask(SIG_BLOCK, &async_signals, old);
    return 1;
}

static inline void mask_leave(int entered, const sigset_t *old) {
    if (entered) {
        pthread_sigmask(SIG_SETMASK, old, NULL);
    }
}

#define GO(expr)                                                                               \
    __extension__({                                                                            \
        sigset_t old_;                                                                         \
        int entered_ = mask_enter(&old_);                                                      \
        __typeof__(expr) r_ = (expr);                                                          \
        mask_leave(entered_, &old_);                                                           \
        r_;                                                                                    \
    })
#define GOV(stmt)                                                                              \
    do {                                                                                       \
        sigset_t old_;                                                                         \
        int entered_ = mask_enter(&old_);                                                      \
        stmt;                                                                                  \
        mask_leave(entered_, &old_);                                                           \
    } while (0)

/* Every library function, wrapped (a macro does not expand inside its own expansion). */
#define hamqtt_version(...) GO(hamqtt_version(__VA_ARGS__))
#define hamqtt_strerror(...) GO(hamqtt_strerror(__VA_ARGS__))
#define hamqtt_last_error(...) GO(hamqtt_last_error(__VA_ARGS__))
#define hamqtt_free(p) GOV(hamqtt_free(p))
#define hamqtt_init_file(...) GO(hamqtt_init_file(__VA_ARGS__))
#define hamqtt_init_yaml(...) GO(hamqtt_init_yaml(__VA_ARGS__))
#define hamqtt_shutdown(...) GO(hamqtt_shutdown(__VA_ARGS__))
#define hamqtt_cluster_client(...) GO(hamqtt_cluster_client(__VA_ARGS__))
#define hamqtt_cluster_names(...) GO(hamqtt_cluster_names(__VA_ARGS__))
#define hamqtt_client_new(...) GO(hamqtt_client_new(__VA_ARGS__))
#define hamqtt_connect(...) GO(hamqtt_connect(__VA_ARGS__))
#define hamqtt_disconnect(...) GO(hamqtt_disconnect(__VA_ARGS__))
#define hamqtt_disconnect_props(...) GO(hamqtt_disconnect_props(__VA_ARGS__))
#define hamqtt_close(...) GO(hamqtt_close(__VA_ARGS__))
#define hamqtt_client_name(...) GO(hamqtt_client_name(__VA_ARGS__))
#define hamqtt_publish(...) GO(hamqtt_publish(__VA_ARGS__))
#define hamqtt_publish_async(...) GO(hamqtt_publish_async(__VA_ARGS__))
#define hamqtt_publish_detached(...) GO(hamqtt_publish_detached(__VA_ARGS__))
#define hamqtt_outbox_stats(...) GO(hamqtt_outbox_stats(__VA_ARGS__))
#define hamqtt_publish_to(...) GO(hamqtt_publish_to(__VA_ARGS__))
#define hamqtt_publish_to_props(...) GO(hamqtt_publish_to_props(__VA_ARGS__))
#define hamqtt_subscribe(...) GO(hamqtt_subscribe(__VA_ARGS__))
#define hamqtt_unsubscribe(...) GO(hamqtt_unsubscribe(__VA_ARGS__))
#define hamqtt_unsubscribe_props(...) GO(hamqtt_unsubscribe_props(__VA_ARGS__))
#define hamqtt_poll_sized(...) GO(hamqtt_poll_sized(__VA_ARGS__)) /* hamqtt_poll is the header's macro over it */
#define hamqtt_event_fd(...) GO(hamqtt_event_fd(__VA_ARGS__))
#define hamqtt_live_endpoints(...) GO(hamqtt_live_endpoints(__VA_ARGS__))
#define hamqtt_dead_endpoints(...) GO(hamqtt_dead_endpoints(__VA_ARGS__))
#define hamqtt_stats(...) GO(hamqtt_stats(__VA_ARGS__))
#define hamqtt_add_endpoint(...) GO(hamqtt_add_endpoint(__VA_ARGS__))
#define hamqtt_remove_endpoint(...) GO(hamqtt_remove_endpoint(__VA_ARGS__))
#define hamqtt_props_free(p) GOV(hamqtt_props_free(p))
#define hamqtt_props_decode(...) GO(hamqtt_props_decode(__VA_ARGS__))
#define hamqtt_publish_async_props(...) GO(hamqtt_publish_async_props(__VA_ARGS__))
#define hamqtt_publish_detached_props(...) GO(hamqtt_publish_detached_props(__VA_ARGS__))
#define hamqtt_connack_props(...) GO(hamqtt_connack_props(__VA_ARGS__))

#define BATCH 1024         /* events per hamqtt_poll */
#define BATCHES_PER_WAKE 8 /* then yield to the loop; the fd stays readable */

/* Handler kinds (the first argument of a client's JavaScript handler). */
enum {
    K_MESSAGE = 1,  /* topic, payload, flags (qos | retained<<2 | dup<<3), endpoint,
                       MQTT 5 properties (props_object) or undefined */
    K_UP = 2,       /* endpoint, status (HAMQTT_UP_SESSION_PRESENT or 0) */
    K_DOWN = 3,     /* endpoint, reason, status */
    K_DELIVERY = 4, /* id, status, error|null, endpoints, MQTT 5 reason code (0: none) */
    K_ERROR = 5,    /* status, error */
    K_CLOSED = 6,   /* the client was disconnected and every event drained */
    K_IDLE = 7      /* no asynchronous publish is pending any more (after notifyIdle) */
};

/* ------------------------------------------------------------------------ */
/* Error helpers                                                              */
/* ------------------------------------------------------------------------ */

#define NAPI_CALL(env, call)                                                                   \
    do {                                                                                       \
        napi_status status_ = (call);                                                          \
        if (status_ != napi_ok) {                                                              \
            throw_napi_failure((env), #call);                                                  \
            return NULL;                                                                       \
        }                                                                                      \
    } while (0)

static void throw_napi_failure(napi_env env, const char *what) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
        return;
    }
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    char msg[512];
    snprintf(msg, sizeof msg, "hamqtt: internal Node-API failure in %s: %s", what,
             info && info->error_message ? info->error_message : "unknown");
    napi_throw_error(env, NULL, msg);
}

static const char *status_name(int rc) {
    switch (rc) {
    case HAMQTT_OK: return "HAMQTT_OK";
    case HAMQTT_ERR_INVALID: return "HAMQTT_ERR_INVALID";
    case HAMQTT_ERR_HANDLE: return "HAMQTT_ERR_HANDLE";
    case HAMQTT_ERR_TOPIC: return "HAMQTT_ERR_TOPIC";
    case HAMQTT_ERR_QOS: return "HAMQTT_ERR_QOS";
    case HAMQTT_ERR_PAYLOAD: return "HAMQTT_ERR_PAYLOAD";
    case HAMQTT_ERR_CONFIG: return "HAMQTT_ERR_CONFIG";
    case HAMQTT_ERR_NO_ENDPOINT: return "HAMQTT_ERR_NO_ENDPOINT";
    case HAMQTT_ERR_CLOSED: return "HAMQTT_ERR_CLOSED";
    case HAMQTT_ERR_NOT_FOUND: return "HAMQTT_ERR_NOT_FOUND";
    case HAMQTT_ERR_BUSY: return "HAMQTT_ERR_BUSY";
    case HAMQTT_ERR_MODE: return "HAMQTT_ERR_MODE";
    case HAMQTT_ERR_STATE: return "HAMQTT_ERR_STATE";
    case HAMQTT_ERR_REFUSED: return "HAMQTT_ERR_REFUSED";
    case HAMQTT_ERR_IO: return "HAMQTT_ERR_IO";
    case HAMQTT_ERR_NOT_INITIALIZED: return "HAMQTT_ERR_NOT_INITIALIZED";
    case HAMQTT_ERR_TIMEOUT: return "HAMQTT_ERR_TIMEOUT";
    case HAMQTT_ERR_INTERNAL: return "HAMQTT_ERR_INTERNAL";
    case HAMQTT_STORED: return "HAMQTT_STORED";
    case HAMQTT_ERR_FULL: return "HAMQTT_ERR_FULL";
    case HAMQTT_ERR_DROPPED: return "HAMQTT_ERR_DROPPED";
    case HAMQTT_ERR_EXPIRED: return "HAMQTT_ERR_EXPIRED";
    case HAMQTT_ERR_LOCKED: return "HAMQTT_ERR_LOCKED";
    case HAMQTT_ERR_BUFFER: return "HAMQTT_ERR_BUFFER";
    }
    return "HAMQTT_ERR_UNKNOWN";
}

/* Builds an Error for a failed hamqtt call: TypeError for bad arguments and
 * topics, RangeError for QoS and payload size, Error otherwise; .code is the
 * status name, .status the number. `detail` NULL means hamqtt_last_error(). */
static napi_value make_error(napi_env env, int rc, const char *detail) {
    if (detail == NULL || detail[0] == '\0') {
        detail = hamqtt_last_error();
    }
    if (detail == NULL || detail[0] == '\0') {
        detail = hamqtt_strerror(rc);
    }
    napi_value msg, code, err, num;
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", detail);
    napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, status_name(rc), NAPI_AUTO_LENGTH, &code);
    switch (rc) {
    case HAMQTT_ERR_INVALID:
    case HAMQTT_ERR_TOPIC:
        napi_create_type_error(env, code, msg, &err);
        break;
    case HAMQTT_ERR_QOS:
    case HAMQTT_ERR_PAYLOAD:
        napi_create_range_error(env, code, msg, &err);
        break;
    default:
        napi_create_error(env, code, msg, &err);
    }
    napi_create_int32(env, rc, &num);
    napi_set_named_property(env, err, "status", num);
    return err;
}

static void throw_status(napi_env env, int rc, const char *detail) {
    napi_throw(env, make_error(env, rc, detail));
}

/* ------------------------------------------------------------------------ */
/* Per-environment state                                                      */
/* ------------------------------------------------------------------------ */

typedef struct op op;
typedef struct nclient nclient;

typedef struct env_state {
    napi_env env;
    uv_loop_t *loop;
    napi_ref client_ctor;
    napi_ref resource;         /* async resource object for callbacks */
    napi_async_context actx;
    nclient *clients;          /* every client not yet closed (main thread) */
    int outstanding;           /* ops started, completion not yet handled (main thread) */
    napi_async_cleanup_hook_handle cleanup;
    int handles_open;          /* uv handles whose close callback has not run */
    int torn_down;             /* the cleanup hook ran (main thread) */

    uv_check_t check;          /* keeps the host's signal handlers SA_ONSTACK (unref'd) */
    uint64_t last_signal_scan; /* uv_now of the last full scan */
    int check_ok;              /* check was initialised */
    uv_signal_t sigchld;       /* keeps libuv's SIGCHLD handler installed (unref'd) */
    int sigchld_ok;
    uv_async_t async;          /* wakes the main thread for op completions */
    pthread_mutex_t mu;        /* guards the fields below */
    op *done_head, *done_tail;
    int refs;                  /* 1 for the environment + 1 per running op thread */
    int closing;               /* the environment is gone: drop completions */
} env_state;

static void state_unref(env_state *st) {
    pthread_mutex_lock(&st->mu);
    int left = --st->refs;
    pthread_mutex_unlock(&st->mu);
    if (left == 0) {
        pthread_mutex_destroy(&st->mu);
        free(st);
    }
}

/* ------------------------------------------------------------------------ */
/* Clients                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct cached_str {
    char *text;
    size_t len;
    napi_ref value;
} cached_str;

#define ENDPOINT_CACHE 16

struct nclient {
    env_state *st;
    hamqtt_client h;
    napi_ref handler;       /* the JavaScript event handler; released at close */
    napi_ref self;          /* weak: the wrapper object */
    uv_poll_t *poll;        /* NULL while not watched */
    int fd;
    int refed;              /* the poll handle keeps the loop alive */
    int closing;            /* close started: the handle is no longer used */
    int disconnecting;      /* a disconnect runs: no poll until it completes */
    int draining;           /* inside drain(): no re-entry */
    int notify_idle;        /* report K_IDLE once pending reaches 0 */
    uint64_t pending;       /* asynchronous publishes without an outcome yet */
    hamqtt_event *events;
    napi_value (*argv)[6];  /* per batch: the handler's arguments */
    cached_str topic;       /* the last topic seen, reused while it repeats */
    cached_str endpoints[ENDPOINT_CACHE];
    int next_endpoint;
    struct flat_props *flat; /* the properties of the publish being made (lazily allocated) */
    nclient *prev, *next;
};

static void flat_props_free(struct flat_props *fp);

/* Called when one of our uv handles finished closing. Once the environment
 * is torn down and the last handle closed, Node may finish its teardown and
 * the environment's reference to the state is dropped (threads still running
 * hold their own). Close callbacks run in any order, hence the count. */
static void handle_closed(env_state *st) {
    st->handles_open--;
    if (st->torn_down && st->handles_open == 0) {
        if (st->cleanup != NULL) {
            napi_async_cleanup_hook_handle hh = st->cleanup;
            st->cleanup = NULL;
            napi_remove_async_cleanup_hook(hh);
        }
        state_unref(st);
    }
}

static void on_poll_closed(uv_handle_t *h) {
    env_state *st = h->data;
    free(h);
    handle_closed(st);
}

static void unwatch(nclient *c) {
    if (c->poll == NULL) {
        return;
    }
    uv_poll_stop(c->poll); /* removes the fd from epoll before the library closes it */
    c->poll->data = c->st;
    uv_close((uv_handle_t *)c->poll, on_poll_closed);
    c->poll = NULL;
    c->fd = -1;
}

static void list_remove(nclient *c) {
    if (c->prev) {
        c->prev->next = c->next;
    } else if (c->st && c->st->clients == c) {
        c->st->clients = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    c->prev = c->next = NULL;
}

static void clear_cache(napi_env env, nclient *c) {
    if (c->topic.value) {
        napi_delete_reference(env, c->topic.value);
    }
    free(c->topic.text);
    memset(&c->topic, 0, sizeof c->topic);
    for (int i = 0; i < ENDPOINT_CACHE; i++) {
        if (c->endpoints[i].value) {
            napi_delete_reference(env, c->endpoints[i].value);
        }
        free(c->endpoints[i].text);
        memset(&c->endpoints[i], 0, sizeof c->endpoints[i]);
    }
}

/* Marks the client closed on the main thread: stops watching, forgets the
 * handler (so the JavaScript objects can be collected) and the handle. */
static hamqtt_client detach(napi_env env, nclient *c) {
    hamqtt_client h = c->h;
    unwatch(c);
    c->closing = 1;
    c->h = 0;
    list_remove(c);
    if (c->handler) {
        napi_delete_reference(env, c->handler);
        c->handler = NULL;
    }
    clear_cache(env, c);
    return h;
}

/* ------------------------------------------------------------------------ */
/* Blocking calls on threads of our own                                      */
/* ------------------------------------------------------------------------ */

typedef enum {
    OP_CONNECT,
    OP_DISCONNECT,
    OP_CLOSE,
    OP_SUBSCRIBE,
    OP_UNSUBSCRIBE,
    OP_PUBLISH,
    OP_PUBLISH_TO,
    OP_REMOVE_ENDPOINT,
    OP_SHUTDOWN,
    OP_CLOSE_MANY,
    OP_FLUSH
} op_kind;

struct op {
    op *next;
    env_state *st;
    op_kind kind;
    hamqtt_client h;
    nclient *client;        /* main thread only: for OP_DISCONNECT bookkeeping */
    char *s1, *s2;
    void *data;
    size_t len;
    int qos, retain;
    hamqtt_client *many;    /* OP_CLOSE_MANY */
    size_t nmany;
    hamqtt_sub_options sub; /* OP_SUBSCRIBE with MQTT 5 options (has_sub) */
    int has_sub;
    hamqtt_props *props;    /* MQTT 5 properties of a SUBSCRIBE (in sub.props), UNSUBSCRIBE or
                               DISCONNECT; owned */
    int disconnect_reason;  /* OP_DISCONNECT: -1 plain, else the reason code to send */
    int reason;             /* the MQTT 5 reason code of a failure (0: none) */
    int rc;
    char *err;
    napi_ref cb;            /* main thread only */
};

static void op_free(op *o) {
    free(o->s1);
    free(o->s2);
    free(o->data);
    free(o->many);
    free(o->err);
    if (o->props != NULL) {
        hamqtt_props_free(o->props);
    }
    free(o);
}

static void *op_thread(void *arg) {
    op *o = arg;
    int rc = HAMQTT_OK;
    pthread_sigmask(SIG_BLOCK, &async_signals, NULL); /* our thread: never a signal target */
    signals_held = 1;                                 /* for good: no span needs its syscalls */
    switch (o->kind) {
    case OP_CONNECT: rc = hamqtt_connect(o->h); break;
    case OP_DISCONNECT:
        rc = o->disconnect_reason < 0 ? hamqtt_disconnect(o->h)
                                      : hamqtt_disconnect_props(o->h, o->disconnect_reason, o->props);
        break;
    case OP_CLOSE: rc = hamqtt_close(o->h); break;
    case OP_SUBSCRIBE:
        /* o->qos: the QoS granted, or the broker's failure code (0x80 and above) */
        rc = o->has_sub ? hamqtt_subscribe_opts(o->h, o->s1, o->qos, &o->sub, &o->qos)
                        : hamqtt_subscribe_granted(o->h, o->s1, o->qos, NULL, NULL, &o->qos);
        break;
    case OP_UNSUBSCRIBE:
        rc = o->props != NULL ? hamqtt_unsubscribe_props(o->h, o->s1, o->props) : hamqtt_unsubscribe(o->h, o->s1);
        break;
    case OP_PUBLISH:
        rc = o->props != NULL ? hamqtt_publish_props(o->h, o->s1, o->data, o->len, o->qos, o->retain, o->props)
                              : hamqtt_publish(o->h, o->s1, o->data, o->len, o->qos, o->retain);
        break;
    case OP_PUBLISH_TO:
        rc = o->props != NULL
                 ? hamqtt_publish_to_props(o->h, o->s2, o->s1, o->data, o->len, o->qos, o->retain, o->props)
                 : hamqtt_publish_to(o->h, o->s2, o->s1, o->data, o->len, o->qos, o->retain);
        break;
    case OP_REMOVE_ENDPOINT: rc = hamqtt_remove_endpoint(o->h, o->s1); break;
    case OP_SHUTDOWN: rc = hamqtt_shutdown(); break;
    case OP_FLUSH: rc = hamqtt_flush(o->h, -1); break;
    case OP_CLOSE_MANY:
        for (size_t i = 0; i < o->nmany; i++) {
            hamqtt_close(o->many[i]);
        }
        break;
    }
    o->rc = rc;
    if (rc != HAMQTT_OK) {
        const char *e = hamqtt_last_error();
        o->err = strdup(e && e[0] ? e : hamqtt_strerror(rc));
        o->reason = rc == HAMQTT_ERR_REFUSED ? hamqtt_last_reason_code() : 0;
    }
    env_state *st = o->st;
    pthread_mutex_lock(&st->mu);
    if (st->closing) {
        pthread_mutex_unlock(&st->mu);
        op_free(o); /* its napi_ref died with the environment */
    } else {
        if (st->done_tail) {
            st->done_tail->next = o;
        } else {
            st->done_head = o;
        }
        st->done_tail = o;
        uv_async_send(&st->async);
        pthread_mutex_unlock(&st->mu);
    }
    state_unref(st);
    return NULL;
}

/* Creates an op thread with the asynchronous signals blocked from its first instruction. */
static int spawn_op(pthread_t *tid, pthread_attr_t *attr, op *o) {
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &async_signals, &old);
    int err = pthread_create(tid, attr, op_thread, o);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

/* Starts o on a detached thread. On failure o is freed and an exception thrown. */
static int op_start(napi_env env, op *o, napi_value cb) {
    env_state *st = o->st;
    if (cb != NULL) {
        napi_valuetype t;
        napi_typeof(env, cb, &t);
        if (t == napi_function) {
            napi_create_reference(env, cb, 1, &o->cb);
        }
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&st->mu);
    st->refs++;
    pthread_mutex_unlock(&st->mu);
    pthread_t tid;
    int err = spawn_op(&tid, &attr, o);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        pthread_mutex_lock(&st->mu);
        st->refs--;
        pthread_mutex_unlock(&st->mu);
        if (o->cb) {
            napi_delete_reference(env, o->cb);
        }
        op_free(o);
        char msg[128];
        snprintf(msg, sizeof msg, "hamqtt: cannot start a thread: %s", strerror(err));
        napi_throw_error(env, "ERR_HAMQTT_THREAD", msg);
        return -1;
    }
    if (st->outstanding++ == 0) {
        uv_ref((uv_handle_t *)&st->async);
    }
    return 0;
}

static void report_exception(napi_env env) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
        napi_value e;
        napi_get_and_clear_last_exception(env, &e);
        napi_fatal_exception(env, e);
    }
}

static void on_async(uv_async_t *a) {
    env_state *st = a->data;
    pthread_mutex_lock(&st->mu);
    op *list = st->done_head;
    st->done_head = st->done_tail = NULL;
    pthread_mutex_unlock(&st->mu);
    napi_env env = st->env;
    while (list) {
        op *o = list;
        list = o->next;
        nclient *c = o->client;
        if (c && o->kind == OP_DISCONNECT) {
            c->disconnecting = 0;
        }
        if (--st->outstanding == 0) {
            uv_unref((uv_handle_t *)&st->async);
        }
        if (o->cb) {
            napi_handle_scope scope;
            napi_open_handle_scope(env, &scope);
            napi_value fn, resource, argv[2];
            size_t argc = 1;
            napi_get_reference_value(env, o->cb, &fn);
            napi_get_reference_value(env, st->resource, &resource);
            if (o->rc == HAMQTT_OK) {
                napi_get_null(env, &argv[0]);
                if (o->kind == OP_SUBSCRIBE) { /* cb(null, grantedQos) */
                    napi_create_int32(env, o->qos, &argv[1]);
                    argc = 2;
                }
            } else {
                argv[0] = make_error(env, o->rc, o->err);
                if (o->reason != 0) { /* err.reasonCode: the broker's MQTT 5 reason code */
                    napi_value rcv;
                    napi_create_int32(env, o->reason, &rcv);
                    napi_set_named_property(env, argv[0], "reasonCode", rcv);
                }
            }
            napi_delete_reference(env, o->cb);
            o->cb = NULL;
            if (fn) {
                napi_status s = napi_make_callback(env, st->actx, resource, fn, argc, argv, NULL);
                if (s != napi_ok) {
                    report_exception(env);
                }
            }
            napi_close_handle_scope(env, scope);
        }
        if (c && c->self) {
            napi_reference_unref(env, c->self, NULL);
        }
        op_free(o);
    }
}

/* ------------------------------------------------------------------------ */
/* Event delivery                                                             */
/* ------------------------------------------------------------------------ */

static napi_value cached(napi_env env, cached_str *slot, const char *s, size_t len) {
    napi_value v;
    if (slot->value && slot->len == len && memcmp(slot->text, s, len) == 0) {
        napi_get_reference_value(env, slot->value, &v);
        if (v) {
            return v;
        }
    }
    napi_create_string_utf8(env, s, len, &v);
    if (slot->value) {
        napi_delete_reference(env, slot->value);
        slot->value = NULL;
    }
    char *copy = realloc(slot->text, len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = 0;
        slot->text = copy;
        slot->len = len;
        napi_create_reference(env, v, 1, &slot->value);
    } else {
        free(slot->text);
        slot->text = NULL;
        slot->len = 0;
    }
    return v;
}

static napi_value endpoint_value(napi_env env, nclient *c, const char *name) {
    if (name == NULL) {
        napi_value v;
        napi_get_null(env, &v);
        return v;
    }
    size_t len = strlen(name);
    for (int i = 0; i < ENDPOINT_CACHE; i++) {
        cached_str *e = &c->endpoints[i];
        if (e->value && e->len == len && memcmp(e->text, name, len) == 0) {
            return cached(env, e, name, len);
        }
    }
    cached_str *slot = &c->endpoints[c->next_endpoint];
    c->next_endpoint = (c->next_endpoint + 1) % ENDPOINT_CACHE;
    return cached(env, slot, name, len);
}

static napi_value str_or_null(napi_env env, const char *s) {
    napi_value v;
    if (s == NULL) {
        napi_get_null(env, &v);
    } else {
        napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
    }
    return v;
}

#define ARGS 5 /* arguments after the kind: a[1..ARGS] */

/* MQTT 5 properties as MQTT.js names them, read with the library's getters (plain C: a
 * message's properties cost about 0.75 us to read this way, where their wire form from
 * hamqtt_props_encode, a call into Go, cost 2.4 us and parsing it in JavaScript 4-8 us more).
 * Types: 0 integer, 1 boolean (0/1), 2 string. */
typedef struct prop_name {
    int id;
    const char *name;
    int type;
} prop_name;

static const prop_name MESSAGE_PROPS[] = {
    {HAMQTT_PROP_PAYLOAD_FORMAT, "payloadFormatIndicator", 1},
    {HAMQTT_PROP_MESSAGE_EXPIRY, "messageExpiryInterval", 0},
    {HAMQTT_PROP_CONTENT_TYPE, "contentType", 2},
    {HAMQTT_PROP_RESPONSE_TOPIC, "responseTopic", 2},
};

static const prop_name CONNACK_PROPS[] = {
    {HAMQTT_PROP_SESSION_EXPIRY, "sessionExpiryInterval", 0},
    {HAMQTT_PROP_RECEIVE_MAXIMUM, "receiveMaximum", 0},
    {HAMQTT_PROP_MAXIMUM_QOS, "maximumQoS", 0},
    {HAMQTT_PROP_RETAIN_AVAILABLE, "retainAvailable", 1},
    {HAMQTT_PROP_MAXIMUM_PACKET_SIZE, "maximumPacketSize", 0},
    {HAMQTT_PROP_ASSIGNED_CLIENT_ID, "assignedClientIdentifier", 2},
    {HAMQTT_PROP_TOPIC_ALIAS_MAXIMUM, "topicAliasMaximum", 0},
    {HAMQTT_PROP_REASON_STRING, "reasonString", 2},
    {HAMQTT_PROP_WILDCARD_SUB_AVAILABLE, "wildcardSubscriptionAvailable", 1},
    {HAMQTT_PROP_SUB_ID_AVAILABLE, "subscriptionIdentifiersAvailable", 1},
    {HAMQTT_PROP_SHARED_SUB_AVAILABLE, "sharedSubscriptionAvailable", 1},
    {HAMQTT_PROP_SERVER_KEEP_ALIVE, "serverKeepAlive", 0},
    {HAMQTT_PROP_RESPONSE_INFO, "responseInformation", 2},
    {HAMQTT_PROP_SERVER_REFERENCE, "serverReference", 2},
};

/* An object of the properties of `p` (message: the message properties and subscription
 * identifiers; connack: the CONNACK ones): MQTT.js's names and types, correlationData a Buffer
 * (copied), subscriptionIdentifier a number or, for several, an array. The user properties are
 * a flat array [name, value, ...] that JavaScript groups into MQTT.js's object (with arrays for
 * repeated names). undefined when `p` holds none of these. One signal-blocked span covers the
 * getters (see GO). */
static napi_value props_object(napi_env env, const hamqtt_props *p, int connack) {
    napi_value obj, v;
    napi_create_object(env, &obj);
    int n = 0;
    sigset_t old;
    int entered = mask_enter(&old);
    const prop_name *names = connack ? CONNACK_PROPS : MESSAGE_PROPS;
    size_t count = connack ? sizeof CONNACK_PROPS / sizeof CONNACK_PROPS[0] : sizeof MESSAGE_PROPS / sizeof MESSAGE_PROPS[0];
    for (size_t i = 0; i < count; i++) {
        if (names[i].type == 2) {
            const char *s = NULL;
            size_t len = 0;
            if (hamqtt_props_get_string(p, names[i].id, &s, &len) != HAMQTT_OK) {
                continue;
            }
            napi_create_string_utf8(env, s, len, &v);
        } else {
            uint32_t x = 0;
            if (hamqtt_props_get_int(p, names[i].id, &x) != HAMQTT_OK) {
                continue;
            }
            if (names[i].type == 1) {
                napi_get_boolean(env, x != 0, &v);
            } else {
                napi_create_uint32(env, x, &v);
            }
        }
        napi_set_named_property(env, obj, names[i].name, v);
        n++;
    }
    if (!connack) {
        const void *data = NULL;
        size_t len = 0;
        if (hamqtt_props_get_binary(p, HAMQTT_PROP_CORRELATION_DATA, &data, &len) == HAMQTT_OK) {
            void *copy = NULL;
            napi_create_buffer_copy(env, len, len ? data : "", &copy, &v);
            napi_set_named_property(env, obj, "correlationData", v);
            n++;
        }
        size_t ns = hamqtt_props_subscription_id_count(p);
        if (ns == 1) {
            napi_create_uint32(env, hamqtt_props_subscription_id_at(p, 0), &v);
        } else if (ns > 1) {
            napi_create_array_with_length(env, ns, &v);
            for (size_t i = 0; i < ns; i++) {
                napi_value id;
                napi_create_uint32(env, hamqtt_props_subscription_id_at(p, i), &id);
                napi_set_element(env, v, (uint32_t)i, id);
            }
        }
        if (ns > 0) {
            napi_set_named_property(env, obj, "subscriptionIdentifier", v);
            n++;
        }
    }
    size_t nu = hamqtt_props_user_count(p);
    if (nu > 0) {
        napi_create_array_with_length(env, nu * 2, &v);
        uint32_t k = 0;
        for (size_t i = 0; i < nu; i++) {
            const char *key = NULL, *val = NULL;
            if (hamqtt_props_user_at(p, i, &key, &val) != HAMQTT_OK) {
                continue;
            }
            napi_value kv, vv;
            napi_create_string_utf8(env, key, NAPI_AUTO_LENGTH, &kv);
            napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &vv);
            napi_set_element(env, v, k++, kv);
            napi_set_element(env, v, k++, vv);
        }
        napi_set_named_property(env, obj, "userProperties", v);
        n++;
    }
    mask_leave(entered, &old);
    if (n == 0) {
        napi_get_undefined(env, &obj);
    }
    return obj;
}

/* A Buffer (the wire form of MQTT 5 properties, made by lib/props.js) as a new hamqtt_props
 * in *out (NULL for undefined/null); -1 with an exception pending otherwise. */
static int get_props(napi_env env, napi_value v, const char *what, hamqtt_props **out) {
    *out = NULL;
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_undefined || t == napi_null) {
        return 0;
    }
    bool is = false;
    void *data = NULL;
    size_t len = 0;
    if (napi_is_buffer(env, v, &is) != napi_ok || !is || napi_get_buffer_info(env, v, &data, &len) != napi_ok) {
        char msg[128];
        snprintf(msg, sizeof msg, "hamqtt: %s must be a Buffer (the MQTT 5 wire form)", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    int rc = hamqtt_props_decode(data, len, out);
    if (rc != HAMQTT_OK) {
        throw_status(env, rc, NULL);
        return -1;
    }
    return 0;
}

/* Drains up to `batches` batches of events and hands them to the handler.
 * Every event of a batch is first copied into JavaScript values, then the
 * handler runs for each, so nothing a handler does (ending the client, ...)
 * can invalidate library memory we still read. Returns 1 when the client is
 * closed (HAMQTT_ERR_CLOSED: disconnected and drained), else 0. */
static int drain(napi_env env, nclient *c, int batches) {
    if (c->closing || c->disconnecting || c->draining || c->h == 0 || c->handler == NULL) {
        return 0;
    }
    if (c->events == NULL) {
        c->events = calloc(BATCH, sizeof(hamqtt_event));
        c->argv = calloc(BATCH + 2, sizeof *c->argv);
        if (c->events == NULL || c->argv == NULL) {
            free(c->events);
            free(c->argv);
            c->events = NULL;
            c->argv = NULL;
            return 0;
        }
    }
    c->draining = 1;
    int closed = 0;
    napi_handle_scope outer;
    napi_open_handle_scope(env, &outer);
    napi_value handler, resource;
    napi_get_reference_value(env, c->handler, &handler);
    napi_get_reference_value(env, c->st->resource, &resource);
    napi_callback_scope cscope;
    int have_scope = napi_open_callback_scope(env, resource, c->st->actx, &cscope) == napi_ok;
    napi_value (*argv)[ARGS + 1] = c->argv;
    for (int b = 0; b < batches && !closed; b++) {
        size_t n = 0;
        if (c->closing || c->disconnecting || c->h == 0) {
            break;
        }
        int rc = hamqtt_poll(c->h, c->events, BATCH, 0, &n);
        if (rc == HAMQTT_ERR_CLOSED || rc == HAMQTT_ERR_HANDLE) {
            closed = 1;
        } else if (rc != HAMQTT_OK) {
            break;
        }
        napi_handle_scope scope;
        napi_open_handle_scope(env, &scope);
        size_t m = 0; /* events to hand over */
        int idle = 0;
        for (size_t i = 0; i < n; i++) {
            hamqtt_event *e = &c->events[i];
            napi_value *a = argv[m];
            napi_value undef;
            napi_get_undefined(env, &undef);
            for (int k = 1; k <= ARGS; k++) {
                a[k] = undef;
            }
            switch (e->kind) {
            case HAMQTT_EVENT_MESSAGE: {
                hamqtt_message *msg = &e->message;
                napi_create_int32(env, K_MESSAGE, &a[0]);
                a[1] = cached(env, &c->topic, msg->topic, msg->topic_len);
                void *data = NULL;
                if (napi_create_buffer_copy(env, msg->payload_len, msg->payload_len ? msg->payload : "", &data,
                                            &a[2]) != napi_ok) {
                    napi_create_buffer(env, 0, &data, &a[2]);
                }
                napi_create_int32(env, (msg->qos & 3) | (msg->retained ? 4 : 0) | (msg->duplicate ? 8 : 0), &a[3]);
                a[4] = endpoint_value(env, c, msg->endpoint ? msg->endpoint : e->endpoint);
                if (msg->props != NULL) {
                    a[5] = props_object(env, msg->props, 0);
                }
                m++;
                break;
            }
            case HAMQTT_EVENT_ENDPOINT_UP:
                napi_create_int32(env, K_UP, &a[0]);
                a[1] = endpoint_value(env, c, e->endpoint ? e->endpoint : "");
                napi_create_int32(env, e->status, &a[2]); /* HAMQTT_UP_SESSION_PRESENT or 0 */
                m++;
                break;
            case HAMQTT_EVENT_ENDPOINT_DOWN:
                napi_create_int32(env, K_DOWN, &a[0]);
                a[1] = endpoint_value(env, c, e->endpoint ? e->endpoint : "");
                a[2] = str_or_null(env, e->error);
                napi_create_int32(env, e->status, &a[3]);
                napi_create_int32(env, e->reason_code, &a[4]); /* MQTT 5: the broker's DISCONNECT */
                m++;
                break;
            case HAMQTT_EVENT_DELIVERY: {
                hamqtt_delivery *d = &e->delivery;
                /* Only our reported publishes count: a disk outbox's messages from an earlier
                 * run report their drop or expiry too, with no user pointer. */
                if (d->user != NULL && c->pending > 0) {
                    c->pending--;
                }
                if (c->pending == 0 && c->notify_idle) {
                    idle = 1;
                }
                if (d->user == NULL && d->status == HAMQTT_OK) {
                    break; /* nobody asked for this outcome */
                }
                napi_create_int32(env, K_DELIVERY, &a[0]);
                napi_create_double(env, (double)d->id, &a[1]);
                napi_create_int32(env, d->status, &a[2]);
                a[3] = str_or_null(env, d->error);
                a[4] = str_or_null(env, d->endpoints);
                napi_create_int32(env, d->reason_code, &a[5]);
                m++;
                break;
            }
            case HAMQTT_EVENT_ERROR:
                napi_create_int32(env, K_ERROR, &a[0]);
                napi_create_int32(env, e->status, &a[1]);
                a[2] = str_or_null(env, e->error);
                m++;
                break;
            default:
                break;
            }
        }
        if (idle) {
            c->notify_idle = 0;
            napi_value *a = argv[m++];
            napi_create_int32(env, K_IDLE, &a[0]);
            for (int k = 1; k <= ARGS; k++) {
                napi_get_undefined(env, &a[k]);
            }
        }
        if (closed) {
            napi_value *a = argv[m++];
            napi_create_int32(env, K_CLOSED, &a[0]);
            for (int k = 1; k <= ARGS; k++) {
                napi_get_undefined(env, &a[k]);
            }
        }
        napi_value recv;
        napi_get_undefined(env, &recv);
        for (size_t i = 0; i < m; i++) {
            if (napi_call_function(env, recv, handler, ARGS + 1, argv[i], NULL) != napi_ok) {
                report_exception(env);
            }
        }
        napi_close_handle_scope(env, scope);
        if (n < BATCH) {
            break;
        }
    }
    if (have_scope) {
        napi_close_callback_scope(env, cscope);
    }
    napi_close_handle_scope(env, outer);
    c->draining = 0;
    if (closed) {
        unwatch(c);
    }
    return closed;
}

static void on_poll(uv_poll_t *p, int status, int events) {
    (void)events;
    nclient *c = p->data;
    if (status < 0) {
        /* The descriptor failed (closed under us): stop watching it. */
        unwatch(c);
        return;
    }
    drain(c->st->env, c, BATCHES_PER_WAKE);
}

/* Starts watching the client's current event fd; 0 on success (or already),
 * a negative hamqtt status or libuv error otherwise. */
static int watch(nclient *c) {
    if (c->closing || c->disconnecting || c->h == 0) {
        return HAMQTT_ERR_CLOSED;
    }
    int fd = -1;
    int rc = hamqtt_event_fd(c->h, &fd);
    if (rc != HAMQTT_OK) {
        return rc;
    }
    if (c->poll && c->fd == fd) {
        return 0;
    }
    unwatch(c);
    uv_poll_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return HAMQTT_ERR_INTERNAL;
    }
    int err = uv_poll_init(c->st->loop, p, fd);
    if (err != 0) {
        free(p);
        return err;
    }
    c->st->handles_open++;
    p->data = c;
    err = uv_poll_start(p, UV_READABLE | UV_DISCONNECT, on_poll);
    if (err != 0) {
        p->data = c->st;
        uv_close((uv_handle_t *)p, on_poll_closed);
        return err;
    }
    if (!c->refed) {
        uv_unref((uv_handle_t *)p);
    }
    c->poll = p;
    c->fd = fd;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Argument helpers                                                           */
/* ------------------------------------------------------------------------ */

/* A JavaScript string as a malloc'ed UTF-8 C string; NULL with a TypeError
 * pending when v is not a string. NUL bytes inside are refused. */
static char *get_string(napi_env env, napi_value v, const char *what) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_string) {
        char msg[256];
        snprintf(msg, sizeof msg, "hamqtt: %s must be a string", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return NULL;
    }
    size_t len = 0;
    napi_get_value_string_utf8(env, v, NULL, 0, &len);
    char *s = malloc(len + 1);
    if (s == NULL) {
        napi_throw_error(env, NULL, "hamqtt: out of memory");
        return NULL;
    }
    napi_get_value_string_utf8(env, v, s, len + 1, &len);
    if (strlen(s) != len) {
        free(s);
        char msg[256];
        snprintf(msg, sizeof msg, "hamqtt: %s must not contain NUL characters", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
        return NULL;
    }
    return s;
}

/* The UTF-8 of a JavaScript string into buf when it certainly fits: one call, no allocation
 * (the publish path; get_string measures first and allocates). Node writes whole characters
 * into at most size - 1 bytes, so with 4 of them (the longest character) left over nothing
 * was cut. 1: done, *len set; 0: not a string, or it may not have fit (nothing thrown). */
static int string_into(napi_env env, napi_value v, char *buf, size_t size, size_t *len) {
    size_t n = 0;
    if (napi_get_value_string_utf8(env, v, buf, size, &n) != napi_ok || n + 4 > size - 1) {
        return 0;
    }
    *len = n;
    return 1;
}

/* Optional string: undefined/null give NULL without an exception. */
static int get_opt_string(napi_env env, napi_value v, const char *what, char **out) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    *out = NULL;
    if (t == napi_undefined || t == napi_null) {
        return 0;
    }
    *out = get_string(env, v, what);
    return *out ? 0 : -1;
}

/* A payload: string (UTF-8), Buffer/TypedArray/DataView or ArrayBuffer. The
 * bytes are borrowed (*copy == NULL) or malloc'ed into *copy. */
static int get_payload(napi_env env, napi_value v, const void **data, size_t *len, char **copy) {
    *copy = NULL;
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_string) {
        size_t n = 0;
        napi_get_value_string_utf8(env, v, NULL, 0, &n);
        char *s = malloc(n + 1);
        if (s == NULL) {
            napi_throw_error(env, NULL, "hamqtt: out of memory");
            return -1;
        }
        napi_get_value_string_utf8(env, v, s, n + 1, &n);
        *copy = s;
        *data = s;
        *len = n;
        return 0;
    }
    if (t == napi_undefined || t == napi_null) {
        *data = NULL;
        *len = 0;
        return 0;
    }
    bool is;
    if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
        napi_typedarray_type tt;
        size_t n, off;
        void *p;
        napi_value ab;
        napi_get_typedarray_info(env, v, &tt, &n, &p, &ab, &off);
        size_t el = 1;
        switch (tt) {
        case napi_int16_array: case napi_uint16_array: el = 2; break;
        case napi_int32_array: case napi_uint32_array: case napi_float32_array: el = 4; break;
        case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: el = 8; break;
        default: el = 1;
        }
        *data = p;
        *len = n * el;
        return 0;
    }
    if (napi_is_dataview(env, v, &is) == napi_ok && is) {
        size_t n, off;
        void *p;
        napi_value ab;
        napi_get_dataview_info(env, v, &n, &p, &ab, &off);
        *data = p;
        *len = n;
        return 0;
    }
    if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
        void *p;
        size_t n;
        napi_get_arraybuffer_info(env, v, &p, &n);
        *data = p;
        *len = n;
        return 0;
    }
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "hamqtt: the payload must be a string, Buffer, TypedArray, DataView or ArrayBuffer");
    return -1;
}

static int get_int(napi_env env, napi_value v, const char *what, int *out) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_number) {
        char msg[256];
        snprintf(msg, sizeof msg, "hamqtt: %s must be a number", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    int32_t i;
    napi_get_value_int32(env, v, &i);
    *out = i;
    return 0;
}

static int get_bool(napi_env env, napi_value v) {
    bool b = false;
    napi_value coerced;
    if (napi_coerce_to_bool(env, v, &coerced) == napi_ok) {
        napi_get_value_bool(env, coerced, &b);
    }
    return b ? 1 : 0;
}

static nclient *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, int need_open) {
    napi_value self;
    if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) {
        throw_napi_failure(env, "napi_get_cb_info");
        return NULL;
    }
    nclient *c = NULL;
    if (napi_unwrap(env, self, (void **)&c) != napi_ok || c == NULL) {
        napi_throw_type_error(env, "ERR_INVALID_THIS", "hamqtt: not a native client");
        return NULL;
    }
    if (need_open && (c->closing || c->h == 0)) {
        throw_status(env, HAMQTT_ERR_CLOSED, "hamqtt: the client is closed");
        return NULL;
    }
    return c;
}

static env_state *state_of(napi_env env) {
    env_state *st = NULL;
    napi_get_instance_data(env, (void **)&st);
    return st;
}

static op *op_new(env_state *st, op_kind kind, hamqtt_client h) {
    op *o = calloc(1, sizeof *o);
    if (o) {
        o->st = st;
        o->kind = kind;
        o->h = h;
        o->disconnect_reason = -1;
    }
    return o;
}

static napi_value undefined(napi_env env) {
    napi_value v;
    napi_get_undefined(env, &v);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Option mapping                                                             */
/* ------------------------------------------------------------------------ */

typedef struct strings_to_free {
    char *s[24];
    int n;
} strings_to_free;

static int opt_lookup(napi_env env, napi_value obj, const char *key, napi_value *out) {
    bool has = false;
    if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) {
        return 0;
    }
    napi_get_named_property(env, obj, key, out);
    napi_valuetype t;
    napi_typeof(env, *out, &t);
    return t != napi_undefined && t != napi_null;
}

static int opt_str(napi_env env, napi_value obj, const char *key, const char **dst, strings_to_free *sf) {
    napi_value v;
    if (!opt_lookup(env, obj, key, &v)) {
        return 0;
    }
    char what[96];
    snprintf(what, sizeof what, "option %s", key);
    char *s = get_string(env, v, what);
    if (s == NULL) {
        return -1;
    }
    sf->s[sf->n++] = s;
    *dst = s;
    return 0;
}

static int opt_int(napi_env env, napi_value obj, const char *key, int *dst) {
    napi_value v;
    if (!opt_lookup(env, obj, key, &v)) {
        return 0;
    }
    char what[96];
    snprintf(what, sizeof what, "option %s", key);
    return get_int(env, v, what, dst);
}

static int opt_int64(napi_env env, napi_value obj, const char *key, int64_t *dst) {
    napi_value v;
    if (!opt_lookup(env, obj, key, &v)) {
        return 0;
    }
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_number) {
        char msg[128];
        snprintf(msg, sizeof msg, "hamqtt: option %s must be a number", key);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    napi_get_value_int64(env, v, dst);
    return 0;
}

static int opt_bool(napi_env env, napi_value obj, const char *key, int *dst) {
    napi_value v;
    if (!opt_lookup(env, obj, key, &v)) {
        return 0;
    }
    *dst = get_bool(env, v);
    return 0;
}

/* Fills a hamqtt_options from a plain object whose keys are the C field names
 * in camelCase (the JavaScript layer validated and converted them). */
static int fill_options(napi_env env, napi_value obj, hamqtt_options *o, strings_to_free *sf, char **will_copy,
                        hamqtt_props **connect_props, hamqtt_props **will_props) {
    if (opt_str(env, obj, "name", &o->name, sf) || opt_str(env, obj, "clientId", &o->client_id, sf) ||
        opt_str(env, obj, "username", &o->username, sf) || opt_str(env, obj, "password", &o->password, sf) ||
        opt_int(env, obj, "publisherType", &o->publisher_type) ||
        opt_str(env, obj, "primaryServerUri", &o->primary_server_uri, sf) ||
        opt_str(env, obj, "defaultTopicBase", &o->default_topic_base, sf) ||
        opt_bool(env, obj, "persistentSession", &o->persistent_session) ||
        opt_int(env, obj, "keepAliveMs", &o->keep_alive_ms) ||
        opt_int(env, obj, "connectTimeoutMs", &o->connect_timeout_ms) ||
        opt_int(env, obj, "timeToWaitMs", &o->time_to_wait_ms) ||
        opt_int(env, obj, "ackTimeoutMs", &o->ack_timeout_ms) ||
        opt_int(env, obj, "probeDelayMs", &o->probe_delay_ms) ||
        opt_int(env, obj, "maxProbeDelayMs", &o->max_probe_delay_ms) ||
        opt_int(env, obj, "connectBurst", &o->connect_burst) || opt_int(env, obj, "warmUpMs", &o->warm_up_ms) ||
        opt_int(env, obj, "flapLimit", &o->flap_limit) || opt_int(env, obj, "flapWindowMs", &o->flap_window_ms) ||
        opt_int(env, obj, "quarantineMs", &o->quarantine_ms) ||
        opt_int(env, obj, "liveEndpointCount", &o->live_endpoint_count) ||
        opt_int(env, obj, "initialEndpointCount", &o->initial_endpoint_count) ||
        opt_int(env, obj, "subscriberCount", &o->subscriber_count) ||
        opt_bool(env, obj, "publishOnly", &o->publish_only) || opt_int(env, obj, "fos", &o->fos) ||
        opt_bool(env, obj, "dedup", &o->dedup) || opt_int(env, obj, "dedupWindowMs", &o->dedup_window_ms) ||
        opt_str(env, obj, "willTopic", &o->will_topic, sf) || opt_int(env, obj, "willQos", &o->will_qos) ||
        opt_bool(env, obj, "willRetain", &o->will_retain) ||
        opt_str(env, obj, "fileStoreDir", &o->file_store_dir, sf) ||
        opt_str(env, obj, "tlsCaFile", &o->tls_ca_file, sf) ||
        opt_str(env, obj, "tlsCertFile", &o->tls_cert_file, sf) ||
        opt_str(env, obj, "tlsKeyFile", &o->tls_key_file, sf) ||
        opt_bool(env, obj, "tlsInsecure", &o->tls_insecure) ||
        opt_bool(env, obj, "shareConnections", &o->share_connections) ||
        opt_str(env, obj, "tlsCaPem", &o->tls_ca_pem, sf) || opt_str(env, obj, "tlsCertPem", &o->tls_cert_pem, sf) ||
        opt_str(env, obj, "tlsKeyPem", &o->tls_key_pem, sf) || opt_int(env, obj, "ackQuorum", &o->ack_quorum) ||
        opt_bool(env, obj, "tlsSkipHostnameCheck", &o->tls_skip_hostname_check) ||
        opt_bool(env, obj, "outbox", &o->outbox) || opt_str(env, obj, "outboxDir", &o->outbox_dir, sf) ||
        opt_int(env, obj, "outboxMaxMessages", &o->outbox_max_messages) ||
        opt_int64(env, obj, "outboxMaxBytes", &o->outbox_max_bytes) ||
        opt_int(env, obj, "outboxOverflow", &o->outbox_overflow) || opt_int(env, obj, "outboxSync", &o->outbox_sync) ||
        opt_int(env, obj, "outboxSyncIntervalMs", &o->outbox_sync_interval_ms) ||
        opt_bool(env, obj, "outboxQos0", &o->outbox_qos0) ||
        opt_int(env, obj, "outboxExpiryMs", &o->outbox_expiry_ms) ||
        opt_int(env, obj, "protocolVersion", &o->protocol_version) ||
        opt_int64(env, obj, "sessionExpiryMs", &o->session_expiry_ms) ||
        opt_int(env, obj, "receiveMaximum", &o->receive_maximum) ||
        opt_int(env, obj, "topicAliasMaximum", &o->topic_alias_maximum) ||
        opt_bool(env, obj, "noTopicAliases", &o->no_topic_aliases) ||
        opt_bool(env, obj, "requestResponseInfo", &o->request_response_info) ||
        opt_bool(env, obj, "noProblemInfo", &o->no_problem_info) ||
        opt_int(env, obj, "messageIds", &o->message_ids) ||
        opt_int64(env, obj, "willDelayMs", &o->will_delay_ms) ||
        opt_int(env, obj, "maxPacketSize", &o->max_packet_size)) {
        return -1;
    }
    napi_value v;
    if (opt_lookup(env, obj, "connectProps", &v)) {
        if (get_props(env, v, "option connectProps", connect_props) != 0) {
            return -1;
        }
        o->connect_props = *connect_props;
    }
    if (opt_lookup(env, obj, "willProps", &v)) {
        if (get_props(env, v, "option willProps", will_props) != 0) {
            return -1;
        }
        o->will_props = *will_props;
    }
    if (opt_lookup(env, obj, "connectRate", &v)) {
        double d;
        if (napi_get_value_double(env, v, &d) != napi_ok) {
            napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: option connectRate must be a number");
            return -1;
        }
        o->connect_rate = d;
    }
    if (opt_lookup(env, obj, "willPayload", &v)) {
        const void *data;
        size_t len;
        char *copy;
        if (get_payload(env, v, &data, &len, &copy) != 0) {
            return -1;
        }
        if (copy == NULL && len > 0) {
            copy = malloc(len);
            if (copy == NULL) {
                napi_throw_error(env, NULL, "hamqtt: out of memory");
                return -1;
            }
            memcpy(copy, data, len);
        }
        *will_copy = copy;
        o->will_payload = copy;
        o->will_payload_len = len;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The Client class                                                           */
/* ------------------------------------------------------------------------ */

static void client_finalize(napi_env env, void *data, void *hint) {
    (void)hint;
    nclient *c = data;
    if (!c->closing && c->h != 0) {
        /* Collected without close(): close it in the background. */
        env_state *st = c->st;
        hamqtt_client h = detach(env, c);
        op *o = op_new(st, OP_CLOSE, h);
        if (o && op_start(env, o, NULL) != 0) {
            /* exception pending in a finalizer: nothing to do but drop it */
            napi_value e;
            napi_get_and_clear_last_exception(env, &e);
        }
    } else {
        clear_cache(env, c);
    }
    if (c->self) {
        napi_delete_reference(env, c->self);
    }
    free(c->events);
    free(c->argv);
    flat_props_free(c->flat);
    free(c);
}

/* new Client(endpoints|null, options|null, cluster|null|undefined, handler) */
static napi_value client_ctor(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4], self;
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
    env_state *st = state_of(env);
    if (argc < 4) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: Client(endpoints, options, cluster, handler)");
        return NULL;
    }
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_function) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: the event handler must be a function");
        return NULL;
    }
    hamqtt_client h = 0;
    napi_valuetype te;
    napi_typeof(env, argv[0], &te);
    if (te == napi_string) {
        char *endpoints = get_string(env, argv[0], "endpoints");
        if (endpoints == NULL) {
            return NULL;
        }
        hamqtt_options o = HAMQTT_OPTIONS_INIT;
        strings_to_free sf = {{0}, 0};
        char *will = NULL;
        hamqtt_props *connect_props = NULL, *will_props = NULL;
        napi_valuetype to;
        napi_typeof(env, argv[1], &to);
        int rc = 0;
        if (to == napi_object && fill_options(env, argv[1], &o, &sf, &will, &connect_props, &will_props) != 0) {
            rc = -1;
        }
        if (rc == 0) {
            rc = hamqtt_client_new(endpoints, &o, &h);
            if (rc != HAMQTT_OK) {
                throw_status(env, rc, NULL);
            }
        }
        free(endpoints);
        free(will);
        hamqtt_props_free(connect_props); /* read by hamqtt_client_new, not kept */
        hamqtt_props_free(will_props);
        for (int i = 0; i < sf.n; i++) {
            free(sf.s[i]);
        }
        if (rc != 0) {
            return NULL;
        }
    } else {
        char *name = NULL;
        if (get_opt_string(env, argv[2], "cluster", &name) != 0) {
            return NULL;
        }
        int rc = hamqtt_cluster_client(name, &h);
        free(name);
        if (rc != HAMQTT_OK) {
            throw_status(env, rc, NULL);
            return NULL;
        }
    }
    nclient *c = calloc(1, sizeof *c);
    if (c == NULL) {
        hamqtt_close(h);
        napi_throw_error(env, NULL, "hamqtt: out of memory");
        return NULL;
    }
    c->st = st;
    c->h = h;
    c->fd = -1;
    c->refed = 1;
    napi_create_reference(env, argv[3], 1, &c->handler);
    if (napi_wrap(env, self, c, client_finalize, NULL, &c->self) != napi_ok) {
        napi_delete_reference(env, c->handler);
        hamqtt_close(h);
        free(c);
        throw_napi_failure(env, "napi_wrap");
        return NULL;
    }
    c->next = st->clients;
    if (st->clients) {
        st->clients->prev = c;
    }
    st->clients = c;
    return self;
}

static napi_value m_watch(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 0);
    if (c == NULL) {
        return NULL;
    }
    napi_value r;
    int rc = watch(c);
    napi_create_int32(env, rc, &r);
    return r;
}

static napi_value m_unwatch(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 0);
    if (c == NULL) {
        return NULL;
    }
    unwatch(c);
    return undefined(env);
}

static napi_value m_drain(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 0);
    if (c == NULL) {
        return NULL;
    }
    int closed = drain(env, c, 1 << 20); /* everything queued now */
    napi_value r;
    napi_get_boolean(env, closed, &r);
    return r;
}

static napi_value m_ref(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    nclient *c = unwrap(env, info, &argc, argv, 0);
    if (c == NULL) {
        return NULL;
    }
    c->refed = argc > 0 ? get_bool(env, argv[0]) : 1;
    if (c->poll) {
        if (c->refed) {
            uv_ref((uv_handle_t *)c->poll);
        } else {
            uv_unref((uv_handle_t *)c->poll);
        }
    }
    return undefined(env);
}

static napi_value m_notify_idle(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 0);
    if (c == NULL) {
        return NULL;
    }
    napi_value r;
    napi_get_boolean(env, c->pending == 0, &r);
    if (c->pending > 0) {
        c->notify_idle = 1;
    }
    return r;
}

static napi_value m_pending(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 0);
    if (c == NULL) {
        return NULL;
    }
    napi_value r;
    napi_create_double(env, (double)c->pending, &r);
    return r;
}

/* MQTT 5 properties of a publish, as lib/props.js flattens them: [id, value, ...], a user
 * property as [0x26, name, value]; numbers for the integer properties, strings, a Buffer for the
 * correlation data. They are read from JavaScript first (strings copied into one scratch block),
 * then set on a hamqtt_props with the library's setters and published inside one span with the
 * signals blocked: the setters are plain C, so five properties cost about 0.4 us, where the wire
 * form decoded by the library (a call into Go) cost 2.3 us, and one signal-mask span per call
 * would add two system calls per setter. */
typedef struct flat_prop {
    int id;
    int kind;          /* 0 int, 1 string, 2 binary, 3 user pair */
    uint32_t value;
    size_t off, len;   /* string (NUL-terminated in the scratch block) or binary */
    size_t off2;       /* the user property's value */
    const void *data;  /* binary: the Buffer's bytes (valid during the call) */
} flat_prop;

#define MAX_FLAT_PROPS 256

typedef struct flat_props {
    flat_prop items[MAX_FLAT_PROPS];
    size_t n;
    char *scratch;
    size_t used, cap;
} flat_props;

static void flat_props_free(flat_props *fp) {
    if (fp != NULL) {
        free(fp->scratch);
        free(fp);
    }
}

/* Copies the UTF-8 of a JavaScript string into fp->scratch; its offset in *off. */
static int flat_string(napi_env env, napi_value v, flat_props *fp, size_t *off, size_t *len) {
    size_t n = 0;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: a property value must be a string");
        return -1;
    }
    if (fp->used + n + 1 > fp->cap) {
        size_t cap = (fp->used + n + 1) * 2;
        char *nb = realloc(fp->scratch, cap);
        if (nb == NULL) {
            napi_throw_error(env, NULL, "hamqtt: out of memory");
            return -1;
        }
        fp->scratch = nb;
        fp->cap = cap;
    }
    napi_get_value_string_utf8(env, v, fp->scratch + fp->used, n + 1, &n);
    if (strlen(fp->scratch + fp->used) != n) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "hamqtt: a property string must not contain NUL characters");
        return -1;
    }
    *off = fp->used;
    *len = n;
    fp->used += n + 1;
    return 0;
}

static int read_flat_props(napi_env env, napi_value arr, flat_props *fp) {
    uint32_t len = 0;
    napi_get_array_length(env, arr, &len);
    for (uint32_t i = 0; i < len;) {
        if (fp->n == MAX_FLAT_PROPS) {
            napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "hamqtt: too many properties in one publish");
            return -1;
        }
        flat_prop *it = &fp->items[fp->n];
        memset(it, 0, sizeof *it);
        napi_value idv, v;
        int32_t id = 0;
        napi_get_element(env, arr, i++, &idv);
        napi_get_value_int32(env, idv, &id);
        it->id = id;
        if (i >= len) {
            break;
        }
        napi_get_element(env, arr, i++, &v);
        napi_valuetype t;
        napi_typeof(env, v, &t);
        bool isbuf = false;
        if (id == HAMQTT_PROP_USER) {
            it->kind = 3;
            napi_value val;
            if (i >= len || flat_string(env, v, fp, &it->off, &it->len) != 0) {
                return -1;
            }
            napi_get_element(env, arr, i++, &val);
            size_t l2;
            if (flat_string(env, val, fp, &it->off2, &l2) != 0) {
                return -1;
            }
        } else if (t == napi_number) {
            it->kind = 0;
            double d = 0;
            napi_get_value_double(env, v, &d);
            it->value = (uint32_t)d;
        } else if (t == napi_string) {
            it->kind = 1;
            if (flat_string(env, v, fp, &it->off, &it->len) != 0) {
                return -1;
            }
        } else if (napi_is_buffer(env, v, &isbuf) == napi_ok && isbuf) {
            it->kind = 2;
            void *data = NULL;
            napi_get_buffer_info(env, v, &data, &it->len);
            it->data = data;
        } else {
            napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: a property value must be a number, string or Buffer");
            return -1;
        }
        fp->n++;
    }
    return 0;
}

/* Inside the caller's signal-blocked span: a new hamqtt_props with the properties (the
 * setters called directly, not through the wrapping macros). HAMQTT_OK or the setter's error. */
static int build_flat_props(const flat_props *fp, hamqtt_props **out) {
    hamqtt_props *p = (hamqtt_props_new)();
    if (p == NULL) {
        return HAMQTT_ERR_INTERNAL;
    }
    int rc = HAMQTT_OK;
    for (size_t i = 0; i < fp->n && rc == HAMQTT_OK; i++) {
        const flat_prop *it = &fp->items[i];
        switch (it->kind) {
        case 0: rc = (hamqtt_props_set_int)(p, it->id, it->value); break;
        case 1: rc = (hamqtt_props_set_string)(p, it->id, fp->scratch + it->off); break;
        case 2: rc = (hamqtt_props_set_binary)(p, it->id, it->data, it->len); break;
        case 3: rc = (hamqtt_props_add_user)(p, fp->scratch + it->off, fp->scratch + it->off2); break;
        }
    }
    if (rc != HAMQTT_OK) {
        (hamqtt_props_free)(p);
        return rc;
    }
    *out = p;
    return HAMQTT_OK;
}

/* A hamqtt_props from a flat list (see flat_prop) for a SUBSCRIBE, UNSUBSCRIBE or DISCONNECT;
 * NULL for null/undefined. Returns -1 with an exception thrown. */
static int props_from_flat(napi_env env, napi_value arr, hamqtt_props **out) {
    *out = NULL;
    napi_valuetype t;
    napi_typeof(env, arr, &t);
    if (t == napi_undefined || t == napi_null) {
        return 0;
    }
    bool isarr = false;
    napi_is_array(env, arr, &isarr);
    if (!isarr) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: properties must be a flat list");
        return -1;
    }
    flat_props *fp = calloc(1, sizeof *fp);
    if (fp == NULL) {
        napi_throw_error(env, NULL, "hamqtt: out of memory");
        return -1;
    }
    if (read_flat_props(env, arr, fp) != 0) {
        flat_props_free(fp);
        return -1;
    }
    sigset_t old;
    int entered = mask_enter(&old);
    int rc = build_flat_props(fp, out);
    mask_leave(entered, &old);
    flat_props_free(fp);
    if (rc != HAMQTT_OK) {
        *out = NULL;
        napi_throw(env, make_error(env, rc, "hamqtt: invalid properties"));
        return -1;
    }
    return 0;
}

/* publish(topic, payload, qos, retain, report, [props]) -> id; props: the flat list above. */
static napi_value m_publish(napi_env env, napi_callback_info info) {
    size_t argc = 6;
    napi_value argv[6];
    nclient *c = unwrap(env, info, &argc, argv, 1);
    if (c == NULL) {
        return NULL;
    }
    if (argc < 5) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: publish(topic, payload, qos, retain, report)");
        return NULL;
    }
    /* Topics and string payloads of the usual sizes are copied onto the stack (one call into
     * Node each, no malloc); longer ones, and a topic with a NUL (get_string's error), take the
     * general path. topic_heap and copy are what to free. */
    char topic_buf[256];
    char payload_buf[1024];
    char *topic_heap = NULL;
    const char *topic = topic_buf;
    size_t topic_len;
    if (!string_into(env, argv[0], topic_buf, sizeof topic_buf, &topic_len) || strlen(topic_buf) != topic_len) {
        topic = topic_heap = get_string(env, argv[0], "topic");
        if (topic == NULL) {
            return NULL;
        }
    }
    const void *data = payload_buf;
    size_t len;
    char *copy = NULL;
    /* A string payload over the stack buffer (over 1019 bytes of UTF-8), like a topic over 251
     * bytes above, is encoded twice: as far as the buffer holds by the attempt, then in full by
     * the general path. A cost of the long-string path only; Buffers are not encoded here. */
    if (!string_into(env, argv[1], payload_buf, sizeof payload_buf, &len) &&
        get_payload(env, argv[1], &data, &len, &copy) != 0) {
        free(topic_heap);
        return NULL;
    }
    int qos;
    if (get_int(env, argv[2], "qos", &qos) != 0) {
        free(topic_heap);
        free(copy);
        return NULL;
    }
    int retain = get_bool(env, argv[3]);
    int report = get_bool(env, argv[4]);
    int has_props = 0;
    if (argc > 5) {
        napi_valuetype pt;
        napi_typeof(env, argv[5], &pt);
        bool isarr = false;
        if (pt != napi_undefined && pt != napi_null) {
            if (napi_is_array(env, argv[5], &isarr) != napi_ok || !isarr) {
                napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: properties must be a list");
            } else if (c->flat == NULL && (c->flat = calloc(1, sizeof *c->flat)) == NULL) {
                napi_throw_error(env, NULL, "hamqtt: out of memory");
                isarr = false;
            }
            if (isarr) {
                c->flat->n = 0;
                c->flat->used = 0;
            }
            if (!isarr || read_flat_props(env, argv[5], c->flat) != 0) {
                free(topic_heap);
                free(copy);
                return NULL;
            }
            has_props = c->flat->n > 0;
        }
    }
    uint64_t id = 0;
    /* Without a callback to report to, nothing is reported: no event to throw away per message.
     * end() waits for these through flush(). */
    int rc;
    if (has_props) {
        /* One signal-blocked span for the setters and the publish (see flat_prop). */
        sigset_t old;
        int entered = mask_enter(&old);
        hamqtt_props *props = NULL;
        rc = build_flat_props(c->flat, &props);
        if (rc == HAMQTT_OK) {
            rc = report ? (hamqtt_publish_async_props)(c->h, topic, data, len, qos, retain, props, (void *)1, &id)
                        : (hamqtt_publish_detached_props)(c->h, topic, data, len, qos, retain, props);
            (hamqtt_props_free)(props);
        }
        mask_leave(entered, &old);
    } else {
        rc = report ? hamqtt_publish_async(c->h, topic, data, len, qos, retain, NULL, (void *)1, &id)
                    : hamqtt_publish_detached(c->h, topic, data, len, qos, retain);
    }
    free(topic_heap);
    free(copy);
    if (rc != HAMQTT_OK && rc != HAMQTT_STORED) {
        throw_status(env, rc, NULL);
        return NULL;
    }
    if (report) {
        c->pending++;
    }
    napi_value r;
    napi_create_double(env, (double)id, &r);
    return r;
}

/* Starts a blocking call for this client; the last argument is the callback. */
static napi_value start_client_op(napi_env env, nclient *c, op *o, napi_value cb) {
    if (o == NULL) {
        napi_throw_error(env, NULL, "hamqtt: out of memory");
        return NULL;
    }
    o->client = c;
    if (op_start(env, o, cb) != 0) {
        return NULL;
    }
    /* Keep the wrapper (and so c) alive until the completion ran. */
    if (c->self) {
        napi_reference_ref(env, c->self, NULL);
    }
    return undefined(env);
}

/* A method whose only argument is the callback: runs `kind` on the client's handle. */
static napi_value client_op_with_callback(napi_env env, napi_callback_info info, op_kind kind) {
    size_t argc = 1;
    napi_value argv[1];
    nclient *c = unwrap(env, info, &argc, argv, 1);
    if (c == NULL) {
        return NULL;
    }
    return start_client_op(env, c, op_new(c->st, kind, c->h), argc ? argv[0] : NULL);
}

static napi_value m_connect(napi_env env, napi_callback_info info) {
    return client_op_with_callback(env, info, OP_CONNECT);
}

/* flush(cb): cb once no asynchronous publish of the client is outstanding. */
static napi_value m_flush(napi_env env, napi_callback_info info) {
    return client_op_with_callback(env, info, OP_FLUSH);
}

/* disconnect(callback) or disconnect(reasonCode, props, callback): MQTT 5's DISCONNECT with a
 * reason code and properties (the flat list; null: none). */
static napi_value m_disconnect(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    nclient *c = unwrap(env, info, &argc, argv, 1);
    if (c == NULL) {
        return NULL;
    }
    int reason = -1;
    hamqtt_props *props = NULL;
    napi_value cb = argc ? argv[0] : NULL;
    if (argc >= 3) {
        if (get_int(env, argv[0], "reasonCode", &reason) != 0 || props_from_flat(env, argv[1], &props) != 0) {
            return NULL;
        }
        cb = argv[2];
    }
    op *o = op_new(c->st, OP_DISCONNECT, c->h);
    if (o) {
        c->disconnecting = 1;
        o->disconnect_reason = reason;
        o->props = props;
    } else if (props != NULL) {
        hamqtt_props_free(props);
    }
    unwatch(c); /* the library closes the fd */
    napi_value r = start_client_op(env, c, o, cb);
    if (r == NULL) {
        c->disconnecting = 0;
    }
    return r;
}

static napi_value m_close(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    nclient *c = unwrap(env, info, &argc, argv, 0);
    if (c == NULL) {
        return NULL;
    }
    if (c->closing || c->h == 0) {
        /* Already closed: call back at once (asynchronously, like the rest). */
        op *o = op_new(c->st, OP_CLOSE_MANY, 0);
        return start_client_op(env, c, o, argc ? argv[0] : NULL);
    }
    env_state *st = c->st;
    hamqtt_client h = detach(env, c);
    return start_client_op(env, c, op_new(st, OP_CLOSE, h), argc ? argv[0] : NULL);
}

/* subscribe(filter, qos, [options], callback): options { noLocal, retainAsPublished,
 * retainHandling, subscriptionId } (MQTT 5) or null; callback(err, grantedQos). A refusal's
 * error carries the broker's reason code (err.reasonCode). */
static napi_value m_subscribe(napi_env env, napi_callback_info info) {
    size_t argc = 4;
    napi_value argv[4];
    nclient *c = unwrap(env, info, &argc, argv, 1);
    if (c == NULL) {
        return NULL;
    }
    if (argc < 3) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: subscribe(filter, qos, [options], callback)");
        return NULL;
    }
    hamqtt_sub_options sub = HAMQTT_SUB_OPTIONS_INIT;
    hamqtt_props *sub_props = NULL; /* user properties, in sub.props */
    int has_sub = 0;
    napi_value cb = argv[2];
    if (argc >= 4) {
        cb = argv[3];
        napi_valuetype to;
        napi_typeof(env, argv[2], &to);
        if (to == napi_object) {
            has_sub = 1;
            if (opt_bool(env, argv[2], "noLocal", &sub.no_local) ||
                opt_bool(env, argv[2], "retainAsPublished", &sub.retain_as_published) ||
                opt_int(env, argv[2], "retainHandling", &sub.retain_handling) ||
                opt_int(env, argv[2], "subscriptionId", &sub.subscription_id)) {
                return NULL;
            }
            napi_value pv;
            if (opt_lookup(env, argv[2], "props", &pv) && props_from_flat(env, pv, &sub_props) != 0) {
                return NULL;
            }
        }
    }
    char *filter = get_string(env, argv[0], "topic filter");
    int qos;
    if (filter == NULL || get_int(env, argv[1], "qos", &qos) != 0) {
        free(filter);
        if (sub_props != NULL) {
            hamqtt_props_free(sub_props);
        }
        return NULL;
    }
    op *o = op_new(c->st, OP_SUBSCRIBE, c->h);
    if (o == NULL) {
        free(filter);
        if (sub_props != NULL) {
            hamqtt_props_free(sub_props);
        }
    } else {
        o->s1 = filter;
        o->qos = qos;
        o->sub = sub;
        o->props = sub_props;
        o->sub.props = sub_props;
        o->has_sub = has_sub;
    }
    return start_client_op(env, c, o, cb);
}

/* An operation that takes one string and a completion callback: (string, callback). */
static napi_value string_op(napi_env env, napi_callback_info info, op_kind kind, const char *usage,
                            const char *what) {
    size_t argc = 2;
    napi_value argv[2];
    nclient *c = unwrap(env, info, &argc, argv, 1);
    if (c == NULL) {
        return NULL;
    }
    if (argc < 2) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", usage);
        return NULL;
    }
    char *arg = get_string(env, argv[0], what);
    if (arg == NULL) {
        return NULL;
    }
    op *o = op_new(c->st, kind, c->h);
    if (o == NULL) {
        free(arg);
    } else {
        o->s1 = arg;
    }
    return start_client_op(env, c, o, argv[1]);
}

/* unsubscribe(filter, callback) or unsubscribe(filter, props, callback): props the flat list of
 * the UNSUBSCRIBE's user properties (MQTT 5). */
static napi_value m_unsubscribe(napi_env env, napi_callback_info info) {
    size_t argc = 3;
    napi_value argv[3];
    nclient *c = unwrap(env, info, &argc, argv, 1);
    if (c == NULL) {
        return NULL;
    }
    if (argc < 2) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: unsubscribe(filter, [props], callback)");
        return NULL;
    }
    hamqtt_props *props = NULL;
    if (argc >= 3 && props_from_flat(env, argv[1], &props) != 0) {
        return NULL;
    }
    char *filter = get_string(env, argv[0], "topic filter");
    op *o = filter != NULL ? op_new(c->st, OP_UNSUBSCRIBE, c->h) : NULL;
    if (o == NULL) {
        free(filter);
        if (props != NULL) {
            hamqtt_props_free(props);
        }
        return filter == NULL ? NULL : start_client_op(env, c, NULL, argv[argc - 1]);
    }
    o->s1 = filter;
    o->props = props;
    return start_client_op(env, c, o, argv[argc - 1]);
}

/* publishWait(endpoint|null, topic, payload, qos, retain, [props], callback): a
 * blocking publish (to the named endpoint without failover, or with the
 * cluster's policy), completed on a thread; props: MQTT 5 properties as the
 * flat list of flat_prop (null: none). */
static napi_value m_publish_wait(napi_env env, napi_callback_info info) {
    size_t argc = 7;
    napi_value argv[7];
    nclient *c = unwrap(env, info, &argc, argv, 1);
    if (c == NULL) {
        return NULL;
    }
    if (argc < 6) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                              "hamqtt: publishWait(endpoint, topic, payload, qos, retain, [props], callback)");
        return NULL;
    }
    char *endpoint = NULL;
    if (get_opt_string(env, argv[0], "endpoint", &endpoint) != 0) {
        return NULL;
    }
    char *topic = get_string(env, argv[1], "topic");
    if (topic == NULL) {
        free(endpoint);
        return NULL;
    }
    const void *data;
    size_t len;
    char *copy;
    if (get_payload(env, argv[2], &data, &len, &copy) != 0) {
        free(endpoint);
        free(topic);
        return NULL;
    }
    int qos;
    if (get_int(env, argv[3], "qos", &qos) != 0) {
        free(endpoint);
        free(topic);
        free(copy);
        return NULL;
    }
    if (copy == NULL && len > 0) {
        copy = malloc(len);
        if (copy) {
            memcpy(copy, data, len);
        }
    }
    hamqtt_props *props = NULL;
    if (argc == 7 && props_from_flat(env, argv[5], &props) != 0) {
        free(endpoint);
        free(topic);
        free(copy);
        return NULL;
    }
    op *o = op_new(c->st, endpoint ? OP_PUBLISH_TO : OP_PUBLISH, c->h);
    if (o == NULL || (copy == NULL && len > 0)) {
        free(endpoint);
        free(topic);
        free(copy);
        free(o);
        if (props != NULL) {
            hamqtt_props_free(props);
        }
        napi_throw_error(env, NULL, "hamqtt: out of memory");
        return NULL;
    }
    o->s1 = topic;
    o->s2 = endpoint;
    o->data = copy;
    o->len = len;
    o->qos = qos;
    o->retain = get_bool(env, argv[4]);
    o->props = props;
    return start_client_op(env, c, o, argv[argc - 1]);
}

static napi_value m_remove_endpoint(napi_env env, napi_callback_info info) {
    return string_op(env, info, OP_REMOVE_ENDPOINT, "hamqtt: removeEndpoint(name, callback)", "endpoint name");
}

static napi_value m_add_endpoint(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2] = {NULL, NULL};
    nclient *c = unwrap(env, info, &argc, argv, 1);
    if (c == NULL) {
        return NULL;
    }
    char *uri = argc > 0 ? get_string(env, argv[0], "uri") : NULL;
    if (uri == NULL) {
        if (argc == 0) {
            napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: addEndpoint(uri, [name])");
        }
        return NULL;
    }
    char *name = NULL;
    if (argc > 1 && get_opt_string(env, argv[1], "endpoint name", &name) != 0) {
        free(uri);
        return NULL;
    }
    char *assigned = NULL;
    int rc = hamqtt_add_endpoint(c->h, uri, name, &assigned);
    free(uri);
    free(name);
    if (rc != HAMQTT_OK) {
        throw_status(env, rc, NULL);
        return NULL;
    }
    napi_value r = str_or_null(env, assigned ? assigned : "");
    hamqtt_free(assigned);
    return r;
}

static napi_value string_list(napi_env env, int rc, char **names, size_t count) {
    if (rc != HAMQTT_OK) {
        throw_status(env, rc, NULL);
        return NULL;
    }
    napi_value arr;
    napi_create_array_with_length(env, count, &arr);
    for (size_t i = 0; i < count; i++) {
        napi_set_element(env, arr, (uint32_t)i, str_or_null(env, names[i]));
    }
    hamqtt_free(names);
    return arr;
}

static napi_value m_live(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 1);
    if (c == NULL) {
        return NULL;
    }
    char **names = NULL;
    size_t count = 0;
    int rc = hamqtt_live_endpoints(c->h, &names, &count);
    return string_list(env, rc, names, count);
}

static napi_value m_dead(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 1);
    if (c == NULL) {
        return NULL;
    }
    char **names = NULL;
    size_t count = 0;
    int rc = hamqtt_dead_endpoints(c->h, &names, &count);
    return string_list(env, rc, names, count);
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *s) {
    napi_set_named_property(env, obj, key, str_or_null(env, s ? s : ""));
}

static void set_num(napi_env env, napi_value obj, const char *key, double d) {
    napi_value v;
    napi_create_double(env, d, &v);
    napi_set_named_property(env, obj, key, v);
}

static napi_value m_stats(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 1);
    if (c == NULL) {
        return NULL;
    }
    hamqtt_endpoint_stats *stats = NULL;
    size_t count = 0;
    int rc = hamqtt_stats(c->h, &stats, &count);
    if (rc != HAMQTT_OK) {
        throw_status(env, rc, NULL);
        return NULL;
    }
    static const char *states[] = {"dead", "connecting", "live", "quarantined", "removed"};
    napi_value arr;
    napi_create_array_with_length(env, count, &arr);
    for (size_t i = 0; i < count; i++) {
        hamqtt_endpoint_stats *s = &stats[i];
        napi_value o;
        napi_create_object(env, &o);
        set_str(env, o, "name", s->name);
        set_str(env, o, "uri", s->uri);
        set_str(env, o, "state", s->state >= 0 && s->state <= 4 ? states[s->state] : "unknown");
        napi_value b;
        napi_get_boolean(env, s->subscriber != 0, &b);
        napi_set_named_property(env, o, "subscriber", b);
        napi_value since;
        if (s->live_since_unix_ns > 0) {
            napi_create_date(env, (double)s->live_since_unix_ns / 1e6, &since);
        } else {
            napi_get_null(env, &since);
        }
        napi_set_named_property(env, o, "liveSince", since);
        set_num(env, o, "published", (double)s->published);
        set_num(env, o, "acked", (double)s->acked);
        set_num(env, o, "failed", (double)s->failed);
        set_num(env, o, "failovers", (double)s->failovers);
        set_num(env, o, "connects", (double)s->connects);
        set_num(env, o, "connectFailures", (double)s->connect_failures);
        set_num(env, o, "received", (double)s->received);
        set_str(env, o, "lastError", s->last_error);
        napi_set_element(env, arr, (uint32_t)i, o);
    }
    hamqtt_free(stats);
    return arr;
}

/* outboxStats() -> { messages, bytes, oldest: Date | null, oldestAge, stored, delivered,
 * dropped, expired, recovered }, or null when the client has no outbox. */
static napi_value m_outbox_stats(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 1);
    if (c == NULL) {
        return NULL;
    }
    struct hamqtt_outbox_stats s = HAMQTT_OUTBOX_STATS_INIT;
    int rc = hamqtt_outbox_stats(c->h, &s);
    napi_value r;
    if (rc == HAMQTT_ERR_STATE) { /* no outbox */
        napi_get_null(env, &r);
        return r;
    }
    if (rc != HAMQTT_OK) {
        throw_status(env, rc, NULL);
        return NULL;
    }
    napi_create_object(env, &r);
    set_num(env, r, "messages", (double)s.messages);
    set_num(env, r, "bytes", (double)s.bytes);
    napi_value oldest;
    if (s.messages > 0 && s.oldest_unix_ns > 0) {
        napi_create_date(env, (double)s.oldest_unix_ns / 1e6, &oldest);
    } else {
        napi_get_null(env, &oldest);
    }
    napi_set_named_property(env, r, "oldest", oldest);
    set_num(env, r, "oldestAge", s.messages > 0 ? (double)s.oldest_age_ms : 0);
    set_num(env, r, "stored", (double)s.stored);
    set_num(env, r, "delivered", (double)s.delivered);
    set_num(env, r, "dropped", (double)s.dropped);
    set_num(env, r, "expired", (double)s.expired);
    set_num(env, r, "recovered", (double)s.recovered);
    return r;
}

/* connackProps(endpoint|null) -> the MQTT 5 CONNACK properties of a live endpoint (null: the
 * longest-live one), as props_object gives them, or null (none live, MQTT 3.1.1). */
static napi_value m_connack_props(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    nclient *c = unwrap(env, info, &argc, argv, 1);
    if (c == NULL) {
        return NULL;
    }
    char *endpoint = NULL;
    if (argc > 0 && get_opt_string(env, argv[0], "endpoint", &endpoint) != 0) {
        return NULL;
    }
    hamqtt_props *p = NULL;
    int rc = hamqtt_connack_props(c->h, endpoint, &p);
    free(endpoint);
    napi_value r;
    if (rc == HAMQTT_ERR_NOT_FOUND) {
        napi_get_null(env, &r);
        return r;
    }
    if (rc != HAMQTT_OK) {
        throw_status(env, rc, NULL);
        return NULL;
    }
    r = props_object(env, p, 1);
    hamqtt_props_free(p);
    return r;
}

static napi_value m_name(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 1);
    if (c == NULL) {
        return NULL;
    }
    char *name = NULL;
    int rc = hamqtt_client_name(c->h, &name);
    if (rc != HAMQTT_OK) {
        throw_status(env, rc, NULL);
        return NULL;
    }
    napi_value r = str_or_null(env, name);
    hamqtt_free(name);
    return r;
}

static napi_value m_is_closed(napi_env env, napi_callback_info info) {
    size_t argc = 0;
    nclient *c = unwrap(env, info, &argc, NULL, 0);
    if (c == NULL) {
        return NULL;
    }
    napi_value r;
    napi_get_boolean(env, c->closing || c->h == 0, &r);
    return r;
}

/* ------------------------------------------------------------------------ */
/* Module functions                                                           */
/* ------------------------------------------------------------------------ */

static napi_value f_version(napi_env env, napi_callback_info info) {
    (void)info;
    return str_or_null(env, hamqtt_version());
}

static napi_value f_strerror(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    int code = 0;
    if (argc < 1 || get_int(env, argv[0], "status", &code) != 0) {
        return NULL;
    }
    return str_or_null(env, hamqtt_strerror(code));
}

static napi_value f_init_file(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    char *path = argc ? get_string(env, argv[0], "path") : NULL;
    if (path == NULL) {
        if (argc == 0) {
            napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: initFile(path)");
        }
        return NULL;
    }
    int rc = hamqtt_init_file(path);
    free(path);
    if (rc != HAMQTT_OK) {
        throw_status(env, rc, NULL);
        return NULL;
    }
    return undefined(env);
}

static napi_value f_init_yaml(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc == 0) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hamqtt: initYaml(text)");
        return NULL;
    }
    const void *data;
    size_t len;
    char *copy;
    if (get_payload(env, argv[0], &data, &len, &copy) != 0) {
        return NULL;
    }
    int rc = hamqtt_init_yaml(len ? data : "", len);
    free(copy);
    if (rc != HAMQTT_OK) {
        throw_status(env, rc, NULL);
        return NULL;
    }
    return undefined(env);
}

static napi_value f_cluster_names(napi_env env, napi_callback_info info) {
    (void)info;
    char **names = NULL;
    size_t count = 0;
    int rc = hamqtt_cluster_names(&names, &count);
    return string_list(env, rc, names, count);
}

/* shutdown(callback): closes the clients of the loaded configuration. The
 * JavaScript layer detaches its wrappers of those clients first. */
static napi_value f_shutdown(napi_env env, napi_callback_info info) {
    size_t argc = 1;
    napi_value argv[1];
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    env_state *st = state_of(env);
    op *o = op_new(st, OP_SHUTDOWN, 0);
    if (o == NULL) {
        napi_throw_error(env, NULL, "hamqtt: out of memory");
        return NULL;
    }
    if (op_start(env, o, argc ? argv[0] : NULL) != 0) {
        return NULL;
    }
    return undefined(env);
}

static napi_value f_status_names(napi_env env, napi_callback_info info) {
    (void)info;
    static const int codes[] = {HAMQTT_OK, HAMQTT_ERR_INVALID, HAMQTT_ERR_HANDLE, HAMQTT_ERR_TOPIC,
                                HAMQTT_ERR_QOS, HAMQTT_ERR_PAYLOAD, HAMQTT_ERR_CONFIG,
                                HAMQTT_ERR_NO_ENDPOINT, HAMQTT_ERR_CLOSED, HAMQTT_ERR_NOT_FOUND,
                                HAMQTT_ERR_BUSY, HAMQTT_ERR_MODE, HAMQTT_ERR_STATE, HAMQTT_ERR_REFUSED,
                                HAMQTT_ERR_IO, HAMQTT_ERR_NOT_INITIALIZED, HAMQTT_ERR_TIMEOUT,
                                HAMQTT_ERR_INTERNAL, HAMQTT_STORED, HAMQTT_ERR_FULL, HAMQTT_ERR_DROPPED,
                                HAMQTT_ERR_EXPIRED, HAMQTT_ERR_LOCKED, HAMQTT_ERR_BUFFER};
    napi_value obj;
    napi_create_object(env, &obj);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        napi_value v;
        napi_create_int32(env, codes[i], &v);
        napi_set_named_property(env, obj, status_name(codes[i]), v);
    }
    return obj;
}

/* holdSignals() / releaseSignals(): see "Signals held for a turn of JavaScript". */
static napi_value f_hold_signals(napi_env env, napi_callback_info info) {
    (void)env;
    (void)info;
    if (signals_held++ == 0) {
        pthread_sigmask(SIG_BLOCK, &async_signals, &signals_saved);
    }
    return NULL;
}

static napi_value f_release_signals(napi_env env, napi_callback_info info) {
    (void)env;
    (void)info;
    if (signals_held > 0 && --signals_held == 0) {
        pthread_sigmask(SIG_SETMASK, &signals_saved, NULL);
    }
    return NULL;
}

/* makeError(status, message): the Error the addon would throw (for JS-made errors). */
static napi_value f_make_error(napi_env env, napi_callback_info info) {
    size_t argc = 2;
    napi_value argv[2];
    NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    int code = 0;
    if (argc < 2 || get_int(env, argv[0], "status", &code) != 0) {
        return NULL;
    }
    char *msg = NULL;
    if (get_opt_string(env, argv[1], "message", &msg) != 0) {
        return NULL;
    }
    napi_value e = make_error(env, code, msg ? msg : hamqtt_strerror(code));
    free(msg);
    return e;
}

/* ------------------------------------------------------------------------ */
/* Environment lifecycle                                                      */
/* ------------------------------------------------------------------------ */

static void on_async_closed(uv_handle_t *h) {
    handle_closed(h->data);
}

static void on_check_closed(uv_handle_t *h) {
    handle_closed(h->data);
}

static void on_sigchld(uv_signal_t *h, int signum) {
    (void)h;
    (void)signum; /* libuv's own child watcher reaps; this watcher only keeps the handler */
}

/* After every turn of the loop: SIGCHLD every time (libuv installs its handler when a child
 * process is spawned, and the child may exit within milliseconds), everything else at most
 * every 20 ms (process.on('SIGINT') and the like). */
static void on_check(uv_check_t *h) {
    env_state *st = h->data;
    ensure_onstack(SIGCHLD);
    uint64_t now = uv_now(st->loop);
    if (now - st->last_signal_scan >= 20) {
        st->last_signal_scan = now;
        ensure_onstack_all();
    }
}

/* Runs when the environment is torn down (normal exit, worker termination).
 * Stops every poll handle, closes every client in the background (threads
 * blocked in the library return when their client closes), and waits only
 * for our uv handles to close. */
static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
    env_state *st = arg;
    napi_env env = st->env;
    st->cleanup = handle;
    st->torn_down = 1;
    size_t n = 0;
    for (nclient *c = st->clients; c; c = c->next) {
        n++;
    }
    hamqtt_client *many = n ? calloc(n, sizeof *many) : NULL;
    size_t k = 0;
    while (st->clients) {
        nclient *c = st->clients;
        hamqtt_client h = detach(env, c);
        if (many && h) {
            many[k++] = h;
        }
    }
    if (k > 0) {
        op *o = op_new(st, OP_CLOSE_MANY, 0);
        if (o) {
            o->many = many;
            o->nmany = k;
            many = NULL;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            pthread_mutex_lock(&st->mu);
            st->refs++;
            pthread_mutex_unlock(&st->mu);
            pthread_t tid;
            if (spawn_op(&tid, &attr, o) != 0) {
                pthread_mutex_lock(&st->mu);
                st->refs--;
                pthread_mutex_unlock(&st->mu);
                for (size_t i = 0; i < o->nmany; i++) {
                    hamqtt_close(o->many[i]);
                }
                op_free(o);
            }
            pthread_attr_destroy(&attr);
        }
    }
    free(many);
    pthread_mutex_lock(&st->mu);
    st->closing = 1;
    op *list = st->done_head;
    st->done_head = st->done_tail = NULL;
    pthread_mutex_unlock(&st->mu);
    while (list) {
        op *o = list;
        list = o->next;
        op_free(o);
    }
    if (st->resource) {
        napi_delete_reference(env, st->resource);
        st->resource = NULL;
    }
    if (st->client_ctor) {
        napi_delete_reference(env, st->client_ctor);
        st->client_ctor = NULL;
    }
    if (st->actx) {
        napi_async_destroy(env, st->actx);
        st->actx = NULL;
    }
    if (st->check_ok) {
        uv_close((uv_handle_t *)&st->check, on_check_closed);
    }
    if (st->sigchld_ok) {
        uv_close((uv_handle_t *)&st->sigchld, on_check_closed);
    }
    uv_close((uv_handle_t *)&st->async, on_async_closed);
}

static napi_value init(napi_env env, napi_value exports) {
    pthread_once(&async_signals_once, async_signals_init);
    env_state *st = calloc(1, sizeof *st);
    if (st == NULL) {
        napi_throw_error(env, NULL, "hamqtt: out of memory");
        return NULL;
    }
    st->env = env;
    st->refs = 1;
    pthread_mutex_init(&st->mu, NULL);
    NAPI_CALL(env, napi_get_uv_event_loop(env, &st->loop));
    if (uv_async_init(st->loop, &st->async, on_async) != 0) {
        napi_throw_error(env, NULL, "hamqtt: uv_async_init failed");
        return NULL;
    }
    st->async.data = st;
    st->handles_open = 1;
    uv_unref((uv_handle_t *)&st->async);
    if (uv_check_init(st->loop, &st->check) == 0) {
        st->check.data = st;
        st->check_ok = 1;
        st->handles_open++;
        uv_check_start(&st->check, on_check);
        uv_unref((uv_handle_t *)&st->check);
    }
    if (uv_signal_init(st->loop, &st->sigchld) == 0) {
        st->sigchld.data = st;
        st->sigchld_ok = 1;
        st->handles_open++;
        uv_signal_start(&st->sigchld, on_sigchld, SIGCHLD);
        uv_unref((uv_handle_t *)&st->sigchld);
    }
    ensure_onstack_all();

    napi_value resource, name;
    napi_create_object(env, &resource);
    napi_create_reference(env, resource, 1, &st->resource);
    napi_create_string_utf8(env, "hamqtt", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, resource, name, &st->actx);
    napi_set_instance_data(env, st, NULL, NULL);
    napi_add_async_cleanup_hook(env, env_cleanup, st, NULL);

    napi_property_descriptor methods[] = {
        {"watch", NULL, m_watch, NULL, NULL, NULL, napi_default, NULL},
        {"unwatch", NULL, m_unwatch, NULL, NULL, NULL, napi_default, NULL},
        {"drain", NULL, m_drain, NULL, NULL, NULL, napi_default, NULL},
        {"ref", NULL, m_ref, NULL, NULL, NULL, napi_default, NULL},
        {"notifyIdle", NULL, m_notify_idle, NULL, NULL, NULL, napi_default, NULL},
        {"flush", NULL, m_flush, NULL, NULL, NULL, napi_default, NULL},
        {"pending", NULL, m_pending, NULL, NULL, NULL, napi_default, NULL},
        {"publish", NULL, m_publish, NULL, NULL, NULL, napi_default, NULL},
        {"publishWait", NULL, m_publish_wait, NULL, NULL, NULL, napi_default, NULL},
        {"connect", NULL, m_connect, NULL, NULL, NULL, napi_default, NULL},
        {"disconnect", NULL, m_disconnect, NULL, NULL, NULL, napi_default, NULL},
        {"close", NULL, m_close, NULL, NULL, NULL, napi_default, NULL},
        {"subscribe", NULL, m_subscribe, NULL, NULL, NULL, napi_default, NULL},
        {"unsubscribe", NULL, m_unsubscribe, NULL, NULL, NULL, napi_default, NULL},
        {"addEndpoint", NULL, m_add_endpoint, NULL, NULL, NULL, napi_default, NULL},
        {"removeEndpoint", NULL, m_remove_endpoint, NULL, NULL, NULL, napi_default, NULL},
        {"liveEndpoints", NULL, m_live, NULL, NULL, NULL, napi_default, NULL},
        {"deadEndpoints", NULL, m_dead, NULL, NULL, NULL, napi_default, NULL},
        {"stats", NULL, m_stats, NULL, NULL, NULL, napi_default, NULL},
        {"outboxStats", NULL, m_outbox_stats, NULL, NULL, NULL, napi_default, NULL},
        {"connackProps", NULL, m_connack_props, NULL, NULL, NULL, napi_default, NULL},
        {"name", NULL, m_name, NULL, NULL, NULL, napi_default, NULL},
        {"isClosed", NULL, m_is_closed, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_value ctor;
    NAPI_CALL(env, napi_define_class(env, "NativeClient", NAPI_AUTO_LENGTH, client_ctor, NULL,
                                     sizeof methods / sizeof methods[0], methods, &ctor));
    napi_create_reference(env, ctor, 1, &st->client_ctor);

    napi_property_descriptor fns[] = {
        {"NativeClient", NULL, NULL, NULL, NULL, ctor, napi_default, NULL},
        {"version", NULL, f_version, NULL, NULL, NULL, napi_default, NULL},
        {"strerror", NULL, f_strerror, NULL, NULL, NULL, napi_default, NULL},
        {"initFile", NULL, f_init_file, NULL, NULL, NULL, napi_default, NULL},
        {"initYaml", NULL, f_init_yaml, NULL, NULL, NULL, napi_default, NULL},
        {"clusterNames", NULL, f_cluster_names, NULL, NULL, NULL, napi_default, NULL},
        {"shutdown", NULL, f_shutdown, NULL, NULL, NULL, napi_default, NULL},
        {"statusCodes", NULL, f_status_names, NULL, NULL, NULL, napi_default, NULL},
        {"makeError", NULL, f_make_error, NULL, NULL, NULL, napi_default, NULL},
        {"holdSignals", NULL, f_hold_signals, NULL, NULL, NULL, napi_default, NULL},
        {"releaseSignals", NULL, f_release_signals, NULL, NULL, NULL, napi_default, NULL},
    };
    NAPI_CALL(env, napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns));
    return exports;
}

NAPI_MODULE_INIT() {
    return init(env, exports);
}
