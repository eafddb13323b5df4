//! Making an enveloped signature.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;

use super::{DSIG_NS, DigestMethod, DsigError, ENVELOPED, ID_ATTRIBUTES, XmlSignatureAlgorithm};
use crate::keys::PrivateKey;
use crate::xml::c14n::uri::EXC_C14N;
use crate::xml::dom::XML_NS;
use crate::xml::{Apex, Document, Limits, Method, NodeId, canonicalize};

/// A signing identity: key, certificate chain (leaf first) and algorithm.
#[derive(Debug, Clone)]
pub struct Signer {
    key: Arc<PrivateKey>,
    chain: Vec<CertificateDer<'static>>,
    algorithm: XmlSignatureAlgorithm,
}

impl Signer {
    /// Builds a signer. Fails when the key does not match the leaf certificate, when the chain
    /// is empty, or when the algorithm does not fit the key (RSA vs EC). SHA-1 is refused.
    pub fn new(
        key: Arc<PrivateKey>,
        chain: Vec<CertificateDer<'static>>,
        algorithm: XmlSignatureAlgorithm,
    ) -> Result<Self, DsigError> {
        let leaf = chain
            .first()
            .ok_or_else(|| DsigError::Structure("no signing certificate".into()))?;
        key.check_matches(leaf)?;
        if algorithm == XmlSignatureAlgorithm::RsaSha1 {
            return Err(DsigError::Algorithm(
                "Lienthong never signs with SHA-1".into(),
            ));
        }
        // Fail now, not on the first message, if the algorithm does not fit the key.
        key.sign(algorithm.key_algorithm(), b"probe")?;
        Ok(Self {
            key,
            chain,
            algorithm,
        })
    }

    /// The algorithm that fits the key: RSA-SHA256 for RSA, ECDSA-SHA256 for P-256.
    pub fn default_algorithm(key: &PrivateKey) -> XmlSignatureAlgorithm {
        match key.default_algorithm() {
            crate::keys::SignatureAlgorithm::EcdsaP256Sha256 => XmlSignatureAlgorithm::EcdsaSha256,
            _ => XmlSignatureAlgorithm::RsaSha256,
        }
    }

    /// The algorithm this signer uses.
    pub fn algorithm(&self) -> XmlSignatureAlgorithm {
        self.algorithm
    }
}

/// What the signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedPart {
    /// The whole document (`Reference URI=""`).
    WholeDocument,
    /// The element whose `Id` (or `ID`, `id`, `xml:id`) is this value (`URI="#value"`).
    ElementById(String),
}

/// Where the `Signature` element goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// As the last child of the document element.
    LastChildOfRoot,
    /// As the last child of the first element with this namespace and local name.
    LastChildOf {
        /// Namespace URI ("" for none).
        ns: String,
        /// Local name.
        local: String,
    },
    /// Right after the first element with this namespace and local name (edXML puts it after
    /// `TraceHeaderList`).
    After {
        /// Namespace URI ("" for none).
        ns: String,
        /// Local name.
        local: String,
    },
}

/// Options for [`sign`].
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// What to sign.
    pub part: SignedPart,
    /// Where to put the signature.
    pub placement: Placement,
    /// The reference digest; SHA-256 unless the signature algorithm is RSA-SHA512.
    pub digest: Option<DigestMethod>,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            part: SignedPart::WholeDocument,
            placement: Placement::LastChildOfRoot,
            digest: None,
        }
    }
}

