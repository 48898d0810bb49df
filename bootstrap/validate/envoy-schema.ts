/**
 * Envoy Gateway's EnvoyProxy, as a hand-written zod schema: npm has no typed model package for
 * Envoy Gateway's kinds (gateway.envoyproxy.io). Written from its Go API at v1.9.0
 * (api/v1alpha1/envoyproxy_types.go, shared_types.go), for the fields this repo sets
 * (system/envoy-gateway): an unknown field is refused, so a new one is checked against that API
 * and added here first.
 */
import { z } from 'zod'

const metadata = z.looseObject({ name: z.string().min(1), namespace: z.string().optional() })

/** KubernetesServiceSpec (shared_types.go), the fields we use. */
const envoyService = z.strictObject({
  name: z.string().min(1).optional(),
  type: z.enum(['ClusterIP', 'LoadBalancer', 'NodePort']).optional(),
  externalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  loadBalancerIP: z.string().optional(),
})

/** KubernetesDeploymentSpec (shared_types.go), the fields we use. */
const envoyDeployment = z.strictObject({
  replicas: z.number().int().min(0).optional(),
  container: z.strictObject({ image: z.string().min(1).optional() }).optional(),
})

/** Envoy Gateway EnvoyProxy (gateway.envoyproxy.io/v1alpha1), hand-written zod schema. */
export const envoyProxySchema = z.object({
  apiVersion: z.literal('gateway.envoyproxy.io/v1alpha1'),
  kind: z.literal('EnvoyProxy'),
  metadata,
  spec: z.strictObject({
    provider: z
      .strictObject({
        type: z.literal('Kubernetes'),
        kubernetes: z
          .strictObject({
            envoyDeployment: envoyDeployment.optional(),
            envoyService: envoyService.optional(),
          })
          .optional(),
      })
      .optional(),
  }),
})

export const ENVOY_GATEWAY_SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  'gateway.envoyproxy.io/v1alpha1/EnvoyProxy': envoyProxySchema,
}
