package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/hamqtt/hamqtt/core"
	"github.com/hamqtt/hamqtt/internal/version"
)

// Every export recovers panics (guard) and records the detail of a failure for
// hamqtt_last_error (fail). Pointers from C are only read during the call; strings are copied
// into Go memory (C.GoString) before use.

// versionText is internal/version's, which HAMQTT_VERSION_STRING in include/hamqtt.h matches
// (internal/version's test and tests/c check it).
var versionText = cString(version.Version)

//export hamqtt_version
func hamqtt_version() *C.hqcapi_cchar {
	defer guardVoid()
	return (*C.hqcapi_cchar)(versionText)
}

//export hamqtt_strerror
func hamqtt_strerror(status C.int) (s *C.hqcapi_cchar) {
	defer guardVoid()
	if t, ok := statusText[int(status)]; ok {
		return (*C.hqcapi_cchar)(t)
	}
	return (*C.hqcapi_cchar)(unknownStatusText)
}

//export hamqtt_last_error
func hamqtt_last_error() *C.hqcapi_cchar {
	defer guardVoid()
	return (*C.hqcapi_cchar)(C.hqcapi_get_error())
}

//export hamqtt_free
func hamqtt_free(p unsafe.Pointer) {
	defer guardVoid()
	if p != nil {
		C.free(p)
	}
}

// gostr copies a C string; what names the argument in the error for NULL.
func gostr(p *C.hqcapi_cchar, what string) (string, error) {
	if p == nil {
		return "", newErr(errInvalid, "%s is NULL", what)
	}
	return C.GoString((*C.char)(unsafe.Pointer(p))), nil
}

// optstr copies a C string that may be NULL.
func optstr(p *C.hqcapi_cchar) string {
	if p == nil {
		return ""
	}
	return C.GoString((*C.char)(unsafe.Pointer(p)))
}

func clientOf(h C.hamqtt_client) (*client, error) { return lookup(uint64(h)) }

// ---------------------------------------------------------------------------------------------
// Clients

//export hamqtt_client_new
func hamqtt_client_new(endpoints *C.hqcapi_cchar, opts *C.hqcapi_coptions, out *C.hamqtt_client) (rc C.int) {
	defer guard(&rc)
	if out == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_client_new: out is NULL"))
	}
	*out = 0
	spec, err := gostr(endpoints, "hamqtt_client_new: endpoints")
	if err != nil {
		return fail(errInvalid, err)
	}
	cfg := core.Config{}
	var ocfg *core.OutboxConfig
	if opts != nil {
		if cfg, err = convertOptions(opts); err != nil {
			return fail(errConfig, err)
		}
		if ocfg, err = convertOutboxOptions(opts); err != nil {
			return fail(errConfig, err)
		}
	}
	if err := checkBrokerCount("hamqtt_client_new", spec); err != nil {
		return fail(errConfig, err)
	}
	uris, err := core.ExpandURIs(spec)
	if err != nil {
		return fail(errConfig, fmt.Errorf("hamqtt_client_new: endpoints %q: %w", redactList(spec), err))
	}
	if len(uris) == 0 {
		return fail(errConfig, newErr(errConfig, "hamqtt_client_new: endpoints %q names no broker: give at least one URI such as tcp://127.0.0.1:1883", redactList(spec)))
	}
	for _, u := range uris {
		cfg.Endpoints = append(cfg.Endpoints, core.EndpointConfig{URI: u})
	}
	logs := newLogSink()
	cfg = prepareConfig(cfg, logs)
	if ocfg != nil {
		ocfg.Logger = cfg.Logger
		ob, err := core.OpenOutbox(*ocfg)
		if err != nil {
			return fail(errIO, fmt.Errorf("hamqtt_client_new: %w", err))
		}
		cfg.Outbox = ob
	}
	c, err := core.New(cfg)
	if err != nil {
		if cfg.Outbox != nil {
			cfg.Outbox.Close()
		}
		return fail(errConfig, err)
	}
	cl := newClient(c.Config(), c, logs, false)
	if opts != nil && C.hqcapi_options_has_v5(opts) != 0 {
		cl.eventSize = eventSizeCurrent // built with a header that has the 0.5 events
	}
	if ocfg != nil {
		cl.ownOutbox, cl.obQoS0 = true, ocfg.QoS0
	}
	cl.mu.Lock()
	cl.generatedID = cfg.Connection.ClientID == ""
	cl.mu.Unlock()
	*out = C.hamqtt_client(cl.id)
	return statusOK
}

// convertOutboxOptions reads the outbox fields of hamqtt_options (0.4): nil when the client
// has no outbox. Outbox settings without an outbox are refused, as the caller would believe
// its messages are stored.
func convertOutboxOptions(o *C.hqcapi_coptions) (*core.OutboxConfig, error) {
	if C.hqcapi_options_has_outbox(o) == 0 {
		return nil, nil
	}
	if o.outbox == 0 && o.outbox_dir == nil {
		for _, f := range []struct {
			name string
			set  bool
		}{{"outbox_max_messages", o.outbox_max_messages != 0}, {"outbox_max_bytes", o.outbox_max_bytes != 0},
			{"outbox_overflow", o.outbox_overflow != 0}, {"outbox_sync", o.outbox_sync != 0},
			{"outbox_sync_interval_ms", o.outbox_sync_interval_ms != 0}, {"outbox_qos0", o.outbox_qos0 != 0},
			{"outbox_expiry_ms", o.outbox_expiry_ms != 0}} {
			if f.set {
				return nil, newErr(errConfig, "hamqtt_options.%s is set but the client has no outbox: set outbox (memory) or outbox_dir (disk) too", f.name)
			}
		}
		return nil, nil
	}
	oc := &core.OutboxConfig{
		MaxMessages: int(o.outbox_max_messages),
		MaxBytes:    int64(o.outbox_max_bytes),
		QoS0:        o.outbox_qos0 != 0,
		Expiry:      time.Duration(o.outbox_expiry_ms) * time.Millisecond,
	}
	if o.outbox_dir != nil {
		oc.Dir = optstr(o.outbox_dir)
		if oc.Dir == "" {
			return nil, newErr(errConfig, "hamqtt_options.outbox_dir is empty: give a directory for a disk outbox, or NULL (with outbox set) for one in memory")
		}
	}
	switch o.outbox_overflow {
	case C.HAMQTT_OVERFLOW_REFUSE:
		oc.Overflow = core.OverflowRefuse
	case C.HAMQTT_OVERFLOW_BLOCK:
		oc.Overflow = core.OverflowBlock
	case C.HAMQTT_OVERFLOW_DROP_OLDEST:
		oc.Overflow = core.OverflowDropOldest
	default:
		return nil, newErr(errConfig, "hamqtt_options.outbox_overflow is %d: use HAMQTT_OVERFLOW_REFUSE (0), HAMQTT_OVERFLOW_BLOCK (1) or HAMQTT_OVERFLOW_DROP_OLDEST (2)", o.outbox_overflow)
	}
	switch o.outbox_sync {
	case C.HAMQTT_SYNC_ALWAYS:
		oc.Sync = core.SyncAlways
	case C.HAMQTT_SYNC_INTERVAL:
		oc.Sync = core.SyncInterval
	case C.HAMQTT_SYNC_NEVER:
		oc.Sync = core.SyncNever
	default:
		return nil, newErr(errConfig, "hamqtt_options.outbox_sync is %d: use HAMQTT_SYNC_ALWAYS (0), HAMQTT_SYNC_INTERVAL (1) or HAMQTT_SYNC_NEVER (2)", o.outbox_sync)
	}
	switch {
	case oc.Dir == "" && o.outbox_sync != C.HAMQTT_SYNC_ALWAYS:
		return nil, newErr(errConfig, "hamqtt_options.outbox_sync is %d but the outbox is in memory: the sync policy is a disk outbox's (set outbox_dir)", o.outbox_sync)
	case o.outbox_sync_interval_ms < 0:
		return nil, newErr(errConfig, "hamqtt_options.outbox_sync_interval_ms is %d: use 0 for the default (100) or a positive number of milliseconds", o.outbox_sync_interval_ms)
	case o.outbox_sync_interval_ms > 0 && o.outbox_sync != C.HAMQTT_SYNC_INTERVAL:
		return nil, newErr(errConfig, "hamqtt_options.outbox_sync_interval_ms is %d but outbox_sync is not HAMQTT_SYNC_INTERVAL: the interval applies to that policy only", o.outbox_sync_interval_ms)
	case o.outbox_expiry_ms < 0:
		return nil, newErr(errConfig, "hamqtt_options.outbox_expiry_ms is %d: use 0 for no expiry or a positive number of milliseconds", o.outbox_expiry_ms)
	}
	oc.SyncInterval = time.Duration(o.outbox_sync_interval_ms) * time.Millisecond
	return oc, nil
}

