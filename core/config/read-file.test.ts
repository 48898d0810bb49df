import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { ConfigError, formatDiagnostic } from './diagnostics.ts'
import { loadConfig, parseConfig } from './load.ts'
import { describeFileError, invalidUtf8Offset, MAX_CONFIG_BYTES, readConfigText } from './read-file.ts'

const base = join(import.meta.dirname, 'fixtures', 'base.yaml')

async function loadError(file: string): Promise<string[]> {
  try {
    await loadConfig(file)
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error))
    return error.diagnostics.map(formatDiagnostic)
  }
  assert.fail(`${file} was accepted`)
}

test('loadConfig() refuses invalid UTF-8 with its byte offset and place, never replacing it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-config-'))
  try {
    const text = await readFile(base)
    const at = text.indexOf('metal1')
    const bad = Buffer.concat([text.subarray(0, at), Buffer.from([0xc3, 0x28]), text.subarray(at)])
    const file = join(dir, 'homelab.yaml')
    await writeFile(file, bad)
    assert.deepEqual(await loadError(file), [
      `${file}:14:11 is not valid UTF-8: byte ${at} (0xc3) starts no valid character (save the file as UTF-8)`,
    ])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('invalidUtf8Offset() accepts UTF-8 and finds overlong forms, surrogates, truncation and bytes past U+10FFFF', () => {
  assert.equal(invalidUtf8Offset(Buffer.from('plain ✓ 𝄞 é')), undefined)
  const cases: [number[], number][] = [
    [[0x41, 0xc0, 0xaf], 1], // overlong "/"
    [[0xe0, 0x80, 0xaf], 0], // overlong, 3 bytes
    [[0xed, 0xa0, 0x80], 0], // a UTF-16 surrogate
    [[0xf4, 0x90, 0x80, 0x80], 0], // past U+10FFFF
    [[0x41, 0x42, 0xe2, 0x9c], 2], // cut short
    [[0xff], 0],
    [[0x80], 0], // a continuation byte alone
  ]
  for (const [bytes, offset] of cases)
    assert.equal(invalidUtf8Offset(Uint8Array.from(bytes)), offset, String(bytes))
})

test('loadConfig() refuses /dev/zero at the size limit instead of reading it all', async () => {
  assert.deepEqual(await loadError('/dev/zero'), [
    `/dev/zero is larger than ${MAX_CONFIG_BYTES / 2 ** 20} MiB: a config file is small text; check that --config names homelab.yaml, not another file or a device`,
  ])
})

test('readConfigText() refuses a regular file over the limit by its size, before reading it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-config-'))
  try {
    const file = join(dir, 'big.yaml')
    await writeFile(file, Buffer.alloc(2048, 0x20))
    await assert.rejects(readConfigText(file, 1024), {
      message:
        'is larger than 1 KiB (2048 bytes): a config file is small text; check that --config names homelab.yaml, not another file or a device',
    })
    assert.equal((await readConfigText(file, 4096)).length, 2048)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('loadConfig() explains a folder, a missing file and a permission problem with the fix', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hl-config-'))
  try {
    assert.deepEqual(await loadError(dir), [
      `${dir} cannot be read: it is a folder, not a file (pass --config with the path of homelab.yaml inside it)`,
    ])
    assert.deepEqual(await loadError(join(dir, 'none.yaml')), [
      `${join(dir, 'none.yaml')} cannot be read: no such file (pass --config FILE, or run from the project folder)`,
    ])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  // Tests run as root, which reads any file: the EACCES message is checked on the error itself.
  const denied = Object.assign(new Error("EACCES: permission denied, open 'x'"), { code: 'EACCES' })
  assert.equal(
    describeFileError(denied),
    'cannot be read: permission denied (make it readable by this user: chmod u+r FILE, or run as its owner)',
  )
})

test('parseConfig() refuses 20 000 nested lists with a plain message, not a stack error', () => {
  for (const text of [
    `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`,
    `a:\n${Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i + 2)}-`).join('\n')}\n`,
  ]) {
    const result = parseConfig(text, 'x.yaml')
    assert.equal(result.ok, false)
    if (result.ok) continue
    assert.equal(result.diagnostics.length, 1)
    assert.match(
      formatDiagnostic(result.diagnostics[0] as never),
      /^x\.yaml:\d+:\d+ is nested more than 64 levels deep: a homelab config needs fewer than 10 \(check the brackets and indentation here\)$/,
    )
  }
})
