package brokertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Kind names a broker implementation that the tests can run.
type Kind string

// The broker implementations the tests run. Each listens only on 127.0.0.1.
const (
	// Mosquitto (Debian's mosquitto package): MQTT 3.1, 3.1.1 and 5.
	Mosquitto Kind = "mosquitto"
	// RabbitMQ (Debian's rabbitmq-server package) with its MQTT plugin: MQTT 3.1 and 3.1.1.
	RabbitMQ Kind = "rabbitmq"
	// Aedes (the npm package, run by internal/brokertest/aedes/server.mjs under Node.js):
	// MQTT 3.1 and 3.1.1.
	Aedes Kind = "aedes"
)

// Kinds lists every implementation, Mosquitto first.
var Kinds = []Kind{Mosquitto, RabbitMQ, Aedes}

// Server is a broker process that tests start on a free loopback port, crash, restart on the
// same port and close: a Mosquitto *Broker, a *RabbitMQBroker or an *AedesBroker. Every method
// is safe for concurrent use.
type Server interface {
	// Kind says which implementation this is.
	Kind() Kind
	// Version is the implementation's version as the running process reported it when it
	// started (for RabbitMQ with the Erlang release, "3.10.8 (Erlang 25.2.3)"); empty if it
	// never said.
	Version() string
	// Port is the MQTT listener's port, the same across Restart.
	Port() int
	// Addr is "127.0.0.1:PORT".
	Addr() string
	// URI is "tcp://127.0.0.1:PORT".
	URI() string
	// Running reports whether the broker process is alive.
	Running() bool
	// Kill sends SIGKILL (a crash) and returns once the process is gone. A no-op when stopped.
	Kill() error
	// Stop shuts the broker down gracefully, falling back to SIGKILL.
	Stop() error
	// Restart starts the broker again on the same port, killing it first if it runs, and
	// returns once it accepts MQTT connections.
	Restart() error
	// Close kills the broker for good and removes what New created. Idempotent.
	Close() error
	// Log is the broker's log (every run), for failure messages.
	Log() string
}

var (
	_ Server = (*Broker)(nil)
	_ Server = (*RabbitMQBroker)(nil)
	_ Server = (*AedesBroker)(nil)
)

// NewServer starts a broker of the given kind on a free loopback port with default options
// and returns once it accepts MQTT connections. The caller must Close it. A RabbitMQ node
// takes several seconds to start: tests share one per package (see StartServer's note).
func NewServer(k Kind) (Server, error) {
	switch k {
	case Mosquitto:
		return New(Options{})
	case RabbitMQ:
		return NewRabbitMQ(RabbitMQOptions{})
	case Aedes:
		return NewAedes(AedesOptions{})
	}
	return nil, fmt.Errorf("brokertest: unknown broker kind %q (mosquitto, rabbitmq, aedes)", k)
}

// StartServer is NewServer tied to t: the broker is closed by t.Cleanup (its log tail is
// logged if t failed), and a startup failure is fatal. Tests that need RabbitMQ in many
// places should share one (NewServer, closed after m.Run in TestMain): a node takes seconds.
func StartServer(t testing.TB, k Kind) Server {
	t.Helper()
	s, err := NewServer(k)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("brokertest: log of %s broker %s:\n%s", s.Kind(), s.Addr(), tail(s.Log(), 40))
		}
		if err := s.Close(); err != nil {
			t.Errorf("brokertest: closing %s broker %s: %v", s.Kind(), s.Addr(), err)
		}
	})
	return s
}

// Kind returns Mosquitto.
func (b *Broker) Kind() Kind { return Mosquitto }

var mosquittoVersion = regexp.MustCompile(`mosquitto version (\S+) starting`)

// Version returns the version mosquitto logged when it last started ("2.0.11").
func (b *Broker) Version() string { return lastMatch(mosquittoVersion, b.Log()) }

