"""MQTT 5 through hamqtt.client, side by side with paho-mqtt 2.x on real Mosquitto brokers.

Each scenario is one piece of code written for paho-mqtt's API; it runs once with
``paho.mqtt.client`` and once with ``hamqtt.client`` (the import swapped, as a program migrates),
each against its own fresh broker, and both must record the same callbacks, reason codes and
properties. Messages also cross between the two libraries (hamqtt publishes, paho receives and
the other way round).
"""

from __future__ import annotations

import os
import tempfile
import threading
from types import SimpleNamespace
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

from brokers import Broker

paho_mqtt = pytest.importorskip("paho.mqtt")
if not getattr(paho_mqtt, "__version__", "0").startswith("2."):
    pytest.skip("the side-by-side tests need paho-mqtt 2.x", allow_module_level=True)


def _lib(name: str) -> SimpleNamespace:
    if name == "paho":
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        from paho.mqtt.subscribeoptions import SubscribeOptions
    else:
        import hamqtt.client as mqtt  # type: ignore[no-redef]
        from hamqtt.packettypes import PacketTypes  # type: ignore[no-redef]
        from hamqtt.properties import Properties  # type: ignore[no-redef]
        from hamqtt.subscribeoptions import SubscribeOptions  # type: ignore[no-redef]
    return SimpleNamespace(name=name, mqtt=mqtt, PacketTypes=PacketTypes, Properties=Properties,
                           SubscribeOptions=SubscribeOptions)


PAHO = _lib("paho")
HAMQTT = _lib("hamqtt")


def _props(props: Any) -> Any:
    """Properties as a comparable dict (None stays None); the expiry a broker forwards is what
    is left of it, so it is kept as "within the last 10 s"."""
    if props is None:
        return None
    d = props.json()
    if "MessageExpiryInterval" in d:
        d["MessageExpiryInterval"] = d["MessageExpiryInterval"] > 3590
    return d


class Peer:
    """A VERSION2 MQTT 5 client of either library that records what its callbacks saw."""

    def __init__(self, lib: SimpleNamespace, port: int, client_id: str = "", connect_props: Any = None,
                 clean_start: Any = None, connect: bool = True) -> None:
        mqtt = lib.mqtt
        self.lib = lib
        self.cond = threading.Condition()
        self.events: List[Tuple[Any, ...]] = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.c.on_connect = lambda c, u, flags, rc, props: self._add(
            ("connect", flags.session_present, str(rc), props))
        self.c.on_subscribe = lambda c, u, mid, rcs, props: self._add(("subscribe", mid, [r.value for r in rcs]))
        self.c.on_unsubscribe = lambda c, u, mid, rcs, props: self._add(("unsubscribe", mid, [str(r) for r in rcs]))
        self.c.on_publish = lambda c, u, mid, rc, props: self._add(("publish", mid, rc.value, str(rc)))
        self.c.on_message = lambda c, u, m: self._add(("message", m.topic, m.payload, m.retain, _props(m.properties)))
        self.c.on_disconnect = lambda c, u, flags, rc, props: self._add(("disconnect", str(rc)))
        if connect:
            self.connect(port, connect_props, clean_start)

    def connect(self, port: int, connect_props: Any = None, clean_start: Any = None) -> None:
        kw: Dict[str, Any] = {"properties": connect_props}
        if clean_start is not None:
            kw["clean_start"] = clean_start
        self.c.connect("127.0.0.1", port, 30, **kw)
        self.c.loop_start()
        self.wait(lambda: self.of("connect"))

    def _add(self, ev: Tuple[Any, ...]) -> None:
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def of(self, kind: str) -> List[Tuple[Any, ...]]:
        with self.cond:
            return [e for e in self.events if e[0] == kind]

    def wait(self, pred: Callable[[], Any], timeout: float = 15) -> Any:
        with self.cond:
            ok = self.cond.wait_for(pred, timeout)
        assert ok, f"{self.lib.name}: timed out; events: {self.events}"
        return ok

    def subscribe(self, *args: Any, **kw: Any) -> List[int]:
        rc, mid = self.c.subscribe(*args, **kw)
        assert rc == 0, rc
        ev = self.wait(lambda: [e for e in self.events if e[0] == "subscribe" and e[1] == mid])
        return ev[0][2]

    def publish(self, topic: str, payload: Any, qos: int = 1, retain: bool = False, properties: Any = None) -> Any:
        info = self.c.publish(topic, payload, qos, retain, properties=properties)
        self.wait(lambda: [e for e in self.events if e[0] == "publish" and e[1] == info.mid])
        return info

    def messages(self, n: int) -> List[Tuple[Any, ...]]:
        self.wait(lambda: len([e for e in self.events if e[0] == "message"]) >= n)
        return self.of("message")

    def close(self) -> None:
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker().start()
    yield b
    b.stop()


