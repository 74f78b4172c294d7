# An external asyncio event loop drives the client (the shape of paho-mqtt's
# examples/loop_asyncio.py): the socket callbacks register the client's socket with the loop,
# loop_read() runs when it is readable, loop_write() while write interest is registered, and
# loop_misc() every second until it stops returning MQTT_ERR_SUCCESS. Every callback runs on
# the loop's thread. Only the import and the broker address differ from the paho-mqtt program.
import asyncio
import socket
import sys
import threading

import hamqtt.client as mqtt

host, port = sys.argv[1], int(sys.argv[2])
TOPIC = "asyncio/echo"
callback_threads = set()


def seen():
    callback_threads.add(threading.get_ident())


class AsyncioHelper:
    def __init__(self, loop, client):
        self.loop = loop
        self.client = client
        self.misc = None
        self.closed = loop.create_future()
        client.on_socket_open = self.on_socket_open
        client.on_socket_close = self.on_socket_close
        client.on_socket_register_write = self.on_socket_register_write
        client.on_socket_unregister_write = self.on_socket_unregister_write

    def on_socket_open(self, client, userdata, sock):
        seen()
        print("Socket opened")
        self.loop.add_reader(sock, client.loop_read)
        self.misc = self.loop.create_task(self.misc_loop())

    def on_socket_close(self, client, userdata, sock):
        seen()
        print("Socket closed")
        self.loop.remove_reader(sock)
        self.misc.cancel()
        self.closed.set_result(True)

    def on_socket_register_write(self, client, userdata, sock):
        seen()
        self.loop.add_writer(sock, client.loop_write)

    def on_socket_unregister_write(self, client, userdata, sock):
        seen()
        self.loop.remove_writer(sock)

    async def misc_loop(self):
        while self.client.loop_misc() == mqtt.MQTT_ERR_SUCCESS:
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                break
        print("misc_loop finished")


class AsyncMqttExample:
    def __init__(self, loop):
        self.loop = loop

    def on_connect(self, client, userdata, flags, reason_code, properties):
        seen()
        print("Connected: %s" % reason_code)
        client.subscribe(TOPIC, 1)

    def on_subscribe(self, client, userdata, mid, reason_code_list, properties):
        seen()
        print("Subscribed: %s" % reason_code_list)
        self.subscribed.set_result(True)

    def on_message(self, client, userdata, msg):
        seen()
        if self.got_message is None:
            print("Got unexpected message on %s" % msg.topic)
        else:
            self.got_message.set_result(msg.payload)

    def on_publish(self, client, userdata, mid, reason_code, properties):
        seen()

    def on_disconnect(self, client, userdata, flags, reason_code, properties):
        seen()
        self.disconnected.set_result(reason_code)

    async def main(self):
        self.disconnected = self.loop.create_future()
        self.subscribed = self.loop.create_future()
        self.got_message = None

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="asyncio-example")
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_message = self.on_message
        self.client.on_publish = self.on_publish
        self.client.on_disconnect = self.on_disconnect

        aioh = AsyncioHelper(self.loop, self.client)

        self.client.connect(host, port, 60)
        self.client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2048)
        await asyncio.wait_for(self.subscribed, 15)

        for c in range(3):
            print("Publishing")
            self.got_message = self.loop.create_future()
            self.client.publish(TOPIC, b"Hello" * 40000, qos=1)
            msg = await asyncio.wait_for(self.got_message, 15)
            print("Got response with {} bytes".format(len(msg)))
            self.got_message = None

        self.client.disconnect()
        print("Disconnected: {}".format(await asyncio.wait_for(self.disconnected, 15)))
        await asyncio.wait_for(aioh.closed, 15)
        await asyncio.gather(aioh.misc, return_exceptions=True)
        print("socket after close: %s" % self.client.socket())
        print("loop_misc after close: %d" % self.client.loop_misc())
        print("callbacks on the loop thread: %s" % (callback_threads == {threading.get_ident()}))


print("Starting")
loop = asyncio.new_event_loop()
loop.run_until_complete(AsyncMqttExample(loop).main())
loop.close()
print("Finished")
