/** The external layer (Cloudflare tunnel, DNS, scoped tokens; Let's Encrypt through cert-manager): docs/external.md. */
export {
  CLOUDFLARE_API,
  type CloudflareApi,
  CloudflareApiError,
  createCloudflareApi,
} from './cloudflare/api.ts'
export { checkToken, convergeExternal, type ExternalSettings } from './converge.ts'
export { externalDoctor } from './doctor.ts'
export type { ExternalEvent } from './events.ts'
export * from './names.ts'
export { externalSettings } from './settings.ts'
export { readStoredToken, resolveToken, TOKEN_ENV, TOKEN_FILE } from './token-store.ts'
