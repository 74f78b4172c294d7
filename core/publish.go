package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// publishReq is one message on its way to the cluster.
type publishReq struct {
	topic    string
	qos      byte
	retained bool
	payload  []byte
	props    *Properties // MQTT 5 only
	// expires is when the message's MQTT 5 Message Expiry ends (zero: never): it is not sent
	// after that, and the broker gets the lifetime left.
	expires time.Time
	// stamp is the message id the engine adds as a user property (MQTT 5), the same for every
	// copy and every retry, so a dedup subscriber removes copies exactly.
	stamp   string
	target  *endpoint        // PublishTo or topic-base routing: this endpoint or nothing
	via     []*Cluster       // a bridged copy: the clusters it was forwarded from, which out-bridges skip
	losses  []lostConnection // the distinct connections lost in a row while it awaited its ack
	dropped bool             // a BeforePublish hook dropped it
}

// Publish sends a message through the cluster and blocks until it is delivered: for QoS 1
// and 2 until a broker acknowledged it, for QoS 0 until a live connection to one took it (its
// write buffer; no broker acknowledges QoS 0). An
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
//
// With an Outbox (Config.Outbox) a message of a QoS the outbox takes is stored first and
// sent through the asynchronous pipeline, in order with PublishAsync's messages; if no broker
// acknowledged it within the wait, the error wraps ErrStored: the outbox still holds it and
// sends it when a broker is live (do not publish it again). A full outbox is ErrOutboxFull.
func (c *Cluster) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	return c.PublishWith(ctx, topic, qos, retained, payload, nil)
}

// PublishWith is Publish with MQTT 5 properties (nil for none; a cluster speaking MQTT 3.1.1
// refuses any). The properties are copied: the caller may reuse them.
func (c *Cluster) PublishWith(ctx context.Context, topic string, qos byte, retained bool, payload []byte, props *Properties) error {
	if c.outbox != nil && c.outbox.takes(qos) {
		return c.publishStored(ctx, topic, qos, retained, payload, props)
	}
	req, err := c.newRequest(topic, qos, retained, payload, props)
	if err != nil {
		return err
	}
	_, err = c.publish(ctx, req)
	return err
}

// publishStored is Publish through the outbox: it waits for the broker's acknowledgement as
// long as Publish would, and otherwise leaves the message to the outbox.
func (c *Cluster) publishStored(ctx context.Context, topic string, qos byte, retained bool, payload []byte, props *Properties) error {
	t := c.newToken(tokenStored)
	if err := c.enqueueBy(t, topic, qos, retained, payload, props, c.deadline(ctx)); err != nil {
		c.abandon(t, err)
		return err
	}
	deadline := c.deadline(ctx)
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-t.done:
		return t.err
	case <-timer.C:
	case <-ctx.Done():
	case <-c.stop:
	}
	select {
	case <-t.done: // it ended meanwhile
		return t.err
	default:
	}
	return fmt.Errorf("publish %q: %w: no broker acknowledged it within the wait; it is sent, in order, when a broker is live",
		topic, ErrStored)
}

// PublishTo publishes to the named endpoint only, with no failover. It fails at once when the
// endpoint is unknown or not live.
func (c *Cluster) PublishTo(ctx context.Context, endpoint, topic string, qos byte, retained bool, payload []byte) error {
	return c.PublishToWith(ctx, endpoint, topic, qos, retained, payload, nil)
}

// PublishToWith is PublishTo with MQTT 5 properties (see PublishWith).
func (c *Cluster) PublishToWith(ctx context.Context, endpoint, topic string, qos byte, retained bool, payload []byte, props *Properties) error {
	req, err := c.newRequest(topic, qos, retained, payload, props)
	if err != nil {
		return err
	}
	if req.target, err = c.endpointByName(endpoint); err != nil {
		return err
	}
	_, err = c.publish(ctx, req)
	return err
}

func (c *Cluster) newRequest(topic string, qos byte, retained bool, payload []byte, props *Properties) (publishReq, error) {
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
	if c.cfg.Connection.ProtocolVersion == MQTT5 {
		if !props.empty() {
			if err := props.validate(); err != nil {
				return publishReq{}, fmt.Errorf("publish %q: %w", topic, err)
			}
			req.props = props.Clone()
			// 0 is sent as given and not counted here: it would end the message before it
			// could leave (MQTT 5 gives 0 no meaning of its own; brokers differ on it).
			if e := props.MessageExpiry; e != nil && *e > 0 {
				req.expires = time.Now().Add(time.Duration(*e) * time.Second)
			}
		}
		if c.stamps {
			req.stamp = c.nextStamp()
		}
	} else if !props.empty() {
		return publishReq{}, fmt.Errorf("publish %q: MQTT 5 properties cannot be sent: the cluster speaks MQTT 3.1.1 (set protocol version 5)", topic)
	}
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
	once      sync.Once
	err       error
	endpoints []string
	detached  bool // PublishDetached or a blocking Publish through the outbox: no EventDelivery
	// lossIsError (PublishDetached): any failure, a dropped or expired stored message too, is
	// an EventError, since the caller has no id to match a delivery event with.
	lossIsError bool
	success     ReasonCode // set before done is closed (see ReasonCode)

	// With an outbox: the stored message, and the cluster whose pipeline carries it now
	// (nil between clusters), both guarded by the outbox's lock.
	entry *outboxEntry
	c     *Cluster
}

