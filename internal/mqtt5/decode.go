package mqtt5

import (
	"errors"
	"io"
)

// FixedHeader is the first bytes of every packet (spec 2.1.1).
type FixedHeader struct {
	Type      PacketType
	Flags     byte // the low nibble of the first byte
	RemLength int  // bytes after the fixed header
	Len       int  // bytes of the fixed header itself (2 to 5)
}

// Size is the whole packet's size in bytes.
func (h FixedHeader) Size() int { return h.Len + h.RemLength }

// ParseFixedHeader reads the fixed header at the start of b. It returns ErrIncomplete when b
// ends inside the header, and an *Error for a reserved type, flags that the type does not allow,
// a malformed remaining length, or a packet larger than maxSize (0 means MaxPacketSize). The
// size is checked here, before the body is read, so that a peer cannot make the caller buffer
// more than it agreed to.
func ParseFixedHeader(b []byte, maxSize int) (FixedHeader, error) {
	if len(b) < 2 {
		return FixedHeader{}, ErrIncomplete
	}
	h := FixedHeader{Type: PacketType(b[0] >> 4), Flags: b[0] & 0x0f}
	if h.Type == 0 {
		return h, malformed(0, "reserved packet type 0")
	}
	if h.Type != PUBLISH && h.Flags != fixedFlags[h.Type] {
		return h, malformed(h.Type, "reserved fixed header flags")
	}
	v, n := readVarInt(b[1:])
	if n == 0 {
		return h, ErrIncomplete
	}
	if n < 0 {
		return h, malformed(h.Type, "bad remaining length")
	}
	h.RemLength, h.Len = v, 1+n
	if maxSize <= 0 {
		maxSize = MaxPacketSize
	}
	if h.Size() > maxSize {
		return h, &Error{Packet: h.Type, Reason: ReasonPacketTooLarge, Msg: "packet larger than the maximum packet size"}
	}
	return h, nil
}

// New returns an empty packet of type t (for PUBACK to PUBCOMP an *Ack of that Kind), or nil
// for the reserved type 0 and values above 15.
func New(t PacketType) Packet {
	switch t {
	case CONNECT:
		return &Connect{}
	case CONNACK:
		return &Connack{}
	case PUBLISH:
		return &Publish{}
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		return &Ack{Kind: t}
	case SUBSCRIBE:
		return &Subscribe{}
	case SUBACK:
		return &Suback{}
	case UNSUBSCRIBE:
		return &Unsubscribe{}
	case UNSUBACK:
		return &Unsuback{}
	case PINGREQ:
		return &Pingreq{}
	case PINGRESP:
		return &Pingresp{}
	case DISCONNECT:
		return &Disconnect{}
	case AUTH:
		return &Auth{}
	}
	return nil
}

// Decode decodes the packet at the start of b and returns it with the number of bytes it took.
// It returns ErrIncomplete when b holds only part of the packet. Binary fields of the packet
// alias b.
func Decode(b []byte, maxSize int) (Packet, int, error) {
	h, err := ParseFixedHeader(b, maxSize)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < h.Size() {
		return nil, 0, ErrIncomplete
	}
	p := New(h.Type)
	if err := p.decode(h.Flags, b[h.Len:h.Size()]); err != nil {
		return nil, 0, err
	}
	return p, h.Size(), nil
}

// DecodeInto is Decode into a packet the caller owns and reuses: the packet at the start of b
// must be of p's type. The slices of a reused packet keep their capacity, so a steady stream
// of one packet type decodes with allocations only for its strings.
func DecodeInto(p Packet, b []byte, maxSize int) (int, error) {
	h, err := ParseFixedHeader(b, maxSize)
	if err != nil {
		return 0, err
	}
	if h.Type != p.Type() {
		return 0, protoErr(h.Type, "expected "+p.Type().String())
	}
	if len(b) < h.Size() {
		return 0, ErrIncomplete
	}
	if err := p.decode(h.Flags, b[h.Len:h.Size()]); err != nil {
		return 0, err
	}
	return h.Size(), nil
}

// ReadPacket reads one packet from r (which should be buffered: the header is read a byte at a
// time) into buf, growing it when the packet does not fit, and decodes it. It returns the packet
// and the buffer, which the packet's binary fields alias until the caller reuses it.
func ReadPacket(r io.Reader, buf []byte, maxSize int) (Packet, []byte, error) {
	buf = buf[:0]
	var one [1]byte
	for {
		if _, err := io.ReadFull(r, one[:]); err != nil {
			return nil, buf, err
		}
		buf = append(buf, one[0])
		h, err := ParseFixedHeader(buf, maxSize)
		if errors.Is(err, ErrIncomplete) {
			continue
		}
		if err != nil {
			return nil, buf, err
		}
		if cap(buf) < h.Size() {
			nb := make([]byte, len(buf), h.Size())
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:h.Size()]
		if _, err := io.ReadFull(r, buf[h.Len:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, buf, err
		}
		p, _, err := Decode(buf, maxSize)
		return p, buf, err
	}
}
