"""The paho-mqtt 2.x surface of hamqtt.client: constants, helpers, arguments, callbacks, loops."""

from __future__ import annotations

import logging
import threading
import time
from typing import List

import pytest

import hamqtt.client as mqtt
from brokers import Broker, free_port, wait_for
from protocol import V5, client_kwargs, mqtt311_only


def v2(**kw) -> mqtt.Client:
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **{**client_kwargs(), **kw})


# -- module surface ---------------------------------------------------------------------------


def test_constants_match_paho_values() -> None:
    assert mqtt.MQTT_ERR_SUCCESS == 0 and mqtt.MQTT_ERR_NO_CONN == 4 and mqtt.MQTT_ERR_QUEUE_SIZE == 15
    assert mqtt.MQTTv311 == 4 and mqtt.MQTTv5 == 5 and mqtt.MQTTv31 == 3
    assert mqtt.MQTT_LOG_DEBUG == 0x10 and mqtt.CONNACK_ACCEPTED == 0
    assert mqtt.CallbackAPIVersion.VERSION2.value == 2
    assert mqtt.error_string(mqtt.MQTT_ERR_NO_CONN) == "The client is not currently connected."
    assert mqtt.error_string(999) == "Unknown error."
    assert mqtt.connack_string(0) == "Connection Accepted."
    assert mqtt.connack_string(5) == "Connection Refused: not authorised."
    rc = mqtt.ReasonCode(mqtt.PacketTypes.CONNACK if hasattr(mqtt, "PacketTypes") else 2, "Not authorized")
    assert rc == 0x87 and rc == "Not authorized" and rc.is_failure


@pytest.mark.parametrize("sub,topic,match", [
    ("foo/#", "foo/bar", True), ("+/bar", "foo/bar", True), ("non/+/+", "non/matching", False),
    ("#", "a/b/c", True), ("a/#", "a", True), ("a/+", "a", False), ("+", "$SYS", False),
    ("#", "$SYS/x", False), ("$SYS/#", "$SYS/x", True), ("a/+/c", "a/b/c", True), ("a/b", "a/b/c", False),
])
def test_topic_matches_sub(sub: str, topic: str, match: bool) -> None:
    assert mqtt.topic_matches_sub(sub, topic) is match
    try:
        import paho.mqtt.client as paho
    except ImportError:
        return
    assert paho.topic_matches_sub(sub, topic) is match


def test_message_info_unpacks_like_a_tuple() -> None:
    info = mqtt.MQTTMessageInfo(7)
    rc, mid = info
    assert (rc, mid) == (0, 7) and info[0] == 0 and info[1] == 7
    with pytest.raises(IndexError):
        info[2]
    info.rc = mqtt.MQTT_ERR_QUEUE_SIZE
    with pytest.raises(ValueError):
        info.wait_for_publish()


# -- arguments --------------------------------------------------------------------------------


