//! Parsing of the `kubernetes` directive and its block (CoreDNS's `setup.go`).

use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::Name;

use crate::cluster::LabelSelector;
use crate::cluster::source::SourceFilter;
use crate::cluster::source::api::{Connection, TlsFiles};
use crate::config::args::is_reverse_zone;
use crate::config::{Args, ConfigError, Directive, Fallthrough};
use crate::plugin::{Setup, parsed_all};

/// `pods disabled|insecure|verified`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodMode {
    /// No pod names (the plugin's default).
    Disabled,
    /// Any valid dashed IP in an existing namespace (kubeadm's default).
    Insecure,
    /// Only the IP of a live pod in that namespace.
    Verified,
}

/// The `kubernetes` plugin's options.
#[derive(Clone, Debug)]
pub struct KubernetesConfig {
    /// The zones it answers, lowercase, most specific match wins.
    pub zones: Vec<Name>,
    /// The first non-reverse zone: the domain of PTR targets.
    pub primary_zone: Name,
    /// `manifests DIR`: serve from YAML files instead of the API server.
    pub manifests: Option<PathBuf>,
    /// How to reach the API server when there is no `manifests`.
    pub connection: Connection,
    /// `namespaces NS...`: only these are exposed (empty: all).
    pub namespaces: Vec<String>,
    /// `labels SELECTOR`.
    pub labels: Option<LabelSelector>,
    /// `namespace_labels SELECTOR`.
    pub namespace_labels: Option<LabelSelector>,
    /// `pods`.
    pub pods: PodMode,
    /// `endpoint_pod_names`.
    pub endpoint_pod_names: bool,
    /// `ttl` (default 5, 0..=3600).
    pub ttl: u32,
    /// `noendpoints`.
    pub noendpoints: bool,
    /// `fallthrough [ZONES]`.
    pub fallthrough: Fallthrough,
    /// `ignore empty_service`.
    pub ignore_empty_service: bool,
    /// `startup_timeout` (default 5 s): how long cluster queries wait for the first sync.
    pub startup_timeout: Duration,
}

impl KubernetesConfig {
    /// Which objects the source must keep.
    pub fn source_filter(&self) -> SourceFilter {
        SourceFilter {
            labels: self.labels.clone(),
            namespace_labels: self.namespace_labels.clone(),
            pods: self.pods == PodMode::Verified,
            endpoints: !self.noendpoints,
            pod_names: self.endpoint_pod_names,
        }
    }

    /// Whether NXDOMAIN for `name` goes on to the next plugin.
    pub fn falls_through(&self, name: &Name) -> bool {
        self.fallthrough.covers(name)
    }
}

/// The registry's entry point.
pub fn parse(d: &Directive, zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed_all(config(d, zones))
}

