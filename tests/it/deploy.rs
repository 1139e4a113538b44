//! `deploy/`: every kustomization renders with `kubectl kustomize`, every rendered object
//! validates against the Kubernetes OpenAPI schemas (`kubernetes-validate --strict`, offline),
//! every Corefile of a ConfigMap passes `clusterdns -validate`, and the rendered DNS workloads
//! carry the settings an operator relies on: kubeadm's names, selector, args, probes and ports,
//! least-privilege RBAC, and the security context (non-root, read-only root filesystem, no
//! privilege escalation, every capability dropped but NET_BIND_SERVICE, seccomp RuntimeDefault).
//!
//! Needs `kubectl` and `kubernetes-validate` on PATH (`.ci/run` installs them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every directory under `deploy/` holding a kustomization.yaml, relative to `deploy/`.
fn kustomizations() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.file_name().is_some_and(|n| n == "kustomization.yaml") {
                let rel = dir.strip_prefix(base).expect("under deploy/");
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(&deploy_dir(), &deploy_dir(), &mut out);
    out
}

/// `kubectl kustomize deploy/DIR`: the rendered text.
fn render_text(dir: &str) -> String {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(deploy_dir().join(dir))
        .output()
        .unwrap_or_else(|e| panic!("kubectl not runnable ({e}); .ci/run installs it"));
    assert!(
        output.status.success(),
        "kubectl kustomize deploy/{dir} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Deprecated kustomization fields (`bases`, `patchesStrategicMerge`) render with a warning
    // on current kubectl: operators see it on every `kubectl apply -k`.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.trim().is_empty(),
        "kubectl kustomize deploy/{dir} warned:\n{stderr}"
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The objects `kubectl kustomize deploy/DIR` renders.
fn render(dir: &str) -> Vec<Value> {
    let text = render_text(dir);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| <Value as serde::Deserialize>::deserialize(doc).expect("rendered YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn get<'a>(objects: &'a [Value], kind: &str, name: &str, dir: &str) -> &'a Value {
    find(objects, kind, name).unwrap_or_else(|| panic!("deploy/{dir}: no {kind} {name}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn every_overlay_renders_and_validates_against_the_kubernetes_schemas() {
    let dirs = kustomizations();
    for expected in [
        "base",
        "overlays/kubeadm",
        "overlays/replace-coredns",
        "overlays/pods-verified",
        "overlays/autoscaled",
        "overlays/autoscaled/hpa",
        "overlays/node-local",
    ] {
        assert!(dirs.iter().any(|d| d == expected), "no deploy/{expected}");
    }
    let scratch = tempfile::tempdir().expect("temp dir");
    for dir in &dirs {
        let file = scratch
            .path()
            .join(format!("{}.yaml", dir.replace('/', "-")));
        std::fs::write(&file, render_text(dir)).expect("write rendered");
        let output = Command::new("kubernetes-validate")
            .args(["--strict", "--quiet"])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| {
                panic!("kubernetes-validate not runnable ({e}); .ci/run installs it")
            });
        assert!(
            output.status.success(),
            "deploy/{dir} does not validate:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn schema_validation_names_the_object_and_the_field() {
    // The check above can fail: a misspelt field is refused, and the message says where.
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut text = render_text("base");
    text = text.replacen("readOnlyRootFilesystem", "readOnlyRootFilesytem", 1);
    let file = scratch.path().join("broken.yaml");
    std::fs::write(&file, text).expect("write");
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "accepted a misspelt field: {said}"
    );
    assert!(
        said.contains("deployment/coredns") && said.contains("readOnlyRootFilesytem"),
        "{said}"
    );
}

#[test]
fn every_corefile_in_a_configmap_passes_validate() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut checked = 0;
    for dir in kustomizations() {
        for object in render(&dir) {
            let Some(corefile) = object["data"]["Corefile"].as_str() else {
                continue;
            };
            let name = object["metadata"]["name"].as_str().unwrap_or("?");
            let file = scratch.path().join("Corefile");
            std::fs::write(&file, corefile).expect("write Corefile");
            let output = Command::new(env!("CARGO_BIN_EXE_clusterdns"))
                .args(["-validate", "-conf"])
                .arg(&file)
                // What kubelet sets in pods of kube-system once the Service exists.
                .env("KUBE_DNS_UPSTREAM_SERVICE_HOST", "10.96.0.11")
                .output()
                .expect("clusterdns runs");
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim(),
                "ok",
                "deploy/{dir}: ConfigMap {name}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(output.status.success());
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} Corefiles found");
}

#[test]
fn validate_reports_a_bad_corefile_with_its_line_and_exits_1() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let file = scratch.path().join("Corefile");
    std::fs::write(&file, ".:53 {\n    errors\n    forwrd . 127.0.0.1\n}\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_clusterdns"))
        .args(["-validate", "-conf"])
        .arg(&file)
        .output()
        .expect("clusterdns runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:3: unknown directive \"forwrd\"",
            file.display()
        )),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// The pod template of every rendered workload whose containers run the clusterdns image.
fn dns_workloads(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .filter(|o| o["kind"] == "Deployment" || o["kind"] == "DaemonSet")
        .filter(|o| {
            o["spec"]["template"]["spec"]["containers"]
                .as_array()
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["image"]
                            .as_str()
                            .is_some_and(|i| i.contains("clusterdns"))
                    })
                })
        })
        .collect()
}

