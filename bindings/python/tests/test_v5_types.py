"""hamqtt's MQTT 5 value types side by side with paho-mqtt 2.x's.

``hamqtt.properties.Properties``, ``hamqtt.subscribeoptions.SubscribeOptions`` and
``hamqtt.reasoncodes.ReasonCode`` are run over the same inputs as paho-mqtt's classes: the same
results (wire bytes, json(), str(), names) and the same exceptions. Pure Python: neither a broker
nor libhamqtt is used.

Known, deliberate differences (each asserted below):

* a property that a WILLMESSAGE cannot carry raises MQTTException (paho-mqtt: IndexError);
* unpack() raises MalformedPacket for every malformed encoding (paho-mqtt: also KeyError,
  IndexError, struct.error or UnicodeDecodeError), and accepts U+FEFF in strings, which MQTT 5
  allows (paho-mqtt rejects it);
* reason code 0x99 "Payload format invalid" is valid in a CONNACK, as the specification says.
"""

from __future__ import annotations

import random
import struct
import warnings
from typing import Any, Callable, Dict, List, Tuple

import pytest

paho_mqtt = pytest.importorskip("paho.mqtt")
if not getattr(paho_mqtt, "__version__", "0").startswith("2."):
    pytest.skip("the side-by-side tests need paho-mqtt 2.x", allow_module_level=True)

PAHO_VERSION = tuple(int(part) for part in paho_mqtt.__version__.split(".")[:2])

import paho.mqtt.properties as paho_props  # noqa: E402
import paho.mqtt.reasoncodes as paho_rc  # noqa: E402
import paho.mqtt.subscribeoptions as paho_so  # noqa: E402
from paho.mqtt.packettypes import PacketTypes as PahoPacketTypes  # noqa: E402

import hamqtt.properties as ham_props  # noqa: E402
import hamqtt.reasoncodes as ham_rc  # noqa: E402
import hamqtt.subscribeoptions as ham_so  # noqa: E402
from hamqtt.packettypes import PacketTypes  # noqa: E402

PACKET_TYPES = list(range(1, 16)) + [PacketTypes.WILLMESSAGE]
PROPERTY_NAMES = [name.replace(" ", "") for name in paho_props.Properties(1).names]

# Exceptions whose message is part of the compared behaviour; for the others (TypeError from
# different built-in operations, say) only the class name is compared.
_MESSAGE_COMPARED = ("MQTTException", "MalformedPacket", "AssertionError", "KeyError")


def outcome(fn: Callable[[], Any], messages: bool = True) -> Tuple[Any, ...]:
    """("ok", result) or ("raise", exception class name, message or None)."""
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - any exception is an outcome to compare
        name = type(e).__name__
        return ("raise", name, str(e) if messages and name in _MESSAGE_COMPARED else None)


def assign(props: Any, name: str, value: Any) -> None:
    setattr(props, name, value)


def both(packet_type: int) -> Tuple[Any, Any]:
    return paho_props.Properties(packet_type), ham_props.Properties(packet_type)


def allowed_packet(name: str) -> int:
    ident = paho_props.Properties(1).getIdentFromName(name)
    return paho_props.Properties(1).properties[ident][1][0]


def same_state(paho: Any, ham: Any) -> None:
    """Same observable content: pack(), json(), str(), isEmpty() and every attribute."""
    assert outcome(ham.pack, messages=False) == outcome(paho.pack, messages=False)
    assert ham.json() == paho.json()
    assert str(ham) == str(paho)
    assert ham.isEmpty() == paho.isEmpty()
    for name in PROPERTY_NAMES:
        assert hasattr(ham, name) == hasattr(paho, name), name
        if hasattr(paho, name):
            assert getattr(ham, name) == getattr(paho, name), name


# -- Properties: tables and lookups -----------------------------------------------------------


def test_tables_match_paho() -> None:
    paho, ham = both(PacketTypes.PUBLISH)
    assert ham.names == paho.names and list(ham.names) == list(paho.names)
    assert ham.types == paho.types
    assert set(ham.properties) == set(paho.properties)
    for ident, (kind, packets) in paho.properties.items():
        assert ham.properties[ident][0] == kind
        assert sorted(ham.properties[ident][1]) == sorted(packets), ident