// optionsV1Size is sizeof(hamqtt_options) of the first version; fields are only appended.
var optionsV1Size = C.hqcapi_options_v1_size()

func convertOptions(o *C.hqcapi_coptions) (core.Config, error) {
	var cfg core.Config
	if uintptr(o.struct_size) < uintptr(optionsV1Size) {
		return cfg, newErr(errInvalid, "hamqtt_options.struct_size is %d, want at least %d: initialise it with HAMQTT_OPTIONS_INIT", o.struct_size, optionsV1Size)
	}
	ms := func(name string, v C.int, allowNegative bool) (time.Duration, error) {
		if v < 0 && !allowNegative {
			return 0, newErr(errConfig, "hamqtt_options.%s is %d: use 0 for the default or a positive number of milliseconds", name, v)
		}
		return time.Duration(v) * time.Millisecond, nil
	}
	var err error
	set := func(dst *time.Duration, name string, v C.int, neg bool) {
		if err == nil {
			*dst, err = ms(name, v, neg)
		}
	}
	cfg.Name = optstr(o.name)
	cfg.Connection.ClientID = optstr(o.client_id)
	cfg.Connection.Username = optstr(o.username)
	cfg.Connection.Password = optstr(o.password)
	cfg.PublisherType = core.PublisherType(o.publisher_type)
	cfg.PrimaryServerURI = optstr(o.primary_server_uri)
	cfg.DefaultTopicBase = optstr(o.default_topic_base)
	cfg.Connection.PersistentSession = o.persistent_session != 0
	set(&cfg.Connection.KeepAlive, "keep_alive_ms", o.keep_alive_ms, true)
	switch {
	case err != nil:
	case o.keep_alive_ms > C.int(core.MaxKeepAlive/time.Millisecond):
		err = newErr(errConfig, "hamqtt_options.keep_alive_ms is %d: MQTT carries the keep-alive in 16 bits of seconds, at most 65535 s (65535000 ms); use -1 for none", o.keep_alive_ms)
	case o.keep_alive_ms > 0 && o.keep_alive_ms < 1000:
		err = newErr(errConfig, "hamqtt_options.keep_alive_ms is %d: MQTT counts the keep-alive in whole seconds, give at least 1000 (or -1 for none)", o.keep_alive_ms)
	}
	set(&cfg.Connection.ConnectTimeout, "connect_timeout_ms", o.connect_timeout_ms, false)
	set(&cfg.TimeToWait, "time_to_wait_ms", o.time_to_wait_ms, false)
	set(&cfg.AckTimeout, "ack_timeout_ms", o.ack_timeout_ms, false)
	set(&cfg.ProbeDelay, "probe_delay_ms", o.probe_delay_ms, false)
	set(&cfg.MaxProbeDelay, "max_probe_delay_ms", o.max_probe_delay_ms, false)
	set(&cfg.WarmUp, "warm_up_ms", o.warm_up_ms, true)
	set(&cfg.FlapWindow, "flap_window_ms", o.flap_window_ms, false)
	set(&cfg.QuarantineTime, "quarantine_ms", o.quarantine_ms, false)
	set(&cfg.DedupWindow, "dedup_window_ms", o.dedup_window_ms, false)
	if err != nil {
		return cfg, err
	}
	switch r := float64(o.connect_rate); {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return cfg, newErr(errConfig, "hamqtt_options.connect_rate is %v: give a number of connects per second (0: the default, negative: unlimited)", r)
	case r > maxConnectRate:
		return cfg, newErr(errConfig, "hamqtt_options.connect_rate is %v: at most %v connects per second (negative: unlimited)", r, float64(maxConnectRate))
	}
	cfg.ConnectRate = float64(o.connect_rate)
	cfg.ConnectBurst = int(o.connect_burst)
	cfg.FlapLimit = int(o.flap_limit)
	cfg.LiveEndpointCount = int(o.live_endpoint_count)
	cfg.InitialEndpointCount = int(o.initial_endpoint_count)
	cfg.SubscriberCount = int(o.subscriber_count)
	cfg.PublishOnly = o.publish_only != 0
	cfg.FoS = int(o.fos)
	cfg.Dedup = o.dedup != 0
	if o.will_topic != nil {
		if o.will_qos < 0 || o.will_qos > 2 {
			return cfg, newErr(errConfig, "hamqtt_options.will_qos is %d: use 0, 1 or 2", o.will_qos)
		}
		if o.will_payload == nil && o.will_payload_len > 0 {
			return cfg, newErr(errInvalid, "hamqtt_options.will_payload is NULL but will_payload_len is %d", o.will_payload_len)
		}
		if o.will_payload_len > maxStringField {
			return cfg, newErr(errPayload, "hamqtt_options.will_payload_len %d exceeds MQTT's limit of %d bytes for a will payload", uint64(o.will_payload_len), maxStringField)
		}
		cfg.Connection.Will = &core.Will{
			Topic:    optstr(o.will_topic),
			Payload:  C.GoBytes(unsafe.Pointer(o.will_payload), C.int(o.will_payload_len)),
			QoS:      byte(o.will_qos),
			Retained: o.will_retain != 0,
		}
	}
	cfg.Connection.FileStoreDir = optstr(o.file_store_dir)
	if C.hqcapi_options_has_share(o) != 0 {
		cfg.ShareConnections = o.share_connections != 0
	}
	if C.hqcapi_options_has_ack_quorum(o) != 0 {
		if o.ack_quorum < -1 {
			return cfg, newErr(errConfig, "hamqtt_options.ack_quorum is %d: use 0 or 1 (any one broker), k > 1 (k of the live brokers) or -1 (every live broker)", o.ack_quorum)
		}
		cfg.AckQuorum = int(o.ack_quorum)
	}
	if C.hqcapi_options_has_v5(o) != 0 {
		if err := convertV5Options(o, &cfg); err != nil {
			return cfg, err
		}
	}
	if C.hqcapi_options_has_max_packet(o) != 0 {
		if o.max_packet_size != 0 && (o.max_packet_size < 16 || o.max_packet_size > 268435460) {
			return cfg, newErr(errConfig, "hamqtt_options.max_packet_size is %d: use 0 (64 MiB) or 16 up to 268435460 bytes", o.max_packet_size)
		}
		cfg.MaxIncomingPacket = int(o.max_packet_size)
	}
	for _, f := range []struct {
		name string
		v    string
	}{{"client_id", cfg.Connection.ClientID}, {"username", cfg.Connection.Username}, {"password", cfg.Connection.Password}} {
		if len(f.v) > maxStringField {
			return cfg, newErr(errConfig, "hamqtt_options.%s is %d bytes long: MQTT allows at most %d", f.name, len(f.v), maxStringField)
		}
	}
	ts := tlsSource{caFile: optstr(o.tls_ca_file), certFile: optstr(o.tls_cert_file), keyFile: optstr(o.tls_key_file),
		insecure: o.tls_insecure != 0}
	if C.hqcapi_options_has_skip_hostname(o) != 0 {
		ts.skipHostname = o.tls_skip_hostname_check != 0
	}
	if C.hqcapi_options_has_pem(o) != 0 {
		ts.caPEM, ts.certPEM, ts.keyPEM = optstr(o.tls_ca_pem), optstr(o.tls_cert_pem), optstr(o.tls_key_pem)
	}
	if ts != (tlsSource{}) {
		t, err := ts.build()
		if err != nil {
			return cfg, err
		}
		cfg.Connection.TLS = t
	}
	return cfg, nil
}

