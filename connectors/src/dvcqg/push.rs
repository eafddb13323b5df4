//! What the national portal pushes to the province (`POST /v1/callbacks/dvcqg`):
//! `{SecurityKey, Service, IsUpdating, Data}`, authenticated by the shared `SecurityKey`
//! (compared in constant time), answered `{"error_code", "message"}` like the portal's own API.
//!
//! The observed pushes (format notes §1) are dossiers filed on the national portal for the
//! province, tax notices and payment receipts for a dossier. Their service names and `Data`
//! fields are not published; Lienthong's **provisional profile** is [`Service`]: the names below,
//! `Data.MaHoSo` always, and the date that makes a tax notice or receipt too old to take (a
//! replay): `NgayThongBao`, `NgayThanhToan` (`yyyyMMddHHmmss`). A dossier's files arrive inline
//! (`TaiLieuNop[].NoiDungTep`, base64), checked here.

use base64::Engine;
use lienthong_certs::{Secret, sha256_hex};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::push::{Authentication, Credential, PushError, PushSource, ReadPush, portal_time};

/// The national portal as a push source (`dvcqg`): listed in the gateway's `PUSH_SOURCES`.
#[derive(Debug, Clone, Copy)]
pub struct PortalSource;

/// `dvcqg.dossier`, `dvcqg.tax_notice`, `dvcqg.payment_receipt`: a push of the national portal,
/// its `Data` as pushed (only the `SecurityKey` is left out).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct PortalPushNotice {
    /// The portal's `Service`: `TiepNhanHoSo`, `ThongBaoThue` or `BienLaiThanhToan`.
    pub service: String,
    /// The portal's `IsUpdating`: a dossier the portal sent before, sent again changed.
    pub is_updating: bool,
    /// The portal's `Data` as pushed (docs/pushes.md lists its fields per service).
    pub data: Value,
}

impl PushSource for PortalSource {
    fn name(&self) -> &'static str {
        "dvcqg"
    }

    fn authentication(&self) -> Authentication {
        Authentication::SharedKey
    }

    fn read(&self, body: &[u8], credential: Credential<'_>) -> Result<ReadPush, PushError> {
        let key = credential.shared_key()?;
        // The key first: a stranger learns nothing of what else is wrong with the body.
        PortalPush::check_key(body, key)?;
        let push = PortalPush::parse(body)?;
        push.authenticate(key)?;
        let dated = match (push.dated()?, push.service.dated_by()) {
            (Some(at), Some(field)) => Some((format!("Data.{field}"), at)),
            _ => None,
        };
        let (event, dedupe_key) = (push.service.event(), push.dedupe_key());
        // `Data` may carry a dossier's files (up to `callbacks.max_body`): moved, not copied,
        // into the notice; the record is its one copy.
        let notice = PortalPushNotice {
            service: push.service.wire_name().to_owned(),
            is_updating: push.is_updating,
            data: push.data,
        };
        Ok(ReadPush {
            event,
            dedupe_key,
            dossier_code: push.dossier_code,
            dated,
            // The record keeps everything but the shared key.
            kept: json!({
                "Service": notice.service,
                "IsUpdating": notice.is_updating,
                "Data": notice.data,
            }),
            notice: serde_json::to_value(&notice)
                .map_err(|e| PushError::Malformed(format!("Data: {e}")))?,
            decision: None,
            signed_by: None,
        })
    }

    fn notices(&self) -> Vec<(&'static str, schemars::Schema)> {
        Service::ALL
            .iter()
            .map(|s| (s.event(), schemars::schema_for!(PortalPushNotice)))
            .collect()
    }

    /// The portal's answer: taken.
    fn accepted(&self) -> Value {
        json!({ "error_code": 0, "message": "Thành công" })
    }

    /// The portal's answer to a refused push: `error_code` 1 malformed, 2 authentication, 3 stale.
    fn refused(&self, e: &PushError) -> Value {
        let code = match e {
            PushError::Malformed(_) => 1,
            PushError::Forged(_) => 2,
            PushError::Stale(_) => 3,
            PushError::UnknownDossier(_) => 4,
            PushError::NotApplicable(_) => 5,
        };
        json!({ "error_code": code, "message": e.to_string() })
    }

    /// The portal's answer when the province cannot take it now (store unavailable): retry.
    fn unavailable(&self) -> Value {
        json!({ "error_code": 99, "message": "Hệ thống tạm thời không tiếp nhận được, vui lòng gửi lại" })
    }
}

/// What a push carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `TiepNhanHoSo`: a dossier filed on the national portal, to be handled by the province.
    Dossier,
    /// `ThongBaoThue`: the tax authority's notice of what the applicant owes.
    TaxNotice,
    /// `BienLaiThanhToan`: a receipt for a payment made on the portal.
    PaymentReceipt,
}

impl Service {
    /// Every service, for parsing.
    pub const ALL: [Self; 3] = [Self::Dossier, Self::TaxNotice, Self::PaymentReceipt];