// finish ends the publish with its outcome; false if it had ended already.
func (t *Token) finish(eps []string, err error) bool { return t.finishWith(eps, err, 0) }

// finishWith is finish with the broker's success reason code.
func (t *Token) finishWith(eps []string, err error, success ReasonCode) bool {
	first := false
	t.once.Do(func() {
		t.endpoints, t.err, t.success = eps, err, success
		if t.done != nil {
			close(t.done)
		}
		first = true
	})
	return first
}

// Stored reports whether the message is held by the cluster's outbox until a broker
// acknowledges it (so it survives outages, and with a disk outbox restarts). It is known
// when PublishAsync returns; a publish that failed at once was not stored.
func (t *Token) Stored() bool { return t.entry != nil }

// ID identifies the publish in the EventDelivery that reports it.
func (t *Token) ID() uint64 { return t.id }

// Done is closed when the publish completed.
func (t *Token) Done() <-chan struct{} { return t.done }

// Err is the outcome once Done is closed: nil when delivered.
func (t *Token) Err() error {
	<-t.done
	return t.err
}

// ReasonCode is, once Done is closed and the publish succeeded, the success reason code an
// MQTT 5 broker acknowledged it with: ReasonNoMatchingSubscribers (0x10) when no subscription
// matched, else 0 (also under MQTT 3.1.1). A message that had to be sent again after a failover
// reports 0.
func (t *Token) ReasonCode() ReasonCode {
	<-t.done
	return t.success
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

// PublishAsync starts a publish with the same delivery rules as Publish and returns at once,
// without waiting for the network: the message joins the cluster's send queue, which one
// goroutine hands to paho in order, so messages published through one cluster keep their
// order (failover aside). At most MaxInflight asynchronous publishes wait for their
// acknowledgement at a time; the queue in front of them is unbounded (with an Outbox it is the
// outbox, bounded as configured, and PublishAsync returns once the message is stored; it then
// waits for a live broker for as long as it takes, or until its expiry). The outcome is reported
// by the Token and, when Config.DeliveryEvents is set, as an EventDelivery: for QoS 0 once the
// connection's writer took the message, for QoS 1 and 2 on the broker's acknowledgement.
func (c *Cluster) PublishAsync(topic string, qos byte, retained bool, payload []byte) *Token {
	return c.PublishAsyncWith(topic, qos, retained, payload, nil)
}

// PublishAsyncWith is PublishAsync with MQTT 5 properties (see PublishWith).
func (c *Cluster) PublishAsyncWith(topic string, qos byte, retained bool, payload []byte, props *Properties) *Token {
	t := c.newToken(tokenAsync)
	if err := c.enqueue(t, topic, qos, retained, payload, props); err != nil {
		c.complete(t, topic, nil, err)
	}
	return t
}

// PublishDetached starts a publish like PublishAsync (same delivery rules, same order) and
// reports only its failure, once: no Token, no EventDelivery whatever DeliveryEvents says.
// A request refused at once (invalid, ErrClosed, or ErrOutboxFull from an outbox with the
// refuse policy) is the returned error and nothing else; a publish accepted and then lost (no
// endpoint took it within TimeToWait, or an outbox dropped or expired it) is an EventError,
// not when Close ended it. Flush waits for detached publishes too. It serves callers that
// would throw a success away, such as MQTT.js's publish without a callback.
func (c *Cluster) PublishDetached(topic string, qos byte, retained bool, payload []byte) error {
	return c.PublishDetachedWith(topic, qos, retained, payload, nil)
}

// PublishDetachedWith is PublishDetached with MQTT 5 properties (see PublishWith).
func (c *Cluster) PublishDetachedWith(topic string, qos byte, retained bool, payload []byte, props *Properties) error {
	t := c.newToken(tokenDetached)
	err := c.enqueue(t, topic, qos, retained, payload, props)
	if err != nil {
		c.abandon(t, err) // the returned error is the report: no event repeats it
	}
	return err
}

// Flush waits until no asynchronous publish (PublishAsync or PublishDetached) is
// outstanding: each was acknowledged, written (QoS 0) or failed. Publishes started meanwhile
// by other goroutines count too. It returns ctx's error if ctx ends first.
func (c *Cluster) Flush(ctx context.Context) error {
	c.idleMu.Lock()
	if c.outstanding.Load() == 0 {
		c.idleMu.Unlock()
		return nil
	}
	idle := make(chan struct{})
	c.idleWaiters = append(c.idleWaiters, idle)
	c.idleMu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The kinds of token: what reports a publish's outcome.
const (
	tokenAsync    = iota // PublishAsync: the Token, and an EventDelivery if asked
	tokenStored          // a blocking Publish through the outbox: it waits on the Token
	tokenDetached        // PublishDetached: an EventError on failure, nothing else
)

func (c *Cluster) newToken(kind int) *Token {
	c.outstanding.Add(1)
	id := uint64(0)
	if c.outbox != nil {
		// One id space with the outbox's sequence numbers, which outlive this cluster.
		id = c.outbox.nextSeq.Add(1) - 1
	} else {
		id = c.nextPublishID.Add(1)
	}
	t := &Token{id: id, detached: kind != tokenAsync, lossIsError: kind == tokenDetached}
	if kind != tokenDetached { // nobody holds a detached publish's Token to wait on
		t.done = make(chan struct{})
	}
	return t
}

// enqueue validates the request and queues it for the sender.
func (c *Cluster) enqueue(t *Token, topic string, qos byte, retained bool, payload []byte, props *Properties) error {
	return c.enqueueBy(t, topic, qos, retained, payload, props, time.Now().Add(c.cfg.TimeToWait))
}

// enqueueBy is enqueue for a caller whose wait ends at waitBy: a full outbox with the block
// policy waits for room until then.
func (c *Cluster) enqueueBy(t *Token, topic string, qos byte, retained bool, payload []byte, props *Properties, waitBy time.Time) error {
	req, err := c.newRequest(topic, qos, retained, payload, props)
	if err != nil {
		return err
	}
	if c.outbox != nil && c.outbox.takes(req.qos) && !req.dropped && !c.qos0PassesOutbox(req.qos) {
		t.c = c
		queued := false
		err := c.outbox.store(req, t, waitBy, func(e *outboxEntry) {
			queued = c.pushPipeline(&asyncPub{t: t, req: req, deadline: e.deadline()})
		})
		if err == nil && !queued {
			c.complete(t, req.topic, nil, ErrClosed) // closing: it stays in the outbox
		}
		return err
	}
	deadline := time.Now().Add(c.cfg.TimeToWait)
	if !req.expires.IsZero() && req.expires.Before(deadline) {
		deadline = req.expires
	}
	if !c.pushPipeline(&asyncPub{t: t, req: req, deadline: deadline}) {
		return ErrClosed
	}
	return nil
}

// qos0PassesOutbox reports whether a QoS 0 message goes to the sender without being stored:
// while a broker is live and nothing stored waits ahead of it. The outbox keeps QoS 0
// messages (OutboxConfig.QoS0) for outages; storing one that is sent at once would cost every
// message and promise nothing more, as QoS 0 is at most once.
func (c *Cluster) qos0PassesOutbox(qos byte) bool {
	return qos == 0 && len(*c.live.Load()) > 0 && c.outbox.empty()
}

// pushPipeline queues p for the sender; false once the cluster is closing.
func (c *Cluster) pushPipeline(p *asyncPub) bool {
	c.sendQ.mu.Lock()
	if c.sendQ.closed {
		c.sendQ.mu.Unlock()
		return false
	}
	c.sendQ.items = append(c.sendQ.items, p)
	c.sendQ.mu.Unlock()
	c.startPipeline.Do(c.runPipeline)
	select {
	case c.sendQ.wake <- struct{}{}:
	default:
	}
	return true
}

// takeOutbox makes c the user of its outbox and queues what the outbox holds, oldest first,
// ahead of anything published through c.
func (c *Cluster) takeOutbox() error {
	held, err := c.outbox.attach(c)
	if err != nil {
		return err
	}
	for _, e := range held {
		c.outstanding.Add(1)
		e.req.target = c.routeByTopicBase(e.req.topic)
		if !c.pushPipeline(&asyncPub{t: e.t, req: e.req, deadline: e.deadline()}) {
			break
		}
	}
	return nil
}

// abandon ends a publish that failed before it was queued; the caller returns the error.
func (c *Cluster) abandon(t *Token, err error) {
	t.finish(nil, err)
	c.releaseOutstanding()
}

// asyncPub is one asynchronous publish on its way through the pipeline.
type asyncPub struct {
	t        *Token
	req      publishReq
	fs       []*inflight // one per endpoint it was handed to (several with All)
	deadline time.Time
	success  ReasonCode // the first success reason code of the copies acknowledged
}

// sendQueue is the FIFO between PublishAsync and the sender goroutine.
type sendQueue struct {
	mu     sync.Mutex
	items  []*asyncPub
	closed bool
	wake   chan struct{}
}

// runPipeline starts the two goroutines of the asynchronous path: the sender hands messages
// to paho in order; the confirmer waits for their acknowledgements in the same order (acks
// come back in order on one connection, so waiting on the oldest costs nothing) and sends a
// failed message on to the slow path, where it fails over like a blocking Publish.
func (c *Cluster) runPipeline() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	sent := make(chan *asyncPub, c.cfg.MaxInflight)
	c.wg.Add(2)
	go c.sender(sent)
	go c.confirmer(sent)
}

func (c *Cluster) sender(sent chan<- *asyncPub) {
	defer c.wg.Done()
	defer close(sent)
	var batch []*asyncPub
	var last []*connection // the connections the previous message went to
	for {
		c.sendQ.mu.Lock()
		batch, c.sendQ.items = c.sendQ.items, batch[:0]
		c.sendQ.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-c.sendQ.wake:
				continue
			case <-c.stop:
				c.failQueued()
				return
			}
		}
		for i, p := range batch {
			batch[i] = nil
			if e := p.t.entry; e != nil && !e.state.CompareAndSwap(entryQueued, entrySending) {
				continue // dropped from the outbox meanwhile; its publish has ended
			}
			if p.req.dropped {
				c.complete(p.t, p.req.topic, nil, nil)
				continue
			}
			if !c.handOver(p, &last) {
				err := ErrClosed
				if !c.isClosed() {
					err = c.publishFailed(p.req, nil)
					if p.t.entry != nil {
						err = expiredError(p.req.topic)
					}
				}
				c.complete(p.t, p.req.topic, nil, err)
				continue
			}
			if p.req.qos == 0 && len(p.fs) == 1 && c.handedOver(p) {
				continue
			}
			c.pipeInflight.Add(1)
			select {
			case sent <- p: // blocks while MaxInflight publishes await their acks
			case <-c.stop:
				c.pipeInflight.Add(-1)
				c.complete(p.t, p.req.topic, nil, ErrClosed)
			}
		}
	}
}

