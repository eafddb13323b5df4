//! `lienthong certs inspect|check` and `lienthong xml sign|verify`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Subcommand;
use lienthong_certs::inspect::CertificateInfo;
use lienthong_certs::keys::{PrivateKey, key_file_permission_warning, load_certificates};
use lienthong_certs::pkcs11::inventory::{Pkcs11Uri, inventory};
use lienthong_certs::trust::{TrustStore, TrustStoreFiles};
use lienthong_certs::xml::{Document, Limits};
use lienthong_certs::xmldsig::{
    self, Expected, Placement, SignOptions, SignedPart, Signer, VerifyPolicy, XmlSignatureAlgorithm,
};
use time::OffsetDateTime;

/// `lienthong certs …`.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Show what a certificate file (PEM or DER, one or more certificates) says, or what a
    /// PKCS#11 token holds (`pkcs11:token=…?module-path=…[&pin-source=FILE]`, RFC 7512).
    Inspect {
        /// Certificate file, or a `pkcs11:` URI.
        file: PathBuf,
        /// Also check that this private key belongs to the (first) certificate.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Check every certificate of the configuration: exits non-zero when one is expired or
    /// expires within the warning window (`server.certificate_warning`, 30 days by default).
    Check {
        /// Warning window in days (overrides the configuration).
        #[arg(long)]
        warn_days: Option<u32>,
    },
}

/// `lienthong xml …`.
#[derive(Debug, Subcommand)]
pub enum XmlCommand {
    /// Sign a document with an enveloped XML-DSig signature (exclusive C14N) and write it to
    /// standard output.
    Sign {
        /// Private key (PEM or DER).
        #[arg(long)]
        key: PathBuf,
        /// Certificate chain (PEM, leaf first) put in KeyInfo.
        #[arg(long)]
        cert: PathBuf,
        /// rsa-sha256, rsa-sha512 or ecdsa-sha256 (default: by key type).
        #[arg(long)]
        algorithm: Option<String>,
        /// Sign only the element with this Id (default: the whole document).
        #[arg(long)]
        id: Option<String>,
        /// Put the signature right after this element (local name, or `{namespace}name`),
        /// e.g. `TraceHeaderList` for edXML. Default: last child of the root.
        #[arg(long, conflicts_with = "inside")]
        after: Option<String>,
        /// Put the signature as the last child of this element.
        #[arg(long)]
        inside: Option<String>,
        /// Input document (`-` for standard input).
        input: PathBuf,
    },
    /// Verify a document's enveloped signature; prints who signed. Exits non-zero with the
    /// reason when the signature is invalid or the signer is not trusted.
    Verify {
        /// Trust anchor PEM file(s).
        #[arg(long, required = true)]
        trust: Vec<PathBuf>,
        /// Intermediate CA PEM file(s).
        #[arg(long)]
        intermediate: Vec<PathBuf>,
        /// CRL file(s).
        #[arg(long)]
        crl: Vec<PathBuf>,
        /// Accept RSA-SHA1 and SHA-1 digests (old edXML peers).
        #[arg(long)]
        allow_sha1: bool,
        /// Accept a signature over this element by Id (local name or `{namespace}name`), which
        /// must then be the only such element. Default: only whole-document signatures.
        #[arg(long)]
        element: Option<String>,
        /// Input document (`-` for standard input).
        input: PathBuf,
    },
}

