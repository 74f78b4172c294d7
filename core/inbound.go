package core

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"unicode/utf8"
)

// What a broker sends is checked before paho sees it. Paho allocates a packet's whole body as
// soon as it has read the header's length, so a broker announcing 256 MiB costs 256 MiB
// before a byte of it arrives; and paho hands malformed PUBLISH packets (a wildcard or NUL in
// the topic, QoS 3, QoS 1 without a packet identifier) to the application. inboundGuard sits
// between the socket and paho: it reads each packet's fixed header first, refuses a length
// above the connection's limit, holds a packet larger than its read buffer until every byte of
// it has arrived (memory grows with what arrived, not with what was announced), and checks each
// packet against MQTT 3.1.1 before paho may read it. A violation fails the read, which closes
// the connection: the broker is misbehaving.

// DefaultMaxIncomingPacket is the default bound of a packet a broker may send us: far above
// any telemetry message, far below what a hostile header can announce (256 MiB).
const DefaultMaxIncomingPacket = 64 << 20

// ErrProtocolViolation is wrapped by the error that closes a connection whose broker sent
// something MQTT 3.1.1 does not allow.
var ErrProtocolViolation = errors.New("protocol violation by the broker")

// inboundGuard is the reading half of the transport: an io.Reader over the socket's buffered
// reader that hands paho only packets that passed the checks.
type inboundGuard struct {
	r       *bufio.Reader
	max     int
	pending int    // bytes of the current, checked packet still to hand over from r
	staged  []byte // the rest of a large packet, read whole before its header was handed over
	err     error

	// qos0 takes a QoS 0 PUBLISH straight to the receive path while paho has no PUBLISH of
	// its own in the works (nil: everything goes to paho). Paho needs nothing from a QoS 0
	// message (no acknowledgement, no state), and its pipeline (reader, comms and router
	// goroutines, channels between them) costs more than the message; order is kept because
	// a QoS 0 message takes the short way only when every PUBLISH handed to paho before it was
	// routed.
	qos0 func(incoming)
	// toPaho and fromPaho count the PUBLISH packets handed to paho and those it routed.
	toPaho, fromPaho atomic.Uint64
}

func (g *inboundGuard) Read(p []byte) (int, error) {
	if len(g.staged) > 0 {
		n := copy(p, g.staged)
		g.staged = g.staged[n:]
		return n, nil
	}
	if g.pending == 0 {
		if g.err != nil {
			return 0, g.err
		}
		if err := g.next(); err != nil {
			g.err = err
			return 0, err
		}
		if len(g.staged) > 0 {
			return g.Read(p)
		}
	}
	if len(p) > g.pending {
		p = p[:g.pending]
	}
	n, err := g.r.Read(p)
	g.pending -= n
	return n, err
}

// next reads and checks the next packet's fixed header, and its body too: in place when it
// fits the read buffer, staged otherwise.
func (g *inboundGuard) next() error {
	for {
		diverted, err := g.nextPacket()
		if !diverted || err != nil {
			return err
		}
	}
}

// nextPacket is next for one packet; diverted says it was a QoS 0 PUBLISH that went to the
// receive path itself and is gone from r.
func (g *inboundGuard) nextPacket() (diverted bool, err error) {
	first, err := g.r.Peek(2)
	if err != nil {
		return false, err
	}
	header := 2
	length := int(first[1] & 0x7f)
	for mult := 128; first[header-1]&0x80 != 0; mult *= 128 {
		if header == 5 {
			return false, violation("a remaining length longer than 4 bytes")
		}
		header++
		if first, err = g.r.Peek(header); err != nil {
			return false, err
		}
		length += int(first[header-1]&0x7f) * mult
	}
	if length > g.max {
		return false, fmt.Errorf("%w: a packet of %d bytes announced, above the limit of %d (MaxIncomingPacket)", ErrProtocolViolation, length, g.max)
	}
	total := header + length
	if total <= g.r.Size() {
		pkt, err := g.r.Peek(total)
		if err != nil {
			return false, err
		}
		if err := checkInbound(pkt[0], pkt[header:]); err != nil {
			return false, err
		}
		if g.divertQoS0(pkt[0], pkt[header:]) {
			_, _ = g.r.Discard(total)
			return true, nil
		}
		g.countForPaho(pkt[0])
		g.pending = total
		return false, nil
	}
	// Larger than the buffer: read it whole first, the buffer growing as bytes arrive.
	var buf bytes.Buffer
	buf.Grow(min(total, 64<<10))
	if _, err := io.CopyN(&buf, g.r, int64(total)); err != nil {
		return false, err
	}
	pkt := buf.Bytes()
	if err := checkInbound(pkt[0], pkt[header:]); err != nil {
		return false, err
	}
	g.countForPaho(pkt[0])
	g.staged = pkt
	return false, nil
}

