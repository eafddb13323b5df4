//! The canonical dossier model (hồ sơ thủ tục hành chính) that the center's one-stop software sends.
//!
//! Every portal format is a translation of these types (see [`crate::engine`]). Parsing goes
//! through [`Dossier::from_json`] / [`StatusEvent::from_json`], which name the failing field
//! (`applicant.identity.number: required`) instead of returning serde's first error only, and
//! then run the semantic checks of [`Validate`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::validation::{FieldError, ValidationErrors, Validator};

pub use crate::validation::MAX_CODE_LEN;

/// The time zone of every Vietnamese portal and of the dates in the model: UTC+07:00, no daylight saving.
pub const VIETNAM_OFFSET: time::UtcOffset = match time::UtcOffset::from_hms(7, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("+07:00 is a valid offset"),
};

/// A dossier as the center submits it: one administrative-procedure case of one applicant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dossier {
    /// Dossier code (MaHoSo), unique across the center, e.g. `000.02.01.H37-261128-0001`.
    pub code: String,
    /// The administrative procedure (thủ tục hành chính) the dossier is filed under.
    pub procedure: Procedure,
    /// The agency that handles the dossier (cơ quan giải quyết), by its identifier (mã định danh).
    pub agency: Agency,
    /// Administrative level that handles the dossier.
    pub level: Level,
    /// How the dossier was filed.
    pub channel: Channel,
    /// Who filed it (chủ hồ sơ).
    pub applicant: Applicant,
    /// Summary (trích yếu hồ sơ).
    pub summary: String,
    /// When the applicant submitted it (ngày nộp), with its UTC offset.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub submitted_at: Option<OffsetDateTime>,
    /// When the center received it (ngày tiếp nhận).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub received_at: OffsetDateTime,
    /// Promised return date (ngày hẹn trả).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub due_at: Option<OffsetDateTime>,
    /// When processing finished (ngày kết thúc xử lý), once it has.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub finished_at: Option<OffsetDateTime>,
    /// When the result was returned (ngày trả), once it has been.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub returned_at: Option<OffsetDateTime>,
    /// When the dossier was refused (ngày từ chối), if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub rejected_at: Option<OffsetDateTime>,
    /// How the result goes back to the applicant.
    #[serde(default)]
    pub return_method: Option<ReturnMethod>,
    /// Current status.
    pub status: DossierStatus,
    /// Documents filed (thành phần hồ sơ), passed by link.
    #[serde(default)]
    pub documents: Vec<Document>,
    /// Fees and charges (phí, lệ phí).
    #[serde(default)]
    pub fees: Vec<Fee>,
    /// Enterprise-registration data, for business-registration procedures.
    #[serde(default)]
    pub business: Option<Business>,
    /// Investment-registration data, for investment procedures.
    #[serde(default)]
    pub investment: Option<Investment>,
    /// Result documents (giấy tờ kết quả).
    #[serde(default)]
    pub results: Vec<ResultDocument>,
    /// Supplement requests (yêu cầu bổ sung hồ sơ).
    #[serde(default)]
    pub supplements: Vec<Supplement>,
    /// Explicit routing; when present it replaces the configured routing rules.
    #[serde(default)]
    pub routing: Option<Routing>,
    /// Free key/values that a mapping file may use.
    #[serde(default)]
    pub extra: Map<String, Value>,
}

/// An administrative procedure (thủ tục hành chính).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    /// National procedure code (mã TTHC), e.g. `1.001612` or `1.003560.000.00.00.H56`.
    pub code: String,
    /// Procedure name.
    pub name: String,
    /// Field code (mã lĩnh vực).
    #[serde(default)]
    pub field_code: Option<String>,
    /// Field name (tên lĩnh vực).
    #[serde(default)]
    pub field_name: Option<String>,
}

/// An agency, by identifier (mã định danh, `LLL.LL.LL.Xnn`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agency {
    /// Agency identifier (mã định danh).
    pub code: String,
    /// Agency name.
    pub name: String,
}

/// Administrative level (cấp) handling a dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Province (cấp tỉnh).
    Province,
    /// District (cấp huyện; abolished on 1 July 2025, still found in older data).
    District,
    /// Commune or ward (cấp xã).
    Commune,
}

