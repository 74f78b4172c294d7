package core

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// The prober: how dead endpoints come back, and what it costs the brokers.
//
// Politeness is spent only where it costs a broker something. A dial that is refused or
// unanswered costs the broker nothing (it is down, or the network is), so a dead endpoint's
// listener is dialled again every ProbeInterval, jittered, within ProbeRate dials a second for
// the cluster (and maxProcessProbeRate for the process). An MQTT CONNECT, the authentication
// that platforms rate-limit, is sent only over a dial that succeeded, and only under the
// cluster's ConnectRate.
//
// A refusal is what shows a reachable broker, or a gateway in front of it, turning us away: a
// CONNACK refusal (bad credentials, not authorised), a connection accepted and closed before
// its CONNACK, no CONNACK within ConnectTimeout, a TLS handshake that fails, a session that a
// still-reachable broker ends within stableSession of its CONNACK. Refusals, and only they,
// grow the endpoint's backoff: ProbeDelay * 2^(refusals-1), capped at MaxProbeDelay, with
// equal jitter (half the window fixed, half random).
//
// A session that ends is judged by the dial that follows it (judgeDelay later). Refused: the broker
// crashed or was stopped; it is not turning us away, its backoff starts over, and its
// listener is watched every ProbeInterval, so that subscriptions are back within about
// ProbeInterval of its restart whatever happened before. Accepted: the broker (or a load
// balancer) dropped us while running; that counts as a drop for FlapLimit, and as a refusal
// if the session lasted less than stableSession.
//
// FlapLimit therefore counts only drops by a broker that kept accepting connections: a
// broker SIGKILLed and restarted by its supervisor any number of times is never quarantined.

// stableSession is how long a session must last for its end, by a broker that is still
// reachable, not to count as a refusal.
const stableSession = 10 * time.Second

// judgeDelay is how long after a drop the dial that judges it waits. A SIGKILLed process's
// sockets are released in no fixed order: its listener can still take a dial for a moment after
// its clients' connections were closed, which would make a crash look like a broker dropping us
// while running. No supervisor restarts a broker that fast.
const judgeDelay = 30 * time.Millisecond

// maxProcessProbeRate bounds the reachability dials of the whole process, whatever its
// clusters: hundreds of dead endpoints must not send thousands of SYNs a second. Each
// endpoint's interval stretches as needed.
var processProbes = &rateLimiter{rate: 200, burst: 50}

// errConnectDeferred marks an attempt that reached the broker but sent no CONNECT, because
// the session that had just ended decided a backoff or a quarantine first.
var errConnectDeferred = errors.New("connect deferred")

// refusal wraps what a reachable broker answered instead of a usable session.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// endedSession is a session that ended, waiting for the next dial to say why.
type endedSession struct {
	at     time.Time
	length time.Duration
	reason error
}

// probeLoop revives dead endpoints, each when its probe is due, all within the cluster's
// probe and connect rates and its live-connection cap, none while quarantined.
func (c *Cluster) probeLoop() {
	defer c.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait := c.probeOnce(time.Now())
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-c.stop:
			return
		case <-c.kick:
		case <-timer.C:
		}
	}
}

// probeOnce starts the connection attempts that are due and returns when to look again.
func (c *Cluster) probeOnce(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return time.Hour
	}
	next := time.Hour
	soon := func(t time.Time) {
		if d := t.Sub(now); d < next {
			next = max(d, time.Millisecond)
		}
	}
	capacity := -1 // unlimited
	if c.cfg.LiveEndpointCount > 0 {
		capacity = c.cfg.LiveEndpointCount
		for _, ep := range c.endpoints {
			if ep.state == StateLive || ep.state == StateConnecting {
				capacity--
			}
		}
	}
	initialCap := !c.firstDone && c.cfg.InitialEndpointCount > 0 && (capacity < 0 || capacity > c.cfg.InitialEndpointCount)
	if initialCap {
		// The first probe connects only this many; the next round brings up the rest.
		capacity = c.cfg.InitialEndpointCount
		soon(now.Add(c.cfg.ProbeDelay))
	}
	// The primary endpoint is tried first so a Sticky publisher gets it back as soon as possible.
	order := c.endpoints
	if c.cfg.PrimaryServerURI != "" {
		order = slices.Clone(c.endpoints)
		slices.SortStableFunc(order, func(a, b *endpoint) int {
			return boolRank(!c.isPrimary(a)) - boolRank(!c.isPrimary(b))
		})
	}
	for _, ep := range order {
		if ep.state == StateQuarantined && !now.Before(ep.quarantined) {
			ep.state = StateDead
			ep.drops = nil
			c.log.Info("endpoint leaves quarantine", "endpoint", ep.name)
		}
		if ep.state != StateDead {
			if ep.state == StateQuarantined {
				soon(ep.quarantined)
			}
			continue
		}
		if capacity == 0 {
			break
		}
		if now.Before(ep.nextProbe) {
			soon(ep.nextProbe)
			continue
		}
		if wait := c.takeProbe(now); wait > 0 {
			soon(now.Add(wait))
			break
		}
		capacity--
		ep.state = StateConnecting
		ep.firstRound = !c.firstDone
		c.wg.Add(1)
		go c.connectEndpoint(ep)
	}
	c.firstDone = true
	c.balanceSubscribersLocked()
	c.notifyLocked()
	return next
}

