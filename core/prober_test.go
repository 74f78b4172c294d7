package core

import (
	"fmt"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// TestRevivalReplaysSubscriptions: a killed broker that comes back is live again within the
// probe bound and carries the subscriptions again, so a plain client publishing straight to
// it reaches the HA subscriber.
func TestRevivalReplaysSubscriptions(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	sub := startCluster(t, fastConfig("rev", uris(bs)...))
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "rev/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, 3)
	bs[1].Kill()
	waitFor(t, 5*time.Second, "rev-2 dead", func() bool { return sub.LiveCount() == 2 })
	if err := bs[1].Restart(); err != nil {
		t.Fatal(err)
	}
	// Probe bound: the backoff window is at most MaxProbeDelay, plus a connect.
	bound := sub.cfg.MaxProbeDelay + 2*time.Second
	start := time.Now()
	waitLive(t, sub, 3)
	if el := time.Since(start); el > bound {
		t.Fatalf("revived after %v, bound %v", el, bound)
	}
	direct := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(bs[1].URI()).SetProtocolVersion(4))
	if tok := direct.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer direct.Disconnect(0)
	if tok := direct.Publish("rev/direct", 1, false, "hello"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	waitFor(t, 5*time.Second, "the direct message", func() bool { return got.count() == 1 })
	if m := got.all()[0]; m.Endpoint != "rev-2" || string(m.Payload) != "hello" {
		t.Fatalf("got %+v, want the message from rev-2", m)
	}
	// And unsubscribe reaches the revived broker too.
	if err := sub.Unsubscribe(ctxT(t, 5*time.Second), "rev/#"); err != nil {
		t.Fatal(err)
	}
	if tok := direct.Publish("rev/direct", 1, false, "after"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	time.Sleep(300 * time.Millisecond) // absence of a message: nothing to wait on
	if got.count() != 1 {
		t.Fatalf("message delivered after unsubscribe: %+v", got.all())
	}
}

// TestSilentPartition: a broker that stops answering without closing the socket is detected
// within the keepalive bound, publishes fail over, and nothing acknowledged is lost.
func TestSilentPartition(t *testing.T) {
	bs := brokertest.StartN(t, 2)
	px := brokertest.StartProxy(t, bs[0].Addr())
	// The subscriber sees both brokers directly; the publisher reaches broker 1 through the proxy.
	sub := startCluster(t, fastConfig("psub", uris(bs)...))
	got := map[string]int{}
	var col collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "part", 1, col.add); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, 2)
	cfg := fastConfig("ppub", px.URI(), bs[1].URI())
	cfg.PrimaryServerURI = px.URI()
	cfg.Connection.KeepAlive = time.Second
	cfg.AckTimeout = 5 * time.Second // detection must come from the keepalive, not the ack timeout
	cfg.TimeToWait = 10 * time.Second
	pub := startCluster(t, cfg)
	waitLive(t, pub, 2)
	down := make(chan time.Time, 4)
	pub.SetHandlers(Handlers{OnEndpointDown: func(ep string, _ error) {
		if ep == "ppub-1" {
			down <- time.Now()
		}
	}})

	const n = 400
	acked := 0
	var cut time.Time
	for i := 0; i < n; i++ {
		if i == n/4 {
			px.SetMode(brokertest.Blackhole)
			cut = time.Now()
		}
		if err := pub.Publish(ctxT(t, 15*time.Second), "part", 1, false, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		acked++
	}
	select {
	case at := <-down:
		// Keepalive 1s, ping timeout 0.5s: paho notices within about 2 keepalive intervals
		// (and a loaded machine adds some).
		if d := at.Sub(cut); d > 4*time.Second {
			t.Errorf("partition detected after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the partitioned endpoint was never declared down")
	}
	waitFor(t, 10*time.Second, "every acknowledged message", func() bool {
		for _, m := range col.all() {
			got[string(m.Payload)]++
		}
		ok := len(got) >= acked
		clear(got)
		return ok
	})
	if s := pub.Stats(); s[0].Failovers == 0 {
		t.Errorf("no failover counted on the partitioned endpoint: %+v", s[0])
	}
}

// TestPoliteConnectRate: against endpoints that refuse or accept-and-close, the number of
// connection attempts stays within the cluster's rate limit however short the backoff.
func TestPoliteConnectRate(t *testing.T) {
	var eps []string
	var pxs []*brokertest.Proxy
	for i := 0; i < 4; i++ {
		a, err := brokertest.RefusedAddr()
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, "tcp://"+a)
		px := brokertest.StartProxy(t, a)
		px.SetMode(brokertest.AcceptClose)
		pxs = append(pxs, px)
		eps = append(eps, px.URI())
	}
	cfg := fastConfig("polite", eps...)
	cfg.ProbeDelay = time.Millisecond // a naive client would hammer
	cfg.MaxProbeDelay = 20 * time.Millisecond
	cfg.ConnectRate = 4
	cfg.ConnectBurst = 4
	cfg.TimeToWait = 2 * time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Connect(ctxT(t, 5*time.Second)); err == nil {
		t.Fatal("connect succeeded against refusing endpoints")
	}
	time.Sleep(time.Second) // let the prober run on: the rate is what is measured
	var attempts, dials uint64
	for _, s := range c.Stats() {
		attempts += s.Connects
		dials += s.Probes
	}
	elapsed := time.Since(start)
	c.Close()
	limit := uint64(cfg.ConnectRate*elapsed.Seconds()) + uint64(cfg.ConnectBurst) + 1
	t.Logf("%d connection attempts in %v (limit %d)", attempts, elapsed, limit)
	if attempts > limit {
		t.Fatalf("%d connection attempts in %v exceed the rate limit (%d)", attempts, elapsed, limit)
	}
	if attempts < 8 {
		t.Fatalf("only %d attempts: every endpoint should have been tried", attempts)
	}
	accepted := 0
	for _, px := range pxs {
		accepted += px.Accepted()
	}
	if uint64(accepted) > dials {
		t.Fatalf("proxies saw %d connections, more than the %d dials counted", accepted, dials)
	}
}

// TestBackoffEnvelope: one failing endpoint is retried with exponentially growing, jittered
// delays: never more often than the envelope allows, and never less often than its cap.
func TestBackoffEnvelope(t *testing.T) {
	a, _ := brokertest.RefusedAddr()
	px := brokertest.StartProxy(t, a)
	px.SetMode(brokertest.AcceptClose)
	cfg := fastConfig("env", px.URI())
	cfg.ProbeDelay = 50 * time.Millisecond
	cfg.MaxProbeDelay = 400 * time.Millisecond
	cfg.ConnectRate = 1000
	cfg.TimeToWait = 3 * time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.Connect(ctxT(t, 5*time.Second))
	times := px.AcceptTimes()
	if len(times) < 5 {
		t.Fatalf("only %d attempts in 3s", len(times))
	}
	// Upper envelope: attempt k+1 comes at most window(k) = min(max, probe*2^k) after attempt k
	// (plus the failed connect itself and scheduling slack on a loaded machine; an uncapped
	// backoff would be past 3s by the seventh attempt).
	window := cfg.ProbeDelay
	for k := 1; k < len(times); k++ {
		if gap := times[k].Sub(times[k-1]); gap > window+time.Second {
			t.Errorf("attempt %d came %v after the previous one, window %v", k, gap, window)
		}
		window = min(window*2, cfg.MaxProbeDelay)
	}
	// Lower envelope in aggregate: full jitter averages half the window, so over 3s at a
	// 400ms cap the attempts cannot exceed what a 50ms-floor schedule would allow.
	if len(times) > 3*1000/50 {
		t.Errorf("%d attempts in 3s: the backoff does not grow", len(times))
	}
}

// TestFlappingEndpointIsQuarantined: an endpoint whose connections keep dropping is left
// alone for the quarantine time instead of being reconnected in a storm.
func TestFlappingEndpointIsQuarantined(t *testing.T) {
	b := brokertest.Start(t)
	b2 := brokertest.Start(t)
	px := brokertest.StartProxy(t, b.Addr())
	cfg := fastConfig("flap", px.URI(), b2.URI())
	cfg.FlapLimit = 3
	cfg.FlapWindow = 30 * time.Second
	cfg.QuarantineTime = 3 * time.Second
	c := startCluster(t, cfg)
	waitLive(t, c, 2)
	for i := 0; i < 3; i++ {
		waitFor(t, 5*time.Second, "flap-1 live", func() bool { return c.LiveCount() == 2 })
		px.SetMode(brokertest.Reset)
		waitFor(t, 5*time.Second, "flap-1 dropped", func() bool { return c.LiveCount() == 1 })
		px.SetMode(brokertest.Pass)
	}
	var st EndpointStats
	waitFor(t, 2*time.Second, "quarantine", func() bool { st = c.Stats()[0]; return st.State == StateQuarantined })
	before := px.Accepted()
	time.Sleep(2 * time.Second) // inside the quarantine: nothing may happen
	if px.Accepted() != before {
		t.Fatalf("%d connection attempts during quarantine", px.Accepted()-before)
	}
	if st.LastError == "" {
		t.Fatal("quarantine reason not reported")
	}
	waitFor(t, 5*time.Second, "flap-1 back after quarantine", func() bool { return c.LiveCount() == 2 })
}

// TestLiveEndpointCap: liveEndpointCount caps the open connections; a dead one is replaced.
func TestLiveEndpointCap(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	cfg := fastConfig("cap", uris(bs)...)
	cfg.FoS = 3
	cfg.LiveEndpointCount = 2
	c := startCluster(t, cfg)
	waitFor(t, 5*time.Second, "2 live", func() bool { return c.LiveCount() == 2 })
	time.Sleep(300 * time.Millisecond) // a cap is about what does not happen
	if c.LiveCount() != 2 {
		t.Fatalf("%d live, cap 2", c.LiveCount())
	}
	live := c.LiveEndpoints()
	for i, b := range bs {
		if fmt.Sprintf("cap-%d", i+1) == live[0] {
			b.Kill()
		}
	}
	waitFor(t, 5*time.Second, "replacement", func() bool {
		l := c.LiveEndpoints()
		return len(l) == 2 && l[0] != live[0] && l[1] != live[0]
	})
}
