//! XML-DSig tests: round trips, interoperability with `xmlsec1` in both directions, tampering
//! and signature-wrapping attacks.
//!
//! The xmlsec1 tests need Debian's `xmlsec1` (installed by `.ci/run`); they fail when it is
//! missing unless `LIENTHONG_SKIP_XMLSEC=1` is set, so CI cannot pass without running them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use super::*;
use crate::keys::PrivateKey;
use crate::testpki::{Leaf, Pki, xmlsec_available};
use crate::trust::TrustStore;
use crate::xml::dom::Limits;

const SOAP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tem="http://tempuri.org/">
  <soapenv:Header/>
  <soapenv:Body Id="body-1">
    <tem:GuiHoSo loai="a&amp;b &lt;c&gt; &quot;d&quot;">
      <tem:MaHoSo>000.02.01.H37-251128-0001</tem:MaHoSo>
      <tem:ChuHoSo>Nguyễn Thị Ánh Tuyết</tem:ChuHoSo>
      <tem:GhiChu><![CDATA[Hồ sơ <liên thông> & "khẩn"]]></tem:GhiChu>
    </tem:GuiHoSo>
  </soapenv:Body>
</soapenv:Envelope>
"#;

struct Identity {
    pki: Pki,
    leaf: Leaf,
    dir: tempfile::TempDir,
}

