package core

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// Connections, and sharing them between clusters (Config.ShareConnections, padogrid's
// liveEndpointPoolEnabled).
//
// A link is one MQTT connection, one paho client, to one broker. An endpoint uses a link
// through a lease, a *connection. A cluster that does not share gets a link of its own for
// every connection it makes. Clusters that share, and reach the same broker with the same
// session settings, lease one link between them, found in the process-wide pool.
//
// What keeps the clusters on a shared link apart:
//   - Subscriptions are counted per lease. The broker holds their union; a filter is
//     unsubscribed when the last lease holding it lets go.
//   - A message goes to the leases holding a filter that matches its topic, and only to
//     them. A retained message (brokers set RETAIN only on what a new subscription brings)
//     goes to the leases that subscribed a matching filter in the last retainedRouteWindow,
//     or, if none did, to every lease holding one: a duplicate at worst, never a loss.
//   - A failure of the link (lost, an acknowledgement overdue) is every lease's failure: the
//     broker is as sick for one cluster as for the other.
//   - A cluster closing, or dropping the endpoint, only detaches its lease; the link closes
//     with its last lease.
type link struct {
	key    linkKey
	shared bool
	sess   session // the protocol: paho for MQTT 3.1.1, session5 for MQTT 5
	// qos2Slots bounds the QoS 2 publishes awaiting PUBCOMP on this connection (see send);
	// nil under MQTT 5, where the broker's Receive Maximum bounds them (session5).
	qos2Slots      chan struct{}
	sessionPresent bool     // the broker's CONNACK flag
	connack        *Connack // what an MQTT 5 broker's CONNACK said; nil under MQTT 3.1.1
	// farewell is the DISCONNECT to end it with (nil: a normal one); MQTT 5 only.
	farewell atomic.Pointer[mqtt5.Disconnect]
	// transport is the connection under paho, for QoS 0 publishes written directly.
	transport atomic.Pointer[coalescingConn]
	// guard is the transport's reading half under paho, which takes QoS 0 messages to route
	// past paho (inboundGuard.qos0); nil under MQTT 5.
	guard *inboundGuard

	lossSignal // the connection is gone, for whatever reason

	mu      sync.Mutex
	leases  []*connection
	closing bool // the last lease left: nothing may attach any more
	// routes is the lease list read lock-free by the receive path.
	routes atomic.Pointer[[]*connection]
}

// retainedRouteWindow is how long after subscribing a lease on a shared link counts as the
// one a retained message was sent for.
var retainedRouteWindow = 30 * time.Second // a variable for tests

// connection is an endpoint's lease on a link. A new one is made for every connect, so a
// token always belongs to exactly one TCP connection: an ack seen on it is an ack from that
// broker, and the loss of it fails every publish still waiting on it.
type connection struct {
	c    *Cluster
	ep   *endpoint
	link *link
	sess session // the link's, copied for the publish path
	// qos2Slots is the link's: the broker's in-flight limit is per connection.
	qos2Slots chan struct{}
	// sessionPresent is the CONNACK flag, for the lease that made the connection.
	sessionPresent bool
	// awaitingAcks counts this lease's QoS 1 and 2 publishes handed to paho and not yet
	// acknowledged. A QoS 0 publish bypasses paho only while it is zero and lastViaPaho is
	// done: then nothing sent before it can still be in paho's queue, and order holds.
	awaitingAcks atomic.Int64
	// lastViaPaho is the token of the last publish of this lease handed to paho (any QoS).
	// Paho writes in order, so once it is done nothing handed to paho earlier still waits in
	// its queue: a QoS 0 message handed to paho after a QoS 1 one counts in no ack, and a
	// direct write must not overtake it.
	lastViaPaho atomic.Pointer[mqtt.PublishToken] // paho's own type: no allocation per publish

	lossSignal // this lease is gone: the link failed or the lease was released

	// filters is what this lease subscribed through the link (guarded by link.mu for
	// writing, read lock-free when routing).
	filters atomic.Pointer[[]leaseFilter]
}

