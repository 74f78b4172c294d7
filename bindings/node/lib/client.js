'use strict'
// MqttClient: the MQTT.js client API over a virtual cluster.
//
// "Connected" means at least one endpoint of the cluster is live. The engine probes and fails
// over by itself; the MQTT.js events map onto the cluster as a whole, in MQTT.js's order. What
// MQTT.js calls a connection (its stream) is here "at least one endpoint live", and a
// connection attempt is a call of the engine's connect (which answers at once when every
// broker refused):
//   connect    an attempt succeeded, or the engine found a broker while none was live
//   error      an attempt failed (ECONNREFUSED when every broker refused, as net reports it),
//              an asynchronous publish failed with nobody to tell, or the engine reported one
//   offline    the first loss of an outage (reconnectPeriod > 0), just before its 'close'
//   close      once per lost connection and once per failed attempt (or the client ended)
//   reconnect  before each retry, every reconnectPeriod while no endpoint is live
//   end        end() finished
//   message    (topic, payload: Buffer, packet)
//   packetsend / packetreceive  the packets the client exchanges with the cluster as a whole
//                               (see README)
// plus hamqtt's own: endpointUp(name), endpointDown(name, reason).
const { NativeOwner, makeError, binding, holdSignalsForTurn } = require('./base')
const opt = require('./options')
const P = require('./props')
const util = require('node:util')
const os = require('node:os')

const ECONNREFUSED_ERRNO = -os.constants.errno.ECONNREFUSED

function noop () {}

// The options of a publish given none.
const NO_OPTIONS = Object.freeze({})

// What end() gives the callbacks of publishes without an outcome, as MQTT.js's end() does.
function closedError () {
  const e = new Error('Connection closed')
  e.code = 'HAMQTT_ERR_CLOSED'
  return e
}

// An invalid topic reported as MQTT.js reports one: an Error to the callback (on a later tick),
// nothing sent. Without a callback it goes to 'error' listeners, if any.
function invalidTopic (client, topics, callback) {
  for (const t of topics) {
    const problem = opt.mqttStringProblem(t)
    if (problem === null) continue
    const err = new Error(`Invalid topic ${JSON.stringify(t)}: it ${problem}`)
    err.code = 'HAMQTT_ERR_TOPIC'
    if (callback && callback !== noop) setImmediate(callback, err)
    else setImmediate(() => client._emitError(err, true))
    return true
  }
  return false
}

// MQTT 5 (properties: the CONNACK properties, or undefined): reasonCode in place of returnCode,
// as MQTT.js gives it.
function connackPacket (sessionPresent, v5, properties) {
  const p = { cmd: 'connack', retain: false, qos: 0, dup: false, length: 2, topic: null, payload: null, sessionPresent }
  if (!v5) {
    p.returnCode = 0
    return p
  }
  p.reasonCode = 0
  if (properties !== undefined) p.properties = properties
  return p
}

// The address a refused dial names ("dial tcp 127.0.0.1:1883: connect: connection refused"),
// else the endpoint URI's; null when the endpoint's last failure was not a refusal.
function refusedAddress (stat) {
  const why = typeof stat.lastError === 'string' ? stat.lastError : ''
  if (!/\bconnection refused\b/.test(why)) return null
  let hostPort = null
  const m = /\bdial \w+ (\S+): connect: connection refused/.exec(why)
  if (m) {
    hostPort = m[1]
  } else {
    try {
      const u = new URL(stat.uri)
      hostPort = `${u.hostname}:${u.port}`
    } catch {
      return null
    }
  }
  const i = hostPort.lastIndexOf(':')
  let address = hostPort.slice(0, i)
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1)
  const port = Number(hostPort.slice(i + 1))
  return Number.isInteger(port) && port > 0 ? { address, port, endpoint: stat.name } : null
}

// An ECONNREFUSED error shaped as net's: code, errno, syscall, address, port.
function refusedError ({ address, port, endpoint }, cause) {
  const e = new Error(`connect ECONNREFUSED ${address}:${port}`, cause ? { cause } : undefined)
  e.errno = ECONNREFUSED_ERRNO
  e.code = 'ECONNREFUSED'
  e.syscall = 'connect'
  e.address = address
  e.port = port
  if (endpoint !== undefined) e.endpoint = endpoint // hamqtt: the endpoint's name
  return e
}

// Synthesised acknowledgement packets (the engine acknowledged on every broker concerned).
function ackPacket (cmd, messageId, extra) {
  return { cmd, retain: false, qos: 0, dup: false, length: 2, topic: null, payload: null, messageId, ...extra }
}

// A publish a broker refused with an MQTT 5 reason code (0x80 and above), as MQTT.js reports
// it: ErrorWithReasonCode('Publish error: Not authorized', 135) with the PUBACK (QoS 1) or
// PUBREC (QoS 2) as err.packet and the callback's second argument; err.status is
// HAMQTT_ERR_REFUSED and err.cause the engine's error. null for any other outcome.
function refusedPublish (status, error, reasonCode, id, qos) {
  if (!(reasonCode >= 0x80)) return null
  const e = new P.ErrorWithReasonCode(`Publish error: ${P.ReasonCodes[reasonCode] || `reason code ${reasonCode}`}`, reasonCode)
  e.status = status
  if (error) e.cause = makeError(status, error)
  e.packet = ackPacket(qos === 2 ? 'pubrec' : 'puback', id, { length: 3, reasonCode })
  return e
}

class MqttClient extends NativeOwner {
  // util.inspect (console.log): the options without the password or the credentials of a URL.
  [util.inspect.custom] (depth, options, inspect) {
    const shown = { ...this.options }
    if (shown.password !== undefined && shown.password !== null) shown.password = '***'
    if (typeof shown.href === 'string') shown.href = opt.redactUrl(shown.href)
    if (typeof shown.auth === 'string' && shown.auth.includes(':')) shown.auth = shown.auth.replace(/:.*/, ':***')
    const state = { options: shown, connected: this.connected, reconnecting: this.reconnecting, disconnecting: this.disconnecting, disconnected: this.disconnected }
    return `MqttClient ${inspect(state, { ...options, depth: options.depth === null ? null : Math.max(0, options.depth - 1) })}`
  }

