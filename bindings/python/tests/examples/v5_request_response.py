# An MQTT 5 request/response exchange in paho-mqtt 2.x's style (CallbackAPIVersion.VERSION2,
# protocol=MQTTv5): a responder subscribes to requests with No Local; a requester, connecting
# without a client id, subscribes to its reply topic with a subscription identifier and sends a
# request carrying a Response Topic, Correlation Data, a Content Type and user properties; the
# responder answers on the Response Topic with the same Correlation Data.
#
# Usage: v5_request_response.py HOST PORT
import json
import sys
import threading

import hamqtt.client as mqtt
from hamqtt.packettypes import PacketTypes
from hamqtt.properties import Properties
from hamqtt.subscribeoptions import SubscribeOptions

HOST, PORT = sys.argv[1], int(sys.argv[2])
REQUESTS = "demo5/service/requests"
REPLIES = "demo5/client/replies"

responder_ready = threading.Event()
print_lock = threading.Lock()


def say(*parts):
    """print() from the clients' loop threads, one whole line at a time."""
    with print_lock:
        sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
        sys.stdout.flush()


replies_ready = threading.Event()
answered = threading.Event()
reply_acknowledged = threading.Event()


def show(props):
    """The properties as a sorted, printable dict (the expiry a broker forwards is what is left
    of it: it is shown as a range)."""
    d = props.json()
    if "MessageExpiryInterval" in d:
        d["MessageExpiryInterval"] = "3500..3600" if 3500 <= d["MessageExpiryInterval"] <= 3600 else "?"
    return json.dumps(d, sort_keys=True)


# --- the responder --------------------------------------------------------------------------

def responder_connect(client, userdata, flags, reason_code, properties):
    say("responder connected:", reason_code, "session present:", flags.session_present)
    client.subscribe(REQUESTS, options=SubscribeOptions(qos=1, noLocal=True))


def responder_subscribe(client, userdata, mid, reason_code_list, properties):
    say("responder subscribed:", [str(rc) for rc in reason_code_list])
    responder_ready.set()


def responder_message(client, userdata, message):
    request = message.properties
    say("request:", message.payload.decode(), show(request))
    reply = Properties(PacketTypes.PUBLISH)
    reply.CorrelationData = request.CorrelationData
    reply.ContentType = "application/json"
    reply.PayloadFormatIndicator = 1
    reply.UserProperty = [("status", "ok"), ("served-by", "responder")]
    result = {"sum": sum(json.loads(message.payload))}
    client.publish(request.ResponseTopic, json.dumps(result), qos=1, properties=reply)


def responder_publish(client, userdata, mid, reason_code, properties):
    say("reply published:", reason_code)
    reply_acknowledged.set()


responder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo5-responder", protocol=mqtt.MQTTv5)
responder.on_connect = responder_connect
responder.on_subscribe = responder_subscribe
responder.on_message = responder_message
responder.on_publish = responder_publish
connect_props = Properties(PacketTypes.CONNECT)
connect_props.SessionExpiryInterval = 0
connect_props.UserProperty = ("role", "responder")
responder.connect(HOST, PORT, 60, clean_start=True, properties=connect_props)
responder.loop_start()
responder_ready.wait(20)

# --- the requester --------------------------------------------------------------------------


def requester_connect(client, userdata, flags, reason_code, properties):
    say("requester connected:", reason_code,
          "assigned a client id:", hasattr(properties, "AssignedClientIdentifier"))
    sub_props = Properties(PacketTypes.SUBSCRIBE)
    sub_props.SubscriptionIdentifier = 42
    client.subscribe(REPLIES, qos=1, properties=sub_props)


def requester_subscribe(client, userdata, mid, reason_code_list, properties):
    say("requester subscribed:", [str(rc) for rc in reason_code_list])
    replies_ready.set()


def requester_message(client, userdata, message):
    say("reply:", message.topic, message.payload.decode(), message.qos, show(message.properties))
    answered.set()


def requester_publish(client, userdata, mid, reason_code, properties):
    say("request published:", reason_code, properties)


requester = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
requester.on_connect = requester_connect
requester.on_subscribe = requester_subscribe
requester.on_message = requester_message
requester.on_publish = requester_publish
requester.connect(HOST, PORT, 60)
requester.loop_start()
replies_ready.wait(20)

request = Properties(PacketTypes.PUBLISH)
request.ResponseTopic = REPLIES
request.CorrelationData = b"\x00request-1"
request.ContentType = "application/json"
request.MessageExpiryInterval = 3600
request.UserProperty = ("tenant", "blue")
request.UserProperty = ("tenant", "green")
info = requester.publish(REQUESTS, json.dumps([1, 2, 3]), qos=1, properties=request)
info.wait_for_publish(20)
say("request is published:", info.is_published())
say("answered:", answered.wait(20))
reply_acknowledged.wait(20)  # the responder's PUBACK may come after the requester has the reply


def on_disconnect(client, userdata, flags, reason_code, properties):
    say("disconnected:", reason_code)


for client in (requester, responder):
    client.on_disconnect = on_disconnect
    client.disconnect()
    client.loop_stop()
say("done")
