{{/*
Refuses values that cannot work, naming the value, before anything is rendered.
*/}}
{{- define "podflow.validate" -}}
{{- $v := .Values }}

{{- if $v.node.enabled }}
{{- fail "node.enabled=true: node mode (the DaemonSet that meters every pod of a node) is not built in this podflow release (podflow --mode node exits 2); set node.enabled=false and use the webhook's sidecars" }}
{{- end }}

{{- $_ := required "collector.address is required: the host name or IP of the IPFIX collector the sidecars export to (e.g. --set collector.address=collector.monitoring)" $v.collector.address }}
{{- if regexMatch "[/\\s]|://" (toString $v.collector.address) }}
{{- fail (printf "collector.address=%q must be a host name or IP address alone (no scheme, port or path; see collector.protocol and collector.port)" (toString $v.collector.address)) }}
{{- end }}
{{- $port := $v.collector.port | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $port)) (lt (atoi $port) 1) (gt (atoi $port) 65535) }}
{{- fail (printf "collector.port=%s must be a port number from 1 to 65535" $port) }}
{{- end }}
{{- if eq (toString $v.collector.protocol) "tls" }}
{{- fail "collector.protocol=tls: this podflow release cannot export IPFIX over TLS yet (its sidecars would exit at start); use udp or tcp" }}
{{- else if not (has (toString $v.collector.protocol) (list "udp" "tcp")) }}
{{- fail (printf "collector.protocol=%q is not one of udp, tcp, tls" (toString $v.collector.protocol)) }}
{{- end }}

{{- if not (has (toString $v.match.mode) (list "any" "all")) }}
{{- fail (printf "match.mode=%q is not one of any, all" (toString $v.match.mode)) }}
{{- end }}
{{- if not (kindIs "map" ($v.match.labels | default dict)) }}
{{- fail "match.labels must be a map of label names to values, e.g. {app: shop}" }}
{{- end }}
{{- if not (kindIs "slice" ($v.match.deployments | default list)) }}
{{- fail "match.deployments must be a list of NAME or NAMESPACE/NAME" }}
{{- end }}
{{- range $k, $val := $v.match.labels }}
{{- if not (regexMatch "^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$" $k) }}
{{- fail (printf "match.labels: %q is not a valid label name, so no pod can match it" $k) }}
{{- end }}
{{- if not (regexMatch "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$" (toString $val)) }}
{{- fail (printf "match.labels.%s=%q is not a valid label value, so no pod can match it" $k (toString $val)) }}
{{- end }}
{{- end }}
{{- range $v.match.deployments }}
{{- if not (regexMatch "^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" (toString .)) }}
{{- fail (printf "match.deployments: %q is not NAME or NAMESPACE/NAME, so no pod can match it" (toString .)) }}
{{- end }}
{{- end }}
{{- if and (eq (toString $v.match.mode) "all") (or (not $v.match.labels) (not $v.match.deployments)) }}
{{- fail "match.mode=all selects pods that both match.labels and match.deployments select: set both, or use match.mode=any" }}
{{- end }}

{{- if $v.namespaceSelector }}
{{- if not (kindIs "map" $v.namespaceSelector) }}
{{- fail "namespaceSelector must be a LabelSelector: a map with matchLabels and/or matchExpressions" }}
{{- end }}
{{- range $k, $_ := $v.namespaceSelector }}
{{- if not (has $k (list "matchLabels" "matchExpressions")) }}
{{- fail (printf "namespaceSelector.%s: a namespaceSelector has only matchLabels and matchExpressions" $k) }}
{{- end }}
{{- end }}
{{- end }}

{{- $n := $v.ipfix.enterpriseNumber | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $n)) (gt (atoi $n) 4294967295) }}
{{- fail (printf "ipfix.enterpriseNumber=%s must be a Private Enterprise Number (0 to 4294967295)" $n) }}
{{- end }}

{{- if not $v.image.repository }}
{{- fail "image.repository is required" }}
{{- end }}
{{- if not (has (toString $v.image.pullPolicy) (list "Always" "IfNotPresent" "Never")) }}
{{- fail (printf "image.pullPolicy=%q is not one of Always, IfNotPresent, Never" (toString $v.image.pullPolicy)) }}
{{- end }}

