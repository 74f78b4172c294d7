#!/usr/bin/env node
// The package's install step: provide native/libhamqtt.so.0 and native/hamqtt.h, then build the
// addon with node-gyp against the Node headers installed on this machine (never downloaded).
//
// Where the library comes from, first match wins:
//   1. HAMQTT_LIBRARY=/path/to/libhamqtt.so[.0]  an existing build (copied, symlinks resolved)
//   2. the hamqtt source tree (../../capi, or HAMQTT_SOURCE_DIR): `go build -buildmode=c-shared`
//   3. native/libhamqtt.so.0 shipped in the package (npm pack runs `prepack`, which puts it there)
// The header comes from HAMQTT_INCLUDE_DIR, the source tree's include/, or native/hamqtt.h.
//
// Node headers: npm_config_nodedir / HAMQTT_NODEDIR, else the prefix of the running node
// (<prefix>/include/node), /usr or /usr/local; if none is installed, the `node-api-headers`
// package (when present) is laid out as a node-gyp nodedir (HAMQTT_NODE_API_HEADERS=1 forces that).
//
// Flags: --lib-only (library and header only; used by prepack), --no-verify.
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const cp = require('node:child_process')

const root = path.resolve(__dirname, '..')
const nativeDir = path.join(root, 'native')
const SONAME = 'libhamqtt.so.0'
const args = new Set(process.argv.slice(2))

function log (msg) { process.stderr.write(`hamqtt install: ${msg}\n`) }
function die (msg) { log(`error: ${msg}`); process.exit(1) }

function run (cmd, argv, opts = {}) {
  log(`$ ${[cmd, ...argv].join(' ')}`)
  const r = cp.spawnSync(cmd, argv, { stdio: 'inherit', ...opts })
  if (r.error) die(`${cmd}: ${r.error.message}`)
  if (r.status !== 0) die(`${cmd} exited with ${r.status === null ? r.signal : r.status}`)
}

function sourceTree () {
  const candidates = []
  if (process.env.HAMQTT_SOURCE_DIR) candidates.push(path.resolve(process.env.HAMQTT_SOURCE_DIR))
  candidates.push(path.resolve(root, '..', '..'))
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'capi', 'main.go')) && fs.existsSync(path.join(dir, 'go.mod'))) return dir
  }
  if (process.env.HAMQTT_SOURCE_DIR) die(`HAMQTT_SOURCE_DIR=${process.env.HAMQTT_SOURCE_DIR} has no capi/main.go and go.mod`)
  return null
}

function soname (file) {
  const r = cp.spawnSync('readelf', ['-d', file], { encoding: 'utf8' })
  if (r.status !== 0) return undefined // readelf missing: cannot check
  const m = /\(SONAME\)\s+Library soname: \[([^\]]+)\]/.exec(r.stdout)
  return m ? m[1] : null
}

function copyReal (from, to) {
  const real = fs.realpathSync(from)
  fs.mkdirSync(path.dirname(to), { recursive: true })
  const tmp = `${to}.tmp${process.pid}`
  fs.copyFileSync(real, tmp)
  fs.renameSync(tmp, to)
}

function provideLibrary (src) {
  const target = path.join(nativeDir, SONAME)
  if (process.env.HAMQTT_LIBRARY) {
    const lib = path.resolve(process.env.HAMQTT_LIBRARY)
    if (!fs.existsSync(lib)) die(`HAMQTT_LIBRARY=${lib} does not exist`)
    const name = soname(lib)
    if (name && name !== SONAME) die(`HAMQTT_LIBRARY=${lib} has SONAME ${name}; this package needs ${SONAME}`)
    copyReal(lib, target)
    log(`library: ${lib} -> native/${SONAME}`)
    return
  }
  if (src) {
    const go = process.env.GO || 'go'
    const map = path.join(src, 'capi', 'hamqtt.map')
    const ldflags = `-s -w -extldflags "-Wl,--version-script=${map} -Wl,-soname,${SONAME}"`
    fs.mkdirSync(nativeDir, { recursive: true })
    const tmp = path.join(nativeDir, `libhamqtt.tmp${process.pid}.so`)
    run(go, ['build', '-buildmode=c-shared', '-trimpath', `-ldflags=${ldflags}`, '-o', tmp, './capi'], { cwd: src })
    // go writes cgo's header beside the library: internal, never shipped.
    fs.rmSync(tmp.replace(/\.so$/, '.h'), { force: true })
    fs.renameSync(tmp, target)
    log(`library: built from ${src} -> native/${SONAME}`)
    return
  }
  if (fs.existsSync(target)) {
    log(`library: shipped native/${SONAME}`)
    return
  }
  die('no libhamqtt: set HAMQTT_LIBRARY to a built libhamqtt.so, or install from the hamqtt source tree ' +
      '(bindings/node inside it, with Go installed), or from a package made by `npm pack` there')
}

