//! `lienthong-demo` (also run by `lienthong demo`): the gateway's main job end to end on this
//! machine, with nothing to install.
//!
//! It starts the real gateway (HTTP server, SQLite store in a temporary directory, dispatcher)
//! with a DVCQG simulator in-process, submits a dozen realistic dossiers, pushes status events,
//! takes the portal down for a while (500s, dropped connections, 503 + Retry-After) and brings it
//! back, lets one dossier be refused by the portal and replays it after the cause is fixed, shows
//! what the certificates do, then prints what reached the portal. Last, a province and a commune
//! exchange dossiers and statuses as signed edXML over mutual TLS ([`exchange`]).
//!
//! It is a program of its own, beside the `lienthong` daemon, because it needs the portal
//! simulators and a throwaway PKI (`lienthong-simulators`, `lienthong_certs::testpki`), which the
//! daemon must not link.

mod exchange;
mod national;
mod wire;

use std::process::ExitCode;

use clap::Parser;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use lienthong_certs::inspect::CertificateInfo;
use lienthong_certs::keys::PrivateKey;
use lienthong_certs::testpki::{Leaf, Pki};
use lienthong_certs::xmldsig::{self, Expected, Placement, SignOptions, Signer, VerifyPolicy};
use lienthong_simulators::gateway_process::TestConfig;
use lienthong_simulators::{DvcqgSim, FailKind, Faults};
use rcgen::ExtendedKeyUsagePurpose as Eku;
use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset};
use tokio_util::sync::CancellationToken;

use lienthong::config::Config;

struct Case {
    procedure: (&'static str, &'static str, &'static str, &'static str),
    agency: (&'static str, &'static str),
    level: &'static str,
    channel: &'static str,
    applicant: (&'static str, &'static str, &'static str, &'static str),
    summary: &'static str,
    fee: Option<(&'static str, &'static str, u64)>,
}

