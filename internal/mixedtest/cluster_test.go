package mixedtest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/core"
	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// maxQoS is the highest QoS each implementation delivers and grants: RabbitMQ's MQTT plugin
// has no QoS 2 and downgrades it to QoS 1 (see docs/brokers.md).
var maxQoS = map[brokertest.Kind]byte{brokertest.Mosquitto: 2, brokertest.RabbitMQ: 1, brokertest.Aedes: 2}

// TestMixedPubSub publishes at QoS 0, 1 and 2 through each broker of a Mosquitto + RabbitMQ +
// aedes cluster (PublishTo) and through the cluster's default Sticky choice (Publish), with
// every setting at its default, and checks that a subscriber on all three receives each
// message once, through the broker it was published to, at the QoS that broker supports.
func TestMixedPubSub(t *testing.T) {
	servers := mixedBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub := connect(t, defaultConfig(servers))
	pub := connect(t, defaultConfig(servers))
	for qos := byte(0); qos <= 2; qos++ {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			base := fmt.Sprintf("mixed/pubsub/%d/q%d", time.Now().UnixNano(), qos)
			in := &inbox{}
			granted, err := sub.SubscribeGranted(ctx, map[string]byte{base + "/#": qos}, in.handler)
			if err != nil {
				t.Fatal(err)
			}
			// The cluster reports the lowest QoS any broker granted.
			if want := min(qos, maxQoS[brokertest.RabbitMQ]); granted[base+"/#"] != want {
				t.Errorf("granted QoS %d, want %d", granted[base+"/#"], want)
			}
			const n = 25                         // more than the 19 QoS 2 publishes a connection may have in flight
			want := map[string]brokertest.Kind{} // topic -> the broker it goes through
			for _, s := range servers {
				for i := range n {
					topic := fmt.Sprintf("%s/%s/%d", base, s.Kind(), i)
					if err := pub.PublishTo(ctx, string(s.Kind()), topic, qos, false, []byte(topic)); err != nil {
						t.Fatalf("PublishTo %s at QoS %d: %v", s.Kind(), qos, err)
					}
					want[topic] = s.Kind()
				}
			}
			for i := range n {
				if err := pub.Publish(ctx, fmt.Sprintf("%s/sticky/%d", base, i), qos, false, []byte("sticky")); err != nil {
					t.Fatalf("Publish at QoS %d: %v", qos, err)
				}
			}
			total := len(want) + n
			waitFor(t, 10*time.Second, fmt.Sprintf("%d messages", total), func() bool { return len(in.snapshot()) >= total })
			time.Sleep(200 * time.Millisecond) // copies beyond one would show up now
			got := map[string]int{}
			stickyVia := map[string]int{}
			for _, m := range in.snapshot() {
				got[m.Topic]++
				kind, ok := want[m.Topic]
				if !ok {
					stickyVia[m.Endpoint]++
					kind = brokertest.Kind(m.Endpoint)
				} else if m.Endpoint != string(kind) {
					t.Errorf("%s arrived through %s, published to %s", m.Topic, m.Endpoint, kind)
				}
				if wq := min(qos, maxQoS[kind]); m.QoS != wq {
					t.Errorf("%s through %s: QoS %d, want %d", m.Topic, m.Endpoint, m.QoS, wq)
				}
			}
			for topic := range want {
				if got[topic] != 1 {
					t.Errorf("%s received %d times, want once", topic, got[topic])
				}
			}
			if len(got) != total || len(stickyVia) != 1 {
				t.Errorf("%d distinct topics (want %d); the sticky stream went through %v (want one broker)", len(got), total, stickyVia)
			}
			t.Logf("QoS %d: %d messages, granted %d; sticky publisher used %v", qos, total, granted[base+"/#"], stickyVia)
		})
	}
}

