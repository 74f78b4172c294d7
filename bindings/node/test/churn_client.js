'use strict'
// A publisher or subscriber for the churn harness (internal/cmd/churn), written as an MQTT.js
// program: the only hamqtt-specific line is the require (plus the `ha` options of the no-loss
// and round-robin configurations).
//
//   node churn_client.js pub|sub --brokers 127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3 --topic T
//        --count N --rate R --config default|noloss|roundrobin [--impl hamqtt|mqtt]
//
// Line protocol on stdout (one line each, written at once; everything else goes to stderr):
//
//   subscriber  READY             the subscription was acknowledged (subscribe callback)
//               MSG <seq>         a message arrived (payload: the decimal sequence number)
//   publisher   ACK <seq>         the publish callback reported the broker's acknowledgement
//               QUEUED <seq>      publish() took the message while the client was not connected
//               FAIL <seq> <why>  the publish callback (or publish itself) reported an error
//               DONE              every message was resolved (or the deadline passed)
//
// The subscriber runs until SIGTERM and exits 0. `--impl mqtt` runs the same program on
// MQTT.js itself (the package's devDependency), with the same `servers` list: a comparison.
// require('hamqtt') resolves when the package is installed (or NODE_PATH names a directory
// that holds it); run from a checkout, the package around this file is used.

function usage (msg) {
  process.stderr.write(`churn_client: ${msg}\nusage: node churn_client.js pub|sub --brokers h:p,h:p --topic T --count N --rate R --config default|noloss|roundrobin [--impl hamqtt|mqtt] [--deadline S]\n`)
  process.exit(2)
}

function parseArgs (argv) {
  const a = { role: argv[0], count: 1000, rate: 100, config: 'default', impl: 'hamqtt', deadline: 60 }
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
      default: usage(`unknown flag ${k}`)
    }
  }
  if (!a.brokers || !a.topic) usage('--brokers and --topic are required')
  if (!['default', 'noloss', 'roundrobin'].includes(a.config)) usage(`unknown --config ${a.config}`)
  if (!['hamqtt', 'mqtt'].includes(a.impl)) usage(`unknown --impl ${a.impl}`)
  if (!(a.count > 0) || !(a.rate > 0) || !(a.deadline >= 0)) usage('--count, --rate and --deadline must be positive numbers')
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
  }
} else if (args.config !== 'default') {
  log(`--config ${args.config} has no MQTT.js equivalent: running the default`)
}

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
  let t0 = 0

  const finish = () => {
    if (done) return
    done = true
    log(`published ${args.count}, acknowledged ${acked}, failed ${failed}, queued ${queued}, unresolved ${args.count - resolved} after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    out('DONE')
    setTimeout(() => process.exit(0), 5000).unref()
    client.end(resolved < args.count, () => process.exit(0))
  }

  const publishOne = (seq) => {
    let settled = false
    const settle = (line) => {
      if (settled) return
      settled = true
      resolved++
      if (!done) out(line)
      if (resolved === args.count) finish()
    }
    try {
      client.publish(args.topic, String(seq), { qos: 1 }, (err) => {
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
    if (!settled && !client.connected) {
      queued++
      out(`QUEUED ${seq}`) // MQTT.js keeps it in its offline queue
    }
  }

  const start = () => {
    if (started) return
    started = true
    t0 = Date.now()
    let seq = 0
    const tick = () => {
      while (seq < args.count && Date.now() >= t0 + (seq * 1000) / args.rate) publishOne(++seq)
      if (seq < args.count) {
        setTimeout(tick, Math.max(0, t0 + (seq * 1000) / args.rate - Date.now()))
      } else {
        setTimeout(finish, args.deadline * 1000).unref()
      }
    }
    tick()
  }

  client.on('connect', () => {
    log('connect')
    start()
  })
  setTimeout(() => {
    if (!started) log('no connect within 10 s; publishing all the same')
    start()
  }, 10000).unref()
  process.on('SIGTERM', finish)
}
