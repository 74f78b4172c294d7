package mixedtest

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// expected is what each implementation does, as found with the versions in series below
// (docs/brokers.md explains each row). KeepAliveClose is checked against keepAliveRange
// instead (timers are coarse and differ by design).
var expected = map[brokertest.Kind]behaviour{
	brokertest.Mosquitto: {
		MQTT5: "accepted", MQTT31: "accepted",
		QoS2Answer: "PUBREC", QoS2Granted: 2, QoS2Delivered: 2,
		RetainedExact: true, RetainedWildcard: true, RetainedCleared: true,
		OverlapCopies: 1,
		ClientID24:    "accepted", ClientID65535: "accepted", ClientIDChars: "accepted",
		EmptyIDClean: "accepted", EmptyIDPersist: "refused 2", Takeover: true,
		KeepAliveZero: true,
		DottedTopic:   "<tag>/a.b/c", Topic300: "delivered", Payload16M: "delivered",
	},
	brokertest.RabbitMQ: {
		MQTT5: "closed", MQTT31: "accepted",
		QoS2Answer: "PUBACK", QoS2Granted: 1, QoS2Delivered: 1,
		RetainedExact: true, RetainedWildcard: false, RetainedCleared: true,
		OverlapCopies: 2,
		ClientID24:    "accepted", ClientID65535: "accepted", ClientIDChars: "accepted",
		EmptyIDClean: "accepted", EmptyIDPersist: "refused 2", Takeover: true,
		KeepAliveZero: true,
		DottedTopic:   "<tag>/a/b/c", Topic300: "delivered", Payload16M: "delivered",
	},
	brokertest.Aedes: {
		MQTT5: "refused 1", MQTT31: "accepted",
		QoS2Answer: "PUBREC", QoS2Granted: 2, QoS2Delivered: 2,
		RetainedExact: true, RetainedWildcard: true, RetainedCleared: true,
		OverlapCopies: 1,
		ClientID24:    "accepted", ClientID65535: "accepted", ClientIDChars: "accepted",
		EmptyIDClean: "accepted", EmptyIDPersist: "accepted", Takeover: true,
		KeepAliveZero: true,
		DottedTopic:   "<tag>/a.b/c", Topic300: "delivered", Payload16M: "delivered",
	},
}

// keepAliveRange bounds when each implementation closes a connection silent for longer than
// its 1 s keep-alive (rounded to 0.5 s). MQTT asks for 1.5 times the keep-alive; Mosquitto 2.0
// computes that in whole seconds (1 s here) and checks only every few seconds when idle,
// RabbitMQ allows two to three intervals.
var keepAliveRange = map[brokertest.Kind][2]time.Duration{
	brokertest.Mosquitto: {time.Second, 12 * time.Second},
	brokertest.RabbitMQ:  {2 * time.Second, 5 * time.Second},
	brokertest.Aedes:     {time.Second, 3 * time.Second},
}

// series is the version series the expectations were taken from; another series fails the
// test, so that its behaviour is looked at (and docs/brokers.md updated) before it is trusted.
var series = map[brokertest.Kind]*regexp.Regexp{
	brokertest.Mosquitto: regexp.MustCompile(`^2\.0\.`),
	brokertest.RabbitMQ:  regexp.MustCompile(`^3\.10\.`),
	brokertest.Aedes:     regexp.MustCompile(`^1\.2\.`),
}