// pahoDrained reports whether every publish this lease handed to paho has left paho's queue.
func (cn *connection) pahoDrained() bool {
	last := cn.lastViaPaho.Load()
	if last == nil {
		return true
	}
	select {
	case <-last.Done():
		return true
	default:
		return false
	}
}

type leaseFilter struct {
	filter string
	qos    byte
	since  time.Time // last SUBSCRIBE, for routing retained messages
}

// lossSignal is a one-way "gone" flag that goroutines can select on, with the first reason.
type lossSignal struct {
	lost     chan struct{} // closed on the first markLost
	lostOnce sync.Once
	lostErr  error
}

func newLossSignal() lossSignal { return lossSignal{lost: make(chan struct{})} }

// markLost records err and closes lost; it reports whether this call was the first.
func (s *lossSignal) markLost(err error) bool {
	first := false
	s.lostOnce.Do(func() {
		s.lostErr = err
		close(s.lost)
		first = true
	})
	return first
}

func (s *lossSignal) isLost() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// linkKey is what two clusters must agree on to share a connection: the broker and every
// setting the broker sees on CONNECT. The client ID is part of it only for persistent
// sessions, where it names the session; otherwise the first cluster's ID serves all.
type linkKey struct {
	uri            brokerURI
	username       string
	password       string
	clientID       string
	keepAlive      time.Duration
	connectTimeout time.Duration
	tls            *tls.Config
	will           string
	fileStore      string
	version        int
}

func (c *Cluster) linkKey(ep *endpoint) linkKey {
	cc := c.cfg.Connection
	k := linkKey{uri: ep.uri, username: cc.Username, password: cc.Password, keepAlive: cc.KeepAlive,
		connectTimeout: cc.ConnectTimeout, tls: cc.TLS, fileStore: c.fileStoreDir(ep), version: ep.version}
	if cc.PersistentSession {
		k.clientID = cc.ClientID
	}
	if w := cc.Will; w != nil {
		k.will = fmt.Sprintf("%d/%t/%q/%x", w.QoS, w.Retained, w.Topic, w.Payload)
	}
	return k
}

// linkPool holds the shared links of the process, one per key.
type linkPool struct {
	mu      sync.Mutex
	entries map[linkKey]*poolEntry
}

type poolEntry struct {
	ready chan struct{} // closed once the first dial ended
	link  *link
	err   error
}

var sharedLinks = linkPool{entries: map[linkKey]*poolEntry{}}

// connect returns a lease on a link to ep: on the shared one if the cluster shares and one is
// up (or being dialled by another cluster, whose outcome it waits for), else on a new one.
func (c *Cluster) connect(ep *endpoint) (*connection, error) {
	// MQTT 5 connections are not shared: a v5 broker may send one copy of a message per
	// matching subscription, and a copy cannot be told apart from the other clusters' on one
	// connection (subscription identifiers could, one day).
	if !c.cfg.ShareConnections || ep.version == MQTT5 {
		l, err := c.openLink(ep, linkKey{}, false)
		if err != nil {
			return nil, err
		}
		return l.attach(c, ep, true), nil
	}
	return sharedLinks.lease(c, ep)
}

func (p *linkPool) lease(c *Cluster, ep *endpoint) (*connection, error) {
	key := c.linkKey(ep)
	for {
		p.mu.Lock()
		e := p.entries[key]
		if e == nil {
			e = &poolEntry{ready: make(chan struct{})}
			p.entries[key] = e
			p.mu.Unlock()
			l, err := c.openLink(ep, key, true)
			p.mu.Lock()
			e.link, e.err = l, err
			if err != nil && p.entries[key] == e {
				delete(p.entries, key)
			}
			close(e.ready)
			p.mu.Unlock()
			if err != nil {
				return nil, err
			}
			if cn := l.attach(c, ep, true); cn != nil {
				return cn, nil
			}
			continue // lost before anyone could use it: dial again
		}
		p.mu.Unlock()
		select {
		case <-e.ready:
		case <-c.stop:
			return nil, ErrClosed
		}
		if errors.Is(e.err, errConnectDeferred) {
			continue // the other cluster's own backoff: dial for this one
		}
		if e.err != nil {
			// The same broker with the same settings just failed for another cluster.
			return nil, e.err
		}
		if cn := e.link.attach(c, ep, false); cn != nil {
			return cn, nil
		}
		p.forget(e.link)
	}
}

