package core

// The tutorial archetypes of padogrid's bundle-mosquitto-tutorial-virtual-clusters, run
// against real Mosquitto brokers. Each test loads the archetype's YAML from
// testdata/padogrid/archetypes unchanged except for two text rewrites: the broker addresses
// (the tutorial's port ranges become an explicit list of the test's brokers, fewer than the
// tutorial's ten) and short probe delays and timeouts. Each asserts what the archetype table
// in ../shared/padogrid-configs/README.md says a user observes.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// brokerMap replaces one broker address of an archetype's YAML.
type brokerMap struct {
	from string   // a URI or a range exactly as the file writes it
	to   []string // the URIs of the test brokers standing in for it; none drops the lines naming it
}

var (
	archClusterLine    = regexp.MustCompile(`(?m)^(  )- name: .*$`) // a clusters[] item (top-level lists are indented by two)
	archConnectionLine = regexp.MustCompile(`(?m)^( *)- connection:[ \t]*$`)
)

// archetypeConfig loads mqttv5-archetype<n>.yaml with its brokers replaced by the test's and
// with timings short enough for tests. It loads in strict mode, so a rewrite that produced a
// key the loader does not know fails the test instead of being ignored.
func archetypeConfig(t *testing.T, n int, maps ...brokerMap) *FileConfig {
	t.Helper()
	path := filepath.Join("testdata", "padogrid", "archetypes", fmt.Sprintf("mqttv5-archetype%d.yaml", n))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	// Longest first, so that tcp://localhost:31001 does not clobber tcp://localhost:31001-31010.
	maps = slices.Clone(maps)
	sort.SliceStable(maps, func(i, j int) bool { return len(maps[i].from) > len(maps[j].from) })
	for _, m := range maps {
		if !strings.Contains(text, m.from) {
			t.Fatalf("%s does not name %s: the archetype changed, update the test", path, m.from)
		}
		if len(m.to) == 0 {
			var kept []string
			for _, line := range strings.SplitAfter(text, "\n") {
				if !strings.Contains(line, m.from) {
					kept = append(kept, line)
				}
			}
			text = strings.Join(kept, "")
			continue
		}
		text = strings.ReplaceAll(text, m.from, strings.Join(m.to, ","))
	}
	if strings.Contains(text, "localhost") {
		t.Fatalf("%s: a broker address was not rewritten:\n%s", path, text)
	}
	// Timings: padogrid's top-level probeDelay and per-cluster timeToWait, keepAliveInterval and
	// connectionTimeout, and hamqtt's per-cluster extensions.
	text = "probeDelay: 50\nmaxProbeDelay: 400\n" + text
	text = archClusterLine.ReplaceAllStringFunc(text, func(line string) string {
		ind := archClusterLine.FindStringSubmatch(line)[1] + "  "
		return line + "\n" + ind + "timeToWait: 5000\n" + ind + "ackTimeout: 2000\n" + ind + "warmUp: 0\n" + ind + "connectRate: 50"
	})
	text = archConnectionLine.ReplaceAllStringFunc(text, func(line string) string {
		ind := archConnectionLine.FindStringSubmatch(line)[1] + "    "
		return line + "\n" + ind + "keepAliveInterval: 2\n" + ind + "connectionTimeout: 2"
	})
	fc, err := ParseConfig([]byte(text), path+" (rewritten)", LoadOptions{Strict: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return fc
}

// startRegistry is one process of the tutorial (a vc_publish, vc_subscribe or vc_start): a
// Clusters registry over fc, connected, closed when the test ends.
func startRegistry(t *testing.T, fc *FileConfig) *Clusters {
	t.Helper()
	r, err := NewClusters(fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.ConnectAll(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if w := r.Warnings(); len(w) != 0 {
		t.Fatalf("registry warnings: %q", w)
	}
	return r
}

func getCluster(t *testing.T, r *Clusters, name string) *Cluster {
	t.Helper()
	c, err := r.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// endpointOf names the endpoint of c that connects to b.
func endpointOf(t *testing.T, c *Cluster, b *brokertest.Broker) string {
	t.Helper()
	for _, s := range c.Stats() {
		if s.URI == b.URI() {
			return s.Name
		}
	}
	t.Fatalf("cluster %s has no endpoint for %s", c.Name(), b.URI())
	return ""
}

// brokerOf is the test broker behind endpoint name of c.
func brokerOf(t *testing.T, c *Cluster, name string, bs []*brokertest.Broker) *brokertest.Broker {
	t.Helper()
	for _, s := range c.Stats() {
		if s.Name == name {
			for _, b := range bs {
				if b.URI() == s.URI {
					return b
				}
			}
		}
	}
	t.Fatalf("cluster %s: no broker behind endpoint %q", c.Name(), name)
	return nil
}

func statsOf(c *Cluster) map[string]EndpointStats {
	out := map[string]EndpointStats{}
	for _, s := range c.Stats() {
		out[s.Name] = s
	}
	return out
}

// liveShape reports the live endpoints of c and how many of them are subscribers.
func liveShape(c *Cluster) (live, subscribers int) {
	for _, s := range c.Stats() {
		if s.State == StateLive {
			live++
			if s.Subscriber {
				subscribers++
			}
		}
	}
	return
}

func payloadCounts(msgs []Message) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		out[string(m.Payload)]++
	}
	return out
}

func (k *counter) count(payload string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.seen[payload]
}

// expectExactly waits until got holds len(want)*times messages, waits a little longer for any
// extra one, and checks that every payload of want arrived exactly times times and nothing else.
func expectExactly(t *testing.T, what string, got *collector, want []string, times int) {
	t.Helper()
	n := len(want) * times
	waitFor(t, 10*time.Second, fmt.Sprintf("%d messages at %s", n, what), func() bool { return got.count() >= n })
	time.Sleep(300 * time.Millisecond) // asserting that no more arrive
	counts := payloadCounts(got.all())
	for _, p := range want {
		if counts[p] != times {
			t.Errorf("%s: %q delivered %d times, want %d", what, p, counts[p], times)
		}
		delete(counts, p)
	}
	if len(counts) != 0 {
		t.Errorf("%s: unexpected messages %v", what, counts)
	}
	if got.count() != n {
		t.Fatalf("%s: %d messages delivered, want %d", what, got.count(), n)
	}
}

// mosquittoPair starts two Mosquitto brokers bridged to each other by Mosquitto's own bridge
// (a "connection" section in the first one's configuration, topic # both ways), as padogrid's
// create_cluster -bridge does, and returns once the bridge carries messages both ways.
func mosquittoPair(t *testing.T) (a, b *brokertest.Broker) {
	t.Helper()
	b = brokertest.Start(t)
	a = brokertest.Start(t, brokertest.Options{ExtraConfig: fmt.Sprintf(
		"connection pair-%d\naddress %s\ntopic # both 1\ncleansession true\nrestart_timeout 1\n", b.Port(), b.Addr())})
	// Each checker listens only for what the other side publishes: a client's own publish
	// would come back to it without any bridge.
	ka := newCounter(t, a.URI(), "bridgecheck/to-a")
	kb := newCounter(t, b.URI(), "bridgecheck/to-b")
	i := 0
	waitFor(t, 10*time.Second, "the Mosquitto bridge "+a.Addr()+" <-> "+b.Addr(), func() bool {
		i++
		if ka.total() == 0 {
			kb.cli.Publish("bridgecheck/to-a", 0, false, fmt.Sprint(i))
		}
		if kb.total() == 0 {
			ka.cli.Publish("bridgecheck/to-b", 0, false, fmt.Sprint(i))
		}
		time.Sleep(40 * time.Millisecond)
		return ka.total() > 0 && kb.total() > 0
	})
	return a, b
}

// TestArchetype1FanOut: STICKY over many brokers. Each publisher run (a new process: a new
// registry) lands on one broker, different runs on different brokers; every subscriber of the
// virtual cluster gets each message exactly once.
func TestArchetype1FanOut(t *testing.T) {
	bs := brokertest.StartN(t, 4)
	fc := archetypeConfig(t, 1, brokerMap{"tcp://localhost:1883-1892", uris(bs)})
	if c := fc.Clusters[0]; c.Name != "edge" || c.PublisherType != Sticky || len(c.Endpoints) != 4 {
		t.Fatalf("archetype 1 loaded as %+v", c)
	}
	raw := make([]*counter, len(bs))
	for i, b := range bs {
		raw[i] = newCounter(t, b.URI(), "test/#")
	}
	const subscribers, runs, perRun = 3, 12, 2
	got := make([]*collector, subscribers)
	for i := range got {
		got[i] = &collector{}
		c := startRegistry(t, fc).Default()
		if err := c.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, got[i].add); err != nil {
			t.Fatal(err)
		}
		waitLive(t, c, len(bs)) // FoS 0: subscribed on every broker
	}

	var want []string
	used := map[string]bool{}
	for run := 0; run < runs; run++ {
		r := startRegistry(t, fc)
		pub := r.Default()
		waitFor(t, 10*time.Second, "the publisher connected to every broker", func() bool { return pub.LiveCount() == len(bs) })
		var payloads []string
		for m := 0; m < perRun; m++ {
			p := fmt.Sprintf("a1-run%d-msg%d", run, m)
			if err := pub.Publish(ctxT(t, 5*time.Second), "test/a1", 1, false, []byte(p)); err != nil {
				t.Fatal(err)
			}
			payloads = append(payloads, p)
		}
		want = append(want, payloads...)
		// The engine says one endpoint took both messages...
		var took []string
		for _, s := range pub.Stats() {
			if s.Acked > 0 {
				took = append(took, fmt.Sprintf("%s=%d", s.Name, s.Acked))
			}
		}
		if len(took) != 1 || !strings.HasSuffix(took[0], fmt.Sprintf("=%d", perRun)) {
			t.Fatalf("run %d: publishes acknowledged by %v, want all %d by one endpoint", run, took, perRun)
		}
		// ...and the brokers agree: exactly one of them saw this run's messages.
		var on []int
		waitFor(t, 5*time.Second, fmt.Sprintf("run %d's messages on a broker", run), func() bool {
			on = on[:0]
			for i, k := range raw {
				if k.count(payloads[0]) > 0 || k.count(payloads[perRun-1]) > 0 {
					on = append(on, i)
				}
			}
			return len(on) > 0 && raw[on[0]].count(payloads[perRun-1]) > 0
		})
		if len(on) != 1 {
			t.Fatalf("run %d landed on brokers %v, want exactly one", run, on)
		}
		if ep := strings.SplitN(took[0], "=", 2)[0]; ep != endpointOf(t, pub, bs[on[0]]) {
			t.Fatalf("run %d: the engine reports %s, the messages are on broker %d", run, ep, on[0])
		}
		used[bs[on[0]].Addr()] = true
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Each run shuffles: twelve runs all on one of four brokers has odds of 4^-11.
	if len(used) < 2 {
		t.Errorf("all %d publisher runs landed on the same broker %v: the sticky choice is not spread", runs, used)
	}
	for i, g := range got {
		expectExactly(t, fmt.Sprintf("subscriber %d", i), g, want, 1)
	}
}

// TestArchetype2FanIn: fos 3, ALL, subscriberCount 2. A publish reaches every broker; the
// subscriber has two subscriber endpoints but delivers each message once, from its sticky
// subscriber; stop that broker and the next message arrives through the other subscriber.
//
// "tutorial" is the tutorial's run on loopback. "startup-subscriber" is the same archetype with
// the subscriber's links 150ms long (a fault proxy in Delay mode in front of each broker) and
// its subscription made at start-up, before the cluster connected, as a drop-in paho program
// does: the second subscriber must then still be the one the next message arrives through.
func TestArchetype2FanIn(t *testing.T) {
	t.Run("tutorial", func(t *testing.T) { archetype2(t, false) })
	t.Run("startup-subscriber", func(t *testing.T) { archetype2(t, true) })
}

func archetype2(t *testing.T, slowLinks bool) {
	bs := brokertest.StartN(t, 4)
	fc := archetypeConfig(t, 2, brokerMap{"tcp://localhost:1883-1892", uris(bs)})
	if c := fc.Clusters[0]; c.FoS != 3 || c.PublisherType != All || c.SubscriberCount != 2 || c.PublishOnly {
		t.Fatalf("archetype 2 loaded as %+v", c)
	}
	raw := make([]*counter, len(bs))
	for i, b := range bs {
		raw[i] = newCounter(t, b.URI(), "test/#")
	}
	var sub *Cluster
	var got collector
	if !slowLinks {
		sub = startRegistry(t, fc).Default()
		if err := sub.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, got.add); err != nil {
			t.Fatal(err)
		}
	} else {
		// The publisher keeps direct links; the subscriber's go through the proxies.
		proxies := make([]*brokertest.Proxy, len(bs))
		proxyURIs := make([]string, len(bs))
		for i, b := range bs {
			proxies[i] = brokertest.StartProxy(t, b.Addr())
			proxies[i].SetDelay(150 * time.Millisecond)
			proxies[i].SetMode(brokertest.Delay)
			proxyURIs[i] = proxies[i].URI()
		}
		r, err := NewClusters(archetypeConfig(t, 2, brokerMap{"tcp://localhost:1883-1892", proxyURIs}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		sub = r.Default()
		// Subscribed before connecting: the subscription is registered and made on each
		// subscriber endpoint as it connects.
		if err := sub.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, got.add); err != nil {
			t.Fatalf("subscribing before connecting: %v", err)
		}
		if err := r.ConnectAll(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		// Endpoint i is broker i behind its proxy: the kill below finds the broker by index.
		for i, s := range sub.Stats() {
			if s.URI != proxies[i].URI() {
				t.Fatalf("subscriber endpoint %s is %s, want proxy %s", s.Name, s.URI, proxies[i].URI())
			}
		}
	}
	waitFor(t, 10*time.Second, "4 live endpoints, 2 of them subscribers", func() bool {
		live, subs := liveShape(sub)
		return live == len(bs) && subs == 2
	})
	sticky := sub.stickySub.Load()
	if sticky == nil {
		t.Fatal("no sticky subscriber")
	}
	stickyName := sticky.name

	pub := startRegistry(t, fc).Default()
	waitFor(t, 10*time.Second, "the publisher connected to every broker", func() bool { return pub.LiveCount() == len(bs) })
	var want []string
	want = append(want, publishSeries(t, pub, "test/a2", "a2-before", 5)...)
	// ALL: every broker acknowledged and got every message.
	for _, s := range pub.Stats() {
		if s.Acked != uint64(len(want)) {
			t.Errorf("publisher endpoint %s acknowledged %d messages, want %d", s.Name, s.Acked, len(want))
		}
	}
	for i, k := range raw {
		waitFor(t, 5*time.Second, fmt.Sprintf("broker %d got every message", i), func() bool { return k.total() == len(want) })
	}
	// The subscriber delivers each once, from the sticky subscriber only.
	expectExactly(t, "subscriber", &got, want, 1)
	for _, m := range got.all() {
		if m.Endpoint != stickyName {
			t.Fatalf("message %q delivered from %s, want the sticky subscriber %s", m.Payload, m.Endpoint, stickyName)
		}
	}
	// The other subscriber received the copies (and discarded them); non-subscribers got none.
	var other string
	for name, s := range statsOf(sub) {
		switch {
		case name == stickyName:
		case s.Subscriber:
			other = name
			waitFor(t, 5*time.Second, "the second subscriber's copies", func() bool { return statsOf(sub)[name].Received == uint64(len(want)) })
		case s.Received != 0:
			t.Errorf("non-subscriber endpoint %s received %d messages", name, s.Received)
		}
	}
	if other == "" {
		t.Fatal("no second subscriber")
	}

	// Stop the sticky subscriber's broker.
	order := func() string {
		var out []string
		for _, s := range sub.Stats() {
			if s.State == StateLive {
				out = append(out, fmt.Sprintf("%s(subscriber=%v, live since %s)", s.Name, s.Subscriber, s.LiveSince.Format("15:04:05.000")))
			}
		}
		return strings.Join(out, ", ")
	}
	before := order()
	if err := bs[slices.IndexFunc(sub.Stats(), func(s EndpointStats) bool { return s.Name == stickyName })].Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the subscriber to drop the stopped broker and replenish to 2 subscribers", func() bool {
		live, subs := liveShape(sub)
		return statsOf(sub)[stickyName].State != StateLive && live == len(bs)-1 && subs == 2
	})
	if cur := sub.stickySub.Load(); cur == nil || cur.name != other {
		name := "none"
		if cur != nil {
			name = cur.name
		}
		t.Errorf("after %s failed the sticky subscriber is %s, want the other subscriber %s, the one already subscribed "+
			"(live endpoints before the failure: %s)", stickyName, name, other, before)
	}
	if err := pub.Publish(ctxT(t, 5*time.Second), "test/a2", 1, false, []byte("a2-next")); err != nil {
		t.Fatal(err)
	}
	want = append(want, "a2-next")
	deadline := time.Now().Add(5 * time.Second)
	for got.count() < len(want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got.count() < len(want) {
		var rcv []string
		for _, s := range sub.Stats() {
			if s.State == StateLive {
				rcv = append(rcv, fmt.Sprintf("%s received %d (subscriber=%v)", s.Name, s.Received, s.Subscriber))
			}
		}
		t.Fatalf("the next message after the failure was lost: the subscriber never delivered it, although it reached a live subscriber endpoint (%s)",
			strings.Join(rcv, ", "))
	}
	expectExactly(t, "subscriber after the failure", &got, want, 1)
	if m := got.all()[len(want)-1]; m.Endpoint != other {
		t.Fatalf("the next message came from %s, want the other subscriber %s", m.Endpoint, other)
	}
}

// TestArchetype3TargetedEndpoints: defaultTopicBase test/ and the named endpoint special-node
// (topicBase test/special) in place of the third broker. Publishing by endpoint name or to an
// endpoint's topic base lands on that broker only; an unknown name, including the default name
// that special-node replaced, is a clear "not found" error.
func TestArchetype3TargetedEndpoints(t *testing.T) {
	bs := brokertest.StartN(t, 4)
	fc := archetypeConfig(t, 3,
		brokerMap{"tcp://localhost:1883-1892", uris(bs)},
		brokerMap{"tcp://localhost:1885", uris(bs[2:3])})
	raw := make([]*counter, len(bs))
	for i, b := range bs {
		raw[i] = newCounter(t, b.URI(), "test/#")
	}
	sub := startRegistry(t, fc).Default()
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, len(bs))

	pub := startRegistry(t, fc).Default()
	if pub.Name() != "archetype3" {
		t.Fatalf("default cluster %q", pub.Name())
	}
	waitFor(t, 10*time.Second, "every broker live", func() bool { return pub.LiveCount() == len(bs) })
	names := pub.LiveEndpoints()
	sort.Strings(names)
	if want := []string{"archetype3-1", "archetype3-2", "archetype3-4", "special-node"}; !slices.Equal(names, want) {
		t.Fatalf("endpoints %v, want %v", names, want)
	}
	if ep := endpointOf(t, pub, bs[2]); ep != "special-node" {
		t.Fatalf("the third broker is %s, want special-node", ep)
	}

	ctx := ctxT(t, 20*time.Second)
	cases := []struct {
		payload, endpoint, topic string // endpoint "" publishes through the cluster
		broker                   int
		via                      string // the endpoint the subscriber must report
	}{
		{"a3-by-name", "special-node", "test/by-name", 2, "special-node"},
		{"a3-by-topic-base", "", "test/special/temperature", 2, "special-node"},
		{"a3-by-default-topic-base", "", "test/archetype3-4/x", 3, "archetype3-4"},
		{"a3-by-default-name", "archetype3-1", "test/any", 0, "archetype3-1"},
	}
	var want []string
	for _, tc := range cases {
		var err error
		if tc.endpoint != "" {
			err = pub.PublishTo(ctx, tc.endpoint, tc.topic, 1, false, []byte(tc.payload))
		} else {
			err = pub.Publish(ctx, tc.topic, 1, false, []byte(tc.payload))
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.payload, err)
		}
		want = append(want, tc.payload)
	}
	for _, name := range []string{"archetype3-3", "no-such-node"} {
		err := pub.PublishTo(ctx, name, "test/lost", 1, false, []byte("a3-"+name))
		if !errors.Is(err, ErrEndpointNotFound) || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), name) {
			t.Fatalf("publishing to unknown endpoint %q: %v, want a \"not found\" error naming it", name, err)
		}
	}
	expectExactly(t, "subscriber", &got, want, 1)
	via := map[string]string{}
	for _, m := range got.all() {
		via[string(m.Payload)] = m.Endpoint
	}
	for _, tc := range cases {
		for i, k := range raw {
			n, wantN := k.count(tc.payload), 0
			if i == tc.broker {
				wantN = 1
			}
			if n != wantN {
				t.Errorf("%s: broker %d saw it %d times, want %d", tc.payload, i, n, wantN)
			}
		}
		if via[tc.payload] != tc.via {
			t.Errorf("%s: the subscriber got it through %s, want %s", tc.payload, via[tc.payload], tc.via)
		}
	}
	for i, wantN := range []int{1, 0, 2, 1} { // nothing else reached any broker
		if n := raw[i].total(); n != wantN {
			t.Errorf("broker %d saw %d messages in all, want %d", i, n, wantN)
		}
	}
}

