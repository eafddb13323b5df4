//! Step 6 of the demo: inter-level exchange (liên thông) between the province's center and a
//! commune, each a real gateway on its own listener with its own store, CA, TLS certificate and
//! signing certificate, over mutual TLS with signed edXML. A dossier with three files goes down
//! to the commune, its statuses come back, a second dossier goes up; the summary counts what
//! each side received and answered.

use std::time::Duration;

use anyhow::{Context, bail};
use lienthong_simulators::center_sim::CenterSim;
use lienthong_simulators::file_server::FileServer;
use lienthong_simulators::two_level::{Level, dossier, event, files, province_and_commune};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Client;
use lienthong::config::Config;

/// How long each hop may take before the demo gives up.
const HOP: Duration = Duration::from_secs(30);

/// One running level: its gateway task and a client for its center's calls.
pub(super) struct Running {
    pub(super) client: Client,
    pub(super) task: JoinHandle<Result<(), lienthong::server::ServerError>>,
}

/// Binds a listener for `level` and records its port (its peer's configuration points there).
pub(super) async fn bind(level: &mut Level) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    level.port = listener.local_addr()?.port();
    Ok(listener)
}

async fn start(
    level: &Level,
    peer: &Level,
    store: &FileServer,
    listener: tokio::net::TcpListener,
    stop: &CancellationToken,
) -> anyhow::Result<Running> {
    // Each center may fetch the dossiers' files from the demo's document store only.
    let text = level.config(peer, &peer.exchange_url(), &store.attachments_toml());
    start_with(level, text, listener, stop).await
}

