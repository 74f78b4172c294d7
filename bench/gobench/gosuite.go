package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/hamqtt/hamqtt/core"
	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// brokerExtra lifts Mosquitto's per-client queue limit so that a subscriber that falls behind
// is measured as slow rather than silently losing messages (QoS 0 is dropped above the limit).
const brokerExtra = "max_queued_messages 0\nmax_inflight_messages 64"

type cell struct {
	QoS  byte
	Size int
}

func (c cell) String() string {
	if c.Size >= 1024 {
		return fmt.Sprintf("QoS %d, %d KiB", c.QoS, c.Size/1024)
	}
	return fmt.Sprintf("QoS %d, %d B", c.QoS, c.Size)
}

func cells(smoke bool) []cell {
	if smoke {
		return []cell{{0, 64}, {1, 64}, {2, 1024}}
	}
	var cs []cell
	for _, q := range []byte{0, 1, 2} {
		for _, s := range []int{64, 1024} {
			cs = append(cs, cell{q, s})
		}
	}
	return cs
}

// msgCount sizes a run so that one takes well under a second on a small machine.
func msgCount(c cell, smoke bool) int {
	if smoke {
		return 200
	}
	switch c.QoS {
	case 0:
		return 40000
	case 1:
		return 15000
	}
	return 8000
}

// impl is one client library under test in a throughput cell.
type impl struct {
	name string
	run  func(brokers []*brokertest.Broker, p tpParams) (tpResult, error)
}

// startBrokers starts n fresh brokers with the bench configuration.
func startBrokers(n int) ([]*brokertest.Broker, error) {
	var bs []*brokertest.Broker
	for i := 0; i < n; i++ {
		b, err := brokertest.New(brokertest.Options{ExtraConfig: brokerExtra})
		if err != nil {
			closeBrokers(bs)
			return nil, err
		}
		bs = append(bs, b)
	}
	return bs, nil
}

func closeBrokers(bs []*brokertest.Broker) {
	for _, b := range bs {
		b.Close()
	}
}

func uris(bs []*brokertest.Broker) []string {
	var u []string
	for _, b := range bs {
		u = append(u, b.URI())
	}
	return u
}

// cellRuns runs every impl reps times on fresh brokers, alternating: repetition r starts with
// impl r mod len(impls), so that no library always runs first (or right after another).
// It returns the rates (msg/s) and losses per impl.
func cellRuns(impls []impl, nBrokers int, c cell, n, window, reps int, warm bool) (rates [][]float64, lost []int, err error) {
	bs, err := startBrokers(nBrokers)
	if err != nil {
		return nil, nil, err
	}
	defer closeBrokers(bs)
	rates = make([][]float64, len(impls))
	lost = make([]int, len(impls))
	if warm { // one short unmeasured run each: connections, code paths and GC settle
		for _, im := range impls {
			p := tpParams{QoS: c.QoS, Size: c.Size, N: max(n/10, 100), Window: window, Topic: uniqueID("bench/warm")}
			if _, err := im.run(bs, p); err != nil {
				return nil, nil, fmt.Errorf("%s warm-up: %w", im.name, err)
			}
		}
	}
	for r := 0; r < reps; r++ {
		for k := range impls {
			i := (r + k) % len(impls)
			p := tpParams{QoS: c.QoS, Size: c.Size, N: n, Window: window, Topic: uniqueID("bench/tp")}
			res, err := impls[i].run(bs, p)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %v rep %d: %w", impls[i].name, c, r, err)
			}
			if res.Err != "" {
				logf("%s %v rep %d: %s", impls[i].name, c, r, res.Err)
			}
			rates[i] = append(rates[i], res.rate())
			lost[i] += res.Sent - res.Received
		}
	}
	return rates, lost, nil
}

func fmtRates(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.0f", x))
	}
	return strings.Join(s, " ")
}

// goSuite is section (1): raw paho.mqtt.golang against core with one and three endpoints.
func goSuite(out string, smoke bool, reps, window int, cpuprofile string) error {
	sec := &Section{Name: "go", Title: "Go: core vs raw paho.mqtt.golang (publish-to-receive throughput)", Started: time.Now()}
	sec.Settings = []string{
		fmt.Sprintf("publisher window %d (FIFO of tokens: paho Token / core PublishAsync Token; QoS 0 completes on write, QoS 1/2 on ack)", window),
		"one publisher client and one subscriber client of the same library per run; subscriber QoS = publish QoS",
		"core MQTT 5: the same as core 1 endpoint with both clients speaking MQTT 5 (the engine's own session); its peer stays raw paho.mqtt.golang speaking 3.1.1: there is no MQTT 5 Go peer here, because paho.golang (the Go MQTT 5 client) is not a dependency of the main module (bench/mqtt5codec compares the MQTT 5 codec with paho.golang's packets in a module of its own); the C, Python and Node sections compare hamqtt's MQTT 5 with peers speaking MQTT 5",
		"core 3 endpoints: both clients are 3-endpoint STICKY clusters; the subscriber is subscribed on all three, the publisher sticks to one",
		"3 fresh Mosquitto brokers per cell (max_queued_messages 0, so a slow subscriber is measured instead of losing messages; max_inflight_messages 64 = the window: with the default 20, Mosquitto 2.0.11 acknowledges QoS 2 publishes beyond 20 in flight and drops them); paho and core-1 use the first",
		fmt.Sprintf("%d repetitions per cell, alternating libraries, after one unmeasured warm-up run each; figures are medians", reps),
	}
	if cpuprofile != "" {
		if err := os.MkdirAll(filepath.Dir(cpuprofile), 0o755); err != nil {
			return err
		}
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	impls := []impl{
		{"paho.mqtt.golang", func(bs []*brokertest.Broker, p tpParams) (tpResult, error) { return runPaho(bs[0].URI(), p) }},
		{"core (1 endpoint)", func(bs []*brokertest.Broker, p tpParams) (tpResult, error) { return runCore(uris(bs[:1]), p) }},
		{"core (3 endpoints, STICKY)", func(bs []*brokertest.Broker, p tpParams) (tpResult, error) { return runCore(uris(bs), p) }},
		{"core (1 endpoint, MQTT 5)", func(bs []*brokertest.Broker, p tpParams) (tpResult, error) {
			p.Version = core.MQTT5
			return runCore(uris(bs[:1]), p)
		}},
	}
	for _, c := range cells(smoke) {
		n := msgCount(c, smoke)
		rates, lost, err := cellRuns(impls, 3, c, n, window, reps, !smoke)
		if err != nil {
			return err
		}
		for i := 1; i < len(impls); i++ {
			sec.Rows = append(sec.Rows, Row{Section: "go", Metric: fmt.Sprintf("%v (%d msgs)", c, n), Impl: impls[i].name,
				Peer: impls[0].name, Unit: "msg/s", Value: median(rates[i]), PeerValue: median(rates[0]),
				Reps: rates[i], PeerReps: rates[0], Lost: lost[i], PeerLost: lost[0]})
		}
		logf("go %v: paho [%s] core1 [%s] core3 [%s] core1-v5 [%s]", c, fmtRates(rates[0]), fmtRates(rates[1]), fmtRates(rates[2]), fmtRates(rates[3]))
	}
	sec.Duration = time.Since(sec.Started).Round(time.Second).String()
	return writeSection(out, sec)
}
