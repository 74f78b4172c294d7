package main

/*
#include "capi.h"
*/
import "C"

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/hamqtt/hamqtt/core"
)

type clientState int

const (
	stateNew          clientState = iota // created, hamqtt_connect not called yet
	stateStarted                         // hamqtt_connect called
	stateDisconnected                    // hamqtt_disconnect called; connect starts a new instance
	stateClosed                          // hamqtt_close called
)

// sub is one subscription of a client, kept so it can be replayed on a new instance and so
// push mode can route messages to its callback.
type sub struct {
	filter string
	qos    byte
	opts   core.SubscribeOptions // MQTT 5 (hamqtt_subscribe_opts)
	cb     C.hamqtt_message_cb   // nil: the client-wide on_message or hamqtt_poll
	user   unsafe.Pointer        // C memory, never dereferenced
}

// callbacks are the client-wide push callbacks of hamqtt_set_callbacks.
type callbacks struct {
	user       unsafe.Pointer
	onMessage  C.hamqtt_message_cb
	onUp       C.hamqtt_endpoint_cb
	onDown     C.hamqtt_endpoint_cb
	onDelivery C.hamqtt_delivery_cb
	onError    C.hamqtt_error_cb
}

// asyncReg is what hamqtt_publish_async registered for one publish id.
type asyncReg struct {
	cb   C.hamqtt_delivery_cb
	user unsafe.Pointer
	// With an outbox every asynchronous publish is registered: tok and topic give the outcome
	// hamqtt_close reports for a message still unresolved, and suppress marks a publish whose
	// call returned its failure (its delivery event is not reported).
	tok      *core.Token
	topic    string
	suppress bool
}

// instance is one core.Cluster of a client. A client gets a new instance when it reconnects
// after hamqtt_disconnect (a closed core.Cluster cannot be restarted).
type instance struct {
	c            *core.Cluster
	closed       chan struct{} // closed once c.Close has returned
	closeOnce    sync.Once
	dispatching  bool          // a push dispatcher runs for it (guarded by client.mu)
	dispatchDone chan struct{} // closed when that dispatcher has exited
}

func newInstance(c *core.Cluster) *instance {
	return &instance{c: c, closed: make(chan struct{}), dispatchDone: make(chan struct{})}
}

func (in *instance) isClosed() bool {
	select {
	case <-in.closed:
		return true
	default:
		return false
	}
}

// client is what a hamqtt_client handle refers to.
type client struct {
	id       uint64
	name     string
	registry bool // a cluster of the loaded configuration

	snap      atomic.Pointer[snapshot]
	mu        sync.Mutex // guards the fields below; never held across a callback or a network wait
	state     clientState
	inst      *instance
	cfg       core.Config           // to build the next instance
	endpoints []core.EndpointConfig // the endpoints now, for the next instance
	subs      []*sub                // in subscription order
	nextIndex int                   // endpoints ever added: the <cluster>-<n> of the next one
	leftovers []core.Event          // pull mode: events of a disconnected instance not yet polled

	// The outbox, when the client has one: its own (hamqtt_client_new, closed by close) or
	// its configured cluster's. It outlives the instances, so that stored messages survive
	// hamqtt_disconnect; while disconnected, next is the instance the next hamqtt_connect
	// starts, made at once (unstarted) so that publishes are stored meanwhile. nextReady is
	// closed when the disconnect that makes it has made it (or failed: nextErr).
	ob        *core.Outbox
	ownOutbox bool
	obQoS0    bool // the outbox stores QoS 0 too (known for an own outbox only)
	next      *instance
	nextReady chan struct{}
	nextErr   error

	routes atomic.Pointer[[]*sub] // subscriptions with a callback, read by the dispatcher
	push   atomic.Bool
	cbs    atomic.Pointer[callbacks]
	// deliverMu is read-held by the dispatcher while one event is delivered, so that
	// hamqtt_unsubscribe can wait until a callback it removed is no longer running.
	deliverMu sync.RWMutex

	// Per-publish registrations of hamqtt_publish_async (callback or user pointer). regMu is
	// read-held from before PublishAsync assigns the id until the registration is stored, so a
	// delivery event that overtakes its registration can wait for it (see takeReg).
	pending     sync.Map // uint64 -> *asyncReg
	regMu       sync.RWMutex
	regInFlight atomic.Int64

	pollMu sync.Mutex
	poll   pollState
	evfd   eventFD // hamqtt_event_fd's descriptor (guarded by mu)

	logs        *logSink
	dispatchers sync.WaitGroup // push dispatchers and the log goroutine

	// MQTT 5: whether the client id is one the engine generated (the application gave
	// none), which hamqtt_connack_props reports as assigned.
	generatedID bool

	// eventSize is sizeof(hamqtt_event) in the header the application was built with, as far
	// as the client knows it: the layout hamqtt_poll writes (hamqtt_poll_sized is told it at
	// each call). The current size when hamqtt_options.struct_size covers the fields of 0.5;
	// the 0.4 size otherwise, and for clients made without options (NULL, or a cluster of
	// the configuration), as a program built with the 0.4 header may have made them.
	// Immutable after construction.
	eventSize uintptr
}

