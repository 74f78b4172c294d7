"""The wheel of ``make wheel`` installs and works where there is no Go and no C compiler.

A fresh venv in a temporary directory gets the wheel from ``pip install --no-index
--only-binary :all:`` (no index to fetch a build backend from, and no source pip could build),
under a PATH made only of symlinks to python3 and the venv's own bin/: no ``go``, no ``gcc``,
``cc`` or any other compiler. Then, from a directory outside the repository and with no
PYTHONPATH or HAMQTT_LIBRARY, a paho-style program publishes and subscribes through
``hamqtt.client`` against a real Mosquitto broker on a free 127.0.0.1 port, and reports which
hamqtt it imported and which libhamqtt.so it loaded: the venv's, byte for byte the wheel's.

Run by ``make wheel-test`` (part of ``make test``) with HAMQTT_WHEEL_DIR set.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PKG = HERE.parent  # bindings/python
REPO = PKG.parent.parent
sys.path.insert(0, str(PKG / "tests"))

from brokers import Broker  # noqa: E402

# What a build would need: none of it may be reachable from the install's PATH.
COMPILERS = ["go", "gofmt", "gcc", "cc", "c++", "g++", "clang", "tcc", "x86_64-linux-gnu-gcc", "ld", "as", "make"]

ROUND_TRIP = r'''
import hashlib, json, os, shutil, sys, threading
import hamqtt
import hamqtt.client as mqtt
from hamqtt import _lib

port = int(sys.argv[1])
topic = "wheel/test/%d" % os.getpid()
got, messages = threading.Event(), []

def on_connect(client, userdata, flags, reason_code, properties):
    client.subscribe(topic, 1)

def on_subscribe(client, userdata, mid, reason_codes, properties):
    client.publish(topic, b"from the wheel", qos=1)

def on_message(client, userdata, msg):
    messages.append((msg.topic, msg.payload.decode(), msg.qos))
    got.set()

client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="wheel-test")
client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
client.connect("127.0.0.1", port, 60)
client.loop_start()
ok = got.wait(15)
client.disconnect()
client.loop_stop()
lib = _lib.library_path()
with open(lib, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
print(json.dumps({
    "received": ok, "messages": messages,
    "hamqtt_file": hamqtt.__file__, "version": hamqtt.__version__,
    "library_version": hamqtt.library_version(), "library_path": lib, "library_sha256": digest,
    "sys_path": sys.path, "cwd": os.getcwd(),
    "on_path": {name: shutil.which(name) for name in sys.argv[2:]},
}))
'''


def the_wheel() -> Path:
    d = os.environ.get("HAMQTT_WHEEL_DIR")
    assert d, "HAMQTT_WHEEL_DIR is not set: run make wheel-test"
    wheels = sorted(Path(d).glob("hamqtt-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {d}, found {wheels}: run make wheel"
    return wheels[0]


def run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    r = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    assert r.returncode == 0, f"{' '.join(cmd)} exited with {r.returncode}:\n{r.stdout}"
    return r.stdout


def test_wheel_installs_and_round_trips_without_go_or_compiler(tmp_path: Path) -> None:
    t0 = time.monotonic()
    wheel = the_wheel()
    tmp = tmp_path.resolve()
    assert REPO not in tmp.parents, f"{tmp} is inside the repository"

    # The wheel: platform-tagged, the library where the loader looks first, nothing recorded.
    m = re.fullmatch(r"hamqtt-([^-]+)-py3-none-(manylinux_(\d+)_(\d+)_x86_64)\.whl", wheel.name)
    assert m, wheel.name
    version, tag, glibc = m.group(1), m.group(2), f"{m.group(3)}.{m.group(4)}"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "hamqtt/libhamqtt.so" in names and "hamqtt/_build_config.py" not in names, names
        wheel_lib_sha = hashlib.sha256(z.read("hamqtt/libhamqtt.so")).hexdigest()
        info = z.read(f"hamqtt-{version}.dist-info/WHEEL").decode()
    assert "Root-Is-Purelib: false" in info and f"Tag: py3-none-{tag}" in info, info
    # What users are told names this wheel's platform.
    assert tag in (PKG / "setup.py").read_text(), f"setup.py's WHEEL_PLATFORMS does not name {tag}"
    readme = (PKG / "README.md").read_text()
    assert tag in readme and f"glibc {glibc}" in readme, f"README.md does not name {tag} / glibc {glibc}"

    # A PATH of symlinks: python3 and nothing else (plus the venv's bin/ once it exists).
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    base_python = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    (bin_dir / "python3").symlink_to(base_python)
    venv = tmp / "venv"
    path = os.pathsep.join([str(venv / "bin"), str(bin_dir)])
    env = {"PATH": path, "HOME": str(tmp), "LANG": "C.UTF-8", "PIP_NO_INPUT": "1"}
    work = tmp / "work"  # outside the repository: nothing of the source tree is importable
    work.mkdir()

    run([str(bin_dir / "python3"), "-m", "venv", str(venv)], env, work)
    for name in COMPILERS:
        assert shutil.which(name, path=path) is None, f"{name} is reachable: {shutil.which(name, path=path)}"
    out = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", "--only-binary", ":all:",
         "--no-cache-dir", "--disable-pip-version-check", str(wheel)],
        env, work,
    )
    assert "Successfully installed hamqtt-" + version in out, out
    assert "Building wheel" not in out and "setup.py" not in out, out

    script = work / "round_trip.py"
    script.write_text(ROUND_TRIP)
    broker = Broker().start()
    try:
        out = run([str(venv / "bin" / "python"), "-E", "-s", str(script), str(broker.port), *COMPILERS], env, work)
    except AssertionError:
        print(broker.log())
        raise
    finally:
        broker.stop()
    res = json.loads(out.strip().splitlines()[-1])

    site = venv / "lib"
    pkg_dir = Path(res["hamqtt_file"]).resolve().parent
    assert site in pkg_dir.parents and "site-packages" in pkg_dir.parts, f"hamqtt imported from {pkg_dir}"
    assert Path(res["library_path"]).resolve() == pkg_dir / "libhamqtt.so", res["library_path"]
    assert res["library_sha256"] == wheel_lib_sha, "the loaded libhamqtt.so is not the wheel's"
    assert not any(str(REPO) in p for p in res["sys_path"] if p), res["sys_path"]
    assert res["on_path"] == {name: None for name in COMPILERS}, res["on_path"]
    assert res["received"], res
    assert len(res["messages"]) == 1 and res["messages"][0][1:] == ["from the wheel", 1], res["messages"]
    assert res["messages"][0][0].startswith("wheel/test/"), res["messages"]
    assert res["version"] == res["library_version"] == version, (res["version"], res["library_version"], version)

    print(
        f"\nwheel-test: {wheel.name} installed with pip --no-index into a fresh venv (PATH without "
        f"go or a C compiler); hamqtt {res['version']} == libhamqtt {res['library_version']} loaded "
        f"from the venv; QoS 1 round trip through hamqtt.client via Mosquitto on 127.0.0.1:"
        f"{broker.port} ({time.monotonic() - t0:.1f}s)"
    )