def _full_props(lib: SimpleNamespace) -> Any:
    p = lib.Properties(lib.PacketTypes.PUBLISH)
    p.PayloadFormatIndicator = 1
    p.MessageExpiryInterval = 3600
    p.ContentType = "text/plain; charset=utf-8"
    p.ResponseTopic = "rt/replies"
    p.CorrelationData = b"\x00\x01corr"
    p.UserProperty = [("k", "v"), ("k", "v2"), ("ünï", "çødé")]
    return p


@pytest.mark.parametrize("pub,sub", [("hamqtt", "hamqtt"), ("hamqtt", "paho"), ("paho", "hamqtt"), ("paho", "paho")])
def test_properties_round_trip(broker: Broker, pub: str, sub: str) -> None:
    """Every PUBLISH property arrives as it was sent, whichever library sends and receives; a
    message without properties has an empty Properties, as paho gives it; a Topic Alias the
    program gives is left to the engine."""
    P, S = _lib(pub), _lib(sub)
    s = Peer(S, broker.port)
    p = Peer(P, broker.port)
    try:
        sp = S.Properties(S.PacketTypes.SUBSCRIBE)
        sp.SubscriptionIdentifier = 5
        assert s.subscribe("rt/#", qos=1, properties=sp) == [1]
        p.publish("rt/full", "payload", 1, properties=_full_props(P))
        p.publish("rt/none", b"", 0)
        if pub == "hamqtt":
            alias = P.Properties(P.PacketTypes.PUBLISH)
            alias.TopicAlias = 3
            p.publish("rt/alias", "a", 1, properties=alias)
        got = s.messages(3 if pub == "hamqtt" else 2)
        assert got[0] == ("message", "rt/full", b"payload", False, {
            "PayloadFormatIndicator": 1, "MessageExpiryInterval": True, "ContentType": "text/plain; charset=utf-8",
            "ResponseTopic": "rt/replies", "CorrelationData": "0001636f7272",
            "UserProperty": [("k", "v"), ("k", "v2"), ("ünï", "çødé")], "SubscriptionIdentifier": [5]}), got
        assert got[1] == ("message", "rt/none", b"", False, {"SubscriptionIdentifier": [5]}), got
        if pub == "hamqtt":
            assert got[2] == ("message", "rt/alias", b"a", False, {"SubscriptionIdentifier": [5]}), got
        assert [e[2:] for e in p.of("publish")] == [(0, "Success")] * len(p.of("publish"))
    finally:
        p.close()
        s.close()


def _subscription_options(lib: SimpleNamespace, port: int) -> List[Tuple[Any, ...]]:
    """No Local, Retain Handling, Retain As Published and subscription identifiers, as a
    program written for paho-mqtt uses them."""
    SO = lib.SubscribeOptions
    me = Peer(lib, port, client_id="so-me")
    other = Peer(lib, port, client_id="so-other")
    try:
        other.publish("so/b/r", "retained b", 1, retain=True)
        other.publish("so/c/r", "retained c", 1, retain=True)
        # No Local: my own publications on so/a/# do not come back to me.
        me.subscribe("so/a/#", options=SO(qos=1, noLocal=True))
        # Retain handling 0 with a subscription identifier, then 1 for the same filter (not
        # new: no retained message again), then 2 (never).
        sid = lib.Properties(lib.PacketTypes.SUBSCRIBE)
        sid.SubscriptionIdentifier = 11
        me.subscribe(("so/b/#", SO(qos=1, retainHandling=SO.RETAIN_SEND_ON_SUBSCRIBE)), properties=sid)
        me.wait(lambda: me.of("message"))
        me.subscribe([("so/b/#", SO(qos=1, retainHandling=SO.RETAIN_SEND_IF_NEW_SUB)),
                      ("so/c/#", SO(qos=1, retainHandling=SO.RETAIN_DO_NOT_SEND))])
        # Retain As Published keeps the retain flag of a live message; without it, it is 0.
        me.subscribe([("so/d/#", SO(qos=1, retainAsPublished=True)), ("so/e/#", 1)])
        me.publish("so/a/mine", "mine", 1)
        other.publish("so/a/theirs", "theirs", 1)
        other.publish("so/c/live", "live c", 1)
        other.publish("so/d/x", "kept flag", 1, retain=True)
        other.publish("so/e/x", "cleared flag", 1, retain=True)
        me.messages(5)
        other.publish("so/e/end", "end", 1)
        msgs = me.messages(6)
        return [e[1:] for e in msgs] + [e[2:] for e in me.of("subscribe")]
    finally:
        me.close()
        other.close()
        # What the clients retained stays on this broker: the next scenario has its own.


