package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// scriptImpl is one library of a binding's bench: the command that runs the script's
// single-run mode and prints one JSON result line.
type scriptImpl struct {
	name string
	argv []string
	v5   bool // the MQTT 5 pair
}

// scriptSuite drives a binding's own bench script (sections 3 and 4) through its single-run
// mode, so that every library runs the script's identical program against the same fresh broker
// started here, alternating, reps times per cell; medians and the ratios are reported. impls
// holds pairs, hamqtt first and then its peer: the MQTT 3.1.1 pair, then (optionally) the
// MQTT 5 pair (v5 set). The cells are QoS 0 at each payload size with n messages, then, when
// qos1N > 0, QoS 1 at the first size with qos1N messages. In each command, {host}, {port},
// {uri}, {n}, {size} and {qos} are replaced. The JSON line a run prints must hold a rate
// (msgs_per_s or rate) and may hold received and count (or total). target applies to the
// 3.1.1 pair's QoS 0 rows.
func scriptSuite(out, name, title, dir string, impls []scriptImpl, env []string, sizes []int, n, qos1N, reps int, smoke bool, target float64) error {
	sec := &Section{Name: name, Title: title, Started: time.Now()}
	if smoke {
		n, qos1N, reps, sizes = min(n, 2000), min(qos1N, 1000), 1, sizes[:1]
	}
	if len(impls) != 2 && len(impls) != 4 {
		return fmt.Errorf("script section %s: want hamqtt and its peer (and the MQTT 5 pair), got %d commands", name, len(impls))
	}
	for _, im := range impls {
		sec.Settings = append(sec.Settings, fmt.Sprintf("%s: `%s`", im.name, strings.Join(im.argv, " ")))
	}
	if len(env) > 0 {
		sec.Settings = append(sec.Settings, fmt.Sprintf("environment of the runs: `%s` (the libhamqtt.so built by this `make bench`)", strings.Join(env, " ")))
	}
	cells := []cell{}
	counts := map[cell]int{}
	for _, size := range sizes {
		c := cell{0, size}
		cells, counts[c] = append(cells, c), n
	}
	what := fmt.Sprintf("QoS 0 at each payload size, %d messages per run", n)
	if qos1N > 0 {
		c := cell{1, sizes[0]}
		cells, counts[c] = append(cells, c), qos1N
		what += fmt.Sprintf("; QoS 1 (subscribed at QoS 1) at %d B, %d messages per run, each library with its own default for what it keeps in flight (the script sets none)", sizes[0], qos1N)
	}
	sec.Settings = append(sec.Settings,
		fmt.Sprintf("%s; one fresh Mosquitto broker per cell (max_queued_messages 0, max_inflight_messages 64); each run is a process of its own; %d repetitions alternating the libraries; medians", what, reps))
	if len(impls) == 4 {
		sec.Settings = append(sec.Settings, fmt.Sprintf("MQTT 5: %s and %s run the same program with both clients speaking MQTT 5 (no properties sent), in every cell; each MQTT 5 row compares them", impls[2].name, impls[3].name))
	}
	for _, c := range cells {
		cn := counts[c]
		bs, err := startBrokers(1)
		if err != nil {
			return err
		}
		b := bs[0]
		rates := make([][]float64, len(impls))
		lost := make([]int, len(impls))
		failed := make([]error, len(impls))
		for r := 0; r < reps; r++ {
			for k := range impls {
				i := (r + k) % len(impls)
				if failed[i] != nil {
					continue
				}
				argv := make([]string, len(impls[i].argv))
				for j, a := range impls[i].argv {
					a = strings.ReplaceAll(a, "{host}", "127.0.0.1")
					a = strings.ReplaceAll(a, "{port}", strconv.Itoa(b.Port()))
					a = strings.ReplaceAll(a, "{uri}", b.URI())
					a = strings.ReplaceAll(a, "{n}", strconv.Itoa(cn))
					a = strings.ReplaceAll(a, "{size}", strconv.Itoa(c.Size))
					a = strings.ReplaceAll(a, "{qos}", strconv.Itoa(int(c.QoS)))
					argv[j] = a
				}
				rate, got, count, err := runScriptOnce(dir, argv, env)
				if err != nil {
					failed[i] = fmt.Errorf("%s: %w", impls[i].name, err)
					continue
				}
				rates[i] = append(rates[i], rate)
				if count > got {
					lost[i] += count - got
				}
			}
		}
		closeBrokers(bs)
		metric := fmt.Sprintf("%v (%d msgs)", c, cn)
		for p := 0; p+1 < len(impls); p += 2 {
			h, q := p, p+1
			if err := errors.Join(failed[h], failed[q]); err != nil {
				sec.Missing = append(sec.Missing, fmt.Sprintf("%s, %s vs %s: %v", metric, impls[h].name, impls[q].name, err))
				if smoke {
					return err
				}
				continue
			}
			row := Row{Section: name, Metric: metric, Impl: impls[h].name, Peer: impls[q].name, Unit: "msg/s",
				Value: median(rates[h]), PeerValue: median(rates[q]), Reps: rates[h], PeerReps: rates[q], Lost: lost[h], PeerLost: lost[q]}
			if target > 0 && !impls[h].v5 && c.QoS == 0 {
				row.Target = fmt.Sprintf(">= %gx", target)
				row.Met = boolp(row.Ratio() >= target)
			}
			sec.Rows = append(sec.Rows, row)
			logf("%s %s: %s [%s] %s [%s] ratio %.2fx", name, row.Metric, impls[h].name, fmtRates(rates[h]), impls[q].name, fmtRates(rates[q]), row.Ratio())
		}
	}
	sec.Duration = time.Since(sec.Started).Round(time.Second).String()
	return writeSection(out, sec)
}

// runScriptOnce runs one single-run command and reads its JSON result line.
func runScriptOnce(dir string, argv, env []string) (rate float64, received, count int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, 0, 0, fmt.Errorf("%v: %s", err, tailString(stderr.String()+stdout.String(), 600))
	}
	line := lastJSONLine(stdout.String())
	var m map[string]any
	if line == "" || json.Unmarshal([]byte(line), &m) != nil {
		return 0, 0, 0, fmt.Errorf("no JSON result line in %q", tailString(stdout.String(), 300))
	}
	rate, ok := pickNumber(m, "msgs_per_s", "rate", "msg_per_s", "mps")
	if !ok {
		return 0, 0, 0, fmt.Errorf("no rate in %s", line)
	}
	got, _ := pickNumber(m, "received")
	total, _ := pickNumber(m, "count", "total", "sent")
	return rate, int(got), int(total), nil
}

func pickString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			switch x := v.(type) {
			case string:
				return x
			case float64:
				return strconv.FormatFloat(x, 'f', -1, 64)
			}
		}
	}
	return ""
}

func pickNumber(m map[string]any, keys ...string) (float64, bool) {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			switch x := v.(type) {
			case float64:
				return x, true
			case string:
				if f, err := strconv.ParseFloat(x, 64); err == nil {
					return f, true
				}
			}
		}
	}
	return 0, false
}