/// Parse `directive` in a server block serving `block_zones`. Every error is collected.
pub fn config(
    directive: &Directive,
    block_zones: &[Name],
) -> Result<KubernetesConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let plugin = Args::new(directive);
    let zones = plugin.zones_from(0, block_zones).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    let primary_zone = zones.iter().find(|z| !is_reverse_zone(z)).cloned();
    if primary_zone.is_none() && errors.is_empty() {
        errors.push(directive.error(
            "kubernetes: needs at least one zone that is not a reverse zone, such as cluster.local",
        ));
    }
    let mut config = KubernetesConfig {
        zones,
        primary_zone: primary_zone.unwrap_or_else(Name::root),
        manifests: None,
        connection: Connection::Default,
        namespaces: Vec::new(),
        labels: None,
        namespace_labels: None,
        pods: PodMode::Disabled,
        endpoint_pod_names: false,
        ttl: 5,
        noendpoints: false,
        fallthrough: Fallthrough::Off,
        ignore_empty_service: false,
        startup_timeout: Duration::from_secs(5),
    };
    let mut api = ApiOptions::default();
    for d in plugin.properties() {
        if let Err(e) = parse_option(d, &mut config, &mut api) {
            errors.push(e);
        }
    }
    match api.connection(directive) {
        Ok(connection) => config.connection = connection,
        Err(e) => errors.push(e),
    }
    if config.manifests.is_some() && config.connection != Connection::Default {
        errors
            .push(directive.error(
                "kubernetes: manifests cannot be combined with endpoint, kubeconfig or tls",
            ));
    }
    if !config.namespaces.is_empty() && config.namespace_labels.is_some() {
        errors.push(
            directive.error("kubernetes: namespaces and namespace_labels cannot both be set"),
        );
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// The connection options as written, checked together at the end.
#[derive(Default)]
struct ApiOptions {
    endpoint: Option<String>,
    kubeconfig: Option<(PathBuf, Option<String>)>,
    tls: Option<TlsFiles>,
    /// What is wrong with the `tls` files' contents, at their line: an error only where they
    /// are used (with `endpoint`), as CoreDNS ignores them otherwise.
    tls_unusable: Option<ConfigError>,
}

impl ApiOptions {
    fn connection(self, d: &Directive) -> Result<Connection, ConfigError> {
        let tls_ignored = |why: &str| {
            tracing::warn!(
                "{}: kubernetes: tls is ignored {why}, as CoreDNS ignores it",
                d.name.location()
            );
        };
        match (self.endpoint, self.kubeconfig, self.tls) {
            // As CoreDNS: kubeconfig wins over endpoint, and carries its own credentials.
            (_, Some((path, context)), tls) => {
                if tls.is_some() {
                    tls_ignored("with kubeconfig (the kubeconfig's credentials are used)");
                }
                Ok(Connection::Kubeconfig { path, context })
            }
            (Some(url), None, tls) => match self.tls_unusable {
                Some(error) => Err(error),
                None => Ok(Connection::Endpoint { url, tls }),
            },
            (None, None, tls) => {
                if tls.is_some() {
                    tls_ignored("without endpoint (the in-cluster service account is used)");
                }
                Ok(Connection::Default)
            }
        }
    }
}

/// Whether the kubeconfig at `path` parses and has `context` (or a current context), as the
/// API source will need at start.
fn check_kubeconfig(path: &std::path::Path, context: Option<&str>) -> Result<(), String> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
    let wanted = context.or(kubeconfig.current_context.as_deref());
    let Some(name) = wanted else {
        return Err(format!(
            "kubeconfig {}: no current-context; name one: kubeconfig PATH CONTEXT",
            path.display()
        ));
    };
    let Some(found) = kubeconfig.contexts.iter().find(|c| c.name == name) else {
        return Err(format!(
            "kubeconfig {}: no context {name:?}",
            path.display()
        ));
    };
    let Some(context) = &found.context else {
        return Err(format!(
            "kubeconfig {}: context {name:?} is empty",
            path.display()
        ));
    };
    if !kubeconfig.clusters.iter().any(|c| c.name == context.cluster) {
        return Err(format!(
            "kubeconfig {}: context {name:?} names cluster {:?}, which it does not define",
            path.display(),
            context.cluster
        ));
    }
    // A user the file does not define is not checked: client-go, kube and CoreDNS fall back to
    // no credentials.
    Ok(())
}

