package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cluster is a virtual cluster: a set of independent brokers that the client keeps
// connections to, publishes through and subscribes on. Every method is safe for concurrent
// use. No user callback runs while the cluster holds a lock.
type Cluster struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	endpoints []*endpoint
	byName    map[string]*endpoint // endpoints not removed
	byURI     map[brokerURI]*endpoint
	nextIndex int
	subs      *subscriptionSet
	started   bool // Connect was called
	firstDone bool // the first probe round has been launched
	closed    bool
	limiter   rateLimiter
	changed   chan struct{} // closed and replaced whenever an endpoint changes state

	// live is the copy-on-write list of live endpoints, oldest first, read lock-free by the
	// publish path.
	live          atomic.Pointer[[]*endpoint]
	sticky        atomic.Pointer[endpoint] // the Sticky publisher's current endpoint
	stickyChosen  atomic.Bool              // a first sticky choice was made
	stickySub     atomic.Pointer[endpoint] // FoS >= 1: the endpoint messages are delivered from
	rr            atomic.Uint64
	nextPublishID atomic.Uint64
	dedup         *deduplicator
	subsSnap      atomic.Pointer[subsSnapshot]
	inBridges     atomic.Pointer[[]*bridge]
	outBridges    atomic.Pointer[[]*bridge]
	hooks         atomic.Pointer[[]Hooks]
	topicBases    atomic.Pointer[[]*endpoint] // endpoints with a topic base, for lock-free routing
	sendQ         sendQueue                   // PublishAsync's pipeline
	// outstanding counts asynchronous publishes not completed yet; Flush waits on idleWaiters
	// for it to reach zero.
	outstanding   atomic.Int64
	idleMu        sync.Mutex
	idleWaiters   []chan struct{}
	startPipeline sync.Once

	events     *eventQueue
	dispatch   sync.Once // starts the push-mode dispatcher
	pushMode   atomic.Bool
	handlers   atomic.Pointer[Handlers]
	dispatchWG sync.WaitGroup
	// dispatcherID is the dispatcher goroutine's number; closedByHandler is set when a
	// handler called Close, which then leaves releasing the queue to the dispatcher.
	dispatcherID    atomic.Uint64
	closedByHandler atomic.Bool
	kick            chan struct{}
	stop            chan struct{}
	wg              sync.WaitGroup
}

// New validates cfg and returns a cluster that is not yet connected.
func New(cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:     cfg,
		log:     cfg.Logger,
		subs:    newSubscriptionSet(),
		changed: make(chan struct{}),
		events:  newEventQueue(),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
	}
	c.sendQ.wake = make(chan struct{}, 1)
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.log = c.log.With("cluster", cfg.Name)
	c.limiter = rateLimiter{rate: cfg.ConnectRate, burst: float64(cfg.ConnectBurst)}
	if cfg.Dedup {
		c.dedup = newDeduplicator(cfg.DedupWindow)
	}
	c.live.Store(&[]*endpoint{})
	c.subsSnap.Store(&subsSnapshot{})
	for _, ec := range cfg.Endpoints {
		if _, err := c.addEndpointLocked(ec); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// Config returns the cluster's configuration with defaults filled in.
func (c *Cluster) Config() Config { return c.cfg }

func (c *Cluster) addEndpointLocked(ec EndpointConfig) (*endpoint, error) {
	u, err := parseBrokerURI(ec.URI)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", c.cfg.Name, err)
	}
	name := ec.Name
	if name == "" {
		name = fmt.Sprintf("%s-%d", c.cfg.Name, c.nextIndex+1)
	}
	if c.byName == nil {
		c.byName, c.byURI = map[string]*endpoint{}, map[brokerURI]*endpoint{}
	}
	if _, dup := c.byName[name]; dup {
		return nil, fmt.Errorf("cluster %q: endpoint name %q is used twice", c.cfg.Name, name)
	}
	if other := c.byURI[u]; other != nil {
		return nil, fmt.Errorf("cluster %q: broker %s is already endpoint %q", c.cfg.Name, u, other.name)
	}
	// As in padogrid, a topic base names a whole topic level: "test/special" routes
	// "test/special/x" but not "test/specialty".
	base := ec.TopicBase
	if base == "" && c.cfg.DefaultTopicBase != "" {
		base = c.cfg.DefaultTopicBase + name
	}
	if base != "" && !strings.HasSuffix(base, "/") {
		base += "/"
	}
	ep := &endpoint{name: name, uri: u, topicBase: base, index: c.nextIndex}
	c.byName[name], c.byURI[u] = ep, ep
	c.nextIndex++
	if base != "" {
		c.topicBases.Store(appendCopy(c.topicBases.Load(), ep))
	}
	c.endpoints = append(c.endpoints, ep)
	return ep, nil
}

