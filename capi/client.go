package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"errors"
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
	cb     C.hamqtt_message_cb // nil: the client-wide on_message or hamqtt_poll
	user   unsafe.Pointer      // C memory, never dereferenced
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
	}
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

// inCallback reports whether the calling thread runs one of cl's callbacks.
func (cl *client) inCallback() bool {
	return uint64(C.hqcapi_callback_client()) == cl.id
}

func (cl *client) connect() error { return cl.start(true) }

// start starts the current instance (a new one after a disconnect) and, with wait, waits as
// core's Connect does; without, returns at once (core's Start).
func (cl *client) start(wait bool) error {
	cl.mu.Lock()
	switch cl.state {
	case stateClosed:
		cl.mu.Unlock()
		return newErr(errClosed, "%s: closed", cl)
	case stateDisconnected:
		if err := cl.newInstanceLocked(); err != nil {
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
	cfg := cl.cfg
	cfg.Endpoints = slices.Clone(cl.endpoints)
	c, err := core.New(cfg)
	if err != nil {
		return newErr(errConfig, "%v", err)
	}
	for _, s := range cl.subs {
		if err := registerSubscription(c, s.filter, s.qos); err != nil {
			c.Close()
			return err
		}
	}
	inst := newInstance(c)
	if err := cl.watchEventsLocked(inst); err != nil {
		c.Close()
		return err
	}
	cl.inst = inst
	cl.publishLocked()
	if cl.push.Load() {
		cl.startDispatcherLocked(cl.inst)
	}
	return nil
}

// registerSubscription records a subscription in a cluster that is not started yet, without
// waiting: core keeps a subscription whose first attempt found no live endpoint and makes it
// when one comes up.
func registerSubscription(c *core.Cluster, filter string, qos byte) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Subscribe(ctx, filter, qos, nil)
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
		prepared := false
		call := func(cb C.hamqtt_message_cb, user unsafe.Pointer) {
			if !prepared {
				b.reset(uintptr(len(m.Topic) + len(m.Payload) + len(m.Endpoint) + 2))
				topic, payload, endpoint = b.str(m.Topic), b.bytes(m.Payload), b.str(m.Endpoint)
				prepared = true
			}
			C.hqcapi_call_message(cb, user, id, topic, C.size_t(len(m.Topic)), payload, C.size_t(len(m.Payload)),
				C.int(m.QoS), cbool(m.Retained), cbool(m.Duplicate), endpoint)
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
			C.hqcapi_call_endpoint(cbs.onUp, cbs.user, id, b.str(e.Endpoint), nil)
		}
	case core.EventEndpointDown:
		if cbs != nil && cbs.onDown != nil {
			reason := "down"
			if e.Err != nil {
				reason = e.Err.Error()
			}
			b.reset(uintptr(len(e.Endpoint) + len(reason) + 2))
			C.hqcapi_call_endpoint(cbs.onDown, cbs.user, id, b.str(e.Endpoint), b.str(reason))
		}
	case core.EventDelivery:
		dl := e.Delivery
		if dl == nil {
			return
		}
		reg := cl.takeReg(dl.ID)
		cb, user, duser := C.hamqtt_delivery_cb(nil), unsafe.Pointer(nil), unsafe.Pointer(nil)
		if reg != nil {
			duser = reg.user
			cb, user = reg.cb, reg.user
		}
		if cb == nil && cbs != nil {
			cb, user = cbs.onDelivery, cbs.user
		}
		if cb == nil {
			return
		}
		status, errText := C.int(statusOK), ""
		if dl.Err != nil {
			status = C.int(classify(dl.Err, errNoEndpoint))
			errText = dl.Err.Error()
		}
		eps := strings.Join(dl.Endpoints, ",")
		b.reset(uintptr(len(dl.Topic) + len(errText) + len(eps) + 3))
		var errPtr *C.char
		if dl.Err != nil {
			errPtr = b.str(errText)
		}
		C.hqcapi_call_delivery(cb, user, id, C.uint64_t(dl.ID), b.str(dl.Topic), status, errPtr, b.str(eps), duser)
	case core.EventError:
		if cbs != nil && cbs.onError != nil {
			msg := "error"
			if e.Err != nil {
				msg = e.Err.Error()
			}
			b.reset(uintptr(len(msg) + 1))
			C.hqcapi_call_error(cbs.onError, cbs.user, id, C.int(classify(e.Err, errInternal)), b.str(msg))
		}
	}
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// publishAsync starts a publish and registers its callback or user pointer under its id.
func (cl *client) publishAsync(c *core.Cluster, topic string, qos byte, retain bool, payload []byte, reg *asyncReg) uint64 {
	if reg == nil {
		return c.PublishAsync(topic, qos, retain, payload).ID()
	}
	cl.regInFlight.Add(1)
	cl.regMu.RLock()
	id := c.PublishAsync(topic, qos, retain, payload).ID()
	cl.pending.Store(id, reg)
	cl.regMu.RUnlock()
	cl.regInFlight.Add(-1)
	return id
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
func (cl *client) subscribe(filter string, qos byte, cb C.hamqtt_message_cb, user unsafe.Pointer) (granted byte, err error) {
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
	s := &sub{filter: filter, qos: qos, cb: cb, user: user}
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
	cl.mu.Unlock()
	switch {
	case state == stateDisconnected:
		return qos, nil // made by the next hamqtt_connect
	case state == stateNew:
		return qos, registerSubscription(inst.c, filter, qos)
	}
	g, err := inst.c.SubscribeGranted(context.Background(), map[string]byte{filter: qos}, nil)
	return g[filter], err
}

func (cl *client) unsubscribe(filter string) error {
	cl.mu.Lock()
	idx := slices.IndexFunc(cl.subs, func(s *sub) bool { return s.filter == filter })
	if idx < 0 {
		cl.mu.Unlock()
		return newErr(errNotFound, "unsubscribe: %q is not subscribed by %s", filter, cl)
	}
	cl.subs = slices.Delete(cl.subs, idx, idx+1)
	cl.rebuildRoutesLocked()
	inst, state := cl.inst, cl.state
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
	err := inst.c.Unsubscribe(ctx, filter)
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
	inst, state := cl.inst, cl.state
	idx := slices.IndexFunc(cl.endpoints, func(ec core.EndpointConfig) bool { return ec.Name == name })
	cl.mu.Unlock()
	if state == stateClosed {
		return newErr(errClosed, "%s: closed", cl)
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
