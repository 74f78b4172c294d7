package core

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// session5 is MQTT 5 spoken by the engine itself over its transport (coalescingConn), with the
// internal/mqtt5 codec. It keeps what MQTT 5 makes per connection: packet identifiers, the
// broker's Receive Maximum as a send quota, the topic aliases of both directions (so they
// start empty on every new connection and never cross to another broker), the broker's
// Maximum Packet Size, Maximum QoS and Retain Available, keep-alive, and the reason codes of
// every answer. A session lives exactly as long as its TCP connection: everything a broker
// still owes when it ends is failed with the loss, and the cluster sends it again elsewhere.
type session5 struct {
	l        *link
	conn     *coalescingConn
	endpoint string
	maxIn    int // the Maximum Packet Size we announced

	// what the broker's CONNACK allows
	quota      chan struct{} // one place per unacknowledged QoS 1/2 publish: Receive Maximum
	maxOut     int           // the broker's Maximum Packet Size (MQTT's maximum when it set none)
	aliasMax   uint16        // the broker's Topic Alias Maximum (0 when we use none)
	maxQoS     byte
	retainOK   bool
	keepAlive  time.Duration
	inAliasMax uint16 // the Topic Alias Maximum we announced

	mu      sync.Mutex
	nextID  uint16
	pending map[uint16]*op5 // our PUBLISH, SUBSCRIBE and UNSUBSCRIBE packets awaiting an answer
	idle    chan struct{}   // closed and replaced when pending empties (disconnect's quiesce)

	// guarded by conn's queue lock: assigned inside the encoding of a packet, in wire order
	outAliases map[string]uint16

	// the reader goroutine's own
	inAliases map[uint16]string
	inQoS2    map[uint16]struct{} // QoS 2 messages delivered, awaiting their PUBREL

	pong      chan struct{} // a PINGRESP arrived (capacity 1)
	closing   atomic.Bool   // we are disconnecting: the end is not a loss
	ended     chan struct{} // closed when the reader stopped
	endOnce   sync.Once
	endErr    error
	connackAt time.Time
	connack   *Connack
}

// Connack is what a broker's MQTT 5 CONNACK said about the session.
type Connack struct {
	SessionPresent bool
	// AssignedClientID is the client identifier the broker assigned. The engine always sends
	// one (ConnectionConfig.ClientID, generated when empty), so that every broker of a cluster
	// knows the client by the same name; a broker that assigns another anyway is reported here.
	AssignedClientID string
	ReceiveMaximum   uint16 // 65535 when the broker set none
	MaximumQoS       byte
	RetainAvailable  bool
	MaximumPacket    uint32 // 0: no limit beyond MQTT's
	TopicAliasMax    uint16
	ServerKeepAlive  time.Duration // 0: the client's own applies
	// SessionExpiry is the broker's Session Expiry Interval in seconds when it replaced the
	// client's; nil: the client's applies.
	SessionExpiry   *uint32
	ResponseInfo    string
	ServerReference string
	ReasonString    string
	WildcardSubs    bool
	SubscriptionIDs bool
	SharedSubs      bool
	User            []UserProperty
}

// Connack returns what the named endpoint's broker said in the CONNACK of its current
// connection (MQTT 5), or nil when the endpoint is unknown, not live, or speaks MQTT 3.1.1.
func (c *Cluster) Connack(endpoint string) *Connack {
	c.mu.Lock()
	ep := c.byName[endpoint]
	c.mu.Unlock()
	if ep == nil {
		return nil
	}
	if cn := ep.active.Load(); cn != nil {
		return cn.link.connack
	}
	return nil
}

// op5 is one of our packets awaiting the broker's answer; it is the ackToken of a publish.
type op5 struct {
	kind     mqtt5.PacketType // PUBLISH, SUBSCRIBE or UNSUBSCRIBE
	qos      byte
	released bool // its quota place is given back (PUBLISH)
	done     chan struct{}
	err      error
	codes    []mqtt5.ReasonCode // SUBACK, UNSUBACK
	// success is a publish's success reason code from its PUBACK or PUBREC (0x10: no matching
	// subscribers), written before done is closed.
	success mqtt5.ReasonCode
}

