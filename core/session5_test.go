package core

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// What an MQTT 5 broker sends is checked as strictly as a 3.1.1 one's: these brokers are test
// doubles that misbehave on purpose (a real broker does not), answering the client's CONNECT
// and SUBSCRIBE and then sending what the case gives.

// hostileBroker5 accepts MQTT 5 clients, answers CONNECT with connack and SUBSCRIBE with a
// grant, then writes what after returns; what the client sends back is recorded.
type hostileBroker5 struct {
	mu   sync.Mutex
	got  []mqtt5.Packet
	addr string
	// puback, when set, is the reason code a QoS 1 PUBLISH is answered with.
	puback func(*mqtt5.Publish) mqtt5.ReasonCode
}

func startHostileBroker5(t *testing.T, connack *mqtt5.Connack, after func() []byte, opts ...func(*hostileBroker5)) *hostileBroker5 {
	t.Helper()
	hb := &hostileBroker5{}
	for _, o := range opts {
		o(hb)
	}
	hb.addr = serveLoopback(t, func(conn net.Conn) {
		defer conn.Close()
		r := bufio.NewReader(conn)
		for {
			p, err := readPacket5(r, 1<<20)
			if err != nil {
				return
			}
			hb.mu.Lock()
			hb.got = append(hb.got, p)
			hb.mu.Unlock()
			var out []byte
			switch p := p.(type) {
			case *mqtt5.Connect:
				out, _ = connack.Append(nil)
			case *mqtt5.Subscribe:
				out, _ = (&mqtt5.Suback{PacketID: p.PacketID, Reasons: []mqtt5.ReasonCode{1}}).Append(nil)
				out = append(out, after()...)
			case *mqtt5.Pingreq:
				out, _ = (&mqtt5.Pingresp{}).Append(nil)
			case *mqtt5.Publish:
				if p.QoS == 1 && hb.puback != nil {
					out, _ = (&mqtt5.Ack{Kind: mqtt5.PUBACK, PacketID: p.PacketID, Reason: hb.puback(p)}).Append(nil)
				}
			}
			if _, err := conn.Write(out); err != nil {
				return
			}
		}
	})
	return hb
}

// disconnectReason is the reason code of the DISCONNECT the client sent, or -1.
func (hb *hostileBroker5) disconnectReason() int {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for _, p := range hb.got {
		if d, ok := p.(*mqtt5.Disconnect); ok {
			return int(d.Reason)
		}
	}
	return -1
}

