//! The op schema file (`dispatch/ops.schema`): one PyTorch `- func:` entry
//! per op, e.g.
//!
//! ```text
//! - func: add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor
//! ```
//!
//! parsed and validated once, at first use. A malformed entry is an error
//! naming its line and what is wrong; nothing is guessed or repaired.

use std::fmt;

/// The type of an argument, without `?` and list suffixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseType {
    Tensor,
    Scalar,
    Int,
    Bool,
    Float,
    Str,
    ScalarType,
    /// PyTorch's `MemoryFormat` (no op of ours takes one; parsed so that
    /// PyTorch's own schemas read, for the conformance suite).
    MemoryFormat,
}

impl BaseType {
    fn parse(s: &str) -> Option<BaseType> {
        Some(match s {
            "Tensor" => BaseType::Tensor,
            "Scalar" => BaseType::Scalar,
            // PyTorch's symbolic ints are ints on concrete tensors.
            "int" | "SymInt" => BaseType::Int,
            "bool" => BaseType::Bool,
            "float" => BaseType::Float,
            "str" => BaseType::Str,
            "ScalarType" => BaseType::ScalarType,
            "MemoryFormat" => BaseType::MemoryFormat,
            _ => return None,
        })
    }
}

/// One argument: `Tensor(a!) self`, `int[1]? dim=None`, `Scalar alpha=1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgSpec {
    pub name: String,
    pub ty: BaseType,
    /// `int[1]`, `int[]`: a list of the base type.
    pub list: bool,
    /// `?`: may be None.
    pub optional: bool,
    /// `(a!)`: written to (in place or `out=`).
    pub mutated: bool,
    /// After the `*`: passed by keyword only.
    pub kwarg_only: bool,
    pub default: Option<String>,
}

/// One parsed `- func:` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    /// `add`
    pub name: String,
    /// `Tensor` (empty when the entry has no overload name)
    pub overload: String,
    pub args: Vec<ArgSpec>,
    /// Number of values returned (`()` is 0, `(Tensor a, Tensor b)` is 2).
    pub returns: usize,
    /// The 1-based line of the schema file.
    pub line: usize,
}

impl Schema {
    /// `add.Tensor`, or `relu` without an overload.
    pub fn full_name(&self) -> String {
        if self.overload.is_empty() {
            self.name.clone()
        } else {
            format!("{}.{}", self.name, self.overload)
        }
    }
}

/// A malformed schema entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ops.schema line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SchemaError {}

/// Parses a whole schema file: `- func:` lines, blank lines and `#`
/// comments. Fails on the first malformed entry, and on a name declared
/// twice.
pub fn parse_file(text: &str) -> Result<Vec<Schema>, SchemaError> {
    let mut out: Vec<Schema> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let s = raw.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let schema = parse_entry(s, line)?;
        if let Some(prev) = out.iter().find(|p| p.full_name() == schema.full_name()) {
            return Err(SchemaError {
                line,
                message: format!(
                    "`{}` is declared twice (first on line {})",
                    schema.full_name(),
                    prev.line
                ),
            });
        }
        out.push(schema);
    }
    Ok(out)
}

