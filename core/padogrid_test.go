package core

// The tests of this file pin each place where hamqtt knowingly differs from padogrid's
// HaMqttClient (docs/padogrid.md, "Differences from padogrid"), so that a change of mind is a
// change of these tests and of that page together.

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// TestPadogridDifferenceFoS2Deduplicates: with fos 2 padogrid delivers only what the sticky
// subscriber receives and discards the other subscriber's copies, so what reaches the other
// broker while the sticky one is failing is lost. hamqtt delivers from both subscribers
// through the de-duplicator: a message present on only one of the two brokers is delivered
// whichever it is, and a message present on both is delivered once.
func TestPadogridDifferenceFoS2Deduplicates(t *testing.T) {
	bs := brokertest.StartN(t, 2)
	cfg := fastConfig("fos2", uris(bs)...)
	cfg.FoS = 2
	c := startCluster(t, cfg)
	var got collector
	if err := c.Subscribe(ctxT(t, 5*time.Second), "fos2/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "two subscribers", func() bool {
		n := 0
		for _, s := range c.Stats() {
			if s.Subscriber {
				n++
			}
		}
		return n == 2
	})
	direct := make([]*Cluster, 2)
	for i, b := range bs {
		direct[i] = startCluster(t, fastConfig(fmt.Sprintf("direct%d", i), b.URI()))
	}
	// On one broker only, each broker in turn: both delivered (padogrid: only the sticky one's).
	for i := range bs {
		if err := direct[i].Publish(ctxT(t, 5*time.Second), "fos2/only", 1, false, []byte(fmt.Sprint("only-", i))); err != nil {
			t.Fatal(err)
		}
	}
	// The same message on both brokers (an ALL publisher, bridged brokers): delivered once.
	for i := range bs {
		if err := direct[i].Publish(ctxT(t, 5*time.Second), "fos2/both", 1, false, []byte("both")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "3 deliveries", func() bool { return got.count() >= 3 })
	time.Sleep(200 * time.Millisecond) // and no fourth
	seen := map[string]int{}
	for _, m := range got.all() {
		seen[string(m.Payload)]++
	}
	if len(got.all()) != 3 || seen["only-0"] != 1 || seen["only-1"] != 1 || seen["both"] != 1 {
		t.Fatalf("fos 2 delivered %v, want only-0, only-1 and both once each", seen)
	}
}

// TestPadogridDifferenceTopicBaseBeforeAll: padogrid's ALL publisher sends every message to
// every broker and never looks at topic bases. In hamqtt a topic under an endpoint's topic
// base goes to that endpoint only, whatever the publisher type; other topics follow ALL.
func TestPadogridDifferenceTopicBaseBeforeAll(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	ks := make([]*counter, 3)
	for i, b := range bs {
		ks[i] = newCounter(t, b.URI(), "tb/#")
	}
	cfg := fastConfig("tball", uris(bs)...)
	cfg.PublisherType = All
	cfg.Endpoints[1].Name, cfg.Endpoints[1].TopicBase = "special", "tb/special/"
	c := startCluster(t, cfg)
	waitLive(t, c, 3)
	if err := c.Publish(ctxT(t, 5*time.Second), "tb/special/x", 1, false, []byte("routed")); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctxT(t, 5*time.Second), "tb/other", 1, false, []byte("everywhere")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "4 copies", func() bool { return ks[0].total()+ks[1].total()+ks[2].total() >= 4 })
	time.Sleep(200 * time.Millisecond) // and no fifth
	for i, k := range ks {
		k.mu.Lock()
		routed, everywhere := k.seen["routed"], k.seen["everywhere"]
		k.mu.Unlock()
		wantRouted := 0
		if i == 1 {
			wantRouted = 1
		}
		if routed != wantRouted || everywhere != 1 {
			t.Errorf("broker %d: routed %d (want %d), everywhere %d (want 1)", i, routed, wantRouted, everywhere)
		}
	}
	// A padogrid file that combines the two is told about the difference when it loads.
	fc, err := ParseConfig([]byte(`clusters:
  - name: mixed
    publisherType: ALL
    defaultTopicBase: test/
    connections:
      - connection:
          serverURIs: [tcp://127.0.0.1:1883-1885]
`), "mixed.yaml", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(fc.Warnings, "\n"); !strings.Contains(w, "topic bases") || !strings.Contains(w, "padogrid") {
		t.Errorf("want a warning about ALL with topic bases, got %q", w)
	}
}

// TestPadogridDifferenceStickyPerCluster: padogrid's STICKY choice is per thread, so a
// multi-threaded publisher spreads over brokers. hamqtt's is one per cluster: every
// goroutine's publishes go to the same broker, in one order.
func TestPadogridDifferenceStickyPerCluster(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	ks := make([]*counter, 3)
	for i, b := range bs {
		ks[i] = newCounter(t, b.URI(), "sticky/#")
	}
	c := startCluster(t, fastConfig("stickyc", uris(bs)...))
	waitLive(t, c, 3)
	const goroutines, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := c.Publish(ctxT(t, 5*time.Second), "sticky/x", 1, false, []byte(fmt.Sprint(g, "-", i))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "every copy counted", func() bool {
		return ks[0].total()+ks[1].total()+ks[2].total() >= goroutines*each
	})
	per := []int{ks[0].total(), ks[1].total(), ks[2].total()}
	if max(per[0], per[1], per[2]) != goroutines*each {
		t.Fatalf("%d goroutines' publishes spread over brokers %v: STICKY is one broker per cluster", goroutines, per)
	}
}
