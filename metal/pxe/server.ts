/**
 * The PXE server: DHCP (proxy or full), TFTP and HTTP together, configured from
 * homelab.yaml. HTTP and TFTP start first so that no machine is ever pointed at a
 * service that is not listening yet; DHCP starts last and stops first.
 */

import type { Derived } from '../../core/config/checks.ts'
import type { Config } from '../../core/config/schema.ts'
import { formatIPv4, maskOf } from '../../lib/ipv4/index.ts'
import { type BootFiles, DEFAULT_BOOT_FILES } from './boot-decision.ts'
import { type DhcpServer, serveDhcp } from './dhcp.ts'
import type { BootEventSink } from './events.ts'
import { DirectorySource, type FileSource, LayeredSource } from './files.ts'
import { type HttpServer, type InstallReport, serveHttp } from './http.ts'
import { addressOnInterface } from './interface.ts'
import { directoryFromConfig, type MachineDirectory } from './machine-directory.ts'
import { PXE_PORTS } from './ports.ts'
import { serveTftp, type TftpServer } from './tftp.ts'

export interface PxeOptions {
  readonly config: Config
  readonly derived: Derived
  /** Served over TFTP and HTTP, after `sources` (generated files, the ISO). */
  readonly root?: string
  /** File sources tried before `root`, in order (per-machine files first). */
  readonly sources?: readonly FileSource[]
  readonly bootFiles?: BootFiles
  /** The machines served; default: every machine in the config. */
  readonly directory?: MachineDirectory
  readonly events?: BootEventSink
  readonly onReport?: (report: InstallReport) => void | Promise<void>
  /** The controller's address; default: network.controller, else read from network.interface. */
  readonly serverAddress?: string
  /** Ports (tests and debugging); defaults are the standard ones (HTTP 80, TFTP 69, DHCP 67/4011). */
  readonly httpPort?: number
  readonly tftpPort?: number
}

export interface PxeServer {
  readonly serverAddress: string
  readonly httpPort: number
  readonly tftpPort: number
  close(): Promise<void>
}

export async function startPxe(options: PxeOptions): Promise<PxeServer> {
  const { config, derived } = options
  const serverAddress =
    options.serverAddress ??
    config.network.controller ??
    addressOnInterface(config.network.interface, derived.subnet)
  const machines = options.directory ?? directoryFromConfig(config)
  const sources = [...(options.sources ?? [])]
  if (options.root !== undefined) sources.push(new DirectorySource(options.root))
  const files = new LayeredSource(sources)
  const events = options.events

  const started: Array<{ close(): Promise<void> }> = []
  const closeAll = async () => {
    // Reverse order: DHCP stops answering first, then the file services.
    for (const s of started.reverse()) await s.close()
    started.length = 0
  }
  try {
    const http: HttpServer = await serveHttp({
      host: serverAddress,
      port: options.httpPort ?? 80,
      files,
      machines,
      ...(events === undefined ? {} : { events }),
      ...(options.onReport === undefined ? {} : { onReport: options.onReport }),
    })
    started.push(http)
    const tftp: TftpServer = await serveTftp({
      address: serverAddress,
      port: options.tftpPort ?? PXE_PORTS.tftp,
      files,
      machines,
      ...(events === undefined ? {} : { events }),
    })
    started.push(tftp)
    const dhcp: DhcpServer = await serveDhcp({
      interface: config.network.interface,
      serverAddress,
      mode: config.network.dhcp.mode,
      machines,
      bootFiles: options.bootFiles ?? DEFAULT_BOOT_FILES,
      subnetMask: formatIPv4(maskOf(derived.subnet.prefix)),
      gateway: config.network.gateway,
      dns: derived.dns,
      ...(derived.dhcpRange === undefined
        ? {}
        : {
            dynamicRange: {
              start: formatIPv4(derived.dhcpRange.start),
              end: formatIPv4(derived.dhcpRange.end),
            },
          }),
      ...(events === undefined ? {} : { events }),
    })
    started.push(dhcp)
    return { serverAddress, httpPort: http.port, tftpPort: tftp.port, close: closeAll }
  } catch (cause) {
    await closeAll()
    throw cause
  }
}
