package core

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
)

// Clusters is a registry of named clusters with a default cluster: padogrid's HaClusters.
// It creates the clusters of a configuration file and any created later by name. Every method
// is safe for concurrent use.
type Clusters struct {
	fc *FileConfig

	mu       sync.Mutex
	clusters map[string]*Cluster
	outboxes map[string]*Outbox // the outboxes the registry opened, closed after their clusters
	order    []string           // creation order
	closed   bool
	done     chan struct{} // closed when Close has finished
	warnings []string
}

// NewClusters creates (without connecting) every enabled cluster of fc. A nil fc means
// LoadDefaultConfig(LoadOptions{}): the file named by HAMQTT_CONFIG, else the built-in
// default. On error nothing is left running.
//
// A cluster whose settings have an outbox (ClusterSettings.Outbox) gets it opened before the
// cluster is created (a disk outbox's stored messages are then queued first) and closed by
// Close after the cluster; a Config.Outbox the caller set already is used instead, and stays
// the caller's to close. An outbox that cannot be opened (its directory is locked by another
// process, or cannot be created) is an error naming the cluster.
func NewClusters(fc *FileConfig) (*Clusters, error) {
	if fc == nil {
		var err error
		if fc, err = LoadDefaultConfig(LoadOptions{}); err != nil {
			return nil, err
		}
	}
	cp := *fc // the registry reads its own copy: the caller may change fc afterwards
	cp.Clusters = append([]Config(nil), fc.Clusters...)
	cp.Settings = make(map[string]ClusterSettings, len(fc.Settings))
	for k, v := range fc.Settings {
		cp.Settings[k] = v
	}
	fc = &cp
	r := &Clusters{fc: fc, clusters: map[string]*Cluster{}, outboxes: map[string]*Outbox{}, done: make(chan struct{})}
	for _, cfg := range fc.Clusters {
		set, ok := fc.Settings[cfg.Name]
		if ok && !set.Enabled {
			continue
		}
		if r.clusters[cfg.Name] != nil {
			r.Close()
			return nil, fmt.Errorf("%s: cluster %q is defined twice: give each cluster its own name", fc.Source, cfg.Name)
		}
		where := fc.Source
		if set.Line > 0 {
			where = fmt.Sprintf("%s:%d", fc.Source, set.Line)
		}
		c, err := r.newCluster(cfg, set.Outbox)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		r.clusters[cfg.Name] = c
		r.order = append(r.order, cfg.Name)
	}
	if err := r.wire(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// newCluster creates a cluster with the outbox oc describes (none when nil or when cfg has
// one already), and records the outbox for Close.
func (r *Clusters) newCluster(cfg Config, oc *OutboxConfig) (*Cluster, error) {
	var ob *Outbox
	if oc != nil && cfg.Outbox == nil {
		o := *oc
		if o.Logger == nil {
			o.Logger = cfg.Logger
		}
		var err error
		if ob, err = OpenOutbox(o); err != nil {
			return nil, fmt.Errorf("cluster %q: %w", cfg.Name, err)
		}
		cfg.Outbox = ob
	}
	c, err := New(cfg)
	if err != nil {
		if ob != nil {
			ob.Close()
		}
		return nil, err
	}
	if ob != nil {
		r.outboxes[cfg.Name] = ob
	}
	return c, nil
}

// wire attaches the bridges and plugins the configuration names, once every cluster exists.
func (r *Clusters) wire() error {
	for _, name := range r.order {
		c, set := r.clusters[name], r.fc.Settings[name]
		for _, p := range set.PluginNames {
			h, ok := LookupPlugin(p)
			if !ok {
				r.warnings = append(r.warnings, fmt.Sprintf("%s: cluster %q: plugin %q is not registered in this process (RegisterPlugin); the cluster runs without it", r.fc.Source, name, p))
				continue
			}
			if err := c.AddHooks(h); err != nil {
				return err
			}
		}
		for _, group := range []struct {
			in      bool
			bridges []Bridge
		}{{true, set.Bridges.In}, {false, set.Bridges.Out}} {
			for _, b := range group.bridges {
				target := r.clusters[b.Cluster]
				if target == nil {
					r.warnings = append(r.warnings, fmt.Sprintf("%s:%d: bridge from %q to %q: the target cluster is disabled; the bridge is not started", r.fc.Source, b.Line, name, b.Cluster))
					continue
				}
				var err error
				if group.in {
					err = c.AddInBridge(target, b.TopicFilters, b.QoS)
				} else {
					err = c.AddOutBridge(target, b.TopicFilters, b.QoS)
				}
				if err != nil {
					return fmt.Errorf("%s:%d: %w", r.fc.Source, b.Line, err)
				}
			}
		}
	}
	return nil
}

// Warnings lists what the registry could not set up as configured (plugins not registered in
// this process, bridges to disabled clusters), in addition to FileConfig.Warnings.
func (r *Clusters) Warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.warnings...)
}

// Get returns the named cluster (the default cluster for ""). It creates nothing: an unknown
// or disabled name is an error that lists the known clusters.
func (r *Clusters) Get(name string) (*Cluster, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name, c, err := r.lookupLocked(name)
	if c != nil || err != nil {
		return c, err
	}
	known := "none"
	if len(r.order) > 0 {
		known = strings.Join(r.order, ", ")
	}
	return nil, fmt.Errorf("cluster %q not found (clusters: %s): define it in the configuration or use GetOrCreate", name, known)
}

// lookupLocked resolves "" to the default name and returns the existing cluster, an error
// (registry closed, cluster disabled), or neither when the name is free.
func (r *Clusters) lookupLocked(name string) (string, *Cluster, error) {
	if name == "" {
		name = r.DefaultName()
	}
	if r.closed {
		return name, nil, fmt.Errorf("cluster %q: %w", name, ErrClosed)
	}
	if c := r.clusters[name]; c != nil {
		return name, c, nil
	}
	return name, nil, r.disabledLocked(name)
}

