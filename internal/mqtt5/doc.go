// Package mqtt5 encodes and decodes MQTT 5.0 control packets (OASIS MQTT Version 5.0).
//
// It is a codec only: it knows the bytes of every packet, not sessions, packet identifiers
// in flight or flow control. The engine owns those, as it owns its buffered transport
// (core/transport.go); keeping the codec free of I/O is what lets the same code sit under that
// transport, in tests and in fuzzing.
//
// # Why a codec of our own
//
// A client that clusters brokers it does not control must treat every byte from a broker as
// hostile: a broken or malicious broker must cost a connection, never the process. So decoding
// is strict and returns errors, never panics: lengths are checked against the bytes present and
// against the caller's maximum packet size before anything is allocated, variable byte integers
// must be minimal, reserved bits must be zero, strings must be well-formed UTF-8 without U+0000,
// properties must be allowed in the packet they arrive in and may repeat only where the
// specification lets them (User Property everywhere, Subscription Identifier in PUBLISH).
// Every error is an *Error whose Reason is the reason code a client sends in the DISCONNECT
// that the specification asks for (Malformed Packet, Protocol Error, Packet too large).
//
// Encoding appends to a caller's slice (Append methods), so a caller that reuses its buffer
// encodes without allocating. Encoding validates as well: the codec refuses to write a packet
// a broker would have to reject, so the error reaches the caller and not the broker's logs.
//
// Decoding never copies binary data: Payload, Correlation Data, Authentication Data, the
// password and the will payload of decoded packets alias the input buffer, which the caller
// must therefore not reuse while it still holds the packet. Strings are copied.
package mqtt5
