// Package core is the hamqtt engine: a high-availability MQTT client that clusters independent
// brokers from the client side.
//
// A Cluster is a virtual cluster: a set of broker endpoints that the client keeps connections
// to. It publishes through the live ones by a publisher type (Sticky, RoundRobin, Random, All),
// fails over when one dies, subscribes on every live subscriber endpoint and replays the
// subscriptions on endpoints that come back, and revives dead endpoints politely (jittered
// exponential backoff, a per-cluster connect-rate limit, a live-connection cap, flap
// quarantine). Every received message names the endpoint it came through.
//
//	c, err := core.New(core.Config{
//		Endpoints:     []core.EndpointConfig{{URI: "tcp://10.0.0.5:1883"}, {URI: "tcp://10.0.0.6:1883"}},
//		PublisherType: core.All, // every message on every live broker
//		Dedup:         true,     // and each delivered once
//	})
//	...
//	err = c.Connect(ctx)
//	err = c.Subscribe(ctx, "sensors/#", 1, func(m core.Message) { ... })
//	err = c.Publish(ctx, "sensors/t1", 1, false, []byte("21.5"))
//
// An Outbox (OpenOutbox, Config.Outbox) stores publishes until a broker acknowledges them, in
// memory or durably in a directory: a total outage, a kill -9 or a power loss then costs no
// message the application was told was stored, and the messages flush in publish order when a
// broker is back (docs/store-and-forward.md).
//
// Configuration files in padogrid's mqttv5-client.yaml format load with LoadConfigFile, and
// NewClusters builds the registry of their clusters, with bridges and plugin hooks attached.
//
// Events reach the application either through Handlers on one dispatcher goroutine (push) or
// through Poll and EventFD (pull); never on a network goroutine and never under a lock.
// Every method is safe for concurrent use; Close stops and waits for every goroutine a cluster
// started.
package core
