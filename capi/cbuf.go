package main

/*
#include "capi.h"
*/
import "C"

import "unsafe"

// cbuf is a reusable C buffer for handing strings and bytes to C callbacks: C code is only
// ever given C memory, never pointers into the Go heap. reset sizes it for one event; the
// pointers it returns stay valid until the next reset or free.
type cbuf struct {
	p   unsafe.Pointer
	cap uintptr
	off uintptr
}

// reset makes room for need bytes and forgets the previous content.
func (b *cbuf) reset(need uintptr) {
	b.off = 0
	if need <= b.cap && b.p != nil {
		return
	}
	size := max(need, 2*b.cap, 1024)
	p := C.malloc(C.size_t(size))
	if p == nil {
		panic("hamqtt: out of memory")
	}
	if b.p != nil {
		C.free(b.p)
	}
	b.p, b.cap = p, size
}

// str copies s NUL-terminated.
func (b *cbuf) str(s string) *C.char {
	dst := unsafe.Slice((*byte)(unsafe.Add(b.p, b.off)), len(s)+1)
	copy(dst, s)
	dst[len(s)] = 0
	b.off += uintptr(len(s)) + 1
	return (*C.char)(unsafe.Add(b.p, b.off-uintptr(len(s))-1))
}

// bytes copies p; nil for an empty p.
func (b *cbuf) bytes(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	dst := unsafe.Add(b.p, b.off)
	copy(unsafe.Slice((*byte)(dst), len(p)), p)
	b.off += uintptr(len(p))
	return dst
}

// alloc takes n bytes aligned to align (a power of two); the caller sized the buffer for it
// (with align-1 bytes of slack).
func (b *cbuf) alloc(n, align uintptr) unsafe.Pointer {
	base := uintptr(b.p)
	start := (base + b.off + align - 1) &^ (align - 1)
	b.off = start - base + n
	return unsafe.Add(b.p, start-base)
}

// strBytes copies p NUL-terminated (so that binary data is a C string too, when it can be).
func (b *cbuf) strBytes(p []byte) *C.char {
	dst := unsafe.Slice((*byte)(unsafe.Add(b.p, b.off)), len(p)+1)
	copy(dst, p)
	dst[len(p)] = 0
	b.off += uintptr(len(p)) + 1
	return (*C.char)(unsafe.Add(b.p, b.off-uintptr(len(p))-1))
}

func (b *cbuf) free() {
	if b.p != nil {
		C.free(b.p)
		b.p, b.cap, b.off = nil, 0, 0
	}
}

// cString is C.CString for strings handed to the host (see hqcapi_mark_defined).
func cString(s string) *C.char {
	p := C.CString(s)
	C.hqcapi_mark_defined(unsafe.Pointer(p), C.size_t(len(s)+1))
	return p
}
