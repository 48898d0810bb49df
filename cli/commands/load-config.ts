import { ConfigError } from '../../core/config/diagnostics.ts'
import { type LoadedConfig, loadConfig } from '../../core/config/load.ts'
import type { CommandContext } from '../command.ts'

/** Loads the config, reporting every diagnostic as an event; undefined when it has errors. */
export async function loadAndReport(context: CommandContext): Promise<LoadedConfig | undefined> {
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