// takeProbe takes a dial from the cluster's and the process's probe budgets, or says how
// long to wait for one.
func (c *Cluster) takeProbe(now time.Time) time.Duration {
	if ok, wait := c.probeLimiter.take(now); !ok {
		return wait
	}
	if ok, wait := processProbes.take(now); !ok {
		c.probeLimiter.refund()
		return wait
	}
	return 0
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *Cluster) isPrimary(ep *endpoint) bool {
	return c.cfg.PrimaryServerURI != "" && (ep.uri.String() == c.cfg.PrimaryServerURI || ep.name == c.cfg.PrimaryServerURI ||
		ep.uri.pahoURI() == c.cfg.PrimaryServerURI)
}

func (c *Cluster) kickProber() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// reachedBroker records that ep's listener accepted a dial, and judges the session that
// ended just before, if any: the broker dropped it while running. It returns nil when a
// CONNECT may follow, or a *deferral saying until when the endpoint must wait.
func (c *Cluster) reachedBroker(ep *endpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ep.reachable, ep.dialedAt = true, time.Now()
	s := ep.ended
	if s == nil {
		return nil
	}
	ep.ended = nil
	now := time.Now()
	c.log.Debug("the broker accepted a dial right after the session ended: it dropped us while running",
		"endpoint", ep.name, "session", s.length, "after", now.Sub(s.at), "reason", s.reason)
	if r := (*ReasonError)(nil); errors.As(s.reason, &r) && r.Code.asksToSlowDown() {
		// An MQTT 5 broker that is busy or over a quota is well and said so: it is backed off,
		// never counted as flapping.
		ep.refusals++
		d := c.backoff(ep.refusals)
		return &deferral{until: now.Add(d), reason: fmt.Errorf("%w; the broker asked us to slow down: next attempt in %v", s.reason, d.Round(time.Millisecond))}
	}
	if c.cfg.FlapLimit > 0 {
		ep.drops = append(ep.drops, s.at)
		for len(ep.drops) > 0 && now.Sub(ep.drops[0]) > c.cfg.FlapWindow {
			ep.drops = ep.drops[1:]
		}
		if len(ep.drops) >= c.cfg.FlapLimit {
			return &deferral{until: now.Add(c.cfg.QuarantineTime), quarantine: true,
				reason: fmt.Errorf("%w; quarantined for %v: dropped %d times in %v by a broker that kept accepting connections",
					s.reason, c.cfg.QuarantineTime, len(ep.drops), c.cfg.FlapWindow)}
		}
	}
	if s.length >= stableSession {
		ep.refusals = 0 // a healthy session: start over
		return nil
	}
	ep.refusals++
	d := c.backoff(ep.refusals)
	return &deferral{until: now.Add(d), reason: fmt.Errorf("%w; the broker ended the session %v after its CONNACK while still accepting connections: next attempt in %v",
		s.reason, s.length.Round(time.Millisecond), d.Round(time.Millisecond))}
}

// deferral is an attempt that stopped after the dial: the endpoint waits until `until`, in
// quarantine or in backoff.
type deferral struct {
	until      time.Time
	quarantine bool
	reason     error
}

func (d *deferral) Error() string { return d.reason.Error() }
func (d *deferral) Unwrap() error { return errConnectDeferred }

