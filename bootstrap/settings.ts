/**
 * The settings every component reads as `global.homelab` (docs/gitops.md, "Settings without
 * find-and-replace"): computed from homelab.yaml, defaults and derived values included, and
 * passed to ArgoCD as the root app's Helm values. No file in git holds them.
 */
import type { Derived } from '../core/config/checks.ts'
import type { Config } from '../core/config/schema.ts'
import { formatRange } from '../lib/ipv4/index.ts'

/** `global.homelab`: the contract in docs/gitops.md. */
export interface ClusterSettings {
  readonly domain: string
  readonly timezone: string
  readonly loadBalancerPool: string
  readonly clusterIssuer: 'letsencrypt-staging' | 'letsencrypt-production' | 'homelab-selfsigned'
  /** The ACME account e-mail; empty without Let's Encrypt (only the self-signed issuer is used then). */
  readonly letsencryptEmail: string
  readonly repoURL: string
  readonly revision: string
  readonly seedRepoURL: string
  readonly giteaRepoURL: string
  readonly cloudflare?: { readonly zone: string; readonly accountId: string }
}

/** The in-cluster Gitea's URL of the cluster repo (`gitops.clusterRepo`), as ArgoCD reaches it. */
export function giteaRepoURL(config: Config): string {
  return `http://gitea-http.gitea.svc:3000/${config.gitops.clusterRepo}.git`
}

/** `global.homelab` for this config; `repoURL` is the repo the root app follows (seed or Gitea). */
export function clusterSettings(config: Config, derived: Derived, repoURL: string): ClusterSettings {
  if (derived.loadBalancerPool === undefined) {
    throw new Error(
      'Cannot compute the cluster settings: there is no load-balancer pool: set cluster.loadBalancerPool in homelab.yaml',
    )
  }
  const letsencrypt = config.external?.letsencrypt
  const cloudflare = config.external?.cloudflare
  return {
    domain: config.gitops.domain,
    timezone: config.os.timezone,
    loadBalancerPool: formatRange(derived.loadBalancerPool),
    // The shared Gateway's certificate is a wildcard (*.<domain>), which ACME issues through DNS-01
    // only: Let's Encrypt needs the Cloudflare zone too (system/cert-manager), else self-signed.
    clusterIssuer:
      letsencrypt === undefined || cloudflare === undefined
        ? 'homelab-selfsigned'
        : `letsencrypt-${letsencrypt.server}`,
    letsencryptEmail: letsencrypt?.email ?? '',
    repoURL,
    revision: config.gitops.seed.revision,
    seedRepoURL: config.gitops.seed.url,
    giteaRepoURL: giteaRepoURL(config),
    ...(cloudflare === undefined
      ? {}
      : { cloudflare: { zone: cloudflare.zone, accountId: cloudflare.accountId } }),
  }
}
