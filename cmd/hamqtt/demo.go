package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamqtt/hamqtt/core"
	"github.com/hamqtt/hamqtt/internal/brokertest"
)

const demoSynopsis = `hamqtt demo [-duration D] [-rate R] [-brokers N] [-down D] [-up D] [-drain D] [-qos Q] [-plain] [-v]`

const demoHelp = `The demo starts N local Mosquitto brokers on free loopback ports, an HA publisher (publisher
type ALL, QoS 1, sequence numbers in the payload) and an HA subscriber (FoS 0, de-duplication on)
across them. While messages flow it SIGKILLs one broker at a time, keeps it down for -down,
restarts it, waits until both clients use it again, and lets -up pass before the next kill.

A terminal gets a live view, refreshed in place; any other output gets plain progress lines.
At the end the publisher stops, the subscriber gets -drain to receive what is still in transit,
and a summary follows. Every broker the demo started is removed, also on Ctrl-C.

  sent          messages handed to the publisher
  acked         messages at least one broker acknowledged (the publisher's promise)
  received      distinct messages the subscriber's application got
  duplicated    messages the application got more than once
  lost          acknowledged messages never received (judged after the drain)
  failovers     times a client lost a broker and carried on through the others

Exit status 0 only when nothing acknowledged was lost; 1 otherwise or when the demo could not
run (for example Mosquitto is missing: run scripts/install-deps.sh or set HAMQTT_MOSQUITTO).

Examples:
  hamqtt demo
  hamqtt demo -duration 2m -rate 2000
  hamqtt demo -duration 10s -plain`

type demoOptions struct {
	duration time.Duration
	rate     float64
	brokers  int
	down     time.Duration
	up       time.Duration
	drain    time.Duration
	qos      int
	plain    bool
	verbose  bool
}

func runDemo(ctx context.Context, e *env, args []string) error {
	var o demoOptions
	fs := newFlagSet(e, "demo", demoSynopsis, demoHelp)
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to publish")
	fs.Float64Var(&o.rate, "rate", 500, "`R` messages per second the publisher sends")
	fs.IntVar(&o.brokers, "brokers", 3, "number of Mosquitto brokers, `N` >= 2")
	fs.DurationVar(&o.down, "down", 2*time.Second, "how long a killed broker stays down")
	fs.DurationVar(&o.up, "up", 3*time.Second, "calm time before the first kill and after each broker is back")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "how long the subscriber may take to receive what is in transit at the end")
	fs.IntVar(&o.qos, "qos", 1, "`QoS` of the messages, 1 or 2")
	fs.BoolVar(&o.plain, "plain", false, "plain progress lines even on a terminal")
	fs.BoolVar(&o.verbose, "v", false, "log the clients' endpoint changes to stderr (implies -plain)")
	rest, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef(fs, "unexpected argument %q", rest[0])
	case o.duration <= 0:
		return usagef(fs, "-duration %v: give a positive duration such as 30s", o.duration)
	case o.rate <= 0:
		return usagef(fs, "-rate %v: give a positive number of messages per second", o.rate)
	case o.brokers < 2 || o.brokers > 16:
		return usagef(fs, "-brokers %d: use 2 to 16 (one broker is killed at a time; the others carry the traffic)", o.brokers)
	case o.down <= 0 || o.up <= 0:
		return usagef(fs, "-down and -up must be positive durations such as 2s")
	case o.drain < 0:
		return usagef(fs, "-drain %v: give a duration such as 5s", o.drain)
	case o.qos != 1 && o.qos != 2:
		return usagef(fs, "-qos %d: use 1 or 2 (QoS 0 has no acknowledgement, so nothing could be judged lost)", o.qos)
	}
	d := &demo{o: o, e: e, live: !o.plain && !o.verbose && isTerminal(e.stdoutFile)}
	return d.run(ctx)
}

// demo is one run of the demo.
type demo struct {
	o    demoOptions
	e    *env
	live bool // live view in place (terminal) rather than progress lines

	start   time.Time
	brokers []*brokertest.Broker
	names   []string
	pub     *core.Cluster
	sub     *core.Cluster
	topic   string

	track tracker
	log   eventLog
	kills atomic.Int64
	phase atomic.Value // string
	outMu sync.Mutex   // serialises writes to stdout
	lines int          // lines of the last live view, to redraw in place
}

