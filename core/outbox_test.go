package core

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// deadURI is a loopback address nothing listens on (a listener closed at once).
func deadURI(t *testing.T) string {
	t.Helper()
	b := brokertest.Start(t)
	uri := b.URI()
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	return uri
}

func openOutbox(t *testing.T, cfg OutboxConfig) *Outbox {
	t.Helper()
	ob, err := OpenOutbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

// newUnstarted makes a cluster that is not connected (and closes it when the test ends).
func newUnstarted(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestOutboxCarriesATotalOutage: with a memory outbox, asynchronous and blocking QoS 1
// publishes made while every broker is down are stored (a blocking one says ErrStored after
// its wait instead of failing), and all arrive, in order, once the brokers are back.
func TestOutboxCarriesATotalOutage(t *testing.T) {
	bs := brokertest.StartN(t, 2)
	sub := startCluster(t, defaultConfig("obsub", bs))
	var got seqCollector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "ob/t", 1, got.add); err != nil {
		t.Fatal(err)
	}
	ob := openOutbox(t, OutboxConfig{})
	pubCfg := defaultConfig("obpub", bs)
	pubCfg.TimeToWait = 500 * time.Millisecond
	pubCfg.Outbox = ob
	pub := startCluster(t, pubCfg)
	waitLive(t, sub, 2)
	for _, b := range bs {
		if err := b.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "every broker seen dead", func() bool { return pub.LiveCount() == 0 })
	var toks []*Token
	var want []int
	for i := 0; i < 400; i++ {
		want = append(want, i)
		if i == 200 {
			err := pub.Publish(ctxT(t, 5*time.Second), "ob/t", 1, false, []byte(strconv.Itoa(i)))
			if !errors.Is(err, ErrStored) {
				t.Fatalf("a blocking publish during the outage: %v, want ErrStored", err)
			}
			continue
		}
		tok := pub.PublishAsync("ob/t", 1, false, []byte(strconv.Itoa(i)))
		if !tok.Stored() {
			t.Fatalf("publish %d was not stored: %v", i, tok.Err())
		}
		toks = append(toks, tok)
	}
	time.Sleep(pubCfg.TimeToWait + 200*time.Millisecond) // longer than any publish may wait without an outbox
	if st := ob.Stats(); st.Messages != 400 || st.OldestAge() <= 0 {
		t.Fatalf("outbox during the outage: %+v, want 400 messages", st)
	}
	for _, b := range bs {
		if err := b.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	for i, tok := range toks {
		if err := tok.Wait(ctxT(t, 20*time.Second)); err != nil {
			t.Fatalf("publish %d after the outage: %v", i, err)
		}
	}
	if err := pub.Flush(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "every message at the subscriber", func() bool { return got.has(want) })
	if missing, disorder := got.check(want); len(missing) > 0 || disorder > 0 {
		t.Fatalf("after the outage: %d missing, %d out of order", len(missing), disorder)
	}
	if st := ob.Stats(); st.Messages != 0 || st.Delivered != 400 || !st.Oldest.IsZero() {
		t.Fatalf("outbox after the flush: %+v", st)
	}
	pub.Close()
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDiskOutboxResumesAfterRestart: messages stored on disk while no broker is reachable
// survive closing the cluster and the outbox; the next run (before its first connect even)
// holds them and delivers them in order, then the outbox is empty on disk too.
func TestDiskOutboxResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	dead := deadURI(t)
	ob := openOutbox(t, OutboxConfig{Dir: dir})
	c := newUnstarted(t, Config{Name: "disk", Endpoints: []EndpointConfig{{URI: dead}}, Outbox: ob})
	for i := 0; i < 300; i++ { // before any connect
		if tok := c.PublishAsync("disk/t", 1, false, []byte(strconv.Itoa(i))); !tok.Stored() {
			t.Fatalf("publish %d: not stored: %v", i, tok.Err())
		}
	}
	c.Close()
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}

	b := brokertest.Start(t)
	sub := startCluster(t, Config{Name: "disksub", Endpoints: []EndpointConfig{{URI: b.URI()}}})
	var got seqCollector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "disk/t", 1, got.add); err != nil {
		t.Fatal(err)
	}
	ob = openOutbox(t, OutboxConfig{Dir: dir})
	if st, rep := ob.Stats(), ob.Recovery(); st.Messages != 300 || rep.Messages != 300 || rep.TornBytes != 0 || rep.SkippedBytes != 0 {
		t.Fatalf("reopened: %+v %+v, want 300 messages and no damage", st, rep)
	}
	c2 := startCluster(t, Config{Name: "disk", Endpoints: []EndpointConfig{{URI: b.URI()}}, Outbox: ob})
	if err := c2.Flush(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	want := make([]int, 300)
	for i := range want {
		want[i] = i
	}
	waitFor(t, 10*time.Second, "the stored messages at the subscriber", func() bool { return got.has(want) })
	if missing, disorder := got.check(want); len(missing) > 0 || disorder > 0 {
		t.Fatalf("%d missing, %d out of order", len(missing), disorder)
	}
	c2.Close()
	ob.Close()
	ob = openOutbox(t, OutboxConfig{Dir: dir})
	defer ob.Close()
	if st := ob.Stats(); st.Messages != 0 {
		t.Fatalf("after the flush the disk outbox still holds %d messages", st.Messages)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Errorf("segments left after everything was delivered: %v, want only the current one", segs)
	}
}

// TestOutboxHasOneOwner: a second open of a directory, in this process or another, fails
// clearly; a cluster cannot take an outbox another cluster uses.
func TestOutboxHasOneOwner(t *testing.T) {
	dir := t.TempDir()
	ob := openOutbox(t, OutboxConfig{Dir: dir})
	_, err := OpenOutbox(OutboxConfig{Dir: dir})
	if !errors.Is(err, ErrOutboxLocked) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("second open: %v, want ErrOutboxLocked naming this process", err)
	}
	dead := deadURI(t)
	newUnstarted(t, Config{Name: "first", Endpoints: []EndpointConfig{{URI: dead}}, Outbox: ob})
	if _, err := New(Config{Name: "second", Endpoints: []EndpointConfig{{URI: dead}}, Outbox: ob}); err == nil || !strings.Contains(err.Error(), `"first" already uses it`) {
		t.Fatalf("a second cluster on one outbox: %v", err)
	}
	if err := ob.Close(); err == nil {
		t.Fatal("an outbox closed under the cluster that uses it")
	}
}