// ackReason is the success reason code an MQTT 5 broker acknowledged a publish with (0 under
// MQTT 3.1.1, or when it said plain success).
func ackReason(tok ackToken) ReasonCode {
	if o, ok := tok.(*op5); ok && o.err == nil {
		return ReasonCode(o.success)
	}
	return 0
}

func (o *op5) Done() <-chan struct{} { return o.done }
func (o *op5) Error() error {
	select {
	case <-o.done:
		return o.err
	default:
		return nil
	}
}

// handshake5 sends the MQTT 5 CONNECT over tc and waits for the CONNACK (ConnectTimeout).
// connectSessionExpiry is the Session Expiry Interval (seconds) a CONNECT carries: the
// configured one, else none for a clean session and no expiry for a persistent one (MQTT
// 3.1.1's behaviour).
func connectSessionExpiry(cfg ConnectionConfig) uint32 {
	switch {
	case cfg.MQTT5.SessionExpiry > 0:
		return uint32(min(cfg.MQTT5.SessionExpiry/time.Second, math.MaxUint32))
	case cfg.PersistentSession:
		return math.MaxUint32
	}
	return 0
}

func (c *Cluster) handshake5(ep *endpoint, l *link, tc *coalescingConn) (*link, error) {
	cfg := c.cfg.Connection
	m5 := cfg.MQTT5
	pkt := &mqtt5.Connect{CleanStart: !cfg.PersistentSession, ClientID: cfg.ClientID}
	if cfg.KeepAlive > 0 {
		pkt.KeepAlive = uint16(min(cfg.KeepAlive/time.Second, 65535))
	}
	p := &pkt.Properties
	if p.SessionExpiry = connectSessionExpiry(cfg); p.SessionExpiry > 0 {
		p.Present.Add(mqtt5.PropSessionExpiry)
	}
	if m5.ReceiveMaximum > 0 {
		p.Present.Add(mqtt5.PropReceiveMaximum)
		p.ReceiveMaximum = m5.ReceiveMaximum
	}
	if c.cfg.MaxIncomingPacket < mqtt5.MaxPacketSize {
		p.Present.Add(mqtt5.PropMaximumPacketSize)
		p.MaximumPacketSize = uint32(c.cfg.MaxIncomingPacket)
	}
	if m5.TopicAliasMaximum > 0 {
		p.Present.Add(mqtt5.PropTopicAliasMaximum)
		p.TopicAliasMaximum = m5.TopicAliasMaximum
	}
	if m5.RequestResponseInfo {
		p.Present.Add(mqtt5.PropRequestResponseInfo)
		p.RequestResponseInfo = 1
	}
	if m5.NoProblemInfo {
		p.Present.Add(mqtt5.PropRequestProblemInfo)
		p.RequestProblemInfo = 0
	}
	p.User = appendWireUser(p.User, m5.User)
	if cfg.Username != "" {
		pkt.HasUsername, pkt.Username = true, cfg.Username
	}
	if cfg.Password != "" {
		pkt.HasPassword, pkt.Password = true, []byte(cfg.Password)
	}
	if w := cfg.Will; w != nil {
		pkt.Will = &mqtt5.Will{QoS: w.QoS, Retain: w.Retained, Topic: w.Topic, Payload: w.Payload}
		w.Properties.toWire(&pkt.Will.Properties, 0, "")
		if w.Delay > 0 {
			pkt.Will.Properties.Present.Add(mqtt5.PropWillDelay)
			pkt.Will.Properties.WillDelay = uint32(min(w.Delay/time.Second, math.MaxUint32))
		}
	}
	out, err := pkt.Append(nil)
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	if _, err := tc.Write(out); err != nil {
		tc.Close()
		l.markLost(err)
		return nil, &refusal{fmt.Errorf("sending CONNECT: %w", err)}
	}
	_ = tc.Conn.SetReadDeadline(time.Now().Add(cfg.ConnectTimeout))
	raw, _ := tc.r.Peek(4)
	raw = bytes.Clone(raw)
	got, err := readPacket5(tc.r, c.cfg.MaxIncomingPacket)
	_ = tc.Conn.SetReadDeadline(time.Time{})
	if err == nil && got.Type() != mqtt5.CONNACK {
		err = violation("%v before the CONNACK", got.Type())
	}
	if err != nil {
		tc.Close()
		l.markLost(err)
		if bytes.Equal(raw, []byte{0x20, 0x02, 0x00, 0x01}) {
			return nil, &refusal{errors.New("the broker does not speak MQTT 5: it answered with MQTT 3.1.1's \"unacceptable protocol version\" (use protocol version 4 for it)")}
		}
		var perr *mqtt5.Error
		if errors.As(err, &perr) {
			err = fmt.Errorf("%w: %v", ErrProtocolViolation, err)
		}
		return nil, &refusal{fmt.Errorf("no CONNACK: %w", err)}
	}
	ca := got.(*mqtt5.Connack)
	if ca.Reason.IsError() {
		tc.Close()
		rerr := &ReasonError{Packet: "CONNACK", Code: ReasonCode(ca.Reason), Reason: ca.Properties.ReasonString,
			ServerReference: ca.Properties.ServerReference, Endpoint: ep.name}
		l.markLost(rerr)
		return nil, &refusal{rerr}
	}
	s := &session5{l: l, conn: tc, endpoint: ep.name, maxIn: c.cfg.MaxIncomingPacket,
		maxOut: mqtt5.MaxPacketSize, maxQoS: 2, retainOK: true, keepAlive: max(cfg.KeepAlive, 0),
		inAliasMax: m5.TopicAliasMaximum, pending: map[uint16]*op5{}, idle: make(chan struct{}),
		outAliases: map[string]uint16{}, inAliases: map[uint16]string{}, inQoS2: map[uint16]struct{}{},
		pong: make(chan struct{}, 1), ended: make(chan struct{}), connackAt: time.Now()}
	s.connack = s.applyConnack(ca, m5.NoTopicAliases)
	if ca.SessionPresent {
		// A resumed session may still hold QoS 2 packet identifiers of the last connection
		// (a PUBLISH whose PUBREL never came), and a new message reusing one would be taken for
		// the old one: packet identifiers start at a random place instead of at 1.
		s.nextID = uint16(rand.Uint32())
	}
	l.sess = s
	l.sessionPresent = ca.SessionPresent
	l.connack = s.connack
	go s.readLoop()
	if s.keepAlive > 0 {
		go s.keepAliveLoop()
	}
	return l, nil
}

