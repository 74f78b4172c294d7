package mqtt5

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// PacketType is the control packet type, the high nibble of the first byte of a packet.
type PacketType byte

// Control packet types (spec 2.1.2).
const (
	CONNECT     PacketType = 1
	CONNACK     PacketType = 2
	PUBLISH     PacketType = 3
	PUBACK      PacketType = 4
	PUBREC      PacketType = 5
	PUBREL      PacketType = 6
	PUBCOMP     PacketType = 7
	SUBSCRIBE   PacketType = 8
	SUBACK      PacketType = 9
	UNSUBSCRIBE PacketType = 10
	UNSUBACK    PacketType = 11
	PINGREQ     PacketType = 12
	PINGRESP    PacketType = 13
	DISCONNECT  PacketType = 14
	AUTH        PacketType = 15
)

var typeNames = [16]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func (t PacketType) String() string {
	if t < 16 {
		return typeNames[t]
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// MaxVarInt is the largest value a variable byte integer holds (spec 1.5.5), which bounds the
// remaining length of a packet and Subscription Identifiers.
const MaxVarInt = 268435455

// MaxPacketSize is the largest packet MQTT can express: a 1-byte type and 4-byte length
// followed by MaxVarInt bytes.
const MaxPacketSize = 1 + 4 + MaxVarInt

// Error is what encoding and decoding return. Reason is the reason code the specification
// gives the failure (ReasonMalformedPacket, ReasonProtocolError, ReasonPacketTooLarge), so that
// a client can put it in the DISCONNECT it sends before closing.
type Error struct {
	Packet PacketType
	Reason ReasonCode
	Msg    string
}

func (e *Error) Error() string {
	return "mqtt5: " + e.Packet.String() + ": " + e.Reason.String() + ": " + e.Msg
}

// Is lets errors.Is match an *Error against ErrMalformed, ErrProtocol and ErrTooLarge.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Packet == 0 && t.Msg == "" && t.Reason == e.Reason
}

// Sentinels for errors.Is.
var (
	ErrMalformed = &Error{Reason: ReasonMalformedPacket}
	ErrProtocol  = &Error{Reason: ReasonProtocolError}
	ErrTooLarge  = &Error{Reason: ReasonPacketTooLarge}
)

// ErrIncomplete is returned by Decode and ParseFixedHeader when the buffer holds only the
// beginning of a packet: read more and try again. It is not a protocol failure.
var ErrIncomplete = errors.New("mqtt5: incomplete packet")

func malformed(t PacketType, msg string) *Error {
	return &Error{Packet: t, Reason: ReasonMalformedPacket, Msg: msg}
}

func protoErr(t PacketType, msg string) *Error {
	return &Error{Packet: t, Reason: ReasonProtocolError, Msg: msg}
}

// varIntLen is the number of bytes v takes as a variable byte integer.
func varIntLen(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	}
	return 4
}

func appendVarInt(b []byte, v int) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// readVarInt decodes a variable byte integer at the start of b. It returns the value and the
// bytes used; n == 0 means b ends before the integer does, n < 0 that the integer is malformed
// (more than four bytes, or not in its shortest form, spec 1.5.5).
func readVarInt(b []byte) (v int, n int) {
	shift := 0
	for i := 0; i < 4; i++ {
		if i >= len(b) {
			return 0, 0
		}
		c := b[i]
		v |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, -1 // a trailing zero byte: not the minimum number of bytes
			}
			return v, i + 1
		}
		shift += 7
	}
	return 0, -1
}

func appendUint16(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func appendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendString(b []byte, s string) []byte {
	b = appendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func appendBinary(b []byte, d []byte) []byte {
	b = appendUint16(b, uint16(len(d)))
	return append(b, d...)
}

// validString reports whether s may travel as an MQTT UTF-8 string (spec 1.5.4): at most 65535
// bytes, well-formed UTF-8 (which excludes surrogates), no U+0000.
func validString(s string) bool {
	if len(s) > 0xffff || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return false
		}
	}
	return true
}

func validUTF8Bytes(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c == 0 {
			return false
		}
	}
	return true
}

// reader walks the body of one packet. Every read checks the bytes left; the first failure
// sticks in err, so decoders read a whole structure and check once.
type reader struct {
	b   []byte
	t   PacketType
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = malformed(r.t, msg)
	}
}

func (r *reader) byte1(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail(what + ": truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uint16(what string) uint16 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 2 {
		r.fail(what + ": truncated")
		return 0
	}
	v := uint16(r.b[0])<<8 | uint16(r.b[1])
	r.b = r.b[2:]
	return v
}

func (r *reader) uint32(what string) uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.fail(what + ": truncated")
		return 0
	}
	v := uint32(r.b[0])<<24 | uint32(r.b[1])<<16 | uint32(r.b[2])<<8 | uint32(r.b[3])
	r.b = r.b[4:]
	return v
}

func (r *reader) varInt(what string) int {
	if r.err != nil {
		return 0
	}
	v, n := readVarInt(r.b)
	if n <= 0 {
		r.fail(what + ": bad variable byte integer")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// binary returns a length-prefixed byte sequence aliasing the packet's buffer.
func (r *reader) binary(what string) []byte {
	n := int(r.uint16(what))
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail(what + ": length exceeds packet")
		return nil
	}
	d := r.b[:n:n]
	r.b = r.b[n:]
	return d
}

func (r *reader) utf8(what string) string {
	d := r.binary(what)
	if r.err != nil {
		return ""
	}
	if !validUTF8Bytes(d) {
		r.fail(what + ": not well-formed UTF-8")
		return ""
	}
	return string(d)
}
