//! The question name as CoreDNS's plugins match it (`state.Name()`): the lower-case
//! presentation form with the final dot, ASCII only (an IDNA label stays `xn--…`), written into
//! a buffer per thread so that matching a name against a pattern allocates nothing.

use std::cell::RefCell;
use std::fmt::Write as _;

use hickory_proto::rr::Name;

thread_local! {
    /// The text of the name being matched on this thread.
    static NAME_TEXT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `f` of the lower-case presentation of `name` with its final dot.
pub fn with_name_text<T>(name: &Name, f: impl FnOnce(&str) -> T) -> T {
    NAME_TEXT.with(|buffer| match buffer.try_borrow_mut() {
        Ok(mut text) => {
            text.clear();
            write_presentation(name, &mut text);
            f(&text)
        }
        // Re-entered on this thread (a plugin resolving through the server): a buffer of its own.
        Err(_) => {
            let mut text = String::new();
            write_presentation(name, &mut text);
            f(&text)
        }
    })
}

/// `name` as a zone file writes it, lower case, with the final dot: the bytes of each label as
/// ASCII, the characters special in a zone file escaped with `\`, other bytes as `\DDD`
/// (RFC 4343 §2.1, as Go's miekg/dns prints a name).
fn write_presentation(name: &Name, text: &mut String) {
    let mut labels = 0;
    for label in name.iter() {
        labels += 1;
        for &byte in label {
            match byte {
                b'.' | b' ' | b'\'' | b'@' | b';' | b'(' | b')' | b'"' | b'\\' => {
                    text.push('\\');
                    text.push(char::from(byte));
                }
                0x21..=0x7e => text.push(char::from(byte.to_ascii_lowercase())),
                _ => {
                    let _ = write!(text, "\\{byte:03}");
                }
            }
        }
        text.push('.');
    }
    if labels == 0 {
        text.push('.');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::domain::Label;

    #[test]
    fn the_lower_case_name_with_its_dot_even_when_reentered() {
        let name = Name::from_ascii("Web.Default.SVC.cluster.local.").expect("name");
        let outer = with_name_text(&name, |text| {
            let inner = with_name_text(&Name::from_ascii("A.b").expect("name"), str::to_owned);
            format!("{text} {inner}")
        });
        assert_eq!(outer, "web.default.svc.cluster.local. a.b.");
        assert_eq!(with_name_text(&Name::root(), str::to_owned), ".");
    }

    #[test]
    fn idna_labels_stay_ascii_and_special_bytes_are_escaped() {
        let idna = Name::from_ascii("XN--bcher-kva.example.").expect("name");
        assert_eq!(
            with_name_text(&idna, str::to_owned),
            "xn--bcher-kva.example."
        );
        let odd = Name::from_labels([
            Label::from_raw_bytes(b"a.b").expect("label"),
            Label::from_raw_bytes(b"c\x01 ").expect("label"),
        ])
        .expect("name");
        assert_eq!(with_name_text(&odd, str::to_owned), "a\\.b.c\\001\\ .");
    }
}