  constructor (brokerUrl, opts) {
    super()
    if (typeof brokerUrl === 'function') {
      throw opt.unsupported('new MqttClient(streamBuilder, options)', 'use connect(url, options)')
    }
    const r = opt.resolve(brokerUrl, opts)
    if (r.cluster !== null) {
      require('./ha').HaClusters._ensureInitialized(r.config)
    }
    this._spec = r
    // A configured cluster's outbox is its configuration file's (null: memory or disk, or
    // none, as the file says); the others always have one.
    this._memoryOutbox = r.cluster === null ? r.native.outboxDir === undefined : null
    this._hasOutbox = true
    this.options = r.options
    this.connected = false
    this.reconnecting = false
    this.disconnecting = false
    this.disconnected = false
    // idle: not started (manualConnect, or after end + reconnect() until its subscriptions are
    // registered); connecting: an attempt runs; up: an endpoint is live; lost: the connection
    // or attempt was just lost (its events are being emitted); down: waiting for the next
    // retry (reconnectPeriod > 0); stopped: not retrying (reconnectPeriod 0); ending; ended
    this._state = 'idle'
    this._everConnected = false
    // A connection (an endpoint live) or an attempt is open: MQTT.js emits 'close' when its
    // stream closes, so its end owes one 'close'.
    this._open = false
    this._closeAfterEnd = false // end() began in the 'error' handler of a failed attempt
    this._retryTimer = null
    this._stopping = null // the engine's disconnect after a failure with reconnectPeriod 0
    this._reconnectAfterLost = false // reconnect() called while a loss was being reported
    this._refed = true
    this._packetId = 0 // ids of the synthesised SUBACK / UNSUBACK packets
    // Publishes whose outcome is reported (a callback, or a QoS 1/2 puback for
    // 'packetreceive'): publish id -> { qos, cb, packet, stored }. Every publish goes to the
    // engine at once, connected or not: its outbox keeps it until a broker acknowledged it and
    // sends the stream in publish order, as MQTT.js's offline queue and outgoing store do.
    this._reports = new Map()
    this._heldDisconnects = [] // MQTT 5: brokers' DISCONNECTs during an attempt, emitted after its 'connect'
    this._subs = new Map() // filter -> { qos, options } (to rebuild after end + reconnect)
    this._v5 = this.options.protocolVersion === 5
    this._waiters = [] // { resolve, reject } waiting for connected
    this._tail = Promise.resolve() // serialises subscribe/unsubscribe/reconnect
    this._endCallbacks = []
    this._deferredReconnect = false
    this._onIdleCb = null

    this._newNative()
    if (!this.options.manualConnect) this._start()
  }

  _newNative () {
    const r = this._spec
    this._live.clear()
    this._session.clear()
    this._createNative(r.cluster !== null
      ? { configured: true, cluster: r.cluster }
      : { endpoints: r.endpoints, native: r.native, tls: r.tls })
    this._closedForGood = false
    this._stopping = null
    this._hasOutbox = r.cluster === null || this._native.outboxStats() !== null
  }

  // --------------------------------------------------------------------------------------------
  // Connection lifecycle

  // MQTT.js's connect(): starts connecting (used with manualConnect).
  connect () {
    if (this._state === 'idle' || this._state === 'stopped' || this._state === 'down') this._attempt(false)
    return this
  }

  _start () { this._attempt(false) }

  // One connection attempt, as MQTT.js makes one when it starts and one per reconnectPeriod
  // while it is not connected: a retry emits 'reconnect' first.
  _attempt (retry) {
    this._clearRetry()
    const n = this._native
    this._state = 'connecting'
    this._open = true
    if (retry) {
      this.emit('reconnect')
      // end() or reconnect() from the handler: the attempt is theirs now.
      if (this._state !== 'connecting' || n !== this._native) return
    }
    const go = () => {
      if (this._state !== 'connecting' || n !== this._native || n.isClosed()) return
      this._watch()
      n.connect((err) => this._attemptDone(n, err))
    }
    if (this._stopping) this._stopping.then(go)
    else go()
  }

  _attemptDone (n, err) {
    if (n !== this._native || this._state !== 'connecting') return
    this._watch() // a reconnect makes a new event descriptor
    if (!err) {
      // Deliver the endpoint events already queued (endpointUp, with the CONNACK's session
      // present flag) before 'connect', as the broker's CONNACK comes before MQTT.js's event.
      if (!n.isClosed()) n.drain()
      if (n !== this._native || this._state !== 'connecting') return
      this._up()
      // A broker that closed the connection right after its CONNACK: as MQTT.js, 'connect',
      // then its 'disconnect', then the loss.
      this._emitHeldDisconnects()
      if (n === this._native && this._state === 'up' && this._live.size === 0) this._lost(null)
      return
    }
    this._emitHeldDisconnects()
    if (err.code === 'HAMQTT_ERR_CLOSED') return
    if (this._live.size > 0) { // an endpoint came up just after the wait ended
      this._up()
      return
    }
    this._lost(this._attemptError(n, err))
  }

  // The error of a failed attempt as MQTT.js gives it: when every broker refused the
  // connection, ECONNREFUSED shaped as net's error (one broker: its address and port; several:
  // `errors` holds one such error per broker), with the engine's error as `cause`.
  _attemptError (n, err) {
    if (err.code !== 'HAMQTT_ERR_NO_ENDPOINT' || n.isClosed()) return err
    let stats
    try {
      stats = n.stats().filter((s) => s.state !== 'removed')
    } catch {
      return err
    }
    if (stats.length === 0) return err
    const refused = []
    for (const s of stats) {
      const r = refusedAddress(s)
      if (r === null) return err
      refused.push(r)
    }
    if (refused.length === 1) return refusedError(refused[0], err)
    const e = new Error(`connect ECONNREFUSED ${refused.map((r) => `${r.address}:${r.port}`).join(', ')}`, { cause: err })
    e.errno = ECONNREFUSED_ERRNO
    e.code = 'ECONNREFUSED'
    e.syscall = 'connect'
    e.errors = refused.map((r) => refusedError(r))
    return e
  }

