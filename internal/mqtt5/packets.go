package mqtt5

import "slices"

// Packet is one MQTT 5 control packet.
type Packet interface {
	// Type is the packet's control packet type.
	Type() PacketType
	// Append validates the packet and appends its encoding to dst. On error dst is returned
	// unchanged. With enough capacity in dst it does not allocate.
	Append(dst []byte) ([]byte, error)
	// decode fills the packet from the flags of its fixed header and its body.
	decode(flags byte, body []byte) error
}

// QoS levels.
const (
	QoS0 byte = 0
	QoS1 byte = 1
	QoS2 byte = 2
)

// Connect is CONNECT (spec 3.1). The protocol name and level are always "MQTT" and 5.
type Connect struct {
	CleanStart  bool
	KeepAlive   uint16 // seconds
	Properties  Properties
	ClientID    string
	Will        *Will // nil: no will
	HasUsername bool
	Username    string
	HasPassword bool
	Password    []byte
}

// Will is the will message a CONNECT carries (spec 3.1.3.2-3.1.3.4).
type Will struct {
	QoS        byte
	Retain     bool
	Properties Properties // only will properties (Will Delay Interval, message properties)
	Topic      string
	Payload    []byte
}

// Connack is CONNACK (spec 3.2).
type Connack struct {
	SessionPresent bool
	Reason         ReasonCode
	Properties     Properties
}

// Publish is PUBLISH (spec 3.3). The codec does not look into the payload: whether it honours
// a Payload Format Indicator of 1 (UTF-8) is the application's to check, at a cost the codec
// should not put on every message.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string // may be empty when Properties carry a Topic Alias
	PacketID   uint16 // QoS 1 and 2 only
	Properties Properties
	Payload    []byte
}

// Ack is PUBACK, PUBREC, PUBREL or PUBCOMP (spec 3.4-3.7), which share one layout; Kind says
// which. Encoding uses the shortest form the specification allows: no reason code when it is
// Success and there are no properties, no property length when there are none.
type Ack struct {
	Kind       PacketType
	PacketID   uint16
	Reason     ReasonCode
	Properties Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its subscription options (spec 3.8.3.1).
type Subscription struct {
	Filter            string
	QoS               byte // maximum QoS
	NoLocal           bool // do not receive what this client publishes
	RetainAsPublished bool // keep the RETAIN flag of forwarded messages
	RetainHandling    byte // 0 send retained at subscribe, 1 only if new, 2 never
}

// Subscribe is SUBSCRIBE (spec 3.8).
type Subscribe struct {
	PacketID      uint16
	Properties    Properties
	Subscriptions []Subscription
}

// Suback is SUBACK (spec 3.9): one reason code per subscription, in order.
type Suback struct {
	PacketID   uint16
	Properties Properties
	Reasons    []ReasonCode
}

// Unsubscribe is UNSUBSCRIBE (spec 3.10).
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    []string
}

// Unsuback is UNSUBACK (spec 3.11): one reason code per topic filter, in order.
type Unsuback struct {
	PacketID   uint16
	Properties Properties
	Reasons    []ReasonCode
}

// Pingreq is PINGREQ (spec 3.12).
type Pingreq struct{}

// Pingresp is PINGRESP (spec 3.13).
type Pingresp struct{}

// Disconnect is DISCONNECT (spec 3.14). Encoding uses the shortest form.
type Disconnect struct {
	Reason     ReasonCode
	Properties Properties
}

// Auth is AUTH (spec 3.15). Encoding uses the shortest form.
type Auth struct {
	Reason     ReasonCode
	Properties Properties
}

func (*Connect) Type() PacketType     { return CONNECT }
func (*Connack) Type() PacketType     { return CONNACK }
func (*Publish) Type() PacketType     { return PUBLISH }
func (*Subscribe) Type() PacketType   { return SUBSCRIBE }
func (*Suback) Type() PacketType      { return SUBACK }
func (*Unsubscribe) Type() PacketType { return UNSUBSCRIBE }
func (*Unsuback) Type() PacketType    { return UNSUBACK }
func (*Pingreq) Type() PacketType     { return PINGREQ }
func (*Pingresp) Type() PacketType    { return PINGRESP }
func (*Disconnect) Type() PacketType  { return DISCONNECT }
func (*Auth) Type() PacketType        { return AUTH }

