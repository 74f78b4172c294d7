package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hamqtt/hamqtt/core"
)

const subSynopsis = `hamqtt sub [cluster flags] -t FILTER [-t FILTER...] [-q QOS] [-count N] [-duration D] [-format plain|json] [flags]`

const subHelp = clusterFlagsHelp + `

Output (standard output, one message per line):
  plain   ENDPOINT - TOPIC: PAYLOAD            (-quiet: PAYLOAD only)
          with -v, a message's MQTT 5 properties follow on one line (strings Go-quoted):
            props: payload-format=1 expiry=60 content-type="..." response-topic="..."
            correlation-data="..." subscription-ids=1,2 user-property:"NAME"="VALUE"...
  json    {"time":"...","endpoint":"...","uri":"...","topic":"...","qos":1,"retained":false,
           "dup":false,"payload":"..."}        (payload_base64 instead of payload when not UTF-8)
          and "properties":{...} when the message carries MQTT 5 properties

MQTT 5 subscription options (the cluster must speak MQTT 5: -V 5 or protocolVersion: 5), on every -t:
  -no-local, -retain-as-published, -retain-handling 0|1|2, -subscription-id N

Once subscribed, a line "subscribed ..." goes to stderr (not with -quiet).
It runs until -count messages arrived, -duration passed, or SIGINT/SIGTERM.
With -count, ending by -duration before N messages arrived is a failure (exit 1).

Examples:
  hamqtt sub -endpoints tcp://127.0.0.1:1883-1885 -t 'sensors/#'
  hamqtt sub -config etc/mqttv5-client.yaml -cluster edge -t cmd/+ -q 1 -format json
  hamqtt sub -t test/topic -count 10 -duration 30s -dedup
  hamqtt sub -V 5 -t 'cmd/#' -q 1 -no-local -subscription-id 7 -v`

type subOptions struct {
	cluster  clusterFlags
	filters  stringList
	qos      int
	count    int
	duration time.Duration
	format   string
	dedup    bool
	quiet    bool

	// MQTT 5 subscription options
	noLocal           bool
	retainAsPublished bool
	retainHandling    int
	subscriptionID    int
}

// subOptionFlags are sub's MQTT 5 subscription option flags.
var subOptionFlags = []string{"no-local", "retain-as-published", "retain-handling", "subscription-id"}

