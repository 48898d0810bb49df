/**
 * A hostile LAN peer's bytes on the operator's terminal: a real HTTP service (metal/pxe) emits its
 * events into the real output (TTY and --json), and the escape sequences arrive escaped.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import type { BootEvent } from '../../metal/pxe/events.ts'
import { GeneratedSource } from '../../metal/pxe/files.ts'
import { serveHttp } from '../../metal/pxe/http.ts'
import { directoryFromConfig } from '../../metal/pxe/machine-directory.ts'
import { ProgressBoard } from '../../metal/pxe/progress.ts'
import { type CliEvent, createOutput, waiting } from './output.ts'

/** The URLs from issue 17: clear screen + green text, a window title (OSC), a bidi override. */
const HOSTILE = ['/%1b%5b2J%1b%5b32mALL%20GOOD%1b%5b0m', '/%1b%5d0%3bpwned%07', '/a%e2%80%aefdp.exe']

function capture(tty: boolean) {
  const out = Object.assign(new PassThrough(), { isTTY: tty, columns: 200 })
  let text = ''
  out.on('data', (c: Buffer) => {
    text += c.toString()
  })
  return { out, text: () => text }
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
      .on('error', reject)
      .end()
  })
}

/** The live board's own sequences (cursor up N lines, erase line, erase below): the only ESCs allowed. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the board's own sequences
const OWN = /\x1b\[(\d+F|2K|J)/g

async function hostileRequests(emit: (e: CliEvent) => void): Promise<BootEvent[]> {
  const seen: BootEvent[] = []
  const machines = directoryFromConfig({
    machines: [{ name: 'metal0', mac: '52:54:00:00:00:01', ip: '127.0.0.1' }] as never,
  })
  const board = new ProgressBoard(['metal0'], () => 1000)
  const http = await serveHttp({
    host: '127.0.0.1',
    port: 0,
    files: new GeneratedSource(),
    machines,
    events: (event) => {
      seen.push(event)
      emit(event as CliEvent)
      const state = board.apply(event)
      if (state !== undefined) emit({ type: 'machine.progress', state } as CliEvent)
    },
  })
  try {
    for (const path of HOSTILE) assert.equal(await get(http.port, path), 404)
  } finally {
    await http.close()
  }
  return seen
}

test('createOutput() on a TTY shows escape sequences from a URL escaped, in the warning line and the live board', async () => {
  const sink = capture(true)
  const output = createOutput({ json: false, out: sink.out, err: sink.out, now: () => 1000 })
  output.board([waiting('metal0')], 1000)
  const seen = await hostileRequests((e) => output.emit(e))
  output.stop()
  // The server did pass the decoded bytes on: the output is what must escape them.
  assert.ok(seen.some((e) => e.type === 'pxe.warning' && e.message.includes('\x1b[2J')))
  const text = sink.text()
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the check is that none are left
  assert.doesNotMatch(text.replace(OWN, ''), /\x1b|\x07|\u202e/)
  assert.match(text, /warning: http: Cannot serve file: "\\x1b\[2J\\x1b\[32mALL GOOD\\x1b\[0m" asked by/)
  assert.match(text, /metal0 +installer +0\.0s +HTTP GET \/\\x1b\[2J\\x1b\[32mALL GOOD\\x1b\[0m 404/)
  assert.match(text, /\\x1b\]0;pwned\\x07/)
  assert.match(text, /a\\u202efdp\.exe/)
})

test('createOutput() with --json keeps the bytes JSON-escaped, none raw', async () => {
  const sink = capture(true)
  const output = createOutput({ json: true, out: sink.out, err: sink.out })
  await hostileRequests((e) => output.emit(e))
  const text = sink.text()
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the check is that none are left
  assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/)
  const warnings = text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as BootEvent)
    .filter((e) => e.type === 'pxe.warning')
  assert.ok(warnings.some((e) => e.message.includes('"\x1b[2J\x1b[32mALL GOOD\x1b[0m"')))
})

test('createOutput() shows a /report detail with newlines on one line', () => {
  const sink = capture(false)
  const output = createOutput({ json: false, out: sink.out, err: sink.out })
  output.emit({
    type: 'pxe.warning',
    service: 'http',
    message: 'detail\nmetal1  installed  ✓ FAKE',
  } as CliEvent)
  assert.equal(sink.text(), 'warning: http: detail\\nmetal1  installed  ✓ FAKE\n')
})