// TestMixedFailover streams QoS 1 messages through a default (Sticky) publisher to a default
// subscriber, both on the mixed cluster, and SIGKILLs the broker the stream goes through until
// each kind has been killed once: the stream must move to another broker, the killed one must
// come back (restarted on its port) with the subscriber's subscription replayed on it, and no
// acknowledged message may be lost.
func TestMixedFailover(t *testing.T) {
	servers := mixedBrokers(t)
	byKind := map[brokertest.Kind]brokertest.Server{}
	for _, s := range servers {
		byKind[s.Kind()] = s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := fmt.Sprintf("mixed/failover/%d", time.Now().UnixNano())
	sub := connect(t, defaultConfig(servers))
	in := &inbox{}
	if err := sub.Subscribe(ctx, base+"/#", 1, in.handler); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, defaultConfig(servers))

	// The stream: blocking QoS 1 publishes, one every 5 ms.
	var (
		mu    sync.Mutex
		acked []int
		fails []error
	)
	stop := make(chan struct{})
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		for seq := 0; ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			err := pub.Publish(ctx, base+"/stream", 1, false, []byte(strconv.Itoa(seq)))
			mu.Lock()
			if err != nil {
				fails = append(fails, err)
			} else {
				acked = append(acked, seq)
			}
			mu.Unlock()
		}
	}()
	progress := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitProgress := func(n int, what string) {
		from := progress()
		waitFor(t, 20*time.Second, what, func() bool { return progress() >= from+n })
	}

	killed := map[brokertest.Kind]bool{}
	for round := 0; len(killed) < len(servers) && round < 2*len(servers); round++ {
		waitProgress(40, "the stream to flow")
		victim := carrier(t, pub)
		s := byKind[victim]
		killedAt := time.Now()
		if err := s.Kill(); err != nil {
			t.Fatal(err)
		}
		killed[victim] = true
		waitProgress(40, fmt.Sprintf("the stream to go on without %s", victim))
		next := carrier(t, pub)
		t.Logf("round %d: SIGKILLed %s, the stream moved to %s within %v", round+1, victim, next, time.Since(killedAt).Round(time.Millisecond))
		if next == victim {
			t.Fatalf("the stream still goes through %s after its SIGKILL", victim)
		}

		start := time.Now()
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		restarted := time.Now()
		for _, c := range []*core.Cluster{sub, pub} {
			waitFor(t, 15*time.Second, fmt.Sprintf("%s live again in %s", victim, c.Name()), func() bool {
				return slices.Contains(c.LiveEndpoints(), string(victim))
			})
		}
		// The subscription was replayed on the revived broker: a message published there alone
		// arrives through it.
		probeTopic := fmt.Sprintf("%s/revived/%s/%d", base, victim, round)
		waitFor(t, 10*time.Second, fmt.Sprintf("a message through the revived %s", victim), func() bool {
			if err := pub.PublishTo(ctx, string(victim), probeTopic, 1, false, []byte("back")); err != nil {
				return false
			}
			deadline := time.Now().Add(500 * time.Millisecond)
			for time.Now().Before(deadline) {
				if in.count(func(m core.Message) bool { return m.Topic == probeTopic && m.Endpoint == string(victim) }) > 0 {
					return true
				}
				time.Sleep(10 * time.Millisecond)
			}
			return false
		})
		t.Logf("round %d: %s restarted in %v; subscriptions back on it %v later", round+1, victim,
			restarted.Sub(start).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	}
	close(stop)
	<-streamDone
	if len(killed) != len(servers) {
		t.Errorf("killed %v: the stream never went through every kind", killed)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(fails) > 0 {
		t.Errorf("%d publishes failed, first: %v", len(fails), fails[0])
	}
	received := func() map[int]int {
		got := map[int]int{}
		for _, m := range in.snapshot() {
			if m.Topic == base+"/stream" {
				seq, _ := strconv.Atoi(string(m.Payload))
				got[seq]++
			}
		}
		return got
	}
	var lost []int
	waitFor(t, 10*time.Second, "every acknowledged message", func() bool {
		got := received()
		lost = lost[:0]
		for _, seq := range acked {
			if got[seq] == 0 {
				lost = append(lost, seq)
			}
		}
		return len(lost) == 0
	})
	dups := 0
	for _, n := range received() {
		dups += n - 1
	}
	t.Logf("%d acknowledged, 0 lost, %d duplicates", len(acked), dups)
}

// carrier returns the kind of the broker a Sticky publisher's stream goes through now: the
// endpoint whose publish count grows.
func carrier(t *testing.T, c *core.Cluster) brokertest.Kind {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		before := c.Stats()
		time.Sleep(150 * time.Millisecond)
		after := c.Stats()
		best, most := "", uint64(0)
		for i, s := range after {
			if d := s.Acked - before[i].Acked; d > most {
				best, most = s.Name, d
			}
		}
		if best != "" {
			return brokertest.Kind(best)
		}
	}
	t.Fatal("no endpoint carries the stream")
	return ""
}
