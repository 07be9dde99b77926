{{/*
The pod annotations a Prometheus that discovers pods by annotation scrapes:
rendered when metrics.scrapeAnnotations is on and neither a ServiceMonitor nor
a PodMonitor scrapes the operator already (it would be scraped twice), and
podAnnotations do not set prometheus.io/scrape themselves.
*/}}
{{- define "kube9-operator.scrapeAnnotations" -}}
{{- $metrics := .Values.metrics }}
{{- $own := hasKey .Values.podAnnotations "prometheus.io/scrape" }}
{{- if and $metrics.scrapeAnnotations (not $metrics.serviceMonitor.enabled) (not $metrics.podMonitor.enabled) (not $own) }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.containerPort | int64 | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/*
The interval and scrapeTimeout of a ServiceMonitor endpoint or PodMonitor
podMetricsEndpoint; each left out when empty (Prometheus' default applies).
*/}}
{{- define "kube9-operator.scrapeTiming" -}}
{{- with .interval }}
interval: {{ . | quote }}
{{- end }}
{{- with .scrapeTimeout }}
scrapeTimeout: {{ . | quote }}
{{- end }}
{{- end }}