def test_lookups_match_paho() -> None:
    paho, ham = both(PacketTypes.CONNECT)
    candidates = PROPERTY_NAMES + list(paho.names) + ["", "Bogus", "contenttype", "packetType"]
    for name in candidates:
        assert ham.getIdentFromName(name) == paho.getIdentFromName(name), name
        assert ham.allowsMultiple(name) == paho.allowsMultiple(name), name
    for ident in range(-1, 70):
        assert ham.getNameFromIdent(ident) == paho.getNameFromIdent(ident), ident


def test_same_class_from_reasoncodes_and_client() -> None:
    import hamqtt.client

    assert ham_rc.Properties is ham_props.Properties
    assert hamqtt.client.Properties is ham_props.Properties
    assert issubclass(ham_props.MalformedPacket, ham_props.MQTTException)
    assert ham_so.MQTTException is ham_props.MQTTException


def test_require_no_properties_still_works() -> None:
    ham_rc.require_no_properties(None, "publish()")
    empty = ham_props.Properties(PacketTypes.PUBLISH)
    ham_rc.require_no_properties(empty, "publish()")
    empty.ContentType = "x"
    with pytest.raises(NotImplementedError, match="publish\\(\\): MQTT 5 properties"):
        ham_rc.require_no_properties(empty, "publish()")
    with pytest.raises(NotImplementedError):
        ham_rc.require_no_properties(object(), "subscribe()")


# -- Properties: setting every property in every packet type ----------------------------------

SAMPLES: Dict[str, List[Any]] = {
    "PayloadFormatIndicator": [0, 1, True],
    "MessageExpiryInterval": [0, 1, 0xFFFFFFFF],
    "ContentType": ["", "text/plain", "ünïcødé ✓ 𝄞", b"raw"],
    "ResponseTopic": ["reply/to/me"],
    "CorrelationData": [b"", b"\x00\xff\x10", bytearray(b"xy"), b"z" * 300],
    "SubscriptionIdentifier": [1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, [2, 3]],
    "SessionExpiryInterval": [0, 0xFFFFFFFF],
    "AssignedClientIdentifier": ["client-1"],
    "ServerKeepAlive": [0, 65535],
    "AuthenticationMethod": ["SCRAM-SHA-1"],
    "AuthenticationData": [b"\x01" * 3, b""],
    "RequestProblemInformation": [0, 1],
    "WillDelayInterval": [0, 5],
    "RequestResponseInformation": [0, 1],
    "ResponseInformation": ["resp"],
    "ServerReference": ["other:1883"],
    "ReasonString": ["because"],
    "ReceiveMaximum": [1, 65535],
    "TopicAliasMaximum": [0, 65535],
    "TopicAlias": [1, 65535],
    "MaximumQoS": [0, 1],
    "RetainAvailable": [0, 1],
    "UserProperty": [("k", "v"), [("a", "b"), ("c", "d")], ("", ""), ("ü", "✓"), []],
    "MaximumPacketSize": [1, 268435455],
    "WildcardSubscriptionAvailable": [0, 1],
    "SubscriptionIdentifierAvailable": [0, 1],
    "SharedSubscriptionAvailable": [0, 1],
}


def test_samples_cover_every_property() -> None:
    assert sorted(SAMPLES) == sorted(PROPERTY_NAMES)


@pytest.mark.parametrize("packet_type", PACKET_TYPES)
@pytest.mark.parametrize("name", PROPERTY_NAMES)
def test_set_pack_unpack_each_property(packet_type: int, name: str) -> None:
    for value in SAMPLES[name]:
        paho, ham = both(packet_type)
        got = outcome(lambda: assign(ham, name, value))
        want = outcome(lambda: assign(paho, name, value))
        if packet_type == PacketTypes.WILLMESSAGE and want[0] == "raise":
            # paho-mqtt fails to name the packet type (IndexError); hamqtt raises as for others.
            assert want[1] == "IndexError"
            assert got == ("raise", "MQTTException",
                           f"Property {name} does not apply to packet type WillMessage")
            continue
        assert got == want, (name, value)
        same_state(paho, ham)
        if want[0] == "raise":
            continue
        wire = paho.pack()
        assert ham.pack() == wire
        for trailer in (b"", b"\x00\x01trailing"):
            paho2, ham2 = both(packet_type)
            assert ham2.unpack(wire + trailer)[1] == paho2.unpack(wire + trailer)[1] == len(wire)
            same_state(paho2, ham2)
            assert ham2.pack() == wire


