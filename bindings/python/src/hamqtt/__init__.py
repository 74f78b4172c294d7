"""hamqtt: an HA MQTT client that clusters independent brokers from the client side.

* ``hamqtt.client`` is a drop-in for ``paho.mqtt.client`` (``import hamqtt.client as mqtt``);
  ``hamqtt.publish`` and ``hamqtt.subscribe`` mirror paho's helpers.
* :class:`HaMqttClient` and :class:`HaClusters` are the native API of the engine.
* ``hamqtt.aio`` offers an asyncio client on the engine's event descriptor.

The engine is libhamqtt (Go, loaded through ctypes on first use). A process that has used it
must not use it again in a ``fork()`` child: such calls raise :class:`RuntimeError`.
"""

from __future__ import annotations

from ._lib import (
    ClosedError,
    ConfigError,
    HamqttError,
    InvalidArgumentError,
    MessageDroppedError,
    MessageExpiredError,
    NoEndpointError,
    NotFoundError,
    OutboxError,
    OutboxFullError,
    OutboxLockedError,
    StateError,
    TimedOutError,
)
from ._native import EndpointStats, OutboxStats
from .ha import HaClusters, HaMqttClient, Message
from .options import ClusterOptions, OverflowPolicy, PublisherType, SyncPolicy, Will

__version__ = "0.5.0"

__all__ = [
    "HaClusters", "HaMqttClient", "Message", "EndpointStats", "OutboxStats", "ClusterOptions",
    "PublisherType", "OverflowPolicy", "SyncPolicy", "Will", "HamqttError", "ConfigError",
    "InvalidArgumentError", "NoEndpointError", "NotFoundError", "ClosedError", "StateError",
    "TimedOutError", "OutboxError", "OutboxFullError", "OutboxLockedError", "MessageDroppedError",
    "MessageExpiredError", "library_version", "__version__",
]


def library_version() -> str:
    """The version of the loaded libhamqtt (loads it)."""
    from . import _lib

    return _lib.version()
