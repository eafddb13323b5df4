//! RFC 3161 time-stamping of the audit chain head (dấu thời gian), from a configured
//! time-stamping authority (`[audit.tsa]`).
//!
//! What is stamped: the head record's hash, as its 64 hex characters; the request's message
//! imprint is their SHA-256, so an auditor can check a stamp with OpenSSL alone
//! (`printf %s HASH > head; openssl ts -verify -data head -in token.tsr -token_in -CAfile tsa.pem`).
//!
//! A TSA outage never stops traffic: stamping runs beside the chainer, a failure is counted
//! (`lienthong_audit_timestamp_failures_total`) and logged, and the next round stamps the head
//! as it is then — covering everything written meanwhile. How far stamping lags is the metric
//! `lienthong_audit_timestamp_lag_seconds`.
//!
//! A token is verified ([`verify_token`]) against the configured TSA certificate: the CMS
//! signature over the signed attributes, the `messageDigest` attribute against the `TSTInfo`,
//! and the imprint against the record's hash.

use std::time::Duration;

use aws_lc_rs::signature;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::store::{AuditStamp, Store};

const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// Why a stamp could not be had or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    /// The authority could not be reached or answered with an HTTP error.
    #[error("time-stamping authority unavailable: {0}")]
    Unavailable(String),
    /// The authority refused the request.
    #[error("time-stamping authority refused the request (PKIStatus {0})")]
    Refused(u8),
    /// The answer or token is not well-formed DER of the expected shape.
    #[error("malformed time-stamp: {0}")]
    Malformed(String),
    /// The token does not cover this hash, or its signature does not verify.
    #[error("time-stamp does not verify: {0}")]
    Invalid(String),
}

fn malformed(e: impl std::fmt::Display) -> TsaError {
    TsaError::Malformed(e.to_string())
}

/// The message imprint of a record hash: SHA-256 of its hex text.
fn imprint(hash_hex: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, hash_hex.as_bytes())
        .as_ref()
        .to_vec()
}

/// `n` as a DER INTEGER in its minimal (canonical) two's-complement form.
fn nonce_int(n: u64) -> Result<der::asn1::Int, TsaError> {
    let bytes = n.to_be_bytes();
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    let mut minimal = Vec::with_capacity(9);
    if bytes[first] & 0x80 != 0 {
        minimal.push(0);
    }
    minimal.extend_from_slice(&bytes[first..]);
    der::asn1::Int::new(&minimal).map_err(malformed)
}

/// The DER `TimeStampReq` for `hash_hex` with `nonce`, asking for the TSA's certificate.
///
/// Errors: encoding failed (not expected).
pub fn request(hash_hex: &str, nonce: u64) -> Result<Vec<u8>, TsaError> {
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                oid: SHA256,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint(hash_hex)).map_err(malformed)?,
        },
        req_policy: None,
        nonce: Some(nonce_int(nonce)?),
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(malformed)
}

/// The token out of a DER `TimeStampResp`.
///
/// Errors: malformed, or the authority refused.
pub fn token_of(response: &[u8]) -> Result<Vec<u8>, TsaError> {
    let resp = TimeStampResp::from_der(response).map_err(malformed)?;
    let status = resp.status.status as u8;
    if status > 1 {
        return Err(TsaError::Refused(status));
    }
    resp.time_stamp_token
        .ok_or_else(|| TsaError::Malformed("granted without a token".into()))?
        .to_der()
        .map_err(malformed)
}

/// Checks that `token` (DER `TimeStampToken`) is signed by `tsa_certificate` (DER) over a
/// `TSTInfo` whose imprint is that of `hash_hex`; returns the token's time and nonce.
///
/// Errors: what does not verify.
pub fn verify_token(
    token: &[u8],
    hash_hex: &str,
    tsa_certificate: &[u8],
) -> Result<(OffsetDateTime, Option<Vec<u8>>), TsaError> {
    let invalid = |m: &str| TsaError::Invalid(m.to_owned());
    let info = ContentInfo::from_der(token).map_err(malformed)?;
    if info.content_type != SIGNED_DATA {
        return Err(invalid("not a CMS SignedData"));
    }
    let signed: SignedData = info.content.decode_as().map_err(malformed)?;
    if signed.encap_content_info.econtent_type != TST_INFO {
        return Err(invalid("the signed content is not a TSTInfo"));
    }
    let econtent = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| invalid("no TSTInfo in the token"))?;
    let tst_der = OctetString::from_der(&econtent.to_der().map_err(malformed)?)
        .map_err(malformed)?
        .into_bytes();
    let tst = TstInfo::from_der(&tst_der).map_err(malformed)?;
    if tst.message_imprint.hash_algorithm.oid != SHA256
        || tst.message_imprint.hashed_message.as_bytes() != imprint(hash_hex).as_slice()
    {
        return Err(invalid("the token covers another hash"));
    }
    let signer = signed
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| invalid("no signer"))?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| invalid("no signed attributes"))?;
    let digest = attrs
        .iter()
        .find(|a| a.oid == MESSAGE_DIGEST)
        .and_then(|a| a.values.iter().next())
        .ok_or_else(|| invalid("no messageDigest attribute"))?;
    let digest = OctetString::from_der(&digest.to_der().map_err(malformed)?).map_err(malformed)?;
    let tst_digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &tst_der);
    if digest.as_bytes() != tst_digest.as_ref() {
        return Err(invalid("messageDigest does not match the TSTInfo"));
    }
    let cert = x509_cert::Certificate::from_der(tsa_certificate).map_err(malformed)?;
    let key = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let algorithm: &dyn signature::VerificationAlgorithm = match signer.signature_algorithm.oid {
        oid if oid == RSA || oid == RSA_SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        oid if oid == ECDSA_SHA256 => &signature::ECDSA_P256_SHA256_ASN1,
        oid => {
            return Err(TsaError::Invalid(format!(
                "unsupported signature algorithm {oid}"
            )));
        }
    };
    let signed_bytes = attrs.to_der().map_err(malformed)?;
    signature::UnparsedPublicKey::new(algorithm, key)
        .verify(&signed_bytes, signer.signature.as_bytes())
        .map_err(|_| {
            invalid("the signature does not verify with the configured TSA certificate")
        })?;
    let at = OffsetDateTime::from_unix_timestamp(
        i64::try_from(tst.gen_time.to_unix_duration().as_secs()).unwrap_or(i64::MAX),
    )
    .map_err(malformed)?;
    Ok((at, tst.nonce.map(|n| n.as_bytes().to_vec())))
}

