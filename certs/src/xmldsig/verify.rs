//! Checking an enveloped signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::sign::find_by_id;
use super::{DSIG_NS, DigestMethod, DsigError, ENVELOPED, EXC_C14N_NS, XmlSignatureAlgorithm};
use crate::keys::verify_with_certificate;
use crate::trust::{Purpose, TrustStore, VerifiedSigner};
use crate::xml::{Apex, Document, Limits, Method, NodeId, canonicalize};

/// What the signature must cover for the caller to rely on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// The whole document (`URI=""`).
    WholeDocument,
    /// The document (`URI=""`) or the element `{ns}local` by ID — which must then be the only
    /// element of that name in the document, so that the element the caller goes on to read is
    /// the signed one.
    Element {
        /// Namespace URI ("" for none).
        ns: String,
        /// Local name.
        local: String,
    },
}

/// How to verify.
#[derive(Debug, Clone, Copy)]
pub struct VerifyPolicy<'a> {
    /// The trust store the signing certificate must chain to.
    pub trust: &'a TrustStore,
    /// What must be signed.
    pub expected: &'a Expected,
    /// The instant at which the certificate must be valid (now when `None`).
    pub at: Option<OffsetDateTime>,
    /// Accept RSA-SHA1 and SHA-1 digests even if the trust store does not.
    pub allow_legacy: bool,
    /// Parser limits.
    pub limits: Limits,
}

impl<'a> VerifyPolicy<'a> {
    /// A policy with defaults: now, legacy per the trust store, default limits.
    pub fn new(trust: &'a TrustStore, expected: &'a Expected) -> Self {
        Self {
            trust,
            expected,
            at: None,
            allow_legacy: false,
            limits: Limits::default(),
        }
    }
}

/// A verified signature.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Who signed, and the trust store that vouched for them.
    pub signer: VerifiedSigner,
    /// The signature algorithm used.
    pub algorithm: XmlSignatureAlgorithm,
    /// The reference URI ("" or "#id").
    pub reference: String,
    /// The base64 `SignatureValue` (for the audit log).
    pub signature_value: String,
    /// The parsed document, so the caller reads the same tree that was verified.
    pub document: Document,
    /// The signed node: the document element for `URI=""`, else the referenced element.
    pub signed_element: NodeId,
    /// The `Signature` element. Nothing inside it is covered by the signature (the enveloped
    /// transform leaves it out), so a reader must never take data from there; where it sits is
    /// for the caller's profile to check (edXML puts it in `edXMLHeader`).
    pub signature: NodeId,
}

impl Verified {
    /// Whether `node` is covered by the signature: inside the signed element and not inside
    /// the `Signature`. A reader that takes data only from covered nodes reads what was signed.
    pub fn covers(&self, node: NodeId) -> bool {
        self.document.is_within(node, self.signed_element)
            && !self.document.is_within(node, self.signature)
    }
}

/// Verifies the one enveloped signature of `xml` under `policy`.
///
/// Errors: the document does not parse within `policy.limits`, or [`verify_parsed`]'s.
pub fn verify(xml: &str, policy: &VerifyPolicy<'_>) -> Result<Verified, DsigError> {
    verify_parsed(Document::parse(xml, policy.limits)?, policy)
}

