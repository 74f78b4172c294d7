'use strict'
// Process lifetime, as with MQTT.js: a connected client keeps the process alive, the process
// exits by itself once every client is ended, process.exit() with clients still connected
// neither hangs nor crashes, and a worker thread with a connected client terminates cleanly.
// Each case is a child `node` process that must exit with the expected code before a deadline.
const test = require('node:test')
const assert = require('node:assert/strict')
const { startBroker, sleep } = require('./helpers/mosquitto')
const { PKG, spawnNode } = require('./helpers/proc')

let broker
test.before(async () => { broker = await startBroker() })
test.after(async () => { await broker.stop() })

// A program with `mqtt` = this package and `URL` = the broker.
function program (body) {
  return ['-e', `const mqtt = require(${JSON.stringify(PKG)}); const URL = ${JSON.stringify(broker.url)};\n${body}`]
}

function assertClean (r, code = 0) {
  assert.equal(r.signal, null, `killed by ${r.signal} (it did not exit by itself)\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  assert.equal(r.code, code, `exit code ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  assert.doesNotMatch(r.stderr, /fatal error|panic|Segmentation|Aborted|FATAL/)
}

test('a connected client keeps the process alive; it exits by itself once every client is ended', async () => {
  const p = spawnNode(program(`
    const a = mqtt.connect(URL)
    const b = mqtt.connect(URL + ',' + URL.replace('mqtt://', ''))
    let n = 0
    for (const c of [a, b]) c.on('connect', () => { if (++n === 2) console.log('connected') })
    a.subscribe('quit', { qos: 1 })
    a.on('message', () => {
      console.log('quitting')
      a.end()
      setTimeout(() => b.end(() => console.log('all ended')), 200)
    })
  `), { timeoutMs: 20000 })
  await p.waitFor(/connected/)
  await sleep(1500)
  assert.equal(p.child.exitCode, null, 'still running while its clients are connected')
  const q = await spawnNode(program("mqtt.connect(URL).on('connect', function () { this.publish('quit', 'now', { qos: 1 }, () => this.end()) })"), { timeoutMs: 15000 }).done
  assertClean(q)
  const r = await p.done
  assertClean(r)
  assert.match(r.stdout, /quitting\nall ended\n/)
  assert.ok(r.ms < 15000)
})

test('a client that never connected (no broker) is ended and the process exits', async () => {
  const r = await spawnNode(program(`
    const c = mqtt.connect('mqtt://127.0.0.1:1')
    c.on('error', (e) => { console.log('error', e.code); c.end() })
    c.on('end', () => console.log('end'))
  `), { timeoutMs: 15000 }).done
  assertClean(r)
  assert.match(r.stdout, /error ECONNREFUSED\nend\n/)
})

test('process.exit() with clients connected and messages flowing neither hangs nor crashes', async () => {
  const r = await spawnNode(program(`
    const clients = [mqtt.connect(URL), mqtt.connect(URL), mqtt.connect(URL)]
    const [sub, pub] = clients
    sub.subscribe('flow/#', { qos: 1 }, () => {
      let i = 0
      const t = setInterval(() => { for (let k = 0; k < 200; k++) pub.publish('flow/' + (i++ % 5), 'x', { qos: k % 2 }) }, 1)
      t.unref()
    })
    let got = 0
    sub.on('message', () => { if (++got === 2000) { console.log('exiting'); process.exit(7) } })
  `), { timeoutMs: 20000 }).done
  assertClean(r, 7)
  assert.match(r.stdout, /exiting/)
  assert.ok(r.ms < 15000, `took ${r.ms} ms`)
})

test('process.exit() while a connect is still waiting for an unreachable broker', async () => {
  const r = await spawnNode(program(`
    const c = mqtt.connect('mqtt://127.0.0.1:1', { ha: { timeToWait: 10000 } })
    c.on('error', () => {})
    setTimeout(() => process.exit(0), 300)
  `), { timeoutMs: 15000 }).done
  assertClean(r)
  assert.ok(r.ms < 5000, `took ${r.ms} ms`)
})

test('an uncaught exception in a message handler exits the process with the error (no hang)', async () => {
  const r = await spawnNode(program(`
    const c = mqtt.connect(URL)
    c.subscribe('boom', { qos: 1 }, () => c.publish('boom', 'x', { qos: 1 }))
    c.on('message', () => { throw new Error('handler failed') })
  `), { timeoutMs: 15000 }).done
  assert.equal(r.code, 1)
  assert.match(r.stderr, /handler failed/)
  assert.doesNotMatch(r.stderr, /fatal error|panic|Segmentation|Aborted/)
})

test('a worker thread with a connected client terminates cleanly, and the process exits', async () => {
  const r = await spawnNode(['-e', `
    const { Worker } = require('node:worker_threads')
    const w = new Worker(${JSON.stringify(`
      const { parentPort } = require('node:worker_threads')
      const mqtt = require(${JSON.stringify(PKG)})
      const c = mqtt.connect(${JSON.stringify(broker.url)})
      c.subscribe('w/#', { qos: 1 })
      c.on('connect', () => parentPort.postMessage('connected'))
    `)}, { eval: true })
    w.on('message', async () => {
      const code = await w.terminate()
      console.log('terminated', code)
    })
    w.on('error', (e) => { console.error(e); process.exit(2) })
  `], { timeoutMs: 20000 }).done
  assertClean(r)
  assert.match(r.stdout, /terminated 1/)
})

test('signals Node handles (SIGCHLD from child processes, process.on signals) during heavy traffic do not crash', async () => {
  // Node's handlers lack SA_ONSTACK; run on a Go thread's stack they would corrupt memory.
  const r = await spawnNode(program(`
    const cp = require('node:child_process')
    let usr2 = 0
    process.on('SIGUSR2', () => { usr2++ })
    const sub = mqtt.connect(URL)
    const pub = mqtt.connect(URL)
    let got = 0
    sub.on('message', () => { got++ })
    sub.subscribe('sig/#', { qos: 0 }, () => {
      const start = Date.now()
      const pump = setInterval(() => {
        for (let k = 0; k < 300; k++) pub.publish('sig/x', 'payload')
        process.kill(process.pid, 'SIGUSR2')
        cp.spawn('true').unref()
        if (Date.now() - start > 2500) {
          clearInterval(pump)
          setTimeout(() => {
            console.log('ok', got > 0, usr2 > 0)
            pub.end(); sub.end()
          }, 300)
        }
      }, 2)
    })
  `), { timeoutMs: 30000 }).done
  assertClean(r)
  assert.match(r.stdout, /ok true true/)
})

test('unref() lets the process exit while a client is still connected', async () => {
  const r = await spawnNode(program(`
    const c = mqtt.connect(URL)
    c.on('connect', () => { console.log('connected'); c.unref() })
  `), { timeoutMs: 15000 }).done
  assertClean(r)
  assert.match(r.stdout, /connected/)
})
