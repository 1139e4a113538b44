#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into fuzz/seeds/TARGET/ (committed; run again after
changing this file). Seeds are the inputs of the tests and the demo: DNS queries as the README and
the wire tests send them, the Corefiles of tests/corefiles/ and Corefile.example, the manifests of
deploy/demo/, and watch events of the same objects. Standard library only."""

import hashlib
import json
import pathlib
import shutil
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
SEEDS = FUZZ / "seeds"

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "TXT": 16, "AAAA": 28, "SRV": 33,
         "AXFR": 252, "ANY": 255}


def name(text):
    out = b""
    for label in text.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qname, qtype, *, id=0x1234, opcode=0, qclass=1, edns=None, dnssec_ok=False, rd=True):
    """A DNS query; `edns` is the OPT's UDP size, or None for no OPT."""
    flags = (opcode << 11) | (0x0100 if rd else 0)
    header = struct.pack(">HHHHHH", id, flags, 1, 0, 0, 1 if edns is not None else 0)
    body = name(qname) + struct.pack(">HH", TYPES.get(qtype, qtype) if isinstance(qtype, str)
                                     else qtype, qclass)
    if edns is not None:
        body += b"\0" + struct.pack(">HHIH", 41, edns, 0x8000 if dnssec_ok else 0, 0)
    return header + body


def write(target, data, label=None):
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    digest = hashlib.sha1(data).hexdigest()[:16]
    (folder / (f"{label}-{digest}" if label else digest)).write_bytes(data)


UDP, TCP, UDP6 = 0, 1, 2


def query_seeds():
    cases = [
        ("frontend.default.svc.cluster.local", "A", {}),
        ("web.default.svc.cluster.local", "A", {}),
        ("_http._tcp.web.default.svc.cluster.local", "SRV", {}),
        ("192-168-1-1.default.pod.cluster.local", "A", {}),
        ("20.1.168.192.in-addr.arpa", "PTR", {}),
        ("kubernetes.default.svc.cluster.local", "AAAA", {"edns": 1232}),
        ("docs.default.svc.cluster.local", "A", {}),
        ("web-0.web.default.svc.cluster.local", "A", {"edns": 4096, "dnssec_ok": True}),
        ("nope.default.svc.cluster.local", "A", {}),
        ("cluster.local", "SOA", {}),
        ("cluster.local", "NS", {}),
        ("dns-version.cluster.local", "TXT", {}),
        ("ns.dns.cluster.local", "A", {}),
        ("big.shop.svc.cluster.local", "A", {}),
        ("big.shop.svc.cluster.local", "AAAA", {"edns": 1232}),
        ("_http._tcp.big.shop.svc.cluster.local", "SRV", {"edns": 1232}),
        ("dual.shop.svc.cluster.local", "ANY", {}),
        ("alias.shop.svc.cluster.local", "A", {}),
        ("loop-a.shop.svc.cluster.local", "A", {}),
        ("self.shop.svc.cluster.local", "CNAME", {}),
        ("fd00--5.shop.pod.cluster.local", "AAAA", {}),
        ("5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "PTR", {}),
        ("outside.example", "A", {}),
        ("whoami.example", "A", {}),
        ("cluster.local", "AXFR", {}),
        ("frontend.default.svc.cluster.local", "A", {"opcode": 4}),
        ("frontend.default.svc.cluster.local", "A", {"qclass": 3}),
    ]
    for n, (qname, qtype, options) in enumerate(cases):
        message = query(qname, qtype, id=n, **options)
        write("query", bytes([UDP]) + message, qtype)
        if n % 3 == 0:
            write("query", bytes([TCP]) + message, qtype)
        if n % 5 == 0:
            write("query", bytes([UDP6]) + message, qtype)
    # A compression pointer in the question (backwards), and EDNS version 1.
    header = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    write("query", bytes([UDP]) + header + b"\x03web\xc0\x0c" + struct.pack(">HH", 1, 1))
    bad = bytearray(query("web.default.svc.cluster.local", "A", edns=1232))
    bad[-5] = 1  # the OPT's VERSION
    write("query", bytes([UDP]) + bytes(bad), "badvers")


def k8s_name_seeds():
    for text in ["", "web.default.svc", "_http._tcp.web.default.svc", "web-0.web.default.svc",
                 "192-168-1-1.default.pod", "fd00--1.default.pod", "5678-abcd--0.shop.pod",
                 "dns-version", "ns.dns", "dns", "default.svc", "svc", "pod",
                 "_dns._udp.kube-dns.kube-system.svc", "a.b.c.web.default.svc"]:
        write("k8s_name", text)


def corefile_seeds():
    for path in [ROOT / "Corefile.example", *sorted((ROOT / "tests/corefiles").glob("*.Corefile"))]:
        write("corefile", path.read_text(), path.stem)
    # Snippets, and imports of the files after the NUL bytes (a.conf, b.conf, c, d.conf).
    write("corefile", "(common) {\n  errors\n  log\n}\n.:53 {\n  import common\n  ready\n}\n",
          "snippet")
    write("corefile", ".:53 {\n  import *.conf\n}\nextra.example:53 {\n  import c\n}\n"
          "\0errors\n\0log\n\0whoami\n", "import")
    write("corefile", ".:53 {\n import a.conf\n}\n\0import b.conf\n\0import a.conf\n", "cycle")
    # What the target found: a snippet and files that import themselves several times.
    write("corefile", "(s) {\n" + "import s\n" * 8 + "}\n.:53 {\nimport s\n}\n", "snippet-bomb")
    write("corefile", ".:53 {\nimport *\n}\n" + "\0import *\nimport *\n" * 4, "import-bomb")
    write("corefile", "cluster.local {$NOPE}:1053 {\n  kubernetes {\n    pods verified\n"
          "    labels app in (a, \"b c\")\n  }\n  cache 30 { success 100 }\n}\n", "env")


def manifests_seeds():
    for path in sorted((ROOT / "deploy/demo").glob("*.yaml")):
        write("manifests", b"\0" + path.read_bytes(), path.stem)
    write("manifests", b"\1" + (FUZZ / "cluster.yaml").read_bytes(), "cluster")
    items = [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "api", "namespace": "default"},
         "spec": {"clusterIP": "10.96.0.9", "ports": [{"name": "https", "port": 443}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "api-x", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "api"}},
         "addressType": "IPv6",
         "endpoints": [{"addresses": ["fd00::9"], "hostname": "api-0"}],
         "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]},
    ]
    write("manifests", b"\0" + json.dumps({"apiVersion": "v1", "kind": "List", "items": items},
                                          indent=1).encode(), "list-json")


