// Command churnclient is the Go client of the churn harness (internal/churn, run by
// internal/cmd/churn): a publisher or a subscriber written against github.com/hamqtt/hamqtt/core
// the way an application would, with the product's default settings.
//
//	churnclient sub --brokers H:P,H:P,H:P --topic T --config NAME
//	churnclient pub --brokers H:P,H:P,H:P --topic T --count N --rate R --config NAME
//	                [--outbox DIR] [--start N] [--sync]
//
// It speaks the harness's line protocol on stdout: the subscriber prints READY once its
// subscription is acknowledged and MSG <seq> per delivered message, and exits 0 on SIGTERM;
// the publisher publishes --start..--count-1 and prints STORED <seq> when PublishAsync stored
// the message in the outbox (QUEUED <seq> when it only queued it), ACK <seq> or
// FAIL <seq> <why> with its outcome, and DONE once every outcome is in, the messages the outbox
// recovered from an earlier process included (or --deadline passed after the last publish).
// With --sync it publishes with the blocking Publish, one message at a time, and prints no
// QUEUED (STORED when Publish left the message to the outbox). Logs go to stderr.
//
// Configurations (--config): default (the defaults: a Sticky publisher), noloss (the README's
// no-loss configuration: an All publisher with an acknowledgement quorum of 2, a
// de-duplicating subscriber), roundrobin (a RoundRobin publisher) and outbox (the defaults and
// a disk outbox in --outbox DIR with its defaults, a de-duplicating subscriber). The outbox
// publisher starts without waiting for a broker (it may be started during an outage), and by
// default waits for its stored messages without a deadline. --outbox is accepted, and ignored,
// by the other configurations. Each name with "-v5" appended (noloss-v5, outbox-v5) is the same
// configuration speaking MQTT 5, where copies carry message ids and are removed exactly.
package main

import (
	"context"
	"errors"
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
	fmt.Fprintln(os.Stderr, "usage: churnclient pub|sub --brokers H:P,... --topic T [--count N --rate R --start N] [--config default|noloss|roundrobin|outbox] [--outbox DIR] [--sync]")
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
		config   = fs.String("config", "default", "default, noloss, roundrobin or outbox")
		outbox   = fs.String("outbox", "", "directory of the disk outbox (config outbox)")
		first    = fs.Int("start", 0, "the first sequence number to publish")
		syncPub  = fs.Bool("sync", false, "publish with the blocking Publish, one message at a time")
		window   = fs.Int("window", 1000, "asynchronous publishes awaiting their outcome at most (without an outbox, which is its own bound)")
		deadline = fs.Duration("deadline", time.Minute, "after the last publish, how long to wait for the outstanding outcomes (0: no limit; with an outbox the default is no limit)")
		size     = fs.Int("size", 0, "pad each payload with spaces and dots to this many bytes")
	)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *brokers == "" || *count < 0 || *rate <= 0 || *window < 1 || *first < 0 {
		usage()
		return 2
	}
	cfg, err := clusterConfig(mode, *brokers, *config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "churnclient:", err)
		return 2
	}
	var ob *core.Outbox
	if mode == "pub" && strings.TrimSuffix(*config, mqtt5Suffix) == "outbox" {
		if *outbox == "" {
			fmt.Fprintln(os.Stderr, "churnclient: config outbox needs --outbox DIR")
			return 2
		}
		if ob, err = openOutbox(*outbox, cfg.Logger); err != nil {
			fmt.Fprintln(os.Stderr, "churnclient:", err)
			return 1
		}
		cfg.Outbox = ob
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "deadline" })
		if !set {
			*deadline = 0 // stored messages wait for brokers, however long the outage
		}
	}
	c, err := core.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "churnclient:", err)
		if ob != nil {
			ob.Close()
		}
		return 1
	}
	defer func() {
		c.Close()
		if ob != nil {
			st := ob.Stats()
			fmt.Fprintf(os.Stderr, "churnclient: outbox at exit: %d messages held; %d stored, %d delivered since it was opened\n",
				st.Messages, st.Stored, st.Delivered)
			if err := ob.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "churnclient: outbox close:", err)
			}
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	connectCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if ob != nil {
		// What the outbox holds waits for a broker: a publisher started during an outage goes
		// ahead, as an application with an outbox would.
		err = c.Start()
	} else {
		err = c.Connect(connectCtx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "churnclient: connect:", err)
		return 1
	}
	out := &protocol{}
	if mode == "sub" {
		return subscribe(ctx, connectCtx, c, out, *topic)
	}
	p := publisher{c: c, out: out, topic: *topic, first: *first, count: *count, rate: *rate, size: *size,
		stored: ob != nil}
	if *syncPub {
		p.runSync(ctx)
	} else {
		p.runAsync(ctx, *window)
	}
	p.await(ctx, *deadline)
	out.done()
	return 0
}

