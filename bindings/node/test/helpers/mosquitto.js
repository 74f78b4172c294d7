'use strict'
// Real Mosquitto brokers for the tests: each on a free 127.0.0.1 port with a generated config,
// killed with SIGKILL and restarted on the same port. Loopback only.
const cp = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const MOSQUITTO = process.env.MOSQUITTO || (fs.existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto')
const HOST = '127.0.0.1'
const brokers = new Set()
const tmpDirs = new Set()

// A temporary directory removed when the process exits.
function tmpDir (prefix = 'hamqtt-node-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  tmpDirs.add(dir)
  return dir
}

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, HOST, () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

function canConnect (port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

class Broker {
  // extra: configuration lines for the listener (TLS files, ...)
  constructor (port, dir, extra = []) {
    this.port = port
    this.dir = dir
    this.extra = extra
    this.proc = null
    this.url = `mqtt://${HOST}:${port}`
    this.log = ''
  }

  async start () {
    if (this.proc) return this
    const conf = path.join(this.dir, 'mosquitto.conf')
    fs.writeFileSync(conf, [
      `listener ${this.port} ${HOST}`,
      ...this.extra,
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 1000000',
      'max_inflight_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      ''
    ].join('\n'))
    const deadline = Date.now() + 10000
    for (;;) {
      const proc = cp.spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
      this.log = ''
      proc.stderr.on('data', (d) => { this.log += d })
      let exited = false
      proc.once('exit', () => { exited = true })
      while (!exited && Date.now() < deadline) {
        if (await canConnect(this.port)) {
          this.proc = proc
          proc.once('exit', (code, signal) => {
            if (this.proc === proc) {
              // Died by itself (never by kill()): note it for the test's diagnostics.
              this.unexpectedExit = `mosquitto on port ${this.port} exited by itself (${code ?? signal}): ${this.log}`
              process.stderr.write(`${this.unexpectedExit}\n`)
            }
          })
          proc.unref()
          proc.stderr.unref?.()
          brokers.add(this)
          return this
        }
        await sleep(20)
      }
      if (!exited) proc.kill('SIGKILL')
      // The port may still be held by the previous process's socket: retry until the deadline.
      if (Date.now() >= deadline) throw new Error(`mosquitto on port ${this.port} did not start: ${this.log}`)
      await sleep(100)
    }
  }

  async kill () {
    const proc = this.proc
    if (!proc) return
    this.proc = null
    brokers.delete(this)
    if (proc.exitCode !== null || proc.signalCode !== null) return // already gone
    const gone = new Promise((resolve) => proc.once('exit', resolve))
    proc.ref() // keep the loop alive until it is gone
    proc.kill('SIGKILL')
    await gone
  }

  async restart () {
    await this.kill()
    return this.start()
  }

  async stop () { return this.kill() }
}

async function startBroker (extra = []) {
  const b = new Broker(await freePort(), tmpDir('hamqtt-node-mosq-'), extra)
  await b.start()
  return b
}

async function startBrokers (n) {
  const out = []
  for (let i = 0; i < n; i++) out.push(await startBroker())
  return out
}

function killAllSync () {
  for (const b of brokers) {
    try { b.proc?.kill('SIGKILL') } catch {}
  }
  brokers.clear()
  for (const dir of tmpDirs) {
    try { fs.rmSync(dir, { recursive: true, force: true }) } catch {}
  }
}
process.on('exit', killAllSync)

module.exports = { startBroker, startBrokers, freePort, sleep, tmpDir, HOST, Broker }
