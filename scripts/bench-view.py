#!/usr/bin/env python3
"""A large cluster for the mediator's benchmarks, holding the addresses of the records
that scripts/gen-flows.py's capture gives (so that the mediator has both ends to name).

  bench-view.py OUT [--pods 150000] [--services 10000] [--nodes 5000] [--list]

Writes OUT: the state it/py/fake_cluster_api.py serves ({"pods": [...], "services": [...],
"endpointslices": [...], "nodes": [...]}), or with --list a v1 List (mediator.source =
file:OUT). Python 3 standard library only; the same arguments give the same bytes.

What is in it:
  nodes     node-I with InternalIP 10.245.0.0 + 1 + I (the capture's node addresses) and
            fd00:10:245::(1 + I) for the first 500, zones a/b/c of region r1 for two thirds
            of them and d/e of r2 for the rest; pod range 10.244.I.0/24 for the first 16,
            10.(64 + I // 256).(I % 256).0/24 after
  pods      the capture's 4,000 IPv4 pods (10.244.K.2-251, on node-K) and 1,000 IPv6 pods
            (fd00:10:244::2 on), then as many more as --pods asks, spread over the nodes;
            each of a Deployment, with three labels
  services  kube-dns (10.96.0.10, fd00:10:96::a; port dns 53 UDP and TCP), the capture's
            120 IPv4 and 40 IPv6 web Services (10.96.1.1 on, fd00:10:96:1::1 on) and its
            100 closed ports (10.96.2.1 on), each with the capture's eight web ports named,
            then more up to --services (10.100.0.0/16 on); each with one EndpointSlice of
            ten pods
"""

import argparse
import ipaddress
import json

WEB_PORTS = [("http", 80), ("http-alt", 8080), ("https", 443), ("https-alt", 8443),
             ("metrics", 9090), ("postgres", 5432), ("redis", 6379), ("web", 3000)]
CREATED = "2026-01-01T00:00:00Z"


def node_range(i):
    if i < 16:
        return ipaddress.ip_network(f"10.244.{i}.0/24")
    return ipaddress.ip_network(f"10.{64 + i // 256}.{i % 256}.0/24")


def zone(i, nodes):
    if i < nodes * 2 // 3:
        return "abc"[i % 3], "r1"
    return "de"[i % 2], "r2"


def node(i, nodes):
    z, r = zone(i, nodes)
    addresses = [{"type": "InternalIP", "address": str(ipaddress.ip_address("10.245.0.0") + 1 + i)}]
    if i < 500:
        addresses.append({"type": "InternalIP",
                          "address": str(ipaddress.ip_address("fd00:10:245::") + 1 + i)})
    return {"metadata": {"name": f"node-{i}", "uid": f"node-uid-{i}",
                         "labels": {"topology.kubernetes.io/zone": z,
                                    "topology.kubernetes.io/region": r,
                                    "kubernetes.io/hostname": f"node-{i}"}},
            "spec": {"podCIDR": str(node_range(i)), "podCIDRs": [str(node_range(i))]},
            "status": {"addresses": addresses}}


def pod(i, address, node_name):
    app = f"app-{i // 10}"
    return {"metadata": {"name": f"{app}-7c9d8f6b5-{i:05x}", "namespace": f"team-{i % 50}",
                         "uid": f"{i:08x}-0000-4000-8000-{i:012x}",
                         "creationTimestamp": CREATED,
                         "labels": {"app": app, "pod-template-hash": "7c9d8f6b5", "tier": "web"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": f"{app}-7c9d8f6b5", "uid": f"rs-{i // 10}",
                                              "controller": True}]},
            "spec": {"nodeName": node_name,
                     "containers": [{"name": "app", "image": "registry.example/app:1"}]},
            "status": {"phase": "Running", "podIP": address, "podIPs": [{"ip": address}],
                       "startTime": CREATED,
                       "conditions": [{"type": "PodReadyToStartContainers", "status": "True",
                                       "lastTransitionTime": CREATED}]}}


