package mqtt5

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fullPublishProps sets every property PUBLISH may carry, repeated ones twice.
func fullPublishProps() Properties {
	p := Properties{PayloadFormat: 1, MessageExpiry: 3600, ContentType: "text/plain",
		ResponseTopic: "reply/to", CorrelationData: []byte{1, 2, 3}, TopicAlias: 7,
		SubscriptionIDs: []uint32{1, MaxVarInt}, User: []UserProperty{{"k", "v"}, {"k", "v2"}}}
	p.Present.Add(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
		PropCorrelationData, PropTopicAlias)
	return p
}

func roundTripCases() []struct {
	name string
	p    Packet
} {
	connectProps := Properties{SessionExpiry: 0xffffffff, AuthMethod: "SCRAM-SHA-1", AuthData: []byte{9},
		RequestProblemInfo: 0, RequestResponseInfo: 1, ReceiveMaximum: 100, TopicAliasMaximum: 10,
		MaximumPacketSize: 1 << 20, User: []UserProperty{{"a", ""}}}
	connectProps.Present.Add(PropSessionExpiry, PropAuthMethod, PropAuthData, PropRequestProblemInfo,
		PropRequestResponseInfo, PropReceiveMaximum, PropTopicAliasMaximum, PropMaximumPacketSize)
	willProps := Properties{WillDelay: 30, PayloadFormat: 1, MessageExpiry: 0, ContentType: "",
		ResponseTopic: "r", CorrelationData: []byte("c"), User: []UserProperty{{"w", "1"}}}
	willProps.Present.Add(PropWillDelay, PropPayloadFormat, PropMessageExpiry, PropContentType,
		PropResponseTopic, PropCorrelationData)
	connackProps := Properties{SessionExpiry: 10, AssignedClientID: "auto-1", ServerKeepAlive: 30,
		AuthMethod: "m", AuthData: []byte{}, ResponseInfo: "ri", ServerReference: "other",
		ReasonString: "welcome", ReceiveMaximum: 20, TopicAliasMaximum: 0, MaximumQoS: 1,
		RetainAvailable: 0, MaximumPacketSize: 65536, WildcardSubAvailable: 1, SubIDAvailable: 0,
		SharedSubAvailable: 1, User: []UserProperty{{"x", "y"}}}
	connackProps.Present.Add(PropSessionExpiry, PropAssignedClientID, PropServerKeepAlive, PropAuthMethod,
		PropAuthData, PropResponseInfo, PropServerReference, PropReasonString, PropReceiveMaximum,
		PropTopicAliasMaximum, PropMaximumQoS, PropRetainAvailable, PropMaximumPacketSize,
		PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable)
	reason := Properties{ReasonString: "why", User: []UserProperty{{"u", "v"}}}
	reason.Present.Add(PropReasonString)
	disc := Properties{SessionExpiry: 0, ServerReference: "b:1883", ReasonString: "bye"}
	disc.Present.Add(PropSessionExpiry, PropServerReference, PropReasonString)
	auth := Properties{AuthMethod: "SCRAM", AuthData: []byte{0, 1, 2}, ReasonString: "more"}
	auth.Present.Add(PropAuthMethod, PropAuthData, PropReasonString)
	subProps := Properties{SubscriptionIDs: []uint32{42}, User: []UserProperty{{"s", "t"}}}
	aliased := Properties{TopicAlias: 3}
	aliased.Present.Add(PropTopicAlias)

	return []struct {
		name string
		p    Packet
	}{
		{"connect minimal", &Connect{ClientID: "c"}},
		{"connect empty client id", &Connect{CleanStart: true}},
		{"connect full", &Connect{CleanStart: true, KeepAlive: 60, Properties: connectProps, ClientID: "client-1",
			Will:        &Will{QoS: 2, Retain: true, Properties: willProps, Topic: "status/c1", Payload: []byte("gone")},
			HasUsername: true, Username: "user", HasPassword: true, Password: []byte{0, 0xff}}},
		{"connect password only, empty user", &Connect{ClientID: "c", HasUsername: true, HasPassword: true, Password: []byte("p")}},
		{"connack success", &Connack{SessionPresent: true}},
		{"connack full", &Connack{Properties: connackProps}},
		{"connack refused", &Connack{Reason: ReasonNotAuthorized}},
		{"publish qos0", &Publish{Topic: "a/b", Payload: []byte("x")}},
		{"publish qos1 retain", &Publish{QoS: 1, Retain: true, PacketID: 1, Topic: "a", Payload: []byte("x")}},
		{"publish qos2 dup full", &Publish{QoS: 2, Dup: true, PacketID: 0xffff, Topic: "a/b/c",
			Properties: fullPublishProps(), Payload: bytes.Repeat([]byte{7}, 300)}},
		{"publish aliased empty topic", &Publish{Properties: aliased, Payload: []byte("x")}},
		{"puback", &Ack{Kind: PUBACK, PacketID: 5}},
		{"puback reason", &Ack{Kind: PUBACK, PacketID: 5, Reason: ReasonNoMatchingSubscribers}},
		{"puback props", &Ack{Kind: PUBACK, PacketID: 5, Reason: ReasonQuotaExceeded, Properties: reason}},
		{"pubrec props", &Ack{Kind: PUBREC, PacketID: 6, Properties: reason}},
		{"pubrel", &Ack{Kind: PUBREL, PacketID: 7, Reason: ReasonPacketIdentifierNotFound}},
		{"pubcomp", &Ack{Kind: PUBCOMP, PacketID: 8, Properties: reason}},
		{"subscribe", &Subscribe{PacketID: 1, Properties: subProps, Subscriptions: []Subscription{
			{Filter: "a/+/c", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
			{Filter: "#", QoS: 2, RetainHandling: 1},
			{Filter: "$share/g/x/#", QoS: 0}}}},
		{"suback", &Suback{PacketID: 1, Properties: reason, Reasons: []ReasonCode{1, 2, 0, 0x80, 0xA2}}},
		{"unsubscribe", &Unsubscribe{PacketID: 2, Properties: Properties{User: []UserProperty{{"a", "b"}}},
			Filters: []string{"a/+", "b/#"}}},
		{"unsuback", &Unsuback{PacketID: 2, Reasons: []ReasonCode{0, 0x11}}},
		{"pingreq", &Pingreq{}},
		{"pingresp", &Pingresp{}},
		{"disconnect", &Disconnect{}},
		{"disconnect reason", &Disconnect{Reason: ReasonSessionTakenOver}},
		{"disconnect props", &Disconnect{Reason: ReasonServerMoved, Properties: disc}},
		{"auth success", &Auth{}},
		{"auth continue", &Auth{Reason: ReasonContinueAuthentication, Properties: auth}},
	}
}

// normalize turns empty slices into nil, so that a packet built by hand compares equal with its
// decoded copy (decoding leaves empty binary fields as empty slices of the input).
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				normalize(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
		for i := 0; i < v.Len(); i++ {
			normalize(v.Index(i))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := tc.p.Append(nil)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			// Encoding appends: what is already in the buffer stays.
			pre, err := tc.p.Append([]byte("prefix"))
			if err != nil || !bytes.Equal(pre, append([]byte("prefix"), enc...)) {
				t.Fatalf("append to a non-empty buffer: %v", err)
			}
			got, n, err := Decode(enc, 0)
			if err != nil {
				t.Fatalf("decode %x: %v", enc, err)
			}
			if n != len(enc) {
				t.Fatalf("decode took %d of %d bytes", n, len(enc))
			}
			normalize(reflect.ValueOf(got))
			want := reflect.New(reflect.TypeOf(tc.p).Elem())
			want.Elem().Set(reflect.ValueOf(tc.p).Elem())
			normalize(want)
			if !reflect.DeepEqual(got, want.Interface()) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want.Interface())
			}
			// A packet followed by the start of another decodes alone; cut short, it is incomplete.
			if _, n, err := Decode(append(enc, 0xC0), 0); err != nil || n != len(enc) {
				t.Fatalf("decode with trailing data: n=%d err=%v", n, err)
			}
			for i := 0; i < len(enc); i++ {
				if _, _, err := Decode(enc[:i], 0); !errors.Is(err, ErrIncomplete) {
					t.Fatalf("decode of %d of %d bytes: %v, want ErrIncomplete", i, len(enc), err)
				}
			}
			// DecodeInto a reused packet gives the same.
			into := New(tc.p.Type())
			for i := 0; i < 2; i++ {
				if _, err := DecodeInto(into, enc, len(enc)); err != nil {
					t.Fatalf("DecodeInto: %v", err)
				}
			}
			again, _ := into.Append(nil)
			if !bytes.Equal(again, enc) {
				t.Fatalf("DecodeInto then encode: %x, want %x", again, enc)
			}
			// One byte under its size, the packet is too large.
			if _, _, err := Decode(enc, len(enc)-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("maxSize %d: %v, want ErrTooLarge", len(enc)-1, err)
			}
			// ReadPacket gives the same from a stream.
			rp, _, err := ReadPacket(bytes.NewReader(enc), nil, 0)
			if err != nil {
				t.Fatalf("ReadPacket: %v", err)
			}
			if again, _ := rp.Append(nil); !bytes.Equal(again, enc) {
				t.Fatalf("ReadPacket then encode: %x, want %x", again, enc)
			}
		})
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	s = strings.ReplaceAll(s, " ", "")
	b := make([]byte, len(s)/2)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			case c >= 'A' && c <= 'F':
				v |= byte(c-'A') + 10
			default:
				t.Fatalf("bad hex %q", s)
			}
		}
		b[i] = v
	}
	return b
}

