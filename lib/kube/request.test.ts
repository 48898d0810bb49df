import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeBody, pathFor, requestHeaders, responseBody } from './client.ts'

test('encodeBody(): objects as JSON, strings and Buffers as they are; the content type defaults to JSON only with a body', () => {
  const json = encodeBody({ a: 1 }, undefined)
  assert.deepEqual([json.payload?.toString(), json.contentType], ['{"a":1}', 'application/json'])
  const text = encodeBody('a: 1', 'application/apply-patch+yaml')
  assert.deepEqual([text.payload?.toString(), text.contentType], ['a: 1', 'application/apply-patch+yaml'])
  assert.equal(encodeBody(Buffer.from([1, 2]), undefined).payload?.length, 2)
  assert.deepEqual(encodeBody(undefined, undefined), { payload: undefined, contentType: undefined })
})

test('requestHeaders(): accept JSON always; content type, length and bearer token when there are', () => {
  assert.deepEqual(requestHeaders(undefined, undefined, undefined), { accept: 'application/json' })
  assert.deepEqual(requestHeaders('t0k', 'application/json', Buffer.from('{}')), {
    accept: 'application/json',
    'content-type': 'application/json',
    'content-length': '2',
    authorization: 'Bearer t0k',
  })
})

test('requestHeaders(): adds extra headers, which never replace the ones the client sets', () => {
  assert.deepEqual(
    requestHeaders('t0k', undefined, undefined, { 'x-vault-token': 'v', authorization: 'Bearer other' }),
    { 'x-vault-token': 'v', accept: 'application/json', authorization: 'Bearer t0k' },
  )
})

test('responseBody(): JSON parsed when the type says so, text otherwise or when it does not parse, undefined when empty', () => {
  assert.deepEqual(
    [
      responseBody('{"kind":"Status"}', 'application/json'),
      responseBody('{"kind"', 'application/json'),
      responseBody('plain', 'text/plain'),
      responseBody('', 'application/json'),
    ],
    [{ kind: 'Status' }, '{"kind"', 'plain', undefined],
  )
})

test('pathFor(): namespaced objects under their namespace (default when none), names escaped, collections without a name', () => {
  const pods = { prefix: '/api/v1', plural: 'pods', namespaced: true }
  const crds = {
    prefix: '/apis/apiextensions.k8s.io/v1',
    plural: 'customresourcedefinitions',
    namespaced: false,
  }
  assert.deepEqual(
    [
      pathFor(pods, { metadata: { name: 'a b', namespace: 'kube-system' } }),
      pathFor(pods, { metadata: { name: 'x' } }),
      pathFor(pods, {}),
      pathFor(crds, { metadata: { name: 'apps.argoproj.io', namespace: 'ignored' } }),
    ],
    [
      '/api/v1/namespaces/kube-system/pods/a%20b',
      '/api/v1/namespaces/default/pods/x',
      '/api/v1/namespaces/default/pods',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/apps.argoproj.io',
    ],
  )
})
