//! Named trust stores: the anchors (root CAs) and intermediates a peer or destination is
//! trusted through, optional CRLs, and whether legacy algorithms (SHA-1) are accepted from it.
//!
//! Chain validation is rustls-webpki's, the same path builder rustls uses for TLS, here applied
//! to signing certificates found in XML-DSig `KeyInfo` or named by an HTTP signature's `keyid`.
//! Validation happens at a caller-given instant, so a signature can be checked at signing time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, TrustAnchor, UnixTime};
use time::OffsetDateTime;
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, ExtendedKeyUsageValidator, KeyPurposeId,
    KeyPurposeIdIter, KeyUsage, RevocationCheckDepth, RevocationOptionsBuilder,
    UnknownStatusPolicy,
};

use crate::inspect::CertificateInfo;
use crate::keys::{KeyError, load_certificates};
use crate::revocation_policy::Revocation;

/// Why a certificate is not trusted, or a trust store could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A file of the store could not be read or parsed.
    #[error("trust store {store}: {source}")]
    Load {
        /// The store's name.
        store: String,
        /// What went wrong.
        source: KeyError,
    },
    /// A CRL file could not be parsed.
    #[error("trust store {store}: CRL {path}: {reason}")]
    Crl {
        /// The store's name.
        store: String,
        /// The CRL file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A store with no anchors trusts nothing.
    #[error("trust store {0} has no trust anchor")]
    Empty(String),
    /// The certificate's CA says it is revoked (its OCSP responder).
    #[error("certificate {subject} is revoked ({store}): {reason}")]
    Revoked {
        /// The store's name.
        store: String,
        /// The certificate's subject.
        subject: String,
        /// When and why, as the responder said.
        reason: String,
    },
    /// The revocation status could not be learnt and the store's `on_unknown` is `deny`.
    #[error("certificate {subject}: revocation status unknown ({store}): {reason}")]
    RevocationUnknown {
        /// The store's name.
        store: String,
        /// The certificate's subject.
        subject: String,
        /// What the responder did or said.
        reason: String,
        /// Whether asking again later may help (the responder could not be reached).
        transient: bool,
    },
    /// Path validation failed (unknown issuer, expired, revoked, wrong usage…).
    #[error("certificate {subject} is not trusted by {store}: {reason}")]
    Untrusted {
        /// The store's name.
        store: String,
        /// The certificate's subject.
        subject: String,
        /// webpki's reason, e.g. `UnknownIssuer`, `CertExpired`, `CertRevoked`.
        reason: String,
    },
    /// The certificate's key usage does not allow the purpose.
    #[error("certificate {subject} may not be used for {purpose}")]
    WrongUsage {
        /// The certificate's subject.
        subject: String,
        /// The purpose asked for.
        purpose: &'static str,
    },
}

impl TrustError {
    /// Whether the same certificate may be accepted later without anything changing on the
    /// sender's side (its CA's responder could not be reached): answer "try again", not "no".
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RevocationUnknown {
                transient: true,
                ..
            }
        )
    }
}

/// What a certificate is being validated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Signing documents or HTTP messages: key usage digitalSignature or nonRepudiation (when
    /// the extension is present); EKU, when present, must include one of documentSigning,
    /// emailProtection, clientAuth or anyExtendedKeyUsage — Vietnamese CA profiles for
    /// organisations commonly carry clientAuth and emailProtection.
    Signing,
    /// A TLS client (EKU clientAuth when present).
    TlsClient,
    /// A TLS server (EKU serverAuth when present).
    TlsServer,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Self::Signing => "signing",
            Self::TlsClient => "TLS client authentication",
            Self::TlsServer => "TLS server authentication",
        }
    }
}

