// The reference PostgreSQL the tests run against (scripts/services.sh up), and whether it
// listens: the tests that need it are skipped, saying why, only when nothing does.

import net from 'node:net'
import { fileURLToPath } from 'node:url'

/** The host under test. */
export const HOST = fileURLToPath(new URL('../host.mjs', import.meta.url))

/** The registry's PostgreSQL target (specs/matrix.yaml), unless HELIOS_PG_TARGET says another. */
export const REFERENCE_TARGET = 'postgres://test:test@127.0.0.1:5432/helios?sslmode=require'
export const TARGET = process.env.HELIOS_PG_TARGET ?? REFERENCE_TARGET

function portOpen(port, hostname) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: hostname, timeout: 1000 })
    socket.on('connect', () => resolve(socket.end() && true))
    socket.on('error', () => resolve(false))
    socket.on('timeout', () => resolve(socket.destroy() && false))
  })
}

const { hostname, port } = new URL(TARGET)
const pgUp = await portOpen(Number(port || 5432), hostname)

/** `false`, or why the PostgreSQL tests are skipped. */
export const skipPg = pgUp ? false : `PostgreSQL is not listening on ${hostname}:${port || 5432} (scripts/services.sh up starts it)`
