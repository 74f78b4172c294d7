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
 *
 * On Node's threads a publish does not block and unblock them around its own call: it blocks
 * them for the rest of the turn of JavaScript it runs in (the first publish of a turn blocks
 * them; a microtask queued by it unblocks them when the turn's synchronous code is done, also
 * when that code threw), so that a burst of publishes costs two rt_sigprocmask calls instead of
 * two each (src/addon.c, "Signals held for a turn of JavaScript"). What a JavaScript program can
 * observe does not change: Node runs process.on('SIG...') listeners from its event loop only
 * (libuv's handler writes to a pipe), never within a turn, and SIGCHLD is not blocked at all. What
 * does change is the kernel's delivery to that thread, which waits for the end of the turn. A
 * thread created during a held turn inherits the blocked mask, and keeps it for good: libuv's
 * pool when an fs or crypto call right after a publish in the same turn starts it (it starts
 * lazily), or a Worker created in that turn. A signal sent to the process goes to a thread that
 * does not block it, and Node's other threads (its platform workers, started with the process)
 * do not: so SIGINT or SIGTERM with no listener still ends the process at once during a burst
 * (seen with Node 20). Were none of them to take it, such a default action (or SIGTSTP's stop)
 * would wait for the turn to end: a turn that publishes and then computes for a second without
 * returning to the loop would delay it by that second. A
 * signal sent to the thread itself does wait: the SIGPROF ticks of a profiler sampling it (V8's
 * --cpu-prof; perf samples without signals), so a CPU profile attributes a burst's samples to its end.
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