// TestArchetype4IncomingBridge: edge bridges in to enterprise on test/#, wired by NewClusters
// from the YAML (a vc_start process). Messages a device publishes to edge brokers reach
// enterprise subscribers, once each; other topics are not forwarded.
func TestArchetype4IncomingBridge(t *testing.T) {
	edgeBs, entBs := brokertest.StartN(t, 2), brokertest.StartN(t, 2)
	fc := archetypeConfig(t, 4,
		brokerMap{"tcp://localhost:1883-1892", uris(edgeBs)},
		brokerMap{"tcp://localhost:32001-32010", uris(entBs)})
	if _, set, ok := fc.Cluster("edge"); !ok || len(set.Bridges.In) != 1 || set.Bridges.In[0].Cluster != "enterprise" ||
		!slices.Equal(set.Bridges.In[0].TopicFilters, []string{"test/#"}) || set.Bridges.In[0].QoS != 1 {
		t.Fatalf("edge's bridges: %+v", set.Bridges)
	}
	rawEnt := []*counter{newCounter(t, entBs[0].URI(), "#"), newCounter(t, entBs[1].URI(), "#")}

	r := startRegistry(t, fc)
	edge, ent := getCluster(t, r, "edge"), getCluster(t, r, "enterprise")
	var got, edgeApp collector
	edge.SetHandlers(Handlers{OnMessage: edgeApp.add})
	if err := ent.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	waitLive(t, ent, 2)
	waitLive(t, edge, 2) // live implies the bridge's subscription was replayed there

	// A device publishes straight to each edge broker.
	dev := startCluster(t, fastConfig("a4-device", uris(edgeBs)...))
	waitFor(t, 10*time.Second, "the device on both edge brokers", func() bool { return dev.LiveCount() == 2 })
	var want []string
	for _, ep := range []string{"a4-device-1", "a4-device-2"} {
		for i := 0; i < 3; i++ {
			p := fmt.Sprintf("a4-%s-%d", ep, i)
			if err := dev.PublishTo(ctxT(t, 5*time.Second), ep, "test/a4", 1, false, []byte(p)); err != nil {
				t.Fatal(err)
			}
			want = append(want, p)
		}
		if err := dev.PublishTo(ctxT(t, 5*time.Second), ep, "other/a4", 1, false, []byte("a4-not-bridged-"+ep)); err != nil {
			t.Fatal(err)
		}
	}
	expectExactly(t, "enterprise subscriber", &got, want, 1)
	for _, m := range got.all() {
		if m.Topic != "test/a4" {
			t.Fatalf("bridged %+v", m)
		}
	}
	// The bridge published each message once into enterprise (one broker of it), nothing else.
	if n := rawEnt[0].total() + rawEnt[1].total(); n != len(want) {
		t.Fatalf("enterprise brokers saw %d messages, want %d", n, len(want))
	}
	if edgeApp.count() != 0 {
		t.Fatalf("edge's application received the bridge's messages: %+v", edgeApp.all())
	}
}

