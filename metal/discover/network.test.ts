import assert from 'node:assert/strict'
import { test } from 'node:test'
import { defaultRoute, detectNetwork, parseResolvConf, parseRouteTable } from './network.ts'

// /proc/net/route of a host with a default route via 192.168.1.1 on eno1 and a second link.
const ROUTES = [
  'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
  'eno1\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
  'eno1\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
  'wlan0\t00000000\t0100000A\t0003\t0\t0\t600\t00000000\t0\t0\t0',
  'wlan0\t0000000A\t00000000\t0001\t0\t0\t600\t0000FFFF\t0\t0\t0',
  'old0\t00000000\t0100000A\t0002\t0\t0\t1\t00000000\t0\t0\t0',
  '',
].join('\n')

test('parseRouteTable() reads little-endian hex addresses and masks, and skips routes that are down', () => {
  const routes = parseRouteTable(ROUTES)
  assert.equal(routes.length, 4)
  assert.deepEqual(routes[0], { iface: 'eno1', destination: 0, prefix: 0, gateway: 0xc0a80101, metric: 100 })
  assert.deepEqual(routes[1], { iface: 'eno1', destination: 0xc0a80100, prefix: 24, gateway: 0, metric: 100 })
  assert.equal(routes[3]?.prefix, 16)
})

test('defaultRoute() takes the lowest metric, or the one on the interface asked for', () => {
  const routes = parseRouteTable(ROUTES)
  assert.equal(defaultRoute(routes)?.iface, 'eno1')
  assert.equal(defaultRoute(routes, 'wlan0')?.gateway, 0x0a000001)
  assert.equal(defaultRoute(routes, 'eth9'), undefined)
})

test('parseResolvConf() lists IPv4 nameservers once, in order', () => {
  assert.deepEqual(
    parseResolvConf(
      '# comment\nsearch lan\nnameserver 192.168.1.1\nnameserver fe80::1\nnameserver 1.1.1.1\nnameserver 192.168.1.1\n',
    ),
    ['192.168.1.1', '1.1.1.1'],
  )
})

const interfaces = () =>
  ({
    lo: [
      {
        address: '127.0.0.1',
        netmask: '255.0.0.0',
        family: 'IPv4',
        mac: '00:00:00:00:00:00',
        internal: true,
        cidr: '127.0.0.1/8',
      },
    ],
    eno1: [
      {
        address: '192.168.1.2',
        netmask: '255.255.255.0',
        family: 'IPv4',
        mac: '00:1a:11:00:00:09',
        internal: false,
        cidr: '192.168.1.2/24',
      },
    ],
    wlan0: [
      {
        address: '10.0.5.7',
        netmask: '255.255.0.0',
        family: 'IPv4',
        mac: '00:1a:11:00:00:0a',
        internal: false,
        cidr: '10.0.5.7/16',
      },
    ],
  }) as unknown as ReturnType<typeof import('node:os').networkInterfaces>

const files = (map: Record<string, string>) => async (path: string) => {
  const text = map[path]
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' })
  return text
}

test('detectNetwork() follows the default route and drops loopback DNS servers', async () => {
  const net = await detectNetwork({
    interfaces,
    readText: files({
      '/proc/net/route': ROUTES,
      '/etc/resolv.conf': 'nameserver 127.0.0.1\nnameserver 192.168.1.1\n',
    }),
  })
  assert.deepEqual(net, {
    interface: 'eno1',
    address: '192.168.1.2',
    subnet: '192.168.1.0/24',
    gateway: '192.168.1.1',
    dns: ['192.168.1.1'],
    dnsSource: '/etc/resolv.conf',
  })
})

test("detectNetwork() reads systemd-resolved's upstream servers when resolv.conf names its stub", async () => {
  const net = await detectNetwork({
    interface: 'wlan0',
    interfaces,
    readText: files({
      '/proc/net/route': ROUTES,
      '/etc/resolv.conf': 'nameserver 127.0.0.53\noptions edns0\n',
      '/run/systemd/resolve/resolv.conf': 'nameserver 10.0.0.1\nnameserver 9.9.9.9\n',
    }),
  })
  assert.equal(net.subnet, '10.0.0.0/16')
  assert.equal(net.gateway, '10.0.0.1')
  assert.deepEqual(net.dns, ['10.0.0.1', '9.9.9.9'])
  assert.equal(net.dnsSource, '/run/systemd/resolve/resolv.conf (systemd-resolved)')
})

test('detectNetwork() says what to pass when there is no default route or no address', async () => {
  await assert.rejects(
    detectNetwork({ interfaces, readText: files({ '/proc/net/route': ROUTES.split('\n')[0] as string }) }),
    /no default route \(pass --interface IF/,
  )
  await assert.rejects(
    detectNetwork({ interface: 'eth9', interfaces, readText: files({ '/proc/net/route': ROUTES }) }),
    /Cannot use interface "eth9": it has no IPv4 address \(interfaces with one: eno1, wlan0; pass --interface IF\)/,
  )
})
