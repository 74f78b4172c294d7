package churn

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// trialLog is the per-trial log file: the harness's own events (kills, restarts, phases) and
// every line the clients write to stderr, each stamped with the time since the trial began.
type trialLog struct {
	mu    sync.Mutex
	f     *os.File
	path  string
	start time.Time
}

func newTrialLog(path string, start time.Time) (*trialLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &trialLog{f: f, path: path, start: start}, nil
}

func (l *trialLog) printf(format string, a ...any) {
	line := fmt.Sprintf(format, a...)
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.f, "%8.3fs %s\n", time.Since(l.start).Seconds(), line)
}

func (l *trialLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// Tail returns the last n lines of the file at path (a trial's log, for failure reports).
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lineWriter hands every complete line written to it to fn (without the newline); flush
// hands over a last line that had no newline.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.fn(string(w.buf))
		w.buf = nil
	}
}

// child is one client process, started in a process group of its own so that a wrapper
// (go run, a shell script) and what it runs get the same signals.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process was reaped and its output parsed
	state  *os.ProcessState
}

func startChild(name string, c command, dir string, env []string, stdout func(string), lg *trialLog) (*child, error) {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), c.env...)
	out := &lineWriter{fn: stdout}
	errw := &lineWriter{fn: func(s string) { lg.printf("%s: %s", name, s) }}
	cmd.Stdout, cmd.Stderr = out, errw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A grandchild that keeps the pipes open must not hold Wait up for ever.
	cmd.WaitDelay = 3 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %q: %w", name, c.argv, err)
	}
	lg.printf("harness: started %s (pid %d): %s", name, cmd.Process.Pid, strings.Join(append(append([]string{}, c.env...), c.argv...), " "))
	ch := &child{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		out.flush()
		errw.flush()
		ch.state = cmd.ProcessState
		lg.printf("harness: %s exited: %s", name, exitText(cmd.ProcessState, err))
		close(ch.exited)
	}()
	return ch, nil
}

func exitText(st *os.ProcessState, err error) string {
	if st != nil {
		return st.String()
	}
	if err != nil {
		return err.Error()
	}
	return "unknown"
}

func (c *child) hasExited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// signal sends sig to the child's process group while the child has not been reaped (after
// that its id may belong to someone else).
func (c *child) signal(sig syscall.Signal) {
	if c.hasExited() {
		return
	}
	if err := syscall.Kill(-c.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		c.cmd.Process.Signal(sig)
	}
}

// waitExit waits up to d for the child to exit.
func (c *child) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-t.C:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL if the child has not exited within grace, and waits for it.
// It reports whether SIGKILL was needed.
func (c *child) stop(grace time.Duration) (killed bool) {
	c.signal(syscall.SIGTERM)
	if c.waitExit(grace) {
		return false
	}
	c.signal(syscall.SIGKILL)
	<-c.exited
	return true
}

// exitCode is the child's exit status once it exited: -1 when a signal ended it.
func (c *child) exitCode() int {
	if c.state == nil {
		return -1
	}
	return c.state.ExitCode()
}

func (c *child) status() string {
	if c.state == nil {
		return "not exited"
	}
	return c.state.String()
}
