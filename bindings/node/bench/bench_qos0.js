#!/usr/bin/env node
'use strict'
// Publish-to-receive throughput: the SAME program with MQTT.js (`mqtt`, a devDependency) and
// with hamqtt, against one fresh Mosquitto on a free 127.0.0.1 port. Each library runs in a
// child process of its own, in alternating rounds; the best round of each is compared. QoS 0 by
// default; --qos 1 publishes and subscribes at QoS 1 (each library with its own defaults for
// what it keeps in flight); --protocol 5 connects both clients with protocolVersion 5 (no
// properties sent).
//
//   node bench/bench_qos0.js [--messages 100000] [--size 64] [--qos 0] [--protocol 4] [--rounds 3]
//
// Single run (what `make bench` drives): node bench/bench_qos0.js --child LIB URL N SIZE [QOS [4|5]]
//
// Prints messages/s per library and the ratio hamqtt / MQTT.js. No assertions: a benchmark.
const path = require('node:path')
const cp = require('node:child_process')

// ---------------------------------------------------------------------------------------------
// The program under test, identical for both libraries (only `lib` differs).
async function program (lib, url, total, size, qos = 0, protocolVersion = 4) {
  const mqtt = require(lib)
  const opts = { protocolVersion }
  const topic = `bench/qos${qos}`
  const sub = await mqtt.connectAsync(url, opts)
  const pub = await mqtt.connectAsync(url, opts)
  const payload = Buffer.alloc(size, 'x')
  const popts = qos ? { qos } : undefined // QoS 0: the same call as ever
  let received = 0
  let done
  const finished = new Promise((resolve) => { done = resolve })
  sub.on('message', (topic, message) => {
    if (++received === total) done()
  })
  await sub.subscribeAsync(topic, { qos })

  // Publish in chunks, keeping at most `window` messages in flight, so neither library is
  // measured on how much it can buffer.
  const chunk = 500
  const window = 20000
  let sent = 0
  const start = process.hrtime.bigint()
  await new Promise((resolve) => {
    const step = () => {
      while (sent < total && sent - received < window) {
        const end = Math.min(total, sent + chunk)
        for (; sent < end; sent++) pub.publish(topic, payload, popts)
        if (sent - received >= window) break
        setImmediate(step)
        return
      }
      if (sent >= total) return resolve()
      setTimeout(step, 1)
    }
    step()
  })
  const timeout = setTimeout(() => done(), 30000)
  await finished
  clearTimeout(timeout)
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  await pub.endAsync()
  await sub.endAsync()
  return { lib, qos, protocolVersion, received, total, secs, rate: received / secs }
}

// ---------------------------------------------------------------------------------------------

function arg (name, def) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : def
}

async function child () {
  const [, , , lib, url, total, size, qos = '0', protocolVersion = '4'] = process.argv
  const r = await program(lib, url, Number(total), Number(size), Number(qos), Number(protocolVersion))
  process.stdout.write(JSON.stringify(r) + '\n')
}

function runChild (lib, url, total, size, qos, protocolVersion) {
  return new Promise((resolve, reject) => {
    const p = cp.spawn(process.execPath, [__filename, '--child', lib, url, String(total), String(size), String(qos), String(protocolVersion)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, NODE_PATH: path.join(__dirname, 'node_path') }
    })
    let out = ''
    p.stdout.on('data', (d) => { out += d })
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${lib} run exited with ${code}`))
      resolve(JSON.parse(out.trim().split('\n').pop()))
    })
  })
}

async function main () {
  const total = arg('messages', 100000)
  const size = arg('size', 64)
  const rounds = arg('rounds', 3)
  const qos = arg('qos', 0)
  const protocolVersion = arg('protocol', 4)
  const fs = require('node:fs')
  // require('hamqtt') and require('mqtt') resolve through bench/node_path.
  const np = path.join(__dirname, 'node_path')
  fs.mkdirSync(np, { recursive: true })
  const link = (name, target) => {
    const p = path.join(np, name)
    try { fs.unlinkSync(p) } catch {}
    fs.symlinkSync(target, p, 'dir')
  }
  link('hamqtt', path.join(__dirname, '..'))
  const mqttDir = path.join(__dirname, '..', 'node_modules', 'mqtt')
  if (!fs.existsSync(mqttDir)) {
    console.error('MQTT.js is not installed: run `npm install` in bindings/node (it is a devDependency)')
    process.exit(2)
  }
  link('mqtt', mqttDir)

  const { startBroker } = require('../test/helpers/mosquitto')
  const broker = await startBroker()
  const url = `mqtt://127.0.0.1:${broker.port}`
  console.log(`QoS ${qos} publish -> receive, MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}, ${total} messages of ${size} bytes, one Mosquitto at ${url}, ${rounds} rounds`)
  const best = { mqtt: null, hamqtt: null }
  try {
    for (let r = 1; r <= rounds; r++) {
      for (const lib of r % 2 ? ['mqtt', 'hamqtt'] : ['hamqtt', 'mqtt']) {
        const res = await runChild(lib, url, total, size, qos, protocolVersion)
        const lost = res.total - res.received
        console.log(`  round ${r} ${lib.padEnd(6)} ${Math.round(res.rate).toString().padStart(8)} msg/s  (${res.secs.toFixed(2)} s${lost ? `, ${lost} not received` : ''})`)
        if (!best[lib] || res.rate > best[lib].rate) best[lib] = res
      }
    }
  } finally {
    await broker.stop()
  }
  console.log(`MQTT.js ${Math.round(best.mqtt.rate)} msg/s`)
  console.log(`hamqtt  ${Math.round(best.hamqtt.rate)} msg/s`)
  console.log(`ratio hamqtt/MQTT.js ${(best.hamqtt.rate / best.mqtt.rate).toFixed(2)}`)
}

if (process.argv[2] === '--child') {
  child().catch((e) => { console.error(e); process.exit(1) })
} else {
  main().catch((e) => { console.error(e); process.exit(1) })
}
