'use strict'
// MQTT.js-style arguments (URL with host lists and ranges, `servers`, `cluster`, IClientOptions)
// turned into what the native client takes: an endpoint list and hamqtt_options. Whatever cannot
// be honoured raises an error that names it; nothing is silently ignored.
const crypto = require('node:crypto')

const DEFAULT_PORTS = { mqtt: 1883, tcp: 1883, mqtts: 8883, ssl: 8883, tls: 8883, ws: 80, wss: 443 }
const SECURE = { mqtt: 'mqtts', tcp: 'ssl', ws: 'wss' }
const UNSUPPORTED_SCHEMES = {
  wx: 'the WeChat mini-program transport', wxs: 'the WeChat mini-program transport',
  ali: 'the Alipay mini-program transport', alis: 'the Alipay mini-program transport'
}

const PUBLISHER_TYPES = { STICKY: 0, ROUND_ROBIN: 1, RANDOM: 2, ALL: 3 }

function typeError (msg) {
  const e = new TypeError(`hamqtt: ${msg}`)
  e.code = 'ERR_INVALID_ARG_TYPE'
  return e
}
function rangeError (msg) {
  const e = new RangeError(`hamqtt: ${msg}`)
  e.code = 'ERR_OUT_OF_RANGE'
  return e
}
function unsupported (what, why) {
  const e = new Error(`hamqtt: ${what} is not supported${why ? `: ${why}` : ''}`)
  e.code = 'ERR_HAMQTT_UNSUPPORTED'
  return e
}

function describe (v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (Buffer.isBuffer(v)) return 'a Buffer'
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`
}

// ---------------------------------------------------------------------------------------------
// MQTT strings

const MAX_STRING_FIELD = 65535 // client id, user name, password, will payload: a 16-bit length
const MAX_KEEPALIVE = 65535 // seconds, in 16 bits

// Why s cannot travel as an MQTT string (topic, filter, client id, user name), or null: brokers
// close the connection for NUL, the control characters U+0001-U+001F and U+007F-U+009F and the
// Unicode non-characters (U+FDD0-U+FDEF, U+xFFFE and U+xFFFF); a lone surrogate is no UTF-8.
// Strings made only of the BMP characters no rule above touches pass with one regular expression
// test (every topic of a publish goes through here); the others are read character by character.
const PLAIN_MQTT_STRING = /^[\x20-\x7e\u00a0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffd]*$/
function mqttStringProblem (s) {
  if (PLAIN_MQTT_STRING.test(s)) return null
  return mqttStringProblemByCharacter(s)
}
function mqttStringProblemByCharacter (s) {
  let i = 0
  for (const ch of s) {
    const o = ch.codePointAt(0)
    if (o === 0) return `contains a NUL character ${atIndex(i)}: MQTT forbids it`
    if (o < 0x20 || (o >= 0x7f && o <= 0x9f)) return `contains the control character U+${hex(o)} ${atIndex(i)}: brokers close the connection for it`
    if ((o >= 0xfdd0 && o <= 0xfdef) || (o & 0xfffe) === 0xfffe) return `contains the Unicode non-character U+${hex(o)} ${atIndex(i)}: brokers close the connection for it`
    if (o >= 0xd800 && o <= 0xdfff) return `contains the lone surrogate U+${hex(o)} ${atIndex(i)}, which is not valid UTF-8`
    i += ch.length
  }
  return null
}
function atIndex (i) { return `(at index ${i})` }
function hex (o) { return o.toString(16).toUpperCase().padStart(4, '0') }

// checkMqttText('option clientId', v): a TypeError for characters MQTT cannot carry, a
// RangeError beyond 65535 bytes.
function checkMqttText (what, v) {
  const problem = mqttStringProblem(v)
  if (problem) throw typeError(`${what} ${JSON.stringify(v)} ${problem}`)
  const n = Buffer.byteLength(v)
  if (n > MAX_STRING_FIELD) throw rangeError(`${what} is ${n} bytes long: MQTT allows at most ${MAX_STRING_FIELD}`)
  return v
}

// A password: at most 65535 bytes; errors never show it.
function checkSecret (what, v) {
  const n = Buffer.byteLength(v)
  if (n > MAX_STRING_FIELD) throw rangeError(`${what} is ${n} bytes long: MQTT allows at most ${MAX_STRING_FIELD}`)
  if (v.includes('\u0000')) throw typeError(`${what} must not contain NUL characters`)
  return v
}

// A broker URL or list with the credentials it may carry hidden (scheme://user:password@host:
// the password, or a lone user part, becomes ***), for error texts.
function redactUrl (spec) {
  if (typeof spec !== 'string') return spec
  return spec.split(',').map((item) => {
    const i = item.indexOf('://')
    const scheme = i >= 0 ? item.slice(0, i + 3) : ''
    const rest = i >= 0 ? item.slice(i + 3) : item
    const end = rest.search(/[/?#]/)
    const authority = end >= 0 ? rest.slice(0, end) : rest
    const at = authority.lastIndexOf('@')
    if (at < 0) return item
    const user = authority.slice(0, at)
    const c = user.indexOf(':')
    return scheme + (c >= 0 ? `${user.slice(0, c)}:***` : '***') + rest.slice(at)
  }).join(',')
}

// ---------------------------------------------------------------------------------------------
// Topics

function checkTopicString (topic, what) {
  if (typeof topic !== 'string') throw typeError(`${what} must be a string, got ${describe(topic)}`)
  if (topic.length === 0) throw typeError(`${what} must not be empty`)
  if (topic.includes('\u0000')) throw typeError(`${what} ${JSON.stringify(topic)} contains a NUL character`)
  if (Buffer.byteLength(topic) > 65535) throw rangeError(`${what} is longer than 65535 bytes`)
}

// A publish topic of printable ASCII without wildcards, at most 65535 characters (so as many
// bytes): it passes validatePublishTopic and mqttStringProblem, which publish() then skips. The
// common case costs one regular expression test; any other topic takes both full checks.
const PLAIN_PUBLISH_TOPIC = /^[\x20-\x22\x24-\x2a\x2c-\x7e]+$/
function isPlainPublishTopic (topic) {
  return typeof topic === 'string' && topic.length <= 65535 && PLAIN_PUBLISH_TOPIC.test(topic)
}

function validatePublishTopic (topic) {
  checkTopicString(topic, 'publish topic')
  if (/[+#]/.test(topic)) {
    throw typeError(`publish topic ${JSON.stringify(topic)} contains a wildcard (+ or #): wildcards are only allowed in subscriptions`)
  }
}