// TestVectors holds packets encoded by hand from the specification's tables, byte by byte.
func TestVectors(t *testing.T) {
	sessionExpiry := Properties{SessionExpiry: 3600}
	sessionExpiry.Present.Add(PropSessionExpiry)
	utf8Payload := Properties{PayloadFormat: 1}
	utf8Payload.Present.Add(PropPayloadFormat)
	limits := Properties{ReceiveMaximum: 10, TopicAliasMaximum: 5}
	limits.Present.Add(PropReceiveMaximum, PropTopicAliasMaximum)
	cases := []struct {
		name string
		p    Packet
		hex  string
	}{
		{"pingreq", &Pingreq{}, "C0 00"},
		{"pingresp", &Pingresp{}, "D0 00"},
		// 3.4.2.1: Success with no properties leaves out the reason code.
		{"puback short", &Ack{Kind: PUBACK, PacketID: 1}, "40 02 0001"},
		// PUBREL's fixed header flags are 0010.
		{"pubrel reason", &Ack{Kind: PUBREL, PacketID: 0x1234, Reason: 0x92}, "62 03 1234 92"},
		{"disconnect short", &Disconnect{}, "E0 00"},
		{"disconnect taken over", &Disconnect{Reason: ReasonSessionTakenOver}, "E0 01 8E"},
		// Flags C2: user name, password, clean start. Keep alive 60. Session Expiry (0x11) 3600.
		{"connect", &Connect{CleanStart: true, KeepAlive: 60, Properties: sessionExpiry, ClientID: "c1",
			HasUsername: true, Username: "u", HasPassword: true, Password: []byte("p")},
			"10 1A 0004 4D515454 05 C2 003C 05 11 00000E10 0002 6331 0001 75 0001 70"},
		{"connack", &Connack{Properties: limits}, "20 09 00 00 06 21 000A 22 0005"},
		// QoS 1 (flags 0010), topic "a/b", packet id 10, Payload Format Indicator 1, payload "hi".
		{"publish", &Publish{QoS: 1, PacketID: 10, Topic: "a/b", Properties: utf8Payload, Payload: []byte("hi")},
			"32 0C 0003 612F62 000A 02 0101 6869"},
		// Subscription Identifier (0x0B) 5; options QoS 1 | No Local | Retain As Published |
		// Retain Handling 2 = 0x2D.
		{"subscribe", &Subscribe{PacketID: 1, Properties: Properties{SubscriptionIDs: []uint32{5}},
			Subscriptions: []Subscription{{Filter: "t/#", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}},
			"82 0B 0001 02 0B05 0003 742F23 2D"},
		{"unsubscribe", &Unsubscribe{PacketID: 2, Filters: []string{"t"}}, "A2 06 0002 00 0001 74"},
		{"suback", &Suback{PacketID: 1, Reasons: []ReasonCode{1, 0x87}}, "90 05 0001 00 0187"},
		{"unsuback", &Unsuback{PacketID: 2, Reasons: []ReasonCode{0x11}}, "B0 04 0002 00 11"},
		// 200 bytes of payload: remaining length 2+1+1+200 = 204 = CC 01 as a variable byte integer.
		{"publish long", &Publish{Topic: "t", Payload: make([]byte, 200)}, "30 CC01 0001 74 00" + strings.Repeat("00", 200)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.hex)
			got, err := tc.p.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded\n %X\nwant\n %X", got, want)
			}
			if _, _, err := Decode(want, 0); err != nil {
				t.Fatalf("decode: %v", err)
			}
		})
	}
}

