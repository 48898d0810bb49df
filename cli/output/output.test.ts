import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { test } from 'node:test'
import type { CliEvent } from './output.ts'
import { createOutput, render, waiting } from './output.ts'

function capture(tty = false) {
  const out = Object.assign(new PassThrough(), { isTTY: tty, columns: 100 })
  let text = ''
  out.on('data', (c: Buffer) => {
    text += c.toString()
  })
  return { out, text: () => text }
}

const EVENTS: readonly CliEvent[] = [
  { type: 'machine.target', machine: 'metal0', reason: 'not installed yet' },
  { type: 'pxe.warning', service: 'dhcp', message: 'no reply' },
  { type: 'node.step', node: 'metal0', step: 'k3s', status: 'running' },
  { type: 'node.ready', node: 'metal0' },
  {
    type: 'cluster.summary',
    nodes: [{ node: 'metal0', role: 'server', result: 'changed', detail: 'joined' }],
  },
] as unknown as CliEvent[]

test('render() turns each event kind into lines, notes, live rows or a summary', () => {
  assert.deepEqual(render(EVENTS[0] as CliEvent), [
    { to: 'line', text: 'metal0: to install: not installed yet' },
  ])
  assert.deepEqual(render(EVENTS[1] as CliEvent), [{ to: 'note', text: 'warning: dhcp: no reply' }])
  assert.deepEqual(render(EVENTS[2] as CliEvent), [{ to: 'row', row: 'metal0', stage: 'k3s', detail: '...' }])
  assert.deepEqual(render({ type: 'dhcp.ignored', mac: 'aa', reason: 'not ours' } as unknown as CliEvent), [
    { to: 'note', text: 'ignored aa: not ours', verbose: true },
  ])
  assert.deepEqual(render(EVENTS[4] as CliEvent), [
    {
      to: 'summary',
      lines: ['summary', '  NODE    ROLE    RESULT   DETAIL', '  metal0  server  changed  joined'],
    },
  ])
})

test('render() leaves the config and plan kinds to core/log/reporter.ts', () => {
  assert.equal(render({ type: 'done', ok: true, command: 'x' }), undefined)
})

test('createOutput() writes plain lines, then the summary after an empty line, when not on a TTY', () => {
  const sink = capture()
  let now = 1000
  const output = createOutput({ json: false, out: sink.out, err: sink.out, now: () => now })
  output.board([waiting('metal0')], 1000)
  output.text('preflight')
  for (const event of EVENTS) {
    now += 500
    output.emit(event)
  }
  output.emit({ type: 'dhcp.ignored', mac: 'aa', reason: 'not ours' } as unknown as CliEvent)
  assert.equal(
    sink.text(),
    [
      'preflight',
      'metal0: to install: not installed yet',
      'warning: dhcp: no reply',
      'metal0    k3s            1.5s  ...',
      'metal0    Ready          2.0s  the API reports it Ready',
      '',
      'summary',
      '  NODE    ROLE    RESULT   DETAIL',
      '  metal0  server  changed  joined',
      '',
    ].join('\n'),
  )
})

test('createOutput() with --json writes one JSON object per event and no text', () => {
  const sink = capture()
  const output = createOutput({ json: true, out: sink.out, err: sink.out })
  output.text('preflight')
  for (const event of EVENTS) output.emit(event)
  output.show(EVENTS[0] as CliEvent)
  const lines = sink.text().trimEnd().split('\n')
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { type: string }).type),
    EVENTS.map((e) => e.type),
  )
})

test('render() shows a doctor check with its fix, and metal and bootstrap summaries', () => {
  assert.deepEqual(
    render({
      type: 'doctor.check',
      check: 'ports',
      status: 'fail',
      detail: '67 in use',
      fix: 'stop dnsmasq',
    }),
    [
      { to: 'line', text: `✗ ${'ports'.padEnd(16)} 67 in use` },
      { to: 'line', text: `  ${''.padEnd(16)} fix: stop dnsmasq` },
    ],
  )
  assert.deepEqual(
    render({
      type: 'metal.summary',
      machines: [
        { machine: 'metal0', ip: '10.0.0.10', result: 'installed', stages: { dhcp: 1.25 }, detail: '' },
      ],
    } as unknown as CliEvent),
    [
      {
        to: 'summary',
        lines: [
          'summary',
          '  MACHINE  ADDRESS    RESULT     DHCP  LOADER  KERNEL  INSTALLED  SSH  DETAIL',
          '  metal0   10.0.0.10  installed  1.3s  -       -       -          -',
        ],
      },
    ],
  )
  assert.deepEqual(
    render({
      type: 'machine.failed',
      machine: 'metal0',
      lastLine: 'error: no disk',
      log: ['start', 'error: no disk'],
    } as CliEvent),
    [{ to: 'row', row: 'metal0', stage: 'failed', detail: 'installer failed: error: no disk' }],
  )
  assert.deepEqual(
    [
      render({
        type: 'machine.netboot',
        machine: 'metal0',
        result: 'rebooted',
        detail: 'BootNext set',
      } as CliEvent),
      render({
        type: 'machine.netboot',
        machine: 'metal0',
        result: 'manual',
        detail: 'BIOS: reboot it',
      } as CliEvent),
      render({ type: 'node.nic', node: 'metal0', message: 'using "enp1s0"' } as CliEvent),
    ],
    [
      [{ to: 'note', text: 'metal0: BootNext set' }],
      [{ to: 'note', text: 'metal0: cannot send it back to netboot by itself: BIOS: reboot it' }],
      [{ to: 'note', text: 'warning: metal0: using "enp1s0"' }],
    ],
  )
  const failedRow = {
    machine: 'metal0',
    ip: '10.0.0.10',
    result: 'failed',
    stages: {},
    detail: 'the installer failed: error: no disk',
    log: ['start', 'error: no disk'],
  }
  const tail = render({ type: 'metal.summary', machines: [failedRow] } as unknown as CliEvent)
  assert.deepEqual(tail?.[0]?.to === 'summary' ? tail[0].lines.slice(3) : [], [
    '',
    "metal0: the installer's log (last 2 lines):",
    '  | start',
    '  | error: no disk',
  ])
  const object = {
    type: 'bootstrap.object',
    step: 'install',
    kind: 'Deployment',
    name: 'x',
    namespace: 'argocd',
  }
  assert.deepEqual(render({ ...object, result: 'unchanged' } as CliEvent), [])
  assert.deepEqual(render({ ...object, result: 'created' } as CliEvent), [
    { to: 'note', text: 'Deployment argocd/x: created' },
  ])
})
