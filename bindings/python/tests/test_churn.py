"""Churn trials of hamqtt.client programs through the project's harness (internal/cmd/churn).

The harness starts three Mosquitto brokers on free 127.0.0.1 ports, runs tests/churn_client.py
as subscriber and publisher (a paho-mqtt program with its import swapped) and SIGKILLs and
restarts the brokers while QoS 1 messages flow:

* ``churn`` (1500 messages at 100 msg/s): one broker down at a time; nothing acknowledged may
  be lost;
* ``outage`` (10,000 messages at 1000 msg/s, the default configuration and its memory outbox):
  every broker down for 20 s while the publisher goes on publishing; nothing the API reported
  stored or acknowledged may be lost, and the stream keeps its order;
* ``crash`` (1500 messages at 100 msg/s, a disk outbox): every broker down for 8 s, and in the
  middle of it the publisher is SIGKILLed and started again on the same outbox directory; what
  the killed one stored is sent by its successor, nothing stored or acknowledged may be lost,
  and the order holds.

(Those two replace the 8 s outage trials of the default and no-loss configurations: the
outbox carries every configuration through an outage the same way.)

``HAMQTT_CHURN_SEED`` picks another seed (the harness prints it; ``-seed`` replays it).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from typing import Any, Dict

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CLIENT = os.path.join(HERE, "churn_client.py")
SEED = int(os.environ.get("HAMQTT_CHURN_SEED", "1"))
GO = os.environ.get("GO") or shutil.which("go") or "/usr/local/go/bin/go"


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> str:
    """The churn command, built once from the repository."""
    if not os.path.exists(os.path.join(ROOT, "internal", "cmd", "churn", "main.go")):
        pytest.skip("needs the repository's internal/cmd/churn")
    if not os.path.exists(GO):
        pytest.skip("needs Go to build internal/cmd/churn")
    exe = str(tmp_path_factory.mktemp("churn") / "churn")
    subprocess.run([GO, "build", "-o", exe, "./internal/cmd/churn"], cwd=ROOT, check=True, timeout=300)
    return exe


class Trial:
    """One harness run in the background; :meth:`result` waits for it and checks it."""

    def __init__(self, harness: str, logdir, config: str, schedule: str, check_order: bool,
                 count: int = 1500, rate: int = 100, outage: str = "8s") -> None:
        client = f"{shlex.quote(sys.executable)} {shlex.quote(CLIENT)}"
        args = " --brokers {brokers} --topic {topic} --count {count} --rate {rate} --config {config}"
        logdir.mkdir(parents=True, exist_ok=True)
        self.out = logdir / "result.jsonl"
        self.check_order = check_order
        cmd = [harness, "-pub", client + " pub" + args + " --outbox {outbox} --start {start}",
               "-sub", client + " sub" + args,
               "-config", config, "-schedule", schedule, "-outage", outage, "-seed", str(SEED),
               "-count", str(count), "-rate", str(rate), "-label", "python", "-json", str(self.out),
               "-logdir", str(logdir)]
        if check_order:
            cmd.append("-check-order")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self) -> None:
        """End the run if it is still going (SIGTERM: the harness stops its brokers and clients)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()

    def result(self) -> Dict[str, Any]:
        try:
            stdout, stderr = self.proc.communicate(timeout=220)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            stdout, stderr = self.proc.communicate()
        print(stdout, stderr)
        out = self.out
        assert out.exists(), f"the harness wrote no result (exit {self.proc.returncode}):\n{stdout}\n{stderr}"
        with open(out, encoding="utf-8") as f:
            res = json.loads(f.read().splitlines()[-1])
        summary = f"{res.get('failures')}\n{stdout}"
        assert res["pub_done"], summary
        assert res["lost"] == 0, summary
        assert res["queued_lost"] == 0, summary
        # A crashed publisher's stored messages are resolved by its successor, which reports
        # nothing for them (recovered).
        assert res["acked"] + res["failed"] + res["unresolved"] + res.get("recovered", 0) >= res["sent"], summary
        if self.check_order:
            assert res["out_of_order"] == 0, summary
        assert self.proc.returncode == 0 and not res.get("failures"), summary
        return res


@pytest.mark.timeout(240)
@pytest.mark.parametrize("config", ["default", "noloss", "noloss-v5"])
def test_churn_loses_nothing_acknowledged(harness: str, tmp_path, config: str) -> None:
    res = Trial(harness, tmp_path, config, "churn", check_order=False).result()
    assert res["kills"] > 0
    if config.endswith("-v5"):
        # Copies carry message ids over MQTT 5: the de-duplicating subscriber removes them all.
        assert res["duplicates"] == 0, res


@pytest.mark.timeout(240)
def test_outage_and_publisher_crash_lose_nothing_stored_and_keep_order(harness: str, tmp_path) -> None:
    # The two trials run side by side (they wait on the brokers' outage most of the time):
    # about 26 s instead of 41.
    outage = Trial(harness, tmp_path / "outage", "default", "outage", check_order=True, count=10000,
                   rate=1000, outage="20s")
    crash = Trial(harness, tmp_path / "crash", "outbox", "crash", check_order=True)
    try:
        res = outage.result()
        assert res["stored"] == res["sent"] == 10000  # every publish() was stored (rc 0)
        assert res["acked"] == 10000 and res["failed"] == 0
        res = crash.result()
        assert res["crashes"] == 1 and res["recovered"] > 0, res  # the successor had something to send
    finally:
        outage.stop()
        crash.stop()