function validateFilter (filter) {
  checkTopicString(filter, 'topic filter')
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]
    if (l === '#') {
      if (i !== levels.length - 1) throw typeError(`topic filter ${JSON.stringify(filter)}: '#' must be the last level`)
    } else if (l.includes('#')) {
      throw typeError(`topic filter ${JSON.stringify(filter)}: '#' must occupy a whole level`)
    } else if (l !== '+' && l.includes('+')) {
      throw typeError(`topic filter ${JSON.stringify(filter)}: '+' must occupy a whole level`)
    }
  }
}

function validateQos (qos, what = 'qos') {
  if (qos === undefined || qos === null) return 0
  if (typeof qos !== 'number') throw typeError(`${what} must be 0, 1 or 2, got ${describe(qos)}`)
  if (qos !== 0 && qos !== 1 && qos !== 2) throw rangeError(`${what} must be 0, 1 or 2, got ${qos}`)
  return qos
}

function validatePayload (message, what = 'message') {
  if (typeof message === 'string' || Buffer.isBuffer(message) || message instanceof Uint8Array) return message
  if (message === undefined || message === null) return ''
  if (ArrayBuffer.isView(message) || message instanceof ArrayBuffer) return message
  throw typeError(`${what} must be a string or a Buffer, got ${describe(message)}`)
}

// ---------------------------------------------------------------------------------------------
// Broker addresses

function checkScheme (scheme, where) {
  const s = scheme.toLowerCase()
  if (s in DEFAULT_PORTS) return s
  if (s in UNSUPPORTED_SCHEMES) throw unsupported(`protocol "${s}" (${UNSUPPORTED_SCHEMES[s]})`, 'use mqtt, mqtts, tcp, ssl, ws or wss')
  if (s.includes('+unix')) throw unsupported(`protocol "${s}" (Unix domain sockets)`, 'use mqtt, mqtts, tcp, ssl, ws or wss')
  throw typeError(`${where}: unknown protocol "${scheme}": use mqtt, mqtts, tcp, ssl, tls, ws or wss`)
}

const HOSTPORT = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/?#@[\],]+)(?::(\d+(?:-\d+)?))?$/

// parseHostPort("10.0.0.5-7:1883-1885") -> { host, port } (port may be a range or undefined)
function parseHostPort (s, where) {
  const m = HOSTPORT.exec(s)
  if (!m) throw typeError(`${where}: "${s}" is not host[:port] (ranges: 10.0.0.5-7:1883-1885; IPv6 in brackets)`)
  return { host: m[1], port: m[2] }
}

function splitHosts (list, defaultScheme, where) {
  const items = []
  for (let part of list.split(',')) {
    part = part.trim()
    if (part === '') continue
    let scheme = defaultScheme
    const i = part.indexOf('://')
    if (i >= 0) {
      scheme = checkScheme(part.slice(0, i), where)
      part = part.slice(i + 3)
    }
    const { host, port } = parseHostPort(part, where)
    items.push({ scheme, host, port })
  }
  if (items.length === 0) throw typeError(`${where}: no broker host`)
  return items
}

