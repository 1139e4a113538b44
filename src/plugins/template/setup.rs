//! Parsing of `template CLASS TYPE [ZONE…] { match REGEX…; answer|additional|authority RR;
//! rcode CODE; fallthrough [ZONE…]; upstream }`.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use regex::Regex;

use super::engine::Template;
use crate::config::{Args, ConfigError, Directive, Fallthrough};
use crate::plugin::{Setup, parsed_all};

/// A record section a template writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// `answer`.
    Answer,
    /// `additional`.
    Additional,
    /// `authority`.
    Authority,
}

impl Section {
    /// The name in the Corefile and in the metrics' `section` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Answer => "answer",
            Section::Additional => "additional",
            Section::Authority => "authority",
        }
    }
}

/// One record template: its section, its text as written (the metrics' `template` label), and
/// the parsed template.
#[derive(Clone, Debug)]
pub struct RecordTemplate {
    /// Where the record goes.
    pub section: Section,
    /// The text as written.
    pub source: String,
    /// The parsed template.
    pub template: Template,
}

/// One `template` directive.
#[derive(Clone, Debug)]
pub struct TemplateConfig {
    /// CLASS (`ANY` matches every class).
    pub class: DNSClass,
    /// TYPE (`ANY` matches every type).
    pub qtype: RecordType,
    /// ZONE… (default: the server block's).
    pub zones: Vec<Name>,
    /// `match REGEX…` (default `.*`), tried in order against the lower-case question name.
    pub regexes: Vec<Regex>,
    /// `answer`, `additional` and `authority` records, in the order written.
    pub records: Vec<RecordTemplate>,
    /// `rcode` (default NOERROR).
    pub rcode: ResponseCode,
    /// `fallthrough [ZONE…]`: a name of the zones that no regex matches goes on.
    pub fallthrough: Fallthrough,
}

/// The registry's entry point.
pub fn parse(d: &Directive, zones: &[Name]) -> Result<Box<dyn Setup>, Vec<ConfigError>> {
    parsed_all(config(d, zones))
}

