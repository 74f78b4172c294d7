"""Callbacks resolve as in paho-mqtt: whatever ``client.on_<name>`` is when the event comes.

Every style a paho program uses is exercised with both callback API versions: the property
(``client.on_connect = f``), the decorators (``@client.connect_callback()``), methods of a
subclass (paho's examples/client_sub-class.py) and an instance attribute that overrides such a
method; topic callbacks (``message_callback_add``, ``@client.topic_callback``); and on_log, with
paho's levels and wording, including the engine's lines when on_log is a subclass method.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Dict, List, Tuple

import pytest

import hamqtt.client as mqtt
from brokers import Broker, free_port, wait_for
from conftest import have_paho, run_example

Rec = List[Tuple[str, Tuple[Any, ...]]]


def _callbacks(version: int, rec: Rec) -> Dict[str, Callable[..., Any]]:
    """Callbacks with exactly paho's signatures (plus a leading ``owner``, the subclass's self
    or None), so that a wrong argument count raises in the callback."""

    def note(name: str, *args: Any) -> None:
        rec.append((name, args))

    def on_pre_connect(owner, client, userdata):
        note("on_pre_connect")

    def on_connect_fail(owner, client, userdata):
        note("on_connect_fail")

    def on_message(owner, client, userdata, msg):
        note("on_message", msg.topic, msg.payload)
        client.unsubscribe("cbs/#")

    def on_log(owner, client, userdata, level, buf):
        note("on_log", level, buf)

    def on_socket_open(owner, client, userdata, sock):
        note("on_socket_open", sock.fileno() >= 0)

    def on_socket_close(owner, client, userdata, sock):
        note("on_socket_close")

    def on_socket_register_write(owner, client, userdata, sock):
        note("on_socket_register_write")

    def on_socket_unregister_write(owner, client, userdata, sock):
        note("on_socket_unregister_write")

    common = dict(on_pre_connect=on_pre_connect, on_connect_fail=on_connect_fail, on_message=on_message,
                  on_log=on_log, on_socket_open=on_socket_open, on_socket_close=on_socket_close,
                  on_socket_register_write=on_socket_register_write,
                  on_socket_unregister_write=on_socket_unregister_write)
    if version == 2:
        def on_connect(owner, client, userdata, flags, reason_code, properties):
            note("on_connect", flags.session_present, str(reason_code))

        def on_subscribe(owner, client, userdata, mid, reason_code_list, properties):
            note("on_subscribe", mid, [int(r) for r in reason_code_list])
            client.publish("cbs/a", "hello", qos=1)

        def on_publish(owner, client, userdata, mid, reason_code, properties):
            note("on_publish", mid, str(reason_code))

        def on_unsubscribe(owner, client, userdata, mid, reason_code_list, properties):
            note("on_unsubscribe", mid)
            client.disconnect()

        def on_disconnect(owner, client, userdata, flags, reason_code, properties):
            note("on_disconnect", str(reason_code))
    else:
        def on_connect(owner, client, userdata, flags, rc):  # type: ignore[misc]
            note("on_connect", flags["session present"], rc)

        def on_subscribe(owner, client, userdata, mid, granted_qos):  # type: ignore[misc]
            note("on_subscribe", mid, list(granted_qos))
            client.publish("cbs/a", "hello", qos=1)

        def on_publish(owner, client, userdata, mid):  # type: ignore[misc]
            note("on_publish", mid)

        def on_unsubscribe(owner, client, userdata, mid):  # type: ignore[misc]
            note("on_unsubscribe", mid)
            client.disconnect()

        def on_disconnect(owner, client, userdata, rc):  # type: ignore[misc]
            note("on_disconnect", rc)
    return dict(common, on_connect=on_connect, on_subscribe=on_subscribe, on_publish=on_publish,
                on_unsubscribe=on_unsubscribe, on_disconnect=on_disconnect)


_DECORATORS = {
    "on_log": "log_callback", "on_pre_connect": "pre_connect_callback", "on_connect": "connect_callback",
    "on_connect_fail": "connect_fail_callback", "on_subscribe": "subscribe_callback",
    "on_message": "message_callback", "on_publish": "publish_callback",
    "on_unsubscribe": "unsubscribe_callback", "on_disconnect": "disconnect_callback",
    "on_socket_open": "socket_open_callback", "on_socket_close": "socket_close_callback",
    "on_socket_register_write": "socket_register_write_callback",
    "on_socket_unregister_write": "socket_unregister_write_callback",
}


def _client(style: str, version: int, rec: Rec) -> mqtt.Client:
    cbs = _callbacks(version, rec)
    api = mqtt.CallbackAPIVersion.VERSION2 if version == 2 else mqtt.CallbackAPIVersion.VERSION1
    if style == "subclass":
        cls = type("MyMQTTClass", (mqtt.Client,), dict(cbs))  # the callbacks are its methods
        c = cls(api, userdata="ud")
    elif style == "instance_over_subclass":
        # A subclass with methods, and the program assigns other callables on the instance:
        # the instance's win, as in paho (a method is not a data descriptor).
        def wrong(self, *a):
            raise AssertionError("the subclass method was called instead of the instance attribute")

        cls = type("Shadowed", (mqtt.Client,), {name: wrong for name in cbs})
        c = cls(api, userdata="ud")
        for name, fn in cbs.items():
            setattr(c, name, functools.partial(fn, None))
    else:
        c = mqtt.Client(api, userdata="ud")
        for name, fn in cbs.items():
            if style == "decorator":
                getattr(c, _DECORATORS[name])()(functools.partial(fn, None))
            else:
                setattr(c, name, functools.partial(fn, None))
    c.suppress_exceptions = False  # a callback called with the wrong arguments fails the test
    return c


def _names(rec: Rec) -> List[str]:
    return [name for name, _ in rec if name != "on_log"]


@pytest.mark.parametrize("version", [2, 1])
@pytest.mark.parametrize("style", ["attribute", "decorator", "subclass", "instance_over_subclass"])
def test_every_callback_style_is_called(broker: Broker, style: str, version: int) -> None:
    rec: Rec = []
    c = _client(style, version, rec)
    assert callable(c.on_connect) and callable(c.on_socket_open)

    # a refused first connection in the loop: on_connect_fail, as paho
    c.connect_async("127.0.0.1", free_port())
    with pytest.raises(ConnectionRefusedError):
        c.loop_forever()
    assert _names(rec) == ["on_pre_connect", "on_connect_fail"]
    del rec[:]

    c.connect("127.0.0.1", broker.port)
    assert c.socket() is not None
    while not any(n == "on_connect" for n in _names(rec)):
        assert c.loop(1) == mqtt.MQTT_ERR_SUCCESS
    c.subscribe("cbs/#", 1)  # on_subscribe waits for the loop: write interest is registered
    rc = mqtt.MQTT_ERR_SUCCESS
    for _ in range(200):
        rc = c.loop(0.1)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            break
    assert rc == mqtt.MQTT_ERR_NO_CONN  # disconnect() in on_unsubscribe ends the loop, as paho
    names = _names(rec)
    assert names[:3] == ["on_pre_connect", "on_socket_open", "on_connect"], names
    assert names[3:5] == ["on_socket_register_write", "on_subscribe"], names
    # the PUBACK and the message are independent: either may come first (in paho too)
    assert sorted(names[5:8]) == ["on_message", "on_publish", "on_unsubscribe"], names
    assert names.index("on_message") < names.index("on_unsubscribe"), names
    assert names[8:] == ["on_disconnect", "on_socket_unregister_write", "on_socket_close"], names
    args = dict((n, a) for n, a in rec if n != "on_log")
    assert args["on_socket_open"] == (True,)
    assert args["on_message"] == ("cbs/a", b"hello")
    if version == 2:
        assert args["on_connect"] == (False, "Success")
        assert args["on_subscribe"] == (1, [1])
        assert args["on_publish"] == (2, "Success")
        assert args["on_disconnect"] == ("Normal disconnection",)
    else:
        assert args["on_connect"] == (0, 0)
        assert args["on_subscribe"] == (1, [1])
        assert args["on_publish"] == (2,)
        assert args["on_disconnect"] == (0,)
    assert args["on_unsubscribe"] == (3,)
    logs = [a for n, a in rec if n == "on_log"]
    lines = [buf for _, buf in logs]
    assert "Received CONNACK (0, 0)" in lines and "Received SUBACK" in lines
    assert "Sending SUBSCRIBE (d0, m1) [(b'cbs/#', 1)]" in lines
    assert "Sending PUBLISH (d0, q1, r0, m2), 'b'cbs/a'', ... (5 bytes)" in lines
    assert "Received PUBACK (Mid: 2)" in lines and "Sending DISCONNECT" in lines
    assert "Received PUBLISH (d0, q1, r0, m0), 'cbs/a', ...  (5 bytes)" in lines
    assert "Sending UNSUBSCRIBE (d0, m3) [b'cbs/#']" in lines and "Received UNSUBACK (Mid: 3)" in lines
    # on_log (as a method too) turns the engine's lines on, without their timestamp
    assert any(buf.startswith("endpoint up cluster=") for buf in lines), lines
    assert {level for level, _ in logs} <= {mqtt.MQTT_LOG_DEBUG, mqtt.MQTT_LOG_INFO, mqtt.MQTT_LOG_NOTICE,
                                           mqtt.MQTT_LOG_WARNING, mqtt.MQTT_LOG_ERR}


def test_callbacks_read_when_the_event_comes(broker: Broker) -> None:
    """paho reads ``self.on_message`` for each message: a callback replaced mid-stream (or a
    subclass whose method is replaced on the instance) takes effect at once."""
    got: List[str] = []

    class Sub(mqtt.Client):
        def on_message(self, client, userdata, msg):
            got.append("method " + msg.payload.decode())
            if msg.payload == b"1":
                self.on_message = lambda cl, u, m: got.append("instance " + m.payload.decode())

    c = Sub(mqtt.CallbackAPIVersion.VERSION2)
    c.connect("127.0.0.1", broker.port)
    c.subscribe("swap/#", 1)
    c.loop_start()
    try:
        for p in ("1", "2"):
            c.publish("swap/t", p, qos=1).wait_for_publish(5)
            assert wait_for(lambda: len(got) == int(p))
        assert got == ["method 1", "instance 2"]
        del c.on_message  # back to the method
        c.publish("swap/t", "3", qos=1).wait_for_publish(5)
        assert wait_for(lambda: len(got) == 3)
        assert got[2] == "method 3"
    finally:
        c.disconnect()
        c.loop_stop()


@pytest.mark.parametrize("version", [2, 1])
def test_topic_callbacks_in_a_subclass(broker: Broker, version: int) -> None:
    got: List[str] = []
    api = mqtt.CallbackAPIVersion.VERSION2 if version == 2 else mqtt.CallbackAPIVersion.VERSION1

    class Sub(mqtt.Client):
        def on_message(self, client, userdata, msg):
            got.append("default " + msg.topic)

    c = Sub(api)
    c.message_callback_add("tc/a/#", lambda cl, u, m: got.append("a " + m.topic))

    @c.topic_callback("tc/b")
    def on_b(client, userdata, msg):
        got.append("b " + msg.topic)

    c.connect("127.0.0.1", broker.port)
    c.subscribe("tc/#", 1)
    c.loop_start()
    try:
        for t in ("tc/a/1", "tc/b", "tc/c"):
            c.publish(t, "x", qos=1).wait_for_publish(5)
        assert wait_for(lambda: len(got) == 3)
        assert sorted(got) == ["a tc/a/1", "b tc/b", "default tc/c"]
        c.message_callback_remove("tc/a/#")
        c.publish("tc/a/2", "x", qos=1).wait_for_publish(5)
        assert wait_for(lambda: len(got) == 4)
        assert got[3] == "default tc/a/2"
    finally:
        c.disconnect()
        c.loop_stop()


def test_on_log_method_turns_engine_lines_on(broker: Broker) -> None:
    """A subclass that defines on_log gets the engine's lines (down to debug) with paho's
    levels, from the loop's thread; one that does not define it gets none of them."""
    lines: List[Tuple[int, str, threading.Thread]] = []

    class Logged(mqtt.Client):
        def on_log(self, client, userdata, level, buf):
            lines.append((level, buf, threading.current_thread()))

    class Quiet(mqtt.Client):
        pass

    for cls in (Logged, Quiet):
        c = cls(mqtt.CallbackAPIVersion.VERSION2)
        c.connect(f"127.0.0.1:{broker.port},127.0.0.1:{free_port()}")  # one broker is down
        c.loop_start()
        try:
            assert wait_for(c.is_connected)
            c.publish("log/t", "x", qos=1).wait_for_publish(5)
            if cls is Logged:
                assert wait_for(lambda: any("connect failed" in b for _, b, _t in lines))
        finally:
            c.disconnect()
            c.loop_stop()
        if cls is Logged:
            n = len(lines)
            bufs = [b for _, b, _t in lines]
            assert any(b.startswith("endpoint up cluster=") for b in bufs), bufs
            assert any(lv == mqtt.MQTT_LOG_INFO and b.startswith("endpoint up") for lv, b, _t in lines)
            assert any(lv == mqtt.MQTT_LOG_DEBUG and "connect failed" in b for lv, b, _t in lines)
            assert not any(b[:4].isdigit() for b in bufs), "engine lines keep no timestamp"
            # from the loop thread, or the caller's thread for what connect()/publish() log
            assert {t.name for _, _, t in lines} <= {threading.current_thread().name, f"hamqtt-client-"}
    assert len(lines) == n  # Quiet added nothing


def test_subclass_example_matches_paho() -> None:
    """tests/examples/sub_class.py (paho's client_sub-class.py driven by loop()) prints the
    same with hamqtt and paho-mqtt, callbacks and the on_log lines both write the same way."""
    outputs = {}
    for lib in (["hamqtt", "paho"] if have_paho() else ["hamqtt"]):
        for version in ("2", "1"):
            b = Broker().start()
            try:
                r = run_example("sub_class.py", "127.0.0.1", str(b.port), version, lib=lib, timeout=30)
            finally:
                b.stop()
            assert r.returncode == 0, f"{lib} v{version}:\n{r.stdout}\n{r.stderr}"
            outputs[(lib, version)] = sorted(r.stdout.splitlines())
    out = outputs[("hamqtt", "2")]
    assert "rc: Success session present: False" in out and out.count("rc: 4") == 1
    assert "log 16: Received PUBACK (Mid: 2)" in out and "Disconnected: Normal disconnection" in out
    assert "rc: 0 flags: {'session present': 0}" in outputs[("hamqtt", "1")]
    if have_paho():
        for version in ("2", "1"):
            assert outputs[("hamqtt", version)] == outputs[("paho", version)], version