// applyConnack takes the broker's limits from its CONNACK.
func (s *session5) applyConnack(ca *mqtt5.Connack, noAliases bool) *Connack {
	p := &ca.Properties
	info := &Connack{SessionPresent: ca.SessionPresent, AssignedClientID: p.AssignedClientID, ReceiveMaximum: 65535,
		MaximumQoS: 2, RetainAvailable: true, WildcardSubs: true, SubscriptionIDs: true, SharedSubs: true,
		ResponseInfo: p.ResponseInfo, ServerReference: p.ServerReference, ReasonString: p.ReasonString}
	if p.Present.Has(mqtt5.PropReceiveMaximum) {
		info.ReceiveMaximum = p.ReceiveMaximum
	}
	if p.Present.Has(mqtt5.PropMaximumQoS) {
		info.MaximumQoS = p.MaximumQoS
	}
	if p.Present.Has(mqtt5.PropRetainAvailable) {
		info.RetainAvailable = p.RetainAvailable == 1
	}
	if p.Present.Has(mqtt5.PropMaximumPacketSize) {
		info.MaximumPacket = p.MaximumPacketSize
		s.maxOut = int(p.MaximumPacketSize)
	}
	if p.Present.Has(mqtt5.PropTopicAliasMaximum) {
		info.TopicAliasMax = p.TopicAliasMaximum
	}
	if p.Present.Has(mqtt5.PropSessionExpiry) {
		v := p.SessionExpiry
		info.SessionExpiry = &v
	}
	if p.Present.Has(mqtt5.PropServerKeepAlive) {
		info.ServerKeepAlive = time.Duration(p.ServerKeepAlive) * time.Second
		s.keepAlive = info.ServerKeepAlive
	}
	if p.Present.Has(mqtt5.PropWildcardSubAvailable) {
		info.WildcardSubs = p.WildcardSubAvailable == 1
	}
	if p.Present.Has(mqtt5.PropSubIDAvailable) {
		info.SubscriptionIDs = p.SubIDAvailable == 1
	}
	if p.Present.Has(mqtt5.PropSharedSubAvailable) {
		info.SharedSubs = p.SharedSubAvailable == 1
	}
	for _, u := range p.User {
		info.User = append(info.User, UserProperty{Key: u.Key, Value: u.Value})
	}
	s.quota = make(chan struct{}, info.ReceiveMaximum)
	s.maxQoS, s.retainOK = info.MaximumQoS, info.RetainAvailable
	if !noAliases {
		s.aliasMax = info.TopicAliasMax
	}
	return info
}

