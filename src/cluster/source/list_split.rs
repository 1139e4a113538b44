//! Cut a file that holds one block-style `v1 List` (what `kubectl get -o yaml` prints) into its
//! items' texts, so that each item is parsed on its own.
//!
//! A YAML parser holds a whole document's events before it builds a value: for a 3.4 MB List of
//! 21,000 objects that is ~150 MB, and glibc's heap keeps most of it after it is freed. Cut at
//! the item boundaries, the peak is one item. The cut is textual and conservative: it only
//! accepts a file whose top-level lines are plain `key: value` lines, one `items:` line and
//! items starting with `- ` at column 0; anything else (several documents, flow-style `items`,
//! tabs) returns `None` and the caller parses the file as a whole. An item that does not parse
//! on its own (an alias to another item's anchor) is the caller's cue to do the same.

/// The parts of a single-document List file.
#[derive(Debug, PartialEq, Eq)]
pub struct ListParts<'a> {
    /// The top-level lines other than the items (`apiVersion`, `kind`, `metadata`, …), one
    /// YAML mapping.
    pub header: String,
    /// Each item's text, still starting with `- `: each parses as a one-element sequence.
    pub items: Vec<&'a str>,
}

/// Fewer items than this are not worth cutting: the whole document is small.
const MIN_ITEMS: usize = 64;

/// Cut `text` into a List's header and items, or `None` if it is not plainly one List.
pub fn split_list(text: &str) -> Option<ListParts<'_>> {
    let mut header = String::new();
    let mut items: Vec<&str> = Vec::new();
    let mut item_start: Option<usize> = None;
    let mut in_items = false;
    let mut seen_items_key = false;
    let mut seen_content = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare.contains('\t') {
            return None;
        }
        if bare == "---" && !seen_content {
            continue;
        }
        if bare.starts_with("---") || bare.starts_with("...") || bare.starts_with('%') {
            return None;
        }
        let top_level = !bare.is_empty() && !bare.starts_with([' ', '#']);
        if in_items {
            if bare == "-" || bare.starts_with("- ") {
                if let Some(begin) = item_start.replace(start) {
                    items.push(&text[begin..start]);
                }
                continue;
            }
            if !top_level {
                continue;
            }
            if let Some(begin) = item_start.take() {
                items.push(&text[begin..start]);
            }
            in_items = false;
        }
        if top_level {
            seen_content = true;
            if bare.starts_with('-') {
                return None;
            }
            if bare.trim_end() == "items:" {
                if seen_items_key {
                    return None;
                }
                seen_items_key = true;
                in_items = true;
                continue;
            }
        }
        header.push_str(line);
        if !line.ends_with('\n') {
            header.push('\n');
        }
    }
    if let Some(begin) = item_start {
        items.push(&text[begin..]);
    }
    (seen_items_key && items.len() >= MIN_ITEMS).then_some(ListParts { header, items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str], tail: &str) -> String {
        let mut text = String::from("apiVersion: v1\nitems:\n");
        for _ in 0..(MIN_ITEMS / items.len() + 1) {
            for item in items {
                text.push_str(item);
            }
        }
        text.push_str(tail);
        text
    }

    #[test]
    fn kubectl_style_list_is_cut_at_each_item() {
        let item = "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: a\n  spec:\n    ports:\n    - port: 80\n";
        let text = list(&[item], "kind: List\nmetadata:\n  resourceVersion: \"\"\n");
        let parts = split_list(&text).expect("a List");
        assert!(parts.items.len() >= MIN_ITEMS);
        assert!(parts.items.iter().all(|i| *i == item));
        assert_eq!(
            parts.header,
            "apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: \"\"\n"
        );
    }

    #[test]
    fn comments_blank_lines_and_block_scalars_stay_in_their_item() {
        let item = "- kind: ConfigMap\n  data:\n    x: |\n      line one\n\n      - not an item\n# a comment\n";
        let text = list(&[item], "kind: List\n");
        let parts = split_list(&text).expect("a List");
        assert!(parts.items.iter().all(|i| *i == item), "{:?}", parts.items);
    }

    #[test]
    fn anything_but_one_plain_list_is_left_whole() {
        let item = "- {kind: Namespace}\n";
        assert!(split_list(&list(&[item], "kind: List\n---\nkind: List\n")).is_none());
        assert!(split_list("apiVersion: v1\nkind: List\nitems: []\n").is_none());
        assert!(split_list(&list(&[item], "items:\n- {}\n")).is_none());
        assert!(split_list(&list(&["-\tkind: x\n"], "")).is_none());
        // Too few items to be worth it.
        assert!(split_list("kind: List\nitems:\n- {kind: Namespace}\n").is_none());
    }

    #[test]
    fn a_leading_document_marker_is_allowed() {
        let text = format!("---\n{}", list(&["- {kind: Namespace}\n"], "kind: List"));
        let parts = split_list(&text).expect("a List");
        assert_eq!(parts.header, "apiVersion: v1\nkind: List\n");
    }
}
