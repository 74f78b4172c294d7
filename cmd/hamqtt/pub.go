package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamqtt/hamqtt/core"
)

const pubSynopsis = `hamqtt pub [cluster flags] [-name ENDPOINT] -t TOPIC (-m MESSAGE | -f FILE | -l | -count N) [flags]`

const pubHelp = clusterFlagsHelp + `

Messages:
  -m MESSAGE              one message (with -count: the payload of every message; {seq} becomes 1..N)
  -f FILE, -l             one message per line of FILE (-f - or -l: standard input); blank lines are skipped
  -count N [-rate R]      load mode: N messages, R per second (0: as fast as the window allows), with a
                          progress line on stderr

MQTT 5 properties (the cluster must speak MQTT 5: -V 5 or protocolVersion: 5), on every message:
  -user-property NAME=VALUE (repeatable, in order), -content-type, -response-topic,
  -correlation-data, -expiry SECONDS, -payload-format 0|1
A broker that refuses a message (MQTT 5 reason code) stops the run:
  message 1 to "t" refused by cluster-default-1: PUBACK Not authorized (0x87)

Examples:
  hamqtt pub -endpoints tcp://127.0.0.1:1883-1885 -t sensors/t1 -m 21.5 -q 1
  hamqtt pub -config etc/mqttv5-client.yaml -cluster edge -name edge-2 -t cmd/reboot -m now
  tail -f events.log | hamqtt pub -t logs/app -l -q 1
  hamqtt pub -t load/test -count 100000 -rate 5000 -q 1 -m 'msg {seq}'
  hamqtt pub -V 5 -t cmd/reboot -m now -q 1 -user-property site=lab -response-topic replies/1 -expiry 60`

// pubOptions are pub's parsed flags.
type pubOptions struct {
	cluster   clusterFlags
	topic     string
	message   string
	file      string
	stdin     bool
	qos       int
	retain    bool
	name      string
	pubType   string
	count     int
	rate      float64
	size      int
	inflight  int
	quiet     bool
	hasMsg    bool
	loadMode  bool
	progress  bool
	stderrTTY bool

	// MQTT 5 properties
	userProps     userPropertyList
	contentType   string
	responseTopic string
	correlation   string
	expiry        int64
	payloadFormat int
	props         *core.Properties // nil: none given
}

// userPropertyList is the repeatable -user-property NAME=VALUE flag, in order.
type userPropertyList []core.UserProperty

func (l *userPropertyList) String() string {
	var s []string
	for _, u := range *l {
		s = append(s, u.Key+"="+u.Value)
	}
	return strings.Join(s, ",")
}

func (l *userPropertyList) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q: give NAME=VALUE, e.g. -user-property site=lab", v)
	}
	if strings.HasPrefix(name, "hamqtt-") {
		return fmt.Errorf("%q: names starting with \"hamqtt-\" are the engine's own", name)
	}
	*l = append(*l, core.UserProperty{Key: name, Value: value})
	return nil
}

