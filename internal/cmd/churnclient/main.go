// Command churnclient is the Go client of the churn harness (internal/churn, run by
// internal/cmd/churn): a publisher or a subscriber written against github.com/hamqtt/hamqtt/core
// the way an application would, with the product's default settings.
//
//	churnclient sub --brokers H:P,H:P,H:P --topic T --config NAME
//	churnclient pub --brokers H:P,H:P,H:P --topic T --count N --rate R --config NAME [--sync]
//
// It speaks the harness's line protocol on stdout: the subscriber prints READY once its
// subscription is acknowledged and MSG <seq> per delivered message, and exits 0 on SIGTERM;
// the publisher prints QUEUED <seq> when PublishAsync took a message, ACK <seq> or
// FAIL <seq> <why> with its outcome, and DONE once every outcome is in (or --deadline passed
// after the last publish). With --sync it publishes with the blocking Publish, one message at
// a time, and prints no QUEUED. Logs go to stderr.
//
// Configurations (--config): default (the defaults: a Sticky publisher), noloss (the README's
// no-loss configuration: an All publisher with an acknowledgement quorum of 2, a
// de-duplicating subscriber) and roundrobin (a RoundRobin publisher).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hamqtt/hamqtt/core"
)

func main() { os.Exit(run(os.Args[1:])) }

func usage() {
	fmt.Fprintln(os.Stderr, "usage: churnclient pub|sub --brokers H:P,... --topic T [--count N --rate R] [--config default|noloss|roundrobin] [--sync]")
}

func run(args []string) int {
	if len(args) == 0 || (args[0] != "pub" && args[0] != "sub") {
		usage()
		return 2
	}
	mode := args[0]
	fs := flag.NewFlagSet("churnclient "+mode, flag.ContinueOnError)
	var (
		brokers  = fs.String("brokers", "", "comma-separated brokers, host:port or URIs")
		topic    = fs.String("topic", "hamqtt/churn", "topic")
		count    = fs.Int("count", 1500, "messages to publish")
		rate     = fs.Float64("rate", 100, "messages per second")
		config   = fs.String("config", "default", "default, noloss or roundrobin")
		syncPub  = fs.Bool("sync", false, "publish with the blocking Publish, one message at a time")
		window   = fs.Int("window", 1000, "asynchronous publishes awaiting their outcome at most")
		deadline = fs.Duration("deadline", time.Minute, "after the last publish, how long to wait for the outstanding outcomes")
		size     = fs.Int("size", 0, "pad each payload with spaces and dots to this many bytes")
	)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *brokers == "" || *count < 0 || *rate <= 0 || *window < 1 {
		usage()
		return 2
	}
	cfg, err := clusterConfig(mode, *brokers, *config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "churnclient:", err)
		return 2
	}
	c, err := core.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "churnclient:", err)
		return 1
	}
	defer c.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	connectCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Connect(connectCtx); err != nil {
		fmt.Fprintln(os.Stderr, "churnclient: connect:", err)
		return 1
	}
	out := &protocol{}
	if mode == "sub" {
		return subscribe(ctx, connectCtx, c, out, *topic)
	}
	p := publisher{c: c, out: out, topic: *topic, count: *count, rate: *rate, size: *size}
	if *syncPub {
		p.runSync(ctx)
	} else {
		p.runAsync(ctx, *window, *deadline)
	}
	out.done()
	return 0
}

// clusterConfig is the cluster a user of the configuration would build: the endpoints and
// what the configuration names, every other setting at its default.
func clusterConfig(mode, brokers, config string) (core.Config, error) {
	cfg := core.Config{
		Name:   "churn-" + mode,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if !strings.Contains(b, "://") {
			b = "tcp://" + b
		}
		cfg.Endpoints = append(cfg.Endpoints, core.EndpointConfig{URI: b})
	}
	switch config {
	case "default":
	case "noloss":
		if mode == "pub" {
			cfg.PublisherType = core.All
			cfg.AckQuorum = 2
		} else {
			cfg.Dedup = true
		}
	case "roundrobin":
		cfg.PublisherType = core.RoundRobin
	default:
		return cfg, fmt.Errorf("unknown config %q (default, noloss, roundrobin)", config)
	}
	return cfg, nil
}

