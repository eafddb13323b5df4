//! A destination's TLS server certificate checked for revocation with the OCSP answer the
//! server staples to its handshake (RFC 6066), for trust stores whose policy asks a responder.
//!
//! rustls validates a server's certificate synchronously inside the handshake, where no
//! responder can be asked; the stapled answer is what the handshake offers instead (the client
//! always asks for one). It is checked as any OCSP answer ([`crate::ocsp::Query::stapled`]:
//! signed by the issuer or its delegated responder, about this certificate, within its
//! validity window). Without a usable one the store's policy decides: `ocsp-then-crl` applies
//! its CRL files, `ocsp` follows `on_unknown`. The rest (chain, name, handshake signatures) is
//! rustls-webpki's verifier, unchanged.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use time::OffsetDateTime;

use crate::ocsp::{Query, Status};
use crate::revocation::{Observer, Policy, Report};
use crate::trust::{Purpose, TrustError, TrustStore};

/// [`WebPkiServerVerifier`] plus the stapled-OCSP check of the leaf.
pub struct StapledOcspVerifier {
    inner: Arc<WebPkiServerVerifier>,
    trust: Arc<TrustStore>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for StapledOcspVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StapledOcspVerifier")
            .field("trust", &self.trust.name())
            .finish_non_exhaustive()
    }
}

impl StapledOcspVerifier {
    /// Wraps `inner` (built from the same `trust`, without CRLs: see
    /// [`TrustStore::handshake_crls`]); every decision is reported to `observer` (a metric and a
    /// log line in the daemon), as the [`crate::revocation::RevocationChecker`]'s are.
    pub fn new(
        inner: Arc<WebPkiServerVerifier>,
        trust: Arc<TrustStore>,
        observer: Option<Observer>,
    ) -> Self {
        Self {
            inner,
            trust,
            observer,
        }
    }

    fn report(
        &self,
        subject: &str,
        result: &'static str,
        outcome: &Result<(), TrustError>,
        detail: String,
    ) {
        let Some(observer) = &self.observer else {
            return;
        };
        let decision = match outcome {
            Err(_) => "refused",
            Ok(()) if result != "good" && self.trust.revocation().policy == Policy::OcspThenCrl => {
                "crl"
            }
            Ok(()) => "accepted",
        };
        observer(&Report {
            store: self.trust.name().to_string(),
            subject: subject.to_string(),
            responder: "stapled by the server".to_string(),
            result,
            cached: false,
            decision,
            detail,
        });
    }

    fn revocation(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        stapled: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), TrustError> {
        let signer = self
            .trust
            .verify(end_entity, intermediates, now, Purpose::TlsServer)?;
        let subject = signer.certificate.subject.clone();
        let answer = if stapled.is_empty() {
            Err("the server stapled no OCSP answer".to_string())
        } else {
            Query::stapled(end_entity, &signer.issuer_spki)
                .and_then(|q| q.check(stapled, now, false))
                .map_err(|e| format!("stapled OCSP answer not believed: {e}"))
        };
        let no_status = |reason: String| {
            self.trust.without_status(
                end_entity,
                intermediates,
                now,
                Purpose::TlsServer,
                &subject,
                reason,
                true,
            )
        };
        let (result, detail, outcome) = match answer {
            Ok(a) => match a.status {
                Status::Good => ("good", String::new(), Ok(())),
                Status::Revoked { at, reason } => {
                    let reason = format!(
                        "stapled OCSP answer: revoked at {at}{}",
                        reason.map(|r| format!(" ({r})")).unwrap_or_default()
                    );
                    (
                        "revoked",
                        reason.clone(),
                        Err(TrustError::Revoked {
                            store: self.trust.name().to_string(),
                            subject: subject.clone(),
                            reason,
                        }),
                    )
                }
                Status::Unknown => {
                    let reason = "the stapled OCSP answer says unknown".to_string();
                    ("unknown", reason.clone(), no_status(reason))
                }
            },
            Err(reason) => {
                let result = if stapled.is_empty() {
                    "not-stapled"
                } else {
                    "invalid"
                };
                (result, reason.clone(), no_status(reason))
            }
        };
        self.report(&subject, result, &outcome, detail);
        outcome
    }
}