// Type is PUBACK, PUBREC, PUBREL or PUBCOMP, as Kind says.
func (a *Ack) Type() PacketType { return a.Kind }

// fixedFlags is the low nibble each packet type must carry (spec 2.1.3); PUBLISH has its own.
var fixedFlags = [16]byte{PUBREL: 2, SUBSCRIBE: 2, UNSUBSCRIBE: 2}

// appendHeader grows dst once for the whole packet and writes its fixed header.
func appendHeader(dst []byte, t PacketType, flags byte, remLen int) ([]byte, error) {
	if remLen > MaxVarInt {
		return dst, &Error{Packet: t, Reason: ReasonPacketTooLarge, Msg: "remaining length over 268435455"}
	}
	dst = slices.Grow(dst, 1+varIntLen(remLen)+remLen)
	dst = append(dst, byte(t)<<4|flags)
	return appendVarInt(dst, remLen), nil
}

// propsLen checks p for context c and returns its size and the size with its length prefix.
func propsLen(p *Properties, c propCtx) (int, int, error) {
	if err := p.check(c); err != nil {
		return 0, 0, err
	}
	n := p.size()
	return n, varIntLen(n) + n, nil
}

func stringErr(t PacketType, s string, what string) error {
	if !validString(s) {
		return malformed(t, what+" not a valid MQTT string")
	}
	return nil
}

// ---- CONNECT

func (c *Connect) Append(dst []byte) ([]byte, error) {
	pn, pl, err := propsLen(&c.Properties, propCtx(CONNECT))
	if err != nil {
		return dst, err
	}
	if err := stringErr(CONNECT, c.ClientID, "Client Identifier"); err != nil {
		return dst, err
	}
	rem := 10 + pl + 2 + len(c.ClientID) // name(6) level(1) flags(1) keep alive(2)
	flags := byte(0)
	if c.CleanStart {
		flags |= 0x02
	}
	var wn int
	if w := c.Will; w != nil {
		var wl int
		wn, wl, err = propsLen(&w.Properties, ctxWill)
		if err != nil {
			return dst, err
		}
		if w.QoS > 2 {
			return dst, malformed(CONNECT, "Will QoS over 2")
		}
		if err := checkTopicName(CONNECT, w.Topic, false); err != nil {
			return dst, err
		}
		if len(w.Payload) > 0xffff {
			return dst, malformed(CONNECT, "Will Payload longer than 65535 bytes")
		}
		rem += wl + 2 + len(w.Topic) + 2 + len(w.Payload)
		flags |= 0x04 | w.QoS<<3
		if w.Retain {
			flags |= 0x20
		}
	}
	if c.HasUsername {
		if err := stringErr(CONNECT, c.Username, "User Name"); err != nil {
			return dst, err
		}
		rem += 2 + len(c.Username)
		flags |= 0x80
	}
	if c.HasPassword {
		if len(c.Password) > 0xffff {
			return dst, malformed(CONNECT, "Password longer than 65535 bytes")
		}
		rem += 2 + len(c.Password)
		flags |= 0x40
	}
	b, err := appendHeader(dst, CONNECT, 0, rem)
	if err != nil {
		return dst, err
	}
	b = append(b, 0, 4, 'M', 'Q', 'T', 'T', 5, flags)
	b = appendUint16(b, c.KeepAlive)
	b = c.Properties.appendTo(b, pn)
	b = appendString(b, c.ClientID)
	if w := c.Will; w != nil {
		b = w.Properties.appendTo(b, wn)
		b = appendString(b, w.Topic)
		b = appendBinary(b, w.Payload)
	}
	if c.HasUsername {
		b = appendString(b, c.Username)
	}
	if c.HasPassword {
		b = appendBinary(b, c.Password)
	}
	return b, nil
}

