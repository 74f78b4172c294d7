'use strict'
// A publisher or subscriber for the churn harness (internal/cmd/churn), written as an MQTT.js
// program: the only hamqtt-specific line is the require (plus the `ha` options of the no-loss,
// round-robin and outbox configurations).
//
//   node churn_client.js pub|sub --brokers 127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3 --topic T
//        --count N --rate R --config default|noloss|roundrobin|outbox [--impl hamqtt|mqtt]
//        [--outbox DIR] [--start N] [--deadline S]
//
// The publisher publishes the sequence numbers --start (0) to --count - 1. Configuration
// outbox: the publisher keeps its outbox on disk in --outbox DIR (ha.outbox.dir), starts
// publishing without waiting for a broker (the harness may start it during an outage), and
// waits for its stored messages however long the outage lasts (no --deadline unless given);
// the subscriber de-duplicates (ha.dedup), as a crashed publisher sends again what it stored
// without reporting it.
//
// Line protocol on stdout (one line each, written at once; everything else goes to stderr):
//
//   subscriber  READY             the subscription was acknowledged (subscribe callback)
//               MSG <seq>         a message arrived (payload: the decimal sequence number)
//   publisher   STORED <seq>      the message is in the outgoing store (the cbStorePut publish
//                                 option: hamqtt's outbox, MQTT.js's outgoingStore), from
//                                 publish() itself, before its ACK or FAIL
//               ACK <seq>         the publish callback reported the broker's acknowledgement
//               QUEUED <seq>      publish() took the message, not connected, without storing it
//               FAIL <seq> <why>  the publish callback (or publish itself) reported an error
//               DONE              every message was resolved, and the outbox is empty (what
//                                 it recovered from a killed predecessor delivered too), or
//                                 the deadline passed
//
// The subscriber runs until SIGTERM and exits 0. `--impl mqtt` runs the same program on
// MQTT.js itself (the package's devDependency), with the same `servers` list: a comparison.
// require('hamqtt') resolves when the package is installed (or NODE_PATH names a directory
// that holds it); run from a checkout, the package around this file is used.

function usage (msg) {
  process.stderr.write(`churn_client: ${msg}\nusage: node churn_client.js pub|sub --brokers h:p,h:p --topic T --count N --rate R --config default|noloss|roundrobin|outbox [--impl hamqtt|mqtt] [--outbox DIR] [--start N] [--deadline S]\n`)
  process.exit(2)
}

function parseArgs (argv) {
  const a = { role: argv[0], count: 1000, rate: 100, config: 'default', impl: 'hamqtt', deadline: undefined, start: 0, outbox: undefined }
  if (a.role !== 'pub' && a.role !== 'sub') usage('first argument: pub or sub')
  for (let i = 1; i < argv.length; i += 2) {
    const k = argv[i]
    const v = argv[i + 1]
    if (v === undefined) usage(`${k} needs a value`)
    switch (k) {
      case '--brokers': a.brokers = v; break
      case '--topic': a.topic = v; break
      case '--count': a.count = Number(v); break
      case '--rate': a.rate = Number(v); break
      case '--config': a.config = v; break
      case '--impl': a.impl = v; break
      case '--deadline': a.deadline = Number(v); break
      case '--outbox': a.outbox = v; break
      case '--start': a.start = Number(v); break
      default: usage(`unknown flag ${k}`)
    }
  }
  if (!a.brokers || !a.topic) usage('--brokers and --topic are required')
  // NAME-v5: the same configuration over MQTT 5 (copies carry message ids, removed exactly)
  if (a.config.endsWith('-v5')) {
    a.config = a.config.slice(0, -3)
    a.v5 = true
  }
  if (!['default', 'noloss', 'roundrobin', 'outbox'].includes(a.config)) usage(`unknown --config ${a.config}`)
  if (!['hamqtt', 'mqtt'].includes(a.impl)) usage(`unknown --impl ${a.impl}`)
  if (a.deadline === undefined) a.deadline = a.config === 'outbox' ? 0 : 60 // 0: none
  if (!(a.count > 0) || !(a.rate > 0) || !(a.deadline >= 0)) usage('--count, --rate and --deadline must be positive numbers')
  if (!Number.isInteger(a.start) || a.start < 0) usage('--start must be a sequence number')
  if (a.role === 'pub' && a.config === 'outbox' && a.impl === 'hamqtt' && !a.outbox) usage('config outbox needs --outbox DIR')
  return a
}

const args = parseArgs(process.argv.slice(2))

function load (name) {
  try {
    return require(name)
  } catch (err) {
    if (name !== 'hamqtt' || err.code !== 'MODULE_NOT_FOUND') throw err
    return require('..')
  }
}
const mqtt = load(args.impl === 'mqtt' ? 'mqtt' : 'hamqtt')

const out = (line) => process.stdout.write(line + '\n')
const log = (msg) => process.stderr.write(`churn_client: ${msg}\n`)

