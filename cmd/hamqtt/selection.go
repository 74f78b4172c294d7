package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hamqtt/hamqtt/core"
)

// adHocClusterName names the cluster built from -endpoints unless -cluster names it.
const adHocClusterName = core.DefaultClusterName

// clusterFlags are the flags that choose and tune the virtual cluster a command works on.
type clusterFlags struct {
	configPath  string
	clusterName string
	endpoints   string
	fos         int
	clientID    string
	username    string
	password    string
	timeout     time.Duration
	version     string // -V: the MQTT version, overriding the config's
	verbose     bool
	quiet       bool // set by the command's own -quiet: log errors only
	withOutbox  bool // the command publishes: open the selected cluster's outbox, if it has one

	file *core.FileConfig // the configuration file the cluster came from, if any
}

const clusterFlagsHelp = `Choosing the cluster:
  -config FILE            clusters come from FILE; -cluster picks one (default: the file's defaultCluster)
  -cluster NAME           without -config: NAME in $HAMQTT_CONFIG; with -endpoints: the name of that cluster
  -endpoints LIST         comma-separated broker URIs with ranges, e.g. tcp://127.0.0.1:1883-1885 or
                          tcp://10.0.0.5-7:1883; NAME=URI names an endpoint (a=tcp://h:1883,b=tcp://h:1884)
  nothing                 $HAMQTT_CONFIG's default cluster, else cluster-default on ` + core.DefaultServerURIs

func (cf *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&cf.configPath, "config", "", "YAML config `file` defining the virtual clusters (padogrid mqttv5-client.yaml format)")
	fs.StringVar(&cf.clusterName, "cluster", "", "cluster `name`: from -config (or $HAMQTT_CONFIG), or the name given to -endpoints")
	fs.StringVar(&cf.endpoints, "endpoints", "", "comma-separated broker `URIs` with ranges, e.g. tcp://127.0.0.1:1883-1885 (not with -config)")
	fs.IntVar(&cf.fos, "fos", 0, "failover service `level` 0-3 (overrides the config; 0: every live endpoint subscribes)")
	fs.StringVar(&cf.clientID, "client-id", "", "MQTT client `id` shared by all endpoints (default: generated)")
	fs.StringVar(&cf.username, "username", "", "MQTT user `name` (overrides the config)")
	fs.StringVar(&cf.password, "password", "", "MQTT `password` (overrides the config)")
	fs.DurationVar(&cf.timeout, "timeout", 0, "how long to wait for a live endpoint and for each acknowledgement (default: the config's timeToWait, 10s)")
	fs.StringVar(&cf.version, "V", "", "MQTT `version`: mqttv5 (or 5) or mqttv311 (or 311, 4); overrides the config's protocolVersion (default: the config's, else 3.1.1)")
	fs.BoolVar(&cf.verbose, "v", false, "log endpoint changes and failovers to stderr (sub: and print each message's MQTT 5 properties)")
}

// resolve returns the configuration of the cluster the flags select, and warnings to print.
func (cf *clusterFlags) resolve(fs *flag.FlagSet, logTo io.Writer) (core.Config, []string, error) {
	var cfg core.Config
	var warnings []string
	switch {
	case cf.endpoints != "" && cf.configPath != "":
		return cfg, nil, usagef(fs, "-endpoints and -config exclude each other: give the brokers either in the config file or on the command line")
	case cf.endpoints != "":
		eps, err := parseEndpointList(cf.endpoints)
		if err != nil {
			return cfg, nil, usagef(fs, "-endpoints: %v", err)
		}
		cfg = core.Config{Name: cf.clusterName, Endpoints: eps}
		if cfg.Name == "" {
			cfg.Name = adHocClusterName
		}
	default:
		set, err := loadClusterConfigs(cf.configPath)
		if err != nil {
			return cfg, nil, err
		}
		warnings = set.warnings
		cf.file = set.file
		if cfg, err = set.pick(cf.clusterName); err != nil {
			return cfg, warnings, err
		}
	}
	if err := cf.apply(fs, &cfg, logTo); err != nil {
		return cfg, warnings, err
	}
	return cfg, warnings, nil
}

// apply puts the command-line overrides into cfg.
func (cf *clusterFlags) apply(fs *flag.FlagSet, cfg *core.Config, logTo io.Writer) error {
	if flagWasSet(fs, "fos") {
		if cf.fos < 0 || cf.fos > 3 {
			return usagef(fs, "-fos %d: use 0, 1, 2 or 3", cf.fos)
		}
		cfg.FoS = cf.fos
	}
	if cf.timeout < 0 {
		return usagef(fs, "-timeout %v: must be positive, e.g. -timeout 5s", cf.timeout)
	}
	if cf.timeout > 0 {
		cfg.TimeToWait = cf.timeout
	}
	if cf.clientID != "" {
		cfg.Connection.ClientID = cf.clientID
	}
	if cf.username != "" {
		cfg.Connection.Username = cf.username
	}
	if cf.password != "" {
		cfg.Connection.Password = cf.password
	}
	if flagWasSet(fs, "V") {
		v, err := parseProtocolVersion(cf.version)
		if err != nil {
			return usagef(fs, "-V %s: %v", cf.version, err)
		}
		if v == core.MQTT5 && cfg.Connection.FileStoreDir != "" {
			return fmt.Errorf("-V 5: cluster %q keeps its in-flight messages in a file store (%s), which is MQTT 3.1.1's: set protocolVersion: 5 in the config file instead, where the same persistence becomes the cluster's disk outbox", cfg.Name, cfg.Connection.FileStoreDir)
		}
		cfg.Connection.ProtocolVersion = v
	}
	level := slog.LevelWarn
	switch {
	case cf.verbose:
		level = slog.LevelInfo
	case cf.quiet:
		level = slog.LevelError
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: level}))
	return nil
}

