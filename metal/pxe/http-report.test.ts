/** readReport(), readBody() and sanitizeDetail(): the report endpoint without a server. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type ReportRequest, readBody, readReport, sanitizeDetail } from './http-report.ts'

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