// newClient wraps an existing core cluster (c) built from cfg.
func newClient(cfg core.Config, c *core.Cluster, logs *logSink, fromRegistry bool) *client {
	cl := &client{
		name:      cfg.Name,
		registry:  fromRegistry,
		cfg:       cfg,
		endpoints: slices.Clone(cfg.Endpoints),
		inst:      newInstance(c),
		logs:      logs,
		nextIndex: len(cfg.Endpoints),
		evfd:      newEventFD(),
		ob:        c.Outbox(),
		eventSize: eventSizeV04,
	}
	cl.cfg.Outbox = cl.ob // every instance uses it
	// Name every endpoint as core did, so a later instance keeps the names.
	for i, st := range c.Stats() {
		if i < len(cl.endpoints) && cl.endpoints[i].Name == "" {
			cl.endpoints[i].Name = st.Name
		}
	}
	cl.publishLocked() // not yet shared
	register(cl)
	logs.client = cl.id
	return cl
}

// prepareConfig sets what the C API needs on a core configuration.
func prepareConfig(cfg core.Config, logs *logSink) core.Config {
	cfg.DeliveryEvents = true
	cfg.Logger = slog.New(&logHandler{sink: logs})
	return cfg
}

// snapshot mirrors (inst, state) for lock-free reads on the publish path.
type snapshot struct {
	inst  *instance
	state clientState
}

// publishLocked makes the current (inst, state) visible to current(); call after changing
// either under cl.mu.
func (cl *client) publishLocked() {
	cl.snap.Store(&snapshot{inst: cl.inst, state: cl.state})
}

// current returns the instance and state without taking the lock.
func (cl *client) current() (*instance, clientState) {
	s := cl.snap.Load()
	return s.inst, s.state
}

// warn logs a warning through the client's log callback.
func (cl *client) warn(msg string, err error) {
	if l := cl.cfg.Logger; l != nil {
		l.Warn(msg, "client", cl.String(), "err", err)
	}
}

// inCallback reports whether the calling thread runs one of cl's callbacks.
func (cl *client) inCallback() bool {
	return uint64(C.hqcapi_callback_client()) == cl.id
}

func (cl *client) connect() error { return cl.start(true) }

// start starts the current instance (a new one after a disconnect) and, with wait, waits as
// core's Connect does; without, returns at once (core's Start).
func (cl *client) start(wait bool) error {
	cl.mu.Lock()
	if cl.nextReady != nil && inAnyCallback() {
		// The disconnect in progress waits for this client's callbacks, which may be waiting
		// for the caller's.
		cl.mu.Unlock()
		return newErr(errBusy, "%s: called from a callback while a disconnect of this client is still under way: connect once the callback returned", cl)
	}
	cl.waitNextLocked()
	switch cl.state {
	case stateClosed:
		cl.mu.Unlock()
		return newErr(errClosed, "%s: closed", cl)
	case stateDisconnected:
		var err error
		if cl.next != nil {
			err = cl.promoteNextLocked()
		} else {
			err = cl.newInstanceLocked()
		}
		if err != nil {
			cl.mu.Unlock()
			return err
		}
	}
	cl.state = stateStarted
	cl.publishLocked()
	cl.eventsStartedLocked()
	inst := cl.inst
	cl.mu.Unlock()
	if !wait {
		return inst.c.Start()
	}
	return inst.c.Connect(context.Background())
}

