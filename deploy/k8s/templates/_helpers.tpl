{{/*
_helpers.tpl - names, the recommended app.kubernetes.io/* labels, selectors,
and the table of components every per-component template ranges over.

Per-component templates range over swifteats.components and pass helpers a
"component context": dict "root" $ "key" "menu" "name" "menu"
"c" <its row of swifteats.components> "v" .Values.menu.
*/}}

{{/*
The components: facts of the code, not knobs (so they are here, not in
values.yaml). binary: /usr/local/bin/<binary> in the image; port: the
listen port (the default of SE_<ENV>_ADDR, runtime/se_config.c; the gateway:
SE_GATEWAY_ADDR); protocol: grpc (native gRPC probes on grpc.health.v1) or
http (the gateway: /healthz, /readyz); calls: the components whose
SE_<ENV>_TARGET it reads (grep se_config_target in the sources; the
gateway also health-checks the payment gateway behind /readyz, unless
gateway.readyzBackends or a disabled mock leaves it out); pg / redis:
whether it receives SE_PG_URL / SE_REDIS_URL. The NetworkPolicies are the
inverse of "calls": each component admits only its callers.
*/}}
{{- define "swifteats.components" -}}
gateway:
  name: gateway
  binary: se-gateway
  env: GATEWAY
  port: 8080
  protocol: http
  calls: [menu, order, logistics, paymentGateway]
  pg: false
  redis: false
menu:
  name: menu
  binary: se-menu
  env: MENU
  port: 50051
  protocol: grpc
  calls: []
  pg: true
  redis: true
order:
  name: order
  binary: se-order
  env: ORDER
  port: 50052
  protocol: grpc
  calls: [menu]
  pg: true
  redis: true
logistics:
  name: logistics
  binary: se-logistics
  env: LOGISTICS
  port: 50053
  protocol: grpc
  calls: []
  pg: true
  redis: true
paymentGateway:
  name: payment-gateway
  binary: se-payment-gateway
  env: PAYMENT_GATEWAY
  port: 50054
  protocol: grpc
  calls: []
  pg: false
  redis: false
paymentWorker:
  name: payment-worker
  binary: se-payment-worker
  env: PAYMENT_WORKER
  port: 50061
  protocol: grpc
  calls: [order, paymentGateway]
  pg: false
  redis: true
locationWorker:
  name: location-worker
  binary: se-location-worker
  env: LOCATION_WORKER
  port: 50062
  protocol: grpc
  calls: []
  pg: true
  redis: true
{{- end }}

{{/* Chart name, overridable. */}}
{{- define "swifteats.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-wide prefix of every object name: the release name, or
release-chart when the release name does not contain the chart name. */}}
{{- define "swifteats.fullname" -}}
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

