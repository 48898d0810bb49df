import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { sh } from '../../tools/netns.ts'
import { isAlive, StandinNodes } from './k3s-nodes.ts'

// Two stand-in nodes (real sshd, stand-in k3s/systemctl/sysctl/modprobe) and a controller
// namespace; every SSH command runs from the controller with the OpenSSH client.
const N1 = '10.95.0.11'
const N2 = '10.95.0.12'
const VERSION = 'v1.33.5+k3s1'
let lab: StandinNodes | undefined
let base = ''

function labOf(): StandinNodes {
  assert.ok(lab, 'the lab was not created')
  return lab
}

interface Result {
  code: number
  stdout: string
  stderr: string
}

/** Runs `script` as root on `ip` from the controller namespace; extra ssh options before the host. */
function ssh(ip: string, script: string, extra: string[] = []): Promise<Result> {
  const l = labOf()
  const args = [
    'netns',
    'exec',
    l.ctl.ns,
    'ssh',
    '-i',
    l.clientKeyPath,
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=3',
    ...(extra.length > 0 ? extra : ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null']),
    '-o',
    'LogLevel=ERROR',
    `root@${ip}`,
    script,
  ]
  return new Promise((resolve) => {
    execFile('ip', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

async function ok(ip: string, script: string): Promise<string> {
  const r = await ssh(ip, script)
  assert.equal(r.code, 0, `on ${ip}: ${script}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  return r.stdout
}

const UNIT = (role: string) => `[Unit]
Description=Lightweight Kubernetes
Wants=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/systemd/system/k3s.service.env
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/k3s \\
    ${role} \\
    --node-name=\${K3S_NODE_NAME}
Restart=always
`

/** Installs the stand-in k3s from the release server, checked against its sha256sum file. */
const INSTALL = () => `set -e
cd /tmp && mkdir -p /usr/local/bin
curl -fsS ${base}/${encodeURIComponent(VERSION)}/k3s -o /usr/local/bin/k3s.tmp
want=$(curl -fsS ${base}/${encodeURIComponent(VERSION)}/sha256sum-amd64.txt | awk '$2 == "k3s" {print $1}')
echo "$want  /usr/local/bin/k3s.tmp" | sha256sum -c --quiet
chmod 0755 /usr/local/bin/k3s.tmp && mv /usr/local/bin/k3s.tmp /usr/local/bin/k3s`

before(async () => {
  lab = await StandinNodes.create('k3sn', {
    subnet: '10.95.0',
    controllerIp: '10.95.0.2',
    nodes: [
      { name: 'n1', ip: N1 },
      { name: 'n2', ip: N2 },
    ],
  })
  await lab.releaseDir(VERSION)
  base = await lab.startReleaseServer(lab.ctl)
})

after(async () => {
  await lab?.destroy()
})

test('stand-in node: the release server serves the stand-in k3s at the percent-encoded GitHub path', async () => {
  const out = await ok(N1, `${INSTALL()}\nk3s --version\nhostname`)
  assert.equal(out, `k3s version ${VERSION} (stand-in)\ngo version go1.24 (stand-in)\nn1\n`)
  const st = await labOf().node('n1').stat('/usr/local/bin/k3s')
  assert.equal(st?.mode, 0o755)
})

test('stand-in k3s: cluster-init through stand-in systemctl becomes active and records everything', async () => {
  const l = labOf()
  const config =
    'cluster-init: true\ntoken: "s3cret"\ntls-san:\n  - 10.95.0.100\n  - k8s.lan\nnode-ip: 10.95.0.11\n'
  await ok(
    N1,
    `set -e
mkdir -p /etc/rancher/k3s /etc/sysctl.d
cat > /etc/rancher/k3s/config.yaml <<'X'
${config}X
chmod 0600 /etc/rancher/k3s/config.yaml
cat > /etc/systemd/system/k3s.service <<'X'
${UNIT('server')}X
echo 'K3S_NODE_NAME=n1' > /etc/systemd/system/k3s.service.env
echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/90-k3s.conf
sysctl --system >/dev/null
systemctl daemon-reload
systemctl enable --now k3s.service
systemctl is-active k3s`,
  )
  const n1 = l.node('n1')
  assert.equal((await ssh(N1, 'systemctl is-active --quiet k3s')).code, 0)
  assert.equal((await ssh(N1, 'systemctl is-enabled k3s')).stdout, 'enabled\n')
  assert.equal((await ssh(N1, 'sysctl -n net.ipv4.ip_forward')).stdout, '1\n')

  const [inv, ...more] = await n1.k3sInvocations()
  assert.equal(more.length, 0)
  assert.deepEqual(inv?.argv, ['server', '--node-name=n1'])
  assert.equal(inv?.role, 'server')
  assert.deepEqual(inv?.env, { K3S_NODE_NAME: 'n1' })
  assert.equal(inv?.config, config)
  assert.equal(inv?.files['/etc/rancher/k3s/config.yaml']?.mode, '0600')

  const cluster = JSON.parse(await readFile(join(l.shared, 'cluster.json'), 'utf8'))
  assert.equal(cluster.token, 's3cret')
  assert.equal(cluster.initNode, 'n1')
  const kubeconfig = await n1.stat('/etc/rancher/k3s/k3s.yaml')
  assert.equal(kubeconfig?.mode, 0o600)
  assert.match((await n1.readFile('/etc/rancher/k3s/k3s.yaml')) ?? '', /server: https:\/\/127\.0\.0\.1:6443/)
  assert.equal(
    (await n1.readFile('/var/lib/rancher/k3s/server/node-token'))?.trim(),
    `K10${cluster.caHash}::server:s3cret`,
  )
  const reg = JSON.parse(await readFile(join(l.shared, 'nodes', 'n1.json'), 'utf8'))
  assert.deepEqual([reg.name, reg.role, reg.ip], ['n1', 'server', N1])

  const paths = (await n1.written()).map((f) => f.path)
  for (const p of [
    '/etc/systemd/system/multi-user.target.wants/k3s.service',
    '/etc/rancher/k3s/config.yaml',
    '/usr/local/bin/k3s',
    '/var/lib/rancher/k3s/server/db/standin-cluster-id',
  ]) {
    assert.ok(paths.includes(p), `${p} missing from written(): ${paths.join(', ')}`)
  }
  // Real etcd runs behind the stand-in server, its data where k3s keeps it (member/wal).
  assert.ok(
    paths.some((p) => p.startsWith('/var/lib/rancher/k3s/server/db/etcd/member/wal/')),
    paths.join(', '),
  )
  assert.ok(!paths.some((p) => p.startsWith('/var/lib/homelab-standin/') || p === '/usr/bin/systemctl'))
  const log = await n1.log('systemctl')
  assert.deepEqual(log, [
    'daemon-reload',
    'enable --now k3s.service',
    'is-active k3s',
    'is-active --quiet k3s',
    'is-enabled k3s',
  ])
  assert.deepEqual((await n1.readFile('/var/lib/homelab-standin/modules'))?.split('\n'), [
    'br_netfilter',
    'overlay',
    '',
  ])
  assert.match(
    (await n1.readFile('/var/lib/homelab-standin/sysctl.conf')) ?? '',
    /^net\.ipv4\.ip_forward = 1$/m,
  )
})

test('stand-in k3s: an agent with the wrong token fails its systemctl start; the right one joins', async () => {
  const l = labOf()
  // The join target: HTTPS on n1:6443 answering /cacerts, as k3s's supervisor port does.
  const key = join(l.dir, 'join.key')
  const cert = join(l.dir, 'join.crt')
  await sh('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=n1',
    '-days',
    '1',
    '-keyout',
    key,
    '-out',
    cert,
  ])
  const listener = l
    .node('n1')
    .host.spawn([
      'python3',
      '-u',
      '-c',
      [
        'import http.server, ssl',
        'class H(http.server.BaseHTTPRequestHandler):',
        '    def do_GET(self):',
        '        self.send_response(200); self.end_headers(); self.wfile.write(b"stand-in CA")',
        '    def log_message(self, *a): pass',
        `s = http.server.HTTPServer(('${N1}', 6443), H)`,
        'c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)',
        `c.load_cert_chain(${JSON.stringify(cert)}, ${JSON.stringify(key)})`,
        's.socket = c.wrap_socket(s.socket, server_side=True)',
        "print('listening', flush=True)",
        's.serve_forever()',
      ].join('\n'),
    ])
  await new Promise<void>((resolve) => listener.child.stdout?.once('data', () => resolve()))
  const setup = (token: string) => `set -e
mkdir -p /etc/rancher/k3s
printf 'server: https://${N1}:6443\\ntoken: ${token}\\n' > /etc/rancher/k3s/config.yaml
cat > /etc/systemd/system/k3s-agent.service <<'X'
${UNIT('agent')}X
echo 'K3S_NODE_NAME=n2' > /etc/systemd/system/k3s.service.env
systemctl daemon-reload`
  await ok(N2, `${INSTALL()}\n${setup('wrong')}`)
  const bad = await ssh(N2, 'systemctl enable --now k3s-agent')
  assert.notEqual(bad.code, 0)
  assert.match(bad.stderr, /Job for k3s-agent\.service failed/)
  assert.match(bad.stderr, /token does not match/)
  assert.equal((await ssh(N2, 'systemctl is-active k3s-agent')).stdout, 'failed\n')
  assert.equal(existsSync(join(l.shared, 'nodes', 'n2.json')), false)

  await ok(N2, `${setup('s3cret')}\nsystemctl restart k3s-agent`)
  assert.equal((await ssh(N2, 'systemctl is-active k3s-agent')).code, 0)
  const reg = JSON.parse(await readFile(join(l.shared, 'nodes', 'n2.json'), 'utf8'))
  assert.deepEqual([reg.name, reg.role, reg.ip], ['n2', 'agent', N2])
  assert.equal((await l.node('n2').k3sInvocations()).length, 2)
  // the refused start never became ready; the second did
  assert.deepEqual(await l.k3sEvents(), [
    'n1 server start',
    'n1 server ready',
    'n2 agent start',
    'n2 agent start',
    'n2 agent ready',
  ])
  assert.equal(existsSync(join(l.shared, 'forks.log')), false)
  assert.ok(!(await l.node('n2').log('systemctl')).some((line) => line.startsWith('warning:')))

  // Editing the unit without daemon-reload is what the warning catches.
  await ok(N2, 'echo "# edited" >> /etc/systemd/system/k3s-agent.service && systemctl restart k3s-agent')
  assert.ok(
    (await l.node('n2').log('systemctl')).some((line) => line.startsWith('warning: unit file changed')),
  )
  await listener.kill()
})

test('stand-in node: the host /etc, /usr and /var/lib stay untouched', async () => {
  for (const p of [
    '/etc/rancher',
    '/usr/local/bin/k3s',
    '/etc/systemd/system/k3s.service',
    '/var/lib/rancher',
    '/var/lib/homelab-standin',
    '/etc/homelab-standin.env',
  ]) {
    assert.equal(existsSync(p), false, `${p} exists on the host`)
  }
  // The host's real systemctl is still the real one.
  assert.notEqual((await readFile('/usr/bin/systemctl')).subarray(0, 4).toString('latin1'), '#!/u')
})

test('StandinNodes.stop() makes a node unreachable and kills its k3s; start() brings sshd back', async () => {
  const l = labOf()
  const k3sPid = Number((await l.node('n1').readFile('/var/lib/homelab-standin/k3s.pid'))?.trim())
  assert.ok(isAlive(k3sPid), 'k3s stand-in is running')
  await l.stop('n1')
  assert.equal(isAlive(k3sPid), false)
  assert.notEqual((await ssh(N1, 'true')).code, 0)
  await l.start('n1')
  assert.equal((await ssh(N1, 'systemctl is-active k3s')).stdout, 'inactive\n')
  // Local etcd data survives: k3s restarts without a second cluster-init.
  await ok(N1, 'systemctl start k3s')
  assert.equal(existsSync(join(l.shared, 'forks.log')), false)
})

test('StandinNodes.rebuild() gives a node a new host key and wipes what it wrote', async () => {
  const l = labOf()
  const before = l.node('n2').hostKey
  const knownHosts = join(l.dir, 'known_hosts')
  await writeFile(knownHosts, `${N2} ${before}\n`)
  const pinned = ['-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`]
  assert.equal((await ssh(N2, 'true', pinned)).code, 0)
  await l.rebuild('n2')
  assert.notEqual(l.node('n2').hostKey, before)
  assert.match(l.node('n2').hostKey, /^ssh-ed25519 AAAA\S+$/)
  const refused = await ssh(N2, 'true', pinned)
  assert.notEqual(refused.code, 0)
  assert.match(refused.stderr, /HOST IDENTIFICATION HAS CHANGED|Host key verification failed/)
  assert.deepEqual(await l.node('n2').written(), [])
  assert.equal(
    await ok(N2, 'test -e /usr/local/bin/k3s || echo gone; systemctl is-active k3s-agent || true'),
    'gone\ninactive\n',
  )
})

test('StandinNodes.destroy() leaves no namespace, process, mount or file', async () => {
  const l = labOf()
  const pids = [...(await l.node('n1').pids()), ...(await l.node('n2').pids())]
  assert.ok(pids.length >= 3, `expected sshd and k3s processes, got ${pids.join(' ')}`)
  lab = undefined
  await l.destroy()
  assert.equal(pids.filter(isAlive).length, 0, `still alive: ${pids.filter(isAlive).join(' ')}`)
  assert.doesNotMatch(await sh('ip', ['netns', 'list']), new RegExp(l.net.id))
  assert.doesNotMatch(await sh('findmnt', ['-rn', '-o', 'TARGET']), new RegExp(l.dir))
  await assert.rejects(stat(l.dir))
})
