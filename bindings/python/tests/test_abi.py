"""The ctypes structures match include/hamqtt.h (checked with the C compiler), and the
installed package is complete."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess

import pytest

from hamqtt import _lib

HEADER_DIRS = [
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "include")),
]


def _header_dir():
    for d in HEADER_DIRS:
        if os.path.exists(os.path.join(d, "hamqtt.h")):
            return d
    return None


STRUCTS = {
    "hamqtt_options": _lib.Options,
    "hamqtt_message": _lib.Message,
    "hamqtt_delivery": _lib.Delivery,
    "hamqtt_event": _lib.Event,
    "hamqtt_endpoint_stats": _lib.EndpointStatsStruct,
    "struct hamqtt_outbox_stats": _lib.OutboxStatsStruct,  # no typedef, as struct stat
    "hamqtt_sub_options": _lib.SubOptions,
}


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler")
@pytest.mark.skipif(_header_dir() is None, reason="needs the repository's include/hamqtt.h")
def test_struct_layouts_match_the_header(tmp_path) -> None:
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "hamqtt.h"', "int main(void) {"]
    for cname, py in STRUCTS.items():
        lines.append(f'printf("{cname} size %zu\\n", sizeof({cname}));')
        for fname, _ in py._fields_:
            lines.append(f'printf("{cname}.{fname} %zu\\n", offsetof({cname}, {fname}));')
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "layout"
    cc = shutil.which("cc") or shutil.which("gcc")
    subprocess.run([cc, "-I", _header_dir(), str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    want = {}
    for line in out:
        if line:
            k, v = line.rsplit(" ", 1)
            want[k] = int(v)
    for cname, py in STRUCTS.items():
        assert ctypes.sizeof(py) == want[f"{cname} size"], cname
        for fname, _ in py._fields_:
            assert getattr(py, fname).offset == want[f"{cname}.{fname}"], f"{cname}.{fname}"
    assert _lib.EVENT_SIZE == ctypes.sizeof(_lib.Event)


def test_event_unpack_format_matches_struct() -> None:
    assert _lib.EVENT_SIZE == ctypes.sizeof(_lib.Event)
    ev = _lib.Event()
    ev.kind, ev.status, ev.time_unix_ns = 4, -7, 123
    ev.message.qos, ev.message.payload_len = 2, 9
    ev.message.props = 0x1234
    ev.delivery.id, ev.delivery.status, ev.delivery.reason_code = 77, -8, 0x87
    ev.reason_code = 0x8E
    import struct

    t = struct.unpack(_lib.EVENT_FORMAT, bytes(ev))
    assert t[0] == 4 and t[1] == -7 and t[4] == 123 and t[8] == 9 and t[9] == 2 and t[13] == 0x1234
    assert t[14] == 77 and t[16] == -8 and t[20] == 0x87 and t[21] == 0x8E


def test_installed_package_is_complete() -> None:
    import hamqtt

    pkg = os.path.dirname(hamqtt.__file__)
    assert os.path.exists(os.path.join(pkg, "py.typed"))
    path = _lib.library_path()
    assert os.path.exists(path), path
    assert hamqtt.library_version().count(".") == 2
    if "HAMQTT_LIBRARY" not in os.environ and "site-packages" in pkg:
        assert path == os.path.join(pkg, "libhamqtt.so")
