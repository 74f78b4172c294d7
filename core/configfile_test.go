package core

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
	"gopkg.in/yaml.v3"
)

// The padogrid configuration files in testdata/padogrid are verbatim copies of
// ../shared/padogrid-configs (see the README there); each must load unchanged.

// goldenCluster is what one cluster of a padogrid file must translate into.
type goldenCluster struct {
	name string
	// endpoints as the engine names them: "name uri", in configuration order.
	endpoints []string
	fos       int
	live, sub int // LiveEndpointCount, SubscriberCount after the FoS rules
	initial   int
	publisher PublisherType
	pubOnly   bool
	primary   string
	topicBase string // DefaultTopicBase
	ttw       time.Duration
	probe     time.Duration
	store     string // Connection.FileStoreDir
	pool      bool   // LiveEndpointPoolEnabled
	plugins   []string
	in, out   []Bridge
}

type goldenFile struct {
	defaultCluster string
	clusters       []goldenCluster
	plugins        []PluginConfig
	warnings       []string // exact warnings, without the "file:" prefix
}

// eps lists the endpoints <cluster>-<n> on host:lo..hi, as the engine names them.
func cfgEps(cluster, host string, lo, hi int) []string {
	var out []string
	for p := lo; p <= hi; p++ {
		out = append(out, fmt.Sprintf("%s-%d tcp://%s:%d", cluster, p-lo+1, host, p))
	}
	return out
}

// plain is a cluster with padogrid's defaults over the given endpoints.
func cfgPlain(name string, endpoints []string) goldenCluster {
	return goldenCluster{name: name, endpoints: endpoints, live: -1, sub: -1, pool: true}
}

func cfgWith(c goldenCluster, f func(*goldenCluster)) goldenCluster {
	f(&c)
	return c
}

func goldenFiles() map[string]goldenFile {
	local3 := func(c string) []string { return cfgEps(c, "localhost", 1883, 1885) }
	ent3 := func(c string) []string { return cfgEps(c, "localhost", 32001, 32003) }
	ref := "clusters[0].connections[0].connection."
	// padogrid's reference files: sendReasonMessages false is what hamqtt does, and every
	// will property is null or its default (payloadFormat false, userProperties []).
	refWarn := func(lines [6]int) []string {
		return []string{
			fmt.Sprintf("%d: key %sautomaticReconnect is ignored (Java-only: hamqtt's prober reconnects; see probeDelay and maxProbeDelay)", lines[0], ref),
			fmt.Sprintf("%d: key %sautomaticReconnectMaxDelay is ignored (Java-only: hamqtt's prober reconnects; see maxProbeDelay)", lines[1], ref),
			fmt.Sprintf("%d: key %sautomaticReconnectMinDelay is ignored (Java-only: hamqtt's prober reconnects; see probeDelay)", lines[2], ref),
			fmt.Sprintf("%d: key %sexecutorServiceTimeout is ignored (Java-only: Paho Java's executor)", lines[3], ref),
			fmt.Sprintf("%d: key %smaxReconnectDelay is ignored (Java-only: hamqtt's prober reconnects; see maxProbeDelay)", lines[4], ref),
			fmt.Sprintf("%d: key %suseSubscriptionIdentifiers is ignored: hamqtt numbers no subscription itself, it routes each message to the handlers whose topic filters match it; for Subscription Identifiers give one per subscription in code (Go: SubscribeOptions.ID)", lines[5], ref),
		}
	}
	return map[string]goldenFile{
		"default-mqttv5-client.yaml": {
			defaultCluster: "cluster-default",
			clusters: []goldenCluster{cfgWith(cfgPlain("cluster-default", local3("cluster-default")), func(c *goldenCluster) {
				c.ttw, c.probe = 5*time.Second, 5*time.Second
				c.initial = -1
			})},
			warnings: append(append([]string{"98: plugins[0] has no name: the plugin is ignored"},
				refWarn([6]int{344, 345, 346, 350, 353, 401})...),
				"274: clusters[0].bridges.in[0] names no cluster: the bridge is ignored",
				"302: clusters[0].bridges.out[0] names no cluster: the bridge is ignored"),
		},
		"mqttv5-client.yaml": {
			defaultCluster: "mycluster",
			clusters: []goldenCluster{cfgWith(cfgPlain("mycluster", local3("mycluster")), func(c *goldenCluster) {
				c.probe = 5 * time.Second
			})},
			warnings: refWarn([6]int{18, 19, 20, 24, 27, 40}),
		},
		"mqttv5-bridge-publisher.yaml": {
			defaultCluster: "bridge-publisher-edge",
			clusters: []goldenCluster{
				cfgWith(cfgPlain("bridge-publisher-edge", local3("bridge-publisher-edge")), func(c *goldenCluster) {
					c.out = []Bridge{{Cluster: "bridge-publisher-enterprise", TopicFilters: []string{"test/#"}, QoS: 1, Line: 14}}
				}),
				cfgPlain("bridge-publisher-enterprise", ent3("bridge-publisher-enterprise")),
			},
		},
		"mqttv5-bridge-subscriber.yaml": {
			defaultCluster: "bridge-subscriber-edge",
			clusters: []goldenCluster{
				cfgWith(cfgPlain("bridge-subscriber-edge", local3("bridge-subscriber-edge")), func(c *goldenCluster) {
					c.in = []Bridge{{Cluster: "bridge-subscriber-enterprise", TopicFilters: []string{"test/#"}, QoS: 0, Line: 14}}
				}),
				cfgPlain("bridge-subscriber-enterprise", ent3("bridge-subscriber-enterprise")),
			},
		},
		"mqttv5-connector.yaml": {
			defaultCluster: "connector",
			clusters: []goldenCluster{
				cfgWith(cfgPlain("connector", local3("connector")), func(c *goldenCluster) {
					c.publisher, c.plugins = RoundRobin, []string{"plugin-connector"}
				}),
				cfgWith(cfgPlain("connector2", local3("connector2")), func(c *goldenCluster) {
					c.publisher, c.plugins = RoundRobin, []string{"plugin-connector"}
				}),
			},
			plugins: []PluginConfig{
				{Name: "plugin-app", Description: "A test plugin app for validating the API.", Enabled: true, Context: PluginApp,
					ClassName:  "padogrid.mqtt.test.client.cluster.junit.plugins.TestAppPlugin",
					Properties: map[string]string{"mykey": "testing"}, Line: 4},
				{Name: "plugin-connector", Description: "A test connector that prints messages.", Enabled: true, Context: PluginCluster,
					ClassName:     "padogrid.mqtt.test.client.cluster.junit.plugins.TestConnector",
					Properties:    map[string]string{"endpoint": "localhost:9009"},
					Subscriptions: []PluginSubscription{{TopicFilters: []string{"test/#"}, QoS: 2}}, Line: 13},
			},
			warnings: []string{
				"27: key clusters[0].pluginName is padogrid's obsolete spelling: it is read as pluginNames: [plugin-connector]",
				"33: key clusters[1].pluginName is padogrid's obsolete spelling: it is read as pluginNames: [plugin-connector]",
			},
		},
		"mqttv5-endpoints.yaml": {
			defaultCluster: "endpoints-test",
			clusters: []goldenCluster{cfgWith(cfgPlain("endpoints-test", []string{
				"endpoints-test-1 tcp://localhost:1883",
				"edge-2 tcp://localhost:1884",
				"endpoints-test-3 tcp://localhost:1885",
			}), func(c *goldenCluster) { c.topicBase = "test/edge" })},
		},
		"mqttv5-fos.yaml": {
			defaultCluster: "proxy1",
			clusters: func() []goldenCluster {
				fos := func(name string, fos, live, sub int) goldenCluster {
					return cfgWith(cfgPlain(name, local3(name)), func(c *goldenCluster) {
						c.fos, c.live, c.sub = fos, live, sub
						c.probe = 5 * time.Second
						c.store = filepath.Join("persist", name)
					})
				}
				return []goldenCluster{
					fos("proxy1", 1, 2, 1), fos("proxy2", 2, 2, 2), fos("proxy3", 3, -1, -1),
					fos("custom1", 3, 2, 1), fos("custom2", 3, 2, 2), fos("custom3", 3, 3, 3),
				}
			}(),
		},
		"mqttv5-multi-publishers.yaml": {
			defaultCluster: "multi-publishers-01",
			clusters: []goldenCluster{
				cfgPlain("multi-publishers-01", local3("multi-publishers-01")),
				cfgPlain("multi-publishers-02", ent3("multi-publishers-02")),
			},
		},
		"mqttv5-multi-subscribers.yaml": {
			defaultCluster: "multi-subscribers-01",
			clusters: []goldenCluster{
				cfgPlain("multi-subscribers-01", local3("multi-subscribers-01")),
				cfgPlain("multi-subscribers-02", ent3("multi-subscribers-02")),
			},
		},
		"mqttv5-persistence.yaml": {
			defaultCluster: "publisher",
			// MemoryPersistence: its path property is ignored, as in padogrid
			clusters: []goldenCluster{cfgWith(cfgPlain("publisher", local3("publisher")), func(c *goldenCluster) { c.publisher = RoundRobin })},
		},
		"mqttv5-publisher-all.yaml": {
			defaultCluster: "publisher-all",
			clusters:       []goldenCluster{cfgWith(cfgPlain("publisher-all", local3("publisher-all")), func(c *goldenCluster) { c.publisher = All })},
		},
		"mqttv5-publisher-many.yaml": {
			defaultCluster: "publisher-many",
			clusters: []goldenCluster{cfgWith(cfgPlain("publisher-many", cfgEps("publisher-many", "localhost", 1883, 1889)), func(c *goldenCluster) {
				c.publisher, c.initial, c.probe = RoundRobin, 3, 15*time.Second
			})},
		},
		"mqttv5-publisher-shared.yaml": {
			defaultCluster: "publisher",
			clusters: []goldenCluster{
				cfgWith(cfgPlain("publisher", local3("publisher")), func(c *goldenCluster) { c.publisher = RoundRobin }),
				cfgPlain("publisher1", []string{"publisher1-1 tcp://localhost:1883"}),
				cfgWith(cfgPlain("publisher2", []string{"publisher2-1 tcp://localhost:1884"}), func(c *goldenCluster) { c.pool = false }),
			},
		},
		"mqttv5-publisher.yaml": {
			defaultCluster: "publisher",
			clusters:       []goldenCluster{cfgWith(cfgPlain("publisher", local3("publisher")), func(c *goldenCluster) { c.publisher = RoundRobin })},
		},
		"mqttv5-retained.yaml": {
			defaultCluster: "cluster-default",
			clusters: []goldenCluster{cfgWith(cfgPlain("cluster-default", local3("cluster-default")), func(c *goldenCluster) {
				c.publisher, c.probe, c.store = RoundRobin, 5*time.Second, filepath.Join("persist", "cluster-default")
			})},
		},
		"mqttv5-subscriber.yaml": {
			defaultCluster: "subscriber",
			clusters: []goldenCluster{cfgWith(cfgPlain("subscriber", local3("subscriber")), func(c *goldenCluster) {
				c.primary = "tcp://localhost:1883"
			})},
		},
		"mqttv5-virtual.yaml": {
			defaultCluster: "cluster-default",
			clusters: []goldenCluster{
				cfgWith(cfgPlain("mqtt-test", []string{ // the second broker.emqx.io:1883 is a duplicate
					"mqtt-test-1 tcp://test.mosquitto.org:1883",
					"mqtt-test-2 ws://test.mosquitto.org:8080",
					"mqtt-test-3 tcp://broker.emqx.io:1883",
					"mqtt-test-4 tcp://broker.hivemq.com:1883",
					"mqtt-test-5 ws://broker.hivemq.com:8000",
					"mqtt-test-6 tcp://mqtt.flespi.io:1883",
					"mqtt-test-7 ws://broker.emqx.io:8083",
				}), func(c *goldenCluster) { c.ttw = 2 * time.Second }),
				cfgWith(cfgPlain("mylocal", local3("mylocal")), func(c *goldenCluster) { c.ttw = 2 * time.Second }),
				cfgWith(cfgPlain("enterprise", []string{
					"enterprise-1 tcp://10.1.2.1:1883",
					"enterprise-2 tcp://10.1.2.2:1883",
					"enterprise-3 tcp://10.1.2.3:1883",
					"enterprise-4 tcp://10.1.2.4:1883",
					"enterprise-5 tcp://10.1.2.5:1883",
				}), func(c *goldenCluster) { c.ttw = 2 * time.Second }),
			},
			warnings: []string{`1: defaultCluster "cluster-default" is not defined under clusters: it is created on tcp://localhost:1883-1885 when first used`},
		},
		"archetypes/mqttv5-archetype1.yaml": {
			defaultCluster: "edge",
			clusters:       []goldenCluster{cfgPlain("edge", cfgEps("edge", "localhost", 1883, 1892))},
		},
		"archetypes/mqttv5-archetype2.yaml": {
			defaultCluster: "edge",
			clusters: []goldenCluster{cfgWith(cfgPlain("edge", cfgEps("edge", "localhost", 1883, 1892)), func(c *goldenCluster) {
				c.fos, c.publisher, c.sub = 3, All, 2
			})},
		},
		"archetypes/mqttv5-archetype3.yaml": {
			defaultCluster: "archetype3",
			clusters: []goldenCluster{cfgWith(cfgPlain("archetype3", []string{
				"archetype3-1 tcp://localhost:1883",
				"archetype3-2 tcp://localhost:1884",
				"special-node tcp://localhost:1885", // archetype3-3 no longer exists
				"archetype3-4 tcp://localhost:1886",
				"archetype3-5 tcp://localhost:1887",
				"archetype3-6 tcp://localhost:1888",
				"archetype3-7 tcp://localhost:1889",
				"archetype3-8 tcp://localhost:1890",
				"archetype3-9 tcp://localhost:1891",
				"archetype3-10 tcp://localhost:1892",
			}), func(c *goldenCluster) { c.topicBase = "test/" })},
		},
		"archetypes/mqttv5-archetype4.yaml": {
			defaultCluster: "edge",
			clusters: []goldenCluster{
				cfgWith(cfgPlain("edge", cfgEps("edge", "localhost", 1883, 1892)), func(c *goldenCluster) {
					// qos -1 is padogrid's "invalid": the default 1
					c.in = []Bridge{{Cluster: "enterprise", TopicFilters: []string{"test/#"}, QoS: 1, Line: 9}}
				}),
				cfgPlain("enterprise", cfgEps("enterprise", "localhost", 32001, 32010)),
			},
		},
		"archetypes/mqttv5-archetype5.yaml": {
			defaultCluster: "edge",
			clusters: []goldenCluster{
				cfgWith(cfgPlain("edge", cfgEps("edge", "localhost", 1883, 1892)), func(c *goldenCluster) {
					c.out = []Bridge{{Cluster: "enterprise", TopicFilters: []string{"test/#"}, QoS: 2, Line: 9}}
				}),
				cfgPlain("enterprise", cfgEps("enterprise", "localhost", 32001, 32010)),
			},
		},
		"archetypes/mqttv5-archetype6.yaml": {
			defaultCluster: "sticky",
			clusters: []goldenCluster{cfgWith(cfgPlain("sticky", []string{
				"sticky-1 tcp://localhost:31001",
				"sticky-2 tcp://localhost:31002",
			}), func(c *goldenCluster) { c.fos, c.live, c.sub = 2, 2, 2 })},
		},
		"archetypes/mqttv5-archetype7.yaml": {
			defaultCluster: "subscriber",
			clusters: []goldenCluster{
				cfgWith(cfgPlain("publisher", cfgEps("publisher", "localhost", 31001, 31010)), func(c *goldenCluster) {
					c.fos, c.publisher, c.pubOnly = 3, RoundRobin, true
				}),
				cfgPlain("subscriber", []string{
					"subscriber-1 tcp://localhost:31001",
					"subscriber-2 tcp://localhost:31003",
					"subscriber-3 tcp://localhost:31005",
					"subscriber-4 tcp://localhost:31007",
					"subscriber-5 tcp://localhost:31009",
				}),
			},
		},
		"archetypes/mqttv5-archetype8.yaml": {
			defaultCluster: "edge",
			clusters:       []goldenCluster{cfgWith(cfgPlain("edge", cfgEps("edge", "localhost", 1883, 1892)), func(c *goldenCluster) { c.publisher = All })},
		},
		"archetypes/mqttv5-archetype9.yaml": {
			defaultCluster: "edge",
			clusters: []goldenCluster{cfgWith(cfgPlain("edge", cfgEps("edge", "localhost", 1883, 1892)), func(c *goldenCluster) {
				c.plugins = []string{"hazelcast"}
			})},
			plugins: []PluginConfig{{
				Name: "hazelcast", Description: "Stream JSON messages to Hazelcast", Enabled: true, Context: PluginCluster,
				ClassName: "padogrid.mqtt.connectors.HazelcastJsonConnector",
				Properties: map[string]string{
					"clusterName": "dev", "endpoints": "localhost:5701,localhost:5702", "dsType": "MAP", "keyType": "UUID",
				},
				Subscriptions: []PluginSubscription{{TopicFilters: []string{"edge/#"}, QoS: 1}},
				Line:          4,
			}},
		},
	}
}

