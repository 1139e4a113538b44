//! The search-walk decision: whether a question is the first step of a client's search walk,
//! and the names the walk would ask after it.

use hickory_proto::rr::Name;

/// The search path kubelet writes for a `dnsPolicy: ClusterFirst` pod of `namespace` in
/// cluster `zone` (`<ns>.svc.<zone> svc.<zone> <zone>`), then `node_domains`. `None` when a
/// domain would not be a valid name.
pub fn kubelet_path(namespace: &str, zone: &Name, node_domains: &[Name]) -> Option<Vec<Name>> {
    let svc = Name::from_ascii("svc").ok()?.append_domain(zone).ok()?;
    let own = Name::from_ascii(namespace).ok()?.append_domain(&svc).ok()?;
    let mut path = vec![own, svc, zone.clone()];
    path.extend(node_domains.iter().cloned());
    Some(path)
}

/// The names a client's search walk asks after it asked `asked`, when `asked` is the first step
/// of that walk (`BASE.<first domain>`): `asked` itself first, then `BASE.<domain>` for each
/// later domain, then `BASE` alone. `None` when `asked` is not such a first step. A name that
/// would exceed 255 octets is left out, and no name is asked twice.
pub fn walk(asked: &Name, path: &[Name]) -> Option<Vec<Name>> {
    let first = path.first()?;
    // BASE must have at least one label: the domain itself is no walk.
    if asked.num_labels() <= first.num_labels() || !first.zone_of(asked) {
        return None;
    }
    let base_labels = usize::from(asked.num_labels() - first.num_labels());
    let base = Name::from_labels(asked.iter().take(base_labels)).ok()?;
    let mut names: Vec<Name> = Vec::with_capacity(path.len() + 1);
    names.push(asked.clone());
    for domain in &path[1..] {
        if let Ok(name) = base.clone().append_domain(domain) {
            push_new(&mut names, name);
        }
    }
    let mut bare = base;
    bare.set_fqdn(true);
    push_new(&mut names, bare);
    Some(names)
}

fn push_new(names: &mut Vec<Name>, name: Name) {
    if !names.contains(&name) {
        names.push(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).expect("name")
    }

    fn texts(names: &[Name]) -> Vec<String> {
        names.iter().map(ToString::to_string).collect()
    }

    fn path(node: &[&str]) -> Vec<Name> {
        let node: Vec<Name> = node.iter().map(|n| name(n)).collect();
        kubelet_path("app", &name("cluster.local."), &node).expect("path")
    }

    #[test]
    fn kubelet_path_is_what_kubelet_writes() {
        assert_eq!(
            texts(&path(&["corp.example."])),
            [
                "app.svc.cluster.local.",
                "svc.cluster.local.",
                "cluster.local.",
                "corp.example."
            ]
        );
    }

    #[test]
    fn first_step_of_a_walk_gives_the_whole_walk_in_the_client_case() {
        let steps = walk(&name("Api.Example.COM.app.svc.cluster.local."), &path(&[]))
            .expect("first step");
        assert_eq!(
            texts(&steps),
            [
                "Api.Example.COM.app.svc.cluster.local.",
                "Api.Example.COM.svc.cluster.local.",
                "Api.Example.COM.cluster.local.",
                "Api.Example.COM."
            ]
        );
        let steps = walk(&name("kubernetes.default.app.svc.cluster.local."), &path(&["corp.example."]))
            .expect("first step");
        assert_eq!(steps[1].to_string(), "kubernetes.default.svc.cluster.local.");
        assert_eq!(steps[3].to_string(), "kubernetes.default.corp.example.");
        assert_eq!(steps[4].to_string(), "kubernetes.default.");
    }

    #[test]
    fn other_shapes_are_no_walk() {
        let p = path(&[]);
        // Another namespace's first step, a later step, the domain itself, another zone.
        for asked in [
            "web.other.svc.cluster.local.",
            "web.svc.cluster.local.",
            "app.svc.cluster.local.",
            "web.cluster.local.",
            "example.com.",
        ] {
            assert_eq!(walk(&name(asked), &p), None, "{asked}");
        }
        assert_eq!(walk(&name("a.b."), &[]), None, "an empty path");
    }

    #[test]
    fn too_long_names_are_skipped_and_no_name_is_asked_twice() {
        // BASE.app.svc.cluster.local. fits; BASE.<a long node domain> does not.
        let label = "a".repeat(63);
        let base = format!("{label}.{label}.{label}");
        let long_domain = format!("{label}.{label}.example.");
        let asked = name(&format!("{base}.app.svc.cluster.local."));
        let steps = walk(&asked, &path(&[&long_domain])).expect("first step");
        assert!(steps.iter().all(|n| n.len() <= 255));
        assert_eq!(steps.len(), 4, "the too long step is left out: {}", texts(&steps).join(" "));
        // A node domain equal to a cluster domain adds no step.
        let steps = walk(&name("x.app.svc.cluster.local."), &path(&["cluster.local."]))
            .expect("first step");
        assert_eq!(steps.len(), 4);
    }
}
