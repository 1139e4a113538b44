//! Tokens → server blocks: snippets and `import`, then keys and nested directive blocks.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::lexer::{Token, tokenize};
use super::{ConfigError, Directive, MAX_NESTING, MAX_TOKENS, RawServerBlock, read_text};

/// How deep imports may nest before we call it a cycle.
const MAX_IMPORT_DEPTH: usize = 10;

/// Files `import` may read in one Corefile, counted every time one is imported: a glob over a
/// large tree, or files that import each other twice, stop here with one error.
const MAX_IMPORTED_FILES: usize = 1_000;

/// Expands snippets and imports into one flat token stream.
struct Expander {
    snippets: HashMap<String, Vec<Token>>,
    errors: Vec<ConfigError>,
    /// Tokens expanded so far: each snippet or file counts every time it is imported, and
    /// each file at least 1 ([`MAX_TOKENS`] at most).
    spent: usize,
    /// Set once `spent` passes [`MAX_TOKENS`]: every expansion stops, and the outermost
    /// `import` reports it.
    exhausted: bool,
    /// The import cycle error was reported (once is enough).
    cycle_reported: bool,
    /// Files read so far ([`MAX_IMPORTED_FILES`] at most).
    files: usize,
    /// `exhausted` by the file count, already reported.
    files_reported: bool,
}

impl Expander {
    /// Count `n` more tokens; false once past [`MAX_TOKENS`].
    fn spend(&mut self, n: usize) -> bool {
        self.spent = self.spent.saturating_add(n);
        self.exhausted |= self.spent > MAX_TOKENS;
        !self.exhausted
    }

    fn expand(&mut self, tokens: Vec<Token>, base_dir: &Path, depth: usize) -> Vec<Token> {
        let mut out = Vec::with_capacity(tokens.len());
        let mut braces = 0usize;
        let mut i = 0;
        while i < tokens.len() {
            let token = &tokens[i];
            if braces == 0
                && token.line_start
                && is_snippet_name(token)
                && tokens.get(i + 1).is_some_and(Token::is_open)
            {
                {
                    match matching_close(&tokens, i + 1) {
                        Some(close) => {
                            let name = token.text[1..token.text.len() - 1].to_string();
                            self.snippets.insert(name, tokens[i + 2..close].to_vec());
                            i = close + 1;
                        }
                        None => {
                            self.errors
                                .push(ConfigError::at(token, "snippet has no closing '}'"));
                            i = tokens.len();
                        }
                    }
                    continue;
                }
            }
            if token.line_start && !token.quoted && token.text == "import" {
                let line_end = tokens[i + 1..]
                    .iter()
                    .position(|t| t.line_start || t.is_open() || t.is_close())
                    .map_or(tokens.len(), |p| i + 1 + p);
                let args = &tokens[i + 1..line_end];
                if args.len() != 1 {
                    self.errors.push(ConfigError::at(
                        token,
                        "import takes exactly one argument: a snippet name or a file glob",
                    ));
                } else if depth >= MAX_IMPORT_DEPTH {
                    // Once: a file or snippet that imports itself twice would report it at
                    // every leaf of the tree (found by the corefile fuzz target).
                    if !self.cycle_reported {
                        self.cycle_reported = true;
                        self.errors.push(ConfigError::at(
                            token,
                            format!("imports nest deeper than {MAX_IMPORT_DEPTH}: import cycle?"),
                        ));
                    }
                } else {
                    let imported = self.import(&args[0], base_dir, depth);
                    if self.exhausted {
                        if depth == 0 && !self.files_reported {
                            self.errors.push(ConfigError::at(
                                token,
                                format!(
                                    "import {}: more than {MAX_TOKENS} tokens once snippets and imports are expanded",
                                    args[0].text
                                ),
                            ));
                        }
                        return Vec::new();
                    }
                    out.extend(imported);
                }
                i = line_end;
                continue;
            }
            if token.is_open() {
                braces += 1;
            } else if token.is_close() {
                braces = braces.saturating_sub(1);
            }
            out.push(token.clone());
            i += 1;
        }
        out
    }

