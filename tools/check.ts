/**
 * `npm test` / `make test`: everything that guards the project, in order: format and lint (Biome),
 * typecheck (tsc), the layer boundaries (dependency-cruiser), then every test file (node:test): unit,
 * integration (network namespaces, real clients) and end-to-end (QEMU). Fails when any step fails,
 * when a test file leaves a handle open (tools/test-guard.ts names it), or when no test ran.
 *
 *   tools/node24 tools/check.ts                       all steps
 *   tools/node24 tools/check.ts test [FILE|GLOB...]   only tests (optionally some files)
 *   tools/node24 tools/check.ts --repeat 20 --burn FILE...
 *                                                     stress mode: each file 20 times beside a CPU
 *                                                     burner, then pass counts per file
 *
 * Each test file runs in its own process. Files marked heavy (a `@heavy` tag in their first
 * comment: QEMU, many namespaces) run one at a time with nothing beside them; the others run
 * `--jobs` at a time (default: one per core). So the machine is never oversubscribed by the
 * suite itself, and a timing-sensitive file never shares the CPU with an emulated machine.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { glob, readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'

const root = join(import.meta.dirname, '..')
const node = process.execPath
const GUARD = join(root, 'tools', 'test-guard.ts')
/** A test that runs longer than this fails (node:test's own per-test timeout). */
const TEST_TIMEOUT_MS = 900_000
/** The folders whose imports .dependency-cruiser.cjs checks (docs/architecture.md, "Rules"). */
export const BOUNDARY_FOLDERS = [
  'lib',
  'core',
  'metal',
  'lab',
  'bootstrap',
  'flow',
  'cli',
  'tools',
  'bench',
  'test',
]

export interface FileResult {
  file: string
  code: number
  passed: number
  failed: number
  seconds: number
  output: string
}

const usage = `usage: tools/node24 tools/check.ts [test] [--repeat N] [--burn] [--jobs N] [FILE|GLOB...]
  test          only the tests (no format, lint, typecheck, boundaries)
  --repeat N    run each chosen file N times and print pass counts per file (implies test)
  --burn        run a CPU burner on every core meanwhile (implies test)
  --jobs N      light test files at once (default: ${availableParallelism()}, the number of cores)
`

/** A heavy file carries `@heavy` in its leading comment block. */
export function isHeavy(source: string): boolean {
  const head = /^\s*\/\*\*?([\s\S]*?)\*\//.exec(source)?.[1] ?? ''
  return /@heavy\b/.test(head)
}

/** Counts from the spec reporter's closing lines; a file that never got there counts as one failure. */
export function countResults(output: string, code: number): { passed: number; failed: number } {
  const pass = /^ℹ pass (\d+)$/m.exec(output)
  const fail = /^ℹ fail (\d+)$/m.exec(output)
  const cancelled = /^ℹ cancelled (\d+)$/m.exec(output)
  if (pass === null || fail === null) return { passed: 0, failed: 1 }
  const failed = Number(fail[1]) + Number(cancelled?.[1] ?? 0)
  return { passed: Number(pass[1]), failed: code !== 0 && failed === 0 ? 1 : failed }
}

function runStep(label: string, cmd: string, args: string[]): Promise<number> {
  process.stdout.write(`\n▶ ${label}\n`)
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
    child.on('error', reject)
    child.on('close', (code) => {
      const took = ((performance.now() - started) / 1000).toFixed(1)
      process.stdout.write(`◀ ${label}: ${code === 0 ? 'ok' : `failed (exit ${code})`} in ${took} s\n`)
      resolve(code ?? 1)
    })
  })
}

/** One test file in its own process, its output kept together and printed when it ends. */
function runFile(file: string, children: Set<ChildProcess>): Promise<FileResult> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(
      node,
      ['--import', GUARD, '--test-reporter=spec', `--test-timeout=${TEST_TIMEOUT_MS}`, file],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } },
    )
    children.add(child)
    const chunks: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => chunks.push(c))
    child.stderr.on('data', (c: Buffer) => chunks.push(c))
    child.on('error', reject)
    child.on('close', (code, signal) => {
      children.delete(child)
      const output = Buffer.concat(chunks).toString()
      const exit = code ?? (signal === null ? 1 : 128)
      resolve({
        file,
        code: exit,
        ...countResults(output, exit),
        seconds: (performance.now() - started) / 1000,
        output,
      })
    })
  })
}

