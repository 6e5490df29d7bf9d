#!/usr/bin/env python3
"""Reads an IPFIX file with python-ipfix and the Kubernetes element specs podflow ships,
and prints a JSON summary: record count, packet and octet totals, and the set of values
seen for each Kubernetes element.

usage: read_ipfix.py FILE SPECFILE
"""
import json
import sys

import ipfix.ie
import ipfix.reader

K8S = ["k8sNodeName", "k8sNodeIPv4Address", "k8sPodName", "k8sPodNamespace",
       "k8sWorkloadName", "k8sWorkloadKind", "k8sPodLabels", "k8sPodAnnotations",
       "k8sPodUid", "k8sClusterName", "k8sObservationPoint",
       "k8sPeerPodName", "k8sPeerPodNamespace", "k8sPeerWorkloadName",
       "k8sPeerWorkloadKind", "k8sPeerNodeName", "k8sPeerPodLabels"]


def main(path, specfile):
    ipfix.ie.use_iana_default()
    ipfix.ie.use_5103_default()
    ipfix.ie.use_specfile(specfile)
    flows = 0
    packets = octets = 0
    seen = {name: set() for name in K8S}
    with open(path, "rb") as f:
        for rec in ipfix.reader.from_stream(f).namedict_iterator():
            if "packetDeltaCount" not in rec:
                continue  # options record
            flows += 1
            packets += rec["packetDeltaCount"] + rec.get("reversePacketDeltaCount", 0)
            octets += rec["octetDeltaCount"] + rec.get("reverseOctetDeltaCount", 0)
            for name in K8S:
                if name in rec:
                    seen[name].add(str(rec[name]))
    print(json.dumps({"flows": flows, "packets": packets, "octets": octets,
                      "k8s": {k: sorted(v) for k, v in seen.items()}}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
