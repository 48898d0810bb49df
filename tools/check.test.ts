import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { countResults, isHeavy } from './check.ts'

const root = join(import.meta.dirname, '..')

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env } })
    let out = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out }))
  })
}

test('isHeavy() reads the @heavy tag from the leading comment only', () => {
  assert.equal(isHeavy('/**\n * QEMU.\n *\n * @heavy: QEMU\n */\nimport x'), true)
  assert.equal(isHeavy('/** light */\nconst s = "@heavy"'), false)
  assert.equal(isHeavy('import x from "y"\n/** @heavy */'), false)
  assert.equal(isHeavy('/** @heavyweight */'), false)
})

test('countResults() takes the spec reporter totals; a file that never reached them is one failure', () => {
  const done = 'ℹ tests 3\nℹ suites 0\nℹ pass 2\nℹ fail 1\nℹ cancelled 0\n'
  assert.deepEqual(countResults(done, 1), { passed: 2, failed: 1 })
  assert.deepEqual(countResults('ℹ pass 4\nℹ fail 0\nℹ cancelled 1\n', 1), { passed: 4, failed: 1 })
  // all tests passed but the process failed (a leak, a crash after the summary): still a failure
  assert.deepEqual(countResults('ℹ pass 4\nℹ fail 0\n', 70), { passed: 4, failed: 1 })
  assert.deepEqual(countResults('✔ a test\n', 70), { passed: 0, failed: 1 })
})

test('the test guard fails a file that leaves a server and a timer open, naming where each was made', async () => {
  const r = await run(
    ['--import', './tools/test-guard.ts', '--test-reporter=spec', 'tools/fixtures/leaky.ts'],
    {
      HOMELAB_LEAK_GRACE_MS: '200',
    },
  )
  assert.equal(r.code, 70, r.out)
  assert.match(r.out, /leak: tools\/fixtures\/leaky\.ts left 2 handle\(s\) open/)
  assert.match(r.out, /TCPSERVERWRAP made at tools\/fixtures\/leaky\.ts:7:\d+/)
  assert.match(r.out, /Timeout made at tools\/fixtures\/leaky\.ts:8:\d+/)
})

test('the test guard still lets the reporter print the details of a failing test in a file that also leaks', async () => {
  const r = await run(
    ['--import', './tools/test-guard.ts', '--test-reporter=spec', 'tools/fixtures/leaky-failing.ts'],
    { HOMELAB_LEAK_GRACE_MS: '200' },
  )
  assert.notEqual(r.code, 0, r.out)
  assert.match(r.out, /leak: tools\/fixtures\/leaky-failing\.ts left 1 handle\(s\) open/)
  assert.match(r.out, /ℹ fail 1/)
  assert.match(r.out, /the failure details must still be printed/)
})

test('the test guard lets a file that closes everything exit by itself, at once', async () => {
  // A grace far beyond the test timeout: if the guard held the process, this test would time out.
  const r = await run(
    ['--import', './tools/test-guard.ts', '--test-reporter=spec', 'tools/fixtures/tidy.ts'],
    { HOMELAB_LEAK_GRACE_MS: '3600000' },
  )
  assert.equal(r.code, 0, r.out)
  assert.match(r.out, /ℹ pass 1/)
})
