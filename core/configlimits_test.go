package core

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// cfgParseErr parses text and returns its error lines; a nil error fails the test.
func cfgParseErr(t *testing.T, text string, env map[string]string) []string {
	t.Helper()
	fc, err := ParseConfig([]byte(text), "lim.yaml", LoadOptions{Getenv: cfgEnvOf(env)})
	if err == nil {
		t.Fatalf("no error; %d clusters", len(fc.Clusters))
	}
	return strings.Split(err.Error(), "\n")
}

// cfgAllocated returns the bytes f allocated.
func cfgAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestConfigSizeBounded: YAML text beyond MaxConfigFileSize is refused before it is parsed,
// from a file and from memory, so a 50 MB list costs nothing.
func TestConfigSizeBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("clusters:\n  - name: big\n    connections:\n      - connection:\n          serverURIs:\n")
	for i := 0; b.Len() <= 50<<20; i++ {
		fmt.Fprintf(&b, "            - tcp://10.%d.%d.%d:1883\n", i>>16&255, i>>8&255, i&255)
	}
	text := []byte(b.String())
	var err error
	alloc := cfgAllocated(func() { _, err = ParseConfig(text, "big.yaml", LoadOptions{}) })
	if want := "big.yaml: larger than 1 MiB, the most a configuration may have: check that this is the configuration"; err == nil || err.Error() != want {
		t.Errorf("50 MB of YAML: %v\nwant %s", err, want)
	}
	if alloc > 1<<20 {
		t.Errorf("refusing 50 MB of YAML allocated %d bytes", alloc)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		t.Fatal(err)
	}
	alloc = cfgAllocated(func() { _, err = LoadConfigFile(path, LoadOptions{}) })
	if !errors.Is(err, ErrFileTooLarge) || !strings.Contains(err.Error(), "cannot read the configuration file "+path+": file too large") {
		t.Errorf("50 MB file: %v", err)
	}
	if alloc > 1<<20 {
		t.Errorf("refusing a 50 MB file allocated %d bytes", alloc)
	}
	// Just below the limit still loads.
	var ok strings.Builder
	ok.WriteString("clusters:\n  - name: fits\n    description: >\n")
	for ok.Len() < MaxConfigFileSize-100 {
		ok.WriteString("      padding padding padding padding padding padding padding padding\n")
	}
	if _, err := ParseConfig([]byte(ok.String()), "fits.yaml", LoadOptions{}); err != nil {
		t.Errorf("%d bytes: %v", ok.Len(), err)
	}
}