/// Verifies the one enveloped signature of a document already parsed (with the same limits the
/// policy states), so a caller that had to look into it first (who claims to send it) does not
/// hold two trees of a large document; the tree comes back in [`Verified::document`].
///
/// Errors: no or several signatures, a structure or algorithm the policy refuses, a digest or
/// signature mismatch, an untrusted certificate.
pub fn verify_parsed(doc: Document, policy: &VerifyPolicy<'_>) -> Result<Verified, DsigError> {
    let allow_legacy = policy.allow_legacy || policy.trust.allow_legacy();
    let structure = |s: &str| DsigError::Structure(s.to_string());

    let signatures: Vec<NodeId> = doc
        .elements()
        .filter(|(_, e)| e.is(DSIG_NS, "Signature"))
        .map(|(n, _)| n)
        .collect();
    let signature = match signatures.as_slice() {
        [] => return Err(structure("no Signature element")),
        [one] => *one,
        _ => return Err(structure("more than one Signature element")),
    };
    check_shape(&doc, signature)?;
    let signed_info = only_child(&doc, signature, "SignedInfo")?;

    // SignedInfo: canonicalization and signature method.
    let c14n_el = only_child(&doc, signed_info, "CanonicalizationMethod")?;
    let c14n = c14n_method(&doc, c14n_el)?;
    let sig_uri = algorithm_of(&doc, only_child(&doc, signed_info, "SignatureMethod")?)?;
    let algorithm = XmlSignatureAlgorithm::from_uri(&sig_uri)
        .ok_or_else(|| DsigError::Algorithm(sig_uri.clone()))?;
    if algorithm == XmlSignatureAlgorithm::RsaSha1 && !allow_legacy {
        return Err(DsigError::Algorithm(
            "RSA-SHA1 is only accepted from peers configured with allow_legacy".into(),
        ));
    }

    // Exactly one Reference.
    let references: Vec<NodeId> = doc
        .child_elements(signed_info)
        .filter(|(_, e)| e.is(DSIG_NS, "Reference"))
        .map(|(n, _)| n)
        .collect();
    let reference = match references.as_slice() {
        [one] => *one,
        [] => return Err(structure("no Reference")),
        _ => return Err(structure("more than one Reference")),
    };
    let ref_el = doc
        .element(reference)
        .ok_or_else(|| structure("Reference"))?;
    let uri = ref_el
        .attr("URI")
        .ok_or_else(|| structure("Reference without URI"))?
        .to_string();

    // Transforms: enveloped-signature and at most one C14N, nothing else.
    let mut enveloped = false;
    let mut ref_c14n: Option<Method> = None;
    if let Some(transforms) = doc.child(reference, DSIG_NS, "Transforms") {
        for (t, e) in doc.child_elements(transforms) {
            if !e.is(DSIG_NS, "Transform") {
                return Err(structure("unexpected element in Transforms"));
            }
            let alg = e
                .attr("Algorithm")
                .ok_or_else(|| structure("Transform without Algorithm"))?;
            if alg == ENVELOPED {
                if enveloped {
                    return Err(structure("enveloped-signature transform twice"));
                }
                enveloped = true;
            } else if ref_c14n.is_none() {
                ref_c14n = Some(c14n_method(&doc, t).map_err(|_| {
                    DsigError::Algorithm(format!("transform {alg} is not accepted"))
                })?);
            } else {
                return Err(DsigError::Algorithm(format!(
                    "transform {alg} after a canonicalization is not accepted"
                )));
            }
        }
    }
    // A same-document reference selects the nodes without comments; without an explicit
    // canonicalization transform, inclusive C14N turns them into octets.
    let ref_method = ref_c14n
        .unwrap_or(Method::Inclusive {
            with_comments: false,
        })
        .without_comments();
    let digest_uri = algorithm_of(&doc, only_child(&doc, reference, "DigestMethod")?)?;
    let digest_method = DigestMethod::from_uri(&digest_uri)
        .ok_or_else(|| DsigError::Algorithm(digest_uri.clone()))?;
    if digest_method == DigestMethod::Sha1 && !allow_legacy {
        return Err(DsigError::Algorithm(
            "SHA-1 digests are only accepted from peers configured with allow_legacy".into(),
        ));
    }
    let digest_value = decode_b64(&doc.text(only_child(&doc, reference, "DigestValue")?))
        .ok_or_else(|| structure("DigestValue is not base64"))?;

    // Resolve the reference and check it is what the caller relies on.
    let (apex, signed_element) = if uri.is_empty() {
        (Apex::Document, doc.root())
    } else if let Some(id) = uri.strip_prefix('#') {
        if id.is_empty() || id.starts_with("xpointer(") {
            return Err(DsigError::Reference(format!("URI {uri:?} is not accepted")));
        }
        let node = find_by_id(&doc, id)?;
        (Apex::Element(node), node)
    } else {
        return Err(DsigError::Reference(format!(
            "URI {uri:?} is not a same-document reference"
        )));
    };
    if doc.is_within(signed_element, signature) {
        return Err(DsigError::Reference(format!(
            "URI {uri:?} points inside the Signature itself"
        )));
    }
    check_expected(&doc, policy.expected, &uri, signed_element, signature)?;
    if !enveloped && doc.is_within(signature, signed_element) {
        return Err(structure(
            "the Signature is inside the signed content but there is no enveloped-signature transform",
        ));
    }

    let exclude = enveloped.then_some(signature);
    let computed = digest_method.digest(&canonicalize(&doc, apex, &ref_method, exclude));
    if !bool::from(computed.ct_eq(&digest_value)) {
        return Err(DsigError::DigestMismatch);
    }

    // The signature over SignedInfo.
    let signed_info_bytes = canonicalize(&doc, Apex::Element(signed_info), &c14n, None);
    let value_el = only_child(&doc, signature, "SignatureValue")?;
    let signature_value_text: String = doc
        .text(value_el)
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let signature_value = decode_b64(&signature_value_text)
        .ok_or_else(|| structure("SignatureValue is not base64"))?;
    let certificates = key_info_certificates(&doc, signature)?;
    let signer_cert = certificates
        .iter()
        .find(|c| {
            verify_with_certificate(
                c,
                algorithm.key_algorithm(),
                &signed_info_bytes,
                &signature_value,
            )
        })
        .ok_or(DsigError::BadSignature)?;
    let at = policy.at.unwrap_or_else(OffsetDateTime::now_utc);
    let signer = policy
        .trust
        .verify(signer_cert, &certificates, at, Purpose::Signing)?;
    Ok(Verified {
        signer,
        algorithm,
        reference: uri,
        signature_value: signature_value_text,
        document: doc,
        signed_element,
        signature,
    })
}