def test_spaced_names_set_the_compressed_attribute() -> None:
    paho, ham = both(PacketTypes.PUBLISH)
    for props in (paho, ham):
        setattr(props, "Content Type", "a")
        setattr(props, "User Property", ("x", "y"))
        setattr(props, "UserProperty", ("z", "w"))
    same_state(paho, ham)
    assert ham.ContentType == "a" and ham.UserProperty == [("x", "y"), ("z", "w")]


def test_unknown_property_name() -> None:
    paho, ham = both(PacketTypes.PUBLISH)
    for name in ("Bogus", "contenttype", "QoS", "Content_Type"):
        assert outcome(lambda: assign(ham, name, 1)) == outcome(lambda: assign(paho, name, 1))
    assert outcome(lambda: ham.Bogus) == outcome(lambda: paho.Bogus)
    assert outcome(lambda: ham.ContentType, messages=False) == ("raise", "AttributeError", None)


def test_multiple_values_append() -> None:
    steps = [("UserProperty", ("a", "1")), ("UserProperty", [("b", "2"), ("c", "3")]),
             ("UserProperty", ("a", "4")), ("UserProperty", []),
             ("SubscriptionIdentifier", 7), ("SubscriptionIdentifier", [8, 9]),
             ("SubscriptionIdentifier", 268435455)]
    paho, ham = both(PacketTypes.PUBLISH)
    for name, value in steps:
        assign(paho, name, value)
        assign(ham, name, value)
        same_state(paho, ham)
    held = ham.UserProperty
    ham.UserProperty = ("d", "5")
    assert held == [("a", "1"), ("b", "2"), ("c", "3"), ("a", "4")]  # a new list, as paho


@pytest.mark.parametrize("name", ["ReceiveMaximum", "TopicAlias", "TopicAliasMaximum",
                                  "MaximumPacketSize", "SubscriptionIdentifier",
                                  "RequestResponseInformation", "RequestProblemInformation",
                                  "PayloadFormatIndicator", "ServerKeepAlive", "MaximumQoS",
                                  "MessageExpiryInterval"])
def test_value_ranges(name: str) -> None:
    values = [-1, 0, 1, 2, 255, 256, 65535, 65536, 268435455, 268435456, 2 ** 32 - 1, 2 ** 32,
              True, False, 1.0, 1.5, "1", None, [0], [70000]]
    packet_type = allowed_packet(name)
    for value in values:
        paho, ham = both(packet_type)
        assert outcome(lambda: assign(ham, name, value)) == \
            outcome(lambda: assign(paho, name, value)), (name, value)
        assert outcome(ham.pack, messages=False) == outcome(paho.pack, messages=False), (name, value)


WRONG_TYPES: List[Any] = [None, "x", "ab", b"x", bytearray(b"q"), 1.5, -1, 256, 70000, 2 ** 32,
                          ("a",), ("a", "b", "c"), ("a", 1), (b"a", b"b"), [1], [("a", "b")],
                          {"a": 1}, True, 3, "\u20ac" * 40000]


@pytest.mark.parametrize("name", PROPERTY_NAMES)
def test_wrong_types_fail_where_paho_fails(name: str) -> None:
    packet_type = allowed_packet(name)
    for value in WRONG_TYPES:
        paho, ham = both(packet_type)
        assert outcome(lambda: assign(ham, name, value)) == \
            outcome(lambda: assign(paho, name, value)), (name, value)
        assert outcome(ham.pack, messages=False) == outcome(paho.pack, messages=False), (name, value)
        assert ham.json() == paho.json() and str(ham) == str(paho)


