#!/usr/bin/env node
// helios-matrix driver host (docs/driver-host.md) for node-postgres (`pg`).
//
// One process is one session: helios-matrix writes one JSON request per line on stdin and
// reads one JSON response per line from stdout. Requests run one at a time, in order;
// `cancel` comes on a channel of its own (the descriptor HELIOS_DRIVER_HOST_CANCEL_FD names)
// and is answered while another request runs. Nothing but protocol lines goes to stdout;
// diagnostics go to stderr. The target URL holds a password: it is never printed.

import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import readline from 'node:readline'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import { from as copyFrom } from 'pg-copy-streams'

// The protocol's version and capability names come from the JSON Schema helios-matrix
// generates from its Rust types (src/exec/driver/protocol.rs), their one source; the host
// runs from a helios-matrix checkout, two directories below it.
const SCHEMA = JSON.parse(readFileSync(new URL('../../schema/driver-host.schema.json', import.meta.url), 'utf8'))
const HELLO = SCHEMA.$defs.Hello.properties
const PROTOCOL = HELLO.protocol.const
const GREETING = HELLO.hello.const
const KNOWN_CAPABILITIES = SCHEMA.$defs.Capability.oneOf.map((choice) => choice.const)
const PG_VERSION = createRequire(import.meta.url)('pg/package.json').version
// node-postgres itself has no COPY API: `copy` goes through pg-copy-streams, the way its
// users bulk-load.
const CAPABILITIES = ['sql', 'sessions', 'transactions', 'autocommit_off', 'cursors', 'cancel', 'copy']
// helios-matrix would refuse a hello naming another: fail here, saying which.
const UNKNOWN = CAPABILITIES.filter((name) => !KNOWN_CAPABILITIES.includes(name))
if (UNKNOWN.length > 0) throw new Error(`capabilities the protocol has not: ${UNKNOWN.join(', ')}`)

// ------------------------------------------------------------------------------ types

// Built-in type OIDs are fixed in PostgreSQL (pg_type.dat), so a static table maps the
// `dataTypeID` of a result field to its name and portable class without a catalog query
// (which could fail, or open a transaction, in the middle of the user's session).
const BASE_TYPES = {
  16: ['bool', 'boolean'],
  17: ['bytea', 'bytes'],
  18: ['char', 'other'],
  19: ['name', 'text'],
  20: ['int8', 'integer'],
  21: ['int2', 'integer'],
  23: ['int4', 'integer'],
  25: ['text', 'text'],
  26: ['oid', 'integer'],
  114: ['json', 'json'],
  142: ['xml', 'other'],
  700: ['float4', 'float'],
  701: ['float8', 'float'],
  790: ['money', 'other'],
  869: ['inet', 'other'],
  650: ['cidr', 'other'],
  1042: ['bpchar', 'text'],
  1043: ['varchar', 'text'],
  1082: ['date', 'date'],
  1083: ['time', 'time'],
  1114: ['timestamp', 'timestamp'],
  1184: ['timestamptz', 'timestamp'],
  1186: ['interval', 'interval'],
  1266: ['timetz', 'time'],
  1560: ['bit', 'other'],
  1562: ['varbit', 'other'],
  1700: ['numeric', 'decimal'],
  2249: ['record', 'other'],
  2278: ['void', 'other'],
  2950: ['uuid', 'uuid'],
  3802: ['jsonb', 'json'],
}
// Array type OID → element type OID, for the built-in types above.
const ARRAY_OF = {
  1000: 16, 1001: 17, 1002: 18, 1003: 19, 1016: 20, 1005: 21, 1007: 23, 1009: 25, 1028: 26,
  199: 114, 143: 142, 1021: 700, 1022: 701, 791: 790, 1041: 869, 651: 650, 1014: 1042,
  1015: 1043, 1182: 1082, 1183: 1083, 1115: 1114, 1185: 1184, 1187: 1186, 1270: 1266,
  1561: 1560, 1563: 1562, 1231: 1700, 2951: 2950, 3807: 3802,
}

