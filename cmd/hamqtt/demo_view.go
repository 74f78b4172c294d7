package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// startDisplay shows the demo's state until the returned function is called: a view redrawn
// in place on a terminal, a progress line every second otherwise.
func (d *demo) startDisplay() func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := time.Second
		if d.live {
			every = 250 * time.Millisecond
			d.render()
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if d.live {
					d.render()
				}
				return
			case <-t.C:
				if d.live {
					d.render()
				} else {
					d.progress()
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// progress prints one plain line of counters.
func (d *demo) progress() {
	s := d.snapshot()
	var states []string
	for _, r := range s.rows {
		b := "up"
		if !r.brokerUp {
			b = "KILLED"
		}
		states = append(states, fmt.Sprintf("%s %s pub:%s sub:%s", r.name, b, r.pubState, r.subState))
	}
	line := fmt.Sprintf("%6.1fs  sent %d  acked %d  received %d  pending %d  lost %d  duplicated %d  failovers %d  | %s",
		s.elapsed.Seconds(), s.sent, s.acked, s.unique, s.pending, s.lost, s.dup, s.failovers, strings.Join(states, ", "))
	d.outMu.Lock()
	fmt.Fprintln(d.e.stdout, line)
	d.outMu.Unlock()
}

// ANSI helpers for the live view; NO_COLOR turns colours off.
var useColor = os.Getenv("NO_COLOR") == ""

func color(code, s string) string {
	if !useColor {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// cell pads s to width (by its visible length) and colours it.
func cell(s string, width int, code string) string {
	pad := ""
	if n := width - len(s); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	if code == "" {
		return s + pad
	}
	return color(code, s) + pad
}

func stateColor(state string) string {
	switch state {
	case "live", "up":
		return "32" // green
	case "connecting":
		return "33" // yellow
	default:
		return "31" // red
	}
}

// render redraws the live view in place.
func (d *demo) render() {
	s := d.snapshot()
	var b strings.Builder
	line := func(format string, args ...any) {
		b.WriteString("\x1b[K")
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	line("%s · %d brokers · publisher ALL, QoS %d, %g msg/s · subscriber FoS 0, dedup",
		color("1", "hamqtt demo"), len(d.names), d.o.qos, d.o.rate)
	line("elapsed %5.1fs of %v · %s · kills %d · Ctrl-C stops early", s.elapsed.Seconds(), d.o.duration, s.phase, s.kills)
	line("")
	line("%s", color("1", fmt.Sprintf("%-9s %-8s %-21s %-10s %-10s %7s %7s %8s %9s", "ENDPOINT", "BROKER", "ADDRESS",
		"PUBLISHER", "SUBSCRIBER", "SENT", "ACKED", "RECEIVED", "FAILOVERS")))
	for _, r := range s.rows {
		broker := "up"
		if !r.brokerUp {
			broker = "KILLED"
		}
		line("%-9s %s %-21s %s %s %7d %7d %8d %9d", r.name, cell(broker, 8, stateColor(broker)), strings.TrimPrefix(r.uri, "tcp://"),
			cell(r.pubState, 10, stateColor(r.pubState)), cell(r.subState, 10, stateColor(r.subState)),
			r.sent, r.acked, r.received, r.failovers)
	}
	line("")
	lost := fmt.Sprintf("lost %d", s.lost)
	if s.lost > 0 {
		lost = color("1;31", lost)
	} else {
		lost = color("32", lost)
	}
	line("sent %d · acked %d · received %d · in transit %d", s.sent, s.acked, s.unique, s.pending)
	line("%s · duplicated %d · failovers %d · unacknowledged %d · copies removed by dedup %d",
		lost, s.dup, s.failovers, s.failed, s.copies)
	line("")
	line("%s", color("1", "events"))
	events := d.log.last()
	for i := range 6 {
		if i < len(events) {
			line("  %s", truncate(events[i], 96))
		} else {
			line("")
		}
	}
	d.outMu.Lock()
	defer d.outMu.Unlock()
	if d.lines > 0 {
		fmt.Fprintf(d.e.stdout, "\x1b[%dF", d.lines) // back to the first line of the last view
	}
	fmt.Fprint(d.e.stdout, b.String())
	d.lines = strings.Count(b.String(), "\n")
}

// summary prints the outcome.
func (d *demo) summary(s demoSnapshot, publishTime, drained time.Duration, interrupted bool) {
	w := d.e.stdout
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "summary")
	how := ""
	if interrupted {
		how = " (interrupted)"
	}
	fmt.Fprintf(w, "  ran             %.1fs%s with %d brokers; drain %.1fs\n", publishTime.Seconds(), how, len(d.names), drained.Seconds())
	fmt.Fprintf(w, "  brokers killed  %d (SIGKILL), each restarted\n", s.kills)
	fmt.Fprintf(w, "  failovers       %d (a client lost a broker and carried on through the others)\n", s.failovers)
	fmt.Fprintf(w, "  sent            %d\n", s.sent)
	fmt.Fprintf(w, "  acknowledged    %d\n", s.acked)
	if s.failed > 0 {
		fmt.Fprintf(w, "  unacknowledged  %d (the publisher got an error, so they are not counted as lost; first: %s)\n", s.failed, s.failErr)
	} else {
		fmt.Fprintf(w, "  unacknowledged  0\n")
	}
	fmt.Fprintf(w, "  received        %d distinct messages; %d copies through the other brokers removed by dedup\n", s.unique, s.copies)
	fmt.Fprintf(w, "  duplicated      %d\n", s.dup)
	fmt.Fprintf(w, "  lost            %d\n", s.lost)
	switch {
	case s.lost > 0:
		fmt.Fprintf(w, "RESULT: FAIL, %d lost: %d acknowledged messages never reached the subscriber (first: seq %d)\n", s.lost, s.lost, s.firstLost)
	case s.acked == 0:
		fmt.Fprintf(w, "RESULT: FAIL, nothing was acknowledged\n")
	default:
		fmt.Fprintf(w, "RESULT: OK, 0 lost: all %d acknowledged messages were received; brokers were killed and restarted %d %s\n",
			s.acked, s.kills, plural(int(s.kills), "time", "times"))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