func (d *demo) run(ctx context.Context) (err error) {
	d.start = time.Now()
	d.phase.Store("starting brokers")
	d.log.d = d
	var id [4]byte
	_, _ = rand.Read(id[:])
	d.topic = "hamqtt/demo/" + hex.EncodeToString(id[:])

	if _, err := brokertest.MosquittoPath(); err != nil {
		return fmt.Errorf("the demo needs Mosquitto: run scripts/install-deps.sh (or apt-get install mosquitto), or point $HAMQTT_MOSQUITTO at the binary: %w", err)
	}
	fmt.Fprintf(d.e.stdout, "hamqtt demo: starting %d Mosquitto brokers on loopback...\n", d.o.brokers)
	defer d.closeBrokers()
	for i := range d.o.brokers {
		if ctx.Err() != nil {
			return errors.New("interrupted while starting the brokers")
		}
		b, err := brokertest.New(brokertest.Options{})
		if err != nil {
			return fmt.Errorf("starting broker %d of %d: %w", i+1, d.o.brokers, err)
		}
		d.brokers = append(d.brokers, b)
		d.names = append(d.names, fmt.Sprintf("broker-%d", i+1))
		fmt.Fprintf(d.e.stdout, "  broker-%d  %s  (config and log in %s)\n", i+1, b.URI(), b.Dir())
	}

	if err := d.connect(ctx); err != nil {
		return err
	}
	defer d.closeClients()

	// Publishing phase: publisher, chaos and display run until -duration or Ctrl-C.
	d.phase.Store("publishing")
	pubStart := time.Now()
	runCtx, stopRun := context.WithTimeout(ctx, d.o.duration)
	defer stopRun()
	var wg sync.WaitGroup
	var inflight sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.publish(runCtx, &inflight) }()
	go func() { defer wg.Done(); d.chaos(runCtx) }()
	stopDisplay := d.startDisplay()
	<-runCtx.Done()
	interrupted := ctx.Err() != nil
	if interrupted {
		d.e.stopSignals() // a second Ctrl-C ends the process at once
		d.log.add("interrupted: stopping the publisher, then draining")
	}
	wg.Wait()
	publishTime := time.Since(pubStart)

	// Drain: wait for the last acknowledgements, then for the subscriber to catch up.
	d.phase.Store("waiting for acknowledgements")
	inflight.Wait()
	d.phase.Store("draining")
	drainStart := time.Now()
	d.waitDrained(d.o.drain)
	drained := time.Since(drainStart)
	d.phase.Store("done")
	stopDisplay()
	// Stats for the summary are read before the clients close.
	final := d.snapshot()
	d.closeClients()
	d.closeBrokers()
	d.summary(final, publishTime, drained, interrupted)
	if final.lost > 0 {
		return exitStatus(exitFailure)
	}
	if final.acked == 0 {
		fmt.Fprintln(d.e.stderr, "hamqtt demo: no message was acknowledged; the demo proved nothing")
		return exitStatus(exitFailure)
	}
	return nil
}

// connect starts the HA subscriber and publisher and waits until both use every broker.
func (d *demo) connect(ctx context.Context) error {
	eps := make([]core.EndpointConfig, len(d.brokers))
	for i, b := range d.brokers {
		eps[i] = core.EndpointConfig{Name: d.names[i], URI: b.URI()}
	}
	base := core.Config{
		Endpoints:     eps,
		ProbeDelay:    100 * time.Millisecond,
		MaxProbeDelay: time.Second,
		AckTimeout:    2 * time.Second,
		FlapLimit:     -1, // the demo kills brokers on purpose; quarantine would only slow it down
	}
	if d.o.verbose {
		base.Logger = cliLogger(d.e.stderr, true)
	}
	subCfg := base
	subCfg.Name, subCfg.Dedup, subCfg.FoS = "demo-subscriber", true, 0
	pubCfg := base
	pubCfg.Name, pubCfg.PublisherType = "demo-publisher", core.All

	var err error
	if d.sub, err = core.New(subCfg); err != nil {
		return err
	}
	if d.pub, err = core.New(pubCfg); err != nil {
		return err
	}
	d.sub.SetHandlers(core.Handlers{
		OnMessage:      d.track.onMessage,
		OnEndpointUp:   func(ep string) { d.log.add("subscriber: %s up", ep) },
		OnEndpointDown: func(ep string, err error) { d.track.down(ep); d.log.add("subscriber: %s down, carrying on", ep) },
	})
	d.pub.SetHandlers(core.Handlers{
		OnEndpointUp:   func(ep string) { d.log.add("publisher: %s up", ep) },
		OnEndpointDown: func(ep string, err error) { d.track.down(ep); d.log.add("publisher: %s down, carrying on", ep) },
	})
	if err := d.sub.Connect(ctx); err != nil {
		return fmt.Errorf("subscriber: %w", err)
	}
	if err := d.sub.Subscribe(ctx, d.topic, byte(d.o.qos), nil); err != nil {
		return fmt.Errorf("subscriber: %w", err)
	}
	if err := d.pub.Connect(ctx); err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	for _, n := range d.names {
		if err := d.waitBothLive(ctx, n, 15*time.Second); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.e.stdout, "hamqtt demo: publisher (ALL, QoS %d, %g msg/s) and subscriber (FoS 0, dedup) use all %d brokers; topic %s\n",
		d.o.qos, d.o.rate, len(d.brokers), d.topic)
	return nil
}

