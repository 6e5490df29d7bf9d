{{/*
The chart's name, at most 63 characters.
*/}}
{{- define "podflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the objects; at most 52 characters, so that the suffixes of the TLS
objects (-selfsigned) still fit in 63.
*/}}
{{- define "podflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "podflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the webhook pods.
*/}}
{{- define "podflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "podflow.labels" -}}
helm.sh/chart: {{ include "podflow.chart" . }}
{{ include "podflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the node pods: a component of their own, so that the webhook's
selectors never match them, nor theirs the webhook's.
*/}}
{{- define "podflow.nodeSelectorLabels" -}}
app.kubernetes.io/name: {{ include "podflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: node
{{- end }}

{{/*
Labels of the node objects.
*/}}
{{- define "podflow.nodeLabels" -}}
helm.sh/chart: {{ include "podflow.chart" . }}
{{ include "podflow.nodeSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Name of the node objects (DaemonSet, ConfigMap, ServiceAccount, RBAC, Service). */}}
{{- define "podflow.nodeName" -}}
{{- printf "%s-node" (include "podflow.fullname" .) }}
{{- end }}

{{/* Labels that select the mediator pods. */}}
{{- define "podflow.mediatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "podflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: mediator
{{- end }}

{{/* Labels of the mediator objects. */}}
{{- define "podflow.mediatorLabels" -}}
helm.sh/chart: {{ include "podflow.chart" . }}
{{ include "podflow.mediatorSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Name of the mediator objects (Deployment, Service, ConfigMap, ServiceAccount, RBAC). */}}
{{- define "podflow.mediatorName" -}}
{{- printf "%s-mediator" (include "podflow.fullname" .) }}
{{- end }}

{{/*
Where the probes (sidecars, node pods) export: the mediator's Service when it is
installed, else the collector.
*/}}
{{- define "podflow.probeCollector" -}}
{{- if .Values.mediator.enabled }}
{{- printf "%s://%s.%s.svc:%v" (toString .Values.mediator.protocol) (include "podflow.mediatorName" .) .Release.Namespace .Values.mediator.port }}
{{- else }}
{{- include "podflow.collector" . }}
{{- end }}
{{- end }}

{{/* The export section of the probes' configurations. */}}
{{- define "podflow.probeExport" -}}
{{- if .Values.mediator.enabled }}
{{- $export := dict "collector" (include "podflow.probeCollector" .) }}
{{- if include "podflow.probeTlsSecret" . }}
{{- $_ := set $export "tls_ca" "/etc/podflow/collector-tls/ca.crt" }}
{{- if include "podflow.probeClientCert" . | eq "true" }}
{{- $_ := set $export "tls_cert" "/etc/podflow/collector-tls/tls.crt" }}
{{- $_ := set $export "tls_key" "/etc/podflow/collector-tls/tls.key" }}
{{- end }}
{{- end }}
{{- toYaml $export }}
{{- else }}
{{- include "podflow.export" . }}
{{- end }}
{{- end }}

{{/*
The podflow configuration of the mediator pods (--config), as a dict with the keys of
config/podflow.toml.
*/}}
{{- define "podflow.mediatorConfig" -}}
{{- $m := .Values.mediator }}
{{- $cidrs := list }}
{{- range $m.clusterCIDRs }}{{ $cidrs = append $cidrs (toString .) }}{{ end }}
{{- $stream := ternary "tls" "tcp" (eq (toString $m.protocol) "tls") }}
{{- $listen := list (printf "udp://0.0.0.0:%v" $m.port) (printf "%s://0.0.0.0:%v" $stream $m.port) }}
{{- $mediator := dict
    "listen" $listen
    "source" "kube"
    "cluster_cidrs" $cidrs
    "deleted_pod_grace_secs" (int64 $m.deletedPodGraceSecs) }}
{{- if eq $stream "tls" }}
{{- $_ := set $mediator "tls_cert" "/etc/podflow/mediator-tls/tls.crt" }}
{{- $_ := set $mediator "tls_key" "/etc/podflow/mediator-tls/tls.key" }}
{{- if ($m.tls | default dict).clientCertificates }}
{{- $_ := set $mediator "tls_client_ca" "/etc/podflow/mediator-tls/ca.crt" }}
{{- end }}
{{- end }}
{{- $config := dict
  "export" (include "podflow.export" . | fromYaml)
  "ipfix" (dict "enterprise_number" (int64 .Values.ipfix.enterpriseNumber))
  "telemetry" (dict "listen" (printf "0.0.0.0:%d" (int64 $m.telemetryPort)))
  "mediator" $mediator
  "log" (dict "format" $m.logFormat "level" (toString $m.logLevel)) }}
{{- toYaml $config }}
{{- end }}

{{- define "podflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/* Name of the Secret mounted as the webhook's certificate. */}}
{{- define "podflow.tlsSecretName" -}}
{{- if and (eq .Values.tls.mode "provided") .Values.tls.provided.existingSecret }}
{{- .Values.tls.provided.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "podflow.fullname" .) }}
{{- end }}
{{- end }}

{{/* The DNS name the API server calls: <service>.<namespace>.svc */}}
{{- define "podflow.serviceHost" -}}
{{- printf "%s.%s.svc" (include "podflow.fullname" .) .Release.Namespace }}
{{- end }}

{{/* export.collector as podflow reads it: udp://, tcp:// or tls://HOST:PORT. */}}
{{- define "podflow.collector" -}}
{{- $c := .Values.collector }}
{{- $host := toString $c.address }}
{{- if and (contains ":" $host) (not (hasPrefix "[" $host)) }}
{{- $host = printf "[%s]" $host }}
{{- end }}
{{- printf "%s://%s:%v" $c.protocol $host $c.port }}
{{- end }}

{{/*
The certificate of tls.mode=auto: the one in the existing Secret when there is one (so
that helm upgrade keeps it), else a new CA and a serving certificate. Made once per
render and kept in .Values so that the Secret and the webhook configuration agree.
Returns YAML with ca, cert and key (PEM).
*/}}
{{- define "podflow.autoTLS" -}}
{{- if not (hasKey .Values "podflowGeneratedTLS") }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "podflow.tlsSecretName" .) }}
{{- $data := dict }}
{{- if $secret }}{{ $data = $secret.data | default dict }}{{ end }}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") }}
{{- $_ := set .Values "podflowGeneratedTLS" (dict "ca" (index $data "ca.crt" | b64dec) "cert" (index $data "tls.crt" | b64dec) "key" (index $data "tls.key" | b64dec)) }}
{{- else }}
{{- $fullname := include "podflow.fullname" . }}
{{- $host := include "podflow.serviceHost" . }}
{{- $ca := genCA (printf "%s-ca" $fullname) 3650 }}
{{- $names := list $fullname (printf "%s.%s" $fullname .Release.Namespace) $host (printf "%s.cluster.local" $host) }}
{{- $cert := genSignedCert $host nil $names 3650 $ca }}
{{- $_ := set .Values "podflowGeneratedTLS" (dict "ca" $ca.Cert "cert" $cert.Cert "key" $cert.Key) }}
{{- end }}
{{- end }}
{{- toYaml .Values.podflowGeneratedTLS }}
{{- end }}

{{/* The caBundle of the webhook configuration (base64 PEM), or nothing for cert-manager. */}}
{{- define "podflow.caBundle" -}}
{{- if eq .Values.tls.mode "auto" }}
{{- (include "podflow.autoTLS" . | fromYaml).ca | b64enc }}
{{- else if eq .Values.tls.mode "provided" }}
{{- $ca := .Values.tls.provided.ca }}
{{- if and (not $ca) .Values.tls.provided.existingSecret }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace .Values.tls.provided.existingSecret }}
{{- if $secret }}{{ $ca = index ($secret.data | default dict) "ca.crt" | default "" | b64dec }}{{ end }}
{{- end }}
{{- if not $ca }}
{{- fail "tls.provided.ca is required with tls.mode=provided: the PEM CA certificate that signed the webhook's certificate (the API server's caBundle); with tls.provided.existingSecret it may instead be the Secret's ca.crt, read at install" }}
{{- end }}
{{- $ca | b64enc }}
{{- end }}
{{- end }}

{{/*
The Pod Security levels (pod-security.kubernetes.io/enforce) that refuse pods with the
sidecar of sidecar.securityProfile, as a JSON list: an added NET_RAW is refused by
baseline and restricted; the baseline profile, root without runAsNonRoot, by restricted.
*/}}
{{- define "podflow.refusingLevels" -}}
{{- if eq (toString .Values.sidecar.securityProfile) "baseline" }}
{{- list "restricted" | toJson }}
{{- else }}
{{- list "baseline" "restricted" | toJson }}
{{- end }}
{{- end }}

{{/*
The podflow configuration the webhook reads (--config), as a dict with the keys of
config/podflow.toml.
*/}}
{{- define "podflow.config" -}}
{{- $labels := dict }}
{{- range $k, $v := .Values.match.labels }}{{ $_ := set $labels $k (toString $v) }}{{ end }}
{{- $deployments := list }}
{{- range .Values.match.deployments }}{{ $deployments = append $deployments (toString .) }}{{ end }}
{{- $resources := dict }}
{{- range $section, $list := .Values.sidecar.resources }}
{{- $q := dict }}
{{- range $k, $v := $list }}{{ $_ := set $q $k (toString $v) }}{{ end }}
{{- $_ := set $resources $section $q }}
{{- end }}
{{- $k8s := dict }}
{{- if .Values.clusterName }}{{ $_ := set $k8s "cluster_name" (toString .Values.clusterName) }}{{ end }}
{{- $config := dict
  "export" (include "podflow.probeExport" . | fromYaml)
  "ipfix" (dict "enterprise_number" (int64 .Values.ipfix.enterpriseNumber))
  "telemetry" (dict "listen" "0.0.0.0:9477")
  "webhook" (dict
    "listen" "0.0.0.0:8443"
    "tls_cert" "/etc/podflow/tls/tls.crt"
    "tls_key" "/etc/podflow/tls/tls.key"
    "match" (dict "labels" $labels "deployments" $deployments "mode" .Values.match.mode)
    "sidecar" (dict
      "image" (include "podflow.image" .)
      "pull_policy" .Values.image.pullPolicy
      "native" .Values.sidecar.native
      "telemetry_port" (int64 .Values.sidecar.telemetryPort)
      "security_profile" (toString .Values.sidecar.securityProfile)
      "run_as_user" (int64 .Values.sidecar.runAsUser)
      "resources" $resources
      "collector_tls_secret" (include "podflow.probeTlsSecret" .)
      "collector_tls_client_cert" (include "podflow.probeClientCert" . | eq "true")))
  "log" (dict "format" .Values.webhook.logFormat "level" (toString .Values.webhook.logLevel)) }}
{{- if $k8s }}{{ $_ := set $config "k8s" $k8s }}{{ end }}
{{- toYaml $config }}
{{- end }}

{{/*
The podflow configuration of the node pods (--config), as a dict with the keys of
config/podflow.toml. The node's name and IP come from the Downward API
(PODFLOW_K8S__NODE_NAME, PODFLOW_K8S__NODE_IP).
*/}}
{{- define "podflow.nodeConfig" -}}
{{- $n := .Values.node }}
{{- $dirs := list }}
{{- range $n.netnsDirs }}{{ $dirs = append $dirs (clean (toString .)) }}{{ end }}
{{- $podIfs := list }}
{{- range $n.podInterfaces }}{{ $podIfs = append $podIfs (toString .) }}{{ end }}
{{- $hostIfs := list }}
{{- range $n.hostInterfaces }}{{ $hostIfs = append $hostIfs (toString .) }}{{ end }}
{{- $k8s := dict "source" "kube" }}
{{- if .Values.mediator.enabled }}{{ $_ := set $k8s "own_node_only" true }}{{ end }}
{{- if .Values.clusterName }}{{ $_ := set $k8s "cluster_name" (toString .Values.clusterName) }}{{ end }}
{{- $config := dict
  "export" (include "podflow.probeExport" . | fromYaml)
  "ipfix" (dict "enterprise_number" (int64 .Values.ipfix.enterpriseNumber))
  "k8s" $k8s
  "telemetry" (dict "listen" (printf "0.0.0.0:%d" (int64 $n.telemetryPort)))
  "node" (dict
    "runtime_endpoint" (toString $n.runtimeEndpoint)
    "max_interfaces_per_namespace" (int64 $n.maxInterfacesPerNamespace)
    "netns_dirs" $dirs
    "scan_processes" $n.scanProcesses
    "proc_dir" (toString $n.procDir)
    "rescan_secs" (int64 $n.rescanSecs)
    "pod_interfaces" $podIfs
    "capture_host" $n.captureHost
    "host_interfaces" $hostIfs
    "host_pod_veths" $n.hostPodVeths)
  "log" (dict "format" $n.logFormat "level" (toString $n.logLevel)) }}
{{- toYaml $config }}
{{- end }}

{{/* The collector's TLS Secret with protocol tls; empty otherwise. */}}
{{- define "podflow.collectorTlsSecret" -}}
{{- if eq (toString .Values.collector.protocol) "tls" }}
{{- toString ((.Values.collector.tls | default dict).secretName | default "") }}
{{- end }}
{{- end }}

{{/*
The TLS Secret the probes mount: the collector's, or when they send to the mediator, the
one that trusts the mediator (mediator.tls.probeSecretName, with protocol tls).
*/}}
{{- define "podflow.probeTlsSecret" -}}
{{- if not .Values.mediator.enabled }}{{ include "podflow.collectorTlsSecret" . }}
{{- else if eq (toString .Values.mediator.protocol) "tls" }}{{ toString ((.Values.mediator.tls | default dict).probeSecretName | default "") }}
{{- end }}
{{- end }}

{{/* "true" when the probes' Secret holds their client certificate. */}}
{{- define "podflow.probeClientCert" -}}
{{- if not .Values.mediator.enabled }}{{ include "podflow.collectorClientCert" . }}
{{- else }}{{ and (include "podflow.probeTlsSecret" .) ((.Values.mediator.tls | default dict).clientCertificates | default false) | toString }}
{{- end }}
{{- end }}

{{/* "true" when that Secret holds a client certificate. */}}
{{- define "podflow.collectorClientCert" -}}
{{- and (include "podflow.collectorTlsSecret" .) ((.Values.collector.tls | default dict).clientCertificate | default false) | toString }}
{{- end }}

{{/*
The export section of the webhook's and the node pods' configurations: the collector and,
with TLS, its files where the Secret is mounted (/etc/podflow/collector-tls, in the node
pods and in every sidecar).
*/}}
{{- define "podflow.export" -}}
{{- $export := dict "collector" (include "podflow.collector" .) }}
{{- if include "podflow.collectorTlsSecret" . }}
{{- $_ := set $export "tls_ca" "/etc/podflow/collector-tls/ca.crt" }}
{{- if include "podflow.collectorClientCert" . | eq "true" }}
{{- $_ := set $export "tls_cert" "/etc/podflow/collector-tls/tls.crt" }}
{{- $_ := set $export "tls_key" "/etc/podflow/collector-tls/tls.key" }}
{{- end }}
{{- end }}
{{- toYaml $export }}
{{- end }}
