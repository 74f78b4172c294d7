package main

/*
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "capi.h"

// The descriptor of hamqtt_event_fd: an epoll instance with the wake-up eventfd in it.
static int hqcapi_evfd_new(int *ep, int *sig) {
	struct epoll_event ev;
	*ep = epoll_create1(EPOLL_CLOEXEC);
	if (*ep < 0) return errno;
	*sig = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*sig < 0) {
		int e = errno;
		close(*ep);
		*ep = -1;
		return e;
	}
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = *sig;
	if (epoll_ctl(*ep, EPOLL_CTL_ADD, *sig, &ev) != 0) {
		int e = errno;
		close(*sig);
		close(*ep);
		*ep = *sig = -1;
		return e;
	}
	return 0;
}

// Adds (add != 0) or removes fd, level-triggered for reading; 0 or an errno.
static int hqcapi_evfd_watch(int ep, int fd, int add) {
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = fd;
	return epoll_ctl(ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) == 0 ? 0 : errno;
}

// Every raise is a write, so a loop watching the descriptor edge-triggered wakes again.
static void hqcapi_evfd_raise(int sig) {
	uint64_t one = 1;
	ssize_t n = write(sig, &one, sizeof one);
	(void)n;
}

static void hqcapi_evfd_clear(int sig) {
	uint64_t v;
	ssize_t n = read(sig, &v, sizeof v);
	(void)n;
}

static void hqcapi_evfd_close(int ep, int sig) {
	if (sig >= 0) close(sig);
	if (ep >= 0) close(ep);
}
*/
import "C"

import (
	"errors"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/hamqtt/hamqtt/core"
)

// pollState is a client's pull-delivery buffers: a Go batch reused between calls and a C arena
// that holds the strings and payloads the returned events point to until the next poll.
type pollState struct {
	batch    []core.Event
	users    []unsafe.Pointer // the user pointers of the batch's deliveries
	arena    unsafe.Pointer
	arenaCap uintptr
	scratch  []C.hamqtt_event // the events of a batch for an application of another layout
}

// maxBatch bounds the events one hamqtt_poll call moves, whatever max_events says.
const maxBatch = 4096

