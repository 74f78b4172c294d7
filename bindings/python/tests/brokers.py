"""Real Mosquitto brokers for tests and benchmarks: free 127.0.0.1 ports, SIGKILL, restart.

Only 127.0.0.1 is ever used. Each broker gets its own directory with a generated config
(``listener PORT 127.0.0.1`` and ``allow_anonymous true``) and its log file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

HOST = "127.0.0.1"


def mosquitto_path() -> Optional[str]:
    """The mosquitto executable, or None."""
    for cand in (os.environ.get("MOSQUITTO"), "/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if cand and os.path.exists(cand):
            return cand
    return None


def wait_for(cond, timeout: float = 10.0) -> bool:
    """Poll cond every 10 ms until it is true or timeout seconds have passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """One Mosquitto process on 127.0.0.1:port."""

    def __init__(self, port: Optional[int] = None, extra_config: str = "") -> None:
        exe = mosquitto_path()
        if exe is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.exe = exe
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix=f"hamqtt-mosq-{self.port}-")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.logfile = os.path.join(self.dir, "mosquitto.log")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(
                f"listener {self.port} {HOST}\n"
                "allow_anonymous true\n"
                "persistence false\n"
                "max_queued_messages 100000\n"
                f"{extra_config}\n"
            )
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def uri(self) -> str:
        """``tcp://127.0.0.1:PORT``."""
        return f"tcp://{HOST}:{self.port}"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{HOST}:{self.port}"

    def start(self, timeout: float = 10.0) -> "Broker":
        """Start (or restart on the same port) and wait until it accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        deadline = time.monotonic() + timeout
        while True:
            logf = open(self.logfile, "ab")
            self.proc = subprocess.Popen(
                [self.exe, "-c", self.conf], stdout=logf, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            logf.close()
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # exited: the port may still be in use, try again
                if port_open(self.port):
                    return self
                time.sleep(0.02)
            if time.monotonic() >= deadline:
                self.kill()
                raise RuntimeError(f"mosquitto on port {self.port} did not start; log: {self.log()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the broker (no clean shutdown) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Kill the broker and remove its directory."""
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def running(self) -> bool:
        """True while the process lives."""
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        """The broker's log so far."""
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""


def start_brokers(n: int) -> List[Broker]:
    """Start ``n`` brokers on free ports."""
    out: List[Broker] = []
    try:
        for _ in range(n):
            out.append(Broker().start())
    except Exception:
        for b in out:
            b.stop()
        raise
    return out
