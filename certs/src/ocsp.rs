//! OCSP (RFC 6960): the request for one certificate's status and the check of the answer.
//!
//! This module only builds and checks messages; it does no I/O. [`crate::revocation`] sends
//! the request, caches answers and applies a trust store's policy.
//!
//! What is checked in an answer, in order, before its status is believed:
//! 1. the response is `successful` and of type `id-pkix-ocsp-basic`;
//! 2. it is signed by the certificate's issuer, or by a *delegated responder*: a certificate
//!    the answer carries that the same issuer signed, that carries the `id-kp-OCSPSigning`
//!    extended key usage and is valid now (RFC 6960 §4.2.2.2). A response signed by anyone
//!    else (another CA, a responder of another CA) is refused;
//! 3. it carries a single response for exactly the certificate asked about (same CertID);
//! 4. the nonce is the one sent (a replayed answer is refused); an answer without a nonce is
//!    refused unless the caller accepts pre-produced answers;
//! 5. `thisUpdate` is not in the future and `nextUpdate`, when given, not in the past (five
//!    minutes of clock skew either way).
//!
//! Message types are RustCrypto's `x509-ocsp` (DER); the CertID uses SHA-1 as RFC 5019's
//! lightweight profile asks, which every responder understands — it only names the
//! certificate, the answer's integrity rests on the responder's signature. Signatures are
//! checked with the same aws-lc-rs algorithms as certificate chains, matched by algorithm
//! identifier as webpki matches them.

use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use spki::SubjectPublicKeyInfoRef;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, ExtendedKeyUsage};
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest,
};

/// `id-pkix-ocsp-basic`.
const OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// `id-pkix-ocsp-nonce`.
const OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// `id-ad-ocsp`, the access method of an OCSP responder in Authority Information Access.
const AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// `id-pe-authorityInfoAccess`.
const PE_AIA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
/// `id-ce-extKeyUsage`.
const CE_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
/// `id-kp-OCSPSigning`.
const KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
/// `id-sha1`.
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");

/// Clock skew tolerated between us and a responder.
const SKEW: time::Duration = time::Duration::minutes(5);
/// Bytes of nonce sent (RFC 8954 asks for 1 to 32; 16 are what OpenSSL sends).
const NONCE_LEN: usize = 16;

/// Why a request could not be built or an answer is not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    /// The certificate or its issuer's key could not be read.
    #[error("OCSP request: {0}")]
    Request(String),
    /// The responder answered something other than a successful basic response.
    #[error("OCSP responder said {0}")]
    Status(String),
    /// The answer is malformed.
    #[error("OCSP answer malformed: {0}")]
    Malformed(String),
    /// The answer's signature is not the issuer's nor a delegated responder's of that issuer.
    #[error("OCSP answer not signed by the issuer or its delegated responder: {0}")]
    Signature(String),
    /// The answer is about another certificate, replays another request's nonce, or is
    /// outside its validity window.
    #[error("OCSP answer not usable: {0}")]
    Mismatch(String),
}

/// A certificate's status as a responder answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not revoked.
    Good,
    /// Revoked at that instant, with the reason when the CA gave one.
    Revoked {
        /// When it was revoked.
        at: OffsetDateTime,
        /// The CRL reason code's name, e.g. `KeyCompromise`.
        reason: Option<String>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

/// A checked answer: the status and how long it may be believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The certificate's status.
    pub status: Status,
    /// When the responder vouched for it.
    pub this_update: OffsetDateTime,
    /// Until when; `None` means the responder has newer information at any time.
    pub next_update: Option<OffsetDateTime>,
    /// Who signed the answer: `issuer` or the delegated responder's subject.
    pub signed_by: String,
}

/// One request, kept to check its answer against.
#[derive(Debug, Clone)]
pub struct Query {
    cert_id: CertId,
    /// `None` for a stapled answer, which was asked for by someone else with their nonce.
    nonce: Option<Vec<u8>>,
    issuer_name: x509_cert::name::Name,
    issuer_spki: Vec<u8>,
    der: Vec<u8>,
}

