//! Load generator: drives the real `lienthong` binary over HTTP on loopback against the DVCQG
//! simulator and reports intake throughput and latency, end-to-end delivery throughput and the
//! gateway's peak RSS.
//!
//! Phase 1 (intake): the portal is down, `--clients` concurrent clients submit `--dossiers`
//! dossiers; deliveries pile up in the store (so the RSS reading is taken with the whole backlog
//! queued). Phase 2 (delivery): the portal comes back; the time until it has every dossier gives
//! the delivery rate. Optionally (`--mixed`) a third phase measures intake while deliveries flow.
//!
//! `--postgres` runs on a fresh PostgreSQL database (on the server `LIENTHONG_TEST_POSTGRES`
//! names, dropped afterwards) instead of a SQLite file, and `--instances N` starts N gateways on
//! it, the clients spread over them as behind a load balancer.
//!
//! ```sh
//! cargo build --release -p lienthong
//! cargo run --release -p lienthong-tests --bin loadgen -- --dossiers 20000 --clients 64
//! cargo run --release -p lienthong-tests --bin loadgen -- --dossiers 20000 --clients 64 --postgres --instances 3
//! cargo run --release -p lienthong-tests --bin loadgen -- --dossiers 20000 --clients 64 --compare 3
//! ```
//!
//! `--compare ROUNDS` measures intake against its ceiling (the `ceiling` binary: parse, answer
//! 202, no store), alternating the two in one run; `scripts/bench-ratio` runs it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use lienthong_tests::DvcqgSim;
use lienthong_tests::gateway_process::{TestConfig, free_port, rss_kib};
use serde_json::{Value, json};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Load generator for the lienthong gateway (loopback only)")]
struct Args {
    /// Dossiers to submit.
    #[arg(long, default_value_t = 20_000)]
    dossiers: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Deliveries in flight at once towards the portal.
    #[arg(long, default_value_t = 64)]
    delivery_concurrency: usize,
    /// `session` or `lgsp`.
    #[arg(long, default_value = "session")]
    transport: String,
    /// The lienthong binary (default: next to this program).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Also measure intake while deliveries flow (a second batch of the same size).
    #[arg(long)]
    mixed: bool,
    /// Offered load in dossiers per second (open loop: each request has a scheduled time and
    /// its latency counts from then, so a gateway that falls behind is not hidden). Without it,
    /// the clients send as fast as answers come back (closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Run on a fresh PostgreSQL database instead of a SQLite file.
    #[arg(long)]
    postgres: bool,
    /// Gateways sharing the store (needs `--postgres` above 1).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Compare intake with its ceiling: ROUNDS rounds, each posting `--dossiers` to the gateway
    /// and then to the `ceiling` server (next to this program: it only parses the dossier and
    /// answers 202), with the same clients and load; prints both and their ratio per round.
    /// The portal stays down; nothing is delivered.
    #[arg(long)]
    compare: Option<usize>,
    /// With `--compare`: a second lienthong binary (an earlier build, the baseline) started the
    /// same way on a store of its own; each round measures the ceiling, the baseline and the
    /// gateway one after the other, so a change is judged against the code before it in the
    /// same run on the same machine.
    #[arg(long)]
    baseline: Option<PathBuf>,
}

fn dossier(template: &Value, n: usize) -> Value {
    let mut d = template.clone();
    d["code"] = json!(format!("000.02.01.H37-261128-{n:07}"));
    d
}

struct Intake {
    elapsed: Duration,
    latencies_us: Vec<u64>,
    errors: usize,
}

async fn intake(
    token: &str,
    bases: &[String],
    template: &Value,
    range: std::ops::Range<usize>,
    clients: usize,
    rate: Option<f64>,
) -> Intake {
    let first = range.start;
    let next = Arc::new(AtomicUsize::new(range.start));
    let end = range.end;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .default_headers(headers)
        .build()
        .expect("client");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (next, http, base, template) = (
            next.clone(),
            http.clone(),
            bases[c % bases.len()].clone(),
            template.clone(),
        );
        let origin = tokio::time::Instant::from_std(start);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    break;
                }
                let body = serde_json::to_vec(&dossier(&template, n)).expect("json");
                let t = match rate {
                    Some(r) => {
                        let at = origin + Duration::from_secs_f64((n - first) as f64 / r);
                        tokio::time::sleep_until(at).await;
                        at.into_std()
                    }
                    None => Instant::now(),
                };
                let r = http
                    .post(format!("{base}/v1/dossiers"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 202 => {
                        lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX))
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client");
        latencies_us.extend(l);
        errors += e;
    }
    latencies_us.sort_unstable();
    Intake {
        elapsed: start.elapsed(),
        latencies_us,
        errors,
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// CPU seconds (user + system) the process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may contain spaces) start after the last ')'.
            let rest = s.rsplit(')').next()?.split_whitespace().collect::<Vec<_>>();
            let utime: f64 = rest.get(11)?.parse().ok()?;
            let stime: f64 = rest.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0)
}

