package core

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// The configuration file: padogrid's mqttv5-client.yaml schema plus hamqtt's extensions.
// docs/configuration.md is the user documentation of every key.

const (
	// DefaultClusterName is the cluster name used when a file or a call names none.
	DefaultClusterName = "cluster-default"
	// DefaultServerURIs are the brokers of a cluster whose configuration lists none.
	DefaultServerURIs = "tcp://localhost:1883-1885"
	// ConfigEnv is the environment variable naming the configuration file LoadDefaultConfig
	// reads.
	ConfigEnv = "HAMQTT_CONFIG"
	// BuiltinConfigSource is the FileConfig.Source of the built-in default configuration.
	BuiltinConfigSource = "<built-in default>"
	// MaxConfigEndpoints bounds the endpoints a configuration describes in all its clusters
	// together (a broker counts once in each cluster that has it); a cluster may have at most
	// MaxExpandedURIs. Ranges make a short text name many brokers: the bounds keep a file
	// from creating more than a real deployment could use.
	MaxConfigEndpoints = 4 * MaxExpandedURIs
)

// builtinConfig is the configuration used when neither a path nor HAMQTT_CONFIG is given.
const builtinConfig = `defaultCluster: ` + DefaultClusterName + `
clusters:
  - name: ` + DefaultClusterName + `
    connections:
      - connection:
          serverURIs: [` + DefaultServerURIs + `]
`

// LoadOptions controls how a configuration file is read.
type LoadOptions struct {
	// Strict turns unknown keys into errors (otherwise they are warnings).
	Strict bool
	// Getenv looks up the variables of ${env:NAME} and ${NAME} substitutions and, in
	// LoadDefaultConfig, HAMQTT_CONFIG. Nil means os.LookupEnv.
	Getenv func(name string) (value string, ok bool)
}

// FileConfig is a loaded configuration file. Loading starts and connects nothing; NewClusters
// creates the clusters it describes.
type FileConfig struct {
	// Source is the file the configuration came from (BuiltinConfigSource for the default).
	Source string
	// Enabled is the top-level enabled key (default true). When false, Clusters.ConnectAll
	// connects nothing; clusters are still created and can be connected one by one.
	Enabled bool
	// DefaultCluster names the cluster Clusters.Default returns (default "cluster-default").
	DefaultCluster string
	// Tag describes this process (informational; default "cluster-tag").
	Tag string
	// ProbeDelay and MaxProbeDelay are the top-level prober settings; they are already copied
	// into every cluster of Clusters and are kept here for clusters created later with
	// Clusters.GetOrCreate. Zero means the engine's default.
	ProbeDelay    time.Duration
	MaxProbeDelay time.Duration
	// PersistenceDir is the directory of the top-level file persistence ("" when messages
	// are kept in memory); a cluster's files go to PersistenceDir/<cluster>, and a cluster
	// created later with Clusters.GetOrCreate gets a disk outbox in PersistenceDir/<cluster>/outbox
	// (unless the top-level outbox key says otherwise).
	PersistenceDir string
	// ProtocolVersion and MessageIDs are the top-level protocolVersion and messageIds keys
	// (0 and MessageIDsAuto when not given); they are already applied to every cluster of
	// Clusters that does not set its own. (Clusters.GetOrCreate does not read them: a cluster
	// created later speaks MQTT 3.1.1.)
	ProtocolVersion int
	MessageIDs      MessageIDMode
	// Clusters are the configured clusters in file order, disabled ones included, fully
	// translated: endpoints expanded and defaults of the file format applied.
	Clusters []Config
	// Settings holds, by cluster name, what the file says about each cluster beyond its
	// Config.
	Settings map[string]ClusterSettings
	// Plugins are the plugin definitions, disabled ones included.
	Plugins []PluginConfig
	// Warnings lists what was accepted but ignored or looks wrong, each as "file:line: text".
	Warnings []string

	// outboxDefault is the top-level outbox key, for clusters created later by GetOrCreate.
	outboxDefault outboxSpec
}

// ClusterSettings is what the configuration says about a cluster beyond its Config.
type ClusterSettings struct {
	// Enabled false keeps the cluster out of the Clusters registry (default true).
	Enabled bool
	// AutoConnect false leaves the cluster to an explicit Connect instead of
	// Clusters.ConnectAll (default true).
	AutoConnect bool
	// LiveEndpointPoolEnabled is padogrid's connection sharing between clusters (default true);
	// it sets Config.ShareConnections.
	LiveEndpointPoolEnabled bool
	// PluginNames name the plugins attached to the cluster.
	PluginNames []string
	// Bridges forward messages between this cluster and others.
	Bridges Bridges
	// Outbox is the cluster's outbox (nil: none), from the outbox key or from a file
	// persistence (MqttDefaultFilePersistence: a disk outbox in <path>/<cluster>/outbox). Its
	// Dir is "" for a memory outbox. Clusters opens it (OpenOutbox) when it creates the
	// cluster, unless the cluster's Config.Outbox is set already.
	Outbox *OutboxConfig
	// Line is where the cluster is defined in the file.
	Line int
}

// Bridges are a cluster's client-side bridges.
type Bridges struct {
	// In forwards messages this cluster receives to another cluster.
	In []Bridge
	// Out forwards messages published through this cluster to another cluster as well.
	Out []Bridge
}

// Bridge is one bridge between two clusters.
type Bridge struct {
	// Cluster is the target cluster, never the bridge's own.
	Cluster string
	// TopicFilters select the messages that are forwarded.
	TopicFilters []string
	// QoS is the subscription QoS of an in-bridge and the QoS of forwarded messages whose own
	// QoS is unknown (default 1).
	QoS byte
	// Line is where the bridge is defined in the file.
	Line int
}

// PluginContext says where a plugin lives: attached to clusters, or to the application.
type PluginContext string

const (
	// PluginCluster plugins are attached to the clusters that list them in pluginNames.
	PluginCluster PluginContext = "CLUSTER"
	// PluginApp plugins belong to the application and to no cluster.
	PluginApp PluginContext = "APP"
)

// PluginConfig is one entry of the top-level plugins list.
type PluginConfig struct {
	Name        string
	Description string
	// Enabled false keeps the plugin from being created (default true).
	Enabled bool
	Context PluginContext
	// ClassName is the Java class of a padogrid plugin, kept for reference: hamqtt plugins are
	// registered in code under Name.
	ClassName  string
	Properties map[string]string
	// Subscriptions are made on every cluster the plugin is attached to.
	Subscriptions []PluginSubscription
	Line          int
}

// PluginSubscription is a set of topic filters a plugin subscribes to.
type PluginSubscription struct {
	TopicFilters []string
	QoS          byte
}

// Cluster returns the configuration and settings of the named cluster.
func (fc *FileConfig) Cluster(name string) (Config, ClusterSettings, bool) {
	for _, c := range fc.Clusters {
		if c.Name == name {
			return c, fc.Settings[name], true
		}
	}
	return Config{}, ClusterSettings{}, false
}

// OutboxFor returns the outbox configuration of the named cluster (nil: no outbox): the
// cluster's ClusterSettings.Outbox for a cluster of the file, else what Clusters.GetOrCreate
// gives a new cluster of that name (the top-level outbox key and persistence).
func (fc *FileConfig) OutboxFor(name string) (*OutboxConfig, error) {
	if set, ok := fc.Settings[name]; ok {
		return set.Outbox, nil
	}
	return fc.outboxDefault.forNewCluster(name, fc.PersistenceDir)
}

// ConfigError is one error in a configuration file. Its text is "file:line: key: what is
// wrong and what to do". LoadConfigFile and ParseConfig return all errors of a file joined
// (errors.Join); errors.As finds the first one.
type ConfigError struct {
	File string
	Line int    // 0 when unknown
	Key  string // the key path, e.g. clusters[1].fos; empty for syntax errors
	Msg  string
}

func (e *ConfigError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Msg
}

// LoadConfigFile reads and translates the configuration file at path: a regular file of at
// most MaxConfigFileSize bytes (see ReadUserFile).
func LoadConfigFile(path string, opts LoadOptions) (*FileConfig, error) {
	data, err := ReadUserFile(path, "configuration file", MaxConfigFileSize)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data, path, opts)
}

// LoadDefaultConfig loads the file named by the HAMQTT_CONFIG environment variable or,
// when it is unset or empty, the built-in default: one cluster "cluster-default" on
// tcp://localhost:1883-1885.
func LoadDefaultConfig(opts LoadOptions) (*FileConfig, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if p, ok := getenv(ConfigEnv); ok && strings.TrimSpace(p) != "" {
		fc, err := LoadConfigFile(strings.TrimSpace(p), opts)
		if err != nil && errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w (named by %s)", err, ConfigEnv)
		}
		return fc, err
	}
	return ParseConfig([]byte(builtinConfig), BuiltinConfigSource, opts)
}

