package mqtt5

import "math/bits"

// PropID is a property identifier (spec 2.2.2.2, table 2-4).
type PropID byte

// Property identifiers. The comment gives the type on the wire.
const (
	PropPayloadFormat        PropID = 0x01 // byte, 0 or 1
	PropMessageExpiry        PropID = 0x02 // four byte integer
	PropContentType          PropID = 0x03 // UTF-8 string
	PropResponseTopic        PropID = 0x08 // UTF-8 string
	PropCorrelationData      PropID = 0x09 // binary data
	PropSubscriptionID       PropID = 0x0B // variable byte integer, 1..MaxVarInt
	PropSessionExpiry        PropID = 0x11 // four byte integer
	PropAssignedClientID     PropID = 0x12 // UTF-8 string
	PropServerKeepAlive      PropID = 0x13 // two byte integer
	PropAuthMethod           PropID = 0x15 // UTF-8 string
	PropAuthData             PropID = 0x16 // binary data
	PropRequestProblemInfo   PropID = 0x17 // byte, 0 or 1
	PropWillDelay            PropID = 0x18 // four byte integer
	PropRequestResponseInfo  PropID = 0x19 // byte, 0 or 1
	PropResponseInfo         PropID = 0x1A // UTF-8 string
	PropServerReference      PropID = 0x1C // UTF-8 string
	PropReasonString         PropID = 0x1F // UTF-8 string
	PropReceiveMaximum       PropID = 0x21 // two byte integer, not 0
	PropTopicAliasMaximum    PropID = 0x22 // two byte integer
	PropTopicAlias           PropID = 0x23 // two byte integer, not 0
	PropMaximumQoS           PropID = 0x24 // byte, 0 or 1
	PropRetainAvailable      PropID = 0x25 // byte, 0 or 1
	PropUser                 PropID = 0x26 // UTF-8 string pair, may repeat
	PropMaximumPacketSize    PropID = 0x27 // four byte integer, not 0
	PropWildcardSubAvailable PropID = 0x28 // byte, 0 or 1
	PropSubIDAvailable       PropID = 0x29 // byte, 0 or 1
	PropSharedSubAvailable   PropID = 0x2A // byte, 0 or 1
)

// PropSet is a set of property identifiers, one bit per identifier.
type PropSet uint64

// Has reports whether id is in the set.
func (s PropSet) Has(id PropID) bool { return id < 64 && s&(1<<id) != 0 }

// Add puts id in the set.
func (s *PropSet) Add(ids ...PropID) {
	for _, id := range ids {
		*s |= 1 << (id & 63)
	}
}

// Del takes id out of the set.
func (s *PropSet) Del(id PropID) { *s &^= 1 << (id & 63) }

func propSet(ids ...PropID) PropSet {
	var s PropSet
	s.Add(ids...)
	return s
}

// UserProperty is one name/value pair of the User Property (0x26). A packet may carry any
// number of them, in order, with repeated names.
type UserProperty struct {
	Key, Value string
}

