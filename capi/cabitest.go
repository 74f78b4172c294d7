//go:build cabitest

package main

/*
#include <stdlib.h>
#include "capi.h"
#include "cabitest_shim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/hamqtt/hamqtt/core"
)

// cabiThreads runs hqtest_threads: pthreads publishing through the exported C functions while
// callbacks run. It returns "" or what went wrong.
func cabiThreads(uris string, threads, perThread int) string {
	cs := C.CString(uris)
	defer C.free(unsafe.Pointer(cs))
	if msg := C.hqtest_threads(cs, C.int(threads), C.int(perThread)); msg != nil {
		return C.GoString(msg)
	}
	return ""
}

// cabiOutboxCycles runs hqtest_outbox_cycles: pthreads publishing through a client with an
// outbox while it is disconnected and connected again and again. "" or what went wrong.
func cabiOutboxCycles(uris string, threads, perThread int) string {
	cs := C.CString(uris)
	defer C.free(unsafe.Pointer(cs))
	if msg := C.hqtest_outbox_cycles(cs, C.int(threads), C.int(perThread)); msg != nil {
		return C.GoString(msg)
	}
	return ""
}

// cabiFuzz runs one fuzz input through the C ABI; "" means it passed.
func cabiFuzz(data []byte) string {
	p := C.CBytes(data)
	defer C.free(p)
	if msg := C.hqtest_fuzz((*C.uchar)(p), C.size_t(len(data))); msg != nil {
		return C.GoString(msg)
	}
	return ""
}

// cabiAckQuorum creates a client through hamqtt_client_new with hamqtt_options.ack_quorum =
// quorum (oldHeader: with the struct_size of a program built before the field existed) and
// returns the AckQuorum of the engine's configuration, or the status and error text.
func cabiAckQuorum(quorum int, oldHeader bool) (got int, status int, errText string) {
	cs := C.CString("tcp://127.0.0.1:1")
	defer C.free(unsafe.Pointer(cs))
	old := C.int(0)
	if oldHeader {
		old = 1
	}
	var id C.uint64_t
	if rc := C.hqtest_client_with_ack_quorum(cs, C.int(quorum), old, &id); rc != 0 {
		return 0, int(rc), C.GoString((*C.char)(unsafe.Pointer(hamqtt_last_error())))
	}
	defer hamqtt_close(C.hamqtt_client(id))
	cl, err := lookup(uint64(id))
	if err != nil {
		return 0, -1, err.Error()
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.cfg.AckQuorum, 0, ""
}

// cabiTLSConnect connects through hamqtt_client_new and hamqtt_connect to uri with caPEM as
// the trusted CA and the given switches; it returns the status and hamqtt_last_error().
func cabiTLSConnect(uri, caPEM string, skipHostname, insecure, oldHeader bool) (int, string) {
	b := func(v bool) C.int {
		if v {
			return 1
		}
		return 0
	}
	cu, cca := C.CString(uri), C.CString(caPEM)
	defer C.free(unsafe.Pointer(cu))
	defer C.free(unsafe.Pointer(cca))
	rc := C.hqtest_tls_connect(cu, cca, b(skipHostname), b(insecure), b(oldHeader))
	if rc != 0 {
		return int(rc), C.GoString((*C.char)(unsafe.Pointer(hamqtt_last_error())))
	}
	return 0, ""
}

// cabiHostEnv sets name=value with the C library's setenv (as Python's os.environ and Node's
// process.env do, after the Go runtime copied the environment) and returns what hostEnv sees.
func cabiHostEnv(name, value string) (string, bool) {
	cn, cv := C.CString(name), C.CString(value)
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(cv))
	C.setenv(cn, cv, 1)
	return hostEnv(name)
}

// cabiV5Options creates a client through hamqtt_client_new with every MQTT 5 option set
// (oldHeader: with the struct_size of a program built before they existed) and returns the
// engine's configuration, or the status and error text.
func cabiV5Options(oldHeader bool) (core.Config, int, string) {
	cs := C.CString("tcp://127.0.0.1:1")
	defer C.free(unsafe.Pointer(cs))
	old := C.int(0)
	if oldHeader {
		old = 1
	}
	var id C.uint64_t
	if rc := C.hqtest_client_v5(cs, old, &id); rc != 0 {
		return core.Config{}, int(rc), C.GoString((*C.char)(unsafe.Pointer(hamqtt_last_error())))
	}
	defer hamqtt_close(C.hamqtt_client(id))
	cl, err := lookup(uint64(id))
	if err != nil {
		return core.Config{}, -1, err.Error()
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.cfg, 0, ""
}
