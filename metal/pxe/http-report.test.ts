/** readReport(), readBody(), sanitizeDetail(), trimLog(): the report endpoint, alone and behind serveHttp(). */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { GeneratedSource } from './files.ts'
import { type HttpServer, serveHttp } from './http.ts'
import {
  DEFAULT_MAX_LOG_BYTES,
  IFNAME,
  type InstallReport,
  LOG_TAIL,
  type ReportRequest,
  readBody,
  readReport,
  sanitizeDetail,
  sanitizeLine,
  trimLog,
} from './http-report.ts'
import type { MachineDirectory } from './machine-directory.ts'
import { EventLog } from './test-events.ts'

function request(
  method: string,
  body: string[] = [],
  headers: ReportRequest['headers'] = {},
): ReportRequest & { consumed: number } {
  const req = {
    method,
    headers,
    consumed: 0,
    async *[Symbol.asyncIterator]() {
      for (const chunk of body) {
        req.consumed++
        yield Buffer.from(chunk)
      }
    },
  }
  return req
}

test('readReport() accepts a GET with ?detail= and a POST with a text or form body', async () => {
  assert.deepEqual(await readReport(request('GET'), 'started', 'detail=a%20b', '10.0.0.5', 'node1', 100), {
    kind: 'accepted',
    report: { machine: 'node1', ip: '10.0.0.5', stage: 'started', detail: 'a b' },
  })
  const text = await readReport(request('POST', ['disk ', 'ok']), 'installed', '', '10.0.0.5', 'node1', 100)
  assert.deepEqual(text, {
    kind: 'accepted',
    report: { machine: 'node1', ip: '10.0.0.5', stage: 'installed', detail: 'disk ok' },
  })
  const form = request('POST', ['detail=from+form&x=1'], {
    'content-type': 'application/x-www-form-urlencoded',
  })
  const fromForm = await readReport(form, 'installed', 'detail=query', '10.0.0.5', 'node1', 100)
  assert.equal(fromForm.kind === 'accepted' ? fromForm.report.detail : undefined, 'from form')
  const bare = await readReport(request('GET'), 'started', '', '10.0.0.5', 'node1', 100)
  assert.deepEqual(bare, { kind: 'accepted', report: { machine: 'node1', ip: '10.0.0.5', stage: 'started' } })
})

test('readReport() rejects methods, strangers, bad stages and large details, without reading a stranger body', async () => {
  const status = async (req: ReportRequest, stage: string, machine: string | undefined, query = '') => {
    const outcome = await readReport(req, stage, query, '10.0.0.9', machine, 8)
    return outcome.kind === 'rejected' ? [outcome.status, outcome.headers] : ['accepted']
  }
  assert.deepEqual(await status(request('PUT'), 'x', 'node1'), [405, { Allow: 'GET, POST' }])
  const stranger = request('POST', ['secret'])
  assert.deepEqual(await status(stranger, 'x', undefined), [403, { Connection: 'close' }])
  assert.equal(stranger.consumed, 0)
  assert.deepEqual(await status(request('GET'), 'Bad_Stage', 'node1'), [400, { Connection: 'close' }])
  assert.deepEqual(await status(request('GET'), 'a/b', 'node1'), [400, { Connection: 'close' }])
  assert.deepEqual(await status(request('POST', ['123456789']), 'x', 'node1'), [413, { Connection: 'close' }])
  assert.deepEqual(await status(request('GET'), 'x', 'node1', 'detail=123456789'), [413, {}])
  assert.deepEqual(await status(request('GET'), 'x', 'node1', 'detail=12345678'), ['accepted'])
})

test('readBody() stops at the limit, trusting neither a declared length nor its absence', async () => {
  assert.equal(await readBody(request('POST', ['x'], { 'content-length': '9' }), 8), undefined)
  const long = request('POST', ['1234', '5678', '9', 'never read'])
  assert.equal(await readBody(long, 8), undefined)
  assert.equal(long.consumed, 3)
  assert.deepEqual(await readBody(request('POST', ['1234', '5678']), 8), Buffer.from('12345678'))
})

test('sanitizeDetail() replaces control bytes (ESC, C1, DEL) with spaces and trims, keeping tabs and newlines', () => {
  assert.equal(sanitizeDetail(' \u001b[31mred\u007f\u009b\tok\n'), '[31mred  \tok')
})

test('sanitizeLine() turns every control, escape, line-separator and bidi character into a space', () => {
  assert.equal(
    sanitizeLine('a\u001b[2J\u009b31m\tb\u0007c\u2028d\u202eevil\u2066x\ufeff  '),
    'a [2J 31m b c d evil x',
  )
})

test('trimLog() keeps the last LOG_TAIL lines that fit in LOG_TAIL bytes, sanitised, blank lines dropped', () => {
  const log = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\r\n')
  assert.deepEqual(
    trimLog(log),
    Array.from({ length: LOG_TAIL.lines }, (_, i) => `line ${i + 10}`),
  )
  assert.deepEqual(trimLog('a\n\n  \n\u001b[31mb\r\rc\n'), ['a', ' [31mb', 'c'])
  // 100-byte lines: 20 of them with their newlines are 2020 bytes and fit; 200-byte lines: 10 fit.
  const wide = Array.from({ length: 25 }, (_, i) => `${String(i).padStart(2, '0')}${'x'.repeat(98)}`)
  const kept = trimLog(wide.join('\n'))
  assert.deepEqual(kept, wide.slice(-20))
  const wider = Array.from({ length: 25 }, (_, i) => `${String(i).padStart(2, '0')}${'y'.repeat(198)}`)
  const keptWider = trimLog(wider.join('\n'))
  assert.deepEqual(keptWider, wider.slice(-10))
  assert.ok(Buffer.byteLength(keptWider.join('\n')) <= LOG_TAIL.bytes)
  const one = trimLog(`start${'é'.repeat(3000)}end`)
  assert.equal(one.length, 1)
  assert.ok(one[0]?.startsWith('…') && one[0].endsWith('éend'))
  assert.ok(Buffer.byteLength(one[0] ?? '') <= LOG_TAIL.bytes)
})

