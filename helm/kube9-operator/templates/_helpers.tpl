{{/*
Fills in, in .Values, the default of every value added after the chart's first
version (files/added-since-0.1.0.yaml) that is absent, when the values are not
this chart's own (their valuesGeneration is not the file's generation): `helm
upgrade --reuse-values` renders these templates with the values of the chart
that was installed, which lack them. Only absent keys are filled; a value given
(false, 0 and "" included) stays; with this chart's own values nothing is
filled, so a value set to null stays out. Every template includes it first; it
is idempotent.
*/}}
{{- define "kube9-operator.fallbacks" -}}
{{- $added := .Files.Get "files/added-since-0.1.0.yaml" | fromYaml }}
{{- if ne (toString (.Values.valuesGeneration | default 0)) (toString $added.generation) }}
{{- include "kube9-operator.fill" (list .Values $added.values) }}
{{- end }}
{{- end }}

{{/*
fill (list DST SRC): sets every key of the map SRC that DST lacks, and recurses
into the maps both have. SRC is parsed afresh for each call, so nothing is shared.
*/}}
{{- define "kube9-operator.fill" -}}
{{- $dst := index . 0 }}
{{- range $key, $value := index . 1 }}
{{- if not (hasKey $dst $key) }}
{{- $_ := set $dst $key $value }}
{{- else if and (kindIs "map" $value) (kindIs "map" (index $dst $key)) }}
{{- include "kube9-operator.fill" (list (index $dst $key) $value) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The chart name, or nameOverride.
*/}}
{{- define "kube9-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects (Deployment, Service, Secret...), cut to
63 characters because some Kubernetes name fields are limited to that (DNS
labels). A release name that already contains the chart name is used as is.
*/}}
{{- define "kube9-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "kube9-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object of the release, commonLabels included. Every template,
the helm test pod and the pod template too, takes its labels from here.
*/}}
{{- define "kube9-operator.labels" -}}
{{ include "kube9-operator.chartLabels" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The labels the chart sets itself; commonLabels may not replace them.
*/}}
{{- define "kube9-operator.chartLabels" -}}
helm.sh/chart: {{ include "kube9-operator.chart" . }}
{{ include "kube9-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: name and instance only, since a selector cannot change after
the Deployment is created.
*/}}
{{- define "kube9-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube9-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "kube9-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kube9-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The Secret that holds (or will hold) the API key: existingSecret, or the one
the chart renders from apiKey. The operator watches it by this name even when
it does not exist yet, so a key added later takes effect without a restart.
*/}}
{{- define "kube9-operator.secretName" -}}
{{- default (include "kube9-operator.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
The name of cluster-scoped objects: the full name plus the namespace, so two
releases of the same name in different namespaces do not share them.
*/}}
{{- define "kube9-operator.clusterScopedName" -}}
{{- printf "%s-%s" (include "kube9-operator.fullname" .) (include "kube9-operator.namespace" .) }}
{{- end }}

{{/*
The namespace of every namespaced object: namespaceOverride, else the release's.
*/}}
{{- define "kube9-operator.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/*
An image reference from a dict of root (the chart's context), image (registry,
repository, tag, digest) and defaultTag: the registry (global.imageRegistry
when set, a mirror of every image; else the image's own; none when both are
empty) in front of the repository, unless the repository names a registry
itself (its first part has a "." or a ":", or is localhost), then @digest when
a digest is given, else :tag (defaultTag when the tag is empty).
*/}}
{{- define "kube9-operator.imageRef" -}}
{{- $image := .image }}
{{- $registry := (.root.Values.global).imageRegistry | default $image.registry | default "" }}
{{- $repository := $image.repository }}
{{- $first := index (splitList "/" $repository) 0 }}
{{- $named := and (contains "/" $repository) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) }}
{{- if and $registry (not $named) }}
{{- $repository = printf "%s/%s" $registry $repository }}
{{- end }}
{{- if $image.digest }}
{{- printf "%s@%s" $repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .defaultTag $image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
The operator image: [registry/]repository, by digest when image.digest is set
(the tag is then ignored), else the tag, defaulting to the chart's appVersion.
*/}}
{{- define "kube9-operator.image" -}}
{{- include "kube9-operator.imageRef" (dict "root" . "image" .Values.image "defaultTag" .Chart.AppVersion) }}
{{- end }}