    fn import(&mut self, arg: &Token, base_dir: &Path, depth: usize) -> Vec<Token> {
        if let Some(len) = self.snippets.get(&arg.text).map(Vec::len) {
            // Counted before the copy: the budget bounds the memory and the time.
            if !self.spend(len.max(1)) {
                return Vec::new();
            }
            let snippet = self.snippets.get(&arg.text).cloned().unwrap_or_default();
            let mut tokens = self.expand(snippet, base_dir, depth + 1);
            if let Some(first) = tokens.first_mut() {
                first.line_start = true;
            }
            return tokens;
        }
        let pattern = if Path::new(&arg.text).is_absolute() {
            arg.text.clone()
        } else {
            base_dir.join(&arg.text).display().to_string()
        };
        let paths = match glob::glob(&pattern) {
            Ok(paths) => paths.filter_map(Result::ok),
            Err(e) => {
                self.errors
                    .push(ConfigError::at(arg, format!("import {}: {e}", arg.text)));
                return Vec::new();
            }
        };
        let is_glob = arg.text.contains(['*', '?', '[']);
        let mut found = false;
        let mut out = Vec::new();
        for path in paths {
            found = true;
            if !self.spend(1) {
                return Vec::new();
            }
            self.files += 1;
            if self.files > MAX_IMPORTED_FILES {
                self.exhausted = true;
                self.files_reported = true;
                self.errors.push(ConfigError::at(
                    arg,
                    format!(
                        "import {}: imports read more than {MAX_IMPORTED_FILES} files: does a file import itself more than once?",
                        arg.text
                    ),
                ));
                return Vec::new();
            }
            let file: Arc<str> = Arc::from(path.display().to_string());
            let text = match read_text(&path, true) {
                Ok(text) => text,
                Err(e) => {
                    self.errors.push(ConfigError::at(
                        arg,
                        format!("import {}: {e}", path.display()),
                    ));
                    continue;
                }
            };
            match tokenize(&file, &text) {
                Ok(tokens) => {
                    if !self.spend(tokens.len()) {
                        return Vec::new();
                    }
                    let dir = path.parent().unwrap_or(base_dir).to_path_buf();
                    out.extend(self.expand(tokens, &dir, depth + 1));
                    if self.exhausted {
                        return Vec::new();
                    }
                }
                Err(e) => self.errors.push(e),
            }
        }
        if !found && !is_glob {
            self.errors.push(ConfigError::at(
                arg,
                format!(
                    "import {}: no snippet of that name and no such file",
                    arg.text
                ),
            ));
        }
        out
    }
}

fn is_snippet_name(token: &Token) -> bool {
    !token.quoted
        && token.text.len() > 2
        && token.text.starts_with('(')
        && token.text.ends_with(')')
}

