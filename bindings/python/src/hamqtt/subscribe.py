"""Subscribing helpers, as ``paho.mqtt.subscribe``: :func:`simple` and :func:`callback`.

``hostname`` may name one broker, a list (``"a:1883,b:1884"``) or a URI with ranges.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Literal, Optional, Union

from . import client as mqtt
from .client import MQTTException

__all__ = ["simple", "callback"]


def _on_connect(c: mqtt.Client, userdata: Dict[str, Any], flags: Any, reason_code: Any, properties: Any) -> None:
    if reason_code != 0:
        raise MQTTException(mqtt.connack_string(reason_code))
    if isinstance(userdata["topics"], list):
        for topic in userdata["topics"]:
            c.subscribe(topic, userdata["qos"])
    else:
        c.subscribe(userdata["topics"], userdata["qos"])


def _on_message_callback(c: mqtt.Client, userdata: Dict[str, Any], message: mqtt.MQTTMessage) -> None:
    userdata["callback"](c, userdata["userdata"], message)


def _on_message_simple(c: mqtt.Client, userdata: Dict[str, Any], message: mqtt.MQTTMessage) -> None:
    if userdata["msg_count"] == 0:
        return
    if message.retain and not userdata["retained"]:
        return
    userdata["msg_count"] -= 1
    if userdata["messages"] is None and userdata["msg_count"] == 0:
        userdata["messages"] = message
        c.disconnect()
        return
    userdata["messages"].append(message)
    if userdata["msg_count"] == 0:
        c.disconnect()


def callback(callback: Callable[[mqtt.Client, Any, mqtt.MQTTMessage], Any], topics: Union[str, List[str]],
             qos: int = 0, userdata: Any = None, hostname: str = "localhost", port: int = 1883,
             client_id: str = "", keepalive: int = 60, will: Optional[Dict[str, Any]] = None,
             auth: Optional[Dict[str, Any]] = None, tls: Any = None,
             protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv311,
             transport: Literal["tcp", "websockets"] = "tcp", clean_session: Optional[bool] = True,
             proxy_args: Any = None) -> None:
    """Subscribe to ``topics`` and call ``callback(client, userdata, message)`` for each message,
    until the callback calls ``client.disconnect()``."""
    from .publish import _configure

    if not callable(callback):
        raise TypeError("callback must be callable")
    if isinstance(qos, bool) or not isinstance(qos, int):
        raise TypeError("qos must be an int")
    if qos < 0 or qos > 2:
        raise ValueError("qos must be in the range 0-2")
    callback_userdata = {"callback": callback, "topics": topics, "qos": qos, "userdata": userdata}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, userdata=callback_userdata,
                    protocol=protocol, transport=transport, clean_session=clean_session)
    c.enable_logger()
    c.on_message = _on_message_callback
    c.on_connect = _on_connect
    _configure(c, will, auth, tls, proxy_args)
    c.connect(hostname, port, keepalive)
    c.loop_forever()


def simple(topics: Union[str, List[str]], qos: int = 0, msg_count: int = 1, retained: bool = True,
           hostname: str = "localhost", port: int = 1883, client_id: str = "", keepalive: int = 60,
           will: Optional[Dict[str, Any]] = None, auth: Optional[Dict[str, Any]] = None, tls: Any = None,
           protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv311,
           transport: Literal["tcp", "websockets"] = "tcp", clean_session: bool = True,
           proxy_args: Any = None) -> Union[mqtt.MQTTMessage, List[mqtt.MQTTMessage]]:
    """Subscribe to ``topics`` and return the first ``msg_count`` messages (one message when
    ``msg_count`` is 1, else a list). ``retained=False`` skips retained messages."""
    if isinstance(msg_count, bool) or not isinstance(msg_count, int):
        raise TypeError("msg_count must be an int")
    if msg_count < 1:
        raise ValueError("msg_count must be > 0")
    messages: Optional[List[mqtt.MQTTMessage]] = None if msg_count == 1 else []
    if protocol == mqtt.MQTTv5:
        clean_session = None  # type: ignore[assignment]  # as paho: MQTT 5 has no clean session
    userdata = {"retained": retained, "msg_count": msg_count, "messages": messages}
    callback(_on_message_simple, topics, qos, userdata, hostname, port, client_id, keepalive, will,
             auth, tls, protocol, transport, clean_session, proxy_args)
    return userdata["messages"]  # type: ignore[return-value]
