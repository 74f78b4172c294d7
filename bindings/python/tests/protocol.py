"""The MQTT version the version-independent tests speak: HAMQTT_TEST_PROTOCOL=5 runs them over
MQTT 5 (``make py-test`` runs them once more that way), where their behaviour must be the same
as over MQTT 3.1.1 (the default)."""

from __future__ import annotations

import os
from typing import Any, Dict

import pytest

V5 = os.environ.get("HAMQTT_TEST_PROTOCOL") == "5"


def client_kwargs() -> Dict[str, Any]:
    """The hamqtt.client.Client (and paho) arguments of the protocol under test."""
    return {"protocol": 5} if V5 else {}


def ha_kwargs() -> Dict[str, Any]:
    """The HaMqttClient / ClusterOptions fields of the protocol under test."""
    return {"protocol_version": 5} if V5 else {}


mqtt311_only = pytest.mark.skipif(V5, reason="MQTT 3.1.1 behaviour (the MQTT 5 run skips it)")
