"""Churn trials of hamqtt.client programs through the project's harness (internal/cmd/churn).

The harness starts three Mosquitto brokers on free 127.0.0.1 ports, runs tests/churn_client.py
as subscriber and publisher (a paho-mqtt program with its import swapped) and SIGKILLs and
restarts the brokers while 1500 QoS 1 messages flow at 100 msg/s:

* ``churn``: one broker down at a time; nothing acknowledged may be lost;
* ``outage``: every broker down for 8 s while the publisher goes on publishing; nothing the
  API reported acknowledged or queued may be lost, and the stream's order must hold for the
  default (STICKY) publisher. ALL promises order per broker only: a de-duplicating subscriber
  takes each message's first copy from whichever broker delivers it first.

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


def run_trial(harness: str, tmp_path, config: str, schedule: str, check_order: bool) -> Dict[str, Any]:
    client = f"{shlex.quote(sys.executable)} {shlex.quote(CLIENT)}"
    args = " --brokers {brokers} --topic {topic} --count {count} --rate {rate} --config {config}"
    out = tmp_path / "result.jsonl"
    cmd = [harness, "-pub", client + " pub" + args, "-sub", client + " sub" + args,
           "-config", config, "-schedule", schedule, "-outage", "8s", "-seed", str(SEED),
           "-count", "1500", "-rate", "100", "-label", "python", "-json", str(out),
           "-logdir", str(tmp_path)]
    if check_order:
        cmd.append("-check-order")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    print(r.stdout, r.stderr)
    assert out.exists(), f"the harness wrote no result (exit {r.returncode}):\n{r.stdout}\n{r.stderr}"
    with open(out, encoding="utf-8") as f:
        res = json.loads(f.read().splitlines()[-1])
    summary = f"{res.get('failures')}\n{r.stdout}"
    assert res["pub_done"], summary
    assert res["lost"] == 0, summary
    assert res["queued_lost"] == 0, summary
    assert res["acked"] + res["failed"] + res["unresolved"] >= res["sent"], summary
    if check_order:
        assert res["out_of_order"] == 0, summary
    assert r.returncode == 0 and not res.get("failures"), summary
    return res


@pytest.mark.timeout(240)
@pytest.mark.parametrize("config", ["default", "noloss"])
def test_churn_loses_nothing_acknowledged(harness: str, tmp_path, config: str) -> None:
    res = run_trial(harness, tmp_path, config, "churn", check_order=False)
    assert res["kills"] > 0


@pytest.mark.timeout(240)
@pytest.mark.parametrize("config", ["default", "noloss"])
def test_total_outage_loses_nothing_acknowledged_or_queued_and_keeps_order(harness: str, tmp_path, config: str) -> None:
    res = run_trial(harness, tmp_path, config, "outage", check_order=config == "default")
    assert res["queued"] > 0  # the publisher went on publishing during the outage