// TestVarInt checks the boundaries of spec 1.5.5's table.
func TestVarInt(t *testing.T) {
	for _, tc := range []struct {
		v   int
		hex string
	}{{0, "00"}, {127, "7F"}, {128, "8001"}, {16383, "FF7F"}, {16384, "808001"}, {2097151, "FFFF7F"},
		{2097152, "80808001"}, {268435455, "FFFFFF7F"}} {
		enc := appendVarInt(nil, tc.v)
		if !bytes.Equal(enc, unhex(t, tc.hex)) || varIntLen(tc.v) != len(enc) {
			t.Errorf("%d: %X", tc.v, enc)
		}
		if v, n := readVarInt(enc); v != tc.v || n != len(enc) {
			t.Errorf("%X: %d %d", enc, v, n)
		}
	}
	// Five bytes, or not the minimum number of bytes: malformed.
	for _, bad := range []string{"FFFFFFFF01", "FFFFFF80", "8000", "808000", "80808000"} {
		if _, n := readVarInt(unhex(t, bad)); n >= 0 {
			t.Errorf("%s accepted (n=%d)", bad, n)
		}
	}
	// Cut short: incomplete, not malformed.
	for _, short := range []string{"", "80", "FFFF"} {
		if _, n := readVarInt(unhex(t, short)); n != 0 {
			t.Errorf("%q: n=%d, want 0", short, n)
		}
	}
}

