package core

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// defaultPorts are the IANA/conventional MQTT ports per scheme.
var defaultPorts = map[string]int{
	"tcp": 1883, "mqtt": 1883, "ssl": 8883, "tls": 8883, "mqtts": 8883, "ws": 80, "wss": 443,
}

// MaxExpandedURIs bounds how many brokers a URI list may expand to: a whole /24 with ten ports
// each, far beyond any real cluster, but small enough that a typo cannot exhaust memory.
const MaxExpandedURIs = 4096

// brokerURI is one broker address after range expansion.
type brokerURI struct {
	Scheme string // as written by the user, lower case
	Host   string // without brackets for IPv6
	Port   int
	Path   string // websocket path, "" otherwise
}

// String is the canonical form: scheme://host:port[/path], IPv6 hosts in brackets.
func (u brokerURI) String() string {
	return u.Scheme + "://" + net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) + u.Path
}

// pahoURI is the form paho.mqtt.golang dials: it knows tcp, ssl, ws and wss.
func (u brokerURI) pahoURI() string {
	s := u.Scheme
	switch s {
	case "mqtt":
		s = "tcp"
	case "mqtts", "tls":
		s = "ssl"
	}
	return s + "://" + net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) + u.Path
}

// secure reports whether the endpoint speaks TLS.
func (u brokerURI) secure() bool {
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "wss":
		return true
	}
	return false
}

// url is the parsed form of pahoURI, as the transport dials it.
func (u brokerURI) url() *url.URL {
	scheme, _, _ := strings.Cut(u.pahoURI(), "://")
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(u.Host, strconv.Itoa(u.Port)), Path: u.Path}
}

// RedactURI hides the credentials a URI may carry (scheme://user:password@host): the password,
// or a lone user part (often a token), becomes "***". Everything the library prints about a
// URI the user gave goes through it.
func RedactURI(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	redacted := "***"
	if hasPassword {
		redacted = user + ":***"
	}
	if ok {
		scheme += "://"
	}
	return scheme + redacted + rest[at:]
}

// ExpandURIs expands a comma-separated list of broker URIs with ranges into canonical URIs,
// in order, duplicates dropped. The grammar:
//
//	tcp://host:1883-1885        a port range
//	tcp://10.0.0.5-7:1883       a range in the last IPv4 octet
//	tcp://10.0.0.5-7:1883-1884  both; the octet is the outer loop
//	tcp://[::1]:1883            an IPv6 literal
//	host:1883                   no scheme means tcp://
//
// Schemes are tcp, mqtt, ssl, tls, mqtts, ws and wss; a missing port is the scheme's default.
//
// A list may name at most MaxExpandedURIs brokers.
func ExpandURIs(list ...string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			us, err := expandURI(s)
			if err != nil {
				return nil, err
			}
			for _, u := range us {
				if c := u.String(); !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
			if len(out) > MaxExpandedURIs {
				return nil, fmt.Errorf("broker URI %q: the list names more than %d brokers: narrow the ranges", RedactURI(s), MaxExpandedURIs)
			}
		}
	}
	return out, nil
}

func expandURI(s string) ([]brokerURI, error) {
	bad := func(why string) error {
		return fmt.Errorf("broker URI %q: %s (expected scheme://host:port, e.g. tcp://127.0.0.1:1883 or tcp://10.0.0.5-7:1883-1885)", RedactURI(s), why)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "tcp", s
	}
	scheme = strings.ToLower(scheme)
	defPort, known := defaultPorts[scheme]
	if !known {
		return nil, bad(fmt.Sprintf("unknown scheme %q: use tcp, mqtt, ssl, mqtts, ws or wss", scheme))
	}
	path := ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest, path = rest[:i], rest[i:]
		if path == "/" && scheme != "ws" && scheme != "wss" {
			path = ""
		}
		if path != "" && scheme != "ws" && scheme != "wss" {
			return nil, bad("a path is only allowed for ws:// and wss://")
		}
	}
	if strings.Contains(rest, "@") {
		return nil, bad("credentials in the URI are not supported: set userName and password in the connection settings")
	}
	host, portSpec := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nil, bad("unterminated IPv6 literal")
		}
		host = rest[1:end]
		after := rest[end+1:]
		if after != "" {
			if after[0] != ':' {
				return nil, bad("expected ':' after the IPv6 literal")
			}
			portSpec = after[1:]
		}
		if net.ParseIP(host) == nil {
			return nil, bad(fmt.Sprintf("%q is not an IPv6 address", host))
		}
	} else {
		if strings.Count(rest, ":") > 1 {
			return nil, bad("an IPv6 address must be written in brackets, e.g. tcp://[::1]:1883")
		}
		host, portSpec, _ = strings.Cut(rest, ":")
	}
	if host == "" {
		return nil, bad("missing host")
	}
	ports := []int{defPort}
	if portSpec != "" {
		lo, hi, err := parseRange(portSpec, 1, 65535)
		if err != nil {
			return nil, bad("port " + err.Error())
		}
		ports = ports[:0]
		for p := lo; p <= hi; p++ {
			ports = append(ports, p)
		}
	}
	hosts := []string{host}
	// A range only where the host is an IPv4 address with "N-M" as its last octet; hyphens
	// elsewhere belong to host names.
	if i := strings.LastIndexByte(host, '.'); i > 0 && strings.Contains(host[i+1:], "-") &&
		strings.Trim(host[i+1:], "0123456789-") == "" {
		prefix := host[:i]
		if net.ParseIP(prefix+".0").To4() == nil {
			return nil, bad("a host range is only allowed in the last octet of an IPv4 address")
		}
		lo, hi, err := parseRange(host[i+1:], 0, 255)
		if err != nil {
			return nil, bad("host octet " + err.Error())
		}
		hosts = hosts[:0]
		for o := lo; o <= hi; o++ {
			hosts = append(hosts, prefix+"."+strconv.Itoa(o))
		}
	}
	if len(hosts)*len(ports) > MaxExpandedURIs {
		return nil, bad(fmt.Sprintf("names %d brokers, more than the %d a cluster may have: narrow the ranges", len(hosts)*len(ports), MaxExpandedURIs))
	}
	var out []brokerURI
	for _, h := range hosts {
		for _, p := range ports {
			out = append(out, brokerURI{Scheme: scheme, Host: h, Port: p, Path: path})
		}
	}
	return out, nil
}

// parseRange parses "N" or "N-M" with min <= N <= M <= max.
func parseRange(s string, min, max int) (int, int, error) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a number or a range N-M", s)
	}
	hi := lo
	if isRange {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, fmt.Errorf("%q is not a number or a range N-M", s)
		}
	}
	if lo < min || hi > max || lo > hi {
		return 0, 0, fmt.Errorf("%q out of range: need %d <= N <= M <= %d", s, min, max)
	}
	return lo, hi, nil
}

func parseBrokerURI(s string) (brokerURI, error) {
	us, err := expandURI(s)
	if err != nil {
		return brokerURI{}, err
	}
	if len(us) != 1 {
		return brokerURI{}, fmt.Errorf("broker URI %q names %d brokers: an endpoint must name exactly one", RedactURI(s), len(us))
	}
	return us[0], nil
}
