/**
 * A Map with a size limit that evicts its oldest entries: the DHCP server's per-MAC memories
 * (reported once, proxy quiet periods) stay bounded when a peer sends from millions of spoofed
 * MACs, and evicting the oldest keeps the recent ones (clearing all would repeat every report).
 */
export class BoundedMap<K, V> {
  readonly max: number
  private readonly map = new Map<K, V>()
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`BoundedMap: max is ${max}, expected an integer ≥ 1`)
    this.max = max
  }
  get(key: K): V | undefined {
    return this.map.get(key)
  }
  has(key: K): boolean {
    return this.map.has(key)
  }
  /** Sets `key` as the newest entry; the oldest go when over `max`. */
  set(key: K, value: V): this {
    this.map.delete(key)
    this.map.set(key, value)
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as K
      this.map.delete(oldest)
    }
    return this
  }
  delete(key: K): boolean {
    return this.map.delete(key)
  }
  get size(): number {
    return this.map.size
  }
}
