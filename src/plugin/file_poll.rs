//! Re-reading a plugin's file when it changes (`hosts`, `file`, `loadbalance weighted`), as
//! CoreDNS's plugins do: its modification time and length checked every period.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::AbortOnDrop;

/// What tells a file's versions apart: modification time and length; `None` when it cannot be
/// read.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Check `path` every `every`, and call `changed` each time it differs from the last check
/// (appearing and disappearing included). Must run inside a tokio runtime; the task stops when
/// the returned handle is dropped.
pub fn poll_file(
    path: PathBuf,
    every: Duration,
    mut changed: impl FnMut() + Send + 'static,
) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut seen = stamp(&path);
        loop {
            tokio::time::sleep(every).await;
            let now = stamp(&path);
            if now != seen {
                seen = now;
                changed();
            }
        }
    }))
}
