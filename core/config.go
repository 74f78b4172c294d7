package core

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// PublisherType selects which live endpoint(s) a publish goes to.
type PublisherType int

const (
	// Sticky publishes through one endpoint (the primary, if configured and live) until it fails.
	Sticky PublisherType = iota
	// RoundRobin spreads publishes over the live endpoints in turn.
	RoundRobin
	// Random picks a live endpoint at random for each publish.
	Random
	// All publishes every message to every live endpoint; it completes once each of them has
	// acknowledged it or failed, and at least one acknowledged it (Config.AckQuorum asks for
	// more, or for less waiting).
	All
)

var publisherTypeNames = [...]string{"STICKY", "ROUND_ROBIN", "RANDOM", "ALL"}

func (p PublisherType) String() string {
	if p >= 0 && int(p) < len(publisherTypeNames) {
		return publisherTypeNames[p]
	}
	return fmt.Sprintf("PublisherType(%d)", int(p))
}

// ParsePublisherType accepts STICKY, ROUND_ROBIN, RANDOM and ALL, in any case.
func ParsePublisherType(s string) (PublisherType, error) {
	for i, n := range publisherTypeNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return PublisherType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown publisher type %q: use STICKY, ROUND_ROBIN, RANDOM or ALL", s)
}

// MessageIDMode is Config.MessageIDs.
type MessageIDMode int

const (
	MessageIDsAuto MessageIDMode = iota
	MessageIDsAlways
	MessageIDsNever
)

// stampsMessages reports whether this cluster's MQTT 5 publishes carry a message id.
func (c *Config) stampsMessages() bool {
	if c.Connection.ProtocolVersion != MQTT5 {
		return false
	}
	switch c.MessageIDs {
	case MessageIDsAlways:
		return true
	case MessageIDsNever:
		return false
	}
	// A memory outbox dies with the process: only a disk outbox resends after a crash.
	return c.PublisherType == All || (c.Outbox != nil && c.Outbox.log != nil)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// EndpointConfig names one broker of a cluster.
type EndpointConfig struct {
	// Name identifies the endpoint in events, stats and PublishTo. Empty means "<cluster>-<n>".
	Name string
	// URI is tcp://, mqtt://, ssl://, mqtts://, ws:// or wss:// with an optional port.
	URI string
	// TopicBase routes publishes whose topic starts with it to this endpoint.
	TopicBase string
	// ProtocolVersion overrides the cluster's ConnectionConfig.ProtocolVersion for this
	// broker only (0: the cluster's). A cluster mixes versions only when asked like this:
	// through an MQTT 3.1.1 endpoint of an MQTT 5 cluster messages travel without their
	// properties and message ids (a dedup subscriber then counts their copies by topic and
	// payload), subscription options do not apply there, and that broker's refusals have no
	// reason codes.
	ProtocolVersion int
}

// Will is the last-will message every connection of the cluster registers.
type Will struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
	// Properties are the will message's MQTT 5 properties (MQTT 5 only).
	Properties *Properties
	// Delay is MQTT 5's Will Delay Interval: the broker publishes the will this long after the
	// connection ended, and not at all if the session resumes first (MQTT 5 only).
	Delay time.Duration
}