func runPub(ctx context.Context, e *env, args []string) error {
	var o pubOptions
	fs := newFlagSet(e, "pub", pubSynopsis, pubHelp)
	o.cluster.register(fs)
	fs.StringVar(&o.topic, "t", "", "`topic` to publish to (required)")
	fs.StringVar(&o.message, "m", "", "`message` payload")
	fs.StringVar(&o.file, "f", "", "publish each line of `file` as a message (- for standard input)")
	fs.BoolVar(&o.stdin, "l", false, "publish each line of standard input as a message (same as -f -)")
	fs.IntVar(&o.qos, "q", 0, "`QoS` 0, 1 or 2")
	fs.IntVar(&o.qos, "qos", 0, "`QoS` 0, 1 or 2 (same as -q)")
	fs.BoolVar(&o.retain, "r", false, "retain the message")
	fs.BoolVar(&o.retain, "retain", false, "retain the message (same as -r)")
	fs.StringVar(&o.name, "name", "", "publish to this `endpoint` only, with no failover")
	fs.StringVar(&o.pubType, "type", "", "publisher `type` STICKY, ROUND_ROBIN, RANDOM or ALL (overrides the config)")
	fs.IntVar(&o.count, "count", 0, "load mode: publish `N` messages")
	fs.Float64Var(&o.rate, "rate", 0, "send `R` messages per second (load mode, -f, -l; 0: unpaced)")
	fs.IntVar(&o.size, "size", 0, "load mode: pad each payload with '.' to at least `N` bytes")
	fs.IntVar(&o.inflight, "inflight", 1000, "at most `N` messages waiting for their acknowledgement at once")
	fs.BoolVar(&o.quiet, "quiet", false, "print nothing but errors")
	fs.Var(&o.userProps, "user-property", "MQTT 5 user property `NAME=VALUE` (repeatable; order is kept)")
	fs.StringVar(&o.contentType, "content-type", "", "MQTT 5 content `type` of the payload, e.g. application/json")
	fs.StringVar(&o.responseTopic, "response-topic", "", "MQTT 5 response `topic` for the receiver's reply")
	fs.StringVar(&o.correlation, "correlation-data", "", "MQTT 5 correlation `data` (the bytes of the string) for matching a reply")
	fs.Int64Var(&o.expiry, "expiry", 0, "MQTT 5 message expiry interval in `seconds` (not given: the message never expires)")
	fs.IntVar(&o.payloadFormat, "payload-format", 0, "MQTT 5 payload format `indicator`: 0 bytes, 1 UTF-8 text")
	rest, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef(fs, "unexpected argument %q: pass the message with -m", rest[0])
	}
	if err := o.validate(fs); err != nil {
		return err
	}
	o.cluster.quiet = o.quiet
	cfg, warnings, err := o.cluster.resolve(fs, e.stderr)
	if err != nil {
		return err
	}
	printWarnings(e, "pub", warnings, o.quiet)
	if o.props != nil && cfg.Connection.ProtocolVersion != core.MQTT5 {
		return usagef(fs, "%s: MQTT 5 properties need MQTT 5, and cluster %q speaks MQTT 3.1.1: add -V 5 (or set protocolVersion: 5 in the config file)", o.propFlags(fs), cfg.Name)
	}
	if o.pubType != "" {
		if cfg.PublisherType, err = core.ParsePublisherType(o.pubType); err != nil {
			return usagef(fs, "-type: %v", err)
		}
	}
	o.stderrTTY = isTerminal(e.stderrFile)

	var src messageSource
	switch {
	case o.file != "" || o.stdin:
		r, closeFn, err := openLines(e, o.file, o.stdin)
		if err != nil {
			return err
		}
		defer closeFn()
		src = newLineSource(r)
	default:
		src = newCountSource(o.message, o.count, o.size)
	}

	o.cluster.withOutbox = true
	cl, err := o.cluster.open(cfg, e.stderr)
	if err != nil {
		return err
	}
	defer cl.close(cl.Config().TimeToWait, e.stderr)
	if o.name != "" && !slices.ContainsFunc(cl.Stats(), func(s core.EndpointStats) bool { return s.Name == o.name }) {
		return fmt.Errorf("-name %q: cluster %q has no such endpoint (endpoints: %s)", o.name, cl.Name(), strings.Join(endpointNames(cl.Cluster), ", "))
	}
	if ob := cl.outbox; ob != nil && ob.Recovery().Messages > 0 && !o.quiet {
		fmt.Fprintf(e.stderr, "outbox %s: %d %s stored by an earlier run %s sent first\n", ob.Stats().Dir,
			ob.Recovery().Messages, plural(ob.Recovery().Messages, "message", "messages"), plural(ob.Recovery().Messages, "is", "are"))
	}
	if err := cl.connect(ctx); err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted before any endpoint was live; nothing was published")
		}
		if cl.outbox == nil || o.name != "" || (o.qos == 0 && !cl.qos0) {
			return err
		}
		// The outbox keeps what no broker takes: publish anyway, and tell stored from delivered.
		if !o.quiet {
			fmt.Fprintf(e.stderr, "warning: %s\nwarning: messages wait in the %s for a broker\n", oneLine(err.Error()), outboxName(cl.outbox))
		}
	}
	if o.name != "" {
		if err := waitLive(ctx, cl.Cluster, o.name, cl.Config().TimeToWait); err != nil {
			return err
		}
	}
	return publishAll(ctx, e, cl.Cluster, &o, src)
}

// outboxName describes an outbox for messages: "disk outbox DIR" or "memory outbox".
func outboxName(ob *core.Outbox) string {
	if d := ob.Stats().Dir; d != "" {
		return "disk outbox " + d
	}
	return "memory outbox"
}

