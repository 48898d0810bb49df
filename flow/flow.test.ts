import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../core/config/load.ts'
import type { HomelabEvent } from '../core/log/events.ts'
import { FLOW, runFlow, STEP_NAMES, stepNames } from './flow.ts'
import { plan } from './plan.ts'

const root = join(fileURLToPath(import.meta.url), '..', '..')

test('plan() describes exactly the steps the flow runs, in the same order', async () => {
  const loaded = await loadConfig(join(root, 'homelab.yaml'))
  const events: HomelabEvent[] = []
  await plan(loaded, root, (e) => events.push(e))
  const layers = [...new Set(events.flatMap((e) => (e.type === 'plan.step' ? [e.layer] : [])))]
  assert.deepEqual(
    layers,
    FLOW.map((s) => s.name),
  )
  const ran: string[] = []
  assert.equal(await runFlow({ run: async (s) => ran.push(s.name) > 0 }), true)
  assert.deepEqual(ran, layers)
})

test('runFlow() stops at the first step that fails', async () => {
  const ran: string[] = []
  const events: HomelabEvent[] = []
  const ok = await runFlow({
    run: async (s) => {
      ran.push(s.name)
      return s.name !== 'cluster'
    },
    emit: (e) => events.push(e),
  })
  assert.equal(ok, false)
  assert.deepEqual(ran, ['metal', 'cluster'])
  assert.deepEqual(
    events.map((e) => (e.type === 'flow.step' ? `${e.step} ${e.status}` : e.type)),
    ['metal running', 'cluster running', 'cluster failed'],
  )
})

test('runFlow() skips the steps it is told to skip, and runs none once aborted', async () => {
  const ran: string[] = []
  await runFlow({ run: async (s) => ran.push(s.name) > 0, skip: ['cluster', 'bootstrap', 'external'] })
  assert.deepEqual(ran, ['metal'])
  const abort = new AbortController()
  abort.abort()
  assert.equal(await runFlow({ run: async (s) => ran.push(s.name) > 0, signal: abort.signal }), false)
  assert.deepEqual(ran, ['metal'])
})

test('stepNames() accepts the steps of the flow and names them in its error', () => {
  assert.deepEqual(stepNames(['cluster']), ['cluster'])
  assert.throws(() => stepNames(['lab']), {
    message: `"lab" is not a step of the flow: expected one of ${STEP_NAMES.join(', ')}`,
  })
})
