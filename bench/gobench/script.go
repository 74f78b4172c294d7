package main

import (
	"bytes"
	"context"
	"encoding/json"
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
}

// scriptSuite drives a binding's own bench script (sections 3 and 4) through its single-run
// mode, so that both libraries run the script's identical program against the same fresh broker
// started here, alternating, reps times per payload size; medians and the ratio are reported.
// In each command, {host}, {port}, {uri}, {n} and {size} are replaced. The JSON line a run
// prints must hold a rate (msgs_per_s or rate) and may hold received and count (or total).
func scriptSuite(out, name, title, dir string, impls []scriptImpl, env []string, sizes []int, n, reps int, smoke bool, target float64) error {
	sec := &Section{Name: name, Title: title, Started: time.Now()}
	if smoke {
		n, reps, sizes = min(n, 2000), 1, sizes[:1]
	}
	for _, im := range impls {
		sec.Settings = append(sec.Settings, fmt.Sprintf("%s: `%s`", im.name, strings.Join(im.argv, " ")))
	}
	if len(env) > 0 {
		sec.Settings = append(sec.Settings, fmt.Sprintf("environment of the runs: `%s` (the libhamqtt.so built by this `make bench`)", strings.Join(env, " ")))
	}
	sec.Settings = append(sec.Settings,
		fmt.Sprintf("QoS 0, %d messages per run, one fresh Mosquitto broker per payload size (max_queued_messages 0); each run is a process of its own; %d repetitions alternating the libraries; medians", n, reps))
	if len(impls) != 2 {
		return fmt.Errorf("script section %s: want hamqtt and one peer, got %d commands", name, len(impls))
	}
	for _, size := range sizes {
		bs, err := startBrokers(1)
		if err != nil {
			return err
		}
		b := bs[0]
		rates := make([][]float64, 2)
		lost := make([]int, 2)
		var runErr error
		for r := 0; r < reps && runErr == nil; r++ {
			for k := 0; k < 2; k++ {
				i := (r + k) % 2
				argv := make([]string, len(impls[i].argv))
				for j, a := range impls[i].argv {
					a = strings.ReplaceAll(a, "{host}", "127.0.0.1")
					a = strings.ReplaceAll(a, "{port}", strconv.Itoa(b.Port()))
					a = strings.ReplaceAll(a, "{uri}", b.URI())
					a = strings.ReplaceAll(a, "{n}", strconv.Itoa(n))
					a = strings.ReplaceAll(a, "{size}", strconv.Itoa(size))
					argv[j] = a
				}
				rate, got, count, err := runScriptOnce(dir, argv, env)
				if err != nil {
					runErr = fmt.Errorf("%s: %w", impls[i].name, err)
					break
				}
				rates[i] = append(rates[i], rate)
				if count > got {
					lost[i] += count - got
				}
			}
		}
		closeBrokers(bs)
		if runErr != nil {
			sec.Missing = append(sec.Missing, fmt.Sprintf("%d B: %v", size, runErr))
			if smoke {
				return runErr
			}
			continue
		}
		row := Row{Section: name, Metric: fmt.Sprintf("%v (%d msgs)", cell{0, size}, n), Impl: impls[0].name, Peer: impls[1].name, Unit: "msg/s",
			Value: median(rates[0]), PeerValue: median(rates[1]), Reps: rates[0], PeerReps: rates[1], Lost: lost[0], PeerLost: lost[1]}
		if target > 0 {
			row.Target = fmt.Sprintf(">= %gx", target)
			row.Met = boolp(row.Ratio() >= target)
		}
		sec.Rows = append(sec.Rows, row)
		logf("%s %s: %s [%s] %s [%s] ratio %.2fx", name, row.Metric, impls[0].name, fmtRates(rates[0]), impls[1].name, fmtRates(rates[1]), row.Ratio())
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