{{- range $section, $list := $v.sidecar.resources }}
{{- if not (has $section (list "requests" "limits")) }}
{{- fail (printf "sidecar.resources.%s: only requests and limits are supported" $section) }}
{{- end }}
{{- range $k, $q := $list }}
{{- if not (has $k (list "cpu" "memory")) }}
{{- fail (printf "sidecar.resources.%s.%s: the sidecar takes only cpu and memory" $section $k) }}
{{- end }}
{{- if not (regexMatch "^\\+?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$" (toString $q)) }}
{{- fail (printf "sidecar.resources.%s.%s=%q is not a Kubernetes quantity such as 100m or 64Mi" $section $k (toString $q)) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* Only against a live cluster (lookup is empty under helm template and lint, whose
       default Kubernetes version is old): an older API server would keep the native
       sidecar's init container from ever finishing, and the pod would never start. */}}
{{- if and $v.sidecar.native (lookup "v1" "Namespace" "" "kube-system") (semverCompare "<1.29.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail (printf "sidecar.native=true needs Kubernetes 1.29 or later (this cluster is %s): set sidecar.native=false" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- $uid := $v.sidecar.runAsUser | toString }}
{{- if not (regexMatch "^[0-9]+$" $uid) }}
{{- fail (printf "sidecar.runAsUser=%s must be a user ID (0 or more)" $uid) }}
{{- end }}
{{- $tp := $v.sidecar.telemetryPort | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $tp)) (gt (atoi $tp) 65535) }}
{{- fail (printf "sidecar.telemetryPort=%s must be a port (0 disables telemetry)" $tp) }}
{{- end }}

{{- $replicas := $v.webhook.replicas | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $replicas)) (lt (atoi $replicas) 1) }}
{{- fail (printf "webhook.replicas=%s must be 1 or more" $replicas) }}
{{- end }}
{{- if not (has (toString $v.webhook.failurePolicy) (list "Ignore" "Fail")) }}
{{- fail (printf "webhook.failurePolicy=%q is not one of Ignore, Fail" (toString $v.webhook.failurePolicy)) }}
{{- end }}
{{- $timeout := $v.webhook.timeoutSeconds | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $timeout)) (lt (atoi $timeout) 1) (gt (atoi $timeout) 30) }}
{{- fail (printf "webhook.timeoutSeconds=%s must be from 1 to 30" $timeout) }}
{{- end }}
{{- if not (has (toString $v.webhook.logFormat) (list "text" "json")) }}
{{- fail (printf "webhook.logFormat=%q is not one of text, json" (toString $v.webhook.logFormat)) }}
{{- end }}

{{- if not (has (toString $v.tls.mode) (list "auto" "provided" "certManager")) }}
{{- fail (printf "tls.mode=%q is not one of auto, provided, certManager" (toString $v.tls.mode)) }}
{{- end }}
{{- if eq $v.tls.mode "provided" }}
{{- $p := $v.tls.provided }}
{{- if not $p.existingSecret }}
{{- if not (contains "BEGIN CERTIFICATE" (toString $p.cert)) }}
{{- fail "tls.provided.cert must hold the webhook's PEM certificate (or set tls.provided.existingSecret)" }}
{{- end }}
{{- if not (contains "PRIVATE KEY" (toString $p.key)) }}
{{- fail "tls.provided.key must hold the PEM private key of tls.provided.cert (or set tls.provided.existingSecret)" }}
{{- end }}
{{- end }}
{{- if and $p.ca (not (contains "BEGIN CERTIFICATE" (toString $p.ca))) }}
{{- fail "tls.provided.ca must be a PEM CA certificate" }}
{{- end }}
{{- end }}
{{- if and (eq $v.tls.mode "certManager") $v.tls.certManager.issuerRef }}
{{- if not $v.tls.certManager.issuerRef.name }}
{{- fail "tls.certManager.issuerRef.name is required when tls.certManager.issuerRef is set" }}
{{- end }}
{{- if not (has ($v.tls.certManager.issuerRef.kind | default "Issuer") (list "Issuer" "ClusterIssuer")) }}
{{- fail (printf "tls.certManager.issuerRef.kind=%q is not one of Issuer, ClusterIssuer" $v.tls.certManager.issuerRef.kind) }}
{{- end }}
{{- end }}
{{- end }}
