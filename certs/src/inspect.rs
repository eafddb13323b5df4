//! What a certificate says about itself, read with x509-parser: for `lienthong certs inspect`,
//! expiry metrics, logs and the signer an XML or HTTP signature verification returns.

use std::fmt;

use aws_lc_rs::digest;
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;
use x509_parser::public_key::PublicKey;

use crate::keys::KeyError;

/// The parts of a certificate an operator needs to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject distinguished name (RFC 4514 form).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number, colon-separated hex.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Key usage bits that are set, e.g. `digitalSignature`; empty when the extension is absent.
    pub key_usage: Vec<String>,
    /// Extended key usages, e.g. `serverAuth`, `clientAuth`; empty when the extension is absent.
    pub extended_key_usage: Vec<String>,
    /// Subject alternative names as `DNS:…`, `IP:…`, `email:…`, `URI:…`.
    pub subject_alt_names: Vec<String>,
    /// Whether the certificate is a CA.
    pub is_ca: bool,
    /// Public key kind, e.g. "RSA-2048" or "EC P-256".
    pub public_key: String,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256_fingerprint: String,
    /// SHA-1 of the DER, lower-case hex (for matching against older tools' output only).
    pub sha1_fingerprint: String,
}

/// `allowed` matches a distinguished name exactly, its CN, or one of the SANs (with or without
/// the `DNS:`/`email:`/`URI:`/`IP:` prefix). Used to say which certificates a rule allows (a
/// client on a route, the signer of a peer or a national system).
pub fn names_match(allowed: &str, dn: &str, sans: &[String]) -> bool {
    if allowed == dn {
        return true;
    }
    let cn = dn
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("CN="));
    if cn == Some(allowed) {
        return true;
    }
    sans.iter()
        .any(|s| s == allowed || s.split_once(':').is_some_and(|(_, value)| value == allowed))
}

impl CertificateInfo {
    /// Reads a DER certificate. Fails when it is not X.509.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| KeyError::Malformed {
                what: "certificate".into(),
                reason: e.to_string(),
            })?;
        let time = |t: &x509_parser::time::ASN1Time| {
            OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        let mut key_usage = Vec::new();
        if let Ok(Some(ku)) = cert.key_usage() {
            let ku = ku.value;
            for (set, name) in [
                (ku.digital_signature(), "digitalSignature"),
                (ku.non_repudiation(), "nonRepudiation"),
                (ku.key_encipherment(), "keyEncipherment"),
                (ku.data_encipherment(), "dataEncipherment"),
                (ku.key_agreement(), "keyAgreement"),
                (ku.key_cert_sign(), "keyCertSign"),
                (ku.crl_sign(), "cRLSign"),
            ] {
                if set {
                    key_usage.push(name.to_string());
                }
            }
        }
        let mut extended_key_usage = Vec::new();
        if let Ok(Some(eku)) = cert.extended_key_usage() {
            let eku = eku.value;
            for (set, name) in [
                (eku.any, "anyExtendedKeyUsage"),
                (eku.server_auth, "serverAuth"),
                (eku.client_auth, "clientAuth"),
                (eku.code_signing, "codeSigning"),
                (eku.email_protection, "emailProtection"),
                (eku.time_stamping, "timeStamping"),
                (eku.ocsp_signing, "OCSPSigning"),
            ] {
                if set {
                    extended_key_usage.push(name.to_string());
                }
            }
            extended_key_usage.extend(eku.other.iter().map(|o| o.to_id_string()));
        }
        let mut subject_alt_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                subject_alt_names.push(match name {
                    GeneralName::DNSName(d) => format!("DNS:{d}"),
                    GeneralName::RFC822Name(e) => format!("email:{e}"),
                    GeneralName::URI(u) => format!("URI:{u}"),
                    GeneralName::IPAddress(ip) => format!("IP:{}", format_ip(ip)),
                    other => other.to_string(),
                });
            }
        }
        let public_key = match cert.public_key().parsed() {
            Ok(PublicKey::RSA(k)) => format!("RSA-{}", k.key_size()),
            Ok(PublicKey::EC(_)) => {
                let curve = cert
                    .public_key()
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                match curve.as_deref() {
                    Some("1.2.840.10045.3.1.7") => "EC P-256".to_string(),
                    Some("1.3.132.0.34") => "EC P-384".to_string(),
                    Some(other) => format!("EC {other}"),
                    None => "EC".to_string(),
                }
            }
            Ok(_) if cert.public_key().algorithm.algorithm.to_id_string() == "1.3.101.112" => {
                "Ed25519".into()
            }
            _ => cert.public_key().algorithm.algorithm.to_id_string(),
        };
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            not_before: time(&cert.validity().not_before),
            not_after: time(&cert.validity().not_after),
            key_usage,
            extended_key_usage,
            subject_alt_names,
            is_ca: cert.is_ca(),
            public_key,
            sha256_fingerprint: hex::encode(digest::digest(&digest::SHA256, der)),
            sha1_fingerprint: hex::encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der)),
        })
    }

    /// Seconds until `not_after` from `now`; negative once expired.
    pub fn seconds_left(&self, now: OffsetDateTime) -> i64 {
        (self.not_after - now).whole_seconds()
    }

    /// True when `now` is within the validity period.
    pub fn is_valid_at(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Whether the key usage allows signing documents (digitalSignature or nonRepudiation, or no
    /// key-usage extension at all).
    pub fn allows_document_signing(&self) -> bool {
        self.key_usage.is_empty()
            || self
                .key_usage
                .iter()
                .any(|k| k == "digitalSignature" || k == "nonRepudiation")
    }
}

fn format_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => hex::encode(bytes),
    }
}