// engineEndpoints creates (without connecting) the cluster and lists its endpoints as the
// engine named them: "name uri".
func cfgEndpoints(t *testing.T, cfg Config) []string {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("cluster %s: New: %v", cfg.Name, err)
	}
	defer c.Close()
	var out []string
	for _, s := range c.Stats() {
		out = append(out, s.Name+" "+s.URI)
	}
	return out
}

func TestConfigPadogridGolden(t *testing.T) {
	golden := goldenFiles()
	// every file of testdata/padogrid must have an expectation
	var files []string
	err := filepath.WalkDir("testdata/padogrid", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") {
			rel, _ := filepath.Rel("testdata/padogrid", p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 26 {
		t.Errorf("testdata/padogrid holds %d yaml files, want the 26 of padogrid-configs", len(files))
	}
	for _, f := range files {
		if _, ok := golden[f]; !ok {
			t.Errorf("%s has no golden expectation", f)
		}
	}
	for name, want := range golden {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata/padogrid", name)
			fc, err := LoadConfigFile(path, LoadOptions{Getenv: cfgNoEnv})
			if err != nil {
				t.Fatal(err)
			}
			if fc.Source != path || !fc.Enabled || fc.DefaultCluster != want.defaultCluster {
				t.Errorf("source %q enabled %v defaultCluster %q, want %q true %q", fc.Source, fc.Enabled, fc.DefaultCluster, path, want.defaultCluster)
			}
			var gotWarn []string
			for _, w := range fc.Warnings {
				gotWarn = append(gotWarn, strings.TrimPrefix(w, path+":"))
			}
			if !slices.Equal(gotWarn, want.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", gotWarn, want.warnings)
			}
			if !reflect.DeepEqual(fc.Plugins, want.plugins) {
				t.Errorf("plugins:\n got %+v\nwant %+v", fc.Plugins, want.plugins)
			}
			if len(fc.Clusters) != len(want.clusters) {
				t.Fatalf("%d clusters, want %d", len(fc.Clusters), len(want.clusters))
			}
			for i, w := range want.clusters {
				c := fc.Clusters[i]
				set := fc.Settings[c.Name]
				if c.Name != w.name {
					t.Errorf("cluster %d is %q, want %q", i, c.Name, w.name)
					continue
				}
				if got := cfgEndpoints(t, c); !slices.Equal(got, w.endpoints) {
					t.Errorf("%s endpoints:\n got %q\nwant %q", c.Name, got, w.endpoints)
				}
				got := goldenCluster{
					name: c.Name, endpoints: w.endpoints, fos: c.FoS, live: c.LiveEndpointCount, sub: c.SubscriberCount,
					initial: c.InitialEndpointCount, publisher: c.PublisherType, pubOnly: c.PublishOnly,
					primary: c.PrimaryServerURI, topicBase: c.DefaultTopicBase, ttw: c.TimeToWait, probe: c.ProbeDelay,
					store: c.Connection.FileStoreDir, pool: set.LiveEndpointPoolEnabled, plugins: set.PluginNames,
					in: set.Bridges.In, out: set.Bridges.Out,
				}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("%s:\n got %+v\nwant %+v", c.Name, got, w)
				}
				if c.ShareConnections != set.LiveEndpointPoolEnabled {
					t.Errorf("%s: ShareConnections %v, liveEndpointPoolEnabled %v", c.Name, c.ShareConnections, set.LiveEndpointPoolEnabled)
				}
				if !set.Enabled || !set.AutoConnect || set.Line == 0 {
					t.Errorf("%s: settings %+v: want enabled, autoConnect and a line", c.Name, set)
				}
				cc := c.Connection
				if cc.PersistentSession || cc.TLS != nil || cc.Will != nil || cc.Username != "" || cc.Password != "" || cc.ClientID != "" {
					t.Errorf("%s: connection %+v: want padogrid's defaults (clean start, no TLS, will or credentials)", c.Name, cc)
				}
			}
		})
	}
	// the commented reference files spell out Paho Java's defaults
	fc, err := LoadConfigFile("testdata/padogrid/default-mqttv5-client.yaml", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cc := fc.Clusters[0].Connection; cc.KeepAlive != 60*time.Second || cc.ConnectTimeout != 30*time.Second || fc.Tag != "cluster-tag" {
		t.Errorf("keepAlive %v connectTimeout %v tag %q, want 60s 30s cluster-tag", cc.KeepAlive, cc.ConnectTimeout, fc.Tag)
	}
	if fc, _ := LoadConfigFile("testdata/padogrid/mqttv5-fos.yaml", LoadOptions{}); fc.Tag != "mytag" || fc.PersistenceDir != "persist" {
		t.Errorf("tag %q persistence %q, want mytag persist", fc.Tag, fc.PersistenceDir)
	}
}

