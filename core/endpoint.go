package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// EndpointState is where an endpoint stands in its cluster.
type EndpointState int

const (
	// StateDead: not connected; the prober checks whether it is reachable again every
	// ProbeInterval, or after its refusal backoff.
	StateDead EndpointState = iota
	// StateConnecting: a connection attempt (and subscription replay) is under way.
	StateConnecting
	// StateLive: connected and usable.
	StateLive
	// StateQuarantined: dropped too often; left alone until the quarantine ends.
	StateQuarantined
	// StateRemoved: removed from the cluster; never tried again.
	StateRemoved
)

func (s EndpointState) String() string {
	return [...]string{"dead", "connecting", "live", "quarantined", "removed"}[s]
}

// endpoint is one broker of a cluster. Fields after the mutex comment are guarded by the
// cluster's mutex; counters are atomic so the publish path never takes a lock for them.
type endpoint struct {
	name      string
	uri       brokerURI
	topicBase string
	index     int // stable small number, used by the de-duplicator
	version   int // MQTT311 or MQTT5: the cluster's, or the endpoint's own

	// guarded by Cluster.mu
	state       EndpointState
	conn        *connection // non-nil while connecting or live
	liveSince   time.Time
	subscriber  bool // carries the cluster's subscriptions
	subReady    bool // ... and they are in place on the broker (replay acknowledged)
	refusals    int  // consecutive refusals (see probe.go): the backoff exponent
	nextProbe   time.Time
	drops       []time.Time // recent drops by a reachable broker, for flap detection
	quarantined time.Time   // end of quarantine
	lastErr     error
	failedAt    time.Time // when the last attempt failed (Connect's fast answer)
	firstRound  bool      // this attempt belongs to the cluster's first probe: no warm-up needed
	// reachable: the last dial reached the broker's listener (whatever MQTT said then);
	// dialedAt is when that dial's outcome was known.
	reachable bool
	dialedAt  time.Time
	// ended is the session that just ended, until the next dial tells whether the broker
	// crashed (unreachable: not its fault) or dropped us while running.
	ended *endedSession

	// read lock-free by the publish path
	active    atomic.Pointer[connection] // the connection while live
	warmUntil atomic.Int64               // unix nanos; not chosen as a publisher before this

	published, acked, failed, failovers, probes, connects, connectFailures, received atomic.Uint64
}

// openLink opens a new connection to ep and waits for its CONNACK. Paho's own reconnect
// logic is off (MQTT 3.1.1; session5 has none): the prober decides when to try again, so backoff and rate limits hold.
func (c *Cluster) openLink(ep *endpoint, key linkKey, shared bool) (*link, error) {
	cfg := c.cfg.Connection
	// The dial is the reachability probe: a refused or unanswered dial costs the broker
	// nothing, so it is retried quickly. Only a broker that accepted the dial is sent a
	// CONNECT, and only under the cluster's connect rate.
	ep.probes.Add(1)
	tc, err := dialTransport(c.stopCtx, ep.uri.url(), cfg.TLS, cfg.ConnectTimeout, c.cfg.AckTimeout, c.cfg.MaxIncomingPacket)
	var ref *refusal
	if err != nil && !errors.As(err, &ref) && !errors.Is(err, syscall.ECONNRESET) {
		return nil, err // not reached
	}
	// Reached: a listener took the dial (a reset means it accepted and aborted at once).
	if judged := c.reachedBroker(ep); judged != nil {
		if tc != nil {
			tc.Close()
		}
		return nil, judged
	}
	if err != nil {
		if ref == nil {
			ref = &refusal{err}
		}
		return nil, ref
	}
	if !c.awaitConnectToken() {
		tc.Close()
		return nil, ErrClosed
	}
	// Close does not wait for a broker that is slow to answer the CONNECT: it closes the
	// socket, which ends paho's wait.
	dialled := tc // tc itself is handed to paho below
	unwatch := context.AfterFunc(c.stopCtx, func() { dialled.Close() })
	defer unwatch()
	ep.connects.Add(1)
	l := &link{key: key, shared: shared, lossSignal: newLossSignal()}
	l.routes.Store(&[]*connection{})
	if ep.version == MQTT5 {
		return c.handshake5(ep, l, tc)
	}
	l.qos2Slots = make(chan struct{}, c.cfg.MaxInflightQoS2)
	if g, ok := tc.in.(*inboundGuard); ok {
		g.qos0 = l.route // set before paho reads anything
		l.guard = g
	}
	o := mqtt.NewClientOptions().
		AddBroker(ep.uri.pahoURI()).
		SetClientID(cfg.ClientID).
		SetProtocolVersion(4). // no silent 3.1 fallback: it would double every connect attempt
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetCleanSession(!cfg.PersistentSession).
		SetKeepAlive(max(cfg.KeepAlive, 0)). // 0: none
		SetPingTimeout(pingTimeout(cfg.KeepAlive)).
		SetConnectTimeout(cfg.ConnectTimeout).
		// paho also bounds by this how long Publish waits to hand a message to its writer
		// (30 s when unset): on a connection whose writer has just stopped, that wait holds up
		// every message queued behind it. The transport ignores the deadlines themselves.
		SetWriteTimeout(c.cfg.AckTimeout).
		// Buffered reads and coalesced writes; a write stuck for AckTimeout fails the link.
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			// Paho reconnects never happen (auto-reconnect is off): this hands over the
			// connection dialled above, once.
			if tc == nil {
				return nil, errors.New("connection already used")
			}
			conn := tc
			tc = nil
			l.transport.Store(conn)
			return conn, nil
		}).
		// Ordered delivery on paho's router goroutine is safe because the handler only
		// enqueues and returns; user code never runs there (paho.mqtt.golang #473, #509).
		SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { l.routePaho(m) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { l.fail(fmt.Errorf("connection lost: %w", err)) })
	if cfg.Username != "" {
		o.SetUsername(cfg.Username)
	}
	if cfg.Password != "" {
		o.SetPassword(cfg.Password)
	}
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	if w := cfg.Will; w != nil {
		o.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retained)
	}
	if dir := c.fileStoreDir(ep); dir != "" {
		o.SetStore(mqtt.NewFileStore(dir))
	}
	client := mqtt.NewClient(o)
	l.sess = &pahoSession{client: client}
	tok := client.Connect()
	// Token.Wait can hang (paho.mqtt.golang #613): always bound it.
	if !tok.WaitTimeout(cfg.ConnectTimeout + time.Second) {
		l.markLost(errConnectTimeout)
		go client.Disconnect(0)
		return nil, &refusal{fmt.Errorf("no CONNACK within %v", cfg.ConnectTimeout)}
	}
	if err := tok.Error(); err != nil {
		if tc != nil { // paho failed before taking the connection
			tc.Close()
		}
		l.markLost(err)
		return nil, &refusal{err}
	}
	if ct, ok := tok.(*mqtt.ConnectToken); ok {
		l.sessionPresent = ct.SessionPresent()
	}
	return l, nil
}

// fileStoreDir is where paho keeps ep's in-flight messages, or "" for memory.
func (c *Cluster) fileStoreDir(ep *endpoint) string {
	if c.cfg.Connection.FileStoreDir == "" {
		return ""
	}
	return filepath.Join(c.cfg.Connection.FileStoreDir, ep.name)
}

// pingTimeout gives a silent broker at most half a keepalive to answer a PINGREQ, so a
// partition is noticed within about 1.5 keepalive intervals.
func pingTimeout(keepAlive time.Duration) time.Duration {
	if t := keepAlive / 2; t > 0 && t < 10*time.Second {
		return t
	}
	return 10 * time.Second
}
