//! Routing: which destinations a dossier goes to.
//!
//! A dossier's explicit `routing.destinations` wins. Otherwise every `[[routes]]` rule whose
//! conditions all hold adds its destinations, in rule order, without repeats.

use lienthong_mappings::Dossier;
use lienthong_mappings::model::Level;

use crate::config::RouteConfig;

/// A destination named by a dossier that is not configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: unknown destination `{name}`")]
pub struct UnknownDestination {
    /// Path in the dossier (`routing.destinations[0]`).
    pub path: String,
    /// The name.
    pub name: String,
}

/// The routing table.
#[derive(Debug, Clone, Default)]
pub struct Router {
    rules: Vec<RouteConfig>,
    known: Vec<String>,
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Province => "province",
        Level::District => "district",
        Level::Commune => "commune",
    }
}

impl Router {
    /// Builds the table from validated rules and the configured destination names.
    pub fn new(rules: Vec<RouteConfig>, known: Vec<String>) -> Self {
        Self { rules, known }
    }

    /// The destinations of a dossier.
    ///
    /// Errors: the dossier names a destination that is not configured.
    pub fn route(&self, d: &Dossier) -> Result<Vec<String>, UnknownDestination> {
        if let Some(r) = &d.routing {
            let mut out: Vec<String> = Vec::new();
            for (i, name) in r.destinations.iter().enumerate() {
                if !self.known.contains(name) {
                    return Err(UnknownDestination {
                        path: format!("routing.destinations[{i}]"),
                        name: name.clone(),
                    });
                }
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
            return Ok(out);
        }
        let mut out: Vec<String> = Vec::new();
        for rule in self.rules.iter().filter(|r| matches(r, d)) {
            for name in &rule.destinations {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
        }
        Ok(out)
    }
}

fn matches(r: &RouteConfig, d: &Dossier) -> bool {
    r.procedure_prefix
        .as_ref()
        .is_none_or(|p| d.procedure.code.starts_with(p.as_str()))
        && r.field_code
            .as_ref()
            .is_none_or(|f| d.procedure.field_code.as_deref() == Some(f.as_str()))
        && r.agency_code
            .as_ref()
            .is_none_or(|a| d.agency.code.starts_with(a.as_str()))
        && r.level.as_ref().is_none_or(|l| l == level_name(d.level))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienthong_mappings::model::Routing;

    fn dossier() -> Dossier {
        serde_json::from_str(include_str!(
            "../../../examples/dossier-business-registration.json"
        ))
        .expect("example")
    }

    fn rule(
        prefix: Option<&str>,
        field: Option<&str>,
        agency: Option<&str>,
        level: Option<&str>,
        dest: &[&str],
    ) -> RouteConfig {
        RouteConfig {
            procedure_prefix: prefix.map(str::to_owned),
            field_code: field.map(str::to_owned),
            agency_code: agency.map(str::to_owned),
            level: level.map(str::to_owned),
            destinations: dest.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn router(rules: Vec<RouteConfig>) -> Router {
        Router::new(rules, vec!["dvcqg".into(), "nbrs".into(), "emc".into()])
    }

    #[test]
    fn all_matching_rules_add_destinations_once() {
        let r = router(vec![
            rule(Some(""), None, None, None, &["dvcqg"]),
            rule(None, Some("DKKD"), None, None, &["nbrs", "dvcqg"]),
            rule(Some("2."), None, None, None, &["emc"]),
            rule(
                None,
                None,
                Some("000.00.12.H37"),
                Some("province"),
                &["emc"],
            ),
            rule(None, None, None, Some("commune"), &["nbrs"]),
        ]);
        assert_eq!(
            r.route(&dossier()).expect("routes"),
            ["dvcqg", "nbrs", "emc"]
        );
    }

    #[test]
    fn explicit_routing_wins_and_is_checked() {
        let r = router(vec![rule(Some(""), None, None, None, &["dvcqg"])]);
        let mut d = dossier();
        d.routing = Some(Routing {
            destinations: vec!["emc".into()],
            peer: None,
        });
        assert_eq!(r.route(&d).expect("routes"), ["emc"]);
        d.routing = Some(Routing {
            destinations: vec!["emc".into(), "portal-x".into()],
            peer: None,
        });
        let e = r.route(&d).expect_err("unknown");
        assert_eq!(e.path, "routing.destinations[1]");
    }

    #[test]
    fn no_rule_no_destination() {
        let r = router(vec![rule(Some("9."), None, None, None, &["dvcqg"])]);
        assert!(r.route(&dossier()).expect("routes").is_empty());
    }
}