// TestArchetype5OutgoingBridge: edge bridges out to enterprise on test/#. One publish through
// edge reaches both edge and enterprise subscribers; other topics stay on edge.
func TestArchetype5OutgoingBridge(t *testing.T) {
	edgeBs, entBs := brokertest.StartN(t, 2), brokertest.StartN(t, 2)
	fc := archetypeConfig(t, 5,
		brokerMap{"tcp://localhost:1883-1892", uris(edgeBs)},
		brokerMap{"tcp://localhost:32001-32010", uris(entBs)})
	if _, set, ok := fc.Cluster("edge"); !ok || len(set.Bridges.Out) != 1 || set.Bridges.Out[0].Cluster != "enterprise" || set.Bridges.Out[0].QoS != 2 {
		t.Fatalf("edge's bridges: %+v", set.Bridges)
	}
	rawEnt := []*counter{newCounter(t, entBs[0].URI(), "#"), newCounter(t, entBs[1].URI(), "#")}

	// Subscribers: a vc_subscribe on each cluster (its out-bridge never fires: it publishes nothing).
	subs := startRegistry(t, fc)
	var onEdge, onEnt collector
	for _, s := range []struct {
		cluster string
		got     *collector
	}{{"edge", &onEdge}, {"enterprise", &onEnt}} {
		c := getCluster(t, subs, s.cluster)
		if err := c.Subscribe(ctxT(t, 5*time.Second), "#", 1, s.got.add); err != nil {
			t.Fatal(err)
		}
		waitLive(t, c, 2)
	}

	pub := startRegistry(t, fc).Default()
	if pub.Name() != "edge" {
		t.Fatalf("default cluster %q", pub.Name())
	}
	var want []string
	want = append(want, publishSeries(t, pub, "test/a5", "a5", 5)...)
	if err := pub.Publish(ctxT(t, 5*time.Second), "other/a5", 1, false, []byte("a5-edge-only")); err != nil {
		t.Fatal(err)
	}
	expectExactly(t, "enterprise subscriber", &onEnt, want, 1)
	expectExactly(t, "edge subscriber", &onEdge, append(slices.Clone(want), "a5-edge-only"), 1)
	if n := rawEnt[0].total() + rawEnt[1].total(); n != len(want) {
		t.Fatalf("enterprise brokers saw %d messages, want %d", n, len(want))
	}
}

