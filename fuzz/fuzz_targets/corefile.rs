//! The Corefile lexer and parser with snippets and imports, then every directive's own parser
//! (`plan`, what `-validate` runs). The input is UTF-8 text: the Corefile, then up to four files
//! it may import, separated by NUL bytes; they are written as `a.conf`, `b.conf`, `c` and
//! `d.conf` into a folder of this process, beside the Corefile.
//!
//! Inputs that would make the parser read outside that folder are skipped: a path with glob
//! characters and a slash (`import /*/*`), and any path that names something under `/dev`,
//! `/proc` or `/sys` (`forward . /dev/zero` would read forever). Environment variables are
//! substituted before the check, as the lexer does.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use clusterdns::config::Corefile;
use clusterdns::config::lexer::tokenize;
use clusterdns::run::plan::plan;
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 4] = ["a.conf", "b.conf", "c", "d.conf"];

fn folder() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("clusterdns-fuzz-corefile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz folder");
        dir
    })
}

/// Whether `text` could make the parser read outside [`folder`].
fn reaches_out(dir: &Path, text: &str) -> bool {
    let Ok(tokens) = tokenize(&Arc::from("check"), text) else {
        return false;
    };
    tokens.iter().any(|t| {
        let word = t.text.as_str();
        if word.contains(['/', '\\']) && word.contains(['*', '?', '[']) {
            return true;
        }
        match std::fs::canonicalize(dir.join(word)) {
            Ok(path) => ["/dev", "/proc", "/sys"]
                .iter()
                .any(|p| path.starts_with(p)),
            Err(_) => false,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = folder();
    let mut parts = text.split('\0');
    let corefile = parts.next().unwrap_or_default();
    let files: Vec<&str> = parts.take(FILES.len()).collect();
    if std::iter::once(corefile)
        .chain(files.iter().copied())
        .any(|part| reaches_out(dir, part))
    {
        return;
    }
    for (n, name) in FILES.iter().enumerate() {
        let path = dir.join(name);
        match files.get(n) {
            Some(content) => std::fs::write(&path, content).expect("write an imported file"),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    if let Ok(core) = Corefile::parse("Corefile", corefile, dir) {
        assert!(!core.blocks.is_empty());
        let _ = plan(&core, 53);
    }
});
