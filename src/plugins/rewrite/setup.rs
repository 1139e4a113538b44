//! Parsing of `rewrite [continue|stop] FIELD …`, on one line or as a block whose lines are read
//! as one rule (`rewrite stop { name regex …; answer name …; answer value … }`).

use hickory_proto::rr::{DNSClass, Name, RecordType};
use regex::Regex;

use super::rules::{NameMatch, ResponseRule, groups_used};
use crate::config::{Args, ConfigError, Directive};
use crate::plugin::{Setup, parsed};
use crate::plugins::template::setup::rcode_named;

/// What happens after a rule that matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No further rewrite rule is tried (the default).
    Stop,
    /// The next rewrite rule is tried on the rewritten question.
    Continue,
}

/// What a rule changes in the question.
#[derive(Clone, Debug)]
pub enum Change {
    /// The name, by a name match.
    Name(NameMatch, String),
    /// The type, when it is `from`.
    Type(RecordType, RecordType),
    /// The class, when it is `from`.
    Class(DNSClass, DNSClass),
    /// Nothing in the question: a name match that only changes the response (`ttl`, `rcode`).
    Nothing(NameMatch),
}

/// One `rewrite` directive: one rule.
#[derive(Clone, Debug)]
pub struct RewriteConfig {
    /// `stop` or `continue`.
    pub mode: Mode,
    /// What it changes in the question.
    pub change: Change,
    /// What it changes in the response of a question it changed.
    pub response: Vec<ResponseRule>,
}

/// The registry's entry point.
pub fn parse(d: &Directive, _zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed(config(d))
}

/// Parse one `rewrite` directive.
pub fn config(d: &Directive) -> Result<RewriteConfig, ConfigError> {
    let args = Args::new(d);
    let mut words: Vec<String> = args.texts().iter().map(|w| w.to_string()).collect();
    for line in args.properties() {
        words.push(line.name().to_string());
        words.extend(line.texts().iter().map(|w| w.to_string()));
    }
    let mut words = words.as_slice();
    let mode = match words.first().map(|w| w.to_ascii_lowercase()).as_deref() {
        Some("stop") => {
            words = &words[1..];
            Mode::Stop
        }
        Some("continue") => {
            words = &words[1..];
            Mode::Continue
        }
        _ => Mode::Stop,
    };
    let Some((field, rest)) = words.split_first() else {
        return Err(args.error("no rule: rewrite [continue|stop] FIELD FROM TO"));
    };
    let rule = |what: String| args.error(what);
    let (change, response) = match field.to_ascii_lowercase().as_str() {
        "name" => name_rule(rest).map_err(rule)?,
        "type" => match rest {
            [from, to] => (
                Change::Type(record_type(from).map_err(rule)?, record_type(to).map_err(rule)?),
                Vec::new(),
            ),
            _ => return Err(args.error("type rules must have exactly two arguments")),
        },
        "class" => match rest {
            [from, to] => (
                Change::Class(class(from).map_err(rule)?, class(to).map_err(rule)?),
                Vec::new(),
            ),
            _ => return Err(args.error("class rules must have exactly two arguments")),
        },
        "ttl" => {
            let usage = "ttl [exact|prefix|suffix|substring|regex] NAME SECONDS|MIN-MAX";
            if !(2..=3).contains(&rest.len()) {
                return Err(args.error(format!("takes {usage}")));
            }
            let (name, value) = rest.split_at(rest.len() - 1);
            let (min, max) = ttl_range(&value[0]).map_err(rule)?;
            (
                Change::Nothing(single_match(name).map_err(rule)?),
                vec![ResponseRule::Ttl { min, max }],
            )
        }
        "rcode" => {
            let usage = "rcode [exact|prefix|suffix|substring|regex] NAME FROM TO";
            if !(3..=4).contains(&rest.len()) {
                return Err(args.error(format!("takes {usage}")));
            }
            let (name, codes) = rest.split_at(rest.len() - 2);
            let code = |text: &str| {
                rcode_named(&text.to_ascii_uppercase())
                    .ok_or_else(|| args.error(format!("unknown rcode {text:?}")))
            };
            (
                Change::Nothing(single_match(name).map_err(rule)?),
                vec![ResponseRule::Rcode {
                    from: code(&codes[0])?,
                    to: code(&codes[1])?,
                }],
            )
        }
        "answer" => return Err(args.error("response rewrites must begin with a name rule")),
        "edns0" | "cname" => {
            return Err(args.error(format!(
                "{field} rules are not supported by this build (see the rewrite README)"
            )));
        }
        other => return Err(args.error(format!("invalid rule type {other:?}"))),
    };
    Ok(RewriteConfig {
        mode,
        change,
        response,
    })
}

