// Package churn runs cross-process churn trials against real Mosquitto brokers: a subscriber
// process and a publisher process, written against any of the project's APIs, stream QoS 1
// messages through a virtual cluster of three brokers while a seeded killer SIGKILLs and
// restarts the brokers (and, in the crash schedule, the publisher). The trial then counts what
// the publisher was promised (acknowledged, or stored in its outbox) and what the subscriber
// received.
//
// The clients speak a line protocol on stdout (one line each, flushed at once; anything else
// goes to stderr):
//
//	subscriber  READY            once its subscription is acknowledged
//	            MSG <seq>        for every delivered message (the payload is the decimal seq,
//	                             optionally followed by a space and padding)
//	            and exits 0 on SIGTERM
//	publisher   STORED <seq>     the API reported the message stored in its outbox (for a disk
//	                             outbox: as durable as its sync policy makes it), which promises
//	                             delivery as an acknowledgement does; printed as soon as the API
//	                             says so (Go: PublishAsync returned a token whose Stored() is
//	                             true; a blocking publish that ended with ErrStored), before the
//	                             message's ACK or FAIL
//	            ACK <seq>        the API reported the message acknowledged by a broker
//	            QUEUED <seq>     the API accepted it for later sending without storing it
//	                             (APIs that queue in memory; not printed for a STORED message)
//	            FAIL <seq> <why> the API reported that it failed
//	            DONE             every publish is resolved, the messages its outbox recovered
//	                             from an earlier process included (or the client's own deadline
//	                             passed); then it exits 0
//
// A message is lost when it was promised and never received: lost = (ACK ∪ STORED) − MSG, by
// sequence number. A STORED message counts even if a FAIL follows it: the outbox
// configuration neither drops stored messages (a full outbox refuses new ones, which are never
// STORED) nor expires them, so a FAIL after STORED is itself a broken promise.
//
// A command template names each client; its placeholders are {brokers}
// (127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3), {uris} (tcp://127.0.0.1:p1,...), {topic},
// {count}, {rate}, {config}, {seed}, {outbox} and {start}:
//
//	{outbox}  a directory made empty for the trial, the same for every publisher process of the
//	          trial: a configuration with a disk outbox keeps it there, so that a publisher
//	          started again finds what its predecessor stored. It is removed after the trial,
//	          unless the trial failed and the directory is not empty (the log names it).
//	{start}   the first sequence number the publisher publishes: 0, and for a publisher started
//	          again after a crash one more than the highest sequence number its predecessors
//	          reported STORED or ACK. A publisher publishes {start}..{count}-1 at {rate}, paced
//	          from its own start.
//
// Templates are split into words like a shell's simple command (quotes and backslashes;
// leading NAME=value words set the environment) and run without a shell, each client in a
// process group of its own.
//
// The project's clients (Go, C, Python, Node) share one argument shape, which the churn
// command's -client builds: `CLIENT pub|sub --brokers {brokers} --topic {topic} --count {count}
// --rate {rate} --config {config}`, and for a publisher in an outbox configuration (a config
// named outbox or outbox-*) or the crash schedule also `--outbox {outbox} --start {start}`
// (a client accepts both in every configuration, and ignores --outbox where it keeps no
// outbox). Their configuration outbox is: the publisher keeps a disk outbox in --outbox DIR,
// every other setting (publisher type, sync policy, bounds) at its default, publishes
// asynchronously and prints STORED, then ACK or FAIL, per message; the subscriber
// de-duplicates (which drops the copies that arrive through different brokers; a message
// published twice through the same broker still arrives twice).
//
// The crash schedule (ScheduleCrash) SIGKILLs the publisher's process group during a total
// outage and starts the publisher again at once, while every broker is still down. A publisher
// in a configuration with a disk outbox must then: start without any broker reachable (no
// failure for want of one), recover the outbox in {outbox} and send what it holds when brokers
// return (it prints nothing for those messages: their sequence numbers were its predecessor's,
// and the subscriber's MSG lines account for them), publish {start}..{count}-1, and print DONE
// only once the recovered messages are resolved too. Messages the killed publisher stored
// without reporting STORED are published again by the new one: duplicates, which the
// subscriber delivers unless it recognises them. While brokers are down a publisher with an
// outbox must not give up on its stored messages: its own deadline has to outlast any outage
// (the trial's Timeout bounds it).
package churn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// Limits are the assertions a trial is held to; a negative maximum is not checked.
type Limits struct {
	MaxLost    int  // acknowledged messages never received
	MaxDup     int  // received copies beyond the first of each message
	CheckOrder bool // no first arrival may come after a higher sequence number
}