func mustAppend(t *testing.T, p mqtt5.Packet) []byte {
	t.Helper()
	b, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMQTT5HostileBrokerCannotReachTheApplication(t *testing.T) {
	aliased := func(alias uint16, topic string) []byte {
		p := &mqtt5.Publish{Topic: topic, Payload: []byte("x")}
		p.Properties.Present.Add(mqtt5.PropTopicAlias)
		p.Properties.TopicAlias = alias
		b, _ := p.Append(nil)
		return b
	}
	for name, tc := range map[string]struct {
		pkt    []byte
		reason mqtt5.ReasonCode // what the client must say in its DISCONNECT (0: none checked)
	}{
		"wildcard topic":          {encodePacket(0x30, append(publishBody("h/#", 0, nil), 0, 'x')), mqtt5.ReasonProtocolError},
		"QoS 1 with packet id 0":  {encodePacket(0x32, append(publishBody("h/a", 0, nil), 0, 0, 0, 'x')), mqtt5.ReasonProtocolError},
		"huge announced length":   {[]byte{0x30, 0xff, 0xff, 0xff, 0x7f}, mqtt5.ReasonPacketTooLarge},
		"property not allowed":    {encodePacket(0x30, append(publishBody("h/a", 0, nil), 2, 0x11, 0)), mqtt5.ReasonMalformedPacket},
		"alias above our maximum": {aliased(3, "h/a"), mqtt5.ReasonTopicAliasInvalid},
		"alias never set":         {aliased(1, ""), mqtt5.ReasonProtocolError},
		"CONNACK when connected":  {[]byte{0x20, 0x03, 0, 0, 0}, mqtt5.ReasonProtocolError},
	} {
		t.Run(name, func(t *testing.T) {
			hb := startHostileBroker5(t, &mqtt5.Connack{}, func() []byte { return tc.pkt })
			cfg := v5Config("hostile5", hb.addr)
			cfg.Connection.MQTT5.TopicAliasMaximum = 2
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var got collector
			var violations atomic.Int32
			c.SetHandlers(Handlers{OnEndpointDown: func(_ string, err error) {
				if errors.Is(err, ErrProtocolViolation) || strings.Contains(err.Error(), "larger than the maximum") {
					violations.Add(1)
				}
			}})
			if err := c.Subscribe(context.Background(), "h/#", 1, got.add); err != nil {
				t.Fatal(err)
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			// Reported as the endpoint's last error, or (once it was live) as its going down:
			// a reconnect may replace the last error before it is read.
			waitFor(t, 5*time.Second, "the violation reported", func() bool {
				last := c.Stats()[0].LastError
				return violations.Load() > 0 || strings.Contains(last, "protocol violation") || strings.Contains(last, "larger than the maximum")
			})
			waitFor(t, 5*time.Second, "the client's DISCONNECT", func() bool { return hb.disconnectReason() >= 0 })
			if r := hb.disconnectReason(); tc.reason != 0 && r != int(tc.reason) {
				t.Errorf("DISCONNECT reason 0x%02X, want 0x%02X (%v)", r, byte(tc.reason), tc.reason)
			}
			if got.count() != 0 {
				t.Fatalf("the application received %d malformed messages", got.count())
			}
		})
	}
}

// A broker's CONNACK refusal and its DISCONNECT reach the application with their reason code
// and the server it names; the engine does not follow the reference.
func TestMQTT5BrokerReasonsReachTheApplication(t *testing.T) {
	t.Run("CONNACK server busy", func(t *testing.T) {
		hb := startHostileBroker5(t, &mqtt5.Connack{Reason: mqtt5.ReasonServerBusy}, func() []byte { return nil })
		c, err := New(v5Config("busy", hb.addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Connect(ctxT(t, 3*time.Second))
		if err == nil || !strings.Contains(err.Error(), "Server busy") {
			t.Fatalf("connect to a busy broker: %v", err)
		}
	})
	t.Run("DISCONNECT server moved", func(t *testing.T) {
		moved := &mqtt5.Disconnect{Reason: mqtt5.ReasonServerMoved}
		moved.Properties.Present.Add(mqtt5.PropServerReference)
		moved.Properties.ServerReference = "elsewhere:1883"
		pkt := mustAppend(t, moved)
		hb := startHostileBroker5(t, &mqtt5.Connack{}, func() []byte { return pkt })
		c, err := New(v5Config("moved", hb.addr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Subscribe(context.Background(), "m/#", 1, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		pollFor(t, c, 5*time.Second, "the endpoint down with the broker's reason", func(e Event) bool {
			var r *ReasonError
			return e.Kind == EventEndpointDown && errors.As(e.Err, &r) && r.Code == ReasonServerMoved &&
				r.ServerReference == "elsewhere:1883"
		})
		if r := hb.disconnectReason(); r >= 0 {
			t.Errorf("the client answered the broker's DISCONNECT with one of its own (0x%02X)", r)
		}
	})
}

// A broker that ends every session with "server busy" is backed off, and never quarantined
// for it: it is running and said why.
func TestMQTT5BusyBrokerIsBackedOffNotQuarantined(t *testing.T) {
	busy := mustAppend(t, &mqtt5.Disconnect{Reason: mqtt5.ReasonServerBusy})
	hb := startHostileBroker5(t, &mqtt5.Connack{}, func() []byte { return busy })
	cfg := v5Config("busy5", hb.addr)
	cfg.FlapLimit, cfg.FlapWindow = 3, time.Minute
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(context.Background(), "b/#", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	connects := func() int {
		hb.mu.Lock()
		defer hb.mu.Unlock()
		n := 0
		for _, p := range hb.got {
			if _, ok := p.(*mqtt5.Connect); ok {
				n++
			}
		}
		return n
	}
	// Quarantine (after FlapLimit drops) would stop the attempts at 3.
	waitFor(t, 10*time.Second, "five sessions ended busy", func() bool { return connects() >= 5 })
	if st := c.Stats()[0]; st.State == StateQuarantined || strings.Contains(st.LastError, "quarantined") {
		t.Fatalf("a busy broker was quarantined: %s", st.LastError)
	}
}

// What a broker's CONNACK says is the cluster's to read: its limits and the session expiry it
// chose instead of ours.
func TestMQTT5ConnackIsReadable(t *testing.T) {
	ca := &mqtt5.Connack{}
	p := &ca.Properties
	p.Present.Add(mqtt5.PropSessionExpiry, mqtt5.PropServerKeepAlive, mqtt5.PropReceiveMaximum, mqtt5.PropMaximumQoS, mqtt5.PropAssignedClientID)
	p.SessionExpiry, p.ServerKeepAlive, p.ReceiveMaximum, p.MaximumQoS, p.AssignedClientID = 30, 5, 3, 1, "given-by-broker"
	hb := startHostileBroker5(t, ca, func() []byte { return nil })
	c := startCluster(t, v5Config("connack", hb.addr))
	got := c.Connack("connack-1")
	if got == nil || got.SessionExpiry == nil || *got.SessionExpiry != 30 || got.ServerKeepAlive != 5*time.Second ||
		got.ReceiveMaximum != 3 || got.MaximumQoS != 1 || got.AssignedClientID != "given-by-broker" {
		t.Fatalf("Connack: %+v", got)
	}
	if c.Connack("nosuch") != nil {
		t.Fatal("a CONNACK for an unknown endpoint")
	}
	// QoS 2 above the broker's Maximum QoS fails that message only.
	var r *ReasonError
	if err := c.Publish(ctxT(t, 5*time.Second), "c/q2", 2, false, nil); !errors.As(err, &r) || r.Code != ReasonQoSNotSupported {
		t.Fatalf("QoS 2 above the broker's maximum: %v", err)
	}
}

// A broker over its quota refuses messages with 0x97: each such message fails with the code, is
// not sent to the cluster's other broker, and the broker stays live for the next message.
func TestMQTT5QuotaRefusalIsNotADeadBroker(t *testing.T) {
	quota := func(hb *hostileBroker5) {
		hb.puback = func(p *mqtt5.Publish) mqtt5.ReasonCode {
			if string(p.Payload) == "over" {
				return mqtt5.ReasonQuotaExceeded
			}
			return mqtt5.ReasonSuccess
		}
	}
	a := startHostileBroker5(t, &mqtt5.Connack{}, func() []byte { return nil }, quota)
	b := startHostileBroker5(t, &mqtt5.Connack{}, func() []byte { return nil }, quota)
	c := startCluster(t, v5Config("quota", a.addr, b.addr))
	waitLive(t, c, 2)
	for i := range 5 {
		var r *ReasonError
		if err := c.Publish(ctxT(t, 5*time.Second), "q/t", 1, false, []byte("over")); !errors.As(err, &r) || r.Code != ReasonQuotaExceeded {
			t.Fatalf("publish %d over the quota: %v", i, err)
		}
		if err := c.Publish(ctxT(t, 5*time.Second), "q/t", 1, false, []byte("fine")); err != nil {
			t.Fatalf("publish %d within the quota: %v", i, err)
		}
	}
	var sent uint64
	for _, st := range c.Stats() {
		sent += st.Published
		if st.State != StateLive {
			t.Errorf("%s is %v after quota refusals: %s", st.Name, st.State, st.LastError)
		}
	}
	if sent != 10 {
		t.Errorf("%d copies sent for 10 publishes: a refused message went to the other broker", sent)
	}
}