/// Where a trust store's files are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStoreFiles {
    /// PEM files of trust anchors (root or directly trusted CA certificates).
    pub anchors: Vec<PathBuf>,
    /// PEM files of intermediate CA certificates that may complete a peer's chain.
    pub intermediates: Vec<PathBuf>,
    /// CRL files (PEM or DER). When any is configured, a certificate whose status is unknown to
    /// them is refused.
    pub crls: Vec<PathBuf>,
    /// Accept RSA-SHA1 and SHA-1 digests from this peer (old edXML implementations).
    pub allow_legacy: bool,
    /// Accept a CRL past its `nextUpdate` as the last word on revocation. Off by default: a
    /// stale CRL makes every certificate it covers fail, and is reported.
    pub allow_stale_crl: bool,
    /// How revocation is checked (CRL files, OCSP, or OCSP then CRL files).
    pub revocation: Revocation,
}

/// What a trust store's CRL says about itself, for monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlStatus {
    /// The issuing CA's name.
    pub issuer: String,
    /// When it was issued.
    pub this_update: OffsetDateTime,
    /// When the CA promises the next one (`None`: not said, never stale).
    pub next_update: Option<OffsetDateTime>,
}

impl CrlStatus {
    fn of(der: &[u8]) -> Option<Self> {
        let (_, crl) = x509_parser::parse_x509_crl(der).ok()?;
        let time = |t: x509_parser::time::ASN1Time| {
            OffsetDateTime::from_unix_timestamp(t.timestamp()).ok()
        };
        Some(Self {
            issuer: CertificateInfo::name_of(crl.issuer()),
            this_update: time(crl.last_update())?,
            next_update: crl.next_update().and_then(time),
        })
    }

    /// Whether `now` is past its `nextUpdate`.
    pub fn is_stale(&self, now: OffsetDateTime) -> bool {
        self.next_update.is_some_and(|n| n < now)
    }
}

/// A named set of trust anchors, intermediates and CRLs. Share it behind an `Arc`.
#[derive(Debug)]
pub struct TrustStore {
    name: String,
    anchor_certs: Vec<CertificateDer<'static>>,
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<CertificateDer<'static>>,
    crl_der: Vec<CertificateRevocationListDer<'static>>,
    crls: Vec<CertRevocationList<'static>>,
    crl_status: Vec<CrlStatus>,
    allow_legacy: bool,
    allow_stale_crl: bool,
    revocation: Revocation,
}

/// The certificate behind a valid signature, with the chain it was validated through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSigner {
    /// The signing certificate.
    pub certificate: CertificateInfo,
    /// The name of the trust store that vouched for it.
    pub trust_store: String,
    /// The certificate itself.
    pub end_entity: CertificateDer<'static>,
    /// The certificates the peer sent with it.
    pub chain: Vec<CertificateDer<'static>>,
    /// The SubjectPublicKeyInfo (DER) of the CA that issued it, from the validated path: what
    /// an OCSP request names and an answer is checked with.
    pub issuer_spki: Vec<u8>,
}

