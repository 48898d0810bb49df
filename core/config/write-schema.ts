/** `npm run schema`: writes homelab.schema.json from the zod schema (a test fails when they drift). */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { configJsonSchema } from './schema.ts'

export function renderJsonSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`
}

if (import.meta.main) {
  const target = join(import.meta.dirname, '..', '..', 'homelab.schema.json')
  await writeFile(target, renderJsonSchema())
  process.stdout.write(`wrote ${target}\n`)
}
