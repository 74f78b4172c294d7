package core

import (
	"errors"
	"strings"
	"testing"
)

func TestExpandURIs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"tcp://h:1883-1885", "tcp://h:1883,tcp://h:1884,tcp://h:1885"},
		{"tcp://10.0.0.5-7:1883", "tcp://10.0.0.5:1883,tcp://10.0.0.6:1883,tcp://10.0.0.7:1883"},
		{"tcp://10.0.0.5-6:1883-1884", "tcp://10.0.0.5:1883,tcp://10.0.0.5:1884,tcp://10.0.0.6:1883,tcp://10.0.0.6:1884"},
		{"tcp://[::1]:1883", "tcp://[::1]:1883"},
		{"mqtts://h, ws://h/mqtt ,wss://h, ssl://h, mqtt://h", "mqtts://h:8883,ws://h:80/mqtt,wss://h:443,ssl://h:8883,mqtt://h:1883"},
		{"h:1,tcp://h:1,h:1", "tcp://h:1"},
	} {
		got, err := ExpandURIs(tc.in)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("ExpandURIs(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"foo://h", "unknown scheme"},
		{"tcp://h:0", "out of range"},
		{"tcp://h:9-1", "out of range"},
		{"tcp://h:x", "not a number"},
		{"tcp://::1:1883", "in brackets"},
		{"tcp://[::1", "unterminated"},
		{"tcp://host-a.b-c:1883-1884", ""}, // hyphens in names are not ranges
		{"tcp://10.0.0.1-254:1-65535", "narrow the ranges"},
		{"tcp://u:p@h", "credentials"},
	} {
		_, err := ExpandURIs(tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ExpandURIs(%q): %v", tc.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ExpandURIs(%q): want error containing %q, got %v", tc.in, tc.want, err)
		}
	}
}

func TestTopicMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false}, {"a/#", "a", true},
		{"a/#", "a/b/c", true}, {"#", "a/b", true}, {"+/+", "a/b", true}, {"+", "$SYS", false},
		{"#", "$SYS/x", false}, {"$SYS/#", "$SYS/x", true}, {"a/+/c", "a//c", true}, {"a", "a/b", false},
	} {
		if got := TopicMatches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("TopicMatches(%q, %q) = %v", tc.filter, tc.topic, got)
		}
	}
}

func TestTypedErrors(t *testing.T) {
	c, err := New(Config{Name: "typed", Endpoints: []EndpointConfig{{URI: "tcp://127.0.0.1:1"}}, PublishOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.RemoveEndpoint("x"); !errors.Is(err, ErrEndpointNotFound) || !strings.Contains(err.Error(), `endpoint "x" not found (endpoints: typed-1)`) {
		t.Errorf("RemoveEndpoint: %v", err)
	}
	if err := c.PublishTo(ctxT(t, 0), "x", "t", 0, false, nil); !errors.Is(err, ErrEndpointNotFound) {
		t.Errorf("PublishTo: %v", err)
	}
	if err := c.Subscribe(ctxT(t, 0), "t", 0, nil); !errors.Is(err, ErrPublishOnly) {
		t.Errorf("Subscribe: %v", err)
	}
}