// openOutbox opens the disk outbox in dir with its defaults and logs what it recovered.
func openOutbox(dir string, logger *slog.Logger) (*core.Outbox, error) {
	ob, err := core.OpenOutbox(core.OutboxConfig{Dir: dir, Logger: logger})
	if err != nil {
		return nil, err
	}
	rep := ob.Recovery()
	fmt.Fprintf(os.Stderr, "churnclient: outbox %s: recovered %d messages from %d segments (%d torn bytes, %d skipped)\n",
		dir, rep.Messages, rep.Segments, rep.TornBytes, rep.SkippedBytes)
	for _, p := range rep.Problems {
		fmt.Fprintln(os.Stderr, "churnclient: outbox recovery:", p)
	}
	return ob, nil
}

// mqtt5Suffix on a configuration name runs it over MQTT 5 ("noloss-v5").
const mqtt5Suffix = "-v5"

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
	if base, ok := strings.CutSuffix(config, mqtt5Suffix); ok {
		// The same configuration over MQTT 5: an All or outbox publisher stamps message ids,
		// and the de-duplicating subscriber removes copies by them, exactly.
		cfg.Connection.ProtocolVersion = core.MQTT5
		config = base
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
	case "outbox": // the publisher's outbox is opened by run
		if mode == "sub" {
			cfg.Dedup = true
		}
	default:
		return cfg, fmt.Errorf("unknown config %q (default, noloss, roundrobin, outbox)", config)
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
	c      *core.Cluster
	out    *protocol
	topic  string
	first  int // the first sequence number to publish
	count  int
	rate   float64
	size   int
	stored bool // the cluster has an outbox
	wg     sync.WaitGroup
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
	d := time.Until(start.Add(time.Duration(float64(seq-p.first) / p.rate * float64(time.Second))))
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
	for seq := p.first; seq < p.count; seq++ {
		if !p.pace(ctx, start, seq) {
			return
		}
		switch err := p.c.Publish(ctx, p.topic, 1, false, p.payload(seq)); {
		case err == nil:
			p.out.line("ACK %d", seq)
		case errors.Is(err, core.ErrStored): // not a failure: the outbox sends it later
			p.out.line("STORED %d", seq)
		default:
			p.out.line("FAIL %d %s", seq, reason(err))
		}
	}
}

// runAsync publishes with PublishAsync at the rate; without an outbox it keeps at most window
// publishes awaiting their outcome (an outbox is its own bound, and a long outage must not
// stop the publisher from storing).
func (p *publisher) runAsync(ctx context.Context, window int) {
	var slots chan struct{}
	if !p.stored {
		slots = make(chan struct{}, window)
	}
	start := time.Now()
	for seq := p.first; seq < p.count; seq++ {
		if !p.pace(ctx, start, seq) {
			break
		}
		if slots != nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		free := func() {
			if slots != nil {
				<-slots
			}
		}
		tok := p.c.PublishAsync(p.topic, 1, false, p.payload(seq))
		switch {
		case tok.Stored():
			p.out.line("STORED %d", seq)
		default:
			select {
			case <-tok.Done():
				if tok.Err() != nil { // refused at once: never queued
					p.out.line("FAIL %d %s", seq, reason(tok.Err()))
					free()
					continue
				}
			default:
			}
			p.out.line("QUEUED %d", seq)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			<-tok.Done()
			if err := tok.Err(); err != nil {
				p.out.line("FAIL %d %s", seq, reason(err))
			} else {
				p.out.line("ACK %d", seq)
			}
			free()
		}()
	}
}

// await waits, up to deadline after the last publish (0: no limit), for every outcome: those
// of this process's publishes and, through Flush, those of the messages the outbox recovered
// from an earlier process (which it reports to nobody) or that a blocking Publish left to it.
func (p *publisher) await(ctx context.Context, deadline time.Duration) {
	if deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, deadline)
		defer cancel()
	}
	all := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(all)
	}()
	select {
	case <-all:
	case <-ctx.Done():
	}
	if err := p.c.Flush(ctx); err == nil {
		return
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		fmt.Fprintf(os.Stderr, "churnclient: outcomes still missing %v after the last publish\n", deadline)
	}
}
