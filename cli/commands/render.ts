import { dirname, resolve } from 'node:path'
import { renderServedFiles, writeServedFiles } from '../../metal/os/render.ts'
import { readPublicKey } from '../../metal/os/ssh-keys.ts'
import { addressOnInterface } from '../../metal/pxe/interface.ts'
import { type CommandRun, UsageError } from '../command.ts'
import { show } from './common.ts'
import { loadAndReport } from './load-config.ts'

/**
 * `homelab render --out DIR`: writes every file the PXE server would generate (boot loader
 * configs, one kickstart per machine) for reading before anything boots.
 */
export const render: CommandRun = async (context) => {
  const out = context.values.out
  if (typeof out !== 'string' || out === '') {
    throw new UsageError('--out DIR is required: the folder to write the files into')
  }
  const loaded = await loadAndReport(context)
  if (loaded === undefined) return false
  const { config, derived } = loaded
  // The address the server would use: --server, else network.controller, else the interface's.
  const server =
    typeof context.values.server === 'string'
      ? context.values.server
      : (config.network.controller ?? addressOnInterface(config.network.interface, derived.subnet))
  const files = renderServedFiles({
    config,
    derived,
    server,
    sshPublicKey: await readPublicKey(config, dirname(resolve(loaded.file))),
    ...(typeof context.values['kernel-args'] === 'string'
      ? { kernelArgs: context.values['kernel-args'] }
      : {}),
  })
  const dir = resolve(out)
  const written = await writeServedFiles(dir, files, { force: context.values.force === true })
  context.output.text(`rendered ${written.length} files for server ${server} into ${show(dir)}:`)
  for (const path of written) context.output.text(`  ${path}`)
  return true
}
