package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hamqtt/hamqtt/core"
)

const statusSynopsis = `hamqtt status [cluster flags] [-all] [-json]`

const statusHelp = clusterFlagsHelp + `

status connects to every endpoint of the cluster, waits until each attempt has settled, and
prints the live and dead endpoints with their counters, and the cluster's outbox when the config
gives it one (a disk outbox's messages waiting, read from its directory). It exits 1 when no
endpoint is live.

Examples:
  hamqtt status -endpoints tcp://127.0.0.1:1883-1885
  hamqtt status -config etc/mqttv5-client.yaml -all -json`

type statusOptions struct {
	cluster clusterFlags
	json    bool
	all     bool
}

// clusterStatus is one cluster in status -json. ProtocolVersion is the MQTT version the
// cluster speaks: 4 (MQTT 3.1.1) or 5 (MQTT 5).
type clusterStatus struct {
	Name            string           `json:"name"`
	PublisherType   string           `json:"publisherType"`
	FoS             int              `json:"fos"`
	ProtocolVersion int              `json:"protocolVersion"`
	Live            []string         `json:"live"`
	Dead            []string         `json:"dead"`
	Endpoints       []endpointStatus `json:"endpoints"`
	Outbox          *outboxStatus    `json:"outbox,omitempty"`
	Error           string           `json:"error,omitempty"`
}

// outboxStatus is a cluster's outbox in status -json. status reads a disk outbox from its
// directory; its counters are those of this command's reading (what the process that runs the
// cluster counts, hamqtt start logs).
type outboxStatus struct {
	Kind             string     `json:"kind"` // memory or disk
	Dir              string     `json:"dir,omitempty"`
	Messages         int        `json:"messages"`
	Bytes            int64      `json:"bytes"`
	Oldest           *time.Time `json:"oldest,omitempty"`
	OldestAgeSeconds float64    `json:"oldestAgeSeconds"`
	Delivered        uint64     `json:"delivered"`
	Dropped          uint64     `json:"dropped"`
	Expired          uint64     `json:"expired"`
	// Note says why there is nothing to read: a memory outbox, a directory not created yet,
	// or one another process holds.
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
}

type endpointStatus struct {
	Name            string     `json:"name"`
	URI             string     `json:"uri"`
	State           string     `json:"state"`
	Subscriber      bool       `json:"subscriber"`
	LiveSince       *time.Time `json:"liveSince,omitempty"`
	Published       uint64     `json:"published"`
	Acked           uint64     `json:"acked"`
	Failed          uint64     `json:"failed"`
	Failovers       uint64     `json:"failovers"`
	Probes          uint64     `json:"probes"`
	Connects        uint64     `json:"connects"`
	ConnectFailures uint64     `json:"connectFailures"`
	Received        uint64     `json:"received"`
	LastError       string     `json:"lastError,omitempty"`
}

func runStatus(ctx context.Context, e *env, args []string) error {
	var o statusOptions
	fs := newFlagSet(e, "status", statusSynopsis, statusHelp)
	o.cluster.register(fs)
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	fs.BoolVar(&o.all, "all", false, "every cluster of the config, not just the selected one")
	rest, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef(fs, "unexpected argument %q", rest[0])
	}
	if o.all && (o.cluster.endpoints != "" || o.cluster.clusterName != "") {
		return usagef(fs, "-all shows every cluster of the config: it excludes -cluster and -endpoints")
	}
	var cfgs []core.Config
	var file *core.FileConfig
	if o.all {
		set, err := loadClusterConfigs(o.cluster.configPath)
		if err != nil {
			return err
		}
		file = set.file
		printWarnings(e, "status", set.warnings, o.json)
		if len(set.clusters) == 0 {
			return fmt.Errorf("%s defines no enabled cluster", set.source)
		}
		for _, c := range set.clusters {
			if err := o.cluster.apply(fs, &c, e.stderr); err != nil {
				return err
			}
			cfgs = append(cfgs, c)
		}
	} else {
		cfg, warnings, err := o.cluster.resolve(fs, e.stderr)
		if err != nil {
			return err
		}
		printWarnings(e, "status", warnings, o.json)
		cfgs = []core.Config{cfg}
		file = o.cluster.file
	}

	var report []clusterStatus
	anyLive := false
	for _, cfg := range cfgs {
		st, err := probeCluster(ctx, cfg)
		if err != nil {
			return err
		}
		if file != nil {
			if oc, err := file.OutboxFor(cfg.Name); err != nil {
				st.Outbox = &outboxStatus{Error: err.Error()}
			} else if oc != nil {
				st.Outbox = readOutbox(*oc)
			}
		}
		if len(st.Live) > 0 {
			anyLive = true
		}
		report = append(report, st)
	}
	if o.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"clusters": report}); err != nil {
			return err
		}
	} else {
		for i, st := range report {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			printStatusTable(e.stdout, st)
		}
	}
	if !anyLive {
		if !o.json {
			fmt.Fprintln(e.stderr, "hamqtt status: no endpoint is live")
		}
		return exitStatus(exitFailure)
	}
	return nil
}