/// The index of the `}` matching the `{` at `open`.
fn matching_close(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        if t.is_open() {
            depth += 1;
        } else if t.is_close() {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

/// Parse Corefile `text` (from `file`) into raw server blocks, collecting every error: the
/// blocks are what could be made of the text even when there are errors, so that the
/// directives' own errors can be reported beside the syntax errors.
pub fn parse_text(
    file: &str,
    text: &str,
    base_dir: &Path,
) -> (Vec<RawServerBlock>, Vec<ConfigError>) {
    let file: Arc<str> = Arc::from(file);
    let tokens = match tokenize(&file, text) {
        Ok(tokens) => tokens,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut expander = Expander {
        snippets: HashMap::new(),
        errors: Vec::new(),
        spent: tokens.len(),
        exhausted: false,
        cycle_reported: false,
        files: 0,
        files_reported: false,
    };
    let tokens = expander.expand(tokens, base_dir, 0);
    let mut errors = expander.errors;
    let opens = tokens.iter().filter(|t| t.is_open()).count();
    let closes = tokens.iter().filter(|t| t.is_close()).count();
    let mut parser = Parser {
        tokens: &tokens,
        pos: 0,
        errors: &mut errors,
        unclosed: opens.saturating_sub(closes),
    };
    let blocks = parser.server_blocks(&file);
    (blocks, errors)
}

struct Parser<'t, 'e> {
    tokens: &'t [Token],
    pos: usize,
    errors: &'e mut Vec<ConfigError>,
    /// How many `{` have no `}`: that many blocks may end where their indentation does, so
    /// that a missing `}` costs one error, not the meaning of everything after it.
    unclosed: usize,
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn server_blocks(&mut self, file: &Arc<str>) -> Vec<RawServerBlock> {
        let mut blocks = Vec::new();
        while let Some(first) = self.peek().cloned() {
            if first.is_open() || first.is_close() {
                self.errors.push(ConfigError::at(
                    &first,
                    format!(
                        "unexpected '{}': expected server block keys such as .:53",
                        first.text
                    ),
                ));
                self.pos += 1;
                continue;
            }
            // Keys: words (or comma-separated lists) up to the opening brace.
            let mut keys = Vec::new();
            while let Some(t) = self.peek() {
                if t.is_open() || (t.line_start && !keys.is_empty() && !ends_with_comma(&keys)) {
                    break;
                }
                keys.push(t.clone());
                self.pos += 1;
            }
            let keys: Vec<Token> = keys
                .into_iter()
                .flat_map(|t| {
                    t.text
                        .split(',')
                        .filter(|k| !k.is_empty())
                        .map(|k| Token {
                            text: k.to_string(),
                            ..t.clone()
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let directives = if self.peek().is_some_and(Token::is_open) {
                self.pos += 1;
                let (body, ended) = self.directives(1, Some(first.column));
                if !ended && self.peek().is_some_and(Token::is_close) {
                    self.pos += 1;
                } else {
                    self.errors
                        .push(ConfigError::at(&first, "server block has no closing '}'"));
                }
                body
            } else if blocks.is_empty() {
                // A Corefile may hold one server block without braces: the rest is its body.
                let (body, _) = self.directives(0, None);
                if let Some(t) = self.peek().cloned() {
                    self.errors.push(ConfigError::at(
                        &t,
                        "unexpected '}': a server block without braces must be the only one",
                    ));
                    self.pos = self.tokens.len();
                }
                body
            } else {
                self.errors.push(ConfigError::at(
                    &first,
                    "expected '{' after the server block keys",
                ));
                Vec::new()
            };
            blocks.push(RawServerBlock {
                keys,
                directives,
                file: file.clone(),
                line: first.line,
            });
        }
        blocks
    }

    /// Directives until a `}` (not consumed) or the end, inside `depth` blocks, the innermost
    /// opened by a line at column `opener`. Blocks deeper than [`MAX_NESTING`] are an error and
    /// skipped, so the recursion is bounded. With it, whether the block ended without its `}`
    /// (see [`Parser::ends_unclosed_block`]).
    fn directives(&mut self, depth: usize, opener: Option<u32>) -> (Vec<Directive>, bool) {
        let mut out = Vec::new();
        let mut body_column = None;
        while let Some(name) = self.peek().cloned() {
            if self.ends_unclosed_block(&name, opener, body_column) {
                return (out, true);
            }
            if name.is_close() {
                break;
            }
            if name.line_start && body_column.is_none() {
                body_column = Some(name.column);
            }
            if name.is_open() {
                self.errors.push(ConfigError::at(
                    &name,
                    "unexpected '{': expected a directive name",
                ));
                self.pos += 1;
                continue;
            }
            self.pos += 1;
            let mut args = Vec::new();
            while let Some(t) = self.peek() {
                if t.line_start || t.is_open() || t.is_close() {
                    break;
                }
                args.push(t.clone());
                self.pos += 1;
            }
            let mut block = Vec::new();
            let mut has_block = false;
            if self.peek().is_some_and(|t| t.is_open() && !t.line_start) {
                self.pos += 1;
                has_block = true;
                let mut ended = false;
                if depth < MAX_NESTING {
                    (block, ended) = self.directives(depth + 1, Some(name.column));
                } else {
                    self.errors.push(ConfigError::at(
                        &name,
                        format!("blocks nest deeper than {MAX_NESTING}"),
                    ));
                    self.skip_block();
                }
                if !ended && self.peek().is_some_and(Token::is_close) {
                    self.pos += 1;
                } else {
                    self.errors.push(ConfigError::at(
                        &name,
                        format!("block of '{}' has no closing '}}'", name.text),
                    ));
                }
            }
            out.push(Directive {
                name,
                args,
                block,
                has_block,
            });
        }
        (out, false)
    }

    /// Whether `token` ends the block opened at column `opener` (whose lines start at
    /// `body_column`) that has no `}`: only while some `{` lacks its `}`, a line less indented
    /// than the block's lines and no more than its opener (a `}` left of the opener) belongs to
    /// an outer block. A Corefile whose braces balance is read by its braces alone.
    fn ends_unclosed_block(
        &mut self,
        token: &Token,
        opener: Option<u32>,
        body_column: Option<u32>,
    ) -> bool {
        let Some(opener) = opener else {
            return false;
        };
        if self.unclosed == 0 || !token.line_start {
            return false;
        }
        let ends = if token.is_close() {
            token.column < opener
        } else {
            token.column <= opener && body_column.is_some_and(|body| token.column < body)
        };
        if ends {
            self.unclosed -= 1;
        }
        ends
    }

    /// Skip to the `}` (not consumed) that closes the block just opened, or to the end.
    fn skip_block(&mut self) {
        let mut open = 0usize;
        while let Some(t) = self.peek() {
            if t.is_close() {
                if open == 0 {
                    return;
                }
                open -= 1;
            } else if t.is_open() {
                open += 1;
            }
            self.pos += 1;
        }
    }
}

fn ends_with_comma(keys: &[Token]) -> bool {
    keys.last().is_some_and(|k| k.text.ends_with(','))
}
