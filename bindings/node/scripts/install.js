#!/usr/bin/env node
// The package's install step. With a prebuilt addon for this platform in the package
// (prebuilds/<platform>-<arch>/, put there by scripts/pack.js: `make npm-pack`), it checks that
// the prebuilt loads here and builds nothing: no Go, no compiler, no node-gyp. Otherwise (a
// source install, another platform, or --build-from-source / npm_config_build_from_source /
// HAMQTT_BUILD_FROM_SOURCE=1), it provides native/libhamqtt.so.0 and native/hamqtt.h, then
// builds the addon with node-gyp against the Node headers installed on this machine (never
// downloaded); first it checks that the tools this needs are there, and if any is missing it
// stops and says which, and what to do.
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
// Flags: --lib-only (library and header only; used by prepack), --no-verify, --build-from-source.
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const cp = require('node:child_process')
const prebuilds = require('../lib/prebuilds')

const root = path.resolve(__dirname, '..')
const nativeDir = path.join(root, 'native')
const SONAME = 'libhamqtt.so.0'
const args = new Set(process.argv.slice(2))

function log (msg) { process.stderr.write(`hamqtt install: ${msg}\n`) }
function die (msg) { log(`error: ${msg}`); process.exit(1) }

function run (cmd, argv, opts = {}) {
  log(`$ ${[cmd, ...argv].join(' ')}`)
  const r = cp.spawnSync(cmd, argv, { stdio: 'inherit', ...opts })
  if (r.error && r.error.code === 'ENOENT') die(`${cmd} is not on PATH (${process.env.PATH || 'PATH is empty'})`)
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

function truthy (v) { return v !== undefined && v !== '' && v !== 'false' && v !== '0' }

function isExecutable (f) {
  try {
    fs.accessSync(f, fs.constants.X_OK)
    return fs.statSync(f).isFile()
  } catch {
    return false
  }
}

// The path of cmd as a spawn would find it, or null.
function which (cmd) {
  if (!cmd) return null
  if (cmd.includes('/')) return isExecutable(cmd) ? cmd : null
  for (const d of (process.env.PATH || '').split(path.delimiter)) {
    if (d && isExecutable(path.join(d, cmd))) return path.join(d, cmd)
  }
  return null
}

function glibcVersion () {
  try {
    process.report.excludeNetwork = true // no reverse lookups of open sockets
  } catch {}
  try {
    return process.report.getReport().header.glibcVersionRuntime || null
  } catch {
    return null
  }
}

function older (a, b) { // dotted versions: a < b
  const x = a.split('.').map(Number)
  const y = b.split('.').map(Number)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) < (y[i] || 0)
  }
  return false
}

// Loads the addon as the package will (lib/native.js) in a fresh process with no
// LD_LIBRARY_PATH: proves the RUNPATH finds libhamqtt.so.0.
function loadCheck () {
  const r = cp.spawnSync(process.execPath, ['-e',
    "const n = require('./lib/native'); console.log(n.version())"],
  { cwd: root, encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: '' } })
  if (r.status === 0) return { version: r.stdout.trim() }
  return { error: (r.stderr || r.error?.message || `exit ${r.status}`).trim() }
}

// The prebuilt addon for this platform if it is there and loads: { dir, version }, else
// { reason } (why there is none that can be used here).
function usablePrebuilt () {
  const what = `${prebuilds.tuple} (${prebuilds.libc() || 'unknown libc'})`
  const pre = prebuilds.prebuilt()
  if (!pre) return { reason: `this package has no prebuilt addon for this platform (prebuilts: ${prebuilds.describeShipped()})` }
  const meta = prebuilds.shipped()[prebuilds.tuple] || {}
  if (pre.libc === 'glibc' && meta.glibc) {
    const have = glibcVersion()
    if (have && older(have, meta.glibc)) {
      return { reason: `the prebuilt addon for ${prebuilds.tuple} needs glibc ${meta.glibc} or newer (this system has ${have})` }
    }
  }
  const r = loadCheck()
  if (r.error) return { reason: `the prebuilt addon for ${what} does not load here:\n${r.error}` }
  return { dir: pre.dir, version: r.version }
}

function goMinimum (src) {
  try {
    const m = /^go\s+(\d+\.\d+)/m.exec(fs.readFileSync(path.join(src, 'go.mod'), 'utf8'))
    if (m) return m[1]
  } catch {}
  return '1.24'
}