// Connect starts the cluster: it probes every endpoint and returns once at least one is live
// and the first round of attempts has settled (or half a second has passed since the first
// endpoint came up). It fails after TimeToWait (or when ctx ends) with an error that names
// every endpoint and why it could not be reached; the prober keeps trying in the background
// until Close. Calling Connect on a connected cluster does nothing.
func (c *Cluster) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.startLocked()
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, c.cfg.TimeToWait)
	defer cancel()
	var firstLive time.Time
	for {
		c.mu.Lock()
		live, settled, changed := 0, c.firstDone, c.changed
		for _, ep := range c.endpoints {
			switch ep.state {
			case StateLive:
				live++
			case StateConnecting:
				settled = false
			}
		}
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if live > 0 && firstLive.IsZero() {
			firstLive = time.Now()
		}
		if live > 0 && (settled || time.Since(firstLive) >= 500*time.Millisecond) {
			return nil
		}
		wait := time.Duration(-1)
		if live > 0 {
			wait = 500*time.Millisecond - time.Since(firstLive)
		}
		if !c.waitChange(ctx, changed, wait) {
			if c.LiveCount() > 0 {
				return nil
			}
			return c.unreachableError(ctx.Err())
		}
	}
}

// Start is Connect without the waiting, for event loops: it starts probing every endpoint and
// returns at once. EventEndpointUp reports each broker as it connects; if none is live within
// TimeToWait, an EventError says why each endpoint failed (the prober keeps trying until
// Close). Calling it on a started cluster does nothing.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.started {
		return nil
	}
	c.startLocked()
	c.wg.Add(1)
	go c.reportNoEndpoint()
	return nil
}

// startLocked starts the prober once.
func (c *Cluster) startLocked() {
	if c.started {
		return
	}
	c.started = true
	now := time.Now()
	for _, ep := range c.endpoints {
		ep.nextProbe = now
	}
	c.wg.Add(1)
	go c.probeLoop()
}

// reportNoEndpoint is Start's counterpart of Connect's error: an EventError when no endpoint
// is live after TimeToWait.
func (c *Cluster) reportNoEndpoint() {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.TimeToWait)
	defer cancel()
	for {
		changed := c.changedChan() // before looking, so that no change slips between
		if c.LiveCount() > 0 {
			return
		}
		if !c.waitChange(ctx, changed, -1) {
			if c.LiveCount() == 0 {
				c.events.push(Event{Kind: EventError, Time: time.Now(), Err: c.unreachableError(ctx.Err())})
			}
			return
		}
		if c.isClosed() {
			return
		}
	}
}

// deadline is when a call made now with ctx must give up: TimeToWait, or ctx's deadline if
// that comes first.
func (c *Cluster) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(c.cfg.TimeToWait)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// waitChange waits for an endpoint state change, ctx's end (false) or timeout (negative: none).
func (c *Cluster) waitChange(ctx context.Context, changed chan struct{}, timeout time.Duration) bool {
	var tc <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-changed:
	case <-tc:
	case <-ctx.Done():
		return false
	case <-c.stop:
	}
	return true
}

