//! Kubernetes label selectors in their string form (`app=web,tier!=db,env in (a,b),!legacy`),
//! for the `labels` and `namespace_labels` options. The API source sends the string to the API
//! server; the manifests source filters with [`LabelSelector::matches`].

use std::collections::BTreeMap;

use thiserror::Error;

/// A selector string that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid label selector {selector:?}: {reason}")]
pub struct SelectorError {
    selector: String,
    reason: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector: every requirement must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSelector {
    source: String,
    requirements: Vec<Requirement>,
}

/// Split on commas that are not inside parentheses.
fn split_requirements(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

impl LabelSelector {
    /// Parse the string form.
    pub fn parse(text: &str) -> Result<LabelSelector, SelectorError> {
        let fail = |reason| SelectorError {
            selector: text.to_string(),
            reason,
        };
        let mut requirements = Vec::new();
        for part in split_requirements(text) {
            let part = part.trim();
            if part.is_empty() {
                return Err(fail("empty requirement"));
            }
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().to_string())
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, value)) =
                part.split_once("==").or_else(|| part.split_once('='))
            {
                Requirement::Equals(key.trim().to_string(), value.trim().to_string())
            } else if let Some((key, set, negated)) = Self::set_requirement(part) {
                let values: Vec<String> = set
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect();
                if values.is_empty() {
                    return Err(fail("empty value set"));
                }
                if negated {
                    Requirement::NotIn(key, values)
                } else {
                    Requirement::In(key, values)
                }
            } else if valid_key(part) {
                Requirement::Exists(part.to_string())
            } else {
                return Err(fail(
                    "expected KEY, !KEY, KEY=VALUE, KEY!=VALUE or KEY in (…)",
                ));
            };
            let key = match &requirement {
                Requirement::Equals(k, _)
                | Requirement::NotEquals(k, _)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::DoesNotExist(k) => k,
            };
            if !valid_key(key) {
                return Err(fail("invalid label key"));
            }
            requirements.push(requirement);
        }
        Ok(LabelSelector {
            source: text.to_string(),
            requirements,
        })
    }

    fn set_requirement(part: &str) -> Option<(String, &str, bool)> {
        let open = part.find('(')?;
        let set = part.get(open + 1..)?.strip_suffix(')')?;
        let mut words = part[..open].split_whitespace();
        let key = words.next()?.to_string();
        let negated = match words.next()? {
            "in" => false,
            "notin" => true,
            _ => return None,
        };
        words.next().is_none().then_some((key, set, negated))
    }

    /// The selector as written, as the API server takes it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_requirement_form_matches_as_kubernetes_does() {
        let sel = LabelSelector::parse("app=web, tier!=db,env in (prod, staging),!legacy,team")
            .expect("valid");
        assert!(sel.matches(&labels(&[("app", "web"), ("env", "prod"), ("team", "x")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("env", "dev"), ("team", "x")])));
        assert!(!sel.matches(&labels(&[
            ("app", "web"),
            ("env", "prod"),
            ("team", "x"),
            ("legacy", "1")
        ])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("env", "prod")])));
        let notin = LabelSelector::parse("env notin (dev)").expect("valid");
        assert!(notin.matches(&labels(&[])));
        assert!(!notin.matches(&labels(&[("env", "dev")])));
    }

    #[test]
    fn malformed_selectors_are_refused() {
        assert!(LabelSelector::parse("").is_err());
        assert!(LabelSelector::parse("app=web,").is_err());
        assert!(LabelSelector::parse("env in ()").is_err());
        assert!(LabelSelector::parse("a b").is_err());
    }
}
