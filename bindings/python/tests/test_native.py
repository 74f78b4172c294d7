"""The native API: hamqtt.HaMqttClient and hamqtt.HaClusters over real brokers."""

from __future__ import annotations

import threading
import time
from typing import Any, List

import pytest

import hamqtt
import hamqtt.client as mqtt
from brokers import Broker
from protocol import ha_kwargs, mqtt311_only


def wait_for(cond, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_publish_subscribe_endpoints_and_stats(brokers3: List[Broker]) -> None:
    ups: List[str] = []
    downs: List[str] = []
    got: List[hamqtt.Message] = []
    other: List[hamqtt.Message] = []
    uris = [b.uri for b in brokers3]
    client = hamqtt.HaMqttClient(uris, **ha_kwargs(), name="native", probe_delay=0.2, max_probe_delay=0.5, warm_up=-1)
    client.on_endpoint_up = ups.append
    client.on_endpoint_down = lambda name, reason: downs.append(name)
    client.on_message = other.append
    with client:
        assert client.name == "native"
        assert wait_for(lambda: len(client.live_endpoints) == 3)
        assert wait_for(lambda: sorted(ups) == ["native-1", "native-2", "native-3"])
        client.subscribe("n/#", 1, callback=got.append)
        client.subscribe("other/#", 0)
        client.publish("n/a", b"one", qos=1)
        client.publish("other/x", "two")
        client.publish("n/b", b"to-2", qos=1, endpoint="native-2")
        fut = client.publish_async("n/c", b"async", qos=1)
        assert fut.result(10)  # the endpoints that took it
        # FoS 0: every subscriber endpoint delivers its copy of a message published once.
        assert wait_for(lambda: len([m for m in got if m.payload == b"to-2"]) == 1)
        assert [m.endpoint for m in got if m.payload == b"to-2"] == ["native-2"]
        assert wait_for(lambda: any(m.payload == b"two" for m in other))
        stats = {s.name: s for s in client.stats()}
        assert set(stats) == {"native-1", "native-2", "native-3"}
        assert all(s.state == "live" and s.subscriber for s in stats.values())
        assert stats["native-2"].published >= 1

        brokers3[0].kill()
        assert wait_for(lambda: "native-1" in client.dead_endpoints)
        assert wait_for(lambda: "native-1" in downs)
        client.publish("n/d", b"after-kill", qos=1)  # fails over
        brokers3[0].start()
        assert wait_for(lambda: "native-1" in client.live_endpoints, 15)

        extra = Broker().start()
        try:
            names = client.add_endpoint(extra.uri, name="extra")
            assert names == ["extra"]
            assert wait_for(lambda: "extra" in client.live_endpoints)
            client.remove_endpoint("extra")
            assert "extra" not in client.live_endpoints + client.dead_endpoints
        finally:
            extra.stop()
        client.unsubscribe("n/#")
        with pytest.raises(hamqtt.NotFoundError):
            client.unsubscribe("never/subscribed")
        with pytest.raises(hamqtt.NotFoundError):
            client.publish("n/x", b"", endpoint="no-such-endpoint")
    with pytest.raises(hamqtt.ClosedError):
        client.connect()


def test_native_bad_arguments() -> None:
    with pytest.raises(TypeError):
        hamqtt.HaMqttClient(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="names no broker"):
        hamqtt.HaMqttClient("")
    with pytest.raises(hamqtt.ConfigError, match="broker URI"):
        hamqtt.HaMqttClient("tcp://127.0.0.1:99999999")
    with pytest.raises(TypeError, match="unknown cluster option"):
        hamqtt.HaMqttClient("127.0.0.1:1883", nonsense=1)
    with pytest.raises(ValueError, match="fos"):
        hamqtt.HaMqttClient("127.0.0.1:1883", fos=7)
    with pytest.raises(TypeError, match="seconds"):
        hamqtt.HaMqttClient("127.0.0.1:1883", time_to_wait="10s")
    c = hamqtt.HaMqttClient("127.0.0.1:1883")
    try:
        with pytest.raises(TypeError, match="topic must be a str"):
            c.publish(b"bytes-topic", b"")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="qos"):
            c.publish("t", b"", qos=3)
        with pytest.raises(TypeError, match="payload"):
            c.publish("t", object())  # type: ignore[arg-type]
        with pytest.raises(hamqtt.StateError, match="not connected"):
            c.publish("t", b"x")
        with pytest.raises(hamqtt.InvalidArgumentError, match="wildcard"):
            c.publish("a/#", b"x")
        with pytest.raises(hamqtt.InvalidArgumentError):
            c.subscribe("a/#/b")
    finally:
        c.close()
    c.close()  # idempotent