// unreachableError describes why no endpoint is live.
func (c *Cluster) unreachableError(cause error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, ep := range c.endpoints {
		why := "not tried yet"
		switch {
		case ep.state == StateRemoved:
			continue
		case ep.state == StateQuarantined:
			why = "quarantined after repeated drops"
		case ep.lastErr != nil:
			why = ep.lastErr.Error()
		case ep.state == StateConnecting:
			why = "still connecting"
		}
		parts = append(parts, fmt.Sprintf("%s (%s): %s", ep.name, ep.uri, why))
	}
	msg := fmt.Sprintf("cluster %q: %v: ", c.cfg.Name, ErrNoEndpoints)
	if cause != nil && errors.Is(cause, context.DeadlineExceeded) {
		msg = fmt.Sprintf("cluster %q: %v after %v: ", c.cfg.Name, ErrNoEndpoints, c.cfg.TimeToWait)
	}
	return &ClusterError{msg: msg + strings.Join(parts, "; ")}
}

// ClusterError is returned when no endpoint could serve a call; its text names every endpoint
// and the last reason it failed. errors.Is(err, ErrNoEndpoints) is true.
type ClusterError struct{ msg string }

func (e *ClusterError) Error() string        { return e.msg }
func (e *ClusterError) Is(target error) bool { return target == ErrNoEndpoints }