#[test]
fn dns_deployment_and_daemonset_are_locked_down() {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for dir in kustomizations() {
        for workload in dns_workloads(&render(&dir)) {
            let kind = workload["kind"].as_str().unwrap_or("?");
            let name = workload["metadata"]["name"].as_str().unwrap_or("?");
            let at = format!("deploy/{dir}: {kind} {name}");
            *seen.entry(kind.to_string()).or_default() += 1;
            let pod = &workload["spec"]["template"]["spec"];
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{at}");
            assert_eq!(pod["securityContext"]["runAsUser"], 65532, "{at}");
            assert_eq!(
                pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
                "{at}"
            );
            assert_eq!(
                pod["dnsPolicy"], "Default",
                "{at}: must not resolve through itself"
            );
            assert!(
                pod["priorityClassName"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("system-")),
                "{at}: priorityClassName"
            );
            for container in pod["containers"].as_array().expect("containers") {
                let c = &container["securityContext"];
                let cname = container["name"].as_str().unwrap_or("?");
                assert_eq!(c["allowPrivilegeEscalation"], false, "{at}/{cname}");
                assert_eq!(c["readOnlyRootFilesystem"], true, "{at}/{cname}");
                assert_eq!(strings(&c["capabilities"]["drop"]), ["ALL"], "{at}/{cname}");
                assert_eq!(
                    strings(&c["capabilities"]["add"]),
                    ["NET_BIND_SERVICE"],
                    "{at}/{cname}"
                );
                assert_eq!(
                    strings(&container["args"]),
                    ["-conf", "/etc/coredns/Corefile"],
                    "{at}/{cname}"
                );
                assert!(
                    container["resources"]["limits"]["memory"].is_string()
                        && container["resources"]["requests"]["cpu"].is_string(),
                    "{at}/{cname}: resources"
                );
            }
        }
    }
    assert!(seen.get("Deployment").is_some_and(|n| *n >= 6), "{seen:?}");
    assert_eq!(seen.get("DaemonSet"), Some(&1), "{seen:?}");
}