// attemptFailedLocked files a failed attempt on ep by what it shows (see the top of this
// file) and schedules the next one.
func (c *Cluster) attemptFailedLocked(ep *endpoint, err error) {
	now := time.Now()
	ep.failedAt = now
	var ref *refusal
	var def *deferral
	switch {
	case errors.As(err, &def):
		ep.lastErr = def.reason
		if def.quarantine {
			ep.state = StateQuarantined
			ep.quarantined = def.until
			c.log.Warn("endpoint quarantined", "endpoint", ep.name, "until", def.until, "reason", def.reason)
			return
		}
		ep.state = StateDead
		ep.nextProbe = def.until
	case errors.As(err, &ref):
		ep.connectFailures.Add(1)
		ep.reachable, ep.dialedAt = true, now
		ep.lastErr = err
		ep.state = StateDead
		ep.refusals++
		ep.nextProbe = now.Add(c.backoff(ep.refusals))
	default: // the dial failed: down, or unreachable; it costs the broker nothing
		ep.reachable, ep.dialedAt = false, now
		ep.lastErr = err
		ep.state = StateDead
		if ep.ended != nil {
			// It crashed or was stopped: not a refusal, whatever the session's length.
			ep.ended = nil
			ep.refusals = 0
		}
		if ep.refusals == 0 || now.After(ep.nextProbe) {
			ep.nextProbe = now.Add(c.probeInterval())
		}
	}
}

// probeInterval is the delay before dialling an unreachable endpoint again: ProbeInterval
// with 40% jitter either way.
func (c *Cluster) probeInterval() time.Duration {
	base := c.cfg.ProbeInterval
	return base*6/10 + rand.N(base*8/10+1)
}

// backoff is the delay after the n-th consecutive refusal: a window of ProbeDelay *
// 2^(n-1), capped at MaxProbeDelay, half of it fixed and half random.
func (c *Cluster) backoff(n int) time.Duration {
	window := c.cfg.ProbeDelay
	for i := 1; i < n && window < c.cfg.MaxProbeDelay; i++ {
		window *= 2
	}
	window = min(window, c.cfg.MaxProbeDelay)
	if window <= 0 {
		return 0
	}
	return window/2 + rand.N(window/2+1)
}