fn check_expected(
    doc: &Document,
    expected: &Expected,
    uri: &str,
    signed: NodeId,
    signature: NodeId,
) -> Result<(), DsigError> {
    match expected {
        Expected::WholeDocument if uri.is_empty() => Ok(()),
        Expected::WholeDocument => Err(DsigError::Reference(format!(
            "the signature covers {uri}, not the whole document"
        ))),
        Expected::Element { ns, local } => {
            // Whether the whole document or the element itself is signed, the element the
            // caller goes on to read must be the only one of its name, outside the Signature:
            // with `URI=""` a second copy could otherwise sit in the Signature, unsigned.
            let mut found = doc.elements().filter(|(_, e)| e.is(ns, local));
            let (only, _) = match (found.next(), found.next()) {
                (Some(one), None) => one,
                (None, _) => {
                    return Err(DsigError::Reference(format!(
                        "no element {{{ns}}}{local} in the document"
                    )));
                }
                (Some(_), Some(_)) => {
                    let count = 2 + found.count();
                    return Err(DsigError::Reference(format!(
                        "{count} elements {{{ns}}}{local}: the signed one is ambiguous"
                    )));
                }
            };
            if doc.is_within(only, signature) {
                return Err(DsigError::Reference(format!(
                    "{{{ns}}}{local} is inside the Signature, which is not signed"
                )));
            }
            if !uri.is_empty() && only != signed {
                let e = doc
                    .element(signed)
                    .ok_or_else(|| DsigError::Reference("not an element".into()))?;
                return Err(DsigError::Reference(format!(
                    "the signature covers {{{}}}{}, not {{{ns}}}{local}",
                    e.ns, e.local
                )));
            }
            Ok(())
        }
    }
}

/// The XML Signature 1.1 namespace (`ECKeyValue`).
const DSIG11_NS: &str = "http://www.w3.org/2009/xmldsig11#";

/// What an element inside a `Signature` may contain.
struct Shape {
    /// Allowed child elements: (namespace, local name, may repeat).
    children: &'static [(&'static str, &'static str, bool)],
    /// Whether it holds a value (text) rather than elements.
    text: bool,
}

const fn elements(children: &'static [(&'static str, &'static str, bool)]) -> Option<Shape> {
    Some(Shape {
        children,
        text: false,
    })
}

const VALUE: Option<Shape> = Some(Shape {
    children: &[],
    text: true,
});

