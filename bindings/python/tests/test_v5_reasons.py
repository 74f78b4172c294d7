"""MQTT 5 reasons and properties both ways, side by side with paho-mqtt 2.x: the client's
DISCONNECT with a reason code and properties, user properties on SUBSCRIBE and UNSUBSCRIBE,
the Maximum Packet Size of CONNECT, and a broker's DISCONNECT reaching on_disconnect.

Each scenario is written once against paho-mqtt's API and run with ``paho.mqtt.client`` and
with ``hamqtt.client``, against real Mosquitto brokers. Mosquitto 2.0 never ends a connection
with a DISCONNECT of its own (not on session takeover, not on shutdown), so the broker's
DISCONNECT comes from a stand-in that answers CONNECT with CONNACK and then sends DISCONNECT
0x89 "Server busy" with a reason string.
"""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace
from typing import Any, Iterator, List, Tuple

import pytest

from brokers import HOST, Broker, wait_for
from test_v5 import HAMQTT, PAHO, Peer

LIBS = [PAHO, HAMQTT]


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker().start()
    yield b
    b.stop()


def _client(lib: SimpleNamespace, client_id: str, api: Any = None) -> Any:
    mqtt = lib.mqtt
    return mqtt.Client(api or mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)


def _connected(c: Any, port: int, props: Any = None) -> threading.Event:
    up = threading.Event()
    c.on_connect = lambda *a: up.set()
    c.connect(HOST, port, 30, properties=props)
    c.loop_start()
    assert up.wait(10), "not connected"
    return up


# -- the client's DISCONNECT ----------------------------------------------------------------


def _disconnect_with_will(lib: SimpleNamespace, port: int) -> List[Tuple[Any, ...]]:
    """A normal DISCONNECT, then one with reason 0x04 and properties: which wills a watcher
    gets, and what on_disconnect said each time."""
    P, T = lib.Properties, lib.PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode as PahoReasonCode

    from hamqtt.reasoncodes import ReasonCode as HamqttReasonCode

    RC = PahoReasonCode if lib is PAHO else HamqttReasonCode
    watcher = Peer(PAHO, port)
    seen: List[Tuple[Any, ...]] = []
    try:
        watcher.subscribe("will/#", qos=1)
        for case in ("normal", "with-will"):
            c = _client(lib, f"dw-{lib.name}-{case}")
            c.will_set(f"will/{case}", case, qos=1)
            down = threading.Event()
            c.on_disconnect = lambda cl, u, flags, rc, props: (
                seen.append((case, flags.is_disconnect_packet_from_server, str(rc))), down.set())
            cp = P(T.CONNECT)
            cp.SessionExpiryInterval = 30
            _connected(c, port, cp)
            if case == "normal":
                assert c.disconnect() == 0
            else:
                dp = P(T.DISCONNECT)
                dp.SessionExpiryInterval = 0  # the session ends with the connection
                dp.ReasonString = "going away, will please"
                dp.UserProperty = [("k", "v"), ("k", "v2")]
                assert c.disconnect(RC(T.DISCONNECT, "Disconnect with will message"), dp) == 0
            assert down.wait(10)
            c.loop_stop()
        # The normal DISCONNECT went in before the second client even connected: had it
        # published a will, that will would come first.
        got = watcher.messages(1)
        seen += [(m[1], m[2]) for m in got]
    finally:
        watcher.close()
    return seen


def test_disconnect_with_will_message_side_by_side(broker: Broker) -> None:
    """Reason 0x04 has the broker publish the will; a normal DISCONNECT does not; both calls
    return as paho's and on_disconnect says the same."""
    out = {lib.name: _disconnect_with_will(lib, broker.port) for lib in LIBS}
    assert out["hamqtt"] == out["paho"]
    assert out["hamqtt"] == [("normal", False, "Normal disconnection"), ("with-will", False, "Normal disconnection"),
                             ("will/with-will", b"with-will")]


def test_disconnect_under_mqtt311_ignores_reason_and_properties(broker: Broker) -> None:
    """As paho: an MQTT 3.1.1 client sends its plain DISCONNECT (no will) whatever it is given."""
    from hamqtt.reasoncodes import ReasonCode

    watcher = Peer(PAHO, broker.port)
    try:
        watcher.subscribe("will311/#", qos=1)
        mqtt = HAMQTT.mqtt
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dw-311")
        c.will_set("will311/x", "gone", qos=1)
        _connected(c, broker.port)
        dp = HAMQTT.Properties(HAMQTT.PacketTypes.DISCONNECT)
        dp.ReasonString = "ignored"
        assert c.disconnect(ReasonCode(HAMQTT.PacketTypes.DISCONNECT, "Disconnect with will message"), dp) == 0
        c.loop_stop()
        # A marker published afterwards arrives alone: no will came before it.
        watcher.publish("will311/marker", "m", 1)
        assert [m[1] for m in watcher.messages(1)] == ["will311/marker"]
    finally:
        watcher.close()


