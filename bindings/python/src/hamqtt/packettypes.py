"""MQTT packet type numbers as ``paho.mqtt.packettypes.PacketTypes`` numbers them."""

from __future__ import annotations

__all__ = ["PacketTypes"]


class PacketTypes:
    """Packet types (the first nibble of the fixed header), plus WILLMESSAGE for properties."""

    indexes = range(1, 16)
    CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, \
        UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = indexes
    WILLMESSAGE = 99
    Names = ("reserved", "Connect", "Connack", "Publish", "Puback", "Pubrec", "Pubrel",
             "Pubcomp", "Subscribe", "Suback", "Unsubscribe", "Unsuback", "Pingreq",
             "Pingresp", "Disconnect", "Auth")
