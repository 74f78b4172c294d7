package brokertest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ioTimeout = 5 * time.Second

var (
	connack  = []byte{0x20, 0x02, 0x00, 0x00}
	pingreq  = []byte{0xC0, 0x00}
	pingresp = []byte{0xD0, 0x00}
)

// connectPacket is a minimal MQTT 3.1.1 CONNECT: clean session, 60s
// keepalive, client id "bt".
func connectPacket() []byte {
	vh := []byte{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x02, 'b', 't'}
	return append([]byte{0x10, byte(len(vh))}, vh...)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange writes req and reads n bytes, returning what came back
// (or the error) within timeout.
func exchange(c net.Conn, req []byte, n int, timeout time.Duration) ([]byte, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	_, err := io.ReadFull(c, buf)
	return buf, err
}

func mustExchange(t *testing.T, c net.Conn, req, want []byte) {
	t.Helper()
	got, err := exchange(c, req, len(want), ioTimeout)
	if err != nil {
		t.Fatalf("exchange % x: %v", req, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

// mqttConnect dials addr and completes an MQTT handshake.
func mqttConnect(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dial(t, addr)
	mustExchange(t, c, connectPacket(), connack)
	return c
}

func assertRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded, want connection refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want ECONNREFUSED", addr, err)
	}
}

// assertDropped waits for the peer to close c. Closing a socket with unread
// input sends an RST instead of a FIN, so either error is a close.
func assertDropped(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := c.Read(make([]byte, 16))
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v, want EOF or ECONNRESET", err)
	}
}

// assertClosedByPeer waits for c to be closed from the other side, with want
// (io.EOF or ECONNRESET) as the read error.
func assertClosedByPeer(t *testing.T, c net.Conn, want error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := c.Read(make([]byte, 16))
	if !errors.Is(err, want) {
		t.Fatalf("read: %v, want %v", err, want)
	}
}

// assertResetOnConnect checks that a new connection to addr is aborted. On
// loopback the RST can beat the end of connect, so either step may report it.
func assertResetOnConnect(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("dial %s: %v, want ECONNRESET", addr, err)
		}
		return
	}
	defer c.Close()
	assertClosedByPeer(t, c, syscall.ECONNRESET)
}

// assertSilent checks that nothing, not even a close, arrives on c within d.
func assertSilent(t *testing.T, c net.Conn, req []byte, d time.Duration) {
	t.Helper()
	got, err := exchange(c, req, 1, d)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got % x, %v; want a read timeout", got, err)
	}
}

func TestBrokerAcceptsConnect(t *testing.T) {
	b := Start(t)
	if b.Port() == 0 || b.Addr() != "127.0.0.1:"+strconv.Itoa(b.Port()) || b.URI() != "tcp://"+b.Addr() {
		t.Fatalf("bad address: port %d addr %q uri %q", b.Port(), b.Addr(), b.URI())
	}
	if !b.Running() {
		t.Fatal("Running() = false after Start")
	}
	c := mqttConnect(t, b.Addr())
	mustExchange(t, c, pingreq, pingresp)
	if !strings.Contains(b.Log(), "running") {
		t.Fatalf("log lacks the startup line:\n%s", b.Log())
	}
}

func TestBrokerKillRestart(t *testing.T) {
	b := Start(t)
	c := mqttConnect(t, b.Addr())
	port := b.Port()

	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	if b.Running() {
		t.Fatal("Running() = true after Kill")
	}
	assertClosedByPeer(t, c, io.EOF)
	assertRefused(t, b.Addr())
	if err := b.Kill(); err != nil {
		t.Fatalf("second Kill: %v", err)
	}

	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	if b.Port() != port || !b.Running() {
		t.Fatalf("after Restart: port %d (was %d), running %v", b.Port(), port, b.Running())
	}
	mqttConnect(t, b.Addr())

	// Restarting a running broker replaces it.
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	mqttConnect(t, b.Addr())
}