/// A dozen dossiers as a provincial center files them (procedure codes of the national catalogue,
/// agency identifiers of the merged Ninh Bình province, Vietnamese names with diacritics).
const CASES: &[Case] = &[
    Case {
        procedure: (
            "1.001612",
            "Đăng ký thành lập công ty TNHH hai thành viên trở lên",
            "DKKD",
            "Thành lập và hoạt động doanh nghiệp",
        ),
        agency: ("000.00.12.H37", "Sở Tài chính tỉnh Ninh Bình"),
        level: "province",
        channel: "online",
        applicant: ("business", "Trần Quốc Bảo", "cccd", "035085004321"),
        summary: "Đăng ký thành lập Công ty TNHH Nông sản Sạch Hà Nam",
        fee: Some(("LP-DKDN", "Lệ phí đăng ký doanh nghiệp", 50_000)),
    },
    Case {
        procedure: (
            "1.009645",
            "Cấp Giấy chứng nhận đăng ký đầu tư đối với dự án không thuộc diện chấp thuận chủ trương đầu tư",
            "DTVN",
            "Đầu tư tại Việt Nam",
        ),
        agency: (
            "000.00.19.H37",
            "Ban Quản lý các khu công nghiệp tỉnh Ninh Bình",
        ),
        level: "province",
        channel: "counter",
        applicant: (
            "business",
            "SUNRISE PRECISION CO., LTD",
            "foreign_registration",
            "KR-110111-7788990",
        ),
        summary: "Dự án nhà máy linh kiện cơ khí chính xác Sunrise Đồng Văn",
        fee: None,
    },
    Case {
        procedure: (
            "1.004227",
            "Đăng ký, cấp Giấy chứng nhận quyền sử dụng đất lần đầu",
            "DD",
            "Đất đai",
        ),
        agency: (
            "000.00.15.H37",
            "Sở Nông nghiệp và Môi trường tỉnh Ninh Bình",
        ),
        level: "province",
        channel: "counter",
        applicant: ("citizen", "Nguyễn Thị Lan", "cccd", "035190001122"),
        summary: "Cấp GCN quyền sử dụng đất thửa số 112, tờ bản đồ số 7, phường Phủ Lý",
        fee: Some(("LP-GCN", "Lệ phí cấp giấy chứng nhận", 100_000)),
    },
    Case {
        procedure: (
            "1.009972",
            "Cấp giấy phép xây dựng mới đối với công trình cấp đặc biệt, cấp I, cấp II",
            "HDXD",
            "Hoạt động xây dựng",
        ),
        agency: ("000.00.16.H37", "Sở Xây dựng tỉnh Ninh Bình"),
        level: "province",
        channel: "online",
        applicant: (
            "business",
            "Công ty CP Xây dựng Hoa Lư",
            "tax_code",
            "2700112233",
        ),
        summary: "Giấy phép xây dựng tòa nhà văn phòng 15 tầng tại phường Hoa Lư",
        fee: Some(("LP-GPXD", "Lệ phí cấp giấy phép xây dựng", 150_000)),
    },
    Case {
        procedure: (
            "2.000986",
            "Đăng ký khai sinh có yếu tố nước ngoài",
            "HTTP",
            "Hộ tịch",
        ),
        agency: ("000.00.14.H37", "UBND phường Phủ Lý"),
        level: "commune",
        channel: "counter",
        applicant: ("citizen", "Phạm Thị Ngọc Ánh", "cccd", "035194012345"),
        summary: "Đăng ký khai sinh cho cháu Phạm Minh Khôi (cha quốc tịch Nhật Bản)",
        fee: Some((
            "LP-HT-KS-NN",
            "Lệ phí đăng ký khai sinh có yếu tố nước ngoài",
            75_000,
        )),
    },
    Case {
        procedure: ("1.000894", "Đăng ký kết hôn", "HTTP", "Hộ tịch"),
        agency: ("000.00.14.H37", "UBND phường Phủ Lý"),
        level: "commune",
        channel: "online",
        applicant: ("citizen", "Lê Hoàng Nam", "cccd", "035092008765"),
        summary: "Đăng ký kết hôn giữa anh Lê Hoàng Nam và chị Vũ Thị Hồng",
        fee: None,
    },
    Case {
        procedure: (
            "2.001023",
            "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam",
            "LLTP",
            "Lý lịch tư pháp",
        ),
        agency: ("000.00.09.H37", "Sở Tư pháp tỉnh Ninh Bình"),
        level: "province",
        channel: "post",
        applicant: ("citizen", "Đặng Quốc Huy", "cccd", "036088003344"),
        summary: "Cấp Phiếu lý lịch tư pháp số 1 để đi du học",
        fee: Some(("LP-LLTP", "Phí cung cấp thông tin lý lịch tư pháp", 200_000)),
    },
    Case {
        procedure: ("1.002835", "Cấp lại Giấy phép lái xe", "DB", "Đường bộ"),
        agency: ("000.00.16.H37", "Sở Xây dựng tỉnh Ninh Bình"),
        level: "province",
        channel: "online",
        applicant: ("citizen", "Bùi Thanh Tâm", "cccd", "035087006655"),
        summary: "Cấp lại giấy phép lái xe hạng B bị mất",
        fee: Some(("LP-GPLX", "Lệ phí cấp giấy phép lái xe", 135_000)),
    },
    Case {
        procedure: (
            "1.001757",
            "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
            "ATTP",
            "An toàn thực phẩm",
        ),
        agency: ("000.00.20.H37", "Sở Y tế tỉnh Ninh Bình"),
        level: "province",
        channel: "counter",
        applicant: (
            "business",
            "Hộ kinh doanh Bánh cuốn Thanh Liêm",
            "cccd",
            "035179004433",
        ),
        summary: "Cấp GCN cơ sở đủ điều kiện ATTP cho cơ sở sản xuất bánh cuốn",
        fee: Some(("PHI-ATTP", "Phí thẩm định cơ sở", 500_000)),
    },
    Case {
        procedure: (
            "1.000775",
            "Cấp Giấy phép bán lẻ sản phẩm rượu",
            "LTHH",
            "Lưu thông hàng hóa trong nước",
        ),
        agency: ("000.00.13.H37", "Sở Công Thương tỉnh Ninh Bình"),
        level: "province",
        channel: "online",
        applicant: (
            "business",
            "Công ty TNHH Thương mại Tràng An",
            "tax_code",
            "2700445566",
        ),
        summary: "Cấp giấy phép bán lẻ sản phẩm rượu tại 45 đường Tràng An",
        fee: Some(("PHI-RUOU", "Phí thẩm định cấp giấy phép", 1_200_000)),
    },
    Case {
        procedure: (
            "2.000815",
            "Chứng thực bản sao từ bản chính giấy tờ, văn bản",
            "CT",
            "Chứng thực",
        ),
        agency: ("000.00.14.H37", "UBND phường Phủ Lý"),
        level: "commune",
        channel: "counter",
        applicant: ("citizen", "Dương Thị Thảo", "cmnd", "168345678"),
        summary: "Chứng thực bản sao bằng tốt nghiệp đại học và học bạ",
        fee: Some(("LP-CT", "Phí chứng thực bản sao", 4_000)),
    },
    Case {
        procedure: (
            "1.003347",
            "Cấp giấy phép hoạt động in",
            "XBIN",
            "Xuất bản, In và Phát hành",
        ),
        agency: (
            "000.00.11.H37",
            "Sở Văn hóa, Thể thao và Du lịch tỉnh Ninh Bình",
        ),
        level: "province",
        channel: "online",
        applicant: (
            "business",
            "Công ty CP In Ninh Bình",
            "tax_code",
            "2700998877",
        ),
        summary: "Cấp giấy phép hoạt động in cho cơ sở in bao bì tại KCN Gián Khẩu",
        fee: None,
    },
];

