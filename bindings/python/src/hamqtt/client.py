"""A drop-in for ``paho.mqtt.client`` (paho-mqtt 2.x) on a virtual cluster of brokers.

Change one line::

    import paho.mqtt.client as mqtt   ->   import hamqtt.client as mqtt

and the same program runs on libhamqtt: ``connect(host, port, keepalive)`` accepts one broker
as before, a host list (``"a:1883,b:1884"``) or a URI with ranges
(``"tcp://10.0.0.5-7:1883-1885"``), and ``Client(..., cluster="name")`` binds to a cluster of the
configuration file (``HAMQTT_CONFIG`` or :meth:`hamqtt.HaClusters.initialize`).

How the virtual cluster maps onto paho's single connection:

* the client is *connected* while at least one endpoint is live: ``on_connect`` fires when the
  first endpoint comes up, ``on_disconnect`` (``MQTT_ERR_CONN_LOST``) when the last one goes
  down, and the engine reconnects by itself (``reconnect_on_failure``);
* publishes fail over between endpoints; QoS > 0 messages go through the engine's outbox (in
  memory by default, on disk with :meth:`Client.outbox_set`), which keeps them until a broker
  acknowledged them, however long every broker is down (as paho keeps them until it
  reconnects), and sends them in publish order;
* subscriptions are made on every live endpoint and replayed when an endpoint comes back;
* callbacks resolve as paho's (properties, decorators, subclass methods), and an external event
  loop (asyncio, selectors) drives the client through paho's socket contract (``socket()``,
  ``on_socket_*``, ``loop_read()``/``loop_write()``/``loop_misc()``) on the engine's event
  descriptor.

``Client(protocol=MQTTv311)`` (the default) speaks MQTT 3.1.1 to every broker,
``Client(protocol=MQTTv5)`` MQTT 5: properties of CONNECT, PUBLISH, the will and SUBSCRIBE
(subscription identifiers), subscription options, the brokers' reason codes and CONNACK
properties in the callbacks, message properties in ``MQTTMessage.properties``. What cannot be
offered raises :class:`NotImplementedError` naming it (MQTT 3.1, enhanced authentication,
``manual_ack``, proxies, ...). Differences from paho-mqtt are listed in the package README.
"""

from __future__ import annotations

import collections
import errno
import logging
import math
import operator
import os
import re
import socket as _socket
import struct
import threading
import time
import warnings
import weakref
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterator,
    List,
    Literal,
    NamedTuple,
    Optional,
    Tuple,
    Union,
)

from . import _lib
from ._native import EventBridge, NativeClient, NativeProps, OutboxStats, Waker, wait_readable
from .enums import (
    CallbackAPIVersion,
    ConnackCode,
    LogLevel,
    MessageState,
    MessageType,
    MQTTErrorCode,
    MQTTProtocolVersion,
    PahoClientMode,
)
from .options import (
    MAX_KEEPALIVE,
    MAX_PACKET_SIZE,
    MAX_STRING_FIELD,
    MIN_PACKET_SIZE,
    ClusterOptions,
    OverflowPolicy,
    SyncPolicy,
    Will,
    check_mqtt_text,
    check_secret,
    mqtt_string_problem,
)
from .packettypes import PacketTypes
from .properties import MQTTException
from .reasoncodes import Properties, ReasonCode, ReasonCodes, require_no_properties
from .subscribeoptions import SubscribeOptions

__all__ = [
    "Client", "MQTTMessage", "MQTTMessageInfo", "ConnectFlags", "DisconnectFlags",
    "CallbackAPIVersion", "MQTTErrorCode", "MQTTProtocolVersion", "ReasonCode", "Properties",
    "topic_matches_sub", "error_string", "connack_string", "MQTTException", "NotSupportedError",
    "WebsocketConnectionError", "OutboxStats", "OverflowPolicy", "SyncPolicy", "SubscribeOptions",
    "MQTT_CLEAN_START_FIRST_ONLY",
]

# hamqtt_event.status of an ENDPOINT_UP event when the broker kept this client's session
# (HAMQTT_UP_SESSION_PRESENT in hamqtt.h).
_UP_SESSION_PRESENT = 1

_log = logging.getLogger("hamqtt.client")

# ---------------------------------------------------------------------------------------------
# Constants (same names and values as paho.mqtt.client)

CONNECT = MessageType.CONNECT
CONNACK = MessageType.CONNACK
PUBLISH = MessageType.PUBLISH
PUBACK = MessageType.PUBACK
PUBREC = MessageType.PUBREC
PUBREL = MessageType.PUBREL
PUBCOMP = MessageType.PUBCOMP
SUBSCRIBE = MessageType.SUBSCRIBE
SUBACK = MessageType.SUBACK
UNSUBSCRIBE = MessageType.UNSUBSCRIBE
UNSUBACK = MessageType.UNSUBACK
PINGREQ = MessageType.PINGREQ
PINGRESP = MessageType.PINGRESP
DISCONNECT = MessageType.DISCONNECT
AUTH = MessageType.AUTH

MQTT_LOG_INFO = LogLevel.MQTT_LOG_INFO
MQTT_LOG_NOTICE = LogLevel.MQTT_LOG_NOTICE
MQTT_LOG_WARNING = LogLevel.MQTT_LOG_WARNING
MQTT_LOG_ERR = LogLevel.MQTT_LOG_ERR
MQTT_LOG_DEBUG = LogLevel.MQTT_LOG_DEBUG
LOGGING_LEVEL = {
    LogLevel.MQTT_LOG_DEBUG: logging.DEBUG,
    LogLevel.MQTT_LOG_INFO: logging.INFO,
    LogLevel.MQTT_LOG_NOTICE: logging.INFO,
    LogLevel.MQTT_LOG_WARNING: logging.WARNING,
    LogLevel.MQTT_LOG_ERR: logging.ERROR,
}

CONNACK_ACCEPTED = ConnackCode.CONNACK_ACCEPTED
CONNACK_REFUSED_PROTOCOL_VERSION = ConnackCode.CONNACK_REFUSED_PROTOCOL_VERSION
CONNACK_REFUSED_IDENTIFIER_REJECTED = ConnackCode.CONNACK_REFUSED_IDENTIFIER_REJECTED
CONNACK_REFUSED_SERVER_UNAVAILABLE = ConnackCode.CONNACK_REFUSED_SERVER_UNAVAILABLE
CONNACK_REFUSED_BAD_USERNAME_PASSWORD = ConnackCode.CONNACK_REFUSED_BAD_USERNAME_PASSWORD
CONNACK_REFUSED_NOT_AUTHORIZED = ConnackCode.CONNACK_REFUSED_NOT_AUTHORIZED

mqtt_ms_invalid = MessageState.MQTT_MS_INVALID
mqtt_ms_publish = MessageState.MQTT_MS_PUBLISH
mqtt_ms_wait_for_puback = MessageState.MQTT_MS_WAIT_FOR_PUBACK
mqtt_ms_wait_for_pubrec = MessageState.MQTT_MS_WAIT_FOR_PUBREC
mqtt_ms_resend_pubrel = MessageState.MQTT_MS_RESEND_PUBREL
mqtt_ms_wait_for_pubrel = MessageState.MQTT_MS_WAIT_FOR_PUBREL
mqtt_ms_resend_pubcomp = MessageState.MQTT_MS_RESEND_PUBCOMP
mqtt_ms_wait_for_pubcomp = MessageState.MQTT_MS_WAIT_FOR_PUBCOMP
mqtt_ms_send_pubrec = MessageState.MQTT_MS_SEND_PUBREC
mqtt_ms_queued = MessageState.MQTT_MS_QUEUED

MQTT_ERR_AGAIN = MQTTErrorCode.MQTT_ERR_AGAIN
MQTT_ERR_SUCCESS = MQTTErrorCode.MQTT_ERR_SUCCESS
MQTT_ERR_NOMEM = MQTTErrorCode.MQTT_ERR_NOMEM
MQTT_ERR_PROTOCOL = MQTTErrorCode.MQTT_ERR_PROTOCOL
MQTT_ERR_INVAL = MQTTErrorCode.MQTT_ERR_INVAL
MQTT_ERR_NO_CONN = MQTTErrorCode.MQTT_ERR_NO_CONN
MQTT_ERR_CONN_REFUSED = MQTTErrorCode.MQTT_ERR_CONN_REFUSED
MQTT_ERR_NOT_FOUND = MQTTErrorCode.MQTT_ERR_NOT_FOUND
MQTT_ERR_CONN_LOST = MQTTErrorCode.MQTT_ERR_CONN_LOST
MQTT_ERR_TLS = MQTTErrorCode.MQTT_ERR_TLS
MQTT_ERR_PAYLOAD_SIZE = MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE
MQTT_ERR_NOT_SUPPORTED = MQTTErrorCode.MQTT_ERR_NOT_SUPPORTED
MQTT_ERR_AUTH = MQTTErrorCode.MQTT_ERR_AUTH
MQTT_ERR_ACL_DENIED = MQTTErrorCode.MQTT_ERR_ACL_DENIED
MQTT_ERR_UNKNOWN = MQTTErrorCode.MQTT_ERR_UNKNOWN
MQTT_ERR_ERRNO = MQTTErrorCode.MQTT_ERR_ERRNO
MQTT_ERR_QUEUE_SIZE = MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
MQTT_ERR_KEEPALIVE = MQTTErrorCode.MQTT_ERR_KEEPALIVE

MQTTv31 = MQTTProtocolVersion.MQTTv31
MQTTv311 = MQTTProtocolVersion.MQTTv311
MQTTv5 = MQTTProtocolVersion.MQTTv5

MQTT_CLIENT = PahoClientMode.MQTT_CLIENT
MQTT_BRIDGE = PahoClientMode.MQTT_BRIDGE

MQTT_CLEAN_START_FIRST_ONLY: "CleanStartOption" = 3

PayloadType = Union[str, bytes, bytearray, int, float, None]
CleanStartOption = Union[bool, Literal[3]]

_MAX_PAYLOAD = 268435455


class NotSupportedError(NotImplementedError):
    """A paho-mqtt feature that hamqtt cannot offer (the message names it)."""


class WebsocketConnectionError(ConnectionError):
    """Kept for API compatibility; hamqtt reports websocket failures as connection errors."""


def _unsupported(what: str, why: str = "") -> NotSupportedError:
    return NotSupportedError(f"hamqtt.client: {what} is not supported{': ' + why if why else ''}")


class ConnectFlags(NamedTuple):
    """Passed to a VERSION2 ``on_connect``."""

    session_present: bool
    """Whether the broker still had the session. hamqtt cannot read the broker's flag yet:
    it is False (exact for clean sessions; see the README for persistent sessions)."""


class DisconnectFlags(NamedTuple):
    """Passed to a VERSION2 ``on_disconnect``."""

    is_disconnect_packet_from_server: bool


# ---------------------------------------------------------------------------------------------
# Module functions


def error_string(mqtt_errno: Union[MQTTErrorCode, int]) -> str:
    """The text of an ``MQTT_ERR_*`` code."""
    return _ERROR_STRINGS.get(int(mqtt_errno), "Unknown error.")


_ERROR_STRINGS = {
    0: "No error.",
    1: "Out of memory.",
    2: "A network protocol error occurred when communicating with the broker.",
    3: "Invalid function arguments provided.",
    4: "The client is not currently connected.",
    5: "The connection was refused.",
    6: "Message not found (internal error).",
    7: "The connection was lost.",
    8: "A TLS error occurred.",
    9: "Payload too large.",
    10: "This feature is not supported.",
    11: "Authorisation failed.",
    12: "Access denied by ACL.",
    13: "Unknown error.",
    14: "Error defined by errno.",
    15: "Message queue full.",
    16: "Client or broker did not communicate in the keepalive interval.",
}


def connack_string(connack_code: Union[int, ReasonCode]) -> str:
    """The text of a CONNACK result code (or the name of a ReasonCode)."""
    if isinstance(connack_code, ReasonCode):
        return str(connack_code)
    return {
        0: "Connection Accepted.",
        1: "Connection Refused: unacceptable protocol version.",
        2: "Connection Refused: identifier rejected.",
        3: "Connection Refused: broker unavailable.",
        4: "Connection Refused: bad user name or password.",
        5: "Connection Refused: not authorised.",
    }.get(int(connack_code), "Connection Refused: unknown reason.")


def convert_connack_rc_to_reason_code(connack_code: ConnackCode) -> ReasonCode:
    """The MQTT 5 reason code of an MQTT 3.1.1 CONNACK result."""
    names = {0: "Success", 1: "Unsupported protocol version", 2: "Client identifier not valid",
             3: "Server unavailable", 4: "Bad user name or password", 5: "Not authorized"}
    return ReasonCode(PacketTypes.CONNACK, names.get(int(connack_code), "Unspecified error"))


def convert_disconnect_error_code_to_reason_code(rc: MQTTErrorCode) -> ReasonCode:
    """The reason code passed to a VERSION2 ``on_disconnect`` for an ``MQTT_ERR_*`` code."""
    if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
        return ReasonCode(PacketTypes.DISCONNECT, "Success")
    if rc == MQTTErrorCode.MQTT_ERR_KEEPALIVE:
        return ReasonCode(PacketTypes.DISCONNECT, "Keep alive timeout")
    if rc == MQTTErrorCode.MQTT_ERR_PROTOCOL:
        return ReasonCode(PacketTypes.DISCONNECT, "Protocol error")
    return ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")


def topic_matches_sub(sub: str, topic: str) -> bool:
    """Whether ``topic`` matches the subscription filter ``sub``.

    ``"foo/bar"`` matches ``"foo/#"`` and ``"+/bar"``; ``"non/matching"`` does not match
    ``"non/+/+"``. Topics starting with ``$`` are not matched by a wildcard in the first level.
    """
    s = sub.split("/")
    t = topic.split("/")
    if topic.startswith("$") and s[0] in ("+", "#"):
        return False
    n = len(t)
    for i, part in enumerate(s):
        if part == "#":
            return i == len(s) - 1
        if i >= n:
            return False
        if part != "+" and part != t[i]:
            return False
    return len(s) == n


def _decode_topic(topic: bytes, what: str) -> str:
    try:
        return topic.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"Invalid topic: {what} {topic!r} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def _check_topic_text(topic: str, what: str) -> None:
    """ValueError for a topic or filter brokers close the connection for (control characters,
    non-characters), before anything is sent."""
    problem = mqtt_string_problem(topic)
    if problem is not None:
        raise ValueError(f"Invalid topic: {what} {topic!r} {problem}")


# Publish topics already checked, as the bytes they are sent as: a program publishes to a few
# topics many times, and checking one again cost more than a tenth of publish() (bounded:
# cleared when full).
_checked_publish_topics: Dict[str, bytes] = {}
_MAX_CHECKED_PUBLISH_TOPICS = 4096


def _check_publish_topic(topic: Any) -> bytes:
    """A publish topic as the bytes sent, or paho's ValueError / TypeError for it."""
    if topic is None or (isinstance(topic, (str, bytes)) and len(topic) == 0):
        raise ValueError("Invalid topic.")
    if isinstance(topic, bytes):
        topic = _decode_topic(topic, "publish topic")
    if not isinstance(topic, str):
        raise TypeError(f"topic must be a str, not {type(topic).__name__}")
    if "+" in topic or "#" in topic:
        raise ValueError("Publish topic cannot contain wildcards.")
    _check_topic_text(topic, "publish topic")
    tb = topic.encode("utf-8")
    if len(tb) > 65535:
        raise ValueError("Publish topic is too long.")
    if topic.__class__ is str:  # a subclass may compare equal to a different text
        if len(_checked_publish_topics) >= _MAX_CHECKED_PUBLISH_TOPICS:
            _checked_publish_topics.clear()
        _checked_publish_topics[topic] = tb
    return tb


def _validate_filter(sub: Any, what: str = "topic filter") -> str:
    if isinstance(sub, bytes):
        sub = _decode_topic(sub, what)
    if not isinstance(sub, str):
        raise TypeError(f"{what} must be a str, not {type(sub).__name__}")
    if len(sub) == 0:
        raise ValueError("Invalid topic.")
    _check_topic_text(sub, what)
    raw = sub.encode("utf-8")
    if (len(raw) > 65535 or any(("+" in p or "#" in p) for p in sub.split("/") if len(p) > 1)
            or "#/" in sub):
        raise ValueError(f"Invalid subscription filter: {sub!r}")
    return sub


def _validate_keepalive(keepalive: Any) -> int:
    """paho's check (ValueError for a negative value) and MQTT's limits: the keep-alive travels
    as a 16-bit number of whole seconds, so a larger or fractional value is refused, not cut."""
    if isinstance(keepalive, bool) or not isinstance(keepalive, (int, float)) or keepalive < 0:
        raise ValueError("Keepalive must be >=0.")
    if keepalive > MAX_KEEPALIVE:
        raise ValueError(f"Keepalive must be <={MAX_KEEPALIVE} (MQTT carries it in 16 bits of seconds), not {keepalive}")
    if keepalive != int(keepalive):
        raise ValueError(f"Keepalive must be a whole number of seconds, not {keepalive}")
    return int(keepalive)


def _validate_client_id(client_id: Any) -> str:
    if isinstance(client_id, (bytes, bytearray)):
        try:
            client_id = bytes(client_id).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"client_id {bytes(client_id)!r} is not valid UTF-8 ({exc.reason} at byte {exc.start}): "
                             "MQTT client ids are UTF-8 text") from None
    if not isinstance(client_id, str):
        raise TypeError(f"client_id must be a str, not {type(client_id).__name__}")
    if client_id:
        check_mqtt_text("client_id", client_id)
    return client_id