// parseUrl("mqtt://user:pw@a:1883,b:1884/path?clientId=x")
function parseUrl (url) {
  if (typeof url !== 'string') throw typeError(`the broker URL must be a string, got ${describe(url)}`)
  const trimmed = url.trim()
  if (trimmed === '') throw typeError('the broker URL is empty')
  let m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(trimmed)
  let scheme
  if (m) {
    scheme = checkScheme(m[1], `broker URL "${url}"`)
  } else if (!trimmed.includes('://')) {
    // A bare host list ("a:1883,b:1884"): MQTT over TCP.
    m = /^()([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(trimmed)
    scheme = 'mqtt'
  }
  if (!m) throw typeError(`broker URL "${url}" is not scheme://host[:port][,host[:port]...]`)
  let authority = m[2]
  const urlPath = m[3] || ''
  const query = m[4] ? new URLSearchParams(m[4].slice(1)) : null
  let username, password
  const at = authority.lastIndexOf('@')
  if (at >= 0) {
    const auth = authority.slice(0, at)
    authority = authority.slice(at + 1)
    const c = auth.indexOf(':')
    username = decodeURIComponent(c >= 0 ? auth.slice(0, c) : auth)
    if (c >= 0) password = decodeURIComponent(auth.slice(c + 1))
  }
  const items = authority === '' ? [] : splitHosts(authority, scheme, `broker URL "${url}"`)
  return { scheme, items, path: urlPath, query, username, password, hash: m[5] }
}

function endpointString (item, wsPath) {
  let s = `${item.scheme}://${item.host}`
  if (item.port !== undefined && item.port !== '') s += `:${item.port}`
  if ((item.scheme === 'ws' || item.scheme === 'wss') && wsPath) s += wsPath
  return s
}

// ---------------------------------------------------------------------------------------------
// Options

// MQTT.js options this package honours, with what they map to.
const MQTT_OPTIONS = new Set([
  'clientId', 'username', 'password', 'keepalive', 'clean', 'reconnectPeriod', 'connectTimeout', 'will',
  'protocol', 'host', 'hostname', 'port', 'path', 'servers', 'protocolId', 'protocolVersion',
  'ca', 'cert', 'key', 'rejectUnauthorized', 'queueQoSZero', 'manualConnect', 'resubscribe',
  'reschedulePings', 'query', 'auth', 'href', 'defaultProtocol', 'slashes',
  'properties', 'autoUseTopicAlias', 'autoAssignTopicAlias',
  // hamqtt's own
  'cluster', 'config', 'ha'
])

// MQTT.js options that cannot be honoured, and why.
const UNSUPPORTED_OPTIONS = {
  authPacket: 'MQTT 5 enhanced authentication',
  customHandleAcks: 'MQTT 5 custom acknowledgements (the engine acknowledges every message it takes)',
  topicAliasMaximum: 'a top-level topicAliasMaximum (MQTT.js takes it in properties: properties.topicAliasMaximum)',
  incomingStore: 'custom message stores (the engine keeps the state of incoming QoS 2 messages)',
  outgoingStore: 'custom message stores (outgoing messages wait in the client\'s outbox: ha.outbox.dir keeps it on disk, across restarts and kill -9)',
  messageIdProvider: 'custom message ids (the engine assigns them per broker connection)',
  transformWsUrl: 'rewriting the WebSocket URL per connection',
  wsOptions: 'WebSocket options',
  createWebsocket: 'a custom WebSocket factory',
  forceNativeWebSocket: 'browser WebSockets',
  browserBufferSize: 'browser options',
  browserBufferTimeout: 'browser options',
  objectMode: 'browser options',
  unixSocket: 'Unix domain sockets',
  socksProxy: 'SOCKS proxies',
  socksTimeout: 'SOCKS proxies',
  log: 'a debug log function (the engine logs through the hamqtt C API; see README)',
  writeCache: 'the write cache of mqtt-packet',
  timerVariant: 'timer variants (the engine keeps the keepalive itself)',
  reconnectOnConnackError: 'retrying after a CONNACK refusal (the prober retries every endpoint with backoff)',
  passphrase: 'encrypted private keys (give an unencrypted key)',
  pfx: 'PKCS#12 bundles (give PEM ca, cert and key)',
  servername: 'a TLS server name different from the host',
  ALPNProtocols: 'TLS ALPN',
  subscribeBatchSize: 'batched SUBSCRIBE packets',
  bufferSize: 'the stream buffer size'
}

// ha: { ... } options, with their native (hamqtt_options) names and kinds.
const HA_OPTIONS = {
  name: ['name', 'string'],
  publisherType: ['publisherType', 'publisher'],
  primaryServerURI: ['primaryServerUri', 'string'],
  defaultTopicBase: ['defaultTopicBase', 'string'],
  timeToWait: ['timeToWaitMs', 'ms'],
  ackTimeout: ['ackTimeoutMs', 'ms'],
  probeDelay: ['probeDelayMs', 'ms'],
  maxProbeDelay: ['maxProbeDelayMs', 'ms'],
  connectRate: ['connectRate', 'number'],
  connectBurst: ['connectBurst', 'int'],
  warmUp: ['warmUpMs', 'msOff'],
  flapLimit: ['flapLimit', 'intOff'],
  flapWindow: ['flapWindowMs', 'ms'],
  quarantine: ['quarantineMs', 'ms'],
  liveEndpointCount: ['liveEndpointCount', 'intOff'],
  initialEndpointCount: ['initialEndpointCount', 'intOff'],
  subscriberCount: ['subscriberCount', 'intOff'],
  publishOnly: ['publishOnly', 'bool'],
  fos: ['fos', 'fos'],
  dedup: ['dedup', 'bool'],
  ackQuorum: ['ackQuorum', 'quorum'],
  dedupWindow: ['dedupWindowMs', 'ms'],
  shareConnections: ['shareConnections', 'bool'],
  fileStoreDir: ['fileStoreDir', 'string'],
  keepAlive: ['keepAliveMs', 'ms'],
  connectTimeout: ['connectTimeoutMs', 'ms'],
  clientId: ['clientId', 'string'],
  username: ['username', 'string'],
  password: ['password', 'string'],
  persistentSession: ['persistentSession', 'bool'],
  tlsCaFile: ['tlsCaFile', 'string'],
  tlsCertFile: ['tlsCertFile', 'string'],
  tlsKeyFile: ['tlsKeyFile', 'string'],
  tlsInsecure: ['tlsInsecure', 'bool'],
  tlsSkipHostnameCheck: ['tlsSkipHostnameCheck', 'bool'],
  outbox: ['outbox', 'outbox'],
  messageIds: ['messageIds', 'messageIds'],
  noTopicAliases: ['noTopicAliases', 'bool']
}

// ha.messageIds: whether MQTT 5 publishes carry the engine's message id (HAMQTT's message_ids).
const MESSAGE_IDS = { auto: 0, always: 1, never: -1 }

// outbox: { ... } keys (the configuration file's names), with their native names.
const OUTBOX_OPTIONS = {
  dir: 'outboxDir',
  maxMessages: 'outboxMaxMessages',
  maxBytes: 'outboxMaxBytes',
  overflow: 'outboxOverflow',
  sync: 'outboxSync',
  syncInterval: 'outboxSyncIntervalMs',
  expiry: 'outboxExpiryMs',
  qos0: 'outboxQos0'
}
// HAMQTT_OVERFLOW_*: 'block' is not offered, as it would stop Node's event loop in publish()
// until room is made (up to ha.timeToWait), callbacks and timers included.
const OVERFLOW = { refuse: 0, 'drop-oldest': 2 }
const SYNC = { always: 0, interval: 1, never: 2 } // HAMQTT_SYNC_*

const INT32_MAX = 2147483647

function convertHaOption (key, value, kind) {
  const what = `option ha.${key}`
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') throw typeError(`${what} must be a string, got ${describe(value)}`)
      if (key === 'clientId' || key === 'username') return checkMqttText(what, value)
      if (key === 'password') return checkSecret(what, value)
      return value
    case 'bool':
      if (typeof value !== 'boolean') throw typeError(`${what} must be a boolean, got ${describe(value)}`)
      return value
    case 'number':
      if (typeof value !== 'number' || Number.isNaN(value)) throw typeError(`${what} must be a number, got ${describe(value)}`)
      if (!Number.isFinite(value) || value > 1e6) throw rangeError(`${what} must be a finite number, at most 1e6 (negative: unlimited), got ${value}`)
      return value
    case 'int': case 'intOff': case 'ms': case 'msOff': case 'fos': {
      if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(`${what} must be an integer, got ${describe(value)}`)
      const min = (kind === 'intOff' || kind === 'msOff') ? -1 : (kind === 'ms' ? 1 : 0)
      const max = kind === 'fos' ? 3 : INT32_MAX
      if (value < min || value > max) {
        throw rangeError(`${what} must be ${kind === 'fos' ? 'between 0 and 3' : `an integer from ${min} to ${max}`}${kind.endsWith('Off') ? ' (-1: off)' : ''}, got ${value}`)
      }
      if (key === 'keepAlive' && (value > MAX_KEEPALIVE * 1000 || value % 1000 !== 0)) {
        throw rangeError(`${what} must be a whole number of seconds in milliseconds, at most ${MAX_KEEPALIVE * 1000} (MQTT carries the keep-alive in 16 bits of seconds), got ${value}`)
      }
      return value
    }
    case 'quorum':
      // publisherType ALL: brokers that must acknowledge a publish (0/1: any one, k > 1: k of
      // the live ones, -1: every live one)
      if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(`${what} must be an integer, got ${describe(value)}`)
      if (value < -1 || value > INT32_MAX) {
        throw rangeError(`${what} must be -1 (every live broker), 0 or 1 (any one broker) or k > 1 (k of the live brokers), got ${value}`)
      }
      return value
    case 'messageIds':
      if (typeof value === 'string' && value in MESSAGE_IDS) return MESSAGE_IDS[value]
      throw rangeError(`${what} must be 'auto', 'always' or 'never', got ${describe(value)}`)
    case 'publisher': {
      if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 3) return value
      if (typeof value === 'string') {
        const v = PUBLISHER_TYPES[value.toUpperCase().replace(/[-\s]/g, '_')]
        if (v !== undefined) return v
      }
      throw rangeError(`${what} must be one of STICKY, ROUND_ROBIN, RANDOM, ALL, got ${describe(value)}`)
    }
  }
  throw new Error(`hamqtt: internal: kind ${kind}`)
}

