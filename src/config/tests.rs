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
    let err = parse(&text).unwrap_err();
    assert!(
        err.0.len() <= 2,
        "the cycle once (and the token limit): {err}"
    );
    assert!(err.to_string().contains("import cycle?"), "{err}");
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
    let err = parse(&text).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(
        err.to_string()
            .contains("more than 100000 tokens once snippets and imports are expanded"),
        "{err}"
    );
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
    let err = Corefile::parse("Corefile", ".:53 {\nimport *\n}\n", dir.path()).unwrap_err();
    assert!(err.0.len() <= 2, "the cycle once (and a limit): {err}");
    assert!(err.to_string().contains("import cycle?"), "{err}");
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

/// Ten snippets, each importing the one before ten times, the first holding `body`: expanded,
/// `import s9` would be 10^9 copies of `body`.
fn snippet_bomb(body: &str) -> String {
    let mut text = format!("(s0) {{\n{body}}}\n");
    for i in 1..10 {
        text.push_str(&format!("(s{i}) {{\n"));
        for _ in 0..10 {
            text.push_str(&format!("  import s{}\n", i - 1));
        }
        text.push_str("}\n");
    }
    text + ".:53 {\n  import s9\n}\n"
}

#[test]
fn a_snippet_bomb_stops_at_the_token_limit_with_the_import_line() {
    // With `log` lines the expansion would exhaust memory; with an empty first snippet it
    // would take 10^9 imports of nothing.
    for body in ["  log\n", ""] {
        let text = snippet_bomb(body);
        let line = text.lines().position(|l| l == "  import s9").expect("line") + 1;
        let started = std::time::Instant::now();
        let err = parse(&text).unwrap_err();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(err.0.len(), 1, "{err}");
        assert_eq!(
            err.0[0].to_string(),
            format!(
                "Corefile:{line}: import s9: more than {MAX_TOKENS} tokens once snippets and imports are expanded"
            )
        );
    }
}

#[test]
fn a_corefile_of_more_tokens_than_the_limit_is_an_error() {
    let text = format!(".:53 {{\n{}}}\n", "  log\n".repeat(MAX_TOKENS));
    let err = parse(&text).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(
        err.0[0].to_string().starts_with(&format!(
            "Corefile:{}: more than {MAX_TOKENS} tokens",
            MAX_TOKENS
        )),
        "{err}"
    );
}

#[test]
fn a_long_line_parses_in_linear_time() {
    let text = format!(".:53 {{\n  hosts{}\n}}\n", " a".repeat(MAX_TOKENS - 10));
    let started = std::time::Instant::now();
    let core = parse(&text).expect("parses");
    assert_eq!(core.blocks[0].directives[0].args.len(), MAX_TOKENS - 10);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// A server block with `depth` nested `a {` blocks inside, one per line.
fn nested(depth: usize) -> String {
    format!(
        ".:53 {{\n{}{}}}\n",
        "a {\n".repeat(depth),
        "}\n".repeat(depth)
    )
}

#[test]
fn blocks_nest_at_most_max_nesting_deep() {
    let core = parse(&nested(MAX_NESTING - 1)).expect("parses");
    let mut directives = &core.blocks[0].directives;
    for _ in 0..MAX_NESTING - 2 {
        directives = &directives[0].block;
    }
    assert_eq!(directives.len(), 1);
    // Block 101 opens on line 101, and 30,000 levels give the same single error.
    for depth in [MAX_NESTING, 30_000] {
        let err = parse(&nested(depth)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Corefile:{}: blocks nest deeper than {MAX_NESTING}",
                MAX_NESTING + 1
            )
        );
    }
    // 50,000 levels are 150,003 tokens.
    let err = parse(&nested(50_000)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Corefile:50001: more than {MAX_TOKENS} tokens")
    );
}

/// Load the Corefile at `path` on a thread; None if it takes more than 10 s (blocked).
fn load_within_10s(path: std::path::PathBuf) -> Option<Result<Corefile, ConfigErrors>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(Corefile::load(&path)));
    rx.recv_timeout(std::time::Duration::from_secs(10)).ok()
}

#[test]
fn importing_a_fifo_or_a_device_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe.conf");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    for (import, what) in [
        ("pipe.conf".to_string(), fifo.display().to_string()),
        ("/dev/zero".to_string(), "/dev/zero".to_string()),
    ] {
        let corefile = dir.path().join("Corefile");
        std::fs::write(&corefile, format!(".:53 {{\n  import {import}\n}}\n")).expect("write");
        let err = load_within_10s(corefile)
            .unwrap_or_else(|| panic!("import {import} blocked"))
            .unwrap_err();
        let file = dir.path().join("Corefile").display().to_string();
        assert_eq!(
            err.to_string(),
            format!("{file}:2: import {what}: not a regular file"),
        );
    }
}

#[test]
fn files_larger_than_the_limit_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.conf");
    let file = std::fs::File::create(&big).expect("create");
    file.set_len(MAX_FILE_BYTES + 1).expect("sparse file");
    let corefile = dir.path().join("Corefile");
    std::fs::write(&corefile, ".:53 {\n  import big.conf\n}\n").expect("write");
    let err = Corefile::load(&corefile).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: import {}: larger than {MAX_FILE_BYTES} bytes",
            corefile.display(),
            big.display()
        )
    );
    // The Corefile itself.
    let err = Corefile::load(&big).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:0: cannot read: larger than {MAX_FILE_BYTES} bytes",
            big.display()
        )
    );
}

#[test]
fn a_missing_inner_brace_ends_that_block_where_its_indentation_does() {
    let text = ".:53 {\n    kubernetes cluster.local {\n        pods insecure\n    forward . 127.0.0.1\n    cache 30\n}\nexample.org:53 {\n    log\n}\n";
    let (core, errors) = Corefile::parse_recovering("Corefile", text, Path::new("."));
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        ["Corefile:2: block of 'kubernetes' has no closing '}'"]
    );
    assert_eq!(core.blocks.len(), 2);
    assert_eq!(
        names(&core.blocks[0].directives),
        ["kubernetes", "forward", "cache"]
    );
    assert_eq!(names(&core.blocks[0].directives[0].block), ["pods"]);
    assert_eq!(names(&core.blocks[1].directives), ["log"]);
}

#[test]
fn a_missing_server_block_brace_ends_it_at_the_next_block_keys() {
    let text = ".:53 {\n    errors\n    forward . 127.0.0.1\n\nexample.org:53 {\n    log\n}\n";
    let (core, errors) = Corefile::parse_recovering("Corefile", text, Path::new("."));
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages, ["Corefile:1: server block has no closing '}'"]);
    assert_eq!(core.blocks.len(), 2);
    assert_eq!(names(&core.blocks[0].directives), ["errors", "forward"]);
    assert_eq!(names(&core.blocks[1].directives), ["log"]);
}

#[test]
fn a_closing_brace_left_of_an_unclosed_block_closes_the_outer_one() {
    let text = ".:53 {\n    health {\n        lameduck 5s\n    log\n}\n";
    let (core, errors) = Corefile::parse_recovering("Corefile", text, Path::new("."));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, 2);
    assert_eq!(names(&core.blocks[0].directives), ["health", "log"]);
}

#[test]
fn balanced_braces_decide_alone_however_the_lines_are_indented() {
    let text = ".:53 {\n    health {\n        lameduck 5s\n  log\n    }\n}\n";
    let core = parse(text).expect("balanced braces parse");
    assert_eq!(names(&core.blocks[0].directives), ["health"]);
    assert_eq!(
        names(&core.blocks[0].directives[0].block),
        ["lameduck", "log"]
    );
}
