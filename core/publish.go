package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// publishReq is one message on its way to the cluster.
type publishReq struct {
	topic    string
	qos      byte
	retained bool
	payload  []byte
	target   *endpoint // PublishTo or topic-base routing: this endpoint or nothing
	bridged  bool      // forwarded by a bridge: not forwarded again by out-bridges
	dropped  bool      // a BeforePublish hook dropped it
}

// Publish sends a message through the cluster and blocks until it is delivered: for QoS 1
// and 2 until a broker acknowledged it, for QoS 0 until it was written to a broker. An
// endpoint that fails meanwhile (not connected, write error, connection lost before the ack,
// no ack within AckTimeout) is moved to the dead list and the message goes to the next live
// endpoint, the one live longest first. The error is non-nil only when no endpoint took the
// message within TimeToWait (or before ctx ended); errors.Is(err, ErrNoEndpoints) then holds.
//
// With the All publisher type the message goes to every live endpoint, and Publish returns
// once each has acknowledged or failed and at least one acknowledged; an endpoint that fails
// never causes a re-send to those that already acknowledged.
//
// A topic that starts with an endpoint's topic base is published to that endpoint only.
func (c *Cluster) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	req, err := c.newRequest(topic, qos, retained, payload)
	if err != nil {
		return err
	}
	_, err = c.publish(ctx, req, nil)
	return err
}

// PublishTo publishes to the named endpoint only, with no failover. It fails at once when the
// endpoint is unknown or not live.
func (c *Cluster) PublishTo(ctx context.Context, endpoint, topic string, qos byte, retained bool, payload []byte) error {
	req, err := c.newRequest(topic, qos, retained, payload)
	if err != nil {
		return err
	}
	if req.target, err = c.endpointByName(endpoint); err != nil {
		return err
	}
	_, err = c.publish(ctx, req, nil)
	return err
}

func (c *Cluster) newRequest(topic string, qos byte, retained bool, payload []byte) (publishReq, error) {
	if err := ValidateTopic(topic); err != nil {
		return publishReq{}, fmt.Errorf("publish: %w", err)
	}
	if qos > 2 {
		return publishReq{}, fmt.Errorf("publish %q: QoS %d out of range: use 0, 1 or 2", topic, qos)
	}
	if len(payload) > MaxPayloadSize-len(topic) {
		return publishReq{}, fmt.Errorf("publish %q: payload of %d bytes exceeds the MQTT limit of %d", topic, len(payload), MaxPayloadSize-len(topic))
	}
	req := publishReq{topic: topic, qos: qos, retained: retained, payload: payload}
	if err := c.runBeforePublish(&req); err != nil {
		return publishReq{}, err
	}
	req.target = c.routeByTopicBase(req.topic)
	return req, nil
}

// routeByTopicBase returns the endpoint whose topic base is the longest prefix of topic.
func (c *Cluster) routeByTopicBase(topic string) *endpoint {
	var best *endpoint
	for _, ep := range deref(c.topicBases.Load()) {
		if strings.HasPrefix(topic, ep.topicBase) && (best == nil || len(ep.topicBase) > len(best.topicBase)) {
			best = ep
		}
	}
	return best
}

// Token tracks an asynchronous publish.
type Token struct {
	id        uint64
	done      chan struct{}
	err       error
	endpoints []string
}

// ID identifies the publish in the EventDelivery that reports it.
func (t *Token) ID() uint64 { return t.id }

// Done is closed when the publish completed.
func (t *Token) Done() <-chan struct{} { return t.done }

// Err is the outcome once Done is closed: nil when delivered.
func (t *Token) Err() error {
	<-t.done
	return t.err
}

// Endpoints lists, once Done is closed, the endpoints that took the message.
func (t *Token) Endpoints() []string {
	<-t.done
	return t.endpoints
}