// haOptions({ publisherType: 'ALL', ... }) -> native option object (camelCase hamqtt_options).
// `prefix` names the options in errors ('ha.' for MqttClient, '' for HaMqttClient); `mqttjs`:
// for MqttClient, which always keeps an outbox and takes its QoS 0 rule from queueQoSZero.
function haOptions (ha, native = {}, { prefix = 'ha.', mqttjs = false } = {}) {
  if (ha === undefined || ha === null) return native
  const where = prefix === '' ? 'options' : 'option ha'
  if (typeof ha !== 'object' || Array.isArray(ha)) throw typeError(`${where} must be an object, got ${describe(ha)}`)
  for (const [key, value] of Object.entries(ha)) {
    if (value === undefined) continue
    const spec = HA_OPTIONS[key]
    if (!spec) throw typeError(`unknown option ${prefix}${key} (known: ${Object.keys(HA_OPTIONS).join(', ')})`)
    if (spec[1] === 'outbox') {
      outboxOptions(value, native, `${prefix}outbox`, mqttjs)
      continue
    }
    native[spec[0]] = convertHaOption(key, value, spec[1])
  }
  return native
}

// outboxOptions({ dir, maxMessages, ... }, native, 'ha.outbox', mqttjs): the outbox fields of
// hamqtt_options. true: a memory outbox with the defaults; false: none (HaMqttClient only).
function outboxOptions (value, native, what, mqttjs) {
  if (value === false) {
    if (mqttjs) throw unsupported(`option ${what}: false`, 'the MQTT.js API always keeps an outbox, as MQTT.js keeps the messages published while offline (queueQoSZero: false leaves QoS 0 messages out of it)')
    native.outbox = false
    return native
  }
  if (value === true) {
    native.outbox = true
    return native
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw typeError(`option ${what} must be ${mqttjs ? '' : 'true, false or '}an object { dir, maxMessages, maxBytes, overflow, sync, syncInterval, expiry${mqttjs ? '' : ', qos0'} }, got ${describe(value)}`)
  }
  const o = {}
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue
    if (!(k in OUTBOX_OPTIONS)) throw typeError(`unknown option ${what}.${k} (known: ${Object.keys(OUTBOX_OPTIONS).filter((x) => !(mqttjs && x === 'qos0')).join(', ')})`)
    o[k] = v
  }
  const name = (k) => `option ${what}.${k}`
  native.outbox = true
  if (o.dir !== undefined) {
    if (typeof o.dir !== 'string' || o.dir === '') throw typeError(`${name('dir')} must be a directory path, got ${describe(o.dir)}`)
    if (o.dir.includes('\u0000')) throw typeError(`${name('dir')} must not contain NUL characters`)
    native.outboxDir = o.dir
  }
  // maxMessages, maxBytes: a positive bound, or -1 for none.
  for (const [k, max] of [['maxMessages', INT32_MAX], ['maxBytes', Number.MAX_SAFE_INTEGER]]) {
    const v = o[k]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(`${name(k)} must be an integer, got ${describe(v)}`)
    if (v === 0 || v < -1 || v > max) throw rangeError(`${name(k)} must be an integer from 1 to ${max}, or -1 for no bound, got ${v}`)
    native[OUTBOX_OPTIONS[k]] = v
  }
  if (o.overflow !== undefined) {
    const v = typeof o.overflow === 'string' ? o.overflow.toLowerCase().replace(/_/g, '-') : o.overflow
    if (v === 'block') {
      throw unsupported(`${name('overflow')} 'block'`, "a publish would stop Node's event loop until the outbox has room; use 'refuse' (the publish fails at once: its callback gets the error) or 'drop-oldest'")
    }
    if (typeof v !== 'string' || !(v in OVERFLOW)) throw rangeError(`${name('overflow')} must be 'refuse' or 'drop-oldest', got ${describe(o.overflow)}`)
    native.outboxOverflow = OVERFLOW[v]
  }
  if (o.sync !== undefined) {
    if (typeof o.sync !== 'string' || !(o.sync.toLowerCase() in SYNC)) throw rangeError(`${name('sync')} must be 'always', 'interval' or 'never', got ${describe(o.sync)}`)
    if (o.dir === undefined) throw typeError(`${name('sync')} applies to a disk outbox: give ${what}.dir`)
    native.outboxSync = SYNC[o.sync.toLowerCase()]
  }
  if (o.syncInterval !== undefined) {
    const v = o.syncInterval
    if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(`${name('syncInterval')} must be an integer (milliseconds), got ${describe(v)}`)
    if (v < 1 || v > INT32_MAX) throw rangeError(`${name('syncInterval')} must be from 1 to ${INT32_MAX} ms, got ${v}`)
    if (native.outboxSync !== SYNC.interval) throw typeError(`${name('syncInterval')} applies with ${what}.sync 'interval'`)
    native.outboxSyncIntervalMs = v
  }
  if (o.expiry !== undefined) {
    const v = o.expiry
    if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(`${name('expiry')} must be an integer (milliseconds), got ${describe(v)}`)
    if (v < 0 || v > INT32_MAX) throw rangeError(`${name('expiry')} must be from 1 to ${INT32_MAX} ms (0: never), got ${v}`)
    native.outboxExpiryMs = v
  }
  if (o.qos0 !== undefined) {
    if (mqttjs) throw typeError(`${name('qos0')} is not an option of the MQTT.js API: QoS 0 messages are stored unless queueQoSZero is false, as MQTT.js queues them`)
    if (typeof o.qos0 !== 'boolean') throw typeError(`${name('qos0')} must be a boolean, got ${describe(o.qos0)}`)
    native.outboxQos0 = o.qos0
  }
  return native
}

