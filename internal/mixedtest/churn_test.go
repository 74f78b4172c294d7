package mixedtest

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/hamqtt/hamqtt/internal/churn"
)

// TestMixedChurn runs the churn harness (internal/churn) with the Go client
// (internal/cmd/churnclient, the product's default settings) across the mixed cluster: one
// broker down at a time, SIGKILLed every 0.5-2 s and restarted 0.2-1.5 s later (a RabbitMQ
// restart itself takes 3.5-5 s), while 800 QoS 1 messages flow at 100 msg/s. No
// acknowledged message may be lost, in the default and in the no-loss configuration.
// HAMQTT_CHURN_SEED replaces the seed.
func TestMixedChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("churn trials take about half a minute")
	}
	servers := mixedBrokers(t)
	client := buildChurnClient(t)
	seed := uint64(17) // kills Mosquitto, aedes, then RabbitMQ, each while the stream flows
	if s := os.Getenv("HAMQTT_CHURN_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("HAMQTT_CHURN_SEED=%q: %v", s, err)
		}
		seed = v
	}
	var env []string
	if raceEnabled && os.Getenv("GORACE") == "" {
		env = []string{"GORACE=atexit_sleep_ms=0"} // the race runtime's 1 s pause at exit
	}
	logDir := t.TempDir()
	var results []churn.Result
	for _, cfg := range []string{"default", "noloss"} {
		t.Run(cfg, func(t *testing.T) {
			var progress bytes.Buffer
			r, err := churn.Run(context.Background(), churn.Options{
				Pub:      client + " pub --brokers {brokers} --topic {topic} --count {count} --rate {rate} --config {config}",
				Sub:      client + " sub --brokers {brokers} --topic {topic} --config {config}",
				Label:    "go-mixed",
				Config:   cfg,
				Seed:     seed,
				Count:    800,
				Rate:     100,
				Schedule: churn.ScheduleChurn,
				Limits:   churn.DefaultLimits,
				Brokers:  servers,
				LogDir:   logDir,
				Env:      env,
				Progress: &progress,
			})
			t.Log(strings.TrimSpace(progress.String()))
			t.Logf("%s; kills by kind %v", r.Line(), r.KillsByKind)
			results = append(results, r)
			if err != nil || !r.OK() {
				t.Errorf("trial failed: %v\n%s\nlog %s:\n%s", err, strings.Join(r.Failures, "\n"), r.Log, churn.Tail(r.Log, 60))
				if data, err := os.ReadFile(strings.TrimSuffix(r.Log, ".log") + ".brokers.log"); err == nil {
					t.Logf("broker logs (tail):\n%s", tail(string(data), 60))
				}
			}
			if r.Kills == 0 {
				t.Error("no broker was killed")
			}
		})
	}
	var table bytes.Buffer
	churn.WriteTable(&table, results)
	t.Logf("\n%s", table.String())
}

// buildChurnClient builds the Go churn client (with the race detector when this test runs with
// it) into a temporary directory.
func buildChurnClient(t *testing.T) string {
	t.Helper()
	bin, err := churn.BuildGoClient(t.TempDir(), raceEnabled)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}
