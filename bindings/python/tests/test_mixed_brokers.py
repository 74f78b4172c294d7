"""hamqtt.client (the paho-mqtt drop-in) on a mixed virtual cluster: Mosquitto, RabbitMQ's MQTT
plugin and aedes, one of each, started side by side on free 127.0.0.1 ports by the project's
broker helper (internal/cmd/brokerctl, which runs internal/brokertest's brokers) and shared by the
tests of this module (a RabbitMQ node takes seconds to start).

The clients use the defaults: ``connect()`` with the three addresses and nothing else. What the
brokers do differently is in docs/brokers.md; here it shows as the QoS a message arrives with
(RabbitMQ has no QoS 2: it grants and delivers QoS 1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

import hamqtt.client as mqtt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
GO = os.environ.get("GO") or shutil.which("go") or "/usr/local/go/bin/go"
KINDS = ["mosquitto", "rabbitmq", "aedes"]
MAX_QOS = {"mosquitto": 2, "rabbitmq": 1, "aedes": 2}


class Mixed:
    """The brokers, driven through brokerctl's line protocol."""

    def __init__(self, proc: "subprocess.Popen[str]", ports: List[int]) -> None:
        self.proc = proc
        self.ports = ports
        self.lock = threading.Lock()

    def command(self, line: str) -> str:
        with self.lock:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            reply = self.proc.stdout.readline().strip()
        assert reply.startswith("ok"), f"brokerctl {line!r}: {reply!r}"
        return reply

    def hosts(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def kind_of_port(self, port: int) -> str:
        return KINDS[self.ports.index(port)]

    def kill(self, kind: str) -> None:
        self.command(f"kill {KINDS.index(kind)}")

    def restart(self, kind: str) -> None:
        self.command(f"restart {KINDS.index(kind)}")

    def version(self, kind: str) -> str:
        return self.command(f"info {KINDS.index(kind)}").split()[3]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Iterator[Mixed]:
    if not os.path.exists(os.path.join(ROOT, "internal", "cmd", "brokerctl", "main.go")):
        pytest.skip("needs the repository's internal/cmd/brokerctl")
    exe = str(tmp_path_factory.mktemp("brokerctl") / "brokerctl")
    subprocess.run([GO, "build", "-o", exe, "./internal/cmd/brokerctl"], cwd=ROOT, check=True, timeout=300)
    proc = subprocess.Popen([exe, "-kinds", ",".join(KINDS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    assert proc.stdout is not None
    first = proc.stdout.readline().split()
    if first[:1] != ["ok"]:
        proc.kill()
        raise RuntimeError(f"brokerctl could not start the brokers: {' '.join(first)}")
    m = Mixed(proc, [int(p) for p in first[1:]])
    print("brokers:", ", ".join(f"{k} {m.version(k)} on {p}" for k, p in zip(KINDS, m.ports)))
    yield m
    try:
        assert proc.stdin is not None
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def wait_until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Inbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.msgs: List[Tuple[str, bytes, int, Optional[str]]] = []
        self.granted: List[int] = []
        self.subscribed = threading.Event()

    def on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.msgs.append((msg.topic, msg.payload, msg.qos, msg.endpoint))

    def on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.granted = [int(getattr(rc, "value", rc)) for rc in reason_codes]
        self.subscribed.set()

    def snapshot(self) -> List[Tuple[str, bytes, int, Optional[str]]]:
        with self.lock:
            return list(self.msgs)


def subscriber(mixed: Mixed, topic_filter: str, qos: int) -> Tuple[mqtt.Client, Inbox]:
    inbox = Inbox()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = inbox.on_message
    sub.on_subscribe = inbox.on_subscribe
    sub.connect(mixed.hosts())
    sub.loop_start()
    wait_until(lambda: len(sub.live_endpoints) == 3, 20, "the subscriber on all three brokers")
    sub.subscribe(topic_filter, qos)
    assert inbox.subscribed.wait(10)
    return sub, inbox


def publisher(mixed: Mixed) -> mqtt.Client:
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect(mixed.hosts())
    pub.loop_start()
    wait_until(lambda: len(pub.live_endpoints) == 3, 20, "the publisher on all three brokers")
    return pub


def endpoint_kinds(mixed: Mixed, client: mqtt.Client) -> Dict[str, str]:
    """Endpoint name -> broker kind, from the client's stats."""
    out = {}
    for s in client._native.stats():  # type: ignore[union-attr]
        out[s.name] = mixed.kind_of_port(int(s.uri.rsplit(":", 1)[1]))
    return out


def carrier(mixed: Mixed, pub: mqtt.Client) -> str:
    """The kind of the broker the publisher's (Sticky) stream goes through now."""
    kinds = endpoint_kinds(mixed, pub)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        before = {s.name: s.acked for s in pub._native.stats()}  # type: ignore[union-attr]
        time.sleep(0.15)
        after = {s.name: s.acked for s in pub._native.stats()}  # type: ignore[union-attr]
        name, grew = max(((n, after[n] - before.get(n, 0)) for n in after), key=lambda x: x[1])
        if grew > 0:
            return kinds[name]
    raise AssertionError("no broker carries the stream")


def close(*clients: mqtt.Client) -> None:
    for c in clients:
        c.disconnect()
        c.loop_stop()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pubsub_on_a_mixed_cluster(mixed: Mixed, qos: int) -> None:
    base = f"mixedpy/{time.time_ns()}/q{qos}"
    sub, inbox = subscriber(mixed, base + "/#", qos)
    # The cluster reports the lowest QoS a broker granted: RabbitMQ's 1 for a QoS 2 request.
    assert inbox.granted == [min(qos, 1)]
    pub = publisher(mixed)
    n = 100
    infos = [pub.publish(f"{base}/{i}", b"%d" % i, qos=qos) for i in range(n)]
    for info in infos:
        info.wait_for_publish(timeout=20)
        assert info.is_published()
    wait_until(lambda: len(inbox.snapshot()) >= n, 20, f"{n} messages")
    time.sleep(0.2)
    got = inbox.snapshot()
    assert sorted(int(p) for _, p, _, _ in got) == list(range(n)), "each message exactly once"
    kinds = endpoint_kinds(mixed, sub)
    for topic, _, got_qos, endpoint in got:
        kind = kinds[endpoint or ""]
        assert got_qos == min(qos, MAX_QOS[kind]), f"{topic} through {kind} at QoS {got_qos}"
    close(pub, sub)


@pytest.mark.timeout(180)
def test_failover_when_each_kind_is_killed(mixed: Mixed) -> None:
    """A QoS 1 stream through the default Sticky publisher; the broker carrying it is SIGKILLed
    until each kind was, and restarted: the stream moves on, the subscription comes back on the
    revived broker, and no acknowledged message is lost."""
    base = f"mixedpy/{time.time_ns()}/failover"
    sub, inbox = subscriber(mixed, base + "/#", 1)
    pub = publisher(mixed)
    pub_kinds = endpoint_kinds(mixed, pub)
    stop = threading.Event()
    acked: List[int] = []

    def stream() -> None:
        seq = 0
        while not stop.is_set():
            info = pub.publish(base + "/stream", b"%d" % seq, qos=1)
            info.wait_for_publish(timeout=30)
            if info.is_published():
                acked.append(seq)
            seq += 1
            time.sleep(0.005)

    t = threading.Thread(target=stream)
    t.start()
    killed: List[str] = []
    try:
        for rnd in range(6):
            if len(set(killed)) == len(KINDS):
                break
            n = len(acked)
            wait_until(lambda: len(acked) >= n + 40, 30, "the stream to flow")
            victim = carrier(mixed, pub)
            mixed.kill(victim)
            killed.append(victim)
            n = len(acked)
            wait_until(lambda: len(acked) >= n + 40, 30, f"the stream to go on without {victim}")
            assert carrier(mixed, pub) != victim
            mixed.restart(victim)
            name = next(nm for nm, k in pub_kinds.items() if k == victim)
            wait_until(lambda: name in pub.live_endpoints and name in sub.live_endpoints, 20,
                       f"{victim} live again")
            # The subscription was replayed there: a message published to it alone arrives
            # through it.
            probe = f"{base}/revived/{victim}/{rnd}"

            def arrived() -> bool:
                try:
                    pub._native.publish_to(name.encode(), probe.encode(), b"back", 1, False)  # type: ignore[union-attr]
                except Exception:  # not live in the publisher yet: try again
                    return False
                end = time.monotonic() + 0.5
                while time.monotonic() < end:
                    if any(tp == probe for tp, _, _, _ in inbox.snapshot()):
                        return True
                    time.sleep(0.02)
                return False

            wait_until(arrived, 15, f"a message through the revived {victim}")
    finally:
        stop.set()
        t.join(timeout=60)
    assert set(killed) == set(KINDS), f"killed {killed}"
    want = set(acked)
    wait_until(lambda: want <= {int(p) for tp, p, _, _ in inbox.snapshot() if tp == base + "/stream"}, 20,
               "every acknowledged message")
    print(f"{len(acked)} acknowledged, kills {killed}, 0 lost")
    close(pub, sub)
