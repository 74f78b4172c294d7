'use strict'
// The native HA API with JavaScript names: HaClusters (the configuration file and its clusters)
// and HaMqttClient (one virtual cluster: publish, publishTo, subscribe, endpoints, stats).
const fs = require('node:fs')
const { NativeOwner, makeError, binding, clusterOwners, holdSignalsForTurn } = require('./base')
const opt = require('./options')
const P = require('./props')

/**
 * A client of one virtual cluster. Events:
 *   message(topic, payload: Buffer, message: { topic, payload, qos, retain, dup, endpoint })
 *   endpointUp(name)            an endpoint connected
 *   endpointDown(name, reason)  an endpoint moved to the dead list
 *   error(err)                  a failure that belongs to no call
 */
class HaMqttClient extends NativeOwner {
  /**
   * @param {string} endpoints  broker URIs with lists and ranges, "tcp://10.0.0.5-7:1883-1885,ssl://b:8883"
   * @param {object} [options]  ha options (publisherType, dedup, outbox, ..., see README)
   */
  constructor (endpoints, options, _cluster) {
    super()
    this._pending = new Map() // publish id -> { resolve, reject }
    this._connecting = null
    this._outboxDir = undefined
    if (_cluster !== undefined) {
      this._createNative({ configured: true, cluster: _cluster })
    } else {
      if (typeof endpoints !== 'string' || endpoints.trim() === '') {
        throw opt.typeError(`HaMqttClient: endpoints must be a non-empty string of broker URIs, got ${opt.describe(endpoints)}`)
      }
      // protocolVersion 5: MQTT 5 to every broker (message properties in publish and publishTo)
      const plain = options !== null && typeof options === 'object' && !Array.isArray(options)
      const { protocolVersion, ...ha } = plain ? options : {}
      if (protocolVersion !== undefined && protocolVersion !== 4 && protocolVersion !== 5) {
        throw opt.rangeError(`HaMqttClient: option protocolVersion must be 4 (MQTT 3.1.1) or 5 (MQTT 5), got ${opt.describe(protocolVersion)}`)
      }
      const native = opt.haOptions(plain ? ha : options)
      if (protocolVersion === 5) native.protocolVersion = 5
      this._outboxDir = native.outboxDir
      this._createNative({ endpoints, native })
    }
    this._name = this._native.name()
  }

  /** The cluster's name. */
  get name () { return this._name }

  /** True once close() was called. */
  get closed () { return this._native.isClosed() }

  /**
   * Connects: resolves once at least one endpoint is live. On failure (no endpoint reachable in
   * ha.timeToWait) it rejects with HAMQTT_ERR_NO_ENDPOINT, and the client keeps probing.
   */
  connect () {
    this._ensureOpen()
    this._watch()
    return this._call('connect').finally(() => this._watch())
  }

  /** Disconnects every endpoint and stops probing; connect() starts again. */
  async disconnect () {
    this._ensureOpen()
    const n = this._native
    await this._call('disconnect')
    this._live.clear()
    this._session.clear()
    if (!n.isClosed()) n.drain()
  }

  /** Disconnects and releases the client for good. */
  async close () {
    if (this._native.isClosed()) return
    const n = this._native
    await new Promise((resolve) => n.close(() => resolve()))
    this._releaseCluster()
    this._live.clear()
    this._session.clear()
    const pending = this._pending
    this._pending = new Map()
    const why = this._outboxDir === undefined
      ? 'the client was closed before the publish completed'
      : `the client was closed before the publish completed; the message stays in the outbox ${this._outboxDir} for the next client on it`
    for (const p of pending.values()) p.reject(makeError(-8, why))
  }

  /**
   * Publishes through the cluster's publisher policy, with failover. Resolves with
   * { endpoints } (the endpoints that took it) once delivered (QoS 1/2: acknowledged).
   * With an outbox (option outbox) the message is stored first and waits for a broker however
   * long every broker is down; the promise rejects with HAMQTT_ERR_FULL at once when the
   * outbox had no room (not stored), later with HAMQTT_ERR_DROPPED or HAMQTT_ERR_EXPIRED.
   */
  publish (topic, payload, options = {}) {
    this._ensureOpen()
    const { qos, retain, props } = publishOptions(options)
    opt.validatePublishTopic(topic)
    payload = opt.validatePayload(payload, 'payload')
    return new Promise((resolve, reject) => {
      holdSignalsForTurn()
      const id = props === null // a refusal rejects
        ? this._native.publish(topic, payload, qos, retain, true)
        : this._native.publish(topic, payload, qos, retain, true, props)
      this._pending.set(id, { resolve, reject })
    })
  }

