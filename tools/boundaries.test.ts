/**
 * The layer rules (.dependency-cruiser.cjs, docs/architecture.md "Rules") on trees laid out like the
 * repo, in a temporary folder: each planted bad import is reported with its rule and from → to, and
 * a tree that keeps to the layers passes.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { BOUNDARY_FOLDERS } from './check.ts'

const root = join(import.meta.dirname, '..')
const CRUISER = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs')
const CONFIG = join(root, '.dependency-cruiser.cjs')

/** A tree with `leaf.ts` in every checked folder, a fake npm package, and `files` (path → source). */
async function plant(files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'boundaries-'))
  const all: Record<string, string> = {
    'node_modules/fakepkg/package.json': '{ "name": "fakepkg", "version": "1.0.0", "main": "index.js" }\n',
    'node_modules/fakepkg/index.js': 'module.exports = 1\n',
  }
  for (const folder of BOUNDARY_FOLDERS) all[`${folder}/leaf.ts`] = 'export type Leaf = number\n'
  Object.assign(all, files)
  for (const [path, source] of Object.entries(all)) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), source)
  }
  return dir
}

/** Runs dependency-cruiser with our config over the tree, as `npm test` does. */
async function cruise(dir: string, outputType: 'json' | 'err'): Promise<{ code: number; stdout: string }> {
  const args = [CRUISER, '--config', CONFIG, '--output-type', outputType, ...BOUNDARY_FOLDERS]
  try {
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: dir, maxBuffer: 16 << 20 })
    return { code: 0, stdout }
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string }
    if (typeof e.code !== 'number') throw error
    return { code: e.code, stdout: e.stdout ?? '' }
  }
}

interface Violation {
  readonly from: string
  readonly to: string
  readonly rule: { readonly name: string }
}

/** `rule: from → to` for each violation, sorted. */
function violations(json: string): string[] {
  const result = JSON.parse(json) as { summary: { violations: Violation[] } }
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort()
}

const imports = (...paths: string[]) =>
  `${paths.map((p, i) => `import type { Leaf as L${i} } from '${p}'`).join('\n')}\nexport type T = ${paths.map((_, i) => `L${i}`).join(' | ')}\n`