// handOver hands p to the endpoint(s) its publisher type chooses, waiting (in order: what
// follows p waits too) until one is live and warm, up to p's deadline. False when the
// deadline passed or the cluster closed first.
//
// A Sticky or All stream keeps its order across failovers and outages: before a message goes
// to other connections than the message before it, every earlier message has been
// acknowledged or re-sent, in order, by the confirmer, so a broker receives the re-sent
// messages before any later one.
func (c *Cluster) handOver(p *asyncPub, last *[]*connection) bool {
	for {
		changed := c.changedChan() // before looking: see deliverWithFailover
		var targets []*endpoint
		if c.cfg.PublisherType == All && p.req.target == nil {
			targets = c.allTargets(p.req)
		} else if ep := c.pick(p.req); ep != nil {
			targets = []*endpoint{ep}
		}
		if ordered := c.cfg.PublisherType == Sticky || c.cfg.PublisherType == All; ordered && p.req.target == nil &&
			len(targets) > 0 && c.pipeInflight.Load() > 0 && !sameConnections(targets, *last) {
			if !c.awaitPipelineDrained() {
				return false
			}
			continue // the endpoints may have changed meanwhile
		}
		for _, ep := range targets {
			if f := c.send(ep, p.req); f != nil {
				p.fs = append(p.fs, f)
			}
		}
		if len(p.fs) > 0 {
			*last = (*last)[:0]
			for _, f := range p.fs {
				*last = append(*last, f.cn)
			}
			return true
		}
		ctx, cancel := context.WithDeadline(context.Background(), p.deadline)
		ok := c.waitForLive(ctx, changed, p.deadline)
		cancel()
		if !ok {
			return false
		}
	}
}

