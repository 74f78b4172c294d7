package churn

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// The kill schedules.
const (
	// ScheduleChurn: one broker down at a time; every 0.5-2 s a broker is SIGKILLed and
	// restarted 0.2-1.5 s later; half the kills hit the broker hit last, the others a random
	// one. The next kill is chosen once the restart completed, without waiting for the clients
	// to come back.
	ScheduleChurn = "churn"
	// ScheduleOutage: after about a quarter of the run every broker is SIGKILLed for
	// Options.Outage, then all are restarted; nothing else.
	ScheduleOutage = "outage"
	// ScheduleCrash: the outage schedule, and in the middle of the outage (at a moment drawn
	// from the seed, in its second and third quarters) the publisher's process group is
	// SIGKILLed and the publisher started again at once with {start} one past the highest
	// sequence number it reported STORED or ACK, on the same {outbox}; nothing else.
	ScheduleCrash = "crash"
	// ScheduleDouble: like churn, but each event kills two brokers at once (one survives) and
	// restarts both 0.2-1.5 s later; half the events spare the broker spared last.
	ScheduleDouble = "double"
	// ScheduleNone kills nothing: a check of the harness and the clients themselves.
	ScheduleNone = "none"
)

// Schedules lists the valid Options.Schedule values.
var Schedules = []string{ScheduleChurn, ScheduleOutage, ScheduleCrash, ScheduleDouble, ScheduleNone}

// killer runs one schedule against the brokers until stop is closed. Its random choices come
// from rng alone, so a seed replays the same sequence of kills (the timing of the clients
// around them varies, of course).
type killer struct {
	brokers  []brokertest.Server
	rng      *rand.Rand
	lg       *trialLog
	stop     chan struct{}
	schedule string
	outage   time.Duration
	outageAt time.Duration // how long into the run the outage begins
	// crash asks the trial to SIGKILL the publisher and start it again (ScheduleCrash); the
	// trial answers on the channel it is sent once the new publisher runs.
	crash chan chan error

	kills  int            // read once run returned
	byKind map[string]int // kills per broker implementation, likewise
	err    error          // a restart that failed
}

// sleep waits d or until stop; it reports whether the schedule goes on.
func (k *killer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-k.stop:
		return false
	}
}

// between draws a duration uniformly in [lo, hi].
func (k *killer) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(k.rng.Int64N(int64(hi-lo)+1))
}

func (k *killer) kill(i int, why string) {
	b := k.brokers[i]
	if err := b.Kill(); err != nil {
		k.lg.printf("harness: kill broker %d (%s): %v", i+1, b.Addr(), err)
		return
	}
	k.kills++
	if k.byKind == nil {
		k.byKind = map[string]int{}
	}
	k.byKind[string(b.Kind())]++
	k.lg.printf("harness: SIGKILL broker %d (%s, %s)%s", i+1, b.Addr(), b.Kind(), why)
}

// restart starts the given brokers again, in parallel, and returns once all accept connections.
func (k *killer) restart(idx ...int) bool {
	errs := make([]error, len(idx))
	var wg sync.WaitGroup
	for n, i := range idx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[n] = k.brokers[i].Restart()
		}()
	}
	wg.Wait()
	for n, i := range idx {
		if errs[n] != nil {
			k.err = fmt.Errorf("restart of broker %d (%s): %w", i+1, k.brokers[i].Addr(), errs[n])
			k.lg.printf("harness: %v", k.err)
			return false
		}
		k.lg.printf("harness: broker %d (%s) restarted", i+1, k.brokers[i].Addr())
	}
	return true
}

func (k *killer) run() {
	switch k.schedule {
	case ScheduleChurn:
		k.churn()
	case ScheduleDouble:
		k.double()
	case ScheduleOutage, ScheduleCrash:
		k.total()
	case ScheduleNone:
		<-k.stop
	}
}

func (k *killer) churn() {
	last := -1
	for {
		if !k.sleep(k.between(500*time.Millisecond, 2*time.Second)) {
			return
		}
		v, why := k.rng.IntN(len(k.brokers)), ""
		if last >= 0 && k.rng.IntN(2) == 0 {
			v, why = last, " (the broker hit last, again)"
		}
		k.kill(v, why)
		last = v
		k.sleep(k.between(200*time.Millisecond, 1500*time.Millisecond)) // a stop restarts at once
		if !k.restart(v) {
			return
		}
	}
}

// crashPublisher has the trial SIGKILL and restart the publisher, and waits until it did.
func (k *killer) crashPublisher() {
	done := make(chan error, 1)
	select {
	case k.crash <- done:
	case <-k.stop:
		return
	}
	select {
	case err := <-done:
		if err != nil {
			k.lg.printf("harness: the publisher's crash: %v", err)
		}
	case <-k.stop:
	}
}

func (k *killer) double() {
	spared := -1
	for {
		if !k.sleep(k.between(500*time.Millisecond, 2*time.Second)) {
			return
		}
		s := k.rng.IntN(len(k.brokers))
		if spared >= 0 && k.rng.IntN(2) == 0 {
			s = spared
		}
		spared = s
		var victims []int
		for i := range k.brokers {
			if i != s {
				victims = append(victims, i)
			}
		}
		for _, v := range victims {
			k.kill(v, fmt.Sprintf(" (double: broker %d survives)", s+1))
		}
		k.sleep(k.between(200*time.Millisecond, 1500*time.Millisecond))
		if !k.restart(victims...) {
			return
		}
	}
}

func (k *killer) total() {
	if !k.sleep(k.outageAt) {
		return
	}
	all := make([]int, len(k.brokers))
	for i := range all {
		all[i] = i
		k.kill(i, " (outage)")
	}
	k.lg.printf("harness: outage of every broker for %v", k.outage)
	began := time.Now()
	if k.schedule == ScheduleCrash {
		at := k.between(k.outage/4, k.outage*3/4)
		k.lg.printf("harness: the publisher crashes %v into the outage", at)
		if k.sleep(at) {
			k.crashPublisher()
		}
	}
	k.sleep(k.outage - time.Since(began)) // a stop restarts at once
	if !k.restart(all...) {
		return
	}
	k.lg.printf("harness: outage over")
	<-k.stop
}