test('dependency-cruiser with .dependency-cruiser.cjs reports each planted bad import with its rule and from → to', async () => {
  const dir = await plant({
    'lib/a.ts': "import { x } from '../metal/x.ts'\nexport const a = x\n",
    'lib/types.ts': imports('../core/leaf.ts'), // type-only: counts too
    'lib/ipv4/index.ts': "export { parse } from './parse.ts'\n",
    'lib/ipv4/parse.ts': 'export const parse = 1\n',
    'lib/dhcp4/packet.ts': imports('../ipv4/parse.ts'),
    'metal/deep.ts': imports('../lib/ipv4/parse.ts'),
    'core/m.ts': imports('../metal/leaf.ts'),
    'core/config/x.ts': imports('../log/leaf.ts'),
    'core/log/leaf.ts': 'export type Leaf = number\n',
    'core/c1.ts': "import { c2 } from './c2.ts'\nexport const c1 = (): number => c2()\n",
    'core/c2.ts': "import { c1 } from './c1.ts'\nexport const c2 = (): number => c1()\n",
    'metal/x.ts': `${imports('../test/leaf.ts', '../bench/leaf.ts')}export const x = 1\n`,
    'metal/m.ts': imports('../lab/leaf.ts', '../cli/leaf.ts'),
    'bootstrap/b.ts': imports('../metal/leaf.ts'),
    'lab/l.ts': imports('../flow/leaf.ts'),
    'flow/f.ts': imports('../cli/leaf.ts'),
    'cli/c.ts': imports('../tools/leaf.ts'),
    'bench/b.ts': imports('../test/leaf.ts'),
    'tools/t.ts': imports('../test/leaf.ts'),
  })
  try {
    assert.deepEqual(violations((await cruise(dir, 'json')).stdout), [
      'bootstrap-imports-no-metal: bootstrap/b.ts → metal/leaf.ts',
      'core-config-imports-no-log: core/config/x.ts → core/log/leaf.ts',
      'core-imports-only-lib-and-core: core/m.ts → metal/leaf.ts',
      'flow-imports-no-cli: flow/f.ts → cli/leaf.ts',
      'lab-imports-no-upper-layer: lab/l.ts → flow/leaf.ts',
      'lib-imports-only-lib: lib/a.ts → metal/x.ts',
      'lib-imports-only-lib: lib/types.ts → core/leaf.ts',
      'lib-used-through-index: lib/dhcp4/packet.ts → lib/ipv4/parse.ts',
      'lib-used-through-index: metal/deep.ts → lib/ipv4/parse.ts',
      'metal-imports-no-upper-layer: metal/m.ts → cli/leaf.ts',
      'metal-imports-no-upper-layer: metal/m.ts → lab/leaf.ts',
      'no-circular: core/c1.ts → core/c2.ts',
      'only-tests-import-test: bench/b.ts → test/leaf.ts',
      'only-tests-import-test: metal/x.ts → test/leaf.ts',
      'only-tests-import-test: tools/t.ts → test/leaf.ts',
      'product-imports-no-tools-or-bench: cli/c.ts → tools/leaf.ts',
      'product-imports-no-tools-or-bench: metal/x.ts → bench/leaf.ts',
    ])
    // What `npm test` prints: the rule and the offending import, one per line, and a failing exit.
    const text = await cruise(dir, 'err')
    assert.notEqual(text.code, 0)
    assert.match(text.stdout, /^ {2}error lib-imports-only-lib: lib\/a\.ts → metal\/x\.ts$/m)
    assert.match(text.stdout, /^ {2}error no-circular: core\/c1\.ts → $/m)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('dependency-cruiser with .dependency-cruiser.cjs passes a tree whose imports follow the layers', async () => {
  const dir = await plant({
    'lib/a.ts':
      "import { readFileSync } from 'node:fs'\nimport fake from 'fakepkg'\nexport const a = [readFileSync, fake]\n",
    'lib/b/b.ts': imports('../leaf.ts', '../a.ts', './c.ts', '../d/index.ts'),
    'lib/b/c.ts': 'export type Leaf = number\n',
    'lib/d/index.ts': "export type { Leaf } from './e.ts'\n",
    'lib/d/e.ts': 'export type Leaf = number\n',
    'lib/d/e.test.ts': imports('../b/c.ts'),
    'lib/a.test.ts': imports('../test/leaf.ts', '../tools/leaf.ts'),
    'core/config/x.ts': imports('../../lib/leaf.ts'),
    'core/log/y.ts': imports('../config/x.ts', '../../lib/leaf.ts'),
    'metal/m.ts': imports('../core/leaf.ts', '../lib/leaf.ts', '../lib/d/index.ts'),
    'metal/m.test.ts': imports('../test/leaf.ts', '../tools/leaf.ts'),
    'metal/fixtures/f.ts': imports('../../test/leaf.ts'),
    'bootstrap/b.ts': imports('../core/leaf.ts', '../lib/leaf.ts'),
    'lab/l.ts': imports('../metal/leaf.ts', '../core/leaf.ts', '../lib/leaf.ts'),
    'flow/f.ts': imports('../bootstrap/leaf.ts', '../lab/leaf.ts', '../metal/leaf.ts', '../core/leaf.ts'),
    'cli/c.ts': imports('../flow/leaf.ts', '../bootstrap/leaf.ts', '../lab/leaf.ts', '../metal/leaf.ts'),
    'tools/t.ts': imports('../metal/leaf.ts', '../lab/leaf.ts', '../lib/leaf.ts'),
    'tools/t.test.ts': imports('../test/leaf.ts'),
    'bench/b.ts': imports('../tools/leaf.ts', '../metal/leaf.ts', '../lab/leaf.ts'),
    'test/t.ts': imports('../cli/leaf.ts', '../tools/leaf.ts', '../bench/leaf.ts'),
  })
  try {
    assert.deepEqual(violations((await cruise(dir, 'json')).stdout), [])
    const text = await cruise(dir, 'err')
    assert.equal(text.code, 0)
    assert.match(text.stdout, /no dependency violations found/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
