/**
 * Vault's login through Dex: the OIDC auth method (mounted at `oidc/`), configured through Vault's
 * API with the root token by `homelab bootstrap` (shapes: developer.hashicorp.com/vault/api-docs/auth/jwt,
 * "Configure", "Create/Update role"; the redirect URIs: docs "JWT/OIDC auth method", "Redirect URIs").
 * The admin of Dex gets the policy `admin`; nobody else gets a role.
 */
import type { VaultClient } from './api.ts'

export const VAULT_OIDC_ROLE = 'default'
export const VAULT_ADMIN_POLICY = 'admin'

/** The redirect URIs Vault sends Dex: its web UI's and the `vault login -method=oidc` CLI's. */
export function vaultRedirectUris(domain: string): string[] {
  return [`https://vault.${domain}/ui/vault/auth/oidc/oidc/callback`, 'http://localhost:8250/oidc/callback']
}

export interface VaultOidcSettings {
  readonly domain: string
  readonly clientId: string
  readonly clientSecret: string
  /** The admin's e-mail, the one Dex user bound to the admin policy. */
  readonly adminEmail: string
  /** PEM of the CA that signed Dex's certificate, when it is not a public one (the self-signed issuer). */
  readonly caPem?: string
}

/** Every request, in order: enable the method (once), config, the admin policy, the role. */
export async function configureVaultOidc(
  vault: VaultClient,
  token: string,
  s: VaultOidcSettings,
): Promise<string[]> {
  const done: string[] = []
  const mounts = await vault.call<Record<string, unknown> & { data?: Record<string, unknown> }>(
    'GET',
    'sys/auth',
    { token },
  )
  const mounted = 'oidc/' in (mounts.data ?? mounts)
  if (!mounted) {
    await vault.call('POST', 'sys/auth/oidc', {
      token,
      body: { type: 'oidc', description: 'Dex single sign-on' },
    })
    done.push('enabled auth method oidc/')
  }
  await vault.call('POST', 'auth/oidc/config', {
    token,
    body: {
      oidc_discovery_url: `https://dex.${s.domain}`,
      oidc_client_id: s.clientId,
      oidc_client_secret: s.clientSecret,
      default_role: VAULT_OIDC_ROLE,
      ...(s.caPem === undefined ? {} : { oidc_discovery_ca_pem: s.caPem }),
    },
  })
  done.push('configured auth/oidc/config')
  await vault.call('PUT', `sys/policies/acl/${VAULT_ADMIN_POLICY}`, {
    token,
    body: {
      policy:
        'path "*" {\n  capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"]\n}\n',
    },
  })
  done.push(`wrote policy ${VAULT_ADMIN_POLICY}`)
  await vault.call('POST', `auth/oidc/role/${VAULT_OIDC_ROLE}`, {
    token,
    body: {
      role_type: 'oidc',
      user_claim: 'email',
      oidc_scopes: ['openid', 'email', 'profile'],
      bound_claims: { email: [s.adminEmail] },
      allowed_redirect_uris: vaultRedirectUris(s.domain),
      token_policies: [VAULT_ADMIN_POLICY],
    },
  })
  done.push(`wrote role ${VAULT_OIDC_ROLE}`)
  return done
}