{{/* Name of a part: (dict "root" $ "name" "menu") -> "swifteats-menu". */}}
{{- define "swifteats.partName" -}}
{{- printf "%s-%s" (include "swifteats.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* In-cluster DNS name of a part's Service. */}}
{{- define "swifteats.partHost" -}}
{{- printf "%s.%s.svc.%s" (include "swifteats.partName" .) .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/* The recommended labels of a part: (dict "root" $ "name" "menu"). */}}
{{- define "swifteats.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "swifteats.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: {{ include "swifteats.name" .root }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* Selector labels: immutable, so never the version. */}}
{{- define "swifteats.selectorLabels" -}}
app.kubernetes.io/name: {{ include "swifteats.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* The application image, tag required (values.schema.json also insists). */}}
{{- define "swifteats.image" -}}
{{- $tag := required "image.tag is required: the image to deploy, e.g. the chart's appVersion" .Values.image.tag -}}
{{- printf "%s:%s" (required "image.repository is required" .Values.image.repository) (toString $tag) }}
{{- end }}

{{/* Any other image: (dict "image" .Values.x.image "what" "postgresql.inCluster.image"). */}}
{{- define "swifteats.otherImage" -}}
{{- $tag := required (printf "%s.tag is required" .what) .image.tag -}}
{{- printf "%s:%s" (required (printf "%s.repository is required" .what) .image.repository) (toString $tag) }}
{{- end }}

{{- define "swifteats.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "swifteats.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The gRPC target of values key .key ("menu") for its callers. */}}
{{- define "swifteats.target" -}}
{{- if and (eq .key "paymentGateway") (not .root.Values.paymentGateway.enabled) -}}
{{- required "paymentGateway.externalTarget is required when paymentGateway.enabled is false" .root.Values.paymentGateway.externalTarget }}
{{- else -}}
{{- $c := index (include "swifteats.components" .root | fromYaml) .key -}}
{{- printf "dns:///%s:%d" (include "swifteats.partHost" (dict "root" .root "name" $c.name)) (int $c.port) }}
{{- end }}
{{- end }}

{{/* SE_PG_URL (in-cluster: a URL without password; the password comes
as PGPASSWORD, which libpq reads) for the ConfigMap; empty when it comes
from the Secret. */}}
{{- define "swifteats.pgUrl" -}}
{{- $pg := .Values.postgresql.inCluster -}}
{{- if $pg.enabled -}}
{{- printf "postgresql://%s@%s:5432/%s" $pg.user (include "swifteats.partHost" (dict "root" . "name" "postgresql")) $pg.database }}
{{- end }}
{{- end }}

{{- define "swifteats.redisUrl" -}}
{{- if .Values.redis.inCluster.enabled -}}
{{- printf "redis://%s:6379/0" (include "swifteats.partHost" (dict "root" . "name" "redis")) }}
{{- end }}
{{- end }}

{{/* Secret-backed environment of a part that uses PostgreSQL and/or Redis:
(dict "root" $ "pg" true "redis" true). */}}
{{- define "swifteats.secretEnv" -}}
{{- $v := .root.Values -}}
{{- if .pg }}
{{- if $v.postgresql.inCluster.enabled }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ required "postgresql.existingSecret is required" $v.postgresql.existingSecret }}
      key: {{ $v.postgresql.inCluster.passwordKey }}
{{- else }}
- name: SE_PG_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "postgresql.existingSecret is required" $v.postgresql.existingSecret }}
      key: {{ $v.postgresql.urlKey }}
{{- end }}
{{- end }}
{{- if and .redis (not $v.redis.inCluster.enabled) }}
- name: SE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "redis.existingSecret is required" $v.redis.existingSecret }}
      key: {{ $v.redis.urlKey }}
{{- end }}
{{- end }}

{{/* SE_GATEWAY_READYZ_BACKENDS: gateway.readyzBackends when set, else the
backends this release deploys (menu, order, logistics when enabled;
payment_gateway only with the mock, so that a real provider's health does
not decide the gateway's readiness). */}}
{{- define "swifteats.readyzBackends" -}}
{{- $v := .Values -}}
{{- $list := $v.gateway.readyzBackends | default list -}}
{{- if not $list -}}
{{- range $b := list (list "menu" "menu") (list "order" "order") (list "logistics" "logistics") (list "paymentGateway" "payment_gateway") -}}
{{- if (index $v (first $b)).enabled }}{{ $list = append $list (last $b) }}{{ end -}}
{{- end -}}
{{- end -}}
{{- if not $list -}}
{{- fail "gateway.readyzBackends: no backend to check (menu, order, logistics and paymentGateway are all disabled); list the ones the gateway should wait for" -}}
{{- end -}}
{{- join "," $list -}}
{{- end }}

{{/* The environment of a component, as its ConfigMap's data (sorted
YAML): values' config, the component's config over it, then what the chart
itself must set (listen host, targets, in-cluster store URLs, the gateway's
readiness backends, round_robin over headless Services), which wins. */}}
{{- define "swifteats.configData" -}}
{{- $root := .root -}}
{{- $data := dict -}}
{{- range $k, $val := $root.Values.config }}{{ $_ := set $data $k (toString $val) }}{{ end -}}
{{- range $k, $val := .v.config }}{{ $_ := set $data $k (toString $val) }}{{ end -}}
{{- $_ := set $data "SE_BIND_HOST" $root.Values.bindHost -}}
{{- if eq .key "gateway" -}}
{{- $_ := set $data "SE_GATEWAY_ADDR" (printf "%s:%d" $root.Values.bindHost (int .c.port)) -}}
{{- $_ := set $data "SE_GATEWAY_READYZ_BACKENDS" (include "swifteats.readyzBackends" $root) -}}
{{- end -}}
{{- if and .c.calls $root.Values.headlessGrpcServices -}}
{{- $_ := set $data "SE_RPC_LB_POLICY" "round_robin" -}}
{{- end -}}
{{- range $callee := .c.calls -}}
{{- $cc := index (include "swifteats.components" $root | fromYaml) $callee -}}
{{- $_ := set $data (printf "SE_%s_TARGET" $cc.env) (include "swifteats.target" (dict "root" $root "key" $callee)) -}}
{{- end -}}
{{- if and .c.pg $root.Values.postgresql.inCluster.enabled -}}
{{- $_ := set $data "SE_PG_URL" (include "swifteats.pgUrl" $root) -}}
{{- end -}}
{{- if and .c.redis $root.Values.redis.inCluster.enabled -}}
{{- $_ := set $data "SE_REDIS_URL" (include "swifteats.redisUrl" $root) -}}
{{- end -}}
{{- toYaml $data -}}
{{- end }}

{{/* A probe's timing: values' probes.<kind>, overridden by the
component's probes.<kind>: (dict "root" $ "v" .Values.menu "kind" "startup"). */}}
{{- define "swifteats.probeTiming" -}}
{{- $t := deepCopy (index .root.Values.probes .kind) -}}
{{- $own := dig "probes" .kind dict .v -}}
{{- toYaml (mergeOverwrite $t $own) -}}
{{- end }}

{{/* A component's probe handler: grpc on the port (the whole server's
health), or httpGet on the gateway's path. */}}
{{- define "swifteats.probeHandler" -}}
{{- if eq .c.protocol "grpc" -}}
grpc:
  port: {{ .c.port }}
{{- else -}}
httpGet:
  path: {{ .path }}
  port: {{ .c.port }}
{{- end }}
{{- end }}

{{/* Spread replicas over zones and nodes when topologySpread.enabled. */}}
{{- define "swifteats.topologySpread" -}}
{{- $ts := .root.Values.topologySpread -}}
{{- if $ts.enabled }}
{{- range $key := $ts.topologyKeys }}
- maxSkew: {{ $ts.maxSkew }}
  topologyKey: {{ $key }}
  whenUnsatisfiable: {{ $ts.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "swifteats.selectorLabels" $ | nindent 6 }}
{{- end }}
{{- end }}
{{- range .extra }}
- {{ toYaml . | nindent 2 | trim }}
{{- end }}
{{- end }}
