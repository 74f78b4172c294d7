// Command brokerctl runs brokers on free 127.0.0.1 ports for tests written in other languages
// (the C tests of tests/c, the Python tests, shell scripts): Mosquitto by default, or any kind
// internal/brokertest runs (mosquitto, rabbitmq, aedes). It reads one command per line on
// stdin and answers one line on stdout, "ok ..." or "err <why>":
//
//	start [kind]     start a broker (default mosquitto); answers "ok <index> <port>"
//	kill <i>         SIGKILL broker i (a crash); "ok"
//	stop <i>         stop broker i gracefully; "ok"
//	restart <i>      start broker i again on the same port; "ok <port>"
//	info <i>         "ok <kind> <port> <version>" of broker i
//	ports            "ok <port> <port> ..." of every broker started
//	quit             stop every broker and exit
//
// End of input is quit, so brokers never outlive the test that started them. With -n N it
// starts N Mosquitto brokers first, with -kinds K,K,... one broker of each kind given (side by
// side: a RabbitMQ node takes seconds), and prints their ports as "ok <port> ...". Brokers only
// ever listen on 127.0.0.1.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

func main() {
	n := flag.Int("n", 0, "Mosquitto brokers to start before reading commands")
	kinds := flag.String("kinds", "", "comma-separated kinds (mosquitto, rabbitmq, aedes) of brokers to start before reading commands")
	flag.Parse()
	var brokers []brokertest.Server
	defer func() {
		for _, b := range brokers {
			b.Close()
		}
	}()
	out := bufio.NewWriter(os.Stdout)
	reply := func(format string, a ...any) {
		fmt.Fprintf(out, format+"\n", a...)
		out.Flush()
	}
	ports := func() string {
		var ps []string
		for _, b := range brokers {
			ps = append(ps, strconv.Itoa(b.Port()))
		}
		return strings.Join(ps, " ")
	}
	var first []brokertest.Kind
	for i := 0; i < *n; i++ {
		first = append(first, brokertest.Mosquitto)
	}
	if *kinds != "" {
		for _, k := range strings.Split(*kinds, ",") {
			first = append(first, brokertest.Kind(strings.TrimSpace(k)))
		}
	}
	if len(first) > 0 {
		started := make([]brokertest.Server, len(first))
		errs := make([]error, len(first))
		var wg sync.WaitGroup
		for i, k := range first {
			wg.Add(1)
			go func() {
				defer wg.Done()
				started[i], errs[i] = brokertest.NewServer(k)
			}()
		}
		wg.Wait()
		for i, b := range started {
			if errs[i] == nil {
				brokers = append(brokers, b)
			}
		}
		if err := errors.Join(errs...); err != nil {
			reply("err %s", strings.ReplaceAll(err.Error(), "\n", " | "))
			return
		}
		reply("ok %s", ports())
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		var b brokertest.Server
		if len(f) > 1 && f[0] != "start" {
			i, err := strconv.Atoi(f[1])
			if err != nil || i < 0 || i >= len(brokers) {
				reply("err no broker %q (have %d)", f[1], len(brokers))
				continue
			}
			b = brokers[i]
		} else if f[0] == "kill" || f[0] == "stop" || f[0] == "restart" || f[0] == "info" {
			reply("err %s needs a broker index", f[0])
			continue
		}
		var err error
		switch f[0] {
		case "start":
			kind := brokertest.Mosquitto
			if len(f) > 1 {
				kind = brokertest.Kind(f[1])
			}
			nb, e := brokertest.NewServer(kind)
			if e == nil {
				brokers = append(brokers, nb)
				reply("ok %d %d", len(brokers)-1, nb.Port())
				continue
			}
			err = e
		case "kill":
			err = b.Kill()
		case "stop":
			err = b.Stop()
		case "restart":
			if err = b.Restart(); err == nil {
				reply("ok %d", b.Port())
				continue
			}
		case "info":
			reply("ok %s %d %s", b.Kind(), b.Port(), strings.ReplaceAll(b.Version(), " ", "_"))
			continue
		case "ports":
			reply("ok %s", ports())
			continue
		case "quit":
			return
		default:
			err = fmt.Errorf("unknown command %q (start, kill, stop, restart, info, ports, quit)", f[0])
		}
		if err != nil {
			reply("err %s", strings.ReplaceAll(err.Error(), "\n", " | "))
		} else {
			reply("ok")
		}
	}
}
