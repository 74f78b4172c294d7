"""External event loops drive hamqtt.client as they drive paho-mqtt.

paho's contract: ``socket()`` for the loop to watch; ``on_socket_open``/``on_socket_close`` when
it comes and goes; ``loop_read()`` when it is readable; ``loop_write()`` while write interest is
registered (``on_socket_register_write``/``on_socket_unregister_write``, or ``want_write()``);
``loop_misc()`` every second until it stops returning ``MQTT_ERR_SUCCESS``. The socket is one end
of a Unix socket pair that the client makes readable while the engine's event descriptor (an
epoll descriptor) is. The example programs run with hamqtt and, where it is installed, with
paho-mqtt, and must print the same.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, List, Optional

import pytest

import hamqtt.client as mqtt
from brokers import Broker, wait_for
from protocol import client_kwargs
from conftest import have_paho, run_example


def _run_both(name: str) -> List[str]:
    outputs = {}
    for lib in (["hamqtt", "paho"] if have_paho() else ["hamqtt"]):
        b = Broker().start()
        try:
            r = run_example(name, "127.0.0.1", str(b.port), lib=lib, timeout=60)
        finally:
            b.stop()
        assert r.returncode == 0, f"{name} with {lib} failed:\n{r.stdout}\n{r.stderr}"
        assert "Traceback" not in r.stderr and "exception" not in r.stderr.lower(), r.stderr
        outputs[lib] = r.stdout.splitlines()
    if "paho" in outputs:
        assert sorted(outputs["hamqtt"]) == sorted(outputs["paho"]), outputs
    return outputs["hamqtt"]


def test_asyncio_loop_as_in_paho_example() -> None:
    out = _run_both("loop_asyncio.py")
    assert out.count("Got response with 200000 bytes") == 3
    for line in ("Socket opened", "Connected: Success", "Socket closed", "misc_loop finished",
                 "Disconnected: Normal disconnection", "socket after close: None",
                 "loop_misc after close: 4", "callbacks on the loop thread: True", "Finished"):
        assert line in out, (line, out)


def test_selectors_loop() -> None:
    out = _run_both("loop_selectors.py")
    assert out.count("Got response with 200000 bytes") == 3
    for line in ("Socket opened", "Socket closed", "Disconnected: Normal disconnection",
                 "loop_read after close: 4", "loop_misc after close: 4",
                 "callbacks on the loop thread: True", "Finished"):
        assert line in out, (line, out)


def test_the_socket(broker: Broker) -> None:
    """A real socket.socket, owned by the client: opened by connect(), closed after
    disconnect(), a new one after reconnect(); loop_write() is harmless at any time; its
    bridge thread exists only while a socket is open and asked for."""
    events: List[str] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs())
    assert c.socket() is None and not c.want_write()
    assert c.loop_read() == mqtt.MQTT_ERR_NO_CONN
    assert c.loop_write() == mqtt.MQTT_ERR_NO_CONN
    assert c.loop_misc() == mqtt.MQTT_ERR_NO_CONN
    c.on_socket_open = lambda cl, u, s: events.append(f"open {s.fileno()}")
    c.on_socket_close = lambda cl, u, s: events.append(f"close {s.fileno()}")
    c.connect("127.0.0.1", broker.port)
    sock = c.socket()
    assert isinstance(sock, socket.socket)
    assert sock.family == socket.AF_UNIX and sock.gettimeout() == 0.0
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) >= 4096
    assert events == [f"open {sock.fileno()}"]
    for _ in range(3):
        assert c.loop_write() == mqtt.MQTT_ERR_SUCCESS  # nothing to write: harmless
    assert c.loop_misc() == mqtt.MQTT_ERR_SUCCESS
    assert wait_for(lambda: (c.loop_read(), c.is_connected())[1], 5)
    old = sock.fileno()
    c.reconnect()  # as paho: the old socket closes, a new one opens
    assert events[1:] == [f"close {old}", f"open {c.socket().fileno()}"]
    assert sock.fileno() == -1  # the client closed the object it had handed out
    sock = c.socket()
    fd = sock.fileno()
    c.disconnect()  # no register-write callback: on_disconnect and the close come before it returns
    assert events[-1] == f"close {fd}"  # on_socket_close sees the socket still open
    assert c.socket() is None and sock.fileno() == -1
    assert c.loop_misc() == mqtt.MQTT_ERR_NO_CONN and c.loop_read() == mqtt.MQTT_ERR_NO_CONN
    assert wait_for(lambda: not any(t.name.startswith("hamqtt-socket-") for t in threading.enumerate()), 5)

    # a client that never asks for the socket has no bridge thread
    d = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs(), client_id="no-socket-asked")
    d.connect("127.0.0.1", broker.port)
    d.loop_start()
    try:
        assert wait_for(d.is_connected, 5)
        assert not any(t.name == "hamqtt-socket-no-socket-asked" for t in threading.enumerate())
    finally:
        d.disconnect()
        d.loop_stop()


def test_subscribe_acknowledged_through_write_interest(broker: Broker) -> None:
    """on_subscribe has no event of its own on the socket: the client asks for write interest
    and runs it from loop_write(), then drops the interest (what paho does for the SUBSCRIBE
    packet); want_write() says the same to a loop without the callbacks."""
    calls: List[str] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs())
    c.on_socket_register_write = lambda cl, u, s: calls.append("register")
    c.on_socket_unregister_write = lambda cl, u, s: calls.append("unregister")
    c.on_subscribe = lambda cl, u, mid, rcs, p: calls.append(f"suback {mid}")
    c.on_connect = lambda *a: calls.append("connect")
    c.connect("127.0.0.1", broker.port)
    assert wait_for(lambda: (c.loop_read(), "connect" in calls)[1], 5)
    rc, mid = c.subscribe("wi/#", 1)
    assert calls[-1] == "register" and c.want_write()
    assert c.loop_write() == mqtt.MQTT_ERR_SUCCESS
    assert calls[-2:] == [f"suback {mid}", "unregister"] and not c.want_write()
    c.disconnect()
    assert wait_for(lambda: (c.loop_read(), c.socket() is None)[1], 5)


def test_aiomqtt_style(broker: Broker) -> None:
    """What aiomqtt 2.x does with paho: connect() in an executor thread (the socket callbacks
    come from it and use call_soon_threadsafe), reconnect_on_failure=False, futures keyed by
    mid, enable_logger, and a broker that dies under it."""
    async def main() -> List[str]:
        loop = asyncio.get_running_loop()
        out: List[str] = []
        connected: "asyncio.Future[Any]" = loop.create_future()
        disconnected: "asyncio.Future[Any]" = loop.create_future()
        pending: dict = {}
        queue: "asyncio.Queue[Any]" = asyncio.Queue()
        misc: List[Optional[asyncio.Task]] = [None]
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="aio-style",
                        protocol=mqtt.MQTTv311, clean_session=True, transport="tcp", reconnect_on_failure=False)
        c.enable_logger()
        assert c._client_id.decode() == "aio-style"  # aiomqtt's `identifier`

        def on_connect(client, userdata, flags, rc, props):
            assert threading.current_thread() is threading.main_thread()
            if not connected.done():
                connected.set_result(rc)

        def on_disconnect(client, userdata, flags, rc, props):
            if not disconnected.done():
                disconnected.set_result(rc)

        def on_subscribe(client, userdata, mid, rcs, props):
            pending.pop(mid).set_result(rcs)

        def on_publish(client, userdata, mid, rc, props):
            fut = pending.pop(mid, None)
            if fut is not None:
                fut.set_result(rc)

        def on_socket_open(client, userdata, sock):
            out.append(f"open on the loop thread: {threading.current_thread() is threading.main_thread()}")

            def reader() -> None:
                client.loop_read()

            loop.call_soon_threadsafe(loop.add_reader, sock.fileno(), reader)
            loop.call_soon_threadsafe(lambda: misc.__setitem__(0, loop.create_task(misc_loop())))

        def on_socket_close(client, userdata, sock):
            out.append("close")
            if sock.fileno() > -1:
                loop.remove_reader(sock.fileno())

        def on_socket_register_write(client, userdata, sock):
            loop.call_soon_threadsafe(loop.add_writer, sock.fileno(), client.loop_write)

        def on_socket_unregister_write(client, userdata, sock):
            loop.remove_writer(sock.fileno())

        async def misc_loop() -> None:
            while c.loop_misc() == mqtt.MQTT_ERR_SUCCESS:
                await asyncio.sleep(0.2)
            out.append("misc ended")

        c.on_connect, c.on_disconnect, c.on_subscribe, c.on_publish = on_connect, on_disconnect, on_subscribe, on_publish
        c.on_message = lambda cl, u, m: queue.put_nowait(m)
        c.on_socket_open, c.on_socket_close = on_socket_open, on_socket_close
        c.on_socket_register_write, c.on_socket_unregister_write = on_socket_register_write, on_socket_unregister_write

        await loop.run_in_executor(None, c.connect, "127.0.0.1", broker.port, 60)
        assert (await asyncio.wait_for(connected, 10)) == mqtt.CONNACK_ACCEPTED
        rc, mid = c.subscribe("aio/#", 1)
        pending[mid] = loop.create_future()
        assert [int(r) for r in await asyncio.wait_for(pending[mid], 10)] == [1]
        info = c.publish("aio/a", b"one", qos=1)
        if not info.is_published():
            pending[info.mid] = loop.create_future()
            await asyncio.wait_for(pending[info.mid], 10)
        msg = await asyncio.wait_for(queue.get(), 10)
        out.append(f"message {msg.topic} {msg.payload!r}")
        broker.kill()  # the last broker dies: on_disconnect with an error, the socket closes
        rc = await asyncio.wait_for(disconnected, 10)
        out.append(f"lost: failure={rc.is_failure} rc!=0={rc != mqtt.MQTT_ERR_SUCCESS}")
        for _ in range(100):
            if "close" in out and "misc ended" in out:
                break
            await asyncio.sleep(0.05)
        return out

    out = asyncio.run(main())
    assert out[0] == "open on the loop thread: False"
    assert "message aio/a b'one'" in out
    assert "lost: failure=True rc!=0=True" in out
    assert "close" in out and "misc ended" in out, out


def test_socket_survives_a_total_outage(broker: Broker) -> None:
    """The engine reconnects by itself: after every broker was lost the socket stays open,
    on_disconnect (connection lost) and then on_connect come through loop_read()."""
    import select

    events: List[str] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs(), ha_options={"probe_delay": 0.2, "max_probe_delay": 0.5})
    c.on_connect = lambda *a: events.append("connect")
    c.on_disconnect = lambda cl, u, f, rc, p: events.append(f"disconnect failure={rc.is_failure}")
    c.on_socket_close = lambda *a: events.append("socket closed")
    c.connect("127.0.0.1", broker.port)
    sock = c.socket()

    def pump_until(cond) -> bool:
        for _ in range(300):
            if cond():
                return True
            r, _, _ = select.select([sock], [], [], 0.05)
            if r:
                assert c.loop_read() == mqtt.MQTT_ERR_SUCCESS
            assert c.loop_misc() == mqtt.MQTT_ERR_SUCCESS
        return cond()

    assert pump_until(lambda: events == ["connect"])
    broker.kill()
    assert pump_until(lambda: events == ["connect", "disconnect failure=True"])
    broker.start()
    assert pump_until(lambda: events[-1:] == ["connect"]), events
    assert c.socket() is sock and sock.fileno() >= 0 and "socket closed" not in events
    c.disconnect()
    assert events[-2:] == ["disconnect failure=False", "socket closed"]
