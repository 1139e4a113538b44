#!/usr/bin/env python3
"""Build one record set for every server in the load run.

clusterdns gets manifests (Services, EndpointSlices, Namespaces); knot gets the same names as a
zone file. Also writes the dnsperf query file: 80% existing A, 10% SRV, 10% NXDOMAIN.

usage: make_records.py OUTDIR [SERVICES] [QUERIES]
"""
import os
import random
import sys

out = sys.argv[1]
services = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
queries = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
namespaces = 100
rng = random.Random(42)
os.makedirs(os.path.join(out, "manifests"), exist_ok=True)


def cluster_ip(i):
    return f"10.{96 + i // 65536}.{(i // 256) % 256}.{i % 256}"


def endpoint_ip(i, e):
    n = i * 4 + e
    return f"172.{16 + n // 65536}.{(n // 256) % 256}.{n % 256}"


docs = []
zone = [
    "$ORIGIN cluster.local.",
    "$TTL 5",
    "@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
    "@ NS ns.dns.cluster.local.",
    "ns.dns A 127.0.0.1",
    'dns-version TXT "1.1.0"',
]
for n in range(namespaces):
    docs.append(f"- {{apiVersion: v1, kind: Namespace, metadata: {{name: ns{n}}}}}")
for i in range(services):
    ns = f"ns{i % namespaces}"
    headless = i % 10 == 9
    if headless:
        docs.append(
            f"- {{apiVersion: v1, kind: Service, metadata: {{name: svc{i}, namespace: {ns}}}, "
            f"spec: {{clusterIP: None, ports: [{{name: http, port: 80}}]}}}}"
        )
        eps = ", ".join(
            f"{{addresses: [{endpoint_ip(i, e)}], hostname: svc{i}-{e}}}" for e in range(3)
        )
        docs.append(
            f"- {{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {{name: svc{i}-x, "
            f"namespace: {ns}, labels: {{kubernetes.io/service-name: svc{i}}}}}, addressType: IPv4, "
            f"endpoints: [{eps}], ports: [{{name: http, port: 80}}]}}"
        )
        for e in range(3):
            zone.append(f"svc{i}.{ns}.svc A {endpoint_ip(i, e)}")
            zone.append(f"svc{i}-{e}.svc{i}.{ns}.svc A {endpoint_ip(i, e)}")
            zone.append(f"_http._tcp.svc{i}.{ns}.svc SRV 0 33 80 svc{i}-{e}.svc{i}.{ns}.svc.cluster.local.")
    else:
        docs.append(
            f"- {{apiVersion: v1, kind: Service, metadata: {{name: svc{i}, namespace: {ns}}}, "
            f"spec: {{clusterIP: {cluster_ip(i)}, ports: [{{name: http, port: 80}}]}}}}"
        )
        zone.append(f"svc{i}.{ns}.svc A {cluster_ip(i)}")
        zone.append(f"_http._tcp.svc{i}.{ns}.svc SRV 0 100 80 svc{i}.{ns}.svc.cluster.local.")

with open(os.path.join(out, "manifests", "cluster.yaml"), "w") as f:
    f.write("apiVersion: v1\nkind: List\nitems:\n" + "\n".join(docs) + "\n")
with open(os.path.join(out, "cluster.local.zone"), "w") as f:
    f.write("\n".join(zone) + "\n")
with open(os.path.join(out, "queries.txt"), "w") as f:
    for _ in range(queries):
        i = rng.randrange(services)
        name = f"svc{i}.ns{i % namespaces}.svc.cluster.local"
        r = rng.random()
        if r < 0.8:
            f.write(f"{name} A\n")
        elif r < 0.9:
            f.write(f"_http._tcp.{name} SRV\n")
        else:
            f.write(f"missing{i}.ns{i % namespaces}.svc.cluster.local A\n")
