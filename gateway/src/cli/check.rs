//! `lienthong check-config`: every problem of the configuration with its key, what its files
//! hold, each destination's own checks, and (with `--probe`) each destination's health.

use super::*;

/// `check-config`: every problem of the file and of what it names in one run, each with its key,
/// and "ok" only when there is none; then the probes.
pub(super) fn check_config(path: &Path, probe: bool) -> anyhow::Result<ExitCode> {
    let report = |problems: Vec<crate::config::ConfigError>| {
        for e in &problems {
            eprintln!("{}: {e}", path.display());
        }
        eprintln!("{} problem(s) found", problems.len());
        Ok(ExitCode::FAILURE)
    };
    // Every file first, whatever else is wrong; then what the text and the loading find, less
    // what a missing file already explains.
    let files = crate::config::Config::file_problems(path);
    let mut problems = files.clone();
    let explained = |e: &crate::config::ConfigError| {
        files.iter().any(|f| {
            f.message
                .split_whitespace()
                .next()
                .is_some_and(|p| e.message.contains(p))
        })
    };
    let loaded = match crate::loaded::Loaded::load(path) {
        Ok(l) if files.is_empty() => l,
        Ok(_) => return report(problems),
        Err(errors) => {
            problems.extend(errors.0.into_iter().filter(|e| !explained(e)));
            return report(problems);
        }
    };
    // Each destination's connector is built as `serve` builds it (credentials read, mappings
    // compiled) before anything is said to be ok.
    let destinations = match crate::delivery::destinations::build(
        &loaded.config,
        &loaded.security,
        &loaded.mappings,
    ) {
        Ok(d) => d,
        Err(errors) => {
            return report(
                errors
                    .0
                    .into_iter()
                    .flat_map(destination_problems)
                    .collect(),
            );
        }
    };
    let c = &loaded.config;
    println!(
        "{}: ok ({} destination(s): {}; {} route(s))",
        path.display(),
        c.destinations.len(),
        c.destinations
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        c.routes.len()
    );
    for w in c.warnings() {
        eprintln!("{}: warning: {w}", path.display());
    }
    for role in crate::auth::tokens::needed(c) {
        println!(
            "{}: not set: `serve` uses the {} token it generates at its first start, in {} (mode 0600; `lienthong tokens show {}`)",
            role.key(),
            role.as_str(),
            crate::auth::tokens::file_of(c, role).display(),
            role.as_str()
        );
    }
    runtime()?.block_on(probe::run(&loaded, destinations, probe))
}

/// A destination that could not be built, as problems with the exact key where there is one.
pub(super) fn destination_problems(
    e: crate::delivery::destinations::DestinationError,
) -> Vec<crate::config::ConfigError> {
    let name = e.name;
    match e.source {
        lienthong_connectors::BuildError::Config(problems) => problems
            .into_iter()
            .map(|p| crate::config::ConfigError {
                key: format!("destinations.{name}.{}", p.key),
                message: p.message,
            })
            .collect(),
        other => vec![crate::config::ConfigError {
            key: format!("destinations.{name}"),
            message: other.to_string(),
        }],
    }
}

pub(super) fn mapping_sets(
    config_path: &Path,
    dir: Option<PathBuf>,
) -> anyhow::Result<Vec<(String, Result<MappingSet, lienthong_mappings::LoadError>)>> {
    if let Some(dir) = dir {
        return Ok(vec![(
            dir.display().to_string(),
            MappingSet::from_dir(&dir),
        )]);
    }
    let edxml = (
        "edxml (built-in)".to_owned(),
        MappingSet::from_sources(
            "builtin:edxml",
            lienthong_connectors::peer::BUILTIN_MAPPINGS,
        ),
    );
    if !config_path.exists() {
        let mut sets: Vec<_> = DestinationKind::NAMES
            .iter()
            .filter_map(|kind| {
                DestinationKind::rendering_of(kind)
                    .map(|r| (format!("{kind} (built-in)"), (r.load)(None)))
            })
            .collect();
        sets.push(edxml);
        return Ok(sets);
    }
    let config = load(config_path)?;
    let mut sets: Vec<_> = config
        .destinations
        .iter()
        // Webhooks send the canonical JSON: no mapping files.
        .filter_map(|(name, d)| d.kind.mappings().map(|set| (name.clone(), set)))
        .collect();
    sets.push(edxml);
    Ok(sets)
}
