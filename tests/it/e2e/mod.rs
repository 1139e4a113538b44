//! End to end, as an operator checks a cluster's DNS from inside a pod: `nslookup`, `dig`,
//! `getent` and `ping` run inside pod network namespaces with the kubelet's `resolv.conf`
//! (`ndots:5` and the search list), against clusterdns on the DNS Service address, with knot
//! as the upstream for outside names. See `lab.rs` for the topology. Needs root, iproute2,
//! bind9-dnsutils, iputils-ping and knot (`.ci/run` installs them).
//!
//! Each lookup prints how many queries clusterdns received for it: the search-list
//! amplification of `ndots:5`.

mod lab;

use std::process::Output;

use lab::{DNS_IP, FRONTEND_IP, Lab, OUTSIDE_IP};

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Run one lookup from pod A, print how many queries it cost, and return its output.
fn lookup(lab: &Lab, program: &str, args: &[&str], expect_success: bool) -> String {
    let before = lab.queries_received();
    let output = lab.exec(&lab.pods[0], program, args);
    let received = lab.queries_received() - before;
    let shown = text(&output);
    println!(
        "{program} {}: {received} queries reached clusterdns",
        args.join(" ")
    );
    assert_eq!(
        output.status.success(),
        expect_success,
        "{program} {}:\n{shown}\nclusterdns log:\n{}",
        args.join(" "),
        lab.log()
    );
    shown
}

fn assert_contains(output: &str, wanted: &str) {
    assert!(output.contains(wanted), "expected {wanted:?} in:\n{output}");
}

#[test]
fn from_inside_a_pod_every_client_resolves_through_clusterdns() {
    let lab = Lab::start();
    let pod_b = &lab.pods[1];
    let dashed = format!("{}.default.pod.cluster.local", pod_b.ip.replace('.', "-"));

    let out = lookup(&lab, "nslookup", &["kubernetes.default"], true);
    assert_contains(&out, &format!("Server:\t\t{DNS_IP}"));
    assert_contains(
        &out,
        "Name:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1",
    );

    let out = lookup(&lab, "dig", &["+search", "+short", "frontend"], true);
    assert_eq!(out.trim(), FRONTEND_IP);

    let out = lookup(&lab, "getent", &["hosts", "frontend"], true);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        [FRONTEND_IP, "frontend.default.svc.cluster.local"]
    );

    let out = lookup(
        &lab,
        "getent",
        &["ahosts", "frontend.default.svc.cluster.local"],
        true,
    );
    let first = out.lines().next().unwrap_or("");
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        [FRONTEND_IP, "STREAM", "frontend.default.svc.cluster.local"],
        "{out}"
    );

    let out = lookup(&lab, "dig", &["+short", "-x", pod_b.ip], true);
    assert_eq!(out.trim(), "web-0.web.default.svc.cluster.local.");

    let out = lookup(
        &lab,
        "dig",
        &[
            "+short",
            "SRV",
            "_http._tcp.frontend.default.svc.cluster.local",
        ],
        true,
    );
    assert_eq!(out.trim(), "0 100 80 frontend.default.svc.cluster.local.");

    let out = lookup(&lab, "ping", &["-c", "1", "-W", "2", &dashed], true);
    assert_contains(&out, &format!("PING {dashed} ({})", pod_b.ip));
    assert_contains(&out, "1 packets transmitted, 1 received");

    let out = lookup(&lab, "ping", &["-c", "1", "-W", "2", "web-0.web"], true);
    assert_contains(
        &out,
        &format!("PING web-0.web.default.svc.cluster.local ({})", pod_b.ip),
    );
    assert_contains(&out, "1 packets transmitted, 1 received");

    let out = lookup(&lab, "getent", &["hosts", "outside.example"], true);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        [OUTSIDE_IP, "outside.example"]
    );

    // The ExternalName Service: a CNAME to the outside name, which the upstream answers.
    let out = lookup(&lab, "dig", &["+search", "+short", "docs"], true);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["outside.example.", OUTSIDE_IP]
    );

    let out = lookup(&lab, "nslookup", &["nowhere-at-all.invalid"], false);
    assert_contains(
        &out,
        "** server can't find nowhere-at-all.invalid: NXDOMAIN",
    );
    let out = lookup(&lab, "getent", &["hosts", "nowhere-at-all.invalid"], false);
    assert!(out.trim().is_empty(), "{out}");

    // Everything the lab made goes with it.
    drop(lab);
    let prefix = format!("cdns-{}-", std::process::id());
    let listed = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let left = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(!left.contains(&prefix), "namespaces left behind:\n{left}");
    let files = std::fs::read_dir("/etc/netns")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(files, 0, "/etc/netns files left behind");
}
