//! Two Lienthong centers that exchange dossiers (liên thông): a province and a commune, each with
//! its own CA, TLS certificate (server and client), signing certificate, store and center
//! webhook. Each trusts only the other's CA for the exchange, over mutual TLS.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lienthong_certs::testpki::{Leaf, Pki};
use rcgen::ExtendedKeyUsagePurpose as Eku;

use serde_json::{Value, json};

use crate::center_sim::CenterSim;
use crate::file_server::FileServer;
use crate::gateway_process::{Gateway, free_port};

/// One center's identity and surroundings.
pub struct Level {
    /// Agency code (mã định danh).
    pub code: &'static str,
    /// Agency name.
    pub name: &'static str,
    /// Destination name the *other* center gives this one.
    pub destination: &'static str,
    /// Its CA.
    pub pki: Pki,
    /// TLS certificate (server and client): CN the signer's name, SAN `localhost`.
    pub tls: Leaf,
    /// Signing certificate's CN (carries the agency code).
    pub signer_cn: String,
    /// Signing certificate.
    pub signing: Leaf,
    /// Its port.
    pub port: u16,
    /// Its working directory.
    pub dir: tempfile::TempDir,
    /// Its center's webhook.
    pub center: CenterSim,
}

impl Level {
    /// A new center with fresh certificates.
    ///
    /// Panics when the working directory or the webhook cannot be made (tests only).
    pub async fn new(
        code: &'static str,
        name: &'static str,
        destination: &'static str,
        signer: &str,
    ) -> Self {
        let pki = Pki::new(&format!("{signer} CA"));
        let signer_cn = format!("{signer} {code}");
        // The TLS certificate names the center as its signing certificate does (and `localhost`
        // as a SAN, for the server name): a peer's documents are handed in over a connection
        // that is the peer's own (`transport_identity = "same-as-signer"`).
        let tls = pki.leaf(
            &signer_cn,
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &[Eku::ServerAuth, Eku::ClientAuth],
        );
        let signing = pki.leaf(&signer_cn, &rcgen::PKCS_RSA_SHA256, &[]);
        Self {
            code,
            name,
            destination,
            pki,
            tls,
            signer_cn,
            signing,
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            center: CenterSim::start().await.expect("center webhook"),
        }
    }

    /// `https://localhost:PORT/v1/exchange`.
    pub fn exchange_url(&self) -> String {
        format!("https://localhost:{}/v1/exchange", self.port)
    }

    /// Writes its CA to its directory.
    pub fn ca_path(&self) -> PathBuf {
        self.pki.write_ca(self.dir.path())
    }

    /// Its configuration, exchanging with `peer` (reached at `peer_url`); `routes_to_peer` sends
    /// every dossier the center submits to the peer; `extra` is appended (retry tables…).
    pub fn config(&self, peer: &Level, peer_url: &str, extra: &str) -> String {
        let dir = self.dir.path();
        let (tls_cert, tls_key) = self.tls.write(dir, "tls");
        let (sign_cert, sign_key) = self.signing.write(dir, "signing");
        let peer_ca = peer.pki.write_ca(dir);
        let peer_ca = rename(&peer_ca, &dir.join("peer-ca.pem"));
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
shutdown_grace = "5s"

[server.tls]
cert = "{tls_cert}"
key = "{tls_key}"
client_trust = "peer"

[store]
url = "sqlite://{db}"

[center]
agency_code = "{code}"
agency_name = "{name}"

[dispatcher]
poll_interval = "50ms"

[log]
level = "info"

[signing]
cert = "{sign_cert}"
key = "{sign_key}"

[trust.peer]
anchors = ["{peer_ca}"]

[exchange]
forward_to = ["center"]

[destinations.center]
kind = "webhook"
url = "{center}"
timeout = "3s"

[destinations.center.retry]
initial = "100ms"
max_delay = "500ms"
max_attempts = 1000

[destinations.{peer_dest}]
kind = "peer"
url = "{peer_url}"
organ_id = "{peer_code}"
organ_name = "{peer_name}"
timeout = "5s"
signature_trust = "peer"
signers = ["{peer_signer}"]

[destinations.{peer_dest}.tls]
trust = "peer"
client_cert = "{tls_cert}"
client_key = "{tls_key}"

[destinations.{peer_dest}.retry]
initial = "100ms"
max_delay = "500ms"
max_attempts = 1000

[[routes]]
procedure_prefix = ""
destinations = ["{peer_dest}"]
{extra}
"#,
            port = self.port,
            tls_cert = tls_cert.display(),
            tls_key = tls_key.display(),
            db = dir.join("lienthong.db").display(),
            code = self.code,
            name = self.name,
            sign_cert = sign_cert.display(),
            sign_key = sign_key.display(),
            peer_ca = peer_ca.display(),
            center = self.center.url(),
            peer_dest = peer.destination,
            peer_code = peer.code,
            peer_name = peer.name,
            peer_signer = peer.signer_cn,
        )
    }

    /// Its configuration when both centers go through the document-exchange axis `axis`: the
    /// peer destination sends with `sendEdoc` under this center's own account on the axis
    /// (registered here: system id `sys-{code}`, a secret in a 0600 file), and `[exchange.pull]`
    /// takes what waits in this center's mailbox every 200 ms (backoff up to `max_backoff`).
    pub fn config_via_axis(
        &self,
        peer: &Level,
        axis: &crate::axis_sim::AxisSim,
        max_backoff: &str,
    ) -> String {
        let system_id = format!("sys-{}", self.code);
        let secret = format!("bi-mat-{}", self.code);
        axis.register(&system_id, &secret, self.code);
        let secret_file = self.dir.path().join("axis.secret");
        std::fs::write(&secret_file, &secret).expect("axis secret");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
        }
        let config = self.config(
            peer,
            &axis.url(),
            &format!(
                r#"
[exchange.pull]
axis = "{}"
interval = "200ms"
max_backoff = "{max_backoff}"
batch = 5

[destinations.{}.axis]
system_id = "{system_id}"
secret_file = "{}"
"#,
                peer.destination,
                peer.destination,
                secret_file.display()
            ),
        );
        config.replacen(
            "kind = \"peer\"\n",
            "kind = \"peer\"\ntransport = \"axis\"\n",
            1,
        )
    }

    /// An HTTPS client for the center's own calls (trusts this level's CA, no client certificate).
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(self.pki.ca_pem.as_bytes()).expect("CA")
            ])
            .build()
            .expect("client")
    }

    /// An HTTPS client presenting `as_level`'s TLS certificate (a peer's connection).
    pub fn peer_client(&self, as_level: &Level) -> reqwest::Client {
        let pem = format!("{}{}", as_level.tls.cert_pem, as_level.tls.key_pem);
        reqwest::Client::builder()
            .tls_certs_only([
                reqwest::Certificate::from_pem(self.pki.ca_pem.as_bytes()).expect("CA")
            ])
            .identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"))
            .build()
            .expect("client")
    }

    /// Starts `lienthong serve` with `config`.
    pub async fn start(&self, config: &str) -> Gateway {
        Gateway::start_tls(self.dir.path(), config, self.client()).await
    }

    /// Starts it with extra environment variables (fault injection).
    pub async fn start_with_env(&self, config: &str, env: &[(&str, &str)]) -> Gateway {
        Gateway::start_tls_with_env(self.dir.path(), config, self.client(), env).await
    }
}

