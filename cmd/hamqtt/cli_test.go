package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
	"github.com/hamqtt/hamqtt/internal/version"
)

const (
	subReady = 20 * time.Second // Connect and Subscribe on loopback take well under a second
	exitWait = 30 * time.Second
)

// TestPubSubThreeBrokers: a message published to a 3-broker cluster reaches a subscriber of
// the same cluster, printed with the endpoint it came through: the one the publisher used.
func TestPubSubThreeBrokers(t *testing.T) {
	eps := endpointList(brokertest.StartN(t, 3))
	sub := start(t, "sub", "-endpoints", eps, "-t", "test/pubsub", "-q", "1", "-count", "1", "-duration", "30s")
	sub.waitStderr(subscribed, subReady)

	pub := hamqtt(t, "", "pub", "-endpoints", eps, "-t", "test/pubsub", "-m", "hello cluster", "-q", "1")
	expectCode(t, pub, 0)
	m := regexp.MustCompile(`published to "test/pubsub" \(qos 1\) via (cluster-default-[123])`).FindStringSubmatch(pub.stderr)
	if m == nil {
		t.Fatalf("pub did not say which endpoint took the message:\n%v", pub)
	}

	r := sub.wait(exitWait)
	expectCode(t, r, 0)
	want := m[1] + " - test/pubsub: hello cluster\n"
	if r.stdout != want {
		t.Fatalf("sub printed %q, want %q (the endpoint the publisher used)\n%v", r.stdout, want, r)
	}
}

// TestSubJSON: -format json prints one parsable JSON object per message, with the endpoint
// and its URI, and stops after -count.
func TestSubJSON(t *testing.T) {
	brokers := brokertest.StartN(t, 3)
	eps := endpointList(brokers)
	sub := start(t, "sub", "-endpoints", eps, "-t", "test/json/#", "-q", "1", "-count", "3", "-format", "json", "-duration", "30s")
	sub.waitStderr(subscribed, subReady)
	expectCode(t, hamqtt(t, "", "pub", "-endpoints", eps, "-t", "test/json/a", "-q", "1", "-count", "3", "-m", "msg {seq}", "-quiet"), 0)
	r := sub.wait(exitWait)
	expectCode(t, r, 0)

	uris := map[string]bool{}
	for _, b := range brokers {
		uris[b.URI()] = true
	}
	var payloads []string
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var m struct {
			Time, Endpoint, URI, Topic string
			QoS                        int
			Retained, Dup              bool
			Payload                    *string
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		if !strings.HasPrefix(m.Endpoint, "cluster-default-") || !uris[m.URI] || m.Topic != "test/json/a" || m.QoS != 1 || m.Payload == nil {
			t.Errorf("unexpected message %s", sc.Text())
		}
		if _, err := time.Parse(time.RFC3339Nano, m.Time); err != nil {
			t.Errorf("time %q: %v", m.Time, err)
		}
		if m.Payload != nil {
			payloads = append(payloads, *m.Payload)
		}
	}
	slices.Sort(payloads)
	if want := []string{"msg 1", "msg 2", "msg 3"}; !slices.Equal(payloads, want) {
		t.Fatalf("payloads %q, want %q\n%v", payloads, want, r)
	}
}

// TestPubName: -name publishes through the named endpoint only; an unknown name is a clear
// error that lists the endpoints.
func TestPubName(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	eps := fmt.Sprintf("alpha=%s,beta=%s,gamma=%s", bs[0].URI(), bs[1].URI(), bs[2].URI())
	sub := start(t, "sub", "-endpoints", eps, "-t", "test/name", "-q", "1", "-count", "3", "-duration", "30s")
	sub.waitStderr(subscribed, subReady)
	pub := hamqtt(t, "", "pub", "-endpoints", eps, "-name", "beta", "-t", "test/name", "-q", "1", "-count", "3", "-m", "to beta {seq}")
	expectCode(t, pub, 0)
	r := sub.wait(exitWait)
	expectCode(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 messages, got\n%v", r)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "beta - test/name: to beta ") {
			t.Errorf("message %q did not come through beta", l)
		}
	}

	bad := hamqtt(t, "", "pub", "-endpoints", eps, "-name", "delta", "-t", "test/name", "-m", "x")
	expectCode(t, bad, 1)
	if !strings.Contains(bad.stderr, `-name "delta"`) || !strings.Contains(bad.stderr, "alpha, beta, gamma") {
		t.Fatalf("unknown -name should be named and the endpoints listed:\n%v", bad)
	}
}

