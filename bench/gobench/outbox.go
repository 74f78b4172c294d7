package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamqtt/hamqtt/core"
)

// obResult is the JSON line of an outbox program (bench/c/outbox_common.h) or of this
// binary's outbox-client mode.
type obResult struct {
	Sent      int    `json:"sent"`
	Received  int    `json:"received"` // acknowledged
	ElapsedNs int64  `json:"elapsed_ns"`
	StoreNs   int64  `json:"store_ns"`
	FirstNs   int64  `json:"first_ns"`
	FlushNs   int64  `json:"flush_ns"`
	Err       string `json:"error,omitempty"`
}

// obImpl is one side of the comparison: a program speaking outbox_common.h's protocol.
type obImpl struct {
	name string
	argv []string // program (and fixed leading arguments); mode and the rest are appended
	sync string   // hamqtt's sync policy; "-" for Paho C
	env  []string
}

func (im obImpl) args(mode, uri string, n, size, window int, dir, topic string) []string {
	return append(append([]string{}, im.argv...), mode, uri, strconv.Itoa(n), strconv.Itoa(size), strconv.Itoa(window), dir, topic, im.sync)
}

// outboxSuite compares hamqtt's disk outbox (the C API, or the Go API when the C program is
// not built) with Paho C's MQTTAsync and its file persistence: durable QoS 1 publish
// throughput against a live broker, per sync policy, and the flush of what was stored while
// the broker was down.
func outboxSuite(out, bin, self, lib string, smoke bool, reps, window int) error {
	sec := &Section{Name: "outbox", Title: "Outbox: hamqtt's disk outbox vs Paho C's file persistence (durable QoS 1 publishing, flush after an outage)", Started: time.Now()}
	if self == "" {
		self, _ = os.Executable()
	}
	absLib, _ := filepath.Abs(lib)
	prog := func(name string) string { return filepath.Join(bin, name) }
	peer := obImpl{name: "Paho C (MQTTAsync, file persistence)", argv: []string{prog("outbox_pahoc")}, sync: "-"}
	if !exists(peer.argv[0]) {
		return fmt.Errorf("%s not built (make -C bench/c peers)", peer.argv[0])
	}
	var ours []obImpl
	api := "hamqtt C API"
	if exists(prog("outbox_hamqtt")) && exists(filepath.Join(lib, "libhamqtt.so")) {
		for _, s := range []string{"always", "interval", "never"} {
			ours = append(ours, obImpl{name: api + ", outbox sync " + s, argv: []string{prog("outbox_hamqtt")}, sync: s, env: []string{"LD_LIBRARY_PATH=" + absLib}})
		}
	} else {
		api = "hamqtt Go API"
		sec.Missing = append(sec.Missing, "hamqtt C API: "+prog("outbox_hamqtt")+" or libhamqtt.so not built; our side is the Go API (`gobench outbox-client`, the same program in Go)")
		for _, s := range []string{"always", "interval", "never"} {
			ours = append(ours, obImpl{name: api + ", outbox sync " + s, argv: []string{self, "outbox-client"}, sync: s})
		}
	}
	tpN := map[int]int{64: 10000, 16 << 10: 2000}
	sizes := []int{64, 16 << 10}
	flushN := 10000
	flushOurs := ours
	if smoke {
		tpN = map[int]int{64: 200}
		sizes = []int{64}
		flushN = 200
		flushOurs = ours[2:] // one policy: the flush does not depend on it, and each run waits out a reconnection
	}
	sec.Settings = []string{
		fmt.Sprintf("each run is a fresh process of one library with a fresh store directory; one client, QoS 1, one broker (Mosquitto, max_inflight_messages 64); %d repetitions, alternating programs; medians", reps),
		"Paho C: MQTTAsync_createWithOptions with MQTTCLIENT_PERSISTENCE_DEFAULT (files per message under the directory), sendWhileDisconnected, maxBufferedMessages = N, automatic reconnect every 1 s (its shortest); bench/c/outbox_pahoc.c",
		fmt.Sprintf("%s: the disk outbox with each sync policy (always: a message counts as stored once fsync covered it, concurrent publishers share one; interval: fsync every 100 ms; never: the kernel writes it back when it chooses), default limits, default cluster settings (warm-up 2 s after a total outage); %s", api, ourSource(api)),
		"**Paho C's file persistence never calls fsync** (strace of outbox_pahoc: open, write, close and unlink per message, no fsync or fdatasync): it survives a crash of the process, not a power loss. The fair ratio is against hamqtt's sync never (same promise) or interval (at most 100 ms lost on power loss); sync always promises more and pays one fsync per publish from a single publishing thread",
		fmt.Sprintf("throughput: N messages, at most %d awaiting their PUBACK (the completion callback), first publish to last PUBACK", window),
		"flush: the client connects, the broker is stopped, the client publishes N messages (stored/buffered), the broker is started again on the same port; measured from the moment it accepts connections to the last PUBACK (reconnection included), and from the first PUBACK to the last",
	}
	var firstErr error
	fail := func(err error) {
		sec.Missing = append(sec.Missing, err.Error())
		if firstErr == nil {
			firstErr = err
		}
	}

	for _, size := range sizes {
		n := tpN[size]
		impls := append([]obImpl{peer}, ours...)
		res, err := obRuns(impls, reps, !smoke, smoke, func(im obImpl) (obResult, error) { return obTp(im, n, size, window) })
		if err != nil {
			fail(fmt.Errorf("throughput %s: %w", cell{1, size}, err))
			continue
		}
		rates := make([][]float64, len(impls))
		for i := range impls {
			for _, r := range res[i] {
				rates[i] = append(rates[i], rateOf(r.Received, r.ElapsedNs))
			}
		}
		logf("outbox tp %s: %s", cell{1, size}, ratesLine(impls, rates))
		for i := 1; i < len(impls); i++ {
			sec.Rows = append(sec.Rows, Row{Section: "outbox", Metric: fmt.Sprintf("durable publish, %s (%d msgs)", cell{1, size}, n),
				Impl: impls[i].name, Peer: peer.name, Unit: "msg/s", Value: median(rates[i]), PeerValue: median(rates[0]),
				Reps: rates[i], PeerReps: rates[0], Lost: lostOf(res[i]), PeerLost: lostOf(res[0])})
		}
	}

	impls := append([]obImpl{peer}, flushOurs...)
	res, err := obRuns(impls, reps, false, smoke, func(im obImpl) (obResult, error) { return obFlush(im, flushN, 64) })
	if err != nil {
		fail(fmt.Errorf("flush: %w", err))
	} else {
		type measure struct {
			metric, unit string
			lower        bool
			of           func(r obResult) float64
		}
		for _, m := range []measure{
			{"flush after an outage: broker back to last PUBACK", "msg/s", false, func(r obResult) float64 { return rateOf(r.Received, r.ElapsedNs) }},
			{"flush after an outage: first PUBACK to last", "msg/s", false, func(r obResult) float64 { return rateOf(r.Received-1, r.FlushNs) }},
			{"flush after an outage: broker back to first PUBACK (reconnection)", "ms", true, func(r obResult) float64 { return float64(r.FirstNs) / 1e6 }},
			{"storing while the broker is down", "msg/s", false, func(r obResult) float64 { return rateOf(r.Sent, r.StoreNs) }},
		} {
			vals := make([][]float64, len(impls))
			for i := range impls {
				for _, r := range res[i] {
					vals[i] = append(vals[i], m.of(r))
				}
			}
			logf("outbox %s: %s", m.metric, ratesLine(impls, vals))
			for i := 1; i < len(impls); i++ {
				sec.Rows = append(sec.Rows, Row{Section: "outbox", Metric: fmt.Sprintf("%s, %s (%d msgs)", m.metric, cell{1, 64}, flushN),
					Impl: impls[i].name, Peer: peer.name, Unit: m.unit, Lower: m.lower, Value: median(vals[i]), PeerValue: median(vals[0]),
					Reps: vals[i], PeerReps: vals[0], Lost: lostOf(res[i]), PeerLost: lostOf(res[0])})
			}
		}
	}
	sec.Duration = time.Since(sec.Started).Round(time.Second).String()
	if err := writeSection(out, sec); err != nil {
		return err
	}
	if smoke {
		return firstErr
	}
	return nil
}

