"""One libhamqtt client handle, wrapped for Python (internal).

:class:`NativeClient` owns a ``hamqtt_client`` handle in pull mode: events are drained with
``hamqtt_poll`` (ctypes releases the GIL during the call) and returned as plain tuples. Both
the paho-compatible :mod:`hamqtt.client` and the native :class:`hamqtt.HaMqttClient` build on it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import struct
import threading
import weakref
from ctypes import byref, c_int, c_size_t, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

from . import _lib

log = logging.getLogger("hamqtt")
engine_log = logging.getLogger("hamqtt.engine")

_unpack_events = struct.Struct(_lib.EVENT_FORMAT)
_registry_lock = threading.Lock()
_cluster_clients: "dict[int, weakref.ref[NativeClient]]" = {}
_string_at = ctypes.string_at


def _unchecked_function(name: str) -> Any:
    """A second entry point to ``name`` returning ``int``, without ``argtypes``: for the calls
    made once per message. ctypes converts each argument of a declared function through its
    type's ``from_param`` (a new object per argument: about 1 µs of the 2 a call of
    ``hamqtt_publish_async`` took); undeclared, it passes ``bytes`` as a pointer, ``int`` as
    ``int``, ``None`` as NULL and ctypes objects as they are. The caller must therefore give
    exactly those: a ``c_uint64`` handle, a ``c_size_t`` size, a ``c_void_p`` for an address
    held as ``int``."""
    L = _lib.lib()
    fn = L._FuncPtr((name, L))
    fn.restype = c_int
    return fn


def _cstring_at(address: int) -> bytes:
    """The NUL-terminated bytes at ``address`` (a third of ``ctypes.string_at``'s cost, whose
    declared argument types are converted on every call)."""
    return ctypes.c_char_p(address).value or b""


# (c_char * n).from_address for the sizes met so far: the array type is the costly part.
_char_array_readers: "dict[int, Callable[[int], Any]]" = {}
_MAX_CHAR_ARRAY_READERS = 256


def _bytes_at(address: int, size: int) -> bytes:
    """The ``size`` bytes at ``address`` (as ``ctypes.string_at(address, size)``, in half the
    time for the sizes that repeat, as topics' and payloads' do)."""
    reader = _char_array_readers.get(size)
    if reader is None:
        if len(_char_array_readers) >= _MAX_CHAR_ARRAY_READERS or size <= 0:
            return _string_at(address, size) if size > 0 else b""
        reader = _char_array_readers[size] = (ctypes.c_char * size).from_address
    return reader(address).raw  # type: ignore[no-any-return]

# A drained event, as a tuple (fast to build, cheap to dispatch):
# (kind, status, endpoint, error, time_ns, topic, payload, qos, retained, duplicate,
#  delivery_id, delivery_endpoints, message_props, reason_code)
# message_props is the MQTT 5 wire form of the message's properties (as paho-mqtt's
# Properties.pack() gives it), or None when it has none; reason_code is the event's MQTT 5
# reason code (a delivery's refusal, the DISCONNECT a broker closed an endpoint with), else 0.
RawEvent = Tuple[
    int, int, Optional[str], Optional[str], int, Optional[str], bytes, int, bool, bool, int, str,
    Optional[bytes], int,
]


def props_to_bytes(ptr: Optional[int]) -> Optional[bytes]:
    """The MQTT 5 wire form (length prefix included) of a ``hamqtt_props`` the library owns,
    via ``hamqtt_props_encode``; None for NULL."""
    if not ptr:
        return None
    L = _lib.lib()
    need = c_size_t(0)
    buf = ctypes.create_string_buffer(256)
    rc = L.hamqtt_props_encode(ptr, buf, 256, byref(need))
    if rc != _lib.OK:
        if rc != _lib.ERR_BUFFER:
            _lib.check(rc)
        buf = ctypes.create_string_buffer(need.value)
        _lib.check(L.hamqtt_props_encode(ptr, buf, need.value, byref(need)))
    return buf.raw[: need.value]


class NativeProps:
    """A ``hamqtt_props`` made from the MQTT 5 wire form (``hamqtt_props_decode``); freed by
    :meth:`free` or when collected. The library copies what it is given, so one may be freed
    as soon as the call that took it returned."""

    __slots__ = ("ptr",)

    def __init__(self, packed: bytes) -> None:
        self.ptr: Optional[int] = None
        out = c_void_p()
        _lib.check(_lib.lib().hamqtt_props_decode(packed, len(packed), byref(out)))
        self.ptr = out.value

    def free(self) -> None:
        """``hamqtt_props_free`` (idempotent)."""
        p, self.ptr = self.ptr, None
        if p and not _lib.forked() and not _lib.exiting():
            _lib.lib().hamqtt_props_free(p)

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass


@dataclass(frozen=True)
class EndpointStats:
    """A snapshot of one endpoint of a cluster (``hamqtt_stats``)."""

    name: str
    uri: str
    state: str
    """``"dead"``, ``"connecting"``, ``"live"``, ``"quarantined"`` or ``"removed"``."""
    subscriber: bool
    live_since_ns: int
    published: int
    acked: int
    failed: int
    failovers: int
    connects: int
    connect_failures: int
    received: int
    last_error: str


@dataclass(frozen=True)
class OutboxStats:
    """A snapshot of a client's outbox: what it holds now, and counters since it was opened."""

    messages: int
    """Messages held: stored and not yet acknowledged by a broker (those being sent included)."""
    bytes: int
    """Their topics and payloads, in bytes."""
    oldest_age: float
    """How long the oldest message held has waited, in seconds (0.0 when empty)."""
    oldest_time: Optional[float]
    """When the oldest message held was stored (Unix time in seconds, as ``time.time()``), or
    None when empty."""
    stored: int
    """Messages stored since the outbox was opened."""
    delivered: int
    """... acknowledged by a broker."""
    dropped: int
    """... dropped to make room (overflow ``drop-oldest``)."""
    expired: int
    """... dropped because they waited longer than the expiry."""
    recovered: int = 0
    """Messages a disk outbox found when it was opened, stored by an earlier client or process
    (sent first); 0 in memory."""


