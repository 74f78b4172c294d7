// Command hamqtt is the operator's tool for hamqtt virtual clusters: publish, subscribe, run the
// clusters of a config file, show endpoint status, check a config, and a self-contained demo
// that kills and restarts brokers under load. See docs/cli.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/hamqtt/hamqtt/internal/version"
)

// Exit codes, documented in the usage text and docs/cli.md.
const (
	exitOK      = 0 // success
	exitFailure = 1 // runtime failure: nothing reachable, a publish failed, a bad config file, loss in the demo
	exitUsage   = 2 // bad command line: unknown command or flag, missing or invalid flag value
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"pub", "publish messages to a virtual cluster", runPub},
		{"sub", "subscribe and print messages with the endpoint they came through", runSub},
		{"status", "show the live and dead endpoints of a cluster with their stats", runStatus},
		{"start", "run the clusters of a config file until SIGINT or SIGTERM", runStart},
		{"config", "work with config files (config check FILE)", runConfig},
		{"demo", "start 3 local brokers, publish and subscribe through them while killing them", runDemo},
		{"brokers", "run local Mosquitto brokers on 127.0.0.1:1883-1885 (or -ports) until Ctrl-C", runBrokers},
	}
}

const topUsage = `hamqtt - a highly available MQTT client that clusters independent brokers from the client side

Usage:
  hamqtt <command> [flags] [arguments]

Commands:
%s
Run "hamqtt <command> -h" for the flags of a command, "hamqtt --version" for the version. Flags may be written -flag or --flag.

Exit status:
  0  success
  1  runtime failure (no endpoint reachable, publish failed, bad config file, messages lost in the demo)
  2  usage error (unknown command or flag, missing or invalid flag value)

Documentation: docs/cli.md
`

func printTopUsage(w io.Writer) {
	var list string
	for _, c := range commands() {
		list += fmt.Sprintf("  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, topUsage, list)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := newEnv(stop)
	code := run(ctx, e, os.Args[1:])
	stop()
	if err := checkLeaks(); err != nil {
		fmt.Fprintf(os.Stderr, "hamqtt: %v\n", err)
		if code == exitOK {
			code = exitFailure
		}
	}
	os.Exit(code)
}

// run executes the command line args (without the program name) and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		printTopUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help", "-?":
		if len(args) > 1 && name == "help" {
			return run(ctx, e, []string{args[1], "-h"})
		}
		printTopUsage(e.stdout)
		return exitOK
	case "-version", "--version", "version":
		// The library, the packages and this command share one version (internal/version).
		fmt.Fprintf(e.stdout, "hamqtt %s (%s, %s/%s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return exitCode(e, c.name, c.run(ctx, e, args[1:]))
		}
	}
	fmt.Fprintf(e.stderr, "hamqtt: unknown command %q\n\n", name)
	printTopUsage(e.stderr)
	return exitUsage
}
