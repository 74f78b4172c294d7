# Session present (the shape of paho-mqtt's examples/client_session_present.py).
import sys

import hamqtt.client as mqtt

host, port = sys.argv[1], int(sys.argv[2])
client_id = sys.argv[3]


def on_connect(mqttc, obj, flags, reason_code, properties):
    if obj == 0:
        print("First connection:")
    elif obj == 1:
        print("Second connection:")
    elif obj == 2:
        print("Third connection (with clean session=True):")
    print("    Session present: " + str(flags.session_present))
    print("    Connection result: " + str(reason_code))
    mqttc.disconnect()


def on_disconnect(mqttc, obj, flags, reason_code, properties):
    mqttc.user_data_set(obj + 1)
    if obj == 0:
        mqttc.reconnect()


def on_log(mqttc, obj, level, string):
    print(string)


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
mqttc.on_connect = on_connect
mqttc.on_disconnect = on_disconnect
# Uncomment to enable debug messages
# mqttc.on_log = on_log
mqttc.user_data_set(0)
mqttc.connect(host, port, 60)

mqttc.loop_forever()

# Clear session
mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
mqttc.on_connect = on_connect
mqttc.user_data_set(2)
mqttc.connect(host, port, 60)
mqttc.loop_forever()
