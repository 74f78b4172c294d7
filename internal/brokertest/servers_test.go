package brokertest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServerLifecycle runs each implementation through what the failover tests do to it: an
// MQTT handshake, SIGKILL (connections drop, the port refuses), a restart on the same port, a
// graceful stop, and Close, which leaves no process and no directory behind.
func TestServerLifecycle(t *testing.T) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			start := time.Now()
			s, err := NewServer(k)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			t.Logf("%s %s on %s started in %v", k, s.Version(), s.Addr(), time.Since(start).Round(time.Millisecond))
			if s.Kind() != k {
				t.Errorf("Kind() = %q", s.Kind())
			}
			if !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(s.Version()) {
				t.Errorf("Version() = %q, want a version number", s.Version())
			}
			if s.URI() != "tcp://"+s.Addr() || !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
				t.Errorf("URI %q, Addr %q", s.URI(), s.Addr())
			}
			c := mqttConnect(t, s.Addr())
			mustExchange(t, c, pingreq, pingresp)
			if r, ok := s.(*RabbitMQBroker); ok {
				checkLoopbackOnly(t, r)
			}

			if err := s.Kill(); err != nil {
				t.Fatal(err)
			}
			if s.Running() {
				t.Fatal("Running() after Kill")
			}
			assertDropped(t, c)
			assertRefused(t, s.Addr())
			if err := s.Kill(); err != nil {
				t.Fatalf("second Kill: %v", err)
			}

			port := s.Port()
			start = time.Now()
			if err := s.Restart(); err != nil {
				t.Fatal(err)
			}
			t.Logf("restarted after SIGKILL in %v", time.Since(start).Round(time.Millisecond))
			if s.Port() != port || !s.Running() {
				t.Fatalf("after Restart: port %d (was %d), running %v", s.Port(), port, s.Running())
			}
			c = mqttConnect(t, s.Addr())
			mustExchange(t, c, pingreq, pingresp)

			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
			assertDropped(t, c)
			assertRefused(t, s.Addr())

			var dir string
			switch b := s.(type) {
			case *Broker:
				dir = b.Dir()
			case *RabbitMQBroker:
				dir = b.Dir()
				if !strings.Contains(b.Log(), "Server startup complete") {
					t.Errorf("log lacks the startup line:\n%s", tail(b.Log(), 20))
				}
			case *AedesBroker:
				dir = b.dir
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("directory %s left behind: %v", dir, err)
			}
			if err := s.Restart(); err == nil {
				t.Error("Restart after Close succeeded")
			}
		})
	}
}

// checkLoopbackOnly asserts that every socket the node listens on (MQTT, the Erlang
// distribution; no AMQP) is on 127.0.0.1, and that its epmd answers there: the tests never use
// another address.
func checkLoopbackOnly(t *testing.T, b *RabbitMQBroker) {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.epmdPort)), ioTimeout)
	if err != nil {
		t.Fatalf("epmd: %v", err)
	}
	c.Close()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skip("no /proc/net/tcp:", err)
	}
	inodes := socketInodes(t, b.proc.Load().cmd.Process.Pid)
	var listening []string
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
			continue
		}
		listening = append(listening, f[1])
		if !strings.HasPrefix(f[1], "0100007F:") {
			t.Errorf("the node listens on %s (not 127.0.0.1)", f[1])
		}
	}
	if want := []string{fmt.Sprintf("0100007F:%04X", b.distPort), fmt.Sprintf("0100007F:%04X", b.port)}; !sameSet(listening, want) {
		t.Errorf("the node listens on %q, want %q (distribution, MQTT)", listening, want)
	}
	if !strings.HasSuffix(b.Node(), "@localhost") {
		t.Errorf("node name %q", b.Node())
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func socketInodes(t *testing.T, pid int) map[string]bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		t.Skip("cannot read the node's descriptors:", err)
	}
	out := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			out[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	return out
}