/// Parse one `template` directive of a block serving `block_zones`, with every error found.
pub fn config(d: &Directive, block_zones: &[Name]) -> Result<TemplateConfig, Vec<ConfigError>> {
    let args = Args::new(d);
    let mut errors = Vec::new();
    let texts = args.texts();
    let (class, qtype) = match texts.as_slice() {
        [class, qtype, ..] => (
            class_named(class).ok_or_else(|| args.error(format!("invalid query class {class:?}"))),
            qtype
                .parse::<RecordType>()
                .ok()
                .filter(|t| !matches!(t, RecordType::Unknown(_)))
                .ok_or_else(|| args.error(format!("invalid RR type {qtype:?}"))),
        ),
        _ => {
            return Err(vec![args.error("takes CLASS TYPE [ZONE...]")]);
        }
    };
    let class = class.unwrap_or_else(|e| {
        errors.push(e);
        DNSClass::ANY
    });
    let qtype = qtype.unwrap_or_else(|e| {
        errors.push(e);
        RecordType::ANY
    });
    let zones = template_zones(&args, block_zones).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    let mut config = TemplateConfig {
        class,
        qtype,
        zones,
        regexes: Vec::new(),
        records: Vec::new(),
        rcode: ResponseCode::NoError,
        fallthrough: Fallthrough::Off,
    };
    for option in args.properties() {
        if let Err(e) = read_option(&option, &mut config) {
            errors.push(e);
        }
    }
    if config.regexes.is_empty() {
        config.regexes.push(Regex::new(".*").expect("a valid regex"));
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

fn read_option(option: &Args<'_>, config: &mut TemplateConfig) -> Result<(), ConfigError> {
    let section = match option.name() {
        "match" => {
            if option.texts().is_empty() {
                return Err(option.error("match takes REGEX..."));
            }
            for text in option.texts() {
                let regex = Regex::new(text).map_err(|e| {
                    option.error(format!("could not parse regex {text:?}: {}", first_line(&e)))
                })?;
                config.regexes.push(regex);
            }
            return Ok(());
        }
        "rcode" => {
            let text = option.one()?;
            config.rcode = rcode_named(text)
                .ok_or_else(|| option.error(format!("unknown rcode {text:?}")))?;
            return Ok(());
        }
        "fallthrough" => {
            config.fallthrough = option.fallthrough()?;
            return Ok(());
        }
        "upstream" => {
            // A CNAME answer is always followed (as in CoreDNS, where `upstream` is a
            // leftover that takes any arguments and changes nothing).
            return Ok(());
        }
        "answer" => Section::Answer,
        "additional" => Section::Additional,
        "authority" => Section::Authority,
        "ederror" => {
            return Err(option.error(
                "ederror (extended DNS errors, RFC 8914) is not supported by this build",
            ));
        }
        _ => {
            return Err(option.unknown_property(
                "match, answer, additional, authority, rcode, fallthrough, upstream",
            ));
        }
    };
    if option.texts().is_empty() {
        return Err(option.error(format!("{} takes RR...", section.as_str())));
    }
    for text in option.texts() {
        let template = Template::parse(text).map_err(|e| {
            option.error(format!("could not compile template {text:?}: {e}"))
        })?;
        config.records.push(RecordTemplate {
            section,
            source: text.to_string(),
            template,
        });
    }
    Ok(())
}

/// ZONE… after CLASS and TYPE (a quoted argument may hold several, as CoreDNS splits them), or
/// the block's zones.
fn template_zones(args: &Args<'_>, block_zones: &[Name]) -> Result<Vec<Name>, ConfigError> {
    let written: Vec<&str> = args
        .texts()
        .into_iter()
        .skip(2)
        .flat_map(|text| text.trim_matches(['\'', '"']).split_whitespace())
        .collect();
    if written.is_empty() {
        return Ok(block_zones.to_vec());
    }
    written.into_iter().map(|zone| args.zone(zone)).collect()
}

fn first_line(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A class by its mnemonic (`IN`, `CH`, `HS`, `NONE`, `ANY`), as miekg/dns's StringToClass.
fn class_named(text: &str) -> Option<DNSClass> {
    match text {
        "IN" => Some(DNSClass::IN),
        "CH" | "CS" => Some(DNSClass::CH),
        "HS" => Some(DNSClass::HS),
        "NONE" => Some(DNSClass::NONE),
        "ANY" => Some(DNSClass::ANY),
        _ => None,
    }
}

/// An rcode by its miekg/dns name (`NOERROR`, `NXDOMAIN`, `SERVFAIL`, …).
pub fn rcode_named(text: &str) -> Option<ResponseCode> {
    Some(match text {
        "NOERROR" => ResponseCode::NoError,
        "FORMERR" => ResponseCode::FormErr,
        "SERVFAIL" => ResponseCode::ServFail,
        "NXDOMAIN" => ResponseCode::NXDomain,
        "NOTIMP" => ResponseCode::NotImp,
        "REFUSED" => ResponseCode::Refused,
        "YXDOMAIN" => ResponseCode::YXDomain,
        "YXRRSET" => ResponseCode::YXRRSet,
        "NXRRSET" => ResponseCode::NXRRSet,
        "NOTAUTH" => ResponseCode::NotAuth,
        "NOTZONE" => ResponseCode::NotZone,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Corefile;
    use std::path::Path;

    fn parse_block(text: &str) -> Result<TemplateConfig, Vec<ConfigError>> {
        let core = Corefile::parse("Corefile", &format!(".:53 {{\n{text}\n}}\n"), Path::new("."))
            .expect("syntax");
        let zones = vec![Name::root()];
        config(&core.blocks[0].directives[0], &zones)
    }

    #[test]
    fn the_aks_templates_parse() {
        let deep = parse_block(
            "template ANY ANY internal.cloudapp.net {\n  match \"^(?:[^.]+\\.){4,}internal\\.cloudapp\\.net\\.$\"\n  rcode NXDOMAIN\n  fallthrough\n}",
        )
        .expect("valid");
        assert_eq!(deep.class, DNSClass::ANY);
        assert_eq!(deep.qtype, RecordType::ANY);
        assert_eq!(deep.zones[0].to_ascii(), "internal.cloudapp.net.");
        assert_eq!(deep.rcode, ResponseCode::NXDomain);
        assert_eq!(deep.fallthrough, Fallthrough::All);
        assert!(deep.regexes[0].is_match("a.b.c.d.internal.cloudapp.net."));
        let all = parse_block("template ANY ANY reddog.microsoft.com {\n  rcode NXDOMAIN\n}")
            .expect("valid");
        assert_eq!(all.regexes[0].as_str(), ".*");
        let filter = parse_block("template IN AAAA {\n  rcode NOERROR\n}").expect("valid");
        assert_eq!(filter.zones, [Name::root()]);
        assert_eq!(filter.qtype, RecordType::AAAA);
    }

    #[test]
    fn records_and_quoted_zone_lists() {
        let c = parse_block(
            "template IN A \"example.org example.com\" {\n  answer \"{{ .Name }} 60 IN A 192.0.2.1\" \"{{ .Name }} 60 IN A 192.0.2.2\"\n  additional \"ns.example.org. 60 IN A 192.0.2.9\"\n  upstream\n}",
        )
        .expect("valid");
        let zones: Vec<String> = c.zones.iter().map(|z| z.to_ascii()).collect();
        assert_eq!(zones, ["example.org.", "example.com."]);
        let sections: Vec<Section> = c.records.iter().map(|r| r.section).collect();
        assert_eq!(
            sections,
            [Section::Answer, Section::Answer, Section::Additional]
        );
    }

    #[test]
    fn bad_arguments_are_errors_at_their_line() {
        for (text, error) in [
            ("template IN", "Corefile:2: template: takes CLASS TYPE [ZONE...]"),
            ("template XX A", "Corefile:2: template: invalid query class \"XX\""),
            ("template IN BOGUS", "Corefile:2: template: invalid RR type \"BOGUS\""),
            (
                "template IN A {\n  match \"(unclosed\"\n}",
                "Corefile:3: template: could not parse regex \"(unclosed\"",
            ),
            (
                "template IN A {\n  answer \"{{ .Name \"\n}",
                "Corefile:3: template: could not compile template",
            ),
            (
                "template IN A {\n  rcode MAYBE\n}",
                "Corefile:3: template: unknown rcode \"MAYBE\"",
            ),
            (
                "template IN A {\n  respond yes\n}",
                "Corefile:3: template: unknown property \"respond\"",
            ),
        ] {
            let errors = parse_block(text).expect_err(text);
            assert!(
                errors[0].to_string().starts_with(error),
                "{text}: {}",
                errors[0]
            );
        }
    }
}