// Strict mode only turns unknown keys into errors: every padogrid file still loads.
func TestConfigPadogridStrict(t *testing.T) {
	for name := range goldenFiles() {
		if _, err := LoadConfigFile(filepath.Join("testdata/padogrid", name), LoadOptions{Strict: true}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func cfgNoEnv(string) (string, bool) { return "", false }

func cfgEnvOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// parseOne parses text and returns its only cluster.
func cfgParseOne(t *testing.T, text string, opts LoadOptions) (Config, *FileConfig) {
	t.Helper()
	fc, err := ParseConfig([]byte(text), "test.yaml", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Clusters) != 1 {
		t.Fatalf("%d clusters, want 1", len(fc.Clusters))
	}
	return fc.Clusters[0], fc
}

func cfgURIs(c Config) []string {
	var out []string
	for _, e := range c.Endpoints {
		out = append(out, e.URI)
	}
	return out
}

func TestConfigURIGrammar(t *testing.T) {
	cases := []struct {
		uris string // the flow list of serverURIs
		want []string
	}{
		{`[tcp://h:1883-1885]`, []string{"tcp://h:1883", "tcp://h:1884", "tcp://h:1885"}},
		{`[tcp://10.0.0.5-7:1883]`, []string{"tcp://10.0.0.5:1883", "tcp://10.0.0.6:1883", "tcp://10.0.0.7:1883"}},
		{`[tcp://10.0.0.5-6:1883-1884]`, []string{ // the octet is the outer loop
			"tcp://10.0.0.5:1883", "tcp://10.0.0.5:1884", "tcp://10.0.0.6:1883", "tcp://10.0.0.6:1884"}},
		{`["tcp://[::1]:1883", "tcp://[fe80::1]"]`, []string{"tcp://[::1]:1883", "tcp://[fe80::1]:1883"}},
		{`[tcp://h, ssl://h, mqtts://h2, host3:1900]`, []string{"tcp://h:1883", "ssl://h:8883", "mqtts://h2:8883", "tcp://host3:1900"}},
		{`[tcp://h:1883, tcp://h:1883-1884, tcp://h:1884]`, []string{"tcp://h:1883", "tcp://h:1884"}}, // duplicates ignored
		{`["tcp://a:1883,tcp://b:1883", tcp://c:1883]`, []string{"tcp://a:1883", "tcp://b:1883", "tcp://c:1883"}},
		{`tcp://h:1883-1884`, []string{"tcp://h:1883", "tcp://h:1884"}}, // a single string
		{`[tcp://p-1.newco.com:1883-1884]`, []string{"tcp://p-1.newco.com:1883", "tcp://p-1.newco.com:1884"}},
	}
	for _, tc := range cases {
		c, _ := cfgParseOne(t, "clusters:\n  - name: g\n    connections:\n      - connection:\n          serverURIs: "+tc.uris+"\n", LoadOptions{})
		if got := cfgURIs(c); !slices.Equal(got, tc.want) {
			t.Errorf("serverURIs %s:\n got %q\nwant %q", tc.uris, got, tc.want)
		}
	}
	bad := []struct{ uris, key, msg string }{
		{`[tcp://h:1883, tcp://h:1885-1883]`, "serverURIs[1]", `"1885-1883" out of range`},
		{`[tcp://h:0-2]`, "serverURIs[0]", "out of range"},
		{`[tcp://10.0.0.250-256:1883]`, "serverURIs[0]", "host octet"},
		{`[tcp://myhost.5-7:1883]`, "serverURIs[0]", "only allowed in the last octet"},
		{`[foo://h:1883]`, "serverURIs[0]", "unknown scheme"},
		{`["tcp://::1:1883"]`, "serverURIs[0]", "must be written in brackets"},
		{`[tcp://h:12x]`, "serverURIs[0]", "not a number"},
	}
	for _, tc := range bad {
		text := "clusters:\n  - name: g\n    connections:\n      - connection:\n          serverURIs: " + tc.uris + "\n"
		_, err := ParseConfig([]byte(text), "bad.yaml", LoadOptions{})
		want := "bad.yaml:5: clusters[0].connections[0].connection." + tc.key + ": "
		if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("serverURIs %s: error %v, want %q... %q", tc.uris, err, want, tc.msg)
		}
	}
	// the line of an element in a block list
	text := "clusters:\n  - name: g\n    connections:\n      - connection:\n          serverURIs:\n            - tcp://h:1883\n            - tcp://h:1-70000\n"
	_, err := ParseConfig([]byte(text), "bad.yaml", LoadOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "bad.yaml:7: clusters[0].connections[0].connection.serverURIs[1]: ") {
		t.Errorf("got %v", err)
	}
}

func TestConfigEndpointsAndPrimary(t *testing.T) {
	text := `
clusters:
  - name: c
    primaryServerURI: tcp://localhost:1890
    defaultTopicBase: base/
    endpoints:
      - name: extra
        endpoint: tcp://other:1999
      - name: second
        endpoint: localhost:1884
        topicBase: t/second
    connections:
      - connection:
          serverURIs: [tcp://localhost:1883-1885]
`
	c, _ := cfgParseOne(t, text, LoadOptions{})
	want := []string{
		"c-1 tcp://localhost:1883", "second tcp://localhost:1884", "c-3 tcp://localhost:1885",
		"extra tcp://other:1999", "c-5 tcp://localhost:1890",
	}
	if got := cfgEndpoints(t, c); !slices.Equal(got, want) {
		t.Errorf("endpoints\n got %q\nwant %q", got, want)
	}
	if c.PrimaryServerURI != "tcp://localhost:1890" || c.Endpoints[1].TopicBase != "t/second" || c.DefaultTopicBase != "base/" {
		t.Errorf("primary %q topic base %q default %q", c.PrimaryServerURI, c.Endpoints[1].TopicBase, c.DefaultTopicBase)
	}
	// endpoints only: no default brokers are added
	c, _ = cfgParseOne(t, "clusters:\n  - name: c\n    endpoints:\n      - {name: one, endpoint: tcp://h:1}\n", LoadOptions{})
	if got := cfgEndpoints(t, c); !slices.Equal(got, []string{"one tcp://h:1"}) {
		t.Errorf("got %q", got)
	}
	// a primary given by endpoint name
	c, _ = cfgParseOne(t, "clusters:\n  - name: c\n    primaryServerURI: one\n    endpoints:\n      - {name: one, endpoint: tcp://h:1}\n", LoadOptions{})
	if c.PrimaryServerURI != "one" || len(c.Endpoints) != 1 {
		t.Errorf("primary %q endpoints %v", c.PrimaryServerURI, c.Endpoints)
	}
	// no brokers at all: padogrid's default
	c, _ = cfgParseOne(t, "clusters:\n  - name: c\n", LoadOptions{})
	if got := cfgURIs(c); !slices.Equal(got, []string{"tcp://localhost:1883", "tcp://localhost:1884", "tcp://localhost:1885"}) {
		t.Errorf("got %q", got)
	}
}

func TestConfigEnvSubstitution(t *testing.T) {
	text := `
defaultCluster: ${env:CLUSTER}
clusters:
  - name: ${env:CLUSTER}
    description: "cost: $${env:NOT_SUBSTITUTED} and ${env:EMPTY}."
    timeToWait: ${TTW}
    publisherType: ${env:PT}
    connections:
      - connection:
          serverURIs: ["${env:HOSTS}", "tcp://${env:HOST}:${env:PORTS}"]
          userName: ${env:MQTT_USER}
          password: ${env:MQTT_PASSWORD}
          willDestination: status/${cluster.name}
          willMessage: gone
`
	env := map[string]string{
		"CLUSTER": "prod", "EMPTY": "", "TTW": "2500", "PT": "round_robin", "HOSTS": "tcp://10.0.0.5-6:1883,tcp://[::1]:1884",
		"HOST": "broker", "PORTS": "2000-2001", "MQTT_USER": "alice", "MQTT_PASSWORD": "s3cr}t ${x}", "cluster.name": "prod",
	}
	c, fc := cfgParseOne(t, text, LoadOptions{Getenv: cfgEnvOf(env)})
	if fc.DefaultCluster != "prod" || c.Name != "prod" {
		t.Errorf("default %q name %q", fc.DefaultCluster, c.Name)
	}
	if c.Description != "cost: ${env:NOT_SUBSTITUTED} and ." {
		t.Errorf("description %q", c.Description)
	}
	if c.TimeToWait != 2500*time.Millisecond || c.PublisherType != RoundRobin {
		t.Errorf("timeToWait %v publisherType %v", c.TimeToWait, c.PublisherType)
	}
	if got, want := cfgURIs(c), []string{"tcp://10.0.0.5:1883", "tcp://10.0.0.6:1883", "tcp://[::1]:1884", "tcp://broker:2000", "tcp://broker:2001"}; !slices.Equal(got, want) {
		t.Errorf("uris %q want %q", got, want)
	}
	cc := c.Connection
	if cc.Username != "alice" || cc.Password != "s3cr}t ${x}" {
		t.Errorf("credentials %q %q", cc.Username, cc.Password)
	}
	if cc.Will == nil || cc.Will.Topic != "status/prod" || string(cc.Will.Payload) != "gone" || cc.Will.QoS != 1 || cc.Will.Retained {
		t.Errorf("will %+v", cc.Will)
	}

	// an undefined variable names file, line, key and variable
	_, err := ParseConfig([]byte(text), "env.yaml", LoadOptions{Getenv: cfgEnvOf(map[string]string{
		"CLUSTER": "prod", "EMPTY": "", "TTW": "1", "PT": "ALL", "HOSTS": "h", "HOST": "h", "PORTS": "1", "MQTT_USER": "u", "cluster.name": "x",
	})})
	want := "env.yaml:12: clusters[0].connections[0].connection.password: environment variable MQTT_PASSWORD is not set (used by ${env:MQTT_PASSWORD})"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// the real environment by default
	t.Setenv("HAMQTT_TEST_PW", "from-env")
	c, _ = cfgParseOne(t, "clusters:\n  - name: c\n    connections:\n      - connection:\n          password: ${env:HAMQTT_TEST_PW}\n", LoadOptions{})
	if c.Connection.Password != "from-env" {
		t.Errorf("password %q", c.Connection.Password)
	}
}

func TestConfigBadFiles(t *testing.T) {
	cases := []struct {
		name, text string
		strict     bool
		want       []string // exact error lines
	}{
		{"malformed YAML", "clusters:\n  - name: a\n   fos: 1\n", false,
			[]string{"bad.yaml:3: malformed YAML: did not find expected '-' indicator: fix the syntax (indentation, colons, quotes)"}},
		{"tab", "clusters:\n\t- name: a\n", false,
			[]string{"bad.yaml:2: malformed YAML: found character that cannot start any token (the line holds a tab: YAML indents with spaces): fix the syntax (indentation, colons, quotes)"}},
		{"unknown key strict", "clusters:\n  - name: a\n    fso: 1\n", true,
			[]string{"bad.yaml:3: clusters[0].fso: unknown key: check its spelling and case against docs/configuration.md, or remove it"}},
		{"bad fos", "clusters:\n  - name: a\n\n    fos: 4\n", false,
			[]string{"bad.yaml:4: clusters[0].fos: 4 out of range: use 0, 1, 2 or 3"}},
		{"fos not a number", "clusters:\n  - name: a\n    fos: two\n", false,
			[]string{`bad.yaml:3: clusters[0].fos: "two" is not a whole number`}},
		{"bad range", "clusters:\n  - name: a\n    connections:\n      - connection:\n          serverURIs: [tcp://h:1885-1883]\n", false,
			[]string{`bad.yaml:5: clusters[0].connections[0].connection.serverURIs[0]: broker URI "tcp://h:1885-1883": port "1885-1883" out of range: need 1 <= N <= M <= 65535 (expected scheme://host:port, e.g. tcp://127.0.0.1:1883 or tcp://10.0.0.5-7:1883-1885)`}},
		{"unknown bridge target", "clusters:\n  - name: a\n    bridges:\n      out:\n        - cluster: nowhere\n          topicFilters: [t/#]\n  - name: b\n", false,
			[]string{`bad.yaml:5: clusters[0].bridges.out[0].cluster: unknown cluster "nowhere": name one of the clusters in this file (a, b)`}},
		{"bridge to itself", "clusters:\n  - name: a\n    bridges:\n      in:\n        - {cluster: a, topicFilters: [t/#]}\n", false,
			[]string{`bad.yaml:5: clusters[0].bridges.in[0].cluster: a bridge from cluster "a" to itself would loop: name another cluster`}},
		{"bad bridge filter and qos", "clusters:\n  - name: a\n    bridges:\n      in:\n        - cluster: b\n          topicFilters: [t/#/x]\n          qos: 3\n  - name: b\n", false,
			[]string{
				"bad.yaml:6: clusters[0].bridges.in[0].topicFilters: " + ValidateFilter("t/#/x").Error(),
				"bad.yaml:7: clusters[0].bridges.in[0].qos: QoS 3 out of range: use 0, 1 or 2",
			}},
		{"missing env var", "clusters:\n  - name: a\n    connections:\n      - connection:\n          userName: ${env:NO_SUCH_USER}\n", false,
			[]string{"bad.yaml:5: clusters[0].connections[0].connection.userName: environment variable NO_SUCH_USER is not set (used by ${env:NO_SUCH_USER}): set it, or write $${ for a literal ${"}},
		{"duplicate cluster", "clusters:\n  - name: a\n  - name: b\n  - name: a\n", false,
			[]string{`bad.yaml:4: clusters[2].name: cluster "a" is defined twice (first on line 2): give each cluster its own name`}},
		{"bad publisherType", "clusters:\n  - name: a\n    publisherType: STICKYY\n", false,
			[]string{`bad.yaml:3: clusters[0].publisherType: unknown publisher type "STICKYY": use STICKY, ROUND_ROBIN, RANDOM or ALL`}},
		{"duplicate key", "clusters:\n  - name: a\n    fos: 1\n    fos: 2\n", false,
			[]string{"bad.yaml:4: clusters[0].fos: given twice (first on line 3): keep one"}},
		{"endpoint range", "clusters:\n  - name: a\n    endpoints:\n      - name: x\n        endpoint: tcp://h:1-2\n", false,
			[]string{`bad.yaml:5: clusters[0].endpoints[0].endpoint: "tcp://h:1-2" names 2 brokers: give exactly one broker URI here (no ranges or lists)`}},
		{"endpoint name collides with a default name", "clusters:\n  - name: a\n    endpoints:\n      - {name: a-2, endpoint: tcp://h:1}\n    connections:\n      - connection: {serverURIs: [tcp://h:1-2]}\n", false,
			[]string{`bad.yaml:4: clusters[0].endpoints: endpoint name "a-2" would name both tcp://h:1 and tcp://h:2: choose a name that is not the default <cluster>-<n> of another endpoint`}},
		{"connections differ", "clusters:\n  - name: a\n    connections:\n      - connection: {serverURIs: [tcp://h:1], userName: u1}\n      - connection: {serverURIs: [tcp://h:2], userName: u2}\n", false,
			[]string{"bad.yaml:5: clusters[0].connections[1]: connection options differ from connections[0] (line 4): hamqtt applies one set of options (credentials, TLS, will, timers, MQTT version and MQTT 5 options) to every endpoint of a cluster: give these brokers a cluster of their own"}},
		{"negative timeToWait", "clusters:\n  - name: a\n    timeToWait: -5\n", false,
			[]string{"bad.yaml:3: clusters[0].timeToWait: -5 is negative: give a positive duration (or leave it out for the default)"}},
		{"will qos", "clusters:\n  - name: a\n    connections:\n      - connection:\n          willDestination: w\n          willMessage: {payload: x, qos: 7}\n", false,
			[]string{"bad.yaml:6: clusters[0].connections[0].connection.willMessage.qos: QoS 7 out of range: use 0, 1 or 2"}},
		{"will without topic", "clusters:\n  - name: a\n    connections:\n      - connection:\n          willMessage: bye\n", false,
			[]string{"bad.yaml:5: clusters[0].connections[0].connection.willMessage: a will message needs a topic: add willDestination: TOPIC"}},
		{"disabled default", "defaultCluster: a\nclusters:\n  - name: a\n    enabled: false\n", false,
			[]string{`bad.yaml:1: defaultCluster: cluster "a" is disabled (enabled: false on line 3): enable it or choose another default cluster`}},
		{"not a list", "clusters:\n  name: a\n", false,
			[]string{"bad.yaml:2: clusters: expected a list, found a mapping"}},
		{"several errors at once", "probeDelay: soon\nclusters:\n  - name: a\n    fos: 9\n    subscriberCount: x\n", false,
			[]string{
				`bad.yaml:1: probeDelay: "soon" is not a duration: give a whole number of milliseconds or a value with a unit such as 500ms or 2s`,
				"bad.yaml:4: clusters[0].fos: 9 out of range: use 0, 1, 2 or 3",
				`bad.yaml:5: clusters[0].subscriberCount: "x" is not a whole number`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc, err := ParseConfig([]byte(tc.text), "bad.yaml", LoadOptions{Strict: tc.strict, Getenv: cfgNoEnv})
			if err == nil {
				t.Fatalf("no error; loaded %+v", fc)
			}
			if fc != nil {
				t.Errorf("a FileConfig came back with the error")
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("error:\n got %q\nwant %q", got, tc.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.File != "bad.yaml" || ce.Line == 0 {
				t.Errorf("errors.As(*ConfigError) = %+v", ce)
			}
		})
	}
}

func TestConfigWarnings(t *testing.T) {
	text := `
clusters:
  - name: a
    fos: 1
    subscriberCount: 3
    colour: blue
    persistence:
      className: com.acme.MyPersistence
    bridges:
      out:
        - cluster: b
    connections:
      - connection:
          sessionExpiryInterval: 60
          customWebSocketHeaders: null
          keepAliveInterval: 0
  - name: b
    enabled: false
`
	fc, err := ParseConfig([]byte(text), "w.yaml", LoadOptions{Strict: false})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"w.yaml:8: key clusters[0].persistence.className is ignored (Java-only: com.acme.MyPersistence is a Java class; messages in flight are kept in memory)",
		"w.yaml:14: key clusters[0].connections[0].connection.sessionExpiryInterval is ignored: it is an MQTT 5 option and cluster \"a\" speaks MQTT 3.1.1: set protocolVersion: 5 (on the cluster or at the top level) to use it",
		"w.yaml:16: clusters[0].connections[0].connection.keepAliveInterval: 0 turns keep-alive off: a broker that dies silently is then noticed only by an overdue acknowledgement",
		"w.yaml:6: unknown key clusters[0].colour (ignored)",
		"w.yaml:5: clusters[0].subscriberCount 3 is ignored: fos 1 fixes it to 1 (use fos: 3 to choose)",
		"w.yaml:11: clusters[0].bridges.out[0] has no topicFilters: it forwards nothing",
		`w.yaml:11: clusters[0].bridges.out[0]: bridge target "b" is disabled: the bridge forwards nothing`,
		`w.yaml:2: defaultCluster "cluster-default" is not defined under clusters: it is created on tcp://localhost:1883-1885 when first used`,
	}
	slices.Sort(want)
	got := slices.Clone(fc.Warnings)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("warnings:\n got %q\nwant %q", got, want)
	}
	if c := fc.Clusters[0]; c.LiveEndpointCount != 2 || c.SubscriberCount != 1 || c.Connection.FileStoreDir != "" {
		t.Errorf("fos 1 counts %d/%d store %q", c.LiveEndpointCount, c.SubscriberCount, c.Connection.FileStoreDir)
	}
	// strict mode: the unknown key is an error, the Java-only keys stay warnings
	_, err = ParseConfig([]byte(text), "w.yaml", LoadOptions{Strict: true})
	if err == nil || err.Error() != "w.yaml:6: clusters[0].colour: unknown key: check its spelling and case against docs/configuration.md, or remove it" {
		t.Errorf("strict: %v", err)
	}
}

func TestConfigExtensionsAndConnection(t *testing.T) {
	text := `
probeDelay: 250
maxProbeDelay: 8s
persistence:
  className: MqttDefaultFilePersistence
clusters:
  - name: ext
    clientId: gw-7
    ackTimeout: 1500
    maxProbeDelay: 4000
    connectRate: 2.5
    connectBurst: 3
    warmUp: 0
    flapLimit: -1
    flapWindow: 30s
    quarantineTime: 2m
    dedup: true
    dedupWindow: 10000
    fos: 3
    liveEndpointCount: 4
    subscriberCount: 0
    initialEndpointCount: -7
    autoConnect: false
    persistence:
      className: org.eclipse.paho.mqttv5.client.persist.MqttDefaultFilePersistence
      properties:
        - {key: path, value: /var/lib/hamqtt}
    connections:
      - connection:
          serverURIs: [tcp://h:1883]
          userName: bob
          password: !!binary cGFzcw==
          keepAliveInterval: 15
          connectionTimeout: 3
          cleanStart: false
          willDestination: gw/7/status
          willMessage:
            payload: offline
            qos: 2
            retained: true
            id: 4
  - name: inherit
    probeDelay: 100ms
`
	fc, err := ParseConfig([]byte(text), "ext.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	c := fc.Clusters[0]
	want := Config{
		Name: "ext", Endpoints: []EndpointConfig{{URI: "tcp://h:1883"}},
		Connection: ConnectionConfig{
			ClientID: "gw-7", Username: "bob", Password: "pass", KeepAlive: 15 * time.Second, ConnectTimeout: 3 * time.Second,
			Will:         &Will{Topic: "gw/7/status", Payload: []byte("offline"), QoS: 2, Retained: true},
			FileStoreDir: filepath.Join("/var/lib/hamqtt", "ext"), PersistentSession: true,
		},
		AckTimeout: 1500 * time.Millisecond, ProbeDelay: 250 * time.Millisecond, MaxProbeDelay: 4 * time.Second,
		ConnectRate: 2.5, ConnectBurst: 3, WarmUp: -1, FlapLimit: -1, FlapWindow: 30 * time.Second, QuarantineTime: 2 * time.Minute,
		Dedup: true, DedupWindow: 10 * time.Second,
		FoS: 3, LiveEndpointCount: 4, SubscriberCount: -1, PublishOnly: true, InitialEndpointCount: -1, ShareConnections: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	if fc.Settings["ext"].AutoConnect {
		t.Error("autoConnect: false was not read")
	}
	in := fc.Clusters[1]
	if in.ProbeDelay != 100*time.Millisecond || in.MaxProbeDelay != 8*time.Second || in.Connection.FileStoreDir != filepath.Join(".", "inherit") {
		t.Errorf("inherit: probe %v max %v store %q", in.ProbeDelay, in.MaxProbeDelay, in.Connection.FileStoreDir)
	}
	if fc.ProbeDelay != 250*time.Millisecond || fc.PersistenceDir != "." {
		t.Errorf("file: probe %v persistence %q", fc.ProbeDelay, fc.PersistenceDir)
	}
	wantWarn := []string{
		"ext.yaml:41: key clusters[0].connections[0].connection.willMessage.id is ignored (Java-only: Paho Java's message id)",
		`ext.yaml:2: defaultCluster "cluster-default" is not defined under clusters: it is created on tcp://localhost:1883-1885 when first used`,
	}
	if !slices.Equal(fc.Warnings, wantWarn) {
		t.Errorf("warnings %q", fc.Warnings)
	}
}

// writeTestCert writes a self-signed certificate and its key (PEM) into dir.
func cfgWriteCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hamqtt test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestConfigTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := cfgWriteCert(t, dir)
	text := fmt.Sprintf(`
clusters:
  - name: s
    connections:
      - tls:
          tlsVersion: TLSv1.3
          cafile: %s
          certfile: %s
          keyfile: %s
        connection:
          serverURIs: [ssl://h]
`, cert, cert, key)
	c, _ := cfgParseOne(t, text, LoadOptions{Strict: true})
	tc := c.Connection.TLS
	if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.MinVersion != tls.VersionTLS13 || tc.InsecureSkipVerify {
		t.Fatalf("tls %+v", tc)
	}
	if got := cfgURIs(c); !slices.Equal(got, []string{"ssl://h:8883"}) {
		t.Errorf("uris %q", got)
	}

	// hostname verification off: the chain is still verified
	c, _ = cfgParseOne(t, fmt.Sprintf("clusters:\n  - name: s\n    connections:\n      - tls: {cafile: %s}\n        connection:\n          serverURIs: [ssl://h]\n          httpsHostnameVerificationEnabled: false\n", cert), LoadOptions{})
	if tc := c.Connection.TLS; tc == nil || !tc.InsecureSkipVerify || tc.VerifyConnection == nil {
		t.Errorf("tls %+v", tc)
	}
	c, _ = cfgParseOne(t, "clusters:\n  - name: s\n    connections:\n      - tls: {insecureSkipVerify: true}\n        connection: {serverURIs: [ssl://h]}\n", LoadOptions{Strict: true})
	if tc := c.Connection.TLS; tc == nil || !tc.InsecureSkipVerify || tc.VerifyConnection != nil {
		t.Errorf("tls %+v", tc)
	}

	// padogrid's template entry (all null) means no TLS settings
	c, _ = cfgParseOne(t, "clusters:\n  - name: s\n    connections:\n      - tls: {tlsVersion: TLSv1.2, cafile: null, certfile: null, keyfile: null, password: null}\n", LoadOptions{})
	if c.Connection.TLS != nil {
		t.Errorf("tls %+v, want nil", c.Connection.TLS)
	}

	// tls settings with only tcp:// brokers would be ignored: an error, not silence
	_, err := ParseConfig([]byte(fmt.Sprintf("clusters:\n  - name: s\n    connections:\n      - tls: {cafile: %s}\n        connection: {serverURIs: [tcp://h:1883]}\n", cert)), "plain.yaml", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "plain.yaml:4") || !strings.Contains(err.Error(), "no serverURI uses TLS") {
		t.Errorf("tls with tcp:// only: %v", err)
	}

	encKey := filepath.Join(dir, "enc.pem")
	if err := os.WriteFile(encKey, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	bad := []struct{ tls, want string }{
		{"cafile: " + missing, "bad.yaml:6: clusters[0].connections[0].tls.cafile: cannot read the CA file: open " + missing + ": no such file or directory: fix the path (relative paths are relative to the working directory)"},
		{"cafile: " + key, "bad.yaml:6: clusters[0].connections[0].tls.cafile: " + key + " holds no PEM certificate: give a file with -----BEGIN CERTIFICATE----- blocks"},
		{"certfile: " + cert, "bad.yaml:6: clusters[0].connections[0].tls.keyfile: missing: a client certificate needs its private key file"},
		{"certfile: " + cert + "\n          keyfile: " + missing, "bad.yaml:7: clusters[0].connections[0].tls.keyfile: cannot read the key file: open " + missing + ": no such file or directory: fix the path"},
		{"certfile: " + cert + "\n          keyfile: " + encKey + "\n          password: pw", "bad.yaml:7: clusters[0].connections[0].tls.keyfile: " + encKey + " is an encrypted private key, which hamqtt cannot read: decrypt it (openssl pkey -in " + encKey + " -out key.pem) and protect the file instead"},
		{"tlsVersion: SSLv3", `bad.yaml:6: clusters[0].connections[0].tls.tlsVersion: "SSLv3" is not a TLS version: use TLSv1.2 or TLSv1.3`},
	}
	for _, b := range bad {
		text := "clusters:\n  - name: s\n    connections:\n      - connection: {serverURIs: [ssl://h]}\n        tls:\n          " + b.tls + "\n"
		_, err := ParseConfig([]byte(text), "bad.yaml", LoadOptions{})
		if err == nil || err.Error() != b.want {
			t.Errorf("tls %q:\n got %v\nwant %s", b.tls, err, b.want)
		}
	}
}

func TestConfigDefaultSources(t *testing.T) {
	// the built-in default when HAMQTT_CONFIG is unset or empty
	for _, env := range []map[string]string{{}, {"HAMQTT_CONFIG": " "}} {
		fc, err := LoadDefaultConfig(LoadOptions{Getenv: cfgEnvOf(env)})
		if err != nil {
			t.Fatal(err)
		}
		if fc.Source != BuiltinConfigSource || fc.DefaultCluster != "cluster-default" || len(fc.Clusters) != 1 || len(fc.Warnings) != 0 {
			t.Fatalf("built-in default: %+v", fc)
		}
		c := fc.Clusters[0]
		want := []string{"cluster-default-1 tcp://localhost:1883", "cluster-default-2 tcp://localhost:1884", "cluster-default-3 tcp://localhost:1885"}
		if got := cfgEndpoints(t, c); !slices.Equal(got, want) {
			t.Errorf("built-in endpoints %q", got)
		}
	}
	// HAMQTT_CONFIG names the file
	path := filepath.Join("testdata", "padogrid", "archetypes", "mqttv5-archetype6.yaml")
	fc, err := LoadDefaultConfig(LoadOptions{Getenv: cfgEnvOf(map[string]string{"HAMQTT_CONFIG": path})})
	if err != nil {
		t.Fatal(err)
	}
	if fc.Source != path || fc.DefaultCluster != "sticky" || fc.Clusters[0].Name != "sticky" || len(fc.Clusters[0].Endpoints) != 2 {
		t.Errorf("HAMQTT_CONFIG: %+v", fc)
	}
	// the real environment when Getenv is nil
	t.Setenv("HAMQTT_CONFIG", path)
	if fc, err := LoadDefaultConfig(LoadOptions{}); err != nil || fc.Source != path {
		t.Errorf("HAMQTT_CONFIG from the environment: %v %v", fc, err)
	}
	// a missing file is an error that says where its name came from
	_, err = LoadDefaultConfig(LoadOptions{Getenv: cfgEnvOf(map[string]string{"HAMQTT_CONFIG": "/nonexistent/hamqtt.yaml"})})
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "/nonexistent/hamqtt.yaml") || !strings.Contains(err.Error(), "HAMQTT_CONFIG") {
		t.Errorf("missing HAMQTT_CONFIG file: %v", err)
	}
	// an empty file: no clusters, the defaults of every top-level key
	fc, err = ParseConfig(nil, "", LoadOptions{})
	if err != nil || fc.Source != "<config>" || !fc.Enabled || fc.DefaultCluster != "cluster-default" || fc.Tag != "cluster-tag" || len(fc.Clusters) != 0 {
		t.Errorf("empty: %+v %v", fc, err)
	}
}

// ---------------------------------------------------------------------------------------
// The Clusters registry

func cfgTestCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func cfgWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClustersRegistry(t *testing.T) {
	text := `
defaultCluster: main
probeDelay: 300
clusters:
  - name: main
    connections: [{connection: {serverURIs: [tcp://127.0.0.1:1]}}]
  - name: off
    enabled: false
  - name: lazy
    autoConnect: false
`
	fc, err := ParseConfig([]byte(text), "reg.yaml", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewClusters(fc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if got := r.Names(); !slices.Equal(got, []string{"main", "lazy"}) {
		t.Errorf("names %q", got)
	}
	main, err := r.Get("main")
	if err != nil || main.Name() != "main" {
		t.Fatalf("Get(main): %v", err)
	}
	if c, _ := r.Get(""); c != main {
		t.Error(`Get("") is not the default cluster`)
	}
	if r.Default() != main || r.DefaultName() != "main" {
		t.Error("Default is not main")
	}
	if _, err := r.Get("nope"); err == nil || err.Error() != `cluster "nope" not found (clusters: main, lazy): define it in the configuration or use GetOrCreate` {
		t.Errorf("Get(nope): %v", err)
	}
	for _, get := range []func(string) (*Cluster, error){r.Get, func(n string) (*Cluster, error) { return r.GetOrCreate(n) }} {
		if _, err := get("off"); err == nil || err.Error() != `cluster "off" is disabled (reg.yaml:7 sets enabled: false): enable it in the configuration` {
			t.Errorf("disabled: %v", err)
		}
	}

	c, err := r.GetOrCreate("new", "tcp://127.0.0.1:2-3")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfgClusterEndpoints(c); !slices.Equal(got, []string{"new-1 tcp://127.0.0.1:2", "new-2 tcp://127.0.0.1:3"}) {
		t.Errorf("new endpoints %q", got)
	}
	if cfg := c.Config(); cfg.ProbeDelay != 300*time.Millisecond || cfg.Connection.PersistentSession {
		t.Errorf("new cluster does not have the file's defaults: %+v", cfg)
	}
	if again, err := r.GetOrCreate("new", "tcp://elsewhere:1"); err != nil || again != c {
		t.Errorf("GetOrCreate of an existing cluster: %v", err)
	}
	if got, _ := r.GetOrCreate("dflt"); got == nil || !slices.Equal(cfgClusterEndpoints(got), []string{
		"dflt-1 tcp://localhost:1883", "dflt-2 tcp://localhost:1884", "dflt-3 tcp://localhost:1885"}) {
		t.Errorf("default brokers of a new cluster: %v", got)
	}
	if _, err := r.GetOrCreate("bad", "foo://x"); err == nil || !strings.Contains(err.Error(), `unknown scheme "foo"`) {
		t.Errorf("bad URI: %v", err)
	}
	// concurrent GetOrCreate of one name makes one cluster
	var wg sync.WaitGroup
	got := make([]*Cluster, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = r.GetOrCreate("race", "tcp://127.0.0.1:4")
		}()
	}
	wg.Wait()
	for _, c := range got {
		if c == nil || c != got[0] {
			t.Fatal("concurrent GetOrCreate made different clusters")
		}
	}
	if names := r.Names(); !slices.Equal(names, []string{"main", "lazy", "new", "dflt", "race"}) {
		t.Errorf("names %q", names)
	}

	// Close is idempotent, concurrent callers wait, and everything is closed afterwards
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); r.Close() }()
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := main.Connect(cfgTestCtx(t, time.Second)); !errors.Is(err, ErrClosed) {
		t.Errorf("cluster not closed: %v", err)
	}
	if _, err := r.Get("main"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if _, err := r.GetOrCreate("later"); !errors.Is(err, ErrClosed) {
		t.Errorf("GetOrCreate after Close: %v", err)
	}
	if r.Default() != nil || !errors.Is(r.ConnectAll(cfgTestCtx(t, time.Second)), ErrClosed) {
		t.Error("Default or ConnectAll after Close")
	}
}

func cfgClusterEndpoints(c *Cluster) []string {
	var out []string
	for _, s := range c.Stats() {
		out = append(out, s.Name+" "+s.URI)
	}
	return out
}

func TestClustersDefaults(t *testing.T) {
	// nil: HAMQTT_CONFIG, else the built-in default
	t.Setenv("HAMQTT_CONFIG", "")
	r, err := NewClusters(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Names(); !slices.Equal(got, []string{"cluster-default"}) {
		t.Errorf("names %q", got)
	}
	// a default cluster the file does not define is created on first use
	fc, err := ParseConfig([]byte("clusters:\n  - name: a\n    connections: [{connection: {serverURIs: [tcp://127.0.0.1:1]}}]\n"), "d.yaml", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := NewClusters(fc)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	d := r2.Default()
	if d == nil || d.Name() != "cluster-default" || len(d.Stats()) != 3 || d.LiveCount() != 0 {
		t.Fatalf("default cluster %v", d)
	}
	if r2.Default() != d {
		t.Error("Default made a second cluster")
	}
	// top-level enabled: false: ConnectAll connects nothing (the broker here refuses, so a
	// connect attempt would fail)
	fc.Enabled = false
	r3, err := NewClusters(fc)
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	if err := r3.ConnectAll(cfgTestCtx(t, 5*time.Second)); err != nil {
		t.Errorf("ConnectAll with enabled: false: %v", err)
	}
	// an invalid hand-made configuration fails with the cluster's line; nothing is left open
	bad := &FileConfig{Source: "hand.go", Enabled: true, Clusters: []Config{{Name: "ok", Endpoints: []EndpointConfig{{URI: "tcp://h:1"}}}, {Name: "empty"}},
		Settings: map[string]ClusterSettings{"empty": {Enabled: true, Line: 42}}}
	if _, err := NewClusters(bad); err == nil || !strings.HasPrefix(err.Error(), "hand.go:42: ") || !strings.Contains(err.Error(), "no endpoints") {
		t.Errorf("invalid FileConfig: %v", err)
	}
}

func TestClustersConnectAll(t *testing.T) {
	bs := brokertest.StartN(t, 2)
	refused, err := brokertest.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`
defaultCluster: both
clusters:
  - name: both
    timeToWait: 5000
    probeDelay: 50
    connectRate: 50
    warmUp: 100ms
    connections:
      - connection: {serverURIs: [%s, %s], keepAliveInterval: 2, connectionTimeout: 2}
  - name: lazy
    autoConnect: false
    connections:
      - connection: {serverURIs: [%s]}
  - name: down
    timeToWait: 300
    probeDelay: 50
    connections:
      - connection: {serverURIs: [tcp://%s], connectionTimeout: 1}
`, bs[0].URI(), bs[1].URI(), bs[0].URI(), refused)
	fc, err := ParseConfig([]byte(text), "live.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewClusters(fc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.ConnectAll(cfgTestCtx(t, 10*time.Second))
	if err == nil || !errors.Is(err, ErrNoEndpoints) || !strings.HasPrefix(err.Error(), `cluster "down": `) || strings.Contains(err.Error(), `"both"`) {
		t.Fatalf("ConnectAll: %v", err)
	}
	both, _ := r.Get("both")
	cfgWaitFor(t, "both brokers live", func() bool { return both.LiveCount() == 2 })
	lazy, _ := r.Get("lazy")
	if st := lazy.Stats(); lazy.LiveCount() != 0 || st[0].Connects != 0 {
		t.Errorf("autoConnect: false was connected: %+v", st)
	}
	// a cluster created later, by name, connects on demand and works
	extra, err := r.GetOrCreate("extra", bs[1].URI())
	if err != nil {
		t.Fatal(err)
	}
	if err := extra.Connect(cfgTestCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := r.Default().Publish(cfgTestCtx(t, 5*time.Second), "reg/t", 1, false, []byte("x")); err != nil {
		t.Errorf("publish through the default cluster: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if both.LiveCount() != 0 || extra.LiveCount() != 0 {
		t.Error("clusters still live after Close")
	}
}

func TestConfigMaxInflightQoS2(t *testing.T) {
	fc, err := ParseConfig([]byte("clusters:\n  - name: q\n    maxInflightQoS2: 64\n    connections:\n      - connection:\n          serverURIs: [tcp://127.0.0.1:1883]\n"), "q.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := fc.Clusters[0].MaxInflightQoS2; got != 64 {
		t.Fatalf("maxInflightQoS2 = %d, want 64", got)
	}
	_, err = ParseConfig([]byte("clusters:\n  - name: q\n    maxInflightQoS2: 0\n"), "q.yaml", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "q.yaml:3") || !strings.Contains(err.Error(), "at least 1") {
		t.Fatalf("maxInflightQoS2: 0: %v", err)
	}
}

// Entries with the same tls settings get one *tls.Config, so their clusters can share
// connections (linkKey compares TLS configurations by identity); other settings get their own.
func TestConfigSameTLSSettingsShareOneConfig(t *testing.T) {
	dir := t.TempDir()
	cert, _ := cfgWriteCert(t, dir)
	text := fmt.Sprintf(`
clusters:
  - name: a
    connections:
      - tls: {cafile: %[1]s}
        connection: {serverURIs: [ssl://h]}
  - name: b
    connections:
      - tls: {cafile: %[1]s}
        connection: {serverURIs: [ssl://h]}
  - name: c
    connections:
      - tls: {cafile: %[1]s, tlsVersion: TLSv1.3}
        connection: {serverURIs: [ssl://h]}
`, cert)
	fc, err := ParseConfig([]byte(text), "tls.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := fc.Clusters[0].Connection.TLS, fc.Clusters[1].Connection.TLS, fc.Clusters[2].Connection.TLS
	if a == nil || a != b {
		t.Fatalf("clusters a and b have the same tls settings but TLS configs %p and %p", a, b)
	}
	if c == a {
		t.Fatal("cluster c has other tls settings but the same TLS config")
	}
}

func TestConfigProberAndQuorumKeys(t *testing.T) {
	fc, err := ParseConfig([]byte(`clusters:
  - name: q
    publisherType: ALL
    ackQuorum: 2
    probeInterval: 300
    probeRate: 20
    connections:
      - connection:
          serverURIs: [tcp://127.0.0.1:1883]
`), "q.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	c := fc.Clusters[0]
	if c.AckQuorum != 2 || c.ProbeInterval != 300*time.Millisecond || c.ProbeRate != 20 {
		t.Fatalf("ackQuorum %d, probeInterval %v, probeRate %v", c.AckQuorum, c.ProbeInterval, c.ProbeRate)
	}
	_, err = ParseConfig([]byte("clusters:\n  - name: q\n    ackQuorum: -2\n"), "q.yaml", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "q.yaml:3") || !strings.Contains(err.Error(), "every live broker") {
		t.Fatalf("ackQuorum: -2: %v", err)
	}
	fc, err = ParseConfig([]byte("clusters:\n  - name: q\n    ackQuorum: 2\n    connections:\n      - connection:\n          serverURIs: [tcp://127.0.0.1:1883]\n"), "q.yaml", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(fc.Warnings, func(w string) bool { return strings.Contains(w, "only matters with publisherType: ALL") }) {
		t.Fatalf("no warning for ackQuorum on a STICKY cluster: %v", fc.Warnings)
	}
}

// TestConfigOutboxKeys: every outbox key, at the top level (a default every cluster starts
// from, key by key) and per cluster; the directory rules (a cluster's dir as written, the top
// level's dir/<cluster>, a file persistence's <path>/<cluster>/outbox).
func TestConfigOutboxKeys(t *testing.T) {
	text := `
defaultCluster: plain
outbox:
  maxMessages: 500
  maxBytes: 1MiB
  overflow: drop-oldest
persistence:
  className: org.eclipse.paho.mqttv5.client.persist.MqttDefaultFilePersistence
  properties:
    - {key: path, value: /var/lib/gw}
clusters:
  - name: plain
  - name: memory
    persistence: {className: MemoryPersistence}
    outbox: {enabled: true, qos0: true, expiry: 90s}
  - name: none
    persistence: {className: MemoryPersistence}
  - name: off
    outbox: {enabled: false}
  - name: own
    outbox:
      path: ${env:SPOOL}/own
      maxMessages: -1
      maxBytes: -1
      overflow: BLOCK
      sync: interval
      syncInterval: 250
      expiry: 60000
  - name: bytes
    outbox: {dir: /b, maxBytes: 2000, sync: never, overflow: refuse}
  - name: units
    outbox: {dir: /u, maxBytes: 3 kB, sync: always}
`
	fc, err := ParseConfig([]byte(text), "ob.yaml", LoadOptions{Strict: true, Getenv: cfgEnvOf(map[string]string{"SPOOL": "/spool"})})
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Warnings) != 0 {
		t.Errorf("warnings: %q", fc.Warnings)
	}
	top := OutboxConfig{MaxMessages: 500, MaxBytes: 1 << 20, Overflow: OverflowDropOldest}
	with := func(f func(*OutboxConfig)) *OutboxConfig { c := top; f(&c); return &c }
	want := map[string]*OutboxConfig{
		"plain":  with(func(c *OutboxConfig) { c.Dir = filepath.Join("/var/lib/gw", "plain", "outbox") }),
		"memory": with(func(c *OutboxConfig) { c.QoS0, c.Expiry = true, 90*time.Second }),
		"none":   nil,
		"off":    nil,
		"own": {Dir: "/spool/own", MaxMessages: -1, MaxBytes: -1, Overflow: OverflowBlock, Sync: SyncInterval,
			SyncInterval: 250 * time.Millisecond, Expiry: time.Minute},
		"bytes": with(func(c *OutboxConfig) { c.Dir, c.MaxBytes, c.Sync, c.Overflow = "/b", 2000, SyncNever, OverflowRefuse }),
		"units": with(func(c *OutboxConfig) { c.Dir, c.MaxBytes = "/u", 3000 }),
	}
	for name, w := range want {
		got := fc.Settings[name].Outbox
		if !reflect.DeepEqual(got, w) {
			t.Errorf("cluster %s: outbox\n got %+v\nwant %+v", name, got, w)
		}
	}
	// The file store of a file persistence is unchanged: <path>/<cluster>/<endpoint>.
	if c, _, _ := fc.Cluster("plain"); c.Connection.FileStoreDir != filepath.Join("/var/lib/gw", "plain") {
		t.Errorf("file store %q", c.Connection.FileStoreDir)
	}

	// A top-level dir is the parent of each cluster's directory; a cluster's own dir is used
	// as written. Nothing but enabled, a dir or a file persistence turns an outbox on.
	fc, err = ParseConfig([]byte("outbox: {dir: spool, qos0: true}\nclusters:\n  - name: a\n  - name: b\n    outbox: {dir: /elsewhere}\n"), "d.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := fc.Settings["a"].Outbox; got == nil || got.Dir != filepath.Join("spool", "a") || !got.QoS0 {
		t.Errorf("a: %+v", got)
	}
	if got := fc.Settings["b"].Outbox; got == nil || got.Dir != "/elsewhere" || !got.QoS0 {
		t.Errorf("b: %+v", got)
	}
	fc, err = ParseConfig([]byte("outbox: {maxMessages: 10}\nclusters:\n  - name: a\n"), "n.yaml", LoadOptions{Strict: true})
	if err != nil || fc.Settings["a"].Outbox != nil || len(fc.Warnings) != 1 {
		t.Errorf("limits alone make no outbox: %v %+v %q", err, fc.Settings["a"].Outbox, fc.Warnings)
	}
	// padogrid's own files: file persistence gives every cluster a disk outbox, memory none.
	for file, withOutbox := range map[string]bool{"mqttv5-fos.yaml": true, "mqttv5-persistence.yaml": false} {
		fc, err := LoadConfigFile(filepath.Join("testdata/padogrid", file), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range fc.Clusters {
			got := fc.Settings[c.Name].Outbox
			if withOutbox && (got == nil || got.Dir != filepath.Join("persist", c.Name, "outbox")) || !withOutbox && got != nil {
				t.Errorf("%s: cluster %s: outbox %+v", file, c.Name, got)
			}
		}
	}
	// A padogrid persistence without path: the working directory, as padogrid's comment says.
	c, fc := cfgParseOne(t, "clusters:\n  - name: cwd\n    persistence: {className: MqttDefaultFilePersistence}\n", LoadOptions{Strict: true})
	if got := fc.Settings[c.Name].Outbox; got == nil || got.Dir != filepath.Join(".", "cwd", "outbox") {
		t.Errorf("persistence without path: %+v", got)
	}
}

// TestConfigOutboxErrors: every bad outbox value is an error with the file, line and key.
func TestConfigOutboxErrors(t *testing.T) {
	cases := []struct {
		name, text string
		want       []string
	}{
		{"negative maxMessages", "clusters:\n  - name: a\n    outbox: {enabled: true, maxMessages: -5}\n",
			[]string{"bad.yaml:3: clusters[0].outbox.maxMessages: -5: give a positive count, -1 for no bound, or 0 (or nothing) for the default 100000"}},
		{"maxMessages not a number", "outbox:\n  maxMessages: lots\n",
			[]string{`bad.yaml:2: outbox.maxMessages: "lots" is not a whole number`}},
		{"negative maxBytes", "outbox:\n  maxBytes: -2KiB\n",
			[]string{"bad.yaml:2: outbox.maxBytes: -2048: give a positive size such as 64MiB, -1 for no bound, or 0 (or nothing) for the default 64MiB"}},
		{"maxBytes not a size", "outbox:\n  maxBytes: 5.5MiB\n",
			[]string{`bad.yaml:2: outbox.maxBytes: "5.5MiB" is not a size: give a number of bytes, or one with a unit such as 512KiB, 64MiB or 1GB`}},
		{"maxBytes unknown unit", "outbox:\n  maxBytes: 5TB\n",
			[]string{`bad.yaml:2: outbox.maxBytes: "5TB": unknown unit "TB": use B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024)`}},
		{"maxBytes out of range", "outbox:\n  maxBytes: 99999999999GiB\n",
			[]string{`bad.yaml:2: outbox.maxBytes: "99999999999GiB" is out of range`}},
		{"overflow policy", "clusters:\n  - name: a\n    outbox:\n      enabled: true\n      overflow: drop-newest\n",
			[]string{`bad.yaml:5: clusters[0].outbox.overflow: "drop-newest" is not an overflow policy: use refuse, block or drop-oldest`}},
		{"empty overflow", "outbox: {overflow: ''}\n",
			[]string{`bad.yaml:1: outbox.overflow: "" is not an overflow policy: use refuse, block or drop-oldest`}},
		{"sync policy", "outbox: {dir: /x, sync: sometimes}\n",
			[]string{`bad.yaml:1: outbox.sync: "sometimes" is not a sync policy: use always, interval or never`}},
		{"negative syncInterval and expiry", "outbox:\n  syncInterval: -1\n  expiry: -1s\n",
			[]string{
				"bad.yaml:2: outbox.syncInterval: -1 is negative: give a positive duration (or leave it out for the default)",
				"bad.yaml:3: outbox.expiry: -1s is negative: give a positive duration (or leave it out for the default)",
			}},
		{"expiry not a duration", "outbox: {expiry: forever}\n",
			[]string{`bad.yaml:1: outbox.expiry: "forever" is not a duration: give a whole number of milliseconds or a value with a unit such as 500ms or 2s`}},
		{"enabled and qos0 not booleans", "outbox: {enabled: sure, qos0: 2}\n",
			[]string{`bad.yaml:1: outbox.enabled: "sure" is not true or false`, `bad.yaml:1: outbox.qos0: "2" is not true or false`}},
		{"dir and path", "outbox:\n  dir: /a\n  path: /b\n",
			[]string{"bad.yaml:3: outbox.path: the directory is already given by outbox.dir (line 2): keep one of dir and path"}},
		{"empty dir", "outbox: {dir: ' '}\n",
			[]string{`bad.yaml:1: outbox.dir: empty directory: give a directory for a disk outbox, or leave dir out for a memory outbox (enabled: true)`}},
		{"unset variable in dir", "outbox: {dir: '${env:NO_SUCH_SPOOL}/x'}\n",
			[]string{"bad.yaml:1: outbox.dir: environment variable NO_SUCH_SPOOL is not set (used by ${env:NO_SUCH_SPOOL}): set it, or write $${ for a literal ${"}},
		{"not a mapping", "clusters:\n  - name: a\n    outbox: yes\n",
			[]string{`bad.yaml:3: clusters[0].outbox: expected a mapping (key: value lines), found "yes"`}},
		{"a dir shared by two clusters", "clusters:\n  - name: a\n    outbox: {dir: /spool/x}\n  - name: b\n    outbox:\n      dir: /spool/./x/\n",
			[]string{`bad.yaml:6: clusters[1].outbox.dir: cluster "b" would put its outbox in /spool/x, the outbox of cluster "a" (clusters[0].outbox.dir, line 3): an outbox has one owner: give each cluster its own directory`}},
		{"a dir that is a persistence's outbox", "persistence:\n  className: MqttDefaultFilePersistence\n  properties: [{key: path, value: /p}]\nclusters:\n  - name: a\n  - name: b\n    outbox: {dir: /p/a/outbox}\n",
			[]string{`bad.yaml:7: clusters[1].outbox.dir: cluster "b" would put its outbox in /p/a/outbox, the outbox of cluster "a" (persistence, line 2): an outbox has one owner: give each cluster its own directory`}},
		{"an endpoint named outbox", "clusters:\n  - name: a\n    persistence:\n      className: MqttDefaultFilePersistence\n      properties: [{key: path, value: /p}]\n    endpoints:\n      - {name: outbox, endpoint: tcp://h:1}\n",
			[]string{`bad.yaml:4: clusters[0].persistence: cluster "a" would put its outbox in /p/a/outbox, where cluster "a" keeps an endpoint's in-flight messages (file persistence): rename that endpoint, or give the outbox another dir`}},
		{"a cluster name that cannot be a directory", "outbox: {dir: /spool}\nclusters:\n  - name: ../etc\n",
			[]string{`bad.yaml:3: clusters[0].name: cluster name "../etc" cannot be a directory name, and outbox.dir (line 1) puts the cluster's outbox in a directory named after it: rename the cluster (no /, no . or ..), or give the cluster its own outbox.dir`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fc, err := ParseConfig([]byte(tc.text), "bad.yaml", LoadOptions{Getenv: cfgNoEnv})
			if err == nil {
				t.Fatalf("no error; loaded %+v", fc)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("error:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
	// Clusters that are not created do not clash; strict mode refuses an unknown outbox key.
	if _, err := ParseConfig([]byte("clusters:\n  - name: a\n    outbox: {dir: /x}\n  - name: b\n    enabled: false\n    outbox: {dir: /x}\n"), "ok.yaml", LoadOptions{}); err != nil {
		t.Errorf("a disabled cluster's dir: %v", err)
	}
	_, err := ParseConfig([]byte("outbox: {maxMesages: 5}\n"), "s.yaml", LoadOptions{Strict: true})
	if err == nil || err.Error() != "s.yaml:1: outbox.maxMesages: unknown key: check its spelling and case against docs/configuration.md, or remove it" {
		t.Errorf("strict unknown key: %v", err)
	}
}

// TestConfigOutboxWarnings: keys that have no effect where they are written are warned.
func TestConfigOutboxWarnings(t *testing.T) {
	text := `clusters:
  - name: mem
    outbox:
      enabled: true
      sync: interval
  - name: off
    outbox:
      enabled: false
      maxMessages: 9
  - name: nothing
    outbox:
      qos0: true
  - name: interval
    outbox:
      dir: /i
      syncInterval: 50ms
`
	fc, err := ParseConfig([]byte(text), "w.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"w.yaml:5: clusters[0].outbox.sync has no effect on a memory outbox (give dir: DIR for a disk outbox)",
		"w.yaml:9: clusters[1].outbox: enabled is false, so maxMessages has no effect",
		"w.yaml:12: clusters[2].outbox: the cluster has no outbox (add enabled: true for one in memory, or dir: DIR for one on disk), so qos0 has no effect",
		"w.yaml:16: clusters[3].outbox.syncInterval only matters with sync: interval (this outbox syncs always)",
		`w.yaml:1: defaultCluster "cluster-default" is not defined under clusters: it is created on tcp://localhost:1883-1885 when first used`,
	}
	if !slices.Equal(fc.Warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", fc.Warnings, want)
	}
}

// cfgMQTT5File sets every MQTT 5 key of a connection and of its will; %s is the cluster's
// protocolVersion line.
const cfgMQTT5File = `defaultCluster: five
clusters:
  - name: five
%s    messageIds: always
    connections:
      - connection:
          serverURIs: [tcp://127.0.0.1:1883]
          cleanStart: false
          sessionExpiryInterval: 3600
          receiveMaximum: 100
          maximumPacketSize: 1048576
          topicAliasMaximum: 16
          requestProblemInfo: false
          requestResponseInfo: true
          sendReasonMessages: false
          useSubscriptionIdentifiers: false
          userProperties:
            - key: site
              value: north
            - key: site
              value: south
          willDestination: status/gw
          willMessage:
            payload: offline
            qos: 1
          willMessageProperties:
            payloadFormat: true
            messageExpiryInterval: 60
            contentType: text/plain
            responseTopic: status/reply
            correlationData: !!binary AAEC
            userProperties: {kind: will}
            willDelayInterval: 30s
            topicAlias: null
`

// Under MQTT 5 every key of padogrid's connection schema that MQTT 5 has lands in the
// engine's Config; under MQTT 3.1.1 each gives a warning that names the fix.
func TestConfigMQTT5Keys(t *testing.T) {
	c, fc := cfgParseOne(t, fmt.Sprintf(cfgMQTT5File, "    protocolVersion: 5\n"), LoadOptions{Strict: true})
	if len(fc.Warnings) != 0 {
		t.Errorf("warnings: %q", fc.Warnings)
	}
	one, exp := byte(1), uint32(60)
	wantM5 := MQTT5Config{SessionExpiry: time.Hour, ReceiveMaximum: 100, TopicAliasMaximum: 16, RequestResponseInfo: true,
		NoProblemInfo: true, User: []UserProperty{{"site", "north"}, {"site", "south"}}}
	wantWill := &Will{Topic: "status/gw", Payload: []byte("offline"), QoS: 1, Delay: 30 * time.Second, Properties: &Properties{
		PayloadFormat: &one, MessageExpiry: &exp, ContentType: "text/plain", ResponseTopic: "status/reply",
		CorrelationData: []byte{0, 1, 2}, User: []UserProperty{{"kind", "will"}}}}
	cc := c.Connection
	if cc.ProtocolVersion != MQTT5 || !reflect.DeepEqual(cc.MQTT5, wantM5) || !reflect.DeepEqual(cc.Will, wantWill) ||
		c.MaxIncomingPacket != 1<<20 || c.MessageIDs != MessageIDsAlways || !cc.PersistentSession {
		t.Errorf("got version %d, %+v, will %+v (props %+v), maxIncomingPacket %d, messageIds %v, persistent %v\nwant 5, %+v, %+v (props %+v), 1048576, always, true",
			cc.ProtocolVersion, cc.MQTT5, cc.Will, cc.Will.Properties, c.MaxIncomingPacket, c.MessageIDs, cc.PersistentSession, wantM5, wantWill, wantWill.Properties)
	}
	if _, err := c.withDefaults(); err != nil {
		t.Errorf("the engine refuses the translation: %v", err)
	}

	// The same keys under MQTT 3.1.1 (the default, or said): one warning each, naming the fix.
	for _, line := range []string{"", "    protocolVersion: 4\n"} {
		c, fc := cfgParseOne(t, fmt.Sprintf(cfgMQTT5File, line), LoadOptions{})
		if c.Connection.MQTT5.SessionExpiry != 0 || c.Connection.Will.Properties != nil || c.Connection.Will.Delay != 0 || c.MaxIncomingPacket != 0 {
			t.Errorf("MQTT 5 settings applied under 3.1.1: %+v", c)
		}
		off := strings.Count(line, "\n")
		var want []string
		for _, k := range []struct {
			line int
			key  string
		}{{9, "sessionExpiryInterval"}, {10, "receiveMaximum"}, {11, "maximumPacketSize"}, {12, "topicAliasMaximum"},
			{13, "requestProblemInfo"}, {14, "requestResponseInfo"}, {17, "userProperties"}, {27, "willMessageProperties.payloadFormat"},
			{28, "willMessageProperties.messageExpiryInterval"}, {29, "willMessageProperties.contentType"}, {30, "willMessageProperties.responseTopic"},
			{31, "willMessageProperties.correlationData"}, {32, "willMessageProperties.userProperties"}, {33, "willMessageProperties.willDelayInterval"}} {
			want = append(want, fmt.Sprintf(`test.yaml:%d: key clusters[0].connections[0].connection.%s is ignored: it is an MQTT 5 option and cluster "five" speaks MQTT 3.1.1: set protocolVersion: 5 (on the cluster or at the top level) to use it`, k.line+off, k.key))
		}
		want = append(want, fmt.Sprintf(`test.yaml:%d: key clusters[0].messageIds is ignored: message ids travel as an MQTT 5 user property and cluster "five" speaks MQTT 3.1.1: set protocolVersion: 5`, 4+off))
		if !slices.Equal(fc.Warnings, want) {
			t.Errorf("protocol %q: warnings:\n got %q\nwant %q", line, fc.Warnings, want)
		}
	}
}

// The protocol version: the top level's, a cluster's own, padogrid's mqttVersion; and
// messageIds, at both levels.
func TestConfigProtocolVersion(t *testing.T) {
	text := `protocolVersion: 5
messageIds: never
defaultCluster: top
clusters:
  - name: top
  - name: own
    protocolVersion: "3.1.1"
    messageIds: auto
  - name: paho
    connections:
      - connection:
          mqttVersion: 4
  - name: paho5
    protocolVersion: 5
    connections:
      - connection:
          mqttVersion: 5
  - name: default
    connections:
      - connection:
          mqttVersion: 0
`
	fc, err := ParseConfig([]byte(text), "v.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{"top": {5, int(MessageIDsNever)}, "own": {4, int(MessageIDsAuto)}, "paho": {4, int(MessageIDsNever)},
		"paho5": {5, int(MessageIDsNever)}, "default": {5, int(MessageIDsNever)}}
	for _, c := range fc.Clusters {
		if got := [2]int{c.Connection.ProtocolVersion, int(c.MessageIDs)}; got != want[c.Name] {
			t.Errorf("cluster %s: version and messageIds %v, want %v", c.Name, got, want[c.Name])
		}
	}
	if fc.ProtocolVersion != MQTT5 || fc.MessageIDs != MessageIDsNever || len(fc.Warnings) != 0 {
		t.Errorf("top level %d %v, warnings %q", fc.ProtocolVersion, fc.MessageIDs, fc.Warnings)
	}
	// Without any version key a cluster keeps the engine's default (3.1.1).
	if c, _ := cfgParseOne(t, "clusters:\n  - name: a\n", LoadOptions{}); c.Connection.ProtocolVersion != 0 {
		t.Errorf("default protocol version %d, want 0 (the engine's 3.1.1)", c.Connection.ProtocolVersion)
	}
	// Under mqttVersion: 4 the fix is named there.
	_, fc = cfgParseOne(t, "defaultCluster: a\nclusters:\n  - name: a\n    connections:\n      - connection:\n          mqttVersion: 4\n          receiveMaximum: 10\n", LoadOptions{})
	if want := []string{`test.yaml:7: key clusters[0].connections[0].connection.receiveMaximum is ignored: it is an MQTT 5 option and cluster "a" speaks MQTT 3.1.1: set mqttVersion: 5 (line 6) to use it`}; !slices.Equal(fc.Warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", fc.Warnings, want)
	}
	// A file persistence under MQTT 5 is the cluster's disk outbox (paho's file store is 3.1.1's).
	c, fc := cfgParseOne(t, "protocolVersion: 5\npersistence:\n  className: MqttDefaultFilePersistence\n  properties:\n    - {key: path, value: /var/lib/p}\nclusters:\n  - name: a\n", LoadOptions{})
	if ob := fc.Settings["a"].Outbox; c.Connection.FileStoreDir != "" || ob == nil || ob.Dir != "/var/lib/p/a/outbox" {
		t.Errorf("file store %q, outbox %+v; want none and /var/lib/p/a/outbox", c.Connection.FileStoreDir, ob)
	}
	if _, err := c.withDefaults(); err != nil {
		t.Error(err)
	}
}

func TestConfigMQTT5Errors(t *testing.T) {
	conn := "clusters:\n  - name: a\n    protocolVersion: 5\n    connections:\n      - connection:\n          "
	at := "bad.yaml:6: clusters[0].connections[0].connection."
	cases := []struct{ name, text, want string }{
		{"MQTT 3.1", conn + "mqttVersion: 3\n", at + "mqttVersion: MQTT 3.1 (version 3) is not supported: use 4 (MQTT 3.1.1) or 5 (MQTT 5)"},
		{"version 6", "protocolVersion: 6\n", `bad.yaml:1: protocolVersion: "6" is not an MQTT version: use 4 (MQTT 3.1.1) or 5 (MQTT 5)`},
		{"versions contradict", conn + "mqttVersion: 4\n", at + "mqttVersion: 4 contradicts clusters[0].protocolVersion 5 (line 3): keep one of them"},
		{"messageIds", "clusters:\n  - name: a\n    messageIds: sometimes\n", `bad.yaml:3: clusters[0].messageIds: "sometimes" is not a message id mode: use auto, always or never`},
		{"receiveMaximum 0", conn + "receiveMaximum: 0\n", at + "receiveMaximum: 0: give a count between 1 and 65535 (MQTT's default, when left out)"},
		{"topicAliasMaximum", conn + "topicAliasMaximum: 65536\n", at + "topicAliasMaximum: 65536: give a count between 0 (no aliases, the default) and 65535"},
		{"maximumPacketSize 0", conn + "maximumPacketSize: 0\n", at + "maximumPacketSize: 0: give a size in bytes between 1 and 268435460 (MQTT's largest packet)"},
		{"expiry too long", conn + "sessionExpiryInterval: 4294967296\n", at + "sessionExpiryInterval: 4294967296 seconds is out of range: MQTT's limit is 4294967295 seconds"},
		{"expiry negative", conn + "sessionExpiryInterval: -1\n", at + "sessionExpiryInterval: -1 is negative: give a number of seconds from 0 to 4294967295"},
		{"expiry fraction", conn + "sessionExpiryInterval: 1500ms\n", at + "sessionExpiryInterval: 1500ms is not a whole number of seconds: MQTT counts this interval in seconds"},
		{"enhanced auth", conn + "authMethod: SCRAM-SHA-1\n", at + "authMethod: MQTT 5 enhanced authentication (an AUTH exchange) is not supported, and a broker may accept a CONNECT without it on other terms: remove authMethod and authData, and authenticate with userName and password or a TLS client certificate"},
		{"user property without value", conn + "userProperties: {site: null}\n", at + `userProperties.site: a user property needs a value: write "" for an empty one`},
		{"user property without name", conn + "userProperties:\n            - value: x\n", "bad.yaml:7: clusters[0].connections[0].connection.userProperties[0]: a user property needs a name: write - key: NAME (and value: VALUE)"},
		{"packet sizes contradict", "clusters:\n  - name: a\n    protocolVersion: 5\n    maxIncomingPacket: 1000\n    connections:\n      - connection:\n          maximumPacketSize: 2000\n",
			"bad.yaml:7: clusters[0].connections[0].connection.maximumPacketSize: 2000 contradicts clusters[0].maxIncomingPacket 1000 (line 4): both set the largest packet a broker may send: keep one"},
		{"will properties twice", conn + "willDestination: w\n          willMessage: {payload: x, properties: {contentType: a}}\n          willMessageProperties: {contentType: b}\n",
			"bad.yaml:8: clusters[0].connections[0].connection.willMessageProperties: the will properties are already given by clusters[0].connections[0].connection.willMessage.properties (line 7): keep one of willMessageProperties and willMessage.properties"},
		{"UTF-8 will", conn + "willDestination: w\n          willMessage: {payload: !!binary /w==}\n          willMessageProperties: {payloadFormat: 1}\n",
			"bad.yaml:8: clusters[0].connections[0].connection.willMessageProperties.payloadFormat: the will payload is not UTF-8 text, which payload format 1 says it is: remove payloadFormat or fix the payload"},
		{"engine's user property", conn + "willDestination: w\n          willMessageProperties: {userProperties: {hamqtt-id: x}}\n",
			`bad.yaml:7: clusters[0].connections[0].connection.willMessageProperties.userProperties: user property "hamqtt-id": names starting with "hamqtt-" are hamqtt's own`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.text), "bad.yaml", LoadOptions{Getenv: cfgNoEnv})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// Keys that have no effect are warnings, never silence.
func TestConfigMQTT5Warnings(t *testing.T) {
	text := `messageIds: always
persistence:
  className: MqttDefaultFilePersistence
clusters:
  - name: a
    protocolVersion: 5
    outbox: {enabled: false}
    connections:
      - connection:
          cleanStart: false
          sessionExpiryInterval: 0
          sendReasonMessages: true
          useSubscriptionIdentifiers: true
          willMessageProperties:
            contentType: text/plain
            receiveMaximum: 10
            reasonString: why
`
	fc, err := ParseConfig([]byte(text), "w.yaml", LoadOptions{Getenv: cfgNoEnv})
	if err != nil {
		t.Fatal(err)
	}
	p := "clusters[0].connections[0].connection."
	want := []string{
		"w.yaml:12: key " + p + "sendReasonMessages is ignored: hamqtt never sends a Reason String: the acknowledgements and DISCONNECT it sends carry a reason code only (what sendReasonMessages: false asks)",
		"w.yaml:13: key " + p + "useSubscriptionIdentifiers is ignored: hamqtt numbers no subscription itself, it routes each message to the handlers whose topic filters match it; for Subscription Identifiers give one per subscription in code (Go: SubscribeOptions.ID)",
		"w.yaml:16: key " + p + "willMessageProperties.receiveMaximum is ignored: not a will property but a connection option: set connection.receiveMaximum instead",
		"w.yaml:17: key " + p + "willMessageProperties.reasonString is ignored: not a will property (a will carries payloadFormat, messageExpiryInterval, contentType, responseTopic, correlationData, userProperties and willDelayInterval)",
		"w.yaml:15: key " + p + "willMessageProperties.contentType is ignored: the connection has no will message: add willDestination (and willMessage)",
		"w.yaml:11: clusters[0].connections[0].connection.sessionExpiryInterval: 0 with cleanStart: false is read as no expiry (brokers keep the session until the client comes back, as under MQTT 3.1.1): give the seconds a broker should keep it",
		"w.yaml:3: clusters[0]: persistence: under MQTT 5 a file persistence is the cluster's disk outbox only (paho's file store is MQTT 3.1.1's), and the outbox is off: messages in flight are kept in memory",
		`w.yaml:1: defaultCluster "cluster-default" is not defined under clusters: it is created on tcp://localhost:1883-1885 when first used`,
	}
	if !slices.Equal(fc.Warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", fc.Warnings, want)
	}
	// messageIds: always at the top level with no MQTT 5 cluster.
	_, fc = cfgParseOne(t, "messageIds: always\ndefaultCluster: a\nclusters:\n  - name: a\n", LoadOptions{})
	if want := []string{"test.yaml:1: key messageIds is ignored: message ids travel as an MQTT 5 user property and no cluster speaks MQTT 5: set protocolVersion: 5"}; !slices.Equal(fc.Warnings, want) {
		t.Errorf("warnings:\n got %q\nwant %q", fc.Warnings, want)
	}
}

// Every padogrid file loads under MQTT 3.1.1 and under MQTT 5, and no MQTT 5 key in it is
// ignored silently: each one given a value either is what hamqtt does, or takes effect, or
// has a warning on its line.
func TestConfigPadogridMQTT5(t *testing.T) {
	connKeys := map[string]bool{"sessionExpiryInterval": true, "receiveMaximum": true, "maximumPacketSize": true,
		"topicAliasMaximum": true, "requestProblemInfo": true, "requestResponseInfo": true, "userProperties": true,
		"sendReasonMessages": true, "useSubscriptionIdentifiers": true, "authMethod": true, "authData": true, "mqttVersion": true}
	// what hamqtt does anyway, under either version
	asHamqtt := map[string]string{"sendReasonMessages": "false", "useSubscriptionIdentifiers": "false", "payloadFormat": "false"}
	// keys that take effect under MQTT 5
	applied := map[string]bool{"sessionExpiryInterval": true, "receiveMaximum": true, "maximumPacketSize": true, "topicAliasMaximum": true,
		"requestProblemInfo": true, "requestResponseInfo": true, "userProperties": true, "mqttVersion": true}
	type given struct {
		key, value string
		line       int
		will       bool
	}
	// v5Given lists the MQTT 5 keys of connection mappings and their wills that hold a value.
	var v5Given func(n *yaml.Node, parent, grand string, out *[]given)
	v5Given = func(n *yaml.Node, parent, grand string, out *[]given) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				will := parent == "willMessageProperties" || (parent == "properties" && grand == "willMessage")
				if !yamlEmpty(v) && ((parent == "connection" && connKeys[k.Value]) || will) {
					*out = append(*out, given{k.Value, v.Value, k.Line, will})
				}
				v5Given(v, k.Value, parent, out)
			}
			return
		}
		for _, c := range n.Content {
			v5Given(c, parent, grand, out)
		}
	}
	files, _ := filepath.Glob("testdata/padogrid/*.yaml")
	more, _ := filepath.Glob("testdata/padogrid/archetypes/*.yaml")
	if files = append(files, more...); len(files) != 26 {
		t.Fatalf("%d padogrid files, want 26", len(files))
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(text, &doc); err != nil {
			t.Fatal(err)
		}
		var keys []given
		v5Given(&doc, "", "", &keys)
		for _, version := range []int{MQTT311, MQTT5} {
			src, shift := text, 0
			if version == MQTT5 {
				src, shift = append([]byte("protocolVersion: 5\n"), text...), 1
			}
			fc, err := ParseConfig(src, f, LoadOptions{Getenv: cfgNoEnv})
			if err != nil {
				t.Errorf("%s under protocol %d: %v", f, version, err)
				continue
			}
			for _, c := range fc.Clusters {
				if got := max(c.Connection.ProtocolVersion, MQTT311); got != version {
					t.Errorf("%s: cluster %s speaks %d, want %d", f, c.Name, got, version)
				}
				if !fc.Settings[c.Name].Enabled {
					continue
				}
				if _, err := c.withDefaults(); err != nil {
					t.Errorf("%s under protocol %d: the engine refuses cluster %s: %v", f, version, c.Name, err)
				}
			}
			for _, k := range keys {
				if asHamqtt[k.key] == strings.ToLower(k.value) || (k.key == "mqttVersion" && k.value == "0") {
					continue
				}
				if version == MQTT5 && applied[k.key] && !k.will {
					continue
				}
				prefix := fmt.Sprintf("%s:%d: ", f, k.line+shift)
				if !slices.ContainsFunc(fc.Warnings, func(w string) bool { return strings.HasPrefix(w, prefix) && strings.Contains(w, k.key) }) {
					t.Errorf("%s under protocol %d: %s: %s (line %d) is ignored without a warning; warnings: %q", f, version, k.key, k.value, k.line, fc.Warnings)
				}
			}
		}
	}
}

// A file's MQTT 5 cluster speaks MQTT 5 to a real broker, which honours the Maximum Packet
// Size the file announces: a larger message is not sent to us, and the connection stays up.
func TestConfigMQTT5Live(t *testing.T) {
	b := brokertest.StartN(t, 1)[0]
	text := fmt.Sprintf(`protocolVersion: 5
defaultCluster: small
clusters:
  - name: small
    liveEndpointPoolEnabled: false
    connections:
      - connection:
          serverURIs: [%s]
          maximumPacketSize: 512
          userProperties: {site: north}
  - name: pub
    liveEndpointPoolEnabled: false
    connections:
      - connection:
          serverURIs: [%s]
`, b.URI(), b.URI())
	fc, err := ParseConfig([]byte(text), "live5.yaml", LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewClusters(fc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := cfgTestCtx(t, 10*time.Second)
	if err := r.ConnectAll(ctx); err != nil {
		t.Fatal(err)
	}
	small, _ := r.Get("small")
	pub, _ := r.Get("pub")
	got := make(chan Message, 4)
	if err := small.Subscribe(ctx, "mp/#", 1, func(m Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, "mp/big", 1, false, make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishWith(ctx, "mp/ok", 1, false, []byte("ok"), &Properties{ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic != "mp/ok" || m.Properties == nil || m.Properties.ContentType != "text/plain" {
			t.Errorf("received %s (properties %+v), want mp/ok with content type text/plain (mp/big exceeds the announced 512 bytes)", m.Topic, m.Properties)
		}
	case <-ctx.Done():
		t.Fatal("mp/ok not received")
	}
	if st := small.Stats(); st[0].Connects != 1 || small.LiveCount() != 1 {
		t.Errorf("the subscriber reconnected or is down: %+v", st)
	}
}
