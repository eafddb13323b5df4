//! Canonical XML: inclusive C14N 1.0 and exclusive C14N 1.0, each with or without comments,
//! over a whole document or the subtree of one element, optionally leaving one subtree out
//! (the enveloped-signature transform).
//!
//! The rules, from the W3C recommendations: no XML declaration or DTD; UTF-8; line ends
//! already normalized by the parser; empty elements written as start/end pairs; namespace
//! declarations first, sorted by prefix (default first), then attributes sorted by
//! (namespace URI, local name); attribute values in double quotes with `& < " TAB LF CR`
//! escaped; text with `& < > CR` escaped; whitespace outside the document element dropped and
//! document-level comments/PIs separated from the root by a line feed.
//!
//! Namespace declarations: inclusive C14N writes every in-scope namespace that the nearest
//! written ancestor does not already have with the same value (so a subtree carries its
//! ancestors' declarations); exclusive C14N writes only the prefixes an element *visibly uses*
//! (its own and its attributes'), plus those of the `InclusiveNamespaces PrefixList`.

use std::collections::BTreeMap;

use super::dom::{Document, Element, NodeId, NodeKind, XML_NS};

/// Algorithm URIs.
pub mod uri {
    /// Inclusive C14N 1.0.
    pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
    /// Inclusive C14N 1.0 with comments.
    pub const C14N_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
    /// Exclusive C14N 1.0.
    pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    /// Exclusive C14N 1.0 with comments.
    pub const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
}

/// A canonicalization method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Inclusive C14N 1.0.
    Inclusive {
        /// Keep comments.
        with_comments: bool,
    },
    /// Exclusive C14N 1.0.
    Exclusive {
        /// Keep comments.
        with_comments: bool,
        /// `InclusiveNamespaces PrefixList`: prefixes treated as in inclusive C14N
        /// (`#default` is written as "").
        inclusive_prefixes: Vec<String>,
    },
}

impl Method {
    /// The method for an algorithm URI, or `None` if it is not a C14N 1.0 variant.
    pub fn from_uri(uri: &str, inclusive_prefixes: Vec<String>) -> Option<Self> {
        Some(match uri {
            uri::C14N => Self::Inclusive {
                with_comments: false,
            },
            uri::C14N_COMMENTS => Self::Inclusive {
                with_comments: true,
            },
            uri::EXC_C14N => Self::Exclusive {
                with_comments: false,
                inclusive_prefixes,
            },
            uri::EXC_C14N_COMMENTS => Self::Exclusive {
                with_comments: true,
                inclusive_prefixes,
            },
            _ => return None,
        })
    }

    /// The algorithm URI.
    pub fn uri(&self) -> &'static str {
        match self {
            Self::Inclusive {
                with_comments: false,
            } => uri::C14N,
            Self::Inclusive {
                with_comments: true,
            } => uri::C14N_COMMENTS,
            Self::Exclusive {
                with_comments: false,
                ..
            } => uri::EXC_C14N,
            Self::Exclusive {
                with_comments: true,
                ..
            } => uri::EXC_C14N_COMMENTS,
        }
    }

    fn with_comments(&self) -> bool {
        match self {
            Self::Inclusive { with_comments } | Self::Exclusive { with_comments, .. } => {
                *with_comments
            }
        }
    }

    /// The same method without comments (what a same-document reference selects).
    pub fn without_comments(&self) -> Self {
        match self {
            Self::Inclusive { .. } => Self::Inclusive {
                with_comments: false,
            },
            Self::Exclusive {
                inclusive_prefixes, ..
            } => Self::Exclusive {
                with_comments: false,
                inclusive_prefixes: inclusive_prefixes.clone(),
            },
        }
    }
}

/// What to canonicalize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apex {
    /// The whole document.
    Document,
    /// One element and everything in it.
    Element(NodeId),
}

/// Canonicalizes `apex` of `doc` with `method`, leaving out the subtree at `exclude`.
pub fn canonicalize(
    doc: &Document,
    apex: Apex,
    method: &Method,
    exclude: Option<NodeId>,
) -> Vec<u8> {
    let mut c = Canonicalizer {
        doc,
        method,
        exclude,
        out: Vec::with_capacity(4096),
    };
    match apex {
        Apex::Document => {
            let mut seen_root = false;
            for &n in doc.top_level() {
                if n == doc.root() {
                    seen_root = true;
                    c.element(n, &BTreeMap::new(), &BTreeMap::new(), true);
                    continue;
                }
                let before = c.out.len();
                if seen_root {
                    c.out.push(b'\n');
                }
                if !c.leaf(n) {
                    c.out.truncate(before);
                } else if !seen_root {
                    c.out.push(b'\n');
                }
            }
        }
        Apex::Element(id) => {
            let scope = match doc.node(id).parent {
                Some(p) => doc.in_scope_namespace_refs(p),
                None => BTreeMap::new(),
            };
            c.element(id, &scope, &BTreeMap::new(), true);
        }
    }
    c.out
}