// sameConnections reports whether targets are exactly the endpoints whose connections are last.
func sameConnections(targets []*endpoint, last []*connection) bool {
	if len(targets) != len(last) {
		return false
	}
	for i, ep := range targets {
		if ep.active.Load() != last[i] {
			return false
		}
	}
	return true
}

// awaitPipelineDrained waits until the confirmer has settled every message handed over;
// false if the cluster closed first.
func (c *Cluster) awaitPipelineDrained() bool {
	for c.pipeInflight.Load() > 0 {
		select {
		case <-c.pipeDrained:
		case <-c.stop:
			return false
		}
	}
	return true
}

// handedOver completes an asynchronous QoS 0 publish as soon as paho's writer has taken it:
// QoS 0 has no acknowledgement to wait for, and waiting for the write itself would only add a
// goroutine hop per message. A publish paho refused at once goes on like any failure.
func (c *Cluster) handedOver(p *asyncPub) bool {
	f := p.fs[0]
	select {
	case <-f.tok.Done():
		if f.tok.Error() != nil {
			return false // the confirmer sees the error and fails over
		}
	case <-f.cn.lost:
		return false
	default:
	}
	f.ep.acked.Add(1)
	eps := []string{f.ep.name}
	c.afterPublish(p.req, eps, nil)
	c.complete(p.t, p.req.topic, eps, nil)
	return true
}

// failQueued completes every publish still queued once the cluster is closing.
func (c *Cluster) failQueued() {
	c.sendQ.mu.Lock()
	items := c.sendQ.items
	c.sendQ.items, c.sendQ.closed = nil, true
	c.sendQ.mu.Unlock()
	for _, p := range items {
		c.complete(p.t, p.req.topic, nil, ErrClosed)
	}
}

func (c *Cluster) confirmer(sent <-chan *asyncPub) {
	defer c.wg.Done()
	for p := range sent {
		eps, err := c.settle(p)
		if err == nil {
			c.afterPublish(p.req, eps, nil)
		}
		c.completeWith(p.t, p.req.topic, eps, err, p.success)
		if c.pipeInflight.Add(-1) == 0 {
			select {
			case c.pipeDrained <- struct{}{}:
			default:
			}
		}
	}
}

// settle waits for the acknowledgements of p and, if they fall short, delivers it like a
// blocking Publish (failing over, or to more brokers for All's quorum). It runs on the
// confirmer, in order, so re-sent messages keep the order they were published in.
func (c *Cluster) settle(p *asyncPub) ([]string, error) {
	eps, err := c.settleOnce(p)
	if p.t.entry == nil {
		return eps, err
	}
	// A stored message waits out a total outage: it is not failed for want of a broker.
	for err != nil && errors.Is(err, ErrNoEndpoints) && !c.isClosed() {
		if !time.Now().Before(p.deadline) {
			return nil, expiredError(p.req.topic)
		}
		eps, err = c.redeliver(p, nil, nil)
	}
	return eps, err
}

func expiredError(topic string) error {
	return fmt.Errorf("publish %q: %w", topic, ErrExpired)
}

