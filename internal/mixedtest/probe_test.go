package mixedtest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// behaviour is what a probe found a broker doing where MQTT 3.1.1 leaves room or where
// implementations differ. Every field is compared with what is expected of the broker's kind,
// so a new version that behaves differently fails the test and gets noticed.
type behaviour struct {
	MQTT5  string // answer to an MQTT 5 CONNECT: "accepted", "refused N" (N the code), "closed"
	MQTT31 string // answer to an MQTT 3.1 CONNECT (protocol name MQIsdp)

	QoS2Answer    string // the broker's answer to a QoS 2 PUBLISH: "PUBREC" (QoS 2) or "PUBACK"
	QoS2Granted   byte   // QoS the SUBACK grants for a QoS 2 subscription
	QoS2Delivered byte   // QoS of a QoS 2 message delivered to that subscription

	RetainedExact    bool // a retained message reaches a new subscription to its very topic
	RetainedWildcard bool // and a new subscription with a wildcard filter that matches it
	RetainedCleared  bool // an empty retained payload clears it (a new subscription gets nothing)

	OverlapCopies int // copies of one message to a connection subscribed to it at QoS 1 and 0

	ClientID24     string // answer to a 24-character client ID (MQTT 3.1.1 only promises 23)
	ClientID65535  string // the longest MQTT can carry
	ClientIDChars  string // one with "/", "#", "+", a space and a non-ASCII letter
	EmptyIDClean   string // an empty client ID with clean session (3.1.1: the broker assigns one)
	EmptyIDPersist string // an empty client ID without clean session (3.1.1: refused 2)
	Takeover       bool   // a second connection with the same client ID closes the first

	KeepAliveClose time.Duration // a silent connection with a 1 s keep-alive is closed after this
	KeepAliveZero  bool          // a connection with keep-alive 0 is left open (3 s of silence)

	DottedTopic string // the topic a message published to "<tag>/a.b/c" arrives with
	Topic300    string // a QoS 1 PUBLISH to a 300-byte topic: "delivered", "dropped" or "closed"
	Payload16M  string // a QoS 1 PUBLISH with a 16 MiB payload: likewise
}

// probe runs every check against the broker at addr, side by side (each on connections, topics
// and client IDs of its own, all starting with tag).
func probe(addr, tag string) (behaviour, error) {
	var b behaviour
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	check := func(what string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
				mu.Unlock()
			}
		}()
	}
	answer := func(dst *string, o connectOpts) func() error {
		return func() error {
			rc, res, err := connectRaw(addr, o)
			if rc != nil {
				rc.send(frame(pktDisconnect<<4, nil))
				rc.Close()
			}
			*dst = res.outcome
			return err
		}
	}
	// MQTT 3.1 allows client IDs of 1 to 23 characters only; the short one here has 12.
	short := fmt.Sprintf("v31%09d", time.Now().UnixNano()%1e9)
	check("MQTT 5", answer(&b.MQTT5, connectOpts{level: 5, clientID: tag + "-v5"}))
	check("MQTT 3.1", answer(&b.MQTT31, connectOpts{level: 3, clientID: short}))
	check("24-character ID", answer(&b.ClientID24, connectOpts{clientID: fixedLen(tag+"-id24-", 24)}))
	check("65535-character ID", answer(&b.ClientID65535, connectOpts{clientID: fixedLen(tag+"-idmax-", 65535)}))
	check("ID characters", answer(&b.ClientIDChars, connectOpts{clientID: tag + "/a#+ é"}))
	check("empty ID, clean", answer(&b.EmptyIDClean, connectOpts{}))
	check("empty ID, persistent", answer(&b.EmptyIDPersist, connectOpts{persist: true}))
	check("takeover", func() (err error) {
		b.Takeover, err = probeTakeover(addr, tag+"-takeover")
		return err
	})
	check("QoS 2", func() (err error) {
		b.QoS2Answer, b.QoS2Granted, b.QoS2Delivered, err = probeQoS2(addr, tag+"-qos2")
		return err
	})
	check("retained", func() (err error) {
		b.RetainedExact, b.RetainedWildcard, b.RetainedCleared, err = probeRetained(addr, tag+"-retained")
		return err
	})
	check("overlap", func() (err error) {
		b.OverlapCopies, err = probeOverlap(addr, tag+"-overlap")
		return err
	})
	check("dotted topic", func() (err error) {
		b.DottedTopic, err = probeTopicName(addr, tag+"-dots", tag+"-dots/a.b/c")
		return err
	})
	check("300-byte topic", func() (err error) {
		b.Topic300, err = probeRoundTrip(addr, tag+"-t300", tag+"-t300/"+strings.Repeat("t", 294-len(tag)), []byte("long topic"))
		return err
	})
	check("16 MiB payload", func() (err error) {
		b.Payload16M, err = probeRoundTrip(addr, tag+"-16m", tag+"-16m/big", bytes.Repeat([]byte("0123456789abcdef"), 1<<20))
		return err
	})
	wg.Wait()
	// The keep-alive checks time the broker: alone, without a 16 MiB message in its way.
	check("keep-alive 1s", func() (err error) {
		b.KeepAliveClose, err = probeKeepAliveClose(addr, tag+"-ka1")
		return err
	})
	check("keep-alive 0", func() (err error) {
		b.KeepAliveZero, err = probeKeepAliveZero(addr, tag+"-ka0")
		return err
	})
	wg.Wait()
	return b, errors.Join(errs...)
}