// validate checks the flags that need no cluster.
func (o *pubOptions) validate(fs *flag.FlagSet) error {
	o.hasMsg = flagWasSet(fs, "m")
	if o.topic == "" {
		return usagef(fs, "-t TOPIC is required: the topic to publish to, e.g. -t sensors/t1")
	}
	if err := core.ValidateTopic(o.topic); err != nil {
		return usagef(fs, "-t: %v", err)
	}
	if err := core.ValidateQoS(o.qos); err != nil {
		return usagef(fs, "-q %d: %v", o.qos, err)
	}
	if o.stdin && o.file != "" && o.file != "-" {
		return usagef(fs, "-l and -f %s exclude each other: -l reads standard input", o.file)
	}
	fromLines := o.stdin || o.file != ""
	switch {
	case o.count < 0:
		return usagef(fs, "-count %d: give a positive number of messages", o.count)
	case o.rate < 0:
		return usagef(fs, "-rate %v: give messages per second, or 0 for unpaced", o.rate)
	case o.size < 0:
		return usagef(fs, "-size %d: give a payload size in bytes", o.size)
	case o.inflight < 1:
		return usagef(fs, "-inflight %d: at least 1 message must be allowed in flight", o.inflight)
	case fromLines && o.hasMsg:
		return usagef(fs, "-m and -f/-l exclude each other: give one message with -m or lines with -f/-l")
	case fromLines && o.count > 0:
		return usagef(fs, "-count and -f/-l exclude each other: lines are published as they are read")
	case !fromLines && !o.hasMsg && o.count == 0:
		return usagef(fs, "no message: give -m MESSAGE, -f FILE, -l (standard input lines) or -count N (load mode)")
	case o.rate > 0 && o.count == 0 && !fromLines:
		return usagef(fs, "-rate needs -count N (load mode) or -f/-l")
	}
	if o.count == 0 {
		o.count = 1
	}
	if err := o.buildProps(fs); err != nil {
		return err
	}
	o.loadMode = o.count > 1 || o.rate > 0
	o.progress = (o.loadMode || fromLines) && !o.quiet
	if !o.hasMsg && o.count > 1 {
		o.message = "hamqtt load {seq}"
	}
	return nil
}

// propFlagNames are pub's MQTT 5 property flags.
var propFlagNames = []string{"user-property", "content-type", "response-topic", "correlation-data", "expiry", "payload-format"}

// propFlags names the property flags given, for messages: "-content-type, -expiry".
func (o *pubOptions) propFlags(fs *flag.FlagSet) string {
	var given []string
	for _, n := range propFlagNames {
		if flagWasSet(fs, n) {
			given = append(given, "-"+n)
		}
	}
	return strings.Join(given, ", ")
}

// buildProps checks the property flags and makes o.props from them (nil when none was given).
func (o *pubOptions) buildProps(fs *flag.FlagSet) error {
	if o.propFlags(fs) == "" {
		return nil
	}
	p := &core.Properties{User: o.userProps, ContentType: o.contentType, ResponseTopic: o.responseTopic}
	if flagWasSet(fs, "correlation-data") {
		p.CorrelationData = []byte(o.correlation)
	}
	if o.responseTopic != "" {
		if err := core.ValidateTopic(o.responseTopic); err != nil {
			return usagef(fs, "-response-topic: %v", err)
		}
	} else if flagWasSet(fs, "response-topic") {
		return usagef(fs, "-response-topic: give a topic, e.g. -response-topic replies/1")
	}
	if flagWasSet(fs, "expiry") {
		if o.expiry < 1 || o.expiry > math.MaxUint32 {
			return usagef(fs, "-expiry %d: give seconds from 1 to %d, or leave -expiry out for a message that never expires", o.expiry, uint32(math.MaxUint32))
		}
		v := uint32(o.expiry)
		p.MessageExpiry = &v
	}
	if flagWasSet(fs, "payload-format") {
		if o.payloadFormat != 0 && o.payloadFormat != 1 {
			return usagef(fs, "-payload-format %d: use 0 (unspecified bytes) or 1 (UTF-8 text)", o.payloadFormat)
		}
		v := byte(o.payloadFormat)
		p.PayloadFormat = &v
	}
	o.props = p
	return nil
}

// refusalText describes a broker's MQTT 5 refusal: "PUBACK Not authorized (0x87)", with the
// broker's reason string when it sent one.
func refusalText(r *core.ReasonError) string {
	s := fmt.Sprintf("%s %s (0x%02X)", r.Packet, r.Code, byte(r.Code))
	if r.Reason != "" {
		s += fmt.Sprintf(": %q", r.Reason)
	}
	if r.ServerReference != "" {
		s += "; the broker names " + r.ServerReference
	}
	return s
}

