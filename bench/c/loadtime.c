/* Time to load and initialise a client library in a fresh process, and what it adds to RSS.
 *
 *   loadtime hamqtt|mosquitto|pahoc LIBPATH
 *
 * prints {"load_ns":..,"init_ns":..,"client_ns":..,"rss_before_kb":..,"rss_after_kb":..,"threads":..}
 *   load_ns    dlopen(RTLD_NOW) of the library (and its dependencies)
 *   init_ns    the library's first call: hamqtt_version() (waits for the Go runtime to start),
 *              mosquitto_lib_init(), MQTTAsync_global_init()
 *   client_ns  creating and destroying one client object, no connection
 *              (hamqtt_client_new+hamqtt_close, mosquitto_new+mosquitto_destroy,
 *              MQTTAsync_create+MQTTAsync_destroy)
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0) v = atol(line + kl);
    if (f) fclose(f);
    return v;
}

static void *sym(void *h, const char *name) {
    void *p = dlsym(h, name);
    if (!p) {
        fprintf(stderr, "loadtime: %s: %s\n", name, dlerror());
        exit(1);
    }
    return p;
}

/* The few declarations needed, so that this program links against none of the libraries. */
typedef struct {
    unsigned char struct_id[4];
    int struct_version;
    int do_openssl_init;
} paho_init_opts;

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: loadtime hamqtt|mosquitto|pahoc LIBPATH\n");
        return 2;
    }
    const char *kind = argv[1], *path = argv[2];
    long rss0 = status_kb("VmRSS:");
    int64_t t0 = now_ns();
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    int64_t t1 = now_ns();
    if (!h) {
        fprintf(stderr, "loadtime: %s\n", dlerror());
        return 1;
    }
    int64_t load = t1 - t0;
    int64_t t2, t3;
    if (strcmp(kind, "hamqtt") == 0) {
        const char *(*version)(void) = (const char *(*)(void))sym(h, "hamqtt_version");
        int (*client_new)(const char *, const void *, uint64_t *) = (int (*)(const char *, const void *, uint64_t *))sym(h, "hamqtt_client_new");
        int (*client_close)(uint64_t) = (int (*)(uint64_t))sym(h, "hamqtt_close");
        t1 = now_ns();
        volatile const char *v = version();
        (void)v;
        t2 = now_ns();
        uint64_t c = 0;
        if (client_new("tcp://127.0.0.1:1", NULL, &c) != 0) {
            fprintf(stderr, "loadtime: hamqtt_client_new failed\n");
            return 1;
        }
        client_close(c);
        t3 = now_ns();
    } else if (strcmp(kind, "mosquitto") == 0) {
        int (*lib_init)(void) = (int (*)(void))sym(h, "mosquitto_lib_init");
        void *(*mnew)(const char *, int, void *) = (void *(*)(const char *, int, void *))sym(h, "mosquitto_new");
        void (*mdestroy)(void *) = (void (*)(void *))sym(h, "mosquitto_destroy");
        t1 = now_ns();
        lib_init();
        t2 = now_ns();
        void *m = mnew("loadtime", 1, NULL);
        if (!m) return 1;
        mdestroy(m);
        t3 = now_ns();
    } else if (strcmp(kind, "pahoc") == 0) {
        void (*global_init)(paho_init_opts *) = (void (*)(paho_init_opts *))sym(h, "MQTTAsync_global_init");
        int (*create)(void **, const char *, const char *, int, void *) =
            (int (*)(void **, const char *, const char *, int, void *))sym(h, "MQTTAsync_create");
        void (*destroy)(void **) = (void (*)(void **))sym(h, "MQTTAsync_destroy");
        t1 = now_ns();
        paho_init_opts io = {{'M', 'Q', 'T', 'G'}, 0, 0};
        global_init(&io);
        t2 = now_ns();
        void *c = NULL;
        if (create(&c, "tcp://127.0.0.1:1", "loadtime", 1 /* MQTTCLIENT_PERSISTENCE_NONE */, NULL) != 0) return 1;
        destroy(&c);
        t3 = now_ns();
    } else {
        fprintf(stderr, "loadtime: unknown kind %s\n", kind);
        return 2;
    }
    /* dlsym time is excluded from init: t1 was reset after the lookups. */
    printf("{\"load_ns\":%lld,\"init_ns\":%lld,\"client_ns\":%lld,\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"threads\":%ld}\n",
           (long long)load, (long long)(t2 - t1), (long long)(t3 - t2), rss0, status_kb("VmRSS:"),
           status_kb("Threads:"));
    return 0;
}