// write encodes pkt into the transport's queue. A packet larger than the broker's Maximum
// Packet Size is refused here, with the reason code the broker would have used.
func (s *session5) write(pkt mqtt5.Packet) error {
	var perr error
	err := s.conn.enqueue(func(q []byte) []byte {
		out, err := pkt.Append(q)
		if err == nil && len(out)-len(q) > s.maxOut {
			out, err = q, &ReasonError{Packet: "CONNACK", Code: ReasonPacketTooLarge, Endpoint: s.endpoint,
				Reason: fmt.Sprintf("%d bytes, above the broker's Maximum Packet Size of %d", len(out)-len(q), s.maxOut)}
		}
		perr = err
		return out
	})
	if err != nil {
		return err
	}
	return perr
}

// writePublish is write for a PUBLISH, with the topic replaced by an alias when the topic has
// one on this connection, or given one while the broker's Topic Alias Maximum allows. The
// alias is assigned inside the queue's lock, so aliases are known to the broker in wire order.
func (s *session5) writePublish(pkt *mqtt5.Publish) error {
	if s.aliasMax == 0 {
		return s.write(pkt)
	}
	var perr error
	err := s.conn.enqueue(func(q []byte) []byte {
		topic := pkt.Topic
		alias, known := s.outAliases[topic]
		fresh := false
		if !known && len(s.outAliases) < int(s.aliasMax) {
			alias, fresh = uint16(len(s.outAliases)+1), true
		}
		if alias != 0 {
			pkt.Properties.Present.Add(mqtt5.PropTopicAlias)
			pkt.Properties.TopicAlias = alias
			if known {
				pkt.Topic = ""
			}
		}
		out, err := pkt.Append(q)
		pkt.Topic = topic
		if err == nil && len(out)-len(q) > s.maxOut {
			out, err = q, &ReasonError{Packet: "CONNACK", Code: ReasonPacketTooLarge, Endpoint: s.endpoint,
				Reason: fmt.Sprintf("%d bytes, above the broker's Maximum Packet Size of %d", len(out)-len(q), s.maxOut)}
		}
		if err == nil && fresh {
			s.outAliases[topic] = alias
		}
		perr = err
		return out
	})
	if err != nil {
		return err
	}
	return perr
}