/// The profile's grammar of the `Signature` subtree (XML-DSig core, without `Object`,
/// `Manifest`, retrieval methods or anything of another namespace).
fn shape(ns: &str, local: &str) -> Option<Shape> {
    const D: &str = DSIG_NS;
    match (ns, local) {
        (D, "SignedInfo") => elements(&[
            (D, "CanonicalizationMethod", false),
            (D, "SignatureMethod", false),
            (D, "Reference", true),
        ]),
        (D, "CanonicalizationMethod" | "Transform") => {
            elements(&[(EXC_C14N_NS, "InclusiveNamespaces", false)])
        }
        (EXC_C14N_NS, "InclusiveNamespaces") | (D, "SignatureMethod" | "DigestMethod") => {
            elements(&[])
        }
        (D, "Reference") => elements(&[
            (D, "Transforms", false),
            (D, "DigestMethod", false),
            (D, "DigestValue", false),
        ]),
        (D, "Transforms") => elements(&[(D, "Transform", true)]),
        (D, "KeyInfo") => elements(&[
            (D, "X509Data", true),
            (D, "KeyName", true),
            (D, "KeyValue", true),
        ]),
        (D, "KeyValue") => elements(&[(D, "RSAKeyValue", false), (DSIG11_NS, "ECKeyValue", false)]),
        (D, "RSAKeyValue") => elements(&[(D, "Modulus", false), (D, "Exponent", false)]),
        (DSIG11_NS, "ECKeyValue") => elements(&[
            (DSIG11_NS, "NamedCurve", false),
            (DSIG11_NS, "PublicKey", false),
        ]),
        (DSIG11_NS, "NamedCurve") => elements(&[]),
        (D, "X509Data") => elements(&[
            (D, "X509Certificate", true),
            (D, "X509SubjectName", true),
            (D, "X509IssuerSerial", true),
            (D, "X509SKI", true),
        ]),
        (D, "X509IssuerSerial") => {
            elements(&[(D, "X509IssuerName", false), (D, "X509SerialNumber", false)])
        }
        (
            D,
            "DigestValue" | "SignatureValue" | "KeyName" | "Modulus" | "Exponent"
            | "X509Certificate" | "X509SubjectName" | "X509SKI" | "X509IssuerName"
            | "X509SerialNumber",
        )
        | (DSIG11_NS, "PublicKey") => VALUE,
        _ => None,
    }
}

/// Checks that the `Signature` holds exactly `SignedInfo`, `SignatureValue`, `KeyInfo` in that
/// order, and below them only what [`shape`] allows: nothing the signature does not cover can
/// hide in it (a forged header, a second document in `Object` or `KeyInfo`), because the
/// enveloped transform leaves the whole `Signature` out of the digest.
fn check_shape(doc: &Document, signature: NodeId) -> Result<(), DsigError> {
    let structure = |s: String| Err(DsigError::Structure(s));
    let names: Vec<&str> = doc
        .child_elements(signature)
        .map(|(_, e)| {
            if &*e.ns == DSIG_NS {
                e.local.as_str()
            } else {
                "(foreign)"
            }
        })
        .collect();
    if names != ["SignedInfo", "SignatureValue", "KeyInfo"] {
        return structure(format!(
            "Signature must hold SignedInfo, SignatureValue and KeyInfo, in that order, and nothing else (found {})",
            names.join(", ")
        ));
    }
    check_no_text(doc, signature, "Signature")?;
    let mut pending: Vec<NodeId> = doc
        .child_elements(signature)
        .filter(|(_, e)| e.local != "SignatureValue")
        .map(|(n, _)| n)
        .collect();
    while let Some(node) = pending.pop() {
        let Some(e) = doc.element(node) else { continue };
        let Some(rule) = shape(&e.ns, &e.local) else {
            return structure(format!(
                "unexpected element {{{}}}{} in the Signature",
                e.ns, e.local
            ));
        };
        if rule.text {
            if let Some((_, c)) = doc.child_elements(node).next() {
                return structure(format!("unexpected element {} in {}", c.local, e.local));
            }
            check_no_pi(doc, node, &e.local)?;
            continue;
        }
        check_no_text(doc, node, &e.local)?;
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (c, ce) in doc.child_elements(node) {
            let allowed = rule.children.iter().find(|(ns, local, _)| ce.is(ns, local));
            match allowed {
                None => {
                    return structure(format!(
                        "unexpected element {{{}}}{} in {}",
                        ce.ns, ce.local, e.local
                    ));
                }
                Some((ns, local, many)) => {
                    if !many && seen.contains(&(ns, local)) {
                        return structure(format!("more than one {local} in {}", e.local));
                    }
                    seen.push((ns, local));
                }
            }
            pending.push(c);
        }
    }
    let value = only_child(doc, signature, "SignatureValue")?;
    if doc.child_elements(value).next().is_some() {
        return structure("unexpected element in SignatureValue".into());
    }
    check_no_pi(doc, value, "SignatureValue")
}

