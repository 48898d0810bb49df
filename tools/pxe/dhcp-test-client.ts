/**
 * A DHCP client built on our codec, for tests and the benchmark. It runs inside a
 * network namespace as root, bound to 0.0.0.0:68; the caller adds a host route
 * `255.255.255.255/32 dev eth0` first so broadcasts can leave an unaddressed interface.
 * It sets the BROADCAST flag, as PXE ROMs do, so every server answers by broadcast.
 *
 *   pxe:  behaves like PXE firmware beside a router and a proxyDHCP server: broadcasts
 *         a DISCOVER with PXE options, collects offers until it has a lease offer and a
 *         proxy offer (or --collect-ms passed), takes its address from the offer with
 *         yiaddr and its boot file from the proxy offer, REQUESTs the address from that
 *         server, configures it, then asks the proxy on port 4011 and prints the result
 *         as one JSON line. Its waits end as soon as the answer is there; their limits
 *         only bound a run against a server that never answers.
 *   load: --clients N MACs (02:00:00:00:xx:yy) each do DISCOVER -> REQUEST -> ACK,
 *         --window at a time, --rounds times; prints one JSON line with the timing.
 *
 *   tools/node24 tools/pxe/dhcp-test-client.ts pxe --mac 02:.. --arch 7 [--dev eth0]
 *   tools/node24 tools/pxe/dhcp-test-client.ts load --clients 200 --window 32 --rounds 5
 */
import { execFileSync } from 'node:child_process'
import { createSocket, type RemoteInfo } from 'node:dgram'
import { parseArgs } from 'node:util'
import {
  BootOp,
  clientRequest,
  DhcpOption,
  type DhcpPacket,
  decodeDhcp,
  encodeDhcp,
  MessageType,
  optIp,
  optString,
  optUint8,
  optUint16,
} from '../../lib/dhcp4/index.ts'
import { formatIPv4 } from '../../lib/ipv4/index.ts'

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    mac: { type: 'string', default: '02:00:00:00:00:99' },
    arch: { type: 'string', default: '7' },
    dev: { type: 'string', default: 'eth0' },
    'collect-ms': { type: 'string', default: '30000' },
    clients: { type: 'string', default: '200' },
    window: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '1' },
    'timeout-ms': { type: 'string', default: '1000' },
  },
})

const socket = createSocket({ type: 'udp4', reuseAddr: true })
await new Promise<void>((resolve) => socket.bind(68, '0.0.0.0', resolve))
socket.setBroadcast(true)

type Listener = (packet: DhcpPacket, rinfo: RemoteInfo) => void
const byXid = new Map<number, Listener>()
socket.on('message', (bytes, rinfo) => {
  let packet: DhcpPacket
  try {
    packet = decodeDhcp(bytes)
  } catch {
    return
  }
  if (packet.op === BootOp.Reply) byXid.get(packet.xid)?.(packet, rinfo)
})