// awaitConnectToken waits for the cluster's connect rate to allow one more CONNECT; false if
// the cluster closed meanwhile.
func (c *Cluster) awaitConnectToken() bool {
	wait := c.limiter.reserve(time.Now())
	if wait <= 0 {
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// rateLimiter is a token bucket. take never goes into debt; reserve does, and says how long
// the caller must wait for the token it took, so that waiting callers are served in turn.
type rateLimiter struct {
	mu                  sync.Mutex
	rate, burst, tokens float64
	last                time.Time
}

func (r *rateLimiter) refillLocked(now time.Time) {
	if r.last.IsZero() {
		r.tokens = r.burst
	} else {
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	r.last = now
}

// take consumes a token if one is available and otherwise says how long to wait for one.
func (r *rateLimiter) take(now time.Time) (ok bool, wait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rate <= 0 {
		return true, 0
	}
	r.refillLocked(now)
	if r.tokens >= 1 {
		r.tokens--
		return true, 0
	}
	return false, time.Duration((1 - r.tokens) / r.rate * float64(time.Second))
}

// refund gives back a token taken by take.
func (r *rateLimiter) refund() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rate > 0 {
		r.tokens = min(r.burst, r.tokens+1)
	}
}

// reserve takes a token now and returns how long until it is really available.
func (r *rateLimiter) reserve(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rate <= 0 {
		return 0
	}
	r.refillLocked(now)
	r.tokens--
	if r.tokens >= 0 {
		return 0
	}
	return time.Duration(-r.tokens / r.rate * float64(time.Second))
}

// connectEndpoint runs one connection attempt: dial, CONNECT, replay the subscriptions if the
// endpoint is to carry them, then put it on the live list.
func (c *Cluster) connectEndpoint(ep *endpoint) {
	defer c.wg.Done()
	cn, err := c.connect(ep)
	if err == nil {
		c.mu.Lock()
		if c.closed || ep.state != StateConnecting {
			c.mu.Unlock()
			cn.release(ErrClosed, 0)
			return
		}
		ep.conn = cn
		ep.subscriber = c.wantsSubscriberLocked()
		var replay []subscription
		if ep.subscriber {
			replay = c.subs.snapshot()
		}
		c.mu.Unlock()
		if len(replay) > 0 {
			err = c.replay(cn, replay)
			if err != nil {
				// This lease's bookkeeping is done below; the others on the link fail too.
				cn.markLost(err)
				cn.link.fail(err)
				defer cn.release(err, 0)
				err = &refusal{err}
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		ep.conn = nil
		ep.subscriber, ep.subReady = false, false
		if ep.state == StateConnecting && !errors.Is(err, ErrClosed) {
			c.attemptFailedLocked(ep, err)
		} else if ep.state == StateConnecting {
			ep.state = StateDead
		}
		c.log.Debug("connect failed", "endpoint", ep.name, "uri", ep.uri.String(), "err", err)
		c.checkSubscriptionGapLocked()
		c.notifyLocked()
		c.kickProber()
		return
	}
	if ep.state != StateConnecting || cn.isLost() {
		// Removed, closed, or lost while replaying: leaseLost already did the bookkeeping.
		if ep.state == StateConnecting {
			ep.state = StateDead
			ep.conn = nil
		}
		c.notifyLocked()
		return
	}
	now := time.Now()
	ep.state = StateLive
	ep.subReady = ep.subscriber // the replay, if any, was acknowledged before this point
	ep.lastErr = nil
	ep.liveSince = now
	ep.warmUntil.Store(now.UnixNano())
	if !ep.firstRound && c.cfg.WarmUp > 0 {
		// A broker coming back has no subscriptions of other clients yet; give their probers
		// time to find it before publishing there.
		ep.warmUntil.Store(now.Add(c.cfg.WarmUp).UnixNano())
		c.wg.Add(1)
		go c.afterWarmUp(ep, cn)
	}
	ep.firstRound = false
	ep.active.Store(cn)
	c.rebuildLiveLocked()
	c.balanceSubscribersLocked()
	c.log.Info("endpoint up", "endpoint", ep.name, "uri", ep.uri.String(), "subscriber", ep.subscriber)
	c.events.push(Event{Kind: EventEndpointUp, Endpoint: ep.name, Time: now, SessionPresent: cn.sessionPresent, Connack: cn.link.connack})
	c.checkSubscriptionGapLocked()
	c.notifyLocked()
}

// replay makes the registered subscriptions on a connection that just became a subscriber. A
// filter the broker refuses (an ACL) is reported as an EventError and does not fail the
// endpoint, which would only make it flap.
func (c *Cluster) replay(cn *connection, subs []subscription) error {
	_, err := cn.subscribe(subs, time.Now().Add(c.cfg.TimeToWait))
	var refused *refusedError
	if errors.As(err, &refused) {
		c.events.push(Event{Kind: EventError, Endpoint: cn.ep.name, Time: time.Now(),
			Err: fmt.Errorf("%s: replaying subscriptions: %w", cn.ep.name, err)})
		return nil
	}
	if err != nil {
		return fmt.Errorf("replaying subscriptions: %w", err)
	}
	return nil
}

// afterWarmUp re-evaluates the Sticky publisher's choice once ep may be used, so a primary
// endpoint is taken back, and wakes the publishes waiting for a warm endpoint.
func (c *Cluster) afterWarmUp(ep *endpoint, cn *connection) {
	defer c.wg.Done()
	t := time.NewTimer(c.cfg.WarmUp)
	defer t.Stop()
	select {
	case <-t.C:
		if c.isPrimary(ep) {
			c.sticky.Store(nil)
		}
		c.mu.Lock()
		c.notifyLocked()
		c.mu.Unlock()
	case <-cn.lost:
	case <-c.stop:
	}
}

// endpointFailed reports that cn's broker failed (an acknowledgement overdue, a subscribe
// that timed out): the link fails for every cluster using it. A lease already gone is left
// alone, so a late error cannot take down a connection that others still use.
func (c *Cluster) endpointFailed(cn *connection, reason error) {
	if cn.isLost() {
		return
	}
	cn.link.fail(reason)
}

// leaseLost moves the endpoint of cn to the dead list, unless cn is already stale. Every
// publish still waiting on cn fails over at once because cn.lost closes. The endpoint is
// dialled again at once: that dial tells a crashed broker from one that dropped us.
func (c *Cluster) leaseLost(cn *connection, reason error) {
	if !cn.markLost(reason) {
		return
	}
	ep := cn.ep
	c.mu.Lock()
	if ep.conn != cn {
		c.disconnectLater(cn)
		return
	}
	wasLive := ep.state == StateLive
	now := time.Now()
	ep.active.Store(nil)
	ep.conn = nil
	ep.subscriber, ep.subReady = false, false
	ep.lastErr = reason
	switch ep.state {
	case StateLive:
		ep.state = StateDead
		ep.ended = &endedSession{at: now, length: now.Sub(ep.liveSince), reason: reason}
		ep.nextProbe = now.Add(judgeDelay)
	case StateConnecting:
		// Lost between CONNACK and the end of the replay: connectEndpoint files it as a
		// refusal when its replay fails; here only the state changes.
		ep.state = StateDead
		ep.refusals++
		ep.nextProbe = now.Add(c.backoff(ep.refusals))
	}
	c.endpointGoneLocked(ep)
	if wasLive {
		c.log.Warn("endpoint down", "endpoint", ep.name, "uri", ep.uri.String(), "reason", reason)
		c.events.push(Event{Kind: EventEndpointDown, Endpoint: ep.name, Err: reason, Time: now})
	}
	c.checkSubscriptionGapLocked()
	c.notifyLocked()
	c.disconnectLater(cn)
	c.kickProber()
}

// checkSubscriptionGapLocked watches for the fault the prober exists to prevent: a cluster
// with subscriptions that is subscribed on no live broker while a broker is reachable (its
// listener accepted our last dial). Messages published meanwhile reach no subscriber of this
// cluster. The gap is shown by SubscriptionGap from when it opens, logged when it closes, and
// shortened: the reachable endpoint due soonest is tried at once (within the connect rate)
// instead of after its backoff. It is reported as an EventError once it has lasted
// subscriptionGapGrace: a revived broker takes a few milliseconds between its dial and its
// replay, and a quick kill may add a short backoff; that is the revival itself, not a fault, and
// an application that ends on errors must not end on an ordinary broker restart.
func (c *Cluster) checkSubscriptionGapLocked() {
	if c.cfg.PublishOnly || c.closed || !c.subs.any() {
		c.closeGapLocked()
		return
	}
	var due *endpoint
	reachable := 0
	for _, ep := range c.endpoints {
		if ep.state == StateLive && ep.subReady {
			if !c.gapSince.IsZero() {
				c.log.Info("subscriptions back on a live broker", "endpoint", ep.name, "after", time.Since(c.gapSince))
			}
			c.closeGapLocked()
			return
		}
		if ep.state == StateRemoved || !ep.reachable || ep.ended != nil {
			continue
		}
		reachable++
		if ep.state == StateDead && (due == nil || ep.nextProbe.Before(due.nextProbe)) {
			due = ep
		}
	}
	if reachable == 0 {
		c.closeGapLocked() // nothing to subscribe on: an outage, not a gap
		return
	}
	now := time.Now()
	if c.gapSince.IsZero() {
		c.gapSince = now
		if due != nil && due.nextProbe.After(now) {
			due.nextProbe = now
			c.kickProber()
		}
	}
	if c.gapReported {
		return
	}
	if wait := c.gapSince.Add(subscriptionGapGrace).Sub(now); wait > 0 {
		if c.gapTimer == nil {
			c.gapTimer = time.AfterFunc(wait, func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				c.gapTimer = nil
				c.checkSubscriptionGapLocked()
			})
		}
		return
	}
	c.gapReported = true
	err := fmt.Errorf("%w: %d reachable broker(s), none carrying the subscriptions for %v", ErrNotSubscribed,
		reachable, now.Sub(c.gapSince).Round(time.Millisecond))
	c.log.Warn("subscribed on no live broker", "reachable", reachable, "since", c.gapSince)
	c.events.push(Event{Kind: EventError, Time: now, Err: err})
}

// subscriptionGapGrace is how long a subscription gap may last before it is reported.
const subscriptionGapGrace = time.Second

// closeGapLocked ends the gap, if one is open, and its pending report.
func (c *Cluster) closeGapLocked() {
	c.gapSince, c.gapReported = time.Time{}, false
	if c.gapTimer != nil {
		c.gapTimer.Stop()
		c.gapTimer = nil
	}
}

// ErrNotSubscribed is wrapped by the EventError that reports a cluster with subscriptions
// subscribed on no live broker while some broker is reachable.
var ErrNotSubscribed = errors.New("subscribed on no live broker")

// SubscriptionGap reports since when the cluster, which has subscriptions, has been
// subscribed on no live broker although a broker is reachable; ok is false when it is not.
func (c *Cluster) SubscriptionGap() (since time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gapSince, !c.gapSince.IsZero()
}

// forgiveDrops takes back what the connection losses caused by one refused message counted
// against their brokers: the message was at fault, not them. A drop not judged yet is
// forgotten; one already judged gives back its place in the flap window and its refusal.
func (c *Cluster) forgiveDrops(lost []lostConnection) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range lost {
		ep := l.cn.ep
		switch {
		case ep.ended != nil:
			ep.ended = nil
		case len(ep.drops) > 0:
			ep.drops = ep.drops[:len(ep.drops)-1]
			if ep.refusals > 0 {
				ep.refusals--
			}
		}
		if ep.state == StateQuarantined && len(ep.drops) < c.cfg.FlapLimit {
			ep.state = StateDead
			c.log.Info("endpoint leaves quarantine: its drops were caused by a refused message", "endpoint", ep.name)
		}
		if ep.state == StateDead && ep.nextProbe.After(time.Now()) {
			ep.nextProbe = time.Now()
		}
	}
	c.kickProber()
}