// parseProtocolVersion parses -V as mosquitto_pub and mosquitto_sub take it.
func parseProtocolVersion(s string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "mqttv5", "5":
		return core.MQTT5, nil
	case "mqttv311", "311", "4":
		return core.MQTT311, nil
	case "mqttv31", "31", "3":
		return 0, errors.New("MQTT 3.1 is not supported: use mqttv311 (MQTT 3.1.1) or mqttv5 (MQTT 5)")
	}
	return 0, errors.New("use mqttv5 (or 5) for MQTT 5, mqttv311 (or 311, 4) for MQTT 3.1.1")
}

// protocolName is a cluster's MQTT version as messages name it.
func protocolName(v int) string {
	if v == core.MQTT5 {
		return "MQTT 5"
	}
	return "MQTT 3.1.1"
}

// cliLogger logs the cluster's warnings (an endpoint going down) to w, and with verbose its
// informational records as well.
func cliLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// parseEndpointList parses -endpoints: comma-separated URIs with ranges, each optionally
// prefixed by NAME= (then it must name exactly one broker).
func parseEndpointList(list string) ([]core.EndpointConfig, error) {
	var eps []core.EndpointConfig
	seen := map[string]bool{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name := ""
		if n, uri, ok := strings.Cut(item, "="); ok && n != "" && !strings.ContainsAny(n, ":/[") {
			name, item = n, uri
		}
		uris, err := core.ExpandURIs(item)
		if err != nil {
			return nil, err
		}
		if name != "" && len(uris) != 1 {
			return nil, fmt.Errorf("%s=%s names %d brokers: a named endpoint must be exactly one broker", name, item, len(uris))
		}
		for _, u := range uris {
			if seen[u] {
				continue
			}
			seen[u] = true
			eps = append(eps, core.EndpointConfig{Name: name, URI: u})
		}
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("no broker URI in %q: give e.g. tcp://127.0.0.1:1883-1885", list)
	}
	return eps, nil
}

// clusterSet is a loaded config: its enabled clusters, the name of its default cluster and
// the warnings loading produced.
type clusterSet struct {
	source      string // file name, for messages
	file        *core.FileConfig
	clusters    []core.Config
	disabled    []string
	defaultName string
	warnings    []string
}

func (s *clusterSet) names() string {
	var names []string
	for _, c := range s.clusters {
		names = append(names, c.Name)
	}
	return listOrNone(names)
}

// pick returns the named cluster, or the default one for "".
func (s *clusterSet) pick(name string) (core.Config, error) {
	want := name
	if want == "" {
		want = s.defaultName
	}
	if i := slices.IndexFunc(s.clusters, func(c core.Config) bool { return c.Name == want }); i >= 0 {
		return s.clusters[i], nil
	}
	if slices.Contains(s.disabled, want) {
		return core.Config{}, fmt.Errorf("cluster %q is disabled in %s (enabled: false): enable it or choose another with -cluster", want, s.source)
	}
	if name == "" {
		// As padogrid and core.Clusters.Default do: an undefined default cluster is created
		// on the default brokers (the loader already warned about it).
		eps, err := parseEndpointList(core.DefaultServerURIs)
		if err != nil {
			return core.Config{}, err
		}
		return core.Config{Name: want, Endpoints: eps, ProbeDelay: s.file.ProbeDelay, MaxProbeDelay: s.file.MaxProbeDelay}, nil
	}
	return core.Config{}, fmt.Errorf("-cluster %q: no such cluster in %s (clusters: %s)", name, s.source, s.names())
}

// openedCluster is the cluster a command works on and, when its configuration file bridges it
// to other clusters, the registry of every cluster of that file.
type openedCluster struct {
	*core.Cluster
	reg     *core.Clusters // nil without bridges
	bridged []string       // the other clusters the bridges reach, started by connect
	outbox  *core.Outbox   // the cluster's outbox, closed after it; nil without one
	qos0    bool           // the outbox stores QoS 0 messages too
	closed  sync.Once
}

