{{/*
Refuses values that cannot work, naming the value, before anything is rendered.
*/}}
{{- define "podflow.validate" -}}
{{- $v := .Values }}

{{- range $key, $on := dict "webhook.enabled" $v.webhook.enabled "node.enabled" $v.node.enabled "mediator.enabled" $v.mediator.enabled }}
{{- if not (kindIs "bool" $on) }}
{{- fail (printf "%s=%v must be true or false" $key $on) }}
{{- end }}
{{- end }}
{{- if not (or $v.webhook.enabled $v.node.enabled $v.mediator.enabled) }}
{{- fail "webhook.enabled=false, node.enabled=false and mediator.enabled=false: nothing to install; enable the webhook (sidecars), node mode (the DaemonSet), the mediator, or more than one" }}
{{- end }}
{{- if $v.mediator.enabled }}
{{- $m := $v.mediator }}
{{- if not (has (toString $m.protocol) (list "udp" "tcp" "tls")) }}
{{- fail (printf "mediator.protocol=%q is not one of udp, tcp, tls (how the probes send to the mediator)" (toString $m.protocol)) }}
{{- end }}
{{- $mtls := $m.tls | default dict }}
{{- if not (kindIs "bool" ($mtls.clientCertificates | default false)) }}
{{- fail (printf "mediator.tls.clientCertificates=%v must be true or false" $mtls.clientCertificates) }}
{{- end }}
{{- if eq (toString $m.protocol) "tls" }}
{{- range $key := list "secretName" "probeSecretName" }}
{{- $secret := toString (index $mtls $key | default "") }}
{{- if not $secret }}
{{- fail (printf "mediator.protocol=tls needs mediator.tls.%s: %s" $key (ternary "a kubernetes.io/tls Secret with the mediator's tls.crt and tls.key (and ca.crt)" "the Secret the probes mount, with ca.crt (and, with mediator.tls.clientCertificates, their tls.crt and tls.key)" (eq $key "secretName"))) }}
{{- end }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" $secret) }}
{{- fail (printf "mediator.tls.%s=%q is not a Secret name" $key $secret) }}
{{- end }}
{{- end }}
{{- if eq (toString $mtls.secretName) (toString $mtls.probeSecretName) }}
{{- fail (printf "mediator.tls.secretName and mediator.tls.probeSecretName are both %q: the probes would mount the mediator's private key; give them a Secret with ca.crt (and their own certificate)" (toString $mtls.secretName)) }}
{{- end }}
{{- else if or $mtls.secretName $mtls.probeSecretName }}
{{- fail (printf "mediator.tls.secretName or probeSecretName is set but mediator.protocol=%s: set protocol tls, or leave the Secrets out" (toString $m.protocol)) }}
{{- end }}
{{- range $key := list "port" "telemetryPort" }}
{{- $p := index $m $key | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $p)) (lt (atoi $p) 1) (gt (atoi $p) 65535) }}
{{- fail (printf "mediator.%s=%s must be a port number from 1 to 65535" $key $p) }}
{{- end }}
{{- end }}
{{- if eq (toString $m.port) (toString $m.telemetryPort) }}
{{- fail (printf "mediator.port and mediator.telemetryPort are both %v" $m.port) }}
{{- end }}
{{- $r := $m.replicas | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $r)) (lt (atoi $r) 1) }}
{{- fail (printf "mediator.replicas=%s must be a whole number, 1 or more" $r) }}
{{- end }}
{{- $grace := $m.deletedPodGraceSecs | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $grace)) (lt (atoi $grace) 1) }}
{{- fail (printf "mediator.deletedPodGraceSecs=%s must be a number of seconds, 1 or more" $grace) }}
{{- end }}
{{- if not (kindIs "slice" $m.clusterCIDRs) }}
{{- fail (printf "mediator.clusterCIDRs=%v must be a list of address ranges, e.g. [10.96.0.0/12]" $m.clusterCIDRs) }}
{{- end }}
{{- range $m.clusterCIDRs }}
{{- if not (regexMatch "^[0-9a-fA-F:.]+/[0-9]{1,3}$" (toString .)) }}
{{- fail (printf "mediator.clusterCIDRs: %q is not an address range such as 10.96.0.0/12" (toString .)) }}
{{- end }}
{{- end }}
{{- if not (has (toString $m.logFormat) (list "text" "json")) }}
{{- fail (printf "mediator.logFormat=%q is not one of text, json" (toString $m.logFormat)) }}
{{- end }}
{{- end }}