// DefaultLimits are those of the churn command: no acknowledged message lost, duplicates and
// order not checked.
var DefaultLimits = Limits{MaxLost: 0, MaxDup: -1}

// Options describe one trial. Zero values take the defaults given beside them.
type Options struct {
	Pub, Sub string // command templates of the publisher and the subscriber (required)
	Config   string // passed to the clients as {config} ("default")
	Label    string // the API's name in reports (the publisher program's base name)

	Seed     uint64        // seeds the killer's random choices
	Count    int           // messages to publish (1500)
	Rate     float64       // publish rate in messages per second (100)
	Schedule string        // ScheduleChurn (default), ScheduleOutage, ScheduleCrash, ScheduleDouble, ScheduleNone
	Outage   time.Duration // how long ScheduleOutage and ScheduleCrash keep every broker down (8s)

	// Timeout bounds the whole trial (default: three times the publishing time, plus the
	// outage, plus one minute).
	Timeout time.Duration
	// ReadyTimeout bounds the wait for the subscriber's READY (30s).
	ReadyTimeout time.Duration
	// Quiet ends the wait for missing messages after DONE when no message arrived for this
	// long (10s).
	Quiet time.Duration
	// Grace is how long a client may take to exit after SIGTERM (or the publisher after DONE)
	// before it is SIGKILLed (10s).
	Grace time.Duration

	Limits Limits // checked into Result.Failures

	// Brokers, when set, are the brokers of the trial instead of three new Mosquitto brokers
	// (any mix of brokertest's implementations, e.g. Mosquitto, RabbitMQ and aedes). The trial
	// kills and restarts them, leaves them running and does not close them.
	Brokers []brokertest.Server

	LogDir   string    // where the trial's log file goes (os.TempDir()/hamqtt-churn)
	Dir      string    // the clients' working directory (the current one)
	Env      []string  // added to the clients' environment
	Progress io.Writer // receives a line when the trial starts (its seed); nil discards it
}

// Result is the outcome of one trial.
type Result struct {
	Label    string `json:"label"`
	Config   string `json:"config"`
	Schedule string `json:"schedule"`
	Seed     uint64 `json:"seed"`

	Sent       int   `json:"sent"`         // messages the publisher was asked to publish
	Acked      int   `json:"acked"`        // distinct sequence numbers reported ACK
	Stored     int   `json:"stored"`       // distinct sequence numbers reported STORED
	Failed     int   `json:"failed"`       // distinct sequence numbers reported FAIL
	Queued     int   `json:"queued"`       // distinct sequence numbers reported QUEUED
	Unresolved int   `json:"unresolved"`   // neither ACK nor FAIL when the publisher ended (nor Recovered)
	Received   int   `json:"received"`     // MSG lines
	Distinct   int   `json:"distinct"`     // distinct sequence numbers received
	Lost       int   `json:"lost"`         // acknowledged or stored, and never received
	LostSeqs   []int `json:"lost_seqs"`    // which
	Duplicates int   `json:"duplicates"`   // Received - Distinct
	OutOfOrder int   `json:"out_of_order"` // first arrivals below the highest first arrival before them
	// QueuedLost counts the messages reported QUEUED and never received, whatever the
	// publisher said of them later (the outage schedule's measure).
	QueuedLost     int      `json:"queued_lost"`
	QueuedLostSeqs []int    `json:"queued_lost_seqs,omitempty"`
	FailReasons    []string `json:"fail_reasons,omitempty"` // the first few FAIL reasons
	Kills          int      `json:"kills"`                  // broker SIGKILLs
	// Crashes counts the publisher's SIGKILLs (ScheduleCrash); Recovered the sequence numbers
	// a killed publisher reported STORED and not ACK or FAIL: its outbox hands them to the next
	// publisher, which reports no outcome for them.
	Crashes   int `json:"crashes,omitempty"`
	Recovered int `json:"recovered,omitempty"`
	// KillsByKind counts the SIGKILLs per broker implementation ("mosquitto", "rabbitmq",
	// "aedes").
	KillsByKind map[string]int `json:"kills_by_kind,omitempty"`

	PubDone   bool    `json:"pub_done"`   // the publisher printed DONE
	PubExit   int     `json:"pub_exit"`   // the publisher's exit code (-1: ended by a signal)
	PubStatus string  `json:"pub_status"` // as the system tells it
	SubExit   int     `json:"sub_exit"`
	SubStatus string  `json:"sub_status"`
	Seconds   float64 `json:"seconds"`
	Log       string  `json:"log"`              // the trial's log file
	Outbox    string  `json:"outbox,omitempty"` // {outbox}, when kept after a failed trial

	// Failures lists every way the trial failed: the harness's error, misbehaving clients,
	// and the Limits it broke. Empty when the trial passed.
	Failures []string `json:"failures,omitempty"`
}