/// The dossier the portal refuses (its procedure is "not in the national catalogue") until the
/// operator fixes the cause.
const REFUSED: usize = 9;

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn dossier(i: usize, c: &Case, now: OffsetDateTime) -> Value {
    let date = now
        .format(time::macros::format_description!(
            "[year repr:last_two][month][day]"
        ))
        .unwrap_or_default();
    let code = format!("000.02.01.H37-{date}-{:04}", 101 + i);
    let received = now - time::Duration::minutes(60 - i as i64 * 4);
    let due = (received + time::Duration::days(5)).replace_time(time::macros::time!(17:00));
    let mut d = json!({
        "code": code,
        "procedure": { "code": c.procedure.0, "name": c.procedure.1, "field_code": c.procedure.2, "field_name": c.procedure.3 },
        "agency": { "code": c.agency.0, "name": c.agency.1 },
        "level": c.level,
        "channel": c.channel,
        "applicant": {
            "kind": c.applicant.0, "name": c.applicant.1,
            "identity": { "kind": c.applicant.2, "number": c.applicant.3 },
            "address": "Tỉnh Ninh Bình", "phone": format!("09{:08}", 12_345_670 + i)
        },
        "summary": c.summary,
        "submitted_at": rfc3339(received - time::Duration::minutes(7)),
        "received_at": rfc3339(received),
        "due_at": rfc3339(due),
        "status": "accepted",
        "documents": [{
            "id": format!("tl-{:04}-1", 101 + i), "title": "Đơn đề nghị", "component_code": "TP01",
            "media_type": "application/pdf", "size": 120_000 + i * 1000,
            "url": format!("https://motcua.ninhbinh.example.vn/files/tl-{:04}-1", 101 + i)
        }],
        "fees": c.fee.map(|(code, name, amount)| vec![json!({ "code": code, "name": name, "amount": amount, "method": c.channel })]).unwrap_or_default(),
    });
    if c.channel == "online" {
        d["applicant"]["portal_account"] = json!(format!("dvcqg-{}", 880_000 + i));
    }
    d
}

fn event(id: &str, status: &str, at: OffsetDateTime, who: (&str, &str, &str), note: &str) -> Value {
    json!({ "id": id, "at": rfc3339(at), "status": status,
            "actor": { "name": who.0, "title": who.1, "unit": who.2 }, "note": note })
}