impl fmt::Display for CertificateInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rfc3339 = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| t.to_string())
        };
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        writeln!(f, "subject:            {}", self.subject)?;
        writeln!(f, "issuer:             {}", self.issuer)?;
        writeln!(f, "serial:             {}", self.serial)?;
        writeln!(f, "not before:         {}", rfc3339(self.not_before))?;
        writeln!(f, "not after:          {}", rfc3339(self.not_after))?;
        writeln!(f, "public key:         {}", self.public_key)?;
        writeln!(f, "CA:                 {}", self.is_ca)?;
        writeln!(f, "key usage:          {}", list(&self.key_usage))?;
        writeln!(f, "extended key usage: {}", list(&self.extended_key_usage))?;
        writeln!(f, "subject alt names:  {}", list(&self.subject_alt_names))?;
        writeln!(f, "SHA-256:            {}", self.sha256_fingerprint)?;
        write!(f, "SHA-1:              {}", self.sha1_fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_usages_and_fingerprints() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["lienthong.example.vn".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Trung tâm Hành chính công");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params.serial_number = Some(rcgen::SerialNumber::from(vec![0x01, 0xab]));
        let cert = params.self_signed(&kp).unwrap();
        let info = CertificateInfo::from_der(cert.der()).unwrap();
        assert!(
            info.subject.contains("Trung tâm Hành chính công"),
            "{}",
            info.subject
        );
        assert_eq!(info.serial, "01:ab");
        assert_eq!(info.public_key, "EC P-256");
        assert_eq!(info.key_usage, vec!["digitalSignature"]);
        assert_eq!(info.extended_key_usage, vec!["clientAuth"]);
        assert_eq!(
            info.subject_alt_names,
            vec!["DNS:lienthong.example.vn", "IP:127.0.0.1"]
        );
        assert_eq!(info.sha256_fingerprint.len(), 64);
        assert!(info.allows_document_signing());
        assert!(info.to_string().contains("SHA-256:"));
        assert!(info.seconds_left(OffsetDateTime::now_utc()) > 0);
    }
}

#[cfg(test)]
mod names_tests {
    use super::names_match;

    #[test]
    fn names_match_dn_cn_and_sans() {
        let dn = "CN=dvcqg.gov.vn, O=Cục Chuyển đổi số";
        let sans = vec!["DNS:dvcqg.gov.vn".to_string(), "IP:127.0.0.1".to_string()];
        assert!(names_match(dn, dn, &sans));
        assert!(names_match("dvcqg.gov.vn", dn, &sans));
        assert!(names_match("DNS:dvcqg.gov.vn", dn, &sans));
        assert!(names_match("127.0.0.1", dn, &sans));
        assert!(!names_match("evil.example", dn, &sans));
        assert!(!names_match("Cục Chuyển đổi số", dn, &sans));
    }
}
