import assert from 'node:assert/strict'
import { test } from 'node:test'
import { both32Bytes, concat, suspEntry } from './_test-images.ts'
import { decodeRockRidge, parseSuspArea, type RockRidge, suspSkip } from './rockridge.ts'

const text = (s: string) => [...new TextEncoder().encode(s)]
/** An SL component record: flags, length, content. */
const component = (flags: number, content = '') => [flags, text(content).length, ...text(content)]

test('parseSuspArea() ends at ST, at zero padding and at a malformed entry, and returns the CE location', () => {
  const ce = suspEntry('CE', concat(both32Bytes(40), both32Bytes(12), both32Bytes(300)))
  const cases: { name: string; area: Uint8Array; signatures: string[]; continuation?: object }[] = [
    {
      name: 'ST ends',
      area: concat(suspEntry('PX', new Uint8Array(32)), suspEntry('ST', []), suspEntry('NM', [0])),
      signatures: ['PX'],
    },
    {
      name: 'zero padding ends',
      area: concat(suspEntry('NM', [0, 0x61]), new Uint8Array(3)),
      signatures: ['NM'],
    },
    {
      name: 'length < 4 ends',
      area: concat(suspEntry('NM', [0, 0x61]), Uint8Array.of(0x50, 0x58, 2, 1)),
      signatures: ['NM'],
    },
    {
      name: 'length past the area ends',
      area: concat(suspEntry('NM', [0, 0x61]), Uint8Array.of(0x50, 0x58, 40, 1)),
      signatures: ['NM'],
    },
    {
      name: 'CE is returned, not listed',
      area: concat(suspEntry('NM', [1, 0x61]), ce),
      signatures: ['NM'],
      continuation: { block: 40, offset: 12, length: 300 },
    },
    { name: 'empty', area: new Uint8Array(0), signatures: [] },
  ]
  for (const { name, area, signatures, continuation } of cases) {
    const parsed = parseSuspArea(area)
    assert.deepEqual(
      parsed.entries.map((e) => e.signature),
      signatures,
      name,
    )
    assert.deepEqual(parsed.continuation, continuation, name)
  }
})

test('suspSkip() accepts only a well-formed SP entry', () => {
  assert.equal(suspSkip(suspEntry('SP', [0xbe, 0xef, 0])), 0)
  assert.equal(suspSkip(suspEntry('SP', [0xbe, 0xef, 5])), 5)
  assert.equal(suspSkip(suspEntry('SP', [0xbe, 0xee, 0])), undefined)
  assert.equal(suspSkip(suspEntry('PX', [0xbe, 0xef, 0])), undefined)
  assert.equal(suspSkip(new Uint8Array(3)), undefined)
})

test('decodeRockRidge() assembles names, symlinks, modes and relocation marks', () => {
  const cases: { name: string; entries: Uint8Array[]; expected: Partial<RockRidge> }[] = [
    { name: 'NM', entries: [suspEntry('NM', [0, ...text('vmlinuz')])], expected: { name: 'vmlinuz' } },
    {
      name: 'NM with CONTINUE over two entries',
      entries: [suspEntry('NM', [1, ...text('initrd')]), suspEntry('NM', [0, ...text('.img')])],
      expected: { name: 'initrd.img' },
    },
    { name: 'NM CURRENT', entries: [suspEntry('NM', [2])], expected: { name: '.' } },
    { name: 'NM PARENT', entries: [suspEntry('NM', [4])], expected: { name: '..' } },
    { name: 'NM UTF-8', entries: [suspEntry('NM', [0, ...text('ünï ✓')])], expected: { name: 'ünï ✓' } },
    {
      name: 'SL relative',
      entries: [suspEntry('SL', [0, ...component(0, 'level1'), ...component(0, 'level2')])],
      expected: { symlink: 'level1/level2' },
    },
    {
      name: 'SL absolute (ROOT)',
      entries: [suspEntry('SL', [0, ...component(8), ...component(0, 'etc'), ...component(0, 'passwd')])],
      expected: { symlink: '/etc/passwd' },
    },
    {
      name: 'SL with . and ..',
      entries: [suspEntry('SL', [0, ...component(4), ...component(2), ...component(0, 'x')])],
      expected: { symlink: '.././x' },
    },
    {
      name: 'SL component CONTINUE across two SL entries',
      entries: [
        suspEntry('SL', [1, ...component(0, 'dir'), ...component(1, 'lo')]),
        suspEntry('SL', [0, ...component(0, 'ng'), ...component(0, 'end')]),
      ],
      expected: { symlink: 'dir/long/end' },
    },
    {
      name: 'PX mode (both-endian)',
      entries: [
        suspEntry('PX', concat(Uint8Array.of(0xed, 0x41, 0, 0, 0, 0, 0x41, 0xed), new Uint8Array(24))),
      ],
      expected: { mode: 0o40755 },
    },
    { name: 'CL', entries: [suspEntry('CL', both32Bytes(1234))], expected: { childLink: 1234 } },
    { name: 'RE', entries: [suspEntry('RE', [])], expected: { relocated: true } },
    {
      name: 'ZF',
      entries: [suspEntry('ZF', [0x70, 0x7a, 4, 15, 0, 0, 0, 0, 0, 0, 0, 0])],
      expected: { compressed: true },
    },
    {
      name: 'truncated fields are ignored',
      entries: [suspEntry('PX', [1, 2]), suspEntry('NM', [])],
      expected: {},
    },
  ]
  for (const { name, entries, expected } of cases) {
    const decoded = decodeRockRidge(parseSuspArea(concat(...entries)).entries)
    assert.deepEqual(decoded, { relocated: false, compressed: false, ...expected }, name)
  }
})