// settleOnce is settle's first round: the acknowledgements of what the sender handed over,
// then failover within one TimeToWait.
func (c *Cluster) settleOnce(p *asyncPub) ([]string, error) {
	var took []string
	var lastErr error
	// In order, each copy: acknowledgements come back in order on one connection, so waiting
	// on the oldest costs nothing, and every copy's bookkeeping is done here.
	for _, f := range p.fs {
		if err := c.confirm(f, p.deadline); err == nil {
			took = append(took, f.ep.name)
			if p.success == 0 {
				p.success = ackReason(f.tok)
			}
		} else {
			lastErr = err
		}
	}
	all := c.cfg.PublisherType == All && p.req.target == nil
	if all && len(took) > 0 && len(took) >= c.quorum(len(took)+c.liveWarmCount(p.req, took)) {
		return took, nil
	}
	if !all && len(took) > 0 {
		return took, nil
	}
	if lastErr == errCallerDeadline {
		return nil, c.publishFailed(p.req, lastErr)
	}
	if messageFinal(lastErr) && (!all || len(p.fs) >= len(*c.live.Load())) {
		return nil, fmt.Errorf("publish %q: %w", p.req.topic, lastErr)
	}
	for _, f := range p.fs {
		f.ep.failovers.Add(1)
	}
	return c.redeliver(p, took, lastErr)
}

// redeliver delivers p like a blocking Publish (failing over, or to more brokers for All's
// quorum) after the brokers it was handed to fell short.
func (c *Cluster) redeliver(p *asyncPub, took []string, lastErr error) ([]string, error) {
	ctx, cancel := context.WithDeadline(context.Background(), p.deadline)
	defer cancel()
	if c.cfg.PublisherType == All && p.req.target == nil {
		return c.deliverToAll(ctx, p.req, p.deadline, took, nil)
	}
	req := p.req
	if _, lost := lastErr.(*lostBeforeAck); lost {
		req.losses = []lostConnection{{p.fs[0].cn, time.Now()}}
	}
	return c.deliverWithFailover(ctx, req)
}

func (c *Cluster) complete(t *Token, topic string, eps []string, err error) {
	c.completeWith(t, topic, eps, err, 0)
}

// completeWith ends t's publish with its outcome (success: the broker's success reason code)
// and reports it as its kind of token asks.
func (c *Cluster) completeWith(t *Token, topic string, eps []string, err error, success ReasonCode) {
	if t.entry != nil && c.outbox != nil {
		if errors.Is(err, ErrClosed) && c.isClosed() {
			// Not an outcome: the message stays in the outbox for the next cluster.
			c.outbox.letGo(t)
			c.releaseOutstanding()
			return
		}
		c.outbox.resolve(t.entry, err)
	}
	if !t.finishWith(eps, err, success) {
		c.releaseOutstanding()
		return
	}
	lost := err != nil && !errors.Is(err, ErrClosed) // closing was the caller's wish
	storedLoss := errors.Is(err, ErrDropped) || errors.Is(err, ErrExpired)
	switch {
	case t.detached && lost && (t.lossIsError || !storedLoss):
		// Nobody waits for the outcome, but a loss must not go unseen.
		c.log.Warn("detached publish failed", "topic", topic, "err", err)
		c.events.push(Event{Kind: EventError, Time: time.Now(), Err: fmt.Errorf("publish %q (detached): %w", topic, err)})
	case t.detached && !storedLoss, t.lossIsError:
	case storedLoss:
		// The outbox gave up on a stored message: always reported, whoever waits (a blocking
		// Publish that returned ErrStored left it to this report).
		c.log.Warn("stored message not delivered", "topic", topic, "err", err)
		c.events.push(Event{Kind: EventDelivery, Time: time.Now(), Err: err,
			Delivery: &Delivery{ID: t.id, Topic: topic, Err: err}})
	case c.cfg.DeliveryEvents:
		c.events.push(Event{Kind: EventDelivery, Time: time.Now(), Err: err,
			Delivery: &Delivery{ID: t.id, Topic: topic, Endpoints: eps, Err: err, ReasonCode: t.success}})
	}
	c.releaseOutstanding()
}

// releaseOutstanding counts one asynchronous publish as no longer this cluster's and wakes
// Flush when none is left.
func (c *Cluster) releaseOutstanding() {
	if c.outstanding.Add(-1) == 0 {
		c.idleMu.Lock()
		if c.outstanding.Load() == 0 {
			for _, w := range c.idleWaiters {
				close(w)
			}
			c.idleWaiters = nil
		}
		c.idleMu.Unlock()
	}
}

// inflight is a message handed to one endpoint's connection and not yet confirmed.
type inflight struct {
	ep  *endpoint
	cn  *connection
	tok ackToken
	qos byte // 1 and 2 count in cn.awaitingAcks, 2 holds one of cn's QoS 2 slots
}

// send hands req to ep's current connection; nil means ep is no longer live.
func (c *Cluster) send(ep *endpoint, req publishReq) *inflight {
	cn := ep.active.Load()
	if cn == nil || cn.isLost() {
		// A connection is seen lost a moment before its endpoint stops offering it; sending on
		// it would only fail again at once (and count its one loss many times).
		return nil
	}
	if req.qos == 2 && cn.qos2Slots != nil {
		// Mosquitto acknowledges and silently drops the QoS 1 and 2 messages an MQTT 3.1.1
		// client sends while its QoS 2 messages awaiting PUBREL fill max_inflight_messages (20
		// by default): a 3.1.1 client cannot be told. So at most MaxInflightQoS2 (one less)
		// wait for their PUBCOMP on one connection.
		select {
		case cn.qos2Slots <- struct{}{}:
		case <-cn.lost:
			return nil
		}
	}
	ep.published.Add(1)
	tok := cn.sess.publish(cn, req)
	if req.qos > 0 && cn.qos2Slots == nil {
		// MQTT 5: the session bounds what awaits an acknowledgement; nothing to release here.
		return &inflight{ep: ep, cn: cn, tok: tok}
	}
	return &inflight{ep: ep, cn: cn, tok: tok, qos: req.qos}
}

