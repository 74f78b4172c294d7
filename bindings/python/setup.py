"""Build hooks of the hamqtt wheel (the metadata is in pyproject.toml).

* build_py also builds libhamqtt.so: ``go build -buildmode=c-shared`` of capi/ (the repository's,
  at ../../capi from this file, or the sdist's gosrc/capi), exporting only the hamqtt_* symbols,
  into the package. Without Go or a C compiler it stops at once, naming what is missing.
  With HAMQTT_LIBRARY set to an installed libhamqtt.so, nothing is compiled or bundled: the path
  is recorded in hamqtt/_build_config.py and loaded at run time. With HAMQTT_BUNDLE_LIBRARY set
  to a libhamqtt.so built before, that file is bundled and nothing is compiled (``make wheel``
  bundles the library the Python suite was run with, then tags the wheel with auditwheel).
* bdist_wheel tags the wheel py3-none-<platform>: pure Python over ctypes (no CPython ABI), but
  platform-specific because of the bundled library.
* sdist adds the Go sources libhamqtt is built from (gosrc/), so that an sdist builds outside
  the repository where Go and a C compiler are present.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

try:  # setuptools >= 70.1 carries bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # older setuptools: the wheel package
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
# An sdist carries the Go module's sources that libhamqtt is built from here (see SdistWithGo).
SDIST_GO = os.path.join(HERE, "gosrc")


def go_module_root() -> str:
    """Where the Go module of libhamqtt is: the sdist's copy, else the repository."""
    if os.path.exists(os.path.join(SDIST_GO, "go.mod")):
        return SDIST_GO
    return REPO


# The platforms `make wheel` builds a wheel for (the tag auditwheel gives it; the wheel test
# checks that this and bindings/python/README.md name the tag of the wheel it installs).
WHEEL_PLATFORMS = "Linux x86-64 with glibc 2.34 or later (manylinux_2_34_x86_64)"


def _missing(what: str) -> SystemExit:
    return SystemExit(
        f"hamqtt: building libhamqtt.so from source needs {what}.\n"
        f"A prebuilt wheel, which needs neither Go nor a C compiler, exists for {WHEEL_PLATFORMS}: "
        "on such a machine install that wheel (pip picks it over the source when it is offered). "
        "Otherwise install Go (https://go.dev/dl/) and a C compiler, or set HAMQTT_LIBRARY to the "
        "path of an installed libhamqtt.so (nothing is compiled then)."
    )


def _go_version() -> str:
    try:
        with open(os.path.join(go_module_root(), "go.mod"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("go "):
                    return line.split()[1]
    except OSError:
        pass
    return "1.24"


def _find_go() -> str:
    go = os.environ.get("GO") or shutil.which("go")
    if not go and os.path.exists("/usr/local/go/bin/go"):
        go = "/usr/local/go/bin/go"
    if not go or not (shutil.which(go) or os.access(go, os.X_OK)):
        where = f"GO={go} is not an executable" if go else "no `go` on PATH"
        raise _missing(f"Go {_go_version()} or later ({where})")
    return go


def _check_cc(go: str, root: str) -> None:
    """cgo needs a C compiler: say so before `go build` fails deep in its output."""
    cc = os.environ.get("CC")
    if not cc:
        r = subprocess.run([go, "env", "CC"], cwd=root, capture_output=True, text=True)
        cc = r.stdout.strip() or "gcc"
    first = shlex.split(cc)[0] if cc.strip() else "gcc"
    if not shutil.which(first):
        raise _missing(f"a C compiler for cgo (`{first}`, Go's CC, is not on PATH)")


def build_library(dest_dir: str) -> str:
    """Compile libhamqtt.so into dest_dir and return its path."""
    root = go_module_root()
    capi = os.path.join(root, "capi")
    if not os.path.isdir(capi) or not os.path.exists(os.path.join(root, "go.mod")):
        raise _missing(
            f"the Go sources of libhamqtt, which are not at {capi}: build from the repository "
            "(pip install ./bindings/python) or from the sdist, which carries them"
        )
    os.makedirs(dest_dir, exist_ok=True)
    out = os.path.join(dest_dir, "libhamqtt.so")
    mapfile = os.path.join(capi, "hamqtt.map")
    ext = "-Wl,-soname,libhamqtt.so.0"
    if os.path.exists(mapfile):
        ext = f"-Wl,--version-script={mapfile} " + ext
    go = _find_go()
    _check_cc(go, root)
    cmd = [
        go, "build", "-buildmode=c-shared", "-trimpath",
        "-ldflags", f'-s -w -extldflags "{ext}"', "-o", out, "./capi",
    ]
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "1")
    print("hamqtt: " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=root, env=env, check=True)
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
        prebuilt = os.environ.get("HAMQTT_BUNDLE_LIBRARY")
        if prebuilt:
            prebuilt = os.path.abspath(prebuilt)
            if not os.path.isfile(prebuilt):
                raise SystemExit(f"hamqtt: HAMQTT_BUNDLE_LIBRARY={prebuilt} does not exist")
            if os.path.exists(config):
                os.remove(config)
            shutil.copyfile(prebuilt, os.path.join(dest, "libhamqtt.so"))
            print(f"hamqtt: bundling the library {prebuilt} (nothing compiled)", flush=True)
        elif lib:
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


def go_source_files(root: str) -> list[str]:
    """The files of the Go module that `go build ./capi` reads, relative to ``root``: go.mod,
    go.sum, include/, and every non-test file of the module's packages capi imports (all of a
    package's files, not only this platform's, so that the sdist builds on other platforms)."""
    if root == SDIST_GO:  # an sdist made from an sdist: its copy is the whole list
        return sorted(
            os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
        )
    r = subprocess.run(
        [_find_go(), "list", "-deps", "-f",
         "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./capi"],
        cwd=root, capture_output=True, text=True, check=True,
    )
    dirs = [d for d in r.stdout.split() if d] + [os.path.join(root, "include")]
    files = ["go.mod", "go.sum"]
    for d in dirs:
        for f in sorted(os.listdir(d)):
            path = os.path.join(d, f)
            if os.path.isfile(path) and not f.endswith("_test.go") and not f.startswith("."):
                files.append(os.path.relpath(path, root))
    return files


class SdistWithGo(sdist):
    """An sdist that carries the Go sources of libhamqtt in gosrc/, so that it builds outside
    the repository (with Go and a C compiler, as from the repository)."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        root = go_module_root()
        for rel in go_source_files(root):
            dest = os.path.join(base_dir, "gosrc", rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.join(root, rel), dest)


class BinaryDistribution(Distribution):
    """Platform-specific (it bundles a shared library), so installed into platlib."""

    def has_ext_modules(self) -> bool:
        return True


setup(
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel, "sdist": SdistWithGo},
    distclass=BinaryDistribution,
)
