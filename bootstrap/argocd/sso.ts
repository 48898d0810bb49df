/**
 * ArgoCD's login through Dex. ArgoCD needs its external `url` and `oidc.config` in argocd-cm (its
 * redirect URI is `url` + /auth/callback, and `url` is read as it is, no `$secret:key` reference),
 * and the URL holds the domain, which install/ must not depend on (both bootstrap and the
 * argocd-install Application render install/ the same way, without homelab.yaml). So bootstrap
 * server-side applies these few keys with its own field manager, SSO_FIELD_MANAGER: ArgoCD's
 * apply of install/ (field manager argocd-controller) neither owns nor removes them, and its
 * server-side diff compares with a dry-run apply, which keeps them (not checked against a running
 * ArgoCD here: docs/secrets.md).
 */
import type { KubeObject } from '../../lib/kube/index.ts'

export const SSO_FIELD_MANAGER = 'homelab-sso'
/** The Secret (namespace argocd) `oidc.config` reads the client secret from, as `$argocd-oidc:client-secret`. */
export const ARGOCD_OIDC_SECRET = 'argocd-oidc'

/** `https://argocd.<domain>`: ArgoCD's `url`, the route of bootstrap/argocd. */
export const argocdUrl = (domain: string) => `https://argocd.${domain}`

/** argocd-cm's url and oidc.config, argocd-rbac-cm's admin mapping: the admin of Dex is ArgoCD's admin. */
export function argocdSsoObjects(domain: string): KubeObject[] {
  const oidc = [
    'name: Dex',
    `issuer: https://dex.${domain}`,
    'clientID: argocd',
    `clientSecret: $${ARGOCD_OIDC_SECRET}:client-secret`,
    'requestedScopes: ["openid", "profile", "email"]',
    '',
  ].join('\n')
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'argocd-cm', namespace: 'argocd' },
      data: { url: argocdUrl(domain), 'oidc.config': oidc },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'argocd-rbac-cm', namespace: 'argocd' },
      data: { scopes: '[email]', 'policy.csv': `g, admin@${domain}, role:admin\n` },
    },
  ]
}
