/**
 * renderInstall()'s refusals and errors: what bootstrap will not render, and what it says when
 * kubectl fails. The adoption itself is proved in adoption.test.ts.
 */
import assert from 'node:assert/strict'
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ensureKubectl } from '../../lib/toolbox/index.ts'
import { INSTALL_DIR, LOCAL_MANIFEST, localResources, renderInstall } from './kustomize.ts'

const STANDIN = fileURLToPath(new URL('fixtures/standin-install.yaml', import.meta.url))
const PINNED = 'https://raw.githubusercontent.com/argoproj/argo-cd/v3.5.1/manifests/install.yaml'

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'argocd-kustomize-test-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('localResources() points the pinned URL at the local copy and refuses a kustomization bootstrap could not verify', () => {
  const f = 'kustomization.yaml'
  assert.deepEqual(localResources({ resources: [PINNED, 'extra.yaml'] }, PINNED, f), [
    LOCAL_MANIFEST,
    'extra.yaml',
  ])
  const refused: [unknown, RegExp][] = [
    [{}, /"resources" is not a list of strings/],
    [
      { resources: ['https://example.com/v9/install.yaml'] },
      /does not list https:\/\/raw\.githubusercontent.*upstream\.yaml: make its resource the same url/,
    ],
    [
      { resources: [PINNED, 'https://example.com/x.yaml'] },
      /remote resource "https:\/\/example\.com\/x\.yaml", which no sha256 pins/,
    ],
    [{ resources: [PINNED, 'github.com/argoproj/argo-cd//manifests?ref=stable'] }, /remote resource/],
  ]
  for (const [k, message] of refused) {
    assert.throws(() => localResources(k as Record<string, unknown>, PINNED, f), message)
  }
})

test('renderInstall() names the kustomization and kubectl when kubectl fails, and leaves no scratch folder', async () => {
  const copy = await mkdtemp(join(dir, 'install-'))
  await cp(INSTALL_DIR, copy, { recursive: true })
  const file = join(copy, 'kustomization.yaml')
  await writeFile(file, `${await readFile(file, 'utf8')}  - path: missing-patch.yaml\n`)
  const scratch = await mkdtemp(join(dir, 'tmp-'))
  const kubectl = await ensureKubectl()
  await assert.rejects(
    renderInstall({ kubectl, manifestPath: STANDIN, pinnedUrl: PINNED, dir: copy, tmpDir: scratch }),
    (error: Error) => {
      assert.match(
        error.message,
        /^Cannot render ArgoCD's install: `kubectl kustomize .*install-\w+` exited 1: /,
      )
      assert.match(error.message, /missing-patch\.yaml/)
      return true
    },
  )
  await assert.rejects(
    renderInstall({
      kubectl: join(dir, 'no-kubectl'),
      manifestPath: STANDIN,
      pinnedUrl: PINNED,
      tmpDir: scratch,
    }),
    /no-kubectl does not exist \(is kubectl installed\?\)/,
  )
  assert.deepEqual(await readdir(scratch), [])
})