@mqtt311_only
def test_constructor_arguments() -> None:
    with pytest.raises(TypeError, match="callback_api_version"):
        mqtt.Client("my-client-id")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="client id must be provided"):
        v2(clean_session=False)
    assert v2(protocol=mqtt.MQTTv5).protocol == mqtt.MQTTv5
    with pytest.raises(ValueError, match="Clean session is not used for MQTT 5.0"):
        v2(protocol=mqtt.MQTTv5, clean_session=False)
    with pytest.raises(NotImplementedError, match="MQTT 3.1"):
        v2(protocol=mqtt.MQTTv31)
    with pytest.raises(NotImplementedError, match="unix"):
        v2(transport="unix")
    with pytest.raises(ValueError, match="transport"):
        v2(transport="carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="manual_ack"):
        v2(manual_ack=True)
    with pytest.raises(TypeError, match="unknown cluster option"):
        v2(ha_options={"publisher": "ALL"})
    with pytest.raises(ValueError, match="publisher_type"):
        v2(ha_options={"publisher_type": "SOMETIMES"})
    with pytest.warns(DeprecationWarning):
        mqtt.Client(mqtt.CallbackAPIVersion.VERSION1)


@mqtt311_only
def test_bad_publish_and_subscribe_arguments(broker: Broker) -> None:
    c = v2()
    c.connect("127.0.0.1", broker.port)
    with pytest.raises(ValueError, match="Invalid topic"):
        c.publish("")
    with pytest.raises(ValueError, match="wildcards"):
        c.publish("a/+/b", "x")
    with pytest.raises(TypeError, match="topic must be a str"):
        c.publish(42, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid QoS"):
        c.publish("a", "x", qos=3)
    with pytest.raises(TypeError, match="qos must be an int"):
        c.publish("a", "x", qos="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="payload must be"):
        c.publish("a", object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid subscription filter"):
        c.subscribe("a/#/b")
    with pytest.raises(ValueError, match="Invalid subscription filter"):
        c.subscribe("a/b+")
    with pytest.raises(ValueError, match="Invalid QoS"):
        c.subscribe("a", 5)
    with pytest.raises(ValueError, match="Empty topic list"):
        c.subscribe([])
    with pytest.raises(TypeError, match="topic must be"):
        c.subscribe(12)  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="properties"):
        c.publish("a", "x", properties=object())  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="subscribe.options=.... on an MQTT 3.1.1 client"):
        c.subscribe("a", options=object())
    with pytest.raises(NotImplementedError, match="connect_srv"):
        c.connect_srv("example.com")
    with pytest.raises(NotImplementedError, match="proxy_set"):
        c.proxy_set(proxy_type=1)
    with pytest.raises(NotImplementedError, match="tls_set_context"):
        c.tls_set_context(None)
    with pytest.raises(TypeError, match="on_socket_open must be callable"):
        c.on_socket_open = 3  # type: ignore[assignment]
    with pytest.raises(TypeError, match="on_message must be callable"):
        c.on_message = 3  # type: ignore[assignment]
    with pytest.raises(ValueError, match="Invalid timeout"):
        c.loop(-1)
    c.disconnect()


def test_connect_errors() -> None:
    c = v2()
    with pytest.raises(ValueError, match="Invalid host"):
        c.connect("")
    with pytest.raises(ValueError, match="Invalid port"):
        c.connect("127.0.0.1", 0)
    with pytest.raises(NotImplementedError, match="bind_address"):
        c.connect("127.0.0.1", 1883, 60, bind_address="127.0.0.1")
    with pytest.raises(ValueError, match="broker URI|ranges|URI"):
        c.connect("tcp://127.0.0.1:1883-x")
    t0 = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        c.connect("127.0.0.1", free_port())
    assert time.monotonic() - t0 < 5, "a refused connection must fail fast, as paho's does"
    assert not c.is_connected()


def test_not_connected_returns_no_conn() -> None:
    c = v2()
    assert c.subscribe("a")[0] == mqtt.MQTT_ERR_NO_CONN
    assert c.unsubscribe("a")[0] == mqtt.MQTT_ERR_NO_CONN
    info = c.publish("a", "x", qos=0)
    assert info.rc == mqtt.MQTT_ERR_NO_CONN
    with pytest.raises(RuntimeError):
        info.wait_for_publish(0.1)
    assert c.loop(0.01) == mqtt.MQTT_ERR_NO_CONN
    assert c.disconnect() == mqtt.MQTT_ERR_NO_CONN


# -- behaviour --------------------------------------------------------------------------------


def test_host_list_and_uri_ranges(brokers3: List[Broker]) -> None:
    ports = sorted(b.port for b in brokers3)
    for host in (",".join(f"127.0.0.1:{p}" for p in ports), ",".join("127.0.0.1" for _ in ports)):
        c = v2()
        if "," in host and ":" not in host:
            continue
        c.connect(host)
        c.loop_start()
        assert wait_for(lambda: len(c.live_endpoints) == 3)
        c.disconnect()
        c.loop_stop()
    if ports == list(range(ports[0], ports[0] + 3)):
        c = v2()
        c.connect(f"tcp://127.0.0.1:{ports[0]}-{ports[2]}")
        c.loop_start()
        assert wait_for(lambda: len(c.live_endpoints) == 3)
        c.disconnect()
        c.loop_stop()


def test_publish_from_on_message_does_not_deadlock(broker: Broker) -> None:
    """on_message publishes (QoS 1, waiting for it inline) and the loop keeps going."""
    echoed: List[bytes] = []
    done = threading.Event()

    def on_message(client, userdata, msg):
        if msg.topic == "ping":
            info = client.publish("pong", msg.payload, qos=1)
            info.wait_for_publish(timeout=10)  # on the loop thread: drains events itself
            assert info.is_published()
        else:
            echoed.append(msg.payload)
            if len(echoed) == 50:
                done.set()

    c = v2()
    c.on_message = on_message
    c.connect("127.0.0.1", broker.port)
    c.subscribe([("ping", 1), ("pong", 1)])
    c.loop_start()
    for i in range(50):
        c.publish("ping", b"%d" % i, qos=1)
    assert done.wait(20), f"only {len(echoed)} echoes"
    assert sorted(echoed, key=int) == [b"%d" % i for i in range(50)]
    c.disconnect()
    c.loop_stop()


def test_exception_in_callback_is_logged_and_loop_goes_on(broker: Broker, caplog) -> None:
    got: List[bytes] = []
    logs: List[str] = []

    def on_message(client, userdata, msg):
        got.append(msg.payload)
        if msg.payload == b"boom":
            raise RuntimeError("callback failure")

    c = v2()
    c.on_message = on_message
    c.on_log = lambda client, userdata, level, buf: logs.append(buf)
    c.connect("127.0.0.1", broker.port)
    c.subscribe("exc/#", 1)
    c.loop_start()
    with caplog.at_level(logging.ERROR, logger="hamqtt.client"):
        for p in (b"one", b"boom", b"two"):
            c.publish("exc/t", p, qos=1).wait_for_publish(5)
        assert wait_for(lambda: len(got) == 3)
    assert got == [b"one", b"boom", b"two"]
    assert any("callback failure" in m for m in logs)
    assert any("on_message" in r.getMessage() for r in caplog.records)
    assert c._thread is not None and c._thread.is_alive()
    c.disconnect()
    c.loop_stop()


@mqtt311_only
def test_loop_on_callers_thread_and_callbacks(broker: Broker) -> None:
    events: List[str] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs(), client_id="loop-thread", userdata="ud")

    @c.connect_callback()
    def on_connect(client, userdata, flags, reason_code, properties):
        assert userdata == "ud" and reason_code == 0 and not reason_code.is_failure
        events.append("connect")
        client.subscribe(("cb/#", 1))

    @c.subscribe_callback()
    def on_subscribe(client, userdata, mid, reason_codes, properties):
        events.append(f"subscribe {[int(r) for r in reason_codes]}")
        client.publish("cb/a", "x", qos=1)

    @c.publish_callback()
    def on_publish(client, userdata, mid, reason_code, properties):
        events.append("publish")

    @c.topic_callback("cb/a")
    def on_cb_a(client, userdata, msg):
        events.append(f"topic {msg.topic} {msg.payload!r} qos={msg.qos}")
        client.unsubscribe("cb/#")

    @c.unsubscribe_callback()
    def on_unsubscribe(client, userdata, mid, reason_codes, properties):
        events.append("unsubscribe")
        client.disconnect()

    @c.disconnect_callback()
    def on_disconnect(client, userdata, flags, reason_code, properties):
        events.append(f"disconnect {reason_code}")

    assert c.connect("127.0.0.1", broker.port, 30) == mqtt.MQTT_ERR_SUCCESS
    thread = threading.current_thread()
    seen_threads = set()
    c.on_log = lambda *a: seen_threads.add(threading.current_thread())
    while c.loop(0.2) in (mqtt.MQTT_ERR_SUCCESS,) and "disconnect Normal disconnection" not in events:
        pass
    assert events[0] == "connect" and events[1] == "subscribe [1]"
    assert "topic cb/a b'x' qos=1" in events and "publish" in events
    assert "unsubscribe" in events and events[-1] == "disconnect Normal disconnection"
    assert seen_threads <= {thread}
    assert not c.is_connected()


def test_will_username_and_reconnect_delay(broker: Broker) -> None:
    wills: List[bytes] = []
    watcher = v2()
    watcher.on_message = lambda cl, u, m: wills.append(m.payload)
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe("will/#", 1)
    watcher.loop_start()

    c = v2(client_id="with-will")
    c.will_set("will/gone", "bye", qos=1)
    c.username_pw_set("user", "secret")
    c.reconnect_delay_set(1, 5)
    with pytest.raises(ValueError):
        c.reconnect_delay_set(5, 1)
    c.user_data_set({"k": 1})
    assert c.user_data_get() == {"k": 1}
    c.enable_logger()
    c.connect("127.0.0.1", broker.port, keepalive=5)
    assert c.will_topic == "will/gone" and c.will_payload == b"bye"
    # Closing the engine abruptly (no DISCONNECT) is what a crash looks like to the broker:
    # here the clean disconnect must NOT fire the will.
    c.disconnect()
    time.sleep(0.3)
    assert wills == []
    watcher.disconnect()
    watcher.loop_stop()


def test_tls_settings_are_checked() -> None:
    import ssl

    c = v2()
    with pytest.raises(ValueError, match="configure SSL"):
        c.tls_insecure_set(True)
    with pytest.raises(NotImplementedError, match="ciphers"):
        c.tls_set(ciphers="HIGH")
    with pytest.raises(NotImplementedError, match="tls_version"):
        c.tls_set(tls_version=ssl.PROTOCOL_TLSv1_2 if hasattr(ssl, "PROTOCOL_TLSv1_2") else 99)
    c.tls_set(cert_reqs=ssl.CERT_NONE)
    with pytest.raises(ValueError, match="already"):
        c.tls_set()
    c.tls_insecure_set(True)
    assert c._endpoints.__call__ is not None


def test_external_loop_with_event_descriptor(broker: Broker) -> None:
    import select

    got: List[bytes] = []
    c = v2()
    c.on_message = lambda cl, u, m: got.append(m.payload)
    c.connect("127.0.0.1", broker.port)
    c.subscribe("ext/#")
    sock = c.socket()
    assert sock is not None and sock.fileno() >= 0
    assert c.want_write() is False
    c.publish("ext/a", "1")
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.5)
        if r:
            c.loop_read()
        c.loop_misc()
    assert got == [b"1"]
    c.disconnect()


