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
	"syscall"
	"time"

	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// Cluster is a virtual cluster: a set of independent brokers that the client keeps
// connections to, publishes through and subscribes on. Every method is safe for concurrent
// use. No user callback runs while the cluster holds a lock.
type Cluster struct {
	cfg Config
	log *slog.Logger

	farewell atomic.Pointer[mqtt5.Disconnect] // what Close tells MQTT 5 brokers (SetDisconnect)

	mu           sync.Mutex
	endpoints    []*endpoint
	byName       map[string]*endpoint // endpoints not removed
	byURI        map[brokerURI]*endpoint
	nextIndex    int
	subs         *subscriptionSet
	started      bool // Connect was called
	firstDone    bool // the first probe round has been launched
	closed       bool
	limiter      rateLimiter   // CONNECTs (ConnectRate)
	probeLimiter rateLimiter   // reachability dials (ProbeRate)
	changed      chan struct{} // closed and replaced whenever an endpoint changes state
	gapSince     time.Time     // subscribed on no live broker while one is reachable, since
	gapReported  bool          // ... and the gap was reported as an EventError
	gapTimer     *time.Timer   // reports the gap once it has lasted subscriptionGapGrace

	// live is the copy-on-write list of live endpoints, oldest first, read lock-free by the
	// publish path.
	live          atomic.Pointer[[]*endpoint]
	sticky        atomic.Pointer[endpoint] // the Sticky publisher's current endpoint
	stickyChosen  atomic.Bool              // a first sticky choice was made
	stickySub     atomic.Pointer[endpoint] // FoS >= 1: the endpoint messages are delivered from
	rr            atomic.Uint64
	nextPublishID atomic.Uint64
	// stamps: MQTT 5 messages carry a message id (Config.MessageIDs), publisherID and
	// stampSeq make it.
	stamps      bool
	publisherID string
	stampSeq    atomic.Uint64
	outbox      *Outbox // Config.Outbox: what PublishAsync stores, and where it resumes from
	dedup       *deduplicator
	subsSnap    atomic.Pointer[subsSnapshot]
	inBridges   atomic.Pointer[[]*bridge]
	outBridges  atomic.Pointer[[]*bridge]
	hooks       atomic.Pointer[[]Hooks]
	topicBases  atomic.Pointer[[]*endpoint] // endpoints with a topic base, for lock-free routing
	sendQ       sendQueue                   // PublishAsync's pipeline
	// pipeInflight counts the pipeline's messages handed over and not yet settled by the
	// confirmer, which signals pipeDrained when it reaches zero.
	pipeInflight atomic.Int64
	pipeDrained  chan struct{}
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
	// stopCtx ends with stop, for the network calls Close must not wait for.
	stopCtx    context.Context
	cancelStop context.CancelFunc
	wg         sync.WaitGroup
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
	c.stopCtx, c.cancelStop = context.WithCancel(context.Background())
	c.sendQ.wake = make(chan struct{}, 1)
	c.pipeDrained = make(chan struct{}, 1)
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.log = c.log.With("cluster", cfg.Name)
	c.limiter = rateLimiter{rate: cfg.ConnectRate, burst: float64(cfg.ConnectBurst)}
	c.probeLimiter = rateLimiter{rate: cfg.ProbeRate, burst: max(cfg.ProbeRate/4, 4)}
	if cfg.Dedup {
		c.dedup = newDeduplicator(cfg.DedupWindow)
	}
	c.stamps = cfg.stampsMessages()
	c.publisherID = randomHex(6)
	c.live.Store(&[]*endpoint{})
	c.subsSnap.Store(&subsSnapshot{})
	for _, ec := range cfg.Endpoints {
		if _, err := c.addEndpointLocked(ec); err != nil {
			return nil, err
		}
	}
	if err := c.checkTLSUse(); err != nil {
		return nil, err
	}
	if cfg.Outbox != nil {
		c.outbox = cfg.Outbox
		if err := c.takeOutbox(); err != nil {
			c.Close()
			return nil, fmt.Errorf("cluster %q: %w", cfg.Name, err)
		}
	}
	return c, nil
}

// checkTLSUse refuses TLS settings that no endpoint would use (they would be ignored without
// a word, and the user believes the traffic is encrypted), and logs a warning when
// verification is off.
func (c *Cluster) checkTLSUse() error {
	tc := c.cfg.Connection.TLS
	if tc == nil {
		return nil
	}
	used := false
	for _, ep := range c.endpoints {
		used = used || ep.uri.secure()
	}
	if !used {
		return fmt.Errorf("cluster %q: TLS settings are given but no endpoint uses TLS: use ssl:// (or mqtts://, wss://) URIs, e.g. ssl://host:8883, or drop the TLS settings", c.cfg.Name)
	}
	if tc.InsecureSkipVerify && tc.VerifyConnection == nil {
		c.log.Warn("TLS certificate verification is OFF: any server, or anyone in between, can pose as the broker; use it only for tests")
	} else if tc.InsecureSkipVerify {
		c.log.Warn("TLS host name verification is off: the broker's certificate chain is verified, not that it names the host")
	}
	return nil
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
	version := c.cfg.Connection.ProtocolVersion
	switch ec.ProtocolVersion {
	case 0:
	case MQTT311, MQTT5:
		version = ec.ProtocolVersion
	default:
		return nil, fmt.Errorf("cluster %q: endpoint %q: protocol version %d: use 4 (MQTT 3.1.1), 5 (MQTT 5) or 0 (the cluster's)", c.cfg.Name, name, ec.ProtocolVersion)
	}
	ep := &endpoint{name: name, uri: u, topicBase: base, index: c.nextIndex, version: version}
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
// endpoint came up).
//
// It fails as soon as every endpoint has failed an attempt made during the call (all brokers
// down or refusing: the answer comes in milliseconds, as a single MQTT client's connect
// would give it), after TimeToWait, or when ctx ends. The error is a *ClusterError that
// names every endpoint and why it could not be reached; errors.Is finds each endpoint's
// cause in it (syscall.ECONNREFUSED when a listener refused the dial). Either way the
// prober keeps trying in the background until Close, so a publish made later still finds
// a broker that comes back. Calling Connect on a connected cluster does nothing.
func (c *Cluster) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	began := time.Now()
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
		allFailed := c.allFailedSinceLocked(began)
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return ErrClosed
		}
		if live == 0 && settled && allFailed {
			return c.unreachableError(nil)
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
// returns at once. EventEndpointUp reports each broker as it connects; if none is live once
// every endpoint has failed an attempt (or within TimeToWait), one EventError says why each
// endpoint failed, as Connect's error would (the prober keeps trying until Close). Calling it
// on a started cluster does nothing.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.started {
		return nil
	}
	began := time.Now()
	c.startLocked()
	c.wg.Add(1)
	go c.reportNoEndpoint(began)
	return nil
}