/// Why the TSA's certificate file cannot be used (`audit.tsa.certificate`).
#[derive(Debug, thiserror::Error)]
pub enum CertificateFileError {
    /// The file cannot be read or holds no PEM certificate.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// What the PEM reader said.
        reason: String,
    },
    /// The first certificate is not X.509.
    #[error("{path}: not an X.509 certificate: {reason}")]
    NotX509 {
        /// The file.
        path: String,
        /// What the DER decoder said.
        reason: String,
    },
}

/// Reads the TSA's certificate (PEM, the first certificate) as DER.
///
/// Errors: the file is unreadable or holds no certificate, or it is not X.509.
pub fn load_certificate(path: &std::path::Path) -> Result<Vec<u8>, CertificateFileError> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_file(path).map_err(|e| {
        CertificateFileError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    x509_cert::Certificate::from_der(&der).map_err(|e| CertificateFileError::NotX509 {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(der.to_vec())
}

/// Stamps the chain head from one authority.
pub struct Stamper {
    url: String,
    certificate: Vec<u8>,
    interval: Duration,
    http: reqwest::Client,
}

impl Stamper {
    /// A stamper for `[audit.tsa]`.
    ///
    /// Errors: the HTTP client cannot be built.
    pub fn new(
        url: String,
        certificate: Vec<u8>,
        interval: Duration,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url,
            certificate,
            interval,
            http,
        })
    }

    /// How often the head is stamped.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Stamps the head if it moved since the last stamp. Failures are counted and logged, never
    /// returned: the next round tries again.
    pub async fn stamp_head(&self, store: &Store) {
        match self.try_stamp(store).await {
            Ok(Some(seq)) => {
                metrics::counter!("lienthong_audit_timestamps_total").increment(1);
                tracing::info!(seq, tsa = self.url, "audit chain head time-stamped");
            }
            Ok(None) => {}
            Err(e) => {
                metrics::counter!("lienthong_audit_timestamp_failures_total").increment(1);
                tracing::warn!(error = %e, tsa = self.url, "audit chain head not time-stamped; tried again next round");
            }
        }
    }

    async fn try_stamp(&self, store: &Store) -> Result<Option<i64>, TsaError> {
        let status = store
            .audit_status()
            .await
            .map_err(|e| TsaError::Unavailable(format!("store: {e}")))?;
        let (Some(hash), true) = (
            status.head_hash,
            status.length > status.stamped_seq.unwrap_or(0),
        ) else {
            return Ok(None);
        };
        let nonce = rand::random::<u64>() >> 1;
        let body = request(&hash, nonce)?;
        let resp = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
            .body(body)
            .send()
            .await
            .map_err(|e| TsaError::Unavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(TsaError::Unavailable(format!("HTTP {}", resp.status())));
        }
        // A time-stamp response is a few kilobytes (the token and the TSA's certificate).
        let bytes = lienthong_connectors::http::read_limited(resp, 1024 * 1024)
            .await
            .map_err(|e| TsaError::Unavailable(e.to_string()))?;
        let token = token_of(&bytes)?;
        let (_, got_nonce) = verify_token(&token, &hash, &self.certificate)?;
        let want = nonce_int(nonce)?;
        if got_nonce.as_deref() != Some(want.as_bytes()) {
            return Err(TsaError::Invalid("the nonce is not ours".into()));
        }
        store
            .stamp_audit(AuditStamp {
                seq: status.length,
                hash,
                tsa: self.url.clone(),
                token,
                stamped_at: 0,
            })
            .await
            .map_err(|e| TsaError::Unavailable(format!("store: {e}")))?;
        Ok(Some(status.length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_the_imprint_and_nonce() {
        let der = request(&"ab".repeat(32), 42).expect("request");
        let req = TimeStampReq::from_der(&der).expect("decodes");
        assert_eq!(req.message_imprint.hash_algorithm.oid, SHA256);
        assert_eq!(
            req.message_imprint.hashed_message.as_bytes(),
            imprint(&"ab".repeat(32)).as_slice()
        );
        assert!(req.cert_req);
        assert!(req.nonce.is_some());
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        assert!(matches!(
            token_of(b"\x30\x03\x02\x01"),
            Err(TsaError::Malformed(_))
        ));
        assert!(matches!(
            verify_token(b"nonsense", "00", b"x"),
            Err(TsaError::Malformed(_))
        ));
    }
}
