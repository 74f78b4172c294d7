package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MessageHandler receives messages in push mode, on the cluster's dispatcher goroutine.
type MessageHandler func(Message)

type subscription struct {
	filter  string
	qos     byte
	opts    SubscribeOptions
	handler MessageHandler
	// internal subscriptions serve an in-bridge only: their messages do not reach the application.
	internal bool
}

// subscriptionSet holds the subscriptions every subscriber endpoint must carry, in the order they
// were made, so they can be replayed on an endpoint that comes (back) up.
type subscriptionSet struct {
	order []string
	byKey map[string]subscription
}

func newSubscriptionSet() *subscriptionSet { return &subscriptionSet{byKey: map[string]subscription{}} }

func (r *subscriptionSet) put(s subscription) {
	if _, ok := r.byKey[s.filter]; !ok {
		r.order = append(r.order, s.filter)
	}
	r.byKey[s.filter] = s
}

func (r *subscriptionSet) remove(filter string) {
	if _, ok := r.byKey[filter]; ok {
		delete(r.byKey, filter)
		r.order = slices.DeleteFunc(r.order, func(f string) bool { return f == filter })
	}
}

func (r *subscriptionSet) any() bool { return len(r.order) > 0 }

func (r *subscriptionSet) snapshot() []subscription {
	out := make([]subscription, len(r.order))
	for i, f := range r.order {
		out[i] = r.byKey[f]
	}
	return out
}

// Subscribe registers filter at qos on every live subscriber endpoint and on every endpoint
// that comes up later. handler, if not nil, receives the matching messages (push mode);
// otherwise they go to Handlers.OnMessage or to Poll. Subscribing to a filter again replaces
// its QoS and handler. Before Connect it only registers the subscription and returns nil. It returns once every subscriber endpoint acknowledged, or with an
// error when the broker refused the filter or no subscriber endpoint was live within
// TimeToWait (the subscription stays registered and is made when one comes up).
func (c *Cluster) Subscribe(ctx context.Context, filter string, qos byte, handler MessageHandler) error {
	return c.SubscribeMultiple(ctx, map[string]byte{filter: qos}, handler)
}

// SubscribeOptions are MQTT 5's subscription options. Under MQTT 3.1.1 only the zero value
// is accepted.
type SubscribeOptions struct {
	// NoLocal: the broker does not send this client the messages it published itself. In a
	// cluster every broker knows the client by the same client ID, so this holds on each.
	NoLocal bool
	// RetainAsPublished keeps the RETAIN flag a message was published with when the broker
	// forwards it.
	RetainAsPublished bool
	// RetainHandling: 0 retained messages are sent when the subscription is made, 1 only if
	// it did not exist already, 2 never. A broker that comes back has lost a non-persistent
	// session: its subscription is new again and 1 behaves as 0 there.
	RetainHandling byte
	// ID is the Subscription Identifier (1-268435455; 0: none), given back on every message
	// the subscription matched (Properties.SubscriptionIDs).
	ID int
	// User are user properties for the brokers, sent in the SUBSCRIBE (and again whenever
	// the subscription is made on a broker that comes back). Filters with the same ID and
	// user properties share one SUBSCRIBE.
	User []UserProperty
}

// IsZero reports whether o asks for nothing beyond MQTT 3.1.1's subscribe.
func (o SubscribeOptions) IsZero() bool {
	return !o.NoLocal && !o.RetainAsPublished && o.RetainHandling == 0 && o.ID == 0 && len(o.User) == 0
}

// samePacket reports whether filters with options o and p can share one SUBSCRIBE, whose
// properties (identifier, user properties) are per packet.
func (o SubscribeOptions) samePacket(p SubscribeOptions) bool {
	return o.ID == p.ID && slices.Equal(o.User, p.User)
}

// Subscription is one filter of SubscribeWith.
type Subscription struct {
	Filter  string
	QoS     byte
	Options SubscribeOptions
}