def test_disconnect_refusals(broker: Broker) -> None:
    """What MQTT forbids a client's DISCONNECT. paho sends it and the broker answers with a
    protocol error (it closes the connection and publishes the will); hamqtt raises ValueError
    before anything is sent, and the client stays connected (documented in the README)."""
    watcher = Peer(PAHO, broker.port)
    try:
        watcher.subscribe("willr/#", qos=1)
        P, T = PAHO.Properties, PAHO.PacketTypes
        paho_c = _client(PAHO, "refuse-paho")
        paho_c.will_set("willr/paho", "protocol error", qos=1)
        _connected(paho_c, broker.port)
        dp = P(T.DISCONNECT)
        dp.SessionExpiryInterval = 60  # connected without a session expiry
        assert paho_c.disconnect(properties=dp) == 0
        assert [m[1] for m in watcher.messages(1)] == ["willr/paho"]
        paho_c.loop_stop()

        from hamqtt.reasoncodes import ReasonCode

        P, T = HAMQTT.Properties, HAMQTT.PacketTypes
        c = _client(HAMQTT, "refuse-hamqtt")
        c.will_set("willr/hamqtt", "protocol error", qos=1)
        _connected(c, broker.port)
        dp = P(T.DISCONNECT)
        dp.SessionExpiryInterval = 60
        with pytest.raises(ValueError, match="SessionExpiryInterval"):
            c.disconnect(properties=dp)
        with pytest.raises(ValueError, match="0x89"):
            c.disconnect(ReasonCode(T.DISCONNECT, "Server busy"))
        sr = P(T.DISCONNECT)
        sr.ServerReference = "elsewhere"
        with pytest.raises(ValueError, match="ServerReference"):
            c.disconnect(properties=sr)
        with pytest.raises(ValueError, match="Properties"):
            c.disconnect(properties=P(T.PUBLISH))
        assert c.is_connected()
        # Still connected, and still able to publish.
        assert c.publish("willr/alive", "yes", 1).wait_for_publish(10) is None
        assert [m[1] for m in watcher.messages(2)] == ["willr/paho", "willr/alive"]
        assert c.disconnect() == 0
        c.loop_stop()
    finally:
        watcher.close()


# -- SUBSCRIBE / UNSUBSCRIBE user properties -------------------------------------------------


def _user_properties_on_subscriptions(lib: SimpleNamespace, port: int) -> List[Any]:
    P, T = lib.Properties, lib.PacketTypes
    peer = Peer(lib, port)
    try:
        sp = P(T.SUBSCRIBE)
        sp.UserProperty = [("app", "sensors"), ("app", "second")]
        sp.SubscriptionIdentifier = 7
        granted = peer.subscribe("up/#", qos=1, properties=sp)
        peer.publish("up/x", "x", 1)
        msg = peer.messages(1)[0]
        up = P(T.UNSUBSCRIBE)
        up.UserProperty = ("why", "done")
        rc, mid = peer.c.unsubscribe("up/#", properties=up)
        assert rc == 0
        peer.wait(lambda: [e for e in peer.events if e[0] == "unsubscribe" and e[1] == mid])
        rc, mid2 = peer.c.unsubscribe(["up/#", "never/#"], properties=up)
        peer.wait(lambda: [e for e in peer.events if e[0] == "unsubscribe" and e[1] == mid2])
        return [granted, msg, [e[2] for e in peer.of("unsubscribe")]]
    finally:
        peer.close()


def test_user_properties_on_subscribe_and_unsubscribe_side_by_side(broker: Broker) -> None:
    out = {lib.name: _user_properties_on_subscriptions(lib, broker.port) for lib in LIBS}
    assert out["hamqtt"] == out["paho"]
    assert out["hamqtt"][1] == ("message", "up/x", b"x", False, {"SubscriptionIdentifier": [7]})
    assert out["hamqtt"][2] == [["Success"], ["No subscription found", "No subscription found"]]


# -- Maximum Packet Size -------------------------------------------------------------------------


def _maximum_packet_size(lib: SimpleNamespace, port: int) -> List[Any]:
    P, T = lib.Properties, lib.PacketTypes
    c = _client(lib, f"mps-{lib.name}")
    got: List[Any] = []
    c.on_message = lambda cl, u, m: got.append((m.topic, len(m.payload)))
    cp = P(T.CONNECT)
    cp.MaximumPacketSize = 256
    _connected(c, port, cp)
    try:
        done = threading.Event()
        c.on_subscribe = lambda *a: done.set()
        c.subscribe("mps/#", 1)
        assert done.wait(10)
        pub = Peer(PAHO, port)
        pub.publish("mps/big", b"B" * 1000, 1)
        pub.publish("mps/small", b"s" * 10, 1)
        pub.close()
        # In order from one publisher: once the small one is here, the big one was dropped.
        assert wait_for(lambda: ("mps/small", 10) in got, 10)
        return got
    finally:
        c.disconnect()
        c.loop_stop()