// release ends f's claim on its connection (its QoS 2 slot, its place in awaitingAcks) once
// the broker is done with the message, or the connection is.
func (f *inflight) release(waitForBroker bool) {
	if f.qos == 0 {
		return
	}
	done := func() {
		if f.qos == 2 {
			<-f.cn.qos2Slots
		}
		f.cn.awaitingAcks.Add(-1)
	}
	if !waitForBroker {
		done()
		return
	}
	go func() { // the caller gave up, the broker has not: keep the claim until it answers
		select {
		case <-f.tok.Done():
		case <-f.cn.link.lost:
		}
		done()
	}()
}

// lostBeforeAck is the failure of a message whose connection was lost while it awaited its
// acknowledgement.
type lostBeforeAck struct{ cause error }

func (e *lostBeforeAck) Error() string {
	return "connection lost before the acknowledgement: " + e.cause.Error()
}
func (e *lostBeforeAck) Unwrap() error { return e.cause }

// maxLossesPerMessage is how many connections may be lost in a row while one message awaits
// its acknowledgement before it is failed alone as one that brokers refuse: a broker that
// closes the connection for a message (too large for its limits, a topic it rejects) would
// otherwise get it again on every reconnect, and the publisher would never move on. A
// message caught in ordinary broker deaths sees one loss, rarely two.
const maxLossesPerMessage = 3

// lostConnection is a connection lost while a message awaited its acknowledgement on it, and
// when that was seen.
type lostConnection struct {
	cn *connection
	at time.Time
}

// addLoss records that cn was lost while a message awaited its acknowledgement on it; each
// connection counts once, however many attempts it failed.
func addLoss(losses []lostConnection, cn *connection) []lostConnection {
	for _, l := range losses {
		if l.cn == cn {
			return losses
		}
	}
	return append(losses, lostConnection{cn, time.Now()})
}

// lossJudgeWait bounds how long a message's losses wait for the dials that tell a broker that
// dropped the connection from one that died.
const lossJudgeWait = 2 * time.Second

// lossesToRunningBrokers keeps, of req's losses, those whose broker was still running after
// it (it dropped the connection: the message may be at fault), and drops those whose broker
// had died (a crash, a total outage: not the message's doing, however many die at once). A
// broker's fate is the outcome of the prober's next dial (made within judgeDelay of the loss)
// or a new connection; it waits up to lossJudgeWait for them, within deadline. A loss still
// unjudged then does not count: a message is failed as refused only on evidence.
func (c *Cluster) lossesToRunningBrokers(ctx context.Context, req *publishReq, deadline time.Time) []lostConnection {
	judgeBy := time.Now().Add(lossJudgeWait)
	if deadline.Before(judgeBy) {
		judgeBy = deadline
	}
	for {
		changed := c.changedChan()
		var running []lostConnection
		pending := 0
		c.mu.Lock()
		for _, l := range req.losses {
			ep := l.cn.ep
			cur := ep.active.Load()
			switch {
			case (cur != nil && cur != l.cn) || (ep.dialedAt.After(l.at) && ep.reachable):
				running = append(running, l)
			case ep.dialedAt.After(l.at) || ep.state == StateRemoved:
				// died: not the message's doing
			default:
				pending++
			}
		}
		c.mu.Unlock()
		if pending == 0 || !time.Now().Before(judgeBy) {
			req.losses = running
			return running
		}
		wctx, cancel := context.WithDeadline(ctx, judgeBy)
		c.waitChange(wctx, changed, 20*time.Millisecond)
		cancel()
	}
}

// ErrMessageRefused is wrapped by the error of a publish whose connection was lost
// maxLossesPerMessage times in a row while it awaited its acknowledgement.
var ErrMessageRefused = errors.New("brokers keep closing the connection on this message")

// lossOr tells a token that paho failed because its connection went away (paho's error has no
// type) from other failures: such a failure is a lostBeforeAck once the connection is seen lost.
func (f *inflight) lossOr(err error) error {
	if err == nil {
		return nil
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-f.cn.lost:
		return &lostBeforeAck{f.cn.lostErr}
	case <-t.C:
		return err
	}
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
		err = f.lossOr(f.tok.Error())
	default:
		t := time.NewTimer(time.Until(ackBy))
		select {
		case <-f.tok.Done():
			err = f.lossOr(f.tok.Error())
		case <-f.cn.lost:
			err = &lostBeforeAck{f.cn.lostErr}
		case <-t.C:
			if callerFirst {
				err = errCallerDeadline
			} else {
				err = fmt.Errorf("no acknowledgement within %v", c.cfg.AckTimeout)
			}
		}
		t.Stop()
	}
	f.release(err == errCallerDeadline)
	if err == nil {
		f.ep.acked.Add(1)
		return nil
	}
	f.ep.failed.Add(1)
	if messageFinal(err) {
		return err // the broker is well: it refused this message, or the message expired
	}
	if err != errCallerDeadline {
		c.endpointFailed(f.cn, fmt.Errorf("publish failed: %w", err))
	}
	return err
}

