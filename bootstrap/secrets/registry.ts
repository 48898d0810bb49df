/**
 * Every generated secret of the platform, in one list: what `homelab bootstrap` creates (only when
 * absent), `homelab secrets list` shows, `show` reads and `rotate` regenerates. Each is a value set
 * (keys and how each is made) written to one or more Kubernetes Secrets ("places"), e.g. an OIDC
 * client secret both in Dex's namespace and in its app's. Charts refer to these Secrets by name
 * (existingSecret, secretKeyRef); no value is ever in git or in a render. See docs/secrets.md.
 */

/** How one key's value is made. */
export type Generator =
  /** A fixed, non-secret value (a user name, a client ID). */
  | { readonly kind: 'fixed'; readonly value: string }
  /** `bytes` random bytes, base64url without padding (URL-, env- and ini-safe). */
  | { readonly kind: 'random'; readonly bytes: number }
  /** The bcrypt hash of another key of the same secret (what Dex's staticPasswords accept). */
  | { readonly kind: 'bcrypt'; readonly of: string }

/** A Kubernetes Secret holding the value set, under its own key names. */
export interface Place {
  readonly namespace: string
  readonly name: string
  /** This Secret's key → the value set's key. @default every key under its own name */
  readonly keys?: Readonly<Record<string, string>>
  /** Labels the reader needs (ArgoCD reads `$secret:key` only from Secrets labelled part-of argocd). */
  readonly labels?: Readonly<Record<string, string>>
}

/** A workload restarted by `homelab secrets rotate` (its pod template annotation is patched). */
export interface Workload {
  readonly kind: 'Deployment' | 'StatefulSet'
  readonly namespace: string
  readonly name: string
}

export interface GeneratedSecret {
  /** What `homelab secrets show|rotate` takes. */
  readonly id: string
  readonly description: string
  readonly keys: Readonly<Record<string, Generator>>
  /** The key `homelab secrets show ID` prints. */
  readonly show: string
  readonly places: readonly Place[]
  readonly usedBy: readonly Workload[]
  /** Besides the workloads: what else reads it (shown by `list`). */
  readonly note?: string
}

const random = (bytes = 32): Generator => ({ kind: 'random', bytes })
const fixed = (value: string): Generator => ({ kind: 'fixed', value })

const DEX: Workload = { kind: 'Deployment', namespace: 'dex', name: 'dex' }
const GITEA: Workload = { kind: 'Deployment', namespace: 'gitea', name: 'gitea' }
const GRAFANA: Workload = { kind: 'Deployment', namespace: 'monitoring', name: 'grafana' }
const ARGOCD: Workload = { kind: 'Deployment', namespace: 'argocd', name: 'argocd-server' }

/** An OIDC client of Dex: its ID and secret in Dex's namespace and in the app's. */
function oidcClient(
  app: string,
  appPlace: Place,
  usedBy: readonly Workload[],
  note?: string,
): GeneratedSecret {
  return {
    id: `oidc-${app}`,
    description: `the OIDC client secret of ${app} at Dex`,
    keys: { 'client-id': fixed(app), 'client-secret': random() },
    show: 'client-secret',
    places: [{ namespace: 'dex', name: `dex-client-${app}` }, appPlace],
    usedBy: [DEX, ...usedBy],
    ...(note === undefined ? {} : { note }),
  }
}

/** The Secret names the charts refer to (values.yaml, templates). */
export const SECRET_NAMES = {
  admin: 'homelab-admin',
  giteaAdmin: 'gitea-admin',
  grafanaAdmin: 'grafana-admin',
  giteaOidc: 'gitea-oidc',
  grafanaOidc: 'grafana-oidc',
  vaultOidc: 'vault-oidc',
  argocdOidc: 'argocd-oidc',
} as const

export const GENERATED_SECRETS: readonly GeneratedSecret[] = [
  {
    id: 'admin',
    description: 'the single sign-on admin (Dex static password; log in as admin@<domain>)',
    // Dex's user (platform/dex values sso.admin) logs in by e-mail; Dex reads only the hash.
    keys: { password: random(18), hash: { kind: 'bcrypt', of: 'password' } },
    show: 'password',
    places: [{ namespace: 'dex', name: SECRET_NAMES.admin }],
    usedBy: [DEX],
  },
  {
    id: 'gitea-admin',
    description: "Gitea's local admin (break-glass; the migrate Job's API user)",
    // Gitea reserves the user name "admin".
    keys: { username: fixed('gitea_admin'), password: random(18) },
    show: 'password',
    places: [{ namespace: 'gitea', name: SECRET_NAMES.giteaAdmin }],
    usedBy: [GITEA],
  },
  {
    id: 'grafana-admin',
    description: "Grafana's local admin (break-glass)",
    keys: { 'admin-user': fixed('admin'), 'admin-password': random(18) },
    show: 'admin-password',
    places: [{ namespace: 'monitoring', name: SECRET_NAMES.grafanaAdmin }],
    usedBy: [GRAFANA],
  },
  {
    id: 'paperless-secret-key',
    description: "paperless-ngx's session signing key (PAPERLESS_SECRET_KEY)",
    keys: { PAPERLESS_SECRET_KEY: random(48) },
    show: 'PAPERLESS_SECRET_KEY',
    places: [{ namespace: 'paperless', name: 'paperless-secret' }],
    usedBy: [{ kind: 'Deployment', namespace: 'paperless', name: 'paperless' }],
  },
  oidcClient(
    'gitea',
    // gitea.oauth[].existingSecret: keys "key" (client ID) and "secret".
    { namespace: 'gitea', name: SECRET_NAMES.giteaOidc, keys: { key: 'client-id', secret: 'client-secret' } },
    [GITEA],
  ),
  oidcClient('grafana', { namespace: 'monitoring', name: SECRET_NAMES.grafanaOidc }, [GRAFANA]),
  oidcClient(
    'argocd',
    // argocd-cm's oidc.config reads it as $argocd-oidc:client-secret (bootstrap/argocd/sso.ts).
    {
      namespace: 'argocd',
      name: SECRET_NAMES.argocdOidc,
      labels: { 'app.kubernetes.io/part-of': 'argocd' },
    },
    [ARGOCD],
  ),
  oidcClient(
    'vault',
    { namespace: 'vault', name: SECRET_NAMES.vaultOidc },
    [],
    "Vault's OIDC auth method, configured by homelab bootstrap through Vault's API",
  ),
]

/** The entry `id` names, or an error listing the names there are. */
export function secretById(id: string, registry = GENERATED_SECRETS): GeneratedSecret {
  const found = registry.find((s) => s.id === id)
  if (found === undefined) {
    throw new Error(
      `Cannot find the generated secret "${id}": there is none by that name: pick one of ${registry.map((s) => s.id).join(', ')} (homelab secrets list)`,
    )
  }
  return found
}
