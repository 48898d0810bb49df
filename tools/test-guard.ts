/**
 * Preloaded into every test file by tools/check.ts (`--import`): after the file's last test and
 * `after` hooks, nothing it made may still be open. A socket, server, timer, child process or
 * watcher that would keep the process alive fails the file, named with the line that made it:
 *
 *   leak: metal/pxe/tftp.test.ts left 1 handle open after its last test:
 *     UDPWRAP made at metal/pxe/tftp.ts:212:18
 *
 * There is no forced exit that could hide such a leak: a file whose handles close by themselves
 * exits on its own; one that is still held open after LEAK_GRACE_MS is reported and ended.
 */
import { createHook } from 'node:async_hooks'
import { relative } from 'node:path'
import { after } from 'node:test'

/** Time for handles already closing (a killed child's exit, a socket's close) to finish. */
const LEAK_GRACE_MS = Number(process.env.HOMELAB_LEAK_GRACE_MS ?? 10_000)
const root = new URL('..', import.meta.url).pathname
/** Resource kinds that keep a process alive (async_hooks names). */
const HANDLES = new Set([
  'TCPWRAP',
  'TCPSERVERWRAP',
  'UDPWRAP',
  'PIPEWRAP',
  'PIPESERVERWRAP',
  'PROCESSWRAP',
  'Timeout',
  'FSEVENTWRAP',
  'STATWATCHER',
  'SIGNALWRAP',
  'TTYWRAP',
])
/** Short-lived requests that never make a handle in their callback: not worth a stack each (a
 * UDP server sends tens of thousands of SENDWRAPs in one test). */
const SKIP = new Set([
  'PROMISE',
  'SENDWRAP',
  'WRITEWRAP',
  'SHUTDOWNWRAP',
  'ZLIB',
  'HTTPINCOMINGMESSAGE',
  'HTTPCLIENTREQUEST',
])

const UNKNOWN = 'an unknown place (node internals)'

const live = new Map<number, { type: string; where: string; resource: object }>()
/** Every other live resource's stack, captured unformatted (cheap): a handle made inside a callback
 * (a listen after a lookup, a socket after a tick) is named by the resource that ran the callback. */
const pending = new Map<number, { stack?: string }>()

function capture(): { stack?: string } {
  const holder: { stack?: string } = {}
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 40
  Error.captureStackTrace(holder, capture)
  Error.stackTraceLimit = limit
  return holder
}

/** The first stack frame in the project's own code (not node:, node_modules or this file). */
function maker(holder: { stack?: string } | undefined): string {
  for (const line of holder?.stack?.split('\n').slice(1) ?? []) {
    const m = /\(?(?:file:\/\/)?(\/[^():]+):(\d+):(\d+)\)?$/.exec(line.trim())
    if (m === null) continue
    const [, file = '', row, col] = m
    if (!file.startsWith(root) || file.includes('/node_modules/') || file.endsWith('/tools/test-guard.ts'))
      continue
    return `${relative(root, file)}:${row}:${col}`
  }
  return UNKNOWN
}

createHook({
  init(asyncId, type, trigger, resource) {
    if (SKIP.has(type)) return
    if (!HANDLES.has(type)) {
      pending.set(asyncId, capture())
      return
    }
    let where = maker(capture())
    if (where === UNKNOWN) where = maker(pending.get(trigger))
    live.set(asyncId, { type, where, resource })
  },
  destroy(asyncId) {
    live.delete(asyncId)
    pending.delete(asyncId)
  },
}).enable()

/** Still holding the event loop: ref'd timers and handles that are not closed. */
function holding(): { type: string; where: string; resource: object }[] {
  const open: { type: string; where: string; resource: object }[] = []
  for (const entry of live.values()) {
    const r = entry.resource as { hasRef?: () => boolean; _destroyed?: boolean }
    if (typeof r.hasRef === 'function' && !r.hasRef()) continue
    if (entry.type === 'Timeout' && (r as { _destroyed?: boolean })._destroyed === true) continue
    open.push(entry)
  }
  return open
}

after(() => {
  const file = relative(root, process.argv[1] ?? 'the test file')
  const timer = setTimeout(() => {
    const open = holding()
    const lines = open.map((h) => `  ${h.type} made at ${h.where}`)
    process.stderr.write(
      `leak: ${file} left ${open.length} handle(s) open ${LEAK_GRACE_MS} ms after its last test:\n${lines.join('\n')}\n` +
        `  (still active: ${process.getActiveResourcesInfo().join(', ')})\n`,
    )
    // Fail the file, but let it end by itself so the reporter still prints each failure's
    // details: the leaked handles stop holding the process. Whatever cannot be let go ends it.
    process.exitCode = 70
    for (const h of open) (h.resource as { unref?: () => void }).unref?.()
    setTimeout(() => process.exit(70), 2000).unref()
  }, LEAK_GRACE_MS)
  timer.unref()
})

// Under tools/check.ts a first Ctrl-C or SIGTERM must not kill a test half-way: its `finally` and
// `after` hooks would never remove the namespaces and processes it made. The file runs to its end
// (check.ts starts nothing new); a second signal ends it at once.
let signalled = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (signalled) process.exit(130)
    signalled = true
  })
}
