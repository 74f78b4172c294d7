"""``ReasonCode`` as paho-mqtt 2.x's ``paho.mqtt.reasoncodes``, and ``Properties``.

hamqtt speaks MQTT 5 as well as MQTT 3.1.1. On an MQTT 5 connection reason codes are the ones
the broker sent; on an MQTT 3.1.1 connection they are the MQTT 5 equivalents of the 3.1.1
outcomes, as paho-mqtt gives them. A reason code's name depends on the packet type: 0 is
"Success" in a CONNACK or PUBACK, "Normal disconnection" in a DISCONNECT and "Granted QoS 0" in
a SUBACK.

:class:`~hamqtt.properties.Properties` lives in :mod:`hamqtt.properties`; it is importable from
here too, as the same class.
"""

from __future__ import annotations

import functools
import warnings
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .packettypes import PacketTypes
from .properties import Properties

__all__ = ["ReasonCode", "ReasonCodes", "Properties"]

_P = PacketTypes
_PUB_ACKS = (_P.PUBACK, _P.PUBREC)
# The packets that carry most failure codes.
_ACK_FAILURES = (_P.CONNACK, _P.PUBACK, _P.PUBREC, _P.SUBACK, _P.UNSUBACK, _P.DISCONNECT)
_CONN = (_P.CONNACK, _P.DISCONNECT)

# code, name, packet types that may carry it under that name (MQTT 5.0, table 2-6).
_TABLE: Tuple[Tuple[int, str, Tuple[int, ...]], ...] = (
    (0x00, "Success", (_P.CONNACK, _P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP, _P.UNSUBACK,
                       _P.AUTH)),
    (0x00, "Normal disconnection", (_P.DISCONNECT,)),
    (0x00, "Granted QoS 0", (_P.SUBACK,)),
    (0x01, "Granted QoS 1", (_P.SUBACK,)),
    (0x02, "Granted QoS 2", (_P.SUBACK,)),
    (0x04, "Disconnect with will message", (_P.DISCONNECT,)),
    (0x10, "No matching subscribers", _PUB_ACKS),
    (0x11, "No subscription found", (_P.UNSUBACK,)),
    (0x18, "Continue authentication", (_P.AUTH,)),
    (0x19, "Re-authenticate", (_P.AUTH,)),
    (0x80, "Unspecified error", _ACK_FAILURES),
    (0x81, "Malformed packet", _CONN),
    (0x82, "Protocol error", _CONN),
    (0x83, "Implementation specific error", _ACK_FAILURES),
    (0x84, "Unsupported protocol version", (_P.CONNACK,)),
    (0x85, "Client identifier not valid", (_P.CONNACK,)),
    (0x86, "Bad user name or password", (_P.CONNACK,)),
    (0x87, "Not authorized", _ACK_FAILURES),
    (0x88, "Server unavailable", (_P.CONNACK,)),
    (0x89, "Server busy", _CONN),
    (0x8A, "Banned", (_P.CONNACK,)),
    (0x8B, "Server shutting down", (_P.DISCONNECT,)),
    (0x8C, "Bad authentication method", _CONN),
    (0x8D, "Keep alive timeout", (_P.DISCONNECT,)),
    (0x8E, "Session taken over", (_P.DISCONNECT,)),
    (0x8F, "Topic filter invalid", (_P.SUBACK, _P.UNSUBACK, _P.DISCONNECT)),
    (0x90, "Topic name invalid", (_P.CONNACK, _P.PUBACK, _P.PUBREC, _P.DISCONNECT)),
    (0x91, "Packet identifier in use", (_P.PUBACK, _P.PUBREC, _P.SUBACK, _P.UNSUBACK)),
    (0x92, "Packet identifier not found", (_P.PUBREL, _P.PUBCOMP)),
    (0x93, "Receive maximum exceeded", (_P.DISCONNECT,)),
    (0x94, "Topic alias invalid", (_P.DISCONNECT,)),
    (0x95, "Packet too large", _CONN),
    (0x96, "Message rate too high", (_P.DISCONNECT,)),
    (0x97, "Quota exceeded", (_P.CONNACK, _P.PUBACK, _P.PUBREC, _P.SUBACK, _P.DISCONNECT)),
    (0x98, "Administrative action", (_P.DISCONNECT,)),
    # The specification allows 0x99 in a CONNACK (a will payload that does not match its
    # format indicator); paho-mqtt 2.x's table omits CONNACK.
    (0x99, "Payload format invalid", (_P.CONNACK, _P.PUBACK, _P.PUBREC, _P.DISCONNECT)),
    (0x9A, "Retain not supported", _CONN),
    (0x9B, "QoS not supported", _CONN),
    (0x9C, "Use another server", _CONN),
    (0x9D, "Server moved", _CONN),
    (0x9E, "Shared subscription not supported", (_P.SUBACK, _P.DISCONNECT)),
    (0x9F, "Connection rate exceeded", _CONN),
    (0xA0, "Maximum connect time", (_P.DISCONNECT,)),
    (0xA1, "Subscription identifiers not supported", (_P.SUBACK, _P.DISCONNECT)),
    (0xA2, "Wildcard subscription not supported", (_P.SUBACK, _P.DISCONNECT)),
)