// ParseConfig translates YAML text in padogrid's mqttv5-client.yaml format (with hamqtt's
// extensions). source names the text in errors and warnings. The error, if any, joins one
// *ConfigError per problem found. Text longer than MaxConfigFileSize is refused unread.
func ParseConfig(yamlText []byte, source string, opts LoadOptions) (*FileConfig, error) {
	if source == "" {
		source = "<config>"
	}
	if len(yamlText) > MaxConfigFileSize {
		return nil, &ConfigError{File: source, Msg: fmt.Sprintf("larger than %s, the most a configuration may have: check that this is the configuration", byteSize(MaxConfigFileSize))}
	}
	l := &loader{src: source, opts: opts, getenv: opts.Getenv, merging: map[*yaml.Node]bool{}}
	if l.getenv == nil {
		l.getenv = os.LookupEnv
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(yamlText))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, l.syntaxError(yamlText, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &ConfigError{File: source, Line: extra.Line, Msg: "a second YAML document (---): put everything in one document"}
	}
	var root *yaml.Node
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	l.workBudget = max(workBudgetFactor*textWork(root), minWorkBudget)
	fc := l.load(root)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	fc.Warnings = l.warnings
	return fc, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 parse error into a ConfigError. yaml.v3 reports the line where
// the enclosing block starts rather than the offending line, so the line is found as the
// shortest prefix of whole lines that fails with the same message: a binary search (a prefix
// that holds the offending line fails with its message), within a budget of text parsed so
// that a large file costs a few parses, not one per line.
func (l *loader) syntaxError(text []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	lines := bytes.SplitAfter(text, []byte("\n"))
	ends := make([]int, len(lines))
	for i, ln := range lines {
		ends[i] = len(ln)
		if i > 0 {
			ends[i] += ends[i-1]
		}
	}
	budget := syntaxSearchBudget
	// failsAt reports whether the first n lines fail with msg; ok is false once the budget
	// is spent.
	failsAt := func(n int) (fails, ok bool) {
		if budget < ends[n-1] {
			return false, false
		}
		budget -= ends[n-1]
		var node yaml.Node
		perr := yaml.Unmarshal(text[:ends[n-1]], &node)
		if perr == nil {
			return false, true
		}
		pmsg := strings.TrimPrefix(perr.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(perr.Error()); m != nil {
			pmsg = m[2]
		}
		return pmsg == msg, true
	}
	if len(lines) > 0 {
		lo, hi, found := 1, len(lines), false
		for lo < hi {
			mid := (lo + hi) / 2
			fails, ok := failsAt(mid)
			if !ok {
				break
			}
			if fails {
				hi, found = mid, true
			} else {
				lo = mid + 1
			}
		}
		if !found && lo == hi {
			found, _ = failsAt(hi)
		}
		if found {
			line = hi
		}
	}
	if line > 0 && line <= len(lines) && bytes.ContainsRune(lines[line-1], '\t') {
		msg += " (the line holds a tab: YAML indents with spaces)"
	}
	return &ConfigError{File: l.src, Line: line, Msg: "malformed YAML: " + msg + ": fix the syntax (indentation, colons, quotes)"}
}

// syntaxSearchBudget bounds the text syntaxError parses again to find the offending line.
const syntaxSearchBudget = 16 * MaxConfigFileSize

// ---------------------------------------------------------------------------------------
// Node walking

type loader struct {
	src      string
	opts     LoadOptions
	getenv   func(string) (string, bool)
	warnings []string
	errs     []error
	// tlsBySettings gives entries with the same TLS settings one *tls.Config, which lets their
	// clusters share connections (linkKey compares TLS configurations by identity).
	tlsBySettings map[tlsSettings]*tls.Config
	// work counts what the walk visits: the entries of mappings and lists, and the values it
	// reads with their bytes. Aliases (*name) and merge keys (<<) let a short text make the
	// walk visit the same nodes again and again (a merge of two merges doubles at every level),
	// so the walk stops at workBudget, a few times what the text itself holds.
	work, workBudget int
	overBudget       bool
	// merging holds the mappings whose merge keys are being followed, to refuse a merge that
	// leads back to a mapping that holds it.
	merging map[*yaml.Node]bool
	// Brokers named so far: distinct URIs of the current cluster, and endpoints of the file.
	clusterURIs           map[string]bool
	fileEndpoints         int
	clusterFull, fileFull bool
	// outboxDirs are the directories the enabled clusters' outboxes use, checked together once
	// every cluster is read.
	outboxDirs []outboxUse
}

// addBrokers counts the brokers us names in the current cluster and the file, and reports
// whether they are within the limits (MaxExpandedURIs per cluster, MaxConfigEndpoints per file);
// past a limit, the error is reported once and the caller stops reading brokers.
func (l *loader) addBrokers(n *yaml.Node, path string, us []string) bool {
	for _, u := range us {
		if l.clusterURIs[u] {
			continue
		}
		switch {
		case l.clusterFull || l.fileFull:
			return false
		case len(l.clusterURIs) >= MaxExpandedURIs:
			l.clusterFull = true
			l.fail(n, path, "the cluster names more than %d brokers, the most a cluster may have: narrow the ranges, or split the brokers among clusters", MaxExpandedURIs)
			return false
		case l.fileEndpoints >= MaxConfigEndpoints:
			l.fileFull = true
			l.fail(n, path, "the clusters name more than %d brokers together (a broker counts once in each cluster that has it), the most a configuration may describe: narrow the ranges, or use fewer clusters", MaxConfigEndpoints)
			return false
		}
		l.clusterURIs[u] = true
		l.fileEndpoints++
	}
	return true
}

// spend adds k to the work of the walk and reports whether the walk may go on.
func (l *loader) spend(n *yaml.Node, k int) bool {
	l.work += k
	if l.work <= l.workBudget {
		return true
	}
	if !l.overBudget {
		l.overBudget = true
		l.fail(n, "", "aliases (*name) and merge keys (<<) repeat the text more than %d times over: write the values out, or refer to them less often", workBudgetFactor)
	}
	return false
}

// workBudgetFactor times the nodes and bytes of the text (at least minWorkBudget) is what the
// walk may visit.
const (
	workBudgetFactor = 4
	minWorkBudget    = 1 << 16
)

// textWork is what walking n visits when no alias is followed: its nodes and its values'
// bytes.
func textWork(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	w := 1 + len(n.Value)
	for _, c := range n.Content {
		w += textWork(c)
	}
	return w
}

type yamlField struct {
	key  string
	k, v *yaml.Node
}

func (l *loader) fail(n *yaml.Node, key, format string, a ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	l.errs = append(l.errs, &ConfigError{File: l.src, Line: line, Key: key, Msg: fmt.Sprintf(format, a...)})
}

func (l *loader) warn(n *yaml.Node, format string, a ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	l.warnings = append(l.warnings, fmt.Sprintf("%s:%d: %s", l.src, line, fmt.Sprintf(format, a...)))
}

func yamlResolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func yamlNull(n *yaml.Node) bool {
	n = yamlResolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// isEmpty: null, an empty list or an empty mapping.
func yamlEmpty(n *yaml.Node) bool {
	n = yamlResolve(n)
	return yamlNull(n) || ((n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode) && len(n.Content) == 0)
}

func yamlDescribe(n *yaml.Node) string {
	switch yamlResolve(n).Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func keyPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func keyIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// fields returns the key/value pairs of a mapping (merge keys and aliases resolved). A null
// node is an empty mapping; any other node is an error.
func (l *loader) fields(n *yaml.Node, path string) []yamlField {
	n = yamlResolve(n)
	if yamlNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		l.fail(n, path, "expected a mapping (key: value lines), found %s", yamlDescribe(n))
		return nil
	}
	if !l.spend(n, 1+len(n.Content)/2) {
		return nil
	}
	var out []yamlField
	seen := map[string]int{}
	var merged []yamlField
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], yamlResolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			l.fail(k, path, "a key must be a plain name, found %s", yamlDescribe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			l.merging[n] = true
			for _, s := range srcs {
				if l.merging[yamlResolve(s)] {
					l.fail(k, keyPath(path, "<<"), "the merge leads back to the mapping that holds it: merge another mapping")
					continue
				}
				merged = append(merged, l.fields(s, path)...)
			}
			delete(l.merging, n)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			l.fail(k, keyPath(path, k.Value), "given twice (first on line %d): keep one", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, yamlField{key: k.Value, k: k, v: v})
	}
	for _, e := range merged {
		if _, ok := seen[e.key]; !ok {
			seen[e.key] = e.k.Line
			out = append(out, e)
		}
	}
	return out
}

// items returns the elements of a list. A null node is an empty list.
func (l *loader) items(n *yaml.Node, path string) []*yaml.Node {
	n = yamlResolve(n)
	if yamlNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.fail(n, path, "expected a list, found %s", yamlDescribe(n))
		return nil
	}
	if !l.spend(n, 1+len(n.Content)) {
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = yamlResolve(c)
	}
	return out
}

// other handles a key the caller does not translate: Java-only keys (with the reason) are
// accepted with a warning when set; anything else is unknown.
func (l *loader) other(e yamlField, path string, javaOnly map[string]string) {
	p := keyPath(path, e.key)
	if why, ok := javaOnly[e.key]; ok {
		if !yamlEmpty(e.v) {
			l.warn(e.k, "key %s is ignored (Java-only: %s)", p, why)
		}
		return
	}
	if l.opts.Strict {
		l.fail(e.k, p, "unknown key: check its spelling and case against docs/configuration.md, or remove it")
		return
	}
	l.warn(e.k, "unknown key %s (ignored)", p)
}

// expand substitutes ${env:NAME} and ${NAME} (both read the environment; Go has no Java
// system properties) in s; $${ is a literal ${. Substitution is one pass: a variable's value
// is never substituted again, so a password holding ${ stays as it is. A ${ inside a ${...}
// is an error, as is a ${ without its closing brace: a variable's name never comes from
// another variable, so what a file means can be read off the file. Errors give positions,
// never the text, which may be a password.
func (l *loader) expand(n *yaml.Node, path, s string) (string, bool) {
	if !strings.Contains(s, "${") {
		return s, true
	}
	var out strings.Builder
	ok := true
	for pos := 0; ; {
		i := strings.Index(s[pos:], "${")
		if i < 0 {
			out.WriteString(s[pos:])
			break
		}
		i += pos
		if i > pos && s[i-1] == '$' { // $${: a literal ${
			out.WriteString(s[pos : i-1])
			out.WriteString("${")
			pos = i + 2
			continue
		}
		out.WriteString(s[pos:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			l.fail(n, path, "the ${ at byte %d has no closing }: write ${env:NAME}, or $${ for a literal ${", i)
			return "", false
		}
		end += i + 2
		inner := s[i+2 : end]
		if j := strings.Index(inner, "${"); j >= 0 {
			l.fail(n, path, "the ${ at byte %d holds another ${ (at byte %d): a variable inside a variable is not supported: name the variable directly, as in ${env:NAME}", i, i+2+j)
			return "", false
		}
		pos = end + 1
		m := "${" + inner + "}"
		name := strings.TrimSpace(strings.TrimPrefix(inner, "env:"))
		if name == "" {
			l.fail(n, path, "%s names no variable: write ${env:NAME}", m)
			ok = false
			continue
		}
		v, set := l.getenv(name)
		if !set {
			l.fail(n, path, "environment variable %s is not set (used by %s): set it, or write $${ for a literal ${", name, m)
			ok = false
			continue
		}
		out.WriteString(v)
	}
	if !ok {
		return "", false
	}
	return out.String(), true
}

// str returns the substituted text of a scalar; set is false for null and after an error.
func (l *loader) str(n *yaml.Node, path string) (s string, set bool) {
	n = yamlResolve(n)
	if yamlNull(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		l.fail(n, path, "expected a single value, found %s", yamlDescribe(n))
		return "", false
	}
	if !l.spend(n, 1+len(n.Value)) {
		return "", false
	}
	return l.expand(n, path, n.Value)
}

// scalar reads n as text and converts it with parse; text parse rejects is reported as
// "%q is not <what>".
func scalar[T any](l *loader, n *yaml.Node, path, what string, parse func(string) (T, bool)) (T, bool) {
	var zero T
	s, ok := l.str(n, path)
	if !ok {
		return zero, false
	}
	v, ok := parse(strings.TrimSpace(s))
	if !ok {
		l.fail(n, path, "%q is not %s", s, what)
		return zero, false
	}
	return v, true
}

func (l *loader) integer(n *yaml.Node, path string) (int, bool) {
	return scalar(l, n, path, "a whole number", func(s string) (int, bool) {
		v, err := strconv.Atoi(s)
		return v, err == nil
	})
}

func (l *loader) float(n *yaml.Node, path string) (float64, bool) {
	return scalar(l, n, path, "a number", func(s string) (float64, bool) {
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	})
}

func (l *loader) boolean(n *yaml.Node, path string) (bool, bool) {
	return scalar(l, n, path, "true or false", func(s string) (bool, bool) {
		switch strings.ToLower(s) {
		case "true", "yes", "on":
			return true, true
		case "false", "no", "off":
			return false, true
		}
		return false, false
	})
}

// duration reads a whole number in unit (milliseconds or seconds, as padogrid writes them) or
// a Go duration string such as "1500ms" or "2s". Negative values are errors unless allowed.
// maxDuration bounds every duration of a configuration file: a hundred years, far beyond any
// timeout, and far from time.Duration's overflow.
const maxDuration = time.Duration(100 * 365 * 24 * time.Hour)

func (l *loader) duration(n *yaml.Node, path string, unit time.Duration, allowNegative bool) (time.Duration, bool) {
	return l.durationUpTo(n, path, unit, allowNegative, maxDuration, "the longest duration is 876000h (100 years)")
}

// wholeNumberRE matches a whole number, whatever its size.
var wholeNumberRE = regexp.MustCompile(`^[-+]?\d+$`)

// goDurationRE matches what time.ParseDuration reads, whatever the size of the numbers.
var goDurationRE = regexp.MustCompile(`^[-+]?((\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$`)

// durationUpTo is duration with its own upper bound, limit, which limitText describes ("the
// longest duration is ...", "MQTT's limit is ..."). A value beyond the bound is refused as
// too large, and a negative one (where not allowed) as negative, however many digits it has.
func (l *loader) durationUpTo(n *yaml.Node, path string, unit time.Duration, allowNegative bool, limit time.Duration, limitText string) (time.Duration, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return 0, false
	}
	s = strings.TrimSpace(s)
	unitName := "milliseconds"
	if unit == time.Second {
		unitName = "seconds"
	}
	shown := s // the value as written, with its unit
	var d time.Duration
	outOfRange := false // beyond what time.Duration holds: the sign says which way
	if wholeNumberRE.MatchString(s) {
		shown = s + " " + unitName
		v, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil, v > int64(maxDuration/unit), v < -int64(maxDuration/unit):
			outOfRange = true
		default:
			d = time.Duration(v) * unit
		}
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			if !goDurationRE.MatchString(s) {
				l.fail(n, path, "%q is not a duration: give a whole number of %s or a value with a unit such as 500ms or 2s", s, unitName)
				return 0, false
			}
			outOfRange = true // well formed, beyond time.Duration (about 292 years either way)
		}
	}
	negative := strings.HasPrefix(s, "-") && (outOfRange || d < 0)
	switch {
	case negative && !allowNegative:
		l.fail(n, path, "%s is negative: give a positive duration (or leave it out for the default)", s)
		return 0, false
	case negative && (outOfRange || d < -maxDuration):
		l.fail(n, path, "%s is out of range: the longest duration either way is 876000h (100 years)", shown)
		return 0, false
	case !negative && (outOfRange || d > limit):
		l.fail(n, path, "%s is out of range: %s", shown, limitText)
		return 0, false
	}
	return d, true
}

