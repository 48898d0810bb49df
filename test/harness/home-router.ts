import { join } from 'node:path'
import { type Host, type NsProcess, spawnDnsmasq } from '../../tools/netns.ts'

/**
 * dnsmasq as the home router of the 10.99.0.0/24 PXE tests: addresses from 10.99.0.100-150,
 * itself (10.99.0.1) as the gateway, no boot information; its lease and PID files in `dir`.
 */
export function startHomeRouter(router: Host, dir: string, extra: readonly string[] = []): NsProcess {
  return spawnDnsmasq(router, {
    range: '10.99.0.100,10.99.0.150,1h',
    leaseFile: join(dir, 'router.leases'),
    extra: [
      '--conf-file=/dev/null',
      `--pid-file=${join(dir, 'router.pid')}`,
      '--dhcp-option=3,10.99.0.1',
      '--user=root',
      ...extra,
    ],
  })
}
