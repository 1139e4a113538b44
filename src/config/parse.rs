//! Tokens → server blocks: snippets and `import`, then keys and nested directive blocks.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::lexer::{Token, tokenize};
use super::{ConfigError, Directive, RawServerBlock};

/// How deep imports may nest before we call it a cycle.
const MAX_IMPORT_DEPTH: usize = 10;

/// The most tokens the expansion of snippets and imports may walk through. A snippet or file
/// that imports itself more than once multiplies at every level: 8 imports of itself, nested
/// 10 deep, would be 8^10 copies. A real Corefile has hundreds of tokens.
const MAX_EXPANDED_TOKENS: usize = 100_000;

/// The most files the imports of one Corefile may read (for the same reason, with globs).
const MAX_IMPORTED_FILES: usize = 1_000;

/// Expands snippets and imports into one flat token stream.
struct Expander {
    snippets: HashMap<String, Vec<Token>>,
    errors: Vec<ConfigError>,
    /// Tokens walked through so far, over every file and snippet.
    tokens: usize,
    /// Files read so far.
    files: usize,
    /// A limit was reached: the error is reported and nothing more is expanded.
    exhausted: bool,
}

impl Expander {
    /// Stop expanding, with one error at `token`.
    fn exhaust(&mut self, token: &Token, message: String) {
        if !self.exhausted {
            self.exhausted = true;
            self.errors.push(ConfigError::at(token, message));
        }
    }

    fn expand(&mut self, tokens: Vec<Token>, base_dir: &Path, depth: usize) -> Vec<Token> {
        let mut out = Vec::with_capacity(tokens.len());
        let mut braces = 0usize;
        let mut i = 0;
        while i < tokens.len() && !self.exhausted {
            let token = &tokens[i];
            self.tokens += 1;
            if self.tokens > MAX_EXPANDED_TOKENS {
                self.exhaust(
                    token,
                    format!(
                        "snippets and imports expand to more than {MAX_EXPANDED_TOKENS} tokens: \
                         does something import itself more than once?"
                    ),
                );
                break;
            }
            let line_end = tokens[i + 1..]
                .iter()
                .position(|t| t.line_start || t.is_open() || t.is_close())
                .map_or(tokens.len(), |p| i + 1 + p);
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
                let args = &tokens[i + 1..line_end];
                if args.len() != 1 {
                    self.errors.push(ConfigError::at(
                        token,
                        "import takes exactly one argument: a snippet name or a file glob",
                    ));
                } else if depth >= MAX_IMPORT_DEPTH {
                    // Once: a file or snippet that imports itself twice would report it at
                    // every leaf of the tree.
                    self.exhaust(
                        token,
                        format!("imports nest deeper than {MAX_IMPORT_DEPTH}: import cycle?"),
                    );
                } else {
                    let imported = self.import(&args[0], base_dir, depth);
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
        if let Some(snippet) = self.snippets.get(&arg.text).cloned() {
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
            Ok(paths) => paths.filter_map(Result::ok).collect::<Vec<_>>(),
            Err(e) => {
                self.errors
                    .push(ConfigError::at(arg, format!("import {}: {e}", arg.text)));
                return Vec::new();
            }
        };
        let is_glob = arg.text.contains(['*', '?', '[']);
        if paths.is_empty() && !is_glob {
            self.errors.push(ConfigError::at(
                arg,
                format!(
                    "import {}: no snippet of that name and no such file",
                    arg.text
                ),
            ));
        }
        let mut out = Vec::new();
        for path in paths {
            if self.exhausted {
                break;
            }
            self.files += 1;
            if self.files > MAX_IMPORTED_FILES {
                self.exhaust(
                    arg,
                    format!(
                        "imports read more than {MAX_IMPORTED_FILES} files: \
                         does a file import itself more than once?"
                    ),
                );
                break;
            }
            let file: Arc<str> = Arc::from(path.display().to_string());
            let text = match std::fs::read_to_string(&path) {
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
                    let dir = path.parent().unwrap_or(base_dir).to_path_buf();
                    out.extend(self.expand(tokens, &dir, depth + 1));
                }
                Err(e) => self.errors.push(e),
            }
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

/// Parse Corefile `text` (from `file`) into raw server blocks, collecting every error.
pub fn parse_text(
    file: &str,
    text: &str,
    base_dir: &Path,
) -> Result<Vec<RawServerBlock>, Vec<ConfigError>> {
    let file: Arc<str> = Arc::from(file);
    let tokens = tokenize(&file, text).map_err(|e| vec![e])?;
    let mut expander = Expander {
        snippets: HashMap::new(),
        errors: Vec::new(),
        tokens: 0,
        files: 0,
        exhausted: false,
    };
    let tokens = expander.expand(tokens, base_dir, 0);
    if expander.exhausted {
        // The expansion stopped part way: what follows would only be errors of a cut text.
        return Err(expander.errors);
    }
    let mut errors = expander.errors;
    let mut parser = Parser {
        tokens: &tokens,
        pos: 0,
        errors: &mut errors,
    };
    let blocks = parser.server_blocks(&file);
    if errors.is_empty() {
        Ok(blocks)
    } else {
        Err(errors)
    }
}

struct Parser<'t, 'e> {
    tokens: &'t [Token],
    pos: usize,
    errors: &'e mut Vec<ConfigError>,
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
                let body = self.directives();
                if self.peek().is_some_and(Token::is_close) {
                    self.pos += 1;
                } else {
                    self.errors
                        .push(ConfigError::at(&first, "server block has no closing '}'"));
                }
                body
            } else if blocks.is_empty() {
                // A Corefile may hold one server block without braces: the rest is its body.
                let body = self.directives();
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

    /// Directives until a `}` (not consumed) or the end.
    fn directives(&mut self) -> Vec<Directive> {
        let mut out = Vec::new();
        while let Some(name) = self.peek().cloned() {
            if name.is_close() {
                break;
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
                block = self.directives();
                if self.peek().is_some_and(Token::is_close) {
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
        out
    }
}

fn ends_with_comma(keys: &[Token]) -> bool {
    keys.last().is_some_and(|k| k.text.ends_with(','))
}
