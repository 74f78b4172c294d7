"""Failover through hamqtt.client: a broker is SIGKILLed during a QoS 1 stream; nothing is lost.

Publisher and subscriber each use the same three independent Mosquitto brokers. The publisher
sends every message to every live broker (publisher type ALL); the subscriber is subscribed on
all three and de-duplicates the copies (dedup), so it sees each message once. Killing one broker
(SIGKILL, no clean shutdown) in the middle of the stream, and later restarting it on the same
port, must lose nothing: every publish completes and every message arrives.
"""

from __future__ import annotations

import threading
import time
from typing import List

import hamqtt.client as mqtt
from brokers import Broker
from protocol import client_kwargs

N = 1500


def _hosts(brokers: List[Broker]) -> str:
    return ",".join(b.address for b in brokers)


def test_broker_killed_during_qos1_stream_loses_nothing(brokers3: List[Broker]) -> None:
    received: List[bytes] = []
    subscribed = threading.Event()
    lock = threading.Lock()

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe("failover/#", 1)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        subscribed.set()

    def on_message(client, userdata, msg):
        with lock:
            received.append(msg.payload)

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs(), client_id="fo-sub", ha_options={"dedup": True})
    sub.on_connect = on_connect
    sub.on_subscribe = on_subscribe
    sub.on_message = on_message
    sub.connect(_hosts(brokers3))
    sub.loop_start()
    assert subscribed.wait(10)
    # Every broker has the subscription before the stream starts.
    deadline = time.monotonic() + 10
    while len(sub.live_endpoints) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sub.live_endpoints) == 3

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs(), client_id="fo-pub",
                      ha_options={"publisher_type": "ALL", "warm_up": -1})
    published: List[int] = []
    pub.on_publish = lambda c, u, mid, rc, props: published.append(mid)
    pub.connect(_hosts(brokers3))
    pub.loop_start()

    victim = brokers3[1]
    infos = []
    for i in range(N):
        infos.append(pub.publish("failover/stream", b"%06d" % i, qos=1))
        if i == N // 3:
            victim.kill()
        if i == 2 * N // 3:
            victim.start()
        time.sleep(0.001)
    for info in infos:
        info.wait_for_publish(timeout=30)
        assert info.is_published()
    assert len(published) == N

    expected = {b"%06d" % i for i in range(N)}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if expected <= set(received):
                break
        time.sleep(0.05)
    with lock:
        got = list(received)
    missing = sorted(expected - set(got))
    assert not missing, f"{len(missing)} messages lost, first: {missing[:10]}"
    dups = len(got) - len(set(got))
    assert dups == 0, f"{dups} duplicates despite dedup"
    stats = {s.name: s for s in pub._native.stats()}  # type: ignore[union-attr]
    assert sum(s.failed for s in stats.values()) >= 0
    pub.disconnect()
    pub.loop_stop()
    sub.disconnect()
    sub.loop_stop()


def test_qos1_kept_while_every_broker_is_down(broker: Broker) -> None:
    """QoS 1 messages published while no broker is up are kept and sent once one is back."""
    got: List[bytes] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **client_kwargs(), ha_options={"time_to_wait": 1, "probe_delay": 0.2,
                                                                   "max_probe_delay": 0.5})
    c.on_message = lambda cl, u, m: got.append(m.payload)
    c.connect("127.0.0.1", broker.port)
    c.subscribe("keep/#", 1)
    c.loop_start()
    deadline = time.monotonic() + 5
    while not c.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    broker.kill()
    deadline = time.monotonic() + 5
    while c.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not c.is_connected()
    infos = [c.publish("keep/x", b"k%d" % i, qos=1) for i in range(5)]
    lost0 = c.publish("keep/x", b"q0", qos=0)
    assert lost0.rc == mqtt.MQTT_ERR_NO_CONN
    time.sleep(1.5)  # longer than time_to_wait: stored messages wait for a broker all the same
    broker.start()
    for info in infos:
        info.wait_for_publish(timeout=20)
        assert info.is_published()
    deadline = time.monotonic() + 10
    while len(set(got)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    # QoS 1 is at least once: a message in flight when the broker died may come twice.
    assert sorted(set(got)) == [b"k%d" % i for i in range(5)]
    c.disconnect()
    c.loop_stop()
