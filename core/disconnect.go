package core

import (
	"fmt"

	"github.com/hamqtt/hamqtt/internal/mqtt5"
)

// DisconnectOptions is what the DISCONNECT that ends a cluster tells each MQTT 5 broker
// (CloseWith, SetDisconnect). Brokers spoken to over MQTT 3.1.1 get their plain DISCONNECT.
type DisconnectOptions struct {
	// Reason is the DISCONNECT's reason code: ReasonNormalDisconnection (0, the default),
	// ReasonDisconnectWithWill (0x04: each broker publishes the will, as if the connection
	// had been lost), or one of the failure codes a client may send (0x80-0x83, 0x90,
	// 0x93-0x97, 0x99).
	Reason ReasonCode
	// SessionExpiry, when not nil, replaces the Session Expiry Interval (seconds) given at
	// connect. MQTT forbids setting a non-zero value when the connect gave zero (a clean
	// session without MQTT5Config.SessionExpiry), so that is refused.
	SessionExpiry *uint32
	// ReasonString is a human-readable reason, for the brokers' logs.
	ReasonString string
	// User are user properties, in order.
	User []UserProperty
}

// ReasonDisconnectWithWill (0x04) asks the broker to publish the client's will although the
// client disconnects normally.
const ReasonDisconnectWithWill ReasonCode = 0x04

// clientDisconnectReasons are the DISCONNECT reason codes a client may send (MQTT 5, 3.14.2.1).
var clientDisconnectReasons = []ReasonCode{0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x99}

// SetDisconnect sets what Close tells each MQTT 5 broker in its DISCONNECT. An invalid d is
// an error and changes nothing.
func (c *Cluster) SetDisconnect(d DisconnectOptions) error {
	pkt, err := c.disconnectPacket(d)
	if err != nil {
		return err
	}
	c.farewell.Store(pkt)
	return nil
}

// CloseWith is Close with the DISCONNECT d for each MQTT 5 broker: for instance
// Reason ReasonDisconnectWithWill to have the wills published. An invalid d is an error and
// the cluster stays open.
func (c *Cluster) CloseWith(d DisconnectOptions) error {
	if err := c.SetDisconnect(d); err != nil {
		return err
	}
	return c.Close()
}

func (c *Cluster) disconnectPacket(d DisconnectOptions) (*mqtt5.Disconnect, error) {
	valid := false
	for _, r := range clientDisconnectReasons {
		valid = valid || r == d.Reason
	}
	if !valid {
		return nil, fmt.Errorf("disconnect: reason code 0x%02X (%s) is not one a client may send: use 0x00 (normal), 0x04 (publish the will) or one of 0x80-0x83, 0x90, 0x93-0x97, 0x99",
			byte(d.Reason), d.Reason)
	}
	if err := validatePropertyString("reason string", d.ReasonString); err != nil {
		return nil, fmt.Errorf("disconnect: %w", err)
	}
	if err := validateUserProperties(d.User); err != nil {
		return nil, fmt.Errorf("disconnect: %w", err)
	}
	pkt := &mqtt5.Disconnect{Reason: mqtt5.ReasonCode(d.Reason)}
	if d.SessionExpiry != nil {
		if *d.SessionExpiry != 0 && connectSessionExpiry(c.cfg.Connection) == 0 {
			return nil, fmt.Errorf("disconnect: a session expiry of %d s after connecting with none is a protocol error in MQTT 5: set MQTT5Config.SessionExpiry (or a persistent session) to keep sessions", *d.SessionExpiry)
		}
		pkt.Properties.SessionExpiry = *d.SessionExpiry
		pkt.Properties.Present.Add(mqtt5.PropSessionExpiry)
	}
	if d.ReasonString != "" {
		pkt.Properties.ReasonString = d.ReasonString
		pkt.Properties.Present.Add(mqtt5.PropReasonString)
	}
	pkt.Properties.User = appendWireUser(pkt.Properties.User, d.User)
	if _, err := pkt.Append(nil); err != nil {
		return nil, fmt.Errorf("disconnect: %w", err)
	}
	return pkt, nil
}
