//! A YAML tree that remembers where every node came from, so errors found after parsing
//! can still point at `file:line:column`.

use crate::diagnostics::Pos;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos { line: m.line(), column: m.col() + 1 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar and whether it was quoted: quoted scalars are always strings.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Entries in file order; keys are scalars.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub pos: Pos,
}

/// A scalar read with YAML 1.2 core-schema typing.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(&'a str),
    Str(&'a str),
}

impl Node {
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The text of a scalar, whatever its type.
    pub fn as_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The typed value of a scalar; `None` for sequences and maps.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let NodeKind::Scalar { text, quoted } = &self.kind else { return None };
        if *quoted {
            return Some(Scalar::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            t => {
                if let Ok(i) = t.parse::<i64>() {
                    // Leading zeros are codes ("01"), not numbers.
                    if !(t.starts_with('0') && t.len() > 1 || t.starts_with("-0") && t.len() > 2) {
                        return Some(Scalar::Int(i));
                    }
                    return Some(Scalar::Str(t));
                }
                if is_float(t) {
                    Scalar::Float(t)
                } else {
                    Scalar::Str(t)
                }
            }
        })
    }

    /// Looks up a key in a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)
    }

    /// A short description of the node's kind for error messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Scalar { text, .. } => format!("`{}`", crate::diagnostics::quoted(text)),
            NodeKind::Seq(_) => "a list".to_owned(),
            NodeKind::Map(_) => "a mapping".to_owned(),
        }
    }
}

fn is_float(t: &str) -> bool {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    !body.is_empty()
        && body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && body.contains('.')
        && body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && t.parse::<f64>().is_ok()
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Parses one YAML document. An empty document is an empty map; a second document is an
/// error (the reader would otherwise silently ignore it).
pub fn parse(source: &str) -> Result<Node, SyntaxError> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(source);
    parser
        .load(&mut builder, true)
        .map_err(|e| SyntaxError { pos: (*e.marker()).into(), message: e.info().to_owned() })?;
    if let Some(message) = builder.error {
        return Err(SyntaxError { pos: builder.error_pos, message });
    }
    Ok(builder.root.unwrap_or(Node { kind: NodeKind::Map(Vec::new()), pos: Pos::START }))
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<(Node, Option<Node>)>,
    documents: usize,
    root: Option<Node>,
    error: Option<String>,
    error_pos: Pos,
}

impl TreeBuilder {
    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some((parent, pending_key)) => match &mut parent.kind {
                NodeKind::Seq(items) => items.push(node),
                NodeKind::Map(entries) => match pending_key.take() {
                    None => {
                        if !matches!(node.kind, NodeKind::Scalar { .. }) && self.error.is_none() {
                            self.error = Some("a key must be a plain value, not a list or mapping".into());
                            self.error_pos = node.pos;
                        }
                        if let Some(dup) = entries.iter().find(|(k, _)| k.as_text() == node.as_text()) {
                            if self.error.is_none() {
                                self.error = Some(format!(
                                    "duplicate key {} (first at line {})",
                                    node.describe(),
                                    dup.0.pos.line
                                ));
                                self.error_pos = node.pos;
                            }
                        }
                        *pending_key = Some(node);
                    }
                    Some(key) => entries.push((key, node)),
                },
                NodeKind::Scalar { .. } => {}
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let pos = mark.into();
        match event {
            Event::Scalar(text, style, _, _) => {
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_value(Node { kind: NodeKind::Scalar { text, quoted }, pos });
            }
            Event::SequenceStart(..) => self.stack.push((Node { kind: NodeKind::Seq(Vec::new()), pos }, None)),
            Event::MappingStart(..) => self.stack.push((Node { kind: NodeKind::Map(Vec::new()), pos }, None)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((mut node, _)) = self.stack.pop() {
                    // A block mapping's start event points past its first key; the key is
                    // where a reader looks.
                    if let NodeKind::Map(entries) = &node.kind {
                        if let Some((first, _)) = entries.first() {
                            node.pos = first.pos;
                        }
                    }
                    self.push_value(node);
                }
            }
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 && self.error.is_none() {
                    self.error = Some("a second YAML document (after `---`); a file holds one document".into());
                    self.error_pos = pos;
                }
            }
            Event::Alias(_) if self.error.is_none() => {
                self.error = Some("YAML aliases (*name) are not supported in mapping files".into());
                self.error_pos = pos;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_and_types() {
        let doc = parse("a: 1\nb:\n  - \"x\"\n  - 01\nc: 2.50\n").expect("parse");
        let a = doc.get("a").expect("a");
        assert_eq!(a.pos, Pos { line: 1, column: 4 });
        assert_eq!(a.scalar(), Some(Scalar::Int(1)));
        let b = doc.get("b").and_then(Node::as_seq).expect("b");
        assert_eq!(b[0].scalar(), Some(Scalar::Str("x")));
        assert_eq!(b[1].scalar(), Some(Scalar::Str("01")));
        assert_eq!(b[1].pos.line, 4);
        assert_eq!(doc.get("c").and_then(Node::scalar), Some(Scalar::Float("2.50")));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").expect_err("unclosed");
        assert!(err.pos.line >= 1);
        let dup = parse("a: 1\na: 2\n").expect_err("duplicate");
        assert_eq!(dup.pos.line, 2);
        assert!(dup.message.contains("duplicate key"));
    }
}
