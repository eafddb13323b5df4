//! A small, safe XML tree for canonicalization and signature checking, built on quick-xml.
//!
//! Safety first: a document type declaration (DTD) is refused outright, so there is no entity
//! expansion of any kind; only the five predefined entities and character references are
//! resolved. Depth and node counts are bounded. Namespaces are resolved while parsing and the
//! declarations kept per element, because canonicalization needs exactly those.
//!
//! Memory stays linear in the input: the namespaces in scope are one stack of bindings shared by
//! the open elements (an element pushes its own declarations and pops them at its end tag),
//! never a copy of the whole scope per element; namespace URIs are shared (`Arc<str>`) by the
//! elements and attributes that use them; and declarations are bounded per element, in scope and
//! in total bytes ([`Limits`]), so a document of long `xmlns:p…` declarations nested deep is
//! refused instead of costing gigabytes.
//! Each element remembers the byte offsets of its tags so that a signature can be inserted into
//! the original text without re-serializing (and so without changing) the rest of the document.

use std::collections::BTreeMap;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

/// The XML namespace, bound to the `xml` prefix in every document.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Index of a node in its [`Document`].
pub type NodeId = usize;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed XML; `position` is the byte offset where the parser stopped.
    #[error("malformed XML at byte {position}: {reason}")]
    Malformed {
        /// Byte offset in the input.
        position: u64,
        /// The parser's reason.
        reason: String,
    },
    /// The document has a `<!DOCTYPE …>`; DTDs and entity declarations are never processed.
    #[error("DTDs and entity declarations are not accepted")]
    Dtd,
    /// An entity other than the predefined five was referenced.
    #[error("undefined entity &{0};")]
    UndefinedEntity(String),
    /// A prefix was used without a declaration.
    #[error("undeclared namespace prefix {0:?}")]
    UndeclaredPrefix(String),
    /// Encoding other than UTF-8 declared, or the bytes are not UTF-8.
    #[error("only UTF-8 documents are accepted ({0})")]
    Encoding(String),
    /// Nesting or size beyond the configured limits.
    #[error("document too large or too deep: {0}")]
    Limit(String),
}

/// Parser limits. The defaults suit dossier envelopes: 256 levels, 500,000 nodes (attachments
/// are single text nodes), 256 attributes per element, 64 namespace declarations per element,
/// 128 in scope and 1 MiB of declarations in the whole document.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum number of nodes (elements, text runs, comments, PIs).
    pub max_nodes: usize,
    /// Maximum number of attributes (namespace declarations included) on one element; bounds
    /// the duplicate-attribute check, which is quadratic in the count.
    pub max_attributes: usize,
    /// Maximum number of namespace declarations on one element.
    pub max_namespace_declarations: usize,
    /// Maximum number of namespace declarations in force at once (on an element and its
    /// ancestors, redeclarations counted): bounds the cost of resolving a prefix.
    pub max_namespaces_in_scope: usize,
    /// Maximum bytes of namespace declarations (prefixes and URIs) in the whole document.
    pub max_namespace_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 256,
            max_nodes: 500_000,
            max_attributes: 256,
            max_namespace_declarations: 64,
            max_namespaces_in_scope: 128,
            max_namespace_bytes: 1 << 20,
        }
    }
}

/// An attribute (not a namespace declaration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Prefix, empty when none.
    pub prefix: String,
    /// Local name.
    pub local: String,
    /// Namespace URI; empty for unprefixed attributes (shared with every other use of it).
    pub ns: Arc<str>,
    /// Normalized value (entities resolved, literal whitespace folded as XML requires).
    pub value: String,
}