// strList reads a list of strings; a single value counts as a one-element list.
func (l *loader) strList(n *yaml.Node, path string) (vals []string, nodes []*yaml.Node) {
	n = yamlResolve(n)
	if yamlNull(n) {
		return nil, nil
	}
	elems := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		elems = n.Content
	}
	for i, e := range elems {
		p := path
		if n.Kind == yaml.SequenceNode {
			p = keyIndex(path, i)
		}
		if s, ok := l.str(e, p); ok {
			vals = append(vals, s)
			nodes = append(nodes, yamlResolve(e))
		}
	}
	return vals, nodes
}

// qos reads a QoS where padogrid treats an invalid or missing value as the default 1:
// negative values mean the default; values above 2 are errors.
func (l *loader) qos(n *yaml.Node, path string) byte {
	q, ok := l.integer(n, path)
	switch {
	case !ok || q < 0:
		return 1
	case q > 2:
		l.fail(n, path, "QoS %d out of range: use 0, 1 or 2", q)
		return 1
	}
	return byte(q)
}

// ---------------------------------------------------------------------------------------
// Translation

// Keys of padogrid's schema hamqtt accepts and ignores, with the reason.
var (
	javaOnlyConnection = map[string]string{
		"automaticReconnect":         "hamqtt's prober reconnects; see probeDelay and maxProbeDelay",
		"automaticReconnectMaxDelay": "hamqtt's prober reconnects; see maxProbeDelay",
		"automaticReconnectMinDelay": "hamqtt's prober reconnects; see probeDelay",
		"maxReconnectDelay":          "hamqtt's prober reconnects; see maxProbeDelay",
		"executorServiceTimeout":     "Paho Java's executor",
		"customWebSocketHeaders":     "Paho Java's WebSocket headers",
		"httpHeaders":                "Paho Java's WebSocket headers",
		"socketFactory":              "a Java socket factory; use tls",
		"sslClientProps":             "Java SSL properties; use tls",
		"sslHostnameVerifier":        "a Java class; use httpsHostnameVerificationEnabled",
		"maxInflight":                "Paho Java's in-flight window",
	}
	javaOnlyWillMessage = map[string]string{
		"id":        "Paho Java's message id",
		"mutable":   "Paho Java internals",
		"duplicate": "set by the protocol",
	}
)

// load translates the root mapping of a file.
func (l *loader) load(root *yaml.Node) *FileConfig {
	fc := &FileConfig{
		Source:         l.src,
		Enabled:        true,
		DefaultCluster: DefaultClusterName,
		Tag:            "cluster-tag",
		Settings:       map[string]ClusterSettings{},
	}
	if root != nil && yamlResolve(root).Kind != yaml.MappingNode && !yamlNull(root) {
		l.fail(root, "", "the top level must be a mapping with keys such as clusters: (see docs/configuration.md)")
		return fc
	}
	var clustersNode, defaultNode, idsNode *yaml.Node
	global := persistSpec{}
	var globalOutbox outboxSpec
	for _, e := range l.fields(root, "") {
		switch e.key {
		case "enabled":
			if v, ok := l.boolean(e.v, e.key); ok {
				fc.Enabled = v
			}
		case "defaultCluster":
			if v, ok := l.str(e.v, e.key); ok {
				fc.DefaultCluster = strings.TrimSpace(v)
				defaultNode = e.v
			}
		case "tag":
			if v, ok := l.str(e.v, e.key); ok {
				fc.Tag = v
			}
		case "probeDelay":
			fc.ProbeDelay, _ = l.duration(e.v, e.key, time.Millisecond, false)
		case "maxProbeDelay":
			fc.MaxProbeDelay, _ = l.duration(e.v, e.key, time.Millisecond, false)
		case "persistence":
			global = l.persistence(e.v, e.key)
		case "outbox":
			l.outbox(e.v, e.key, &globalOutbox, true)
		case "protocolVersion":
			fc.ProtocolVersion, _ = l.protocolVersion(e.v, e.key)
		case "messageIds":
			if v, ok := l.messageIDs(e.v, e.key); ok {
				fc.MessageIDs, idsNode = v, e.v
			}
		case "plugins":
			fc.Plugins = l.plugins(e.v, e.key)
		case "clusters":
			clustersNode = e.v
		default:
			l.other(e, "", nil)
		}
	}
	if !fc.Enabled {
		l.warn(root, "enabled is false: ConnectAll connects no cluster; connect them one by one")
	}
	fc.PersistenceDir = global.dir
	fc.outboxDefault = globalOutbox.clone()
	l.outboxDirs = nil

	seen := map[string]int{}
	var bridgeChecks []func()
	for i, cn := range l.items(clustersNode, "clusters") {
		if l.fileFull || l.overBudget {
			break // the rest could only add to the same error
		}
		path := keyIndex("clusters", i)
		cfg, set, check := l.cluster(cn, path, fc, global, globalOutbox)
		if first, dup := seen[cfg.Name]; dup {
			l.fail(cn, keyPath(path, "name"), "cluster %q is defined twice (first on line %d): give each cluster its own name", cfg.Name, first)
			continue
		}
		seen[cfg.Name] = cn.Line
		fc.Clusters = append(fc.Clusters, cfg)
		fc.Settings[cfg.Name] = set
		bridgeChecks = append(bridgeChecks, check)
	}
	for _, check := range bridgeChecks {
		check()
	}
	l.checkOutboxDirs()
	if fc.MessageIDs == MessageIDsAlways && !slices.ContainsFunc(fc.Clusters, func(c Config) bool { return c.Connection.ProtocolVersion == MQTT5 }) {
		l.warn(idsNode, "key messageIds is ignored: message ids travel as an MQTT 5 user property and no cluster speaks MQTT 5: set protocolVersion: 5")
	}

	plugins := map[string]bool{}
	for _, p := range fc.Plugins {
		plugins[p.Name] = true
	}
	for _, c := range fc.Clusters {
		for _, pn := range fc.Settings[c.Name].PluginNames {
			if !plugins[pn] {
				l.warnLine(fc.Settings[c.Name].Line, "cluster %s: pluginNames: plugin %q is not defined under plugins (it must be registered in code)", c.Name, pn)
			}
		}
	}

	if set, ok := fc.Settings[fc.DefaultCluster]; !ok {
		n := defaultNode
		if n == nil {
			n = root
		}
		if len(fc.Clusters) > 0 || defaultNode != nil {
			l.warn(n, "defaultCluster %q is not defined under clusters: it is created on %s when first used", fc.DefaultCluster, DefaultServerURIs)
		}
	} else if !set.Enabled {
		n := defaultNode
		if n == nil {
			n = root
		}
		l.fail(n, "defaultCluster", "cluster %q is disabled (enabled: false on line %d): enable it or choose another default cluster", fc.DefaultCluster, set.Line)
	}
	return fc
}

func (l *loader) warnLine(line int, format string, a ...any) {
	l.warn(&yaml.Node{Line: line}, format, a...)
}

type persistSpec struct {
	file bool
	dir  string
	// key and line name where the file persistence was configured, for errors about the
	// outbox it implies.
	key  string
	line int
}

// persistence translates padogrid's {className, properties} into memory or a file store.
func (l *loader) persistence(n *yaml.Node, path string) persistSpec {
	var class string
	var classNode *yaml.Node
	props := map[string]string{}
	for _, e := range l.fields(n, path) {
		switch e.key {
		case "className":
			class, _ = l.str(e.v, keyPath(path, e.key))
			class = strings.TrimSpace(class)
			classNode = e.k
		case "properties":
			props = l.properties(e.v, keyPath(path, e.key))
		default:
			l.other(e, path, nil)
		}
	}
	short := class[strings.LastIndexByte(class, '.')+1:]
	switch short {
	case "", "MemoryPersistence":
		return persistSpec{}
	case "MqttDefaultFilePersistence":
		dir := props["path"]
		if dir == "" {
			dir = "."
		}
		line := n.Line
		if classNode != nil {
			line = classNode.Line
		}
		return persistSpec{file: true, dir: dir, key: path, line: line}
	}
	l.warn(classNode, "key %s.className is ignored (Java-only: %s is a Java class; messages in flight are kept in memory)", path, class)
	return persistSpec{}
}

// properties translates a list of {key, value} into a map.
func (l *loader) properties(n *yaml.Node, path string) map[string]string {
	out := map[string]string{}
	for i, it := range l.items(n, path) {
		p := keyIndex(path, i)
		var k, v string
		var hasKey bool
		for _, e := range l.fields(it, p) {
			switch e.key {
			case "key":
				k, hasKey = l.str(e.v, keyPath(p, e.key))
			case "value":
				v, _ = l.str(e.v, keyPath(p, e.key))
			default:
				l.other(e, p, nil)
			}
		}
		if !hasKey {
			if !yamlEmpty(it) {
				l.fail(it, p, "a property needs a key: write - key: NAME")
			}
			continue
		}
		out[k] = v
	}
	return out
}

func (l *loader) plugins(n *yaml.Node, path string) []PluginConfig {
	var out []PluginConfig
	seen := map[string]int{}
	for i, it := range l.items(n, path) {
		p := keyIndex(path, i)
		pc := PluginConfig{Enabled: true, Context: PluginCluster, Line: it.Line}
		for _, e := range l.fields(it, p) {
			kp := keyPath(p, e.key)
			switch e.key {
			case "name":
				pc.Name, _ = l.str(e.v, kp)
				pc.Name = strings.TrimSpace(pc.Name)
			case "description":
				pc.Description, _ = l.str(e.v, kp)
			case "enabled":
				if v, ok := l.boolean(e.v, kp); ok {
					pc.Enabled = v
				}
			case "context":
				if v, ok := l.str(e.v, kp); ok {
					switch PluginContext(strings.ToUpper(strings.TrimSpace(v))) {
					case PluginCluster:
						pc.Context = PluginCluster
					case PluginApp:
						pc.Context = PluginApp
					default:
						l.fail(e.v, kp, "%q is not a plugin context: use CLUSTER or APP", v)
					}
				}
			case "className":
				pc.ClassName, _ = l.str(e.v, kp)
			case "properties":
				pc.Properties = l.properties(e.v, kp)
			case "subscriptions":
				for j, sn := range l.items(e.v, kp) {
					sp := keyIndex(kp, j)
					s := PluginSubscription{QoS: 1}
					for _, se := range l.fields(sn, sp) {
						switch se.key {
						case "topicFilters":
							s.TopicFilters = l.filters(se.v, keyPath(sp, se.key))
						case "qos":
							s.QoS = l.qos(se.v, keyPath(sp, se.key))
						default:
							l.other(se, sp, nil)
						}
					}
					if len(s.TopicFilters) > 0 {
						pc.Subscriptions = append(pc.Subscriptions, s)
					}
				}
			default:
				l.other(e, p, nil)
			}
		}
		if pc.Name == "" {
			l.warn(it, "%s has no name: the plugin is ignored", p)
			continue
		}
		if first, dup := seen[pc.Name]; dup {
			l.fail(it, keyPath(p, "name"), "plugin %q is defined twice (first on line %d): give each plugin its own name", pc.Name, first)
			continue
		}
		seen[pc.Name] = it.Line
		out = append(out, pc)
	}
	return out
}

// filters reads and validates a list of topic filters.
func (l *loader) filters(n *yaml.Node, path string) []string {
	vals, nodes := l.strList(n, path)
	var out []string
	for i, f := range vals {
		if err := ValidateFilter(f); err != nil {
			l.fail(nodes[i], path, "%v", err)
			continue
		}
		out = append(out, f)
	}
	return out
}

// connEntry is one element of a cluster's connections list.
type connEntry struct {
	uris     []string // canonical, expanded
	hasURIs  bool
	settings connSettings
	// v5 holds the MQTT 5 options, applied once the cluster's protocol version is known
	// (applyMQTT5).
	v5  connMQTT5
	tls *tls.Config
	// v5Keys are the MQTT 5 keys given a value, for the warnings of a cluster that speaks
	// MQTT 3.1.1 or has no will.
	v5Keys        []v5Key
	versionNode   *yaml.Node // mqttVersion
	zeroExpiry    *yaml.Node // sessionExpiryInterval given as 0
	maxPacketNode *yaml.Node // maximumPacketSize
	willProps     string     // the key path that gave the will properties
	willPropsLine int
	line          int
}

