{{- /*
The shared Gateway every route attaches to: Gateway "homelab" in the namespace "envoy-gateway"
(system/envoy-gateway renders it with these same names). Its listener "https" serves
*.<global.homelab.domain> with the wildcard certificate cert-manager issues; its listener "http"
only redirects to https. bootstrap/validate/routes.ts holds the same names (SHARED_GATEWAY).
*/ -}}
{{- define "homelab.gateway.name" -}}homelab{{- end }}
{{- define "homelab.gateway.namespace" -}}envoy-gateway{{- end }}

{{- /*
homelab.gateway.parentRef: the parentRefs entry of a route on the shared Gateway's https listener.
*/ -}}
{{- define "homelab.gateway.parentRef" -}}
group: gateway.networking.k8s.io
kind: Gateway
namespace: {{ include "homelab.gateway.namespace" . }}
name: {{ include "homelab.gateway.name" . }}
sectionName: https
{{- end }}

{{- /*
homelab.routes: one HTTPRoute per .Values.routes item { name, host, service, port, annotations },
served as https://<host>.<global.homelab.domain>/ by the shared Gateway and sent to the Service
<service>:<port> of the component's namespace. Call it with the chart's root context:
{{ include "homelab.routes" . }}. The item's `annotations` (e.g. gethomepage.dev/*, which the
homepage dashboard reads from HTTPRoutes) are kept, each value quoted (annotations are strings).
With global.homelab.cloudflare (the tunnel), each route is marked proxied for external-dns
(docs/external.md, "external-dns and the tunnel").
*/ -}}
{{- define "homelab.routes" -}}
{{- range $route := .Values.routes }}
{{- range $field := list "name" "host" "service" "port" }}
{{- if not (hasKey $route $field) }}
{{- fail (printf "routes %q: has no %s: set name, host, service and port (docs/gitops.md, Components)" ($route.name | default "?") $field) }}
{{- end }}
{{- end }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {{ $route.name | quote }}
  {{- if or $route.annotations $.Values.global.homelab.cloudflare }}
  annotations:
    {{- range $key, $value := $route.annotations }}
    {{ $key | quote }}: {{ $value | quote }}
    {{- end }}
    {{- if $.Values.global.homelab.cloudflare }}
    {{- /* external-dns v0.19.0 reads cloudflare-proxied from the route, not the Gateway
    (source/gateway.go): the host's CNAME to tunnel.<domain> goes through Cloudflare's proxy. */}}
    "external-dns.alpha.kubernetes.io/cloudflare-proxied": "true"
    {{- end }}
  {{- end }}
spec:
  parentRefs:
    - {{- include "homelab.gateway.parentRef" $ | nindent 6 }}
  hostnames:
    - {{ printf "%s.%s" $route.host $.Values.global.homelab.domain | quote }}
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /
      backendRefs:
        - group: ""
          kind: Service
          name: {{ $route.service | quote }}
          port: {{ $route.port }}
{{- end }}
{{- end }}