def service(name, namespace, addresses, ports):
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"svc-{namespace}-{name}"},
            "spec": {"clusterIP": addresses[0], "clusterIPs": addresses,
                     "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]}}


def endpoint_slice(name, namespace, family, addresses, ports):
    return {"metadata": {"name": f"{name}-{family.lower()}", "namespace": namespace,
                         "uid": f"slice-{namespace}-{name}-{family}",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": family,
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
            "ports": [{"name": n, "port": p, "protocol": proto} for n, p, proto in ports]}


def build(n_pods, n_services, n_nodes):
    nodes = [node(i, n_nodes) for i in range(n_nodes)]
    pods = []
    # The capture's pods: 10.244.K.2-251 (K = 0..15) on node-K, then its IPv6 pods.
    for i in range(4000):
        k, j = divmod(i, 250)
        pods.append(pod(i, f"10.244.{k}.{2 + j}", f"node-{k}"))
    for j in range(1000):
        pods.append(pod(len(pods), str(ipaddress.ip_address("fd00:10:244::") + 2 + j),
                        f"node-{j % 16}"))
    # The rest, spread over the other nodes' ranges.
    rest = max(0, n_pods - len(pods))
    others = max(1, n_nodes - 16)
    if rest // others >= 254:
        raise SystemExit("bench-view.py: more pods than the nodes' ranges hold")
    for i in range(rest):
        k = 16 + i % others
        pods.append(pod(len(pods), str(node_range(k)[1 + i // others]), f"node-{k}"))

    v4 = [p["status"]["podIP"] for p in pods if ":" not in p["status"]["podIP"]]
    v6 = [p["status"]["podIP"] for p in pods if ":" in p["status"]["podIP"]]
    services, slices = [], []

    def add(name, namespace, addresses, ports, backends):
        services.append(service(name, namespace, addresses, ports))
        fams = {"IPv4": [b for b in backends if ":" not in b], "IPv6": [b for b in backends if ":" in b]}
        for family, members in fams.items():
            if members:
                slices.append(endpoint_slice(name, namespace, family, members, ports))

    dns = [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]
    add("kube-dns", "kube-system", ["10.96.0.10", "fd00:10:96::a"], dns, v4[:5] + v6[:5])
    web = [(n, p, "TCP") for n, p in WEB_PORTS]
    s = 0
    for i in range(120):
        add(f"web-{i}", f"team-{i % 50}", [f"10.96.1.{1 + i}"], web, v4[(s % 4000):(s % 4000) + 10])
        s += 10
    for i in range(40):
        add(f"web6-{i}", f"team-{i % 50}", [str(ipaddress.ip_address("fd00:10:96:1::") + 1 + i)],
            web, v6[(i * 10) % 1000:(i * 10) % 1000 + 10])
    for i in range(100):
        add(f"closed-{i}", f"team-{i % 50}", [f"10.96.2.{1 + i}"], web, [])
    filler = ipaddress.ip_address("10.100.0.0")
    for i in range(max(0, n_services - len(services))):
        first = (s + 10 * i) % max(1, len(v4) - 10)
        add(f"svc-{i}", f"team-{i % 50}", [str(filler + 1 + i)],
            [("http", 80, "TCP")], v4[first:first + 10])
    return {"pods": pods, "services": services, "endpointslices": slices, "nodes": nodes}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--pods", type=int, default=150_000)
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--nodes", type=int, default=5_000)
    ap.add_argument("--list", action="store_true", help="write a v1 List")
    a = ap.parse_args()
    if a.nodes < 17:
        raise SystemExit("bench-view.py: --nodes must be at least 17")
    state = build(a.pods, a.services, a.nodes)
    if a.list:
        kinds = {"pods": ("v1", "Pod"), "services": ("v1", "Service"),
                 "endpointslices": ("discovery.k8s.io/v1", "EndpointSlice"),
                 "nodes": ("v1", "Node")}
        items = [dict(o, apiVersion=kinds[k][0], kind=kinds[k][1])
                 for k in ("nodes", "pods", "services", "endpointslices") for o in state[k]]
        out = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
               "items": items}
    else:
        out = state
    with open(a.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"{a.out}: {len(state['pods'])} pods, {len(state['services'])} services, "
          f"{len(state['endpointslices'])} endpoint slices, {len(state['nodes'])} nodes")


if __name__ == "__main__":
    main()
