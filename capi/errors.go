package main

/*
#include "capi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"unsafe"

	"github.com/hamqtt/hamqtt/core"
)

// Status codes; they mirror enum hamqtt_status in include/hamqtt.h.
const (
	statusOK          = 0
	errInvalid        = -1
	errHandle         = -2
	errTopic          = -3
	errQoS            = -4
	errPayload        = -5
	errConfig         = -6
	errNoEndpoint     = -7
	errClosed         = -8
	errNotFound       = -9
	errBusy           = -10
	errMode           = -11
	errState          = -12
	errRefused        = -13
	errIO             = -14
	errNotInitialized = -15
	errTimeout        = -16
	errFull           = -17
	errDropped        = -18
	errExpired        = -19
	errLocked         = -20
	errBuffer         = -21
	errInternal       = -99

	// statusStored is HAMQTT_STORED: not an error (the outbox holds the message and delivers
	// it), so it is positive.
	statusStored = 1
)

// statusText is what hamqtt_strerror returns: static C strings, allocated once and never freed.
var statusText = map[int]*C.char{}

func init() {
	for code, s := range map[int]string{
		statusOK:          "success",
		errInvalid:        "invalid argument",
		errHandle:         "invalid, stale or closed client handle",
		errTopic:          "invalid topic or filter",
		errQoS:            "QoS out of range (use 0, 1 or 2)",
		errPayload:        "payload too large",
		errConfig:         "invalid configuration",
		errNoEndpoint:     "no endpoint could take the request",
		errClosed:         "client closed",
		errNotFound:       "not found",
		errBusy:           "not allowed from this callback or while another thread is using it",
		errMode:           "wrong event mode (poll on a push-mode client)",
		errState:          "wrong state",
		errRefused:        "refused by the broker (MQTT 5: hamqtt_last_reason_code() gives its reason code)",
		errIO:             "I/O error",
		errNotInitialized: "no configuration loaded",
		errTimeout:        "timed out",
		errFull:           "the outbox is full: the message was not stored",
		errDropped:        "dropped from the full outbox to make room for a newer message",
		errExpired:        "expired in the outbox before any broker took it",
		errLocked:         "the outbox directory is in use by another client or process",
		errBuffer:         "the buffer is too small (the length needed was stored)",
		errInternal:       "internal error",
		statusStored:      "stored in the outbox, not yet acknowledged by a broker (it will be delivered: do not publish it again)",
	} {
		statusText[code] = cString(s)
	}
}

// unknownStatusText is hamqtt_strerror's answer for a code it does not know.
var unknownStatusText = cString("unknown status code")

// apiError carries a status code with its detail text.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func newErr(code int, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// fail records err as the calling thread's last error and returns its status code. A plain
// error is classified by classify with def as the fallback code.
func fail(def int, err error) C.int {
	code := def
	var ae *apiError
	if errors.As(err, &ae) {
		code = ae.code
	} else {
		code = classify(err, def)
	}
	setLastError(err.Error())
	C.hqcapi_set_reason(C.int(reasonOf(err)))
	return C.int(code)
}

func setLastError(msg string) {
	if msg == "" {
		msg = "unknown error"
	}
	C.hqcapi_set_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// classify maps an error from core to a status code.
func classify(err error, def int) int {
	switch {
	case err == nil:
		return statusOK
	case errors.Is(err, core.ErrOutboxFull):
		return errFull
	case errors.Is(err, core.ErrDropped):
		return errDropped
	case errors.Is(err, core.ErrExpired):
		return errExpired
	case errors.Is(err, core.ErrOutboxLocked):
		return errLocked
	case errors.Is(err, core.ErrClosed):
		return errClosed
	case errors.Is(err, core.ErrPushMode):
		return errMode
	case errors.Is(err, core.ErrNoEndpoints):
		return errNoEndpoint
	case errors.Is(err, core.ErrSubscriptionRefused), errors.Is(err, core.ErrRefusedByBroker):
		return errRefused
	case errors.Is(err, core.ErrEndpointNotFound):
		return errNotFound
	case errors.Is(err, core.ErrPublishOnly):
		return errState
	}
	return def
}

// publishCode maps the error of a publish or its outcome: what classify knows, a file error
// (a disk outbox that could not write or sync the message) as errIO, else def.
func publishCode(err error, def int) int {
	if code := classify(err, statusOK); code != statusOK || err == nil {
		return code
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return errIO
	}
	return def
}

// guard turns a panic in an exported function into errInternal. Use as
// `defer guard(&rc)` with a named result.
func guard(rc *C.int) {
	if r := recover(); r != nil {
		*rc = C.int(errInternal)
		setLastError(fmt.Sprintf("internal error (please report): panic: %v", r))
		C.hqcapi_set_reason(0)
		if os.Getenv("HAMQTT_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "hamqtt: recovered panic: %v\n%s", r, debug.Stack())
		}
	}
}

// guardVoid is guard for exports without a status result.
func guardVoid() {
	if r := recover(); r != nil {
		setLastError(fmt.Sprintf("internal error (please report): panic: %v", r))
	}
}
