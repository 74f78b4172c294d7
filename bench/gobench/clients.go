package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hamqtt/hamqtt/core"
)

// tpParams is one publish-to-receive run: a publisher and a subscriber, each its own client of
// the library under test, on one topic. The publisher keeps at most Window publishes whose
// completion it has not seen (QoS 0: written, QoS 1/2: acknowledged), waiting on the oldest
// when the window is full; the subscriber counts. The run ends when the subscriber has all N
// messages, or when nothing arrived for idleTimeout (the rest counts as lost).
type tpParams struct {
	QoS    byte
	Size   int
	N      int
	Window int
	Topic  string
	// Version is core's MQTT protocol version (0: its default, 3.1.1).
	Version int
}

// tpResult is what a run reports; external (C) programs print the same JSON.
type tpResult struct {
	Sent      int    `json:"sent"`
	Received  int    `json:"received"`
	ElapsedNs int64  `json:"elapsed_ns"` // first publish to last message received
	Err       string `json:"error,omitempty"`
}

func (r tpResult) rate() float64 {
	if r.ElapsedNs <= 0 {
		return 0
	}
	return float64(r.Received) / (float64(r.ElapsedNs) / 1e9)
}

const idleTimeout = 3 * time.Second

func payloadOf(size int) []byte {
	p := make([]byte, size)
	_, _ = rand.Read(p)
	return p
}

func uniqueID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%x", prefix, b)
}

// counter is the subscriber side of a run.
type counter struct {
	n        int64
	got      atomic.Int64
	last     atomic.Int64 // unix nanos of the latest message
	complete chan struct{}
}

func newCounter(n int) *counter { return &counter{n: int64(n), complete: make(chan struct{})} }

func (c *counter) hit() {
	c.last.Store(time.Now().UnixNano())
	if c.got.Add(1) == c.n {
		close(c.complete)
	}
}

// wait blocks until all messages arrived or none arrived for idleTimeout.
func (c *counter) wait() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	prev, since := c.got.Load(), time.Now()
	for {
		select {
		case <-c.complete:
			return
		case <-tick.C:
			if g := c.got.Load(); g != prev {
				prev, since = g, time.Now()
			} else if time.Since(since) > idleTimeout {
				return
			}
		}
	}
}

func (c *counter) result(start time.Time, sent int) tpResult {
	r := tpResult{Sent: sent, Received: int(c.got.Load())}
	if last := c.last.Load(); last > 0 {
		r.ElapsedNs = last - start.UnixNano()
	}
	if r.Received < sent {
		r.Err = fmt.Sprintf("%d of %d messages lost", sent-r.Received, sent)
	}
	return r
}

// ---------------------------------------------------------------------------------------------
// raw paho.mqtt.golang

func pahoOptions(uri, id string) *mqtt.ClientOptions {
	return mqtt.NewClientOptions().AddBroker(uri).SetClientID(id).SetProtocolVersion(4).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetKeepAlive(30 * time.Second).SetConnectTimeout(5 * time.Second)
}

func pahoConnect(o *mqtt.ClientOptions) (mqtt.Client, error) {
	c := mqtt.NewClient(o)
	t := c.Connect()
	if !t.WaitTimeout(10 * time.Second) {
		return nil, errors.New("paho: no CONNACK within 10s")
	}
	return c, t.Error()
}

func runPaho(uri string, p tpParams) (tpResult, error) {
	cnt := newCounter(p.N)
	so := pahoOptions(uri, uniqueID("bench-sub")).
		SetDefaultPublishHandler(func(mqtt.Client, mqtt.Message) { cnt.hit() })
	sub, err := pahoConnect(so)
	if err != nil {
		return tpResult{}, err
	}
	defer sub.Disconnect(0)
	st := sub.Subscribe(p.Topic, p.QoS, nil)
	if !st.WaitTimeout(10*time.Second) || st.Error() != nil {
		return tpResult{}, fmt.Errorf("paho subscribe: %v", st.Error())
	}
	pub, err := pahoConnect(pahoOptions(uri, uniqueID("bench-pub")))
	if err != nil {
		return tpResult{}, err
	}
	defer pub.Disconnect(0)
	payload := payloadOf(p.Size)
	ring := make([]mqtt.Token, p.Window)
	start := time.Now()
	for i := 0; i < p.N; i++ {
		slot := i % p.Window
		if t := ring[slot]; t != nil {
			if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
				return tpResult{}, fmt.Errorf("paho publish %d: %v", i, t.Error())
			}
		}
		ring[slot] = pub.Publish(p.Topic, p.QoS, false, payload)
	}
	for _, t := range ring {
		if t != nil {
			t.WaitTimeout(30 * time.Second)
		}
	}
	cnt.wait()
	return cnt.result(start, p.N), nil
}