// TestOutboxOverflowPolicies: refuse keeps what is stored and says so; drop-oldest reports
// each dropped message; block waits for room up to the publisher's wait.
func TestOutboxOverflowPolicies(t *testing.T) {
	dead := deadURI(t)
	setup := func(t *testing.T, policy OverflowPolicy) (*Cluster, *Outbox) {
		ob := openOutbox(t, OutboxConfig{MaxMessages: 5, Overflow: policy})
		cfg := Config{Name: "full", Endpoints: []EndpointConfig{{URI: dead}}, Outbox: ob, TimeToWait: 300 * time.Millisecond}
		c := newUnstarted(t, cfg)
		t.Cleanup(func() { c.Close(); ob.Close() })
		return c, ob
	}
	t.Run("refuse", func(t *testing.T) {
		c, ob := setup(t, OverflowRefuse)
		for i := 0; i < 5; i++ {
			c.PublishAsync("f", 1, false, []byte{byte(i)})
		}
		tok := c.PublishAsync("f", 1, false, []byte("one too many"))
		if tok.Stored() || !errors.Is(tok.Err(), ErrOutboxFull) {
			t.Fatalf("sixth publish: stored %v, %v; want ErrOutboxFull", tok.Stored(), tok.Err())
		}
		if st := ob.Stats(); st.Messages != 5 || st.Dropped != 0 {
			t.Fatalf("after a refusal: %+v", st)
		}
	})
	t.Run("drop-oldest", func(t *testing.T) {
		c, ob := setup(t, OverflowDropOldest)
		toks := []*Token{c.PublishAsync("f", 1, false, []byte{0})}
		waitFor(t, 2*time.Second, "the sender waiting with the first message", func() bool {
			return toks[0].entry.state.Load() == entrySending
		})
		for i := 1; i < 8; i++ {
			toks = append(toks, c.PublishAsync("f", 1, false, []byte{byte(i)}))
		}
		// The first is held by the sender waiting for a broker; the next oldest make room.
		for i := 1; i <= 3; i++ {
			if err := toks[i].Err(); !errors.Is(err, ErrDropped) {
				t.Fatalf("publish %d: %v, want ErrDropped", i, err)
			}
		}
		dropped := 0
		pollFor(t, c, 2*time.Second, "three drop events", func(e Event) bool {
			if e.Kind == EventDelivery && errors.Is(e.Err, ErrDropped) {
				dropped++
			}
			return dropped == 3
		})
		if st := ob.Stats(); st.Messages != 5 || st.Dropped != 3 {
			t.Fatalf("after drops: %+v", st)
		}
	})
	// A detached publish reports each failure once: a refusal is the call's error alone, a
	// stored message dropped later an error event (never a delivery event nobody asked for).
	t.Run("detached", func(t *testing.T) {
		c, _ := setup(t, OverflowRefuse)
		for i := 0; i < 5; i++ {
			if err := c.PublishDetached("f", 1, false, []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.PublishDetached("f", 1, false, []byte("one too many")); !errors.Is(err, ErrOutboxFull) {
			t.Fatalf("sixth detached publish: %v, want ErrOutboxFull", err)
		}
		c2, _ := setup(t, OverflowDropOldest)
		for i := 0; i < 8; i++ {
			if err := c2.PublishDetached("f", 1, false, []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		for _, cl := range []*Cluster{c, c2} {
			evs := make([]Event, 16)
			deadline := time.Now().Add(time.Second)
			errs := 0
			for time.Now().Before(deadline) {
				k, _ := cl.Poll(evs, 50*time.Millisecond)
				for _, e := range evs[:k] {
					switch {
					case e.Kind == EventDelivery:
						t.Fatalf("%s: a detached publish reported a delivery event: %+v", cl.cfg.Name, e.Delivery)
					case e.Kind == EventError && errors.Is(e.Err, ErrOutboxFull):
						t.Fatalf("%s: the refusal the call returned came again as an event: %v", cl.cfg.Name, e.Err)
					case e.Kind == EventError && errors.Is(e.Err, ErrDropped):
						errs++
					}
				}
			}
			if want := map[*Cluster]int{c: 0, c2: 3}[cl]; errs < want {
				t.Fatalf("%d dropped detached publishes reported as errors, want %d", errs, want)
			}
		}
	})
	t.Run("block", func(t *testing.T) {
		c, _ := setup(t, OverflowBlock)
		for i := 0; i < 5; i++ {
			c.PublishAsync("f", 1, false, []byte{byte(i)})
		}
		start := time.Now()
		tok := c.PublishAsync("f", 1, false, []byte("waits"))
		if !errors.Is(tok.Err(), ErrOutboxFull) {
			t.Fatalf("blocked publish: %v, want ErrOutboxFull after the wait", tok.Err())
		}
		if waited := time.Since(start); waited < 250*time.Millisecond {
			t.Fatalf("the blocked publish gave up after %v, before its 300ms wait", waited)
		}
	})
}

// TestOutboxExpiry: a stored message that outlives its expiry fails with ErrExpired and an
// event, and leaves the outbox.
func TestOutboxExpiry(t *testing.T) {
	ob := openOutbox(t, OutboxConfig{Expiry: 200 * time.Millisecond})
	c := newUnstarted(t, Config{Name: "exp", Endpoints: []EndpointConfig{{URI: deadURI(t)}}, Outbox: ob})
	t.Cleanup(func() { c.Close(); ob.Close() })
	tok := c.PublishAsync("e", 1, false, []byte("old news"))
	if err := tok.Wait(ctxT(t, 5*time.Second)); !errors.Is(err, ErrExpired) {
		t.Fatalf("%v, want ErrExpired", err)
	}
	pollFor(t, c, 2*time.Second, "the expiry event", func(e Event) bool {
		return e.Kind == EventDelivery && errors.Is(e.Err, ErrExpired) && e.Delivery.ID == tok.ID()
	})
	if st := ob.Stats(); st.Messages != 0 || st.Expired != 1 {
		t.Fatalf("%+v", st)
	}
}

// storeOffline stores n messages with payloads "0".."n-1" in a disk outbox at dir.
func storeOffline(t *testing.T, dir string, n int, sync SyncPolicy) {
	t.Helper()
	ob := openOutbox(t, OutboxConfig{Dir: dir, Sync: sync, MaxMessages: -1, MaxBytes: -1})
	c := newUnstarted(t, Config{Name: "offline", Endpoints: []EndpointConfig{{URI: "tcp://127.0.0.1:1"}}, Outbox: ob})
	for i := 0; i < n; i++ {
		if tok := c.PublishAsync("o/t", 1, false, []byte(strconv.Itoa(i))); !tok.Stored() {
			t.Fatalf("publish %d: %v", i, tok.Err())
		}
	}
	c.Close()
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
}

// recoveredPayloads opens dir and returns the payloads it holds, in order, and the report.
func recoveredPayloads(t *testing.T, dir string) ([]string, RecoveryReport) {
	t.Helper()
	ob := openOutbox(t, OutboxConfig{Dir: dir, MaxMessages: -1, MaxBytes: -1})
	defer ob.Close()
	var out []string
	ob.mu.Lock()
	for _, e := range ob.entries[ob.head:] {
		out = append(out, string(e.req.payload))
	}
	ob.mu.Unlock()
	return out, ob.Recovery()
}

func currentSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	var best string
	var size int64 = -1
	for _, s := range segs {
		if st, err := os.Stat(s); err == nil && st.Size() > size {
			best, size = s, st.Size()
		}
	}
	return best
}

// TestDiskOutboxRepairsTornAndDamagedRecords: a last record cut short (a power loss during
// the write) is cut off, and a damaged record in the middle is skipped; every other record
// is recovered, in order, and the report says what was lost.
func TestDiskOutboxRepairsTornAndDamagedRecords(t *testing.T) {
	dir := t.TempDir()
	storeOffline(t, dir, 50, SyncNever)
	seg := currentSegment(t, dir)
	st, _ := os.Stat(seg)
	if err := os.Truncate(seg, st.Size()-5); err != nil {
		t.Fatal(err)
	}
	got, rep := recoveredPayloads(t, dir)
	if len(got) != 49 || got[48] != "48" || rep.TornBytes == 0 || len(rep.Problems) == 0 {
		t.Fatalf("after a torn tail: %d messages (last %q), report %+v", len(got), got[len(got)-1], rep)
	}
	// Flip a byte inside the 20th message's record.
	buf, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	off := len(segmentMagic)
	for i := 0; i < 20; i++ {
		_, n, ok, _ := parseRecord(buf[off:])
		if !ok {
			t.Fatalf("record %d unreadable before damage", i)
		}
		off += n
	}
	buf[off+recordHeaderLen+12] ^= 0xff
	if err := os.WriteFile(seg, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	got, rep = recoveredPayloads(t, dir)
	if len(got) != 48 || rep.SkippedBytes == 0 {
		t.Fatalf("after damage: %d messages, report %+v; want 48 and the skipped bytes reported", len(got), rep)
	}
	for i, p := range got {
		want := i
		if i >= 20 {
			want = i + 1
		}
		if p != strconv.Itoa(want) {
			t.Fatalf("message %d is %q, want %d: order or content broken", i, p, want)
		}
	}
}

// TestDiskOutboxKeysBeyondPacketIDs: sequence numbers go past MQTT's 65,535 packet ids and
// on across a restart, never reused, and order holds.
func TestDiskOutboxKeysBeyondPacketIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 70,000 messages")
	}
	dir := t.TempDir()
	const n = 70_000
	storeOffline(t, dir, n, SyncNever)
	ob := openOutbox(t, OutboxConfig{Dir: dir, MaxMessages: -1, MaxBytes: -1})
	ob.mu.Lock()
	first, last := ob.entries[ob.head], ob.entries[len(ob.entries)-1]
	count := len(ob.entries) - ob.head
	ob.mu.Unlock()
	next := ob.nextSeq.Load()
	ob.Close()
	if count != n || string(first.req.payload) != "0" || string(last.req.payload) != strconv.Itoa(n-1) {
		t.Fatalf("recovered %d, first %q, last %q", count, first.req.payload, last.req.payload)
	}
	if last.seq <= 65535 || next <= last.seq {
		t.Fatalf("last sequence %d, next %d: want past 65535 and increasing", last.seq, next)
	}
}

// The crash test's child: publishes into a disk outbox with no reachable broker, printing
// "STORED <n>" once PublishAsync reported message n stored, until it is killed.
func init() {
	if dir := os.Getenv("HAMQTT_OUTBOX_CRASH_CHILD"); dir != "" {
		os.Exit(crashChild(dir))
	}
}

func crashChild(dir string) int {
	start, _ := strconv.Atoi(os.Getenv("HAMQTT_OUTBOX_CRASH_START"))
	segment, _ := strconv.ParseInt(os.Getenv("HAMQTT_OUTBOX_CRASH_SEGMENT"), 10, 64)
	ob, err := OpenOutbox(OutboxConfig{Dir: dir, MaxMessages: -1, MaxBytes: -1, SegmentBytes: segment})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c, err := New(Config{Name: "crash", Endpoints: []EndpointConfig{{URI: "tcp://127.0.0.1:1"}}, Outbox: ob})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	w := bufio.NewWriter(os.Stdout)
	for i := start; ; i++ {
		tok := c.PublishAsync("crash/t", 1, false, []byte(strconv.Itoa(i)))
		if !tok.Stored() {
			fmt.Fprintln(os.Stderr, tok.Err())
			return 3
		}
		fmt.Fprintf(w, "STORED %d\n", i)
		w.Flush()
	}
}

// TestDiskOutboxSurvivesKill9: a child process stores messages as fast as it can and is
// SIGKILLed at a random moment (seeded; HAMQTT_OUTBOX_CRASH_SEED replays), again and again
// on the same directory. Each reopen must hold every message the child reported stored, in
// order, each once; the next child resumes the numbering.
func TestDiskOutboxSurvivesKill9(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("HAMQTT_OUTBOX_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (HAMQTT_OUTBOX_CRASH_SEED=%d replays the kill times)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	reported := -1 // the highest number any child reported stored
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(exe)
		// Small segments, so kills also land around segment changes.
		cmd.Env = append(os.Environ(), "HAMQTT_OUTBOX_CRASH_CHILD="+dir, "HAMQTT_OUTBOX_CRASH_SEGMENT=4096",
			"HAMQTT_OUTBOX_CRASH_START="+strconv.Itoa(reported+1))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan int, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "STORED ")); err == nil {
					lines <- n
				}
			}
		}()
		// Wait for the first report, then kill at a random moment.
		select {
		case n, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("round %d: the child stored nothing: %s", round, stderr.String())
			}
			reported = max(reported, n)
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: no report from the child", round)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for n := range lines {
			reported = max(reported, n)
		}
		cmd.Wait()
		got, rep := recoveredPayloads(t, dir)
		if len(got) < reported+1 {
			t.Fatalf("round %d: %d messages recovered, but %d were reported stored (report %+v)", round, len(got), reported+1, rep)
		}
		for i, p := range got {
			if p != strconv.Itoa(i) {
				t.Fatalf("round %d: message %d is %q: lost, duplicated or out of order (report %+v)", round, i, p, rep)
			}
		}
		// Stored but not reported before the kill: the next child starts after them.
		reported = len(got) - 1
		t.Logf("round %d: %d stored, torn bytes %d", round, len(got), rep.TornBytes)
	}
}

