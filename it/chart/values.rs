//! Values that cannot work fail with a message naming the value.

use super::*;

#[test]
fn bad_values_fail_naming_the_value() {
    let cases: &[(&[&str], &[&str], &str)] = &[
        (&[], &[], "collector.address is required"),
        (
            &["defaults.yaml"],
            &["collector.address=udp://10.0.0.5:4739"],
            "collector.address=",
        ),
        (&["defaults.yaml"], &["collector.port=0"], "collector.port"),
        (
            &["defaults.yaml"],
            &["collector.protocol=sctp"],
            "collector.protocol=\"sctp\"",
        ),
        (
            &["defaults.yaml"],
            &["collector.protocol=tls"],
            "collector.protocol=tls needs collector.tls.secretName",
        ),
        (
            &["defaults.yaml"],
            &["collector.tls.secretName=ca"],
            "collector.tls.secretName is set but collector.protocol=udp",
        ),
        (
            &["collector-tls.yaml"],
            &["collector.tls.secretName=Not_A_Name"],
            "collector.tls.secretName=\"Not_A_Name\"",
        ),
        (
            &["collector-tls.yaml"],
            &["collector.tls.clientCertificate=yes"],
            "collector.tls.clientCertificate=yes",
        ),
        (
            &["defaults.yaml"],
            &["tls.mode=vault"],
            "tls.mode=\"vault\"",
        ),
        (
            &["defaults.yaml"],
            &["match.mode=most"],
            "match.mode=\"most\"",
        ),
        (
            &["defaults.yaml"],
            &["match.mode=all", "match.labels.app=shop"],
            "match.mode=all",
        ),
        (
            &["defaults.yaml"],
            &["match.deployments[0]=shop/web/x"],
            "match.deployments",
        ),
        (
            &["defaults.yaml"],
            &["match.labels.app=not a value"],
            "match.labels.app",
        ),
        (
            &["defaults.yaml"],
            &["namespaceSelector.names[0]=x"],
            "namespaceSelector.names",
        ),
        (
            &["defaults.yaml"],
            &["webhook.failurePolicy=Never"],
            "webhook.failurePolicy",
        ),
        (
            &["defaults.yaml"],
            &["webhook.timeoutSeconds=60"],
            "webhook.timeoutSeconds",
        ),
        (
            &["defaults.yaml"],
            &["webhook.replicas=0"],
            "webhook.replicas",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.resources.limits.ephemeral-storage=1Gi"],
            "sidecar.resources.limits.ephemeral-storage",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.resources.requests.cpu=lots"],
            "sidecar.resources.requests.cpu",
        ),
        (
            &["defaults.yaml"],
            &["image.pullPolicy=Sometimes"],
            "image.pullPolicy",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.securityProfile=privileged"],
            "sidecar.securityProfile=\"privileged\" is not one of default, root, baseline",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.runAsUser=0"],
            "set sidecar.securityProfile=root for UID 0",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.runAsUser=-5"],
            "sidecar.runAsUser=-5",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.runAsUser=4294967296"],
            "sidecar.runAsUser=4294967296",
        ),
        (
            &["defaults.yaml"],
            &["sidecar.skipEnforcingNamespaces=maybe"],
            "sidecar.skipEnforcingNamespaces=maybe",
        ),
        (
            &["defaults.yaml"],
            &["ipfix.enterpriseNumber=-1"],
            "ipfix.enterpriseNumber",
        ),
        (
            &["defaults.yaml"],
            &["ipfix.enterpriseNumber=0"],
            "ipfix.enterpriseNumber=0",
        ),
        (
            &["defaults.yaml"],
            &["ipfix.enterpriseNumber=29305"],
            "ipfix.enterpriseNumber=29305",
        ),
        (
            &["defaults.yaml"],
            &["tls.mode=provided"],
            "tls.provided.cert",
        ),
        (
            &["defaults.yaml"],
            &["tls.mode=provided", "tls.provided.existingSecret=mine"],
            "tls.provided.ca",
        ),
        (
            &["defaults.yaml"],
            &[
                "tls.mode=certManager",
                "tls.certManager.issuerRef.kind=Issuer",
            ],
            "tls.certManager.issuerRef.name",
        ),
        (
            &["defaults.yaml"],
            &["webhook.enabled=false"],
            "nothing to install",
        ),
        (
            &[],
            &["webhook.enabled=false", "node.enabled=true"],
            "collector.address is required",
        ),
        (&["node.yaml"], &["node.rescanSecs=0"], "node.rescanSecs=0"),
        (
            &["node.yaml"],
            &["node.netnsDirs=null", "node.scanProcesses=false"],
            "node.netnsDirs is empty and node.scanProcesses=false",
        ),
        (
            &["node.yaml"],
            &["node.netnsDirs[0]=var/run/netns"],
            "node.netnsDirs: \"var/run/netns\"",
        ),
        (
            &["node.yaml"],
            &[
                "node.netnsDirs[0]=/run/netns",
                "node.netnsDirs[1]=/run/netns/",
            ],
            "node.netnsDirs: \"/run/netns\" is listed twice",
        ),
        (&["node.yaml"], &["node.netnsDirs[0]=/"], "node.netnsDirs"),
        (
            &["node.yaml"],
            &["node.netnsDirs[0]=/proc/1/ns"],
            "node.netnsDirs: \"/proc/1/ns\"",
        ),
        (&["node.yaml"], &["node.procDir=proc"], "node.procDir"),
        (
            &["node.yaml"],
            &["node.scanProcesses=yes"],
            "node.scanProcesses=yes",
        ),
        (&["node.yaml"], &["node.privileged=1"], "node.privileged"),
        (
            &["node.yaml"],
            &["node.podInterfaces[0]=eth0/1"],
            "node.podInterfaces: \"eth0/1\"",
        ),
        (
            &["node.yaml"],
            &["node.hostInterfaces[0]=a-very-long-interface"],
            "node.hostInterfaces",
        ),
        (
            &["node.yaml"],
            &["node.telemetryPort=0"],
            "node.telemetryPort=0",
        ),
        (
            &["node.yaml"],
            &["node.logFormat=xml"],
            "node.logFormat=\"xml\"",
        ),
        (
            &["node.yaml"],
            &["node.maxUnavailable=0"],
            "node.maxUnavailable=0",
        ),
        (
            &["node.yaml"],
            &["node.maxUnavailable=150%"],
            "node.maxUnavailable=150%",
        ),
        (
            &["node.yaml"],
            &["node.resources.limits.memory=lots"],
            "node.resources.limits.memory",
        ),
        (&["node.yaml"], &["node.enabled=yes"], "node.enabled=yes"),
        (
            &["node.yaml"],
            &["node.extraVolumes=pods"],
            "node.extraVolumes must be a list",
        ),
        (
            &["node.yaml"],
            &["node.extraVolumes[0].hostPath.path=/var/lib/podflow"],
            "node.extraVolumes: map[hostPath:map[path:/var/lib/podflow]] has no name",
        ),
        (
            &["node.yaml"],
            &["node.extraVolumes[0].name=netns-0"],
            "node.extraVolumes: the name \"netns-0\" is the chart's own",
        ),
        (
            &["node-cri.yaml"],
            &["node.extraVolumes[1].name=pod-list"],
            "node.extraVolumes: \"pod-list\" is listed twice",
        ),
        (
            &["node-cri.yaml"],
            &["node.extraVolumeMounts[0].name=pods"],
            "node.extraVolumeMounts: \"pods\" names no volume of node.extraVolumes",
        ),
        (
            &["node-cri.yaml"],
            &["node.extraVolumeMounts[0].mountPath=var/lib/podflow"],
            "node.extraVolumeMounts: \"pod-list\" needs an absolute mountPath",
        ),
    ];
    for (files, sets, named) in cases {
        match render(files, sets) {
            Ok(_) => panic!("{files:?} {sets:?} rendered; expected a failure naming {named}"),
            Err(err) => assert!(
                err.contains(named),
                "{files:?} {sets:?}: the error does not name {named}:\n{err}"
            ),
        }
    }
}
