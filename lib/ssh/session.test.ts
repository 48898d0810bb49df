import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { type Host, sh as run, sshdConfig, TestNet, waitFor, within } from '../../tools/netns.ts'
import { sameHostKey } from './hostkey.ts'

// One real OpenSSH server in namespace "node" (10.94.0.10); the client code runs in a Node
// process inside namespace "ctl" (10.94.0.2), so no traffic leaves the namespaces made here.
const SERVER = '10.94.0.10'
let dir = ''
let net: TestNet | undefined
let ctl: Host
let hostPub = ''
let otherPub = ''

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ssh-session-'))
  net = await TestNet.create('sshses')
  for (const name of ['host_ed25519', 'client_ed25519', 'stranger_ed25519']) {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)])
  }
  await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_ed25519.pub')), {
    mode: 0o600,
  })
  await writeFile(
    join(dir, 'sshd_config'),
    sshdConfig({
      hostKey: join(dir, 'host_ed25519'),
      listen: SERVER,
      pidFile: join(dir, 'sshd.pid'),
      authorizedKeys: join(dir, 'authorized_keys'),
      extra: ['LogLevel VERBOSE'],
    }),
  )
  hostPub = (await readFile(join(dir, 'host_ed25519.pub'), 'utf8')).trim()
  otherPub = (await readFile(join(dir, 'stranger_ed25519.pub'), 'utf8')).trim()
  const node = await net.host('node', `${SERVER}/24`)
  ctl = await net.host('ctl', '10.94.0.2/24')
  await run('mkdir', ['-p', '/run/sshd'])
  const sshd = node.spawn(['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')])
  await waitFor('sshd', () => (/Server listening/.test(sshd.output()) ? true : undefined), 5000)
})

after(async () => {
  await net?.destroy()
  await rm(dir, { recursive: true, force: true })
})

interface Outcome {
  value?: unknown
  error?: { name: string; message: string; code?: string; exitCode?: number; stderr?: string }
  events: { type: string; attempt?: number; delayMs?: number; host?: string; error?: string }[]
}

/**
 * Runs `body` (JavaScript, an async function body) in a Node process inside ctl. In scope:
 * connectSsh, sh, key (the client's private key), events (an array the event sink fills),
 * connect(extra) (connectSsh to the server with the key and the events sink).
 */
async function inCtl(body: string): Promise<Outcome> {
  const session = new URL('./session.ts', import.meta.url).href
  const quote = new URL('./quote.ts', import.meta.url).href
  const code = `
    import { connectSsh } from '${session}'
    import { sh } from '${quote}'
    import { readFileSync } from 'node:fs'
    const key = readFileSync(${JSON.stringify(join(dir, 'client_ed25519'))})
    const events = []
    const connect = (extra = {}) =>
      connectSsh({ host: '${SERVER}', username: 'root', privateKey: key, events: (e) => events.push(e), ...extra })
    const outcome = { events }
    try {
      outcome.value = await (async () => { ${body} })()
    } catch (e) {
      outcome.error = { name: e.name, message: e.message, code: e.code, exitCode: e.exitCode, stderr: e.stderr }
    }
    // Exit even when a failed body left a session open.
    process.stdout.write('OUTCOME ' + JSON.stringify(outcome) + '\\n', () => process.exit(0))
  `
  const p = ctl.spawn([process.execPath, '--input-type=module', '-e', code])
  // A client that hangs fails the test with its output instead of stalling the file.
  const exit = await within(p.exited, 30_000, 'timeout')
  if (exit === 'timeout') await p.kill('SIGKILL')
  const line = /^OUTCOME (.*)$/m.exec(p.output())?.[1]
  assert.ok(exit === 0 && line !== undefined, `client process failed (${exit}):\n${p.output()}`)
  return JSON.parse(line) as Outcome
}

