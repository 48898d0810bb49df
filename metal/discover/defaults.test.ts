import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { parseDocument } from 'yaml'
import { FEDORA_ISO_URL, FEDORA_RELEASE, K3S_VERSION } from './defaults.ts'

const shipped = readFileSync(join(import.meta.dirname, '../../homelab.yaml'), 'utf8')

test("init's defaults are the release, ISO and k3s version the shipped homelab.yaml pins", () => {
  const doc = parseDocument(shipped)
  assert.equal(doc.getIn(['os', 'release']), FEDORA_RELEASE)
  assert.equal(doc.getIn(['cluster', 'k3sVersion']), K3S_VERSION)
  assert.ok(shipped.includes(`url: ${FEDORA_ISO_URL}`), 'the ISO URL in the shipped comment')
  assert.ok(FEDORA_ISO_URL.includes(`/releases/${FEDORA_RELEASE}/`))
})