// ---------------------------------------------------------------------------------------------
// hamqtt core

func coreConfig(name string, uris []string) core.Config {
	cfg := core.Config{Name: name, PublisherType: core.Sticky}
	for _, u := range uris {
		cfg.Endpoints = append(cfg.Endpoints, core.EndpointConfig{URI: u})
	}
	return cfg
}

// coreConnect connects a cluster and waits until every endpoint is live, so that the
// subscriber is subscribed wherever the sticky publisher ends up.
func coreConnect(cfg core.Config) (*core.Cluster, error) {
	c, err := core.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		c.Close()
		return nil, err
	}
	for c.LiveCount() < len(cfg.Endpoints) {
		if ctx.Err() != nil {
			c.Close()
			return nil, fmt.Errorf("core: only %d of %d endpoints live", c.LiveCount(), len(cfg.Endpoints))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, nil
}

// corePair connects a subscribed core subscriber counting into cnt and a core publisher.
// close releases both.
func corePair(uris []string, p tpParams, cnt *counter) (pub *core.Cluster, close func(), err error) {
	subCfg, pubCfg := coreConfig(uniqueID("bench-sub"), uris), coreConfig(uniqueID("bench-pub"), uris)
	subCfg.Connection.ProtocolVersion, pubCfg.Connection.ProtocolVersion = p.Version, p.Version
	sub, err := coreConnect(subCfg)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sub.Subscribe(ctx, p.Topic, p.QoS, func(core.Message) { cnt.hit() }); err != nil {
		sub.Close()
		return nil, nil, err
	}
	if pub, err = coreConnect(pubCfg); err != nil {
		sub.Close()
		return nil, nil, err
	}
	return pub, func() { pub.Close(); sub.Close() }, nil
}

func runCore(uris []string, p tpParams) (tpResult, error) {
	cnt := newCounter(p.N)
	pub, closeAll, err := corePair(uris, p, cnt)
	if err != nil {
		return tpResult{}, err
	}
	defer closeAll()
	payload := payloadOf(p.Size)
	ring := make([]*core.Token, p.Window)
	wait := func(t *core.Token, i int) error {
		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer wcancel()
		if err := t.Wait(wctx); err != nil {
			return fmt.Errorf("core publish %d: %w", i, err)
		}
		return nil
	}
	start := time.Now()
	for i := 0; i < p.N; i++ {
		slot := i % p.Window
		if t := ring[slot]; t != nil {
			if err := wait(t, i); err != nil {
				return tpResult{}, err
			}
		}
		ring[slot] = pub.PublishAsync(p.Topic, p.QoS, false, payload)
	}
	for i, t := range ring {
		if t != nil {
			if err := wait(t, i); err != nil {
				return tpResult{}, err
			}
		}
	}
	cnt.wait()
	return cnt.result(start, p.N), nil
}

// runCoreBlocking is core with a blocking Publish per message (no window): how a simple Go
// program would use the cluster.
func runCoreBlocking(uris []string, p tpParams) (tpResult, error) {
	cnt := newCounter(p.N)
	pub, closeAll, err := corePair(uris, p, cnt)
	if err != nil {
		return tpResult{}, err
	}
	defer closeAll()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	payload := payloadOf(p.Size)
	start := time.Now()
	for i := 0; i < p.N; i++ {
		if err := pub.Publish(ctx, p.Topic, p.QoS, false, payload); err != nil {
			return tpResult{}, err
		}
	}
	cnt.wait()
	return cnt.result(start, p.N), nil
}