  /** Publishes through the named endpoint only, without failover. */
  publishTo (endpoint, topic, payload, options = {}) {
    this._ensureOpen()
    if (typeof endpoint !== 'string' || endpoint === '') throw opt.typeError(`publishTo: endpoint must be an endpoint name, got ${opt.describe(endpoint)}`)
    const { qos, retain, props } = publishOptions(options)
    opt.validatePublishTopic(topic)
    payload = opt.validatePayload(payload, 'payload')
    return props === null
      ? this._call('publishWait', endpoint, topic, payload, qos, retain)
      : this._call('publishWait', endpoint, topic, payload, qos, retain, props)
  }

  /**
   * Subscribes on every live subscriber endpoint (and on every endpoint that comes up later).
   * Rejects with HAMQTT_ERR_NO_ENDPOINT when none is live in time; the subscription stays
   * registered and is made when one comes up.
   */
  subscribe (filter, options = {}) {
    this._ensureOpen()
    opt.validateFilter(filter)
    if (options === null || typeof options !== 'object') throw opt.typeError(`subscribe options must be an object, got ${opt.describe(options)}`)
    for (const k of Object.keys(options)) if (k !== 'qos' && options[k] !== undefined) throw opt.typeError(`unknown subscribe option ${k}`)
    const qos = opt.validateQos(options.qos)
    return this._call('subscribe', filter, qos)
  }

  /** Removes a subscription (exactly as subscribed). */
  unsubscribe (filter) {
    this._ensureOpen()
    opt.validateFilter(filter)
    return this._call('unsubscribe', filter)
  }

  /** Names of the live endpoints, longest-live first. */
  liveEndpoints () { this._ensureOpen(); return this._native.liveEndpoints() }
  /** Names of the endpoints that are not live (dead, connecting, quarantined). */
  deadEndpoints () { this._ensureOpen(); return this._native.deadEndpoints() }
  /** A snapshot of every endpoint: state, counters, last error. */
  stats () { this._ensureOpen(); return this._native.stats() }

  /**
   * The outbox: { messages, bytes, oldest: Date | null, oldestAge (ms), stored, delivered,
   * dropped, expired }, or null when the client has none.
   */
  outboxStats () { this._ensureOpen(); return this._native.outboxStats() }

  /**
   * Adds broker(s) at runtime (a URI, list or range); returns the names given.
   * @param {string} uri
   * @param {string} [name] only when uri names one broker
   */
  addEndpoint (uri, name) {
    this._ensureOpen()
    if (typeof uri !== 'string' || uri === '') throw opt.typeError(`addEndpoint: uri must be a broker URI, got ${opt.describe(uri)}`)
    if (name !== undefined && name !== null && typeof name !== 'string') throw opt.typeError(`addEndpoint: name must be a string, got ${opt.describe(name)}`)
    const assigned = this._native.addEndpoint(uri, name ?? null)
    return assigned === '' ? [] : assigned.split(',')
  }

  /** Disconnects the named endpoint and removes it for good. */
  removeEndpoint (name) {
    this._ensureOpen()
    if (typeof name !== 'string' || name === '') throw opt.typeError(`removeEndpoint: name must be an endpoint name, got ${opt.describe(name)}`)
    return this._call('removeEndpoint', name)
  }

  /** Lets the process exit while this client is open (unref) or not (ref). */
  unref () { this._native.ref(false); return this }
  ref () { this._native.ref(true); return this }

  _ensureOpen () {
    if (this._native.isClosed()) throw makeError(-8, `hamqtt: the client of cluster "${this._name}" is closed`)
  }

  _onMessage (topic, payload, flags, endpoint, props) {
    const m = { topic, payload, qos: flags & 3, retain: (flags & 4) !== 0, dup: (flags & 8) !== 0, endpoint }
    // MQTT 5 (a configured cluster with protocol version 5): MQTT.js-shaped properties
    if (props !== undefined) m.properties = P.fromNative(props)
    this.emit('message', topic, payload, m)
  }

  _onUp (name) { this.emit('endpointUp', name) }
  _onDown (name, reason) { this.emit('endpointDown', name, reason) }

  _onDelivery (id, status, error, endpoints) {
    const p = this._pending.get(id)
    if (!p) return
    this._pending.delete(id)
    if (status === 0) p.resolve({ endpoints: endpoints ? endpoints.split(',') : [] })
    else p.reject(makeError(status, error || 'publish failed'))
  }

  _onError (err) {
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else process.emitWarning(err.message, { type: 'HamqttWarning', code: err.code })
  }
}