fn rename(from: &Path, to: &Path) -> PathBuf {
    std::fs::rename(from, to).expect("rename CA");
    to.to_path_buf()
}

/// The province (Trung tâm Phục vụ hành chính công tỉnh) and the commune (UBND xã).
pub async fn province_and_commune() -> (Level, Level) {
    let province = Level::new(
        "000.02.01.H37",
        "Trung tâm Phục vụ hành chính công tỉnh Ninh Bình",
        "tinh",
        "Trung tam PVHCC tinh Ninh Binh",
    )
    .await;
    let commune = Level::new(
        "000.00.12.H37",
        "UBND xã Gia Viễn",
        "xa-gia-vien",
        "UBND xa Gia Vien",
    )
    .await;
    (province, commune)
}

/// Three files of different sizes and contents (not compressible, not text).
pub fn files() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (name, size) in [
        ("don.pdf", 200 * 1024),
        ("dieu-le.pdf", 33_001),
        ("anh.jpg", 1),
    ] {
        let mut bytes = Vec::with_capacity(size);
        let mut x: u32 = size as u32 ^ 0x9e37_79b9;
        while bytes.len() < size {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes.push((x & 0xff) as u8);
        }
        out.insert(name.to_string(), bytes);
    }
    out
}

/// The business-registration example as dossier `code`, its documents the `files` served by
/// `store` (with their sizes and SHA-256).
pub fn dossier(code: &str, store: &FileServer, files: &BTreeMap<String, Vec<u8>>) -> Value {
    let mut d: Value = serde_json::from_str(include_str!(
        "../../../examples/dossier-business-registration.json"
    ))
    .expect("example");
    d["code"] = json!(code);
    let template = d["documents"][0].clone();
    d["documents"] = files
        .iter()
        .enumerate()
        .map(|(i, (name, bytes))| {
            let mut doc = template.clone();
            doc["id"] = json!(format!("tp-{i}"));
            doc["title"] = json!(name);
            doc["size"] = json!(bytes.len());
            doc["sha256"] = json!(lienthong_certs::sha256_hex(bytes));
            doc["url"] = json!(store.url(name));
            doc
        })
        .collect();
    d
}

/// The processing example event with `id` and `status`, `minutes` from now.
pub fn event(id: &str, status: &str, minutes: i64) -> Value {
    let mut e: Value =
        serde_json::from_str(include_str!("../../../examples/event-processing.json"))
            .expect("event");
    e["id"] = json!(id);
    e["status"] = json!(status);
    let at = time::OffsetDateTime::now_utc() + time::Duration::minutes(minutes);
    e["at"] = json!(
        at.format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    );
    e
}

/// What `gw` received by edXML for dossier `code` (`GET /v1/exchange/received/{code}`).
pub async fn received(gw: &Gateway, code: &str) -> Vec<Value> {
    let (st, v) = gw.get(&format!("/v1/exchange/received/{code}")).await;
    assert_eq!(st, 200, "{v}");
    v["received"].as_array().cloned().unwrap_or_default()
}

/// Verifies a document with xmlsec1 against both CAs.
/// Panics unless `xmlsec1 --verify` accepts `xml` (written to `dir/name`) against `cas`.
pub fn xmlsec_verifies(dir: &std::path::Path, name: &str, xml: &str, cas: &[std::path::PathBuf]) {
    let file = dir.join(name);
    std::fs::write(&file, xml).expect("write");
    let mut cmd = Command::new("xmlsec1");
    cmd.arg("--verify");
    for ca in cas {
        cmd.arg("--trusted-pem").arg(ca);
    }
    let out = cmd.arg(&file).output().expect("xmlsec1");
    assert!(
        out.status.success(),
        "xmlsec1 refused {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