// Wait blocks until the publish completed or ctx ended and returns its outcome.
func (t *Token) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return t.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PublishAsync starts a publish with the same delivery rules as Publish and returns at once.
// Messages published from one goroutine are sent in order. The outcome is reported by the
// Token and, when Config.DeliveryEvents is set, as an EventDelivery.
func (c *Cluster) PublishAsync(topic string, qos byte, retained bool, payload []byte) *Token {
	t := &Token{id: c.nextPublishID.Add(1), done: make(chan struct{})}
	req, err := c.newRequest(topic, qos, retained, payload)
	if err != nil {
		c.complete(t, topic, nil, err)
		return t
	}
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if closed {
		c.complete(t, topic, nil, ErrClosed)
		return t
	}
	// Hand the message to paho on the caller's goroutine so consecutive calls keep their order;
	// only the wait for the acknowledgement (and any failover) runs in the background.
	var first *inflight
	if !req.dropped && (c.cfg.PublisherType != All || req.target != nil) {
		if ep := c.pick(req); ep != nil {
			first = c.send(ep, req)
		}
	}
	go func() {
		defer c.wg.Done()
		eps, err := c.publish(context.Background(), req, first)
		c.complete(t, topic, eps, err)
	}()
	return t
}

func (c *Cluster) complete(t *Token, topic string, eps []string, err error) {
	t.endpoints, t.err = eps, err
	close(t.done)
	if c.cfg.DeliveryEvents {
		c.events.push(Event{Kind: EventDelivery, Time: time.Now(), Err: err,
			Delivery: &Delivery{ID: t.id, Topic: topic, Endpoints: eps, Err: err}})
	}
}

// inflight is a message handed to one endpoint's connection and not yet confirmed.
type inflight struct {
	ep  *endpoint
	cn  *connection
	tok mqtt.Token
}

// send hands req to ep's current connection; nil means ep is no longer live.
func (c *Cluster) send(ep *endpoint, req publishReq) *inflight {
	cn := ep.active.Load()
	if cn == nil {
		return nil
	}
	ep.published.Add(1)
	return &inflight{ep: ep, cn: cn, tok: cn.client.Publish(req.topic, req.qos, req.retained, req.payload)}
}

// errCallerDeadline marks a wait cut short by the caller, not by the endpoint.
var errCallerDeadline = errors.New("caller's deadline")

// confirm waits for f's acknowledgement. An endpoint that fails is moved to the dead list,
// unless only the caller's own deadline ran out.
func (c *Cluster) confirm(f *inflight, deadline time.Time) error {
	ackBy := time.Now().Add(c.cfg.AckTimeout)
	callerFirst := deadline.Before(ackBy)
	if callerFirst {
		ackBy = deadline
	}
	var err error
	select {
	case <-f.tok.Done():
		err = f.tok.Error()
	default:
		t := time.NewTimer(time.Until(ackBy))
		select {
		case <-f.tok.Done():
			err = f.tok.Error()
		case <-f.cn.lost:
			err = fmt.Errorf("connection lost before the acknowledgement: %w", f.cn.lostErr)
		case <-t.C:
			if callerFirst {
				err = errCallerDeadline
			} else {
				err = fmt.Errorf("no acknowledgement within %v", c.cfg.AckTimeout)
			}
		}
		t.Stop()
	}
	if err == nil {
		f.ep.acked.Add(1)
		return nil
	}
	f.ep.failed.Add(1)
	if err != errCallerDeadline {
		c.endpointFailed(f.cn, fmt.Errorf("publish failed: %w", err))
	}
	return err
}

// publish delivers req, starting from an already-sent attempt if there is one, failing over
// until an endpoint takes it or the deadline passes. It returns the endpoints that took it.
func (c *Cluster) publish(ctx context.Context, req publishReq, first *inflight) ([]string, error) {
	if req.dropped {
		return nil, nil
	}
	eps, err := c.deliver1(ctx, req, first)
	c.afterPublish(req, eps, err)
	return eps, err
}