function pem (value, what) {
  const parts = Array.isArray(value) ? value : [value]
  return parts.map((p) => {
    if (typeof p === 'string') return p
    if (Buffer.isBuffer(p) || p instanceof Uint8Array) return Buffer.from(p).toString('utf8')
    throw typeError(`option ${what} must be PEM text (string or Buffer) or an array of them, got ${describe(p)}`)
  }).join('\n')
}

function credential (value, what) {
  if (value === undefined || value === null) return undefined
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    const s = Buffer.from(value).toString('utf8')
    if (!Buffer.from(s, 'utf8').equals(Buffer.from(value))) {
      throw unsupported(`a binary ${what}`, `the ${what} must be valid UTF-8 text`)
    }
    return what === 'password' ? checkSecret(`option ${what}`, s) : checkMqttText(`option ${what}`, s)
  }
  if (typeof value === 'string') return what === 'password' ? checkSecret(`option ${what}`, value) : checkMqttText(`option ${what}`, value)
  throw typeError(`option ${what} must be a string or a Buffer, got ${describe(value)}`)
}

function randomClientId () {
  return 'hamqtt_' + crypto.randomBytes(4).toString('hex')
}

function integerOption (opts, key, min, max) {
  const v = opts[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(`option ${key} must be an integer, got ${describe(v)}`)
  if (v < min || v > max) throw rangeError(`option ${key} must be from ${min} to ${max}, got ${v}`)
  return v
}

// resolve(brokerUrl, opts) -> { endpoints, cluster, config, native, options, tls }
// `options` is the client's `options` property (MQTT.js shaped, with defaults filled in).
function resolve (brokerUrl, opts) {
  try {
    return resolveUnredacted(brokerUrl, opts)
  } catch (e) {
    // The URL may carry a password: no error text shows it.
    if (typeof brokerUrl === 'string' && e && typeof e.message === 'string') e.message = redactMessage(e.message, brokerUrl)
    throw e
  }
}

function redactMessage (message, url) {
  const at = url.lastIndexOf('@')
  if (at < 0) return message
  let out = message.split(url).join(redactUrl(url))
  // and any piece of the credentials quoted on its own
  const i = url.indexOf('://')
  const auth = url.slice(i >= 0 ? i + 3 : 0, at)
  const c = auth.indexOf(':')
  const secret = c >= 0 ? auth.slice(c + 1) : auth
  if (secret) {
    out = out.split(secret).join('***')
    try { out = out.split(decodeURIComponent(secret)).join('***') } catch {}
  }
  return out
}

function resolveUnredacted (brokerUrl, opts) {
  if (brokerUrl !== null && typeof brokerUrl === 'object' && opts === undefined) {
    opts = brokerUrl
    brokerUrl = undefined
  }
  if (opts === undefined || opts === null) opts = {}
  if (typeof opts !== 'object' || Array.isArray(opts)) throw typeError(`the options must be an object, got ${describe(opts)}`)
  if (brokerUrl !== undefined && brokerUrl !== null && brokerUrl !== '' && typeof brokerUrl !== 'string') {
    throw typeError(`the broker URL must be a string, got ${describe(brokerUrl)}`)
  }

  for (const key of Object.keys(opts)) {
    if (opts[key] === undefined) continue
    if (key in UNSUPPORTED_OPTIONS) throw unsupported(`option ${key} (${UNSUPPORTED_OPTIONS[key]})`)
    if (!MQTT_OPTIONS.has(key)) throw typeError(`unknown option ${key}`)
  }

  const options = { ...opts }
  const native = {}
  const tls = {}

  // --- protocol level
  if (opts.protocolVersion !== undefined && opts.protocolVersion !== 4 && opts.protocolVersion !== 5) {
    throw unsupported(`protocolVersion ${opts.protocolVersion}`, 'the engine speaks MQTT 3.1.1 (protocolVersion 4) and MQTT 5 (protocolVersion 5)')
  }
  const v5 = opts.protocolVersion === 5
  if (v5) native.protocolVersion = 5
  for (const key of ['autoUseTopicAlias', 'autoAssignTopicAlias']) {
    // The engine assigns topic aliases itself, per broker connection, within each broker's
    // Topic Alias Maximum (ha.noTopicAliases turns that off): these change nothing.
    if (opts[key] !== undefined && typeof opts[key] !== 'boolean') throw typeError(`option ${key} must be a boolean, got ${describe(opts[key])}`)
  }
  if (opts.properties !== undefined && opts.properties !== null) {
    if (!v5) throw typeError('option properties needs protocolVersion: 5 (MQTT 5)')
    connectProperties(opts.properties, native)
  }
  if (opts.protocolId !== undefined && opts.protocolId !== 'MQTT') {
    throw unsupported(`protocolId ${JSON.stringify(opts.protocolId)}`, 'only "MQTT" (MQTT 3.1.1 and 5)')
  }
  if (opts.resubscribe === false) {
    throw unsupported('resubscribe: false', 'the engine always replays subscriptions on every endpoint that comes up')
  }
  if (opts.reschedulePings === false) {
    throw unsupported('reschedulePings: false', 'keepalive pings are the engine\'s')
  }
  for (const key of ['queueQoSZero', 'manualConnect', 'clean', 'rejectUnauthorized']) {
    if (opts[key] !== undefined && typeof opts[key] !== 'boolean') throw typeError(`option ${key} must be a boolean, got ${describe(opts[key])}`)
  }

  // --- where: a cluster of the configuration file, or brokers
  let endpoints = null
  let cluster = null
  if (opts.cluster !== undefined) {
    if (typeof opts.cluster !== 'string' || opts.cluster === '') throw typeError(`option cluster must be a cluster name, got ${describe(opts.cluster)}`)
    cluster = opts.cluster
    if (brokerUrl) throw typeError('give either a broker URL or option cluster, not both')
    // A configured cluster takes its connection settings from the configuration file.
    for (const key of ['servers', 'host', 'hostname', 'port', 'protocol', 'path', 'clientId', 'username', 'password', 'keepalive',
      'clean', 'connectTimeout', 'will', 'ca', 'cert', 'key', 'rejectUnauthorized', 'ha', 'properties']) {
      if (opts[key] !== undefined) {
        throw unsupported(`option ${key} together with option cluster`, `cluster "${cluster}" takes its settings from the configuration file`)
      }
    }
  } else {
    if (opts.config !== undefined) throw typeError('option config (a configuration file) needs option cluster')
    let url = null
    if (brokerUrl) url = parseUrl(brokerUrl)
    const defaultProtocol = (() => {
      if (opts.protocol !== undefined) {
        if (typeof opts.protocol !== 'string') throw typeError(`option protocol must be a string, got ${describe(opts.protocol)}`)
        return checkScheme(opts.protocol.replace(/:$/, ''), 'option protocol')
      }
      return url ? url.scheme : 'mqtt'
    })()
    let scheme = defaultProtocol
    if (opts.cert && opts.key && SECURE[scheme]) scheme = SECURE[scheme] // as MQTT.js does
    let wsPath = opts.path !== undefined ? opts.path : (url ? url.path : '')
    if (wsPath !== undefined && typeof wsPath !== 'string') throw typeError(`option path must be a string, got ${describe(wsPath)}`)
    if (wsPath === '/') wsPath = ''

    if (opts.servers !== undefined) {
      if (!Array.isArray(opts.servers) || opts.servers.length === 0) {
        throw typeError('option servers must be a non-empty array of { host, port, protocol? }')
      }
      endpoints = opts.servers.map((s, i) => {
        if (s === null || typeof s !== 'object') throw typeError(`servers[${i}] must be an object { host, port, protocol? }, got ${describe(s)}`)
        for (const k of Object.keys(s)) {
          if (!['host', 'port', 'protocol'].includes(k)) throw typeError(`servers[${i}]: unknown key ${k} (use host, port, protocol)`)
        }
        if (typeof s.host !== 'string' || s.host === '') throw typeError(`servers[${i}].host must be a host name, got ${describe(s.host)}`)
        let port = s.port
        if (typeof port === 'string' && /^\d+$/.test(port)) port = Number(port)
        if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
          throw rangeError(`servers[${i}].port must be a port number 1-65535, got ${describe(s.port)}`)
        }
        const sch = s.protocol !== undefined ? checkScheme(String(s.protocol).replace(/:$/, ''), `servers[${i}].protocol`) : scheme
        const host = s.host.includes(':') && !s.host.startsWith('[') ? `[${s.host}]` : s.host
        return endpointString({ scheme: sch, host, port: port === undefined ? undefined : String(port) }, wsPath)
      }).join(',')
      options.hostname = opts.servers[0].host
      options.port = opts.servers[0].port
    } else {
      let items = url ? url.items : []
      const host = opts.hostname !== undefined ? opts.hostname : opts.host
      if (host !== undefined && typeof host !== 'string') throw typeError(`option host must be a string, got ${describe(host)}`)
      let port = opts.port
      if (typeof port === 'string' && /^\d+$/.test(port)) port = Number(port)
      if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
        throw rangeError(`option port must be a port number 1-65535, got ${describe(opts.port)}`)
      }
      if (host !== undefined) {
        if (items.length > 1) throw typeError('option host cannot be combined with a URL that lists several brokers')
        // A host list is allowed here too ("a:1883,b:1884"); a bare IPv6 address gets brackets.
        const bareIPv6 = !host.includes(',') && !host.startsWith('[') && (host.match(/:/g) || []).length > 1
        items = splitHosts(bareIPv6 ? `[${host}]` : host, scheme, 'option host')
      }
      if (items.length === 0) items = [{ scheme, host: 'localhost', port: undefined }]
      if (port !== undefined) {
        if (items.length > 1) throw typeError('option port cannot be combined with several brokers: give each its port in the URL')
        items = [{ ...items[0], port: String(port) }]
      }
      if (opts.protocol !== undefined || (opts.cert && opts.key)) items = items.map((it) => ({ ...it, scheme }))
      endpoints = items.map((it) => endpointString(it, wsPath)).join(',')
      options.hostname = items[0].host.replace(/^\[|\]$/g, '')
      options.host = options.hostname
      options.port = items[0].port !== undefined && /^\d+$/.test(items[0].port) ? Number(items[0].port) : (items[0].port || DEFAULT_PORTS[items[0].scheme])
    }
    options.protocol = scheme
    if (url) {
      if (url.query) {
        for (const [k, v] of url.query) {
          if (k === 'clientId') {
            if (opts.clientId === undefined) options.clientId = v
          } else {
            throw unsupported(`URL query parameter ${k}`, 'only clientId is understood')
          }
        }
      }
      if (url.username !== undefined && opts.username === undefined) options.username = url.username
      if (url.password !== undefined && opts.password === undefined) options.password = url.password
      options.href = brokerUrl
    }
    if (typeof opts.auth === 'string' && opts.username === undefined) {
      const m = /^([^:]*):(.*)$/.exec(opts.auth)
      options.username = m ? m[1] : opts.auth
      if (m) options.password = m[2]
    }

    // --- connection settings
    options.clientId = options.clientId !== undefined ? options.clientId : randomClientId()
    if (v5 && options.clientId === '') {
      // MQTT 5: the engine makes one id for every broker ("hamqtt-<cluster>-<random>"), which
      // the CONNACK properties report as assignedClientIdentifier, as a broker assigns one.
    } else {
      if (typeof options.clientId !== 'string' || options.clientId === '') throw typeError(`option clientId must be a non-empty string${v5 ? ' (or \'\': the engine assigns one)' : ''}, got ${describe(options.clientId)}`)
      native.clientId = checkMqttText('option clientId', options.clientId)
    }
    const user = credential(options.username, 'username')
    const pass = credential(options.password, 'password')
    if (user !== undefined) native.username = user
    if (pass !== undefined) native.password = pass
    if (opts.clean === false) {
      if (opts.clientId === undefined && !(url && url.query && url.query.get('clientId'))) throw new Error('Missing clientId for unclean clients')
      native.persistentSession = true
    }
    const keepalive = integerOption(opts, 'keepalive', 0, 65535)
    // 0: no keepalive, as MQTT.js (a broker that dies silently is then noticed only by an
    // overdue acknowledgement).
    native.keepAliveMs = keepalive === 0 ? -1 : (keepalive === undefined ? 60 : keepalive) * 1000
    const connectTimeout = integerOption(opts, 'connectTimeout', 1, INT32_MAX)
    native.connectTimeoutMs = connectTimeout === undefined ? 30000 : connectTimeout
    if (opts.will !== undefined && opts.will !== null) {
      const w = opts.will
      if (typeof w !== 'object') throw typeError(`option will must be an object { topic, payload, qos, retain }, got ${describe(w)}`)
      for (const k of Object.keys(w)) {
        if (!['topic', 'payload', 'qos', 'retain', 'properties'].includes(k)) throw typeError(`option will: unknown key ${k}`)
      }
      if (w.properties !== undefined && w.properties !== null) {
        if (!v5) throw typeError('option will.properties needs protocolVersion: 5 (MQTT 5)')
        willProperties(w.properties, native)
      }
      validatePublishTopic(w.topic)
      const willProblem = mqttStringProblem(w.topic)
      if (willProblem) throw typeError(`option will.topic ${JSON.stringify(w.topic)} ${willProblem}`)
      native.willTopic = w.topic
      native.willPayload = validatePayload(w.payload, 'will.payload')
      const willLen = typeof native.willPayload === 'string' ? Buffer.byteLength(native.willPayload) : native.willPayload.byteLength
      if (willLen > MAX_STRING_FIELD) throw rangeError(`option will.payload is ${willLen} bytes long: MQTT allows at most ${MAX_STRING_FIELD} for a will`)
      native.willQos = validateQos(w.qos, 'will.qos')
      native.willRetain = !!w.retain
    }
    if (opts.ca !== undefined) tls.ca = pem(opts.ca, 'ca')
    if (opts.cert !== undefined) tls.cert = pem(opts.cert, 'cert')
    if (opts.key !== undefined) tls.key = pem(opts.key, 'key')
    if ((tls.cert === undefined) !== (tls.key === undefined)) throw typeError('options cert and key go together: give both or neither')
    // rejectUnauthorized: false turns every check off, as in Node's tls (a warning is emitted).
    // It only relaxes TLS, so with no TLS endpoint it is ignored, as MQTT.js ignores it; TLS
    // material (ca, cert, key) for plain endpoints is refused by the library instead.
    const anyTls = endpoints.split(',').some((e) => /^(mqtts|ssl|tls|wss):\/\//.test(e.trim()))
    if (opts.rejectUnauthorized === false && anyTls) native.tlsInsecure = true
  }

  // --- reconnect behaviour
  const reconnectPeriod = integerOption(opts, 'reconnectPeriod', 0, INT32_MAX)
  options.reconnectPeriod = reconnectPeriod === undefined ? 1000 : reconnectPeriod
  if (!cluster && options.reconnectPeriod > 0) native.probeDelayMs = options.reconnectPeriod
  if (cluster && reconnectPeriod !== undefined && reconnectPeriod !== 0) {
    throw unsupported('option reconnectPeriod together with option cluster', `cluster "${cluster}" takes probeDelay from the configuration file`)
  }

  if (!cluster) {
    haOptions(opts.ha, native, { mqttjs: true })
    // An outbox always (memory unless ha.outbox.dir): MQTT.js keeps what is published while it
    // is offline, before the first connection too, and sends it in order once connected.
    native.outbox = true
    native.outboxQos0 = opts.queueQoSZero !== false
  }

  // --- the options property, MQTT.js shaped
  options.keepalive = native.keepAliveMs !== undefined ? Math.max(native.keepAliveMs, 0) / 1000 : opts.keepalive
  options.connectTimeout = native.connectTimeoutMs !== undefined ? native.connectTimeoutMs : opts.connectTimeout
  options.clean = opts.clean !== false
  options.resubscribe = true
  options.protocolId = 'MQTT'
  options.protocolVersion = v5 ? 5 : 4
  options.queueQoSZero = opts.queueQoSZero !== false
  options.manualConnect = opts.manualConnect === true
  options.endpoints = endpoints
  options.cluster = cluster
  return { endpoints, cluster, config: opts.config, native, options, tls }
}

