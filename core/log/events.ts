/**
 * Everything the CLI reports is a typed event: the human formatter renders it as
 * lines (or live lines on a TTY), `--json` writes one JSON object per line.
 */
import type { Diagnostic } from '../config/diagnostics.ts'

export interface MachineSummary {
  readonly name: string
  readonly role: 'server' | 'agent'
  readonly mac: string
  readonly ip: string
  readonly disk: string
  readonly nic: string
  readonly firmware: string
  readonly boot: string
}

export interface ConfigSummary {
  readonly type: 'config.summary'
  readonly file: string
  readonly interface: string
  readonly subnet: string
  readonly gateway: string
  readonly controller: string | null
  readonly dns: readonly string[]
  readonly dhcpMode: 'proxy' | 'full'
  readonly dhcpRange: string | null
  readonly endpoint: string
  readonly endpointKind: 'server' | 'virtual-ip'
  readonly loadBalancerPool: string
  readonly loadBalancerPoolSize: number
  readonly loadBalancerPoolIsDefault: boolean
  readonly k3sVersion: string
  readonly os: string
  readonly domain: string
  readonly machines: readonly MachineSummary[]
}

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
  | { readonly type: 'error'; readonly message: string; readonly code?: string }
  | { readonly type: 'done'; readonly ok: boolean; readonly command: string }

export type EventSink = (event: HomelabEvent) => void
