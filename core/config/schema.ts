/**
 * The schema of homelab.yaml: the one file a user edits.
 *
 * This zod schema is the single definition: the code validates with it, and
 * homelab.schema.json (for editors) is generated from it by `npm run schema`.
 * Messages here are written to follow the offending value, e.g.
 *   machines[2].mac: "00:23:24:d1:f5" is not a MAC address (expected ...)
 */
import { z } from 'zod'
import { parseCidr, parseIPv4, parseMac, parseRange } from '../../lib/ipv4/index.ts'

const ipv4 = z
  .string()
  .refine((v) => parseIPv4(v) !== undefined, {
    message: 'is not an IPv4 address (expected four numbers 0-255 without leading zeros, like 192.168.1.10)',
  })
  .meta({ description: 'An IPv4 address, like 192.168.1.10', format: 'ipv4' })

const cidr = z
  .string()
  .superRefine((v, ctx) => {
    const parsed = parseCidr(v)
    if ('error' in parsed) {
      const hint = parsed.error.includes('did you mean') ? '' : ' (expected like 192.168.1.0/24)'
      ctx.addIssue({ code: 'custom', message: `is not a subnet: it ${parsed.error}${hint}` })
    }
  })
  .meta({ description: 'An IPv4 subnet in CIDR notation, like 192.168.1.0/24' })

const range = z
  .string()
  .superRefine((v, ctx) => {
    const parsed = parseRange(v)
    if ('error' in parsed) {
      ctx.addIssue({
        code: 'custom',
        message: `is not an address range: it ${parsed.error} (expected like 192.168.1.100-192.168.1.149 or 192.168.1.224/27)`,
      })
    }
  })
  .meta({ description: 'An inclusive address range "first-last", or a CIDR block' })

const mac = z
  .string()
  .refine((v) => parseMac(v) !== undefined, {
    message: 'is not a MAC address (expected six hex pairs like 00:23:24:d1:f5:69)',
  })
  .meta({ description: 'A MAC address: six hex pairs like 00:23:24:d1:f5:69' })

const dnsLabel = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
  message: 'is not a valid host name (expected lower-case letters, digits and "-", like metal0)',
})

const domain = z
  .string()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/, {
    message: 'is not a domain name (expected lower-case labels separated by dots, like home.example.com)',
  })

const url = z.string().refine((v) => URL.canParse(v) && /^(https?|ssh|git|file):/.test(v), {
  message: 'is not a URL (expected like https://example.com/path)',
})

const httpsUrl = z.string().refine((v) => URL.canParse(v) && /^https?:\/\//.test(v), {
  message: 'is not an http(s) URL (expected like https://example.com/path)',
})

const timeZones = new Set(Intl.supportedValuesOf('timeZone'))
timeZones.add('UTC')
const timezone = z.string().refine((v) => timeZones.has(v), {
  message: 'is not a time zone (expected an IANA name like Europe/Paris or UTC)',
})

/** The value of os.iso that selects the offline test OS (built-in lab and tests only). */
export const TEST_OS = 'test-os'

export const dhcpModes = ['proxy', 'full'] as const
export const roles = ['server', 'agent'] as const
export const firmwares = ['uefi', 'bios', 'uefi-http'] as const

export const networkSchema = z
  .strictObject({
    interface: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,15}$/, {
        message: 'is not a network interface name (expected up to 15 characters, like eth0 or enp3s0)',
      })
      .describe("The controller's interface on the machines' network (the PXE server listens here)"),
    subnet: cidr.describe("The machines' subnet"),
    gateway: ipv4.describe("The network's router"),
    dns: z.array(ipv4).min(1).optional().describe('DNS servers given to the machines (default: the gateway)'),
    controller: ipv4
      .optional()
      .describe(
        "The controller's address on the subnet (default: read from the interface when the PXE server starts)",
      ),
    dhcp: z
      .strictObject({
        mode: z
          .enum(dhcpModes)
          .default('proxy')
          .describe(
            'proxy: a router already serves DHCP, we add boot information only; full: we lease the configured addresses',
          ),
        range: range
          .optional()
          .describe('full mode only: a dynamic range for other clients (never given boot information)'),
      })
      .default({ mode: 'proxy' })
      .describe('How machines get addresses while they netboot'),
  })
  .describe('The network the machines boot on')

export const machineSchema = z
  .strictObject({
    name: dnsLabel.describe('Host name, unique'),
    mac: mac.describe('MAC address of the NIC that netboots'),
    ip: ipv4.describe('Static address after install'),
    role: z.enum(roles).describe('server: k3s control plane (embedded etcd); agent: worker'),
    disk: z
      .string()
      .regex(/^[A-Za-z0-9._/:-]+$/, {
        message: 'is not a disk name (expected like sda, nvme0n1 or /dev/disk/by-id/...)',
      })
      .describe('Install disk (wiped by the installer), best named by its /dev/disk/by-id/... link'),
    nic: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,15}$/, {
        message: 'is not a network interface name (expected like eno1 or enp3s0)',
      })
      .describe(
        "Name the installed OS gives the NIC with this MAC (flannel's interface); the installer reports the real one",
      ),
    firmware: z
      .enum(firmwares)
      .optional()
      .describe('Firmware hint: uefi (default, PXE), uefi-http (UEFI HTTP boot) or bios (legacy PXE)'),
  })
  .describe('One bare-metal machine')