impl Query {
    /// Builds a request for `leaf`, issued by the holder of `issuer_spki` (the DER
    /// SubjectPublicKeyInfo of the certificate that signed it), with a fresh random nonce.
    pub fn new(leaf: &[u8], issuer_spki: &[u8]) -> Result<Self, OcspError> {
        let bad =
            |what: &str, e: &dyn std::fmt::Display| OcspError::Request(format!("{what}: {e}"));
        let cert = Certificate::from_der(leaf).map_err(|e| bad("certificate", &e))?;
        let spki =
            SubjectPublicKeyInfoRef::from_der(issuer_spki).map_err(|e| bad("issuer key", &e))?;
        let issuer_name = cert.tbs_certificate.issuer.clone();
        let name_der = issuer_name.to_der().map_err(|e| bad("issuer name", &e))?;
        let octets = |v: Vec<u8>| OctetString::new(v).map_err(|e| bad("hash", &e));
        let cert_id = CertId {
            hash_algorithm: spki::AlgorithmIdentifierOwned {
                oid: SHA1,
                parameters: Some(der::asn1::Null.into()),
            },
            issuer_name_hash: octets(sha1(&name_der))?,
            issuer_key_hash: octets(sha1(spki.subject_public_key.raw_bytes()))?,
            serial_number: cert.tbs_certificate.serial_number.clone(),
        };
        let mut nonce = vec![0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| OcspError::Request("no randomness".into()))?;
        let nonce_ext = x509_cert::ext::Extension {
            extn_id: OCSP_NONCE,
            critical: false,
            extn_value: octets(
                OctetString::new(nonce.clone())
                    .and_then(|o| o.to_der())
                    .map_err(|e| bad("nonce", &e))?,
            )?,
        };
        let request = OcspRequest {
            tbs_request: TbsRequest {
                version: x509_ocsp::Version::V1,
                requestor_name: None,
                request_list: vec![Request {
                    req_cert: cert_id.clone(),
                    single_request_extensions: None,
                }],
                request_extensions: Some(vec![nonce_ext]),
            },
            optional_signature: None,
        };
        let der = request.to_der().map_err(|e| bad("encoding", &e))?;
        Ok(Self {
            cert_id,
            nonce: Some(nonce),
            issuer_name,
            issuer_spki: issuer_spki.to_vec(),
            der,
        })
    }

    /// For checking an answer a TLS server stapled (RFC 6066): the same checks as
    /// [`Query::check`] except the nonce, since the server asked with its own.
    pub fn stapled(leaf: &[u8], issuer_spki: &[u8]) -> Result<Self, OcspError> {
        Ok(Self {
            nonce: None,
            ..Self::new(leaf, issuer_spki)?
        })
    }

    /// The DER request, to POST as `application/ocsp-request`.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// A key naming the certificate (issuer and serial), for caching answers.
    pub fn cache_key(&self) -> Vec<u8> {
        self.cert_id.to_der().unwrap_or_default()
    }