func (s *session5) publish(cn *connection, req publishReq) ackToken {
	if req.qos > s.maxQoS {
		return &doneToken{err: &ReasonError{Packet: "CONNACK", Code: ReasonQoSNotSupported, Endpoint: s.endpoint,
			Reason: fmt.Sprintf("QoS %d above the broker's Maximum QoS of %d", req.qos, s.maxQoS)}}
	}
	if req.retained && !s.retainOK {
		return &doneToken{err: &ReasonError{Packet: "CONNACK", Code: ReasonRetainNotSupported, Endpoint: s.endpoint,
			Reason: "the broker does not keep retained messages"}}
	}
	pkt := &mqtt5.Publish{QoS: req.qos, Retain: req.retained, Topic: req.topic, Payload: req.payload}
	var expiry uint32 // 0: the application's own value, if any, goes as given
	if !req.expires.IsZero() {
		left := time.Until(req.expires)
		if left <= 0 {
			return &doneToken{err: expiredError(req.topic)}
		}
		expiry = uint32(min((left+time.Second-1)/time.Second, math.MaxUint32))
	}
	req.props.toWire(&pkt.Properties, expiry, req.stamp)
	if req.qos == 0 {
		return writtenToken(s.writePublish(pkt))
	}
	select {
	case s.quota <- struct{}{}:
	case <-s.l.lost:
		return &doneToken{err: fmt.Errorf("connection lost: %w", s.l.lostErr)}
	}
	op := &op5{kind: mqtt5.PUBLISH, qos: req.qos, done: make(chan struct{})}
	id, err := s.register(op)
	if err != nil {
		<-s.quota
		return &doneToken{err: err}
	}
	pkt.PacketID = id
	if err := s.writePublish(pkt); err != nil {
		s.finish(id, mqtt5.PUBLISH, err, nil)
		return op
	}
	return op
}

// register gives op a free packet identifier.
func (s *session5) register(op *op5) (uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		return 0, fmt.Errorf("connection lost: %w", s.endErr)
	}
	for range 65535 {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if _, used := s.pending[s.nextID]; !used {
			s.pending[s.nextID] = op
			return s.nextID, nil
		}
	}
	return 0, errors.New("all 65535 packet identifiers are in use")
}

// finish completes the operation with packet identifier id (if it is of kind), with err or
// the broker's reason codes, and gives back its quota place.
func (s *session5) finish(id uint16, kind mqtt5.PacketType, err error, codes []mqtt5.ReasonCode) bool {
	s.mu.Lock()
	op := s.pending[id]
	if op == nil || op.kind != kind {
		s.mu.Unlock()
		return false
	}
	delete(s.pending, id)
	if len(s.pending) == 0 {
		close(s.idle)
		s.idle = make(chan struct{})
	}
	s.mu.Unlock()
	op.err, op.codes = err, codes
	if kind == mqtt5.PUBLISH && !op.released {
		op.released = true
		<-s.quota
	}
	close(op.done)
	return true
}

// noteSuccess keeps the success reason code of the publish awaiting id.
func (s *session5) noteSuccess(id uint16, rc mqtt5.ReasonCode) {
	s.mu.Lock()
	if op := s.pending[id]; op != nil && op.kind == mqtt5.PUBLISH {
		op.success = rc
	}
	s.mu.Unlock()
}

