# Subscribe and print (the shape of paho-mqtt's examples/client_sub.py).
# Only the import and the broker address differ from the paho-mqtt program.
import sys

import hamqtt.client as mqtt


def on_connect(mqttc, obj, flags, reason_code, properties):
    print("reason_code: " + str(reason_code), flush=True)


def on_message(mqttc, obj, msg):
    print(msg.topic + " " + str(msg.qos) + " " + str(msg.payload), flush=True)
    obj["count"] += 1
    if obj["count"] == 3:
        mqttc.disconnect()


def on_subscribe(mqttc, obj, mid, reason_code_list, properties):
    print("Subscribed: " + str(mid) + " " + str(reason_code_list[0]), flush=True)


def on_log(mqttc, obj, level, string):
    print(string)


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, userdata={"count": 0})
mqttc.on_message = on_message
mqttc.on_connect = on_connect
mqttc.on_subscribe = on_subscribe
# Uncomment to enable debug messages
# mqttc.on_log = on_log
mqttc.connect(sys.argv[1], int(sys.argv[2]), 60)
mqttc.subscribe("demo/#", 1)

mqttc.loop_forever()
print("done", flush=True)