/** Runs `files` (each entry once per repeat): heavy ones alone, the rest `jobs` at a time. */
async function schedule(
  files: { file: string; heavy: boolean }[],
  jobs: number,
  onDone: (r: FileResult) => void,
  children: Set<ChildProcess>,
  stopped: () => boolean,
): Promise<FileResult[]> {
  const results: FileResult[] = []
  const light = files.filter((f) => !f.heavy)
  const heavy = files.filter((f) => f.heavy)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < light.length && !stopped(); i = next++) {
      const entry = light[i]
      if (entry === undefined) break
      const r = await runFile(entry.file, children)
      results.push(r)
      onDone(r)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, light.length)) }, worker))
  for (const entry of heavy) {
    if (stopped()) break
    const r = await runFile(entry.file, children)
    results.push(r)
    onDone(r)
  }
  return results
}

/** One busy process per core, for the stress mode. */
function startBurners(count: number): ChildProcess[] {
  return Array.from({ length: count }, () => spawn(node, ['-e', 'for (;;) {}'], { stdio: 'ignore' }))
}

async function testFiles(patterns: string[]): Promise<string[]> {
  const wanted = patterns.length > 0 ? patterns : ['**/*.test.ts']
  const files = new Set<string>()
  for await (const file of glob(wanted, {
    cwd: root,
    exclude: (name) => name === 'node_modules' || name === '.cache' || name === '.git' || name === '.state',
  })) {
    files.add(relative(root, join(root, file)))
  }
  return [...files].sort()
}

function seconds(s: number): string {
  return `${s.toFixed(1)} s`
}

function fileLine(r: FileResult): string {
  const status = r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`
  return `◀ ${r.file}: ${status}, ${r.passed} passed, ${r.failed} failed, in ${seconds(r.seconds)}`
}

function parseCommandLine(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      repeat: { type: 'string' },
      burn: { type: 'boolean' },
      jobs: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

interface Options {
  repeat: number
  jobs: number
  burn: boolean
  testsOnly: boolean
  patterns: string[]
}

/** The command line, or the exit code to end with (help, usage error). */
function parseOptions(argv: string[]): Options | number {
  let parsed: ReturnType<typeof parseCommandLine>
  try {
    parsed = parseCommandLine(argv)
  } catch (cause) {
    process.stderr.write(`check: ${(cause as Error).message}\n${usage}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    process.stdout.write(usage)
    return 0
  }
  const repeat = Number(values.repeat ?? 1)
  const jobs = Number(values.jobs ?? availableParallelism())
  if (!Number.isInteger(repeat) || repeat < 1 || !Number.isInteger(jobs) || jobs < 1) {
    process.stderr.write(`check: --repeat and --jobs take a whole number from 1\n${usage}`)
    return 2
  }
  const burn = values.burn === true
  const testsOnly = positionals[0] === 'test' || values.repeat !== undefined || burn
  const patterns = positionals[0] === 'test' ? positionals.slice(1) : positionals
  if (!testsOnly && patterns.length > 0) {
    process.stderr.write(`check: name files after \`test\` (tools/check.ts test FILE...)\n${usage}`)
    return 2
  }
  return { repeat, jobs, burn, testsOnly, patterns }
}

/** Format and lint, typecheck, layer boundaries: true when all pass. */
async function staticChecks(): Promise<boolean> {
  const biomeBin = join(root, 'node_modules/@biomejs/biome/bin/biome')
  if ((await runStep('format and lint (biome ci)', node, [biomeBin, 'ci', '.'])) !== 0) return false
  const tscBin = join(root, 'node_modules/typescript/bin/tsc')
  if ((await runStep('typecheck (tsc --noEmit)', node, [tscBin, '--noEmit', '-p', root])) !== 0) return false
  const cruiserBin = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs')
  const cruise = [cruiserBin, '--config', '.dependency-cruiser.cjs', ...BOUNDARY_FOLDERS]
  return (await runStep('boundaries (dependency-cruiser)', node, cruise)) === 0
}

/**
 * Ctrl-C or SIGTERM: start no new file and let the running ones finish, so their `finally` and
 * `after` hooks remove what they made (test-guard.ts keeps the first signal from killing them).
 * A second signal kills them at once, and may leave namespaces or processes behind.
 */