// lastMatch returns the first group of re's last match in s, or "".
func lastMatch(re *regexp.Regexp, s string) string {
	m := re.FindAllStringSubmatch(s, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// startProcess starts cmd in a process group of its own (killed with the test binary, see
// sysProcAttr) and reaps it in the background.
func startProcess(cmd *exec.Cmd) (*process, error) {
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// killGroup SIGKILLs p's whole process group (a broker's helper processes die with it) and
// waits until p has been reaped.
func killGroup(p *process) error {
	if p == nil || p.exited() {
		return nil
	}
	err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		err = nil
	}
	if err != nil {
		// Not a group leader after all: the process alone.
		err = p.cmd.Process.Signal(syscall.SIGKILL)
		if errors.Is(err, os.ErrProcessDone) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("brokertest: kill: %w", err)
	}
	<-p.done
	return nil
}

// terminate sends SIGTERM to p and waits up to grace for it to exit, then SIGKILLs its group.
func terminate(p *process, grace time.Duration) error {
	if p == nil || p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("brokertest: stop: %w", err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		// Helpers left behind in the group (none expected) go too.
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		return nil
	case <-t.C:
		return killGroup(p)
	}
}

// fileSize returns the size of path, 0 if it does not exist.
func fileSize(path string) int {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return int(st.Size())
}

// readFrom returns path's content from offset on ("" if shorter).
func readFrom(path string, offset int) string {
	data, _ := os.ReadFile(path)
	if len(data) < offset {
		return ""
	}
	return string(data[offset:])
}

// supervisor is what every broker kind keeps about its process: its directory and port, the
// current run, and the lock that serialises starting and stopping it. Each kind embeds one
// and adds only how it launches and how it tells that a launch serves.
type supervisor struct {
	dir    string
	ownDir bool // dir was made by New and goes with Close
	port   int  // the MQTT port, fixed once New returns

	mu     sync.Mutex // serialises lifecycle operations
	proc   atomic.Pointer[process]
	closed bool
}

// makeDir creates the given directory, or a new temporary one named after prefix that close
// removes.
func (s *supervisor) makeDir(prefix string) error {
	var err error
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", prefix); err != nil {
			return fmt.Errorf("brokertest: %w", err)
		}
		s.ownDir = true
	} else if err = os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	return nil
}

// startOn launches on port, or on a free port when port is 0. A picked port can be taken by
// someone else before the broker binds it; only then is another port worth a try.
func (s *supervisor) startOn(port int, deadline time.Time, busy error, launch func(deadline time.Time) error) error {
	if port != 0 {
		s.port = port
		return launch(deadline)
	}
	return retryWhileBusy(deadline, busy, 0, func(deadline time.Time) error {
		var err error
		if s.port, err = FreePort(); err != nil {
			return err
		}
		return launch(deadline)
	})
}

// retryWhileBusy calls launch until it succeeds, fails for another reason than busy (a port
// that someone else, or the previous run's lingering sockets, still holds), or deadline has
// passed, pausing between tries.
func retryWhileBusy(deadline time.Time, busy error, pause time.Duration, launch func(deadline time.Time) error) error {
	for {
		err := launch(deadline)
		if err == nil || !errors.Is(err, busy) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pause)
	}
}

// restart kills the running process and relaunches, under the lock; what names the broker
// in the error for a closed one.
func (s *supervisor) restart(what string, relaunch func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("brokertest: restart of a closed " + what)
	}
	if err := killGroup(s.proc.Load()); err != nil {
		return err
	}
	return relaunch()
}

func (s *supervisor) running() bool {
	p := s.proc.Load()
	return p != nil && !p.exited()
}

func (s *supervisor) kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return killGroup(s.proc.Load())
}

func (s *supervisor) stop(grace time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return terminate(s.proc.Load(), grace)
}

// close kills the process for good, then (still under the lock) the kind's helper processes
// if killHelpers is not nil, and removes the directory if makeDir created it. Idempotent.
func (s *supervisor) close(killHelpers func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := killGroup(s.proc.Load())
	if killHelpers != nil {
		err = errors.Join(err, killHelpers())
	}
	if s.ownDir {
		err = errors.Join(err, os.RemoveAll(s.dir))
	}
	return err
}

// readiness says how one launch of a broker shows that it serves.
type readiness struct {
	addr string
	// logged reports whether this run's log says the broker is up. A successful connect
	// alone could reach another process that owns the port while ours fails to bind it.
	logged     func() bool
	notLogged  string                 // the error while logged is false
	exited     func() error           // why the process exited during startup
	timedOut   func(last error) error // the error once the deadline has passed
	pause      time.Duration          // between polls
	onceServed func()                 // if not nil, runs after the first connect, before it is closed
}

// awaitServing polls p until its log says it is up and a TCP connection succeeds, it exits,
// or deadline passes (then its group is killed, so that no half-started broker lingers).
func awaitServing(p *process, deadline time.Time, r readiness) error {
	for {
		if p.exited() {
			return r.exited()
		}
		err := errors.New(r.notLogged)
		if r.logged() {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", r.addr, 200*time.Millisecond); err == nil {
				if r.onceServed != nil {
					r.onceServed()
				}
				return c.Close()
			}
		}
		if time.Now().After(deadline) {
			killGroup(p)
			return r.timedOut(err)
		}
		time.Sleep(r.pause)
	}
}

// appendLog opens path for appending a run's output and returns where that output begins.
func appendLog(path string) (out *os.File, start int, err error) {
	out, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("brokertest: %w", err)
	}
	return out, fileSize(path), nil
}

// loopback returns "127.0.0.1:port".
func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