/** `{name, class, native}` for one result field. */
function describeColumn(field) {
  const oid = field.dataTypeID
  if (ARRAY_OF[oid] !== undefined) {
    // PostgreSQL names an array type after its element with a leading underscore.
    return { name: field.name, class: 'array', native: '_' + BASE_TYPES[ARRAY_OF[oid]][0] }
  }
  const [native, cls] = BASE_TYPES[oid] ?? [`oid ${oid}`, 'other']
  return { name: field.name, class: cls, native }
}

// A float must reach JSON with a fraction or exponent (so `1.0` is not read back as an
// integer), and NaN/±Infinity have no JSON form: a wrapper lets `toJson` write it right.
class Float {
  constructor(value) {
    this.value = value
  }
}

function floatValue(text) {
  const value = Number.parseFloat(text)
  return Number.isFinite(value) ? new Float(value) : { float: String(value) }
}

const tag = (key) => (text) => ({ [key]: text })
const pgBytea = pg.types.getTypeParser(17, 'text') // handles both hex and escape output

// node-postgres' default parsers lose information (int8 and numeric as strings, dates as
// local-time Date objects), so each connection gets its own: every value is turned into
// the protocol's encoding by the column's type, straight from the server's text.
const PARSERS = {
  boolean: (text) => text === 't',
  integer: (text) => BigInt(text), // exact for int8; written as a plain JSON integer
  decimal: tag('decimal'),
  float: floatValue,
  text: (text) => text,
  bytes: (text) => ({ bytes: pgBytea(text).toString('base64') }),
  date: tag('date'),
  time: tag('time'),
  timestamp: tag('timestamp'),
  interval: tag('interval'),
  json: tag('json'),
  uuid: tag('uuid'),
  array: tag('array'),
  other: tag('other'),
}

const TYPES = {
  getTypeParser: (oid) => PARSERS[describeColumn({ dataTypeID: oid }).class],
}

// ------------------------------------------------------------------------------- JSON

/** JSON text for a response; unlike JSON.stringify it writes BigInt and Float exactly. */
function toJson(value) {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Float) {
    const text = Object.is(value.value, -0) ? '-0' : String(value.value)
    return /[.e]/.test(text) ? text : text + '.0'
  }
  if (Array.isArray(value)) return '[' + value.map(toJson).join(',') + ']'
  if (typeof value === 'object') {
    const parts = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => JSON.stringify(k) + ':' + toJson(v))
    return '{' + parts.join(',') + '}'
  }
  return JSON.stringify(value)
}

/**
 * Parse a request line. An integer literal beyond 2^53 would lose digits in JSON.parse,
 * so it is turned into a string of its digits first: node-postgres sends every parameter
 * as text, so the digits bind exactly as a BigInt would.
 */
function parseRequest(line) {
  const exact = line.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (token) =>
    /^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token)) ? `"${token}"` : token,
  )
  return JSON.parse(exact)
}

function write(message) {
  process.stdout.write(toJson(message) + '\n')
}

// ----------------------------------------------------------------------------- errors

class HostError extends Error {
  constructor(kind, message) {
    super(message)
    this.name = 'HostError' // not a driver exception: the host itself refused
    this.kind = kind
  }
}

/** Answers request `id` with an error the host itself makes (no driver exception). */
function refuse(id, kind, message) {
  write({ id, ok: false, error: { kind, message, sqlstate: null, code: null, exception: null } })
}

/** The protocol's error object for anything a request threw. */
function errorObject(err, during) {
  const isDb = err instanceof pg.DatabaseError
  let kind
  if (err instanceof HostError) kind = err.kind
  else if (during === 'connect') kind = 'connect'
  // A FATAL error ends the server process, so the connection is gone with it.
  else if (session.lost || (isDb && ['FATAL', 'PANIC'].includes(err.severity))) kind = 'lost'
  else if (/Connection terminated|not queryable/.test(err.message)) kind = 'lost'
  else kind = isDb ? 'db' : 'client'
  return {
    kind,
    // The message is required: something thrown that is not an Error still says what.
    message: err instanceof Error ? err.message : String(err),
    sqlstate: isDb ? (err.code ?? null) : null,
    code: null,
    exception: isDb ? 'pg.DatabaseError' : err.name || 'Error',
  }
}