YAML = """
defaultCluster: edge
clusters:
  - name: edge
    publisherType: ALL
    connections:
      - connection:
          serverURIs: [{a}, {b}]
  - name: backup
    connections:
      - connection:
          serverURIs: [{c}]
"""


def test_clusters_from_yaml_and_client_binding(brokers3: List[Broker], tmp_path) -> None:
    a, b, c = (x.uri for x in brokers3)
    with pytest.raises(hamqtt.ConfigError, match=r"yaml>:\d+: malformed YAML"):
        hamqtt.HaClusters.initialize(yaml="clusters: [\n  - name: x\n    publisherType: [")
    path = tmp_path / "hamqtt.yaml"
    path.write_text(YAML.format(a=a, b=b, c=c))
    with hamqtt.HaClusters.initialize(path) as clusters:
        assert clusters.cluster_names() == ["edge", "backup"]
        with pytest.raises(hamqtt.StateError):
            hamqtt.HaClusters.initialize(path)
        edge = clusters.get_client("edge")
        assert edge is hamqtt.HaClusters.get_client() and edge.name == "edge"
        with pytest.raises(hamqtt.NotFoundError, match="edge"):
            clusters.get_client("nope")
        edge.connect()
        assert wait_for(lambda: len(edge.live_endpoints) == 2)

        # The paho drop-in bound to a configured cluster.
        got: List[bytes] = []
        done = threading.Event()
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, cluster="backup")
        sub.on_connect = lambda cl, u, f, rc, p: cl.subscribe("cfg/#", 1)
        sub.on_subscribe = lambda cl, u, mid, rcs, p: done.set()
        sub.on_message = lambda cl, u, m: got.append(m.payload)
        sub.connect()
        sub.loop_start()
        assert done.wait(10)
        assert sub.cluster_name == "backup"
        with pytest.raises(NotImplementedError, match="configuration file"):
            sub.username_pw_set("u")
        backup = hamqtt.HaClusters.get_client("backup")
        with pytest.raises(RuntimeError, match="already used"):
            backup.connect()  # the drop-in client above drains this cluster's events
        with pytest.raises(RuntimeError, match="already used"):
            mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, cluster="backup").connect()
        edge.publish("cfg/x", b"via-edge", qos=1)  # edge's brokers: not backup's
        sub.publish("cfg/y", b"via-backup", qos=1).wait_for_publish(5)
        assert wait_for(lambda: b"via-backup" in got)
        assert b"via-edge" not in got
        sub.disconnect()
        sub.loop_stop()
    assert not hamqtt.HaClusters.is_initialized()
    hamqtt.HaClusters.initialize(yaml=YAML.format(a=a, b=b, c=c))
    try:
        assert hamqtt.HaClusters.cluster_names()[0] == "edge"
    finally:
        hamqtt.HaClusters.shutdown()


def test_context_manager_and_delivery_future_on_close(broker: Broker) -> None:
    with hamqtt.HaMqttClient(broker.uri, **ha_kwargs(), client_id="ctx") as c:
        assert c.is_connected
        f = c.publish_async("ctx/a", b"1", qos=1)
        assert f.result(10) == [c.live_endpoints[0]]
    assert not c.is_connected


