"""One-shot publishing helpers, as ``paho.mqtt.publish``: :func:`single` and :func:`multiple`.

``hostname`` may name one broker, a list (``"a:1883,b:1884"``) or a URI with ranges.
"""

from __future__ import annotations

import collections
from typing import Any, Deque, Dict, Iterable, List, Literal, Optional, Tuple, Union

from . import client as mqtt
from .client import MQTTException

__all__ = ["single", "multiple"]

MessageDict = Dict[str, Any]
MessageTuple = Tuple[Any, ...]
MessagesList = List[Union[MessageDict, MessageTuple]]


def _do_publish(c: mqtt.Client) -> None:
    queue: Deque[Union[MessageDict, MessageTuple]] = c.user_data_get()
    message = queue.popleft()
    if isinstance(message, dict):
        c.publish(**message)
    elif isinstance(message, (tuple, list)):
        c.publish(*message)
    else:
        raise TypeError("message must be a dict, tuple, or list")


def _on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
    if reason_code == 0:
        if len(userdata) > 0:
            _do_publish(c)
    else:
        raise MQTTException(mqtt.connack_string(reason_code))


def _on_publish(c: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
    if len(userdata) == 0:
        c.disconnect()
    else:
        _do_publish(c)


def _configure(c: mqtt.Client, will: Optional[MessageDict], auth: Optional[Dict[str, Any]],
               tls: Any, proxy_args: Any) -> None:
    if proxy_args is not None:
        c.proxy_set(**proxy_args)
    if auth:
        username = auth.get("username")
        if username:
            c.username_pw_set(username, auth.get("password"))
        else:
            raise KeyError("The 'username' key was not found, this is required for auth")
    if will is not None:
        c.will_set(**will)
    if tls is not None:
        if isinstance(tls, dict):
            tls = dict(tls)
            insecure = tls.pop("insecure", False)
            c.tls_set(**tls)
            if insecure:
                c.tls_insecure_set(insecure)
        else:
            c.tls_set_context(tls)


def multiple(msgs: MessagesList, hostname: str = "localhost", port: int = 1883, client_id: str = "",
             keepalive: int = 60, will: Optional[MessageDict] = None, auth: Optional[Dict[str, Any]] = None,
             tls: Any = None, protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv311,
             transport: Literal["tcp", "websockets"] = "tcp", proxy_args: Any = None) -> None:
    """Publish several messages, then disconnect cleanly.

    Each message is a dict (``topic``, ``payload``, ``qos``, ``retain``) or a tuple
    ``(topic, payload, qos, retain)``. Returns once every message was delivered.
    """
    if not isinstance(msgs, Iterable) or isinstance(msgs, (str, bytes)):
        raise TypeError("msgs must be a list of dicts or tuples")
    queue: Deque[Union[MessageDict, MessageTuple]] = collections.deque(msgs)
    if not queue:
        raise ValueError("msgs is empty")
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, userdata=queue,
                    protocol=protocol, transport=transport)
    c.enable_logger()
    c.on_publish = _on_publish
    c.on_connect = _on_connect
    _configure(c, will, auth, tls, proxy_args)
    c.connect(hostname, port, keepalive)
    c.loop_forever()


def single(topic: str, payload: mqtt.PayloadType = None, qos: int = 0, retain: bool = False,
           hostname: str = "localhost", port: int = 1883, client_id: str = "", keepalive: int = 60,
           will: Optional[MessageDict] = None, auth: Optional[Dict[str, Any]] = None, tls: Any = None,
           protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv311,
           transport: Literal["tcp", "websockets"] = "tcp", proxy_args: Any = None) -> None:
    """Publish one message, then disconnect cleanly."""
    msg: MessageDict = {"topic": topic, "payload": payload, "qos": qos, "retain": retain}
    multiple([msg], hostname, port, client_id, keepalive, will, auth, tls, protocol, transport, proxy_args)