/// Parses one `- func: name.overload(args) -> returns` line.
pub fn parse_entry(s: &str, line: usize) -> Result<Schema, SchemaError> {
    let err = |message: String| SchemaError { line, message };
    let body = s
        .strip_prefix("- func:")
        .ok_or_else(|| err(format!("expected `- func: <schema>`, found `{s}`")))?
        .trim();
    let open = body
        .find('(')
        .ok_or_else(|| err(format!("no `(` after the op name in `{body}`")))?;
    let full = &body[..open];
    let (name, overload) = match full.split_once('.') {
        Some((n, o)) => (n, o),
        None => (full, ""),
    };
    if !is_ident(name) {
        return Err(err(format!("bad op name `{name}`")));
    }
    if !overload.is_empty() && !is_ident(overload) {
        return Err(err(format!("bad overload name `{overload}`")));
    }
    let close = matching_paren(body, open)
        .ok_or_else(|| err(format!("unbalanced parentheses in `{body}`")))?;
    let args_text = &body[open + 1..close];
    let rest = body[close + 1..].trim();
    let ret_text = rest
        .strip_prefix("->")
        .ok_or_else(|| {
            err(format!(
                "expected `-> <returns>` after the arguments, found `{rest}`"
            ))
        })?
        .trim();
    let returns = parse_returns(ret_text).map_err(err)?;
    let mut args: Vec<ArgSpec> = Vec::new();
    let mut kwarg_only = false;
    for part in args_text.split(',').map(str::trim) {
        if part.is_empty() {
            if args_text.trim().is_empty() {
                break;
            }
            return Err(err(format!("empty argument in `({args_text})`")));
        }
        if part == "*" {
            // PyTorch's parser accepts a repeated `*`; so does ours.
            kwarg_only = true;
            continue;
        }
        let a = parse_arg(part, kwarg_only).map_err(err)?;
        if args.iter().any(|b| b.name == a.name) {
            return Err(err(format!("argument `{}` declared twice", a.name)));
        }
        if !a.kwarg_only
            && a.default.is_none()
            && args.iter().any(|b| !b.kwarg_only && b.default.is_some())
        {
            return Err(err(format!(
                "positional argument `{}` without a default follows one with a default",
                a.name
            )));
        }
        args.push(a);
    }
    if overload == "out" && !args.iter().any(|a| a.mutated && a.kwarg_only) {
        return Err(err(
            "an `.out` overload needs a keyword-only `Tensor(a!) out` argument".into(),
        ));
    }
    Ok(Schema {
        name: name.into(),
        overload: overload.into(),
        args,
        returns,
        line,
    })
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, ch) in s.char_indices().skip_while(|&(i, _)| i < open) {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_returns(s: &str) -> Result<usize, String> {
    let one = |t: &str| -> Result<(), String> {
        let ty = t.split_whitespace().next().unwrap_or("");
        let base = ty.split('(').next().unwrap_or("");
        if base == "Tensor" {
            Ok(())
        } else {
            Err(format!("unsupported return type `{t}`"))
        }
    };
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        if inner.trim().is_empty() {
            return Ok(0);
        }
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        for p in &parts {
            one(p)?;
        }
        return Ok(parts.len());
    }
    one(s)?;
    Ok(1)
}

fn parse_arg(part: &str, kwarg_only: bool) -> Result<ArgSpec, String> {
    let (decl, default) = match part.split_once('=') {
        // A string default in double quotes (as PyTorch prints schemas)
        // is kept in single quotes (as native_functions.yaml writes them).
        Some((d, v)) => (d.trim(), Some(single_quoted(v.trim()))),
        None => (part, None),
    };
    let mut words = decl.split_whitespace();
    let (Some(ty_text), Some(name), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!("expected `<type> <name>`, found `{part}`"));
    };
    if !is_ident(name) {
        return Err(format!("bad argument name `{name}`"));
    }
    let mut t = ty_text;
    let optional = t.ends_with('?');
    if optional {
        t = &t[..t.len() - 1];
    }
    let mut list = false;
    if let Some(i) = t.find('[') {
        let size = t[i + 1..]
            .strip_suffix(']')
            .ok_or_else(|| format!("bad list type `{ty_text}`"))?;
        if !size.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("bad list size in `{ty_text}`"));
        }
        list = true;
        t = &t[..i];
    }
    let mut mutated = false;
    if let Some(i) = t.find('(') {
        let alias = &t[i..];
        if !matches!(alias, "(a!)" | "(a)" | "(b!)") {
            return Err(format!("bad alias annotation `{alias}`"));
        }
        mutated = alias.ends_with("!)");
        t = &t[..i];
    }
    let ty = BaseType::parse(t).ok_or_else(|| format!("unknown type `{t}` of `{name}`"))?;
    if mutated && ty != BaseType::Tensor {
        return Err(format!("only a Tensor can be mutated (`{name}`)"));
    }
    if let Some(d) = &default {
        check_default(ty, list, optional, d)
            .map_err(|why| format!("default of `{name}`: {why}"))?;
    }
    Ok(ArgSpec {
        name: name.into(),
        ty,
        list,
        optional,
        mutated,
        kwarg_only,
        default,
    })
}

