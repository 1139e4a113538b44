//! End to end, as an operator checks a cluster's DNS from inside a pod: `nslookup`, `dig`,
//! `getent` and `ping` run inside pod network namespaces with the kubelet's `resolv.conf`
//! (`ndots:5` and the search list), against clusterdns on the DNS Service address, with knot
//! as the upstream for outside names. See `lab.rs` for the topology. Needs root, iproute2,
//! bind9-dnsutils, iputils-ping and knot (`.ci/run` installs them).
//!
//! Each lookup prints how many queries clusterdns received for it: the search-list
//! amplification of `ndots:5`, and what `autopath` leaves of it (musl's resolver too, through a
//! small getaddrinfo client built with `musl-gcc`, from Debian's musl-tools).

mod lab;

use std::process::Output;

use lab::{DNS_IP, FRONTEND_IP, Lab, OUTSIDE_IP, autopath_corefile};

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Run one lookup from pod A, print how many queries it cost, and return its output.
fn lookup(lab: &Lab, program: &str, args: &[&str], expect_success: bool) -> String {
    lookup_counted(lab, program, args, expect_success).0
}

/// [`lookup`], with the number of queries that reached clusterdns.
fn lookup_counted(lab: &Lab, program: &str, args: &[&str], expect_success: bool) -> (String, u64) {
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
    (shown, received)
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

    // Everything the lab made goes with it (other tests' labs may be running).
    let made = lab.namespace_names();
    drop(lab);
    let listed = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    let left: Vec<&String> = made
        .iter()
        .filter(|name| listed.split_whitespace().any(|w| w == name.as_str()))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let files = made
        .iter()
        .filter(|name| std::path::Path::new("/etc/netns").join(name).exists())
        .count();
    assert_eq!(files, 0, "/etc/netns files left behind");
}

/// `getaddrinfo.c` built with musl-gcc (static), in `dir`.
fn musl_client(dir: &std::path::Path) -> String {
    let binary = dir.join("getaddrinfo-musl");
    let source = crate::support::repo_path("tests/it/e2e/getaddrinfo.c");
    let built = std::process::Command::new("musl-gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("musl-gcc (apt-get install musl-tools)");
    assert!(built.status.success(), "musl-gcc: {}", text(&built));
    binary.display().to_string()
}

/// Whether a lookup's output lists `address` as the first word of a line.
fn lists(output: &str, address: &str) -> bool {
    output
        .lines()
        .any(|line| line.split_whitespace().next() == Some(address))
}

#[test]
fn autopath_answers_a_pods_search_walk_in_at_most_two_queries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let musl = musl_client(dir.path());
    let lookups: [(&str, &str, &str); 6] = [
        ("getent", "outside.example", OUTSIDE_IP),
        ("getent", "frontend", FRONTEND_IP),
        ("getent", "kubernetes.default", "10.96.0.1"),
        (&musl, "outside.example", OUTSIDE_IP),
        (&musl, "frontend", FRONTEND_IP),
        (&musl, "kubernetes.default", "10.96.0.1"),
    ];
    let run = |lab: &Lab, program: &str, name: &str| {
        if program == "getent" {
            lookup_counted(lab, "getent", &["ahosts", name], true)
        } else {
            lookup_counted(lab, program, &[name], true)
        }
    };

    println!("without autopath:");
    let plain = Lab::start();
    let mut before = Vec::new();
    for (program, name, address) in lookups {
        let (out, received) = run(&plain, program, name);
        assert!(lists(&out, address), "{program} {name}: {out}");
        before.push(received);
    }
    drop(plain);

    println!("with pods verified and autopath @kubernetes:");
    let lab = Lab::start_with(&autopath_corefile());
    for ((program, name, address), plain_count) in lookups.into_iter().zip(before) {
        let (out, received) = run(&lab, program, name);
        assert!(
            lists(&out, address),
            "{program} {name}: {out}\n{}",
            lab.log()
        );
        assert!(
            received <= 2,
            "{program} {name}: {received} queries with autopath (without: {plain_count})\n{}",
            lab.log()
        );
    }
    let out = lookup(&lab, "nslookup", &["kubernetes.default"], true);
    assert_contains(
        &out,
        "canonical name = kubernetes.default.svc.cluster.local.",
    );
    assert_contains(&out, "Address: 10.96.0.1");
    let (out, received) =
        lookup_counted(&lab, "dig", &["+search", "+short", "outside.example"], true);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["outside.example.", OUTSIDE_IP]
    );
    assert_eq!(received, 1);
    // A name that exists nowhere: NXDOMAIN, as without autopath.
    let out = lookup(&lab, "getent", &["hosts", "nowhere-at-all.invalid"], false);
    assert!(out.trim().is_empty(), "{out}");
}
