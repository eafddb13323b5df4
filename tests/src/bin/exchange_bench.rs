//! Inter-level exchange benchmark: two real `lienthong` processes (province and commune) on
//! loopback over mutual TLS with signed edXML.
//!
//! Phase 1 (throughput): `--dossiers` dossiers, each with one `--attachment-kib` file, are
//! submitted to the province; the time until the commune's center webhook has all of them gives
//! dossiers/s (fetch, render, sign, send, verify, store, answer, forward).
//! Phase 2 (memory): `--big` documents of `--big-mib` MiB each (signed by the province) are
//! posted to the commune at once; the commune's peak RSS (VmHWM) is reported against the
//! largest document.
//!
//! ```sh
//! cargo build --release -p lienthong -p lienthong-tests
//! target/release/exchange_bench --dossiers 500 --attachment-kib 200 --big 20 --big-mib 20
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use lienthong_certs::keys::PrivateKey;
use lienthong_certs::xmldsig::{Placement, SignOptions, Signer, XmlSignatureAlgorithm, sign};
use lienthong_tests::file_server::FileServer;
use lienthong_tests::gateway_process::rss_kib;
use lienthong_tests::two_level::province_and_commune;
use serde_json::{Value, json};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Exchange benchmark between two lienthong instances (loopback only)")]
struct Args {
    /// Dossiers sent province → commune.
    #[arg(long, default_value_t = 500)]
    dossiers: usize,
    /// Size of each dossier's one attachment, KiB.
    #[arg(long, default_value_t = 200)]
    attachment_kib: usize,
    /// Concurrent submitting clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Large documents posted to the commune at once.
    #[arg(long, default_value_t = 20)]
    big: usize,
    /// Size of each large document's attachment, MiB.
    #[arg(long, default_value_t = 20)]
    big_mib: usize,
}

fn noise(size: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}

