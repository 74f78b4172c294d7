// Command storage measures the outbox's storage against the obvious alternative, an embedded
// B+tree (bbolt), on the same workload: N messages stored one by one, keyed by a 64-bit
// sequence, then deleted as brokers acknowledge them. It is a module of its own so that the
// engine never depends on bbolt; `make bench-storage` runs it (not part of `make test`).
//
//	storage [-n64 20000] [-n16k 2000] [-writers 1,8] [-reps 3] [-quick] [-run REGEXP] [-dir DIR] [-json FILE]
//
// hamqtt: core.OpenOutbox on a directory and a core.Cluster whose only endpoint is a loopback
// port nothing listens on, so that PublishAsync stores and nothing is sent; each sync policy,
// with 1 and with 8 publishing goroutines. Delete-on-ack: a Mosquitto broker is then started on
// that port and the cluster flushes the outbox; every acknowledgement appends a resolution
// record (not forced to disk) and deletes segments whose messages are all resolved. That
// figure includes the network round trip to the broker, so it bounds the storage cost from
// above.
//
// bbolt: one bucket, key = sequence (8 bytes big endian), value = the same fields the outbox
// keeps (times, QoS, flags, topic, payload). One Update transaction per message (bbolt forces
// each commit to disk: data pages, then the meta page), from 1 goroutine, from 8 (bbolt's
// single writer serialises them), and with DB.Batch from 8 (bbolt's group commit, its batch
// size set to the number of writers so that no batch waits out MaxBatchDelay); and with
// NoSync as the counterpart of SyncNever. Delete-on-ack: one transaction per acknowledgement
// (Batch for the Batch row), under the same sync setting.
//
// Every row reports messages/s, the bytes the directory holds after the stores and after the
// deletes, and the bytes of page cache the process dirtied (/proc/self/io write_bytes: what
// the kernel has to write to the device, at page granularity), per message stored.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hamqtt/hamqtt/core"
	"github.com/hamqtt/hamqtt/internal/brokertest"
)

const topic = "bench/storage/readings"

// result is one row of the report.
type result struct {
	Store      string    `json:"store"`   // hamqtt / bbolt
	Variant    string    `json:"variant"` // sync policy or transaction style
	Writers    int       `json:"writers"`
	Size       int       `json:"size"`
	N          int       `json:"n"`
	StoreRate  float64   `json:"storeRate"`            // msg/s
	DeleteRate float64   `json:"deleteRate"`           // msg/s (hamqtt: through a live broker)
	DiskStored int64     `json:"diskStored"`           // bytes in the directory after the stores
	DiskAfter  int64     `json:"diskAfter"`            // after every message was deleted
	WrittenPer float64   `json:"writtenPer"`           // page-cache bytes dirtied per message stored
	StoreRates []float64 `json:"storeRates,omitempty"` // every repetition
	Err        string    `json:"error,omitempty"`
}