function stopOnSignals(children: Set<ChildProcess>, burners: ChildProcess[]): () => boolean {
  let stopping = false
  const stop = () => {
    if (stopping) {
      for (const c of children) c.kill('SIGKILL')
      process.exit(130)
    }
    stopping = true
    for (const b of burners) b.kill('SIGTERM')
    process.stderr.write(
      `\ncheck: stopping: ${children.size} running file(s) finish and clean up first (signal again to kill them)\n`,
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  return () => stopping
}

/** Stress mode's table: passes per file, with the mean and slowest run. */
function printPasses(files: string[], results: FileResult[]): void {
  process.stdout.write('\nstress: passes per file\n')
  for (const file of files) {
    const mine = results.filter((r) => r.file === file)
    const ok = mine.filter((r) => r.code === 0).length
    const mean = mine.reduce((s, r) => s + r.seconds, 0) / mine.length
    const slowest = Math.max(...mine.map((r) => r.seconds))
    process.stdout.write(
      `  ${ok === mine.length ? '✔' : '✖'} ${file}: ${ok}/${mine.length} passed (mean ${seconds(mean)}, slowest ${seconds(slowest)})\n`,
    )
  }
}

/** Failed files, the totals in node's words, and the plain closing line; the exit code. */
function report(results: FileResult[], startedMs: number): number {
  const failedFiles = results.filter((r) => r.code !== 0)
  if (failedFiles.length > 0) {
    process.stdout.write('\nfailed files:\n')
    for (const r of failedFiles) process.stdout.write(`  ✖ ${r.file} (exit ${r.code})\n`)
  }
  const passed = results.reduce((s, r) => s + r.passed, 0)
  const failed = results.reduce((s, r) => s + r.failed, 0)
  const took = seconds((performance.now() - startedMs) / 1000)
  process.stdout.write(
    `\nℹ files ${results.length}\nℹ tests ${passed + failed}\nℹ pass ${passed}\nℹ fail ${failed}\nℹ duration ${took}\n`,
  )
  if (passed + failed === 0) {
    process.stderr.write('check: the test runner ran no test: that is a failure, not a pass\n')
    return 1
  }
  process.stdout.write(`tests: ${passed} passed, ${failed} failed\n`)
  return failedFiles.length === 0 && failed === 0 ? 0 : 1
}

async function runTests(options: Options): Promise<number> {
  const files = await testFiles(options.patterns)
  if (files.length === 0) {
    process.stderr.write('check: no test files found: that is a failure, not a pass\n')
    return 1
  }
  const entries = await Promise.all(
    files.map(async (file) => ({ file, heavy: isHeavy(await readFile(join(root, file), 'utf8')) })),
  )
  const { repeat, jobs } = options
  const children = new Set<ChildProcess>()
  const burners = options.burn ? startBurners(availableParallelism()) : []
  const stopped = stopOnSignals(children, burners)
  const heavyCount = entries.filter((e) => e.heavy).length
  process.stdout.write(
    `\n▶ tests: ${files.length} files${repeat > 1 ? ` × ${repeat}` : ''} (${heavyCount} heavy, one at a time; the rest ${jobs} at a time)${burners.length > 0 ? `, beside ${burners.length} CPU burners` : ''}\n`,
  )
  const started = performance.now()
  // A file's whole output when it fails (or in a single run); one line per run when repeating.
  const onDone = (r: FileResult) => {
    if (repeat === 1 || r.code !== 0) process.stdout.write(`\n▶ ${r.file}\n${r.output}`)
    process.stdout.write(`${fileLine(r)}\n`)
  }
  let results: FileResult[]
  try {
    const runs = Array.from({ length: repeat }, () => entries).flat()
    results = await schedule(runs, jobs, onDone, children, stopped)
  } finally {
    for (const b of burners) b.kill('SIGTERM')
  }
  if (repeat > 1) printPasses(files, results)
  if (stopped()) {
    process.stdout.write('\ncheck: stopped before every file ran\n')
    return 130
  }
  return report(results, started)
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv)
  if (typeof options === 'number') return options
  if (!options.testsOnly && !(await staticChecks())) return 1
  return runTests(options)
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2))
