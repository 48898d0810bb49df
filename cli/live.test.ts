import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import { ProgressBoard } from '../metal/pxe/progress.ts'
import { createLiveLines } from './live.ts'

function capture(tty: boolean) {
  const out = Object.assign(new PassThrough(), { isTTY: tty, columns: 100 })
  let text = ''
  out.on('data', (c: Buffer) => {
    text += c.toString()
  })
  return { out, text: () => text }
}

test('createLiveLines() prints one plain line per change when the output is not a terminal', () => {
  let now = 10_000
  const board = new ProgressBoard(['metal0', 'metal1'], () => now)
  const sink = capture(false)
  const live = createLiveLines(sink.out, board.all(), 10_000)
  now = 12_500
  const state = board.apply({ type: 'install.report', machine: 'metal1', stage: 'installing' })
  assert.ok(state)
  live.update(state)
  live.note('dhcp listening on 10.0.0.2:67')
  assert.equal(
    sink.text(),
    'metal1    installer      2.5s  installer: installing\ndhcp listening on 10.0.0.2:67\n',
  )
})

test('createLiveLines() redraws every machine in place on a terminal', () => {
  const board = new ProgressBoard(['metal0', 'metal1'])
  const sink = capture(true)
  const live = createLiveLines(sink.out, board.all())
  const state = board.apply({ type: 'install.report', machine: 'metal0', stage: 'installed' })
  assert.ok(state)
  live.update(state)
  const frames = sink.text().split('\x1b[2F')
  assert.equal(frames.length, 2, 'the second frame moves the cursor up over the two machine lines')
  const lines = (frames[1] ?? '').split('\n')
  const clear = '\u001b[2K'
  assert.ok(
    lines[0]?.startsWith(`${clear}metal0`) &&
      lines[0].includes('installed') &&
      lines[0].endsWith('installer: installed'),
  )
  assert.ok(
    lines[1]?.startsWith(`${clear}metal1`) &&
      lines[1].includes('waiting') &&
      lines[1].endsWith('nothing yet'),
  )
  assert.equal(lines[2], '')
})
