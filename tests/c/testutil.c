#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#ifndef BROKERCTL_PATH
#define BROKERCTL_PATH "brokerctl"
#endif

int test_scale(void) {
    static int scale;
    if (scale == 0) {
        const char *slow = getenv("HAMQTT_TEST_SLOW");
        scale = (slow != NULL && *slow != 0 && strcmp(slow, "0") != 0) ? 10 : 1;
    }
    return scale;
}

int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static char reply_buf[1024];

static const char *read_reply(brokers *b) {
    size_t n;
    if (fgets(reply_buf, sizeof reply_buf, b->from) == NULL) FAILF("brokerctl: no reply (did it die?)");
    n = strlen(reply_buf);
    while (n > 0 && (reply_buf[n - 1] == '\n' || reply_buf[n - 1] == '\r')) reply_buf[--n] = 0;
    if (strncmp(reply_buf, "ok", 2) != 0) FAILF("brokerctl: %s", reply_buf);
    return reply_buf[2] == ' ' ? reply_buf + 3 : reply_buf + 2;
}

void brokers_start(brokers *b, int n) {
    /* posix_spawn, not fork: a process running the Go runtime must not fork without exec. */
    int in[2], out[2];
    char count[16];
    const char *path = getenv("HAMQTT_BROKERCTL");
    char *argv[4];
    posix_spawn_file_actions_t fa;
    const char *p;
    int i;
    if (path == NULL || *path == 0) path = BROKERCTL_PATH;
    memset(b, 0, sizeof *b);
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) FAILF("pipe: %s", strerror(errno));
    snprintf(count, sizeof count, "%d", n);
    argv[0] = (char *)path;
    argv[1] = (char *)"-n";
    argv[2] = count;
    argv[3] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if (posix_spawn(&b->pid, path, &fa, NULL, argv, environ) != 0) FAILF("cannot start %s", path);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    b->to = fdopen(in[1], "w");
    b->from = fdopen(out[0], "r");
    p = read_reply(b);
    for (i = 0; i < n; i++) {
        char *end;
        b->ports[i] = (int)strtol(p, &end, 10);
        if (end == p) FAILF("brokerctl: bad ports line");
        p = end;
    }
    b->n = n;
}

const char *brokers_cmd(brokers *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(b->to, fmt, ap);
    va_end(ap);
    fputc('\n', b->to);
    fflush(b->to);
    return read_reply(b);
}

void brokers_kill(brokers *b, int i) { (void)brokers_cmd(b, "kill %d", i); }
void brokers_restart(brokers *b, int i) { (void)brokers_cmd(b, "restart %d", i); }

const char *brokers_uris(brokers *b, int count) {
    static char buf[1024];
    size_t off = 0;
    int i;
    if (count <= 0 || count > b->n) count = b->n;
    buf[0] = 0;
    for (i = 0; i < count; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%stcp://127.0.0.1:%d", i ? "," : "", b->ports[i]);
    return buf;
}

void brokers_quit(brokers *b) {
    int status;
    if (b->to == NULL) return;
    fputs("quit\n", b->to);
    fflush(b->to);
    fclose(b->to);
    fclose(b->from);
    b->to = b->from = NULL;
    waitpid(b->pid, &status, 0);
}

void test_options(hamqtt_options *o, const char *name) {
    hamqtt_options init = HAMQTT_OPTIONS_INIT;
    *o = init;
    o->name = name;
    o->keep_alive_ms = 2000 * test_scale();
    o->connect_timeout_ms = 2000 * test_scale();
    o->time_to_wait_ms = 10000 * test_scale();
    o->ack_timeout_ms = 2000 * test_scale();
    o->probe_delay_ms = 50;
    o->max_probe_delay_ms = 500;
    o->connect_rate = -1;
    o->warm_up_ms = -1;
    o->flap_limit = -1;
    /* HAMQTT_TEST_PROTOCOL=5 runs a case over MQTT 5, where its behaviour must be the same */
    if (getenv("HAMQTT_TEST_PROTOCOL") && strcmp(getenv("HAMQTT_TEST_PROTOCOL"), "5") == 0) o->protocol_version = 5;
}

hamqtt_client test_client(const char *endpoints, const char *name, int publisher_type, int dedup) {
    hamqtt_options o;
    hamqtt_client c = 0;
    test_options(&o, name);
    o.publisher_type = publisher_type;
    o.dedup = dedup;
    CHECK_OK(hamqtt_client_new(endpoints, &o, &c));
    CHECK(c != 0);
    return c;
}

void wait_live(hamqtt_client c, size_t n, int timeout_ms) {
    int64_t deadline = now_ms() + (int64_t)timeout_ms * test_scale();
    for (;;) {
        char **names = NULL;
        size_t count = 0;
        CHECK_OK(hamqtt_live_endpoints(c, &names, &count));
        hamqtt_free(names);
        if (count >= n) return;
        if (now_ms() > deadline) FAILF("client %llu: %zu live endpoints after %d ms, want %zu", (unsigned long long)c, count, timeout_ms, n);
        sleep_ms(10);
    }
}

static void check_loaded_library(void) {
    const char *want = getenv("HAMQTT_EXPECT_LIB");
    char line[4096];
    int found = 0;
    FILE *maps;
    if (want == NULL || *want == 0) return;
    hamqtt_version(); /* make sure it is loaded */
    maps = fopen("/proc/self/maps", "r");
    CHECK(maps != NULL);
    while (fgets(line, sizeof line, maps) != NULL) {
        if (strstr(line, "libhamqtt") == NULL) continue;
        if (strstr(line, want) == NULL) FAILF("libhamqtt loaded from the wrong place: %s(want %s)", line, want);
        found = 1;
    }
    fclose(maps);
    CHECK(found);
    fprintf(stderr, "library: %s\n", want);
}

int test_main(int argc, char **argv, const struct test_case *cases, size_t ncases) {
    size_t i;
    int ran = 0, a;
    if (argc < 2) {
        fprintf(stderr, "usage: %s all|quick|list|CASE...\n", argv[0]);
        return 2;
    }
    check_loaded_library();
    for (a = 1; a < argc; a++) {
        for (i = 0; i < ncases; i++) {
            if (strcmp(argv[a], "list") == 0) {
                printf("%s\n", cases[i].name);
                ran++;
                continue;
            }
            if (strcmp(argv[a], "all") == 0 || (strcmp(argv[a], "quick") == 0 && cases[i].quick) ||
                strcmp(argv[a], cases[i].name) == 0) {
                int64_t t0 = now_ms();
                fprintf(stderr, "=== %s\n", cases[i].name);
                cases[i].fn();
                fprintf(stderr, "--- ok %s (%lld ms)\n", cases[i].name, (long long)(now_ms() - t0));
                ran++;
            }
        }
    }
    if (ran == 0) {
        fprintf(stderr, "no test case matches\n");
        return 2;
    }
    return 0;
}