    /// Checks a DER `OCSPResponse` against this request at `now` (see the module doc for the
    /// steps). `require_nonce`: refuse an answer without a nonce (a pre-produced answer).
    pub fn check(
        &self,
        response: &[u8],
        now: OffsetDateTime,
        require_nonce: bool,
    ) -> Result<Answer, OcspError> {
        let malformed = |e: &dyn std::fmt::Display| OcspError::Malformed(e.to_string());
        let outer = OcspResponse::from_der(response).map_err(|e| malformed(&e))?;
        if outer.response_status != OcspResponseStatus::Successful {
            return Err(OcspError::Status(format!("{:?}", outer.response_status)));
        }
        let bytes = outer
            .response_bytes
            .ok_or_else(|| OcspError::Malformed("successful but no response".into()))?;
        if bytes.response_type != OCSP_BASIC {
            return Err(OcspError::Malformed(format!(
                "response type {} is not id-pkix-ocsp-basic",
                bytes.response_type
            )));
        }
        let basic_der = bytes.response.as_bytes();
        let basic = BasicOcspResponse::from_der(basic_der).map_err(|e| malformed(&e))?;
        let signed = Signed::from_der(basic_der).map_err(|e| malformed(&e))?;

        let signed_by = self.signer(&signed, basic.certs.as_deref().unwrap_or_default(), now)?;

        let data = &basic.tbs_response_data;
        let mut mine = data.responses.iter().filter(|r| r.cert_id == self.cert_id);
        let single = match (mine.next(), mine.next()) {
            (Some(one), None) => one,
            (None, _) => {
                return Err(OcspError::Mismatch(
                    "no response for the certificate asked about".into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(OcspError::Mismatch(
                    "two responses for the certificate asked about".into(),
                ));
            }
        };
        match (data.nonce(), &self.nonce) {
            (_, None) => {}
            (Some(n), Some(sent)) if n.0.as_bytes() == sent.as_slice() => {}
            (Some(_), Some(_)) => {
                return Err(OcspError::Mismatch(
                    "nonce differs from the one sent (a replayed answer)".into(),
                ));
            }
            (None, Some(_)) if require_nonce => {
                return Err(OcspError::Mismatch(
                    "no nonce in the answer (set ocsp_require_nonce = false to accept pre-produced answers)"
                        .into(),
                ));
            }
            (None, Some(_)) => {}
        }
        let this_update = time_of(&single.this_update)?;
        let next_update = single.next_update.as_ref().map(time_of).transpose()?;
        if this_update > now + SKEW {
            return Err(OcspError::Mismatch(format!(
                "thisUpdate {this_update} is in the future"
            )));
        }
        if let Some(next) = next_update
            && next < now - SKEW
        {
            return Err(OcspError::Mismatch(format!("nextUpdate {next} has passed")));
        }
        let status = match &single.cert_status {
            CertStatus::Good(_) => Status::Good,
            CertStatus::Unknown(_) => Status::Unknown,
            CertStatus::Revoked(info) => Status::Revoked {
                at: time_of(&info.revocation_time)?,
                reason: info.revocation_reason.map(|r| format!("{r:?}")),
            },
        };
        Ok(Answer {
            status,
            this_update,
            next_update,
            signed_by,
        })
    }

    /// Who signed the answer, if it is the issuer or one of its delegated responders.
    fn signer(
        &self,
        signed: &Signed<'_>,
        certs: &[Certificate],
        now: OffsetDateTime,
    ) -> Result<String, OcspError> {
        let tbs = signed
            .tbs
            .to_der()
            .map_err(|e| OcspError::Malformed(e.to_string()))?;
        let alg = signed.alg.value();
        let value = signed.signature.raw_bytes();
        if verify_signature(&self.issuer_spki, alg, &tbs, value) {
            return Ok("issuer".into());
        }
        let mut refused = Vec::new();
        for cert in certs {
            let subject = cert.tbs_certificate.subject.to_string();
            match self.delegated(cert, now) {
                Ok(spki) if verify_signature(&spki, alg, &tbs, value) => return Ok(subject),
                Ok(_) => refused.push(format!("{subject}: signature does not verify")),
                Err(why) => refused.push(format!("{subject}: {why}")),
            }
        }
        Err(OcspError::Signature(if refused.is_empty() {
            "the issuer's key does not verify it and no responder certificate is included".into()
        } else {
            refused.join("; ")
        }))
    }

    /// The key of a delegated responder certificate, if the issuer made it one (RFC 6960
    /// §4.2.2.2): same issuer name, signed by the issuer, `id-kp-OCSPSigning`, valid now.
    fn delegated(&self, cert: &Certificate, now: OffsetDateTime) -> Result<Vec<u8>, String> {
        let tbs = &cert.tbs_certificate;
        if tbs.issuer != self.issuer_name {
            return Err(format!(
                "issued by {}, not by the certificate's issuer",
                tbs.issuer
            ));
        }
        let der = cert.to_der().map_err(|e| e.to_string())?;
        let signed = Signed::from_der(&der).map_err(|e| e.to_string())?;
        let cert_tbs = signed.tbs.to_der().map_err(|e| e.to_string())?;
        if !verify_signature(
            &self.issuer_spki,
            signed.alg.value(),
            &cert_tbs,
            signed.signature.raw_bytes(),
        ) {
            return Err("not signed by the certificate's issuer".into());
        }
        let ocsp_signing = tbs
            .extensions
            .iter()
            .flatten()
            .filter(|e| e.extn_id == CE_EKU)
            .filter_map(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok())
            .any(|eku| eku.0.contains(&KP_OCSP_SIGNING));
        if !ocsp_signing {
            return Err("no id-kp-OCSPSigning extended key usage".into());
        }
        let secs = |t: &x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        let now_s = now.unix_timestamp();
        if now_s < secs(&tbs.validity.not_before) || now_s > secs(&tbs.validity.not_after) {
            return Err("outside its validity period".into());
        }
        tbs.subject_public_key_info
            .to_der()
            .map_err(|e| e.to_string())
    }
}

/// The DER SubjectPublicKeyInfo of a certificate (an issuer's key, for [`Query::new`]).
pub fn public_key_of(cert: &[u8]) -> Option<Vec<u8>> {
    Certificate::from_der(cert)
        .ok()?
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .ok()
}

/// The OCSP responder a certificate names in its Authority Information Access extension.
pub fn responder_url(leaf: &[u8]) -> Option<String> {
    let cert = Certificate::from_der(leaf).ok()?;
    let ext = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == PE_AIA)?;
    let aia = AuthorityInfoAccessSyntax::from_der(ext.extn_value.as_bytes()).ok()?;
    aia.0.iter().find_map(|d| match &d.access_location {
        GeneralName::UniformResourceIdentifier(uri) if d.access_method == AD_OCSP => {
            Some(uri.to_string())
        }
        _ => None,
    })
}

/// The three parts every signed X.509 structure starts with, borrowed, so that the signed
/// bytes are exactly those received (re-encoding a decoded structure could differ from them).
#[derive(der::Sequence)]
struct Signed<'a> {
    tbs: AnyRef<'a>,
    alg: AnyRef<'a>,
    signature: BitStringRef<'a>,
    /// A basic response's `[0] certs`; absent in a certificate.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    _certs: Option<AnyRef<'a>>,
}

