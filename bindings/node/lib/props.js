'use strict'
// MQTT 5 properties in MQTT.js's shape ({ payloadFormatIndicator: true, userProperties:
// { k: 'v' | ['v1', 'v2'] }, correlationData: Buffer, ... }), checked, and handed to the addon:
// a publish's as a flat list for the library's setters, the CONNECT's and the will's in the MQTT
// 5 wire form (hamqtt_props_decode, once per client); received ones as the addon reads them.
// Also the reason codes and the error classes of MQTT.js 5.
const { typeError, rangeError, unsupported, describe, mqttStringProblem } = require('./options')

// Property identifiers (MQTT 5, 2.2.2.2), and the MQTT.js names of those hamqtt passes on.
const ID = {
  payloadFormatIndicator: 0x01,
  messageExpiryInterval: 0x02,
  contentType: 0x03,
  responseTopic: 0x08,
  correlationData: 0x09,
  subscriptionIdentifier: 0x0b,
  sessionExpiryInterval: 0x11,
  assignedClientIdentifier: 0x12,
  serverKeepAlive: 0x13,
  responseInformation: 0x1a,
  serverReference: 0x1c,
  reasonString: 0x1f,
  receiveMaximum: 0x21,
  topicAliasMaximum: 0x22,
  topicAlias: 0x23,
  maximumQoS: 0x24,
  retainAvailable: 0x25,
  userProperties: 0x26,
  maximumPacketSize: 0x27,
  wildcardSubscriptionAvailable: 0x28,
  subscriptionIdentifiersAvailable: 0x29,
  sharedSubscriptionAvailable: 0x2a
}
const U32_MAX = 0xffffffff

// ---------------------------------------------------------------------------------------------
// Reason codes and errors, as MQTT.js 5

const ReasonCodes = Object.freeze({
  0: '',
  1: 'Unacceptable protocol version',
  2: 'Identifier rejected',
  3: 'Server unavailable',
  4: 'Bad username or password',
  5: 'Not authorized',
  16: 'No matching subscribers',
  17: 'No subscription existed',
  128: 'Unspecified error',
  129: 'Malformed Packet',
  130: 'Protocol Error',
  131: 'Implementation specific error',
  132: 'Unsupported Protocol Version',
  133: 'Client Identifier not valid',
  134: 'Bad User Name or Password',
  135: 'Not authorized',
  136: 'Server unavailable',
  137: 'Server busy',
  138: 'Banned',
  139: 'Server shutting down',
  140: 'Bad authentication method',
  141: 'Keep Alive timeout',
  142: 'Session taken over',
  143: 'Topic Filter invalid',
  144: 'Topic Name invalid',
  145: 'Packet identifier in use',
  146: 'Packet Identifier not found',
  147: 'Receive Maximum exceeded',
  148: 'Topic Alias invalid',
  149: 'Packet too large',
  150: 'Message rate too high',
  151: 'Quota exceeded',
  152: 'Administrative action',
  153: 'Payload format invalid',
  154: 'Retain not supported',
  155: 'QoS not supported',
  156: 'Use another server',
  157: 'Server moved',
  158: 'Shared Subscriptions not supported',
  159: 'Connection rate exceeded',
  160: 'Maximum connect time',
  161: 'Subscription Identifiers not supported',
  162: 'Wildcard Subscriptions not supported'
})

/** An error with the broker's MQTT 5 reason code in .code, as MQTT.js's. */
class ErrorWithReasonCode extends Error {
  constructor (message, code) {
    super(message)
    this.code = code
  }
}
Object.defineProperty(ErrorWithReasonCode.prototype, 'name', { value: 'ErrorWithReasonCode', configurable: true, writable: true })

/** A failed subscribe with the SUBACK in .packet, as MQTT.js's. */
class ErrorWithSubackPacket extends Error {
  constructor (message, packet) {
    super(message)
    this.packet = packet
  }
}
Object.defineProperty(ErrorWithSubackPacket.prototype, 'name', { value: 'ErrorWithSubackPacket', configurable: true, writable: true })

