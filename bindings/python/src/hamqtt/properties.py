"""MQTT 5 properties with the API of paho-mqtt 2.x's ``paho.mqtt.properties``.

A :class:`Properties` object carries the properties of one packet type. Each property is an
attribute named as the MQTT 5 specification names it without the spaces
(``"Content Type"`` is ``ContentType``); an attribute that was never set does not exist
(``getattr(props, "ContentType", None)`` is the way to read an optional one)::

    props = Properties(PacketTypes.PUBLISH)
    props.ContentType = "application/json"
    props.UserProperty = ("tenant", "a")      # User Property appends
    props.UserProperty = [("x", "1"), ("y", "2")]
    props.UserProperty                        # [("tenant", "a"), ("x", "1"), ("y", "2")]
    props.pack()                              # the wire form, length prefix included

Setting a property that the packet type cannot carry, an unknown name or a value out of the
specification's range raises :class:`MQTTException`. As in paho-mqtt, the other type errors
(``props.ContentType = 5``) only surface when the properties are packed. :meth:`Properties.unpack`
raises :class:`MalformedPacket` for bytes that are not a valid encoding.
"""

from __future__ import annotations

import operator
import struct
from typing import Any, Dict, FrozenSet, List, Optional, Tuple, Union

from .packettypes import PacketTypes

__all__ = ["Properties", "VariableByteIntegers", "MQTTException", "MalformedPacket"]


class MQTTException(Exception):
    """An MQTT level error, as ``paho.mqtt.MQTTException``: for instance a property that the
    packet type cannot carry, or a property value out of range."""


class MalformedPacket(MQTTException):
    """Bytes that are not a valid MQTT 5 encoding (``paho.mqtt.exception.MalformedPacket``)."""


_VBI_MAX = 268_435_455

Buffer = Union[bytes, bytearray, memoryview]


class VariableByteIntegers:
    """The MQTT variable byte integer (1 to 4 bytes, 7 bits each, least significant first)."""

    @staticmethod
    def encode(x: int) -> bytes:
        """The encoding of ``0 <= x <= 268435455``; ValueError out of that range, TypeError
        for a value that is not an integer."""
        n = operator.index(x)
        if not 0 <= n <= _VBI_MAX:
            raise ValueError(f"Value {x!r} must be in range 0-{_VBI_MAX}")
        out = bytearray()
        while True:
            n, digit = divmod(n, 128)
            if n:
                out.append(digit | 0x80)
            else:
                out.append(digit)
                return bytes(out)

    @staticmethod
    def decode(buffer: Buffer) -> Tuple[int, int]:
        """``(value, bytes used)`` of the integer at the start of ``buffer``.

        Raises :class:`MalformedPacket` when the buffer ends inside the integer or the integer
        is longer than four bytes.
        """
        value = 0
        for i in range(4):
            if i >= len(buffer):
                raise MalformedPacket("Variable Byte Integer is truncated")
            digit = buffer[i]
            value |= (digit & 0x7F) << (7 * i)
            if not digit & 0x80:
                return value, i + 1
        raise MalformedPacket("Variable Byte Integer is longer than four bytes")


# Data types of the specification (section 2.2.2.2), in the order paho-mqtt's ``types`` lists them.
_TYPE_NAMES = ("Byte", "Two Byte Integer", "Four Byte Integer", "Variable Byte Integer",
               "Binary Data", "UTF-8 Encoded String", "UTF-8 String Pair")
_BYTE, _INT16, _INT32, _VBI, _BINARY, _STRING, _PAIR = range(len(_TYPE_NAMES))

_P = PacketTypes
_WILL = _P.WILLMESSAGE
_ACKS = (_P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP)

