/**
 * Everything the CLI reports is a typed event: the human formatter renders it as
 * lines (or live lines on a TTY), `--json` writes one JSON object per line.
 */
import type { Diagnostic } from '../config/diagnostics.ts'
import type { ConfigSummary } from '../config/summary.ts'

export type { ConfigSummary, MachineSummary } from '../config/summary.ts'

export interface PlanStep {
  readonly layer: string
  readonly step: string
  readonly detail: string
  /** The machine this step is about, if any. */
  readonly machine?: string
}

export type HomelabEvent =
  | ({ readonly type: 'config.diagnostic' } & Diagnostic)
  | ConfigSummary
  | ({ readonly type: 'plan.step' } & PlanStep)
  | {
      readonly type: 'plan.app'
      readonly layer: string
      readonly name: string
      readonly namespace: string
      readonly source: string
    }
  | {
      /** A step of the flow (flow/flow.ts) starts, is skipped, or failed. */
      readonly type: 'flow.step'
      readonly step: string
      readonly status: 'running' | 'skipped' | 'failed'
      readonly command: string
    }
  | { readonly type: 'error'; readonly message: string; readonly code?: string }
  | { readonly type: 'done'; readonly ok: boolean; readonly command: string }

export type EventSink = (event: HomelabEvent) => void
