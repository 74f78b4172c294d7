"""Cluster options: every setting of ``hamqtt_options`` with Pythonic names and units.

Durations are seconds (``float``); ``None`` means "the engine's default" (given in each field's
comment). Used by :class:`hamqtt.HaMqttClient` and by ``hamqtt.client.Client(ha_options=...)``.
"""

from __future__ import annotations

import ctypes
import enum
import math
import os
import re
from struct import error as struct_error
from dataclasses import dataclass, field, fields
from typing import Any, List, Mapping, Optional, Tuple, Union

from . import _lib

__all__ = ["PublisherType", "OverflowPolicy", "SyncPolicy", "Will", "ClusterOptions"]

#: The longest client id, user name, password or will payload MQTT can carry (a 16-bit length).
MAX_STRING_FIELD = 65535
#: The longest keep-alive MQTT can carry: a 16-bit number of seconds.
MAX_KEEPALIVE = 65535
#: The range of a Maximum Packet Size the engine takes: MQTT 5 forbids 0, the engine needs room
#: for a packet's header, and no packet is longer than MQTT's largest remaining length plus it.
MIN_PACKET_SIZE, MAX_PACKET_SIZE = 16, 268435460


# What mqtt_string_problem looks for, as one character class: the search runs in C, so a good
# string (every publish's topic) costs one pass instead of a Python loop over its characters.
_FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ud800-\udfff"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]")


def mqtt_string_problem(value: str) -> Optional[str]:
    """Why ``value`` cannot travel as an MQTT string (topic, filter, client id, user name), or
    None: brokers close the connection for NUL, the control characters U+0001-U+001F and
    U+007F-U+009F and the Unicode non-characters (U+FDD0-U+FDEF, U+xFFFE and U+xFFFF)."""
    if value.isascii() and value.isprintable():  # the common case: no control character
        return None
    if _FORBIDDEN.search(value) is None:
        return None
    for i, ch in enumerate(value):
        o = ord(ch)
        if o == 0:
            return f"contains a NUL character (at index {i}): MQTT forbids it"
        if o < 0x20 or 0x7F <= o <= 0x9F:
            return f"contains the control character U+{o:04X} (at index {i}): brokers close the connection for it"
        if 0xFDD0 <= o <= 0xFDEF or (o & 0xFFFE) == 0xFFFE:
            return f"contains the Unicode non-character U+{o:04X} (at index {i}): brokers close the connection for it"
        if 0xD800 <= o <= 0xDFFF:
            return f"contains the lone surrogate U+{o:04X} (at index {i}), which is not valid UTF-8"
    return None


def check_mqtt_text(what: str, value: str, limit: int = MAX_STRING_FIELD) -> bytes:
    """``value`` as UTF-8 if it can travel as an MQTT string of at most ``limit`` bytes, else
    ValueError naming what is wrong (the value itself is not a secret here)."""
    problem = mqtt_string_problem(value)
    if problem is not None:
        raise ValueError(f"{what} {value!r} {problem}")
    b = value.encode("utf-8")
    if len(b) > limit:
        raise ValueError(f"{what} is {len(b)} bytes long: MQTT allows at most {limit}")
    return b


def check_secret(what: str, value: str) -> bytes:
    """A password as UTF-8, at most MAX_STRING_FIELD bytes; errors never show it."""
    try:
        b = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid UTF-8 text") from None
    if b"\x00" in b:
        raise ValueError(f"{what} must not contain NUL characters")
    if len(b) > MAX_STRING_FIELD:
        raise ValueError(f"{what} is {len(b)} bytes long: MQTT allows at most {MAX_STRING_FIELD}")
    return b


class PublisherType(enum.IntEnum):
    """Which live endpoint(s) a publish goes to."""

    STICKY = _lib.PUBLISHER_STICKY
    """One endpoint (the primary, if set and live) until it fails. The default."""
    ROUND_ROBIN = _lib.PUBLISHER_ROUND_ROBIN
    """The live endpoints in turn."""
    RANDOM = _lib.PUBLISHER_RANDOM
    """A random live endpoint per message."""
    ALL = _lib.PUBLISHER_ALL
    """Every live endpoint; done once each acknowledged or failed and at least one acknowledged."""