/// Elements of the signature grammar hold only whitespace between their children (comments
/// are tolerated: canonicalization without comments drops them and no reader looks at them).
fn check_no_text(doc: &Document, node: NodeId, name: &str) -> Result<(), DsigError> {
    check_no_pi(doc, node, name)?;
    let text = doc.text(node);
    if text.chars().any(|c| !matches!(c, ' ' | '\t' | '\n' | '\r')) {
        return Err(DsigError::Structure(format!("unexpected text in {name}")));
    }
    Ok(())
}

fn check_no_pi(doc: &Document, node: NodeId, name: &str) -> Result<(), DsigError> {
    let children = doc
        .element(node)
        .map(|e| e.children.as_slice())
        .unwrap_or(&[]);
    if children
        .iter()
        .any(|&c| matches!(doc.node(c).kind, crate::xml::dom::NodeKind::Pi { .. }))
    {
        return Err(DsigError::Structure(format!(
            "unexpected processing instruction in {name}"
        )));
    }
    Ok(())
}

fn only_child(doc: &Document, parent: NodeId, local: &str) -> Result<NodeId, DsigError> {
    let mut it = doc
        .child_elements(parent)
        .filter(|(_, e)| e.is(DSIG_NS, local));
    match (it.next(), it.next()) {
        (Some((n, _)), None) => Ok(n),
        (None, _) => Err(DsigError::Structure(format!("missing {local}"))),
        _ => Err(DsigError::Structure(format!("more than one {local}"))),
    }
}

fn algorithm_of(doc: &Document, el: NodeId) -> Result<String, DsigError> {
    doc.element(el)
        .and_then(|e| e.attr("Algorithm"))
        .map(str::to_string)
        .ok_or_else(|| DsigError::Structure("missing Algorithm attribute".into()))
}

/// The canonicalization method of a `CanonicalizationMethod` or `Transform` element, with its
/// `InclusiveNamespaces PrefixList` when exclusive.
fn c14n_method(doc: &Document, el: NodeId) -> Result<Method, DsigError> {
    let uri = algorithm_of(doc, el)?;
    let prefixes: Vec<String> = doc
        .child(el, EXC_C14N_NS, "InclusiveNamespaces")
        .and_then(|n| doc.element(n))
        .and_then(|e| e.attr("PrefixList"))
        .map(|l| l.split_ascii_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    Method::from_uri(&uri, prefixes)
        .ok_or_else(|| DsigError::Algorithm(format!("canonicalization {uri}")))
}

fn key_info_certificates(
    doc: &Document,
    signature: NodeId,
) -> Result<Vec<CertificateDer<'static>>, DsigError> {
    let key_info = doc
        .child(signature, DSIG_NS, "KeyInfo")
        .ok_or_else(|| DsigError::Structure("missing KeyInfo".into()))?;
    let mut certs = Vec::new();
    for (data, e) in doc.child_elements(key_info) {
        if !e.is(DSIG_NS, "X509Data") {
            continue;
        }
        for (c, ce) in doc.child_elements(data) {
            if ce.is(DSIG_NS, "X509Certificate") {
                let der = decode_b64(&doc.text(c))
                    .ok_or_else(|| DsigError::Structure("X509Certificate is not base64".into()))?;
                certs.push(CertificateDer::from(der));
            }
        }
    }
    if certs.is_empty() {
        return Err(DsigError::Structure(
            "KeyInfo carries no X509Certificate".into(),
        ));
    }
    Ok(certs)
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact.as_bytes()).ok()
}
