package brokertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	node, script string
	dir          string
	ownDir       bool
	port         int

	mu     sync.Mutex // serialises lifecycle operations
	proc   atomic.Pointer[process]
	closed bool
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
	b := &AedesBroker{node: node, script: filepath.Join(dir, "server.mjs"), dir: opts.Dir, port: opts.Port}
	if b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "hamqtt-aedes-"); err != nil {
			return nil, fmt.Errorf("brokertest: %w", err)
		}
		b.ownDir = true
	} else if err = os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, fmt.Errorf("brokertest: %w", err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		if opts.Port == 0 {
			if b.port, err = FreePort(); err != nil {
				break
			}
		}
		err = b.launch(deadline)
		if err == nil || opts.Port != 0 || !errors.Is(err, errAedesPortBusy) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
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
func (b *AedesBroker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// URI returns "tcp://127.0.0.1:PORT".
func (b *AedesBroker) URI() string { return "tcp://" + b.Addr() }

// Running reports whether the Node.js process is alive.
func (b *AedesBroker) Running() bool {
	p := b.proc.Load()
	return p != nil && !p.exited()
}

// Kill sends SIGKILL and returns once the process has been reaped.
func (b *AedesBroker) Kill() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return killGroup(b.proc.Load())
}

// Stop shuts the broker down with SIGTERM (server.mjs closes every connection), falling back
// to SIGKILL after 5s.
func (b *AedesBroker) Stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return terminate(b.proc.Load(), stopGrace)
}

// Restart starts the broker again on the same port. Like a restarted Mosquitto without
// persistence, it has no sessions, subscriptions or retained messages.
func (b *AedesBroker) Restart() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("brokertest: restart of a closed aedes broker")
	}
	if err := killGroup(b.proc.Load()); err != nil {
		return err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		err := b.launch(deadline)
		if err == nil || !errors.Is(err, errAedesPortBusy) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *AedesBroker) logPath() string { return filepath.Join(b.dir, "aedes.log") }

// Log returns the broker's log (all runs, appended).
func (b *AedesBroker) Log() string {
	data, _ := os.ReadFile(b.logPath())
	return string(data)
}

// Close kills the broker and removes its directory if NewAedes created it. Idempotent.
func (b *AedesBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	err := killGroup(b.proc.Load())
	if b.ownDir {
		err = errors.Join(err, os.RemoveAll(b.dir))
	}
	return err
}

// launch starts server.mjs on b.port and waits until it logged that it listens and a TCP
// connection succeeds. Callers hold b.mu (or own b exclusively).
func (b *AedesBroker) launch(deadline time.Time) error {
	out, err := os.OpenFile(b.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	defer out.Close()
	logStart := fileSize(b.logPath())
	cmd := exec.Command(b.node, b.script, strconv.Itoa(b.port))
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.dir, out, out
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("brokertest: start %s: %w", b.node, err)
	}
	b.proc.Store(p)
	for {
		if p.exited() {
			why := errors.New("aedes exited during startup")
			if p.cmd.ProcessState.ExitCode() == 98 {
				why = errAedesPortBusy
			}
			return fmt.Errorf("brokertest: aedes on port %d: %w (%s); log tail:\n%s", b.port, why, p.cmd.ProcessState, tail(b.Log(), 20))
		}
		err := errors.New(`no "running" line in the log yet`)
		if strings.Contains(readFrom(b.logPath(), logStart), " running on ") {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond); err == nil {
				return c.Close()
			}
		}
		if time.Now().After(deadline) {
			killGroup(p)
			return fmt.Errorf("brokertest: aedes on port %d not ready within %v: %w; log tail:\n%s", b.port, startTimeout, err, tail(b.Log(), 20))
		}
		time.Sleep(pollInterval)
	}
}
