'use strict'
// hamqtt for Node.js: MQTT.js's API over a virtual cluster of independent brokers, and the
// native HA API (HaClusters, HaMqttClient). Migration from MQTT.js is one line:
//   const mqtt = require('mqtt')  ->  const mqtt = require('hamqtt')
const { MqttClient, binding } = require('./lib/client')
const { HaClusters, HaMqttClient } = require('./lib/ha')
const { ErrorWithReasonCode, ErrorWithSubackPacket, ReasonCodes } = require('./lib/props')

/**
 * Connects to a broker or a virtual cluster, as MQTT.js's connect(): returns the client at once
 * and connects in the background ('connect' event).
 */
function connect (brokerUrl, opts) {
  return new MqttClient(brokerUrl, opts)
}

/**
 * connect() as a promise, as MQTT.js's connectAsync(): resolves with the client on 'connect'
 * (or 'end'), rejects on 'error' (ending the client, as MQTT.js with end()). With
 * allowRetries false, also rejects on 'close' ("Couldn't connect to server").
 */
function connectAsync (brokerUrl, opts, allowRetries = true) {
  return new Promise((resolve, reject) => {
    const client = connect(brokerUrl, opts)
    const listeners = {
      connect: () => { remove(); resolve(client) },
      end: () => { remove(); resolve(client) },
      error: (err) => { remove(); client.end(); reject(err) }
    }
    if (allowRetries === false) {
      listeners.close = () => { listeners.error(new Error("Couldn't connect to server")) }
    }
    function remove () {
      for (const [event, fn] of Object.entries(listeners)) client.off(event, fn)
    }
    for (const [event, fn] of Object.entries(listeners)) client.on(event, fn)
  })
}

const api = {
  connect,
  connectAsync,
  MqttClient,
  Client: MqttClient,
  HaClusters,
  HaMqttClient,
  /** MQTT 5: the error of a refused publish (err.code: the broker's reason code), as MQTT.js's. */
  ErrorWithReasonCode,
  /** MQTT 5: the error of a refused subscribe (err.packet: the SUBACK), as MQTT.js's. */
  ErrorWithSubackPacket,
  /** MQTT 5 reason codes and their texts, as MQTT.js's ReasonCodes. */
  ReasonCodes,
  /** libhamqtt's version. */
  libraryVersion: binding.version(),
  /** Status codes of the C API (HAMQTT_ERR_*), as on errors' .status; .code holds the name. */
  status: Object.freeze(binding.statusCodes())
}
api.default = api
module.exports = api