// deliver1 is publish without the hooks and bridges that follow a delivery.
func (c *Cluster) deliver1(ctx context.Context, req publishReq, first *inflight) ([]string, error) {
	deadline := time.Now().Add(c.cfg.TimeToWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if c.cfg.PublisherType == All && req.target == nil {
		return c.publishAll(ctx, req, deadline)
	}
	var lastErr error
	for attempt := first; ; attempt = nil {
		if attempt == nil {
			ep := req.target
			if ep == nil {
				ep = c.pick(req)
			} else if ep.active.Load() == nil {
				return nil, fmt.Errorf("publish %q: endpoint %q is not live (%s): it takes no failover; publish without an endpoint name to use the whole cluster",
					req.topic, ep.name, c.endpointReason(ep))
			}
			if ep != nil {
				attempt = c.send(ep, req)
			}
		}
		if attempt != nil {
			err := c.confirm(attempt, deadline)
			if err == nil {
				return []string{attempt.ep.name}, nil
			}
			lastErr = err
			if err == errCallerDeadline || req.target != nil {
				break
			}
			attempt.ep.failovers.Add(1)
			c.log.Debug("publish failing over", "endpoint", attempt.ep.name, "topic", req.topic, "err", err)
			continue
		}
		// Nothing live: wait for the prober to revive an endpoint.
		wctx, cancel := context.WithDeadline(ctx, deadline)
		ok := c.waitChange(wctx, c.changedChan(), -1)
		cancel()
		if !ok || c.isClosed() {
			break
		}
	}
	if c.isClosed() {
		return nil, ErrClosed
	}
	if req.target != nil {
		return nil, fmt.Errorf("publish %q to endpoint %q: %w", req.topic, req.target.name, lastErr)
	}
	err := c.unreachableError(context.DeadlineExceeded)
	if lastErr != nil && lastErr != errCallerDeadline {
		err = fmt.Errorf("publish %q: %w (last attempt: %v)", req.topic, err, lastErr)
	} else {
		err = fmt.Errorf("publish %q: %w", req.topic, err)
	}
	return nil, err
}

// publishAll sends req to every live endpoint, retrying only while none has acknowledged.
func (c *Cluster) publishAll(ctx context.Context, req publishReq, deadline time.Time) ([]string, error) {
	var lastErr error
	for {
		live := *c.live.Load()
		if len(live) > 0 {
			sent := make([]*inflight, 0, len(live))
			for _, ep := range live {
				if f := c.send(ep, req); f != nil {
					sent = append(sent, f)
				}
			}
			errs := make([]error, len(sent))
			var wg sync.WaitGroup
			for i, f := range sent {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = c.confirm(f, deadline)
				}()
			}
			wg.Wait()
			var took []string
			for i, f := range sent {
				if errs[i] == nil {
					took = append(took, f.ep.name)
				} else {
					lastErr = errs[i]
				}
			}
			if len(took) > 0 {
				return took, nil
			}
			if lastErr == errCallerDeadline {
				break
			}
			continue
		}
		wctx, cancel := context.WithDeadline(ctx, deadline)
		ok := c.waitChange(wctx, c.changedChan(), -1)
		cancel()
		if !ok || c.isClosed() {
			break
		}
	}
	if c.isClosed() {
		return nil, ErrClosed
	}
	err := c.unreachableError(context.DeadlineExceeded)
	if lastErr != nil && lastErr != errCallerDeadline {
		return nil, fmt.Errorf("publish %q: %w (last attempt: %v)", req.topic, err, lastErr)
	}
	return nil, fmt.Errorf("publish %q: %w", req.topic, err)
}

func (c *Cluster) endpointReason(ep *endpoint) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ep.lastErr != nil {
		return ep.state.String() + ": " + ep.lastErr.Error()
	}
	return ep.state.String()
}

// pick chooses the endpoint for the next publish by the cluster's publisher type. Endpoints
// still warming up are used only when no other is live. It returns nil when none is live.
func (c *Cluster) pick(req publishReq) *endpoint {
	if req.target != nil {
		return req.target
	}
	live := *c.live.Load()
	if len(live) == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	warm := 0
	for _, ep := range live {
		if ep.warmUntil.Load() <= now {
			warm++
		}
	}
	nth := func(k int) *endpoint { // the k-th warm endpoint, or the k-th live one if none is warm
		for _, ep := range live {
			if warm == 0 || ep.warmUntil.Load() <= now {
				if k == 0 {
					return ep
				}
				k--
			}
		}
		return live[0]
	}
	n := warm
	if n == 0 {
		n = len(live)
	}
	switch c.cfg.PublisherType {
	case RoundRobin:
		return nth(int((c.rr.Add(1) - 1) % uint64(n)))
	case Random:
		return nth(rand.IntN(n))
	}
	// Sticky (and the endpoint All reports as "the" publisher).
	cur := c.sticky.Load()
	if cur != nil && cur.active.Load() != nil {
		return cur
	}
	var choice *endpoint
	for _, ep := range live {
		if c.isPrimary(ep) && ep.warmUntil.Load() <= now {
			choice = ep
		}
	}
	if choice == nil {
		if c.stickyChosen.Load() {
			choice = nth(0) // failover: the endpoint live longest
		} else {
			choice = nth(rand.IntN(n)) // first choice: spread publishers over the brokers
		}
	}
	c.stickyChosen.Store(true)
	c.sticky.CompareAndSwap(cur, choice)
	return choice
}