// ---------------------------------------------------------------------------------------------
// Encoding (what the application gives)

class Writer {
  constructor () {
    this.parts = []
    this.length = 0
  }

  push (b) {
    this.parts.push(b)
    this.length += b.length
  }

  byte (id, v) { this.push(Buffer.from([id, v])) }
  u16 (id, v) {
    const b = Buffer.allocUnsafe(3)
    b[0] = id
    b.writeUInt16BE(v, 1)
    this.push(b)
  }

  u32 (id, v) {
    const b = Buffer.allocUnsafe(5)
    b[0] = id
    b.writeUInt32BE(v, 1)
    this.push(b)
  }

  vbi (id, v) { this.push(Buffer.from([id, ...vbiBytes(v)])) }
  bin (id, data) {
    const b = Buffer.allocUnsafe(3)
    b[0] = id
    b.writeUInt16BE(data.length, 1)
    this.push(b)
    this.push(data)
  }

  str (id, s) { this.bin(id, Buffer.from(s, 'utf8')) }
  pair (k, v) {
    this.str(ID.userProperties, k)
    const b = Buffer.from(v, 'utf8')
    const l = Buffer.allocUnsafe(2)
    l.writeUInt16BE(b.length, 0)
    this.push(l)
    this.push(b)
  }

  // The wire form: the length, then the properties; null when there are none.
  finish () {
    if (this.length === 0) return null
    return Buffer.concat([Buffer.from(vbiBytes(this.length)), ...this.parts])
  }
}

// The same properties as a flat list for the addon, which sets them on a hamqtt_props with the
// library's setters (plain C, no call into Go) right before the publish: [id, value, ...], a
// user property as [0x26, name, value]. Measured with five properties: this list takes 0.6-0.9
// us here and the setters 0.4 us, where the wire form took 3-4.5 us here (Buffers) and 2.3 us
// for the library to decode it (a call into Go).
class FlatWriter {
  constructor () { this.list = [] }
  byte (id, v) { this.list.push(id, v) }
  u16 (id, v) { this.list.push(id, v) }
  u32 (id, v) { this.list.push(id, v) }
  bin (id, data) { this.list.push(id, data) }
  str (id, s) { this.list.push(id, s) }
  pair (k, v) { this.list.push(ID.userProperties, k, v) }
  finish () { return this.list.length === 0 ? null : this.list }
}

function vbiBytes (v) {
  const out = []
  do {
    let b = v % 128
    v = Math.floor(v / 128)
    if (v > 0) b |= 0x80
    out.push(b)
  } while (v > 0)
  return out
}

function checkUint (v, max, what) {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return v
  if (typeof what === 'function') what = what()
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(`${what} must be an integer, got ${describe(v)}`)
  throw rangeError(`${what} must be from 0 to ${max}, got ${v}`)
}

// Characters that may make a string unfit for MQTT (checked in full by mqttStringProblem only
// when one occurs: the common case costs one regular expression test).
const SUSPECT = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]/

// `what` is the property's name in errors, or a function giving it (built only on failure).
function checkText (v, what) {
  const name = () => (typeof what === 'function' ? what() : what)
  if (typeof v !== 'string') throw typeError(`${name()} must be a string, got ${describe(v)}`)
  if (SUSPECT.test(v)) {
    const problem = mqttStringProblem(v)
    if (problem) throw typeError(`${name()} ${JSON.stringify(v)} ${problem}`)
  }
  if (v.length > 16383 && Buffer.byteLength(v) > 65535) throw rangeError(`${name()} is longer than 65535 bytes`)
  return v
}

function checkBool (v, what) {
  if (v === true || v === 1) return 1
  if (v === false || v === 0) return 0
  throw typeError(`${typeof what === 'function' ? what() : what} must be a boolean, got ${describe(v)}`)
}

