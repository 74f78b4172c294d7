"""The native HA API: :class:`HaClusters` (the configuration's clusters) and :class:`HaMqttClient`.

Example::

    import hamqtt

    with hamqtt.HaMqttClient("tcp://127.0.0.1:1883-1885", publisher_type="ALL") as client:
        client.subscribe("sensors/#", 1, callback=lambda msg: print(msg.topic, msg.payload))
        client.publish("sensors/t1", b"21.5", qos=1)
        print(client.live_endpoints, client.stats())

    clusters = hamqtt.HaClusters.initialize("etc/mqttv5-client.yaml")
    edge = clusters.get_client("edge")          # or HaClusters.get_client() for the default
    edge.connect()

Callbacks run on the client's event thread (started by :meth:`HaMqttClient.connect`), one at a
time and in event order. An exception in a callback is logged (logger ``hamqtt``) and the
thread goes on.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _lib
from ._lib import HamqttError, StateError
from ._native import EndpointStats, NativeClient, OutboxStats
from .client import _publish_props, _unpack_props, topic_matches_sub
from .options import ClusterOptions
from .packettypes import PacketTypes
from .properties import Properties

__all__ = ["HaClusters", "HaMqttClient", "Message", "EndpointStats", "OutboxStats"]

log = logging.getLogger("hamqtt")

PayloadLike = Union[bytes, bytearray, memoryview, str, int, float, None]


@dataclass(frozen=True)
class Message:
    """A received message."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    duplicate: bool
    endpoint: str
    """The name of the endpoint (broker) it came through."""
    timestamp_ns: int
    """When the engine received it (Unix time, nanoseconds)."""
    properties: Optional[Properties] = None
    """MQTT 5 (``protocol_version=5``): its properties, a ``Properties(PacketTypes.PUBLISH)``
    (empty when it carried none; ``SubscriptionIdentifier`` lists the subscriptions it
    matched); None under MQTT 3.1.1, and None when it carried none on a client of a
    configuration file's cluster (the binding does not know that cluster's version)."""


def _payload(payload: PayloadLike) -> bytes:
    if payload is None:
        return b""
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, (int, float)) and not isinstance(payload, bool):
        return str(payload).encode("ascii")
    raise TypeError(f"payload must be bytes, str, int, float or None, not {type(payload).__name__}")


def _topic(topic: Any, what: str = "topic") -> bytes:
    if not isinstance(topic, str):
        raise TypeError(f"{what} must be a str, not {type(topic).__name__}")
    if not topic:
        raise ValueError(f"{what} must not be empty")
    if "\x00" in topic:
        raise ValueError(f"{what} must not contain NUL characters: {topic!r}")
    return topic.encode("utf-8")


def _qos(qos: Any) -> int:
    if isinstance(qos, bool) or not isinstance(qos, int):
        raise TypeError(f"qos must be an int (0, 1 or 2), not {type(qos).__name__}")
    if qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, not {qos}")
    return qos


MessageCallback = Callable[[Message], Any]


