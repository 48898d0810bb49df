import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access } from 'node:fs/promises'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { quote, sh } from './quote.ts'

const exec = promisify(execFile)

/** Values a careless quoter would let the shell interpret. */
const HOSTILE = [
  'plain',
  '',
  'two words',
  "it's",
  "''",
  '"double"',
  '$(touch /tmp/pwned-quote-test)',
  '`id`',
  '$HOME',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal shell parameter expansion is the point
  '${PATH}',
  'a; rm -rf /nonexistent',
  'a && false',
  'a | cat',
  'line1\nline2',
  '\n',
  '*',
  '~',
  'A=1',
  '-n',
  '\\',
  "'\\''",
  'tab\there',
  '#comment',
  'ünïcødé ✓',
]

for (const shell of ['/bin/sh', 'bash']) {
  test(`sh\`\` passes hostile values to ${shell} -c as literal words`, async () => {
    const script = sh`printf '%s\n' ${HOSTILE}`
    const { stdout } = await exec(shell, ['-c', script])
    assert.equal(stdout, HOSTILE.map((v) => `${v}\n`).join(''))
  })

  test(`sh\`\` keeps each hostile value one word when interpolated alone (${shell})`, async () => {
    for (const value of HOSTILE) {
      const { stdout } = await exec(shell, ['-c', sh`set -eu; set -- ${value}; printf '%s[%s]' "$#" "$1"`])
      assert.equal(stdout, `1[${value}]`, `value ${JSON.stringify(value)}`)
    }
    await assert.rejects(access('/tmp/pwned-quote-test'), 'the $() value must not have run')
  })
}

test('quote() leaves safe words bare and single-quotes the rest', () => {
  const cases: [string | number, string][] = [
    ['abc', 'abc'],
    ['/etc/rancher/k3s/config.yaml', '/etc/rancher/k3s/config.yaml'],
    [42, '42'],
    ['', "''"],
    ['a b', "'a b'"],
    ["it's", "'it'\\''s'"],
    ['A=1', "'A=1'"],
    ['$x', "'$x'"],
  ]
  for (const [input, expected] of cases) assert.equal(quote(input), expected)
})

test('sh`` joins array elements as separate quoted words and keeps literal parts', () => {
  assert.equal(sh`apt-get install -y ${['curl', 'a b']}`, "apt-get install -y curl 'a b'")
  assert.equal(sh`echo ${[]}end`, 'echo end')
  assert.equal(sh`no values`, 'no values')
})

test('quote() refuses a NUL byte', () => {
  assert.throws(() => quote('a\0b'), TypeError)
})
