'use strict'
// Loads the addon (build/Release/hamqtt.node, linked with RUNPATH $ORIGIN/../../native to
// native/libhamqtt.so.0). The library holds a Go runtime whose threads inherit the signal mask
// of the thread that loads it: hamqtt_sigmask.node blocks the asynchronous signals around the
// load, so that signal handlers Node installs later (without SA_ONSTACK) never run on a Go
// thread's small stack (see src/sigmask.c).
const path = require('node:path')

const dirs = ['Release', 'Debug'].map((d) => path.join(__dirname, '..', 'build', d))

function load (name) {
  let lastError
  for (const dir of dirs) {
    try {
      return require(path.join(dir, name))
    } catch (err) {
      lastError = err
      if (err.code !== 'MODULE_NOT_FOUND') break
    }
  }
  const err = new Error(`hamqtt: the native addon ${name} is not built or does not load ` +
    `(${lastError && lastError.message}). Run \`npm install\` (or \`node scripts/install.js\`) in ${path.join(__dirname, '..')}`)
  err.code = 'ERR_HAMQTT_NATIVE'
  err.cause = lastError
  throw err
}

const sigmask = load('hamqtt_sigmask.node')
let binding
sigmask.block()
try {
  binding = load('hamqtt.node')
} finally {
  sigmask.restore()
}

module.exports = binding