// SubscribeWith is SubscribeGranted with MQTT 5 subscription options per filter. It returns,
// in the order of subs, the QoS granted or the failure reason code (0x80 and above) the
// brokers answered: the lowest grant any subscriber endpoint gave, or a refusal if one refused.
func (c *Cluster) SubscribeWith(ctx context.Context, subs []Subscription, handler MessageHandler) ([]ReasonCode, error) {
	if len(subs) == 0 {
		return nil, errors.New("subscribe: no filter given")
	}
	list := make([]subscription, 0, len(subs))
	for _, s := range subs {
		if err := c.checkOptions(s); err != nil {
			return nil, err
		}
		list = append(list, subscription{filter: s.Filter, qos: s.QoS, opts: s.Options, handler: handler})
	}
	granted, err := c.subscribe(ctx, list)
	codes := make([]ReasonCode, len(subs))
	for i, s := range subs {
		codes[i] = ReasonCode(granted[s.Filter])
	}
	return codes, err
}

func (c *Cluster) checkOptions(s Subscription) error {
	o := s.Options
	switch {
	case o.IsZero():
		return nil
	case c.cfg.Connection.ProtocolVersion != MQTT5:
		return fmt.Errorf("subscribe %q: subscription options need MQTT 5 (the cluster speaks MQTT 3.1.1)", s.Filter)
	case o.RetainHandling > 2:
		return fmt.Errorf("subscribe %q: retain handling %d: use 0 (send retained), 1 (only for a new subscription) or 2 (never)", s.Filter, o.RetainHandling)
	case o.ID < 0 || o.ID > 268435455:
		return fmt.Errorf("subscribe %q: subscription identifier %d out of range 1..268435455", s.Filter, o.ID)
	case o.NoLocal && strings.HasPrefix(s.Filter, "$share/"):
		return fmt.Errorf("subscribe %q: no-local is not allowed on a shared subscription", s.Filter)
	}
	if err := validateUserProperties(o.User); err != nil {
		return fmt.Errorf("subscribe %q: %w", s.Filter, err)
	}
	return nil
}

// SubscribeMultiple is Subscribe for several filters in one SUBSCRIBE packet per endpoint.
func (c *Cluster) SubscribeMultiple(ctx context.Context, filters map[string]byte, handler MessageHandler) error {
	_, err := c.SubscribeGranted(ctx, filters, handler)
	return err
}

// SubscribeGranted is SubscribeMultiple that also returns, per filter, the QoS the brokers
// granted: the lowest any subscriber endpoint granted (a broker may cap it, as Mosquitto's
// max_qos does), 0x80 where one refused the filter (under MQTT 5 the broker's reason code,
// 0x80 or above; the error says which). Before Connect, and
// when no endpoint could be asked, it is the QoS asked for.
func (c *Cluster) SubscribeGranted(ctx context.Context, filters map[string]byte, handler MessageHandler) (map[string]byte, error) {
	if len(filters) == 0 {
		return nil, errors.New("subscribe: no filter given")
	}
	subs := make([]subscription, 0, len(filters))
	for f, q := range filters {
		subs = append(subs, subscription{filter: f, qos: q, handler: handler})
	}
	return c.subscribe(ctx, subs)
}

