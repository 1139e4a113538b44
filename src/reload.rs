//! When to reload the Corefile: on SIGHUP or SIGUSR1 always, and with the `reload` directive
//! whenever the file's SHA-512 changes (checked every interval ± jitter, as CoreDNS does).
//!
//! The file is read by its path at each check, so the symlink swap of a ConfigMap mount
//! (`..data` pointing to a new directory) is seen like any other change. Only the Corefile
//! itself is hashed, as in CoreDNS; a change to an `import`ed file alone takes a SIGHUP.

use std::io;
use std::path::Path;
use std::time::Duration;

use rand::RngExt;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Why a reload starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// SIGHUP or SIGUSR1 (named).
    Signal(&'static str),
    /// The Corefile's hash changed.
    Changed,
}

/// When the `reload` directive checks the Corefile: every `interval` ± `jitter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReloadSchedule {
    /// The period between checks.
    pub interval: Duration,
    /// A random offset in ±`jitter`.
    pub jitter: Duration,
}

/// The SHA-512 of `text`, in hex (the `value` of `coredns_reload_version_info`).
pub fn digest(text: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, text);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The reload signals, installed for the life of the process (before start-up, so an early
/// SIGHUP is not the default "terminate").
pub struct ReloadTriggers {
    hangup: Signal,
    user1: Signal,
}

impl ReloadTriggers {
    /// Install the SIGHUP and SIGUSR1 handlers.
    pub fn install() -> io::Result<ReloadTriggers> {
        Ok(ReloadTriggers {
            hangup: signal(SignalKind::hangup())?,
            user1: signal(SignalKind::user_defined1())?,
        })
    }

    /// Wait for the next reason to reload. With `poll`, the Corefile at `path` is hashed every
    /// interval ± jitter and compared with `current` (the hash of the text last tried).
    /// Signals that arrive while a reload runs are merged into one: a storm of SIGHUPs gives
    /// at most one more reload.
    pub async fn next(
        &mut self,
        poll: Option<ReloadSchedule>,
        path: &Path,
        current: &str,
    ) -> Trigger {
        let changed = async {
            let Some(config) = poll else {
                return std::future::pending::<()>().await;
            };
            loop {
                tokio::time::sleep(jittered(config)).await;
                match crate::config::read_bytes(path, false) {
                    Ok(text) if digest(&text) != current => return,
                    Ok(_) => {}
                    // A ConfigMap swap can leave the path missing for an instant; the next
                    // check sees the new file. A file over the size limit is not tried either
                    // (a signal reports it).
                    Err(e) => tracing::debug!("reload: cannot read {}: {e}", path.display()),
                }
            }
        };
        tokio::select! {
            _ = self.hangup.recv() => Trigger::Signal("SIGHUP"),
            _ = self.user1.recv() => Trigger::Signal("SIGUSR1"),
            () = changed => Trigger::Changed,
        }
    }
}

/// `interval` ± a random offset within `jitter`.
fn jittered(config: ReloadSchedule) -> Duration {
    let jitter = config.jitter.as_millis() as i64;
    if jitter == 0 {
        return config.interval;
    }
    let offset = rand::rng().random_range(-jitter..=jitter);
    let millis = (config.interval.as_millis() as i64 + offset).max(1);
    Duration::from_millis(millis as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bounds() {
        let config = ReloadSchedule {
            interval: Duration::from_secs(30),
            jitter: Duration::from_secs(15),
        };
        for _ in 0..1000 {
            let d = jittered(config);
            assert!(
                d >= Duration::from_secs(15) && d <= Duration::from_secs(45),
                "{d:?}"
            );
        }
    }

    #[test]
    fn digest_is_sha512_hex() {
        // The SHA-512 of the empty string.
        assert!(digest(b"").starts_with("cf83e1357eefb8bdf1542850d66d8007"));
        assert_eq!(digest(b"x").len(), 128);
    }
}
