"""``ReasonCode`` and ``Properties`` as paho-mqtt 2.x passes them to VERSION2 callbacks.

hamqtt speaks MQTT 3.1.1, so reason codes are the MQTT 5 equivalents of 3.1.1 outcomes (as
paho-mqtt does for 3.1.1 connections) and :class:`Properties` is always empty. Setting a
property raises :class:`NotImplementedError` naming it: MQTT 5 properties cannot be sent.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, Optional, Union

from .packettypes import PacketTypes

__all__ = ["ReasonCode", "ReasonCodes", "Properties"]

_NAMES: Dict[int, str] = {
    0x00: "Success", 0x01: "Granted QoS 1", 0x02: "Granted QoS 2",
    0x04: "Disconnect with will message", 0x10: "No matching subscribers",
    0x11: "No subscription found", 0x18: "Continue authentication", 0x19: "Re-authenticate",
    0x80: "Unspecified error", 0x81: "Malformed packet", 0x82: "Protocol error",
    0x83: "Implementation specific error", 0x84: "Unsupported protocol version",
    0x85: "Client identifier not valid", 0x86: "Bad user name or password",
    0x87: "Not authorized", 0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned",
    0x8B: "Server shutting down", 0x8C: "Bad authentication method",
    0x8D: "Keep alive timeout", 0x8E: "Session taken over", 0x8F: "Topic filter invalid",
    0x90: "Topic name invalid", 0x91: "Packet identifier in use",
    0x92: "Packet identifier not found", 0x93: "Receive maximum exceeded",
    0x94: "Topic alias invalid", 0x95: "Packet too large", 0x96: "Message rate too high",
    0x97: "Quota exceeded", 0x98: "Administrative action", 0x99: "Payload format invalid",
    0x9A: "Retain not supported", 0x9B: "QoS not supported", 0x9C: "Use another server",
    0x9D: "Server moved", 0x9E: "Shared subscriptions not supported",
    0x9F: "Connection rate exceeded", 0xA0: "Maximum connect time",
    0xA1: "Subscription identifiers not supported",
    0xA2: "Wildcard subscriptions not supported",
}
_ZERO_NAMES = {PacketTypes.DISCONNECT: "Normal disconnection", PacketTypes.SUBACK: "Granted QoS 0"}


@functools.total_ordering
class ReasonCode:
    """An MQTT reason code: compares equal to its number and to its name."""

    __slots__ = ("packetType", "value")

    def __init__(self, packetType: int, aName: str = "Success", identifier: int = -1) -> None:
        self.packetType = packetType
        if identifier == -1:
            if packetType == PacketTypes.DISCONNECT and aName == "Success":
                aName = "Normal disconnection"
            if packetType == PacketTypes.SUBACK and aName == "Success":
                aName = "Granted QoS 0"
            value = self._value_of(packetType, aName)
        else:
            if identifier not in _NAMES:
                raise KeyError(f"unknown reason code {identifier}")
            value = identifier
        self.value = value

    @staticmethod
    def _value_of(packet_type: int, name: str) -> int:
        if _ZERO_NAMES.get(packet_type) == name:
            return 0
        for v, n in _NAMES.items():
            if n == name:
                return v
        raise KeyError(f"unknown reason code name {name!r}")

    def getName(self) -> str:
        """The reason code's name, e.g. ``"Success"``."""
        if self.value == 0 and self.packetType in _ZERO_NAMES:
            return _ZERO_NAMES[self.packetType]
        return _NAMES.get(self.value, f"Reason code {self.value}")

    def getId(self, name: str) -> int:
        """The number of a reason code name."""
        return self._value_of(self.packetType, name)

    def set(self, name: str) -> None:
        """Set the value from a name."""
        self.value = self.getId(name)

    @property
    def is_failure(self) -> bool:
        """True for codes 0x80 and above."""
        return self.value >= 0x80

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ReasonCode):
            return self.value == other.value
        if isinstance(other, int):
            return self.value == other
        if isinstance(other, str):
            return self.getName() == other
        return False

    def __lt__(self, other: Union["ReasonCode", int]) -> bool:
        if isinstance(other, ReasonCode):
            return self.value < other.value
        if isinstance(other, int):
            return self.value < other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return self.getName()

    def __repr__(self) -> str:
        return f"ReasonCode({PacketTypes.Names[self.packetType] if 0 < self.packetType < 16 else self.packetType}, {self.getName()!r})"

    def json(self) -> str:
        """The name, as paho-mqtt's ``json()``."""
        return self.getName()

    def pack(self) -> bytearray:
        """The one-byte wire form."""
        return bytearray([self.value])


ReasonCodes = ReasonCode  # deprecated alias, as in paho-mqtt


class Properties:
    """MQTT 5 properties: always empty here, since hamqtt speaks MQTT 3.1.1."""

    def __init__(self, packetType: int) -> None:
        object.__setattr__(self, "packetType", packetType)

    def __setattr__(self, name: str, value: Any) -> None:
        raise NotImplementedError(
            f"MQTT 5 property {name!r} cannot be set: hamqtt speaks MQTT 3.1.1, which has no properties"
        )

    def isEmpty(self) -> bool:
        """Always True."""
        return True

    def clear(self) -> None:
        """Nothing to clear."""

    def json(self) -> Dict[str, Any]:
        """An empty dict."""
        return {}

    def __str__(self) -> str:
        return "[]"

    __repr__ = __str__


def require_no_properties(properties: Optional[Any], where: str) -> None:
    """Raise if MQTT 5 properties were given (they cannot be sent over MQTT 3.1.1)."""
    if properties is None:
        return
    if isinstance(properties, Properties) and properties.isEmpty():
        return
    raise NotImplementedError(
        f"{where}: MQTT 5 properties are not supported (hamqtt speaks MQTT 3.1.1); pass properties=None"
    )
