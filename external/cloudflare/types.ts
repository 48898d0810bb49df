/**
 * The shapes of the Cloudflare v4 API that `homelab external` reads and writes: the subset of the
 * official SDK's types it uses (npm `cloudflare` 7.3.0; file named at each type). Fields the code
 * does not read are left out.
 */

/** Every v4 answer (core/pagination.d.ts V4PagePaginationArrayResponse; shared.d.ts ErrorData). */
export interface Envelope<T> {
  success: boolean
  errors: { code?: number; message?: string; documentation_url?: string }[]
  messages: { code?: number; message?: string }[]
  result: T
  result_info?: {
    page?: number
    per_page?: number
    count?: number
    total_count?: number
    total_pages?: number
  }
}

/** resources/user/tokens/tokens.d.ts TokenVerifyResponse. */
export interface TokenVerify {
  id: string
  status: 'active' | 'disabled' | 'expired'
  expires_on?: string
  not_before?: string
}

/** resources/zones/zones.d.ts Zone (the fields used). */
export interface Zone {
  id: string
  name: string
  account?: { id?: string; name?: string }
  status?: string
}

/** resources/shared.d.ts CloudflareTunnel. */
export interface Tunnel {
  id: string
  name: string
  account_tag?: string
  config_src?: 'local' | 'cloudflare'
  connections?: { id?: string; colo_name?: string; is_pending_reconnect?: boolean }[]
  created_at?: string
  deleted_at?: string | null
  remote_config?: boolean
  status?: 'inactive' | 'degraded' | 'healthy' | 'down'
}

/** resources/zero-trust/tunnels/cloudflared/configurations.d.ts Config.Ingress.OriginRequest (the fields used). */
export interface OriginRequest {
  matchSNItoHost?: boolean
  noTLSVerify?: boolean
  originServerName?: string
}

/** configurations.d.ts ConfigurationUpdateParams.Config (ingress; the last rule has no hostname). */
export interface TunnelConfig {
  ingress: { hostname?: string; service: string; path?: string; originRequest?: OriginRequest }[]
  originRequest?: OriginRequest
}

/** resources/dns/records.d.ts CNAMERecord (the only type written). */
export interface DnsRecord {
  id: string
  name: string
  type: string
  content: string
  proxied?: boolean
  ttl: number
  comment?: string | null
}

/** resources/shared.d.ts TokenPolicy / TokenPolicyParam. */
export interface TokenPolicy {
  id?: string
  effect: 'allow' | 'deny'
  permission_groups: { id: string; name?: string }[]
  resources: Record<string, string>
}

/** resources/shared.d.ts Token. */
export interface ApiToken {
  id: string
  name: string
  status?: 'active' | 'disabled' | 'expired'
  expires_on?: string
  issued_on?: string
  policies?: TokenPolicy[]
}

/** resources/user/tokens/permission-groups.d.ts PermissionGroupListResponse. */
export interface PermissionGroup {
  id: string
  name: string
  scopes?: string[]
}
