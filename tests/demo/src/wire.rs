//! Step 8 of the demo: the real wire (đường truyền thật). A dossier goes from the province to a
//! commune through the national document-exchange axis as the axis's own client SDK speaks it
//! (system id, HMAC-SHA256 over the signed headers, `sendEdoc` with `file_doc` and `hash-file`;
//! the commune pulls it with `getReceivedEdocList` → `getEdoc` → `updateStatus`), and another
//! goes to DVCQG through the center's X-Road Security Server (PR-REST `/r1/{serviceId}`,
//! `X-Road-Client`, `X-Road-Issue`), once the provider behind it is back.

use std::time::Duration;

use anyhow::{Context, bail};
use lienthong_simulators::DvcqgSim;
use lienthong_simulators::axis_sim::{AxisSim, Mark};
use lienthong_simulators::file_server::FileServer;
use lienthong_simulators::gateway_process::{TestConfig, example};
use lienthong_simulators::security_server::SecurityServerSim;
use lienthong_simulators::two_level::{dossier, files, province_and_commune};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Client;
use super::exchange::{bind, start_with, wait_for};
use lienthong::config::Config;

/// How long each hop may take before the demo gives up.
const HOP: Duration = Duration::from_secs(30);

/// Runs step 8.
///
/// Errors: a gateway did not start, or a message did not arrive in time.
pub(super) async fn run() -> anyhow::Result<()> {
    println!("\n8. The real wire (đường truyền thật): the axis as its SDK speaks it, and X-Road…");
    through_the_axis().await?;
    through_a_security_server().await
}