// newInstanceLocked replaces a closed instance with a new core cluster that carries the
// client's subscriptions.
func (cl *client) newInstanceLocked() error {
	inst, err := cl.makeInstanceLocked()
	if err != nil {
		return err
	}
	if err := cl.watchEventsLocked(inst); err != nil {
		inst.c.Close()
		return err
	}
	cl.inst = inst
	cl.publishLocked()
	if cl.push.Load() {
		cl.startDispatcherLocked(cl.inst)
	}
	return nil
}

// makeInstanceLocked makes an unstarted core cluster with the client's endpoints,
// subscriptions and outbox (whose messages it queues at once).
func (cl *client) makeInstanceLocked() (*instance, error) {
	cfg := cl.cfg
	cfg.Endpoints = slices.Clone(cl.endpoints)
	c, err := core.New(cfg)
	if err != nil {
		return nil, newErr(errConfig, "%v", err)
	}
	for _, s := range cl.subs {
		if err := registerSubscription(c, s.filter, s.qos, s.opts); err != nil {
			c.Close()
			return nil, err
		}
	}
	return newInstance(c), nil
}

// promoteNextLocked makes the instance prepared after a disconnect the current one, for
// hamqtt_connect to start.
func (cl *client) promoteNextLocked() error {
	inst := cl.next
	if err := cl.watchEventsLocked(inst); err != nil {
		return err
	}
	cl.next = nil
	cl.inst = inst
	cl.publishLocked()
	if cl.push.Load() {
		cl.startDispatcherLocked(inst)
	}
	return nil
}

// waitNextLocked waits (releasing cl.mu meanwhile) until no disconnect is still making the
// next instance: the outbox takes one cluster at a time, so the next cannot be made before
// the previous one closed.
func (cl *client) waitNextLocked() {
	for cl.nextReady != nil {
		ready := cl.nextReady
		cl.mu.Unlock()
		<-ready
		cl.mu.Lock()
	}
}

// prepareNext makes, after a disconnect of a client with an outbox closed inst, the
// unstarted instance that stores what is published until the next hamqtt_connect.
func (cl *client) prepareNext(inst *instance) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.state == stateDisconnected && cl.inst == inst && cl.next == nil {
		cl.next, cl.nextErr = cl.makeInstanceLocked()
		if cl.nextErr != nil {
			cl.warn("the outbox takes no publish until hamqtt_connect", cl.nextErr)
		} else if cl.push.Load() {
			// Outcomes of what it holds (dropped, expired) reach the callbacks at once, as
			// before the first connect; pull mode has them polled after the connect.
			cl.startDispatcherLocked(cl.next)
		}
	}
	if cl.nextReady != nil {
		close(cl.nextReady)
		cl.nextReady = nil
	}
}

// registerSubscription records a subscription in a cluster that is not started yet, without
// waiting: core keeps a subscription whose first attempt found no live endpoint and makes it
// when one comes up.
func registerSubscription(c *core.Cluster, filter string, qos byte, opts core.SubscribeOptions) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var err error
	if opts.IsZero() {
		err = c.Subscribe(ctx, filter, qos, nil)
	} else {
		_, err = c.SubscribeWith(ctx, []core.Subscription{{Filter: filter, QoS: qos, Options: opts}}, nil)
	}
	if err != nil && !errors.Is(err, core.ErrNoEndpoints) {
		return err
	}
	return nil
}

// disconnect closes the current instance and waits for its dispatcher. In pull mode the
// events still queued in it are kept for hamqtt_poll.
func (cl *client) disconnect(final bool) {
	cl.finishDisconnect(cl.markDisconnected(final), final)
}