def watch_seeds():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
           "spec": {"clusterIP": "None", "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}
    ip_svc = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": "frontend", "namespace": "default"},
              "spec": {"clusterIP": "10.96.120.15", "clusterIPs": ["10.96.120.15", "fd00::15"],
                       "ports": [{"name": "http", "port": 80}]}}
    ext = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "docs",
                                                               "namespace": "default"},
           "spec": {"type": "ExternalName", "externalName": "kubernetes.io"}}
    eps = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "web-tq5xz", "namespace": "default",
                        "labels": {"kubernetes.io/service-name": "web"}},
           "addressType": "IPv4",
           "endpoints": [{"addresses": ["192.168.0.20"], "hostname": "web-0",
                          "conditions": {"ready": True},
                          "targetRef": {"kind": "Pod", "name": "web-0"}},
                         {"addresses": ["192.168.1.21"], "conditions": {"ready": False}}],
           "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "web-0", "namespace": "default", "resourceVersion": "9",
                        "managedFields": [{"manager": "kubelet"}]},
           "spec": {"containers": [{"name": "c", "image": "i"}]},
           "status": {"phase": "Running", "podIP": "192.168.0.20",
                      "podIPs": [{"ip": "192.168.0.20"}, {"ip": "fd00::20"}]}}

    def event(kind, obj):
        return json.dumps({"type": kind, "object": obj}, separators=(",", ":"))

    bookmark = json.dumps({"type": "BOOKMARK", "object": {"apiVersion": "v1", "kind": "Service",
                                                          "metadata": {"resourceVersion": "12"}}})
    gone = json.dumps({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
                                                   "status": "Failure", "reason": "Expired",
                                                   "code": 410, "message": "too old"}})
    for which, objects in [(0, [ns]), (1, [svc, ip_svc, ext]), (2, [eps]), (3, [pod])]:
        lines = ["LIST"] + ["+ " + json.dumps(o, separators=(",", ":")) for o in objects]
        lines += ["DONE"] + [event("MODIFIED", o) for o in objects]
        lines += [bookmark, gone, event("DELETED", objects[0]), "LIST", "DONE"]
        write("watch", bytes([which]) + "\n".join(lines).encode(), f"kind{which}")
        write("watch", bytes([which]) + "\n".join(event("ADDED", o) for o in objects).encode(),
              f"added{which}")


if __name__ == "__main__":
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    query_seeds()
    k8s_name_seeds()
    corefile_seeds()
    manifests_seeds()
    watch_seeds()
    for target in sorted(SEEDS.iterdir()):
        print(f"{target.name}: {len(list(target.iterdir()))} seeds")
