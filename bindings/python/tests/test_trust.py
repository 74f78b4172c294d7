"""What users trust the client with: TLS verified as paho-mqtt verifies it, values MQTT cannot
carry refused instead of changed, secrets kept out of every output, and topics brokers drop
the connection for refused before anything is sent. Real Mosquitto brokers throughout (a TLS
listener with certificates made here by openssl); paho-mqtt runs beside hamqtt.client where it
is the reference."""

from __future__ import annotations

import logging
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from typing import Any, Iterator, List

import pytest

import hamqtt
import hamqtt.client as mqtt
from brokers import Broker, wait_for

SECRET = "SECRET-pw-4711"


def v2(**kw: Any) -> mqtt.Client:
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kw)


# -- TLS ----------------------------------------------------------------------------------------


class Pki:
    """Two CAs and a server certificate from the first one that names broker.invalid only (the
    tests dial 127.0.0.1, so the host name never matches)."""

    def __init__(self, d: str) -> None:
        self.dir = d

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for name in ("ca", "other"):
            openssl("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
                    "-subj", f"/CN=hamqtt test {name}")
        with open(os.path.join(d, "server.ext"), "w") as f:
            f.write("subjectAltName=DNS:broker.invalid\nextendedKeyUsage=serverAuth\n")
        openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=broker.invalid")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
        # Mosquitto started as root drops to its own user: let it read the test material.
        os.chmod(d, 0o755)
        for f in os.listdir(d):
            os.chmod(os.path.join(d, f), 0o644)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)


@pytest.fixture(scope="module")
def tls_broker() -> Iterator[tuple]:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make certificates")
    d = tempfile.mkdtemp(prefix="hamqtt-pki-")
    pki = Pki(d)
    b = Broker(extra_config=f"certfile {pki.path('server.pem')}\nkeyfile {pki.path('server.key')}\n").start()
    yield b, pki
    b.stop()
    shutil.rmtree(d, ignore_errors=True)


def _round_trip(client: Any, topic: str) -> None:
    got = threading.Event()
    client.on_message = lambda c, u, m: got.set() if m.topic == topic else None
    client.subscribe(topic, 1)
    time.sleep(0.2)
    client.publish(topic, b"x", qos=1).wait_for_publish(5)
    assert got.wait(5), f"no message on {topic}"


def _try_connect(lib: str, port: int, ca: str, *, no_verify: bool = False, skip_hostname: bool = False) -> bool:
    """Connect with `lib` ("hamqtt" or "paho") to 127.0.0.1:port over TLS; True when a message
    went round, False when the connection was refused."""
    if lib == "paho":
        import paho.mqtt.client as paho

        c: Any = paho.Client(paho.CallbackAPIVersion.VERSION2)
    else:
        c = v2(ha_options={"time_to_wait": 2})
    c.tls_set(ca_certs=ca, cert_reqs=ssl.CERT_NONE if no_verify else ssl.CERT_REQUIRED)
    if skip_hostname:
        c.tls_insecure_set(True)
    try:
        c.connect("127.0.0.1", port, 30)
    except (OSError, ssl.SSLError) as exc:  # ConnectionRefusedError, SSLCertVerificationError
        assert "certificate" in str(exc).lower() or "verif" in str(exc).lower(), exc
        return False
    c.loop_start()
    try:
        assert wait_for(c.is_connected, 5)
        _round_trip(c, f"tls/{lib}")
    finally:
        c.disconnect()
        c.loop_stop()
    return True


@pytest.mark.parametrize("lib", ["paho", "hamqtt"])
def test_tls_insecure_set_skips_only_the_host_name_check(tls_broker: tuple, lib: str) -> None:
    if lib == "paho":
        pytest.importorskip("paho.mqtt.client")
    b, pki = tls_broker
    # full verification: the certificate does not name 127.0.0.1
    assert not _try_connect(lib, b.port, pki.path("ca.pem"))
    # tls_insecure_set(True): the host name is not checked, the chain is
    assert _try_connect(lib, b.port, pki.path("ca.pem"), skip_hostname=True)
    assert not _try_connect(lib, b.port, pki.path("other.pem"), skip_hostname=True)
    # cert_reqs=CERT_NONE: nothing is checked
    assert _try_connect(lib, b.port, pki.path("other.pem"), no_verify=True)