// markDisconnected moves the client to disconnected (closed if final) and returns the
// instance to stop.
func (cl *client) markDisconnected(final bool) *instance {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	prev := cl.state
	if final {
		cl.state = stateClosed
	} else if cl.state != stateClosed {
		cl.state = stateDisconnected
	}
	cl.publishLocked()
	if final || prev == stateNew || prev == stateStarted {
		cl.eventsStoppingLocked(final)
	}
	if !final && cl.ob != nil && (prev == stateNew || prev == stateStarted) && cl.nextReady == nil {
		cl.nextReady = make(chan struct{})
	}
	return cl.inst
}

// finishDisconnect stops inst and, in pull mode, keeps the events it still held for the next
// hamqtt_poll.
func (cl *client) finishDisconnect(inst *instance, final bool) {
	cl.stopInstance(inst)
	if !final && !cl.push.Load() {
		var rest []core.Event
		buf := make([]core.Event, 64)
		for {
			n, _ := inst.c.Poll(buf, 0)
			if n == 0 {
				break
			}
			rest = append(rest, buf[:n]...)
		}
		// Raised again even with nothing left over: a loop that polled while the cluster was
		// closing got nothing, and an edge-triggered one waits for a new edge to poll the
		// disconnected answer.
		cl.mu.Lock()
		cl.leftovers = append(cl.leftovers, rest...)
		cl.syncEventFDLocked(true)
		cl.mu.Unlock()
	}
	if !final && cl.ob != nil {
		cl.prepareNext(inst)
	}
}

// stopInstance closes inst's cluster and waits until its dispatcher delivered the last events.
func (cl *client) stopInstance(inst *instance) {
	inst.closeOnce.Do(func() {
		inst.c.Close()
		close(inst.closed)
	})
	cl.mu.Lock()
	dispatching := inst.dispatching
	cl.mu.Unlock()
	if dispatching {
		<-inst.dispatchDone
	}
}

// closeDetached is close for a caller that must not wait for this client's callbacks: no new
// call reaches the client (its handle is already unregistered), and the release runs on its
// own goroutine.
func (cl *client) closeDetached() {
	cl.markDisconnected(true)
	go cl.close()
}

// disconnectDetached is disconnect for a caller that must not wait for this client's
// callbacks: the client counts as disconnected at once, its instance stops on its own
// goroutine.
func (cl *client) disconnectDetached() {
	inst := cl.markDisconnected(false)
	go cl.finishDisconnect(inst, false)
}

// close disconnects for good and releases the client's C memory. The handle was already
// unregistered, so no new call can reach it; calls still running see ErrClosed.
func (cl *client) close() {
	cl.disconnect(true)
	cl.mu.Lock()
	cl.waitNextLocked()
	next := cl.next
	cl.next = nil
	cl.mu.Unlock()
	if next != nil {
		cl.stopInstance(next)
	}
	if cl.ownOutbox {
		if err := cl.ob.Close(); err != nil {
			cl.warn("closing the outbox", err)
		}
	}
	cl.reportUnresolved()
	cl.logs.stop()
	cl.dispatchers.Wait()
	cl.pollMu.Lock()
	cl.poll.free()
	cl.pollMu.Unlock()
	cl.mu.Lock()
	cl.leftovers = nil
	cl.mu.Unlock()
	cl.releaseEventFD()
}

