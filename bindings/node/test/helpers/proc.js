'use strict'
// Child Node processes for the tests: run a program, wait for a line, enforce a deadline.
const cp = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const PKG = path.resolve(__dirname, '..', '..')

// A temporary directory where require('hamqtt') (and require('mqtt') when MQTT.js is installed)
// resolve as they would in an application's node_modules.
function appDir () {
  const dir = require('./mosquitto').tmpDir('hamqtt-node-app-')
  const nm = path.join(dir, 'node_modules')
  fs.mkdirSync(nm)
  fs.symlinkSync(PKG, path.join(nm, 'hamqtt'), 'dir')
  const mqtt = path.join(PKG, 'node_modules', 'mqtt')
  if (fs.existsSync(mqtt)) {
    // MQTT.js's own dependencies resolve from the package's node_modules.
    fs.symlinkSync(mqtt, path.join(nm, 'mqtt'), 'dir')
  }
  return dir
}

function hasMqttJs () {
  return fs.existsSync(path.join(PKG, 'node_modules', 'mqtt'))
}

// spawnNode(file or ['-e', code], { cwd, env, args }) -> handle with .lines, waitFor(re), done
function spawnNode (script, { cwd, env, args = [], timeoutMs = 30000 } = {}) {
  const argv = Array.isArray(script) ? [...args, ...script] : [...args, script]
  const child = cp.spawn(process.execPath, argv, {
    cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  const waiters = []
  child.stdout.on('data', (d) => {
    stdout += d
    for (const w of waiters.slice()) {
      if (w.re.test(stdout)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    }
  })
  child.stderr.on('data', (d) => { stderr += d })
  const started = Date.now()
  const done = new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      for (const w of waiters) w.reject(new Error(`exited (${code ?? signal}) before ${w.re}; stdout:\n${stdout}\nstderr:\n${stderr}`))
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
  return {
    child,
    done,
    get stdout () { return stdout },
    get stderr () { return stderr },
    waitFor (re, ms = 15000) {
      if (re.test(stdout)) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stdout:\n${stdout}\nstderr:\n${stderr}`)), ms)
        waiters.push({ re, resolve: () => { clearTimeout(t); resolve() }, reject: (e) => { clearTimeout(t); reject(e) } })
      })
    }
  }
}

module.exports = { PKG, appDir, hasMqttJs, spawnNode }
