//! The public-service payment platform (nền tảng thanh toán trực tuyến): payment confirmations
//! it pushes to the province (`POST /v1/callbacks/payment`).
//!
//! A confirmation is authenticated by `MaXacThuc` = lowercase hex SHA-256 of its fields joined by
//! `|` in the order of [`MAC_FIELDS`], with the shared secret last (format notes §3), compared in
//! constant time. `MaLoi` "00" means paid; any other code is a failed payment, recorded and told
//! to the center but never as paid. `MaThamChieu` (the reference the province gave the payment)
//! is the dossier code. The platform is answered `{"MaLoi", "MoTaLoi"}`.

use lienthong_certs::{Secret, constant_time_eq, sha256_hex};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::push::{
    Authentication, Credential, PushError, PushSource, ReadPush, Repeats, portal_time, text_field,
};

/// The payment platform as a push source (`payment`): listed in the gateway's `PUSH_SOURCES`.
#[derive(Debug, Clone, Copy)]
pub struct PaymentSource;

/// `payment.confirmed` (`MaLoi` 00) and `payment.failed` (any other `MaLoi`): the payment
/// platform's confirmation, the ten fields its `MaXacThuc` covers, as the texts it sent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[allow(non_snake_case)]
pub struct PaymentNotice {
    /// Message type.
    pub LoaiBanTin: String,
    /// Result: `00` paid.
    pub MaLoi: String,
    /// The platform's partner code of the province.
    pub MaDoiTac: String,
    /// The reference the province gave the payment: the dossier code.
    pub MaThamChieu: String,
    /// Amount, as the platform wrote it.
    pub SoTien: String,
    /// Currency (`VND`).
    pub MaTienTe: String,
    /// The platform's transaction id (a repeat with the same content is not told again).
    pub MaGiaoDich: String,
    /// The bank.
    pub MaNganHang: String,
    /// When it was paid (`yyyyMMddHHmmss`, Vietnamese time).
    pub ThoiGianGD: String,
    /// Free text of the transaction.
    pub ThongTinGiaoDich: String,
}

impl PushSource for PaymentSource {
    fn name(&self) -> &'static str {
        "payment"
    }

    fn authentication(&self) -> Authentication {
        Authentication::SharedKey
    }

    fn repeats(&self) -> Repeats {
        Repeats::NeverUnpay
    }

    fn read(&self, body: &[u8], credential: Credential<'_>) -> Result<ReadPush, PushError> {
        let key = credential.shared_key()?;
        PaymentConfirmation::check_mac(body, key)?;
        let c = PaymentConfirmation::parse(body)?;
        c.verify(key)?;
        // The notice is the ten covered fields, read back into its type: what is told is what
        // `docs/schemas/notices.json` says.
        let data = c.data();
        let told: PaymentNotice = serde_json::from_value(data.clone())
            .map_err(|e| PushError::Malformed(format!("payment notice: {e}")))?;
        Ok(ReadPush {
            event: if c.paid() {
                "payment.confirmed"
            } else {
                "payment.failed"
            },
            dedupe_key: c.transaction().to_owned(),
            dossier_code: c.reference().to_owned(),
            dated: Some(("ThoiGianGD".to_owned(), c.at()?)),
            kept: data,
            notice: serde_json::to_value(&told)
                .map_err(|e| PushError::Malformed(format!("payment notice: {e}")))?,
            decision: None,
            signed_by: None,
        })
    }

    fn notices(&self) -> Vec<(&'static str, schemars::Schema)> {
        vec![
            ("payment.confirmed", schemars::schema_for!(PaymentNotice)),
            ("payment.failed", schemars::schema_for!(PaymentNotice)),
        ]
    }

    /// The platform's answer: `MaLoi` "00" taken.
    fn accepted(&self) -> Value {
        json!({ "MaLoi": PAID, "MoTaLoi": "Thành công" })
    }

    /// The platform's answer to a refused push: `MaLoi` 01 authentication, 02 malformed, 04 stale.
    fn refused(&self, e: &PushError) -> Value {
        let code = match e {
            PushError::Forged(_) => "01",
            PushError::Malformed(_) => "02",
            PushError::Stale(_) => "04",
            PushError::UnknownDossier(_) => "05",
            PushError::NotApplicable(_) => "06",
        };
        json!({ "MaLoi": code, "MoTaLoi": e.to_string() })
    }

    /// The platform's answer when the province cannot take it now (store unavailable): retry.
    fn unavailable(&self) -> Value {
        json!({ "MaLoi": "99", "MoTaLoi": "Hệ thống tạm thời không tiếp nhận được, vui lòng gửi lại" })
    }
}

/// The fields `MaXacThuc` covers, in order (the secret follows them).
pub const MAC_FIELDS: [&str; 10] = [
    "LoaiBanTin",
    "MaLoi",
    "MaDoiTac",
    "MaThamChieu",
    "SoTien",
    "MaTienTe",
    "MaGiaoDich",
    "MaNganHang",
    "ThoiGianGD",
    "ThongTinGiaoDich",
];