/// Starts `level`'s gateway in this process with the configuration `text`.
pub(super) async fn start_with(
    level: &Level,
    text: String,
    listener: tokio::net::TcpListener,
    stop: &CancellationToken,
) -> anyhow::Result<Running> {
    std::fs::write(level.dir.path().join("lienthong.toml"), &text)?;
    let config = Config::from_toml(&text, std::iter::empty())
        .map_err(|e| anyhow::anyhow!("{} config: {e}", level.destination))?;
    let task = tokio::spawn(lienthong::server::run(
        config,
        listener,
        stop.clone().cancelled_owned(),
        || {},
    ));
    let client = Client::new(level.client(), format!("https://localhost:{}", level.port));
    for _ in 0..100 {
        if client.get("/readyz").await.is_ok() {
            let client = client.with_generated_tokens(level.dir.path());
            return Ok(Running { client, task });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the {} gateway did not become ready", level.destination)
}

pub(super) async fn wait_for(
    center: &CenterSim,
    what: &str,
    pred: impl Fn(&[lienthong_simulators::center_sim::Notice]) -> bool,
) -> anyhow::Result<()> {
    if center.wait_for(HOP, pred).await {
        Ok(())
    } else {
        bail!("{what} did not arrive within {HOP:?}")
    }
}

fn status_codes(center: &CenterSim, code: &str) -> Vec<String> {
    center
        .notices()
        .iter()
        .filter(|n| n.event == "exchange.status" && n.dossier_code == code)
        .map(|n| n.data["status_code"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Received documents about `code` at one side, and how many carry a signed answer.
async fn evidence(client: &Client, code: &str) -> anyhow::Result<(usize, usize)> {
    let v = client.get(&format!("/v1/exchange/received/{code}")).await?;
    let items = v["received"].as_array().cloned().unwrap_or_default();
    let answered = items
        .iter()
        .filter(|r| {
            r["answer"]
                .as_str()
                .is_some_and(|a| a.contains("Signature"))
        })
        .count();
    Ok((items.len(), answered))
}

/// Runs step 6.
///
/// Errors: a gateway did not start, or a message did not arrive in time.
pub(super) async fn run() -> anyhow::Result<()> {
    println!("\n6. Inter-level exchange (liên thông hồ sơ giữa các cấp)…");
    let (mut province, mut commune) = province_and_commune().await;
    let files = files();
    let store = FileServer::start(files.clone())
        .await
        .context("file store")?;
    let (pl, cl) = (bind(&mut province).await?, bind(&mut commune).await?);
    let stop = CancellationToken::new();
    let p = start(&province, &commune, &store, pl, &stop).await?;
    let c = start(&commune, &province, &store, cl, &stop).await?;
    println!(
        "   province {} https://localhost:{}  ⇄  commune {} https://localhost:{}",
        province.code, province.port, commune.code, commune.port
    );
    println!(
        "   (two gateways, two stores, two CAs; mutual TLS, each trusts only the other's CA; edXML signed with each center's certificate)"
    );

    let d1 = "000.02.01.H37-DEMO-LT01";
    let (s, a) = p
        .client
        .post("/v1/dossiers", &dossier(d1, &store, &files))
        .await?;
    if s != 202 {
        bail!("province dossier: HTTP {s}: {a}");
    }
    wait_for(&commune.center, "the dossier at the commune", |n| {
        n.iter().any(|n| n.dossier_code == d1)
    })
    .await?;
    let notice = commune
        .center
        .notices()
        .into_iter()
        .find(|n| n.dossier_code == d1)
        .context("notice")?;
    let carried = notice.data["attachments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let identical = carried
        .iter()
        .zip(files.values())
        .filter(|(a, bytes)| a["sha256"] == lienthong_certs::sha256_hex(bytes))
        .count();
    println!(
        "   province → commune: {d1} with {} files ({identical} identical by SHA-256), signed by {}",
        carried.len(),
        notice.data["signer"].as_str().unwrap_or("?")
    );
    // The province records the answer when the commune's reply reaches it.
    let mut answer = String::new();
    for _ in 0..200 {
        let tracked = p.client.get(&format!("/v1/dossiers/{d1}")).await?;
        answer = tracked["deliveries"]
            .as_array()
            .and_then(|ds| {
                ds.iter()
                    .find(|d| d["destination"] == commune.destination && d["state"] == "delivered")
            })
            .map(|d| d["portal_code"].as_str().unwrap_or("-").to_owned())
            .unwrap_or_default();
        if !answer.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("   the commune answered with a signed edXML status {answer} (arrived)");

    for (i, status) in ["accepted", "processing", "processed"].iter().enumerate() {
        let (s, a) = c
            .client
            .post(
                &format!("/v1/dossiers/{d1}/events"),
                &event(&format!("demo-lt-{i}"), status, i as i64),
            )
            .await?;
        if s != 202 {
            bail!("commune event {status}: HTTP {s}: {a}");
        }
    }
    wait_for(&province.center, "the statuses at the province", |n| {
        n.iter().filter(|n| n.event == "exchange.status").count() == 3
    })
    .await?;
    let at_province = p.client.get(&format!("/v1/dossiers/{d1}")).await?;
    println!(
        "   commune → province: statuses {} (03 accepted, 05 processing, 06 finished); the province has the dossier {}",
        status_codes(&province.center, d1).join(", "),
        at_province["status"].as_str().unwrap_or("?")
    );

    let d2 = "000.00.12.H37-DEMO-LT02";
    let (s, a) = c
        .client
        .post("/v1/dossiers", &dossier(d2, &store, &files))
        .await?;
    if s != 202 {
        bail!("commune dossier: HTTP {s}: {a}");
    }
    wait_for(
        &province.center,
        "the commune's dossier at the province",
        |n| n.iter().any(|n| n.dossier_code == d2),
    )
    .await?;
    println!(
        "   commune → province: {d2} received and forwarded to the province's one-stop software"
    );

    println!("\n   Exchange summary (liên thông):");
    println!(
        "   {:<22} {:>9} {:>9} {:>15}",
        "", "dossiers", "statuses", "signed answers"
    );
    let rows: [(&str, &Client, &CenterSim); 2] = [
        ("received at commune", &c.client, &commune.center),
        ("received at province", &p.client, &province.center),
    ];
    for (label, client, center) in rows {
        let notices = center.notices();
        let dossiers = notices
            .iter()
            .filter(|n| n.event == "exchange.dossier")
            .count();
        let statuses = notices
            .iter()
            .filter(|n| n.event == "exchange.status")
            .count();
        let mut answered = 0;
        for code in [d1, d2] {
            answered += evidence(client, code).await?.1;
        }
        println!("   {label:<22} {dossiers:>9} {statuses:>9} {answered:>15}");
    }
    stop.cancel();
    for (name, r) in [("province", p), ("commune", c)] {
        r.task
            .await
            .with_context(|| format!("{name} gateway task"))?
            .with_context(|| format!("{name} gateway"))?;
    }
    Ok(())
}
