/**
 * The dynamic range of full mode (RFC 2131 §4.3.1): which address each client that is not in the
 * machine directory holds, and until when. Machines in the directory are pinned to their
 * configured address and never enter this table; `isReserved` keeps those addresses (and the
 * server's) out of the range.
 *
 *   const leases = new LeaseTable({ range, leaseSeconds: 3600, isReserved, now: clock.now })
 *   leases.allocate(mac, requested)  // DISCOVER: held for offerHoldSeconds
 *   leases.bind(mac)                 // REQUEST: bound for leaseSeconds (also a renewal)
 *   leases.release(mac)              // RELEASE, DECLINE
 *
 * Memory is bounded by the range: an address has at most one holder, and a MAC at most one lease.
 */
import type { IPv4 } from '../../lib/ipv4/index.ts'

/** One client's address. `bound` once it REQUESTed it; until then an offer, held briefly. */
export interface Lease {
  readonly ip: IPv4
  expires: number
  bound: boolean
}

export interface LeaseTableOptions {
  /** The addresses handed out, inclusive. */
  readonly range: { readonly start: IPv4; readonly end: IPv4 }
  /** How long a bound lease lasts. */
  readonly leaseSeconds: number
  /** How long an offered address stays reserved for the client before its REQUEST. */
  readonly offerHoldSeconds: number
  /** Addresses never handed out: the server's, the configured machines'. */
  readonly isReserved: (ip: IPv4) => boolean
  /** Milliseconds; only differences are used. */
  readonly now: () => number
}

export class LeaseTable {
  private readonly options: LeaseTableOptions
  private readonly byMac = new Map<string, Lease>()
  private readonly byIp = new Map<IPv4, string>()
  /** Addresses a client DECLINEd (another host answers on them), with when to try them again. */
  private readonly declined = new Map<IPv4, number>()

  constructor(options: LeaseTableOptions) {
    this.options = options
  }

  /** The lease (or offer) a MAC holds, expired or not. */
  get(mac: string): Lease | undefined {
    return this.byMac.get(mac)
  }

  /** Whether `ip` is in the range. */
  inRange(ip: IPv4): boolean {
    return ip >= this.options.range.start && ip <= this.options.range.end
  }

  /**
   * An address for `mac`: the one it holds while unexpired (or not taken since), else
   * `preferred` when in the range and free, else the lowest free one. A new address is held as
   * an offer for offerHoldSeconds. Undefined when the range is full.
   */
  allocate(mac: string, preferred: IPv4 | undefined): Lease | undefined {
    const t = this.options.now()
    const existing = this.byMac.get(mac)
    if (existing !== undefined && (existing.expires > t || this.isFree(existing.ip, t))) return existing
    const ip = this.pick(preferred, t)
    if (ip === undefined) return undefined
    const previousHolder = this.byIp.get(ip)
    if (previousHolder !== undefined) this.byMac.delete(previousHolder)
    if (existing !== undefined) this.byIp.delete(existing.ip)
    const lease: Lease = { ip, expires: t + this.options.offerHoldSeconds * 1000, bound: false }
    this.byMac.set(mac, lease)
    this.byIp.set(ip, mac)
    return lease
  }

  /** The client REQUESTed its address: bound for leaseSeconds from now (a renewal extends it). */
  bind(mac: string): void {
    const lease = this.byMac.get(mac)
    if (lease === undefined) return
    lease.bound = true
    lease.expires = this.options.now() + this.options.leaseSeconds * 1000
  }

  /** Frees what `mac` holds, bound or offered. */
  release(mac: string): void {
    const lease = this.byMac.get(mac)
    if (lease === undefined) return
    this.byMac.delete(mac)
    this.byIp.delete(lease.ip)
  }

  /** Frees an offer `mac` did not take (it chose another server); a bound lease stays. */
  releaseOffer(mac: string): void {
    if (this.byMac.get(mac)?.bound === false) this.release(mac)
  }

  /** Keeps `ip` out of offers for leaseSeconds. Addresses outside the range are never offered anyway. */
  decline(ip: IPv4): void {
    if (!this.inRange(ip)) return
    this.declined.set(ip, this.options.now() + this.options.leaseSeconds * 1000)
  }

  private pick(preferred: IPv4 | undefined, t: number): IPv4 | undefined {
    if (preferred !== undefined && this.inRange(preferred) && this.isFree(preferred, t)) return preferred
    const { start, end } = this.options.range
    for (let candidate = start; candidate <= end; candidate++) {
      if (this.isFree(candidate, t)) return candidate
    }
    return undefined
  }

  private isFree(ip: IPv4, t: number): boolean {
    if (this.options.isReserved(ip)) return false
    const until = this.declined.get(ip)
    if (until !== undefined && until > t) return false
    const holder = this.byIp.get(ip)
    if (holder === undefined) return true
    const lease = this.byMac.get(holder)
    return lease === undefined || lease.expires <= t
  }
}
