package mixedtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hamqtt/hamqtt/core"
	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// The package's brokers: one of each kind, started at first use and shared by every test
// (a RabbitMQ node takes seconds to boot). A test that kills one leaves it running again.
var shared struct {
	once    sync.Once
	servers []brokertest.Server // in brokertest.Kinds order
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range shared.servers {
		if err := s.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "closing %s: %v\n", s.Kind(), err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// mixedBrokers returns a Mosquitto, a RabbitMQ and an aedes broker, in brokertest.Kinds order,
// all running. When the test ends, any of them it left stopped is restarted, and on failure
// their log tails are logged.
func mixedBrokers(t *testing.T) []brokertest.Server {
	t.Helper()
	shared.once.Do(func() {
		servers := make([]brokertest.Server, len(brokertest.Kinds))
		errs := make([]error, len(servers))
		var wg sync.WaitGroup
		for i, k := range brokertest.Kinds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				servers[i], errs[i] = brokertest.NewServer(k)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				shared.err = err
			} else {
				shared.servers = append(shared.servers, servers[i])
			}
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	t.Cleanup(func() {
		for _, s := range shared.servers {
			if t.Failed() {
				t.Logf("log tail of %s %s (%s):\n%s", s.Kind(), s.Version(), s.Addr(), tail(s.Log(), 25))
			}
			if !s.Running() {
				if err := s.Restart(); err != nil {
					t.Errorf("restarting %s: %v", s.Kind(), err)
				}
			}
		}
	})
	return shared.servers
}

// defaultConfig is the cluster a user writes: only the endpoints, named after their kind;
// every other setting is core's default.
func defaultConfig(servers []brokertest.Server) core.Config {
	var cfg core.Config
	for _, s := range servers {
		cfg.Endpoints = append(cfg.Endpoints, core.EndpointConfig{Name: string(s.Kind()), URI: s.URI()})
	}
	return cfg
}

// connect starts a cluster and waits until every endpoint is live.
func connect(t *testing.T, cfg core.Config) *core.Cluster {
	t.Helper()
	c, err := core.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, fmt.Sprintf("all %d endpoints live", len(cfg.Endpoints)), func() bool {
		return c.LiveCount() == len(cfg.Endpoints)
	})
	return c
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// inbox collects the messages a subscription delivers.
type inbox struct {
	mu   sync.Mutex
	msgs []core.Message
}

func (in *inbox) handler(m core.Message) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
}

func (in *inbox) snapshot() []core.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]core.Message(nil), in.msgs...)
}

// count returns how many messages satisfy keep.
func (in *inbox) count(keep func(core.Message) bool) int {
	n := 0
	for _, m := range in.snapshot() {
		if keep(m) {
			n++
		}
	}
	return n
}
