//! What a `rewrite` rule matches and changes: name matching (`exact`, `prefix`, `suffix`,
//! `substring`, `regex`) on the lower-case question name with its final dot, as CoreDNS's
//! `state.Name()`, and the rules applied to the response on the way back.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record};
use regex::Regex;

use crate::plugin::name_text::with_name_text;

/// How a name rule matches the question name.
#[derive(Clone, Debug)]
pub enum NameMatch {
    /// The whole name (both with their final dot).
    Exact(String),
    /// The name begins with it.
    Prefix(String),
    /// The name ends with it.
    Suffix(String),
    /// The name contains it (every occurrence is replaced).
    Substring(String),
    /// The name matches the regular expression; `{N}` in the replacement is group N.
    Regex(Regex),
}

impl NameMatch {
    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            NameMatch::Exact(from) => name == from,
            NameMatch::Prefix(from) => name.starts_with(from.as_str()),
            NameMatch::Suffix(from) => name.ends_with(from.as_str()),
            NameMatch::Substring(from) => name.contains(from.as_str()),
            NameMatch::Regex(regex) => regex.is_match(name),
        }
    }

    /// `name` rewritten to `to`, if it matches.
    pub fn rewrite(&self, name: &str, to: &str) -> Option<String> {
        match self {
            NameMatch::Exact(from) => (name == from).then(|| to.to_string()),
            NameMatch::Prefix(from) => name
                .strip_prefix(from.as_str())
                .map(|rest| format!("{to}{rest}")),
            NameMatch::Suffix(from) => name
                .strip_suffix(from.as_str())
                .map(|rest| format!("{rest}{to}")),
            NameMatch::Substring(from) => name
                .contains(from.as_str())
                .then(|| name.replace(from.as_str(), to)),
            NameMatch::Regex(regex) => regex_replace(regex, name, to),
        }
    }

    /// The same kind of match for `to`, which rewrites back to `from` (`answer auto`); none for
    /// a regex.
    pub fn reversed(&self, to: &str) -> Option<(NameMatch, String)> {
        let (kind, from): (fn(String) -> NameMatch, &String) = match self {
            NameMatch::Exact(from) => (NameMatch::Exact, from),
            NameMatch::Prefix(from) => (NameMatch::Prefix, from),
            NameMatch::Suffix(from) => (NameMatch::Suffix, from),
            NameMatch::Substring(from) => (NameMatch::Substring, from),
            NameMatch::Regex(_) => return None,
        };
        Some((kind(to.to_string()), from.clone()))
    }
}

/// `text` with `{N}` of `to` replaced by group N of `regex`'s match in `name`, if it matches.
pub fn regex_replace(regex: &Regex, name: &str, to: &str) -> Option<String> {
    // `captures` allocates its slots before it knows of a match; `is_match` does not.
    if !regex.is_match(name) {
        return None;
    }
    let captures = regex.captures(name)?;
    let mut out = to.to_string();
    for (index, group) in captures.iter().enumerate() {
        let value = group.map_or("", |m| m.as_str());
        out = out.replace(&format!("{{{index}}}"), value);
    }
    Some(out)
}

/// How many `{N}` groups `to` uses (CoreDNS checks them against the regex's groups).
pub fn groups_used(to: &str) -> usize {
    (0..=100)
        .filter(|i| to.contains(&format!("{{{i}}}")))
        .count()
}

/// A change made to the response of a rewritten question.
#[derive(Clone, Debug)]
pub enum ResponseRule {
    /// Owner names that match are rewritten (`answer name`, `answer auto`, an `exact` rule).
    Owner(NameMatch, String),
    /// Names in the data (CNAME, DNAME, NS, MX, SRV, NAPTR, SOA's MNAME) that match are rewritten
    /// (`answer value`, `answer auto`).
    Value(NameMatch, String),
    /// TTLs are set into the range.
    Ttl {
        /// The lowest TTL.
        min: u32,
        /// The highest TTL.
        max: u32,
    },
    /// A response with rcode `from` gets `to`.
    Rcode {
        /// The rcode changed.
        from: ResponseCode,
        /// What it becomes.
        to: ResponseCode,
    },
}

