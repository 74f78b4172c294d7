package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// encodePacket is a packet from a broker: type and flags, then the body.
func encodePacket(typeAndFlags byte, body []byte) []byte {
	return append(appendRemainingLength([]byte{typeAndFlags}, len(body)), body...)
}

func publishBody(topic string, packetID uint16, payload []byte) []byte {
	b := []byte{byte(len(topic) >> 8), byte(len(topic))}
	b = append(b, topic...)
	if packetID != 0 {
		b = append(b, byte(packetID>>8), byte(packetID))
	}
	return append(b, payload...)
}

func guardOver(r io.Reader, max int) *inboundGuard {
	return &inboundGuard{r: newCoalescingConnReader(r), max: max}
}

func TestInboundGuardPassesValidPacketsUnchanged(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100<<10) // larger than the read buffer: staged
	var stream []byte
	stream = append(stream, encodePacket(0x20, []byte{0, 0})...)                          // CONNACK
	stream = append(stream, encodePacket(0x90, []byte{0, 1, 1})...)                       // SUBACK
	stream = append(stream, encodePacket(0x32, publishBody("a/b", 7, []byte("hi")))...)   // QoS 1
	stream = append(stream, encodePacket(0x30, publishBody("a/big", 0, big))...)          // QoS 0, staged
	stream = append(stream, encodePacket(0x62, []byte{0, 7})...)                          // PUBREL
	stream = append(stream, encodePacket(0xd0, nil)...)                                   // PINGRESP
	stream = append(stream, encodePacket(0x30, publishBody("é/ü", 0, []byte("\x00")))...) // binary payload
	got, err := io.ReadAll(guardOver(bytes.NewReader(stream), DefaultMaxIncomingPacket))
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if !bytes.Equal(got, stream) {
		t.Fatalf("the guard changed the stream: %d bytes in, %d out", len(stream), len(got))
	}
	// Paho reads the same packets from it.
	r := guardOver(bytes.NewReader(stream), DefaultMaxIncomingPacket)
	for i := 0; i < 7; i++ {
		if _, err := packets.ReadPacket(r); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
	}
}

func TestInboundGuardRefusesProtocolViolations(t *testing.T) {
	for name, pkt := range map[string][]byte{
		"wildcard topic":          encodePacket(0x30, publishBody("a/#", 0, nil)),
		"plus in topic":           encodePacket(0x30, publishBody("a/+/b", 0, nil)),
		"NUL in topic":            encodePacket(0x30, publishBody("a\x00b", 0, nil)),
		"invalid UTF-8 topic":     encodePacket(0x30, publishBody("a\xffb", 0, nil)),
		"empty topic":             encodePacket(0x30, publishBody("", 0, []byte("x"))),
		"QoS 3":                   encodePacket(0x36, publishBody("a", 1, nil)),
		"QoS 1 with packet id 0":  encodePacket(0x32, append(publishBody("a", 0, nil), 0, 0)),
		"topic longer than body":  encodePacket(0x30, []byte{0, 50, 'a'}),
		"CONNACK of 3 bytes":      encodePacket(0x20, []byte{0, 0, 0}),
		"CONNACK bad return code": encodePacket(0x20, []byte{0, 9}),
		"PUBACK of 3 bytes":       encodePacket(0x40, []byte{0, 1, 2}),
		"PUBREL without its flag": encodePacket(0x60, []byte{0, 1}),
		"SUBACK bad return code":  encodePacket(0x90, []byte{0, 1, 7}),
		"CONNECT from a server":   encodePacket(0x10, []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 0}),
		"reserved type 15":        encodePacket(0xf0, nil),
		"5-byte length":           {0x30, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := io.ReadAll(guardOver(bytes.NewReader(pkt), DefaultMaxIncomingPacket))
			if !errors.Is(err, ErrProtocolViolation) {
				t.Fatalf("read %q: %v, want a protocol violation", pkt, err)
			}
		})
	}
}