// TestArchetype6StickyOverBridgedPair: fos 2 over two Mosquitto brokers bridged to each
// other. Every message reaches both subscriber endpoints (through the Mosquitto bridge) and is
// delivered once; kill the sticky broker and delivery continues through the other, with
// nothing lost and nothing doubled.
func TestArchetype6StickyOverBridgedPair(t *testing.T) {
	a, b := mosquittoPair(t)
	bs := []*brokertest.Broker{a, b}
	fc := archetypeConfig(t, 6, brokerMap{"tcp://localhost:31001-31002", uris(bs)})
	if c := fc.Clusters[0]; c.Name != "sticky" || c.FoS != 2 || len(c.Endpoints) != 2 {
		t.Fatalf("archetype 6 loaded as %+v", c)
	}
	raw := []*counter{newCounter(t, a.URI(), "test/#"), newCounter(t, b.URI(), "test/#")}
	sub := startRegistry(t, fc).Default()
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, 2) // fos 2: two connections, both subscribed
	pub := startRegistry(t, fc).Default()

	var want []string
	publish := func(prefix string, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			p := fmt.Sprintf("a6-%s-%d", prefix, i)
			if err := pub.Publish(ctxT(t, 10*time.Second), "test/a6", 1, false, []byte(p)); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			want = append(want, p)
		}
	}
	publish("before", 10)
	expectExactly(t, "subscriber", &got, want, 1)
	// Both brokers carried every message to the subscriber: the single delivery is the
	// client's doing, not the absence of copies.
	for i, k := range raw {
		waitFor(t, 5*time.Second, fmt.Sprintf("broker %d (a plain client on it) got every message", i), func() bool { return k.total() >= len(want) })
	}
	for _, ep := range []string{"sticky-1", "sticky-2"} {
		waitFor(t, 5*time.Second, ep+" received every copy", func() bool { return statsOf(sub)[ep].Received >= uint64(len(want)) })
	}
	if st := statsOf(sub); st["sticky-1"].Received != uint64(len(want)) || st["sticky-2"].Received != uint64(len(want)) || raw[0].total() != len(want) || raw[1].total() != len(want) {
		t.Fatalf("each broker must carry each message once through the pair; the subscriber's endpoints received %d and %d, plain clients on the brokers %d and %d",
			st["sticky-1"].Received, st["sticky-2"].Received, raw[0].total(), raw[1].total())
	}

	cur := sub.stickySub.Load()
	if cur == nil {
		t.Fatal("no sticky subscriber")
	}
	stickyName := cur.name
	victim := brokerOf(t, sub, stickyName, bs)
	survivor := "sticky-1"
	if stickyName == survivor {
		survivor = "sticky-2"
	}
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	// No waiting for the client to notice: FoS 2's failover is immediate.
	publish("after", 10)
	expectExactly(t, "subscriber after the failure", &got, want, 1)
	for _, m := range got.all() {
		if strings.HasPrefix(string(m.Payload), "a6-after-") && m.Endpoint != survivor {
			t.Errorf("%q delivered from %s after %s died, want %s", m.Payload, m.Endpoint, stickyName, survivor)
		}
	}
	waitFor(t, 10*time.Second, "the subscriber on the survivor only", func() bool {
		live := sub.LiveEndpoints()
		return len(live) == 1 && live[0] == survivor
	})
	if cur := sub.stickySub.Load(); cur == nil || cur.name != survivor {
		t.Fatalf("sticky subscriber %v, want %s", cur, survivor)
	}
}

