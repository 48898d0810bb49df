/**
 * MetalLB's kinds, as a hand-written zod schema: no typed model package exists for MetalLB
 * (npm has @kubernetes-models packages for Argo CD and cert-manager, none for MetalLB).
 * Written from MetalLB's CRDs (metallb.io/v1beta1); unknown spec fields are refused.
 */
import { z } from 'zod'

const metadata = z.looseObject({ name: z.string().min(1), namespace: z.string().optional() })
const selector = z.looseObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(z.looseObject({ key: z.string(), operator: z.string() })).optional(),
})

/** MetalLB IPAddressPool (metallb.io/v1beta1), hand-written zod schema. */
export const ipAddressPoolSchema = z.object({
  apiVersion: z.literal('metallb.io/v1beta1'),
  kind: z.literal('IPAddressPool'),
  metadata,
  spec: z.strictObject({
    addresses: z.array(z.string().min(1)).min(1),
    autoAssign: z.boolean().optional(),
    avoidBuggyIPs: z.boolean().optional(),
    serviceAllocation: z
      .strictObject({
        priority: z.number().int().optional(),
        namespaces: z.array(z.string()).optional(),
        namespaceSelectors: z.array(selector).optional(),
        serviceSelectors: z.array(selector).optional(),
      })
      .optional(),
  }),
})

/** MetalLB L2Advertisement (metallb.io/v1beta1), hand-written zod schema. */
export const l2AdvertisementSchema = z.object({
  apiVersion: z.literal('metallb.io/v1beta1'),
  kind: z.literal('L2Advertisement'),
  metadata,
  spec: z
    .strictObject({
      ipAddressPools: z.array(z.string()).optional(),
      ipAddressPoolSelectors: z.array(selector).optional(),
      nodeSelectors: z.array(selector).optional(),
      interfaces: z.array(z.string()).optional(),
    })
    .optional(),
})

export const METALLB_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  'metallb.io/v1beta1/IPAddressPool': ipAddressPoolSchema,
  'metallb.io/v1beta1/L2Advertisement': l2AdvertisementSchema,
}