/// Runs `certs …`.
pub fn certs(config_path: &Path, command: CertsCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertsCommand::Inspect { file, key } if file.to_string_lossy().starts_with("pkcs11:") => {
            anyhow::ensure!(
                key.is_none(),
                "--key goes with a certificate file, not a token"
            );
            let uri = Pkcs11Uri::parse(&file.to_string_lossy())?;
            print!("{}", inventory(&uri)?);
            Ok(ExitCode::SUCCESS)
        }
        CertsCommand::Inspect { file, key } => {
            let certs = load_certificates(&file).with_context(|| file.display().to_string())?;
            for (i, c) in certs.iter().enumerate() {
                let info = CertificateInfo::from_der(c)?;
                if certs.len() > 1 {
                    println!("# certificate {i}");
                }
                println!("{info}");
                let left = info.seconds_left(OffsetDateTime::now_utc());
                println!("days left:          {}", left.div_euclid(86_400));
                if i + 1 < certs.len() {
                    println!();
                }
            }
            if let Some(k) = key {
                if let Some(w) = key_file_permission_warning(&k) {
                    eprintln!("warning: {w}");
                }
                let key = PrivateKey::from_file(&k).with_context(|| k.display().to_string())?;
                key.check_matches(&certs[0])
                    .with_context(|| format!("{} and {}", k.display(), file.display()))?;
                println!(
                    "key:                {} ({}) matches",
                    k.display(),
                    key.describe()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CertsCommand::Check { warn_days } => {
            let mut security = crate::loaded::Loaded::load(config_path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", config_path.display()))?
                .security;
            if let Some(d) = warn_days {
                security.warning = std::time::Duration::from_secs(u64::from(d) * 86_400);
            }
            let now = OffsetDateTime::now_utc();
            let stale = security.stale_crls(now);
            for (store, t) in &security.trust {
                for c in t.crl_status() {
                    let next = c.next_update.map_or_else(
                        || "no nextUpdate".to_owned(),
                        |n| {
                            n.format(&time::format_description::well_known::Rfc3339)
                                .unwrap_or_default()
                        },
                    );
                    let status = if !c.is_stale(now) {
                        "ok"
                    } else if t.allows_stale_crls() {
                        "STALE (allowed)"
                    } else {
                        "STALE"
                    };
                    println!(
                        "{:<40} CRL next update {next}  {status:<15} {}",
                        format!("trust.{store}"),
                        c.issuer
                    );
                }
            }
            if security.certificates.is_empty() {
                println!("no certificates configured");
                if stale.is_empty() {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let expiring = security.expiring(now);
            for c in &security.certificates {
                let left = c.info.seconds_left(now);
                let status = if left <= 0 {
                    "EXPIRED"
                } else if expiring.iter().any(|(e, _)| e.name == c.name) {
                    "EXPIRES SOON"
                } else {
                    "ok"
                };
                println!(
                    "{:<40} {:>6} days  {:<12} {}  ({})",
                    c.name,
                    left.div_euclid(86_400),
                    status,
                    c.info.subject,
                    c.path.display()
                );
            }
            if !expiring.is_empty() {
                eprintln!(
                    "{} certificate(s) expired or expiring within {} days",
                    expiring.len(),
                    security.warning.as_secs() / 86_400
                );
            }
            if !stale.is_empty() {
                eprintln!(
                    "{} CRL(s) past their nextUpdate: the certificates they cover are refused (install a fresh CRL, or set allow_stale_crl)",
                    stale.len()
                );
            }
            if expiring.is_empty() && stale.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Resolves `name` or `{ns}name` against the document: the namespace of the first element with
/// that local name when none is given.
fn element_name(xml: &str, spec: &str) -> anyhow::Result<(String, String)> {
    if let Some(rest) = spec.strip_prefix('{')
        && let Some((ns, local)) = rest.split_once('}')
    {
        return Ok((ns.to_string(), local.to_string()));
    }
    let doc = Document::parse(xml, Limits::default())?;
    doc.elements()
        .find(|(_, e)| e.local == spec)
        .map(|(_, e)| (e.ns.to_string(), e.local.clone()))
        .with_context(|| format!("no element named {spec} in the document"))
}

/// Runs `xml …`.
pub fn xml(command: XmlCommand) -> anyhow::Result<ExitCode> {
    match command {
        XmlCommand::Sign {
            key,
            cert,
            algorithm,
            id,
            after,
            inside,
            input,
        } => {
            if let Some(w) = key_file_permission_warning(&key) {
                eprintln!("warning: {w}");
            }
            let key =
                Arc::new(PrivateKey::from_file(&key).with_context(|| key.display().to_string())?);
            let chain = load_certificates(&cert).with_context(|| cert.display().to_string())?;
            let algorithm = match algorithm {
                Some(a) => XmlSignatureAlgorithm::from_name(&a).with_context(|| {
                    format!("unknown algorithm {a} (rsa-sha256, rsa-sha512, ecdsa-sha256)")
                })?,
                None => Signer::default_algorithm(&key),
            };
            let signer = Signer::new(key, chain, algorithm)?;
            let xml = read_input(&input)?;
            let placement = match (after, inside) {
                (Some(a), _) => {
                    let (ns, local) = element_name(&xml, &a)?;
                    Placement::After { ns, local }
                }
                (None, Some(i)) => {
                    let (ns, local) = element_name(&xml, &i)?;
                    Placement::LastChildOf { ns, local }
                }
                (None, None) => Placement::LastChildOfRoot,
            };
            let options = SignOptions {
                part: id.map_or(SignedPart::WholeDocument, SignedPart::ElementById),
                placement,
                digest: None,
            };
            let signed = xmldsig::sign(&xml, &signer, &options)?;
            print!("{signed}");
            Ok(ExitCode::SUCCESS)
        }
        XmlCommand::Verify {
            trust,
            intermediate,
            crl,
            allow_sha1,
            element,
            input,
        } => {
            let store = TrustStore::load(
                "command line",
                &TrustStoreFiles {
                    anchors: trust,
                    intermediates: intermediate,
                    crls: crl,
                    allow_legacy: allow_sha1,
                    allow_stale_crl: false,
                    revocation: Default::default(),
                },
            )?;
            let xml = read_input(&input)?;
            let expected = match element {
                Some(e) => {
                    let (ns, local) = element_name(&xml, &e)?;
                    Expected::Element { ns, local }
                }
                None => Expected::WholeDocument,
            };
            let mut policy = VerifyPolicy::new(&store, &expected);
            policy.allow_legacy = allow_sha1;
            match xmldsig::verify(&xml, &policy) {
                Ok(v) => {
                    let c = &v.signer.certificate;
                    println!("signature OK");
                    println!("signer:     {}", c.subject);
                    println!("issuer:     {}", c.issuer);
                    println!("serial:     {}", c.serial);
                    println!("SHA-256:    {}", c.sha256_fingerprint);
                    println!("algorithm:  {}", v.algorithm.uri());
                    println!(
                        "reference:  {}",
                        if v.reference.is_empty() {
                            "whole document"
                        } else {
                            &v.reference
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => bail!("signature INVALID: {e}"),
            }
        }
    }
}
