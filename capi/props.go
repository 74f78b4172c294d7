package main

/*
#include "capi.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unicode/utf8"
	"unsafe"

	"github.com/hamqtt/hamqtt/core"
)

// MQTT 5 properties: struct hamqtt_props (capi.h; its accessors are C, hamqtt_props.c) to and
// from core.Properties, the lists the library hands over with messages, the wire form of
// hamqtt_props_encode/decode, and the CONNACKs of hamqtt_connack_props.

// Property identifiers (enum hamqtt_prop).
const (
	propPayloadFormat   = 0x01
	propMessageExpiry   = 0x02
	propContentType     = 0x03
	propResponseTopic   = 0x08
	propCorrelationData = 0x09
	propSubscriptionID  = 0x0B
	propSessionExpiry   = 0x11
	propAssignedID      = 0x12
	propServerKeepAlive = 0x13
	propResponseInfo    = 0x1A
	propServerReference = 0x1C
	propReasonString    = 0x1F
	propReceiveMaximum  = 0x21
	propTopicAliasMax   = 0x22
	propTopicAlias      = 0x23 // not in enum hamqtt_prop: decoded and dropped
	propMaximumQoS      = 0x24
	propRetainAvailable = 0x25
	propUser            = 0x26
	propMaximumPacket   = 0x27
	propWildcardSubs    = 0x28
	propSubIDsAvailable = 0x29
	propSharedSubs      = 0x2A
	propMaxID           = 0x2A
)

// Wire types of the properties a list may hold.
const (
	wireNone = iota
	wireBool // a byte, 0 or 1
	wireU16
	wireU32
	wireVar
	wireStr
	wireBin
	wirePair
)

var propWire = [propMaxID + 1]byte{
	propPayloadFormat: wireBool, propMessageExpiry: wireU32, propContentType: wireStr, propResponseTopic: wireStr,
	propCorrelationData: wireBin, propSubscriptionID: wireVar, propSessionExpiry: wireU32, propAssignedID: wireStr,
	propServerKeepAlive: wireU16, propResponseInfo: wireStr, propServerReference: wireStr, propReasonString: wireStr,
	propReceiveMaximum: wireU16, propTopicAliasMax: wireU16, propTopicAlias: wireU16, propMaximumQoS: wireBool,
	propRetainAvailable: wireBool, propUser: wirePair, propMaximumPacket: wireU32, propWildcardSubs: wireBool,
	propSubIDsAvailable: wireBool, propSharedSubs: wireBool,
}

// propSlot is hqcapi_prop_slot for every id: the index in hamqtt_props.ints or .strs.
var propSlot [propMaxID + 1]int

func init() {
	for id := range propSlot {
		propSlot[id] = int(C.hqcapi_prop_slot(C.int(id)))
	}
}

const maxSubscriptionID = 268435455

// cProps gives a read-only view of a C list.
type cProps struct{ p *C.hamqtt_props }

func (v cProps) has(id int) bool   { return v.p.present&(1<<uint(id)) != 0 }
func (v cProps) int(id int) uint32 { return uint32(v.p.ints[propSlot[id]]) }
func (v cProps) bytes(id int) []byte {
	b := v.p.strs[propSlot[id]]
	if b.p == nil {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(b.p), C.int(b.len))
}
func (v cProps) users() []C.hqcapi_pair {
	if v.p.nuser == 0 || v.p.user == nil {
		return nil
	}
	return unsafe.Slice(v.p.user, int(v.p.nuser))
}
func (v cProps) subIDs() []C.uint32_t {
	if v.p.nsubids == 0 || v.p.subids == nil {
		return nil
	}
	return unsafe.Slice(v.p.subids, int(v.p.nsubids))
}

func pairStrings(u C.hqcapi_pair) (string, string) {
	return C.GoStringN(u.key.p, C.int(u.key.len)), C.GoStringN(u.value.p, C.int(u.value.len))
}

// empty reports whether the list carries nothing (subscription identifiers aside, which a
// publish ignores).
func (v cProps) empty() bool { return v.p == nil || (v.p.present == 0 && v.p.nuser == 0) }

// messageProps converts a C list into a message's properties (nil when it carries none).
// CONNACK properties are refused: they cannot travel with a message.
func messageProps(fn string, p *C.hqcapi_cprops) (*core.Properties, error) {
	v := cProps{(*C.hamqtt_props)(unsafe.Pointer(p))}
	if v.empty() {
		return nil, nil
	}
	out := &core.Properties{}
	for id := 1; id <= propMaxID; id++ {
		if !v.has(id) {
			continue
		}
		switch id {
		case propPayloadFormat:
			if v.int(id) > 1 {
				return nil, newErr(errInvalid, "%s: payload format %d: use 0 (bytes) or 1 (UTF-8 text)", fn, v.int(id))
			}
			b := byte(v.int(id))
			out.PayloadFormat = &b
		case propMessageExpiry:
			e := v.int(id)
			out.MessageExpiry = &e
		case propContentType:
			out.ContentType = string(v.bytes(id))
		case propResponseTopic:
			out.ResponseTopic = string(v.bytes(id))
			if err := core.ValidateTopic(out.ResponseTopic); err != nil {
				return nil, newErr(errInvalid, "%s: response topic: %v", fn, err)
			}
		case propCorrelationData:
			out.CorrelationData = v.bytes(id)
		default:
			return nil, newErr(errInvalid, "%s: property 0x%02X is a CONNACK's or a DISCONNECT's: a message cannot carry it", fn, id)
		}
	}
	out.User = v.userProperties()
	return out, nil
}

// userProperties copies the list's user properties, in order (nil when none).
func (v cProps) userProperties() []core.UserProperty {
	var out []core.UserProperty
	for _, u := range v.users() {
		k, val := pairStrings(u)
		out = append(out, core.UserProperty{Key: k, Value: val})
	}
	return out
}

// userProps converts a list that may hold user properties only (hamqtt_options.connect_props,
// hamqtt_sub_options.props); anything else is the error code.
func userProps(what string, code int, p *C.hqcapi_cprops) ([]core.UserProperty, error) {
	v := cProps{(*C.hamqtt_props)(unsafe.Pointer(p))}
	if v.p == nil {
		return nil, nil
	}
	if v.p.present != 0 || v.p.nsubids != 0 {
		return nil, newErr(code, "%s: only user properties (HAMQTT_PROP_USER) are allowed", what)
	}
	return v.userProperties(), nil
}

// disconnectProps converts the list of hamqtt_disconnect_props: a session expiry, a reason
// string and user properties.
func disconnectProps(p *C.hqcapi_cprops) (core.DisconnectOptions, error) {
	var d core.DisconnectOptions
	v := cProps{(*C.hamqtt_props)(unsafe.Pointer(p))}
	if v.empty() {
		return d, nil
	}
	for id := 1; id <= propMaxID; id++ {
		if !v.has(id) {
			continue
		}
		switch id {
		case propSessionExpiry:
			e := v.int(id)
			d.SessionExpiry = &e
		case propReasonString:
			d.ReasonString = string(v.bytes(id))
		default:
			return d, newErr(errInvalid, "hamqtt_disconnect_props: property 0x%02X cannot travel in a DISCONNECT: use HAMQTT_PROP_SESSION_EXPIRY, HAMQTT_PROP_REASON_STRING and user properties", id)
		}
	}
	d.User = v.userProperties()
	return d, nil
}

// propsSize is what fillProps takes of an allocator for p, alignment included.
func propsSize(p *core.Properties) uintptr {
	if p == nil {
		return 0
	}
	n := uintptr(C.sizeof_hamqtt_props) + 8
	n += uintptr(len(p.ContentType)+len(p.ResponseTopic)+len(p.CorrelationData)) + 3
	if len(p.User) > 0 {
		n += 8 + uintptr(len(p.User))*uintptr(C.sizeof_hqcapi_pair)
		for _, u := range p.User {
			n += uintptr(len(u.Key)+len(u.Value)) + 2
		}
	}
	if len(p.SubscriptionIDs) > 0 {
		n += 4 + 4*uintptr(len(p.SubscriptionIDs))
	}
	return n
}

// fillProps lays a received message's properties out in a (room for propsSize(p) bytes) as
// a list of the library's (owned 0): nil for nil.
func fillProps(a *cbuf, p *core.Properties) *C.hamqtt_props {
	if p == nil {
		return nil
	}
	ps := (*C.hamqtt_props)(a.alloc(uintptr(C.sizeof_hamqtt_props), 8))
	*ps = C.hamqtt_props{}
	setInt := func(id int, v uint32) {
		ps.ints[propSlot[id]] = C.uint32_t(v)
		ps.present |= 1 << uint(id)
	}
	setBytes := func(id int, b []byte) {
		ps.strs[propSlot[id]] = C.hqcapi_bytes{p: a.strBytes(b), len: C.size_t(len(b))}
		ps.present |= 1 << uint(id)
	}
	if p.PayloadFormat != nil {
		setInt(propPayloadFormat, uint32(*p.PayloadFormat))
	}
	if p.MessageExpiry != nil {
		setInt(propMessageExpiry, *p.MessageExpiry)
	}
	if p.ContentType != "" {
		setBytes(propContentType, []byte(p.ContentType))
	}
	if p.ResponseTopic != "" {
		setBytes(propResponseTopic, []byte(p.ResponseTopic))
	}
	if p.CorrelationData != nil {
		setBytes(propCorrelationData, p.CorrelationData)
	}
	if len(p.User) > 0 {
		ptr := a.alloc(uintptr(len(p.User))*uintptr(C.sizeof_hqcapi_pair), 8)
		pairs := unsafe.Slice((*C.hqcapi_pair)(ptr), len(p.User))
		for i, u := range p.User {
			pairs[i].key = C.hqcapi_bytes{p: a.str(u.Key), len: C.size_t(len(u.Key))}
			pairs[i].value = C.hqcapi_bytes{p: a.str(u.Value), len: C.size_t(len(u.Value))}
		}
		ps.user, ps.nuser, ps.capuser = (*C.hqcapi_pair)(ptr), C.size_t(len(p.User)), C.size_t(len(p.User))
	}
	if len(p.SubscriptionIDs) > 0 {
		ptr := a.alloc(4*uintptr(len(p.SubscriptionIDs)), 4)
		ids := unsafe.Slice((*C.uint32_t)(ptr), len(p.SubscriptionIDs))
		for i, id := range p.SubscriptionIDs {
			ids[i] = C.uint32_t(id)
		}
		ps.subids, ps.nsubids, ps.capsubids = (*C.uint32_t)(ptr), C.size_t(len(ids)), C.size_t(len(ids))
	}
	return ps
}

// ownedProps builds a list the caller owns (hamqtt_props_free) with build, which adds to it
// through the hqcapi_props_put_* functions; nil when out of memory.
func ownedProps(build func(p *C.hamqtt_props) C.int) (*C.hamqtt_props, error) {
	p := C.hamqtt_props_new()
	if p == nil {
		return nil, newErr(errInternal, "out of memory")
	}
	if rc := build(p); rc != statusOK {
		C.hamqtt_props_free(p)
		if rc == errInternal {
			return nil, newErr(errInternal, "out of memory")
		}
		return nil, newErr(int(rc), "cannot store the property")
	}
	return p, nil
}

func putBytes(p *C.hamqtt_props, id int, b []byte) C.int {
	var ptr unsafe.Pointer
	if len(b) > 0 {
		ptr = unsafe.Pointer(&b[0])
	}
	return C.hqcapi_props_put_bytes(p, C.int(id), ptr, C.size_t(len(b)))
}

func putUser(p *C.hamqtt_props, k, v string) C.int {
	return C.hqcapi_props_put_user(p, (*C.char)(unsafe.Pointer(unsafe.StringData(k))), C.size_t(len(k)),
		(*C.char)(unsafe.Pointer(unsafe.StringData(v))), C.size_t(len(v)))
}

// ---------------------------------------------------------------------------------------------
// The wire form

// encodeProps appends the wire form of a C list (length prefix first) to b.
func encodeProps(v cProps) ([]byte, error) {
	var body []byte
	for id := 1; id <= propMaxID; id++ {
		switch {
		case id == propSubscriptionID:
			for _, s := range v.subIDs() {
				body = append(body, byte(id))
				body = appendVarInt(body, uint32(s))
			}
			continue
		case id == propUser:
			for _, u := range v.users() {
				k, val := pairStrings(u)
				body = append(body, byte(id))
				body = appendStr(appendStr(body, []byte(k)), []byte(val))
			}
			continue
		case id == propTopicAlias || propWire[id] == wireNone || !v.has(id):
			continue
		}
		body = append(body, byte(id))
		switch propWire[id] {
		case wireBool:
			if v.int(id) > 1 {
				return nil, newErr(errInvalid, "property 0x%02X is %d: it is 0 or 1", id, v.int(id))
			}
			body = append(body, byte(v.int(id)))
		case wireU16:
			if v.int(id) > 0xFFFF {
				return nil, newErr(errInvalid, "property 0x%02X is %d: it is a two-byte integer", id, v.int(id))
			}
			body = append(body, byte(v.int(id)>>8), byte(v.int(id)))
		case wireU32:
			x := v.int(id)
			body = append(body, byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
		case wireStr, wireBin:
			body = appendStr(body, v.bytes(id))
		}
	}
	if len(body) > maxVarInt {
		return nil, newErr(errInvalid, "the properties take %d bytes: MQTT allows at most %d", len(body), maxVarInt)
	}
	return append(appendVarInt(make([]byte, 0, len(body)+4), uint32(len(body))), body...), nil
}

const maxVarInt = 268435455

func appendVarInt(b []byte, v uint32) []byte {
	for {
		d := byte(v & 0x7F)
		v >>= 7
		if v > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if v == 0 {
			return b
		}
	}
}

func appendStr(b, s []byte) []byte {
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

// propReader reads a property list strictly.
type propReader struct {
	b   []byte
	err error
}

func (r *propReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *propReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("%s: %d bytes left, %d needed", what, len(r.b), n)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *propReader) varInt(what string) uint32 {
	var v uint32
	for i := 0; i < 4; i++ {
		d := r.take(1, what)
		if d == nil {
			return 0
		}
		v |= uint32(d[0]&0x7F) << (7 * i)
		if d[0]&0x80 == 0 {
			if i > 0 && d[0] == 0 {
				r.fail("%s: a variable byte integer in more bytes than it needs", what)
			}
			return v
		}
	}
	r.fail("%s: a variable byte integer longer than 4 bytes", what)
	return 0
}

func (r *propReader) uint(n int, what string) uint32 {
	var v uint32
	for _, d := range r.take(n, what) {
		v = v<<8 | uint32(d)
	}
	return v
}

func (r *propReader) str(what string, text bool) []byte {
	n := int(r.uint(2, what+" length"))
	s := r.take(n, what)
	if r.err == nil && text && !validMQTTString(s) {
		r.fail("%s is not valid UTF-8 (or holds U+0000)", what)
	}
	return s
}

// validMQTTString reports whether s is a string MQTT allows: well-formed UTF-8 (no
// surrogates) without U+0000.
func validMQTTString(s []byte) bool {
	if !utf8.Valid(s) {
		return false
	}
	for _, c := range s {
		if c == 0 {
			return false
		}
	}
	return true
}

// decodeProps reads exactly one property list, length prefix first, into a new owned list.
func decodeProps(b []byte) (*C.hamqtt_props, error) {
	r := &propReader{b: b}
	n := r.varInt("property length")
	if r.err == nil && uint64(n) != uint64(len(r.b)) {
		r.fail("property length %d, but %d bytes follow it", n, len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return ownedPropsErr(func(p *C.hamqtt_props) error {
		var seen uint64
		for len(r.b) > 0 && r.err == nil {
			id := r.varInt("property identifier")
			if r.err != nil {
				break
			}
			if id > propMaxID || propWire[id] == wireNone {
				return fmt.Errorf("property identifier 0x%02X is not one of enum hamqtt_prop", id)
			}
			if id != propUser && id != propSubscriptionID {
				if seen&(1<<id) != 0 {
					return fmt.Errorf("property 0x%02X included more than once", id)
				}
				seen |= 1 << id
			}
			rc := C.int(statusOK)
			switch propWire[id] {
			case wireBool:
				v := r.uint(1, "property value")
				if r.err == nil && v > 1 {
					return fmt.Errorf("property 0x%02X is %d: it is 0 or 1", id, v)
				}
				rc = C.hqcapi_props_put_int(p, C.int(id), C.uint32_t(v))
			case wireU16, wireU32:
				w := 2
				if propWire[id] == wireU32 {
					w = 4
				}
				v := r.uint(w, "property value")
				if r.err == nil && v == 0 && (id == propReceiveMaximum || id == propMaximumPacket || id == propTopicAlias) {
					return fmt.Errorf("property 0x%02X of 0", id)
				}
				if id != propTopicAlias { // the engine's own per connection: dropped
					rc = C.hqcapi_props_put_int(p, C.int(id), C.uint32_t(v))
				}
			case wireVar:
				v := r.varInt("subscription identifier")
				if r.err == nil && v == 0 {
					return errors.New("subscription identifier of 0")
				}
				rc = C.hqcapi_props_put_subid(p, C.uint32_t(v))
			case wireStr, wireBin:
				s := r.str(fmt.Sprintf("property 0x%02X", id), propWire[id] == wireStr)
				if r.err == nil {
					rc = putBytes(p, int(id), s)
				}
			case wirePair:
				k := r.str("user property key", true)
				v := r.str("user property value", true)
				if r.err == nil {
					rc = putUser(p, string(k), string(v))
				}
			}
			if rc != statusOK {
				return newErr(errInternal, "out of memory")
			}
		}
		return r.err
	})
}

func ownedPropsErr(build func(p *C.hamqtt_props) error) (*C.hamqtt_props, error) {
	var err error
	p, oerr := ownedProps(func(p *C.hamqtt_props) C.int {
		if err = build(p); err != nil {
			return errInvalid
		}
		return statusOK
	})
	if err != nil {
		return nil, err
	}
	return p, oerr
}

//export hamqtt_props_encode
func hamqtt_props_encode(p *C.hqcapi_cprops, buf unsafe.Pointer, capacity C.size_t, n *C.size_t) (rc C.int) {
	defer guard(&rc)
	if n != nil {
		*n = 0
	}
	if p == nil || n == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_props_encode: props and len must not be NULL"))
	}
	if buf == nil && capacity > 0 {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_props_encode: buf is NULL but cap is %d", uint64(capacity)))
	}
	b, err := encodeProps(cProps{(*C.hamqtt_props)(unsafe.Pointer(p))})
	if err != nil {
		return fail(errInvalid, fmt.Errorf("hamqtt_props_encode: %w", err))
	}
	*n = C.size_t(len(b))
	if uint64(len(b)) > uint64(capacity) {
		return fail(errBuffer, newErr(errBuffer, "hamqtt_props_encode: the properties take %d bytes, the buffer has %d", len(b), uint64(capacity)))
	}
	copy(unsafe.Slice((*byte)(buf), len(b)), b)
	return statusOK
}

//export hamqtt_props_decode
func hamqtt_props_decode(buf *C.hqcapi_cvoid, n C.size_t, out **C.hamqtt_props) (rc C.int) {
	defer guard(&rc)
	if out != nil {
		*out = nil
	}
	if out == nil || (buf == nil && n > 0) {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_props_decode: out is NULL, or buf is NULL with len %d", uint64(n)))
	}
	if n > 4+maxVarInt {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_props_decode: %d bytes: more than a property list can take", uint64(n)))
	}
	var b []byte
	if n > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	}
	p, err := decodeProps(b)
	if err != nil {
		return fail(errInvalid, fmt.Errorf("hamqtt_props_decode: malformed properties: %w", err))
	}
	*out = p
	return statusOK
}

//export hamqtt_last_reason_code
func hamqtt_last_reason_code() C.int {
	defer guardVoid()
	return C.hqcapi_get_reason()
}

// deliveryReason is a publish outcome's MQTT 5 reason code: the broker's failure code, or its
// success code (0x10 no matching subscribers), 0 when it gave none.
func deliveryReason(d *core.Delivery) int {
	if d.Err != nil {
		return reasonOf(d.Err)
	}
	return int(d.ReasonCode)
}

// reasonOf is the MQTT 5 reason code an error carries, 0 when none.
func reasonOf(err error) int {
	var re *core.ReasonError
	if err != nil && errors.As(err, &re) {
		return int(re.Code)
	}
	return 0
}

// ---------------------------------------------------------------------------------------------
// CONNACKs

//export hamqtt_connack_props
func hamqtt_connack_props(h C.hamqtt_client, endpoint *C.hqcapi_cchar, out **C.hamqtt_props) (rc C.int) {
	defer guard(&rc)
	if out != nil {
		*out = nil
	}
	cl, err := clientOf(h)
	if err != nil {
		return fail(errHandle, err)
	}
	if out == nil {
		return fail(errInvalid, newErr(errInvalid, "hamqtt_connack_props: out is NULL"))
	}
	cl.mu.Lock()
	v5, generated := cl.cfg.Connection.ProtocolVersion == core.MQTT5, cl.generatedID
	clientID := cl.cfg.Connection.ClientID
	cl.mu.Unlock()
	if !v5 {
		return fail(errNotFound, newErr(errNotFound, "hamqtt_connack_props: %s speaks MQTT 3.1.1, whose CONNACK has no properties", cl))
	}
	name := optstr(endpoint)
	inst, _ := cl.current()
	var live []string
	if !inst.isClosed() {
		live = inst.c.LiveEndpoints()
	}
	var ca *core.Connack
	for _, ep := range live {
		if name == "" || ep == name {
			if ca = inst.c.Connack(ep); ca != nil {
				break
			}
		}
	}
	if ca == nil {
		what := "no live endpoint"
		if name != "" {
			what = fmt.Sprintf("endpoint %q is not live", name)
		}
		return fail(errNotFound, newErr(errNotFound, "hamqtt_connack_props: %s: %s", cl, what))
	}
	p, err := ownedProps(func(p *C.hamqtt_props) C.int {
		rc := C.int(statusOK)
		put := func(id int, v uint32) {
			if rc == statusOK {
				rc = C.hqcapi_props_put_int(p, C.int(id), C.uint32_t(v))
			}
		}
		putS := func(id int, s string) {
			if rc == statusOK && s != "" {
				rc = putBytes(p, id, []byte(s))
			}
		}
		flag := func(id int, ok bool) {
			if !ok {
				put(id, 0)
			}
		}
		if generated {
			putS(propAssignedID, clientID)
		} else {
			putS(propAssignedID, ca.AssignedClientID)
		}
		if ca.ServerKeepAlive > 0 {
			put(propServerKeepAlive, uint32(ca.ServerKeepAlive.Seconds()))
		}
		if ca.SessionExpiry != nil {
			put(propSessionExpiry, *ca.SessionExpiry)
		}
		putS(propResponseInfo, ca.ResponseInfo)
		putS(propServerReference, ca.ServerReference)
		putS(propReasonString, ca.ReasonString)
		if ca.ReceiveMaximum != 0 && ca.ReceiveMaximum != 65535 {
			put(propReceiveMaximum, uint32(ca.ReceiveMaximum))
		}
		if ca.TopicAliasMax != 0 {
			put(propTopicAliasMax, uint32(ca.TopicAliasMax))
		}
		if ca.MaximumQoS < 2 {
			put(propMaximumQoS, uint32(ca.MaximumQoS))
		}
		flag(propRetainAvailable, ca.RetainAvailable)
		if ca.MaximumPacket != 0 {
			put(propMaximumPacket, ca.MaximumPacket)
		}
		flag(propWildcardSubs, ca.WildcardSubs)
		flag(propSubIDsAvailable, ca.SubscriptionIDs)
		flag(propSharedSubs, ca.SharedSubs)
		for _, u := range ca.User {
			if rc == statusOK {
				rc = putUser(p, u.Key, u.Value)
			}
		}
		return rc
	})
	if err != nil {
		return fail(errInternal, fmt.Errorf("hamqtt_connack_props: %w", err))
	}
	*out = p
	return statusOK
}