{{- $_ := required "collector.address is required: the host name or IP of the IPFIX collector the sidecars export to (e.g. --set collector.address=collector.monitoring)" $v.collector.address }}
{{- if regexMatch "[/\\s]|://" (toString $v.collector.address) }}
{{- fail (printf "collector.address=%q must be a host name or IP address alone (no scheme, port or path; see collector.protocol and collector.port)" (toString $v.collector.address)) }}
{{- end }}
{{- $port := $v.collector.port | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $port)) (lt (atoi $port) 1) (gt (atoi $port) 65535) }}
{{- fail (printf "collector.port=%s must be a port number from 1 to 65535" $port) }}
{{- end }}
{{- if not (has (toString $v.collector.protocol) (list "udp" "tcp" "tls")) }}
{{- fail (printf "collector.protocol=%q is not one of udp, tcp, tls" (toString $v.collector.protocol)) }}
{{- end }}
{{- $tls := $v.collector.tls | default dict }}
{{- if not (kindIs "bool" ($tls.clientCertificate | default false)) }}
{{- fail (printf "collector.tls.clientCertificate=%v must be true or false" $tls.clientCertificate) }}
{{- end }}
{{- if eq (toString $v.collector.protocol) "tls" }}
{{- $secret := toString ($tls.secretName | default "") }}
{{- if not $secret }}
{{- fail "collector.protocol=tls needs collector.tls.secretName: a Secret with ca.crt (and, with collector.tls.clientCertificate, tls.crt and tls.key)" }}
{{- end }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" $secret) }}
{{- fail (printf "collector.tls.secretName=%q is not a Secret name" $secret) }}
{{- end }}
{{- else if $tls.secretName }}
{{- fail (printf "collector.tls.secretName is set but collector.protocol=%s: set protocol tls, or leave the Secret out" (toString $v.collector.protocol)) }}
{{- end }}

{{- if $v.webhook.enabled }}
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

{{- end }}

{{- $n := $v.ipfix.enterpriseNumber | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $n)) (gt (atoi $n) 4294967295) (has $n (list "0" "29305")) }}
{{- fail (printf "ipfix.enterpriseNumber=%s must be a Private Enterprise Number (1 to 4294967295; not 29305, the RFC 5103 reverse elements)" $n) }}
{{- end }}

{{- if not $v.image.repository }}
{{- fail "image.repository is required" }}
{{- end }}
{{- if not (has (toString $v.image.pullPolicy) (list "Always" "IfNotPresent" "Never")) }}
{{- fail (printf "image.pullPolicy=%q is not one of Always, IfNotPresent, Never" (toString $v.image.pullPolicy)) }}
{{- end }}

