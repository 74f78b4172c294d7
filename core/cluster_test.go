package core

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

func TestConnectPublishSubscribe(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	sub := startCluster(t, fastConfig("sub", uris(bs)...))
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "t/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, 3)
	pub := startCluster(t, fastConfig("pub", uris(bs)...))
	for i := 0; i < 10; i++ {
		if err := pub.Publish(ctxT(t, 5*time.Second), "t/x", 1, false, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "10 messages", func() bool { return got.count() == 10 })
	for _, m := range got.all() {
		if !strings.HasPrefix(m.Endpoint, "sub-") || m.Topic != "t/x" || m.QoS != 1 {
			t.Fatalf("unexpected message %+v", m)
		}
	}
}

func TestConnectFailsNamingEveryEndpoint(t *testing.T) {
	a, _ := brokertest.RefusedAddr()
	b, _ := brokertest.RefusedAddr()
	cfg := fastConfig("down", "tcp://"+a, "tcp://"+b)
	cfg.TimeToWait = time.Hour // the answer must not wait for it
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Connect(ctxT(t, 20*time.Second))
	if !errors.Is(err, ErrNoEndpoints) {
		t.Fatalf("want ErrNoEndpoints, got %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "after") {
		t.Fatalf("every broker refused at once, yet Connect waited for its deadline: %v", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(err, ECONNREFUSED) is false for %v", err)
	}
	var ce *ClusterError
	if !errors.As(err, &ce) || !ce.Refused() {
		t.Errorf("want a *ClusterError whose Refused() is true, got %#v", err)
	}
	for _, want := range []string{"down-1", "down-2", a, b, "refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestConnectAnswersFastAndKeepsTrying: a Connect that found every broker down fails at
// once, but the cluster keeps probing, so a broker started afterwards is used without a
// second Connect (what padogrid and connect_async users rely on).
func TestConnectAnswersFastAndKeepsTrying(t *testing.T) {
	port, err := brokertest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("later", fmt.Sprintf("tcp://127.0.0.1:%d", port))
	cfg.TimeToWait = time.Hour
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctxT(t, 20*time.Second)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want ECONNREFUSED at once, got %v", err)
	}
	brokertest.Start(t, brokertest.Options{Port: port})
	waitLive(t, c, 1)
	// A second Connect on the now live cluster returns nil.
	if err := c.Connect(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestKeepAliveOff(t *testing.T) {
	b := brokertest.Start(t)
	off := fastConfig("ka", b.URI())
	off.Connection.ClientID = "ka-off"
	off.Connection.KeepAlive = -1
	startCluster(t, off)
	on := fastConfig("ka", b.URI())
	on.Connection.ClientID = "ka-on"
	startCluster(t, on)
	// Mosquitto logs the protocol (p2: 3.1.1, p5: 5) and the keep-alive each client asked for.
	p := map[int]string{MQTT311: "p2", MQTT5: "p5"}[testProtocol]
	waitFor(t, 5*time.Second, "both clients in the broker's log", func() bool {
		return strings.Contains(b.Log(), "as ka-off ("+p+", c1, k0)") && strings.Contains(b.Log(), "as ka-on ("+p+", c1, k2)")
	})
}

func TestSubscribeGrantedIsTheLowestAnyBrokerGranted(t *testing.T) {
	full := brokertest.Start(t)
	capped := brokertest.Start(t, brokertest.Options{ExtraConfig: "max_qos 1\n"})
	c := startCluster(t, fastConfig("granted", full.URI(), capped.URI()))
	waitLive(t, c, 2)
	granted, err := c.SubscribeGranted(ctxT(t, 5*time.Second), map[string]byte{"g/two": 2, "g/zero": 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if granted["g/two"] != 1 || granted["g/zero"] != 0 {
		t.Fatalf("granted %v; want g/two 1 (the capped broker's max_qos), g/zero 0", granted)
	}
	// Before Connect nothing is asked of a broker: the QoS asked for.
	idle, err := New(fastConfig("idle", full.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if g, err := idle.SubscribeGranted(ctxT(t, time.Second), map[string]byte{"g/x": 2}, nil); err != nil || g["g/x"] != 2 {
		t.Fatalf("before Connect: %v, %v", g, err)
	}
}

func TestStartReturnsAtOnceAndReportsByEvents(t *testing.T) {
	b := brokertest.Start(t)
	c, err := New(fastConfig("start", b.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil { // started: nothing to do
		t.Fatal(err)
	}
	pollFor(t, c, 5*time.Second, "the endpoint-up event", func(e Event) bool {
		return e.Kind == EventEndpointUp && e.Endpoint == "start-1"
	})

	// Nothing reachable: Start still returns at once, and an error event follows TimeToWait.
	refused, err := brokertest.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("nowhere", "tcp://"+refused)
	cfg.TimeToWait = time.Hour
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	// The error event comes once the endpoint refused, long before TimeToWait, and says
	// ECONNREFUSED as Connect's error does.
	pollFor(t, d, 5*time.Second, "the no-endpoint error event", func(e Event) bool {
		return e.Kind == EventError && errors.Is(e.Err, ErrNoEndpoints) && strings.Contains(e.Err.Error(), "nowhere-1") &&
			errors.Is(e.Err, syscall.ECONNREFUSED)
	})
}

// TestCloseDoesNotWaitForASilentBroker: Close returns at once while a connect waits for a
// broker that accepted the connection and never answers the CONNECT.
func TestCloseDoesNotWaitForASilentBroker(t *testing.T) {
	a, err := brokertest.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	px := brokertest.StartProxy(t, a)
	px.SetMode(brokertest.Blackhole)
	c, err := New(Config{Name: "silent", Endpoints: []EndpointConfig{{URI: px.URI()}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the CONNECT sent", func() bool { return c.Stats()[0].Connects > 0 })
	done := make(chan struct{})
	go func() {
		c.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second): // the connect timeout is 5 s
		t.Fatal("Close waited for the silent broker's CONNACK")
	}
}

// TLS settings that no endpoint would use are refused instead of being ignored without a word.
func TestTLSSettingsWithoutATLSEndpointAreRefused(t *testing.T) {
	cfg := Config{Name: "plain", Endpoints: []EndpointConfig{{URI: "tcp://127.0.0.1:1883"}, {URI: "ws://127.0.0.1:8080/mqtt"}},
		Connection: ConnectionConfig{TLS: &tls.Config{MinVersion: tls.VersionTLS12}}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "no endpoint uses TLS") {
		t.Fatalf("TLS with tcp:// and ws:// endpoints: %v", err)
	}
	cfg.Endpoints = append(cfg.Endpoints, EndpointConfig{URI: "ssl://127.0.0.1:8883"})
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("TLS with an ssl:// endpoint: %v", err)
	}
	c.Close()
}

func TestTooManyEndpointsAreRefused(t *testing.T) {
	cfg := Config{Name: "huge"}
	for i := 0; i <= MaxExpandedURIs; i++ {
		cfg.Endpoints = append(cfg.Endpoints, EndpointConfig{URI: fmt.Sprintf("tcp://127.0.0.1:%d", 1024+i)})
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("%d endpoints: %v", len(cfg.Endpoints), err)
	}
}