func TestBrokerRestartWaitsForPort(t *testing.T) {
	b := Start(t)
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	squatter, err := net.Listen("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	restarted := make(chan error, 1)
	go func() { restarted <- b.Restart() }()
	// Free the port only once Restart has demonstrably failed to bind it.
	waitFor(t, func() bool { return strings.Contains(b.Log(), "Address already in use") }, "a failed bind")
	squatter.Close()
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * startTimeout):
		t.Fatal("Restart hung")
	}
	mqttConnect(t, b.Addr())
}

func TestBrokerStopAndClose(t *testing.T) {
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mqttConnect(t, b.Addr())
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if b.Running() {
		t.Fatal("Running() = true after Stop")
	}
	assertRefused(t, b.Addr())
	if err := b.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if !strings.Contains(b.Log(), "terminating") {
		t.Fatalf("log lacks a graceful shutdown:\n%s", b.Log())
	}
	if err := b.WaitReady(100 * time.Millisecond); err == nil {
		t.Fatal("WaitReady succeeded on a stopped broker")
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(b.Dir()); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s still there after Close: %v", b.Dir(), err)
	}
	if err := b.Restart(); err == nil {
		t.Fatal("Restart after Close succeeded")
	}
}

func TestBrokerOptions(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	extra, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b, err := New(Options{Port: port, Dir: dir, ExtraConfig: "listener " + strconv.Itoa(extra) + " 127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Port() != port {
		t.Fatalf("Port() = %d, want %d", b.Port(), port)
	}
	mqttConnect(t, b.Addr())
	mqttConnect(t, "127.0.0.1:"+strconv.Itoa(extra))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// A caller-provided Dir is kept for post-mortems.
	if _, err := os.Stat(filepath.Join(dir, "mosquitto.log")); err != nil {
		t.Fatal(err)
	}
}

func TestBrokerStartupErrors(t *testing.T) {
	err := newErr(Options{ExtraConfig: "bogus_option 1"})
	if err == nil || !strings.Contains(err.Error(), "bogus_option") {
		t.Fatalf("bad config: got %v, want an error quoting the log", err)
	}

	// A fixed port that is taken must fail fast with the bind error rather
	// than wander off to another port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = newErr(Options{Port: ln.Addr().(*net.TCPAddr).Port})
	if err == nil || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("busy port: got %v, want the bind error", err)
	}

	t.Setenv("HAMQTT_MOSQUITTO", filepath.Join(t.TempDir(), "no-such-mosquitto"))
	if _, err := MosquittoPath(); err == nil || !strings.Contains(err.Error(), "HAMQTT_MOSQUITTO") {
		t.Fatalf("MosquittoPath with a bad override: %v", err)
	}
	if err := newErr(Options{}); err == nil {
		t.Fatal("New with a bad mosquitto path succeeded")
	}
}

// newErr returns New's error, closing the broker if New wrongly succeeded.
func newErr(opts Options) error {
	b, err := New(opts)
	if err == nil {
		b.Close()
	}
	return err
}

func TestStartN(t *testing.T) {
	bs := StartN(t, 3)
	seen := map[int]bool{}
	for _, b := range bs {
		if seen[b.Port()] {
			t.Fatalf("port %d used twice", b.Port())
		}
		seen[b.Port()] = true
		mqttConnect(t, b.Addr())
	}
}

func TestRefusedAddr(t *testing.T) {
	addr, err := RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	assertRefused(t, addr)
}

func TestProxyPass(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	if p.URI() != "tcp://127.0.0.1:"+strconv.Itoa(p.Port()) || p.Addr() == b.Addr() {
		t.Fatalf("bad proxy address %q", p.URI())
	}
	c := mqttConnect(t, p.Addr())
	mustExchange(t, c, pingreq, pingresp)
	if p.Accepted() != 1 || p.Active() != 1 || len(p.AcceptTimes()) != 1 {
		t.Fatalf("accepted %d, active %d, times %v; want 1, 1, 1", p.Accepted(), p.Active(), p.AcceptTimes())
	}
	c.Close()
	waitFor(t, func() bool { return p.Active() == 0 }, "Active() back to 0")
}