func (c *Cluster) subscribe(ctx context.Context, subs []subscription) (map[string]byte, error) {
	for _, s := range subs {
		if err := ValidateFilter(s.filter); err != nil {
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		if err := ValidateQoS(int(s.qos)); err != nil {
			return nil, fmt.Errorf("subscribe %q: %w", s.filter, err)
		}
	}
	handler := subs[0].handler
	slices.SortFunc(subs, func(a, b subscription) int { return compareStrings(a.filter, b.filter) })
	if c.cfg.PublishOnly {
		return nil, fmt.Errorf("cluster %q is publish-only (subscriberCount: 0): subscribe through a cluster that has subscribers: %w", c.cfg.Name, ErrPublishOnly)
	}
	if handler != nil {
		c.startDispatcher()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	for _, s := range subs {
		c.subs.put(s)
		if c.dedup != nil {
			c.dedup.forgetRetained(s.filter)
		}
	}
	c.refreshSubsLocked()
	started := c.started
	c.mu.Unlock()
	granted := make(map[string]byte, len(subs))
	for _, s := range subs {
		granted[s.filter] = s.qos
	}
	if !started {
		return granted, nil // made on every endpoint as it comes up
	}
	var mu sync.Mutex
	err := c.applyToSubscribers(ctx, func(cn *connection, deadline time.Time) error {
		g, err := cn.subscribe(subs, deadline)
		mu.Lock()
		defer mu.Unlock()
		for f, q := range g {
			if q >= 0x80 || (granted[f] < 0x80 && q < granted[f]) {
				granted[f] = q
			}
		}
		return err
	})
	return granted, err
}

// Unsubscribe removes the filters from the subscription set and from every subscriber endpoint.
func (c *Cluster) Unsubscribe(ctx context.Context, filters ...string) error {
	return c.UnsubscribeWith(ctx, filters, nil)
}

// UnsubscribeWith is Unsubscribe with user properties for the brokers in the UNSUBSCRIBE
// (MQTT 5; a 3.1.1 cluster refuses them). Like Unsubscribe, it tells the live subscriber
// endpoints; the others do not get the subscription back when they return.
func (c *Cluster) UnsubscribeWith(ctx context.Context, filters []string, user []UserProperty) error {
	if len(filters) == 0 {
		return errors.New("unsubscribe: no filter given")
	}
	if len(user) > 0 && c.cfg.Connection.ProtocolVersion != MQTT5 {
		return errors.New("unsubscribe: user properties need MQTT 5 (the cluster speaks MQTT 3.1.1)")
	}
	if err := validateUserProperties(user); err != nil {
		return fmt.Errorf("unsubscribe: %w", err)
	}
	for _, f := range filters {
		if err := ValidateFilter(f); err != nil {
			return fmt.Errorf("unsubscribe: %w", err)
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	for _, f := range filters {
		c.subs.remove(f)
	}
	c.refreshSubsLocked()
	c.mu.Unlock()
	return c.applyToSubscribers(ctx, func(cn *connection, deadline time.Time) error {
		return cn.unsubscribe(filters, user, deadline)
	})
}

// applyToSubscribers runs op on every subscriber connection in parallel. An endpoint whose
// connection fails during op is moved to the dead list; the subscription set replays the change when
// it comes back, so only a refusal by a live broker is reported.
func (c *Cluster) applyToSubscribers(ctx context.Context, op func(*connection, time.Time) error) error {
	deadline := c.deadline(ctx)
	for {
		c.mu.Lock()
		var conns []*connection
		for _, ep := range c.endpoints {
			if ep.subscriber && ep.conn != nil {
				conns = append(conns, ep.conn)
			}
		}
		changed := c.changed
		c.mu.Unlock()
		if len(conns) > 0 {
			errs := make([]error, len(conns))
			var wg sync.WaitGroup
			for i, cn := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = op(cn, deadline)
				}()
			}
			wg.Wait()
			var refused []error
			for i, err := range errs {
				var r *refusedError
				switch {
				case err == nil:
				case errors.As(err, &r):
					refused = append(refused, fmt.Errorf("%s: %w", conns[i].ep.name, err))
				default:
					c.endpointFailed(conns[i], err)
				}
			}
			return errors.Join(refused...)
		}
		ctx2, cancel := context.WithDeadline(ctx, deadline)
		ok := c.waitChange(ctx2, changed, -1)
		cancel()
		if !ok {
			return c.unreachableError(ctx2.Err())
		}
		select {
		case <-c.stop:
			return ErrClosed
		default:
		}
	}
}

// refusedError is a SUBACK failure code: the broker is fine but will not take the filter.
type refusedError struct {
	filters []string
	reason  *ReasonError // the MQTT 5 reason code, when the broker gave one beyond 0x80
}

func (e *refusedError) Error() string {
	if e.reason != nil {
		return fmt.Sprintf("broker refused subscription to %q: %s", e.filters, e.reason)
	}
	return fmt.Sprintf("broker refused subscription to %q (check its ACL)", e.filters)
}

func (e *refusedError) Is(target error) bool { return target == ErrSubscriptionRefused }

func (e *refusedError) As(target any) bool {
	if t, ok := target.(**ReasonError); ok && e.reason != nil {
		*t = e.reason
		return true
	}
	return false
}

// wantsSubscriberLocked reports whether a newly connected endpoint should carry subscriptions.
func (c *Cluster) wantsSubscriberLocked() bool {
	if c.cfg.PublishOnly {
		return false
	}
	if c.cfg.SubscriberCount < 0 {
		return true
	}
	n := 0
	for _, ep := range c.endpoints {
		if ep.subscriber && ep.conn != nil {
			n++
		}
	}
	return n < c.cfg.SubscriberCount
}

// balanceSubscribersLocked promotes live endpoints to subscribers until SubscriberCount is
// met (after a subscriber died) and picks the sticky subscriber for FoS >= 1.
func (c *Cluster) balanceSubscribersLocked() {
	if c.closed {
		return
	}
	for _, ep := range *c.live.Load() {
		if ep.subscriber || !c.wantsSubscriberLocked() {
			continue
		}
		ep.subscriber, ep.subReady = true, false
		cn, replay := ep.conn, c.subs.snapshot()
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := c.replay(cn, replay); err != nil {
				c.endpointFailed(cn, err)
				return
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if ep.conn == cn && ep.subscriber {
				ep.subReady = true
				c.balanceSubscribersLocked()
			}
		}()
	}
	// The sticky subscriber (FoS >= 1) must already carry the subscriptions: choosing one whose
	// replay is still in flight would discard what the others deliver meanwhile.
	if cur := c.stickySub.Load(); cur == nil || !cur.subReady || cur.state != StateLive {
		c.stickySub.Store(nil)
		for _, ep := range *c.live.Load() { // longest-live first
			if ep.subReady {
				c.stickySub.Store(ep)
				break
			}
		}
	}
}

// onIncoming runs on the session's receive goroutine for every PUBLISH received. It must not
// block: it filters and enqueues, and the session acknowledges the message when it returns.
func (c *Cluster) onIncoming(cn *connection, m incoming) {
	ep := cn.ep
	ep.received.Add(1)
	if c.dedup != nil {
		if !c.dedup.admitMessage(ep.index, &m) {
			return
		}
	} else if c.cfg.FoS > 0 && c.stickySub.Load() != ep {
		// padogrid FoS 1-3: only the sticky subscriber delivers.
		return
	}
	msg := &Message{Topic: m.topic, Payload: m.payload, QoS: m.qos, Retained: m.retained,
		Duplicate: m.duplicate, Endpoint: ep.name, Properties: m.props}
	if c.inBridges.Load() != nil {
		c.tapIncoming(msg)
	}
	snap := c.subsSnap.Load()
	if snap.internal && !snap.wantedByApp(msg.Topic) {
		return
	}
	if snap.connectors != nil {
		for _, b := range snap.connectors {
			b.queue.push(Event{Kind: EventMessage, Message: msg})
		}
	}
	c.events.push(Event{Kind: EventMessage, Endpoint: ep.name, Time: time.Now(), Message: msg})
}

// subsSnapshot is what the receive path needs to know about the subscriptions, read lock-free.
type subsSnapshot struct {
	subs       []subscription
	internal   bool      // some subscription serves only an in-bridge
	handlers   bool      // some subscription has its own handler
	connectors []*bridge // message connectors of the cluster's hooks
}

// wantedByApp reports whether an application subscription matches topic.
func (s *subsSnapshot) wantedByApp(topic string) bool {
	for _, sub := range s.subs {
		if !sub.internal && TopicMatches(sub.filter, topic) {
			return true
		}
	}
	return false
}

func (c *Cluster) refreshSubsLocked() {
	snap := &subsSnapshot{subs: c.subs.snapshot(), connectors: c.subsSnap.Load().connectors}
	for _, s := range snap.subs {
		snap.internal = snap.internal || s.internal
		snap.handlers = snap.handlers || s.handler != nil
	}
	c.subsSnap.Store(snap)
}

// deduplicator suppresses the extra copies of a message that arrive through several
// endpoints. It counts, per (topic, payload) key, how many copies each endpoint delivered; a
// copy is new when its endpoint has now seen the key more often than the application has.
// So one publish sent through three brokers is delivered once, and the same payload really
// published twice is delivered twice. Keys are forgotten after the window; a copy arriving
// later than that is delivered again (a duplicate, never a loss).
type deduplicator struct {
	mu     sync.Mutex
	seed   maphash.Seed
	window time.Duration
	byKey  map[uint64]*dedupEntry
	// retained is the retained message delivered last per topic (admitRetained).
	retained map[string]retainedCopy
	fifo     []dedupExpiry
	head     int
}

type dedupEntry struct {
	delivered int
	seen      []int // per endpoint index
}

type dedupExpiry struct {
	key uint64
	at  time.Time
}

func newDeduplicator(window time.Duration) *deduplicator {
	return &deduplicator{seed: maphash.MakeSeed(), window: window, byKey: map[uint64]*dedupEntry{}}
}

// admitMessage admits m: exactly by its publisher's message id when it carries one (MQTT 5
// between hamqtt clients: one delivery per id, whichever broker brings it first), otherwise by
// topic and payload, counted per endpoint.
func (d *deduplicator) admitMessage(endpoint int, m *incoming) bool {
	if m.retained {
		return d.admitRetained(m)
	}
	if m.stamp != "" {
		return d.admitOnce(m.stamp)
	}
	return d.admit(endpoint, m.topic, m.payload)
}

// admitRetained admits one retained message per topic within the window: each subscriber
// broker sends its own retained copy when a subscription is made (and again when it comes
// back), possibly of different ages. The first copy is delivered; a later one only when its
// publisher's stamp (MQTT 5 message id) shows it newer, so the application always ends with
// the newest state. Without stamps (MQTT 3.1.1, foreign publishers) the first copy stands:
// copies that agree are one message, and of copies that disagree none can be dated.
func (d *deduplicator) admitRetained(m *incoming) bool {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.retained == nil {
		d.retained = map[string]retainedCopy{}
	}
	if prev, ok := d.retained[m.topic]; ok && now.Sub(prev.at) <= d.window {
		if m.stamp == "" || prev.stamp == "" || !stampNewer(m.stamp, prev.stamp) {
			return false
		}
	}
	if len(d.retained) >= 4096 {
		for t, r := range d.retained {
			if now.Sub(r.at) > d.window {
				delete(d.retained, t)
			}
		}
	}
	d.retained[m.topic] = retainedCopy{stamp: m.stamp, at: now}
	return true
}

// forgetRetained lets the next retained message of every topic filter matches through: the
// application subscribed again and asks for the retained state once more.
func (d *deduplicator) forgetRetained(filter string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for t := range d.retained {
		if TopicMatches(filter, t) {
			delete(d.retained, t)
		}
	}
}

type retainedCopy struct {
	stamp string
	at    time.Time
}

// stampNewer reports whether message id a ("<publisher>.<seq>.<unix ms>", base 36 numbers) was
// made after b: by its time, and by its sequence when one publisher made both.
func stampNewer(a, b string) bool {
	pa, sa, ta, oka := splitStamp(a)
	pb, sb, tb, okb := splitStamp(b)
	switch {
	case !oka || !okb:
		return false
	case pa == pb:
		return sa > sb
	default:
		return ta > tb
	}
}

func splitStamp(s string) (pub string, seq, ms uint64, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return "", 0, 0, false
	}
	seq, err1 := strconv.ParseUint(parts[1], 36, 64)
	ms, err2 := strconv.ParseUint(parts[2], 36, 64)
	return parts[0], seq, ms, err1 == nil && err2 == nil
}

// admitOnce admits the first message with this id within the window.
func (d *deduplicator) admitOnce(id string) bool {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteByte(1) // apart from the topic-and-payload keys, which start with a topic byte
	h.WriteString(id)
	key := h.Sum64()
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(now)
	if _, seen := d.byKey[key]; seen {
		return false
	}
	d.byKey[key] = &dedupEntry{delivered: 1}
	d.fifo = append(d.fifo, dedupExpiry{key, now})
	return true
}

func (d *deduplicator) expireLocked(now time.Time) {
	for d.head < len(d.fifo) && now.Sub(d.fifo[d.head].at) > d.window {
		delete(d.byKey, d.fifo[d.head].key)
		d.head++
	}
	if d.head > 1024 && d.head*2 > len(d.fifo) {
		d.fifo = append(d.fifo[:0], d.fifo[d.head:]...)
		d.head = 0
	}
}

func (d *deduplicator) admit(endpoint int, topic string, payload []byte) bool {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteByte(0)
	h.WriteString(topic)
	h.WriteByte(0)
	h.Write(payload)
	key := h.Sum64()
	now := time.Now()

	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(now)
	e := d.byKey[key]
	if e == nil {
		e = &dedupEntry{}
		d.byKey[key] = e
		d.fifo = append(d.fifo, dedupExpiry{key, now})
	}
	for len(e.seen) <= endpoint {
		e.seen = append(e.seen, 0)
	}
	e.seen[endpoint]++
	if e.seen[endpoint] > e.delivered {
		e.delivered++
		return true
	}
	return false
}

// Handlers receive a cluster's events in push mode. Each runs on the cluster's single
// dispatcher goroutine, in event order, never under a lock; a handler may publish and
// subscribe, and close the cluster. A nil field ignores that kind of event.
type Handlers struct {
	OnMessage      MessageHandler // messages that no per-subscription handler took
	OnEndpointUp   func(endpoint string)
	OnEndpointDown func(endpoint string, reason error)
	OnDelivery     func(Delivery)
	OnError        func(error)
}

// SetHandlers switches the cluster to push mode (if not already) and installs h. Events
// queued before are delivered to h.
func (c *Cluster) SetHandlers(h Handlers) {
	c.handlers.Store(&h)
	c.startDispatcher()
}

func (c *Cluster) startDispatcher() {
	c.dispatch.Do(func() {
		c.pushMode.Store(true)
		c.dispatchWG.Add(1)
		go c.dispatchLoop()
	})
}

// ErrPushMode is returned by Poll when handlers receive the events instead.
var ErrPushMode = errors.New("hamqtt: events go to handlers (SetHandlers or a subscription handler was set); Poll is unavailable")

// Poll moves up to len(dst) queued events into dst, waiting up to timeout (negative: until an
// event comes or the cluster closes; zero: not at all). It returns how many it moved;
// ErrClosed once Close has finished (every pending publish has reported) and the queue is empty.
func (c *Cluster) Poll(dst []Event, timeout time.Duration) (int, error) {
	if c.pushMode.Load() {
		return 0, ErrPushMode
	}
	if n := c.events.drain(dst); n > 0 {
		return n, nil
	}
	if timeout != 0 {
		c.events.wait(timeout, nil)
	}
	n := c.events.drain(dst)
	if n == 0 && c.events.isClosed() {
		return 0, ErrClosed
	}
	return n, nil
}

// EventFD returns a file descriptor that is readable while events wait to be polled, for
// epoll, asyncio or libuv loops. Read nothing from it: Poll keeps it in step. It is closed by
// Close.
func (c *Cluster) EventFD() (int, error) {
	if c.pushMode.Load() {
		return -1, ErrPushMode
	}
	return c.events.fd()
}

func (c *Cluster) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Cluster) dispatchLoop() {
	defer c.dispatchWG.Done()
	id := goroutineID()
	c.dispatcherID.Store(id)
	dispatcherGoroutines.Store(id, true)
	defer dispatcherGoroutines.Delete(id)
	defer func() {
		if c.closedByHandler.Load() {
			c.events.release() // Close, called by a handler, could not wait for this
		}
	}()
	batch := make([]Event, 256)
	for {
		n := c.events.drain(batch)
		if n == 0 {
			if c.isClosed() && c.events.len() == 0 {
				return
			}
			c.events.wait(-1, c.stop)
			if c.isClosed() && c.events.len() == 0 {
				return
			}
			continue
		}
		for i := range batch[:n] {
			c.deliver(&batch[i])
			batch[i] = Event{}
		}
	}
}

