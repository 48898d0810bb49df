{{- /*
homelab.ingresses: one Ingress per .Values.ingresses item { name, host, service, port }, served as
<host>.<global.homelab.domain> over TLS (secret <name>-tls) from cert-manager's
global.homelab.clusterIssuer. Call it with the chart's root context: {{ include "homelab.ingresses" . }}.
Written in the Helm subset of docs/gitops.md only, so it renders offline exactly as in Helm.
*/ -}}
{{- define "homelab.ingresses" -}}
{{- range .Values.ingresses }}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .name | quote }}
  annotations:
    cert-manager.io/cluster-issuer: {{ $.Values.global.homelab.clusterIssuer | quote }}
spec:
  ingressClassName: nginx
  tls:
    - hosts:
        - {{ .host }}.{{ $.Values.global.homelab.domain }}
      secretName: {{ .name }}-tls
  rules:
    - host: {{ .host }}.{{ $.Values.global.homelab.domain }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ .service | quote }}
                port:
                  number: {{ .port }}
{{- end }}
{{- end }}