function provideHeader (src) {
  const target = path.join(nativeDir, 'hamqtt.h')
  let from = null
  if (process.env.HAMQTT_INCLUDE_DIR) from = path.join(path.resolve(process.env.HAMQTT_INCLUDE_DIR), 'hamqtt.h')
  else if (src) from = path.join(src, 'include', 'hamqtt.h')
  if (from) {
    if (!fs.existsSync(from)) die(`${from} does not exist`)
    copyReal(from, target)
    return
  }
  if (!fs.existsSync(target)) die('no hamqtt.h: set HAMQTT_INCLUDE_DIR or install from the source tree')
}

function nodeDir () {
  const explicit = process.env.HAMQTT_NODEDIR || process.env.npm_config_nodedir
  const hasHeaders = (d) => fs.existsSync(path.join(d, 'include', 'node', 'node_api.h')) &&
    fs.existsSync(path.join(d, 'include', 'node', 'common.gypi'))
  if (explicit) {
    if (!hasHeaders(explicit)) die(`nodedir ${explicit} has no include/node/node_api.h and common.gypi`)
    return explicit
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  if (!process.env.HAMQTT_NODE_API_HEADERS) { // set: use node-api-headers even when headers are installed
    for (const d of [prefix, '/usr', '/usr/local']) if (hasHeaders(d)) return d
  }
  // No installed headers: lay out node-api-headers (an npm package) as a nodedir. It carries the
  // Node-API headers; the addon also uses libuv (a uv_poll_t on the main loop), whose headers
  // come from the system (Debian: libuv1-dev; libuv keeps its ABI within 1.x) or
  // HAMQTT_UV_INCLUDE_DIR.
  let pkg
  try { pkg = path.dirname(require.resolve('node-api-headers/package.json', { paths: [root] })) } catch { pkg = null }
  const uvDir = process.env.HAMQTT_UV_INCLUDE_DIR || '/usr/include'
  if (!pkg || !fs.existsSync(path.join(uvDir, 'uv.h'))) {
    die('no Node headers found (looked in ' + [prefix, '/usr', '/usr/local'].join(', ') +
        '): install them (Debian: the nodejs package ships /usr/include/node), or set npm_config_nodedir; ' +
        'or `npm install node-api-headers` and install the libuv headers (Debian: libuv1-dev)' +
        (pkg ? ` (no uv.h in ${uvDir})` : ''))
  }
  const d = path.join(root, 'native', 'nodedir') // outside build/: node-gyp rebuild empties build/
  const inc = path.join(d, 'include', 'node')
  fs.rmSync(d, { recursive: true, force: true })
  fs.mkdirSync(inc, { recursive: true })
  for (const f of fs.readdirSync(path.join(pkg, 'include'))) fs.copyFileSync(path.join(pkg, 'include', f), path.join(inc, f))
  fs.copyFileSync(path.join(uvDir, 'uv.h'), path.join(inc, 'uv.h'))
  if (fs.existsSync(path.join(uvDir, 'uv'))) fs.cpSync(path.join(uvDir, 'uv'), path.join(inc, 'uv'), { recursive: true })
  // The build configurations node-gyp expects (Release/Debug), as Node's own common.gypi has them.
  fs.writeFileSync(path.join(inc, 'common.gypi'), `{
  'variables': { 'node_shared%': 'false', 'node_module_version%': '' },
  'target_defaults': {
    'default_configuration': 'Release',
    'cflags': ['-pthread', '-fPIC', '-Wall', '-Wextra'],
    'ldflags': ['-pthread', '-rdynamic'],
    'configurations': {
      'Debug': { 'defines': ['DEBUG', '_DEBUG'], 'cflags': ['-g', '-O0'] },
      'Release': { 'cflags': ['-O2'] }
    }
  }
}
`)
  fs.writeFileSync(path.join(inc, 'config.gypi'), "{ 'target_defaults': {}, 'variables': { 'napi_build_version': '8' } }\n")
  fs.writeFileSync(path.join(d, 'installVersion'), '11\n')
  log(`Node headers: node-api-headers and ${uvDir}/uv.h laid out in ${d}`)
  return d
}

function nodeGyp () {
  const candidates = []
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp)
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  try { candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] })) } catch {}
  for (const c of candidates) if (c && fs.existsSync(c)) return [process.execPath, [c]]
  return ['node-gyp', []] // on PATH (npm puts its bundled node-gyp there for scripts)
}

function main () {
  const src = sourceTree()
  provideLibrary(src)
  provideHeader(src)
  if (args.has('--lib-only')) return
  const dir = nodeDir()
  const [cmd, pre] = nodeGyp()
  run(cmd, [...pre, 'rebuild', `--nodedir=${dir}`, '--jobs=2'], { cwd: root, env: { ...process.env, npm_config_nodedir: dir } })
  if (!args.has('--no-verify')) {
    // Load it in a fresh process: proves the RUNPATH finds native/libhamqtt.so.0.
    const r = cp.spawnSync(process.execPath, ['-e', "console.log(require('./lib/native').version())"],
      { cwd: root, encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: '' } })
    if (r.status !== 0) die(`the built addon does not load:\n${r.stderr}`)
    log(`built build/Release/hamqtt.node (libhamqtt ${r.stdout.trim()})`)
  }
}

main()
