import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { parse as parseYaml } from 'yaml'
import { goPrint, goQuote, helmToJson } from './go-format.ts'
import { HelmSubsetError, mergeValues, renderChart, renderTemplates } from './helm-subset.ts'

const render = (text: string, values: Record<string, unknown> = {}, libraries: string[] = []) =>
  renderTemplates(
    [{ file: 't.yaml', text }],
    libraries.map((l, i) => ({ file: `_lib${i}.tpl`, text: l })),
    values,
  )[0]

test('renderTemplates() renders value paths, quote, toJson and string literals', () => {
  const values = { a: { b: 'x y', n: 3, t: true, m: { z: 1, a: '<' } } }
  const cases: [string, string][] = [
    ['{{ .Values.a.b }}', 'x y'],
    ['{{ .Values.a.n }}', '3'],
    ['{{ .Values.a.t }}', 'true'],
    ['{{ .Values.a.b | quote }}', '"x y"'],
    ['{{ .Values.a.n | quote }}', '"3"'],
    ['{{ .Values.a.m | toJson }}', '{"a":"\\u003c","z":1}'],
    ['{{ .Values.a.b | toJson | quote }}', '"\\"x y\\""'],
    ['{{ "{{ .path.basename }}" }}', '{{ .path.basename }}'],
    ['{{ "{{" }}', '{{'],
    ['{{ $.Values.a.b }}', 'x y'],
    ['a{{/* a comment */}}b', 'ab'],
    ['a {{- /* trimmed */ -}} b', 'ab'],
    ['{{ "say \\"hi\\"" }}', 'say "hi"'],
  ]
  for (const [template, expected] of cases) assert.equal(render(template, values), expected, template)
})

test('renderTemplates() ranges over lists with .field and $.Values, and trims whitespace', () => {
  const text = 'items:\n{{- range .Values.items }}\n  - {{ .name }}.{{ $.Values.domain }}\n{{- end }}\n'
  assert.equal(
    render(text, { domain: 'd.example', items: [{ name: 'a' }, { name: 'b' }] }),
    'items:\n  - a.d.example\n  - b.d.example\n',
  )
  assert.equal(render(text, { domain: 'd', items: [] }), 'items:\n')
  assert.equal(
    render(text, { domain: 'd' }),
    'items:\n',
    'ranging over an unset list renders nothing, as in Helm',
  )
})

test('renderTemplates() includes defines from libraries with the argument as both . and $', () => {
  const lib =
    '{{- define "lib.hosts" -}}\n{{- range .Values.hosts }}\n- {{ . }}.{{ $.Values.domain }}\n{{- end }}\n{{- end }}\nignored text'
  assert.equal(
    render('hosts:\n{{ include "lib.hosts" . }}\n', { domain: 'x.y', hosts: ['a', 'b'] }, [lib]),
    'hosts:\n\n- a.x.y\n- b.x.y\n',
  )
})

test('renderTemplates() throws on constructs outside the subset, naming the file, line and construct', () => {
  const outside: [string, RegExp][] = [
    [
      'a\nb\n{{ if .Values.x }}y{{ end }}',
      /^t\.yaml:3: the construct "\{\{ if \.Values\.x \}\}" is outside the Helm subset/,
    ],
    ['{{ .Values.x | upper }}', /t\.yaml:1: the construct "\{\{ \.Values\.x \| upper \}\}" is outside/],
    ['{{ printf "%s" .Values.x }}', /outside the Helm subset/],
    ['{{ include "x" . | nindent 2 }}', /outside the Helm subset/],
    ['{{ $x := .Values.x }}', /outside the Helm subset/],
    ['{{ range $i, $e := .Values.x }}{{ end }}', /outside the Helm subset/],
    ['{{ with .Values.x }}{{ end }}', /outside the Helm subset/],
    ['{{ template "x" . }}', /outside the Helm subset/],
    ['{{ .Values.my-key }}', /outside the Helm subset/],
    ['{{ `raw` }}', /outside the Helm subset/],
    ['{{ "\\n" }}', /the escape "\\n" in a string is outside/],
    ['{{-.Values.x }}', /"\{\{-" without a space/],
    ['{{ .Values.x\n}}', /an action spanning lines/],
    ['{{ range .Values.x }}', /has no \{\{ end \}\}/],
    ['{{ end }}', /closes nothing/],
    ['{{ /* not a comment */ }}', /outside the Helm subset/],
  ]
  for (const [template, message] of outside) {
    assert.throws(
      () => render(template, { x: [] }),
      (e: unknown) => e instanceof HelmSubsetError && message.test(e.message),
      template,
    )
  }
})