/// `MaLoi` of a successful payment.
pub const PAID: &str = "00";

/// `MaXacThuc` of `values` (in [`MAC_FIELDS`] order) under `secret`.
pub fn mac(values: &[&str], secret: &str) -> String {
    let mut text = values.join("|");
    text.push('|');
    text.push_str(secret);
    sha256_hex(text.as_bytes())
}

/// A payment confirmation as pushed, fields as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentConfirmation {
    /// The covered fields, in [`MAC_FIELDS`] order.
    values: Vec<String>,
    /// `MaXacThuc` as received.
    presented_mac: String,
}

impl PaymentConfirmation {
    /// Reads a confirmation.
    ///
    /// Errors: not a JSON object, or a field missing or not text/number (named).
    pub fn parse(body: &[u8]) -> Result<Self, PushError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| PushError::Malformed(format!("not JSON: {e}")))?;
        if !v.is_object() {
            return Err(PushError::Malformed("not a JSON object".into()));
        }
        let values = MAC_FIELDS
            .iter()
            .map(|f| text_field(&v, f))
            .collect::<Result<Vec<_>, _>>()?;
        let presented_mac = text_field(&v, "MaXacThuc")?;
        let c = Self {
            values,
            presented_mac,
        };
        if c.reference().trim().is_empty() {
            return Err(PushError::Malformed("MaThamChieu: empty".into()));
        }
        if c.transaction().trim().is_empty() {
            return Err(PushError::Malformed("MaGiaoDich: empty".into()));
        }
        Ok(c)
    }

    /// Checks `MaXacThuc` of a push's body before anything else of it is judged: the fields are
    /// read leniently (a missing one counts as empty text) and the hash compared; a body that is
    /// not JSON, or whose `MaXacThuc` is missing or does not match, is refused as not
    /// authenticated (401), not as malformed.
    ///
    /// Errors: [`PushError::Forged`].
    pub fn check_mac(body: &[u8], secret: &Secret) -> Result<(), PushError> {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return Err(PushError::Forged(
                "no MaXacThuc could be read (the body is not JSON)".into(),
            ));
        };
        let Ok(presented) = text_field(&v, "MaXacThuc") else {
            return Err(PushError::Forged("MaXacThuc is missing".into()));
        };
        let values: Vec<String> = MAC_FIELDS
            .iter()
            .map(|f| text_field(&v, f).unwrap_or_default())
            .collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let expected = mac(&values, secret.expose());
        if constant_time_eq(
            expected.as_bytes(),
            presented.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(PushError::Forged("MaXacThuc does not match".into()))
        }
    }

    fn get(&self, field: &str) -> &str {
        MAC_FIELDS
            .iter()
            .position(|f| *f == field)
            .and_then(|i| self.values.get(i))
            .map_or("", String::as_str)
    }

    /// Checks `MaXacThuc` under `secret` (hex compared without regard to case, in constant
    /// time).
    ///
    /// Errors: [`PushError::Forged`].
    pub fn verify(&self, secret: &Secret) -> Result<(), PushError> {
        let values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        let expected = mac(&values, secret.expose());
        if constant_time_eq(
            expected.as_bytes(),
            self.presented_mac.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(PushError::Forged("MaXacThuc does not match".into()))
        }
    }

    /// Whether the payment succeeded (`MaLoi` "00").
    pub fn paid(&self) -> bool {
        self.get("MaLoi") == PAID
    }

    /// `MaThamChieu`: the dossier code.
    pub fn reference(&self) -> &str {
        self.get("MaThamChieu")
    }

    /// `MaGiaoDich`: the platform's transaction id (the dedupe key).
    pub fn transaction(&self) -> &str {
        self.get("MaGiaoDich")
    }

    /// `ThoiGianGD`: when the transaction happened.
    ///
    /// Errors: not `yyyyMMddHHmmss`.
    pub fn at(&self) -> Result<OffsetDateTime, PushError> {
        portal_time("ThoiGianGD", self.get("ThoiGianGD"))
    }

    /// The confirmation without its `MaXacThuc`, as stored and told to the center.
    pub fn data(&self) -> Value {
        let mut m = Map::new();
        for (f, v) in MAC_FIELDS.iter().zip(&self.values) {
            m.insert((*f).to_owned(), Value::String(v.clone()));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payment notice has exactly the fields `MaXacThuc` covers, in their order.
    #[test]
    fn the_payment_notice_is_the_fields_the_mac_covers() {
        let schema = schemars::schema_for!(PaymentNotice).to_value();
        let props: Vec<&str> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .map(String::as_str)
            .collect();
        let mut mac: Vec<&str> = MAC_FIELDS.to_vec();
        let mut got = props.clone();
        mac.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, mac);
    }

    fn confirmation(secret: &str, ma_loi: &str) -> Value {
        let mut v = json!({
            "LoaiBanTin": "THANHTOAN", "MaLoi": ma_loi, "MaDoiTac": "NINHBINH",
            "MaThamChieu": "000.02.01.H37-261128-0001", "SoTien": 50000, "MaTienTe": "VND",
            "MaGiaoDich": "GD-20261130-000123", "MaNganHang": "970436",
            "ThoiGianGD": "20261130091500", "ThongTinGiaoDich": "Lệ phí đăng ký doanh nghiệp",
        });
        let values: Vec<String> = MAC_FIELDS
            .iter()
            .map(|f| text_field(&v, f).unwrap())
            .collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        v["MaXacThuc"] = json!(mac(&refs, secret));
        v
    }

    /// As a push source: the key first, then what is stored, told and deduplicated; a failed
    /// payment is told as failed; a confirmation is never taken on another key.
    #[test]
    fn as_a_push_source_it_reads_what_is_kept_told_and_deduplicated() {
        let secret = Secret::new("bi-mat");
        let source = PaymentSource;
        assert_eq!(source.authentication(), Authentication::SharedKey);
        assert_eq!(source.repeats(), Repeats::NeverUnpay);
        let body = confirmation("bi-mat", "00").to_string();
        let read = source
            .read(body.as_bytes(), Credential::SharedKey(&secret))
            .unwrap();
        assert_eq!(read.event, "payment.confirmed");
        assert_eq!(read.dedupe_key, "GD-20261130-000123");
        assert_eq!(read.dossier_code, "000.02.01.H37-261128-0001");
        assert_eq!(
            read.dated.as_ref().map(|(f, _)| f.as_str()),
            Some("ThoiGianGD")
        );
        assert!(read.kept.get("MaXacThuc").is_none(), "the MAC is not kept");
        assert_eq!(read.notice["SoTien"], "50000");
        assert!(read.decision.is_none() && read.signed_by.is_none());

        let failed = confirmation("bi-mat", "24").to_string();
        let read = source
            .read(failed.as_bytes(), Credential::SharedKey(&secret))
            .unwrap();
        assert_eq!(read.event, "payment.failed");

        let other = Secret::new("khac");
        assert!(matches!(
            source.read(body.as_bytes(), Credential::SharedKey(&other)),
            Err(PushError::Forged(_))
        ));
        assert_eq!(source.refused(&PushError::Stale("x".into()))["MaLoi"], "04");
        assert_eq!(source.accepted()["MaLoi"], PAID);
    }

    #[test]
    fn mac_is_sha256_of_the_fields_then_the_secret() {
        // printf '%s' 'a|b|s' | sha256sum
        assert_eq!(
            mac(&["a", "b"], "s"),
            "5202900e77742085752962a465278203238c089356902008e521aeea98dd05de"
        );
    }

    #[test]
    fn a_genuine_confirmation_verifies_and_reads() {
        let secret = Secret::new("bi-mat");
        let body = confirmation("bi-mat", "00").to_string();
        let c = PaymentConfirmation::parse(body.as_bytes()).unwrap();
        c.verify(&secret).unwrap();
        assert!(c.paid());
        assert_eq!(c.reference(), "000.02.01.H37-261128-0001");
        assert_eq!(c.transaction(), "GD-20261130-000123");
        assert_eq!(c.data()["SoTien"], "50000");
        assert!(c.data().get("MaXacThuc").is_none());
        assert_eq!(c.at().unwrap().hour(), 9);
        // Uppercase hex is the same hash.
        let mut upper = confirmation("bi-mat", "00");
        upper["MaXacThuc"] = json!(upper["MaXacThuc"].as_str().unwrap().to_uppercase());
        PaymentConfirmation::parse(upper.to_string().as_bytes())
            .unwrap()
            .verify(&secret)
            .unwrap();
    }

    #[test]
    fn a_changed_field_or_another_secret_is_forged() {
        let secret = Secret::new("bi-mat");
        for field in MAC_FIELDS {
            let mut v = confirmation("bi-mat", "00");
            let changed = format!("{}x", text_field(&v, field).unwrap());
            v[field] = json!(changed);
            let c = PaymentConfirmation::parse(v.to_string().as_bytes()).unwrap();
            assert!(
                matches!(c.verify(&secret), Err(PushError::Forged(_))),
                "{field}"
            );
        }
        let other = confirmation("khac", "00").to_string();
        let c = PaymentConfirmation::parse(other.as_bytes()).unwrap();
        assert!(c.verify(&secret).is_err());
    }

    #[test]
    fn a_failed_payment_is_not_paid_and_malformed_ones_name_the_field() {
        let c = PaymentConfirmation::parse(confirmation("s", "05").to_string().as_bytes()).unwrap();
        assert!(!c.paid());
        let mut v = confirmation("s", "00");
        v.as_object_mut().unwrap().remove("MaGiaoDich");
        assert_eq!(
            PaymentConfirmation::parse(v.to_string().as_bytes()).unwrap_err(),
            PushError::Malformed("MaGiaoDich: missing".into())
        );
        assert!(PaymentConfirmation::parse(b"[1]").is_err());
        assert!(PaymentConfirmation::parse(b"{").is_err());
        assert_eq!(
            PaymentSource.refused(&PushError::Forged("x".into()))["MaLoi"],
            "01"
        );
    }
}