// TestPubStdinAndFile: -l and -f publish one message per non-blank line, in order.
func TestPubStdinAndFile(t *testing.T) {
	eps := endpointList(brokertest.StartN(t, 3))
	file := writeFile(t, "lines.txt", "from file 1\nfrom file 2\n")
	sub := start(t, "sub", "-endpoints", eps, "-t", "test/lines", "-q", "1", "-count", "5", "-duration", "30s")
	sub.waitStderr(subscribed, subReady)

	pub := hamqtt(t, "one\n\ntwo\r\nthree", "pub", "-endpoints", eps, "-t", "test/lines", "-q", "1", "-l")
	expectCode(t, pub, 0)
	if !strings.Contains(pub.stderr, "published 3 messages") {
		t.Errorf("pub -l should report 3 messages:\n%v", pub)
	}
	expectCode(t, hamqtt(t, "", "pub", "-endpoints", eps, "-t", "test/lines", "-q", "1", "-f", file, "-quiet"), 0)
	r := sub.wait(exitWait)
	expectCode(t, r, 0)
	// Each run publishes in order through one broker; the two runs may use different brokers,
	// whose deliveries are not ordered with respect to each other.
	got := payloads(r.stdout)
	stdin := slices.DeleteFunc(slices.Clone(got), func(p string) bool { return strings.HasPrefix(p, "from file") })
	fromFile := slices.DeleteFunc(slices.Clone(got), func(p string) bool { return !strings.HasPrefix(p, "from file") })
	if !slices.Equal(stdin, []string{"one", "two", "three"}) || !slices.Equal(fromFile, []string{"from file 1", "from file 2"}) {
		t.Fatalf("sub got %q, want one, two, three and from file 1, 2, each in order\n%v", got, r)
	}
}

// payloads extracts the payloads of sub's plain output ("ENDPOINT - TOPIC: PAYLOAD").
func payloads(stdout string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
		if _, p, ok := strings.Cut(l, ": "); ok {
			out = append(out, p)
		}
	}
	return out
}

// TestPubLoad: load mode publishes -count messages at -rate with a progress line on stderr,
// and every one arrives.
func TestPubLoad(t *testing.T) {
	eps := endpointList(brokertest.StartN(t, 3))
	sub := start(t, "sub", "-endpoints", eps, "-t", "test/load", "-q", "1", "-count", "600", "-duration", "60s")
	sub.waitStderr(subscribed, subReady)
	pub := hamqtt(t, "", "pub", "-endpoints", eps, "-t", "test/load", "-q", "1", "-count", "600", "-rate", "400", "-m", "load {seq}")
	expectCode(t, pub, 0)
	if !regexp.MustCompile(`(?m)^sent \d+/600 \(\d+%\)  acked \d+  failed 0 `).MatchString(pub.stderr) {
		t.Errorf("no progress line on stderr:\n%v", pub)
	}
	if !strings.Contains(pub.stderr, "published 600 messages") || !strings.Contains(pub.stderr, "600 acknowledged, 0 failed") {
		t.Errorf("no final load report:\n%v", pub)
	}
	r := sub.wait(exitWait)
	expectCode(t, r, 0)
	seen := map[string]bool{}
	for _, p := range payloads(r.stdout) {
		seen[p] = true
	}
	for i := 1; i <= 600; i++ {
		if !seen[fmt.Sprintf("load %d", i)] {
			t.Fatalf("message %d never arrived\n%v", i, r)
		}
	}
}

// TestPubNothingReachable: with every broker down, pub fails with exit 1 and names the
// endpoints and why.
func TestPubNothingReachable(t *testing.T) {
	addr, err := brokertest.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	// Every broker refused: the answer comes at once, not after the 10 minutes of -timeout.
	r := hamqtt(t, "", "pub", "-endpoints", "tcp://"+addr, "-t", "x", "-m", "y", "-timeout", "10m")
	expectCode(t, r, 1)
	if !strings.Contains(r.stderr, "cluster-default-1 (tcp://"+addr+")") || !strings.Contains(r.stderr, "no live endpoint") ||
		!strings.Contains(r.stderr, "connection refused") {
		t.Fatalf("error should name the endpoint and the cause:\n%v", r)
	}
}