{{/*
The `helm test` pod's image: [registry/]repository:tag.
*/}}
{{- define "kube9-operator.testImage" -}}
{{- include "kube9-operator.imageRef" (dict "root" . "image" .Values.tests.image "defaultTag" "") }}
{{- end }}

{{/*
The pod's imagePullSecrets: imagePullSecrets then global.imagePullSecrets, each
a name or an object with a name, without repeats. Renders the YAML list, or
nothing when there is none.
*/}}
{{- define "kube9-operator.imagePullSecrets" -}}
{{- $names := list }}
{{- range concat (.Values.imagePullSecrets | default list) ((.Values.global).imagePullSecrets | default list) }}
{{- $name := . }}
{{- if kindIs "map" . }}
{{- $name = get . "name" }}
{{- end }}
{{- if not (has $name $names) }}
{{- $names = append $names $name }}
{{- end }}
{{- end }}
{{- range $names }}
- name: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
Whether to adapt the security contexts to OpenShift's restricted-v2 SCC
(global.compatibility.openshift.adaptSecurityContext): "true" or "".
*/}}
{{- define "kube9-operator.adaptToOpenShift" -}}
{{- $mode := ((((.Values.global).compatibility).openshift).adaptSecurityContext) | default "auto" }}
{{- if or (eq $mode "force") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "security.openshift.io/v1")) -}}
true
{{- end }}
{{- end }}

{{/*
A security context (dict in .context) as the pod or container gets it: when
adapting to OpenShift, without runAsUser, runAsGroup and fsGroup, which the
platform assigns from the namespace's range.
*/}}
{{- define "kube9-operator.securityContext" -}}
{{- $context := deepCopy (.context | default dict) }}
{{- if include "kube9-operator.adaptToOpenShift" .root }}
{{- $context = omit $context "runAsUser" "runAsGroup" "fsGroup" }}
{{- end }}
{{- with $context }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
The start-up settings the operator reads from its environment, except the API
key (the operator reads and watches the key's Secret through the API). The
Deployment passes them as env and hashes them into the checksum/config
annotation.
*/}}
{{- define "kube9-operator.settings" -}}
LOG_LEVEL: {{ .Values.logLevel | quote }}
STATUS_UPDATE_INTERVAL_SECONDS: {{ .Values.statusUpdateIntervalSeconds | int64 | quote }}
REREGISTRATION_INTERVAL_HOURS: {{ .Values.reregistrationIntervalHours | int64 | quote }}
SERVER_URL: {{ .Values.serverUrl | quote }}
ALLOW_INSECURE_SERVER_URL: {{ .Values.allowInsecureServerUrl | toString | quote }}
API_KEY_SECRET_NAME: {{ include "kube9-operator.secretName" . | quote }}
API_KEY_SECRET_KEY: {{ .Values.existingSecretKey | quote }}
PORT: {{ .Values.containerPort | int64 | quote }}
{{- if gt (int .Values.replicaCount) 1 }}
LEADER_ELECTION: "true"
{{- end }}
{{- with .Values.proxy.httpsProxy }}
{{- if not (regexMatch (include "kube9-operator.proxyUrlFormat" $) .) }}
{{- fail "proxy.httpsProxy: must be http:// or https://, an optional user:password@ (percent-encoded), a host and an optional port, nothing after (e.g. http://proxy.corp:3128); the value is not shown because it may hold a password" }}
{{- end }}
{{- if not $.Values.proxy.existingSecret }}
HTTPS_PROXY: {{ . | quote }}
{{- end }}
{{- end }}
{{- with .Values.proxy.noProxy }}
NO_PROXY: {{ . | quote }}
{{- end }}
{{- if .Values.caBundle.configMapName }}
NODE_EXTRA_CA_CERTS: {{ include "kube9-operator.caBundlePath" . | quote }}
{{- end }}
{{- end }}

{{/*
A proxy URL as proxy.httpsProxy takes it.
*/}}
{{- define "kube9-operator.proxyUrlFormat" -}}
^https?://([^\s/?#@]+@)?([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?/?$
{{- end }}