def test_subscription_options_side_by_side() -> None:
    out = {}
    for lib in (PAHO, HAMQTT):
        b = Broker().start()
        try:
            out[lib.name] = _subscription_options(lib, b.port)
        finally:
            b.stop()
    assert out["hamqtt"] == out["paho"]
    received = {m[0]: m for m in out["hamqtt"] if isinstance(m[0], str)}
    assert set(received) == {"so/b/r", "so/a/theirs", "so/c/live", "so/d/x", "so/e/x", "so/e/end"}
    assert received["so/b/r"][2:] == (True, {"SubscriptionIdentifier": [11]})
    assert received["so/d/x"][2] is True and received["so/e/x"][2] is False


def _acl_broker() -> Broker:
    d = tempfile.mkdtemp(prefix="hamqtt-acl-")
    os.chmod(d, 0o755)  # a broker started as root reads it as its own user
    acl = os.path.join(d, "acl")
    with open(acl, "w", encoding="utf-8") as f:
        f.write("topic readwrite #\ntopic deny denied/#\n")
    os.chmod(acl, 0o644)
    return Broker(extra_config=f"acl_file {acl}\n").start()


def test_refused_publish_side_by_side() -> None:
    """A broker that refuses a QoS 1 message (ACL): on_publish gets "Not authorized" (0x87)
    in both libraries, the next message goes through the same broker."""
    out: Dict[str, Any] = {}
    infos: Dict[str, Any] = {}
    for lib in (PAHO, HAMQTT):
        b = _acl_broker()
        p = Peer(lib, b.port)
        try:
            p.subscribe("ok/#", qos=1)
            refused = p.publish("denied/x", "no", 1)
            p.publish("ok/x", "yes", 1)
            p.messages(1)
            out[lib.name] = [e[2:] for e in p.of("publish")] + [e[1:3] for e in p.of("message")]
            infos[lib.name] = refused
            if lib is HAMQTT:
                # QoS 2: the refusal comes in the PUBREC (paho-mqtt ignores it and reports the
                # PUBCOMP's "Success"; hamqtt reports it, as MQTT.js does).
                q2 = p.publish("denied/q2", "no", 2)
                assert p.of("publish")[-1][2:] == (0x87, "Not authorized")
                assert q2.reason_code == 0x87 and q2.rc == HAMQTT.mqtt.MQTT_ERR_ACL_DENIED
        finally:
            p.close()
            b.stop()
    assert out["hamqtt"] == out["paho"] == [(0x87, "Not authorized"), (0, "Success"), ("ok/x", b"yes")]
    # hamqtt's message info tells the refusal apart (paho counts the message as published).
    info = infos["hamqtt"]
    assert info.rc == HAMQTT.mqtt.MQTT_ERR_ACL_DENIED
    assert info.reason_code == 0x87 and str(info.reason_code) == "Not authorized"
    with pytest.raises(RuntimeError, match="ACL"):
        info.wait_for_publish(1)


def test_no_matching_subscribers_side_by_side(broker: Broker) -> None:
    """A QoS 1 publish nobody subscribed to: the broker's PUBACK says "No matching subscribers"
    (0x10), a success, and on_publish gets that code in both libraries; with a subscriber,
    "Success"."""
    out: Dict[str, Any] = {}
    for lib in (PAHO, HAMQTT):
        p = Peer(lib, broker.port)
        try:
            info = p.publish(f"nobody/{lib.name}", "x", 1)
            p.subscribe(f"somebody/{lib.name}", qos=1)
            p.publish(f"somebody/{lib.name}", "y", 1)
            out[lib.name] = [e[2:] for e in p.of("publish")] + [info.is_published()]
        finally:
            p.close()
    assert out["hamqtt"] == out["paho"] == [(0x10, "No matching subscribers"), (0, "Success"), True]