// TestConfigBrokerLimits: a cluster names at most MaxExpandedURIs brokers however its lists
// are written (one element per broker, ranges, several connections entries, endpoints[]), and a
// file at most MaxConfigEndpoints in all its clusters.
func TestConfigBrokerLimits(t *testing.T) {
	const head = "clusters:\n  - name: c\n    connections:\n      - connection:\n          serverURIs:\n"
	single := func(n int) string {
		var b strings.Builder
		b.WriteString(head)
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "            - tcp://10.%d.%d.%d:1883\n", i>>16&255, i>>8&255, i&255)
		}
		return b.String()
	}
	// 4096 brokers, one per element: accepted.
	c, _ := cfgParseOne(t, single(MaxExpandedURIs), LoadOptions{})
	if len(c.Endpoints) != MaxExpandedURIs {
		t.Errorf("%d endpoints", len(c.Endpoints))
	}
	// One more: refused at the element that crosses the limit.
	tooMany := "lim.yaml:%d: clusters[0].connections[0].connection.serverURIs[%d]: the cluster names more than 4096 brokers, the most a cluster may have: narrow the ranges, or split the brokers among clusters"
	if got, want := cfgParseErr(t, single(MaxExpandedURIs+1), nil), []string{fmt.Sprintf(tooMany, 6+MaxExpandedURIs, MaxExpandedURIs)}; !slices.Equal(got, want) {
		t.Errorf("4097 brokers:\n got %q\nwant %q", got, want)
	}
	// 100,000 addresses in a flow list: refused, quickly.
	var flow strings.Builder
	flow.WriteString("clusters:\n  - name: c\n    connections:\n      - connection:\n          serverURIs: [h0")
	for i := 1; i < 100000; i++ {
		fmt.Fprintf(&flow, ",h%d", i)
	}
	flow.WriteString("]\n")
	start := time.Now()
	if got := cfgParseErr(t, flow.String(), nil); len(got) != 1 || !strings.HasPrefix(got[0], "lim.yaml:5: clusters[0].connections[0].connection.serverURIs[4096]: the cluster names more than 4096 brokers") {
		t.Errorf("100000 brokers: %d errors, first %q", len(got), got[0])
	}
	t.Logf("100,000 addresses (%d bytes) refused in %v", flow.Len(), time.Since(start))
	// The same broker listed 5000 times is one broker.
	var dup strings.Builder
	dup.WriteString(head)
	for i := 0; i < 5000; i++ {
		dup.WriteString("            - tcp://10.0.0.1:1883\n")
	}
	if c, _ := cfgParseOne(t, dup.String(), LoadOptions{}); len(c.Endpoints) != 1 {
		t.Errorf("duplicates: %d endpoints", len(c.Endpoints))
	}
	// Ranges in elements that each stay under the per-list limit.
	ranges := head + "            - tcp://10.0.0.0-255:1-16\n            - tcp://10.0.1.0:1\n"
	if c, _ := cfgParseOne(t, head+"            - tcp://10.0.0.0-255:1-16\n", LoadOptions{}); len(c.Endpoints) != MaxExpandedURIs {
		t.Errorf("a full range: %d endpoints", len(c.Endpoints))
	}
	if got, want := cfgParseErr(t, ranges, nil), []string{"lim.yaml:7: clusters[0].connections[0].connection.serverURIs[1]: the cluster names more than 4096 brokers, the most a cluster may have: narrow the ranges, or split the brokers among clusters"}; !slices.Equal(got, want) {
		t.Errorf("ranges:\n got %q\nwant %q", got, want)
	}
	// Many connections entries.
	var conns strings.Builder
	conns.WriteString("clusters:\n  - name: c\n    connections:\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&conns, "      - connection: {serverURIs: [tcp://10.%d.%d.0-255:1-16]}\n", i>>8, i&255)
	}
	if got := cfgParseErr(t, conns.String(), nil); len(got) != 1 || !strings.Contains(got[0], "clusters[0].connections[1].connection.serverURIs[0]: the cluster names more than 4096 brokers") {
		t.Errorf("connections entries: %d errors, first %q", len(got), got[0])
	}
	// endpoints[] entries beyond the brokers of serverURIs.
	var eps strings.Builder
	eps.WriteString("clusters:\n  - name: c\n    connections:\n      - connection: {serverURIs: [tcp://10.0.0.0-255:1-16]}\n    endpoints:\n")
	eps.WriteString("      - {name: extra, endpoint: tcp://10.9.9.9:1883}\n")
	if got := cfgParseErr(t, eps.String(), nil); len(got) != 1 || !strings.Contains(got[0], "lim.yaml:6: clusters[0].endpoints[0].endpoint: the cluster names more than 4096 brokers") {
		t.Errorf("endpoints[]: %d errors, first %q", len(got), got[0])
	}

	// The file: four full clusters fit, a fifth broker beyond them does not.
	cluster := func(i int) string {
		return fmt.Sprintf("  - name: c%d\n    connections:\n      - connection: {serverURIs: [tcp://10.%d.0.0-255:1-16]}\n", i, i)
	}
	var file strings.Builder
	file.WriteString("clusters:\n")
	for i := 0; i < MaxConfigEndpoints/MaxExpandedURIs; i++ {
		file.WriteString(cluster(i))
	}
	fc, err := ParseConfig([]byte(file.String()), "lim.yaml", LoadOptions{})
	if err != nil || len(fc.Clusters) != 4 {
		t.Fatalf("four clusters of 4096: %v", err)
	}
	file.WriteString("  - name: one-more\n    connections:\n      - connection: {serverURIs: [tcp://10.99.0.1:1883]}\n")
	if got, want := cfgParseErr(t, file.String(), nil), []string{"lim.yaml:16: clusters[4].connections[0].connection.serverURIs[0]: the clusters name more than 16384 brokers together (a broker counts once in each cluster that has it), the most a configuration may describe: narrow the ranges, or use fewer clusters"}; !slices.Equal(got, want) {
		t.Errorf("file limit:\n got %q\nwant %q", got, want)
	}
	// Thousands of clusters of default brokers: refused once the file is full, and the rest
	// of the list is not read.
	var many strings.Builder
	many.WriteString("clusters:\n")
	for i := 0; i < 50000; i++ {
		fmt.Fprintf(&many, "  - {name: c%d}\n", i)
	}
	if got := cfgParseErr(t, many.String(), nil); len(got) != 1 || !strings.Contains(got[0], "the clusters name more than 16384 brokers together") {
		t.Errorf("50000 clusters: %d errors, first %q", len(got), got[0])
	}
}

// TestConfigAliasesBounded: aliases and merge keys cannot make the walk repeat a short text
// without bound (a merge of merges doubles at every level, an alias to a long list multiplies
// it), nor loop through a merge of the mapping that holds it; ordinary use still loads.
func TestConfigAliasesBounded(t *testing.T) {
	var bomb strings.Builder
	bomb.WriteString("a0: &a0 {k: 1}\n")
	for i := 1; i < 40; i++ {
		fmt.Fprintf(&bomb, "a%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	bomb.WriteString("<<: *a39\nclusters: [{name: x}]\n")

	filters := strings.TrimSuffix(strings.Repeat("t/a, ", 50000), ", ")
	refs := strings.TrimSuffix(strings.Repeat("{topicFilters: *f}, ", 3000), ", ")
	multiply := "x: &f [" + filters + "]\nclusters: [{name: a}]\nplugins:\n  - name: p\n    subscriptions: [" + refs + "]\n"

	const over = "aliases (*name) and merge keys (<<) repeat the text more than 4 times over: write the values out, or refer to them less often"
	for name, text := range map[string]string{"merge bomb": bomb.String(), "alias multiplication": multiply} {
		start := time.Now()
		var got []string
		alloc := cfgAllocated(func() { got = cfgParseErr(t, text, nil) })
		if len(got) != 1 || !strings.HasSuffix(got[0], over) {
			t.Errorf("%s: %q", name, got)
		}
		if d := time.Since(start); d > 20*time.Second || alloc > 512<<20 {
			t.Errorf("%s: %v and %d MB", name, d, alloc>>20)
		}
	}

	// A merge that leads back to its own mapping.
	for _, text := range []string{
		"clusters:\n  - &c\n    name: a\n    <<: *c\n",
		"base: &b\n  x: &c\n    <<: *b\nclusters: [{name: a}]\n",
	} {
		done := make(chan error, 1)
		go func() {
			_, err := ParseConfig([]byte(text), "lim.yaml", LoadOptions{})
			done <- err
		}()
		select {
		case err := <-done:
			t.Logf("%q: %v", text, err)
		case <-time.After(10 * time.Second):
			panic(fmt.Sprintf("ParseConfig(%q) still running after 10s", text))
		}
	}

	// Defaults shared through a merge key, as people write them.
	shared := `
defaults: &defaults
  publisherType: ALL
  timeToWait: 2500
  connections:
    - connection: {serverURIs: [tcp://10.0.0.1-3:1883]}
clusters:
  - <<: *defaults
    name: a
  - <<: *defaults
    name: b
    publisherType: STICKY
`
	fc, err := ParseConfig([]byte(shared), "shared.yaml", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := fc.Cluster("a")
	b, _, _ := fc.Cluster("b")
	if a.PublisherType != All || b.PublisherType != Sticky || a.TimeToWait != 2500*time.Millisecond || len(b.Endpoints) != 3 {
		t.Errorf("merged defaults: a %v %v, b %v %d endpoints", a.PublisherType, a.TimeToWait, b.PublisherType, len(b.Endpoints))
	}
}

// TestConfigSyntaxErrorLineInLargeFile: the offending line of a malformed file is found in a
// few parses, not one per line (a 2,500-line file took tens of seconds).
func TestConfigSyntaxErrorLineInLargeFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("clusters:\n")
	for i := 0; i < 2500; i++ {
		fmt.Fprintf(&b, "  - name: c%d\n    description: %s\n", i, strings.Repeat("y", 100))
	}
	b.WriteString("   bad: [\n")
	start := time.Now()
	got := cfgParseErr(t, b.String(), nil)
	want := "lim.yaml:5002: malformed YAML: did not find expected '-' indicator: fix the syntax (indentation, colons, quotes)"
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("finding the line took %v", d)
	}
}

// TestConfigVariableSyntax: a ${ without its closing brace, and a variable inside a variable,
// are errors at their line that name the position, not the value (it may be a password).
func TestConfigVariableSyntax(t *testing.T) {
	env := map[string]string{"X": "HOME", "HOME": "/home/u", "A": "a"}
	const conn = "clusters:\n  - name: c\n    connections:\n      - connection:\n          serverURIs: [tcp://127.0.0.1:1883]\n"
	for _, c := range []struct{ value, want string }{
		{"userName: ${env:HOME", "lim.yaml:6: clusters[0].connections[0].connection.userName: the ${ at byte 0 has no closing }: write ${env:NAME}, or $${ for a literal ${"},
		{"userName: u-${env:A}-${HOME", "lim.yaml:6: clusters[0].connections[0].connection.userName: the ${ at byte 11 has no closing }: write ${env:NAME}, or $${ for a literal ${"},
		{"userName: ${env:${env:X}}", "lim.yaml:6: clusters[0].connections[0].connection.userName: the ${ at byte 0 holds another ${ (at byte 6): a variable inside a variable is not supported: name the variable directly, as in ${env:NAME}"},
		{"userName: ${${X}}", "lim.yaml:6: clusters[0].connections[0].connection.userName: the ${ at byte 0 holds another ${ (at byte 2): a variable inside a variable is not supported: name the variable directly, as in ${env:NAME}"},
		{"password: s3cr3t${oops", "lim.yaml:6: clusters[0].connections[0].connection.password: the ${ at byte 6 has no closing }: write ${env:NAME}, or $${ for a literal ${"},
		{"password: s3cr3t${env:${oops}}", "lim.yaml:6: clusters[0].connections[0].connection.password: the ${ at byte 6 holds another ${ (at byte 12): a variable inside a variable is not supported: name the variable directly, as in ${env:NAME}"},
	} {
		got := cfgParseErr(t, conn+"          "+c.value+"\n", env)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.value, got, c.want)
		}
		if strings.Contains(strings.Join(got, "\n"), "s3cr3t") {
			t.Errorf("%s: the error shows the password", c.value)
		}
	}
	// What still works: $${ without a closing brace is a literal ${, a value's own ${ is
	// never substituted again, and every unset variable of a value is reported.
	c, _ := cfgParseOne(t, conn+"          userName: $${env:HOME\n          password: ${env:P}\n", LoadOptions{Getenv: cfgEnvOf(map[string]string{"P": "${env:HOME"})})
	if c.Connection.Username != "${env:HOME" || c.Connection.Password != "${env:HOME" {
		t.Errorf("user %q password %q", c.Connection.Username, c.Connection.Password)
	}
	got := cfgParseErr(t, conn+"          userName: ${env:U1}-${env:U2}\n", nil)
	if len(got) != 2 || !strings.Contains(got[0], "U1 is not set") || !strings.Contains(got[1], "U2 is not set") {
		t.Errorf("two unset variables: %q", got)
	}
}

