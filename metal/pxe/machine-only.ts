/**
 * Files for one machine only (its kickstart): served to the machine at its own address, refused to
 * every other host where that address can be known (docs/metal-pxe.md#kickstarts).
 *
 * - The requester is the machine when the server attributes its address to it: the machine's
 *   configured address (full mode leases it exactly that), or the address it was seen asking for in
 *   its DHCP exchange (proxy mode; the router leases it, we see the broadcast REQUEST).
 * - An address attributed to another machine is refused.
 * - An address attributed to no machine is refused once the machine's address is known, and served
 *   only while it cannot be (proxy mode before its DHCP request was seen, say a client that renews
 *   by unicast to the router): refusing then would stop the install.
 */
import type { Generator, Requester } from './files.ts'

export interface MachineOnlyOptions {
  /** Whether the machine's address is known (full mode: always; proxy mode: once its DHCP request was seen). */
  readonly addressKnown: (machine: string) => boolean
  /** Why a request was refused, for the operator. */
  readonly warn: (message: string) => void
}

/** Whether `requester` may have `machine`'s file, and why not. */
export function machineOnlyDecision(
  machine: string,
  requester: Requester,
  addressKnown: boolean,
): { readonly serve: true } | { readonly serve: false; readonly why: string } {
  if (requester.machine === machine) return { serve: true }
  if (requester.machine !== undefined) {
    return { serve: false, why: `${requester.ip} is the address of ${requester.machine}` }
  }
  if (!addressKnown) return { serve: true }
  return { serve: false, why: `${requester.ip} is not ${machine}'s address` }
}

/** A generator that gives `content` (what `file` is) to `machine` only, by the rules above. */
export function machineOnly(
  machine: string,
  file: string,
  content: () => string | undefined,
  options: MachineOnlyOptions,
): Generator {
  return (requester) => {
    const decision = machineOnlyDecision(machine, requester, options.addressKnown(machine))
    if (decision.serve) return content()
    options.warn(
      `Refused ${file}, the kickstart of ${machine}, to ${requester.ip}: ${decision.why} (a kickstart is served only to its machine)`,
    )
    return undefined
  }
}
