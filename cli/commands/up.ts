import { FLOW, type FlowStep, runFlow, type StepName, stepNames } from '../../flow/flow.ts'
import { type CommandContext, type CommandRun, UsageError } from '../command.ts'

/** The command that runs each step of the flow alone. */
const STEP_COMMANDS: Record<StepName, () => Promise<CommandRun>> = {
  metal: async () => (await import('./metal.ts')).metal,
  cluster: async () => (await import('./cluster.ts')).cluster,
  bootstrap: async () => (await import('./bootstrap.ts')).bootstrap,
  external: async () => (await import('./external.ts')).external,
}

/** A step's own flags: `up` takes every step's flags; bootstrap's --timeout is --bootstrap-timeout. */
export function stepContext(context: CommandContext, step: StepName): CommandContext {
  if (step !== 'bootstrap') return context
  const { timeout: _metal, 'bootstrap-timeout': timeout, ...values } = context.values
  return { ...context, values: timeout === undefined ? values : { ...values, timeout } }
}

function skipOf(context: CommandContext): StepName[] {
  try {
    return stepNames((context.values.skip as string[] | undefined) ?? [])
  } catch (cause) {
    throw new UsageError(`--skip: ${(cause as Error).message}`)
  }
}

/** `homelab up`: the whole flow (flow/flow.ts), the steps in order; stops at the first that fails. */
export const up: CommandRun = async (context) => {
  const skip = skipOf(context)
  return runFlow({
    steps: FLOW,
    skip,
    emit: context.output.emit,
    signal: context.signal,
    run: async (step: FlowStep) => (await STEP_COMMANDS[step.name]())(stepContext(context, step.name)),
  })
}