def _poll_function() -> Callable[..., int]:
    """``hamqtt_poll`` writing events in the layout of :class:`_lib.Event`: through
    ``hamqtt_poll_sized`` with its size where the library has it."""
    L = _lib.lib()
    sized = getattr(L, "hamqtt_poll_sized", None)
    if sized is None:
        return L.hamqtt_poll  # type: ignore[no-any-return]
    size = ctypes.sizeof(_lib.Event)

    def poll(h: int, events: int, max_events: int, timeout_ms: int, count: Any) -> int:
        return int(sized(h, events, size, max_events, timeout_ms, count))

    return poll


def _cstr(value: Optional[str], what: str) -> Optional[bytes]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"{what} must not contain NUL characters: {value!r}")
    return value.encode("utf-8")


class NativeClient:
    """A libhamqtt client handle in pull mode. Thread-safe except :meth:`poll` (one poller)."""

    def __init__(self, handle: int, name: str, owned: bool = True) -> None:
        self._h = handle
        self.name = name
        self._owned = owned
        self._closed = False
        self._events = (_lib.Event * 512)()
        self._events_addr = ctypes.addressof(self._events)
        self._events_bytes = memoryview(self._events).cast("B")
        self._count = c_size_t(0)
        self._log_cb: Any = None
        self._efd = -1  # our dup of the event descriptor (one for the life of the client)
        self._owner: Optional["weakref.ref[Any]"] = None
        self._has_outbox: Optional[bool] = None
        # The per-message calls go through entry points without argtypes (see
        # _unchecked_function), so their arguments are made here once where they can be.
        self._handle_arg = c_uint64(handle)
        self._publish_async_fn = _unchecked_function("hamqtt_publish_async")
        self._publish_async_props_fn = _unchecked_function("hamqtt_publish_async_props")
        # Buffers for the id hamqtt_publish_async writes, one per publish in progress: a
        # cluster's handle is shared by its Client objects, which publish under locks of
        # their own, so one buffer per handle could hand a publish another one's id.
        self._id_buffers: List[Tuple[c_uint64, Any]] = []
        self._poll_fn = _poll_function()
        self._poll_sized_fn = (_unchecked_function("hamqtt_poll_sized")
                               if hasattr(_lib.lib(), "hamqtt_poll_sized") else None)
        self._poll_events_arg = c_void_p(self._events_addr)
        self._poll_event_size_arg = c_size_t(ctypes.sizeof(_lib.Event))
        self._poll_max_arg = c_size_t(512)
        self._count_ref = byref(self._count)
        _lib.register_closer(self)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def create(cls, endpoints: str, opts: Optional[_lib.Options]) -> "NativeClient":
        """``hamqtt_client_new``."""
        L = _lib.lib()
        out = c_uint64(0)
        spec = _cstr(endpoints, "endpoints")
        _lib.check(L.hamqtt_client_new(spec, byref(opts) if opts is not None else None, byref(out)))
        nc = cls(out.value, "")
        nc.name = nc._fetch_name()
        return nc

    @classmethod
    def from_cluster(cls, name: Optional[str]) -> "NativeClient":
        """``hamqtt_cluster_client``: the client of a cluster of the loaded configuration.

        The library returns the same handle until it is closed, and so does this: one
        NativeClient object per handle.
        """
        L = _lib.lib()
        out = c_uint64(0)
        _lib.check(L.hamqtt_cluster_client(_cstr(name, "cluster name"), byref(out)))
        with _registry_lock:
            ref = _cluster_clients.get(out.value)
            nc = ref() if ref is not None else None
            if nc is not None and not nc.closed:
                return nc
            nc = cls(out.value, "")
            nc.name = nc._fetch_name()
            _cluster_clients[out.value] = weakref.ref(nc)
            return nc

    def _fetch_name(self) -> str:
        p = c_void_p()
        _lib.check(_lib.lib().hamqtt_client_name(self._h, byref(p)))
        return _lib.take_string(p)

    def claim(self, owner: Any, what: str) -> None:
        """Record the one Python object that drains this handle's events (a cluster handle
        of the configuration is shared: two pollers would take each other's events)."""
        cur = self._owner() if self._owner is not None else None
        if cur is not None and cur is not owner:
            raise RuntimeError(
                f"cluster {self.name!r} is already used by {cur!r}: use that object, or close it first ({what})"
            )
        self._owner = weakref.ref(owner)

    @property
    def handle(self) -> int:
        """The raw ``hamqtt_client`` handle."""
        return self._h

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    # -- lifecycle ------------------------------------------------------------------------

    def connect(self) -> None:
        """``hamqtt_connect`` (blocks until one endpoint is live, or every endpoint failed an
        attempt, or time_to_wait passed)."""
        _lib.check(_lib.lib().hamqtt_connect(self._h))

    def disconnect(self) -> None:
        """``hamqtt_disconnect``."""
        if self._closed or _lib.forked():
            return
        _lib.check(_lib.lib().hamqtt_disconnect(self._h))

    def disconnect_props(self, reason_code: int, props: Optional["NativeProps"]) -> None:
        """``hamqtt_disconnect_props``: the MQTT 5 DISCONNECT with a reason code and properties
        (session expiry, reason string, user properties)."""
        if self._closed or _lib.forked():
            return
        _lib.check(_lib.lib().hamqtt_disconnect_props(self._h, reason_code, props.ptr if props is not None else None))

    def close(self) -> None:
        """``hamqtt_close``; idempotent; a no-op in a fork() child."""
        if self._closed:
            return
        self._closed = True
        if _lib.forked():
            return
        rc = _lib.lib().hamqtt_close(self._h)
        if rc not in (_lib.OK, _lib.ERR_HANDLE):
            self._closed = False
            raise _lib.error_for(rc)
        self.close_event_fd()
        self._log_cb = None

    def _close_at_exit(self) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._closed and not _lib.forked() and not _lib.exiting():
                self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass

    # -- publish / subscribe --------------------------------------------------------------

    def publish(self, topic: bytes, payload: bytes, qos: int, retain: bool) -> bool:
        """``hamqtt_publish`` (blocking): True when delivered, False when the client's outbox
        holds the message (``HAMQTT_STORED``: it is sent when a broker is live)."""
        rc = _lib.lib().hamqtt_publish(self._h, topic, payload, len(payload), qos, int(retain))
        if rc == _lib.STORED:
            return False
        _lib.check(rc)
        return True

    def publish_to(self, endpoint: bytes, topic: bytes, payload: bytes, qos: int, retain: bool,
                   props: Optional["NativeProps"] = None) -> None:
        """``hamqtt_publish_to`` (blocking, one endpoint, no failover); with MQTT 5 properties,
        ``hamqtt_publish_to_props``."""
        if props is None:
            _lib.check(
                _lib.lib().hamqtt_publish_to(self._h, endpoint, topic, payload, len(payload), qos, int(retain))
            )
            return
        _lib.check(_lib.lib().hamqtt_publish_to_props(self._h, endpoint, topic, payload, len(payload), qos,
                                                      int(retain), props.ptr))

    def publish_async(self, topic: bytes, payload: bytes, qos: int, retain: bool) -> Tuple[int, int]:
        """``hamqtt_publish_async`` in pull mode: returns (status, id)."""
        if _lib._forked:
            raise RuntimeError(_lib.FORK_MESSAGE)
        if topic.__class__ is not bytes or payload.__class__ is not bytes or qos.__class__ is not int:
            # Anything else takes the declared entry point, which converts (or refuses) it.
            out = c_uint64(0)
            rc = _lib.lib().hamqtt_publish_async(self._h, topic, payload, len(payload), qos, int(retain), None, None,
                                                 byref(out))
            return rc, out.value
        buffers = self._id_buffers
        try:
            buf = buffers.pop()
        except IndexError:
            out = c_uint64(0)
            buf = (out, byref(out))
        rc = self._publish_async_fn(self._handle_arg, topic, payload, c_size_t(len(payload)), qos,
                                    1 if retain else 0, None, None, buf[1])
        pid = buf[0].value
        buffers.append(buf)
        return rc, pid

    def publish_detached(self, topic: bytes, payload: bytes, qos: int, retain: bool) -> None:
        """``hamqtt_publish_detached``: queued; only a failure is reported (as an error event)."""
        _lib.check(_lib.lib().hamqtt_publish_detached(self._h, topic, payload, len(payload), qos, int(retain)))

    def publish_props(self, topic: bytes, payload: bytes, qos: int, retain: bool, props: "NativeProps") -> bool:
        """``hamqtt_publish_props``: :meth:`publish` with MQTT 5 properties."""
        rc = _lib.lib().hamqtt_publish_props(self._h, topic, payload, len(payload), qos, int(retain), props.ptr)
        if rc == _lib.STORED:
            return False
        _lib.check(rc)
        return True

    def publish_detached_props(self, topic: bytes, payload: bytes, qos: int, retain: bool,
                               props: "NativeProps") -> None:
        """``hamqtt_publish_detached_props``: :meth:`publish_detached` with MQTT 5 properties."""
        _lib.check(_lib.lib().hamqtt_publish_detached_props(self._h, topic, payload, len(payload), qos, int(retain),
                                                            props.ptr))

    def publish_async_props(self, topic: bytes, payload: bytes, qos: int, retain: bool,
                            props: Optional[NativeProps]) -> Tuple[int, int]:
        """``hamqtt_publish_async_props`` in pull mode: returns (status, id)."""
        _lib.check_fork()
        out = c_uint64(0)
        if topic.__class__ is not bytes or payload.__class__ is not bytes or qos.__class__ is not int:
            rc = _lib.lib().hamqtt_publish_async_props(
                self._h, topic, payload, len(payload), qos, int(retain), props.ptr if props is not None else None,
                None, byref(out))
            return rc, out.value
        rc = self._publish_async_props_fn(
            self._handle_arg, topic, payload, c_size_t(len(payload)), qos, 1 if retain else 0,
            c_void_p(props.ptr) if props is not None else None, None, byref(out))
        return rc, out.value

    def subscribe_opts(self, filt: bytes, qos: int, no_local: bool, retain_as_published: bool,
                       retain_handling: int, subscription_id: int, props: Optional["NativeProps"] = None) -> int:
        """``hamqtt_subscribe_opts``: returns the granted QoS, or the brokers' failure reason
        code (0x80 and above). Raises the library's error otherwise (its ``reason_code`` set
        when a broker refused)."""
        o = _lib.SubOptions()
        o.struct_size = ctypes.sizeof(_lib.SubOptions)
        o.no_local = int(bool(no_local))
        o.retain_as_published = int(bool(retain_as_published))
        o.retain_handling = int(retain_handling)
        o.subscription_id = int(subscription_id)
        o.props = props.ptr if props is not None else None
        code = ctypes.c_int(0x80)
        rc = _lib.lib().hamqtt_subscribe_opts(self._h, filt, qos, byref(o), byref(code))
        if rc != _lib.OK:
            raise _lib.error_for(rc)
        return code.value

    def connack_props(self, endpoint: Optional[str]) -> Optional[bytes]:
        """``hamqtt_connack_props``: the wire form of a live endpoint's CONNACK properties (None:
        MQTT 3.1.1, or the endpoint is not live any more)."""
        out = c_void_p()
        rc = _lib.lib().hamqtt_connack_props(self._h, _cstr(endpoint, "endpoint"), byref(out))
        if rc == _lib.ERR_NOT_FOUND:
            return None
        _lib.check(rc)
        try:
            return props_to_bytes(out.value)
        finally:
            _lib.lib().hamqtt_props_free(out.value)

    def flush(self, timeout_ms: int) -> None:
        """``hamqtt_flush`` (blocking; negative: no limit)."""
        _lib.check(_lib.lib().hamqtt_flush(self._h, timeout_ms))

    def subscribe(self, filt: bytes, qos: int) -> int:
        """``hamqtt_subscribe_granted`` without a callback (messages come from :meth:`poll`);
        returns the QoS the brokers granted."""
        granted = ctypes.c_int(0x80)
        _lib.check(_lib.lib().hamqtt_subscribe_granted(self._h, filt, qos, None, None, ctypes.byref(granted)))
        return granted.value

    def unsubscribe(self, filt: bytes, props: Optional["NativeProps"] = None) -> None:
        """``hamqtt_unsubscribe``; with MQTT 5 user properties, ``hamqtt_unsubscribe_props``."""
        if props is None:
            _lib.check(_lib.lib().hamqtt_unsubscribe(self._h, filt))
        else:
            _lib.check(_lib.lib().hamqtt_unsubscribe_props(self._h, filt, props.ptr))

    # -- events ---------------------------------------------------------------------------

    def poll(self, timeout_ms: int, max_events: int = 512) -> Tuple[int, List[RawEvent]]:
        """``hamqtt_poll``: returns (status, events). Only one thread may poll at a time."""
        n = self._count
        sized = self._poll_sized_fn
        if sized is not None and timeout_ms.__class__ is int:
            rc = sized(self._handle_arg, self._poll_events_arg, self._poll_event_size_arg,
                       self._poll_max_arg if max_events >= 512 else c_size_t(max(max_events, 0)), timeout_ms,
                       self._count_ref)
        else:
            rc = self._poll_fn(self._h, self._events_addr, min(max_events, 512), timeout_ms, byref(n))
        if rc != _lib.OK or n.value == 0:
            return rc, []
        count = n.value
        # Unpacked in place: the block is ours and nothing else writes it until the next poll.
        raw = self._events_bytes[: count * _lib.EVENT_SIZE]
        out: List[RawEvent] = []
        append = out.append
        sa = _cstring_at
        ba = _bytes_at
        for (kind, status, ep, err, tns, mtopic, mtlen, mpay, mplen, qos, ret, dup, _mep, mprops,
             did, _dtopic, _dstatus, derr, deps, _duser, _dreason, reason) in _unpack_events.iter_unpack(raw):
            if kind == 1:  # EVENT_MESSAGE
                append((
                    kind, 0, sa(ep).decode("utf-8", "replace") if ep else None, None, tns,
                    ba(mtopic, mtlen).decode("utf-8", "replace"),
                    ba(mpay, mplen) if mplen else b"", qos, bool(ret), bool(dup), 0, "",
                    props_to_bytes(mprops) if mprops else None, 0,
                ))
            else:
                append((
                    kind, status,
                    sa(ep).decode("utf-8", "replace") if ep else None,
                    sa(err).decode("utf-8", "replace") if err else None,
                    tns, None, b"", 0, False, False, did,
                    sa(deps).decode("utf-8", "replace") if deps else "", None, reason,
                ))
        return rc, out

    def event_fd(self) -> int:
        """Our dup of ``hamqtt_event_fd`` (-1 if there is none: closed, push mode).

        The library gives one descriptor for the life of the client (an epoll descriptor on
        Linux), readable while ``hamqtt_poll`` has something to give: events, or after a
        disconnect the answer HAMQTT_ERR_CLOSED; quiet after that until the next connect. Our
        dup is kept for the life of this object and closed by :meth:`close`.
        """
        if self._efd >= 0:
            return self._efd
        if self._closed:
            return -1
        fd = c_int(-1)
        rc = _lib.lib().hamqtt_event_fd(self._h, byref(fd))
        if rc != _lib.OK:
            return -1
        self._efd = os.dup(fd.value)
        return self._efd

    def close_event_fd(self) -> None:
        """Close our dup of the event descriptor."""
        if self._efd >= 0:
            try:
                os.close(self._efd)
            except OSError:
                pass
            self._efd = -1

    def set_log_handler(self, level: int, handler: Optional[Callable[[int, str], None]]) -> None:
        """Route the engine's log lines at ``level`` and above to ``handler(level, line)``.

        Lines arrive on a library thread. ``None`` turns them off.
        """
        L = _lib.lib()
        if handler is None:
            _lib.check(L.hamqtt_set_log_callback(self._h, _lib.LOG_OFF, _lib.LOG_CB(), None))
            return

        def trampoline(_user: Any, _client: int, lvl: int, line: bytes) -> None:
            try:
                handler(lvl, line.decode("utf-8", "replace") if line else "")
            except Exception:  # noqa: BLE001 - never let an exception into the library thread
                pass

        cb = _lib.LOG_CB(trampoline)
        _lib.check(L.hamqtt_set_log_callback(self._h, level, cb, None))
        self._log_cb = cb  # keep alive while the library may call it

    def has_outbox(self) -> bool:
        """Whether the client has an outbox (its own, or its configured cluster's)."""
        if self._has_outbox is None:
            try:
                self._has_outbox = self.outbox_stats() is not None
            except _lib.HamqttError:
                return False
        return self._has_outbox

    def outbox_stats(self) -> Optional[OutboxStats]:
        """``hamqtt_outbox_stats``: the outbox's snapshot, or None when the client has none."""
        st = _lib.OutboxStatsStruct()
        st.struct_size = ctypes.sizeof(_lib.OutboxStatsStruct)
        rc = _lib.lib().hamqtt_outbox_stats(self._h, byref(st))
        if rc == _lib.ERR_STATE:
            return None
        _lib.check(rc)
        return OutboxStats(
            messages=st.messages, bytes=st.bytes, oldest_age=st.oldest_age_ms / 1000.0,
            oldest_time=st.oldest_unix_ns / 1e9 if st.oldest_unix_ns else None,
            stored=st.stored, delivered=st.delivered, dropped=st.dropped, expired=st.expired,
            recovered=st.recovered,
        )

    # -- endpoints ------------------------------------------------------------------------

    def _names(self, fn: Any) -> List[str]:
        arr = ctypes.POINTER(c_void_p)()
        count = c_size_t(0)
        _lib.check(fn(self._h, byref(arr), byref(count)))
        return _lib.take_string_list(arr, count.value)

    def live_endpoints(self) -> List[str]:
        """Names of the live endpoints, longest-live first."""
        return self._names(_lib.lib().hamqtt_live_endpoints)

    def dead_endpoints(self) -> List[str]:
        """Names of the endpoints that are not live, in configuration order."""
        return self._names(_lib.lib().hamqtt_dead_endpoints)

    def stats(self) -> List[EndpointStats]:
        """A snapshot of every endpoint."""
        L = _lib.lib()
        arr = ctypes.POINTER(_lib.EndpointStatsStruct)()
        count = c_size_t(0)
        _lib.check(L.hamqtt_stats(self._h, byref(arr), byref(count)))
        try:
            out = []
            for i in range(count.value):
                s = arr[i]
                out.append(EndpointStats(
                    name=(s.name or b"").decode(), uri=(s.uri or b"").decode(),
                    state=_lib.ENDPOINT_STATES.get(s.state, str(s.state)),
                    subscriber=bool(s.subscriber), live_since_ns=s.live_since_unix_ns,
                    published=s.published, acked=s.acked, failed=s.failed, failovers=s.failovers,
                    connects=s.connects, connect_failures=s.connect_failures, received=s.received,
                    last_error=(s.last_error or b"").decode("utf-8", "replace"),
                ))
            return out
        finally:
            L.hamqtt_free(ctypes.cast(arr, c_void_p))

    def add_endpoint(self, uri: str, name: Optional[str]) -> List[str]:
        """``hamqtt_add_endpoint``: returns the names given."""
        p = c_void_p()
        _lib.check(_lib.lib().hamqtt_add_endpoint(self._h, _cstr(uri, "uri"), _cstr(name, "name"), byref(p)))
        names = _lib.take_string(p)
        return [n for n in names.split(",") if n]

    def remove_endpoint(self, name: str) -> None:
        """``hamqtt_remove_endpoint``."""
        _lib.check(_lib.lib().hamqtt_remove_endpoint(self._h, _cstr(name, "endpoint name")))


