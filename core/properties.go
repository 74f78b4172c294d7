package core

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// MQTT 5: the protocol version of a cluster, the properties a message carries, and the reason
// codes brokers answer with.

// Protocol versions a cluster may speak (ConnectionConfig.ProtocolVersion).
const (
	// MQTT311 is MQTT 3.1.1 (protocol level 4), the default.
	MQTT311 = 4
	// MQTT5 is MQTT 5.0 (protocol level 5).
	MQTT5 = 5
)

// UserProperty is one name/value pair of an MQTT 5 User Property. A message may carry any
// number of them, in order, with repeated names.
type UserProperty struct {
	Key, Value string
}

// Properties are the MQTT 5 properties of an application message: set them on a publish
// (PublishWith, PublishAsyncWith) and read them on a received Message. Under MQTT 3.1.1 they
// cannot travel: a publish with properties on a 3.1.1 cluster is refused. The Topic Alias is
// not here: the engine assigns aliases per connection itself (a message may go to any broker,
// and an alias means nothing on another connection).
type Properties struct {
	// PayloadFormat is 1 when the payload is UTF-8 text, 0 when unspecified bytes; nil: absent.
	PayloadFormat *byte
	// MessageExpiry is the message's lifetime in seconds; nil: it never expires. The engine
	// counts the time a message waits in its own queues and the outbox against it: a message
	// whose lifetime ended before a broker took it is never sent (ErrExpired, reported in the
	// message's turn: the stream keeps its order), and the broker receives the remaining
	// lifetime. 0 is sent as given and not counted by the engine.
	MessageExpiry   *uint32
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	// SubscriptionIDs are, on a received message, the identifiers of the subscriptions that
	// matched it (SubscribeOptions.ID). Ignored on a publish.
	SubscriptionIDs []int
	// User are the user properties, in order. Names starting with "hamqtt-" are reserved for
	// the engine and refused on a publish; its message id ("hamqtt-id") is removed from
	// received messages, any other such name is delivered as it came.
	User []UserProperty
}

// empty reports whether p carries nothing.
func (p *Properties) empty() bool {
	return p == nil || (p.PayloadFormat == nil && p.MessageExpiry == nil && p.ContentType == "" &&
		p.ResponseTopic == "" && p.CorrelationData == nil && len(p.SubscriptionIDs) == 0 && len(p.User) == 0)
}

// Clone returns a deep copy of p (nil for nil).
func (p *Properties) Clone() *Properties {
	if p == nil {
		return nil
	}
	q := *p
	if p.PayloadFormat != nil {
		v := *p.PayloadFormat
		q.PayloadFormat = &v
	}
	if p.MessageExpiry != nil {
		v := *p.MessageExpiry
		q.MessageExpiry = &v
	}
	q.CorrelationData = slices.Clone(p.CorrelationData)
	q.SubscriptionIDs = slices.Clone(p.SubscriptionIDs)
	q.User = slices.Clone(p.User)
	return &q
}

// stampPrefix starts the names of the user properties the engine adds itself.
const stampPrefix = "hamqtt-"

// stampKey is the user property that carries a message's identity: "<publisher>.<seq>.<unix ms>".
const stampKey = stampPrefix + "id"

// nextStamp is the message id of the next publish: unique across publishers (a random
// publisher id), ordered within one (a sequence), and dated (milliseconds since 1970), which
// is what a subscriber needs to keep the newest of several retained copies.
func (c *Cluster) nextStamp() string {
	return c.publisherID + "." + strconv.FormatUint(c.stampSeq.Add(1), 36) + "." + strconv.FormatInt(time.Now().UnixMilli(), 36)
}

// carried is what of a received message's properties a publish through c can carry: all of
// them under MQTT 5, none under MQTT 3.1.1.
func (c *Cluster) carried(p *Properties) *Properties {
	if c.cfg.Connection.ProtocolVersion != MQTT5 || p == nil {
		return nil
	}
	q := p.Clone()
	q.SubscriptionIDs = nil
	return q
}