// fixedLen pads s with "x" (or cuts it) to n bytes.
func fixedLen(s string, n int) string {
	if len(s) >= n {
		return s[:n]
	}
	return s + strings.Repeat("x", n-len(s))
}

func probeKeepAliveClose(addr, id string) (time.Duration, error) {
	rc, err := mustConnect(addr, connectOpts{clientID: id, keepAlive: 1})
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	start := time.Now()
	_, err = rc.read(15 * time.Second)
	if isTimeout(err) {
		return 0, nil // not closed within 15 s
	}
	if !errors.Is(err, errClosed) {
		return 0, fmt.Errorf("while silent: %v", err)
	}
	// Rounded to 0.5 s: the broker's timer granularity, not the scheduler's, is the point.
	return time.Since(start).Round(500 * time.Millisecond), nil
}

func probeKeepAliveZero(addr, id string) (bool, error) {
	rc, err := mustConnect(addr, connectOpts{clientID: id})
	if err != nil {
		return false, err
	}
	defer rc.Close()
	_, err = rc.read(3 * time.Second)
	if isTimeout(err) {
		if err := rc.send(frame(pktPingreq<<4, nil)); err != nil {
			return false, nil
		}
		p, err := rc.read(5 * time.Second)
		return err == nil && p.typ == pktPingresp, nil
	}
	return false, nil
}

func probeTakeover(addr, id string) (bool, error) {
	first, err := mustConnect(addr, connectOpts{clientID: id, keepAlive: 60})
	if err != nil {
		return false, err
	}
	defer first.Close()
	second, err := mustConnect(addr, connectOpts{clientID: id, keepAlive: 60})
	if err != nil {
		return false, fmt.Errorf("second connection: %w", err)
	}
	defer second.Close()
	_, err = first.read(5 * time.Second)
	return errors.Is(err, errClosed), nil
}

// probeQoS2 publishes at QoS 2 to a QoS 2 subscription and reports the publisher's first
// acknowledgement, the granted QoS and the QoS of the delivery.
func probeQoS2(addr, tag string) (answer string, granted, delivered byte, err error) {
	sub, err := mustConnect(addr, connectOpts{clientID: tag + "-sub", keepAlive: 60})
	if err != nil {
		return "", 0, 0, err
	}
	defer sub.Close()
	topic := tag + "/t"
	if granted, _, err = sub.subscribeRaw(1, topic, 2); err != nil {
		return "", 0, 0, err
	}
	pub, err := mustConnect(addr, connectOpts{clientID: tag + "-pub", keepAlive: 60})
	if err != nil {
		return "", granted, 0, err
	}
	defer pub.Close()
	if err := pub.send(publishPacket(topic, 2, false, 7, []byte("q2"))); err != nil {
		return "", granted, 0, err
	}
	p, err := pub.read(5 * time.Second)
	if err != nil {
		return "", granted, 0, fmt.Errorf("answer to a QoS 2 PUBLISH: %w", err)
	}
	answer = p.String()
	if p.typ == pktPubrec {
		pub.send(ackPacket(pktPubrel, 7))
		if p, err = pub.read(5 * time.Second); err != nil || p.typ != pktPubcomp {
			return answer, granted, 0, fmt.Errorf("answer to PUBREL: %v %v", p, err)
		}
	}
	got, err := sub.collectUntil(1, 2*time.Second)
	if err != nil || len(got) != 1 {
		return answer, granted, 0, fmt.Errorf("deliveries: %d, %v", len(got), err)
	}
	_, delivered, _, _ = parsePublish(got[0])
	return answer, granted, delivered, nil
}