/// Signs `xml` and returns the document with the `Signature` element inserted.
///
/// Fails when the document is not acceptable XML, already carries an XML-DSig signature, the
/// `Id` is missing or not unique, or the placement element does not exist.
pub fn sign(xml: &str, signer: &Signer, options: &SignOptions) -> Result<String, DsigError> {
    let doc = Document::parse(xml, Limits::default())?;
    if doc.elements().any(|(_, e)| e.is(DSIG_NS, "Signature")) {
        return Err(DsigError::Structure(
            "the document already carries an XML-DSig Signature".into(),
        ));
    }
    let (apex, uri) = match &options.part {
        SignedPart::WholeDocument => (Apex::Document, String::new()),
        SignedPart::ElementById(id) => (
            Apex::Element(find_by_id(&doc, id)?),
            format!("#{}", escape_attr(id)),
        ),
    };
    let digest_method = options.digest.unwrap_or(match signer.algorithm {
        XmlSignatureAlgorithm::RsaSha512 => DigestMethod::Sha512,
        _ => DigestMethod::Sha256,
    });
    if digest_method == DigestMethod::Sha1 {
        return Err(DsigError::Algorithm(
            "Lienthong never digests with SHA-1".into(),
        ));
    }
    let method = Method::Exclusive {
        with_comments: false,
        inclusive_prefixes: vec![],
    };
    let digest = digest_method.digest(&canonicalize(&doc, apex, &method, None));

    // SignedInfo in exclusive canonical form; the embedded copy differs only by the namespace
    // declaration, which the Signature element carries instead.
    let signed_info_body = format!(
        concat!(
            "<ds:CanonicalizationMethod Algorithm=\"{c14n}\"></ds:CanonicalizationMethod>",
            "<ds:SignatureMethod Algorithm=\"{sig}\"></ds:SignatureMethod>",
            "<ds:Reference URI=\"{uri}\"><ds:Transforms>",
            "<ds:Transform Algorithm=\"{env}\"></ds:Transform>",
            "<ds:Transform Algorithm=\"{c14n}\"></ds:Transform>",
            "</ds:Transforms><ds:DigestMethod Algorithm=\"{dm}\"></ds:DigestMethod>",
            "<ds:DigestValue>{dv}</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        ),
        c14n = EXC_C14N,
        sig = signer.algorithm.uri(),
        uri = uri,
        env = ENVELOPED,
        dm = digest_method.uri(),
        dv = STANDARD.encode(&digest),
    );
    let canonical_signed_info = format!("<ds:SignedInfo xmlns:ds=\"{DSIG_NS}\">{signed_info_body}");
    let value = signer.key.sign(
        signer.algorithm.key_algorithm(),
        canonical_signed_info.as_bytes(),
    )?;
    let mut certs = String::new();
    for c in &signer.chain {
        certs.push_str("<ds:X509Certificate>");
        certs.push_str(&STANDARD.encode(c.as_ref()));
        certs.push_str("</ds:X509Certificate>");
    }
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\"><ds:SignedInfo>{signed_info_body}<ds:SignatureValue>{}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>{certs}</ds:X509Data></ds:KeyInfo></ds:Signature>",
        STANDARD.encode(&value)
    );
    insert(xml, &doc, &options.placement, &signature)
}

/// Finds the unique element whose ID attribute is `id`.
pub(crate) fn find_by_id(doc: &Document, id: &str) -> Result<NodeId, DsigError> {
    let mut found = None;
    for (n, e) in doc.elements() {
        let has = e.attrs.iter().any(|a| {
            a.value == id
                && ((a.ns.is_empty() && ID_ATTRIBUTES.contains(&a.local.as_str()))
                    || (&*a.ns == XML_NS && a.local == "id"))
        });
        if has {
            if found.is_some() {
                return Err(DsigError::Reference(format!(
                    "more than one element has the ID {id:?}"
                )));
            }
            found = Some(n);
        }
    }
    found.ok_or_else(|| DsigError::Reference(format!("no element has the ID {id:?}")))
}

fn insert(
    xml: &str,
    doc: &Document,
    placement: &Placement,
    signature: &str,
) -> Result<String, DsigError> {
    let find = |ns: &str, local: &str| {
        doc.elements()
            .find(|(_, e)| e.is(ns, local))
            .map(|(n, _)| n)
            .ok_or_else(|| {
                DsigError::Structure(format!("no element {{{ns}}}{local} to place the signature"))
            })
    };
    let (target, after) = match placement {
        Placement::LastChildOfRoot => (doc.root(), false),
        Placement::LastChildOf { ns, local } => (find(ns, local)?, false),
        Placement::After { ns, local } => (find(ns, local)?, true),
    };
    let e = doc
        .element(target)
        .ok_or_else(|| DsigError::Structure("placement target is not an element".into()))?;
    let mut out = String::with_capacity(xml.len() + signature.len() + 32);
    if after {
        out.push_str(&xml[..e.end]);
        out.push_str(signature);
        out.push_str(&xml[e.end..]);
    } else if let Some(end_tag) = e.end_tag_start {
        out.push_str(&xml[..end_tag]);
        out.push_str(signature);
        out.push_str(&xml[end_tag..]);
    } else {
        // `<x …/>`: reopen it as `<x …>` + signature + `</x>`.
        let tag = xml[e.start..e.end].trim_end_matches("/>").trim_end();
        let qname = if e.prefix.is_empty() {
            e.local.clone()
        } else {
            format!("{}:{}", e.prefix, e.local)
        };
        out.push_str(&xml[..e.start]);
        out.push_str(tag);
        out.push('>');
        out.push_str(signature);
        out.push_str("</");
        out.push_str(&qname);
        out.push('>');
        out.push_str(&xml[e.end..]);
    }
    Ok(out)
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}
