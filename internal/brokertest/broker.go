// Package brokertest runs real Mosquitto brokers and fault-injecting TCP
// proxies on loopback for the project's tests and its CLI demo.
//
// Everything works without a testing.TB (New, NewProxy); Start, StartN and
// StartProxy are thin wrappers that tie the lifetime to a test.
package brokertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	startTimeout = 10 * time.Second
	stopGrace    = 5 * time.Second
	pollInterval = 20 * time.Millisecond
)

// errPortBusy marks a launch in which mosquitto could not bind its port: a
// lost race for a picked port, or a restart while the old socket lingers.
// Only this failure is worth retrying.
var errPortBusy = errors.New("mosquitto could not bind its port")

// Options configures a broker started by New or Start.
type Options struct {
	// ExtraConfig is appended to the generated mosquitto.conf, so it can add
	// listeners or a bridge "connection" section. It must not silence the
	// log file: readiness is detected from mosquitto's "running" line.
	ExtraConfig string
	// Dir holds mosquitto.conf, mosquitto.log and any persistence files.
	// Empty means a new temporary directory that Close removes; a given Dir
	// is kept so that it can be inspected afterwards.
	Dir string
	// Port is the loopback port to listen on; 0 picks a free one.
	Port int
}

// Broker is a Mosquitto process listening on 127.0.0.1. It is safe for
// concurrent use.
type Broker struct {
	supervisor
	bin, extra string
}