func TestProxyRecordsWhatClientsSend(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	before := mqttConnect(t, p.Addr()) // before Record: not kept
	mustExchange(t, before, pingreq, pingresp)
	p.Record()
	c := mqttConnect(t, p.Addr())
	mustExchange(t, c, pingreq, pingresp)
	mustExchange(t, c, pingreq, pingresp)
	sent := p.Sent()
	want := append(append(connectPacket(), pingreq...), pingreq...)
	var got []byte
	for _, s := range sent {
		if len(s) > len(pingreq) { // the earlier connection only records what it sent after Record
			got = s
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("recorded %x (of %d streams), want %x", got, len(sent), want)
	}
}

func TestProxyBlackhole(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	old := mqttConnect(t, p.Addr())

	p.SetMode(Blackhole)
	assertSilent(t, old, pingreq, 500*time.Millisecond)
	fresh := dial(t, p.Addr())
	assertSilent(t, fresh, connectPacket(), 500*time.Millisecond)
	if p.Active() != 2 || p.Accepted() != 2 {
		t.Fatalf("active %d, accepted %d; want 2, 2", p.Active(), p.Accepted())
	}

	// Healing resumes the old stream; the connection made during the
	// partition never reached the broker and is dropped.
	p.SetMode(Pass)
	mustExchange(t, old, pingreq, pingresp)
	assertClosedByPeer(t, fresh, io.EOF)
}

func TestProxyBlackholeHidesClose(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	c := mqttConnect(t, p.Addr())
	p.SetMode(Blackhole)
	c.Close()
	waitFor(t, func() bool { return p.Active() == 0 }, "client close noticed")
	// Taking over the client id proves the broker still held the old
	// connection: the close did not cross the partition.
	mqttConnect(t, b.Addr())
	if !strings.Contains(b.Log(), "already connected") {
		t.Fatalf("broker saw the close through the blackhole:\n%s", b.Log())
	}
}

func TestProxyHealDeliversClose(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	c := mqttConnect(t, p.Addr())
	p.SetMode(Blackhole)
	c.Close()
	waitFor(t, func() bool { return p.Active() == 0 }, "client close noticed")
	p.SetMode(Pass)
	waitFor(t, func() bool { return strings.Contains(b.Log(), "Client bt closed its connection") }, "the broker to see the close")
}

func TestProxyReset(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	old := mqttConnect(t, p.Addr())

	p.SetMode(Reset)
	assertClosedByPeer(t, old, syscall.ECONNRESET)
	assertResetOnConnect(t, p.Addr())
	if p.Accepted() != 2 {
		t.Fatalf("Accepted() = %d, want 2", p.Accepted())
	}
	waitFor(t, func() bool { return p.Active() == 0 }, "Active() back to 0")

	p.SetMode(Pass)
	mqttConnect(t, p.Addr())
}

func TestProxyDelay(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	const d = 150 * time.Millisecond
	p.SetDelay(d)
	p.SetMode(Delay)
	start := time.Now()
	c := mqttConnect(t, p.Addr())
	if rtt := time.Since(start); rtt < 2*d {
		t.Fatalf("CONNECT round trip took %v, want >= %v", rtt, 2*d)
	}

	// Chunks written separately must come back in order.
	c.SetDeadline(time.Now().Add(ioTimeout))
	for i := 0; i < 3; i++ {
		if _, err := c.Write(pingreq); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, 3*len(pingresp))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, bytes.Repeat(pingresp, 3)) {
		t.Fatalf("got % x, %v", got, err)
	}

	p.SetMode(Pass)
	start = time.Now()
	mustExchange(t, c, pingreq, pingresp)
	if rtt := time.Since(start); rtt >= d {
		t.Fatalf("Pass round trip took %v, want < %v", rtt, d)
	}

	// A chunk held back by a long delay must not keep Close waiting.
	p.SetDelay(time.Hour)
	p.SetMode(Delay)
	if _, err := c.Write(pingreq); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return p.held.Load() == 1 }, "the ping to be held")
	closeWithin(t, p, ioTimeout)
	assertDropped(t, c)
}

