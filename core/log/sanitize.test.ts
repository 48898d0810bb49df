import assert from 'node:assert/strict'
import { test } from 'node:test'
import { jsonLine, MAX_SHOWN_CHARS, sanitizeEvent, terminalText } from './sanitize.ts'

test('terminalText() escapes CSI, OSC, newlines, C1 and bidi overrides visibly', () => {
  assert.equal(terminalText('/\x1b[2J\x1b[32mALL GOOD\x1b[0m'), '/\\x1b[2J\\x1b[32mALL GOOD\\x1b[0m')
  assert.equal(terminalText('\x1b]0;pwned\x07'), '\\x1b]0;pwned\\x07')
  assert.equal(terminalText('ok\nFAKE LINE\r'), 'ok\\nFAKE LINE\\r')
  assert.equal(terminalText('\u009b2J \u202egnp.exe \x7f'), '\\x9b2J \\u202egnp.exe \\x7f')
  assert.equal(terminalText('line one\nline two', 100, true), 'line one\nline two')
  assert.equal(terminalText('plain ✓ text'), 'plain ✓ text')
})

test('terminalText() caps a long string at MAX_SHOWN_CHARS, marked with …', () => {
  const shown = terminalText('a'.repeat(70_000))
  assert.equal(shown.length, MAX_SHOWN_CHARS)
  assert.ok(shown.endsWith('a…'))
  assert.equal(terminalText('\x1b'.repeat(10), 8), '\\x1b\\x1…')
})

test('sanitizeEvent() escapes every nested string; error events keep their line breaks', () => {
  const event = sanitizeEvent({
    type: 'machine.progress',
    state: { machine: 'metal0', lastSeen: 'HTTP GET /\x1b[2J 404', tail: ['a\nb'] },
  })
  assert.deepEqual(event, {
    type: 'machine.progress',
    state: { machine: 'metal0', lastSeen: 'HTTP GET /\\x1b[2J 404', tail: ['a\\nb'] },
  })
  assert.equal(sanitizeEvent({ type: 'error', message: 'a\nb\x1b' }).message, 'a\nb\\x1b')
})

test('jsonLine() is JSON that round-trips, with no raw control or bidi character', () => {
  const event = { type: 'pxe.warning', message: '\x1b[2J\u009b\u202e\n' }
  const line = jsonLine(event)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the check is that none are left
  assert.doesNotMatch(line.trimEnd(), /[\u0000-\u001f\u007f-\u009f\u202e]/)
  assert.deepEqual(JSON.parse(line), event)
})