def _validate_qos(qos: Any) -> int:
    if isinstance(qos, bool) or not isinstance(qos, int):
        raise TypeError(f"qos must be an int (0, 1 or 2), not {type(qos).__name__}")
    if qos < 0 or qos > 2:
        raise ValueError("Invalid QoS level.")
    return int(qos)


def _encode_payload(payload: Any) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, bool):
        return str(payload).encode("ascii")
    if isinstance(payload, (int, float)):
        return str(payload).encode("ascii")
    if payload is None:
        return b""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    raise TypeError("payload must be a string, bytearray, int, float or None.")


# ---------------------------------------------------------------------------------------------
# MQTT 5

# The MQTT_ERR_* code of the MQTTMessageInfo of a message a broker refused with this MQTT 5
# reason code (MQTT_ERR_UNKNOWN for the others).
_REFUSAL_RC = {
    0x87: MQTTErrorCode.MQTT_ERR_ACL_DENIED,  # Not authorized
    0x95: MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE,  # Packet too large
    0x9A: MQTTErrorCode.MQTT_ERR_NOT_SUPPORTED,  # Retain not supported
    0x9B: MQTTErrorCode.MQTT_ERR_NOT_SUPPORTED,  # QoS not supported
}


def _check_properties(properties: Any, packet_type: int) -> Optional[Properties]:
    """``properties`` when it is None or a Properties of ``packet_type`` (ValueError otherwise,
    as paho-mqtt); None for an empty one."""
    if properties is None:
        return None
    if not isinstance(properties, Properties):
        raise ValueError("The properties argument must be an instance of the Properties class.")
    if properties.packetType != packet_type:
        raise ValueError(f"The properties argument must be a Properties({PacketTypes.Names[packet_type]}), "
                         f"not a Properties({PacketTypes.Names[properties.packetType]})")
    return None if properties.isEmpty() else properties


def _connect_options(properties: Optional[Properties]) -> Dict[str, Any]:
    """The ClusterOptions fields that carry the properties of ``connect()`` (MQTT 5)."""
    props = _check_properties(properties, PacketTypes.CONNECT)
    out: Dict[str, Any] = {}
    if props is None:
        return out
    for name in props._present():
        v = getattr(props, name)
        if name == "SessionExpiryInterval":
            out["session_expiry"] = int(v)
        elif name == "ReceiveMaximum":
            out["receive_maximum"] = int(v)
        elif name == "TopicAliasMaximum":
            out["topic_alias_maximum"] = int(v)
        elif name == "RequestResponseInformation":
            out["request_response_info"] = bool(v)
        elif name == "RequestProblemInformation":
            out["no_problem_info"] = not v
        elif name == "UserProperty":
            out["user_properties"] = list(v)
        elif name == "MaximumPacketSize":
            size = int(v)
            if not MIN_PACKET_SIZE <= size <= MAX_PACKET_SIZE:
                raise ValueError(f"MaximumPacketSize must be {MIN_PACKET_SIZE}..{MAX_PACKET_SIZE}, not {size}")
            out["max_packet_size"] = size
        elif name in ("AuthenticationMethod", "AuthenticationData"):
            raise _unsupported(f"connect(properties=...) with {name} (MQTT 5 enhanced authentication)",
                               "authenticate with username_pw_set() or a TLS client certificate")
        else:  # pragma: no cover - Properties(CONNECT) carries nothing else
            raise _unsupported(f"connect(properties=...) with {name}")
    return out


def _publish_props(properties: Any) -> Optional[NativeProps]:
    """The engine's copy of the properties of a publish (MQTT 5), or None when there are none.

    A Topic Alias given by the program is left out: the engine assigns topic aliases itself,
    per broker connection."""
    props = _check_properties(properties, PacketTypes.PUBLISH)
    if props is None:
        return None
    if hasattr(props, "TopicAlias"):
        copy = Properties(PacketTypes.PUBLISH)
        for name in props._present():
            if name != "TopicAlias":
                setattr(copy, name, getattr(props, name))
        if copy.isEmpty():
            return None
        props = copy
    try:
        packed = props.pack()
    except (MQTTException, TypeError, ValueError, struct.error) as exc:
        raise ValueError(f"publish(properties=...): {exc}") from None
    return NativeProps(packed)


def _disconnect_code(code: int) -> ReasonCode:
    """The ReasonCode of a broker's DISCONNECT."""
    try:
        return ReasonCode(PacketTypes.DISCONNECT, identifier=code)
    except (KeyError, ValueError):
        return ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")


# The engine's text of a broker's DISCONNECT: "DISCONNECT from <endpoint>: <reason> (0xNN)", then
# ": <reason string>" when the broker gave one, then "; the broker names <server reference>".
_BROKER_REASON_STRING = re.compile(r"DISCONNECT from .*? \(0x[0-9A-Fa-f]{2}\): (.*?)(?:; the broker names .*)?$", re.S)


def _broker_reason_string(error: Optional[str]) -> Optional[str]:
    """The reason string of a broker's DISCONNECT, from the engine's text of it (None: none)."""
    if not error:
        return None
    m = _BROKER_REASON_STRING.search(error)
    return m.group(1) if m else None


# The reason codes a client's DISCONNECT may carry (MQTT 5, 3.14.2.1).
_CLIENT_DISCONNECT_CODES = frozenset((0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x99))


def _user_props(packet_type: int, props: Properties, call: str) -> Optional[NativeProps]:
    """The engine's copy of the user properties of a SUBSCRIBE or UNSUBSCRIBE (the only
    properties the engine takes there; a SUBSCRIBE's identifier travels on its own)."""
    user = Properties(packet_type)
    pairs = getattr(props, "UserProperty", None)
    if not pairs:
        return None
    try:
        user.UserProperty = pairs
        packed = user.pack()
    except (MQTTException, TypeError, ValueError, struct.error) as exc:
        raise ValueError(f"{call}(properties=...): {exc}") from None
    return NativeProps(packed)


def _pub_code(code: int, qos: int) -> ReasonCode:
    """The ReasonCode of a broker's answer to a QoS 1 (PUBACK) or QoS 2 (PUBREC) publish."""
    packet = PacketTypes.PUBREC if qos == 2 else PacketTypes.PUBACK
    try:
        return ReasonCode(packet, identifier=code)
    except (KeyError, ValueError):
        return ReasonCode(packet, "Unspecified error")


def _suback_code(code: int) -> ReasonCode:
    """The ReasonCode of a SUBACK code (a code no SUBACK may carry reads "Unspecified error")."""
    try:
        return ReasonCode(PacketTypes.SUBACK, identifier=code)
    except (KeyError, ValueError):
        return ReasonCode(PacketTypes.SUBACK, "Unspecified error")


def _unsuback_code(code: int) -> ReasonCode:
    """The ReasonCode of an UNSUBACK code."""
    try:
        return ReasonCode(PacketTypes.UNSUBACK, identifier=code)
    except (KeyError, ValueError):
        return ReasonCode(PacketTypes.UNSUBACK, "Unspecified error")


def _unpack_props(packet_type: int, packed: Optional[bytes]) -> Properties:
    """A Properties of ``packet_type`` from the engine's wire form (empty for None)."""
    props = Properties(packet_type)
    if packed and packed != b"\x00":
        props.unpack(packed)
    return props


# ---------------------------------------------------------------------------------------------
# Messages


class MQTTMessageInfo:
    """Returned by :meth:`Client.publish`: ``rc``, ``mid``, unpacks as ``(rc, mid)``.

    Two outcomes are told apart: *stored* (:meth:`is_stored`: the client's outbox holds the
    message and delivers it when a broker is live; ``publish()`` returned ``MQTT_ERR_SUCCESS``)
    and *published* (:meth:`is_published`, ``on_publish``: a broker acknowledged it).
    """

    __slots__ = ("_client", "_done", "_event", "_iterpos", "_published", "_stored", "_error", "mid", "rc",
                 "reason_code")

    def __init__(self, mid: int, client: Optional["weakref.ref[Client]"] = None) -> None:
        self.mid = mid
        """The message id."""
        self.rc: MQTTErrorCode = MQTT_ERR_SUCCESS
        """The status; may change until the message is published."""
        self._published = False
        self._stored = False
        self._done = False
        self._event: Optional[threading.Event] = None  # made only when someone waits
        self._iterpos = 0
        self._error = ""
        self._client = client
        self.reason_code: Optional[ReasonCode] = None
        """hamqtt extension (MQTT 5): the failure reason code a broker refused the message with
        (the one ``on_publish`` got), else None. ``rc`` is then ``MQTT_ERR_ACL_DENIED`` for
        "Not authorized", ``MQTT_ERR_PAYLOAD_SIZE`` for "Packet too large",
        ``MQTT_ERR_NOT_SUPPORTED`` for "Retain not supported" and "QoS not supported", and
        ``MQTT_ERR_UNKNOWN`` for the others."""

    def __str__(self) -> str:
        return str((self.rc, self.mid))

    def __repr__(self) -> str:
        return (f"MQTTMessageInfo(rc={int(self.rc)}, mid={self.mid}, stored={self.is_stored()}, "
                f"published={self._published})")

    def __iter__(self) -> Iterator[Union[MQTTErrorCode, int]]:
        self._iterpos = 0
        return self

    def __next__(self) -> Union[MQTTErrorCode, int]:
        return self.next()

    def next(self) -> Union[MQTTErrorCode, int]:
        """Iteration: rc, then mid."""
        if self._iterpos == 0:
            self._iterpos = 1
            return self.rc
        if self._iterpos == 1:
            self._iterpos = 2
            return self.mid
        raise StopIteration

    def __getitem__(self, index: int) -> Union[MQTTErrorCode, int]:
        if index == 0:
            return self.rc
        if index == 1:
            return self.mid
        raise IndexError("index out of range")

    def _set_as_published(self) -> None:
        self._published = True
        self._finish()

    def _set_failed(self, rc: MQTTErrorCode, detail: str) -> None:
        self.rc = rc
        self._error = detail
        self._stored = False
        self._finish()

    def _finish(self) -> None:
        # The waiter stores its event before it checks _done; we set _done before we read the
        # event: one of the two always sees the other.
        self._done = True
        ev = self._event
        if ev is not None:
            ev.set()

    def _raise_if_failed(self) -> None:
        if self.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            extra = f" ({self._error})" if self._error else ""
            raise ValueError(f"Message is not queued due to ERR_QUEUE_SIZE{extra}")
        if self.rc > 0:
            extra = f" ({self._error})" if self._error else ""
            raise RuntimeError(f"Message publish failed: {error_string(self.rc)}{extra}")

    def wait_for_publish(self, timeout: Optional[float] = None) -> None:
        """Block until the message is published or ``timeout`` seconds pass (None: no limit).

        Called on the client's loop thread (inside a callback), it drains the client's events
        itself instead of waiting for the loop it blocks.

        :raises ValueError: the message was not queued (``MQTT_ERR_QUEUE_SIZE``).
        :raises RuntimeError: the message was not published for another reason.
        """
        if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool)):
            raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
        self._raise_if_failed()
        deadline = None if timeout is None else time.monotonic() + timeout
        client = self._client() if self._client is not None else None
        if self._event is None:
            self._event = threading.Event()
        while not self._done:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            step = 0.1 if left is None else min(left, 0.1)
            if client is not None and client._may_pump_here():
                client._pump(step)
            else:
                self._event.wait(step)
        self._raise_if_failed()

    def is_published(self) -> bool:
        """True once the message was published: a broker acknowledged it (QoS 1/2), or a
        connection to one took it (QoS 0). Stored in the outbox is not published yet.

        :raises ValueError: the message was not queued (``MQTT_ERR_QUEUE_SIZE``: the outbox
            was full, or dropped it to make room for a newer one).
        :raises RuntimeError: the message was not published for another reason.
        """
        self._raise_if_failed()
        return self._published

    def is_stored(self) -> bool:
        """hamqtt extension: True when the client's outbox took the message (``publish()``
        returned ``MQTT_ERR_SUCCESS`` for a QoS the outbox stores: 1 and 2, and 0 with
        ``outbox_set(qos0=True)``), and it has not failed since.

        A stored message is delivered, in publish order, once a broker is live, however long
        every broker is down (and, with a disk outbox, after a restart of the process): do not
        publish it again. ``is_stored() and not is_published()`` is a message waiting in the
        outbox; ``is_published()`` turns True when a broker acknowledged it (``on_publish``).
        False for a message never stored (not taken, QoS 0, the outbox turned off) and for one
        that left the outbox unpublished (dropped, expired: ``rc`` and :meth:`is_published`
        say why). Never raises.
        """
        return self._stored


class MQTTMessage:
    """A received message, passed to ``on_message``."""

    __slots__ = ("_topic", "dup", "info", "mid", "payload", "_properties", "_props_raw", "qos", "retain",
                 "state", "timestamp", "endpoint")

    def __init__(self, mid: int = 0, topic: bytes = b"") -> None:
        self.timestamp = 0.0
        self.state = mqtt_ms_invalid
        self.dup = False
        self.mid = mid
        """The message id (0: libhamqtt does not expose packet ids)."""
        self._topic: Union[bytes, str] = topic
        self.payload: bytes = b""
        """The payload (bytes)."""
        self.qos = 0
        self.retain = False
        self.info = MQTTMessageInfo(mid)
        self._properties: Optional[Properties] = None
        self._props_raw: Optional[bytes] = None
        self.endpoint: Optional[str] = None
        """hamqtt extension: the name of the endpoint (broker) the message came through."""

    @property
    def properties(self) -> Optional[Properties]:
        """MQTT 5: the message's properties, a ``Properties(PacketTypes.PUBLISH)`` (empty when it
        carried none), as paho gives them; None under MQTT 3.1.1. Read from the engine's form
        the first time it is asked for."""
        raw = self._props_raw
        if raw is not None:
            self._props_raw = None
            try:
                self._properties = _unpack_props(PacketTypes.PUBLISH, raw)
            except MQTTException:  # pragma: no cover - the engine encodes what it checked
                _log.warning("properties of a message on %s could not be read", self.topic, exc_info=True)
                self._properties = Properties(PacketTypes.PUBLISH)
        return self._properties

    @properties.setter
    def properties(self, value: Optional[Properties]) -> None:
        self._props_raw = None
        self._properties = value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MQTTMessage):
            return self.mid == other.mid
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    @property
    def topic(self) -> str:
        """The topic the message was published on."""
        t = self._topic
        return t if isinstance(t, str) else t.decode("utf-8")

    @topic.setter
    def topic(self, value: Union[bytes, str]) -> None:
        self._topic = value

    def __repr__(self) -> str:
        return f"MQTTMessage(topic={self.topic!r}, payload={self.payload!r}, qos={self.qos}, retain={self.retain})"


def _new_message(topic: str, payload: bytes, qos: int, retain: bool, dup: bool, endpoint: Optional[str]) -> MQTTMessage:
    m = MQTTMessage.__new__(MQTTMessage)
    m.timestamp = time.monotonic()
    m.state = mqtt_ms_invalid
    m.dup = dup
    m.mid = 0
    m._topic = topic
    m.payload = payload
    m.qos = qos
    m.retain = retain
    m.info = _INFO_PLACEHOLDER
    m._properties = None
    m._props_raw = None
    m.endpoint = endpoint
    return m


_INFO_PLACEHOLDER = MQTTMessageInfo(0)


class _Early:
    """A message published before the client had an engine to hand it to (no ``connect()``
    yet named the brokers), or before the engine could take it (no outbox, not connected).
    ``connect()`` hands these to the engine first, in publish order."""

    __slots__ = ("info", "payload", "props", "qos", "retain", "since", "topic")

    def __init__(self, topic: bytes, payload: bytes, qos: int, retain: bool, info: MQTTMessageInfo,
                 props: Optional[NativeProps] = None) -> None:
        self.props = props
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.info = info
        self.since = time.time()


# The engine's outcome of a message that was not published, as paho's codes.
_FAILURE_RC = {
    _lib.ERR_DROPPED: MQTTErrorCode.MQTT_ERR_QUEUE_SIZE,  # dropped from the full outbox
    _lib.ERR_FULL: MQTTErrorCode.MQTT_ERR_QUEUE_SIZE,
    _lib.ERR_EXPIRED: MQTTErrorCode.MQTT_ERR_NO_CONN,  # no broker took it before its expiry
    _lib.ERR_CLOSED: MQTTErrorCode.MQTT_ERR_CONN_LOST,
    _lib.ERR_NO_ENDPOINT: MQTTErrorCode.MQTT_ERR_NO_CONN,
    _lib.ERR_TIMEOUT: MQTTErrorCode.MQTT_ERR_NO_CONN,
    _lib.ERR_STATE: MQTTErrorCode.MQTT_ERR_NO_CONN,
    _lib.ERR_PAYLOAD: MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE,
    _lib.ERR_INVALID: MQTTErrorCode.MQTT_ERR_INVAL,
    _lib.ERR_TOPIC: MQTTErrorCode.MQTT_ERR_INVAL,
    _lib.ERR_QOS: MQTTErrorCode.MQTT_ERR_INVAL,
    _lib.ERR_IO: MQTTErrorCode.MQTT_ERR_ERRNO,  # the disk outbox could not write it
}


class _State:
    NEW = "new"
    CONNECT_ASYNC = "connect_async"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CONNECTION_LOST = "connection_lost"
    DISCONNECTING = "disconnecting"
    DISCONNECTED = "disconnected"


_ENGINE_LOG_LEVELS = {
    _lib.LOG_DEBUG: MQTT_LOG_DEBUG, _lib.LOG_INFO: MQTT_LOG_INFO,
    _lib.LOG_WARN: MQTT_LOG_WARNING, _lib.LOG_ERROR: MQTT_LOG_ERR,
}