func (c *Connect) decode(_ byte, body []byte) error {
	r := reader{b: body, t: CONNECT}
	name := r.binary("Protocol Name")
	level := r.byte1("Protocol Version")
	if r.err != nil {
		return r.err
	}
	if string(name) != "MQTT" {
		return protoErr(CONNECT, "Protocol Name not MQTT")
	}
	if level != 5 {
		return &Error{Packet: CONNECT, Reason: ReasonUnsupportedProtocolVersion, Msg: "Protocol Version not 5"}
	}
	flags := r.byte1("Connect Flags")
	c.KeepAlive = r.uint16("Keep Alive")
	if r.err != nil {
		return r.err
	}
	if flags&0x01 != 0 {
		return malformed(CONNECT, "reserved Connect Flag set")
	}
	willQoS := flags >> 3 & 3
	if flags&0x04 == 0 && flags&0x38 != 0 {
		return malformed(CONNECT, "Will QoS or Will Retain without Will Flag")
	}
	if willQoS > 2 {
		return malformed(CONNECT, "Will QoS of 3")
	}
	c.CleanStart = flags&0x02 != 0
	c.Properties.decode(&r, propCtx(CONNECT))
	c.ClientID = r.utf8("Client Identifier")
	c.Will = nil
	if flags&0x04 != 0 {
		w := &Will{QoS: willQoS, Retain: flags&0x20 != 0}
		w.Properties.decode(&r, ctxWill)
		w.Topic = r.utf8("Will Topic")
		w.Payload = r.binary("Will Payload")
		if r.err == nil {
			if err := checkTopicName(CONNECT, w.Topic, false); err != nil {
				return err
			}
		}
		c.Will = w
	}
	c.HasUsername, c.Username = flags&0x80 != 0, ""
	if c.HasUsername {
		c.Username = r.utf8("User Name")
	}
	c.HasPassword, c.Password = flags&0x40 != 0, nil
	if c.HasPassword {
		c.Password = r.binary("Password")
	}
	return r.end()
}

// end reports the first error, or trailing bytes the packet's layout has no place for.
func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return r.err
}

// ---- CONNACK

func (c *Connack) Append(dst []byte) ([]byte, error) {
	if !connackReasons.has(c.Reason) {
		return dst, protoErr(CONNACK, "reason code "+c.Reason.String()+" not allowed")
	}
	if c.SessionPresent && c.Reason != ReasonSuccess {
		return dst, protoErr(CONNACK, "Session Present with an error reason code")
	}
	pn, pl, err := propsLen(&c.Properties, propCtx(CONNACK))
	if err != nil {
		return dst, err
	}
	b, err := appendHeader(dst, CONNACK, 0, 2+pl)
	if err != nil {
		return dst, err
	}
	ack := byte(0)
	if c.SessionPresent {
		ack = 1
	}
	b = append(b, ack, byte(c.Reason))
	return c.Properties.appendTo(b, pn), nil
}

func (c *Connack) decode(_ byte, body []byte) error {
	r := reader{b: body, t: CONNACK}
	ack := r.byte1("Connect Acknowledge Flags")
	c.Reason = ReasonCode(r.byte1("Reason Code"))
	if r.err != nil {
		return r.err
	}
	if ack&0xfe != 0 {
		return malformed(CONNACK, "reserved Connect Acknowledge Flag set")
	}
	c.SessionPresent = ack == 1
	if !connackReasons.has(c.Reason) {
		return protoErr(CONNACK, "reason code "+c.Reason.String()+" not allowed")
	}
	if c.SessionPresent && c.Reason != ReasonSuccess {
		return protoErr(CONNACK, "Session Present with an error reason code")
	}
	c.Properties.decode(&r, propCtx(CONNACK))
	return r.end()
}

// ---- PUBLISH

// checkTopicName checks a topic name (spec 4.7.3): a valid string without wildcards, not empty
// unless a Topic Alias stands in for it.
func checkTopicName(t PacketType, topic string, aliased bool) error {
	if topic == "" && !aliased {
		return protoErr(t, "empty Topic Name")
	}
	if err := stringErr(t, topic, "Topic Name"); err != nil {
		return err
	}
	for i := 0; i < len(topic); i++ {
		if topic[i] == '+' || topic[i] == '#' {
			return protoErr(t, "wildcard in Topic Name")
		}
	}
	return nil
}

func (p *Publish) flags() byte {
	f := p.QoS << 1
	if p.Dup {
		f |= 0x08
	}
	if p.Retain {
		f |= 0x01
	}
	return f
}