test('SshSession.run() streams output line by line and returns code, stdout and stderr', async () => {
  const out = await inCtl(`
    const s = await connect()
    const lines = []
    const r = await s.run('echo one\\necho two >&2\\nprintf "three\\\\nfour"', { onOutput: (l, st) => lines.push(st + ':' + l) })
    await s.close()
    return { r, lines }
  `)
  assert.equal(out.error, undefined, JSON.stringify(out.error))
  const { r, lines } = out.value as { r: unknown; lines: string[] }
  assert.deepEqual(r, { code: 0, stdout: 'one\nthree\nfour', stderr: 'two\n' })
  // Order between the two streams is not defined; order within each stream is.
  assert.deepEqual(
    lines.filter((l) => l.startsWith('stdout:')),
    ['stdout:one', 'stdout:three', 'stdout:four'],
  )
  assert.deepEqual(
    lines.filter((l) => l.startsWith('stderr:')),
    ['stderr:two'],
  )
})

test('SshSession.run() rejects with SshCommandError naming host, first line, exit code and stderr', async () => {
  const out = await inCtl(`
    const s = await connect()
    try {
      await s.run('ls /nonexistent-dir\\necho not reached')
    } finally {
      await s.close()
    }
  `)
  assert.equal(out.error?.name, 'SshCommandError')
  assert.equal(out.error?.code, 'HOMELAB_SSH_COMMAND')
  assert.equal(out.error?.exitCode, 2)
  assert.match(out.error?.stderr ?? '', /nonexistent-dir/)
  assert.match(
    out.error?.message ?? '',
    /^Command failed on 10\.94\.0\.10: "ls \/nonexistent-dir" exited with code 2:\n.*nonexistent-dir/,
  )
  // set -e stopped the script at the first failure.
  const pipe = await inCtl(`
    const s = await connect()
    const r = await s.run('false | true\\necho after', { allowFailure: true })
    await s.close()
    return r
  `)
  assert.deepEqual(pipe.value, { code: 1, stdout: '', stderr: '' }, 'pipefail makes a failing pipe fail')
})

test('sh`` values reach the remote shell literally, end to end', async () => {
  const hostile = ["it's", '$(touch /tmp/pwned-ssh)', '`id`', 'a; echo injected', 'line1\nline2', '*', '']
  const out = await inCtl(`
    const s = await connect()
    const values = ${JSON.stringify(hostile)}
    const r = await s.run(sh\`d=$(mktemp -d) && cd "$d" && printf '%s\\\\n' \${values} && for v in \${values}; do echo "[$v]"; done && [ ! -e /tmp/pwned-ssh ] && rm -rf "$d"\`)
    await s.close()
    return r.stdout
  `)
  assert.equal(out.error, undefined, JSON.stringify(out.error))
  const each = hostile.map((v) => `${v}\n`).join('')
  assert.equal(out.value, each + hostile.map((v) => `[${v}]\n`).join(''))
})

test('SshSession.ensureFile() writes with the mode, then reports unchanged; a new content or mode is a change', async () => {
  const out = await inCtl(`
    const s = await connect()
    const path = '/tmp/homelab ensure test ' + process.pid + '.conf'
    const content = "token: it's secret\\n"
    const results = []
    results.push(await s.ensureFile(path, content, 0o600))
    results.push(await s.ensureFile(path, content, 0o600))
    const first = (await s.run(sh\`stat -c %a \${path}; cat \${path}\`)).stdout
    results.push(await s.ensureFile(path, content, 0o644))
    results.push(await s.ensureFile(path, Buffer.from('other\\n'), 0o644))
    results.push(await s.ensureFile(path, Buffer.from('other\\n'), 0o644))
    const second = (await s.run(sh\`stat -c %a \${path}; cat \${path}; ls -a /tmp | grep -cF -- \${path.slice(5) + '.homelab-'} || true; rm -f \${path}\`)).stdout
    await s.close()
    return { results, first, second }
  `)
  assert.equal(out.error, undefined, JSON.stringify(out.error))
  assert.deepEqual(out.value, {
    results: ['changed', 'unchanged', 'changed', 'changed', 'unchanged'],
    first: "600\ntoken: it's secret\n",
    second: '644\nother\n0\n',
  })
  assert.deepEqual(
    out.events.filter((e) => e.type === 'ssh.step').map((e) => (e as { result?: string }).result),
    ['changed', 'unchanged', 'changed', 'changed', 'unchanged'],
  )
})