// TestPubConfigRunsBridges: padogrid's archetype 5. hamqtt pub -config on an edge cluster
// with an out-bridge to an enterprise cluster reaches the enterprise brokers as well, and the
// enterprise cluster's own out-bridge carries it on to an archive cluster (bridges chain).
func TestPubConfigRunsBridges(t *testing.T) {
	edge, ent, archive := brokertest.Start(t), brokertest.Start(t), brokertest.Start(t)
	cfg := writeFile(t, "archetype5.yaml", fmt.Sprintf(`defaultCluster: edge
clusters:
  - name: edge
    connections:
      - connection:
          serverURIs: [%s]
    bridges:
      out:
        - cluster: enterprise
          topicFilters: [test/#]
          qos: 1
  - name: enterprise
    connections:
      - connection:
          serverURIs: [%s]
    bridges:
      out:
        - cluster: archive
          topicFilters: [test/#]
  - name: archive
    connections:
      - connection:
          serverURIs: [%s]
`, edge.URI(), ent.URI(), archive.URI()))
	var subs []*proc
	for _, b := range []*brokertest.Broker{edge, ent, archive} {
		sub := start(t, "sub", "-endpoints", b.URI(), "-t", "test/#", "-q", "1", "-count", "1", "-duration", "30s")
		sub.waitStderr(subscribed, subReady)
		subs = append(subs, sub)
	}
	expectCode(t, hamqtt(t, "", "pub", "-config", cfg, "-t", "test/a5", "-m", "bridged", "-q", "1"), 0)
	for i, sub := range subs {
		r := sub.wait(exitWait)
		expectCode(t, r, 0)
		if r.stdout != "cluster-default-1 - test/a5: bridged\n" {
			t.Fatalf("subscriber %d (edge, enterprise, archive) should get the message once\n%v", i, r)
		}
	}
}

// TestSubConfigRunsInBridge: hamqtt sub -config on a cluster with an in-bridge forwards what
// it receives to the bridge's target while it prints it.
func TestSubConfigRunsInBridge(t *testing.T) {
	edge, cloud := brokertest.Start(t), brokertest.Start(t)
	cfg := edgeToCloudConfig(t, edge, cloud)
	onCloud := start(t, "sub", "-endpoints", cloud.URI(), "-t", "telemetry/#", "-q", "1", "-count", "1", "-duration", "30s")
	onCloud.waitStderr(subscribed, subReady)
	onEdge := start(t, "sub", "-config", cfg, "-cluster", "edge", "-t", "telemetry/#", "-q", "1", "-count", "1", "-duration", "30s")
	onEdge.waitStderr(subscribed, subReady)
	expectCode(t, hamqtt(t, "", "pub", "-endpoints", edge.URI(), "-t", "telemetry/t1", "-m", "in", "-q", "1"), 0)
	for _, p := range []*proc{onEdge, onCloud} {
		r := p.wait(exitWait)
		expectCode(t, r, 0)
		if !strings.HasSuffix(r.stdout, "telemetry/t1: in\n") {
			t.Fatalf("want the message on the edge subscriber and, bridged, on the cloud broker\n%v", r)
		}
	}
}

// TestSubCountNotReached: -count with -duration that ends first is a failure.
func TestSubCountNotReached(t *testing.T) {
	eps := endpointList(brokertest.StartN(t, 1))
	r := hamqtt(t, "", "sub", "-endpoints", eps, "-t", "nobody/publishes", "-count", "2", "-duration", "1s")
	expectCode(t, r, 1)
	if !strings.Contains(r.stderr, "received 0 of 2 messages within -duration 1s") {
		t.Fatalf("want a count-not-reached error:\n%v", r)
	}
}

