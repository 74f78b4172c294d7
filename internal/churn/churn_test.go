package churn

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as a fake client (HAMQTT_CHURN_FAKE=pub|sub) whose lines are
// scripted, to check what the harness counts. A fake publisher given the arguments {start}
// {outbox} plays a crash: started with start 0 it prints FAKE_LINES, leaves a mark in the
// outbox directory and, with FAKE_HANG, waits to be killed; started again it prints
// FAKE_RESTART_LINES and reports on stderr its start and whether it found the mark.
func TestMain(m *testing.M) {
	if role := os.Getenv("HAMQTT_CHURN_FAKE"); role != "" {
		os.Exit(fakeClient(role))
	}
	goleak.VerifyTestMain(m)
}

func fakeClient(role string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if os.Getenv("FAKE_IGNORE_TERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	}
	lines, hang := os.Getenv("FAKE_LINES"), false
	if len(os.Args) == 3 {
		start, outbox := os.Args[1], os.Args[2]
		mark := filepath.Join(outbox, "mark")
		if start == "0" {
			os.WriteFile(mark, nil, 0o644)
			hang = os.Getenv("FAKE_HANG") != ""
		} else {
			_, err := os.Stat(mark)
			fmt.Fprintf(os.Stderr, "fake %s: start %s, mark found: %v\n", role, start, err == nil)
			lines = os.Getenv("FAKE_RESTART_LINES")
		}
	}
	for _, l := range strings.Split(lines, ",") {
		if l != "" {
			fmt.Println(l)
		}
	}
	fmt.Fprintf(os.Stderr, "fake %s: lines written\n", role)
	if (role == "sub" && os.Getenv("FAKE_EXIT") == "") || hang {
		select {
		case <-term:
		case <-time.After(time.Minute):
		}
	}
	code, _ := strconv.Atoi(os.Getenv("FAKE_EXIT"))
	return code
}

// fake is a command template that runs this test binary as a fake client printing lines.
func fake(role, lines string, extra ...string) string {
	return fmt.Sprintf("HAMQTT_CHURN_FAKE=%s FAKE_LINES='%s' %s %s", role, lines, strings.Join(extra, " "), os.Args[0])
}

func fakeOptions(t *testing.T, pub, sub string, count int) Options {
	return Options{Pub: pub, Sub: sub, Label: "fake", Count: count, Rate: 1000, Schedule: ScheduleNone,
		Quiet: 300 * time.Millisecond, Grace: 2 * time.Second, ReadyTimeout: 5 * time.Second,
		Timeout: 30 * time.Second, LogDir: t.TempDir(), Limits: DefaultLimits, Env: raceEnv()}
}

// raceEnv spares a client built with the race detector the race runtime's 1s pause at exit.
func raceEnv() []string {
	if raceEnabled && os.Getenv("GORACE") == "" {
		return []string{"GORACE=atexit_sleep_ms=0"}
	}
	return nil
}

func TestCounts(t *testing.T) {
	o := fakeOptions(t,
		fake("pub", "QUEUED 0,QUEUED 1,STORED 2,QUEUED 3,QUEUED 4,QUEUED 5,ACK 0,ACK 1,ACK 2,ACK 3,ACK 4,FAIL 5 no broker took it,STORED 6,junk,DONE"),
		fake("sub", "READY,MSG 0,MSG 1,MSG 1,MSG 3,MSG 2,MSG 5 padding..."), 7)
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, Tail(r.Log, 30))
	}
	// 6 was stored and has no outcome: a promise like 4's acknowledgement, and both are lost.
	want := Result{Label: "fake", Config: "default", Schedule: ScheduleNone, Sent: 7, Acked: 5, Stored: 2,
		Failed: 1, Queued: 5, Unresolved: 1, Received: 6, Distinct: 5, Lost: 2, LostSeqs: []int{4, 6},
		Duplicates: 1, OutOfOrder: 1, QueuedLost: 1, QueuedLostSeqs: []int{4},
		FailReasons: []string{"5: no broker took it"}, PubDone: true,
		Failures: []string{"lost 2 > max-lost 0 (seqs 4 6)"}}
	got := r
	got.Seconds, got.Log, got.PubStatus, got.SubStatus = 0, "", "", ""
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if r.OK() || !strings.Contains(r.Line(), "acked 5 stored 2 received 6 lost 2") {
		t.Errorf("line: %s", r.Line())
	}
	log, _ := os.ReadFile(r.Log)
	for _, s := range []string{"pub stdout (not protocol): junk", "fake sub: lines written", "pub: FAIL 5 no broker took it"} {
		if !bytes.Contains(log, []byte(s)) {
			t.Errorf("log lacks %q:\n%s", s, log)
		}
	}

	o.Limits = Limits{MaxLost: 2, MaxDup: 0, CheckOrder: true}
	r, _ = Run(context.Background(), o)
	if want := []string{"dup 1 > max-dup 0", "out-of-order 1"}; !slices.Equal(r.Failures, want) {
		t.Errorf("failures %q, want %q", r.Failures, want)
	}
}

