/**
 * The container images a rendered object runs, and the images homelab refuses: Bitnami's on
 * Docker Hub. On 2025-08-28 Bitnami moved its public Docker Hub images (versioned tags included)
 * from docker.io/bitnami to docker.io/bitnamilegacy, which receives no updates
 * (github.com/bitnami/containers issue 83267, github.com/bitnami/charts issue 35164): a versioned
 * docker.io/bitnami tag no longer pulls (ImagePullBackOff), and bitnamilegacy never gets a
 * security fix. See docs/gitops.md ("Rendering").
 */

export interface ContainerImage {
  /** Where in the object, like `spec.template.spec.containers[0].image`. */
  readonly path: string
  readonly image: string
}

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers'])

/** Every `image` of every container list (Pods, workload templates, CronJob job templates, CRs alike). */
export function containerImages(manifest: unknown): ContainerImage[] {
  const out: ContainerImage[] = []
  const walk = (value: unknown, path: string, depth: number) => {
    if (depth > 64 || typeof value !== 'object' || value === null) return
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) walk(item, `${path}[${i}]`, depth + 1)
      return
    }
    for (const [key, child] of Object.entries(value)) {
      const at = path === '' ? key : `${path}.${key}`
      if (CONTAINER_LISTS.has(key) && Array.isArray(child)) {
        child.forEach((container, i) => {
          const image = (container as { image?: unknown } | null)?.image
          if (typeof image === 'string') out.push({ path: `${at}[${i}].image`, image })
        })
      }
      walk(child, at, depth + 1)
    }
  }
  walk(manifest, '', 0)
  return out
}

/** Docker Hub's names for itself, as an image reference may spell them. */
const BITNAMI = /^(?:(?:docker\.io|index\.docker\.io|registry-1\.docker\.io)\/)?(bitnami|bitnamilegacy)\//

/** Why the image is refused, or undefined when it is not a Bitnami image on Docker Hub. */
export function bitnamiReason(image: string): string | undefined {
  const match = BITNAMI.exec(image.trim())
  if (match === null) return undefined
  return match[1] === 'bitnami'
    ? "Bitnami moved its public Docker Hub images to docker.io/bitnamilegacy in August 2025 (bitnami/containers#83267): versioned docker.io/bitnami tags no longer pull, and the legacy copies receive no updates; use the upstream project's own image"
    : "docker.io/bitnamilegacy holds Bitnami's frozen images since August 2025 (bitnami/containers#83267): they receive no updates, security fixes included; use the upstream project's own image"
}

/** The refusals for one rendered object: `<Kind> "<name>": <path> "<image>" is a Bitnami image: <reason>`. */
export function imageProblems(manifest: Record<string, unknown>): string[] {
  const what = `${String(manifest.kind)} "${String((manifest.metadata as { name?: unknown } | undefined)?.name)}"`
  const problems: string[] = []
  for (const { path, image } of containerImages(manifest)) {
    const reason = bitnamiReason(image)
    if (reason !== undefined)
      problems.push(`${what}: ${path} ${JSON.stringify(image)} is a Bitnami image: ${reason}`)
  }
  return problems
}
