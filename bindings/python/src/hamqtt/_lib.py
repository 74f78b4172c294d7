"""Low-level ctypes binding of libhamqtt (include/hamqtt.h).

Nothing here is public API. The library is loaded lazily, on the first call that needs it, so
``import hamqtt.client`` starts no Go runtime. Every entry point checks that the process is not
a ``fork()`` child of a process that had loaded the library (such a child would hang in the Go
runtime) and raises :class:`RuntimeError` instead.

Search order for the shared library:

1. the ``HAMQTT_LIBRARY`` environment variable (a path to ``libhamqtt.so``);
2. ``libhamqtt.so`` bundled next to this file (what the wheel ships);
3. the path recorded at build time in ``hamqtt/_build_config.py`` (a wheel built with
   ``HAMQTT_LIBRARY`` set bundles no library and uses that one).
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import struct
import threading
import weakref
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Callable, Optional

log = logging.getLogger("hamqtt")

# ---------------------------------------------------------------------------------------------
# Status codes (enum hamqtt_status)

OK = 0
ERR_INVALID = -1
ERR_HANDLE = -2
ERR_TOPIC = -3
ERR_QOS = -4
ERR_PAYLOAD = -5
ERR_CONFIG = -6
ERR_NO_ENDPOINT = -7
ERR_CLOSED = -8
ERR_NOT_FOUND = -9
ERR_BUSY = -10
ERR_MODE = -11
ERR_STATE = -12
ERR_REFUSED = -13
ERR_IO = -14
ERR_NOT_INITIALIZED = -15
ERR_TIMEOUT = -16
ERR_FULL = -17
ERR_DROPPED = -18
ERR_EXPIRED = -19
ERR_LOCKED = -20
ERR_BUFFER = -21
ERR_INTERNAL = -99
# Not an error: the client's outbox holds the message, no broker acknowledged it yet.
STORED = 1

STATUS_NAMES = {
    OK: "HAMQTT_OK",
    ERR_INVALID: "HAMQTT_ERR_INVALID",
    ERR_HANDLE: "HAMQTT_ERR_HANDLE",
    ERR_TOPIC: "HAMQTT_ERR_TOPIC",
    ERR_QOS: "HAMQTT_ERR_QOS",
    ERR_PAYLOAD: "HAMQTT_ERR_PAYLOAD",
    ERR_CONFIG: "HAMQTT_ERR_CONFIG",
    ERR_NO_ENDPOINT: "HAMQTT_ERR_NO_ENDPOINT",
    ERR_CLOSED: "HAMQTT_ERR_CLOSED",
    ERR_NOT_FOUND: "HAMQTT_ERR_NOT_FOUND",
    ERR_BUSY: "HAMQTT_ERR_BUSY",
    ERR_MODE: "HAMQTT_ERR_MODE",
    ERR_STATE: "HAMQTT_ERR_STATE",
    ERR_REFUSED: "HAMQTT_ERR_REFUSED",
    ERR_IO: "HAMQTT_ERR_IO",
    ERR_NOT_INITIALIZED: "HAMQTT_ERR_NOT_INITIALIZED",
    ERR_TIMEOUT: "HAMQTT_ERR_TIMEOUT",
    ERR_FULL: "HAMQTT_ERR_FULL",
    ERR_DROPPED: "HAMQTT_ERR_DROPPED",
    ERR_EXPIRED: "HAMQTT_ERR_EXPIRED",
    ERR_LOCKED: "HAMQTT_ERR_LOCKED",
    ERR_BUFFER: "HAMQTT_ERR_BUFFER",
    ERR_INTERNAL: "HAMQTT_ERR_INTERNAL",
    STORED: "HAMQTT_STORED",
}

# Event kinds (enum hamqtt_event_kind)
EVENT_MESSAGE = 1
EVENT_ENDPOINT_UP = 2
EVENT_ENDPOINT_DOWN = 3
EVENT_DELIVERY = 4
EVENT_ERROR = 5

# Publisher types, log levels, endpoint states
PUBLISHER_STICKY = 0
PUBLISHER_ROUND_ROBIN = 1
PUBLISHER_RANDOM = 2
PUBLISHER_ALL = 3

LOG_DEBUG = 10
LOG_INFO = 20
LOG_WARN = 30
LOG_ERROR = 40
LOG_OFF = 100

ENDPOINT_STATES = {0: "dead", 1: "connecting", 2: "live", 3: "quarantined", 4: "removed"}

# Outbox overflow and sync policies (enum hamqtt_outbox_overflow, enum hamqtt_outbox_sync)
OVERFLOW_REFUSE = 0
OVERFLOW_BLOCK = 1
OVERFLOW_DROP_OLDEST = 2
SYNC_ALWAYS = 0
SYNC_INTERVAL = 1
SYNC_NEVER = 2


# ---------------------------------------------------------------------------------------------
# Errors


def redact_uri(spec: str) -> str:
    """A broker URI or list with the credentials it may carry (``scheme://user:password@host``)
    hidden: the password, or a lone user part (often a token), becomes ``***``."""
    out = []
    for item in spec.split(","):
        scheme, sep, rest = item.partition("://")
        if not sep:
            scheme, rest = "", item
        end = len(rest)
        for ch in "/?#":
            i = rest.find(ch)
            if 0 <= i < end:
                end = i
        authority = rest[:end]
        at = authority.rfind("@")
        if at < 0:
            out.append(item)
            continue
        user, colon, _ = authority[:at].partition(":")
        hidden = f"{user}:***" if colon else "***"
        out.append(f"{scheme}{sep}{hidden}{rest[at:]}")
    return ",".join(out)


class HamqttError(Exception):
    """An error reported by libhamqtt.

    :ivar code: the negative ``HAMQTT_ERR_*`` status code.
    :ivar name: its symbolic name, e.g. ``"HAMQTT_ERR_NO_ENDPOINT"``.
    :ivar detail: the library's explanation (``hamqtt_last_error()``).
    :ivar reason_code: the broker's MQTT 5 reason code when a broker refused (else 0).
    """

    reason_code: int = 0
    """The MQTT 5 reason code a broker refused the call with (``hamqtt_last_reason_code()``:
    0x80 and above), else 0."""

    def __init__(self, code: int, detail: str) -> None:
        self.code = code
        self.name = STATUS_NAMES.get(code, f"HAMQTT_ERR({code})")
        self.detail = detail
        super().__init__(f"{detail} [{self.name}]" if detail else self.name)


class ConfigError(HamqttError, ValueError):
    """Bad configuration, URI, range or option (also a :class:`ValueError`)."""


class InvalidArgumentError(HamqttError, ValueError):
    """Bad argument: topic, filter, QoS or payload (also a :class:`ValueError`)."""


class NoEndpointError(HamqttError, ConnectionError):
    """No endpoint of the cluster could take the operation in time (a :class:`ConnectionError`)."""


class NotFoundError(HamqttError, LookupError):
    """No such cluster, endpoint or subscription (a :class:`LookupError`)."""


class ClosedError(HamqttError):
    """The client was closed or disconnected meanwhile."""


class StateError(HamqttError, RuntimeError):
    """The client is in the wrong state for this call (a :class:`RuntimeError`)."""


class TimedOutError(HamqttError, TimeoutError):
    """A wait ended before what it waited for (a :class:`TimeoutError`)."""


class OutboxError(HamqttError):
    """A failure of the client's outbox or of a message it held (the subclasses say which)."""


class OutboxFullError(OutboxError):
    """The outbox is full: the message was not stored (publish it later, or choose another
    overflow policy or larger bounds)."""


class MessageDroppedError(OutboxError):
    """A stored message was dropped to make room for a newer one (overflow ``drop-oldest``)."""


class MessageExpiredError(OutboxError):
    """A stored message waited longer than the outbox's expiry and was dropped."""


class OutboxLockedError(OutboxError):
    """The outbox directory is owned by another client of this process or by another process
    (one owner at a time: give each client its own directory)."""


_ERROR_CLASSES: dict[int, type[HamqttError]] = {
    ERR_INVALID: InvalidArgumentError,
    ERR_TOPIC: InvalidArgumentError,
    ERR_QOS: InvalidArgumentError,
    ERR_PAYLOAD: InvalidArgumentError,
    ERR_CONFIG: ConfigError,
    ERR_NO_ENDPOINT: NoEndpointError,
    ERR_REFUSED: NoEndpointError,
    ERR_CLOSED: ClosedError,
    ERR_HANDLE: ClosedError,
    ERR_NOT_FOUND: NotFoundError,
    ERR_NOT_INITIALIZED: StateError,
    ERR_STATE: StateError,
    ERR_BUSY: StateError,
    ERR_MODE: StateError,
    ERR_TIMEOUT: TimedOutError,
    ERR_FULL: OutboxFullError,
    ERR_DROPPED: MessageDroppedError,
    ERR_EXPIRED: MessageExpiredError,
    ERR_LOCKED: OutboxLockedError,
}


def error_for(code: int, detail: Optional[str] = None) -> HamqttError:
    """Build the exception for status ``code``; ``detail`` defaults to ``hamqtt_last_error()``
    (and its ``reason_code`` to ``hamqtt_last_reason_code()``)."""
    reason = 0
    if detail is None:
        L = lib()
        raw = L.hamqtt_last_error()
        detail = raw.decode("utf-8", "replace") if raw else ""
        reason = L.hamqtt_last_reason_code()
    exc = _ERROR_CLASSES.get(code, HamqttError)(code, detail)
    exc.reason_code = reason
    return exc


def check(code: int) -> None:
    """Raise the matching :class:`HamqttError` when ``code`` is not ``HAMQTT_OK``."""
    if code != OK:
        raise error_for(code)


# ---------------------------------------------------------------------------------------------
# Structures (layout of include/hamqtt.h; checked against a C compiler by the tests)


class Options(Structure):
    """``hamqtt_options``."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("name", c_char_p),
        ("client_id", c_char_p),
        ("username", c_char_p),
        ("password", c_char_p),
        ("publisher_type", c_int),
        ("primary_server_uri", c_char_p),
        ("default_topic_base", c_char_p),
        ("persistent_session", c_int),
        ("keep_alive_ms", c_int),
        ("connect_timeout_ms", c_int),
        ("time_to_wait_ms", c_int),
        ("ack_timeout_ms", c_int),
        ("probe_delay_ms", c_int),
        ("max_probe_delay_ms", c_int),
        ("connect_rate", c_double),
        ("connect_burst", c_int),
        ("warm_up_ms", c_int),
        ("flap_limit", c_int),
        ("flap_window_ms", c_int),
        ("quarantine_ms", c_int),
        ("live_endpoint_count", c_int),
        ("initial_endpoint_count", c_int),
        ("subscriber_count", c_int),
        ("publish_only", c_int),
        ("fos", c_int),
        ("dedup", c_int),
        ("dedup_window_ms", c_int),
        ("will_topic", c_char_p),
        ("will_payload", c_char_p),
        ("will_payload_len", c_size_t),
        ("will_qos", c_int),
        ("will_retain", c_int),
        ("file_store_dir", c_char_p),
        ("tls_ca_file", c_char_p),
        ("tls_cert_file", c_char_p),
        ("tls_key_file", c_char_p),
        ("tls_insecure", c_int),
        ("share_connections", c_int),
        ("tls_ca_pem", c_char_p),
        ("tls_cert_pem", c_char_p),
        ("tls_key_pem", c_char_p),
        ("ack_quorum", c_int),
        ("tls_skip_hostname_check", c_int),
        ("outbox", c_int),
        ("outbox_dir", c_char_p),
        ("outbox_max_messages", c_int),
        ("outbox_max_bytes", c_int64),
        ("outbox_overflow", c_int),
        ("outbox_sync", c_int),
        ("outbox_sync_interval_ms", c_int),
        ("outbox_qos0", c_int),
        ("outbox_expiry_ms", c_int),
        # MQTT 5 (0.5)
        ("protocol_version", c_int),
        ("session_expiry_ms", c_int64),
        ("receive_maximum", c_int),
        ("topic_alias_maximum", c_int),
        ("no_topic_aliases", c_int),
        ("request_response_info", c_int),
        ("no_problem_info", c_int),
        ("message_ids", c_int),
        ("connect_props", c_void_p),
        ("will_props", c_void_p),
        ("will_delay_ms", c_int64),
        ("max_packet_size", c_int),  # 0: the library's default (64 MiB)
    ]


class Message(Structure):
    """``hamqtt_message``."""

    _fields_ = [
        ("topic", c_void_p),
        ("topic_len", c_size_t),
        ("payload", c_void_p),
        ("payload_len", c_size_t),
        ("qos", c_int),
        ("retained", c_int),
        ("duplicate", c_int),
        ("endpoint", c_void_p),
        ("props", c_void_p),
    ]


class Delivery(Structure):
    """``hamqtt_delivery``."""

    _fields_ = [
        ("id", c_uint64),
        ("topic", c_void_p),
        ("status", c_int),
        ("error", c_void_p),
        ("endpoints", c_void_p),
        ("user", c_void_p),
        ("reason_code", c_int),
    ]


class Event(Structure):
    """``hamqtt_event``."""

    _fields_ = [
        ("kind", c_int),
        ("status", c_int),
        ("endpoint", c_void_p),
        ("error", c_void_p),
        ("time_unix_ns", c_int64),
        ("message", Message),
        ("delivery", Delivery),
        ("reason_code", c_int),
    ]


class EndpointStatsStruct(Structure):
    """``hamqtt_endpoint_stats``."""

    _fields_ = [
        ("name", c_char_p),
        ("uri", c_char_p),
        ("state", c_int),
        ("subscriber", c_int),
        ("live_since_unix_ns", c_int64),
        ("published", c_uint64),
        ("acked", c_uint64),
        ("failed", c_uint64),
        ("failovers", c_uint64),
        ("connects", c_uint64),
        ("connect_failures", c_uint64),
        ("received", c_uint64),
        ("last_error", c_char_p),
    ]


class OutboxStatsStruct(Structure):
    """``struct hamqtt_outbox_stats``."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("messages", c_uint64),
        ("bytes", c_uint64),
        ("oldest_unix_ns", c_int64),
        ("oldest_age_ms", c_int64),
        ("stored", c_uint64),
        ("delivered", c_uint64),
        ("dropped", c_uint64),
        ("expired", c_uint64),
        ("recovered", c_uint64),
    ]


