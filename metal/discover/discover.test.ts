import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { test } from 'node:test'
import { readDraft } from '../../core/config/draft.ts'
import { clientRequest, DhcpOption, encodeDhcp, optString, optUint8 } from '../../lib/dhcp4/index.ts'
import { type DiscoverEvent, type DiscoveredMachine, discover, proposeMachines } from './discover.ts'

const DRAFT = readDraft(`
network: { interface: eth0, subnet: 10.99.0.0/24, gateway: 10.99.0.1, controller: 10.99.0.2 }
cluster: { endpoint: 10.99.0.11 }
machines:
  - { name: metal0, mac: 00:1a:11:00:00:20, ip: 10.99.0.10, role: server }
`)

function pxeDiscover(mac: string, arch: number): Uint8Array {
  return encodeDhcp(
    clientRequest({
      mac,
      xid: 7,
      options: [
        [DhcpOption.MessageType, optUint8(1)],
        [DhcpOption.VendorClassIdentifier, optString(`PXEClient:Arch:0000${arch}:UNDI:003016`)],
        [DhcpOption.ClientSystemArchitecture, Uint8Array.of(0, arch)],
      ],
    }),
  )
}

/** Runs discover() on loopback, sends `packets` once it listens, and stops when `done` says so. */
async function listenTo(
  packets: Uint8Array[],
  done: (events: DiscoverEvent[]) => boolean,
  maxMachines?: number,
): Promise<{ found: DiscoveredMachine[]; events: DiscoverEvent[] }> {
  const stop = new AbortController()
  const events: DiscoverEvent[] = []
  const port = 20000 + (process.pid % 20000)
  const sender = createSocket('udp4')
  const found = await discover({
    interface: 'lo',
    draft: DRAFT,
    signal: stop.signal,
    port,
    address: '127.0.0.1',
    ...(maxMachines === undefined ? {} : { maxMachines }),
    emit: (e) => {
      events.push(e)
      if (e.type === 'discover.listening') for (const p of packets) sender.send(p, port, '127.0.0.1')
      if (done(events)) stop.abort()
    },
  })
  sender.close()
  return { found, events }
}

test('discover() reports each machine once per request, with what it said and whether the config has it', async () => {
  const { found } = await listenTo(
    [
      pxeDiscover('00:1a:11:00:00:21', 7),
      pxeDiscover('00:1a:11:00:00:20', 0),
      pxeDiscover('00:1a:11:00:00:21', 7),
    ],
    (events) => events.filter((e) => e.type === 'discover.machine').length === 3,
  )
  assert.deepEqual(found, [
    {
      type: 'discover.machine',
      mac: '00:1a:11:00:00:21',
      vendor: 'Google, Inc.',
      firmwareLabel: 'UEFI',
      firmware: 'uefi',
      netboot: true,
      requests: 2,
    },
    {
      type: 'discover.machine',
      mac: '00:1a:11:00:00:20',
      vendor: 'Google, Inc.',
      firmwareLabel: 'BIOS',
      firmware: 'bios',
      netboot: true,
      known: 'metal0',
      requests: 1,
    },
  ])
  assert.deepEqual(proposeMachines(DRAFT, found), [
    {
      name: 'metal1',
      mac: '00:1a:11:00:00:21',
      ip: '10.99.0.12',
      role: 'server',
      disk: 'sda',
      nic: 'eno1',
      comment: 'Google, Inc., UEFI: found by homelab discover; check disk and nic',
    },
  ])
})

test('discover() remembers at most maxMachines MACs: a flood of made-up ones stays bounded', async () => {
  const macs = Array.from({ length: 6 }, (_, i) => `02:00:00:00:01:0${i}`)
  // The last packet repeats the first MAC: once it is counted, every packet before it was handled.
  const { found } = await listenTo(
    [...macs.map((m) => pxeDiscover(m, 7)), pxeDiscover(macs[0] as string, 7)],
    (events) => events.some((e) => e.type === 'discover.machine' && e.requests === 2),
    3,
  )
  assert.deepEqual(
    found.map((m) => m.mac),
    macs.slice(0, 3),
  )
})

test('proposeMachines() makes agents once three servers exist, and honours --role', () => {
  const many = Array.from(
    { length: 3 },
    (_, i): DiscoveredMachine => ({
      type: 'discover.machine',
      mac: `02:00:00:00:02:0${i}`,
      vendor: 'locally administered',
      firmwareLabel: 'BIOS',
      firmware: 'bios',
      netboot: true,
      requests: 1,
    }),
  )
  assert.deepEqual(
    proposeMachines(DRAFT, many).map((m) => [m.name, m.ip, m.role, m.firmware]),
    [
      ['metal1', '10.99.0.12', 'server', 'bios'],
      ['metal2', '10.99.0.13', 'server', 'bios'],
      ['metal3', '10.99.0.14', 'agent', 'bios'],
    ],
  )
  assert.deepEqual(
    proposeMachines(DRAFT, many, { role: 'agent' }).map((m) => m.role),
    ['agent', 'agent', 'agent'],
  )
})
