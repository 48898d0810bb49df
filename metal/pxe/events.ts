/**
 * Boot events: every step the PXE server sees, typed. The CLI turns them into one
 * live line per machine; `--json` streams them as they are.
 */

export type DhcpMessageName =
  | 'discover'
  | 'offer'
  | 'request'
  | 'ack'
  | 'nak'
  | 'decline'
  | 'release'
  | 'inform'

export type BootEvent =
  | {
      readonly type: 'pxe.listening'
      readonly service: 'dhcp' | 'proxydhcp' | 'tftp' | 'http'
      readonly address: string
    }
  | {
      /** A DHCP message received from, or sent to, a configured machine. */
      readonly type: 'dhcp'
      readonly direction: 'in' | 'out'
      readonly message: DhcpMessageName
      readonly mac: string
      readonly machine: string
      readonly xid: number
      /** 67 for DHCP, 4011 for proxyDHCP. */
      readonly port: number
      /** Client architecture (option 93), when the client sent it. */
      readonly arch?: number
      /** The address leased (full mode) or acknowledged. */
      readonly ip?: string
      /** The boot file or URL given. */
      readonly bootFile?: string
    }
  | {
      /**
       * A DHCP client that is not in the config (reported once per MAC; never given boot
       * information, and in proxy mode never answered), or a malformed packet that was
       * dropped. Debug level.
       */
      readonly type: 'dhcp.ignored'
      /** '' when the packet was too malformed to read a MAC from. */
      readonly mac: string
      readonly reason: string
    }
  | {
      readonly type: 'tftp.start'
      readonly client: string
      readonly machine?: string
      readonly file: string
      readonly blksize: number
      readonly windowsize: number
      readonly size: number
    }
  | {
      readonly type: 'tftp.end'
      readonly client: string
      readonly machine?: string
      readonly file: string
      readonly ok: boolean
      readonly bytes: number
      readonly ms: number
      readonly error?: string
    }
  | {
      /**
       * A file still transferring moved on (at most one per DEFAULT_PROGRESS_MS per transfer):
       * what the stall watchdog sees during a long download.
       */
      readonly type: 'transfer.progress'
      readonly protocol: 'http' | 'tftp'
      readonly client: string
      readonly machine?: string
      readonly file: string
      /** Bytes sent so far (TFTP: acknowledged). */
      readonly bytes: number
      /** Bytes the transfer sends in all (the range, for HTTP). */
      readonly size: number
    }
  | {
      readonly type: 'http.served'
      readonly client: string
      readonly machine?: string
      readonly method: string
      readonly path: string
      readonly status: number
      readonly bytes: number
      readonly ms: number
    }
  | {
      /** The installer told us how far it got (progress) or that it finished ("installed"). */
      readonly type: 'install.report'
      readonly machine: string
      readonly stage: string
      readonly detail?: string
      /** `failed` only: the last lines of the installer's log, sanitised (see trimLog). */
      readonly log?: readonly string[]
    }
  | {
      /** Something an operator should know that is not a failure of the whole server. */
      readonly type: 'pxe.warning'
      readonly service: string
      readonly message: string
    }

export type BootEventSink = (event: BootEvent) => void
