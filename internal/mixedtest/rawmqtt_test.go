package mixedtest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// A minimal MQTT wire client for probing what each broker does with packets the engine
// never sends (MQTT 5, odd client IDs, QoS 2 to a broker without it). It writes packets
// byte by byte as the specifications lay them out and reads whole packets back.

// MQTT control packet types (the high nibble of the first byte).
const (
	pktConnect     = 1
	pktConnack     = 2
	pktPublish     = 3
	pktPuback      = 4
	pktPubrec      = 5
	pktPubrel      = 6
	pktPubcomp     = 7
	pktSubscribe   = 8
	pktSuback      = 9
	pktUnsubscribe = 10
	pktPingreq     = 12
	pktPingresp    = 13
	pktDisconnect  = 14
)

var packetNames = map[byte]string{pktConnect: "CONNECT", pktConnack: "CONNACK", pktPublish: "PUBLISH",
	pktPuback: "PUBACK", pktPubrec: "PUBREC", pktPubrel: "PUBREL", pktPubcomp: "PUBCOMP",
	pktSubscribe: "SUBSCRIBE", pktSuback: "SUBACK", pktUnsubscribe: "UNSUBSCRIBE", 11: "UNSUBACK",
	pktPingreq: "PINGREQ", pktPingresp: "PINGRESP", pktDisconnect: "DISCONNECT", 15: "AUTH"}

// packet is one control packet as read from the wire.
type packet struct {
	typ, flags byte
	body       []byte
}

func (p packet) String() string { return packetNames[p.typ] }