/// A signed edXML dossier message carrying `attachment` (what the province's connector sends).
fn big_document(code: &str, number: usize, attachment: &[u8], signer: &Signer) -> String {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, attachment);
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+7));
    let stamp = format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageHeader><edXML:From><edXML:OrganId>000.02.01.H37</edXML:OrganId><edXML:OrganName>Trung tâm Phục vụ hành chính công tỉnh Ninh Bình</edXML:OrganName></edXML:From><edXML:To><edXML:OrganId>000.00.12.H37</edXML:OrganId></edXML:To><edXML:DocumentId>000.02.01.H37,2026/11/29,big{number}/LT</edXML:DocumentId><edXML:Subject>Hồ sơ lớn {number}</edXML:Subject><edXML:OtherInfo><edXML:ReferenceCodes>{code}</edXML:ReferenceCodes></edXML:OtherInfo></edXML:MessageHeader><edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>000.02.01.H37</edXML:OrganId><edXML:Timestamp>{stamp}</edXML:Timestamp></edXML:TraceHeader><edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType></edXML:Bussiness></edXML:TraceHeaderList></edXML:edXMLHeader><edXML:edXMLBody/></edXML:edXMLEnvelope><edXML:AttachmentEncoded><edXML:Attachment><edXML:ContentId>tp-0</edXML:ContentId><edXML:ContentType>application/pdf</edXML:ContentType><edXML:AttachmentName>ban-ve.pdf</edXML:AttachmentName><edXML:ContentTransferEncoded>{b64}</edXML:ContentTransferEncoded></edXML:Attachment></edXML:AttachmentEncoded></edXML:edXML>"#
    );
    let options = SignOptions {
        placement: Placement::After {
            ns: "http://www.mic.gov.vn/TBT/QCVN_102_2016".into(),
            local: "TraceHeaderList".into(),
        },
        ..SignOptions::default()
    };
    sign(&xml, signer, &options).unwrap_or_else(|e| {
        eprintln!("signing failed: {e}");
        std::process::exit(1)
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (province, commune) = province_and_commune().await;
    let p = province
        .start(&province.config(&commune, &commune.exchange_url(), ""))
        .await;
    let c = commune
        .start(&commune.config(&province, &province.exchange_url(), ""))
        .await;
    let cpid = c.pid().context("commune pid")?;

    // Phase 1: throughput.
    let file = noise(args.attachment_kib * 1024, 7);
    let mut files = BTreeMap::new();
    files.insert("ho-so.pdf".to_string(), file.clone());
    let store = FileServer::start(files).await?;
    let mut template: Value = serde_json::from_str(include_str!(
        "../../../examples/dossier-business-registration.json"
    ))?;
    let mut doc = template["documents"][0].clone();
    doc["size"] = json!(file.len());
    doc["sha256"] = json!(lienthong_certs::sha256_hex(&file));
    doc["url"] = json!(store.url("ho-so.pdf"));
    template["documents"] = json!([doc]);
    let template = Arc::new(template);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let (next, template, http, base) = (
            next.clone(),
            template.clone(),
            p.http.clone(),
            p.base_url.clone(),
        );
        let n = args.dossiers;
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let mut d = (*template).clone();
                d["code"] = json!(format!("000.02.01.H37-261129-{i:06}"));
                let r = http
                    .post(format!("{base}/v1/dossiers"))
                    .json(&d)
                    .send()
                    .await?;
                if r.status().as_u16() != 202 {
                    bail!("intake answered {}", r.status());
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let submitted = started.elapsed();
    let all = commune
        .center
        .wait_for(Duration::from_secs(600), |n| n.len() >= args.dossiers)
        .await;
    if !all {
        bail!(
            "only {} of {} dossiers reached the commune's center",
            commune.center.notices().len(),
            args.dossiers
        );
    }
    let total = started.elapsed();
    println!(
        "exchange: {} dossiers with a {} KiB attachment, province → commune, signed and verified",
        args.dossiers, args.attachment_kib
    );
    println!("  submitted in {:.2} s", submitted.as_secs_f64());
    println!(
        "  all at the commune's center in {:.2} s: {:.1} dossiers/s",
        total.as_secs_f64(),
        args.dossiers as f64 / total.as_secs_f64()
    );
    println!(
        "  commune RSS after phase 1: {:.1} MiB (peak {:.1} MiB)",
        rss_kib(cpid, "VmRSS:") as f64 / 1024.0,
        rss_kib(cpid, "VmHWM:") as f64 / 1024.0
    );

    // Phase 2: many large documents at once.
    let key = Arc::new(PrivateKey::from_bytes(
        province.signing.key_pem.as_bytes(),
        "province signing key",
    )?);
    let signer = Signer::new(
        key,
        vec![province.signing.cert.clone()],
        XmlSignatureAlgorithm::RsaSha256,
    )?;
    let big = noise(args.big_mib * 1024 * 1024, 11);
    let docs: Vec<String> = (0..args.big)
        .map(|i| big_document(&format!("000.02.01.H37-261129-9{i:05}"), i, &big, &signer))
        .collect();
    let largest = docs.iter().map(String::len).max().unwrap_or(0);
    let before = rss_kib(cpid, "VmHWM:");
    let client = commune.peer_client(&province);
    let url = commune.exchange_url();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for d in docs {
        let (client, url) = (client.clone(), url.clone());
        // As the peer connector does: a 503 (budget in use) is retried after Retry-After.
        tasks.spawn(async move {
            loop {
                let status = client
                    .post(&url)
                    .header("content-type", "application/xml")
                    .body(d.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())?;
                if status != 503 {
                    return Ok::<u16, reqwest::Error>(status);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        if r?? == 200 {
            ok += 1;
        }
    }
    let peak = rss_kib(cpid, "VmHWM:");
    println!(
        "large documents: {} of {} accepted at once, {:.1} MiB each, in {:.2} s",
        ok,
        args.big,
        largest as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    println!(
        "  commune peak RSS {:.1} MiB (before {:.1} MiB) = {:.1}× the largest document",
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
        (peak as f64 * 1024.0) / largest as f64
    );
    drop(p);
    drop(c);
    Ok(())
}