// allFailedSinceLocked reports whether every endpoint failed an attempt made since began
// (a quarantined one counts as failed): nothing is reachable, and waiting longer for the
// first answer would only delay the news.
func (c *Cluster) allFailedSinceLocked(began time.Time) bool {
	for _, ep := range c.endpoints {
		if ep.state != StateRemoved && ep.state != StateQuarantined && ep.failedAt.Before(began) {
			return false
		}
	}
	return true
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
// is live once every endpoint failed an attempt, or after TimeToWait.
func (c *Cluster) reportNoEndpoint(began time.Time) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.TimeToWait)
	defer cancel()
	for {
		changed := c.changedChan() // before looking, so that no change slips between
		if c.LiveCount() > 0 {
			return
		}
		c.mu.Lock()
		allFailed := c.allFailedSinceLocked(began)
		c.mu.Unlock()
		if allFailed {
			c.events.push(Event{Kind: EventError, Time: time.Now(), Err: c.unreachableError(nil)})
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
	var causes []error
	for _, ep := range c.endpoints {
		why := "not tried yet"
		if ep.lastErr != nil && ep.state != StateLive && ep.state != StateRemoved {
			causes = append(causes, ep.lastErr)
		}
		switch {
		case ep.state == StateRemoved:
			continue
		case ep.state == StateQuarantined:
			why = "quarantined after repeated drops"
			if ep.lastErr != nil {
				why = ep.lastErr.Error()
			}
		case ep.state == StateLive:
			why = fmt.Sprintf("live, warming up until %s (subscribers are given that long to come back after a revival)",
				time.Unix(0, ep.warmUntil.Load()).Format("15:04:05.000"))
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
	return &ClusterError{msg: msg + strings.Join(parts, "; "), causes: causes}
}

// ClusterError is returned when no endpoint could serve a call; its text names every endpoint
// and the last reason it failed. errors.Is(err, ErrNoEndpoints) is true, and errors.Is and
// errors.As also look into each endpoint's last failure (syscall.ECONNREFUSED, a TLS
// certificate error, a CONNACK refusal).
type ClusterError struct {
	msg    string
	causes []error
}

func (e *ClusterError) Error() string        { return e.msg }
func (e *ClusterError) Is(target error) bool { return target == ErrNoEndpoints }

// Unwrap gives the endpoints' last failures.
func (e *ClusterError) Unwrap() []error { return e.causes }

// Refused reports whether every endpoint's listener refused the connection (nothing listens
// where the configuration points): the error MQTT.js reports as ECONNREFUSED.
func (e *ClusterError) Refused() bool {
	if len(e.causes) == 0 {
		return false
	}
	for _, err := range e.causes {
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
	}
	return true
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

// endpointGoneLocked takes an endpoint that stopped being live out of the live list and out of
// the Sticky choices, and hands its subscriber role to another.
func (c *Cluster) endpointGoneLocked(ep *endpoint) {
	c.rebuildLiveLocked()
	if c.sticky.Load() == ep {
		c.sticky.Store(nil)
	}
	if c.stickySub.Load() == ep {
		c.stickySub.Store(nil)
	}
	c.balanceSubscribersLocked()
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

// Outbox is the outbox the cluster stores its publishes in (Config.Outbox), or nil.
func (c *Cluster) Outbox() *Outbox { return c.outbox }

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
	// Probes counts dials of the broker's listener (each connection attempt starts with one;
	// a refused dial sends nothing more). Connects counts MQTT CONNECTs sent, ConnectFailures
	// those the broker refused or left unanswered.
	Probes, Connects, ConnectFailures uint64
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
			Failovers: ep.failovers.Load(), Probes: ep.probes.Load(), Connects: ep.connects.Load(),
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
	c.endpointGoneLocked(ep)
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
// It is idempotent. Called from a handler (of this cluster or of another), it does all of that
// except waiting for this cluster's dispatcher, which may be the one it runs on or one
// blocked closing the caller's cluster: the events still queued are delivered (publishes
// failing with ErrClosed) once the running handler returns.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.stop)
	c.cancelStop()
	c.closeGapLocked()
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
		if bye := c.farewell.Load(); bye != nil && !cn.link.shared {
			cn.link.farewell.Store(bye)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn.release(ErrClosed, 100)
		}()
	}
	wg.Wait()
	c.wg.Wait()
	c.failQueued()
	if c.outbox != nil {
		c.outbox.detach(c)
	}
	c.events.close()
	if c.onDispatcher() {
		return nil // the dispatcher releases the queue when it ends
	}
	c.dispatchWG.Wait()
	c.events.release()
	return nil
}