struct Canonicalizer<'a> {
    doc: &'a Document,
    method: &'a Method,
    exclude: Option<NodeId>,
    out: Vec<u8>,
}

impl<'a> Canonicalizer<'a> {
    /// Writes a non-element node; returns false when it is not part of the output.
    fn leaf(&mut self, id: NodeId) -> bool {
        match &self.doc.node(id).kind {
            NodeKind::Comment(text) => {
                if !self.method.with_comments() {
                    return false;
                }
                self.out.extend_from_slice(b"<!--");
                self.out.extend_from_slice(text.as_bytes());
                self.out.extend_from_slice(b"-->");
                true
            }
            NodeKind::Pi { target, data } => {
                self.out.extend_from_slice(b"<?");
                self.out.extend_from_slice(target.as_bytes());
                if !data.is_empty() {
                    self.out.push(b' ');
                    self.out.extend_from_slice(data.as_bytes());
                }
                self.out.extend_from_slice(b"?>");
                true
            }
            NodeKind::Text(text) => {
                escape_text(text, &mut self.out);
                true
            }
            NodeKind::Element(_) => false,
        }
    }

    /// `inherited`: namespaces in scope at the parent (full XPath namespace axis).
    /// `rendered`: namespace declarations in force in the output at the parent.
    /// Both borrow from the document, so the copies an element with declarations makes hold
    /// pointers only (at most [`super::Limits::max_namespaces_in_scope`] of them).
    fn element(
        &mut self,
        id: NodeId,
        inherited: &BTreeMap<&'a str, &'a str>,
        rendered: &BTreeMap<&'a str, &'a str>,
        is_apex: bool,
    ) {
        if Some(id) == self.exclude {
            return;
        }
        let Some(e) = self.doc.element(id) else {
            self.leaf(id);
            return;
        };
        let owned_scope;
        let scope = if e.ns_decls.is_empty() {
            inherited
        } else {
            let mut s = inherited.clone();
            for (p, u) in &e.ns_decls {
                s.insert(p.as_str(), u.as_str());
            }
            owned_scope = s;
            &owned_scope
        };
        let candidates: Vec<&str> = match self.method {
            Method::Inclusive { .. } => scope.keys().copied().collect(),
            Method::Exclusive {
                inclusive_prefixes, ..
            } => {
                let mut v: Vec<&str> = vec![e.prefix.as_str()];
                for a in &e.attrs {
                    if !a.prefix.is_empty() && a.prefix != "xml" {
                        v.push(a.prefix.as_str());
                    }
                }
                for p in inclusive_prefixes {
                    let p = if p == "#default" { "" } else { p.as_str() };
                    if scope.contains_key(p) {
                        v.push(p);
                    }
                }
                v.sort_unstable();
                v.dedup();
                v
            }
        };
        let mut decls: Vec<(&str, &str)> = Vec::new();
        for p in candidates {
            if p == "xml" {
                continue;
            }
            let uri = scope.get(p).copied().unwrap_or("");
            if p.is_empty() && uri.is_empty() {
                // xmlns="" only undoes a non-empty default written by an output ancestor.
                if rendered.get("").is_some_and(|u| !u.is_empty()) {
                    decls.push(("", ""));
                }
                continue;
            }
            if p == "xml" && uri == XML_NS {
                continue;
            }
            if rendered.get(p).copied() != Some(uri) {
                decls.push((p, uri));
            }
        }
        decls.sort_unstable_by(|a, b| a.0.cmp(b.0));

        let mut attrs: Vec<(&str, &str, &str, &str)> = e
            .attrs
            .iter()
            .map(|a| {
                (
                    &*a.ns,
                    a.local.as_str(),
                    a.prefix.as_str(),
                    a.value.as_str(),
                )
            })
            .collect();
        let inherited_xml;
        if is_apex && matches!(self.method, Method::Inclusive { .. }) {
            inherited_xml = self.inherited_xml_attributes(id, e);
            attrs.extend(
                inherited_xml
                    .iter()
                    .map(|(l, v)| (XML_NS, l.as_str(), "xml", v.as_str())),
            );
        }
        attrs.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

        self.out.push(b'<');
        write_qname(&e.prefix, &e.local, &mut self.out);
        for (p, u) in &decls {
            if p.is_empty() {
                self.out.extend_from_slice(b" xmlns=\"");
            } else {
                self.out.extend_from_slice(b" xmlns:");
                self.out.extend_from_slice(p.as_bytes());
                self.out.extend_from_slice(b"=\"");
            }
            escape_attr(u, &mut self.out);
            self.out.push(b'"');
        }
        for (_, local, prefix, value) in &attrs {
            self.out.push(b' ');
            write_qname(prefix, local, &mut self.out);
            self.out.extend_from_slice(b"=\"");
            escape_attr(value, &mut self.out);
            self.out.push(b'"');
        }
        self.out.push(b'>');

        let child_rendered;
        let rendered = if decls.is_empty() {
            rendered
        } else {
            let mut r = rendered.clone();
            for (p, u) in &decls {
                r.insert(*p, *u);
            }
            child_rendered = r;
            &child_rendered
        };
        for &c in &e.children {
            if matches!(self.doc.node(c).kind, NodeKind::Element(_)) {
                self.element(c, scope, rendered, false);
            } else {
                self.leaf(c);
            }
        }
        self.out.extend_from_slice(b"</");
        write_qname(&e.prefix, &e.local, &mut self.out);
        self.out.push(b'>');
    }