def test_maximum_packet_size_side_by_side(broker: Broker) -> None:
    """The broker does not forward a message larger than the client's Maximum Packet Size."""
    out = {lib.name: _maximum_packet_size(lib, broker.port) for lib in LIBS}
    assert out["hamqtt"] == out["paho"] == [("mps/small", 10)]


def test_maximum_packet_size_out_of_range() -> None:
    """0 is refused by Properties itself, as paho's; below 16 bytes by connect()."""
    cp = HAMQTT.Properties(HAMQTT.PacketTypes.CONNECT)
    with pytest.raises(HAMQTT.mqtt.MQTTException, match="MaximumPacketSize"):
        cp.MaximumPacketSize = 0
    cp.MaximumPacketSize = 15
    with pytest.raises(ValueError, match="MaximumPacketSize"):
        _client(HAMQTT, "mps-bad").connect(HOST, 1883, properties=cp)


# -- a broker's DISCONNECT ----------------------------------------------------------------------


class BusyBroker:
    """A stand-in broker (the one place the tests use one: Mosquitto 2.0 sends no DISCONNECT of
    its own): it answers each CONNECT with a CONNACK, then, once :attr:`release` is set, sends
    DISCONNECT 0x89 "Server busy" with the reason string "busy" and closes. The test sets it
    when connect() returned: hamqtt's connect() waits for a live broker, paho's does not."""

    CONNACK = bytes([0x20, 0x03, 0x00, 0x00, 0x00])
    BYE = bytes([0xE0, 0x09, 0x89, 0x07, 0x1F, 0x00, 0x04]) + b"busy"

    def __init__(self, listen: bool = True) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))  # refuses connections until listen()
        self.port = self.sock.getsockname()[1]
        self.sessions = 0
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        if listen:
            self.listen()

    def listen(self) -> None:
        self.sock.listen(8)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            with conn:
                try:
                    conn.settimeout(5)
                    if conn.recv(512):
                        conn.sendall(self.CONNACK)
                        self.release.wait(10)
                        conn.sendall(self.BYE)
                        self.sessions += 1
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.release.set()
        if self.thread.is_alive():
            self.thread.join(5)


@pytest.fixture
def busy() -> Iterator[BusyBroker]:
    b = BusyBroker()
    yield b
    b.close()


def _broker_disconnect(lib: SimpleNamespace, busy: "BusyBroker", version1: bool) -> Tuple[Any, ...]:
    mqtt = lib.mqtt
    api = mqtt.CallbackAPIVersion.VERSION1 if version1 else mqtt.CallbackAPIVersion.VERSION2
    c = _client(lib, f"busy-{lib.name}", api)
    seen: List[Tuple[Any, ...]] = []
    down = threading.Event()
    if version1:
        c.on_disconnect = lambda cl, u, rc, props: (
            seen.append((type(rc).__name__, str(rc), props.json() if props is not None else None)), down.set())
    else:
        c.on_disconnect = lambda cl, u, flags, rc, props: (
            seen.append((flags.is_disconnect_packet_from_server, str(rc), rc.value, props.json())), down.set())
    c.reconnect_delay_set(5, 5)  # one session is enough
    busy.release.clear()
    c.connect(HOST, busy.port, 30)
    busy.release.set()
    c.loop_start()
    try:
        assert down.wait(10), f"{lib.name}: no on_disconnect"
        return seen[0]
    finally:
        c.loop_stop()


@pytest.mark.parametrize("version1", [False, True], ids=["VERSION2", "VERSION1"])
def test_broker_disconnect_reason_side_by_side(busy: BusyBroker, version1: bool) -> None:
    """on_disconnect gets the broker's reason code and reason string, as paho gives them."""
    out = {lib.name: _broker_disconnect(lib, busy, version1) for lib in LIBS}
    assert out["hamqtt"] == out["paho"]
    if version1:
        assert out["hamqtt"] == ("ReasonCode", "Server busy", {"ReasonString": "busy"})
    else:
        assert out["hamqtt"] == (True, "Server busy", 0x89, {"ReasonString": "busy"})


def test_one_broker_of_several_disconnecting_is_no_disconnect(broker: Broker) -> None:
    """A cluster client stays connected while one broker ends its sessions with a DISCONNECT
    and another stays live: no on_disconnect (the engine fails that broker over and keeps
    probing it)."""
    busy = BusyBroker(listen=False)  # answers once the client is connected to the other broker
    mqtt = HAMQTT.mqtt
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha-busy", protocol=mqtt.MQTTv5,
                    ha_options={"probe_delay": 0.1, "max_probe_delay": 0.2})
    downs: List[Any] = []
    c.on_disconnect = lambda *a: downs.append(a[2:])
    up = threading.Event()
    c.on_connect = lambda *a: up.set()
    c.connect(f"{HOST}:{broker.port},{HOST}:{busy.port}", 1883, 30)
    c.loop_start()
    try:
        assert up.wait(10)
        busy.release.set()
        busy.listen()
        assert wait_for(lambda: busy.sessions >= 3, 15), busy.sessions
        assert downs == [] and c.is_connected()
    finally:
        c.disconnect()
        c.loop_stop()
        busy.close()
