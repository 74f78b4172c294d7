package core

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Bridges forward messages between clusters inside this process (padogrid's client-side
// bridges, not Mosquitto's). An in-bridge forwards what the source cluster receives on its
// filters to the target; an out-bridge forwards what the application publishes through the
// source to the target as well. Forwarding runs on a goroutine of its own per bridge, so a
// slow or dead target never stalls the source's connections.
//
// Loops (A bridged to B bridged back to A, or clusters that share a broker) are cut by a
// process-wide ledger: a message a bridge has forwarded is not forwarded again by any
// in-bridge for BridgeLoopWindow. The cost: the same topic and payload published again within
// that window is not bridged a second time.
var BridgeLoopWindow = 2 * time.Second

var bridgeLedger = struct {
	sync.Mutex
	seed maphash.Seed
	at   map[uint64]time.Time
}{seed: maphash.MakeSeed(), at: map[uint64]time.Time{}}

func bridgeKey(topic string, payload []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(bridgeLedger.seed)
	h.WriteString(topic)
	h.WriteByte(0)
	h.Write(payload)
	return h.Sum64()
}

// recordForward notes that a bridge forwarded a message, and reports false when a bridge
// already did so within the loop window (the message is then not forwarded again).
func recordForward(key uint64, now time.Time) bool {
	bridgeLedger.Lock()
	defer bridgeLedger.Unlock()
	if t, ok := bridgeLedger.at[key]; ok && now.Sub(t) < BridgeLoopWindow {
		return false
	}
	if len(bridgeLedger.at) > 4096 {
		for k, t := range bridgeLedger.at {
			if now.Sub(t) >= BridgeLoopWindow {
				delete(bridgeLedger.at, k)
			}
		}
	}
	bridgeLedger.at[key] = now
	return true
}

func recentlyForwarded(key uint64, now time.Time) bool {
	bridgeLedger.Lock()
	defer bridgeLedger.Unlock()
	t, ok := bridgeLedger.at[key]
	return ok && now.Sub(t) < BridgeLoopWindow
}

// bridge is one running in- or out-bridge.
type bridge struct {
	in      bool
	deliver func(*Message) // a message connector instead of a target cluster
	source  *Cluster
	target  *Cluster
	filters []string
	qos     byte
	queue   *eventQueue
	pending atomic.Int64 // queued or being forwarded
}

// AddInBridge forwards every message c receives on filters to target. The filters are
// subscribed on c (at qos) without reaching c's application unless it subscribed to them too.
func (c *Cluster) AddInBridge(target *Cluster, filters []string, qos byte) error {
	b, err := c.newBridge(true, target, filters, qos)
	if err != nil {
		return err
	}
	subs := make(map[string]byte, len(filters))
	for _, f := range filters {
		subs[f] = qos
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.inBridges.Store(appendCopy(c.inBridges.Load(), b))
	for _, f := range filters {
		if _, taken := c.subs.byKey[f]; !taken {
			c.subs.put(subscription{filter: f, qos: qos, internal: true})
		}
	}
	c.refreshSubsLocked()
	c.startBridgeLocked(b)
	c.mu.Unlock()
	if c.LiveCount() == 0 {
		return nil // replayed when the endpoints come up
	}
	err = c.applyToSubscribers(context.Background(), func(cn *connection, deadline time.Time) error {
		_, err := cn.subscribe(c.subscriptionsFor(filters), deadline)
		return err
	})
	if err != nil {
		return fmt.Errorf("in-bridge %s -> %s: %w", c.cfg.Name, target.cfg.Name, err)
	}
	return nil
}

// AddOutBridge forwards every message the application publishes through c on filters to
// target as well, once c has delivered it.
func (c *Cluster) AddOutBridge(target *Cluster, filters []string, qos byte) error {
	b, err := c.newBridge(false, target, filters, qos)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.outBridges.Store(appendCopy(c.outBridges.Load(), b))
	c.startBridgeLocked(b)
	return nil
}

func (c *Cluster) newBridge(in bool, target *Cluster, filters []string, qos byte) (*bridge, error) {
	switch {
	case target == nil:
		return nil, errors.New("bridge: no target cluster")
	case target == c:
		return nil, fmt.Errorf("bridge: cluster %q cannot bridge to itself", c.cfg.Name)
	case len(filters) == 0:
		return nil, fmt.Errorf("bridge %s -> %s: no topic filter", c.cfg.Name, target.cfg.Name)
	case qos > 2:
		return nil, fmt.Errorf("bridge %s -> %s: QoS %d out of range 0..2", c.cfg.Name, target.cfg.Name, qos)
	}
	for _, f := range filters {
		if err := ValidateFilter(f); err != nil {
			return nil, fmt.Errorf("bridge %s -> %s: %w", c.cfg.Name, target.cfg.Name, err)
		}
	}
	if c.isClosed() {
		return nil, ErrClosed
	}
	return &bridge{in: in, source: c, target: target, filters: filters, qos: qos, queue: newEventQueue()}, nil
}

func (c *Cluster) subscriptionsFor(filters []string) []subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []subscription
	for _, f := range filters {
		if s, ok := c.subs.byKey[f]; ok {
			out = append(out, s)
		}
	}
	return out
}

// startBridgeLocked starts b's forwarding goroutine; c.mu is held and c is not closed.
func (c *Cluster) startBridgeLocked(b *bridge) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		batch := make([]Event, 64)
		for {
			n := b.queue.drain(batch)
			if n == 0 {
				select {
				case <-c.stop:
					return
				default:
				}
				b.queue.wait(-1, c.stop)
				continue
			}
			for i := range batch[:n] {
				b.forward(batch[i].Message)
				b.pending.Add(-1)
				batch[i] = Event{}
			}
		}
	}()
}

