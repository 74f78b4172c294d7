package core

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

type chaosResult struct {
	sent, acked, received, lost, duplicates, kills int
}

// chaosMessages is the length of each chaos stream; HAMQTT_CHAOS_MESSAGES overrides it.
func chaosMessages() int {
	if n, err := strconv.Atoi(os.Getenv("HAMQTT_CHAOS_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 4000
}

// runChaos streams n QoS 1 messages from an HA publisher to an HA subscriber over three
// brokers, both with the default configuration (safeguards on), while brokers are SIGKILLed
// every 0.5-2 s and restarted 0.2-1.5 s later, one at a time, half the kills on the broker hit
// last. The killer never waits for the clients to come back. A message is lost when the
// publisher saw it acknowledged and the subscribing application never received it.
func runChaos(t *testing.T, typ PublisherType, quorum int, dedup bool, n int) chaosResult {
	rng := seededRand(t)
	bs := brokertest.StartN(t, 3)
	topic := fmt.Sprintf("chaos/%v", typ)

	subCfg := defaultConfig("sub", bs)
	subCfg.Dedup = dedup
	sub := startCluster(t, subCfg)
	var mu sync.Mutex
	got := make([]int, n)
	if err := sub.Subscribe(ctxT(t, 5*time.Second), topic, 1, func(m Message) {
		seq, err := strconv.Atoi(string(m.Payload))
		if err != nil || seq < 0 || seq >= n {
			t.Errorf("bad payload %q", m.Payload)
			return
		}
		mu.Lock()
		got[seq]++
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, 3)

	pubCfg := defaultConfig("pub", bs)
	pubCfg.PublisherType = typ
	pubCfg.AckQuorum = quorum
	pub := startCluster(t, pubCfg)
	waitLive(t, pub, 3)

	var res chaosResult
	ctx, stopKiller := context.WithCancel(context.Background())
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		last := bs[rng.IntN(len(bs))]
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(500+rng.IntN(1500)) * time.Millisecond):
			}
			b := last
			if rng.IntN(2) == 0 {
				b = bs[rng.IntN(len(bs))]
			}
			last = b
			if err := b.Kill(); err != nil {
				t.Errorf("kill: %v", err)
				return
			}
			res.kills++
			time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
			if err := b.Restart(); err != nil {
				t.Errorf("restart: %v", err)
				return
			}
		}
	}()

	// Paced so the stream spans several kills: about n/400 seconds.
	acked := make([]bool, n)
	window := make(chan struct{}, 64)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		if due := start.Add(time.Duration(i) * time.Second / 400); time.Until(due) > 0 {
			time.Sleep(time.Until(due))
		}
		window <- struct{}{}
		tok := pub.PublishAsync(topic, 1, false, []byte(strconv.Itoa(i)))
		res.sent++
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-window }()
			if tok.Err() == nil {
				acked[i] = true
			}
		}(i)
	}
	wg.Wait()
	stopKiller()
	<-killerDone
	for _, a := range acked {
		if a {
			res.acked++
		}
	}
	// Drain: wait until every acknowledged message arrived, or nothing new came for 3s.
	last, lastChange := -1, time.Now()
	for time.Since(lastChange) < 3*time.Second {
		mu.Lock()
		missing, total := 0, 0
		for i, k := range got {
			total += k
			if acked[i] && k == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if total != last {
			last, lastChange = total, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, k := range got {
		res.received += k
		if k > 1 {
			res.duplicates += k - 1
		}
		if acked[i] && k == 0 {
			res.lost++
		}
	}
	t.Logf("chaos publisher=%v ackQuorum=%d subscriber dedup=%v: sent=%d acked=%d received=%d lost=%d duplicates=%d kills=%d",
		typ, quorum, dedup, res.sent, res.acked, res.received, res.lost, res.duplicates, res.kills)
	return res
}

// TestChaos asserts the first promise under churn, for each publisher type with the default
// configuration and for the recommended no-loss one (All with a quorum of 2, de-duplicating
// subscriber): no acknowledged message is lost, and the no-loss configuration delivers no
// duplicate.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos runs take a while")
	}
	n := chaosMessages()
	for _, tc := range []struct {
		typ    PublisherType
		quorum int
		dedup  bool
	}{{Sticky, 0, false}, {RoundRobin, 0, false}, {All, 2, true}} {
		t.Run(fmt.Sprintf("%v/quorum=%d/dedup=%v", tc.typ, tc.quorum, tc.dedup), func(t *testing.T) {
			res := runChaos(t, tc.typ, tc.quorum, tc.dedup, n)
			if res.kills == 0 {
				t.Fatal("no broker was killed during the stream")
			}
			if res.lost != 0 {
				t.Errorf("%d acknowledged messages lost", res.lost)
			}
			if res.acked < n*9/10 {
				t.Errorf("only %d of %d publishes were acknowledged", res.acked, n)
			}
			if tc.dedup && res.duplicates != 0 {
				t.Errorf("no-loss configuration: %d duplicates, want 0", res.duplicates)
			}
		})
	}
}
