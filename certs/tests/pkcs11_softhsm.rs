//! Keys on a real PKCS#11 token (SoftHSM2): generated on the token, non-extractable; their
//! certificates issued by the test PKI; XML signatures made through the token verify with
//! `xmlsec1`; a wrong PIN is refused naming the key; a token that disappears makes signing fail
//! and a token that comes back signs again without reopening the key.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when the module is loaded: the test prepares a token directory
//! and runs itself again as a child process with that variable set (no `set_var`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lienthong_certs::keys::PrivateKey;
use lienthong_certs::pkcs11::keygen::{KeygenKind, generate_key_pair};
use lienthong_certs::pkcs11::{TokenKey, TokenKeyConfig, TokenKeyKind};
use lienthong_certs::testpki::{Pki, xmlsec_available};
use lienthong_certs::tls::{
    ClientCertificates, Identity, MinVersion, client_config, server_config,
};
use lienthong_certs::trust::TrustStore;
use lienthong_certs::xmldsig::{SignOptions, Signer, XmlSignatureAlgorithm, sign};
use rcgen::ExtendedKeyUsagePurpose;
use rustls::{ClientConfig, ClientConnection, ServerConnection};

const MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
];
const PIN: &str = "1234";
const LABEL: &str = "lienthong-test";

fn module() -> Option<PathBuf> {
    let found = MODULES.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("LIENTHONG_SKIP_PKCS11").as_deref() == Ok("1"),
            "SoftHSM2 is not installed (apt-get install softhsm2); set LIENTHONG_SKIP_PKCS11=1 to skip"
        );
    }
    found
}