// probeCluster connects a cluster, lets its first round of connection attempts settle, and
// returns what it found.
func probeCluster(ctx context.Context, cfg core.Config) (clusterStatus, error) {
	cl, err := core.New(cfg)
	if err != nil {
		return clusterStatus{}, err
	}
	defer cl.Close()
	st := clusterStatus{Name: cl.Name(), PublisherType: cl.Config().PublisherType.String(), FoS: cl.Config().FoS,
		ProtocolVersion: cl.Config().Connection.ProtocolVersion}
	if err := cl.Connect(ctx); err != nil {
		st.Error = err.Error()
	}
	// Connect returns half a second after the first endpoint came up; slower ones get until
	// their connect timeout to settle.
	deadline := time.Now().Add(cl.Config().Connection.ConnectTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil && connecting(cl) {
		time.Sleep(20 * time.Millisecond)
	}
	st.Live = nonNil(cl.LiveEndpoints())
	st.Dead = nonNil(cl.DeadEndpoints())
	for _, s := range cl.Stats() {
		es := endpointStatus{Name: s.Name, URI: s.URI, State: s.State.String(), Subscriber: s.Subscriber,
			Published: s.Published, Acked: s.Acked, Failed: s.Failed, Failovers: s.Failovers,
			Probes: s.Probes, Connects: s.Connects, ConnectFailures: s.ConnectFailures, Received: s.Received, LastError: s.LastError}
		if !s.LiveSince.IsZero() {
			t := s.LiveSince
			es.LiveSince = &t
		}
		st.Endpoints = append(st.Endpoints, es)
	}
	return st, nil
}

// readOutbox reads what a cluster's outbox holds. A disk outbox is opened (and closed) here,
// not attached to any cluster: status sends nothing. A directory another process holds
// (hamqtt start, an application) cannot be read; a memory outbox lives in the process that
// publishes.
func readOutbox(oc core.OutboxConfig) *outboxStatus {
	st := &outboxStatus{Kind: "memory", Dir: oc.Dir}
	if oc.Dir == "" {
		st.Note = "a memory outbox lives in the process that publishes through the cluster: nothing to read from here"
		return st
	}
	st.Kind = "disk"
	if _, err := os.Stat(oc.Dir); errors.Is(err, fs.ErrNotExist) {
		st.Note = "nothing stored yet (the directory does not exist)"
		return st
	}
	oc.Logger = nil
	ob, err := core.OpenOutbox(oc)
	switch {
	case errors.Is(err, core.ErrOutboxLocked):
		who := "another process"
		if _, after, ok := strings.Cut(err.Error(), " by process "); ok {
			if pid, _, ok := strings.Cut(after, ":"); ok {
				who = "process " + pid
			}
		}
		st.Note = "in use by " + who + ", which holds its messages and counts (hamqtt start -status-every logs them)"
		return st
	case err != nil:
		st.Error = err.Error()
		return st
	}
	defer ob.Close()
	s := ob.Stats()
	st.Messages, st.Bytes = s.Messages, s.Bytes
	st.Delivered, st.Dropped, st.Expired = s.Delivered, s.Dropped, s.Expired
	if !s.Oldest.IsZero() {
		t := s.Oldest
		st.Oldest, st.OldestAgeSeconds = &t, s.OldestAge().Seconds()
	}
	return st
}

func connecting(cl *core.Cluster) bool {
	for _, s := range cl.Stats() {
		if s.State == core.StateConnecting {
			return true
		}
	}
	return false
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func printStatusTable(w io.Writer, st clusterStatus) {
	fmt.Fprintf(w, "cluster %s: %d of %d endpoints live (publisher %s, fos %d, %s)\n",
		st.Name, len(st.Live), len(st.Endpoints), st.PublisherType, st.FoS, protocolName(st.ProtocolVersion))
	fmt.Fprintf(w, "live: %s\ndead: %s\n\n", listOrNone(st.Live), listOrNone(st.Dead))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tSTATE\tURI\tSUB\tUP\tPUBLISHED\tACKED\tFAILED\tFAILOVERS\tDIALS\tCONNECTS\tCONN-FAILS\tRECEIVED\tLAST ERROR")
	for _, s := range st.Endpoints {
		up := "-"
		if s.LiveSince != nil {
			up = time.Since(*s.LiveSince).Round(time.Millisecond).String()
		}
		sub := "no"
		if s.Subscriber {
			sub = "yes"
		}
		lastErr := s.LastError
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.State, s.URI, sub, up,
			s.Published, s.Acked, s.Failed, s.Failovers, s.Probes, s.Connects, s.ConnectFailures, s.Received, oneLine(lastErr))
	}
	tw.Flush()
	if ob := st.Outbox; ob != nil {
		fmt.Fprintf(w, "\n%s\n", outboxLine(ob))
	}
	if st.Error != "" {
		fmt.Fprintf(w, "\nerror: %s\n", st.Error)
	}
}

// outboxLine is a cluster's outbox in the status table.
func outboxLine(ob *outboxStatus) string {
	where := ob.Kind
	if ob.Dir != "" {
		where += " " + ob.Dir
	}
	switch {
	case ob.Error != "":
		return fmt.Sprintf("outbox: %s: error: %s", where, oneLine(ob.Error))
	case ob.Note != "":
		return fmt.Sprintf("outbox: %s: %s", where, ob.Note)
	}
	oldest := "-"
	if ob.Oldest != nil {
		oldest = time.Duration(ob.OldestAgeSeconds * float64(time.Second)).Round(time.Millisecond).String()
	}
	return fmt.Sprintf("outbox: %s: %d %s waiting (%d bytes), oldest %s; delivered %d, dropped %d, expired %d since opened by this command",
		where, ob.Messages, plural(ob.Messages, "message", "messages"), ob.Bytes, oldest, ob.Delivered, ob.Dropped, ob.Expired)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