// User properties, as MQTT.js takes them: { key: value | [values] } (values as strings; a
// number or boolean becomes its text, as mqtt-packet writes it).
function writeUser (w, user, what) {
  if (user === null || typeof user !== 'object' || Array.isArray(user) || Buffer.isBuffer(user)) {
    throw typeError(`${what} must be an object { name: value | [values] }, got ${describe(user)}`)
  }
  for (const k of Object.getOwnPropertyNames(user)) {
    const v = user[k]
    const where = () => `${what}[${JSON.stringify(k)}]`
    checkText(k, () => `${what} name`)
    if (Array.isArray(v)) {
      for (const x of v) w.pair(k, userValue(x, where))
    } else {
      w.pair(k, userValue(v, where))
    }
  }
}

function userValue (x, where) {
  if (typeof x === 'string') return checkText(x, where)
  if (typeof x === 'number' || typeof x === 'boolean') return String(x)
  throw typeError(`${where()} must be a string or an array of strings, got ${describe(x)}`)
}

function binary (v, what) {
  if (Buffer.isBuffer(v)) return v
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  if (typeof v === 'string') return Buffer.from(v, 'utf8')
  throw typeError(`${what} must be a Buffer, got ${describe(v)}`)
}

function checkKeys (props, allowed, what, why = {}) {
  if (props === null || typeof props !== 'object' || Array.isArray(props)) throw typeError(`${what} must be an object, got ${describe(props)}`)
  for (const k of Object.keys(props)) {
    if (props[k] === undefined) continue
    if (k in why) throw why[k](k)
    if (!allowed.includes(k)) throw typeError(`unknown ${what} ${k} (known: ${allowed.join(', ')})`)
  }
}

const MESSAGE_KEYS = ['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties']

