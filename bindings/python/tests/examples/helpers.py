# The publish and subscribe helpers (paho-mqtt's examples/publish_*.py, subscribe_*.py).
import sys

import hamqtt.publish as publish
import hamqtt.subscribe as subscribe

host, port = sys.argv[1], int(sys.argv[2])

publish.single("helpers/single", "one", qos=1, retain=True, hostname=host, port=port)
msg = subscribe.simple("helpers/single", hostname=host, port=port)
print("simple: %s %s retained=%s" % (msg.topic, msg.payload, msg.retain))

msgs = [{"topic": "helpers/multi/a", "payload": "multiple 1", "retain": True},
        ("helpers/multi/b", "multiple 2", 0, True)]
publish.multiple(msgs, hostname=host, port=port)
got = subscribe.simple("helpers/multi/#", qos=1, msg_count=2, hostname=host, port=port)
for m in sorted(got, key=lambda m: m.topic):
    print("multiple: %s %s" % (m.topic, m.payload))


def on_message_print(client, userdata, message):
    print("callback: %s %s %s" % (userdata, message.topic, message.payload))
    userdata.append(message.topic)
    if len(userdata) == 4:  # "u" and the three retained messages: a count that does not race their arrival
        client.disconnect()


subscribe.callback(on_message_print, "helpers/#", hostname=host, port=port, userdata=["u"])
print("done")