func ourSource(api string) string {
	if strings.Contains(api, "C API") {
		return "bench/c/outbox_hamqtt.c"
	}
	return "bench/gobench/outbox.go `outboxClient`"
}

func rateOf(n int, ns int64) float64 {
	if ns <= 0 || n <= 0 {
		return 0
	}
	return float64(n) / (float64(ns) / 1e9)
}

func lostOf(rs []obResult) int {
	lost := 0
	for _, r := range rs {
		lost += r.Sent - r.Received
	}
	return lost
}

func ratesLine(impls []obImpl, vals [][]float64) string {
	var parts []string
	for i, im := range impls {
		parts = append(parts, fmt.Sprintf("%s [%s]", im.name, fmtRates(vals[i])))
	}
	return strings.Join(parts, "; ")
}

// obRuns runs every impl reps times, alternating (repetition r starts with impl r mod len),
// after one unmeasured warm-up run each when warm is set. With parallel (the smoke run, whose
// figures mean nothing) the impls of a repetition run at the same time, each against its own
// broker, so that the reconnection waits of the flush runs overlap.
func obRuns(impls []obImpl, reps int, warm, parallel bool, run func(obImpl) (obResult, error)) ([][]obResult, error) {
	if warm {
		for _, im := range impls {
			if _, err := run(im); err != nil {
				return nil, fmt.Errorf("%s warm-up: %w", im.name, err)
			}
		}
	}
	res := make([][]obResult, len(impls))
	for r := 0; r < reps; r++ {
		got := make([]obResult, len(impls))
		errs := make([]error, len(impls))
		var wg sync.WaitGroup
		for k := range impls {
			i := (r + k) % len(impls)
			one := func() {
				got[i], errs[i] = run(impls[i])
				if errs[i] == nil && got[i].Err != "" {
					errs[i] = errors.New(got[i].Err)
				}
			}
			if parallel {
				wg.Add(1)
				go func() { defer wg.Done(); one() }()
			} else {
				one()
			}
		}
		wg.Wait()
		for i := range impls {
			if errs[i] != nil {
				return nil, fmt.Errorf("%s: %w", impls[i].name, errs[i])
			}
			res[i] = append(res[i], got[i])
		}
	}
	return res, nil
}

