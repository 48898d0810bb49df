/**
 * The flow, defined once: metal (netboot and install), then cluster (k3s over SSH), then bootstrap
 * (ArgoCD and the root app). `homelab up` (and so `make`) runs these steps in this order;
 * `homelab plan` describes the same steps from the same list. Then external (the Cloudflare tunnel,
 * DNS record and scoped tokens), which does nothing without `external.cloudflare` in homelab.yaml.
 */
import type { EventSink } from '../core/log/events.ts'
import { type PlanContext, planBootstrap, planExternal, planK3s, planMetal } from './steps.ts'

export const STEP_NAMES = ['metal', 'cluster', 'bootstrap', 'external'] as const
export type StepName = (typeof STEP_NAMES)[number]

export interface FlowStep {
  readonly name: StepName
  /** The command that runs this step alone (`homelab metal`, `make metal`). */
  readonly command: string
  readonly summary: string
  /** What the step would do with this config, as plan events (touches nothing). */
  readonly plan: (context: PlanContext) => void | Promise<void>
}

export const FLOW: readonly FlowStep[] = [
  {
    name: 'metal',
    command: 'homelab metal',
    summary: 'preflight, then netboot and install the machines that need it',
    plan: planMetal,
  },
  {
    name: 'cluster',
    command: 'homelab cluster',
    summary: 'the k3s cluster over SSH, converged; the kubeconfig',
    plan: planK3s,
  },
  {
    name: 'bootstrap',
    command: 'homelab bootstrap',
    summary: 'ArgoCD and the root app, which deploys every layer from git',
    plan: planBootstrap,
  },
  {
    name: 'external',
    command: 'homelab external',
    summary:
      'with external.cloudflare: the Cloudflare tunnel, its DNS record and scoped tokens (else nothing)',
    plan: planExternal,
  },
]

export interface RunFlowOptions {
  /** Runs one step; true when it succeeded. The CLI maps each step to its command. */
  readonly run: (step: FlowStep) => Promise<boolean>
  /** Steps not to run (e.g. cluster and bootstrap in the lab). */
  readonly skip?: readonly StepName[]
  readonly emit?: EventSink
  readonly signal?: AbortSignal
  readonly steps?: readonly FlowStep[]
}

/** Runs the steps in order and stops at the first that fails (or when `signal` is aborted). */
export async function runFlow(options: RunFlowOptions): Promise<boolean> {
  const skip = new Set(options.skip ?? [])
  for (const step of options.steps ?? FLOW) {
    if (options.signal?.aborted === true) return false
    if (skip.has(step.name)) {
      options.emit?.({ type: 'flow.step', step: step.name, status: 'skipped', command: step.command })
      continue
    }
    options.emit?.({ type: 'flow.step', step: step.name, status: 'running', command: step.command })
    if (!(await options.run(step))) {
      options.emit?.({ type: 'flow.step', step: step.name, status: 'failed', command: step.command })
      return false
    }
  }
  return true
}

/** Parses step names (`--skip`): each must be a step of the flow. */
export function stepNames(values: readonly string[]): StepName[] {
  for (const v of values) {
    if (!(STEP_NAMES as readonly string[]).includes(v))
      throw new RangeError(`"${v}" is not a step of the flow: expected one of ${STEP_NAMES.join(', ')}`)
  }
  return values as StepName[]
}
