//! Step 7 of the demo: the national systems (hệ thống quốc gia). One gateway talks to simulated
//! DVCQG, NBRS, EMC and investment systems and takes pushes from the payment platform: a
//! business registration goes to NBRS and DVCQG and NBRS's decision comes back by polling; an
//! investment registration goes as signed XML and its decision comes back by signed callback; a
//! payment is confirmed (and a forged confirmation refused); EMC is told every step. The summary
//! shows what each system received and what the center was told.

use std::time::Duration;

use anyhow::{Context, bail};
use lienthong_simulators::gateway_process::example;
use lienthong_simulators::national::National;
use lienthong_simulators::pushers::{PAYMENT_SECRET, payment_confirmation, portal_time};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::Client;
use lienthong::config::Config;

/// How long each step may take before the demo gives up.
const STEP: Duration = Duration::from_secs(30);

impl Client {
    /// Posts a raw body (a push in its pusher's format).
    async fn push(&self, source: &str, body: String) -> anyhow::Result<(u16, Value)> {
        let r = self
            .http
            .post(format!("{}/v1/callbacks/{source}", self.base))
            .body(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    /// Waits until the dossier has the event `id`.
    async fn wait_event(&self, code: &str, id: &str) -> anyhow::Result<Value> {
        let start = std::time::Instant::now();
        loop {
            let v = self.get(&format!("/v1/dossiers/{code}")).await?;
            if let Some(e) = v["events"]
                .as_array()
                .and_then(|ev| ev.iter().find(|e| e["id"] == id))
            {
                return Ok(e.clone());
            }
            if start.elapsed() > STEP {
                bail!("event {id} of {code} not recorded within {STEP:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn until(what: &str, check: impl Fn() -> bool) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    while !check() {
        if start.elapsed() > STEP {
            bail!("{what} did not happen within {STEP:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn destinations(answer: &Value) -> String {
    let mut to: Vec<&str> = answer["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["destination"].as_str()).collect())
        .unwrap_or_default();
    to.sort_unstable();
    to.join(", ")
}

/// Runs step 7.
///
/// Errors: the gateway did not start, or a step did not complete in time.
pub(super) async fn run() -> anyhow::Result<()> {
    println!("\n7. National systems (hệ thống quốc gia)…");
    let dir = tempfile::Builder::new()
        .prefix("lienthong-demo-national-")
        .tempdir()
        .context("temporary directory")?;
    let n = National::start(dir.path())
        .await
        .context("starting the simulators")?;
    let text = n.config(dir.path(), 0, "300ms");
    std::fs::write(dir.path().join("lienthong.toml"), &text)?;
    let config = Config::from_toml(&text, std::iter::empty())
        .map_err(|e| anyhow::anyhow!("national demo config: {e}"))?;
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
        bail!("the national-systems gateway did not become ready");
    }
    let client = client.with_generated_tokens(dir.path());
    println!(
        "   gateway http://127.0.0.1:{port} (loopback) with DVCQG, NBRS, EMC, the investment system and the center's webhook simulated"
    );

    // A business registration: NBRS + DVCQG + EMC; NBRS decides, polled.
    let business = example("dossier-business-registration.json");
    let b = business["code"].as_str().context("code")?.to_owned();
    let (s, a) = client.post("/v1/dossiers", &business).await?;
    if s != 202 {
        bail!("business dossier: HTTP {s}: {a}");
    }
    println!("   business registration {b} → {}", destinations(&a));
    until("the NBRS submission", || n.nbrs.journal_no(&b).is_some()).await?;
    let journal = n.nbrs.journal_no(&b).context("journal")?;
    println!("     NBRS took it: receipt number (IN_JOURNAL_NO) {journal}; polled until final");
    for (code, meaning) in [("1", "received"), ("2", "processing"), ("4", "registered")] {
        n.nbrs.set_status(&journal, code);
        let e = client
            .wait_event(&b, &format!("nbrs:{journal}:{code}"))
            .await?;
        println!(
            "     NBRS PROCESS_STATUS {code} ({meaning}) → status event `{}`",
            e["status"].as_str().unwrap_or("?")
        );
    }

    // An investment registration: signed XML; the decision by signed callback.
    let investment = example("dossier-investment.json");
    let i = investment["code"].as_str().context("code")?.to_owned();
    let (s, a) = client.post("/v1/dossiers", &investment).await?;
    if s != 202 {
        bail!("investment dossier: HTTP {s}: {a}");
    }
    println!("   investment registration {i} → {}", destinations(&a));
    until("the investment registration", || {
        !n.investment.registrations().is_empty()
    })
    .await?;
    println!(
        "     sent as XML signed with the center's certificate (XML-DSig), verified and taken"
    );
    let now = OffsetDateTime::now_utc();
    let result = n
        .investment
        .result(&i, Some(("7654321098", "GCN-2026-15")), &portal_time(now));
    let (s, v) = client
        .push("investment", result.replace("7654321098", "1111111111"))
        .await?;
    println!("     a tampered decision: HTTP {s} {v}");
    let (s, v) = client.push("investment", result).await?;
    println!(
        "     the signed decision (project 7654321098, certificate GCN-2026-15): HTTP {s} {v}"
    );
    let e = client
        .wait_event(&i, "investment:granted:GCN-2026-15")
        .await?;
    println!(
        "     → status event `{}`: {}",
        e["status"].as_str().unwrap_or("?"),
        e["event"]["note"].as_str().unwrap_or("")
    );

    // A payment confirmation, and a forged one.
    let paid = payment_confirmation(&b, "GD-2026-000123", 50000, "00", now, PAYMENT_SECRET);
    let forged = payment_confirmation(&b, "GD-2026-000124", 50000, "00", now, "doan-mo");
    let (s, v) = client.push("payment", forged.to_string()).await?;
    println!("   payment confirmation with a wrong MaXacThuc: HTTP {s} {v} (not stored, not paid)");
    let (s, v) = client.push("payment", paid.to_string()).await?;
    println!("   payment confirmation GD-2026-000123 (50,000 VND): HTTP {s} {v}");

    let all = client.settle(STEP).await?;
    until("the center's notices", || n.center.notices().len() >= 5).await?;
    println!("\nNational systems summary (hệ thống quốc gia):");
    println!(
        "   {:<11} {:>9}  what it received",
        "destination", "delivered"
    );
    for dest in ["dvcqg", "nbrs", "emc", "investment", "center"] {
        let delivered = all
            .iter()
            .filter(|d| d["destination"] == dest && d["state"] == "delivered")
            .count();
        let what = match dest {
            "dvcqg" => format!(
                "2 dossiers, {} progress entries",
                n.dvcqg.progress(&b).len() + n.dvcqg.progress(&i).len()
            ),
            "nbrs" => "1 registration (status polled, never pushed to)".to_owned(),
            "emc" => {
                let statuses = |code: &str| -> Vec<String> {
                    n.emc
                        .reports_of(code)
                        .iter()
                        .map(|r| r["Status"].to_string())
                        .collect()
                };
                format!(
                    "reports: {} [{}], {} [{}]",
                    b,
                    statuses(&b).join(" "),
                    i,
                    statuses(&i).join(" ")
                )
            }
            "investment" => "1 signed registration".to_owned(),
            _ => {
                let events: Vec<String> =
                    n.center.notices().iter().map(|x| x.event.clone()).collect();
                format!("notices: {}", events.join(", "))
            }
        };
        println!("   {dest:<11} {delivered:>9}  {what}");
    }
    for code in [&b, &i] {
        let v = client.get(&format!("/v1/dossiers/{code}")).await?;
        println!(
            "   {code}: {} (status events: {})",
            v["status"].as_str().unwrap_or("?"),
            v["events"].as_array().map_or(0, Vec::len)
        );
    }
    stop.cancel();
    server.await.context("national gateway task")??;
    Ok(())
}
