// Package mqtt5codec measures the MQTT 5 codec of internal/mqtt5 against the packets package
// of github.com/eclipse/paho.golang on the packets a publisher spends its time on: PUBLISH and
// PUBACK. It is a module of its own so that the engine never depends on paho.golang; README.md
// holds the figures and how to rerun them.
package mqtt5codec