fn softhsm(dir: &Path, args: &[&str]) {
    let out = Command::new("softhsm2-util")
        .args(args)
        .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
        .output()
        .expect("softhsm2-util");
    assert!(
        out.status.success(),
        "softhsm2-util {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const DOC: &str = r#"<edXMLEnvelope xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLHeader><MessageHeader><From><OrganId>000.02.01.H37</OrganId></From><Subject>Hồ sơ liên thông</Subject></MessageHeader><TraceHeaderList/></edXMLHeader><edXMLBody/></edXMLEnvelope>"#;

const TEST: &str = "keys_on_a_token_sign_xml_that_xmlsec1_verifies";

#[test]
fn keys_on_a_token_sign_xml_that_xmlsec1_verifies() {
    let Some(module) = module() else { return };
    let Some(dir) = std::env::var_os("LIENTHONG_TEST_TOKEN_DIR").map(PathBuf::from) else {
        // The parent: a token directory, a token, then this test again with SOFTHSM2_CONF.
        let dir = tempfile::tempdir().expect("dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("tokens");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("conf");
        softhsm(
            dir.path(),
            &[
                "--init-token",
                "--free",
                "--label",
                LABEL,
                "--so-pin",
                "12345678",
                "--pin",
                PIN,
            ],
        );
        let out = Command::new(std::env::current_exe().expect("this test"))
            .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
            .env("SOFTHSM2_CONF", dir.path().join("softhsm2.conf"))
            .env("LIENTHONG_TEST_TOKEN_DIR", dir.path())
            .output()
            .expect("run the test with the token");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "with the token:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    };
    run_with_token(&module, &dir);
}

fn run_with_token(module: &Path, dir: &Path) {
    let module = module.to_path_buf();
    let pin_file = dir.join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).expect("pin");

    let pki = Pki::new("Token test CA");
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).expect("ca");
    let reference = |key_label: &str, pin_file: &Path| TokenKeyConfig {
        module: module.clone(),
        token_label: Some(LABEL.into()),
        token_serial: None,
        key_label: Some(key_label.into()),
        key_id: None,
        pin_file: pin_file.to_path_buf(),
    };

    generate_key_pair(
        &reference("", &pin_file),
        "rsa-signer",
        &[1],
        KeygenKind::Rsa2048,
    )
    .expect("RSA key pair");
    generate_key_pair(
        &reference("", &pin_file),
        "ec-signer",
        &[2],
        KeygenKind::EcdsaP256,
    )
    .expect("EC key pair");

    for (label, kind, alg) in [
        (
            "rsa-signer",
            TokenKeyKind::Rsa(2048),
            XmlSignatureAlgorithm::RsaSha256,
        ),
        (
            "ec-signer",
            TokenKeyKind::EcdsaP256,
            XmlSignatureAlgorithm::EcdsaSha256,
        ),
    ] {
        let key = PrivateKey::from_token(&reference(label, &pin_file)).expect("token key");
        assert!(key.der().is_none(), "no key material leaves the token");
        assert!(key.describe().contains(label), "{}", key.describe());
        let expected = match kind {
            TokenKeyKind::Rsa(_) => lienthong_certs::keys::SignatureAlgorithm::RsaPkcs1Sha256,
            TokenKeyKind::EcdsaP256 => lienthong_certs::keys::SignatureAlgorithm::EcdsaP256Sha256,
        };
        assert_eq!(key.default_algorithm(), expected);
        let token =
            lienthong_certs::pkcs11::TokenKey::open(&reference(label, &pin_file)).expect("open");
        assert_eq!(token.kind(), kind);
        let spki = token.subject_public_key_info();
        let (cert, _) = pki.certificate_for("Trung tam PVHCC tinh Ninh Binh", &spki, &[]);
        let signer =
            Signer::new(Arc::new(key), vec![cert], alg).expect("signer matches its certificate");
        let signed = sign(DOC, &signer, &SignOptions::default()).expect("signed on the token");
        if xmlsec_available() {
            std::fs::write(dir.join("signed.xml"), &signed).expect("write");
            let out = Command::new("xmlsec1")
                .args(["--verify", "--trusted-pem", "ca.pem", "signed.xml"])
                .current_dir(dir)
                .output()
                .expect("xmlsec1");
            assert!(
                out.status.success(),
                "{label}: xmlsec1 refused the token's signature: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::fs::write(
                dir.join("tampered.xml"),
                signed.replace("Hồ sơ liên thông", "Hồ sơ khác"),
            )
            .expect("write");
            let out = Command::new("xmlsec1")
                .args(["--verify", "--trusted-pem", "ca.pem", "tampered.xml"])
                .current_dir(dir)
                .output()
                .expect("xmlsec1");
            assert!(!out.status.success(), "{label}: a tampered copy verified");
        }
    }

    tls_handshakes_sign_on_the_token(
        &pki,
        &reference("rsa-signer", &pin_file),
        &reference("ec-signer", &pin_file),
    );
    a_token_that_goes_away_and_comes_back(dir, &reference("ec-signer", &pin_file));

    // A wrong PIN is refused at opening, naming the key.
    let wrong = dir.join("wrong-pin");
    std::fs::write(&wrong, "0000").expect("pin");
    let e = PrivateKey::from_token(&reference("ec-signer", &wrong)).expect_err("a wrong PIN");
    assert!(
        e.to_string().contains("PIN was refused") && e.to_string().contains("ec-signer"),
        "{e}"
    );
    // An unknown key and an absent token are named.
    let e = PrivateKey::from_token(&reference("nobody", &pin_file)).expect_err("no such key");
    assert!(e.to_string().contains("no such private key"), "{e}");
    let mut absent = reference("ec-signer", &pin_file);
    absent.token_label = Some("not-plugged-in".into());
    let e = PrivateKey::from_token(&absent).expect_err("no such token");
    assert!(e.to_string().contains("is not present"), "{e}");
}

/// An identity whose key is on the token, with a certificate for TLS (server and client).
fn tls_identity(pki: &Pki, key: &TokenKeyConfig, cn: &str) -> Identity {
    let token = TokenKey::open(key).expect("open");
    let (cert, _) = pki.certificate_for(
        cn,
        &token.subject_public_key_info(),
        &[
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    );
    Identity {
        chain: vec![cert],
        key: Arc::new(PrivateKey::from_token(key).expect("token key")),
    }
}

/// Drives a handshake between two in-memory connections; the negotiated version.
fn handshake(
    client: ClientConfig,
    server: Arc<rustls::ServerConfig>,
) -> Result<rustls::ProtocolVersion, rustls::Error> {
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
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
            return Ok(c.protocol_version().expect("negotiated"));
        }
    }
    panic!("the handshake did not finish");
}

/// Mutual TLS where both ends sign on the token: RSA (PSS in TLS 1.3) and P-256 (DER ECDSA),
/// and TLS 1.2 with a token server key.
fn tls_handshakes_sign_on_the_token(pki: &Pki, rsa: &TokenKeyConfig, ec: &TokenKeyConfig) {
    let trust = Arc::new(pki.store("token-test"));
    for (server_key, client_key) in [(rsa, ec), (ec, rsa)] {
        let server = tls_identity(pki, server_key, "localhost");
        let client = tls_identity(pki, client_key, "Trung tam PVHCC tinh Ninh Binh");
        let server_config = server_config(
            &server,
            ClientCertificates::Required(&trust),
            MinVersion::Tls12,
        )
        .expect("a TLS server with a token key");
        let client_tls = client_config(&trust, Some(&client), MinVersion::Tls12)
            .expect("a TLS client with a token key");
        let version = handshake(client_tls, Arc::clone(&server_config))
            .unwrap_or_else(|e| panic!("mutual TLS with token keys: {e}"));
        assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);

        // A TLS 1.2 client that presents nothing (the server's key still signs on the token).
        let tls12 = ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS12])
            .with_root_certificates(trust.root_store())
            .with_no_client_auth();
        let optional = server_config_optional(&server, &trust);
        let version = handshake(tls12, optional).expect("TLS 1.2 with a token server key");
        assert_eq!(version, rustls::ProtocolVersion::TLSv1_2);

        // A client whose certificate is not its key's is refused before any handshake.
        let mut wrong = client.clone();
        wrong.chain = server.chain.clone();
        let e = client_config(&trust, Some(&wrong), MinVersion::Tls12)
            .expect_err("a key that is not the certificate's");
        assert!(e.to_string().contains("key"), "{e}");
    }
}

