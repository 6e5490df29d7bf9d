#!/usr/bin/env python3
"""Reads an IPFIX file (or a TCP stream saved to a file) with python-ipfix and prints a
JSON summary: record count, packet and octet totals, and the set of values seen for each
Kubernetes element.

usage: read_ipfix.py FILE SPECFILE        the element specs podflow ships
       read_ipfix.py FILE SPECFILE --records
                                          every record instead, one JSON object a line,
                                          fields by name (addresses and times as text,
                                          octet arrays in hex)
       read_ipfix.py FILE --type-records  no specs: the enterprise elements are defined
                                          from the RFC 5610 type records in FILE itself,
                                          with this script's own table of the IANA data
                                          type codes, then FILE is read again by name
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

# IANA "IPFIX Information Element Data Types": code -> (name, natural length).
DATA_TYPES = {0: ("octetArray", 65535), 1: ("unsigned8", 1), 2: ("unsigned16", 2),
              3: ("unsigned32", 4), 4: ("unsigned64", 8), 5: ("signed8", 1),
              6: ("signed16", 2), 7: ("signed32", 4), 8: ("signed64", 8),
              9: ("float32", 4), 10: ("float64", 8), 11: ("boolean", 1),
              12: ("macAddress", 6), 13: ("string", 65535), 14: ("dateTimeSeconds", 4),
              15: ("dateTimeMilliseconds", 8), 16: ("dateTimeMicroseconds", 8),
              17: ("dateTimeNanoseconds", 8), 18: ("ipv4Address", 4), 19: ("ipv6Address", 16)}


def standard_model():
    ipfix.ie.clear_infomodel()
    ipfix.ie.use_iana_default()
    ipfix.ie.use_5103_default()


def records(path):
    with open(path, "rb") as f:
        yield from ipfix.reader.from_stream(f).namedict_iterator()


def type_records(path):
    """The elements the file's type records describe: (pen, id, name, type name)."""
    standard_model()
    learned = set()
    for rec in records(path):
        if "informationElementName" in rec and "privateEnterpriseNumber" in rec:
            name, _ = DATA_TYPES[rec["informationElementDataType"]]
            learned.add((rec["privateEnterpriseNumber"], rec["informationElementId"],
                         rec["informationElementName"], name))
    return sorted(learned)


def summary(path):
    flows = 0
    packets = octets = 0
    seen = {name: set() for name in K8S}
    for rec in records(path):
        if "packetDeltaCount" not in rec:
            continue  # options record
        flows += 1
        packets += rec["packetDeltaCount"] + rec.get("reversePacketDeltaCount", 0)
        octets += rec["octetDeltaCount"] + rec.get("reverseOctetDeltaCount", 0)
        for name in K8S:
            if name in rec:
                seen[name].add(str(rec[name]))
    return {"flows": flows, "packets": packets, "octets": octets,
            "k8s": {k: sorted(v) for k, v in seen.items()}}


def plain(value):
    if isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)


def main(path, specs, mode=None):
    if mode == "--records":
        standard_model()
        ipfix.ie.use_specfile(specs)
        for rec in records(path):
            print(json.dumps({k: plain(v) for k, v in rec.items()}))
        return
    if specs == "--type-records":
        learned = type_records(path)
        standard_model()
        for pen, num, name, type_name in learned:
            length = dict(DATA_TYPES.values())[type_name]
            ipfix.ie.for_spec(f"{name}({pen}/{num})<{type_name}>[{length}]")
        out = summary(path)
        out["type_records"] = [list(t) for t in learned]
    else:
        standard_model()
        ipfix.ie.use_specfile(specs)
        out = summary(path)
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4])