func runSub(ctx context.Context, e *env, args []string) error {
	var o subOptions
	fs := newFlagSet(e, "sub", subSynopsis, subHelp)
	o.cluster.register(fs)
	fs.Var(&o.filters, "t", "topic `filter` to subscribe to (repeatable; required)")
	fs.IntVar(&o.qos, "q", 0, "`QoS` 0, 1 or 2")
	fs.IntVar(&o.qos, "qos", 0, "`QoS` 0, 1 or 2 (same as -q)")
	fs.IntVar(&o.count, "count", 0, "stop after `N` messages (0: no limit)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this `duration` (0: no limit)")
	fs.StringVar(&o.format, "format", "plain", "output `format`: plain or json (JSON lines)")
	fs.BoolVar(&o.dedup, "dedup", false, "deliver each message once when it arrives through several brokers")
	fs.BoolVar(&o.quiet, "quiet", false, "plain format prints the payload only; no notices on stderr")
	fs.BoolVar(&o.noLocal, "no-local", false, "MQTT 5: do not receive the messages this client publishes")
	fs.BoolVar(&o.retainAsPublished, "retain-as-published", false, "MQTT 5: keep the retain flag messages were published with")
	fs.IntVar(&o.retainHandling, "retain-handling", 0, "MQTT 5 retain `handling`: 0 send retained messages, 1 only for a new subscription, 2 never")
	fs.IntVar(&o.subscriptionID, "subscription-id", 0, "MQTT 5 subscription identifier `N` (1-268435455), given back on each message it matched")
	rest, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef(fs, "unexpected argument %q: give topic filters with -t", rest[0])
	}
	if len(o.filters) == 0 {
		return usagef(fs, "-t FILTER is required: the topic filter to subscribe to, e.g. -t 'sensors/#'")
	}
	for _, f := range o.filters {
		if err := core.ValidateFilter(f); err != nil {
			return usagef(fs, "-t: %v", err)
		}
	}
	if err := core.ValidateQoS(o.qos); err != nil {
		return usagef(fs, "-q %d: %v", o.qos, err)
	}
	switch {
	case o.count < 0:
		return usagef(fs, "-count %d: give a positive number of messages, or 0 for no limit", o.count)
	case o.duration < 0:
		return usagef(fs, "-duration %v: give a positive duration such as 30s, or 0 for no limit", o.duration)
	case o.format != "plain" && o.format != "json":
		return usagef(fs, "-format %q: use plain or json", o.format)
	case o.retainHandling < 0 || o.retainHandling > 2:
		return usagef(fs, "-retain-handling %d: use 0 (send retained messages), 1 (only for a new subscription) or 2 (never)", o.retainHandling)
	case flagWasSet(fs, "subscription-id") && (o.subscriptionID < 1 || o.subscriptionID > 268435455):
		return usagef(fs, "-subscription-id %d: give an identifier from 1 to 268435455", o.subscriptionID)
	}
	var optFlags []string
	for _, n := range subOptionFlags {
		if flagWasSet(fs, n) {
			optFlags = append(optFlags, "-"+n)
		}
	}
	o.cluster.quiet = o.quiet
	cfg, warnings, err := o.cluster.resolve(fs, e.stderr)
	if err != nil {
		return err
	}
	printWarnings(e, "sub", warnings, o.quiet)
	if len(optFlags) > 0 && cfg.Connection.ProtocolVersion != core.MQTT5 {
		return usagef(fs, "%s: MQTT 5 subscription options need MQTT 5, and cluster %q speaks MQTT 3.1.1: add -V 5 (or set protocolVersion: 5 in the config file)", strings.Join(optFlags, ", "), cfg.Name)
	}
	if o.dedup {
		cfg.Dedup = true
	}
	cl, err := o.cluster.open(cfg, e.stderr)
	if err != nil {
		return err
	}
	defer cl.close(cl.Config().TimeToWait, e.stderr)

	uris := map[string]string{}
	for _, s := range cl.Stats() {
		uris[s.Name] = s.URI
	}
	out := &messagePrinter{w: bufio.NewWriterSize(e.stdout, 64<<10), json: o.format == "json", quiet: o.quiet,
		props: o.cluster.verbose, uris: uris}
	var mu sync.Mutex
	received := 0
	enough := make(chan struct{})
	handler := func(m core.Message) {
		mu.Lock()
		defer mu.Unlock()
		if o.count > 0 && received >= o.count {
			return
		}
		received++
		out.print(m)
		if o.count > 0 && received == o.count {
			close(enough)
		}
	}

	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	if err := cl.connect(ctx); err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil // a signal is sub's normal end
		}
		return err
	}
	opts := core.SubscribeOptions{NoLocal: o.noLocal, RetainAsPublished: o.retainAsPublished,
		RetainHandling: byte(o.retainHandling), ID: o.subscriptionID}
	var subs []core.Subscription
	for _, f := range o.filters {
		if !slices.ContainsFunc(subs, func(s core.Subscription) bool { return s.Filter == f }) {
			subs = append(subs, core.Subscription{Filter: f, QoS: byte(o.qos), Options: opts})
		}
	}
	if codes, err := cl.SubscribeWith(ctx, subs, handler); err != nil {
		return subscribeError(subs, codes, err)
	}
	if !o.quiet {
		fmt.Fprintf(e.stderr, "subscribed to %s (qos %d) on cluster %q: live %s; dead %s\n",
			quoteList(o.filters), o.qos, cl.Name(), listOrNone(cl.LiveEndpoints()), listOrNone(cl.DeadEndpoints()))
	}
	select {
	case <-enough:
	case <-ctx.Done():
	}
	// Closing stops the dispatcher, so the handler is done with the writer afterwards.
	cl.close(cl.Config().TimeToWait, e.stderr)
	mu.Lock()
	defer mu.Unlock()
	if err := out.w.Flush(); err != nil {
		return fmt.Errorf("writing standard output: %w", err)
	}
	if o.count > 0 && received < o.count && ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("received %d of %d messages within -duration %v", received, o.count, o.duration)
	}
	return nil
}

