package core

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// TestClustersOutboxFromFilePersistence: a padogrid file whose persistence is
// MqttDefaultFilePersistence gives its cluster a disk outbox in <path>/<cluster>/outbox. A
// publish made while the only broker is down is stored there, survives the registry's Close,
// and is delivered once the broker is back and the file is opened again. While one registry
// holds the outbox, a second is refused with an error that names the cluster.
func TestClustersOutboxFromFilePersistence(t *testing.T) {
	b := brokertest.Start(t)
	dir := t.TempDir()
	text := fmt.Sprintf(`defaultCluster: gw
persistence:
  className: MqttDefaultFilePersistence
  properties:
    - key: path
      value: %s
clusters:
  - name: gw
    timeToWait: 3000
    probeDelay: 50
    connectRate: 50
    warmUp: 100ms
    connections:
      - connection: {serverURIs: [%s], keepAliveInterval: 2, connectionTimeout: 2}
`, dir, b.URI())
	fc, err := ParseConfig([]byte(text), "gw.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := NewClusters(fc)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	if err := r1.ConnectAll(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	c := r1.Default()
	ob := r1.Outbox("")
	if ob == nil || ob != r1.Outbox("gw") || ob.Stats().Dir != filepath.Join(dir, "gw", "outbox") {
		t.Fatalf("outbox %v, want a disk outbox in %s", ob, filepath.Join(dir, "gw", "outbox"))
	}
	killAndWaitDead(t, b, c)
	if err := c.Publish(ctxT(t, 300*time.Millisecond), "ob/t", 1, false, []byte("stored while down")); !errors.Is(err, ErrStored) {
		t.Fatalf("publish with the broker down: %v, want ErrStored", err)
	}
	if st := ob.Stats(); st.Messages != 1 || st.Stored != 1 {
		t.Fatalf("outbox stats %+v, want 1 message stored", st)
	}

	if _, err := NewClusters(fc); !errors.Is(err, ErrOutboxLocked) || !strings.HasPrefix(err.Error(), "gw.yaml:8: cluster \"gw\": ") {
		t.Fatalf("a second registry on the same outbox: %v", err)
	}
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "gw", "outbox", "*.seg"))
	var onDisk int64
	for _, s := range segs {
		if fi, err := os.Stat(s); err == nil {
			onDisk += fi.Size()
		}
	}
	if onDisk == 0 {
		t.Fatalf("nothing on disk in %s after Close", filepath.Join(dir, "gw", "outbox"))
	}

	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	k := newCounter(t, b.URI(), "ob/#")
	r2, err := NewClusters(fc)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	ob2 := r2.Outbox("gw")
	if ob2.Recovery().Messages != 1 {
		t.Fatalf("recovered %+v, want the stored message", ob2.Recovery())
	}
	if err := r2.ConnectAll(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the stored message delivered", func() bool { return k.total() >= 1 })
	waitFor(t, 5*time.Second, "the outbox emptied", func() bool {
		st := ob2.Stats()
		return st.Messages == 0 && st.Delivered == 1
	})
	k.mu.Lock()
	got := k.seen["stored while down"]
	k.mu.Unlock()
	if got != 1 {
		t.Errorf("the subscriber got %v, want the stored message once", k.seen)
	}
}

// TestClustersOutboxOwnership: the registry opens the outboxes the file asks for (the top-level
// key also for clusters GetOrCreate makes later), closes them after their clusters, and leaves
// an outbox the caller put in Config.Outbox alone.
func TestClustersOutboxOwnership(t *testing.T) {
	refused, err := brokertest.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`defaultCluster: a
outbox: {enabled: true}
clusters:
  - name: a
    connections: [{connection: {serverURIs: [tcp://%[1]s]}}]
  - name: b
    outbox: {enabled: false}
    connections: [{connection: {serverURIs: [tcp://%[1]s]}}]
  - name: mine
    connections: [{connection: {serverURIs: [tcp://%[1]s]}}]
`, refused)
	fc, err := ParseConfig([]byte(text), "own.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := OpenOutbox(OutboxConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	for i := range fc.Clusters {
		if fc.Clusters[i].Name == "mine" {
			fc.Clusters[i].Outbox = mine
		}
	}
	r, err := NewClusters(fc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	oa := r.Outbox("a")
	if oa == nil || oa.Stats().Dir != "" || r.Outbox("b") != nil || r.Outbox("nope") != nil || r.Outbox("mine") != mine {
		t.Fatalf("outboxes a %v, b %v, nope %v, mine %v", oa, r.Outbox("b"), r.Outbox("nope"), r.Outbox("mine"))
	}
	if _, err := r.GetOrCreate("later", "tcp://"+refused); err != nil {
		t.Fatal(err)
	}
	if r.Outbox("later") == nil {
		t.Error("a cluster created later has no outbox despite the top-level outbox key")
	}
	a, _ := r.Get("a")
	tok := a.PublishAsync("own/t", 1, false, []byte("x")) // no broker: it waits in the outbox
	if !tok.Stored() {
		t.Fatalf("not stored: %v", tok.Err())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tok.Wait(ctxT(t, 5*time.Second)); !errors.Is(err, ErrClosed) {
		t.Errorf("a memory outbox's message after Close: %v, want ErrClosed", err)
	}
	if st := oa.Stats(); st.Stored != 1 {
		t.Errorf("stats after Close: %+v", st)
	}
	// The caller's outbox is still open: another cluster can use it.
	cfg := fastConfig("reuse", "tcp://"+refused)
	cfg.Outbox = mine
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("the caller's outbox was closed by the registry: %v", err)
	}
	c.Close()
}
