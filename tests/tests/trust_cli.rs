//! `lienthong certs inspect|check` and `lienthong xml sign|verify`, with `xmlsec1` as the
//! interoperability oracle (installed by `.ci/run`; set `LIENTHONG_SKIP_XMLSEC=1` to run
//! without it).

use std::path::Path;
use std::process::Command;

use lienthong_certs::testpki::{Pki, days, xmlsec_available};
use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{TestConfig, free_port, run_cli as run};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

const EDXML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLHeader>
    <edXML:MessageHeader>
      <edXML:From><edXML:OrganId>000.02.01.H37</edXML:OrganId><edXML:OrganName>Trung tâm Phục vụ hành chính công tỉnh Ninh Bình</edXML:OrganName></edXML:From>
      <edXML:Subject>Hồ sơ liên thông: đăng ký kết hôn &amp; thường trú</edXML:Subject>
    </edXML:MessageHeader>
    <edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>000.02.01.H37</edXML:OrganId><edXML:Timestamp>2026/11/28 10:00:00</edXML:Timestamp></edXML:TraceHeader></edXML:TraceHeaderList>
  </edXML:edXMLHeader>
  <edXML:edXMLBody><edXML:edXMLManifest version="1.0"/></edXML:edXMLBody>
</edXML:edXMLEnvelope>
"#;

