package core

import (
	"errors"
	"os"
	"sync"
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
}

// eventQueue is an unbounded FIFO of events. Producers (paho's goroutines, the prober,
// publish completions) never block on it, so no network goroutine can stall behind a slow
// consumer. A consumer waits on the notify channel, or on a pipe that becomes readable when
// the queue goes from empty to non-empty (for epoll, asyncio and libuv loops).
type eventQueue struct {
	mu      sync.Mutex
	items   []Event
	head    int
	closed  bool
	notify  chan struct{} // capacity 1: "something is queued"
	pr, pw  *os.File      // the event fd pipe, created on first request
	rfd     int           // pr's descriptor (os.File.Fd would reset it to blocking mode)
	pending bool          // a byte sits in the pipe
}

func newEventQueue() *eventQueue {
	return &eventQueue{notify: make(chan struct{}, 1)}
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
	if q.pw != nil && !q.pending {
		q.pending = true
		_, _ = q.pw.Write([]byte{1})
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
			_, _ = q.pr.Read(b[:])
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

// fd returns the read end of a pipe that is readable while events are queued.
func (q *eventQueue) fd() (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return -1, ErrClosed
	}
	if q.pr == nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			return -1, err
		}
		// Non-blocking reads; the pipe only ever holds one byte at a time.
		q.rfd = int(pr.Fd())
		if err := setNonblock(q.rfd); err != nil {
			pr.Close()
			pw.Close()
			return -1, err
		}
		q.pr, q.pw = pr, pw
		if len(q.items) > q.head {
			q.pending = true
			_, _ = q.pw.Write([]byte{1})
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
	if q.pw != nil {
		// Closing the write end makes the fd readable (EOF) so a waiting loop wakes and sees
		// the cluster is closed.
		q.pw.Close()
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
	if q.pr != nil {
		q.pr.Close()
	}
}

// ErrClosed is returned by every method of a closed cluster.
var ErrClosed = errors.New("hamqtt: cluster closed")