// OK reports whether the trial passed.
func (r Result) OK() bool { return len(r.Failures) == 0 }

// Line is the one-line summary of the trial.
func (r Result) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s/%s seed=%d: sent %d acked %d", r.Label, r.Config, r.Schedule, r.Seed, r.Sent, r.Acked)
	if r.Stored > 0 {
		fmt.Fprintf(&b, " stored %d", r.Stored)
	}
	fmt.Fprintf(&b, " received %d lost %d dup %d out-of-order %d kills %d",
		r.Received, r.Lost, r.Duplicates, r.OutOfOrder, r.Kills)
	if r.Crashes > 0 {
		fmt.Fprintf(&b, " pub-crashes %d recovered %d", r.Crashes, r.Recovered)
	}
	if r.Failed > 0 {
		fmt.Fprintf(&b, " failed %d", r.Failed)
	}
	if r.Unresolved > 0 {
		fmt.Fprintf(&b, " unresolved %d", r.Unresolved)
	}
	if r.Queued > 0 {
		fmt.Fprintf(&b, " queued %d queued-but-lost %d", r.Queued, r.QueuedLost)
	}
	fmt.Fprintf(&b, " pub-exit %d (%.1fs)", r.PubExit, r.Seconds)
	if r.OK() {
		b.WriteString(" ok")
	} else {
		fmt.Fprintf(&b, " FAILED: %s", strings.Join(r.Failures, "; "))
	}
	return b.String()
}