// messageFinal reports whether err ends this message's delivery wherever it would go: a
// broker refused it (refusedMessage), or its MQTT 5 lifetime ended before a broker took it.
func messageFinal(err error) bool {
	return refusedMessage(err) != nil || errors.Is(err, ErrExpired)
}

// refusedMessage returns the broker's reason code when err is its refusal of this one message
// (an MQTT 5 PUBACK or PUBREC failure, or a limit its CONNACK set). Such a message is not
// sent elsewhere: another broker of the cluster would apply the same rule, and the
// application decides (a quota refusal is not a dead broker either).
func refusedMessage(err error) *ReasonError {
	if err == nil {
		return nil
	}
	if _, lost := err.(*lostBeforeAck); lost {
		return nil
	}
	var r *ReasonError
	if errors.As(err, &r) && r.Packet != "DISCONNECT" {
		return r
	}
	return nil
}

// publish delivers req, failing over until an endpoint takes it or the deadline passes, then
// runs the after-publish hooks and out-bridges. It returns the endpoints that took it.
func (c *Cluster) publish(ctx context.Context, req publishReq) ([]string, error) {
	if req.dropped {
		return nil, nil
	}
	eps, err := c.deliverWithFailover(ctx, req)
	c.afterPublish(req, eps, err)
	return eps, err
}

// deliverWithFailover is publish without what follows a delivery.
func (c *Cluster) deliverWithFailover(ctx context.Context, req publishReq) ([]string, error) {
	deadline := c.deadline(ctx)
	if c.cfg.PublisherType == All && req.target == nil {
		return c.deliverToAll(ctx, req, deadline, nil, nil)
	}
	var lastErr error
	for {
		// Taken before looking for a live endpoint: one that comes up between the look and the
		// wait then ends the wait at once instead of being missed until the deadline.
		changed := c.changedChan()
		ep := req.target
		if ep == nil {
			ep = c.pick(req)
		} else if ep.active.Load() == nil {
			return nil, fmt.Errorf("publish %q: endpoint %q is not live (%s): it takes no failover; publish without an endpoint name to use the whole cluster",
				req.topic, ep.name, c.endpointReason(ep))
		}
		var attempt *inflight
		if ep != nil {
			attempt = c.send(ep, req)
		}
		if attempt != nil {
			err := c.confirm(attempt, deadline)
			if err == nil {
				return []string{attempt.ep.name}, nil
			}
			lastErr = err
			if messageFinal(err) {
				return nil, fmt.Errorf("publish %q: %w", req.topic, err)
			}
			if _, lost := err.(*lostBeforeAck); !lost {
				req.losses = nil
			} else if req.losses = addLoss(req.losses, attempt.cn); len(req.losses) >= maxLossesPerMessage &&
				len(c.lossesToRunningBrokers(ctx, &req, deadline)) >= maxLossesPerMessage {
				c.forgiveDrops(req.losses)
				return nil, fmt.Errorf("publish %q: %w: the connection was lost %d times in a row while it awaited its acknowledgement (last: %v); check the broker's limits (message size, topic rules)",
					req.topic, ErrMessageRefused, len(req.losses), err)
			}
			if err == errCallerDeadline || req.target != nil {
				break
			}
			attempt.ep.failovers.Add(1)
			c.log.Debug("publish failing over", "endpoint", attempt.ep.name, "topic", req.topic, "err", err)
			continue
		}
		if !c.waitForLive(ctx, changed, deadline) {
			break
		}
	}
	if req.target != nil && !c.isClosed() {
		return nil, fmt.Errorf("publish %q to endpoint %q: %w", req.topic, req.target.name, lastErr)
	}
	return nil, c.publishFailed(req, lastErr)
}

// waitForLive waits until changed (taken before the caller looked for a live endpoint) is
// closed by a change of an endpoint's state (a revival, hopefully); false once the deadline
// passed, ctx ended or the cluster closed.
func (c *Cluster) waitForLive(ctx context.Context, changed chan struct{}, deadline time.Time) bool {
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return c.waitChange(wctx, changed, -1) && !c.isClosed()
}

// publishFailed is the error for a message no endpoint took: every endpoint and why it
// failed, and the last attempt's own error.
func (c *Cluster) publishFailed(req publishReq, lastErr error) error {
	if c.isClosed() {
		return ErrClosed
	}
	err := c.unreachableError(context.DeadlineExceeded)
	if lastErr != nil && lastErr != errCallerDeadline {
		return fmt.Errorf("publish %q: %w (last attempt: %v)", req.topic, err, lastErr)
	}
	return fmt.Errorf("publish %q: %w", req.topic, err)
}