// What a build from source needs and this machine lacks, one line each.
function missingForSource (src, addon) {
  const missing = []
  const env = process.env
  const first = (v) => v.trim().split(/\s+/)[0]
  const anyOf = (cmds) => cmds.some((c) => which(c))
  if (!env.HAMQTT_LIBRARY && src) {
    const go = env.GO || 'go'
    if (!which(go)) missing.push(`Go ${goMinimum(src)} or newer, to build libhamqtt.so from ${src} (\`${go}\` is not on PATH)`)
  } else if (!env.HAMQTT_LIBRARY && !fs.existsSync(path.join(nativeDir, SONAME))) {
    missing.push('Go 1.24 or newer and the hamqtt source, to build libhamqtt.so.0 for this platform: this package ' +
      'carries neither (set HAMQTT_SOURCE_DIR to a hamqtt source tree, or HAMQTT_LIBRARY to a libhamqtt.so built ' +
      'for this platform)')
  }
  const needCC = addon || (!env.HAMQTT_LIBRARY && src) // cgo needs one too
  if (needCC && !anyOf(env.CC ? [first(env.CC)] : ['cc', 'gcc', 'clang'])) {
    missing.push(`a C compiler (${env.CC ? `CC=${env.CC}` : 'cc, gcc or clang'}: not on PATH)`)
  }
  if (addon) {
    if (!anyOf(env.CXX ? [first(env.CXX)] : ['c++', 'g++', 'clang++'])) {
      missing.push(`the C++ compiler driver node-gyp links with (${env.CXX ? `CXX=${env.CXX}` : 'c++, g++ or clang++'}: not on PATH)`)
    }
    if (!which('make')) missing.push('make, which node-gyp builds with (not on PATH)')
    const py = env.npm_config_python || env.PYTHON
    if (!(py ? which(py) : anyOf(['python3', 'python']))) {
      missing.push(`Python 3, which node-gyp runs (${py || 'python3'}: not on PATH)`)
    }
  }
  return missing
}

function buildFromSourceAsked () {
  return args.has('--build-from-source') || truthy(process.env.npm_config_build_from_source) ||
    truthy(process.env.HAMQTT_BUILD_FROM_SOURCE)
}

function main () {
  const libOnly = args.has('--lib-only')
  let why = null // why there is no prebuilt to use
  if (libOnly) {
    why = 'only the library was asked for'
  } else if (buildFromSourceAsked()) {
    why = 'a build from source was asked for (--build-from-source)'
  } else {
    const pre = usablePrebuilt()
    if (pre.dir) {
      log(`using the prebuilt addon in ${path.relative(root, pre.dir)} (libhamqtt ${pre.version}): nothing to build`)
      return
    }
    why = pre.reason
  }
  const src = sourceTree()
  const missing = missingForSource(src, !libOnly)
  if (missing.length) {
    const shipped = prebuilds.describeShipped()
    die(`cannot install hamqtt on ${prebuilds.tuple} (${prebuilds.libc() || 'unknown libc'}): ${why}, ` +
      'and building it from source needs what this machine lacks:\n' +
      missing.map((m) => `  - ${m}\n`).join('') +
      `To fix: install what is missing (Go ${src ? goMinimum(src) : '1.24'} or newer, a C compiler toolchain: gcc, g++, ` +
      'make; Python 3 for node-gyp) and install again' +
      (shipped !== 'none'
        ? `, or install on a platform that has a prebuilt: ${shipped}.`
        : ', or install the hamqtt npm package made by `make npm-pack`, which carries a prebuilt addon ' +
          '(linux-x64, glibc) and needs neither.'))
  }
  if (!libOnly) log(`building from source: ${why}`)
  provideLibrary(src)
  provideHeader(src)
  if (libOnly) return
  const dir = nodeDir()
  const [cmd, pre] = nodeGyp()
  run(cmd, [...pre, 'rebuild', `--nodedir=${dir}`, '--jobs=2'], { cwd: root, env: { ...process.env, npm_config_nodedir: dir } })
  if (!args.has('--no-verify')) {
    // Load it in a fresh process: proves the RUNPATH finds native/libhamqtt.so.0.
    const r = loadCheck()
    if (r.error) die(`the built addon does not load:\n${r.error}`)
    log(`built build/Release/hamqtt.node (libhamqtt ${r.version})`)
  }
}

main()
