import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { RenderedManifest } from '../render/helm.ts'
import { BACKEND_FROM, routeReport } from './routes.ts'

// routeReport() is pure: rendered manifests in, problems and backends out (table-driven).

const ctx = { namespace: 'web', domain: 'lab.example', whole: true }
const gateway = { namespace: 'envoy-gateway', name: 'homelab', sectionName: 'https' }
const service: RenderedManifest = {
  template: 'templates/service.yaml',
  manifest: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } },
}

function route(spec: Record<string, unknown>, annotations?: Record<string, string>): RenderedManifest {
  return {
    template: 'templates/routes.yaml',
    manifest: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r', ...(annotations === undefined ? {} : { annotations }) },
      spec,
    },
  }
}

const ok = {
  parentRefs: [gateway],
  hostnames: ['web.lab.example'],
  rules: [{ backendRefs: [{ name: 'web', port: 80 }] }],
}

test('routeReport() table: each rule of docs/gitops.md, one message each', () => {
  const cases: { what: string; spec: Record<string, unknown>; problem?: RegExp }[] = [
    { what: 'a route as homelab.routes renders it', spec: ok },
    { what: 'no parentRefs', spec: { ...ok, parentRefs: [] }, problem: /has no parentRefs/ },
    {
      what: 'parentRef without a namespace means the route namespace, not the Gateway one',
      spec: { ...ok, parentRefs: [{ name: 'homelab', sectionName: 'https' }] },
      problem: /parentRef "web\/homelab" is not the shared Gateway "envoy-gateway\/homelab"/,
    },
    {
      what: 'every listener (no sectionName)',
      spec: { ...ok, parentRefs: [{ namespace: 'envoy-gateway', name: 'homelab' }] },
      problem: /attaches to listener "\(every listener\)", not "https"/,
    },
    {
      what: 'the http listener with backends',
      spec: { ...ok, parentRefs: [{ ...gateway, sectionName: 'http' }] },
      problem: /attaches to listener "http"/,
    },
    {
      what: 'no hostnames',
      spec: { ...ok, hostnames: [] },
      problem: /has no hostnames: give it <name>\.lab\.example/,
    },
    {
      what: 'a hostname that only ends like the domain',
      spec: { ...ok, hostnames: ['weblab.example'] },
      problem: /hostname "weblab\.example" is not under the domain "lab\.example"/,
    },
    {
      what: 'a backend in another namespace',
      spec: { ...ok, rules: [{ backendRefs: [{ name: 'web', namespace: 'other', port: 80 }] }] },
      problem: /backendRef "web" is in namespace "other", not "web"/,
    },
    {
      what: 'a backend that is not a Service',
      spec: {
        ...ok,
        rules: [{ backendRefs: [{ group: 'gateway.envoyproxy.io', kind: 'Backend', name: 'web' }] }],
      },
      problem: /backendRef "web" is not a Service/,
    },
    {
      what: 'a port the Service lacks',
      spec: { ...ok, rules: [{ backendRefs: [{ name: 'web', port: 8080 }] }] },
      problem: /backend Service "web" has no port 8080: set routes\[\]\.port to one of \[80\]/,
    },
  ]
  for (const c of cases) {
    const { problems } = routeReport([service, route(c.spec)], ctx)
    if (c.problem === undefined) assert.deepEqual(problems, [], c.what)
    else {
      assert.equal(problems.length, 1, `${c.what}: ${JSON.stringify(problems)}`)
      assert.equal(problems[0]?.template, 'templates/routes.yaml', c.what)
      assert.match(problems[0]?.message ?? '', c.problem, c.what)
    }
  }
})

test('routeReport() leaves a backend unverified only when the render cannot show it, and says why', () => {
  const missing = { ...ok, rules: [{ backendRefs: [{ name: 'upstream', port: 3000 }] }] }
  // Every upstream chart rendered: a missing Service is a problem.
  assert.match(
    routeReport([service, route(missing)], ctx).problems[0]?.message ?? '',
    /is not rendered by this component/,
  )
  // An upstream chart not rendered: unverified, no problem.
  const partial = routeReport([service, route(missing)], { ...ctx, whole: false })
  assert.deepEqual(partial.problems, [])
  assert.deepEqual(partial.backends, [
    {
      route: 'r',
      hostnames: ['web.lab.example'],
      service: 'upstream',
      port: 3000,
      state: 'unverified',
      reason: 'the upstream chart, not rendered',
    },
  ])
  // A Service from elsewhere, named on the route.
  const elsewhere = routeReport([route(missing, { [BACKEND_FROM]: 'install/' })], ctx)
  assert.deepEqual(elsewhere.problems, [])
  assert.equal(elsewhere.backends[0]?.reason, 'install/')
  // Found in the render: checked, even when the upstream chart was not rendered.
  assert.equal(routeReport([service, route(ok)], { ...ctx, whole: false }).backends[0]?.state, 'checked')
})

test('routeReport() accepts the https redirect: no backends, on the http listener, the wildcard hostname', () => {
  const redirect = route({
    parentRefs: [{ ...gateway, sectionName: 'http' }],
    hostnames: ['*.lab.example'],
    rules: [
      { filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', statusCode: 301 } }] },
    ],
  })
  assert.deepEqual(routeReport([redirect], { ...ctx, namespace: 'envoy-gateway' }), {
    problems: [],
    backends: [],
  })
})