// The properties of a message (publish or will) in the wire form, or as the flat list of
// FlatWriter (`flat`); null when there are none. topicAlias is the engine's business (it assigns
// aliases per broker connection): ignored.
function encodeMessage (props, what = 'publish option properties', flat = false) {
  if (props === undefined || props === null) return null
  checkKeys(props, [...MESSAGE_KEYS, 'topicAlias'], what, {
    subscriptionIdentifier: (k) => typeError(`${what}.${k}: a client never sends a Subscription Identifier with a message (brokers add it to the messages they deliver)`)
  })
  const w = flat ? new FlatWriter() : new Writer()
  if (props.payloadFormatIndicator !== undefined) w.byte(ID.payloadFormatIndicator, checkBool(props.payloadFormatIndicator, `${what}.payloadFormatIndicator`))
  if (props.messageExpiryInterval !== undefined) w.u32(ID.messageExpiryInterval, checkUint(props.messageExpiryInterval, U32_MAX, `${what}.messageExpiryInterval`))
  if (props.contentType !== undefined) w.str(ID.contentType, checkText(props.contentType, () => `${what}.contentType`))
  if (props.responseTopic !== undefined) {
    const t = checkText(props.responseTopic, () => `${what}.responseTopic`)
    if (t === '' || /[+#]/.test(t)) throw typeError(`${what}.responseTopic ${JSON.stringify(t)} must be a topic name (not empty, no wildcards)`)
    w.str(ID.responseTopic, t)
  }
  if (props.correlationData !== undefined) {
    const d = binary(props.correlationData, `${what}.correlationData`)
    if (d.length > 65535) throw rangeError(`${what}.correlationData is longer than 65535 bytes`)
    w.bin(ID.correlationData, d)
  }
  if (props.userProperties !== undefined) writeUser(w, props.userProperties, `${what}.userProperties`)
  if (props.topicAlias !== undefined) checkUint(props.topicAlias, 65535, `${what}.topicAlias`)
  return w.finish()
}

// The user properties of a SUBSCRIBE or UNSUBSCRIBE as the addon's flat list (null: none).
function encodeUserFlat (user, what) {
  if (user === undefined || user === null) return null
  const w = new FlatWriter()
  writeUser(w, user, what)
  return w.finish()
}

// Reason codes a client may send in its DISCONNECT (MQTT 5, 3.14.2.1).
const CLIENT_DISCONNECT_CODES = new Set([0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x99])

// The DISCONNECT of end(force, { reasonCode, properties }): { reasonCode, props } (props the
// flat list or null), or null for a plain DISCONNECT. `sessionExpiry`: whether the client
// connected with a session expiry interval (MQTT 5 forbids setting one at the DISCONNECT when it
// connected with none).
function encodeDisconnect (opts, sessionExpiry) {
  const what = 'end option'
  let reasonCode = 0
  if (opts.reasonCode !== undefined) {
    reasonCode = checkUint(opts.reasonCode, 255, `${what} reasonCode`)
    if (!CLIENT_DISCONNECT_CODES.has(reasonCode)) {
      throw rangeError(`${what} reasonCode 0x${reasonCode.toString(16)} is not one a client sends in DISCONNECT (0x00, 0x04, 0x80-0x83, 0x90, 0x93-0x97, 0x99)`)
    }
  }
  let props = null
  const p = opts.properties
  if (p !== undefined && p !== null) {
    checkKeys(p, ['sessionExpiryInterval', 'reasonString', 'userProperties'], `${what} properties`, {
      serverReference: (k) => typeError(`${what} properties.${k}: only a broker sends a Server Reference`)
    })
    const w = new FlatWriter()
    if (p.sessionExpiryInterval !== undefined) {
      const v = checkUint(p.sessionExpiryInterval, U32_MAX, `${what} properties.sessionExpiryInterval`)
      if (v !== 0 && !sessionExpiry) throw rangeError(`${what} properties.sessionExpiryInterval: MQTT 5 forbids a non-zero session expiry at DISCONNECT when the client connected with none (connect option properties.sessionExpiryInterval)`)
      w.u32(ID.sessionExpiryInterval, v)
    }
    if (p.reasonString !== undefined) w.str(ID.reasonString, checkText(p.reasonString, () => `${what} properties.reasonString`))
    if (p.userProperties !== undefined) writeUser(w, p.userProperties, `${what} properties.userProperties`)
    props = w.finish()
  }
  if (reasonCode === 0 && props === null) return null
  return { reasonCode, props }
}

// A broker's DISCONNECT as MQTT.js emits it ('disconnect'), from the engine's down event: its
// reason code and the error text, which ends with the reason string and the server reference
// ("DISCONNECT from <endpoint>: <name> (0x89): <reason string>; the broker names <server>").
function disconnectPacket (reasonCode, error) {
  const packet = { cmd: 'disconnect', retain: false, qos: 0, dup: false, reasonCode }
  const m = /DISCONNECT from .*? \(0x[0-9A-F]{2}\)(?:: ([\s\S]*?))?(?:; the broker names (\S+))?$/.exec(error || '')
  if (m && (m[1] !== undefined || m[2] !== undefined)) {
    packet.properties = {}
    if (m[1] !== undefined) packet.properties.reasonString = m[1]
    if (m[2] !== undefined) packet.properties.serverReference = m[2]
  }
  return packet
}

// The user properties of CONNECT in the wire form (null: none).
function encodeUser (user, what) {
  if (user === undefined || user === null) return null
  const w = new Writer()
  writeUser(w, user, what)
  return w.finish()
}

// ---------------------------------------------------------------------------------------------
// Received properties (a message's, a CONNACK's): the addon reads them with the library's
// getters into MQTT.js's names and types; the user properties come as a flat list
// [name, value, ...], grouped here as MQTT.js gives them: an object without a prototype whose
// repeated names hold arrays of values.

function fromNative (props) {
  if (props === undefined || props === null) return undefined
  const flat = props.userProperties
  if (Array.isArray(flat)) {
    const u = Object.create(null)
    for (let i = 0; i < flat.length; i += 2) {
      const k = flat[i]
      const v = flat[i + 1]
      if (!(k in u)) u[k] = v
      else if (Array.isArray(u[k])) u[k].push(v)
      else u[k] = [u[k], v]
    }
    props.userProperties = u
  }
  return props
}

module.exports = {
  ID,
  ReasonCodes,
  ErrorWithReasonCode,
  ErrorWithSubackPacket,
  encodeMessage,
  encodeUser,
  encodeUserFlat,
  encodeDisconnect,
  disconnectPacket,
  checkKeys,
  checkUint,
  checkBool,
  fromNative,
  unsupported
}
