//! The national systems that push to the province, as HTTP clients: the payment platform
//! (confirmations with their `MaXacThuc`) and the national portal (pushes with `SecurityKey`).
//! Tests and the demo post what these build to `POST /v1/callbacks/{source}`.

use serde_json::{Value, json};
use time::OffsetDateTime;

/// The payment platform's hash key in tests and the demo.
pub const PAYMENT_SECRET: &str = "khoa-bi-mat-thanh-toan";
/// DVCQG's `SecurityKey` in tests and the demo.
pub const DVCQG_KEY: &str = "khoa-chung-dvcqg";

/// `yyyyMMddHHmmss` in Vietnam time.
pub fn portal_time(at: OffsetDateTime) -> String {
    let vn = at.to_offset(time::macros::offset!(+7));
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        vn.year(),
        u8::from(vn.month()),
        vn.day(),
        vn.hour(),
        vn.minute(),
        vn.second()
    )
}

/// A payment confirmation for `dossier`, transaction `transaction`, at `at`, with `ma_loi`
/// ("00" paid), authenticated with `secret`.
pub fn payment_confirmation(
    dossier: &str,
    transaction: &str,
    amount: u64,
    ma_loi: &str,
    at: OffsetDateTime,
    secret: &str,
) -> Value {
    let mut v = json!({
        "LoaiBanTin": "THANHTOAN",
        "MaLoi": ma_loi,
        "MaDoiTac": "NINHBINH",
        "MaThamChieu": dossier,
        "SoTien": amount,
        "MaTienTe": "VND",
        "MaGiaoDich": transaction,
        "MaNganHang": "970436",
        "ThoiGianGD": portal_time(at),
        "ThongTinGiaoDich": "Nộp lệ phí hồ sơ",
    });
    v["MaXacThuc"] = json!(payment_mac(&v, secret));
    v
}

/// `MaXacThuc` of a confirmation's fields under `secret`, computed here from the format notes
/// (§3), independently of the gateway's code: lowercase hex SHA-256 of the fields joined by `|`
/// in this order, the secret last.
pub fn payment_mac(confirmation: &Value, secret: &str) -> String {
    const ORDER: [&str; 10] = [
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
    let mut parts: Vec<String> = ORDER
        .iter()
        .map(|f| match &confirmation[*f] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
        .collect();
    parts.push(secret.to_owned());
    lienthong_certs::sha256_hex(parts.join("|").as_bytes())
}

/// A DVCQG push of `service` with `data`, under `key`.
pub fn portal_push(service: &str, data: Value, key: &str) -> Value {
    json!({ "SecurityKey": key, "Service": service, "IsUpdating": false, "Data": data })
}

/// A tax notice for `dossier` issued at `at`.
pub fn tax_notice(dossier: &str, at: OffsetDateTime, key: &str) -> Value {
    portal_push(
        "ThongBaoThue",
        json!({ "MaHoSo": dossier, "SoThongBao": "TB-2026-001234", "NgayThongBao": portal_time(at),
                "SoTien": 1500000, "NoiDung": "Thuế thu nhập cá nhân khi chuyển nhượng" }),
        key,
    )
}

/// A dossier filed on the national portal, with one file (`content`, base64-encoded here).
pub fn portal_dossier(dossier: &str, content: &[u8], key: &str) -> Value {
    use base64::Engine;
    portal_push(
        "TiepNhanHoSo",
        json!({
            "MaHoSo": dossier, "MaTTHC": "1.001612", "TenTTHC": "Đăng ký thành lập công ty TNHH",
            "ChuHoSo": "Phạm Thị Lan", "KenhThucHien": 2, "NgayNopHoSo": "20261130080000",
            "TaiLieuNop": [{ "TepDinhKemId": "f1", "TenTepDinhKem": "don-de-nghi.pdf",
                             "NoiDungTep": base64::engine::general_purpose::STANDARD.encode(content) }],
        }),
        key,
    )
}