/// Filing channel (kênh thực hiện).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// At the counter (trực tiếp).
    Counter,
    /// Online (trực tuyến).
    Online,
    /// Through the public postal service (bưu chính công ích).
    Post,
}

/// How the result returns to the applicant (hình thức nhận kết quả).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnMethod {
    /// Collected in person.
    InPerson,
    /// Sent by post.
    Post,
    /// Returned online.
    Online,
}

/// Canonical dossier status; each portal maps it through a code table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DossierStatus {
    /// Newly registered online, not yet accepted (mới đăng ký).
    Registered,
    /// Accepted (đã tiếp nhận).
    Accepted,
    /// Not accepted at intake (từ chối tiếp nhận).
    Rejected,
    /// Being processed (đang xử lý).
    Processing,
    /// Supplement requested (yêu cầu bổ sung).
    SupplementRequested,
    /// Financial obligation requested (yêu cầu thực hiện nghĩa vụ tài chính).
    PaymentRequested,
    /// Withdrawn by the applicant (công dân rút hồ sơ).
    Withdrawn,
    /// Processing stopped (dừng xử lý).
    Stopped,
    /// Processing finished (đã xử lý xong).
    Processed,
    /// Result returned (đã trả kết quả).
    Returned,
}

impl DossierStatus {
    /// The snake_case name used on the wire and in the store.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Processing => "processing",
            Self::SupplementRequested => "supplement_requested",
            Self::PaymentRequested => "payment_requested",
            Self::Withdrawn => "withdrawn",
            Self::Stopped => "stopped",
            Self::Processed => "processed",
            Self::Returned => "returned",
        }
    }

    /// Parses the snake_case name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(Value::String(name.to_owned())).ok()
    }

    /// A status after which the dossier's life is over: no event may follow it.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Rejected | Self::Withdrawn | Self::Returned)
    }

    /// Whether a status event may move a dossier from `self` to `next`.
    ///
    /// Final statuses accept nothing; `registered` can only be a dossier's first status.
    pub const fn allows(self, next: Self) -> bool {
        !self.is_final() && !matches!(next, Self::Registered)
    }
}

/// The applicant (chủ hồ sơ): a citizen, a business or an organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Applicant {
    /// What kind of applicant this is (loại đối tượng).
    pub kind: ApplicantKind,
    /// Full name, or the business name.
    pub name: String,
    /// Identity document.
    pub identity: Identity,
    /// Postal address.
    #[serde(default)]
    pub address: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Account on the national portal (for online dossiers).
    #[serde(default)]
    pub portal_account: Option<String>,
}

/// Applicant kind (loại đối tượng).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicantKind {
    /// A citizen (công dân).
    Citizen,
    /// A business (doanh nghiệp).
    Business,
    /// A state agency (cơ quan nhà nước).
    Agency,
    /// Another organisation (tổ chức khác).
    Organisation,
}

/// An identity document: kind (`cccd`, `cmnd`, `passport`, `tax_code`, `foreign_registration`…) and number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Kind of document; mapped by each portal's `identity_kind` code table.
    pub kind: String,
    /// Document number (số định danh).
    pub number: String,
}

/// A filed document (thành phần hồ sơ), passed by link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Document id in the center's system.
    pub id: String,
    /// Title.
    pub title: String,
    /// Dossier component code (mã thành phần hồ sơ).
    #[serde(default)]
    pub component_code: Option<String>,
    /// Media type, e.g. `application/pdf`.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// Lowercase hex SHA-256 of the content.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Download URL.
    pub url: String,
}

/// A fee or charge (phí, lệ phí).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    /// Fee code.
    pub code: String,
    /// Fee name.
    pub name: String,
    /// Amount in VND (integer).
    pub amount: u64,
    /// Whether this is a charge (lệ phí) or a fee (phí); defaults per mapping.
    #[serde(default)]
    pub kind: Option<FeeKind>,
    /// How it is paid: `counter`, `online`, `post`…
    #[serde(default)]
    pub method: Option<String>,
    /// When it was paid.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub paid_at: Option<OffsetDateTime>,
}

/// Fee (phí) or charge (lệ phí).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeeKind {
    /// Phí.
    Fee,
    /// Lệ phí.
    Charge,
}