// maxSeconds32 is the longest duration MQTT 5 carries in a four-byte count of seconds.
const maxSeconds32 = int64(0xFFFFFFFF) * 1000

// convertV5Options reads the MQTT 5 fields of hamqtt_options (0.5).
func convertV5Options(o *C.hqcapi_coptions, cfg *core.Config) error {
	switch o.protocol_version {
	case 0, core.MQTT311:
		cfg.Connection.ProtocolVersion = core.MQTT311
	case core.MQTT5:
		cfg.Connection.ProtocolVersion = core.MQTT5
	default:
		return newErr(errConfig, "hamqtt_options.protocol_version is %d: use 0 or 4 (MQTT 3.1.1) or 5 (MQTT 5)", o.protocol_version)
	}
	v5 := cfg.Connection.ProtocolVersion == core.MQTT5
	m := &cfg.Connection.MQTT5
	switch {
	case o.session_expiry_ms < 0 || int64(o.session_expiry_ms) > maxSeconds32:
		return newErr(errConfig, "hamqtt_options.session_expiry_ms is %d: use 0 (none, or never with persistent_session) up to %d (4294967295 s)", int64(o.session_expiry_ms), maxSeconds32)
	case o.receive_maximum < 0 || o.receive_maximum > 65535:
		return newErr(errConfig, "hamqtt_options.receive_maximum is %d: use 0 (65535) up to 65535", o.receive_maximum)
	case o.topic_alias_maximum < 0 || o.topic_alias_maximum > 65535:
		return newErr(errConfig, "hamqtt_options.topic_alias_maximum is %d: use 0 (none) up to 65535", o.topic_alias_maximum)
	case o.will_delay_ms < 0 || int64(o.will_delay_ms) > maxSeconds32:
		return newErr(errConfig, "hamqtt_options.will_delay_ms is %d: use 0 up to %d (4294967295 s)", int64(o.will_delay_ms), maxSeconds32)
	}
	m.SessionExpiry = time.Duration(o.session_expiry_ms) * time.Millisecond
	m.ReceiveMaximum = uint16(o.receive_maximum)
	m.TopicAliasMaximum = uint16(o.topic_alias_maximum)
	m.NoTopicAliases = o.no_topic_aliases != 0
	m.RequestResponseInfo = o.request_response_info != 0
	m.NoProblemInfo = o.no_problem_info != 0
	switch o.message_ids {
	case C.HAMQTT_MESSAGE_IDS_AUTO:
		cfg.MessageIDs = core.MessageIDsAuto
	case C.HAMQTT_MESSAGE_IDS_ALWAYS:
		cfg.MessageIDs = core.MessageIDsAlways
	case C.HAMQTT_MESSAGE_IDS_NEVER:
		cfg.MessageIDs = core.MessageIDsNever
	default:
		return newErr(errConfig, "hamqtt_options.message_ids is %d: use 0 (auto), 1 (always) or -1 (never)", o.message_ids)
	}
	user, err := userProps("hamqtt_options.connect_props", errConfig, o.connect_props)
	if err != nil {
		return err
	}
	will, err := messageProps("hamqtt_options.will_props", o.will_props)
	if err != nil {
		return newErr(errConfig, "%v", err)
	}
	if !v5 {
		for _, f := range []struct {
			name string
			set  bool
		}{{"connect_props", len(user) > 0}, {"will_props", will != nil}, {"will_delay_ms", o.will_delay_ms != 0}} {
			if f.set {
				return newErr(errConfig, "hamqtt_options.%s is set but the client speaks MQTT 3.1.1: set protocol_version to 5", f.name)
			}
		}
	}
	m.User = user
	if will != nil || o.will_delay_ms != 0 {
		if cfg.Connection.Will == nil {
			return newErr(errConfig, "hamqtt_options.will_props or will_delay_ms is set without a will_topic")
		}
		cfg.Connection.Will.Properties = will
		cfg.Connection.Will.Delay = time.Duration(o.will_delay_ms) * time.Millisecond
	}
	return nil
}

// tlsSource is the TLS material of hamqtt_options: each item from a file or from memory.
type tlsSource struct {
	caFile, certFile, keyFile string
	caPEM, certPEM, keyPEM    string
	insecure                  bool // no verification at all
	skipHostname              bool // the chain is verified, not the host name
}

// pem returns one item's PEM text, from memory or read from its file.
func (s tlsSource) pem(name, file, text string) ([]byte, error) {
	switch {
	case file != "" && text != "":
		return nil, newErr(errConfig, "hamqtt_options: give tls_%s_file or tls_%s_pem, not both", name, name)
	case text != "":
		return []byte(text), nil
	case file != "":
		// Only a regular file of sane size: /dev/zero would exhaust memory, a FIFO hang.
		b, err := core.ReadUserFile(file, "TLS "+name+" file", core.MaxPEMFileSize)
		if err != nil {
			return nil, newErr(errConfig, "hamqtt_options.tls_%s_file: %v", name, err)
		}
		return b, nil
	}
	return nil, nil
}

func (s tlsSource) build() (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.insecure} //nolint:gosec // the caller asked for it
	ca, err := s.pem("ca", s.caFile, s.caPEM)
	if err != nil {
		return nil, err
	}
	if ca != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, newErr(errConfig, "hamqtt_options: no PEM certificate in the CA (tls_ca_file or tls_ca_pem)")
		}
		t.RootCAs = pool
	}
	if s.skipHostname && !s.insecure {
		// Go verifies the chain and the host name together; skip both there and verify the
		// chain here, against the same roots (nil: the system's).
		t.InsecureSkipVerify = true //nolint:gosec // the chain is verified by VerifyConnection
		t.VerifyConnection = verifyChainOnly(t.RootCAs)
	}
	if (s.certFile == "" && s.certPEM == "") != (s.keyFile == "" && s.keyPEM == "") {
		return nil, newErr(errConfig, "hamqtt_options: give tls_cert_file (or tls_cert_pem) and tls_key_file (or tls_key_pem) together, or neither")
	}
	cert, err := s.pem("cert", s.certFile, s.certPEM)
	if err != nil {
		return nil, err
	}
	key, err := s.pem("key", s.keyFile, s.keyPEM)
	if err != nil {
		return nil, err
	}
	if cert != nil {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, newErr(errConfig, "hamqtt_options: client certificate and key: %v", err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}

// verifyChainOnly verifies the broker's certificate chain against roots (nil: the system's CAs)
// and for server authentication, without checking that it names the host dialled.
func verifyChainOnly(roots *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: the broker sent no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return fmt.Errorf("tls: the broker's certificate chain does not verify (the host name is not checked): %w", err)
		}
		return nil
	}
}

