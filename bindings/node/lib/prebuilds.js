'use strict'
// Where the addon comes from: a local build (build/Release, build/Debug: a source install) or the
// prebuilt one shipped for this platform in prebuilds/<platform>-<arch>/, the layout prebuildify
// writes and node-gyp-build reads, with the same file-name tags (<name>.napi.glibc.node). The
// package has two addons that must come from one place and load in order (hamqtt_sigmask first,
// then hamqtt, which brings in the Go runtime of libhamqtt.so.0), and node-gyp-build resolves one
// addon per package, so this is the loader, with no dependency. A prebuilt directory also holds
// libhamqtt.so.0, which the addon finds through its RUNPATH $ORIGIN.
//
// LIBC=glibc|musl overrides the C library detected (as node-gyp-build's LIBC does).
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const ADDONS = ['hamqtt_sigmask', 'hamqtt']
const tuple = `${process.platform}-${process.arch}`

// The C library the running node is linked with: what a prebuilt must match.
function libc () {
  if (process.env.LIBC) return process.env.LIBC
  if (process.platform !== 'linux') return null
  let maps = ''
  try { maps = fs.readFileSync('/proc/self/maps', 'utf8') } catch {}
  if (/\/ld-musl-|\/libc\.musl-/.test(maps)) return 'musl'
  if (/\/libc\.so\.6$/m.test(maps)) return 'glibc'
  return fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc'
}

// The tags of a prebuilt file name: <name>[.napi][.abiNNN][.glibc|.musl].node
function parse (file, name) {
  if (!file.startsWith(`${name}.`) || !file.endsWith('.node')) return null
  const tags = { file, napi: false, abi: null, libc: null, specificity: 0 }
  for (const t of file.slice(name.length + 1, -'.node'.length).split('.').filter(Boolean)) {
    if (t === 'napi') tags.napi = true
    else if (t.startsWith('abi')) tags.abi = t.slice(3)
    else if (t === 'glibc' || t === 'musl') tags.libc = t
    else if (t === 'node') continue
    else return null // another addon whose name starts with ours (hamqtt.x.node), or a tag we do not know
    tags.specificity++
  }
  return tags
}

function pick (dir, name, c) {
  let files
  try { files = fs.readdirSync(dir) } catch { return null }
  const matches = files.map((f) => parse(f, name)).filter((t) => t &&
    (!t.libc || t.libc === c) && (t.napi || !t.abi || t.abi === process.versions.modules))
  matches.sort((a, b) => b.specificity - a.specificity)
  return matches.length ? path.join(dir, matches[0].file) : null
}

// The prebuilt directory for this platform, or null: { dir, files: { hamqtt, hamqtt_sigmask }, tuple, libc }.
function prebuilt () {
  const c = libc()
  const dir = path.join(root, 'prebuilds', tuple)
  const files = {}
  for (const name of ADDONS) {
    files[name] = pick(dir, name, c)
    if (!files[name]) return null
  }
  return { kind: 'prebuilt', dir, files, tuple, libc: c }
}

// A local build: both addons in build/Release (or build/Debug).
function built () {
  for (const d of ['Release', 'Debug']) {
    const dir = path.join(root, 'build', d)
    const files = {}
    for (const name of ADDONS) files[name] = path.join(dir, `${name}.node`)
    if (Object.values(files).every((f) => fs.existsSync(f))) return { kind: 'build', dir, files }
  }
  return null
}

// What the package says about its prebuilts (package.json "hamqtt.prebuilds", written by
// scripts/pack.js): { "linux-x64": { "libc": "glibc", "glibc": "2.34" } }.
function shipped () {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).hamqtt?.prebuilds || {}
  } catch {
    return {}
  }
}

// "linux-x64 (glibc 2.34 or newer)", ... or "none".
function describeShipped () {
  const s = Object.entries(shipped()).map(([t, m]) =>
    m.libc === 'glibc' && m.glibc ? `${t} (glibc ${m.glibc} or newer)` : m.libc ? `${t} (${m.libc})` : t)
  return s.length ? s.join(', ') : 'none'
}

// The addon to load: a local build first (as node-gyp-build), else the prebuilt.
function locate () {
  return built() || prebuilt()
}

module.exports = { root, tuple, libc, prebuilt, built, locate, shipped, describeShipped, ADDONS }
