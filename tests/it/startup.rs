//! Flags, exit codes and start-up errors of the binary.

use std::process::Command;
use std::time::Duration;

use crate::support::{BINARY, TestServer};

fn run_with_corefile(corefile: &str) -> std::process::Output {
    crate::support::run_to_exit(corefile, &[])
}

#[test]
fn a_bad_corefile_exits_1_with_file_and_line() {
    let out = run_with_corefile(".:1053 {\n  errors\n  whoareyou\n}\n");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The directives the build has, as `-plugins` lists them.
    let plugins = Command::new(BINARY).arg("-plugins").output().expect("run");
    let built: Vec<String> = String::from_utf8_lossy(&plugins.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("dns.").map(str::to_string))
        .collect();
    assert!(built.len() > 20 && built.contains(&"kubernetes".to_string()));
    let supported = built.join(", ");
    assert!(
        stderr.contains(&format!(
            "Corefile:3: unknown directive \"whoareyou\"; supported: {supported}"
        )),
        "{stderr}"
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let out = run_with_corefile(
        ".:1053 {\n  kubernetes cluster.local {\n    manifests m\n    ttl 9999\n    pods sometimes\n  }\n}\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Corefile:4: kubernetes: ttl"), "{stderr}");
    assert!(stderr.contains("Corefile:5: kubernetes: pods"), "{stderr}");
}

#[test]
fn a_syntax_error_exits_1_with_file_and_line() {
    let out = run_with_corefile(".:1053 {\n  log {\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("Corefile:2: block of 'log' has no closing '}'")
    );
}

#[test]
fn a_missing_brace_does_not_hide_the_other_errors() {
    let corefile = ".:1053 {\n    kubernetes cluster.local {\n        ttl 9999\n    cache 0\n}\nexample.org:1053 {\n    whoareyou\n}\n";
    let out = run_with_corefile(corefile);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for error in [
        "Corefile:2: block of 'kubernetes' has no closing '}'",
        "Corefile:3: kubernetes: ttl",
        "Corefile:4: cache",
        "Corefile:7: unknown directive \"whoareyou\"",
    ] {
        assert!(stderr.contains(error), "{error} missing from:\n{stderr}");
    }
}

#[test]
fn a_missing_manifests_directory_or_kubeconfig_stops_startup_and_validate_with_its_line() {
    for (option, error) in [
        (
            "manifests nowhere",
            "Corefile:3: kubernetes: \"nowhere\": cannot read the directory",
        ),
        (
            "kubeconfig /nonexistent/kc",
            "Corefile:3: kubernetes: \"/nonexistent/kc\": cannot read the file",
        ),
    ] {
        let corefile =
            format!(".:1053 {{\n  kubernetes cluster.local {{\n    {option}\n  }}\n}}\n");
        let out = run_with_corefile(&corefile);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{stderr}");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Corefile"), &corefile).expect("write");
        let out = Command::new(BINARY)
            .args(["-validate", "-conf", "Corefile"])
            .current_dir(dir.path())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(1), "-validate says it will fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(error), "{stderr}");
    }
}

#[test]
fn validate_shows_what_start_up_would_warn_about() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Corefile"),
        ".:1053 {\n  file missing.db example.org\n}\n",
    )
    .expect("write");
    let out = Command::new(BINARY)
        .args(["-validate", "-conf", "Corefile"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "a file waited for is no error");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[WARNING] plugin/file: Corefile:2: file: ")
            && stderr.contains("missing.db")
            && stderr.contains("answering SERVFAIL for example.org. until it can be read"),
        "{stderr}"
    );
}

#[test]
fn a_missing_corefile_exits_1() {
    let out = Command::new(BINARY)
        .args(["-conf", "/nonexistent/Corefile"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/Corefile:0: cannot read"));
}

#[test]
fn bad_flags_exit_2_named_as_written() {
    let out = Command::new(BINARY)
        .args(["-nosuchflag"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("flag provided but not defined: -nosuchflag\nUsage of clusterdns:"),
        "{stderr}"
    );
    let out = Command::new(BINARY)
        .args(["-dns.port", "notaport"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("invalid value \"notaport\" for flag -dns.port: "),
        "{stderr}"
    );
}

#[test]
fn help_lists_every_flag_in_single_dash_form() {
    for flag in ["-help", "-h", "--help"] {
        let out = Command::new(BINARY).arg(flag).output().expect("run");
        assert!(out.status.success(), "{flag}");
        let text = String::from_utf8_lossy(&out.stdout);
        for name in [
            "-conf file",
            "-dns.port port",
            "-pidfile file",
            "-plugins",
            "-quiet",
            "-validate",
            "-version",
        ] {
            assert!(
                text.lines().any(|l| l == format!("  {name}")),
                "{name} in:\n{text}"
            );
        }
        assert!(!text.contains("--"), "{text}");
    }
}

#[test]
fn version_and_plugins_flags_in_go_style() {
    for flag in ["-version", "--version"] {
        let out = Command::new(BINARY).arg(flag).output().expect("run");
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("clusterdns-"));
    }
    let out = Command::new(BINARY).arg("-plugins").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dns.kubernetes") && text.contains("dns.log"),
        "{text}"
    );
    assert!(!text.contains("Caddyfile"), "{text}");
}

#[test]
fn a_reader_that_closes_early_is_not_a_crash() {
    // `clusterdns -version | head -1` in a script with `set -o pipefail`: the pipe closes
    // before the binary writes, and the write must not panic (exit 101).
    for flag in ["-version", "-plugins"] {
        let mut child = Command::new(BINARY)
            .arg(flag)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn dns_port_flag_sets_the_port_of_blocks_without_one() {
    let port = crate::support::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("m")).expect("mkdir");
    std::fs::write(
        dir.path().join("Corefile"),
        "cluster.local {\n  bind 127.0.0.1\n  kubernetes {\n    manifests m\n  }\n}\n",
    )
    .expect("write");
    let mut child = Command::new(BINARY)
        .args(["-conf=Corefile", "-dns.port", &port.to_string(), "-quiet"])
        .current_dir(dir.path())
        .spawn()
        .expect("spawn");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let probe = crate::support::query_bytes(
        "dns-version.cluster.local.",
        hickory_proto::rr::RecordType::TXT,
        1,
    );
    crate::support::wait_for(
        Duration::from_secs(10),
        "an answer on the -dns.port port",
        || crate::support::raw_udp(addr, &probe, Duration::from_millis(100)).is_some(),
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn sigterm_stops_the_server_with_status_0() {
    let mut server = TestServer::start(&crate::support::cluster_corefile(""), &[]);
    let status = server.terminate(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_port_in_use_stops_startup() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let out = run_with_corefile(&format!(".:{port} {{\n  bind 127.0.0.1\n  log\n}}\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listen on 127.0.0.1"),
        "{out:?}"
    );
}
