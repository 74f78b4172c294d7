/*
 * sigmask.c - hamqtt_sigmask.node: blocks the asynchronous signals on the calling thread while
 * hamqtt.node (and with it libhamqtt.so.0, a Go runtime) is loaded.
 *
 * Why: the Go runtime inside libhamqtt starts its threads when the library is loaded, and every
 * thread it creates later inherits the signal mask of the loading thread (Go's initSigmask; in a
 * c-shared library Go leaves blockable signals as the host set them). Node and libuv install
 * handlers later (SIGCHLD when a child process is spawned, SIGINT/SIGTERM/... for
 * process.on('SIG...')) without SA_ONSTACK. Such a handler running on a Go thread runs on a small
 * goroutine stack and can overflow it, corrupting memory (include/hamqtt.h, "Signals"). With the
 * signals blocked at load time, no Go thread ever receives them; the kernel delivers them to
 * Node's own threads instead. The addon does the same for its own threads and around every call
 * into the library on Node's threads.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <pthread.h>
#include <signal.h>

static __thread sigset_t saved;
static __thread int depth;

static void async_signals(sigset_t *s) {
    sigfillset(s);
    /* synchronous signals (and the unblockable ones) stay as they are */
    sigdelset(s, SIGSEGV);
    sigdelset(s, SIGBUS);
    sigdelset(s, SIGFPE);
    sigdelset(s, SIGILL);
    sigdelset(s, SIGTRAP);
    sigdelset(s, SIGSYS);
    sigdelset(s, SIGABRT);
    sigdelset(s, SIGKILL);
    sigdelset(s, SIGSTOP);
}

static napi_value block(napi_env env, napi_callback_info info) {
    (void)env;
    (void)info;
    if (depth++ == 0) {
        sigset_t s;
        async_signals(&s);
        pthread_sigmask(SIG_BLOCK, &s, &saved);
    }
    return NULL;
}

static napi_value restore(napi_env env, napi_callback_info info) {
    (void)env;
    (void)info;
    if (depth > 0 && --depth == 0) {
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
    }
    return NULL;
}

NAPI_MODULE_INIT() {
    napi_property_descriptor fns[] = {
        {"block", NULL, block, NULL, NULL, NULL, napi_default, NULL},
        {"restore", NULL, restore, NULL, NULL, NULL, napi_default, NULL},
    };
    napi_define_properties(env, exports, 2, fns);
    return exports;
}