test('renderTemplates() throws on unset values and values Helm would print differently', () => {
  assert.throws(() => render('{{ .Values.a.b }}', { a: {} }), /t\.yaml:1: "\.Values\.a\.b" is not set/)
  assert.throws(() => render('{{ .Values.a.b }}', {}), /"\.Values\.a" is not set/)
  assert.throws(() => render('{{ .Values.a }}', { a: 1000000 }), /prints differently in Helm/)
  assert.throws(() => render('{{ .Values.a }}', { a: 1.5 }), /prints differently in Helm/)
  assert.throws(() => render('{{ .Values.a }}', { a: { b: 1 } }), /use toJson/)
  assert.throws(() => render('{{ include "nope" . }}', {}), /template "nope" is not defined/)
  assert.throws(() => render('{{ range .Values.a }}{{ end }}', { a: { b: 1 } }), /ranges over lists only/)
})

test('goQuote() output parses back to the same string as a YAML double-quoted scalar (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => {
      if (/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) return
      assert.equal(parseYaml(`v: ${goQuote(s)}`).v, s)
    }),
  )
  assert.equal(goQuote('a"b\\c\n\t\x01\x7f\u00a0é😀'), '"a\\"b\\\\c\\n\\t\\x01\\x7f\\u00a0é😀"')
})

test('helmToJson() parses back to the same value, with Go key order (property)', () => {
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.array(tie('value')),
      fc.dictionary(fc.string(), tie('value')),
    ),
  })).value
  fc.assert(
    fc.property(json, (v) => {
      if (/[\uD800-\uDFFF]/.test(JSON.stringify(v) ?? '')) return
      assert.deepEqual(JSON.parse(helmToJson(v)), JSON.parse(JSON.stringify(v)))
    }),
  )
  assert.equal(helmToJson({ b: 1, a: [true, null, 'x&y'] }), '{"a":[true,null,"x\\u0026y"],"b":1}')
})

test('renderTemplates() trimming removes exactly the whitespace next to the marker (property)', () => {
  const ws = fc.stringMatching(/^[ \t\r\n]*$/)
  const word = fc.stringMatching(/^[a-z]{0,5}$/)
  fc.assert(
    fc.property(
      word,
      ws,
      ws,
      word,
      fc.boolean(),
      fc.boolean(),
      (before, left, right, after, trimLeft, trimRight) => {
        const text = `${before}${left}{{${trimLeft ? '- ' : ' '}"X"${trimRight ? ' -' : ' '}}}${right}${after}`
        assert.equal(render(text), `${before}${trimLeft ? '' : left}X${trimRight ? '' : right}${after}`)
      },
    ),
  )
})

test('goPrint() prints integers below 1e6 as Go does and refuses the rest', () => {
  assert.equal(goPrint(999999), '999999')
  assert.equal(goPrint(-5), '-5')
  assert.throws(() => goPrint(null), /not set/)
})

test('mergeValues() merges maps deeply, replaces lists and deletes on null', () => {
  assert.deepEqual(
    mergeValues({ a: { b: 1, c: [1] }, d: 1, e: 2 }, { a: { c: [2], x: 1 }, d: null, global: { g: 1 } }),
    { a: { b: 1, c: [2], x: 1 }, e: 2, global: { g: 1 } },
  )
})

test('renderChart() renders own templates with merged values and file:// library defines', async () => {
  const root = await mkdtemp(join(tmpdir(), 'chart-'))
  try {
    const add = async (path: string, content: string) => {
      await mkdir(join(root, path, '..'), { recursive: true })
      await writeFile(join(root, path), content)
    }
    await add('lib/Chart.yaml', 'apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n')
    await add(
      'lib/templates/_cm.tpl',
      '{{- define "lib.cm" -}}\nkind: ConfigMap\ndata:\n  domain: {{ $.Values.global.d | quote }}\n{{- end }}\n',
    )
    await add(
      'app/Chart.yaml',
      'apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../lib\n',
    )
    await add('app/values.yaml', 'name: one\nglobal:\n  d: default\n')
    await add('app/templates/_helpers.tpl', '{{/* nothing */}}')
    await add(
      'app/templates/a.yaml',
      'apiVersion: v1\n{{ include "lib.cm" . }}\nmetadata:\n  name: {{ .Values.name }}\n---\n# empty\n',
    )
    await add('app/templates/NOTES.txt', '{{ if }}')
    const manifests = await renderChart(join(root, 'app'), { global: { d: 'lab.example' } })
    assert.deepEqual(manifests, [
      {
        template: 'templates/a.yaml',
        manifest: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          data: { domain: 'lab.example' },
          metadata: { name: 'one' },
        },
      },
    ])
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})
