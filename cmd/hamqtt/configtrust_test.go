package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConfigCheckRefusesWhatIsNotAFile: config check reads only regular files of a bounded
// size. A device is not read (/dev/zero used to run the command out of memory), a FIFO does
// not block it, and TLS files named by the configuration are held to the same rules.
func TestConfigCheckRefusesWhatIsNotAFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, kind string }{
		{"/dev/zero", "a character device"},
		{"/dev/null", "a character device"},
		{fifo, "a named pipe"},
		{t.TempDir(), "a directory"},
	} {
		r := hamqtt(t, "", "config", "check", c.path)
		expectCode(t, r, 1)
		if want := "cannot read the configuration file " + c.path + ": not a regular file (" + c.kind + "): give the path of a regular file"; !strings.Contains(r.stderr, want) {
			t.Errorf("config check %s: stderr lacks %q\n%v", c.path, want, r)
		}
	}
	plain := writeFile(t, "plain.pem", "not read as far as this\n")
	for key, other := range map[string]string{"cafile": "", "certfile": "keyfile", "keyfile": "certfile"} {
		text := "clusters:\n  - name: s\n    connections:\n      - connection: {serverURIs: [ssl://127.0.0.1:8883]}\n        tls:\n          " + key + ": " + fifo + "\n"
		if other != "" {
			text += "          " + other + ": " + plain + "\n"
		}
		cfg := writeFile(t, key+".yaml", text)
		r := hamqtt(t, "", "config", "check", cfg)
		expectCode(t, r, 1)
		if want := cfg + ":6: clusters[0].connections[0].tls." + key; !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, fifo+": not a regular file (a named pipe)") {
			t.Errorf("%s naming a FIFO:\n%v", key, r)
		}
	}
}

// TestConfigCheckBoundsInput: a configuration is at most 1 MiB, from a file or from standard
// input (read no further than that), and names at most 4096 brokers per cluster.
func TestConfigCheckBoundsInput(t *testing.T) {
	big := strings.Repeat("# a comment line of padding, padding, padding, padding\n", 40000) // 2.2 MB
	path := writeFile(t, "big.yaml", big)
	r := hamqtt(t, "", "config", "check", path)
	expectCode(t, r, 1)
	if want := "cannot read the configuration file " + path + ": file too large"; !strings.Contains(r.stderr, want) {
		t.Errorf("2 MB file:\n%v", r)
	}
	r = hamqtt(t, big, "config", "check", "-")
	expectCode(t, r, 1)
	if want := "<stdin>: larger than 1 MiB, the most a configuration may have"; !strings.Contains(r.stderr, want) {
		t.Errorf("2 MB on standard input:\n%v", r)
	}

	// An endless standard input: the command stops reading after 1 MiB.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "config", "check", "-")
	cmd.Env = cliEnv()
	cmd.Stdin = io.LimitReader(endless{}, 1<<40)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(errb.String(), "<stdin>: larger than 1 MiB") {
		t.Errorf("endless standard input: %v\n%s", err, errb.String())
	}

	var list strings.Builder
	list.WriteString("clusters:\n  - name: wide\n    connections:\n      - connection:\n          serverURIs: [h0")
	for i := 1; i < 100000; i++ {
		fmt.Fprintf(&list, ",h%d", i)
	}
	list.WriteString("]\n")
	wide := writeFile(t, "wide.yaml", list.String())
	r = hamqtt(t, "", "config", "check", wide)
	expectCode(t, r, 1)
	if want := wide + ":5: clusters[0].connections[0].connection.serverURIs[4096]: the cluster names more than 4096 brokers, the most a cluster may have"; !strings.Contains(r.stderr, want) {
		t.Errorf("100,000 brokers:\n%v", r)
	}

	ka := writeFile(t, "ka.yaml", "clusters:\n  - name: k\n    connections:\n      - connection:\n          serverURIs: [tcp://127.0.0.1:1883]\n          keepAliveInterval: 9223372036854775807\n")
	r = hamqtt(t, "", "config", "check", ka)
	expectCode(t, r, 1)
	if want := ka + ":6: clusters[0].connections[0].connection.keepAliveInterval: 9223372036854775807 seconds is out of range: MQTT's limit is 65535 seconds"; !strings.Contains(r.stderr, want) {
		t.Errorf("keepAliveInterval:\n%v", r)
	}
}

// endless is a stream of YAML comment lines that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	const line = "# more\n"
	for i := range p {
		p[i] = line[i%len(line)]
	}
	return len(p), nil
}