// TestCrash plays the crash schedule with fake clients: the publisher is killed during the
// outage and started again one past the highest sequence number it reported STORED or ACK, on
// the same outbox directory; what it stored without an outcome is counted as recovered, and
// lost unless received.
func TestCrash(t *testing.T) {
	pub := fake("pub", "STORED 0,STORED 1,STORED 2,ACK 0,STORED 3,ACK 1,QUEUED 9",
		"FAKE_HANG=1", "FAKE_RESTART_LINES='STORED 4,ACK 4,STORED 5,ACK 5,DONE'") + " {start} {outbox}"
	o := fakeOptions(t, pub, fake("sub", "READY,MSG 0,MSG 1,MSG 3,MSG 4,MSG 5,MSG 5"), 6)
	o.Schedule, o.Rate, o.Outage = ScheduleCrash, 6, time.Second
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, Tail(r.Log, 30))
	}
	if r.Outbox == "" {
		t.Errorf("the failed trial's outbox directory was not kept")
	} else {
		os.RemoveAll(r.Outbox)
	}
	want := Result{Label: "fake", Config: "default", Schedule: ScheduleCrash, Sent: 6, Acked: 4, Stored: 6,
		Queued: 1, Received: 6, Distinct: 5, Lost: 1, LostSeqs: []int{2}, Duplicates: 1, QueuedLost: 1,
		QueuedLostSeqs: []int{9}, Kills: 3, KillsByKind: map[string]int{"mosquitto": 3}, Crashes: 1, Recovered: 2,
		PubDone: true, Failures: []string{"lost 1 > max-lost 0 (seqs 2)"}}
	got := r
	got.Seconds, got.Log, got.PubStatus, got.SubStatus, got.Outbox = 0, "", "", "", ""
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("got  %+v\nwant %+v\n%s", got, want, Tail(r.Log, 30))
	}
	if !strings.Contains(r.Line(), "pub-crashes 1 recovered 2") {
		t.Errorf("line: %s", r.Line())
	}
	log, _ := os.ReadFile(r.Log)
	for _, s := range []string{"fake pub: start 4, mark found: true", "(crash)", "started again with start 4 (2 messages"} {
		if !bytes.Contains(log, []byte(s)) {
			t.Errorf("log lacks %q:\n%s", s, log)
		}
	}

	// A publisher that is done before the outage escapes the crash: the trial says so.
	o = fakeOptions(t, fake("pub", "STORED 0,ACK 0,DONE")+" {start} {outbox}", fake("sub", "READY,MSG 0"), 1)
	o.Schedule, o.Rate = ScheduleCrash, 0.5
	r, err = Run(context.Background(), o)
	if err != nil || r.Crashes != 0 || !slices.Equal(r.Failures, []string{"the publisher finished before the crash schedule could crash it"}) {
		t.Errorf("err %v, crashes %d, failures %q", err, r.Crashes, r.Failures)
	}
	os.RemoveAll(r.Outbox)
}

