/**
 * The PXE server's standard ports, in one place. No imports: the CLI help and doctor read them
 * without loading the servers.
 */
export const PXE_PORTS = {
  /** DHCP server (full mode, and proxy DISCOVER replies). */
  dhcp: 67,
  /** proxyDHCP requests (PXE clients that ask the boot server on 4011). */
  proxyDhcp: 4011,
  tftp: 69,
  http: 80,
} as const