{{/*
Where the caBundle ConfigMap's key is mounted (read-only) in the operator's container.
*/}}
{{- define "kube9-operator.caBundlePath" -}}
/etc/kube9-operator/ca-bundle/ca.crt
{{- end }}

{{/*
Checks the schema cannot express (or could only express by echoing a secret in
its error). Renders nothing; fails the render with a message naming the value.
*/}}
{{- define "kube9-operator.validateValues" -}}
{{- if and .Values.apiKey (not (regexMatch "^kdy_(prod|dev)_[a-z0-9]+$" .Values.apiKey)) }}
{{- fail "apiKey: must be empty or match ^kdy_(prod|dev)_[a-z0-9]+$ (kdy_prod_ or kdy_dev_ then lowercase letters and digits, no spaces or newlines); the value is not shown because it is a secret" }}
{{- end }}
{{- if and (not .Values.allowInsecureServerUrl) (not (hasPrefix "https://" .Values.serverUrl)) }}
{{- fail "serverUrl: must start with https:// (set allowInsecureServerUrl=true to permit http:// for local development and tests only)" }}
{{- end }}
{{- $chartLabels := include "kube9-operator.chartLabels" . | fromYaml }}
{{- $labelValues := dict "commonLabels" .Values.commonLabels "podLabels" .Values.podLabels "service.labels" .Values.service.labels "serviceAccount.labels" .Values.serviceAccount.labels }}
{{- range $value := keys $labelValues | sortAlpha }}
{{- range $key, $_ := get $labelValues $value }}
{{- if or (hasKey $chartLabels $key) (eq $key "app.kubernetes.io/component") }}
{{- fail (printf "%s: %q is a label the chart sets itself and cannot be replaced" $value $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- $chartEnv := include "kube9-operator.chartEnvNames" . | fromYamlArray }}
{{- range $i, $env := .Values.extraEnv }}
{{- if has $env.name $chartEnv }}
{{- fail (printf "extraEnv[%d]: %s is set by the chart (use the chart value that sets it)" $i $env.name) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The names of the environment variables the chart sets on the operator, which
extraEnv may not set again.
*/}}
{{- define "kube9-operator.chartEnvNames" -}}
{{- $names := list "OPERATOR_NAMESPACE" "OPERATOR_DEPLOYMENT_NAME" }}
{{- if gt (int .Values.replicaCount) 1 }}
{{- $names = append $names "POD_NAME" }}
{{- end }}
{{- if .Values.proxy.existingSecret }}
{{- $names = append $names "HTTPS_PROXY" }}
{{- end }}
{{- $names = concat $names (keys (include "kube9-operator.settings" . | fromYaml)) }}
{{- toYaml ($names | sortAlpha) }}
{{- end }}

{{/*
The port of a URL: the one it names, else 443 for https and 80 for http.
*/}}
{{- define "kube9-operator.urlPort" -}}
{{- $url := urlParse . }}
{{- $port := regexFind ":[0-9]+$" $url.host | trimPrefix ":" }}
{{- if $port }}
{{- $port }}
{{- else if eq $url.scheme "https" }}
{{- 443 }}
{{- else }}
{{- 80 }}
{{- end }}
{{- end }}

{{/*
The ports the operator's outbound calls leave on: networkPolicy's own list
when given, else the proxy's port when proxy.httpsProxy is set, else
serverUrl's port.
*/}}
{{- define "kube9-operator.outboundPorts" -}}
{{- $ports := .Values.networkPolicy.egress.kube9Server.ports }}
{{- if not $ports }}
{{- if .Values.proxy.existingSecret }}
{{- fail "networkPolicy.egress.kube9Server.ports: required when proxy.existingSecret is set (the chart cannot read the proxy's port from the Secret); list the proxy's port, e.g. [3128]" }}
{{- end }}
{{- with .Values.proxy.httpsProxy }}
{{- $ports = list (include "kube9-operator.urlPort" . | int) }}
{{- else }}
{{- $ports = list (include "kube9-operator.urlPort" .Values.serverUrl | int) }}
{{- end }}
{{- end }}
{{- toYaml $ports }}
{{- end }}
