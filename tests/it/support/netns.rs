//! Network namespaces made (and removed) by a test, with `ip` from iproute2: a private
//! loopback and private ports for each, veth links between them, and threads or processes
//! that run inside one. Traffic never leaves the namespaces the test made. Needs root.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Run a set-up command, failing the test with its own message if it fails.
pub fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (is iproute2 installed?)"));
    assert!(
        output.status.success(),
        "{command:?}: {} (network namespaces need root)",
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// Run `ip ARGS…`.
pub fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Remove what earlier runs that were killed before their clean-up left behind: namespaces
/// named `cdns-PID-…` and their `/etc/netns` folders, where PID is no longer running.
pub fn remove_stale() {
    let stale = |name: &str| {
        name.strip_prefix("cdns-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !PathBuf::from(format!("/proc/{pid}")).exists())
    };
    if let Ok(output) = Command::new("ip").args(["netns", "list"]).output() {
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if stale(name) {
                let _ = Command::new("ip").args(["netns", "del", name]).output();
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for entry in entries.flatten() {
            if stale(&entry.file_name().to_string_lossy()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// A network namespace of this test, deleted on drop.
pub struct NetNs {
    /// Its name under /var/run/netns.
    pub name: String,
}

impl NetNs {
    /// A new namespace with its loopback up; `tag` makes the name readable.
    pub fn create(tag: &str) -> NetNs {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
        assert_eq!(
            uid, 0,
            "this test builds network namespaces with `ip netns` and must run as root (running as uid {uid})"
        );
        let name = format!(
            "cdns-{}-{}-{tag}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    /// Link `self` and `other` with a veth pair: `self_addr` and `other_addr` in CIDR form
    /// (`10.77.0.1/30`) on each end.
    pub fn link(&self, self_addr: &str, other: &NetNs, other_addr: &str) {
        ip(&[
            "link",
            "add",
            "veth0",
            "netns",
            &self.name,
            "type",
            "veth",
            "peer",
            "name",
            "veth0",
            "netns",
            &other.name,
        ]);
        for (ns, addr) in [(self, self_addr), (other, other_addr)] {
            ip(&["-n", &ns.name, "addr", "add", addr, "dev", "veth0"]);
            ip(&["-n", &ns.name, "link", "set", "veth0", "up"]);
        }
    }

    /// Run `ip -n NAME WORDS…` (`words` split at spaces: `"addr add 10.0.0.1/30 dev eth0"`).
    pub fn ip(&self, words: &str) {
        let mut args = vec!["-n", self.name.as_str()];
        args.extend(words.split_whitespace());
        ip(&args);
    }

    /// Link `inner`, as its `eth0`, to this namespace, as `end`; both ends up.
    pub fn attach(&self, inner: &NetNs, end: &str) {
        ip(&[
            "link",
            "add",
            "eth0",
            "netns",
            &inner.name,
            "type",
            "veth",
            "peer",
            "name",
            end,
            "netns",
            &self.name,
        ]);
        inner.ip("link set eth0 up");
        self.ip(&format!("link set {end} up"));
    }

    /// Run `work` on a thread inside this namespace: sockets it makes, and threads it starts,
    /// live there.
    pub fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let path = PathBuf::from("/var/run/netns").join(&self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            work()
        })
        .join()
        .expect("thread in netns")
    }

    /// A command run inside this namespace by `ip netns exec` (which also mounts the files
    /// written by [`NetNs::write_etc`] over `/etc`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Start clusterdns inside this namespace on `corefile`, in a fresh directory that also
    /// holds `files` (relative paths), with `env` set and its output in a log file.
    pub fn start_clusterdns(
        &self,
        corefile: &str,
        files: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> NsServer {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files.iter().chain([&("Corefile", corefile)]) {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(path, text).expect("write");
        }
        let log = dir.path().join("clusterdns.log");
        let file = std::fs::File::create(&log).expect("log");
        let child = self
            .command(super::BINARY)
            .args(["-conf", "Corefile"])
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .envs(env.iter().copied())
            .stdout(Stdio::from(file.try_clone().expect("clone")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("spawn clusterdns");
        NsServer {
            child,
            log,
            _dir: dir,
        }
    }

    /// Write `/etc/netns/NAME/FILE`: processes started by [`NetNs::command`] see it as
    /// `/etc/FILE` (a private `/etc/resolv.conf`, `/etc/hosts`). `FILE` may be `DIR/FILE`:
    /// then the whole of `/etc/DIR` is replaced, and `/etc/DIR` must exist (see [`EtcMountPoint`]).
    pub fn write_etc(&self, file: &str, text: &str) {
        let path = PathBuf::from("/etc/netns").join(&self.name).join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir /etc/netns/NAME/…");
        }
        std::fs::write(path, text).expect("write /etc/netns/NAME/FILE");
    }
}

/// An empty `/etc/DIR` created for a namespace's private `/etc/DIR` to be mounted on (as
/// `ip netns exec` needs), removed on drop if this created it; one that exists is left alone.
pub struct EtcMountPoint(Option<PathBuf>);

impl EtcMountPoint {
    /// Make sure `/etc/dir` exists.
    pub fn ensure(dir: &str) -> EtcMountPoint {
        let path = PathBuf::from("/etc").join(dir);
        if path.exists() {
            return EtcMountPoint(None);
        }
        std::fs::create_dir(&path).expect("mkdir /etc/DIR");
        EtcMountPoint(Some(path))
    }
}

impl Drop for EtcMountPoint {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            // Only an empty directory goes: nothing but this test's mount point.
            let _ = std::fs::remove_dir(path);
        }
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(&self.name));
    }
}

/// clusterdns started by [`NetNs::start_clusterdns`]; killed on drop.
pub struct NsServer {
    /// The process.
    pub child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl NsServer {
    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Poll `check` until it holds (at most 30 s); fail with the log if it never does or the
    /// process exits first.
    pub fn wait_until(&mut self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("clusterdns exited with {status}:\n{}", self.log());
            }
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what}: not after 30 s:\n{}", self.log());
    }
}

impl Drop for NsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