// ConnectionConfig holds the MQTT session settings used for every endpoint of a cluster.
type ConnectionConfig struct {
	// ClientID is shared by all endpoints (they are different brokers). Empty generates
	// "hamqtt-<cluster>-<random>".
	ClientID string
	Username string
	Password string
	// KeepAlive bounds how long a silently dead broker goes unnoticed (about 1.5x KeepAlive;
	// default 30s). Negative turns keep-alive off, as 0 does in paho and MQTT.js: a broker
	// that dies silently is then noticed only by an acknowledgement overdue, so a cluster that
	// only subscribes never notices it.
	KeepAlive      time.Duration
	ConnectTimeout time.Duration
	// PersistentSession asks each broker to keep the session (subscriptions, queued QoS 1/2
	// messages) across reconnects of the same endpoint: MQTT's clean session flag off. Use it
	// with a fixed ClientID.
	PersistentSession bool
	Will              *Will
	TLS               *tls.Config
	// FileStoreDir, when set, keeps in-flight QoS 1/2 messages of each endpoint in files under
	// this directory (one subdirectory per endpoint) instead of memory (MQTT 3.1.1 only: use
	// an Outbox, which serves both versions).
	FileStoreDir string

	// ProtocolVersion is MQTT311 (4, the default) or MQTT5 (5). Every endpoint of the cluster
	// speaks it.
	ProtocolVersion int
	// MQTT5 holds the MQTT 5 session settings; ignored under MQTT 3.1.1.
	MQTT5 MQTT5Config
}

// MQTT5Config holds the CONNECT settings only MQTT 5 has. Every broker of the cluster gets
// the same ones.
type MQTT5Config struct {
	// SessionExpiry is how long a broker keeps the session after the connection ends. Zero
	// means: none for a clean session, no expiry (0xFFFFFFFF) with PersistentSession, which
	// is MQTT 3.1.1's behaviour.
	SessionExpiry time.Duration
	// ReceiveMaximum is how many QoS 1 and 2 messages a broker may have unacknowledged
	// towards this client (0: 65535, MQTT's default).
	ReceiveMaximum uint16
	// TopicAliasMaximum is how many topic aliases a broker may use towards this client (0:
	// none). Aliases the engine uses towards a broker are its own, per connection, within the
	// broker's Topic Alias Maximum (unless NoTopicAliases).
	TopicAliasMaximum uint16
	// NoTopicAliases turns off the engine's use of topic aliases towards brokers.
	NoTopicAliases bool
	// RequestResponseInfo asks brokers for Response Information.
	RequestResponseInfo bool
	// NoProblemInfo asks brokers not to send a Reason String or user properties on failures
	// (MQTT's Request Problem Information 0).
	NoProblemInfo bool
	// User are the user properties of every CONNECT.
	User []UserProperty
}