// redactList is an endpoint list with the credentials of each URI hidden, for error texts.
func redactList(spec string) string {
	items := strings.Split(spec, ",")
	for i, it := range items {
		items[i] = core.RedactURI(it)
	}
	return strings.Join(items, ",")
}

// maxConnectRate bounds hamqtt_options.connect_rate: the rate limiter's bucket is the rate
// rounded up, which a larger number would overflow.
const maxConnectRate = 1e6

// maxStringField is the longest client id, user name, password or will payload MQTT carries
// (a 16-bit length prefix).
const maxStringField = 65535

//export hamqtt_connect
func hamqtt_connect(h C.hamqtt_client) (rc C.int) {
	defer guard(&rc)
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if err := cl.connect(); err != nil {
		return fail(errNoEndpoint, fmt.Errorf("hamqtt_connect: %w", err))
	}
	return statusOK
}

//export hamqtt_connect_async
func hamqtt_connect_async(h C.hamqtt_client) (rc C.int) {
	defer guard(&rc)
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if err := cl.start(false); err != nil {
		return fail(errClosed, fmt.Errorf("hamqtt_connect_async: %w", err))
	}
	return statusOK
}

//export hamqtt_disconnect
func hamqtt_disconnect(h C.hamqtt_client) (rc C.int) {
	defer guard(&rc)
	return disconnectCall("hamqtt_disconnect", h, nil)
}

//export hamqtt_disconnect_props
func hamqtt_disconnect_props(h C.hamqtt_client, reasonCode C.int, props *C.hqcapi_cprops) (rc C.int) {
	defer guard(&rc)
	if reasonCode < 0 || reasonCode > 0xFF {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_disconnect_props: reason code %d is not a byte: use 0x00 (normal), 0x04 (publish the will) or a failure code a client may send", reasonCode))
	}
	d, err := disconnectProps(props)
	if err != nil {
		return fail(errInvalid, err)
	}
	d.Reason = core.ReasonCode(reasonCode)
	return disconnectCall("hamqtt_disconnect_props", h, &d)
}

// disconnectCall is hamqtt_disconnect, with the DISCONNECT bye for MQTT 5 brokers when not nil.
func disconnectCall(fn string, h C.hamqtt_client, bye *core.DisconnectOptions) C.int {
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if cl.inCallback() {
		return fail(errBusy, newErr(errBusy, "%s: called from a callback of %s, which it would wait for; return from the callback first (e.g. signal another thread)", fn, cl))
	}
	if inst, _ := cl.current(); bye != nil && inst != nil {
		if err := inst.c.SetDisconnect(*bye); err != nil {
			return fail(errInvalid, newErr(errInvalid, "%s: %v", fn, err))
		}
	}
	if inAnyCallback() {
		// That client's own callback may be running, blocked on the caller's client: waiting
		// for it could wait forever. The disconnect completes on a library thread.
		cl.disconnectDetached()
		return statusOK
	}
	cl.disconnect(false)
	return statusOK
}

//export hamqtt_close
func hamqtt_close(h C.hamqtt_client) (rc C.int) {
	defer guard(&rc)
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if cl.inCallback() {
		return fail(errBusy, newErr(errBusy, "hamqtt_close: called from a callback of %s, which it would wait for; the client stays open: close it after the callback returned (e.g. from another thread)", cl))
	}
	return closeClient(cl)
}

func closeClient(cl *client) C.int {
	if !unregister(cl.id) {
		return fail(errHandle, newErr(errHandle, "client handle %d is closed (closed twice)", cl.id))
	}
	if cl.registry {
		forgetRegistryClient(cl)
	}
	if inAnyCallback() {
		// Called from another client's callback: this client's running callback may be
		// blocked closing that client, so waiting for it could wait forever. The handle is
		// invalid from now on; the release completes on a library thread once this client's
		// running callback (if any) has returned.
		cl.closeDetached()
		return statusOK
	}
	cl.close()
	return statusOK
}

// inAnyCallback reports whether the calling thread runs a callback of some client.
func inAnyCallback() bool { return C.hqcapi_callback_client() != 0 }

//export hamqtt_client_name
func hamqtt_client_name(h C.hamqtt_client, name **C.char) (rc C.int) {
	defer guard(&rc)
	if name == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_client_name: name is NULL"))
	}
	*name = nil
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	*name = cString(cl.name)
	return statusOK
}

// ---------------------------------------------------------------------------------------------
// Publishing

// publishArgs validates and copies the arguments every publish takes.
func publishArgs(fn string, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int) (string, []byte, byte, error) {
	t, err := gostr(topic, fn+": topic")
	if err != nil {
		return "", nil, 0, err
	}
	if err := core.ValidateTopic(t); err != nil {
		return "", nil, 0, newErr(errTopic, "%s: %v", fn, err)
	}
	if err := core.ValidateQoS(int(qos)); err != nil {
		return "", nil, 0, newErr(errQoS, "%s %q: %v", fn, t, err)
	}
	if payload == nil && n > 0 {
		return "", nil, 0, newErr(errInvalid, "%s %q: payload is NULL but len is %d", fn, t, n)
	}
	if limit := uint64(core.MaxPayloadSize - len(t)); uint64(n) > limit {
		return "", nil, 0, newErr(errPayload, "%s %q: payload of %d bytes exceeds the MQTT limit of %d bytes", fn, t, uint64(n), limit)
	}
	var p []byte
	if n > 0 {
		// A copy: the engine may still hold the bytes after the call (a failover re-send).
		p = C.GoBytes(unsafe.Pointer(payload), C.int(n))
	}
	return t, p, byte(qos), nil
}

