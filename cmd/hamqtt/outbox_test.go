package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// TestOutboxPubAndStatus: with a padogrid file persistence the cluster has a disk outbox.
// pub with the broker down reports the message stored (exit 0), status shows it waiting, the
// next pub once the broker is back sends it first and then its own, in order; while hamqtt
// start holds the outbox, status says which process does. A memory outbox cannot keep a
// message past the command: pub reports it not delivered (exit 1).
func TestOutboxPubAndStatus(t *testing.T) {
	b := brokertest.Start(t)
	dir := t.TempDir()
	cfg := writeFile(t, "gw.yaml", fmt.Sprintf(`defaultCluster: gw
persistence:
  className: MqttDefaultFilePersistence
  properties:
    - key: path
      value: %s
clusters:
  - name: gw
    warmUp: 100ms
    connections:
      - connection:
          serverURIs: [%s]
  - name: mem
    outbox: {enabled: true}
    persistence: {className: MemoryPersistence}
    connections:
      - connection:
          serverURIs: [%[2]s]
`, dir, b.URI()))
	obDir := filepath.Join(dir, "gw", "outbox")
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}

	stored := hamqtt(t, "", "pub", "-config", cfg, "-t", "ob/t", "-m", "one", "-q", "1", "-timeout", "1s")
	expectCode(t, stored, 0)
	if !strings.Contains(stored.stderr, `stored "ob/t" (qos 1) in the disk outbox `+obDir+": no broker acknowledged it within 1s") {
		t.Fatalf("pub should report the message stored, not delivered\n%v", stored)
	}

	st := hamqtt(t, "", "status", "-config", cfg, "-timeout", "500ms")
	expectCode(t, st, 1) // no endpoint live
	if !regexp.MustCompile(`(?m)^outbox: disk ` + regexp.QuoteMeta(obDir) + `: 1 message waiting \(7 bytes\), oldest \d`).MatchString(st.stdout) {
		t.Errorf("status should show the stored message\n%v", st)
	}
	j := hamqtt(t, "", "status", "-config", cfg, "-timeout", "500ms", "-json")
	var doc struct {
		Clusters []struct {
			Outbox *struct {
				Kind, Dir          string
				Messages           int
				Bytes              int64
				OldestAgeSeconds   float64
				Delivered, Expired uint64
			}
		}
	}
	if err := json.Unmarshal([]byte(j.stdout), &doc); err != nil || len(doc.Clusters) != 1 || doc.Clusters[0].Outbox == nil {
		t.Fatalf("status -json: %v\n%v", err, j)
	}
	if o := doc.Clusters[0].Outbox; o.Kind != "disk" || o.Dir != obDir || o.Messages != 1 || o.Bytes != 7 || o.OldestAgeSeconds <= 0 {
		t.Errorf("status -json outbox %+v", o)
	}

	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	sub := start(t, "sub", "-endpoints", b.URI(), "-t", "ob/#", "-q", "1", "-count", "2", "-duration", "30s")
	sub.waitStderr(subscribed, subReady)
	sent := hamqtt(t, "", "pub", "-config", cfg, "-t", "ob/t", "-m", "two", "-q", "1")
	expectCode(t, sent, 0)
	if !strings.Contains(sent.stderr, "outbox "+obDir+": 1 message stored by an earlier run is sent first") ||
		!strings.Contains(sent.stderr, `published to "ob/t" (qos 1) via gw-1`) {
		t.Errorf("pub should send the stored message first, then deliver its own\n%v", sent)
	}
	r := sub.wait(exitWait)
	expectCode(t, r, 0)
	if r.stdout != "cluster-default-1 - ob/t: one\ncluster-default-1 - ob/t: two\n" {
		t.Errorf("the subscriber should get the stored message, then the new one\n%v", r)
	}

	// A running hamqtt start owns the outbox: status names it instead of reading it.
	p := start(t, "start", "-config", cfg)
	p.waitStderr(`msg=outbox cluster=gw kind=disk`, subReady)
	held := hamqtt(t, "", "status", "-config", cfg)
	if !regexp.MustCompile(`(?m)^outbox: disk ` + regexp.QuoteMeta(obDir) + `: in use by process \d+`).MatchString(held.stdout) {
		t.Errorf("status should say which process holds the outbox\n%v", held)
	}
	p.signal(syscall.SIGTERM)
	expectCode(t, p.wait(exitWait), 0)

	// A memory outbox ends with the command.
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	mem := hamqtt(t, "", "pub", "-config", cfg, "-cluster", "mem", "-t", "ob/m", "-m", "gone", "-q", "1", "-timeout", "500ms")
	expectCode(t, mem, 1)
	if !strings.Contains(mem.stderr, "1 message not delivered: no broker acknowledged it within 500ms, and a memory outbox ends with this command") {
		t.Errorf("pub with a memory outbox should report the message not delivered\n%v", mem)
	}
	ms := hamqtt(t, "", "status", "-config", cfg, "-cluster", "mem", "-timeout", "500ms")
	if !strings.Contains(ms.stdout, "outbox: memory: a memory outbox lives in the process that publishes") {
		t.Errorf("status of a memory outbox\n%v", ms)
	}
}