/// A result document (giấy tờ kết quả).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultDocument {
    /// Result id in the center's system.
    pub id: String,
    /// Title.
    pub title: String,
    /// Dossier component code.
    #[serde(default)]
    pub component_code: Option<String>,
    /// Number or code of the issued document (số/ký hiệu).
    #[serde(default)]
    pub number: Option<String>,
    /// Download URL.
    #[serde(default)]
    pub url: Option<String>,
}

/// A supplement request (yêu cầu bổ sung hồ sơ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Supplement {
    /// Supplement id.
    pub id: String,
    /// Who asked for it.
    #[serde(default)]
    pub requested_by: Option<String>,
    /// What is asked for.
    pub content: String,
    /// When it was asked.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub requested_at: OffsetDateTime,
    /// Who received the supplement.
    #[serde(default)]
    pub received_by: Option<String>,
    /// When the supplement was received.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub received_at: Option<OffsetDateTime>,
    /// State of the request: `requested`, `received`…
    #[serde(default)]
    pub state: Option<String>,
    /// The due date before the request.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub previous_due_at: Option<OffsetDateTime>,
    /// The due date after the supplement.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub new_due_at: Option<OffsetDateTime>,
}

/// Explicit routing of one dossier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Destination names, as configured under `[destinations.*]`.
    pub destinations: Vec<String>,
    /// The peer center for an inter-level (liên thông) dossier.
    #[serde(default)]
    pub peer: Option<String>,
}

/// Enterprise-registration data (đăng ký doanh nghiệp).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Business {
    /// Enterprise name in Vietnamese.
    pub name: String,
    /// Name in a foreign language.
    #[serde(default)]
    pub foreign_name: Option<String>,
    /// Abbreviated name.
    #[serde(default)]
    pub short_name: Option<String>,
    /// Enterprise type, e.g. `llc_multi_member`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Enterprise code (mã số doanh nghiệp) once registered.
    #[serde(default)]
    pub enterprise_code: Option<String>,
    /// Charter capital in VND.
    #[serde(default)]
    pub charter_capital: Option<u64>,
    /// Head office.
    #[serde(default)]
    pub head_office: Option<Place>,
    /// Business lines (ngành nghề kinh doanh).
    #[serde(default)]
    pub business_lines: Vec<BusinessLine>,
    /// Legal representatives.
    #[serde(default)]
    pub legal_representatives: Vec<Person>,
    /// Members or shareholders.
    #[serde(default)]
    pub members: Vec<Member>,
}

/// An address with administrative-unit codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// Street address.
    pub address: String,
    /// Ward or commune code (statistics office).
    #[serde(default)]
    pub ward_code: Option<String>,
    /// Ward or commune name.
    #[serde(default)]
    pub ward_name: Option<String>,
    /// Province code.
    #[serde(default)]
    pub province_code: Option<String>,
    /// Province name.
    #[serde(default)]
    pub province_name: Option<String>,
}

/// A business line (VSIC code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessLine {
    /// VSIC code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Whether it is the main line.
    #[serde(default)]
    pub main: bool,
}

/// A natural person with an identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// Full name.
    pub name: String,
    /// Title or position.
    #[serde(default)]
    pub title: Option<String>,
    /// Identity document.
    pub identity: Identity,
    /// Nationality (ISO 3166 alpha-2).
    #[serde(default)]
    pub nationality: Option<String>,
}

/// A member or shareholder with its capital.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Name.
    pub name: String,
    /// Identity document.
    pub identity: Identity,
    /// Contributed capital in VND.
    #[serde(default)]
    pub capital: Option<u64>,
    /// Share of the charter capital, in percent.
    #[serde(default)]
    pub ratio_percent: Option<f64>,
}

/// Investment-registration data (đăng ký đầu tư).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Investment {
    /// Project name.
    pub project_name: String,
    /// Investors.
    #[serde(default)]
    pub investors: Vec<Investor>,
    /// Project location.
    #[serde(default)]
    pub location: Option<Place>,
    /// Objectives.
    #[serde(default)]
    pub objectives: Vec<String>,
    /// Total capital in VND.
    #[serde(default)]
    pub total_capital: Option<u64>,
    /// Contributed capital in VND.
    #[serde(default)]
    pub contributed_capital: Option<u64>,
    /// Land area in square metres.
    #[serde(default)]
    pub land_area_m2: Option<f64>,
    /// Schedule.
    #[serde(default)]
    pub schedule: Option<Map<String, Value>>,
    /// Project code (mã số dự án) once issued.
    #[serde(default)]
    pub project_code: Option<String>,
}

