package main

/*
#include "capi.h"
*/
import "C"

import (
	"errors"
	"strings"
	"time"
	"unsafe"

	"github.com/hamqtt/hamqtt/core"
)

// pollState is a client's pull-delivery buffers: a Go batch reused between calls and a C arena
// that holds the strings and payloads the returned events point to until the next poll.
type pollState struct {
	batch    []core.Event
	arena    unsafe.Pointer
	arenaCap uintptr
}

// maxBatch bounds the events one hamqtt_poll call moves, whatever max_events says.
const maxBatch = 4096

func (p *pollState) free() {
	if p.arena != nil {
		C.free(p.arena)
		p.arena, p.arenaCap = nil, 0
	}
	p.batch = nil
}

// reserve makes the arena at least n bytes (its old content is no longer needed).
func (p *pollState) reserve(n uintptr) bool {
	if n <= p.arenaCap {
		return true
	}
	size := max(n, 2*p.arenaCap, 4096)
	mem := C.malloc(C.size_t(size))
	if mem == nil {
		return false
	}
	if p.arena != nil {
		C.free(p.arena)
	}
	p.arena, p.arenaCap = mem, size
	return true
}

// pollEvents implements hamqtt_poll; the caller holds cl.pollMu.
func (cl *client) pollEvents(out []C.hamqtt_event, timeout time.Duration) (int, error) {
	p := &cl.poll
	want := min(len(out), maxBatch)
	if cap(p.batch) < want {
		p.batch = make([]core.Event, want)
	}
	batch := p.batch[:0]

	cl.mu.Lock()
	inst := cl.inst
	if len(cl.leftovers) > 0 {
		k := min(want, len(cl.leftovers))
		batch = append(batch, cl.leftovers[:k]...)
		cl.leftovers = cl.leftovers[k:]
		if len(cl.leftovers) == 0 {
			cl.leftovers = nil
		}
	}
	cl.mu.Unlock()

	var pollErr error
	if len(batch) < want {
		if len(batch) > 0 {
			timeout = 0
		}
		n, err := inst.c.Poll(p.batch[len(batch):want], timeout)
		batch = p.batch[:len(batch)+n]
		if err != nil && len(batch) == 0 {
			pollErr = err
		}
	}
	defer clear(p.batch[:len(batch)]) // drop payload references
	if pollErr != nil {
		if errors.Is(pollErr, core.ErrClosed) {
			return 0, newErr(errClosed, "%s is disconnected and every event was drained", cl)
		}
		return 0, pollErr
	}
	if len(batch) == 0 {
		return 0, nil
	}

	// One pass to size the arena, one to fill it: the arena never moves while filling.
	var need uintptr
	joined := make([]string, len(batch))
	for i := range batch {
		e := &batch[i]
		need += uintptr(len(e.Endpoint)) + 1
		if e.Err != nil {
			need += uintptr(len(e.Err.Error())) + 1
		}
		if m := e.Message; m != nil {
			need += uintptr(len(m.Topic)+1+len(m.Endpoint)+1) + uintptr(len(m.Payload))
		}
		if d := e.Delivery; d != nil {
			joined[i] = strings.Join(d.Endpoints, ",")
			need += uintptr(len(d.Topic) + 1 + len(joined[i]) + 1)
			if d.Err != nil {
				need += uintptr(len(d.Err.Error())) + 1
			}
		}
	}
	if !p.reserve(need) {
		// Put the events back rather than lose them.
		cl.mu.Lock()
		cl.leftovers = append(append([]core.Event(nil), batch...), cl.leftovers...)
		cl.mu.Unlock()
		return 0, newErr(errInternal, "hamqtt_poll: out of memory for %d bytes of events", need)
	}
	arena := unsafe.Slice((*byte)(p.arena), p.arenaCap)
	off := uintptr(0)
	put := func(b []byte, nul bool) unsafe.Pointer {
		ptr := unsafe.Pointer(&arena[off])
		off += uintptr(copy(arena[off:], b))
		if nul {
			arena[off] = 0
			off++
		}
		return ptr
	}
	putStr := func(s string) *C.char {
		return (*C.char)(put(unsafe.Slice(unsafe.StringData(s), len(s)), true))
	}
	for i := range batch {
		e := &batch[i]
		ev := &out[i]
		*ev = C.hamqtt_event{}
		ev.kind = C.int(e.Kind)
		ev.time_unix_ns = C.int64_t(e.Time.UnixNano())
		if e.Endpoint != "" || e.Kind == core.EventEndpointUp || e.Kind == core.EventEndpointDown {
			ev.endpoint = putStr(e.Endpoint)
		}
		if e.Err != nil {
			ev.error = putStr(e.Err.Error())
			ev.status = C.int(classify(e.Err, errNoEndpoint))
		}
		if e.Kind == core.EventEndpointUp && e.SessionPresent {
			ev.status = C.HAMQTT_UP_SESSION_PRESENT
		}
		if m := e.Message; m != nil {
			ev.message.topic = putStr(m.Topic)
			ev.message.topic_len = C.size_t(len(m.Topic))
			if len(m.Payload) > 0 {
				ev.message.payload = put(m.Payload, false)
			}
			ev.message.payload_len = C.size_t(len(m.Payload))
			ev.message.qos = C.int(m.QoS)
			ev.message.retained = cbool(m.Retained)
			ev.message.duplicate = cbool(m.Duplicate)
			ev.message.endpoint = putStr(m.Endpoint)
			if ev.endpoint == nil {
				ev.endpoint = ev.message.endpoint
			}
		}
		if d := e.Delivery; d != nil {
			ev.delivery.id = C.uint64_t(d.ID)
			ev.delivery.topic = putStr(d.Topic)
			ev.delivery.endpoints = putStr(joined[i])
			if d.Err != nil {
				ev.delivery.status = C.int(classify(d.Err, errNoEndpoint))
				ev.delivery.error = putStr(d.Err.Error())
				ev.status = ev.delivery.status
				ev.error = ev.delivery.error
			}
			if reg := cl.takeReg(d.ID); reg != nil {
				ev.delivery.user = reg.user
			}
		}
	}
	C.hqcapi_mark_defined(p.arena, C.size_t(off))
	C.hqcapi_mark_defined(unsafe.Pointer(&out[0]), C.size_t(uintptr(len(batch))*unsafe.Sizeof(out[0])))
	return len(batch), nil
}