def test_clear_del_and_isempty() -> None:
    paho, ham = both(PacketTypes.CONNACK)
    for props in (paho, ham):
        assert props.isEmpty() and props.json() == {} and str(props) == "[]"
        assert props.pack() == b"\x00"
        props.ReasonString = "r"
        props.UserProperty = ("a", "b")
        props.MaximumQoS = 1
    same_state(paho, ham)
    del paho.ReasonString
    del ham.ReasonString
    same_state(paho, ham)
    paho.clear()
    ham.clear()
    same_state(paho, ham)
    assert ham.isEmpty() and ham.packetType == PacketTypes.CONNACK


def test_default_equality_is_identity_as_paho() -> None:
    a, b = ham_props.Properties(PacketTypes.PUBLISH), ham_props.Properties(PacketTypes.PUBLISH)
    p, q = paho_props.Properties(PacketTypes.PUBLISH), paho_props.Properties(PacketTypes.PUBLISH)
    assert (a == b) == (p == q) and a == a and p == p
    assert len({a, b}) == len({p, q}) == 2


# -- Properties: random sets, packed and unpacked both ways -----------------------------------

_CHARS = "abcXYZ019/+#$ _-.éü✓€𝄞\u0001\u007f\u00a0\U0010fffd"


def _random_text(rng: random.Random) -> str:
    n = rng.choice([0, 1, 5, 20, 70, 300])
    return "".join(rng.choice(_CHARS) for _ in range(n))


def _random_value(rng: random.Random, name: str, kind: str) -> Any:
    if name in ("PayloadFormatIndicator", "RequestProblemInformation", "RequestResponseInformation"):
        return rng.randint(0, 1)
    if kind == "Byte":
        return rng.randint(0, 255)
    if kind == "Two Byte Integer":
        return rng.randint(0 if name in ("TopicAliasMaximum", "ServerKeepAlive") else 1, 65535)
    if kind == "Four Byte Integer":
        top = 268435455 if name == "MaximumPacketSize" else 0xFFFFFFFF
        return rng.choice([1, 127, 128, 65536, top, rng.randint(1, top)])
    if kind == "Variable Byte Integer":
        return rng.choice([1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455,
                           rng.randint(1, 268435455)])
    if kind == "Binary Data":
        return rng.randbytes(rng.choice([0, 1, 16, 300]))
    if kind == "UTF-8 Encoded String":
        return _random_text(rng)
    return (_random_text(rng), _random_text(rng))


def test_random_property_sets_pack_and_round_trip() -> None:
    rng = random.Random(20240531)
    reference = paho_props.Properties(1)
    for _ in range(1500):
        packet_type = rng.choice(PACKET_TYPES)
        allowed = [n for n in PROPERTY_NAMES
                   if packet_type in reference.properties[reference.getIdentFromName(n)][1]]
        paho, ham = both(packet_type)
        for name in rng.sample(allowed, rng.randint(0, len(allowed))):
            kind = reference.types[reference.properties[reference.getIdentFromName(name)][0]]
            repeats = rng.randint(1, 4) if reference.allowsMultiple(name) else 1
            for _ in range(repeats):
                value = _random_value(rng, name, kind)
                if reference.allowsMultiple(name) and rng.random() < 0.3:
                    value = [value]
                assign(paho, name, value)
                assign(ham, name, value)
        same_state(paho, ham)
        wire = ham.pack()
        assert wire == paho.pack()
        trailer = rng.randbytes(rng.randint(0, 5))
        paho2, ham2 = both(packet_type)
        _, used = ham2.unpack(wire + trailer)
        assert used == paho2.unpack(wire + trailer)[1] == len(wire)
        same_state(paho2, ham2)
        # and from a bytearray or a memoryview, as the engine may hand them over
        ham3 = ham_props.Properties(packet_type)
        ham3.unpack(memoryview(bytearray(wire + trailer)))
        assert ham3.pack() == wire and ham3.json() == paho2.json()


# -- Properties: unpacking what must not be accepted ------------------------------------------