func (s *session5) subscribe(cn *connection, subs []subscription, deadline time.Time) ([]byte, error) {
	codes := make([]byte, len(subs))
	// The Subscription Identifier and the user properties are per SUBSCRIBE: one packet per
	// set of them.
	var groups []SubscribeOptions
	for _, sub := range subs {
		if !slices.ContainsFunc(groups, sub.opts.samePacket) {
			groups = append(groups, sub.opts)
		}
	}
	for _, g := range groups {
		pkt := &mqtt5.Subscribe{}
		var at []int
		for i, sub := range subs {
			if !sub.opts.samePacket(g) {
				continue
			}
			at = append(at, i)
			pkt.Subscriptions = append(pkt.Subscriptions, mqtt5.Subscription{Filter: sub.filter, QoS: sub.qos,
				NoLocal: sub.opts.NoLocal, RetainAsPublished: sub.opts.RetainAsPublished, RetainHandling: sub.opts.RetainHandling})
		}
		if g.ID > 0 {
			pkt.Properties.SubscriptionIDs = []uint32{uint32(g.ID)}
		}
		pkt.Properties.User = appendWireUser(pkt.Properties.User, g.User)
		op := &op5{kind: mqtt5.SUBSCRIBE, done: make(chan struct{})}
		pid, err := s.register(op)
		if err != nil {
			return nil, err
		}
		pkt.PacketID = pid
		if err := s.write(pkt); err != nil {
			s.finish(pid, mqtt5.SUBSCRIBE, err, nil)
		}
		if err := waitToken(cn, op, deadline); err != nil {
			return nil, err
		}
		if len(op.codes) != len(at) {
			err := violation("SUBACK with %d reason codes for %d filters", len(op.codes), len(at))
			s.abort(mqtt5.ReasonProtocolError, err)
			return nil, err
		}
		for j, i := range at {
			codes[i] = byte(op.codes[j])
		}
	}
	return codes, nil
}

func (s *session5) unsubscribe(cn *connection, filters []string, user []UserProperty, deadline time.Time) error {
	op := &op5{kind: mqtt5.UNSUBSCRIBE, done: make(chan struct{})}
	pid, err := s.register(op)
	if err != nil {
		return err
	}
	pkt := &mqtt5.Unsubscribe{PacketID: pid, Filters: filters}
	pkt.Properties.User = appendWireUser(pkt.Properties.User, user)
	if err := s.write(pkt); err != nil {
		s.finish(pid, mqtt5.UNSUBSCRIBE, err, nil)
	}
	if cn == nil {
		return nil
	}
	if err := waitToken(cn, op, deadline); err != nil {
		return err
	}
	for i, rc := range op.codes {
		if rc.IsError() && i < len(filters) {
			return &ReasonError{Packet: "UNSUBACK", Code: ReasonCode(rc), Endpoint: s.endpoint,
				Reason: fmt.Sprintf("for %q", filters[i])}
		}
	}
	return nil
}

// disconnect waits up to quiesce ms for the broker's outstanding answers, then sends bye, or a
// normal DISCONNECT (the will is not published), and closes the connection.
func (s *session5) disconnect(quiesce uint, bye *mqtt5.Disconnect) {
	if !s.closing.CompareAndSwap(false, true) {
		return
	}
	if quiesce > 0 {
		t := time.NewTimer(time.Duration(quiesce) * time.Millisecond)
		for {
			s.mu.Lock()
			n, idle := len(s.pending), s.idle
			s.mu.Unlock()
			if n == 0 {
				break
			}
			select {
			case <-idle:
				continue
			case <-s.ended:
			case <-t.C:
			}
			break
		}
		t.Stop()
	}
	if bye == nil {
		bye = &mqtt5.Disconnect{}
	}
	_ = s.write(bye)
	s.end(errors.New("disconnected"))
}

// abort sends a DISCONNECT with the reason code for what the broker did wrong, and ends the
// session with err.
func (s *session5) abort(code mqtt5.ReasonCode, err error) {
	_ = s.write(&mqtt5.Disconnect{Reason: code})
	s.end(err)
}

// end closes the connection once: every operation still waiting fails with err, and unless we
// were disconnecting, the link is failed so the cluster moves the endpoint to its dead list.
func (s *session5) end(err error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.endErr = err
		pending := s.pending
		s.pending = nil
		s.mu.Unlock()
		lost := fmt.Errorf("connection lost: %w", err)
		for _, op := range pending {
			op.err = lost
			if op.kind == mqtt5.PUBLISH && !op.released {
				op.released = true
				<-s.quota
			}
			close(op.done)
		}
		s.conn.Close()
		if !s.closing.Load() {
			s.l.fail(lost)
		} else {
			s.l.markLost(err)
		}
	})
}

