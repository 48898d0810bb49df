/**
 * Certificates for the stand-in Kubernetes API server, made with the openssl CLI: a CA, a
 * server certificate for the listen address, and an admin client certificate
 * (O=system:masters), plus a kubeconfig shaped exactly like the one k3s writes.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd })
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === 'ENOENT')
      throw new Error('Cannot make stand-in certificates: openssl is not installed (apt-get install openssl)')
    throw new Error(
      `Cannot make stand-in certificates: openssl ${args[0]} failed: ${e.stderr?.trim() ?? e.message}`,
    )
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

export interface StandinCerts {
  ca: Buffer
  serverCert: Buffer
  serverKey: Buffer
  adminCert: Buffer
  adminKey: Buffer
}

/**
 * Writes ca.crt/ca.key, admin.crt/admin.key (reused when present, so a restarted stand-in keeps
 * its kubeconfig valid), server.crt/server.key for `hosts` (always made anew) and kubeconfig.yaml.
 */
export async function makeStandinCerts(dir: string, hosts: string[]): Promise<StandinCerts> {
  const has = (f: string) => existsSync(join(dir, f))
  if (!has('ca.crt') || !has('ca.key')) {
    await openssl(
      [
        'req',
        '-x509',
        ...EC,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '3650',
        '-subj',
        '/CN=k3s-standin-server-ca',
      ],
      dir,
    )
    await rm(join(dir, 'admin.crt'), { force: true })
  }
  const sign = async (name: string, subj: string, ext: string) => {
    await writeFile(join(dir, `${name}.ext`), ext)
    await openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subj], dir)
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-set_serial',
        String(Date.now()),
      ].concat(['-days', '3650', '-out', `${name}.crt`, '-extfile', `${name}.ext`]),
      dir,
    )
    await rm(join(dir, `${name}.csr`), { force: true })
    await rm(join(dir, `${name}.ext`), { force: true })
  }
  if (!has('admin.crt') || !has('admin.key')) {
    await sign('admin', '/O=system:masters/CN=system:admin', 'extendedKeyUsage=clientAuth\n')
  }
  const sans = [...new Set([...hosts, '127.0.0.1'])].map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`))
  sans.push('DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc')
  await sign('server', '/O=k3s/CN=k3s', `extendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`)
  const read = (f: string) => readFile(join(dir, f))
  const certs = {
    ca: await read('ca.crt'),
    serverCert: await read('server.crt'),
    serverKey: await read('server.key'),
    adminCert: await read('admin.crt'),
    adminKey: await read('admin.key'),
  }
  await writeFile(join(dir, 'kubeconfig.yaml'), k3sKubeconfig(certs))
  return certs
}

/** The kubeconfig k3s writes to /etc/rancher/k3s/k3s.yaml: everything named default, server on loopback. */
export function k3sKubeconfig(certs: Pick<StandinCerts, 'ca' | 'adminCert' | 'adminKey'>): string {
  return `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: ${certs.ca.toString('base64')}
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: ${certs.adminCert.toString('base64')}
    client-key-data: ${certs.adminKey.toString('base64')}
`
}
