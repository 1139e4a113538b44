//! The part of Go's `text/template` language that CoreDNS's `template` plugin users write:
//! text with `{{ … }}` actions (trim markers `{{-`/`-}}`, `{{/* comments */}}`), pipelines
//! (`a | b`), fields (`.Name`, `.Group.a`), the method `.Meta "NAME"`, string, raw-string and
//! number literals, parentheses, `if`/`else if`/`else`/`end`, and the functions `index`, `len`,
//! `parseInt` (CoreDNS's), `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `and`, `or`, `not`, `print` and
//! `printf` (verbs `%s %v %d %x %X %q %%`). Variables, `range`, `with`, `define` and `template`
//! are parse errors that say so.
//!
//! Written here rather than taken from a crate: the Go-template crates (gtmpl 0.7, last
//! released 2021, and its fork go-template) are unmaintained, and gtmpl loops forever parsing
//! an unterminated action (`{{ .Name `), which would hang start-up on a typo.
//!
//! Rendering cannot loop (there is no `range`), so its output is bounded by the template's
//! length and the values' (names of at most 255 octets).

use std::fmt::Write as _;

use thiserror::Error;

/// Why a template does not parse, or did not render.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct TemplateError(pub String);

fn error<T>(message: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(message.into()))
}

/// A value as templates see it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer (number literals).
    Int(i64),
    /// An unsigned integer (`parseInt`'s result, Go's `uint64`).
    Uint(u64),
    /// A boolean.
    Bool(bool),
    /// A list of strings (`.Match`).
    List(Vec<String>),
    /// A map of strings (`.Group`), in insertion order.
    Map(Vec<(String, String)>),
    /// A field or key that is not there: prints as Go's `<no value>`.
    Missing,
}

impl Value {
    fn truth(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Bool(b) => *b,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Missing => false,
        }
    }

    fn write(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match self {
            Value::Str(s) => {
                out.push_str(s);
                Ok(())
            }
            Value::Int(i) => write!(out, "{i}"),
            Value::Uint(u) => write!(out, "{u}"),
            Value::Bool(b) => write!(out, "{b}"),
            Value::List(l) => write!(out, "[{}]", l.join(" ")),
            Value::Map(m) => {
                let mut pairs: Vec<_> = m.iter().collect();
                pairs.sort();
                let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                write!(out, "map[{}]", body.join(" "))
            }
            Value::Missing => {
                out.push_str("<no value>");
                Ok(())
            }
        };
    }

    fn text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn as_int(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(i128::from(*i)),
            Value::Uint(u) => Some(i128::from(*u)),
            _ => None,
        }
    }
}

/// What a template renders from: its fields, and the methods it can call with arguments.
pub trait Data {
    /// The value of the field `name` (`.Name`), if there is one.
    fn field(&self, name: &str) -> Option<Value>;
    /// Call the method `name` (`.Meta "x"`) with `args`; `None` if there is no such method.
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, TemplateError>>;
}

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
}

#[derive(Clone, Debug)]
struct Pipeline(Vec<Command>);

#[derive(Clone, Debug)]
struct Command(Vec<Operand>);

#[derive(Clone, Debug)]
enum Operand {
    /// `.A.B` (empty: `.` itself).
    Field(Vec<String>),
    /// A function name, or `true`/`false`/`nil`.
    Ident(String),
    Str(String),
    Int(i64),
    Group(Box<Pipeline>),
}

/// The functions templates can call.
const FUNCTIONS: &[&str] = &[
    "index", "len", "parseInt", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "print",
    "printf",
];

impl Template {
    /// Parse `text`.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let items = split(text)?;
        let mut parser = Parser { items, pos: 0 };
        let (nodes, end) = parser.nodes()?;
        match end {
            None => Ok(Template { nodes }),
            Some(keyword) => error(format!("unexpected {{{{{keyword}}}}}")),
        }
    }

    /// Render with `data` as `.`.
    pub fn render(&self, data: &dyn Data) -> Result<String, TemplateError> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

/// The template split into text and the insides of its actions.
enum Item {
    Text(String),
    Action(String),
}

