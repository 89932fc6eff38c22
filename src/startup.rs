//! Building and running a node: the caseworker listener, the peer listener,
//! and, while this replica holds their leases, the outbox dispatcher and
//! the timers (see [`crate::replica`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio::sync::Notify;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::error::problem_fallback;
use crate::api::{self, AppState};
use crate::app::leases;
use crate::app::NodeCtx;
use crate::config::{redact_url, Settings};
use crate::peer::client::PeerClient;
use crate::peer::convergence::Convergence;
use crate::peer::dispatcher::Dispatcher;
use crate::peer::server::{self as peer_server, PeerState};
use crate::peer::witness::{self, Witnessing};
use crate::replica::Replica;
use crate::store::Db;
use crate::telemetry::{self, Metrics};
use crate::tls::refusals::RefusalLog;
use crate::tls::NodeTls;

/// A node, bound to its ports and ready to run.
pub struct Application {
    api_addr: SocketAddr,
    peer_addr: SocketAddr,
    api_server: Server,
    peer_server: Server,
    /// A dispatcher for a term of the dispatcher lease.
    make_dispatcher: Arc<dyn Fn(i64) -> Dispatcher + Send + Sync>,
    /// This process among the node's replicas.
    replica: Replica,
    db: Db,
    ctx: Arc<NodeCtx>,
    wake: Arc<Notify>,
    tls_api: bool,
    settled: tokio::sync::broadcast::Sender<String>,
    witnessing: Witnessing,
    checkpoint_interval: Duration,
    convergence: Convergence,
    compare_interval: Duration,
    refused: RefusalLog,
    refusal_audit_interval: Duration,
    deadline_check: Duration,
    follow_up_months: Vec<u32>,
    purge_interval: Duration,
    /// On PostgreSQL: where to listen for messages other replicas queue
    /// (see [`crate::store::wakeups`]).
    listen_url: Option<secrecy::SecretString>,
    /// This node's hold on its SQLite database (see [`crate::store::node_lock`]).
    node_lock: Option<crate::store::node_lock::NodeLock>,
}

/// Stops a running node.
#[derive(Clone)]
pub struct StopHandle {
    api: ServerHandle,
    peer: ServerHandle,
}

impl StopHandle {
    /// Stops both listeners (gracefully: in-flight requests finish); the
    /// dispatcher stops with them.
    pub async fn stop(&self, graceful: bool) {
        futures_util::future::join(self.api.stop(graceful), self.peer.stop(graceful)).await;
    }
}

