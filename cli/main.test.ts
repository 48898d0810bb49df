import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'

const root = join(import.meta.dirname, '..')
const fixtures = join(root, 'core/config/fixtures')

function homelab(...args: (string | Record<string, string>)[]) {
  const env = Object.assign({}, ...args.filter((a) => typeof a !== 'string'))
  const r = spawnSync(
    join(root, 'bin/homelab'),
    args.filter((a) => typeof a === 'string'),
    {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', ...env },
    },
  )
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test('homelab validate prints the summary of the shipped config and exits 0', () => {
  const r = homelab('validate')
  assert.equal(r.code, 0, r.err)
  assert.match(r.out, /homelab\.yaml is valid/)
  assert.match(r.out, /DHCP\s+proxy/)
  assert.match(r.out, /endpoint\s+10\.77\.0\.100 \(virtual IP/)
  assert.match(
    r.out,
    /LB pool\s+10\.77\.0\.224-10\.77\.0\.254 \(31 addresses, default: the last \/27 of the subnet\)/,
  )
  for (const name of ['metal0', 'metal1', 'metal2'])
    assert.match(r.out, new RegExp(`^\\s+${name}\\s+server\\s+52:54:00`, 'm'))
})

test('homelab validate exits 1 and prints the located error for an invalid file', () => {
  const file = join(fixtures, 'invalid/bad-mac.yaml')
  const r = homelab('validate', '--config', file)
  assert.equal(r.code, 1)
  assert.equal(r.out, '')
  assert.equal(
    r.err,
    `${file}:21:10 machines[2].mac: "00:23:24:d1:f5" is not a MAC address (expected six hex pairs like 00:23:24:d1:f5:69)\n`,
  )
})

test('homelab validate says how to fix a missing config file', () => {
  const r = homelab('validate', '-c', '/nonexistent/homelab.yaml')
  assert.equal(r.code, 1)
  assert.match(r.err, /^\/nonexistent\/homelab\.yaml cannot be read: no such file \(pass --config FILE/)
})

test('homelab validate renders our templates with real Helm and says which upstream charts it did not render, and that --fetch downloads them', () => {
  const empty = mkdtempSync(join(tmpdir(), 'chart-cache-'))
  try {
    const r = homelab('validate', { HOMELAB_CHART_CACHE: empty })
    assert.equal(r.code, 0, r.err)
    assert.match(
      r.err,
      new RegExp(
        `^${root}/system/cert-manager/Chart\\.yaml warning: the upstream chart cert-manager \\S+ was not rendered \\(no verified archive in ${empty}\\); our templates were: \`homelab validate --fetch\` downloads it$`,
        'm',
      ),
    )
  } finally {
    rmSync(empty, { recursive: true, force: true })
  }
})

test('homelab kubeconfig and node remove say to build the cluster first when there is no kubeconfig', () => {
  const state = join(root, '.state', 'no-cluster-here')
  const printed = homelab('kubeconfig', '--state', state)
  assert.equal(printed.code, 1)
  assert.match(
    printed.err,
    /Cannot find the kubeconfig: .*no-cluster-here\/kubeconfig does not exist yet \(run `homelab cluster` first\)/,
  )
  const removed = homelab('node', 'remove', 'metal2', '--state', state)
  assert.equal(removed.code, 1)
  assert.match(
    removed.err,
    /Cannot reach the cluster: .*no-cluster-here\/kubeconfig does not exist yet \(run `homelab cluster` first\)/,
  )
})

test('homelab --json streams one typed event per line', () => {
  const r = homelab('validate', '--json', '-c', join(fixtures, 'valid/even-servers-warns.yaml'))
  assert.equal(r.code, 0)
  const events = r.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; severity?: string; machines?: unknown[]; file?: string })
    // The upstream charts not rendered (not in the chart cache) have their own test.
    .filter((e) => !e.file?.endsWith('/Chart.yaml'))
  assert.deepEqual(
    events.map((e) => e.type),
    ['config.diagnostic', 'config.diagnostic', 'config.summary', 'done'],
  )
  assert.equal(events[0]?.severity, 'warning')
  assert.equal(events[2]?.machines?.length, 3)
})

test('homelab plan lists each machine with its boot method, the cluster roles and the applications', () => {
  const r = homelab('plan')
  assert.equal(r.code, 0, r.err)
  assert.match(r.out, /^metal$/m)
  assert.match(r.out, /PXE server on hl-lab0 \(DHCP proxy mode/)
  assert.match(
    r.out,
    /^ {2}metal1\s+wake 52:54:00:77:00:11, UEFI PXE: shim and GRUB over TFTP, kernel and initrd over HTTP/m,
  )
  assert.match(r.out, /^cluster$/m)
  assert.match(
    r.out,
    /3 server\(s\) metal0, metal1, metal2; the server that initialises is chosen by probing/,
  )
  assert.match(r.out, /^bootstrap$/m)
  assert.match(r.out, /^applications/m)
})

test('homelab up runs the steps of the flow in order, skipping the ones named with --skip', () => {
  const skipAll = ['--skip', 'metal', '--skip', 'cluster', '--skip', 'bootstrap', '--skip', 'external']
  const r = homelab('up', ...skipAll)
  assert.equal(r.code, 0, r.err)
  assert.equal(r.out, '\nmetal: skipped\n\ncluster: skipped\n\nbootstrap: skipped\n\nexternal: skipped\n')
  const json = homelab('up', '--json', ...skipAll)
  const events = json.out
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; step?: string })
  assert.deepEqual(
    events.map((e) => `${e.type} ${e.step ?? ''}`.trim()),
    ['flow.step metal', 'flow.step cluster', 'flow.step bootstrap', 'flow.step external', 'done'],
  )
  const wrong = homelab('up', '--skip', 'lab')
  assert.equal(wrong.code, 2)
  assert.match(
    wrong.err,
    /--skip: "lab" is not a step of the flow: expected one of metal, cluster, bootstrap, external/,
  )
})

test('homelab exits 2 on usage errors and documents every command', () => {
  assert.equal(homelab('frobnicate').code, 2)
  assert.equal(homelab('validate', '--nope').code, 2)
  assert.equal(homelab().code, 2)
  const help = homelab('--help')
  assert.equal(help.code, 0)
  for (const command of ['validate', 'plan']) {
    assert.match(help.out, new RegExp(`^ {2}${command} `, 'm'))
    const own = homelab(command, '--help')
    assert.equal(own.code, 0)
    assert.match(own.out, new RegExp(`^Usage: homelab ${command}`))
    assert.match(own.out, /--config FILE/)
  }
})

test('homelab --version prints the package version', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
  assert.equal(homelab('--version').out, `${pkg.version}\n`)
})
