//! Program files: a [`ProgramSpec`] read from JSON or TOML text, with
//! errors that say where (the field's path and its line) and what.
//!
//! Both parsing (a misspelt field, a string where a number goes) and the
//! checks of [`ProgramSpec::build`] (a negative reward, a cap in an asset no
//! policy grants) point into the text, so that whoever edits a program file
//! is led to the line. The fields themselves are described in the
//! [program file reference](crate::guide::program_files).

use std::fmt;

use super::{ProgramError, ProgramSpec};

/// A program file that could not be read as a program: where, and why.
///
/// ```
/// use referral_engine::ProgramSpec;
/// let text = r#"{
///   "id": "p", "name": "P", "currency": "USD",
///   "limits": {"max_rewarded_referrals": "32"},
///   "policies": [{"type": "one_sided", "name": "r", "on": "sign_up", "reward": {"fixed": "5 USD"}}]
/// }"#;
/// let error = ProgramSpec::from_json(text).unwrap_err();
/// assert_eq!((error.path(), error.line()), ("limits.max_rewarded_referrals", Some(3)));
/// assert!(error.to_string().starts_with("line 3, `limits.max_rewarded_referrals`: invalid type"), "{error}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProgramFileError {
    path: String,
    line: Option<usize>,
    reason: String,
}

impl fmt::Display for ProgramFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.path.is_empty()) {
            (Some(line), false) => write!(f, "line {line}, `{}`: {}", self.path, self.reason),
            (Some(line), true) => write!(f, "line {line}: {}", self.reason),
            (None, false) => write!(f, "`{}`: {}", self.path, self.reason),
            (None, true) => f.write_str(&self.reason),
        }
    }
}

impl ProgramFileError {
    /// The path of the field at fault (`policies[0].referrer.reward`), empty
    /// when the fault is the text itself (a missing brace).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The line (from 1) of the field at fault, or of the nearest enclosing
    /// field the text has.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// What is wrong, in words.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl ProgramSpec {
    /// Reads a program from JSON text and checks it as [`build`](Self::build)
    /// does, so that a file that reads without error builds without error.
    /// Every error carries the field's path and its line.
    ///
    /// A program rewarded only by policies of the host's own (no built-in
    /// policy) fails that check: read it with `serde_json` and build it with
    /// [`build_with`](Self::build_with).
    ///
    /// ```
    /// use referral_engine::ProgramSpec;
    /// let text = r#"{
    ///   "id": "p", "name": "P", "currency": "USD",
    ///   "policies": [{"type": "one_sided", "name": "r", "on": "sign_up",
    ///     "reward": {"fixed": "-5 USD"}}]
    /// }"#;
    /// let error = ProgramSpec::from_json(text).unwrap_err();
    /// assert_eq!((error.path(), error.line()), ("policies[0].reward", Some(4)));
    /// ```
    pub fn from_json(text: &str) -> Result<Self, ProgramFileError> {
        let json_error = |path: String, e: serde_json::Error| ProgramFileError {
            line: Some(e.line()).filter(|l| *l > 0),
            reason: json_reason(&e),
            path,
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let spec: ProgramSpec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = display_path(e.path());
            json_error(path, e.into_inner())
        })?;
        de.end().map_err(|e| json_error(String::new(), e))?;
        spec.checked(|path| locate::json(text, path))
    }

    /// Reads a program from TOML text (feature `toml`), as
    /// [`from_json`](Self::from_json) reads JSON.
    ///
    /// ```
    /// use referral_engine::ProgramSpec;
    /// let text = r#"
    /// id = "p"
    /// name = "P"
    /// currency = "USD"
    ///
    /// [[policies]]
    /// type = "one_sided"
    /// name = "r"
    /// on = "sign_up"
    /// reward = { fixed = "0.001 USD" }
    /// "#;
    /// let error = ProgramSpec::from_toml(text).unwrap_err();
    /// assert_eq!((error.path(), error.line()), ("policies[0].reward", Some(10)));
    /// let error = ProgramSpec::from_toml(&format!("{text}\n[limits]\nmax_rewarded_referrals = -3\n")).unwrap_err();
    /// assert_eq!((error.path(), error.line()), ("limits.max_rewarded_referrals", Some(13)));
    /// ```
    #[cfg(feature = "toml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
    pub fn from_toml(text: &str) -> Result<Self, ProgramFileError> {
        let line_of = |span: Option<std::ops::Range<usize>>| span.map(|s| locate::line_at(text, s.start));
        let de = toml::Deserializer::parse(text).map_err(|e| ProgramFileError {
            path: String::new(),
            line: line_of(e.span()),
            reason: e.message().to_owned(),
        })?;
        let spec: ProgramSpec = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = display_path(e.path());
            let inner = e.into_inner();
            let line = line_of(inner.span()).or_else(|| locate::toml(text, &path));
            ProgramFileError { path, line, reason: inner.message().to_owned() }
        })?;
        spec.checked(|path| locate::toml(text, path))
    }

    /// The checks of `build`, their error located in the text.
    fn checked(self, line_of: impl Fn(&str) -> Option<usize>) -> Result<Self, ProgramFileError> {
        match self.clone().build() {
            Ok(_) => Ok(self),
            Err(ProgramError::Invalid { field, reason }) => {
                Err(ProgramFileError { line: line_of(&field), path: field, reason })
            }
        }
    }
}