class OverflowPolicy(enum.IntEnum):
    """What a full outbox does with a new message. Strings are accepted too: ``"refuse"``,
    ``"block"``, ``"drop-oldest"``."""

    REFUSE = _lib.OVERFLOW_REFUSE
    """The new publish is refused (not stored); nothing stored is touched. The default."""
    BLOCK = _lib.OVERFLOW_BLOCK
    """The publisher waits for room, up to ``time_to_wait``, then the publish is refused."""
    DROP_OLDEST = _lib.OVERFLOW_DROP_OLDEST
    """The oldest message not yet being sent is dropped (its outcome says so) to make room."""


class SyncPolicy(enum.IntEnum):
    """When a disk outbox forces its writes to disk. Strings are accepted too: ``"always"``,
    ``"interval"``, ``"never"``."""

    ALWAYS = _lib.SYNC_ALWAYS
    """A message counts as stored once an fsync covered it (concurrent publishers share one):
    it survives a power loss. The default."""
    INTERVAL = _lib.SYNC_INTERVAL
    """Stored once written to the operating system, forced to disk every ``sync_interval``:
    survives a crash of the process; a power loss can take the last interval's messages."""
    NEVER = _lib.SYNC_NEVER
    """Written to the operating system, which writes it back when it chooses: survives a crash
    of the process, not a power loss."""


def _policy(name: str, value: Any, kind: Any) -> int:
    """An OverflowPolicy or SyncPolicy from the enum, its value or its name (any case, ``-`` or
    ``_``); 0 for None (the default)."""
    if value is None:
        return 0
    if isinstance(value, str):
        key = value.strip().upper().replace("-", "_")
        try:
            return int(kind[key])
        except KeyError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool) and value in {p.value for p in kind}:
        return int(value)
    names = ", ".join(p.name.lower().replace("_", "-") for p in kind)
    raise ValueError(f"unknown {name} {value!r}: use {names}")