// TestStatus: the table and the JSON show live and dead endpoints with their stats.
func TestStatus(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	if err := bs[2].Kill(); err != nil {
		t.Fatal(err)
	}
	eps := endpointList(bs)

	r := hamqtt(t, "", "status", "-endpoints", eps)
	expectCode(t, r, 0)
	for _, want := range []string{
		"cluster cluster-default: 2 of 3 endpoints live",
		"dead: cluster-default-3",
		"ENDPOINT", "STATE", "DIALS", "CONNECTS", "LAST ERROR",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status table lacks %q\n%v", want, r)
		}
	}
	if !regexp.MustCompile(`(?m)^live: (cluster-default-1, cluster-default-2|cluster-default-2, cluster-default-1)$`).MatchString(r.stdout) {
		t.Errorf("live list (longest-live first) wrong\n%v", r)
	}
	if !regexp.MustCompile(`(?m)^cluster-default-3\s+dead\s+` + regexp.QuoteMeta(bs[2].URI()) + `\s+no\s+-\s+0\s+0\s+0\s+0\s+[1-9]\d*\s+0\s+0\s+0\s+.*refused`).MatchString(r.stdout) {
		t.Errorf("dead endpoint row should show dials, no CONNECT (nothing listens) and the reason\n%v", r)
	}
	if !regexp.MustCompile(`(?m)^cluster-default-1\s+live\s+` + regexp.QuoteMeta(bs[0].URI()) + `\s+yes\s+\d`).MatchString(r.stdout) {
		t.Errorf("live endpoint row wrong\n%v", r)
	}

	j := hamqtt(t, "", "status", "-endpoints", eps, "-json")
	expectCode(t, j, 0)
	var doc struct {
		Clusters []struct {
			Name       string
			Live, Dead []string
			Endpoints  []struct {
				Name, URI, State, LastError string
				Connects                    int
				LiveSince                   *time.Time
			}
		}
	}
	if err := json.Unmarshal([]byte(j.stdout), &doc); err != nil {
		t.Fatalf("status -json: %v\n%v", err, j)
	}
	if len(doc.Clusters) != 1 {
		t.Fatalf("want 1 cluster\n%v", j)
	}
	c := doc.Clusters[0]
	if c.Name != "cluster-default" || len(c.Live) != 2 || !slices.Equal(c.Dead, []string{"cluster-default-3"}) || len(c.Endpoints) != 3 {
		t.Fatalf("unexpected status %+v", c)
	}
	if e := c.Endpoints[2]; e.State != "dead" || e.LastError == "" || e.LiveSince != nil || e.URI != bs[2].URI() {
		t.Errorf("dead endpoint: %+v", e)
	}
	if e := c.Endpoints[0]; e.State != "live" || e.LiveSince == nil || e.Connects != 1 {
		t.Errorf("live endpoint: %+v", e)
	}

	// Nothing live: the table still shows why, and the exit status is 1.
	for _, b := range bs {
		b.Kill()
	}
	dead := hamqtt(t, "", "status", "-endpoints", eps, "-timeout", "1s")
	expectCode(t, dead, 1)
	if !strings.Contains(dead.stdout, "0 of 3 endpoints live") || !strings.Contains(dead.stderr, "no endpoint is live") {
		t.Errorf("status with every broker down\n%v", dead)
	}
}

