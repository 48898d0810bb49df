import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { discoverApps } from './discover.ts'

test('discoverApps() finds one app per component folder, in layer order, and skips non-components', async () => {
  const root = await mkdtemp(join(tmpdir(), 'discover-'))
  try {
    const add = async (path: string, content = 'x: 1\n') => {
      await mkdir(join(root, path, '..'), { recursive: true })
      await writeFile(join(root, path), content)
    }
    await add('apps/jellyfin/Chart.yaml')
    await add('system/metallb/kustomization.yaml')
    await add('system/envoy-gateway/Chart.yaml')
    await add('platform/gitea/deployment.yaml')
    await add('apps/notes/README.md')
    await add('apps/.hidden/Chart.yaml')
    await add('system/README.md')
    const apps = await discoverApps(root)
    assert.deepEqual(
      apps.map((a) => `${a.path} ${a.namespace} ${a.source}`),
      [
        'system/envoy-gateway envoy-gateway chart',
        'system/metallb metallb kustomize',
        'platform/gitea gitea manifests',
        'apps/jellyfin jellyfin chart',
      ],
    )
  } finally {
    await rm(root, { recursive: true, force: true })
  }
})