// target returns the instance a publish of this QoS goes to, and whether it is started. A
// client with an outbox stores what the outbox takes while it is not connected (before
// hamqtt_connect, after hamqtt_disconnect), in the instance the next hamqtt_connect starts.
func (cl *client) target(fn string, qos byte) (*instance, bool, error) {
	inst, state := cl.current()
	switch {
	case state == stateStarted:
		return inst, true, nil
	case state == stateClosed || cl.ob == nil || (qos == 0 && !cl.obQoS0):
		inst, err := cl.started(fn)
		return inst, err == nil, err
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.nextReady != nil && cl.inCallback() {
		// Called from this client's dispatcher, which the disconnect in progress waits for:
		// store through the instance being closed; the outbox hands what it stored to the
		// next instance, which is made once this callback has returned.
		return cl.inst, false, nil
	}
	cl.waitNextLocked()
	switch cl.state {
	case stateStarted:
		return cl.inst, true, nil
	case stateClosed:
		return nil, false, newErr(errClosed, "%s: %s is closed", fn, cl)
	case stateNew:
		return cl.inst, false, nil
	}
	if cl.next == nil {
		return nil, false, newErr(errState, "%s: %s is disconnected and its outbox takes no publish until hamqtt_connect: %v", fn, cl, cl.nextErr)
	}
	return cl.next, false, nil
}

// started returns the instance for a call that needs a connected client.
func (cl *client) started(fn string) (*instance, error) {
	inst, state := cl.current()
	switch state {
	case stateNew, stateDisconnected:
		return nil, newErr(errState, "%s: %s is not connected: call hamqtt_connect first", fn, cl)
	case stateClosed:
		return nil, newErr(errClosed, "%s: %s is closed", fn, cl)
	}
	return inst, nil
}

// publishCall is what every publish function checks first: the client, its running instance
// and the message.
type publishCall struct {
	cl      *client
	inst    *instance
	running bool // inst is started (not: a client with an outbox, not connected)
	topic   string
	payload []byte
	qos     byte
	props   *core.Properties
}

// publishProps converts and checks the properties of a publish of topic by cl.
func publishProps(fn string, cl *client, topic string, cprops *C.hqcapi_cprops) (*core.Properties, error) {
	props, err := messageProps(fn, cprops)
	if err != nil || props == nil {
		return nil, err
	}
	if cl.cfg.Connection.ProtocolVersion != core.MQTT5 {
		return nil, newErr(errInvalid, "%s %q: %s speaks MQTT 3.1.1, which cannot carry properties (hamqtt_options.protocol_version 5 does)", fn, topic, cl)
	}
	for _, u := range props.User {
		if strings.HasPrefix(u.Key, "hamqtt-") {
			return nil, newErr(errInvalid, "%s %q: user property %q: keys starting with \"hamqtt-\" are the engine's own", fn, topic, u.Key)
		}
	}
	return props, nil
}

// preparePublish checks the handle, the arguments and the client's state of a publish call;
// a status other than statusOK is what the call returns.
func preparePublish(fn string, h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int, cprops *C.hqcapi_cprops) (publishCall, C.int) {
	cl, err := clientOf(h)
	if err != nil {
		return publishCall{}, fail(errHandle, err)
	}
	t, p, q, err := publishArgs(fn, topic, payload, n, qos)
	if err != nil {
		return publishCall{}, fail(errInvalid, err)
	}
	props, err := publishProps(fn, cl, t, cprops)
	if err != nil {
		return publishCall{}, fail(errInvalid, err)
	}
	inst, running, err := cl.target(fn, q)
	if err != nil {
		return publishCall{}, fail(errState, err)
	}
	return publishCall{cl: cl, inst: inst, running: running, topic: t, payload: p, qos: q, props: props}, statusOK
}

//export hamqtt_publish
func hamqtt_publish(h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int, retain C.int) (rc C.int) {
	defer guard(&rc)
	return publishBlocking("hamqtt_publish", h, topic, payload, n, qos, retain, nil)
}

//export hamqtt_publish_props
func hamqtt_publish_props(h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int, retain C.int,
	props *C.hqcapi_cprops) (rc C.int) {
	defer guard(&rc)
	return publishBlocking("hamqtt_publish_props", h, topic, payload, n, qos, retain, props)
}

func publishBlocking(fn string, h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int, retain C.int,
	props *C.hqcapi_cprops) C.int {
	pc, rc := preparePublish(fn, h, topic, payload, n, qos, props)
	if rc != statusOK {
		return rc
	}
	ctx := context.Background()
	if !pc.running {
		// Not connected: nothing can acknowledge it before hamqtt_connect, so the answer is
		// HAMQTT_STORED (or that it was not stored) at once.
		c, cancel := context.WithCancel(ctx)
		cancel()
		ctx = c
	}
	if err := pc.inst.c.PublishWith(ctx, pc.topic, pc.qos, retain != 0, pc.payload, pc.props); err != nil {
		if errors.Is(err, core.ErrStored) {
			return statusStored
		}
		return fail(publishCode(err, errNoEndpoint), err)
	}
	return statusOK
}

//export hamqtt_publish_async
func hamqtt_publish_async(h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int,
	retain C.int, cb C.hamqtt_delivery_cb, user unsafe.Pointer, id *C.uint64_t) (rc C.int) {
	defer guard(&rc)
	return publishAsyncCall("hamqtt_publish_async", h, topic, payload, n, qos, retain, nil, cb, user, id)
}

//export hamqtt_publish_async_props
func hamqtt_publish_async_props(h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int,
	retain C.int, props *C.hqcapi_cprops, user unsafe.Pointer, id *C.uint64_t) (rc C.int) {
	defer guard(&rc)
	return publishAsyncCall("hamqtt_publish_async_props", h, topic, payload, n, qos, retain, props, nil, user, id)
}

func publishAsyncCall(fn string, h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int,
	retain C.int, props *C.hqcapi_cprops, cb C.hamqtt_delivery_cb, user unsafe.Pointer, id *C.uint64_t) C.int {
	if id != nil {
		*id = 0
	}
	pc, rc := preparePublish(fn, h, topic, payload, n, qos, props)
	if rc != statusOK {
		return rc
	}
	var reg *asyncReg
	if cb != nil || user != nil {
		reg = &asyncReg{cb: cb, user: user}
	}
	if cb != nil {
		pc.cl.enablePush()
	}
	pid, err := pc.cl.publishAsync(pc.inst.c, pc.topic, pc.qos, retain != 0, pc.payload, pc.props, reg)
	if err != nil {
		return fail(errIO, fmt.Errorf("%s: %w", fn, err))
	}
	if id != nil {
		*id = C.uint64_t(pid)
	}
	return statusOK
}

//export hamqtt_publish_detached
func hamqtt_publish_detached(h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int,
	retain C.int) (rc C.int) {
	defer guard(&rc)
	return publishDetachedCall("hamqtt_publish_detached", h, topic, payload, n, qos, retain, nil)
}

//export hamqtt_publish_detached_props
func hamqtt_publish_detached_props(h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int,
	retain C.int, props *C.hqcapi_cprops) (rc C.int) {
	defer guard(&rc)
	return publishDetachedCall("hamqtt_publish_detached_props", h, topic, payload, n, qos, retain, props)
}

func publishDetachedCall(fn string, h C.hamqtt_client, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid, n C.size_t, qos C.int,
	retain C.int, props *C.hqcapi_cprops) C.int {
	pc, rc := preparePublish(fn, h, topic, payload, n, qos, props)
	if rc != statusOK {
		return rc
	}
	// The engine reports each failure once: a refusal (closed, outbox full) as this call's
	// error, a loss after it was accepted as an error event.
	if err := pc.inst.c.PublishDetachedWith(pc.topic, pc.qos, retain != 0, pc.payload, pc.props); err != nil {
		return fail(errIO, fmt.Errorf("%s: %w", fn, err))
	}
	return statusOK
}

//export hamqtt_flush
func hamqtt_flush(h C.hamqtt_client, timeoutMs C.int) (rc C.int) {
	defer guard(&rc)
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	inst, state := cl.current()
	if state == stateDisconnected && cl.ob != nil {
		// What was published since is held by the instance the next hamqtt_connect starts.
		cl.mu.Lock()
		if cl.nextReady == nil || !cl.inCallback() { // see target
			cl.waitNextLocked()
		}
		if cl.state == stateDisconnected && cl.next != nil {
			inst = cl.next
		} else {
			inst = cl.inst
		}
		cl.mu.Unlock()
	}
	if inst == nil {
		return statusOK
	}
	ctx := context.Background()
	if timeoutMs >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutMs)*time.Millisecond)
		defer cancel()
	}
	if err := inst.c.Flush(ctx); err != nil {
		return fail(errTimeout, newErr(errTimeout, "hamqtt_flush: publishes still outstanding after %d ms", int(timeoutMs)))
	}
	return statusOK
}

//export hamqtt_publish_to
func hamqtt_publish_to(h C.hamqtt_client, endpoint *C.hqcapi_cchar, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid,
	n C.size_t, qos C.int, retain C.int) (rc C.int) {
	defer guard(&rc)
	return publishToCall("hamqtt_publish_to", h, endpoint, topic, payload, n, qos, retain, nil)
}

