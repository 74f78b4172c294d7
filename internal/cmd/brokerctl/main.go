// Command brokerctl runs Mosquitto brokers on free 127.0.0.1 ports for tests written in other
// languages (the C tests of tests/c, shell scripts). It reads one command per line on stdin
// and answers one line on stdout, "ok ..." or "err <why>":
//
//	start            start a broker; answers "ok <index> <port>"
//	kill <i>         SIGKILL broker i (a crash); "ok"
//	stop <i>         SIGTERM broker i; "ok"
//	restart <i>      start broker i again on the same port; "ok <port>"
//	ports            "ok <port> <port> ..." of every broker started
//	quit             stop every broker and exit
//
// End of input is quit, so brokers never outlive the test that started them. With -n N it
// starts N brokers first and prints their ports as "ok <port> ...". Brokers only ever listen
// on 127.0.0.1.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

func main() {
	n := flag.Int("n", 0, "brokers to start before reading commands")
	flag.Parse()
	var brokers []*brokertest.Broker
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
	for i := 0; i < *n; i++ {
		b, err := brokertest.New(brokertest.Options{})
		if err != nil {
			reply("err %v", err)
			return
		}
		brokers = append(brokers, b)
	}
	if *n > 0 {
		reply("ok %s", ports())
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		var b *brokertest.Broker
		if len(f) > 1 {
			i, err := strconv.Atoi(f[1])
			if err != nil || i < 0 || i >= len(brokers) {
				reply("err no broker %q (have %d)", f[1], len(brokers))
				continue
			}
			b = brokers[i]
		} else if f[0] == "kill" || f[0] == "stop" || f[0] == "restart" {
			reply("err %s needs a broker index", f[0])
			continue
		}
		var err error
		switch f[0] {
		case "start":
			nb, e := brokertest.New(brokertest.Options{})
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
		case "ports":
			reply("ok %s", ports())
			continue
		case "quit":
			return
		default:
			err = fmt.Errorf("unknown command %q (start, kill, stop, restart, ports, quit)", f[0])
		}
		if err != nil {
			reply("err %v", err)
		} else {
			reply("ok")
		}
	}
}