// TestMalformed feeds what a broken or hostile peer could send; each must fail with the reason
// code the specification gives, and never panic.
func TestMalformed(t *testing.T) {
	const (
		mal   = ReasonMalformedPacket
		proto = ReasonProtocolError
		large = ReasonPacketTooLarge
	)
	cases := []struct {
		name   string
		hex    string
		max    int
		reason ReasonCode
	}{
		{"reserved type 0", "00 00", 0, mal},
		{"connack flags nibble", "21 02 0000", 0, mal},
		{"pubrel flags 0000", "60 02 0001", 0, mal},
		{"subscribe flags 0000", "80 06 0001 00 0001 74 00", 0, mal},
		{"remaining length five bytes", "30 FFFFFFFF01", 0, mal},
		{"remaining length not minimal", "C0 8000", 0, mal},
		{"too large", "30 0A 0001 74 00 0000000000000000", 10, large},
		{"pingreq with body", "C0 01 00", 0, mal},
		{"publish qos 3", "36 05 0001 74 0001 00", 0, mal},
		{"publish dup qos 0", "38 04 0001 74 00", 0, proto},
		{"publish topic longer than packet", "30 04 00FF 74 00", 0, mal},
		{"publish wildcard topic", "30 04 0001 23 00", 0, proto},
		{"publish empty topic no alias", "30 03 0000 00", 0, proto},
		{"publish packet id 0", "32 05 0001 74 0000 00", 0, proto},
		{"publish invalid utf8 topic", "30 04 0001 FF 00", 0, mal},
		{"publish NUL in topic", "30 04 0001 00 00", 0, mal},
		{"publish surrogate in topic", "30 06 0003 EDA080 00", 0, mal},
		{"publish property length past end", "30 04 0001 74 05", 0, mal},
		{"publish property not allowed", "30 09 0001 74 05 11 00000001", 0, mal},
		{"publish unknown property", "30 06 0001 74 02 7F00", 0, mal},
		{"publish duplicate message expiry", "30 0E 0001 74 0A 02 00000001 02 00000002", 0, proto},
		{"publish payload format 2", "30 06 0001 74 02 01 02", 0, proto},
		{"publish topic alias 0", "30 07 0001 74 03 23 0000", 0, proto},
		{"publish subscription id 0", "30 06 0001 74 02 0B 00", 0, proto},
		{"publish truncated property value", "30 06 0001 74 02 02 00", 0, mal},
		{"publish user property value past end", "30 0A 0001 74 06 26 0001 61 0009", 0, mal},
		{"puback packet id 0", "40 02 0000", 0, proto},
		{"puback reason not allowed", "40 03 0001 92", 0, proto},
		{"puback trailing", "40 06 0001 00 00 00 00", 0, mal},
		{"pubcomp reason not allowed", "70 03 0001 10", 0, proto},
		{"puback truncated", "40 01 00", 0, mal},
		{"connack reserved flag", "20 03 02 00 00", 0, mal},
		{"connack session present with error", "20 03 01 80 00", 0, proto},
		{"connack unknown reason", "20 03 00 01 00", 0, proto},
		{"connack receive maximum 0", "20 06 00 00 03 21 0000", 0, proto},
		{"connack maximum packet size 0", "20 08 00 00 05 27 00000000", 0, proto},
		{"connack duplicate reason string", "20 0B 00 00 08 1F 0001 61 1F 0001 62", 0, proto},
		{"connack maximum qos 2", "20 05 00 00 02 24 02", 0, proto},
		{"connack topic alias not allowed", "20 06 00 00 03 23 0001", 0, mal},
		{"connack truncated", "20 01 00", 0, mal},
		{"connect wrong name", "10 0A 0004 4D515458 05 02 003C 00 0000", 0, proto},
		{"connect version 4", "10 0A 0004 4D515454 04 02 003C 00 0000", 0, ReasonUnsupportedProtocolVersion},
		{"connect reserved flag", "10 0D 0004 4D515454 05 03 003C 00 0000", 0, mal},
		{"connect will qos without will", "10 0D 0004 4D515454 05 0A 003C 00 0000", 0, mal},
		{"connect will qos 3", "10 0D 0004 4D515454 05 1E 003C 00 0000", 0, mal},
		{"connect password missing", "10 0D 0004 4D515454 05 42 003C 00 0000", 0, mal},
		{"subscribe no filter", "82 03 0001 00", 0, proto},
		{"subscribe reserved option bits", "82 07 0001 00 0001 74 40", 0, mal},
		{"subscribe retain handling 3", "82 07 0001 00 0001 74 30", 0, mal},
		{"subscribe qos 3", "82 07 0001 00 0001 74 03", 0, mal},
		{"subscribe two subscription ids", "82 0B 0001 04 0B01 0B02 0001 74 00", 0, proto},
		{"subscribe bad wildcard", "82 08 0001 00 0002 2361 00", 0, proto},
		{"subscribe no local shared", "82 10 0001 00 000A 247368617265 2F672F 74 04", 0, proto},
		{"suback no reasons", "90 03 0001 00", 0, proto},
		{"suback bad reason", "90 04 0001 00 03", 0, proto},
		{"unsubscribe no filter", "A2 03 0001 00", 0, proto},
		{"unsuback bad reason", "B0 04 0001 00 01", 0, proto},
		{"disconnect bad reason", "E0 01 01", 0, proto},
		{"disconnect property not allowed", "E0 04 00 02 01 01", 0, mal},
		{"auth bad reason", "F0 01 80", 0, proto},
		{"auth without method", "F0 02 18 00", 0, proto},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Decode(unhex(t, tc.hex), tc.max)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if e.Reason != tc.reason {
				t.Fatalf("got %v, want reason %v", err, tc.reason)
			}
		})
	}
}

