//! Parsing the file's sections one by one and checking them together: each section is
//! deserialized on its own (so one bad section does not hide the others' problems), then every
//! check runs on what parsed, in a fixed order, and the [`Config`] is assembled only when all
//! sections parsed.

use super::section::section;
use super::*;

/// The sections that parsed, so that each can be validated even when others did not parse.
pub(super) struct Parts {
    server: Option<ServerConfig>,
    store: Option<StoreConfig>,
    center: Option<CenterConfig>,
    dispatcher: Option<DispatcherConfig>,
    log: Option<LogConfig>,
    routes: Option<Vec<RouteConfig>>,
    trust: Option<BTreeMap<String, TrustStoreConfig>>,
    signing: Option<Option<SigningConfig>>,
    exchange: Option<ExchangeConfig>,
    callbacks: Option<CallbacksConfig>,
    retention: Option<RetentionConfig>,
    deadlines: Option<DeadlinesConfig>,
    audit: Option<AuditConfig>,
    attachments: Option<lienthong_connectors::files::AttachmentsConfig>,
    destinations: BTreeMap<String, DestinationConfig>,
    /// Every destination name declared, including those that did not parse.
    declared: std::collections::BTreeSet<String>,
    destinations_ok: bool,
}

impl Parts {
    /// Every check of the parsed sections, in the order the problems are reported.
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        self.validate_sections(errors);
        self.validate_destinations(errors);
        self.validate_retention(errors);
        self.validate_body_limits(errors);
        self.validate_callbacks(errors);
        self.validate_exchange(errors);
        self.validate_routes(errors);
    }

    /// Each section's own checks (in its file under `config/`).
    fn validate_sections(&self, errors: &mut Vec<ConfigError>) {
        if let Some(a) = &self.attachments
            && let Err(problems) = lienthong_connectors::files::FilePolicy::new(a)
        {
            errors.extend(
                problems
                    .into_iter()
                    .map(|p| err(format!("attachments.{}", p.key), p.message)),
            );
        }
        if let Some(server) = &self.server {
            server.validate(errors);
        }
        if let Some(store) = &self.store {
            store.validate(errors);
        }
        if let Some(audit) = &self.audit {
            audit.validate(errors);
        }
        if let Some(log) = &self.log {
            log.validate(errors);
        }
        if let Some(dispatcher) = &self.dispatcher {
            dispatcher.validate(errors);
        }
    }

    /// Each destination: its name, retry policy, limits, its kind's own checks and what the kind needs of other sections.
    fn validate_destinations(&self, errors: &mut Vec<ConfigError>) {
        for (name, d) in &self.destinations {
            let key = format!("destinations.{name}");
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                errors.push(err(&key, "names use letters, digits, - and _"));
            }
            let r = &d.retry;
            if r.initial.is_zero() {
                errors.push(err(format!("{key}.retry.initial"), "must be more than 0"));
            }
            if !(r.multiplier >= 1.0 && r.multiplier.is_finite()) {
                errors.push(err(
                    format!("{key}.retry.multiplier"),
                    "must be at least 1.0",
                ));
            }
            if r.max_delay < r.initial {
                errors.push(err(
                    format!("{key}.retry.max_delay"),
                    "must not be less than initial",
                ));
            }
            if r.max_attempts == 0 {
                errors.push(err(
                    format!("{key}.retry.max_attempts"),
                    "must be at least 1",
                ));
            }
            if d.concurrency == 0 {
                errors.push(err(format!("{key}.concurrency"), "must be at least 1"));
            }
            if d.circuit_breaker.failures == 0 {
                errors.push(err(
                    format!("{key}.circuit_breaker.failures"),
                    "must be at least 1",
                ));
            }
            for p in d.kind.config().validate() {
                errors.push(err(format!("{key}.{}", p.key), p.message));
            }
            // What its kind needs of other sections (a section that failed to parse has
            // its own error already).
            let needs = d.kind.config().needs();
            if let (Some(problem), Some(None)) = (needs.signing, &self.signing) {
                errors.push(err(format!("{key}.kind"), problem));
            }
            for (store_key, t) in &needs.trust_stores {
                if let Some(stores) = &self.trust
                    && !stores.contains_key(t)
                {
                    errors.push(err(
                        format!("{key}.{store_key}"),
                        format!("unknown trust store `{t}` (add [trust.{t}])"),
                    ));
                }
            }
        }
    }

    /// `[retention]`, and its dedupe window against the replay windows of pushes and the exchange.
    fn validate_retention(&self, errors: &mut Vec<ConfigError>) {
        if let Some(r) = &self.retention {
            if r.batch == 0 {
                errors.push(err("retention.batch", "must be at least 1"));
            }
            if r.interval.is_zero() {
                errors.push(err("retention.interval", "must be more than 0"));
            }
            if r.dossiers < r.delivered {
                errors.push(err(
                    "retention.dossiers",
                    "must be at least retention.delivered (a dossier outlives its messages)",
                ));
            }
            let windows = [
                (
                    "callbacks.max_age",
                    self.callbacks.as_ref().map(|c| c.max_age),
                ),
                (
                    "exchange.max_age",
                    self.exchange.as_ref().map(|x| x.max_age),
                ),
                (
                    "exchange.pull.max_age",
                    self.exchange
                        .as_ref()
                        .and_then(|x| x.pull.as_ref())
                        .map(|p| p.max_age),
                ),
            ];
            for (key, window) in windows {
                if let Some(w) = window
                    && r.dedupe < w
                {
                    errors.push(err(
                        "retention.dedupe",
                        format!(
                            "must be at least {key} ({}): a replay inside that window must still be recognised",
                            humantime::format_duration(w)
                        ),
                    ));
                }
            }
        }
    }

    /// Body limits no client address could ever be given memory for.
    fn validate_body_limits(&self, errors: &mut Vec<ConfigError>) {
        // A body no client address may hold in memory could never be received.
        if let Some(server) = &self.server {
            let share = server.body_memory_per_client();
            // Pushes are read only from a source that has something to check them by.
            let callbacks = self
                .callbacks
                .as_ref()
                .filter(|c| !c.sources.is_empty())
                .map(|c| c.max_body);
            for (key, limit) in [
                ("server.max_body", Some(server.max_body)),
                ("callbacks.max_body", callbacks),
            ] {
                if let Some(limit) = limit.filter(|l| *l > share) {
                    errors.push(err(
                        key,
                        format!(
                            "{limit} bytes is more than one client address may hold in memory ({share} bytes, server.max_body_memory_per_client, by default half of server.max_body_memory): such a body would always be refused; raise server.max_body_memory"
                        ),
                    ));
                }
            }
        }
    }

    /// `[callbacks]`: forwarding, limits, the sources' secrets and trust.
    fn validate_callbacks(&self, errors: &mut Vec<ConfigError>) {
        if let Some(c) = &self.callbacks {
            self.check_forward_to("callbacks.forward_to", &c.forward_to, errors);
            if c.max_body == 0 {
                errors.push(err("callbacks.max_body", "must be more than 0"));
            }
            for (name, source) in &c.sources {
                self.validate_push_source(name, source, errors);
            }
        }
    }

    /// `[callbacks.<source>]`: a shared key given once, or a known trust store and the names
    /// its signer may carry.
    fn validate_push_source(
        &self,
        name: &str,
        source: &PushSourceConfig,
        errors: &mut Vec<ConfigError>,
    ) {
        match source {
            PushSourceConfig::SharedKey(key) => {
                if let Err(e) = key.check() {
                    errors.push(err(format!("callbacks.{name}.secret"), e.to_string()));
                }
            }
            PushSourceConfig::Signature(signed) => {
                if signed.signers.iter().all(|s| s.trim().is_empty()) {
                    errors.push(err(
                        format!("callbacks.{name}.signers"),
                        "required: the names (DN, CN or SAN) the pushing system's signing certificate carries; without them any certificate of the trust store would be believed",
                    ));
                }
                if let Some(stores) = &self.trust
                    && !stores.contains_key(&signed.trust)
                {
                    errors.push(err(
                        format!("callbacks.{name}.trust"),
                        format!(
                            "unknown trust store `{}` (add [trust.{}])",
                            signed.trust, signed.trust
                        ),
                    ));
                }
            }
        }
    }

    /// `[exchange]`: forwarding, limits, and the pull from the axis.
    fn validate_exchange(&self, errors: &mut Vec<ConfigError>) {
        if let Some(x) = &self.exchange {
            self.check_forward_to("exchange.forward_to", &x.forward_to, errors);
            if x.max_body == 0 {
                errors.push(err("exchange.max_body", "must be more than 0"));
            }
            if x.memory_per_client == Some(0) || x.min_body_rate == 0 || x.body_timeout.is_zero() {
                errors.push(err(
                    "exchange",
                    "memory_per_client, min_body_rate and body_timeout must be more than 0",
                ));
            }
            if x.memory_budget < x.max_body {
                errors.push(err(
                    "exchange.memory_budget",
                    "must be at least exchange.max_body",
                ));
            }
            if let Some(p) = &x.pull {
                match self.destinations.get(&p.axis).map(|d| &d.kind) {
                    Some(DestinationKind::Peer(c))
                        if c.transport == lienthong_connectors::peer::Transport::Axis => {}
                    Some(_) => errors.push(err(
                        "exchange.pull.axis",
                        format!(
                            "`{}` is not a peer destination with transport = \"axis\"",
                            p.axis
                        ),
                    )),
                    None if self.declared.contains(&p.axis) => {}
                    None => errors.push(err(
                        "exchange.pull.axis",
                        format!("unknown destination `{}`", p.axis),
                    )),
                }
                if p.interval.is_zero() {
                    errors.push(err("exchange.pull.interval", "must be more than 0"));
                }
                if p.max_backoff < p.interval {
                    errors.push(err(
                        "exchange.pull.max_backoff",
                        "must not be less than interval",
                    ));
                }
                if p.batch == 0 {
                    errors.push(err("exchange.pull.batch", "must be at least 1"));
                }
            }
        }
    }

    /// `[[routes]]`: each names configured destinations and a known level.
    fn validate_routes(&self, errors: &mut Vec<ConfigError>) {
        for (i, r) in self.routes.iter().flatten().enumerate() {
            if r.destinations.is_empty() {
                errors.push(err(
                    format!("routes[{i}].destinations"),
                    "must name at least one destination",
                ));
            }
            for d in &r.destinations {
                if !self.declared.contains(d) {
                    errors.push(err(
                        format!("routes[{i}].destinations"),
                        format!("unknown destination `{d}`"),
                    ));
                }
            }
            if let Some(l) = &r.level
                && !matches!(l.as_str(), "province" | "district" | "commune")
            {
                errors.push(err(
                    format!("routes[{i}].level"),
                    "must be province, district or commune",
                ));
            }
        }
    }

    /// Each name must be a webhook destination.
    fn check_forward_to(&self, key: &str, names: &[String], errors: &mut Vec<ConfigError>) {
        for name in names {
            match self.destinations.get(name) {
                Some(d) if matches!(d.kind, DestinationKind::Webhook(_)) => {}
                Some(_) => errors.push(err(key, format!("`{name}` is not a webhook destination"))),
                None if self.declared.contains(name) => {}
                None => errors.push(err(key, format!("unknown destination `{name}`"))),
            }
        }
    }

    pub(super) fn assemble(self) -> Option<Config> {
        if !self.destinations_ok {
            return None;
        }
        Some(Config {
            server: self.server?,
            store: self.store?,
            center: self.center?,
            dispatcher: self.dispatcher?,
            log: self.log?,
            destinations: self.destinations,
            routes: self.routes?,
            trust: self.trust?,
            signing: self.signing?,
            exchange: self.exchange?,
            callbacks: self.callbacks?,
            retention: self.retention?,
            deadlines: self.deadlines?,
            audit: self.audit?,
            attachments: self.attachments?,
            source: None,
        })
    }
}

