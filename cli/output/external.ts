/** How `homelab external` looks for people: one line per object (what it does or would do), then a total. */
import type { ExternalEvent } from '../../external/index.ts'
import { line, type Renderers } from './shown.ts'

export const EXTERNAL: Renderers<ExternalEvent> = {
  'external.change': (e) => [
    line(
      `${e.planned && e.action !== 'keep' && e.action !== 'conflict' ? `would ${e.action}` : e.action} ${e.object} ${e.name}: ${e.detail}`,
    ),
  ],
  'external.done': (e) => [
    line(
      e.changes === 0
        ? 'external: nothing to change'
        : e.planned
          ? `external: ${e.changes} change(s) planned; nothing changed (--plan)`
          : `external: ${e.changes} change(s) made`,
    ),
  ],
  'external.check': (e) => [
    line(
      `${e.ok ? 'ok' : 'FAIL'} external ${e.check}: ${e.detail}${e.ok || e.fix === undefined ? '' : `: ${e.fix}`}`,
    ),
  ],
}
