'use strict'
// The signal mask a publish holds for the rest of its turn of JavaScript (src/addon.c, "Signals
// held for a turn of JavaScript"): the asynchronous signals are blocked on the main thread while
// a burst of publishes runs and unblocked once the turn is over, whatever ended it (an exception,
// end(), a publish from a message handler); signals sent meanwhile still reach their handlers,
// and child processes still report their exit. The mask is read from the kernel
// (/proc/thread-self/status, SigBlk: readFileSync runs on the calling thread).
const test = require('node:test')
const assert = require('node:assert/strict')
const cp = require('node:child_process')
const fs = require('node:fs')
const mqtt = require('..')
const { startBroker } = require('./helpers/mosquitto')
const { PKG, spawnNode } = require('./helpers/proc')

const haveProc = fs.existsSync('/proc/thread-self/status')

function blockedMask () {
  const m = /^SigBlk:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/thread-self/status', 'utf8'))
  return BigInt('0x' + m[1])
}

const SIGUSR2_BIT = 1n << 11n // signal 12
const SIGINT_BIT = 1n << 1n // signal 2

function within (ms, what, check) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms
    const tick = () => {
      if (check()) resolve()
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`))
      else setTimeout(tick, 5)
    }
    tick()
  })
}

function connected (url) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url)
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
}

function ended (client) {
  return new Promise((resolve) => client.end(() => resolve()))
}

let broker
let client
let baseline
test.before(async () => {
  broker = await startBroker()
  client = await connected(broker.url)
  if (haveProc) baseline = blockedMask()
})
test.after(async () => {
  if (client) await ended(client)
  await broker.stop()
})

test('a burst of publishes holds the asynchronous signals blocked until the turn is over', { skip: !haveProc }, async () => {
  assert.equal(blockedMask() & SIGUSR2_BIT, 0n)
  for (let i = 0; i < 200; i++) client.publish('sig/burst', 'x')
  const during = blockedMask()
  assert.notEqual(during & SIGUSR2_BIT, 0n, 'blocked during the burst')
  assert.notEqual(during & SIGINT_BIT, 0n, 'blocked during the burst')
  await null // the end of this turn: the release queued by the first publish has run
  assert.equal(blockedMask(), baseline)
})

test('process.on(SIGUSR2) fires for a signal sent during a burst and for one sent after it', async () => {
  let usr2 = 0
  const onUsr2 = () => { usr2++ }
  process.on('SIGUSR2', onUsr2)
  try {
    for (let i = 0; i < 100; i++) client.publish('sig/usr2', 'x')
    process.kill(process.pid, 'SIGUSR2')
    for (let i = 0; i < 100; i++) client.publish('sig/usr2', 'y')
    await within(10000, 'the SIGUSR2 sent during the burst', () => usr2 >= 1)
    for (let i = 0; i < 100; i++) client.publish('sig/usr2', 'z')
    await new Promise((resolve) => setImmediate(resolve))
    process.kill(process.pid, 'SIGUSR2')
    await within(10000, 'the SIGUSR2 sent after the burst', () => usr2 >= 2)
  } finally {
    process.removeListener('SIGUSR2', onUsr2)
  }
})

test('a child spawned during and after a burst reports its exit, with an empty signal mask of its own', async () => {
  const printMask = "process.stdout.write(/^SigBlk:\\s*(\\S+)$/m.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1])"
  const run = () => new Promise((resolve, reject) => {
    const child = cp.spawn(process.execPath, ['-e', printMask], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.on('error', reject)
    child.on('exit', (code) => resolve({ code, out }))
  })
  for (let i = 0; i < 100; i++) client.publish('sig/child', 'x')
  const during = run()
  await null
  for (let i = 0; i < 100; i++) client.publish('sig/child', 'y')
  await new Promise((resolve) => setImmediate(resolve))
  const after = run()
  for (const r of await Promise.all([during, after])) {
    assert.equal(r.code, 0)
    if (haveProc) assert.equal(BigInt('0x' + r.out), 0n, `the child's SigBlk: ${r.out}`)
  }
})

test('an exception thrown in the middle of a burst still releases the mask at the end of the turn', { skip: !haveProc }, async () => {
  assert.throws(() => {
    for (let i = 0; i < 50; i++) client.publish('sig/throw', 'x')
    client.publish('sig/#', 'a wildcard topic throws')
  }, /wildcard|topic/i)
  assert.notEqual(blockedMask() & SIGUSR2_BIT, 0n)
  await null
  assert.equal(blockedMask(), baseline)
})

test('an uncaught exception in a burst releases the mask for what follows; SIGUSR2 still arrives', async () => {
  const r = await spawnNode(['-e', `
    const fs = require('fs')
    const mqtt = require(${JSON.stringify(PKG)})
    const mask = () => /^SigBlk:\\s*(\\S+)$/m.exec(fs.readFileSync('/proc/thread-self/status', 'utf8'))[1]
    const before = mask()
    const c = mqtt.connect(${JSON.stringify(broker.url)})
    process.on('uncaughtException', (e) => {
      console.log('caught', e.message)
      setImmediate(() => {
        console.log('released', mask() === before)
        process.on('SIGUSR2', () => { console.log('usr2'); c.end() })
        process.kill(process.pid, 'SIGUSR2')
      })
    })
    c.on('connect', () => {
      for (let i = 0; i < 50; i++) c.publish('sig/uncaught', 'x')
      throw new Error('boom')
    })
  `], { timeoutMs: 20000 }).done
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /caught boom\nreleased true\nusr2/)
})

test('publishes from a message handler and end() inside a burst leave the mask as it was', { skip: !haveProc }, async () => {
  const sub = await connected(broker.url)
  const masks = []
  const done = new Promise((resolve) => {
    let n = 0
    sub.on('message', () => {
      for (let i = 0; i < 20; i++) sub.publish('sig/echo', 'y')
      masks.push(blockedMask())
      if (++n === 5) resolve()
    })
  })
  await new Promise((resolve, reject) => sub.subscribe('sig/reentrant', { qos: 0 }, (e) => e ? reject(e) : resolve()))
  for (let i = 0; i < 5; i++) client.publish('sig/reentrant', 'x')
  await done
  assert.ok(masks.every((m) => (m & SIGUSR2_BIT) !== 0n), 'held inside the handlers')
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(blockedMask(), baseline)

  // end() in the same turn as a burst, then a burst in end()'s callback.
  const other = await connected(broker.url)
  const afterEnd = await new Promise((resolve) => {
    for (let i = 0; i < 20; i++) other.publish('sig/end', 'x')
    other.end(() => {
      for (let i = 0; i < 20; i++) sub.publish('sig/end', 'y')
      setImmediate(() => resolve(blockedMask()))
    })
  })
  assert.equal(afterEnd, baseline)
  await ended(sub)
  assert.equal(blockedMask(), baseline)
})
