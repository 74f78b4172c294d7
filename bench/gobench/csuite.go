package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// runProgram runs one external throughput program and parses the JSON line it prints.
func runProgram(argv []string, env []string) (tpResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res tpResult
	line := lastJSONLine(stdout.String())
	if line == "" {
		return res, fmt.Errorf("%s: no result (%v); stderr: %s", filepath.Base(argv[0]), runErr, tailString(stderr.String(), 400))
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		return res, fmt.Errorf("%s: bad result %q: %w", filepath.Base(argv[0]), line, err)
	}
	if runErr != nil && res.Received == 0 {
		return res, fmt.Errorf("%s: %v: %s %s", filepath.Base(argv[0]), runErr, res.Err, tailString(stderr.String(), 400))
	}
	return res, nil
}

func lastJSONLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "{") {
			return l
		}
	}
	return ""
}

func tailString(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// cMsgCount is smaller than the Go section's: every C run is a process of its own.
func cMsgCount(c cell, smoke bool) int {
	if smoke {
		return 200
	}
	switch c.QoS {
	case 0:
		return 30000
	case 1:
		return 10000
	}
	return 6000
}

// cCells: QoS 0 (the targets) at both sizes, QoS 1 and 2 at 64 B, to keep the section short.
func cCells(smoke bool) []cell {
	if smoke {
		return []cell{{0, 64}, {1, 64}}
	}
	return []cell{{0, 64}, {0, 1024}, {1, 64}, {2, 64}}
}

// cSuite is section (2): libmosquitto and Paho C against the hamqtt C API, each a C program of
// the same shape (bench/c), plus raw paho.mqtt.golang as a program (this binary's client mode)
// for the C API's target against it; and the same C programs speaking MQTT 5 side by side.
func cSuite(out, bin, self, lib string, smoke bool, reps, window int) error {
	sec := &Section{Name: "c", Title: "C: hamqtt C API vs libmosquitto, Paho C and raw paho.mqtt.golang, MQTT 3.1.1 and 5 (publish-to-receive throughput)", Started: time.Now()}
	sec.Settings = []string{
		fmt.Sprintf("every run is a fresh process with a publisher client and a subscriber client of one library; window %d publishes awaiting their completion callback (QoS 0: written, QoS 1/2: acknowledged)", window),
		"libmosquitto: mosquitto_loop_start thread per client, max_inflight_messages = window; Paho C: MQTTAsync, maxInflight = window; hamqtt: push callbacks (hamqtt_subscribe callback, hamqtt_publish_async delivery callback)",
		"paho.mqtt.golang: the Go section's client run as a process (`gobench client -impl paho`)",
		"MQTT 5: the same programs with both clients speaking MQTT 5 (`tp ... 5`: hamqtt_options.protocol_version 5; libmosquitto MOSQ_OPT_PROTOCOL_VERSION MQTT_PROTOCOL_V5; Paho C MQTTAsync_createWithOptions with MQTTVERSION_5), no properties sent; the hamqtt MQTT 5 client is compared with the peers speaking MQTT 5, in the QoS 0 and 1 cells",
		"3 fresh Mosquitto brokers per cell (max_queued_messages 0, max_inflight_messages 64, which is also the Receive Maximum Mosquitto announces to MQTT 5 clients); the single-broker clients use the first; the 3-endpoint hamqtt client runs in the QoS 0 cells",
		fmt.Sprintf("%d repetitions per cell, alternating programs, after one unmeasured warm-up run each; figures are medians", reps),
	}
	if self == "" {
		self, _ = os.Executable()
	}
	absLib, _ := filepath.Abs(lib)
	hamqttEnv := []string{"LD_LIBRARY_PATH=" + absLib}
	prog := func(name string) string { return filepath.Join(bin, name) }
	// cimpl is one program of the section. v5: both of its clients speak MQTT 5 (it is compared
	// with the peers speaking MQTT 5 only, and runs in the QoS 0 and 1 cells).
	type cimpl struct {
		name  string
		v5    bool
		multi bool // the 3-endpoint hamqtt client
		argv  func(bs []*brokertest.Broker, p tpParams) []string
	}
	tp := func(b string, u string, v5 bool, p tpParams) []string {
		version := "4"
		if v5 {
			version = "5"
		}
		return []string{prog(b), "tp", u, strconv.Itoa(int(p.QoS)), strconv.Itoa(p.Size), strconv.Itoa(p.N), strconv.Itoa(p.Window), p.Topic, version}
	}
	var impls []cimpl
	var missing []string
	hamqttOK := exists(prog("bench_hamqtt")) && exists(filepath.Join(lib, "libhamqtt.so"))
	if hamqttOK {
		impls = append(impls,
			cimpl{"hamqtt C API (1 endpoint)", false, false, func(bs []*brokertest.Broker, p tpParams) []string { return tp("bench_hamqtt", bs[0].URI(), false, p) }},
			cimpl{"hamqtt C API (3 endpoints, STICKY)", false, true, func(bs []*brokertest.Broker, p tpParams) []string {
				return tp("bench_hamqtt", strings.Join(uris(bs), ","), false, p)
			}},
			cimpl{"hamqtt C API (1 endpoint, MQTT 5)", true, false, func(bs []*brokertest.Broker, p tpParams) []string { return tp("bench_hamqtt", bs[0].URI(), true, p) }})
	} else {
		missing = append(missing, "hamqtt C API: "+prog("bench_hamqtt")+" or libhamqtt.so not built (make c-build failed or the C API is not ready)")
	}
	peers := []cimpl{}
	for _, pc := range []struct {
		name, bin string
		v5        bool
	}{{"libmosquitto", "bench_mosq", false}, {"Paho C (MQTTAsync)", "bench_pahoc", false}, {"", "", false},
		{"libmosquitto (MQTT 5)", "bench_mosq", true}, {"Paho C (MQTTAsync, MQTT 5)", "bench_pahoc", true}} {
		if pc.name == "" { // raw paho.mqtt.golang (3.1.1) as a process of this binary
			peers = append(peers, cimpl{"paho.mqtt.golang", false, false, func(bs []*brokertest.Broker, p tpParams) []string {
				return []string{self, "client", "-impl", "paho", "-uri", bs[0].URI(), "-qos", strconv.Itoa(int(p.QoS)),
					"-size", strconv.Itoa(p.Size), "-n", strconv.Itoa(p.N), "-window", strconv.Itoa(p.Window), "-topic", p.Topic}
			}})
			continue
		}
		if exists(prog(pc.bin)) {
			b, v5 := pc.bin, pc.v5
			peers = append(peers, cimpl{pc.name, v5, false, func(bs []*brokertest.Broker, p tpParams) []string { return tp(b, bs[0].URI(), v5, p) }})
		} else if !pc.v5 {
			missing = append(missing, pc.name+": "+prog(pc.bin)+" not built")
		}
	}
	sec.Missing = missing
	all := append(append([]cimpl{}, impls...), peers...)
	goImpls := make([]impl, len(all))
	for i, ci := range all {
		env := []string(nil)
		if strings.HasPrefix(ci.name, "hamqtt") {
			env = hamqttEnv
		}
		goImpls[i] = impl{ci.name, func(bs []*brokertest.Broker, p tpParams) (tpResult, error) { return runProgram(ci.argv(bs, p), env) }}
	}
	for _, c := range cCells(smoke) {
		n := cMsgCount(c, smoke)
		// The 3-endpoint C client runs in the QoS 0 cells only (the Go section covers the rest),
		// the MQTT 5 programs in the QoS 0 and 1 cells.
		var cellImpls []impl
		var cellAll []cimpl
		for i, im := range goImpls {
			if (c.QoS != 0 && all[i].multi) || (c.QoS > 1 && all[i].v5) {
				continue
			}
			cellImpls = append(cellImpls, im)
			cellAll = append(cellAll, all[i])
		}
		rates, lost, err := cellRuns(cellImpls, 3, c, n, window, reps, !smoke)
		if err != nil {
			return err
		}
		var line []string
		for i, im := range cellImpls {
			line = append(line, fmt.Sprintf("%s [%s]", im.name, fmtRates(rates[i])))
		}
		logf("c %v: %s", c, strings.Join(line, "; "))
		nh := 0 // hamqtt programs in this cell (they come first)
		for nh < len(cellAll) && strings.HasPrefix(cellAll[nh].name, "hamqtt") {
			nh++
		}
		// 3.1.1 rows first (as before MQTT 5), then the MQTT 5 rows.
		for _, v5 := range []bool{false, true} {
			for i := 0; i < nh; i++ {
				if cellAll[i].v5 != v5 {
					continue
				}
				for j := nh; j < len(cellAll); j++ {
					if cellAll[j].v5 != v5 || (cellAll[i].multi && cellAll[j].name != "libmosquitto") {
						continue // the 3-endpoint client is compared with libmosquitto only
					}
					r := Row{Section: "c", Metric: fmt.Sprintf("%v (%d msgs)", c, n), Impl: cellAll[i].name, Peer: cellAll[j].name, Unit: "msg/s",
						Value: median(rates[i]), PeerValue: median(rates[j]), Reps: rates[i], PeerReps: rates[j], Lost: lost[i], PeerLost: lost[j]}
					if c.QoS == 0 && !cellAll[i].multi && !v5 {
						switch cellAll[j].name {
						case "paho.mqtt.golang":
							r.Target = ">= 0.95x"
							r.Met = boolp(r.Ratio() >= 0.95)
						case "libmosquitto":
							r.Target = ">= 0.9x"
							r.Met = boolp(r.Ratio() >= 0.9)
						}
					}
					sec.Rows = append(sec.Rows, r)
				}
			}
		}
		if nh == 0 { // still show the peers' figures
			for j := range cellAll {
				sec.Rows = append(sec.Rows, Row{Section: "c", Metric: fmt.Sprintf("%v (%d msgs)", c, n), Impl: "(hamqtt C API missing)", Peer: cellAll[j].name,
					Unit: "msg/s", PeerValue: median(rates[j]), PeerReps: rates[j], PeerLost: lost[j]})
			}
		}
	}
	sec.Duration = time.Since(sec.Started).Round(time.Second).String()
	return writeSection(out, sec)
}