def _prop(ident: int, payload: bytes) -> bytes:
    return bytes([ident]) + payload


def _props(*encoded: bytes) -> bytes:
    body = b"".join(encoded)
    return ham_props.VariableByteIntegers.encode(len(body)) + body


def _utf(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def test_unpack_disallowed_out_of_range_and_repeated_as_paho() -> None:
    cases = [
        (PacketTypes.PUBLISH, _props(_prop(19, b"\x00\x05"))),          # Server Keep Alive
        (PacketTypes.CONNACK, _props(_prop(35, b"\x00\x05"))),          # Topic Alias
        (PacketTypes.PUBACK, _props(_prop(3, _utf(b"ct")))),            # Content Type
        (PacketTypes.PUBLISH, _props(_prop(35, b"\x00\x00"))),          # Topic Alias 0
        (PacketTypes.CONNECT, _props(_prop(33, b"\x00\x00"))),          # Receive Maximum 0
        (PacketTypes.PUBLISH, _props(_prop(1, b"\x02"))),               # Payload Format 2
        (PacketTypes.PUBLISH, _props(_prop(11, b"\x00"))),              # Subscription Id 0
        (PacketTypes.PUBLISH, _props(_prop(3, _utf(b"a")), _prop(3, _utf(b"b")))),
        (PacketTypes.CONNACK, _props(_prop(36, b"\x01"), _prop(36, b"\x00"))),
    ]
    for packet_type, wire in cases:
        paho, ham = both(packet_type)
        want = outcome(lambda: paho.unpack(wire))
        got = outcome(lambda: ham.unpack(wire))
        assert want[:2] == got[:2] == ("raise", "MQTTException"), (packet_type, wire)
        if "more than once" not in str(got[2]):  # paho's repeat message names no property
            assert got == want


def test_unpack_malformed_raises_malformedpacket() -> None:
    good = _props(_prop(2, b"\x00\x00\x00\x07"), _prop(3, _utf(b"text")), _prop(9, _utf(b"\x01\x02")),
                  _prop(11, b"\x80\x01"), _prop(38, _utf(b"k") + _utf(b"v")), _prop(1, b"\x01"),
                  _prop(35, b"\x00\x02"))
    paho, ham = both(PacketTypes.PUBLISH)
    assert ham.unpack(good)[1] == paho.unpack(good)[1] == len(good)
    bad = [good[:n] for n in range(len(good))]  # every truncation
    bad += [
        b"\x80\x80\x80\x80\x01",                          # properties length longer than 4 bytes
        _props(_prop(3, _utf(b"\xff\xfe"))),              # not UTF-8
        _props(_prop(3, _utf(b"a\x00b"))),                # U+0000
        _props(_prop(38, _utf(b"k") + _utf(b"\xc3"))),    # truncated UTF-8 sequence
        _props(b"\x07\x00"),                              # unknown identifier
        _props(b"\x00"),                                  # identifier 0
        _props(_prop(11, b"\x80\x80\x80\x80\x01")),       # Subscription Identifier too long
        b"\x03" + _prop(2, b"\x00\x00\x00\x07"),          # value runs past the properties length
        b"\x03" + _prop(3, _utf(b"text")),
    ]
    for wire in bad:
        paho, ham = both(PacketTypes.PUBLISH)
        with pytest.raises(ham_props.MalformedPacket):
            ham.unpack(wire)
        if wire[:1] != b"\x03":  # paho-mqtt reads fixed-size values past the properties length
            assert outcome(lambda: paho.unpack(wire))[0] == "raise", wire


def test_unpack_accepts_bom_character() -> None:
    wire = _props(_prop(3, _utf("\ufeffx".encode())))
    ham = ham_props.Properties(PacketTypes.PUBLISH)
    assert ham.unpack(wire) == (ham, len(wire)) and ham.ContentType == "\ufeffx"
    paho = paho_props.Properties(PacketTypes.PUBLISH)
    assert outcome(lambda: paho.unpack(wire))[:2] == ("raise", "MalformedPacket")


def test_variable_byte_integers_match_paho() -> None:
    ham, paho = ham_props.VariableByteIntegers, paho_props.VariableByteIntegers
    rng = random.Random(7)
    values = [0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, True]
    values += [rng.randint(0, 268435455) for _ in range(2000)]
    for v in values:
        assert ham.encode(v) == paho.encode(v), v
        wire = paho.encode(v) + b"\x05\x06"
        assert ham.decode(wire) == paho.decode(wire), v
    for v in (-1, 268435456, 2 ** 40, "1", 1.5, None):
        assert outcome(lambda: ham.encode(v), messages=False) == \
            outcome(lambda: paho.encode(v), messages=False), v
    for wire in (b"", b"\x80", b"\xff\xff\xff", b"\x80\x80\x80\x80\x01", b"\xff\xff\xff\xff\x7f"):
        assert outcome(lambda: ham.decode(wire), messages=False) == ("raise", "MalformedPacket", None)
        if PAHO_VERSION >= (2, 2):  # earlier 2.x releases did not check the length
            assert outcome(lambda: paho.decode(wire), messages=False) == ("raise", "MalformedPacket", None)


# -- SubscribeOptions -------------------------------------------------------------------------


def _options_state(so: Any) -> Tuple[Any, ...]:
    return (outcome(so.pack), so.json(), str(so), repr(so), so.QoS, so.noLocal,
            so.retainAsPublished, so.retainHandling)


def test_subscribe_options_constants() -> None:
    for name in ("RETAIN_SEND_ON_SUBSCRIBE", "RETAIN_SEND_IF_NEW_SUB", "RETAIN_DO_NOT_SEND"):
        assert getattr(ham_so.SubscribeOptions, name) == getattr(paho_so.SubscribeOptions, name)
    assert ham_so.SubscribeOptions().names == paho_so.SubscribeOptions().names


def test_subscribe_options_construct_and_pack() -> None:
    qoss = [0, 1, 2, 3, -1, True, "1", None]
    flags = [False, True, 0, 1, 2, "", "x", None]
    handlings = [0, 1, 2, 3, -1, False, None]
    for qos in qoss:
        for no_local in flags:
            for rap in flags:
                for rh in handlings:
                    args = (qos, no_local, rap, rh)
                    ham = outcome(lambda: ham_so.SubscribeOptions(*args))
                    paho = outcome(lambda: paho_so.SubscribeOptions(*args))
                    assert ham[0] == paho[0], args
                    if ham[0] == "raise":
                        assert ham == paho, args
                    else:
                        assert _options_state(ham[1]) == _options_state(paho[1]), args
    kw = dict(qos=2, noLocal=True, retainAsPublished=True,
              retainHandling=ham_so.SubscribeOptions.RETAIN_DO_NOT_SEND)
    assert _options_state(ham_so.SubscribeOptions(**kw)) == _options_state(paho_so.SubscribeOptions(**kw))
    assert _options_state(ham_so.SubscribeOptions()) == _options_state(paho_so.SubscribeOptions())


def test_subscribe_options_unpack_every_byte() -> None:
    for byte in range(256):
        ham, paho = ham_so.SubscribeOptions(), paho_so.SubscribeOptions()
        got = outcome(lambda: ham.unpack(bytes([byte, 0xFF])))
        assert got == outcome(lambda: paho.unpack(bytes([byte, 0xFF]))), byte
        if got[0] == "ok":
            assert got[1] == 1
            assert _options_state(ham) == _options_state(paho), byte
            assert ham.pack()[0] == byte & 0x3F


def test_subscribe_options_attributes() -> None:
    ham, paho = ham_so.SubscribeOptions(), paho_so.SubscribeOptions()
    for name in ("qos", "names", "Bogus", "retain_handling"):
        got = outcome(lambda: assign(ham, name, 1))
        assert got == outcome(lambda: assign(paho, name, 1)) and got[1] == "MQTTException", name
    for name, value in (("QoS", 3), ("retainHandling", 3), ("QoS", 1), ("noLocal", 1),
                        ("retainHandling", 2), ("retainAsPublished", "yes")):
        assign(ham, name, value)
        assign(paho, name, value)
        assert _options_state(ham) == _options_state(paho), (name, value)


# -- ReasonCode -------------------------------------------------------------------------------

_SPEC_EXTRA = {(PacketTypes.CONNACK, 0x99)}  # valid in hamqtt (the specification), not in paho
RC_PACKET_TYPES = list(range(-1, 17)) + [PacketTypes.WILLMESSAGE]


def _rc_state(rc: Any) -> Tuple[Any, ...]:
    return (rc.value, rc.packetType, rc.getName(), str(rc), repr(rc), rc.json(), rc.is_failure,
            rc.pack(), type(rc.pack()))


def test_reason_code_names_match_paho() -> None:
    # (an instance's: paho-mqtt 2.0 and 2.1 have no class-level table)
    ham, paho = ham_rc.ReasonCode.names, paho_rc.ReasonCode(PacketTypes.PUBACK).names
    assert sorted(ham) == sorted(paho)
    for code in paho:
        assert list(ham[code]) == list(paho[code]), code
        for name, packets in paho[code].items():
            extra = {p for p, c in _SPEC_EXTRA if c == code}
            assert set(ham[code][name]) == set(packets) | extra, (code, name)


def test_reason_code_by_identifier() -> None:
    for packet_type in RC_PACKET_TYPES:
        for code in range(256):
            got = outcome(lambda: ham_rc.ReasonCode(packet_type, identifier=code))
            if (packet_type, code) in _SPEC_EXTRA:
                assert got[0] == "ok" and got[1].getName() == "Payload format invalid"
                continue
            want = outcome(lambda: paho_rc.ReasonCode(packet_type, identifier=code))
            assert got[0] == want[0], (packet_type, code)
            if got[0] == "ok":
                assert _rc_state(got[1]) == _rc_state(want[1]), (packet_type, code)
            else:
                assert got == want, (packet_type, code)


def test_reason_code_by_name() -> None:
    names = {n for by_name in paho_rc.ReasonCode(PacketTypes.PUBACK).names.values() for n in by_name}
    names |= {"success", "Bogus", ""}
    for packet_type in RC_PACKET_TYPES:
        for name in sorted(names):
            got = outcome(lambda: ham_rc.ReasonCode(packet_type, name))
            if got[0] == "ok" and (packet_type, got[1].value) in _SPEC_EXTRA:
                continue
            want = outcome(lambda: paho_rc.ReasonCode(packet_type, name))
            assert got[0] == want[0], (packet_type, name)
            if got[0] == "raise":
                assert got == want, (packet_type, name)
            else:
                assert _rc_state(got[1]) == _rc_state(want[1]), (packet_type, name)
                assert outcome(lambda: got[1].getId(name)) == outcome(lambda: want[1].getId(name))
        got = outcome(lambda: ham_rc.ReasonCode(packet_type))
        want = outcome(lambda: paho_rc.ReasonCode(packet_type))
        assert got[0] == want[0], packet_type
        if got[0] == "ok":
            assert _rc_state(got[1]) == _rc_state(want[1])
        else:
            assert got == want


def test_reason_code_zero_per_packet_type() -> None:
    assert ham_rc.ReasonCode(PacketTypes.CONNACK, identifier=0).getName() == "Success"
    assert ham_rc.ReasonCode(PacketTypes.DISCONNECT).getName() == "Normal disconnection"
    assert ham_rc.ReasonCode(PacketTypes.DISCONNECT, "Success") == "Normal disconnection"
    assert ham_rc.ReasonCode(PacketTypes.SUBACK, identifier=0) == "Granted QoS 0"
    assert ham_rc.ReasonCode(PacketTypes.PUBACK, identifier=0x97) == "Quota exceeded"
    with pytest.raises(KeyError):
        ham_rc.ReasonCode(PacketTypes.SUBACK)  # "Success" is no SUBACK name, as in paho


def test_reason_code_comparisons() -> None:
    samples = [(PacketTypes.PUBACK, 0), (PacketTypes.DISCONNECT, 0), (PacketTypes.SUBACK, 0),
               (PacketTypes.SUBACK, 1), (PacketTypes.SUBACK, 0x80), (PacketTypes.CONNACK, 0x87),
               (PacketTypes.PUBACK, 0x87), (PacketTypes.DISCONNECT, 0x8E),
               (PacketTypes.AUTH, 0x18)]
    others: List[Any] = [0, 1, 0x80, 0x87, 0xFF, -1, True, False, 1.0, "Success", "Granted QoS 1",
                         "Not authorized", "Unspecified error", "", None, b"Success"]
    ops: List[Callable[[Any, Any], Any]] = [lambda a, b: a == b, lambda a, b: a != b,
                                            lambda a, b: a < b, lambda a, b: a <= b,
                                            lambda a, b: a > b, lambda a, b: a >= b,
                                            lambda a, b: b == a, lambda a, b: b < a]
    for pt, code in samples:
        ham = ham_rc.ReasonCode(pt, identifier=code)
        paho = paho_rc.ReasonCode(pt, identifier=code)
        for other_pt, other_code in samples:
            ham_other = ham_rc.ReasonCode(other_pt, identifier=other_code)
            paho_other = paho_rc.ReasonCode(other_pt, identifier=other_code)
            for op in ops:
                assert outcome(lambda: op(ham, ham_other)) == outcome(lambda: op(paho, paho_other))
        for other in others:
            for op in ops:
                assert outcome(lambda: op(ham, other), messages=False) == \
                    outcome(lambda: op(paho, other), messages=False), (pt, code, other)
    assert hash(ham_rc.ReasonCode(PacketTypes.PUBACK, identifier=0x10)) == hash(0x10)
    assert int(ham_rc.ReasonCode(PacketTypes.PUBACK, identifier=0x10)) == 0x10


def test_reason_code_set_unpack_getid() -> None:
    for packet_type in range(1, 16):
        for code in range(256):
            ham = ham_rc.ReasonCode(PacketTypes.PUBACK)
            paho = paho_rc.ReasonCode(PacketTypes.PUBACK)
            ham.packetType = paho.packetType = packet_type
            got = outcome(lambda: ham.unpack(bytes([code, 0])))
            if (packet_type, code) in _SPEC_EXTRA:
                assert got == ("ok", 1) and ham.value == code
                continue
            assert got == outcome(lambda: paho.unpack(bytes([code, 0]))), (packet_type, code)
            assert ham.value == paho.value
    for name in ("Success", "Bogus", "Quota exceeded", "Granted QoS 1"):
        ham, paho = ham_rc.ReasonCode(PacketTypes.PUBACK), paho_rc.ReasonCode(PacketTypes.PUBACK)
        assert outcome(lambda: ham.getId(name)) == outcome(lambda: paho.getId(name))
        assert outcome(lambda: ham.set(name)) == outcome(lambda: paho.set(name))
        assert ham.value == paho.value
    ham, paho = ham_rc.ReasonCode(PacketTypes.PUBACK), paho_rc.ReasonCode(PacketTypes.PUBACK)
    ham.value = paho.value = 0x42  # no such code
    for method in ("getName", "__str__", "json", "__repr__"):
        assert outcome(getattr(ham, method)) == outcome(getattr(paho, method)), method


def test_reason_codes_is_deprecated_alias() -> None:
    for module in (ham_rc, paho_rc):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rc = module.ReasonCodes(PacketTypes.PUBACK, "Quota exceeded")
        assert [w.category for w in caught] == [DeprecationWarning]
        assert "ReasonCodes is deprecated" in str(caught[0].message)
        assert rc == 0x97 and isinstance(rc, module.ReasonCode)
        assert isinstance(module.ReasonCode(PacketTypes.PUBACK), module.ReasonCodes)


def test_packet_types_match_paho() -> None:
    for name in ("CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
                 "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",
                 "DISCONNECT", "AUTH", "WILLMESSAGE"):
        assert getattr(PacketTypes, name) == getattr(PahoPacketTypes, name)
    assert tuple(PacketTypes.Names) == tuple(PahoPacketTypes.Names)