// probeLoop revives dead endpoints: each after its own jittered backoff, all of them within
// the cluster's connect-rate limit and live-connection cap, and none while quarantined.
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
		ok, wait := c.limiter.take(now)
		if !ok {
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

// connectEndpoint runs one connection attempt: connect, replay the subscriptions if the
// endpoint is to carry them, then put it on the live list.
func (c *Cluster) connectEndpoint(ep *endpoint) {
	defer c.wg.Done()
	ep.connects.Add(1)
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
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		ep.connectFailures.Add(1)
		ep.lastErr = err
		ep.conn = nil
		ep.subscriber, ep.subReady = false, false
		if ep.state == StateConnecting {
			ep.state = StateDead
			ep.nextProbe = time.Now().Add(c.backoff(ep.failures))
			ep.failures++
		}
		c.log.Debug("connect failed", "endpoint", ep.name, "uri", ep.uri.String(), "err", err)
		c.notifyLocked()
		c.kickProber()
		return
	}
	if ep.state != StateConnecting || cn.isLost() {
		// Removed, closed, or lost while replaying: connectionLost already did the bookkeeping.
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
	c.events.push(Event{Kind: EventEndpointUp, Endpoint: ep.name, Time: now, SessionPresent: cn.sessionPresent})
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
// endpoint is taken back.
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
// publish still waiting on cn fails over at once because cn.lost closes.
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
	if ep.state == StateLive || ep.state == StateConnecting {
		ep.state = StateDead
		if wasLive && now.Sub(ep.liveSince) > c.cfg.MaxProbeDelay {
			ep.failures = 0 // it was stable: start the backoff over
		}
		ep.nextProbe = now.Add(c.backoff(ep.failures))
		ep.failures++
		if wasLive && c.cfg.FlapLimit > 0 {
			ep.drops = append(ep.drops, now)
			for len(ep.drops) > 0 && now.Sub(ep.drops[0]) > c.cfg.FlapWindow {
				ep.drops = ep.drops[1:]
			}
			if len(ep.drops) >= c.cfg.FlapLimit {
				ep.state = StateQuarantined
				ep.quarantined = now.Add(c.cfg.QuarantineTime)
				reason = fmt.Errorf("%w; quarantined for %v after %d drops in %v", reason, c.cfg.QuarantineTime, len(ep.drops), c.cfg.FlapWindow)
				ep.lastErr = reason
			}
		}
	}
	c.rebuildLiveLocked()
	if c.sticky.Load() == ep {
		c.sticky.Store(nil)
	}
	if c.stickySub.Load() == ep {
		c.stickySub.Store(nil)
	}
	c.balanceSubscribersLocked()
	if wasLive {
		c.log.Warn("endpoint down", "endpoint", ep.name, "uri", ep.uri.String(), "reason", reason)
		c.events.push(Event{Kind: EventEndpointDown, Endpoint: ep.name, Err: reason, Time: now})
	}
	c.notifyLocked()
	c.disconnectLater(cn)
	c.kickProber()
}

// disconnectLater releases cn off the caller's goroutine (a publisher failing over should not
// wait for it) and unlocks c.mu. Once the cluster is closed nothing may be added to its wait
// group, so cn is released right here instead.
func (c *Cluster) disconnectLater(cn *connection) {
	if c.closed {
		c.mu.Unlock()
		cn.release(ErrClosed, 0)
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		cn.release(cn.lostErr, 0)
	}()
}

// rebuildLiveLocked publishes a new snapshot of the live endpoints, longest-live first, so
// failover goes to the broker most likely to have every subscriber's subscriptions.
func (c *Cluster) rebuildLiveLocked() {
	live := make([]*endpoint, 0, len(c.endpoints))
	for _, ep := range c.endpoints {
		if ep.state == StateLive {
			live = append(live, ep)
		}
	}
	slices.SortStableFunc(live, func(a, b *endpoint) int { return a.liveSince.Compare(b.liveSince) })
	c.live.Store(&live)
}

// notifyLocked wakes everything waiting for an endpoint state change.
func (c *Cluster) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// changedChan returns the channel closed at the next state change.
func (c *Cluster) changedChan() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Closed reports whether Close has been called.
func (c *Cluster) Closed() bool { return c.isClosed() }

// LiveCount is the number of live endpoints.
func (c *Cluster) LiveCount() int { return len(*c.live.Load()) }

// LiveEndpoints lists the names of the live endpoints, longest-live first.
func (c *Cluster) LiveEndpoints() []string {
	live := *c.live.Load()
	names := make([]string, len(live))
	for i, ep := range live {
		names[i] = ep.name
	}
	return names
}

// DeadEndpoints lists the names of the endpoints that are not live (dead, connecting or
// quarantined), in configuration order.
func (c *Cluster) DeadEndpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, ep := range c.endpoints {
		if ep.state != StateLive && ep.state != StateRemoved {
			names = append(names, ep.name)
		}
	}
	return names
}

// EndpointStats is a snapshot of one endpoint's state and counters.
type EndpointStats struct {
	Name       string
	URI        string
	State      EndpointState
	Subscriber bool
	LiveSince  time.Time // zero unless live
	// Published counts publish attempts sent to this endpoint, Acked those it acknowledged
	// (QoS 0: wrote), Failed those that did not complete here, Failovers those of them that
	// moved on to another endpoint.
	Published, Acked, Failed, Failovers uint64
	// Connects counts connection attempts, ConnectFailures those that failed.
	Connects, ConnectFailures uint64
	// Received counts messages that arrived through this endpoint (before de-duplication).
	Received  uint64
	LastError string
}

// Stats returns a snapshot of every endpoint, in configuration order.
func (c *Cluster) Stats() []EndpointStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]EndpointStats, 0, len(c.endpoints))
	for _, ep := range c.endpoints {
		if ep.state == StateRemoved {
			continue
		}
		s := EndpointStats{
			Name: ep.name, URI: ep.uri.String(), State: ep.state, Subscriber: ep.subscriber,
			Published: ep.published.Load(), Acked: ep.acked.Load(), Failed: ep.failed.Load(),
			Failovers: ep.failovers.Load(), Connects: ep.connects.Load(),
			ConnectFailures: ep.connectFailures.Load(), Received: ep.received.Load(),
		}
		if ep.state == StateLive {
			s.LiveSince = ep.liveSince
		}
		if ep.lastErr != nil {
			s.LastError = ep.lastErr.Error()
		}
		out = append(out, s)
	}
	return out
}