def test_tls_set_makes_a_host_without_scheme_tls_and_refuses_tcp(tls_broker: tuple) -> None:
    b, pki = tls_broker
    c = v2()
    c.tls_set(ca_certs=pki.path("ca.pem"))
    c.tls_insecure_set(True)
    c.connect_async("127.0.0.1", b.port)
    assert c._endpoints() == f"ssl://127.0.0.1:{b.port}"
    for uri in (f"tcp://127.0.0.1:{b.port}", f"mqtt://127.0.0.1:{b.port}", f"ssl://127.0.0.1:1,tcp://127.0.0.1:{b.port}"):
        d = v2()
        d.tls_set(ca_certs=pki.path("ca.pem"))
        with pytest.raises(ValueError, match=r"tls_set\(\) was called but .* names a plain"):
            d.connect(uri)
    # TLS options given to the native API for plain endpoints: refused by the library
    with pytest.raises(ValueError, match="no endpoint uses TLS"):
        hamqtt.HaMqttClient(f"tcp://127.0.0.1:{b.port}", tls_skip_hostname_check=True)
    with pytest.raises(ValueError, match="no endpoint uses TLS"):
        hamqtt.HaMqttClient(f"tcp://127.0.0.1:{b.port}", tls_insecure=True)


def test_disabled_verification_is_logged(tls_broker: tuple, caplog: pytest.LogCaptureFixture) -> None:
    b, pki = tls_broker
    # on_log gets the engine's warning
    lines: List[tuple] = []
    c = v2()
    c.on_log = lambda cl, u, level, buf: lines.append((level, buf))
    c.tls_set(ca_certs=pki.path("ca.pem"))
    c.tls_insecure_set(True)
    c.connect("127.0.0.1", b.port)
    c.loop_start()
    try:
        assert wait_for(lambda: any(lv == mqtt.MQTT_LOG_WARNING and "host name verification is off" in s
                                    for lv, s in lines), 5), lines
    finally:
        c.disconnect()
        c.loop_stop()
    # a logger set with enable_logger gets it at WARNING; with no logger and no on_log, the
    # hamqtt.client logger still does
    for use_logger in (True, False):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            c = v2(ha_options={"time_to_wait": 1})
            if use_logger:
                c.enable_logger(logging.getLogger("trust.test"))
            c.tls_set(ca_certs=pki.path("other.pem"), cert_reqs=ssl.CERT_NONE)
            c.connect("127.0.0.1", b.port)
            c.loop_start()
            try:
                assert wait_for(lambda: any(r.levelno == logging.WARNING and "verification is OFF" in r.getMessage()
                                            for r in caplog.records), 5), caplog.text
            finally:
                c.disconnect()
                c.loop_stop()
    # the native API logs through logging too
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hamqtt"):
        h = hamqtt.HaMqttClient(f"ssl://127.0.0.1:{b.port}", tls_ca_file=pki.path("ca.pem"), tls_skip_hostname_check=True)
        try:
            h.connect()
            assert wait_for(lambda: "host name verification is off" in caplog.text, 5), caplog.text
        finally:
            h.close()


# -- values MQTT cannot carry -------------------------------------------------------------------


def test_keepalive_beyond_mqtt_is_refused_not_wrapped() -> None:
    c = v2()
    for bad in (65536, 65537, 10**6):
        with pytest.raises(ValueError, match="65535"):
            c.connect("127.0.0.1", 1, keepalive=bad)
        with pytest.raises(ValueError, match="65535"):
            c.connect_async("127.0.0.1", 1, keepalive=bad)
        with pytest.raises(ValueError, match="65535"):
            c.keepalive = bad
    with pytest.raises(ValueError, match="whole number of seconds"):
        c.connect_async("127.0.0.1", 1, keepalive=0.5)
    with pytest.raises(ValueError, match="Keepalive must be >=0"):
        c.connect_async("127.0.0.1", 1, keepalive=-1)
    c.connect_async("127.0.0.1", 1, keepalive=65535)
    assert c.keepalive == 65535
    for bad in (65536, 0.5, 1.5):
        with pytest.raises(ValueError, match="keep_alive"):
            hamqtt.ClusterOptions(keep_alive=bad).to_struct()
    assert hamqtt.ClusterOptions(keep_alive=65535).to_struct().struct.keep_alive_ms == 65535000
    for bad in (float("nan"), float("inf"), float("-inf"), 1e300):
        with pytest.raises(ValueError, match="connect_rate"):
            hamqtt.ClusterOptions(connect_rate=bad).to_struct()
        with pytest.raises(ValueError, match="connect_rate"):
            hamqtt.HaMqttClient("127.0.0.1:1", connect_rate=bad)


