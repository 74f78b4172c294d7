"""A publisher or subscriber for the churn harness (internal/cmd/churn), written as a paho-mqtt
program: the only hamqtt-specific line is the import (and the cluster address given to
connect(), plus ha_options for the no-loss and round-robin configurations and outbox_set() for
the disk outbox).

    churn_client.py pub|sub --brokers 127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3 --topic T
                    --count N --rate R --config default|noloss|roundrobin|outbox
                    [--outbox DIR] [--start N] [--impl hamqtt|paho]

The publisher publishes the sequence numbers --start..--count-1. Configurations: default (the
defaults: a memory outbox), noloss (publisher type ALL with an acknowledgement quorum of 2, a
de-duplicating subscriber), roundrobin, and outbox (a disk outbox in --outbox DIR, a
de-duplicating subscriber; the publisher starts without waiting for a broker, so that it can
be started during an outage, and sends what an earlier publisher left in DIR).

Line protocol on stdout (one line each, flushed at once; everything else goes to stderr):

    subscriber  READY            the subscription was acknowledged (on_subscribe)
                MSG <seq>        a message arrived (payload: the decimal sequence number)
    publisher   STORED <seq>     publish() stored the message in the outbox (rc 0, is_stored())
                ACK <seq>        on_publish: a broker acknowledged the QoS 1 message
                QUEUED <seq>     publish() kept the message while not connected, unstored (paho)
                FAIL <seq> <why> the message was refused or reported failed
                DONE             every message was resolved, and the outbox is empty (what an
                                 earlier publisher left in it included), or the deadline passed

The subscriber runs until SIGTERM and exits 0. ``--impl paho`` runs the same program on
paho-mqtt itself, connected to the first broker only (paho has no cluster): a comparison.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Dict, List, Optional

_out_lock = threading.Lock()


def emit(line: str) -> None:
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def log(msg: str) -> None:
    sys.stderr.write(f"churn_client: {msg}\n")
    sys.stderr.flush()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("role", choices=["pub", "sub"])
    p.add_argument("--brokers", required=True, help="host:port,host:port,...")
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--rate", type=float, default=100.0, help="messages per second")
    p.add_argument("--config", default="default",
                   help="default, noloss, roundrobin or outbox; NAME-v5 is the same over MQTT 5")
    p.add_argument("--outbox", help="the disk outbox's directory (config outbox)")
    p.add_argument("--start", type=int, default=0, help="the first sequence number to publish")
    p.add_argument("--impl", choices=["hamqtt", "paho"], default="hamqtt")
    p.add_argument("--deadline", type=float, default=None,
                   help="seconds after the last publish to wait for outcomes (default 60; no limit "
                        "with config outbox: stored messages wait out any outage)")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    args.v5 = args.config.endswith("-v5")
    if args.v5:
        args.config = args.config[:-3]
    if args.config not in ("default", "noloss", "roundrobin", "outbox"):
        log(f"unknown --config {args.config}")
        return 2
    if args.impl == "paho":
        import paho.mqtt.client as mqtt
    else:
        import hamqtt.client as mqtt  # type: ignore[no-redef]

    # Where to connect and with what: a paho program names one broker; on hamqtt the same
    # connect() takes the whole cluster, and engine settings go in ha_options.
    kwargs = {}
    if args.impl == "paho":
        host, _, port = args.brokers.split(",")[0].rpartition(":")
        where = (host, int(port))
        if args.config != "default":
            log(f"--config {args.config} has no paho-mqtt equivalent: running the default")
    else:
        where = (args.brokers,)
        if args.config == "noloss":
            if args.role == "pub":
                kwargs["ha_options"] = {"publisher_type": "ALL", "ack_quorum": 2}
            else:
                kwargs["ha_options"] = {"dedup": True}
        elif args.config == "roundrobin" and args.role == "pub":
            kwargs["ha_options"] = {"publisher_type": "ROUND_ROBIN"}
        elif args.config == "outbox" and args.role == "sub":
            kwargs["ha_options"] = {"dedup": True}
    if args.config == "outbox" and args.role == "pub" and not args.outbox:
        log("config outbox needs --outbox DIR")
        return 2
    if args.deadline is None:
        args.deadline = float("inf") if args.config == "outbox" else 60.0

    if args.v5:
        kwargs["protocol"] = mqtt.MQTTv5
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
    client.enable_logger()  # paho's log lines go to stderr through logging
    if args.config == "outbox" and args.role == "pub" and args.impl == "hamqtt":
        client.outbox_set(args.outbox)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())

    if args.role == "sub":
        return run_subscriber(mqtt, client, where, args, stop)
    return run_publisher(mqtt, client, where, args, stop)


def run_subscriber(mqtt, client, where, args, stop: threading.Event) -> int:  # type: ignore[no-untyped-def]
    ready = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        log(f"connected ({reason_code})")
        client.subscribe(args.topic, qos=1)

    def on_subscribe(client, userdata, mid, reason_code_list, properties):  # type: ignore[no-untyped-def]
        if not ready.is_set():
            ready.set()
            emit("READY")

    def on_message(client, userdata, msg):  # type: ignore[no-untyped-def]
        try:
            seq = int(msg.payload)
        except ValueError:
            log(f"unexpected payload {msg.payload!r}")
            return
        emit(f"MSG {seq}")

    def on_disconnect(client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        log(f"disconnected ({reason_code})")

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.connect(*where)
    client.loop_start()
    while not stop.wait(0.5):
        pass
    client.disconnect()
    client.loop_stop()
    return 0


def run_publisher(mqtt, client, where, args, stop: threading.Event) -> int:  # type: ignore[no-untyped-def]
    # on_publish may run before publish() returns (on the loop thread): the mid is then not
    # known yet and is kept in early_acks. publish() itself is never called under our lock
    # (paho calls on_publish holding its own message lock, which publish() takes too).
    lock = threading.Lock()
    seq_of_mid: Dict[int, int] = {}
    early_acks = set()
    acked = set()
    failed = set()
    queued = set()
    infos = {}

    def ack(seq: int) -> None:
        acked.add(seq)
        emit(f"ACK {seq}")

    def on_publish(client, userdata, mid, reason_code, properties):  # type: ignore[no-untyped-def]
        with lock:
            seq = seq_of_mid.pop(mid, None)
            if seq is None:
                early_acks.add(mid)
                return
            ack(seq)

    connected_once = threading.Event()

    def on_connect(client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        log(f"connected ({reason_code})")
        connected_once.set()

    def on_disconnect(client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        log(f"disconnected ({reason_code})")

    def fail(seq: int, why: str) -> None:
        failed.add(seq)
        emit(f"FAIL {seq} {why}")

    client.on_publish = on_publish
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    outbox = args.config == "outbox" and args.impl == "hamqtt"
    if outbox:
        # Started again after a crash, possibly while every broker is down: what the outbox
        # holds waits for a broker, so publishing goes ahead while the loop connects. paho's
        # reconnect backoff (up to 120 s) would outlast the outage by far: the loop retries
        # every 0.5-2 s instead.
        client.reconnect_delay_set(0.5, 2)
        client.connect_async(*where)
        client.loop_start()
    else:
        client.connect(*where)
        client.loop_start()
        if not connected_once.wait(10):
            log("no on_connect within 10 s; publishing all the same")

    start = time.monotonic()
    for seq in range(args.start, args.count):
        if stop.is_set():
            break
        delay = start + (seq - args.start) / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        connected = client.is_connected()
        try:
            info = client.publish(args.topic, str(seq), qos=1)
        except Exception as err:  # noqa: BLE001 - reported on the protocol
            fail(seq, f"{type(err).__name__}: {err}")
            continue
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            fail(seq, mqtt.error_string(info.rc))
            continue
        with lock:
            infos[seq] = info
            stored = getattr(info, "is_stored", None)
            if stored is not None and stored():
                emit(f"STORED {seq}")
            elif not connected or not client.is_connected():
                # Accepted while not connected: paho keeps it (rc MQTT_ERR_NO_CONN, or 0 when
                # it waits behind the in-flight window) and sends it once connected.
                emit(f"QUEUED {seq}")
                queued.add(seq)
            if info.mid in early_acks:
                early_acks.discard(info.mid)
                ack(seq)
                continue
            seq_of_mid[info.mid] = seq

    # Wait for every outcome (bounded): wait_for_publish raises for a message that failed.
    # A message paho kept with rc MQTT_ERR_NO_CONN makes its wait_for_publish raise at once
    # although it is still sent once connected: for those, on_publish is awaited instead.
    deadline = time.monotonic() + args.deadline
    for seq, info in sorted(infos.items()):
        if stop.is_set() or time.monotonic() >= deadline:
            break
        if seq in queued and info.rc == mqtt.MQTT_ERR_NO_CONN:
            while seq not in acked and not stop.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)
            continue
        try:
            info.wait_for_publish(timeout=deadline - time.monotonic())
        except (RuntimeError, ValueError) as err:
            with lock:
                fail(seq, str(err))
    # on_publish runs before a message counts as published, so every ACK is out by now;
    # the loop is given a moment for stragglers all the same.
    settle = time.monotonic() + 2
    while time.monotonic() < settle:
        with lock:
            if len(acked) + len(failed) >= len(infos) or not seq_of_mid:
                break
        time.sleep(0.05)
    if outbox:
        # What an earlier publisher stored (this one has no MQTTMessageInfo for it) is resolved
        # once the outbox is empty.
        while not stop.is_set() and time.monotonic() < deadline:
            st = client.outbox_stats()
            if st.messages == 0:
                break
            time.sleep(0.05)
        st = client.outbox_stats()
        log(f"outbox: {st.messages} held, {st.recovered} recovered from an earlier publisher, "
            f"{st.stored} stored and {st.delivered} delivered since it was opened")
    with lock:
        unresolved = len(infos) - len(acked) - len(failed & set(infos))
        log(f"published {len(infos)}, acknowledged {len(acked)}, failed {len(failed)}, unresolved {unresolved}"
            f" after {time.monotonic() - start:.1f} s")
        emit("DONE")
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