// connMQTT5 are the MQTT 5 options of a connections entry.
type connMQTT5 struct {
	MQTT5     MQTT5Config
	MaxPacket int // maximumPacketSize (0: not given)
	Will      Properties
	WillDelay time.Duration
}

// v5Key is an MQTT 5 key given a value.
type v5Key struct {
	path string
	node *yaml.Node
	will bool // a will property: it needs a will message
}

// connSettings are the comparable connection options of a connections entry.
type connSettings struct {
	Username, Password        string
	KeepAlive, ConnectTimeout time.Duration
	CleanSession              bool
	HasWill                   bool
	WillTopic, WillPayload    string
	WillQoS                   byte
	WillRetained              bool
	TLS                       tlsSettings
	MQTTVersion               int // mqttVersion (0: not given)
}

type tlsSettings struct {
	Version                             string
	CAFile, CertFile, KeyFile, Password string
	InsecureSkipVerify                  bool
	NoHostnameVerification              bool
}

// cluster translates one element of clusters. check validates its bridges once every
// cluster is known.
func (l *loader) cluster(n *yaml.Node, path string, fc *FileConfig, global persistSpec, globalOutbox outboxSpec) (Config, ClusterSettings, func()) {
	cfg := Config{
		Name:          DefaultClusterName,
		ProbeDelay:    fc.ProbeDelay,
		MaxProbeDelay: fc.MaxProbeDelay,
		Connection:    ConnectionConfig{},
		MessageIDs:    fc.MessageIDs,
	}
	set := ClusterSettings{Enabled: true, AutoConnect: true, LiveEndpointPoolEnabled: true, Line: n.Line}
	l.clusterURIs, l.clusterFull = map[string]bool{}, false
	if yamlResolve(n).Kind != yaml.MappingNode {
		l.fail(n, path, "expected a cluster (a mapping with name:, connections: ...), found %s", yamlDescribe(n))
		return cfg, set, func() {}
	}
	per := global
	ob := globalOutbox.clone()
	ob.own = nil // the keys of this cluster's own outbox mapping
	fos, liveCount, subCount := 0, -1, -1
	var liveNode, subNode *yaml.Node
	var endpointsNode, connectionsNode, primaryNode, bridgesNode, quorumNode *yaml.Node
	var versionNode, idsNode, maxInNode *yaml.Node
	version := fc.ProtocolVersion
	var clientID string
	for _, e := range l.fields(n, path) {
		kp := keyPath(path, e.key)
		switch e.key {
		case "name":
			if v, ok := l.str(e.v, kp); ok {
				cfg.Name = strings.TrimSpace(v)
				if cfg.Name == "" {
					l.fail(e.v, kp, "empty cluster name: give the cluster a name")
				}
			}
		case "description":
			cfg.Description, _ = l.str(e.v, kp)
		case "enabled":
			if v, ok := l.boolean(e.v, kp); ok {
				set.Enabled = v
			}
		case "autoConnect":
			if v, ok := l.boolean(e.v, kp); ok {
				set.AutoConnect = v
			}
		case "liveEndpointPoolEnabled":
			if v, ok := l.boolean(e.v, kp); ok {
				set.LiveEndpointPoolEnabled = v
			}
		case "timeToWait":
			cfg.TimeToWait, _ = l.duration(e.v, kp, time.Millisecond, false)
		case "fos":
			if v, ok := l.integer(e.v, kp); ok {
				if v < 0 || v > 3 {
					l.fail(e.v, kp, "%d out of range: use 0, 1, 2 or 3", v)
				} else {
					fos = v
				}
			}
		case "initialEndpointCount":
			if v, ok := l.integer(e.v, kp); ok {
				cfg.InitialEndpointCount = max(v, -1)
			}
		case "liveEndpointCount":
			if v, ok := l.integer(e.v, kp); ok {
				liveCount, liveNode = max(v, -1), e.v
			}
		case "subscriberCount":
			if v, ok := l.integer(e.v, kp); ok {
				subCount, subNode = max(v, -1), e.v
			}
		case "publisherType":
			if v, ok := l.str(e.v, kp); ok {
				pt, err := ParsePublisherType(v)
				if err != nil {
					l.fail(e.v, kp, "%v", err)
				}
				cfg.PublisherType = pt
			}
		case "primaryServerURI":
			primaryNode = e.v
		case "defaultTopicBase":
			cfg.DefaultTopicBase, _ = l.str(e.v, kp)
		case "endpoints":
			endpointsNode = e.v
		case "pluginNames", "pluginName":
			names, _ := l.strList(e.v, kp)
			if e.key == "pluginName" && len(names) > 0 {
				l.warn(e.k, "key %s is padogrid's obsolete spelling: it is read as pluginNames: [%s]", kp, strings.Join(names, ", "))
			}
			for _, nm := range names {
				if nm = strings.TrimSpace(nm); nm != "" {
					set.PluginNames = append(set.PluginNames, nm)
				}
			}
		case "bridges":
			bridgesNode = e.v
		case "persistence":
			per = l.persistence(e.v, kp)
		case "outbox":
			l.outbox(e.v, kp, &ob, false)
		case "connections":
			connectionsNode = e.v
		// hamqtt extensions
		case "probeDelay":
			cfg.ProbeDelay, _ = l.duration(e.v, kp, time.Millisecond, false)
		case "maxProbeDelay":
			cfg.MaxProbeDelay, _ = l.duration(e.v, kp, time.Millisecond, false)
		case "ackTimeout":
			cfg.AckTimeout, _ = l.duration(e.v, kp, time.Millisecond, false)
		case "warmUp":
			if d, ok := l.duration(e.v, kp, time.Millisecond, true); ok {
				cfg.WarmUp = d
				if d == 0 {
					cfg.WarmUp = -1 // an explicit 0 disables the warm-up
				}
			}
		case "maxIncomingPacket":
			if v, ok := l.integer(e.v, kp); ok {
				if v < 1 || v > 268435460 {
					l.fail(e.v, kp, "%d: give a size in bytes between 1 and 268435460 (MQTT's largest packet)", v)
				}
				cfg.MaxIncomingPacket, maxInNode = v, e.v
			}
		case "probeInterval":
			cfg.ProbeInterval, _ = l.duration(e.v, kp, time.Millisecond, false)
		case "probeRate":
			cfg.ProbeRate, _ = l.float(e.v, kp)
		case "ackQuorum":
			if v, ok := l.integer(e.v, kp); ok {
				if v < -1 {
					l.fail(e.v, kp, "%d: use 0 or 1 (any one broker), a count of brokers, or -1 (every live broker)", v)
				}
				cfg.AckQuorum, quorumNode = v, e.v
			}
		case "connectRate":
			cfg.ConnectRate, _ = l.float(e.v, kp)
		case "connectBurst":
			if v, ok := l.integer(e.v, kp); ok {
				if v < 0 {
					l.fail(e.v, kp, "%d is negative: give a positive count (or leave it out for the default)", v)
				}
				cfg.ConnectBurst = v
			}
		case "flapLimit":
			if v, ok := l.integer(e.v, kp); ok {
				cfg.FlapLimit = v
			}
		case "flapWindow":
			cfg.FlapWindow, _ = l.duration(e.v, kp, time.Millisecond, false)
		case "quarantineTime":
			cfg.QuarantineTime, _ = l.duration(e.v, kp, time.Millisecond, false)
		case "dedup":
			cfg.Dedup, _ = l.boolean(e.v, kp)
		case "dedupWindow":
			cfg.DedupWindow, _ = l.duration(e.v, kp, time.Millisecond, false)
		case "maxInflightQoS2":
			if v, ok := l.integer(e.v, kp); ok {
				if v < 1 {
					l.fail(e.v, kp, "%d: give at least 1 (the broker's max_inflight_messages, 20 for Mosquitto)", v)
				} else {
					cfg.MaxInflightQoS2 = v
				}
			}
		case "clientId":
			clientID, _ = l.str(e.v, kp)
		case "protocolVersion":
			if v, ok := l.protocolVersion(e.v, kp); ok && v != 0 {
				version, versionNode = v, e.v
			}
		case "messageIds":
			if v, ok := l.messageIDs(e.v, kp); ok {
				cfg.MessageIDs, idsNode = v, e.v
			}
		default:
			l.other(e, path, nil)
		}
	}

	if quorumNode != nil && cfg.AckQuorum != 0 && cfg.PublisherType != All {
		l.warn(quorumNode, "%s.ackQuorum only matters with publisherType: ALL (this cluster is %v)", path, cfg.PublisherType)
	}
	// FoS: padogrid fixes the counts for levels 0-2 and honours them only at level 3.
	cfg.FoS = fos
	fixed := map[int][2]int{0: {-1, -1}, 1: {2, 1}, 2: {2, 2}}
	if f, ok := fixed[fos]; ok {
		if liveNode != nil && liveCount != f[0] && liveCount != -1 {
			l.warn(liveNode, "%s.liveEndpointCount %d is ignored: fos %d fixes it to %d (use fos: 3 to choose)", path, liveCount, fos, f[0])
		}
		if subNode != nil && subCount != f[1] && subCount != -1 {
			l.warn(subNode, "%s.subscriberCount %d is ignored: fos %d fixes it to %d (use fos: 3 to choose)", path, subCount, fos, f[1])
		}
		cfg.LiveEndpointCount, cfg.SubscriberCount = f[0], f[1]
	} else {
		cfg.LiveEndpointCount, cfg.SubscriberCount = liveCount, subCount
		if subCount == 0 {
			cfg.PublishOnly = true
			cfg.SubscriberCount = -1
		}
	}

	// Connections and endpoints.
	var conns []connEntry
	for i, cn := range l.items(connectionsNode, keyPath(path, "connections")) {
		conns = append(conns, l.connection(cn, keyIndex(keyPath(path, "connections"), i)))
	}
	// The protocol version: connections[].connection.mqttVersion, else the cluster's
	// protocolVersion, else the top level's, else MQTT 3.1.1.
	if len(conns) > 0 && conns[0].settings.MQTTVersion != 0 {
		mv := conns[0].settings.MQTTVersion
		if versionNode != nil && version != mv {
			l.fail(conns[0].versionNode, keyPath(keyIndex(keyPath(path, "connections"), 0), "connection.mqttVersion"),
				"%d contradicts %s.protocolVersion %d (line %d): keep one of them", mv, path, version, versionNode.Line)
		}
		version = mv
	}
	cfg.Connection.ProtocolVersion = version // 0 (not given) stays the engine's default, 3.1.1
	if len(conns) > 0 {
		s := conns[0].settings
		cc := &cfg.Connection
		cc.Username, cc.Password = s.Username, s.Password
		cc.KeepAlive, cc.ConnectTimeout = s.KeepAlive, s.ConnectTimeout
		cc.PersistentSession = !s.CleanSession
		if s.HasWill {
			cc.Will = &Will{Topic: s.WillTopic, Payload: []byte(s.WillPayload), QoS: s.WillQoS, Retained: s.WillRetained}
		}
		cc.TLS = conns[0].tls
		l.applyMQTT5(&cfg, path, conns[0], maxInNode)
	}
	if idsNode != nil && cfg.MessageIDs == MessageIDsAlways && version != MQTT5 {
		l.warn(idsNode, "key %s.messageIds is ignored: message ids travel as an MQTT 5 user property and cluster %q speaks MQTT 3.1.1: set protocolVersion: 5", path, cfg.Name)
	}
	cfg.Connection.ClientID = clientID
	cfg.ShareConnections = set.LiveEndpointPoolEnabled
	// paho's file store is MQTT 3.1.1's; under MQTT 5 the file persistence is the cluster's
	// disk outbox (below), which keeps every message until a broker acknowledges it.
	if per.file && version != MQTT5 {
		cfg.Connection.FileStoreDir = filepath.Join(per.dir, cfg.Name)
	}

	l.endpoints(&cfg, n, path, conns, endpointsNode, primaryNode)
	set.Outbox = l.clusterOutbox(n, path, cfg, set, ob, per)
	if per.file && version == MQTT5 && set.Outbox == nil {
		l.warnLine(per.line, "%s: %s: under MQTT 5 a file persistence is the cluster's disk outbox only (paho's file store is MQTT 3.1.1's), and the outbox is off: messages in flight are kept in memory", path, per.key)
	}
	if cfg.PublisherType == All {
		hasBase := cfg.DefaultTopicBase != ""
		for _, ep := range cfg.Endpoints {
			hasBase = hasBase || ep.TopicBase != ""
		}
		if hasBase {
			l.warnLine(n.Line, "%s: publisherType ALL with topic bases: a topic under an endpoint's topic base goes to that endpoint only (padogrid sends it to every broker); see \"Differences from padogrid\" in docs/padogrid.md", path)
		}
	}

	// Whatever else the engine checks, reported at the cluster's line.
	if len(l.errs) == 0 {
		if _, err := cfg.withDefaults(); err != nil {
			l.fail(n, path, "%v", err)
		} else if cfg.Connection.TLS != nil && !anySecure(cfg.Endpoints) {
			l.fail(connectionsNode, keyPath(path, "connections"),
				"tls settings are given but no serverURI uses TLS, so they would be ignored: write ssl://host:8883 (or mqtts://, wss://), or remove the tls entry")
		}
	}

	// Bridges are checked once every cluster is known.
	check := func() {}
	if bridgesNode != nil {
		bp := keyPath(path, "bridges")
		var inN, outN *yaml.Node
		for _, e := range l.fields(bridgesNode, bp) {
			switch e.key {
			case "in":
				inN = e.v
			case "out":
				outN = e.v
			default:
				l.other(e, bp, nil)
			}
		}
		var inPaths, outPaths []string
		set.Bridges.In, inPaths = l.bridges(inN, keyPath(bp, "in"))
		set.Bridges.Out, outPaths = l.bridges(outN, keyPath(bp, "out"))
		self := cfg.Name
		bs := append(append([]Bridge(nil), set.Bridges.In...), set.Bridges.Out...)
		ps := append(inPaths, outPaths...)
		check = func() {
			for i, b := range bs {
				l.checkBridge(fc, self, b, ps[i])
			}
		}
	}
	return cfg, set, check
}

