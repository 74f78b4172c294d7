package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hamqtt/hamqtt/core"
	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// ackLog records every acknowledged publish of the failover publisher.
type ackLog struct {
	mu   sync.Mutex
	acks []ackRec
	errs int
	cond *sync.Cond
}

type ackRec struct {
	at time.Time
	ep string
}

func newAckLog() *ackLog {
	l := &ackLog{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *ackLog) add(r ackRec) {
	l.mu.Lock()
	l.acks = append(l.acks, r)
	l.mu.Unlock()
	l.cond.Broadcast()
}

func (l *ackLog) last() (ackRec, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.acks) == 0 {
		return ackRec{}, false
	}
	return l.acks[len(l.acks)-1], true
}

// firstAfter waits for the first ack after t from an endpoint other than not.
func (l *ackLog) firstAfter(t time.Time, not string, timeout time.Duration) (ackRec, bool) {
	deadline := time.Now().Add(timeout)
	stop := time.AfterFunc(timeout, l.cond.Broadcast)
	defer stop.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	from := 0
	for {
		for ; from < len(l.acks); from++ {
			if a := l.acks[from]; a.at.After(t) && a.ep != not {
				return a, true
			}
		}
		if time.Now().After(deadline) {
			return ackRec{}, false
		}
		l.cond.Wait()
	}
}

// publisher publishes QoS 1 messages one at a time (each waits for its ack) until ctx ends.
func publisher(ctx context.Context, c *core.Cluster, log *ackLog, done chan<- struct{}) {
	defer close(done)
	payload := payloadOf(64)
	for ctx.Err() == nil {
		t := c.PublishAsync("bench/failover", 1, false, payload)
		if err := t.Wait(ctx); err != nil {
			if ctx.Err() == nil {
				log.mu.Lock()
				log.errs++
				log.mu.Unlock()
			}
			continue
		}
		if eps := t.Endpoints(); len(eps) > 0 {
			log.add(ackRec{at: time.Now(), ep: eps[0]})
		}
	}
}

