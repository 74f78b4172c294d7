#!/usr/bin/env python3
"""Publish-to-receive throughput: paho-mqtt vs hamqtt.client, the same program.

Starts one fresh Mosquitto on a free 127.0.0.1 port, then runs the program below twice, each in
its own process: once with ``import paho.mqtt.client as mqtt`` and once with
``import hamqtt.client as mqtt`` (the only difference). A subscriber (loop_start) and a
publisher (loop_start) connect to the broker; the publisher sends N messages as fast as it
can (QoS 0 by default; ``--qos 1``: published and subscribed at QoS 1, each library keeping its
default in-flight limit); the clock stops when the subscriber has received all of them (or at
the timeout). ``--protocol 5``: both clients are ``Client(..., protocol=MQTTv5)`` (no properties
sent). Prints messages/s for each and the ratio hamqtt / paho-mqtt.

    python bench/bench_qos0.py [--count 200000] [--size 64] [--qos 0] [--protocol 4] [--rounds 1]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

LIBS = {"paho-mqtt": "paho.mqtt.client", "hamqtt": "hamqtt.client"}


def program(module: str, host: str, port: int, count: int, size: int, timeout: float,
            qos: int = 0, protocol: int = 4) -> dict:
    """The benchmarked program; ``module`` is the only thing that differs between runs."""
    mqtt = importlib.import_module(module)
    version = mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311
    topic = f"bench/qos{qos}"
    payload = b"x" * size
    received = 0
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(client, userdata, msg):
        nonlocal received
        received += 1
        if received == count:
            done.set()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        subscribed.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=version)
    sub.on_message = on_message
    sub.on_subscribe = on_subscribe
    sub.connect(host, port, 60)
    sub.subscribe(topic, qos)
    sub.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("no SUBACK")

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=version)
    pub.connect(host, port, 60)
    pub.loop_start()
    time.sleep(0.2)

    t0 = time.perf_counter()
    for _ in range(count):
        pub.publish(topic, payload, qos=qos)
    t_pub = time.perf_counter() - t0
    done.wait(timeout)
    elapsed = time.perf_counter() - t0
    got = received
    pub.disconnect()
    pub.loop_stop()
    sub.disconnect()
    sub.loop_stop()
    return {"module": module, "qos": qos, "protocol": protocol, "count": count, "received": got, "publish_s": round(t_pub, 3),
            "elapsed_s": round(elapsed, 3), "msgs_per_s": round(got / elapsed) if elapsed else 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=64, help="payload bytes")
    ap.add_argument("--qos", type=int, default=0, choices=(0, 1), help="publish and subscribe QoS")
    ap.add_argument("--protocol", type=int, default=4, choices=(4, 5), help="MQTT version: 4 (3.1.1) or 5")
    ap.add_argument("--rounds", type=int, default=1, help="runs per library (best is kept)")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run:
        print(json.dumps(program(a.run, "127.0.0.1", a.port, a.count, a.size, a.timeout, a.qos, a.protocol)))
        return 0

    from brokers import Broker

    results: dict = {}
    broker = Broker(extra_config="max_queued_messages 0\nmax_queued_bytes 0\n").start()
    try:
        for name, module in LIBS.items():
            try:
                importlib.import_module(module)
            except ImportError as exc:
                print(f"{name}: not installed ({exc}); pip install {name}")
                continue
            best = None
            for _ in range(a.rounds):
                r = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--run", module, "--port", str(broker.port),
                     "--count", str(a.count), "--size", str(a.size), "--timeout", str(a.timeout),
                     "--qos", str(a.qos), "--protocol", str(a.protocol)],
                    capture_output=True, text=True, timeout=a.timeout + 60,
                )
                if r.returncode != 0:
                    print(f"{name}: failed\n{r.stderr[-2000:]}")
                    break
                res = json.loads(r.stdout.strip().splitlines()[-1])
                if best is None or res["msgs_per_s"] > best["msgs_per_s"]:
                    best = res
            if best:
                results[name] = best
                lost = best["count"] - best["received"]
                print(f"{name:10s} {best['msgs_per_s']:>9,} msg/s  ({best['received']:,}/{best['count']:,} received"
                      f" in {best['elapsed_s']} s; publish loop {best['publish_s']} s{'; LOST ' + str(lost) if lost else ''})")
    finally:
        broker.stop()
    if "paho-mqtt" in results and "hamqtt" in results and results["paho-mqtt"]["msgs_per_s"]:
        ratio = results["hamqtt"]["msgs_per_s"] / results["paho-mqtt"]["msgs_per_s"]
        print(f"ratio hamqtt / paho-mqtt: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
