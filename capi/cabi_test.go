//go:build cabitest

package main

// These tests drive the exported C ABI from C (cabitest_shim.c), as a foreign host does:
//
//	go test -race -tags cabitest ./capi
//	go test -tags cabitest -run '^$' -fuzz FuzzCABI -fuzztime 20s ./capi

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/core"
	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// TestCABIThreadsRace publishes from several pthreads through the C functions while the
// push dispatcher calls C callbacks (which try to close their own client); with -race any
// unsynchronised access in capi is reported.
func TestCABIThreadsRace(t *testing.T) {
	b := brokertest.Start(t)
	if msg := cabiThreads(b.URI(), 4, 200); msg != "" {
		t.Fatal(msg)
	}
}

// TestCABIOutboxCycles: a client with an outbox, published to from several pthreads while it
// is disconnected and connected again and again (each disconnect hands the outbox to a new
// engine cluster): every publish is stored or acknowledged, every message is delivered once,
// and every asynchronous publish gets exactly one outcome, under the race detector.
func TestCABIOutboxCycles(t *testing.T) {
	b := brokertest.Start(t)
	if msg := cabiOutboxCycles(b.URI(), 4, 150); msg != "" {
		t.Fatal(msg)
	}
}

// TestCABIAckQuorum: hamqtt_options.ack_quorum reaches the engine's configuration, a value
// below -1 is refused with an error that names the field, and a program built against a
// header without the field (a smaller struct_size) gets the default whatever follows.
func TestCABIAckQuorum(t *testing.T) {
	for _, tc := range []struct {
		quorum    int
		oldHeader bool
		want      int
	}{{0, false, 0}, {1, false, 1}, {2, false, 2}, {-1, false, -1}, {7, true, 0}, {-5, true, 0}} {
		got, status, msg := cabiAckQuorum(tc.quorum, tc.oldHeader)
		if status != 0 || got != tc.want {
			t.Errorf("ack_quorum %d (old header %v): got %d, status %d %q; want %d", tc.quorum, tc.oldHeader, got, status, msg, tc.want)
		}
	}
	_, status, msg := cabiAckQuorum(-2, false)
	if status != errConfig || !strings.Contains(msg, "ack_quorum is -2") {
		t.Errorf("ack_quorum -2: status %d %q; want HAMQTT_ERR_CONFIG naming ack_quorum", status, msg)
	}
}

// TestCABIMQTT5Options: every MQTT 5 field of hamqtt_options reaches the engine's
// configuration (the property lists copied, as the caller frees them), and a program built
// against a header without them (a smaller struct_size) gets MQTT 3.1.1 whatever follows.
func TestCABIMQTT5Options(t *testing.T) {
	cfg, status, msg := cabiV5Options(false)
	if status != 0 {
		t.Fatalf("status %d: %s", status, msg)
	}
	cc := cfg.Connection
	m := cc.MQTT5
	if cc.ProtocolVersion != core.MQTT5 || m.SessionExpiry != 90*time.Second || m.ReceiveMaximum != 42 ||
		m.TopicAliasMaximum != 7 || !m.NoTopicAliases || !m.RequestResponseInfo || !m.NoProblemInfo ||
		cfg.MessageIDs != core.MessageIDsNever {
		t.Errorf("MQTT 5 settings: version %d, %+v, message ids %d", cc.ProtocolVersion, m, cfg.MessageIDs)
	}
	if len(m.User) != 1 || m.User[0] != (core.UserProperty{Key: "app", Value: "shim"}) {
		t.Errorf("connect user properties %v", m.User)
	}
	w := cc.Will
	if w == nil || w.Delay != 5*time.Second || w.Properties == nil || w.Properties.ContentType != "text/plain" ||
		w.Properties.MessageExpiry == nil || *w.Properties.MessageExpiry != 60 {
		t.Errorf("will %+v", w)
	}
	cfg, status, msg = cabiV5Options(true)
	if status != 0 {
		t.Fatalf("old header: status %d: %s", status, msg)
	}
	if cfg.Connection.ProtocolVersion != core.MQTT311 || cfg.Connection.Will.Properties != nil || len(cfg.Connection.MQTT5.User) != 0 {
		t.Errorf("old header: version %d, will %+v, user %v: fields beyond struct_size were read",
			cfg.Connection.ProtocolVersion, cfg.Connection.Will, cfg.Connection.MQTT5.User)
	}
}

// FuzzCABI feeds arbitrary call scripts (topics, filters, QoS values, stale handles, YAML,
// endpoint strings) through the C ABI: no crash, known status codes, an error text for every
// failure, no internal error.
func FuzzCABI(f *testing.F) {
	f.Add([]byte{0, 3, 1, 'a', '/', 'b'})
	f.Add([]byte{2, 5, 3, 'a', '/', '#', '/', 'b'})
	f.Add([]byte{9, 20, 0, 'c', 'l', 'u', 's', 't', 'e', 'r', 's', ':', ' ', '[', '{', 'n', 'a', 'm', 'e', ':', 'x', '}', ']'})
	f.Add([]byte{10, 24, 0, 't', 'c', 'p', ':', '/', '/', '1', '2', '7', '.', '0', '.', '0', '.', '1', ':', '1', '-', '9', '9', '9', '9', '9'})
	f.Add([]byte{1, 4, 0xff, 0xc3, 0x28, 'x', 'y', 8, 1, 0, 7, 0, 3})
	f.Add([]byte{5, 9, 1, 'h', 'o', 's', 't', ':', '1', '8', '8', '4', 6, 6, 0, 'h', '-', '2'})
	// property lists (op 11): every message property, and a CONNACK's with a topic alias
	f.Add([]byte{11, 29, 0, 28, 0x01, 1, 0x02, 0, 0, 1, 44, 0x03, 0, 1, 't', 0x08, 0, 1, 'r', 0x09, 0, 2, 0, 255,
		0x0B, 7, 0x26, 0, 1, 'a', 0, 0})
	f.Add([]byte{11, 12, 0, 11, 0x12, 0, 2, 'i', 'd', 0x23, 0, 5, 0x21, 0, 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		tm := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("input took over 10s: %q", data)) })
		defer tm.Stop()
		if msg := cabiFuzz(data); msg != "" {
			t.Fatal(msg)
		}
	})
}

// TestCABIConfigSeesTheHostEnvironment: ${env:NAME} in a configuration loaded through the C
// API sees a variable the host set after the library was loaded (Python's os.environ, Node's
// process.env, C's setenv), which the Go runtime's own copy of the environment does not.
func TestCABIConfigSeesTheHostEnvironment(t *testing.T) {
	const name = "HAMQTT_CABI_ENV_TEST"
	if v, ok := cabiHostEnv(name, "tcp://127.0.0.1:18883"); !ok || v != "tcp://127.0.0.1:18883" {
		t.Fatalf("hostEnv after setenv: %q %v", v, ok)
	}
	if _, ok := os.LookupEnv(name); ok {
		t.Log("the Go runtime saw the C setenv too (it shares environ under cgo here)")
	}
	yaml := "clusters:\n  - name: envtest\n    connections:\n      - connection:\n          serverURIs: [\"${env:" + name + "}\"]\n"
	fc, err := core.ParseConfig([]byte(yaml), "<test>", loadOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got := fc.Clusters[0].Endpoints[0].URI; got != "tcp://127.0.0.1:18883" {
		t.Fatalf("endpoint URI %q, want the value set with setenv", got)
	}
}
