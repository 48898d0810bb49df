/**
 * `npm test` / `make test`: everything that guards the project, in order:
 * format and lint (Biome), typecheck (tsc), then every test file (node:test):
 * unit, integration (network namespaces, real clients) and end-to-end (QEMU).
 * Fails when any step fails or when no test ran.
 *
 *   tools/node24 tools/check.ts                 all steps
 *   tools/node24 tools/check.ts test [GLOB...]   only tests (optionally some files)
 */
import { spawn } from 'node:child_process'
import { glob } from 'node:fs/promises'
import { join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')
const node = process.execPath
const [mode, ...patterns] = process.argv.slice(2)

function run(
  label: string,
  cmd: string,
  args: string[],
  capture = false,
): Promise<{ code: number; out: string }> {
  process.stdout.write(`\n▶ ${label}\n`)
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] })
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      process.stdout.write(chunk)
    })
    child.on('error', reject)
    child.on('close', (code) => {
      process.stdout.write(
        `◀ ${label}: ${code === 0 ? 'ok' : `failed (exit ${code})`} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      )
      resolve({ code: code ?? 1, out })
    })
  })
}

async function testFiles(): Promise<string[]> {
  const wanted = patterns.length > 0 ? patterns : ['**/*.test.ts']
  const files: string[] = []
  for await (const file of glob(wanted, {
    cwd: root,
    exclude: (name) => name === 'node_modules' || name === '.cache' || name === '.git',
  })) {
    files.push(relative(root, join(root, file)))
  }
  return files.sort()
}

async function main(): Promise<number> {
  if (mode !== 'test') {
    const biome = await run('format and lint (biome ci)', node, [
      join(root, 'node_modules/@biomejs/biome/bin/biome'),
      'ci',
      '.',
    ])
    if (biome.code !== 0) return 1
    const tsc = await run('typecheck (tsc --noEmit)', node, [
      join(root, 'node_modules/typescript/bin/tsc'),
      '--noEmit',
      '-p',
      root,
    ])
    if (tsc.code !== 0) return 1
  }
  const files = await testFiles()
  if (files.length === 0) {
    process.stderr.write('check: no test files found: that is a failure, not a pass\n')
    return 1
  }
  const result = await run(
    `tests (${files.length} files)`,
    node,
    ['--test', '--test-reporter=spec', '--test-timeout=900000', ...files],
    true,
  )
  const ran = /^ℹ tests (\d+)$/m.exec(result.out)
  if (ran === null || Number(ran[1]) === 0) {
    process.stderr.write('check: the test runner ran no test: that is a failure, not a pass\n')
    return 1
  }
  return result.code === 0 ? 0 : 1
}

process.exitCode = await main()