func (b *bridge) matches(topic string) bool {
	for _, f := range b.filters {
		if TopicMatches(f, topic) {
			return true
		}
	}
	return false
}

// forward publishes m to the target, whose own out-bridges forward it further (padogrid's
// bridges chain: a to b to c), never back to a cluster it came through. A failure is reported
// on the source as an EventError: a bridge has no caller to return it to.
func (b *bridge) forward(m *Message) {
	if b.deliver != nil {
		b.deliver(m)
		return
	}
	req, err := b.target.newRequest(m.Topic, m.QoS, m.Retained, m.Payload, b.target.carried(m.Properties))
	if err == nil {
		req.via = append(append(make([]*Cluster, 0, len(m.via)+1), m.via...), b.source)
		_, err = b.target.publish(context.Background(), req)
	}
	if err != nil && !errors.Is(err, ErrClosed) {
		kind := "out"
		if b.in {
			kind = "in"
		}
		b.source.events.push(Event{Kind: EventError, Time: time.Now(),
			Err: fmt.Errorf("%s-bridge %s -> %s: %w", kind, b.source.cfg.Name, b.target.cfg.Name, err)})
	}
}

// tapIncoming hands a received message to the in-bridges that want it. It runs on paho's
// router goroutine, so it only enqueues.
func (c *Cluster) tapIncoming(m *Message) {
	now := time.Now()
	var key uint64
	keyed := false
	for _, b := range c.inBridgesSnapshot() {
		if !b.matches(m.Topic) {
			continue
		}
		if !keyed {
			key, keyed = bridgeKey(m.Topic, m.Payload), true
			if !recordForward(key, now) {
				return // a bridge forwarded it a moment ago: this copy is the loop coming back
			}
		}
		b.pending.Add(1)
		b.queue.push(Event{Kind: EventMessage, Message: m})
	}
}

// tapPublished hands a message published through c (by the application, or by a bridge
// forwarding into c) to the out-bridges that want it, except those leading back to a cluster
// the message came through.
func (c *Cluster) tapPublished(req publishReq) {
	var m *Message
	for _, b := range c.outBridgesSnapshot() {
		if !b.matches(req.topic) || slices.Contains(req.via, b.target) {
			continue
		}
		if m == nil {
			m = &Message{Topic: req.topic, Payload: req.payload, QoS: req.qos, Retained: req.retained, via: req.via}
			recordForward(bridgeKey(req.topic, req.payload), time.Now())
		}
		b.pending.Add(1)
		b.queue.push(Event{Kind: EventMessage, Message: m})
	}
}

// BridgesPending is the number of messages c's bridges have queued or are forwarding.
func (c *Cluster) BridgesPending() int {
	n := int64(0)
	for _, b := range c.inBridgesSnapshot() {
		n += b.pending.Load()
	}
	for _, b := range c.outBridgesSnapshot() {
		n += b.pending.Load()
	}
	return int(n)
}

// FlushBridges waits until the bridges of every cluster have forwarded what they hold (a
// forward that chains on through another cluster's out-bridge included), or ctx ends. A
// program that publishes and exits (hamqtt pub) calls it before Close, which would otherwise
// drop what the bridges still hold. Each forward is bounded by its target's TimeToWait.
func (r *Clusters) FlushBridges(ctx context.Context) error {
	for {
		r.mu.Lock()
		list := make([]*Cluster, 0, len(r.order))
		for _, n := range r.order {
			list = append(list, r.clusters[n])
		}
		r.mu.Unlock()
		pending := 0
		for _, c := range list {
			pending += c.BridgesPending()
		}
		if pending == 0 {
			return nil
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%d bridged messages not yet forwarded: %w", pending, ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Cluster) inBridgesSnapshot() []*bridge  { return deref(c.inBridges.Load()) }
func (c *Cluster) outBridgesSnapshot() []*bridge { return deref(c.outBridges.Load()) }

// appendCopy returns a new slice: readers of the old one (lock-free snapshots) never see it change.
func appendCopy[T any](old *[]T, v T) *[]T {
	s := append(append([]T(nil), deref(old)...), v)
	return &s
}

func deref[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}