/// CoreDNS's `plugin.Name(x).Normalize()`: lower case, with a final dot.
fn normalize(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

fn compile(pattern: &str, to: &str) -> Result<Regex, String> {
    let regex = Regex::new(pattern).map_err(|_| format!("invalid regex matching pattern: {pattern}"))?;
    if groups_used(to) > regex.captures_len() - 1 {
        return Err(format!(
            "the rewrite regex pattern ({to}) uses more subexpressions than its corresponding matching regex pattern ({pattern})"
        ));
    }
    Ok(regex)
}

/// `[exact|prefix|suffix|substring|regex] FROM TO`: the match and TO.
fn name_match(words: &[String]) -> Result<(NameMatch, String), String> {
    let (kind, from, to) = match words {
        [from, to] => ("exact".to_string(), from, to),
        [kind, from, to] => (kind.to_ascii_lowercase(), from, to),
        _ => return Err("a name rule takes [exact|prefix|suffix|substring|regex] FROM TO".into()),
    };
    let to_normal = normalize(to);
    let matcher = match kind.as_str() {
        "exact" => NameMatch::Exact(normalize(from)),
        "prefix" => NameMatch::Prefix(normalize(from)),
        "suffix" => NameMatch::Suffix(normalize(from)),
        "substring" => NameMatch::Substring(normalize(from)),
        "regex" => NameMatch::Regex(compile(from, to)?),
        other => {
            return Err(format!(
                "name rule supports only exact, prefix, suffix, substring, and regex name matching, received: {other}"
            ));
        }
    };
    Ok((matcher, to_normal))
}

/// `[exact|prefix|suffix|substring|regex] NAME`: a match of the question name alone.
fn single_match(words: &[String]) -> Result<NameMatch, String> {
    match words {
        [name] => Ok(NameMatch::Exact(normalize(name))),
        [kind, name] if kind.eq_ignore_ascii_case("regex") => Regex::new(name)
            .map(NameMatch::Regex)
            .map_err(|_| format!("invalid regex matching pattern: {name}")),
        [kind, name] => Ok(name_match(&[kind.clone(), name.clone(), name.clone()])?.0),
        _ => Err("expected [exact|prefix|suffix|substring|regex] NAME".into()),
    }
}

/// The name rule and its response rules: `answer auto`, `answer name FROM TO`,
/// `answer value FROM TO`, each any number of times after the name part.
fn name_rule(words: &[String]) -> Result<(Change, Vec<ResponseRule>), String> {
    let split = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("answer"))
        .unwrap_or(words.len());
    let (matcher, to) = name_match(&words[..split])?;
    let mut response = Vec::new();
    if let NameMatch::Exact(from) = &matcher {
        // An exact rule puts the asked name back in the answers by itself.
        response.push(ResponseRule::Owner(NameMatch::Exact(to.clone()), from.clone()));
    }
    let mut rest = &words[split..];
    while let Some((answer, after)) = rest.split_first() {
        if !answer.eq_ignore_ascii_case("answer") {
            return Err(format!("unexpected {answer:?}: expected answer"));
        }
        match after {
            [kind, tail @ ..] if kind.eq_ignore_ascii_case("auto") => {
                let (back, from) = matcher.reversed(&to).ok_or(
                    "answer auto cannot reverse a regex; write answer name and answer value",
                )?;
                response.push(ResponseRule::Owner(back.clone(), from.clone()));
                response.push(ResponseRule::Value(back, from));
                rest = tail;
            }
            [kind, pattern, replacement, tail @ ..]
                if kind.eq_ignore_ascii_case("name") || kind.eq_ignore_ascii_case("value") =>
            {
                let regex = compile(pattern, replacement)?;
                let replacement = normalize(replacement);
                response.push(if kind.eq_ignore_ascii_case("name") {
                    ResponseRule::Owner(NameMatch::Regex(regex), replacement)
                } else {
                    ResponseRule::Value(NameMatch::Regex(regex), replacement)
                });
                rest = tail;
            }
            _ => {
                return Err(
                    "an answer rule is answer auto, answer name FROM TO or answer value FROM TO"
                        .into(),
                );
            }
        }
    }
    Ok((Change::Name(matcher, to), response))
}

fn record_type(text: &str) -> Result<RecordType, String> {
    text.to_ascii_uppercase()
        .parse::<RecordType>()
        .ok()
        .filter(|t| !matches!(t, RecordType::Unknown(_)))
        .ok_or_else(|| format!("invalid type {text:?}"))
}

fn class(text: &str) -> Result<DNSClass, String> {
    match text.to_ascii_uppercase().as_str() {
        "IN" => Ok(DNSClass::IN),
        "CH" => Ok(DNSClass::CH),
        "HS" => Ok(DNSClass::HS),
        _ => Err(format!("invalid class {text:?}")),
    }
}