@mqtt311_only  # shared connections are offered for MQTT 3.1.1 clusters only
def test_clusters_share_one_connection(broker: Broker) -> None:
    # Both clusters use one client id: two connections would take the session from each
    # other (the broker drops the older), so both stay up only if they share one.
    opts = dict(share_connections=True, client_id="py-shared", probe_delay=0.2, max_probe_delay=0.5)
    got = {"sa": [], "sb": []}  # type: dict
    downs: List[str] = []
    a = hamqtt.HaMqttClient([broker.uri], **ha_kwargs(), name="sa", **opts)
    b = hamqtt.HaMqttClient([broker.uri], **ha_kwargs(), name="sb", **opts)
    pub = hamqtt.HaMqttClient([broker.uri], **ha_kwargs(), name="spub")
    for c in (a, b):
        c.on_endpoint_down = lambda name, reason: downs.append(name)
        c.on_message = got[c.name].append
    with a, b, pub:
        a.subscribe("sa/#", 1)
        b.subscribe("sb/#", 1)
        a.subscribe("end", 1)
        b.subscribe("end", 1)
        for _ in range(3):
            pub.publish("sa/x", b"a", qos=1)
            pub.publish("sb/x", b"b", qos=1)
        pub.publish("end", b"", qos=1)
        assert wait_for(lambda: all(any(m.topic == "end" for m in got[n]) for n in got))
        assert [m.topic for m in got["sa"]] == ["sa/x"] * 3 + ["end"]
        assert [m.topic for m in got["sb"]] == ["sb/x"] * 3 + ["end"]
        assert downs == []


def test_publish_detached_and_flush(broker: Broker) -> None:
    got: List[hamqtt.Message] = []
    errors: List[hamqtt.HamqttError] = []
    with hamqtt.HaMqttClient([broker.uri], **ha_kwargs(), name="det", time_to_wait=0.5, ack_timeout=0.2) as c:
        c.on_error = errors.append
        c.subscribe("det/#", 1, callback=got.append)
        for i in range(100):
            c.publish_detached("det/t", str(i).encode(), qos=i % 3)
        c.flush(timeout=10)
        assert wait_for(lambda: len(got) == 100)
        assert sorted(int(m.payload) for m in got) == list(range(100))
        with pytest.raises(ValueError):
            c.publish_detached("det/+", b"")
        # Nothing outstanding: returns at once, even with a zero timeout.
        c.flush(timeout=0)
        # No broker takes it: flush times out first, then the failure reaches on_error.
        broker.kill()
        assert wait_for(lambda: c.live_endpoints == [])
        c.publish_detached("det/lost", b"x", qos=1)
        with pytest.raises(hamqtt.TimedOutError):
            c.flush(timeout=0.05)
        assert wait_for(lambda: any("det/lost" in str(e) for e in errors))
        c.flush(timeout=5)


def test_ack_quorum_is_checked() -> None:
    for bad in (-2, -100):
        with pytest.raises(ValueError, match=f"ack_quorum is {bad}: use -1"):
            hamqtt.HaMqttClient("127.0.0.1:1883", ack_quorum=bad)
        with pytest.raises(ValueError, match="ack_quorum"):
            mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, ha_options={"ack_quorum": bad})
    for bad in ("2", 2.0, True):
        with pytest.raises(TypeError, match="ack_quorum must be an int"):
            hamqtt.ClusterOptions(ack_quorum=bad).to_struct()  # type: ignore[arg-type]
    for good in (None, -1, 0, 1, 2, 5):
        assert hamqtt.ClusterOptions(ack_quorum=good).to_struct().struct.ack_quorum == (good or 0)
    # The library checks it too: a value that got past Python reaches hamqtt_options.ack_quorum.
    from hamqtt import _lib
    from hamqtt._native import NativeClient

    opts = hamqtt.ClusterOptions().to_struct()
    opts.struct.ack_quorum = -5
    with pytest.raises(hamqtt.ConfigError, match="ack_quorum is -5"):
        NativeClient.create("tcp://127.0.0.1:1883", opts.struct)
    assert _lib.Options.ack_quorum.offset > _lib.Options.tls_key_pem.offset


