/** routeRequest() and clientIp(): request routing and validation without a server. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientIp, type Route, routeRequest } from './http-request.ts'

const IP = '10.0.0.50'

test('routeRequest() routes files by their normalised path, and /report/ to the report endpoint', () => {
  const cases: { method: string; target: string; expected: Route }[] = [
    {
      method: 'GET',
      target: '/boot/./vmlinuz?x=1',
      expected: { kind: 'file', path: 'boot/vmlinuz', shownPath: '/boot/vmlinuz' },
    },
    {
      method: 'HEAD',
      target: 'http://pxe/a%20b',
      expected: { kind: 'file', path: 'a b', shownPath: '/a b' },
    },
    {
      method: 'POST',
      target: '/report/installed?detail=ok',
      expected: { kind: 'report', stage: 'installed', query: 'detail=ok', shownPath: '/report/installed' },
    },
    {
      method: 'PUT',
      target: '//report/a/b',
      expected: { kind: 'report', stage: 'a/b', query: '', shownPath: '/report/a/b' },
    },
  ]
  for (const { method, target, expected } of cases) {
    assert.deepEqual(routeRequest(method, target, IP), expected, `${method} ${target}`)
  }
})

test('routeRequest() rejects bad targets, methods, "/" and escaping paths with the status and a reason', () => {
  const cases: { method: string; target: string; status: number; why: RegExp; headers: object }[] = [
    {
      method: 'GET',
      target: '*',
      status: 400,
      why: /is not a path \(from 10\.0\.0\.50\)$/,
      headers: { Connection: 'close' },
    },
    {
      method: 'GET',
      target: '/%zz',
      status: 400,
      why: /bad percent-escape "%zz"/,
      headers: { Connection: 'close' },
    },
    {
      method: 'GET',
      target: `/${'a'.repeat(20)}`,
      status: 414,
      why: /more than the 16 allowed/,
      headers: { Connection: 'close' },
    },
    {
      method: 'DELETE',
      target: '/x',
      status: 405,
      why: /method DELETE from 10\.0\.0\.50 is not GET or HEAD/,
      headers: { Allow: 'GET, HEAD' },
    },
    { method: 'GET', target: '/', status: 404, why: /"\/" asked by 10\.0\.0\.50 names no file/, headers: {} },
    {
      method: 'GET',
      target: '/a/../../x',
      status: 400,
      why: /: "\/a\/\.\.\/\.\.\/x" from 10\.0\.0\.50$/,
      headers: {},
    },
  ]
  for (const c of cases) {
    const route = routeRequest(c.method, c.target, IP, 16)
    assert.equal(route.kind, 'reject', `${c.method} ${c.target}`)
    if (route.kind !== 'reject') continue
    assert.equal(route.status, c.status, `${c.method} ${c.target}`)
    assert.match(route.why, c.why)
    assert.deepEqual(route.headers, c.headers)
    assert.equal(route.shownPath, c.target.split('?')[0])
  }
})

test('routeRequest() bounds the path it shows in logs to 256 characters', () => {
  const route = routeRequest('GET', `/${'%zz'.repeat(200)}`, IP)
  assert.equal(route.shownPath.length, 256)
})

test('clientIp() unwraps IPv4-mapped IPv6 addresses and keeps others', () => {
  assert.equal(clientIp('::ffff:10.0.0.5'), '10.0.0.5')
  assert.equal(clientIp('fe80::1'), 'fe80::1')
  assert.equal(clientIp('10.0.0.5'), '10.0.0.5')
  assert.equal(clientIp(undefined), '')
})
