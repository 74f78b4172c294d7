package core

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// sharing is a cluster over uris that shares connections with the other sharing clusters.
func sharing(name string, uris ...string) Config {
	cfg := fastConfig(name, uris...)
	cfg.ShareConnections = true
	return cfg
}

// topics lists the topics a collector received, in order.
func (cl *collector) topics() []string {
	var out []string
	for _, m := range cl.all() {
		out = append(out, m.Topic)
	}
	return out
}

// publishAll publishes each topic at QoS 1 through pub, its payload the topic itself.
func publishAll(t *testing.T, pub *Cluster, topics ...string) {
	t.Helper()
	for _, topic := range topics {
		if err := pub.Publish(ctxT(t, 5*time.Second), topic, 1, false, []byte(topic)); err != nil {
			t.Fatal(err)
		}
	}
}

// untilEnd waits until every collector received topic "end" (published last, so everything
// before it has arrived too: one publisher, one subscriber connection, QoS 1 keeps order).
func untilEnd(t *testing.T, cls ...*collector) {
	t.Helper()
	waitFor(t, 5*time.Second, "the end marker", func() bool {
		for _, cl := range cls {
			if !slices.Contains(cl.topics(), "end") {
				return false
			}
		}
		return true
	})
}

func TestSharedConnectionKeepsSubscriptionsApart(t *testing.T) {
	skipUnderMQTT5(t)
	b := brokertest.Start(t)
	proxy := brokertest.StartProxy(t, b.Addr())
	a := startCluster(t, sharing("a", proxy.URI()))
	bb := startCluster(t, sharing("b", proxy.URI()))
	waitFor(t, 5*time.Second, "one connection for both clusters", func() bool { return proxy.Active() == 1 })
	if got := proxy.Accepted(); got != 1 {
		t.Fatalf("the broker saw %d connections; two sharing clusters should open one", got)
	}

	var gotA, gotB collector
	for _, s := range []struct {
		c       *Cluster
		cl      *collector
		filters map[string]byte
	}{
		{a, &gotA, map[string]byte{"a/#": 1, "common/x": 1, "end": 1}},
		{bb, &gotB, map[string]byte{"b/#": 0, "common/x": 1, "end": 1}},
	} {
		// The catch-all handler, not a per-filter one: it shows whatever reaches the cluster.
		s.c.SetHandlers(Handlers{OnMessage: s.cl.add})
		if err := s.c.SubscribeMultiple(ctxT(t, 5*time.Second), s.filters, nil); err != nil {
			t.Fatal(err)
		}
	}
	pub := startCluster(t, fastConfig("pub", b.URI()))
	publishAll(t, pub, "a/1", "b/1", "common/x", "other", "end")
	untilEnd(t, &gotA, &gotB)
	if want := []string{"a/1", "common/x", "end"}; !slices.Equal(gotA.topics(), want) {
		t.Errorf("cluster a got %q, want %q", gotA.topics(), want)
	}
	if want := []string{"b/1", "common/x", "end"}; !slices.Equal(gotB.topics(), want) {
		t.Errorf("cluster b got %q, want %q", gotB.topics(), want)
	}

	// A filter both hold stays on the broker for the one that keeps it.
	if err := a.Unsubscribe(ctxT(t, 5*time.Second), "common/x"); err != nil {
		t.Fatal(err)
	}
	gotA, gotB = collector{}, collector{}
	publishAll(t, pub, "common/x", "end")
	untilEnd(t, &gotA, &gotB)
	if want := []string{"end"}; !slices.Equal(gotA.topics(), want) {
		t.Errorf("after unsubscribing, cluster a got %q, want %q", gotA.topics(), want)
	}
	if want := []string{"common/x", "end"}; !slices.Equal(gotB.topics(), want) {
		t.Errorf("cluster b lost the filter cluster a dropped: got %q, want %q", gotB.topics(), want)
	}

	// Closing one cluster leaves the other's connection and subscriptions alone.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	gotB = collector{}
	publishAll(t, pub, "a/2", "b/2", "end")
	untilEnd(t, &gotB)
	if want := []string{"b/2", "end"}; !slices.Equal(gotB.topics(), want) {
		t.Errorf("after cluster a closed, cluster b got %q, want %q", gotB.topics(), want)
	}
	if err := bb.Publish(ctxT(t, 5*time.Second), "b/3", 1, false, nil); err != nil {
		t.Fatalf("cluster b cannot publish after cluster a closed: %v", err)
	}
	if proxy.Active() != 1 || proxy.Accepted() != 1 {
		t.Fatalf("after cluster a closed: %d open, %d accepted connections; want the first one kept", proxy.Active(), proxy.Accepted())
	}
	bb.Close()
	waitFor(t, 5*time.Second, "the shared connection closed with its last cluster", func() bool { return proxy.Active() == 0 })
}

func TestClustersShareOnlyWhenTheyAsk(t *testing.T) {
	skipUnderMQTT5(t)
	b := brokertest.Start(t)
	proxy := brokertest.StartProxy(t, b.Addr())
	startCluster(t, sharing("s1", proxy.URI()))
	own := fastConfig("own", proxy.URI()) // ShareConnections off
	startCluster(t, own)
	other := sharing("user", proxy.URI())
	other.Connection.Username = "someone-else" // other credentials: another session
	startCluster(t, other)
	startCluster(t, sharing("s2", proxy.URI()))
	waitFor(t, 5*time.Second, "three connections", func() bool { return proxy.Active() == 3 })
	if got := proxy.Accepted(); got != 3 {
		t.Fatalf("%d connections accepted; want 3 (s1+s2 shared, own, other user)", got)
	}
}