/// An element.
#[derive(Debug, Clone)]
pub struct Element {
    /// Prefix, empty for none.
    pub prefix: String,
    /// Local name.
    pub local: String,
    /// Resolved namespace URI, empty when in no namespace (shared with every other use of it).
    pub ns: Arc<str>,
    /// Namespace declarations on this element: prefix ("" for the default) → URI ("" undeclares).
    pub ns_decls: Vec<(String, String)>,
    /// Attributes in document order.
    pub attrs: Vec<Attribute>,
    /// Children in document order.
    pub children: Vec<NodeId>,
    /// Byte offset of `<` of the start tag.
    pub start: usize,
    /// Byte offset of `</` of the end tag; `None` for `<empty/>` elements.
    pub end_tag_start: Option<usize>,
    /// Byte offset just after the element.
    pub end: usize,
}

impl Element {
    /// The value of the attribute with no namespace and this local name.
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_empty() && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// Whether this element is `{ns}local`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        &*self.ns == ns && self.local == local
    }
}

/// What a node is.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// An element.
    Element(Element),
    /// Character data (text and CDATA sections, merged).
    Text(String),
    /// A comment's content.
    Comment(String),
    /// A processing instruction.
    Pi {
        /// The target.
        target: String,
        /// The content after the target, leading whitespace removed.
        data: String,
    },
}

/// A node and its parent (`None` for nodes at document level).
#[derive(Debug, Clone)]
pub struct Node {
    /// The node's kind and content.
    pub kind: NodeKind,
    /// Parent element.
    pub parent: Option<NodeId>,
}

/// A parsed document.
#[derive(Debug, Clone)]
pub struct Document {
    nodes: Vec<Node>,
    top: Vec<NodeId>,
    root: NodeId,
}

impl Document {
    /// Parses UTF-8 bytes with the default limits.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, XmlError> {
        let text = std::str::from_utf8(bytes).map_err(|e| XmlError::Encoding(e.to_string()))?;
        Self::parse(text, Limits::default())
    }

    /// Parses a document. A leading byte-order mark is accepted (offsets count it).
    pub fn parse(text: &str, limits: Limits) -> Result<Self, XmlError> {
        Parser::new(text, limits).run()
    }

    /// The document element.
    pub fn root(&self) -> NodeId {
        self.root
    }

    /// Document-level nodes in order (comments and PIs around the root, and the root).
    pub fn top_level(&self) -> &[NodeId] {
        &self.top
    }

    /// A node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The element at `id`, if it is one.
    pub fn element(&self, id: NodeId) -> Option<&Element> {
        match &self.nodes[id].kind {
            NodeKind::Element(e) => Some(e),
            _ => None,
        }
    }

    /// Child elements of `id`.
    pub fn child_elements(&self, id: NodeId) -> impl Iterator<Item = (NodeId, &Element)> + '_ {
        self.element(id)
            .map(|e| e.children.as_slice())
            .unwrap_or(&[])
            .iter()
            .filter_map(move |&c| self.element(c).map(|e| (c, e)))
    }

    /// The first child element `{ns}local` of `id`.
    pub fn child(&self, id: NodeId, ns: &str, local: &str) -> Option<NodeId> {
        self.child_elements(id)
            .find(|(_, e)| e.is(ns, local))
            .map(|(c, _)| c)
    }

    /// The concatenated text directly inside `id`.
    pub fn text(&self, id: NodeId) -> String {
        let mut out = String::new();
        if let Some(e) = self.element(id) {
            for &c in &e.children {
                if let NodeKind::Text(t) = &self.nodes[c].kind {
                    out.push_str(t);
                }
            }
        }
        out
    }

    /// All elements in document order.
    pub fn elements(&self) -> impl Iterator<Item = (NodeId, &Element)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match &n.kind {
                NodeKind::Element(e) => Some((i, e)),
                _ => None,
            })
    }

    /// Whether `node` is `ancestor` or inside it.
    pub fn is_within(&self, mut node: NodeId, ancestor: NodeId) -> bool {
        loop {
            if node == ancestor {
                return true;
            }
            match self.nodes[node].parent {
                Some(p) => node = p,
                None => return false,
            }
        }
    }

    /// The ancestors of `id` from its parent up to the root.
    pub fn ancestors(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::successors(self.nodes[id].parent, move |&p| self.nodes[p].parent)
    }

    /// The in-scope namespaces of element `id` (prefix → URI, "" is the default namespace;
    /// an undeclared default shows as "" → "").
    pub fn in_scope_namespaces(&self, id: NodeId) -> BTreeMap<String, String> {
        self.in_scope_namespace_refs(id)
            .into_iter()
            .map(|(p, u)| (p.to_owned(), u.to_owned()))
            .collect()
    }

    /// [`Document::in_scope_namespaces`], borrowed from the document.
    pub fn in_scope_namespace_refs(&self, id: NodeId) -> BTreeMap<&str, &str> {
        let mut chain: Vec<NodeId> = self.ancestors(id).collect();
        chain.reverse();
        chain.push(id);
        let mut map = BTreeMap::new();
        for n in chain {
            if let Some(e) = self.element(n) {
                for (p, u) in &e.ns_decls {
                    map.insert(p.as_str(), u.as_str());
                }
            }
        }
        map
    }
}

