// Command gobench runs hamqtt's benchmarks side by side with the peers it replaces, against
// real Mosquitto brokers it starts on loopback, and writes bench/RESULTS.md.
//
//	gobench go        [flags]   Go: raw paho.mqtt.golang vs core (1 and 3 endpoints), QoS 0/1/2
//	gobench c         [flags]   C: libmosquitto and Paho C vs the hamqtt C API (and paho.mqtt.golang)
//	gobench failover  [flags]   stall after SIGKILL of the sticky broker and after a blackhole
//	gobench footprint [flags]   idle RSS with 3 brokers, load+init time, library size
//	gobench outbox    [flags]   the disk outbox vs Paho C's file persistence: durable QoS 1
//	                            throughput per sync policy, flush after an outage
//	gobench script    [flags]   drives a binding's bench script (Python, Node) run by run,
//	                            MQTT 3.1.1 and 5
//	gobench client    [flags]   one throughput run of one Go client (used by the C section)
//	gobench outbox-client ARGS  the outbox section's program with the Go API (used when the C
//	                            API's outbox program is not built)
//	gobench report    [flags]   assembles bench/out/*.json into bench/RESULTS.md and prints it
//
// Every section writes <out>/<section>.json; report turns them into markdown. -smoke makes every
// section tiny (seconds), for `make test`; smoke figures mean nothing.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gobench go|c|failover|footprint|outbox|script|client|outbox-client|report [flags]")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	out := fs.String("out", "bench/out", "directory for the section results (JSON)")
	smoke := fs.Bool("smoke", false, "tiny counts, a few seconds: checks that the benchmark works, measures nothing")
	reps := fs.Int("reps", 5, "repetitions per comparison")
	window := fs.Int("window", 64, "publisher in-flight window")
	var err error
	switch cmd {
	case "go":
		prof := fs.String("cpuprofile", "", "write a CPU profile of the whole section")
		fs.Parse(args)
		err = goSuite(*out, *smoke, smokeReps(*smoke, *reps), *window, *prof)
	case "c":
		bin := fs.String("bin", "build/bench", "directory holding the C bench programs")
		self := fs.String("self", "", "path of this gobench binary (runs the paho.mqtt.golang peer as a process)")
		lib := fs.String("lib", "build/c/lib", "directory holding libhamqtt.so")
		fs.Parse(args)
		err = cSuite(*out, *bin, *self, *lib, *smoke, smokeReps(*smoke, *reps), *window)
	case "failover":
		kills := fs.Int("kills", 20, "SIGKILLs (and partitions) to measure")
		fs.Parse(args)
		if *smoke {
			*kills = 2
		}
		err = failoverSuite(*out, *kills, *smoke)
	case "footprint":
		bin := fs.String("bin", "build/bench", "directory holding the C bench programs")
		lib := fs.String("lib", "build/c/lib", "directory holding libhamqtt.so")
		fs.Parse(args)
		err = footprintSuite(*out, *bin, *lib, *smoke, smokeReps(*smoke, 11))
	case "outbox":
		bin := fs.String("bin", "build/bench", "directory holding the C bench programs")
		self := fs.String("self", "", "path of this gobench binary (runs the Go API's outbox program)")
		lib := fs.String("lib", "build/c/lib", "directory holding libhamqtt.so")
		fs.Parse(args)
		err = outboxSuite(*out, *bin, *self, *lib, *smoke, smokeReps(*smoke, *reps), *window)
	case "outbox-client":
		err = outboxClient(args)
	case "script":
		name := fs.String("name", "", "section name (python, node)")
		title := fs.String("title", "", "section title")
		target := fs.Float64("target", 0, "QoS 0 ratio hamqtt/peer the issue asks for (0: none)")
		dir := fs.String("dir", ".", "working directory of the runs")
		n := fs.Int("n", 40000, "messages per run")
		qos1N := fs.Int("qos1-n", 0, "messages per run of the QoS 1 cell at the first size (0: no QoS 1 cell)")
		sizesFlag := fs.String("sizes", "64", "payload sizes, comma-separated")
		var impls []scriptImpl
		var env []string
		var impls5 []scriptImpl
		implFlag := func(list *[]scriptImpl, v5 bool) func(string) error {
			return func(v string) error {
				k, cmd, ok := strings.Cut(v, "=")
				if !ok || strings.TrimSpace(cmd) == "" {
					return fmt.Errorf("want NAME=COMMAND, got %q", v)
				}
				*list = append(*list, scriptImpl{name: k, argv: strings.Fields(cmd), v5: v5})
				return nil
			}
		}
		fs.Func("impl", "NAME=COMMAND ARGS, MQTT 3.1.1 (repeat: hamqtt first, then the peer); {host} {port} {uri} {n} {size} {qos} are replaced", implFlag(&impls, false))
		fs.Func("impl5", "NAME=COMMAND ARGS, MQTT 5 (repeat: hamqtt first, then the peer; optional)", implFlag(&impls5, true))
		fs.Func("env", "KEY=VALUE for the runs (repeatable)", func(v string) error { env = append(env, v); return nil })
		fs.Parse(args)
		var sizes []int
		for _, f := range strings.Split(*sizesFlag, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				fmt.Fprintf(os.Stderr, "gobench script: bad -sizes %q\n", *sizesFlag)
				os.Exit(2)
			}
			sizes = append(sizes, v)
		}
		if *name == "" || len(impls) != 2 || (len(impls5) != 0 && len(impls5) != 2) {
			fmt.Fprintln(os.Stderr, "usage: gobench script -name python -impl 'hamqtt=CMD...' -impl 'paho-mqtt=CMD...' [-impl5 'hamqtt v5=CMD...' -impl5 'paho-mqtt v5=CMD...'] [flags]")
			os.Exit(2)
		}
		err = scriptSuite(*out, *name, *title, *dir, append(impls, impls5...), env, sizes, *n, *qos1N, smokeReps(*smoke, *reps), *smoke, *target)
	case "client":
		impl := fs.String("impl", "paho", "paho | core")
		uri := fs.String("uri", "", "broker URI(s), comma-separated (core)")
		qos := fs.Int("qos", 0, "QoS")
		size := fs.Int("size", 64, "payload bytes")
		n := fs.Int("n", 1000, "messages")
		topic := fs.String("topic", "bench/client", "topic")
		fs.Parse(args)
		err = clientOnce(*impl, *uri, tpParams{QoS: byte(*qos), Size: *size, N: *n, Window: *window, Topic: *topic})
	case "report":
		res := fs.String("results", "bench/RESULTS.md", "markdown file to write")
		lib := fs.String("lib", "build/c/lib", "directory holding libhamqtt.so")
		python := fs.String("python", "python3", "the Python interpreter the Python bench used")
		nodeDir := fs.String("node-dir", "bindings/node", "the Node package whose node_modules hold MQTT.js")
		fs.Parse(args)
		err = report(*out, *res, *lib, *smoke, *python, *nodeDir)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gobench %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func smokeReps(smoke bool, reps int) int {
	if smoke {
		return 1
	}
	return reps
}

// clientOnce runs one throughput run in this process and prints its tpResult as JSON, the
// same line the C programs print.
func clientOnce(impl, uri string, p tpParams) error {
	var res tpResult
	var err error
	switch impl {
	case "paho":
		res, err = runPaho(uri, p)
	case "core":
		res, err = runCore(strings.Split(uri, ","), p)
	default:
		return fmt.Errorf("unknown impl %q", impl)
	}
	if err != nil {
		res.Err = err.Error()
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
