package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// procStatus reads numeric fields (kB values, thread count) of /proc/PID/status.
func procStatus(pid int) (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		if x, err := strconv.ParseFloat(fs[0], 64); err == nil {
			m[k] = x
		}
	}
	return m, sc.Err()
}

// idleRSS starts prog in idle mode against uris, waits for "ready" plus settle, and returns
// VmRSS (MiB) and the thread count.
func idleRSS(argv, env []string, settle time.Duration) (rss, threads float64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != "ready" {
		return 0, 0, fmt.Errorf("%s idle: no ready line: %q %s", filepath.Base(argv[0]), sc.Text(), tailString(stderr.String(), 300))
	}
	time.Sleep(settle)
	st, err := procStatus(cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	return st["VmRSS"] / 1024, st["Threads"], nil
}

type loadResult struct {
	LoadNs      float64 `json:"load_ns"`
	InitNs      float64 `json:"init_ns"`
	ClientNs    float64 `json:"client_ns"`
	RSSBeforeKB float64 `json:"rss_before_kb"`
	RSSAfterKB  float64 `json:"rss_after_kb"`
	Threads     float64 `json:"threads"`
}

func loadOnce(loadtime, kind, lib string) (loadResult, error) {
	var r loadResult
	out, err := exec.Command(loadtime, kind, lib).Output()
	if err != nil {
		return r, fmt.Errorf("loadtime %s: %w", kind, err)
	}
	err = json.Unmarshal([]byte(lastJSONLine(string(out))), &r)
	return r, err
}

// sharedDeps returns the libraries prog loads (ldd), by soname prefix, with their paths.
func sharedDeps(path string) (map[string]string, error) {
	out, err := exec.Command("ldd", path).Output()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), " => ")
		if !ok {
			continue
		}
		p := strings.Fields(rest)
		if len(p) > 0 && strings.HasPrefix(p[0], "/") {
			m[name] = p[0]
		}
	}
	return m, nil
}

func fileMB(p string) float64 {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return 0
	}
	st, err := os.Stat(real)
	if err != nil {
		return 0
	}
	return float64(st.Size()) / (1 << 20)
}