func (r *Clusters) disabledLocked(name string) error {
	if set, ok := r.fc.Settings[name]; ok && !set.Enabled {
		return fmt.Errorf("cluster %q is disabled (%s:%d sets enabled: false): enable it in the configuration", name, r.fc.Source, set.Line)
	}
	return nil
}

// Default returns the default cluster (the file's defaultCluster, else "cluster-default"),
// creating it on tcp://localhost:1883-1885 if the file does not define it. It returns nil
// once the registry is closed (or when a hand-made FileConfig disables the default cluster).
func (r *Clusters) Default() *Cluster {
	c, err := r.GetOrCreate(r.DefaultName())
	if err != nil {
		return nil
	}
	return c
}

// DefaultName is the name of the default cluster.
func (r *Clusters) DefaultName() string {
	if r.fc.DefaultCluster != "" {
		return r.fc.DefaultCluster
	}
	return DefaultClusterName
}

// GetOrCreate returns the named cluster, creating it if the registry has none of that name.
// A new cluster has the file's defaults (probeDelay, persistence, the top-level outbox key; a
// file persistence implies a disk outbox in <path>/<name>/outbox) and the brokers in uris
// (comma-separated lists and ranges allowed; none means tcp://localhost:1883-1885). It is not
// connected: call Connect. uris are ignored when the cluster exists.
func (r *Clusters) GetOrCreate(name string, uris ...string) (*Cluster, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name, c, err := r.lookupLocked(name)
	if c != nil || err != nil {
		return c, err
	}
	list := uris
	if len(strings.Join(list, "")) == 0 {
		list = []string{DefaultServerURIs}
	}
	expanded, err := ExpandURIs(list...)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	if len(expanded) == 0 {
		return nil, fmt.Errorf("cluster %q: no broker URI given: give at least one, e.g. tcp://127.0.0.1:1883", name)
	}
	cfg := Config{
		Name:          name,
		ProbeDelay:    r.fc.ProbeDelay,
		MaxProbeDelay: r.fc.MaxProbeDelay,
		Connection:    ConnectionConfig{ProtocolVersion: r.fc.ProtocolVersion},
		MessageIDs:    r.fc.MessageIDs,
		// padogrid's default cluster settings share connections.
		ShareConnections: true,
	}
	if r.fc.PersistenceDir != "" && r.fc.ProtocolVersion != MQTT5 { // MQTT 5: the outbox only
		cfg.Connection.FileStoreDir = filepath.Join(r.fc.PersistenceDir, name)
	}
	for _, u := range expanded {
		cfg.Endpoints = append(cfg.Endpoints, EndpointConfig{URI: u})
	}
	oc, err := r.fc.OutboxFor(name)
	if err != nil {
		return nil, err
	}
	c, err = r.newCluster(cfg, oc)
	if err != nil {
		return nil, err
	}
	r.clusters[name] = c
	r.order = append(r.order, name)
	return c, nil
}

// Outbox returns the outbox of the named cluster (the default cluster for ""), or nil when
// the registry has no such cluster or the cluster has no outbox. Its Stats stay readable after
// Close.
func (r *Clusters) Outbox(name string) *Outbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		name = r.DefaultName()
	}
	if c := r.clusters[name]; c != nil {
		return c.Outbox()
	}
	return nil
}

// Names lists the clusters in the registry: the file's, in file order, then those created
// later, in creation order.
func (r *Clusters) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// ConnectAll connects, in parallel, every cluster of the file whose autoConnect is true
// (the default); it connects nothing when the file's top-level enabled is false. It returns
// once each has connected or failed; the error joins the failures, each naming its cluster.
// A cluster that failed keeps probing its brokers in the background until Close.
func (r *Clusters) ConnectAll(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	var todo []*Cluster
	if r.fc.Enabled {
		for _, cfg := range r.fc.Clusters {
			set, ok := r.fc.Settings[cfg.Name]
			if c := r.clusters[cfg.Name]; c != nil && (!ok || set.AutoConnect) {
				todo = append(todo, c)
			}
		}
	}
	r.mu.Unlock()
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, c := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Connect(ctx); err != nil {
				errs[i] = fmt.Errorf("cluster %q: %w", c.Name(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close closes every cluster of the registry and waits until they are closed, then closes the
// outboxes it opened: what a disk outbox still holds is sent by the next run that opens it; a
// memory outbox's undelivered messages end with ErrClosed. It is idempotent: a second call
// waits for the first to finish. Afterwards Get and GetOrCreate fail with ErrClosed. It may be
// called from a cluster's handler (see Cluster.Close). The error, if any, joins the outboxes
// that failed to close, each naming its cluster.
func (r *Clusters) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.done
		return nil
	}
	r.closed = true
	list := make([]*Cluster, 0, len(r.order))
	var obNames []string
	var obs []*Outbox
	for _, n := range r.order {
		list = append(list, r.clusters[n])
		if ob := r.outboxes[n]; ob != nil {
			obNames, obs = append(obNames, n), append(obs, ob)
		}
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range list {
		if c.runsOnDispatcher() {
			c.Close() // on this goroutine, which Close recognises and does not wait for
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close()
		}()
	}
	wg.Wait()
	// Each cluster has let go of its outbox when its Close returned, also on a dispatcher.
	var errs []error
	for i, ob := range obs {
		if err := ob.Close(); err != nil {
			errs = append(errs, fmt.Errorf("cluster %q: %w", obNames[i], err))
		}
	}
	close(r.done)
	return errors.Join(errs...)
}