class HaMqttClient:
    """A client of one virtual cluster: a set of independent brokers used as one.

    :param endpoints: broker URIs, as a comma-separated string or a sequence, with optional
        ranges: ``"tcp://10.0.0.5-7:1883"``, ``"127.0.0.1:1883-1885"``, ``["a:1883", "b:1884"]``.
    :param options: a :class:`ClusterOptions` or a dict of its fields.
    :param option_kwargs: :class:`ClusterOptions` fields, e.g. ``publisher_type="ALL"``, or
        ``outbox_dir="/var/lib/app/outbox"`` for a durable outbox (store and forward):
        ``outbox``, ``outbox_dir``, ``outbox_max_messages``, ``outbox_max_bytes``,
        ``outbox_overflow``, ``outbox_sync``, ``outbox_sync_interval``, ``outbox_qos0``,
        ``outbox_expiry``. Without ``outbox`` or ``outbox_dir`` the client has no outbox (as
        the C API): a publish that finds no broker within ``time_to_wait`` fails.

    Use it as a context manager (connects on entry, closes on exit) or call :meth:`connect`
    and :meth:`close`.
    """

    on_message: Optional[MessageCallback]
    """Messages that no subscription callback took: ``on_message(message)``."""
    on_endpoint_up: Optional[Callable[[str], Any]]
    """An endpoint connected: ``on_endpoint_up(name)``."""
    on_endpoint_down: Optional[Callable[[str, str], Any]]
    """An endpoint moved to the dead list (a failover): ``on_endpoint_down(name, reason)``."""
    on_error: Optional[Callable[[HamqttError], Any]]
    """A failure that belongs to no call: ``on_error(error)``."""

    def __init__(self, endpoints: Union[str, Sequence[str]],
                 options: Union[ClusterOptions, Mapping[str, Any], None] = None, **option_kwargs: Any) -> None:
        if isinstance(endpoints, (list, tuple)):
            for e in endpoints:
                if not isinstance(e, str):
                    raise TypeError(f"endpoints must be strings, not {type(e).__name__}")
            spec = ",".join(endpoints)
        elif isinstance(endpoints, str):
            spec = endpoints
        else:
            raise TypeError(f"endpoints must be a str or a sequence of str, not {type(endpoints).__name__}")
        if not spec.strip():
            raise ValueError("endpoints names no broker: give at least one URI such as tcp://127.0.0.1:1883")
        cluster_options = ClusterOptions.from_any(options, **option_kwargs)
        opts = cluster_options.to_struct()
        self._init(NativeClient.create(spec, opts.struct))
        self._v5 = cluster_options.protocol_version == 5

    @classmethod
    def _from_native(cls, nc: NativeClient) -> "HaMqttClient":
        self = cls.__new__(cls)
        self._init(nc)
        return self

    def _init(self, nc: NativeClient) -> None:
        self._nc = nc
        # Whether received messages carry a Properties (MQTT 5). A cluster of the configuration
        # file does not say which version it speaks: its messages have one when they carried
        # properties.
        self._v5: Optional[bool] = None
        self.on_message = None
        self.on_endpoint_up = None
        self.on_endpoint_down = None
        self.on_error = None
        self._subs: Dict[str, Optional[MessageCallback]] = {}
        self._futures: Dict[int, "concurrent.futures.Future[List[str]]"] = {}
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stop = False
        self._connected = False
        self._threaded = True  # hamqtt.aio drains events on its event loop instead
        nc.set_log_handler(_lib.LOG_INFO if log.getEffectiveLevel() > logging.DEBUG else _lib.LOG_DEBUG,
                           _engine_log_line)
        _lib.register_closer(self)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The cluster's name."""
        return self._nc.name

    def connect(self) -> "HaMqttClient":
        """Start: returns once an endpoint is live (the others keep being probed).

        When no broker can be reached it raises at once (in milliseconds when every broker
        refused the connection, otherwise once each has failed an attempt, or after
        time_to_wait), naming every endpoint and why it failed. The client stays started, as
        padogrid's does: the endpoints keep being probed in the background, :attr:`is_connected`
        turns True and :attr:`on_endpoint_up` fires when a broker comes, and a later
        :meth:`publish` waits up to time_to_wait for one. Call :meth:`close` (or
        :meth:`disconnect`) to stop probing. Used as a context manager, a failed connect closes
        the client before the error propagates.

        :raises NoEndpointError: no endpoint is live (a :class:`ConnectionError`; probing goes on).
        """
        if self._nc.closed:
            raise _lib.ClosedError(_lib.ERR_CLOSED, f"client of cluster {self.name!r} is closed")
        self._nc.claim(self, "HaMqttClient.connect()")
        if self._threaded:
            self._start_thread()
        self._connected = True  # started: probing from now until disconnect() or close()
        try:
            self._nc.connect()
        except _lib.NoEndpointError as exc:
            raise _lib.NoEndpointError(
                exc.code, f"{exc.detail}; the client keeps probing the endpoints in the background "
                "(publish() waits up to time_to_wait for one; close() stops it)") from None
        except BaseException:
            self._connected = False
            raise
        return self

    def disconnect(self) -> None:
        """Disconnect every endpoint; :meth:`connect` starts again with the same subscriptions."""
        if self._nc.closed:
            return
        self._connected = False
        self._nc.disconnect()
        self._join_thread()

    def close(self) -> None:
        """Disconnect and release the client (idempotent)."""
        if self._nc.closed:
            return
        self._connected = False
        self._stop = True
        self._nc.close()
        self._join_thread()
        with self._lock:
            futures, self._futures = self._futures, {}
        for f in futures.values():
            if not f.done():
                f.set_exception(_lib.ClosedError(_lib.ERR_CLOSED, "client closed before the publish completed"))

    def _close_at_exit(self) -> None:
        self.close()

    def __enter__(self) -> "HaMqttClient":
        if not self._connected:
            try:
                self.connect()
            except BaseException:
                self.close()  # the with statement will not call __exit__: nothing would stop it
                raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._nc.closed:
            state = "closed"
        elif not self._connected:
            state = "not connected"
        else:
            state = "connected" if self.is_connected else "probing, no endpoint live"
        return f"<HaMqttClient cluster={self.name!r} {state}>"

    @property
    def is_connected(self) -> bool:
        """True while at least one endpoint is live (connect() was called, and neither
        disconnect() nor close() since)."""
        return self._connected and bool(self.live_endpoints)

    # -- publish / subscribe --------------------------------------------------------------

    def publish(self, topic: str, payload: PayloadLike = b"", qos: int = 0, retain: bool = False,
                *, endpoint: Optional[str] = None, properties: Optional[Properties] = None) -> bool:
        """Publish and wait until delivered (acknowledged for QoS 1/2, written for QoS 0).

        A failing endpoint is moved to the dead list and the message goes to the next live one.
        With ``endpoint``, only that endpoint is used (no failover, no outbox).

        ``properties`` (MQTT 5, ``protocol_version=5``): a ``Properties(PacketTypes.PUBLISH)``
        (hamqtt.properties, as paho-mqtt's) sent with the message, as padogrid's
        ``publish(topic, MqttMessage)`` sends the message's properties: payload format, message
        expiry, content type, response topic, correlation data, user properties (a Topic Alias
        is left out: the engine assigns aliases per connection).

        :returns: True when delivered. False when the client's outbox holds the message: no
            broker acknowledged it within time_to_wait, or the client is not connected (before
            :meth:`connect`, after :meth:`disconnect`). A stored message is not lost: it is
            sent, in publish order, when a broker is live; do not publish it again.
        :raises NoEndpointError: no endpoint took it within time_to_wait (without an outbox).
        :raises OutboxFullError: the outbox is full: the message was not stored.
        :raises ValueError: bad topic, QoS or payload; :raises TypeError: wrong types.
        """
        t, p, q = _topic(topic), _payload(payload), _qos(qos)
        props = _publish_props(properties) if properties is not None else None
        if endpoint is not None:
            self._nc.publish_to(_topic(endpoint, "endpoint"), t, p, q, bool(retain), props)
            return True
        if props is not None:
            return self._nc.publish_props(t, p, q, bool(retain), props)
        return self._nc.publish(t, p, q, bool(retain))

    def publish_async(self, topic: str, payload: PayloadLike = b"", qos: int = 0,
                      retain: bool = False, *,
                      properties: Optional[Properties] = None) -> "concurrent.futures.Future[List[str]]":
        """Start a publish; the future resolves to the endpoint names that took it, or to the
        error (resolved on the event thread, which :meth:`connect` starts).

        With an outbox the call returns once the message is stored (also before
        :meth:`connect`), and the future resolves when a broker acknowledged it, however long
        the outage; its error says why a stored message was not published after all
        (:class:`MessageDroppedError`, :class:`MessageExpiredError`, :class:`ClosedError`).

        ``properties``: MQTT 5 message properties, as for :meth:`publish`.

        :raises OutboxFullError: the outbox is full: the message was not stored.
        """
        t, p, q = _topic(topic), _payload(payload), _qos(qos)
        props = _publish_props(properties) if properties is not None else None
        fut: "concurrent.futures.Future[List[str]]" = concurrent.futures.Future()
        with self._lock:
            if props is not None:
                rc, pid = self._nc.publish_async_props(t, p, q, bool(retain), props)
            else:
                rc, pid = self._nc.publish_async(t, p, q, bool(retain))
            if rc != _lib.OK:
                raise _lib.error_for(rc)
            self._futures[pid] = fut
        return fut

    def publish_detached(self, topic: str, payload: PayloadLike = b"", qos: int = 0,
                         retain: bool = False, *, properties: Optional[Properties] = None) -> None:
        """Start a publish that reports only its failure: no future; if no endpoint took it
        within time_to_wait, :attr:`on_error` receives the error. For telemetry that would throw
        a success away. :meth:`flush` waits for these publishes too.

        ``properties``: MQTT 5 message properties, as for :meth:`publish`.

        :raises ValueError: bad topic, QoS or payload; :raises ClosedError: client closed.
        """
        t, p, q = _topic(topic), _payload(payload), _qos(qos)
        if properties is not None:
            props = _publish_props(properties)
            if props is not None:
                self._nc.publish_detached_props(t, p, q, bool(retain), props)
                return
        self._nc.publish_detached(t, p, q, bool(retain))

    def flush(self, timeout: Optional[float] = None) -> None:
        """Wait until no asynchronous publish (``publish_async`` or ``publish_detached``) is
        outstanding: each was acknowledged (QoS 1, 2), written (QoS 0) or failed.

        :param timeout: seconds; None waits without limit.
        :raises TimedOutError: publishes were still outstanding after ``timeout``.
        """
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        self._nc.flush(ms)

    def subscribe(self, topic_filter: str, qos: int = 0, callback: Optional[MessageCallback] = None) -> int:
        """Subscribe on every live subscriber endpoint (and each one that comes up later).

        Matching messages go to ``callback(message)``, or to :attr:`on_message` without one.
        Subscribing the same filter again replaces its QoS and callback.

        :returns: the QoS the brokers granted: the lowest any subscriber endpoint granted (a
            broker may cap it), or ``qos`` while not connected.
        """
        f, q = _topic(topic_filter, "topic_filter"), _qos(qos)
        if callback is not None and not callable(callback):
            raise TypeError(f"callback must be callable, not {type(callback).__name__}")
        with self._lock:
            self._subs[topic_filter] = callback
        try:
            return self._nc.subscribe(f, q)
        except HamqttError as exc:
            if exc.code != _lib.ERR_NO_ENDPOINT:  # NO_ENDPOINT: stays registered
                with self._lock:
                    self._subs.pop(topic_filter, None)
            raise

    def unsubscribe(self, topic_filter: str) -> None:
        """Remove a subscription (exactly as subscribed)."""
        f = _topic(topic_filter, "topic_filter")
        self._nc.unsubscribe(f)
        with self._lock:
            self._subs.pop(topic_filter, None)

    # -- endpoints ------------------------------------------------------------------------

    @property
    def live_endpoints(self) -> List[str]:
        """Names of the live endpoints, longest-live first."""
        return self._nc.live_endpoints()

    @property
    def dead_endpoints(self) -> List[str]:
        """Names of the endpoints that are not live (dead, connecting, quarantined)."""
        return self._nc.dead_endpoints()

    def stats(self) -> List[EndpointStats]:
        """A snapshot of every endpoint, in configuration order."""
        return self._nc.stats()

    def outbox_stats(self) -> Optional[OutboxStats]:
        """The outbox's depth (``messages``, ``bytes``), the age of its oldest message
        (``oldest_age``, seconds) and its counters; None when the client has no outbox."""
        return self._nc.outbox_stats()

    def add_endpoint(self, uri: str, name: Optional[str] = None) -> List[str]:
        """Add broker(s) at runtime (a URI, list or range); returns the names given."""
        return self._nc.add_endpoint(uri, name)

    def remove_endpoint(self, name: str) -> None:
        """Disconnect and remove an endpoint for good (in-flight publishes fail over)."""
        self._nc.remove_endpoint(name)

    # -- the event thread -----------------------------------------------------------------

    def _start_thread(self) -> None:
        t = self._thread
        if t is not None and t.is_alive():
            return
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"hamqtt-{self.name}", daemon=True)
        self._thread.start()

    def _join_thread(self) -> None:
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(5)
        self._thread = None

    def _run(self) -> None:
        nc = self._nc
        while not self._stop and not nc.closed and not _lib.forked():
            try:
                rc, evs = nc.poll(250)
            except RuntimeError:
                return
            for ev in evs:
                self._handle(ev)
            if rc in (_lib.ERR_CLOSED, _lib.ERR_HANDLE):
                return

    def _handle(self, ev: Tuple[Any, ...]) -> None:
        kind = ev[0]
        try:
            if kind == _lib.EVENT_MESSAGE:
                msg = Message(ev[5], ev[6], ev[7], ev[8], ev[9], ev[2] or "", ev[4],
                              _unpack_props(PacketTypes.PUBLISH, ev[12])
                              if self._v5 or ev[12] is not None else None)
                matched = False
                for filt, cb in list(self._subs.items()):
                    if cb is not None and topic_matches_sub(filt, msg.topic):
                        matched = True
                        self._call(cb, msg)
                if not matched and self.on_message is not None:
                    self._call(self.on_message, msg)
            elif kind == _lib.EVENT_DELIVERY:
                with self._lock:
                    fut = self._futures.pop(ev[10], None)
                if fut is not None and not fut.done():
                    if ev[1] == _lib.OK:
                        fut.set_result([e for e in ev[11].split(",") if e])
                    else:
                        fut.set_exception(_lib.error_for(ev[1], ev[3] or ""))
            elif kind == _lib.EVENT_ENDPOINT_UP:
                log.info("cluster %s: endpoint %s is up", self.name, ev[2])
                if self.on_endpoint_up is not None:
                    self._call(self.on_endpoint_up, ev[2])
            elif kind == _lib.EVENT_ENDPOINT_DOWN:
                log.warning("cluster %s: endpoint %s is down: %s", self.name, ev[2], ev[3])
                if self.on_endpoint_down is not None:
                    self._call(self.on_endpoint_down, ev[2], ev[3] or "")
            elif kind == _lib.EVENT_ERROR:
                err = _lib.error_for(ev[1] or _lib.ERR_INTERNAL, ev[3] or "")
                log.error("cluster %s: %s", self.name, err)
                if self.on_error is not None:
                    self._call(self.on_error, err)
        except Exception:  # noqa: BLE001 - the event thread must go on
            log.exception("hamqtt: failed to handle an event of cluster %s", self.name)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            log.exception("hamqtt: exception in callback %s of cluster %s", getattr(fn, "__name__", fn), self.name)


