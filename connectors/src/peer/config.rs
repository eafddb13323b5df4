//! Configuration of a `kind = "peer"` destination (another center, exchanging edXML).

use serde::Deserialize;

use crate::ConfigProblem;

crate::endpoint::destination_config! {
    /// `[destinations.<name>]` with `kind = "peer"`.
    #[derive(Debug, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PeerConfig {
        /// The peer's exchange endpoint, e.g. `https://lienthong.xa-gia-vien.example.gov.vn/v1/exchange`;
        /// with `transport = "axis"`, the axis's base URL (operations are appended).
        pub url: String,
        /// How messages reach the peer: `direct` (POST to its exchange endpoint, answered with a
        /// signed edXML status) or `axis` (through the national document-exchange axis, [`super::axis`]).
        #[serde(default)]
        pub transport: Transport,
        /// The peer's agency code (mã định danh), `To/OrganId`.
        pub organ_id: String,
        /// The peer's name.
        pub organ_name: String,
        /// `Code/CodeNotation` of the messages (ký hiệu), default `LT`.
        #[serde(default = "default_notation")]
        pub code_notation: String,
        /// Carry the dossier's files in `AttachmentEncoded` (fetched from their URLs).
        #[serde(default = "yes")]
        pub attachments: bool,
        /// Largest file carried, in bytes (default 20 MiB); a larger file makes the message fail
        /// with the file named, rather than be sent without it.
        #[serde(default = "default_max_attachment")]
        pub max_attachment_bytes: u64,
        /// Receiving from this peer: the `[trust.<name>]` store its signing certificates chain to.
        /// Without it, messages claiming to come from this peer are refused (403).
        #[serde(default)]
        pub signature_trust: Option<String>,
        /// Receiving: the names its signing certificate may carry (the whole subject DN as
        /// `lienthong certs inspect` prints it, a CN or a SAN, each exact). Empty: the certificate's
        /// subject must carry `organ_id` as the whole value of its UID, serialNumber,
        /// organizationIdentifier, OU or CN (or `LABEL:organ_id`, e.g. `MNS:000.00.12.H37`).
        #[serde(default)]
        pub signers: Vec<String>,
        /// Receiving pushes (`POST /v1/exchange`): whose TLS client certificate may deliver this
        /// peer's documents. `same-as-signer` (the default for a direct peer): a certificate
        /// naming the peer as `signers` (or `organ_id`) names its signer, so one center's
        /// certificate cannot hand in documents signed by another. `any-trusted` (the default
        /// for an axis peer): any certificate the listener's `client_trust` accepts, for a relay
        /// that carries other centers' documents.
        #[serde(default)]
        pub transport_identity: Option<TransportIdentity>,
        /// `[destinations.<name>.axis]`: this center's account on the document-exchange axis,
        /// required with `transport = "axis"`.
        #[serde(default)]
        pub axis: Option<super::axis::AxisConfig>,
    }
    endpoint {
        connect_timeout = "crate::endpoint::ten_seconds",
        timeout = "crate::endpoint::sixty_seconds"
    }
}

/// How a peer is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Straight to the peer's `/v1/exchange`.
    #[default]
    Direct,
    /// Through the document-exchange axis (`sendEdoc`; the peer pulls).
    Axis,
}

/// Whose TLS client certificate may push a peer's documents ([`PeerConfig::transport_identity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransportIdentity {
    /// The certificate must name the peer as its document signer must.
    SameAsSigner,
    /// Any certificate the listener's client trust accepts (a relay).
    AnyTrusted,
}

impl PeerConfig {
    /// [`PeerConfig::transport_identity`], or its default for the peer's transport.
    pub fn transport_identity(&self) -> TransportIdentity {
        self.transport_identity.unwrap_or(match self.transport {
            Transport::Direct => TransportIdentity::SameAsSigner,
            Transport::Axis => TransportIdentity::AnyTrusted,
        })
    }
}

fn yes() -> bool {
    true
}
const fn default_max_attachment() -> u64 {
    20 * 1024 * 1024
}

fn default_notation() -> String {
    "LT".into()
}

impl PeerConfig {
    /// Every problem of the configuration, with its key.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            p.push(ConfigProblem::new("url", "must be an http(s) URL"));
        }
        if self.organ_id.trim().is_empty() {
            p.push(ConfigProblem::new("organ_id", "required"));
        }
        match (&self.transport, &self.axis) {
            (Transport::Axis, Some(axis)) => p.extend(axis.validate()),
            (Transport::Axis, None) => p.push(ConfigProblem::new(
                "axis",
                "required with transport = \"axis\": the document-exchange axis authenticates each member system by its id and shared secret, as its client SDK does ([destinations.<name>.axis] system_id = \"…\", secret_file = \"…\"). Lienthong's earlier provisional axis profile (JSON bodies, a `from` header, mutual TLS alone) is gone: no axis speaks it",
            )),
            (Transport::Direct, Some(_)) => p.push(ConfigProblem::new(
                "axis",
                "only with transport = \"axis\"",
            )),
            (Transport::Direct, None) => {}
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(extra: &str) -> PeerConfig {
        toml::from_str(&format!(
            "url = \"https://truc.example.gov.vn/vdxp\"\norgan_id = \"000.00.12.H37\"\norgan_name = \"UBND xã\"\n{extra}"
        ))
        .expect("peer")
    }

    /// A configuration written for the provisional axis profile (no account) is told why, by key.
    #[test]
    fn an_axis_peer_without_an_account_is_refused_with_the_reason() {
        let problems = peer("transport = \"axis\"\n").validate();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "axis");
        assert!(
            problems[0].message.contains("provisional"),
            "{}",
            problems[0].message
        );
        assert!(
            problems[0].message.contains("system_id"),
            "{}",
            problems[0].message
        );

        // With its account, the table is valid (whether the secret file exists is checked with
        // every file the configuration names, by check-config and loading).
        let p = peer(
            "transport = \"axis\"\n[axis]\nsystem_id = \"sys\"\nsecret_file = \"/run/axis.secret\"\n",
        );
        assert!(p.validate().is_empty(), "{:?}", p.validate());
        assert_eq!(p.axis.as_ref().expect("axis").service_type, "eDoc");
        assert_eq!(p.transport_identity(), TransportIdentity::AnyTrusted);

        let direct = peer("[axis]\nsystem_id = \"sys\"\nsecret_file = \"/run/axis.secret\"\n");
        assert_eq!(direct.validate()[0].key, "axis");
        assert_eq!(direct.transport_identity(), TransportIdentity::SameAsSigner);
    }
}
