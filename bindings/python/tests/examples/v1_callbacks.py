# paho-mqtt 1.x callback signatures (CallbackAPIVersion.VERSION1).
import sys

import hamqtt.client as mqtt


def on_connect(client, userdata, flags, rc):
    print("connected flags=%s rc=%s" % (flags, rc))
    client.subscribe([("v1/a", 0), ("v1/b", 1)])


def on_subscribe(client, userdata, mid, granted_qos):
    print("subscribed mid=%d granted=%s" % (mid, granted_qos))
    client.publish("v1/a", "A", qos=0)
    client.publish("v1/b", "B", qos=1)


def on_publish(client, userdata, mid):
    print("published mid=%d" % mid)


def on_message(client, userdata, msg):
    print("message %s %s" % (msg.topic, msg.payload))
    userdata.append(msg.topic)
    if len(userdata) == 2:
        client.unsubscribe("v1/a")


def on_unsubscribe(client, userdata, mid):
    print("unsubscribed mid=%d" % mid)
    client.disconnect()


def on_disconnect(client, userdata, rc):
    print("disconnected rc=%s" % rc)


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, userdata=[])
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_publish = on_publish
client.on_message = on_message
client.on_unsubscribe = on_unsubscribe
client.on_disconnect = on_disconnect
client.connect(sys.argv[1], int(sys.argv[2]), 60)
client.loop_forever()
print("done")