/// The demo's certificates: a throw-away root CA, the gateway's TLS certificate, the counter's
/// client certificate and the center's signing certificate, written to the demo directory.
struct DemoTrust {
    pki: Pki,
    counter: Leaf,
    signer: Leaf,
    server: Leaf,
    /// The admin token the demo's own calls (replay, deliveries, readiness detail) carry.
    admin_token: String,
    files: BTreeMap<&'static str, std::path::PathBuf>,
}

impl DemoTrust {
    fn create(dir: &std::path::Path) -> Self {
        let pki = Pki::new("Demo Root CA (Ninh Bình)");
        let server = pki.leaf(
            "localhost",
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &[Eku::ServerAuth],
        );
        let counter = pki.leaf(
            "mot-cua.ninhbinh.gov.vn",
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &[Eku::ClientAuth],
        );
        let signer = pki.leaf(
            "Trung tam PVHCC tinh Ninh Binh",
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &[],
        );
        let mut files = BTreeMap::new();
        files.insert("ca", pki.write_ca(dir));
        let (c, k) = server.write(dir, "server");
        files.insert("server_cert", c);
        files.insert("server_key", k);
        let (c, k) = signer.write(dir, "signing");
        files.insert("signing_cert", c);
        files.insert("signing_key", k);
        // The demo configures its credentials as a center would: a random admin token in a
        // file only its owner reads.
        let admin_token = hex::encode(rand::random::<[u8; 32]>());
        let token_file = dir.join("admin.token");
        if std::fs::write(&token_file, &admin_token).is_ok() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600));
        }
        files.insert("admin_token", token_file);
        Self {
            pki,
            counter,
            signer,
            server,
            admin_token,
            files,
        }
    }

    fn file(&self, name: &str) -> String {
        self.files
            .get(name)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }

    /// An HTTPS client trusting the demo CA, with the counter's certificate when `counter`.
    fn client(&self, counter: bool) -> anyhow::Result<reqwest::Client> {
        let mut admin = reqwest::header::HeaderMap::new();
        admin.insert(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.admin_token))?,
        );
        let mut b = reqwest::Client::builder()
            .default_headers(admin)
            .tls_certs_only([reqwest::Certificate::from_pem(self.pki.ca_pem.as_bytes())?]);
        if counter {
            let pem = format!("{}{}", self.counter.cert_pem, self.counter.key_pem);
            b = b.identity(reqwest::Identity::from_pem(pem.as_bytes())?);
        }
        Ok(b.build()?)
    }
}

/// The demo's configuration: the tests' template (session transport to the simulator) with a
/// fast retry schedule and circuit breaker, so that an outage and its recovery fit in seconds;
/// HTTPS with the counter's client certificate required on `/v1/dossiers`.
fn demo_config(dir: &std::path::Path, sim: &DvcqgSim, trust: &DemoTrust) -> String {
    let server_extra = format!(
        r#"admin_token_file = "{admin_token}"

[server.tls]
cert = "{server_cert}"
key = "{server_key}"
client_trust = "center"

[[server.client_auth]]
path_prefix = "/v1/dossiers"
allowed_subjects = ["mot-cua.ninhbinh.gov.vn"]

[trust.center]
anchors = ["{ca}"]

[signing]
cert = "{signing_cert}"
key = "{signing_key}"
"#,
        server_cert = trust.file("server_cert"),
        server_key = trust.file("server_key"),
        ca = trust.file("ca"),
        signing_cert = trust.file("signing_cert"),
        signing_key = trust.file("signing_key"),
        admin_token = trust.file("admin_token"),
    );
    let cfg = TestConfig {
        server_extra,
        retry: "initial = \"200ms\"\nmultiplier = 2.0\nmax_delay = \"2s\"\nmax_attempts = 50\nmax_age = \"10m\"\n".into(),
        breaker: "failures = 4\ncool_down = \"1s\"\nmax_cool_down = \"2s\"\n".into(),
        concurrency: 4,
        ..TestConfig::default()
    };
    format!(
        "# Written by `lienthong demo`.\n{}",
        cfg.render(dir, 0, sim)
    )
}

struct Client {
    http: reqwest::Client,
    base: String,
    /// The tokens the gateway generated at its first start (read from its state directory, as
    /// an operator would), sent by path: the center's on the center's API, the admin's elsewhere.
    admin: Option<String>,
    center: Option<String>,
}