def test_oversized_and_invalid_session_strings_are_refused() -> None:
    big = "x" * 65536
    with pytest.raises(ValueError, match="65535"):
        v2(client_id=big)
    with pytest.raises(ValueError, match="control character U\\+0001"):
        v2(client_id="a\x01b")
    with pytest.raises(ValueError, match="non-character U\\+FFFF"):
        v2(client_id="a\uffff")
    with pytest.raises(ValueError, match="not valid UTF-8"):
        v2(client_id=b"a\xff")
    c = v2(client_id="x" * 65535)
    with pytest.raises(ValueError, match="65535"):
        c.username_pw_set(big)
    with pytest.raises(ValueError, match="control character"):
        c.username_pw_set("al\x7fice")
    with pytest.raises(ValueError, match="password is 65536 bytes long") as exc:
        c.username_pw_set("alice", big)
    assert "xxxx" not in str(exc.value)
    with pytest.raises(ValueError, match="65535"):
        c.will_set("will", b"w" * 65536)
    with pytest.raises(ValueError, match="control character"):
        c.will_set("will\x01")
    c.will_set("will", b"w" * 65535)
    for kw, pat in (({"client_id": big}, "client_id is 65536 bytes"), ({"client_id": "a\x1fb"}, "control"),
                    ({"username": big}, "username is 65536 bytes"), ({"password": big}, "password is 65536 bytes"),
                    ({"will": hamqtt.Will("w", b"p" * 65536)}, "65535 for a will")):
        with pytest.raises(ValueError, match=pat):
            hamqtt.ClusterOptions(**kw).to_struct()
        with pytest.raises(ValueError, match=pat):
            hamqtt.HaMqttClient("127.0.0.1:1", **kw)


# -- secrets ------------------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_passwords_show_in_no_output(broker: Broker) -> None:
    out: List[str] = []
    handler = _Collect()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        # the options objects
        o = hamqtt.ClusterOptions(username="alice", password=SECRET)
        out += [repr(o), str(o), f"{o}", repr([o])]
        assert "password='***'" in repr(o)
        # a Client with the password as an option: every log line at debug, on_log, errors
        c = v2(client_id="trust-secret", ha_options={"time_to_wait": 1})
        c.on_log = lambda cl, u, level, buf: out.append(buf)
        c.enable_logger()
        c.username_pw_set("alice", SECRET)
        c.on_connect_fail = lambda *a: out.append(repr(a))
        c.on_disconnect = lambda *a: out.append(repr(a))
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        assert wait_for(c.is_connected, 5)
        c.subscribe("trust/#", 1)
        c.publish("trust/a", b"x", qos=1).wait_for_publish(5)
        out.append(repr(c))
        c.disconnect()
        c.loop_stop()
        # a broker that is down
        d = v2(ha_options={"time_to_wait": 0.5, "password": SECRET, "username": "bob"})
        d.on_log = lambda cl, u, level, buf: out.append(buf)
        with pytest.raises(ConnectionRefusedError) as exc:
            d.connect("127.0.0.1", 1)
        out.append(str(exc.value))
        # in a broker URI: refused (credentials go in username_pw_set), and not echoed
        for uri in (f"tcp://alice:{SECRET}@127.0.0.1:{broker.port}", f"tcp://{SECRET}@127.0.0.1:{broker.port}",
                    f"127.0.0.1:{broker.port},tcp://alice:{SECRET}@127.0.0.1:1-2000"):
            e = v2()
            e.on_log = lambda cl, u, level, buf: out.append(buf)
            e.enable_logger()
            with pytest.raises(ValueError) as exc2:
                e.connect(uri)
            out.append(str(exc2.value))
            out.append(repr(exc2.value))
            with pytest.raises(ValueError) as exc3:
                hamqtt.HaMqttClient(uri, password=SECRET)
            out.append(str(exc3.value))
        # the native API: repr, logs, error events
        errors: List[str] = []
        h = hamqtt.HaMqttClient(f"tcp://127.0.0.1:{broker.port},tcp://127.0.0.1:1", username="alice", password=SECRET,
                                time_to_wait=1)
        h.on_error = lambda err: errors.append(repr(err))
        h.connect()
        h.publish("trust/b", b"x", qos=1)
        out += [repr(h), str(h.stats()), *errors]
        h.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    out += handler.lines
    assert len(out) > 10
    leaked = [s for s in out if SECRET in s]
    assert leaked == []


