// Command churn runs cross-process churn trials (package internal/churn): three Mosquitto
// brokers on free 127.0.0.1 ports, a subscriber and a publisher process written against one of
// the project's APIs, and a seeded killer that SIGKILLs and restarts the brokers while QoS 1
// messages flow. It prints one line per trial and, for several trials, a table; it exits 1
// when a trial failed (a lost acknowledged message by default, see -max-lost, -max-dup and
// -check-order), 2 on a usage error.
//
//	go run ./internal/cmd/churn -client "bin/churnclient" -config default,noloss -trials 5
//	go run ./internal/cmd/churn -client "bin/churnclient" -config outbox -schedule outage,crash -outage 20s
//	go run ./internal/cmd/churn -pub "CMD pub ..." -sub "CMD sub ..." -seed 42
//	go run ./internal/cmd/churn -report build/soak/results.jsonl
//
// Every trial prints its seed first; -seed with that value replays its kill sequence.
// The seed is -seed, else $HAMQTT_CHURN_SEED, else a random one; trial i uses seed+i.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hamqtt/hamqtt/internal/churn"
)

// clientArgs is the argument shape every churn client takes after its mode; a publisher
// whose configuration keeps an outbox (the config is named outbox, or outbox-something), or
// that the crash schedule restarts, is given outboxArgs too.
const (
	clientArgs = " --brokers {brokers} --topic {topic} --count {count} --rate {rate} --config {config}"
	outboxArgs = " --outbox {outbox} --start {start}"
)

// pubTemplate is -client's publisher command for a configuration and schedule.
func pubTemplate(client, config, schedule string) string {
	t := client + " pub" + clientArgs
	if config == "outbox" || strings.HasPrefix(config, "outbox-") || schedule == churn.ScheduleCrash {
		t += outboxArgs
	}
	return t
}

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("churn", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: churn [flags]   (or: churn -report FILE)\n\n"+
			"Command templates take {brokers}, {uris}, {topic}, {count}, {rate}, {config}, {seed}, {outbox} and {start}.\n\n")
		fs.PrintDefaults()
	}
	var (
		pub       = fs.String("pub", "", "publisher command template")
		sub       = fs.String("sub", "", "subscriber command template")
		client    = fs.String("client", "", "a churn client program: sets -pub and -sub to `CLIENT pub|sub"+clientArgs+"`,\nand adds"+outboxArgs+" to -pub for the outbox configs and the crash schedule")
		configs   = fs.String("config", "default", "client configuration(s), comma separated: default, noloss, roundrobin, outbox, ...")
		seedFlag  = fs.Uint64("seed", 0, "seed of the first trial (default $HAMQTT_CHURN_SEED, else random)")
		trials    = fs.Int("trials", 1, "trials per config and schedule, with seeds seed, seed+1, ...")
		count     = fs.Int("count", 1500, "messages per trial")
		rate      = fs.Float64("rate", 100, "publish rate, messages per second")
		schedules = fs.String("schedule", churn.ScheduleChurn, "kill schedule(s), comma separated: "+strings.Join(churn.Schedules, ", "))
		outage    = fs.Duration("outage", 8*time.Second, "how long the outage and crash schedules keep every broker down")
		label     = fs.String("label", "", "the API's name in reports (default: the publisher program's name)")
		jsonPath  = fs.String("json", "", "append every result to this file as a JSON line")
		timeout   = fs.Duration("timeout", 0, "bound of one trial (default: 3x the publishing time + outage + 1m)")
		maxLost   = fs.Int("max-lost", 0, "fail a trial that lost more acknowledged messages (-1: not checked)")
		maxDup    = fs.Int("max-dup", -1, "fail a trial with more duplicates (-1: not checked)")
		order     = fs.Bool("check-order", false, "fail a trial whose messages arrived out of order")
		logDir    = fs.String("logdir", "", "directory of the per-trial logs (default $TMPDIR/hamqtt-churn)")
		report    = fs.String("report", "", "print the table of the results in this JSON-lines file and exit")
	)
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "churn: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *report != "" {
		return printReport(*report)
	}
	pubFor := func(config, schedule string) string { return *pub }
	if *client != "" {
		if *pub == "" {
			pubFor = func(config, schedule string) string { return pubTemplate(*client, config, schedule) }
		}
		if *sub == "" {
			*sub = *client + " sub" + clientArgs
		}
	}
	if pubFor("", "") == "" || *sub == "" {
		fmt.Fprintln(os.Stderr, "churn: give -client, or both -pub and -sub")
		return 2
	}
	seed, err := firstSeed(fs, *seedFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "churn:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var results []churn.Result
	failed := 0
	for _, cfg := range list(*configs) {
		for _, sched := range list(*schedules) {
			for i := range *trials {
				if ctx.Err() != nil {
					break
				}
				o := churn.Options{
					Pub: pubFor(cfg, sched), Sub: *sub, Config: cfg, Label: *label,
					Seed: seed + uint64(i), Count: *count, Rate: *rate, Schedule: sched, Outage: *outage,
					Timeout: *timeout, LogDir: *logDir, Progress: os.Stdout,
					Limits: churn.Limits{MaxLost: *maxLost, MaxDup: *maxDup, CheckOrder: *order},
				}
				r, err := churn.Run(ctx, o)
				if r.Label == "" { // the options were refused before the trial began
					fmt.Fprintln(os.Stderr, "churn:", err)
					return 2
				}
				fmt.Println(r.Line())
				if !r.OK() {
					failed++
					fmt.Printf("  log: %s\n%s\n", r.Log, indent(churn.Tail(r.Log, 25)))
				}
				if *jsonPath != "" {
					if err := churn.AppendJSON(*jsonPath, r); err != nil {
						fmt.Fprintln(os.Stderr, "churn:", err)
						return 1
					}
				}
				results = append(results, r)
			}
		}
	}
	if len(results) > 1 {
		fmt.Println()
		churn.WriteTable(os.Stdout, results)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "churn: interrupted")
		return 1
	}
	if failed > 0 {
		fmt.Printf("churn: %d of %d trials failed\n", failed, len(results))
		return 1
	}
	return 0
}

func firstSeed(fs *flag.FlagSet, flagSeed uint64) (uint64, error) {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "seed" })
	if set {
		return flagSeed, nil
	}
	if s := os.Getenv("HAMQTT_CHURN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("$HAMQTT_CHURN_SEED=%q: %w", s, errors.Unwrap(err))
		}
		return v, nil
	}
	return rand.Uint64N(1 << 31), nil
}

func list(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func printReport(path string) int {
	rs, err := churn.ReadJSON(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "churn:", err)
		return 1
	}
	if len(rs) == 0 {
		fmt.Fprintf(os.Stderr, "churn: no results in %s\n", path)
		return 1
	}
	churn.WriteTable(os.Stdout, rs)
	failed := 0
	for _, r := range rs {
		if !r.OK() {
			failed++
			fmt.Printf("FAILED %s\n  log: %s\n", r.Line(), r.Log)
		}
	}
	if failed > 0 {
		fmt.Printf("churn: %d of %d trials failed\n", failed, len(rs))
		return 1
	}
	return 0
}