// TestUsageErrors: bad command lines exit 2 with the usage and a message naming the flag.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "Commands:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"pub", "-m", "x"}, "-t TOPIC is required"},
		{[]string{"pub", "-t", "a/#", "-m", "x"}, "-t: "},
		{[]string{"pub", "-t", "a", "-m", "x", "-q", "3"}, "-q 3"},
		{[]string{"pub", "-t", "a", "-m", "x", "-q", "one"}, `invalid value "one" for flag -q`},
		{[]string{"pub", "-t", "a"}, "no message: give -m MESSAGE"},
		{[]string{"pub", "-t", "a", "-m", "x", "-endpoints", "bogus://h:1"}, `-endpoints: broker URI "bogus://h:1": unknown scheme`},
		{[]string{"pub", "-t", "a", "-m", "x", "-endpoints", "tcp://h:9-1"}, "-endpoints: "},
		{[]string{"pub", "-t", "a", "-m", "x", "-endpoints", "tcp://h:1", "-config", "c.yaml"}, "-endpoints and -config exclude each other"},
		{[]string{"pub", "-t", "a", "-m", "x", "-f", "file"}, "-m and -f/-l exclude each other"},
		{[]string{"pub", "-t", "a", "-m", "x", "-nosuchflag"}, "unknown flag -nosuchflag"},
		{[]string{"pub", "-t", "a", "-m", "x", "-fos", "4", "-endpoints", "tcp://h:1"}, "-fos 4"},
		{[]string{"pub", "-t", "a", "-m", "x", "-type", "BEST", "-endpoints", "tcp://h:1"}, "-type: unknown publisher type"},
		{[]string{"pub", "-t", "a", "-m", "x", "extra"}, `unexpected argument "extra"`},
		{[]string{"sub"}, "-t FILTER is required"},
		{[]string{"sub", "-t", "a/#/b"}, "-t: "},
		{[]string{"sub", "-t", "a", "-format", "xml"}, `-format "xml": use plain or json`},
		{[]string{"sub", "-t", "a", "-count", "-1"}, "-count -1"},
		{[]string{"status", "-all", "-endpoints", "tcp://h:1"}, "-all shows every cluster"},
		{[]string{"start"}, "-config FILE is required"},
		{[]string{"start", "-config", "a.yaml", "b.yaml"}, `unexpected argument "b.yaml"`},
		{[]string{"config"}, "missing subcommand"},
		{[]string{"config", "lint", "x.yaml"}, `unknown subcommand "lint"`},
		{[]string{"config", "check"}, "missing FILE"},
		{[]string{"demo", "-brokers", "1"}, "-brokers 1: use 2 to 16"},
		{[]string{"demo", "-qos", "0"}, "-qos 0: use 1 or 2"},
		{[]string{"demo", "--duration", "soon"}, `invalid value "soon" for flag -duration`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
			r := hamqtt(t, "", c.args...)
			expectCode(t, r, 2)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr lacks %q\n%v", c.want, r)
			}
			if !strings.Contains(r.stderr, "Usage:") {
				t.Errorf("usage not printed\n%v", r)
			}
			if !strings.Contains(r.stderr, "Exit status") {
				t.Errorf("usage does not document the exit status\n%v", r)
			}
			if r.stdout != "" {
				t.Errorf("usage errors belong on stderr; stdout got %q", r.stdout)
			}
		})
	}
}

// TestHelp: -h, -help, -? and "help" print the usage on stdout and exit 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"help", "pub"}, {"pub", "-h"}, {"sub", "--help"}, {"status", "-?"},
		{"start", "-h"}, {"config", "-h"}, {"config", "check", "-h"}, {"demo", "-h"}, {"brokers", "-h"}} {
		r := hamqtt(t, "", args...)
		expectCode(t, r, 0)
		if !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "Exit status") {
			t.Errorf("hamqtt %s: no usage on stdout\n%v", strings.Join(args, " "), r)
		}
	}
}

// TestVersion: hamqtt --version prints the version the library and the packages share.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		r := hamqtt(t, "", arg)
		expectCode(t, r, 0)
		if !strings.HasPrefix(r.stdout, "hamqtt "+version.Version+" (go") {
			t.Errorf("hamqtt %s printed %q, want hamqtt %s (...)", arg, r.stdout, version.Version)
		}
	}
}

const goodConfig = `defaultCluster: edge
clusters:
  - name: edge
    endpoints:
      - name: edge-a
        endpoint: %s
      - name: edge-b
        endpoint: %s
  - name: cloud
    publisherType: ROUND_ROBIN
    connections:
      - connection:
          serverURIs: [%s]
`

// TestConfigCluster: -config and -cluster select a cluster; named endpoints of the file work
// with -name and appear in sub's output.
func TestConfigCluster(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	cfg := writeFile(t, "clusters.yaml", fmt.Sprintf(goodConfig, bs[0].URI(), bs[1].URI(), bs[2].URI()))

	sub := start(t, "sub", "-config", cfg, "-t", "cfg/test", "-q", "1", "-count", "1", "-duration", "30s")
	sub.waitStderr(`subscribed to "cfg/test" \(qos 1\) on cluster "edge"`, subReady)
	expectCode(t, hamqtt(t, "", "pub", "-config", cfg, "-cluster", "edge", "-name", "edge-b", "-t", "cfg/test", "-m", "via b", "-q", "1"), 0)
	r := sub.wait(exitWait)
	expectCode(t, r, 0)
	if r.stdout != "edge-b - cfg/test: via b\n" {
		t.Fatalf("want the message through edge-b\n%v", r)
	}

	st := hamqtt(t, "", "status", "-config", cfg, "-all")
	expectCode(t, st, 0)
	if !strings.Contains(st.stdout, "cluster edge: 2 of 2 endpoints live") || !strings.Contains(st.stdout, "cluster cloud: 1 of 1 endpoints live (publisher ROUND_ROBIN") {
		t.Errorf("status -all\n%v", st)
	}

	missing := hamqtt(t, "", "pub", "-config", cfg, "-cluster", "nowhere", "-t", "a", "-m", "b")
	expectCode(t, missing, 1)
	if !strings.Contains(missing.stderr, `-cluster "nowhere": no such cluster in `+cfg+" (clusters: edge, cloud)") {
		t.Errorf("unknown cluster\n%v", missing)
	}
}