func TestMisbehavingClients(t *testing.T) {
	for _, tc := range []struct {
		name, pub, sub string
		wantErr, want  string
	}{
		{"no READY", fake("pub", "DONE"), fake("sub", "MSG 1"), "no READY", ""},
		{"sub exits at once", fake("pub", "DONE"), fake("sub", "", "FAKE_EXIT=3"), "subscriber exited before READY (exit status 3)", ""},
		{"pub exits without DONE", fake("pub", "ACK 0"), fake("sub", "READY,MSG 0"), "publisher exited without DONE", ""},
		{"pub exit status", fake("pub", "ACK 0,DONE", "FAKE_EXIT=4"), fake("sub", "READY,MSG 0"), "", "publisher exit status: exit status 4"},
		{"sub ignores SIGTERM", fake("pub", "ACK 0,DONE"), fake("sub", "READY,MSG 0", "FAKE_IGNORE_TERM=1"), "", "subscriber ignored SIGTERM"},
		{"no program", "FOO=bar", fake("sub", "READY"), "no program", ""},
		{"unknown placeholder", fake("pub", "DONE") + " {nope}", fake("sub", "READY"), "unknown placeholder {nope}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := fakeOptions(t, tc.pub, tc.sub, 1)
			o.ReadyTimeout = time.Second
			r, err := Run(context.Background(), o)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err %v, want %q", err, tc.wantErr)
				}
			default:
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if !strings.Contains(strings.Join(r.Failures, "; "), tc.want) {
					t.Errorf("failures %q, want %q", r.Failures, tc.want)
				}
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:                {"a", "b", "c"},
		`a 'b c' "d \"e\" \$f"`: {"a", "b c", `d "e" $f`},
		`a\ b 'x'"y"z ""`:       {"a b", "xyz", ""},
		"  tab\tsep\n ":         {"tab", "sep"},
		`"a\b" 'c\d'`:           {`a\b`, `c\d`},
		`X=1 Y='2 3' prog X=4`:  {"X=1", "Y=2 3", "prog", "X=4"},
		`build/py-venv/bin/python x.py --brokers {brokers}`: {"build/py-venv/bin/python", "x.py", "--brokers", "{brokers}"},
	} {
		got, err := splitCommand(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `trailing\`} {
		if _, err := splitCommand(bad); err == nil {
			t.Errorf("splitCommand(%q): no error", bad)
		}
	}
	c, err := expand(`A=1 B={topic} prog --t {topic} -x{count}`, map[string]string{"topic": "a/b", "count": "5"})
	if err != nil || !slices.Equal(c.env, []string{"A=1", "B=a/b"}) || !slices.Equal(c.argv, []string{"prog", "--t", "a/b", "-x5"}) {
		t.Errorf("expand: %+v, %v", c, err)
	}
	if l := labelOf(`PY=1 build/py-venv/bin/python3 churn_client.py pub --brokers {brokers}`); l != "python3" {
		t.Errorf("label %q", l)
	}
}

func TestTable(t *testing.T) {
	rs := []Result{
		{Label: "go", Config: "default", Schedule: "churn", Sent: 10, Acked: 10, Kills: 3},
		{Label: "go", Config: "default", Schedule: "churn", Sent: 10, Acked: 9, Lost: 2, Duplicates: 1, Kills: 4, Failures: []string{"x"}},
		{Label: "c", Config: "noloss", Schedule: "churn", Sent: 10, Acked: 10, OutOfOrder: 5},
		{Label: "go", Config: "outbox", Schedule: "crash", Sent: 10, Acked: 7, Stored: 10, Kills: 3, Crashes: 1},
	}
	path := filepath.Join(t.TempDir(), "r.jsonl")
	for _, r := range rs {
		if err := AppendJSON(path, r); err != nil {
			t.Fatal(err)
		}
	}
	back, err := ReadJSON(path)
	if err != nil || len(back) != 4 {
		t.Fatalf("ReadJSON: %d results, %v", len(back), err)
	}
	var b bytes.Buffer
	WriteTable(&b, back)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, want := range [][]string{
		{"go/default/churn", "2", "20", "19", "0", "2", "1", "0", "7", "0", "0", "0", "1"},
		{"c/noloss/churn", "1", "10", "10", "0", "0", "0", "5", "0", "0", "0", "0", "0"},
		{"go/outbox/crash", "1", "10", "7", "10", "0", "0", "0", "3", "1", "0", "0", "0"},
	} {
		if f := strings.Fields(lines[i+1]); !slices.Equal(f, want) {
			t.Errorf("row %q, want %q", f, want)
		}
	}
}

// TestChurn runs the harness with the Go client (internal/cmd/churnclient) against real
// Mosquitto brokers under the harsh schedules, with the product's default settings: no
// acknowledged message may be lost under one-at-a-time churn, in the default and the no-loss
// configurations; with a disk outbox no acknowledged or stored message may be lost through a
// long total outage (and the stream keeps its order), nor when the publisher is SIGKILLed
// during the outage and started again (two brokers down at once is measured by make soak, not
// here). HAMQTT_CHURN_SEED replaces the first seed (trials use seed, seed+1).
func TestChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("churn trials take about a minute")
	}
	client := buildClient(t)
	seed := uint64(20240601)
	if s := os.Getenv("HAMQTT_CHURN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HAMQTT_CHURN_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seeds %d, %d (set HAMQTT_CHURN_SEED to replace them)", seed, seed+1)
	env := raceEnv()
	logDir, err := os.MkdirTemp("", "hamqtt-churn-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(logDir)
		} else {
			t.Logf("trial logs kept in %s", logDir)
		}
	})

	trials := []churnTrial{
		// The harness and the client themselves: nothing may go missing without kills.
		{config: "default", schedule: ScheduleNone, seed: seed, count: 300, rate: 100,
			limits: Limits{MaxLost: 0, MaxDup: 0, CheckOrder: true}},
	}
	for _, cfg := range []string{"default", "noloss"} {
		for i := range uint64(2) {
			trials = append(trials, churnTrial{config: cfg, schedule: ScheduleChurn, seed: seed + i,
				count: 1500, rate: 100, limits: DefaultLimits})
		}
	}
	// The no-loss configuration over MQTT 5 on the second seed: copies carry message ids, so
	// the de-duplicating subscriber removes every one of them, exactly.
	trials[len(trials)-1].config = "noloss-v5"
	trials[len(trials)-1].limits = Limits{MaxLost: 0, MaxDup: 0}
	trials = append(trials,
		// Without an outbox a total outage longer than TimeToWait fails publishes (reported,
		// not lost); with one the publisher stores three quarters of the stream while no
		// broker is up, and all of it arrives, in order. Duplicates are counted, not limited:
		// a message in flight when its broker died may arrive twice.
		churnTrial{config: "outbox", schedule: ScheduleOutage, seed: seed, count: 10_000, rate: 500,
			outage: 20 * time.Second, limits: Limits{MaxLost: 0, MaxDup: -1, CheckOrder: true}},
		// The publisher SIGKILLed during the outage: the next one recovers the outbox and
		// sends it first, so the stream keeps its order. What the dead one had sent without
		// seeing the acknowledgement is sent again; over MQTT 5 that copy carries the stored
		// message id and the de-duplicating subscriber removes it. Duplicates are still counted,
		// not limited: a message the dead publisher stored but had not reported yet is published
		// again by its successor (the harness resumes after the last one reported), a second
		// publish with an id of its own, which is delivered twice as it should be.
		churnTrial{config: "outbox-v5", schedule: ScheduleCrash, seed: seed, count: 3000, rate: 300,
			outage: 10 * time.Second, limits: Limits{MaxLost: 0, MaxDup: -1, CheckOrder: true}},
	)
	// Two brokers down at once is outside the one-at-a-time promise: make soak measures it.

	// Two trials at a time, the longest first: a trial mostly waits (for its rate, for an
	// outage), so two lanes take about half the time, while one pair of trials' brokers and
	// clients leaves the 2-core machine room for the other packages' tests.
	order := make([]int, len(trials))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(trials[b].duration(), trials[a].duration()) })
	results := make([]Result, len(trials))
	queue := make(chan int, len(trials))
	for _, i := range order {
		queue <- i
	}
	close(queue)
	var lanes sync.WaitGroup
	for range 2 {
		lanes.Add(1)
		go func() {
			defer lanes.Done()
			for i := range queue {
				tr := trials[i]
				tr.client, tr.logDir, tr.env, tr.firstSeed = client, logDir, env, seed
				results[i] = tr.run(t)
			}
		}()
	}
	lanes.Wait()
	results = slices.DeleteFunc(results, func(r Result) bool { return r.Label == "" })
	var table bytes.Buffer
	WriteTable(&table, results)
	t.Logf("\n%s", table.String())
}

// churnTrial is one of TestChurn's trials.
type churnTrial struct {
	config, schedule string
	seed             uint64
	count            int
	rate             float64
	outage           time.Duration
	limits           Limits

	client, logDir string
	env            []string
	firstSeed      uint64 // for the replay hint
}

// duration is roughly how long the trial takes.
func (tr churnTrial) duration() time.Duration {
	return time.Duration(float64(tr.count)/tr.rate*float64(time.Second)) + tr.outage/2
}

// run runs the trial as a subtest of t (from any goroutine) and returns its result.
func (tr churnTrial) run(t *testing.T) Result {
	var r Result
	name := fmt.Sprintf("%s/%s/seed=%d", tr.config, tr.schedule, tr.seed)
	t.Run(name, func(t *testing.T) {
		var progress bytes.Buffer
		var err error
		r, err = Run(context.Background(), Options{
			Pub:      tr.client + " pub --brokers {brokers} --topic {topic} --count {count} --rate {rate} --config {config} --outbox {outbox} --start {start}",
			Sub:      tr.client + " sub --brokers {brokers} --topic {topic} --config {config}",
			Label:    "go",
			Config:   tr.config,
			Seed:     tr.seed,
			Count:    tr.count,
			Rate:     tr.rate,
			Schedule: tr.schedule,
			Outage:   tr.outage,
			Limits:   tr.limits,
			LogDir:   tr.logDir,
			Env:      tr.env,
			Progress: &progress,
		})
		t.Log(strings.TrimSpace(progress.String()))
		t.Log(r.Line())
		if r.Schedule == ScheduleOutage || r.Schedule == ScheduleCrash || r.Schedule == ScheduleDouble {
			t.Logf("stored %d, duplicates %d, out-of-order %d, failed %d, queued-but-lost %d, unresolved %d, publisher crashes %d, recovered %d",
				r.Stored, r.Duplicates, r.OutOfOrder, r.Failed, r.QueuedLost, r.Unresolved, r.Crashes, r.Recovered)
		}
		if err != nil || !r.OK() {
			replay := fmt.Sprintf("-seed %d -config %s -schedule %s -count %d -rate %v", tr.seed, tr.config, tr.schedule, tr.count, tr.rate)
			if tr.outage > 0 {
				replay += fmt.Sprintf(" -outage %v", tr.outage)
			}
			t.Errorf("trial failed (replay: HAMQTT_CHURN_SEED=%d go test -race -run 'TestChurn/%s' ./internal/churn, or go run ./internal/cmd/churn %s -client <churnclient>): %v\n%s\nlog %s:\n%s",
				tr.firstSeed, name, replay, err, strings.Join(r.Failures, "\n"), r.Log, Tail(r.Log, 40))
		}
	})
	return r
}

// buildClient builds the Go churn client (with the race detector when this test runs with
// it) into a temporary directory.
func buildClient(t *testing.T) string {
	t.Helper()
	bin, err := BuildGoClient(t.TempDir(), raceEnabled)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
