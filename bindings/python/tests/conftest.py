"""pytest fixtures: real Mosquitto brokers on free 127.0.0.1 ports (see brokers.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Iterator, List

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from brokers import Broker, mosquitto_path, start_brokers  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")


def pytest_sessionstart(session: pytest.Session) -> None:
    if mosquitto_path() is None:
        raise pytest.UsageError("mosquitto is required by the hamqtt tests: run `make deps` (apt-get install mosquitto)")


@pytest.fixture
def broker() -> Iterator[Broker]:
    """One fresh Mosquitto broker."""
    b = Broker().start()
    yield b
    b.stop()


@pytest.fixture
def brokers3() -> Iterator[List[Broker]]:
    """Three independent Mosquitto brokers."""
    bs = start_brokers(3)
    yield bs
    for b in bs:
        b.stop()


def run_example(name: str, *args: str, lib: str = "hamqtt", timeout: float = 60,
                stdin: "str | None" = None) -> subprocess.CompletedProcess:
    """Run tests/examples/<name> with this interpreter. lib="paho" runs the same program with
    its hamqtt imports swapped for paho.mqtt ones (the one-line migration, backwards)."""
    path = os.path.join(EXAMPLES, name)
    with open(path, encoding="utf-8") as f:
        src = f.read()
    if lib == "paho":
        src = (src.replace("import hamqtt.", "import paho.mqtt.").replace("from hamqtt ", "from paho.mqtt ")
               .replace("from hamqtt.", "from paho.mqtt."))
    return subprocess.run([sys.executable, "-c", src, *args], capture_output=True, text=True,
                          timeout=timeout, input=stdin)


def have_paho() -> bool:
    """True when paho-mqtt is installed (for side-by-side runs)."""
    try:
        import paho.mqtt.client  # noqa: F401
        return True
    except ImportError:
        return False
