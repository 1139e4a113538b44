//! The `clusterdns` binary: flags (CoreDNS's single-dash style), logging, then [`clusterdns::run`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use clusterdns::run::{Options, RunError};

/// A cluster-aware DNS server for Kubernetes, configured with a CoreDNS Corefile.
#[derive(Parser, Debug)]
#[command(
    name = "clusterdns",
    disable_version_flag = true,
    disable_help_flag = true
)]
struct Flags {
    /// Corefile to load.
    #[arg(long = "conf", default_value = "Corefile", value_name = "FILE")]
    conf: PathBuf,
    /// Default port for server blocks that name none.
    #[arg(
        long = "dns-port",
        alias = "dns.port",
        short = 'p',
        default_value_t = 53,
        value_name = "PORT"
    )]
    dns_port: u16,
    /// Show version and quit.
    #[arg(long)]
    version: bool,
    /// List the compiled plugins and quit.
    #[arg(long)]
    plugins: bool,
    /// Quiet mode: no start-up banner.
    #[arg(long)]
    quiet: bool,
    /// Check the Corefile (parse it and every plugin's options) without binding anything;
    /// print `ok` or the errors, exit 0 or 1.
    #[arg(long)]
    validate: bool,
    /// Answers in flight per listener (those waiting on an upstream or the first sync of the
    /// cluster); past it a query is answered REFUSED at once and counted in
    /// `clusterdns_pending_rejected_total`.
    #[arg(long = "max-pending", value_name = "N", default_value_t = clusterdns::server::DEFAULT_MAX_PENDING)]
    max_pending: usize,
    /// TCP connections open at once per listener, a quarter of them per client address; at
    /// the cap, the longest idle connection of the address holding the most is closed.
    #[arg(long = "max-tcp-connections", value_name = "N", default_value_t = clusterdns::server::DEFAULT_MAX_CONNECTIONS)]
    max_tcp_connections: usize,
    /// Write the process ID to this file.
    #[arg(long, value_name = "FILE")]
    pidfile: Option<PathBuf>,
    /// Print this help.
    #[arg(long, short = 'h')]
    help: bool,
}

/// The flag's name as written on the command line: `-conf`, `-dns.port`.
fn go_name(long: &str) -> String {
    format!("-{}", long.replace("dns-port", "dns.port"))
}

/// The usage text in Go's `flag` package shape, as `coredns -help` prints it.
fn usage() -> String {
    let mut text = String::from("Usage of clusterdns:\n");
    for arg in Flags::command().get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let takes_value = arg.get_action().takes_values();
        let value = if takes_value {
            arg.get_value_names()
                .and_then(|names| names.first())
                .map_or(" string".to_string(), |name| {
                    format!(" {}", name.to_lowercase())
                })
        } else {
            String::new()
        };
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let default = arg
            .get_default_values()
            .first()
            .filter(|_| takes_value)
            .map(|d| format!(" (default {:?})", d.to_string_lossy()))
            .unwrap_or_default();
        text.push_str(&format!(
            "  {}{value}\n    \t{help}{default}\n",
            go_name(long)
        ));
    }
    text
}

/// A command-line error as Go's `flag` package words it, the flag as the user wrote it.
fn flag_error(error: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let named = |kind: ContextKind| match error.get(kind) {
        Some(ContextValue::String(s)) => s.trim_start_matches('-').to_string(),
        _ => String::new(),
    };
    let flag = named(ContextKind::InvalidArg);
    let flag = go_name(flag.split(['=', ' ']).next().unwrap_or(&flag));
    match error.kind() {
        ErrorKind::UnknownArgument => format!("flag provided but not defined: {flag}"),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let value = named(ContextKind::InvalidValue);
            if value.is_empty() {
                return format!("flag needs an argument: {flag}");
            }
            // clap's reason is the text after the last ": " of its first line.
            let rendered = error.to_string();
            let reason = rendered
                .lines()
                .next()
                .and_then(|line| line.rsplit_once(": "))
                .map_or("invalid value", |(_, reason)| reason)
                .to_string();
            format!("invalid value {value:?} for flag {flag}: {reason}")
        }
        ErrorKind::NoEquals | ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            format!("flag needs an argument: {flag}")
        }
        _ => error.kind().to_string(),
    }
}

