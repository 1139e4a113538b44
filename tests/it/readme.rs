//! README's promises: the run command serves `Corefile.example`, and the `dig` commands shown
//! under "Try it" give exactly the answers shown. The commands run with the real `dig`.

use std::process::Command;

use crate::support::TestServer;

/// (`dig` arguments, expected output lines) from README's console block.
fn readme_digs() -> Vec<(Vec<String>, Vec<String>)> {
    let readme =
        std::fs::read_to_string(crate::support::repo_path("README.md")).expect("README.md");
    let block = readme
        .split("```console\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a console block in README.md");
    let mut digs: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for line in block.lines() {
        if let Some(command) = line.strip_prefix("$ dig ") {
            digs.push((
                command.split_whitespace().map(String::from).collect(),
                Vec::new(),
            ));
        } else if let Some((_, expected)) = digs.last_mut() {
            expected.push(line.to_string());
        }
    }
    digs
}

#[test]
fn readme_run_command_uses_corefile_example() {
    let readme =
        std::fs::read_to_string(crate::support::repo_path("README.md")).expect("README.md");
    assert!(readme.contains("cargo run --release -- -conf Corefile.example"));
    assert!(readme.contains("\ncargo test "));
}

#[test]
fn readme_dig_commands_give_the_answers_shown() {
    let corefile = std::fs::read_to_string(crate::support::repo_path("Corefile.example"))
        .expect("Corefile.example")
        .replace(":1053", ":{PORT}")
        .replace("manifests deploy/demo", "manifests manifests");
    assert!(
        corefile.contains("{PORT}"),
        "Corefile.example serves port 1053"
    );
    let demo = crate::support::repo_path("deploy/demo");
    let files: Vec<(String, String)> = std::fs::read_dir(&demo)
        .expect("deploy/demo")
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).expect("read"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let server = TestServer::start(&corefile, &refs);

    let digs = readme_digs();
    assert_eq!(digs.len(), 5, "README shows five dig commands");
    for (args, expected) in digs {
        let args: Vec<String> = args
            .into_iter()
            .map(|a| {
                if a == "1053" {
                    server.addr.port().to_string()
                } else {
                    a
                }
            })
            .collect();
        let output = Command::new("dig")
            .args(&args)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run dig ({e}): install bind9-dnsutils (.ci/run does)")
            });
        let stdout = String::from_utf8_lossy(&output.stdout);
        let got: Vec<&str> = stdout.lines().collect();
        assert_eq!(got, expected, "dig {}", args.join(" "));
    }
}
