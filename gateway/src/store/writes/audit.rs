//! The data of `store::audit`: what the writer is asked to store and what it answers (see
//! `store/audit.rs` for the operations themselves).

/// An RFC 3161 time-stamp token over the hash of record `seq`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditStamp {
    /// The record stamped (the chain head when it was stamped).
    pub seq: i64,
    /// Its hash (lower-case hex), which the token's message imprint covers.
    pub hash: String,
    /// The authority's URL.
    pub tsa: String,
    /// The DER `TimeStampToken` (CMS SignedData).
    #[serde(with = "base64_bytes")]
    pub token: Vec<u8>,
    /// When it was stored (Unix ms; absent before).
    #[serde(default)]
    pub stamped_at: i64,
}

/// Where the chain stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditStatus {
    /// Records linked (the head's seq; 0 when none).
    pub length: i64,
    /// The head's hash.
    pub head_hash: Option<String>,
    /// When the head was written (Unix ms).
    pub head_at: Option<i64>,
    /// Records written but not linked yet.
    pub unlinked: i64,
    /// The last time-stamped record, and when it was written (Unix ms).
    pub stamped_seq: Option<i64>,
    /// When the record last stamped was written (Unix ms).
    pub stamped_record_at: Option<i64>,
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