@dataclass
class Will:
    """The last-will message every connection of the cluster registers."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Optional[Any] = None
    """MQTT 5 (``protocol_version=5``): the will's properties, a
    :class:`hamqtt.properties.Properties` of ``PacketTypes.WILLMESSAGE`` (payload format,
    message expiry, content type, response topic, correlation data, user properties; its
    ``WillDelayInterval`` is used when ``delay`` is None)."""
    delay: Optional[float] = None
    """MQTT 5: seconds the broker waits after the connection is lost before it publishes the
    will (the Will Delay Interval; None: no delay)."""


def _seconds_to_ms(name: str, value: Optional[float], allow_negative: bool = False) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"ClusterOptions.{name} must be a number of seconds, not {type(value).__name__}")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"ClusterOptions.{name} must be a finite number of seconds, not {value}")
    if value < 0:
        if allow_negative:
            return -1
        raise ValueError(f"ClusterOptions.{name} is {value}: use a positive number of seconds (or None for the default)")
    if name == "keep_alive":
        if value > MAX_KEEPALIVE:
            raise ValueError(f"ClusterOptions.keep_alive is {value} s: MQTT carries the keep-alive in 16 bits, "
                             f"at most {MAX_KEEPALIVE} s (negative: none)")
        if 0 < value < 1 or value != int(value):
            raise ValueError(f"ClusterOptions.keep_alive is {value} s: MQTT counts it in whole seconds, "
                             "give at least 1 (negative: none)")
    ms = int(round(value * 1000))
    if value > 0 and ms == 0:
        ms = 1
    if ms > 2**31 - 1:
        raise ValueError(f"ClusterOptions.{name} is {value} s: too large (at most {(2**31 - 1) // 1000} s)")
    return ms


def _int(name: str, value: Optional[int], lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"ClusterOptions.{name} must be an int, not {type(value).__name__}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"ClusterOptions.{name} is {value}: expected {lo}..{hi}")
    return value


def _str(name: str, value: Optional[str]) -> Optional[bytes]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"ClusterOptions.{name} must be a str, not {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"ClusterOptions.{name} must not contain NUL characters")
    return value.encode("utf-8")


@dataclass
class ClusterOptions:
    """Settings of one virtual cluster (``hamqtt_options``). ``None`` means the default."""

    name: Optional[str] = None
    """Cluster name ("cluster-default"); endpoints are named ``<name>-1``, ``<name>-2``, ..."""
    client_id: Optional[str] = None
    """MQTT client id, shared by all endpoints (generated)."""
    username: Optional[str] = None
    password: Optional[str] = None
    publisher_type: Union[PublisherType, str, None] = None
    """STICKY (default), ROUND_ROBIN, RANDOM or ALL (a :class:`PublisherType` or its name)."""
    primary_server_uri: Optional[str] = None
    """Preferred endpoint of a STICKY publisher (URI or endpoint name)."""
    default_topic_base: Optional[str] = None
    """Routes topics ``<base><endpoint name>...`` to that endpoint."""
    persistent_session: bool = False
    """Brokers keep the session (MQTT clean session off); use a fixed client_id."""
    keep_alive: Optional[float] = None
    """MQTT keep-alive (30 s). Negative: none; a broker that dies silently is then noticed only
    by an acknowledgement overdue."""
    connect_timeout: Optional[float] = None
    """Per-connection connect timeout (5 s)."""
    time_to_wait: Optional[float] = None
    """Bound of connect, publish and subscribe (10 s)."""
    ack_timeout: Optional[float] = None
    """Per-endpoint acknowledgement wait before failover (3 s)."""
    probe_delay: Optional[float] = None
    """Backoff after a broker's first refusal (1 s); a broker that is down is re-checked every
    105-245 ms regardless."""
    max_probe_delay: Optional[float] = None
    """Refusal backoff cap (30 s)."""
    connect_rate: Optional[float] = None
    """Connection attempts per second over the cluster (4; negative: unlimited)."""
    connect_burst: Optional[int] = None
    """Rate limiter bucket (the rate rounded up)."""
    warm_up: Optional[float] = None
    """A revived endpoint is kept from publishing this long (2 s; negative: off)."""
    flap_limit: Optional[int] = None
    """Drops within flap_window that quarantine an endpoint (5; negative: off)."""
    flap_window: Optional[float] = None
    """60 s."""
    quarantine: Optional[float] = None
    """60 s."""
    live_endpoint_count: Optional[int] = None
    """Cap on live connections (None: all)."""
    initial_endpoint_count: Optional[int] = None
    """Cap on the first probe (None: no cap)."""
    subscriber_count: Optional[int] = None
    """Endpoints carrying the subscriptions (None: all live)."""
    publish_only: bool = False
    """Refuse subscriptions."""
    fos: Optional[int] = None
    """Failover service level 0..3 (0: deliver from every subscriber endpoint)."""
    ack_quorum: Optional[int] = None
    """Publisher type ALL: how many brokers must acknowledge a publish before it counts as
    acknowledged. None, 0 or 1: any one broker; k > 1: k of the live brokers (every live one
    while fewer than k are live); -1: every live broker. Other publisher types ignore it."""
    dedup: bool = False
    """Drop the copies of a message that arrive through several endpoints."""
    dedup_window: Optional[float] = None
    """How long a delivered message is remembered for dedup (30 s)."""
    share_connections: bool = False
    """Share each broker connection with the other sharing clusters of the process that reach
    it with the same settings (padogrid's ``liveEndpointPoolEnabled``). Each cluster still
    receives only its own subscriptions' messages; TLS clusters never share."""
    will: Optional[Will] = None
    file_store_dir: Optional[str] = None
    """Keep in-flight QoS 1/2 messages in files under this directory (default: memory)."""
    tls_ca_file: Optional[str] = None
    tls_cert_file: Optional[str] = None
    tls_key_file: Optional[str] = None
    tls_insecure: bool = False
    """No server certificate verification at all (neither the chain nor the host name): anyone
    in between can pose as the broker. For tests only; a warning is logged."""
    tls_skip_hostname_check: bool = False
    """Do not check that the broker's certificate names the host; its chain is still verified
    against ``tls_ca_file`` (the system's CAs without one). paho-mqtt's
    ``tls_insecure_set(True)``. A warning is logged."""
    outbox: Optional[bool] = None
    """Store every QoS 1 and 2 publish (and QoS 0 with ``outbox_qos0``) in an outbox first: it
    leaves the outbox only once a broker acknowledged it, in publish order, however long every
    broker is down. In memory unless ``outbox_dir`` is given. None: no outbox for
    :class:`hamqtt.HaMqttClient` (a publish that finds no broker within ``time_to_wait`` fails);
    a memory outbox for ``hamqtt.client.Client``, as paho-mqtt keeps its queue (False turns it
    off)."""
    outbox_dir: Union[str, "os.PathLike[str]", None] = None
    """A durable disk outbox in this directory (made if missing; implies ``outbox``): it also
    survives a crash or restart of the process, and the next client on the directory sends what
    it holds first. One client or process owns a directory at a time
    (:class:`hamqtt.OutboxLockedError` otherwise)."""
    outbox_max_messages: Optional[int] = None
    """Messages held at most (None or 0: 100,000; negative: no bound)."""
    outbox_max_bytes: Optional[int] = None
    """Topic and payload bytes held at most (None or 0: 64 MiB; negative: no bound)."""
    outbox_overflow: Union[OverflowPolicy, str, None] = None
    """What a full outbox does with a new message: :class:`OverflowPolicy` or its name
    (``"refuse"``, the default; ``"block"``; ``"drop-oldest"``)."""
    outbox_sync: Union[SyncPolicy, str, None] = None
    """When a disk outbox forces its writes to disk: :class:`SyncPolicy` or its name
    (``"always"``, the default; ``"interval"``; ``"never"``)."""
    outbox_sync_interval: Optional[float] = None
    """The period of ``outbox_sync="interval"`` (0.1 s)."""
    outbox_qos0: bool = False
    """Store QoS 0 messages too (without it they bypass the outbox: QoS 0 promises no delivery)."""
    outbox_expiry: Optional[float] = None
    """A message not delivered after this many seconds is dropped, its outcome saying so
    (None: never)."""
    protocol_version: Optional[int] = None
    """The MQTT version every broker of the cluster is spoken to in: 4 (MQTT 3.1.1, the
    default; None or 0 too) or 5 (MQTT 5). The fields below apply to MQTT 5 only (giving one
    to an MQTT 3.1.1 cluster is a ValueError)."""
    session_expiry: Optional[float] = None
    """MQTT 5: seconds a broker keeps the session after the connection ended (whole seconds;
    None or 0: none, or no expiry with ``persistent_session``)."""
    receive_maximum: Optional[int] = None
    """MQTT 5: QoS 1 and 2 messages a broker may have unacknowledged towards this client
    (1..65535; None: 65535)."""
    topic_alias_maximum: Optional[int] = None
    """MQTT 5: topic aliases a broker may use towards this client (0..65535; None: none)."""
    no_topic_aliases: bool = False
    """MQTT 5: the engine uses no topic aliases towards brokers (by default it assigns its own
    per connection, within each broker's Topic Alias Maximum)."""
    request_response_info: bool = False
    """MQTT 5: ask brokers for Response Information (in the CONNACK properties)."""
    no_problem_info: bool = False
    """MQTT 5: ask brokers not to send reason strings and user properties with failures
    (Request Problem Information 0)."""
    message_ids: Optional[str] = None
    """MQTT 5: stamp a ``hamqtt-id`` user property on each publish so that receivers drop the
    copies of one message exactly: ``"auto"`` (default: with publisher type ALL or an outbox),
    ``"always"`` or ``"never"``."""
    user_properties: Optional[List[Tuple[str, str]]] = None
    """MQTT 5: the user properties of every CONNECT, as ``(name, value)`` pairs."""
    max_packet_size: Optional[int] = None
    """The largest packet, in bytes, a broker may send this client (16..268435460; None or 0:
    64 MiB). MQTT 5 announces it in every CONNECT (Maximum Packet Size) and brokers then do not
    forward larger messages to this client; under MQTT 3.1.1 a larger packet closes the
    connection as malformed."""

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "password" and v is not None:
                parts.append("password='***'")
            else:
                parts.append(f"{f.name}={v!r}")
        return f"ClusterOptions({', '.join(parts)})"

    __str__ = __repr__

    def verification_warning(self) -> Optional[str]:
        """The warning the engine logs for these TLS settings, or None."""
        if self.tls_insecure:
            return ("TLS certificate verification is OFF: any server, or anyone in between, can pose as "
                    "the broker; use it only for tests")
        if self.tls_skip_hostname_check:
            return ("TLS host name verification is off: the broker's certificate chain is verified, "
                    "not that it names the host")
        return None

    @classmethod
    def from_any(cls, value: Union["ClusterOptions", Mapping[str, Any], None], **overrides: Any) -> "ClusterOptions":
        """Accept a :class:`ClusterOptions`, a mapping of its field names, or None."""
        if value is None:
            base = cls()
        elif isinstance(value, ClusterOptions):
            base = ClusterOptions(**{f.name: getattr(value, f.name) for f in fields(cls)})
        elif isinstance(value, Mapping):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise TypeError(
                    f"unknown cluster option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
                )
            base = cls(**dict(value))
        else:
            raise TypeError(f"cluster options must be a ClusterOptions or a dict, not {type(value).__name__}")
        for k, v in overrides.items():
            if not hasattr(base, k):
                raise TypeError(f"unknown cluster option {k!r}")
            setattr(base, k, v)
        return base

    def to_struct(self) -> "_OptionsStruct":
        """Validate and convert to the C struct (with the byte strings it points to kept alive)."""
        o = _lib.Options()
        o.struct_size = ctypes.sizeof(_lib.Options)
        keep: List[Any] = []

        def s(name: str) -> Optional[bytes]:
            b = _str(name, getattr(self, name))
            keep.append(b)
            return b

        o.name = s("name")
        o.client_id = s("client_id")
        if self.client_id is not None:
            check_mqtt_text("ClusterOptions.client_id", self.client_id)
        o.username = s("username")
        if self.username is not None:
            check_mqtt_text("ClusterOptions.username", self.username)
        if self.password is not None:
            if not isinstance(self.password, str):
                raise TypeError(f"ClusterOptions.password must be a str, not {type(self.password).__name__}")
            pw = check_secret("ClusterOptions.password", self.password)
            keep.append(pw)
            o.password = pw
        pt = self.publisher_type
        if pt is None:
            o.publisher_type = 0
        elif isinstance(pt, str):
            try:
                o.publisher_type = int(PublisherType[pt.strip().upper()])
            except KeyError:
                raise ValueError(
                    f"unknown publisher_type {pt!r}: use STICKY, ROUND_ROBIN, RANDOM or ALL"
                ) from None
        elif isinstance(pt, int) and not isinstance(pt, bool) and pt in {p.value for p in PublisherType}:
            o.publisher_type = int(pt)
        else:
            raise ValueError(f"unknown publisher_type {pt!r}: use STICKY, ROUND_ROBIN, RANDOM or ALL")
        o.primary_server_uri = s("primary_server_uri")
        o.default_topic_base = s("default_topic_base")
        o.persistent_session = int(bool(self.persistent_session))
        o.keep_alive_ms = _seconds_to_ms("keep_alive", self.keep_alive, allow_negative=True)
        o.connect_timeout_ms = _seconds_to_ms("connect_timeout", self.connect_timeout)
        o.time_to_wait_ms = _seconds_to_ms("time_to_wait", self.time_to_wait)
        o.ack_timeout_ms = _seconds_to_ms("ack_timeout", self.ack_timeout)
        o.probe_delay_ms = _seconds_to_ms("probe_delay", self.probe_delay)
        o.max_probe_delay_ms = _seconds_to_ms("max_probe_delay", self.max_probe_delay)
        if self.connect_rate is not None:
            if isinstance(self.connect_rate, bool) or not isinstance(self.connect_rate, (int, float)):
                raise TypeError("ClusterOptions.connect_rate must be a number (connects per second)")
            if math.isnan(self.connect_rate) or math.isinf(self.connect_rate) or self.connect_rate > 1e6:
                raise ValueError(f"ClusterOptions.connect_rate is {self.connect_rate}: give a finite number of "
                                 "connects per second, at most 1e6 (negative: unlimited)")
            o.connect_rate = float(self.connect_rate) if self.connect_rate != 0 else 0.0
        o.connect_burst = _int("connect_burst", self.connect_burst, 0)
        o.warm_up_ms = _seconds_to_ms("warm_up", self.warm_up, allow_negative=True)
        o.flap_limit = _int("flap_limit", self.flap_limit)
        o.flap_window_ms = _seconds_to_ms("flap_window", self.flap_window)
        o.quarantine_ms = _seconds_to_ms("quarantine", self.quarantine)
        o.live_endpoint_count = _int("live_endpoint_count", self.live_endpoint_count, -1)
        o.initial_endpoint_count = _int("initial_endpoint_count", self.initial_endpoint_count, -1)
        o.subscriber_count = _int("subscriber_count", self.subscriber_count, -1)
        o.publish_only = int(bool(self.publish_only))
        o.fos = _int("fos", self.fos, 0, 3)
        o.dedup = int(bool(self.dedup))
        if self.ack_quorum is not None:
            q = self.ack_quorum
            if isinstance(q, bool) or not isinstance(q, int):
                raise TypeError(f"ClusterOptions.ack_quorum must be an int, not {type(q).__name__}")
            if q < -1 or q > 2**31 - 1:
                raise ValueError(
                    f"ClusterOptions.ack_quorum is {q}: use -1 (every live broker), None, 0 or 1 "
                    "(any one broker) or k > 1 (k of the live brokers)"
                )
            o.ack_quorum = q
        o.dedup_window_ms = _seconds_to_ms("dedup_window", self.dedup_window)
        o.share_connections = int(bool(self.share_connections))
        if self.will is not None:
            w = self.will
            if not isinstance(w, Will):
                raise TypeError(f"ClusterOptions.will must be a hamqtt.Will, not {type(w).__name__}")
            topic = _str("will.topic", w.topic)
            if not topic:
                raise ValueError("ClusterOptions.will.topic must not be empty")
            check_mqtt_text("ClusterOptions.will.topic", w.topic)
            payload = w.payload.encode("utf-8") if isinstance(w.payload, str) else bytes(w.payload)
            if len(payload) > MAX_STRING_FIELD:
                raise ValueError(f"ClusterOptions.will.payload is {len(payload)} bytes long: MQTT allows at most "
                                 f"{MAX_STRING_FIELD} for a will")
            keep += [topic, payload]
            o.will_topic = topic
            o.will_payload = payload
            o.will_payload_len = len(payload)
            o.will_qos = _int("will.qos", w.qos, 0, 2)
            o.will_retain = int(bool(w.retain))
        o.file_store_dir = s("file_store_dir")
        o.tls_ca_file = s("tls_ca_file")
        o.tls_cert_file = s("tls_cert_file")
        o.tls_key_file = s("tls_key_file")
        o.tls_insecure = int(bool(self.tls_insecure))
        o.tls_skip_hostname_check = int(bool(self.tls_skip_hostname_check))
        mps = self.max_packet_size
        if mps:
            o.max_packet_size = _int("max_packet_size", mps, MIN_PACKET_SIZE, MAX_PACKET_SIZE)
        self._outbox_to_struct(o, keep)
        self._mqtt5_to_struct(o, keep)
        return _OptionsStruct(o, keep)

    def _mqtt5_to_struct(self, o: _lib.Options, keep: List[Any]) -> None:
        from ._native import NativeProps
        from .packettypes import PacketTypes
        from .properties import MQTTException, Properties

        pv = self.protocol_version
        if pv is not None and (isinstance(pv, bool) or pv not in (0, 4, 5)):
            raise ValueError(f"ClusterOptions.protocol_version is {pv!r}: use 4 (MQTT 3.1.1) or 5 (MQTT 5)")
        v5 = pv == 5
        w = self.will
        if not v5:
            given = [n for n in ("session_expiry", "receive_maximum", "topic_alias_maximum", "no_topic_aliases",
                                 "request_response_info", "no_problem_info", "message_ids", "user_properties")
                     if getattr(self, n) not in (None, False)]
            if w is not None and (w.properties is not None or w.delay is not None):
                given.append("will.properties" if w.properties is not None else "will.delay")
            if given:
                raise ValueError(f"ClusterOptions.{given[0]} is an MQTT 5 setting: set protocol_version=5")
            return
        o.protocol_version = 5
        if self.session_expiry is not None:
            se = self.session_expiry
            if isinstance(se, bool) or not isinstance(se, (int, float)) or se < 0 or se > 0xFFFFFFFF or se != int(se):
                raise ValueError(f"ClusterOptions.session_expiry is {se!r}: give whole seconds, 0..4294967295")
            o.session_expiry_ms = int(se) * 1000
        o.receive_maximum = _int("receive_maximum", self.receive_maximum, 1, 65535)
        o.topic_alias_maximum = _int("topic_alias_maximum", self.topic_alias_maximum, 0, 65535)
        o.no_topic_aliases = int(bool(self.no_topic_aliases))
        o.request_response_info = int(bool(self.request_response_info))
        o.no_problem_info = int(bool(self.no_problem_info))
        ids = self.message_ids
        if ids is None or ids == "auto":
            o.message_ids = 0
        elif ids == "always":
            o.message_ids = 1
        elif ids == "never":
            o.message_ids = -1
        else:
            raise ValueError(f"ClusterOptions.message_ids is {ids!r}: use \"auto\", \"always\" or \"never\"")

        def native(props: Any, what: str) -> Optional[NativeProps]:
            try:
                packed = props.pack()
            except (MQTTException, TypeError, ValueError, struct_error) as exc:
                raise ValueError(f"{what}: {exc}") from None
            if packed == b"\x00":
                return None
            np = NativeProps(packed)
            keep.append(np)
            return np

        if self.user_properties:
            cp = Properties(PacketTypes.CONNECT)
            try:
                cp.UserProperty = [(str(k), str(v)) for k, v in self.user_properties]
            except (TypeError, ValueError) as exc:
                raise ValueError(f"ClusterOptions.user_properties must be (name, value) pairs: {exc}") from None
            np = native(cp, "ClusterOptions.user_properties")
            o.connect_props = np.ptr if np is not None else None
        if w is not None:
            delay = w.delay
            wp = w.properties
            if wp is not None:
                if not isinstance(wp, Properties) or wp.packetType != PacketTypes.WILLMESSAGE:
                    raise TypeError("ClusterOptions.will.properties must be a Properties(PacketTypes.WILLMESSAGE)")
                if hasattr(wp, "WillDelayInterval"):
                    if delay is None:
                        delay = wp.WillDelayInterval
                    # The delay travels in its own field: the properties go without it.
                    copy = Properties(PacketTypes.WILLMESSAGE)
                    for name in wp.json():
                        if name != "WillDelayInterval":
                            setattr(copy, name, getattr(wp, name))
                    wp = copy
                np = native(wp, "ClusterOptions.will.properties")
                o.will_props = np.ptr if np is not None else None
            if delay is not None:
                if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0 or delay > 0xFFFFFFFF:
                    raise ValueError(f"ClusterOptions.will.delay is {delay!r}: give seconds, 0..4294967295")
                o.will_delay_ms = int(round(delay * 1000))

    def has_outbox(self) -> bool:
        """True when these options give the cluster an outbox (``outbox`` or ``outbox_dir``)."""
        return bool(self.outbox) or self.outbox_dir is not None

    def _outbox_to_struct(self, o: _lib.Options, keep: List[Any]) -> None:
        if self.outbox is not None and not isinstance(self.outbox, bool):
            raise TypeError(f"ClusterOptions.outbox must be a bool or None, not {type(self.outbox).__name__}")
        if self.outbox_dir is not None and self.outbox is False:
            raise ValueError("ClusterOptions.outbox is False but outbox_dir is given: a directory implies an outbox")
        if self.outbox_dir == "":
            raise ValueError("ClusterOptions.outbox_dir is empty: give a directory (or None for a memory outbox)")
        if not self.has_outbox():
            set_ = [f.name for f in fields(self) if f.name.startswith("outbox_") and getattr(self, f.name) not in (None, False)]
            if set_:
                raise ValueError(f"ClusterOptions.{set_[0]} is set but the cluster has no outbox: set outbox=True "
                                 "(memory) or outbox_dir (disk)")
            return
        o.outbox = 1
        d = self.outbox_dir
        if isinstance(d, os.PathLike):
            d = os.fspath(d)
        b = _str("outbox_dir", d)  # type: ignore[arg-type]
        keep.append(b)
        o.outbox_dir = b
        o.outbox_max_messages = _int("outbox_max_messages", self.outbox_max_messages, -(2**31), 2**31 - 1)
        mb = self.outbox_max_bytes
        if mb is not None:
            if isinstance(mb, bool) or not isinstance(mb, int):
                raise TypeError(f"ClusterOptions.outbox_max_bytes must be an int, not {type(mb).__name__}")
            if mb < -(2**63) or mb > 2**63 - 1:
                raise ValueError(f"ClusterOptions.outbox_max_bytes is {mb}: out of range")
            o.outbox_max_bytes = mb
        o.outbox_overflow = _policy("outbox_overflow", self.outbox_overflow, OverflowPolicy)
        o.outbox_sync = _policy("outbox_sync", self.outbox_sync, SyncPolicy)
        o.outbox_sync_interval_ms = _seconds_to_ms("outbox_sync_interval", self.outbox_sync_interval)
        o.outbox_qos0 = int(bool(self.outbox_qos0))
        o.outbox_expiry_ms = _seconds_to_ms("outbox_expiry", self.outbox_expiry)


@dataclass
class _OptionsStruct:
    struct: _lib.Options
    keep: List[Any] = field(default_factory=list)