/// The top-level tables of the configuration file; any other top-level key is an error.
pub(crate) const SECTIONS: &[&str] = &[
    "server",
    "store",
    "center",
    "dispatcher",
    "log",
    "routes",
    "trust",
    "signing",
    "exchange",
    "retention",
    "audit",
    "attachments",
    "deadlines",
    "callbacks",
    "destinations",
];

pub(super) fn parse_sections(table: toml::Table, errors: &mut Vec<ConfigError>) -> Parts {
    let mut s = Sections { table, errors };
    let server = match s.take("server") {
        Some(v) => section::<ServerConfig>("server", v, s.errors),
        // An absent [server] is all its defaults.
        None => section::<ServerConfig>("server", toml::Value::Table(toml::Table::new()), s.errors),
    };
    let store = s.required::<StoreConfig>("store", "store.url is required");
    let center = s.required::<CenterConfig>("center", "agency_code, agency_name");
    let dispatcher = s.defaulted::<DispatcherConfig>("dispatcher");
    let log = s.defaulted::<LogConfig>("log");
    let routes = s.defaulted::<Vec<RouteConfig>>("routes");
    let trust = s.defaulted::<BTreeMap<String, TrustStoreConfig>>("trust");
    let signing = match s.take("signing") {
        Some(v) => section::<SigningConfig>("signing", v, s.errors).map(Some),
        None => Some(None),
    };
    let exchange = s.defaulted::<ExchangeConfig>("exchange");
    let retention = s.defaulted::<RetentionConfig>("retention");
    let audit = s.defaulted::<AuditConfig>("audit");
    let attachments = s.defaulted::<lienthong_connectors::files::AttachmentsConfig>("attachments");
    let deadlines = s.defaulted::<DeadlinesConfig>("deadlines");
    let callbacks = super::callbacks::parse_callbacks(s.take("callbacks"), s.errors);
    let declared_destinations = s.take("destinations");
    let parsed = parse_destinations(declared_destinations, s.errors);
    for k in s.table.keys() {
        s.errors.push(err(k.as_str(), "unknown key"));
    }
    Parts {
        server,
        store,
        center,
        dispatcher,
        log,
        routes,
        trust,
        signing,
        exchange,
        callbacks,
        deadlines,
        audit,
        attachments,
        retention,
        destinations: parsed.destinations,
        declared: parsed.declared,
        destinations_ok: parsed.ok,
    }
}