// endpoints assembles a cluster's endpoints: the serverURIs of every connections entry, then
// the endpoints[] brokers not listed there, then primaryServerURI; endpoints[] names and topic
// bases are matched by URI. Without any broker the cluster gets DefaultServerURIs.
func (l *loader) endpoints(cfg *Config, n *yaml.Node, path string, conns []connEntry, endpointsNode, primaryNode *yaml.Node) {
	var uris []string
	seenURI := map[string]bool{}
	addURI := func(u string) {
		if !seenURI[u] {
			seenURI[u] = true
			uris = append(uris, u)
		}
	}
	haveURIs := false
	for i, c := range conns {
		if i > 0 && (c.settings != conns[0].settings || !reflect.DeepEqual(c.v5, conns[0].v5)) {
			l.fail(&yaml.Node{Line: c.line}, keyIndex(keyPath(path, "connections"), i),
				"connection options differ from connections[0] (line %d): hamqtt applies one set of options (credentials, TLS, will, timers, MQTT version and MQTT 5 options) to every endpoint of a cluster: give these brokers a cluster of their own", conns[0].line)
		}
		haveURIs = haveURIs || c.hasURIs
		for _, u := range c.uris {
			addURI(u)
		}
	}
	// endpoints[]: names and topic bases by URI; URIs not listed yet are added.
	type namedEndpoint struct {
		name, base string
		node       *yaml.Node
	}
	byURI := map[string]namedEndpoint{}
	var extra []string
	names := map[string]bool{}
	for i, en := range l.items(endpointsNode, keyPath(path, "endpoints")) {
		p := keyIndex(keyPath(path, "endpoints"), i)
		var nm, ep, base string
		var epNode *yaml.Node
		for _, e := range l.fields(en, p) {
			switch e.key {
			case "name":
				nm, _ = l.str(e.v, keyPath(p, e.key))
				nm = strings.TrimSpace(nm)
			case "endpoint":
				ep, _ = l.str(e.v, keyPath(p, e.key))
				ep = strings.TrimSpace(ep)
				epNode = e.v
			case "topicBase":
				base, _ = l.str(e.v, keyPath(p, e.key))
			default:
				l.other(e, p, nil)
			}
		}
		if ep == "" {
			if nm != "" || base != "" {
				l.fail(en, keyPath(p, "endpoint"), "missing: give the broker URI this entry names, e.g. endpoint: tcp://host:1883")
			}
			continue // padogrid's template entry (all null)
		}
		u, ok := l.singleURI(epNode, keyPath(p, "endpoint"), ep)
		if !ok {
			continue
		}
		if !l.addBrokers(epNode, keyPath(p, "endpoint"), []string{u}) {
			break
		}
		if prev, dup := byURI[u]; dup {
			l.fail(en, keyPath(p, "endpoint"), "%s is already named by the entry on line %d: name each broker once", u, prev.node.Line)
			continue
		}
		if nm != "" && names[nm] {
			l.fail(en, keyPath(p, "name"), "endpoint name %q is used twice in cluster %q: give each endpoint its own name", nm, cfg.Name)
			continue
		}
		names[nm] = true
		byURI[u] = namedEndpoint{nm, base, en}
		if !seenURI[u] {
			extra = append(extra, u)
		}
	}
	if !haveURIs && len(extra) == 0 && !l.clusterFull {
		def, _ := ExpandURIs(DefaultServerURIs)
		if l.addBrokers(n, path, def) {
			for _, u := range def {
				addURI(u)
			}
		}
	}
	for _, u := range extra {
		addURI(u)
	}
	if primaryNode != nil {
		if v, ok := l.str(primaryNode, keyPath(path, "primaryServerURI")); ok && strings.TrimSpace(v) != "" {
			v = strings.TrimSpace(v)
			if !strings.Contains(v, "://") && names[v] {
				cfg.PrimaryServerURI = v // an endpoint name
			} else if u, ok := l.singleURI(primaryNode, keyPath(path, "primaryServerURI"), v); ok && l.addBrokers(primaryNode, keyPath(path, "primaryServerURI"), []string{u}) {
				cfg.PrimaryServerURI = u
				addURI(u)
			}
		}
	}
	taken := map[string]int{}
	for i, u := range uris {
		ec := EndpointConfig{URI: u}
		if nb, ok := byURI[u]; ok {
			ec.Name, ec.TopicBase = nb.name, nb.base
		}
		cfg.Endpoints = append(cfg.Endpoints, ec)
		name := ec.Name
		if name == "" {
			name = fmt.Sprintf("%s-%d", cfg.Name, i+1) // as the engine names it
		}
		if j, dup := taken[name]; dup {
			line := n.Line
			if nb, ok := byURI[u]; ok {
				line = nb.node.Line
			} else if nb, ok := byURI[uris[j]]; ok {
				line = nb.node.Line
			}
			l.fail(&yaml.Node{Line: line}, keyPath(path, "endpoints"), "endpoint name %q would name both %s and %s: choose a name that is not the default <cluster>-<n> of another endpoint", name, uris[j], u)
		}
		taken[name] = i
	}

}

func (l *loader) checkBridge(fc *FileConfig, self string, b Bridge, path string) {
	at := &yaml.Node{Line: b.Line}
	if b.Cluster == self {
		l.fail(at, keyPath(path, "cluster"), "a bridge from cluster %q to itself would loop: name another cluster", self)
		return
	}
	st, ok := fc.Settings[b.Cluster]
	if !ok {
		var known []string
		for _, c := range fc.Clusters {
			known = append(known, c.Name)
		}
		l.fail(at, keyPath(path, "cluster"), "unknown cluster %q: name one of the clusters in this file (%s)", b.Cluster, strings.Join(known, ", "))
		return
	}
	if !st.Enabled {
		l.warn(at, "%s: bridge target %q is disabled: the bridge forwards nothing", path, b.Cluster)
	}
}

func (l *loader) bridges(n *yaml.Node, path string) (out []Bridge, paths []string) {
	for i, it := range l.items(n, path) {
		p := keyIndex(path, i)
		b := Bridge{QoS: 1, Line: it.Line}
		for _, e := range l.fields(it, p) {
			switch e.key {
			case "cluster":
				b.Cluster, _ = l.str(e.v, keyPath(p, e.key))
				b.Cluster = strings.TrimSpace(b.Cluster)
				b.Line = e.v.Line
			case "topicFilters":
				b.TopicFilters = l.filters(e.v, keyPath(p, e.key))
			case "qos":
				b.QoS = l.qos(e.v, keyPath(p, e.key))
			default:
				l.other(e, p, nil)
			}
		}
		if b.Cluster == "" {
			l.warn(it, "%s names no cluster: the bridge is ignored", p)
			continue
		}
		if len(b.TopicFilters) == 0 {
			l.warn(it, "%s has no topicFilters: it forwards nothing", p)
		}
		out = append(out, b)
		paths = append(paths, p)
	}
	return out, paths
}

// singleURI canonicalizes a URI that must name exactly one broker.
func (l *loader) singleURI(n *yaml.Node, path, s string) (string, bool) {
	us, err := ExpandURIs(s)
	if err != nil {
		l.fail(n, path, "%v", err)
		return "", false
	}
	if len(us) != 1 || strings.Contains(s, ",") {
		l.fail(n, path, "%q names %d brokers: give exactly one broker URI here (no ranges or lists)", s, len(us))
		return "", false
	}
	return us[0], true
}

// connection translates one element of connections: {tls, connection}.
func (l *loader) connection(n *yaml.Node, path string) connEntry {
	ce := connEntry{line: n.Line, settings: connSettings{CleanSession: true, TLS: tlsSettings{}}}
	var tlsNode *yaml.Node
	var tlsPath string
	for _, e := range l.fields(n, path) {
		switch e.key {
		case "tls":
			tlsNode, tlsPath = e.v, keyPath(path, e.key)
		case "connection":
			l.connectionOptions(e.v, keyPath(path, e.key), &ce)
		default:
			l.other(e, path, nil)
		}
	}
	if tlsNode != nil {
		ce.tls = l.tlsConfig(tlsNode, tlsPath, &ce.settings.TLS)
	}
	if ce.tls == nil && ce.settings.TLS.NoHostnameVerification {
		ts := tlsSettings{NoHostnameVerification: true}
		ce.tls = buildTLS(nil, nil, ts)
	}
	if ce.tls != nil {
		if same := l.tlsBySettings[ce.settings.TLS]; same != nil {
			ce.tls = same
		} else {
			if l.tlsBySettings == nil {
				l.tlsBySettings = map[tlsSettings]*tls.Config{}
			}
			l.tlsBySettings[ce.settings.TLS] = ce.tls
		}
	}
	return ce
}