// TestBadConfig: a malformed or invalid config makes every command fail with file:line.
func TestBadConfig(t *testing.T) {
	syntax := writeFile(t, "syntax.yaml", "clusters:\n  - name: a\n   fos: 1\n")
	invalid := writeFile(t, "invalid.yaml", "clusters:\n  - name: a\n    fos: 7\n    connections:\n      - connection:\n          serverURIs: [tcp://127.0.0.1:1883]\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"pub", "-config", syntax, "-t", "a", "-m", "b"}, syntax + ":3: malformed YAML"},
		{[]string{"sub", "-config", invalid, "-t", "a"}, invalid + ":3: clusters[0].fos: 7 out of range"},
		{[]string{"status", "-config", invalid}, invalid + ":3: clusters[0].fos"},
		{[]string{"start", "-config", syntax}, syntax + ":3:"},
		{[]string{"config", "check", syntax}, syntax + ":3: malformed YAML"},
		{[]string{"config", "check", invalid}, invalid + ":3: clusters[0].fos"},
		{[]string{"config", "check", filepath.Join(t.TempDir(), "missing.yaml")}, "no such file"},
	} {
		r := hamqtt(t, "", c.args...)
		if r.code != 1 {
			t.Errorf("hamqtt %s: want exit 1\n%v", strings.Join(c.args, " "), r)
		}
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("hamqtt %s: stderr lacks %q\n%v", strings.Join(c.args, " "), c.want, r)
		}
	}
}

// TestConfigCheck: good files pass with their clusters listed, warnings carry file:line, and
// -strict turns unknown keys into errors.
func TestConfigCheck(t *testing.T) {
	good := writeFile(t, "good.yaml", fmt.Sprintf(goodConfig, "tcp://127.0.0.1:1883", "tcp://127.0.0.1:1884", "tcp://127.0.0.1:1885-1887"))
	r := hamqtt(t, "", "config", "check", good)
	expectCode(t, r, 0)
	for _, want := range []string{good + ": OK, 2 clusters (default edge), 0 warnings", "cluster edge (line 3)", "edge-b", "tcp://127.0.0.1:1884",
		"cluster cloud (line 9): publisher ROUND_ROBIN", "cloud-3", "tcp://127.0.0.1:1887"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config check output lacks %q\n%v", want, r)
		}
	}

	unknown := writeFile(t, "unknown.yaml", "clusters:\n  - name: a\n    frobnicate: 1\n    connections:\n      - connection:\n          serverURIs: [tcp://127.0.0.1:1883]\n")
	w := hamqtt(t, "", "config", "check", unknown)
	expectCode(t, w, 0)
	if !strings.Contains(w.stderr, unknown+":3:") || !strings.Contains(w.stderr, "frobnicate") {
		t.Errorf("unknown key should warn with file:line\n%v", w)
	}
	s := hamqtt(t, "", "config", "check", "-strict", unknown)
	expectCode(t, s, 1)
	if !strings.Contains(s.stderr, unknown+":3:") {
		t.Errorf("-strict should fail with file:line\n%v", s)
	}

	// Every padogrid example config loads (issue 4 promises it; the CLI must not add doubts).
	files, _ := filepath.Glob("../../core/testdata/padogrid/*.yaml")
	if len(files) > 0 {
		all := hamqtt(t, "", append([]string{"config", "check", "-quiet"}, files...)...)
		expectCode(t, all, 0)
	}

	// Standard input.
	in := hamqtt(t, "clusters:\n  - name: piped\n", "config", "check", "-")
	expectCode(t, in, 0)
	if !strings.Contains(in.stdout, "<stdin>: OK, 1 cluster") || !strings.Contains(in.stdout, "cluster piped (line 2): publisher STICKY, fos 0, MQTT 3.1.1") {
		t.Errorf("config check -\n%v", in)
	}
	// The protocol version of each cluster.
	v5 := hamqtt(t, "protocolVersion: 5\nclusters:\n  - name: five\n  - name: four\n    protocolVersion: 4\n", "config", "check", "-")
	expectCode(t, v5, 0)
	if !strings.Contains(v5.stdout, "cluster five (line 3): publisher STICKY, fos 0, MQTT 5") || !strings.Contains(v5.stdout, "cluster four (line 4): publisher STICKY, fos 0, MQTT 3.1.1") {
		t.Errorf("config check shows no protocol version\n%v", v5)
	}
}

