/* Compile-time check that include/hamqtt.h and the exports agree: cgo's generated header
 * (libhamqtt.h, never installed) declares every //export with the types of its Go signature;
 * both headers in one translation unit make any difference in a prototype a
 * conflicting-types error. capi/capi.h declares the const aliases cgo uses. */
#include "hamqtt.h"
#include "libhamqtt.h"

#ifdef HAMQTT_ABI_DRIFT
/* c_abi_check_catches_drift compiles this to prove a mismatch is an error. */
int hamqtt_close(hamqtt_client client, int how);
#endif

int hamqtt_abi_check(void);
int hamqtt_abi_check(void) { return 0; }