func (l *loader) connectionOptions(n *yaml.Node, path string, ce *connEntry) {
	s := &ce.settings
	var willTopicNode, willMsgNode *yaml.Node
	for _, e := range l.fields(n, path) {
		kp := keyPath(path, e.key)
		switch e.key {
		case "serverURIs":
			vals, nodes := l.strList(e.v, kp)
			for i, v := range vals {
				p := kp
				if yamlResolve(e.v).Kind == yaml.SequenceNode {
					p = keyIndex(kp, i)
				}
				if l.clusterFull || l.fileFull {
					break // already reported
				}
				us, err := ExpandURIs(v)
				if err != nil {
					l.fail(nodes[i], p, "%v", err)
					continue
				}
				if !l.addBrokers(nodes[i], p, us) {
					break
				}
				if len(us) > 0 {
					ce.hasURIs = true
				}
				ce.uris = append(ce.uris, us...)
			}
		case "userName":
			s.Username, _ = l.str(e.v, kp)
		case "password":
			if yamlResolve(e.v).ShortTag() == "!!binary" {
				s.Password, _ = l.binary(e.v, kp)
			} else {
				s.Password, _ = l.str(e.v, kp)
			}
		case "keepAliveInterval":
			if d, ok := l.durationUpTo(e.v, kp, time.Second, false, MaxKeepAlive, "MQTT's limit is 65535 seconds (18h12m15s)"); ok {
				if d == 0 {
					// As in Java's paho: no keep-alive.
					l.warn(e.v, "%s: 0 turns keep-alive off: a broker that dies silently is then noticed only by an overdue acknowledgement", kp)
					d = -1
				}
				s.KeepAlive = d
			}
		case "connectionTimeout":
			if d, ok := l.duration(e.v, kp, time.Second, false); ok {
				if d == 0 {
					l.warn(e.v, "%s: 0 (wait forever) is not supported: the default is used", kp)
				}
				s.ConnectTimeout = d
			}
		case "cleanStart", "cleanSession":
			if v, ok := l.boolean(e.v, kp); ok {
				s.CleanSession = v
			}
		case "httpsHostnameVerificationEnabled":
			if v, ok := l.boolean(e.v, kp); ok {
				s.TLS.NoHostnameVerification = !v
			}
		case "willDestination":
			if v, ok := l.str(e.v, kp); ok {
				s.WillTopic, s.HasWill, willTopicNode = v, true, e.v
			}
		case "willMessage":
			willMsgNode = e.v
			l.willMessage(e.v, kp, ce)
		case "mqttVersion":
			if v, ok := l.protocolVersion(e.v, kp); ok && v != 0 {
				s.MQTTVersion, ce.versionNode = v, e.v
			}
		case "sessionExpiryInterval":
			if d, ok := l.seconds32(e.v, kp); ok {
				ce.v5.MQTT5.SessionExpiry = d
				ce.addV5(kp, e.k, false)
				if d == 0 {
					ce.zeroExpiry = e.v
				}
			}
		case "receiveMaximum":
			if v, ok := l.integer(e.v, kp); ok {
				if v < 1 || v > 65535 {
					l.fail(e.v, kp, "%d: give a count between 1 and 65535 (MQTT's default, when left out)", v)
				} else {
					ce.v5.MQTT5.ReceiveMaximum = uint16(v)
					ce.addV5(kp, e.k, false)
				}
			}
		case "maximumPacketSize":
			if v, ok := l.integer(e.v, kp); ok {
				if v < 1 || v > 268435460 {
					l.fail(e.v, kp, "%d: give a size in bytes between 1 and 268435460 (MQTT's largest packet)", v)
				} else {
					ce.v5.MaxPacket, ce.maxPacketNode = v, e.v
					ce.addV5(kp, e.k, false)
				}
			}
		case "topicAliasMaximum":
			if v, ok := l.integer(e.v, kp); ok {
				if v < 0 || v > 65535 {
					l.fail(e.v, kp, "%d: give a count between 0 (no aliases, the default) and 65535", v)
				} else {
					ce.v5.MQTT5.TopicAliasMaximum = uint16(v)
					ce.addV5(kp, e.k, false)
				}
			}
		case "requestProblemInfo":
			if v, ok := l.boolean(e.v, kp); ok {
				ce.v5.MQTT5.NoProblemInfo = !v
				ce.addV5(kp, e.k, false)
			}
		case "requestResponseInfo":
			if v, ok := l.boolean(e.v, kp); ok {
				ce.v5.MQTT5.RequestResponseInfo = v
				ce.addV5(kp, e.k, false)
			}
		case "userProperties":
			if ups, ok := l.userProperties(e.v, kp); ok && len(ups) > 0 {
				ce.v5.MQTT5.User = ups
				ce.addV5(kp, e.k, false)
			}
		case "willMessageProperties":
			l.willProperties(e.v, kp, ce)
		case "sendReasonMessages":
			// Paho Java's option to put a Reason String into the acknowledgements and the
			// DISCONNECT it sends; false is what hamqtt does.
			if v, ok := l.boolean(e.v, kp); ok && v {
				l.warn(e.k, "key %s is ignored: hamqtt never sends a Reason String: the acknowledgements and DISCONNECT it sends carry a reason code only (what sendReasonMessages: false asks)", kp)
			}
		case "useSubscriptionIdentifiers":
			// Paho Java's option to number every subscription itself and route messages to
			// the listener of the identifier they carry; false is what hamqtt does.
			if v, ok := l.boolean(e.v, kp); ok && v {
				l.warn(e.k, "key %s is ignored: hamqtt numbers no subscription itself, it routes each message to the handlers whose topic filters match it; for Subscription Identifiers give one per subscription in code (Go: SubscribeOptions.ID)", kp)
			}
		case "authMethod", "authData":
			if !yamlEmpty(e.v) {
				l.fail(e.k, kp, "MQTT 5 enhanced authentication (an AUTH exchange) is not supported, and a broker may accept a CONNECT without it on other terms: remove authMethod and authData, and authenticate with userName and password or a TLS client certificate")
			}
		default:
			l.other(e, path, javaOnlyConnection)
		}
	}
	if s.HasWill {
		if err := ValidateTopic(s.WillTopic); err != nil {
			l.fail(willTopicNode, keyPath(path, "willDestination"), "%v", err)
		}
	} else if willMsgNode != nil && !yamlEmpty(willMsgNode) {
		l.fail(willMsgNode, keyPath(path, "willMessage"), "a will message needs a topic: add willDestination: TOPIC")
	}
}

func (l *loader) binary(n *yaml.Node, path string) (string, bool) {
	if !l.spend(n, 1+len(n.Value)) {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
	if err != nil {
		l.fail(n, path, "invalid !!binary value: %v", err)
		return "", false
	}
	return string(b), true
}

// willMessage reads padogrid's willMessage: a payload, or Paho's MqttMessage {payload, qos,
// retained} (default QoS 1, as Paho Java's MqttMessage).
func (l *loader) willMessage(n *yaml.Node, path string, ce *connEntry) {
	s := &ce.settings
	n = yamlResolve(n)
	s.WillQoS = 1
	if yamlNull(n) {
		return
	}
	readPayload := func(v *yaml.Node, p string) {
		if yamlResolve(v).ShortTag() == "!!binary" {
			s.WillPayload, _ = l.binary(yamlResolve(v), p)
		} else {
			s.WillPayload, _ = l.str(v, p)
		}
	}
	if n.Kind != yaml.MappingNode {
		readPayload(n, path)
		return
	}
	for _, e := range l.fields(n, path) {
		kp := keyPath(path, e.key)
		switch e.key {
		case "payload":
			readPayload(e.v, kp)
		case "qos":
			if q, ok := l.integer(e.v, kp); ok {
				if q < 0 || q > 2 {
					l.fail(e.v, kp, "QoS %d out of range: use 0, 1 or 2", q)
				} else {
					s.WillQoS = byte(q)
				}
			}
		case "retained":
			s.WillRetained, _ = l.boolean(e.v, kp)
		case "properties":
			l.willProperties(e.v, kp, ce)
		default:
			l.other(e, path, javaOnlyWillMessage)
		}
	}
}

// ---------------------------------------------------------------------------------------
// MQTT 5

func (ce *connEntry) addV5(path string, n *yaml.Node, will bool) {
	ce.v5Keys = append(ce.v5Keys, v5Key{path: path, node: n, will: will})
}

// protocolVersion reads protocolVersion or mqttVersion: 4 (or 3.1.1) for MQTT 3.1.1, 5 (or
// 5.0) for MQTT 5; 0 is Paho's "default" and means not given. MQTT 3.1 is refused.
func (l *loader) protocolVersion(n *yaml.Node, path string) (int, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return 0, false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "0":
		return 0, true
	case "4", "3.1.1":
		return MQTT311, true
	case "5", "5.0":
		return MQTT5, true
	case "3", "3.1":
		l.fail(n, path, "MQTT 3.1 (version 3) is not supported: use 4 (MQTT 3.1.1) or 5 (MQTT 5)")
	default:
		l.fail(n, path, "%q is not an MQTT version: use 4 (MQTT 3.1.1) or 5 (MQTT 5)", s)
	}
	return 0, false
}

// messageIDs reads messageIds: auto, always or never (any case).
func (l *loader) messageIDs(n *yaml.Node, path string) (MessageIDMode, bool) {
	return scalar(l, n, path, "a message id mode: use auto, always or never", func(s string) (MessageIDMode, bool) {
		switch strings.ToLower(s) {
		case "auto":
			return MessageIDsAuto, true
		case "always":
			return MessageIDsAlways, true
		case "never":
			return MessageIDsNever, true
		}
		return 0, false
	})
}

// seconds32 reads an MQTT 5 interval: a whole number of seconds from 0 to 4294967295, or a
// duration with a unit that is a whole number of seconds.
func (l *loader) seconds32(n *yaml.Node, path string) (time.Duration, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return 0, false
	}
	s = strings.TrimSpace(s)
	if wholeNumberRE.MatchString(s) {
		v, err := strconv.ParseInt(s, 10, 64)
		switch {
		case strings.HasPrefix(s, "-"):
			l.fail(n, path, "%s is negative: give a number of seconds from 0 to 4294967295", s)
			return 0, false
		case err != nil || v > math.MaxUint32:
			l.fail(n, path, "%s seconds is out of range: MQTT's limit is 4294967295 seconds", s)
			return 0, false
		}
		return time.Duration(v) * time.Second, true
	}
	d, ok := l.durationUpTo(n, path, time.Second, false, math.MaxUint32*time.Second, "MQTT's limit is 4294967295 seconds")
	if ok && d%time.Second != 0 {
		l.fail(n, path, "%s is not a whole number of seconds: MQTT counts this interval in seconds", s)
		return 0, false
	}
	return d, ok
}

// userProperties reads MQTT 5 user properties: a mapping {name: value}, or a list of
// {key, value} (padogrid's form; name is read as key), which may repeat a name. ok is false
// after an error.
func (l *loader) userProperties(n *yaml.Node, path string) (out []UserProperty, ok bool) {
	n = yamlResolve(n)
	if yamlEmpty(n) {
		return nil, true
	}
	ok = true
	add := func(at *yaml.Node, p, k, v string) {
		for _, f := range []struct{ what, s string }{{"user property name", k}, {"user property value", v}} {
			if len(f.s) > maxStringField {
				l.fail(at, p, "%s of %d bytes exceeds MQTT's limit of %d", f.what, len(f.s), maxStringField)
				ok = false
				return
			}
			if err := ValidateMQTTString(f.what, f.s); err != nil {
				l.fail(at, p, "%v", err)
				ok = false
				return
			}
		}
		out = append(out, UserProperty{Key: k, Value: v})
	}
	noValue := func(at *yaml.Node, p string) {
		l.fail(at, p, "a user property needs a value: write \"\" for an empty one")
		ok = false
	}
	switch n.Kind {
	case yaml.MappingNode:
		for _, e := range l.fields(n, path) {
			kp := keyPath(path, e.key)
			if yamlNull(e.v) {
				noValue(e.k, kp)
				continue
			}
			if v, set := l.str(e.v, kp); set {
				add(e.v, kp, e.key, v)
			} else {
				ok = false
			}
		}
	case yaml.SequenceNode:
		for i, it := range l.items(n, path) {
			p := keyIndex(path, i)
			var k, v string
			var keyNode, valNode *yaml.Node
			for _, e := range l.fields(it, p) {
				switch e.key {
				case "key", "name":
					if keyNode != nil {
						l.fail(e.k, keyPath(p, e.key), "the name is already given on line %d: keep one of key and name", keyNode.Line)
						ok = false
						continue
					}
					keyNode = e.k
					k, _ = l.str(e.v, keyPath(p, e.key))
				case "value":
					valNode = e.v
					v, _ = l.str(e.v, keyPath(p, e.key))
				default:
					l.other(e, p, nil)
				}
			}
			switch {
			case keyNode == nil:
				l.fail(it, p, "a user property needs a name: write - key: NAME (and value: VALUE)")
				ok = false
			case valNode == nil || yamlNull(valNode):
				noValue(it, keyPath(p, "value"))
			default:
				add(it, p, k, v)
			}
		}
	default:
		l.fail(n, path, "expected user properties, a mapping (name: value) or a list of {key, value}; found %s", yamlDescribe(n))
		return nil, false
	}
	return out, ok
}

