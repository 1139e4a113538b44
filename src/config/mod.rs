//! The Corefile: CoreDNS's configuration syntax, parsed into server blocks of directives.
//!
//! This module only reads text: it knows no sockets and no cluster. Each plugin parses its own
//! directive (see [`crate::plugins`]). Every error names `FILE:LINE`, and all errors are
//! reported at once.
//!
//! Syntax: server blocks `ZONE[ ZONE...][:PORT] { directive args { sub-block } }`,
//! `# comments`, `"quoted tokens"`, `{$ENV}` substitution, `(snippet) { ... }` with
//! `import snippet`, and `import GLOB` (relative to the importing file).

pub mod args;
pub mod keys;
pub mod lexer;
mod parse;
pub mod resolv_conf;

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

pub use args::{Args, Cidr, DurationError, Fallthrough, HttpListen, parse_duration};
pub use keys::ServerKey;
pub use keys::fqdn;
pub use lexer::Token;

/// The most bytes read from the Corefile and from each file it imports (1 MiB, all that a
/// ConfigMap holds); a larger file is an error.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// The most tokens (words and braces) a Corefile may come to once its snippets and imports are
/// expanded. Each expansion counts anew, and so does each imported file, even an empty one.
pub const MAX_TOKENS: usize = 100_000;

/// How deep `{ }` blocks may nest, the server block's own braces included.
pub const MAX_NESTING: usize = 100;

/// One configuration error at `FILE:LINE`.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    /// The file.
    pub file: Arc<str>,
    /// The line (1-based).
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error at `file:line`.
    pub fn new(file: &Arc<str>, line: u32, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.clone(),
            line,
            message: message.into(),
        }
    }

    /// An error at `token`'s position.
    pub fn at(token: &Token, message: impl Into<String>) -> ConfigError {
        ConfigError::new(&token.file, token.line, message)
    }
}

/// Why a Corefile, or a file it imports, could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    /// Opening or reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A FIFO, a device, a directory…: opening it may block, and reading it may never end.
    #[error("not a regular file")]
    NotAFile,
    /// More than [`MAX_FILE_BYTES`].
    #[error("larger than {MAX_FILE_BYTES} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("not UTF-8 text")]
    NotText,
}

/// The bytes of `path`, at most [`MAX_FILE_BYTES`] of them. With `regular_only`, anything but a
/// regular file (after symlinks) is refused before it is opened: opening a FIFO blocks.
pub fn read_bytes(path: &Path, regular_only: bool) -> Result<Vec<u8>, ReadError> {
    if regular_only && !std::fs::metadata(path)?.is_file() {
        return Err(ReadError::NotAFile);
    }
    let file = std::fs::File::open(path)?;
    // The path may have been swapped between the check and the open.
    if regular_only && !file.metadata()?.is_file() {
        return Err(ReadError::NotAFile);
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

/// The text of `path`, read as [`read_bytes`] does.
pub fn read_text(path: &Path, regular_only: bool) -> Result<String, ReadError> {
    String::from_utf8(read_bytes(path, regular_only)?).map_err(|_| ReadError::NotText)
}

/// Every error of a Corefile, one per line when displayed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// A directive: its name, the arguments on its line, and its `{ }` block if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    /// The directive's name token.
    pub name: Token,
    /// The arguments on the same line.
    pub args: Vec<Token>,
    /// The directives inside its block.
    pub block: Vec<Directive>,
    /// Whether it had a `{ }` block (possibly empty).
    pub has_block: bool,
}

impl Directive {
    /// The arguments as strings.
    pub fn arg_texts(&self) -> Vec<&str> {
        self.args.iter().map(|a| a.text.as_str()).collect()
    }

    /// An error at the directive's line.
    pub fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::at(&self.name, message)
    }

    /// Where it was written: `FILE:LINE`.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.name.file, self.name.line)
    }
}

/// A server block as written: its key tokens and directives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawServerBlock {
    /// The key tokens (`.:53`, `cluster.local`…), commas already split.
    pub keys: Vec<Token>,
    /// The directives.
    pub directives: Vec<Directive>,
    /// The file of the block's first key.
    pub file: Arc<str>,
    /// The line of the block's first key.
    pub line: u32,
}

/// A server block with its keys parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerBlock {
    /// The zones and ports it serves.
    pub keys: Vec<ServerKey>,
    /// The directives, in the order written (the chain sorts them).
    pub directives: Vec<Directive>,
    /// Where it starts, for messages.
    pub file: Arc<str>,
    /// Its first line.
    pub line: u32,
}

/// A parsed Corefile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corefile {
    /// The server blocks, in file order.
    pub blocks: Vec<ServerBlock>,
}

impl Corefile {
    /// Read and parse the Corefile at `path`.
    pub fn load(path: &Path) -> Result<Corefile, ConfigErrors> {
        Corefile::parse_at(path, &Corefile::read(path)?)
    }

    /// Read the text of the Corefile at `path` (at most [`MAX_FILE_BYTES`]; a FIFO is allowed,
    /// as `-conf <(…)` gives one); failing, one error for the file (line 0).
    pub fn read(path: &Path) -> Result<String, ConfigErrors> {
        read_text(path, false).map_err(|e| {
            ConfigErrors(vec![ConfigError::new(
                &Arc::from(path.display().to_string()),
                0,
                format!("cannot read: {e}"),
            )])
        })
    }

    /// Parse `text`, read from `path`: errors name the path, imports are relative to its
    /// folder.
    pub fn parse_at(path: &Path, text: &str) -> Result<Corefile, ConfigErrors> {
        let (corefile, errors) = Corefile::parse_recovering_at(path, text);
        if errors.is_empty() {
            Ok(corefile)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// [`Corefile::parse_recovering`] of `text`, read from `path`.
    pub fn parse_recovering_at(path: &Path, text: &str) -> (Corefile, Vec<ConfigError>) {
        let dir = path.parent().unwrap_or(Path::new("."));
        Corefile::parse_recovering(&path.display().to_string(), text, dir)
    }

    /// Parse `text`, which came from `file`; imports are relative to `base_dir`.
    pub fn parse(file: &str, text: &str, base_dir: &Path) -> Result<Corefile, ConfigErrors> {
        let (corefile, errors) = Corefile::parse_recovering(file, text, base_dir);
        if errors.is_empty() {
            Ok(corefile)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Parse `text` as [`Corefile::parse`] does, returning with the errors what could be made
    /// of it anyway (a block without its `}` ends where its indentation does), so that the
    /// directives' errors can be reported in the same pass.
    pub fn parse_recovering(
        file: &str,
        text: &str,
        base_dir: &Path,
    ) -> (Corefile, Vec<ConfigError>) {
        let (raw, mut errors) = parse::parse_text(file, text, base_dir);
        let mut blocks = Vec::new();
        for block in raw {
            let mut keys = Vec::new();
            for key in &block.keys {
                match keys::parse_key(&key.text) {
                    Ok(parsed) => keys.extend(parsed),
                    Err(e) => errors.push(ConfigError::at(key, e.to_string())),
                }
            }
            blocks.push(ServerBlock {
                keys,
                directives: block.directives,
                file: block.file,
                line: block.line,
            });
        }
        if blocks.is_empty() && errors.is_empty() {
            errors.push(ConfigError::new(
                &Arc::from(file),
                1,
                "no server blocks: a Corefile needs at least one, such as `.:53 { ... }`",
            ));
        }
        (Corefile { blocks }, errors)
    }
}

#[cfg(test)]
mod tests;