/// An investor of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Investor {
    /// `citizen` or `organisation`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Nationality (ISO 3166 alpha-2).
    #[serde(default)]
    pub nationality: Option<String>,
    /// Identity document.
    pub identity: Identity,
    /// Capital in VND.
    #[serde(default)]
    pub capital: Option<u64>,
    /// Share in percent.
    #[serde(default)]
    pub ratio_percent: Option<f64>,
}

/// A status event from the center (`POST /v1/dossiers/{code}/events`): one processing step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusEvent {
    /// Event id, unique per dossier; a repeat with the same id is deduplicated.
    pub id: String,
    /// When the step happened.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub at: OffsetDateTime,
    /// The dossier's status after the step.
    pub status: DossierStatus,
    /// Who did it.
    pub actor: Actor,
    /// What was done (nội dung xử lý).
    #[serde(default)]
    pub note: Option<String>,
    /// A new due date set by the step.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub due_at: Option<OffsetDateTime>,
    /// For a dossier exchanged with another center (liên thông): what the step means to that
    /// center beyond the status, sent as its own edXML status code (13, 15, 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<ExchangeAction>,
}

/// An inter-level exchange action carried by a status event (edXML `StatusCode` 13, 15, 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeAction {
    /// The sending center asks for the dossier back (thu hồi, 13).
    TakeBack,
    /// A requested change of the dossier is accepted (đồng ý cập nhật, 15).
    ChangeAccepted,
    /// A requested change of the dossier is refused (từ chối cập nhật, 16).
    ChangeRejected,
}

impl ExchangeAction {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TakeBack => "take_back",
            Self::ChangeAccepted => "change_accepted",
            Self::ChangeRejected => "change_rejected",
        }
    }
}

/// The official who did a processing step (người xử lý).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Full name.
    pub name: String,
    /// Title (chức danh).
    #[serde(default)]
    pub title: Option<String>,
    /// Unit (phòng ban).
    #[serde(default)]
    pub unit: Option<String>,
}

/// What a progress mapping renders from: one status event of one dossier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressInput {
    /// The dossier code (MaHoSo).
    pub dossier_code: String,
    /// The event.
    pub event: StatusEvent,
    /// For a dossier received from another center: the edXML `DocumentId` it came in, which
    /// status messages about it answer (`ResponseFor/DocumentId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_for: Option<String>,
    /// What a report of the step needs to know about the dossier beyond its code (the national
    /// e-monitoring system wants the procedure and the channel with every step); filled by the
    /// gateway from the stored dossier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dossier: Option<Box<DossierContext>>,
}

/// The parts of a dossier that go with each report of one of its processing steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DossierContext {
    /// The procedure.
    pub procedure: Procedure,
    /// The handling agency.
    pub agency: Agency,
    /// The handling level.
    pub level: Level,
    /// How it was filed.
    pub channel: Channel,
    /// How its fees are paid: `none` without fees, `online` when any is paid online, else
    /// `counter`.
    pub payment: PaymentChannel,
    /// The dossier's free key/values (a mapping may read e.g. the online-service level).
    #[serde(default)]
    pub extra: Map<String, Value>,
}

/// How a dossier's fees are paid, as monitoring reports count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentChannel {
    /// No fee.
    None,
    /// Paid online (the payment platform).
    Online,
    /// Paid at the counter (or by post).
    Counter,
}

impl DossierContext {
    /// The context of `dossier`.
    pub fn of(dossier: &Dossier) -> Self {
        let payment = if dossier.fees.is_empty() {
            PaymentChannel::None
        } else if dossier
            .fees
            .iter()
            .any(|f| f.method.as_deref() == Some("online"))
        {
            PaymentChannel::Online
        } else {
            PaymentChannel::Counter
        };
        Self {
            procedure: dossier.procedure.clone(),
            agency: dossier.agency.clone(),
            level: dossier.level,
            channel: dossier.channel,
            payment,
            extra: dossier.extra.clone(),
        }
    }
}