# identifier, name, data type, packet types that may carry it (MQTT 5.0, table 2-4).
_SPEC: Tuple[Tuple[int, str, int, Tuple[int, ...]], ...] = (
    (1, "Payload Format Indicator", _BYTE, (_P.PUBLISH, _WILL)),
    (2, "Message Expiry Interval", _INT32, (_P.PUBLISH, _WILL)),
    (3, "Content Type", _STRING, (_P.PUBLISH, _WILL)),
    (8, "Response Topic", _STRING, (_P.PUBLISH, _WILL)),
    (9, "Correlation Data", _BINARY, (_P.PUBLISH, _WILL)),
    (11, "Subscription Identifier", _VBI, (_P.PUBLISH, _P.SUBSCRIBE)),
    (17, "Session Expiry Interval", _INT32, (_P.CONNECT, _P.CONNACK, _P.DISCONNECT)),
    (18, "Assigned Client Identifier", _STRING, (_P.CONNACK,)),
    (19, "Server Keep Alive", _INT16, (_P.CONNACK,)),
    (21, "Authentication Method", _STRING, (_P.CONNECT, _P.CONNACK, _P.AUTH)),
    (22, "Authentication Data", _BINARY, (_P.CONNECT, _P.CONNACK, _P.AUTH)),
    (23, "Request Problem Information", _BYTE, (_P.CONNECT,)),
    (24, "Will Delay Interval", _INT32, (_WILL,)),
    (25, "Request Response Information", _BYTE, (_P.CONNECT,)),
    (26, "Response Information", _STRING, (_P.CONNACK,)),
    (28, "Server Reference", _STRING, (_P.CONNACK, _P.DISCONNECT)),
    (31, "Reason String", _STRING,
     (_P.CONNACK,) + _ACKS + (_P.SUBACK, _P.UNSUBACK, _P.DISCONNECT, _P.AUTH)),
    (33, "Receive Maximum", _INT16, (_P.CONNECT, _P.CONNACK)),
    (34, "Topic Alias Maximum", _INT16, (_P.CONNECT, _P.CONNACK)),
    (35, "Topic Alias", _INT16, (_P.PUBLISH,)),
    (36, "Maximum QoS", _BYTE, (_P.CONNACK,)),
    (37, "Retain Available", _BYTE, (_P.CONNACK,)),
    (38, "User Property", _PAIR,
     (_P.CONNECT, _P.CONNACK, _P.PUBLISH) + _ACKS + (_P.SUBSCRIBE, _P.SUBACK, _P.UNSUBSCRIBE,
                                                     _P.UNSUBACK, _P.DISCONNECT, _P.AUTH, _WILL)),
    (39, "Maximum Packet Size", _INT32, (_P.CONNECT, _P.CONNACK)),
    (40, "Wildcard Subscription Available", _BYTE, (_P.CONNACK,)),
    (41, "Subscription Identifier Available", _BYTE, (_P.CONNACK,)),
    (42, "Shared Subscription Available", _BYTE, (_P.CONNACK,)),
)

# Lookup tables derived from _SPEC; attribute names are the names without spaces.
_NAME_OF_ID: Dict[int, str] = {ident: name for ident, name, _, _ in _SPEC}
_ATTR_OF_ID: Dict[int, str] = {ident: name.replace(" ", "") for ident, name, _, _ in _SPEC}
_ID_OF_ATTR: Dict[str, int] = {attr: ident for ident, attr in _ATTR_OF_ID.items()}
_KIND_OF_ID: Dict[int, int] = {ident: kind for ident, _, kind, _ in _SPEC}
_PACKETS_OF_ATTR: Dict[str, FrozenSet[int]] = {
    name.replace(" ", ""): frozenset(packets) for _, name, _, packets in _SPEC}
_ATTRS_IN_ORDER: Tuple[str, ...] = tuple(_ATTR_OF_ID[ident] for ident, _, _, _ in _SPEC)
_MULTIPLE: FrozenSet[str] = frozenset({"SubscriptionIdentifier", "UserProperty"})
_RANGES: Dict[str, Tuple[int, int]] = {
    "ReceiveMaximum": (1, 65535), "TopicAlias": (1, 65535), "TopicAliasMaximum": (0, 65535),
    "MaximumPacketSize": (1, _VBI_MAX), "SubscriptionIdentifier": (1, _VBI_MAX),
}
_BOOLEAN_BYTES: FrozenSet[str] = frozenset(
    {"RequestResponseInformation", "RequestProblemInformation", "PayloadFormatIndicator"})
_OWN_ATTRS: FrozenSet[str] = frozenset({"packetType", "types", "names", "properties"})
_UNKNOWN_NAME = "Property name must be one of " + str({name: None for _, name, _, _ in _SPEC}.keys())


def _packet_name(packet_type: Any) -> str:
    if packet_type == PacketTypes.WILLMESSAGE:
        return "WillMessage"
    try:
        return PacketTypes.Names[packet_type]
    except (IndexError, TypeError):
        return str(packet_type)


