package core

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// TestPollAndEventFD: in pull mode every event waits in the queue, the event fd is readable
// exactly while something is queued, and Poll drains in batches.
func TestPollAndEventFD(t *testing.T) {
	bs := brokertest.StartN(t, 2)
	cfg := fastConfig("poll", uris(bs)...)
	cfg.DeliveryEvents = true
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fd, err := c.EventFD()
	if err != nil {
		t.Fatal(err)
	}
	if readable(t, fd, 0) {
		t.Fatal("event fd readable before anything happened")
	}
	if err := c.Connect(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctxT(t, 5*time.Second), "poll/#", 1, nil); err != nil {
		t.Fatal(err)
	}
	waitLive(t, c, 2)
	for i := 0; i < 5; i++ {
		if err := c.Publish(ctxT(t, 5*time.Second), "poll/x", 1, false, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	tok := c.PublishAsync("poll/async", 1, false, []byte("a"))
	if err := tok.Err(); err != nil {
		t.Fatal(err)
	}
	counts := map[EventKind]int{}
	var delivery *Delivery
	batch := make([]Event, 3) // smaller than the queue: several batches
	deadline := time.Now().Add(5 * time.Second)
	for counts[EventMessage] < 6 || counts[EventDelivery] < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("events so far: %v", counts)
		}
		if !readable(t, fd, time.Second) {
			continue
		}
		n, err := c.Poll(batch, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range batch[:n] {
			counts[e.Kind]++
			if e.Kind == EventDelivery {
				delivery = e.Delivery
			}
			if e.Kind == EventMessage && e.Message.Endpoint == "" {
				t.Fatal("message without its endpoint")
			}
		}
	}
	if counts[EventEndpointUp] != 2 || counts[EventMessage] != 6 {
		t.Fatalf("want 2 endpoint-up and 6 messages, got %v", counts)
	}
	if delivery.ID != tok.ID() || delivery.Err != nil || len(delivery.Endpoints) != 1 {
		t.Fatalf("delivery %+v does not match token %d", delivery, tok.ID())
	}
	if readable(t, fd, 0) {
		t.Fatal("event fd still readable with an empty queue")
	}
	bs[0].Kill()
	if !readable(t, fd, 5*time.Second) {
		t.Fatal("no wake-up for the endpoint-down event")
	}
	n, _ := c.Poll(batch, time.Second)
	if n != 1 || batch[0].Kind != EventEndpointDown || batch[0].Endpoint != "poll-1" || batch[0].Err == nil {
		t.Fatalf("want one endpoint-down event with a reason for poll-1, got %+v", batch[:n])
	}
	c.SetHandlers(Handlers{})
	if _, err := c.Poll(batch, 0); !errors.Is(err, ErrPushMode) {
		t.Fatalf("Poll in push mode: %v", err)
	}
}

func readable(t *testing.T, fd int, timeout time.Duration) bool {
	t.Helper()
	var set syscall.FdSet
	set.Bits[fd/64] |= 1 << (uint(fd) % 64)
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	n, err := syscall.Select(fd+1, &set, nil, nil, &tv)
	if err != nil && err != syscall.EINTR {
		t.Fatal(err)
	}
	return n > 0
}

// TestAllDoesNotResendToAckedEndpoints: with the All publisher, a broker that stops
// answering costs an ack timeout, never a second copy on the brokers that acknowledged.
func TestAllDoesNotResendToAckedEndpoints(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	px := brokertest.StartProxy(t, bs[2].Addr())
	ks := []*counter{newCounter(t, bs[0].URI(), "all"), newCounter(t, bs[1].URI(), "all")}
	cfg := fastConfig("all", bs[0].URI(), bs[1].URI(), px.URI())
	cfg.PublisherType = All
	cfg.AckTimeout = 500 * time.Millisecond
	c := startCluster(t, cfg)
	waitLive(t, c, 3)
	px.SetMode(brokertest.Blackhole)
	tok := c.PublishAsync("all", 1, false, []byte("once"))
	if err := tok.Err(); err != nil {
		t.Fatal(err)
	}
	if eps := tok.Endpoints(); len(eps) != 2 {
		t.Fatalf("acknowledged by %v, want all-1 and all-2", eps)
	}
	waitFor(t, 5*time.Second, "the copies", func() bool { return ks[0].total() == 1 && ks[1].total() == 1 })
	time.Sleep(300 * time.Millisecond) // a re-send would come now
	if ks[0].total() != 1 || ks[1].total() != 1 {
		t.Fatalf("copies per broker %d/%d, want 1/1", ks[0].total(), ks[1].total())
	}
	if c.LiveCount() != 2 {
		t.Fatalf("the silent broker should be dead after its ack timeout: live %v", c.LiveEndpoints())
	}
}

// TestHandlersRunOffTheNetworkPath: a handler may publish (paho #473) and may block for a
// while without stalling the connection (a PINGRESP still gets through, nothing is dropped).
func TestHandlersRunOffTheNetworkPath(t *testing.T) {
	b := brokertest.Start(t)
	cfg := fastConfig("h", b.URI())
	cfg.Connection.KeepAlive = time.Second
	c := startCluster(t, cfg)
	var echoes collector
	if err := c.Subscribe(ctxT(t, 5*time.Second), "echo", 1, echoes.add); err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctxT(t, 5*time.Second), "ping", 1, func(m Message) {
		if err := c.Publish(ctxT(t, 5*time.Second), "echo", 1, false, m.Payload); err != nil {
			t.Errorf("publish from handler: %v", err)
		}
		if string(m.Payload) == "0" {
			time.Sleep(2500 * time.Millisecond) // longer than the keepalive
		}
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := c.Publish(ctxT(t, 5*time.Second), "ping", 1, false, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "20 echoes", func() bool { return echoes.count() == 20 })
	if s := c.Stats()[0]; s.Connects != 1 {
		t.Fatalf("the connection dropped while a handler blocked: %+v", s)
	}
}

func TestCloseIsIdempotentAndFailsLaterCalls(t *testing.T) {
	b := brokertest.Start(t)
	c := startCluster(t, fastConfig("close", b.URI()))
	c.Close()
	c.Close()
	if err := c.Publish(ctxT(t, time.Second), "x", 0, false, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
	if err := c.PublishAsync("x", 1, false, nil).Err(); !errors.Is(err, ErrClosed) {
		t.Fatalf("async publish after close: %v", err)
	}
	if err := c.Subscribe(ctxT(t, time.Second), "x", 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
	if err := c.Connect(ctxT(t, time.Second)); !errors.Is(err, ErrClosed) {
		t.Fatalf("connect after close: %v", err)
	}
}

// TestSessionPresent: with a persistent session, the endpoint-up event of a second
// connection carries the broker's CONNACK session-present flag.
func TestSessionPresent(t *testing.T) {
	b := brokertest.Start(t)
	upFlags := func() bool {
		cfg := fastConfig("sp", b.URI())
		cfg.Connection.ClientID = "sp-fixed"
		cfg.Connection.PersistentSession = true
		c := startCluster(t, cfg)
		defer c.Close()
		ev := make([]Event, 8)
		n, err := c.Poll(ev, time.Second)
		if err != nil || n == 0 || ev[0].Kind != EventEndpointUp {
			t.Fatalf("want an endpoint-up event, got %d %v %+v", n, err, ev[:n])
		}
		return ev[0].SessionPresent
	}
	if upFlags() {
		t.Fatal("first connection reported a session")
	}
	if !upFlags() {
		t.Fatal("second connection did not report the session the broker kept")
	}
}

func TestCloseFromAHandler(t *testing.T) {
	b := brokertest.Start(t)
	c := startCluster(t, fastConfig("closer", b.URI()))
	if err := closeFromHandler(t, b, c, c.Close); err != nil {
		t.Fatal(err)
	}
	if !c.Closed() {
		t.Fatal("the cluster is not closed")
	}
	if err := c.PublishAsync("after/close", 1, false, nil).Wait(ctxT(t, 5*time.Second)); !errors.Is(err, ErrClosed) {
		t.Fatalf("publishing after Close: %v, want ErrClosed", err)
	}
	// The dispatcher ends by itself once the handler returned (goleak checks it at exit).
}

func TestClustersCloseFromAHandler(t *testing.T) {
	b := brokertest.Start(t)
	fc, err := ParseConfig([]byte("clusters:\n  - name: one\n    connections:\n      - connection:\n          serverURIs: ["+b.URI()+"]\n  - name: two\n    connections:\n      - connection:\n          serverURIs: ["+b.URI()+"]\n"), "close.yaml", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := startRegistry(t, fc)
	one, _ := r.Get("one")
	if err := closeFromHandler(t, b, one, r.Close); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"one", "two"} {
		if _, err := r.Get(name); err == nil {
			t.Errorf("cluster %s is still served after Close", name)
		}
	}
}

// closeFromHandler makes c's message handler call closeFn: it subscribes c, publishes to it
// through another client of b, and returns closeFn's result once it returned (failing the test
// if it hangs).
func closeFromHandler(t *testing.T, b *brokertest.Broker, c *Cluster, closeFn func() error) error {
	t.Helper()
	closed := make(chan error, 1)
	c.SetHandlers(Handlers{OnMessage: func(Message) { closed <- closeFn() }})
	if err := c.Subscribe(ctxT(t, 5*time.Second), "close/now", 1, nil); err != nil {
		t.Fatal(err)
	}
	pub := startCluster(t, fastConfig("pub", b.URI()))
	if err := pub.Publish(ctxT(t, 5*time.Second), "close/now", 1, false, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Close called from a handler did not return")
		return nil
	}
}

// TestClustersCloseEachOtherFromHandlers: two clusters whose handlers close each other at the
// same moment both return; neither waits for the other's dispatcher.
func TestClustersCloseEachOtherFromHandlers(t *testing.T) {
	b := brokertest.Start(t)
	for round := 0; round < 3; round++ {
		a := startCluster(t, fastConfig("a", b.URI()))
		z := startCluster(t, fastConfig("z", b.URI()))
		var ready sync.WaitGroup
		ready.Add(2)
		done := make(chan error, 2)
		crossClose := func(other *Cluster) MessageHandler {
			return func(Message) {
				ready.Done()
				ready.Wait() // both handlers run before either closes: the worst case
				done <- other.Close()
			}
		}
		a.SetHandlers(Handlers{OnMessage: crossClose(z)})
		z.SetHandlers(Handlers{OnMessage: crossClose(a)})
		for _, c := range []*Cluster{a, z} {
			if err := c.Subscribe(ctxT(t, 5*time.Second), "cross/close", 1, nil); err != nil {
				t.Fatal(err)
			}
		}
		pub := startCluster(t, fastConfig("pub", b.URI()))
		if err := pub.Publish(ctxT(t, 5*time.Second), "cross/close", 1, false, nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: clusters closing each other from their handlers deadlocked", round)
			}
		}
		pub.Close()
	}
}