// divertQoS0 hands a checked QoS 0 PUBLISH to the receive path when paho has routed every
// PUBLISH it was given (see qos0); false leaves the packet to paho.
func (g *inboundGuard) divertQoS0(typeAndFlags byte, body []byte) bool {
	if g.qos0 == nil || typeAndFlags>>4 != 3 || typeAndFlags&0x06 != 0 || g.toPaho.Load() != g.fromPaho.Load() {
		return false
	}
	n := int(body[0])<<8 | int(body[1])
	g.qos0(incoming{topic: string(body[2 : 2+n]), payload: bytes.Clone(body[2+n:]),
		retained: typeAndFlags&0x01 != 0, duplicate: typeAndFlags&0x08 != 0})
	return true
}

// countForPaho counts a PUBLISH handed to paho.
func (g *inboundGuard) countForPaho(typeAndFlags byte) {
	if g.qos0 != nil && typeAndFlags>>4 == 3 {
		g.toPaho.Add(1)
	}
}

func violation(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocolViolation, fmt.Sprintf(format, a...))
}

// checkInbound checks one packet a broker sent: its type (one a server may send), its flags,
// its length where MQTT fixes it, and the content of CONNACK, PUBLISH and SUBACK.
func checkInbound(typeAndFlags byte, body []byte) error {
	kind, flags := typeAndFlags>>4, typeAndFlags&0x0f
	fixed := func(name string, wantFlags byte, wantLen int) error {
		if flags != wantFlags {
			return violation("%s with flags %#x", name, flags)
		}
		if wantLen >= 0 && len(body) != wantLen {
			return violation("%s of %d bytes, want %d", name, len(body), wantLen)
		}
		return nil
	}
	switch kind {
	case 2: // CONNACK
		if err := fixed("CONNACK", 0, 2); err != nil {
			return err
		}
		if body[0] > 1 || body[1] > 5 {
			return violation("CONNACK with flags %#x and return code %d", body[0], body[1])
		}
	case 3:
		return checkPublish(flags, body)
	case 4, 5, 7, 11: // PUBACK, PUBREC, PUBCOMP, UNSUBACK
		name := map[byte]string{4: "PUBACK", 5: "PUBREC", 7: "PUBCOMP", 11: "UNSUBACK"}[kind]
		return fixed(name, 0, 2)
	case 6:
		return fixed("PUBREL", 2, 2)
	case 9: // SUBACK
		if err := fixed("SUBACK", 0, -1); err != nil {
			return err
		}
		if len(body) < 3 {
			return violation("SUBACK of %d bytes, want at least 3", len(body))
		}
		for _, rc := range body[2:] {
			if rc > 2 && rc != 0x80 {
				return violation("SUBACK return code %#x", rc)
			}
		}
	case 13:
		return fixed("PINGRESP", 0, 0)
	default:
		return violation("packet type %d, which a server does not send", kind)
	}
	return nil
}

// checkPublish checks a PUBLISH: QoS 0-2, a non-empty topic of valid UTF-8 without NUL or
// wildcards, and a packet identifier other than 0 for QoS 1 and 2.
func checkPublish(flags byte, body []byte) error {
	qos := (flags >> 1) & 3
	if qos == 3 {
		return violation("PUBLISH with QoS 3")
	}
	if len(body) < 2 {
		return violation("PUBLISH of %d bytes, too short for a topic", len(body))
	}
	n := int(body[0])<<8 | int(body[1])
	rest := body[2:]
	if n == 0 {
		return violation("PUBLISH with an empty topic")
	}
	if n > len(rest) {
		return violation("PUBLISH topic of %d bytes in a packet of %d", n, len(body))
	}
	topic := rest[:n]
	if !utf8.Valid(topic) || bytes.IndexByte(topic, 0) >= 0 || bytes.ContainsAny(topic, "+#") {
		return violation("PUBLISH topic %q (invalid UTF-8, a NUL or a wildcard)", topic)
	}
	if qos > 0 {
		rest = rest[n:]
		if len(rest) < 2 {
			return violation("QoS %d PUBLISH without a packet identifier", qos)
		}
		if rest[0] == 0 && rest[1] == 0 {
			return violation("QoS %d PUBLISH with packet identifier 0", qos)
		}
	}
	return nil
}

// newCoalescingConnReader is the buffered reader the transport reads the socket through.
func newCoalescingConnReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 32<<10) }