def _utf8(value: Any) -> bytes:
    """A length-prefixed UTF-8 string: ``str`` is encoded, ``bytes`` written as they are."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode("utf-8")
    else:
        raise TypeError(f"a UTF-8 string property must be str or bytes, not {type(value).__name__}")
    return struct.pack("!H", len(data)) + data


def _encode_value(kind: int, value: Any) -> bytes:
    if kind == _BYTE:
        return bytes((value,))
    if kind == _INT16:
        return struct.pack("!H", value)
    if kind == _INT32:
        return struct.pack("!L", value)
    if kind == _VBI:
        return VariableByteIntegers.encode(value)
    if kind == _BINARY:
        data = bytes(memoryview(value))
        return struct.pack("!H", len(data)) + data
    if kind == _STRING:
        return _utf8(value)
    return _utf8(value[0]) + _utf8(value[1])


def _read_string(view: memoryview, pos: int, end: int) -> Tuple[str, int]:
    raw, pos = _read_binary(view, pos, end)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MalformedPacket(f"UTF-8 string property is not valid UTF-8: {e}") from None
    if "\x00" in text:
        raise MalformedPacket("UTF-8 string property contains U+0000")
    return text, pos


def _read_binary(view: memoryview, pos: int, end: int) -> Tuple[bytes, int]:
    if pos + 2 > end:
        raise MalformedPacket("property length prefix runs past the properties")
    (n,) = struct.unpack_from("!H", view, pos)
    pos += 2
    if pos + n > end:
        raise MalformedPacket("property value runs past the properties")
    return bytes(view[pos:pos + n]), pos + n


def _decode_value(kind: int, view: memoryview, pos: int, end: int) -> Tuple[Any, int]:
    if kind == _BYTE:
        if pos + 1 > end:
            raise MalformedPacket("Byte property runs past the properties")
        return view[pos], pos + 1
    if kind == _INT16 or kind == _INT32:
        size, fmt = (2, "!H") if kind == _INT16 else (4, "!L")
        if pos + size > end:
            raise MalformedPacket("integer property runs past the properties")
        return struct.unpack_from(fmt, view, pos)[0], pos + size
    if kind == _VBI:
        value, used = VariableByteIntegers.decode(view[pos:end])
        return value, pos + used
    if kind == _BINARY:
        return _read_binary(view, pos, end)
    if kind == _STRING:
        return _read_string(view, pos, end)
    key, pos = _read_string(view, pos, end)
    text, pos = _read_string(view, pos, end)
    return (key, text), pos


class Properties:
    """The MQTT 5 properties of one packet type, as ``paho.mqtt.properties.Properties``.

    ``packetType`` is a :class:`~hamqtt.packettypes.PacketTypes` value
    (``PacketTypes.WILLMESSAGE`` for the will's properties). Properties are attributes named
    as in :attr:`names` without the spaces; one that was not set raises AttributeError when
    read. ``UserProperty`` and ``SubscriptionIdentifier`` may occur more than once: assigning
    one value (or a list of values) appends to the list that reading returns.

    Objects compare by identity, as paho-mqtt's do.
    """

    #: Names of the data types; :attr:`properties` refers to them by index.
    types: List[str] = list(_TYPE_NAMES)
    #: Property name (with spaces, as in the specification) -> identifier.
    names: Dict[str, int] = {name: ident for ident, name, _, _ in _SPEC}
    #: Identifier -> (index in :attr:`types`, packet types that may carry it).
    properties: Dict[int, Tuple[int, List[int]]] = {
        ident: (kind, list(packets)) for ident, _, kind, packets in _SPEC}

    packetType: int
    PayloadFormatIndicator: int
    MessageExpiryInterval: int
    ContentType: str
    ResponseTopic: str
    CorrelationData: bytes
    #: Assign an int (or a list of ints); reads as the list of identifiers.
    SubscriptionIdentifier: Any
    SessionExpiryInterval: int
    AssignedClientIdentifier: str
    ServerKeepAlive: int
    AuthenticationMethod: str
    AuthenticationData: bytes
    RequestProblemInformation: int
    WillDelayInterval: int
    RequestResponseInformation: int
    ResponseInformation: str
    ServerReference: str
    ReasonString: str
    ReceiveMaximum: int
    TopicAliasMaximum: int
    TopicAlias: int
    MaximumQoS: int
    RetainAvailable: int
    #: Assign a (name, value) tuple (or a list of them); reads as the list of tuples.
    UserProperty: Any
    MaximumPacketSize: int
    WildcardSubscriptionAvailable: int
    SubscriptionIdentifierAvailable: int
    SharedSubscriptionAvailable: int

    def __init__(self, packetType: int) -> None:
        object.__setattr__(self, "packetType", packetType)

    def __setattr__(self, name: str, value: Any) -> None:
        attr = name.replace(" ", "")
        if attr not in _ID_OF_ATTR:
            if attr in _OWN_ATTRS:
                object.__setattr__(self, attr, value)
                return
            raise MQTTException(_UNKNOWN_NAME)
        if self.packetType not in _PACKETS_OF_ATTR[attr]:
            raise MQTTException(
                f"Property {attr} does not apply to packet type {_packet_name(self.packetType)}")
        if not isinstance(value, list):
            bounds = _RANGES.get(attr)
            if bounds is not None:
                if value < bounds[0] or value > bounds[1]:
                    raise MQTTException(
                        f"{attr} property value must be in the range {bounds[0]}-{bounds[1]}")
            elif attr in _BOOLEAN_BYTES and value != 0 and value != 1:
                raise MQTTException(f"{attr} property value must be 0 or 1")
        if attr in _MULTIPLE:
            added = list(value) if isinstance(value, list) else [value]
            previous = self.__dict__.get(attr)
            value = added if previous is None else previous + added
        object.__setattr__(self, attr, value)

    def allowsMultiple(self, compressedName: str) -> bool:
        """True for the properties that may occur more than once (name without spaces)."""
        return compressedName in _MULTIPLE

    def getIdentFromName(self, compressedName: str) -> int:
        """The identifier of a property named without spaces (``"ContentType"`` -> 3), or -1."""
        return _ID_OF_ATTR.get(compressedName, -1)

    def getNameFromIdent(self, identifier: int) -> Optional[str]:
        """The name (with spaces) of a property identifier, or None for an unknown one."""
        return _NAME_OF_ID.get(identifier)

    def _present(self) -> List[str]:
        d = self.__dict__
        return [attr for attr in _ATTRS_IN_ORDER if attr in d]

    def isEmpty(self) -> bool:
        """True when no property is set."""
        d = self.__dict__
        return not any(attr in d for attr in _ATTRS_IN_ORDER)

    def clear(self) -> None:
        """Remove every property."""
        d = self.__dict__
        for attr in _ATTRS_IN_ORDER:
            d.pop(attr, None)

    def json(self) -> Dict[str, Any]:
        """The properties as a dict by name without spaces (``CorrelationData`` bytes in hex)."""
        out: Dict[str, Any] = {}
        for attr in self._present():
            value = self.__dict__[attr]
            if attr == "CorrelationData" and isinstance(value, bytes):
                value = value.hex()
            out[attr] = value
        return out

    def __str__(self) -> str:
        return "[" + ", ".join(f"{attr} : {self.__dict__[attr]}" for attr in self._present()) + "]"

    def pack(self) -> bytes:
        """The MQTT 5 wire form: the properties length (variable byte integer), then each
        property in identifier order.

        Values of the wrong type raise TypeError, ValueError or ``struct.error`` here, as in
        paho-mqtt.
        """
        body = bytearray()
        for attr in self._present():
            ident = _ID_OF_ATTR[attr]
            kind = _KIND_OF_ID[ident]
            value = self.__dict__[attr]
            for item in (value if attr in _MULTIPLE else (value,)):
                body.append(ident)  # every identifier is below 128: a one-byte integer
                body += _encode_value(kind, item)
        return VariableByteIntegers.encode(len(body)) + bytes(body)

    def unpack(self, buffer: Buffer) -> Tuple["Properties", int]:
        """Replace the properties with those encoded at the start of ``buffer``.

        Returns ``(self, number of bytes used)``. Raises :class:`MalformedPacket` for an
        invalid encoding, and :class:`MQTTException` for a property this packet type cannot
        carry, a value out of range, or a repeated property that may occur only once.
        """
        self.clear()
        view = memoryview(buffer).cast("B")
        length, pos = VariableByteIntegers.decode(view)
        end = pos + length
        if end > len(view):
            raise MalformedPacket(f"properties length {length} runs past the end of the data")
        while pos < end:
            ident, used = VariableByteIntegers.decode(view[pos:end])
            pos += used
            kind = _KIND_OF_ID.get(ident)
            if kind is None:
                raise MalformedPacket(f"unknown property identifier {ident}")
            value, pos = _decode_value(kind, view, pos, end)
            attr = _ATTR_OF_ID[ident]
            if attr not in _MULTIPLE and attr in self.__dict__:
                raise MQTTException(f"Property '{attr}' must not exist more than once")
            setattr(self, attr, value)
        return self, end
