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

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use lienthong_certs::keys::PrivateKey;
use lienthong_certs::pkcs11::{TokenKeyConfig, TokenKeyKind};
use lienthong_certs::testpki::{Pki, xmlsec_available};
use lienthong_certs::xmldsig::{SignOptions, Signer, XmlSignatureAlgorithm, sign};

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

/// Generates an RSA-2048 and a P-256 key pair on the token, private halves non-extractable.
fn generate_keys(module: &Path) {
    let ctx = Pkcs11::new(module).expect("module");
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("initialize");
    let slot = ctx
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .is_ok_and(|i| i.label().trim_end() == LABEL)
        })
        .expect("the test token");
    let session = ctx.open_rw_session(slot).expect("session");
    session
        .login(UserType::User, Some(&AuthPin::new(PIN.into())))
        .expect("login");
    let private = |label: &str, id: u8| {
        vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(vec![id]),
        ]
    };
    session
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Label(b"rsa-signer".to_vec()),
                Attribute::Id(vec![1]),
            ],
            &private("rsa-signer", 1),
        )
        .expect("RSA key pair");
    session
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Verify(true),
                // prime256v1
                Attribute::EcParams(vec![
                    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                ]),
                Attribute::Label(b"ec-signer".to_vec()),
                Attribute::Id(vec![2]),
            ],
            &private("ec-signer", 2),
        )
        .expect("EC key pair");
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
    generate_keys(&module);
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
        let (cert, _) = pki.certificate_for("Trung tam PVHCC tinh Ninh Binh", &spki);
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

    // A wrong PIN is refused at opening, naming the key.
    let wrong = dir.join("wrong-pin");
    std::fs::write(&wrong, "0000").expect("pin");
    let e = PrivateKey::from_token(&reference("ec-signer", &wrong)).unwrap_err();
    assert!(
        e.to_string().contains("PIN was refused") && e.to_string().contains("ec-signer"),
        "{e}"
    );
    // An unknown key and an absent token are named.
    let e = PrivateKey::from_token(&reference("nobody", &pin_file)).unwrap_err();
    assert!(e.to_string().contains("no such private key"), "{e}");
    let mut absent = reference("ec-signer", &pin_file);
    absent.token_label = Some("not-plugged-in".into());
    let e = PrivateKey::from_token(&absent).unwrap_err();
    assert!(e.to_string().contains("is not present"), "{e}");
}
