'use strict'
// Loads the addon: a local build (build/Release/hamqtt.node, RUNPATH $ORIGIN/../../native to
// native/libhamqtt.so.0) or the prebuilt one for this platform (prebuilds/<platform>-<arch>/,
// with libhamqtt.so.0 beside it: RUNPATH $ORIGIN); see prebuilds.js. The library holds a Go
// runtime whose threads inherit the signal mask of the thread that loads it:
// hamqtt_sigmask.node blocks the asynchronous signals around the load, so that signal handlers
// Node installs later (without SA_ONSTACK) never run on a Go thread's small stack (see
// src/sigmask.c).
const path = require('node:path')
const prebuilds = require('./prebuilds')

function fail (message, cause) {
  const err = new Error(`hamqtt: ${message}`)
  err.code = 'ERR_HAMQTT_NATIVE'
  if (cause) err.cause = cause
  throw err
}

const found = prebuilds.locate()
if (!found) {
  fail(`the native addon is not built and this package has no prebuilt one for ${prebuilds.tuple} ` +
    `(${prebuilds.libc() || 'unknown libc'}; prebuilts: ${prebuilds.describeShipped()}). ` +
    `Run \`npm install\` (or \`node scripts/install.js\`) in ${prebuilds.root}`)
}

function load (file) {
  try {
    return require(file)
  } catch (err) {
    const rel = path.relative(prebuilds.root, file)
    if (found.kind === 'prebuilt') {
      fail(`the prebuilt addon ${rel} does not load (${err.message}); ` +
        `prebuilts need ${prebuilds.describeShipped()}. To build from source instead, ` +
        `reinstall with \`npm install --build-from-source\` (its install script says what that needs)`, err)
    }
    fail(`the native addon ${rel} does not load (${err.message}). ` +
      `Run \`npm install\` (or \`node scripts/install.js\`) in ${prebuilds.root}`, err)
  }
}

const sigmask = load(found.files.hamqtt_sigmask)
let binding
sigmask.block()
try {
  binding = load(found.files.hamqtt)
} finally {
  sigmask.restore()
}

module.exports = binding
