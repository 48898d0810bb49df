import assert from 'node:assert/strict'
import { test } from 'node:test'
import { bitnamiReason, containerImages } from './images.ts'

test('bitnamiReason() table: Bitnami on Docker Hub is refused however it is spelled; other images pass', () => {
  const refused = [
    'bitnami/redis:7.2.5',
    'docker.io/bitnami/redis:7.2.5',
    `index.docker.io/bitnami/postgresql@sha256:${'0'.repeat(64)}`,
    'registry-1.docker.io/bitnami/kubectl',
    'docker.io/bitnamilegacy/redis:7.2.5',
  ]
  const allowed = [
    'redis:7.2.5',
    'docker.io/library/redis:7',
    'ghcr.io/bitnami/redis:1',
    'quay.io/x/bitnami:1',
    'mybitnami/redis:1',
  ]
  for (const image of refused) assert.match(bitnamiReason(image) ?? '', /bitnami\/containers#83267/, image)
  for (const image of allowed) assert.equal(bitnamiReason(image), undefined, image)
})

test('containerImages() finds containers, init and ephemeral containers at any depth, with their paths', () => {
  const pod = {
    spec: {
      initContainers: [{ image: 'a' }],
      containers: [{ image: 'b' }, { name: 'no-image' }],
      ephemeralContainers: [{ image: 'c' }],
    },
  }
  assert.deepEqual(containerImages({ kind: 'CronJob', spec: { jobTemplate: { spec: { template: pod } } } }), [
    { path: 'spec.jobTemplate.spec.template.spec.initContainers[0].image', image: 'a' },
    { path: 'spec.jobTemplate.spec.template.spec.containers[0].image', image: 'b' },
    { path: 'spec.jobTemplate.spec.template.spec.ephemeralContainers[0].image', image: 'c' },
  ])
  assert.deepEqual(containerImages({ kind: 'ConfigMap', data: { containers: 'not a list' } }), [])
})