  _up () {
    if (this.connected) return
    this._clearRetry()
    this.connected = true
    this.reconnecting = false
    this._state = 'up'
    this._open = true
    this._everConnected = true
    const waiters = this._waiters
    this._waiters = []
    for (const w of waiters) w.resolve()
    // sessionPresent: every live broker still had this client's session (clean: false).
    const live = [...this._live]
    const connack = connackPacket(live.length > 0 && live.every((e) => this._session.get(e) === true), this._v5,
      this._v5 ? this._connackProperties() : undefined)
    if (this.listenerCount('packetreceive') > 0) this.emit('packetreceive', connack)
    if (this._state !== 'up') return
    this.emit('connect', connack)
  }

  // The connection (no endpoint live any more) or an attempt (`err`) is lost, which MQTT.js
  // reports as its stream closing: the attempt's 'error', then 'offline' (the first loss of an
  // outage, with reconnectPeriod > 0) and 'close'; then a retry after reconnectPeriod, or none.
  _lost (err) {
    const n = this._native
    this.connected = false
    this._open = false
    this._state = 'lost'
    if (err) {
      this._emitError(err, true)
      if (this.disconnecting) {
        // end() from the 'error' handler: MQTT.js emits 'end' first, then this 'close'.
        this._closeAfterEnd = true
        return
      }
    }
    const retry = this.options.reconnectPeriod > 0
    if (retry && !this.reconnecting) {
      this.emit('offline')
      this.reconnecting = true
    }
    this.emit('close')
    if (this.disconnecting || n !== this._native) return // end() or reconnect() from a handler
    if (this._reconnectAfterLost) {
      this._reconnectAfterLost = false
      this._attempt(false) // reconnect() from a handler: its 'reconnect' was emitted
      return
    }
    if (this._state !== 'lost') return
    if (retry) {
      this._state = 'down'
      this._retryTimer = setTimeout(() => {
        this._retryTimer = null
        if (this._state === 'down' && n === this._native) this._attempt(true)
      }, this.options.reconnectPeriod)
      if (!this._refed) this._retryTimer.unref()
    } else {
      // reconnectPeriod 0: no reconnection, as MQTT.js; connect() or reconnect() starts again.
      this._state = 'stopped'
      this._stopEngine()
    }
  }

  // The MQTT 5 CONNACK properties of the longest-live broker, MQTT.js shaped (with
  // assignedClientIdentifier: the engine's id when the application gave clientId '').
  _connackProperties () {
    try {
      return P.fromNative(this._native.connackProps(null))
    } catch {
      return undefined
    }
  }

  _stopEngine () {
    const n = this._native
    if (n.isClosed()) return
    const p = new Promise((resolve) => {
      n.disconnect(() => {
        if (this._stopping === p) this._stopping = null
        if (n === this._native && !n.isClosed()) n.drain()
        resolve()
      })
    })
    this._stopping = p
  }

  _clearRetry () {
    if (this._retryTimer !== null) {
      clearTimeout(this._retryTimer)
      this._retryTimer = null
    }
  }

  _onUp (name) {
    this.emit('endpointUp', name)
    if (this._state === 'down' && this._live.size > 0) {
      // The engine found a broker before the next retry was due: that retry, now.
      const n = this._native
      this._clearRetry()
      this._state = 'connecting'
      this._open = true
      this.emit('reconnect')
      if (this._state !== 'connecting' || n !== this._native) return
      if (this._live.size > 0) this._up()
      else this._attempt(false)
    }
  }

  _onDown (name, reason, status, reasonCode) {
    // MQTT 5: a broker closed the connection with a DISCONNECT: MQTT.js's 'disconnect' with the
    // packet, for each broker of the cluster that does it (packet.endpoint says which), also
    // while others stay live; 'close' and 'offline' still mean that no broker is left.
    if (this._v5 && (reasonCode > 0 || /\bDISCONNECT from /.test(reason || ''))) {
      const packet = P.disconnectPacket(reasonCode, reason)
      packet.endpoint = name
      // During an attempt it follows the attempt's 'connect' (the CONNACK came first).
      if (this._state === 'connecting') this._heldDisconnects.push(packet)
      else this.emit('disconnect', packet)
    }
    this.emit('endpointDown', name, reason)
    if (this.connected && this._live.size === 0 && this._state === 'up') this._lost(null)
  }

  _emitHeldDisconnects () {
    const held = this._heldDisconnects
    if (held.length === 0) return
    this._heldDisconnects = []
    for (const p of held) this.emit('disconnect', p)
  }