impl Application {
    /// Opens (and migrates) the database, loads certificates and binds both
    /// listeners (port 0 picks a free port: see [`Self::api_port`], [`Self::peer_port`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let url = settings.database_url();
        let lock_url = url.clone();
        let node_lock = actix_web::rt::task::spawn_blocking(move || {
            crate::store::node_lock::acquire(&lock_url, crate::store::node_lock::Purpose::Serve)
        })
        .await
        .context("database lock task failed")??;
        let keys = settings.key_dir();
        let (max, busy) = (
            settings.database.max_connections,
            settings.database.busy_timeout_ms,
        );
        // Replicas start one at a time: migrations and the first writes.
        let start_url = url.clone();
        let starting = actix_web::rt::task::spawn_blocking(move || {
            crate::store::node_lock::starting(&start_url)
        })
        .await
        .context("database lock task failed")??;
        let listen_url = starting.is_some().then(|| url.clone());
        let db = actix_web::rt::task::spawn_blocking(move || Db::open(&url, &keys, max, busy))
            .await
            .context("database start-up task failed")??;
        let mut app = Self::with_db(settings, db)?;
        drop(starting);
        app.listen_url = listen_url;
        app.node_lock = Some(node_lock);
        Ok(app)
    }

    /// Builds the node over an already opened database.
    pub fn with_db(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let refused = RefusalLog::new(metrics.tls_refusals.clone());
        let tls = NodeTls::load(&settings.tls, settings.node.id)
            .context("cannot load the TLS certificates and keys")?;
        // Checkpoints signed with this key stay provable after a rotation.
        let pem = tls.client_certificate_pem.clone();
        let now = chrono::Utc::now().naive_utc();
        db.write_blocking(move |c| crate::app::audit::remember_own_certificate(c, &pem, now))
            .map(|_fingerprint| ())
            .context("cannot record the node's signing certificate")?;
        // Once, on a node upgraded from a version without the rollup.
        if db
            .write_blocking(crate::app::statistics::rebuild_if_needed)
            .context("cannot build the statistics' monthly rollup")?
        {
            tracing::info!("statistics' monthly rollup rebuilt from the history");
        }
        let ctx = Arc::new(NodeCtx {
            node: settings.node.id,
            deadlines: settings.deadlines.clone(),
            message_key: tls.message_key.clone(),
            receipt_key: tls.receipt_key.clone(),
            clock: Default::default(),
        });
        let wake = Arc::new(Notify::new());
        let replica = Replica::new(
            db.clone(),
            settings.replica.name.as_deref(),
            Duration::from_millis(settings.replica.lease_ttl_ms),
        );
        let link = Arc::new(crate::peer::link::Link::new(&settings.peer));
        let client = PeerClient::new(tls.peer_client.clone(), &settings.peer, link)?;
        let witnessing = Witnessing {
            db: db.clone(),
            ctx: ctx.clone(),
            client: client.clone(),
            batch: settings.audit.witness_batch,
            watch_batch: settings.audit.watch_leaves_per_round,
            suspended_told: Default::default(),
            lock: Default::default(),
            reconciling: Default::default(),
        };
        let convergence = Convergence {
            db: db.clone(),
            ctx: ctx.clone(),
            client: client.clone(),
            metrics: metrics.clone(),
            lock: Default::default(),
        };
        let state = web::Data::new(AppState {
            db: db.clone(),
            ctx: ctx.clone(),
            agency: settings.node.agency.clone(),
            metrics: metrics.clone(),
            wake: wake.clone(),
            witnessing: witnessing.clone(),
            audit: settings.audit.clone(),
            signer_certificate: tls.client_certificate_pem.clone(),
            follow_up_months: settings.deadlines.follow_up_months.clone(),
            convergence: convergence.clone(),
            session_limits: settings.console.limits(),
            replica: replica.clone(),
        });

        // Caseworker listener.
        let body_limit = settings.http.body_limit_bytes;
        let (json, path, query) = api::extractor_config(body_limit);
        let spec = api::openapi();
        let api = HttpServer::new(move || {
            let (app, _) = App::new()
                .into_utoipa_app()
                .app_data(state.clone())
                .app_data(json.clone())
                .app_data(path.clone())
                .app_data(query.clone())
                .app_data(web::PayloadConfig::default().limit(body_limit))
                .configure(api::configure)
                .split_for_parts();
            app.service(
                SwaggerUi::new("/swagger-ui/{_:.*}").url("/api-docs/openapi.json", spec.clone()),
            )
            .configure(api::console::configure)
            .default_service(web::to(api::unrouted))
            .wrap(ErrorHandlers::new().default_handler(problem_fallback))
            .wrap(from_fn(api::auth::authenticate))
            .wrap(from_fn(api::audit::record))
            .wrap(from_fn(api::language))
            .wrap(from_fn(telemetry::observe))
            .wrap(TracingLogger::<telemetry::PrivateRootSpan>::new())
        })
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_secs(30))
        .tcp_nodelay(true);
        let api = if settings.http.behind_tls_proxy {
            api.bind(settings.http.listen)
        } else {
            api.bind_rustls_0_23(settings.http.listen, (*tls.api_server).clone())
        }
        .with_context(|| format!("cannot listen on {}", settings.http.listen))?;
        let api = match settings.http.workers {
            Some(w) => api.workers(w),
            None => api,
        };
        let api_addr = *api.addrs().first().context("no caseworker address")?;

        // Peer listener: mTLS, node-to-node only.
        let (settled, _) = tokio::sync::broadcast::channel(65_536);
        let signals = crate::peer::receipts::Signals {
            settled: settled.clone(),
            in_hand: Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        let peer_state = web::Data::new(PeerState {
            db: db.clone(),
            ctx: ctx.clone(),
            client: client.clone(),
            signals: signals.clone(),
            catch_up_limit: Duration::from_secs((settings.peer.stall_timeout_secs / 2).max(1)),
            arrivals: Default::default(),
        });
        let peer_limit = settings.peer.body_limit_bytes;
        let peer_json = web::JsonConfig::default()
            .limit(peer_limit)
            .content_type_required(true)
            .error_handler(move |err, _req| {
                // The same codes as the API's, rendered by the peer's own error type.
                let e = api::json_error(err, peer_limit);
                crate::peer::error::PeerError::Refused(e.code(), e.to_string()).into()
            });
        let heard: Arc<std::sync::atomic::AtomicBool> = Default::default();
        let (heard_on_contact, wake_on_contact) = (heard.clone(), wake.clone());
        let peer_listener = std::net::TcpListener::bind(settings.peer.listen)
            .with_context(|| format!("cannot listen on {}", settings.peer.listen))?;
        let peer_addr = peer_listener.local_addr()?;
        let peer = crate::peer::listener::serve(
            peer_listener,
            tls.peer_server.clone(),
            refused.clone(),
            &crate::peer::listener::ListenerSettings {
                workers: settings.http.workers,
                // Idle connections from the peer stay open, so that an
                // occasional message costs one round trip, not a new handshake.
                keep_alive: Duration::from_secs(settings.peer.idle_timeout_secs + 5),
                client_request_timeout: Duration::from_secs(settings.peer.stall_timeout_secs),
                shutdown_timeout_secs: settings.http.shutdown_timeout_secs,
            },
            move || {
                let (heard, wake) = (heard_on_contact.clone(), wake_on_contact.clone());
                App::new()
                    .app_data(peer_state.clone())
                    .app_data(peer_json.clone())
                    .configure(peer_server::configure)
                    .configure(witness::configure)
                    .configure(crate::peer::convergence::configure)
                    .configure(crate::peer::channel::configure)
                    // The peer reached this node (its certificate passed the
                    // handshake): a dispatcher waiting out a failure tries now.
                    .wrap_fn(move |req, srv| {
                        heard.store(true, std::sync::atomic::Ordering::Relaxed);
                        wake.notify_one();
                        actix_web::dev::Service::call(srv, req)
                    })
                    // Every answer says this node understands batch
                    // signatures, so the peer signs its deliveries as one batch.
                    .wrap(
                        actix_web::middleware::DefaultHeaders::new()
                            .add((peer_server::SIGNATURES, "batch")),
                    )
                    // Answers in gzip to a node that asks for it.
                    .wrap(actix_web::middleware::Compress::default())
                    .wrap(ErrorHandlers::new().default_handler(problem_fallback))
                    .wrap(TracingLogger::<telemetry::PrivateRootSpan>::new())
            },
        )
        .context("cannot start the peer listener")?;

        // A transaction that queues a message wakes the dispatcher as it commits.
        db.wake_on_queued(wake.clone());
        let make_dispatcher = {
            let (db, ctx, client, wake) = (db.clone(), ctx.clone(), client.clone(), wake.clone());
            let (peer, metrics, signer) = (
                settings.peer.clone(),
                metrics.clone(),
                tls.peer_signer.clone(),
            );
            Arc::new(move |term: i64| {
                let mut d = Dispatcher::new(
                    db.clone(),
                    ctx.clone(),
                    client.clone(),
                    wake.clone(),
                    peer.clone(),
                    metrics.clone(),
                    signals.clone(),
                );
                d.peer_signer = Some(signer.clone());
                d.heard = heard.clone();
                d.fence = Some(term);
                d
            })
        };
        tracing::info!(
            replica = %replica.name,
            node = %settings.node.id,
            backend = db.backend(),
            database = %redact_url(&settings.database_url()),
            api = %api_addr,
            api_tls = !settings.http.behind_tls_proxy,
            peer_listener = %peer_addr,
            peer_url = %settings.peer.url,
            "Passerelle node listening"
        );
        Ok(Self {
            api_addr,
            peer_addr,
            api_server: api.run(),
            peer_server: peer,
            make_dispatcher,
            replica,
            db,
            ctx,
            wake,
            tls_api: !settings.http.behind_tls_proxy,
            settled,
            witnessing,
            checkpoint_interval: Duration::from_secs(settings.audit.checkpoint_interval_secs),
            convergence,
            compare_interval: Duration::from_secs(settings.peer.compare_interval_secs),
            refused,
            refusal_audit_interval: Duration::from_secs(settings.peer.refusal_audit_interval_secs),
            deadline_check: Duration::from_secs(settings.deadlines.check_interval_secs),
            follow_up_months: settings.deadlines.follow_up_months.clone(),
            purge_interval: Duration::from_secs(settings.database.purge_interval_secs.max(1)),
            listen_url: None,
            node_lock: None,
        })
    }

    pub fn api_port(&self) -> u16 {
        self.api_addr.port()
    }

    pub fn peer_port(&self) -> u16 {
        self.peer_addr.port()
    }

    /// Base URL of the caseworker API.
    pub fn api_url(&self) -> String {
        let scheme = if self.tls_api { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.api_port())
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Checkpoints and cosigning with the peer (tests drive rounds directly).
    pub fn witnessing(&self) -> Witnessing {
        self.witnessing.clone()
    }

    pub fn ctx(&self) -> Arc<NodeCtx> {
        self.ctx.clone()
    }

    /// Wakes the dispatcher (it also polls on its own).
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Case ids of outgoing messages as their receipts are recorded.
    pub fn subscribe_settled(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.settled.subscribe()
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            api: self.api_server.handle(),
            peer: self.peer_server.handle(),
        }
    }

    /// Serves until SIGINT/SIGTERM (or [`StopHandle::stop`]), then lets
    /// in-flight requests finish. The dispatcher runs alongside and stops
    /// with the listeners; whatever it had not delivered stays in the outbox.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Held until this node has stopped.
        let _node_lock = self.node_lock;
        let replica = self.replica.clone();
        let make = self.make_dispatcher.clone();
        let dispatching = tokio::spawn(
            replica
                .clone()
                .hold(leases::DISPATCHER, move |term| make(term).run()),
        );
        let timers = {
            let (witnessing, convergence) = (self.witnessing.clone(), self.convergence.clone());
            let (db, clock, months) = (
                self.db.clone(),
                self.ctx.clock.clone(),
                self.follow_up_months.clone(),
            );
            let (checkpoints, compare, deadlines, purge) = (
                self.checkpoint_interval,
                self.compare_interval,
                self.deadline_check,
                self.purge_interval,
            );
            tokio::spawn(replica.clone().hold(leases::TIMERS, move |_term| {
                let jobs = (
                    witnessing.clone().run(checkpoints),
                    convergence.clone().run(compare),
                    watch_deadlines(db.clone(), clock.clone(), deadlines, months.clone()),
                    purge_erased(db.clone(), clock.clone(), purge),
                );
                async move {
                    tokio::join!(jobs.0, jobs.1, jobs.2, jobs.3);
                }
            }))
        };
        // Every replica: its own refused handshakes, and the key directory.
        let refusals = tokio::spawn(crate::peer::listener::audit_refusals(
            self.db.clone(),
            self.refused.clone(),
            self.refusal_audit_interval,
        ));
        let keys = tokio::spawn(crate::replica::refresh_keys(
            self.db.clone(),
            self.purge_interval,
        ));
        // Messages other replicas queue wake this one's dispatcher.
        let listening = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(url) = self.listen_url.clone() {
            let (stop, wake) = (listening.clone(), self.wake.clone());
            std::thread::Builder::new()
                .name("outbox-listener".into())
                .spawn(move || crate::store::wakeups::listen(&url, &stop, || wake.notify_one()))?;
        }
        let result = futures_util::future::try_join(self.api_server, self.peer_server).await;
        dispatching.abort();
        timers.abort();
        refusals.abort();
        keys.abort();
        listening.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = futures_util::future::join(dispatching, timers).await;
        // Another replica takes over at once.
        replica.release().await;
        crate::peer::listener::write_tallies(&self.db, self.refused.take()).await;
        result.map(|_| ())
    }
}