// publishError is the error of a message that failed: a broker's refusal is named with its
// reason code.
func publishError(label, topic string, err error) error {
	var r *core.ReasonError
	if errors.As(err, &r) && r.Packet != "CONNACK" && r.Packet != "DISCONNECT" {
		return fmt.Errorf("%s to %q refused by %s: %s", label, topic, r.Endpoint, refusalText(r))
	}
	return fmt.Errorf("%s: %w", label, err)
}

// waitLive waits until the named endpoint is live.
func waitLive(ctx context.Context, cl *core.Cluster, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !slices.Contains(cl.LiveEndpoints(), name) {
		select {
		case <-ctx.Done():
			for _, s := range cl.Stats() {
				if s.Name == name {
					why := s.State.String()
					if s.LastError != "" {
						why += ": " + s.LastError
					}
					return fmt.Errorf("endpoint %q (%s) is not live after %v (%s); -name publishes to that endpoint only: drop -name to use the whole cluster",
						name, s.URI, timeout, why)
				}
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func endpointNames(cl *core.Cluster) []string {
	var names []string
	for _, s := range cl.Stats() {
		names = append(names, s.Name)
	}
	return names
}

// messageSource yields the payloads to publish; label names a message in errors.
type messageSource interface {
	next() (payload []byte, label string, ok bool, err error)
	total() int // 0 when unknown
}

// countSource yields count copies of a template, {seq} replaced by the sequence number.
type countSource struct {
	tmpl    string
	hasSeq  bool
	count   int
	size    int
	seq     int
	fixed   []byte
	scratch []byte
}

func newCountSource(tmpl string, count, size int) *countSource {
	s := &countSource{tmpl: tmpl, hasSeq: strings.Contains(tmpl, "{seq}"), count: count, size: size}
	if !s.hasSeq {
		s.fixed = pad([]byte(tmpl), size)
	}
	return s
}

func (s *countSource) total() int { return s.count }

func (s *countSource) next() ([]byte, string, bool, error) {
	if s.seq >= s.count {
		return nil, "", false, nil
	}
	s.seq++
	label := "message " + strconv.Itoa(s.seq)
	if !s.hasSeq {
		return s.fixed, label, true, nil
	}
	p := []byte(strings.ReplaceAll(s.tmpl, "{seq}", strconv.Itoa(s.seq)))
	return pad(p, s.size), label, true, nil
}

func pad(p []byte, size int) []byte {
	for len(p) < size {
		p = append(p, '.')
	}
	return p
}

// lineSource yields the non-blank lines of a reader.
type lineSource struct {
	r    *bufio.Reader
	line int
}

func newLineSource(r io.Reader) *lineSource { return &lineSource{r: bufio.NewReaderSize(r, 64<<10)} }

func (s *lineSource) total() int { return 0 }

// maxLineSize bounds one line of -f/-l: the largest payload MQTT can carry. A source without
// newlines (say /dev/zero) fails at that size instead of exhausting memory.
var maxLineSize = core.MaxPayloadSize

func (s *lineSource) next() ([]byte, string, bool, error) {
	for {
		b, err := s.readLine()
		if len(b) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return nil, "", false, nil
			}
			return nil, "", false, fmt.Errorf("reading line %d: %w", s.line+1, err)
		}
		s.line++
		b = []byte(strings.TrimRight(string(b), "\r\n"))
		if len(b) == 0 {
			continue
		}
		return b, "line " + strconv.Itoa(s.line), true, nil
	}
}

// readLine reads up to and including the next newline, refusing a line above maxLineSize.
func (s *lineSource) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLineSize+2 { // the payload and its line end
			return nil, fmt.Errorf("line %d is longer than %d bytes, the largest MQTT payload: is this a text file?", s.line+1, maxLineSize)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// openLines opens the source of -f/-l.
func openLines(e *env, file string, stdin bool) (io.Reader, func(), error) {
	if stdin || file == "-" {
		return e.stdin, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, fmt.Errorf("-f: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// pending is a message handed to the cluster and not yet known delivered.
type pending struct {
	label string
	tok   *core.Token // nil when the outcome is already known (PublishTo)
	err   error
	via   []string
	sent  time.Time
}

// pubCounters are the load-mode counters shown in the progress line. stored counts messages
// the outbox holds that no broker acknowledged within the timeout.
type pubCounters struct {
	sent, acked, failed, stored atomic.Int64
}

// publishAll publishes every message of src through cl with at most o.inflight awaiting their
// acknowledgement, stops at the first failure, and reports progress on stderr.
func publishAll(ctx context.Context, e *env, cl *core.Cluster, o *pubOptions, src messageSource) error {
	var c pubCounters
	start := time.Now()
	window := make(chan pending, o.inflight)
	var firstErr error
	var firstOnce sync.Once
	failed := make(chan struct{})
	fail := func(err error) {
		firstOnce.Do(func() {
			firstErr = err
			close(failed)
		})
	}
	var lastEndpoints []string
	ob := cl.Outbox()
	timeout := cl.Config().TimeToWait
	var held []pending // stored, not acknowledged within the timeout: the outbox keeps them
	outcome := func(p pending) {
		err := p.err
		if err == nil {
			lastEndpoints = p.via
		}
		if p.tok != nil {
			err = p.tok.Err()
			lastEndpoints = p.tok.Endpoints()
		}
		if err != nil {
			c.failed.Add(1)
			fail(publishError(p.label, o.topic, err))
			return
		}
		c.acked.Add(1)
	}
	collected := make(chan struct{})
	go func() { // collects outcomes in publish order
		defer close(collected)
		// Once one stored message was not acknowledged within the timeout, no broker is taking
		// messages: the next ones are not waited for one by one, but all together at the end.
		outage := false
		for p := range window {
			if p.tok != nil && p.tok.Stored() {
				if !outage && !waitDone(ctx, p.tok, p.sent.Add(timeout)) {
					outage = true
				}
				select {
				case <-p.tok.Done():
				default:
					held = append(held, p)
					c.stored.Add(1)
					continue
				}
			}
			outcome(p)
		}
		// Each held message gets its timeout from when it was published.
		for _, p := range held {
			if waitDone(ctx, p.tok, p.sent.Add(timeout)) {
				c.stored.Add(-1)
				outcome(p)
			}
		}
	}()

	stopProgress := func() {}
	if o.progress {
		stopProgress = startProgress(e, o.stderrTTY, &c, src.total(), start)
	}

	var sendErr error
	qos := byte(o.qos)
	pace := newPacer(o.rate, start)
send:
	for {
		if err := pace.wait(ctx, c.sent.Load()); err != nil {
			sendErr = err
			break
		}
		payload, label, ok, err := src.next()
		if err != nil {
			sendErr = err
			break
		}
		if !ok {
			break
		}
		var p pending
		if o.name != "" {
			p = pending{label: label, err: cl.PublishToWith(ctx, o.name, o.topic, qos, o.retain, payload, o.props), via: []string{o.name}}
		} else {
			p = pending{label: label, tok: cl.PublishAsyncWith(o.topic, qos, o.retain, payload, o.props), sent: time.Now()}
		}
		c.sent.Add(1)
		select {
		case window <- p:
		case <-failed:
			window <- p // room is guaranteed soon: the collector keeps draining
			break send
		case <-ctx.Done():
			window <- p
			sendErr = ctx.Err()
			break send
		}
		select {
		case <-failed:
			break send
		default:
		}
	}
	close(window)
	<-collected
	stopProgress()

	elapsed := time.Since(start)
	if o.progress || (!o.quiet && firstErr == nil && sendErr == nil) {
		report(e, o, &c, elapsed, lastEndpoints, ob, timeout)
	}
	// A message a memory outbox still holds ends with this command: not delivered.
	lost := ob != nil && ob.Stats().Dir == "" && c.stored.Load() > 0
	switch {
	case firstErr != nil:
		return firstErr
	case sendErr != nil && errors.Is(sendErr, context.Canceled):
		stored := ""
		if n := c.stored.Load(); n > 0 && !lost {
			stored = fmt.Sprintf("; %d stored in the %s", n, outboxName(ob))
		}
		return fmt.Errorf("interrupted after %d of %s messages%s", c.acked.Load(), totalText(src.total()), stored)
	case sendErr != nil:
		return sendErr
	case lost:
		n := c.stored.Load()
		return fmt.Errorf("%d %s not delivered: no broker acknowledged %s within %v, and a memory outbox ends with this command; give the cluster a disk outbox (outbox.dir) to keep messages for the next run",
			n, plural(int(n), "message", "messages"), plural(int(n), "it", "them"), timeout)
	}
	return nil
}

// waitDone waits until tok is done or until deadline (or ctx ends); it reports whether tok
// is done.
func waitDone(ctx context.Context, tok *core.Token, deadline time.Time) bool {
	select {
	case <-tok.Done():
		return true
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-tok.Done():
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}

func totalText(n int) string {
	if n == 0 {
		return "the"
	}
	return strconv.Itoa(n)
}

// report prints what was published: delivered (a broker acknowledged it) or, with an outbox,
// stored (the outbox holds it until a broker does).
func report(e *env, o *pubOptions, c *pubCounters, elapsed time.Duration, endpoints []string, ob *core.Outbox, timeout time.Duration) {
	stored := c.stored.Load()
	switch {
	case !o.progress && stored == 0:
		via := strings.Join(endpoints, ", ")
		if via == "" {
			via = "?"
		}
		fmt.Fprintf(e.stderr, "published to %q (qos %d%s) via %s\n", o.topic, o.qos, retainedText(o.retain), via)
	case !o.progress && ob.Stats().Dir != "":
		fmt.Fprintf(e.stderr, "stored %q (qos %d%s) in the %s: no broker acknowledged it within %v; it is sent, in order, when the cluster runs again with this outbox (hamqtt start, hamqtt pub)\n",
			o.topic, o.qos, retainedText(o.retain), outboxName(ob), timeout)
	case !o.progress:
		// a memory outbox: the error says it
	default:
		storedText := ""
		if stored > 0 {
			storedText = fmt.Sprintf(", %d stored in the %s (not acknowledged yet)", stored, outboxName(ob))
		}
		fmt.Fprintf(e.stderr, "published %d messages to %q in %v (%.0f msg/s): %d acknowledged%s, %d failed\n",
			c.sent.Load(), o.topic, elapsed.Round(time.Millisecond), float64(c.acked.Load())/max(elapsed.Seconds(), 1e-9),
			c.acked.Load(), storedText, c.failed.Load())
	}
	if ob == nil || ob.Stats().Dir == "" {
		return
	}
	if st := ob.Stats(); st.Messages > int(stored) {
		fmt.Fprintf(e.stderr, "outbox %s: %d %s waiting in all, the oldest for %v\n", st.Dir, st.Messages,
			plural(st.Messages, "message", "messages"), st.OldestAge().Round(time.Millisecond))
	}
}

func retainedText(r bool) string {
	if r {
		return ", retained"
	}
	return ""
}

// pacer spaces sends to a rate.
type pacer struct {
	rate  float64
	start time.Time
}

func newPacer(rate float64, start time.Time) *pacer { return &pacer{rate: rate, start: start} }

// wait blocks until message number sent+1 is due.
func (p *pacer) wait(ctx context.Context, sent int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.rate <= 0 {
		return nil
	}
	due := p.start.Add(time.Duration(float64(sent) / p.rate * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startProgress shows a progress line on stderr: rewritten in place on a terminal, a new line
// every second otherwise. The returned function stops it.
func startProgress(e *env, tty bool, c *pubCounters, total int, start time.Time) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := time.Second
		if tty {
			every = 200 * time.Millisecond
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(e.stderr, "\r\x1b[K")
				}
				return
			case <-t.C:
				line := progressLine(c, total, time.Since(start))
				if tty {
					fmt.Fprintf(e.stderr, "\r\x1b[K%s", line)
				} else {
					fmt.Fprintln(e.stderr, line)
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

func progressLine(c *pubCounters, total int, elapsed time.Duration) string {
	sent := c.sent.Load()
	of := ""
	if total > 0 {
		of = fmt.Sprintf("/%d (%.0f%%)", total, 100*float64(sent)/float64(total))
	}
	stored := ""
	if n := c.stored.Load(); n > 0 {
		stored = fmt.Sprintf("  stored %d", n)
	}
	return fmt.Sprintf("sent %d%s  acked %d%s  failed %d  %.0f msg/s  %v",
		sent, of, c.acked.Load(), stored, c.failed.Load(), float64(c.acked.Load())/max(elapsed.Seconds(), 1e-9), elapsed.Round(100*time.Millisecond))
}

// printWarnings prints config warnings on stderr.
func printWarnings(e *env, cmd string, warnings []string, quiet bool) {
	if quiet {
		return
	}
	for _, w := range warnings {
		fmt.Fprintf(e.stderr, "hamqtt %s: warning: %s\n", cmd, w)
	}
}