/// Whether `signature` over `message` verifies with the key `spki_der` under the algorithm
/// whose identifier's content is `alg`.
fn verify_signature(spki_der: &[u8], alg: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(spki) = SubjectPublicKeyInfoRef::from_der(spki_der) else {
        return false;
    };
    let Ok(key_alg) = spki.algorithm.to_der() else {
        return false;
    };
    let Ok(key_alg) = AnyRef::from_der(&key_alg) else {
        return false;
    };
    let key = spki.subject_public_key.raw_bytes();
    crate::algorithm::verification_algorithms().iter().any(|a| {
        a.public_key_alg_id().as_ref() == key_alg.value()
            && a.signature_alg_id().as_ref() == alg
            && a.verify_signature(key, message, signature).is_ok()
    })
}

fn sha1(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

fn time_of(t: &x509_ocsp::OcspGeneralizedTime) -> Result<OffsetDateTime, OcspError> {
    let secs = i64::try_from(t.0.to_unix_duration().as_secs())
        .map_err(|_| OcspError::Malformed("time out of range".into()))?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| OcspError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testpki::Pki;
    use crate::testpki::openssl_responder::Responder;
    use crate::trust::Purpose;

    fn issuer_spki(pki: &Pki, leaf: &crate::testpki::Leaf) -> Vec<u8> {
        pki.store("s")
            .verify(&leaf.cert, &[], OffsetDateTime::now_utc(), Purpose::Signing)
            .expect("valid leaf")
            .issuer_spki
    }

    #[test]
    fn the_responder_url_is_read_from_authority_information_access() {
        let pki = Pki::new("Root");
        let with = pki.leaf_with_ocsp("a", "http://127.0.0.1:9/ocsp", &[]);
        let without = pki.leaf("b", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
        assert_eq!(
            responder_url(&with.cert).as_deref(),
            Some("http://127.0.0.1:9/ocsp")
        );
        assert_eq!(responder_url(&without.cert), None);
    }

    #[test]
    fn good_revoked_and_unknown_answers_signed_by_the_ca_or_its_delegate() {
        let pki = Pki::new("Root");
        let good = pki.leaf_with_ocsp("good", "http://127.0.0.1:9", &[]);
        let bad = pki.leaf_with_ocsp("bad", "http://127.0.0.1:9", &[]);
        let stranger = pki.leaf_with_ocsp("stranger", "http://127.0.0.1:9", &[]);
        let delegate = pki.ocsp_signer("Root OCSP");
        let tmp = tempfile::tempdir().unwrap();
        let index = [(&good, false), (&bad, true)];
        let now = OffsetDateTime::now_utc();
        for (name, signer) in [("ca", None), ("delegate", Some(&delegate))] {
            let responder = Responder::write(&tmp.path().join(name), &pki, signer, &index);
            let ask = |leaf: &crate::testpki::Leaf| {
                let q = Query::new(&leaf.cert, &issuer_spki(&pki, leaf)).unwrap();
                q.check(&responder.answer(q.der()), now, true).unwrap()
            };
            let a = ask(&good);
            assert_eq!(a.status, Status::Good, "{name}");
            assert!(a.next_update.is_some_and(|n| n > now), "{a:?}");
            match signer {
                None => assert_eq!(a.signed_by, "issuer"),
                Some(_) => assert!(a.signed_by.contains("Root OCSP"), "{}", a.signed_by),
            }
            match ask(&bad).status {
                Status::Revoked { reason, at } => {
                    assert_eq!(reason.as_deref(), Some("KeyCompromise"));
                    assert!(at < now);
                }
                other => panic!("{name}: {other:?}"),
            }
            assert_eq!(ask(&stranger).status, Status::Unknown, "{name}");
        }
    }

    #[test]
    fn an_answer_signed_outside_the_issuer_is_refused() {
        let pki = Pki::new("Root");
        let other = Pki::new("Other root");
        let leaf = pki.leaf_with_ocsp("leaf", "http://127.0.0.1:9", &[]);
        let spki = issuer_spki(&pki, &leaf);
        let tmp = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        // Another CA's responder, its own CA's key, and a certificate of the right CA that is
        // not a responder: none may speak for the issuer.
        let foreign_delegate = other.ocsp_signer("Other OCSP");
        let not_a_responder = pki.leaf("plain", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
        let cases: [(&str, &Pki, Option<&crate::testpki::Leaf>, &str); 3] = [
            (
                "foreign-delegate",
                &other,
                Some(&foreign_delegate),
                "not by the certificate's issuer",
            ),
            (
                "foreign-ca",
                &other,
                None,
                "not by the certificate's issuer",
            ),
            ("no-eku", &pki, Some(&not_a_responder), "OCSPSigning"),
        ];
        for (name, ca, signer, why) in cases {
            // The index of the other CA lists the same serial, so its answer would say good.
            let responder = Responder::write(&tmp.path().join(name), ca, signer, &[(&leaf, false)]);
            let q = Query::new(&leaf.cert, &spki).unwrap();
            let body = responder.answer(q.der());
            let err = q.check(&body, now, true).unwrap_err();
            assert!(
                matches!(&err, OcspError::Signature(m) if m.contains(why)),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn a_replayed_answer_and_an_answer_about_another_certificate_are_refused() {
        let pki = Pki::new("Root");
        let a = pki.leaf_with_ocsp("a", "http://127.0.0.1:9", &[]);
        let b = pki.leaf_with_ocsp("b", "http://127.0.0.1:9", &[]);
        let tmp = tempfile::tempdir().unwrap();
        let responder = Responder::write(tmp.path(), &pki, None, &[(&a, false), (&b, true)]);
        let now = OffsetDateTime::now_utc();
        let first = Query::new(&a.cert, &issuer_spki(&pki, &a)).unwrap();
        let answer = responder.answer(first.der());
        first.check(&answer, now, true).unwrap();
        // The same answer to a later request (another nonce): a replay.
        let later = Query::new(&a.cert, &issuer_spki(&pki, &a)).unwrap();
        let err = later.check(&answer, now, true).unwrap_err();
        assert!(err.to_string().contains("nonce"), "{err}");
        // An answer about b offered for a.
        let about_b = Query::new(&b.cert, &issuer_spki(&pki, &b)).unwrap();
        let err = first
            .check(&responder.answer(about_b.der()), now, false)
            .unwrap_err();
        assert!(
            err.to_string().contains("no response for the certificate"),
            "{err}"
        );
        // Past its nextUpdate (5 minutes) plus the skew, the answer is not used.
        let err = first
            .check(&answer, now + time::Duration::minutes(11), true)
            .unwrap_err();
        assert!(err.to_string().contains("nextUpdate"), "{err}");
        // Garbage is malformed, not a panic.
        assert!(matches!(
            first.check(b"\x30\x03\x0a\x01\x00", now, true),
            Err(OcspError::Malformed(_))
        ));
    }
}
