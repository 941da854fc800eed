// The driver host transcripts every host replays (tests/fixtures/driver-host/README.md),
// each conversation run through this host and the reference PostgreSQL. helios-matrix
// replays the same files (that it writes those requests and reads those answers), and so
// does the Python host.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import readline from 'node:readline'
import { describe, test } from 'node:test'
import { HOST, REFERENCE_TARGET, TARGET, skipPg } from './reference.mjs'

const TRANSCRIPTS = new URL('../../../tests/fixtures/driver-host/', import.meta.url)
// node-postgres binds `$1` parameters; a transcript without any suits every host.
const STYLES = [null, '$n']
const ANY = '<any>'
const NUMBER = '\u0000number'

/**
 * A line parsed with each number kept as its text (`{[NUMBER]: "1.0"}`): JSON.parse would
 * round integers past 2^53 and read 1.0 as 1, and the transcripts tell integers from floats.
 */
function parseExact(line) {
  const wrapped = line.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (token) =>
    token.startsWith('"') ? token : `{${JSON.stringify(NUMBER)}:"${token}"}`,
  )
  return JSON.parse(wrapped)
}

const isNumber = (value) => value !== null && typeof value === 'object' && NUMBER in value
const isInteger = (text) => /^-?\d+$/.test(text)

/** How `actual` differs from `expected`: equal JSON, an integer never a float, "<any>" anything. */
function* mismatches(expected, actual, where) {
  if (expected === ANY) return
  if (isNumber(expected)) {
    const same =
      isNumber(actual) &&
      isInteger(expected[NUMBER]) === isInteger(actual[NUMBER]) &&
      (isInteger(expected[NUMBER])
        ? BigInt(expected[NUMBER]) === BigInt(actual[NUMBER])
        : Number(expected[NUMBER]) === Number(actual[NUMBER]))
    if (!same) yield `${where}: expected ${show(expected)}, got ${show(actual)}`
  } else if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) {
      yield `${where}: expected ${show(expected)}, got ${show(actual)}`
      return
    }
    for (let i = 0; i < expected.length; i++) yield* mismatches(expected[i], actual[i], `${where}[${i}]`)
  } else if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual) || isNumber(actual)) {
      yield `${where}: expected an object, got ${show(actual)}`
      return
    }
    for (const [key, value] of Object.entries(expected)) {
      if (!(key in actual)) {
        // An error's optional fields may be left out where null is expected.
        if (!(where.endsWith('.error') && (value === null || value === ANY))) yield `${where}.${key}: missing`
        continue
      }
      yield* mismatches(value, actual[key], `${where}.${key}`)
    }
    for (const key of Object.keys(actual)) {
      if (!(key in expected)) yield `${where}.${key}: not expected, got ${show(actual[key])}`
    }
  } else if (expected !== actual) {
    yield `${where}: expected ${show(expected)}, got ${show(actual)}`
  }
}

/** The keys the expected hello has; its capabilities (those the transcript needs) the host's must include. */
function* helloMismatches(expected, actual) {
  for (const [key, value] of Object.entries(expected)) {
    if (key === 'capabilities') {
      const missing = value.filter((name) => !(actual.capabilities ?? []).includes(name))
      if (missing.length > 0) yield `hello.capabilities: ${missing} missing from ${show(actual.capabilities)}`
    } else {
      yield* mismatches(value, actual[key], `hello.${key}`)
    }
  }
}

function show(value) {
  return JSON.stringify(value, (_, v) => (isNumber(v) ? `${v[NUMBER]}` : v))
}

/** A host process whose output is read line by line, in order. */
class Replayed {
  constructor() {
    this.child = spawn(process.execPath, [HOST], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.stderr = ''
    this.child.stderr.on('data', (chunk) => (this.stderr += chunk))
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)))
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]()
  }

  async next() {
    const { value, done } = await this.lines.next()
    assert.ok(!done, `the host ended its output early\n${this.stderr}`)
    return value
  }
}

const transcripts = readdirSync(TRANSCRIPTS).filter((name) => name.endsWith('.jsonl')).sort()

describe('transcripts', { skip: skipPg }, () => {
  test('there are transcripts to replay', () => assert.ok(transcripts.length > 0))

  for (const name of transcripts) {
    const lines = readFileSync(new URL(name, TRANSCRIPTS), 'utf8').split('\n').filter((line) => line !== '')
    const { placeholder } = JSON.parse(lines[0])
    const skip = STYLES.includes(placeholder) ? false : `its SQL binds ${placeholder} parameters`
    test(name, { skip }, async () => {
      const host = new Replayed()
      try {
        const problems = [...helloMismatches(parseExact(lines[1]), parseExact(await host.next()))]
        assert.deepEqual(problems, [], `${name}:2`)
        for (let number = 3; number <= lines.length; number++) {
          const line = lines[number - 1]
          const expected = parseExact(line)
          if ('op' in expected) {
            // The reference server where this run finds it; the line is otherwise sent as
            // it is: it is what helios-matrix writes.
            host.child.stdin.write(line.replace(REFERENCE_TARGET, TARGET) + '\n')
            continue
          }
          const answer = await host.next()
          assert.deepEqual([...mismatches(expected, parseExact(answer), 'response')], [], `${name}:${number}: host wrote ${answer}`)
        }
        // The last request was `close`: the host exits.
        assert.equal(await host.exited, 0, host.stderr)
      } finally {
        host.child.kill()
      }
    })
  }
})
