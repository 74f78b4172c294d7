package core

import (
	"errors"
	"strings"
	"testing"
	"time"
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

func TestValidateMQTTString(t *testing.T) {
	for _, ok := range []string{"a/b", "é/ü/€", "emoji 😀", "\uFFFD", "tab-free text"} {
		if err := ValidateTopic(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"a\x01b":      "control character U+0001",
		"a\x7fb":      "control character U+007F",
		"a\u0085b":    "control character U+0085",
		"a\uffffb":    "non-character U+FFFF",
		"a\ufdd0b":    "non-character U+FDD0",
		"a\U0001FFFE": "non-character U+1FFFE",
		"a\x00b":      "NUL",
		"a\xffb":      "not valid UTF-8",
	} {
		err := ValidateTopic(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateTopic(%q) = %v, want an error naming %s", in, err, want)
		}
		if err := ValidateFilter(in); err == nil {
			t.Errorf("ValidateFilter(%q) accepted it", in)
		}
	}
}

// Values MQTT cannot carry are refused with the limit named, never cut or wrapped.
func TestSessionSettingsWithinMQTTLimits(t *testing.T) {
	base := func() Config { return Config{Endpoints: []EndpointConfig{{URI: "tcp://127.0.0.1:1883"}}} }
	for want, mod := range map[string]func(*Config){
		"65535 s":             func(c *Config) { c.Connection.KeepAlive = 65537 * time.Second },
		"one second":          func(c *Config) { c.Connection.KeepAlive = 500 * time.Millisecond },
		"client ID of 70000":  func(c *Config) { c.Connection.ClientID = strings.Repeat("c", 70000) },
		"user name of 70000":  func(c *Config) { c.Connection.Username = strings.Repeat("u", 70000) },
		"password of 70000":   func(c *Config) { c.Connection.Password = strings.Repeat("p", 70000) },
		"will payload of":     func(c *Config) { c.Connection.Will = &Will{Topic: "w", Payload: make([]byte, 70000)} },
		"client ID \"a\\xffb": func(c *Config) { c.Connection.ClientID = "a\xffb" },
		"control character":   func(c *Config) { c.Connection.Username = "bob\x02" },
	} {
		cfg := base()
		mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
	for text, want := range map[string]string{
		"clusters:\n  - name: k\n    connections:\n      - connection:\n          serverURIs: [tcp://127.0.0.1:1883]\n          keepAliveInterval: 65537\n": "65535 seconds",
		"clusters:\n  - name: k\n    timeToWait: 18446744073710\n":   "out of range",
		"clusters:\n  - name: k\n    timeToWait: 9223372036854775\n": "out of range",
	} {
		if _, err := ParseConfig([]byte(text), "k.yaml", LoadOptions{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", text, err, want)
		}
	}
}

func TestURICredentialsNeverPrinted(t *testing.T) {
	for in, want := range map[string]string{
		"tcp://alice:s3cret@host:1883":  "tcp://alice:***@host:1883",
		"alice:s3cret@host:1883":        "alice:***@host:1883",
		"wss://tok3n@host/mqtt":         "wss://***@host/mqtt",
		"tcp://a:b:c@host:1":            "tcp://a:***@host:1",
		"tcp://host:1883":               "tcp://host:1883",
		"ws://host/path@not-userinfo":   "ws://host/path@not-userinfo",
		"tcp://al:pw@10.0.0.5-7:1883-4": "tcp://al:***@10.0.0.5-7:1883-4",
	} {
		if got := RedactURI(in); got != want {
			t.Errorf("RedactURI(%q) = %q, want %q", in, got, want)
		}
	}
	_, err := ExpandURIs("tcp://alice:s3cret@127.0.0.1:1883")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("error for a URI with a password: %v", err)
	}
	_, err = New(Config{Endpoints: []EndpointConfig{{URI: "tcp://alice:s3cret@127.0.0.1:1883"}}})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("New: %v", err)
	}
	_, err = ParseConfig([]byte("clusters:\n  - name: s\n    connections:\n      - connection:\n          serverURIs: [tcp://alice:s3cret@127.0.0.1:1883]\n"), "s.yaml", LoadOptions{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("ParseConfig: %v", err)
	}
}
