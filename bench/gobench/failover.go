package main

import (
	"context"
	"fmt"
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
		time.Sleep(cfg.WarmUp + 50*time.Millisecond) // a revived endpoint is eligible again
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

func failoverConfig(uris []string) core.Config {
	cfg := coreConfig(uniqueID("bench-failover"), uris)
	cfg.ProbeDelay = 50 * time.Millisecond
	cfg.MaxProbeDelay = 500 * time.Millisecond
	cfg.WarmUp = 200 * time.Millisecond
	cfg.FlapLimit = -1
	return cfg
}

// failoverSuite is section (5): the stall a QoS 1 publisher (core, STICKY over 3 brokers) sees
// when the broker it uses is SIGKILLed, and when it is silently partitioned off.
func failoverSuite(out string, n int, smoke bool) error {
	sec := &Section{Name: "failover", Title: "Failover stall: core, STICKY over 3 brokers, one QoS 1 publisher", Started: time.Now()}
	sec.Settings = []string{
		"publisher: one QoS 1 publish at a time (PublishAsync + Wait), 64 B; stall = from the fault to the next publish acknowledged by another broker",
		"cluster: ProbeDelay 50ms, MaxProbeDelay 500ms, WarmUp 200ms, FlapLimit -1 (no quarantine: the same brokers are failed again and again); other settings default",
		"after each fault the broker (or proxy) is healed and the bench waits until all 3 endpoints are live and warm before the next fault",
	}

	// SIGKILL
	bs, err := startBrokers(3)
	if err != nil {
		return err
	}
	cfg := failoverConfig(uris(bs))
	stalls, errs, err := stallRun(cfg, n,
		func(i int) error { return bs[i].Kill() },
		func(i int) error { return bs[i].Restart() })
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