/// What an inter-level exchange mapping (edXML, liên thông) renders from: the dossier, or one
/// status event of it, with the envelope the peer connector fills in from its configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeInput {
    /// The sending center (From).
    pub from: Agency,
    /// The receiving centers (To).
    pub to: Vec<Agency>,
    /// edXML `DocumentId`: `{OrganId},{yyyy/MM/dd},{CodeNumber}/{CodeNotation}`.
    pub document_id: String,
    /// `Code/CodeNumber`.
    pub code_number: String,
    /// `Code/CodeNotation`.
    pub code_notation: String,
    /// When the message is sent.
    #[schemars(with = "String", extend("format" = "date-time"))]
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    /// `BussinessDocType`: 0 new, 1 revoke, 2 update, 3 replace.
    pub business_doc_type: u8,
    /// Hops so far, oldest first (`TraceHeaderList`).
    pub trace: Vec<TraceHop>,
    /// The dossier (for dossier messages).
    #[serde(default)]
    pub dossier: Option<Dossier>,
    /// The status event (for status messages), with the code of the dossier it is about.
    #[serde(default)]
    pub status: Option<ProgressInput>,
    /// The dossier's files, carried in `AttachmentEncoded`.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A file carried inside an edXML message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// `ContentId`, matching the manifest's `Reference/ContentId`.
    pub content_id: String,
    /// Media type.
    pub content_type: String,
    /// File name.
    pub name: String,
    /// Description (the document's title).
    pub description: String,
    /// The content, base64.
    pub content: String,
}

impl ExchangeInput {
    /// A new message from `from` to `to`, sent `now`: `DocumentId`
    /// `{from},{yyyy/MM/dd},{number}/{notation}` (date in Vietnam time), a single trace hop at
    /// the sender, BussinessDocType 0, no dossier, status or attachments yet.
    pub fn envelope(
        from: Agency,
        to: Agency,
        number: &str,
        notation: &str,
        now: OffsetDateTime,
    ) -> Self {
        let vn = now.to_offset(VIETNAM_OFFSET);
        let date = format!(
            "{:04}/{:02}/{:02}",
            vn.year(),
            u8::from(vn.month()),
            vn.day()
        );
        Self {
            document_id: format!("{},{date},{number}/{notation}", from.code),
            code_number: number.to_string(),
            code_notation: notation.to_string(),
            sent_at: now,
            business_doc_type: 0,
            trace: vec![TraceHop {
                organ_id: from.code.clone(),
                at: now,
            }],
            from,
            to: vec![to],
            dossier: None,
            status: None,
            attachments: Vec::new(),
        }
    }
}

/// One hop of an exchanged message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceHop {
    /// Agency code (mã định danh) of the hop.
    pub organ_id: String,
    /// When the message passed it.
    #[schemars(with = "String", extend("format" = "date-time"))]
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// Semantic checks beyond the JSON shape.
pub trait Validate {
    /// Pushes every problem found into `v`, with paths relative to the value.
    fn validate(&self, v: &mut Validator);
}

impl Dossier {
    /// Parses and validates a dossier, naming every failing field.
    ///
    /// Errors: the JSON shape is wrong (missing or unknown field, wrong type, unknown status), or a
    /// semantic check failed (empty code, bad hash, due date before reception…).
    pub fn from_json(value: Value) -> Result<Self, ValidationErrors> {
        parse_validated(value)
    }
}

impl StatusEvent {
    /// Parses and validates a status event, naming every failing field.
    ///
    /// Errors: as for [`Dossier::from_json`].
    pub fn from_json(value: Value) -> Result<Self, ValidationErrors> {
        parse_validated(value)
    }
}

fn parse_validated<T: serde::de::DeserializeOwned + Validate>(
    value: Value,
) -> Result<T, ValidationErrors> {
    let parsed: T = serde_path_to_error::deserialize(value)
        .map_err(|e| ValidationErrors::from(vec![FieldError::from_serde(&e)]))?;
    let mut v = Validator::default();
    parsed.validate(&mut v);
    v.finish()?;
    Ok(parsed)
}

