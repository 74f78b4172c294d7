package core

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamqtt/hamqtt/internal/brokertest"
	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// v5Config is fastConfig speaking MQTT 5.
func v5Config(name string, uris ...string) Config {
	cfg := fastConfig(name, uris...)
	cfg.Connection.ProtocolVersion = MQTT5
	return cfg
}

func ptr[T any](v T) *T { return &v }

// Every message property travels between two MQTT 5 clusters through a real broker, at every
// QoS, and the engine's own stamp never reaches the application.
func TestMQTT5PropertiesRoundTrip(t *testing.T) {
	bs := brokertest.StartN(t, 2)
	pubCfg := v5Config("v5pub", uris(bs)...)
	pubCfg.PublisherType = All
	pub := startCluster(t, pubCfg)
	subCfg := v5Config("v5sub", uris(bs)...)
	subCfg.Dedup = true
	sub := startCluster(t, subCfg)
	waitLive(t, pub, 2)
	waitLive(t, sub, 2)
	var got collector
	codes, err := sub.SubscribeWith(ctxT(t, 5*time.Second), []Subscription{{Filter: "v5/props/#", QoS: 2, Options: SubscribeOptions{ID: 42}}}, got.add)
	if err != nil || len(codes) != 1 || codes[0] != 2 {
		t.Fatalf("SubscribeWith: %v %v", codes, err)
	}
	for qos := byte(0); qos <= 2; qos++ {
		props := &Properties{PayloadFormat: ptr(byte(1)), MessageExpiry: ptr(uint32(300)), ContentType: "text/plain",
			ResponseTopic: "v5/reply/" + fmt.Sprint(qos), CorrelationData: []byte{0, 1, 2, qos},
			User: []UserProperty{{"a", "1"}, {"a", "2"}, {"b", ""}}}
		if err := pub.PublishWith(ctxT(t, 5*time.Second), fmt.Sprintf("v5/props/%d", qos), qos, false, []byte("hello"), props); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "three messages", func() bool { return got.count() >= 3 })
	time.Sleep(200 * time.Millisecond) // copies from the second broker would arrive now
	msgs := got.all()
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want 3 (one per QoS, copies removed by their id)", len(msgs))
	}
	for _, m := range msgs {
		p := m.Properties
		if p == nil {
			t.Fatalf("%s: no properties", m.Topic)
		}
		qos := m.Topic[len(m.Topic)-1] - '0'
		if *p.PayloadFormat != 1 || p.MessageExpiry == nil || *p.MessageExpiry > 300 || *p.MessageExpiry < 290 ||
			p.ContentType != "text/plain" || p.ResponseTopic != "v5/reply/"+string('0'+qos) ||
			string(p.CorrelationData) != string([]byte{0, 1, 2, qos}) {
			t.Errorf("%s: properties %+v", m.Topic, p)
		}
		if !slices.Equal(p.User, []UserProperty{{"a", "1"}, {"a", "2"}, {"b", ""}}) {
			t.Errorf("%s: user properties %v (the engine's stamp must not show)", m.Topic, p.User)
		}
		if !slices.Equal(p.SubscriptionIDs, []int{42}) {
			t.Errorf("%s: subscription ids %v, want [42]", m.Topic, p.SubscriptionIDs)
		}
	}
}

// A 3.1.1 cluster refuses what it cannot carry instead of dropping it silently.
func TestMQTT311RefusesProperties(t *testing.T) {
	b := brokertest.Start(t)
	cfg := fastConfig("v311", b.URI())
	cfg.Connection.ProtocolVersion = MQTT311
	c := startCluster(t, cfg)
	err := c.PublishWith(ctxT(t, 5*time.Second), "t", 1, false, nil, &Properties{ContentType: "x"})
	if err == nil {
		t.Fatal("properties on a 3.1.1 cluster were accepted")
	}
	if _, err := c.SubscribeWith(ctxT(t, 5*time.Second), []Subscription{{Filter: "t", Options: SubscribeOptions{NoLocal: true}}}, nil); err == nil {
		t.Fatal("subscription options on a 3.1.1 cluster were accepted")
	}
	if err := c.PublishWith(ctxT(t, 5*time.Second), "t", 1, false, nil, &Properties{}); err != nil {
		t.Fatalf("empty properties: %v", err)
	}
}

