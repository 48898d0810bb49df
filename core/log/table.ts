/**
 * Aligned columns, the one table printer: the config summary, and every summary a command ends
 * with (metal, cluster, status). Two spaces between columns; the last column is not padded.
 */

export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  )
}

/** A summary as lines: a header row and one row per item, indented under a title. */
export function formatSummaryTable(
  title: string,
  header: readonly string[],
  rows: readonly (readonly string[])[],
  indent = '  ',
): string[] {
  return [title, ...formatTable([header, ...rows]).map((line) => `${indent}${line}`)]
}
