"""Process-level behaviour: lazy loading, fork() children, interpreter exit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from brokers import Broker


def run_py(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True,
                          text=True, timeout=timeout)


def test_import_does_not_load_the_library() -> None:
    r = run_py("""
        import hamqtt, hamqtt.client, hamqtt.publish, hamqtt.subscribe, hamqtt._lib as L
        assert L._lib is None, "libhamqtt loaded at import"
        c = hamqtt.client.Client(hamqtt.client.CallbackAPIVersion.VERSION2)
        assert L._lib is None, "libhamqtt loaded by Client()"
        print(hamqtt.library_version())
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().count(".") == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_gets_a_clear_error_not_a_hang(broker: Broker) -> None:
    r = run_py("""
        import os, sys
        import hamqtt.client as mqtt
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.connect("127.0.0.1", int(sys.argv[1]))
        c.loop_start()
        pid = os.fork()
        if pid == 0:
            try:
                mqtt.Client(mqtt.CallbackAPIVersion.VERSION2).connect("127.0.0.1", int(sys.argv[1]))
            except RuntimeError as e:
                print("child:", e, flush=True)
                os._exit(0 if "fork()" in str(e) else 2)
            os._exit(3)
        _, status = os.waitpid(pid, 0)
        print("child status", os.waitstatus_to_exitcode(status))
        c.publish("fork/ok", "parent still works", qos=1).wait_for_publish(5)
        c.disconnect(); c.loop_stop()
        print("parent ok")
    """, str(broker.port))
    assert r.returncode == 0, r.stderr
    assert "child status 0" in r.stdout, r.stdout + r.stderr
    assert "spawn" in r.stdout and "parent ok" in r.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_fork_before_first_use_is_fine(broker: Broker) -> None:
    r = run_py("""
        import os, sys
        import hamqtt.publish as publish
        pid = os.fork()
        if pid == 0:
            publish.single("fork/child", "ok", qos=1, hostname="127.0.0.1", port=int(sys.argv[1]))
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child status", os.waitstatus_to_exitcode(status))
    """, str(broker.port))
    assert r.returncode == 0, r.stderr
    assert "child status 0" in r.stdout


def test_clean_exit_with_running_clients(brokers3) -> None:
    """A program that exits with connected clients, a loop thread and native clients shuts
    down cleanly (atexit closes them before the interpreter finalizes)."""
    hosts = ",".join(b.address for b in brokers3)
    r = run_py("""
        import sys, hamqtt, hamqtt.client as mqtt
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.on_log = lambda *a: None
        c.connect(sys.argv[1])
        c.subscribe("exit/#", 1)
        c.loop_start()
        for i in range(100):
            c.publish("exit/t", b"x", qos=1)
        n = hamqtt.HaMqttClient(sys.argv[1]).connect()
        n.subscribe("exit/#", 1, callback=lambda m: None)
        print("exiting", flush=True)
    """, hosts, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "exiting" in r.stdout
    assert "Traceback" not in r.stderr and "Fatal" not in r.stderr, r.stderr


def test_missing_library_is_a_clear_error(tmp_path) -> None:
    env = dict(os.environ, HAMQTT_LIBRARY=str(tmp_path / "nope.so"))
    r = subprocess.run([sys.executable, "-c", "import hamqtt; hamqtt.library_version()"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode != 0
    assert "libhamqtt not found" in r.stderr and "HAMQTT_LIBRARY" in r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's struct sigaction")
def test_python_signal_handlers_are_safe_on_library_threads(broker: Broker) -> None:
    # Go delivers a signal to whichever thread the kernel picks, its own included, and a host
    # handler runs safely on a Go thread only on the alternate signal stack (SA_ONSTACK).
    # CPython sets SA_ONSTACK on every handler it installs; this holds it to that while
    # children exit (SIGCHLD) and timers fire (SIGALRM) during a publish stream.
    r = run_py("""
        import ctypes, signal, subprocess, sys
        import hamqtt.client as mqtt

        class Sigaction(ctypes.Structure):
            _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16),
                        ("flags", ctypes.c_int), ("restorer", ctypes.c_void_p)]
        SA_ONSTACK = 0x08000000
        libc = ctypes.CDLL(None, use_errno=True)

        def flags(sig):
            sa = Sigaction()
            assert libc.sigaction(sig, None, ctypes.byref(sa)) == 0, ctypes.get_errno()
            return sa.flags

        got = {"chld": 0, "alrm": 0, "msgs": 0}
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        c.on_message = lambda cl, u, m: got.__setitem__("msgs", got["msgs"] + 1)
        c.connect("127.0.0.1", int(sys.argv[1]))
        c.loop_start()
        c.subscribe("sig/#", 1)
        signal.signal(signal.SIGCHLD, lambda s, f: got.__setitem__("chld", got["chld"] + 1))
        signal.signal(signal.SIGALRM, lambda s, f: got.__setitem__("alrm", got["alrm"] + 1))
        for sig in (signal.SIGINT, signal.SIGCHLD, signal.SIGALRM):
            assert flags(sig) & SA_ONSTACK, f"{sig!r} handler lacks SA_ONSTACK"
        signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
        for i in range(200):
            c.publish("sig/t", b"x" * 100, qos=1).wait_for_publish(10)
            if i % 10 == 0:
                subprocess.run(["true"])
        signal.setitimer(signal.ITIMER_REAL, 0)
        c.disconnect()
        c.loop_stop()
        assert got["chld"] > 0 and got["alrm"] > 0, got
        print("ok", got)
    """, str(broker.port), timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok"), r.stdout