func TestSharedConnectionFailureReachesEveryCluster(t *testing.T) {
	skipUnderMQTT5(t)
	bs := brokertest.StartN(t, 2)
	proxy := brokertest.StartProxy(t, bs[0].Addr())
	var downs [2]collector
	var cs [2]*Cluster
	var got [2]collector
	for i, name := range []string{"x", "y"} {
		cfg := sharing(name, proxy.URI(), bs[1].URI())
		cfg.FlapLimit = -1
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetHandlers(Handlers{OnEndpointDown: func(ep string, err error) { downs[i].add(Message{Topic: ep}) }})
		if err := c.Connect(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe(ctxT(t, 5*time.Second), name+"/#", 1, got[i].add); err != nil {
			t.Fatal(err)
		}
		waitLive(t, c, 2)
		cs[i] = c
	}
	waitFor(t, 5*time.Second, "one proxied connection", func() bool { return proxy.Active() == 1 })

	proxy.SetMode(brokertest.Reset)
	for i, c := range cs {
		waitFor(t, 5*time.Second, c.Name()+" sees its endpoint down", func() bool {
			return slices.Contains(downs[i].topics(), c.Name()+"-1")
		})
	}
	proxy.SetMode(brokertest.Pass)
	for _, c := range cs {
		waitLive(t, c, 2)
	}
	waitFor(t, 5*time.Second, "one proxied connection again", func() bool { return proxy.Active() == 1 })

	// Both clusters' subscriptions are back on the revived connection.
	direct := startCluster(t, fastConfig("direct", bs[0].URI()))
	for i, c := range cs {
		got[i] = collector{}
		publishAll(t, direct, c.Name()+"/after")
	}
	for i, c := range cs {
		waitFor(t, 5*time.Second, c.Name()+" receives after the revival", func() bool {
			return slices.Contains(got[i].topics(), c.Name()+"/after")
		})
		for _, topic := range got[i].topics() {
			if topic != c.Name()+"/after" {
				t.Errorf("%s got %q", c.Name(), topic)
			}
		}
	}
}

func TestRetainedMessagesGoToTheNewSubscriber(t *testing.T) {
	old := retainedRouteWindow
	retainedRouteWindow = 300 * time.Millisecond
	t.Cleanup(func() { retainedRouteWindow = old })
	b := brokertest.Start(t)
	pub := startCluster(t, fastConfig("pub", b.URI()))
	if err := pub.Publish(ctxT(t, 5*time.Second), "cfg/r", 1, true, []byte("retained")); err != nil {
		t.Fatal(err)
	}
	a := startCluster(t, sharing("a", b.URI()))
	bb := startCluster(t, sharing("b", b.URI()))
	var gotA, gotB collector
	if err := a.Subscribe(ctxT(t, 5*time.Second), "cfg/#", 1, gotA.add); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "cluster a gets the retained message", func() bool { return gotA.count() == 1 })
	time.Sleep(2 * retainedRouteWindow) // let cluster a's subscription age past the window
	if err := bb.Subscribe(ctxT(t, 5*time.Second), "cfg/+", 1, gotB.add); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "cluster b gets the retained message", func() bool { return gotB.count() == 1 })
	if err := pub.Publish(ctxT(t, 5*time.Second), "cfg/end", 1, false, []byte("end")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the end marker", func() bool { return gotA.count() >= 2 && gotB.count() >= 2 })
	if want := []string{"cfg/r", "cfg/end"}; !slices.Equal(gotA.topics(), want) {
		t.Errorf("cluster a got %q, want %q (the retained message again because cluster b subscribed?)", gotA.topics(), want)
	}
	if m := gotB.all()[0]; !m.Retained || string(m.Payload) != "retained" {
		t.Errorf("cluster b's first message %+v; want the retained one", m)
	}
}

// padogrid's mqttv5-publisher-shared.yaml: publisher (1883-1885) and publisher1 (1883) share
// the connection to 1883; publisher2 turns the pool off and opens its own to 1884.
func TestPadogridSharedPublishersConfig(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	var proxies []*brokertest.Proxy
	for _, b := range bs {
		proxies = append(proxies, brokertest.StartProxy(t, b.Addr()))
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "padogrid", "mqttv5-publisher-shared.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(
		"tcp://localhost:1883-1885", proxies[0].URI()+","+proxies[1].URI()+","+proxies[2].URI(),
		"tcp://localhost:1883", proxies[0].URI(),
		"tcp://localhost:1884", proxies[1].URI(),
	).Replace(string(raw))
	fc, err := ParseConfig([]byte(text), "mqttv5-publisher-shared.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	r := startRegistry(t, fc)
	for _, name := range r.Names() {
		c, _ := r.Get(name)
		waitLive(t, c, len(c.Config().Endpoints))
	}
	want := []int{1, 2, 1}
	waitFor(t, 5*time.Second, "the connections padogrid's pool would open", func() bool {
		for i, p := range proxies {
			if p.Active() != want[i] {
				return false
			}
		}
		return true
	})
	for _, name := range r.Names() {
		c, _ := r.Get(name)
		if err := c.Publish(ctxT(t, 5*time.Second), "shared/"+name, 1, false, []byte(name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// skipUnderMQTT5 skips a test of connection sharing, which MQTT 5 clusters do not do (see
// Cluster.connect).
func skipUnderMQTT5(t *testing.T) {
	t.Helper()
	if testProtocol == MQTT5 {
		t.Skip("MQTT 5 clusters keep their own connections")
	}
}