impl ServerCertVerifier for StapledOcspVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let at = i64::try_from(now.as_secs())
            .ok()
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
            .unwrap_or_else(OffsetDateTime::now_utc);
        match self.revocation(end_entity, intermediates, ocsp_response, at) {
            Ok(()) => Ok(verified),
            Err(TrustError::Revoked { .. }) => {
                Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
            }
            Err(e) => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(e)),
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use rcgen::ExtendedKeyUsagePurpose as Eku;
    use rustls::{ClientConnection, ServerConnection};

    use super::*;
    use crate::keys::PrivateKey;
    use crate::revocation::{OnUnknown, Policy, Revocation};
    use crate::testpki::openssl_responder::Responder;
    use crate::testpki::{Leaf, Pki};
    use crate::tls::{
        ClientCertificates, Identity, MinVersion, client_config, server_config_stapling,
    };

    /// Drives a handshake between two in-memory connections.
    fn handshake(
        client: rustls::ClientConfig,
        server: Arc<rustls::ServerConfig>,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from("localhost").expect("name");
        let mut c = ClientConnection::new(Arc::new(client), name)?;
        let mut s = ServerConnection::new(server)?;
        for _ in 0..10 {
            let mut bytes = Vec::new();
            c.write_tls(&mut bytes).expect("client writes");
            s.read_tls(&mut bytes.as_slice()).expect("server reads");
            s.process_new_packets()?;
            let mut bytes = Vec::new();
            s.write_tls(&mut bytes).expect("server writes");
            c.read_tls(&mut bytes.as_slice()).expect("client reads");
            c.process_new_packets()?;
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok(());
            }
        }
        panic!("the handshake did not finish");
    }

    struct Server {
        config: Arc<rustls::ServerConfig>,
        resolver: Arc<crate::tls::StaplingResolver>,
    }

    fn server(leaf: &Leaf) -> Server {
        let identity = Identity {
            chain: vec![leaf.cert.clone()],
            key: Arc::new(PrivateKey::from_bytes(leaf.key_pem.as_bytes(), "key").expect("key")),
        };
        let (config, resolver) =
            server_config_stapling(&identity, ClientCertificates::None, MinVersion::Tls12)
                .expect("server");
        Server { config, resolver }
    }

    fn answer(pki: &Pki, responder: &Responder, leaf: &Leaf) -> Vec<u8> {
        let issuer = pki
            .store("s")
            .verify(
                &leaf.cert,
                &[],
                OffsetDateTime::now_utc(),
                Purpose::TlsServer,
            )
            .expect("valid")
            .issuer_spki;
        responder.answer(Query::new(&leaf.cert, &issuer).expect("query").der())
    }

    fn client(
        pki: &Pki,
        policy: Policy,
        on_unknown: OnUnknown,
        crl: Option<&Leaf>,
    ) -> rustls::ClientConfig {
        let crls = crl
            .map(|revoked| vec![pki.crl(&[revoked])])
            .unwrap_or_default();
        let store = TrustStore::from_parts("d", vec![pki.ca_cert.clone()], vec![], crls, false)
            .expect("store")
            .with_revocation(Revocation {
                policy,
                on_unknown,
                ..Revocation::default()
            });
        client_config(&Arc::new(store), None, MinVersion::Tls12).expect("client")
    }

    #[test]
    fn a_destinations_certificate_is_judged_by_the_answer_its_server_staples() {
        let pki = Pki::new("Root");
        let other = Pki::new("Other");
        let eku = [Eku::ServerAuth];
        let good = pki.leaf("localhost", &rcgen::PKCS_ECDSA_P256_SHA256, &eku);
        let bad = pki.leaf("localhost", &rcgen::PKCS_ECDSA_P256_SHA256, &eku);
        let tmp = tempfile::tempdir().expect("tmp");
        let responder = Responder::write(
            &tmp.path().join("ca"),
            &pki,
            None,
            &[(&good, false), (&bad, true)],
        );
        let foreign = other.ocsp_signer("Other OCSP");
        let forger = Responder::write(
            &tmp.path().join("other"),
            &other,
            Some(&foreign),
            &[(&good, false)],
        );
        let deny = || client(&pki, Policy::Ocsp, OnUnknown::Deny, None);

        // A good answer stapled: accepted; a revoked one: refused as revoked.
        let s = server(&good);
        s.resolver.staple(Some(answer(&pki, &responder, &good)));
        handshake(deny(), s.config.clone()).expect("good");
        let s_bad = server(&bad);
        s_bad.resolver.staple(Some(answer(&pki, &responder, &bad)));
        let err = handshake(deny(), s_bad.config.clone()).unwrap_err();
        assert_eq!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::Revoked),
            "{err}"
        );
        // An answer signed by another CA's responder is no answer: refused under deny.
        s.resolver.staple(Some(answer(&pki, &forger, &good)));
        let err = handshake(deny(), s.config.clone()).unwrap_err().to_string();
        assert!(err.contains("not believed"), "{err}");
        // Nothing stapled: deny refuses, allow accepts, ocsp-then-crl lets the CRL decide.
        s.resolver.staple(None);
        s_bad.resolver.staple(None);
        let err = handshake(deny(), s.config.clone()).unwrap_err().to_string();
        assert!(err.contains("stapled no OCSP answer"), "{err}");
        handshake(
            client(&pki, Policy::Ocsp, OnUnknown::Allow, None),
            s.config.clone(),
        )
        .expect("allowed without a status");
        let fallback = || client(&pki, Policy::OcspThenCrl, OnUnknown::Deny, Some(&bad));
        handshake(fallback(), s.config.clone()).expect("not on the CRL");
        assert!(
            handshake(fallback(), s_bad.config.clone()).is_err(),
            "on the CRL"
        );
        // The CRL policy does not look at staples at all.
        handshake(
            client(&pki, Policy::Crl, OnUnknown::Deny, None),
            s_bad.config.clone(),
        )
        .expect("crl policy, no CRL: not checked");
    }
}