func (p *Publish) Append(dst []byte) ([]byte, error) {
	if p.QoS > 2 {
		return dst, malformed(PUBLISH, "QoS over 2")
	}
	if p.QoS == 0 && (p.Dup || p.PacketID != 0) {
		return dst, protoErr(PUBLISH, "DUP or Packet Identifier on a QoS 0 message")
	}
	if p.QoS > 0 && p.PacketID == 0 {
		return dst, protoErr(PUBLISH, "Packet Identifier of 0")
	}
	if err := checkTopicName(PUBLISH, p.Topic, p.Properties.Present.Has(PropTopicAlias)); err != nil {
		return dst, err
	}
	pn, pl, err := propsLen(&p.Properties, propCtx(PUBLISH))
	if err != nil {
		return dst, err
	}
	rem := 2 + len(p.Topic) + pl + len(p.Payload)
	if p.QoS > 0 {
		rem += 2
	}
	b, err := appendHeader(dst, PUBLISH, p.flags(), rem)
	if err != nil {
		return dst, err
	}
	b = appendString(b, p.Topic)
	if p.QoS > 0 {
		b = appendUint16(b, p.PacketID)
	}
	b = p.Properties.appendTo(b, pn)
	return append(b, p.Payload...), nil
}

func (p *Publish) decode(flags byte, body []byte) error {
	p.Dup, p.QoS, p.Retain = flags&0x08 != 0, flags>>1&3, flags&0x01 != 0
	if p.QoS == 3 {
		return malformed(PUBLISH, "QoS of 3")
	}
	if p.QoS == 0 && p.Dup {
		return protoErr(PUBLISH, "DUP on a QoS 0 message")
	}
	r := reader{b: body, t: PUBLISH}
	p.Topic = r.utf8("Topic Name")
	p.PacketID = 0
	if p.QoS > 0 {
		p.PacketID = r.uint16("Packet Identifier")
		if r.err == nil && p.PacketID == 0 {
			return protoErr(PUBLISH, "Packet Identifier of 0")
		}
	}
	p.Properties.decode(&r, propCtx(PUBLISH))
	if r.err != nil {
		return r.err
	}
	if err := checkTopicName(PUBLISH, p.Topic, p.Properties.Present.Has(PropTopicAlias)); err != nil {
		return err
	}
	p.Payload = r.b[:len(r.b):len(r.b)]
	return nil
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP

func (a *Ack) reasonSet() (*reasonSet, error) {
	switch a.Kind {
	case PUBACK, PUBREC:
		return &pubackReasons, nil
	case PUBREL, PUBCOMP:
		return &pubrelReasons, nil
	}
	return nil, protoErr(a.Kind, "Ack Kind must be PUBACK, PUBREC, PUBREL or PUBCOMP")
}

func (a *Ack) Append(dst []byte) ([]byte, error) {
	rs, err := a.reasonSet()
	if err != nil {
		return dst, err
	}
	if !rs.has(a.Reason) {
		return dst, protoErr(a.Kind, "reason code "+a.Reason.String()+" not allowed")
	}
	if a.PacketID == 0 {
		return dst, protoErr(a.Kind, "Packet Identifier of 0")
	}
	empty := a.Properties.Present == 0 && len(a.Properties.User) == 0 && len(a.Properties.SubscriptionIDs) == 0
	if empty && a.Reason == ReasonSuccess {
		b, _ := appendHeader(dst, a.Kind, fixedFlags[a.Kind], 2)
		return appendUint16(b, a.PacketID), nil
	}
	if empty {
		b, _ := appendHeader(dst, a.Kind, fixedFlags[a.Kind], 3)
		return append(appendUint16(b, a.PacketID), byte(a.Reason)), nil
	}
	pn, pl, err := propsLen(&a.Properties, propCtx(a.Kind))
	if err != nil {
		return dst, err
	}
	b, err := appendHeader(dst, a.Kind, fixedFlags[a.Kind], 3+pl)
	if err != nil {
		return dst, err
	}
	b = append(appendUint16(b, a.PacketID), byte(a.Reason))
	return a.Properties.appendTo(b, pn), nil
}

func (a *Ack) decode(_ byte, body []byte) error {
	r := reader{b: body, t: a.Kind}
	a.PacketID = r.uint16("Packet Identifier")
	if r.err != nil {
		return r.err
	}
	if a.PacketID == 0 {
		return protoErr(a.Kind, "Packet Identifier of 0")
	}
	a.Reason = ReasonSuccess
	a.Properties = Properties{User: a.Properties.User[:0]}
	if len(r.b) == 0 {
		return nil
	}
	a.Reason = ReasonCode(r.byte1("Reason Code"))
	rs, _ := a.reasonSet()
	if !rs.has(a.Reason) {
		return protoErr(a.Kind, "reason code "+a.Reason.String()+" not allowed")
	}
	if len(r.b) == 0 {
		return nil
	}
	a.Properties.decode(&r, propCtx(a.Kind))
	return r.end()
}

// ---- SUBSCRIBE

// checkFilter checks a topic filter (spec 4.7): a non-empty valid string whose wildcards take
// whole levels, '#' only last; a shared subscription ($share/name/filter) needs a name without
// wildcards and a filter.
func checkFilter(t PacketType, f string) error {
	if f == "" {
		return protoErr(t, "empty Topic Filter")
	}
	if err := stringErr(t, f, "Topic Filter"); err != nil {
		return err
	}
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '+':
			if i > 0 && f[i-1] != '/' || i+1 < len(f) && f[i+1] != '/' {
				return protoErr(t, "'+' not a whole level in Topic Filter")
			}
		case '#':
			if i+1 != len(f) || i > 0 && f[i-1] != '/' {
				return protoErr(t, "'#' not the whole last level in Topic Filter")
			}
		}
	}
	if name, rest, ok := sharedParts(f); ok {
		if name == "" || rest == "" {
			return protoErr(t, "shared subscription without a name or a filter")
		}
		for i := 0; i < len(name); i++ {
			if name[i] == '+' || name[i] == '#' {
				return protoErr(t, "wildcard in a Share Name")
			}
		}
	}
	return nil
}