# "<RFC 3339 time> <slog level> message key=value ...": the engine's line format (capi/logsink.go)
_ENGINE_LINE_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d) (?:DEBUG|INFO|WARN|ERROR)(?:[+-]\d+)? ")


def _outbox_dir_of(options: ClusterOptions) -> Optional[str]:
    """The disk outbox directory of these options, as an absolute path (None: none, or in memory)."""
    d = options.outbox_dir
    return os.path.abspath(os.fspath(d)) if d is not None else None


def _sync_value(sync: Any) -> int:
    from .options import _policy

    return _policy("outbox_sync", sync, SyncPolicy)


def _engine_line(line: str) -> str:
    """An engine log line without its timestamp and level (on_log gets the level apart)."""
    m = _ENGINE_LINE_PREFIX.match(line)
    return line[m.end():] if m else line


# ---------------------------------------------------------------------------------------------
# The client


class Client:
    """An MQTT client of a virtual cluster, with the API of ``paho.mqtt.client.Client`` 2.x.

    :param callback_api_version: ``CallbackAPIVersion.VERSION2`` (or the deprecated VERSION1).
    :param client_id: MQTT client id ("" lets the engine generate one: with MQTT 5 it is
        reported as ``AssignedClientIdentifier`` in the ``on_connect`` properties).
    :param clean_session: MQTT 3.1.1: False asks the brokers to keep the session (needs a
        client id). Must be None with MQTT 5 (use ``connect(clean_start=...)``), as paho.
    :param userdata: passed to every callback.
    :param protocol: ``MQTTv311`` (default) or ``MQTTv5`` (MQTT 3.1 is not available:
        NotSupportedError).
    :param transport: ``"tcp"`` or ``"websockets"``.
    :param reconnect_on_failure: reconnect after the last endpoint was lost (default True).
    :param manual_ack: must be False (NotSupportedError otherwise).
    :param cluster: hamqtt extension: bind to this cluster of the loaded configuration file
        (``HAMQTT_CONFIG`` or :meth:`hamqtt.HaClusters.initialize`); ``connect()`` then needs no host.
        The cluster speaks the protocol of its entry in the file (``protocolVersion: 5`` for
        MQTT 5): give the same ``protocol`` here.
    :param ha_options: hamqtt extension: :class:`hamqtt.ClusterOptions` (or a dict of its
        fields) for the cluster built by ``connect()``: publisher type, dedup, timeouts, ...
        (``{"outbox": False}`` turns the outbox off).

    Outgoing messages go through the engine's *outbox*: in memory by default (paho-mqtt keeps
    its queue in memory too), on disk with :meth:`outbox_set`. A QoS 1 or 2 message is stored
    first (``publish()`` returns ``MQTT_ERR_SUCCESS``), sent when a broker is live, and leaves
    the outbox once a broker acknowledged it (``on_publish``); it waits out any outage, in
    publish order. QoS 0 messages are not stored (as paho: dropped with ``MQTT_ERR_NO_CONN``
    while no broker is connected) unless ``outbox_set(qos0=True)``.
    ``max_queued_messages_set()`` bounds the outbox (0, the default: no bound, as paho), and
    ``publish()`` returns ``MQTT_ERR_QUEUE_SIZE`` when it is full; :meth:`outbox_stats` gives
    its depth and the age of its oldest message.
    """

    suppress_exceptions: bool

    def __init__(
        self,
        callback_api_version: CallbackAPIVersion = CallbackAPIVersion.VERSION1,
        client_id: Optional[str] = "",
        clean_session: Optional[bool] = None,
        userdata: Any = None,
        protocol: MQTTProtocolVersion = MQTTv311,
        transport: Literal["tcp", "websockets", "unix"] = "tcp",
        reconnect_on_failure: bool = True,
        manual_ack: bool = False,
        *,
        cluster: Optional[str] = None,
        ha_options: Union[ClusterOptions, Dict[str, Any], None] = None,
    ) -> None:
        if isinstance(callback_api_version, str):
            raise TypeError(
                "Unsupported callback API version: version 2.0 added a callback_api_version, "
                "see docs/migrations.rst for details (pass CallbackAPIVersion.VERSION2 first)"
            )
        if callback_api_version not in CallbackAPIVersion:
            raise ValueError(f"Unsupported callback API version {callback_api_version!r}: use CallbackAPIVersion.VERSION2")
        if callback_api_version == CallbackAPIVersion.VERSION1:
            warnings.warn("Callback API version 1 is deprecated, update to latest version",
                          category=DeprecationWarning, stacklevel=2)
        if protocol == MQTTv31:
            raise _unsupported("protocol=MQTTv31 (MQTT 3.1)", "the engine speaks MQTT 3.1.1 and MQTT 5; use MQTTv311 or MQTTv5")
        if protocol not in (MQTTv311, MQTTv5):
            raise ValueError(f"unknown protocol {protocol!r}: use MQTTv311 or MQTTv5")
        protocol = MQTTProtocolVersion(protocol)
        if protocol == MQTTv5 and clean_session is not None:
            raise ValueError("Clean session is not used for MQTT 5.0")
        if not isinstance(transport, str):
            raise TypeError(f"transport must be a str, not {type(transport).__name__}")
        transport = transport.lower()  # type: ignore[assignment]
        if transport == "unix":
            raise _unsupported('transport="unix"', "brokers are reached over tcp or websockets")
        if transport not in ("tcp", "websockets"):
            raise ValueError(f'transport must be "websockets", "tcp" or "unix", not {transport}')
        if manual_ack:
            raise _unsupported("manual_ack=True", "the engine acknowledges a message once it is queued for on_message")
        if clean_session is None:
            clean_session = True
        if not isinstance(clean_session, bool):
            raise TypeError(f"clean_session must be a bool or None, not {type(clean_session).__name__}")
        if client_id is None:
            client_id = ""
        client_id = _validate_client_id(client_id)
        if not clean_session and client_id == "":
            raise ValueError("A client id must be provided if clean session is False.")
        if cluster is not None and not isinstance(cluster, str):
            raise TypeError(f"cluster must be a str (a cluster name), not {type(cluster).__name__}")
        if cluster is not None and ha_options is not None:
            raise ValueError("Client(cluster=...) takes its options from the configuration file: drop ha_options")
        self._ha_options = ClusterOptions.from_any(ha_options)
        pv = self._ha_options.protocol_version
        if pv not in (None, 0) and (pv == 5) != (protocol == MQTTv5):
            raise ValueError(f"ha_options protocol_version={pv!r} disagrees with protocol={protocol!r}: "
                             "choose the MQTT version with Client(protocol=MQTTv311 or MQTTv5)")
        if protocol == MQTTv5:
            # The MQTT 5 fields of ha_options are checked as the cluster will have them.
            ClusterOptions.from_any(self._ha_options, protocol_version=5).to_struct()
        else:
            self._ha_options.to_struct()  # validate early

        self._callback_api_version = callback_api_version
        self._client_id = client_id.encode("utf-8")  # bytes, as paho keeps it (wrappers read it)
        self._clean_session = clean_session
        self._userdata = userdata
        self._protocol = protocol
        self._v5 = protocol == MQTTv5
        # MQTT 5: connect()'s clean_start and the ClusterOptions fields of its properties.
        self._clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY
        self._connect_opts: Dict[str, Any] = {}
        self._transport: str = transport
        self._reconnect_on_failure = reconnect_on_failure
        self._cluster = cluster

        self._host = ""
        self._port = 1883
        self._keepalive = 60
        self._connect_timeout = 5.0
        self._username: Optional[str] = None
        self._password: Optional[str] = None
        self._will: Optional[Will] = None
        self._tls: Optional[Dict[str, Any]] = None
        self._tls_insecure = False
        self._ws_path = "/mqtt"
        self._reconnect_min_delay: float = 1
        self._reconnect_max_delay: float = 120
        self._max_inflight_messages = 20
        self._max_queued_messages = 0
        self._logger: Optional[logging.Logger] = None
        self.suppress_exceptions = True

        self._on_log: Optional[Callable[..., Any]] = None
        self._on_pre_connect: Optional[Callable[..., Any]] = None
        self._on_connect: Optional[Callable[..., Any]] = None
        self._on_connect_fail: Optional[Callable[..., Any]] = None
        self._on_subscribe: Optional[Callable[..., Any]] = None
        self._on_message: Optional[Callable[..., Any]] = None
        self._on_publish: Optional[Callable[..., Any]] = None
        self._on_unsubscribe: Optional[Callable[..., Any]] = None
        self._on_disconnect: Optional[Callable[..., Any]] = None
        self._on_message_filtered: Dict[str, Callable[..., Any]] = {}
        self._on_socket_open: Optional[Callable[..., Any]] = None
        self._on_socket_close: Optional[Callable[..., Any]] = None
        self._on_socket_register_write: Optional[Callable[..., Any]] = None
        self._on_socket_unregister_write: Optional[Callable[..., Any]] = None

        # runtime state
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._native: Optional[NativeClient] = None
        self._native_key: Optional[Tuple[Any, ...]] = None
        self._state = _State.NEW
        self._engine_started = False
        self._drain_until_closed = False
        self._disconnect_returned = False
        self._live: "set[str]" = set()
        self._last_mid = 0
        # What outbox_set() chose (ClusterOptions outbox_* fields); the rest comes from
        # ha_options and max_queued_messages (see _outbox_options).
        self._outbox_opts: Dict[str, Any] = {}
        # The engine's publishes awaiting their outcome: engine id -> (info, qos).
        self._pending: Dict[int, Tuple[MQTTMessageInfo, int]] = {}
        self._early: Deque[_Early] = collections.deque()
        self._early_bytes = 0
        # Filters subscribed through this client (a clean disconnect() forgets them).
        self._subscriptions: Dict[str, int] = {}
        self._native_outbox_dir: Optional[str] = None
        # Every broker was lost since the last one was up: what waits for an acknowledgement
        # then waits in the outbox, and nothing is worth waiting for at disconnect.
        self._all_lost = False
        self._backlog: Deque[Any] = collections.deque()
        self._after_connect: List[Tuple[Callable[..., Any], Tuple[Any, ...]]] = []
        self._engine_logs: Deque[Tuple[int, str]] = collections.deque(maxlen=2000)
        self._waker = Waker()
        self._poll_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._thread_terminate = False
        self._loop_thread_id: Optional[int] = None
        self._tls_state = threading.local()
        self._exit_loop = False
        # The socket handed to external event loops (socket(), on_socket_open), made readable by
        # an EventBridge. Named as paho's attribute, which some wrappers look at.
        self._sock: Optional[_socket.socket] = None
        self._sock_open = False
        self._sock_gen = 0
        self._bridge: Optional[EventBridge] = None
        self._registered_write = False
        _lib.register_closer(self)

    # -- properties -----------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The host (or host list) given to connect()."""
        return self._host

    @host.setter
    def host(self, value: str) -> None:
        self._check_not_connected("host")
        if not isinstance(value, str) or not value:
            raise ValueError("Invalid host.")
        self._host = value

    @property
    def port(self) -> int:
        """The default port of hosts given without one."""
        return self._port

    @port.setter
    def port(self, value: int) -> None:
        self._check_not_connected("port")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0 or value > 65535:
            raise ValueError("Invalid port number.")
        self._port = value

    @property
    def keepalive(self) -> int:
        """MQTT keep-alive in seconds."""
        return self._keepalive

    @keepalive.setter
    def keepalive(self, value: int) -> None:
        self._check_not_connected("keepalive")
        self._keepalive = _validate_keepalive(value)

    @property
    def transport(self) -> str:
        """"tcp" or "websockets"."""
        return self._transport

    @transport.setter
    def transport(self, value: str) -> None:
        self._check_not_connected("transport")
        if value not in ("tcp", "websockets"):
            raise ValueError(f'transport must be "websockets" or "tcp", not {value}')
        self._transport = value

    @property
    def protocol(self) -> MQTTProtocolVersion:
        """``MQTTv311`` or ``MQTTv5``, as given to the constructor."""
        return self._protocol

    @property
    def connect_timeout(self) -> float:
        """Per-broker connection timeout in seconds (default 5)."""
        return self._connect_timeout

    @connect_timeout.setter
    def connect_timeout(self, value: float) -> None:
        self._check_not_connected("connect_timeout")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError("timeout must be a positive number")
        self._connect_timeout = float(value)

    @property
    def username(self) -> Optional[str]:
        """The user name, or None."""
        return self._username

    @username.setter
    def username(self, value: Optional[str]) -> None:
        self._check_not_connected("username")
        self.username_pw_set(value, self._password)

    @property
    def password(self) -> Optional[str]:
        """The password, or None."""
        return self._password

    @password.setter
    def password(self, value: Optional[str]) -> None:
        self._check_not_connected("password")
        if self._username is None:
            raise RuntimeError("set a username before a password (username_pw_set)")
        self.username_pw_set(self._username, value)

    @property
    def max_inflight_messages(self) -> int:
        """paho's in-flight window (default 20; 0: no limit). Kept for compatibility: the
        engine paces what it sends by its own window (4096 asynchronous publishes awaiting
        their acknowledgement, 19 QoS 2 ones per broker), and order does not depend on it."""
        return self._max_inflight_messages

    @max_inflight_messages.setter
    def max_inflight_messages(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("max_inflight_messages must be an int >= 0")
        self._max_inflight_messages = value

    @property
    def max_queued_messages(self) -> int:
        """The outbox's bound: outgoing messages held at most, those being sent included
        (0: no bound, as paho). Applies to the cluster the next ``connect()`` makes."""
        return self._max_queued_messages

    @max_queued_messages.setter
    def max_queued_messages(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("max_queued_messages must be an int >= 0")
        self._max_queued_messages = value

    @property
    def will_topic(self) -> Optional[str]:
        """The will topic, or None."""
        return self._will.topic if self._will else None

    @property
    def will_payload(self) -> Optional[bytes]:
        """The will payload, or None."""
        return self._will.payload if self._will else None

    @property
    def logger(self) -> Optional[logging.Logger]:
        """The logging.Logger used by enable_logger(), or None."""
        return self._logger

    @logger.setter
    def logger(self, value: Optional[logging.Logger]) -> None:
        self._logger = value
        self._update_engine_log()

    @property
    def callback_api_version(self) -> CallbackAPIVersion:
        """The callback API version (read-only)."""
        return self._callback_api_version

    @property
    def cluster_name(self) -> Optional[str]:
        """hamqtt extension: the name of the virtual cluster (None before connect)."""
        return self._native.name if self._native is not None else self._cluster

    @property
    def live_endpoints(self) -> List[str]:
        """hamqtt extension: the names of the live endpoints."""
        nc = self._native
        return nc.live_endpoints() if nc is not None and not nc.closed else []

    @property
    def dead_endpoints(self) -> List[str]:
        """hamqtt extension: the names of the endpoints that are not live."""
        nc = self._native
        return nc.dead_endpoints() if nc is not None and not nc.closed else []

    def _check_not_connected(self, what: str) -> None:
        if self._state in (_State.CONNECTING, _State.CONNECTED):
            raise RuntimeError(f"updating {what} is only allowed before connect() or after disconnect()")

    # -- callbacks (properties + decorators) ----------------------------------------------
    #
    # As in paho-mqtt, the client calls whatever ``self.on_<name>`` is when the event comes: the
    # value given to the property (``client.on_connect = f``, or a decorator such as
    # ``@client.connect_callback()``), or a method of that name defined by a subclass
    # (``class MyClient(mqtt.Client): def on_connect(self, client, userdata, ...)``). Nothing
    # reads the private attributes behind the properties directly.

    def _cb_property(name: str, doc: str) -> Any:  # type: ignore[misc]  # noqa: N805
        attr = "_" + name

        def setter(self: "Client", func: Optional[Callable[..., Any]]) -> None:
            if func is not None and not callable(func):
                raise TypeError(f"{name} must be callable or None, not {type(func).__name__}")
            with self._lock:
                setattr(self, attr, func)
            if name == "on_log":
                self._update_engine_log()

        # attrgetter: the getter runs for every message and log line, so it should be cheap
        return property(operator.attrgetter(attr), setter, doc=doc)

    on_log = _cb_property(
        "on_log",
        "on_log(client, userdata, level, buf): log lines, ``level`` one of MQTT_LOG_INFO, "
        "MQTT_LOG_NOTICE, MQTT_LOG_WARNING, MQTT_LOG_ERR, MQTT_LOG_DEBUG. The client's own lines "
        "use paho-mqtt's wording (\"Sending CONNECT ...\", \"Received CONNACK (0, 0)\", \"Sending "
        "PUBLISH (d0, q1, r0, m1), ...\"); the engine's lines (endpoints up and down, probes, "
        "failovers) come at their own level. Setting it (or defining it in a subclass) turns the "
        "engine's log lines on, down to debug.",
    )
    on_pre_connect = _cb_property("on_pre_connect", "on_pre_connect(client, userdata): before connecting.")
    on_connect = _cb_property(
        "on_connect",
        "VERSION2: on_connect(client, userdata, flags, reason_code, properties); "
        "VERSION1: on_connect(client, userdata, flags, rc). Called when the first endpoint of the "
        "cluster is live (again).",
    )
    on_connect_fail = _cb_property(
        "on_connect_fail",
        "on_connect_fail(client, userdata): a connection attempt made by loop_forever() or "
        "loop_start() failed (the loop tries again after the reconnect delay).",
    )
    on_subscribe = _cb_property(
        "on_subscribe",
        "VERSION2: on_subscribe(client, userdata, mid, reason_code_list, properties); "
        "VERSION1: on_subscribe(client, userdata, mid, granted_qos).",
    )
    on_message = _cb_property("on_message", "on_message(client, userdata, message): messages no topic callback took.")
    on_publish = _cb_property(
        "on_publish",
        "VERSION2: on_publish(client, userdata, mid, reason_code, properties); VERSION1: on_publish(client, userdata, mid).",
    )
    on_unsubscribe = _cb_property(
        "on_unsubscribe",
        "VERSION2: on_unsubscribe(client, userdata, mid, reason_code_list, properties); "
        "VERSION1: on_unsubscribe(client, userdata, mid).",
    )
    on_disconnect = _cb_property(
        "on_disconnect",
        "VERSION2: on_disconnect(client, userdata, disconnect_flags, reason_code, properties); "
        "VERSION1: on_disconnect(client, userdata, rc). Called after disconnect() and when the last "
        "endpoint was lost.",
    )
    on_socket_open = _cb_property(
        "on_socket_open",
        "on_socket_open(client, userdata, sock): the client's socket (see :meth:`socket`) was "
        "opened by connect() or reconnect(); register it with an external event loop for reading "
        "(call loop_read() when it is readable).",
    )
    on_socket_close = _cb_property(
        "on_socket_close",
        "on_socket_close(client, userdata, sock): the socket is about to be closed (after "
        "disconnect(), at reconnect() or reinitialise()); unregister it from the event loop.",
    )
    on_socket_register_write = _cb_property(
        "on_socket_register_write",
        "on_socket_register_write(client, userdata, sock): the client has work for loop_write(). "
        "hamqtt writes nothing through this socket (the engine owns the broker connections): it "
        "asks for write interest only while callbacks wait that no event on the socket will "
        "announce (on_subscribe, on_unsubscribe), so that the loop calls loop_write() to run them.",
    )
    on_socket_unregister_write = _cb_property(
        "on_socket_unregister_write",
        "on_socket_unregister_write(client, userdata, sock): loop_write() has nothing left to do; "
        "stop watching the socket for writing.",
    )
    del _cb_property

    def _decorator(self, attr: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(func: Callable[..., Any]) -> Callable[..., Any]:
            setattr(self, attr, func)
            return func
        return deco

    def log_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_log`."""
        return self._decorator("on_log")

    def pre_connect_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_pre_connect`."""
        return self._decorator("on_pre_connect")

    def connect_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_connect`."""
        return self._decorator("on_connect")

    def connect_fail_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_connect_fail`."""
        return self._decorator("on_connect_fail")

    def subscribe_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_subscribe`."""
        return self._decorator("on_subscribe")

    def message_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_message`."""
        return self._decorator("on_message")

    def publish_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_publish`."""
        return self._decorator("on_publish")

    def unsubscribe_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_unsubscribe`."""
        return self._decorator("on_unsubscribe")

    def disconnect_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_disconnect`."""
        return self._decorator("on_disconnect")

    def socket_open_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_socket_open`."""
        return self._decorator("on_socket_open")

    def socket_close_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_socket_close`."""
        return self._decorator("on_socket_close")

    def socket_register_write_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_socket_register_write`."""
        return self._decorator("on_socket_register_write")

    def socket_unregister_write_callback(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :attr:`on_socket_unregister_write`."""
        return self._decorator("on_socket_unregister_write")

    def topic_callback(self, sub: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of :meth:`message_callback_add`."""
        def deco(func: Callable[..., Any]) -> Callable[..., Any]:
            self.message_callback_add(sub, func)
            return func
        return deco

    def message_callback_add(self, sub: str, callback: Callable[..., Any]) -> None:
        """Call ``callback(client, userdata, message)`` for messages matching filter ``sub``
        (instead of ``on_message``)."""
        if callback is None or not callable(callback):
            raise ValueError("sub and callback must both be defined.")
        sub = _validate_filter(sub, "sub")
        with self._lock:
            self._on_message_filtered[sub] = callback

    def message_callback_remove(self, sub: str) -> None:
        """Remove the topic-specific callback of ``sub``."""
        if sub is None:
            raise ValueError("sub must defined.")
        with self._lock:
            self._on_message_filtered.pop(sub, None)

    # -- settings ---------------------------------------------------------------------------

    def user_data_set(self, userdata: Any) -> None:
        """Set the ``userdata`` passed to callbacks."""
        self._userdata = userdata

    def user_data_get(self) -> Any:
        """The ``userdata`` passed to callbacks."""
        return self._userdata

    def _no_cluster_setting(self, what: str) -> None:
        if self._cluster is not None:
            raise _unsupported(f"{what} on Client(cluster={self._cluster!r})",
                               "set it in the cluster's entry of the configuration file")

    def username_pw_set(self, username: Optional[str], password: Optional[str] = None) -> None:
        """Set the user name and password used with every broker (before connect)."""
        self._no_cluster_setting("username_pw_set()")
        if username is not None and not isinstance(username, str):
            raise TypeError(f"username must be a str or None, not {type(username).__name__}")
        if username is not None:
            check_mqtt_text("username", username)
        if isinstance(password, (bytes, bytearray)):
            try:
                password = bytes(password).decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("password is not valid UTF-8: the engine takes passwords as UTF-8 text") from None
        if password is not None and not isinstance(password, str):
            raise TypeError(f"password must be a str, bytes or None, not {type(password).__name__}")
        if password is not None:
            check_secret("password", password)
        self._username = username
        self._password = None if username is None else password

    def will_set(self, topic: str, payload: PayloadType = None, qos: int = 0, retain: bool = False,
                 properties: Optional[Properties] = None) -> None:
        """Set the last will every broker connection registers (before connect).

        MQTT 5: ``properties`` is a ``Properties(PacketTypes.WILLMESSAGE)``: Will Delay Interval,
        Payload Format Indicator, Message Expiry Interval, Content Type, Response Topic,
        Correlation Data and User Properties go to every broker with the will."""
        self._no_cluster_setting("will_set()")
        if topic is None or (isinstance(topic, str) and len(topic) == 0):
            raise ValueError("Invalid topic.")
        if not isinstance(topic, str):
            raise TypeError(f"topic must be a str, not {type(topic).__name__}")
        if "+" in topic or "#" in topic:
            raise ValueError("Publish topic cannot contain wildcards.")
        _check_topic_text(topic, "will topic")
        qos = _validate_qos(qos)
        if self._v5:
            props = _check_properties(properties, PacketTypes.WILLMESSAGE)
        else:
            require_no_properties(properties, "will_set() on an MQTT 3.1.1 client")
            props = None
        data = _encode_payload(payload)
        if len(data) > MAX_STRING_FIELD:
            raise ValueError(f"Payload too large: a will payload is at most {MAX_STRING_FIELD} bytes in MQTT, not {len(data)}")
        will = Will(topic=topic, payload=data, qos=qos, retain=bool(retain), properties=props)
        if props is not None:
            from .options import ClusterOptions as _CO

            _CO(protocol_version=5, will=will).to_struct()  # check the properties now, not at connect()
        self._will = will

    def will_clear(self) -> None:
        """Remove the will."""
        self._will = None

    def tls_set(self, ca_certs: Optional[str] = None, certfile: Optional[str] = None,
                keyfile: Optional[str] = None, cert_reqs: Optional[Any] = None,
                tls_version: Optional[Any] = None, ciphers: Optional[str] = None,
                keyfile_password: Optional[Any] = None, alpn_protocols: Optional[List[str]] = None) -> None:
        """Use TLS (ssl:// or wss://) with these PEM files (before connect).

        ``cert_reqs=ssl.CERT_NONE`` disables verification. ``ciphers``, ``keyfile_password``,
        ``alpn_protocols`` and a ``tls_version`` other than the TLS client default cannot be
        passed to the engine: they raise NotSupportedError.
        """
        import ssl

        self._no_cluster_setting("tls_set()")
        if self._tls is not None:
            raise ValueError("SSL/TLS has already been configured.")
        for name, value in (("ciphers", ciphers), ("keyfile_password", keyfile_password),
                            ("alpn_protocols", alpn_protocols)):
            if value is not None:
                raise _unsupported(f"tls_set({name}=...)", "the engine uses Go's TLS defaults (TLS 1.2+)")
        if tls_version not in (None, getattr(ssl, "PROTOCOL_TLS_CLIENT", None), getattr(ssl, "PROTOCOL_TLS", None)):
            raise _unsupported(f"tls_set(tls_version={tls_version!r})", "the engine negotiates TLS 1.2 or newer")
        for name, value in (("ca_certs", ca_certs), ("certfile", certfile), ("keyfile", keyfile)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a path (str), not {type(value).__name__}")
        if (certfile is None) != (keyfile is None) and not (certfile is not None and keyfile is None):
            raise ValueError("keyfile given without certfile")
        if certfile is not None and keyfile is None:
            keyfile = certfile  # paho/OpenSSL: the key may be in the certificate file
        # As paho: cert_reqs=CERT_NONE turns every check off (chain and host name), while
        # tls_insecure_set(True) only skips the host name check.
        self._tls = {"ca": ca_certs, "cert": certfile, "key": keyfile, "no_verify": cert_reqs == ssl.CERT_NONE}

    def tls_set_context(self, context: Any = None) -> None:
        """Not supported: an ``ssl.SSLContext`` cannot be handed to the engine (use tls_set)."""
        raise _unsupported("tls_set_context()", "pass the PEM files to tls_set() instead")

    def tls_insecure_set(self, value: bool) -> None:
        """Skip the check that the broker's certificate names the host (True) or not (False).

        As in paho-mqtt, the certificate chain is still verified against ``ca_certs`` (the
        system's CAs without one); only ``tls_set(cert_reqs=ssl.CERT_NONE)`` turns that off.
        A warning is logged when the client connects with it."""
        self._no_cluster_setting("tls_insecure_set()")
        if self._tls is None:
            raise ValueError("Must configure SSL context before using tls_insecure_set.")
        self._tls_insecure = bool(value)

    def ws_set_options(self, path: str = "/mqtt", headers: Any = None) -> None:
        """Set the websocket path; extra headers are not supported (NotSupportedError)."""
        if headers is not None:
            raise _unsupported("ws_set_options(headers=...)", "the engine sends no extra websocket headers")
        if not isinstance(path, str):
            raise TypeError("path must be a str")
        self._ws_path = path if path.startswith("/") else "/" + path

    def proxy_set(self, **proxy_args: Any) -> None:
        """Not supported: the engine connects to brokers directly."""
        raise _unsupported("proxy_set()", "the engine connects to brokers directly")

    def enable_bridge_mode(self) -> None:
        """Not supported (a bridge-mode CONNECT is not offered by the engine)."""
        raise _unsupported("enable_bridge_mode()")

    def manual_ack_set(self, on: bool) -> None:
        """Only False is supported."""
        if on:
            raise _unsupported("manual_ack", "the engine acknowledges a message once it is queued for on_message")

    def ack(self, mid: int, qos: int) -> MQTTErrorCode:
        """Not supported (manual acknowledgement)."""
        raise _unsupported("ack()", "manual acknowledgement is not offered")

    def reconnect_delay_set(self, min_delay: float = 1, max_delay: float = 120) -> None:
        """Reconnect backoff: the first delay and the cap, in seconds (engine probe delays)."""
        for name, v in (("min_delay", min_delay), ("max_delay", max_delay)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or math.isinf(v):
                raise ValueError(f"{name} must be a positive number of seconds, not {v!r}")
        if max_delay < min_delay:
            raise ValueError("max_delay must be >= min_delay")
        self._no_cluster_setting("reconnect_delay_set()")
        self._reconnect_min_delay = min_delay
        self._reconnect_max_delay = max_delay

    def max_inflight_messages_set(self, inflight: int) -> None:
        """paho's in-flight window (default 20; 0: unlimited): recorded, see
        :attr:`max_inflight_messages`."""
        self.max_inflight_messages = inflight

    def max_queued_messages_set(self, queue_size: int) -> "Client":
        """Bound the outbox: at most ``queue_size`` outgoing messages held (those stored and
        those being sent, until a broker acknowledged them); 0 (the default): no bound, as
        paho. A publish that finds it full returns ``MQTT_ERR_QUEUE_SIZE`` (nothing stored is
        touched; ``outbox_set(overflow="drop-oldest")`` drops the oldest instead). Call it
        before ``connect()``: the bound belongs to the cluster ``connect()`` makes."""
        if not isinstance(queue_size, int) or isinstance(queue_size, bool):
            raise TypeError("queue_size should be an int")
        self.max_queued_messages = queue_size
        return self

    def outbox_set(self, path: Union[str, "os.PathLike[str]", None] = None, *,
                   sync: Union[SyncPolicy, str] = SyncPolicy.ALWAYS, sync_interval: Optional[float] = None,
                   overflow: Union[OverflowPolicy, str] = OverflowPolicy.REFUSE, max_bytes: Optional[int] = None,
                   expiry: Optional[float] = None, qos0: bool = False) -> None:
        """hamqtt extension: choose the outbox outgoing messages are stored in (before
        ``connect()``).

        Without this call the outbox is in memory, unbounded (as paho's queue), and stores QoS
        1 and 2 messages. With ``path`` it is a durable disk outbox in that directory (made if
        missing): stored messages also survive a crash or ``kill -9`` of the process, and the
        next client on the directory sends them first, in order, once a broker is live. One
        client or process owns a directory at a time: another one's ``connect()`` raises
        :class:`hamqtt.OutboxLockedError`.

        :param path: the disk outbox's directory; None: in memory.
        :param sync: when a disk outbox forces its writes to disk (:class:`hamqtt.SyncPolicy`
            or its name): ``"always"`` (default; a publish returns once an fsync covered it,
            so it survives a power loss), ``"interval"`` (every ``sync_interval`` seconds,
            default 0.1: survives a crash of the process), ``"never"``.
        :param overflow: what a full outbox does with a new message
            (:class:`hamqtt.OverflowPolicy` or its name): ``"refuse"`` (default: ``publish()``
            returns ``MQTT_ERR_QUEUE_SIZE``), ``"block"`` (``publish()`` waits for room up to
            ``time_to_wait``, then refuses), ``"drop-oldest"`` (the oldest message not being
            sent is dropped: its ``rc`` becomes ``MQTT_ERR_QUEUE_SIZE``).
        :param max_bytes: topic and payload bytes held at most (None: no bound); the message
            count is bounded by :meth:`max_queued_messages_set`.
        :param expiry: seconds after which a message not yet published is dropped (its ``rc``
            becomes ``MQTT_ERR_NO_CONN``); None: never.
        :param qos0: store QoS 0 messages too (by default they are not stored: dropped with
            ``MQTT_ERR_NO_CONN`` while no broker is connected, as paho).
        :raises RuntimeError: called while connected.
        :raises ValueError: a value out of range or an unknown policy name.
        """
        self._check_not_connected("the outbox")
        self._no_cluster_setting("outbox_set()")
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a directory (str or os.PathLike) or None, not {type(path).__name__}")
        opts: Dict[str, Any] = {
            "outbox": True,
            "outbox_dir": os.fspath(path) if path is not None else None,
            "outbox_sync": sync if path is not None else None,
            "outbox_sync_interval": sync_interval,
            "outbox_overflow": overflow,
            "outbox_max_bytes": max_bytes,
            "outbox_expiry": expiry,
            "outbox_qos0": bool(qos0),
        }
        if path is None and SyncPolicy(_sync_value(sync)) != SyncPolicy.ALWAYS:
            raise ValueError("outbox_set(sync=...) applies to a disk outbox: give a path")
        ClusterOptions(**opts).to_struct()  # validate now, not at connect()
        self._outbox_opts = opts

    def outbox_stats(self) -> OutboxStats:
        """hamqtt extension: the outbox's depth, size and the age of its oldest message.

        ``messages`` counts what waits for a broker's acknowledgement (stored, or being sent);
        ``oldest_age`` is how long the oldest of them has waited, in seconds. Messages published
        before the first ``connect()`` are counted too. With the outbox turned off
        (``ha_options={"outbox": False}``, or a ``Client(cluster=...)`` whose cluster has none
        in the configuration file) only those are.
        """
        with self._lock:
            early = list(self._early)
            nc = self._native
        st: Optional[OutboxStats] = None
        if nc is not None and not nc.closed:
            try:
                st = nc.outbox_stats()
            except _lib.ClosedError:
                st = None
        if not early:
            return st if st is not None else OutboxStats(0, 0, 0.0, None, 0, 0, 0, 0, 0)
        now = time.time()
        n = len(early)
        size = sum(len(e.topic) + len(e.payload) for e in early)
        oldest = early[0].since
        if st is None:
            return OutboxStats(n, size, max(0.0, now - oldest), oldest, n, 0, 0, 0, 0)
        if st.oldest_time is not None and st.oldest_time < oldest:
            oldest = st.oldest_time
        return OutboxStats(st.messages + n, st.bytes + size, max(0.0, now - oldest), oldest,
                           st.stored + n, st.delivered, st.dropped, st.expired, st.recovered)

    def enable_logger(self, logger: Optional[logging.Logger] = None) -> None:
        """Send log lines to ``logger`` (default: the ``hamqtt.client`` logger)."""
        if logger is None:
            if self._logger is not None:
                return
            logger = logging.getLogger(__name__)
        self.logger = logger

    def disable_logger(self) -> None:
        """Stop sending log lines to the logger."""
        self.logger = None

    def reinitialise(self, client_id: str = "", clean_session: bool = True, userdata: Any = None) -> None:
        """Reset the client as if newly constructed (closing its cluster)."""
        self._close_native()
        if self._protocol == MQTTv5 and clean_session is True:
            clean_session = None  # type: ignore[assignment]  # not used by MQTT 5
        self.__init__(self._callback_api_version, client_id, clean_session, userdata,  # type: ignore[misc]
                      self._protocol, self._transport, self._reconnect_on_failure)

    # -- logging ----------------------------------------------------------------------------

    def _easy_log(self, level: LogLevel, fmt: str, *args: Any) -> None:
        on_log = self.on_log
        if on_log is not None:
            try:
                on_log(self, self._userdata, level, fmt % args if args else fmt)
            except Exception:  # noqa: BLE001 - as paho: never recurse on a failing on_log
                pass
        if self._logger is not None:
            self._logger.log(LOGGING_LEVEL[level], fmt, *args)

    def _logging(self) -> bool:
        """True when a log line would reach someone (on_log or the logger)."""
        return self._logger is not None or self.on_log is not None

    def _update_engine_log(self) -> None:
        nc = self._native
        if nc is None or nc.closed or _lib.forked():
            return
        on_log = self.on_log
        if on_log is None and self._logger is None:
            nc.set_log_handler(_lib.LOG_OFF, None)
            return
        level = _lib.LOG_DEBUG if on_log is not None else max(_lib.LOG_DEBUG, self._logger.getEffectiveLevel() if self._logger else _lib.LOG_INFO)
        logs = self._engine_logs
        nc.set_log_handler(level, lambda lvl, line: logs.append((lvl, line)))

    def _flush_engine_logs(self) -> None:
        logs = self._engine_logs
        while logs:
            try:
                lvl, line = logs.popleft()
            except IndexError:
                break
            self._easy_log(_ENGINE_LOG_LEVELS.get(lvl, MQTT_LOG_DEBUG), "%s", _engine_line(line))

    # -- connecting -------------------------------------------------------------------------

    def connect(self, host: Optional[str] = None, port: int = 1883, keepalive: int = 60, bind_address: str = "",
                bind_port: int = 0, clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
                properties: Optional[Properties] = None) -> MQTTErrorCode:
        """Connect to the virtual cluster and return once one broker is connected.

        ``host`` is a broker ("localhost"), a list ("a:1883,b:1884"; ``port`` is the default
        port of entries without one) or a URI with ranges ("tcp://10.0.0.5-7:1883-1885").
        With ``Client(cluster=...)`` no host is needed.

        As paho's, it fails at once when no broker can be reached: when every broker refused
        the connection (nothing listens), the error is a ``ConnectionRefusedError`` with
        ``errno.ECONNREFUSED``, as paho raises for a refused socket; other failures (TLS, bad
        credentials, timeouts) are ``ConnectionRefusedError`` too, without an errno, naming each
        broker and why. Nothing keeps trying after it raised (use ``connect_async()`` and a loop
        for that). The socket for an external event loop is open once it returned
        (``on_socket_open``).

        MQTT 5 (``Client(protocol=MQTTv5)``): ``clean_start`` is True (every connection starts
        a new session), False (every connection resumes the session a broker holds) or
        ``MQTT_CLEAN_START_FIRST_ONLY`` (the default). The engine keeps one connection per broker,
        each with its own session, and sets Clean Start alike on all of them, at the first
        connection and at every reconnection: ``MQTT_CLEAN_START_FIRST_ONLY`` is a clean start
        when the session ends with the connection (no ``SessionExpiryInterval``, or 0), which is
        the same thing, and a resumed session when the brokers keep it (a session left by an
        earlier run is then resumed, where paho would clear it once). ``properties`` is a
        ``Properties(PacketTypes.CONNECT)``: SessionExpiryInterval, ReceiveMaximum,
        TopicAliasMaximum, RequestResponseInformation, RequestProblemInformation and
        UserProperty go to every broker; MaximumPacketSize and the authentication properties
        raise NotSupportedError. ``on_connect`` gets the CONNACK properties of the first broker.

        :raises ConnectionRefusedError: no broker could be connected.
        """
        if not self._v5:
            if clean_start != MQTT_CLEAN_START_FIRST_ONLY:
                raise ValueError("Clean start only applies to MQTT V5")
            if properties:
                raise ValueError("Properties only apply to MQTT V5")
        self.connect_async(host, port, keepalive, bind_address, bind_port, clean_start, properties)
        return self.reconnect()

    def connect_async(self, host: Optional[str] = None, port: int = 1883, keepalive: int = 60,
                      bind_address: str = "", bind_port: int = 0,
                      clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
                      properties: Optional[Properties] = None) -> None:
        """Record where to connect; the loop (loop_start/loop_forever) connects.

        As in paho, the loop keeps trying while no broker can be reached: each failed attempt
        calls ``on_connect_fail`` and the next one follows after the reconnect delay
        (``reconnect_delay_set``, 1 s doubling up to 120 s by default).

        The cluster and its outbox are made here (nothing is sent yet): messages published
        from now on are stored in it (on disk with ``outbox_set(path)``), behind those published
        before this call, and sent once the loop has connected.

        :raises ValueError: a host or setting the engine refuses.
        :raises hamqtt.OutboxLockedError: the disk outbox's directory is owned by another
            client or process.
        """
        if bind_address or bind_port:
            if bind_port < 0:
                raise ValueError("Invalid bind port number.")
            raise _unsupported("bind_address/bind_port", "the engine chooses the local address")
        if self._v5:
            if clean_start not in (True, False, MQTT_CLEAN_START_FIRST_ONLY):
                raise ValueError(f"clean_start must be True, False or MQTT_CLEAN_START_FIRST_ONLY, not {clean_start!r}")
            connect_opts = _connect_options(properties)
            if self._cluster is not None and (connect_opts or clean_start != MQTT_CLEAN_START_FIRST_ONLY):
                raise _unsupported(f"connect(clean_start=..., properties=...) on Client(cluster={self._cluster!r})",
                                   "set them in the cluster's entry of the configuration file")
        else:
            if clean_start != MQTT_CLEAN_START_FIRST_ONLY:
                raise ValueError("Clean start only applies to MQTT V5")
            require_no_properties(properties, "connect()")
            connect_opts = {}
        if self._cluster is not None:
            if host:
                _log.warning("Client(cluster=%r): host %r ignored, the brokers come from the configuration file",
                             self._cluster, host)
            host = self._cluster
        else:
            if host is None or not isinstance(host, str) or len(host.strip()) == 0:
                if host is not None and not isinstance(host, str):
                    raise TypeError(f"host must be a str, not {type(host).__name__}")
                raise ValueError("Invalid host.")
            if isinstance(port, bool) or not isinstance(port, int) or port <= 0 or port > 65535:
                raise ValueError("Invalid port number.")
        keepalive = _validate_keepalive(keepalive)
        with self._lock:
            if self._state in (_State.CONNECTED, _State.CONNECTING, _State.CONNECTION_LOST) or self._engine_started:
                self._stop_engine()
            self._host = host
            self._port = port
            self._keepalive = int(keepalive)
            self._clean_start = clean_start
            self._connect_opts = connect_opts
            self._state = _State.CONNECT_ASYNC
            # The cluster (and its outbox) exists from now on: what is published before the
            # loop connects is stored in it (on disk with a disk outbox), behind what was
            # published before this call.
            nc = self._ensure_native()
            self._hand_over(nc)

    def connect_srv(self, domain: Optional[str] = None, keepalive: int = 60, bind_address: str = "",
                    bind_port: int = 0, clean_start: CleanStartOption = MQTT_CLEAN_START_FIRST_ONLY,
                    properties: Optional[Properties] = None) -> MQTTErrorCode:
        """Not supported: give the brokers as a host list or URI range to connect()."""
        raise _unsupported("connect_srv()", "pass the brokers to connect() as a list or URI range")

    def _endpoints(self) -> str:
        items = []
        for raw in self._host.split(","):
            item = raw.strip()
            if not item:
                continue
            if "://" in item:
                scheme = item.split("://", 1)[0].lower()
                if self._tls is not None and scheme in ("tcp", "mqtt", "ws"):
                    raise ValueError(
                        f"tls_set() was called but {_lib.redact_uri(item)!r} names a plain {scheme}:// broker: "
                        "use ssl:// (or wss://) URIs, or a host without a scheme, to connect with TLS")
            else:
                has_port = (item.startswith("[") and "]:" in item) or (not item.startswith("[") and item.count(":") == 1)
                if not has_port:
                    item = f"{item}:{self._port}"
                if self._transport == "websockets":
                    item = ("wss://" if self._tls is not None else "ws://") + item + self._ws_path
                else:
                    item = ("ssl://" if self._tls is not None else "tcp://") + item
            items.append(item)
        if not items:
            raise ValueError("Invalid host.")
        return ",".join(items)

    def _options(self) -> ClusterOptions:
        o = ClusterOptions.from_any(self._ha_options)
        if self._client_id:
            o.client_id = self._client_id.decode("utf-8")
        o.persistent_session = self._persistent()
        if self._v5:
            o.protocol_version = 5
            for k, v in self._connect_opts.items():
                setattr(o, k, v)
            # message_ids left unset is the engine's "auto": only an ALL publisher or a disk
            # outbox (outbox_set) stamps messages for exact dedup; the default memory outbox
            # sends them with the properties the program gave, nothing more, as paho does.
        if self._username is not None:
            o.username = self._username
            o.password = self._password
        o.keep_alive = self._keepalive if self._keepalive > 0 else -1  # 0: no keep-alive, as paho
        o.connect_timeout = self._connect_timeout
        o.probe_delay = self._reconnect_min_delay
        o.max_probe_delay = self._reconnect_max_delay
        if self._will is not None:
            o.will = self._will
        if self._tls is not None:
            o.tls_ca_file = self._tls["ca"]
            o.tls_cert_file = self._tls["cert"]
            o.tls_key_file = self._tls["key"]
            o.tls_insecure = bool(self._tls.get("no_verify"))
            o.tls_skip_hostname_check = self._tls_insecure
        self._outbox_options(o)
        return o

    def _persistent(self) -> bool:
        """Whether the brokers keep the session when a connection ends (MQTT 3.1.1: clean
        session off; MQTT 5: Clean Start off, see :meth:`connect`)."""
        if not self._v5:
            return not self._clean_session
        cs = self._clean_start
        if cs is True:
            return False
        if cs is False:
            return True
        return self._asked_session_expiry()

    def _asked_session_expiry(self) -> bool:
        """Whether connect() (or the cluster options) asked for a non-zero session expiry."""
        return bool(self._connect_opts.get("session_expiry", self._ha_options.session_expiry))

    def _outbox_options(self, o: ClusterOptions) -> None:
        """The outbox of the cluster connect() makes: in memory by default, as paho keeps its
        queue; outbox_set() chooses it, ha_options may turn it off or set its fields;
        max_queued_messages bounds its count (0: no bound, as paho)."""
        if o.outbox is False and not self._outbox_opts:
            return
        for k, v in self._outbox_opts.items():
            setattr(o, k, v)
        o.outbox = True
        if self._max_queued_messages > 0:
            o.outbox_max_messages = self._max_queued_messages
        elif o.outbox_max_messages is None:
            o.outbox_max_messages = -1
        if o.outbox_max_bytes is None:
            o.outbox_max_bytes = -1

    def _stores(self, qos: int) -> bool:
        """Whether the outbox of the cluster connect() makes (or made) stores this QoS."""
        if self._cluster is not None:
            nc = self._native
            return nc is not None and qos > 0 and nc.has_outbox()
        if self._ha_options.outbox is False and not self._outbox_opts:
            return False
        return qos > 0 or bool(self._outbox_opts.get("outbox_qos0") or self._ha_options.outbox_qos0)

    def _ensure_native(self) -> NativeClient:
        if self._cluster is not None:
            key: Tuple[Any, ...] = ("cluster", self._cluster)
        else:
            if not self._host:
                raise ValueError("Invalid host.")
            key = ("endpoints", self._endpoints(), self._options())
        nc = self._native
        if nc is not None and not nc.closed and self._native_key == key:
            return nc
        # Another cluster replaces this one: what its outbox still holds is handed on only when
        # the new one opens the same disk outbox (which resumes the messages under the same
        # ids); a memory outbox goes with its cluster.
        new_dir = _outbox_dir_of(key[2]) if self._cluster is None else None
        self._close_native(keep_stored=new_dir is not None and new_dir == self._native_outbox_dir)
        if self._cluster is not None:
            from . import ha

            ha.HaClusters._ensure_initialized()
            nc = NativeClient.from_cluster(self._cluster)
            nc.claim(self, "hamqtt.client.Client(cluster=...)")
        else:
            options = self._options()
            opts = options.to_struct()
            nc = NativeClient.create(key[1], opts.struct)
            warning = options.verification_warning()
            if warning is not None and not self._logging():
                # The engine's own warning reaches on_log and the logger once one is set; without
                # either it would reach nobody.
                _log.warning("%s: %s", _lib.redact_uri(self._host), warning)
        self._native = nc
        self._native_key = key
        self._native_outbox_dir = new_dir
        self._update_engine_log()
        return nc

    def _close_native(self, notify: bool = True, keep_stored: bool = False) -> None:
        self._close_socket(notify=notify)
        nc = self._native
        self._native = None
        self._native_key = None
        self._engine_started = False
        where = self._native_outbox_dir
        self._native_outbox_dir = None
        with self._lock:
            if keep_stored:
                # Still stored on disk: the next client on the directory resumes them and
                # reports their outcomes under the same ids.
                lost = [(i, q) for i, q in self._pending.values() if not i._stored]
                self._pending = {k: v for k, v in self._pending.items() if v[0]._stored}
            else:
                lost = list(self._pending.values())
                self._pending.clear()
        if lost and notify:
            why = ("the client's cluster was closed first"
                   + (f"; the message stays stored in the outbox {where}, for the next client on it" if where else ""))
            for info, _ in lost:
                info._set_failed(MQTT_ERR_CONN_LOST, why)
            self._easy_log(MQTT_LOG_ERR, "%d message(s) not published: %s", len(lost), why)
        elif lost:
            for info, _ in lost:
                info._set_failed(MQTT_ERR_CONN_LOST, "the client was closed")
        if nc is not None:
            try:
                nc.close()
            except _lib.HamqttError:
                _log.debug("closing the native client failed", exc_info=True)

    def reconnect(self) -> MQTTErrorCode:
        """Connect again (after connect()/connect_async() or a disconnect()).

        :raises ConnectionRefusedError: no broker could be connected (see :meth:`connect`).
        """
        if not self._host:
            raise ValueError("Invalid host.")
        self._connect_engine(raise_on_failure=True)
        return MQTT_ERR_SUCCESS

    def _connect_log(self, nc: NativeClient) -> None:
        """paho's "Sending CONNECT" line, with the flags every broker connection uses."""
        if not self._logging():
            return
        if self._cluster is not None:
            self._easy_log(MQTT_LOG_DEBUG, "Connecting to cluster %s", nc.name)
            return
        self._easy_log(MQTT_LOG_DEBUG, "Connecting to %s", _lib.redact_uri(self._host))
        will = self._will
        self._easy_log(
            MQTT_LOG_DEBUG, "Sending CONNECT (u%d, p%d, wr%d, wq%d, wf%d, c%d, k%d) client_id=%s",
            self._username is not None, self._password is not None, bool(will and will.retain),
            will.qos if will else 0, will is not None, not self._persistent(), self._keepalive,
            self._client_id,
        )

    def _connect_engine(self, raise_on_failure: bool) -> bool:
        self._close_socket()
        with self._lock:
            if self._engine_started:
                self._stop_engine()
            nc = self._ensure_native()
            self._hand_over(nc)
            self._state = _State.CONNECTING
            self._drain_until_closed = False
            self._disconnect_returned = False
            self._exit_loop = False
            self._live = set()
            self._all_lost = False
            self._after_connect = []
            self._engine_started = True
        on_pre = self.on_pre_connect
        if on_pre is not None:
            self._call("on_pre_connect", on_pre, self, self._userdata)
        self._connect_log(nc)
        err = self._connect_now(nc)
        if err is not None:
            with self._lock:
                self._engine_started = False
                self._state = _State.CONNECT_ASYNC
            self._easy_log(MQTT_LOG_DEBUG, "Connection failed: %s", err)
            if raise_on_failure:
                raise err
            return False
        if self._early:
            with self._lock:
                self._hand_over(nc)  # what a cluster without an outbox takes only once started
        self._open_socket()
        self._waker.wake()
        return True

    def _connect_now(self, nc: NativeClient) -> Optional[ConnectionRefusedError]:
        """hamqtt_connect: returns once a broker is live, or the error to raise.

        The engine answers at once when every broker failed an attempt made during the call
        (refused, TLS, CONNACK refusal), else after time_to_wait; it would keep probing, but
        paho's connect() leaves nothing trying after it raised, so the engine is stopped.
        """
        try:
            nc.connect()
            return None
        except _lib.HamqttError as exc:
            detail = exc.detail or str(exc)
        refused = False
        try:
            stats = [s for s in nc.stats() if s.state != "removed"]
            refused = bool(stats) and all("connection refused" in s.last_error for s in stats)
        except _lib.HamqttError:
            pass
        try:
            nc.disconnect()
        except _lib.HamqttError:
            pass
        what = f"hamqtt: no broker of {nc.name if self._cluster else _lib.redact_uri(self._host)!r} could be connected: {detail}"
        if refused:
            return ConnectionRefusedError(errno.ECONNREFUSED, f"Connection refused: {what}")
        return ConnectionRefusedError(what)

    def _stop_engine(self, reason: int = 0, props: Optional[NativeProps] = None) -> None:
        """Disconnect the engine (lock held); pending outcomes are drained later. ``reason`` and
        ``props`` go in each MQTT 5 broker's DISCONNECT."""
        nc = self._native
        self._engine_started = False
        self._live = set()
        if nc is not None and not nc.closed:
            if reason or props is not None:
                try:
                    nc.disconnect_props(reason, props)
                    return
                except _lib.HamqttError as exc:
                    # Checked by disconnect() already; what only the engine knows (a cluster of
                    # the configuration file connected without a session expiry) ends the
                    # connections with a plain DISCONNECT rather than leaving them open.
                    _log.error("DISCONNECT with reason code 0x%02x refused by the engine: %s", reason, exc)
            try:
                nc.disconnect()
            except _lib.HamqttError:
                pass

    def disconnect(self, reasoncode: Optional[ReasonCode] = None,
                   properties: Optional[Properties] = None) -> MQTTErrorCode:
        """Disconnect from every broker (after the messages on their way completed, for at most
        the engine's time_to_wait; not at all while every broker is down). What the outbox
        still holds stays there and is sent after the next ``connect()``.

        ``on_disconnect`` follows, then ``on_socket_close``, as in paho: from the loop thread
        when ``loop_start()``/``loop_forever()`` runs, from the next ``loop_read()`` of an
        external event loop that set ``on_socket_register_write`` (the socket stays readable
        until the last events were read), and otherwise before this call returns.

        MQTT 5, as paho: ``reasoncode`` (a ``ReasonCode(PacketTypes.DISCONNECT, ...)``) and
        ``properties`` (a ``Properties(PacketTypes.DISCONNECT)`` with SessionExpiryInterval,
        ReasonString, UserProperty) go in the DISCONNECT every broker gets; "Disconnect with
        will message" (0x04) has each broker publish the will. Under MQTT 3.1.1 both are
        ignored, as paho ignores them.

        :raises ValueError: what MQTT forbids a client's DISCONNECT (and a broker would answer
            with a protocol error): a reason code only a server sends, a ServerReference, a
            SessionExpiryInterval other than 0 after connecting without a session expiry. The
            client stays connected.
        """
        reason, native_props = self._disconnect_args(reasoncode, properties) if self._v5 else (0, None)
        with self._lock:
            if not self._engine_started:
                self._state = _State.DISCONNECTED
                self._exit_loop = True
                self._waker.wake()
                return MQTT_ERR_NO_CONN
            self._state = _State.DISCONNECTING
        self._flush_pending(self._time_to_wait())
        self._easy_log(MQTT_LOG_DEBUG, "Sending DISCONNECT")
        with self._lock:
            self._drain_until_closed = True
            self._disconnect_returned = False
            self._stop_engine(reason, native_props)
            self._disconnect_returned = True
            if not self._persistent() and self._cluster is None:
                self._forget_subscriptions()
        self._waker.wake()
        if (not self._loop_running_elsewhere() and not self._in_callback()
                and self.on_socket_register_write is None):
            self._drain_after_disconnect()
        return MQTT_ERR_SUCCESS

    def _disconnect_args(self, reasoncode: Optional[ReasonCode],
                         properties: Optional[Properties]) -> Tuple[int, Optional[NativeProps]]:
        """The reason code and the engine's copy of the properties of an MQTT 5 DISCONNECT,
        checked as the engine checks them (before anything is sent, so that a refusal leaves
        the client connected)."""
        reason = 0 if reasoncode is None else int(reasoncode)
        if reason not in _CLIENT_DISCONNECT_CODES:
            raise ValueError(f"disconnect(reasoncode=...): a client's DISCONNECT may not carry reason code "
                             f"0x{reason:02x} ({reasoncode}); use 0x00, 0x04 or 0x80-0x83, 0x90, 0x93-0x97, 0x99")
        props = _check_properties(properties, PacketTypes.DISCONNECT)
        if props is None:
            return reason, None
        if hasattr(props, "ServerReference"):
            raise ValueError("disconnect(properties=...): ServerReference is sent by brokers, not by clients")
        if getattr(props, "SessionExpiryInterval", 0) and not self._session_expiry_at_connect():
            raise ValueError("disconnect(properties=...): SessionExpiryInterval cannot become non-zero when the "
                             "client connected without one (MQTT 5, 3.14.2.2.2)")
        try:
            packed = props.pack()
        except (MQTTException, TypeError, ValueError, struct.error) as exc:
            raise ValueError(f"disconnect(properties=...): {exc}") from None
        return reason, NativeProps(packed)

    def _session_expiry_at_connect(self) -> bool:
        """Whether the CONNECT carried a non-zero session expiry (a cluster of the
        configuration file: assumed, the engine checks)."""
        if self._cluster is not None:
            return True
        return self._asked_session_expiry()

    def _forget_subscriptions(self) -> None:
        """A clean session forgets its subscriptions (lock held): so does the engine's
        registry, which would replay them at the next connect(). The cluster itself, and what
        its outbox holds, stays."""
        nc = self._native
        subs, self._subscriptions = self._subscriptions, {}
        if nc is None or nc.closed:
            return
        for t in subs:
            try:
                nc.unsubscribe(t.encode("utf-8"))
            except _lib.HamqttError:
                pass

    def _time_to_wait(self) -> float:
        return self._ha_options.time_to_wait or 10.0

    def _flush_pending(self, timeout: float) -> None:
        """Let the messages on their way complete, for at most ``timeout`` seconds, unless every
        broker is lost: what the outbox holds then stays there (sent after the next
        connect())."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._pending or self._all_lost:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                if self._loop_running_elsewhere():
                    self._cond.wait(min(left, 0.1))
                    continue
            self._pump(min(left, 0.1))

    def _drain_after_disconnect(self) -> None:
        deadline = time.monotonic() + 5
        while self._drain_until_closed and time.monotonic() < deadline:
            self._loop_step(0.05)

    def is_connected(self) -> bool:
        """True while at least one broker of the cluster is connected."""
        return self._state == _State.CONNECTED

    # -- publishing -------------------------------------------------------------------------

    def _mid_generate(self) -> int:
        self._last_mid += 1
        if self._last_mid == 65536:
            self._last_mid = 1
        return self._last_mid

    def publish(self, topic: str, payload: PayloadType = None, qos: int = 0, retain: bool = False,
                properties: Optional[Properties] = None) -> MQTTMessageInfo:
        """Publish a message through the cluster (failing over between brokers).

        Returns an :class:`MQTTMessageInfo` whose ``rc`` is

        * ``MQTT_ERR_SUCCESS`` when the message was taken: stored in the outbox (QoS 1 and 2,
          and QoS 0 with ``outbox_set(qos0=True)``; :meth:`MQTTMessageInfo.is_stored` is True),
          or for QoS 0 handed to a connected broker. A stored message is sent in publish order
          once a broker is live, however long every broker is down, also when published before
          ``connect()``; ``on_publish`` and ``is_published()`` follow the broker's
          acknowledgement. (paho returns ``MQTT_ERR_NO_CONN`` for a QoS > 0 message it kept
          while disconnected, and its ``wait_for_publish()`` then raises; here the message is
          stored and ``wait_for_publish()`` waits for it.)
        * ``MQTT_ERR_QUEUE_SIZE`` when the outbox is full (:meth:`max_queued_messages_set`,
          ``outbox_set(max_bytes=...)``): not stored, as paho;
        * ``MQTT_ERR_NO_CONN`` for a QoS 0 message while no broker is connected (dropped, as
          paho), and for any message the outbox does not store while the client is not
          connected (the outbox turned off: then, as paho, a QoS > 0 message is kept and sent
          once connected);
        * ``MQTT_ERR_ERRNO`` when the disk outbox could not write it (not stored).

        MQTT 5 (``Client(protocol=MQTTv5)``): ``properties`` is a
        ``Properties(PacketTypes.PUBLISH)`` sent with the message (through failover and the
        outbox). A ``TopicAlias`` in it is ignored: the engine assigns topic aliases itself, per
        broker connection. A broker that refuses the message with a reason code (0x80 and
        above, e.g. 0x87 "Not authorized") gives ``on_publish`` that code; the message's ``rc``
        then says it was not published (see :attr:`MQTTMessageInfo.reason_code`).

        :raises ValueError: bad topic (empty, wildcard), QoS or a payload that is too large;
            MQTT 5 properties that are not a ``Properties(PacketTypes.PUBLISH)``, or that the
            engine refuses (a user property named ``hamqtt-...``, a response topic with
            wildcards).
        :raises TypeError: topic, payload or qos of the wrong type.
        """
        tb = _checked_publish_topics.get(topic) if topic.__class__ is str else None
        if tb is None:
            tb = _check_publish_topic(topic)
        if qos.__class__ is not int:
            qos = _validate_qos(qos)
        elif qos < 0 or qos > 2:
            raise ValueError("Invalid QoS level.")
        data = payload if payload.__class__ is bytes else _encode_payload(payload)
        if len(data) > _MAX_PAYLOAD:
            raise ValueError("Payload too large.")
        props: Optional[NativeProps] = None
        if properties is not None:
            if self._v5:
                props = _publish_props(properties)
            else:
                require_no_properties(properties, "publish() on an MQTT 3.1.1 client")
        retain = bool(retain)
        with self._lock:
            info = MQTTMessageInfo(self._mid_generate(), self._selfref())
            nc = self._native
            if nc is None and self._cluster is not None and not self._early:
                # A configured cluster needs no connect() to exist: its outbox (if the file
                # gives it one) stores the message now.
                try:
                    nc = self._ensure_native()
                except (_lib.HamqttError, RuntimeError):
                    nc = None  # connect() raises it
            if self._early or nc is None or nc._closed:
                # No cluster yet (connect() names the brokers), or older messages still wait
                # for it: this one goes behind them.
                self._publish_early(tb, data, qos, retain, info, props)
                return info
            stores = self._stores(qos)
            if not stores and qos == 0 and (not self._engine_started or self._state == _State.CONNECTION_LOST):
                info.rc = MQTT_ERR_NO_CONN
                return info
            if props is None:
                rc, pid = nc.publish_async(tb, data, qos, retain)
            else:
                rc, pid = nc.publish_async_props(tb, data, qos, retain, props)
            if rc == 0:  # _lib.OK
                self._pending[pid] = (info, qos)
                if stores:
                    info._stored = True
            elif rc == _lib.ERR_STATE and qos > 0:
                # Not connected and no outbox takes it: kept, as paho keeps it, and handed
                # over once connected.
                self._publish_early(tb, data, qos, retain, info, props)
                return info
            else:
                self._refused(info, rc)
                return info
        # As paho, "Sending PUBLISH" once the message is on its way (after the lock: on_log may
        # do anything).
        if self._logger is not None or self.on_log is not None:
            self._log_publish(tb, data, qos, retain, info.mid)
        return info

    def _refused(self, info: MQTTMessageInfo, rc: int) -> None:
        """The engine did not take the message (lock held): the rc says why."""
        if rc in (_lib.ERR_TOPIC, _lib.ERR_QOS, _lib.ERR_PAYLOAD, _lib.ERR_INVALID):
            raise _lib.error_for(rc)
        detail = _lib.error_for(rc).detail
        info.rc = _FAILURE_RC.get(rc, MQTT_ERR_NO_CONN)
        info._error = detail
        if rc not in (_lib.ERR_FULL, _lib.ERR_STATE, _lib.ERR_CLOSED, _lib.ERR_HANDLE):
            self._backlog.append((self._easy_log, (MQTT_LOG_ERR, "Message %d not published: %s", info.mid, detail)))

    def _publish_early(self, tb: bytes, data: bytes, qos: int, retain: bool, info: MQTTMessageInfo,
                       props: Optional[NativeProps] = None) -> None:
        """Keep a message until connect() makes the cluster (lock held), under the bounds the
        outbox will have: paho's queue holds messages published before connect() too."""
        stores = self._stores(qos)
        if not stores and qos == 0:
            info.rc = MQTT_ERR_NO_CONN
            return
        o = self._outbox_bounds()
        size = len(tb) + len(data)
        early = self._early
        while early and ((o[0] > 0 and len(early) >= o[0]) or (o[1] > 0 and self._early_bytes + size > o[1])):
            if o[2] != OverflowPolicy.DROP_OLDEST:
                info.rc = MQTT_ERR_QUEUE_SIZE
                info._error = (f"the outbox is full ({len(early)} messages, {self._early_bytes} bytes held; "
                               f"limits {o[0]} messages, {o[1]} bytes): nothing was stored")
                return
            victim = early.popleft()
            self._early_bytes -= len(victim.topic) + len(victim.payload)
            victim.info._set_failed(MQTT_ERR_QUEUE_SIZE, "dropped from the full outbox to make room for a newer message")
        early.append(_Early(tb, data, qos, retain, info, props))
        self._early_bytes += size
        if stores:
            info._stored = True
        else:
            info.rc = MQTT_ERR_NO_CONN  # as paho: kept, and sent once connected

    def _outbox_bounds(self) -> Tuple[int, int, int]:
        """(max messages, max bytes, overflow policy) of the outbox connect() will make, for the
        messages kept before it (0: no bound)."""
        if self._cluster is not None:
            return (0, 0, OverflowPolicy.REFUSE)
        o = ClusterOptions.from_any(self._ha_options)
        self._outbox_options(o)
        if not o.has_outbox():
            return (self._max_queued_messages, 0, OverflowPolicy.REFUSE)
        from .options import _policy

        mm = o.outbox_max_messages if o.outbox_max_messages else 100_000
        mb = o.outbox_max_bytes if o.outbox_max_bytes else 64 << 20
        return (max(mm, 0), max(mb, 0), _policy("outbox_overflow", o.outbox_overflow, OverflowPolicy))

    def _hand_over(self, nc: NativeClient) -> None:
        """Hand the messages kept before the cluster existed to it, oldest first (lock held).
        Those it cannot take yet (no outbox, not connected) stay, in order."""
        early = self._early
        if not early:
            return
        expiry = self._outbox_expiry()
        logging_on = self._logging()
        while early:
            e = early[0]
            if expiry and time.time() - e.since > expiry:
                early.popleft()
                self._early_bytes -= len(e.topic) + len(e.payload)
                e.info._set_failed(MQTT_ERR_NO_CONN, "expired before any broker took it")
                continue
            if e.props is None:
                rc, pid = nc.publish_async(e.topic, e.payload, e.qos, e.retain)
            else:
                rc, pid = nc.publish_async_props(e.topic, e.payload, e.qos, e.retain, e.props)
            if rc == _lib.ERR_STATE:
                return
            early.popleft()
            self._early_bytes -= len(e.topic) + len(e.payload)
            if rc == _lib.OK:
                self._pending[pid] = (e.info, e.qos)
                e.info._stored = self._stores(e.qos)
                if e.info.rc == MQTT_ERR_NO_CONN:
                    e.info.rc = MQTT_ERR_SUCCESS
                if logging_on:
                    self._backlog.append((self._log_publish, (e.topic, e.payload, e.qos, e.retain, e.info.mid)))
            else:
                try:
                    self._refused(e.info, rc)
                except _lib.HamqttError as exc:
                    e.info.rc = MQTT_ERR_INVAL
                    e.info._error = str(exc)
                e.info._stored = False
                e.info._finish()

    def _outbox_expiry(self) -> float:
        if self._cluster is not None:
            return 0.0
        e = self._outbox_opts.get("outbox_expiry", self._ha_options.outbox_expiry)
        return float(e or 0.0)

    def _log_publish(self, topic: bytes, payload: bytes, qos: int, retain: bool, mid: int) -> None:
        """paho's "Sending PUBLISH" line (logged when the message goes to the engine)."""
        if payload:
            self._easy_log(MQTT_LOG_DEBUG, "Sending PUBLISH (d0, q%d, r%d, m%d), '%s', ... (%d bytes)",
                           qos, retain, mid, topic, len(payload))
        else:
            self._easy_log(MQTT_LOG_DEBUG, "Sending PUBLISH (d0, q%d, r%d, m%d), '%s' (NULL payload)",
                           qos, retain, mid, topic)

    def _selfref(self) -> "weakref.ref[Client]":
        ref = getattr(self, "_weakself", None)
        if ref is None:
            ref = weakref.ref(self)
            self._weakself = ref
        return ref

    # -- subscribing ------------------------------------------------------------------------

    def subscribe(self, topic: Union[str, Tuple[str, Any], List[Tuple[str, Any]]], qos: int = 0,
                  options: Optional[SubscribeOptions] = None,
                  properties: Optional[Properties] = None) -> Tuple[MQTTErrorCode, Optional[int]]:
        """Subscribe on every live broker (and on each broker that comes up later).

        Forms: ``subscribe("a/b", 1)``, ``subscribe(("a/b", 1))``,
        ``subscribe([("a/b", 1), ("c/#", 0)])``. Returns ``(rc, mid)``; ``on_subscribe`` follows
        from the loop with one reason code per filter (the granted QoS, or the brokers'
        failure code).

        MQTT 5 (``Client(protocol=MQTTv5)``), as paho: ``subscribe("a/b", options=SubscribeOptions(...))``,
        ``subscribe(("a/b", SubscribeOptions(...)))``, ``subscribe([("a/b", SubscribeOptions(...)),
        ("c/#", 1)])``; the options (no local, retain as published, retain handling) go to every
        broker. ``properties`` is a ``Properties(PacketTypes.SUBSCRIBE)`` whose
        SubscriptionIdentifier is given to each filter of the call (received messages carry it
        in ``message.properties.SubscriptionIdentifier``) and whose UserProperty pairs go in the
        SUBSCRIBE each broker gets (again wherever the subscription is made later, on a broker
        that comes up).

        :raises ValueError: bad filter, QoS or options, empty list.
        :raises TypeError: a topic of the wrong type.
        """
        subs: List[Tuple[str, int, Optional[SubscribeOptions]]] = []
        sub_id = 0
        user_props: Optional[NativeProps] = None
        if self._v5:
            props = _check_properties(properties, PacketTypes.SUBSCRIBE)
            if props is not None:
                if hasattr(props, "UserProperty"):
                    user_props = _user_props(PacketTypes.SUBSCRIBE, props, "subscribe")
                ids = getattr(props, "SubscriptionIdentifier", [])
                if len(ids) > 1:
                    raise ValueError("a SUBSCRIBE carries at most one SubscriptionIdentifier")
                if ids:
                    sub_id = int(ids[0])
                    if not 1 <= sub_id <= 268435455:
                        raise ValueError(f"SubscriptionIdentifier must be 1..268435455, not {sub_id}")
            if isinstance(topic, tuple):
                if len(topic) != 2:
                    raise ValueError("a subscription tuple must be (topic, SubscribeOptions)")
                topic, options = topic
                if not isinstance(options, SubscribeOptions):
                    raise ValueError("Subscribe options must be instance of SubscribeOptions class.")
            if isinstance(topic, (str, bytes)):
                if options is None:
                    subs.append((_validate_filter(topic), _validate_qos(qos), None))
                else:
                    if qos != 0:
                        raise ValueError("Subscribe options and qos parameters cannot be combined.")
                    if not isinstance(options, SubscribeOptions):
                        raise ValueError("Subscribe options must be instance of SubscribeOptions class.")
                    options._check()
                    subs.append((_validate_filter(topic), options.QoS, options))
            elif isinstance(topic, list):
                if len(topic) == 0:
                    raise ValueError("Empty topic list")
                for item in topic:
                    if not isinstance(item, tuple) or len(item) != 2:
                        raise ValueError("each list item must be a (topic, SubscribeOptions or qos) tuple")
                    t, o = item
                    if isinstance(o, SubscribeOptions):
                        o._check()
                        subs.append((_validate_filter(t), o.QoS, o))
                    else:
                        if not isinstance(o, int) or isinstance(o, bool) or o < 0 or o > 2:
                            raise ValueError("Invalid QoS level.")
                        subs.append((_validate_filter(t), o, None))
            elif topic is None:
                raise ValueError("No topic specified, or incorrect topic type.")
            else:
                raise TypeError(f"topic must be a str, a (topic, options) tuple or a list of them, not {type(topic).__name__}")
        else:
            if options is not None:
                raise _unsupported("subscribe(options=...) on an MQTT 3.1.1 client",
                                   "subscription options are MQTT 5: Client(protocol=MQTTv5)")
            require_no_properties(properties, "subscribe() on an MQTT 3.1.1 client")
            if isinstance(topic, tuple):
                if len(topic) != 2:
                    raise ValueError("a subscription tuple must be (topic, qos)")
                topic, qos = topic
            if isinstance(topic, (str, bytes)):
                subs.append((_validate_filter(topic), _validate_qos(qos), None))
            elif isinstance(topic, list):
                if len(topic) == 0:
                    raise ValueError("Empty topic list")
                for item in topic:
                    if not isinstance(item, tuple) or len(item) != 2:
                        raise ValueError("each list item must be a (topic, qos) tuple")
                    t, q = item
                    if not isinstance(q, int) or isinstance(q, bool) or q < 0 or q > 2:
                        raise ValueError("Invalid QoS level.")
                    subs.append((_validate_filter(t), q, None))
            elif topic is None:
                raise ValueError("No topic specified, or incorrect topic type.")
            else:
                raise TypeError(f"topic must be a str, a (topic, qos) tuple or a list of them, not {type(topic).__name__}")
        with self._lock:
            nc = self._native
            if nc is None or not self._engine_started or self._state == _State.CONNECTION_LOST:
                return (MQTT_ERR_NO_CONN, None)
            mid = self._mid_generate()
        self._easy_log(MQTT_LOG_DEBUG, "Sending SUBSCRIBE (d0, m%d) %s", mid, [(t.encode("utf-8"), q) for t, q, _ in subs])
        granted: List[int] = []
        for t, q, o in subs:
            self._subscriptions[t] = q
            try:
                if self._v5:
                    if o is None:
                        code = nc.subscribe_opts(t.encode("utf-8"), q, False, False, 0, sub_id, user_props)
                    else:
                        code = nc.subscribe_opts(t.encode("utf-8"), q, o.noLocal, o.retainAsPublished,
                                                 o.retainHandling, sub_id, user_props)
                else:
                    code = nc.subscribe(t.encode("utf-8"), q)
                if code >= 0x80:
                    self._easy_log(MQTT_LOG_ERR, "Subscription to %s refused with reason code 0x%02x", t, code)
                granted.append(code)
            except _lib.ClosedError:
                self._subscriptions.pop(t, None)
                return (MQTT_ERR_NO_CONN, None)
            except _lib.HamqttError as exc:
                if exc.reason_code >= 0x80 or exc.code == _lib.ERR_REFUSED:
                    self._easy_log(MQTT_LOG_ERR, "Subscription to %s refused: %s", t, exc.detail)
                    granted.append(exc.reason_code if exc.reason_code >= 0x80 else 0x80)
                elif isinstance(exc, _lib.NoEndpointError):
                    self._easy_log(MQTT_LOG_WARNING, "Subscription to %s registered, no broker acknowledged it yet: %s", t, exc.detail)
                    granted.append(q)
                else:
                    raise
        self._defer(self._fire_subscribe, mid, granted)
        return (MQTT_ERR_SUCCESS, mid)

    def unsubscribe(self, topic: Union[str, List[str]], properties: Optional[Properties] = None) -> Tuple[MQTTErrorCode, Optional[int]]:
        """Unsubscribe from one filter or a list of them. Returns ``(rc, mid)``; ``on_unsubscribe``
        follows from the loop (MQTT 5: with one reason code per filter, "No subscription
        existed" for a filter this client had not subscribed to).

        MQTT 5: ``properties``, a ``Properties(PacketTypes.UNSUBSCRIBE)``, carries UserProperty
        pairs in the UNSUBSCRIBE each live broker gets.
        """
        user_props: Optional[NativeProps] = None
        if self._v5:
            props = _check_properties(properties, PacketTypes.UNSUBSCRIBE)
            if props is not None:
                user_props = _user_props(PacketTypes.UNSUBSCRIBE, props, "unsubscribe")
        else:
            require_no_properties(properties, "unsubscribe() on an MQTT 3.1.1 client")
        if topic is None:
            raise ValueError("Invalid topic.")
        if isinstance(topic, (str, bytes)):
            topics = [_validate_filter(topic)]
        elif isinstance(topic, list):
            if not topic:
                raise ValueError("Empty topic list")
            topics = [_validate_filter(t) for t in topic]
        else:
            raise TypeError(f"topic must be a str or a list of str, not {type(topic).__name__}")
        with self._lock:
            nc = self._native
            if nc is None or not self._engine_started or self._state == _State.CONNECTION_LOST:
                return (MQTT_ERR_NO_CONN, None)
            mid = self._mid_generate()
        self._easy_log(MQTT_LOG_DEBUG, "Sending UNSUBSCRIBE (d0, m%d) %s", mid, [t.encode("utf-8") for t in topics])
        codes: List[int] = []
        for t in topics:
            self._subscriptions.pop(t, None)
            try:
                nc.unsubscribe(t.encode("utf-8"), user_props)
                codes.append(0)
            except _lib.NotFoundError:
                codes.append(0x11)  # No subscription existed
            except _lib.ClosedError:
                return (MQTT_ERR_NO_CONN, None)
            except _lib.HamqttError as exc:
                if exc.reason_code >= 0x80:
                    self._easy_log(MQTT_LOG_ERR, "Unsubscribe from %s refused: %s", t, exc.detail)
                    codes.append(exc.reason_code)
                elif isinstance(exc, _lib.NoEndpointError):
                    self._easy_log(MQTT_LOG_WARNING, "Unsubscribe from %s: %s", t, exc.detail)
                    codes.append(0)
                else:
                    raise
        self._defer(self._fire_unsubscribe, mid, codes)
        return (MQTT_ERR_SUCCESS, mid)

    # -- the loop ---------------------------------------------------------------------------

    def _in_callback(self) -> bool:
        return getattr(self._tls_state, "depth", 0) > 0

    def _loop_running_elsewhere(self) -> bool:
        tid = self._loop_thread_id
        return tid is not None and tid != threading.get_ident()

    def _may_pump_here(self) -> bool:
        """True when this thread may drain events itself (it is the loop, or no loop runs)."""
        return not self._loop_running_elsewhere()

    def _defer(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._state == _State.CONNECTING:
                # As paho: acknowledgements of requests made before the CONNACK was processed
                # come after on_connect.
                self._after_connect.append((fn, args))
                return
            self._backlog.append((fn, args))
        if self._loop_running_elsewhere():
            self._waker.wake()
        # No event on the socket announces these callbacks: an external event loop learns of
        # them through write interest (loop_write() runs them), as it would for a packet to send.
        self._call_socket_register_write()

    def _pump(self, timeout: float) -> int:
        """Drain events into state and the callback backlog, without running callbacks."""
        nc = self._native
        if nc is None or not (self._engine_started or self._drain_until_closed):
            if timeout > 0:
                wait_readable([self._waker.r], timeout)
                self._waker.clear()
            return _lib.ERR_STATE
        if not self._poll_lock.acquire(timeout=max(timeout, 0)):
            return _lib.ERR_BUSY
        try:
            rc, evs = nc.poll(0)
            if rc == _lib.OK and not evs and timeout > 0:
                fd = nc.event_fd() if not nc.closed else -1
                wait_readable([fd, self._waker.r], timeout)
                self._waker.clear()
                rc, evs = nc.poll(0)
            if evs:
                self._ingest(evs)
            if rc == _lib.ERR_CLOSED:
                self._on_engine_closed()
            elif rc == _lib.ERR_BUSY:
                time.sleep(0.001)
            return rc
        finally:
            self._poll_lock.release()

    def _ingest(self, evs: List[Any]) -> None:
        backlog = self._backlog
        v5 = self._v5
        with self._lock:
            for ev in evs:
                kind = ev[0]
                if kind == 1:
                    m = _new_message(ev[5], ev[6], ev[7], ev[8], ev[9], ev[2])
                    if v5:
                        # As paho: an MQTT 5 message always has a Properties (empty when it
                        # carried none; read when asked for); an MQTT 3.1.1 one has None.
                        raw = ev[12]
                        if raw is None:
                            m._properties = Properties(PacketTypes.PUBLISH)
                        else:
                            m._props_raw = raw
                    backlog.append(m)
                elif kind == 4:
                    self._on_delivery(ev[10], ev[1], ev[3], ev[13])
                elif kind == 2:
                    ep = ev[2]
                    if not self._engine_started:
                        continue
                    was = bool(self._live)
                    self._live.add(ep)
                    self._all_lost = False
                    backlog.append((self._easy_log, (MQTT_LOG_DEBUG, "Endpoint %s is up (%d live)", ep, len(self._live))))
                    if not was:
                        self._state = _State.CONNECTED
                        connack = self._connack_properties(ep) if v5 else None
                        backlog.append((self._fire_connect, (ev[1] == _UP_SESSION_PRESENT, connack)))
                elif kind == 3:
                    ep = ev[2]
                    was_live = ep in self._live
                    self._live.discard(ep)
                    if was_live and not self._live:
                        self._all_lost = True
                    backlog.append((self._easy_log, (MQTT_LOG_DEBUG, "Endpoint %s is down: %s (%d live)", ep, ev[3], len(self._live))))
                    if was_live:
                        if not self._live and self._state == _State.CONNECTED and self._engine_started:
                            self._state = _State.CONNECTION_LOST
                            if v5 and ev[13]:
                                # The last broker closed with a DISCONNECT (MQTT 5): as paho,
                                # on_disconnect gets its reason code and reason string.
                                backlog.append((self._fire_disconnect, (MQTT_ERR_CONN_LOST, ev[13], ev[3])))
                            else:
                                backlog.append((self._fire_disconnect, (MQTT_ERR_CONN_LOST,)))
                            if not self._reconnect_on_failure:
                                self._stop_engine()
                                self._drain_until_closed = True
                                self._disconnect_returned = True
                                self._exit_loop = True
                elif kind == 5:
                    backlog.append((self._easy_log, (MQTT_LOG_ERR, "%s", ev[3] or "engine error")))
            self._cond.notify_all()

    def _connack_properties(self, endpoint: Optional[str]) -> Properties:
        """The CONNACK properties of a live endpoint (MQTT 5; empty when it is gone again)."""
        nc = self._native
        packed = None
        if nc is not None and not nc.closed:
            try:
                packed = nc.connack_props(endpoint)
            except _lib.HamqttError:
                _log.debug("no CONNACK properties for %s", endpoint, exc_info=True)
        try:
            return _unpack_props(PacketTypes.CONNACK, packed)
        except MQTTException:
            _log.warning("CONNACK properties of %s could not be read", endpoint, exc_info=True)
            return Properties(PacketTypes.CONNACK)

    def _on_delivery(self, pid: int, status: int, error: Optional[str], reason: int = 0) -> None:
        """One publish outcome (lock held): the broker's acknowledgement, or the reason the
        message is not published (dropped, expired, refused, the client closed)."""
        entry = self._pending.pop(pid, None)
        if entry is None:
            if status != _lib.OK:
                # A message an earlier client stored in the disk outbox (this one never had its
                # info), which failed for good.
                self._backlog.append((self._easy_log, (MQTT_LOG_ERR, "A message stored by an earlier client was not published: %s",
                                                       error or _lib.STATUS_NAMES.get(status, f"status {status}"))))
            return
        info, qos = entry
        if status == _lib.OK:
            if qos and (self._logger is not None or self.on_log is not None):
                self._backlog.append((self._easy_log, (MQTT_LOG_DEBUG, "Received %s (Mid: %d)",
                                                       "PUBACK" if qos == 1 else "PUBCOMP", info.mid)))
            if self.on_publish is not None and not self._in_callback():
                # As paho: on_publish runs before the message counts as published, with the
                # broker's success code (MQTT 5: 0x10, no matching subscribers).
                self._backlog.append((self._fire_publish, (info.mid, info, reason, qos)))
            else:
                # info._set_as_published(), inline: once per message on the loop's thread
                # (keep in step with MQTTMessageInfo._set_as_published and _finish).
                info._published = True
                info._done = True
                ev = info._event
                if ev is not None:
                    ev.set()
                if self.on_publish is not None:
                    self._backlog.append((self._fire_publish, (info.mid, None, reason, qos)))
            return
        detail = error or _lib.STATUS_NAMES.get(status, f"status {status}")
        if reason >= 0x80 and self._v5:
            # A broker answered with a failure reason code (MQTT 5): as paho, on_publish gets
            # it; the message is not published (its info says why).
            info._set_failed(_REFUSAL_RC.get(reason, MQTT_ERR_UNKNOWN), detail)
            info.reason_code = _pub_code(reason, qos)
            self._backlog.append((self._easy_log, (MQTT_LOG_ERR, "Message %d refused by the broker (reason code 0x%02x): %s",
                                                   info.mid, reason, detail)))
            if self.on_publish is not None:
                self._backlog.append((self._fire_publish, (info.mid, None, reason, 1 if qos < 2 else 2)))
            return
        info._set_failed(_FAILURE_RC.get(status, MQTT_ERR_UNKNOWN), detail)
        self._backlog.append((self._easy_log, (MQTT_LOG_ERR, "Message %d not published: %s", info.mid, detail)))

    def _on_engine_closed(self) -> None:
        with self._lock:
            if not self._drain_until_closed or not self._disconnect_returned:
                return
            self._drain_until_closed = False
            if self._state == _State.DISCONNECTING:
                self._state = _State.DISCONNECTED
                self._backlog.append((self._fire_disconnect, (MQTT_ERR_SUCCESS,)))
            # As paho after the DISCONNECT went out: on_disconnect, then the socket closes (this
            # one: a callback may have connected again by then).
            if self._sock_open:
                self._backlog.append((self._close_socket, (self._sock_gen,)))
            self._cond.notify_all()

    def _dispatch(self) -> None:
        """Run the queued callbacks (on the loop's thread)."""
        if self._engine_logs:
            self._flush_engine_logs()
        backlog = self._backlog
        if not backlog:
            return
        st = self._tls_state
        st.depth = getattr(st, "depth", 0) + 1
        try:
            handle = self._handle_on_message
            while backlog:
                try:
                    item = backlog.popleft()
                except IndexError:
                    break
                if item.__class__ is MQTTMessage:
                    handle(item)
                else:
                    fn, args = item
                    fn(*args)
        finally:
            st.depth -= 1

    def _call(self, name: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as err:
            self._easy_log(MQTT_LOG_ERR, "Caught exception in %s: %s", name, err)
            _log.error("exception in callback %s", name, exc_info=True)
            if not self.suppress_exceptions:
                raise

    def _handle_on_message(self, message: MQTTMessage) -> None:
        if self._logger is not None or self.on_log is not None:
            self._easy_log(MQTT_LOG_DEBUG, "Received PUBLISH (d%d, q%d, r%d, m%d), '%s', ...  (%d bytes)",
                           message.dup, message.qos, message.retain, message.mid, message.topic,
                           len(message.payload))
        filtered = self._on_message_filtered
        matched = False
        if filtered:
            topic = message.topic
            for sub, cb in list(filtered.items()):
                if topic_matches_sub(sub, topic):
                    matched = True
                    self._call(f"user defined callback function {getattr(cb, '__name__', cb)}", cb, self, self._userdata, message)
        if not matched:
            on_message = self.on_message
            if on_message is not None:
                try:
                    on_message(self, self._userdata, message)
                except Exception as err:
                    self._easy_log(MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                    _log.error("exception in callback on_message", exc_info=True)
                    if not self.suppress_exceptions:
                        raise

    def _fire_connect(self, session_present: bool = False, connack: Optional[Properties] = None) -> None:
        if self._state != _State.CONNECTED:
            return
        if self._v5:
            self._easy_log(MQTT_LOG_DEBUG, "Received CONNACK (%d, Success) properties=%s", int(session_present), connack)
        else:
            self._easy_log(MQTT_LOG_DEBUG, "Received CONNACK (%d, 0)", int(session_present))
        cb = self.on_connect
        if cb is not None:
            if connack is None:
                connack = Properties(PacketTypes.CONNACK)
            if self._callback_api_version == CallbackAPIVersion.VERSION1:
                if self._v5:
                    self._call("on_connect", cb, self, self._userdata, {"session present": int(session_present)},
                               ReasonCode(PacketTypes.CONNACK, "Success"), connack)
                else:
                    self._call("on_connect", cb, self, self._userdata, {"session present": int(session_present)},
                               CONNACK_ACCEPTED)
            else:
                self._call("on_connect", cb, self, self._userdata, ConnectFlags(session_present=session_present),
                           ReasonCode(PacketTypes.CONNACK, "Success"), connack)
        with self._lock:
            after, self._after_connect = self._after_connect, []
        for fn, args in after:
            fn(*args)

    def _fire_disconnect(self, rc: MQTTErrorCode, broker_reason: int = 0, error: Optional[str] = None) -> None:
        """on_disconnect; ``broker_reason`` is the reason code of the DISCONNECT the last broker
        closed the connection with (MQTT 5; 0: the connection ended otherwise), ``error`` the
        engine's text of it, which ends with the broker's reason string."""
        cb = self.on_disconnect
        if cb is None:
            return
        if broker_reason:
            reason = _disconnect_code(broker_reason)
            props = Properties(PacketTypes.DISCONNECT)
            reason_string = _broker_reason_string(error)
            if reason_string:
                props.ReasonString = reason_string
            if self._callback_api_version == CallbackAPIVersion.VERSION1:
                self._call("on_disconnect", cb, self, self._userdata, reason, props)
            else:
                self._call("on_disconnect", cb, self, self._userdata, DisconnectFlags(True), reason, props)
            return
        if self._callback_api_version == CallbackAPIVersion.VERSION1:
            if self._v5:
                self._call("on_disconnect", cb, self, self._userdata, rc, None)
            else:
                self._call("on_disconnect", cb, self, self._userdata, rc)
        else:
            self._call("on_disconnect", cb, self, self._userdata, DisconnectFlags(False),
                       convert_disconnect_error_code_to_reason_code(rc), Properties(PacketTypes.DISCONNECT))

    def _fire_publish(self, mid: int, info: Optional[MQTTMessageInfo] = None, reason: int = 0, qos: int = 1) -> None:
        cb = self.on_publish
        try:
            if cb is None:
                return
            if self._callback_api_version == CallbackAPIVersion.VERSION1:
                self._call("on_publish", cb, self, self._userdata, mid)
            elif reason:
                # The broker's reason code (a failure, or 0x10 "No matching subscribers"), in
                # the packet it came in (PUBACK or PUBREC).
                code = _pub_code(reason, qos)
                self._call("on_publish", cb, self, self._userdata, mid, code, Properties(code.packetType))
            else:
                self._call("on_publish", cb, self, self._userdata, mid, ReasonCode(PacketTypes.PUBACK, "Success"),
                           Properties(PacketTypes.PUBACK))
        finally:
            if info is not None:
                info._set_as_published()

    def _fire_subscribe(self, mid: int, granted: List[int]) -> None:
        self._easy_log(MQTT_LOG_DEBUG, "Received SUBACK")
        cb = self.on_subscribe
        if cb is None:
            return
        if self._callback_api_version == CallbackAPIVersion.VERSION1 and not self._v5:
            self._call("on_subscribe", cb, self, self._userdata, mid, tuple(min(g, 0x80) for g in granted))
        else:
            # VERSION2, and VERSION1 with MQTT 5 (as paho): a list of reason codes.
            codes = [_suback_code(g) for g in granted]
            self._call("on_subscribe", cb, self, self._userdata, mid, codes, Properties(PacketTypes.SUBACK))

    def _fire_unsubscribe(self, mid: int, codes: Optional[List[int]] = None) -> None:
        self._easy_log(MQTT_LOG_DEBUG, "Received UNSUBACK (Mid: %d)", mid)
        cb = self.on_unsubscribe
        if cb is None:
            return
        # MQTT 3.1.1 has no reason codes in an UNSUBACK: paho gives an empty list.
        rcs = [_unsuback_code(c) for c in codes or []] if self._v5 else []
        if self._callback_api_version == CallbackAPIVersion.VERSION1:
            if self._v5:
                # As paho: (mid, properties, reason codes), one ReasonCode alone unlisted.
                self._call("on_unsubscribe", cb, self, self._userdata, mid, Properties(PacketTypes.UNSUBACK),
                           rcs[0] if len(rcs) == 1 else rcs)
            else:
                self._call("on_unsubscribe", cb, self, self._userdata, mid)
        else:
            self._call("on_unsubscribe", cb, self, self._userdata, mid, rcs, Properties(PacketTypes.UNSUBACK))

    def _loop_step(self, timeout: float) -> MQTTErrorCode:
        self._dispatch()
        if self._native is None or not (self._engine_started or self._drain_until_closed):
            if self._backlog:
                self._dispatch()
                return MQTT_ERR_SUCCESS
            if timeout > 0:
                wait_readable([self._waker.r], timeout)
                self._waker.clear()
            self._dispatch()
            return MQTT_ERR_NO_CONN
        rc = self._pump(0 if self._backlog else timeout)
        self._dispatch()
        if rc == _lib.ERR_CLOSED and self._drain_until_closed:
            time.sleep(0.005)  # the disconnect has not returned yet: its last events follow
        return MQTT_ERR_SUCCESS

    def loop(self, timeout: float = 1.0) -> MQTTErrorCode:
        """Process events for up to ``timeout`` seconds (callbacks run on this thread)."""
        if timeout < 0.0:
            raise ValueError("Invalid timeout.")
        if self._loop_running_elsewhere():
            raise RuntimeError("loop() called while another thread runs the loop (loop_start/loop_forever)")
        prev = self._loop_thread_id
        self._loop_thread_id = threading.get_ident()
        try:
            return self._loop_step(timeout)
        finally:
            self._loop_thread_id = prev

    def _should_exit(self) -> bool:
        if self._drain_until_closed or self._backlog:
            return False
        return self._exit_loop or self._state in (_State.DISCONNECTING, _State.DISCONNECTED)

    def loop_forever(self, timeout: float = 1.0, retry_first_connection: bool = False) -> MQTTErrorCode:
        """Process events until disconnect() (callbacks run on this thread).

        :raises ConnectionRefusedError: the first connection failed (unless
            ``retry_first_connection``).
        """
        if timeout < 0.0:
            raise ValueError("Invalid timeout.")
        if self._loop_running_elsewhere():
            raise RuntimeError("loop_forever() called while another thread runs the loop")
        prev = self._loop_thread_id
        self._loop_thread_id = threading.get_ident()
        delay = float(self._reconnect_min_delay)
        try:
            while not self._thread_terminate and self._state == _State.CONNECT_ASYNC:
                try:
                    self._connect_engine(raise_on_failure=True)
                except OSError:
                    self._call_connect_fail()
                    if not retry_first_connection:
                        raise
                    self._easy_log(MQTT_LOG_DEBUG, "Connection failed, retrying")
                    if self._sleep_or_terminate(delay):
                        break
                    delay = min(delay * 2, float(self._reconnect_max_delay))
            rc = MQTT_ERR_SUCCESS
            terminate_since = 0.0
            while True:
                rc = self._loop_step(timeout)
                if self._thread_terminate:
                    # As paho: let the messages in flight complete first (bounded).
                    now = time.monotonic()
                    terminate_since = terminate_since or now
                    with self._lock:
                        if not self._pending or self._all_lost or now - terminate_since > self._time_to_wait():
                            break
                if self._should_exit():
                    break
                if self._state == _State.CONNECT_ASYNC and not self._engine_started:
                    # reconnect() inside a callback failed: retry as paho does.
                    if self._sleep_or_terminate(delay):
                        break
                    delay = min(delay * 2, float(self._reconnect_max_delay))
                    try:
                        self._connect_engine(raise_on_failure=True)
                        delay = float(self._reconnect_min_delay)
                    except OSError:
                        self._call_connect_fail()
                        self._easy_log(MQTT_LOG_DEBUG, "Connection failed, retrying")
            self._dispatch()
            return rc
        finally:
            self._loop_thread_id = prev

    def _sleep_or_terminate(self, delay: float) -> bool:
        end = time.monotonic() + delay
        while time.monotonic() < end:
            if self._thread_terminate:
                return True
            wait_readable([self._waker.r], min(0.2, end - time.monotonic()))
            self._waker.clear()
        return self._thread_terminate

    def _call_connect_fail(self) -> None:
        cb = self.on_connect_fail
        if cb is not None:
            try:
                cb(self, self._userdata)
            except Exception as err:  # noqa: BLE001 - as paho: logged, never raised
                self._easy_log(MQTT_LOG_ERR, "Caught exception in on_connect_fail: %s", err)

    def _thread_main(self) -> None:
        try:
            self.loop_forever(retry_first_connection=True)
        except Exception:  # noqa: BLE001
            _log.error("hamqtt loop thread ended by an exception", exc_info=True)
        finally:
            self._thread = None

    def loop_start(self) -> MQTTErrorCode:
        """Run the loop on a daemon thread (callbacks run there)."""
        if self._thread is not None:
            return MQTT_ERR_INVAL
        _lib.check_fork()
        self._thread_terminate = False
        self._thread = threading.Thread(target=self._thread_main, name=f"hamqtt-client-{self._client_id.decode('utf-8')}", daemon=True)
        self._thread.start()
        return MQTT_ERR_SUCCESS

    def loop_stop(self) -> MQTTErrorCode:
        """Stop the loop thread started by loop_start() and wait for it."""
        t = self._thread
        if t is None:
            return MQTT_ERR_INVAL
        self._thread_terminate = True
        self._waker.wake()
        if threading.current_thread() is not t:
            t.join()
        self._thread_terminate = False
        return MQTT_ERR_SUCCESS

    # -- external event loops -----------------------------------------------------------------
    #
    # paho-mqtt's contract: socket() for the loop to watch, on_socket_open/on_socket_close when
    # it comes and goes, loop_read() when it is readable, loop_write() while write interest is
    # registered (on_socket_register_write, or want_write()), loop_misc() every second until it
    # returns MQTT_ERR_NO_CONN. The engine has no single MQTT socket (it keeps one connection
    # per broker, on its own threads), and its event descriptor is not a socket (an epoll
    # descriptor): the socket handed out is one end of a Unix socket pair that an EventBridge
    # makes readable while the event descriptor is. The bridge (one small thread) exists only
    # for clients whose program asks for the socket (socket(), or an on_socket_* callback).
    # "The socket is open" from a successful connect()/reconnect() until the last events of a
    # disconnect() were read, as paho's is from connect to the close after DISCONNECT.
    # Callbacks run on the thread that calls loop_read()/loop_write()/loop_misc().

    def _socket_wanted(self) -> bool:
        return (self.on_socket_open is not None or self.on_socket_close is not None
                or self.on_socket_register_write is not None or self.on_socket_unregister_write is not None)

    def _open_socket(self) -> None:
        """A connection started: the socket is open (on_socket_open gets it)."""
        with self._lock:
            self._sock_open = True
            self._sock_gen += 1
            self._registered_write = False
        if self._socket_wanted():
            sock = self._ensure_socket()
            cb = self.on_socket_open
            if cb is not None and sock is not None:
                self._call("on_socket_open", cb, self, self._userdata, sock)

    def _ensure_socket(self) -> Optional[_socket.socket]:
        """The socket handed out, made on first demand while the socket is open."""
        with self._lock:
            if not self._sock_open:
                return None
            if self._bridge is None:
                nc = self._native
                efd = nc.event_fd() if nc is not None and not nc.closed else -1
                if efd < 0:
                    return None
                self._bridge = EventBridge(efd, self._client_id.decode("utf-8") or nc.name)  # type: ignore[union-attr]
                self._sock = self._bridge.sock
            return self._sock

    def _close_socket(self, gen: Optional[int] = None, notify: bool = True) -> None:
        """Close the socket (``gen``: only if it is still that connection's), telling the event
        loop first: on_socket_unregister_write if write interest was registered, then
        on_socket_close."""
        with self._lock:
            if gen is not None and gen != self._sock_gen:
                return
            self._sock_open = False
            bridge, self._bridge = self._bridge, None
            sock, self._sock = self._sock, None
            registered, self._registered_write = self._registered_write, False
        if sock is not None and notify:
            if registered:
                cb = self.on_socket_unregister_write
                if cb is not None:
                    self._call("on_socket_unregister_write", cb, self, self._userdata, sock)
            cb = self.on_socket_close
            if cb is not None:
                self._call("on_socket_close", cb, self, self._userdata, sock)
        if bridge is not None:
            bridge.close()

    def _call_socket_register_write(self) -> None:
        with self._lock:
            if not self._sock_open or self._registered_write:
                return
            self._registered_write = True
        cb = self.on_socket_register_write
        if cb is not None:
            sock = self._ensure_socket()
            if sock is not None:
                self._call("on_socket_register_write", cb, self, self._userdata, sock)

    def _call_socket_unregister_write(self) -> None:
        with self._lock:
            sock = self._sock
            if not self._registered_write:
                return
            self._registered_write = False
        cb = self.on_socket_unregister_write
        if cb is not None and sock is not None:
            self._call("on_socket_unregister_write", cb, self, self._userdata, sock)

    def socket(self) -> Optional[_socket.socket]:
        """The socket for an external event loop, or None while not connected.

        A ``socket.socket`` (AF_UNIX, non-blocking) that is readable while events wait for
        :meth:`loop_read`: the engine's event descriptor is not a socket, so a small thread of
        the client makes this one readable whenever the descriptor is (it exists only for
        clients that ask for the socket). Socket options may be set on it (``setsockopt``
        works; they change nothing for the broker connections, which belong to the engine).
        The client owns it: it is opened by ``connect()``/``reconnect()`` (``on_socket_open``)
        and closed once ``loop_read()`` has read the last events of a ``disconnect()``, and by
        ``reconnect()`` and ``reinitialise()`` (``on_socket_close``); never read from, write to
        or close it yourself. It stays open while the engine reconnects after every broker was
        lost (paho would open a new one).
        """
        return self._ensure_socket()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Process the events that wait (callbacks run on this thread), for an external loop
        that found :meth:`socket` readable.

        :returns: ``MQTT_ERR_SUCCESS``; ``MQTT_ERR_NO_CONN`` when there is no socket (not
            connected, or disconnected and its last events processed); ``MQTT_ERR_CONN_LOST``
            when the last broker was lost and the client does not reconnect
            (``reconnect_on_failure=False``).
        """
        if not self._sock_open and (self._native is None or not (self._engine_started or self._drain_until_closed)):
            return MQTT_ERR_NO_CONN
        bridge = self._bridge
        if bridge is not None:
            bridge.rearm()
        self._loop_step(0)
        if not self._sock_open and self._state == _State.CONNECTION_LOST:
            return MQTT_ERR_CONN_LOST
        return MQTT_ERR_SUCCESS

    def loop_write(self) -> MQTTErrorCode:
        """Run the callbacks that wait for write interest (``on_subscribe``, ``on_unsubscribe``),
        then drop write interest (``on_socket_unregister_write``). hamqtt writes nothing to the
        socket, so calling this at any time is harmless.

        :returns: ``MQTT_ERR_SUCCESS``, or ``MQTT_ERR_NO_CONN`` when there is no socket.
        """
        if not self._sock_open:
            return MQTT_ERR_NO_CONN
        try:
            if not self._loop_running_elsewhere():
                self._dispatch()
        finally:
            if self.want_write():
                self._call_socket_register_write()
            else:
                self._call_socket_unregister_write()
        return MQTT_ERR_SUCCESS

    def want_write(self) -> bool:
        """True while callbacks wait that :meth:`loop_write` would run (the engine writes to the
        brokers by itself: nothing else is ever waiting to be written)."""
        return self._sock_open and bool(self._backlog)

    def loop_misc(self) -> MQTTErrorCode:
        """Run callbacks that are due; call it every second or so from an external loop.

        :returns: ``MQTT_ERR_SUCCESS`` while the socket is open, ``MQTT_ERR_NO_CONN`` once it is
            closed (after ``disconnect()``), so that a loop of ``while loop_misc() ==
            MQTT_ERR_SUCCESS`` ends, as with paho. Keep-alives are the engine's business.
        """
        if not self._sock_open:
            return MQTT_ERR_NO_CONN
        if not self._loop_running_elsewhere():
            self._dispatch()
        return MQTT_ERR_SUCCESS

    # -- shutdown ---------------------------------------------------------------------------

    def _close_at_exit(self) -> None:
        self._thread_terminate = True
        self._waker.wake()
        self._close_native(notify=False)  # no user callbacks while the interpreter exits
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(2)

    def __del__(self) -> None:
        try:
            if not _lib.forked() and not _lib.exiting():
                nc = self.__dict__.get("_native")
                if nc is not None:
                    nc.close()
            w = self.__dict__.get("_waker")
            if w is not None:
                w.close()
            b = self.__dict__.get("_bridge")
            if b is not None:
                b.close(join=False)
        except Exception:  # noqa: BLE001
            pass


__all__ += ["ReasonCodes", "MQTTMessage", "ClusterOptions"]