// enablePush switches the client to push mode and starts the dispatcher of its instance.
func (cl *client) enablePush() {
	if cl.push.Load() {
		return
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.push.Swap(true) {
		return
	}
	if cl.state != stateClosed && !cl.inst.isClosed() {
		cl.startDispatcherLocked(cl.inst)
	}
	if cl.next != nil {
		cl.startDispatcherLocked(cl.next)
	}
	// Events of a disconnected instance that pull mode never collected go to the callbacks of
	// the next instance's dispatcher... or nowhere: a client switching modes after a
	// disconnect has no use for them.
	cl.leftovers = nil
	cl.evfd.closedPending = false
	cl.unwatchEventsLocked()
	cl.syncEventFDLocked(false)
}

func (cl *client) startDispatcherLocked(inst *instance) {
	if inst.dispatching || cl.state == stateClosed {
		return
	}
	inst.dispatching = true
	cl.dispatchers.Add(1)
	go cl.dispatch(inst)
}

// dispatch is the push-mode goroutine of one instance: it drains the core event queue in
// batches and calls the C callbacks, never holding a lock of the client or of core (only
// deliverMu for reading, which nothing takes while calling C).
func (cl *client) dispatch(inst *instance) {
	defer cl.dispatchers.Done()
	defer close(inst.dispatchDone)
	d := &dispatchState{}
	defer d.buf.free()
	batch := make([]core.Event, 256)
	for {
		n, err := inst.c.Poll(batch, -1)
		cl.deliverBatch(d, batch[:n])
		if err != nil {
			// Closed. Close fails the asynchronous publishes still pending after it marked the
			// cluster closed, so wait until it returned and deliver what it queued.
			<-inst.closed
			for {
				n, _ := inst.c.Poll(batch, 0)
				if n == 0 {
					return
				}
				cl.deliverBatch(d, batch[:n])
			}
		}
	}
}

func (cl *client) deliverBatch(d *dispatchState, evs []core.Event) {
	for i := range evs {
		cl.deliverMu.RLock()
		cl.deliver(d, &evs[i])
		cl.deliverMu.RUnlock()
		evs[i] = core.Event{}
	}
}

// dispatchState holds one dispatcher's C buffer: everything a callback receives (topic,
// payload, names, reasons) is copied there first, so C code never sees Go memory. The buffer
// is reused for every event and freed when the dispatcher exits.
type dispatchState struct {
	buf cbuf
}

func (cl *client) deliver(d *dispatchState, e *core.Event) {
	var reg *asyncReg
	if e.Kind == core.EventDelivery && e.Delivery != nil {
		var keep bool
		if reg, keep = cl.routeDelivery(e); !keep {
			return
		}
	}
	cbs := cl.cbs.Load()
	id := C.hamqtt_client(cl.id)
	b := &d.buf
	switch e.Kind {
	case core.EventMessage:
		m := e.Message
		if m == nil {
			return
		}
		var topic, endpoint *C.char
		var payload unsafe.Pointer
		var props *C.hamqtt_props
		prepared := false
		call := func(cb C.hamqtt_message_cb, user unsafe.Pointer) {
			if !prepared {
				b.reset(uintptr(len(m.Topic)+len(m.Payload)+len(m.Endpoint)+2) + propsSize(m.Properties))
				topic, payload, endpoint = b.str(m.Topic), b.bytes(m.Payload), b.str(m.Endpoint)
				if m.Properties != nil {
					start := b.off
					props = fillProps(b, m.Properties)
					C.hqcapi_mark_defined(unsafe.Add(b.p, start), C.size_t(b.off-start))
				}
				prepared = true
			}
			C.hqcapi_call_message(cb, user, id, topic, C.size_t(len(m.Topic)), payload, C.size_t(len(m.Payload)),
				C.int(m.QoS), cbool(m.Retained), cbool(m.Duplicate), endpoint, props)
		}
		matched := false
		if routes := cl.routes.Load(); routes != nil {
			for _, s := range *routes {
				if core.TopicMatches(s.filter, m.Topic) {
					matched = true
					call(s.cb, s.user)
				}
			}
		}
		if !matched && cbs != nil && cbs.onMessage != nil {
			call(cbs.onMessage, cbs.user)
		}
	case core.EventEndpointUp:
		if cbs != nil && cbs.onUp != nil {
			b.reset(uintptr(len(e.Endpoint) + 1))
			C.hqcapi_call_endpoint(cbs.onUp, cbs.user, id, b.str(e.Endpoint), nil, 0)
		}
	case core.EventEndpointDown:
		if cbs != nil && cbs.onDown != nil {
			reason := "down"
			if e.Err != nil {
				reason = e.Err.Error()
			}
			b.reset(uintptr(len(e.Endpoint) + len(reason) + 2))
			C.hqcapi_call_endpoint(cbs.onDown, cbs.user, id, b.str(e.Endpoint), b.str(reason), C.int(reasonOf(e.Err)))
		}
	case core.EventDelivery:
		if e.Delivery != nil {
			cl.deliverOutcome(d, cbs, e.Delivery, reg)
		}
	case core.EventError:
		if cbs != nil && cbs.onError != nil {
			msg := "error"
			if e.Err != nil {
				msg = e.Err.Error()
			}
			b.reset(uintptr(len(msg) + 1))
			C.hqcapi_call_error(cbs.onError, cbs.user, id, C.int(classify(e.Err, errInternal)), b.str(msg), C.int(reasonOf(e.Err)))
		}
	}
}

// deliverOutcome calls the delivery callback of one publish: its own, else on_delivery. A
// stored message's failure that nobody registered for (a blocking publish left it stored, or
// a disk outbox resumed it) goes to on_error when there is no on_delivery: a loss must not go
// unseen.
func (cl *client) deliverOutcome(d *dispatchState, cbs *callbacks, dl *core.Delivery, reg *asyncReg) {
	id := C.hamqtt_client(cl.id)
	b := &d.buf
	cb, user, duser := C.hamqtt_delivery_cb(nil), unsafe.Pointer(nil), unsafe.Pointer(nil)
	if reg != nil {
		duser = reg.user
		cb, user = reg.cb, reg.user
	}
	if cb == nil && cbs != nil {
		cb, user = cbs.onDelivery, cbs.user
	}
	if cb == nil {
		if reg == nil && cbs != nil && cbs.onError != nil && (errors.Is(dl.Err, core.ErrDropped) || errors.Is(dl.Err, core.ErrExpired)) {
			msg := dl.Err.Error()
			b.reset(uintptr(len(msg) + 1))
			C.hqcapi_call_error(cbs.onError, cbs.user, id, C.int(classify(dl.Err, errInternal)), b.str(msg), C.int(reasonOf(dl.Err)))
		}
		return
	}
	status, errText := C.int(statusOK), ""
	if dl.Err != nil {
		status = C.int(publishCode(dl.Err, errNoEndpoint))
		errText = dl.Err.Error()
	}
	eps := strings.Join(dl.Endpoints, ",")
	b.reset(uintptr(len(dl.Topic) + len(errText) + len(eps) + 3))
	var errPtr *C.char
	if dl.Err != nil {
		errPtr = b.str(errText)
	}
	C.hqcapi_call_delivery(cb, user, id, C.uint64_t(dl.ID), b.str(dl.Topic), status, errPtr, b.str(eps), duser, C.int(deliveryReason(dl)))
}

// routeDelivery takes the registration of a delivery event and says what reaches the
// application: nothing for a publish whose call returned its failure; the delivery, with its
// registration (nil: none), otherwise. (hamqtt_publish_detached registers nothing: the engine
// reports its failures as error events.)
func (cl *client) routeDelivery(e *core.Event) (*asyncReg, bool) {
	dl := e.Delivery
	reg := cl.takeReg(dl.ID)
	if reg != nil && reg.suppress {
		return nil, false
	}
	return reg, true
}

// reportUnresolved ends, at hamqtt_close, the registrations of asynchronous publishes whose
// outcome never came (an outbox held them when its client closed): in push mode each gets its
// outcome, HAMQTT_ERR_CLOSED mostly, on a library thread, in publish order; pull mode has
// nobody left to poll them.
func (cl *client) reportUnresolved() {
	type left struct {
		id  uint64
		reg *asyncReg
	}
	var regs []left
	cl.pending.Range(func(k, v any) bool {
		cl.pending.Delete(k)
		if reg := v.(*asyncReg); reg.tok != nil && !reg.suppress {
			regs = append(regs, left{k.(uint64), reg})
		}
		return true
	})
	if len(regs) == 0 || !cl.push.Load() {
		return
	}
	slices.SortFunc(regs, func(a, b left) int { return cmp.Compare(a.id, b.id) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		d := &dispatchState{}
		defer d.buf.free()
		cbs := cl.cbs.Load()
		for _, l := range regs {
			// Not ended: the outbox is the configured cluster's, which outlives this client.
			err := fmt.Errorf("publish %q: %w before a broker acknowledged the message; it stays in the cluster's outbox, for the cluster's next client", l.reg.topic, core.ErrClosed)
			select {
			case <-l.reg.tok.Done():
				err = l.reg.tok.Err()
			default:
			}
			cl.deliverOutcome(d, cbs, &core.Delivery{ID: l.id, Topic: l.reg.topic, Err: err}, l.reg)
		}
	}()
	<-done
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// publishAsync starts a publish and registers its callback or user pointer under its id.
// With an outbox every publish is registered (see asyncReg), and one the outbox did not store
// (full, a disk error) returns its error: the call reports it, its delivery event is not.
func (cl *client) publishAsync(c *core.Cluster, topic string, qos byte, retain bool, payload []byte, props *core.Properties, reg *asyncReg) (uint64, error) {
	if reg == nil && cl.ob == nil {
		return c.PublishAsyncWith(topic, qos, retain, payload, props).ID(), nil
	}
	cl.regInFlight.Add(1)
	cl.regMu.RLock()
	defer func() {
		cl.regMu.RUnlock()
		cl.regInFlight.Add(-1)
	}()
	tok := c.PublishAsyncWith(topic, qos, retain, payload, props)
	id := tok.ID()
	if cl.ob == nil {
		cl.pending.Store(id, reg)
		return id, nil
	}
	if reg == nil {
		reg = &asyncReg{}
	}
	if tok.Stored() {
		reg.tok, reg.topic = tok, topic
	} else {
		select {
		case <-tok.Done():
			// Failed at once. Closing is reported as an outcome, as without an outbox.
			if err := tok.Err(); err != nil && !errors.Is(err, core.ErrClosed) {
				cl.pending.Store(id, &asyncReg{suppress: true})
				return id, err
			}
		default: // a QoS the outbox does not store
		}
		if reg.cb == nil && reg.user == nil {
			return id, nil
		}
	}
	cl.pending.Store(id, reg)
	return id, nil
}

// takeReg returns and forgets the registration of publish id, or nil. A delivery event can
// overtake the registration of its own publish (PublishAsync may complete before it returns);
// the registrar then still holds regMu for reading, so taking it for writing waits for it.
func (cl *client) takeReg(id uint64) *asyncReg {
	if v, ok := cl.pending.LoadAndDelete(id); ok {
		return v.(*asyncReg)
	}
	if cl.regInFlight.Load() == 0 {
		if v, ok := cl.pending.LoadAndDelete(id); ok { // stored between the two looks
			return v.(*asyncReg)
		}
		return nil
	}
	cl.regMu.Lock()
	cl.regMu.Unlock() //nolint:staticcheck // waiting for the registrars, not guarding data
	if v, ok := cl.pending.LoadAndDelete(id); ok {
		return v.(*asyncReg)
	}
	return nil
}

// subscribe records the subscription and makes it on the current instance.
func (cl *client) subscribe(filter string, qos byte, opts core.SubscribeOptions, cb C.hamqtt_message_cb, user unsafe.Pointer) (granted byte, err error) {
	if cb != nil {
		cl.enablePush()
	}
	cl.mu.Lock()
	if cl.state == stateClosed {
		cl.mu.Unlock()
		return 0, newErr(errClosed, "%s: closed", cl)
	}
	if cl.cfg.PublishOnly {
		cl.mu.Unlock()
		return 0, newErr(errState, "cluster %q is publish-only (subscriber count 0): subscribe through a cluster that has subscribers", cl.name)
	}
	s := &sub{filter: filter, qos: qos, opts: opts, cb: cb, user: user}
	replaced := false
	for i, old := range cl.subs {
		if old.filter == filter {
			cl.subs[i] = s
			replaced = true
		}
	}
	if !replaced {
		cl.subs = append(cl.subs, s)
	}
	cl.rebuildRoutesLocked()
	inst, state := cl.inst, cl.state
	if state == stateDisconnected && cl.next != nil {
		inst, state = cl.next, stateNew
	}
	cl.mu.Unlock()
	switch {
	case state == stateDisconnected:
		return qos, nil // made by the next hamqtt_connect
	case state == stateNew:
		return qos, registerSubscription(inst.c, filter, qos, opts)
	}
	codes, err := inst.c.SubscribeWith(context.Background(), []core.Subscription{{Filter: filter, QoS: qos, Options: opts}}, nil)
	if len(codes) == 0 {
		return 0x80, err
	}
	return byte(codes[0]), err
}

func (cl *client) unsubscribe(filter string, user []core.UserProperty) error {
	cl.mu.Lock()
	idx := slices.IndexFunc(cl.subs, func(s *sub) bool { return s.filter == filter })
	if idx < 0 {
		cl.mu.Unlock()
		return newErr(errNotFound, "unsubscribe: %q is not subscribed by %s", filter, cl)
	}
	cl.subs = slices.Delete(cl.subs, idx, idx+1)
	cl.rebuildRoutesLocked()
	inst, state := cl.inst, cl.state
	if state == stateDisconnected && cl.next != nil {
		inst, state = cl.next, stateNew
	}
	cl.mu.Unlock()
	if !cl.inCallback() {
		// Wait for a callback of the removed subscription that may be running.
		cl.deliverMu.Lock()
		cl.deliverMu.Unlock() //nolint:staticcheck
	}
	if state == stateDisconnected || state == stateClosed {
		return nil
	}
	ctx := context.Background()
	if state == stateNew {
		c, cancel := context.WithCancel(ctx)
		cancel()
		ctx = c
	}
	err := inst.c.UnsubscribeWith(ctx, []string{filter}, user)
	if state == stateNew && errors.Is(err, core.ErrNoEndpoints) {
		return nil
	}
	return err
}

func (cl *client) rebuildRoutesLocked() {
	var routes []*sub
	for _, s := range cl.subs {
		if s.cb != nil {
			routes = append(routes, s)
		}
	}
	cl.routes.Store(&routes)
}

// addEndpoints adds each expanded URI; name is allowed only for a single URI.
func (cl *client) addEndpoints(uris []string, name string) ([]string, error) {
	var names []string
	for _, u := range uris {
		cl.mu.Lock()
		inst, state := cl.inst, cl.state
		if state == stateClosed {
			cl.mu.Unlock()
			return names, newErr(errClosed, "%s: closed", cl)
		}
		ec := core.EndpointConfig{URI: u, Name: name}
		if inst.isClosed() {
			// Disconnected: recorded for the instance the next hamqtt_connect builds.
			for _, old := range cl.endpoints {
				if old.URI == u || (name != "" && old.Name == name) {
					cl.mu.Unlock()
					return names, newErr(errConfig, "cluster %q: broker %s or name %q is already an endpoint", cl.name, u, name)
				}
			}
			if ec.Name == "" {
				cl.nextIndex++
				ec.Name = cl.name + "-" + strconv.Itoa(cl.nextIndex)
			}
			if cl.next != nil {
				// The instance the next hamqtt_connect starts is made already (outbox).
				if _, err := cl.next.c.AddEndpoint(ec); err != nil {
					cl.mu.Unlock()
					return names, newErr(errConfig, "%v", err)
				}
			}
		} else {
			cl.mu.Unlock()
			var err error
			if ec.Name, err = inst.c.AddEndpoint(ec); err != nil {
				return names, newErr(errConfig, "%v", err)
			}
			cl.mu.Lock()
			cl.nextIndex++
		}
		cl.endpoints = append(cl.endpoints, ec)
		cl.mu.Unlock()
		names = append(names, ec.Name)
	}
	return names, nil
}

func (cl *client) removeEndpoint(name string) error {
	cl.mu.Lock()
	inst, state, next := cl.inst, cl.state, cl.next
	idx := slices.IndexFunc(cl.endpoints, func(ec core.EndpointConfig) bool { return ec.Name == name })
	cl.mu.Unlock()
	if state == stateClosed {
		return newErr(errClosed, "%s: closed", cl)
	}
	if inst.isClosed() && next != nil && idx >= 0 {
		if err := next.c.RemoveEndpoint(name); err != nil {
			return newErr(errNotFound, "%v", err)
		}
	}
	if !inst.isClosed() {
		if err := inst.c.RemoveEndpoint(name); err != nil {
			return newErr(errNotFound, "%v", err)
		}
	} else if idx < 0 {
		return newErr(errNotFound, "%s: no endpoint named %q", cl, name)
	}
	cl.mu.Lock()
	cl.endpoints = slices.DeleteFunc(cl.endpoints, func(ec core.EndpointConfig) bool { return ec.Name == name })
	cl.mu.Unlock()
	return nil
}
