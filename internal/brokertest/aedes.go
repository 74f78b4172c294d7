package brokertest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// AedesOptions configures a broker started by NewAedes.
type AedesOptions struct {
	// Dir holds the broker's log. Empty means a new temporary directory that Close removes.
	Dir string
	// Port is the loopback port to listen on; 0 picks a free one.
	Port int
}

// AedesBroker is an aedes broker (the npm package) run by Node.js with
// internal/brokertest/aedes/server.mjs, listening on 127.0.0.1. scripts/install-deps.sh
// installs the package into internal/brokertest/aedes/node_modules.
type AedesBroker struct {
	supervisor
	node, script string
}

// errAedesPortBusy marks a launch whose port was taken (server.mjs exits 98).
var errAedesPortBusy = errors.New("aedes could not bind its port")

// AedesDir locates the folder holding server.mjs and node_modules/aedes: $HAMQTT_AEDES_DIR if
// set, else internal/brokertest/aedes of this source tree (found from this file's path, or
// from the working directory upwards for binaries built with -trimpath).
func AedesDir() (string, error) {
	ok := func(d string) bool {
		_, e1 := os.Stat(filepath.Join(d, "server.mjs"))
		_, e2 := os.Stat(filepath.Join(d, "node_modules", "aedes", "package.json"))
		return e1 == nil && e2 == nil
	}
	if d := os.Getenv("HAMQTT_AEDES_DIR"); d != "" {
		if !ok(d) {
			return "", fmt.Errorf("brokertest: $HAMQTT_AEDES_DIR=%q has no server.mjs and node_modules/aedes; run scripts/install-deps.sh", d)
		}
		return d, nil
	}
	var cands []string
	if _, file, _, found := runtime.Caller(0); found && filepath.IsAbs(file) {
		cands = append(cands, filepath.Join(filepath.Dir(file), "aedes"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			cands = append(cands, filepath.Join(d, "internal", "brokertest", "aedes"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range cands {
		if ok(d) {
			return d, nil
		}
	}
	return "", errors.New("brokertest: aedes is not installed (internal/brokertest/aedes/node_modules/aedes); run scripts/install-deps.sh")
}

// NodePath locates Node.js: $HAMQTT_NODE if set, else node on PATH.
func NodePath() (string, error) {
	if p := os.Getenv("HAMQTT_NODE"); p != "" {
		return exec.LookPath(p)
	}
	p, err := exec.LookPath("node")
	if err != nil {
		return "", errors.New("brokertest: node (Node.js 20 or later) not found on PATH; aedes needs it")
	}
	return p, nil
}

// NewAedes starts an aedes broker and returns once it accepts connections. The caller must
// Close it.
func NewAedes(opts AedesOptions) (*AedesBroker, error) {
	node, err := NodePath()
	if err != nil {
		return nil, err
	}
	dir, err := AedesDir()
	if err != nil {
		return nil, err
	}
	b := &AedesBroker{supervisor: supervisor{dir: opts.Dir}, node: node, script: filepath.Join(dir, "server.mjs")}
	if err := b.makeDir("hamqtt-aedes-"); err != nil {
		return nil, err
	}
	if err := b.startOn(opts.Port, time.Now().Add(startTimeout), errAedesPortBusy, b.launch); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Kind returns Aedes.
func (b *AedesBroker) Kind() Kind { return Aedes }

var aedesVersion = regexp.MustCompile(`aedes (\S+) running on`)

// Version returns the aedes package version server.mjs reported ("1.2.0").
func (b *AedesBroker) Version() string { return lastMatch(aedesVersion, b.Log()) }

// Port returns the broker's TCP port, which stays the same across Restart.
func (b *AedesBroker) Port() int { return b.port }

// Addr returns "127.0.0.1:PORT".
func (b *AedesBroker) Addr() string { return loopback(b.port) }

// URI returns "tcp://127.0.0.1:PORT".
func (b *AedesBroker) URI() string { return "tcp://" + b.Addr() }

// Running reports whether the Node.js process is alive.
func (b *AedesBroker) Running() bool { return b.running() }

// Kill sends SIGKILL and returns once the process has been reaped.
func (b *AedesBroker) Kill() error { return b.kill() }

// Stop shuts the broker down with SIGTERM (server.mjs closes every connection), falling back
// to SIGKILL after 5s.
func (b *AedesBroker) Stop() error { return b.stop(stopGrace) }

// Restart starts the broker again on the same port. Like a restarted Mosquitto without
// persistence, it has no sessions, subscriptions or retained messages.
func (b *AedesBroker) Restart() error {
	return b.restart("aedes broker", func() error {
		return retryWhileBusy(time.Now().Add(startTimeout), errAedesPortBusy, 50*time.Millisecond, b.launch)
	})
}

func (b *AedesBroker) logPath() string { return filepath.Join(b.dir, "aedes.log") }

// Log returns the broker's log (all runs, appended).
func (b *AedesBroker) Log() string {
	data, _ := os.ReadFile(b.logPath())
	return string(data)
}

// Close kills the broker and removes its directory if NewAedes created it. Idempotent.
func (b *AedesBroker) Close() error { return b.close(nil) }

// launch starts server.mjs on b.port and waits until it logged that it listens and a TCP
// connection succeeds. Callers hold b.mu (or own b exclusively).
func (b *AedesBroker) launch(deadline time.Time) error {
	out, logStart, err := appendLog(b.logPath())
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(b.node, b.script, strconv.Itoa(b.port))
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.dir, out, out
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("brokertest: start %s: %w", b.node, err)
	}
	b.proc.Store(p)
	return awaitServing(p, deadline, readiness{
		addr:      b.Addr(),
		logged:    func() bool { return strings.Contains(readFrom(b.logPath(), logStart), " running on ") },
		notLogged: `no "running" line in the log yet`,
		exited: func() error {
			why := errors.New("aedes exited during startup")
			if p.cmd.ProcessState.ExitCode() == 98 {
				why = errAedesPortBusy
			}
			return fmt.Errorf("brokertest: aedes on port %d: %w (%s); log tail:\n%s", b.port, why, p.cmd.ProcessState, tail(b.Log(), 20))
		},
		timedOut: func(last error) error {
			return fmt.Errorf("brokertest: aedes on port %d not ready within %v: %w; log tail:\n%s", b.port, startTimeout, last, tail(b.Log(), 20))
		},
		pause: pollInterval,
	})
}