func main() {
	n64 := flag.Int("n64", 20000, "messages of 64 bytes")
	n16k := flag.Int("n16k", 2000, "messages of 16 KiB")
	writersFlag := flag.String("writers", "1,8", "publishing goroutines, comma-separated")
	quick := flag.Bool("quick", false, "a tenth of the messages (checks that it works; the figures are noisy)")
	base := flag.String("dir", "", "directory for the stores (default: a temporary one, removed at the end)")
	jsonOut := flag.String("json", "", "also write the rows as JSON to this file")
	reps := flag.Int("reps", 3, "repetitions of every row (the rows are medians)")
	only := flag.String("run", "", "run only the rows whose name (\"hamqtt segment log, always x8 64 B\") matches this regular expression")
	flag.Parse()
	if *quick {
		*n64, *n16k = max(*n64/10, 100), max(*n16k/10, 20)
	}
	sel, err := regexp.Compile(*only)
	if err != nil {
		fatalf("bad -run: %v", err)
	}
	var writers []int
	for _, f := range strings.Split(*writersFlag, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 1 {
			fatalf("bad -writers %q", *writersFlag)
		}
		writers = append(writers, w)
	}
	dir := *base
	if dir == "" {
		d, err := os.MkdirTemp("", "hamqtt-storage-bench-")
		if err != nil {
			fatalf("%v", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if _, err := readWriteBytes(); err != nil {
		fmt.Fprintf(os.Stderr, "storage: /proc/self/io unreadable (%v): the written-bytes column stays empty\n", err)
	}

	type load struct{ size, n int }
	loads := []load{{64, *n64}, {16 << 10, *n16k}}
	type job struct {
		name string
		run  func(dir string) (result, error)
	}
	var jobs []job
	for _, ld := range loads {
		if ld.n <= 0 {
			continue
		}
		for _, pol := range []core.SyncPolicy{core.SyncAlways, core.SyncInterval, core.SyncNever} {
			for _, w := range writers {
				name := fmt.Sprintf("hamqtt segment log, %s x%d %d B", pol, w, ld.size)
				if sel.MatchString(name) {
					pol, w, ld := pol, w, ld
					jobs = append(jobs, job{name, func(d string) (result, error) { return runHamqtt(d, pol, w, ld.size, ld.n) }})
				}
			}
		}
		for _, v := range []boltVariant{{"Update, fsync", false, false, 1}, {"Update, fsync", false, false, 8},
			{"Batch, fsync", true, false, 8}, {"Update, NoSync", false, true, 1}} {
			name := fmt.Sprintf("bbolt %s x%d %d B", v.name, v.writers, ld.size)
			if contains(writers, v.writers) && sel.MatchString(name) {
				v, ld := v, ld
				jobs = append(jobs, job{name, func(d string) (result, error) { return runBolt(d, v, ld.size, ld.n) }})
			}
		}
	}
	// Every repetition runs every row, starting one row further each time, so that no row
	// always follows the same one; rows are the medians.
	runs := make([][]result, len(jobs))
	failed := false
	for r := 0; r < *reps; r++ {
		for k := range jobs {
			j := (r + k) % len(jobs)
			d := filepath.Join(dir, fmt.Sprintf("run-%d-%d", r, j))
			res, err := jobs[j].run(d)
			os.RemoveAll(d)
			if err != nil {
				res.Err = err.Error()
				failed = true
				fmt.Fprintf(os.Stderr, "storage: %s: %v\n", jobs[j].name, err)
			} else {
				fmt.Fprintf(os.Stderr, "storage: %-42s store %8.0f msg/s, delete %8.0f msg/s, disk %s -> %s, dirtied %s/msg\n",
					jobs[j].name, res.StoreRate, res.DeleteRate, human(res.DiskStored), human(res.DiskAfter), human(int64(res.WrittenPer)))
			}
			runs[j] = append(runs[j], res)
		}
	}
	var rows []result
	for _, rs := range runs {
		rows = append(rows, medianRow(rs))
	}
	fmt.Print(markdown(rows))
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fatalf("%v", err)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// medianRow is the row of several runs of one configuration: the median of each measure
// (what is on disk is the same every run), with the stored rates of every run.
func medianRow(rs []result) result {
	r := rs[0]
	var store, del, written []float64
	for _, x := range rs {
		if x.Err != "" {
			r.Err = x.Err
			continue
		}
		store, del, written = append(store, x.StoreRate), append(del, x.DeleteRate), append(written, x.WrittenPer)
		r.DiskStored, r.DiskAfter = max(r.DiskStored, x.DiskStored), max(r.DiskAfter, x.DiskAfter)
	}
	r.StoreRate, r.DeleteRate, r.WrittenPer = median(store), median(del), median(written)
	r.StoreRates = store
	return r
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "storage: "+format+"\n", a...)
	os.Exit(1)
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// split deals n messages to w goroutines and runs fn(i) for each, returning when all are done.
func split(n, w int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, w)
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += w {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func payloadOf(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}

func runHamqtt(dir string, pol core.SyncPolicy, writers, size, n int) (result, error) {
	r := result{Store: "hamqtt", Variant: "segment log, " + pol.String(), Writers: writers, Size: size, N: n}
	port, err := brokertest.FreePort()
	if err != nil {
		return r, err
	}
	ob, err := core.OpenOutbox(core.OutboxConfig{Dir: dir, MaxMessages: -1, MaxBytes: -1, Sync: pol})
	if err != nil {
		return r, err
	}
	defer ob.Close()
	cfg := core.Config{
		Name:      "storage",
		Endpoints: []core.EndpointConfig{{URI: fmt.Sprintf("tcp://127.0.0.1:%d", port)}},
		Outbox:    ob,
		WarmUp:    -1, // one broker and no subscriber: nothing to wait for
	}
	c, err := core.New(cfg)
	if err != nil {
		return r, err
	}
	defer c.Close()
	payload := payloadOf(size)
	toks := make([]*core.Token, n)
	w0, _ := readWriteBytes()
	start := time.Now()
	err = split(n, writers, func(i int) error {
		t := c.PublishAsync(topic, 1, false, payload)
		if !t.Stored() {
			return fmt.Errorf("message %d not stored: %w", i, t.Err())
		}
		toks[i] = t
		return nil
	})
	if err != nil {
		return r, err
	}
	r.StoreRate = float64(n) / time.Since(start).Seconds()
	w1, _ := readWriteBytes()
	r.WrittenPer = float64(w1-w0) / float64(n)
	if r.DiskStored, err = dirBytes(dir); err != nil {
		return r, err
	}

	// Delete-on-ack: a broker appears on the endpoint's port and the outbox flushes to it.
	b, err := brokertest.New(brokertest.Options{Port: port, ExtraConfig: "max_queued_messages 0"})
	if err != nil {
		return r, err
	}
	defer b.Close()
	first := make(chan time.Time, 1)
	go func() {
		select {
		case <-toks[0].Done():
		case <-time.After(2 * time.Minute):
		}
		first <- time.Now()
	}()
	if err := c.Start(); err != nil {
		return r, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		return r, fmt.Errorf("flush: %w (%d messages still held)", err, ob.Stats().Messages)
	}
	end := time.Now()
	t0 := <-first
	for i, t := range toks {
		if err := t.Err(); err != nil {
			return r, fmt.Errorf("message %d: %w", i, err)
		}
	}
	if el := end.Sub(t0).Seconds(); el > 0 {
		r.DeleteRate = float64(n-1) / el
	}
	if st := ob.Stats(); st.Messages != 0 {
		return r, fmt.Errorf("%d messages still held after the flush", st.Messages)
	}
	if r.DiskAfter, err = dirBytes(dir); err != nil {
		return r, err
	}
	return r, nil
}

type boltVariant struct {
	name    string
	batch   bool
	noSync  bool
	writers int
}

var bucket = []byte("outbox")

// boltValue is what the outbox keeps of a message: stored-at and expiry times, QoS, flags,
// the topic and the payload.
func boltValue(storedAt time.Time, payload []byte) []byte {
	v := make([]byte, 0, 8+8+1+1+2+len(topic)+len(payload))
	v = binary.LittleEndian.AppendUint64(v, uint64(storedAt.UnixNano()))
	v = binary.LittleEndian.AppendUint64(v, 0)
	v = append(v, 1, 0)
	v = binary.LittleEndian.AppendUint16(v, uint16(len(topic)))
	v = append(v, topic...)
	return append(v, payload...)
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func runBolt(dir string, v boltVariant, size, n int) (result, error) {
	r := result{Store: "bbolt", Variant: v.name, Writers: v.writers, Size: size, N: n}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return r, err
	}
	db, err := bolt.Open(filepath.Join(dir, "outbox.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return r, err
	}
	defer db.Close()
	db.NoSync = v.noSync
	// A batch commits when this many callers joined it, or after MaxBatchDelay (10 ms): with
	// as many writers as callers, no batch waits out the delay.
	db.MaxBatchSize = v.writers
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		return r, err
	}
	payload := payloadOf(size)
	var seqMu sync.Mutex
	var seq uint64
	commit := db.Update
	if v.batch {
		commit = db.Batch
	}
	w0, _ := readWriteBytes()
	start := time.Now()
	err = split(n, v.writers, func(int) error {
		val := boltValue(time.Now(), payload)
		return commit(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			// The sequence is taken inside the transaction so that keys grow in commit order,
			// as an outbox needs; a Batch may run this function twice, which only skips one.
			seqMu.Lock()
			seq++
			k := seqKey(seq)
			seqMu.Unlock()
			return b.Put(k, val)
		})
	})
	if err != nil {
		return r, err
	}
	r.StoreRate = float64(n) / time.Since(start).Seconds()
	w1, _ := readWriteBytes()
	r.WrittenPer = float64(w1-w0) / float64(n)
	if v.noSync {
		if err := db.Sync(); err != nil {
			return r, err
		}
	}
	if r.DiskStored, err = dirBytes(dir); err != nil {
		return r, err
	}
	var keys [][]byte
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil })
	}); err != nil {
		return r, err
	}
	if len(keys) != n {
		return r, fmt.Errorf("%d keys stored, want %d", len(keys), n)
	}
	// Acknowledgements arrive in publish order; each deletes its key.
	start = time.Now()
	err = split(len(keys), v.writers, func(i int) error {
		return commit(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete(keys[i]) })
	})
	if err != nil {
		return r, err
	}
	r.DeleteRate = float64(n) / time.Since(start).Seconds()
	if err := db.Sync(); err != nil {
		return r, err
	}
	if r.DiskAfter, err = dirBytes(dir); err != nil {
		return r, err
	}
	return r, nil
}