fn single_quoted(v: &str) -> String {
    match v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) if v.len() >= 2 => format!("'{inner}'"),
        _ => v.to_string(),
    }
}

fn check_default(ty: BaseType, list: bool, optional: bool, d: &str) -> Result<(), String> {
    if d == "None" {
        return if optional {
            Ok(())
        } else {
            Err("None for a type without `?`".into())
        };
    }
    let ok = match (ty, list) {
        (BaseType::Int, true) => d.starts_with('[') && d.ends_with(']'),
        (BaseType::Int, false) => d.parse::<i64>().is_ok(),
        (BaseType::Bool, _) => d == "True" || d == "False",
        (BaseType::Scalar | BaseType::Float, _) => d.parse::<f64>().is_ok(),
        (BaseType::Str, _) => d.len() >= 2 && d.starts_with('\'') && d.ends_with('\''),
        (BaseType::MemoryFormat, false) => {
            // PyTorch prints the enum's value (0: contiguous_format).
            matches!(
                d,
                "contiguous_format" | "preserve_format" | "channels_last" | "channels_last_3d"
            ) || d.parse::<u8>().is_ok()
        }
        (BaseType::Tensor | BaseType::ScalarType | BaseType::MemoryFormat, _) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{d}` is not a value of this type"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pytorch_entries() {
        let s = parse_entry(
            "- func: sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
            3,
        )
        .unwrap();
        assert_eq!(s.full_name(), "sum.dim_IntList");
        assert_eq!(s.args.len(), 4);
        assert!(s.args[1].list && s.args[1].optional && s.args[1].default.is_none());
        assert!(s.args[3].kwarg_only && s.args[3].ty == BaseType::ScalarType);
        let s = parse_entry(
            "- func: max.dim(Tensor self, int dim, bool keepdim=False) -> (Tensor values, Tensor indices)",
            1,
        )
        .unwrap();
        assert_eq!(s.returns, 2);
        let s = parse_entry(
            "- func: add.out(Tensor self, Tensor other, *, Scalar alpha=1, Tensor(a!) out) -> Tensor(a!)",
            1,
        )
        .unwrap();
        assert!(s.args[3].mutated && s.args[3].kwarg_only);
    }

    #[test]
    fn malformed_entries_name_line_and_fault() {
        let cases = [
            (
                "- func: add.Tensor(Tensor self, Tensr other) -> Tensor",
                "unknown type `Tensr`",
            ),
            (
                "- func: add.Tensor(Tensor self, Tensor other -> Tensor",
                "unbalanced",
            ),
            (
                "- func: add.Tensor(Tensor self) Tensor",
                "expected `-> <returns>`",
            ),
            ("func: add(Tensor self) -> Tensor", "expected `- func:"),
            (
                "- func: add(Tensor self, Tensor self) -> Tensor",
                "declared twice",
            ),
            (
                "- func: f(Tensor self, int a=1, int b) -> Tensor",
                "without a default follows",
            ),
            (
                "- func: f(Tensor self, bool b=yes) -> Tensor",
                "default of `b`",
            ),
            (
                "- func: f(Tensor self, int n=None) -> Tensor",
                "None for a type without",
            ),
            (
                "- func: f.out(Tensor self) -> Tensor",
                "keyword-only `Tensor(a!) out`",
            ),
            ("- func: f(Tensor self) -> int", "unsupported return type"),
        ];
        // PyTorch's parser accepts a repeated `*` (conformance 003).
        assert!(parse_entry("- func: f(Tensor self, *, *, int a=1) -> Tensor", 1).is_ok());
        for (text, want) in cases {
            let file = format!("# header\n\n{text}\n");
            let e = parse_file(&file).unwrap_err();
            assert_eq!(e.line, 3, "{text}");
            assert!(e.message.contains(want), "{text}: {}", e.message);
            assert!(e.to_string().starts_with("ops.schema line 3: "));
        }
    }

    #[test]
    fn duplicate_ops_are_rejected() {
        let e = parse_file(
            "- func: relu(Tensor self) -> Tensor\n- func: relu(Tensor self) -> Tensor\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("first on line 1"));
    }
}