{{- if $v.webhook.enabled }}
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
{{- if not (has (toString $v.sidecar.securityProfile) (list "default" "root" "baseline")) }}
{{- fail (printf "sidecar.securityProfile=%q is not one of default, root, baseline" (toString $v.sidecar.securityProfile)) }}
{{- end }}
{{- if not (kindIs "bool" $v.sidecar.skipEnforcingNamespaces) }}
{{- fail (printf "sidecar.skipEnforcingNamespaces=%v must be true or false" $v.sidecar.skipEnforcingNamespaces) }}
{{- end }}
{{- $uid := $v.sidecar.runAsUser | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $uid)) (gt (len $uid) 10) (gt (atoi $uid) 2147483647) }}
{{- fail (printf "sidecar.runAsUser=%s must be a user ID from 1 to 2147483647" $uid) }}
{{- end }}
{{- if and (eq (atoi $uid) 0) (eq (toString $v.sidecar.securityProfile) "default") }}
{{- fail "sidecar.runAsUser=0 is root, and the default securityProfile runs the sidecar as a non-root user: set sidecar.securityProfile=root for UID 0" }}
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
{{- if $v.node.enabled }}
{{- $n := $v.node }}
{{- if not (and (kindIs "float64" $n.maxInterfacesPerNamespace) (ge (int64 $n.maxInterfacesPerNamespace) 1)) }}
{{- if not (and (kindIs "int64" $n.maxInterfacesPerNamespace) (ge (int64 $n.maxInterfacesPerNamespace) 1)) }}
{{- fail (printf "node.maxInterfacesPerNamespace=%v must be a whole number, 1 or more" $n.maxInterfacesPerNamespace) }}
{{- end }}
{{- end }}
{{- range $key := list "scanProcesses" "captureHost" "hostPodVeths" "privileged" "appArmorUnconfined" }}
{{- if not (kindIs "bool" (index $n $key)) }}
{{- fail (printf "node.%s=%v must be true or false" $key (index $n $key)) }}
{{- end }}
{{- end }}
{{- if not (kindIs "slice" ($n.netnsDirs | default list)) }}
{{- fail (printf "node.netnsDirs=%v must be a list of absolute directory paths, e.g. [/var/run/netns]" $n.netnsDirs) }}
{{- end }}
{{- with toString ($n.runtimeEndpoint | default "") }}
{{- if not (hasPrefix "unix:///" .) }}
{{- fail (printf "node.runtimeEndpoint=%q must be the runtime's CRI socket as unix:///PATH (containerd: unix:///run/containerd/containerd.sock, CRI-O: unix:///var/run/crio/crio.sock), or empty" .) }}
{{- end }}
{{- end }}
{{- if and (not $n.netnsDirs) (not $n.scanProcesses) }}
{{- fail "node.netnsDirs is empty and node.scanProcesses=false: node mode would find no pod network namespace; list the runtime's namespace directory (e.g. /var/run/netns) or set node.scanProcesses=true" }}
{{- end }}
{{- $seen := dict }}
{{- range $n.netnsDirs }}
{{- if not (hasPrefix "/" (toString .)) }}
{{- fail (printf "node.netnsDirs: %q is not an absolute directory path (such as /var/run/netns)" (toString .)) }}
{{- end }}
{{- $dir := clean (toString .) }}
{{- if eq $dir "/" }}
{{- fail "node.netnsDirs: \"/\" is the whole host file system, not a namespace directory" }}
{{- end }}
{{- if or (eq $dir "/proc") (hasPrefix "/proc/" $dir) (eq $dir "/etc/podflow") (hasPrefix "/etc/podflow/" $dir) }}
{{- fail (printf "node.netnsDirs: %q cannot be mounted there (/proc and /etc/podflow are the container's own)" $dir) }}
{{- end }}
{{- if hasKey $seen $dir }}
{{- fail (printf "node.netnsDirs: %q is listed twice" $dir) }}
{{- end }}
{{- $_ := set $seen $dir true }}
{{- end }}
{{- if not (hasPrefix "/" (toString $n.procDir)) }}
{{- fail (printf "node.procDir=%q must be an absolute path (/proc)" (toString $n.procDir)) }}
{{- end }}
{{- $rescan := $n.rescanSecs | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $rescan)) (lt (atoi $rescan) 1) }}
{{- fail (printf "node.rescanSecs=%s must be a number of seconds, 1 or more" $rescan) }}
{{- end }}
{{- range $key := list "podInterfaces" "hostInterfaces" }}
{{- $list := index $n $key | default list }}
{{- if not (kindIs "slice" $list) }}
{{- fail (printf "node.%s must be a list of interface names, e.g. [eth0]" $key) }}
{{- end }}
{{- range $list }}
{{- if not (regexMatch "^[^/\\s]{1,15}$" (toString .)) }}
{{- fail (printf "node.%s: %q is not a network interface name (1 to 15 characters, no / or space)" $key (toString .)) }}
{{- end }}
{{- end }}
{{- end }}
{{- $tp := $n.telemetryPort | toString }}
{{- if or (not (regexMatch "^[0-9]+$" $tp)) (lt (atoi $tp) 1) (gt (atoi $tp) 65535) }}
{{- fail (printf "node.telemetryPort=%s must be a port from 1 to 65535 (the probes use it)" $tp) }}
{{- end }}
{{- if not (has (toString $n.logFormat) (list "text" "json")) }}
{{- fail (printf "node.logFormat=%q is not one of text, json" (toString $n.logFormat)) }}
{{- end }}
{{- $mu := $n.maxUnavailable | toString }}
{{- if regexMatch "^[0-9]+%$" $mu }}
{{- $pct := atoi (trimSuffix "%" $mu) }}
{{- if or (lt $pct 1) (gt $pct 100) }}
{{- fail (printf "node.maxUnavailable=%s must be from 1%% to 100%%" $mu) }}
{{- end }}
{{- else if or (not (regexMatch "^[0-9]+$" $mu)) (lt (atoi $mu) 1) }}
{{- fail (printf "node.maxUnavailable=%s must be a number of nodes (1 or more) or a percentage such as \"10%%\"" $mu) }}
{{- end }}
{{- range $section, $list := $n.resources }}
{{- if not (has $section (list "requests" "limits")) }}
{{- fail (printf "node.resources.%s: only requests and limits are supported" $section) }}
{{- end }}
{{- range $k, $q := $list }}
{{- if not (regexMatch "^\\+?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$" (toString $q)) }}
{{- fail (printf "node.resources.%s.%s=%q is not a Kubernetes quantity such as 100m or 128Mi" $section $k (toString $q)) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $key := list "env" "tolerations" "extraVolumes" "extraVolumeMounts" }}
{{- if not (kindIs "slice" (index $n $key | default list)) }}
{{- fail (printf "node.%s must be a list" $key) }}
{{- end }}
{{- end }}
{{- $extra := dict }}
{{- range $n.extraVolumes }}
{{- $name := (kindIs "map" .) | ternary (get . "name" | default "" | toString) "" }}
{{- if not $name }}
{{- fail (printf "node.extraVolumes: %v has no name" .) }}
{{- end }}
{{- if or (eq $name "config") (eq $name "collector-tls") (regexMatch "^netns-[0-9]+$" $name) }}
{{- fail (printf "node.extraVolumes: the name %q is the chart's own (config, collector-tls, netns-<N>)" $name) }}
{{- end }}
{{- if hasKey $extra $name }}
{{- fail (printf "node.extraVolumes: %q is listed twice" $name) }}
{{- end }}
{{- $_ := set $extra $name true }}
{{- end }}
{{- range $n.extraVolumeMounts }}
{{- $name := (kindIs "map" .) | ternary (get . "name" | default "" | toString) "" }}
{{- if not (hasKey $extra $name) }}
{{- fail (printf "node.extraVolumeMounts: %q names no volume of node.extraVolumes" $name) }}
{{- end }}
{{- if not (hasPrefix "/" (get . "mountPath" | default "" | toString)) }}
{{- fail (printf "node.extraVolumeMounts: %q needs an absolute mountPath" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