function request(
  xid: number,
  mac: string,
  type: number,
  extra: [number, Uint8Array][],
  ciaddr = 0,
  pxe = true,
): Uint8Array {
  const arch = Number(values.arch)
  const options: [number, Uint8Array][] = [
    [DhcpOption.MessageType, optUint8(type)],
    [DhcpOption.ParameterRequestList, Uint8Array.of(1, 3, 6, 43, 60, 66, 67, 97)],
    [DhcpOption.MaxMessageSize, optUint16(1464)],
    [DhcpOption.ClientMachineIdentifier, Uint8Array.of(0, ...new Uint8Array(16).fill(0x42))],
    ...extra,
  ]
  if (pxe) {
    options.push([
      DhcpOption.VendorClassIdentifier,
      optString(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003016`),
    ])
    options.push([DhcpOption.ClientSystemArchitecture, optUint16(arch)])
    options.push([DhcpOption.ClientNetworkInterface, Uint8Array.of(1, 3, 16)])
  }
  return encodeDhcp(clientRequest({ mac, xid, options, ciaddr }))
}

function send(bytes: Uint8Array, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(bytes, port, address, (e) => (e ? reject(e) : resolve())),
  )
}

/** Sends, then waits for the first reply of `type` for this xid; retries up to 3 times. */
async function exchange(
  xid: number,
  bytes: Uint8Array,
  want: number,
  timeoutMs: number,
): Promise<DhcpPacket> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const reply = new Promise<DhcpPacket | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs)
      byXid.set(xid, (p) => {
        const t = p.options.uint8(DhcpOption.MessageType)
        if (t === want || t === MessageType.Nak) {
          clearTimeout(timer)
          resolve(p)
        }
      })
    })
    await send(bytes, 67, '255.255.255.255')
    const p = await reply
    if (p !== undefined) {
      byXid.delete(xid)
      if (p.options.uint8(DhcpOption.MessageType) === MessageType.Nak) throw new Error(`NAK for xid ${xid}`)
      return p
    }
  }
  byXid.delete(xid)
  throw new Error(`no reply of type ${want} for xid ${xid}`)
}

function summary(p: DhcpPacket) {
  return {
    server: formatIPv4(p.options.ip(DhcpOption.ServerIdentifier) ?? 0),
    yiaddr: formatIPv4(p.yiaddr),
    siaddr: formatIPv4(p.siaddr),
    file: p.file,
    bootfile: p.options.string(DhcpOption.BootfileName),
    vendorClass: p.options.string(DhcpOption.VendorClassIdentifier),
    vendorOptions: p.options.get(DhcpOption.VendorSpecific)
      ? Buffer.from(p.options.get(43) as Uint8Array).toString('hex')
      : undefined,
    guidEchoed: p.options.has(DhcpOption.ClientMachineIdentifier),
  }
}

/** Answers wait at most this long: only a server that never answers gets there. */
const PATIENCE_MS = 30_000

const isLeaseOffer = (o: DhcpPacket): boolean => o.yiaddr !== 0
const isProxyOffer = (o: DhcpPacket): boolean =>
  o.yiaddr === 0 && o.options.string(DhcpOption.VendorClassIdentifier)?.startsWith('PXEClient') === true

async function pxe(): Promise<unknown> {
  const mac = values.mac
  const xid = (Math.random() * 0xffffffff) >>> 0
  const offers: DhcpPacket[] = []
  const collected = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Number(values['collect-ms']))
    byXid.set(xid, (p) => {
      if (p.options.uint8(DhcpOption.MessageType) !== MessageType.Offer) return
      offers.push(p)
      if (offers.some(isLeaseOffer) && offers.some(isProxyOffer)) {
        clearTimeout(timer)
        resolve()
      }
    })
  })
  await send(request(xid, mac, MessageType.Discover, []), 67, '255.255.255.255')
  await collected
  byXid.delete(xid)
  const lease = offers.find(isLeaseOffer)
  const proxy = offers.find(isProxyOffer)
  const result: Record<string, unknown> = { offers: offers.map(summary) }
  if (lease === undefined) return { ...result, error: 'no lease offer' }
  const leaseServer = lease.options.ip(DhcpOption.ServerIdentifier) as number
  const ack = await exchange(
    xid,
    request(xid, mac, MessageType.Request, [
      [DhcpOption.ServerIdentifier, optIp(leaseServer)],
      [DhcpOption.RequestedIpAddress, optIp(lease.yiaddr)],
    ]),
    MessageType.Ack,
    PATIENCE_MS / 3,
  )
  result.ack = summary(ack)
  const mask = ack.options.ip(DhcpOption.SubnetMask) ?? 0xffffff00
  let prefix = 0
  while (prefix < 32 && ((mask >>> (31 - prefix)) & 1) === 1) prefix++
  execFileSync('ip', ['addr', 'add', `${formatIPv4(ack.yiaddr)}/${prefix}`, 'dev', values.dev])
  if (proxy === undefined) return { ...result, error: 'no proxy offer' }
  const proxyServer = formatIPv4(proxy.options.ip(DhcpOption.ServerIdentifier) ?? proxy.siaddr)
  // PXE spec 2.1 §2.2.5: the boot-server REQUEST goes unicast to port 4011 from the new address.
  const xid2 = (xid + 1) >>> 0
  const proxyAck = await new Promise<DhcpPacket | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), PATIENCE_MS)
    byXid.set(xid2, (p, rinfo) => {
      if (rinfo.port !== 4011) return
      clearTimeout(timer)
      resolve(p)
    })
    void send(request(xid2, mac, MessageType.Request, [], ack.yiaddr), 4011, proxyServer)
  })
  result.proxyAck = proxyAck === undefined ? undefined : summary(proxyAck)
  return result
}

async function load(): Promise<unknown> {
  const clients = Number(values.clients)
  const windowSize = Number(values.window)
  const rounds = Number(values.rounds)
  const timeoutMs = Number(values['timeout-ms'])
  const macs = Array.from(
    { length: clients },
    (_, i) =>
      `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  )
  let nextXid = (Math.random() * 0x7fffffff) >>> 0
  let failures = 0
  const latencies: number[] = []
  const one = async (mac: string) => {
    const xid = nextXid++ >>> 0
    const started = performance.now()
    try {
      const offer = await exchange(
        xid,
        request(xid, mac, MessageType.Discover, []),
        MessageType.Offer,
        timeoutMs,
      )
      await exchange(
        xid,
        request(xid, mac, MessageType.Request, [
          [DhcpOption.ServerIdentifier, optIp(offer.options.ip(DhcpOption.ServerIdentifier) as number)],
          [DhcpOption.RequestedIpAddress, optIp(offer.yiaddr)],
        ]),
        MessageType.Ack,
        timeoutMs,
      )
      latencies.push(performance.now() - started)
    } catch {
      failures++
    }
  }
  const started = performance.now()
  for (let round = 0; round < rounds; round++) {
    let next = 0
    const worker = async () => {
      while (next < macs.length) await one(macs[next++] as string)
    }
    await Promise.all(Array.from({ length: Math.min(windowSize, macs.length) }, worker))
  }
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  return {
    transactions: latencies.length,
    failures,
    seconds,
    tps: latencies.length / seconds,
    p50ms: latencies[Math.floor(latencies.length / 2)] ?? null,
    p99ms: latencies[Math.floor(latencies.length * 0.99)] ?? null,
  }
}

try {
  const result = positionals[0] === 'load' ? await load() : await pxe()
  process.stdout.write(`${JSON.stringify(result)}\n`)
} catch (error) {
  process.stdout.write(
    `${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`,
  )
  process.exitCode = 1
} finally {
  socket.close()
}