fn split(text: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut rest = text;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut before = &rest[..open];
        if trim_next {
            before = before.trim_start();
        }
        let mut inside = &rest[open + 2..];
        let trim_before = inside.starts_with("- ")
            || inside.starts_with("-\t")
            || inside.starts_with("-\n");
        if trim_before {
            before = before.trim_end();
            inside = &inside[1..];
        }
        if !before.is_empty() {
            items.push(Item::Text(before.to_string()));
        }
        let Some(close) = find_close(inside) else {
            return error("unclosed action: no }}");
        };
        let mut action = &inside[..close];
        trim_next = false;
        if action.ends_with(" -") || action.ends_with("\t-") || action.ends_with("\n-") {
            action = &action[..action.len() - 1];
            trim_next = true;
        }
        let action = action.trim();
        if !(action.starts_with("/*") && action.ends_with("*/")) {
            items.push(Item::Action(action.to_string()));
        }
        rest = &inside[close + 2..];
    }
    let rest = if trim_next { rest.trim_start() } else { rest };
    if !rest.is_empty() {
        items.push(Item::Text(rest.to_string()));
    }
    Ok(items)
}

/// Where the action's `}}` is, skipping quoted strings.
fn find_close(inside: &str) -> Option<usize> {
    let bytes = inside.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

struct Parser {
    items: Vec<Item>,
    pos: usize,
}

impl Parser {
    /// Nodes up to an `else…` or `end` (returned, not consumed past) or the end.
    fn nodes(&mut self) -> Result<(Vec<Node>, Option<String>), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.get(self.pos) {
            self.pos += 1;
            let action = match item {
                Item::Text(text) => {
                    nodes.push(Node::Text(text.clone()));
                    continue;
                }
                Item::Action(action) => action.clone(),
            };
            let (keyword, rest) = match action.split_once(char::is_whitespace) {
                Some((keyword, rest)) => (keyword, rest.trim()),
                None => (action.as_str(), ""),
            };
            match keyword {
                "end" | "else" => return Ok((nodes, Some(action))),
                "if" => nodes.push(self.if_node(rest)?),
                "range" | "with" | "define" | "template" | "block" | "break" | "continue" => {
                    return error(format!("{{{{{keyword}}}}} is not supported here"));
                }
                _ => nodes.push(Node::Action(pipeline(&action)?)),
            }
        }
        Ok((nodes, None))
    }

    fn if_node(&mut self, condition: &str) -> Result<Node, TemplateError> {
        let mut branches = vec![(pipeline(condition)?, Vec::new())];
        loop {
            let (body, end) = self.nodes()?;
            if let Some(branch) = branches.last_mut() {
                branch.1 = body;
            }
            let end = end.unwrap_or_default();
            if end == "end" {
                return Ok(Node::If {
                    branches,
                    otherwise: Vec::new(),
                });
            }
            if end == "else" {
                let (otherwise, end) = self.nodes()?;
                return match end.as_deref() {
                    Some("end") => Ok(Node::If {
                        branches,
                        otherwise,
                    }),
                    _ => error("{{else}} without its {{end}}"),
                };
            }
            match end.strip_prefix("else if ") {
                Some(condition) => branches.push((pipeline(condition.trim())?, Vec::new())),
                None if end.is_empty() => return error("{{if}} without its {{end}}"),
                None => return error(format!("unexpected {{{{{end}}}}}")),
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Lexeme {
    Field(Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Open,
    Close,
    Pipe,
}

fn lex(text: &str) -> Result<Vec<Lexeme>, TemplateError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => out.push(Lexeme::Open),
            ')' => out.push(Lexeme::Close),
            '|' => out.push(Lexeme::Pipe),
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return error("unterminated quoted string"),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            match chars.get(i) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&other @ ('\\' | '"')) => s.push(other),
                                _ => return error("unsupported escape in quoted string"),
                            }
                        }
                        Some(&other) => s.push(other),
                    }
                    i += 1;
                }
                out.push(Lexeme::Str(s));
            }
            '`' => {
                let start = i + 1;
                let Some(len) = chars[start..].iter().position(|&c| c == '`') else {
                    return error("unterminated raw string");
                };
                out.push(Lexeme::Str(chars[start..start + len].iter().collect()));
                i = start + len;
            }
            '$' => return error("template variables ($) are not supported here"),
            '.' => {
                let mut fields = Vec::new();
                while chars.get(i) == Some(&'.') {
                    i += 1;
                    let start = i;
                    while chars
                        .get(i)
                        .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                    {
                        i += 1;
                    }
                    if i > start {
                        fields.push(chars[start..i].iter().collect());
                    } else if !fields.is_empty() {
                        return error("a field name must follow '.'");
                    }
                }
                out.push(Lexeme::Field(fields));
                continue;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric()) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(Lexeme::Int(parse_number(&word)?));
                continue;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                out.push(Lexeme::Ident(chars[start..i].iter().collect()));
                continue;
            }
            other => return error(format!("unexpected {other:?} in an action")),
        }
        i += 1;
    }
    Ok(out)
}

