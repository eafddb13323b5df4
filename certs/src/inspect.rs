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
    /// Subject distinguished name: RDNs in certificate order, values escaped as RFC 4514 does
    /// (so the printed form is unambiguous and can be compared whole).
    pub subject: String,
    /// The subject's attributes, parsed.
    pub subject_attributes: Vec<NameAttribute>,
    /// Issuer distinguished name, printed as `subject`.
    pub issuer: String,
    /// The issuer's attributes, parsed.
    pub issuer_attributes: Vec<NameAttribute>,
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

/// One attribute of a distinguished name, as the certificate holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAttribute {
    /// The attribute type's OID, dotted (`2.5.4.3` for CN).
    pub oid: String,
    /// Its short name as printed (`CN`, `O`, `OU`, `serialNumber`, `UID`…), or the OID.
    pub key: String,
    /// The value as text (non-string values as `#` and the hex of their DER).
    pub value: String,
}

/// OIDs of the name attributes the matching rules use.
pub mod oid {
    /// commonName.
    pub const CN: &str = "2.5.4.3";
    /// organizationalUnitName.
    pub const OU: &str = "2.5.4.11";
    /// serialNumber (of the subject, not of the certificate).
    pub const SERIAL_NUMBER: &str = "2.5.4.5";
    /// organizationIdentifier.
    pub const ORGANIZATION_IDENTIFIER: &str = "2.5.4.97";
    /// userId (UID), where Vietnamese CAs write codes such as `MST:…` or `CMND:…`.
    pub const UID: &str = "0.9.2342.19200300.100.1.1";
}

/// The attributes an agency code (mã định danh) may be carried in, for the rule of
/// [`CertificateInfo::carries_code`].
const CODE_ATTRIBUTES: [&str; 5] = [
    oid::UID,
    oid::SERIAL_NUMBER,
    oid::ORGANIZATION_IDENTIFIER,
    oid::OU,
    oid::CN,
];

/// Whether `allowed` names the certificate whose distinguished name prints as `dn` (with the
/// attributes `attributes`) and whose subject alternative names are `sans`. The rules, all
/// exact, case-sensitive unless said:
///
/// 1. `allowed` with `=` in it is a distinguished name: it must equal `dn` as Lienthong prints
///    it (`lienthong certs inspect`: RDNs in certificate order, `TYPE=value` joined by `, `,
///    values escaped as RFC 4514 does, so that a value holding `, CN=…` can never pass for
///    another attribute).
/// 2. `TYPE:value` with `TYPE` one of `DNS`, `IP`, `email`, `URI`: a SAN of that type with that
///    value (DNS names compared ASCII case-insensitively, as DNS does).
/// 3. Anything else: the whole value of a CN attribute, or the value of a SAN of any type
///    (DNS case-insensitively).
///
/// Matching is on the parsed attributes and SANs, never on a substring of the printed name.
pub fn names_match(allowed: &str, dn: &str, attributes: &[NameAttribute], sans: &[String]) -> bool {
    if allowed.contains('=') {
        return allowed == dn;
    }
    let san_is = |san: &str, value: &str| match san.split_once(':') {
        Some(("DNS", v)) => v.eq_ignore_ascii_case(value),
        Some((_, v)) => v == value,
        None => san == value,
    };
    if let Some((kind, value)) = allowed.split_once(':')
        && matches!(kind, "DNS" | "IP" | "email" | "URI")
    {
        return sans.iter().any(|s| {
            s.split_once(':')
                .is_some_and(|(k, _)| k == kind && san_is(s, value))
        });
    }
    attributes
        .iter()
        .any(|a| a.oid == oid::CN && a.value == allowed)
        || sans.iter().any(|s| san_is(s, allowed))
}

/// Escapes a DN attribute value as RFC 4514 section 2.4 does.
fn escape_dn_value(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
}