    /// The `Service` value of the push.
    pub const fn wire_name(self) -> &'static str {
        match self {
            Self::Dossier => "TiepNhanHoSo",
            Self::TaxNotice => "ThongBaoThue",
            Self::PaymentReceipt => "BienLaiThanhToan",
        }
    }

    /// The event the center is told (`dvcqg.dossier`, `dvcqg.tax_notice`,
    /// `dvcqg.payment_receipt`).
    pub const fn event(self) -> &'static str {
        match self {
            Self::Dossier => "dvcqg.dossier",
            Self::TaxNotice => "dvcqg.tax_notice",
            Self::PaymentReceipt => "dvcqg.payment_receipt",
        }
    }

    /// The `Data` field dating the push, for the replay window (none for dossiers: a dossier
    /// filed long ago can be pushed again with changes).
    pub const fn dated_by(self) -> Option<&'static str> {
        match self {
            Self::Dossier => None,
            Self::TaxNotice => Some("NgayThongBao"),
            Self::PaymentReceipt => Some("NgayThanhToan"),
        }
    }
}

/// A push from the portal, read and checked for shape (not yet authenticated).
#[derive(Debug, Clone)]
pub struct PortalPush {
    security_key: String,
    /// What it carries.
    pub service: Service,
    /// `IsUpdating`: a dossier pushed again with changes.
    pub is_updating: bool,
    /// `Data`, as pushed.
    pub data: Value,
    /// `Data.MaHoSo`.
    pub dossier_code: String,
}

