"""``${env:NAME}`` in a configuration file follows os.environ.

The library reads ${env:NAME} from the C library's environment (getenv), which os.environ
updates (putenv): a value set by the program after ``import hamqtt``, after the library (and its
Go runtime) was loaded, is what the next configuration load sees.
"""

from __future__ import annotations

import threading
import uuid
from typing import List

import pytest

import hamqtt
import hamqtt.client as mqtt
from hamqtt import _lib
from brokers import Broker

YAML = """
defaultCluster: envcluster
clusters:
  - name: envcluster
    connections:
      - connection:
          serverURIs: ["${{env:{var}}}"]
"""


def test_env_set_after_import_names_the_broker(broker: Broker, tmp_path, monkeypatch) -> None:
    _lib.lib()  # loaded before the variable exists
    var = "HAMQTT_TEST_BROKER_" + uuid.uuid4().hex[:8].upper()
    path = tmp_path / "mqttv5-client.yaml"
    path.write_text(YAML.format(var=var))

    with pytest.raises(hamqtt.ConfigError, match=var):
        hamqtt.HaClusters.initialize(path)  # not set yet: the error names the variable
    assert not hamqtt.HaClusters.is_initialized()

    monkeypatch.setenv(var, broker.uri)  # os.environ, set after import and load
    with hamqtt.HaClusters.initialize(path) as clusters:
        c = clusters.get_client()
        assert [s.uri for s in c.stats()] == [broker.uri]
        got: List[bytes] = []
        done = threading.Event()

        def on_msg(m: hamqtt.Message) -> None:
            got.append(m.payload)
            done.set()

        c.connect()
        c.subscribe("env/#", 1, callback=on_msg)
        c.publish("env/a", b"through ${env}", qos=1)
        assert done.wait(10)
        assert got == [b"through ${env}"]
    assert not hamqtt.HaClusters.is_initialized()


def test_env_change_seen_by_the_next_load_and_by_the_paho_client(tmp_path, monkeypatch) -> None:
    a, b = Broker().start(), Broker().start()
    try:
        var = "HAMQTT_TEST_BROKER_" + uuid.uuid4().hex[:8].upper()
        path = tmp_path / "hamqtt.yaml"
        path.write_text(YAML.format(var=var))
        monkeypatch.setenv(var, a.uri)
        with hamqtt.HaClusters.initialize(path) as clusters:
            assert [s.uri for s in clusters.get_client().stats()] == [a.uri]
        # A new value, and the file named by HAMQTT_CONFIG set the same way: the paho drop-in
        # bound to the cluster loads it on connect().
        monkeypatch.setenv(var, b.uri)
        monkeypatch.setenv("HAMQTT_CONFIG", str(path))
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, cluster="envcluster")
        try:
            c.connect()
            c.loop_start()
            c.publish("env/b", "x", qos=1).wait_for_publish(10)
            assert [s.uri for s in c._native.stats()] == [b.uri]
            c.disconnect()
            c.loop_stop()
        finally:
            hamqtt.HaClusters.shutdown()
    finally:
        a.stop()
        b.stop()