impl ResponseRule {
    /// Apply to every record of the three sections, and to the rcode.
    pub fn apply(&self, rcode: &mut ResponseCode, sections: [&mut Vec<Record>; 3]) {
        if let ResponseRule::Rcode { from, to } = self {
            if rcode == from {
                *rcode = *to;
            }
            return;
        }
        for records in sections {
            for record in records.iter_mut() {
                self.apply_to(record);
            }
        }
    }

    fn apply_to(&self, record: &mut Record) {
        match self {
            ResponseRule::Owner(matcher, to) => {
                if let Some(name) = rewritten(matcher, &record.name, to) {
                    record.name = name;
                }
            }
            ResponseRule::Value(matcher, to) => {
                if let Some(target) = target_of(&mut record.data)
                    && let Some(name) = rewritten(matcher, target, to)
                {
                    *target = name;
                }
            }
            ResponseRule::Ttl { min, max } => record.ttl = record.ttl.clamp(*min, *max),
            ResponseRule::Rcode { .. } => {}
        }
    }
}

/// `name` rewritten by `matcher` to `to`, when it matches and the result is a name.
fn rewritten(matcher: &NameMatch, name: &Name, to: &str) -> Option<Name> {
    let new = with_name_text(name, |text| matcher.rewrite(text, to))?;
    Name::from_ascii(&new).ok()
}

/// The name a record's data points at, for the types CoreDNS rewrites.
fn target_of(data: &mut RData) -> Option<&mut Name> {
    match data {
        RData::CNAME(cname) => Some(&mut cname.0),
        RData::NS(ns) => Some(&mut ns.0),
        RData::PTR(ptr) => Some(&mut ptr.0),
        RData::MX(mx) => Some(&mut mx.exchange),
        RData::SRV(srv) => Some(&mut srv.target),
        RData::SOA(soa) => Some(&mut soa.mname),
        RData::NAPTR(naptr) => Some(&mut naptr.replacement),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME};

    #[test]
    fn each_match_type() {
        let name = "ftp.service.us-west-1.example.org.";
        assert_eq!(
            NameMatch::Substring("service.us-west-1.example.org.".into())
                .rewrite(name, "service.us-west-1.consul."),
            Some("ftp.service.us-west-1.consul.".into())
        );
        assert_eq!(
            NameMatch::Suffix(".example.org.".into()).rewrite(name, ".example.net."),
            Some("ftp.service.us-west-1.example.net.".into())
        );
        assert_eq!(
            NameMatch::Prefix("ftp.".into()).rewrite(name, "www."),
            Some("www.service.us-west-1.example.org.".into())
        );
        assert_eq!(NameMatch::Exact("a.".into()).rewrite(name, "b."), None);
        let regex = Regex::new(r"(.*)-(us-west-1)\.example\.org").expect("regex");
        assert_eq!(
            NameMatch::Regex(regex).rewrite("ftp-us-west-1.example.org.", "{1}.service.{2}.consul."),
            Some("ftp.service.us-west-1.consul.".into())
        );
        assert_eq!(groups_used("{1}.service.{2}.consul."), 2);
    }

    #[test]
    fn response_rules_rewrite_owners_values_ttls_and_rcodes() {
        let owner = Name::from_ascii("web.default.svc.cluster.local.").expect("name");
        let mut answers = vec![
            Record::from_rdata(
                owner.clone(),
                5,
                RData::CNAME(CNAME(Name::from_ascii("x.default.svc.cluster.local.").expect("n"))),
            ),
            Record::from_rdata(owner, 5, RData::A(A::new(10, 0, 0, 1))),
        ];
        let regex = Regex::new(r"(.*)\.default\.svc\.cluster\.local").expect("regex");
        let mut rcode = ResponseCode::NXDomain;
        for rule in [
            ResponseRule::Owner(NameMatch::Regex(regex.clone()), "{1}.example.com.".into()),
            ResponseRule::Value(NameMatch::Regex(regex), "{1}.example.com.".into()),
            ResponseRule::Ttl { min: 30, max: 60 },
            ResponseRule::Rcode {
                from: ResponseCode::NXDomain,
                to: ResponseCode::NoError,
            },
        ] {
            rule.apply(&mut rcode, [&mut answers, &mut Vec::new(), &mut Vec::new()]);
        }
        let texts: Vec<String> = answers.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "web.example.com. 30 IN CNAME x.example.com.",
                "web.example.com. 30 IN A 10.0.0.1"
            ]
        );
        assert_eq!(rcode, ResponseCode::NoError);
    }
}