impl PortalPush {
    /// Reads a push.
    ///
    /// Errors: not JSON, unknown `Service`, a required field missing, a file that is not base64
    /// (each named).
    pub fn parse(body: &[u8]) -> Result<Self, PushError> {
        let malformed = |m: &str| PushError::Malformed(m.to_owned());
        let mut v: Value = serde_json::from_slice(body)
            .map_err(|e| PushError::Malformed(format!("not JSON: {e}")))?;
        let security_key = v["SecurityKey"]
            .as_str()
            .ok_or_else(|| malformed("SecurityKey is missing"))?
            .to_owned();
        let name = v["Service"]
            .as_str()
            .ok_or_else(|| malformed("Service: missing"))?;
        let service = Service::ALL
            .into_iter()
            .find(|s| s.wire_name() == name)
            .ok_or_else(|| {
                PushError::Malformed(format!(
                    "Service: `{name}` is not one of {}",
                    Service::ALL.map(Service::wire_name).join(", ")
                ))
            })?;
        let is_updating = match &v["IsUpdating"] {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::String(s) if s.eq_ignore_ascii_case("true") => true,
            Value::String(s) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err(malformed("IsUpdating: must be true or false")),
        };
        let data = v["Data"].take();
        if !data.is_object() {
            return Err(malformed("Data: missing or not an object"));
        }
        let dossier_code = data["MaHoSo"]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| malformed("Data.MaHoSo: missing"))?
            .to_owned();
        let push = Self {
            security_key,
            service,
            is_updating,
            data,
            dossier_code,
        };
        if let Some(field) = service.dated_by() {
            push.at(field)?;
        }
        if service == Service::Dossier {
            push.check_dossier()?;
        }
        Ok(push)
    }

    fn at(&self, field: &str) -> Result<OffsetDateTime, PushError> {
        let text = self.data[field]
            .as_str()
            .ok_or_else(|| PushError::Malformed(format!("Data.{field}: missing")))?;
        portal_time(&format!("Data.{field}"), text)
    }

    /// When the tax notice or receipt was issued (`None` for dossiers).
    ///
    /// Errors: the date is missing or unreadable.
    pub fn dated(&self) -> Result<Option<OffsetDateTime>, PushError> {
        self.service.dated_by().map(|f| self.at(f)).transpose()
    }

    fn check_dossier(&self) -> Result<(), PushError> {
        if self.data["MaTTHC"].as_str().is_none_or(str::is_empty) {
            return Err(PushError::Malformed("Data.MaTTHC: missing".into()));
        }
        let files = match &self.data["TaiLieuNop"] {
            Value::Null => return Ok(()),
            Value::Array(files) => files,
            _ => return Err(PushError::Malformed("Data.TaiLieuNop: not a list".into())),
        };
        for (i, f) in files.iter().enumerate() {
            if let Some(content) = f.get("NoiDungTep") {
                // Line breaks and spaces are allowed (Java's MIME encoder writes 76-character
                // lines); what is left must be standard, padded base64.
                let ok = content.as_str().is_some_and(|c| {
                    let compact: Vec<u8> = c.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .is_ok()
                });
                if !ok {
                    return Err(PushError::Malformed(format!(
                        "Data.TaiLieuNop[{i}].NoiDungTep: not base64"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks the `SecurityKey` of a push's body before anything else of it is read: a body
    /// that is not JSON, or has no `SecurityKey`, or another one, is refused as not
    /// authenticated (401), not as malformed (the parse detail is for those who hold the key).
    ///
    /// Errors: [`PushError::Forged`].
    pub fn check_key(body: &[u8], key: &Secret) -> Result<(), PushError> {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return Err(PushError::Forged(
                "no SecurityKey could be read (the body is not JSON)".into(),
            ));
        };
        match v.get("SecurityKey").and_then(Value::as_str) {
            None => Err(PushError::Forged("SecurityKey is missing".into())),
            Some(presented) if key.matches(presented) => Ok(()),
            Some(_) => Err(PushError::Forged("SecurityKey is not valid".into())),
        }
    }

    /// Checks `SecurityKey` against the configured key, in constant time.
    ///
    /// Errors: [`PushError::Forged`].
    pub fn authenticate(&self, key: &Secret) -> Result<(), PushError> {
        if key.matches(&self.security_key) {
            Ok(())
        } else {
            Err(PushError::Forged("SecurityKey is not valid".into()))
        }
    }

    /// The dedupe key: service, dossier and the digest of `Data` (a push repeated as it was is
    /// one push; a changed one is new).
    pub fn dedupe_key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.service.wire_name(),
            self.dossier_code,
            sha256_hex(self.data.to_string().as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(service: &str, data: Value) -> Vec<u8> {
        json!({ "SecurityKey": "khoa-chung", "Service": service, "IsUpdating": "False", "Data": data })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn the_three_services_are_read() {
        let d = PortalPush::parse(&push(
            "TiepNhanHoSo",
            json!({ "MaHoSo": "G22.99-261130-0001", "MaTTHC": "1.001612",
                    "TaiLieuNop": [{ "TenTepDinhKem": "a.pdf", "NoiDungTep": "JVBERi0=" }] }),
        ))
        .unwrap();
        assert_eq!(d.service, Service::Dossier);
        assert_eq!(d.dossier_code, "G22.99-261130-0001");
        // Base64 in MIME lines (a Java sender's default) is taken as well.
        let wrapped = "JVBERi0xLjQK\r\nJVBERi0xLjQK\nJVBE Ri0=";
        assert!(
            PortalPush::parse(&push(
                "TiepNhanHoSo",
                json!({ "MaHoSo": "X", "MaTTHC": "1", "TaiLieuNop": [{ "NoiDungTep": wrapped }] }),
            ))
            .is_ok()
        );
        assert!(!d.is_updating);
        assert_eq!(d.dated().unwrap(), None);
        d.authenticate(&Secret::new("khoa-chung")).unwrap();
        assert!(matches!(
            d.authenticate(&Secret::new("khoa-khac")),
            Err(PushError::Forged(_))
        ));

        let t = PortalPush::parse(&push(
            "ThongBaoThue",
            json!({ "MaHoSo": "X-1", "NgayThongBao": "20261130080000", "SoTien": 120000 }),
        ))
        .unwrap();
        assert_eq!(t.service.event(), "dvcqg.tax_notice");
        assert_eq!(t.dated().unwrap().map(|d| d.hour()), Some(8));

        let r = PortalPush::parse(&push(
            "BienLaiThanhToan",
            json!({ "MaHoSo": "X-1", "NgayThanhToan": "20261130081500", "SoBienLai": "BL-1" }),
        ))
        .unwrap();
        assert_eq!(r.service, Service::PaymentReceipt);
        assert_ne!(r.dedupe_key(), t.dedupe_key());
        assert_eq!(
            r.dedupe_key(),
            PortalPush::parse(&push(
                "BienLaiThanhToan",
                json!({ "MaHoSo": "X-1", "NgayThanhToan": "20261130081500", "SoBienLai": "BL-1" }),
            ))
            .unwrap()
            .dedupe_key()
        );
    }

    #[test]
    fn malformed_pushes_name_what_is_wrong() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not json".to_vec(), "not JSON"),
            (
                push("XoaHoSo", json!({ "MaHoSo": "X" })),
                "Service: `XoaHoSo`",
            ),
            (push("ThongBaoThue", json!({ "SoTien": 1 })), "Data.MaHoSo"),
            (
                push(
                    "ThongBaoThue",
                    json!({ "MaHoSo": "X", "NgayThongBao": "30/11/2026" }),
                ),
                "Data.NgayThongBao",
            ),
            (
                push("TiepNhanHoSo", json!({ "MaHoSo": "X" })),
                "Data.MaTTHC",
            ),
            (
                push(
                    "TiepNhanHoSo",
                    json!({ "MaHoSo": "X", "MaTTHC": "1", "TaiLieuNop": [{ "NoiDungTep": "%%%" }] }),
                ),
                "TaiLieuNop[0].NoiDungTep",
            ),
            (
                json!({ "Service": "ThongBaoThue", "Data": {} })
                    .to_string()
                    .into_bytes(),
                "SecurityKey",
            ),
        ];
        for (body, expect) in cases {
            let e = PortalPush::parse(&body).unwrap_err();
            assert!(matches!(e, PushError::Malformed(_)), "{e}");
            assert!(e.to_string().contains(expect), "{e} lacks {expect}");
            assert_eq!(PortalSource.refused(&e)["error_code"], 1);
        }
    }
}
