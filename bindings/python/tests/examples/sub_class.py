# Callbacks as methods of a subclass (the shape of paho-mqtt's examples/client_sub-class.py),
# with either callback API version (argv[3]: "1" or "2"), driven by `while rc == 0: rc = loop()`.
# Only the import and the broker address differ from the paho-mqtt program.
import sys

import hamqtt.client as mqtt

host, port, version = sys.argv[1], int(sys.argv[2]), sys.argv[3]
TOPIC = "subclass/v" + version
# on_log lines both libraries write the same way (packet ids of received messages differ).
SHOWN = ("Sending CONNECT", "Received CONNACK", "Sending SUBSCRIBE", "Received SUBACK",
         "Sending PUBLISH", "Received PUBACK", "Sending UNSUBSCRIBE", "Received UNSUBACK",
         "Sending DISCONNECT")


class Common(mqtt.Client):

    def on_connect_fail(self, mqttc, obj):
        print("Connect failed")

    def on_message(self, mqttc, obj, msg):
        print(msg.topic + " " + str(msg.qos) + " " + str(msg.payload))
        self.unsubscribe(TOPIC)

    def on_log(self, mqttc, obj, level, string):
        if string.startswith(SHOWN):
            print("log %d: %s" % (level, string))

    def run(self):
        self.connect(host, port, 60)
        self.subscribe(TOPIC, 1)

        rc = 0
        while rc == 0:
            rc = self.loop()
        return rc


class MyMQTTClassV2(Common):

    def on_connect(self, mqttc, obj, flags, reason_code, properties):
        print("rc: " + str(reason_code) + " session present: " + str(flags.session_present))

    def on_publish(self, mqttc, obj, mid, reason_code, properties):
        print("mid: " + str(mid) + " " + str(reason_code))

    def on_subscribe(self, mqttc, obj, mid, reason_code_list, properties):
        print("Subscribed: " + str(mid) + " " + str(reason_code_list))
        self.publish(TOPIC, "hello", qos=1)

    def on_unsubscribe(self, mqttc, obj, mid, reason_code_list, properties):
        print("Unsubscribed: " + str(mid) + " " + str(reason_code_list))
        self.disconnect()

    def on_disconnect(self, mqttc, obj, flags, reason_code, properties):
        print("Disconnected: " + str(reason_code))


class MyMQTTClassV1(Common):

    def on_connect(self, mqttc, obj, flags, rc):
        print("rc: " + str(rc) + " flags: " + str(flags))

    def on_publish(self, mqttc, obj, mid):
        print("mid: " + str(mid))

    def on_subscribe(self, mqttc, obj, mid, granted_qos):
        print("Subscribed: " + str(mid) + " " + str(granted_qos))
        self.publish(TOPIC, "hello", qos=1)

    def on_unsubscribe(self, mqttc, obj, mid):
        print("Unsubscribed: " + str(mid))
        self.disconnect()

    def on_disconnect(self, mqttc, obj, rc):
        print("Disconnected: " + str(rc))


if version == "2":
    mqttc = MyMQTTClassV2(mqtt.CallbackAPIVersion.VERSION2, client_id="sub-class-v2")
else:
    mqttc = MyMQTTClassV1(mqtt.CallbackAPIVersion.VERSION1, client_id="sub-class-v1")
rc = mqttc.run()

print("rc: " + str(rc))
