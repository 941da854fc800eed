// Behaviour of drivers/node/host.mjs over its real stdin/stdout, as helios-matrix drives it.
// The PostgreSQL tests need the reference server (scripts/services.sh up) and are skipped,
// with the reason, only when nothing listens on its port.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import readline from 'node:readline'
import { after, describe, test } from 'node:test'
import { HOST, TARGET, skipPg } from './reference.mjs'

const PG_VERSION = createRequire(import.meta.url)('pg/package.json').version
const SCHEMA = JSON.parse(readFileSync(new URL('../../../schema/driver-host.schema.json', import.meta.url), 'utf8'))

/** A running host: `request` sends one line and resolves with its response; `cancel` sends
 * one on the cancel channel, the host's descriptor 3, as helios-matrix does. */
class Host {
  constructor() {
    this.child = spawn(process.execPath, [HOST], {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, HELIOS_DRIVER_HOST_CANCEL_FD: '3' },
    })
    this.stderr = ''
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk))
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)))
    this.nextId = 1
    this.waiting = new Map()
    this.lines = [] // every stdout line, raw: JSON.parse would round big integers
    const out = readline.createInterface({ input: this.child.stdout })
    this.hello = new Promise((resolve) => {
      out.on('line', (line) => {
        this.lines.push(line)
        const message = JSON.parse(line)
        if (message.hello !== undefined) return resolve(message)
        const done = this.waiting.get(message.id)
        assert.ok(done, `response to an unknown id: ${line}`)
        this.waiting.delete(message.id)
        done({ ...message, raw: line })
      })
    })
    hosts.push(this)
  }

  request(op, args = {}, channel = this.child.stdin) {
    const id = this.nextId++
    const response = new Promise((resolve) => this.waiting.set(id, resolve))
    channel.write(JSON.stringify({ id, op, ...args }) + '\n')
    return response
  }

  cancel() {
    return this.request('cancel', {}, this.child.stdio[3])
  }

  /** A request that must succeed. */
  async ok(op, args) {
    const response = await this.request(op, args)
    assert.equal(response.ok, true, `${op} failed: ${response.raw}\n${this.stderr}`)
    return response
  }

  async rows(sql, params = []) {
    return (await this.ok('query', { sql, params })).rows
  }
}

const hosts = []
after(() => hosts.forEach((host) => host.child.kill()))

async function connected(autocommit = true) {
  const host = new Host()
  await host.ok('connect', { target: TARGET, autocommit })
  return host
}

describe('protocol', () => {
  test('writes the hello line first, with the driver and its capabilities', async () => {
    const host = new Host()
    const hello = await host.hello
    assert.deepEqual(hello, {
      hello: 'helios-matrix-driver-host',
      // The version is the schema's, which helios-matrix generates from its own constant.
      protocol: SCHEMA.$defs.Hello.properties.protocol.const,
      driver: 'node-postgres',
      driver_version: PG_VERSION,
      runtime: 'Node.js ' + process.version,
      capabilities: ['sql', 'sessions', 'transactions', 'autocommit_off', 'cursors', 'cancel', 'copy'],
      reconnect: true,
    })
    assert.equal(host.lines[0], JSON.stringify(hello), 'hello comes before anything else')
  })

  test('an unknown op, and vector, answer unsupported; the host goes on', async () => {
    const host = new Host()
    for (const op of ['frobnicate', 'vector']) {
      const response = await host.request(op)
      assert.equal(response.ok, false)
      assert.equal(response.error.kind, 'unsupported')
      assert.match(response.error.message, new RegExp(op))
    }
  })

  test('a statement before connect is a client error', async () => {
    const response = await new Host().request('query', { sql: 'SELECT 1', params: [] })
    assert.equal(response.error.kind, 'client')
    const copy = await new Host().request('copy', { table: 't', columns: ['v'], rows: [[1]] })
    assert.equal(copy.error.kind, 'client')
  })

  test('close and end of input both exit with status 0', async () => {
    const closing = new Host()
    await closing.ok('close')
    assert.equal(await closing.exited, 0)
    const ending = new Host()
    await ending.hello
    ending.child.stdin.end()
    assert.equal(await ending.exited, 0)
  })
})

