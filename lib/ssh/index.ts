/**
 * SSH without an ssh binary (ssh2): host key probes, sessions pinned to a host key with retries,
 * quoted shell scripts, idempotent file uploads, bounded parallelism over machines.
 */
export { type HostKeyProbe, probeHostKey, SshProbeError, sameHostKey } from './hostkey.ts'
export { type MachineResult, runOnMachines } from './limit.ts'
export { quote, type ShellValue, sh } from './quote.ts'
export {
  type ConnectOptions,
  connectSsh,
  type RunOptions,
  type RunResult,
  SSH_DEFAULTS,
  SshCommandError,
  SshConnectError,
  type SshEvent,
  SshHostKeyError,
  type SshSession,
  type UploadOptions,
} from './session.ts'