struct Parser<'a> {
    text: &'a str,
    limits: Limits,
    nodes: Vec<Node>,
    top: Vec<NodeId>,
    root: Option<NodeId>,
    stack: Vec<NodeId>,
    /// The namespace bindings in force, outermost first: each open element's declarations,
    /// pushed at its start tag and popped at its end tag (`marks` holds where each open
    /// element's begin). Resolving a prefix scans it from the innermost end.
    bindings: Vec<(String, Arc<str>)>,
    marks: Vec<usize>,
    /// Bytes of namespace declarations so far.
    namespace_bytes: usize,
    /// The empty namespace and the `xml` namespace, shared.
    no_namespace: Arc<str>,
    xml_namespace: Arc<str>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, limits: Limits) -> Self {
        Self {
            text,
            limits,
            nodes: Vec::new(),
            top: Vec::new(),
            root: None,
            stack: Vec::new(),
            bindings: Vec::new(),
            marks: Vec::new(),
            namespace_bytes: 0,
            no_namespace: Arc::from(""),
            xml_namespace: Arc::from(XML_NS),
        }
    }

    /// The URI bound to `prefix` ("" for the default namespace), innermost binding first.
    fn lookup(&self, prefix: &str) -> Option<&Arc<str>> {
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u)
    }

    fn run(mut self) -> Result<Document, XmlError> {
        // XML 1.0 `Char`: no C0 controls except TAB, LF and CR, and neither U+FFFE nor U+FFFF,
        // anywhere in the document (surrogates cannot occur in a `str`).
        if let Some(position) = first_non_xml_char(self.text.as_bytes()) {
            return Err(XmlError::Malformed {
                position: position as u64,
                reason: "control character not allowed in XML".into(),
            });
        }
        let mut reader = Reader::from_str(self.text);
        let config = reader.config_mut();
        config.trim_text(false);
        config.expand_empty_elements = false;
        config.check_end_names = true;
        config.check_comments = true;
        loop {
            let before = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = reader.read_event().map_err(|e| XmlError::Malformed {
                position: reader.error_position(),
                reason: e.to_string(),
            })?;
            let after = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            match event {
                Event::Decl(d) => {
                    // Only at the very start (after a byte-order mark, if any).
                    if before != 0 && !(before == 3 && self.text.starts_with('\u{FEFF}')) {
                        return Err(XmlError::Malformed {
                            position: before as u64,
                            reason: "XML declaration not at the start of the document".into(),
                        });
                    }
                    if let Some(enc) = d.encoding() {
                        let enc = enc.map_err(|e| XmlError::Encoding(e.to_string()))?;
                        if !enc.eq_ignore_ascii_case("utf-8") {
                            return Err(XmlError::Encoding(format!("declared {enc}")));
                        }
                    }
                }
                Event::DocType(_) => return Err(XmlError::Dtd),
                Event::Start(s) => self.start(&s, before, None)?,
                Event::Empty(s) => self.start(&s, before, Some(after))?,
                Event::End(_) => {
                    let id = self.stack.pop().ok_or_else(|| XmlError::Malformed {
                        position: before as u64,
                        reason: "unexpected end tag".into(),
                    })?;
                    if let Some(mark) = self.marks.pop() {
                        self.bindings.truncate(mark);
                    }
                    if let NodeKind::Element(e) = &mut self.nodes[id].kind {
                        e.end_tag_start = Some(before);
                        e.end = after;
                    }
                }
                Event::Text(t) => {
                    let content = t.xml10_content();
                    self.text_node(&content, before)?;
                }
                Event::CData(c) => {
                    let content = c.xml10_content();
                    if self.stack.is_empty() {
                        return Err(XmlError::Malformed {
                            position: before as u64,
                            reason: "CDATA outside the root element".into(),
                        });
                    }
                    self.text_node(&content, before)?;
                }
                Event::GeneralRef(r) => {
                    let resolved = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) if is_xml_char(c) => c.to_string(),
                            Ok(Some(_)) => {
                                return Err(XmlError::Malformed {
                                    position: before as u64,
                                    reason: format!(
                                        "character reference &{}; names a character not allowed in XML",
                                        &*r
                                    ),
                                });
                            }
                            _ => {
                                return Err(XmlError::Malformed {
                                    position: before as u64,
                                    reason: format!("bad character reference &{};", &*r),
                                });
                            }
                        }
                    } else {
                        let name = r.xml10_content();
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(v) => v.to_string(),
                            None => return Err(XmlError::UndefinedEntity(name.into_owned())),
                        }
                    };
                    if self.stack.is_empty() {
                        return Err(XmlError::Malformed {
                            position: before as u64,
                            reason: "reference outside the root element".into(),
                        });
                    }
                    self.text_node(&resolved, before)?;
                }
                Event::Comment(c) => {
                    let content = c.xml10_content().into_owned();
                    self.push(NodeKind::Comment(content))?;
                }
                Event::PI(p) => {
                    let target = p.target().to_string();
                    // `xml` (any case) is reserved; the declaration itself is `Event::Decl`.
                    if target.eq_ignore_ascii_case("xml") || !is_ncname(&target) {
                        return Err(XmlError::Malformed {
                            position: before as u64,
                            reason: format!(
                                "processing instruction target {target:?} is not allowed"
                            ),
                        });
                    }
                    let data = p.content().trim_start().to_string();
                    let data = data.replace("\r\n", "\n").replace('\r', "\n");
                    self.push(NodeKind::Pi { target, data })?;
                }
                Event::Eof => break,
            }
        }
        if !self.stack.is_empty() {
            return Err(XmlError::Malformed {
                position: self.text.len() as u64,
                reason: "unclosed element".into(),
            });
        }
        let root = self.root.ok_or_else(|| XmlError::Malformed {
            position: 0,
            reason: "no root element".into(),
        })?;
        Ok(Document {
            nodes: self.nodes,
            top: self.top,
            root,
        })
    }

    fn push(&mut self, kind: NodeKind) -> Result<NodeId, XmlError> {
        if self.nodes.len() >= self.limits.max_nodes {
            return Err(XmlError::Limit(format!(
                "more than {} nodes",
                self.limits.max_nodes
            )));
        }
        let id = self.nodes.len();
        let parent = self.stack.last().copied();
        self.nodes.push(Node { kind, parent });
        match parent {
            Some(p) => {
                if let NodeKind::Element(e) = &mut self.nodes[p].kind {
                    e.children.push(id);
                }
            }
            None => self.top.push(id),
        }
        Ok(id)
    }

    fn text_node(&mut self, content: &str, position: usize) -> Result<(), XmlError> {
        let Some(&parent) = self.stack.last() else {
            if content
                .chars()
                .all(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
            {
                return Ok(());
            }
            return Err(XmlError::Malformed {
                position: position as u64,
                reason: "text outside the root element".into(),
            });
        };
        // Merge with a preceding text run (text, CDATA and references arrive as separate events).
        if let NodeKind::Element(e) = &self.nodes[parent].kind
            && let Some(&last) = e.children.last()
            && let NodeKind::Text(t) = &mut self.nodes[last].kind
        {
            t.push_str(content);
            return Ok(());
        }
        self.push(NodeKind::Text(content.to_string()))?;
        Ok(())
    }

    fn start(
        &mut self,
        s: &BytesStart<'_>,
        offset: usize,
        empty_end: Option<usize>,
    ) -> Result<(), XmlError> {
        if self.stack.is_empty() && self.root.is_some() {
            return Err(XmlError::Malformed {
                position: offset as u64,
                reason: "more than one root element".into(),
            });
        }
        if self.stack.len() >= self.limits.max_depth {
            return Err(XmlError::Limit(format!(
                "nesting deeper than {}",
                self.limits.max_depth
            )));
        }
        let malformed = |reason: String| XmlError::Malformed {
            position: offset as u64,
            reason,
        };
        let qname = s.name().into_inner().to_string();
        if !is_qname(&qname) {
            return Err(malformed(format!("<{qname}> is not an XML name")));
        }
        let mut ns_decls = Vec::new();
        let mut raw_attrs = Vec::new();
        if s.attributes().with_checks(false).count() > self.limits.max_attributes {
            return Err(XmlError::Limit(format!(
                "more than {} attributes on <{qname}>",
                self.limits.max_attributes
            )));
        }
        for attr in s.attributes().with_checks(true) {
            let attr = attr.map_err(|e| malformed(e.to_string()))?;
            let key = attr.key.into_inner().to_string();
            if !is_qname(&key) {
                return Err(malformed(format!("attribute {key:?} is not an XML name")));
            }
            let value = attr
                .normalized_value_with(quick_xml::XmlVersion::Implicit1_0, 1, |name| {
                    quick_xml::escape::resolve_predefined_entity(name)
                })
                .map_err(|e| malformed(format!("attribute {key}: {e}")))?
                .into_owned();
            // A character reference in the value may name what the raw text could not hold.
            if !value.chars().all(is_xml_char) {
                return Err(malformed(format!(
                    "attribute {key}: a character not allowed in XML"
                )));
            }
            if key == "xmlns" {
                ns_decls.push((String::new(), value));
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                if value.is_empty() {
                    return Err(malformed(format!("xmlns:{p} cannot be empty in XML 1.0")));
                }
                ns_decls.push((p.to_string(), value));
            } else {
                raw_attrs.push((key, value));
            }
        }
        if ns_decls.len() > self.limits.max_namespace_declarations {
            return Err(XmlError::Limit(format!(
                "more than {} namespace declarations on <{qname}>",
                self.limits.max_namespace_declarations
            )));
        }
        self.namespace_bytes += ns_decls
            .iter()
            .map(|(p, u)| p.len() + u.len())
            .sum::<usize>();
        if self.namespace_bytes > self.limits.max_namespace_bytes {
            return Err(XmlError::Limit(format!(
                "more than {} bytes of namespace declarations",
                self.limits.max_namespace_bytes
            )));
        }
        if self.bindings.len() + ns_decls.len() > self.limits.max_namespaces_in_scope {
            return Err(XmlError::Limit(format!(
                "more than {} namespace declarations in scope at <{qname}>",
                self.limits.max_namespaces_in_scope
            )));
        }
        let mark = self.bindings.len();
        for (p, u) in &ns_decls {
            // A URI already bound in scope (a redeclaration) is shared, not copied.
            let uri = self
                .bindings
                .iter()
                .rev()
                .find(|(_, bound)| **bound == **u)
                .map(|(_, bound)| bound.clone())
                .unwrap_or_else(|| Arc::from(u.as_str()));
            self.bindings.push((p.clone(), uri));
        }
        let resolve = |prefix: &str, is_attr: bool| -> Result<Arc<str>, XmlError> {
            if prefix == "xml" {
                return Ok(self.xml_namespace.clone());
            }
            if prefix.is_empty() && is_attr {
                return Ok(self.no_namespace.clone());
            }
            match self.lookup(prefix) {
                Some(uri) => Ok(uri.clone()),
                None if prefix.is_empty() => Ok(self.no_namespace.clone()),
                None => Err(XmlError::UndeclaredPrefix(prefix.to_string())),
            }
        };
        let (prefix, local) = split_qname(&qname);
        let resolved = resolve(prefix, false).and_then(|ns| {
            let mut attrs = Vec::with_capacity(raw_attrs.len());
            for (key, value) in raw_attrs {
                let (p, l) = split_qname(&key);
                let ans = resolve(p, true)?;
                if attrs
                    .iter()
                    .any(|a: &Attribute| a.ns == ans && a.local == l && !ans.is_empty())
                {
                    return Err(malformed(format!("duplicate attribute {{{ans}}}{l}")));
                }
                attrs.push(Attribute {
                    prefix: p.to_string(),
                    local: l.to_string(),
                    ns: ans,
                    value,
                });
            }
            Ok((ns, attrs))
        });
        let (ns, attrs) = match resolved {
            Ok(r) => r,
            Err(e) => {
                self.bindings.truncate(mark);
                return Err(e);
            }
        };
        let element = Element {
            prefix: prefix.to_string(),
            local: local.to_string(),
            ns,
            ns_decls,
            attrs,
            children: Vec::new(),
            start: offset,
            end_tag_start: None,
            end: empty_end.unwrap_or(offset),
        };
        let id = self.push(NodeKind::Element(element))?;
        if self.stack.is_empty() {
            self.root = Some(id);
        }
        if empty_end.is_none() {
            self.stack.push(id);
            self.marks.push(mark);
        } else {
            // `<empty/>`: its declarations end with it.
            self.bindings.truncate(mark);
        }
        Ok(())
    }
}

