package core

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// bridgedPair starts clusters edge and enterprise on brokers of their own.
func bridgedPair(t *testing.T) (edge, ent *Cluster, edgeBrokers, entBrokers []*brokertest.Broker) {
	edgeBrokers, entBrokers = brokertest.StartN(t, 2), brokertest.StartN(t, 2)
	edge = startCluster(t, fastConfig("edge", uris(edgeBrokers)...))
	ent = startCluster(t, fastConfig("enterprise", uris(entBrokers)...))
	waitLive(t, edge, 2)
	waitLive(t, ent, 2)
	return
}

func TestInBridgeForwardsWhatTheSourceReceives(t *testing.T) {
	edge, ent, edgeBrokers, _ := bridgedPair(t)
	var got collector
	if err := ent.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	if err := edge.AddInBridge(ent, []string{"test/#"}, 1); err != nil {
		t.Fatal(err)
	}
	// A device publishes straight to an edge broker.
	dev := startCluster(t, fastConfig("device", edgeBrokers[1].URI()))
	for i := 0; i < 5; i++ {
		if err := dev.Publish(ctxT(t, 5*time.Second), "test/temp", 1, false, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := dev.Publish(ctxT(t, 5*time.Second), "other/x", 1, false, []byte("no")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "5 bridged messages", func() bool { return got.count() >= 5 })
	time.Sleep(200 * time.Millisecond) // nothing more may come
	if got.count() != 5 {
		t.Fatalf("want 5 bridged messages, got %d: %+v", got.count(), got.all())
	}
	// The bridge's subscription does not reach edge's application.
	var edgeApp collector
	edge.SetHandlers(Handlers{OnMessage: edgeApp.add})
	if err := dev.Publish(ctxT(t, 5*time.Second), "test/temp", 1, false, []byte("late")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the late message bridged", func() bool { return got.count() == 6 })
	if edgeApp.count() != 0 {
		t.Fatalf("edge's application got the bridge's messages: %+v", edgeApp.all())
	}
}

func TestOutBridgeMirrorsPublishes(t *testing.T) {
	edge, ent, _, _ := bridgedPair(t)
	var onEdge, onEnt collector
	if err := edge.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, onEdge.add); err != nil {
		t.Fatal(err)
	}
	if err := ent.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, onEnt.add); err != nil {
		t.Fatal(err)
	}
	if err := edge.AddOutBridge(ent, []string{"test/#"}, 2); err != nil {
		t.Fatal(err)
	}
	if err := edge.Publish(ctxT(t, 5*time.Second), "test/a", 1, false, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := edge.Publish(ctxT(t, 5*time.Second), "skip/a", 1, false, []byte("two")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both subscribers", func() bool { return onEdge.count() == 1 && onEnt.count() == 1 })
	if m := onEnt.all()[0]; m.Topic != "test/a" || string(m.Payload) != "one" {
		t.Fatalf("mirrored %+v", m)
	}
}

// TestOutBridgesChain: as in padogrid, a message published through a goes out to b by a's
// out-bridge and on to c by b's (a forwarded publish is a publish through b); an out-bridge
// back to a cluster the copy came through (c to a) is not followed, so nothing cycles.
func TestOutBridgesChain(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	a := startCluster(t, fastConfig("chain-a", bs[0].URI()))
	b := startCluster(t, fastConfig("chain-b", bs[1].URI()))
	c := startCluster(t, fastConfig("chain-c", bs[2].URI()))
	counters := []*counter{newCounter(t, bs[0].URI(), "chain/#"), newCounter(t, bs[1].URI(), "chain/#"), newCounter(t, bs[2].URI(), "chain/#")}
	for _, br := range []struct{ from, to *Cluster }{{a, b}, {b, c}, {c, a}} {
		if err := br.from.AddOutBridge(br.to, []string{"chain/#"}, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Publish(ctxT(t, 5*time.Second), "chain/x", 1, false, []byte("hop")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the message on a's, b's and c's brokers", func() bool {
		return counters[0].total() >= 1 && counters[1].total() >= 1 && counters[2].total() >= 1
	})
	time.Sleep(500 * time.Millisecond) // a cycle would show as growing counts
	for i, k := range counters {
		if n := k.total(); n != 1 {
			t.Errorf("broker %d got the message %d times, want once", i, n)
		}
	}
}

// TestBridgeLoopProtection: A bridged in to B and B bridged in to A must not ping-pong.
func TestBridgeLoopProtection(t *testing.T) {
	a, b, aBrokers, _ := bridgedPair(t)
	if err := a.AddInBridge(b, []string{"loop/#"}, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.AddInBridge(a, []string{"loop/#"}, 1); err != nil {
		t.Fatal(err)
	}
	ka := newCounter(t, aBrokers[0].URI(), "loop/#")
	kb := newCounter(t, aBrokers[1].URI(), "loop/#")
	dev := startCluster(t, fastConfig("dev", aBrokers[0].URI()))
	if err := dev.Publish(ctxT(t, 5*time.Second), "loop/x", 1, false, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the original", func() bool { return ka.total() >= 1 })
	time.Sleep(time.Second) // a loop would show as a growing count
	if n := ka.total() + kb.total(); n > 1 {
		t.Fatalf("the message came back to A's brokers %d times: the bridges loop", n)
	}
	for _, s := range append(a.Stats(), b.Stats()...) {
		if s.Published > 1 {
			t.Fatalf("%s published %d times", s.Name, s.Published)
		}
	}
}

func TestHooks(t *testing.T) {
	b := brokertest.Start(t)
	c := startCluster(t, fastConfig("hooks", b.URI()))
	var after []string
	var seen collector
	if err := c.AddHooks(Hooks{
		BeforePublish: func(topic string, p []byte) (string, []byte, bool) {
			if bytes.Equal(p, []byte("drop")) {
				return "", nil, false
			}
			return "enriched/" + topic, bytes.ToUpper(p), true
		},
		AfterPublish: func(topic string, _ []byte, eps []string, err error) {
			after = append(after, fmt.Sprintf("%s@%s:%v", topic, strings.Join(eps, ","), err))
		},
		OnMessage: seen.add,
	}); err != nil {
		t.Fatal(err)
	}
	var app collector
	if err := c.Subscribe(ctxT(t, 5*time.Second), "enriched/#", 1, app.add); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "drop", "b"} {
		if err := c.Publish(ctxT(t, 5*time.Second), "raw", 1, false, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "two messages in app and connector", func() bool { return app.count() == 2 && seen.count() == 2 })
	if got := string(app.all()[0].Payload) + string(app.all()[1].Payload); got != "AB" {
		t.Fatalf("transformed payloads %q", got)
	}
	if len(after) != 2 || after[0] != "enriched/raw@hooks-1:<nil>" {
		t.Fatalf("after-publish calls %q", after)
	}
	if err := RegisterPlugin("", Hooks{}); err == nil {
		t.Fatal("empty plugin name accepted")
	}
}

func TestAddAndRemoveEndpointsAtRuntime(t *testing.T) {
	bs := brokertest.StartN(t, 2)
	c := startCluster(t, fastConfig("rt", bs[0].URI()))
	name, err := c.AddEndpoint(EndpointConfig{URI: bs[1].URI()})
	if err != nil || name != "rt-2" {
		t.Fatalf("AddEndpoint: %q %v", name, err)
	}
	waitFor(t, 5*time.Second, "rt-2 live", func() bool { return c.LiveCount() == 2 })
	if _, err := c.AddEndpoint(EndpointConfig{URI: bs[1].URI()}); err == nil || !strings.Contains(err.Error(), "already endpoint") {
		t.Fatalf("adding the same broker twice: %v", err)
	}
	if err := c.RemoveEndpoint("rt-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveEndpoint("rt-1"); err == nil {
		t.Fatal("removing twice succeeded")
	}
	time.Sleep(c.cfg.MaxProbeDelay + 300*time.Millisecond) // the prober had every chance to bring it back
	if live := c.LiveEndpoints(); len(live) != 1 || live[0] != "rt-2" {
		t.Fatalf("live after removal: %v", live)
	}
	for _, s := range c.Stats() {
		if s.Name == "rt-1" {
			t.Fatalf("removed endpoint still listed: %+v", s)
		}
	}
	if err := c.Publish(ctxT(t, 5*time.Second), "x", 1, false, nil); err != nil {
		t.Fatal(err)
	}
}

// TestTwoClustersShareABroker: clusters with a broker in common keep their own connections
// and their own subscriptions.
func TestTwoClustersShareABroker(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	a := startCluster(t, fastConfig("a", bs[0].URI(), bs[1].URI()))
	b := startCluster(t, fastConfig("b", bs[1].URI(), bs[2].URI()))
	var gotA, gotB collector
	if err := a.Subscribe(ctxT(t, 5*time.Second), "only/a", 1, gotA.add); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(ctxT(t, 5*time.Second), "only/b", 1, gotB.add); err != nil {
		t.Fatal(err)
	}
	pub := startCluster(t, fastConfig("pub", bs[1].URI()))
	for _, topic := range []string{"only/a", "only/b", "only/a"} {
		if err := pub.Publish(ctxT(t, 5*time.Second), topic, 1, false, []byte(topic)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "deliveries", func() bool { return gotA.count() == 2 && gotB.count() == 1 })
	for _, m := range gotA.all() {
		if m.Topic != "only/a" || m.Endpoint != "a-2" {
			t.Fatalf("cluster a got %+v", m)
		}
	}
	if m := gotB.all()[0]; m.Topic != "only/b" || m.Endpoint != "b-1" {
		t.Fatalf("cluster b got %+v", m)
	}
}