// TestBrokerDifferences probes each broker of the mixed cluster on the wire for what differs
// between implementations (MQTT 5, QoS 2, retained messages, client ID rules, keep-alive,
// topic names, large packets) and asserts what docs/brokers.md documents. With
// HAMQTT_BROKERS_TABLE=FILE it also writes the found behaviour as a Markdown table.
func TestBrokerDifferences(t *testing.T) {
	servers := mixedBrokers(t)
	found := make([]behaviour, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := probe(s.Addr(), fmt.Sprintf("probe%d", time.Now().UnixNano()))
			if err != nil {
				t.Errorf("%s: %v", s.Kind(), err)
			}
			found[i] = b
		}()
	}
	wg.Wait()
	for i, s := range servers {
		k, b := s.Kind(), found[i]
		t.Logf("%s %s: %+v", k, s.Version(), b)
		if !series[k].MatchString(s.Version()) {
			t.Errorf("%s %s is not of the series the expectations were taken from (%s): check docs/brokers.md against what this test logs and update both",
				k, s.Version(), series[k])
		}
		r := keepAliveRange[k]
		if b.KeepAliveClose < r[0] || b.KeepAliveClose > r[1] {
			t.Errorf("%s closed a connection silent past its 1 s keep-alive after %v, expected %v to %v", k, b.KeepAliveClose, r[0], r[1])
		}
		want := expected[k]
		want.KeepAliveClose = b.KeepAliveClose
		if b != want {
			got, exp := reflect.ValueOf(b), reflect.ValueOf(want)
			for f := 0; f < got.NumField(); f++ {
				if !reflect.DeepEqual(got.Field(f).Interface(), exp.Field(f).Interface()) {
					t.Errorf("%s %s: %s is %v, expected %v", k, s.Version(), got.Type().Field(f).Name, got.Field(f), exp.Field(f))
				}
			}
		}
	}
	table := behaviourTable(servers, found)
	t.Logf("\n%s", table)
	if path := os.Getenv("HAMQTT_BROKERS_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// behaviourTable renders what was found as the Markdown table of docs/brokers.md.
func behaviourTable(servers []brokertest.Server, found []behaviour) string {
	yes := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	rows := []struct {
		what string
		cell func(behaviour) string
	}{
		{"MQTT 5 CONNECT", func(b behaviour) string { return b.MQTT5 }},
		{"MQTT 3.1 CONNECT", func(b behaviour) string { return b.MQTT31 }},
		{"answer to a QoS 2 PUBLISH", func(b behaviour) string { return b.QoS2Answer }},
		{"QoS granted to a QoS 2 SUBSCRIBE", func(b behaviour) string { return fmt.Sprint(b.QoS2Granted) }},
		{"QoS of a QoS 2 message delivered there", func(b behaviour) string { return fmt.Sprint(b.QoS2Delivered) }},
		{"retained message to a new subscription to its topic", func(b behaviour) string { return yes(b.RetainedExact) }},
		{"retained message to a new wildcard subscription", func(b behaviour) string { return yes(b.RetainedWildcard) }},
		{"empty retained payload clears it", func(b behaviour) string { return yes(b.RetainedCleared) }},
		{"copies to one client subscribed at QoS 1 (`x/#`) and QoS 0 (`x/a`)", func(b behaviour) string { return fmt.Sprint(b.OverlapCopies) }},
		{"24-character client ID", func(b behaviour) string { return b.ClientID24 }},
		{"65535-character client ID", func(b behaviour) string { return b.ClientID65535 }},
		{"client ID with `/`, `#`, `+`, space, `é`", func(b behaviour) string { return b.ClientIDChars }},
		{"empty client ID, clean session", func(b behaviour) string { return b.EmptyIDClean }},
		{"empty client ID, persistent session", func(b behaviour) string { return b.EmptyIDPersist }},
		{"same client ID again closes the first connection", func(b behaviour) string { return yes(b.Takeover) }},
		{"silent client with keep-alive 1 s closed after", func(b behaviour) string { return fmt.Sprintf("%.1f s", b.KeepAliveClose.Seconds()) }},
		{"keep-alive 0 (off) accepted and left open", func(b behaviour) string { return yes(b.KeepAliveZero) }},
		{"topic `x/a.b/c` arrives as", func(b behaviour) string { return "`" + strings.Replace(b.DottedTopic, "<tag>", "x", 1) + "`" }},
		{"300-byte topic", func(b behaviour) string { return b.Topic300 }},
		{"16 MiB payload", func(b behaviour) string { return b.Payload16M }},
	}
	var s strings.Builder
	s.WriteString("| |")
	for _, srv := range servers {
		fmt.Fprintf(&s, " %s %s |", srv.Kind(), strings.Fields(srv.Version() + " ?")[0])
	}
	s.WriteString("\n|---|")
	for range servers {
		s.WriteString("---|")
	}
	s.WriteString("\n")
	for _, r := range rows {
		fmt.Fprintf(&s, "| %s |", r.what)
		for _, b := range found {
			fmt.Fprintf(&s, " %s |", r.cell(b))
		}
		s.WriteString("\n")
	}
	return s.String()
}
