//! `lienthong mapping …` and `lienthong render-edxml`: render a dossier or an event with a
//! destination's mapping set, as the gateway would send it, without sending anything.

use super::*;

pub(super) fn mapping(config_path: &Path, command: MappingCommand) -> anyhow::Result<ExitCode> {
    match command {
        MappingCommand::Check { dir } => {
            let mut failed = 0;
            for (name, set) in mapping_sets(config_path, dir)? {
                match set {
                    Ok(s) => {
                        let names: Vec<&str> = s.mappings().map(|m| m.name()).collect();
                        println!("{name}: ok ({}: {})", s.origin(), names.join(", "));
                    }
                    Err(e) => {
                        failed += e.0.len();
                        for p in e.0 {
                            eprintln!("{name}: {p}");
                        }
                    }
                }
            }
            if failed > 0 {
                eprintln!("{failed} problem(s) found");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        MappingCommand::Render {
            destination,
            input,
            event,
            to,
        } if destination == "edxml" => render_edxml(&input, event.as_deref(), &to),
        MappingCommand::Render {
            destination,
            input,
            event,
            ..
        } => {
            let (set, rendering) = render_set(config_path, &destination)?;
            let read = |p: &Path| -> anyhow::Result<serde_json::Value> {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: invalid JSON", p.display()))
            };
            let dossier = Dossier::from_json(read(&input)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
            // Without an event, the dossier as it is first sent; with one, that event's
            // progress message, as the gateway builds it for a stored dossier.
            let body = match event {
                None => MessageBody::Dossier {
                    op: DossierOp::Create,
                    dossier: Box::new(dossier),
                },
                Some(path) => {
                    let event = StatusEvent::from_json(read(&path)?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    MessageBody::Progress(ProgressInput {
                        dossier: Some(Box::new(lienthong_mappings::DossierContext::of(&dossier))),
                        response_for: None,
                        dossier_code: dossier.code.clone(),
                        event,
                    })
                }
            };
            match (rendering.render)(&set, &body)
                .map_err(|e| anyhow::anyhow!("{destination}: {e}"))?
            {
                Preview::Json(value) => println!("{}", serde_json::to_string_pretty(&value)?),
                // An XML document as it is signed and sent (the signature is added at sending).
                Preview::Xml(xml) => print!("{xml}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The mapping set and rendering `mapping render --destination <destination>` uses: the
/// configured destination of that name, else the built-in mappings of the kind of that name.
pub(super) fn render_set(
    config_path: &Path,
    destination: &str,
) -> anyhow::Result<(MappingSet, Rendering)> {
    let builtin = |why: String| -> anyhow::Result<(MappingSet, Rendering)> {
        let Some(rendering) = DestinationKind::rendering_of(destination) else {
            let kinds: Vec<&str> = DestinationKind::NAMES
                .iter()
                .copied()
                .filter(|k| DestinationKind::rendering_of(k).is_some())
                .chain(["edxml"])
                .collect();
            bail!("{why}: the built-in mappings are {}", kinds.join(", "));
        };
        let set = (rendering.load)(None).map_err(|e| anyhow::anyhow!("{destination}: {e}"))?;
        Ok((set, rendering))
    };
    if !config_path.exists() {
        return builtin(format!("no configuration at {}", config_path.display()));
    }
    let config = load(config_path)?;
    let Some(d) = config.destinations.get(destination) else {
        return builtin(format!(
            "no destination `{destination}` in {}",
            config_path.display()
        ));
    };
    let kind = d.kind.name();
    let (Some(rendering), Some(set)) = (DestinationKind::rendering_of(kind), d.kind.mappings())
    else {
        bail!(
            "`{destination}` is a {kind} destination, which has no mapping rendering of its own \
             (a webhook receives the canonical JSON unmapped; a peer's edXML is shown by \
             --destination edxml --to <its code>)"
        );
    };
    Ok((
        set.map_err(|e| anyhow::anyhow!("{destination}: {e}"))?,
        rendering,
    ))
}

/// `mapping render --destination edxml`: the edXML dossier message (or, with `--event`, the
/// status message) as the peer connector sends it before signing, with the dossier's agency as
/// sender and `to` as receiver.
fn render_edxml(input: &Path, event: Option<&Path>, to: &str) -> anyhow::Result<ExitCode> {
    let set = MappingSet::from_sources(
        "builtin:edxml",
        lienthong_connectors::peer::BUILTIN_MAPPINGS,
    )
    .map_err(|e| anyhow::anyhow!("edxml mappings: {e}"))?;
    let read = |p: &Path| -> anyhow::Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", p.display()))
    };
    let dossier = Dossier::from_json(read(input)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
    let number = dossier.code.rsplit('-').next().unwrap_or("1").to_string();
    let mut exchange = ExchangeInput::envelope(
        dossier.agency.clone(),
        Agency {
            code: to.to_string(),
            name: to.to_string(),
        },
        &number,
        "LT",
        time::OffsetDateTime::now_utc(),
    );
    let name = match event {
        Some(path) => {
            let event = StatusEvent::from_json(read(path)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            exchange.status = Some(ProgressInput {
                dossier: None,
                response_for: None,
                dossier_code: dossier.code.clone(),
                event,
            });
            "status"
        }
        None => {
            exchange.dossier = Some(dossier);
            "dossier"
        }
    };
    let exchange = serde_json::to_value(&exchange)?;
    let xml = set
        .render_xml(name, &exchange)
        .map_err(|e| anyhow::anyhow!("edxml: {e}"))?;
    print!("{xml}");
    Ok(ExitCode::SUCCESS)
}
