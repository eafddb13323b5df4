//! A throw-away PKI for tests: a root CA, leaves with chosen key types and usages, an
//! intermediate, CRLs, and writing it all to PEM files. Built with rcgen; compiled only for
//! tests and with the `testing` feature (used by the end-to-end tests crate). Nothing here
//! is for production: keys are generated fresh on every run and never checked in.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use time::{Duration, OffsetDateTime};

use crate::trust::TrustStore;

/// `n` days as a `time::Duration`.
pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// A root CA that issues leaves.
pub struct Pki {
    /// The CA certificate (DER).
    pub ca_cert: CertificateDer<'static>,
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The CA's private key (PKCS#8 PEM), for tools that act as the CA (`openssl ocsp`).
    pub ca_key_pem: String,
    issuer: Issuer<'static, KeyPair>,
    next_serial: std::cell::Cell<u64>,
}

/// A leaf certificate with its key.
pub struct Leaf {
    /// The certificate (DER).
    pub cert: CertificateDer<'static>,
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
    /// The serial number.
    pub serial: u64,
}

impl Pki {
    /// A new root CA named `name`, valid from yesterday for ten years.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Lienthong test PKI");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = OffsetDateTime::now_utc() - days(1);
        params.not_after = OffsetDateTime::now_utc() + days(3650);
        params.key_identifier_method = KeyIdMethod::Sha256;
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            ca_pem: cert.pem(),
            ca_key_pem: key.serialize_pem(),
            ca_cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
            next_serial: std::cell::Cell::new(100),
        }
    }

    fn serial(&self) -> u64 {
        let s = self.next_serial.get();
        self.next_serial.set(s + 1);
        s
    }

    /// A leaf named `cn` (also a DNS SAN when it is a host name; plus `localhost` and 127.0.0.1), key type `alg`,
    /// extended key usages `eku` (none: no EKU extension), valid from yesterday for a year.
    pub fn leaf(
        &self,
        cn: &str,
        alg: &'static rcgen::SignatureAlgorithm,
        eku: &[ExtendedKeyUsagePurpose],
    ) -> Leaf {
        let now = OffsetDateTime::now_utc();
        self.leaf_valid(cn, alg, eku, now - days(1), now + days(365))
    }

    /// Like [`Pki::leaf`] with an explicit validity period (for expired or expiring certificates).
    pub fn leaf_valid(
        &self,
        cn: &str,
        alg: &'static rcgen::SignatureAlgorithm,
        eku: &[ExtendedKeyUsagePurpose],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Leaf {
        let key = KeyPair::generate_for(alg).expect("leaf key");
        let (params, serial) = self.leaf_params(cn, eku, not_before, not_after);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial,
        }
    }

    /// A leaf (as [`Pki::leaf`], EC P-256) whose Authority Information Access names the OCSP
    /// responder `url`.
    pub fn leaf_with_ocsp(&self, cn: &str, url: &str, eku: &[ExtendedKeyUsagePurpose]) -> Leaf {
        use der::Encode;
        use x509_cert::ext::pkix::name::GeneralName;
        use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("leaf key");
        let now = OffsetDateTime::now_utc();
        let (mut params, serial) = self.leaf_params(cn, eku, now - days(1), now + days(365));
        let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
            access_method: der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1"),
            access_location: GeneralName::UniformResourceIdentifier(
                der::asn1::Ia5String::new(url).expect("an ASCII URL"),
            ),
        }])
        .to_der()
        .expect("AIA");
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                aia,
            ));
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert: cert.der().clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial,
        }
    }

    /// A delegated OCSP responder certificate of this CA (EKU `id-kp-OCSPSigning`).
    pub fn ocsp_signer(&self, cn: &str) -> Leaf {
        self.leaf(
            cn,
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &[ExtendedKeyUsagePurpose::OcspSigning],
        )
    }

    /// The CA database `openssl ocsp -index` reads: each leaf valid (`V`) or, when its flag is
    /// set, revoked (`R`) yesterday for key compromise.
    pub fn ocsp_index(&self, leaves: &[(&Leaf, bool)]) -> String {
        let fmt = time::macros::format_description!(
            "[year repr:last_two][month][day][hour][minute][second]Z"
        );
        let now = OffsetDateTime::now_utc();
        let expiry = (now + days(365)).format(&fmt).expect("date");
        let revoked = (now - days(1)).format(&fmt).expect("date");
        let mut out = String::new();
        for (leaf, is_revoked) in leaves {
            let mut serial = format!("{:X}", leaf.serial);
            if serial.len() % 2 == 1 {
                serial.insert(0, '0');
            }
            let (flag, when) = if *is_revoked {
                ("R", format!("{revoked},keyCompromise"))
            } else {
                ("V", String::new())
            };
            out.push_str(&format!(
                "{flag}\t{expiry}\t{when}\t{serial}\tunknown\t/CN=leaf{}\n",
                leaf.serial
            ));
        }
        out
    }

    /// A leaf certificate (as [`Pki::leaf`]) for a key held elsewhere (a PKCS#11 token), from its
    /// DER `SubjectPublicKeyInfo`: (DER, PEM).
    pub fn certificate_for(
        &self,
        cn: &str,
        spki_der: &[u8],
        eku: &[ExtendedKeyUsagePurpose],
    ) -> (CertificateDer<'static>, String) {
        let public = rcgen::SubjectPublicKeyInfo::from_der(spki_der).expect("public key");
        let now = OffsetDateTime::now_utc();
        let (params, _) = self.leaf_params(cn, eku, now - days(1), now + days(365));
        let cert = params
            .signed_by(&public, &self.issuer)
            .expect("certificate");
        (cert.der().clone(), cert.pem())
    }

    /// A leaf's parameters: `cn` (also a DNS SAN when it is a host name; plus `localhost` and
    /// 127.0.0.1), the test PKI's organisation, signing key usages, `eku`; and its fresh serial.
    fn leaf_params(
        &self,
        cn: &str,
        eku: &[ExtendedKeyUsagePurpose],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> (CertificateParams, u64) {
        let mut names = vec!["localhost".to_string()];
        if cn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            names.insert(0, cn.to_string());
        }
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Lienthong test PKI");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = eku.to_vec();
        params.not_before = not_before;
        params.not_after = not_after;
        let serial = self.serial();
        params.serial_number = Some(SerialNumber::from(serial.to_be_bytes().to_vec()));
        (params, serial)
    }

    /// An intermediate CA under this root and a leaf (no EKU) under the intermediate.
    pub fn leaf_via_intermediate(
        &self,
        cn: &str,
    ) -> (CertificateDer<'static>, CertificateDer<'static>) {
        let ikey = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut ip = CertificateParams::new(Vec::<String>::new()).expect("params");
        ip.distinguished_name
            .push(DnType::CommonName, format!("{cn} intermediate"));
        ip.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ip.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let icert = ip.signed_by(&ikey, &self.issuer).expect("intermediate");
        let inter = Issuer::new(ip, ikey);
        let lkey = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let mut lp = CertificateParams::new(vec![cn.to_string()]).expect("params");
        lp.distinguished_name.push(DnType::CommonName, cn);
        let lcert = lp.signed_by(&lkey, &inter).expect("leaf");
        (icert.der().clone(), lcert.der().clone())
    }

    /// A CRL from this CA revoking `revoked`, valid for a week.
    pub fn crl(&self, revoked: &[&Leaf]) -> CertificateRevocationListDer<'static> {
        let now = OffsetDateTime::now_utc();
        self.crl_between(revoked, now - days(1), now + days(7))
    }

    /// A CRL from this CA revoking `revoked`, issued at `this_update` and to be replaced by
    /// `next_update` (in the past: a stale CRL).
    pub fn crl_between(
        &self,
        revoked: &[&Leaf],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> CertificateRevocationListDer<'static> {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(self.serial().to_be_bytes().to_vec()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|l| RevokedCertParams {
                    serial_number: SerialNumber::from(l.serial.to_be_bytes().to_vec()),
                    revocation_time: now - days(1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&self.issuer).expect("CRL").der().clone()
    }

    /// A trust store with this CA as its only anchor.
    pub fn store(&self, name: &str) -> TrustStore {
        TrustStore::from_parts(name, vec![self.ca_cert.clone()], vec![], vec![], false)
            .expect("trust store")
    }

    /// Writes `ca.pem` into `dir` and returns its path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write CA");
        path
    }
}