test('SshSession.upload() moves a 20 MB file byte-identical and sets the mode', async () => {
  const local = join(dir, 'big.bin')
  const data = Buffer.alloc(20 * 1024 * 1024)
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i)
  await writeFile(local, data)
  const want = createHash('sha256').update(data).digest('hex')
  const out = await inCtl(`
    const s = await connect()
    let last = 0, total = 0
    await s.upload(${JSON.stringify(local)}, '/tmp/homelab-upload-' + process.pid, {
      mode: 0o640, onProgress: (t, all) => { last = t; total = all },
    })
    const sum = (await s.run(sh\`sha256sum < \${'/tmp/homelab-upload-' + process.pid} && stat -c %a \${'/tmp/homelab-upload-' + process.pid} && rm -f \${'/tmp/homelab-upload-' + process.pid}\`)).stdout
    await s.close()
    return { sum, last, total }
  `)
  assert.equal(out.error, undefined, JSON.stringify(out.error))
  const { sum, last, total } = out.value as { sum: string; last: number; total: number }
  assert.equal(sum, `${want}  -\n640\n`)
  assert.equal(last, data.length)
  assert.equal(total, data.length)
})

test('connectSsh() refuses a pinned host key that differs, and never retries it', async () => {
  const out = await inCtl(`
    await connect({ knownHostKey: ${JSON.stringify(otherPub)}, retries: 3, retryDelayMs: 10 })
  `)
  assert.equal(out.error?.name, 'SshHostKeyError')
  assert.equal(out.error?.code, 'HOMELAB_SSH_HOST_KEY')
  assert.ok(out.error?.message.startsWith(`Cannot connect to ${SERVER}: its SSH host key changed (was `))
  assert.match(out.error?.message ?? '', /if the machine was reinstalled/)
  assert.deepEqual(out.events, [])
})

test('connectSsh() accepts the pinned key and reports the key on first use', async () => {
  const out = await inCtl(`
    const seen = []
    const s = await connect({ onFirstHostKey: (k) => seen.push(k) })
    await s.close()
    const pinned = await connect({ knownHostKey: ${JSON.stringify(hostPub)}, onFirstHostKey: (k) => seen.push('again ' + k) })
    const r = await pinned.run('id -u')
    await pinned.close()
    return { seen, hostKey: s.hostKey, id: r.stdout }
  `)
  assert.equal(out.error, undefined, JSON.stringify(out.error))
  const { seen, hostKey, id } = out.value as { seen: string[]; hostKey: string; id: string }
  assert.equal(seen.length, 1, 'onFirstHostKey is called only without a pinned key')
  assert.ok(sameHostKey(seen[0] ?? '', hostPub), `got ${seen[0]}, expected ${hostPub}`)
  assert.ok(sameHostKey(hostKey, hostPub))
  assert.equal(id, '0\n')
})

test('connectSsh() does not retry an authentication failure', async () => {
  const out = await inCtl(`
    await connect({ privateKey: readFileSync(${JSON.stringify(join(dir, 'stranger_ed25519'))}), retries: 3, retryDelayMs: 10 })
  `)
  assert.equal(out.error?.name, 'SshConnectError')
  assert.match(
    out.error?.message ?? '',
    /^Cannot connect to 10\.94\.0\.10:22 over SSH as root: All configured authentication methods failed/,
  )
  assert.deepEqual(out.events, [])
})

test('connectSsh() retries a closed port with exponential backoff events, then fails naming the host', async () => {
  const out = await inCtl(`
    await connect({ port: 2222, retries: 3, retryDelayMs: 20, maxRetryDelayMs: 50 })
  `)
  assert.equal(out.error?.name, 'SshConnectError')
  assert.match(
    out.error?.message ?? '',
    /^Cannot connect to 10\.94\.0\.10:2222 over SSH after 4 attempts: connect ECONNREFUSED 10\.94\.0\.10:2222/,
  )
  assert.deepEqual(
    out.events.map((e) => [e.type, e.host, e.attempt, e.delayMs]),
    [
      ['ssh.retry', SERVER, 1, 20],
      ['ssh.retry', SERVER, 2, 40],
      ['ssh.retry', SERVER, 3, 50],
    ],
  )
  assert.ok(out.events.every((e) => /ECONNREFUSED/.test(e.error ?? '')))
})
