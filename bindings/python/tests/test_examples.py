"""Programs shaped like paho-mqtt's documented examples, run with hamqtt.client.

Each program in examples/ imports hamqtt; only that line and the broker address differ from the
paho-mqtt program. Where paho-mqtt is installed, the same program also runs with paho-mqtt
(imports swapped back) against its own fresh broker, and both outputs must agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from brokers import Broker
from conftest import EXAMPLES, have_paho, run_example


def _lines(out: str) -> list:
    return sorted(line for line in out.splitlines() if line.strip())


def _run_both(name: str, *extra: str, sort: bool = True) -> dict:
    outputs = {}
    for lib in (["hamqtt", "paho"] if have_paho() else ["hamqtt"]):
        b = Broker().start()
        try:
            r = run_example(name, "127.0.0.1", str(b.port), *extra, lib=lib)
        finally:
            b.stop()
        assert r.returncode == 0, f"{name} with {lib} failed:\n{r.stdout}\n{r.stderr}"
        outputs[lib] = _lines(r.stdout) if sort else r.stdout.splitlines()
    if "paho" in outputs:
        # Callbacks of independent packets (a PUBACK, a message) may interleave differently
        # from run to run, in either library: compare the lines, not their order.
        assert sorted(outputs["hamqtt"]) == sorted(outputs["paho"]), f"{name}: hamqtt and paho-mqtt outputs differ"
    return outputs


def test_publish_and_wait() -> None:
    out = _run_both("pub_wait.py")["hamqtt"]
    assert "published: True" in out and "qos0 published: True" in out
    assert "rc 0 mid 1" in out and {"mid: 1", "mid: 2", "mid: 3"} <= set(out)


def test_topic_specific_callbacks() -> None:
    out = _run_both("topic_callbacks.py")["hamqtt"]
    assert "MESSAGES: app/messages/hello 1 b'text'" in out
    assert "BYTES: app/bytes/blob 1 b'\\x01\\x02'" in out
    assert "app/other 1 b'else'" in out
    assert "all received: True" in out


def test_version1_callbacks() -> None:
    out = _run_both("v1_callbacks.py", sort=False)["hamqtt"]
    assert out[0] == "connected flags={'session present': 0} rc=0"
    assert out[1] == "subscribed mid=1 granted=(0, 1)"
    assert out[-2:] == ["disconnected rc=0", "done"]


def test_publish_and_subscribe_helpers() -> None:
    out = _run_both("helpers.py", sort=False)["hamqtt"]
    assert out[0] == "simple: helpers/single b'one' retained=True"
    assert out[1:3] == ["multiple: helpers/multi/a b'multiple 1'", "multiple: helpers/multi/b b'multiple 2'"]
    assert out[-1] == "done"


@pytest.mark.parametrize("lib", ["hamqtt", "paho"])
def test_subscribe_and_print(lib: str) -> None:
    if lib == "paho" and not have_paho():
        pytest.skip("paho-mqtt not installed")
    import hamqtt.publish as publish

    b = Broker().start()
    try:
        with open(os.path.join(EXAMPLES, "sub_print.py"), encoding="utf-8") as f:
            src = f.read()
        if lib == "paho":
            src = src.replace("import hamqtt.", "import paho.mqtt.")
        p = subprocess.Popen([sys.executable, "-c", src, "127.0.0.1", str(b.port)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        deadline = time.monotonic() + 20
        assert p.stdout is not None
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Subscribed"):
                break
        publish.multiple([("demo/a", "1", 1, False), ("demo/b", "2", 1, False), ("demo/c", "3", 1, False)],
                         hostname="127.0.0.1", port=b.port)
        out, err = p.communicate(timeout=20)
        lines += out.splitlines()
        assert p.returncode == 0, err
        assert lines == ["reason_code: Success", "Subscribed: 1 Granted QoS 1",
                         "demo/a 1 b'1'", "demo/b 1 b'2'", "demo/c 1 b'3'", "done"], (lines, err)
    finally:
        b.stop()


def test_mqtt5_request_response() -> None:
    out = _run_both("v5_request_response.py")["hamqtt"]
    assert "requester connected: Success assigned a client id: True" in out
    assert any(line.startswith("reply: demo5/client/replies {\"sum\": 6} 1 ") and '"SubscriptionIdentifier": [42]' in line
               for line in out), out
    assert "answered: True" in out and "done" in out


def test_session_present() -> None:
    cid = "sp-" + uuid.uuid4().hex[:8]
    b = Broker().start()
    try:
        r = run_example("session_present.py", "127.0.0.1", str(b.port), cid)
    finally:
        b.stop()
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "First connection:"
    assert lines[3] == "Second connection:"
    assert lines[6] == "Third connection (with clean session=True):"
    assert lines[1] == "    Session present: False"
    assert lines[7] == "    Session present: False"
    assert all(line == "    Connection result: Success" for line in lines[2::3])
    assert lines[4] == "    Session present: True", lines