// AddEndpoint adds a broker to the cluster at runtime; the prober connects it at once.
func (c *Cluster) AddEndpoint(ec EndpointConfig) (name string, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return "", ErrClosed
	}
	ep, err := c.addEndpointLocked(ec)
	if err == nil {
		ep.nextProbe = time.Now()
		c.notifyLocked()
	}
	c.mu.Unlock()
	if err != nil {
		return "", err
	}
	c.kickProber()
	return ep.name, nil
}

// RemoveEndpoint disconnects the named endpoint and removes it for good: the prober never
// brings it back. Publishes in flight on it fail over.
func (c *Cluster) RemoveEndpoint(name string) error {
	c.mu.Lock()
	ep := c.byName[name]
	if ep == nil {
		c.mu.Unlock()
		return fmt.Errorf("cluster %q: endpoint %q %w (endpoints: %s)", c.cfg.Name, name, ErrEndpointNotFound, strings.Join(c.namesLocked(), ", "))
	}
	cn := ep.conn
	delete(c.byName, ep.name)
	delete(c.byURI, ep.uri)
	if ep.topicBase != "" {
		kept := slices.DeleteFunc(slices.Clone(deref(c.topicBases.Load())), func(e *endpoint) bool { return e == ep })
		c.topicBases.Store(&kept)
	}
	ep.state = StateRemoved
	ep.active.Store(nil)
	ep.conn = nil
	ep.subscriber, ep.subReady = false, false
	c.rebuildLiveLocked()
	if c.sticky.Load() == ep {
		c.sticky.Store(nil)
	}
	if c.stickySub.Load() == ep {
		c.stickySub.Store(nil)
	}
	c.balanceSubscribersLocked()
	c.notifyLocked()
	c.mu.Unlock()
	if cn != nil {
		c.events.push(Event{Kind: EventEndpointDown, Endpoint: name, Err: errors.New("removed"), Time: time.Now()})
		cn.release(fmt.Errorf("endpoint %s removed", name), 100)
	}
	return nil
}

func (c *Cluster) namesLocked() []string {
	var names []string
	for _, ep := range c.endpoints {
		if ep.state != StateRemoved {
			names = append(names, ep.name)
		}
	}
	return names
}

// endpointByName returns the named endpoint (not removed) or an error listing the names.
func (c *Cluster) endpointByName(name string) (*endpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ep := c.byName[name]; ep != nil {
		return ep, nil
	}
	return nil, fmt.Errorf("cluster %q: endpoint %q %w (endpoints: %s)", c.cfg.Name, name, ErrEndpointNotFound, strings.Join(c.namesLocked(), ", "))
}

// Close disconnects every endpoint, stops the prober and the event dispatcher, fails the
// asynchronous publishes still pending, and waits for every goroutine the cluster started.
// It is idempotent. Called from one of the cluster's own handlers, it does all of that except
// waiting for the dispatcher it runs on: the events still queued are delivered (publishes
// failing with ErrClosed) once the handler returns.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.stop)
	var conns []*connection
	for _, ep := range c.endpoints {
		if ep.conn != nil {
			conns = append(conns, ep.conn)
			ep.conn = nil
		}
		ep.active.Store(nil)
		if ep.state == StateLive || ep.state == StateConnecting {
			ep.state = StateDead
		}
	}
	c.rebuildLiveLocked()
	c.notifyLocked()
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn.release(ErrClosed, 100)
		}()
	}
	wg.Wait()
	c.wg.Wait()
	c.failQueued()
	c.events.close()
	if c.onDispatcher() {
		return nil // the dispatcher releases the queue when it ends
	}
	c.dispatchWG.Wait()
	c.events.release()
	return nil
}
