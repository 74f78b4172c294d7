"""The per-message paths of the binding (publish, poll) and what their shortcuts must keep:
the checks of a topic seen before, the bytes read from the library's memory, the id of each
of many concurrent publishes, and the event count a poll asks for."""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Dict, List, Tuple

import pytest

import hamqtt.client as mqtt
from brokers import Broker
from hamqtt import _lib, _native
from hamqtt import client as client_module


def test_bytes_read_from_library_memory_are_those_string_at_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    block = b"ab\x00cd\xff" * 60
    buf = ctypes.create_string_buffer(block)
    addr = ctypes.addressof(buf)
    for size in (1, 3, 6, 64, len(block)):
        assert _native._bytes_at(addr, size) == ctypes.string_at(addr, size) == block[:size]
        assert _native._bytes_at(addr, size) == block[:size]  # a second time: through the cached reader
    assert _native._bytes_at(addr, 0) == b""
    assert _native._cstring_at(addr) == b"ab"
    assert _native._cstring_at(addr + 3) == b"cd\xffab"
    # Past the bound on cached readers: still the right bytes, and the cache does not grow.
    monkeypatch.setattr(_native, "_MAX_CHAR_ARRAY_READERS", len(_native._char_array_readers))
    held = len(_native._char_array_readers)
    for size in (297, 299):
        assert size not in _native._char_array_readers
        assert _native._bytes_at(addr, size) == block[:size]
    assert len(_native._char_array_readers) == held


def test_a_topic_seen_before_is_checked_as_the_first_time(monkeypatch: pytest.MonkeyPatch) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    # No connect(): a QoS 0 message is refused with MQTT_ERR_NO_CONN after its checks.
    assert c.publish("path/ok", b"x").rc == mqtt.MQTT_ERR_NO_CONN
    assert client_module._checked_publish_topics["path/ok"] == b"path/ok"
    assert c.publish("path/ok", b"x").rc == mqtt.MQTT_ERR_NO_CONN
    assert c.publish(b"path/ok", b"x").rc == mqtt.MQTT_ERR_NO_CONN
    for bad, error in [("", ValueError), (None, ValueError), (b"", ValueError), ("a/+", ValueError),
                       ("a/#", ValueError), ("a\x00b", ValueError), ("a\x01b", ValueError),
                       ("x" * 65536, ValueError), (b"\xff", ValueError), (5, TypeError)]:
        for _ in range(2):
            with pytest.raises(error):
                c.publish(bad, b"x")
        if isinstance(bad, str):
            assert bad not in client_module._checked_publish_topics

    class Topic(str):
        """A str subclass: it may compare equal to a text it does not send."""

    assert c.publish(Topic("path/sub"), b"x").rc == mqtt.MQTT_ERR_NO_CONN
    assert "path/sub" not in client_module._checked_publish_topics
    with pytest.raises(ValueError):
        c.publish(Topic("path/+"), b"x")

    # Bounded: cleared when full.
    monkeypatch.setattr(client_module, "_checked_publish_topics", {})
    monkeypatch.setattr(client_module, "_MAX_CHECKED_PUBLISH_TOPICS", 3)
    for i in range(10):
        assert c.publish(f"path/{i}", b"x").rc == mqtt.MQTT_ERR_NO_CONN
        assert len(client_module._checked_publish_topics) <= 3
    assert client_module._checked_publish_topics["path/9"] == b"path/9"


def _live_native_client(broker: Broker) -> _native.NativeClient:
    nc = _native.NativeClient.create(broker.uri, None)
    nc.connect()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, evs = nc.poll(100)
        if any(ev[0] == _lib.EVENT_ENDPOINT_UP for ev in evs):
            return nc
    nc.close()
    raise AssertionError("the endpoint did not come up")


def _outcomes(nc: _native.NativeClient, want: int, max_events: int = 512) -> Dict[int, int]:
    """Delivery outcomes (id -> status) polled until ``want`` came, each poll taking at most
    ``max_events`` events."""
    got: Dict[int, int] = {}
    deadline = time.monotonic() + 10
    while len(got) < want and time.monotonic() < deadline:
        rc, evs = nc.poll(100, max_events)
        assert rc == _lib.OK
        assert len(evs) <= max_events
        for ev in evs:
            if ev[0] == _lib.EVENT_DELIVERY:
                assert ev[10] not in got, "an outcome reported twice"
                got[ev[10]] = ev[1]
    return got


def test_concurrent_publishes_on_one_handle_each_get_their_own_id(broker: Broker) -> None:
    # A cluster's handle is shared by its Client objects, which publish under their own
    # locks: each publish must read back the id the library gave it.
    nc = _live_native_client(broker)
    try:
        results: List[Tuple[int, int]] = []
        lock = threading.Lock()

        def publisher(n: int) -> None:
            mine = [nc.publish_async(b"path/ids", b"x" * (n % 7), 0, False) for _ in range(300)]
            with lock:
                results.extend(mine)

        threads = [threading.Thread(target=publisher, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(rc == _lib.OK for rc, _ in results)
        ids = [pid for _, pid in results]
        assert len(set(ids)) == len(ids) == 1200
        outcomes = _outcomes(nc, len(ids))
        assert set(outcomes) == set(ids)
        assert all(status == _lib.OK for status in outcomes.values())
    finally:
        nc.close()


def test_publish_arguments_other_than_bytes_take_the_declared_entry_point(broker: Broker) -> None:
    nc = _live_native_client(broker)
    try:
        class Raw(bytes):
            pass

        rc, pid = nc.publish_async(Raw(b"path/sub"), Raw(b"payload"), 0, True)
        assert rc == _lib.OK and pid
        with pytest.raises(ctypes.ArgumentError):
            nc.publish_async("path/str", b"x", 0, False)  # type: ignore[arg-type]
        with pytest.raises(ctypes.ArgumentError):
            nc.publish_async(b"path/x", bytearray(b"x"), 0, False)  # type: ignore[arg-type]
        assert _outcomes(nc, 1) == {pid: _lib.OK}
    finally:
        nc.close()


def test_poll_gives_at_most_the_events_asked_for(broker: Broker) -> None:
    nc = _live_native_client(broker)
    try:
        ids = [nc.publish_async(b"path/poll", b"x", 0, False)[1] for _ in range(5)]
        assert set(_outcomes(nc, 5, max_events=1)) == set(ids)
    finally:
        nc.close()