// A header announcing more than the limit fails at once; one within it costs memory only as
// its bytes arrive.
func TestInboundGuardBoundsMemory(t *testing.T) {
	header := encodePacket(0x30, nil)[:1]
	header = append(header, 0xff, 0xff, 0xff, 0x7f) // 268,435,455 bytes announced
	pr, pw := io.Pipe()
	defer pr.Close()
	go pw.Write(header) // and nothing more: a hostile broker
	done := make(chan error, 1)
	go func() {
		_, err := guardOver(pr, DefaultMaxIncomingPacket).Read(make([]byte, 16))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrProtocolViolation) || !strings.Contains(err.Error(), "268435455") {
			t.Fatalf("oversized packet: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the guard waited for the body of a packet above the limit")
	}

	// 60 MiB announced (within the limit), 1 KiB sent: the reader waits, holding little.
	pr2, pw2 := io.Pipe()
	defer pr2.Close()
	n := 60 << 20
	hdr := []byte{0x30, byte(n%128) | 0x80, byte(n/128%128) | 0x80, byte(n/128/128%128) | 0x80, byte(n / 128 / 128 / 128)}
	go func() {
		pw2.Write(hdr)
		pw2.Write(publishBody("a", 0, make([]byte, 1024)))
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	go guardOver(pr2, DefaultMaxIncomingPacket).Read(make([]byte, 16))
	time.Sleep(200 * time.Millisecond) // the reader is blocked on the missing body
	runtime.ReadMemStats(&after)
	if grown := int64(after.TotalAlloc) - int64(before.TotalAlloc); grown > 8<<20 {
		t.Fatalf("%d MiB allocated for a 60 MiB packet of which 1 KiB arrived", grown>>20)
	}
	pr2.Close()
}

// hostileBroker accepts one MQTT client, answers its CONNECT and SUBSCRIBE, then sends what
// misbehave returns.
func hostileBroker(t *testing.T, misbehave func() []byte) string {
	t.Helper()
	return serveLoopback(t, func(conn net.Conn) {
		defer conn.Close()
		for {
			p, err := packets.ReadPacket(conn)
			if err != nil {
				return
			}
			switch p := p.(type) {
			case *packets.ConnectPacket:
				conn.Write(encodePacket(0x20, []byte{0, 0}))
			case *packets.SubscribePacket:
				conn.Write(encodePacket(0x90, []byte{byte(p.MessageID >> 8), byte(p.MessageID), 1}))
				conn.Write(misbehave())
			case *packets.PingreqPacket:
				conn.Write(encodePacket(0xd0, nil))
			}
		}
	})
}

// serveLoopback listens on a free loopback port until the test ends, runs serve on its own
// goroutine for every connection, and returns the listener's tcp:// URI.
func serveLoopback(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	return serveLoopbackOn(t, func(conn net.Conn, _ net.Listener) { serve(conn) })
}

// serveLoopbackOn is serveLoopback for servers that act on their listener (stop listening).
func serveLoopbackOn(t *testing.T, serve func(net.Conn, net.Listener)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(conn, ln)
		}
	}()
	return "tcp://" + ln.Addr().String()
}

// TestHostileBrokerCannotReachTheApplication: malformed PUBLISH packets close the connection
// and never reach the application.
func TestHostileBrokerCannotReachTheApplication(t *testing.T) {
	for name, pkt := range map[string][]byte{
		"wildcard topic":         encodePacket(0x30, publishBody("h/#", 0, []byte("x"))),
		"QoS 1 with packet id 0": encodePacket(0x32, append(publishBody("h/a", 0, nil), 0, 0, 'x')),
		"huge announced length":  {0x30, 0xff, 0xff, 0xff, 0x7f},
	} {
		t.Run(name, func(t *testing.T) {
			uri := hostileBroker(t, func() []byte { return pkt })
			cfg := fastConfig("hostile", uri)
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var got collector
			if err := c.Subscribe(context.Background(), "h/#", 1, got.add); err != nil {
				t.Fatal(err)
			}
			// Start, not Connect: the violation can end the session before the endpoint counts
			// as live, and then no Connect succeeds; what matters is that it is caught.
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the violation reported", func() bool {
				return strings.Contains(c.Stats()[0].LastError, "protocol violation")
			})
			if got.count() != 0 {
				t.Fatalf("the application received %d malformed messages", got.count())
			}
		})
	}
}