fn parse_option(
    d: Args<'_>,
    config: &mut KubernetesConfig,
    api: &mut ApiOptions,
) -> Result<(), ConfigError> {
    let option = d.directive();
    match d.name() {
        "manifests" => config.manifests = Some(d.existing_dir(d.one()?)?),
        "endpoint" => {
            let Some(first) = option.args.first() else {
                return Err(d.error("endpoint needs a URL"));
            };
            if option.args.len() > 1 {
                tracing::warn!(
                    "{}: kubernetes: only the first endpoint is used",
                    option.name.location()
                );
            }
            api.endpoint = Some(first.text.clone());
        }
        "kubeconfig" => {
            let (path, context) = match d.texts().as_slice() {
                [path] => (d.readable_file(path)?, None),
                [path, context] => (d.readable_file(path)?, Some(context.to_string())),
                _ => return Err(d.error("kubeconfig takes PATH [CONTEXT]")),
            };
            check_kubeconfig(&path, context.as_deref()).map_err(|e| d.error(e))?;
            api.kubeconfig = Some((path, context));
        }
        "tls" => {
            let [cert, key, ca] = d.exactly::<3>("CERT KEY CACERT")?;
            let files = TlsFiles {
                cert: d.readable_file(cert)?,
                key: d.readable_file(key)?,
                ca: d.readable_file(ca)?,
            };
            api.tls_unusable = files.check().err().map(|e| d.error(format!("tls: {e}")));
            api.tls = Some(files);
        }
        "apiserver_qps" | "apiserver_burst" | "apiserver_max_inflight" => {
            let text = d.one()?;
            text.parse::<u32>()
                .map_err(|_| d.error(format!("{} {text:?}: expected a number", d.name())))?;
            tracing::warn!(
                "{}: kubernetes: {} is accepted for compatibility and has no effect (a watch makes no requests to limit)",
                option.name.location(),
                d.name()
            );
        }
        "namespaces" => {
            if option.args.is_empty() {
                return Err(d.error("namespaces needs at least one namespace"));
            }
            config.namespaces = d.texts().iter().map(|a| a.to_ascii_lowercase()).collect();
        }
        "labels" => {
            let text = d.texts().join(" ");
            config.labels = Some(LabelSelector::parse(&text).map_err(|e| d.error(e))?);
        }
        "namespace_labels" => {
            let text = d.texts().join(" ");
            config.namespace_labels = Some(LabelSelector::parse(&text).map_err(|e| d.error(e))?);
        }
        "pods" => {
            config.pods = match d.one()? {
                "disabled" => PodMode::Disabled,
                "insecure" => PodMode::Insecure,
                "verified" => PodMode::Verified,
                other => {
                    return Err(d.error(format!(
                        "pods {other:?}: expected disabled, insecure or verified"
                    )));
                }
            }
        }
        "endpoint_pod_names" => {
            d.none()?;
            config.endpoint_pod_names = true;
        }
        "ttl" => {
            let text = d.one()?;
            config.ttl = text
                .parse::<u32>()
                .ok()
                .filter(|t| *t <= 3600)
                .ok_or_else(|| d.error(format!("ttl {text:?}: expected 0 to 3600")))?;
        }
        "noendpoints" => {
            d.none()?;
            config.noendpoints = true;
        }
        "fallthrough" => config.fallthrough = d.fallthrough()?,
        "ignore" => match d.texts().as_slice() {
            ["empty_service"] => config.ignore_empty_service = true,
            _ => return Err(d.error("ignore takes one argument: empty_service")),
        },
        "startup_timeout" => {
            config.startup_timeout = d.duration("startup_timeout", d.one()?)?;
        }
        _ => {
            return Err(d.unknown_property(
                "endpoint, kubeconfig, tls, manifests, namespaces, labels, namespace_labels, pods, endpoint_pod_names, ttl, noendpoints, fallthrough, ignore, startup_timeout",
            ));
        }
    }
    if option.has_block {
        return Err(d.error(format!("{} takes no block", d.name())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    /// The directory beside the test Corefile: `demo/` and `d/` (manifests), `c.pem`, `k.pem`,
    /// `ca.pem`, and `kube.conf` with one context, `prod`.
    fn base() -> &'static Path {
        static BASE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
        BASE.get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            for sub in ["demo", "d"] {
                std::fs::create_dir(dir.path().join(sub)).expect("dir");
            }
            let key = rcgen::KeyPair::generate().expect("key");
            let cert = rcgen::CertificateParams::new(vec!["client.test".to_string()])
                .expect("params")
                .self_signed(&key)
                .expect("certificate");
            for (file, text) in [
                ("c.pem", cert.pem()),
                ("k.pem", key.serialize_pem()),
                ("ca.pem", cert.pem()),
                ("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n".to_string()),
                ("empty.pem", String::new()),
            ] {
                std::fs::write(dir.path().join(file), text).expect("file");
            }
            let kubeconfig = "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:6443'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: prod\n  context: {cluster: c, user: u}\n- name: stray\n  context: {cluster: gone, user: u}\n- name: nobody\n  context: {cluster: c, user: ghost}\n";
            std::fs::write(dir.path().join("kube.conf"), kubeconfig).expect("file");
            dir
        })
        .path()
    }

    fn parse_block(body: &str) -> Result<KubernetesConfig, Vec<ConfigError>> {
        let text = format!(
            ".:53 {{\n  kubernetes cluster.local in-addr.arpa ip6.arpa {{\n{body}\n  }}\n}}\n"
        );
        let corefile = base().join("Corefile");
        let core = Corefile::parse(&corefile.display().to_string(), &text, base()).expect("syntax");
        config(&core.blocks[0].directives[0], &[Name::root()])
    }

    #[test]
    fn files_and_directories_are_checked_with_their_line() {
        let errs = parse_block("manifests nodir").unwrap_err();
        assert_eq!(errs[0].line, 3);
        assert!(
            errs[0]
                .message
                .starts_with("kubernetes: \"nodir\": cannot read the directory"),
            "{errs:?}"
        );
        let errs = parse_block("kubeconfig /nonexistent/kc").unwrap_err();
        assert!(
            errs[0].to_string().contains("\"/nonexistent/kc\": cannot read the file"),
            "{errs:?}"
        );
        let errs = parse_block("kubeconfig kube.conf staging").unwrap_err();
        assert!(
            errs[0].to_string().contains("no context \"staging\""),
            "{errs:?}"
        );
        let errs = parse_block("endpoint https://a\ntls c.pem nokey.pem ca.pem").unwrap_err();
        assert!(
            errs[0].to_string().contains("\"nokey.pem\": cannot read the file"),
            "{errs:?}"
        );
        assert!(parse_block("kubeconfig kube.conf").is_ok(), "the current context");
    }

    #[test]
    fn options_and_defaults() {
        let c =
            parse_block("manifests demo\npods insecure\nfallthrough in-addr.arpa ip6.arpa\nttl 30")
                .expect("valid");
        assert_eq!(c.ttl, 30);
        assert_eq!(c.pods, PodMode::Insecure);
        assert_eq!(c.primary_zone.to_ascii(), "cluster.local.");
        assert_eq!(c.manifests, Some(base().join("demo")));
        assert!(c.falls_through(&Name::from_ascii("1.0.0.10.in-addr.arpa.").expect("name")));
        assert!(!c.falls_through(&Name::from_ascii("x.cluster.local.").expect("name")));
        let d = parse_block("manifests demo").expect("valid");
        assert_eq!(d.ttl, 5);
        assert_eq!(d.pods, PodMode::Disabled);
        assert_eq!(d.startup_timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_options_name_their_line() {
        let errs = parse_block("manifests demo\nttl 4000\npods maybe\nwhatever").unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(errs.len(), 3, "{text:?}");
        assert_eq!((errs[0].line, errs[1].line), (4, 5), "{text:?}");
        assert!(text[0].contains(":4: kubernetes: ttl"), "{text:?}");
        assert!(text[1].contains(":5: kubernetes: pods"), "{text:?}");
        assert!(
            text[2].contains("unknown property \"whatever\""),
            "{text:?}"
        );
    }

    #[test]
    fn namespaces_and_namespace_labels_conflict() {
        let errs = parse_block("manifests d\nnamespaces a\nnamespace_labels x=y").unwrap_err();
        assert!(errs[0].message.contains("cannot both be set"));
    }

    #[test]
    fn api_connection_options() {
        let c = parse_block("endpoint http://127.0.0.1:8080").expect("valid");
        assert_eq!(
            c.connection,
            Connection::Endpoint {
                url: "http://127.0.0.1:8080".into(),
                tls: None
            }
        );
        let c = parse_block("endpoint https://api:6443\ntls c.pem k.pem ca.pem").expect("valid");
        let Connection::Endpoint { tls: Some(tls), .. } = c.connection else {
            panic!("endpoint with tls")
        };
        assert_eq!(tls.ca, base().join("ca.pem"));
        let c = parse_block("endpoint http://a\nkubeconfig kube.conf prod").expect("valid");
        assert_eq!(
            c.connection,
            Connection::Kubeconfig {
                path: base().join("kube.conf"),
                context: Some("prod".into())
            }
        );
        assert_eq!(
            parse_block("ttl 5").expect("valid").connection,
            Connection::Default
        );
    }

    #[test]
    fn conflicting_sources_are_refused() {
        let errs = parse_block("manifests d\nendpoint http://a").unwrap_err();
        assert!(errs[0].message.contains("manifests cannot be combined"));
    }

    #[test]
    fn tls_without_endpoint_is_ignored_as_in_coredns() {
        let c = parse_block("tls c.pem k.pem ca.pem").expect("in-cluster with tls");
        assert_eq!(c.connection, Connection::Default);
        let c = parse_block("kubeconfig kube.conf prod\ntls c.pem k.pem ca.pem")
            .expect("kubeconfig with tls");
        assert!(matches!(c.connection, Connection::Kubeconfig { .. }));
        // The files are still checked: a typo is reported, not silently ignored.
        assert!(parse_block("tls c.pem nokey.pem ca.pem").is_err());
    }

    /// The first error of `body` is on `line` of the Corefile, starts with `start` and says
    /// `wrong`.
    fn assert_error(body: &str, line: u32, start: &str, wrong: &str) {
        let errs = parse_block(body).unwrap_err();
        assert_eq!(errs[0].line, line, "{body}: {errs:?}");
        assert!(
            errs[0].message.starts_with(start) && errs[0].message.contains(wrong),
            "{body}: {errs:?}"
        );
    }

    #[test]
    fn tls_files_that_hold_no_certificate_or_key_are_errors_at_their_line() {
        // Where CoreDNS ignores `tls` (kubeconfig, or no endpoint), so do their contents.
        assert!(parse_block("tls garbage.pem k.pem ca.pem").is_ok());
        assert!(parse_block("kubeconfig kube.conf prod\ntls empty.pem k.pem ca.pem").is_ok());
        for (files, wrong) in [
            ("garbage.pem k.pem ca.pem", "garbage.pem"),
            ("empty.pem k.pem ca.pem", "empty.pem: no PEM certificate"),
            ("c.pem c.pem ca.pem", "c.pem: no PEM private key"),
            ("c.pem k.pem k.pem", "k.pem: no PEM certificate"),
        ] {
            let body = format!("endpoint https://a\ntls {files}");
            assert_error(&body, 4, "kubernetes: tls: ", wrong);
        }
    }

    #[test]
    fn a_kubeconfig_context_must_name_a_cluster_it_defines() {
        assert!(parse_block("kubeconfig kube.conf prod").is_ok());
        assert!(
            parse_block("kubeconfig kube.conf nobody").is_ok(),
            "an undefined user means no credentials, as in client-go"
        );
        assert_error(
            "kubeconfig kube.conf stray",
            3,
            "kubernetes: kubeconfig ",
            "names cluster \"gone\", which it does not define",
        );
    }
}
