# An external event loop written with selectors (the loop of paho-mqtt's
# examples/loop_select.py, with the socket callbacks keeping the selector's registration up to
# date). Only the import and the broker address differ from the paho-mqtt program.
import selectors
import socket
import sys
import threading
import time

import hamqtt.client as mqtt

host, port = sys.argv[1], int(sys.argv[2])
TOPIC = "selectors/echo"


class SelectorsExample:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.threads = set()
        self.subscribed = False
        self.received = []
        self.disconnected = None
        self.closed = False

    # -- socket callbacks: keep the selector in step
    def on_socket_open(self, client, userdata, sock):
        self.threads.add(threading.get_ident())
        print("Socket opened")
        self.sel.register(sock, selectors.EVENT_READ)

    def on_socket_close(self, client, userdata, sock):
        self.threads.add(threading.get_ident())
        print("Socket closed")
        self.sel.unregister(sock)
        self.closed = True

    def on_socket_register_write(self, client, userdata, sock):
        self.sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def on_socket_unregister_write(self, client, userdata, sock):
        self.sel.modify(sock, selectors.EVENT_READ)

    # -- MQTT callbacks
    def on_connect(self, client, userdata, flags, reason_code, properties):
        self.threads.add(threading.get_ident())
        print("Connected: %s" % reason_code)
        client.subscribe(TOPIC, 1)

    def on_subscribe(self, client, userdata, mid, reason_code_list, properties):
        self.threads.add(threading.get_ident())
        print("Subscribed: %s" % reason_code_list)
        self.subscribed = True

    def on_message(self, client, userdata, msg):
        self.threads.add(threading.get_ident())
        self.received.append(msg.payload)

    def on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.threads.add(threading.get_ident())
        self.disconnected = reason_code

    def run_until(self, cond, timeout=15):
        deadline = time.monotonic() + timeout
        next_misc = time.monotonic() + 1
        while not cond():
            if time.monotonic() > deadline:
                raise SystemExit("timed out")
            for key, events in self.sel.select(timeout=0.5):
                if events & selectors.EVENT_READ:
                    self.client.loop_read()
                if events & selectors.EVENT_WRITE and self.client.socket() is not None:
                    self.client.loop_write()
            if time.monotonic() >= next_misc:
                next_misc += 1
                self.client.loop_misc()

    def main(self):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="selectors-example")
        for name in ("on_socket_open", "on_socket_close", "on_socket_register_write",
                     "on_socket_unregister_write", "on_connect", "on_subscribe", "on_message",
                     "on_disconnect"):
            setattr(self.client, name, getattr(self, name))

        self.client.connect(host, port, 60)
        self.client.socket().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2048)
        self.run_until(lambda: self.subscribed)
        for i in range(3):
            self.client.publish(TOPIC, b"Hello" * 40000, qos=1)
            self.run_until(lambda: len(self.received) == i + 1)
            print("Got response with {} bytes".format(len(self.received[i])))
        self.client.disconnect()
        self.run_until(lambda: self.closed)
        print("Disconnected: {}".format(self.disconnected))
        print("loop_read after close: %d" % self.client.loop_read())
        print("loop_misc after close: %d" % self.client.loop_misc())
        print("callbacks on the loop thread: %s" % (self.threads == {threading.get_ident()}))


print("Starting")
SelectorsExample().main()
print("Finished")
