package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
	"go.uber.org/goleak"
)

// binPath is the hamqtt binary built once by TestMain, with the race detector when the tests
// run with it, and with the leakcheck tag so that the binary itself fails on leaked goroutines.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hamqtt-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "hamqtt")
	args := []string{"build", "-tags", "leakcheck", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	build := exec.Command(gobin, append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building hamqtt: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cliEnv is the environment of every hamqtt run: no config file from the developer's shell.
func cliEnv(extra ...string) []string {
	// The race detector sleeps 1s at exit unless told otherwise.
	env := []string{"HAMQTT_CONFIG=", "NO_COLOR=1", "GORACE=atexit_sleep_ms=0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HAMQTT_CONFIG=") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// result is a finished hamqtt run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s\n--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// hamqtt runs the binary to completion with stdin and returns what it printed.
func hamqtt(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = cliEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("hamqtt %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("hamqtt %s did not finish in time\n%v", strings.Join(args, " "), r)
	}
	checkBinaryHealth(t, r.stderr)
	return r
}

// checkBinaryHealth fails the test when the binary reported a data race or a goroutine leak.
func checkBinaryHealth(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "WARNING: DATA RACE") {
		t.Errorf("the hamqtt binary reported a data race:\n%s", stderr)
	}
	if strings.Contains(stderr, "leaked goroutines") {
		t.Errorf("the hamqtt binary leaked goroutines:\n%s", stderr)
	}
}

// syncBuffer collects a stream and lets tests wait for what it should contain.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the stream matches re or timeout passes.
func (b *syncBuffer) waitFor(re *regexp.Regexp, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		ok := re.Match(b.buf.Bytes())
		ch := b.changed
		b.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// proc is a hamqtt run in the background.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// start runs hamqtt in the background; the test's cleanup kills it if it is still running.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = cliEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting hamqtt %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitStderr waits until stderr matches pattern, failing the test otherwise.
func (p *proc) waitStderr(pattern string, timeout time.Duration) {
	p.t.Helper()
	if !p.stderr.waitFor(regexp.MustCompile(pattern), timeout) {
		p.t.Fatalf("hamqtt stderr did not match %q within %v\n--- stdout:\n%s\n--- stderr:\n%s", pattern, timeout, p.stdout, p.stderr)
	}
}

// wait waits for the process to exit and returns its result.
func (p *proc) wait(timeout time.Duration) result {
	p.t.Helper()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("hamqtt did not exit within %v\n--- stdout:\n%s\n--- stderr:\n%s", timeout, p.stdout, p.stderr)
	}
	r := result{stdout: p.stdout.String(), stderr: p.stderr.String()}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		r.code = ee.ExitCode()
	} else if p.err != nil {
		p.t.Fatalf("hamqtt: %v", p.err)
	}
	checkBinaryHealth(p.t, r.stderr)
	return r
}

func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal: %v", err)
	}
}

// endpointList is the -endpoints value for brokers.
func endpointList(bs []*brokertest.Broker) string {
	var uris []string
	for _, b := range bs {
		uris = append(uris, b.URI())
	}
	return strings.Join(uris, ",")
}

// subscribed is what sub prints on stderr once its subscriptions are made.
const subscribed = `(?m)^subscribed to `

func expectCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit status %d, got\n%v", code, r)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