func (p *pollState) free() {
	if p.arena != nil {
		C.free(p.arena)
		p.arena, p.arenaCap = nil, 0
	}
	p.batch = nil
	p.scratch = nil
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

// eventFD is what hamqtt_event_fd hands out: one descriptor for the life of the client,
// though a client gets a new core cluster, with a new event pipe, each time it connects again
// after hamqtt_disconnect. It is an epoll instance that watches, level-triggered,
//   - the event pipe of the current core cluster (readable while its queue holds events), and
//   - sig, an eventfd raised while hamqtt_poll has something to give that is not in that
//     pipe: events kept from a disconnected cluster (client.leftovers), or the answer
//     HAMQTT_ERR_CLOSED itself after a disconnect (until hamqtt_poll gave it once).
//
// An epoll descriptor is readable while one of the descriptors it watches is, so it can sit
// in the application's own epoll (edge- or level-triggered), poll(2), select(2), libuv or
// asyncio loop. Guarded by client.mu.
type eventFD struct {
	ep, sig int  // -1 until hamqtt_event_fd was first called
	watched int  // the core pipe registered in ep, -1 for none
	raised  bool // sig's counter is not zero
	// closedPending: the client was disconnected and hamqtt_poll has not answered
	// HAMQTT_ERR_CLOSED since. Kept whether or not the descriptor exists yet.
	closedPending bool
}

func newEventFD() eventFD { return eventFD{ep: -1, sig: -1, watched: -1} }

// eventFDLocked returns the client's descriptor, making it on the first call.
func (cl *client) eventFDLocked() (int, error) {
	e := &cl.evfd
	if e.ep < 0 {
		var ep, sig C.int
		if rc := C.hqcapi_evfd_new(&ep, &sig); rc != 0 {
			return -1, newErr(errIO, "hamqtt_event_fd: %s: cannot make the event descriptor: %v", cl, syscall.Errno(rc))
		}
		e.ep, e.sig = int(ep), int(sig)
		if cl.state == stateNew || cl.state == stateStarted { // not being disconnected
			if err := cl.watchEventsLocked(cl.inst); err != nil {
				C.hqcapi_evfd_close(ep, sig)
				e.ep, e.sig = -1, -1
				return -1, err
			}
		}
		cl.syncEventFDLocked(false)
	}
	return e.ep, nil
}

// watchEventsLocked puts the event pipe of inst (a cluster not yet closed) into the client's
// descriptor in place of the previous one. Nothing to do before hamqtt_event_fd was called,
// or in push mode (the descriptor is not used then).
func (cl *client) watchEventsLocked(inst *instance) error {
	e := &cl.evfd
	if e.ep < 0 || cl.push.Load() {
		return nil
	}
	cl.unwatchEventsLocked()
	f, err := inst.c.EventFD()
	if err != nil {
		return newErr(errIO, "%s: cannot make the event pipe: %v", cl, err)
	}
	if rc := C.hqcapi_evfd_watch(C.int(e.ep), C.int(f), 1); rc != 0 {
		return newErr(errIO, "%s: cannot watch the event pipe: %v", cl, syscall.Errno(rc))
	}
	e.watched = f
	return nil
}

// unwatchEventsLocked takes the current cluster's pipe out of the descriptor; called before
// that cluster is closed, so the number is never removed after it was reused.
func (cl *client) unwatchEventsLocked() {
	e := &cl.evfd
	if e.watched >= 0 {
		C.hqcapi_evfd_watch(C.int(e.ep), C.int(e.watched), 0)
		e.watched = -1
	}
}

// syncEventFDLocked raises sig while the client has leftovers or the disconnected answer to
// give, and clears it otherwise. force raises it again even when it is raised already: new
// leftovers must wake an edge-triggered loop that has drained what it was woken for.
func (cl *client) syncEventFDLocked(force bool) {
	e := &cl.evfd
	if e.sig < 0 {
		return
	}
	want := len(cl.leftovers) > 0 || e.closedPending
	switch {
	case want && (force || !e.raised):
		C.hqcapi_evfd_raise(C.int(e.sig))
		e.raised = true
	case !want && e.raised:
		C.hqcapi_evfd_clear(C.int(e.sig))
		e.raised = false
	}
}

// eventsStartedLocked: the client (re)started; the disconnected answer is stale.
func (cl *client) eventsStartedLocked() {
	cl.evfd.closedPending = false
	cl.syncEventFDLocked(false)
}

// eventsStoppingLocked: the current cluster is about to be closed by a disconnect (final:
// hamqtt_close). Its pipe leaves the descriptor; a disconnect raises the disconnected answer.
func (cl *client) eventsStoppingLocked(final bool) {
	cl.unwatchEventsLocked()
	if !final {
		cl.evfd.closedPending = true
		cl.syncEventFDLocked(true)
	}
}

// releaseEventFD closes the descriptor (hamqtt_close, once nothing polls any more).
func (cl *client) releaseEventFD() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	e := &cl.evfd
	cl.unwatchEventsLocked()
	C.hqcapi_evfd_close(C.int(e.ep), C.int(e.sig))
	e.ep, e.sig, e.raised = -1, -1, false
}

// filterEvents routes the deliveries of evs (routeDelivery), compacting evs to the events the
// application gets, and stores each kept delivery's user pointer at the same index of users.
// It returns how many events are kept.
func (cl *client) filterEvents(evs []core.Event, users []unsafe.Pointer) int {
	kept := 0
	for i := range evs {
		var user unsafe.Pointer
		if evs[i].Kind == core.EventDelivery && evs[i].Delivery != nil {
			reg, keep := cl.routeDelivery(&evs[i])
			if !keep {
				continue
			}
			if reg != nil {
				user = reg.user
			}
		}
		if kept != i {
			evs[kept] = evs[i]
		}
		users[kept] = user
		kept++
	}
	return kept
}

