//! `[destinations.<name>]` (with their retry schedule and circuit breaker) and `[[routes]]`.

use lienthong_connectors::kind::{KindConfig, Rendering};

use super::*;

/// `[destinations.<name>.retry]`: the persisted retry schedule of a destination.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Delay bound of the first retry.
    #[serde(default = "default_initial", with = "serde_duration")]
    pub initial: Duration,
    /// Growth of the delay bound per attempt.
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Largest delay bound.
    #[serde(default = "default_max_delay", with = "serde_duration")]
    pub max_delay: Duration,
    /// Attempts before the delivery is dead.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Age (since queued or replayed) after which the delivery is dead.
    #[serde(default = "default_max_age", with = "serde_duration")]
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: default_initial(),
            multiplier: default_multiplier(),
            max_delay: default_max_delay(),
            max_attempts: default_max_attempts(),
            max_age: default_max_age(),
        }
    }
}

const fn default_initial() -> Duration {
    Duration::from_secs(1)
}
const fn default_multiplier() -> f64 {
    2.0
}
const fn default_max_delay() -> Duration {
    Duration::from_secs(3600)
}
const fn default_max_attempts() -> u32 {
    25
}
const fn default_max_age() -> Duration {
    Duration::from_secs(72 * 3600)
}

/// `[destinations.<name>.circuit_breaker]`: pause a failing destination instead of burning attempts.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failed attempts that open the circuit.
    #[serde(default = "default_failures")]
    pub failures: u32,
    /// Pause before the first probe.
    #[serde(default = "default_cool_down", with = "serde_duration")]
    pub cool_down: Duration,
    /// Longest pause (it doubles after each failed probe).
    #[serde(default = "default_max_cool_down", with = "serde_duration")]
    pub max_cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: default_failures(),
            cool_down: default_cool_down(),
            max_cool_down: default_max_cool_down(),
        }
    }
}

const fn default_failures() -> u32 {
    5
}
const fn default_cool_down() -> Duration {
    Duration::from_secs(30)
}
const fn default_max_cool_down() -> Duration {
    Duration::from_secs(600)
}

/// The registry of destination kinds: the `kind` value, the enum variant and the connector's
/// configuration type, one line each. Everything else about a kind is asked of its
/// configuration through [`KindConfig`] (in its connector folder), so adding a kind is its
/// folder and one line here.
macro_rules! destination_kinds {
    ($($(#[$doc:meta])* $variant:ident($ty:ty) = $name:literal,)*) => {
        /// The kind-specific part of a destination.
        #[derive(Debug, Clone)]
        pub enum DestinationKind {
            $($(#[$doc])* $variant(Box<$ty>),)*
        }

        impl DestinationKind {
            /// Every `kind` value, in the registry's order.
            pub const NAMES: &[&str] = &[$($name),*];

            /// The `kind` key's value.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)*
                }
            }

            /// What the kind's configuration knows: validation, URLs, secret files, mappings,
            /// how its connector is built.
            pub fn config(&self) -> &dyn KindConfig {
                match self {
                    $(Self::$variant(c) => c.as_ref(),)*
                }
            }

            /// The mapping set this destination renders with: its `mappings_dir`, else the
            /// kind's built-in files (a peer: the built-in edXML set). `None` for a webhook,
            /// which sends the canonical JSON unmapped.
            ///
            /// Errors: a mapping file is missing or invalid, each problem with its file.
            pub fn mappings(
                &self,
            ) -> Option<Result<lienthong_mappings::MappingSet, lienthong_mappings::LoadError>> {
                match self {
                    $(Self::$variant(c) => lienthong_connectors::kind::mapping_set(c.as_ref()),)*
                }
            }

            /// How kind `kind` renders with its mappings (`mapping render`); `None` for an
            /// unknown kind or one without a mapping rendering of its own.
            pub fn rendering_of(kind: &str) -> Option<Rendering> {
                match kind {
                    $($name => <$ty as KindConfig>::rendering(),)*
                    _ => None,
                }
            }

            /// Deserializes the kind-specific keys of `table` as kind `kind`; `None` for an
            /// unknown kind (problems of a known kind are pushed to `errors`).
            fn parse(
                kind: &str,
                key: &str,
                table: toml::Value,
                errors: &mut Vec<ConfigError>,
            ) -> Option<Option<Self>> {
                match kind {
                    $($name => Some(
                        section::<$ty>(key, table, errors).map(|c| Self::$variant(Box::new(c))),
                    ),)*
                    _ => None,
                }
            }
        }
    };
}

destination_kinds! {
    /// The National Public Service Portal.
    Dvcqg(DvcqgConfig) = "dvcqg",
    /// Another center, exchanging signed edXML (liên thông).
    Peer(lienthong_connectors::peer::PeerConfig) = "peer",
    /// The center's one-stop software, told what comes back.
    Webhook(lienthong_connectors::webhook::WebhookConfig) = "webhook",
    /// The national e-monitoring system, told every processing step.
    Emc(lienthong_connectors::emc::EmcConfig) = "emc",
    /// The National Business Registration System: registrations submitted and followed.
    Nbrs(lienthong_connectors::nbrs::NbrsConfig) = "nbrs",
    /// The National Investment Information System: signed registrations.
    Investment(lienthong_connectors::investment::InvestmentConfig) = "investment",
}

impl DestinationKind {
    /// The URLs this destination is configured to call, with their keys (relative to the
    /// destination's table).
    pub fn urls(&self) -> Vec<(&'static str, &str)> {
        self.config().urls()
    }
}

/// `[destinations.<name>]`.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// Kind and its settings.
    pub kind: DestinationKind,
    /// Retry schedule.
    pub retry: RetryPolicy,
    /// Most deliveries in flight at once.
    pub concurrency: usize,
    /// Circuit breaker.
    pub circuit_breaker: BreakerConfig,
    /// `[destinations.<name>.tls]`: own trust store and client identity.
    pub tls: Option<DestinationTlsConfig>,
    /// Sign every request with RFC 9421 using `[signing]`.
    pub sign_requests: bool,
    /// `[destinations.<name>.xroad]`: reach the destination through this member's X-Road
    /// Security Server (`tls` is then the connection to the Security Server).
    pub xroad: Option<lienthong_connectors::xroad::XRoadConfig>,
}

/// Default `concurrency` of a destination.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// `[[routes]]`: a rule choosing destinations. Every condition given must hold; all matching
/// rules add their destinations (a dossier's explicit `routing` replaces them all).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Procedure code prefix (`""` matches every code).
    #[serde(default)]
    pub procedure_prefix: Option<String>,
    /// Field code (mã lĩnh vực), exactly.
    #[serde(default)]
    pub field_code: Option<String>,
    /// Agency code prefix (mã định danh).
    #[serde(default)]
    pub agency_code: Option<String>,
    /// Level: `province`, `district` or `commune`.
    #[serde(default)]
    pub level: Option<String>,
    /// Destination names.
    pub destinations: Vec<String>,
}