// stallRun measures n faults. fault(i) injects a fault on endpoint index i and heal(i) undoes it.
func stallRun(cfg core.Config, n int, fault, heal func(i int) error) (stalls []float64, errs int, err error) {
	c, err := core.New(cfg)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	if err := c.Connect(ctx); err != nil {
		cancel()
		return nil, 0, err
	}
	cancel()
	index := map[string]int{}
	for i, st := range c.Stats() {
		index[st.Name] = i
	}
	waitLive := func() error {
		deadline := time.Now().Add(20 * time.Second)
		for c.LiveCount() < len(cfg.Endpoints) {
			if time.Now().After(deadline) {
				return fmt.Errorf("only %d of %d endpoints live again after 20s", c.LiveCount(), len(cfg.Endpoints))
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(c.Config().WarmUp + 50*time.Millisecond) // a revived endpoint is eligible again
		return nil
	}
	if err := waitLive(); err != nil {
		return nil, 0, err
	}
	log := newAckLog()
	pctx, pcancel := context.WithCancel(context.Background())
	pdone := make(chan struct{})
	go publisher(pctx, c, log, pdone)
	defer func() { pcancel(); <-pdone }()
	for k := 0; k < n; k++ {
		// the endpoint the publisher is using: the one that acknowledged most recently
		var cur ackRec
		for {
			if a, ok := log.last(); ok && time.Since(a.at) < 50*time.Millisecond {
				cur = a
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		i := index[cur.ep]
		t0 := time.Now()
		if err := fault(i); err != nil {
			return stalls, log.errs, err
		}
		next, ok := log.firstAfter(t0, cur.ep, 30*time.Second)
		if !ok {
			return stalls, log.errs, fmt.Errorf("fault %d on %s: no acknowledged publish within 30s", k, cur.ep)
		}
		stalls = append(stalls, float64(next.at.Sub(t0))/float64(time.Millisecond))
		if err := heal(i); err != nil {
			return stalls, log.errs, err
		}
		if err := waitLive(); err != nil {
			return stalls, log.errs, err
		}
	}
	return stalls, log.errs, nil
}

// failoverConfig is the configuration users run: every safeguard (backoff, warm-up, flap
// quarantine) at its default.
func failoverConfig(uris []string) core.Config {
	return coreConfig(uniqueID("bench-failover"), uris)
}

// failoverSuite is section (5): the stall a QoS 1 publisher (core, STICKY over 3 brokers) sees
// when the broker it uses is SIGKILLed, and when it is silently partitioned off.
func failoverSuite(out string, n int, smoke bool) error {
	sec := &Section{Name: "failover", Title: "Failover stall: core, STICKY over 3 brokers, one QoS 1 publisher", Started: time.Now()}
	sec.Settings = []string{
		"publisher: one QoS 1 publish at a time (PublishAsync + Wait), 64 B; stall = from the fault to the next publish acknowledged by another broker",
		"cluster: the default configuration (ProbeInterval 175ms, WarmUp 2s, FlapLimit 5, ConnectRate 4/s): the same brokers are killed again and again; for the partition rows FlapLimit -1 and MaxProbeDelay 2s, because a proxy that accepts connections and answers nothing looks like a gateway refusing us (backoff and quarantine engage, which does not change the stall but would make each heal wait out a quarantine)",
		"revival lag: a subscriber cluster (default configuration) over 3 brokers; one broker SIGKILLed again and again, restarted after 0.2-1.5 s; lag = from its listener accepting connections to the subscriptions replayed there",
		"refusing broker: one cluster (default configuration) against a Mosquitto that refuses anonymous clients, CONNACKs counted in the broker's debug log",
		"after each fault the broker is restarted 200 ms later (or the proxy healed) and the bench waits until all 3 endpoints are live and warm before the next fault",
	}

	// SIGKILL
	bs, err := startBrokers(3)
	if err != nil {
		return err
	}
	cfg := failoverConfig(uris(bs))
	stalls, errs, err := stallRun(cfg, n,
		func(i int) error { return bs[i].Kill() },
		// Restarted 200 ms after the kill, as a supervisor would: a broker back within a few
		// milliseconds of every crash is indistinguishable from one that drops us while running.
		func(i int) error { time.Sleep(200 * time.Millisecond); return bs[i].Restart() })
	closeBrokers(bs)
	if err != nil {
		return fmt.Errorf("sigkill: %w", err)
	}
	p99 := percentile(stalls, 99)
	sec.Rows = append(sec.Rows,
		Row{Section: "failover", Metric: fmt.Sprintf("SIGKILL of the sticky broker, p50 (%d kills)", len(stalls)), Impl: "core STICKY x3", Unit: "ms", Value: percentile(stalls, 50), Reps: stalls, Lower: true},
		Row{Section: "failover", Metric: fmt.Sprintf("SIGKILL of the sticky broker, p99 (%d kills)", len(stalls)), Impl: "core STICKY x3", Unit: "ms", Value: p99, Lower: true,
			Target: "< 50 ms", Met: boolp(p99 < 50), Lost: errs})
	logf("failover sigkill: p50 %.2f ms p99 %.2f ms max %.2f ms (failed publishes: %d)", percentile(stalls, 50), p99, percentile(stalls, 100), errs)

	// Revival lag: how long after a killed broker's listener accepts again a subscriber has its
	// subscriptions back there. WarmUp is tied to its p99.
	lags, err := revivalLags(n)
	if err != nil {
		return fmt.Errorf("revival lag: %w", err)
	}
	lagP99 := percentile(lags, 99)
	sec.Rows = append(sec.Rows,
		Row{Section: "failover", Metric: fmt.Sprintf("revival lag: subscriptions back after the listener, p50 (%d kills)", len(lags)), Impl: "core subscriber x3", Unit: "ms", Value: percentile(lags, 50), Reps: lags, Lower: true},
		Row{Section: "failover", Metric: fmt.Sprintf("revival lag: subscriptions back after the listener, p99 (%d kills)", len(lags)), Impl: "core subscriber x3", Unit: "ms", Value: lagP99, Lower: true,
			Target: "< 500 ms", Met: boolp(lagP99 < 500), Note: "WarmUp (2 s) is kept above twice this bound"})
	logf("revival lag: p50 %.1f ms p99 %.1f ms", percentile(lags, 50), lagP99)

	// Politeness: CONNECTs a refusing broker receives.
	secs := 10.0
	if smoke {
		secs = 2
	}
	perSec, total, err := refusedConnectRate(time.Duration(secs * float64(time.Second)))
	if err != nil {
		return fmt.Errorf("refusing broker: %w", err)
	}
	sec.Rows = append(sec.Rows,
		Row{Section: "failover", Metric: fmt.Sprintf("CONNECTs to a broker refusing our credentials, busiest second (%d in %.0f s)", total, secs), Impl: "core x1", Unit: "CONNECT/s", Value: perSec, Lower: true,
			Target: "<= 4", Met: boolp(perSec <= 4), Note: "backoff 1 s doubling with equal jitter, under the 4/s connect rate"})
	logf("refusing broker: %d CONNECTs in %.0f s, busiest second %.0f", total, secs, perSec)

	// Silent partition through the fault proxy, with short and with default timeouts.
	type partCase struct {
		label     string
		ack, keep time.Duration
		n         int
	}
	cases := []partCase{{"AckTimeout 500ms, KeepAlive 2s", 500 * time.Millisecond, 2 * time.Second, n}}
	if !smoke {
		cases = append(cases, partCase{"defaults: AckTimeout 3s, KeepAlive 30s", 0, 0, 3})
	}
	for _, pc := range cases {
		bs, err := startBrokers(3)
		if err != nil {
			return err
		}
		var proxies []*brokertest.Proxy
		var puris []string
		for _, b := range bs {
			p, err := brokertest.NewProxy(b.Addr())
			if err != nil {
				closeBrokers(bs)
				return err
			}
			proxies = append(proxies, p)
			puris = append(puris, p.URI())
		}
		cfg := failoverConfig(puris)
		cfg.AckTimeout = pc.ack
		cfg.Connection.KeepAlive = pc.keep
		// A proxy that accepts connections and answers nothing is what a gateway refusing us
		// looks like: backoff and quarantine rightly engage. The stall does not depend on
		// them, but partitioning the same broker 20 times in a row would then wait out a
		// quarantine each time.
		cfg.FlapLimit = -1
		cfg.MaxProbeDelay = 2 * time.Second
		stalls, errs, err := stallRun(cfg, pc.n,
			func(i int) error { proxies[i].SetMode(brokertest.Blackhole); return nil },
			func(i int) error { proxies[i].SetMode(brokertest.Pass); return nil })
		for _, p := range proxies {
			p.Close()
		}
		closeBrokers(bs)
		if err != nil {
			return fmt.Errorf("partition (%s): %w", pc.label, err)
		}
		sec.Rows = append(sec.Rows,
			Row{Section: "failover", Metric: fmt.Sprintf("blackhole partition, %s, p50 (%d partitions)", pc.label, len(stalls)), Impl: "core STICKY x3", Unit: "ms",
				Value: percentile(stalls, 50), Reps: stalls, Lower: true},
			Row{Section: "failover", Metric: fmt.Sprintf("blackhole partition, %s, p99 (%d partitions)", pc.label, len(stalls)), Impl: "core STICKY x3", Unit: "ms",
				Value: percentile(stalls, 99), Lower: true, Lost: errs,
				Note: "bounded by AckTimeout: an unacknowledged publish is the first sign of a silent partition; keepalive bounds it when idle"})
		logf("failover partition (%s): p50 %.1f ms p99 %.1f ms (failed publishes: %d)", pc.label, percentile(stalls, 50), percentile(stalls, 99), errs)
	}
	sec.Duration = time.Since(sec.Started).Round(time.Second).String()
	return writeSection(out, sec)
}

// revivalLags kills one broker n times under a subscriber cluster and returns, per revival, the
// milliseconds from its listener accepting connections to the subscriptions replayed there.
func revivalLags(n int) ([]float64, error) {
	bs, err := startBrokers(3)
	if err != nil {
		return nil, err
	}
	defer closeBrokers(bs)
	c, err := core.New(coreConfig(uniqueID("bench-revival"), uris(bs)))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	if err := c.Subscribe(ctx, "bench/revival/#", 1, func(core.Message) {}); err != nil {
		return nil, err
	}
	state := func() core.EndpointStats { return c.Stats()[0] }
	waitUntil := func(what string, cond func() bool) error {
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				return fmt.Errorf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	}
	var lags []float64
	for k := 0; k < n; k++ {
		if err := bs[0].Kill(); err != nil {
			return lags, err
		}
		if err := waitUntil("the kill seen", func() bool { return state().State != core.StateLive }); err != nil {
			return lags, err
		}
		time.Sleep(time.Duration(200+rand.IntN(1300)) * time.Millisecond)
		restarted := make(chan error, 1)
		go func() { restarted <- bs[0].Restart() }()
		var back time.Time
		if err := waitUntil("the listener", func() bool {
			conn, err := net.DialTimeout("tcp", bs[0].Addr(), 100*time.Millisecond)
			if err != nil {
				return false
			}
			back = time.Now()
			conn.Close()
			return true
		}); err != nil {
			return lags, err
		}
		if err := <-restarted; err != nil {
			return lags, err
		}
		var st core.EndpointStats
		if err := waitUntil("the subscriber back", func() bool { st = state(); return st.State == core.StateLive && st.Subscriber }); err != nil {
			return lags, fmt.Errorf("kill %d: %w (endpoint %s: %s, last error %q)", k, err, st.Name, st.State, st.LastError)
		}
		lags = append(lags, float64(st.LiveSince.Sub(back))/float64(time.Millisecond))
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	}
	return lags, nil
}

// refusedConnectRate runs a cluster against a broker that refuses anonymous clients for d and
// returns the CONNECTs of its busiest second and the total, read from the broker's own log.
func refusedConnectRate(d time.Duration) (busiest float64, total int, err error) {
	b, err := brokertest.New(brokertest.Options{ExtraConfig: "allow_anonymous false\nlog_type debug"})
	if err != nil {
		return 0, 0, err
	}
	defer b.Close()
	c, err := core.New(coreConfig(uniqueID("bench-refused"), []string{b.URI()}))
	if err != nil {
		return 0, 0, err
	}
	if err := c.Start(); err != nil {
		return 0, 0, err
	}
	time.Sleep(d)
	c.Close()
	perSecond := map[string]int{}
	for _, line := range strings.Split(b.Log(), "\n") {
		if ts, rest, ok := strings.Cut(line, ": "); ok && strings.HasPrefix(rest, "Sending CONNACK") {
			total++
			perSecond[ts]++
			busiest = max(busiest, float64(perSecond[ts]))
		}
	}
	return busiest, total, nil
}