func sharedParts(f string) (name, rest string, ok bool) {
	const prefix = "$share/"
	if len(f) < len(prefix) || f[:len(prefix)] != prefix {
		return "", "", false
	}
	f = f[len(prefix):]
	for i := 0; i < len(f); i++ {
		if f[i] == '/' {
			return f[:i], f[i+1:], true
		}
	}
	return f, "", true
}

func (s *Subscription) options() byte {
	o := s.QoS | s.RetainHandling<<4
	if s.NoLocal {
		o |= 0x04
	}
	if s.RetainAsPublished {
		o |= 0x08
	}
	return o
}

func (s *Subscription) check() error {
	if s.QoS > 2 {
		return malformed(SUBSCRIBE, "QoS over 2")
	}
	if s.RetainHandling > 2 {
		return malformed(SUBSCRIBE, "Retain Handling over 2")
	}
	if err := checkFilter(SUBSCRIBE, s.Filter); err != nil {
		return err
	}
	if _, _, shared := sharedParts(s.Filter); shared && s.NoLocal {
		return protoErr(SUBSCRIBE, "No Local on a shared subscription")
	}
	return nil
}

func (s *Subscribe) Append(dst []byte) ([]byte, error) {
	if s.PacketID == 0 {
		return dst, protoErr(SUBSCRIBE, "Packet Identifier of 0")
	}
	if len(s.Subscriptions) == 0 {
		return dst, protoErr(SUBSCRIBE, "no subscription")
	}
	pn, pl, err := propsLen(&s.Properties, propCtx(SUBSCRIBE))
	if err != nil {
		return dst, err
	}
	rem := 2 + pl
	for i := range s.Subscriptions {
		if err := s.Subscriptions[i].check(); err != nil {
			return dst, err
		}
		rem += 3 + len(s.Subscriptions[i].Filter)
	}
	b, err := appendHeader(dst, SUBSCRIBE, 2, rem)
	if err != nil {
		return dst, err
	}
	b = appendUint16(b, s.PacketID)
	b = s.Properties.appendTo(b, pn)
	for i := range s.Subscriptions {
		b = appendString(b, s.Subscriptions[i].Filter)
		b = append(b, s.Subscriptions[i].options())
	}
	return b, nil
}

