/**
 * A multi-homed controller: eth0 on segment A (10.99.0.0/24, which holds the default
 * route) and eth1 on segment B (10.98.0.0/24). The DHCP service serves eth1 only. Its
 * broadcast replies must leave through eth1 and never appear on segment A, although a
 * broadcast from an unbound socket would follow the default route out of eth0.
 *
 * "Never appear" is closed by a marker: afterwards the controller sends such an unbound broadcast,
 * which does reach segment A; whatever left eth0 before it reached segment A before it.
 */
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { TestNet, waitFor } from '../../tools/netns.ts'

const root = join(import.meta.dirname, '../..')
const node24 = join(root, 'tools/node24')
const MAC = '02:00:00:00:cc:01'
/** Deadline for waits: only a hang reaches it. */
const HANG_MS = 120_000
/** The marker's source port, so it cannot be mistaken for a DHCP reply. */
const MARKER_PORT = 6868

test('serveDhcp() on a multi-homed controller: replies leave through the configured interface only', async () => {
  const a = await TestNet.create('mha')
  const b = await TestNet.create('mhb')
  const dir = mkdtempSync(join(tmpdir(), 'hl-dhcp-mh-'))
  try {
    const ctl = await a.host('ctl', '10.99.0.2/24')
    await b.addInterface(ctl, 'eth1', '10.98.0.2/24')
    await ctl.run(['ip', 'route', 'add', 'default', 'via', '10.99.0.1', 'dev', 'eth0'])
    // The same MAC on both segments: only the one on B may get an answer.
    const clientB = await b.host('client', '', { mac: MAC })
    const watcherA = await a.host('watch', '', { mac: MAC })
    const dumpA = watcherA.spawn(['tcpdump', '-i', 'eth0', '-n', '-l', 'udp port 68'])
    await waitFor(
      'tcpdump on segment A',
      () => (/listening on/.test(dumpA.output()) ? true : undefined),
      HANG_MS,
    )

    const server = ctl.spawn([
      node24,
      join(root, 'tools/pxe/dhcp-run.ts'),
      '--config',
      JSON.stringify({
        interface: 'eth1',
        serverAddress: '10.98.0.2',
        mode: 'full',
        subnetMask: '255.255.255.0',
        machines: [{ name: 'nodeb', mac: MAC, ip: '10.98.0.50' }],
      }),
    ])
    await waitFor(
      'the DHCP server',
      () => (/pxe\.listening/.test(server.output()) ? true : undefined),
      HANG_MS,
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${server.output()}`)
    })

    const script = join(dir, 'udhcpc.sh')
    writeFileSync(script, '#!/bin/sh\necho "UDHCPC $1 ip=$ip serverid=$serverid"\n')
    chmodSync(script, 0o755)
    const out = await clientB.run([
      'busybox',
      'udhcpc',
      '-i',
      'eth0',
      '-f',
      '-q',
      '-n',
      // Up to 10 DISCOVERs 3 s apart: only a server that does not answer makes it wait.
      '-t',
      '10',
      '-T',
      '3',
      '-s',
      script,
    ])
    assert.match(out, /UDHCPC bound ip=10\.98\.0\.50 serverid=10\.98\.0\.2/)

    // The marker: an unbound socket's broadcast does reach segment A (the watcher works and the
    // default route points there). Once the watcher shows it, it has shown all that came before.
    await ctl.run([
      node24,
      '-e',
      `const s=require('node:dgram').createSocket('udp4');s.bind(${MARKER_PORT},()=>{s.setBroadcast(true);s.send(Buffer.alloc(300),68,'255.255.255.255',(e)=>{if(e)throw e;s.close()})})`,
    ])
    const isMarker = (l: string): boolean => l.includes(`.${MARKER_PORT} > 255.255.255.255.68:`)
    const lines = await waitFor(
      'the marker broadcast on segment A',
      () => {
        const all = dumpA.output().split('\n')
        return all.some(isMarker) ? all : undefined
      },
      HANG_MS,
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${dumpA.output()}`)
    })
    const before = lines.slice(0, lines.findIndex(isMarker)).join('\n')
    assert.doesNotMatch(before, /BOOTP\/DHCP/, 'segment A saw a DHCP reply')
  } finally {
    await a.destroy()
    await b.destroy()
    rmSync(dir, { recursive: true, force: true })
  }
})
