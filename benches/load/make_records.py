#!/usr/bin/env python3
"""Build one record set for every server in the load run.

clusterdns gets manifests (Namespaces, Services, EndpointSlices, Pods); knot and nsd get the same
names as zone files (cluster.local and 10.in-addr.arpa); dnsmasq gets them as a hosts file and
srv-host lines. Also writes the dnsperf query file: 80% existing A, 5% SRV, 5% PTR, 10% NXDOMAIN.

usage: make_records.py OUTDIR [SERVICES] [QUERIES]
"""
import os
import random
import sys

if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
    sys.exit(__doc__)
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
hosts = []
srv_hosts = []
reverse = [
    "$ORIGIN 10.in-addr.arpa.",
    "$TTL 5",
    "@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
    "@ NS ns.dns.cluster.local.",
]
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
            hosts.append(f"{endpoint_ip(i, e)} svc{i}-{e}.svc{i}.{ns}.svc.cluster.local svc{i}.{ns}.svc.cluster.local")
            srv_hosts.append(f"srv-host=_http._tcp.svc{i}.{ns}.svc.cluster.local,svc{i}-{e}.svc{i}.{ns}.svc.cluster.local,80,0,33")
    else:
        docs.append(
            f"- {{apiVersion: v1, kind: Service, metadata: {{name: svc{i}, namespace: {ns}}}, "
            f"spec: {{clusterIP: {cluster_ip(i)}, ports: [{{name: http, port: 80}}]}}}}"
        )
        zone.append(f"svc{i}.{ns}.svc A {cluster_ip(i)}")
        zone.append(f"_http._tcp.svc{i}.{ns}.svc SRV 0 100 80 svc{i}.{ns}.svc.cluster.local.")
        octets = cluster_ip(i).split(".")
        reverse.append(f"{octets[3]}.{octets[2]}.{octets[1]} PTR svc{i}.{ns}.svc.cluster.local.")
        hosts.append(f"{cluster_ip(i)} svc{i}.{ns}.svc.cluster.local")
        srv_hosts.append(f"srv-host=_http._tcp.svc{i}.{ns}.svc.cluster.local,svc{i}.{ns}.svc.cluster.local,80,0,100")

# One running pod per service, indexed by clusterdns (`pods verified`) and named by its dashed
# address in the zones.
for i in range(services):
    ns = f"ns{i % namespaces}"
    ip = f"192.{168 + i // 65536}.{(i // 256) % 256}.{i % 256}"
    docs.append(
        f"- {{apiVersion: v1, kind: Pod, metadata: {{name: pod{i}, namespace: {ns}}}, "
        f"spec: {{containers: [{{name: app, image: app}}]}}, status: {{phase: Running, podIP: {ip}}}}}"
    )
    dashed = ip.replace(".", "-")
    zone.append(f"{dashed}.{ns}.pod A {ip}")
    hosts.append(f"{ip} {dashed}.{ns}.pod.cluster.local")

with open(os.path.join(out, "manifests", "cluster.yaml"), "w") as f:
    f.write("apiVersion: v1\nkind: List\nitems:\n" + "\n".join(docs) + "\n")
with open(os.path.join(out, "cluster.local.zone"), "w") as f:
    f.write("\n".join(zone) + "\n")
with open(os.path.join(out, "10.in-addr.arpa.zone"), "w") as f:
    f.write("\n".join(reverse) + "\n")
with open(os.path.join(out, "hosts"), "w") as f:
    f.write("\n".join(hosts) + "\n")
with open(os.path.join(out, "dnsmasq-srv.conf"), "w") as f:
    f.write("\n".join(srv_hosts) + "\n")
with open(os.path.join(out, "queries.txt"), "w") as f:
    for _ in range(queries):
        i = rng.randrange(services)
        name = f"svc{i}.ns{i % namespaces}.svc.cluster.local"
        r = rng.random()
        if r < 0.8:
            f.write(f"{name} A\n")
        elif r < 0.85:
            f.write(f"_http._tcp.{name} SRV\n")
        elif r < 0.9:
            j = rng.randrange(services)
            while j % 10 == 9:  # headless services have no cluster IP
                j = rng.randrange(services)
            a, b, c, d = cluster_ip(j).split(".")
            f.write(f"{d}.{c}.{b}.{a}.in-addr.arpa PTR\n")
        else:
            f.write(f"missing{i}.ns{i % namespaces}.svc.cluster.local A\n")