/// Go's flag package takes `-flag`, `--flag` and `-flag=value`; clap wants `--flag`. Rewrite
/// `-name` to `--name` (and `dns.port` to `dns-port`) so CoreDNS's Deployment args work as is.
fn go_style_args(args: impl Iterator<Item = String>) -> Vec<String> {
    args.enumerate()
        .map(|(i, arg)| {
            if i == 0 || !arg.starts_with('-') || arg.starts_with("--") || arg.len() <= 2 {
                return arg;
            }
            let long = format!("-{arg}");
            match long.split_once('=') {
                Some((name, value)) => format!("{}={value}", name.replace("dns.port", "dns-port")),
                None => long.replace("dns.port", "dns-port"),
            }
        })
        .collect()
}

fn main() -> ExitCode {
    let flags = match Flags::try_parse_from(go_style_args(std::env::args())) {
        Ok(flags) => flags,
        Err(e) => {
            // Go's flag package: the error, the usage, exit 2.
            eprint!("{}\n{}", flag_error(&e), usage());
            return ExitCode::from(2);
        }
    };
    if flags.help {
        print_out(&usage());
        return ExitCode::SUCCESS;
    }
    if flags.version {
        print_out(&format!(
            "clusterdns-{}\n{}/{}\n",
            clusterdns::VERSION,
            std::env::consts::OS,
            std::env::consts::ARCH
        ));
        return ExitCode::SUCCESS;
    }
    if flags.plugins {
        // CoreDNS's layout, without its Caddyfile loaders (nothing here loads Caddyfiles).
        let mut text = String::from("Server types:\n  dns\n\nOther plugins:\n");
        for plugin in clusterdns::plugins::built_names() {
            text.push_str(&format!("  dns.{plugin}\n"));
        }
        print_out(&text);
        return ExitCode::SUCCESS;
    }
    if flags.validate {
        // What start-up would warn about (a file waited for, an option ignored) is shown too.
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_writer(std::io::stderr)
            .event_format(clusterdns::logfmt::CoreDnsFormat::default())
            .init();
        return match clusterdns::run::validate(&flags.conf, flags.dns_port) {
            Ok(()) => {
                println!("ok");
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(1)
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // kube's client logs every failed request at ERROR, and its watcher a 403 or
                // a watch the API server ended as a WARNING in Rust debug text; the source
                // logs API outages itself, once per change of state, in words. hickory logs
                // malformed messages per packet (CoreDNS: debug).
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new(
                        "info,kube_client::client=error,kube_client::client::builder=off,kube_runtime::watcher=error,hickory_proto=error",
                    )
                }),
        )
        .with_writer(std::io::stdout)
        .event_format(clusterdns::logfmt::CoreDnsFormat::default())
        .init();
    // A panic (caught per query by the router's guard) is logged as one rate-limited line, not
    // written to stderr each time.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("{}", clusterdns::logfmt::panic_line(info))
    }));
    if let Some(pidfile) = &flags.pidfile
        && let Err(e) = std::fs::write(pidfile, format!("{}\n", std::process::id()))
    {
        eprintln!("cannot write pidfile {}: {e}", pidfile.display());
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = Options {
        conf: flags.conf,
        default_port: flags.dns_port,
        udp_workers: workers,
        max_pending: flags.max_pending,
        max_tcp_connections: flags.max_tcp_connections,
    };
    if !flags.quiet {
        println!("clusterdns-{}", clusterdns::VERSION);
    }
    let result = runtime.block_on(async {
        let mut signals = StopSignals::install();
        let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
        let signalled = async {
            signals.next().await;
            let _ = first_tx.send(());
            signals.next().await
        };
        tokio::select! {
            result = clusterdns::run::run(options, async { let _ = first_rx.await; }) => Some(result),
            name = signalled => {
                // CoreDNS (Caddy's signal trap) quits at once on a second signal.
                tracing::info!("{name}: second signal, force quit");
                None
            }
        }
    });
    match result {
        None => ExitCode::from(1),
        Some(result) => exit_code(result),
    }
}

/// The exit status of a finished run, its error on stderr.
fn exit_code(result: Result<(), RunError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(RunError::Config(errors)) => {
            eprintln!("{errors}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Write `text` to stdout in one write. A reader that went away (`clusterdns -version | head -1`)
/// is not an error: `println!` would panic on the broken pipe.
fn print_out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// SIGTERM and SIGINT, each delivery seen (the first starts the shutdown, a second quits).
struct StopSignals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn install() -> StopSignals {
        use tokio::signal::unix::{SignalKind, signal};
        StopSignals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// The next SIGTERM or SIGINT, by name.
    async fn next(&mut self) -> &'static str {
        async fn one(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = one(&mut self.term) => "SIGTERM",
            () = one(&mut self.int) => "SIGINT",
        }
    }
}