// Config describes one virtual cluster. The zero value of each duration or count field means
// "use the default" listed beside it.
type Config struct {
	Name        string
	Description string
	Endpoints   []EndpointConfig
	Connection  ConnectionConfig

	PublisherType PublisherType
	// PrimaryServerURI is the endpoint a Sticky (or All) publisher prefers while it is live.
	PrimaryServerURI string
	// DefaultTopicBase + endpoint name is the topic base of endpoints that do not set one.
	DefaultTopicBase string

	// TimeToWait bounds Connect and every blocking Publish/Subscribe (default 10s).
	TimeToWait time.Duration
	// AckTimeout bounds how long one endpoint may take to acknowledge a publish before the
	// endpoint is declared dead and the message is retried elsewhere (default 3s).
	AckTimeout time.Duration
	// ProbeInterval is how often the listener of a dead endpoint is dialled to find out
	// whether the broker is back (default 175ms, jittered by 40% either way, so 105-245ms). A
	// refused dial costs the broker nothing and sends no CONNECT. ProbeRate caps those dials
	// per second across the cluster (default 50; the process allows 200): with many dead
	// endpoints each one's interval stretches.
	ProbeInterval time.Duration
	ProbeRate     float64
	// ProbeDelay is the backoff after the first refusal of a reachable broker (a CONNACK
	// refusal, a connection closed before its CONNACK, a session it ended soon after); it
	// doubles with each further refusal up to MaxProbeDelay (defaults 1s and 30s), half of
	// each window fixed and half random. A broker that crashed (its listener refuses the dial
	// that follows the drop) is not refusing us: its backoff starts over.
	ProbeDelay    time.Duration
	MaxProbeDelay time.Duration
	// ConnectRate caps MQTT CONNECTs per second across the cluster (default 4, the
	// auth-rate limit common on managed brokers; negative: unlimited). ConnectBurst is the
	// bucket size (default: the rate rounded up).
	ConnectRate  float64
	ConnectBurst int
	// WarmUp keeps a revived endpoint out of publisher selection for this long after this
	// cluster connected to it (default 2s; negative: off), so that subscribers, whose probes
	// find a revived broker within ProbeInterval's upper bound (245ms by default; 0.5s p99
	// measured with the connect and the subscription replay), are back on it before a message
	// is published there. Keep WarmUp above twice that bound. While every live endpoint is
	// warming up (after a total outage) a QoS 1 or 2 publish waits, within TimeToWait; QoS 0
	// goes to the warming endpoint at once.
	WarmUp time.Duration
	// FlapLimit drops within FlapWindow put an endpoint in quarantine for QuarantineTime
	// (defaults 5, 60s, 60s). A drop counts only when the broker still accepts connections
	// right after it (it or a load balancer dropped us); a broker that crashed and was
	// restarted is never quarantined. A negative FlapLimit disables quarantine.
	FlapLimit      int
	FlapWindow     time.Duration
	QuarantineTime time.Duration

	// LiveEndpointCount caps the live connections (-1 or 0: all endpoints).
	LiveEndpointCount int
	// InitialEndpointCount caps the connections of the first probe (-1 or 0: no cap).
	InitialEndpointCount int
	// SubscriberCount is how many live endpoints carry the subscriptions (-1 or 0: all live).
	SubscriberCount int
	// PublishOnly makes the cluster refuse subscriptions (padogrid's subscriberCount: 0).
	PublishOnly bool
	// FoS is padogrid's failover service level. 0 delivers messages from every subscriber
	// endpoint; 1 and 3 deliver only from the sticky subscriber; 2 subscribes on two
	// endpoints and delivers from both through the de-duplicator (Dedup is forced on), where
	// padogrid delivers only the sticky subscriber's copies and loses what reaches the other
	// broker while the sticky one fails (docs/padogrid.md, "Differences from padogrid").
	FoS int
	// Dedup suppresses the copies of a message that arrive through several endpoints (All
	// publishers, bridged brokers) so the application sees each publish once. A copy is matched
	// by topic and payload and counted per endpoint, so a message really published twice is
	// still delivered twice. DedupWindow is how long a delivered message is remembered
	// (default 30s).
	Dedup       bool
	DedupWindow time.Duration
	// MessageIDs decides whether MQTT 5 publishes carry a message id (a user property named
	// "hamqtt-id", the same on every copy and every retry), which lets a Dedup subscriber
	// remove copies exactly, whatever their payload, and keep a message published twice on
	// purpose. MessageIDsAuto (default) stamps when copies are expected: the All publisher
	// type, or a disk outbox (a resend after a crash). Receivers that are not hamqtt see the user
	// property; MessageIDsNever leaves messages as the application made them.
	MessageIDs MessageIDMode

	// AckQuorum is, for the All publisher type, how many brokers must acknowledge a QoS 1 or
	// 2 publish before it counts as delivered: 0 (default) any one, once every copy was
	// acknowledged or failed, as padogrid; 1 the first acknowledgement; k > 1 k of the live
	// brokers (all of them when fewer are live); -1 every live broker. While the quorum is
	// short the message is sent to live brokers that have no copy yet, until TimeToWait. A message acknowledged
	// by two brokers survives the death of either before it forwarded the message.
	// Endpoints still warming up receive no copy and do not count.
	AckQuorum int

	// MaxInflight caps the asynchronous publishes waiting for their acknowledgement (default
	// 4096; paho has 65535 message ids per connection).
	MaxInflight int
	// MaxInflightQoS2 caps the QoS 2 publishes awaiting PUBCOMP on one connection (default 19,
	// one below Mosquitto's max_inflight_messages of 20). Mosquitto counts the QoS 2 messages
	// it has not seen a PUBREL for against that limit, and once they fill it, it acknowledges
	// and drops every further QoS 1 or 2 message of an MQTT 3.1.1 client, which cannot be told.
	// One free place keeps QoS 1 messages flowing beside a full QoS 2 window. Raise it only
	// with the broker's limit, and keep it one below.
	MaxInflightQoS2 int

	// Outbox, when set, stores every publish of a QoS it takes (OutboxConfig.QoS0) until a
	// broker acknowledges it: PublishAsync returns once the message is stored, and the
	// message waits out a total outage instead of failing after TimeToWait; with a directory
	// it survives a restart. One cluster at a time uses an outbox; the caller opens it
	// (OpenOutbox) and closes it after the cluster. Without one, a publish that finds no live
	// broker within TimeToWait fails.
	Outbox *Outbox

	// ShareConnections lets this cluster use the same connection to a broker as the other
	// sharing clusters of the process that reach it with the same session settings (URI,
	// credentials, keepalive, connect timeout, TLS config, will, file store, and for persistent
	// sessions the client ID): padogrid's liveEndpointPoolEnabled. Each cluster still sees only
	// the messages of its own subscriptions; a broker failure is seen by all of them at once.
	// Clusters that share use the first cluster's client ID, MaxInflightQoS2 and AckTimeout
	// for the connection.
	ShareConnections bool

	// MaxIncomingPacket bounds the packets a broker may send (default
	// DefaultMaxIncomingPacket, 64 MiB; at most MQTT's 268435455). A broker announcing a larger
	// one, or sending anything else MQTT 3.1.1 does not allow, has its connection closed.
	MaxIncomingPacket int

	// DeliveryEvents reports the outcome of every PublishAsync as an EventDelivery.
	DeliveryEvents bool

	// Logger receives the cluster's log records (endpoint changes, failovers); nil discards them.
	// Records may be emitted while the cluster holds its lock: the handler must not call back
	// into the cluster (queue the record if it must run user code).
	Logger *slog.Logger
}

