package mqtt5codec

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// workload is one PUBLISH shape: QoS, payload size, and whether it carries a few properties
// (Message Expiry Interval, Content Type and two User Properties, what request/response and
// tracing add to a message).
type workload struct {
	qos     byte
	size    int
	withPro bool
}

func (w workload) name() string {
	props := "noprops"
	if w.withPro {
		props = "props"
	}
	size := fmt.Sprintf("%dB", w.size)
	if w.size == 1024 {
		size = "1KiB"
	}
	return fmt.Sprintf("qos%d/%s/%s", w.qos, size, props)
}

var workloads = []workload{
	{0, 64, false}, {0, 64, true}, {0, 1024, false}, {0, 1024, true},
	{1, 64, false}, {1, 64, true}, {1, 1024, false}, {1, 1024, true},
}

const topic = "site/7/line/3/sensor/temperature"

func ours(w workload) *mqtt5.Publish {
	p := &mqtt5.Publish{QoS: w.qos, Topic: topic, Payload: bytes.Repeat([]byte{'x'}, w.size)}
	if w.qos > 0 {
		p.PacketID = 42
	}
	if w.withPro {
		p.Properties.MessageExpiry = 300
		p.Properties.ContentType = "application/json"
		p.Properties.Present.Add(mqtt5.PropMessageExpiry, mqtt5.PropContentType)
		p.Properties.User = []mqtt5.UserProperty{{Key: "trace", Value: "4bf92f3577b34da6"}, {Key: "src", Value: "gw-12"}}
	}
	return p
}

func theirs(w workload) *packets.Publish {
	p := &packets.Publish{QoS: w.qos, Topic: topic, Payload: bytes.Repeat([]byte{'x'}, w.size),
		Properties: &packets.Properties{}}
	if w.qos > 0 {
		p.PacketID = 42
	}
	if w.withPro {
		expiry := uint32(300)
		p.Properties.MessageExpiry = &expiry
		p.Properties.ContentType = "application/json"
		p.Properties.User = []packets.User{{Key: "trace", Value: "4bf92f3577b34da6"}, {Key: "src", Value: "gw-12"}}
	}
	return p
}

// One op is an encode and a decode of the same packet, as a packet costs a client once on
// each side of a connection. Each codec is used the way its API is meant to be: ours appends
// into a reused buffer and decodes into a new packet (Decode) or a reused one (DecodeInto);
// paho.golang writes into a reused bytes.Buffer and reads with ReadPacket from a reused reader.
func BenchmarkPublish(b *testing.B) {
	for _, w := range workloads {
		b.Run(w.name()+"/hamqtt", func(b *testing.B) {
			p := ours(w)
			buf := make([]byte, 0, 2048)
			enc, _ := p.Append(nil)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var err error
				buf, err = p.Append(buf[:0])
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := mqtt5.Decode(buf, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(w.name()+"/hamqtt-reuse", func(b *testing.B) {
			p := ours(w)
			buf := make([]byte, 0, 2048)
			var into mqtt5.Publish
			enc, _ := p.Append(nil)
			b.SetBytes(int64(len(enc)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				buf, _ = p.Append(buf[:0])
				if _, err := mqtt5.DecodeInto(&into, buf, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(w.name()+"/paho.golang", func(b *testing.B) {
			p := theirs(w)
			var buf bytes.Buffer
			var rd bytes.Reader
			if _, err := p.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				buf.Reset()
				if _, err := p.WriteTo(&buf); err != nil {
					b.Fatal(err)
				}
				rd.Reset(buf.Bytes())
				if _, err := packets.ReadPacket(&rd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPuback(b *testing.B) {
	b.Run("hamqtt", func(b *testing.B) {
		p := &mqtt5.Ack{Kind: mqtt5.PUBACK, PacketID: 42}
		buf := make([]byte, 0, 16)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf, _ = p.Append(buf[:0])
			if _, _, err := mqtt5.Decode(buf, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hamqtt-reuse", func(b *testing.B) {
		p := &mqtt5.Ack{Kind: mqtt5.PUBACK, PacketID: 42}
		into := mqtt5.Ack{Kind: mqtt5.PUBACK}
		buf := make([]byte, 0, 16)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf, _ = p.Append(buf[:0])
			if _, err := mqtt5.DecodeInto(&into, buf, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("paho.golang", func(b *testing.B) {
		p := &packets.Puback{PacketID: 42, Properties: &packets.Properties{}}
		var buf bytes.Buffer
		var rd bytes.Reader
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf.Reset()
			if _, err := p.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
			rd.Reset(buf.Bytes())
			if _, err := packets.ReadPacket(&rd); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestInterop checks that the two codecs measure the same work: each decodes what the other
// encodes, to the same fields.
func TestInterop(t *testing.T) {
	for _, w := range workloads {
		var buf bytes.Buffer
		if _, err := theirs(w).WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		got, _, err := mqtt5.Decode(buf.Bytes(), 0)
		if err != nil {
			t.Fatalf("%s: ours cannot decode paho.golang's %x: %v", w.name(), buf.Bytes(), err)
		}
		want := ours(w)
		gp := got.(*mqtt5.Publish)
		if gp.Topic != want.Topic || gp.QoS != want.QoS || gp.PacketID != want.PacketID ||
			!bytes.Equal(gp.Payload, want.Payload) || len(gp.Properties.User) != len(want.Properties.User) ||
			gp.Properties.Present != want.Properties.Present || gp.Properties.ContentType != want.Properties.ContentType {
			t.Fatalf("%s: decoded %+v, want %+v", w.name(), gp, want)
		}
		enc, _ := want.Append(nil)
		cp, err := packets.ReadPacket(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("%s: paho.golang cannot decode ours: %v", w.name(), err)
		}
		tp := cp.Content.(*packets.Publish)
		if tp.Topic != topic || tp.QoS != w.qos || !bytes.Equal(tp.Payload, want.Payload) ||
			len(tp.Properties.User) != len(want.Properties.User) || tp.Properties.ContentType != want.Properties.ContentType {
			t.Fatalf("%s: paho.golang decoded %+v", w.name(), tp)
		}
	}
	var buf bytes.Buffer
	if _, err := (&packets.Puback{PacketID: 42, Properties: &packets.Properties{}}).WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if p, _, err := mqtt5.Decode(buf.Bytes(), 0); err != nil || p.(*mqtt5.Ack).PacketID != 42 {
		t.Fatalf("PUBACK %x: %v", buf.Bytes(), err)
	}
	t.Logf("paho.golang PUBACK: % x (ours: 40 02 00 2a)", buf.Bytes())
}
