//! Unit tests of the Corefile syntax, one per syntax element and per error.

use super::*;

fn parse(text: &str) -> Result<Corefile, ConfigErrors> {
    Corefile::parse("Corefile", text, Path::new("/nonexistent"))
}

fn names(d: &[Directive]) -> Vec<&str> {
    d.iter().map(|d| d.name.text.as_str()).collect()
}

#[test]
fn kubeadm_corefile_parses_with_nested_blocks() {
    let text = ".:53 {\n    errors\n    health {\n       lameduck 5s\n    }\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n    prometheus :9153\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30 {\n       disable success cluster.local\n       disable denial cluster.local\n    }\n    loop\n    reload\n    loadbalance\n}\n";
    let core = parse(text).expect("parses");
    assert_eq!(core.blocks.len(), 1);
    let block = &core.blocks[0];
    assert_eq!(block.keys[0].port, Some(53));
    assert_eq!(
        names(&block.directives),
        vec![
            "errors",
            "health",
            "ready",
            "kubernetes",
            "prometheus",
            "forward",
            "cache",
            "loop",
            "reload",
            "loadbalance"
        ]
    );
    let k8s = &block.directives[3];
    assert_eq!(
        k8s.arg_texts(),
        vec!["cluster.local", "in-addr.arpa", "ip6.arpa"]
    );
    assert_eq!(names(&k8s.block), vec!["pods", "fallthrough", "ttl"]);
    assert_eq!(k8s.block[1].name.line, 9);
    assert_eq!(block.directives[1].block[0].arg_texts(), vec!["5s"]);
}

#[test]
fn several_zones_and_blocks_per_port() {
    let core = parse("cluster.local:1053 in-addr.arpa:1053 {\n log\n}\n.:1053 {\n errors\n}\n")
        .expect("parses");
    assert_eq!(core.blocks.len(), 2);
    assert_eq!(core.blocks[0].keys.len(), 2);
    assert_eq!(core.blocks[0].keys[1].zone.to_ascii(), "in-addr.arpa.");
}

#[test]
fn comma_separated_keys() {
    let core = parse("a.example:53, b.example:53 {\n log\n}\n").expect("parses");
    assert_eq!(core.blocks[0].keys.len(), 2);
}

#[test]
fn block_on_one_line() {
    let core = parse(".:53 {\n health { lameduck 5s }\n log\n}\n").expect("parses");
    let d = &core.blocks[0].directives;
    assert_eq!(names(d), vec!["health", "log"]);
    assert_eq!(d[0].block[0].arg_texts(), vec!["5s"]);
}

#[test]
fn single_block_without_braces() {
    let core = parse(".:1053\nlog\nerrors\n").expect("parses");
    assert_eq!(names(&core.blocks[0].directives), vec!["log", "errors"]);
}

#[test]
fn snippets_are_imported_where_named() {
    let text = "(common) {\n  errors\n  log\n}\n.:53 {\n  import common\n  ready\n}\n";
    let core = parse(text).expect("parses");
    assert_eq!(
        names(&core.blocks[0].directives),
        vec!["errors", "log", "ready"]
    );
    // Errors inside a snippet point at the snippet's own line.
    assert_eq!(core.blocks[0].directives[1].name.line, 3);
}

#[test]
fn import_glob_reads_files_relative_to_the_corefile() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.conf"), "errors\n").expect("write");
    std::fs::write(dir.path().join("b.conf"), "log\n").expect("write");
    std::fs::write(
        dir.path().join("Corefile"),
        ".:53 {\n  import *.conf\n}\nextra.example:53 {\n  import b.conf\n}\n",
    )
    .expect("write");
    let core = Corefile::load(&dir.path().join("Corefile")).expect("parses");
    assert_eq!(names(&core.blocks[0].directives), vec!["errors", "log"]);
    assert!(core.blocks[0].directives[1].name.file.ends_with("b.conf"));
}

#[test]
fn missing_import_is_an_error_at_its_line() {
    let err = parse(".:53 {\n  import nothing-here.conf\n}\n").unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(
        err.0[0]
            .to_string()
            .starts_with("Corefile:2: import nothing-here.conf")
    );
}