// Properties holds the properties of one packet (or of a will). A single-valued property is
// present when its identifier is in Present, whatever its field's value, so that a property
// sent with its zero value (an empty Content Type, a Message Expiry of 0) survives a round
// trip; SubscriptionIDs and User are present when not empty.
//
// The fields are values rather than pointers so that decoding a packet allocates only for its
// strings and repeated properties.
type Properties struct {
	Present PropSet

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32 // several in PUBLISH, at most one in SUBSCRIBE
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

type propKind byte

const (
	kNone propKind = iota
	kByte
	kBool // a byte that must be 0 or 1
	kU16
	kU32
	kVar
	kStr
	kBin
	kPair
)

var propKinds = [64]propKind{
	PropPayloadFormat: kBool, PropMessageExpiry: kU32, PropContentType: kStr, PropResponseTopic: kStr,
	PropCorrelationData: kBin, PropSubscriptionID: kVar, PropSessionExpiry: kU32,
	PropAssignedClientID: kStr, PropServerKeepAlive: kU16, PropAuthMethod: kStr, PropAuthData: kBin,
	PropRequestProblemInfo: kBool, PropWillDelay: kU32, PropRequestResponseInfo: kBool,
	PropResponseInfo: kStr, PropServerReference: kStr, PropReasonString: kStr,
	PropReceiveMaximum: kU16, PropTopicAliasMaximum: kU16, PropTopicAlias: kU16, PropMaximumQoS: kBool,
	PropRetainAvailable: kBool, PropUser: kPair, PropMaximumPacketSize: kU32,
	PropWildcardSubAvailable: kBool, PropSubIDAvailable: kBool, PropSharedSubAvailable: kBool,
}

// propCtx names where a property list sits: a packet type, or the will of a CONNECT.
type propCtx byte

const ctxWill propCtx = 0 // packet types are 1..15; 0 is free for the will

// allowedProps is which properties each context may carry (spec 2.2.2.2, table 2-4).
var allowedProps = [16]PropSet{
	ctxWill: propSet(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
		PropCorrelationData, PropWillDelay, PropUser),
	CONNECT: propSet(PropSessionExpiry, PropAuthMethod, PropAuthData, PropRequestProblemInfo,
		PropRequestResponseInfo, PropReceiveMaximum, PropTopicAliasMaximum, PropUser, PropMaximumPacketSize),
	CONNACK: propSet(PropSessionExpiry, PropAssignedClientID, PropServerKeepAlive, PropAuthMethod,
		PropAuthData, PropResponseInfo, PropServerReference, PropReasonString, PropReceiveMaximum,
		PropTopicAliasMaximum, PropMaximumQoS, PropRetainAvailable, PropUser, PropMaximumPacketSize,
		PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable),
	PUBLISH: propSet(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
		PropCorrelationData, PropSubscriptionID, PropTopicAlias, PropUser),
	PUBACK:      propSet(PropReasonString, PropUser),
	PUBREC:      propSet(PropReasonString, PropUser),
	PUBREL:      propSet(PropReasonString, PropUser),
	PUBCOMP:     propSet(PropReasonString, PropUser),
	SUBSCRIBE:   propSet(PropSubscriptionID, PropUser),
	SUBACK:      propSet(PropReasonString, PropUser),
	UNSUBSCRIBE: propSet(PropUser),
	UNSUBACK:    propSet(PropReasonString, PropUser),
	DISCONNECT:  propSet(PropSessionExpiry, PropServerReference, PropReasonString, PropUser),
	AUTH:        propSet(PropAuthMethod, PropAuthData, PropReasonString, PropUser),
}

func ctxPacket(c propCtx) PacketType {
	if c == ctxWill {
		return CONNECT
	}
	return PacketType(c)
}

// check refuses, before encoding, a property list a receiver would have to reject.
func (p *Properties) check(c propCtx) error {
	t := ctxPacket(c)
	allowed := allowedProps[c]
	if p.Present&^allowed&^propSet(PropSubscriptionID, PropUser) != 0 {
		for id := PropID(0); id < 64; id++ {
			if p.Present.Has(id) && !allowed.Has(id) {
				return protoErr(t, "property "+propName(id)+" not allowed here")
			}
		}
	}
	if len(p.SubscriptionIDs) > 0 {
		if !allowed.Has(PropSubscriptionID) {
			return protoErr(t, "Subscription Identifier not allowed here")
		}
		if c == propCtx(SUBSCRIBE) && len(p.SubscriptionIDs) > 1 {
			return protoErr(t, "more than one Subscription Identifier")
		}
		for _, id := range p.SubscriptionIDs {
			if id == 0 || id > MaxVarInt {
				return protoErr(t, "Subscription Identifier out of range")
			}
		}
	}
	for i := range p.User {
		if !validString(p.User[i].Key) || !validString(p.User[i].Value) {
			return malformed(t, "User Property not a valid MQTT string")
		}
	}
	for id := PropID(1); id < 64; id++ {
		if !p.Present.Has(id) {
			continue
		}
		switch propKinds[id] {
		case kBool:
			if p.byteVal(id) > 1 {
				return protoErr(t, propName(id)+" must be 0 or 1")
			}
		case kStr:
			if !validString(p.strVal(id)) {
				return malformed(t, propName(id)+" not a valid MQTT string")
			}
		case kBin:
			if len(p.binVal(id)) > 0xffff {
				return malformed(t, propName(id)+" longer than 65535 bytes")
			}
		}
	}
	if p.Present.Has(PropReceiveMaximum) && p.ReceiveMaximum == 0 ||
		p.Present.Has(PropMaximumPacketSize) && p.MaximumPacketSize == 0 ||
		p.Present.Has(PropTopicAlias) && p.TopicAlias == 0 {
		return protoErr(t, "property value of 0 not allowed")
	}
	return nil
}

func (p *Properties) byteVal(id PropID) byte {
	switch id {
	case PropPayloadFormat:
		return p.PayloadFormat
	case PropRequestProblemInfo:
		return p.RequestProblemInfo
	case PropRequestResponseInfo:
		return p.RequestResponseInfo
	case PropMaximumQoS:
		return p.MaximumQoS
	case PropRetainAvailable:
		return p.RetainAvailable
	case PropWildcardSubAvailable:
		return p.WildcardSubAvailable
	case PropSubIDAvailable:
		return p.SubIDAvailable
	case PropSharedSubAvailable:
		return p.SharedSubAvailable
	}
	return 0
}

func (p *Properties) setByte(id PropID, v byte) {
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = v
	case PropRequestProblemInfo:
		p.RequestProblemInfo = v
	case PropRequestResponseInfo:
		p.RequestResponseInfo = v
	case PropMaximumQoS:
		p.MaximumQoS = v
	case PropRetainAvailable:
		p.RetainAvailable = v
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable = v
	case PropSubIDAvailable:
		p.SubIDAvailable = v
	case PropSharedSubAvailable:
		p.SharedSubAvailable = v
	}
}