// Topic aliases are the connection's own: more topics than the broker allows aliases for,
// and a broker restart in the middle (a new connection starts with none), still give every
// message its own topic.
func TestMQTT5TopicAliasesPerConnection(t *testing.T) {
	b := brokertest.Start(t, brokertest.Options{ExtraConfig: "max_topic_alias 4\n"})
	pub := startCluster(t, v5Config("alias-pub", b.URI()))
	sub := startCluster(t, v5Config("alias-sub", b.URI()))
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "alias/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	send := func(round int) {
		for i := range 30 {
			topic := fmt.Sprintf("alias/%d", i%7)
			if err := pub.Publish(ctxT(t, 5*time.Second), topic, byte(i%2), false, []byte(fmt.Sprintf("%d/%s", round, topic))); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0)
	waitFor(t, 5*time.Second, "round 0", func() bool { return got.count() >= 30 })
	if err := b.Restart(); err != nil {
		t.Fatal(err)
	}
	waitLive(t, pub, 1)
	waitFor(t, 10*time.Second, "subscriber back", func() bool {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		return sub.endpoints[0].subReady
	})
	send(1)
	waitFor(t, 5*time.Second, "round 1", func() bool { return got.count() >= 60 })
	for _, m := range got.all() {
		var round int
		var topic string
		if _, err := fmt.Sscanf(string(m.Payload), "%d/%s", &round, &topic); err != nil || topic != m.Topic {
			t.Fatalf("message %q arrived on %q", m.Payload, m.Topic)
		}
	}
}

// The broker's reason code reaches the application per message; a refused message is not sent
// elsewhere, and the broker that refused it stays live.
func TestMQTT5ReasonCodeRefusesMessageNotBroker(t *testing.T) {
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl")
	if err := os.WriteFile(acl, []byte("topic readwrite ok/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("allow_anonymous true\nacl_file %s\n", acl)
	bs := []*brokertest.Broker{brokertest.Start(t, brokertest.Options{ExtraConfig: conf}), brokertest.Start(t, brokertest.Options{ExtraConfig: conf})}
	c := startCluster(t, v5Config("rc", uris(bs)...))
	waitLive(t, c, 2)
	err := c.Publish(ctxT(t, 5*time.Second), "denied/x", 1, false, []byte("no"))
	var rerr *ReasonError
	if !errors.As(err, &rerr) || rerr.Code != ReasonNotAuthorized || !errors.Is(err, ErrRefusedByBroker) {
		t.Fatalf("publish to a denied topic: %v, want PUBACK Not authorized", err)
	}
	tok := c.PublishAsync("denied/y", 2, false, []byte("no"))
	if err := tok.Wait(ctxT(t, 5*time.Second)); !errors.As(err, &rerr) || rerr.Code != ReasonNotAuthorized || rerr.Packet != "PUBREC" {
		t.Fatalf("QoS 2 publish to a denied topic: %v, want PUBREC Not authorized", err)
	}
	if n := len(*c.live.Load()); n != 2 {
		t.Fatalf("%d live endpoints after refusals, want 2: a refusal is not a dead broker", n)
	}
	var published uint64
	for _, e := range c.Stats() {
		published += e.Published
	}
	if published != 2 {
		t.Fatalf("%d copies sent for two refused messages: a refused message went elsewhere", published)
	}
	if err := c.Publish(ctxT(t, 5*time.Second), "ok/x", 1, false, []byte("yes")); err != nil {
		t.Fatal(err)
	}
}

// The broker's Receive Maximum bounds what awaits its acknowledgement; far more messages than
// it allows in flight are all delivered, at QoS 1 and 2.
func TestMQTT5ReceiveMaximum(t *testing.T) {
	b := brokertest.Start(t, brokertest.Options{ExtraConfig: "max_inflight_messages 3\n"})
	pub := startCluster(t, v5Config("rm-pub", b.URI()))
	sub := startCluster(t, v5Config("rm-sub", b.URI()))
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "rm/#", 2, got.add); err != nil {
		t.Fatal(err)
	}
	// One stream per QoS: a broker orders messages per QoS level only (Mosquitto interleaves
	// a mixed stream under its in-flight limit).
	const n = 300
	for phase, qos := range []byte{1, 2} {
		var toks []*Token
		for i := range n {
			toks = append(toks, pub.PublishAsync("rm/t", qos, false, []byte(fmt.Sprint(phase*n+i))))
		}
		for i, tok := range toks {
			if err := tok.Wait(ctxT(t, 10*time.Second)); err != nil {
				t.Fatalf("QoS %d message %d: %v", qos, i, err)
			}
		}
		waitFor(t, 10*time.Second, "every message", func() bool { return got.count() >= (phase+1)*n })
	}
	for i, m := range got.all() {
		if string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: order lost", i, m.Payload)
		}
	}
}