// readPacket5 reads and decodes one packet. A new buffer per packet: a delivered payload
// aliases it and belongs to the application. The size announced in the header is checked
// against max before anything is read, and a packet larger than the read buffer is read in
// pieces, so memory grows with the bytes that arrived, not with the bytes announced.
func readPacket5(r *bufio.Reader, max int) (mqtt5.Packet, error) {
	var h mqtt5.FixedHeader
	for n := 2; ; n++ {
		head, err := r.Peek(n)
		if err != nil {
			if len(head) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		h, err = mqtt5.ParseFixedHeader(head, max)
		if err == nil {
			break
		}
		if !errors.Is(err, mqtt5.ErrIncomplete) || n == 5 {
			return nil, err
		}
	}
	var buf []byte
	if h.Size() <= r.Size() {
		b, err := r.Peek(h.Size())
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		buf = bytes.Clone(b)
		_, _ = r.Discard(h.Size())
	} else {
		var grown bytes.Buffer
		grown.Grow(64 << 10)
		if _, err := io.CopyN(&grown, r, int64(h.Size())); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		buf = grown.Bytes()
	}
	p, _, err := mqtt5.Decode(buf, max)
	return p, err
}

// readLoop reads and handles what the broker sends, in order, until the connection ends.
func (s *session5) readLoop() {
	defer close(s.ended)
	for {
		p, err := readPacket5(s.conn.r, s.maxIn)
		if err != nil {
			var perr *mqtt5.Error
			if errors.As(err, &perr) {
				s.abort(perr.Reason, fmt.Errorf("%w: %v", ErrProtocolViolation, err))
				return
			}
			s.end(err)
			return
		}
		if err := s.handle(p); err != nil {
			var rerr *ReasonError
			if errors.As(err, &rerr) && rerr.Packet == "DISCONNECT" {
				s.end(err)
				return
			}
			code := mqtt5.ReasonProtocolError
			if _, ok := err.(*aliasError); ok {
				code = mqtt5.ReasonTopicAliasInvalid
			}
			s.abort(code, err)
			return
		}
	}
}

func (s *session5) handle(p mqtt5.Packet) error {
	switch p := p.(type) {
	case *mqtt5.Publish:
		return s.received(p)
	case *mqtt5.Ack:
		switch p.Kind {
		case mqtt5.PUBACK, mqtt5.PUBCOMP:
			if p.Kind == mqtt5.PUBACK && !p.Reason.IsError() {
				s.noteSuccess(p.PacketID, p.Reason)
			}
			s.finish(p.PacketID, mqtt5.PUBLISH, s.reasonErr(p.Kind, p.Reason, &p.Properties), nil)
		case mqtt5.PUBREC:
			if p.Reason.IsError() {
				s.finish(p.PacketID, mqtt5.PUBLISH, s.reasonErr(p.Kind, p.Reason, &p.Properties), nil)
				return nil
			}
			rel := &mqtt5.Ack{Kind: mqtt5.PUBREL, PacketID: p.PacketID}
			s.mu.Lock()
			op := s.pending[p.PacketID]
			if op != nil && op.kind == mqtt5.PUBLISH && op.qos == 2 {
				op.success = p.Reason
			} else {
				rel.Reason = mqtt5.ReasonPacketIdentifierNotFound
			}
			s.mu.Unlock()
			return s.write(rel)
		case mqtt5.PUBREL:
			comp := &mqtt5.Ack{Kind: mqtt5.PUBCOMP, PacketID: p.PacketID}
			if _, ok := s.inQoS2[p.PacketID]; ok {
				delete(s.inQoS2, p.PacketID)
			} else {
				comp.Reason = mqtt5.ReasonPacketIdentifierNotFound
			}
			return s.write(comp)
		}
	case *mqtt5.Suback:
		s.finish(p.PacketID, mqtt5.SUBSCRIBE, nil, slices.Clone(p.Reasons))
	case *mqtt5.Unsuback:
		s.finish(p.PacketID, mqtt5.UNSUBSCRIBE, nil, slices.Clone(p.Reasons))
	case *mqtt5.Pingresp:
		select {
		case s.pong <- struct{}{}:
		default:
		}
	case *mqtt5.Disconnect:
		return &ReasonError{Packet: "DISCONNECT", Code: ReasonCode(p.Reason), Reason: p.Properties.ReasonString,
			ServerReference: p.Properties.ServerReference, Endpoint: s.endpoint}
	default:
		return violation("%v, which a server does not send to a connected client", p.Type())
	}
	return nil
}

// reasonErr is the error for a failure reason code, nil for success.
func (s *session5) reasonErr(kind mqtt5.PacketType, rc mqtt5.ReasonCode, p *mqtt5.Properties) error {
	if !rc.IsError() {
		return nil
	}
	return &ReasonError{Packet: kind.String(), Code: ReasonCode(rc), Reason: p.ReasonString, Endpoint: s.endpoint}
}

// received delivers a PUBLISH from the broker and acknowledges it once the receive path has
// taken it. A QoS 2 message is delivered on its PUBLISH and remembered until its PUBREL, so a
// resent PUBLISH with the same identifier is not delivered twice.
func (s *session5) received(p *mqtt5.Publish) error {
	topic := p.Topic
	if p.Properties.Present.Has(mqtt5.PropTopicAlias) {
		a := p.Properties.TopicAlias
		if a == 0 || a > s.inAliasMax {
			return &aliasError{a, s.inAliasMax}
		}
		if topic != "" {
			s.inAliases[a] = topic
		} else if topic = s.inAliases[a]; topic == "" {
			return violation("topic alias %d used before it was set", a)
		}
		p.Properties.Present.Del(mqtt5.PropTopicAlias)
	}
	if p.QoS == 2 {
		if _, seen := s.inQoS2[p.PacketID]; seen {
			return s.write(&mqtt5.Ack{Kind: mqtt5.PUBREC, PacketID: p.PacketID})
		}
	}
	props, stamp := propertiesFromWire(&p.Properties)
	s.l.route(incoming{topic: topic, payload: p.Payload, qos: p.QoS, retained: p.Retain, duplicate: p.Dup,
		props: props, stamp: stamp})
	switch p.QoS {
	case 1:
		return s.write(&mqtt5.Ack{Kind: mqtt5.PUBACK, PacketID: p.PacketID})
	case 2:
		s.inQoS2[p.PacketID] = struct{}{}
		return s.write(&mqtt5.Ack{Kind: mqtt5.PUBREC, PacketID: p.PacketID})
	}
	return nil
}

// aliasError is a topic alias outside what we announced.
type aliasError struct{ alias, max uint16 }

func (e *aliasError) Error() string {
	return fmt.Sprintf("%v: topic alias %d, above the Topic Alias Maximum of %d we announced", ErrProtocolViolation, e.alias, e.max)
}

// keepAliveLoop sends a PINGREQ every keep-alive interval and ends the session when one is not
// answered within pingTimeout: a broker (or a path to it) that died silently.
func (s *session5) keepAliveLoop() {
	wait := pingTimeout(s.keepAlive)
	t := time.NewTicker(s.keepAlive * 3 / 4)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.ended:
			return
		}
		select {
		case <-s.pong: // a stale answer
		default:
		}
		if err := s.write(&mqtt5.Pingreq{}); err != nil {
			return // the reader sees the loss
		}
		timer := time.NewTimer(wait)
		select {
		case <-s.pong:
			timer.Stop()
		case <-s.ended:
			timer.Stop()
			return
		case <-timer.C:
			s.end(fmt.Errorf("no PINGRESP within %v", wait))
			return
		}
	}
}
