{{- /*
homelab.ingresses: one Ingress per .Values.ingresses item { name, host, service, port, annotations },
served as <host>.<global.homelab.domain> over TLS (secret <name>-tls) from cert-manager's
global.homelab.clusterIssuer. Call it with the chart's root context: {{ include "homelab.ingresses" . }}.
The item's `annotations` (e.g. gethomepage.dev/*, which the homepage dashboard reads) are kept, each
value quoted (Kubernetes annotations are strings); the issuer annotation is ours and may not be set.
*/ -}}
{{- define "homelab.ingresses" -}}
{{- range $ingress := .Values.ingresses }}
{{- if hasKey ($ingress.annotations | default dict) "cert-manager.io/cluster-issuer" }}
{{- fail (printf "ingresses %q: annotations sets cert-manager.io/cluster-issuer, which homelab-lib sets from global.homelab.clusterIssuer: remove it" $ingress.name) }}
{{- end }}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $ingress.name | quote }}
  annotations:
    cert-manager.io/cluster-issuer: {{ $.Values.global.homelab.clusterIssuer | quote }}
    {{- range $key, $value := $ingress.annotations }}
    {{ $key | quote }}: {{ $value | quote }}
    {{- end }}
spec:
  ingressClassName: nginx
  tls:
    - hosts:
        - {{ $ingress.host }}.{{ $.Values.global.homelab.domain }}
      secretName: {{ $ingress.name }}-tls
  rules:
    - host: {{ $ingress.host }}.{{ $.Values.global.homelab.domain }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ $ingress.service | quote }}
                port:
                  number: {{ $ingress.port }}
{{- end }}
{{- end }}