def _connack(lib: SimpleNamespace, port: int) -> List[Any]:
    """on_connect's flags, reason code and CONNACK properties, an assigned client id, and a
    session kept by SessionExpiryInterval across a clean_start=False connection."""
    mqtt = lib.mqtt
    anon = Peer(lib, port)
    anon.close()
    (_, sp, rc, props), = anon.of("connect")
    d = props.json()
    assigned = d.pop("AssignedClientIdentifier", None)
    cp = lib.Properties(lib.PacketTypes.CONNECT)
    cp.SessionExpiryInterval = 60
    cp.ReceiveMaximum = 100
    cp.UserProperty = ("app", "test")
    first = Peer(lib, port, client_id="keep-me", connect_props=cp, clean_start=True)
    first.subscribe("keep/#", qos=1)
    first.close()
    second = Peer(lib, port, client_id="keep-me", connect_props=cp, clean_start=False)
    second.close()
    third = Peer(lib, port, client_id="keep-me", clean_start=mqtt.MQTT_CLEAN_START_FIRST_ONLY)
    third.close()
    return [sp, rc, d, isinstance(assigned, str) and len(assigned) > 0,
            first.of("connect")[0][1:3], second.of("connect")[0][1:3], third.of("connect")[0][1:3],
            second.of("disconnect")]


def test_connack_properties_side_by_side() -> None:
    out = {}
    for lib in (PAHO, HAMQTT):
        b = Broker().start()
        try:
            out[lib.name] = _connack(lib, b.port)
        finally:
            b.stop()
    assert out["hamqtt"] == out["paho"]
    assert out["hamqtt"][3] is True  # AssignedClientIdentifier with client_id=""
    assert out["hamqtt"][5] == (True, "Success")  # the session was kept and resumed
    assert out["hamqtt"][7] == [("disconnect", "Normal disconnection")]


def test_assigned_client_identifier_is_the_engines_id(broker: Broker) -> None:
    """Brokers assign nothing: the engine's generated id is reported, and a reply topic built
    from it reaches the client."""
    p = Peer(HAMQTT, broker.port)
    try:
        props = p.of("connect")[0][3]
        cid = props.AssignedClientIdentifier
        assert cid.startswith("hamqtt-")
        p.subscribe(f"reply/{cid}", qos=1)
        p.publish(f"reply/{cid}", "back", 1)
        assert p.messages(1)[0][1:3] == (f"reply/{cid}", b"back")
    finally:
        p.close()
    named = Peer(HAMQTT, broker.port, client_id="given")
    named.close()
    assert not hasattr(named.of("connect")[0][3], "AssignedClientIdentifier")


def _version1(lib: SimpleNamespace, port: int) -> List[Any]:
    """paho's VERSION1 callbacks of an MQTT 5 client take the MQTT 5 arguments."""
    mqtt = lib.mqtt
    got: List[Any] = []
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id="v1-5", protocol=mqtt.MQTTv5)

    def on_connect(client: Any, userdata: Any, flags: Any, rc: Any, properties: Any) -> None:
        got.append(("connect", flags, str(rc), type(properties).__name__))
        client.subscribe([("v1/a", lib.SubscribeOptions(qos=2)), ("v1/b", 1)])

    def on_subscribe(client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        got.append(("subscribe", [str(r) for r in reason_codes], type(properties).__name__))
        client.unsubscribe("v1/a")

    def on_unsubscribe(client: Any, userdata: Any, mid: int, properties: Any, reason_codes: Any) -> None:
        got.append(("unsubscribe", str(reason_codes), type(properties).__name__))
        client.disconnect()

    def on_disconnect(client: Any, userdata: Any, rc: Any, properties: Any) -> None:
        got.append(("disconnect", rc.value if hasattr(rc, "value") else int(rc), properties))
        done.set()

    c.on_connect, c.on_subscribe, c.on_unsubscribe, c.on_disconnect = on_connect, on_subscribe, on_unsubscribe, on_disconnect
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    assert done.wait(15), got
    c.loop_stop()
    return got


def test_version1_callbacks_side_by_side(broker: Broker) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        out = {lib.name: _version1(lib, broker.port) for lib in (PAHO, HAMQTT)}
    assert out["hamqtt"] == out["paho"]
    assert out["hamqtt"][1] == ("subscribe", ["Granted QoS 2", "Granted QoS 1"], "Properties")


def test_refusals_name_what_is_not_carried(broker: Broker) -> None:
    mqtt = HAMQTT.mqtt
    P, T = HAMQTT.Properties, HAMQTT.PacketTypes
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    with pytest.raises(ValueError, match="Clean session is not used"):
        mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, clean_session=True)
    cp = P(T.CONNECT)
    cp.AuthenticationMethod = "SCRAM"
    with pytest.raises(NotImplementedError, match="AuthenticationMethod"):
        c.connect("127.0.0.1", broker.port, properties=cp)
    with pytest.raises(ValueError, match="Properties"):
        c.connect("127.0.0.1", broker.port, properties=P(T.PUBLISH))
    c.connect("127.0.0.1", broker.port)
    try:
        up = P(T.UNSUBSCRIBE)
        assert c.unsubscribe("x", properties=up)[0] == 0  # accepted without user properties
        with pytest.raises(ValueError, match="Properties"):
            c.unsubscribe("x", properties=P(T.SUBSCRIBE))
        with pytest.raises(ValueError, match="cannot be combined"):
            c.subscribe("x", qos=1, options=HAMQTT.SubscribeOptions(qos=1))
    finally:
        c.disconnect()
    v3 = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    with pytest.raises(NotImplementedError, match="MQTT 5"):
        v3.subscribe("x", options=HAMQTT.SubscribeOptions(qos=1))
    import hamqtt.properties

    assert mqtt.MQTTException is hamqtt.properties.MQTTException