// TestStart: start runs the clusters of a config until SIGTERM or SIGINT and shuts down
// cleanly (exit 0, no leaked goroutines: the binary is built with the leak check).
func TestStart(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	cfg := writeFile(t, "clusters.yaml", fmt.Sprintf(goodConfig, bs[0].URI(), bs[1].URI(), bs[2].URI()))
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t, "start", "-config", cfg)
			p.waitStderr(`msg="running; SIGINT or SIGTERM stops".*clusters="edge \(2/2 live\), cloud \(1/1 live\)"`, subReady)
			// The running clusters serve: a subscriber of the same brokers sees the endpoints up.
			st := hamqtt(t, "", "status", "-config", cfg, "-cluster", "edge", "-json")
			expectCode(t, st, 0)
			p.signal(sig)
			r := p.wait(exitWait)
			expectCode(t, r, 0)
			if !strings.Contains(r.stderr, `msg="shutting down"`) || !strings.Contains(r.stderr, `msg=stopped`) {
				t.Errorf("no clean shutdown logged\n%v", r)
			}
		})
	}
}

// TestStartKeepsProbing: a cluster whose brokers are down at start does not stop the daemon;
// it connects once a broker is up.
func TestStartKeepsProbing(t *testing.T) {
	b := brokertest.Start(t)
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "one.yaml", fmt.Sprintf("clusters:\n  - name: solo\n    timeToWait: 500\n    connections:\n      - connection:\n          serverURIs: [%s]\n", b.URI()))
	p := start(t, "start", "-config", cfg, "-status-every", "100ms")
	p.waitStderr(`not every cluster could connect yet; retrying in the background`, subReady)
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	p.waitStderr(`msg="endpoint up" cluster=solo endpoint=solo-1`, subReady)
	p.signal(syscall.SIGTERM)
	expectCode(t, p.wait(exitWait), 0)
}

// TestDemo: the demo kills and restarts brokers under load and loses nothing acknowledged.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs for 10s")
	}
	r := hamqtt(t, "", "demo", "--duration", "10s")
	expectCode(t, r, 0)
	for _, want := range []string{"summary", "lost            0\n", "RESULT: OK, 0 lost", "kill broker-1 (SIGKILL", "broker-1 live again"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q\n%v", want, r)
		}
	}
	if m := regexp.MustCompile(`acknowledged\s+(\d+)`).FindStringSubmatch(r.stdout); m == nil || m[1] == "0" {
		t.Errorf("demo acknowledged nothing\n%v", r)
	}
	// Every broker it started is gone: their directories are removed.
	dirs := regexp.MustCompile(`config and log in (\S+)\)`).FindAllStringSubmatch(r.stdout, -1)
	if len(dirs) != 3 {
		t.Errorf("want 3 broker directories announced\n%v", r)
	}
	for _, m := range dirs {
		if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
			t.Errorf("broker directory %s still exists (%v)", m[1], err)
		}
	}
}