/// At every interval: destroys the key-encryption keys a rotation
/// superseded (one interval earlier, so that no call still reads under
/// them), begins a new key epoch if a person's data key was destroyed since
/// the last (see [`crate::store::sealed`]), and, while a person's data was
/// erased in the last day, checkpoints and truncates SQLite's write-ahead
/// log so that its old pages go too ([`Db::purge_erased`]; outside such
/// days nothing more is done: a truncating checkpoint makes writers wait
/// for readers).
async fn purge_erased(db: Db, clock: crate::app::clock::Clock, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match db.destroy_superseded_keys().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(keys = n, "superseded key-encryption keys destroyed"),
            Err(e) => {
                tracing::warn!(error = %e, "superseded keys not destroyed; next at the next interval")
            }
        }
        let now = clock.now();
        match db
            .write(move |c| crate::app::erasure::rotate_keys(c, now))
            .await
        {
            Ok(Some(epoch)) => tracing::info!(epoch, "key epoch begun after an erasure"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "keys not rotated; next at the next interval"),
        }
        let since = now - chrono::Duration::days(1);
        match db.read(crate::app::erasure::latest_erasure).await {
            Ok(Some(at)) if at >= since => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "erasures not looked up; next at the next interval");
                continue;
            }
        }
        if let Err(e) = db.purge_erased().await {
            tracing::warn!(error = %e, "write-ahead log not truncated; next at the next interval");
        }
    }
}

/// Records, at every interval, the lifecycle steps that went past their SOP
/// time limit (each once, in the audit log).
async fn watch_deadlines(
    db: Db,
    clock: crate::app::clock::Clock,
    interval: Duration,
    months: Vec<u32>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = clock.now();
        match db
            .write({
                let months = months.clone();
                move |c| crate::app::deadlines::record_overdue(c, &months, now)
            })
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(steps = n, "steps past their SOP time limit recorded"),
            Err(e) => {
                tracing::warn!(error = %e, "overdue steps not recorded; next at the next interval")
            }
        }
    }
}