_WILL_PROGRAM = r'''
import sys
import hamqtt.client as mqtt
from hamqtt.packettypes import PacketTypes
from hamqtt.properties import Properties

c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="will-5", protocol=mqtt.MQTTv5)
wp = Properties(PacketTypes.WILLMESSAGE)
wp.WillDelayInterval = 1
wp.ContentType = "text/plain"
wp.UserProperty = ("why", "gone")
wp.MessageExpiryInterval = 3600
c.will_set("will/x", "bye", qos=1, properties=wp)
cp = Properties(PacketTypes.CONNECT)
cp.SessionExpiryInterval = 30
c.on_connect = lambda *a: print("ready", flush=True)
c.connect("127.0.0.1", int(sys.argv[1]), 30, properties=cp)
c.loop_forever()
'''


def test_will_properties_side_by_side(broker: Broker) -> None:
    """The will's properties, Will Delay Interval included, as paho sends them."""
    import subprocess
    import sys
    import time

    out = {}
    for lib in (PAHO, HAMQTT):
        watcher = Peer(PAHO, broker.port)
        try:
            watcher.subscribe("will/#", qos=1)
            src = _WILL_PROGRAM if lib is HAMQTT else (
                _WILL_PROGRAM.replace("import hamqtt.", "import paho.mqtt.").replace("from hamqtt.", "from paho.mqtt."))
            p = subprocess.Popen([sys.executable, "-c", src, str(broker.port)], stdout=subprocess.PIPE, text=True)
            try:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            finally:
                p.kill()
                p.wait(10)
            killed = time.monotonic()
            msg = watcher.messages(1)[0]
            delay = time.monotonic() - killed
            out[lib.name] = msg
            assert delay > 0.5, f"{lib.name}: the will came {delay:.2f} s after the connection died: no Will Delay"
        finally:
            watcher.close()
    assert out["hamqtt"] == out["paho"] == ("message", "will/x", b"bye", False, {
        "ContentType": "text/plain", "MessageExpiryInterval": True, "UserProperty": [("why", "gone")]})


def test_configured_mqtt5_cluster(broker: Broker, tmp_path: Any) -> None:
    """Client(cluster=..., protocol=MQTTv5) on a cluster whose entry says protocolVersion: 5."""
    import hamqtt

    path = tmp_path / "v5.yaml"
    path.write_text(f"defaultCluster: v5c\nclusters:\n  - name: v5c\n    protocolVersion: 5\n"
                    f"    connections:\n      - connection:\n          serverURIs: [\"{broker.uri}\"]\n")
    with hamqtt.HaClusters.initialize(path):
        c = HAMQTT.mqtt.Client(HAMQTT.mqtt.CallbackAPIVersion.VERSION2, cluster="v5c", protocol=HAMQTT.mqtt.MQTTv5)
        got: List[Any] = []
        done = threading.Event()
        c.on_message = lambda cl, u, m: (got.append((m.topic, _props(m.properties))), done.set())
        c.connect()
        c.loop_start()
        try:
            sp = HAMQTT.Properties(HAMQTT.PacketTypes.SUBSCRIBE)
            sp.SubscriptionIdentifier = 9
            c.subscribe("cfg/#", options=HAMQTT.SubscribeOptions(qos=1), properties=sp)
            pp = HAMQTT.Properties(HAMQTT.PacketTypes.PUBLISH)
            pp.ContentType = "text/plain"
            c.publish("cfg/x", "x", 1, properties=pp).wait_for_publish(10)
            assert done.wait(10)
            assert got == [("cfg/x", {"ContentType": "text/plain", "SubscriptionIdentifier": [9]})]
        finally:
            c.disconnect()
            c.loop_stop()
