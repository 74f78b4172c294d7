// Command capi is libhamqtt.so: the C API of hamqtt (include/hamqtt.h), built with
//
//	go build -buildmode=c-shared -trimpath -ldflags='-s -w -extldflags "-Wl,--version-script=capi/hamqtt.map -Wl,-soname,libhamqtt.so.0"' -o libhamqtt.so.0 ./capi
//
// (CMakeLists.txt at the repository root does this). cgo's generated header is internal; the
// public header is the hand-written include/hamqtt.h, and a compile-time check in tests/c
// includes both so that any disagreement between them fails the build.
//
// Layout: handles.go (the validating handle table), errors.go (status codes, thread-local
// errors, panic recovery), client.go (a client: its core.Cluster, lifecycle, subscriptions,
// push dispatcher), poll.go (pull delivery), logsink.go (log lines), config.go (the YAML
// configuration and its clusters), props.go and hamqtt_props.c (MQTT 5 property lists: the
// accessors in C, the conversions and the wire form in Go), exports.go (every other exported
// function).
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -std=gnu11 -Wall
*/
import "C"

func main() {}