// poisonProxy forwards to target and closes both sides as soon as the client sends a byte
// sequence containing poison, as a broker does with a message it refuses. With dies, it also
// stops listening then (dials are refused from then on), like a broker killed at that moment.
func poisonProxy(t *testing.T, target string, poison []byte, dies bool) string {
	t.Helper()
	return serveLoopbackOn(t, func(client net.Conn, ln net.Listener) {
		defer client.Close()
		server, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer server.Close()
		go func() {
			io.Copy(client, server)
			client.Close()
		}()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if err != nil {
				return
			}
			if bytes.Contains(buf[:n], poison) {
				if dies {
					ln.Close()
				}
				return
			}
			if _, err := server.Write(buf[:n]); err != nil {
				return
			}
		}
	})
}

// TestRefusedMessageFailsAlone: a message whose every attempt makes the broker close the
// connection fails on its own after a few attempts; the brokers are not held against it and
// the next messages go through.
func TestRefusedMessageFailsAlone(t *testing.T) {
	b1, b2 := brokertest.Start(t), brokertest.Start(t)
	poison := []byte("POISON-PAYLOAD")
	cfg := Config{Name: "poison", FlapLimit: 2, Endpoints: []EndpointConfig{
		{URI: poisonProxy(t, b1.Addr(), poison, false)}, {URI: poisonProxy(t, b2.Addr(), poison, false)}}}
	c := startCluster(t, cfg)
	waitLive(t, c, 2)
	if err := c.Publish(ctxT(t, 5*time.Second), "p/a", 1, false, []byte("fine")); err != nil {
		t.Fatal(err)
	}
	err := c.Publish(ctxT(t, 15*time.Second), "p/a", 1, false, poison)
	if !errors.Is(err, ErrMessageRefused) {
		t.Fatalf("the refused message: %v, want ErrMessageRefused", err)
	}
	t.Logf("refused: %v", err)
	for i := 0; i < 5; i++ {
		if err := c.Publish(ctxT(t, 10*time.Second), "p/a", 1, false, []byte("fine again")); err != nil {
			t.Fatalf("a good message after the refused one: %v", err)
		}
	}
	// Each endpoint lost its connection three times and backs off (default probeDelay 1 s,
	// doubling) before its warm-up: about 9 s, so the wait for both allows more than that.
	waitFor(t, 30*time.Second, "both endpoints live again", func() bool { return c.LiveCount() == 2 })
	for _, s := range c.Stats() {
		if s.State == StateQuarantined {
			t.Errorf("%s quarantined for a message it refused: %s", s.Name, s.LastError)
		}
	}
}

// TestLostConnectionCountsOnce: a connection is seen lost a moment before its endpoint stops
// offering it. A message must not be sent on it again in that moment, and its one loss must
// not count as several: the good message after a refused one once failed as "refused"
// because one lost connection was counted three times within a millisecond.
func TestLostConnectionCountsOnce(t *testing.T) {
	b := brokertest.Start(t)
	c := startCluster(t, Config{Name: "lost-once", Endpoints: []EndpointConfig{{URI: "tcp://" + b.Addr()}}})
	waitLive(t, c, 1)
	ep := c.endpoints[0]
	cn := ep.active.Load()
	// What leaseLost does first, without the rest (which clears ep.active).
	cn.markLost(errors.New("test: lost"))
	if f := c.send(ep, publishReq{topic: "t", qos: 1, payload: []byte("x")}); f != nil {
		t.Fatal("a publish was sent on a connection already seen lost")
	}
	var losses []lostConnection
	for i := 0; i < maxLossesPerMessage; i++ {
		losses = addLoss(losses, cn)
	}
	if len(losses) != 1 {
		t.Fatalf("one lost connection counted %d times", len(losses))
	}
}