# hamqtt_event unpacked in one struct call per event (much faster than ctypes attribute access):
# kind, status, endpoint, error, time | topic, topic_len, payload, payload_len, qos, retained,
# duplicate, (pad), endpoint, props | id, topic, status, (pad), error, endpoints, user,
# reason_code, (pad) | reason_code, (pad). Its size must be the size of Event, which the
# library is told it writes: otherwise every event after the first is read at the wrong place.
EVENT_FORMAT = "=iiQQqQQQQiii4xQQQQi4xQQQi4xi4x"
EVENT_SIZE = struct.calcsize(EVENT_FORMAT)

class SubOptions(Structure):
    """``hamqtt_sub_options``."""

    _fields_ = [
        ("struct_size", c_uint32),
        ("no_local", c_int),
        ("retain_as_published", c_int),
        ("retain_handling", c_int),
        ("subscription_id", c_int),
        ("props", c_void_p),  # the SUBSCRIBE's user properties; NULL: none
    ]


# enum hamqtt_prop: the property identifiers of MQTT 5 (the same numbers as on the wire).
PROP_ASSIGNED_CLIENT_ID = 0x12

LOG_CB = CFUNCTYPE(None, c_void_p, c_uint64, c_int, c_char_p)
_VOIDP_ARRAY = POINTER(c_void_p)