// { qos, retain, properties }: properties are MQTT 5's message properties in MQTT.js's shape
// (padogrid's MqttMessage carries them as MqttProperties), as the addon's flat list (null: none).
// A cluster speaking MQTT 3.1.1 refuses them (HAMQTT_ERR_INVALID).
function publishOptions (options) {
  if (options === null || typeof options !== 'object') throw opt.typeError(`publish options must be an object, got ${opt.describe(options)}`)
  for (const k of Object.keys(options)) {
    if (options[k] !== undefined && k !== 'qos' && k !== 'retain' && k !== 'properties') throw opt.typeError(`unknown publish option ${k}`)
  }
  if (options.retain !== undefined && typeof options.retain !== 'boolean') throw opt.typeError(`publish option retain must be a boolean, got ${opt.describe(options.retain)}`)
  const props = P.encodeMessage(options.properties, 'publish option properties', true)
  return { qos: opt.validateQos(options.qos), retain: options.retain === true, props }
}

let initialized = null // the path or '<yaml>' of the loaded configuration
const clusterClients = new Map() // name -> HaMqttClient

/**
 * The registry of the configuration file's clusters (padogrid's HaClusters).
 */
const HaClusters = {
  /**
   * Loads a configuration: a file path, or { path } / { yaml } (padogrid mqttv5-client.yaml
   * format). Only one configuration is loaded at a time: shutdown() first to load another.
   */
  initialize (source) {
    if (typeof source === 'string') {
      if (source.includes('\n')) return HaClusters.initializeYaml(source)
      binding.initFile(source)
      initialized = source
      return
    }
    if (source !== null && typeof source === 'object') {
      if (typeof source.path === 'string') return HaClusters.initialize(source.path)
      if (typeof source.yaml === 'string' || Buffer.isBuffer(source.yaml)) return HaClusters.initializeYaml(source.yaml)
    }
    throw opt.typeError(`HaClusters.initialize: give a file path, { path } or { yaml }, got ${opt.describe(source)}`)
  },

  /** Loads a configuration from YAML text. */
  initializeYaml (text) {
    if (typeof text !== 'string' && !Buffer.isBuffer(text)) throw opt.typeError(`HaClusters.initializeYaml: text must be a string, got ${opt.describe(text)}`)
    binding.initYaml(text)
    initialized = '<yaml>'
  },

  /** True while a configuration is loaded. */
  isInitialized () { return initialized !== null },

  /** The clusters of the loaded configuration, default first. */
  clusterNames () { return binding.clusterNames() },

  /** The client of the named cluster (the default cluster when no name is given), not connected. */
  getHaMqttClient (name) {
    if (name !== undefined && name !== null && typeof name !== 'string') throw opt.typeError(`HaClusters.getHaMqttClient: name must be a string, got ${opt.describe(name)}`)
    const key = name ?? binding.clusterNames()[0]
    const cur = clusterClients.get(key)
    if (cur && !cur.closed) return cur
    const c = new HaMqttClient(undefined, undefined, key)
    clusterClients.set(key, c)
    return c
  },

  /** Alias of getHaMqttClient (padogrid's name). */
  getHaClusterClient (name) { return HaClusters.getHaMqttClient(name) },

  /** Connects the named cluster's client (or every cluster's, without a name). */
  async connect (name) {
    if (name !== undefined) return HaClusters.getHaMqttClient(name).connect()
    await Promise.all(binding.clusterNames().map((n) => HaClusters.getHaMqttClient(n).connect()))
  },

  /** A client of brokers given directly (not from the configuration). */
  createClient (endpoints, options) { return new HaMqttClient(endpoints, options) },

  /** Closes every client of the loaded configuration and forgets the configuration. */
  async shutdown () {
    const owners = [...clusterOwners.values()]
    await Promise.all(owners.map((o) => (o.closed === undefined ? o._endAndWait() : o.close())))
    clusterClients.clear()
    await new Promise((resolve, reject) => binding.shutdown((err) => (err ? reject(err) : resolve())))
    initialized = null
  },

  /** Alias of shutdown (padogrid's name). */
  stop () { return HaClusters.shutdown() },

  _ensureInitialized (config) {
    if (initialized !== null) return
    const source = config !== undefined ? config : process.env.HAMQTT_CONFIG
    if (source === undefined || source === '') {
      throw opt.typeError('option cluster needs a configuration: call HaClusters.initialize(path), pass option config, or set HAMQTT_CONFIG')
    }
    if (typeof source === 'string' && !source.includes('\n') && !fs.existsSync(source)) {
      throw makeError(-14, `hamqtt: configuration file ${source} does not exist`)
    }
    HaClusters.initialize(source)
  }
}

module.exports = { HaClusters, HaMqttClient }
