//! The Corefiles operators run (`tests/corefiles/wild/`: 22 defaults of Kubernetes
//! distributions and user snippets, each with its source on its first line; SOURCES.md lists
//! where each came from): `clusterdns -validate` accepts every one that CoreDNS 1.14 accepts,
//! and rejects the four that CoreDNS rejects with the reason, at the line. The files they name
//! under `/etc/coredns/` are read from a scratch folder instead (the only change to the text).

use std::process::Command;

use crate::support::{BINARY, repo_path};

/// `-validate` of the wild Corefile `file`: (exit code, what it printed).
fn validate(file: &str) -> (Option<i32>, String) {
    let text = std::fs::read_to_string(repo_path("tests/corefiles/wild").join(file))
        .expect("wild Corefile");
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("etc-coredns");
    for folder in [dir.path().join("custom"), etc.join("custom")] {
        std::fs::create_dir_all(folder).expect("mkdir");
    }
    std::fs::write(etc.join("NodeHosts"), "172.18.0.3 k3s-server-0\n").expect("NodeHosts");
    std::fs::write(
        etc.join("example.db"),
        "$ORIGIN example.org.\n@ 3600 IN SOA ns.example.org. admin.example.org. 1 7200 3600 1209600 3600\n@ 3600 IN NS ns\nns IN A 192.0.2.53\n* IN A 192.0.2.80\n",
    )
    .expect("zone file");
    let text = text.replace("/etc/coredns/", &format!("{}/", etc.display()));
    std::fs::write(dir.path().join("Corefile"), text).expect("write");
    let out = Command::new(BINARY)
        .args(["-validate", "-conf", "Corefile"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), said)
}

fn wild_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_path("tests/corefiles/wild"))
        .expect("wild folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".Corefile"))
        .collect();
    files.sort();
    files
}

/// The files CoreDNS 1.14 rejects too, and the error clusterdns gives (SOURCES.md, Notes).
const REJECTED_BY_COREDNS: &[(&str, &str)] = &[
    (
        "rke1-old.Corefile",
        "kubernetes: unknown property \"upstream\"",
    ),
    (
        "k8s-docs-federation.Corefile",
        "unknown directive \"federation\"",
    ),
    (
        "eks-stubdomain.Corefile",
        "forward: custom-dns-server: not an IP address",
    ),
    (
        "user-homelab-aaaa-filter.Corefile",
        "cache: prefetch amount \"30%\": not a number",
    ),
];

#[test]
fn every_corefile_coredns_accepts_passes_validate() {
    let files = wild_files();
    assert_eq!(files.len(), 35, "{files:?}");
    let mut accepted = 0;
    for file in &files {
        let (code, said) = validate(file);
        if let Some((_, error)) = REJECTED_BY_COREDNS.iter().find(|(f, _)| f == file) {
            assert_eq!(code, Some(1), "{file}: {said}");
            assert!(
                said.starts_with("Corefile:") && said.contains(error),
                "{file}: {said}"
            );
        } else {
            assert_eq!((code, said.trim()), (Some(0), "ok"), "{file}");
            accepted += 1;
        }
    }
    assert_eq!(accepted, 35 - REJECTED_BY_COREDNS.len());
}