impl Validate for Dossier {
    fn validate(&self, v: &mut Validator) {
        v.code("code", &self.code);
        v.non_empty("procedure.code", &self.procedure.code);
        v.non_empty("procedure.name", &self.procedure.name);
        v.non_empty("agency.code", &self.agency.code);
        v.non_empty("agency.name", &self.agency.name);
        v.non_empty("applicant.name", &self.applicant.name);
        v.non_empty("applicant.identity.kind", &self.applicant.identity.kind);
        v.non_empty("applicant.identity.number", &self.applicant.identity.number);
        if let Some(email) = &self.applicant.email {
            v.email("applicant.email", email);
        }
        v.non_empty("summary", &self.summary);
        if let Some(due) = self.due_at
            && due < self.received_at
        {
            v.push("due_at", "must not be before received_at");
        }
        for (i, d) in self.documents.iter().enumerate() {
            v.non_empty(&format!("documents[{i}].id"), &d.id);
            v.non_empty(&format!("documents[{i}].title"), &d.title);
            v.url(&format!("documents[{i}].url"), &d.url);
            if let Some(h) = &d.sha256 {
                v.sha256(&format!("documents[{i}].sha256"), h);
            }
        }
        for (i, f) in self.fees.iter().enumerate() {
            v.non_empty(&format!("fees[{i}].code"), &f.code);
            v.non_empty(&format!("fees[{i}].name"), &f.name);
        }
        for (i, r) in self.results.iter().enumerate() {
            v.non_empty(&format!("results[{i}].id"), &r.id);
            if let Some(url) = &r.url {
                v.url(&format!("results[{i}].url"), url);
            }
        }
        for (i, s) in self.supplements.iter().enumerate() {
            v.non_empty(&format!("supplements[{i}].id"), &s.id);
            v.non_empty(&format!("supplements[{i}].content"), &s.content);
        }
        if let Some(routing) = &self.routing {
            for (i, d) in routing.destinations.iter().enumerate() {
                v.non_empty(&format!("routing.destinations[{i}]"), d);
            }
        }
    }
}

impl Validate for StatusEvent {
    fn validate(&self, v: &mut Validator) {
        v.code("id", &self.id);
        v.non_empty("actor.name", &self.actor.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn example() -> Value {
        serde_json::from_str(include_str!(
            "../../examples/dossier-business-registration.json"
        ))
        .expect("example parses")
    }

    #[test]
    fn example_dossiers_parse() {
        for text in [
            include_str!("../../examples/dossier-business-registration.json"),
            include_str!("../../examples/dossier-investment.json"),
            include_str!("../../examples/dossier-civil-status-interlevel.json"),
        ] {
            let value: Value = serde_json::from_str(text).expect("json");
            let d = Dossier::from_json(value).expect("valid example");
            assert!(!d.code.is_empty());
        }
    }

    #[test]
    fn missing_nested_field_is_named() {
        let mut v = example();
        v["applicant"]["identity"]
            .as_object_mut()
            .expect("object")
            .remove("number");
        let err = Dossier::from_json(v).expect_err("must fail");
        assert_eq!(err.to_string(), "applicant.identity.number: required");
    }

    #[test]
    fn unknown_status_is_named() {
        let mut v = example();
        v["status"] = json!("lost");
        let err = Dossier::from_json(v).expect_err("must fail");
        assert_eq!(err.errors()[0].path, "status");
        assert!(err.errors()[0].message.contains("unknown variant `lost`"));
    }

    #[test]
    fn unknown_field_is_refused() {
        let mut v = example();
        v["applicant"]["nickname"] = json!("Bảo");
        let err = Dossier::from_json(v).expect_err("must fail");
        assert_eq!(err.errors()[0].path, "applicant.nickname");
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let mut v = example();
        v["summary"] = json!("  ");
        v["documents"][1]["sha256"] = json!("xyz");
        v["due_at"] = json!("2026-11-01T00:00:00+07:00");
        let err = Dossier::from_json(v).expect_err("must fail");
        let paths: Vec<_> = err.errors().iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["summary", "due_at", "documents[1].sha256"]);
    }

    #[test]
    fn wrong_type_names_the_array_index() {
        let mut v = example();
        v["fees"][0]["amount"] = json!("năm mươi nghìn");
        let err = Dossier::from_json(v).expect_err("must fail");
        assert_eq!(err.errors()[0].path, "fees[0].amount");
    }

    #[test]
    fn transitions() {
        use DossierStatus::*;
        assert!(Accepted.allows(Processing));
        assert!(Processing.allows(Processed));
        assert!(Processed.allows(Returned));
        assert!(!Returned.allows(Processing));
        assert!(!Accepted.allows(Registered));
        assert_eq!(
            DossierStatus::parse("supplement_requested"),
            Some(SupplementRequested)
        );
        assert_eq!(DossierStatus::parse("nope"), None);
    }
}