func closeWithin(t *testing.T, p *Proxy, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		t.Fatal("Close hung")
	}
}

func TestProxyAcceptClose(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	old := mqttConnect(t, p.Addr())

	p.SetMode(AcceptClose)
	for i := 0; i < 3; i++ {
		assertClosedByPeer(t, dial(t, p.Addr()), io.EOF)
	}
	if p.Accepted() != 4 || len(p.AcceptTimes()) != 4 {
		t.Fatalf("Accepted() = %d, want 4", p.Accepted())
	}
	times := p.AcceptTimes()
	for i := 1; i < len(times); i++ {
		if times[i].Before(times[i-1]) {
			t.Fatalf("AcceptTimes not in order: %v", times)
		}
	}
	mustExchange(t, old, pingreq, pingresp)
}

func TestProxyRefuse(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	old := mqttConnect(t, p.Addr())

	p.SetMode(Refuse)
	assertRefused(t, p.Addr())
	if p.Accepted() != 1 {
		t.Fatalf("Accepted() = %d, want 1", p.Accepted())
	}
	mustExchange(t, old, pingreq, pingresp)

	p.SetMode(Pass)
	mqttConnect(t, p.Addr())
	if p.Accepted() != 2 {
		t.Fatalf("Accepted() = %d, want 2", p.Accepted())
	}
}

func TestProxyTargetDown(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	c := mqttConnect(t, p.Addr())
	if err := b.Kill(); err != nil {
		t.Fatal(err)
	}
	assertClosedByPeer(t, c, io.EOF)
	assertResetOnConnect(t, p.Addr())
}

func TestProxyCloseLeavesNoGoroutines(t *testing.T) {
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close() // on failure; success closes it before checking for leaks
	p, err := NewProxy(b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	passing := mqttConnect(t, p.Addr())
	p.SetMode(Refuse)
	p.SetMode(Blackhole) // listens again
	sink := dial(t, p.Addr())
	waitFor(t, func() bool { return p.Accepted() == 2 }, "both accepts")
	if _, err := passing.Write(pingreq); err != nil {
		t.Fatal(err)
	}
	closeWithin(t, p, ioTimeout)
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	assertDropped(t, passing)
	assertDropped(t, sink)
	assertRefused(t, p.Addr())
	p.SetMode(Pass) // must not re-listen once closed
	assertRefused(t, p.Addr())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t)
}

// TestProxyConcurrentModes flips modes while clients hammer the proxy, for
// the race detector and to prove Close copes with any interleaving.
func TestProxyConcurrentModes(t *testing.T) {
	b := Start(t)
	p := StartProxy(t, b.Addr())
	p.SetDelay(time.Millisecond)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
				if err != nil {
					continue
				}
				exchange(c, connectPacket(), len(connack), 50*time.Millisecond)
				exchange(c, pingreq, len(pingresp), 50*time.Millisecond)
				c.Close()
			}
		}()
	}
	// Each mode lasts a millisecond (pacing, not waiting for a condition),
	// until enough connections have met a variety of modes.
	deadline := time.Now().Add(ioTimeout)
	for i := 0; p.Accepted() < 50 && time.Now().Before(deadline); i++ {
		p.SetMode(Mode(i % 6))
		p.Active()
		p.AcceptTimes()
		time.Sleep(time.Millisecond)
	}
	p.SetMode(Pass)
	close(stop)
	wg.Wait()
	mqttConnect(t, p.Addr())
	if p.Accepted() == 0 {
		t.Fatal("no connection got through")
	}
}

// waitFor polls cond until it holds or the I/O timeout expires.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
