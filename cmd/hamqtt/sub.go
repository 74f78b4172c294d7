package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hamqtt/hamqtt/core"
)

const subSynopsis = `hamqtt sub [cluster flags] -t FILTER [-t FILTER...] [-q QOS] [-count N] [-duration D] [-format plain|json] [flags]`

const subHelp = clusterFlagsHelp + `

Output (standard output, one message per line):
  plain   ENDPOINT - TOPIC: PAYLOAD            (-quiet: PAYLOAD only)
  json    {"time":"...","endpoint":"...","uri":"...","topic":"...","qos":1,"retained":false,
           "dup":false,"payload":"..."}        (payload_base64 instead of payload when not UTF-8)
Once subscribed, a line "subscribed ..." goes to stderr (not with -quiet).
It runs until -count messages arrived, -duration passed, or SIGINT/SIGTERM.
With -count, ending by -duration before N messages arrived is a failure (exit 1).

Examples:
  hamqtt sub -endpoints tcp://127.0.0.1:1883-1885 -t 'sensors/#'
  hamqtt sub -config etc/mqttv5-client.yaml -cluster edge -t cmd/+ -q 1 -format json
  hamqtt sub -t test/topic -count 10 -duration 30s -dedup`

type subOptions struct {
	cluster  clusterFlags
	filters  stringList
	qos      int
	count    int
	duration time.Duration
	format   string
	dedup    bool
	quiet    bool
}

func runSub(ctx context.Context, e *env, args []string) error {
	var o subOptions
	fs := newFlagSet(e, "sub", subSynopsis, subHelp)
	o.cluster.register(fs)
	fs.Var(&o.filters, "t", "topic `filter` to subscribe to (repeatable; required)")
	fs.IntVar(&o.qos, "q", 0, "`QoS` 0, 1 or 2")
	fs.IntVar(&o.qos, "qos", 0, "`QoS` 0, 1 or 2 (same as -q)")
	fs.IntVar(&o.count, "count", 0, "stop after `N` messages (0: no limit)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this `duration` (0: no limit)")
	fs.StringVar(&o.format, "format", "plain", "output `format`: plain or json (JSON lines)")
	fs.BoolVar(&o.dedup, "dedup", false, "deliver each message once when it arrives through several brokers")
	fs.BoolVar(&o.quiet, "quiet", false, "plain format prints the payload only; no notices on stderr")
	rest, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef(fs, "unexpected argument %q: give topic filters with -t", rest[0])
	}
	if len(o.filters) == 0 {
		return usagef(fs, "-t FILTER is required: the topic filter to subscribe to, e.g. -t 'sensors/#'")
	}
	for _, f := range o.filters {
		if err := core.ValidateFilter(f); err != nil {
			return usagef(fs, "-t: %v", err)
		}
	}
	if err := core.ValidateQoS(o.qos); err != nil {
		return usagef(fs, "-q %d: %v", o.qos, err)
	}
	switch {
	case o.count < 0:
		return usagef(fs, "-count %d: give a positive number of messages, or 0 for no limit", o.count)
	case o.duration < 0:
		return usagef(fs, "-duration %v: give a positive duration such as 30s, or 0 for no limit", o.duration)
	case o.format != "plain" && o.format != "json":
		return usagef(fs, "-format %q: use plain or json", o.format)
	}
	o.cluster.quiet = o.quiet
	cfg, warnings, err := o.cluster.resolve(fs, e.stderr)
	if err != nil {
		return err
	}
	printWarnings(e, "sub", warnings, o.quiet)
	if o.dedup {
		cfg.Dedup = true
	}
	cl, err := o.cluster.open(cfg, e.stderr)
	if err != nil {
		return err
	}
	defer cl.close(cl.Config().TimeToWait, e.stderr)

	uris := map[string]string{}
	for _, s := range cl.Stats() {
		uris[s.Name] = s.URI
	}
	out := &messagePrinter{w: bufio.NewWriterSize(e.stdout, 64<<10), json: o.format == "json", quiet: o.quiet, uris: uris}
	var mu sync.Mutex
	received := 0
	enough := make(chan struct{})
	handler := func(m core.Message) {
		mu.Lock()
		defer mu.Unlock()
		if o.count > 0 && received >= o.count {
			return
		}
		received++
		out.print(m)
		if o.count > 0 && received == o.count {
			close(enough)
		}
	}

	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	if err := cl.connect(ctx); err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil // a signal is sub's normal end
		}
		return err
	}
	filters := map[string]byte{}
	for _, f := range o.filters {
		filters[f] = byte(o.qos)
	}
	if err := cl.SubscribeMultiple(ctx, filters, handler); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	if !o.quiet {
		fmt.Fprintf(e.stderr, "subscribed to %s (qos %d) on cluster %q: live %s; dead %s\n",
			quoteList(o.filters), o.qos, cl.Name(), listOrNone(cl.LiveEndpoints()), listOrNone(cl.DeadEndpoints()))
	}
	select {
	case <-enough:
	case <-ctx.Done():
	}
	// Closing stops the dispatcher, so the handler is done with the writer afterwards.
	cl.close(cl.Config().TimeToWait, e.stderr)
	mu.Lock()
	defer mu.Unlock()
	if err := out.w.Flush(); err != nil {
		return fmt.Errorf("writing standard output: %w", err)
	}
	if o.count > 0 && received < o.count && ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("received %d of %d messages within -duration %v", received, o.count, o.duration)
	}
	return nil
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// messagePrinter writes received messages in the chosen format.
type messagePrinter struct {
	w     *bufio.Writer
	json  bool
	quiet bool
	uris  map[string]string
	err   error
}

// jsonMessage is one line of -format json.
type jsonMessage struct {
	Time          string  `json:"time"`
	Endpoint      string  `json:"endpoint"`
	URI           string  `json:"uri,omitempty"`
	Topic         string  `json:"topic"`
	QoS           byte    `json:"qos"`
	Retained      bool    `json:"retained"`
	Dup           bool    `json:"dup"`
	Payload       *string `json:"payload,omitempty"`
	PayloadBase64 *string `json:"payload_base64,omitempty"`
}

func (p *messagePrinter) print(m core.Message) {
	if p.err != nil {
		return
	}
	if p.json {
		j := jsonMessage{Time: time.Now().UTC().Format(time.RFC3339Nano), Endpoint: m.Endpoint, URI: p.uris[m.Endpoint],
			Topic: m.Topic, QoS: m.QoS, Retained: m.Retained, Dup: m.Duplicate}
		if utf8.Valid(m.Payload) {
			s := string(m.Payload)
			j.Payload = &s
		} else {
			s := base64.StdEncoding.EncodeToString(m.Payload)
			j.PayloadBase64 = &s
		}
		b, _ := json.Marshal(j)
		p.w.Write(b)
		p.w.WriteByte('\n')
	} else if p.quiet {
		p.w.Write(m.Payload)
		p.w.WriteByte('\n')
	} else {
		fmt.Fprintf(p.w, "%s - %s: %s\n", m.Endpoint, m.Topic, m.Payload)
	}
	p.err = p.w.Flush()
}
