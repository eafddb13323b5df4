//! Wires the gateway together: store, destinations, dispatcher and HTTP server.
//!
//! [`run`] takes an already bound listener and a shutdown future (as mini-redis does), so tests
//! and the demo start the real server on `127.0.0.1:0`.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::delivery::destinations::{self, DestinationErrors};
use crate::delivery::dispatcher::{self, DispatchSettings};
use crate::http::{self, AppState};
use crate::loaded::Loaded;
use crate::outbox::routing::Router;
use crate::store::{Store, StoreError};

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A destination could not be built.
    #[error(transparent)]
    Destination(#[from] DestinationErrors),
    /// What the configuration names (certificates, keys, tokens, secrets) could not be loaded.
    #[error("{0}")]
    Load(#[from] crate::config::ConfigErrors),
    /// The time-stamping client could not be built.
    #[error("audit.tsa: {0}")]
    Tsa(String),
    /// The HTTP server failed.
    #[error("http: {0}")]
    Io(#[from] std::io::Error),
    /// The generated tokens could not be kept or read.
    #[error(transparent)]
    Tokens(#[from] crate::auth::tokens::TokenError),
    /// The OCSP client could not be built.
    #[error("OCSP client: {0}")]
    Ocsp(#[from] reqwest::Error),
}

/// Runs the gateway until `shutdown` completes, then stops accepting requests, lets requests in
/// progress finish, stops the dispatcher (finishing or releasing deliveries in flight) and closes
/// the store. `on_ready` is called once everything is up (systemd notification, tests).
///
/// Errors: start-up failures (files the configuration names, store, destinations) and listener
/// failures.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce() + Send,
) -> Result<(), ServerError> {
    run_loaded(Loaded::from_config(config)?, listener, shutdown, on_ready).await
}

/// [`run`] for a configuration whose files are already loaded (`lienthong serve`).
///
/// Errors: start-up failures (store, destinations) and listener failures.
pub async fn run_loaded(
    loaded: Loaded,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce() + Send,
) -> Result<(), ServerError> {
    let Loaded {
        config,
        security,
        tokens,
        callbacks,
        tsa_certificate,
        mappings,
    } = loaded;
    // Install the metrics recorder before anything is counted.
    crate::monitoring::telemetry::handle();
    // The address actually bound decides (the configuration's may be overridden by the caller).
    let bound = listener.local_addr()?;
    for w in config.warnings_at(bound) {
        tracing::warn!(key = w.key, "{}", w.message);
    }
    // The owner of the leases (deliveries and periodic jobs) this instance holds: its stable
    // name, so a restart takes its own work back at once (a dead instance's goes to another once
    // its leases run out).
    let instance = config.server.instance_name();
    let store = Store::open_with(&config.store.url, &config.store.options(&instance)).await?;
    // Roles the configuration gives no credential get the token generated at the first start.
    let generated = crate::auth::tokens::ensure(&config, &store).await?;
    security.publish_expiry(time::OffsetDateTime::now_utc());
    let destinations = destinations::build(&config, &security, &mappings)?;
    // Each connector holds its own copy; the loaded sets are not kept for the server's life.
    drop(mappings);
    let security = Arc::new(crate::trust::security::SecurityHandle::new(
        security,
        crate::trust::revocation::checker()?,
    ));
    let callbacks = Arc::new(crate::reload::Current::new(callbacks));
    let files = Arc::new(crate::reload::Current::new(
        crate::reload::file_policy(&config).map_err(ServerError::Load)?,
    ));
    let reloader = Arc::new(crate::reload::Reloader::new(
        &config,
        security.clone(),
        destinations.clone(),
        callbacks.clone(),
        files.clone(),
    ));
    let stamper = match (&config.audit.tsa, tsa_certificate) {
        (Some(t), Some(certificate)) => Some(Arc::new(
            crate::operations::audit::tsa::Stamper::new(
                t.url.clone(),
                certificate,
                t.interval,
                t.timeout,
            )
            .map_err(|e| ServerError::Tsa(e.to_string()))?,
        )),
        _ => None,
    };
    let exchange_settings = Arc::new(crate::inbound::exchange::ExchangeSettings::new(
        &config.exchange,
    ));
    let puller = match &config.exchange.pull {
        Some(pull) => Some(puller(
            &config,
            pull,
            &security,
            &store,
            &exchange_settings,
            &instance,
        )?),
        None => None,
    };
    let state = Arc::new(AppState {
        store: store.clone(),
        destinations: destinations.clone(),
        router: Router::new(
            config.routes.clone(),
            config.destinations.keys().cloned().collect(),
        ),
        max_body: config.server.max_body,
        admin_token: tokens.admin.or(generated.admin),
        center_token: tokens.center.or(generated.center),
        viewer_token: tokens.viewer,
        public_names: config.public_names(bound),
        secure_cookies: config.server.tls.is_some()
            || config
                .server
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
        console_session: config.server.console_session,
        sign_ins: crate::http::limits::SignInLimiter::default(),
        files,
        allow_unauthenticated: config.server.allow_unauthenticated,
        dossier_schema: lienthong_mappings::dossier_schema(),
        security: security.clone(),
        exchange: exchange_settings.clone(),
        callbacks,
        reloader: reloader.clone(),
        due_soon: config.deadlines.due_soon,
        tsa_configured: config.audit.tsa.is_some(),
        console_csrf: lienthong_certs::Secret::new(hex::encode(rand::random::<[u8; 32]>())),
    });
    let stop = CancellationToken::new();
    let settings = DispatchSettings {
        owner: instance.clone(),
        poll_interval: config.dispatcher.poll_interval,
        claim_batch: config.dispatcher.claim_batch,
        lease: config.dispatcher.lease,
        shutdown_grace: config.server.shutdown_grace,
        watchdog: crate::monitoring::systemd::Watchdog::from_env().map(Arc::new),
    };
    if let Some(w) = &settings.watchdog {
        tracing::info!(interval = ?w.max_sleep() * 4, "systemd watchdog enabled: pinged from the dispatcher loop");
    }
    let destinations_for_followers = destinations.clone();
    let dispatcher = tokio::spawn(dispatcher::run(
        store.clone(),
        destinations,
        settings,
        stop.clone(),
    ));
    let poller = puller.map(|p| tokio::spawn(crate::inbound::exchange::pull::run(p, stop.clone())));
    let followers: Vec<_> = destinations_for_followers
        .values()
        .filter_map(|d| {
            d.follow()?;
            Some(tokio::spawn(crate::inbound::follow::run(
                crate::inbound::follow::Follower {
                    destination: d.clone(),
                    destinations: destinations_for_followers.clone(),
                    store: store.clone(),
                    forward_to: config.callbacks.forward_to.clone(),
                    instance: instance.clone(),
                },
                stop.clone(),
            )))
        })
        .collect();
    let retention = tokio::spawn(crate::operations::retention::run(
        store.clone(),
        config.retention.clone(),
        instance.clone(),
        stop.clone(),
    ));
    let chainer = tokio::spawn(crate::operations::audit::chainer::run(
        store.clone(),
        instance.clone(),
        stamper,
        stop.clone(),
    ));
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        crate::monitoring::systemd::stopping();
        trigger.cancel();
    });
    tokio::spawn(reload_on_sighup(reloader, stop.clone()));
    tokio::spawn(watch_expiry(security.clone(), stop.clone()));
    tokio::spawn(crate::trust::revocation::staple(
        security.clone(),
        stop.clone(),
    ));
    let addr = listener.local_addr()?;
    let scheme = if security.current().listener_tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%addr, scheme, store = store.kind(), instance, destinations = ?config.destinations.keys().collect::<Vec<_>>(), "lienthong ready");
    crate::monitoring::systemd::ready("serving");
    on_ready();
    crate::http::listener::serve(
        listener,
        http::router(state),
        security,
        config.server.limits(),
        Arc::new(crate::http::limits::BodyBudget::new(
            config.server.max_body_memory,
            config.server.body_memory_per_client(),
        )),
        stop.clone(),
    )
    .await;
    stop.cancel();
    if let Err(e) = dispatcher.await {
        tracing::error!(error = %e, "dispatcher ended abnormally");
    }
    if let Some(Err(e)) = match poller {
        Some(p) => Some(p.await),
        None => None,
    } {
        tracing::error!(error = %e, "axis poller ended abnormally");
    }
    if let Err(e) = chainer.await {
        tracing::error!(error = %e, "audit chainer ended abnormally");
    }
    if let Err(e) = retention.await {
        tracing::error!(error = %e, "retention task ended abnormally");
    }
    for f in followers {
        if let Err(e) = f.await {
            tracing::error!(error = %e, "follow-up poller ended abnormally");
        }
    }
    store.close().await;
    tracing::info!("lienthong stopped");
    Ok(())
}

