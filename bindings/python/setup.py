"""Build hooks of the hamqtt wheel (the metadata is in pyproject.toml).

* build_py also builds libhamqtt.so: ``go build -buildmode=c-shared`` of the repository's capi/
  (found at ../../capi from this file), exporting only the hamqtt_* symbols, into the package.
  With HAMQTT_LIBRARY set to an installed libhamqtt.so, nothing is compiled or bundled: the path
  is recorded in hamqtt/_build_config.py and loaded at run time.
* bdist_wheel tags the wheel py3-none-<platform>: pure Python over ctypes (no CPython ABI), but
  platform-specific because of the bundled library.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:  # setuptools >= 70.1 carries bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # older setuptools: the wheel package
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CAPI = os.path.join(REPO, "capi")


def _find_go() -> str:
    go = os.environ.get("GO") or shutil.which("go")
    if not go and os.path.exists("/usr/local/go/bin/go"):
        go = "/usr/local/go/bin/go"
    if not go:
        raise SystemExit(
            "hamqtt: building libhamqtt.so needs Go (https://go.dev/dl/) on PATH, "
            "or set HAMQTT_LIBRARY to an installed libhamqtt.so"
        )
    return go


def build_library(dest_dir: str) -> str:
    """Compile libhamqtt.so into dest_dir and return its path."""
    if not os.path.isdir(CAPI) or not os.path.exists(os.path.join(REPO, "go.mod")):
        raise SystemExit(
            f"hamqtt: the Go sources of libhamqtt are not at {CAPI} (building from an sdist?): "
            "build from the repository (pip install ./bindings/python) or set HAMQTT_LIBRARY "
            "to an installed libhamqtt.so"
        )
    os.makedirs(dest_dir, exist_ok=True)
    out = os.path.join(dest_dir, "libhamqtt.so")
    mapfile = os.path.join(CAPI, "hamqtt.map")
    ext = "-Wl,-soname,libhamqtt.so.0"
    if os.path.exists(mapfile):
        ext = f"-Wl,--version-script={mapfile} " + ext
    cmd = [
        _find_go(), "build", "-buildmode=c-shared", "-trimpath",
        "-ldflags", f'-s -w -extldflags "{ext}"', "-o", out, "./capi",
    ]
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "1")
    print("hamqtt: " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, env=env, check=True)
    header = os.path.join(dest_dir, "libhamqtt.h")  # cgo's internal header: not shipped
    if os.path.exists(header):
        os.remove(header)
    return out


class BuildPyWithLibrary(build_py):
    """build_py that also provides libhamqtt (compiled, or recorded from HAMQTT_LIBRARY)."""

    def run(self) -> None:
        super().run()
        dest = os.path.abspath(os.path.join(self.build_lib, "hamqtt"))
        config = os.path.join(dest, "_build_config.py")
        lib = os.environ.get("HAMQTT_LIBRARY")
        if lib:
            lib = os.path.abspath(lib)
            if not os.path.exists(lib):
                raise SystemExit(f"hamqtt: HAMQTT_LIBRARY={lib} does not exist")
            bundled = os.path.join(dest, "libhamqtt.so")
            if os.path.exists(bundled):
                os.remove(bundled)
            with open(config, "w", encoding="utf-8") as f:
                f.write(f'"""Written by setup.py: the libhamqtt this install uses."""\nLIBRARY_PATH = {lib!r}\n')
            print(f"hamqtt: using the installed library {lib} (not bundled)", flush=True)
        else:
            if os.path.exists(config):
                os.remove(config)
            build_library(dest)


class PlatformWheel(bdist_wheel):
    """A py3-none-<platform> wheel: no CPython ABI, one platform's shared library."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


class BinaryDistribution(Distribution):
    """Platform-specific (it bundles a shared library), so installed into platlib."""

    def has_ext_modules(self) -> bool:
        return True


setup(
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel},
    distclass=BinaryDistribution,
)
