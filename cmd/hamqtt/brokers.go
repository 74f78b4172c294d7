package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

const brokersSynopsis = `hamqtt brokers [-ports LIST]`

const brokersHelp = `Starts local Mosquitto brokers on 127.0.0.1, one per port, and keeps them running until
SIGINT or SIGTERM; then stops them and removes their files. With the default ports the
brokers are the ones the built-in configuration (cluster-default on tcp://localhost:1883-1885),
the README's examples and examples/c/gateway.yaml use, so those run as written in another
terminal. Each broker accepts anonymous clients and keeps nothing after it stops.

A port that is already taken is an error: something else (perhaps a broker you started
yourself) listens there.

Examples:
  hamqtt brokers
  hamqtt brokers -ports 1883-1887
  hamqtt brokers -ports 1883,2883`

func runBrokers(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "brokers", brokersSynopsis, brokersHelp)
	portList := fs.String("ports", "1883-1885", "loopback `ports` to start a broker on: a range (1883-1885) or a comma-separated list")
	rest, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef(fs, "unexpected argument %q: give the ports with -ports", rest[0])
	}
	ports, err := parsePorts(*portList)
	if err != nil {
		return usagef(fs, "-ports %q: %v", *portList, err)
	}
	if _, err := brokertest.MosquittoPath(); err != nil {
		return fmt.Errorf("hamqtt brokers needs Mosquitto: run scripts/install-deps.sh (or apt-get install mosquitto), or point $HAMQTT_MOSQUITTO at the binary: %w", err)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return fmt.Errorf("port %d on 127.0.0.1 is taken (%v): stop what listens there, or choose other ports with -ports", p, err)
		}
		l.Close()
	}
	var started []*brokertest.Broker
	defer func() {
		for _, b := range started {
			b.Close()
		}
	}()
	for _, p := range ports {
		if ctx.Err() != nil {
			return nil
		}
		b, err := brokertest.New(brokertest.Options{Port: p})
		if err != nil {
			return fmt.Errorf("starting the broker on port %d: %w", p, err)
		}
		started = append(started, b)
		fmt.Fprintf(e.stdout, "broker %s  (config and log in %s)\n", b.URI(), b.Dir())
	}
	fmt.Fprintf(e.stdout, "%d Mosquitto brokers running; Ctrl-C stops them\n", len(started))
	<-ctx.Done()
	fmt.Fprintf(e.stdout, "stopping %d brokers\n", len(started))
	return nil
}

// parsePorts reads "1883-1885" or "1883,1884,2883" (ranges may appear in a list).
func parsePorts(list string) ([]int, error) {
	var ports []int
	seen := map[int]bool{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := parsePort(lo)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = parsePort(hi); err != nil {
				return nil, err
			}
			if last < first {
				return nil, fmt.Errorf("range %s runs backwards", item)
			}
			if last-first >= 64 {
				return nil, fmt.Errorf("range %s starts %d brokers; at most 64", item, last-first+1)
			}
		}
		for p := first; p <= last; p++ {
			if !seen[p] {
				seen[p] = true
				ports = append(ports, p)
			}
		}
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("no port given")
	}
	if len(ports) > 64 {
		return nil, fmt.Errorf("%d ports; at most 64", len(ports))
	}
	return ports, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return p, nil
}