// TestEncodeRefuses checks that the codec will not write what a receiver would have to reject,
// and leaves the caller's buffer as it was.
func TestEncodeRefuses(t *testing.T) {
	bad := Properties{SessionExpiry: 1}
	bad.Present.Add(PropSessionExpiry)
	cases := []struct {
		name string
		p    Packet
	}{
		{"publish qos 3", &Publish{QoS: 3, PacketID: 1, Topic: "t"}},
		{"publish qos1 no id", &Publish{QoS: 1, Topic: "t"}},
		{"publish qos0 dup", &Publish{Dup: true, Topic: "t"}},
		{"publish wildcard", &Publish{Topic: "a/+"}},
		{"publish empty topic", &Publish{}},
		{"publish session expiry", &Publish{Topic: "t", Properties: bad}},
		{"publish bad utf8", &Publish{Topic: "\xff"}},
		{"publish long topic", &Publish{Topic: strings.Repeat("a", 70000)}},
		{"publish too large", &Publish{Topic: "t", Payload: make([]byte, MaxVarInt)}},
		{"ack kind", &Ack{Kind: PUBLISH, PacketID: 1}},
		{"ack reason", &Ack{Kind: PUBREL, PacketID: 1, Reason: ReasonQuotaExceeded}},
		{"subscribe none", &Subscribe{PacketID: 1}},
		{"subscribe two ids", &Subscribe{PacketID: 1, Properties: Properties{SubscriptionIDs: []uint32{1, 2}},
			Subscriptions: []Subscription{{Filter: "t"}}}},
		{"subscribe no local shared", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "$share/g/t", NoLocal: true}}}},
		{"subscribe bad filter", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a#"}}}},
		{"connect will qos 3", &Connect{Will: &Will{QoS: 3, Topic: "t"}}},
		{"connect user property NUL", &Connect{Properties: Properties{User: []UserProperty{{"a\x00", "b"}}}}},
		{"connack session present refused", &Connack{SessionPresent: true, Reason: ReasonBanned}},
		{"disconnect reason", &Disconnect{Reason: ReasonGrantedQoS1}},
		{"auth no method", &Auth{Reason: ReasonReAuthenticate}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := tc.p.Append(dst)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if string(out) != "keep" {
				t.Fatalf("dst changed on error: %q", out)
			}
		})
	}
}