// forget removes l from the pool, so the next lease dials a new connection.
func (p *linkPool) forget(l *link) {
	if !l.shared {
		return
	}
	p.mu.Lock()
	if e := p.entries[l.key]; e != nil && e.link == l {
		delete(p.entries, l.key)
	}
	p.mu.Unlock()
}

// attach gives c's endpoint ep a lease on l, or nil if l is gone or closing.
func (l *link) attach(c *Cluster, ep *endpoint, dialled bool) *connection {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing || l.isLost() {
		return nil
	}
	cn := &connection{c: c, ep: ep, link: l, sess: l.sess, qos2Slots: l.qos2Slots,
		sessionPresent: dialled && l.sessionPresent, lossSignal: newLossSignal()}
	cn.filters.Store(&[]leaseFilter{})
	l.leases = append(l.leases, cn)
	l.publishRoutesLocked()
	return cn
}

func (l *link) publishRoutesLocked() {
	routes := slices.Clone(l.leases)
	l.routes.Store(&routes)
}

// fail ends the link for every lease: each cluster using it moves the endpoint to its dead
// list, and the last lease released closes the session.
func (l *link) fail(reason error) {
	if !l.markLost(reason) {
		return
	}
	sharedLinks.forget(l)
	l.mu.Lock()
	leases := slices.Clone(l.leases)
	l.mu.Unlock()
	for _, cn := range leases {
		cn.c.leaseLost(cn, reason)
	}
}

// release detaches the lease from its link: the filters no other lease holds are
// unsubscribed, and the last lease closes the connection (waiting up to quiesce ms for work
// in progress). It is idempotent.
func (cn *connection) release(reason error, quiesce uint) {
	cn.markLost(reason)
	l := cn.link
	l.mu.Lock()
	i := slices.Index(l.leases, cn)
	if i < 0 {
		l.mu.Unlock()
		return
	}
	l.leases = slices.Delete(l.leases, i, i+1)
	l.publishRoutesLocked()
	var drop []string
	for _, f := range *cn.filters.Load() {
		if !l.heldByOthersLocked(cn, f.filter) {
			drop = append(drop, f.filter)
		}
	}
	last := len(l.leases) == 0
	l.closing = last
	l.mu.Unlock()
	if last {
		sharedLinks.forget(l)
		l.markLost(reason)
		l.sess.disconnect(quiesce, l.farewell.Load())
		return
	}
	if len(drop) > 0 && !l.isLost() {
		// Not waited for: the other leases go on, and a broker that does not answer fails
		// the link through their own operations.
		_ = l.sess.unsubscribe(nil, drop, nil, time.Time{})
	}
}

// heldByOthersLocked reports whether a lease other than cn holds filter.
func (l *link) heldByOthersLocked(cn *connection, filter string) bool {
	for _, o := range l.leases {
		if o != cn && slices.ContainsFunc(*o.filters.Load(), func(f leaseFilter) bool { return f.filter == filter }) {
			return true
		}
	}
	return false
}

