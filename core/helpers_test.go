package core

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testProtocol is the MQTT version of the clusters fastConfig makes: HAMQTT_TEST_PROTOCOL=5
// runs the same tests over MQTT 5 (make test does, for the suites whose behaviour must not
// depend on the version).
var testProtocol = func() int {
	if os.Getenv("HAMQTT_TEST_PROTOCOL") == "5" {
		return MQTT5
	}
	return MQTT311
}()

// fastConfig is a cluster over the given brokers with timings short enough for tests.
func fastConfig(name string, uris ...string) Config {
	cfg := Config{
		Name:          name,
		TimeToWait:    5 * time.Second,
		AckTimeout:    2 * time.Second,
		ProbeDelay:    50 * time.Millisecond,
		MaxProbeDelay: 400 * time.Millisecond,
		ConnectRate:   50,
		WarmUp:        300 * time.Millisecond,
		Connection:    ConnectionConfig{KeepAlive: 2 * time.Second, ConnectTimeout: 2 * time.Second, ProtocolVersion: testProtocol},
	}
	for _, u := range uris {
		cfg.Endpoints = append(cfg.Endpoints, EndpointConfig{URI: u})
	}
	return cfg
}

func uris(bs []*brokertest.Broker) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.URI()
	}
	return out
}

// startCluster connects a cluster and closes it when the test ends.
func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLive waits until the cluster has n live endpoints that carry its subscriptions.
func waitLive(t *testing.T, c *Cluster, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d live subscriber endpoints of %s", n, c.Name()), func() bool {
		k := 0
		for _, s := range c.Stats() {
			if s.State == StateLive && (s.Subscriber || c.cfg.PublishOnly) {
				k++
			}
		}
		return k >= n
	})
}

// counter is a plain paho client subscribed to one broker: it tells which broker a message
// really went through, independently of the engine under test.
type counter struct {
	mu   sync.Mutex
	seen map[string]int
	cli  mqtt.Client
}

func newCounter(t *testing.T, uri, filter string) *counter {
	t.Helper()
	k := &counter{seen: map[string]int{}}
	o := mqtt.NewClientOptions().AddBroker(uri).SetAutoReconnect(false).SetProtocolVersion(4)
	k.cli = mqtt.NewClient(o)
	if tok := k.cli.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("counter connect %s: %v", uri, tok.Error())
	}
	tok := k.cli.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		k.mu.Lock()
		k.seen[string(m.Payload())]++
		k.mu.Unlock()
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("counter subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { k.cli.Disconnect(0) })
	return k
}

func (k *counter) total() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, v := range k.seen {
		n += v
	}
	return n
}

// collector gathers the messages a cluster delivers to its application.
type collector struct {
	mu   sync.Mutex
	msgs []Message
}

func (cl *collector) add(m Message) {
	cl.mu.Lock()
	cl.msgs = append(cl.msgs, m)
	cl.mu.Unlock()
}

func (cl *collector) count() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.msgs)
}

func (cl *collector) all() []Message {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]Message(nil), cl.msgs...)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// publishSeries publishes n QoS 1 messages "prefix-0" .. "prefix-(n-1)" to topic, each
// acknowledged before the next, and returns their payloads.
func publishSeries(t *testing.T, c *Cluster, topic, prefix string, n int) []string {
	t.Helper()
	var sent []string
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("%s-%d", prefix, i)
		if err := c.Publish(ctxT(t, 5*time.Second), topic, 1, false, []byte(p)); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, p)
	}
	return sent
}

// pollFor polls c's events until match accepts one, failing the test after timeout.
func pollFor(t *testing.T, c *Cluster, timeout time.Duration, what string, match func(Event) bool) {
	t.Helper()
	evs := make([]Event, 16)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n, err := c.Poll(evs, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs[:n] {
			if match(e) {
				return
			}
		}
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
}

// killAndWaitDead SIGKILLs b and waits until c has no live endpoint.
func killAndWaitDead(t *testing.T, b *brokertest.Broker, c *Cluster) {
	t.Helper()
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the broker seen dead", func() bool { return c.LiveCount() == 0 })
}