// With message ids a dedup subscriber keeps a message published twice on purpose and removes
// the copies of each, whichever broker brings them.
func TestMQTT5ExactDedup(t *testing.T) {
	bs := brokertest.StartN(t, 3)
	pubCfg := v5Config("xd-pub", uris(bs)...)
	pubCfg.PublisherType = All
	pub := startCluster(t, pubCfg)
	subCfg := v5Config("xd-sub", uris(bs)...)
	subCfg.Dedup = true
	sub := startCluster(t, subCfg)
	waitLive(t, pub, 3)
	waitLive(t, sub, 3)
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "xd/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := pub.Publish(ctxT(t, 5*time.Second), "xd/t", 1, false, []byte("same")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "five messages", func() bool { return got.count() >= 5 })
	time.Sleep(300 * time.Millisecond) // the other brokers' copies would arrive now
	if n := got.count(); n != 5 {
		t.Fatalf("got %d messages, want the 5 published (15 copies arrived)", n)
	}
}

// A dedup subscriber on several brokers gets one retained message per topic, not one per
// broker; with MQTT 5 message ids, the newest of copies that differ in age.
func TestRetainedOnePerTopic(t *testing.T) {
	for _, version := range []int{MQTT311, MQTT5} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			bs := brokertest.StartN(t, 3)
			mk := func(name string, eps ...string) Config {
				cfg := fastConfig(name, eps...)
				cfg.Connection.ProtocolVersion = version
				cfg.MessageIDs = MessageIDsAlways
				return cfg
			}
			// An older retained value on the first broker only, a newer one on all three.
			old := startCluster(t, mk("ret-old", bs[0].URI()))
			if err := old.Publish(ctxT(t, 5*time.Second), "ret/a", 1, true, []byte("old")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // the stamps count milliseconds
			cfg := mk("ret-new", bs[1].URI(), bs[2].URI())
			cfg.PublisherType, cfg.AckQuorum = All, -1 // one publish, one id, a copy on each broker
			newer := startCluster(t, cfg)
			waitLive(t, newer, 2)
			for _, topic := range []string{"ret/a", "ret/b"} {
				if err := newer.Publish(ctxT(t, 5*time.Second), topic, 1, true, []byte("new")); err != nil {
					t.Fatal(err)
				}
			}
			if err := old.Publish(ctxT(t, 5*time.Second), "ret/b", 1, true, []byte("new")); err != nil {
				t.Fatal(err) // the same value on the third broker, by another publisher later
			}
			subCfg := mk("ret-sub", uris(bs)...)
			subCfg.Dedup = true
			sub := startCluster(t, subCfg)
			waitLive(t, sub, 3)
			var got collector
			if err := sub.Subscribe(ctxT(t, 5*time.Second), "ret/#", 1, got.add); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "retained messages", func() bool { return got.count() >= 2 })
			time.Sleep(300 * time.Millisecond) // later copies would arrive now
			last := map[string]string{}
			n := map[string]int{}
			for _, m := range got.all() {
				last[m.Topic] = string(m.Payload)
				n[m.Topic]++
			}
			if version == MQTT311 && n["ret/b"] != 1 {
				t.Errorf("ret/b delivered %d times, want once (three brokers hold it)", n["ret/b"])
			}
			if version == MQTT5 && (n["ret/b"] > 2 || last["ret/b"] != "new") {
				t.Errorf("ret/b delivered %d times ending %q: want the first copy and at most the newer one", n["ret/b"], last["ret/b"])
			}
			if version == MQTT5 && last["ret/a"] != "new" {
				t.Errorf("ret/a ends as %q, want the newest by its message id", last["ret/a"])
			}
			if version == MQTT311 && n["ret/a"] != 1 {
				t.Errorf("ret/a delivered %d times, want once (the first copy stands)", n["ret/a"])
			}
		})
	}
}

