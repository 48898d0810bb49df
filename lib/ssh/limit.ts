/**
 * Runs one step on many machines with bounded parallelism. Every item gets a
 * result, and a failure on one machine never hides another's: the caller sees
 * each item's value or error, in the order of the items.
 */

export type MachineResult<T, R> =
  | { readonly item: T; readonly status: 'fulfilled'; readonly value: R }
  | { readonly item: T; readonly status: 'rejected'; readonly error: unknown }

/** Calls fn(item, index) for every item, at most `limit` at once; never rejects. */
export async function runOnMachines<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<MachineResult<T, R>[]> {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`Cannot run on machines: limit must be an integer of at least 1, got ${limit}`)
  }
  const results = new Array<MachineResult<T, R>>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      const item = items[index] as T
      try {
        results[index] = { item, status: 'fulfilled', value: await fn(item, index) }
      } catch (error) {
        results[index] = { item, status: 'rejected', error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