/// A name's attributes and its unambiguous printed form.
fn read_name(name: &x509_parser::x509::X509Name<'_>) -> (String, Vec<NameAttribute>) {
    use x509_parser::asn1_rs::Tag;
    let registry = x509_parser::objects::oid_registry();
    let mut printed = String::new();
    let mut attributes = Vec::new();
    for (i, rdn) in name.iter_rdn().enumerate() {
        if i > 0 {
            printed.push_str(", ");
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                printed.push_str(" + ");
            }
            let oid = attr.attr_type().to_id_string();
            let key = x509_parser::objects::oid2abbrev(attr.attr_type(), registry)
                .map_or_else(|_| oid.clone(), str::to_string);
            let raw = attr.as_slice();
            let text = match attr.attr_value().tag() {
                Tag::BmpString if raw.len() % 2 == 0 => {
                    let units: Vec<u16> = raw
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16(&units).ok()
                }
                Tag::NumericString
                | Tag::VisibleString
                | Tag::PrintableString
                | Tag::GeneralString
                | Tag::GraphicString
                | Tag::T61String
                | Tag::VideotexString
                | Tag::Utf8String
                | Tag::Ia5String => std::str::from_utf8(raw).ok().map(str::to_string),
                _ => None,
            };
            printed.push_str(&key);
            printed.push('=');
            let value = match text {
                Some(t) => {
                    escape_dn_value(&t, &mut printed);
                    t
                }
                None => {
                    let hex = format!("#{}", hex::encode(raw));
                    printed.push_str(&hex);
                    hex
                }
            };
            attributes.push(NameAttribute { oid, key, value });
        }
    }
    (printed, attributes)
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
        let (subject, subject_attributes) = read_name(cert.subject());
        let (issuer, issuer_attributes) = read_name(cert.issuer());
        Ok(Self {
            subject,
            subject_attributes,
            issuer,
            issuer_attributes,
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

    /// The printed form of a name (as [`CertificateInfo::subject`]).
    pub fn name_of(name: &x509_parser::x509::X509Name<'_>) -> String {
        read_name(name).0
    }

    /// Whether `allowed` names this certificate's subject ([`names_match`]: the whole DN, a CN
    /// or a SAN).
    pub fn subject_matches(&self, allowed: &str) -> bool {
        names_match(
            allowed,
            &self.subject,
            &self.subject_attributes,
            &self.subject_alt_names,
        )
    }

    /// Whether `allowed` names this certificate's issuer (its whole DN or its CN).
    pub fn issuer_matches(&self, allowed: &str) -> bool {
        names_match(allowed, &self.issuer, &self.issuer_attributes, &[])
    }

    /// Whether the subject carries the agency code `code` (mã định danh): one of its `UID`,
    /// `serialNumber`, `organizationIdentifier`, `OU` or `CN` attributes is exactly `code`, or
    /// exactly `LABEL:code` with `LABEL` made of ASCII letters (Vietnamese CAs write codes as
    /// `MST:…`, `MNS:…`). A code that is only part of a value (`CN=Trung tâm 000.02.01.H37`)
    /// does not count.
    pub fn carries_code(&self, code: &str) -> bool {
        !code.is_empty()
            && self.subject_attributes.iter().any(|a| {
                CODE_ATTRIBUTES.contains(&a.oid.as_str())
                    && (a.value == code
                        || a.value.split_once(':').is_some_and(|(label, v)| {
                            v == code
                                && !label.is_empty()
                                && label.bytes().all(|b| b.is_ascii_alphabetic())
                        }))
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
    use super::*;

    fn cert(dn: &[(rcgen::DnType, &str)], sans: &[&str]) -> CertificateInfo {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params =
            rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in dn {
            params.distinguished_name.push(t.clone(), *v);
        }
        CertificateInfo::from_der(params.self_signed(&kp).unwrap().der()).unwrap()
    }

    #[test]
    fn names_match_dn_cn_and_sans() {
        let c = cert(
            &[
                (rcgen::DnType::CommonName, "dvcqg.gov.vn"),
                (rcgen::DnType::OrganizationName, "Cục Chuyển đổi số"),
            ],
            &["dvcqg.gov.vn", "127.0.0.1"],
        );
        assert_eq!(c.subject, "CN=dvcqg.gov.vn, O=Cục Chuyển đổi số");
        assert!(c.subject_matches("CN=dvcqg.gov.vn, O=Cục Chuyển đổi số"));
        assert!(c.subject_matches("dvcqg.gov.vn"));
        assert!(c.subject_matches("DNS:dvcqg.gov.vn"));
        assert!(
            c.subject_matches("DNS:DVCQG.gov.vn"),
            "DNS is case-insensitive"
        );
        assert!(c.subject_matches("127.0.0.1"));
        assert!(c.subject_matches("IP:127.0.0.1"));
        assert!(!c.subject_matches("DNS:127.0.0.1"), "the SAN's type counts");
        assert!(!c.subject_matches("evil.example"));
        assert!(
            !c.subject_matches("Cục Chuyển đổi số"),
            "O is not a name to match"
        );
        assert!(!c.subject_matches("dvcqg.gov"), "no substrings");
        assert!(
            !c.subject_matches("CN=dvcqg.gov.vn"),
            "a DN is compared whole"
        );
        let no_san = cert(&[(rcgen::DnType::CommonName, "Trung tam PVHCC")], &[]);
        assert!(no_san.subject_matches("Trung tam PVHCC"));
        assert!(
            !no_san.subject_matches("trung tam pvhcc"),
            "CN is case-sensitive"
        );
    }

    /// A value holding `, CN=…` is one attribute, not two: neither the CN rule nor the whole-DN
    /// rule can be fooled by commas in a value (the string splitting this replaced could).
    #[test]
    fn a_comma_in_a_value_does_not_make_another_attribute() {
        let c = cert(
            &[
                (rcgen::DnType::CommonName, "attacker.example"),
                (rcgen::DnType::OrganizationName, "X, CN=dichvucong.gov.vn"),
            ],
            &[],
        );
        assert_eq!(
            c.subject, "CN=attacker.example, O=X\\, CN=dichvucong.gov.vn",
            "escaped as RFC 4514 does"
        );
        assert!(!c.subject_matches("dichvucong.gov.vn"));
        assert!(!c.subject_matches("CN=attacker.example, O=X, CN=dichvucong.gov.vn"));
        let lone = cert(
            &[(
                rcgen::DnType::CommonName,
                "dichvucong.gov.vn, O=Cục Chuyển đổi số",
            )],
            &[],
        );
        assert!(!lone.subject_matches("CN=dichvucong.gov.vn, O=Cục Chuyển đổi số"));
        assert!(!lone.subject_matches("dichvucong.gov.vn"));
        assert!(lone.issuer_matches("CN=dichvucong.gov.vn\\, O=Cục Chuyển đổi số"));
    }

    #[test]
    fn an_agency_code_is_a_whole_attribute_value() {
        let code = "000.02.01.H37";
        let in_cn = cert(
            &[(
                rcgen::DnType::CommonName,
                "Trung tam PVHCC tinh Ninh Binh 000.02.01.H37",
            )],
            &[],
        );
        assert!(
            !in_cn.carries_code(code),
            "a substring of the CN is not the code"
        );
        let cn = cert(&[(rcgen::DnType::CommonName, code)], &[]);
        assert!(cn.carries_code(code));
        assert!(!cn.carries_code("000.02.01"));
        assert!(!cn.carries_code(""));
        let uid = cert(
            &[
                (
                    rcgen::DnType::CommonName,
                    "Trung tâm Phục vụ hành chính công",
                ),
                (
                    rcgen::DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
                    "MNS:000.02.01.H37",
                ),
            ],
            &[],
        );
        assert!(uid.carries_code(code), "{:?}", uid.subject_attributes);
        let organisation = cert(&[(rcgen::DnType::OrganizationName, code)], &[]);
        assert!(
            !organisation.carries_code(code),
            "O is not one of the code attributes"
        );
        let odd_label = cert(&[(rcgen::DnType::CommonName, "X-1:000.02.01.H37")], &[]);
        assert!(!odd_label.carries_code(code));
    }
}