func (c *Cluster) deliver(e *Event) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("event handler panicked", "event", e.Kind.String(), "panic", r)
		}
	}()
	h := c.handlers.Load()
	if h == nil {
		h = &Handlers{}
	}
	switch e.Kind {
	case EventMessage:
		if !c.deliverToSubscriptions(e.Message) && h.OnMessage != nil {
			h.OnMessage(*e.Message)
		}
	case EventEndpointUp:
		if h.OnEndpointUp != nil {
			h.OnEndpointUp(e.Endpoint)
		}
	case EventEndpointDown:
		if h.OnEndpointDown != nil {
			h.OnEndpointDown(e.Endpoint, e.Err)
		}
	case EventDelivery:
		if h.OnDelivery != nil {
			h.OnDelivery(*e.Delivery)
		}
	case EventError:
		if h.OnError != nil {
			h.OnError(e.Err)
		}
	}
}

// deliverToSubscriptions calls the handler of every subscription whose filter matches, and
// reports whether there was one.
func (c *Cluster) deliverToSubscriptions(m *Message) bool {
	snap := c.subsSnap.Load()
	if !snap.handlers {
		return false
	}
	took := false
	for _, s := range snap.subs {
		if s.handler != nil && TopicMatches(s.filter, m.Topic) {
			s.handler(*m)
			took = true
		}
	}
	return took
}

// onDispatcher reports whether the caller runs on the cluster's dispatcher goroutine (inside
// a handler), and if so records that Close left the end of the queue to it.
func (c *Cluster) onDispatcher() bool {
	if !c.pushMode.Load() {
		return false
	}
	if _, onAny := dispatcherGoroutines.Load(goroutineID()); !onAny {
		return false
	}
	c.closedByHandler.Store(true)
	return true
}

// dispatcherGoroutines holds the goroutine numbers of every cluster's dispatcher. Close called
// on any of them does not wait for the closed cluster's dispatcher: two clusters whose
// handlers close each other would otherwise wait for each other forever.
var dispatcherGoroutines sync.Map

func (c *Cluster) runsOnDispatcher() bool {
	return c.pushMode.Load() && c.dispatcherID.Load() == goroutineID()
}

// goroutineID is the current goroutine's number, from the header of its stack trace
// ("goroutine 42 [running]:"). Only Close uses it, to recognise a call from a handler.
func goroutineID() uint64 {
	var buf [64]byte
	s := buf[:runtime.Stack(buf[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, _ := strconv.ParseUint(string(s), 10, 64)
	return id
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
