import assert from 'node:assert/strict'
import { test } from 'node:test'
import { GeneratedSource } from './files.ts'
import { machineOnly, machineOnlyDecision } from './machine-only.ts'

test('machineOnlyDecision() serves the machine, refuses others, and an unknown address only once the address is known', () => {
  assert.deepEqual(machineOnlyDecision('metal1', { ip: '10.0.0.11', machine: 'metal1' }, true), {
    serve: true,
  })
  assert.deepEqual(machineOnlyDecision('metal1', { ip: '10.0.0.12', machine: 'metal2' }, false), {
    serve: false,
    why: '10.0.0.12 is the address of metal2',
  })
  assert.deepEqual(machineOnlyDecision('metal1', { ip: '10.0.0.99' }, true), {
    serve: false,
    why: "10.0.0.99 is not metal1's address",
  })
  assert.deepEqual(machineOnlyDecision('metal1', { ip: '10.0.0.99' }, false), { serve: true })
})

test('machineOnly() in a GeneratedSource: the kickstart for its machine, not found with a warning for others', async () => {
  const warnings: string[] = []
  const source = new GeneratedSource().set(
    'ks/52-54-00-00-00-11.ks',
    machineOnly('metal1', 'ks/52-54-00-00-00-11.ks', () => 'rootpw --lock\n', {
      addressKnown: () => true,
      warn: (m) => warnings.push(m),
    }),
  )
  const mine = await source.open('ks/52-54-00-00-00-11.ks', { ip: '10.0.0.11', machine: 'metal1' })
  assert.equal(mine?.size, 'rootpw --lock\n'.length)
  assert.equal(await source.open('ks/52-54-00-00-00-11.ks', { ip: '10.0.0.66' }), undefined)
  assert.deepEqual(warnings, [
    "Refused ks/52-54-00-00-00-11.ks, the kickstart of metal1, to 10.0.0.66: 10.0.0.66 is not metal1's address (a kickstart is served only to its machine)",
  ])
})