// MQTT.js's properties option (the CONNECT properties) into native options.
function connectProperties (props, native) {
  const P = require('./props')
  const what = 'option properties'
  P.checkKeys(props, ['sessionExpiryInterval', 'receiveMaximum', 'topicAliasMaximum', 'requestResponseInformation',
    'requestProblemInformation', 'userProperties', 'maximumPacketSize'], what, {
    authenticationMethod: (k) => unsupported(`${what}.${k}`, 'MQTT 5 enhanced authentication'),
    authenticationData: (k) => unsupported(`${what}.${k}`, 'MQTT 5 enhanced authentication')
  })
  if (props.sessionExpiryInterval !== undefined) {
    // seconds; 0xFFFFFFFF: never expires
    native.sessionExpiryMs = P.checkUint(props.sessionExpiryInterval, 0xffffffff, `${what}.sessionExpiryInterval`) * 1000
  }
  if (props.receiveMaximum !== undefined) {
    native.receiveMaximum = P.checkUint(props.receiveMaximum, 65535, `${what}.receiveMaximum`)
    if (native.receiveMaximum === 0) throw rangeError(`${what}.receiveMaximum must be from 1 to 65535, got 0`)
  }
  if (props.maximumPacketSize !== undefined) {
    // The largest packet brokers may send this client (without it, the engine announces 64
    // MiB). Every packet fits in 268435460 bytes, so a larger limit is that one; below 16 bytes
    // not even a small message would fit, which the engine refuses.
    const max = P.checkUint(props.maximumPacketSize, 0xffffffff, `${what}.maximumPacketSize`)
    if (max < 16) throw rangeError(`${what}.maximumPacketSize must be at least 16 (bytes), got ${max}`)
    native.maxPacketSize = Math.min(max, 268435460)
  }
  if (props.topicAliasMaximum !== undefined) native.topicAliasMaximum = P.checkUint(props.topicAliasMaximum, 65535, `${what}.topicAliasMaximum`)
  if (props.requestResponseInformation !== undefined) native.requestResponseInfo = P.checkBool(props.requestResponseInformation, `${what}.requestResponseInformation`) === 1
  if (props.requestProblemInformation !== undefined) native.noProblemInfo = P.checkBool(props.requestProblemInformation, `${what}.requestProblemInformation`) === 0
  const user = P.encodeUser(props.userProperties, `${what}.userProperties`)
  if (user !== null) native.connectProps = user
}