# ---------------------------------------------------------------------------------------------
# Loading, fork safety, shutdown

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_forked = False
_exiting = False

FORK_MESSAGE = (
    "hamqtt cannot be used in a process created by fork() after the parent had loaded "
    "libhamqtt (its Go runtime does not survive fork and the call would hang). Create hamqtt "
    "clients after forking, or start workers with multiprocessing's 'spawn' or 'forkserver' "
    "start method (multiprocessing.set_start_method('spawn'))."
)


def _after_fork_in_child() -> None:
    global _forked
    if _lib is not None:
        _forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def forked() -> bool:
    """True in a fork() child of a process that had loaded the library."""
    return _forked


def check_fork() -> None:
    """Raise :class:`RuntimeError` in a fork() child of a process that had loaded the library."""
    if _forked:
        raise RuntimeError(FORK_MESSAGE)


def library_path() -> str:
    """The path of the ``libhamqtt.so`` that is (or would be) loaded."""
    env = os.environ.get("HAMQTT_LIBRARY")
    if env:
        return env
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libhamqtt.so")
    if os.path.exists(here):
        return here
    try:
        from . import _build_config  # type: ignore[attr-defined]

        recorded = getattr(_build_config, "LIBRARY_PATH", None)
        if recorded:
            return str(recorded)
    except ImportError:
        pass
    return here


