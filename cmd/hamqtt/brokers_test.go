package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// startBrokers runs "hamqtt brokers -ports ports" and waits until its brokers run.
func startBrokers(t *testing.T, ports string) *proc {
	t.Helper()
	p := start(t, "brokers", "-ports", ports)
	if !p.stdout.waitFor(regexp.MustCompile(`Mosquitto brokers running`), subReady) {
		t.Fatalf("hamqtt brokers did not start\n--- stdout:\n%s\n--- stderr:\n%s", p.stdout, p.stderr)
	}
	return p
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// TestBrokersCommand: hamqtt brokers runs a broker per port that a cluster can use, refuses
// a taken port with a message that says so, and stops its brokers on SIGINT.
func TestBrokersCommand(t *testing.T) {
	var ports []string
	for range 2 {
		p, err := brokertest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, strconv.Itoa(p))
	}
	b := startBrokers(t, strings.Join(ports, ","))
	eps := "tcp://127.0.0.1:" + ports[0] + ",tcp://127.0.0.1:" + ports[1]
	sub := start(t, "sub", "-endpoints", eps, "-t", "brokers/x", "-q", "1", "-count", "1", "-duration", "30s")
	sub.waitStderr(subscribed, subReady)
	expectCode(t, hamqtt(t, "", "pub", "-endpoints", eps, "-t", "brokers/x", "-m", "up", "-q", "1"), 0)
	if r := sub.wait(exitWait); r.code != 0 || !strings.HasSuffix(r.stdout, "brokers/x: up\n") {
		t.Fatalf("a cluster over the command's brokers should work\n%v", r)
	}

	taken := hamqtt(t, "", "brokers", "-ports", ports[0])
	expectCode(t, taken, 1)
	if !strings.Contains(taken.stderr, "port "+ports[0]+" on 127.0.0.1 is taken") {
		t.Fatalf("a taken port should be named\n%v", taken)
	}

	b.signal(syscall.SIGINT)
	expectCode(t, b.wait(exitWait), 0)
	for _, p := range ports {
		n, _ := strconv.Atoi(p)
		if !portFree(n) {
			t.Errorf("port %s still taken after hamqtt brokers stopped", p)
		}
	}
}

// TestREADMECommandsRunAsWritten: the hamqtt commands of the README's "The hamqtt command"
// section, against the brokers "make brokers" starts on 127.0.0.1:1883-1885.
func TestREADMECommandsRunAsWritten(t *testing.T) {
	for _, p := range []int{1883, 1884, 1885} {
		if !portFree(p) {
			t.Skipf("port %d is taken on this machine: the README's brokers cannot be started here", p)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	i := strings.Index(section, "## The `hamqtt` command")
	if i < 0 {
		t.Fatal("README has no \"The `hamqtt` command\" section")
	}
	section = section[i:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	var background, foreground [][]string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "bin/hamqtt ") {
			continue
		}
		line = strings.TrimSpace(line)
		bg := strings.HasSuffix(line, "&")
		args := strings.Fields(strings.TrimSuffix(line, "&"))[1:]
		for k, a := range args {
			args[k] = strings.Trim(a, "'")
		}
		if bg {
			background = append(background, args)
		} else {
			foreground = append(foreground, args)
		}
	}
	if len(background) != 1 || len(foreground) != 1 || background[0][0] != "sub" || foreground[0][0] != "pub" {
		t.Fatalf("the README's example changed shape (want one sub in the background, then one pub): %q %q", background, foreground)
	}
	startBrokers(t, "1883-1885")
	sub := start(t, background[0]...)
	sub.waitStderr(subscribed, subReady)
	expectCode(t, hamqtt(t, "", foreground[0]...), 0)
	if !sub.stdout.waitFor(regexp.MustCompile(`sensors/t1: 21.5`), subReady) {
		t.Fatalf("the README's sub did not print the README's pub\n--- stdout:\n%s\n--- stderr:\n%s", sub.stdout, sub.stderr)
	}
}