func (o *Options) setDefaults() error {
	if o.Pub == "" || o.Sub == "" {
		return errors.New("churn: both a publisher and a subscriber command are needed")
	}
	if o.Config == "" {
		o.Config = "default"
	}
	if o.Label == "" {
		o.Label = labelOf(o.Pub)
	}
	if o.Count == 0 {
		o.Count = 1500
	}
	if o.Rate == 0 {
		o.Rate = 100
	}
	if o.Count < 0 || o.Rate < 0 {
		return fmt.Errorf("churn: count %d and rate %v must be positive", o.Count, o.Rate)
	}
	if o.Schedule == "" {
		o.Schedule = ScheduleChurn
	}
	if !slices.Contains(Schedules, o.Schedule) {
		return fmt.Errorf("churn: unknown schedule %q (one of %s)", o.Schedule, strings.Join(Schedules, ", "))
	}
	if o.Outage == 0 {
		o.Outage = 8 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 3*o.publishTime() + o.Outage + time.Minute
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	if o.Quiet == 0 {
		o.Quiet = 10 * time.Second
	}
	if o.Grace == 0 {
		o.Grace = 10 * time.Second
	}
	if o.LogDir == "" {
		o.LogDir = filepath.Join(os.TempDir(), "hamqtt-churn")
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// publishTime is how long the publisher needs at its rate.
func (o *Options) publishTime() time.Duration {
	return time.Duration(float64(o.Count) / o.Rate * float64(time.Second))
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// tally collects what the clients print.
type tally struct {
	mu sync.Mutex
	lg *trialLog

	acked, failed, queued, stored map[int]bool
	recovered                     map[int]bool // stored by a killed publisher, no outcome reported
	failReasons                   []string
	done                          chan struct{} // closed on DONE
	ready                         chan struct{} // closed on READY

	received   int
	first      map[int]bool
	maxFirst   int
	outOfOrder int
	lastMsg    time.Time
}

func newTally(lg *trialLog) *tally {
	return &tally{lg: lg, acked: map[int]bool{}, failed: map[int]bool{}, queued: map[int]bool{},
		stored: map[int]bool{}, recovered: map[int]bool{}, first: map[int]bool{},
		done: make(chan struct{}), ready: make(chan struct{}), maxFirst: -1 << 62}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (t *tally) pubLine(line string) {
	f := strings.Fields(line)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(f) == 1 && f[0] == "DONE" {
		t.lg.printf("pub: DONE")
		closeOnce(t.done)
		return
	}
	if len(f) >= 2 {
		if seq, err := strconv.Atoi(f[1]); err == nil {
			switch f[0] {
			case "ACK":
				t.acked[seq] = true
				return
			case "QUEUED":
				t.queued[seq] = true
				return
			case "STORED":
				t.stored[seq] = true
				return
			case "FAIL":
				t.failed[seq] = true
				why := strings.Join(f[2:], " ")
				if len(t.failReasons) < 5 {
					t.failReasons = append(t.failReasons, fmt.Sprintf("%d: %s", seq, why))
				}
				t.lg.printf("pub: FAIL %d %s", seq, why)
				return
			}
		}
	}
	t.lg.printf("pub stdout (not protocol): %s", line)
}

func (t *tally) subLine(line string) {
	f := strings.Fields(line)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(f) == 1 && f[0] == "READY" {
		t.lg.printf("sub: READY")
		closeOnce(t.ready)
		return
	}
	if len(f) >= 2 && f[0] == "MSG" {
		if seq, err := strconv.Atoi(f[1]); err == nil {
			t.received++
			t.lastMsg = time.Now()
			if !t.first[seq] {
				t.first[seq] = true
				if seq < t.maxFirst {
					t.outOfOrder++
				} else {
					t.maxFirst = seq
				}
			}
			return
		}
	}
	t.lg.printf("sub stdout (not protocol): %s", line)
}

// missing counts the promised messages not received yet, and says when the last message
// arrived.
func (t *tally) missing() (int, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for seq := range t.acked {
		if !t.first[seq] {
			n++
		}
	}
	for seq := range t.stored {
		if !t.acked[seq] && !t.first[seq] {
			n++
		}
	}
	return n, t.lastMsg
}

// resume is called once a killed publisher was reaped (every line it wrote is counted): it
// records the messages the publisher stored without an outcome, which its outbox hands to the
// next one, and returns that publisher's {start}.
func (t *tally) resume() (start, handed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	high := -1
	for _, m := range []map[int]bool{t.acked, t.stored} {
		for seq := range m {
			high = max(high, seq)
		}
	}
	for seq := range t.stored {
		if !t.acked[seq] && !t.failed[seq] && !t.recovered[seq] {
			t.recovered[seq] = true
			handed++
		}
	}
	return high + 1, handed
}

func sortedKeys(m map[int]bool, keep func(int) bool) []int {
	var out []int
	for k := range m {
		if keep(k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Run carries out one trial. The error is non-nil when the trial could not be carried out to
// the end (brokers that do not start, a client that cannot be started, no READY, the
// timeout, a publisher that exits without DONE); the Result then holds what was counted so far
// and the error is among its Failures too.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.setDefaults(); err != nil {
		return Result{}, err
	}
	start := time.Now()
	res := Result{Label: o.Label, Config: o.Config, Schedule: o.Schedule, Seed: o.Seed, Sent: o.Count,
		PubExit: -1, SubExit: -1}
	if err := os.MkdirAll(o.LogDir, 0o755); err != nil {
		return res, fmt.Errorf("churn: %w", err)
	}
	name := unsafeName.ReplaceAllString(fmt.Sprintf("churn-%s-%s-%s-seed%d-%s.log",
		o.Label, o.Config, o.Schedule, o.Seed, start.Format("150405.000")), "_")
	lg, err := newTrialLog(filepath.Join(o.LogDir, name), start)
	if err != nil {
		return res, fmt.Errorf("churn: %w", err)
	}
	defer lg.close()
	res.Log = lg.path
	fmt.Fprintf(o.Progress, "churn: %s/%s/%s seed %d (replay: -seed %d), log %s\n",
		o.Label, o.Config, o.Schedule, o.Seed, o.Seed, lg.path)
	lg.printf("harness: trial %s/%s/%s seed %d: %d messages at %v/s, timeout %v",
		o.Label, o.Config, o.Schedule, o.Seed, o.Count, o.Rate, o.Timeout)

	outbox, err := os.MkdirTemp("", "hamqtt-churn-outbox-")
	if err != nil {
		return res, fmt.Errorf("churn: %w", err)
	}
	err = run(ctx, &o, lg, &res, outbox)
	if err != nil {
		res.Failures = append([]string{err.Error()}, res.Failures...)
		lg.printf("harness: %v", err)
	}
	res.Failures = append(res.Failures, checkLimits(res, o.Limits)...)
	if left, _ := os.ReadDir(outbox); len(left) > 0 && !res.OK() {
		res.Outbox = outbox
		lg.printf("harness: the publisher's outbox is kept in %s", outbox)
	} else {
		os.RemoveAll(outbox)
	}
	res.Seconds = time.Since(start).Seconds()
	lg.printf("harness: %s", res.Line())
	return res, err
}

func checkLimits(r Result, l Limits) []string {
	var out []string
	if l.MaxLost >= 0 && r.Lost > l.MaxLost {
		out = append(out, fmt.Sprintf("lost %d > max-lost %d (seqs %s)", r.Lost, l.MaxLost, seqList(r.LostSeqs, 20)))
	}
	if l.MaxDup >= 0 && r.Duplicates > l.MaxDup {
		out = append(out, fmt.Sprintf("dup %d > max-dup %d", r.Duplicates, l.MaxDup))
	}
	if l.CheckOrder && r.OutOfOrder > 0 {
		out = append(out, fmt.Sprintf("out-of-order %d", r.OutOfOrder))
	}
	return out
}

func seqList(s []int, max int) string {
	var b strings.Builder
	for i, v := range s {
		if i == max {
			fmt.Fprintf(&b, " ... (%d more)", len(s)-max)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(v))
	}
	return b.String()
}

// run is the body of Run; it fills res as far as it gets. outbox is the trial's {outbox}.
func run(ctx context.Context, o *Options, lg *trialLog, res *Result, outbox string) (err error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	brokers := slices.Clone(o.Brokers)
	own := len(brokers) == 0
	defer func() {
		// The brokers' own logs go beside the trial's, whose tail stays the clients' story.
		var logs strings.Builder
		for i, b := range brokers {
			fmt.Fprintf(&logs, "---- %s log of broker %d (%s) ----\n%s", b.Kind(), i+1, b.Addr(), b.Log())
			if own {
				b.Close()
			}
		}
		if len(brokers) > 0 {
			name := ".mosquitto.log"
			if !own {
				name = ".brokers.log"
			}
			os.WriteFile(strings.TrimSuffix(lg.path, ".log")+name, []byte(logs.String()), 0o644)
		}
	}()
	for i := 0; own && i < 3; i++ {
		b, err := brokertest.New(brokertest.Options{})
		if err != nil {
			return fmt.Errorf("starting a broker: %w", err)
		}
		brokers = append(brokers, b)
	}
	var addrs, uris []string
	for _, b := range brokers {
		addrs = append(addrs, b.Addr())
		uris = append(uris, b.URI())
	}
	vars := map[string]string{
		"brokers": strings.Join(addrs, ","),
		"uris":    strings.Join(uris, ","),
		"topic":   fmt.Sprintf("hamqtt/churn/%d", o.Seed),
		"count":   strconv.Itoa(o.Count),
		"rate":    strconv.FormatFloat(o.Rate, 'f', -1, 64),
		"config":  o.Config,
		"seed":    strconv.FormatUint(o.Seed, 10),
		"outbox":  outbox,
		"start":   "0",
	}
	kinds := make([]string, len(brokers))
	for i, b := range brokers {
		kinds[i] = fmt.Sprintf("%s %s", b.Kind(), b.Version())
	}
	lg.printf("harness: brokers %s (%s)", vars["brokers"], strings.Join(kinds, ", "))
	pubCmd, err := expand(o.Pub, vars) // again with {start} for a publisher started after a crash
	if err != nil {
		return err
	}
	subCmd, err := expand(o.Sub, vars)
	if err != nil {
		return err
	}

	t := newTally(lg)
	defer func() { // counted whatever happened
		t.mu.Lock()
		defer t.mu.Unlock()
		res.Acked, res.Failed, res.Queued, res.Stored = len(t.acked), len(t.failed), len(t.queued), len(t.stored)
		res.FailReasons = t.failReasons
		res.Received, res.Distinct, res.OutOfOrder = t.received, len(t.first), t.outOfOrder
		res.Duplicates = t.received - len(t.first)
		promised := maps.Clone(t.acked)
		maps.Copy(promised, t.stored)
		res.LostSeqs = sortedKeys(promised, func(s int) bool { return !t.first[s] })
		res.Lost = len(res.LostSeqs)
		res.QueuedLostSeqs = sortedKeys(t.queued, func(s int) bool { return !t.first[s] })
		res.QueuedLost = len(res.QueuedLostSeqs)
		res.Recovered = len(t.recovered)
		resolved := maps.Clone(t.acked)
		maps.Copy(resolved, t.failed)
		maps.Copy(resolved, t.recovered)
		res.Unresolved = max(o.Count-len(resolved), 0)
	}()

	// The subscriber, until READY.
	sub, err := startChild("sub", subCmd, o.Dir, o.Env, t.subLine, lg)
	if err != nil {
		return err
	}
	subStopped := false
	defer func() {
		if !subStopped {
			sub.stop(o.Grace)
		}
		res.SubExit, res.SubStatus = sub.exitCode(), sub.status()
	}()
	readyT := time.NewTimer(o.ReadyTimeout)
	defer readyT.Stop()
	select {
	case <-t.ready:
	case <-sub.exited:
		return fmt.Errorf("subscriber exited before READY (%s)", sub.status())
	case <-readyT.C:
		return fmt.Errorf("no READY from the subscriber within %v", o.ReadyTimeout)
	case <-ctx.Done():
		return fmt.Errorf("waiting for READY: %w", ctx.Err())
	}

	// The publisher and the killer.
	pub, err := startChild("pub", pubCmd, o.Dir, o.Env, t.pubLine, lg)
	if err != nil {
		return err
	}
	defer func() {
		if !pub.hasExited() {
			pub.stop(o.Grace)
		}
		res.PubExit, res.PubStatus = pub.exitCode(), pub.status()
		if err == nil && res.PubExit != 0 {
			res.Failures = append(res.Failures, "publisher exit status: "+res.PubStatus)
		}
	}()
	k := &killer{brokers: brokers, rng: rand.New(rand.NewPCG(o.Seed, 0x6861_6d71_7474)), lg: lg,
		stop: make(chan struct{}), schedule: o.Schedule, outage: o.Outage, outageAt: o.publishTime() / 4,
		crash: make(chan chan error)}
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		k.run()
	}()
	stopKiller := func() {
		select {
		case <-k.stop:
			return
		default:
		}
		close(k.stop)
		<-killerDone
		res.Kills, res.KillsByKind = k.kills, k.byKind
	}
	defer stopKiller()

	// crash SIGKILLs the publisher's process group and, once every line it wrote is counted,
	// starts the next publisher where the promises it was given end.
	crash := func() error {
		finished := func() bool {
			select {
			case <-t.done:
				lg.printf("harness: the publisher finished before its crash: not started again")
				return true
			default:
				return false
			}
		}
		if finished() {
			return nil
		}
		lg.printf("harness: SIGKILL publisher (pid %d) and its process group (crash)", pub.cmd.Process.Pid)
		pub.signal(syscall.SIGKILL)
		select {
		case <-pub.exited:
		case <-ctx.Done():
			return fmt.Errorf("the crashed publisher was not reaped: %w", ctx.Err())
		}
		if finished() {
			return nil
		}
		res.Crashes++
		start, handed := t.resume()
		lg.printf("harness: publisher crashed; started again with start %d (%d messages it reported STORED and not resolved are left to its outbox)", start, handed)
		vars["start"] = strconv.Itoa(start)
		cmd, err := expand(o.Pub, vars)
		if err != nil {
			return err
		}
		next, err := startChild("pub", cmd, o.Dir, o.Env, t.pubLine, lg)
		if err != nil {
			return err
		}
		pub = next
		return nil
	}

	var runErr error
wait:
	for {
		select {
		case <-t.done:
			res.PubDone = true
			break wait
		case <-pub.exited:
			select {
			case <-t.done: // DONE was its last line
				res.PubDone = true
			default:
				runErr = fmt.Errorf("publisher exited without DONE (%s)", pub.status())
			}
			break wait
		case reply := <-k.crash:
			err := crash()
			reply <- err
			if err != nil {
				runErr = fmt.Errorf("restarting the publisher after its crash: %w", err)
				break wait
			}
		case <-ctx.Done():
			runErr = fmt.Errorf("publisher did not finish within %v (timeout)", o.Timeout)
			if errors.Is(ctx.Err(), context.Canceled) {
				runErr = errors.New("interrupted before the publisher finished")
			}
			break wait
		}
	}
	stopKiller()
	if o.Schedule == ScheduleCrash && res.Crashes == 0 && runErr == nil {
		res.Failures = append(res.Failures, "the publisher finished before the crash schedule could crash it")
	}
	lg.printf("harness: killer stopped after %d kills", k.kills)
	if k.err != nil && runErr == nil {
		runErr = k.err
	}

	// Every broker up again; then the publisher's exit and the stragglers.
	for i, b := range brokers {
		if !b.Running() {
			if err := b.Restart(); err != nil && runErr == nil {
				runErr = fmt.Errorf("restart of broker %d after the run: %w", i+1, err)
			}
		}
	}
	if res.PubDone && !pub.waitExit(o.Grace) {
		res.Failures = append(res.Failures, fmt.Sprintf("publisher still running %v after DONE (killed)", o.Grace))
		pub.stop(time.Second)
	}
	if runErr == nil {
		drainStart := time.Now()
		for {
			n, last := t.missing()
			if n == 0 {
				lg.printf("harness: every acknowledged or stored message received")
				break
			}
			if last.Before(drainStart) {
				last = drainStart
			}
			if time.Since(last) >= o.Quiet {
				lg.printf("harness: %d acknowledged or stored messages missing, none received for %v", n, o.Quiet)
				break
			}
			if sub.hasExited() || ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if sub.hasExited() {
		res.Failures = append(res.Failures, "subscriber exited before SIGTERM: "+sub.status())
	} else if sub.stop(o.Grace) {
		res.Failures = append(res.Failures, fmt.Sprintf("subscriber ignored SIGTERM for %v (killed)", o.Grace))
	} else if sub.exitCode() != 0 && runErr == nil {
		res.Failures = append(res.Failures, "subscriber exit status after SIGTERM: "+sub.status())
	}
	subStopped = true
	return runErr
}