fn server_config_optional(server: &Identity, trust: &TrustStore) -> Arc<rustls::ServerConfig> {
    server_config(
        server,
        ClientCertificates::Optional(trust),
        MinVersion::Tls12,
    )
    .expect("server")
}

/// SoftHSM keeps a token in a directory: moving it away is pulling the token out.
fn a_token_that_goes_away_and_comes_back(dir: &Path, key: &TokenKeyConfig) {
    let key = PrivateKey::from_token(key).expect("token key");
    let alg = key.default_algorithm();
    key.sign(alg, b"before").expect("signs while present");
    let tokens = dir.join("tokens");
    let token_dir = std::fs::read_dir(&tokens)
        .expect("tokens")
        .map(|e| e.expect("entry").path())
        .next()
        .expect("the token's directory");
    let away = dir.join("token-pulled-out");
    std::fs::rename(&token_dir, &away).expect("pull the token out");
    let e = key.sign(alg, b"while away").expect_err("the token is away");
    assert!(
        key.unavailable().is_some(),
        "the key is reported unavailable"
    );
    eprintln!("token away: {e}");
    std::fs::rename(&away, &token_dir).expect("put the token back");
    // SoftHSM finds a token put back only when its module starts again, which the key does at
    // most once per RESTART_INTERVAL.
    std::thread::sleep(lienthong_certs::pkcs11::module::RESTART_INTERVAL);
    key.sign(alg, b"after")
        .expect("signs again once the token is back");
    assert!(
        key.unavailable().is_none(),
        "the key is reported available again"
    );
}