impl Identity {
    fn new(alg: &'static rcgen::SignatureAlgorithm) -> Self {
        let pki = Pki::new("Lienthong Test Root");
        let leaf = pki.leaf("Trung tâm HCC tỉnh", alg, &[]);
        let dir = tempfile::tempdir().unwrap();
        pki.write_ca(dir.path());
        leaf.write(dir.path(), "signer");
        Self { pki, leaf, dir }
    }
    fn signer(&self, algorithm: XmlSignatureAlgorithm) -> Signer {
        let key = PrivateKey::from_bytes(self.leaf.key_pem.as_bytes(), "key").unwrap();
        Signer::new(Arc::new(key), vec![self.leaf.cert.clone()], algorithm).unwrap()
    }
    fn store(&self) -> TrustStore {
        self.pki.store("peer")
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn whole() -> Expected {
    Expected::WholeDocument
}

fn body() -> Expected {
    Expected::Element {
        ns: "http://schemas.xmlsoap.org/soap/envelope/".into(),
        local: "Body".into(),
    }
}

fn by_id_options() -> SignOptions {
    SignOptions {
        part: SignedPart::ElementById("body-1".into()),
        placement: Placement::LastChildOf {
            ns: "http://schemas.xmlsoap.org/soap/envelope/".into(),
            local: "Header".into(),
        },
        digest: None,
    }
}

#[test]
fn sign_then_verify_each_algorithm() {
    for (alg, key) in [
        (XmlSignatureAlgorithm::RsaSha256, &rcgen::PKCS_RSA_SHA256),
        (XmlSignatureAlgorithm::RsaSha512, &rcgen::PKCS_RSA_SHA256),
        (
            XmlSignatureAlgorithm::EcdsaSha256,
            &rcgen::PKCS_ECDSA_P256_SHA256,
        ),
    ] {
        let id = Identity::new(key);
        let signer = id.signer(alg);
        let store = id.store();
        for (options, expected) in [(SignOptions::default(), whole()), (by_id_options(), body())] {
            let signed = sign(SOAP, &signer, &options).unwrap();
            let v = verify(&signed, &VerifyPolicy::new(&store, &expected)).unwrap();
            assert_eq!(v.algorithm, alg);
            assert!(v.signer.certificate.subject.contains("Trung tâm HCC tỉnh"));
            // Everything outside the Signature is byte-for-byte the original.
            let start = signed.find("<ds:Signature").unwrap();
            let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
            // (Placed inside the empty Header, which is reopened as a start/end pair.)
            let original = if options.part == SignedPart::WholeDocument {
                SOAP.to_string()
            } else {
                SOAP.replace("<soapenv:Header/>", "<soapenv:Header></soapenv:Header>")
            };
            assert_eq!(format!("{}{}", &signed[..start], &signed[end..]), original);
        }
    }
}

#[test]
fn embedded_signed_info_is_its_own_exclusive_canonical_form() {
    let id = Identity::new(&rcgen::PKCS_ECDSA_P256_SHA256);
    let signed = sign(
        SOAP,
        &id.signer(XmlSignatureAlgorithm::EcdsaSha256),
        &by_id_options(),
    )
    .unwrap();
    let doc = crate::xml::Document::parse(&signed, Limits::default()).unwrap();
    let (si, _) = doc
        .elements()
        .find(|(_, e)| e.is(DSIG_NS, "SignedInfo"))
        .unwrap();
    let canonical = crate::xml::canonicalize(
        &doc,
        crate::xml::Apex::Element(si),
        &crate::xml::Method::Exclusive {
            with_comments: false,
            inclusive_prefixes: vec![],
        },
        None,
    );
    let canonical = String::from_utf8(canonical).unwrap();
    let embedded_start = signed.find("<ds:SignedInfo>").unwrap();
    let embedded_end = signed.find("</ds:SignedInfo>").unwrap() + "</ds:SignedInfo>".len();
    assert_eq!(
        canonical.replacen(&format!(" xmlns:ds=\"{DSIG_NS}\""), "", 1),
        &signed[embedded_start..embedded_end]
    );
}

#[test]
fn a_stranger_or_an_expired_certificate_is_not_trusted() {
    let id = Identity::new(&rcgen::PKCS_RSA_SHA256);
    let signed = sign(
        SOAP,
        &id.signer(XmlSignatureAlgorithm::RsaSha256),
        &SignOptions::default(),
    )
    .unwrap();
    let other = Pki::new("Other Root").store("other");
    let err = verify(&signed, &VerifyPolicy::new(&other, &whole())).unwrap_err();
    assert!(matches!(err, DsigError::Untrusted(_)), "{err}");
    let store = id.store();
    let expected = whole();
    let mut policy = VerifyPolicy::new(&store, &expected);
    policy.at = Some(time::OffsetDateTime::now_utc() + time::Duration::days(800));
    assert!(matches!(
        verify(&signed, &policy).unwrap_err(),
        DsigError::Untrusted(_)
    ));
}

#[test]
fn every_one_byte_change_of_signed_content_signed_info_or_certificate_is_rejected() {
    let id = Identity::new(&rcgen::PKCS_ECDSA_P256_SHA256);
    let signed = sign(
        SOAP,
        &id.signer(XmlSignatureAlgorithm::EcdsaSha256),
        &by_id_options(),
    )
    .unwrap();
    let store = id.store();
    let expected = body();
    let signed = signed.as_str();
    let policy = VerifyPolicy::new(&store, &expected);
    verify(signed, &policy).unwrap();
    let range = |open: &str, close: &str| {
        let s = signed.find(open).unwrap();
        s..signed.find(close).unwrap() + close.len()
    };
    let mut positions: Vec<usize> = Vec::new();
    positions.extend(range("<soapenv:Body", "</soapenv:Body>"));
    positions.extend(range("<ds:SignedInfo>", "</ds:SignedInfo>"));
    positions.extend(range("<ds:SignatureValue>", "</ds:SignatureValue>"));
    positions.extend(range("<ds:X509Certificate>", "</ds:X509Certificate>"));
    let mut accepted = Vec::new();
    for &i in &positions {
        let mut bytes = signed.as_bytes().to_vec();
        bytes[i] ^= 0x01;
        let Ok(text) = String::from_utf8(bytes) else {
            continue; // not UTF-8 any more: refused before parsing
        };
        if verify(&text, &policy).is_ok() {
            accepted.push(i);
        }
    }
    assert!(
        accepted.is_empty(),
        "{} of {} tampered documents verified, e.g. at byte {}",
        accepted.len(),
        positions.len(),
        accepted[0]
    );
}

#[test]
fn signature_wrapping_is_rejected() {
    let id = Identity::new(&rcgen::PKCS_RSA_SHA256);
    let signed = sign(
        SOAP,
        &id.signer(XmlSignatureAlgorithm::RsaSha256),
        &by_id_options(),
    )
    .unwrap();
    let store = id.store();
    let expected = body();
    let policy = VerifyPolicy::new(&store, &expected);
    verify(&signed, &policy).unwrap();

    // 1. Moved signed element: the genuine Body goes into a wrapper in the Header, a forged
    //    Body (without Id) takes its place.
    let start = signed.find("<soapenv:Body").unwrap();
    let end = signed.find("</soapenv:Body>").unwrap() + "</soapenv:Body>".len();
    let genuine = &signed[start..end];
    let forged = genuine.replace("000.02.01.H37-251128-0001", "000.02.01.H37-999999-9999");
    let forged_body = forged.replace(" Id=\"body-1\"", "");
    let moved = format!(
        "{}{}",
        &signed[..start].replace(
            "<soapenv:Header>",
            &format!("<soapenv:Header><Wrapper>{genuine}</Wrapper>")
        ),
        format_args!("{forged_body}{}", &signed[end..])
    );
    let err = verify(&moved, &policy).unwrap_err();
    assert!(matches!(err, DsigError::Reference(_)), "moved: {err}");

    // 2. Duplicated Id: a forged Body with the same Id before the genuine one.
    let duplicated = signed.replacen(
        "<soapenv:Header>",
        &format!("<soapenv:Header><Wrapper>{forged}</Wrapper>"),
        1,
    );
    let err = verify(&duplicated, &policy).unwrap_err();
    assert!(matches!(err, DsigError::Reference(_)), "duplicated: {err}");

    // 3. Signature over a different node than the caller expects.
    let header_signed = SOAP.replace("<soapenv:Header/>", "<soapenv:Header Id=\"h\"/>");
    let other = sign(
        &header_signed,
        &id.signer(XmlSignatureAlgorithm::RsaSha256),
        &SignOptions {
            part: SignedPart::ElementById("h".into()),
            ..SignOptions::default()
        },
    )
    .unwrap();
    let err = verify(&other, &policy).unwrap_err();
    assert!(matches!(err, DsigError::Reference(_)), "other node: {err}");
    assert!(matches!(
        verify(&signed, &VerifyPolicy::new(&store, &whole())).unwrap_err(),
        DsigError::Reference(_)
    ));

    // 4. Two signatures where one is expected.
    let sig_start = signed.find("<ds:Signature").unwrap();
    let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let twice = signed.replacen(
        "</soapenv:Envelope>",
        &format!("{}</soapenv:Envelope>", &signed[sig_start..sig_end]),
        1,
    );
    assert!(matches!(
        verify(&twice, &policy).unwrap_err(),
        DsigError::Structure(_)
    ));
}

/// Nothing in a `Signature` is covered by an enveloped signature, so the verifier accepts there
/// only the XML-DSig grammar of its profile: anything else (another document hidden in
/// `Object`, `KeyInfo` or `X509Data`, text, processing instructions) is refused, though the
/// digest and signature value still match.
#[test]
fn only_the_signature_grammar_is_accepted_inside_the_signature() {
    let id = Identity::new(&rcgen::PKCS_RSA_SHA256);
    let signed = sign(
        SOAP,
        &id.signer(XmlSignatureAlgorithm::RsaSha256),
        &SignOptions::default(),
    )
    .unwrap();
    let store = id.store();
    let expected = whole();
    let policy = VerifyPolicy::new(&store, &expected);
    let v = verify(&signed, &policy).unwrap();
    let signature = v.signature;
    assert!(v.covers(v.document.root()));
    assert!(!v.covers(signature), "the Signature is not covered");
    let inside = v.document.child_elements(signature).next().unwrap().0;
    assert!(!v.covers(inside));

    let forged =
        "<tem:MaHoSo xmlns:tem=\"http://tempuri.org/\">000.02.01.H37-999999-9999</tem:MaHoSo>";
    let cases = [
        (
            "Object",
            signed.replacen(
                "</ds:Signature>",
                &format!("<ds:Object>{forged}</ds:Object></ds:Signature>"),
                1,
            ),
        ),
        (
            "foreign element after KeyInfo",
            signed.replacen("</ds:Signature>", &format!("{forged}</ds:Signature>"), 1),
        ),
        (
            "foreign element in KeyInfo",
            signed.replacen("</ds:KeyInfo>", &format!("{forged}</ds:KeyInfo>"), 1),
        ),
        (
            "foreign element in X509Data",
            signed.replacen("</ds:X509Data>", &format!("{forged}</ds:X509Data>"), 1),
        ),
        (
            "RetrievalMethod in KeyInfo",
            signed.replacen(
                "<ds:KeyInfo>",
                "<ds:KeyInfo><ds:RetrievalMethod URI=\"http://evil.example/k\"/>",
                1,
            ),
        ),
        (
            "text in the Signature",
            signed.replacen(
                "</ds:Signature>",
                "000.02.01.H37-999999-9999</ds:Signature>",
                1,
            ),
        ),
        (
            "processing instruction in the Signature",
            signed.replacen("</ds:Signature>", "<?forged data?></ds:Signature>", 1),
        ),
        (
            "element in SignatureValue",
            signed.replacen(
                "</ds:SignatureValue>",
                &format!("{forged}</ds:SignatureValue>"),
                1,
            ),
        ),
        ("KeyInfo before SignatureValue", {
            let ki = &signed[signed.find("<ds:KeyInfo>").unwrap()
                ..signed.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len()];
            signed.replacen(ki, "", 1).replacen(
                "<ds:SignatureValue>",
                &format!("{ki}<ds:SignatureValue>"),
                1,
            )
        }),
        (
            "two KeyInfo",
            signed.replacen(
                "</ds:Signature>",
                "<ds:KeyInfo><ds:KeyName>x</ds:KeyName></ds:KeyInfo></ds:Signature>",
                1,
            ),
        ),
    ];
    for (name, doc) in cases {
        assert_ne!(doc, signed, "{name}");
        let err = verify(&doc, &policy).unwrap_err();
        assert!(matches!(err, DsigError::Structure(_)), "{name}: {err}");
    }
    // Whitespace and comments between the signature's elements are fine (xmlsec1 indents).
    let spaced = signed
        .replacen("<ds:KeyInfo>", "\n  <!-- khóa -->\n  <ds:KeyInfo>", 1)
        .replacen("<ds:X509Data>", "\n    <ds:X509Data>", 1);
    verify(&spaced, &policy).unwrap();
}

/// With `URI=""` and a caller that reads one element, that element must be the only one of its
/// name: a second copy (signed or not) would let the caller read another than it thinks.
#[test]
fn an_expected_element_must_be_unique_under_a_whole_document_signature() {
    let id = Identity::new(&rcgen::PKCS_RSA_SHA256);
    let two_bodies = SOAP.replacen(
        "<soapenv:Header/>",
        "<soapenv:Header><soapenv:Body><tem:GuiHoSo><tem:MaHoSo>000.02.01.H37-999999-9999</tem:MaHoSo></tem:GuiHoSo></soapenv:Body></soapenv:Header>",
        1,
    );
    let store = id.store();
    let expected = body();
    let policy = VerifyPolicy::new(&store, &expected);
    let signer = id.signer(XmlSignatureAlgorithm::RsaSha256);
    let one = sign(SOAP, &signer, &SignOptions::default()).unwrap();
    let v = verify(&one, &policy).unwrap();
    assert_eq!(v.signed_element, v.document.root());
    let two = sign(&two_bodies, &signer, &SignOptions::default()).unwrap();
    let err = verify(&two, &policy).unwrap_err();
    assert!(matches!(err, DsigError::Reference(_)), "{err}");
    assert!(err.to_string().contains("ambiguous"), "{err}");
    let none = sign(
        &SOAP.replace("soapenv:Body", "soapenv:Corps"),
        &signer,
        &SignOptions::default(),
    )
    .unwrap();
    let err = verify(&none, &policy).unwrap_err();
    assert!(matches!(err, DsigError::Reference(_)), "{err}");
}

#[test]
fn disallowed_references_transforms_and_dtds_are_rejected() {
    let id = Identity::new(&rcgen::PKCS_RSA_SHA256);
    let signed = sign(
        SOAP,
        &id.signer(XmlSignatureAlgorithm::RsaSha256),
        &SignOptions::default(),
    )
    .unwrap();
    let store = id.store();
    let expected = whole();
    let policy = VerifyPolicy::new(&store, &expected);
    let external = signed.replace("URI=\"\"", "URI=\"http://evil.example/doc.xml\"");
    assert!(matches!(
        verify(&external, &policy).unwrap_err(),
        DsigError::Reference(_)
    ));
    let xpath = signed.replace(
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"></ds:Transform>",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"></ds:Transform>",
    );
    assert!(matches!(
        verify(&xpath, &policy).unwrap_err(),
        DsigError::Algorithm(_)
    ));
    let dtd = signed.replace(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!DOCTYPE x [<!ENTITY e \"x\">]>",
    );
    assert!(matches!(
        verify(&dtd, &policy).unwrap_err(),
        DsigError::Xml(crate::xml::XmlError::Dtd)
    ));
}

// ---------------------------------------------------------------------------------------------
// xmlsec1 interoperability.

fn xmlsec(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("xmlsec1")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn xmlsec1_verifies_what_lienthong_signs() {
    if !xmlsec_available() {
        return;
    }
    for (alg, key) in [
        (XmlSignatureAlgorithm::RsaSha256, &rcgen::PKCS_RSA_SHA256),
        (XmlSignatureAlgorithm::RsaSha512, &rcgen::PKCS_RSA_SHA256),
        (
            XmlSignatureAlgorithm::EcdsaSha256,
            &rcgen::PKCS_ECDSA_P256_SHA256,
        ),
    ] {
        let id = Identity::new(key);
        for (options, id_attr) in [
            (SignOptions::default(), None),
            (by_id_options(), Some("Body")),
        ] {
            let signed = sign(SOAP, &id.signer(alg), &options).unwrap();
            std::fs::write(id.path("signed.xml"), &signed).unwrap();
            let mut args = vec!["--verify", "--trusted-pem", "ca.pem"];
            let attr;
            if let Some(el) = id_attr {
                attr = "--id-attr:Id".to_string();
                args.push(&attr);
                args.push(el);
            }
            args.push("signed.xml");
            let (ok, out) = xmlsec(&args, id.dir.path());
            assert!(
                ok,
                "{alg:?} {id_attr:?}: xmlsec1 refused our signature:\n{out}"
            );
            // And a tampered copy is refused by xmlsec1 too.
            std::fs::write(
                id.path("tampered.xml"),
                signed.replace("Ánh Tuyết", "Ánh Tuyêt"),
            )
            .unwrap();
            *args.last_mut().unwrap() = "tampered.xml";
            assert!(
                !xmlsec(&args, id.dir.path()).0,
                "xmlsec1 accepted a tampered document"
            );
        }
    }
}

/// A signature template for `xmlsec1 --sign`.
#[derive(Clone, Copy)]
struct Template {
    sig_alg: &'static str,
    c14n: &'static str,
    ref_c14n: &'static str,
    digest: &'static str,
    uri: &'static str,
    /// `ds:` prefix or the default namespace on the Signature element.
    prefixed: bool,
    /// An `InclusiveNamespaces PrefixList` on the reference's exclusive C14N transform.
    prefix_list: Option<&'static str>,
}

impl Template {
    fn render(&self) -> String {
        let p = if self.prefixed { "ds:" } else { "" };
        let decl = if self.prefixed {
            format!("xmlns:ds=\"{DSIG_NS}\"")
        } else {
            format!("xmlns=\"{DSIG_NS}\"")
        };
        let inclusive = self
            .prefix_list
            .map(|l| {
                format!("<ec:InclusiveNamespaces xmlns:ec=\"{EXC_C14N_NS}\" PrefixList=\"{l}\"/>")
            })
            .unwrap_or_default();
        format!(
            "<{p}Signature {decl}>\n  <{p}SignedInfo>\n    <{p}CanonicalizationMethod Algorithm=\"{c14n}\"/>\n    <{p}SignatureMethod Algorithm=\"{sig}\"/>\n    <{p}Reference URI=\"{uri}\">\n      <{p}Transforms>\n        <{p}Transform Algorithm=\"{ENVELOPED}\"/>\n        <{p}Transform Algorithm=\"{rc}\">{inclusive}</{p}Transform>\n      </{p}Transforms>\n      <{p}DigestMethod Algorithm=\"{dig}\"/>\n      <{p}DigestValue/>\n    </{p}Reference>\n  </{p}SignedInfo>\n  <{p}SignatureValue/>\n  <{p}KeyInfo>\n    <{p}X509Data>\n      <{p}X509Certificate/>\n    </{p}X509Data>\n  </{p}KeyInfo>\n</{p}Signature>",
            c14n = self.c14n,
            sig = self.sig_alg,
            uri = self.uri,
            rc = self.ref_c14n,
            dig = self.digest,
        )
    }
}

const EXC: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const EXC_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
const INC: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// Documents with odd namespace layouts, comments, CDATA, escaped attributes and Vietnamese
/// text; `{SIG}` marks where the template goes.
/// (name, document with `{SIG}`, optional (ID-carrying element, expectation)).
type InteropDocument = (&'static str, String, Option<(&'static str, Expected)>);

fn interop_documents() -> Vec<InteropDocument> {
    let edxml = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
    vec![
        (
            "soap by Id",
            SOAP.replace("<soapenv:Header/>", "<soapenv:Header>{SIG}</soapenv:Header>"),
            Some(("Body", body())),
        ),
        (
            "edXML default namespace",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<edXMLEnvelope xmlns=\"{edxml}\" xmlns:unused=\"urn:unused\">\n<edXMLHeader><MessageHeader><From><OrganId>000.02.01.H37</OrganId><OrganName>Trung tâm Phục vụ hành chính công tỉnh Ninh Bình</OrganName></From><Subject>Hồ sơ liên thông: đăng ký khai sinh &amp; thường trú</Subject></MessageHeader><TraceHeaderList><TraceHeader><OrganId>000.02.01.H37</OrganId><Timestamp>2026/11/28 10:00:00</Timestamp></TraceHeader></TraceHeaderList>{{SIG}}</edXMLHeader>\n<edXMLBody><!-- tệp đính kèm --><edXMLManifest version=\"1.0\"/></edXMLBody>\n</edXMLEnvelope>\n"
            ),
            None,
        ),
        (
            "namespace undeclaration and redeclaration",
            "<r xmlns=\"urn:a\" xmlns:p=\"urn:p1\"><x xmlns=\"\"><p:y xmlns:p=\"urn:p2\" p:at=\"&#9;tab&#10;lf\">t</p:y></x><p:z a='\"q\"'>&lt;&amp;&gt;<![CDATA[]]>]]&gt;</p:z><!--c-->{SIG}</r>".to_string(),
            None,
        ),
        (
            "xml attributes and processing instructions",
            "<?xml-stylesheet href=\"a.xsl\" type=\"text/xsl\"?>\n<!-- before -->\n<doc xml:lang=\"vi\" xml:space=\"preserve\">  <?pi data?>  <e Id=\"sig-me\" b=\"2\" a=\"1\">Ngày 28/11/2026</e>{SIG}</doc>\n<!-- after -->\n".to_string(),
            Some(("e", Expected::Element { ns: String::new(), local: "e".into() })),
        ),
    ]
}

#[test]
fn lienthong_verifies_what_xmlsec1_signs() {
    if !xmlsec_available() {
        return;
    }
    let rsa = Identity::new(&rcgen::PKCS_RSA_SHA256);
    let ec = Identity::new(&rcgen::PKCS_ECDSA_P256_SHA256);
    let profiles: Vec<(&str, &Identity, Template, bool)> = vec![
        (
            "rsa-sha256 exc",
            &rsa,
            Template {
                sig_alg: XmlSignatureAlgorithm::RsaSha256.uri(),
                c14n: EXC,
                ref_c14n: EXC,
                digest: SHA256,
                uri: "",
                prefixed: true,
                prefix_list: None,
            },
            false,
        ),
        (
            "ecdsa-sha256 exc with comments and PrefixList",
            &ec,
            Template {
                sig_alg: XmlSignatureAlgorithm::EcdsaSha256.uri(),
                c14n: EXC_COMMENTS,
                ref_c14n: EXC,
                digest: SHA256,
                uri: "",
                prefixed: false,
                prefix_list: Some("#default p"),
            },
            false,
        ),
        (
            "rsa-sha256 inclusive c14n",
            &rsa,
            Template {
                sig_alg: XmlSignatureAlgorithm::RsaSha256.uri(),
                c14n: INC,
                ref_c14n: INC,
                digest: SHA256,
                uri: "",
                prefixed: false,
                prefix_list: None,
            },
            false,
        ),
        (
            "rsa-sha1 inclusive c14n (legacy)",
            &rsa,
            Template {
                sig_alg: XmlSignatureAlgorithm::RsaSha1.uri(),
                c14n: INC,
                ref_c14n: INC,
                digest: SHA1,
                uri: "",
                prefixed: true,
                prefix_list: None,
            },
            true,
        ),
    ];
    let mut checked = 0;
    for (name, ident, template, legacy) in &profiles {
        for (doc_name, doc, by_id) in interop_documents() {
            let mut t = *template;
            let (expected, id_attr) = match &by_id {
                Some((el, exp)) => {
                    t.uri = if *el == "Body" { "#body-1" } else { "#sig-me" };
                    (exp.clone(), Some(*el))
                }
                None => (Expected::WholeDocument, None),
            };
            let input = doc.replace("{SIG}", &t.render());
            std::fs::write(ident.path("tmpl.xml"), &input).unwrap();
            let mut args = vec![
                "--sign",
                "--privkey-pem",
                "signer.key,signer.pem",
                "--output",
                "out.xml",
            ];
            let attr = "--id-attr:Id".to_string();
            if let Some(el) = id_attr {
                args.push(&attr);
                args.push(el);
            }
            args.push("tmpl.xml");
            let (ok, out) = xmlsec(&args, ident.dir.path());
            assert!(ok, "{name} / {doc_name}: xmlsec1 --sign failed:\n{out}");
            let signed = std::fs::read_to_string(ident.path("out.xml")).unwrap();
            let store = ident.store();
            let policy = VerifyPolicy::new(&store, &expected);
            if *legacy {
                let err = verify(&signed, &policy).unwrap_err();
                assert!(matches!(err, DsigError::Algorithm(_)), "{name}: {err}");
                let mut legacy_policy = policy;
                legacy_policy.allow_legacy = true;
                verify(&signed, &legacy_policy)
                    .unwrap_or_else(|e| panic!("{name} / {doc_name}: {e}\n{signed}"));
            } else {
                let v = verify(&signed, &policy)
                    .unwrap_or_else(|e| panic!("{name} / {doc_name}: {e}\n{signed}"));
                assert!(v.signer.certificate.subject.contains("Trung tâm HCC tỉnh"));
                // xmlsec1 may re-serialize non-ASCII text as character references, so the
                // changes are to ASCII parts of the signed content.
                let tampered = signed
                    .replacen("H37-251128", "H37-251129", 1)
                    .replacen("<OrganId>000.02.01.H37", "<OrganId>000.02.01.H38", 1)
                    .replacen("tab", "tac", 1)
                    .replacen("28/11", "29/11", 1);
                assert_ne!(tampered, signed, "{doc_name}: nothing was tampered");
                assert!(
                    verify(&tampered, &policy).is_err(),
                    "{name} / {doc_name}: tampered copy verified"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 16);
}