/// serde_json's message without its own "at line L column C" (the error
/// says the line itself).
fn json_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text.get(..at).unwrap_or(&text).to_owned(),
        None => text,
    }
}

/// A serde path as program errors write it (`policies[0].reward`, as
/// serde_path_to_error writes it), empty for the document itself (which it
/// writes `.`).
fn display_path(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." { String::new() } else { text }
}

/// Finding a field's line in a program file's text.
mod locate {
    /// One step of a field path: a key or an index.
    #[derive(Debug, PartialEq, Eq)]
    pub(super) enum Step<'a> {
        Key(&'a str),
        Index(usize),
    }

    /// `policies[0].reward` as steps; an index that does not read ends them.
    pub(super) fn steps(path: &str) -> Vec<Step<'_>> {
        let mut steps = Vec::new();
        for part in path.split('.') {
            let mut pieces = part.split('[');
            if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
                steps.push(Step::Key(key));
            }
            for index in pieces {
                match index.strip_suffix(']').and_then(|i| i.parse().ok()) {
                    Some(i) => steps.push(Step::Index(i)),
                    None => return steps,
                }
            }
        }
        steps
    }

    /// The line (from 1) of byte `offset`.
    pub(super) fn line_at(text: &str, offset: usize) -> usize {
        let before = text.get(..offset).unwrap_or(text);
        before.bytes().filter(|b| *b == b'\n').count().saturating_add(1)
    }

    /// The line of the deepest node of `path` in JSON text.
    pub(super) fn json(text: &str, path: &str) -> Option<usize> {
        use jsonc_parser::ast::{ObjectPropName, Value};
        use jsonc_parser::common::Ranged;
        let parsed = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()).ok()?;
        let mut node = parsed.value?;
        let mut at = node.range().start;
        for step in steps(path) {
            let next = match (step, node) {
                (Step::Key(key), Value::Object(object)) => object.properties.into_iter().find_map(|p| {
                    let name = match &p.name {
                        ObjectPropName::String(s) => s.value.as_ref(),
                        ObjectPropName::Word(w) => w.value,
                    };
                    (name == key).then_some((p.range.start, p.value))
                }),
                (Step::Index(i), Value::Array(array)) => {
                    array.elements.into_iter().nth(i).map(|v| (v.range().start, v))
                }
                _ => None,
            };
            let Some((start, value)) = next else { break };
            (at, node) = (start, value);
        }
        Some(line_at(text, at))
    }

    /// The line of the deepest node of `path` in TOML text.
    #[cfg(feature = "toml")]
    pub(super) fn toml(text: &str, path: &str) -> Option<usize> {
        let root: toml::Spanned<Node> = toml::from_str(text).ok()?;
        let mut at = root.span().start;
        let mut node = root.into_inner();
        for step in steps(path) {
            let next = match (step, node) {
                (Step::Key(key), Node::Table(entries)) => {
                    entries.into_iter().find_map(|(k, v)| (k == key).then_some(v))
                }
                (Step::Index(i), Node::Array(items)) => items.into_iter().nth(i),
                _ => None,
            };
            let Some(value) = next else { break };
            at = value.span().start;
            node = value.into_inner();
        }
        Some(line_at(text, at))
    }

    /// Any TOML value, with the span of every value below it.
    #[cfg(feature = "toml")]
    pub(super) enum Node {
        Table(Vec<(String, toml::Spanned<Node>)>),
        Array(Vec<toml::Spanned<Node>>),
        Leaf,
    }

    #[cfg(feature = "toml")]
    impl<'de> serde::Deserialize<'de> for Node {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(NodeVisitor)
        }
    }

    #[cfg(feature = "toml")]
    struct NodeVisitor;

    #[cfg(feature = "toml")]
    impl<'de> serde::de::Visitor<'de> for NodeVisitor {
        type Value = Node;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any TOML value")
        }

        fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_str<E>(self, _: &str) -> Result<Node, E> {
            Ok(Node::Leaf)
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Node::Array(items))
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
            let mut entries = Vec::new();
            while let Some(entry) = map.next_entry()? {
                entries.push(entry);
            }
            Ok(Node::Table(entries))
        }
    }
}