// subscribeError names the filters a broker refused, with its reason codes.
func subscribeError(subs []core.Subscription, codes []core.ReasonCode, err error) error {
	var r *core.ReasonError
	if !errors.As(err, &r) {
		return fmt.Errorf("subscribe: %w", err)
	}
	var refused []string
	for i, c := range codes {
		if i < len(subs) && c >= 0x80 {
			refused = append(refused, fmt.Sprintf("%q %s (0x%02X)", subs[i].Filter, c, byte(c)))
		}
	}
	msg := fmt.Sprintf("subscribe refused by %s: %s", r.Endpoint, refusalText(r))
	if len(refused) > 0 {
		msg += " (refused: " + strings.Join(refused, ", ") + ")"
	}
	return errors.New(msg)
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// messagePrinter writes received messages in the chosen format.
type messagePrinter struct {
	w     *bufio.Writer
	json  bool
	quiet bool
	props bool // plain: print the MQTT 5 properties after the message (-v)
	uris  map[string]string
	err   error
}

// jsonMessage is one line of -format json.
type jsonMessage struct {
	Time          string          `json:"time"`
	Endpoint      string          `json:"endpoint"`
	URI           string          `json:"uri,omitempty"`
	Topic         string          `json:"topic"`
	QoS           byte            `json:"qos"`
	Retained      bool            `json:"retained"`
	Dup           bool            `json:"dup"`
	Payload       *string         `json:"payload,omitempty"`
	PayloadBase64 *string         `json:"payload_base64,omitempty"`
	Properties    *jsonProperties `json:"properties,omitempty"`
}

// jsonProperties are a received message's MQTT 5 properties in -format json; absent ones are
// left out. correlation_data holds UTF-8 correlation data, correlation_data_base64 any other.
type jsonProperties struct {
	PayloadFormat         *byte              `json:"payload_format,omitempty"`
	MessageExpiry         *uint32            `json:"message_expiry,omitempty"`
	ContentType           string             `json:"content_type,omitempty"`
	ResponseTopic         string             `json:"response_topic,omitempty"`
	CorrelationData       *string            `json:"correlation_data,omitempty"`
	CorrelationDataBase64 *string            `json:"correlation_data_base64,omitempty"`
	SubscriptionIDs       []int              `json:"subscription_ids,omitempty"`
	UserProperties        []jsonUserProperty `json:"user_properties,omitempty"`
}

type jsonUserProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func toJSONProperties(p *core.Properties) *jsonProperties {
	if p == nil {
		return nil
	}
	j := &jsonProperties{PayloadFormat: p.PayloadFormat, MessageExpiry: p.MessageExpiry, ContentType: p.ContentType,
		ResponseTopic: p.ResponseTopic, SubscriptionIDs: p.SubscriptionIDs}
	if p.CorrelationData != nil {
		if utf8.Valid(p.CorrelationData) {
			s := string(p.CorrelationData)
			j.CorrelationData = &s
		} else {
			s := base64.StdEncoding.EncodeToString(p.CorrelationData)
			j.CorrelationDataBase64 = &s
		}
	}
	for _, u := range p.User {
		j.UserProperties = append(j.UserProperties, jsonUserProperty{Key: u.Key, Value: u.Value})
	}
	return j
}

// propertiesLine is a received message's MQTT 5 properties in the plain format (with -v):
// "props:" then, in this order and only those present, payload-format=N expiry=SECONDS
// content-type="..." response-topic="..." correlation-data="..." subscription-ids=N,N
// and user-property:"NAME"="VALUE" for each user property in order; strings are quoted as Go
// quotes them (a backslash escapes quotes, control characters and bytes that are not UTF-8).
// It is "" when the message carries none.
func propertiesLine(p *core.Properties) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("props:")
	if p.PayloadFormat != nil {
		fmt.Fprintf(&b, " payload-format=%d", *p.PayloadFormat)
	}
	if p.MessageExpiry != nil {
		fmt.Fprintf(&b, " expiry=%d", *p.MessageExpiry)
	}
	if p.ContentType != "" {
		fmt.Fprintf(&b, " content-type=%s", strconv.Quote(p.ContentType))
	}
	if p.ResponseTopic != "" {
		fmt.Fprintf(&b, " response-topic=%s", strconv.Quote(p.ResponseTopic))
	}
	if p.CorrelationData != nil {
		fmt.Fprintf(&b, " correlation-data=%s", strconv.Quote(string(p.CorrelationData)))
	}
	if len(p.SubscriptionIDs) > 0 {
		ids := make([]string, len(p.SubscriptionIDs))
		for i, id := range p.SubscriptionIDs {
			ids[i] = strconv.Itoa(id)
		}
		fmt.Fprintf(&b, " subscription-ids=%s", strings.Join(ids, ","))
	}
	for _, u := range p.User {
		fmt.Fprintf(&b, " user-property:%s=%s", strconv.Quote(u.Key), strconv.Quote(u.Value))
	}
	return b.String()
}

func (p *messagePrinter) print(m core.Message) {
	if p.err != nil {
		return
	}
	if p.json {
		j := jsonMessage{Time: time.Now().UTC().Format(time.RFC3339Nano), Endpoint: m.Endpoint, URI: p.uris[m.Endpoint],
			Topic: m.Topic, QoS: m.QoS, Retained: m.Retained, Dup: m.Duplicate, Properties: toJSONProperties(m.Properties)}
		if utf8.Valid(m.Payload) {
			s := string(m.Payload)
			j.Payload = &s
		} else {
			s := base64.StdEncoding.EncodeToString(m.Payload)
			j.PayloadBase64 = &s
		}
		b, _ := json.Marshal(j)
		p.w.Write(b)
		p.w.WriteByte('\n')
	} else if p.quiet {
		p.w.Write(m.Payload)
		p.w.WriteByte('\n')
	} else {
		fmt.Fprintf(p.w, "%s - %s: %s\n", m.Endpoint, m.Topic, m.Payload)
		if line := propertiesLine(m.Properties); p.props && line != "" {
			fmt.Fprintf(p.w, "  %s\n", line)
		}
	}
	p.err = p.w.Flush()
}
