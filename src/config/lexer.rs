//! Corefile tokens: words separated by blanks, `"quoted strings"`, `# comments`, and `{$ENV}`
//! substitution. Every token remembers its file and line for error messages, and whether it
//! starts a line (a directive's arguments end at the line's end).

use std::sync::Arc;

use super::{ConfigError, MAX_TOKENS};

/// One word of a Corefile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The word, after `{$ENV}` substitution and with quotes removed.
    pub text: String,
    /// The file it came from.
    pub file: Arc<str>,
    /// Its line (1-based).
    pub line: u32,
    /// Whether it was quoted (a quoted `{` is a word, not a block).
    pub quoted: bool,
    /// Whether it is the first token on its line.
    pub line_start: bool,
    /// Its column (0-based; a tab advances to the next multiple of 8): a block's indentation
    /// tells where a missing `}` probably belongs.
    pub column: u32,
}

impl Token {
    /// Whether this token opens a block.
    pub fn is_open(&self) -> bool {
        !self.quoted && self.text == "{"
    }

    /// Whether this token closes a block.
    pub fn is_close(&self) -> bool {
        !self.quoted && self.text == "}"
    }

    /// `FILE:LINE` of the token.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// Replace `{$NAME}` (and CoreDNS's `{%NAME%}`) with the environment variable's value, or with
/// nothing when it is unset.
pub fn substitute_env(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (close, name) = if let Some(body) = after.strip_prefix("{$") {
            (body.find('}').map(|i| i + 3), body.split('}').next())
        } else if let Some(body) = after.strip_prefix("{%") {
            (body.find("%}").map(|i| i + 4), body.split("%}").next())
        } else {
            (None, None)
        };
        match (close, name) {
            (Some(end), Some(name)) if !name.is_empty() => {
                out.push_str(&std::env::var(name).unwrap_or_default());
                rest = &after[end..];
            }
            _ => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Split `text` (the contents of `file`) into tokens; more than [`MAX_TOKENS`] is an error.
pub fn tokenize(file: &Arc<str>, text: &str) -> Result<Vec<Token>, ConfigError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1u32;
    let mut line_start = true;
    let mut column = 0u32;
    while let Some(&c) = chars.peek() {
        if tokens.len() == MAX_TOKENS && !c.is_whitespace() && c != '#' {
            return Err(ConfigError::new(
                file,
                line,
                format!("more than {MAX_TOKENS} tokens"),
            ));
        }
        match c {
            '\n' => {
                chars.next();
                line += 1;
                line_start = true;
                column = 0;
            }
            '\t' => {
                chars.next();
                column = (column / 8 + 1).saturating_mul(8);
            }
            c if c.is_whitespace() => {
                chars.next();
                column = column.saturating_add(1);
            }
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '"' => {
                chars.next();
                let start_line = line;
                let start_column = column;
                column = column.saturating_add(1);
                let mut word = String::new();
                loop {
                    column = column.saturating_add(1);
                    match chars.next() {
                        None => {
                            return Err(ConfigError::new(
                                file,
                                start_line,
                                "unterminated quoted string",
                            ));
                        }
                        Some('"') => break,
                        Some('\\') if matches!(chars.peek(), Some('"') | Some('\\')) => {
                            column = column.saturating_add(1);
                            word.extend(chars.next());
                        }
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                                column = 0;
                            }
                            word.push(c);
                        }
                    }
                }
                tokens.push(Token {
                    text: substitute_env(&word),
                    file: file.clone(),
                    line: start_line,
                    quoted: true,
                    line_start,
                    column: start_column,
                });
                line_start = false;
            }
            _ => {
                let start_column = column;
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                column = column.saturating_add(word.chars().count() as u32);
                tokens.push(Token {
                    text: substitute_env(&word),
                    file: file.clone(),
                    line,
                    quoted: false,
                    line_start,
                    column: start_column,
                });
                line_start = false;
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, u32, bool)> {
        tokenize(&Arc::from("Corefile"), text)
            .expect("lexes")
            .into_iter()
            .map(|t| (t.text, t.line, t.line_start))
            .collect()
    }

    #[test]
    fn comments_blank_lines_and_lines_are_tracked() {
        let w = words("# top\n.:53 {\n\n  log # trailing\n}\n");
        assert_eq!(
            w,
            vec![
                (".:53".into(), 2, true),
                ("{".into(), 2, false),
                ("log".into(), 4, true),
                ("}".into(), 5, true)
            ]
        );
    }

    #[test]
    fn quoted_tokens_keep_blanks_and_escaped_quotes() {
        let tokens = tokenize(
            &Arc::from("f"),
            r#"labels "app in (a, b)" "say \"hi\"" "{""#,
        )
        .expect("lexes");
        assert_eq!(tokens[1].text, "app in (a, b)");
        assert_eq!(tokens[2].text, "say \"hi\"");
        assert!(tokens[3].quoted && !tokens[3].is_open());
    }

    #[test]
    fn unterminated_quote_is_an_error_at_its_line() {
        let err = tokenize(&Arc::from("Corefile"), "a\n\"open\n").unwrap_err();
        assert_eq!(err.to_string(), "Corefile:2: unterminated quoted string");
    }

    #[test]
    fn env_variables_are_substituted_and_unset_ones_vanish() {
        // `std::env::set_var` is unsafe in a multi-threaded test binary: use PATH, which every
        // environment has.
        let home = std::env::var("PATH").unwrap_or_default();
        assert_eq!(substitute_env("x{$PATH}y"), format!("x{home}y"));
        assert_eq!(substitute_env("{%PATH%}"), home);
        assert_eq!(substitute_env("a{$CLUSTERDNS_SURELY_UNSET_VAR}b"), "ab");
        assert_eq!(substitute_env("{ {x}"), "{ {x}");
    }
}