// notWillProperties are the keys of Paho Java's MqttProperties (padogrid's
// willMessageProperties) that a will message cannot carry; a hint names where a connection
// option goes instead.
var notWillProperties = map[string]string{
	"assignedClientIdentifier": "", "authenticationData": "", "authenticationMethod": "",
	"maximumQoS": "", "publishSubscriptionIdentifiers": "", "reasonString": "", "responseInfo": "",
	"retainAvailable": "", "serverKeepAlive": "", "serverReference": "",
	"sharedSubscriptionAvailable": "", "subscribeSubscriptionIdentifier": "",
	"subscriptionIdentifiersAvailable": "", "topicAlias": "", "validProperties": "",
	"wildcardSubscriptionsAvailable": "",
	"maximumPacketSize":              "connection.maximumPacketSize",
	"receiveMaximum":                 "connection.receiveMaximum",
	"requestProblemInfo":             "connection.requestProblemInfo",
	"requestResponseInfo":            "connection.requestResponseInfo",
	"sessionExpiryInterval":          "connection.sessionExpiryInterval",
	"topicAliasMaximum":              "connection.topicAliasMaximum",
}

// willPropertyKeys are the keys willProperties reads.
var willPropertyKeys = map[string]bool{
	"payloadFormat": true, "payloadFormatIndicator": true, "messageExpiryInterval": true, "contentType": true,
	"responseTopic": true, "correlationData": true, "userProperties": true, "willDelayInterval": true,
}

// willProperties reads the properties of the will message (willMessageProperties, or
// willMessage.properties): payloadFormat (or payloadFormatIndicator), messageExpiryInterval,
// contentType, responseTopic, correlationData, userProperties and willDelayInterval.
func (l *loader) willProperties(n *yaml.Node, path string, ce *connEntry) {
	if yamlEmpty(n) {
		return
	}
	p := &ce.v5.Will
	var given []v5Key
	var formatKey string
	for _, e := range l.fields(n, path) {
		kp := keyPath(path, e.key)
		if _, notWill := notWillProperties[e.key]; yamlEmpty(e.v) && (notWill || willPropertyKeys[e.key]) {
			continue // padogrid's template: null, [] or {}
		}
		switch e.key {
		case "payloadFormat", "payloadFormatIndicator":
			if formatKey != "" {
				l.fail(e.k, kp, "the payload format is already given by %s: keep one", formatKey)
				continue
			}
			formatKey = e.key
			v, ok := scalar(l, e.v, kp, "a payload format: use true or 1 (UTF-8 text), false or 0 (bytes, the default)", func(s string) (byte, bool) {
				switch strings.ToLower(s) {
				case "true", "1":
					return 1, true
				case "false", "0":
					return 0, true
				}
				return 0, false
			})
			if ok && v == 1 { // 0 is what a will without the property means
				one := byte(1)
				p.PayloadFormat = &one
				given = append(given, v5Key{kp, e.k, true})
			}
		case "messageExpiryInterval":
			if d, ok := l.seconds32(e.v, kp); ok && d > 0 { // 0: never expires, as without it
				v := uint32(d / time.Second)
				p.MessageExpiry = &v
				given = append(given, v5Key{kp, e.k, true})
			}
		case "contentType":
			if v, ok := l.str(e.v, kp); ok {
				if err := ValidateMQTTString("content type", v); err != nil {
					l.fail(e.v, kp, "%v", err)
					continue
				}
				p.ContentType = v
				given = append(given, v5Key{kp, e.k, true})
			}
		case "responseTopic":
			if v, ok := l.str(e.v, kp); ok {
				if err := ValidateTopic(v); err != nil {
					l.fail(e.v, kp, "%v", err)
					continue
				}
				p.ResponseTopic = v
				given = append(given, v5Key{kp, e.k, true})
			}
		case "correlationData":
			var v string
			var ok bool
			if yamlResolve(e.v).ShortTag() == "!!binary" {
				v, ok = l.binary(yamlResolve(e.v), kp)
			} else {
				v, ok = l.str(e.v, kp)
			}
			if ok {
				if len(v) > maxStringField {
					l.fail(e.v, kp, "%d bytes exceed MQTT's limit of %d", len(v), maxStringField)
					continue
				}
				p.CorrelationData = []byte(v)
				given = append(given, v5Key{kp, e.k, true})
			}
		case "userProperties":
			if ups, ok := l.userProperties(e.v, kp); ok && len(ups) > 0 {
				for _, u := range ups {
					if strings.HasPrefix(u.Key, stampPrefix) {
						l.fail(e.v, kp, "user property %q: names starting with %q are hamqtt's own", u.Key, stampPrefix)
						ok = false
					}
				}
				if ok {
					p.User = ups
					given = append(given, v5Key{kp, e.k, true})
				}
			}
		case "willDelayInterval":
			if d, ok := l.seconds32(e.v, kp); ok && d > 0 {
				ce.v5.WillDelay = d
				given = append(given, v5Key{kp, e.k, true})
			}
		default:
			hint, known := notWillProperties[e.key]
			switch {
			case known && hint != "":
				l.warn(e.k, "key %s is ignored: not a will property but a connection option: set %s instead", kp, hint)
			case known:
				l.warn(e.k, "key %s is ignored: not a will property (a will carries payloadFormat, messageExpiryInterval, contentType, responseTopic, correlationData, userProperties and willDelayInterval)", kp)
			default:
				l.other(e, path, nil)
			}
		}
	}
	if len(given) == 0 {
		return
	}
	if ce.willProps != "" {
		l.fail(n, path, "the will properties are already given by %s (line %d): keep one of willMessageProperties and willMessage.properties", ce.willProps, ce.willPropsLine)
		return
	}
	ce.willProps, ce.willPropsLine = path, n.Line
	ce.v5Keys = append(ce.v5Keys, given...)
}

// applyMQTT5 applies the MQTT 5 options of a cluster's connections entry ce to cfg, whose
// protocol version and will are set: under MQTT 3.1.1 each option given is a warning, as is a
// will property without a will.
func (l *loader) applyMQTT5(cfg *Config, path string, ce connEntry, maxInNode *yaml.Node) {
	will := cfg.Connection.Will
	v5 := cfg.Connection.ProtocolVersion == MQTT5
	fix := "set protocolVersion: 5 (on the cluster or at the top level)"
	if ce.versionNode != nil {
		fix = fmt.Sprintf("set mqttVersion: 5 (line %d)", ce.versionNode.Line)
	}
	for _, k := range ce.v5Keys {
		switch {
		case k.will && will == nil:
			l.warn(k.node, "key %s is ignored: the connection has no will message: add willDestination (and willMessage)", k.path)
		case !v5:
			l.warn(k.node, "key %s is ignored: it is an MQTT 5 option and cluster %q speaks MQTT 3.1.1: %s to use it", k.path, cfg.Name, fix)
		}
	}
	if !v5 {
		return
	}
	v := ce.v5
	cfg.Connection.MQTT5 = v.MQTT5
	if v.MaxPacket != 0 {
		if maxInNode != nil && cfg.MaxIncomingPacket != v.MaxPacket {
			l.fail(ce.maxPacketNode, keyPath(path, "connections[0].connection.maximumPacketSize"),
				"%d contradicts %s.maxIncomingPacket %d (line %d): both set the largest packet a broker may send: keep one", v.MaxPacket, path, cfg.MaxIncomingPacket, maxInNode.Line)
		}
		cfg.MaxIncomingPacket = v.MaxPacket
	}
	if ce.zeroExpiry != nil && cfg.Connection.PersistentSession {
		l.warn(ce.zeroExpiry, "%s.connections[0].connection.sessionExpiryInterval: 0 with cleanStart: false is read as no expiry (brokers keep the session until the client comes back, as under MQTT 3.1.1): give the seconds a broker should keep it", path)
	}
	if will == nil {
		return
	}
	if !v.Will.empty() {
		will.Properties = v.Will.Clone()
		if pf := will.Properties.PayloadFormat; pf != nil && *pf == 1 && !utf8.Valid(will.Payload) {
			l.fail(&yaml.Node{Line: ce.willPropsLine}, keyPath(ce.willProps, "payloadFormat"), "the will payload is not UTF-8 text, which payload format 1 says it is: remove payloadFormat or fix the payload")
		}
	}
	will.Delay = v.WillDelay
}

// tlsConfig translates connections[].tls. It returns nil when the entry sets no file and no
// verification option (padogrid's template entry), as padogrid ignores such an entry.
func (l *loader) tlsConfig(n *yaml.Node, path string, ts *tlsSettings) *tls.Config {
	nodes := map[string]*yaml.Node{}
	for _, e := range l.fields(n, path) {
		kp := keyPath(path, e.key)
		switch e.key {
		case "tlsVersion":
			ts.Version, _ = l.str(e.v, kp)
		case "cafile":
			ts.CAFile, _ = l.str(e.v, kp)
		case "certfile":
			ts.CertFile, _ = l.str(e.v, kp)
		case "keyfile":
			ts.KeyFile, _ = l.str(e.v, kp)
		case "password":
			ts.Password, _ = l.str(e.v, kp)
		case "insecureSkipVerify":
			ts.InsecureSkipVerify, _ = l.boolean(e.v, kp)
		default:
			l.other(e, path, nil)
			continue
		}
		nodes[e.key] = e.v
	}
	version := uint16(0)
	if ts.Version != "" {
		switch strings.ToUpper(strings.TrimSpace(ts.Version)) {
		case "TLSV1", "TLSV1.0":
			version = tls.VersionTLS10
		case "TLSV1.1":
			version = tls.VersionTLS11
		case "TLSV1.2", "TLS":
			version = tls.VersionTLS12
		case "TLSV1.3":
			version = tls.VersionTLS13
		default:
			l.fail(nodes["tlsVersion"], keyPath(path, "tlsVersion"), "%q is not a TLS version: use TLSv1.2 or TLSv1.3", ts.Version)
		}
	}
	if ts.CAFile == "" && ts.CertFile == "" && ts.KeyFile == "" && !ts.InsecureSkipVerify {
		return nil
	}
	var roots *x509.CertPool
	if ts.CAFile != "" {
		pemData, err := ReadUserFile(ts.CAFile, "CA file", MaxPEMFileSize)
		switch {
		case err != nil:
			l.fail(nodes["cafile"], keyPath(path, "cafile"), "%v%s", err, pathHint(err, ": fix the path (relative paths are relative to the working directory)"))
		default:
			roots = x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pemData) {
				l.fail(nodes["cafile"], keyPath(path, "cafile"), "%s holds no PEM certificate: give a file with -----BEGIN CERTIFICATE----- blocks", ts.CAFile)
			}
		}
	}
	var certs []tls.Certificate
	switch {
	case ts.CertFile != "" && ts.KeyFile == "":
		l.fail(nodes["certfile"], keyPath(path, "keyfile"), "missing: a client certificate needs its private key file")
	case ts.CertFile == "" && ts.KeyFile != "":
		l.fail(nodes["keyfile"], keyPath(path, "certfile"), "missing: a private key needs its client certificate file")
	case ts.CertFile != "":
		certPEM, err := ReadUserFile(ts.CertFile, "certificate file", MaxPEMFileSize)
		if err != nil {
			l.fail(nodes["certfile"], keyPath(path, "certfile"), "%v%s", err, pathHint(err, ": fix the path"))
			break
		}
		keyPEM, err := ReadUserFile(ts.KeyFile, "key file", MaxPEMFileSize)
		if err != nil {
			l.fail(nodes["keyfile"], keyPath(path, "keyfile"), "%v%s", err, pathHint(err, ": fix the path"))
			break
		}
		if encryptedPEM(keyPEM) {
			l.fail(nodes["keyfile"], keyPath(path, "keyfile"), "%s is an encrypted private key, which hamqtt cannot read: decrypt it (openssl pkey -in %s -out key.pem) and protect the file instead", ts.KeyFile, ts.KeyFile)
			break
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			l.fail(nodes["certfile"], keyPath(path, "certfile"), "certificate %s and key %s do not form a key pair: %v", ts.CertFile, ts.KeyFile, err)
			break
		}
		certs = []tls.Certificate{cert}
	}
	cfg := buildTLS(roots, certs, *ts)
	cfg.MinVersion = version // 0: Go's default (TLS 1.2)
	return cfg
}

// pathHint is hint for an error of ReadUserFile that comes from opening the file; its errors
// about the file's type and size say what to do themselves.
func pathHint(err error, hint string) string {
	if errors.Is(err, ErrNotRegularFile) || errors.Is(err, ErrFileTooLarge) {
		return ""
	}
	return hint
}

