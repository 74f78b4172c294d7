package core

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// TestFoSLevels checks the connection and subscriber counts padogrid's FoS levels imply, and
// which endpoints deliver.
func TestFoSLevels(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	for _, tc := range []struct {
		fos, live, subscribers int
	}{{0, 3, 3}, {1, 2, 1}, {2, 2, 2}} {
		t.Run(fmt.Sprintf("fos%d", tc.fos), func(t *testing.T) {
			cfg := fastConfig(fmt.Sprintf("fos%d", tc.fos), uris(bs)...)
			cfg.FoS = tc.fos
			c := startCluster(t, cfg)
			var got collector
			if err := c.Subscribe(ctxT(t, 5*time.Second), "fos/#", 1, got.add); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the FoS shape", func() bool {
				live, subs := 0, 0
				for _, s := range c.Stats() {
					if s.State == StateLive {
						live++
						if s.Subscriber {
							subs++
						}
					}
				}
				return live == tc.live && subs == tc.subscribers
			})
			// One message on every broker: FoS 0 delivers all three; FoS 1 only the sticky
			// subscriber's; FoS 2 the two subscribers' copies... which are different messages
			// here, so both arrive.
			for i, b := range bs {
				direct := startCluster(t, fastConfig(fmt.Sprintf("d%d", i), b.URI()))
				if err := direct.Publish(ctxT(t, 5*time.Second), "fos/x", 1, false, []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			want := map[int]int{0: 3, 1: 1, 2: 2}[tc.fos]
			waitFor(t, 5*time.Second, fmt.Sprintf("%d deliveries", want), func() bool { return got.count() >= want })
			time.Sleep(200 * time.Millisecond) // and no more
			if got.count() != want {
				t.Fatalf("fos %d delivered %d messages, want %d: %+v", tc.fos, got.count(), want, got.all())
			}
		})
	}
}

func TestPublishOnlyClusterRefusesSubscriptions(t *testing.T) {
	b := brokertest.Start(t)
	cfg := fastConfig("pubonly", b.URI())
	cfg.FoS = 3
	cfg.PublishOnly = true
	c := startCluster(t, cfg)
	err := c.Subscribe(ctxT(t, time.Second), "x", 0, nil)
	if err == nil || !strings.Contains(err.Error(), "publish-only") {
		t.Fatalf("want a publish-only error, got %v", err)
	}
	if err := c.Publish(ctxT(t, 5*time.Second), "x", 1, false, nil); err != nil {
		t.Fatal(err)
	}
}

func TestInitialEndpointCount(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	cfg := fastConfig("init", uris(bs)...)
	cfg.InitialEndpointCount = 1
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	var connects uint64
	for _, s := range c.Stats() {
		connects += s.Connects
	}
	if connects != 1 {
		t.Fatalf("first probe made %d connection attempts, want 1", connects)
	}
	waitFor(t, 5*time.Second, "the rest connected later", func() bool { return c.LiveCount() == 3 })
}
