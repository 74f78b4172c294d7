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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	bin, dir string
	ownDir   bool
	extra    string
	port     int // fixed once New returns

	mu     sync.Mutex // serialises lifecycle operations
	proc   atomic.Pointer[process]
	closed bool
}

// process is one run of mosquitto; done is closed once it has been reaped.
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
	b := &Broker{bin: bin, dir: opts.Dir, extra: opts.ExtraConfig, port: opts.Port}
	if b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "hamqtt-mosquitto-"); err != nil {
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
		// A picked port can be taken by someone else before mosquitto binds
		// it; only then is another port worth a try.
		if err == nil || opts.Port != 0 || !errors.Is(err, errPortBusy) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
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
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// URI returns "tcp://127.0.0.1:PORT", the form MQTT clients take.
func (b *Broker) URI() string { return "tcp://" + b.Addr() }

// Dir returns the directory holding mosquitto.conf and mosquitto.log.
func (b *Broker) Dir() string { return b.dir }

// Running reports whether the mosquitto process is alive.
func (b *Broker) Running() bool {
	p := b.proc.Load()
	return p != nil && !p.exited()
}

// Kill sends SIGKILL, simulating a crash, and returns once the process has
// been reaped. Killing a stopped broker is a no-op.
func (b *Broker) Kill() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.kill()
}

func (b *Broker) kill() error {
	p := b.proc.Load()
	if p == nil || p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("brokertest: kill mosquitto: %w", err)
	}
	<-p.done
	return nil
}

// Stop shuts the broker down gracefully with SIGTERM, falling back to
// SIGKILL if it has not exited within 5s.
func (b *Broker) Stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.proc.Load()
	if p == nil || p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("brokertest: stop mosquitto: %w", err)
	}
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return b.kill()
	}
}

// Restart starts the broker again on the same port (killing it first if it
// is still running) and returns once it accepts connections. Sessions are
// lost unless ExtraConfig enabled persistence.
func (b *Broker) Restart() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("brokertest: restart of a closed broker")
	}
	if err := b.kill(); err != nil {
		return err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		// The old listening socket or its connections can still hold the
		// port for a moment, so a failed bind is retried rather than fatal.
		err := b.launch(deadline)
		if err == nil || !errors.Is(err, errPortBusy) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	data, _ := os.ReadFile(filepath.Join(b.dir, "mosquitto.log"))
	return string(data)
}

// Close kills the broker and removes its directory if New created it. It is
// idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.kill()
	if b.ownDir {
		err = errors.Join(err, os.RemoveAll(b.dir))
	}
	return err
}

// launch writes the config, starts mosquitto on b.port and waits until it
// accepts connections. Callers hold b.mu (or own b exclusively).
func (b *Broker) launch(deadline time.Time) error {
	conf := filepath.Join(b.dir, "mosquitto.conf")
	logPath := filepath.Join(b.dir, "mosquitto.log")
	if err := os.WriteFile(conf, []byte(b.config(logPath)), 0o644); err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	// mosquitto writes errors that precede opening its log file (bad config)
	// to stderr; sending them to the same file keeps Log complete.
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	defer out.Close()
	st, err := out.Stat()
	if err != nil {
		return fmt.Errorf("brokertest: %w", err)
	}
	logStart := int(st.Size())
	cmd := exec.Command(b.bin, "-c", conf)
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.dir, out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("brokertest: start %s: %w", b.bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait() // reap promptly so a killed broker never lingers as a zombie
		close(p.done)
	}()
	b.proc.Store(p)

	logged := func(s string) bool { // only this run's lines count
		log := b.Log()
		return len(log) >= logStart && strings.Contains(log[logStart:], s)
	}
	for {
		if p.exited() {
			why := errors.New("mosquitto exited during startup")
			if logged("Address already in use") {
				why = errPortBusy
			}
			return fmt.Errorf("brokertest: port %d: %w (%s); log tail:\n%s", b.port, why, cmd.ProcessState, tail(b.Log(), 20))
		}
		// A successful connect alone could reach another process that owns
		// the port while ours fails to bind it; mosquitto logs "running" only
		// once all its listeners are bound.
		var err error = errors.New(`no "running" line in the log yet`)
		if logged(" running") {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", b.Addr(), 200*time.Millisecond); err == nil {
				return c.Close()
			}
		}
		if time.Now().After(deadline) {
			b.kill()
			return fmt.Errorf("brokertest: mosquitto on port %d not ready within %v: %w; log tail:\n%s", b.port, startTimeout, err, tail(b.Log(), 20))
		}
		time.Sleep(pollInterval)
	}
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
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
