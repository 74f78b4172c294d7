"""MQTT 5 subscription options with the API of paho-mqtt 2.x's ``paho.mqtt.subscribeoptions``.

One :class:`SubscribeOptions` is the options byte that follows a topic filter in an MQTT 5
SUBSCRIBE packet: the maximum QoS, No Local, Retain As Published and Retain Handling.
"""

from __future__ import annotations

from typing import Any, Dict, List, Union

from .properties import MQTTException

__all__ = ["SubscribeOptions", "MQTTException"]


class SubscribeOptions:
    """The subscription options of one topic filter, as ``paho.mqtt.subscribeoptions.SubscribeOptions``.

    * ``QoS``: the maximum QoS, 0, 1 or 2 (given as ``qos`` to the constructor);
    * ``noLocal``: when true the broker does not send this client its own publications;
    * ``retainAsPublished``: when true the retain flag of forwarded messages is kept as the
      publisher set it;
    * ``retainHandling``: when the broker sends retained messages: on every subscribe
      (:attr:`RETAIN_SEND_ON_SUBSCRIBE`), only for a new subscription
      (:attr:`RETAIN_SEND_IF_NEW_SUB`) or never (:attr:`RETAIN_DO_NOT_SEND`).

    The defaults give MQTT 3.1.1's behaviour. Only these four attributes can be set (others
    raise :class:`MQTTException`); the values are checked (AssertionError, as paho-mqtt) by the
    constructor, :meth:`pack` and :meth:`unpack`.
    """

    RETAIN_SEND_ON_SUBSCRIBE: int = 0
    RETAIN_SEND_IF_NEW_SUB: int = 1
    RETAIN_DO_NOT_SEND: int = 2

    #: The attributes that can be set.
    names: List[str] = ["QoS", "noLocal", "retainAsPublished", "retainHandling"]

    QoS: int
    noLocal: bool
    retainAsPublished: bool
    retainHandling: int

    def __init__(self, qos: int = 0, noLocal: bool = False, retainAsPublished: bool = False,
                 retainHandling: int = RETAIN_SEND_ON_SUBSCRIBE) -> None:
        self.QoS = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
        self._check()

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in SubscribeOptions.names:
            raise MQTTException(f"{name} Attribute name must be one of {SubscribeOptions.names}")
        object.__setattr__(self, name, value)

    def _check(self) -> None:
        if self.retainHandling not in (0, 1, 2):
            raise AssertionError(f"Retain handling should be 0, 1 or 2, not {self.retainHandling}")
        if self.QoS not in (0, 1, 2):
            raise AssertionError(f"QoS should be 0, 1 or 2, not {self.QoS}")

    def pack(self) -> bytes:
        """The options byte: retain handling in bits 4-5, retain as published bit 3, no local
        bit 2, QoS bits 0-1."""
        self._check()
        flags = self.retainHandling << 4
        if self.retainAsPublished:
            flags |= 0x08
        if self.noLocal:
            flags |= 0x04
        return bytes((flags | self.QoS,))

    def unpack(self, buffer: Union[bytes, bytearray, memoryview]) -> int:
        """Set the options from the byte at the start of ``buffer``; returns 1, the bytes used.

        The two reserved high bits are ignored, as paho-mqtt does.
        """
        byte = buffer[0]
        self.retainHandling = (byte >> 4) & 0x03
        self.retainAsPublished = bool(byte & 0x08)
        self.noLocal = bool(byte & 0x04)
        self.QoS = byte & 0x03
        self._check()
        return 1

    def json(self) -> Dict[str, Any]:
        """The options as a dict by attribute name."""
        return {"QoS": self.QoS, "noLocal": self.noLocal,
                "retainAsPublished": self.retainAsPublished, "retainHandling": self.retainHandling}

    def __str__(self) -> str:
        return (f"{{QoS={self.QoS}, noLocal={self.noLocal}, "
                f"retainAsPublished={self.retainAsPublished}, retainHandling={self.retainHandling}}}")

    __repr__ = __str__