// deliverToAll sends req to every live, warm endpoint and returns once AckQuorum of them
// acknowledged it (or every one answered), re-sending to endpoints that have not
// acknowledged it yet, until the deadline, while the quorum is short. sent are copies already
// handed over and took the endpoints that already acknowledged it. The quorum counts the endpoints that acknowledged and those
// live now, so it shrinks with the cluster: a message that one broker acknowledged while the
// others died counts as delivered. Acknowledgements still due when the quorum is met are
// waited for in the background (a broker that fails to give one is still marked dead).
func (c *Cluster) deliverToAll(ctx context.Context, req publishReq, deadline time.Time, took []string, sent []*inflight) ([]string, error) {
	var lastErr error
	var tried []*endpoint // every endpoint given a copy here: none gets two
	for _, f := range sent {
		tried = append(tried, f.ep)
	}
	for {
		changed := c.changedChan() // before looking: see deliverWithFailover
		for _, ep := range c.allTargets(req) {
			if slices.Contains(took, ep.name) || slices.Contains(tried, ep) {
				continue
			}
			if f := c.send(ep, req); f != nil {
				sent = append(sent, f)
				tried = append(tried, ep)
			}
		}
		if len(sent) > 0 {
			var errs []error
			need := c.quorum(len(took) + len(sent))
			if c.cfg.AckQuorum == 0 {
				need = len(took) + len(sent) // every copy answered, as padogrid's All
			}
			took, errs = c.collectAcks(sent, deadline, need, took)
			sent = nil
			refusals := 0
			for _, err := range errs {
				lastErr = err
				if messageFinal(err) {
					refusals++
				}
			}
			if len(took) == 0 && refusals == len(tried) {
				return nil, fmt.Errorf("publish %q: %w", req.topic, lastErr)
			}
			if len(took) > 0 && len(took) >= c.quorum(len(took)+c.liveWarmCount(req, took)) {
				return took, nil
			}
			if lastErr == errCallerDeadline {
				break
			}
			continue
		}
		if len(took) > 0 && len(took) >= c.quorum(len(took)) {
			return took, nil
		}
		if !c.waitForLive(ctx, changed, deadline) {
			break
		}
	}
	if len(took) > 0 {
		return took, fmt.Errorf("publish %q: acknowledged by %s only, fewer than the ackQuorum of %d: %w",
			req.topic, strings.Join(took, ", "), c.cfg.AckQuorum, ErrQuorumNotMet)
	}
	return nil, c.publishFailed(req, lastErr)
}

// collectAcks waits for the acknowledgements of sent until `need` endpoints (counting those
// in took) acknowledged, or every copy was answered. It returns took with the new
// acknowledgers and the errors seen; the copies not answered yet are confirmed in the
// background.
func (c *Cluster) collectAcks(sent []*inflight, deadline time.Time, need int, took []string) ([]string, []error) {
	type result struct {
		f   *inflight
		err error
	}
	if len(sent) == 1 { // no goroutine for the common single copy
		if err := c.confirm(sent[0], deadline); err != nil {
			return took, []error{err}
		}
		return append(took, sent[0].ep.name), nil
	}
	results := make(chan result, len(sent))
	c.wg.Add(len(sent))
	for _, f := range sent {
		go func() {
			defer c.wg.Done()
			results <- result{f, c.confirm(f, deadline)}
		}()
	}
	var errs []error
	for range sent {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		took = append(took, r.f.ep.name)
		if len(took) >= need {
			break
		}
	}
	return took, errs
}

// liveWarmCount is how many endpoints an All publish could still go to, besides took.
func (c *Cluster) liveWarmCount(req publishReq, took []string) int {
	live := *c.live.Load()
	now := time.Now().UnixNano()
	warm, untaken, untakenWarm := 0, 0, 0
	for _, ep := range live {
		isWarm := ep.warmUntil.Load() <= now
		taken := slices.Contains(took, ep.name)
		if isWarm {
			warm++
		}
		if !taken {
			untaken++
			if isWarm {
				untakenWarm++
			}
		}
	}
	if warm == 0 && req.qos == 0 { // as allTargets: QoS 0 takes warming endpoints then
		return untaken
	}
	return untakenWarm
}

// quorum is how many acknowledgements an All publish needs when n endpoints acknowledged it
// or are live and warm. AckQuorum 0 (the default) needs one, like 1, but waits for every
// copy's answer before returning, as padogrid's All does.
func (c *Cluster) quorum(n int) int {
	switch k := c.cfg.AckQuorum; {
	case k == -1:
		return max(n, 1)
	case k <= 1:
		return 1
	default:
		return max(min(k, n), 1)
	}
}

// allTargets are the endpoints an All publish goes to: the live ones past their warm-up; if
// every live endpoint is still warming up, all of them for QoS 0 and none for QoS 1 and 2
// (which wait, as with pick).
func (c *Cluster) allTargets(req publishReq) []*endpoint {
	live := *c.live.Load()
	now := time.Now().UnixNano()
	warm := make([]*endpoint, 0, len(live))
	for _, ep := range live {
		if ep.warmUntil.Load() <= now {
			warm = append(warm, ep)
		}
	}
	if len(warm) == 0 && req.qos == 0 {
		return live
	}
	return warm
}

func (c *Cluster) endpointReason(ep *endpoint) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ep.lastErr != nil {
		return ep.state.String() + ": " + ep.lastErr.Error()
	}
	return ep.state.String()
}

// pick chooses the endpoint for the next publish by the cluster's publisher type, among the
// live endpoints past their warm-up. When every live endpoint is still warming up (after a
// total outage), a QoS 0 publish takes one of them, and a QoS 1 or 2 publish gets nil: it
// waits for the warm-up (within its deadline) rather than reach a broker that subscribers
// cannot be back on yet. It returns nil when none is live.
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
	if warm == 0 && req.qos > 0 {
		return nil
	}
	usable := func(ep *endpoint) bool { return warm == 0 || ep.warmUntil.Load() <= now }
	nth := func(k int) *endpoint { // the k-th usable endpoint
		for _, ep := range live {
			if usable(ep) {
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
	if cur != nil && cur.active.Load() != nil && usable(cur) {
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