_NAME_AT: Dict[Tuple[int, int], str] = {}
_CODE_OF: Dict[Tuple[int, str], int] = {}
_by_code: Dict[int, Dict[str, List[int]]] = {}
for _code, _name, _packets in _TABLE:
    _by_code.setdefault(_code, {})[_name] = list(_packets)
    for _packet in _packets:
        _NAME_AT[(_packet, _code)] = _name
        _CODE_OF[(_packet, _name)] = _code
del _code, _name, _packets, _packet


@functools.total_ordering
class ReasonCode:
    """An MQTT 5 reason code, as ``paho.mqtt.reasoncodes.ReasonCode``.

    ``ReasonCode(packetType, aName)`` looks the name up for that packet type, and
    ``ReasonCode(packetType, identifier=n)`` takes the number (``aName`` is then ignored). A
    name or number that the packet type cannot carry raises KeyError (an unknown name or
    number) or ValueError (a known number that has no name in this packet type).
    ``ReasonCode(PacketTypes.DISCONNECT)`` is "Normal disconnection".

    A reason code compares equal to its number, to its name and to a reason code with the
    same number, and orders by number. ``value`` is the number and ``packetType`` the packet
    type; :attr:`is_failure` is true from 0x80 up.
    """

    #: code -> {name: [packet types that use that name]}
    names: Mapping[int, Mapping[str, List[int]]] = MappingProxyType(_by_code)

    def __init__(self, packetType: int, aName: str = "Success", identifier: int = -1) -> None:
        self.packetType = packetType
        if identifier != -1:
            self.value = identifier
            self.getName()  # raises for a number this packet type cannot carry
            return
        if aName == "Success" and packetType == PacketTypes.DISCONNECT:
            aName = "Normal disconnection"
        self.set(aName)

    def getName(self) -> str:
        """The name of the code in this packet type, e.g. ``"Granted QoS 1"``."""
        name = _NAME_AT.get((self.packetType, self.value))
        if name is None:
            if self.value not in _by_code:
                raise KeyError(self.value)
            raise ValueError("Expected exactly one name, found []")
        return name

    def getId(self, name: str) -> int:
        """The number that ``name`` stands for in this packet type (KeyError if none)."""
        code = _CODE_OF.get((self.packetType, name))
        if code is None:
            raise KeyError(f"Reason code name not found: {name}")
        return code

    def set(self, name: str) -> None:
        """Set the value from a name valid in this packet type."""
        self.value = self.getId(name)

    def unpack(self, buffer: Union[bytes, bytearray, memoryview]) -> int:
        """Set the value from the byte at the start of ``buffer``; returns 1, the bytes used."""
        code = buffer[0]
        if (self.packetType, code) not in _NAME_AT:
            if code not in _by_code:
                raise KeyError(code)
            raise ValueError("Expected exactly one name, found []")
        self.value = code
        return 1

    @property
    def is_failure(self) -> bool:
        """True for the failure codes, 0x80 and above."""
        return self.value >= 0x80

    def __eq__(self, other: object) -> bool:
        if isinstance(other, int):
            return self.value == other
        if isinstance(other, str):
            return other == self.getName()
        if isinstance(other, ReasonCode):
            return self.value == other.value
        return False

    def __lt__(self, other: Any) -> bool:
        if isinstance(other, int):
            return self.value < other
        if isinstance(other, ReasonCode):
            return self.value < other.value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return self.getName()

    def __repr__(self) -> str:
        try:
            packet = PacketTypes.Names[self.packetType]
        except IndexError:
            packet = "Unknown"
        return f"ReasonCode({packet}, {self.getName()!r})"

    def json(self) -> str:
        """The name, as paho-mqtt's ``json()``."""
        return self.getName()

    def pack(self) -> bytearray:
        """The one-byte wire form."""
        return bytearray((self.value,))


class _ReasonCodesMeta(type):
    """Makes every ReasonCode an instance of the deprecated ReasonCodes, as in paho-mqtt."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, ReasonCode)


class ReasonCodes(ReasonCode, metaclass=_ReasonCodesMeta):
    """Deprecated name of :class:`ReasonCode`; constructing one warns (DeprecationWarning)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn("ReasonCodes is deprecated, use ReasonCode (singular) instead",
                      DeprecationWarning, stacklevel=2)
        super().__init__(*args, **kwargs)


def require_no_properties(properties: Optional[Any], where: str) -> None:
    """Raise NotImplementedError unless ``properties`` is None or an empty :class:`Properties`
    (for a call that cannot send MQTT 5 properties)."""
    if properties is None:
        return
    if isinstance(properties, Properties) and properties.isEmpty():
        return
    raise NotImplementedError(f"{where}: MQTT 5 properties are not supported here; pass properties=None")