// ---------------------------------------------------------------------------- session

const session = {
  client: null, // the pg.Client, once connected
  config: null, // its connection settings, reused by the cancel connection
  autocommit: true,
  lost: false, // the connection broke: every later request answers `lost`
  lostReason: '', // why, from the driver's first error
  busy: false, // a request is running against the server (what `cancel` interrupts)
  cursors: 0, // counter for unique cursor names
}

/** node-postgres connection settings from the protocol's target URL. */
function clientConfig(target) {
  let url
  try {
    url = new URL(target)
  } catch {
    throw new HostError('client', 'target is not a URL') // never echo it: it has a password
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new HostError('client', `node-postgres cannot connect to a ${url.protocol}// target`)
  }
  const q = url.searchParams
  // node-postgres has no opportunistic TLS: `prefer` and `require` both mean TLS without
  // certificate checks (libpq's `require`), the verify modes check the chain and the name.
  // Without sslmode node-postgres' own default applies: no TLS.
  const sslmode = q.get('sslmode') ?? 'disable'
  const ssl = {
    disable: false,
    allow: false,
    prefer: { rejectUnauthorized: false },
    require: { rejectUnauthorized: false },
    'verify-ca': { rejectUnauthorized: true },
    'verify-full': { rejectUnauthorized: true },
  }[sslmode]
  if (ssl === undefined) throw new HostError('client', `unknown sslmode ${JSON.stringify(sslmode)}`)
  const config = {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : 5432,
    database: decodeURIComponent(url.pathname.replace(/^\//, '')) || undefined,
    user: decodeURIComponent(url.username) || undefined,
    password: decodeURIComponent(url.password) || undefined,
    ssl,
  }
  if (q.has('application_name')) config.application_name = q.get('application_name')
  if (q.has('options')) config.options = q.get('options')
  if (q.has('connect_timeout')) config.connectionTimeoutMillis = Number(q.get('connect_timeout')) * 1000
  return config
}

async function connect(req) {
  if (session.client) throw new HostError('client', 'already connected')
  session.config = clientConfig(req.target)
  session.autocommit = req.autocommit !== false
  const client = new pg.Client({ ...session.config, types: TYPES })
  // Without a listener a connection dropped while idle would crash the process.
  // Only the session's own client counts: a failed attempt ends too, and may be retried.
  client.on('error', (err) => {
    if (session.client === client && !session.lost) {
      session.lost = true
      session.lostReason = err.message
    }
    console.error(`node-postgres: connection error: ${err.message}`)
  })
  client.on('end', () => {
    if (session.client === client) session.lost = true
  })
  await client.connect()
  session.client = client
  return {}
}

function connected() {
  if (!session.client) throw new HostError('client', 'not connected: `connect` comes first')
  if (session.lost) throw new HostError('lost', `the connection is broken: ${session.lostReason || 'ended'}`)
  return session.client
}

/** One statement; `params` empty means no parameters (the simple query protocol). */
async function run(sql, params, extra = {}) {
  const client = connected()
  const query = { text: sql, rowMode: 'array', ...extra }
  if (Array.isArray(params) ? params.length > 0 : params && Object.keys(params).length > 0) {
    if (!Array.isArray(params)) throw new HostError('client', 'node-postgres binds positional ($1) parameters only')
    query.values = params.map(bindValue)
  }
  const result = await client.query(query)
  // A multi-statement string answers one result per statement: the last one is the answer.
  return Array.isArray(result) ? result[result.length - 1] : result
}

/** `[tag, text]` of a tagged value (`{"float": "NaN"}`, docs/driver-host.md, Values), else null. */
function tagged(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null
  const entries = Object.entries(value)
  return entries.length === 1 && typeof entries[0][1] === 'string' ? entries[0] : null
}

/**
 * A parameter as node-postgres binds it: plain values as they are, a tagged one by its text
 * (node-postgres would send an object as its JSON), bytes as a Buffer.
 */
function bindValue(value) {
  if (value === null || typeof value !== 'object') return value
  const tag = tagged(value)
  if (tag === null) throw new HostError('client', `a parameter must be null, a boolean, a number, a string or a tagged value, not ${JSON.stringify(value)}`)
  const [key, text] = tag
  return key === 'bytes' ? Buffer.from(text, 'base64') : text
}

/** DB-API style autocommit off: a statement outside a transaction first opens one. */
async function openImplicitTransaction() {
  if (!session.autocommit && connected().getTransactionStatus() === 'I') await run('BEGIN', [])
}

async function execute(req) {
  await openImplicitTransaction()
  const result = await run(req.sql, req.params)
  return { rowcount: result.rowCount ?? null }
}

async function query(req) {
  await openImplicitTransaction()
  const result = await run(req.sql, req.params)
  return { columns: (result.fields ?? []).map(describeColumn), rows: result.rows ?? [] }
}

/**
 * A real server-side cursor: DECLARE inside a transaction, then FETCH `batch` rows at a
 * time. In autocommit mode the host opens that transaction itself and commits it after.
 */
async function fetch(req) {
  const batch = req.batch
  if (!Number.isSafeInteger(batch) || batch < 1) throw new HostError('client', 'batch must be a positive integer')
  const maxBatches = req.max_batches ?? Infinity
  await openImplicitTransaction()
  const ownTransaction = connected().getTransactionStatus() === 'I'
  if (ownTransaction) await run('BEGIN', [])
  const cursor = `helios_cursor_${++session.cursors}`
  try {
    const sql = req.sql.replace(/[\s;]+$/, '') // DECLARE takes a query, not a statement list
    await run(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`, req.params)
    let columns = []
    const batches = []
    while (batches.length < maxBatches) {
      const result = await run(`FETCH FORWARD ${batch} FROM ${cursor}`, [])
      columns = result.fields.map(describeColumn)
      if (result.rows.length > 0) batches.push(result.rows)
      if (result.rows.length < batch) break
    }
    await run(`CLOSE ${cursor}`, [])
    if (ownTransaction) await run('COMMIT', [])
    return { columns, batches }
  } catch (err) {
    if (ownTransaction && !session.lost) await run('ROLLBACK', []).catch(() => {})
    throw err
  }
}

// ------------------------------------------------------------------------------- COPY

// Rows are sent in CopyData messages of about this many bytes (one message per row would
// cost a frame and a write each).
const COPY_CHUNK = 64 * 1024

/** Backslash escapes of COPY's text format for a string field. */
function copyText(text) {
  return text.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c])
}

/** One value as a field of COPY's text format (docs/driver-host.md, Values). */
function copyField(value) {
  if (value === null || value === undefined) return '\\N'
  if (typeof value === 'boolean') return value ? 't' : 'f'
  if (typeof value === 'number') {
    if (Object.is(value, -0)) return '-0'
    return String(value) // JSON numbers are finite; PostgreSQL reads 1e+300 as it is
  }
  if (typeof value === 'string') return copyText(value) // also integers past 2^53 (parseRequest)
  const tag = tagged(value)
  if (tag !== null) {
    const [key, text] = tag
    // bytea's text input is its hex form; its leading backslash is escaped like any other.
    if (key === 'bytes') return copyText('\\x' + Buffer.from(text, 'base64').toString('hex'))
    return copyText(text) // {"float": "NaN"}, {"decimal": "1.50"}, {"date": …}: their text
  }
  throw new HostError('client', `a copy value must be null, a boolean, a number, a string or a tagged value, not ${JSON.stringify(value)}`)
}

/** The rows in COPY's text format, in chunks; checked whole before the COPY starts. */
function copyChunks(rows, width) {
  if (!Array.isArray(rows)) throw new HostError('client', 'copy needs `rows`, a list of rows')
  const chunks = []
  let chunk = ''
  rows.forEach((row, i) => {
    if (!Array.isArray(row)) throw new HostError('client', `copy row ${i + 1} is not a list of values`)
    if (width > 0 && row.length !== width) {
      throw new HostError('client', `copy row ${i + 1} has ${row.length} values for ${width} columns`)
    }
    chunk += row.map(copyField).join('\t') + '\n'
    if (chunk.length >= COPY_CHUNK) {
      chunks.push(chunk)
      chunk = ''
    }
  })
  if (chunk !== '') chunks.push(chunk)
  return chunks
}

/**
 * `COPY <table> (<columns>) FROM STDIN` in text format through pg-copy-streams: the rows
 * are written to the stream `client.query(copyFrom(sql))` returns, and the answer waits
 * for its `finish`, which comes after the server's ReadyForQuery. `rowcount` is the
 * stream's `rowCount`: the count in the server's `COPY n` command tag.
 * Table and column names go into the statement as given (quoted already when they need it),
 * as for the other executors; no columns means all of the table's, in order.
 */
async function copy(req) {
  const { table, columns = [] } = req
  if (typeof table !== 'string' || table.trim() === '') throw new HostError('client', 'copy needs `table`, a name')
  if (!Array.isArray(columns) || columns.some((c) => typeof c !== 'string' || c.trim() === '')) {
    throw new HostError('client', 'copy `columns` must be a list of names')
  }
  const chunks = copyChunks(req.rows, columns.length)
  await openImplicitTransaction()
  const list = columns.length > 0 ? ` (${columns.join(', ')})` : ''
  const stream = connected().query(copyFrom(`COPY ${table}${list} FROM STDIN`))
  // pipeline ends the stream after the last chunk and rejects with the server's error (a
  // missing table, a bad value); on an error of its own it destroys the stream, which sends
  // CopyFail so the server ends the COPY.
  await pipeline(Readable.from(chunks), stream)
  return { rowcount: stream.rowCount }
}

async function begin() {
  // node-postgres users start a transaction with the statement itself.
  if (connected().getTransactionStatus() === 'I') await run('BEGIN', [])
  return {}
}

/** COMMIT or ROLLBACK; with no transaction open a no-op, as in DB-API drivers. */
const endTransaction = (statement) => async () => {
  if (connected().getTransactionStatus() !== 'I') await run(statement, [])
  return {}
}

/**
 * node-postgres has no public per-query cancel, so this does what its users do: a second,
 * short-lived connection asks the server to cancel the first one's running statement with
 * pg_cancel_backend(pid), the pid being the one the server gave the session at login.
 */
async function cancel() {
  const client = session.client
  if (!session.busy || !client || session.lost || !client.processID) return {} // nothing to cancel
  const helper = new pg.Client(session.config)
  helper.on('error', () => {}) // a late error on this throwaway connection is of no interest
  try {
    await helper.connect()
    await helper.query('SELECT pg_cancel_backend($1)', [client.processID])
  } finally {
    await helper.end().catch(() => {})
  }
  return {}
}

/** Roll back anything open and close the connection; the caller then exits. */
async function close() {
  const client = session.client
  session.client = null
  if (client && !session.lost) {
    if (client.getTransactionStatus() !== 'I') await client.query('ROLLBACK').catch(() => {})
    await client.end().catch(() => {})
  }
  return {}
}

/** Closes the session's connection and forgets the session: the next `connect` starts a
 * new one in this process (the hello's `reconnect`). */
async function disconnect() {
  await close()
  Object.assign(session, { config: null, autocommit: true, lost: false, lostReason: '', busy: false, cursors: 0 })
  return {}
}

const OPS = {
  connect,
  disconnect,
  execute,
  query,
  fetch,
  begin,
  commit: endTransaction('COMMIT'),
  rollback: endTransaction('ROLLBACK'),
  copy,
  cancel,
  close,
}

// ------------------------------------------------------------------------------- loop

/** Run one request and write its response; never throws. Returns the response. */
async function answer(req) {
  const op = OPS[req.op]
  let response
  try {
    if (!op) throw new HostError('unsupported', `the node-postgres host has no op ${JSON.stringify(req.op)}`)
    const results = await op(req)
    response = { id: req.id, ok: true, ...results }
  } catch (err) {
    // A stack is worth showing only for the unexpected (a bug in the host or the driver).
    const expected = err instanceof HostError || err instanceof pg.DatabaseError || req.op === 'connect'
    if (!expected) console.error(err.stack ?? err)
    response = { id: req.id, ok: false, error: errorObject(err, req.op) }
  }
  write(response)
  return response
}

/**
 * Pipelining (docs/driver-host.md): a request sent before the answer to the one before
 * (`pipelined`) runs only if every request since the last one not pipelined ended as its
 * `expect` said; otherwise it is answered `skipped` and not run.
 */
const pipelining = { broken: false }

async function answerPipelined(req) {
  const pipelined = req.pipelined ?? false
  const expect = req.expect ?? null
  if (typeof pipelined !== 'boolean' || ![null, 'ok', 'error'].includes(expect)) {
    pipelining.broken = true
    const message = '`pipelined` must be a boolean and `expect` `ok` or `error`'
    refuse(req.id, 'client', message)
    return
  }
  if (!pipelined) pipelining.broken = false
  else if (pipelining.broken) {
    const message = 'a request before it in its pipeline did not end as expected'
    refuse(req.id, 'skipped', message)
    return
  }
  const response = await answer(req)
  const outcome = response.ok ? 'ok' : response.error.kind === 'db' ? 'error' : 'other'
  if (expect !== null && outcome !== expect) pipelining.broken = true
}

/** A request line as a request; null for a blank line, or one answered as unreadable. */
function readRequest(line) {
  if (line.trim() === '') return null
  try {
    return parseRequest(line)
  } catch (err) {
    console.error(`node-postgres host: unreadable request line: ${err.message}`)
    write({ id: null, ok: false, error: { kind: 'client', message: `unreadable request: ${err.message}`, sqlstate: null, code: null, exception: err.name } })
    return null
  }
}

/** The cancel channel helios-matrix handed over (a pipe), if any. */
function cancelChannel() {
  const named = process.env.HELIOS_DRIVER_HOST_CANCEL_FD
  if (!named) return null
  try {
    const channel = new net.Socket({ fd: Number(named), readable: true, writable: false })
    channel.on('error', (err) => console.error(`node-postgres host: the cancel channel failed: ${err.message}`))
    channel.unref() // it never keeps the host running
    return channel
  } catch (err) {
    console.error(`node-postgres host: no cancel channel on HELIOS_DRIVER_HOST_CANCEL_FD=${named}: ${err.message}`)
    return null
  }
}

async function main() {
  write({
    hello: GREETING,
    protocol: PROTOCOL,
    driver: 'node-postgres',
    driver_version: PG_VERSION,
    runtime: 'Node.js ' + process.version,
    capabilities: CAPABILITIES,
    // After `disconnect`, this host takes another `connect`.
    reconnect: true,
  })

  // `cancel` on its own channel is answered at once, while a request may be running.
  const channel = cancelChannel()
  if (channel) {
    readline.createInterface({ input: channel, crlfDelay: Infinity }).on('line', (line) => {
      const req = readRequest(line)
      if (!req) return
      if (req.op === 'cancel') answer(req)
      else refuse(req.id, 'client', `\`${req.op}\` on the cancel channel`)
    })
  }

  // Requests are read as they come and queued; a single worker takes them in order (a
  // `cancel` on stdin among them finds nothing running).
  const queue = []
  let wake = null
  let eof = false
  const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  input.on('line', (line) => {
    const req = readRequest(line)
    if (!req) return
    queue.push(req)
    wake?.()
  })
  input.on('close', () => {
    eof = true
    wake?.()
  })

  for (;;) {
    if (queue.length === 0) {
      if (eof) break
      await new Promise((resolve) => (wake = resolve))
      wake = null
      continue
    }
    const req = queue.shift()
    session.busy = req.op !== 'close'
    await answerPipelined(req)
    session.busy = false
    if (req.op === 'close') break
  }
  input.close()
  await close() // end of input without `close`: still leave the server cleanly
  process.stdout.write('', () => process.exit(0))
}

main()