// TestConfigDurationsOutOfRange: a duration too large for its key says so, in the key's own
// terms (keepAliveInterval: MQTT's 65535 seconds), however many digits it has; a negative one
// is negative, never "out of range" the wrong way round.
func TestConfigDurationsOutOfRange(t *testing.T) {
	ka := func(v string) string {
		return "clusters:\n  - name: c\n    connections:\n      - connection:\n          serverURIs: [tcp://127.0.0.1:1883]\n          keepAliveInterval: " + v + "\n"
	}
	const kaKey = "lim.yaml:6: clusters[0].connections[0].connection.keepAliveInterval: "
	ttw := func(v string) string { return "clusters:\n  - name: c\n    timeToWait: " + v + "\n" }
	const ttwKey = "lim.yaml:3: clusters[0].timeToWait: "
	warm := func(v string) string { return "clusters:\n  - name: c\n    warmUp: " + v + "\n" }
	const warmKey = "lim.yaml:3: clusters[0].warmUp: "
	for _, c := range []struct{ text, want string }{
		{ka("9223372036854775807"), kaKey + "9223372036854775807 seconds is out of range: MQTT's limit is 65535 seconds (18h12m15s)"},
		{ka("99999999999999999999999"), kaKey + "99999999999999999999999 seconds is out of range: MQTT's limit is 65535 seconds (18h12m15s)"},
		{ka("65536"), kaKey + "65536 seconds is out of range: MQTT's limit is 65535 seconds (18h12m15s)"},
		{ka("19h"), kaKey + "19h is out of range: MQTT's limit is 65535 seconds (18h12m15s)"},
		{ka("9223372036854775807ms"), kaKey + "9223372036854775807ms is out of range: MQTT's limit is 65535 seconds (18h12m15s)"},
		{ka("-9223372036854775808"), kaKey + "-9223372036854775808 is negative: give a positive duration (or leave it out for the default)"},
		{ka("-99999999999999999999s"), kaKey + "-99999999999999999999s is negative: give a positive duration (or leave it out for the default)"},
		{ka("1e9s"), kaKey + `"1e9s" is not a duration: give a whole number of seconds or a value with a unit such as 500ms or 2s`},
		{ttw("9223372036854775807"), ttwKey + "9223372036854775807 milliseconds is out of range: the longest duration is 876000h (100 years)"},
		{ttw("99999999999999999999s"), ttwKey + "99999999999999999999s is out of range: the longest duration is 876000h (100 years)"},
		{ttw("1000000h"), ttwKey + "1000000h is out of range: the longest duration is 876000h (100 years)"},
		{warm("-9223372036854775808"), warmKey + "-9223372036854775808 milliseconds is out of range: the longest duration either way is 876000h (100 years)"},
	} {
		got := cfgParseErr(t, c.text, nil)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
	// In range: the limit itself, 0 (off, with a warning), units.
	for v, want := range map[string]time.Duration{"65535": 65535 * time.Second, "18h12m15s": MaxKeepAlive, "0": -1, "+30": 30 * time.Second} {
		c, _ := cfgParseOne(t, ka(v), LoadOptions{})
		if c.Connection.KeepAlive != want {
			t.Errorf("keepAliveInterval %s: %v, want %v", v, c.Connection.KeepAlive, want)
		}
	}
	c, _ := cfgParseOne(t, warm("-5"), LoadOptions{})
	if c.WarmUp != -5*time.Millisecond {
		t.Errorf("warmUp -5: %v", c.WarmUp)
	}
}
