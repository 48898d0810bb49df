/**
 * `homelab plan`: what `make` (`homelab up`) would do, step by step and machine by machine,
 * from the same step list the flow runs (flow.ts). It reads the config and the repo's folders
 * and touches nothing else.
 */
import type { LoadedConfig } from '../core/config/load.ts'
import type { EventSink } from '../core/log/events.ts'
import { FLOW, type FlowStep } from './flow.ts'

export async function plan(
  loaded: LoadedConfig,
  repoRoot: string,
  emit: EventSink,
  steps: readonly FlowStep[] = FLOW,
): Promise<void> {
  for (const step of steps) await step.plan({ loaded, repoRoot, emit })
}