#[test]
fn import_cycle_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("loop.conf"), "import loop.conf\n").expect("write");
    std::fs::write(
        dir.path().join("Corefile"),
        ".:53 {\n import loop.conf\n}\n",
    )
    .expect("write");
    let err = Corefile::load(&dir.path().join("Corefile")).unwrap_err();
    assert!(err.to_string().contains("import cycle"), "{err}");
}

/// Found while writing the `corefile` fuzz target (the input hung it past its 10 s limit; random
/// runs had not reached it): a 98-byte snippet that imports itself eight times
/// expanded to 8^10 copies, each reporting the import cycle (the process hung, then ran out of
/// memory). The cycle is reported once and expansion stops.
#[test]
fn a_snippet_importing_itself_many_times_is_one_error_not_a_hang() {
    let imports = "import s\n".repeat(8);
    let text = format!("(s) {{\n{imports}}}\n.:53 {{\n import s\n}}\n");
    let started = std::time::Instant::now();
    let err = parse(&text).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(err.to_string().contains("import cycle?"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// The same without a cycle: each snippet imports the one before it eight times, 8^8 copies.
#[test]
fn snippets_that_multiply_stop_at_the_token_limit() {
    let mut text = String::from("(s0) {\n log\n}\n");
    for n in 1..=8 {
        let imports = format!("import s{}\n", n - 1).repeat(8);
        text.push_str(&format!("(s{n}) {{\n{imports}}}\n"));
    }
    text.push_str(".:53 {\n import s8\n}\n");
    let started = std::time::Instant::now();
    let err = parse(&text).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(
        err.to_string()
            .contains("snippets and imports expand to more than 100000 tokens"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// Found with the `corefile` fuzz target, as the one above: four files that each import `*`
/// twice read 4^10 files
/// and reported the cycle a million times.
#[test]
fn files_importing_each_other_many_times_are_one_error_not_a_hang() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["a.conf", "b.conf", "c", "d.conf"] {
        std::fs::write(dir.path().join(name), "import *\nimport *\n").expect("write");
    }
    let started = std::time::Instant::now();
    let err = Corefile::parse("Corefile", ".:53 {\nimport *\n}\n", dir.path()).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(err.to_string().contains("import cycle?"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn imports_read_at_most_a_thousand_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    for n in 0..1001 {
        std::fs::write(dir.path().join(format!("{n}.conf")), "log\n").expect("write");
    }
    let err = Corefile::parse("Corefile", ".:53 {\nimport *.conf\n}\n", dir.path()).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(
        err.to_string()
            .contains("imports read more than 1000 files"),
        "{err}"
    );
}

#[test]
fn unclosed_block_is_an_error_at_its_opener() {
    let err = parse(".:53 {\n  health {\n    lameduck 5s\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Corefile:2: block of 'health' has no closing '}'"),
        "{text}"
    );
    assert!(
        text.contains("Corefile:1: server block has no closing '}'"),
        "{text}"
    );
}

#[test]
fn stray_closing_brace_is_an_error() {
    let err = parse(".:53 {\n log\n}\n}\n").unwrap_err();
    assert!(
        err.to_string().starts_with("Corefile:4: unexpected '}'"),
        "{err}"
    );
}

#[test]
fn missing_brace_after_second_block_keys() {
    let err = parse(".:53 {\n log\n}\nexample.org\n log\n").unwrap_err();
    assert!(
        err.to_string().contains("Corefile:4: expected '{'"),
        "{err}"
    );
}

#[test]
fn bad_key_is_reported_with_its_line() {
    let err = parse(".:53 {\n}\n\ntls://.:853 {\n}\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Corefile:4: unsupported scheme tls://"),
        "{err}"
    );
}

#[test]
fn empty_corefile_is_an_error() {
    let err = parse("# nothing\n").unwrap_err();
    assert!(err.to_string().contains("no server blocks"), "{err}");
}

#[test]
fn every_error_is_reported_at_once() {
    let err = parse("tls://a:1 {\n}\ngrpc://b:2 {\n}\n").unwrap_err();
    assert_eq!(err.0.len(), 2);
    assert_eq!(err.0[1].line, 3);
}

#[test]
fn env_in_keys_and_args() {
    let core = parse(".:53 {\n  log {$CLUSTERDNS_UNSET_FOR_TEST}\n}\n").expect("parses");
    assert!(
        core.blocks[0].directives[0]
            .args
            .iter()
            .all(|a| a.text.is_empty())
    );
}