# -- poison topics ------------------------------------------------------------------------------

POISON = ["a\x01b", "a/\x1f", "a\x7f", "a\x85", "a\uffff", "a\ufdd0", "a\U0001fffe"]


def test_poison_topics_are_refused_before_anything_is_sent(broker: Broker) -> None:
    c = v2(client_id="trust-poison")
    # not connected: refused, not quietly dropped or queued
    for t in POISON:
        for qos in (0, 1, 2):
            with pytest.raises(ValueError, match="Invalid topic"):
                c.publish(t, b"x", qos=qos)
    got: List[str] = []
    drops: List[Any] = []
    c.on_message = lambda cl, u, m: got.append(m.topic)
    c.on_disconnect = lambda *a: drops.append(a)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        assert wait_for(c.is_connected, 5)
        c.subscribe("#", 1)
        time.sleep(0.2)
        for t in POISON:
            for qos in (0, 1, 2):
                with pytest.raises(ValueError, match="Invalid topic"):
                    c.publish(t, b"x", qos=qos)
                with pytest.raises(ValueError, match="Invalid topic"):
                    c.publish(t.encode("utf-8", "surrogatepass"), b"x", qos=qos)
            with pytest.raises(ValueError, match="Invalid topic"):
                c.subscribe(t, 0)
            with pytest.raises(ValueError, match="Invalid topic"):
                c.unsubscribe(t)
        with pytest.raises(ValueError, match="not valid UTF-8"):
            c.publish(b"a\xff", b"x")
        c.publish("trust/after", b"ok", qos=1).wait_for_publish(5)
        assert wait_for(lambda: got, 5)
        assert got[0] == "trust/after"  # nothing reached the broker before
        assert drops == []  # and the connection was never dropped
    finally:
        c.disconnect()
        c.loop_stop()
    h = hamqtt.HaMqttClient(broker.uri)
    try:
        h.connect()
        for t in POISON:
            for qos in (0, 1):
                with pytest.raises(ValueError, match="U\\+"):
                    h.publish(t, b"x", qos=qos)
                with pytest.raises(ValueError, match="U\\+"):
                    h.publish_detached(t, b"x", qos=qos)
            with pytest.raises(ValueError, match="U\\+"):
                h.subscribe(t)
    finally:
        h.close()


def test_every_code_point_is_judged_as_the_rule_says() -> None:
    # The check of every publish's topic takes fast paths (ASCII, one regular expression); they
    # must agree with the rule itself for every code point, alone and inside a string.
    from hamqtt.options import mqtt_string_problem

    def forbidden(o: int) -> bool:
        return (o < 0x20 or 0x7F <= o <= 0x9F or 0xFDD0 <= o <= 0xFDEF or (o & 0xFFFE) == 0xFFFE
                or 0xD800 <= o <= 0xDFFF)

    for o in range(0x110000):
        if o < 0x3000 or forbidden(o) or o % 97 == 0:
            ch = chr(o)
            assert (mqtt_string_problem(ch) is not None) == forbidden(o), hex(o)
            assert (mqtt_string_problem("a/" + ch + "/b") is not None) == forbidden(o), hex(o)