//export hamqtt_publish_to_props
func hamqtt_publish_to_props(h C.hamqtt_client, endpoint *C.hqcapi_cchar, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid,
	n C.size_t, qos C.int, retain C.int, props *C.hqcapi_cprops) (rc C.int) {
	defer guard(&rc)
	return publishToCall("hamqtt_publish_to_props", h, endpoint, topic, payload, n, qos, retain, props)
}

func publishToCall(fn string, h C.hamqtt_client, endpoint *C.hqcapi_cchar, topic *C.hqcapi_cchar, payload *C.hqcapi_cvoid,
	n C.size_t, qos C.int, retain C.int, cprops *C.hqcapi_cprops) C.int {
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	ep, err := gostr(endpoint, fn+": endpoint")
	if err != nil {
		return fail(errInvalid, err)
	}
	t, p, q, err := publishArgs(fn, topic, payload, n, qos)
	if err != nil {
		return fail(errInvalid, err)
	}
	props, err := publishProps(fn, cl, t, cprops)
	if err != nil {
		return fail(errInvalid, err)
	}
	inst, err := cl.started(fn)
	if err != nil {
		return fail(errState, err)
	}
	if err := inst.c.PublishToWith(context.Background(), ep, t, q, retain != 0, p, props); err != nil {
		return fail(errNoEndpoint, err)
	}
	return statusOK
}

//export hamqtt_outbox_stats
func hamqtt_outbox_stats(h C.hamqtt_client, out *C.struct_hamqtt_outbox_stats) (rc C.int) {
	defer guard(&rc)
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if out == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_outbox_stats: out is NULL"))
	}
	size := uintptr(out.struct_size)
	if size < outboxStatsV1Size {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_outbox_stats: struct_size is %d, want at least %d: initialise it with HAMQTT_OUTBOX_STATS_INIT", out.struct_size, outboxStatsV1Size))
	}
	if cl.ob == nil {
		return fail(errState, newErr(errState, "hamqtt_outbox_stats: %s has no outbox (hamqtt_options.outbox or outbox_dir, or the cluster's outbox in the configuration)", cl))
	}
	s := cl.ob.Stats()
	v := C.struct_hamqtt_outbox_stats{
		struct_size: out.struct_size,
		messages:    C.uint64_t(s.Messages),
		bytes:       C.uint64_t(s.Bytes),
		stored:      C.uint64_t(s.Stored),
		delivered:   C.uint64_t(s.Delivered),
		dropped:     C.uint64_t(s.Dropped),
		expired:     C.uint64_t(s.Expired),
		recovered:   C.uint64_t(cl.ob.Recovery().Messages),
	}
	if !s.Oldest.IsZero() {
		v.oldest_unix_ns = C.int64_t(s.Oldest.UnixNano())
		v.oldest_age_ms = C.int64_t(max(s.OldestAge().Milliseconds(), 0))
	}
	// The fields the caller's struct has (a later library may know more of them).
	n := min(size, unsafe.Sizeof(v))
	copy(unsafe.Slice((*byte)(unsafe.Pointer(out)), n), unsafe.Slice((*byte)(unsafe.Pointer(&v)), n))
	return statusOK
}

// outboxStatsV1Size is sizeof(struct hamqtt_outbox_stats) of its first version.
const outboxStatsV1Size = unsafe.Sizeof(C.struct_hamqtt_outbox_stats{})

// ---------------------------------------------------------------------------------------------
// Subscribing

func filterArg(fn string, filter *C.hqcapi_cchar) (string, error) {
	f, err := gostr(filter, fn+": filter")
	if err != nil {
		return "", err
	}
	if err := core.ValidateFilter(f); err != nil {
		return "", newErr(errTopic, "%s: %v", fn, err)
	}
	return f, nil
}

//export hamqtt_subscribe
func hamqtt_subscribe(h C.hamqtt_client, filter *C.hqcapi_cchar, qos C.int, cb C.hamqtt_message_cb, user unsafe.Pointer) (rc C.int) {
	defer guard(&rc)
	_, rc = subscribeCall("hamqtt_subscribe", h, filter, qos, core.SubscribeOptions{}, cb, user)
	return rc
}

//export hamqtt_subscribe_granted
func hamqtt_subscribe_granted(h C.hamqtt_client, filter *C.hqcapi_cchar, qos C.int, cb C.hamqtt_message_cb, user unsafe.Pointer,
	granted *C.int) (rc C.int) {
	defer guard(&rc)
	if granted == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_subscribe_granted: granted is NULL"))
	}
	*granted = 0x80
	g, rc := subscribeCall("hamqtt_subscribe_granted", h, filter, qos, core.SubscribeOptions{}, cb, user)
	if rc == statusOK || rc == errRefused {
		*granted = C.int(g)
	}
	return rc
}

//export hamqtt_subscribe_opts
func hamqtt_subscribe_opts(h C.hamqtt_client, filter *C.hqcapi_cchar, qos C.int, opts *C.hqcapi_csub_options, reasonCode *C.int) (rc C.int) {
	defer guard(&rc)
	if reasonCode != nil {
		*reasonCode = 0x80
	}
	var o core.SubscribeOptions
	if opts != nil {
		if uintptr(opts.struct_size) < uintptr(C.sizeof_hamqtt_sub_options) {
			return fail(errInvalid, newErr(errInvalid, "hamqtt_sub_options.struct_size is %d, want at least %d: initialise it with HAMQTT_SUB_OPTIONS_INIT", opts.struct_size, C.sizeof_hamqtt_sub_options))
		}
		if opts.retain_handling < 0 || opts.retain_handling > 2 {
			return fail(errInvalid, newErr(errInvalid, "hamqtt_subscribe_opts: retain_handling is %d: use 0 (send retained), 1 (only for a new subscription) or 2 (never)", opts.retain_handling))
		}
		if opts.subscription_id < 0 || opts.subscription_id > maxSubscriptionID {
			return fail(errInvalid, newErr(errInvalid, "hamqtt_subscribe_opts: subscription_id %d out of range 1..268435455 (0: none)", opts.subscription_id))
		}
		user, err := userProps("hamqtt_subscribe_opts: props", errInvalid, opts.props)
		if err != nil {
			return fail(errInvalid, err)
		}
		o = core.SubscribeOptions{NoLocal: opts.no_local != 0, RetainAsPublished: opts.retain_as_published != 0,
			RetainHandling: byte(opts.retain_handling), ID: int(opts.subscription_id), User: user}
	}
	g, rc := subscribeCall("hamqtt_subscribe_opts", h, filter, qos, o, nil, nil)
	if reasonCode != nil && (rc == statusOK || rc == errRefused) {
		*reasonCode = C.int(g)
	}
	return rc
}