// TestArchetype7ManyBridgedPairs: a publish-only ROUND_ROBIN cluster over bridged pairs and a
// subscriber cluster on the odd broker of each pair. The publisher spreads messages evenly and
// refuses subscriptions; the subscriber gets every message once, those published to an even
// broker through its pair's Mosquitto bridge.
func TestArchetype7ManyBridgedPairs(t *testing.T) {
	const pairs = 3
	var all, odd []*brokertest.Broker
	partner := map[string]*brokertest.Broker{} // broker URI -> the odd broker of its pair
	for i := 0; i < pairs; i++ {
		a, b := mosquittoPair(t)
		all, odd = append(all, a, b), append(odd, a)
		partner[a.URI()], partner[b.URI()] = a, a
	}
	fc := archetypeConfig(t, 7,
		brokerMap{"tcp://localhost:31001-31010", uris(all)},
		brokerMap{"tcp://localhost:31001", uris(odd[0:1])},
		brokerMap{"tcp://localhost:31003", uris(odd[1:2])},
		brokerMap{"tcp://localhost:31005", uris(odd[2:3])},
		brokerMap{"tcp://localhost:31007", nil},
		brokerMap{"tcp://localhost:31009", nil})
	pc, _, _ := fc.Cluster("publisher")
	if pc.FoS != 3 || pc.PublisherType != RoundRobin || !pc.PublishOnly || len(pc.Endpoints) != len(all) {
		t.Fatalf("publisher loaded as %+v", pc)
	}
	if sc, _, _ := fc.Cluster("subscriber"); len(sc.Endpoints) != pairs {
		t.Fatalf("subscriber loaded as %+v", sc)
	}

	sub := startRegistry(t, fc).Default()
	if sub.Name() != "subscriber" {
		t.Fatalf("default cluster %q", sub.Name())
	}
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, pairs)

	pub := getCluster(t, startRegistry(t, fc), "publisher")
	err := pub.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, nil)
	if !errors.Is(err, ErrPublishOnly) || !strings.Contains(err.Error(), "publish-only") {
		t.Fatalf("subscribing on the publish-only cluster: %v, want a publish-only error", err)
	}
	waitFor(t, 10*time.Second, "the publisher on every broker", func() bool { return pub.LiveCount() == len(all) })
	var mu sync.Mutex
	took := map[string]string{} // payload -> the publisher endpoint that took it
	if err := pub.AddHooks(Hooks{AfterPublish: func(_ string, p []byte, eps []string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil && len(eps) == 1 {
			took[string(p)] = eps[0]
		}
	}}); err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, publishSeries(t, pub, "test/a7", "a7", 4*len(all))...)
	for _, s := range pub.Stats() {
		if s.Acked != 4 {
			t.Errorf("round robin: %s took %d messages, want 4 (all: %+v)", s.Name, s.Acked, pub.Stats())
		}
	}
	expectExactly(t, "subscriber", &got, want, 1)
	mu.Lock()
	defer mu.Unlock()
	for _, m := range got.all() {
		ep, ok := took[string(m.Payload)]
		if !ok {
			t.Fatalf("no publisher endpoint recorded for %q", m.Payload)
		}
		wantVia := endpointOf(t, sub, partner[brokerOf(t, pub, ep, all).URI()])
		if m.Endpoint != wantVia {
			t.Errorf("%q was published to %s and delivered from %s, want %s (its pair's odd broker)", m.Payload, ep, m.Endpoint, wantVia)
		}
	}
}

