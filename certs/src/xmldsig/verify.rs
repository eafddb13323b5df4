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
    for (_, e) in doc.child_elements(signed_info) {
        if !e.ns.eq(DSIG_NS)
            || !matches!(
                e.local.as_str(),
                "CanonicalizationMethod" | "SignatureMethod" | "Reference"
            )
        {
            return Err(DsigError::Structure(format!(
                "unexpected element {} in SignedInfo",
                e.local
            )));
        }
    }
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
    check_expected(&doc, policy.expected, &uri, signed_element)?;
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
    })
}

fn check_expected(
    doc: &Document,
    expected: &Expected,
    uri: &str,
    signed: NodeId,
) -> Result<(), DsigError> {
    match expected {
        Expected::WholeDocument if uri.is_empty() => Ok(()),
        Expected::WholeDocument => Err(DsigError::Reference(format!(
            "the signature covers {uri}, not the whole document"
        ))),
        Expected::Element { .. } if uri.is_empty() => Ok(()),
        Expected::Element { ns, local } => {
            let e = doc
                .element(signed)
                .ok_or_else(|| DsigError::Reference("not an element".into()))?;
            if !e.is(ns, local) {
                return Err(DsigError::Reference(format!(
                    "the signature covers {{{}}}{}, not {{{ns}}}{local}",
                    e.ns, e.local
                )));
            }
            let count = doc.elements().filter(|(_, e)| e.is(ns, local)).count();
            if count != 1 {
                return Err(DsigError::Reference(format!(
                    "{count} elements {{{ns}}}{local}: the signed one is ambiguous"
                )));
            }
            Ok(())
        }
    }
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