def test_websockets_transport() -> None:
    ws_port = free_port()
    b = Broker(extra_config=f"listener {ws_port} 127.0.0.1\nprotocol websockets\n").start()
    try:
        from brokers import port_open

        assert wait_for(lambda: port_open(ws_port))
        got: List[bytes] = []
        c = v2(transport="websockets")
        c.ws_set_options(path="/mqtt")
        with pytest.raises(NotImplementedError, match="headers"):
            c.ws_set_options(headers={"X": "1"})
        c.on_message = lambda cl, u, m: got.append(m.payload)
        c.connect("127.0.0.1", ws_port)
        c.subscribe("ws/#", 1)
        c.loop_start()
        c.publish("ws/a", "over websockets", qos=1).wait_for_publish(5)
        assert wait_for(lambda: got == [b"over websockets"])
        c.disconnect()
        c.loop_stop()
    finally:
        b.stop()


def test_connect_async_retries_until_the_broker_is_up() -> None:
    b = Broker()  # configured, not started yet
    try:
        fails: List[int] = []
        connected = threading.Event()
        c = v2()
        c.reconnect_delay_set(0.2, 0.5)
        c.on_connect_fail = lambda cl, u: fails.append(1)
        c.on_connect = lambda cl, u, f, rc, p: connected.set()
        c.connect_async("127.0.0.1", b.port)
        c.loop_start()
        assert wait_for(lambda: len(fails) >= 1)
        b.start()
        assert connected.wait(15)
        assert c.is_connected()
        c.disconnect()
        c.loop_stop()
    finally:
        b.stop()