def test_ack_quorum_reaches_the_engine(brokers3: List[Broker]) -> None:
    # Publisher type ALL, two brokers, one frozen (SIGSTOP: its connection stays open, nothing
    # is acknowledged). A quorum of 1 is met by the other broker at once; a quorum of 2 waits
    # for the frozen one until its ack_timeout (then it is dead, and one live broker is enough).
    import signal

    a, b = brokers3[0], brokers3[1]
    uris = f"{a.uri},{b.uri}"
    one = hamqtt.HaMqttClient(uris, **ha_kwargs(), publisher_type="ALL", ack_quorum=1, ack_timeout=1.5, warm_up=-1)
    two = hamqtt.HaMqttClient(uris, **ha_kwargs(), publisher_type="ALL", ack_quorum=2, ack_timeout=1.5, warm_up=-1)
    one.connect()
    two.connect()
    try:
        assert wait_for(lambda: len(one.live_endpoints) == 2 and len(two.live_endpoints) == 2)
        for c in (one, two):
            c.publish("quorum/warm", b"x", qos=1)
        assert b.proc is not None
        b.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            one.publish("quorum/one", b"1", qos=1)
            fast = time.monotonic() - t0
            t0 = time.monotonic()
            two.publish("quorum/two", b"2", qos=1)
            slow = time.monotonic() - t0
        finally:
            b.proc.send_signal(signal.SIGCONT)
        assert fast < 1.0, f"ack_quorum=1 waited {fast:.2f} s"
        assert slow >= 1.2, f"ack_quorum=2 returned after {slow:.2f} s, before the frozen broker's ack timeout"
    finally:
        one.close()
        two.close()


def test_mqtt5_properties_on_publish_and_messages(broker: Broker) -> None:
    """HaMqttClient over MQTT 5 sends a message's properties (as padogrid's
    publish(topic, MqttMessage)) on every publish path, and gives a received message's back;
    a paho-mqtt subscriber sees the same properties."""
    import paho.mqtt.client as paho

    from hamqtt.packettypes import PacketTypes
    from hamqtt.properties import Properties

    seen_by_paho: List[Any] = []
    watcher = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    subscribed = threading.Event()
    watcher.on_subscribe = lambda *a: subscribed.set()
    watcher.on_message = lambda cl, u, m: seen_by_paho.append((m.topic, m.properties.json()))
    watcher.on_connect = lambda cl, u, f, rc, p: cl.subscribe("hp/#", 1)
    watcher.connect("127.0.0.1", broker.port)
    watcher.loop_start()
    got: List[Any] = []
    try:
        assert subscribed.wait(10)
        with hamqtt.HaMqttClient(broker.uri, name="props5", protocol_version=5) as c:
            c.subscribe("hp/#", 1, callback=got.append)
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = "text/plain"
            props.UserProperty = [("k", "v")]
            assert c.publish("hp/sync", "s", 1, properties=props) is True
            assert c.publish_async("hp/async", "a", 1, properties=props).result(10)
            c.publish_detached("hp/detached", "d", 1, properties=props)
            c.flush(10)
            assert c.publish("hp/endpoint", "e", 1, endpoint=c.live_endpoints[0], properties=props) is True
            c.publish("hp/none", "n", 1)
            assert wait_for(lambda: len(got) == 5 and len(seen_by_paho) == 5, 10), (got, seen_by_paho)
        expected = {"ContentType": "text/plain", "UserProperty": [("k", "v")]}
        topics = ["hp/sync", "hp/async", "hp/detached", "hp/endpoint", "hp/none"]
        want = sorted((t, {} if t == "hp/none" else expected) for t in topics)
        assert sorted((m.topic, m.properties.json()) for m in got) == want
        assert sorted(seen_by_paho) == want
    finally:
        watcher.loop_stop()
        watcher.disconnect()
