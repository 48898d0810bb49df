/** A problem found in a config file, located for the person who edits it. */
export interface Diagnostic {
  readonly severity: 'error' | 'warning'
  /** The file as the user named it. */
  readonly file: string
  /** 1-based; 0 when the problem has no place in the file. */
  readonly line: number
  readonly column: number
  /** The field, like machines[2].mac ("" for the whole file). */
  readonly field: string
  /** What is wrong and how to fix it, without the location. */
  readonly message: string
}

export type PathSegment = string | number

/** Formats a path like machines[2].mac. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out === '' ? segment : `.${segment}`
  }
  return out
}

/** homelab.yaml:14:10 machines[2].mac: "00:23" is not a MAC address (...) */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file
  const prefix = d.severity === 'warning' ? 'warning: ' : ''
  const field = d.field === '' ? '' : ` ${d.field}:`
  return `${where}${field} ${prefix}${d.message}`
}

/** Raised when a config cannot be used; carries every diagnostic found. */
export class ConfigError extends Error {
  readonly code = 'HOMELAB_CONFIG_INVALID'
  readonly diagnostics: readonly Diagnostic[]
  constructor(diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error')
    super(
      `Cannot use config: ${errors.length} error${errors.length === 1 ? '' : 's'}\n${errors.map(formatDiagnostic).join('\n')}`,
    )
    this.name = 'ConfigError'
    this.diagnostics = diagnostics
  }
}