// MaxKeepAlive is the longest keep-alive MQTT can carry: a 16-bit number of seconds.
const MaxKeepAlive = 65535 * time.Second

// maxStringField is the longest client ID, user name, password or will payload MQTT can carry
// (a 16-bit length prefix).
const maxStringField = 65535

// validate refuses the session settings MQTT cannot carry, naming the limit, instead of letting
// them be cut or wrapped on the wire.
func (cc ConnectionConfig) validate() error {
	if cc.KeepAlive > MaxKeepAlive {
		return fmt.Errorf("keep-alive %v exceeds MQTT's limit of %v (65535 s)", cc.KeepAlive, MaxKeepAlive)
	}
	if cc.KeepAlive > 0 && cc.KeepAlive < time.Second {
		return fmt.Errorf("keep-alive %v is below MQTT's unit of one second: give at least 1s, or a negative value for none", cc.KeepAlive)
	}
	for _, f := range []struct {
		what, v string
		text    bool
	}{{"client ID", cc.ClientID, true}, {"user name", cc.Username, true}, {"password", cc.Password, false}} {
		if len(f.v) > maxStringField {
			return fmt.Errorf("%s of %d bytes exceeds MQTT's limit of %d", f.what, len(f.v), maxStringField)
		}
		if f.text && f.v != "" {
			if err := ValidateMQTTString(f.what, f.v); err != nil {
				return err
			}
		}
	}
	if w := cc.Will; w != nil && len(w.Payload) > maxStringField {
		return fmt.Errorf("will payload of %d bytes exceeds MQTT's limit of %d", len(w.Payload), maxStringField)
	}
	if err := validateUserProperties(cc.MQTT5.User); err != nil {
		return fmt.Errorf("connect properties: %w", err)
	}
	return nil
}

// NoSubscriberLimit, as SubscriberCount or LiveEndpointCount, means "all live endpoints".
const NoSubscriberLimit = -1

