"""The outbox (store and forward) through hamqtt.client and HaMqttClient, against real Mosquitto.

paho-mqtt keeps QoS > 0 messages in memory until a broker acknowledged them, bounded by
max_queued_messages_set() (MQTT_ERR_QUEUE_SIZE when full), and calls on_publish on the
acknowledgement. hamqtt.client keeps them in the engine's outbox with the same bound, the same
codes and the same on_publish, and tells *stored* (publish() returned MQTT_ERR_SUCCESS,
MQTTMessageInfo.is_stored()) from *published* (on_publish, is_published()). A disk outbox also
survives the process being killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, List

import pytest

import hamqtt
import hamqtt.client as mqtt
from brokers import Broker, free_port, wait_for
from conftest import have_paho

HERE = os.path.dirname(os.path.abspath(__file__))


class Sub:
    """A subscriber (hamqtt.client) that records payloads in arrival order."""

    def __init__(self, address: str, topic: str) -> None:
        self.got: List[bytes] = []
        self.subacks = 0
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             ha_options={"probe_delay": 0.1, "max_probe_delay": 0.3})
        self.c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(topic, 1)
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = lambda cl, u, m: self.got.append(m.payload)
        self.c.connect(address)
        self.c.loop_start()
        assert wait_for(lambda: self.subacks >= 1)

    def _on_subscribe(self, *args: Any) -> None:
        self.subacks += 1

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _client(lib: str) -> Any:
    if lib == "paho":
        import paho.mqtt.client as paho

        return paho, paho.Client(paho.CallbackAPIVersion.VERSION2)
    return mqtt, mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)


LIBS = ["hamqtt"] + (["paho"] if have_paho() else [])


@pytest.mark.parametrize("lib", LIBS)
def test_publish_before_connect_is_kept_bounded_and_sent(broker: Broker, lib: str) -> None:
    # Side by side with paho-mqtt: the same queue bound, the same MQTT_ERR_QUEUE_SIZE, the same
    # delivery in publish order, on_publish only once a broker acknowledged. The one
    # difference, by design: paho answers MQTT_ERR_NO_CONN for a message it kept while not
    # connected (and its wait_for_publish() raises for it although it is sent later); hamqtt
    # answers MQTT_ERR_SUCCESS: the message is stored.
    sub = Sub(broker.address, "ob/before")
    m, c = _client(lib)
    acked: List[int] = []
    c.on_publish = lambda cl, u, mid, rc, p: acked.append(mid)
    c.max_queued_messages_set(3)
    infos = [c.publish("ob/before", b"%d" % i, qos=1) for i in range(4)]
    q0 = c.publish("ob/before", b"q0", qos=0)
    kept_rc = m.MQTT_ERR_NO_CONN if lib == "paho" else m.MQTT_ERR_SUCCESS
    assert [i.rc for i in infos] == [kept_rc] * 3 + [m.MQTT_ERR_QUEUE_SIZE]
    assert q0.rc == m.MQTT_ERR_NO_CONN  # QoS 0 is not kept, as paho
    with pytest.raises(ValueError):
        infos[3].is_published()
    if lib == "hamqtt":
        assert [i.is_stored() for i in infos] == [True, True, True, False] and not q0.is_stored()
        assert not any(i.is_published() for i in infos[:3])
        st = c.outbox_stats()
        assert st.messages == 3 and st.bytes == 3 * (len("ob/before") + 1) and st.oldest_age >= 0
    time.sleep(0.2)
    assert acked == []
    try:
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        assert wait_for(lambda: len(acked) == 3), acked
        assert acked == [i.mid for i in infos[:3]]
        if lib == "hamqtt":
            assert all(i.is_published() for i in infos[:3])
            assert c.outbox_stats().messages == 0
        assert wait_for(lambda: len(sub.got) == 3)
        assert sub.got == [b"0", b"1", b"2"]
    finally:
        c.disconnect()
        c.loop_stop()
        sub.close()


def test_outage_stores_reports_queue_size_and_publishes_only_on_ack(broker: Broker) -> None:
    # Every broker down: QoS 1 messages are stored (rc 0, is_stored, not published, no
    # on_publish) up to the bound, the next one is MQTT_ERR_QUEUE_SIZE; the depth and the age
    # of the oldest message grow; once the broker is back every stored message is published,
    # in order, and on_publish fires for each.
    sub = Sub(broker.address, "ob/outage")
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, ha_options={"time_to_wait": 0.5, "probe_delay": 0.1,
                                                                  "max_probe_delay": 0.3})
    acked: List[int] = []
    c.on_publish = lambda cl, u, mid, rc, p: acked.append(mid)
    c.max_queued_messages_set(5)
    c.connect(broker.address)
    c.loop_start()
    try:
        assert wait_for(c.is_connected)
        first = c.publish("ob/outage", b"first", qos=1)
        first.wait_for_publish(5)
        assert first.is_published() and first.is_stored() and acked == [first.mid]
        broker.kill()
        assert wait_for(lambda: not c.is_connected())
        infos = [c.publish("ob/outage", b"%d" % i, qos=1) for i in range(5)]
        assert [i.rc for i in infos] == [mqtt.MQTT_ERR_SUCCESS] * 5 and all(i.is_stored() for i in infos)
        full = c.publish("ob/outage", b"full", qos=1)
        assert full.rc == mqtt.MQTT_ERR_QUEUE_SIZE and not full.is_stored()
        with pytest.raises(ValueError, match="QUEUE_SIZE"):
            full.wait_for_publish(0.1)
        assert c.publish("ob/outage", b"q0", qos=0).rc == mqtt.MQTT_ERR_NO_CONN
        st = c.outbox_stats()
        assert st.messages == 5 and st.stored == 6 and st.delivered == 1
        assert wait_for(lambda: c.outbox_stats().oldest_age >= 1.0, 5)  # longer than time_to_wait
        assert not any(i.is_published() for i in infos) and acked == [first.mid]
        infos[0].wait_for_publish(0.2)  # returns (timed out): still stored, not failed
        assert infos[0].rc == mqtt.MQTT_ERR_SUCCESS
        subacks = sub.subacks
        broker.start()
        assert wait_for(lambda: sub.subacks > subacks, 15)
        for i in infos:
            i.wait_for_publish(15)
        assert acked == [first.mid] + [i.mid for i in infos]
        assert wait_for(lambda: len(sub.got) >= 6)
        assert sub.got == [b"first"] + [b"%d" % i for i in range(5)]
        st = c.outbox_stats()
        assert st.messages == 0 and st.oldest_age == 0 and st.oldest_time is None and st.delivered == 6
    finally:
        c.disconnect()
        c.loop_stop()
        sub.close()


def test_drop_oldest_and_expiry_are_reported(broker: Broker) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, ha_options={"probe_delay": 0.1, "max_probe_delay": 0.3})
    c.max_queued_messages_set(2)
    c.outbox_set(overflow="drop-oldest", expiry=0.5)
    lines: List[str] = []
    c.on_log = lambda cl, u, level, buf: lines.append(buf)
    c.connect(broker.address)
    c.loop_start()
    try:
        assert wait_for(c.is_connected)
        broker.kill()
        assert wait_for(lambda: not c.is_connected())
        a, b, d = (c.publish("ob/drop", x, qos=1) for x in (b"a", b"b", b"d"))
        assert [i.rc for i in (a, b, d)] == [mqtt.MQTT_ERR_SUCCESS] * 3
        # d made room: the oldest message not already taken by the sender (which holds a
        # while it waits for a broker, unless d came first) was dropped.
        assert wait_for(lambda: mqtt.MQTT_ERR_QUEUE_SIZE in (a.rc, b.rc))
        dropped, kept = (a, b) if a.rc == mqtt.MQTT_ERR_QUEUE_SIZE else (b, a)
        assert not dropped.is_stored() and kept.is_stored() and d.is_stored()
        with pytest.raises(ValueError, match="dropped"):
            dropped.is_published()
        with pytest.raises(RuntimeError, match="expired"):
            d.wait_for_publish(5)
        assert kept.rc == d.rc == mqtt.MQTT_ERR_NO_CONN and not kept.is_stored()
        st = c.outbox_stats()
        assert (st.messages, st.dropped, st.expired) == (0, 1, 2)
        assert any(f"Message {dropped.mid} not published" in line for line in lines)
    finally:
        c.disconnect()
        c.loop_stop()


def test_outbox_set_validates_and_is_refused_while_connected(broker: Broker, tmp_path) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    with pytest.raises(ValueError, match="overflow"):
        c.outbox_set(overflow="sometimes")
    with pytest.raises(ValueError, match="disk outbox"):
        c.outbox_set(sync="never")
    with pytest.raises(TypeError):
        c.outbox_set(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        c.outbox_set(str(tmp_path), expiry=-1)
    c.outbox_set(tmp_path / "ob", sync=hamqtt.SyncPolicy.INTERVAL, sync_interval=0.05)
    c.connect(broker.address)
    try:
        with pytest.raises(RuntimeError):
            c.outbox_set(None)
        assert c.outbox_stats().messages == 0
        assert os.path.isdir(tmp_path / "ob")
    finally:
        c.disconnect()
    with pytest.raises(ValueError, match="outbox"):
        mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, ha_options={"outbox_qos0": True, "outbox": False})


def test_outbox_off_fails_after_time_to_wait(broker: Broker) -> None:
    # ha_options={"outbox": False}: the engine's behaviour without an outbox, as in the C API.
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, ha_options={"outbox": False, "time_to_wait": 0.3})
    c.connect(broker.address)
    c.loop_start()
    try:
        assert wait_for(c.is_connected)
        ok = c.publish("ob/off", b"x", qos=1)
        ok.wait_for_publish(5)
        assert ok.is_published() and not ok.is_stored()
        assert c.outbox_stats().messages == 0
        broker.kill()
        assert wait_for(lambda: not c.is_connected())
        lost = c.publish("ob/off", b"y", qos=1)
        assert lost.rc == mqtt.MQTT_ERR_SUCCESS and not lost.is_stored()
        with pytest.raises(RuntimeError):
            lost.wait_for_publish(5)
        assert lost.rc == mqtt.MQTT_ERR_NO_CONN
    finally:
        c.disconnect()
        c.loop_stop()


_DISK_PUBLISHER = textwrap.dedent("""
    import sys, time
    import hamqtt.client as mqtt
    directory, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.outbox_set(directory)
    c.connect_async("127.0.0.1", port)  # no broker listens: every message is stored
    for i in range(count):
        info = c.publish("ob/disk", str(i), qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS and info.is_stored(), info
    print("STORED", c.outbox_stats().messages, flush=True)
    time.sleep(60)
""")


def test_disk_outbox_survives_kill_9_and_resumes_in_order(tmp_path) -> None:
    directory = str(tmp_path / "outbox")
    port = free_port()
    n = 200
    child = subprocess.Popen([sys.executable, "-c", _DISK_PUBLISHER, directory, str(port), str(n)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()  # type: ignore[union-attr]
        assert line.split() == ["STORED", str(n)], (line, child.stderr.read() if child.poll() is not None else "")  # type: ignore[union-attr]
        # The directory has one owner at a time.
        other = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        other.outbox_set(directory)
        with pytest.raises(hamqtt.OutboxLockedError):
            other.connect_async("127.0.0.1", port)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    broker = Broker(port=port).start()
    sub = Sub(broker.address, "ob/disk")
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    acked: List[int] = []
    c.on_publish = lambda cl, u, mid, rc, p: acked.append(mid)
    c.outbox_set(directory)
    try:
        c.connect(broker.address)
        assert c.outbox_stats().recovered == n
        c.loop_start()
        more = c.publish("ob/disk", str(n), qos=1)  # behind what the killed process stored
        more.wait_for_publish(15)
        assert more.is_published()
        assert wait_for(lambda: c.outbox_stats().messages == 0, 15)
        assert acked == [more.mid]  # on_publish is for this client's own messages
        assert wait_for(lambda: len(sub.got) >= n + 1, 15)
        assert [int(p) for p in sub.got] == list(range(n + 1))
    finally:
        c.disconnect()
        c.loop_stop()
        sub.close()
        broker.stop()


def test_ha_client_outbox_options(broker: Broker, tmp_path) -> None:
    port = free_port()
    opts = {"outbox_dir": str(tmp_path / "ha"), "outbox_max_messages": 2, "time_to_wait": 0.3}
    with pytest.raises(ValueError, match="no outbox"):
        hamqtt.HaMqttClient(f"tcp://127.0.0.1:{port}", outbox_max_messages=2)
    c = hamqtt.HaMqttClient(f"tcp://127.0.0.1:{port}", **opts)
    try:
        assert c.publish("ob/ha", b"1", qos=1) is False  # not connected: stored
        fut = c.publish_async("ob/ha", b"2", qos=1)
        with pytest.raises(hamqtt.OutboxFullError):
            c.publish("ob/ha", b"3", qos=1)
        with pytest.raises(hamqtt.OutboxFullError):
            c.publish_async("ob/ha", b"3", qos=1)
        st = c.outbox_stats()
        assert st is not None and st.messages == 2 and st.stored == 2
    finally:
        c.close()
    assert fut.done() and isinstance(fut.exception(), hamqtt.ClosedError)
    b = Broker(port=port).start()
    got: List[bytes] = []
    done = threading.Event()
    try:
        with hamqtt.HaMqttClient(b.uri) as s:
            s.subscribe("ob/ha", 1, callback=lambda m: (got.append(m.payload), len(got) == 3 and done.set()))
            with hamqtt.HaMqttClient(b.uri, **dict(opts, outbox_max_messages=3, time_to_wait=None)) as c2:
                assert c2.outbox_stats().recovered == 2  # type: ignore[union-attr]
                assert c2.publish("ob/ha", b"3", qos=1) is True
                assert done.wait(10), got
                assert got == [b"1", b"2", b"3"]
        with hamqtt.HaMqttClient(b.uri) as plain:
            assert plain.outbox_stats() is None
            assert plain.publish("ob/ha", b"x", qos=1) is True
    finally:
        b.stop()


def test_configured_cluster_outbox(tmp_path) -> None:
    # Client(cluster=...) takes its outbox from the configuration file's outbox key.
    port = free_port()
    directory = tmp_path / "gw-outbox"
    yaml = textwrap.dedent(f"""
        clusters:
          - name: gw
            connections:
              - connection:
                  serverURIs: [tcp://127.0.0.1:{port}]
            outbox:
              dir: {directory}
          - name: plain
            connections:
              - connection:
                  serverURIs: [tcp://127.0.0.1:{port}]
        """)
    with hamqtt.HaClusters.initialize(yaml=yaml):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, cluster="gw")
        with pytest.raises(NotImplementedError, match="configuration file"):
            c.outbox_set(None)
        infos = [c.publish("ob/cfg", b"%d" % i, qos=1) for i in range(3)]  # before connect()
        assert [i.rc for i in infos] == [mqtt.MQTT_ERR_SUCCESS] * 3 and all(i.is_stored() for i in infos)
        assert c.outbox_stats().messages == 3 and os.path.isdir(directory)
        plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, cluster="plain")
        kept = plain.publish("ob/cfg", b"x", qos=1)  # no outbox: kept until connected, as paho
        assert kept.rc == mqtt.MQTT_ERR_NO_CONN and not kept.is_stored()
        b = Broker(port=port).start()
        try:
            sub = Sub(b.address, "ob/cfg")
            c.connect()
            c.loop_start()
            for i in infos:
                i.wait_for_publish(15)
            assert wait_for(lambda: len(sub.got) == 3)
            assert sub.got == [b"0", b"1", b"2"]
            c.disconnect()
            c.loop_stop()
            sub.close()
        finally:
            b.stop()