#[test]
fn base_is_kubeadms_coredns_with_the_clusterdns_image() {
    let objects = render("base");
    let deployment = get(&objects, "Deployment", "coredns", "base");
    assert_eq!(deployment["metadata"]["namespace"], "kube-system");
    assert_eq!(deployment["spec"]["replicas"], 2);
    // Immutable once created: it must be kubeadm's exactly for an in-place swap.
    assert_eq!(
        deployment["spec"]["selector"],
        serde_json::json!({"matchLabels": {"k8s-app": "kube-dns"}})
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "coredns");
    assert_eq!(pod["priorityClassName"], "system-cluster-critical");
    let anti =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        anti["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    assert!(pod["topologySpreadConstraints"][0]["topologyKey"].is_string());
    let container = &pod["containers"][0];
    assert_eq!(container["name"], "coredns");
    assert_eq!(container["image"], "localhost/clusterdns:0.1.0");
    let port = |name: &str| {
        container["ports"]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["name"] == name))
            .map(|p| (p["containerPort"].clone(), p["protocol"].clone()))
    };
    assert_eq!(port("dns"), Some((53.into(), "UDP".into())));
    assert_eq!(port("dns-tcp"), Some((53.into(), "TCP".into())));
    assert_eq!(port("metrics"), Some((9153.into(), "TCP".into())));
    assert_eq!(port("liveness-probe"), Some((8080.into(), "TCP".into())));
    assert_eq!(port("readiness-probe"), Some((8181.into(), "TCP".into())));
    let live = &container["livenessProbe"];
    assert_eq!(live["httpGet"]["path"], "/health");
    assert_eq!(live["httpGet"]["port"], "liveness-probe");
    assert_eq!(live["initialDelaySeconds"], 60);
    assert_eq!(live["timeoutSeconds"], 5);
    assert_eq!(live["failureThreshold"], 5);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(
        container["readinessProbe"]["httpGet"]["port"],
        "readiness-probe"
    );
    let volume = &pod["volumes"][0];
    assert_eq!(volume["configMap"]["name"], "coredns");
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/etc/coredns");

    // kubeadm's default Corefile, verbatim.
    let corefile = get(&objects, "ConfigMap", "coredns", "base")["data"]["Corefile"]
        .as_str()
        .expect("Corefile");
    let kubeadm = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corefiles/kubeadm.Corefile"),
    )
    .expect("kubeadm Corefile");
    assert_eq!(corefile, kubeadm);

    let service = get(&objects, "Service", "kube-dns", "base");
    assert_eq!(service["metadata"]["namespace"], "kube-system");
    assert_eq!(service["spec"]["selector"]["k8s-app"], "kube-dns");
    let ports: Vec<(String, i64, String)> = service["spec"]["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_string(),
                p["port"].as_i64().unwrap_or(0),
                p["protocol"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            ("dns".into(), 53, "UDP".into()),
            ("dns-tcp".into(), 53, "TCP".into()),
            ("metrics".into(), 9153, "TCP".into())
        ]
    );
    assert!(
        service["spec"]["clusterIP"].is_null(),
        "base leaves the IP to the cluster"
    );
    let pdb = get(&objects, "PodDisruptionBudget", "coredns", "base");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
}

#[test]
fn rbac_grants_list_and_watch_only_and_pods_only_with_pods_verified() {
    for dir in kustomizations() {
        let objects = render(&dir);
        let Some(role) = find(&objects, "ClusterRole", "system:coredns") else {
            continue;
        };
        let corefiles: String = objects
            .iter()
            .filter_map(|o| o["data"]["Corefile"].as_str())
            .collect();
        let mut resources = Vec::new();
        for rule in role["rules"].as_array().expect("rules") {
            assert_eq!(strings(&rule["verbs"]), ["list", "watch"], "deploy/{dir}");
            resources.extend(strings(&rule["resources"]));
        }
        resources.sort();
        let mut expected = vec!["endpointslices", "namespaces", "services"];
        if corefiles.contains("pods verified") {
            expected.push("pods");
            expected.sort();
        }
        assert_eq!(resources, expected, "deploy/{dir}");
        let binding = get(&objects, "ClusterRoleBinding", "system:coredns", &dir);
        assert_eq!(binding["subjects"][0]["name"], "coredns");
        assert_eq!(binding["subjects"][0]["namespace"], "kube-system");
    }
    // And the one overlay with `pods verified` exists and was checked above.
    let corefile = get(
        &render("overlays/pods-verified"),
        "ConfigMap",
        "coredns",
        "pods-verified",
    )["data"]["Corefile"]
        .as_str()
        .expect("Corefile")
        .to_string();
    assert!(corefile.contains("pods verified") && !corefile.contains("pods insecure"));
    assert!(corefile.contains("autopath @kubernetes"), "{corefile}");
}