fn parse_number(word: &str) -> Result<i64, TemplateError> {
    let (negative, digits) = match word.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, word.strip_prefix('+').unwrap_or(word)),
    };
    let parsed = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16)
    } else {
        digits.parse::<i64>()
    };
    match parsed {
        Ok(n) if negative => Ok(-n),
        Ok(n) => Ok(n),
        Err(_) => error(format!("bad number {word:?}")),
    }
}

fn pipeline(text: &str) -> Result<Pipeline, TemplateError> {
    let lexemes = lex(text)?;
    let mut pos = 0;
    let pipeline = parse_pipeline(&lexemes, &mut pos)?;
    if pos < lexemes.len() {
        return error("unexpected ')'");
    }
    Ok(pipeline)
}

fn parse_pipeline(lexemes: &[Lexeme], pos: &mut usize) -> Result<Pipeline, TemplateError> {
    let mut commands = vec![Command(Vec::new())];
    while let Some(lexeme) = lexemes.get(*pos) {
        *pos += 1;
        let operand = match lexeme {
            Lexeme::Close => {
                *pos -= 1;
                break;
            }
            Lexeme::Pipe => {
                commands.push(Command(Vec::new()));
                continue;
            }
            Lexeme::Open => {
                let inner = parse_pipeline(lexemes, pos)?;
                if lexemes.get(*pos) != Some(&Lexeme::Close) {
                    return error("unclosed '('");
                }
                *pos += 1;
                Operand::Group(Box::new(inner))
            }
            Lexeme::Field(path) => Operand::Field(path.clone()),
            Lexeme::Ident(name) => {
                if !FUNCTIONS.contains(&name.as_str())
                    && !matches!(name.as_str(), "true" | "false" | "nil")
                {
                    return error(format!("function {name:?} not defined"));
                }
                Operand::Ident(name.clone())
            }
            Lexeme::Str(s) => Operand::Str(s.clone()),
            Lexeme::Int(i) => Operand::Int(*i),
        };
        if let Some(command) = commands.last_mut() {
            command.0.push(operand);
        }
    }
    if commands.iter().any(|c| c.0.is_empty()) {
        return error("missing value for command");
    }
    Ok(Pipeline(commands))
}