// TestAllocations holds the codec to its promise: encoding into a buffer with room allocates
// nothing, decoding a reused PUBLISH allocates only its topic.
func TestAllocations(t *testing.T) {
	p := &Publish{QoS: 1, PacketID: 9, Topic: "sensors/1/temp", Properties: fullPublishProps(), Payload: make([]byte, 1024)}
	buf := make([]byte, 0, 2048)
	if n := testing.AllocsPerRun(100, func() { buf, _ = p.Append(buf[:0]) }); n != 0 {
		t.Errorf("Publish.Append: %v allocations", n)
	}
	ack := &Ack{Kind: PUBACK, PacketID: 9}
	if n := testing.AllocsPerRun(100, func() { buf, _ = ack.Append(buf[:0]) }); n != 0 {
		t.Errorf("Ack.Append: %v allocations", n)
	}
	plain := &Publish{QoS: 1, PacketID: 9, Topic: "sensors/1/temp", Payload: make([]byte, 64)}
	enc, _ := plain.Append(nil)
	var into Publish
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeInto(&into, enc, 0) }); n != 1 {
		t.Errorf("DecodeInto(Publish): %v allocations, want 1 (the topic)", n)
	}
	ackEnc, _ := ack.Append(nil)
	var intoAck Ack
	intoAck.Kind = PUBACK
	if n := testing.AllocsPerRun(100, func() { _, _ = DecodeInto(&intoAck, ackEnc, 0) }); n != 0 {
		t.Errorf("DecodeInto(Ack): %v allocations", n)
	}
}