impl Client {
    fn new(http: reqwest::Client, base: String) -> Self {
        Self {
            http,
            base,
            admin: None,
            center: None,
        }
    }

    /// Reads the tokens the gateway generated into `state_dir` (none where the configuration
    /// names its own).
    fn with_generated_tokens(mut self, state_dir: &std::path::Path) -> Self {
        let read = |role: &str| {
            std::fs::read_to_string(state_dir.join(format!("{role}.token")))
                .ok()
                .map(|t| t.trim().to_owned())
        };
        self.admin = read("admin");
        self.center = read("center");
        self
    }

    fn authorized(&self, path: &str, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let token = if lienthong_simulators::gateway_process::is_center_path(path) {
            &self.center
        } else {
            &self.admin
        };
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let r = self
            .authorized(path, self.http.post(format!("{}{path}", self.base)))
            .json(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .authorized(path, self.http.get(format!("{}{path}", self.base)))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("GET {path}: HTTP {}", r.status());
        }
        Ok(r.json().await?)
    }

    async fn deliveries(&self) -> anyhow::Result<Vec<Value>> {
        let v = self.get("/v1/deliveries?limit=10000").await?;
        Ok(v["deliveries"].as_array().cloned().unwrap_or_default())
    }

    /// Waits until no delivery is pending, in flight or waiting for a retry.
    async fn settle(&self, limit: Duration) -> anyhow::Result<Vec<Value>> {
        let start = std::time::Instant::now();
        loop {
            let all = self.deliveries().await?;
            // Messages held behind a dead letter wait for the operator, not for the portal.
            let open = all
                .iter()
                .filter(|d| {
                    matches!(
                        d["state"].as_str(),
                        Some("pending" | "in_flight" | "retry_wait")
                    ) && d["held_by"].is_null()
                })
                .count();
            if open == 0 {
                return Ok(all);
            }
            if start.elapsed() > limit {
                bail!("{open} deliveries still open after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "lienthong-demo",
    version,
    about = "The Lienthong demonstration, end to end"
)]
struct Args {
    /// Keep the temporary directory (store and config) and print where it is.
    #[arg(long)]
    keep: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    lienthong::cli::init_logging("text", "error");
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(args.keep)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', "; "));
            ExitCode::FAILURE
        }
    }
}

/// Runs the demo.
///
/// Errors: the gateway or the simulator failed, or deliveries did not settle in time.
async fn run(keep: bool) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("lienthong-demo-")
        .tempdir()
        .context("temporary directory")?;
    let sim = DvcqgSim::start()
        .await
        .context("starting the DVCQG simulator")?;
    let trust = DemoTrust::create(dir.path());
    let config_text = demo_config(dir.path(), &sim, &trust);
    std::fs::write(dir.path().join("lienthong.toml"), &config_text)?;
    let config = Config::from_toml(&config_text, std::iter::empty())
        .map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let server = tokio::spawn(lienthong::server::run(
        config,
        listener,
        stop.clone().cancelled_owned(),
        || {},
    ));
    let client = Client::new(
        trust.client(true)?,
        format!("https://localhost:{}", addr.port()),
    );
    for _ in 0..100 {
        if client.get("/readyz").await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = client.with_generated_tokens(dir.path());
    let vn = UtcOffset::from_hms(7, 0, 0).unwrap_or(UtcOffset::UTC);
    let now = OffsetDateTime::now_utc().to_offset(vn);

    println!(
        "Lienthong demo — cổng liên thông của Trung tâm Phục vụ hành chính công tỉnh Ninh Bình"
    );
    println!(
        "  gateway  https://localhost:{} (TLS; the counter's client certificate is required on /v1/dossiers; the admin token is in {})\n  store    {}",
        addr.port(),
        trust.file("admin_token"),
        dir.path().join("lienthong.db").display()
    );
    if keep {
        println!("  (that directory is kept when the demo ends: --keep)");
    } else {
        println!(
            "  (a temporary directory, deleted when the demo ends; run with --keep to look at it afterwards)"
        );
    }
    println!("  DVCQG simulator {} (session transport)\n", sim.base_url());

    println!("1. The counter files {} dossiers (hồ sơ):", CASES.len());
    let refused_code = dossier(REFUSED, &CASES[REFUSED], now)["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    sim.update_faults(|f| {
        f.reject_codes.insert(refused_code.clone());
    });
    let mut codes = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let d = dossier(i, c, now);
        let (status, answer) = client.post("/v1/dossiers", &d).await?;
        let code = d["code"].as_str().unwrap_or_default().to_owned();
        println!("   {status} {code}  {} — {}", c.procedure.0, c.applicant.1);
        if status != 202 {
            bail!("dossier {code} was not accepted: {answer}");
        }
        codes.push(code);
    }
    let mut broken = dossier(0, &CASES[0], now);
    broken["code"] = json!("000.02.01.H37-BROKEN-0001");
    broken["documents"][0]
        .as_object_mut()
        .map(|o| o.remove("url"));
    let (status, answer) = client.post("/v1/dossiers", &broken).await?;
    println!(
        "   {status} a dossier whose document has no link is refused at the counter: {}",
        answer["detail"].as_str().unwrap_or_default()
    );

    println!(
        "\n2. The portal goes down (500s, dropped connections, 503 + Retry-After) while officials process dossiers…"
    );
    sim.set_faults(Faults {
        down: true,
        kind: FailKind::Rotate,
        reject_codes: sim_rejects(&refused_code),
        ..Faults::default()
    });
    let staff = [
        ("Nguyễn Văn Hùng", "Chuyên viên", "Bộ phận Một cửa"),
        ("Trần Thị Mai", "Phó Trưởng phòng", "Phòng chuyên môn"),
    ];
    for (i, code) in codes.iter().enumerate() {
        let at = now - time::Duration::minutes(20 - i as i64);
        let (s, a) = client
            .post(
                &format!("/v1/dossiers/{code}/events"),
                &event(
                    &format!("{code}-e1"),
                    "processing",
                    at,
                    staff[0],
                    "Chuyển hồ sơ đến phòng chuyên môn thẩm định",
                ),
            )
            .await?;
        if s != 202 && s != 404 {
            bail!("event for {code}: HTTP {s}: {a}");
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = client.deliveries().await?;
    let waiting = during.iter().filter(|d| d["state"] != "delivered").count();
    let circuit = client.get("/readyz").await?["circuits"]["dvcqg"]
        .as_str()
        .unwrap_or("?")
        .to_owned();
    println!(
        "   {waiting} deliveries waiting; DVCQG's circuit breaker is {}",
        circuit_in_words(&circuit)
    );

    println!("\n3. The portal recovers; results are returned (trả kết quả)…");
    sim.set_faults(Faults {
        reject_codes: sim_rejects(&refused_code),
        ..Faults::default()
    });
    for (i, code) in codes.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let at = now - time::Duration::minutes(5 - i as i64 / 3);
        client
            .post(
                &format!("/v1/dossiers/{code}/events"),
                &event(
                    &format!("{code}-e2"),
                    "processed",
                    at,
                    staff[1],
                    "Đã ký duyệt kết quả",
                ),
            )
            .await?;
        client
            .post(
                &format!("/v1/dossiers/{code}/events"),
                &event(
                    &format!("{code}-e3"),
                    "returned",
                    at + time::Duration::minutes(1),
                    staff[0],
                    "Đã trả kết quả cho công dân",
                ),
            )
            .await?;
    }
    let settled = client.settle(Duration::from_secs(60)).await?;
    let dead: Vec<&Value> = settled.iter().filter(|d| d["state"] == "dead").collect();
    let held = settled.iter().filter(|d| !d["held_by"].is_null()).count();
    for d in &dead {
        println!(
            "   dead letter {} ({} of {}): {}",
            d["id"].as_str().unwrap_or_default(),
            d["kind"].as_str().unwrap_or_default(),
            d["dossier_code"].as_str().unwrap_or_default(),
            d["portal_message"].as_str().unwrap_or_default()
        );
    }

    println!(
        "   {held} later message(s) of that dossier wait behind it (order per dossier is kept)"
    );
    println!(
        "\n4. The procedure is added to the national catalogue; the operator replays the dead letters…"
    );
    sim.set_faults(Faults::default());
    for d in &dead {
        let id = d["id"].as_str().unwrap_or_default();
        let (s, _) = client
            .post(&format!("/v1/deliveries/{id}/replay"), &json!({}))
            .await?;
        println!("   POST /v1/deliveries/{id}/replay → {s}");
    }
    let settled = client.settle(Duration::from_secs(60)).await?;
    trust_step(&client, &trust, &codes).await?;
    summary(&client, &sim, &codes, &settled).await?;
    exchange::run().await?;
    national::run().await?;
    wire::run().await?;
    stop.cancel();
    server.await.context("gateway task")??;
    sim.stop().await;
    if keep {
        let kept = dir.keep();
        println!("\nKept {} (lienthong.toml, lienthong.db)", kept.display());
    }
    Ok(())
}