// waitBothLive waits until both clients have the named endpoint on their live list.
func (d *demo) waitBothLive(ctx context.Context, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !slices.Contains(d.pub.LiveEndpoints(), name) || !slices.Contains(d.sub.LiveEndpoints(), name) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not live for both clients within %v (publisher live: %s; subscriber live: %s)",
				name, timeout, listOrNone(d.pub.LiveEndpoints()), listOrNone(d.sub.LiveEndpoints()))
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, dur time.Duration) error {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publish sends sequence-numbered messages at the configured rate until ctx ends.
func (d *demo) publish(ctx context.Context, inflight *sync.WaitGroup) {
	// Bound what waits for acknowledgements, so a stuck cluster slows the publisher down
	// instead of piling up goroutines.
	window := make(chan struct{}, 20000)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	seq := 0
	for {
		due := int(time.Since(start).Seconds()*d.o.rate) + 1
		for seq < due {
			select {
			case window <- struct{}{}:
			case <-ctx.Done():
				return
			}
			seq++
			payload := "seq=" + strconv.Itoa(seq) + " at=" + strconv.FormatInt(time.Now().UnixNano(), 10)
			d.track.sent(seq)
			tok := d.pub.PublishAsync(d.topic, byte(d.o.qos), false, []byte(payload))
			inflight.Add(1)
			go func(seq int) {
				defer inflight.Done()
				<-tok.Done()
				d.track.outcome(seq, tok.Err())
				<-window
			}(seq)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// chaos kills and restarts the brokers one at a time until ctx ends; a broker down at the
// end is restarted.
func (d *demo) chaos(ctx context.Context) {
	if sleepCtx(ctx, d.o.up) != nil {
		return
	}
	for k := 0; ; k++ {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d.o.down+500*time.Millisecond {
			return // not enough time left to bring it back
		}
		i := k % len(d.brokers)
		b, name := d.brokers[i], d.names[i]
		d.log.add("kill %s (SIGKILL, port %d)", name, b.Port())
		if err := b.Kill(); err != nil {
			d.log.add("kill %s failed: %v", name, err)
			return
		}
		d.kills.Add(1)
		_ = sleepCtx(ctx, d.o.down)
		d.log.add("restart %s", name)
		if err := b.Restart(); err != nil {
			d.log.add("restart %s failed: %v", name, err)
			return
		}
		back := time.Now()
		if err := d.waitBothLive(ctx, name, 30*time.Second); err != nil {
			if ctx.Err() == nil {
				d.log.add("%v", err)
			}
			return
		}
		d.log.add("%s live again for publisher and subscriber after %v", name, time.Since(back).Round(time.Millisecond))
		if sleepCtx(ctx, d.o.up) != nil {
			return
		}
	}
}

// waitDrained waits until every acknowledged message was received, or timeout.
func (d *demo) waitDrained(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for d.track.pendingCount() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *demo) closeClients() {
	if d.pub != nil {
		d.pub.Close()
	}
	if d.sub != nil {
		d.sub.Close()
	}
}

func (d *demo) closeBrokers() {
	for i, b := range d.brokers {
		if err := b.Close(); err != nil {
			fmt.Fprintf(d.e.stderr, "hamqtt demo: removing %s: %v\n", d.names[i], err)
		}
	}
	d.brokers = nil
}

// tracker accounts for every sequence number: acknowledged, received, duplicated.
type tracker struct {
	mu       sync.Mutex
	ackedAt  []int64  // by seq: unix nanos of the acknowledgement, 0 if none (yet)
	recv     []uint32 // by seq: deliveries to the application
	nSent    int
	nAcked   int
	nFailed  int
	nUnique  int
	nDup     int
	nMatched int // acknowledged and received
	scanFrom int // every seq below is acknowledged-and-received or failed
	downs    map[string]int
	failErr  string
}

func (t *tracker) grow(seq int) {
	for len(t.ackedAt) <= seq {
		t.ackedAt = append(t.ackedAt, 0)
		t.recv = append(t.recv, 0)
	}
}

func (t *tracker) sent(seq int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.grow(seq)
	t.nSent++
}

func (t *tracker) outcome(seq int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.grow(seq)
	if err != nil {
		t.nFailed++
		if t.failErr == "" {
			t.failErr = err.Error()
		}
		t.ackedAt[seq] = -1
		return
	}
	t.nAcked++
	t.ackedAt[seq] = time.Now().UnixNano()
	if t.recv[seq] > 0 {
		t.nMatched++
	}
}

func (t *tracker) onMessage(m core.Message) {
	rest, ok := strings.CutPrefix(string(m.Payload), "seq=")
	if !ok {
		return
	}
	num, _, _ := strings.Cut(rest, " ")
	seq, err := strconv.Atoi(num)
	if err != nil || seq <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.grow(seq)
	t.recv[seq]++
	if t.recv[seq] > 1 {
		t.nDup++
		return
	}
	t.nUnique++
	if t.ackedAt[seq] > 0 {
		t.nMatched++
	}
}

// down counts a client losing endpoint ep.
func (t *tracker) down(ep string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.downs == nil {
		t.downs = map[string]int{}
	}
	t.downs[ep]++
}

func (t *tracker) pendingCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nAcked - t.nMatched
}

// overdue counts acknowledged messages not received although acknowledged more than age ago,
// and returns the first of them.
func (t *tracker) overdue(age time.Duration) (n, first int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	limit := time.Now().Add(-age).UnixNano()
	for t.scanFrom < len(t.ackedAt) && (t.scanFrom == 0 || t.ackedAt[t.scanFrom] == -1 || (t.ackedAt[t.scanFrom] > 0 && t.recv[t.scanFrom] > 0)) {
		t.scanFrom++
	}
	for seq := t.scanFrom; seq < len(t.ackedAt); seq++ {
		if a := t.ackedAt[seq]; a > 0 && a < limit && t.recv[seq] == 0 {
			if n == 0 {
				first = seq
			}
			n++
		}
	}
	return n, first
}

// demoSnapshot is what the view and the summary show.
type demoSnapshot struct {
	elapsed                                time.Duration
	phase                                  string
	sent, acked, failed, unique, dup, lost int
	pending, firstLost                     int
	failErr                                string
	copies                                 uint64
	failovers                              int
	kills                                  int64
	rows                                   []endpointRow
}

type endpointRow struct {
	name, uri   string
	brokerUp    bool
	pubState    string
	subState    string
	sent, acked uint64
	received    uint64
	failovers   int
}

func (d *demo) snapshot() demoSnapshot {
	s := demoSnapshot{elapsed: time.Since(d.start), phase: d.phase.Load().(string), kills: d.kills.Load()}
	age := d.o.drain
	if s.phase == "done" {
		age = 0 // after the drain, whatever is missing is lost
	}
	lost, first := d.track.overdue(age)
	t := &d.track
	t.mu.Lock()
	s.sent, s.acked, s.failed, s.unique, s.dup = t.nSent, t.nAcked, t.nFailed, t.nUnique, t.nDup
	s.pending = t.nAcked - t.nMatched - lost
	s.failErr = t.failErr
	downs := copyCounts(t.downs)
	t.mu.Unlock()
	s.lost, s.firstLost = lost, first

	pubStats, subStats := statsByName(d.pub), statsByName(d.sub)
	var delivered uint64
	for i, name := range d.names {
		r := endpointRow{name: name, failovers: downs[name]}
		if i < len(d.brokers) {
			r.uri, r.brokerUp = d.brokers[i].URI(), d.brokers[i].Running()
		}
		if p, ok := pubStats[name]; ok {
			r.pubState, r.sent, r.acked = p.State.String(), p.Published, p.Acked
			r.failovers += int(p.Failovers)
		}
		if q, ok := subStats[name]; ok {
			r.subState, r.received = q.State.String(), q.Received
			delivered += q.Received
		}
		s.failovers += r.failovers
		s.rows = append(s.rows, r)
	}
	if total := uint64(s.unique + s.dup); delivered > total {
		s.copies = delivered - total
	}
	return s
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func statsByName(cl *core.Cluster) map[string]core.EndpointStats {
	out := map[string]core.EndpointStats{}
	if cl == nil {
		return out
	}
	for _, s := range cl.Stats() {
		out[s.Name] = s
	}
	return out
}

// eventLog keeps the recent demo events for the live view, or prints them as they happen.
type eventLog struct {
	d      *demo
	mu     sync.Mutex
	recent []string
}

func (l *eventLog) add(format string, args ...any) {
	line := fmt.Sprintf("%6.1fs  %s", time.Since(l.d.start).Seconds(), fmt.Sprintf(format, args...))
	l.mu.Lock()
	l.recent = append(l.recent, line)
	if len(l.recent) > 6 {
		l.recent = l.recent[len(l.recent)-6:]
	}
	l.mu.Unlock()
	if !l.d.live {
		l.d.outMu.Lock()
		fmt.Fprintln(l.d.e.stdout, line)
		l.d.outMu.Unlock()
	}
}

func (l *eventLog) last() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recent)
}
