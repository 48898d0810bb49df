/**
 * Runs the TFTP service alone, over one folder: for tests and benchmarks that need it
 * as a process (inside a network namespace), and for trying it by hand.
 *
 *   tools/node24 tools/pxe/tftp-run.ts --root DIR [--address 0.0.0.0] [--port 69]
 *     [--max-transfers 64] [--timeout-ms 1000] [--retries 5] [--max-windowsize 64]
 *
 * Prints every boot event as one JSON line on stdout ('pxe.listening' once ready).
 * Stops on SIGTERM or SIGINT.
 */

import { parseArgs } from 'node:util'
import { jsonLine } from '../../core/log/sanitize.ts'
import { DirectorySource } from '../../metal/pxe/files.ts'
import { serveTftp } from '../../metal/pxe/tftp.ts'

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    address: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '69' },
    'max-transfers': { type: 'string' },
    'timeout-ms': { type: 'string' },
    retries: { type: 'string' },
    'max-windowsize': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
})

const int = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  if (!/^[0-9]+$/.test(value)) throw new Error(`Cannot start: --${name} "${value}" is not a whole number`)
  return Number(value)
}

async function main(): Promise<number> {
  if (values.root === undefined) {
    process.stderr.write('tftp-run: --root DIR is required\n')
    return 2
  }
  const maxTransfers = int('max-transfers', values['max-transfers'])
  const timeoutMs = int('timeout-ms', values['timeout-ms'])
  const retries = int('retries', values.retries)
  const maxWindowsize = int('max-windowsize', values['max-windowsize'])
  const server = await serveTftp({
    files: new DirectorySource(values.root),
    address: values.address,
    port: int('port', values.port) ?? 69,
    ...(maxTransfers === undefined ? {} : { maxTransfers }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(retries === undefined ? {} : { retries }),
    ...(maxWindowsize === undefined ? {} : { maxWindowsize }),
    events: (event) => {
      if (!values.quiet || event.type === 'pxe.listening') process.stdout.write(jsonLine(event))
    },
  })
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve)
    process.once('SIGINT', resolve)
  })
  await server.close()
  return 0
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`tftp-run: ${err instanceof Error ? err.message : String(err)}\n`)
  return 1
})