func obTp(im obImpl, n, size, window int) (obResult, error) {
	bs, err := startBrokers(1)
	if err != nil {
		return obResult{}, err
	}
	defer closeBrokers(bs)
	dir, err := os.MkdirTemp("", "hamqtt-bench-outbox-")
	if err != nil {
		return obResult{}, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	argv := im.args("tp", bs[0].URI(), n, size, window, dir, uniqueID("bench/outbox"))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), im.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	outb, runErr := cmd.Output()
	return parseObResult(string(outb), runErr, stderr.String())
}

func parseObResult(stdout string, runErr error, stderr string) (obResult, error) {
	var r obResult
	line := lastJSONLine(stdout)
	if line == "" {
		return r, fmt.Errorf("no result (%v); stderr: %s", runErr, tailString(stderr, 400))
	}
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return r, fmt.Errorf("bad result %q: %w", line, err)
	}
	if runErr != nil && r.Err == "" {
		r.Err = fmt.Sprintf("%v: %s", runErr, tailString(stderr, 400))
	}
	return r, nil
}

// obFlush runs one flush-after-an-outage run: a broker of its own, stopped and started again
// on the same port under the program's feet.
func obFlush(im obImpl, n, size int) (obResult, error) {
	bs, err := startBrokers(1)
	if err != nil {
		return obResult{}, err
	}
	defer closeBrokers(bs)
	b := bs[0]
	dir, err := os.MkdirTemp("", "hamqtt-bench-outbox-")
	if err != nil {
		return obResult{}, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	argv := im.args("flush", b.URI(), n, size, 1, dir, uniqueID("bench/outbox"))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), im.env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return obResult{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return obResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return obResult{}, err
	}
	lines := bufio.NewScanner(stdout)
	var all strings.Builder
	expect := func(want string) error {
		for lines.Scan() {
			l := lines.Text()
			all.WriteString(l + "\n")
			if l == want {
				return nil
			}
			if strings.HasPrefix(l, "{") { // the program gave up early
				break
			}
		}
		return fmt.Errorf("expected %q from the program, got %q; stderr: %s", want, tailString(all.String(), 300), tailString(stderr.String(), 400))
	}
	abort := func(err error) (obResult, error) {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return obResult{}, err
	}
	if err := expect("ready"); err != nil {
		return abort(err)
	}
	if err := b.Stop(); err != nil {
		return abort(err)
	}
	io.WriteString(stdin, "down\n")
	if err := expect("stored"); err != nil {
		return abort(err)
	}
	if err := b.Restart(); err != nil {
		return abort(err)
	}
	io.WriteString(stdin, "up\n")
	for lines.Scan() {
		all.WriteString(lines.Text() + "\n")
	}
	stdin.Close()
	runErr := cmd.Wait()
	return parseObResult(all.String(), runErr, stderr.String())
}

