/* Test-only shim (build tag cabitest); see cabitest_shim.c. */
#include <stddef.h>
const char *hqtest_threads(const char *uris, int threads, int per_thread);
const char *hqtest_fuzz(const unsigned char *data, size_t len);