// will.properties into native options: willDelayInterval, and the message's properties.
function willProperties (props, native) {
  const P = require('./props')
  const what = 'option will.properties'
  if (props === null || typeof props !== 'object' || Array.isArray(props)) throw typeError(`${what} must be an object, got ${describe(props)}`)
  const { willDelayInterval, ...rest } = props
  if (willDelayInterval !== undefined) native.willDelayMs = P.checkUint(willDelayInterval, 0xffffffff, `${what}.willDelayInterval`) * 1000
  if (rest.topicAlias !== undefined) throw typeError(`${what}.topicAlias: a will has no topic alias`)
  const wire = P.encodeMessage(rest, what)
  if (wire !== null) native.willProps = wire
}

// The native options that hand PEM material (MQTT.js's ca, cert and key) to the C API in
// memory: it never touches the disk.
function tlsPem (tls) {
  const add = {}
  const names = { ca: 'tlsCaPem', cert: 'tlsCertPem', key: 'tlsKeyPem' }
  for (const k of Object.keys(tls)) {
    if (tls[k].includes('\0')) throw typeError(`option ${k} contains a NUL byte: give PEM text`)
    add[names[k]] = tls[k]
  }
  return add
}

module.exports = {
  resolve,
  mqttStringProblem,
  mqttStringProblemByCharacter,
  checkMqttText,
  redactUrl,
  MAX_STRING_FIELD,
  haOptions,
  tlsPem,
  parseUrl,
  validatePublishTopic,
  isPlainPublishTopic,
  validateFilter,
  validateQos,
  validatePayload,
  typeError,
  rangeError,
  unsupported,
  describe,
  PUBLISHER_TYPES
}