// subscribeCall is hamqtt_subscribe and hamqtt_subscribe_granted: it returns the granted QoS.
func subscribeCall(fn string, h C.hamqtt_client, filter *C.hqcapi_cchar, qos C.int, opts core.SubscribeOptions, cb C.hamqtt_message_cb, user unsafe.Pointer) (byte, C.int) {
	cl, err := clientOf(h)
	if err != nil {
		return 0, fail(errHandle, err)
	}
	f, err := filterArg(fn, filter)
	if err != nil {
		return 0, fail(errInvalid, err)
	}
	if err := core.ValidateQoS(int(qos)); err != nil {
		return 0, fail(errQoS, fmt.Errorf("%s %q: %w", fn, f, err))
	}
	if !opts.IsZero() {
		if cl.cfg.Connection.ProtocolVersion != core.MQTT5 {
			return 0x80, fail(errInvalid, newErr(errInvalid, "%s %q: %s speaks MQTT 3.1.1, which has no subscription options (hamqtt_options.protocol_version 5 does)", fn, f, cl))
		}
		if opts.NoLocal && strings.HasPrefix(f, "$share/") {
			return 0x80, fail(errInvalid, newErr(errInvalid, "%s %q: no_local is not allowed on a shared subscription", fn, f))
		}
	}
	g, err := cl.subscribe(f, byte(qos), opts, cb, user)
	if err != nil {
		rc := fail(errNoEndpoint, err)
		if g >= 0x80 && C.hqcapi_get_reason() == 0 {
			C.hqcapi_set_reason(C.int(g)) // a refusal without an MQTT 5 reason (SUBACK 0x80)
		}
		return g, rc
	}
	return g, statusOK
}

//export hamqtt_unsubscribe
func hamqtt_unsubscribe(h C.hamqtt_client, filter *C.hqcapi_cchar) (rc C.int) {
	defer guard(&rc)
	return unsubscribeCall("hamqtt_unsubscribe", h, filter, nil)
}

//export hamqtt_unsubscribe_props
func hamqtt_unsubscribe_props(h C.hamqtt_client, filter *C.hqcapi_cchar, props *C.hqcapi_cprops) (rc C.int) {
	defer guard(&rc)
	return unsubscribeCall("hamqtt_unsubscribe_props", h, filter, props)
}

func unsubscribeCall(fn string, h C.hamqtt_client, filter *C.hqcapi_cchar, props *C.hqcapi_cprops) C.int {
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	f, err := filterArg(fn, filter)
	if err != nil {
		return fail(errInvalid, err)
	}
	user, err := userProps(fn+": props", errInvalid, props)
	if err != nil {
		return fail(errInvalid, err)
	}
	if len(user) > 0 && cl.cfg.Connection.ProtocolVersion != core.MQTT5 {
		return fail(errInvalid, newErr(errInvalid, "%s %q: %s speaks MQTT 3.1.1, which cannot carry properties (hamqtt_options.protocol_version 5 does)", fn, f, cl))
	}
	if err := cl.unsubscribe(f, user); err != nil {
		return fail(errNoEndpoint, err)
	}
	return statusOK
}

// ---------------------------------------------------------------------------------------------
// Events

//export hamqtt_set_callbacks
func hamqtt_set_callbacks(h C.hamqtt_client, cbs *C.hqcapi_ccallbacks) (rc C.int) {
	defer guard(&rc)
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if cbs == nil {
		cl.cbs.Store(nil)
		cl.enablePush()
		return statusOK
	}
	if uintptr(cbs.struct_size) < uintptr(C.sizeof_hamqtt_callbacks) {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_callbacks.struct_size is %d, want at least %d: initialise it with HAMQTT_CALLBACKS_INIT", cbs.struct_size, C.sizeof_hamqtt_callbacks))
	}
	cl.cbs.Store(&callbacks{
		user:       cbs.user,
		onMessage:  cbs.on_message,
		onUp:       cbs.on_endpoint_up,
		onDown:     cbs.on_endpoint_down,
		onDelivery: cbs.on_delivery,
		onError:    cbs.on_error,
	})
	cl.enablePush()
	return statusOK
}

//export hamqtt_set_log_callback
func hamqtt_set_log_callback(h C.hamqtt_client, level C.int, cb C.hamqtt_log_cb, user unsafe.Pointer) (rc C.int) {
	defer guard(&rc)
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	cl.logs.set(int(level), cb, user)
	if cb != nil {
		cl.mu.Lock()
		if !cl.logs.started && cl.state != stateClosed {
			cl.logs.started = true
			cl.dispatchers.Add(1)
			go cl.logs.run(&cl.dispatchers)
		}
		cl.mu.Unlock()
	}
	return statusOK
}

//export hamqtt_poll
func hamqtt_poll(h C.hamqtt_client, events *C.hamqtt_event, max C.size_t, timeoutMs C.int, count *C.size_t) (rc C.int) {
	defer guard(&rc)
	return pollCall("hamqtt_poll", h, unsafe.Pointer(events), 0, max, timeoutMs, count)
}

//export hamqtt_poll_sized
func hamqtt_poll_sized(h C.hamqtt_client, events *C.hamqtt_event, eventSize C.size_t, max C.size_t, timeoutMs C.int, count *C.size_t) (rc C.int) {
	defer guard(&rc)
	if count != nil {
		*count = 0
	}
	if es := uintptr(eventSize); es != eventSizeV04 && es < eventSizeCurrent {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_poll_sized: event_size is %d: pass sizeof(hamqtt_event) (%d in this library's header, %d in 0.4's)", es, eventSizeCurrent, eventSizeV04))
	}
	return pollCall("hamqtt_poll_sized", h, unsafe.Pointer(events), uintptr(eventSize), max, timeoutMs, count)
}

// Sizes of hamqtt_event: in the 0.4 header (and before) and in the current one.
const (
	eventSizeV04     = uintptr(C.HQCAPI_EVENT_V04_SIZE)
	eventSizeCurrent = uintptr(C.HQCAPI_EVENT_SIZE)
)

// pollCall implements hamqtt_poll and hamqtt_poll_sized: up to max events into the array at
// events, whose elements are eventSize bytes (0: the client's eventSize, which hamqtt_poll
// goes by).
func pollCall(fn string, h C.hamqtt_client, events unsafe.Pointer, eventSize uintptr, max C.size_t, timeoutMs C.int, count *C.size_t) C.int {
	if count != nil {
		*count = 0
	}
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if events == nil || count == nil || max == 0 {
		return fail(errInvalid, newErr(errInvalid, "%s: events and count must not be NULL and max_events not 0 (events=%p count=%p max_events=%d)", fn, events, count, uint64(max)))
	}
	if cl.push.Load() {
		return fail(errMode, newErr(errMode, "%s: %s is in push mode (callbacks are installed): events go to the callbacks", fn, cl))
	}
	if !cl.pollMu.TryLock() {
		return fail(errBusy, newErr(errBusy, "%s: another thread is polling %s", fn, cl))
	}
	defer cl.pollMu.Unlock()
	timeout := time.Duration(timeoutMs) * time.Millisecond
	if timeoutMs < 0 {
		timeout = -1
	}
	if eventSize == 0 {
		eventSize = cl.eventSize
	}
	want := int(min(uint64(max), maxBatch))
	if eventSize == eventSizeCurrent {
		// The application's array has the current layout: filled in place.
		n, err := cl.pollEvents(unsafe.Slice((*C.hamqtt_event)(events), want), timeout)
		if err != nil {
			return fail(errClosed, err)
		}
		*count = C.size_t(n)
		return statusOK
	}
	// Another layout (an application built with the 0.4 header, or a newer one): the events
	// are made in the current layout, then written out in the application's.
	p := &cl.poll
	if cap(p.scratch) < want {
		p.scratch = make([]C.hamqtt_event, want)
	}
	out := p.scratch[:want]
	n, err := cl.pollEvents(out, timeout)
	if err != nil {
		return fail(errClosed, err)
	}
	if n > 0 {
		C.hqcapi_events_out(events, C.size_t(eventSize), &out[0], C.size_t(n))
		clear(out[:n])
	}
	*count = C.size_t(n)
	return statusOK
}

