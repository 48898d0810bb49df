/**
 * The layer boundaries of docs/architecture.md ("Rules"), checked by `npm test` (tools/check.ts):
 *
 *   tools/node24 node_modules/dependency-cruiser/bin/dependency-cruiser.mjs \
 *     -c .dependency-cruiser.cjs lib core metal lab bootstrap flow cli tools bench test
 *
 * Layers, bottom up: lib/ (generic libraries) < core/ (config, events) < metal/, bootstrap/ and external/
 * (side by side, none imports another) < lab/ (runs metal) < flow/ < cli/. A layer imports only the
 * layers below it. tools/ and bench/ are for development, test/ holds cross-layer tests and their
 * stand-ins: product code imports none of them. Test code (test/, *.test.ts, fixtures/) may import
 * tools/ and test/, and keeps to its layer otherwise.
 *
 * Type-only imports count (swc keeps `import type` in the graph; tools/boundaries.test.ts proves it).
 */
/** Test code: what only tests run. */
const TEST_CODE = '(^test/|\\.test\\.ts$|/fixtures/)'
/** What any code may import besides its own layer and the layers below it. */
const ALWAYS_ALLOWED = ['^node_modules/']
/** What test code may import besides that (product code may not: rules below). */
const TEST_SUPPORT = ['^test/', '^tools/']

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules import each other in a cycle: move what both need into a module of its own.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'lib-imports-only-lib',
      severity: 'error',
      comment:
        'lib/ holds generic libraries with no homelab knowledge: they import only lib/ (and Node, npm). ' +
        'Take plain values or define the small interface the library needs; homelab-specific code goes to its layer.',
      from: { path: '^lib/' },
      to: { pathNot: ['^lib/', ...ALWAYS_ALLOWED, ...TEST_SUPPORT], dependencyTypesNot: ['core'] },
    },
    {
      name: 'lib-used-through-index',
      severity: 'error',
      comment:
        "A library's index.ts is its public surface: code outside lib/X imports lib/X/index.ts, not the files " +
        'behind it (tests may reach inside).',
      from: { path: '^(lib/[^/]+/|core/|metal/|lab/|bootstrap/|external/|flow/|cli/)', pathNot: TEST_CODE },
      to: { path: '^lib/[^/]+/', pathNot: ['^lib/[^/]+/index\\.ts$', '^$1'] },
    },
    {
      name: 'core-imports-only-lib-and-core',
      severity: 'error',
      comment: 'core/ (config, events) is below every layer: it imports only lib/ and core/.',
      from: { path: '^core/' },
      to: { pathNot: ['^core/', '^lib/', ...ALWAYS_ALLOWED, ...TEST_SUPPORT], dependencyTypesNot: ['core'] },
    },
    {
      name: 'core-config-imports-no-log',
      severity: 'error',
      comment:
        'core/log renders what core/config reports (diagnostics, the summary): config below, log above. ' +
        'An import the other way makes the two folders a cycle.',
      from: { path: '^core/config/' },
      to: { path: '^core/log/' },
    },
    {
      name: 'metal-imports-no-upper-layer',
      severity: 'error',
      comment: 'metal/ (PXE, OS install, provisioning, k3s) imports no bootstrap/, lab/, flow/ or cli/.',
      from: { path: '^metal/' },
      to: { path: '^(bootstrap|lab|flow|cli)/' },
    },
    {
      name: 'bootstrap-imports-no-metal',
      severity: 'error',
      comment:
        'bootstrap/ (ArgoCD) talks to a cluster through the Kubernetes API: it imports no metal/, lab/, flow/ or cli/.',
      from: { path: '^bootstrap/' },
      to: { path: '^(metal|lab|flow|cli)/' },
    },
    {
      name: 'external-imports-no-upper-layer',
      severity: 'error',
      comment:
        'external/ (Cloudflare, through its API and the Kubernetes API) sits beside metal/ and bootstrap/: ' +
        'it imports no metal/, bootstrap/, lab/, flow/ or cli/, and they import no external/.',
      from: { path: '^external/' },
      to: { path: '^(metal|bootstrap|lab|flow|cli)/' },
    },
    {
      name: 'no-layer-beside-imports-external',
      severity: 'error',
      comment: 'metal/, bootstrap/ and lab/ import no external/ (only flow/ and cli/ do).',
      from: { path: '^(metal|bootstrap|lab|lib|core)/' },
      to: { path: '^external/' },
    },
    {
      name: 'lab-imports-no-upper-layer',
      severity: 'error',
      comment: 'lab/ (the QEMU lab) runs the product; it imports no bootstrap/, flow/ or cli/.',
      from: { path: '^lab/' },
      to: { path: '^(bootstrap|flow|cli)/' },
    },
    {
      name: 'flow-imports-no-cli',
      severity: 'error',
      comment: 'flow/ is called by the CLI: it imports nothing from cli/.',
      from: { path: '^flow/' },
      to: { path: '^cli/' },
    },
    {
      name: 'product-imports-no-tools-or-bench',
      severity: 'error',
      comment:
        'Product code ships without tools/ and bench/: it imports nothing from them (tests may import tools/).',
      from: { path: '^(lib|core|metal|lab|bootstrap|external|flow|cli)/', pathNot: TEST_CODE },
      to: { path: '^(tools|bench)/' },
    },
    {
      name: 'only-tests-import-test',
      severity: 'error',
      comment:
        'test/ is for tests: nothing else imports it (test files *.test.ts and fixtures anywhere may). ' +
        'What benchmarks or tools share with tests belongs in tools/.',
      from: { pathNot: ['^test/', TEST_CODE] },
      to: { path: '^test/' },
    },
  ],
  options: {
    // TypeScript 7 has no JS API: swc parses. swc keeps type-only imports in the graph by itself
    // (tools/boundaries.test.ts plants one), so tsPreCompilationDeps stays off: on, it only warns
    // that no TypeScript compiler below 7 is installed.
    parser: 'swc',
    tsPreCompilationDeps: false,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|\\.cache|\\.state)/' },
  },
}
