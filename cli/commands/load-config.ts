import { ConfigError } from '../../core/config/diagnostics.ts'
import { type LoadedConfig, loadConfig } from '../../core/config/load.ts'
import type { CommandContext } from '../command.ts'

/** One load per run: the steps of `homelab up` share it, so each warning is reported once. */
const loads = new WeakMap<object, Promise<LoadedConfig | undefined>>()

/** Loads the config, reporting every diagnostic as an event; undefined when it has errors. */
export function loadAndReport(context: CommandContext): Promise<LoadedConfig | undefined> {
  let loading = loads.get(context.output)
  if (loading === undefined) {
    loading = load(context)
    loads.set(context.output, loading)
  }
  return loading
}

async function load(context: CommandContext): Promise<LoadedConfig | undefined> {
  try {
    const loaded = await loadConfig(context.configFile)
    for (const w of loaded.warnings) context.emit({ type: 'config.diagnostic', ...w })
    return loaded
  } catch (cause) {
    if (!(cause instanceof ConfigError)) throw cause
    for (const d of cause.diagnostics) context.emit({ type: 'config.diagnostic', ...d })
    return undefined
  }
}
