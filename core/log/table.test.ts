import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatSummaryTable, formatTable } from './table.ts'

test('formatTable() pads every column but the last to its widest cell', () => {
  assert.deepEqual(
    formatTable([
      ['NODE', 'ROLE', 'DETAIL'],
      ['metal0', 'server', 'joined'],
      ['m1', 'agent', ''],
    ]),
    ['NODE    ROLE    DETAIL', 'metal0  server  joined', 'm1      agent'],
  )
})

test('formatSummaryTable() puts the title above the indented rows', () => {
  assert.deepEqual(formatSummaryTable('summary', ['A', 'B'], [['x', 'yy']]), ['summary', '  A  B', '  x  yy'])
})