impl TrustStore {
    /// Loads a store from files. Fails on unreadable files, malformed certificates or CRLs, or
    /// when there is no anchor.
    pub fn load(name: &str, files: &TrustStoreFiles) -> Result<Self, TrustError> {
        let certs = |paths: &[PathBuf]| -> Result<Vec<CertificateDer<'static>>, TrustError> {
            let mut out = Vec::new();
            for p in paths {
                out.extend(load_certificates(p).map_err(|source| TrustError::Load {
                    store: name.to_string(),
                    source,
                })?);
            }
            Ok(out)
        };
        let anchors = certs(&files.anchors)?;
        let intermediates = certs(&files.intermediates)?;
        let mut crls = Vec::new();
        for p in &files.crls {
            crls.extend(load_crls(name, p)?);
        }
        Ok(
            Self::from_parts(name, anchors, intermediates, crls, files.allow_legacy)?
                .allowing_stale_crls(files.allow_stale_crl)
                .with_revocation(files.revocation.clone()),
        )
    }

    /// Builds a store from certificates and CRLs already in memory.
    pub fn from_parts(
        name: &str,
        anchor_certs: Vec<CertificateDer<'static>>,
        intermediates: Vec<CertificateDer<'static>>,
        crl_der: Vec<CertificateRevocationListDer<'static>>,
        allow_legacy: bool,
    ) -> Result<Self, TrustError> {
        if anchor_certs.is_empty() {
            return Err(TrustError::Empty(name.to_string()));
        }
        let mut anchors = Vec::new();
        for c in &anchor_certs {
            let anchor = webpki::anchor_from_trusted_cert(c).map_err(|e| TrustError::Load {
                store: name.to_string(),
                source: KeyError::Malformed {
                    what: "trust anchor".into(),
                    reason: format!("{e:?}"),
                },
            })?;
            anchors.push(anchor.to_owned());
        }
        let mut crls = Vec::new();
        let mut crl_status = Vec::new();
        for der in &crl_der {
            let bad = |reason: String| TrustError::Crl {
                store: name.to_string(),
                path: "(memory)".into(),
                reason,
            };
            let owned = webpki::OwnedCertRevocationList::from_der(der)
                .map_err(|e| bad(format!("{e:?}")))?;
            crls.push(CertRevocationList::from(owned));
            crl_status.push(CrlStatus::of(der).ok_or_else(|| bad("unreadable dates".into()))?);
        }
        Ok(Self {
            name: name.to_string(),
            anchor_certs,
            anchors,
            intermediates,
            crl_der,
            crls,
            crl_status,
            allow_legacy,
            allow_stale_crl: false,
            revocation: Revocation::default(),
        })
    }

    /// The same store, checking revocation as `revocation` says.
    #[must_use]
    pub fn with_revocation(mut self, revocation: Revocation) -> Self {
        self.revocation = revocation;
        self
    }

    /// How this store's certificates are checked for revocation.
    pub fn revocation(&self) -> &Revocation {
        &self.revocation
    }

    /// The CRLs a TLS handshake applies: all of them under the `crl` policy, none when a
    /// responder is asked (the OCSP check, and its CRL fallback, follow the handshake).
    pub fn handshake_crls(&self) -> &[CertificateRevocationListDer<'static>] {
        if self.revocation.policy.uses_ocsp() {
            &[]
        } else {
            &self.crl_der
        }
    }

    /// The same store, accepting (or not) CRLs past their `nextUpdate`.
    #[must_use]
    pub fn allowing_stale_crls(mut self, allow: bool) -> Self {
        self.allow_stale_crl = allow;
        self
    }

    /// Whether CRLs past their `nextUpdate` are accepted.
    pub fn allows_stale_crls(&self) -> bool {
        self.allow_stale_crl
    }

    /// Issuer and dates of every CRL of the store.
    pub fn crl_status(&self) -> &[CrlStatus] {
        &self.crl_status
    }

    /// The CRLs past their `nextUpdate` at `now` that the store does not accept: while one is
    /// there, the certificates it covers are refused.
    pub fn stale_crls(&self, now: OffsetDateTime) -> Vec<&CrlStatus> {
        if self.allow_stale_crl {
            return Vec::new();
        }
        self.crl_status.iter().filter(|c| c.is_stale(now)).collect()
    }

    /// The store's name, as configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether legacy algorithms (SHA-1) are accepted from peers using this store.
    pub fn allow_legacy(&self) -> bool {
        self.allow_legacy
    }

    /// The anchors' certificates, for expiry monitoring and for building rustls verifiers.
    pub fn anchor_certificates(&self) -> &[CertificateDer<'static>] {
        &self.anchor_certs
    }

    /// The configured intermediates.
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.intermediates
    }

    /// The CRLs, for rustls verifiers.
    pub fn crls(&self) -> &[CertificateRevocationListDer<'static>] {
        &self.crl_der
    }

    /// The anchors as a rustls root store.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(self.anchors.iter().cloned());
        roots
    }

    /// Validates `end_entity` (with extra chain certificates the peer sent, e.g. from
    /// `KeyInfo`) for `purpose` at instant `at`, checking CRLs when the store has any and its
    /// policy is `crl`. Under an OCSP policy the caller goes on with
    /// [`crate::revocation::RevocationChecker::check_signer`].
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        at: OffsetDateTime,
        purpose: Purpose,
    ) -> Result<VerifiedSigner, TrustError> {
        self.validate(
            end_entity,
            chain,
            at,
            purpose,
            !self.revocation.policy.uses_ocsp(),
        )
    }

    /// As [`Self::verify`], applying the CRL files whatever the policy: the fallback of
    /// `ocsp-then-crl`. A store without CRL files refuses here (nothing says the certificate
    /// is not revoked).
    pub fn verify_with_crls(
        &self,
        end_entity: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        at: OffsetDateTime,
        purpose: Purpose,
    ) -> Result<VerifiedSigner, TrustError> {
        if self.crls.is_empty() {
            return Err(TrustError::RevocationUnknown {
                store: self.name.clone(),
                subject: CertificateInfo::from_der(end_entity)
                    .map(|i| i.subject)
                    .unwrap_or_default(),
                reason: "no OCSP answer and no CRL file to fall back on".into(),
                transient: true,
            });
        }
        self.validate(end_entity, chain, at, purpose, true)
    }

    /// What the store's policy makes of a certificate whose revocation status could not be
    /// learnt from OCSP (`reason`): `ocsp-then-crl` applies the CRL files, otherwise
    /// `on_unknown` accepts or refuses ([`TrustError::RevocationUnknown`], `transient` when
    /// asking again later may help). The one rule for signers, clients and servers alike.
    #[allow(clippy::too_many_arguments)]
    pub fn without_status(
        &self,
        end_entity: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        at: OffsetDateTime,
        purpose: Purpose,
        subject: &str,
        reason: String,
        transient: bool,
    ) -> Result<(), TrustError> {
        use crate::revocation_policy::{OnUnknown, Policy};
        match (self.revocation.policy, self.revocation.on_unknown) {
            (Policy::OcspThenCrl, _) => self
                .verify_with_crls(end_entity, chain, at, purpose)
                .map(|_| ()),
            (_, OnUnknown::Allow) => Ok(()),
            (_, OnUnknown::Deny) => Err(TrustError::RevocationUnknown {
                store: self.name.clone(),
                subject: subject.to_string(),
                reason,
                transient,
            }),
        }
    }

    fn validate(
        &self,
        end_entity: &CertificateDer<'_>,
        chain: &[CertificateDer<'_>],
        at: OffsetDateTime,
        purpose: Purpose,
        with_crls: bool,
    ) -> Result<VerifiedSigner, TrustError> {
        let info = CertificateInfo::from_der(end_entity).map_err(|source| TrustError::Load {
            store: self.name.clone(),
            source,
        })?;
        let untrusted = |reason: String| TrustError::Untrusted {
            store: self.name.clone(),
            subject: info.subject.clone(),
            reason,
        };
        let ee = EndEntityCert::try_from(end_entity).map_err(|e| untrusted(format!("{e:?}")))?;
        // Borrowed views: no certificate bytes are copied per verification.
        let intermediates: Vec<CertificateDer<'_>> = self
            .intermediates
            .iter()
            .chain(chain.iter().filter(|c| *c != end_entity))
            .map(|c| CertificateDer::from(c.as_ref()))
            .collect();
        let crl_refs: Vec<&CertRevocationList<'_>> = if with_crls {
            self.crls.iter().collect()
        } else {
            Vec::new()
        };
        let revocation = if crl_refs.is_empty() {
            None
        } else {
            Some(
                RevocationOptionsBuilder::new(&crl_refs)
                    .map_err(|_| untrusted("CRLs required".into()))?
                    .with_depth(RevocationCheckDepth::Chain)
                    .with_status_policy(UnknownStatusPolicy::Deny)
                    .with_expiration_policy(if self.allow_stale_crl {
                        ExpirationPolicy::Ignore
                    } else {
                        ExpirationPolicy::Enforce
                    })
                    .build(),
            )
        };
        let secs = u64::try_from(at.unix_timestamp()).unwrap_or(0);
        let time = UnixTime::since_unix_epoch(Duration::from_secs(secs));
        let algs = crate::algorithm::verification_algorithms();
        let result = match purpose {
            Purpose::Signing => ee.verify_for_usage(
                algs,
                &self.anchors,
                &intermediates,
                time,
                SigningUsage,
                revocation,
                None,
            ),
            Purpose::TlsClient => ee.verify_for_usage(
                algs,
                &self.anchors,
                &intermediates,
                time,
                KeyUsage::client_auth(),
                revocation,
                None,
            ),
            Purpose::TlsServer => ee.verify_for_usage(
                algs,
                &self.anchors,
                &intermediates,
                time,
                KeyUsage::server_auth(),
                revocation,
                None,
            ),
        };
        let path = result.map_err(|e| untrusted(format!("{e:?}")))?;
        let issuer_spki = path.issuer_spki().as_ref().to_vec();
        if purpose == Purpose::Signing && !info.allows_document_signing() {
            return Err(TrustError::WrongUsage {
                subject: info.subject,
                purpose: purpose.name(),
            });
        }
        Ok(VerifiedSigner {
            certificate: info,
            trust_store: self.name.clone(),
            end_entity: end_entity.clone().into_owned(),
            chain: chain.iter().map(|c| c.clone().into_owned()).collect(),
            issuer_spki,
        })
    }
}

