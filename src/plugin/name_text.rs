//! The question name as CoreDNS's plugins match it (`state.Name()`): its lower-case
//! presentation with the final dot, written into a buffer per thread so that matching a name
//! against a pattern allocates nothing.

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
            let _ = write!(text, "{name}");
            text.make_ascii_lowercase();
            f(&text)
        }
        // Re-entered on this thread (a plugin resolving through the server): a buffer of its own.
        Err(_) => f(&name.to_lowercase().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_case_name_with_its_dot_even_when_reentered() {
        let name = Name::from_ascii("Web.Default.SVC.cluster.local.").expect("name");
        let outer = with_name_text(&name, |text| {
            let inner = with_name_text(&Name::from_ascii("A.b").expect("name"), str::to_owned);
            format!("{text} {inner}")
        });
        assert_eq!(outer, "web.default.svc.cluster.local. a.b");
    }
}