// protocol writes the line protocol: one write per line on unbuffered stdout, so every line
// reaches the harness at once and whole. Nothing is written after DONE.
type protocol struct {
	mu       sync.Mutex
	finished bool
}

func (p *protocol) line(format string, a ...any) {
	s := fmt.Sprintf(format, a...) + "\n"
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		fmt.Fprint(os.Stderr, "after DONE: ", s)
		return
	}
	if _, err := os.Stdout.WriteString(s); err != nil {
		fmt.Fprintln(os.Stderr, "churnclient: stdout:", err)
	}
}

func (p *protocol) done() {
	p.line("DONE")
	p.mu.Lock()
	p.finished = true
	p.mu.Unlock()
}

func subscribe(ctx, subCtx context.Context, c *core.Cluster, out *protocol, topic string) int {
	err := c.Subscribe(subCtx, topic, 1, func(m core.Message) {
		seq, _, _ := strings.Cut(string(m.Payload), " ")
		if _, err := strconv.Atoi(seq); err != nil {
			fmt.Fprintf(os.Stderr, "churnclient: payload %.40q is not a sequence number (from %s)\n", m.Payload, m.Endpoint)
			return
		}
		out.line("MSG %s", seq)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "churnclient: subscribe:", err)
		return 1
	}
	out.line("READY")
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "churnclient: terminating")
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "churnclient: close:", err)
		return 1
	}
	return 0
}

type publisher struct {
	c     *core.Cluster
	out   *protocol
	topic string
	count int
	rate  float64
	size  int
}

func (p *publisher) payload(seq int) []byte {
	b := []byte(strconv.Itoa(seq))
	if len(b) < p.size {
		b = append(b, ' ')
		for len(b) < p.size {
			b = append(b, '.')
		}
	}
	return b
}

// pace waits until message seq is due at the rate; it reports false when ctx ended.
func (p *publisher) pace(ctx context.Context, start time.Time, seq int) bool {
	d := time.Until(start.Add(time.Duration(float64(seq) / p.rate * float64(time.Second))))
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func reason(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func (p *publisher) runSync(ctx context.Context) {
	start := time.Now()
	for seq := range p.count {
		if !p.pace(ctx, start, seq) {
			return
		}
		if err := p.c.Publish(ctx, p.topic, 1, false, p.payload(seq)); err != nil {
			p.out.line("FAIL %d %s", seq, reason(err))
		} else {
			p.out.line("ACK %d", seq)
		}
	}
}

// runAsync publishes with PublishAsync at the rate, keeping at most window publishes awaiting
// their outcome, then waits up to deadline for the outcomes still out.
func (p *publisher) runAsync(ctx context.Context, window int, deadline time.Duration) {
	slots := make(chan struct{}, window)
	var wg sync.WaitGroup
	start := time.Now()
	for seq := range p.count {
		if !p.pace(ctx, start, seq) {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		tok := p.c.PublishAsync(p.topic, 1, false, p.payload(seq))
		select {
		case <-tok.Done():
			if tok.Err() != nil { // refused at once: never queued
				p.out.line("FAIL %d %s", seq, reason(tok.Err()))
				<-slots
				continue
			}
		default:
		}
		p.out.line("QUEUED %d", seq)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-tok.Done()
			if err := tok.Err(); err != nil {
				p.out.line("FAIL %d %s", seq, reason(err))
			} else {
				p.out.line("ACK %d", seq)
			}
			<-slots
		}()
	}
	all := make(chan struct{})
	go func() {
		wg.Wait()
		close(all)
	}()
	t := time.NewTimer(deadline)
	defer t.Stop()
	select {
	case <-all:
	case <-t.C:
		fmt.Fprintf(os.Stderr, "churnclient: outcomes still missing %v after the last publish\n", deadline)
	case <-ctx.Done():
	}
}