fn render_nodes(nodes: &[Node], data: &dyn Data, out: &mut String) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Action(pipeline) => eval_pipeline(pipeline, data)?.write(out),
            Node::If {
                branches,
                otherwise,
            } => {
                let mut taken = false;
                for (condition, body) in branches {
                    if eval_pipeline(condition, data)?.truth() {
                        render_nodes(body, data, out)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    render_nodes(otherwise, data, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(pipeline: &Pipeline, data: &dyn Data) -> Result<Value, TemplateError> {
    let mut piped = None;
    for command in &pipeline.0 {
        piped = Some(eval_command(command, piped, data)?);
    }
    Ok(piped.unwrap_or(Value::Missing))
}

fn eval_command(
    command: &Command,
    piped: Option<Value>,
    data: &dyn Data,
) -> Result<Value, TemplateError> {
    let Some((first, rest)) = command.0.split_first() else {
        return error("missing value for command");
    };
    let mut args = rest
        .iter()
        .map(|operand| eval_operand(operand, data))
        .collect::<Result<Vec<_>, _>>()?;
    args.extend(piped);
    match first {
        Operand::Ident(name) if FUNCTIONS.contains(&name.as_str()) => call(name, &args),
        Operand::Field(path) if path.len() == 1 && !args.is_empty() => {
            match data.method(&path[0], &args) {
                Some(result) => result,
                None => error(format!("can't give argument to non-function .{}", path[0])),
            }
        }
        operand if args.is_empty() => eval_operand(operand, data),
        _ => error("can't give argument to non-function"),
    }
}

fn eval_operand(operand: &Operand, data: &dyn Data) -> Result<Value, TemplateError> {
    match operand {
        Operand::Str(s) => Ok(Value::Str(s.clone())),
        Operand::Int(i) => Ok(Value::Int(*i)),
        Operand::Group(pipeline) => eval_pipeline(pipeline, data),
        Operand::Ident(name) => match name.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "nil" => error("nil is not a command"),
            // A function named alone is called without arguments.
            function => call(function, &[]),
        },
        Operand::Field(path) => {
            let Some((first, rest)) = path.split_first() else {
                return error("the data itself cannot be printed; name a field such as .Name");
            };
            let mut value = match data.field(first) {
                Some(value) => value,
                None => match data.method(first, &[]) {
                    Some(result) => result?,
                    None => return error(format!("can't evaluate field {first}")),
                },
            };
            for key in rest {
                value = match value {
                    Value::Map(pairs) => pairs
                        .into_iter()
                        .find(|(k, _)| k == key)
                        .map_or(Value::Missing, |(_, v)| Value::Str(v)),
                    Value::Missing => Value::Missing,
                    _ => return error(format!("can't evaluate field {key}")),
                };
            }
            Ok(value)
        }
    }
}

fn call(name: &str, args: &[Value]) -> Result<Value, TemplateError> {
    let want = |n: usize| -> Result<(), TemplateError> {
        if args.len() == n {
            Ok(())
        } else {
            error(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        }
    };
    match name {
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return error("wrong number of args for index: want at least 1 got 0");
            };
            let mut value = first.clone();
            for key in keys {
                value = match (&value, key) {
                    (Value::List(items), index) => {
                        let i = index
                            .as_int()
                            .ok_or_else(|| TemplateError("cannot index slice with a non-integer".into()))?;
                        match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                            Some(item) => Value::Str(item.clone()),
                            None => return error(format!("error calling index: index out of range: {i}")),
                        }
                    }
                    // Go's index of a missing map key is the zero value.
                    (Value::Map(pairs), Value::Str(k)) => pairs
                        .iter()
                        .find(|(key, _)| key == k)
                        .map_or(Value::Str(String::new()), |(_, v)| Value::Str(v.clone())),
                    (Value::Str(s), index) => {
                        let i = index.as_int().unwrap_or(-1);
                        match usize::try_from(i).ok().and_then(|i| s.as_bytes().get(i)) {
                            Some(byte) => Value::Uint(u64::from(*byte)),
                            None => return error(format!("error calling index: index out of range: {i}")),
                        }
                    }
                    _ => return error("error calling index: cannot index that value"),
                };
            }
            Ok(value)
        }
        "len" => {
            want(1)?;
            match &args[0] {
                Value::Str(s) => Ok(Value::Int(s.len() as i64)),
                Value::List(l) => Ok(Value::Int(l.len() as i64)),
                Value::Map(m) => Ok(Value::Int(m.len() as i64)),
                _ => error("error calling len: len of that value"),
            }
        }
        "parseInt" => {
            // CoreDNS maps it to Go's strconv.ParseUint(s, base, bitSize).
            want(3)?;
            let (Value::Str(text), Some(base), Some(bits)) =
                (&args[0], args[1].as_int(), args[2].as_int())
            else {
                return error("error calling parseInt: takes STRING BASE BITS");
            };
            parse_uint(text, base, bits).map(Value::Uint)
        }
        "not" => {
            want(1)?;
            Ok(Value::Bool(!args[0].truth()))
        }
        "and" | "or" => {
            if args.is_empty() {
                return error(format!("wrong number of args for {name}: want at least 1 got 0"));
            }
            let stop = name == "or";
            for arg in args {
                if arg.truth() == stop {
                    return Ok(arg.clone());
                }
            }
            Ok(args[args.len() - 1].clone())
        }
        "eq" => {
            if args.len() < 2 {
                return error("wrong number of args for eq: want at least 2");
            }
            Ok(Value::Bool(
                args[1..].iter().any(|other| same(&args[0], other)),
            ))
        }
        "ne" => {
            want(2)?;
            Ok(Value::Bool(!same(&args[0], &args[1])))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let order = match (&args[0], &args[1]) {
                (Value::Str(a), Value::Str(b)) => a.cmp(b),
                (a, b) => match (a.as_int(), b.as_int()) {
                    (Some(a), Some(b)) => a.cmp(&b),
                    _ => return error(format!("error calling {name}: incompatible types for comparison")),
                },
            };
            Ok(Value::Bool(match name {
                "lt" => order.is_lt(),
                "le" => order.is_le(),
                "gt" => order.is_gt(),
                _ => order.is_ge(),
            }))
        }
        "print" => {
            // Go's fmt.Sprint: a space between operands when neither is a string.
            let mut out = String::new();
            for (i, arg) in args.iter().enumerate() {
                if i > 0 && !matches!(arg, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
                    out.push(' ');
                }
                arg.write(&mut out);
            }
            Ok(Value::Str(out))
        }
        "printf" => {
            let Some((Value::Str(format), rest)) = args.split_first() else {
                return error("error calling printf: the first argument must be a format string");
            };
            printf(format, rest).map(Value::Str)
        }
        other => error(format!("function {other:?} not defined")),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_int(), b.as_int()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Go's `strconv.ParseUint(text, base, bits)`: base 0 reads a `0x`, `0o`, `0b` or `0` prefix.
fn parse_uint(text: &str, base: i128, bits: i128) -> Result<u64, TemplateError> {
    let fail = |why: &str| error(format!("error calling parseInt: strconv.ParseUint: parsing {text:?}: {why}"));
    let (digits, radix) = match base {
        0 => {
            let lower = text.to_ascii_lowercase();
            if let Some(rest) = lower.strip_prefix("0x") {
                (rest.to_string(), 16)
            } else if let Some(rest) = lower.strip_prefix("0o") {
                (rest.to_string(), 8)
            } else if let Some(rest) = lower.strip_prefix("0b") {
                (rest.to_string(), 2)
            } else if lower.len() > 1 && lower.starts_with('0') {
                (lower[1..].to_string(), 8)
            } else {
                (lower, 10)
            }
        }
        2..=36 => (text.to_string(), base as u32),
        _ => return fail("invalid base"),
    };
    let bits = match bits {
        0 => 64,
        1..=64 => bits as u32,
        _ => return fail("invalid bit size"),
    };
    if digits.is_empty() || digits.starts_with('+') || digits.starts_with('-') {
        return fail("invalid syntax");
    }
    let value = u64::from_str_radix(&digits, radix).map_err(|e| {
        TemplateError(format!(
            "error calling parseInt: strconv.ParseUint: parsing {text:?}: {}",
            if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) {
                "value out of range"
            } else {
                "invalid syntax"
            }
        ))
    })?;
    if bits < 64 && value >> bits != 0 {
        return fail("value out of range");
    }
    Ok(value)
}

/// Go's `fmt.Sprintf` for the verbs `%s %v %d %x %X %q %%` (no widths or flags).
fn printf(format: &str, args: &[Value]) -> Result<String, TemplateError> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        match (verb, arg.as_int()) {
            ('s' | 'v', _) => arg.write(&mut out),
            ('d', Some(n)) => {
                let _ = write!(out, "{n}");
            }
            ('x', Some(n)) => {
                let _ = write!(out, "{n:x}");
            }
            ('X', Some(n)) => {
                let _ = write!(out, "{n:X}");
            }
            ('x', None) => {
                for byte in arg.text().bytes() {
                    let _ = write!(out, "{byte:02x}");
                }
            }
            ('q', _) => {
                let _ = write!(out, "{:?}", arg.text());
            }
            _ => return error(format!("error calling printf: unsupported verb %{verb}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Query;

    impl Data for Query {
        fn field(&self, name: &str) -> Option<Value> {
            match name {
                "Name" => Some(Value::Str("ip0a7b7b7b.example.".into())),
                "Zone" => Some(Value::Str("example.".into())),
                "Match" => Some(Value::List(vec![
                    "ip0a7b7b7b.example.".into(),
                    "7b".into(),
                ])),
                "Group" => Some(Value::Map(vec![
                    ("0".into(), "ip0a7b7b7b.example.".into()),
                    ("b".into(), "7b".into()),
                ])),
                _ => None,
            }
        }

        fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, TemplateError>> {
            (name == "Meta").then(|| match args {
                [Value::Str(key)] => Ok(Value::Str(format!("meta:{key}"))),
                _ => error("Meta takes one string"),
            })
        }
    }

    fn render(text: &str) -> Result<String, TemplateError> {
        Template::parse(text)?.render(&Query)
    }

    #[test]
    fn the_coredns_readme_forms_render() {
        assert_eq!(
            render("{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ index .Match 1 }}")
                .expect("renders"),
            "ip0a7b7b7b.example. 60 IN A 10.123.7b"
        );
        assert_eq!(
            render("{{ .Zone }} 3600 IN SOA ns1.{{ .Zone }} admin.{{ .Zone }} (1 60 120 86400 3600)")
                .expect("renders"),
            "example. 3600 IN SOA ns1.example. admin.example. (1 60 120 86400 3600)"
        );
        assert_eq!(render(r#"{{ .Meta "kubernetes/client-namespace" }}"#).expect("renders"),
            "meta:kubernetes/client-namespace");
        assert_eq!(render("{{.Group.b}}").expect("renders"), "7b");
    }

    #[test]
    fn missing_fields_keys_and_indexes_behave_as_in_go() {
        assert_eq!(render("{{ .Group.nope }}").expect("renders"), "<no value>");
        assert_eq!(render(r#"{{ index .Group "nope" }}"#).expect("renders"), "");
        assert_eq!(
            render("{{ index .Match 5 }}").unwrap_err().0,
            "error calling index: index out of range: 5"
        );
        assert!(render("{{ .Nope }}").is_err());
        assert!(render("{{ parseInt .Group.b 10 8 }}").is_err(), "7b is not decimal");
        assert!(render(r#"{{ parseInt "1ff" 16 8 }}"#).is_err(), "out of range for 8 bits");
        assert_eq!(render(r#"{{ parseInt "0x1f" 0 64 }}"#).expect("renders"), "31");
    }

    #[test]
    fn conditions_pipelines_and_trim_markers() {
        assert_eq!(
            render(r#"{{ if eq .Group.b "7b" }}yes{{ else if .Zone }}zone{{ else }}no{{ end }}"#)
                .expect("renders"),
            "yes"
        );
        assert_eq!(
            render(r#"{{ if eq .Group.b "x" }}yes{{ else if .Zone }}zone{{ else }}no{{ end }}"#)
                .expect("renders"),
            "zone"
        );
        assert_eq!(render("{{ .Group.b | len }}").expect("renders"), "2");
        assert_eq!(
            render(r#"{{ printf "%s-%d-%x" .Zone 7 255 }}"#).expect("renders"),
            "example.-7-ff"
        );
        assert_eq!(render("a  {{- .Group.b -}}  b").expect("renders"), "a7bb");
        assert_eq!(render("a{{/* a comment */}}b").expect("renders"), "ab");
        assert_eq!(render(r#"{{ "}}" }}"#).expect("renders"), "}}");
    }

    #[test]
    fn what_does_not_parse_is_an_error_not_a_hang() {
        for bad in [
            "{{ .Name ",
            "{{ if .Name }}x",
            "{{ end }}",
            "{{ else }}",
            "{{ $x := .Name }}",
            "{{ range .Match }}{{ end }}",
            "{{ nosuch .Name }}",
            "{{ .Name \"x }}",
            "{{ ( .Name }}",
            "{{ .Name ) }}",
            "{{ | .Name }}",
            "{{ 12ab }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