/// XML 1.0 `Char`: `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// The byte offset of the first character of UTF-8 `bytes` that XML does not allow: a C0
/// control other than TAB, LF and CR, or U+FFFE / U+FFFF (encoded `EF BF BE` / `EF BF BF`).
fn first_non_xml_char(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().position(|(i, &b)| {
        (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
            || (b == 0xEF
                && bytes.get(i + 1) == Some(&0xBF)
                && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)))
    })
}

fn split_qname(q: &str) -> (&str, &str) {
    match q.split_once(':') {
        Some((p, l)) => (p, l),
        None => ("", q),
    }
}

/// XML 1.0 (5th edition) `NameStartChar`, without the colon.
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 `NameChar`, without the colon.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// A name without colon (Namespaces in XML `NCName`).
fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// A qualified name: `NCName` or `NCName:NCName`. Canonical XML writes names as they are, so a
/// name that is not one would make its output something other than XML.
fn is_qname(name: &str) -> bool {
    match name.split_once(':') {
        Some((p, l)) => is_ncname(p) && is_ncname(l),
        None => is_ncname(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_namespaces_and_keeps_offsets() {
        let src = r#"<?xml version="1.0" encoding="UTF-8"?>
<a:root xmlns:a="urn:a" xmlns="urn:d"><child x="1" a:y="2">t&amp;x<![CDATA[<c>]]></child><e/></a:root>"#;
        let doc = Document::parse(src, Limits::default()).unwrap();
        let root = doc.element(doc.root()).unwrap();
        assert_eq!(&*root.ns, "urn:a");
        let (cid, child) = doc.child_elements(doc.root()).next().unwrap();
        assert_eq!(&*child.ns, "urn:d");
        assert_eq!(&*child.attrs[1].ns, "urn:a");
        assert_eq!(doc.text(cid), "t&x<c>");
        let (_, e) = doc.child_elements(doc.root()).nth(1).unwrap();
        assert_eq!(&src[e.start..e.end], "<e/>");
        assert_eq!(&src[child.start..child.start + 6], "<child");
        assert_eq!(&src[root.end_tag_start.unwrap()..root.end], "</a:root>");
    }

    #[test]
    fn refuses_dtds_entities_and_undeclared_prefixes() {
        let billion =
            r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>"#;
        assert_eq!(
            Document::parse_bytes(billion.as_bytes()).unwrap_err(),
            XmlError::Dtd
        );
        assert!(matches!(
            Document::parse_bytes(b"<a>&nbsp;</a>").unwrap_err(),
            XmlError::UndefinedEntity(_)
        ));
        assert!(matches!(
            Document::parse_bytes(b"<p:a/>").unwrap_err(),
            XmlError::UndeclaredPrefix(_)
        ));
        assert!(matches!(
            Document::parse_bytes(b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>")
                .unwrap_err(),
            XmlError::Encoding(_)
        ));
        assert!(Document::parse_bytes(b"<a><b></a>").is_err());
        assert!(Document::parse_bytes(b"<a/><b/>").is_err());
        assert!(Document::parse_bytes(b"<a x='1' x='2'/>").is_err());
        assert!(Document::parse_bytes(b"<a>\x0b</a>").is_err());
    }

    /// Found by the `xml_c14n` fuzz target: a character reference may only name a character
    /// XML allows (`Char`); `&#12;` was taken, and its canonical form was not XML at all.
    #[test]
    fn character_references_and_characters_outside_xml_char_are_refused() {
        let fuzzed = "<r>&lt;tag&gt; &amp; &quot;quote??s&quot; &apos;apos&apos; &#12; ]]&gt;</r>";
        for bad in [
            fuzzed,
            "<r>&#0;</r>",
            "<r>&#x1F;</r>",
            "<r>&#xFFFE;</r>",
            "<r>&#xFFFF;</r>",
            "<r a='&#1;'/>",
            "<r a=\"x&#xFFFF;\"/>",
            "<r>\u{FFFF}</r>",
            "<r a='\u{FFFE}'/>",
        ] {
            let err = Document::parse(bad, Limits::default()).unwrap_err();
            assert!(matches!(err, XmlError::Malformed { .. }), "{bad:?}: {err}");
        }
        for good in [
            "<r>&#9;&#10;&#13;&#32;&#xD7FF;&#xE000;&#xFFFD;&#x10000;&#x10FFFF;</r>",
            "<r a='&#9;&#x85;'>\u{85}\u{FFFD}</r>",
        ] {
            Document::parse(good, Limits::default()).unwrap_or_else(|e| panic!("{good:?}: {e}"));
        }
    }

    /// Found by the `xml_c14n` fuzz target: `:="…"` was taken as an attribute with an empty
    /// name, and canonical XML wrote `=" …"`. Element, attribute, prefix and PI names must be
    /// XML names (namespace-well-formed: one colon at most, with a name on each side).
    #[test]
    fn names_must_be_xml_names() {
        let fuzzed = "<r a=\"  spaced  out  \" b=\"new\nline\" :=\"tab\there\"/>";
        for bad in [
            fuzzed,
            "<r a:=\"x\" xmlns:a=\"urn:a\"/>",
            "<r xmlns:a=\"urn:a\" :a=\"x\"/>",
            "<a:b:c xmlns:a=\"urn:a\"/>",
            "<1r/>",
            "<r -a=\"x\"/>",
            "<r xmlns:1p=\"urn:x\"/>",
            "<r><?1pi data?></r>",
            "<r><?xml version=\"1.0\"?></r>",
            "<r><?XmL data?></r>",
            "<r/><?xml version=\"1.0\"?>",
        ] {
            let err = Document::parse(bad, Limits::default()).unwrap_err();
            assert!(matches!(err, XmlError::Malformed { .. }), "{bad:?}: {err}");
        }
        for good in [
            "<r _a=\"1\" a-b.c=\"2\" \u{1EA0}=\"3\"/>",
            "<p:r xmlns:p=\"urn:p\" p:\u{1EA0}\u{300}=\"x\"><?pi-1 x?></p:r>",
            "<Tên_hồ_sơ/>",
        ] {
            Document::parse(good, Limits::default()).unwrap_or_else(|e| panic!("{good:?}: {e}"));
        }
    }

    #[test]
    fn limits_depth() {
        let deep = "<a>".repeat(300) + &"</a>".repeat(300);
        assert!(matches!(
            Document::parse(&deep, Limits::default()).unwrap_err(),
            XmlError::Limit(_)
        ));
    }

    #[test]
    fn limits_namespace_declarations_per_element_in_scope_and_in_bytes() {
        let decls = |n: usize, tag: &str| -> String {
            (0..n)
                .map(|i| format!(" xmlns:{tag}{i}=\"urn:x:{i}\""))
                .collect()
        };
        let limits = Limits::default();
        let many = format!("<r{}/>", decls(65, "p"));
        let err = Document::parse(&many, limits).unwrap_err();
        assert!(
            matches!(err, XmlError::Limit(ref m) if m.contains("64 namespace declarations")),
            "{err}"
        );
        assert!(Document::parse(&format!("<r{}/>", decls(64, "p")), limits).is_ok());
        // 3 levels of 50: 150 in scope at the third.
        let deep = format!(
            "<a{}><b{}><c{}/></b></a>",
            decls(50, "a"),
            decls(50, "b"),
            decls(50, "c")
        );
        let err = Document::parse(&deep, limits).unwrap_err();
        assert!(
            matches!(err, XmlError::Limit(ref m) if m.contains("in scope")),
            "{err}"
        );
        // Siblings each declaring 50: fine, their declarations end with them.
        let siblings = format!(
            "<a>{}</a>",
            (0..20)
                .map(|_| format!("<b{}/>", decls(50, "b")))
                .collect::<String>()
        );
        assert!(Document::parse(&siblings, limits).is_ok());
        // Long URIs: the total is bounded.
        let long = format!("urn:{}", "u".repeat(100_000));
        let heavy = format!(
            "<a>{}</a>",
            (0..11)
                .map(|_| format!("<b xmlns:p=\"{long}\"/>"))
                .collect::<String>()
        );
        let err = Document::parse(&heavy, limits).unwrap_err();
        assert!(
            matches!(err, XmlError::Limit(ref m) if m.contains("bytes of namespace")),
            "{err}"
        );
    }

    /// One long namespace URI used by many elements is held once, not copied into each of them
    /// (a copy each would turn a few megabytes of input into gigabytes).
    #[test]
    fn namespace_uris_are_shared_by_the_elements_that_use_them() {
        let long = format!("urn:{}", "u".repeat(100_000));
        let doc = format!(
            "<p:r xmlns:p=\"{long}\">{}</p:r>",
            "<p:e p:a=\"1\"/>".repeat(10_000)
        );
        let parsed = Document::parse(&doc, Limits::default()).unwrap();
        let mut uris = parsed.elements().map(|(_, e)| e.ns.clone());
        let first = uris.next().unwrap();
        assert_eq!(&*first, long);
        assert!(uris.all(|u| Arc::ptr_eq(&u, &first)));
        let (_, e) = parsed.elements().nth(1).unwrap();
        assert!(Arc::ptr_eq(&e.attrs[0].ns, &first));
        // Undeclaring and redeclaring the default namespace still resolves as before.
        let d = Document::parse(
            "<a xmlns=\"urn:a\"><b xmlns=\"\"><c/></b><d/></a>",
            Limits::default(),
        )
        .unwrap();
        let ns: Vec<String> = d.elements().map(|(_, e)| e.ns.to_string()).collect();
        assert_eq!(ns, ["urn:a", "", "", "urn:a"]);
    }

    #[test]
    fn limits_attributes_before_the_duplicate_check() {
        let many: String = (0..100_000).map(|i| format!(" a{i}='x'")).collect();
        let doc = format!("<e{many}/>");
        let err = Document::parse(&doc, Limits::default()).unwrap_err();
        assert!(
            matches!(err, XmlError::Limit(ref m) if m.contains("256 attributes")),
            "{err}"
        );
        let few: String = (0..256).map(|i| format!(" a{i}='x'")).collect();
        assert!(Document::parse(&format!("<e{few}/>"), Limits::default()).is_ok());
    }
}
