package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hamqtt/hamqtt/internal/brokertest"
)

// TestMQTT5Properties: with -V 5, pub's properties reach sub, which prints them with -v
// (plain) and in -format json, with the subscription identifier it asked for; status names
// the MQTT version.
func TestMQTT5Properties(t *testing.T) {
	eps := endpointList(brokertest.StartN(t, 1))
	plain := start(t, "sub", "-V", "5", "-endpoints", eps, "-t", "test/v5", "-q", "1", "-count", "1", "-duration", "30s",
		"-subscription-id", "7", "-no-local", "-retain-handling", "1", "-v")
	jsonSub := start(t, "sub", "-V", "mqttv5", "-endpoints", eps, "-t", "test/v5", "-q", "1", "-count", "1", "-duration", "30s", "-format", "json")
	plain.waitStderr(subscribed, subReady)
	jsonSub.waitStderr(subscribed, subReady)

	pub := hamqtt(t, "", "pub", "-V", "5", "-endpoints", eps, "-t", "test/v5", "-q", "1", "-m", "hello v5",
		"-user-property", "site=lab", "-user-property", "shift=night", "-user-property", "site=annex",
		"-content-type", "text/plain", "-response-topic", "replies/1", "-correlation-data", "req-42",
		"-expiry", "600", "-payload-format", "1")
	expectCode(t, pub, 0)

	r := plain.wait(exitWait)
	expectCode(t, r, 0)
	want := regexp.MustCompile(`^cluster-default-1 - test/v5: hello v5\n` +
		`  props: payload-format=1 expiry=(600|59\d) content-type="text/plain" response-topic="replies/1" correlation-data="req-42" ` +
		`subscription-ids=7 user-property:"site"="lab" user-property:"shift"="night" user-property:"site"="annex"\n$`)
	if !want.MatchString(r.stdout) {
		t.Fatalf("sub -v did not print the message and its properties as documented\n%v", r)
	}

	j := jsonSub.wait(exitWait)
	expectCode(t, j, 0)
	var m struct {
		Payload    string
		Properties struct {
			PayloadFormat   *int                          `json:"payload_format"`
			MessageExpiry   int                           `json:"message_expiry"`
			ContentType     string                        `json:"content_type"`
			ResponseTopic   string                        `json:"response_topic"`
			CorrelationData string                        `json:"correlation_data"`
			SubscriptionIDs []int                         `json:"subscription_ids"`
			UserProperties  []struct{ Key, Value string } `json:"user_properties"`
		}
	}
	if err := json.Unmarshal([]byte(j.stdout), &m); err != nil {
		t.Fatalf("sub -format json: %v\n%v", err, j)
	}
	p := m.Properties
	if m.Payload != "hello v5" || p.PayloadFormat == nil || *p.PayloadFormat != 1 || p.MessageExpiry < 590 || p.ContentType != "text/plain" ||
		p.ResponseTopic != "replies/1" || p.CorrelationData != "req-42" || p.SubscriptionIDs != nil ||
		fmt.Sprint(p.UserProperties) != "[{site lab} {shift night} {site annex}]" {
		t.Fatalf("unexpected JSON properties %+v\n%v", m, j)
	}

	st := hamqtt(t, "", "status", "-V", "5", "-endpoints", eps)
	expectCode(t, st, 0)
	if !strings.Contains(st.stdout, "cluster cluster-default: 1 of 1 endpoints live (publisher STICKY, fos 0, MQTT 5)") {
		t.Fatalf("status does not name the MQTT version\n%v", st)
	}
}

// TestMQTT5Refused: a message the broker refuses (an ACL, MQTT 5 reason code) fails the run
// with the endpoint and the reason code; the 3.1.1 default refuses properties on the command line.
func TestMQTT5Refused(t *testing.T) {
	acl := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(acl, []byte("topic readwrite ok/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, brokertest.Options{ExtraConfig: "acl_file " + acl + "\n"})
	r := hamqtt(t, "", "pub", "-V", "5", "-endpoints", b.URI(), "-t", "denied/x", "-q", "1", "-m", "no")
	expectCode(t, r, 1)
	if !strings.Contains(r.stderr, `hamqtt pub: message 1 to "denied/x" refused by cluster-default-1: PUBACK Not authorized (0x87)`) {
		t.Fatalf("a refused publish should name the broker and the reason code\n%v", r)
	}
	expectCode(t, hamqtt(t, "", "pub", "-V", "5", "-endpoints", b.URI(), "-t", "ok/x", "-q", "1", "-m", "yes", "-quiet"), 0)
}

// TestMQTT5UsageErrors: MQTT 5 flags on a 3.1.1 cluster, and bad values, are usage errors
// that say what to do.
func TestMQTT5UsageErrors(t *testing.T) {
	const ep = "tcp://127.0.0.1:1"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"pub", "-endpoints", ep, "-t", "a", "-m", "x", "-user-property", "k=v", "-expiry", "5"},
			`-user-property, -expiry: MQTT 5 properties need MQTT 5, and cluster "cluster-default" speaks MQTT 3.1.1: add -V 5`},
		{[]string{"sub", "-endpoints", ep, "-t", "a", "-no-local"}, `-no-local: MQTT 5 subscription options need MQTT 5`},
		{[]string{"pub", "-V", "3", "-endpoints", ep, "-t", "a", "-m", "x"}, "-V 3: MQTT 3.1 is not supported"},
		{[]string{"pub", "-V", "6", "-endpoints", ep, "-t", "a", "-m", "x"}, "-V 6: use mqttv5"},
		{[]string{"pub", "-t", "a", "-m", "x", "-user-property", "novalue"}, `"novalue": give NAME=VALUE`},
		{[]string{"pub", "-t", "a", "-m", "x", "-payload-format", "2"}, "-payload-format 2: use 0"},
		{[]string{"sub", "-t", "a", "-retain-handling", "3"}, "-retain-handling 3"},
		{[]string{"pub", "-t", "a", "-m", "x", "-expiry", "0"}, "-expiry 0: give seconds from 1"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
			r := hamqtt(t, "", c.args...)
			expectCode(t, r, 2)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr lacks %q\n%v", c.want, r)
			}
		})
	}
}