/// The axis poller of `[exchange.pull]`, reaching the axis as its peer destination does.
fn puller(
    config: &Config,
    pull: &crate::config::PullConfig,
    security: &Arc<crate::trust::security::SecurityHandle>,
    store: &Store,
    settings: &Arc<crate::inbound::exchange::ExchangeSettings>,
    instance: &str,
) -> Result<crate::inbound::exchange::pull::Puller, ServerError> {
    let fail = |message: String| {
        ServerError::Load(crate::config::ConfigErrors(vec![
            crate::config::ConfigError {
                key: "exchange.pull.axis".into(),
                message,
            },
        ]))
    };
    let Some(crate::config::DestinationKind::Peer(peer)) =
        config.destinations.get(&pull.axis).map(|d| &d.kind)
    else {
        return Err(fail(format!("`{}` is not a peer destination", pull.axis)));
    };
    let current = security.current();
    let outbound = current
        .outbound
        .get(&pull.axis)
        .cloned()
        .unwrap_or_default();
    let Some(account) = &peer.axis else {
        return Err(fail(format!(
            "`{}` has no [destinations.{}.axis] account on the axis",
            pull.axis, pull.axis
        )));
    };
    let axis = lienthong_connectors::peer::axis::AxisClient::new(
        &peer.url,
        &config.center.agency_code,
        account,
        peer.connect_timeout,
        peer.timeout,
        &outbound,
    )
    .map_err(|e| fail(format!("cannot build the axis client: {e}")))?;
    Ok(crate::inbound::exchange::pull::Puller {
        axis,
        store: store.clone(),
        security: security.clone(),
        settings: settings.clone(),
        config: pull.clone(),
        instance: instance.to_owned(),
    })
}

/// Reloads the configuration on SIGHUP until `stop` ([`crate::reload`]).
async fn reload_on_sighup(reloader: Arc<crate::reload::Reloader>, stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP");
                return;
            }
        };
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            tracing::info!("SIGHUP: reloading the configuration");
            let r = reloader.clone();
            // A refusal is logged and reported by reload_and_report itself.
            if let Err(e) = tokio::task::spawn_blocking(move || r.reload_and_report()).await {
                tracing::error!(error = %e, "reload task failed");
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (reloader, stop);
    }
}

/// Refreshes the certificate expiry gauges (and warnings) every hour.
async fn watch_expiry(
    security: Arc<crate::trust::security::SecurityHandle>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    tick.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => security.current().publish_expiry(time::OffsetDateTime::now_utc()),
        }
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}
