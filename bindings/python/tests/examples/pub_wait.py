# Publish and wait (the shape of paho-mqtt's examples/client_pub-wait.py).
import sys

import hamqtt.client as mqtt


def say(text):
    # One write per line: the loop thread prints too, and print() writes the newline apart.
    sys.stdout.write(text + "\n")


def on_connect(mqttc, obj, flags, reason_code, properties):
    say("reason_code: " + str(reason_code))


def on_message(mqttc, obj, msg):
    say(msg.topic + " " + str(msg.qos) + " " + str(msg.payload))


def on_publish(mqttc, obj, mid, reason_code, properties):
    say("mid: " + str(mid))


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
mqttc.on_message = on_message
mqttc.on_connect = on_connect
mqttc.on_publish = on_publish
mqttc.connect(sys.argv[1], int(sys.argv[2]), 60)

mqttc.loop_start()

say("tuple")
(rc, mid) = mqttc.publish("tuple", "bar", qos=2)
say("rc " + str(rc) + " mid " + str(mid))
say("class")
infot = mqttc.publish("class", "bar", qos=2)

infot.wait_for_publish()
say("published: " + str(infot.is_published()))
info0 = mqttc.publish("zero", b"\x00\x01", qos=0)
info0.wait_for_publish(5)
say("qos0 published: " + str(info0.is_published()))
mqttc.disconnect()
mqttc.loop_stop()
say("done")
