/* Test-only shim (build tag cabitest); see cabitest_shim.c. */
#include <stddef.h>
#include <stdint.h>
const char *hqtest_threads(const char *uris, int threads, int per_thread);
const char *hqtest_outbox_cycles(const char *uris, int threads, int per_thread);
const char *hqtest_fuzz(const unsigned char *data, size_t len);
int hqtest_client_with_ack_quorum(const char *uris, int quorum, int old_header, uint64_t *out);
int hqtest_tls_connect(const char *uri, const char *ca_pem, int skip_hostname, int insecure, int old_header);
int hqtest_client_v5(const char *uris, int old_header, uint64_t *out);