// TestSubInterrupt: sub without -count runs until SIGINT or SIGTERM, then exits 0 with what
// it printed so far, its connections closed.
func TestSubInterrupt(t *testing.T) {
	eps := endpointList(brokertest.StartN(t, 2))
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		sub := start(t, "sub", "-endpoints", eps, "-t", "test/interrupt", "-format", "json")
		sub.waitStderr(subscribed, subReady)
		expectCode(t, hamqtt(t, "", "pub", "-endpoints", eps, "-t", "test/interrupt", "-m", "before "+sig.String(), "-q", "1"), 0)
		if !sub.stdout.waitFor(regexp.MustCompile(`"payload":"before `+sig.String()+`"`), subReady) {
			t.Fatalf("message not received\n--- stderr:\n%s", sub.stderr)
		}
		sub.signal(sig)
		r := sub.wait(exitWait)
		expectCode(t, r, 0)
	}
}

// edgeToCloudConfig writes a file with clusters edge and cloud, one broker each, and an
// in-bridge that forwards what edge receives on telemetry/# to cloud.
func edgeToCloudConfig(t *testing.T, edge, cloud *brokertest.Broker) string {
	return writeFile(t, "bridge.yaml", fmt.Sprintf(`clusters:
  - name: edge
    connections:
      - connection:
          serverURIs: [%s]
    bridges:
      in:
        - cluster: cloud
          topicFilters: [telemetry/#]
          qos: 1
  - name: cloud
    connections:
      - connection:
          serverURIs: [%s]
`, edge.URI(), cloud.URI()))
}

// TestStartBridge: start runs the bridges of the config: an in-bridge forwards what the edge
// cluster's brokers receive to the cloud cluster's brokers.
func TestStartBridge(t *testing.T) {
	edge, cloud := brokertest.Start(t), brokertest.Start(t)
	cfg := edgeToCloudConfig(t, edge, cloud)
	d := start(t, "start", "-config", cfg)
	d.waitStderr(`msg="bridge in" from=edge to=cloud topicFilters=telemetry/# qos=1`, subReady)
	d.waitStderr(`msg="running; SIGINT or SIGTERM stops"`, subReady)

	sub := start(t, "sub", "-endpoints", cloud.URI(), "-t", "telemetry/#", "-q", "1", "-count", "1", "-duration", "30s")
	sub.waitStderr(subscribed, subReady)
	expectCode(t, hamqtt(t, "", "pub", "-endpoints", edge.URI(), "-t", "telemetry/t1", "-m", "bridged", "-q", "1"), 0)
	r := sub.wait(exitWait)
	expectCode(t, r, 0)
	if r.stdout != "cluster-default-1 - telemetry/t1: bridged\n" {
		t.Fatalf("the message published on the edge broker should reach the cloud broker\n%v", r)
	}
	d.signal(syscall.SIGTERM)
	expectCode(t, d.wait(exitWait), 0)
}

// A password inside a broker URI never reaches any output: errors, status, config check.
func TestCredentialsInURIsAreRedacted(t *testing.T) {
	const secret = "s3cret-pw"
	uri := "tcp://alice:" + secret + "@127.0.0.1:1883"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfgPath, []byte("clusters:\n  - name: c\n    connections:\n      - connection:\n          serverURIs: ["+uri+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"pub", "-endpoints", uri, "-t", "a", "-m", "x"},
		{"sub", "-endpoints", uri, "-t", "a", "-count", "1"},
		{"status", "-endpoints", uri},
		{"status", "-endpoints", uri, "-json"},
		{"config", "check", cfgPath},
	} {
		r := hamqtt(t, "", args...)
		if r.code == 0 {
			t.Errorf("%v succeeded with a URI that carries credentials\n%v", args, r)
		}
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("%v printed the password\n%v", args, r)
		}
		if !strings.Contains(r.stdout+r.stderr, "alice:***@") {
			t.Errorf("%v does not show which URI was wrong\n%v", args, r)
		}
	}
}

// A -f source without newlines (/dev/zero) fails at the largest payload instead of filling
// memory; ordinary lines still come through.
func TestPubLineSourceIsBounded(t *testing.T) {
	defer func(old int) { maxLineSize = old }(maxLineSize)
	maxLineSize = 1 << 20
	src := newLineSource(io.MultiReader(strings.NewReader("one\n\ntwo\n"), zeros{}))
	for _, want := range []string{"one", "two"} {
		b, _, ok, err := src.next()
		if err != nil || !ok || string(b) != want {
			t.Fatalf("next = %q, %v, %v; want %q", b, ok, err, want)
		}
	}
	if _, _, _, err := src.next(); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("a line without end: %v", err)
	}
}

// zeros reads as /dev/zero does.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