//export hamqtt_event_fd
func hamqtt_event_fd(h C.hamqtt_client, fd *C.int) (rc C.int) {
	defer guard(&rc)
	if fd != nil {
		*fd = -1
	}
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if fd == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_event_fd: fd is NULL"))
	}
	if cl.push.Load() {
		return fail(errMode, newErr(errMode, "hamqtt_event_fd: %s is in push mode (callbacks are installed)", cl))
	}
	cl.mu.Lock()
	if cl.state == stateClosed {
		cl.mu.Unlock()
		return fail(errClosed, newErr(errClosed, "hamqtt_event_fd: %s is closed", cl))
	}
	f, err := cl.eventFDLocked()
	cl.mu.Unlock()
	if err != nil {
		return fail(errIO, err)
	}
	*fd = C.int(f)
	return statusOK
}

// ---------------------------------------------------------------------------------------------
// Endpoints

// cStringList returns names as one C block: a NULL-terminated pointer array followed by the
// strings, freed with a single hamqtt_free.
func cStringList(names []string) **C.char {
	ptrSize := unsafe.Sizeof((*C.char)(nil))
	size := uintptr(len(names)+1) * ptrSize
	for _, s := range names {
		size += uintptr(len(s)) + 1
	}
	mem := C.malloc(C.size_t(size))
	if mem == nil {
		return nil
	}
	ptrs := unsafe.Slice((**C.char)(mem), len(names)+1)
	bytes := unsafe.Slice((*byte)(mem), size)
	off := uintptr(len(names)+1) * ptrSize
	for i, s := range names {
		ptrs[i] = (*C.char)(unsafe.Pointer(&bytes[off]))
		off += uintptr(copy(bytes[off:], s))
		bytes[off] = 0
		off++
	}
	ptrs[len(names)] = nil
	C.hqcapi_mark_defined(mem, C.size_t(size))
	return (**C.char)(mem)
}

func returnList(fn string, names []string, out ***C.char, count *C.size_t) C.int {
	list := cStringList(names)
	if list == nil {
		return fail(errInternal, newErr(errInternal, "%s: out of memory", fn))
	}
	*out = list
	if count != nil {
		*count = C.size_t(len(names))
	}
	return statusOK
}

func endpointList(fn string, h C.hamqtt_client, out ***C.char, count *C.size_t, live bool) C.int {
	if out != nil {
		*out = nil
	}
	if count != nil {
		*count = 0
	}
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if out == nil {
		return fail(errInvalid, newErr(errInvalid, "%s: names is NULL", fn))
	}
	inst, _ := cl.current()
	var names []string
	switch {
	case inst.isClosed() && live:
	case inst.isClosed():
		cl.mu.Lock()
		for _, ec := range cl.endpoints {
			names = append(names, ec.Name)
		}
		cl.mu.Unlock()
	case live:
		names = inst.c.LiveEndpoints()
	default:
		names = inst.c.DeadEndpoints()
	}
	return returnList(fn, names, out, count)
}

//export hamqtt_live_endpoints
func hamqtt_live_endpoints(h C.hamqtt_client, names ***C.char, count *C.size_t) (rc C.int) {
	defer guard(&rc)
	return endpointList("hamqtt_live_endpoints", h, names, count, true)
}

//export hamqtt_dead_endpoints
func hamqtt_dead_endpoints(h C.hamqtt_client, names ***C.char, count *C.size_t) (rc C.int) {
	defer guard(&rc)
	return endpointList("hamqtt_dead_endpoints", h, names, count, false)
}

//export hamqtt_stats
func hamqtt_stats(h C.hamqtt_client, stats **C.hamqtt_endpoint_stats, count *C.size_t) (rc C.int) {
	defer guard(&rc)
	if stats != nil {
		*stats = nil
	}
	if count != nil {
		*count = 0
	}
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if stats == nil || count == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_stats: stats and count must not be NULL"))
	}
	inst, _ := cl.current()
	all := inst.c.Stats()
	recSize := unsafe.Sizeof(C.hamqtt_endpoint_stats{})
	size := uintptr(len(all))*recSize + 1
	for _, s := range all {
		size += uintptr(len(s.Name)+len(s.URI)+len(s.LastError)) + 3
	}
	mem := C.malloc(C.size_t(size))
	if mem == nil {
		return fail(errInternal, newErr(errInternal, "hamqtt_stats: out of memory"))
	}
	bytes := unsafe.Slice((*byte)(mem), size)
	clear(bytes)
	recs := unsafe.Slice((*C.hamqtt_endpoint_stats)(mem), len(all))
	off := uintptr(len(all)) * recSize
	str := func(s string) *C.char {
		p := (*C.char)(unsafe.Pointer(&bytes[off]))
		off += uintptr(copy(bytes[off:], s)) + 1
		return p
	}
	for i, s := range all {
		r := &recs[i]
		r.name = str(s.Name)
		r.uri = str(s.URI)
		r.state = C.int(s.State)
		r.subscriber = cbool(s.Subscriber)
		if !s.LiveSince.IsZero() {
			r.live_since_unix_ns = C.int64_t(s.LiveSince.UnixNano())
		}
		r.published = C.uint64_t(s.Published)
		r.acked = C.uint64_t(s.Acked)
		r.failed = C.uint64_t(s.Failed)
		r.failovers = C.uint64_t(s.Failovers)
		r.connects = C.uint64_t(s.Connects)
		r.connect_failures = C.uint64_t(s.ConnectFailures)
		r.received = C.uint64_t(s.Received)
		r.last_error = str(s.LastError)
	}
	C.hqcapi_mark_defined(mem, C.size_t(size))
	*stats = (*C.hamqtt_endpoint_stats)(mem)
	*count = C.size_t(len(all))
	return statusOK
}

//export hamqtt_add_endpoint
func hamqtt_add_endpoint(h C.hamqtt_client, uri *C.hqcapi_cchar, name *C.hqcapi_cchar, assigned **C.char) (rc C.int) {
	defer guard(&rc)
	if assigned != nil {
		*assigned = nil
	}
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	spec, err := gostr(uri, "hamqtt_add_endpoint: uri")
	if err != nil {
		return fail(errInvalid, err)
	}
	if err := checkBrokerCount("hamqtt_add_endpoint", spec); err != nil {
		return fail(errConfig, err)
	}
	uris, err := core.ExpandURIs(spec)
	if err != nil {
		return fail(errConfig, fmt.Errorf("hamqtt_add_endpoint: %w", err))
	}
	if len(uris) == 0 {
		return fail(errConfig, newErr(errConfig, "hamqtt_add_endpoint: %q names no broker", redactList(spec)))
	}
	n := optstr(name)
	if n != "" && len(uris) > 1 {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_add_endpoint: name %q given for %d brokers (%s): name only a single broker", n, len(uris), strings.Join(uris, ", ")))
	}
	names, err := cl.addEndpoints(uris, n)
	if err != nil {
		return fail(errConfig, fmt.Errorf("hamqtt_add_endpoint: %w", err))
	}
	if assigned != nil {
		*assigned = cString(strings.Join(names, ","))
	}
	return statusOK
}

//export hamqtt_remove_endpoint
func hamqtt_remove_endpoint(h C.hamqtt_client, name *C.hqcapi_cchar) (rc C.int) {
	defer guard(&rc)
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	n, err := gostr(name, "hamqtt_remove_endpoint: name")
	if err != nil {
		return fail(errInvalid, err)
	}
	if err := cl.removeEndpoint(n); err != nil {
		return fail(errNotFound, fmt.Errorf("hamqtt_remove_endpoint: %w", err))
	}
	return statusOK
}
