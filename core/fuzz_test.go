package core

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Fuzz targets for every parser of untrusted text: configuration files, broker URIs, topics
// and filters, and the packets a broker sends. `go test ./core` runs their seeds; `make fuzz`
// (mk/fuzz.mk) runs each for FUZZTIME.

// fuzzEnv is the environment of FuzzParseConfig: fixed, so that an input means one thing.
var fuzzEnv = cfgEnvOf(map[string]string{"HOST": "127.0.0.1", "PORTS": "1883-1885", "USER": "u", "PW": "p${x}", "NESTED": "${env:HOST}"})

func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/padogrid/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		builtinConfig,
		"clusters:\n  - name: a\n    connections:\n      - connection:\n          serverURIs: [tcp://${env:HOST}:${PORTS}]\n          userName: ${USER}\n          password: $${env:PW}\n",
		"d: &d {publisherType: ALL, timeToWait: 10}\nclusters:\n  - <<: *d\n    name: a\n  - <<: [*d]\n    name: b\n    bridges: {in: [{cluster: a, topicFilters: [a/#], qos: 1}]}\n",
		"clusters:\n  - name: a\n    fos: 3\n    liveEndpointCount: 2\n    subscriberCount: 0\n    endpoints:\n      - {name: x, endpoint: tcp://h:1, topicBase: t/}\n    primaryServerURI: x\n",
		"clusters:\n  - name: a\n    connections:\n      - connection:\n          keepAliveInterval: 9223372036854775807\n          willDestination: w\n          willMessage: {payload: !!binary aGk=, qos: 2}\n",
		"clusters:\n  - name: a\n    connections:\n      - tls: {cafile: /dev/zero, tlsVersion: TLSv1.3}\n",
		"plugins:\n  - name: p\n    properties: [{key: k, value: v}]\n    subscriptions: [{topicFilters: [a/+], qos: 2}]\nclusters: [{name: a, pluginNames: [p]}]\n",
		"clusters:\n  - name: a\n   fos: 1\n",
		"a: &a [*a]\n",
		"x: ${env:${env:X}}\ny: ${env:HOME\n",
		"---\n---\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fc, err := ParseConfig(data, "fuzz.yaml", LoadOptions{Getenv: fuzzEnv})
		if err != nil {
			if fc != nil {
				t.Fatalf("a FileConfig came back with an error: %v", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != "fuzz.yaml" {
				t.Fatalf("not a *ConfigError: %v", err)
			}
			return
		}
		total := 0
		for _, c := range fc.Clusters {
			if len(c.Endpoints) == 0 || len(c.Endpoints) > MaxExpandedURIs {
				t.Fatalf("cluster %q has %d endpoints", c.Name, len(c.Endpoints))
			}
			total += len(c.Endpoints)
			for _, e := range c.Endpoints {
				if _, err := parseBrokerURI(e.URI); err != nil {
					t.Fatalf("cluster %q: endpoint %q: %v", c.Name, e.URI, err)
				}
			}
			if _, ok := fc.Settings[c.Name]; !ok {
				t.Fatalf("cluster %q has no settings", c.Name)
			}
		}
		if total > MaxConfigEndpoints {
			t.Fatalf("%d endpoints in all", total)
		}
	})
}

func FuzzExpandURIs(f *testing.F) {
	for _, s := range []string{
		"tcp://127.0.0.1:1883", "tcp://10.0.0.5-7:1883-1885", "h:1,h:2, ws://h/mqtt", "wss://[::1]:443/p",
		"mqtts://h", "tcp://[::1", "tcp://a:b@h:1", "tcp://10.0.0.0-255:1-65535", "ssl://h:0-1", "tcp://h:-1",
		"tcp://1.2.3.4-2:1", "mqtt://[fe80::1%25eth0]:1883", "tcp://h:1883/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		us, err := ExpandURIs(list)
		if err != nil {
			return
		}
		if len(us) > MaxExpandedURIs {
			t.Fatalf("%d URIs", len(us))
		}
		seen := map[string]bool{}
		for _, u := range us {
			if seen[u] {
				t.Fatalf("%q twice", u)
			}
			seen[u] = true
			// Canonical: a canonical URI expands to itself.
			again, err := ExpandURIs(u)
			if err != nil || len(again) != 1 || again[0] != u {
				t.Fatalf("%q expands to %q, %v", u, again, err)
			}
			bu, err := parseBrokerURI(u)
			if err != nil || bu.Port < 1 || bu.Port > 65535 || bu.Host == "" {
				t.Fatalf("%q: %+v %v", u, bu, err)
			}
		}
	})
}