// validate refuses what MQTT 5 cannot carry in a PUBLISH, before the message is queued.
func (p *Properties) validate() error {
	if p == nil {
		return nil
	}
	if p.PayloadFormat != nil && *p.PayloadFormat > 1 {
		return fmt.Errorf("payload format %d: use 0 (bytes) or 1 (UTF-8 text)", *p.PayloadFormat)
	}
	if p.ResponseTopic != "" {
		if err := ValidateTopic(p.ResponseTopic); err != nil {
			return fmt.Errorf("response topic: %w", err)
		}
	}
	if len(p.CorrelationData) > maxStringField {
		return fmt.Errorf("correlation data of %d bytes exceeds MQTT's limit of %d", len(p.CorrelationData), maxStringField)
	}
	// Checked field by field (not by encoding a packet, which the session does once when it
	// sends), with the rules brokers drop the connection for, as topics are.
	if err := validatePropertyString("content type", p.ContentType); err != nil {
		return err
	}
	for _, u := range p.User {
		if len(u.Key) >= len(stampPrefix) && u.Key[:len(stampPrefix)] == stampPrefix {
			return fmt.Errorf("user property %q: names starting with %q are the engine's own", u.Key, stampPrefix)
		}
	}
	return validateUserProperties(p.User)
}

// validateUserProperties reports why a user property cannot travel, or nil.
func validateUserProperties(user []UserProperty) error {
	for _, u := range user {
		if err := validatePropertyString("user property name", u.Key); err != nil {
			return err
		}
		if err := validatePropertyString(fmt.Sprintf("user property %q", u.Key), u.Value); err != nil {
			return err
		}
	}
	return nil
}

func validatePropertyString(what, s string) error {
	if len(s) > maxStringField {
		return fmt.Errorf("%s is %d bytes long: MQTT allows at most %d", what, len(s), maxStringField)
	}
	return ValidateMQTTString(what, s)
}

// toWire fills w from p for a PUBLISH. expiry, when not 0, replaces the Message Expiry with
// the lifetime left; stamp, when not empty, adds the engine's message id.
func (p *Properties) toWire(w *mqtt5.Properties, expiry uint32, stamp string) {
	if p != nil {
		if p.PayloadFormat != nil {
			w.Present.Add(mqtt5.PropPayloadFormat)
			w.PayloadFormat = *p.PayloadFormat
		}
		if p.MessageExpiry != nil {
			w.Present.Add(mqtt5.PropMessageExpiry)
			w.MessageExpiry = *p.MessageExpiry
		}
		if p.ContentType != "" {
			w.Present.Add(mqtt5.PropContentType)
			w.ContentType = p.ContentType
		}
		if p.ResponseTopic != "" {
			w.Present.Add(mqtt5.PropResponseTopic)
			w.ResponseTopic = p.ResponseTopic
		}
		if p.CorrelationData != nil {
			w.Present.Add(mqtt5.PropCorrelationData)
			w.CorrelationData = p.CorrelationData
		}
		w.User = appendWireUser(w.User, p.User)
	}
	if expiry != 0 {
		w.Present.Add(mqtt5.PropMessageExpiry)
		w.MessageExpiry = expiry
	}
	if stamp != "" {
		w.User = append(w.User, mqtt5.UserProperty{Key: stampKey, Value: stamp})
	}
}

// appendWireUser appends user properties in the codec's form to dst.
func appendWireUser(dst []mqtt5.UserProperty, user []UserProperty) []mqtt5.UserProperty {
	for _, u := range user {
		dst = append(dst, mqtt5.UserProperty(u))
	}
	return dst
}

// propertiesFromWire gives the application's view of a received PUBLISH's properties (nil
// when there are none) and the engine's stamp, which it takes out.
func propertiesFromWire(w *mqtt5.Properties) (*Properties, string) {
	if w.Present == 0 && len(w.User) == 0 && len(w.SubscriptionIDs) == 0 {
		return nil, ""
	}
	p := &Properties{ContentType: w.ContentType, ResponseTopic: w.ResponseTopic}
	if w.Present.Has(mqtt5.PropPayloadFormat) {
		v := w.PayloadFormat
		p.PayloadFormat = &v
	}
	if w.Present.Has(mqtt5.PropMessageExpiry) {
		v := w.MessageExpiry
		p.MessageExpiry = &v
	}
	if w.Present.Has(mqtt5.PropCorrelationData) {
		p.CorrelationData = slices.Clone(w.CorrelationData)
		if p.CorrelationData == nil {
			p.CorrelationData = []byte{}
		}
	}
	for _, id := range w.SubscriptionIDs {
		p.SubscriptionIDs = append(p.SubscriptionIDs, int(id))
	}
	var stamp string
	for _, u := range w.User {
		if u.Key == stampKey {
			stamp = u.Value
			continue
		}
		p.User = append(p.User, UserProperty{Key: u.Key, Value: u.Value})
	}
	if p.empty() {
		return nil, stamp
	}
	return p, stamp
}