// A disk outbox keeps a message's MQTT 5 properties and message id across a restart, and the
// message's own expiry applies to what waits in it.
func TestMQTT5OutboxKeepsPropertiesAndExpiry(t *testing.T) {
	dir := t.TempDir()
	dead := deadURI(t)
	ob := openOutbox(t, OutboxConfig{Dir: dir})
	cfg := v5Config("v5disk", dead)
	cfg.Outbox = ob
	c := newUnstarted(t, cfg)
	// The outbox keeps publish order, so a message's outcome comes in its turn: the one that
	// expires goes first here.
	short := c.PublishAsyncWith("v5disk/expires", 1, false, []byte("gone"), &Properties{MessageExpiry: ptr(uint32(1))})
	if err := short.Wait(ctxT(t, 5*time.Second)); !errors.Is(err, ErrExpired) {
		t.Fatalf("a message whose expiry ended in the outbox: %v, want ErrExpired", err)
	}
	props := &Properties{ContentType: "application/json", CorrelationData: []byte("c1"), User: []UserProperty{{"k", "v"}}}
	if tok := c.PublishAsyncWith("v5disk/kept", 1, false, []byte("kept"), props); !tok.Stored() {
		t.Fatalf("not stored: %v", tok.Err())
	}
	c.Close()
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}

	b := brokertest.Start(t)
	sub := startCluster(t, v5Config("v5disksub", b.URI()))
	var got collector
	if err := sub.Subscribe(ctxT(t, 5*time.Second), "v5disk/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	ob = openOutbox(t, OutboxConfig{Dir: dir})
	cfg2 := v5Config("v5disk", b.URI())
	cfg2.Outbox = ob
	c2 := startCluster(t, cfg2)
	if err := c2.Flush(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the stored message", func() bool { return got.count() >= 1 })
	m := got.all()[0]
	if m.Topic != "v5disk/kept" || m.Properties == nil || m.Properties.ContentType != "application/json" ||
		string(m.Properties.CorrelationData) != "c1" || !slices.Equal(m.Properties.User, []UserProperty{{"k", "v"}}) {
		t.Fatalf("after a restart: %q %+v", m.Topic, m.Properties)
	}
	c2.Close()
	ob.Close()
}

// A message's lifetime that ends in the engine's queue fails that message only: the broker
// stays live and the next message goes out. An expiry of 0 is sent as given.
func TestMQTT5ExpiryFailsTheMessageNotTheBroker(t *testing.T) {
	b := brokertest.Start(t)
	c := startCluster(t, v5Config("exp5", b.URI()))
	zero := uint32(0)
	if err := c.PublishWith(ctxT(t, 5*time.Second), "exp5/a", 1, false, []byte("x"), &Properties{MessageExpiry: &zero}); err != nil {
		t.Fatalf("expiry 0: %v", err)
	}
	req, err := c.newRequest("exp5/b", 1, false, []byte("y"), &Properties{MessageExpiry: ptr(uint32(1))})
	if err != nil {
		t.Fatal(err)
	}
	req.expires = time.Now().Add(-time.Millisecond) // its lifetime ended while it waited
	if _, err := c.publish(ctxT(t, 5*time.Second), req); !errors.Is(err, ErrExpired) {
		t.Fatalf("an expired message: %v, want ErrExpired", err)
	}
	if st := c.Stats()[0]; st.State != StateLive {
		t.Fatalf("endpoint %v after a message expired: %s", st.State, st.LastError)
	}
	if err := c.Publish(ctxT(t, 5*time.Second), "exp5/c", 1, false, []byte("z")); err != nil {
		t.Fatal(err)
	}
}

// A cluster mixes versions only when an endpoint asks: an MQTT 5 cluster with a 3.1.1
// endpoint sends through both, properties only where MQTT 5 carries them.
func TestMixedVersionsWhenAsked(t *testing.T) {
	bs := brokertest.StartN(t, 2)
	cfg := v5Config("mixed-v", bs[0].URI())
	cfg.Endpoints = append(cfg.Endpoints, EndpointConfig{URI: bs[1].URI(), ProtocolVersion: MQTT311})
	cfg.PublisherType = All
	pub := startCluster(t, cfg)
	waitLive(t, pub, 2)
	var on5, on311 collector
	sub5 := startCluster(t, v5Config("mixed-sub5", bs[0].URI()))
	if err := sub5.Subscribe(ctxT(t, 5*time.Second), "mixed/#", 1, on5.add); err != nil {
		t.Fatal(err)
	}
	sub311cfg := fastConfig("mixed-sub311", bs[1].URI())
	sub311cfg.Connection.ProtocolVersion = MQTT311
	sub311 := startCluster(t, sub311cfg)
	if err := sub311.Subscribe(ctxT(t, 5*time.Second), "mixed/#", 1, on311.add); err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishWith(ctxT(t, 5*time.Second), "mixed/t", 1, false, []byte("m"), &Properties{ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both copies", func() bool { return on5.count() == 1 && on311.count() == 1 })
	if p := on5.all()[0].Properties; p == nil || p.ContentType != "text/plain" {
		t.Errorf("through the MQTT 5 broker: properties %+v", p)
	}
	if p := on311.all()[0].Properties; p != nil {
		t.Errorf("through the 3.1.1 broker: properties %+v, want none", p)
	}
	bad := v5Config("mixed-bad", bs[0].URI())
	bad.Endpoints[0].ProtocolVersion = 3
	if _, err := New(bad); err == nil {
		t.Fatal("endpoint protocol version 3 accepted")
	}
}

// CloseWith tells each MQTT 5 broker why the cluster leaves: with 0x04 every broker publishes
// the will, after a normal close none does; what a client may not send is refused and leaves
// the cluster open.
func TestMQTT5CloseWithWill(t *testing.T) {
	bs := brokertest.StartN(t, 2)
	counters := []*counter{newCounter(t, bs[0].URI(), "v5/will/#"), newCounter(t, bs[1].URI(), "v5/will/#")}
	watcher := startCluster(t, v5Config("close-watch", bs[0].URI()))
	var got collector
	if err := watcher.Subscribe(ctxT(t, 5*time.Second), "v5/will/#", 1, got.add); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"normal", "will"} {
		cfg := v5Config("close-"+name, uris(bs)...)
		cfg.Connection.Will = &Will{Topic: "v5/will/" + name, Payload: []byte(name), QoS: 1,
			Properties: &Properties{ContentType: "text/plain", User: []UserProperty{{"gateway", name}}}}
		c := startCluster(t, cfg)
		waitLive(t, c, 2)
		if err := c.CloseWith(DisconnectOptions{Reason: 0x8E}); err == nil || !strings.Contains(err.Error(), "not one a client may send") {
			t.Fatalf("a server-only reason code: %v", err)
		}
		if err := c.CloseWith(DisconnectOptions{SessionExpiry: ptr(uint32(60))}); err == nil || !strings.Contains(err.Error(), "protocol error") {
			t.Fatalf("a session expiry after connecting with none: %v", err)
		}
		if err := c.PublishWith(ctxT(t, 5*time.Second), "v5/will/open", 1, false, []byte("open"), nil); err != nil {
			t.Fatalf("the cluster was closed by a refused CloseWith: %v", err)
		}
		d := DisconnectOptions{ReasonString: "leaving", User: []UserProperty{{"why", name}}}
		if name == "will" {
			d.Reason = ReasonDisconnectWithWill
		}
		if err := c.CloseWith(d); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range counters {
		waitFor(t, 5*time.Second, fmt.Sprintf("the will on broker %d", i), func() bool {
			k.mu.Lock()
			defer k.mu.Unlock()
			return k.seen["will"] == 1
		})
		k.mu.Lock()
		if k.seen["normal"] != 0 {
			t.Errorf("broker %d published the will of a normal close", i)
		}
		k.mu.Unlock()
	}
	// the will's properties reached the broker and come with it
	waitFor(t, 5*time.Second, "the will at an MQTT 5 subscriber", func() bool { return got.count() >= 1 })
	for _, m := range got.all() {
		if m.Topic == "v5/will/will" && (m.Properties == nil || m.Properties.ContentType != "text/plain" ||
			!slices.Equal(m.Properties.User, []UserProperty{{"gateway", "will"}})) {
			t.Errorf("the will arrived with properties %+v", m.Properties)
		}
	}
}

// What the brokers receive: SUBSCRIBE user properties (one packet per identifier and set of
// user properties), UNSUBSCRIBE user properties, and the DISCONNECT of CloseWith with its
// reason and properties.
func TestMQTT5SubscribeAndDisconnectPropertiesOnTheWire(t *testing.T) {
	b := brokertest.Start(t)
	p := brokertest.StartProxy(t, b.Addr())
	p.Record()
	c, err := New(v5Config("wire", p.URI()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	tagged := SubscribeOptions{ID: 7, User: []UserProperty{{"team", "ops"}, {"team", "qa"}}}
	subs := []Subscription{{Filter: "w/a", QoS: 1, Options: tagged}, {Filter: "w/b", QoS: 0}, {Filter: "w/c", QoS: 2, Options: tagged}}
	if codes, err := c.SubscribeWith(ctxT(t, 5*time.Second), subs, func(Message) {}); err != nil || !slices.Equal(codes, []ReasonCode{1, 0, 2}) {
		t.Fatalf("SubscribeWith: %v %v", codes, err)
	}
	if err := c.UnsubscribeWith(ctxT(t, 5*time.Second), []string{"w/b"}, []UserProperty{{"why", "done"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWith(DisconnectOptions{Reason: 0x80, ReasonString: "maintenance", User: []UserProperty{{"k", "v"}}}); err != nil {
		t.Fatal(err)
	}
	var got []mqtt5.Packet
	waitFor(t, 5*time.Second, "the DISCONNECT on the wire", func() bool {
		got = nil
		for _, stream := range p.Sent() {
			r := bufio.NewReader(bytes.NewReader(stream))
			for {
				pkt, err := readPacket5(r, 1<<20)
				if err != nil {
					break
				}
				got = append(got, pkt)
			}
		}
		return len(got) > 0 && got[len(got)-1].Type() == mqtt5.DISCONNECT
	})
	var subPkts []*mqtt5.Subscribe
	unsubscribed := false
	for _, pkt := range got {
		switch p := pkt.(type) {
		case *mqtt5.Subscribe:
			subPkts = append(subPkts, p)
		case *mqtt5.Unsubscribe:
			unsubscribed = slices.Equal(p.Filters, []string{"w/b"}) && len(p.Properties.User) == 1 &&
				p.Properties.User[0] == (mqtt5.UserProperty{Key: "why", Value: "done"})
		}
	}
	if !unsubscribed {
		t.Error("no UNSUBSCRIBE of w/b with its user property")
	}
	if len(subPkts) != 2 {
		t.Fatalf("%d SUBSCRIBE packets, want 2 (one per identifier and user properties)", len(subPkts))
	}
	for _, s := range subPkts {
		var filters []string
		for _, f := range s.Subscriptions {
			filters = append(filters, f.Filter)
		}
		tags := s.Properties.User
		switch {
		case slices.Equal(filters, []string{"w/a", "w/c"}):
			if !slices.Equal(s.Properties.SubscriptionIDs, []uint32{7}) || len(tags) != 2 || tags[0] != (mqtt5.UserProperty{Key: "team", Value: "ops"}) || tags[1] != (mqtt5.UserProperty{Key: "team", Value: "qa"}) {
				t.Errorf("tagged SUBSCRIBE: ids %v, user properties %v", s.Properties.SubscriptionIDs, tags)
			}
		case slices.Equal(filters, []string{"w/b"}):
			if len(tags) != 0 || len(s.Properties.SubscriptionIDs) != 0 {
				t.Errorf("plain SUBSCRIBE carries %v %v", s.Properties.SubscriptionIDs, tags)
			}
		default:
			t.Errorf("SUBSCRIBE of %v", filters)
		}
	}
	d := got[len(got)-1].(*mqtt5.Disconnect)
	if d.Reason != 0x80 || d.Properties.ReasonString != "maintenance" || len(d.Properties.User) != 1 || d.Properties.User[0].Value != "v" {
		t.Errorf("DISCONNECT: reason 0x%02X, properties %+v", byte(d.Reason), d.Properties)
	}
}

// A string a broker closes the connection for (Mosquitto: "Malformed UTF-8" for a tab in a user
// property) is refused before it is sent, in every packet that carries properties.
func TestMQTT5PropertyStringsBrokersRefuse(t *testing.T) {
	b := brokertest.Start(t)
	c := startCluster(t, v5Config("strings", b.URI()))
	waitLive(t, c, 1)
	bad := []UserProperty{{"k", "a\tb"}}
	if err := c.PublishWith(ctxT(t, 5*time.Second), "s/t", 1, false, nil, &Properties{User: bad}); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Errorf("publish: %v", err)
	}
	if err := c.PublishWith(ctxT(t, 5*time.Second), "s/t", 1, false, nil, &Properties{ContentType: "text\x00"}); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("publish: %v", err)
	}
	if _, err := c.SubscribeWith(ctxT(t, 5*time.Second), []Subscription{{Filter: "s/#", Options: SubscribeOptions{User: bad}}}, nil); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Errorf("subscribe: %v", err)
	}
	if err := c.UnsubscribeWith(ctxT(t, 5*time.Second), []string{"s/#"}, bad); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Errorf("unsubscribe: %v", err)
	}
	if err := c.CloseWith(DisconnectOptions{ReasonString: "bye\x01"}); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Errorf("disconnect: %v", err)
	}
	// the connection survived all of it
	if err := c.PublishWith(ctxT(t, 5*time.Second), "s/t", 1, false, nil, &Properties{User: []UserProperty{{"k", "ok"}}}); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st[0].Connects != 1 {
		t.Errorf("%d connects: a refused string reached the broker", st[0].Connects)
	}
}

func TestMQTT5ConnectUserPropertiesBrokersRefuse(t *testing.T) {
	cfg := v5Config("cstrings", "tcp://127.0.0.1:1")
	cfg.Connection.MQTT5.User = []UserProperty{{"site", "a\nb"}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "connect properties") {
		t.Fatalf("New with a control character in a CONNECT user property: %v", err)
	}
}

// A broker's success reason code reaches the publisher: Mosquitto answers a QoS 1 publish with
// 0x10 "No matching subscribers" when nobody subscribed (its PUBREC at QoS 2 says plain success),
// and with plain success once someone has.
func TestMQTT5NoMatchingSubscribers(t *testing.T) {
	b := brokertest.Start(t)
	cfg := v5Config("nomatch", b.URI())
	cfg.DeliveryEvents = true
	c := startCluster(t, cfg)
	waitLive(t, c, 1)
	for _, qos := range []byte{1} {
		tok := c.PublishAsync("nobody/listens", qos, false, []byte("x"))
		if err := tok.Wait(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if rc := tok.ReasonCode(); rc != ReasonNoMatchingSubscribers {
			t.Errorf("QoS %d to a topic nobody subscribed: reason code 0x%02X, want 0x10", qos, byte(rc))
		}
		pollFor(t, c, 5*time.Second, "the delivery event with its reason code", func(e Event) bool {
			return e.Kind == EventDelivery && e.Delivery.ID == tok.ID() && e.Delivery.ReasonCode == ReasonNoMatchingSubscribers
		})
	}
	if err := c.Subscribe(ctxT(t, 5*time.Second), "nobody/#", 1, func(Message) {}); err != nil {
		t.Fatal(err)
	}
	tok := c.PublishAsync("nobody/listens", 1, false, []byte("x"))
	if err := tok.Wait(ctxT(t, 5*time.Second)); err != nil || tok.ReasonCode() != 0 {
		t.Errorf("with a subscriber: %v, reason code 0x%02X", err, byte(tok.ReasonCode()))
	}
}