// dirBytes is the space the files under dir take on disk (allocated blocks, so sparse files
// and preallocation count as the file system sees them), lock files aside.
func dirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		total += st.Blocks * 512
		return nil
	})
	return total, err
}

// readWriteBytes is the process's write_bytes: page-cache bytes it dirtied, which the kernel
// writes to the device (a page written again after an fsync counts again).
func readWriteBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("no write_bytes line")
}

func human(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 10<<10:
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func markdown(rows []result) string {
	var s strings.Builder
	fmt.Fprintf(&s, "\nOutbox storage, %s, GOMAXPROCS %d, %s; medians\n\n", runtime.Version(), runtime.GOMAXPROCS(0), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	s.WriteString("| store | sync / transactions | writers | messages | stored msg/s | deleted msg/s | on disk, stored | on disk, all deleted | dirtied per message | stored msg/s, every run |\n")
	s.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		sz := fmt.Sprintf("%d x %d B", r.N, r.Size)
		if r.Size >= 1024 {
			sz = fmt.Sprintf("%d x %d KiB", r.N, r.Size>>10)
		}
		if r.Err != "" {
			fmt.Fprintf(&s, "| %s | %s | %d | %s | failed: %s | | | | | |\n", r.Store, r.Variant, r.Writers, sz, r.Err)
			continue
		}
		del := fmt.Sprintf("%.0f", r.DeleteRate)
		if r.Store == "hamqtt" {
			del += " (flush to Mosquitto)"
		}
		var every []string
		for _, x := range r.StoreRates {
			every = append(every, fmt.Sprintf("%.0f", x))
		}
		fmt.Fprintf(&s, "| %s | %s | %d | %s | %.0f | %s | %s | %s | %s | %s |\n", r.Store, r.Variant, r.Writers, sz, r.StoreRate, del,
			human(r.DiskStored), human(r.DiskAfter), human(int64(r.WrittenPer)), strings.Join(every, " "))
	}
	return s.String()
}