#[test]
fn kubeadm_overlay_fixes_the_service_address() {
    let objects = render("overlays/kubeadm");
    let service = get(&objects, "Service", "kube-dns", "overlays/kubeadm");
    assert_eq!(service["spec"]["clusterIP"], "10.96.0.10");
}

#[test]
fn replace_coredns_has_kubeadms_names_and_keeps_the_clusters_corefile() {
    let dir = "overlays/replace-coredns";
    let objects = render(dir);
    get(&objects, "Deployment", "coredns", dir);
    get(&objects, "ServiceAccount", "coredns", dir);
    get(&objects, "ClusterRole", "system:coredns", dir);
    get(&objects, "ClusterRoleBinding", "system:coredns", dir);
    get(&objects, "Service", "kube-dns", dir);
    assert!(
        !objects.iter().any(|o| o["kind"] == "ConfigMap"),
        "the cluster's coredns ConfigMap must be left alone"
    );
    let service = get(&objects, "Service", "kube-dns", dir);
    assert!(
        service["spec"]["clusterIP"].is_null(),
        "the running Service keeps its IP"
    );
}

#[test]
fn autoscaled_scales_the_coredns_deployment() {
    let dir = "overlays/autoscaled";
    let objects = render(dir);
    let autoscaler = get(&objects, "Deployment", "kube-dns-autoscaler", dir);
    let command = strings(&autoscaler["spec"]["template"]["spec"]["containers"][0]["command"]);
    assert!(
        command.contains(&"--target=Deployment/coredns"),
        "{command:?}"
    );
    assert!(
        command.contains(&"--configmap=kube-dns-autoscaler"),
        "{command:?}"
    );
    let ladder = get(&objects, "ConfigMap", "kube-dns-autoscaler", dir)["data"]["ladder"]
        .as_str()
        .expect("ladder");
    let ladder: Value = serde_json::from_str(ladder).expect("the ladder is JSON");
    assert!(ladder["coresToReplicas"].is_array() && ladder["nodesToReplicas"].is_array());
    let hpa = get(
        &render("overlays/autoscaled/hpa"),
        "HorizontalPodAutoscaler",
        "coredns",
        "overlays/autoscaled/hpa",
    )
    .clone();
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "coredns");
    assert_eq!(hpa["spec"]["metrics"][0]["resource"]["name"], "cpu");
    assert!(
        find(
            &render("overlays/autoscaled/hpa"),
            "Deployment",
            "kube-dns-autoscaler"
        )
        .is_none()
    );
}

#[test]
fn node_local_cache_forwards_the_cluster_zone_over_tcp_to_kube_dns_upstream() {
    let dir = "overlays/node-local";
    let objects = render(dir);
    let upstream = get(&objects, "Service", "kube-dns-upstream", dir);
    assert_eq!(upstream["spec"]["selector"]["k8s-app"], "kube-dns");
    let daemonset = get(&objects, "DaemonSet", "node-local-dns", dir);
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["containers"][0]["image"], "localhost/clusterdns:0.1.0");
    let corefile = get(&objects, "ConfigMap", "node-local-dns", dir)["data"]["Corefile"]
        .as_str()
        .expect("Corefile");
    let cluster_block = corefile
        .split("\n}")
        .find(|b| b.contains("cluster.local:53"))
        .expect("a cluster.local block");
    assert!(
        cluster_block.contains("bind 169.254.20.10"),
        "{cluster_block}"
    );
    assert!(
        cluster_block.contains("forward . {$KUBE_DNS_UPSTREAM_SERVICE_HOST}")
            && cluster_block.contains("force_tcp"),
        "{cluster_block}"
    );
}