export const clusterSchema = z
  .strictObject({
    k3sVersion: z
      .string()
      .regex(/^v\d+\.\d+\.\d+\+k3s\d+$/, {
        message: 'is not a pinned k3s version (expected like v1.33.5+k3s1)',
      })
      .describe('k3s release, pinned exactly'),
    endpoint: ipv4.describe(
      "The control plane's address: a server's IP, or a free address used as a virtual IP",
    ),
    loadBalancerPool: range
      .optional()
      .describe(
        'Addresses for LoadBalancer services (default: the last /27 of the subnet, less its broadcast)',
      ),
  })
  .describe('The k3s cluster')

export const osSchema = z
  .strictObject({
    profile: z.enum(['fedora']).default('fedora').describe('Install profile'),
    release: z.number().int().min(38).describe('Fedora release, like 43'),
    iso: z
      .union([
        z
          .strictObject({
            url: httpsUrl.describe('Where the Server DVD ISO is downloaded from'),
            sha256: z
              .string()
              .regex(/^[0-9a-f]{64}$/, {
                message: 'is not a sha256 digest (expected 64 lower-case hex digits)',
              })
              .describe("Its sha256, pinned (from the release's CHECKSUM file)"),
          })
          .describe('A downloaded ISO, verified by sha256'),
        z
          .literal(TEST_OS)
          .describe(
            'The offline test OS: an ISO with the Fedora layout built from Debian packages, for the built-in lab and tests only',
          ),
      ])
      .describe('"test-os", or a mapping with url and sha256 of the installer ISO'),
    timezone: timezone.describe('Time zone, like Europe/Paris'),
    locale: z
      .string()
      .regex(/^[a-z]{2,3}_[A-Z]{2}(\.UTF-8)?$/, { message: 'is not a locale (expected like en_US.UTF-8)' })
      .default('en_US.UTF-8'),
    keyboard: z
      .string()
      .regex(/^[a-z]{2,8}(-[a-z0-9]+)?$/, {
        message: 'is not a keyboard layout (expected like us or de-nodeadkeys)',
      })
      .default('us'),
    sshPublicKey: z
      .string()
      .min(1)
      .describe('Path of the SSH public key authorised on every machine (relative to this file, or ~/...)'),
  })
  .describe('The operating system installed on the machines')

export const gitopsSchema = z
  .strictObject({
    seed: z
      .strictObject({
        url: url.describe('The repo ArgoCD reads first (e.g. on GitHub)'),
        revision: z.string().min(1).default('main').describe('Branch, tag or commit'),
      })
      .describe('The seed repository'),
    domain: domain.describe('Apps are served as <app>.<domain>'),
    clusterRepo: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]*\/[a-z0-9][a-z0-9_.-]*$/i, {
        message: 'is not an owner/name repository (expected like ops/homelab)',
      })
      .default('ops/homelab')
      .describe('The in-cluster Gitea repository the root app follows once Gitea serves it'),
  })
  .describe('GitOps settings')

export const externalSchema = z
  .strictObject({
    cloudflare: z
      .strictObject({
        accountId: z
          .string()
          .regex(/^[0-9a-f]{32}$/, { message: 'is not a Cloudflare account id (expected 32 hex digits)' })
          .describe("The Cloudflare account's id (32 hex digits: dashboard, Account home)"),
        zone: domain.describe('The DNS zone, e.g. example.com: gitops.domain or a parent of it'),
      })
      .describe('homelab external: a tunnel to the shared Gateway, the *.<domain> record, scoped DNS tokens')
      .optional(),
    letsencrypt: z
      .strictObject({
        email: z.email({ message: 'is not an e-mail address' }).describe("The ACME account's e-mail"),
        server: z
          .enum(['staging', 'production'])
          .default('staging')
          .describe('staging (untrusted test certificates) until it works, then production'),
      })
      .describe("Let's Encrypt for the wildcard certificate, through DNS-01 in external.cloudflare.zone")
      .optional(),
  })
  .describe('Optional managed services: docs/external.md')

export const configSchema = z
  .strictObject({
    network: networkSchema,
    machines: z.array(machineSchema).min(1).describe('The machines, by MAC: no other machine is ever served'),
    cluster: clusterSchema,
    os: osSchema,
    gitops: gitopsSchema,
    external: externalSchema.optional(),
  })
  .describe('homelab.yaml: the single source of truth of a homelab')

/** The config as written (defaults not applied). */
export type ConfigInput = z.input<typeof configSchema>
/** The config after defaults: what the code reads. */
export type Config = z.output<typeof configSchema>
export type Machine = Config['machines'][number]

/** The JSON Schema for editors, generated from the same schema. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >
  return { ...schema, $id: 'https://homelab.invalid/homelab.schema.json', title: 'homelab.yaml' }
}