// isSystemLib: libraries every C program loads anyway (glibc's parts).
func isSystemLib(name string) bool {
	for _, p := range []string{"libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "ld-linux", "libgcc_s.so"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// withDeps is the size of lib plus every non-glibc library it pulls in.
func withDeps(lib string) float64 {
	total := fileMB(lib)
	deps, err := sharedDeps(lib)
	if err != nil {
		return total
	}
	for name, p := range deps {
		if !isSystemLib(name) {
			total += fileMB(p)
		}
	}
	return total
}

// footprintSuite is section (6): idle RSS of a C process connected to three brokers, time to
// load and initialise each library, and the libraries' sizes.
func footprintSuite(out, bin, lib string, smoke bool, reps int) error {
	sec := &Section{Name: "footprint", Title: "Footprint: idle C process with 3 brokers, load and init time, library size", Started: time.Now()}
	settle := time.Second
	if smoke {
		settle = 100 * time.Millisecond
	}
	sec.Settings = []string{
		fmt.Sprintf("idle RSS: the bench program in idle mode (bench/c/bench_*.c `idle`) connected to 3 fresh brokers, VmRSS read %v after it reported ready; hamqtt: one client of a 3-endpoint cluster; libmosquitto: 3 clients each with mosquitto_loop_start; Paho C: 3 MQTTAsync clients", settle),
		"load/init: bench/c/loadtime.c in a fresh process: dlopen(RTLD_NOW), the first call (hamqtt_version / mosquitto_lib_init / MQTTAsync_global_init), one client created and destroyed without connecting",
		fmt.Sprintf("%d processes per library, alternating; medians", reps),
	}
	libhamqtt := filepath.Join(lib, "libhamqtt.so")
	absLib, _ := filepath.Abs(lib)
	env := []string{"LD_LIBRARY_PATH=" + absLib}
	type fimpl struct {
		name, prog, kind, lib string
	}
	var impls []fimpl
	if exists(filepath.Join(bin, "bench_hamqtt")) && exists(libhamqtt) {
		impls = append(impls, fimpl{"hamqtt C API", "bench_hamqtt", "hamqtt", libhamqtt})
	} else {
		sec.Missing = append(sec.Missing, "hamqtt C API: bench_hamqtt or libhamqtt.so not built")
	}
	for _, p := range []struct{ name, prog, kind, soname string }{
		{"libmosquitto", "bench_mosq", "mosquitto", "libmosquitto.so"},
		{"Paho C (MQTTAsync)", "bench_pahoc", "pahoc", "libpaho-mqtt3a.so"},
	} {
		progPath := filepath.Join(bin, p.prog)
		if !exists(progPath) {
			sec.Missing = append(sec.Missing, p.name+": "+progPath+" not built")
			continue
		}
		deps, err := sharedDeps(progPath)
		if err != nil {
			return err
		}
		libPath := ""
		for name, path := range deps {
			if strings.HasPrefix(name, p.soname) {
				libPath = path
			}
		}
		impls = append(impls, fimpl{p.name, p.prog, p.kind, libPath})
	}
	if len(impls) == 0 {
		return writeSection(out, sec)
	}

	bs, err := startBrokers(3)
	if err != nil {
		return err
	}
	list := strings.Join(uris(bs), ",")
	rss := make([][]float64, len(impls))
	threads := make([][]float64, len(impls))
	idleReps := min(reps, 3)
	for r := 0; r < idleReps; r++ {
		for k := range impls {
			i := (r + k) % len(impls)
			m, th, err := idleRSS([]string{filepath.Join(bin, impls[i].prog), "idle", list}, env, settle)
			if err != nil {
				closeBrokers(bs)
				return err
			}
			rss[i] = append(rss[i], m)
			threads[i] = append(threads[i], th)
		}
	}
	closeBrokers(bs)

	loads := make([][]loadResult, len(impls))
	loadtime := filepath.Join(bin, "loadtime")
	for r := 0; r < reps && exists(loadtime); r++ {
		for k := range impls {
			i := (r + k) % len(impls)
			if impls[i].lib == "" {
				continue
			}
			lr, err := loadOnce(loadtime, impls[i].kind, impls[i].lib)
			if err != nil {
				return err
			}
			loads[i] = append(loads[i], lr)
		}
	}
	pick := func(xs []loadResult, f func(loadResult) float64) []float64 {
		var v []float64
		for _, x := range xs {
			v = append(v, f(x))
		}
		return v
	}
	if impls[0].kind != "hamqtt" { // no hamqtt side: report the peers alone
		for i, im := range impls {
			sec.Rows = append(sec.Rows, Row{Section: "footprint", Metric: "idle RSS, connected to 3 brokers", Impl: "(hamqtt C API missing)", Peer: im.name,
				Unit: "MiB", PeerValue: median(rss[i]), PeerReps: rss[i], Lower: true})
		}
		sec.Duration = time.Since(sec.Started).Round(time.Second).String()
		return writeSection(out, sec)
	}
	for j := 1; j < len(impls); j++ {
		add := func(metric, unit string, a, b []float64, target string, met *bool) {
			sec.Rows = append(sec.Rows, Row{Section: "footprint", Metric: metric, Impl: impls[0].name, Peer: impls[j].name, Unit: unit,
				Value: median(a), PeerValue: median(b), Reps: a, PeerReps: b, Lower: true, Target: target, Met: met})
		}
		var met *bool
		target := ""
		if j == 1 {
			target, met = "< 12 MiB", boolp(median(rss[0]) < 12)
		}
		add("idle RSS, connected to 3 brokers", "MiB", rss[0], rss[j], target, met)
		add("threads of the idle process", "", threads[0], threads[j], "", nil)
		ms := func(f func(loadResult) float64) func(loadResult) float64 { // in µs
			return func(l loadResult) float64 { return f(l) / 1e3 }
		}
		add("load: dlopen", "µs", pick(loads[0], ms(func(l loadResult) float64 { return l.LoadNs })), pick(loads[j], ms(func(l loadResult) float64 { return l.LoadNs })), "", nil)
		add("init: first call", "µs", pick(loads[0], ms(func(l loadResult) float64 { return l.InitNs })), pick(loads[j], ms(func(l loadResult) float64 { return l.InitNs })), "", nil)
		add("create + destroy one client", "µs", pick(loads[0], ms(func(l loadResult) float64 { return l.ClientNs })), pick(loads[j], ms(func(l loadResult) float64 { return l.ClientNs })), "", nil)
		total := func(l loadResult) float64 { return (l.LoadNs + l.InitNs + l.ClientNs) / 1e3 }
		add("load + init + first client, total", "µs", pick(loads[0], total), pick(loads[j], total), "", nil)
		grow := func(l loadResult) float64 { return (l.RSSAfterKB - l.RSSBeforeKB) / 1024 }
		add("RSS added by load + init (no connection)", "MiB", pick(loads[0], grow), pick(loads[j], grow), "", nil)
		sec.Rows = append(sec.Rows,
			Row{Section: "footprint", Metric: "library file size", Impl: filepath.Base(impls[0].lib), Peer: filepath.Base(impls[j].lib), Unit: "MiB",
				Value: fileMB(impls[0].lib), PeerValue: fileMB(impls[j].lib), Lower: true},
			Row{Section: "footprint", Metric: "library + its non-glibc dependencies", Impl: filepath.Base(impls[0].lib), Peer: filepath.Base(impls[j].lib), Unit: "MiB",
				Value: withDeps(impls[0].lib), PeerValue: withDeps(impls[j].lib), Lower: true,
				Note: "libmosquitto pulls in OpenSSL (libssl, libcrypto) and libcjson; Paho C 3a none; the Go runtime and crypto/tls are inside libhamqtt.so"})
	}
	logf("footprint: idle RSS MiB %v", func() string {
		var s []string
		for i, im := range impls {
			s = append(s, fmt.Sprintf("%s %.1f (%v threads)", im.name, median(rss[i]), median(threads[i])))
		}
		return strings.Join(s, ", ")
	}())
	sec.Duration = time.Since(sec.Started).Round(time.Second).String()
	return writeSection(out, sec)
}