func (s *Subscribe) decode(_ byte, body []byte) error {
	r := reader{b: body, t: SUBSCRIBE}
	s.PacketID = r.uint16("Packet Identifier")
	if r.err == nil && s.PacketID == 0 {
		return protoErr(SUBSCRIBE, "Packet Identifier of 0")
	}
	s.Properties.decode(&r, propCtx(SUBSCRIBE))
	s.Subscriptions = s.Subscriptions[:0]
	for r.err == nil && len(r.b) > 0 {
		f := r.utf8("Topic Filter")
		o := r.byte1("Subscription Options")
		if r.err != nil {
			break
		}
		if o&0xc0 != 0 {
			return malformed(SUBSCRIBE, "reserved Subscription Option bits set")
		}
		sub := Subscription{Filter: f, QoS: o & 3, NoLocal: o&0x04 != 0, RetainAsPublished: o&0x08 != 0,
			RetainHandling: o >> 4 & 3}
		if err := sub.check(); err != nil {
			return err
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	if r.err != nil {
		return r.err
	}
	if len(s.Subscriptions) == 0 {
		return protoErr(SUBSCRIBE, "no subscription")
	}
	return nil
}

// ---- SUBACK and UNSUBACK

func appendReasonList(dst []byte, t PacketType, id uint16, p *Properties, rcs []ReasonCode, allowed *reasonSet) ([]byte, error) {
	if id == 0 {
		return dst, protoErr(t, "Packet Identifier of 0")
	}
	if len(rcs) == 0 {
		return dst, protoErr(t, "no reason code")
	}
	for _, rc := range rcs {
		if !allowed.has(rc) {
			return dst, protoErr(t, "reason code "+rc.String()+" not allowed")
		}
	}
	pn, pl, err := propsLen(p, propCtx(t))
	if err != nil {
		return dst, err
	}
	b, err := appendHeader(dst, t, 0, 2+pl+len(rcs))
	if err != nil {
		return dst, err
	}
	b = appendUint16(b, id)
	b = p.appendTo(b, pn)
	for _, rc := range rcs {
		b = append(b, byte(rc))
	}
	return b, nil
}

func decodeReasonList(t PacketType, body []byte, id *uint16, p *Properties, rcs []ReasonCode, allowed *reasonSet) ([]ReasonCode, error) {
	r := reader{b: body, t: t}
	*id = r.uint16("Packet Identifier")
	if r.err == nil && *id == 0 {
		return rcs, protoErr(t, "Packet Identifier of 0")
	}
	p.decode(&r, propCtx(t))
	if r.err != nil {
		return rcs, r.err
	}
	if len(r.b) == 0 {
		return rcs, protoErr(t, "no reason code")
	}
	rcs = rcs[:0]
	for _, c := range r.b {
		if !allowed.has(ReasonCode(c)) {
			return rcs, protoErr(t, "reason code "+ReasonCode(c).String()+" not allowed")
		}
		rcs = append(rcs, ReasonCode(c))
	}
	return rcs, nil
}

func (s *Suback) Append(dst []byte) ([]byte, error) {
	return appendReasonList(dst, SUBACK, s.PacketID, &s.Properties, s.Reasons, &subackReasons)
}

func (s *Suback) decode(_ byte, body []byte) (err error) {
	s.Reasons, err = decodeReasonList(SUBACK, body, &s.PacketID, &s.Properties, s.Reasons, &subackReasons)
	return err
}

func (u *Unsuback) Append(dst []byte) ([]byte, error) {
	return appendReasonList(dst, UNSUBACK, u.PacketID, &u.Properties, u.Reasons, &unsubackReasons)
}

func (u *Unsuback) decode(_ byte, body []byte) (err error) {
	u.Reasons, err = decodeReasonList(UNSUBACK, body, &u.PacketID, &u.Properties, u.Reasons, &unsubackReasons)
	return err
}

// ---- UNSUBSCRIBE

func (u *Unsubscribe) Append(dst []byte) ([]byte, error) {
	if u.PacketID == 0 {
		return dst, protoErr(UNSUBSCRIBE, "Packet Identifier of 0")
	}
	if len(u.Filters) == 0 {
		return dst, protoErr(UNSUBSCRIBE, "no topic filter")
	}
	pn, pl, err := propsLen(&u.Properties, propCtx(UNSUBSCRIBE))
	if err != nil {
		return dst, err
	}
	rem := 2 + pl
	for _, f := range u.Filters {
		if err := checkFilter(UNSUBSCRIBE, f); err != nil {
			return dst, err
		}
		rem += 2 + len(f)
	}
	b, err := appendHeader(dst, UNSUBSCRIBE, 2, rem)
	if err != nil {
		return dst, err
	}
	b = appendUint16(b, u.PacketID)
	b = u.Properties.appendTo(b, pn)
	for _, f := range u.Filters {
		b = appendString(b, f)
	}
	return b, nil
}

func (u *Unsubscribe) decode(_ byte, body []byte) error {
	r := reader{b: body, t: UNSUBSCRIBE}
	u.PacketID = r.uint16("Packet Identifier")
	if r.err == nil && u.PacketID == 0 {
		return protoErr(UNSUBSCRIBE, "Packet Identifier of 0")
	}
	u.Properties.decode(&r, propCtx(UNSUBSCRIBE))
	u.Filters = u.Filters[:0]
	for r.err == nil && len(r.b) > 0 {
		f := r.utf8("Topic Filter")
		if r.err != nil {
			break
		}
		if err := checkFilter(UNSUBSCRIBE, f); err != nil {
			return err
		}
		u.Filters = append(u.Filters, f)
	}
	if r.err != nil {
		return r.err
	}
	if len(u.Filters) == 0 {
		return protoErr(UNSUBSCRIBE, "no topic filter")
	}
	return nil
}

// ---- PINGREQ, PINGRESP

func (*Pingreq) Append(dst []byte) ([]byte, error)  { return append(dst, byte(PINGREQ)<<4, 0), nil }
func (*Pingresp) Append(dst []byte) ([]byte, error) { return append(dst, byte(PINGRESP)<<4, 0), nil }

func (*Pingreq) decode(_ byte, body []byte) error  { return emptyBody(PINGREQ, body) }
func (*Pingresp) decode(_ byte, body []byte) error { return emptyBody(PINGRESP, body) }

func emptyBody(t PacketType, body []byte) error {
	if len(body) != 0 {
		return malformed(t, "remaining length not 0")
	}
	return nil
}

// ---- DISCONNECT and AUTH: a reason code and properties, both optional on the wire

func appendReasonProps(dst []byte, t PacketType, rc ReasonCode, p *Properties, allowed *reasonSet) ([]byte, error) {
	if !allowed.has(rc) {
		return dst, protoErr(t, "reason code "+rc.String()+" not allowed")
	}
	empty := p.Present == 0 && len(p.User) == 0 && len(p.SubscriptionIDs) == 0
	if empty && rc == ReasonSuccess {
		return append(dst, byte(t)<<4, 0), nil
	}
	if empty {
		return append(dst, byte(t)<<4, 1, byte(rc)), nil
	}
	pn, pl, err := propsLen(p, propCtx(t))
	if err != nil {
		return dst, err
	}
	b, err := appendHeader(dst, t, 0, 1+pl)
	if err != nil {
		return dst, err
	}
	b = append(b, byte(rc))
	return p.appendTo(b, pn), nil
}

func decodeReasonProps(t PacketType, body []byte, rc *ReasonCode, p *Properties, allowed *reasonSet) error {
	*rc = ReasonSuccess
	*p = Properties{User: p.User[:0]}
	if len(body) == 0 {
		return nil
	}
	r := reader{b: body, t: t}
	*rc = ReasonCode(r.byte1("Reason Code"))
	if !allowed.has(*rc) {
		return protoErr(t, "reason code "+rc.String()+" not allowed")
	}
	if len(r.b) == 0 {
		return nil
	}
	p.decode(&r, propCtx(t))
	return r.end()
}

func (d *Disconnect) Append(dst []byte) ([]byte, error) {
	return appendReasonProps(dst, DISCONNECT, d.Reason, &d.Properties, &disconnReasons)
}

func (d *Disconnect) decode(_ byte, body []byte) error {
	return decodeReasonProps(DISCONNECT, body, &d.Reason, &d.Properties, &disconnReasons)
}

func (a *Auth) Append(dst []byte) ([]byte, error) {
	if a.Reason != ReasonSuccess && !a.Properties.Present.Has(PropAuthMethod) {
		return dst, protoErr(AUTH, "Authentication Method missing")
	}
	return appendReasonProps(dst, AUTH, a.Reason, &a.Properties, &authReasons)
}

func (a *Auth) decode(_ byte, body []byte) error {
	if err := decodeReasonProps(AUTH, body, &a.Reason, &a.Properties, &authReasons); err != nil {
		return err
	}
	if a.Reason != ReasonSuccess && !a.Properties.Present.Has(PropAuthMethod) {
		return protoErr(AUTH, "Authentication Method missing")
	}
	return nil
}
