'use strict'
// What MqttClient and HaMqttClient share: one native client, its event handler, the blocking
// calls turned into promises, and the registry of configured clusters in use.
const { EventEmitter } = require('node:events')
const binding = require('./native')
const { tlsPem } = require('./options')

const K_MESSAGE = 1
const K_UP = 2
const K_DOWN = 3
const K_DELIVERY = 4
const K_ERROR = 5
const K_CLOSED = 6
const K_IDLE = 7

// Configured clusters have one handle each (hamqtt_cluster_client): one owner at a time.
const clusterOwners = new Map()

function claimCluster (name, owner) {
  const cur = clusterOwners.get(name)
  if (cur && cur !== owner && !cur._closedForGood) {
    const e = new Error(`hamqtt: cluster "${name}" is already used by another open client: end or close it first`)
    e.code = 'ERR_HAMQTT_CLUSTER_IN_USE'
    throw e
  }
  clusterOwners.set(name, owner)
}

function releaseCluster (name, owner) {
  if (clusterOwners.get(name) === owner) clusterOwners.delete(name)
}

// The engine's warning for switched-off TLS verification, as a Node process warning (the way
// Node itself warns about NODE_TLS_REJECT_UNAUTHORIZED=0): the engine's log does not reach
// JavaScript.
function warnVerification (native) {
  if (!native) return
  if (native.tlsInsecure) {
    process.emitWarning('hamqtt: TLS certificate verification is OFF (rejectUnauthorized: false or ha.tlsInsecure): any server, or anyone in between, can pose as the broker; use it only for tests',
      { type: 'SecurityWarning', code: 'HAMQTT_TLS_VERIFICATION_OFF' })
  } else if (native.tlsSkipHostnameCheck) {
    process.emitWarning("hamqtt: TLS host name verification is off (ha.tlsSkipHostnameCheck): the broker's certificate chain is verified, not that it names the host",
      { type: 'SecurityWarning', code: 'HAMQTT_TLS_HOSTNAME_CHECK_OFF' })
  }
}

// The asynchronous signals stay blocked on this thread from the first publish of a turn of
// JavaScript to the end of that turn, so that a burst of publishes makes two rt_sigprocmask
// calls instead of two each (src/addon.c, "Signals held for a turn of JavaScript"). The release
// is a microtask: it runs when the turn's synchronous code is done, also when that code threw.
let signalsHeld = false

function releaseSignals () {
  signalsHeld = false
  binding.releaseSignals()
}

function holdSignalsForTurn () {
  if (signalsHeld) return
  signalsHeld = true
  queueMicrotask(releaseSignals)
  binding.holdSignals()
}

function makeError (status, message) {
  return binding.makeError(status, message)
}

class NativeOwner extends EventEmitter {
  constructor () {
    super()
    this._native = null
    this._clusterName = null
    this._closedForGood = false
    this._live = new Set()
    this._session = new Map() // endpoint -> its broker kept our session (CONNACK session present)
    this._handler = this._onNative.bind(this)
  }

  // Creates the native client: of `endpoints` with `nativeOpts`, or of configured `cluster`.
  _createNative ({ endpoints, native, cluster, tls, configured }) {
    if (configured) {
      // Claim the cluster before touching its handle: hamqtt_cluster_client returns the same
      // handle to every caller, and a second wrapper would watch the same descriptor.
      let name = cluster
      if (name === undefined || name === null) {
        const names = binding.clusterNames() // throws HAMQTT_ERR_NOT_INITIALIZED
        name = names[0]
      }
      claimCluster(name, this)
      this._clusterName = name
      try {
        this._native = new binding.NativeClient(null, null, name, this._handler)
      } catch (e) {
        releaseCluster(name, this)
        this._clusterName = null
        throw e
      }
      return this._native
    }
    this._native = new binding.NativeClient(endpoints, { ...native, ...tlsPem(tls || {}) }, null, this._handler)
    warnVerification(native)
    return this._native
  }

  // A blocking native call as a promise. `method` is a NativeClient method whose last argument
  // is a callback(err).
  _call (method, ...args) {
    const n = this._native
    return new Promise((resolve, reject) => {
      n[method](...args, (err, value) => (err ? reject(err) : resolve(value)))
    })
  }

  _watch () {
    if (this._native && !this._native.isClosed()) this._native.watch()
  }

  _onNative (kind, a, b, c, d, e) {
    switch (kind) {
      case K_MESSAGE: return this._onMessage(a, b, c, d, e)
      case K_UP:
        this._live.add(a)
        this._session.set(a, b === 1) // HAMQTT_UP_SESSION_PRESENT
        return this._onUp(a, b === 1)
      case K_DOWN:
        this._live.delete(a)
        this._session.delete(a)
        return this._onDown(a, b, c, d)
      case K_DELIVERY: return this._onDelivery(a, b, c, d, e)
      case K_ERROR: return this._onEngineError(makeError(a, b || 'error'))
      case K_CLOSED: return undefined
      case K_IDLE: return this._onIdle()
    }
  }

  _onIdle () {}

  // An error the engine reported by itself (no call of ours failed).
  _onEngineError (err) { return this._onError(err) }

  _releaseCluster () {
    this._closedForGood = true
    if (this._clusterName !== null) releaseCluster(this._clusterName, this)
  }
}

module.exports = {
  holdSignalsForTurn, NativeOwner, makeError, binding, claimCluster, releaseCluster, clusterOwners }