fn report(label: &str, i: &Intake) {
    let n = i.latencies_us.len();
    println!(
        "{label}: {n} accepted in {:.2} s = {:.0} dossiers/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} errors",
        i.elapsed.as_secs_f64(),
        n as f64 / i.elapsed.as_secs_f64(),
        pct(&i.latencies_us, 0.50),
        pct(&i.latencies_us, 0.99),
        pct(&i.latencies_us, 1.0),
        i.errors
    );
}

async fn wait_delivered(sim: &DvcqgSim, want: usize, limit: Duration) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        let have = sim.dossier_codes().len();
        if have >= want {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            bail!("only {have} of {want} delivered after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Cumulative figures of a gateway's store write groups (`lienthong_store_group_operations`,
/// `lienthong_store_commit_seconds`): how many groups, how many operations they answered, and
/// the commit-time histogram.
#[derive(Debug, Clone, Default)]
struct Groups {
    count: f64,
    operations: f64,
    commit_seconds: f64,
    /// (upper bound in seconds, groups whose commit took at most that), ascending.
    commit_buckets: Vec<(f64, f64)>,
    /// New dossiers answered by the store, and their time from submission to answer in the
    /// same form (`lienthong_store_op_seconds{op="intake_dossier"}`): the time a request spent
    /// in the store, queue included, as against its HTTP latency.
    intakes: f64,
    intake_buckets: Vec<(f64, f64)>,
}

/// A finite bucket of a Prometheus histogram line that starts with `prefix` (which ends at the
/// opening quote of `le`): (upper bound, cumulative count).
fn bucket(line: &str, prefix: &str) -> Option<(f64, f64)> {
    let rest = line.strip_prefix(prefix)?;
    let le = rest.split('"').next()?;
    if le == "+Inf" {
        return None;
    }
    Some((le.parse().ok()?, line.rsplit(' ').next()?.parse().ok()?))
}

/// The smallest bucket bound holding `share` of the `total` observations made between
/// `before` and `after` (cumulative Prometheus buckets), in words.
fn quantile(after: &[(f64, f64)], before: &[(f64, f64)], total: f64, share: f64) -> String {
    after
        .iter()
        .map(|(le, n)| {
            let was = before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |(_, n)| *n);
            (*le, n - was)
        })
        .find(|(_, n)| *n >= share * total)
        .map_or_else(
            || "over the largest bucket".to_owned(),
            |(le, _)| format!("≤ {:.1} ms", le * 1e3),
        )
}

impl Groups {
    fn parse(text: &str) -> Option<Self> {
        let mut g = Self::default();
        let value = |line: &str| line.rsplit(' ').next()?.parse::<f64>().ok();
        for line in text.lines() {
            if line.starts_with("lienthong_store_group_operations_count") {
                g.count = value(line)?;
            } else if line.starts_with("lienthong_store_group_operations_sum") {
                g.operations = value(line)?;
            } else if line.starts_with("lienthong_store_commit_seconds_sum") {
                g.commit_seconds = value(line)?;
            } else if let Some(b) = bucket(line, "lienthong_store_commit_seconds_bucket{le=\"") {
                g.commit_buckets.push(b);
            } else if line.starts_with("lienthong_store_op_seconds_count{op=\"intake_dossier\"}") {
                g.intakes = value(line)?;
            } else if let Some(b) = bucket(
                line,
                "lienthong_store_op_seconds_bucket{op=\"intake_dossier\",le=\"",
            ) {
                g.intake_buckets.push(b);
            }
        }
        (g.count > 0.0).then_some(g)
    }

    /// What happened between `before` and `self`, in words.
    fn since(&self, before: Option<&Self>) -> String {
        let zero = Self::default();
        let b = before.unwrap_or(&zero);
        let groups = self.count - b.count;
        if groups <= 0.0 {
            return "no write groups".to_owned();
        }
        let ops = (self.operations - b.operations) / groups;
        let mean = (self.commit_seconds - b.commit_seconds) / groups * 1e3;
        let p99 = quantile(&self.commit_buckets, &b.commit_buckets, groups, 0.99);
        let intakes = self.intakes - b.intakes;
        let (p50_store, p99_store) = (
            quantile(&self.intake_buckets, &b.intake_buckets, intakes, 0.50),
            quantile(&self.intake_buckets, &b.intake_buckets, intakes, 0.99),
        );
        format!(
            "{groups:.0} write groups, {ops:.1} operations each on average, commit {mean:.2} ms on average, p99 {p99}; a new dossier's time in the store (queue, group, commit): p50 {p50_store}, p99 {p99_store}"
        )
    }
}

/// The gateways under load: their processes, addresses, the center's token and, on
/// PostgreSQL, their database (dropped by [`Gateways::stop`]).
struct Gateways {
    children: Vec<tokio::process::Child>,
    pids: Vec<u32>,
    bases: Vec<String>,
    token: String,
    admin: String,
    database: Option<lienthong_tests::postgres::TestDatabase>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Gateways {
    /// Starts `args.instances` gateways from `binary` on a store of their own, waits until each
    /// is ready and reads the center's token.
    async fn start(binary: &Path, args: &Args, sim: &DvcqgSim) -> anyhow::Result<Self> {
        let database = if args.postgres {
            Some(lienthong_tests::postgres::TestDatabase::create().await)
        } else {
            None
        };
        let mut children = Vec::new();
        let mut pids = Vec::new();
        let mut bases = Vec::new();
        let mut config_paths = Vec::new();
        let dirs: Vec<tempfile::TempDir> = (0..args.instances.max(1))
            .map(|_| tempfile::tempdir())
            .collect::<Result<_, _>>()?;
        for (n, dir) in dirs.iter().enumerate() {
            let port = free_port();
            let cfg = TestConfig {
                transport: args.transport.clone(),
                concurrency: args.delivery_concurrency,
                breaker: "failures = 3\ncool_down = \"200ms\"\nmax_cool_down = \"200ms\"\n".into(),
                retry: "initial = \"100ms\"\nmultiplier = 2.0\nmax_delay = \"200ms\"\nmax_attempts = 1000\nmax_age = \"2h\"\n".into(),
                store_url: database.as_ref().map(|d| d.url.clone()),
                server_extra: format!("instance = \"load-{n}\"\n"),
                ..TestConfig::default()
            };
            let config = cfg
                .render(dir.path(), port, sim)
                .replace("level = \"info\"", "level = \"error\"");
            let config_path = dir.path().join("lienthong.toml");
            std::fs::write(&config_path, config)?;
            // LOADGEN_GATEWAY_LOG (a LIENTHONG_LOG filter) lets a profiling run see, say, every
            // statement's time: `LOADGEN_GATEWAY_LOG=error,sqlx::query=debug`.
            let log = std::env::var("LOADGEN_GATEWAY_LOG").unwrap_or_else(|_| "error".to_owned());
            let child = tokio::process::Command::new(binary)
                .env("LIENTHONG_LOG", log)
                .args(["serve", "--config"])
                .arg(&config_path)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("spawn lienthong")?;
            pids.push(child.id().context("pid")?);
            children.push(child);
            let base = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::new();
            let ready = Instant::now();
            while http.get(format!("{base}/readyz")).send().await.is_err() {
                if ready.elapsed() > Duration::from_secs(30) {
                    bail!("gateway not ready");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            bases.push(base);
            config_paths.push(config_path);
        }
        // The tokens the first instance generated (the others share them through the store).
        let show = |role: &str| -> anyhow::Result<String> {
            let out = std::process::Command::new(binary)
                .args(["tokens", "show", role, "--config"])
                .arg(&config_paths[0])
                .output()
                .with_context(|| format!("lienthong tokens show {role}"))?;
            if !out.status.success() {
                bail!(
                    "no {role} token: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        let token = show("center")?;
        let admin = show("admin")?;
        Ok(Self {
            children,
            pids,
            bases,
            token,
            admin,
            database,
            _dirs: dirs,
        })
    }

    /// CPU seconds (user + system) the gateways have used so far.
    fn cpu(&self) -> f64 {
        self.pids.iter().map(|p| cpu_secs(*p)).sum()
    }

    /// Posts dossiers `range` to the gateways; the intake and the gateways' CPU per dossier (µs).
    async fn measure(
        &self,
        template: &Value,
        range: std::ops::Range<usize>,
        args: &Args,
    ) -> (Intake, f64) {
        let cpu0 = self.cpu();
        let i = intake(
            &self.token,
            &self.bases,
            template,
            range,
            args.clients,
            args.rate,
        )
        .await;
        let per = (self.cpu() - cpu0) * 1e6 / i.latencies_us.len().max(1) as f64;
        (i, per)
    }

    /// The first gateway's write groups so far, from its `/metrics` (`None` for a build without
    /// these metrics, such as a baseline before they existed).
    async fn groups(&self) -> Option<Groups> {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.bases[0]))
            .bearer_auth(&self.admin)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        Groups::parse(&text)
    }

    /// Stops the gateways and drops their database.
    async fn stop(self) {
        for mut c in self.children {
            c.kill().await.ok();
        }
        if let Some(db) = self.database {
            db.drop_database().await;
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let binary = match args.binary.clone() {
        Some(b) => b,
        None => std::env::current_exe()?
            .parent()
            .context("exe dir")?
            .join("lienthong"),
    };
    if !binary.exists() {
        bail!(
            "{} not found: run `cargo build --release -p lienthong` first",
            binary.display()
        );
    }
    if args.instances > 1 && !args.postgres {
        bail!("--instances above 1 needs --postgres (a SQLite file has one writer process)");
    }
    let sim = DvcqgSim::start().await?;
    let gateways = Gateways::start(&binary, &args, &sim).await?;
    let baseline = match &args.baseline {
        Some(b) if args.compare.is_some() => Some(Gateways::start(b, &args, &sim).await?),
        Some(_) => bail!("--baseline goes with --compare"),
        None => None,
    };
    let Gateways {
        pids, bases, token, ..
    } = &gateways;
    let token = token.clone();
    let rss = |field: &str| pids.iter().map(|p| rss_kib(*p, field)).sum::<u64>();
    let cpu = || gateways.cpu();
    let peak = Arc::new(AtomicUsize::new(0));
    {
        let (peak, pids) = (peak.clone(), pids.clone());
        tokio::spawn(async move {
            loop {
                let r: u64 = pids.iter().map(|p| rss_kib(*p, "VmRSS:")).sum();
                peak.fetch_max(usize::try_from(r).unwrap_or(0), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let template: Value = serde_json::from_str(include_str!(
        "../../../examples/dossier-business-registration.json"
    ))?;
    println!(
        "loadgen: {} dossiers, {} clients ({}), {} transport, delivery concurrency {}, {} on {}, {} cores",
        args.dossiers,
        args.clients,
        args.rate.map_or_else(
            || "closed loop".to_owned(),
            |r| format!("open loop at {r:.0}/s")
        ),
        args.transport,
        args.delivery_concurrency,
        if args.instances == 1 {
            "1 instance".to_owned()
        } else {
            format!("{} instances", args.instances)
        },
        if args.postgres {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    sim.update_faults(|f| f.down = true);
    if let Some(rounds) = args.compare {
        let ceiling_bin = binary.with_file_name("ceiling");
        let ceiling = std::env::current_exe()?
            .parent()
            .context("exe dir")?
            .join("ceiling");
        let ceiling = if ceiling.exists() {
            ceiling
        } else {
            ceiling_bin
        };
        let port = free_port();
        let _server = tokio::process::Command::new(&ceiling)
            .arg(port.to_string())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", ceiling.display()))?;
        let ceiling_base = vec![format!("http://127.0.0.1:{port}")];
        let http = reqwest::Client::new();
        let ready = Instant::now();
        while http
            .get(format!("{}/readyz", ceiling_base[0]))
            .send()
            .await
            .is_err()
        {
            if ready.elapsed() > Duration::from_secs(10) {
                bail!("ceiling server not ready");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match &baseline {
            None => {
                println!(
                    "| round | ceiling | gateway | ratio | gateway p50 / p99 | ceiling p50 / p99 | gateway CPU per dossier |"
                );
                println!("|---|---|---|---|---|---|---|");
            }
            Some(_) => {
                println!(
                    "| round | ceiling | baseline | gateway | baseline ratio | gateway ratio | baseline p50 / p99 | gateway p50 / p99 | ceiling p50 / p99 | baseline CPU per dossier | gateway CPU per dossier |"
                );
                println!("|---|---|---|---|---|---|---|---|---|---|---|");
            }
        }
        let rate = |i: &Intake| i.latencies_us.len() as f64 / i.elapsed.as_secs_f64();
        let lat = |i: &Intake| {
            format!(
                "{:.1} / {:.1} ms",
                pct(&i.latencies_us, 0.50),
                pct(&i.latencies_us, 0.99)
            )
        };
        let errors = |label: &str, i: &Intake| {
            if i.errors > 0 {
                format!(" {} {label} errors", i.errors)
            } else {
                String::new()
            }
        };
        let mut notes = Vec::new();
        for round in 0..rounds {
            let range = round * args.dossiers..(round + 1) * args.dossiers;
            let c = intake(
                &token,
                &ceiling_base,
                &template,
                range.clone(),
                args.clients,
                args.rate,
            )
            .await;
            let b = match &baseline {
                Some(b) => Some(b.measure(&template, range.clone(), &args).await),
                None => None,
            };
            let groups_before = gateways.groups().await;
            let (g, g_cpu) = gateways.measure(&template, range, &args).await;
            let groups = gateways
                .groups()
                .await
                .map(|after| after.since(groups_before.as_ref()));
            if let Some(groups) = groups {
                notes.push(format!("round {}, gateway's store: {groups}", round + 1));
            }
            match b {
                None => println!(
                    "| {} | {:.0}/s | {:.0}/s | {:.3} | {} | {} | {:.0} µs |{}{}",
                    round + 1,
                    rate(&c),
                    rate(&g),
                    rate(&g) / rate(&c),
                    lat(&g),
                    lat(&c),
                    g_cpu,
                    errors("gateway", &g),
                    errors("ceiling", &c),
                ),
                Some((b, b_cpu)) => println!(
                    "| {} | {:.0}/s | {:.0}/s | {:.0}/s | {:.3} | {:.3} | {} | {} | {} | {:.0} µs | {:.0} µs |{}{}{}",
                    round + 1,
                    rate(&c),
                    rate(&b),
                    rate(&g),
                    rate(&b) / rate(&c),
                    rate(&g) / rate(&c),
                    lat(&b),
                    lat(&g),
                    lat(&c),
                    b_cpu,
                    g_cpu,
                    errors("baseline", &b),
                    errors("gateway", &g),
                    errors("ceiling", &c),
                ),
            }
        }
        for n in notes {
            println!("{n}");
        }
        if let Some(b) = baseline {
            b.stop().await;
        }
        gateways.stop().await;
        return Ok(());
    }

    // Phase 1: intake alone; deliveries queue while the portal is down.
    let cpu0 = cpu();
    let i = intake(
        &token,
        bases,
        &template,
        0..args.dossiers,
        args.clients,
        args.rate,
    )
    .await;
    report("intake (portal down, backlog growing)", &i);
    let cpu1 = cpu();
    println!(
        "  gateways' CPU during intake: {:.2} s ({:.0} µs per dossier)",
        cpu1 - cpu0,
        (cpu1 - cpu0) * 1e6 / i.latencies_us.len().max(1) as f64
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued_rss = rss("VmRSS:");
    println!(
        "RSS with {} deliveries queued: {:.1} MiB",
        i.latencies_us.len(),
        queued_rss as f64 / 1024.0
    );

    // Phase 2: the portal comes back; drain.
    sim.update_faults(|f| f.down = false);
    let cpu2 = cpu();
    let t = wait_delivered(&sim, i.latencies_us.len(), Duration::from_secs(1800)).await?;
    let cpu3 = cpu();
    println!("  gateways' CPU during delivery: {:.2} s", cpu3 - cpu2);
    println!(
        "delivery: {} dossiers delivered in {:.2} s = {:.0} deliveries/s ({} portal calls)",
        i.latencies_us.len(),
        t.as_secs_f64(),
        i.latencies_us.len() as f64 / t.as_secs_f64(),
        sim.calls().len()
    );

    if args.mixed {
        let start = Instant::now();
        let m = intake(
            &token,
            bases,
            &template,
            args.dossiers..2 * args.dossiers,
            args.clients,
            args.rate,
        )
        .await;
        report("intake while delivering", &m);
        let t = wait_delivered(
            &sim,
            i.latencies_us.len() + m.latencies_us.len(),
            Duration::from_secs(1800),
        )
        .await?;
        let total = start.elapsed().max(t);
        println!(
            "end to end: {} dossiers accepted and delivered in {:.2} s = {:.0} deliveries/s",
            m.latencies_us.len(),
            total.as_secs_f64(),
            m.latencies_us.len() as f64 / total.as_secs_f64()
        );
    }
    println!(
        "peak RSS: {:.1} MiB (VmHWM {:.1} MiB)",
        peak.load(Ordering::Relaxed) as f64 / 1024.0,
        rss("VmHWM:") as f64 / 1024.0
    );
    gateways.stop().await;
    Ok(())
}