func (p *Properties) u16Val(id PropID) uint16 {
	switch id {
	case PropServerKeepAlive:
		return p.ServerKeepAlive
	case PropReceiveMaximum:
		return p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return p.TopicAliasMaximum
	case PropTopicAlias:
		return p.TopicAlias
	}
	return 0
}

func (p *Properties) setU16(id PropID, v uint16) {
	switch id {
	case PropServerKeepAlive:
		p.ServerKeepAlive = v
	case PropReceiveMaximum:
		p.ReceiveMaximum = v
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum = v
	case PropTopicAlias:
		p.TopicAlias = v
	}
}

func (p *Properties) u32Val(id PropID) uint32 {
	switch id {
	case PropMessageExpiry:
		return p.MessageExpiry
	case PropSessionExpiry:
		return p.SessionExpiry
	case PropWillDelay:
		return p.WillDelay
	case PropMaximumPacketSize:
		return p.MaximumPacketSize
	}
	return 0
}

func (p *Properties) setU32(id PropID, v uint32) {
	switch id {
	case PropMessageExpiry:
		p.MessageExpiry = v
	case PropSessionExpiry:
		p.SessionExpiry = v
	case PropWillDelay:
		p.WillDelay = v
	case PropMaximumPacketSize:
		p.MaximumPacketSize = v
	}
}

func (p *Properties) strVal(id PropID) string {
	switch id {
	case PropContentType:
		return p.ContentType
	case PropResponseTopic:
		return p.ResponseTopic
	case PropAssignedClientID:
		return p.AssignedClientID
	case PropAuthMethod:
		return p.AuthMethod
	case PropResponseInfo:
		return p.ResponseInfo
	case PropServerReference:
		return p.ServerReference
	case PropReasonString:
		return p.ReasonString
	}
	return ""
}

func (p *Properties) setStr(id PropID, v string) {
	switch id {
	case PropContentType:
		p.ContentType = v
	case PropResponseTopic:
		p.ResponseTopic = v
	case PropAssignedClientID:
		p.AssignedClientID = v
	case PropAuthMethod:
		p.AuthMethod = v
	case PropResponseInfo:
		p.ResponseInfo = v
	case PropServerReference:
		p.ServerReference = v
	case PropReasonString:
		p.ReasonString = v
	}
}

func (p *Properties) binVal(id PropID) []byte {
	if id == PropCorrelationData {
		return p.CorrelationData
	}
	return p.AuthData
}

func (p *Properties) setBin(id PropID, v []byte) {
	if id == PropCorrelationData {
		p.CorrelationData = v
	} else {
		p.AuthData = v
	}
}

// size is the length of the encoded property list, without its own length prefix.
func (p *Properties) size() int {
	n := 0
	for s := p.Present &^ propSet(PropSubscriptionID, PropUser); s != 0; s &= s - 1 {
		id := PropID(bits.TrailingZeros64(uint64(s)))
		switch propKinds[id] {
		case kByte, kBool:
			n += 2
		case kU16:
			n += 3
		case kU32:
			n += 5
		case kStr:
			n += 3 + len(p.strVal(id))
		case kBin:
			n += 3 + len(p.binVal(id))
		}
	}
	for _, v := range p.SubscriptionIDs {
		n += 1 + varIntLen(int(v))
	}
	for i := range p.User {
		n += 5 + len(p.User[i].Key) + len(p.User[i].Value)
	}
	return n
}

// appendTo writes the property list with its length prefix; size is p.size().
func (p *Properties) appendTo(b []byte, size int) []byte {
	b = appendVarInt(b, size)
	for s := p.Present &^ propSet(PropSubscriptionID, PropUser); s != 0; s &= s - 1 {
		id := PropID(bits.TrailingZeros64(uint64(s)))
		b = append(b, byte(id))
		switch propKinds[id] {
		case kByte, kBool:
			b = append(b, p.byteVal(id))
		case kU16:
			b = appendUint16(b, p.u16Val(id))
		case kU32:
			b = appendUint32(b, p.u32Val(id))
		case kStr:
			b = appendString(b, p.strVal(id))
		case kBin:
			b = appendBinary(b, p.binVal(id))
		}
	}
	for _, v := range p.SubscriptionIDs {
		b = append(b, byte(PropSubscriptionID))
		b = appendVarInt(b, int(v))
	}
	for i := range p.User {
		b = append(b, byte(PropUser))
		b = appendString(b, p.User[i].Key)
		b = appendString(b, p.User[i].Value)
	}
	return b
}