    /// Inclusive C14N of a document subset: `xml:*` attributes of ancestors that are not in the
    /// subset are inherited by the apex unless it has its own.
    fn inherited_xml_attributes(&self, id: NodeId, e: &Element) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = Vec::new();
        for a in self.doc.ancestors(id) {
            if let Some(ae) = self.doc.element(a) {
                for attr in &ae.attrs {
                    if &*attr.ns == XML_NS
                        && !e
                            .attrs
                            .iter()
                            .any(|x| &*x.ns == XML_NS && x.local == attr.local)
                        && !found.iter().any(|(l, _)| *l == attr.local)
                    {
                        found.push((attr.local.clone(), attr.value.clone()));
                    }
                }
            }
        }
        found
    }
}

fn write_qname(prefix: &str, local: &str, out: &mut Vec<u8>) {
    if !prefix.is_empty() {
        out.extend_from_slice(prefix.as_bytes());
        out.push(b':');
    }
    out.extend_from_slice(local.as_bytes());
}

/// Writes `s`, replacing the bytes `replacement` maps (all ASCII, so UTF-8 stays intact).
/// `special` marks those bytes, so that runs without any (base64 attachments, most text) are
/// copied in one piece.
fn escape(
    s: &str,
    out: &mut Vec<u8>,
    special: &[bool; 256],
    replacement: impl Fn(u8) -> &'static [u8],
) {
    let bytes = s.as_bytes();
    let mut last = 0;
    while let Some(offset) = bytes[last..].iter().position(|&b| special[usize::from(b)]) {
        let i = last + offset;
        out.extend_from_slice(&bytes[last..i]);
        out.extend_from_slice(replacement(bytes[i]));
        last = i + 1;
    }
    out.extend_from_slice(&bytes[last..]);
}

const fn table(chars: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < chars.len() {
        t[chars[i] as usize] = true;
        i += 1;
    }
    t
}

static TEXT_SPECIAL: [bool; 256] = table(b"&<>\r");
static ATTR_SPECIAL: [bool; 256] = table(b"&<\"\t\n\r");

/// Text nodes: `& < > CR`.
fn escape_text(s: &str, out: &mut Vec<u8>) {
    escape(s, out, &TEXT_SPECIAL, |b| match b {
        b'&' => b"&amp;",
        b'<' => b"&lt;",
        b'>' => b"&gt;",
        _ => b"&#xD;",
    });
}

/// Attribute values: `& < " TAB LF CR`.
fn escape_attr(s: &str, out: &mut Vec<u8>) {
    escape(s, out, &ATTR_SPECIAL, |b| match b {
        b'&' => b"&amp;",
        b'<' => b"&lt;",
        b'"' => b"&quot;",
        b'\t' => b"&#x9;",
        b'\n' => b"&#xA;",
        _ => b"&#xD;",
    });
}

#[cfg(test)]
mod tests;