class EventBridge:
    """A real ``socket.socket`` that is readable while the engine's event descriptor is.

    The engine's descriptor is not a socket (an epoll descriptor on Linux), but programs written
    for paho-mqtt get a socket from ``Client.socket()`` and set options on it. The bridge hands
    out one end of a Unix socket pair (:attr:`sock`); a daemon thread waits on (a dup of) the
    event descriptor and writes one byte to the other end when it is readable, then waits until
    the consumer calls :meth:`rearm` (before each ``hamqtt_poll``) so that a level-triggered
    descriptor does not make it spin. Every byte leads to a read of :attr:`sock` and so to a
    ``rearm``: no wake-up is lost, and a spurious one costs one empty poll.
    """

    def __init__(self, efd: int, name: str) -> None:
        self._efd = os.dup(efd)
        self.sock, self._peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self._peer.setblocking(False)
        self._stop_r, self._stop_w = os.pipe()
        self._lock = threading.Lock()
        self._armed = threading.Event()
        self._armed.set()
        self._stopped = False
        self._fds_closed = False
        self._thread = threading.Thread(target=self._run, name=f"hamqtt-socket-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import select

        try:
            p = select.poll()
            p.register(self._efd, select.POLLIN)
            p.register(self._stop_r, select.POLLIN)
            while True:
                self._armed.wait()
                if self._stopped:
                    return
                ready = p.poll()
                if self._stopped or any(fd == self._stop_r for fd, _ in ready):
                    return
                self._armed.clear()
                try:
                    self._peer.send(b"\x01")
                except OSError:
                    pass
        except OSError:
            return
        finally:
            # The thread closes what it polls, so that no descriptor number is reused under it.
            with self._lock:
                self._fds_closed = True
                for fd in (self._efd, self._stop_r, self._stop_w):
                    try:
                        os.close(fd)
                    except OSError:
                        pass

    def rearm(self) -> None:
        """Consume the wake-up bytes and let the thread watch the descriptor again (call it
        before polling the events)."""
        try:
            while self.sock.recv(64):
                pass
        except OSError:
            pass
        self._armed.set()

    def close(self, join: bool = True) -> None:
        """Stop the thread and close the pair (the socket handed out reports fileno() -1)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if not self._fds_closed:
                try:
                    os.write(self._stop_w, b"x")
                except OSError:
                    pass
        self._armed.set()
        self.sock.close()
        self._peer.close()
        if join and self._thread is not threading.current_thread():
            self._thread.join(2)


def wait_readable(fds: List[int], timeout: Optional[float]) -> List[int]:
    """select() on ``fds`` (the GIL is released while waiting)."""
    import select

    try:
        r, _, _ = select.select([f for f in fds if f >= 0], [], [], timeout)
    except (OSError, ValueError):
        return []
    return r


class Waker:
    """A self-pipe that wakes a thread waiting in :func:`wait_readable`."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)
        self._lock = threading.Lock()
        self._pending = False

    def wake(self) -> None:
        """Make :attr:`r` readable (idempotent until :meth:`clear`)."""
        with self._lock:
            if self._pending or self.w < 0:
                return
            self._pending = True
            try:
                os.write(self.w, b"x")
            except OSError:
                pass

    def clear(self) -> None:
        """Consume the wake-up."""
        with self._lock:
            if not self._pending:
                return
            self._pending = False
            try:
                os.read(self.r, 64)
            except OSError:
                pass

    def close(self) -> None:
        """Close both ends."""
        with self._lock:
            for fd in (self.r, self.w):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.r = self.w = -1

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