// TestTotalOutageIsNotARefusal: a message whose brokers all die while it awaits its
// acknowledgement, one after the other, loses three connections in a row, but the brokers
// died (their dials are refused afterwards): the message is not failed as one that brokers
// refuse. Once a total outage failed stored messages that way.
func TestTotalOutageIsNotARefusal(t *testing.T) {
	marker := []byte("LAST-WORDS")
	var eps []EndpointConfig
	for i := 0; i < 3; i++ {
		eps = append(eps, EndpointConfig{URI: poisonProxy(t, brokertest.Start(t).Addr(), marker, true)})
	}
	cfg := fastConfig("dying")
	cfg.Endpoints = eps
	cfg.TimeToWait = 2 * time.Second
	c := startCluster(t, cfg)
	waitFor(t, 10*time.Second, "three live endpoints", func() bool { return c.LiveCount() == 3 })
	err := c.Publish(ctxT(t, 10*time.Second), "d/t", 1, false, marker)
	if errors.Is(err, ErrMessageRefused) {
		t.Fatalf("a total outage was taken for a refused message: %v", err)
	}
	if !errors.Is(err, ErrNoEndpoints) {
		t.Fatalf("with every broker dead: %v, want ErrNoEndpoints", err)
	}
}

// QoS 0 messages take the short way past paho's pipeline (inboundGuard.qos0) only when paho has
// routed every PUBLISH it was given. Interleaved QoS 0 and QoS 1 streams arrive whole, each in
// publish order. (Across QoS levels the broker itself reorders: Mosquitto holds QoS 1 messages
// beyond its in-flight window and sends QoS 0 ones meanwhile.)
func TestReceivedQoS0AndQoS1StreamsKeepOrder(t *testing.T) {
	b := brokertest.Start(t)
	sub := startCluster(t, fastConfig("mixsub", b.URI()))
	var mu sync.Mutex
	got := map[string][]int{}
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "mix/#", 1, func(m Message) {
		n, _ := strconv.Atoi(string(m.Payload))
		mu.Lock()
		got[m.Topic] = append(got[m.Topic], n)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	// The publisher is a raw paho client: one pipeline, so the broker gets the streams in order.
	o := mqtt.NewClientOptions().AddBroker(b.URI()).SetAutoReconnect(false).SetOrderMatters(true)
	pub := mqtt.NewClient(o)
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(0)
	const n = 3000
	sent := map[string]int{}
	var last mqtt.Token
	for i := 0; i < n; i++ {
		qos := byte(i % 2)
		if i%500 >= 400 {
			qos = 0 // runs of QoS 0 alone too
		}
		topic := fmt.Sprintf("mix/q%d", qos)
		last = pub.Publish(topic, qos, false, []byte(strconv.Itoa(sent[topic])))
		sent[topic]++
	}
	if !last.WaitTimeout(20 * time.Second) {
		t.Fatal("the last publish was not sent")
	}
	waitFor(t, 20*time.Second, "every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got["mix/q0"]) >= sent["mix/q0"] && len(got["mix/q1"]) >= sent["mix/q1"]
	})
	mu.Lock()
	defer mu.Unlock()
	for topic, seq := range got {
		for i, v := range seq {
			if v != i {
				t.Fatalf("%s: message %d is %d: out of order or missing", topic, i, v)
			}
		}
		if len(seq) != sent[topic] {
			t.Fatalf("%s: %d messages, want %d", topic, len(seq), sent[topic])
		}
	}
}
