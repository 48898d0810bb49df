import { relative } from 'node:path'

/** A path as the user would type it: relative to the working folder when it is inside it. */
export function show(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel !== '' && !rel.startsWith('..') ? rel : path
}