test('IFNAME accepts Linux interface names and refuses everything else', () => {
  for (const ok of ['enp1s0', 'eth0', 'eno1', 'enx525400123456', 'br-lan', 'bond0.10', 'wlp2s0_x', 'a'])
    assert.ok(IFNAME.test(ok), ok)
  for (const bad of ['', '.', '..', 'a'.repeat(16), 'en p1', 'en/p1', 'eth0:1', 'eth0\n', 'é0', '$(reboot)'])
    assert.ok(!IFNAME.test(bad), JSON.stringify(bad))
})

test('readReport() reads /report/failed as a plain-text log whatever its Content-Type, up to maxLogBytes', async () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const body = 'anaconda: ok\ndetail=not a form&x\n\u001b[31mTraceback: disk sdz not found\n'
  const outcome = await readReport(request('POST', [body], form), 'failed', '', '10.0.0.5', 'node1', 8, 200)
  assert.deepEqual(outcome, {
    kind: 'accepted',
    report: {
      machine: 'node1',
      ip: '10.0.0.5',
      stage: 'failed',
      detail: ' [31mTraceback: disk sdz not found',
      log: ['anaconda: ok', 'detail=not a form&x', ' [31mTraceback: disk sdz not found'],
    },
  })
  const big = await readReport(request('POST', ['x'.repeat(201)]), 'failed', '', '10.0.0.5', 'node1', 8, 200)
  assert.equal(big.kind === 'rejected' ? big.status : 0, 413)
  const viaGet = await readReport(request('GET'), 'failed', 'detail=no+disk', '10.0.0.5', 'node1', 100)
  assert.deepEqual(viaGet.kind === 'accepted' ? viaGet.report.log : undefined, ['no disk'])
})

test('readReport() takes /report/nic as an interface name and refuses anything else with 400', async () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' }
  const ok = await readReport(request('POST', ['enp1s0\n'], form), 'nic', '', '10.0.0.5', 'node1', 100)
  assert.deepEqual(ok, {
    kind: 'accepted',
    report: { machine: 'node1', ip: '10.0.0.5', stage: 'nic', detail: 'enp1s0' },
  })
  const bad = await readReport(
    request('POST', ['eth0\u001b[2J; reboot']),
    'nic',
    '',
    '10.0.0.5',
    'node1',
    100,
  )
  assert.deepEqual(bad.kind === 'rejected' ? [bad.status, bad.why] : [], [
    400,
    'Cannot accept install report from node1: interface name "eth0 [2J; reboot" is not a Linux interface name (1 to 15 of A-Z a-z 0-9 _ . -)',
  ])
})

describe('serveHttp() /report/failed and /report/nic over real HTTP', () => {
  const log = new EventLog()
  const reports: InstallReport[] = []
  let server: HttpServer | undefined
  const machines: MachineDirectory = {
    byIp: (ip) => (ip === '127.0.0.2' ? { name: 'node1', mac: '02:00:00:00:00:01', ip } : undefined),
    byMac: () => undefined,
  }

  before(async () => {
    server = await serveHttp({
      host: '127.0.0.1',
      port: 0,
      files: new GeneratedSource(),
      machines,
      events: log.sink,
      onReport: (r) => {
        reports.push(r)
      },
    })
  })
  after(async () => {
    await server?.close()
  })

  /** POST like curl --data-binary @- (which sends a form Content-Type), from `from`. */
  function post(path: string, body: Buffer | string, from = '127.0.0.2'): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: server?.port,
          localAddress: from,
          method: 'POST',
          path,
          agent: false,
          headers: {
            'Content-Type': 'application/x-www-form-urlencoded',
            'Content-Length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        },
      )
      // A refused body may be cut off mid-upload: the status already came.
      req.on('error', reject)
      req.end(body)
    })
  }

  test('a failed installer log is accepted, trimmed and sanitised into the event; over 16 KiB is 413', async () => {
    log.clear()
    reports.length = 0
    const lines = Array.from({ length: 200 }, (_, i) => `anaconda ${i}: \u001b]0;title\u0007step`)
    const status = await post('/report/failed', `${lines.join('\n')}\nerror: disk not found\n`)
    assert.equal(status, 204)
    const [event] = log.of('install.report')
    assert.equal(event?.stage, 'failed')
    assert.equal(event?.detail, 'error: disk not found')
    assert.equal(event?.log?.length, LOG_TAIL.lines)
    assert.equal(event?.log?.[0], 'anaconda 181:  ]0;title step')
    assert.equal(reports.length, 1)
    assert.equal(await post('/report/failed', 'x'.repeat(DEFAULT_MAX_LOG_BYTES + 1)), 413)
    assert.equal(await post('/report/failed', 'x'.repeat(DEFAULT_MAX_LOG_BYTES)), 204)
  })

  test('an interface name is accepted; a bad one is 400; a stranger is 403 and reaches no onReport', async () => {
    reports.length = 0
    assert.equal(await post('/report/nic', 'enp1s0\n'), 204)
    assert.equal(await post('/report/nic', 'much-too-long-name0'), 400)
    assert.equal(await post('/report/nic', 'enp1s0', '127.0.0.9'), 403)
    assert.equal(await post('/report/failed', 'boom', '127.0.0.9'), 403)
    assert.deepEqual(reports, [{ machine: 'node1', ip: '127.0.0.2', stage: 'nic', detail: 'enp1s0' }])
  })
})
