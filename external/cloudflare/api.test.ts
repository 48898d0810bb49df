import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CloudflareApiError, createCloudflareApi, MAX_ANSWER_BYTES } from './api.ts'

const TOKEN = 'unitTestToken_0123456789abcdefghijkl'

/** A fetch that answers from `answer(url)` and records each request's URL and headers. */
function fakeFetch(answer: (url: URL, init: RequestInit) => { status?: number; body: string }) {
  const seen: { url: URL; init: RequestInit }[] = []
  const fetch = (async (input: string | URL, init: RequestInit = {}) => {
    const url = new URL(String(input))
    seen.push({ url, init })
    const { status = 200, body } = answer(url, init)
    return new Response(body, { status, headers: { 'content-type': 'application/json' } })
  }) as typeof globalThis.fetch
  return { fetch, seen }
}

const ok = (result: unknown, info?: object) =>
  JSON.stringify({ success: true, errors: [], messages: [], result, ...(info ? { result_info: info } : {}) })

test('tokens() reads every page until total_pages, asking 50 at a time, with the bearer token', async () => {
  const { fetch, seen } = fakeFetch((url) => {
    const page = Number(url.searchParams.get('page'))
    const items =
      page === 1
        ? Array.from({ length: 50 }, (_, i) => ({ id: `t${i}`, name: `n${i}` }))
        : [{ id: 't50', name: 'n50' }]
    return { body: ok(items, { page, per_page: 50, count: items.length, total_count: 51, total_pages: 2 }) }
  })
  const tokens = await createCloudflareApi({
    token: TOKEN,
    baseUrl: 'http://cf.invalid/client/v4',
    fetch,
  }).tokens()
  assert.equal(tokens.length, 51)
  assert.deepEqual(
    seen.map((s) => `${s.url.pathname}?${s.url.searchParams}`),
    ['/client/v4/user/tokens?page=1&per_page=50', '/client/v4/user/tokens?page=2&per_page=50'],
  )
  assert.equal(
    (seen[0]?.init.headers as Record<string, string> | undefined)?.authorization,
    `Bearer ${TOKEN}`,
  )
})

test('a list without result_info stops at the first empty page, as the SDK pager does', async () => {
  const { fetch, seen } = fakeFetch((url) => ({
    body: ok(url.searchParams.get('page') === '1' ? [{ id: 'z', name: 'example.com' }] : []),
  }))
  const zone = await createCloudflareApi({ token: TOKEN, fetch }).zoneByName('acc', 'example.com')
  assert.equal(zone?.id, 'z')
  assert.equal(seen.length, 2)
  assert.equal(seen[0]?.url.searchParams.get('account.id'), 'acc')
})

test('an error envelope becomes CloudflareApiError with its codes, and the token is not in its message', async () => {
  const { fetch } = fakeFetch(() => ({
    status: 401,
    body: JSON.stringify({
      success: false,
      errors: [{ code: 1000, message: 'Invalid API Token' }],
      messages: [],
      result: null,
    }),
  }))
  await assert.rejects(
    createCloudflareApi({ token: TOKEN, fetch }).verifyToken(),
    (e: CloudflareApiError) => {
      assert.ok(e instanceof CloudflareApiError)
      assert.equal(e.message, 'Cloudflare API GET /user/tokens/verify: 401: Invalid API Token (code 1000)')
      assert.deepEqual(e.codes, [1000])
      assert.equal(e.invalidToken, true)
      assert.ok(!e.message.includes(TOKEN))
      return true
    },
  )
})

test('a 200 answer that is not a v4 envelope, or success false, is an error', async () => {
  const html = fakeFetch(() => ({ body: '<html>captive portal</html>' }))
  await assert.rejects(createCloudflareApi({ token: TOKEN, fetch: html.fetch }).permissionGroups(), {
    message: 'Cloudflare API GET /user/tokens/permission_groups: 200: not a v4 API answer',
  })
  const failed = fakeFetch(() => ({
    body: JSON.stringify({
      success: false,
      errors: [{ code: 9109, message: 'Unauthorized to access requested resource' }],
      messages: [],
      result: null,
    }),
  }))
  await assert.rejects(
    createCloudflareApi({ token: TOKEN, fetch: failed.fetch }).tokens(),
    (e: CloudflareApiError) => e.codes[0] === 9109 && !e.invalidToken,
  )
})

test('an answer larger than MAX_ANSWER_BYTES is refused', async () => {
  const { fetch } = fakeFetch(() => ({ body: ok('x'.repeat(MAX_ANSWER_BYTES)) }))
  await assert.rejects(
    createCloudflareApi({ token: TOKEN, fetch }).rollToken('id'),
    /exceeds 4194304 bytes: refused/,
  )
})

test('a list that never ends is refused instead of read forever', async () => {
  const { fetch } = fakeFetch(() => ({ body: ok([{ id: 'r', name: 'x' }]) }))
  await assert.rejects(
    createCloudflareApi({ token: TOKEN, fetch }).dnsRecordsNamed('z', 'x'),
    /more than 200 pages/,
  )
})
