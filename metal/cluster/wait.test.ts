import assert from 'node:assert/strict'
import { test } from 'node:test'
import { manualClock } from '../../lib/poll/index.ts'
import type { RunResult, SshSession } from '../../lib/ssh/index.ts'
import {
  boundedSession,
  runBounded,
  startUnit,
  WaitTimeoutError,
  waitEtcdHealthy,
  waitForCacerts,
  within,
} from './wait.ts'

/** A session whose run() answers from `answer`, recording every script. */
function fakeSession(answer: (script: string) => RunResult | Promise<RunResult>) {
  const scripts: string[] = []
  const session: SshSession = {
    host: '10.0.0.10',
    hostKey: 'ssh-ed25519 AAAA',
    run: async (script) => {
      scripts.push(script)
      return answer(script)
    },
    upload: async () => undefined,
    ensureFile: async () => 'unchanged',
    close: async () => undefined,
  }
  return { session, scripts }
}

const ok = (stdout = ''): RunResult => ({ code: 0, stdout, stderr: '' })
const shown = (active: string, sub: string, result = 'success') =>
  ok(`ActiveState=${active}\nSubState=${sub}\nResult=${result}\n`)

test("runBounded(): the command runs under the node's timeout; exit 124 is reported as the deadline, not as a failure of the command", async () => {
  const { session, scripts } = fakeSession(() => ({ code: 124, stdout: '', stderr: 'waiting\n' }))
  await assert.rejects(runBounded(session, 'sleep 100', 'wait for it', 3000), (error: unknown) => {
    assert.ok(error instanceof WaitTimeoutError)
    assert.match(error.message, /^Cannot wait for it on 10\.0\.0\.10: still running after 3 s, stopped/)
    return true
  })
  assert.equal(scripts[0], "timeout -k 5 3 sh -c 'sleep 100'")
})

test('startUnit(): --no-block, then the state polled until active; every new state reported once', async () => {
  const states = [shown('activating', 'start'), shown('activating', 'start'), shown('active', 'running')]
  const { session, scripts } = fakeSession((s) =>
    s.includes('systemctl show') ? (states.shift() ?? ok()) : ok(),
  )
  const seen: string[] = []
  const { clock } = manualClock()
  await startUnit(session, 'k3s', 'start', { clock, pollMs: 1000, onState: (s) => seen.push(s) })
  assert.match(scripts[0] ?? '', /systemctl start --no-block k3s/)
  assert.deepEqual(seen, ['activating (start)', 'active (running)'])
})

test("startUnit(): a start that never reports ready ends at the deadline with the unit's last state (manual clock)", async () => {
  const { session } = fakeSession((s) => (s.includes('systemctl show') ? shown('activating', 'start') : ok()))
  const time = manualClock()
  await assert.rejects(
    startUnit(session, 'k3s-agent', 'start', { clock: time.clock, timeoutMs: 60_000, pollMs: 2000 }),
    (error: unknown) => {
      assert.ok(error instanceof WaitTimeoutError)
      assert.equal(error.lastSeen, 'activating (start)')
      assert.match(
        error.message,
        /^k3s-agent did not report ready within 60 s; last state: activating \(start\); check on the node: journalctl -u k3s-agent -e$/,
      )
      return true
    },
  )
  assert.ok(time.now() <= 60_000, `the wait stopped at its deadline (${time.now()} ms)`)
  assert.equal(time.slept.length, 30)
})

test('startUnit(): a failed unit ends the wait at once, with its result', async () => {
  const { session } = fakeSession((s) =>
    s.includes('systemctl show') ? shown('failed', 'failed', 'exit-code') : ok(),
  )
  const time = manualClock()
  await assert.rejects(
    startUnit(session, 'k3s', 'restart', { clock: time.clock }),
    /k3s failed to start: failed \(failed, result exit-code\)/,
  )
  assert.equal(time.slept.length, 0)
})

test('waitForCacerts(): waits while the VIP does not answer, done at the first 200', async () => {
  const answers: (number | string)[] = ['connect EHOSTUNREACH 10.0.0.100:6443', 503, 200]
  const urls: string[] = []
  const seen: string[] = []
  const time = manualClock()
  await waitForCacerts('10.0.0.100', {
    clock: time.clock,
    pollMs: 1000,
    probe: async (url) => {
      urls.push(url)
      return answers.shift() ?? 200
    },
    onState: (s) => seen.push(s),
  })
  assert.deepEqual(urls, Array(3).fill('https://10.0.0.100:6443/cacerts'))
  assert.deepEqual(seen, ['connect EHOSTUNREACH 10.0.0.100:6443', 'HTTP 503', 'HTTP 200'])
  assert.equal(time.now(), 2000)
})

test('waitForCacerts(): a VIP that never answers ends at the deadline, naming the last answer and kube-vip', async () => {
  const time = manualClock()
  await assert.rejects(
    waitForCacerts('10.0.0.100', {
      clock: time.clock,
      timeoutMs: 30_000,
      pollMs: 2000,
      probe: async () => 'connect ECONNREFUSED 10.0.0.100:6443',
    }),
    /^WaitTimeoutError: Cannot join through 10\.0\.0\.100: https:\/\/10\.0\.0\.100:6443\/cacerts did not answer within 30 s \(last: connect ECONNREFUSED 10\.0\.0\.100:6443\); .*kube-vip holds 10\.0\.0\.100/,
  )
})

test('boundedSession(): a file write the node never answers rejects at its deadline, naming the file and the host', async () => {
  const { session } = fakeSession(() => ok())
  const never = () => new Promise<never>(() => undefined)
  const hung: SshSession = { ...session, ensureFile: never, upload: never }
  await assert.rejects(
    within(
      hung.ensureFile('/etc/rancher/k3s/config.yaml', 'x', 0o600),
      5,
      () => 'Cannot write /etc/rancher/k3s/config.yaml on 10.0.0.10: no answer',
    ),
    (error: unknown) =>
      error instanceof WaitTimeoutError && /config\.yaml on 10\.0\.0\.10/.test(error.message),
  )
  const bounded = boundedSession(hung, 5)
  await assert.rejects(
    bounded.upload('/tmp/k3s', '/usr/local/bin/k3s'),
    /Cannot upload \/usr\/local\/bin\/k3s to 10\.0\.0\.10: not done within 0\.005 s/,
  )
})

test('waitEtcdHealthy(): waits while /readyz/etcd fails, done at the first 200; at the deadline names the last answer (manual clock)', async () => {
  const answers = [new Error('GET /readyz/etcd: 500 [-]etcd failed'), undefined]
  const paths: string[] = []
  const api = {
    request: async <T>(_method: string, path: string): Promise<T> => {
      paths.push(path)
      const next = answers.shift()
      if (next instanceof Error) throw next
      return 'ok' as T
    },
  }
  const time = manualClock()
  await waitEtcdHealthy(api, { clock: time.clock, pollMs: 1000 })
  assert.deepEqual(paths, ['/readyz/etcd', '/readyz/etcd'])
  const failing = {
    request: async <T>(): Promise<T> => {
      throw new Error('GET /readyz/etcd: 500 [-]etcd failed')
    },
  }
  await assert.rejects(
    waitEtcdHealthy(failing, { clock: manualClock().clock, timeoutMs: 10_000, pollMs: 1000 }),
    /^WaitTimeoutError: etcd was not healthy within 10 s \(GET \/readyz\/etcd: GET \/readyz\/etcd: 500 \[-\]etcd failed\)/,
  )
})