/// Reads the CRLs of a file: PEM (`X509 CRL` blocks) or one DER CRL.
pub fn load_crls(
    store: &str,
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TrustError> {
    let err = |reason: String| TrustError::Crl {
        store: store.to_string(),
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let crls: Vec<CertificateRevocationListDer<'static>> =
        if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            CertificateRevocationListDer::pem_slice_iter(&bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?
        } else {
            vec![CertificateRevocationListDer::from(bytes)]
        };
    if crls.is_empty() {
        return Err(err("no X509 CRL block".into()));
    }
    for c in &crls {
        webpki::OwnedCertRevocationList::from_der(c).map_err(|e| err(format!("{e:?}")))?;
    }
    Ok(crls)
}

/// EKU policy for signing certificates (see [`Purpose::Signing`]).
struct SigningUsage;

const EKU_ANY: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
const EKU_CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
const EKU_EMAIL_PROTECTION: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04];
const EKU_DOCUMENT_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];

impl ExtendedKeyUsageValidator for SigningUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let allowed = [
            KeyPurposeId::new(EKU_ANY),
            KeyPurposeId::new(EKU_CLIENT_AUTH),
            KeyPurposeId::new(EKU_EMAIL_PROTECTION),
            KeyPurposeId::new(EKU_DOCUMENT_SIGNING),
        ];
        let mut present = Vec::new();
        for id in iter {
            let id = id?;
            if allowed.contains(&id) {
                return Ok(());
            }
            present.push(id.to_decoded_oid());
        }
        if present.is_empty() {
            Ok(())
        } else {
            Err(webpki::Error::RequiredEkuNotFoundContext(
                webpki::RequiredEkuNotFoundContext {
                    required: KeyUsage::required(EKU_DOCUMENT_SIGNING),
                    present,
                },
            ))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testpki::{Pki, days};

    #[test]
    fn a_leaf_of_the_ca_is_trusted_and_a_stranger_is_not() {
        let pki = Pki::new("Root A");
        let other = Pki::new("Root B");
        let leaf = pki.leaf("signer", &rcgen::PKCS_RSA_SHA256, &[]);
        let stranger = other.leaf("signer", &rcgen::PKCS_RSA_SHA256, &[]);
        let store = pki.store("peer-a");
        let now = OffsetDateTime::now_utc();
        let signer = store
            .verify(&leaf.cert, &[], now, Purpose::Signing)
            .unwrap();
        assert!(signer.certificate.subject.contains("signer"));
        let err = store
            .verify(&stranger.cert, &[], now, Purpose::Signing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("UnknownIssuer"), "{err}");
        // Validity is checked at the given instant.
        let err = store
            .verify(&leaf.cert, &[], now + days(4000), Purpose::Signing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Expired"), "{err}");
    }

    #[test]
    fn key_usage_is_enforced_per_purpose() {
        let pki = Pki::new("Root");
        let server_only = pki.leaf(
            "tls",
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &[rcgen::ExtendedKeyUsagePurpose::ServerAuth],
        );
        let store = pki.store("s");
        let now = OffsetDateTime::now_utc();
        store
            .verify(&server_only.cert, &[], now, Purpose::TlsServer)
            .unwrap();
        assert!(
            store
                .verify(&server_only.cert, &[], now, Purpose::TlsClient)
                .is_err()
        );
        assert!(
            store
                .verify(&server_only.cert, &[], now, Purpose::Signing)
                .is_err()
        );
    }

    #[test]
    fn revoked_certificates_are_refused_when_a_crl_is_configured() {
        let pki = Pki::new("Root");
        let good = pki.leaf("good", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
        let bad = pki.leaf("bad", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
        let crl = pki.crl(&[&bad]);
        let store =
            TrustStore::from_parts("crl", vec![pki.ca_cert.clone()], vec![], vec![crl], false)
                .unwrap();
        let now = OffsetDateTime::now_utc();
        store
            .verify(&good.cert, &[], now, Purpose::Signing)
            .unwrap();
        let err = store
            .verify(&bad.cert, &[], now, Purpose::Signing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Revoked"), "{err}");
    }

    /// A CRL past its `nextUpdate` no longer says whether a certificate is revoked (the CA has
    /// published newer news): by default every certificate it covers is refused, and the store
    /// reports it; `allow_stale_crl` accepts it as the last word.
    #[test]
    fn a_stale_crl_is_a_failure_unless_allowed() {
        let pki = Pki::new("Root");
        let good = pki.leaf("good", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
        let now = OffsetDateTime::now_utc();
        let stale = pki.crl_between(
            &[],
            now - Duration::from_secs(10 * 86_400),
            now - Duration::from_secs(86_400),
        );
        let store = TrustStore::from_parts(
            "stale",
            vec![pki.ca_cert.clone()],
            vec![],
            vec![stale.clone()],
            false,
        )
        .unwrap();
        let err = store
            .verify(&good.cert, &[], now, Purpose::Signing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Expired") || err.contains("expired"), "{err}");
        let status = store.crl_status();
        assert_eq!(status.len(), 1);
        assert!(status[0].issuer.contains("Root"), "{:?}", status[0]);
        assert!(status[0].is_stale(now));
        assert_eq!(store.stale_crls(now).len(), 1);

        let lenient = TrustStore::from_parts(
            "lenient",
            vec![pki.ca_cert.clone()],
            vec![],
            vec![stale],
            false,
        )
        .unwrap()
        .allowing_stale_crls(true);
        lenient
            .verify(&good.cert, &[], now, Purpose::Signing)
            .unwrap();
        assert!(
            lenient.stale_crls(now).is_empty(),
            "allowed: not reported as a failure"
        );

        let fresh = TrustStore::from_parts(
            "fresh",
            vec![pki.ca_cert.clone()],
            vec![],
            vec![pki.crl(&[])],
            false,
        )
        .unwrap();
        fresh
            .verify(&good.cert, &[], now, Purpose::Signing)
            .unwrap();
        assert!(fresh.stale_crls(now).is_empty());
    }

    #[test]
    fn intermediates_complete_the_chain() {
        let pki = Pki::new("Root");
        let (inter, leaf) = pki.leaf_via_intermediate("leaf");
        let store = pki.store("s");
        let now = OffsetDateTime::now_utc();
        assert!(store.verify(&leaf, &[], now, Purpose::Signing).is_err());
        store
            .verify(&leaf, std::slice::from_ref(&inter), now, Purpose::Signing)
            .unwrap();
    }
}