// decode reads a property list, length prefix first, for context c. It resets p first, keeping
// the capacity of its slices so that a reused packet decodes without allocating for them.
func (p *Properties) decode(r *reader, c propCtx) {
	*p = Properties{User: p.User[:0], SubscriptionIDs: p.SubscriptionIDs[:0]}
	n := r.varInt("property length")
	if r.err != nil {
		return
	}
	if n > len(r.b) {
		r.fail("property length exceeds packet")
		return
	}
	pr := reader{b: r.b[:n], t: r.t}
	r.b = r.b[n:]
	allowed := allowedProps[c]
	for len(pr.b) > 0 && pr.err == nil {
		// Identifiers are variable byte integers; every defined one fits in one byte, so a
		// longer one is an unknown identifier.
		idv := pr.varInt("property identifier")
		if pr.err != nil {
			break
		}
		if idv >= 64 || !allowed.Has(PropID(idv)) {
			pr.err = malformed(r.t, "property identifier "+hex(idv)+" not valid here")
			break
		}
		id := PropID(idv)
		if id != PropUser && !(id == PropSubscriptionID && c == propCtx(PUBLISH)) && p.has(id) {
			pr.err = protoErr(r.t, propName(id)+" included more than once")
			break
		}
		switch propKinds[id] {
		case kBool:
			v := pr.byte1(propName(id))
			if pr.err == nil && v > 1 {
				pr.err = protoErr(r.t, propName(id)+" must be 0 or 1")
			}
			p.setByte(id, v)
		case kU16:
			v := pr.uint16(propName(id))
			if pr.err == nil && v == 0 && (id == PropReceiveMaximum || id == PropTopicAlias) {
				pr.err = protoErr(r.t, propName(id)+" of 0")
			}
			p.setU16(id, v)
		case kU32:
			v := pr.uint32(propName(id))
			if pr.err == nil && v == 0 && id == PropMaximumPacketSize {
				pr.err = protoErr(r.t, propName(id)+" of 0")
			}
			p.setU32(id, v)
		case kStr:
			p.setStr(id, pr.utf8(propName(id)))
		case kBin:
			p.setBin(id, pr.binary(propName(id)))
		case kVar:
			v := pr.varInt(propName(id))
			if pr.err == nil && v == 0 {
				pr.err = protoErr(r.t, "Subscription Identifier of 0")
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
			continue
		case kPair:
			k := pr.utf8("User Property name")
			v := pr.utf8("User Property value")
			p.User = append(p.User, UserProperty{k, v})
			continue
		}
		p.Present.Add(id)
	}
	if pr.err != nil && r.err == nil {
		r.err = pr.err
	}
}

func (p *Properties) has(id PropID) bool {
	if id == PropSubscriptionID {
		return len(p.SubscriptionIDs) > 0
	}
	return p.Present.Has(id)
}

var propNames = [64]string{
	PropPayloadFormat: "Payload Format Indicator", PropMessageExpiry: "Message Expiry Interval",
	PropContentType: "Content Type", PropResponseTopic: "Response Topic",
	PropCorrelationData: "Correlation Data", PropSubscriptionID: "Subscription Identifier",
	PropSessionExpiry: "Session Expiry Interval", PropAssignedClientID: "Assigned Client Identifier",
	PropServerKeepAlive: "Server Keep Alive", PropAuthMethod: "Authentication Method",
	PropAuthData: "Authentication Data", PropRequestProblemInfo: "Request Problem Information",
	PropWillDelay: "Will Delay Interval", PropRequestResponseInfo: "Request Response Information",
	PropResponseInfo: "Response Information", PropServerReference: "Server Reference",
	PropReasonString: "Reason String", PropReceiveMaximum: "Receive Maximum",
	PropTopicAliasMaximum: "Topic Alias Maximum", PropTopicAlias: "Topic Alias",
	PropMaximumQoS: "Maximum QoS", PropRetainAvailable: "Retain Available", PropUser: "User Property",
	PropMaximumPacketSize: "Maximum Packet Size", PropWildcardSubAvailable: "Wildcard Subscription Available",
	PropSubIDAvailable:     "Subscription Identifier Available",
	PropSharedSubAvailable: "Shared Subscription Available",
}

func propName(id PropID) string {
	if id < 64 && propNames[id] != "" {
		return propNames[id]
	}
	return "property " + hex(int(id))
}

func hex(v int) string {
	const digits = "0123456789ABCDEF"
	if v < 0 {
		return "?"
	}
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = digits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	i--
	b[i] = 'x'
	i--
	b[i] = '0'
	return string(b[i:])
}