func FuzzRedactURI(f *testing.F) {
	f.Add("tcp", "alice", "s3cret", "host:1883")
	f.Add("", "tok3n", "", "h/p")
	f.Add("wss", "a", "c@d:e", "h/x@y")
	f.Fuzz(func(t *testing.T, scheme, user, password, rest string) {
		// The shape of a URI with credentials: scheme://user[:password]@host..., where the
		// user holds no ':' and neither part holds '/', '?' or '#' (they end the authority),
		// and the host part holds no '@'.
		if strings.ContainsAny(scheme, ":/?#@") || strings.ContainsAny(user, ":/?#") ||
			strings.ContainsAny(password, "/?#") || strings.Contains(rest, "@") {
			return
		}
		prefix := ""
		if scheme != "" {
			prefix = scheme + "://"
		} else if strings.Contains(user+password+rest, "://") {
			return
		}
		s, want := prefix+user+":"+password+"@"+rest, prefix+user+":***@"+rest
		if password == "" {
			s, want = prefix+user+"@"+rest, prefix+"***@"+rest // a lone user part: a token
		}
		if got := RedactURI(s); got != want {
			t.Fatalf("RedactURI(%q) = %q, want %q", s, got, want)
		}
	})
}

// refTopicMatch is MQTT 3.1.1 §4.7 written level by level, to check TopicMatches against.
func refTopicMatch(filter, topic string) bool {
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (fl[0] == "+" || fl[0] == "#") {
		return false
	}
	for i, l := range fl {
		if l == "#" {
			return true // also the parent level: "a/#" matches "a"
		}
		if i >= len(tl) || (l != "+" && l != tl[i]) {
			return false
		}
	}
	return len(fl) == len(tl)
}

func FuzzTopics(f *testing.F) {
	for _, p := range [][2]string{
		{"a/#", "a"}, {"a/+/c", "a/b/c"}, {"+", "$SYS"}, {"#", "$SYS/x"}, {"a/b", "a/b"}, {"+/+", "/"},
		{"a/#/b", "a/x/b"}, {"a+", "a+"}, {"", ""}, {"a\x00", "a\x01"}, {"\uFFFE", "\u0085"}, {"a/\xff", "a/\xff"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		ferr, terr := ValidateFilter(filter), ValidateTopic(topic)
		match := TopicMatches(filter, topic) // must not panic on anything
		if terr == nil {
			if !utf8.ValidString(topic) || strings.ContainsAny(topic, "+#\x00") || topic == "" || len(topic) > MaxTopicLength {
				t.Fatalf("ValidateTopic accepted %q", topic)
			}
			if err := ValidateFilter(topic); err != nil {
				t.Fatalf("topic %q is valid but not as a filter: %v", topic, err)
			}
			if !TopicMatches(topic, topic) {
				t.Fatalf("topic %q does not match itself", topic)
			}
			if err := ValidateMQTTString("topic", topic); err != nil {
				t.Fatalf("topic %q: %v", topic, err)
			}
		}
		if ferr == nil && terr == nil {
			if want := refTopicMatch(filter, topic); match != want {
				t.Fatalf("TopicMatches(%q, %q) = %v, want %v", filter, topic, match, want)
			}
			if !strings.ContainsAny(filter, "+#") && match != (filter == topic) {
				t.Fatalf("TopicMatches(%q, %q) = %v without wildcards", filter, topic, match)
			}
		}
		if ferr == nil && (!utf8.ValidString(filter) || strings.ContainsRune(filter, 0)) {
			t.Fatalf("ValidateFilter accepted %q", filter)
		}
	})
}