// remainingLength encodes n as MQTT's variable byte integer.
func remainingLength(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

func frame(first byte, body []byte) []byte {
	return append(append([]byte{first}, remainingLength(len(body))...), body...)
}

func mqttString(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// connectOpts describe a CONNECT.
type connectOpts struct {
	level     byte // 3 (MQTT 3.1), 4 (3.1.1, the default), 5
	clientID  string
	keepAlive uint16 // seconds
	persist   bool   // clean session off
}

func connectPacket(o connectOpts) []byte {
	if o.level == 0 {
		o.level = 4
	}
	name := "MQTT"
	if o.level == 3 {
		name = "MQIsdp"
	}
	flags := byte(0x02)
	if o.persist {
		flags = 0
	}
	b := append(mqttString(name), o.level, flags)
	b = binary.BigEndian.AppendUint16(b, o.keepAlive)
	if o.level == 5 {
		b = append(b, 0) // no properties
	}
	b = append(b, mqttString(o.clientID)...)
	return frame(pktConnect<<4, b)
}

func publishPacket(topic string, qos byte, retain bool, id uint16, payload []byte) []byte {
	first := byte(pktPublish<<4) | qos<<1
	if retain {
		first |= 1
	}
	b := mqttString(topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	return frame(first, append(b, payload...))
}

func subscribePacket(id uint16, filter string, qos byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(append(b, mqttString(filter)...), qos)
	return frame(pktSubscribe<<4|0x02, b)
}

func ackPacket(typ byte, id uint16) []byte {
	first := typ << 4
	if typ == pktPubrel {
		first |= 0x02
	}
	return frame(first, binary.BigEndian.AppendUint16(nil, id))
}

// rawConn is one TCP connection speaking raw MQTT.
type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, r: bufio.NewReader(c)}, nil
}

func (rc *rawConn) Close() error { return rc.c.Close() }

func (rc *rawConn) send(b []byte) error {
	rc.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := rc.c.Write(b)
	return err
}

// errClosed is what read returns when the broker closed the connection.
var errClosed = errors.New("connection closed by the broker")

// read returns the next packet within timeout; errClosed if the broker closed the connection,
// a timeout error if nothing came.
func (rc *rawConn) read(timeout time.Duration) (packet, error) {
	rc.c.SetReadDeadline(time.Now().Add(timeout))
	first, err := rc.r.ReadByte()
	if err != nil {
		return packet{}, closedOr(err)
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		b, err := rc.r.ReadByte()
		if err != nil {
			return packet{}, closedOr(err)
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return packet{}, errors.New("malformed remaining length")
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.r, body); err != nil {
		return packet{}, closedOr(err)
	}
	return packet{typ: first >> 4, flags: first & 0x0f, body: body}, nil
}

func closedOr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errClosed
}

// readType reads packets until one of type typ, answering PUBLISHes on the way as a client
// must (they are returned in skipped).
func (rc *rawConn) readType(typ byte, timeout time.Duration) (p packet, skipped []packet, err error) {
	deadline := time.Now().Add(timeout)
	for {
		p, err = rc.read(time.Until(deadline))
		if err != nil || p.typ == typ {
			return p, skipped, err
		}
		skipped = append(skipped, p)
	}
}

// isTimeout reports whether err is a read that timed out (nothing came).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// connectResult is how a broker answered a CONNECT.
type connectResult struct {
	accepted bool
	code     int    // CONNACK return (reason) code, -1 without a CONNACK
	outcome  string // "accepted", "refused N", "closed", "no answer"
}

// connectRaw dials addr and sends o's CONNECT; it returns the connection (nil unless
// accepted) and how the broker answered.
func connectRaw(addr string, o connectOpts) (*rawConn, connectResult, error) {
	rc, err := dialRaw(addr)
	if err != nil {
		return nil, connectResult{}, err
	}
	if err := rc.send(connectPacket(o)); err != nil {
		rc.Close()
		return nil, connectResult{code: -1, outcome: "closed"}, nil
	}
	p, err := rc.read(5 * time.Second)
	switch {
	case errors.Is(err, errClosed):
		rc.Close()
		return nil, connectResult{code: -1, outcome: "closed"}, nil
	case isTimeout(err):
		rc.Close()
		return nil, connectResult{code: -1, outcome: "no answer"}, nil
	case err != nil:
		rc.Close()
		return nil, connectResult{}, err
	case p.typ != pktConnack || len(p.body) < 2:
		rc.Close()
		return nil, connectResult{}, fmt.Errorf("answer to CONNECT: %s % x", p, p.body)
	}
	code := int(p.body[1])
	if code != 0 {
		rc.Close()
		return nil, connectResult{code: code, outcome: fmt.Sprintf("refused %d", code)}, nil
	}
	return rc, connectResult{accepted: true, outcome: "accepted"}, nil
}

// mustConnect is connectRaw that fails the probe unless the broker accepts.
func mustConnect(addr string, o connectOpts) (*rawConn, error) {
	rc, res, err := connectRaw(addr, o)
	if err != nil {
		return nil, err
	}
	if !res.accepted {
		return nil, fmt.Errorf("CONNECT %q: %s", o.clientID, res.outcome)
	}
	return rc, nil
}

// subscribeRaw subscribes filter at qos and returns the granted QoS (0x80: refused).
func (rc *rawConn) subscribeRaw(id uint16, filter string, qos byte) (byte, []packet, error) {
	if err := rc.send(subscribePacket(id, filter, qos)); err != nil {
		return 0, nil, err
	}
	p, skipped, err := rc.readType(pktSuback, 5*time.Second)
	if err != nil {
		return 0, skipped, fmt.Errorf("SUBACK for %q: %w", filter, err)
	}
	if len(p.body) < 3 {
		return 0, skipped, fmt.Errorf("short SUBACK % x", p.body)
	}
	return p.body[len(p.body)-1], skipped, nil
}

// publishTopic returns a PUBLISH's topic, QoS, retain flag and payload.
func parsePublish(p packet) (topic string, qos byte, retain bool, payload []byte) {
	qos = p.flags >> 1 & 3
	retain = p.flags&1 == 1
	if len(p.body) < 2 {
		return "", qos, retain, nil
	}
	n := int(binary.BigEndian.Uint16(p.body))
	if len(p.body) < 2+n {
		return "", qos, retain, nil
	}
	topic, rest := string(p.body[2:2+n]), p.body[2+n:]
	if qos > 0 && len(rest) >= 2 {
		rest = rest[2:]
	}
	return topic, qos, retain, rest
}

// packetID returns the packet identifier of a PUBLISH with QoS > 0.
func publishID(p packet) uint16 {
	n := int(binary.BigEndian.Uint16(p.body))
	return binary.BigEndian.Uint16(p.body[2+n:])
}

// collectUntil reads PUBLISHes, acknowledging QoS 1 and 2 ones as a client does, until it has
// n of them or d passed, and returns them.
func (rc *rawConn) collectUntil(n int, d time.Duration) ([]packet, error) {
	var out []packet
	deadline := time.Now().Add(d)
	for len(out) < n {
		p, err := rc.read(time.Until(deadline))
		if isTimeout(err) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch p.typ {
		case pktPublish:
			out = append(out, p)
			switch _, qos, _, _ := parsePublish(p); qos {
			case 1:
				rc.send(ackPacket(pktPuback, publishID(p)))
			case 2:
				rc.send(ackPacket(pktPubrec, publishID(p)))
			}
		case pktPubrel:
			rc.send(ackPacket(pktPubcomp, binary.BigEndian.Uint16(p.body)))
		}
	}
	return out, nil
}