/// The file's top-level tables, taken one by one (what is left at the end is unknown).
struct Sections<'e> {
    table: toml::Table,
    errors: &'e mut Vec<ConfigError>,
}

impl Sections<'_> {
    fn take(&mut self, key: &str) -> Option<toml::Value> {
        debug_assert!(SECTIONS.contains(&key), "{key} is missing from SECTIONS");
        self.table.remove(key)
    }

    /// A section that may be left out: its defaults then.
    fn defaulted<T: DeserializeOwned + Default>(&mut self, key: &str) -> Option<T> {
        match self.take(key) {
            Some(v) => section::<T>(key, v, self.errors),
            None => Some(T::default()),
        }
    }

    /// A section that must be there; `needs` says what it must give.
    fn required<T: DeserializeOwned>(&mut self, key: &str, needs: &str) -> Option<T> {
        match self.take(key) {
            Some(v) => section::<T>(key, v, self.errors),
            None => {
                self.errors
                    .push(err(key, format!("missing section ({needs})")));
                None
            }
        }
    }
}

/// The `[destinations.<name>]` tables: those that parsed, every name declared, and whether all
/// parsed.
struct ParsedDestinations {
    destinations: BTreeMap<String, DestinationConfig>,
    declared: std::collections::BTreeSet<String>,
    ok: bool,
}

fn parse_destinations(
    value: Option<toml::Value>,
    errors: &mut Vec<ConfigError>,
) -> ParsedDestinations {
    let mut out = ParsedDestinations {
        destinations: BTreeMap::new(),
        declared: std::collections::BTreeSet::new(),
        ok: true,
    };
    match value {
        None => {}
        Some(toml::Value::Table(t)) => {
            for (name, v) in t {
                out.declared.insert(name.clone());
                match destination(&name, v, errors) {
                    Some(d) => {
                        out.destinations.insert(name, d);
                    }
                    None => out.ok = false,
                }
            }
        }
        Some(_) => {
            errors.push(err(
                "destinations",
                "must be a table of [destinations.<name>]",
            ));
            out.ok = false;
        }
    }
    out
}