impl Leaf {
    /// Writes `{name}.pem` and `{name}.key` (mode 0600) into `dir`; returns (cert, key) paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("write cert");
        std::fs::write(&key, &self.key_pem).expect("write key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        (cert, key)
    }
}

/// Whether the `xmlsec1` interoperability oracle can run. Panics when it is missing, unless
/// `LIENTHONG_SKIP_XMLSEC=1` says to skip (so CI, which installs it, cannot silently skip).
pub fn xmlsec_available() -> bool {
    if std::process::Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    assert!(
        std::env::var("LIENTHONG_SKIP_XMLSEC").as_deref() == Ok("1"),
        "xmlsec1 is not installed (apt-get install xmlsec1); set LIENTHONG_SKIP_XMLSEC=1 to skip"
    );
    false
}

/// Test support: `openssl ocsp` answering one request from files, as a CA's responder would.
pub mod openssl_responder {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::{Leaf, Pki};

    /// A responder's files: the CA it answers for, its signing certificate and key, its
    /// index of issued certificates.
    pub struct Responder {
        /// The directory holding the files.
        pub dir: PathBuf,
    }

    impl Responder {
        /// Writes the files for `ca`'s responder signing with `signer` (`None`: the CA's own
        /// key), knowing `index` (each leaf, and whether it is revoked).
        pub fn write(dir: &Path, ca: &Pki, signer: Option<&Leaf>, index: &[(&Leaf, bool)]) -> Self {
            std::fs::create_dir_all(dir).expect("responder dir");
            std::fs::write(dir.join("ca.pem"), &ca.ca_pem).expect("ca");
            let (cert, key) = match signer {
                Some(s) => (s.cert_pem.clone(), s.key_pem.clone()),
                None => (ca.ca_pem.clone(), ca.ca_key_pem.clone()),
            };
            std::fs::write(dir.join("rsigner.pem"), cert).expect("signer");
            std::fs::write(dir.join("rsigner.key"), key).expect("key");
            std::fs::write(dir.join("index.txt"), ca.ocsp_index(index)).expect("index");
            std::fs::write(dir.join("index.txt.attr"), "unique_subject = no\n").expect("attr");
            Self {
                dir: dir.to_path_buf(),
            }
        }

        /// The `openssl ocsp` arguments of this responder (add `-port` or `-reqin`).
        pub fn args(&self) -> Vec<String> {
            let f = |n: &str| self.dir.join(n).display().to_string();
            vec![
                "ocsp".into(),
                "-index".into(),
                f("index.txt"),
                "-CA".into(),
                f("ca.pem"),
                "-rsigner".into(),
                f("rsigner.pem"),
                "-rkey".into(),
                f("rsigner.key"),
                "-nmin".into(),
                "5".into(),
            ]
        }

        /// Answers one DER request, as the responder would over HTTP.
        pub fn answer(&self, request: &[u8]) -> Vec<u8> {
            let req = self.dir.join("req.der");
            let resp = self.dir.join("resp.der");
            std::fs::write(&req, request).expect("request");
            let out = Command::new("openssl")
                .args(self.args())
                .arg("-reqin")
                .arg(&req)
                .arg("-respout")
                .arg(&resp)
                .output()
                .expect("openssl ocsp runs (apt-get install openssl)");
            assert!(
                out.status.success(),
                "openssl ocsp: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::read(&resp).expect("response")
        }
    }
}