// probeRetained stores a retained message, then checks that new subscriptions, exact and
// wildcard, receive it, and that an empty retained payload clears it.
func probeRetained(addr, tag string) (exact, wildcard, cleared bool, err error) {
	topic := tag + "/r/1"
	pub, err := mustConnect(addr, connectOpts{clientID: tag + "-pub", keepAlive: 60})
	if err != nil {
		return
	}
	defer pub.Close()
	publish := func(payload string) error {
		if err := pub.send(publishPacket(topic, 1, true, 1, []byte(payload))); err != nil {
			return err
		}
		_, _, err := pub.readType(pktPuback, 5*time.Second)
		return err
	}
	receives := func(filter string) (bool, error) {
		sub, err := mustConnect(addr, connectOpts{clientID: tag + "-sub", keepAlive: 60})
		if err != nil {
			return false, err
		}
		defer sub.Close()
		_, early, err := sub.subscribeRaw(1, filter, 1)
		if err != nil {
			return false, err
		}
		got, err := sub.collectUntil(1-len(early), 1500*time.Millisecond)
		got = append(early, got...)
		for _, p := range got {
			if t, _, retain, payload := parsePublish(p); t == topic && retain && string(payload) == "kept" {
				return true, err
			}
		}
		return false, err
	}
	if err = publish("kept"); err != nil {
		return
	}
	if exact, err = receives(topic); err != nil {
		return
	}
	if wildcard, err = receives(tag + "/r/+"); err != nil {
		return
	}
	if err = publish(""); err != nil {
		return
	}
	var still bool
	still, err = receives(topic)
	return exact, wildcard, !still, err
}

// probeOverlap counts the copies of one message delivered to a connection subscribed to two
// filters that both match it, one at QoS 1 and one at QoS 0.
func probeOverlap(addr, tag string) (int, error) {
	sub, err := mustConnect(addr, connectOpts{clientID: tag + "-sub", keepAlive: 60})
	if err != nil {
		return 0, err
	}
	defer sub.Close()
	if _, _, err := sub.subscribeRaw(1, tag+"/#", 1); err != nil {
		return 0, err
	}
	if _, _, err := sub.subscribeRaw(2, tag+"/a", 0); err != nil {
		return 0, err
	}
	pub, err := mustConnect(addr, connectOpts{clientID: tag + "-pub", keepAlive: 60})
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	if err := pub.send(publishPacket(tag+"/a", 1, false, 1, []byte("once"))); err != nil {
		return 0, err
	}
	if _, _, err := pub.readType(pktPuback, 5*time.Second); err != nil {
		return 0, err
	}
	got, err := sub.collectUntil(2, 1500*time.Millisecond)
	return len(got), err
}

// probeRoundTrip publishes payload to topic at QoS 1 and says whether a subscriber to that
// topic received it intact ("delivered"), the publisher's connection was closed ("closed"),
// or nothing arrived ("dropped").
func probeRoundTrip(addr, tag, topic string, payload []byte) (string, error) {
	sub, err := mustConnect(addr, connectOpts{clientID: tag + "-sub", keepAlive: 60})
	if err != nil {
		return "", err
	}
	defer sub.Close()
	if _, _, err := sub.subscribeRaw(1, topic, 1); err != nil {
		if errors.Is(err, errClosed) {
			return "closed", nil
		}
		return "", err
	}
	pub, err := mustConnect(addr, connectOpts{clientID: tag + "-pub", keepAlive: 60})
	if err != nil {
		return "", err
	}
	defer pub.Close()
	if err := pub.send(publishPacket(topic, 1, false, 1, payload)); err != nil {
		return "closed", nil
	}
	if _, _, err := pub.readType(pktPuback, 15*time.Second); err != nil {
		if errors.Is(err, errClosed) {
			return "closed", nil
		}
		return "", err
	}
	// A 16 MiB message takes a busy broker a while.
	got, err := sub.collectUntil(1, 10*time.Second)
	for _, p := range got {
		if t, _, _, pl := parsePublish(p); t == topic && bytes.Equal(pl, payload) {
			return "delivered", err
		}
	}
	return "dropped", err
}

// probeTopicName publishes to topic and returns the topic name the message arrives with at a
// subscriber to everything under tag.
func probeTopicName(addr, tag, topic string) (string, error) {
	sub, err := mustConnect(addr, connectOpts{clientID: tag + "-sub", keepAlive: 60})
	if err != nil {
		return "", err
	}
	defer sub.Close()
	root, _, _ := strings.Cut(topic, "/")
	if _, _, err := sub.subscribeRaw(1, root+"/#", 1); err != nil {
		return "", err
	}
	pub, err := mustConnect(addr, connectOpts{clientID: tag + "-pub", keepAlive: 60})
	if err != nil {
		return "", err
	}
	defer pub.Close()
	if err := pub.send(publishPacket(topic, 1, false, 1, []byte("name"))); err != nil {
		return "", err
	}
	got, err := sub.collectUntil(1, 2*time.Second)
	if len(got) != 1 {
		return "", fmt.Errorf("%d deliveries, want 1 (%v)", len(got), err)
	}
	name, _, _, _ := parsePublish(got[0])
	return strings.Replace(name, root, "<tag>", 1), err
}
