/**
 * The built-in lab's lifecycle (labUp, labStatus, labDown): a private network with a "home router"
 * and QEMU machines, that `homelab metal` provisions exactly as it would real machines.
 *
 *   root namespace            <prefix>-sw (switch)                    <prefix>-router
 *   network.interface ─veth─ ctl ─┐
 *   (network.controller)          br0 ── router ─veth──────────────── eth0 (network.gateway)
 *                          tapN ──┘  power daemon (UDP 9) -> QEMU      dnsmasq: DHCP .150-.199 (proxy mode)
 *
 * labUp() converges: each piece is made only when it is missing, and processes that still run
 * are kept (same PIDs). Nothing is routed beyond these namespaces and the veth: no NAT, no
 * forwarding (forwarding is off on the controller's interface, and the router has no route out).
 * labDown() ends every process by its recorded PID and deletes the namespaces and the veth.
 *
 * This module only re-exports: labUp() is in up.ts (its steps in up-steps.ts), labDown() in
 * down.ts, labStatus() in status.ts, and what they share in host.ts.
 */
export type { LabDownOptions } from './down.ts'
export { labDown } from './down.ts'
export type { LabEvents, LabStep } from './host.ts'
export type { LabMachineStatus, LabStatus, LabStatusOptions } from './status.ts'
export { labStatus } from './status.ts'
export type { LabUpOptions } from './up.ts'
export { changedSettings, checkCanBuild, labRecord, labUp } from './up.ts'
