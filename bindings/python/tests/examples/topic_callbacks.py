# Topic-specific callbacks (the shape of paho-mqtt's examples/client_sub-multiple-callback.py).
import sys
import threading

import hamqtt.client as mqtt


def say(text):
    # One write per line: the loop thread prints too, and print() writes the newline apart.
    sys.stdout.write(text + "\n")

done = threading.Event()
seen = []


def on_message_msgs(mosq, obj, msg):
    say("MESSAGES: " + msg.topic + " " + str(msg.qos) + " " + str(msg.payload))
    count(msg)


def on_message_bytes(mosq, obj, msg):
    say("BYTES: " + msg.topic + " " + str(msg.qos) + " " + str(msg.payload))
    count(msg)


def on_message(mosq, obj, msg):
    say(msg.topic + " " + str(msg.qos) + " " + str(msg.payload))
    count(msg)


def count(msg):
    seen.append(msg.topic)
    if len(seen) == 3:
        done.set()


def on_subscribe(mosq, obj, mid, reason_codes, properties):
    mosq.publish("app/messages/hello", "text", qos=1)
    mosq.publish("app/bytes/blob", b"\x01\x02", qos=1)
    mosq.publish("app/other", "else", qos=1)


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)

# Add message callbacks that will only trigger on a specific subscription match.
mqttc.message_callback_add("app/messages/#", on_message_msgs)
mqttc.message_callback_add("app/bytes/#", on_message_bytes)
mqttc.on_message = on_message
mqttc.on_subscribe = on_subscribe
mqttc.connect(sys.argv[1], int(sys.argv[2]), 60)
mqttc.subscribe("app/#", 1)
mqttc.loop_start()
say("all received: " + str(done.wait(20)))
mqttc.message_callback_remove("app/bytes/#")
mqttc.disconnect()
mqttc.loop_stop()