// outboxClient is outbox_common.h's program written with the Go API: the hamqtt side of the
// comparison when the C API's program is not built.
func outboxClient(args []string) error {
	if len(args) < 8 {
		return fmt.Errorf("usage: gobench outbox-client tp|flush URI N SIZE WINDOW DIR TOPIC SYNC")
	}
	mode, uri, dir, topic := args[0], args[1], args[5], args[6]
	n, err1 := strconv.Atoi(args[2])
	size, err2 := strconv.Atoi(args[3])
	window, err3 := strconv.Atoi(args[4])
	pol, err4 := core.ParseSyncPolicy(args[7])
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return err
		}
	}
	flush := mode == "flush"
	ob, err := core.OpenOutbox(core.OutboxConfig{Dir: dir, Sync: pol})
	if err != nil {
		return err
	}
	defer ob.Close()
	cfg := coreConfig(uniqueID("outbox-go"), []string{uri})
	cfg.Outbox = ob
	c, err := coreConnect(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	in := bufio.NewScanner(os.Stdin)
	expect := func(want string) error {
		if !in.Scan() || in.Text() != want {
			return fmt.Errorf("harness: expected %q", want)
		}
		return nil
	}
	var acked, failed atomic.Int64
	var first, last atomic.Int64
	sem := make(chan struct{}, window)
	if flush {
		fmt.Println("ready")
		if err := expect("down"); err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for c.LiveCount() > 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("the connection was not seen lost")
			}
			time.Sleep(time.Millisecond)
		}
	}
	payload := payloadOf(size)
	done := make(chan struct{}, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		if !flush {
			sem <- struct{}{}
		}
		t := c.PublishAsync(topic, 1, false, payload)
		if !t.Stored() {
			return fmt.Errorf("publish %d not stored: %w", i, t.Err())
		}
		go func() {
			err := t.Err()
			now := time.Now().UnixNano()
			if err == nil {
				first.CompareAndSwap(0, now)
				last.Store(now)
				acked.Add(1)
			} else {
				failed.Add(1)
			}
			if !flush {
				<-sem
			}
			done <- struct{}{}
		}()
	}
	storeNs := time.Since(start).Nanoseconds()
	var up time.Time
	if flush {
		fmt.Println("stored")
		if err := expect("up"); err != nil {
			return err
		}
		up = time.Now()
	}
	timeout := time.NewTimer(2 * time.Minute)
	for i := 0; i < n; i++ {
		select {
		case <-done:
		case <-timeout.C:
			i = n
		}
	}
	from := start
	if flush {
		from = up
	}
	r := obResult{Sent: n, Received: int(acked.Load()), StoreNs: storeNs}
	if l := last.Load(); l > 0 {
		f := max(first.Load(), from.UnixNano())
		r.ElapsedNs, r.FirstNs, r.FlushNs = l-from.UnixNano(), f-from.UnixNano(), l-f
	}
	if r.Received < n || failed.Load() > 0 {
		r.Err = fmt.Sprintf("%d of %d not acknowledged, %d publishes failed", n-r.Received, n, failed.Load())
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