def _engine_log_line(level: int, line: str) -> None:
    logging.getLogger("hamqtt.engine").log(level if level in (10, 20, 30, 40) else logging.INFO, "%s", line)


class HaClusters:
    """The clusters of the loaded configuration file (padogrid-compatible YAML).

    ``HaClusters.initialize(path)`` or ``HaClusters.initialize(yaml=text)`` loads it (without
    arguments: the file named by ``HAMQTT_CONFIG``); :meth:`get_client` returns the client of a
    cluster by name. The returned object is a context manager whose exit calls :meth:`shutdown`.
    """

    _lock = threading.Lock()
    _initialized = False
    _clients: Dict[str, HaMqttClient] = {}
    _hook_registered = False

    @classmethod
    def initialize(cls, config: Union[str, "os.PathLike[str]", None] = None, *, yaml: Optional[str] = None) -> "HaClusters":
        """Load the configuration from a file path, or YAML text with ``yaml=``.

        :raises ConfigError: invalid YAML or values (the message gives the line).
        :raises StateError: a configuration is already loaded (call :meth:`shutdown` first).
        """
        L = _lib.lib()
        with cls._lock:
            if yaml is not None:
                if config is not None:
                    raise ValueError("give either a configuration path or yaml= text, not both")
                if not isinstance(yaml, str):
                    raise TypeError(f"yaml must be a str, not {type(yaml).__name__}")
                data = yaml.encode("utf-8")
                _lib.check(L.hamqtt_init_yaml(data, len(data)))
            else:
                if config is None:
                    config = os.environ.get("HAMQTT_CONFIG")
                    if not config:
                        raise ValueError("no configuration: pass a path, yaml= text, or set HAMQTT_CONFIG")
                path = os.fspath(config)
                if not isinstance(path, str):
                    raise TypeError("config must be a path (str or os.PathLike)")
                if not os.path.exists(path):
                    raise FileNotFoundError(f"hamqtt configuration file not found: {path}")
                _lib.check(L.hamqtt_init_file(path.encode("utf-8")))
            cls._initialized = True
            if not cls._hook_registered:
                _lib.add_exit_hook(cls._shutdown_at_exit)
                cls._hook_registered = True
        return cls()

    @classmethod
    def _ensure_initialized(cls) -> None:
        if cls._initialized:
            return
        if os.environ.get("HAMQTT_CONFIG"):
            cls.initialize()
            return
        raise StateError(
            _lib.ERR_NOT_INITIALIZED,
            "no hamqtt configuration is loaded: call hamqtt.HaClusters.initialize(path) or set HAMQTT_CONFIG",
        )

    @classmethod
    def is_initialized(cls) -> bool:
        """True while a configuration is loaded."""
        return cls._initialized

    @classmethod
    def cluster_names(cls) -> List[str]:
        """The names of the configured clusters, default first."""
        cls._ensure_initialized()
        import ctypes

        arr = ctypes.POINTER(ctypes.c_void_p)()
        count = ctypes.c_size_t(0)
        _lib.check(_lib.lib().hamqtt_cluster_names(ctypes.byref(arr), ctypes.byref(count)))
        return _lib.take_string_list(arr, count.value)

    @classmethod
    def get_client(cls, name: Optional[str] = None) -> HaMqttClient:
        """The client of the named cluster (the default cluster when ``name`` is None); the same
        object on every call until it is closed. Not connected yet: call ``connect()``."""
        if name is not None and not isinstance(name, str):
            raise TypeError(f"cluster name must be a str, not {type(name).__name__}")
        cls._ensure_initialized()
        with cls._lock:
            nc = NativeClient.from_cluster(name)
            c = cls._clients.get(nc.name)
            if c is not None and c._nc is nc:
                return c
            c = HaMqttClient._from_native(nc)
            cls._clients[nc.name] = c
            return c

    @classmethod
    def shutdown(cls) -> None:
        """Close every client of the configuration and forget it."""
        with cls._lock:
            clients, cls._clients = list(cls._clients.values()), {}
            was = cls._initialized
            cls._initialized = False
        for c in clients:
            try:
                c.close()
            except HamqttError:
                pass
        if was and not _lib.forked():
            _lib.check(_lib.lib().hamqtt_shutdown())

    @classmethod
    def _shutdown_at_exit(cls) -> None:
        if cls._initialized:
            cls.shutdown()

    def __enter__(self) -> "HaClusters":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
