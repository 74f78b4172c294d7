/* Helpers of the C API tests: checks that name the failing call and hamqtt_last_error(), and a
 * handle on internal/cmd/brokerctl, which runs Mosquitto brokers on 127.0.0.1. */
#ifndef HAMQTT_TESTUTIL_H
#define HAMQTT_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "hamqtt.h"

#define FAILF(...)                                                           \
    do {                                                                     \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                      \
        fprintf(stderr, __VA_ARGS__);                                        \
        fprintf(stderr, "\n  hamqtt_last_error: %s\n", hamqtt_last_error()); \
        fflush(stderr);                                                      \
        abort();                                                             \
    } while (0)

#define CHECK(cond)                                  \
    do {                                             \
        if (!(cond)) FAILF("CHECK failed: %s", #cond); \
    } while (0)

/* The call must return `want`. */
#define CHECK_RC(call, want)                                                                   \
    do {                                                                                       \
        int rc_ = (call);                                                                      \
        if (rc_ != (want))                                                                     \
            FAILF("%s returned %d (%s), want %d (%s)", #call, rc_, hamqtt_strerror(rc_), (want), \
                  hamqtt_strerror(want));                                                      \
    } while (0)

#define CHECK_OK(call) CHECK_RC(call, HAMQTT_OK)

/* The call must fail with `want`, and hamqtt_last_error() must contain `needle`. */
#define CHECK_ERR(call, want, needle)                                                                  \
    do {                                                                                               \
        int rc_ = (call);                                                                              \
        if (rc_ != (want))                                                                             \
            FAILF("%s returned %d (%s), want %d (%s)", #call, rc_, hamqtt_strerror(rc_), (want),       \
                  hamqtt_strerror(want));                                                              \
        if (strstr(hamqtt_last_error(), (needle)) == NULL)                                             \
            FAILF("%s: hamqtt_last_error() lacks \"%s\"", #call, (needle));                             \
    } while (0)

typedef struct brokers {
    pid_t pid;
    FILE *to;   /* brokerctl's stdin  */
    FILE *from; /* brokerctl's stdout */
    int n;
    int ports[16];
} brokers;

/* Starts brokerctl with n brokers. */
void brokers_start(brokers *b, int n);
/* Sends a command (printf-style) and returns its reply after "ok" (static buffer); aborts on err. */
const char *brokers_cmd(brokers *b, const char *fmt, ...);
void brokers_kill(brokers *b, int i);
void brokers_restart(brokers *b, int i);
/* "tcp://127.0.0.1:P1,tcp://127.0.0.1:P2,..." for the first count brokers (count<=0: all). */
const char *brokers_uris(brokers *b, int count);
void brokers_quit(brokers *b);

/* 10 under HAMQTT_TEST_SLOW (valgrind), else 1: multiplies timeouts. */
int test_scale(void);
int64_t now_ms(void);
void sleep_ms(int ms);

/* A client on the given endpoints with fast test timings. */
hamqtt_client test_client(const char *endpoints, const char *name, int publisher_type, int dedup);
/* Fills o with HAMQTT_OPTIONS_INIT and the short timings test_client uses. */
void test_options(hamqtt_options *o, const char *name);

/* Waits until the client has `n` live endpoints (aborts after timeout_ms). */
void wait_live(hamqtt_client c, size_t n, int timeout_ms);

/* One case of a test program. */
struct test_case {
    const char *name;
    void (*fn)(void);
    int quick; /* part of "quick" (the valgrind and cgocheck2 runs) */
};

/* A test program's main: runs the cases argv names ("all", "quick", "list" or case names)
 * and returns the exit status. With HAMQTT_EXPECT_LIB set (the cgocheck2 run), the libhamqtt
 * mapped into the process must come from that path. */
int test_main(int argc, char **argv, const struct test_case *cases, size_t ncases);

#endif