// process is one run of a broker or helper process; done is closed once it
// has been reaped.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// MosquittoPath locates the mosquitto binary: $HAMQTT_MOSQUITTO if set, then
// PATH, then /usr/sbin/mosquitto (Debian installs it outside a user's PATH).
func MosquittoPath() (string, error) {
	if p := os.Getenv("HAMQTT_MOSQUITTO"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("brokertest: $HAMQTT_MOSQUITTO=%q is not an executable: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := exec.LookPath("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", errors.New("brokertest: mosquitto not found ($HAMQTT_MOSQUITTO, PATH, /usr/sbin/mosquitto); run scripts/install-deps.sh")
}

// New starts a broker and returns once it accepts TCP connections. The
// caller must Close it.
func New(opts Options) (*Broker, error) {
	bin, err := MosquittoPath()
	if err != nil {
		return nil, err
	}
	b := &Broker{supervisor: supervisor{dir: opts.Dir}, bin: bin, extra: opts.ExtraConfig}
	if err := b.makeDir("hamqtt-mosquitto-"); err != nil {
		return nil, err
	}
	if err := b.startOn(opts.Port, time.Now().Add(startTimeout), errPortBusy, b.launch); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Start is New tied to t: the broker is closed by t.Cleanup, and a startup
// failure is fatal. At most one Options may be given.
func Start(t testing.TB, opts ...Options) *Broker {
	t.Helper()
	if len(opts) > 1 {
		t.Fatalf("brokertest.Start: got %d Options, want at most 1", len(opts))
	}
	var o Options
	if len(opts) == 1 {
		o = opts[0]
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("brokertest: log of broker %s:\n%s", b.Addr(), tail(b.Log(), 40))
		}
		if err := b.Close(); err != nil {
			t.Errorf("brokertest: closing broker %s: %v", b.Addr(), err)
		}
	})
	return b
}

// StartN starts n independent brokers with Start.
func StartN(t testing.TB, n int) []*Broker {
	t.Helper()
	bs := make([]*Broker, n)
	for i := range bs {
		bs[i] = Start(t)
	}
	return bs
}

// Port returns the broker's TCP port, which stays the same across Restart.
func (b *Broker) Port() int { return b.port }

// Addr returns "127.0.0.1:PORT".
func (b *Broker) Addr() string { return loopback(b.port) }

// URI returns "tcp://127.0.0.1:PORT", the form MQTT clients take.
func (b *Broker) URI() string { return "tcp://" + b.Addr() }

// Dir returns the directory holding mosquitto.conf and mosquitto.log.
func (b *Broker) Dir() string { return b.dir }

// Running reports whether the mosquitto process is alive.
func (b *Broker) Running() bool { return b.running() }

// Kill sends SIGKILL, simulating a crash, and returns once the process has
// been reaped. Killing a stopped broker is a no-op.
func (b *Broker) Kill() error { return b.kill() }

// Stop shuts the broker down gracefully with SIGTERM, falling back to
// SIGKILL if it has not exited within 5s.
func (b *Broker) Stop() error { return b.stop(stopGrace) }

// Restart starts the broker again on the same port (killing it first if it
// is still running) and returns once it accepts connections. Sessions are
// lost unless ExtraConfig enabled persistence.
func (b *Broker) Restart() error {
	return b.restart("broker", func() error {
		// The old listening socket or its connections can still hold the port
		// for a moment, so a failed bind is retried rather than fatal.
		return retryWhileBusy(time.Now().Add(startTimeout), errPortBusy, 50*time.Millisecond, b.launch)
	})
}

// WaitReady polls until a TCP connection to the broker succeeds or timeout
// elapses.
func (b *Broker) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("brokertest: broker %s not ready after %v: %w", b.Addr(), timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// Log returns the broker's log file (all runs, appended), for failure
// messages.
func (b *Broker) Log() string {
	data, _ := os.ReadFile(b.logPath())
	return string(data)
}

func (b *Broker) logPath() string { return filepath.Join(b.dir, "mosquitto.log") }

// Close kills the broker and removes its directory if New created it. It is
// idempotent.
func (b *Broker) Close() error { return b.close(nil) }

// launch writes the config, starts mosquitto on b.port and waits until it
// accepts connections. Callers hold b.mu (or own b exclusively).
func (b *Broker) launch(deadline time.Time) error {
	conf := filepath.Join(b.dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(b.config(b.logPath())), 0o644); err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	// mosquitto writes errors that precede opening its log file (bad config)
	// to stderr; sending them to the same file keeps Log complete.
	out, logStart, err := appendLog(b.logPath())
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(b.bin, "-c", conf)
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.dir, out, out
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("brokertest: start %s: %w", b.bin, err)
	}
	b.proc.Store(p)

	logged := func(s string) bool { // only this run's lines count
		return strings.Contains(readFrom(b.logPath(), logStart), s)
	}
	return awaitServing(p, deadline, readiness{
		addr: b.Addr(),
		// mosquitto logs "running" only once all its listeners are bound.
		logged:    func() bool { return logged(" running") },
		notLogged: `no "running" line in the log yet`,
		exited: func() error {
			why := errors.New("mosquitto exited during startup")
			if logged("Address already in use") {
				why = errPortBusy
			}
			return fmt.Errorf("brokertest: port %d: %w (%s); log tail:\n%s", b.port, why, cmd.ProcessState, tail(b.Log(), 20))
		},
		timedOut: func(last error) error {
			return fmt.Errorf("brokertest: mosquitto on port %d not ready within %v: %w; log tail:\n%s", b.port, startTimeout, last, tail(b.Log(), 20))
		},
		pause: pollInterval,
	})
}

func (b *Broker) config(logPath string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "# generated by brokertest\nlistener %d 127.0.0.1\nallow_anonymous true\n", b.port)
	fmt.Fprintf(&s, "persistence false\npersistence_location %s/\n", b.dir)
	fmt.Fprintf(&s, "log_dest file %s\nlog_timestamp_format %%H:%%M:%%S\n", logPath)
	s.WriteString("log_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	s.WriteString("max_queued_messages 100000\n")
	if os.Geteuid() == 0 {
		// As root mosquitto otherwise drops to user "mosquitto", which
		// cannot write to a private temp dir.
		s.WriteString("user root\n")
	}
	if b.extra != "" {
		s.WriteString(b.extra + "\n")
	}
	return s.String()
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("brokertest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RefusedAddr returns a loopback "host:port" with nothing listening, for
// testing connection-refused paths.
func RefusedAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return loopback(p), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
