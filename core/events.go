package core

import (
	"errors"
	"sync"
	"syscall"
	"time"
)

// EventKind tells which fields of an Event are set.
type EventKind int

const (
	// EventMessage: Message holds a message received from Message.Endpoint.
	EventMessage EventKind = iota + 1
	// EventEndpointUp: Endpoint connected (or reconnected); Reason says why it was tried.
	EventEndpointUp
	// EventEndpointDown: Endpoint was moved to the dead list; Err says why.
	EventEndpointDown
	// EventDelivery: an asynchronous publish completed; Delivery holds its outcome.
	EventDelivery
	// EventError: a failure that belongs to no call (for example a subscription the broker
	// refused while it was being replayed); Err says what happened.
	EventError
)

func (k EventKind) String() string {
	switch k {
	case EventMessage:
		return "message"
	case EventEndpointUp:
		return "endpoint-up"
	case EventEndpointDown:
		return "endpoint-down"
	case EventDelivery:
		return "delivery"
	case EventError:
		return "error"
	}
	return "unknown"
}

// Message is an MQTT application message received by a cluster.
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
	// Duplicate is the MQTT DUP flag: the broker may have delivered this message before.
	Duplicate bool
	// Endpoint is the name of the endpoint the message arrived through.
	Endpoint string
	// Properties are the message's MQTT 5 properties (nil under MQTT 3.1.1, or when it
	// carried none).
	Properties *Properties

	via []*Cluster // in a bridge's queue: the clusters this copy has already passed through
}

// Delivery is the outcome of an asynchronous publish.
type Delivery struct {
	// ID is the value PublishAsync returned in its Token.
	ID    uint64
	Topic string
	// Endpoints lists the endpoints that acknowledged (or, for QoS 0, accepted) the message.
	Endpoints []string
	// Err is nil when the message was delivered.
	Err error
	// ReasonCode is, for a delivered message, the MQTT 5 broker's success reason code
	// (ReasonNoMatchingSubscribers, 0x10, when no subscription matched; see Token.ReasonCode).
	ReasonCode ReasonCode
}

// Event is one thing that happened in a cluster, as drained by Cluster.Poll.
type Event struct {
	Kind     EventKind
	Endpoint string
	Message  *Message
	Delivery *Delivery
	Err      error
	Time     time.Time
	// SessionPresent is, for EventEndpointUp, the broker's CONNACK flag: it still had a session
	// for this client (only with ConnectionConfig.PersistentSession).
	SessionPresent bool
	// Connack is, for EventEndpointUp on an MQTT 5 cluster, what the broker's CONNACK said
	// (its limits, properties, assigned client ID); nil under MQTT 3.1.1.
	Connack *Connack
}

// eventQueue is an unbounded FIFO of events. Producers (paho's goroutines, the prober,
// publish completions) never block on it, so no network goroutine can stall behind a slow
// consumer. A consumer waits on the notify channel, or on a descriptor that becomes readable
// when the queue goes from empty to non-empty (for epoll, asyncio and libuv loops). The
// descriptor is one end of a Unix socket pair rather than a pipe, so that loops written for
// a client socket (paho-mqtt's socket callbacks hand it to asyncio, and programs call
// setsockopt on it) accept it.
type eventQueue struct {
	mu      sync.Mutex
	items   []Event
	head    int
	closed  bool
	notify  chan struct{} // capacity 1: "something is queued"
	rfd     int           // the event descriptor's read end, created on first request (-1: none)
	wfd     int           // its write end (-1: none or closed)
	pending bool          // a byte sits in the socket
}

func newEventQueue() *eventQueue {
	return &eventQueue{notify: make(chan struct{}, 1), rfd: -1, wfd: -1}
}

func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.items = append(q.items, e)
	q.signalLocked()
	q.mu.Unlock()
}

func (q *eventQueue) signalLocked() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
	if q.wfd >= 0 && !q.pending {
		q.pending = true
		_, _ = syscall.Write(q.wfd, []byte{1})
	}
}

// drain moves up to len(dst) events into dst and returns how many it moved.
func (q *eventQueue) drain(dst []Event) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := copy(dst, q.items[q.head:])
	for i := q.head; i < q.head+n; i++ {
		q.items[i] = Event{} // drop references so payloads can be collected
	}
	q.head += n
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
		if cap(q.items) > 4096 {
			q.items = nil // give back the memory of a burst
		}
		if q.pending {
			var b [16]byte
			_, _ = syscall.Read(q.rfd, b[:])
			q.pending = false
		}
	} else {
		// Still non-empty: keep the fd readable and wake the next waiter.
		q.signalLocked()
	}
	return n
}

func (q *eventQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

// wait blocks until an event is queued, the queue is closed, or timeout passes (negative:
// forever). It reports whether events may be available.
func (q *eventQueue) wait(timeout time.Duration, stop <-chan struct{}) bool {
	if q.len() > 0 {
		return true
	}
	var tc <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-q.notify:
		return true
	case <-tc:
		return q.len() > 0
	case <-stop:
		return q.len() > 0
	}
}

// fd returns the read end of a socket pair that is readable while events are queued, and
// at end of file once the queue is closed.
func (q *eventQueue) fd() (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return -1, ErrClosed
	}
	if q.rfd < 0 {
		r, w, err := newWakeSocket()
		if err != nil {
			return -1, err
		}
		q.rfd, q.wfd = r, w
		if len(q.items) > q.head {
			q.pending = true
			_, _ = syscall.Write(q.wfd, []byte{1})
		}
	}
	return q.rfd, nil
}

func (q *eventQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	if q.wfd >= 0 {
		// Closing the write end makes the fd readable (EOF) so a waiting loop wakes and sees
		// the cluster is closed.
		_ = syscall.Close(q.wfd)
		q.wfd = -1
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *eventQueue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

func (q *eventQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.rfd >= 0 {
		_ = syscall.Close(q.rfd)
		q.rfd = -1
	}
}

// ErrClosed is returned by every method of a closed cluster.
var ErrClosed = errors.New("hamqtt: cluster closed")
