package core

import (
	"fmt"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// A session is the MQTT protocol spoken over one link: paho.mqtt.golang for MQTT 3.1.1
// (pahoSession), the engine's own for MQTT 5 (session5). Everything above it (the cluster,
// failover, subscription replay, dedup, the outbox) is the same for both.
type session interface {
	// publish hands req to the broker on cn's behalf. The token completes when the broker
	// acknowledged it (QoS 1, 2) or the connection took it (QoS 0).
	publish(cn *connection, req publishReq) ackToken
	// subscribe makes subs on the broker and returns, per filter in order, the granted QoS or
	// a failure code (0x80 and above); it waits until deadline or the loss of cn.
	subscribe(cn *connection, subs []subscription, deadline time.Time) ([]byte, error)
	// unsubscribe drops filters on the broker, with user properties (MQTT 5). With cn nil it
	// does not wait for the answer.
	unsubscribe(cn *connection, filters []string, user []UserProperty, deadline time.Time) error
	// disconnect ends the session, waiting up to quiesce ms for work in progress; bye is the
	// DISCONNECT to send (nil: a normal one; MQTT 3.1.1 has no other).
	disconnect(quiesce uint, bye *mqtt5.Disconnect)
}

// ackToken is the outcome of one operation on a session. paho's tokens are ackTokens.
type ackToken interface {
	Done() <-chan struct{}
	Error() error
}

// incoming is a PUBLISH received on a link, as the receive path needs it.
type incoming struct {
	topic     string
	payload   []byte
	qos       byte
	retained  bool
	duplicate bool
	props     *Properties // MQTT 5 only; nil when it carried none
	stamp     string      // the publisher's message id (MQTT 5, from another hamqtt)
}

// pahoSession is MQTT 3.1.1 through paho.mqtt.golang.
type pahoSession struct {
	client mqtt.Client
}

func (s *pahoSession) publish(cn *connection, req publishReq) ackToken {
	if req.qos == 0 && cn.awaitingAcks.Load() == 0 && cn.pahoDrained() {
		if tc := cn.link.transport.Load(); tc != nil && !cn.isLost() {
			return writtenToken(tc.writePublishQoS0(req.topic, req.payload, req.retained))
		}
	}
	if req.qos > 0 {
		cn.awaitingAcks.Add(1)
	}
	tok := s.client.Publish(req.topic, req.qos, req.retained, req.payload)
	if pt, ok := tok.(*mqtt.PublishToken); ok { // what paho's Publish returns on every path
		cn.lastViaPaho.Store(pt)
	}
	return tok
}

func (s *pahoSession) subscribe(cn *connection, subs []subscription, deadline time.Time) ([]byte, error) {
	filters := make(map[string]byte, len(subs))
	for _, sub := range subs {
		filters[sub.filter] = sub.qos
	}
	tok := s.client.SubscribeMultiple(filters, nil)
	if err := waitToken(cn, tok, deadline); err != nil {
		return nil, err
	}
	got := tok.(*mqtt.SubscribeToken).Result()
	codes := make([]byte, len(subs))
	for i, sub := range subs {
		code, ok := got[sub.filter]
		if !ok {
			code = sub.qos // a broker that answered for fewer filters: assume as asked
		}
		codes[i] = code
	}
	return codes, nil
}

func (s *pahoSession) unsubscribe(cn *connection, filters []string, _ []UserProperty, deadline time.Time) error {
	tok := s.client.Unsubscribe(filters...)
	if cn == nil {
		return nil
	}
	return waitToken(cn, tok, deadline)
}

func (s *pahoSession) disconnect(quiesce uint, _ *mqtt5.Disconnect) { s.client.Disconnect(quiesce) }

// route hands a message paho received to the link's receive path.
func (l *link) routePaho(m mqtt.Message) {
	l.route(incoming{topic: m.Topic(), payload: m.Payload(), qos: m.Qos(), retained: m.Retained(), duplicate: m.Duplicate()})
	if l.guard != nil {
		l.guard.fromPaho.Add(1) // after the route: a QoS 0 message read next may overtake nothing
	}
}

// waitToken waits for a token, the loss of its connection, or the deadline.
func waitToken(cn *connection, tok ackToken, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-cn.lost:
		return fmt.Errorf("connection lost: %w", cn.lostErr)
	case <-t.C:
		return fmt.Errorf("no acknowledgement from %s before the deadline", cn.ep.name)
	}
}

// writtenToken is the completed token of a QoS 0 publish written directly to the transport.
func writtenToken(err error) ackToken {
	if err == nil {
		return writtenOK
	}
	return &doneToken{err: fmt.Errorf("writing to the connection: %w", err)}
}

var writtenOK ackToken = &doneToken{}

// doneToken is an ackToken that completed before it was made.
type doneToken struct{ err error }

var closedDone = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()

func (t *doneToken) Done() <-chan struct{} { return closedDone }
func (t *doneToken) Error() error          { return t.err }