def test_connection_lost_and_back(broker: Broker) -> None:
    events: List[str] = []
    c = v2(ha_options={"probe_delay": 0.2, "max_probe_delay": 0.5})
    c.on_connect = lambda cl, u, f, rc, p: events.append("connect")
    c.on_disconnect = lambda cl, u, f, rc, p: events.append(f"disconnect {rc}")
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    assert wait_for(lambda: events == ["connect"])
    broker.kill()
    assert wait_for(lambda: events == ["connect", "disconnect Unspecified error"])
    assert not c.is_connected()
    broker.start()
    assert wait_for(lambda: events[-1] == "connect", 15)
    c.disconnect()
    c.loop_stop()
    assert events[-1] == "disconnect Normal disconnection"


def test_loop_forever_returns_on_loss_without_reconnect_on_failure(broker: Broker) -> None:
    events: List[str] = []
    c = v2(reconnect_on_failure=False)
    c.on_connect = lambda cl, u, f, rc, p: (events.append("connect"), broker.kill())
    c.on_disconnect = lambda cl, u, f, rc, p: events.append("disconnect")
    c.connect("127.0.0.1", broker.port)
    t0 = time.monotonic()
    c.loop_forever(timeout=0.2)
    assert events == ["connect", "disconnect"]
    assert time.monotonic() - t0 < 15


def test_keepalive_zero_turns_keep_alive_off(broker: Broker) -> None:
    # paho-mqtt's keepalive=0 means no keep-alive; Mosquitto logs what the client asked for.
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs(), client_id="py-ka-off")
    c.connect("127.0.0.1", broker.port, keepalive=0)
    c.loop_start()
    try:
        assert wait_for(lambda: f"as py-ka-off (p{5 if V5 else 2}, c1, k0)" in broker.log())
    finally:
        c.disconnect()
        c.loop_stop()


def test_on_subscribe_reports_the_qos_the_broker_granted() -> None:
    # Mosquitto's max_qos caps what it grants: paho-mqtt reports the granted QoS, so do we.
    b = Broker(extra_config="max_qos 1\n").start()
    try:
        got: List[int] = []
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs())
        c.on_subscribe = lambda cl, u, mid, codes, props: got.extend(rc.value for rc in codes)
        c.connect("127.0.0.1", b.port)
        c.loop_start()
        assert wait_for(lambda: c.is_connected())
        c.subscribe([("g/two", 2), ("g/zero", 0)])
        assert wait_for(lambda: len(got) == 2)
        assert got == [1, 0]
        c.disconnect()
        c.loop_stop()
    finally:
        b.stop()
