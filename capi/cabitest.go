//go:build cabitest

package main

/*
#include <stdlib.h>
#include "cabitest_shim.h"
*/
import "C"

import "unsafe"

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

// cabiFuzz runs one fuzz input through the C ABI; "" means it passed.
func cabiFuzz(data []byte) string {
	p := C.CBytes(data)
	defer C.free(p)
	if msg := C.hqtest_fuzz((*C.uchar)(p), C.size_t(len(data))); msg != nil {
		return C.GoString(msg)
	}
	return ""
}