/// Takes the shared key `key` out of a destination's table.
fn shared(t: &mut toml::Table, key: &str) -> Option<toml::Value> {
    debug_assert!(
        SHARED_KEYS.contains(&key),
        "{key} is missing from SHARED_KEYS"
    );
    t.remove(key)
}

/// The keys every destination table has besides its kind's own.
pub(crate) const SHARED_KEYS: &[&str] = &[
    "kind",
    "retry",
    "circuit_breaker",
    "tls",
    "xroad",
    "sign_requests",
    "concurrency",
];

pub(super) fn destination(
    name: &str,
    v: toml::Value,
    errors: &mut Vec<ConfigError>,
) -> Option<DestinationConfig> {
    let key = format!("destinations.{name}");
    let toml::Value::Table(mut t) = v else {
        errors.push(err(key, "must be a table"));
        return None;
    };
    let kind = match shared(&mut t, "kind") {
        Some(toml::Value::String(k)) => k,
        Some(_) => {
            errors.push(err(format!("{key}.kind"), "must be a string"));
            return None;
        }
        None => {
            errors.push(err(format!("{key}.kind"), "required (dvcqg)"));
            return None;
        }
    };
    let retry = match shared(&mut t, "retry") {
        Some(v) => section::<RetryPolicy>(&format!("{key}.retry"), v, errors),
        None => Some(RetryPolicy::default()),
    };
    let circuit_breaker = match shared(&mut t, "circuit_breaker") {
        Some(v) => section::<BreakerConfig>(&format!("{key}.circuit_breaker"), v, errors),
        None => Some(BreakerConfig::default()),
    };
    let tls = match shared(&mut t, "tls") {
        Some(v) => section::<DestinationTlsConfig>(&format!("{key}.tls"), v, errors).map(Some),
        None => Some(None),
    };
    let xroad = match shared(&mut t, "xroad") {
        Some(v) => {
            let k = format!("{key}.xroad");
            section::<lienthong_connectors::xroad::XRoadConfig>(&k, v, errors).map(|x| {
                for p in x.problems() {
                    errors.push(err(format!("{k}.{}", p.key), p.message));
                }
                Some(x)
            })
        }
        None => Some(None),
    };
    let sign_requests = match shared(&mut t, "sign_requests") {
        Some(v) => section::<bool>(&format!("{key}.sign_requests"), v, errors),
        None => Some(false),
    };
    let concurrency = match shared(&mut t, "concurrency") {
        Some(v) => section::<usize>(&format!("{key}.concurrency"), v, errors),
        None => Some(DEFAULT_CONCURRENCY),
    };
    let kind = match DestinationKind::parse(&kind, &key, toml::Value::Table(t), errors) {
        Some(parsed) => parsed,
        None => {
            errors.push(err(
                format!("{key}.kind"),
                format!(
                    "unknown kind `{kind}` (expected {})",
                    DestinationKind::NAMES.join(", ")
                ),
            ));
            None
        }
    };
    Some(DestinationConfig {
        kind: kind?,
        retry: retry?,
        concurrency: concurrency?,
        circuit_breaker: circuit_breaker?,
        tls: tls?,
        sign_requests: sign_requests?,
        xroad: xroad?,
    })
}

impl OnReload for DestinationConfig {
    fn on_reload(&self, new: &Self, c: &mut Changes) {
        let Self {
            kind,
            retry: _,
            concurrency,
            circuit_breaker,
            tls: _,
            sign_requests: _,
            xroad: _,
        } = self;
        // The destination's wiring is rebuilt: its kind's keys (the connector, credentials,
        // mappings), the retry schedule, its outbound TLS, signer and X-Road route.
        c.live("");
        c.live("retry");
        c.live("tls");
        c.live("sign_requests");
        c.live("xroad");
        // Its slots and circuit breaker are made once; so is what it is.
        c.restart_if("kind", kind.name() != new.kind.name());
        c.restart("concurrency", concurrency, &new.concurrency);
        c.restart("circuit_breaker", circuit_breaker, &new.circuit_breaker);
        let newer: std::collections::BTreeMap<_, _> =
            new.kind.config().restart_only().into_iter().collect();
        for (key, value) in kind.config().restart_only() {
            c.restart_if(key, newer.get(key) != Some(&value));
        }
    }
}
