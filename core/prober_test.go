package core

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "5 attempts", func() bool { return len(px.AcceptTimes()) >= 5 })
	// The schedule is observed over the 3 s that follow the first attempt.
	first := px.AcceptTimes()[0]
	time.Sleep(time.Until(first.Add(3 * time.Second)))
	var times []time.Time
	for _, at := range px.AcceptTimes() {
		if at.Before(first.Add(3 * time.Second)) {
			times = append(times, at)
		}
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
	// Lower envelope in aggregate: equal jitter waits at least half the window, so over 3s at a
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
	// Counted by the client: the proxy may accept the dial that decided the quarantine a
	// moment after the decision.
	before := st.Probes
	time.Sleep(2 * time.Second) // inside the quarantine: nothing may happen
	if n := c.Stats()[0].Probes; n != before {
		t.Fatalf("%d connection attempts during quarantine", n-before)
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

// seededRand returns a generator for a randomized test, its seed printed so that a failure
// can be replayed with HAMQTT_TEST_SEED.
func seededRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("HAMQTT_TEST_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (replay with HAMQTT_TEST_SEED=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// listenerBack dials addr every millisecond until it accepts, and returns when it did: the
// moment a revived broker's listener accepts connections again.
func listenerBack(t *testing.T, addr string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			now := time.Now()
			c.Close()
			return now
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%s did not accept connections within %v", addr, timeout)
	return time.Time{}
}

// TestRevivedBrokerGetsSubscriptionsBackFast kills the same broker again and again, with
// sessions of a few hundred milliseconds in between, and measures how long after its listener
// accepts connections again a subscriber with the default configuration has its subscriptions
// replayed there. Whatever the history, the p99 must stay within 0.5 s (the bound WarmUp is
// tied to), and a broker that crashes and is restarted is never quarantined, however often.
func TestRevivedBrokerGetsSubscriptionsBackFast(t *testing.T) {
	rng := seededRand(t)
	bs := brokertest.StartN(t, 3)
	sub := startCluster(t, Config{Name: "lag", Endpoints: []EndpointConfig{{URI: bs[0].URI()}, {URI: bs[1].URI()}, {URI: bs[2].URI()}}})
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "lag/#", 1, func(Message) {}); err != nil {
		t.Fatal(err)
	}
	waitLive(t, sub, 3)
	victim := bs[0]
	const kills = 16
	var lags []time.Duration
	for i := 0; i < kills; i++ {
		if err := victim.Kill(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the kill seen", func() bool { return sub.Stats()[0].State != StateLive })
		time.Sleep(time.Duration(200+rng.IntN(1300)) * time.Millisecond)
		restarted := make(chan error, 1)
		go func() { restarted <- victim.Restart() }()
		back := listenerBack(t, victim.Addr(), 15*time.Second)
		if err := <-restarted; err != nil {
			t.Fatal(err)
		}
		var st EndpointStats
		waitFor(t, 10*time.Second, "the subscriber back on the revived broker", func() bool {
			st = sub.Stats()[0]
			if st.State == StateQuarantined {
				t.Fatalf("a crashed broker was quarantined: %s", st.LastError)
			}
			return st.State == StateLive && st.Subscriber
		})
		lags = append(lags, st.LiveSince.Sub(back))
		// A short session: killed within 100 ms of coming back. A crashed process's listener
		// can outlive its connections by a moment; a judgement dial in that moment would take
		// the crash for a drop by a running broker (and quarantine it after five).
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
	}
	slices.Sort(lags)
	p50, p99 := lags[len(lags)/2], lags[len(lags)-1] // with 16 samples the p99 is the worst
	t.Logf("subscriptions replayed after revival: p50 %v, p99 %v (%v)", p50, p99, lags)
	if p99 > 500*time.Millisecond {
		t.Errorf("subscriptions back %v after the listener (p99), want within 500ms", p99)
	}
	st := sub.Stats()[0]
	if st.Connects > kills+1 {
		t.Errorf("%d CONNECTs for %d revivals: each revival should cost one", st.Connects, kills)
	}
}

// brokerConnacks counts the CONNACKs (one per CONNECT it processed) in a broker's own debug
// log, per second of its timestamps.
func brokerConnacks(log string) (total int, perSecond map[string]int) {
	perSecond = map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		if ts, rest, ok := strings.Cut(line, ": "); ok && strings.HasPrefix(rest, "Sending CONNACK") {
			total++
			perSecond[ts]++
		}
	}
	return total, perSecond
}

// assertGrowingGaps checks that the attempts at times came further and further apart:
// exponential backoff with equal jitter never shortens the gap from one attempt to the next.
func assertGrowingGaps(t *testing.T, times []time.Time) {
	t.Helper()
	for k := 2; k < len(times); k++ {
		prev, gap := times[k-1].Sub(times[k-2]), times[k].Sub(times[k-1])
		if gap+50*time.Millisecond < prev {
			t.Errorf("attempt %d came %v after the previous one, sooner than the %v before: backoff must grow", k, gap, prev)
		}
	}
}

// TestPoliteness counts what reaches brokers that will not have us, with the default
// configuration: MQTT CONNECTs (the auth messages platforms rate-limit) at most 4 a second
// per cluster and further and further apart, none at all to a broker that is down (only
// dials), and one per client when it comes back.
func TestPoliteness(t *testing.T) {
	t.Run("refused credentials", func(t *testing.T) {
		b := brokertest.Start(t, brokertest.Options{ExtraConfig: "allow_anonymous false\nlog_type debug"})
		px := brokertest.StartProxy(t, b.Addr())
		c, err := New(Config{Name: "refused", Endpoints: []EndpointConfig{{URI: px.URI()}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(7 * time.Second) // what is measured is what happens over time
		total, perSecond := brokerConnacks(b.Log())
		t.Logf("%d CONNECTs in 7s, per second %v", total, perSecond)
		for ts, n := range perSecond {
			if n > 4 {
				t.Errorf("%d CONNECTs in second %s, want at most 4", n, ts)
			}
		}
		if total < 3 || total > 6 {
			t.Errorf("%d CONNECTs in 7s: the backoff (1s doubling, equal jitter) allows 3 to 6", total)
		}
		assertGrowingGaps(t, px.AcceptTimes())
		if st := c.Stats()[0]; st.ConnectFailures == 0 || !strings.Contains(strings.ToLower(st.LastError), "not authori") {
			t.Errorf("the refusal is not reported: %+v", st)
		}
	})
	t.Run("down, then back", func(t *testing.T) {
		port, err := brokertest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		c, err := New(Config{Name: "down", Endpoints: []EndpointConfig{{URI: "tcp://" + addr}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		st := c.Stats()[0]
		t.Logf("broker down for 3s: %d dials, %d CONNECTs", st.Probes, st.Connects)
		if st.Connects != 0 {
			t.Errorf("%d CONNECTs to a broker that is down", st.Connects)
		}
		if st.Probes < 8 || st.Probes > 3*1000/105+5 {
			t.Errorf("%d dials in 3s, want one every 105-245ms", st.Probes)
		}
		b := brokertest.Start(t, brokertest.Options{Port: port, ExtraConfig: "log_type debug"})
		back := listenerBack(t, b.Addr(), 5*time.Second)
		waitFor(t, 5*time.Second, "connected to the revived broker", func() bool { return c.LiveCount() == 1 })
		t.Logf("live %v after the listener came up", c.Stats()[0].LiveSince.Sub(back))
		time.Sleep(500 * time.Millisecond)
		if total, _ := brokerConnacks(b.Log()); total != 1 {
			t.Errorf("%d CONNECTs when the broker came back, want 1", total)
		}
	})
	t.Run("accept and close", func(t *testing.T) {
		a, err := brokertest.RefusedAddr()
		if err != nil {
			t.Fatal(err)
		}
		px := brokertest.StartProxy(t, a)
		px.SetMode(brokertest.AcceptClose)
		c, err := New(Config{Name: "lb", Endpoints: []EndpointConfig{{URI: px.URI()}}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(6 * time.Second)
		times := px.AcceptTimes()
		t.Logf("%d connections accepted and closed in 6s", len(times))
		if len(times) < 3 || len(times) > 6 {
			t.Errorf("%d attempts in 6s against a gateway that closes every connection: want 3 to 6", len(times))
		}
		assertGrowingGaps(t, times)
	})
}

// TestSubscriptionGapIsReported: a cluster with subscriptions whose only broker stays
// reachable but will not have it is subscribed nowhere: that is reported as an event and by
// SubscriptionGap, and ends when the broker takes it back.
func TestSubscriptionGapIsReported(t *testing.T) {
	b := brokertest.Start(t)
	px := brokertest.StartProxy(t, b.Addr())
	c := startCluster(t, Config{Name: "gap", Endpoints: []EndpointConfig{{URI: px.URI()}}})
	gapErrs := make(chan error, 16)
	c.SetHandlers(Handlers{OnError: func(err error) {
		if errors.Is(err, ErrNotSubscribed) {
			select {
			case gapErrs <- err:
			default:
			}
		}
	}})
	if err := c.Subscribe(ctxT(t, 5*time.Second), "gap/#", 1, func(Message) {}); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.SubscriptionGap(); ok {
		t.Fatal("a gap reported while subscribed")
	}
	px.SetMode(brokertest.Reset) // drops us, and every new connection, while listening
	select {
	case err := <-gapErrs:
		t.Logf("reported: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no event reported the gap")
	}
	if _, ok := c.SubscriptionGap(); !ok {
		t.Fatal("SubscriptionGap does not report the gap")
	}
	px.SetMode(brokertest.Pass)
	waitFor(t, 10*time.Second, "the gap closed", func() bool { _, ok := c.SubscriptionGap(); return !ok })
	waitLive(t, c, 1)
}

// TestRevivalIsNotReportedAsAGap: when the only broker of a subscribed cluster is killed and
// comes back, the moments between its dial and its replay are the revival, not a fault: no
// ErrNotSubscribed event (an application that ends on errors would end on every restart),
// yet SubscriptionGap showed the window while it lasted.
func TestRevivalIsNotReportedAsAGap(t *testing.T) {
	b := brokertest.Start(t)
	c := startCluster(t, fastConfig("revgap", b.URI()))
	var gapErrs atomic.Int32
	c.SetHandlers(Handlers{OnError: func(err error) {
		if errors.Is(err, ErrNotSubscribed) {
			gapErrs.Add(1)
		}
	}})
	if err := c.Subscribe(ctxT(t, 5*time.Second), "revgap/#", 1, func(Message) {}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		killAndWaitDead(t, b, c)
		if err := b.Restart(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "subscribed again", func() bool {
			_, gap := c.SubscriptionGap()
			for _, s := range c.Stats() {
				if s.State == StateLive && s.Subscriber && !gap {
					return true
				}
			}
			return false
		})
	}
	if n := gapErrs.Load(); n != 0 {
		t.Fatalf("%d ErrNotSubscribed events for three ordinary revivals", n)
	}
}

// TestProbesStayCheapAtScale: hundreds of dead endpoints must not send thousands of SYNs a
// second. One cluster is held to its ProbeRate, and clusters that lift theirs to the
// process-wide bound.
func TestProbesStayCheapAtScale(t *testing.T) {
	deadEndpoints := func(n int) []EndpointConfig {
		var eps []EndpointConfig
		used := map[int]bool{}
		for len(eps) < n {
			port, err := brokertest.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			if !used[port] {
				used[port] = true
				eps = append(eps, EndpointConfig{URI: fmt.Sprintf("tcp://127.0.0.1:%d", port)})
			}
		}
		return eps
	}
	dials := func(cs []*Cluster) (n uint64) {
		for _, c := range cs {
			for _, s := range c.Stats() {
				n += s.Probes
			}
		}
		return n
	}
	run := func(cfgs []Config, d time.Duration) (uint64, float64) {
		start := time.Now()
		var cs []*Cluster
		for _, cfg := range cfgs {
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		time.Sleep(d)
		n := dials(cs)
		return n, time.Since(start).Seconds()
	}
	// One cluster of 300 dead endpoints: about 5.7 dials a second each would be 1700/s.
	n, secs := run([]Config{{Name: "many", Endpoints: deadEndpoints(300)}}, 2*time.Second)
	t.Logf("one cluster, 300 dead endpoints: %d dials in %.2fs", n, secs)
	if limit := uint64(secs*defaultProbeRate + 12 + 5); n > limit { // the rate, its bucket, slack
		t.Errorf("%d dials in %.2fs, more than the cluster's ProbeRate allows (%d)", n, secs, limit)
	}
	// Four clusters without a rate of their own: the process bound holds them together.
	var cfgs []Config
	for i := 0; i < 4; i++ {
		cfgs = append(cfgs, Config{Name: fmt.Sprintf("unbounded%d", i), ProbeRate: -1, Endpoints: deadEndpoints(100)})
	}
	n, secs = run(cfgs, 2*time.Second)
	t.Logf("four clusters, 400 dead endpoints, no cluster rate: %d dials in %.2fs", n, secs)
	if limit := uint64(secs*processProbes.rate + processProbes.burst + 5); n > limit {
		t.Errorf("%d dials in %.2fs, more than the process bound allows (%d)", n, secs, limit)
	}
}
