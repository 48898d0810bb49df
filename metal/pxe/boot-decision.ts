/**
 * What boot file a netbooting client gets: one pure decision table, used by the DHCP
 * server in both proxy and full mode. Only machines in the directory ever reach it.
 *
 * <!-- decision-table:start -->
 * | # | client sends                                          | reply                                                  |
 * |---|-------------------------------------------------------|--------------------------------------------------------|
 * | 1 | user class (77) "iPXE" (any arch)                     | file `http://<server>/boot.ipxe`, option 60 PXEClient  |
 * | 2 | arch (93) 16, vendor class (60) starts "HTTPClient"   | file `http://<server>/uefi/shimx64.efi`, 60 HTTPClient |
 * | 3 | arch 7 or 9 (UEFI x86-64 PXE)                         | TFTP file `uefi/shimx64.efi`, option 60 PXEClient      |
 * | 4 | arch 0 (legacy BIOS PXE)                              | TFTP file `bios/undionly.kpxe`, option 60 PXEClient    |
 * | 5 | anything else (unknown arch, arch 16 without          | no boot information; the server emits a warning        |
 * |   | HTTPClient, no arch and none in the vendor class)     |                                                        |
 * <!-- decision-table:end -->
 *
 * The rows are tried in order; the first that matches wins. The arch is option 93's
 * first value; firmware that omits option 93 but sends the PXE vendor class
 * "PXEClient:Arch:NNNNN:..." has its arch read from there (RFC 4578 §2.1; the vendor
 * class form is from the PXE 2.1 spec). Row 1 comes first so that iPXE, once chained,
 * fetches its script over HTTP instead of loading the first-stage file again (a loop).
 * Row 4's file is iPXE's `undionly.kpxe` (over the PXE ROM's UNDI driver): it asks DHCP again
 * with user class "iPXE" and so lands on row 1.
 * File names are configurable through BootFiles; DEFAULT_BOOT_FILES holds the defaults.
 */

/** What the client told us about itself (already decoded from its DHCP options). */
export interface BootClient {
  /** Option 93, first value. */
  readonly arch?: number
  /** Option 60. */
  readonly vendorClass?: string
  /** Option 77 (iPXE sends "iPXE"). */
  readonly userClass?: string
}

/** Paths of the boot files, relative to the TFTP root and the HTTP root. */
export interface BootFiles {
  /** UEFI x86-64 over TFTP (arch 7 and 9). */
  readonly uefiTftp: string
  /** Legacy BIOS over TFTP (arch 0): iPXE's undionly.kpxe, which chains to ipxeScript. */
  readonly biosTftp: string
  /** UEFI HTTP boot (arch 16), served over HTTP. */
  readonly uefiHttp: string
  /** The iPXE script for clients already running iPXE, served over HTTP. */
  readonly ipxeScript: string
}

export const DEFAULT_BOOT_FILES: BootFiles = {
  uefiTftp: 'uefi/shimx64.efi',
  biosTftp: 'bios/undionly.kpxe',
  uefiHttp: 'uefi/shimx64.efi',
  ipxeScript: 'boot.ipxe',
}

export interface BootReply {
  /** Which table row matched (1-4), for logs and docs. */
  readonly row: 1 | 2 | 3 | 4
  readonly protocol: 'tftp' | 'http'
  /** For the BOOTP `file` field and option 67: a TFTP path or an http:// URL. */
  readonly file: string
  /** For option 60 in the reply: firmware ignores PXE offers without it. */
  readonly vendorClass: 'PXEClient' | 'HTTPClient'
}

const VENDOR_ARCH = /^PXEClient:Arch:(\d{5})/

/** The client's arch: option 93, else the PXE vendor class's "Arch:NNNNN", else undefined. */
export function clientArch(client: BootClient): number | undefined {
  if (client.arch !== undefined) return client.arch
  const match = client.vendorClass === undefined ? null : VENDOR_ARCH.exec(client.vendorClass)
  return match === null ? undefined : Number(match[1])
}

/**
 * The boot reply for a client, or undefined when the table has no row for it.
 * `server` is the server's IPv4 address as text (used in http:// URLs).
 */
export function decideBoot(
  client: BootClient,
  server: string,
  files: BootFiles = DEFAULT_BOOT_FILES,
): BootReply | undefined {
  const arch = clientArch(client)
  if (client.userClass === 'iPXE') {
    return {
      row: 1,
      protocol: 'http',
      file: `http://${server}/${files.ipxeScript}`,
      vendorClass: 'PXEClient',
    }
  }
  if (arch === 16 && client.vendorClass?.startsWith('HTTPClient') === true) {
    return { row: 2, protocol: 'http', file: `http://${server}/${files.uefiHttp}`, vendorClass: 'HTTPClient' }
  }
  if (arch === 7 || arch === 9) {
    return { row: 3, protocol: 'tftp', file: files.uefiTftp, vendorClass: 'PXEClient' }
  }
  if (arch === 0) {
    return { row: 4, protocol: 'tftp', file: files.biosTftp, vendorClass: 'PXEClient' }
  }
  return undefined
}