// TestDiskOutboxFullDisk: a write the file system refuses (here the process's file size
// limit, as a full disk would) fails the publish clearly and leaves everything stored
// before it readable.
func TestDiskOutboxFullDisk(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("prlimit", "--fsize=65536", exe)
	cmd.Env = append(os.Environ(), "HAMQTT_OUTBOX_CRASH_CHILD="+dir)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("the child should stop on a refused write (exit 3): %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "not stored") {
		t.Fatalf("the refused publish's error does not say it was not stored: %s", stderr.String())
	}
	stored := strings.Count(stdout.String(), "STORED ")
	got, rep := recoveredPayloads(t, dir)
	if len(got) != stored || rep.TornBytes != 0 {
		t.Fatalf("after the full disk: %d recovered, %d reported stored, report %+v", len(got), stored, rep)
	}
	t.Logf("%d messages stored before the disk was full; error: %s", stored, strings.TrimSpace(stderr.String()))
}

// TestOutboxLetsGoOfDeliveredMessages: a long-running publisher's outbox does not keep the
// messages it delivered (nobody reads its stats here, which once was what trimmed them).
func TestOutboxLetsGoOfDeliveredMessages(t *testing.T) {
	b := brokertest.Start(t)
	ob := openOutbox(t, OutboxConfig{})
	c := startCluster(t, Config{Name: "trim", Endpoints: []EndpointConfig{{URI: b.URI()}}, Outbox: ob})
	for i := 0; i < 5000; i++ {
		c.PublishAsync("trim/t", 1, false, []byte("x"))
	}
	if err := c.Flush(ctxT(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	ob.mu.Lock()
	held, count := len(ob.entries), ob.count.Load()
	ob.mu.Unlock()
	if count != 0 || held > 2048 {
		t.Fatalf("after delivering 5000 messages the outbox keeps %d entries (%d unresolved)", held, count)
	}
	c.Close()
	ob.Close()
}

// TestClosedClusterStoresNothing: a cluster closed after handing its outbox on (another
// cluster took it) refuses publishes instead of storing what nobody would send.
func TestClosedClusterStoresNothing(t *testing.T) {
	ob := openOutbox(t, OutboxConfig{})
	dead := deadURI(t)
	c1, err := New(Config{Name: "first", Endpoints: []EndpointConfig{{URI: dead}}, Outbox: ob})
	if err != nil {
		t.Fatal(err)
	}
	c1.Close()
	c2 := newUnstarted(t, Config{Name: "second", Endpoints: []EndpointConfig{{URI: dead}}, Outbox: ob})
	tok := c1.PublishAsync("late", 1, false, []byte("x"))
	if tok.Stored() || !errors.Is(tok.Err(), ErrClosed) {
		t.Fatalf("a closed cluster's publish: stored %v, %v; want ErrClosed", tok.Stored(), tok.Err())
	}
	if st := ob.Stats(); st.Messages != 0 {
		t.Fatalf("the outbox holds %d messages nobody will send", st.Messages)
	}
	c2.Close()
	ob.Close()
}

// TestDiskOutboxSyncPolicies: with always, a message counts as stored only once an fsync
// covered it; with interval, the syncer forces what was written within its period; never
// leaves it to the operating system.
func TestDiskOutboxSyncPolicies(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			ob := openOutbox(t, OutboxConfig{Dir: t.TempDir(), Sync: policy, SyncInterval: 20 * time.Millisecond})
			c := newUnstarted(t, Config{Name: "sync", Endpoints: []EndpointConfig{{URI: "tcp://127.0.0.1:1"}}, Outbox: ob})
			for i := 0; i < 20; i++ {
				if tok := c.PublishAsync("s/t", 1, false, []byte("x")); !tok.Stored() {
					t.Fatal(tok.Err())
				}
			}
			l := ob.log
			written := func() uint64 { l.mu.Lock(); defer l.mu.Unlock(); return l.written }
			switch policy {
			case SyncAlways:
				if l.synced.Load() < written() {
					t.Fatalf("stored before an fsync covered it: synced %d of %d bytes", l.synced.Load(), written())
				}
			case SyncInterval:
				waitFor(t, 2*time.Second, "the interval's fsync", func() bool { return l.synced.Load() >= written() })
			case SyncNever:
				if l.synced.Load() != 0 {
					t.Fatalf("never forced %d bytes to disk", l.synced.Load())
				}
			}
			c.Close()
			if err := ob.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPublishBetweenClustersWaitsForTheNext: a publish through a cluster that closed while no
// other cluster has taken its outbox yet (a callback still running during a disconnect) is
// stored, and the next cluster on the outbox delivers it.
func TestPublishBetweenClustersWaitsForTheNext(t *testing.T) {
	b := brokertest.Start(t)
	ob := openOutbox(t, OutboxConfig{})
	c1, err := New(Config{Name: "before", Endpoints: []EndpointConfig{{URI: b.URI()}}, Outbox: ob})
	if err != nil {
		t.Fatal(err)
	}
	c1.Close()
	tok := c1.PublishAsync("between", 1, false, []byte("x"))
	if !tok.Stored() {
		t.Fatalf("a publish between clusters was not stored: %v", tok.Err())
	}
	c2 := startCluster(t, Config{Name: "after", Endpoints: []EndpointConfig{{URI: b.URI()}}, Outbox: ob})
	if err := tok.Wait(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("the next cluster did not deliver it: %v", err)
	}
	c2.Close()
	ob.Close()
}

// TestOutboxQoS0StoredOnlyWhenItWouldWait: with OutboxConfig.QoS0 a QoS 0 message is stored
// when no broker is live (and delivered after the outage), and goes straight to the broker
// while one is live and nothing stored waits ahead of it.
func TestOutboxQoS0StoredOnlyWhenItWouldWait(t *testing.T) {
	b := brokertest.Start(t)
	sub := startCluster(t, fastConfig("q0sub", b.URI()))
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "q0/#", 0, got.add); err != nil {
		t.Fatal(err)
	}
	ob := openOutbox(t, OutboxConfig{QoS0: true})
	cfg := fastConfig("q0pub", b.URI())
	cfg.Outbox = ob
	pub := startCluster(t, cfg)
	waitLive(t, pub, 1)
	for i := 0; i < 100; i++ {
		if tok := pub.PublishAsync("q0/live", 0, false, []byte(fmt.Sprint(i))); tok.Stored() {
			t.Fatalf("QoS 0 publish %d was stored while the broker was live", i)
		}
	}
	if err := pub.Flush(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "100 live QoS 0 messages", func() bool { return got.count() >= 100 })
	if st := ob.Stats(); st.Stored != 0 {
		t.Fatalf("outbox stored %d QoS 0 messages sent while a broker was live", st.Stored)
	}
	killAndWaitDead(t, b, pub)
	var toks []*Token
	for i := 0; i < 50; i++ {
		toks = append(toks, pub.PublishAsync("q0/outage", 0, false, []byte(fmt.Sprint(i))))
	}
	for i, tok := range toks {
		if !tok.Stored() {
			t.Fatalf("QoS 0 publish %d during the outage was not stored: %v", i, tok.Err())
		}
	}
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the 50 QoS 0 messages stored during the outage", func() bool { return got.count() >= 150 })
}