// ReasonCode is an MQTT 5 reason code (spec 2.4): a broker's answer in CONNACK, PUBACK,
// PUBREC, SUBACK, UNSUBACK and DISCONNECT. Values of 0x80 and above are failures.
type ReasonCode byte

func (r ReasonCode) String() string { return mqtt5.ReasonCode(r).String() }

// Reason codes the engine acts on (the full list is in the MQTT 5 specification, 2.4).
const (
	ReasonSuccess                ReasonCode = 0x00
	ReasonNoMatchingSubscribers  ReasonCode = 0x10
	ReasonUnspecifiedError       ReasonCode = 0x80
	ReasonNotAuthorized          ReasonCode = 0x87
	ReasonServerUnavailable      ReasonCode = 0x88
	ReasonServerBusy             ReasonCode = 0x89
	ReasonBanned                 ReasonCode = 0x8A
	ReasonServerShuttingDown     ReasonCode = 0x8B
	ReasonSessionTakenOver       ReasonCode = 0x8E
	ReasonTopicNameInvalid       ReasonCode = 0x90
	ReasonPacketTooLarge         ReasonCode = 0x95
	ReasonMessageRateTooHigh     ReasonCode = 0x96
	ReasonQuotaExceeded          ReasonCode = 0x97
	ReasonAdministrativeAction   ReasonCode = 0x98
	ReasonPayloadFormatInvalid   ReasonCode = 0x99
	ReasonRetainNotSupported     ReasonCode = 0x9A
	ReasonQoSNotSupported        ReasonCode = 0x9B
	ReasonUseAnotherServer       ReasonCode = 0x9C
	ReasonServerMoved            ReasonCode = 0x9D
	ReasonConnectionRateExceeded ReasonCode = 0x9F
)

// ErrRefusedByBroker is wrapped by the error of a publish, subscription or connection a
// broker answered with a failure reason code (MQTT 5): errors.As with *ReasonError gives
// the code.
var ErrRefusedByBroker = errors.New("refused by the broker")

// ReasonError is a broker's MQTT 5 failure reason code for one operation.
type ReasonError struct {
	// Packet is the packet that carried the code: "CONNACK", "PUBACK", "PUBREC", "SUBACK",
	// "UNSUBACK" or "DISCONNECT".
	Packet string
	Code   ReasonCode
	// Reason is the broker's Reason String, if it sent one.
	Reason string
	// ServerReference is, for "use another server" and "server moved", where the broker
	// says to go (the engine does not follow it: a broker cannot add endpoints to a cluster).
	ServerReference string
	// Endpoint is the endpoint whose broker answered.
	Endpoint string
}

func (e *ReasonError) Error() string {
	s := fmt.Sprintf("%s from %s: %s (0x%02X)", e.Packet, e.Endpoint, e.Code, byte(e.Code))
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.ServerReference != "" {
		s += "; the broker names " + e.ServerReference
	}
	return s
}

func (e *ReasonError) Is(target error) bool { return target == ErrRefusedByBroker }

// messageRefused reports whether a PUBACK/PUBREC code refuses this message only: the broker is
// well and would refuse the same message again, so the application is told instead of the
// message going elsewhere (another broker of the cluster would likely apply the same rule).
func (r ReasonCode) messageRefused() bool {
	switch r {
	case ReasonNotAuthorized, ReasonTopicNameInvalid, ReasonPacketTooLarge, ReasonQuotaExceeded,
		ReasonPayloadFormatInvalid, ReasonRetainNotSupported, ReasonQoSNotSupported:
		return true
	}
	return false
}

// asksToSlowDown reports whether a DISCONNECT code says the broker is running and wants less
// from us (busy, a rate or quota reached): backed off, never counted as a dead or flapping
// broker.
func (r ReasonCode) asksToSlowDown() bool {
	switch r {
	case ReasonServerBusy, ReasonServerUnavailable, ReasonMessageRateTooHigh, ReasonQuotaExceeded,
		ReasonConnectionRateExceeded:
		return true
	}
	return false
}