// subscribe makes subs on the broker for this lease and returns the QoS the broker granted
// each filter (never above what this lease asked for; 0x80 or above for a refused one, which also makes
// the error a refusedError). On a shared link a filter other leases hold is subscribed again at
// the highest QoS any lease asked for, so that this lease gets the retained messages a
// subscription brings.
func (cn *connection) subscribe(subs []subscription, deadline time.Time) (map[string]byte, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	l := cn.link
	now := time.Now()
	l.mu.Lock()
	next := slices.Clone(*cn.filters.Load())
	for _, s := range subs {
		i := slices.IndexFunc(next, func(f leaseFilter) bool { return f.filter == s.filter })
		if i < 0 {
			next = append(next, leaseFilter{filter: s.filter})
			i = len(next) - 1
		}
		next[i].qos, next[i].since = s.qos, now
	}
	// Holding the filters before the SUBSCRIBE goes out routes what the broker sends at once.
	cn.filters.Store(&next)
	ask := slices.Clone(subs)
	for i := range ask {
		ask[i].qos = l.grantedQoSLocked(ask[i].filter)
	}
	l.mu.Unlock()

	codes, err := l.sess.subscribe(cn, ask, deadline)
	if err != nil {
		return nil, err
	}
	granted := make(map[string]byte, len(subs))
	var refused []string
	var refusal *ReasonError
	for i, s := range subs {
		code := codes[i]
		if code >= 0x80 {
			granted[s.filter] = code // 0x80 under MQTT 3.1.1, the broker's reason code under MQTT 5
			refused = append(refused, s.filter)
			if code != 0x80 && refusal == nil {
				refusal = &ReasonError{Packet: "SUBACK", Code: ReasonCode(code), Endpoint: cn.ep.name}
			}
			continue
		}
		granted[s.filter] = min(code, s.qos)
	}
	if len(refused) == 0 {
		return granted, nil
	}
	slices.Sort(refused)
	l.mu.Lock()
	kept := slices.DeleteFunc(slices.Clone(*cn.filters.Load()), func(f leaseFilter) bool { return slices.Contains(refused, f.filter) })
	cn.filters.Store(&kept)
	l.mu.Unlock()
	return granted, &refusedError{filters: refused, reason: refusal}
}

// grantedQoSLocked is the QoS a filter is subscribed at on the link: the highest any lease
// holding it asked for.
func (l *link) grantedQoSLocked(filter string) byte {
	var q byte
	for _, o := range l.leases {
		for _, f := range *o.filters.Load() {
			if f.filter == filter && f.qos > q {
				q = f.qos
			}
		}
	}
	return q
}

// unsubscribe drops filters for this lease. Only the filters no other lease holds are
// unsubscribed on the broker (with the user properties, MQTT 5); with none left to send it
// returns at once.
func (cn *connection) unsubscribe(filters []string, user []UserProperty, deadline time.Time) error {
	l := cn.link
	l.mu.Lock()
	kept := slices.DeleteFunc(slices.Clone(*cn.filters.Load()), func(f leaseFilter) bool { return slices.Contains(filters, f.filter) })
	cn.filters.Store(&kept)
	var send []string
	for _, f := range filters {
		if !l.heldByOthersLocked(cn, f) {
			send = append(send, f)
		}
	}
	l.mu.Unlock()
	if len(send) == 0 {
		return nil
	}
	return l.sess.unsubscribe(cn, send, user, deadline)
}

// route hands a received message to the leases it is for. It runs on the session's receive
// goroutine and must not block.
func (l *link) route(m incoming) {
	leases := *l.routes.Load()
	if !l.shared {
		// One user: everything the connection receives is its own, as on a client of its
		// own (a persistent session may deliver for subscriptions made before).
		for _, cn := range leases {
			cn.c.onIncoming(cn, m)
		}
		return
	}
	topic, retained := m.topic, m.retained
	now := time.Now()
	var to []*connection
	recent := false
	for _, cn := range leases {
		since, ok := cn.matches(topic)
		if !ok {
			continue
		}
		fresh := retained && now.Sub(since) <= retainedRouteWindow
		switch {
		case fresh && !recent:
			recent, to = true, to[:0]
			to = append(to, cn)
		case fresh || !recent:
			to = append(to, cn)
		}
	}
	if len(to) == 0 && l.key.clientID != "" {
		// A persistent session delivers for subscriptions of earlier connections, which
		// every cluster sharing the session (they share its client ID) made together.
		to = leases
	}
	// Anything else matching no lease's filter belongs to a filter just let go (the
	// UNSUBSCRIBE is on its way) and is for nobody.
	for _, cn := range to {
		cn.c.onIncoming(cn, m)
	}
}

// matches reports whether the lease holds a filter matching topic, and when the latest such
// filter was subscribed.
func (cn *connection) matches(topic string) (since time.Time, ok bool) {
	for _, f := range *cn.filters.Load() {
		if TopicMatches(f.filter, topic) {
			ok = true
			if f.since.After(since) {
				since = f.since
			}
		}
	}
	return since, ok
}

var errConnectTimeout = errors.New("connect timed out")
