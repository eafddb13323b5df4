//! `lienthong init [DIR]`: a starting configuration (cấu hình ban đầu) from the shipped example,
//! with its paths in `DIR`, the store in `--state-dir`, and empty secret files of mode 0600 —
//! then what to fill in before the first start. Nothing existing is overwritten.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

/// The example configuration this starts from (it documents every key).
const EXAMPLE: &str = include_str!("../../../deploy/config/lienthong.example.toml");

/// Keys the operator must set to their own values: (key, what it is).
const FILL_IN: &[(&str, &str)] = &[
    (
        "center.agency_code, center.agency_name",
        "the center's identifier (mã định danh) and name",
    ),
    (
        "attachments.allowed_urls",
        "where the one-stop software keeps the dossiers' files (every file a dossier names must be there)",
    ),
    (
        "destinations.dvcqg: base_url, username, madonvi, dstcode",
        "the national portal's address and the account its operator issued (or transport = \"lgsp\" and its keys)",
    ),
    (
        "destinations.emc: url, site_id; destinations.nbrs: base_url",
        "e-monitoring and business registration, with [destinations.*.oauth] token_url and client_id",
    ),
];

/// Writes the starting configuration into `dir` (store in `state_dir`) and prints what to fill
/// in.
///
/// Errors: `dir` already holds a `lienthong.toml`, or a file cannot be written.
pub fn run(dir: &Path, state_dir: &Path) -> anyhow::Result<ExitCode> {
    // The configuration names absolute paths: the service does not start where init ran.
    let dir = &std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
    let state_dir =
        &std::path::absolute(state_dir).with_context(|| format!("{}", state_dir.display()))?;
    let config = dir.join("lienthong.toml");
    if config.exists() {
        bail!(
            "{} exists: init does not overwrite a configuration (check it with `lienthong check-config --config {}`)",
            config.display(),
            config.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = EXAMPLE
        .replace("/etc/lienthong/", &format!("{}/", dir.display()))
        .replace("/var/lib/lienthong", &state_dir.display().to_string());
    write_new(&config, &text, 0o640)?;
    // The secret files the active part of the example names, empty, readable by their owner only.
    let parsed: toml::Table = toml::from_str(&text).context("the example configuration")?;
    let mut secrets = Vec::new();
    collect_secret_files(&toml::Value::Table(parsed), "", &mut secrets);
    let mut created = Vec::new();
    for (key, path) in &secrets {
        if !path.exists() {
            write_new(path, "", 0o600)?;
            created.push((key.clone(), path.clone()));
        }
    }
    println!("wrote {} (from the documented example)", config.display());
    println!("store: {}/lienthong.db (SQLite)", state_dir.display());
    println!("\nFill in before the first start (điền trước khi chạy lần đầu):");
    for (path, what) in FILL_IN {
        println!("  {path}: {what}");
    }
    println!("  the secret files, created empty with mode 0600 — write each secret into its file:");
    for (key, path) in &created {
        println!("    {}  ({key})", path.display());
    }
    println!(
        "  the admin and center tokens need nothing: the first `serve` generates them into {} (`lienthong tokens show admin`)",
        state_dir.display()
    );
    println!(
        "  receiving from other centers (liên thông) or signing: the commented [signing], [exchange] and peer blocks"
    );
    println!(
        "\nThen: lienthong check-config --config {} (it lists everything still missing, with its key)",
        config.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` with `text` and `mode`, refusing to replace an existing file.
fn write_new(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Every `*_file` key of `v` (the secrets), with its path.
fn collect_secret_files(v: &toml::Value, path: &str, out: &mut Vec<(String, PathBuf)>) {
    if let toml::Value::Table(t) = v {
        for (k, v) in t {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match v {
                toml::Value::String(s) if k.ends_with("_file") => {
                    if !out.iter().any(|(_, f)| f == Path::new(s)) {
                        out.push((p, PathBuf::from(s)));
                    }
                }
                _ => collect_secret_files(v, &p, out),
            }
        }
    }
}
