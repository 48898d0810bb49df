import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Config, Machine } from '../../core/config/schema.ts'
import type { MachineRecord } from '../provision/state.ts'
import { chooseNic, withInstalledNics } from './nic.ts'
import { renderK3sConfig, renderKubeVip } from './render.ts'

const m = {
  name: 'metal1',
  ip: '10.0.0.11',
  mac: '52:54:00:00:00:11',
  role: 'server',
  nic: 'eno1',
} as Machine
const record = (extra: Partial<MachineRecord>): MachineRecord => ({
  mac: m.mac,
  ip: m.ip,
  hostKey: 'ssh-ed25519 AAAA',
  installedAt: '2026-12-02T00:00:00.000Z',
  ...extra,
})

test('chooseNic(): the reported name wins over homelab.yaml, with a warning naming the field and the fix', () => {
  assert.deepEqual(chooseNic(m, 1, undefined), { nic: 'eno1' })
  assert.deepEqual(chooseNic(m, 1, record({})), { nic: 'eno1' })
  assert.deepEqual(chooseNic(m, 1, record({ nic: 'eno1' })), { nic: 'eno1' })
  assert.deepEqual(chooseNic(m, 1, record({ nic: 'enp1s0' })), {
    nic: 'enp1s0',
    warning:
      'homelab.yaml machines[1].nic is "eno1", but the installed system names the NIC with MAC 52:54:00:00:00:11 "enp1s0" (reported at install): using "enp1s0" for flannel and kube-vip; set nic: enp1s0 for metal1 in homelab.yaml to match',
  })
  // A MAC written another way is the same NIC.
  assert.equal(chooseNic(m, 1, record({ nic: 'enp1s0', mac: '52-54-00-00-00-11' })).nic, 'enp1s0')
})

test('chooseNic(): a record of another MAC, or an edited name that is no interface name, keeps homelab.yaml', () => {
  const other = chooseNic(m, 0, record({ nic: 'enp9s0', mac: '52:54:00:00:00:99' }))
  assert.equal(other.nic, 'eno1')
  assert.match(
    other.warning ?? '',
    /is for MAC 52:54:00:00:00:99, not 52:54:00:00:00:11: using homelab\.yaml machines\[0\]\.nic \("eno1"\); reinstall it \(homelab metal --reinstall metal1\)/,
  )
  const bad = chooseNic(m, 0, record({ nic: 'eth0; reboot' }))
  assert.equal(bad.nic, 'eno1')
  assert.match(bad.warning ?? '', /not an interface name: using homelab\.yaml machines\[0\]\.nic/)
})

test('withInstalledNics(): the rendered flannel-iface and kube-vip interface are the installed names', () => {
  const agent = {
    ...m,
    name: 'metal2',
    ip: '10.0.0.12',
    mac: '52:54:00:00:00:12',
    role: 'agent',
    nic: 'eth0',
  } as Machine
  const config = { machines: [m, agent] } as unknown as Config
  const { config: used, warnings } = withInstalledNics(config, { metal1: record({ nic: 'enp1s0' }) })
  assert.deepEqual(
    used.machines.map((x) => x.nic),
    ['enp1s0', 'eth0'],
  )
  assert.deepEqual([...warnings.keys()], ['metal1'])
  assert.equal(config.machines[0]?.nic, 'eno1', 'the loaded config is not changed')
  const [first] = used.machines
  assert.ok(first !== undefined)
  assert.match(
    renderK3sConfig({ machine: first, membership: { kind: 'init' }, endpoint: '10.0.0.10' }),
    /^flannel-iface: enp1s0$/m,
  )
  assert.match(renderKubeVip(first, '10.0.0.10'), /vip_interface[\s\S]*?value: "?enp1s0"?/)
})