// open builds the cluster cfg describes. When it came from a configuration file in which it
// has bridges, every cluster of the file is built (as padogrid's vc_publish and vc_subscribe
// do), so that what it publishes and receives is forwarded as the file says, through chains of
// bridges too; bridge failures are written to stderr as warnings.
//
// Only a publishing command (withOutbox) opens an outbox, and only the selected cluster's:
// the others (bridge targets, sub) run without theirs, so that a command never contends with
// a running hamqtt start for an outbox directory it does not need.
func (cf *clusterFlags) open(cfg core.Config, stderr io.Writer) (*openedCluster, error) {
	ob, err := cf.openOutbox(cfg, stderr)
	if err != nil {
		return nil, err
	}
	oc, err := cf.build(cfg, ob, stderr)
	if err != nil {
		if ob != nil {
			ob.Close()
		}
		return nil, err
	}
	if ob != nil {
		c, _ := cf.file.OutboxFor(cfg.Name)
		oc.qos0 = c != nil && c.QoS0
	}
	return oc, nil
}

// openOutbox opens the outbox the configuration gives the selected cluster, if the command
// wants it. A directory another process holds (a hamqtt start of the same file) is a warning:
// the command then publishes without it.
func (cf *clusterFlags) openOutbox(cfg core.Config, stderr io.Writer) (*core.Outbox, error) {
	if !cf.withOutbox || cf.file == nil {
		return nil, nil
	}
	oc, err := cf.file.OutboxFor(cfg.Name)
	if err != nil || oc == nil {
		return nil, err
	}
	o := *oc
	o.Logger = cfg.Logger
	ob, err := core.OpenOutbox(o)
	switch {
	case errors.Is(err, core.ErrOutboxLocked):
		if !cf.quiet {
			fmt.Fprintf(stderr, "warning: cluster %q: %s; publishing without the outbox: a message no broker acknowledges within the timeout fails\n", cfg.Name, oneLine(err.Error()))
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("cluster %q: %w", cfg.Name, err)
	}
	return ob, nil
}

func (cf *clusterFlags) build(cfg core.Config, ob *core.Outbox, stderr io.Writer) (*openedCluster, error) {
	cfg.Outbox = ob
	reach := bridgedFrom(cf.file, cfg.Name)
	if len(reach) == 0 {
		cl, err := core.New(cfg)
		if err != nil {
			return nil, err
		}
		return &openedCluster{Cluster: cl, outbox: ob}, nil
	}
	fc := *cf.file
	// The registry opens no outbox of its own (see open).
	fc.Settings = maps.Clone(cf.file.Settings)
	for n, set := range fc.Settings {
		set.Outbox = nil
		fc.Settings[n] = set
	}
	fc.Clusters = slices.Clone(cf.file.Clusters)
	for i := range fc.Clusters {
		if fc.Clusters[i].Name == cfg.Name {
			fc.Clusters[i] = cfg
		} else {
			fc.Clusters[i].Logger = cfg.Logger
		}
	}
	reg, err := core.NewClusters(&fc)
	if err != nil {
		return nil, err
	}
	cl, err := reg.Get(cfg.Name)
	if err != nil {
		reg.Close()
		return nil, err
	}
	for _, n := range append([]string{cfg.Name}, reach...) {
		if c, err := reg.Get(n); err == nil {
			c.SetHandlers(core.Handlers{OnError: func(err error) {
				if !cf.quiet {
					fmt.Fprintf(stderr, "warning: %s\n", oneLine(err.Error()))
				}
			}})
		}
	}
	return &openedCluster{Cluster: cl, reg: reg, bridged: reach, outbox: ob}, nil
}

// connect connects the cluster, and starts the clusters its bridges reach: a forward waits
// up to the target's timeToWait for a live broker, so they need not be up first.
func (o *openedCluster) connect(ctx context.Context) error {
	for _, n := range o.bridged {
		if c, err := o.reg.Get(n); err == nil {
			if err := c.Start(); err != nil {
				return fmt.Errorf("bridged cluster %q: %w", n, err)
			}
		}
	}
	return o.Cluster.Connect(ctx)
}

// close lets the bridges forward what they hold (within timeout), then closes everything.
// Calls after the first do nothing.
func (o *openedCluster) close(timeout time.Duration, stderr io.Writer) {
	o.closed.Do(func() { o.closeOnce(timeout, stderr) })
}

func (o *openedCluster) closeOnce(timeout time.Duration, stderr io.Writer) {
	if o.reg == nil {
		o.Cluster.Close()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := o.reg.FlushBridges(ctx); err != nil {
			fmt.Fprintf(stderr, "warning: %v\n", err)
		}
		o.reg.Close()
	}
	if o.outbox != nil {
		if err := o.outbox.Close(); err != nil {
			fmt.Fprintf(stderr, "warning: %v\n", err)
		}
	}
}

// bridgedFrom lists the clusters that name's bridges reach in fc, directly or through the
// bridges of the clusters they lead to, in the order found.
func bridgedFrom(fc *core.FileConfig, name string) []string {
	if fc == nil {
		return nil
	}
	seen := map[string]bool{name: true}
	var out []string
	queue := []string{name}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		set, ok := fc.Settings[n]
		if !ok || !set.Enabled {
			continue
		}
		for _, b := range append(slices.Clone(set.Bridges.In), set.Bridges.Out...) {
			if !seen[b.Cluster] {
				seen[b.Cluster] = true
				out = append(out, b.Cluster)
				queue = append(queue, b.Cluster)
			}
		}
	}
	return out
}