func encryptedPEM(data []byte) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return true
		}
	}
}

// buildTLS makes the client TLS configuration. Without hostname verification the chain is
// still verified against roots (nil: the system pool).
func buildTLS(roots *x509.CertPool, certs []tls.Certificate, ts tlsSettings) *tls.Config {
	cfg := &tls.Config{RootCAs: roots, Certificates: certs}
	switch {
	case ts.InsecureSkipVerify:
		cfg.InsecureSkipVerify = true
	case ts.NoHostnameVerification:
		cfg.InsecureSkipVerify = true // replaced by VerifyConnection below
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: the broker sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return cfg
}

// anySecure reports whether one of the endpoints speaks TLS.
func anySecure(eps []EndpointConfig) bool {
	for _, ec := range eps {
		if u, err := parseBrokerURI(ec.URI); err == nil && u.secure() {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------------------
// Outbox

// outboxSpec is what the outbox keys of one level say; a cluster starts from a copy of the
// top level's and overrides the keys it sets.
type outboxSpec struct {
	enabled *bool  // nil: not said
	dir     string // "" : not said
	// dirIsParent: the dir came from the top level, so a cluster's directory is dir/<cluster>.
	dirIsParent bool
	dirKey      string // the key path of dir, for errors
	dirLine     int
	cfg         OutboxConfig // the limits and policies (Dir unused)
	// own holds the keys the cluster's own outbox mapping set (nil at the top level), for
	// warnings about keys that have no effect there.
	own map[string]*yaml.Node
}

func (s outboxSpec) clone() outboxSpec {
	if s.own != nil {
		own := make(map[string]*yaml.Node, len(s.own))
		for k, v := range s.own {
			own[k] = v
		}
		s.own = own
	}
	return s
}

// outboxUse is one directory a cluster's outbox uses.
type outboxUse struct {
	cluster string
	dir     string // absolute
	key     string // where the directory comes from
	line    int
	stores  []string // the absolute directories of the cluster's paho file stores
}

// outbox reads an outbox mapping into spec: enabled, dir (or path, padogrid's name for a
// directory), maxMessages, maxBytes, overflow, sync, syncInterval, qos0 and expiry.
func (l *loader) outbox(n *yaml.Node, path string, spec *outboxSpec, top bool) {
	if !top && spec.own == nil {
		spec.own = map[string]*yaml.Node{}
	}
	var dirNode *yaml.Node
	var dirKey string
	for _, e := range l.fields(n, path) {
		kp := keyPath(path, e.key)
		known := true
		switch e.key {
		case "enabled":
			if v, ok := l.boolean(e.v, kp); ok {
				spec.enabled = &v
			}
		case "dir", "path":
			if dirNode != nil {
				l.fail(e.k, kp, "the directory is already given by %s (line %d): keep one of dir and path", keyPath(path, dirKey), dirNode.Line)
				continue
			}
			dirNode, dirKey = e.v, e.key
			if v, ok := l.str(e.v, kp); ok {
				v = strings.TrimSpace(v)
				switch {
				case v == "":
					l.fail(e.v, kp, "empty directory: give a directory for a disk outbox, or leave %s out for a memory outbox (enabled: true)", e.key)
				case strings.ContainsRune(v, 0):
					l.fail(e.v, kp, "the directory holds a NUL byte: give a directory path")
				default:
					spec.dir, spec.dirIsParent, spec.dirKey, spec.dirLine = filepath.Clean(v), top, kp, e.v.Line
				}
			}
		case "maxMessages":
			if v, ok := l.integer(e.v, kp); ok {
				if v < -1 {
					l.fail(e.v, kp, "%d: give a positive count, -1 for no bound, or 0 (or nothing) for the default 100000", v)
				} else {
					spec.cfg.MaxMessages = v
				}
			}
		case "maxBytes":
			if v, ok := l.byteCount(e.v, kp); ok {
				if v < -1 {
					l.fail(e.v, kp, "%d: give a positive size such as 64MiB, -1 for no bound, or 0 (or nothing) for the default 64MiB", v)
				} else {
					spec.cfg.MaxBytes = v
				}
			}
		case "overflow":
			if v, ok := l.str(e.v, kp); ok {
				if p, err := ParseOverflowPolicy(v); err != nil || strings.TrimSpace(v) == "" {
					l.fail(e.v, kp, "%q is not an overflow policy: use refuse, block or drop-oldest", v)
				} else {
					spec.cfg.Overflow = p
				}
			}
		case "sync":
			if v, ok := l.str(e.v, kp); ok {
				if p, err := ParseSyncPolicy(v); err != nil || strings.TrimSpace(v) == "" {
					l.fail(e.v, kp, "%q is not a sync policy: use always, interval or never", v)
				} else {
					spec.cfg.Sync = p
				}
			}
		case "syncInterval":
			if d, ok := l.duration(e.v, kp, time.Millisecond, false); ok {
				spec.cfg.SyncInterval = d
			}
		case "qos0":
			if v, ok := l.boolean(e.v, kp); ok {
				spec.cfg.QoS0 = v
			}
		case "expiry":
			if d, ok := l.duration(e.v, kp, time.Millisecond, false); ok {
				spec.cfg.Expiry = d
			}
		default:
			known = false
			l.other(e, path, nil)
		}
		if known && spec.own != nil {
			spec.own[e.key] = e.k
		}
	}
}

// byteSizeRE matches a size: a whole number and an optional unit.
var byteSizeRE = regexp.MustCompile(`^([-+]?\d+)\s*([A-Za-z]*)$`)

var byteUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// byteCount reads a size in bytes: a whole number, or one with a unit (B, KB, MB, GB in
// powers of 1000; KiB, MiB, GiB in powers of 1024; any case).
func (l *loader) byteCount(n *yaml.Node, path string) (int64, bool) {
	s, ok := l.str(n, path)
	if !ok {
		return 0, false
	}
	s = strings.TrimSpace(s)
	m := byteSizeRE.FindStringSubmatch(s)
	if m == nil {
		l.fail(n, path, "%q is not a size: give a number of bytes, or one with a unit such as 512KiB, 64MiB or 1GB", s)
		return 0, false
	}
	mult, known := byteUnits[strings.ToLower(m[2])]
	if !known {
		l.fail(n, path, "%q: unknown unit %q: use B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024)", s, m[2])
		return 0, false
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || v > (1<<62)/mult || v < -(1<<62)/mult {
		l.fail(n, path, "%q is out of range", s)
		return 0, false
	}
	return v * mult, true
}

// clusterOutbox resolves a cluster's outbox: off with enabled: false; on with enabled: true,
// a directory, or a file persistence. Its directory is the cluster's own dir, the top level's
// dir/<cluster>, else <persistence path>/<cluster>/outbox; without any, it is in memory.
func (l *loader) clusterOutbox(n *yaml.Node, path string, cfg Config, set ClusterSettings, spec outboxSpec, per persistSpec) *OutboxConfig {
	var tuned []string // the cluster's own keys beyond enabled
	for k := range spec.own {
		if k != "enabled" {
			tuned = append(tuned, k)
		}
	}
	slices.Sort(tuned)
	warnAt := func() *yaml.Node {
		var first *yaml.Node
		for _, k := range tuned {
			if nd := spec.own[k]; first == nil || nd.Line < first.Line {
				first = nd
			}
		}
		return first
	}
	if spec.enabled != nil && !*spec.enabled {
		if len(tuned) > 0 {
			l.warn(warnAt(), "%s.outbox: enabled is false, so %s %s no effect", path, strings.Join(tuned, ", "), plural2(len(tuned), "has", "have"))
		}
		return nil
	}
	oc, fromName := spec.resolve(cfg.Name, per)
	if oc == nil {
		if len(tuned) > 0 {
			l.warn(warnAt(), "%s.outbox: the cluster has no outbox (add enabled: true for one in memory, or dir: DIR for one on disk), so %s %s no effect", path, strings.Join(tuned, ", "), plural2(len(tuned), "has", "have"))
		}
		return nil
	}
	key, line := spec.dirKey, spec.dirLine
	if fromName && spec.dir == "" {
		key, line = per.key, per.line
	}
	if fromName && !dirElement(cfg.Name) {
		l.fail(n, keyPath(path, "name"), "cluster name %q cannot be a directory name, and %s (line %d) puts the cluster's outbox in a directory named after it: rename the cluster (no /, no . or ..), or give the cluster its own outbox.dir", cfg.Name, key, line)
		return nil
	}
	if oc.Dir == "" {
		for _, k := range []string{"sync", "syncInterval"} {
			if nd := spec.own[k]; nd != nil {
				l.warn(nd, "%s.outbox.%s has no effect on a memory outbox (give dir: DIR for a disk outbox)", path, k)
			}
		}
	} else if nd := spec.own["syncInterval"]; nd != nil && oc.Sync != SyncInterval {
		l.warn(nd, "%s.outbox.syncInterval only matters with sync: interval (this outbox syncs %v)", path, oc.Sync)
	}
	if oc.Dir != "" && set.Enabled {
		abs, err := filepath.Abs(oc.Dir)
		if err != nil {
			abs = filepath.Clean(oc.Dir)
		}
		use := outboxUse{cluster: cfg.Name, dir: abs, key: key, line: line}
		if cfg.Connection.FileStoreDir != "" {
			for i, ep := range cfg.Endpoints {
				name := ep.Name
				if name == "" {
					name = fmt.Sprintf("%s-%d", cfg.Name, i+1)
				}
				if d, err := filepath.Abs(filepath.Join(cfg.Connection.FileStoreDir, name)); err == nil {
					use.stores = append(use.stores, d)
				}
			}
		}
		l.outboxDirs = append(l.outboxDirs, use)
	}
	return oc
}

// resolve is the outbox of the cluster name under the file persistence per (nil: none), and
// whether its directory is named after the cluster. It assumes enabled is not false.
func (s outboxSpec) resolve(name string, per persistSpec) (oc *OutboxConfig, fromName bool) {
	c := s.cfg
	switch {
	case s.dir != "" && s.dirIsParent:
		c.Dir, fromName = filepath.Join(s.dir, name), true
	case s.dir != "":
		c.Dir = s.dir
	case per.file:
		c.Dir, fromName = filepath.Join(per.dir, name, "outbox"), true
	case s.enabled == nil:
		return nil, false
	}
	return &c, fromName
}

// forNewCluster is the outbox of a cluster that Clusters.GetOrCreate creates: the top-level
// outbox key and the top-level persistence directory (persistDir, "" for memory) decide.
func (s outboxSpec) forNewCluster(name, persistDir string) (*OutboxConfig, error) {
	if s.enabled != nil && !*s.enabled {
		return nil, nil
	}
	oc, fromName := s.resolve(name, persistSpec{file: persistDir != "", dir: persistDir})
	if oc != nil && fromName && !dirElement(name) {
		return nil, fmt.Errorf("cluster name %q cannot be a directory name, and the configuration puts each cluster's outbox in a directory named after it: choose a name without /, . or ..", name)
	}
	return oc, nil
}

// dirElement reports whether name can be one element of a path.
func dirElement(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}

// checkOutboxDirs refuses an outbox directory that two enabled clusters would use, or that is
// also where paho keeps an endpoint's in-flight messages (an endpoint named "outbox" under a
// file persistence): a directory has one owner, and the second cluster would fail to start.
func (l *loader) checkOutboxDirs() {
	owners := map[string]outboxUse{}
	for _, u := range l.outboxDirs {
		if o, dup := owners[u.dir]; dup {
			l.fail(&yaml.Node{Line: u.line}, u.key, "cluster %q would put its outbox in %s, the outbox of cluster %q (%s, line %d): an outbox has one owner: give each cluster its own directory", u.cluster, u.dir, o.cluster, o.key, o.line)
			continue
		}
		owners[u.dir] = u
	}
	for _, u := range l.outboxDirs {
		for _, d := range u.stores {
			if o, clash := owners[d]; clash {
				l.fail(&yaml.Node{Line: o.line}, o.key, "cluster %q would put its outbox in %s, where cluster %q keeps an endpoint's in-flight messages (file persistence): rename that endpoint, or give the outbox another dir", o.cluster, d, u.cluster)
			}
		}
	}
}

func plural2(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