// pollEvents implements hamqtt_poll; the caller holds cl.pollMu.
func (cl *client) pollEvents(out []C.hamqtt_event, timeout time.Duration) (int, error) {
	p := &cl.poll
	want := min(len(out), maxBatch)
	if cap(p.batch) < want {
		p.batch = make([]core.Event, want)
	}
	batch := p.batch[:0]
	if cap(p.users) < want {
		p.users = make([]unsafe.Pointer, want)
	}
	users := p.users[:want]
	defer clear(users)
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}

	var pollErr error
	var inst *instance
	for {
		cl.mu.Lock()
		inst = cl.inst
		if len(cl.leftovers) > 0 {
			k := min(want-len(batch), len(cl.leftovers))
			more := cl.filterEvents(cl.leftovers[:k], users[len(batch):])
			batch = append(batch, cl.leftovers[:more]...)
			clear(cl.leftovers[:k])
			cl.leftovers = cl.leftovers[k:]
			if len(cl.leftovers) == 0 {
				cl.leftovers = nil
			}
			cl.syncEventFDLocked(false)
		}
		cl.mu.Unlock()
		if len(batch) == want {
			break
		}
		t := timeout
		switch {
		case len(batch) > 0 || timeout == 0:
			t = 0
		case timeout > 0:
			if t = time.Until(deadline); t < 0 {
				t = 0
			}
		}
		room := p.batch[len(batch):want]
		n, err := inst.c.Poll(room, t)
		kept := cl.filterEvents(room[:n], users[len(batch):])
		clear(room[kept:n])
		batch = p.batch[:len(batch)+kept]
		if err != nil && len(batch) == 0 {
			pollErr = err
			break
		}
		if errors.Is(err, core.ErrClosed) {
			// This batch ends what a disconnect left, short of a full batch, and the answer
			// HAMQTT_ERR_CLOSED is still to come: an edge-triggered loop polls again only on
			// a new edge, so the descriptor is raised once more.
			cl.mu.Lock()
			if cl.inst == inst {
				cl.syncEventFDLocked(true)
			}
			cl.mu.Unlock()
			break
		}
		// Events that are not the application's were taken out (outcomes of publishes whose
		// call reported them): fetch more while the queue had more, so that a short batch
		// still means a drained queue (edge-triggered loops rely on it), and wait on when
		// nothing is left to give.
		if kept == n || (n < len(room) && (len(batch) > 0 || timeout == 0)) {
			break
		}
	}
	defer clear(p.batch[:len(batch)]) // drop payload references
	if pollErr != nil {
		if errors.Is(pollErr, core.ErrClosed) {
			// The answer is given: the descriptor stops being readable for it (unless the
			// client was connected again meanwhile, or a disconnect left more events).
			cl.mu.Lock()
			if cl.inst == inst && len(cl.leftovers) == 0 {
				cl.evfd.closedPending = false
				cl.syncEventFDLocked(false)
			}
			cl.mu.Unlock()
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
			need += uintptr(len(m.Topic)+1+len(m.Endpoint)+1) + uintptr(len(m.Payload)) + propsSize(m.Properties)
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
		cl.syncEventFDLocked(true)
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
			ev.reason_code = C.int(reasonOf(e.Err))
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
			if m.Properties != nil {
				view := cbuf{p: p.arena, cap: p.arenaCap, off: off}
				ev.message.props = fillProps(&view, m.Properties)
				off = view.off
			}
			if ev.endpoint == nil {
				ev.endpoint = ev.message.endpoint
			}
		}
		if d := e.Delivery; d != nil {
			ev.delivery.id = C.uint64_t(d.ID)
			ev.delivery.topic = putStr(d.Topic)
			ev.delivery.endpoints = putStr(joined[i])
			ev.delivery.reason_code = C.int(deliveryReason(d))
			if d.Err != nil {
				ev.delivery.status = C.int(publishCode(d.Err, errNoEndpoint))
				ev.delivery.error = putStr(d.Err.Error())
				ev.status = ev.delivery.status
				ev.error = ev.delivery.error
			}
			ev.reason_code = ev.delivery.reason_code
			ev.delivery.user = users[i]
		}
	}
	C.hqcapi_mark_defined(p.arena, C.size_t(off))
	C.hqcapi_mark_defined(unsafe.Pointer(&out[0]), C.size_t(uintptr(len(batch))*unsafe.Sizeof(out[0])))
	return len(batch), nil
}
