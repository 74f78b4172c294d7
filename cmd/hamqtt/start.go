package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hamqtt/hamqtt/core"
)

const startSynopsis = `hamqtt start -config FILE [-strict] [-log FILE] [-status-every D] [-v | -quiet]`

const startHelp = `start creates every enabled cluster of the config file with its bridges and plugins,
connects those with autoConnect (the default), and keeps them running (probing, failing over,
forwarding through bridges) until SIGINT or SIGTERM; then it closes every connection and exits 0.
It logs endpoint changes to stderr (or -log FILE).
A cluster that cannot connect at first keeps being probed in the background.
$HAMQTT_CONFIG is used when -config is not given.

Examples:
  hamqtt start -config etc/mqttv5-client.yaml
  hamqtt start -config etc/bridge.yaml -log /var/log/hamqtt.log -status-every 1m`

func runStart(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "start", startSynopsis, startHelp)
	configPath := fs.String("config", "", "YAML config `file` defining the clusters (required unless $HAMQTT_CONFIG is set)")
	strict := fs.Bool("strict", false, "unknown config keys are errors, not warnings")
	logPath := fs.String("log", "", "append the log to `file` instead of stderr")
	statusEvery := fs.Duration("status-every", 0, "log each cluster's live and dead endpoints every `interval` (0: never)")
	verbose := fs.Bool("v", false, "log debug records too (connection attempts)")
	quiet := fs.Bool("quiet", false, "log only warnings and errors")
	rest, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 1 && *configPath == "":
		*configPath = rest[0] // hamqtt start FILE
	case len(rest) > 0:
		return usagef(fs, "unexpected argument %q", rest[0])
	}
	if *configPath == "" {
		*configPath = strings.TrimSpace(os.Getenv(core.ConfigEnv))
	}
	if *configPath == "" {
		return usagef(fs, "-config FILE is required: the YAML file that defines the clusters to run")
	}
	if *statusEvery < 0 {
		return usagef(fs, "-status-every %v: give a positive duration such as 1m, or 0", *statusEvery)
	}
	if *verbose && *quiet {
		return usagef(fs, "-v and -quiet exclude each other")
	}

	var logw io.Writer = e.stderr
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("-log: %w", err)
		}
		defer f.Close()
		logw = f
	}
	level := slog.LevelInfo
	switch {
	case *verbose:
		level = slog.LevelDebug
	case *quiet:
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))

	fc, err := core.LoadConfigFile(*configPath, core.LoadOptions{Strict: *strict})
	if err != nil {
		return configLoadError(err)
	}
	for _, w := range fc.Warnings {
		log.Warn("config: " + w)
	}
	for i := range fc.Clusters {
		fc.Clusters[i].Logger = log
	}
	reg, err := core.NewClusters(fc)
	if err != nil {
		return err
	}
	defer reg.Close()
	for _, w := range reg.Warnings() {
		log.Warn(w)
	}
	names := reg.Names()
	if len(names) == 0 {
		return fmt.Errorf("%s: no enabled cluster to run", fc.Source)
	}
	for _, n := range names {
		set := fc.Settings[n]
		for _, b := range set.Bridges.In {
			log.Info("bridge in", "from", n, "to", b.Cluster, "topicFilters", strings.Join(b.TopicFilters, ","), "qos", b.QoS)
		}
		for _, b := range set.Bridges.Out {
			log.Info("bridge out", "from", n, "to", b.Cluster, "topicFilters", strings.Join(b.TopicFilters, ","), "qos", b.QoS)
		}
		if len(set.PluginNames) > 0 {
			log.Info("plugins", "cluster", n, "names", strings.Join(set.PluginNames, ","))
		}
		if ob := reg.Outbox(n); ob != nil {
			st := ob.Stats()
			kind := "memory"
			if st.Dir != "" {
				kind = "disk"
			}
			log.Info("outbox", "cluster", n, "kind", kind, "dir", st.Dir, "recovered", ob.Recovery().Messages)
		}
	}
	if err := reg.ConnectAll(ctx); err != nil {
		if ctx.Err() != nil {
			return shutdown(e, reg, log)
		}
		// The probers keep trying; a daemon waits for its brokers rather than giving up.
		log.Warn("not every cluster could connect yet; retrying in the background", "err", oneLine(err.Error()))
	}
	var parts []string
	for _, n := range names {
		c, err := reg.Get(n)
		if err != nil {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%d/%d live)", n, c.LiveCount(), len(c.Stats())))
	}
	log.Info("running; SIGINT or SIGTERM stops", "config", fc.Source, "clusters", strings.Join(parts, ", "))

	var tick <-chan time.Time
	if *statusEvery > 0 {
		t := time.NewTicker(*statusEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return shutdown(e, reg, log)
		case <-tick:
			for _, n := range names {
				if c, err := reg.Get(n); err == nil {
					attrs := []any{"cluster", n, "live", strings.Join(c.LiveEndpoints(), ","), "dead", strings.Join(c.DeadEndpoints(), ",")}
					if ob := reg.Outbox(n); ob != nil {
						st := ob.Stats()
						attrs = append(attrs, "outboxMessages", st.Messages, "outboxBytes", st.Bytes, "outboxOldest", st.OldestAge().Round(time.Millisecond),
							"outboxDelivered", st.Delivered, "outboxDropped", st.Dropped, "outboxExpired", st.Expired)
					}
					if since, gap := c.SubscriptionGap(); gap {
						log.Warn("status", append(attrs, "subscribedOnNoLiveBrokerFor", time.Since(since).Round(time.Millisecond))...)
						continue
					}
					log.Info("status", attrs...)
				}
			}
		}
	}
}

func shutdown(e *env, reg *core.Clusters, log *slog.Logger) error {
	e.stopSignals() // a second signal ends the process at once
	log.Info("shutting down")
	start := time.Now()
	if err := reg.Close(); err != nil && !errors.Is(err, core.ErrClosed) {
		return err
	}
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