/// A circuit breaker's state as an operator reads it (ngắt mạch).
fn circuit_in_words(state: &str) -> String {
    match state {
        "open" => "open: sending is paused after repeated failures (ngắt mạch — tạm dừng gửi), and a probe tries again after the cool-down".into(),
        "half_open" => "half-open: one probe is testing whether the portal is back (đang thử lại)".into(),
        "closed" => "closed: sending normally (đang gửi bình thường)".into(),
        other => other.to_owned(),
    }
}

fn sim_rejects(code: &str) -> std::collections::BTreeSet<String> {
    std::iter::once(code.to_owned()).collect()
}

async fn summary(
    client: &Client,
    sim: &DvcqgSim,
    codes: &[String],
    all: &[Value],
) -> anyhow::Result<()> {
    // (delivered, delivered after failed attempts, dead, temporary failures, refusals)
    let mut per_dest: BTreeMap<String, (usize, usize, usize, usize, usize)> = BTreeMap::new();
    for d in all {
        let attempts = client
            .get(&format!(
                "/v1/deliveries/{}/attempts",
                d["id"].as_str().unwrap_or_default()
            ))
            .await?;
        let tried = attempts["attempts"].as_array().cloned().unwrap_or_default();
        let n = tried.len();
        let outcome = |o: &str| tried.iter().filter(|a| a["outcome"] == o).count();
        let e = per_dest
            .entry(d["destination"].as_str().unwrap_or_default().to_owned())
            .or_default();
        let delivered = d["state"].as_str() == Some("delivered");
        match d["state"].as_str() {
            Some("delivered") => e.0 += 1,
            Some("dead") => e.2 += 1,
            _ => {}
        }
        if delivered && n > 1 {
            e.1 += 1;
        }
        e.3 += outcome("retry");
        e.4 += outcome("rejected");
    }
    println!("\nSummary per destination (đích):");
    println!(
        "   {:<8} {:>9} {:>14} {:>5} {:>19} {:>9}",
        "", "delivered", "after retries", "dead", "temporary failures", "refusals"
    );
    for (name, (delivered, retried, dead, failed, refused)) in &per_dest {
        println!("   {name:<8} {delivered:>9} {retried:>14} {dead:>5} {failed:>19} {refused:>9}");
    }
    let injected = sim
        .calls()
        .iter()
        .filter(|c| c.answer == "injected")
        .count();
    println!(
        "   (temporary failures are attempts retried later: the simulator failed {injected} calls on purpose — 500s, dropped connections, 503 + Retry-After — and an attempt may be two calls, a login then the service; refusals are the portal saying no to the data, which made the dead letter replayed in step 4)"
    );
    println!("\nPer dossier, as the National Public Service Portal has it:");
    println!(
        "   {:<28} {:<16} {:>8}  last TrangThai",
        "MaHoSo", "TrangThaiHoSo", "progress"
    );
    let names = [
        "",
        "mới đăng ký",
        "đã tiếp nhận",
        "từ chối",
        "đang xử lý",
        "bổ sung",
        "nghĩa vụ TC",
        "rút",
        "dừng",
        "đã xử lý",
        "đã trả KQ",
    ];
    for code in codes {
        let hoso = sim.hoso(code);
        let status = hoso
            .as_ref()
            .and_then(|h| h["TrangThaiHoSo"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "-".into());
        let progress = sim.progress(code);
        let last = progress
            .last()
            .and_then(|p| p["TrangThai"].as_str())
            .unwrap_or("-");
        let label = last
            .parse::<usize>()
            .ok()
            .and_then(|n| names.get(n))
            .copied()
            .unwrap_or("");
        let status_label = status
            .parse::<usize>()
            .ok()
            .and_then(|n| names.get(n))
            .copied()
            .unwrap_or("");
        println!(
            "   {code:<28} {:<16} {:>8}  {last} {label}",
            format!("{status} {status_label}"),
            progress.len()
        );
    }
    Ok(())
}

/// Step 5: what the certificates do — a request without the counter's certificate is refused,
/// an edXML message signed with the center's certificate verifies, a changed copy does not.
async fn trust_step(client: &Client, trust: &DemoTrust, codes: &[String]) -> anyhow::Result<()> {
    println!("\n5. Trust (chứng thư số, chữ ký số)…");
    let anonymous = trust.client(false)?;
    let r = anonymous
        .get(format!(
            "{}/v1/dossiers/{}",
            client.base,
            codes.first().map(String::as_str).unwrap_or("x")
        ))
        .send()
        .await?;
    let status = r.status().as_u16();
    let problem: Value = r.json().await.unwrap_or(Value::Null);
    println!(
        "   without the counter's client certificate: GET /v1/dossiers/… → {status} ({})",
        problem["title"].as_str().unwrap_or_default()
    );
    let key = std::sync::Arc::new(PrivateKey::from_bytes(
        trust.signer.key_pem.as_bytes(),
        "signing key",
    )?);
    let algorithm = Signer::default_algorithm(&key);
    let signer = Signer::new(key, vec![trust.signer.cert.clone()], algorithm)?;
    let ns = "http://www.mic.gov.vn/TBT/QCVN_102_2016";
    let code = codes.first().map(String::as_str).unwrap_or_default();
    let edxml = format!(
        "<edXML:edXMLEnvelope xmlns:edXML=\"{ns}\"><edXML:edXMLHeader><edXML:MessageHeader><edXML:From><edXML:OrganId>000.02.01.H37</edXML:OrganId></edXML:From><edXML:Subject>Hồ sơ liên thông {code}</edXML:Subject></edXML:MessageHeader><edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>000.02.01.H37</edXML:OrganId></edXML:TraceHeader></edXML:TraceHeaderList></edXML:edXMLHeader><edXML:edXMLBody/></edXML:edXMLEnvelope>"
    );
    let signed = xmldsig::sign(
        &edxml,
        &signer,
        &SignOptions {
            placement: Placement::After {
                ns: ns.into(),
                local: "TraceHeaderList".into(),
            },
            ..SignOptions::default()
        },
    )?;
    let store = trust.pki.store("center");
    let expected = Expected::WholeDocument;
    let policy = VerifyPolicy::new(&store, &expected);
    let verified = xmldsig::verify(&signed, &policy)?;
    println!(
        "   edXML signed with the center's certificate ({}, exclusive C14N, {} bytes): verified, signer {}",
        algorithm.uri().rsplit('#').next().unwrap_or_default(),
        signed.len(),
        verified.signer.certificate.subject
    );
    let tampered = signed.replacen(code, "000.02.01.H37-000000-0000", 1);
    match xmldsig::verify(&tampered, &policy) {
        Ok(_) => bail!("a tampered edXML message verified"),
        Err(e) => println!("   the same message with another dossier code: refused ({e})"),
    }
    let now = OffsetDateTime::now_utc();
    for (name, leaf) in [("TLS", &trust.server), ("signing", &trust.signer)] {
        let info = CertificateInfo::from_der(&leaf.cert)?;
        println!(
            "   {name} certificate (serial {}): {} days left (warned from 30 days; `lienthong certs check`)",
            info.serial,
            info.seconds_left(now) / 86_400
        );
    }
    Ok(())
}