describe('PostgreSQL', { skip: skipPg }, () => {
  test('connects with TLS for sslmode=require and never prints the password', async () => {
    const host = await connected()
    assert.deepEqual(await host.rows('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'), [[true]])
    const refused = await new Host().request('connect', {
      target: TARGET.replace('test:test@', 'test:s3cret-pw@'),
      autocommit: true,
    })
    assert.equal(refused.error.kind, 'connect')
    assert.equal(refused.error.sqlstate, '28P01')
    assert.doesNotMatch(refused.raw, /s3cret-pw/)
  })

  test('a query with $1 parameters answers typed columns and exact values', async () => {
    const host = await connected()
    const big = '9007199254740993' // 2^53 + 1: a double would round it
    const response = await host.ok('query', {
      sql: 'SELECT $1::int8 AS big, $2::numeric AS amount, $3::date AS day, NULL::text AS nothing, $4::int4 AS small, $5::float8 AS ratio, $6::text AS label',
      params: [big, '12.3400', '2024-01-02', 7, 0.5, 'hi'],
    })
    assert.deepEqual(response.columns, [
      { name: 'big', class: 'integer', native: 'int8' },
      { name: 'amount', class: 'decimal', native: 'numeric' },
      { name: 'day', class: 'date', native: 'date' },
      { name: 'nothing', class: 'text', native: 'text' },
      { name: 'small', class: 'integer', native: 'int4' },
      { name: 'ratio', class: 'float', native: 'float8' },
      { name: 'label', class: 'text', native: 'text' },
    ])
    assert.ok(
      response.raw.includes(`"rows":[[${big},{"decimal":"12.3400"},{"date":"2024-01-02"},null,7,0.5,"hi"]]`),
      response.raw,
    )
  })

  test('a big integer parameter sent as a JSON number keeps its digits', async () => {
    const host = await connected()
    const id = host.nextId++
    const answered = new Promise((resolve) => host.waiting.set(id, resolve))
    host.child.stdin.write(`{"id":${id},"op":"query","sql":"SELECT $1::int8 AS v","params":[-9223372036854775808]}\n`)
    const response = await answered
    assert.ok(response.raw.includes('"rows":[[-9223372036854775808]]'), response.raw)
  })

  test('tagged parameters bind as their values: NaN and infinite floats, decimals, bytes', async () => {
    const host = await connected()
    const response = await host.ok('query', {
      sql: 'SELECT $1::float8 AS nan, $2::float8 AS inf, $3::numeric AS amount, $4::bytea AS b',
      params: [{ float: 'NaN' }, { float: '-Infinity' }, { decimal: '1.50' }, { bytes: 'Cv8=' }],
    })
    assert.deepEqual(response.rows, [[{ float: 'NaN' }, { float: '-Infinity' }, { decimal: '1.50' }, { bytes: 'Cv8=' }]])
    const refused = await host.request('query', { sql: 'SELECT $1::text', params: [{ a: 1, b: 2 }] })
    assert.equal(refused.error.kind, 'client')
  })

  test('other types travel tagged: floats, bytes, times, json, uuid, arrays', async () => {
    const host = await connected()
    const response = await host.ok('query', {
      sql: `SELECT 1::float8 AS one, 'NaN'::float4 AS nan, '\\x0aff'::bytea AS b, '03:04:05.5'::time AS t,
                   '2024-01-02 03:04:05+00'::timestamptz AS ts, '1 day 04:05:06'::interval AS iv,
                   '{"a": 1}'::jsonb AS j, '123e4567-e89b-12d3-a456-426614174000'::uuid AS u,
                   ARRAY[1, 2, 3] AS arr, true AS yes`,
      params: [],
    })
    assert.deepEqual(
      response.columns.map((column) => column.class),
      ['float', 'float', 'bytes', 'time', 'timestamp', 'interval', 'json', 'uuid', 'array', 'boolean'],
    )
    assert.ok(response.raw.includes('"rows":[[1.0,{"float":"NaN"},{"bytes":"Cv8="},{"time":"03:04:05.5"},'), response.raw)
    assert.deepEqual(response.rows[0].slice(4), [
      { timestamp: '2024-01-02 03:04:05+00' },
      { interval: '1 day 04:05:06' },
      { json: '{"a": 1}' },
      { uuid: '123e4567-e89b-12d3-a456-426614174000' },
      { array: '{1,2,3}' },
      true,
    ])
  })

  test('a syntax error is a db error with sqlstate 42601 and the exception class', async () => {
    const host = await connected()
    const response = await host.request('execute', { sql: 'SELEC 1', params: [] })
    assert.equal(response.ok, false)
    assert.deepEqual(
      { ...response.error, message: undefined },
      { kind: 'db', message: undefined, sqlstate: '42601', code: null, exception: 'pg.DatabaseError' },
    )
    assert.match(response.error.message, /syntax error/)
    assert.deepEqual(await host.rows('SELECT 1 AS still_usable'), [[1]])
  })

  test('autocommit off opens a transaction another session cannot see until commit', async () => {
    const table = `helios_node_host_${process.pid}`
    const observer = await connected(true)
    await observer.ok('execute', { sql: `CREATE TABLE ${table} (v int)`, params: [] })
    try {
      const writer = await connected(false)
      const count = async () => (await observer.rows(`SELECT count(*)::int4 FROM ${table}`))[0][0]

      const insert = await writer.ok('execute', { sql: `INSERT INTO ${table} VALUES ($1)`, params: [1] })
      assert.equal(insert.rowcount, 1)
      assert.equal(await count(), 0, 'uncommitted insert is invisible')
      await writer.ok('rollback')
      assert.equal(await count(), 0, 'rolled back insert stays invisible')
      assert.deepEqual(await writer.rows(`SELECT count(*)::int4 FROM ${table}`), [[0]])

      await writer.ok('execute', { sql: `INSERT INTO ${table} VALUES (2)`, params: [] })
      await writer.ok('commit')
      assert.equal(await count(), 1, 'committed insert is visible')
      await writer.ok('commit') // nothing open: a no-op
      await writer.ok('close')
      assert.equal(await writer.exited, 0)
    } finally {
      await observer.ok('execute', { sql: `DROP TABLE ${table}`, params: [] })
    }
  })

  test('disconnect ends the session; the next connect in the same process starts clean', async () => {
    const host = await connected(false)
    assert.equal((await host.hello).reconnect, true)
    const [[first]] = await host.rows('SELECT pg_backend_pid()')
    await host.ok('execute', { sql: 'CREATE TEMP TABLE helios_left_behind (v int)', params: [] })
    await host.ok('disconnect')
    assert.equal((await host.request('query', { sql: 'SELECT 1', params: [] })).error.kind, 'client')
    await host.ok('connect', { target: TARGET, autocommit: true })
    const [[second]] = await host.rows('SELECT pg_backend_pid()')
    assert.notEqual(second, first, 'a new server connection')
    assert.deepEqual(await host.rows("SELECT to_regclass('pg_temp.helios_left_behind') IS NULL"), [[true]])
    await host.ok('close')
    assert.equal(await host.exited, 0)
  })

  test('begin in autocommit mode opens a transaction that rollback ends', async () => {
    const host = await connected(true)
    await host.ok('begin')
    await host.ok('execute', { sql: 'CREATE TEMP TABLE helios_begin (v int)', params: [] })
    await host.ok('rollback')
    const response = await host.request('query', { sql: 'SELECT * FROM helios_begin', params: [] })
    assert.equal(response.error.sqlstate, '42P01')
  })

  test('fetch reads batches through a server-side cursor', async () => {
    for (const autocommit of [true, false]) {
      const host = await connected(autocommit)
      const sql = 'SELECT g AS n FROM generate_series(1, $1::int4) AS g'
      const all = await host.ok('fetch', { sql, params: [7], batch: 3, max_batches: 10 })
      assert.deepEqual(all.columns, [{ name: 'n', class: 'integer', native: 'int4' }])
      assert.deepEqual(all.batches, [[[1], [2], [3]], [[4], [5], [6]], [[7]]])
      const two = await host.ok('fetch', { sql, params: [100], batch: 2, max_batches: 2 })
      assert.deepEqual(two.batches, [[[1], [2]], [[3], [4]]])
      // The cursor really was one: a second fetch saw its own, and none is left open.
      assert.deepEqual(await host.rows('SELECT count(*)::int4 FROM pg_cursors'), [[0]])
      const inTransaction = await host.rows("SELECT now() <> statement_timestamp()")
      assert.deepEqual(inTransaction, [[!autocommit]], 'autocommit mode leaves no transaction behind')
    }
  })

  test('copy loads 10000 rows through COPY FROM STDIN and answers the server count', async () => {
    const host = await connected()
    const table = `helios_node_copy_bulk_${process.pid}`
    await host.ok('execute', { sql: `CREATE TABLE ${table} (n int8, label text, even bool, ratio float8, note text)`, params: [] })
    try {
      const rows = Array.from({ length: 10000 }, (_, i) => [i + 1, `row ${i + 1}`, i % 2 === 1, (i + 1) / 4, i % 10 === 0 ? null : 'x'])
      const response = await host.ok('copy', { table, columns: ['n', 'label', 'even', 'ratio', 'note'], rows })
      assert.equal(response.rowcount, 10000)
      assert.deepEqual(
        await host.rows(
          `SELECT count(*)::int4, sum(n)::int8, count(*) FILTER (WHERE even)::int4, sum(ratio), count(note)::int4,
                  count(*) FILTER (WHERE label = 'row ' || n)::int4 FROM ${table}`,
        ),
        [[10000, 50005000, 5000, 12501250.0, 9000, 10000]],
      )
      const none = await host.ok('copy', { table, columns: ['n'], rows: [] })
      assert.equal(none.rowcount, 0)
    } finally {
      await host.ok('execute', { sql: `DROP TABLE ${table}`, params: [] })
    }
  })

  test('copy writes text-format escapes: tab, newline, backslash, CR and NULL read back exactly', async () => {
    const host = await connected()
    await host.ok('execute', { sql: 'CREATE TEMP TABLE helios_copy_escape (id int, t text, b bool, f float8, x bytea)', params: [] })
    try {
      const tricky = 'a\tb\nc\\d\re \\N \\. end'
      const rows = [
        [1, tricky, true, 0.5, { bytes: 'Cv8=' }],
        [2, null, false, { float: 'NaN' }, null],
        [3, '\\N', null, -1e300, null], // the text \N, not NULL
        [4, '', null, null, null],
      ]
      const response = await host.ok('copy', { table: 'helios_copy_escape', columns: ['id', 't', 'b', 'f', 'x'], rows })
      assert.equal(response.rowcount, 4)
      const read = await host.ok('query', { sql: 'SELECT id, t, t IS NULL, b, f, x FROM helios_copy_escape ORDER BY id', params: [] })
      assert.deepEqual(read.rows, [
        [1, tricky, false, true, 0.5, { bytes: 'Cv8=' }],
        [2, null, true, false, { float: 'NaN' }, null],
        [3, '\\N', false, null, -1e300, null],
        [4, '', false, null, null, null],
      ])
      const width = await host.request('copy', { table: 'helios_copy_escape', columns: ['id', 't'], rows: [[5]] })
      assert.equal(width.error.kind, 'client')
      assert.match(width.error.message, /1 values for 2 columns/)
    } finally {
      await host.ok('execute', { sql: 'DROP TABLE helios_copy_escape', params: [] })
    }
  })

  test('copy into a missing table is a db error with sqlstate 42P01; the session goes on', async () => {
    const host = await connected()
    const response = await host.request('copy', { table: 'helios_no_such_table', columns: ['v'], rows: [[1], [2]] })
    assert.equal(response.ok, false)
    assert.equal(response.error.kind, 'db')
    assert.equal(response.error.sqlstate, '42P01')
    assert.equal(response.error.exception, 'pg.DatabaseError')
    assert.match(response.error.message, /helios_no_such_table/)
    assert.deepEqual(await host.rows('SELECT 1'), [[1]])
  })

  test('copy with autocommit off opens the transaction first, like any statement', async () => {
    const table = `helios_node_copy_tx_${process.pid}`
    const observer = await connected(true)
    await observer.ok('execute', { sql: `CREATE TABLE ${table} (v int)`, params: [] })
    try {
      const writer = await connected(false)
      const count = async () => (await observer.rows(`SELECT count(*)::int4 FROM ${table}`))[0][0]
      assert.equal((await writer.ok('copy', { table, columns: ['v'], rows: [[1], [2], [3]] })).rowcount, 3)
      assert.equal(await count(), 0, 'uncommitted copy is invisible')
      await writer.ok('rollback')
      assert.equal(await count(), 0, 'rolled back copy stays invisible')
      await writer.ok('copy', { table, columns: ['v'], rows: [[4]] })
      await writer.ok('commit')
      assert.equal(await count(), 1, 'committed copy is visible')
      await writer.ok('close')
    } finally {
      await observer.ok('execute', { sql: `DROP TABLE ${table}`, params: [] })
    }
  })

  test('cancel interrupts a running statement with sqlstate 57014', async () => {
    const host = await connected()
    const started = Date.now()
    const sleeping = host.request('query', { sql: 'SELECT pg_sleep(10)', params: [] })
    await new Promise((resolve) => setTimeout(resolve, 300))
    const cancelled = await host.cancel()
    assert.equal(cancelled.ok, true, cancelled.raw)
    const response = await sleeping
    assert.equal(response.ok, false)
    assert.equal(response.error.kind, 'db')
    assert.equal(response.error.sqlstate, '57014')
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
    assert.deepEqual(await host.rows('SELECT 1'), [[1]])
    const idle = await host.cancel() // nothing running: a no-op
    assert.equal(idle.ok, true)
    const onStdin = await host.request('cancel') // read between requests: nothing to cancel
    assert.equal(onStdin.ok, true)
  })

  test('pipelined requests run in order until one ends otherwise than expected; the rest are skipped', async () => {
    const host = await connected()
    const sent = [
      ['execute', { sql: 'CREATE TEMP TABLE piped (v int)', params: [], expect: 'ok' }],
      ['execute', { sql: 'INSERT INTO piped VALUES (1)', params: [], expect: 'ok', pipelined: true }],
      ['execute', { sql: 'INSERT INTO nowhere VALUES (1)', params: [], expect: 'error', pipelined: true }],
      ['execute', { sql: 'INSERT INTO piped VALUES (2)', params: [], expect: 'error', pipelined: true }],
      ['execute', { sql: 'INSERT INTO piped VALUES (3)', params: [], expect: 'ok', pipelined: true }],
    ].map(([op, args]) => host.request(op, args)) // all written before any answer
    const answers = await Promise.all(sent)
    assert.deepEqual(
      answers.map((a) => (a.ok ? 'ok' : a.error.kind)),
      ['ok', 'ok', 'db', 'ok', 'skipped'],
    )
    // Not pipelined: runs whatever came before it.
    assert.deepEqual(await host.rows('SELECT v FROM piped ORDER BY v'), [[1], [2]])
    const bad = await host.request('query', { sql: 'SELECT 1', params: [], expect: 'maybe' })
    assert.equal(bad.error.kind, 'client')
  })

  test('a connection the server ends answers lost from then on', async () => {
    const victim = await connected()
    const [[pid]] = await victim.rows('SELECT pg_backend_pid()')
    const killer = await connected()
    await killer.ok('query', { sql: 'SELECT pg_terminate_backend($1)', params: [pid] })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const response = await victim.request('query', { sql: 'SELECT 1', params: [] })
    assert.equal(response.error.kind, 'lost')
    await victim.ok('close')
    assert.equal(await victim.exited, 0)
  })
})