  _whenConnected () {
    if (this.connected) return Promise.resolve()
    if (this.disconnecting) return Promise.reject(new Error('client disconnecting'))
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }))
  }

  _serial (fn) {
    const p = this._tail.then(fn)
    this._tail = p.then(noop, noop)
    return p
  }

  _checkDisconnecting (callback) {
    if (this.disconnecting) {
      if (callback && callback !== noop) callback(new Error('client disconnecting'))
      else this._emitError(new Error('client disconnecting'), true)
    }
    return this.disconnecting
  }

  // 'error' for the listeners. Without one, MQTT.js's connect() drops it (it adds a listener
  // that does nothing, so that an error never throws); `quiet` errors are dropped likewise,
  // the others (a publish nobody else hears of failed) become a process warning.
  _emitError (err, quiet) {
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else if (!quiet) process.emitWarning(err.message, { type: 'HamqttWarning', code: err.code })
  }

  // --------------------------------------------------------------------------------------------
  // Events from the native client

  _onMessage (topic, payload, flags, endpoint, props) {
    const qos = flags & 3
    const packet = {
      cmd: 'publish',
      retain: (flags & 4) !== 0,
      qos,
      dup: (flags & 8) !== 0,
      length: payload.length + Buffer.byteLength(topic) + 2 + (qos > 0 ? 2 : 0),
      topic,
      payload,
      endpoint
    }
    if (props !== undefined) {
      // MQTT 5: MQTT.js's shape (userProperties { name: value | [values] }, correlationData a
      // Buffer, subscriptionIdentifier a number, or an array when several subscriptions matched).
      packet.properties = P.fromNative(props)
    }
    if (this._v5) packet.length += 1
    if (this.listenerCount('packetreceive') > 0) this.emit('packetreceive', packet)
    this.emit('message', topic, payload, packet)
  }

  // The outcome of a publish: a broker acknowledged it (QoS 0: a broker's connection took it),
  // or the outbox gave up on it (HAMQTT_ERR_DROPPED, HAMQTT_ERR_EXPIRED), brokers kept
  // refusing it, or (QoS 0 without queueQoSZero) no broker took it within ha.timeToWait. A
  // message stored by an earlier run of a disk outbox reports only its failure, with an id
  // nobody here knows.
  _onDelivery (id, status, error, endpoints, reasonCode) {
    const rep = this._reports.get(id)
    if (!rep) {
      if (status !== 0) this._onError(refusedPublish(status, error, reasonCode, id, 1) || makeError(status, error || 'publish failed'))
      return
    }
    this._reports.delete(id)
    const refused = refusedPublish(status, error, reasonCode, id, rep.qos)
    if (refused !== null) {
      // MQTT 5: a broker refused the message with a reason code (PUBACK or PUBREC): as MQTT.js,
      // (ErrorWithReasonCode with err.code the reason code, the acknowledgement packet).
      if (this.listenerCount('packetreceive') > 0) this.emit('packetreceive', refused.packet)
      if (rep.cb) rep.cb(refused, refused.packet)
      else this._onError(refused)
      return
    }
    if (status === 0) {
      if (rep.qos > 0 && this.listenerCount('packetreceive') > 0) this.emit('packetreceive', ackPacket(rep.qos === 1 ? 'puback' : 'pubcomp', id, this._v5 ? { reasonCode: 0 } : undefined))
      // As MQTT.js: QoS 0 calls back without arguments, QoS 1/2 with (null, packet).
      if (rep.cb) {
        if (rep.qos === 0) rep.cb()
        else rep.cb(null, rep.packet)
      }
      return
    }
    const err = makeError(status, error || 'publish failed')
    if (rep.cb) rep.cb(err)
    else this._onError(err)
  }

  _onError (err) {
    this._emitError(err, false)
  }

  // The engine reports a cluster with subscriptions that is subscribed on no live broker while
  // one is reachable, also for the moment of every revival between a broker's listener
  // accepting and its session being back. While no endpoint is live, MQTT.js's 'offline',
  // 'close' and each failed retry's 'error' already tell the outage: not an 'error' of its own.
  _onEngineError (err) {
    if (!this.connected && /^subscribed on no live broker\b/.test(err.message)) return
    this._onError(err)
  }

  _onIdle () {
    const cb = this._onIdleCb
    this._onIdleCb = null
    if (cb) cb()
  }

  // --------------------------------------------------------------------------------------------
  // Publish

  publish (topic, message, opts, callback) {
    if (typeof opts === 'function') {
      callback = opts
      opts = null
    }
    if (callback !== undefined && callback !== null && typeof callback !== 'function') {
      throw opt.typeError(`publish callback must be a function, got ${opt.describe(callback)}`)
    }
    if (callback === null) callback = undefined
    if (opts !== undefined && opts !== null && typeof opts !== 'object') throw opt.typeError(`publish options must be an object, got ${opt.describe(opts)}`)
    // The common topic (printable ASCII, no wildcard) is checked once here; any other goes
    // through both checks, with the errors they always gave.
    const plainTopic = opt.isPlainPublishTopic(topic)
    if (!plainTopic) opt.validatePublishTopic(topic)
    message = opt.validatePayload(message)
    let qos = 0
    let retain = false
    let props = null // MQTT 5 properties as a flat list the addon hands to the library's setters
    if (opts === undefined || opts === null) {
      opts = NO_OPTIONS // publish(topic, message[, callback]): nothing more to read or check
    } else {
      qos = opt.validateQos(opts.qos)
      for (const k of Object.keys(opts)) {
        if (opts[k] === undefined) continue
        switch (k) {
          case 'qos': case 'retain': case 'cbStorePut': break
          case 'dup':
            if (opts.dup) throw opt.unsupported('publish option dup: true', 'the engine sets the DUP flag itself when it re-sends')
            break
          case 'properties':
            if (!this._v5) throw opt.typeError('publish option properties needs protocolVersion: 5 (MQTT 5)')
            break
          case 'messageId': throw opt.unsupported('publish option messageId', 'the engine assigns message ids')
          default: throw opt.typeError(`unknown publish option ${k}`)
        }
      }
      if (opts.retain !== undefined && typeof opts.retain !== 'boolean') throw opt.typeError(`publish option retain must be a boolean, got ${opt.describe(opts.retain)}`)
      if (opts.cbStorePut !== undefined && typeof opts.cbStorePut !== 'function') throw opt.typeError('publish option cbStorePut must be a function')
      retain = opts.retain === true
      if (this._v5) props = P.encodeMessage(opts.properties, undefined, true)
    }
    if (!plainTopic && invalidTopic(this, [topic], callback)) return this
    if (this.disconnecting && this._checkDisconnecting(callback)) return this
    if (qos === 0 && !this.connected && !this.options.queueQoSZero) {
      // queueQoSZero: false: a QoS 0 message is not kept while offline, as in MQTT.js.
      if (callback) callback(new Error('No connection to broker'))
      return this
    }
    // Outcomes are reported for a callback, and for a QoS 1/2 puback 'packetreceive' listeners
    // see; the other publishes go detached (no event on success; a failure is an 'error'),
    // with or without an outbox: the engine reports a detached message's failure once.
    const report = callback !== undefined || (qos > 0 && this.listenerCount('packetreceive') > 0)
    let id
    holdSignalsForTurn()
    try {
      id = props === null ? this._native.publish(topic, message, qos, retain, report) : this._native.publish(topic, message, qos, retain, report, props)
    } catch (err) {
      // The outbox had no room (or could not write it): not stored, and nothing more follows.
      // MQTT.js reports a store's refusal to the callback likewise, from publish() itself.
      // HAMQTT_ERR_STATE: not connected, and no outbox keeps this QoS (a configured cluster
      // whose file gives it none), which MQTT.js reports as its offline QoS 0 refusal.
      let e = err
      if (err.code === 'HAMQTT_ERR_STATE') {
        e = new Error(`No connection to broker: ${this._hasOutbox ? 'QoS 0 messages are not stored' : 'the cluster has no outbox (its configuration file gives it none)'}`, { cause: err })
        e.code = err.code
      } else if (err.code !== 'HAMQTT_ERR_FULL' && err.code !== 'HAMQTT_ERR_IO') {
        throw err // bad topic, payload, ...
      }
      if (callback) callback(e)
      else this._onError(e)
      return this
    }
    const stored = this._stores(qos)
    if (report) {
      this._reports.set(id, {
        qos,
        cb: callback,
        stored,
        packet: callback !== undefined && qos > 0
          ? this._publishPacket(topic, message, qos, retain, id, opts.properties)
          : undefined
      })
    }
    if (this.listenerCount('packetsend') > 0) {
      this.emit('packetsend', this._publishPacket(topic, message, qos, retain, qos > 0 ? id : 0, opts.properties))
    }
    // As MQTT.js: once a QoS 1/2 message is in the outgoing store (here: the outbox).
    if (opts.cbStorePut && qos > 0 && stored) opts.cbStorePut()
    return this
  }

  // Whether the outbox keeps a message of this QoS (a configured cluster's file decides about
  // QoS 0: not counted).
  _stores (qos) {
    return this._hasOutbox && (qos > 0 || (this.options.queueQoSZero && this._memoryOutbox !== null))
  }

  // The publish packet as MQTT.js hands it back (MQTT 5: with the properties given).
  _publishPacket (topic, payload, qos, retain, messageId, properties) {
    const p = { cmd: 'publish', topic, payload, qos, retain, messageId, dup: false }
    if (this._v5) p.properties = properties
    return p
  }

  publishAsync (topic, message, opts) {
    return new Promise((resolve, reject) => {
      this.publish(topic, message, opts, (err, packet) => (err ? reject(err) : resolve(packet)))
    })
  }

  // --------------------------------------------------------------------------------------------
  // Subscribe / unsubscribe

  subscribe (topicObject, opts, callback) {
    if (typeof opts === 'function') {
      callback = opts
      opts = undefined
    }
    if (callback !== undefined && callback !== null && typeof callback !== 'function') {
      throw opt.typeError(`subscribe callback must be a function, got ${opt.describe(callback)}`)
    }
    callback = callback || noop
    if (opts === null || opts === undefined) opts = {}
    if (typeof opts !== 'object' || Array.isArray(opts)) throw opt.typeError(`subscribe options must be an object, got ${opt.describe(opts)}`)
    const v5 = this._v5
    const checkSubOpts = (o, where) => {
      for (const k of Object.keys(o)) {
        if (o[k] === undefined) continue
        if (k === 'qos') continue
        if (k === 'nl' || k === 'rap' || k === 'rh') {
          if (!v5 && o[k]) throw opt.typeError(`${where} ${k} needs protocolVersion: 5 (MQTT 5 subscription options)`)
          if (k === 'rh') {
            if (o.rh !== 0 && o.rh !== 1 && o.rh !== 2) throw opt.rangeError(`${where} rh must be 0, 1 or 2, got ${opt.describe(o.rh)}`)
          } else if (typeof o[k] !== 'boolean') {
            throw opt.typeError(`${where} ${k} must be a boolean, got ${opt.describe(o[k])}`)
          }
          continue
        }
        if (k === 'properties') continue // checked below (the call's properties only count)
        throw opt.typeError(`unknown ${where} ${k}`)
      }
    }
    checkSubOpts(opts, 'subscribe option')
    // MQTT 5 SUBSCRIBE properties: subscriptionIdentifier, given back with every message the
    // subscriptions match. As MQTT.js, those of the options apply to every filter of the call.
    const properties = opts.properties === null ? undefined : opts.properties
    let subscriptionId = 0
    let subscriptionUser = null // the user properties as the addon's flat list
    if (properties !== undefined) {
      if (!v5) throw opt.typeError('subscribe option properties needs protocolVersion: 5 (MQTT 5)')
      P.checkKeys(properties, ['subscriptionIdentifier', 'userProperties'], 'subscribe option properties')
      // Sent with the SUBSCRIBE to every broker, and again wherever the engine makes the
      // subscription later (a broker that comes up or back).
      subscriptionUser = P.encodeUserFlat(properties.userProperties, 'subscribe option properties.userProperties')
      if (properties.subscriptionIdentifier !== undefined) {
        subscriptionId = P.checkUint(properties.subscriptionIdentifier, 268435455, 'subscribe option properties.subscriptionIdentifier')
        if (subscriptionId === 0) throw opt.rangeError('subscribe option properties.subscriptionIdentifier must be from 1 to 268435455, got 0')
      }
    }
    const defaultQos = opt.validateQos(opts.qos, 'subscribe option qos')
    // As MQTT.js: the request per filter ({ topic, qos } and, MQTT 5, nl, rap, rh, properties),
    // which the callback gets back with the granted QoS.
    const request = (topic, qos, o) => {
      const r = { topic, qos }
      if (v5) {
        r.nl = o.nl
        r.rap = o.rap
        r.rh = o.rh
        r.properties = properties
      }
      return r
    }
    const dflt = v5 ? { nl: false, rap: false, rh: 0, ...opts } : opts
    const subs = []
    if (typeof topicObject === 'string') {
      subs.push(request(topicObject, defaultQos, dflt))
    } else if (Array.isArray(topicObject)) {
      if (topicObject.length === 0) throw opt.typeError('subscribe: the topic list is empty')
      for (const t of topicObject) subs.push(request(t, defaultQos, dflt))
    } else if (topicObject !== null && typeof topicObject === 'object') {
      const keys = Object.keys(topicObject).filter((k) => k !== 'resubscribe')
      if (keys.length === 0) throw opt.typeError('subscribe: the topic object is empty')
      for (const t of keys) {
        const o = topicObject[t]
        if (o === null || typeof o !== 'object') throw opt.typeError(`subscribe: ${JSON.stringify(t)} must map to { qos }, got ${opt.describe(o)}`)
        checkSubOpts(o, `subscribe option of ${JSON.stringify(t)}:`)
        subs.push(request(t, opt.validateQos(o.qos, `qos of ${JSON.stringify(t)}`), o))
      }
    } else {
      throw opt.typeError(`subscribe: topic must be a string, an array of strings or an object { topic: { qos } }, got ${opt.describe(topicObject)}`)
    }
    for (const s of subs) opt.validateFilter(s.topic)
    if (invalidTopic(this, subs.map((s) => s.topic), callback)) return this
    if (this._checkDisconnecting(callback)) return this
    // The engine's subscription options (null: none, as MQTT 3.1.1 subscribes).
    const nativeOpts = (s) => (v5 && (s.nl || s.rap || s.rh || subscriptionId || subscriptionUser)
      ? { noLocal: !!s.nl, retainAsPublished: !!s.rap, retainHandling: s.rh || 0, subscriptionId, props: subscriptionUser }
      : null)
    for (const s of subs) {
      if (s.nl && s.topic.startsWith('$share/')) throw opt.typeError(`subscribe option nl: no-local is not allowed on a shared subscription (${JSON.stringify(s.topic)})`)
    }
    for (const s of subs) this._subs.set(s.topic, { qos: s.qos, options: nativeOpts(s) })
    const messageId = this._nextPacketId()
    this._serial(async () => {
      await this._whenConnected()
      if (this.listenerCount('packetsend') > 0) {
        const packet = { cmd: 'subscribe', subscriptions: subs.map((s) => ({ ...s })), messageId }
        if (properties !== undefined) packet.properties = properties
        this.emit('packetsend', packet)
      }
      const codes = []
      for (const s of subs) codes.push(await this._subscribeOne(s.topic, s.qos, nativeOpts(s)))
      return codes
    }).then((codes) => {
      // As MQTT.js: (null, granted, suback). The SUBACK stands for the brokers' answers: the
      // QoS granted per filter, or the reason code (0x80 and above) a broker refused it with.
      const suback = ackPacket('suback', messageId, { length: 2 + codes.length + (v5 ? 1 : 0), granted: codes })
      if (this.listenerCount('packetreceive') > 0) this.emit('packetreceive', suback)
      const refused = codes.find((c) => (c & 0x80) !== 0)
      if (refused !== undefined) {
        // As MQTT.js 5: a refused filter fails the call (ErrorWithSubackPacket, the SUBACK in
        // err.packet and as the third argument) and is not made again after a reconnection.
        for (let i = 0; i < codes.length; i++) if ((codes[i] & 0x80) !== 0) this._subs.delete(subs[i].topic)
        const err = new P.ErrorWithSubackPacket(`Subscribe error: ${P.ReasonCodes[refused] || `reason code ${refused}`}`, suback)
        callback(err, subs, suback)
        return
      }
      for (let i = 0; i < codes.length; i++) subs[i].qos = codes[i]
      callback(null, subs, suback)
    }, (err) => callback(err, subs))
    return this
  }

  _nextPacketId () {
    this._packetId = this._packetId % 65535 + 1
    return this._packetId
  }

  // One filter: the QoS the brokers granted, or the MQTT 5 reason code one refused it with.
  async _subscribeOne (topic, qos, options) {
    for (;;) {
      await this._whenConnected()
      try {
        return await (options === null ? this._call('subscribe', topic, qos) : this._call('subscribe', topic, qos, options))
      } catch (err) {
        if (err.code === 'HAMQTT_ERR_REFUSED') return err.reasonCode >= 0x80 ? err.reasonCode : 0x80
        // No endpoint live: it stays registered and is made when one comes up; wait for that
        // and ask again to see it acknowledged, as MQTT.js waits for its SUBACK.
        if (err.code !== 'HAMQTT_ERR_NO_ENDPOINT' || this.disconnecting) throw err
        if (this.connected && this._live.size > 0) throw err
        if (this.connected && this._state === 'up') this._lost(null) // our view was stale: the down event is on its way
      }
    }
  }

  subscribeAsync (topicObject, opts) {
    return new Promise((resolve, reject) => {
      this.subscribe(topicObject, opts, (err, granted) => (err ? reject(err) : resolve(granted)))
    })
  }

  unsubscribe (topic, opts, callback) {
    if (typeof opts === 'function') {
      callback = opts
      opts = undefined
    }
    if (callback !== undefined && callback !== null && typeof callback !== 'function') {
      throw opt.typeError(`unsubscribe callback must be a function, got ${opt.describe(callback)}`)
    }
    callback = callback || noop
    let properties
    let user = null // MQTT 5: the UNSUBSCRIBE's user properties as the addon's flat list
    if (opts !== undefined && opts !== null) {
      if (typeof opts !== 'object') throw opt.typeError(`unsubscribe options must be an object, got ${opt.describe(opts)}`)
      for (const k of Object.keys(opts)) {
        if (opts[k] === undefined) continue
        if (k !== 'properties') throw opt.typeError(`unknown unsubscribe option ${k}`)
      }
      if (opts.properties !== undefined && opts.properties !== null) {
        if (!this._v5) throw opt.typeError('unsubscribe option properties needs protocolVersion: 5 (MQTT 5)')
        properties = opts.properties
        P.checkKeys(properties, ['userProperties'], 'unsubscribe option properties')
        user = P.encodeUserFlat(properties.userProperties, 'unsubscribe option properties.userProperties')
      }
    }
    const topics = typeof topic === 'string' ? [topic] : topic
    if (!Array.isArray(topics) || topics.length === 0) {
      throw opt.typeError(`unsubscribe: topic must be a string or a non-empty array of strings, got ${opt.describe(topic)}`)
    }
    for (const t of topics) opt.validateFilter(t)
    if (invalidTopic(this, topics, callback)) return this
    if (this._checkDisconnecting(callback)) return this
    for (const t of topics) this._subs.delete(t)
    const messageId = this._nextPacketId()
    this._serial(async () => {
      if (this.listenerCount('packetsend') > 0) {
        const packet = { cmd: 'unsubscribe', messageId, unsubscriptions: topics.slice() }
        if (properties !== undefined) packet.properties = properties
        this.emit('packetsend', packet)
      }
      for (const t of topics) {
        try {
          await (user === null ? this._call('unsubscribe', t) : this._call('unsubscribe', t, user))
        } catch (err) {
          // Not subscribed, or no endpoint live (then it is gone from the registry and never
          // made again): both leave the filter unsubscribed, which is what was asked.
          if (err.code !== 'HAMQTT_ERR_NOT_FOUND' && err.code !== 'HAMQTT_ERR_NO_ENDPOINT') throw err
        }
      }
    }).then(() => {
      // As MQTT.js: (null, unsuback).
      const unsuback = ackPacket('unsuback', messageId)
      if (this.listenerCount('packetreceive') > 0) this.emit('packetreceive', unsuback)
      callback(null, unsuback)
    }, (err) => callback(err))
    return this
  }

  unsubscribeAsync (topic, opts) {
    return new Promise((resolve, reject) => {
      this.unsubscribe(topic, opts, (err, packet) => (err ? reject(err) : resolve(packet)))
    })
  }

  // --------------------------------------------------------------------------------------------
  // End and reconnect

  end (force, opts, cb) {
    if (force == null || typeof force !== 'boolean') {
      cb = cb || opts
      opts = force
      force = false
    }
    if (typeof opts !== 'object') {
      cb = cb || opts
      opts = null
    }
    // MQTT 5: the DISCONNECT each broker gets, with a reason code (4: the brokers publish the
    // will) and properties; MQTT 3.1.1 has none, and they are left out as MQTT.js does.
    let disconnectWith = null
    if (opts) {
      for (const k of Object.keys(opts)) {
        if (opts[k] === undefined) continue
        if (k !== 'reasonCode' && k !== 'properties') throw opt.typeError(`unknown end option ${k}`)
      }
      // (a configured cluster's session expiry is its file's: the library checks it)
      if (this._v5) disconnectWith = P.encodeDisconnect(opts, this._spec.cluster !== null || this._spec.native.sessionExpiryMs > 0)
    }
    if (cb !== undefined && cb !== null && typeof cb !== 'function') throw opt.typeError(`end callback must be a function, got ${opt.describe(cb)}`)
    if (this.disconnecting) {
      // As MQTT.js: end() while the client ends (or after) calls back at once.
      if (cb) cb()
      return this
    }
    if (cb) this._endCallbacks.push(cb)
    this._clearRetry()
    this.disconnecting = true
    // MQTT.js emits 'close' when its stream closes: a connection's before 'end', an attempt's
    // after it; while it waits to retry nothing is open, and end() emits no 'close'.
    const closeBeforeEnd = this._open && this.connected
    if (this._open && !this.connected) this._closeAfterEnd = true
    this._open = false
    // Without force the outbox is delivered first, while the engine runs (connected, or
    // retrying): a client never started, or stopped (reconnectPeriod 0), would wait forever.
    const deliverFirst = !force && this._state !== 'idle' && this._state !== 'stopped' && this._stopping === null
    this._state = 'ending'
    const waiters = this._waiters
    this._waiters = []
    for (const w of waiters) w.reject(new Error('client disconnecting'))

    const finish = () => {
      const n = this._native
      if (!force && closeBeforeEnd && this.listenerCount('packetsend') > 0) {
        const packet = { cmd: 'disconnect' }
        if (this._v5 && opts) {
          if (opts.reasonCode !== undefined) packet.reasonCode = opts.reasonCode
          if (opts.properties !== undefined) packet.properties = opts.properties
        }
        this.emit('packetsend', packet)
      }
      const dropped = this._droppedWithoutCallback()
      // The DISCONNECT with a reason first (the close after it finds the brokers disconnected).
      const close = (fn) => (disconnectWith === null || n.isClosed()
        ? n.close(fn)
        : n.disconnect(disconnectWith.reasonCode, disconnectWith.props, () => n.close(fn)))
      close(() => {
        this._releaseCluster()
        const reports = this._reports
        this._reports = new Map()
        // As MQTT.js's end: what has no outcome yet fails with 'Connection closed'. A disk
        // outbox keeps those messages for the next client on its directory.
        for (const rep of reports.values()) if (rep.cb) rep.cb(closedError())
        if (dropped > 0) this._onError(new Error(`client disconnecting: ${dropped} message${dropped === 1 ? '' : 's'} published without a callback, not delivered to a broker, dropped with the memory outbox`))
        this.connected = false
        this.reconnecting = false
        this._live.clear()
        this._session.clear()
        if (closeBeforeEnd) this.emit('close')
        process.nextTick(() => {
          this._state = 'ended'
          this.disconnected = true
          this.emit('end')
          const cbs = this._endCallbacks
          this._endCallbacks = []
          for (const f of cbs) f()
          if (this._closeAfterEnd) {
            // The attempt's 'close', on a later turn of the loop as its stream's in MQTT.js.
            this._closeAfterEnd = false
            setImmediate(() => this.emit('close'))
          }
          if (this._deferredReconnect) {
            this._deferredReconnect = false
            this.reconnect()
          }
        })
      })
    }
    if (deliverFirst && !this._native.isClosed()) {
      // As MQTT.js empties its outgoing store before it ends: the engine first delivers what
      // the outbox holds (those without a callback report nothing; during an outage this waits
      // for a broker, as MQTT.js waits), then the outcomes of the others reach their callbacks.
      const n = this._native
      n.flush(() => {
        if (n.isClosed() || n.notifyIdle()) finish()
        else this._onIdleCb = finish
      })
    } else {
      finish()
    }
    return this
  }

  // How many messages published without a callback a memory outbox still holds, which closing
  // the client drops: they are reported, not lost silently. (A disk outbox keeps them.)
  _droppedWithoutCallback () {
    if (this._memoryOutbox !== true || this._native.isClosed()) return 0
    let s
    try {
      s = this._native.outboxStats()
    } catch {
      return 0
    }
    if (s === null) return 0
    let told = 0
    for (const rep of this._reports.values()) if (rep.cb && rep.stored) told++
    return Math.max(0, s.messages - told)
  }

  // end(true) that resolves once the client ended, also when an end() is under way (for
  // HaClusters.shutdown, which must not close the library under a client still closing).
  _endAndWait () {
    if (this._state === 'ended') return Promise.resolve()
    return new Promise((resolve) => {
      this._endCallbacks.push(resolve)
      if (!this.disconnecting) this.end(true)
    })
  }

  endAsync (force, opts) {
    return new Promise((resolve, reject) => {
      this.end(force, opts, (err) => (err ? reject(err) : resolve()))
    })
  }

  reconnect (opts) {
    if (opts !== undefined && opts !== null) {
      if (typeof opts !== 'object') throw opt.typeError(`reconnect options must be an object, got ${opt.describe(opts)}`)
      for (const k of Object.keys(opts)) {
        if (opts[k] === undefined) continue
        if (k in { incomingStore: 1, outgoingStore: 1 }) throw opt.unsupported(`reconnect option ${k}`, 'custom message stores')
        throw opt.typeError(`unknown reconnect option ${k}`)
      }
    }
    if (this.disconnecting && this._state !== 'ended') {
      this._deferredReconnect = true
      return this
    }
    if (this._state === 'ended') {
      this.disconnecting = false
      this.disconnected = false
      this._newNative()
      this._state = 'idle'
      const n = this._native
      const subs = [...this._subs]
      // Registered before connecting: the engine makes them on every endpoint that comes up.
      this._serial(async () => {
        for (const [t, { qos, options }] of subs) {
          await (options === null ? this._call('subscribe', t, qos) : this._call('subscribe', t, qos, options))
        }
      }).then(() => {
        if (n === this._native && this._state === 'idle') this._start()
      }, (err) => this._onError(err))
      this.emit('reconnect')
      return this
    }
    switch (this._state) {
      case 'lost': // from a handler of the loss's events: the attempt follows them
        this._reconnectAfterLost = true
        this.emit('reconnect')
        return this
      case 'idle': case 'stopped': case 'down':
        this._attempt(true)
        return this
      case 'connecting': // the attempt under way is the reconnection
        this.emit('reconnect')
        return this
    }
    // Connected: drop every connection and connect again. MQTT.js ends and connects again:
    // 'reconnect', 'close', 'end', 'connect'.
    this.emit('reconnect')
    if (this._state !== 'up') return this // ended from the handler
    const n = this._native
    this._state = 'connecting'
    this._serial(async () => {
      await this._call('disconnect')
      if (n !== this._native || this.disconnecting) return
      n.drain() // outcomes of publishes the disconnect failed
      this._live.clear()
      this._session.clear()
      if (this.connected) {
        this.connected = false
        this._open = false
        this.emit('close')
        if (n !== this._native || this.disconnecting) return
        this.emit('end')
      }
      if (n === this._native && !this.disconnecting && this._state === 'connecting') this._attempt(false)
    }).catch((err) => this._onError(err))
    return this
  }

  // --------------------------------------------------------------------------------------------
  // What MQTT.js has and a virtual cluster cannot offer

  getLastMessageId () {
    throw opt.unsupported('getLastMessageId()', 'message ids belong to each broker connection; publish callbacks receive the packet')
  }

  removeOutgoingMessage () {
    throw opt.unsupported('removeOutgoingMessage()', 'a message handed to the engine is delivered or fails over; it cannot be withdrawn')
  }

  handleMessage () {
    throw opt.unsupported('handleMessage()', 'incoming messages are acknowledged by the engine')
  }

  // hamqtt additions

  /** Names of the live endpoints, longest-live first. */
  liveEndpoints () { return this._native.isClosed() ? [] : this._native.liveEndpoints() }
  /** Names of the endpoints that are not live. */
  deadEndpoints () { return this._native.isClosed() ? [] : this._native.deadEndpoints() }
  /** Per-endpoint statistics. */
  stats () { return this._native.isClosed() ? [] : this._native.stats() }

  /**
   * The outbox: messages published and not yet delivered (held while no broker is live, or in
   * flight), their bytes, the oldest one's time and age, and counters since the client was
   * made. null once the client ended (and for a configured cluster without an outbox).
   */
  outboxStats () {
    if (this._native.isClosed()) return null
    const s = this._native.outboxStats()
    if (s !== null && this._memoryOutbox !== null) s.dir = this._memoryOutbox ? null : this._spec.native.outboxDir
    return s
  }

  /**
   * MQTT.js's offline queue, as far as code reads it: `queue.length` is the number of messages
   * in the outbox (published, not yet delivered). The messages themselves stay in the engine
   * (or on disk): the array has no entries.
   */
  get queue () {
    const s = this.outboxStats()
    const q = []
    q.length = s === null ? 0 : s.messages
    return Object.freeze(q)
  }
  /** Lets the process exit while this client is still open (unref) or not (ref). */
  unref () {
    this._refed = false
    this._native.ref(false)
    if (this._retryTimer !== null) this._retryTimer.unref()
    return this
  }

  ref () {
    this._refed = true
    this._native.ref(true)
    if (this._retryTimer !== null) this._retryTimer.ref()
    return this
  }
}

module.exports = { MqttClient, binding }