async fn through_the_axis() -> anyhow::Result<()> {
    let (mut province, mut commune) = province_and_commune().await;
    let files = files();
    let store = FileServer::start(files.clone())
        .await
        .context("file store")?;
    let axis = AxisSim::start().await.context("axis simulator")?;
    let (pl, cl) = (bind(&mut province).await?, bind(&mut commune).await?);
    let stop = CancellationToken::new();
    let text = |level: &lienthong_simulators::two_level::Level,
                peer: &lienthong_simulators::two_level::Level| {
        format!(
            "{}\n{}",
            level.config_via_axis(peer, &axis, "2s"),
            store.attachments_toml()
        )
    };
    let p = start_with(&province, text(&province, &commune), pl, &stop).await?;
    let c = start_with(&commune, text(&commune, &province), cl, &stop).await?;
    println!(
        "   axis (trục liên thông) simulator {}: province system sys-{}, commune system sys-{}",
        axis.url(),
        province.code,
        commune.code
    );
    let code = "000.02.01.H37-DEMO-AX01";
    let (s, a) = p
        .client
        .post("/v1/dossiers", &dossier(code, &store, &files))
        .await?;
    if s != 202 {
        bail!("dossier through the axis: HTTP {s}: {a}");
    }
    wait_for(&commune.center, "the dossier through the axis", |n| {
        n.iter().any(|n| n.dossier_code == code)
    })
    .await?;
    let docs = axis.docs();
    let sent = docs
        .iter()
        .find(|d| d.from == province.code && d.message_type == "edoc")
        .context("the axis kept the dossier")?;
    println!(
        "   sendEdoc {} → {} (messagetype {}, the signed edXML as file_doc with its hash-file; headers signed with HMAC-SHA256): axis id {}",
        sent.from, sent.to, sent.message_type, sent.id
    );
    let start = std::time::Instant::now();
    while axis.doc(&sent.id).is_some_and(|d| d.mark != Mark::Done) {
        if start.elapsed() > HOP {
            bail!("the commune did not mark the document done");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "   the commune pulled it (getReceivedEdocList → getEdoc, base64 → updateStatus done), verified the signature and told its one-stop software; refusals by the axis: {}",
        axis.refusals().len()
    );
    stop.cancel();
    for (name, r) in [("province", p), ("commune", c)] {
        r.task
            .await
            .with_context(|| format!("{name} gateway task"))?
            .with_context(|| format!("{name} gateway"))?;
    }
    Ok(())
}

async fn through_a_security_server() -> anyhow::Result<()> {
    const CLIENT: &str = "VN/GOV/000.02.01.H37/LIENTHONG";
    const SERVICE: &str = "VN/GOV/000.00.00.G22/DVCQG/lienthong";
    let dir = tempfile::Builder::new()
        .prefix("lienthong-demo-xroad-")
        .tempdir()
        .context("temporary directory")?;
    let sim = DvcqgSim::start().await.context("DVCQG simulator")?;
    let ss = SecurityServerSim::start()
        .await
        .context("Security Server simulator")?;
    ss.add_client(CLIENT);
    ss.add_service(SERVICE, &sim.base_url(), &[CLIENT]);
    let text = TestConfig {
        dvcqg_extra: format!(
            "[destinations.dvcqg.xroad]\nsecurity_server = \"{}\"\nclient = \"{CLIENT}\"\nservice = \"{SERVICE}\"\n",
            ss.url()
        ),
        ..TestConfig::default()
    }
    .render(dir.path(), 0, &sim);
    let config = Config::from_toml(&text, std::iter::empty())
        .map_err(|e| anyhow::anyhow!("X-Road demo config: {e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let stop = CancellationToken::new();
    let server = tokio::spawn(lienthong::server::run(
        config,
        listener,
        stop.clone().cancelled_owned(),
        || {},
    ));
    let client = Client::new(reqwest::Client::new(), format!("http://127.0.0.1:{port}"));
    let mut ready = false;
    for _ in 0..100 {
        if client.get("/readyz").await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !ready {
        bail!("the X-Road gateway did not become ready");
    }
    let client = client.with_generated_tokens(dir.path());
    println!(
        "   X-Road Security Server simulator {} (client {CLIENT}, service {SERVICE} → the DVCQG simulator)",
        ss.url()
    );
    // The portal behind the Security Server cannot be reached for the first call.
    ss.provider_down_for(1);
    let mut d = example("dossier-business-registration.json");
    let code = "000.02.01.H37-DEMO-XR01";
    d["code"] = Value::String(code.into());
    let (s, a) = client.post("/v1/dossiers", &d).await?;
    if s != 202 {
        bail!("dossier through X-Road: HTTP {s}: {a}");
    }
    let settled = client.settle(HOP).await?;
    let delivery = settled
        .iter()
        .find(|d| d["dossier_code"] == code)
        .context("the delivery")?;
    let id = delivery["id"].as_str().unwrap_or_default();
    let tried = client.get(&format!("/v1/deliveries/{id}/attempts")).await?;
    for a in tried["attempts"].as_array().cloned().unwrap_or_default() {
        println!(
            "   attempt {}: {} {} (X-Road-Id {}, request hash {})",
            a["attempt"],
            a["outcome"].as_str().unwrap_or("?"),
            a["portal_code"].as_str().unwrap_or(""),
            a["xroad_id"].as_str().unwrap_or("-"),
            a["xroad_request_hash"]
                .as_str()
                .map_or("-".to_owned(), |h| format!("{}…", &h[..h.len().min(16)]))
        );
    }
    let calls = ss.calls();
    if let Some(c) = calls.iter().rev().find(|c| c.error.is_none()) {
        println!(
            "   {} {} with X-Road-Client {} and X-Road-Issue {} → forwarded to {}",
            c.method,
            c.target,
            c.client.as_deref().unwrap_or("?"),
            c.issue.as_deref().unwrap_or("?"),
            c.forwarded_to.as_deref().unwrap_or("?")
        );
    }
    if sim.hoso(code).is_none() {
        bail!("the dossier did not reach DVCQG through the Security Server");
    }
    println!(
        "   DVCQG has {code}: {} call(s) went through the Security Server, {} answered with an X-Road error",
        calls.len(),
        calls.iter().filter(|c| c.error.is_some()).count()
    );
    stop.cancel();
    server.await.context("X-Road gateway task")??;
    sim.stop().await;
    Ok(())
}