// TestArchetype8Butterfly: ALL over many brokers, fos 0. A subscriber on the cluster receives
// one copy of each message per broker.
func TestArchetype8Butterfly(t *testing.T) {
	bs := brokertest.StartN(t, 4)
	fc := archetypeConfig(t, 8, brokerMap{"tcp://localhost:1883-1892", uris(bs)})
	if c := fc.Clusters[0]; c.PublisherType != All || c.FoS != 0 || c.Dedup {
		t.Fatalf("archetype 8 loaded as %+v", c)
	}
	sub := startRegistry(t, fc).Default()
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "test/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, len(bs))
	pub := startRegistry(t, fc).Default()
	waitFor(t, 10*time.Second, "the publisher on every broker", func() bool { return pub.LiveCount() == len(bs) })
	var want []string
	want = append(want, publishSeries(t, pub, "test/a8", "a8", 3)...)
	expectExactly(t, "subscriber", &got, want, len(bs))
	from := map[string]map[string]bool{}
	for _, m := range got.all() {
		if from[string(m.Payload)] == nil {
			from[string(m.Payload)] = map[string]bool{}
		}
		from[string(m.Payload)][m.Endpoint] = true
	}
	for _, p := range want {
		if len(from[p]) != len(bs) {
			t.Errorf("%q came through %v, want one copy from each of the %d brokers", p, from[p], len(bs))
		}
	}
}