#[test]
fn xml_sign_output_verifies_with_xmlsec1_and_lienthong() {
    if !xmlsec_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new("Lienthong Test Root");
    let ca = pki.write_ca(dir.path());
    let input = dir.path().join("in.xml");
    std::fs::write(&input, EDXML).expect("write");
    for (alg, key_alg) in [
        ("rsa-sha256", &rcgen::PKCS_RSA_SHA256),
        ("ecdsa-sha256", &rcgen::PKCS_ECDSA_P256_SHA256),
    ] {
        let leaf = pki.leaf("Trung tâm HCC", key_alg, &[]);
        let (cert, key) = leaf.write(dir.path(), alg);
        let (ok, signed, err) = run(&[
            "xml",
            "sign",
            "--key",
            s(&key),
            "--cert",
            s(&cert),
            "--algorithm",
            alg,
            "--after",
            "TraceHeaderList",
            s(&input),
        ]);
        assert!(ok, "{err}");
        // edXML: the signature follows TraceHeaderList inside edXMLHeader.
        let trace_end = signed.find("</edXML:TraceHeaderList>").expect("trace");
        let sig = signed.find("<ds:Signature").expect("signature");
        assert_eq!(sig, trace_end + "</edXML:TraceHeaderList>".len());
        let out = dir.path().join(format!("signed-{alg}.xml"));
        std::fs::write(&out, &signed).expect("write");
        let xmlsec = Command::new("xmlsec1")
            .args(["--verify", "--trusted-pem", s(&ca), s(&out)])
            .output()
            .expect("xmlsec1");
        assert!(
            xmlsec.status.success(),
            "xmlsec1 refused {alg}: {}",
            String::from_utf8_lossy(&xmlsec.stderr)
        );
        let (ok, stdout, err) = run(&["xml", "verify", "--trust", s(&ca), s(&out)]);
        assert!(ok, "{err}");
        assert!(
            stdout.contains("signature OK") && stdout.contains("Trung tâm HCC"),
            "{stdout}"
        );

        // A changed document: both refuse it, lienthong with a reason and a non-zero exit.
        let tampered = dir.path().join("tampered.xml");
        std::fs::write(&tampered, signed.replace("2026/11/28", "2026/11/29")).expect("write");
        let (ok, _, err) = run(&["xml", "verify", "--trust", s(&ca), s(&tampered)]);
        assert!(!ok);
        assert!(err.contains("digest mismatch"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        let xmlsec = Command::new("xmlsec1")
            .args(["--verify", "--trusted-pem", s(&ca), s(&tampered)])
            .output()
            .expect("xmlsec1");
        assert!(!xmlsec.status.success());
        // Another CA: untrusted.
        let other = Pki::new("Other CA");
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other_ca = other.write_ca(other_dir.path());
        let (ok, _, err) = run(&["xml", "verify", "--trust", s(&other_ca), s(&out)]);
        assert!(!ok);
        assert!(err.contains("not trusted"), "{err}");
    }
}

#[test]
fn xml_verify_reads_xmlsec1_signatures_and_needs_allow_sha1_for_rsa_sha1() {
    if !xmlsec_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new("Lienthong Test Root");
    let ca = pki.write_ca(dir.path());
    let leaf = pki.leaf("So Tu phap", &rcgen::PKCS_RSA_SHA256, &[]);
    let (cert, key) = leaf.write(dir.path(), "peer");
    let template = EDXML.replace(
        "</edXML:TraceHeaderList>",
        r#"</edXML:TraceHeaderList><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/><SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/><Reference URI=""><Transforms><Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></Transforms><DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/><DigestValue/></Reference></SignedInfo><SignatureValue/><KeyInfo><X509Data><X509SubjectName/><X509Certificate/></X509Data></KeyInfo></Signature>"#,
    );
    let tmpl = dir.path().join("tmpl.xml");
    std::fs::write(&tmpl, template).expect("write");
    let out = dir.path().join("legacy.xml");
    let signed = Command::new("xmlsec1")
        .args([
            "--sign",
            "--privkey-pem",
            &format!("{},{}", s(&key), s(&cert)),
            "--output",
            s(&out),
            s(&tmpl),
        ])
        .output()
        .expect("xmlsec1");
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    let (ok, _, err) = run(&["xml", "verify", "--trust", s(&ca), s(&out)]);
    assert!(!ok);
    assert!(err.contains("RSA-SHA1"), "{err}");
    let (ok, stdout, err) = run(&["xml", "verify", "--trust", s(&ca), "--allow-sha1", s(&out)]);
    assert!(ok, "{err}");
    assert!(stdout.contains("So Tu phap"), "{stdout}");
}

#[test]
fn certs_inspect_and_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new("Lienthong Test Root");
    let ca = pki.write_ca(dir.path());
    let good = pki.leaf(
        "lienthong.ninhbinh.gov.vn",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[],
    );
    let (good_cert, good_key) = good.write(dir.path(), "good");
    let (ok, out, err) = run(&["certs", "inspect", s(&good_cert), "--key", s(&good_key)]);
    assert!(ok, "{err}");
    assert!(
        !err.contains("warning"),
        "a 0600 key is not warned about: {err}"
    );
    for want in [
        "subject:",
        "lienthong.ninhbinh.gov.vn",
        "issuer:",
        "Lienthong Test Root",
        "SHA-256:",
        "days left:",
        "matches",
    ] {
        assert!(out.contains(want), "{want} missing from:\n{out}");
    }
    // A key file others can read is warned about (and still used).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&good_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (ok, _, err) = run(&["certs", "inspect", s(&good_cert), "--key", s(&good_key)]);
        assert!(ok);
        assert!(err.contains("warning") && err.contains("644"), "{err}");
        std::fs::set_permissions(&good_key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    // A key of another certificate is reported.
    let other = pki.leaf("other", &rcgen::PKCS_ECDSA_P256_SHA256, &[]);
    let (_, other_key) = other.write(dir.path(), "other");
    let (ok, _, err) = run(&["certs", "inspect", s(&good_cert), "--key", s(&other_key)]);
    assert!(!ok);
    assert!(err.contains("does not match"), "{err}");
    let (ok, _, err) = run(&["certs", "inspect", s(&dir.path().join("missing.pem"))]);
    assert!(!ok && err.starts_with("error:"), "{err}");

    // certs check over a configuration: fine now, failing when the signing certificate
    // expires within the window.
    let now = time::OffsetDateTime::now_utc();
    let soon = pki.leaf_valid(
        "signer",
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &[],
        now - days(300),
        now + days(10),
    );
    let (soon_cert, soon_key) = soon.write(dir.path(), "soon");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt.block_on(DvcqgSim::start()).expect("sim");
    let base = TestConfig::default().render(dir.path(), free_port(), &sim);
    let with = |cert: &Path, key: &Path| {
        format!(
            "{base}\n[signing]\ncert = \"{}\"\nkey = \"{}\"\n\n[trust.peers]\nanchors = [\"{}\"]\n",
            s(cert),
            s(key),
            s(&ca)
        )
    };
    let cfg = dir.path().join("lienthong.toml");
    std::fs::write(&cfg, with(&good_cert, &good_key)).expect("write");
    let (ok, out, err) = run(&["certs", "check", "--config", s(&cfg)]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("signing") && out.contains("trust.peers"),
        "{out}"
    );
    std::fs::write(&cfg, with(&soon_cert, &soon_key)).expect("write");
    let (ok, out, err) = run(&["certs", "check", "--config", s(&cfg)]);
    assert!(!ok, "{out}");
    assert!(out.contains("EXPIRES SOON"), "{out}");
    assert!(err.contains("1 certificate(s)"), "{err}");
    // With a shorter window it passes.
    let (ok, _, _) = run(&["certs", "check", "--config", s(&cfg), "--warn-days", "5"]);
    assert!(ok);
    // A key that does not match is a configuration error (check-config finds it too).
    std::fs::write(&cfg, with(&good_cert, &other_key)).expect("write");
    let (ok, _, err) = run(&["check-config", "--config", s(&cfg)]);
    assert!(!ok);
    assert!(err.contains("signing"), "{err}");
}