// The brokers as MQTT.js's `servers` option; on hamqtt they make one virtual cluster.
const options = {
  servers: args.brokers.split(',').map((hp) => {
    const i = hp.lastIndexOf(':')
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) }
  })
}
if (args.impl === 'hamqtt') {
  if (args.config === 'noloss') {
    options.ha = args.role === 'pub' ? { publisherType: 'ALL', ackQuorum: 2 } : { dedup: true }
  } else if (args.config === 'roundrobin' && args.role === 'pub') {
    options.ha = { publisherType: 'ROUND_ROBIN' }
  } else if (args.config === 'outbox') {
    options.ha = args.role === 'pub' ? { outbox: { dir: args.outbox } } : { dedup: true }
  }
} else if (args.config !== 'default') {
  log(`--config ${args.config} has no MQTT.js equivalent: running the default`)
}
if (args.v5) options.protocolVersion = 5

const client = mqtt.connect(options)
client.on('error', (err) => log(`error: ${err.code || ''} ${err.message}`))
client.on('offline', () => log('offline'))
client.on('close', () => log('close'))

if (args.role === 'sub') {
  let ready = false
  client.on('connect', () => {
    log('connect')
    client.subscribe(args.topic, { qos: 1 }, (err) => {
      if (err) {
        log(`subscribe: ${err.message}`)
        return
      }
      if (!ready) {
        ready = true
        out('READY')
      }
    })
  })
  client.on('message', (topic, payload) => {
    const seq = Number(payload.toString())
    if (Number.isInteger(seq)) out(`MSG ${seq}`)
    else log(`unexpected payload ${JSON.stringify(payload.toString())}`)
  })
  process.on('SIGTERM', () => {
    setTimeout(() => process.exit(0), 3000).unref()
    client.end(true, () => process.exit(0))
  })
} else {
  let started = false
  let done = false
  let resolved = 0
  let acked = 0
  let failed = 0
  let queued = 0
  let stored = 0
  let t0 = 0
  const total = Math.max(0, args.count - args.start)
  const outbox = args.impl === 'hamqtt' && typeof client.outboxStats === 'function'
  if (outbox) {
    const s = client.outboxStats()
    if (s && s.messages > 0) log(`the outbox holds ${s.messages} messages from an earlier run`)
  }

  const finish = (deadline) => {
    if (done) return
    done = true
    const s = outbox ? client.outboxStats() : null
    log(`published ${total}, acknowledged ${acked}, failed ${failed}, stored ${stored}, queued ${queued}, unresolved ${total - resolved}` +
      `${s ? `, outbox ${s.messages} held (${s.delivered} delivered, ${s.dropped} dropped, ${s.expired} expired)` : ''} after ${((Date.now() - t0) / 1000).toFixed(1)} s${deadline ? ' (deadline)' : ''}`)
    out('DONE')
    setTimeout(() => process.exit(0), 5000).unref()
    client.end(resolved < total, () => process.exit(0))
  }

  // Every own publish is resolved: DONE once the outbox is empty too, as it may still hold
  // what a killed predecessor stored (delivered without a callback here).
  const allResolved = () => {
    const check = () => {
      const s = outbox ? client.outboxStats() : null
      if (s === null || s.messages === 0) finish(false)
      else setTimeout(check, 50)
    }
    check()
  }

  const publishOne = (seq) => {
    let settled = false
    const settle = (line) => {
      if (settled) return
      settled = true
      resolved++
      if (!done) out(line)
      if (resolved === total) allResolved()
    }
    let isStored = false
    const cbStorePut = () => {
      isStored = true
      stored++
      if (!done) out(`STORED ${seq}`)
    }
    try {
      client.publish(args.topic, String(seq), { qos: 1, cbStorePut }, (err) => {
        if (err) {
          failed++
          settle(`FAIL ${seq} ${err.code || 'error'} ${err.message}`)
        } else {
          acked++
          settle(`ACK ${seq}`)
        }
      })
    } catch (err) {
      failed++
      settle(`FAIL ${seq} ${err.code || 'error'} ${err.message}`)
      return
    }
    if (!settled && !isStored && !client.connected) {
      queued++
      out(`QUEUED ${seq}`) // kept in an offline queue without a store
    }
  }

  const start = () => {
    if (started) return
    started = true
    t0 = Date.now()
    let seq = args.start
    const due = (s) => t0 + ((s - args.start) * 1000) / args.rate
    const tick = () => {
      while (seq < args.count && Date.now() >= due(seq)) publishOne(seq++)
      if (seq < args.count) {
        setTimeout(tick, Math.max(0, due(seq) - Date.now()))
      } else {
        if (total === 0) allResolved()
        if (args.deadline > 0) setTimeout(() => finish(true), args.deadline * 1000).unref()
      }
    }
    tick()
  }

  client.on('connect', () => {
    log('connect')
    start()
  })
  // With a disk outbox nothing needs a broker to be published: the harness may start the
  // publisher during an outage.
  if (args.config === 'outbox' && args.impl === 'hamqtt') start()
  setTimeout(() => {
    if (!started) log('no connect within 10 s; publishing all the same')
    start()
  }, 10000).unref()
  process.on('SIGTERM', () => finish(false))
}