def lib() -> ctypes.CDLL:
    """The loaded library (loading it on first use)."""
    if _forked:
        raise RuntimeError(FORK_MESSAGE)
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            _load()
    assert _lib is not None
    return _lib


def _load() -> None:
    global _lib
    path = library_path()
    if not os.path.exists(path):
        raise OSError(
            f"libhamqtt not found at {path}: reinstall the hamqtt package (its wheel bundles the "
            "library) or set HAMQTT_LIBRARY to the path of libhamqtt.so"
        )
    try:
        handle = ctypes.CDLL(path)
    except OSError as exc:
        raise OSError(f"cannot load libhamqtt from {path}: {exc}") from exc
    _declare(handle)
    _lib = handle
    log.debug("loaded libhamqtt %s from %s", handle.hamqtt_version().decode(), path)


def _declare(h: ctypes.CDLL) -> None:
    u64 = c_uint64
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "hamqtt_version": (c_char_p, []),
        "hamqtt_strerror": (c_char_p, [c_int]),
        "hamqtt_last_error": (c_char_p, []),
        "hamqtt_free": (None, [c_void_p]),
        "hamqtt_init_file": (c_int, [c_char_p]),
        "hamqtt_init_yaml": (c_int, [c_char_p, c_size_t]),
        "hamqtt_shutdown": (c_int, []),
        "hamqtt_cluster_client": (c_int, [c_char_p, POINTER(u64)]),
        "hamqtt_cluster_names": (c_int, [POINTER(_VOIDP_ARRAY), POINTER(c_size_t)]),
        "hamqtt_client_new": (c_int, [c_char_p, POINTER(Options), POINTER(u64)]),
        "hamqtt_connect": (c_int, [u64]),
        "hamqtt_disconnect": (c_int, [u64]),
        "hamqtt_close": (c_int, [u64]),
        "hamqtt_client_name": (c_int, [u64, POINTER(c_void_p)]),
        "hamqtt_publish": (c_int, [u64, c_char_p, c_char_p, c_size_t, c_int, c_int]),
        "hamqtt_publish_async": (
            c_int,
            [u64, c_char_p, c_char_p, c_size_t, c_int, c_int, c_void_p, c_void_p, POINTER(u64)],
        ),
        "hamqtt_publish_to": (c_int, [u64, c_char_p, c_char_p, c_char_p, c_size_t, c_int, c_int]),
        "hamqtt_publish_detached": (c_int, [u64, c_char_p, c_char_p, c_size_t, c_int, c_int]),
        "hamqtt_flush": (c_int, [u64, c_int]),
        "hamqtt_subscribe": (c_int, [u64, c_char_p, c_int, c_void_p, c_void_p]),
        "hamqtt_subscribe_granted": (c_int, [u64, c_char_p, c_int, c_void_p, c_void_p, POINTER(c_int)]),
        "hamqtt_unsubscribe": (c_int, [u64, c_char_p]),
        "hamqtt_set_log_callback": (c_int, [u64, c_int, LOG_CB, c_void_p]),
        "hamqtt_poll": (c_int, [u64, c_void_p, c_size_t, c_int, POINTER(c_size_t)]),
        "hamqtt_event_fd": (c_int, [u64, POINTER(c_int)]),
        "hamqtt_live_endpoints": (c_int, [u64, POINTER(_VOIDP_ARRAY), POINTER(c_size_t)]),
        "hamqtt_dead_endpoints": (c_int, [u64, POINTER(_VOIDP_ARRAY), POINTER(c_size_t)]),
        "hamqtt_stats": (c_int, [u64, POINTER(POINTER(EndpointStatsStruct)), POINTER(c_size_t)]),
        "hamqtt_add_endpoint": (c_int, [u64, c_char_p, c_char_p, POINTER(c_void_p)]),
        "hamqtt_remove_endpoint": (c_int, [u64, c_char_p]),
        "hamqtt_outbox_stats": (c_int, [u64, POINTER(OutboxStatsStruct)]),
        # MQTT 5
        "hamqtt_props_free": (None, [c_void_p]),
        "hamqtt_props_encode": (c_int, [c_void_p, c_void_p, c_size_t, POINTER(c_size_t)]),
        "hamqtt_props_decode": (c_int, [c_char_p, c_size_t, POINTER(c_void_p)]),
        "hamqtt_publish_props": (c_int, [u64, c_char_p, c_char_p, c_size_t, c_int, c_int, c_void_p]),
        "hamqtt_publish_async_props": (
            c_int,
            [u64, c_char_p, c_char_p, c_size_t, c_int, c_int, c_void_p, c_void_p, POINTER(u64)],
        ),
        "hamqtt_publish_detached_props": (c_int, [u64, c_char_p, c_char_p, c_size_t, c_int, c_int, c_void_p]),
        "hamqtt_subscribe_opts": (c_int, [u64, c_char_p, c_int, POINTER(SubOptions), POINTER(c_int)]),
        "hamqtt_unsubscribe_props": (c_int, [u64, c_char_p, c_void_p]),
        "hamqtt_disconnect_props": (c_int, [u64, c_int, c_void_p]),
        "hamqtt_publish_to_props": (c_int, [u64, c_char_p, c_char_p, c_char_p, c_size_t, c_int, c_int, c_void_p]),
        "hamqtt_last_reason_code": (c_int, []),
        "hamqtt_connack_props": (c_int, [u64, c_char_p, POINTER(c_void_p)]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(h, name)
        fn.restype = res
        fn.argtypes = args
    # hamqtt_poll_sized (0.5) writes the events in the layout of the size given (ours, Event);
    # hamqtt_poll writes the layout the client's options imply, the 0.4 one for a cluster of
    # the configuration file.
    try:
        fn = h.hamqtt_poll_sized
    except AttributeError:
        return
    fn.restype = c_int
    fn.argtypes = [u64, c_void_p, c_size_t, c_size_t, c_int, POINTER(c_size_t)]


def version() -> str:
    """The version of the loaded libhamqtt, ``"MAJOR.MINOR.PATCH"``."""
    return str(lib().hamqtt_version().decode())


def strerror(code: int) -> str:
    """Static text of a status code."""
    return str(lib().hamqtt_strerror(code).decode())


def take_string_list(arr: Any, count: int) -> list[str]:
    """Copy a NULL-terminated ``char **`` block and free it with ``hamqtt_free``."""
    try:
        return [ctypes.string_at(arr[i]).decode("utf-8", "replace") for i in range(count)]
    finally:
        lib().hamqtt_free(ctypes.cast(arr, c_void_p))


def take_string(ptr: c_void_p) -> str:
    """Copy a library-allocated C string and free it."""
    if not ptr.value:
        return ""
    try:
        return ctypes.string_at(ptr.value).decode("utf-8", "replace")
    finally:
        lib().hamqtt_free(ptr)


# Objects holding native handles register here so they are closed at interpreter exit, before
# Python finalizes (the library's threads must not call into a dying interpreter).
_closers: "weakref.WeakSet[Any]" = weakref.WeakSet()
_exit_hooks: list[Callable[[], None]] = []


def register_closer(obj: Any) -> None:
    """Register ``obj`` (with a ``_close_at_exit()`` method) for interpreter exit."""
    _closers.add(obj)


def add_exit_hook(fn: Callable[[], None]) -> None:
    """Run ``fn`` at interpreter exit after every registered object was closed."""
    _exit_hooks.append(fn)


def exiting() -> bool:
    """True once interpreter-exit cleanup has started."""
    return _exiting


@atexit.register
def _shutdown_at_exit() -> None:
    global _exiting
    _exiting = True
    if _forked or _lib is None:
        return
    for obj in list(_closers):
        try:
            obj._close_at_exit()
        except Exception:  # noqa: BLE001 - nothing useful to do at exit
            log.debug("hamqtt: error while closing %r at exit", obj, exc_info=True)
    for fn in _exit_hooks:
        try:
            fn()
        except Exception:  # noqa: BLE001
            log.debug("hamqtt: exit hook failed", exc_info=True)