const (
	defaultTimeToWait     = 10 * time.Second
	defaultAckTimeout     = 3 * time.Second
	defaultProbeInterval  = 175 * time.Millisecond
	defaultProbeRate      = 50.0
	defaultProbeDelay     = time.Second
	defaultMaxProbeDelay  = 30 * time.Second
	defaultConnectRate    = 4.0
	defaultWarmUp         = 2 * time.Second
	defaultFlapLimit      = 5
	defaultFlapWindow     = 60 * time.Second
	defaultQuarantine     = 60 * time.Second
	defaultKeepAlive      = 30 * time.Second
	defaultConnectTimeout = 5 * time.Second
	defaultDedupWindow    = 30 * time.Second
)

// withDefaults returns a copy of c with every unset field filled in, or an error naming the
// first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = "cluster-default"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.TimeToWait, defaultTimeToWait)
	def(&c.AckTimeout, defaultAckTimeout)
	def(&c.ProbeInterval, defaultProbeInterval)
	def(&c.ProbeDelay, defaultProbeDelay)
	def(&c.MaxProbeDelay, defaultMaxProbeDelay)
	def(&c.WarmUp, defaultWarmUp)
	def(&c.FlapWindow, defaultFlapWindow)
	def(&c.QuarantineTime, defaultQuarantine)
	def(&c.DedupWindow, defaultDedupWindow)
	def(&c.Connection.KeepAlive, defaultKeepAlive)
	def(&c.Connection.ConnectTimeout, defaultConnectTimeout)
	if c.WarmUp < 0 {
		c.WarmUp = 0
	}
	if c.MaxProbeDelay < c.ProbeDelay {
		c.MaxProbeDelay = c.ProbeDelay
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 4096
	}
	if c.MaxIncomingPacket <= 0 {
		c.MaxIncomingPacket = DefaultMaxIncomingPacket
	}
	if c.MaxIncomingPacket > 268435455+5 {
		c.MaxIncomingPacket = 268435455 + 5
	}
	if c.MaxInflightQoS2 <= 0 {
		c.MaxInflightQoS2 = 19
	}
	if c.ProbeRate == 0 {
		c.ProbeRate = defaultProbeRate
	}
	if c.ConnectRate == 0 {
		c.ConnectRate = defaultConnectRate
	}
	if c.ConnectBurst <= 0 {
		c.ConnectBurst = int(c.ConnectRate + 0.999)
		if c.ConnectBurst < 1 {
			c.ConnectBurst = 1
		}
	}
	if c.FlapLimit == 0 {
		c.FlapLimit = defaultFlapLimit
	}
	if c.LiveEndpointCount == 0 {
		c.LiveEndpointCount = NoSubscriberLimit
	}
	if c.SubscriberCount == 0 {
		c.SubscriberCount = NoSubscriberLimit
	}
	if c.InitialEndpointCount == 0 {
		c.InitialEndpointCount = NoSubscriberLimit
	}
	if c.Connection.ClientID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.Connection.ClientID = "hamqtt-" + c.Name + "-" + hex.EncodeToString(b[:])
	}
	switch {
	case len(c.Endpoints) == 0:
		return c, fmt.Errorf("cluster %q: no endpoints: give at least one broker URI such as tcp://127.0.0.1:1883", c.Name)
	case len(c.Endpoints) > MaxExpandedURIs:
		return c, fmt.Errorf("cluster %q: %d endpoints, more than the %d a cluster may have", c.Name, len(c.Endpoints), MaxExpandedURIs)
	case c.PublisherType < Sticky || c.PublisherType > All:
		return c, fmt.Errorf("cluster %q: %v is not a publisher type", c.Name, c.PublisherType)
	case c.FoS < 0 || c.FoS > 3:
		return c, fmt.Errorf("cluster %q: fos %d out of range: use 0, 1, 2 or 3", c.Name, c.FoS)
	case c.SubscriberCount < -1:
		return c, fmt.Errorf("cluster %q: subscriberCount %d: use -1 (all live endpoints) or a positive count", c.Name, c.SubscriberCount)
	case c.TimeToWait < 0 || c.AckTimeout < 0 || c.ProbeDelay < 0 || c.ProbeInterval < 0:
		return c, fmt.Errorf("cluster %q: negative timeToWait, ackTimeout, probeDelay or probeInterval", c.Name)
	case c.AckQuorum < -1:
		return c, fmt.Errorf("cluster %q: ackQuorum %d: use 0 or 1 (any one broker), a count of brokers, or -1 (every live broker)", c.Name, c.AckQuorum)
	case c.Connection.Will != nil && c.Connection.Will.QoS > 2:
		return c, fmt.Errorf("cluster %q: will QoS %d out of range 0..2", c.Name, c.Connection.Will.QoS)
	}
	// padogrid's FoS levels fix the connection and subscriber counts (FoS 3 leaves them to
	// the configuration).
	switch c.FoS {
	case 0:
		c.SubscriberCount = NoSubscriberLimit
	case 1:
		c.LiveEndpointCount, c.SubscriberCount = 2, 1
	case 2:
		// Two subscribers, delivered once each: the de-duplicator is what lets FoS 2 switch
		// subscribers on failure without losing what the new one delivered meanwhile.
		c.LiveEndpointCount, c.SubscriberCount = 2, 2
		c.Dedup = true
	}
	switch c.Connection.ProtocolVersion {
	case 0:
		c.Connection.ProtocolVersion = MQTT311
	case MQTT311, MQTT5:
	case 3:
		return c, fmt.Errorf("cluster %q: MQTT 3.1 (protocol version 3) is not supported: use 4 (MQTT 3.1.1) or 5", c.Name)
	default:
		return c, fmt.Errorf("cluster %q: protocol version %d: use 4 (MQTT 3.1.1) or 5 (MQTT 5)", c.Name, c.Connection.ProtocolVersion)
	}
	if c.Connection.ProtocolVersion == MQTT5 && c.Connection.FileStoreDir != "" {
		return c, fmt.Errorf("cluster %q: a file store (fileStoreDir) is MQTT 3.1.1's: with MQTT 5 use an outbox directory, which keeps every message until a broker acknowledges it", c.Name)
	}
	if c.Connection.ProtocolVersion != MQTT5 && c.Connection.Will != nil && (!c.Connection.Will.Properties.empty() || c.Connection.Will.Delay != 0) {
		return c, fmt.Errorf("cluster %q: will properties and will delay need MQTT 5 (protocol version 5)", c.Name)
	}
	if c.Connection.Will != nil {
		if err := c.Connection.Will.Properties.validate(); err != nil {
			return c, fmt.Errorf("cluster %q: will: %w", c.Name, err)
		}
		if err := ValidateTopic(c.Connection.Will.Topic); err != nil {
			return c, fmt.Errorf("cluster %q: will: %w", c.Name, err)
		}
	}
	if err := c.Connection.validate(); err != nil {
		return c, fmt.Errorf("cluster %q: %w", c.Name, err)
	}
	return c, nil
}

// ErrNoEndpoints is wrapped by the error a call returns when no endpoint of the cluster could
// take it.
var ErrNoEndpoints = errors.New("no live endpoint")

// ErrQuorumNotMet is wrapped by the error of an All publish that fewer brokers acknowledged
// than AckQuorum asks, while more were live: the brokers that did may still deliver it.
var ErrQuorumNotMet = errors.New("acknowledgement quorum not met")

// ErrEndpointNotFound is wrapped by the error for an endpoint name the cluster does not have.
var ErrEndpointNotFound = errors.New("not found")

// ErrSubscriptionRefused is wrapped by the error for a filter a broker refused (SUBACK 0x80,
// usually its ACL).
var ErrSubscriptionRefused = errors.New("subscription refused by the broker")

// ErrPublishOnly is wrapped by the error for subscribing through a publish-only cluster.
var ErrPublishOnly = errors.New("publish-only cluster")
