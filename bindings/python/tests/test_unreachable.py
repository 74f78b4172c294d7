"""Nothing reachable: each API answers as its peers do, then a broker comes.

The engine's connect fails at once when every broker failed an attempt made during the call
(a refused port: milliseconds) and would keep probing. paho's ``Client.connect()`` raises what
paho raises for a refused socket and leaves nothing trying; ``connect_async()`` and a loop retry
(``on_connect_fail``) until a broker is up; padogrid-style ``HaMqttClient.connect()`` raises at
once and keeps probing, so that a later publish finds the broker that comes. Each case starts
a real Mosquitto on the refused port afterwards. Deadlines are generous: "at once" means well
under time_to_wait (10 s).
"""

from __future__ import annotations

import asyncio
import errno
import threading
import time
from typing import List

import pytest

import hamqtt
import hamqtt.client as mqtt
from hamqtt.aio import AsyncHaMqttClient
from brokers import Broker, free_port, wait_for
from conftest import have_paho

AT_ONCE = 5.0  # seconds; the engine answers a refused port in milliseconds, time_to_wait is 10 s


def _clients() -> List[str]:
    return ["hamqtt", "paho"] if have_paho() else ["hamqtt"]


@pytest.mark.parametrize("lib", _clients())
def test_paho_connect_raises_connection_refused_then_connects(lib: str) -> None:
    if lib == "paho":
        import paho.mqtt.client as m
    else:
        m = mqtt  # type: ignore[assignment]
    port = free_port()
    c = m.Client(m.CallbackAPIVersion.VERSION2)
    t0 = time.monotonic()
    with pytest.raises(ConnectionRefusedError) as exc:
        c.connect("127.0.0.1", port, 60)
    assert time.monotonic() - t0 < AT_ONCE
    assert exc.value.errno == errno.ECONNREFUSED and isinstance(exc.value, OSError)
    assert not c.is_connected() and c.socket() is None
    if lib == "hamqtt":
        assert f"127.0.0.1:{port}" in str(exc.value) and "connection refused" in str(exc.value)
    b = Broker(port=port).start()
    try:
        got = threading.Event()
        c.on_message = lambda cl, u, msg: got.set()
        c.connect("127.0.0.1", port, 60)
        c.subscribe("nr/#", 1)
        c.loop_start()
        c.publish("nr/a", "x", qos=1).wait_for_publish(10)
        assert got.wait(10)
        c.disconnect()
        c.loop_stop()
    finally:
        b.stop()


@pytest.mark.parametrize("lib", _clients())
def test_connect_async_and_loop_retry_with_on_connect_fail(lib: str) -> None:
    if lib == "paho":
        import paho.mqtt.client as m
    else:
        m = mqtt  # type: ignore[assignment]
    port = free_port()
    fails: List[float] = []
    logs: List[str] = []
    connected = threading.Event()
    c = m.Client(m.CallbackAPIVersion.VERSION2)
    c.reconnect_delay_set(0.1, 0.5)
    c.on_connect_fail = lambda cl, u: fails.append(time.monotonic())
    c.on_connect = lambda cl, u, f, rc, p: connected.set()
    c.on_log = lambda cl, u, level, buf: logs.append(buf)
    c.connect_async("127.0.0.1", port)
    c.loop_start()
    b = Broker(port=port)
    try:
        assert wait_for(lambda: len(fails) >= 2, 10), "the loop keeps trying, calling on_connect_fail"
        assert "Connection failed, retrying" in logs
        assert not c.is_connected()
        b.start()
        assert connected.wait(15)
        assert c.is_connected()
        c.disconnect()
    finally:
        c.loop_stop()
        b.stop()


def test_ha_client_connect_raises_at_once_and_keeps_probing() -> None:
    port = free_port()
    ups: List[str] = []
    c = hamqtt.HaMqttClient(f"tcp://127.0.0.1:{port}", time_to_wait=10)
    c.on_endpoint_up = ups.append
    t0 = time.monotonic()
    with pytest.raises(hamqtt.NoEndpointError) as exc:
        c.connect()
    assert time.monotonic() - t0 < AT_ONCE
    msg = str(exc.value)
    assert f"tcp://127.0.0.1:{port}" in msg and "connection refused" in msg, msg
    assert "keeps probing" in msg
    assert isinstance(exc.value, ConnectionError) and not c.is_connected
    b = Broker(port=port).start()
    try:
        c.publish("nr/ha", b"after the broker came", qos=1)  # waits up to time_to_wait for it
        assert c.is_connected and c.live_endpoints
        assert wait_for(lambda: len(ups) == 1)
    finally:
        c.close()
        b.stop()


def test_ha_client_context_manager_closes_on_failed_connect() -> None:
    c = hamqtt.HaMqttClient(f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(hamqtt.NoEndpointError):
        with c:
            pass
    assert "closed" in repr(c)


def test_async_ha_client_connect_raises_at_once_and_publishes_later() -> None:
    port = free_port()
    b = Broker(port=port)

    async def main() -> None:
        c = AsyncHaMqttClient(f"tcp://127.0.0.1:{port}")
        t0 = time.monotonic()
        with pytest.raises(hamqtt.NoEndpointError, match="connection refused"):
            await c.connect()
        assert time.monotonic() - t0 < AT_ONCE
        try:
            await asyncio.get_running_loop().run_in_executor(None, b.start)
            eps = await asyncio.wait_for(c.publish("nr/aio", b"x", qos=1), 15)
            assert eps == c.client.live_endpoints
        finally:
            await c.close()

    try:
        asyncio.run(main())
    finally:
        b.stop()