/// `SECONDS`, `MIN-MAX`, `MIN-` or `-MAX`.
fn ttl_range(text: &str) -> Result<(u32, u32), String> {
    let number = |t: &str, default: u32| -> Result<u32, String> {
        if t.is_empty() {
            Ok(default)
        } else {
            t.parse().map_err(|_| format!("invalid TTL {text:?}"))
        }
    };
    let (min, max) = match text.split_once('-') {
        Some((min, max)) => (number(min, 0)?, number(max, u32::MAX)?),
        None => {
            let ttl = number(text, 0)?;
            (ttl, ttl)
        }
    };
    if min > max || text == "-" || text.is_empty() {
        return Err(format!("invalid TTL range {text:?}"));
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::ResponseCode;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_block(text: &str) -> Result<RewriteConfig, ConfigError> {
        let core = Corefile::parse("Corefile", &format!(".:53 {{\n{text}\n}}\n"), Path::new("."))
            .expect("syntax");
        config(&core.blocks[0].directives[0])
    }

    #[test]
    fn the_wild_forms_parse() {
        let aks = parse_block(
            "rewrite stop {\n  name regex (.*)\\.example.com {1}.default.svc.cluster.local\n  answer name (.*)\\.default\\.svc\\.cluster\\.local {1}.example.com\n}",
        )
        .expect("valid");
        assert_eq!(aks.mode, Mode::Stop);
        assert!(matches!(&aks.change, Change::Name(NameMatch::Regex(_), to) if to == "{1}.default.svc.cluster.local."));
        assert_eq!(aks.response.len(), 1);
        let gardener = parse_block(
            "rewrite stop {\n  name regex (^(?:[^\\.]+\\.)+)svc\\.cluster\\.local\\.svc\\.cluster\\.local {1}svc.cluster.local\n  answer name (^(?:[^\\.]+\\.)+)svc\\.cluster\\.local {1}svc.cluster.local.svc.cluster.local\n  answer value (^(?:[^\\.]+\\.)+)svc\\.cluster\\.local {1}svc.cluster.local.svc.cluster.local\n}",
        )
        .expect("valid");
        assert_eq!(gardener.response.len(), 2);
        let one_line = parse_block(
            "rewrite continue name suffix .schmoogle.com. .google.com. answer auto",
        )
        .expect("valid");
        assert_eq!(one_line.mode, Mode::Continue);
        assert_eq!(one_line.response.len(), 2);
        let exact = parse_block("rewrite name RED.example BLUE.example").expect("valid");
        assert!(matches!(&exact.change, Change::Name(NameMatch::Exact(from), to) if from == "red.example." && to == "blue.example."));
        assert_eq!(exact.response.len(), 1, "an exact rule reverts by itself");
        assert!(matches!(parse_block("rewrite type ANY HINFO").expect("valid").change, Change::Type(RecordType::ANY, RecordType::HINFO)));
        assert!(matches!(parse_block("rewrite class CH IN").expect("valid").change, Change::Class(DNSClass::CH, DNSClass::IN)));
        let ttl = parse_block("rewrite continue {\n  ttl regex (.*)\\.coredns\\.rocks 15\n}").expect("valid");
        assert!(matches!(ttl.response[..], [ResponseRule::Ttl { min: 15, max: 15 }]));
        let range = parse_block("rewrite ttl example.org. 30-300").expect("valid");
        assert!(matches!(range.response[..], [ResponseRule::Ttl { min: 30, max: 300 }]));
        let rcode = parse_block("rewrite rcode regex .*\\.example\\.org NXDOMAIN NOERROR").expect("valid");
        assert!(matches!(
            (&rcode.change, &rcode.response[..]),
            (Change::Nothing(NameMatch::Regex(_)), [ResponseRule::Rcode { from: ResponseCode::NXDomain, to: ResponseCode::NoError }])
        ));
    }

    #[test]
    fn bad_rules_are_errors_at_their_line() {
        for (text, error) in [
            ("rewrite", "no rule"),
            ("rewrite name", "a name rule takes"),
            ("rewrite name fuzzy a b", "name rule supports only"),
            ("rewrite name regex (unclosed x", "invalid regex matching pattern"),
            ("rewrite name regex (a) {1}{2}", "uses more subexpressions"),
            ("rewrite name regex (a) b answer auto", "answer auto cannot reverse a regex"),
            ("rewrite name a b answer sideways x y", "an answer rule is"),
            ("rewrite type A", "exactly two arguments"),
            ("rewrite type A BOGUS", "invalid type"),
            ("rewrite class IN XX", "invalid class"),
            ("rewrite ttl a.example. 30-10", "invalid TTL range"),
            ("rewrite rcode a.example. NXDOMAIN MAYBE", "unknown rcode"),
            ("rewrite answer name a b", "must begin with a name rule"),
            ("rewrite edns0 local set 0xffee abcd", "not supported by this build"),
            ("rewrite weird a b", "invalid rule type"),
        ] {
            let e = parse_block(text).expect_err(text).to_string();
            assert!(
                e.starts_with("Corefile:2: rewrite: ") && e.contains(error),
                "{text}: {e}"
            );
        }
    }
}