// guardPackets splits what the guard handed over into packets by their fixed headers; ok is
// false if the bytes do not end at a packet boundary.
func guardPackets(b []byte) (n int, ok bool) {
	for len(b) > 0 {
		h, length := 1, 0
		for mult := 1; ; mult *= 128 {
			if h >= len(b) || h > 4 {
				return n, false
			}
			length += int(b[h]&0x7f) * mult
			h++
			if b[h-1]&0x80 == 0 {
				break
			}
		}
		if h+length > len(b) {
			return n, false
		}
		b = b[h+length:]
		n++
	}
	return n, true
}

func FuzzInboundGuard(f *testing.F) {
	seeds := [][]byte{
		encodePacket(0x20, []byte{0, 0}),
		append(encodePacket(0x90, []byte{0, 1, 1, 0x80}), encodePacket(0x32, publishBody("a/b", 7, []byte("hi")))...),
		append(encodePacket(0x62, []byte{0, 7}), encodePacket(0xd0, nil)...),
		encodePacket(0x30, publishBody("a/big", 0, bytes.Repeat([]byte("x"), 40<<10))),
		encodePacket(0x34, publishBody("é/ü", 9, []byte{0})),
		{0x30, 0xff, 0xff, 0xff, 0x7f},
		{0x30, 0xff, 0xff, 0xff, 0xff, 0x01},
		encodePacket(0x30, publishBody("a/#", 0, nil)),
		encodePacket(0x10, []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 0}),
		append(encodePacket(0xb0, []byte{0, 3}), 0x40, 0x02, 0, 1),
	}
	for i, s := range seeds {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, stream []byte, mode uint8) {
		max := DefaultMaxIncomingPacket
		if mode&2 != 0 {
			max = 1 + int(mode)*64 // small limits, so that the fuzzer reaches them
		}
		var src io.Reader = bytes.NewReader(stream)
		if mode&1 != 0 {
			src = iotest.OneByteReader(src) // a socket that delivers byte by byte
		}
		out, err := io.ReadAll(guardOver(src, max))
		if err != nil && !errors.Is(err, ErrProtocolViolation) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("unexpected error %v", err)
		}
		// Never more than it was given, and never changed.
		if len(out) > len(stream) || !bytes.Equal(out, stream[:len(out)]) {
			t.Fatalf("handed over %d bytes that are not a prefix of the %d given", len(out), len(stream))
		}
		// Whole packets only, each within the limit.
		n, ok := guardPackets(out)
		if !ok {
			t.Fatalf("handed over %d bytes that end inside a packet", len(out))
		}
		// Paho reads every packet handed over; what ends its reading is the guard's error.
		var again io.Reader = bytes.NewReader(stream)
		if mode&1 != 0 {
			again = iotest.OneByteReader(again)
		}
		g := guardOver(again, max)
		for i := 0; i < n; i++ {
			cp, err := packets.ReadPacket(g)
			if err != nil {
				t.Fatalf("paho cannot read packet %d of %d the guard handed over: %v", i+1, n, err)
			}
			if d := cp.Details(); cp == nil || d.Qos > 2 {
				t.Fatalf("packet %d: %v", i+1, cp)
			}
			if p, isPublish := cp.(*packets.PublishPacket); isPublish {
				if p.TopicName == "" || strings.ContainsAny(p.TopicName, "+#\x00") || !utf8.ValidString(p.TopicName) {
					t.Fatalf("PUBLISH with topic %q handed over", p.TopicName)
				}
				if p.Qos > 0 && p.MessageID == 0 {
					t.Fatalf("QoS %d PUBLISH with packet identifier 0 handed over", p.Qos)
				}
			}
		}
		if _, err := packets.ReadPacket(g); err == nil {
			t.Fatalf("paho read a packet beyond the %d the guard handed over", n)
		}
		for h := 0; h+1 < len(out); {
			hl, length := 1, 0
			for mult := 1; ; mult *= 128 {
				length += int(out[h+hl]&0x7f) * mult
				hl++
				if out[h+hl-1]&0x80 == 0 {
					break
				}
			}
			if length > max {
				t.Fatalf("a packet of %d bytes handed over, above the limit of %d", length, max)
			}
			h += hl + length
		}
	})
}
