//! The peer listener's connection handling: TLS with the peer's client
//! certificate required, every refused handshake counted, logged and
//! audited with its source address, then HTTP/1.1 to the peer's routes.
//!
//! actix-web's `HttpServer` hides failed handshakes (its acceptor drops them
//! without a word), so this listener assembles the same parts itself: an
//! actix-server socket, a rustls handshake run inside
//! [`refusals::in_handshake`], and actix-http's service over the peer app.

use std::sync::Arc;
use std::time::Duration;

use actix_http::{HttpService, Protocol};
use actix_server::Server;
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::App;

use crate::store::Db;
use crate::tls::refusals::{self, Refusal, RefusalLog, Tally};

/// How long a client has to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the peer listener runs (from `[peer]` and `[http]` settings).
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    pub workers: Option<usize>,
    pub keep_alive: Duration,
    pub client_request_timeout: Duration,
    pub shutdown_timeout_secs: u64,
}

/// Serves the peer app built by `app` on `listener`, with TLS from `tls`.
pub fn serve<F, T, B>(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    refused: RefusalLog,
    settings: &ListenerSettings,
    app: F,
) -> std::io::Result<Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let mut builder = Server::build().shutdown_timeout(settings.shutdown_timeout_secs);
    if let Some(workers) = settings.workers {
        builder = builder.workers(workers);
    }
    let shutdown = builder.graceful_shutdown_signal();
    let settings = settings.clone();
    builder
        .listen("passerelle-peer", listener, move || {
            let tls = tokio_rustls::TlsAcceptor::from(tls.clone());
            let refused = refused.clone();
            let shutdown = shutdown.clone();
            let handshake = fn_service(move |tcp: TcpStream| {
                let tls = tls.clone();
                let refused = refused.clone();
                async move {
                    let source = tcp.peer_addr().ok();
                    let _ = tcp.set_nodelay(true);
                    let (outcome, noted) = refusals::in_handshake(tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        tls.accept(tcp),
                    ))
                    .await;
                    let error = match outcome {
                        Ok(Ok(stream)) => {
                            return Ok((TlsStream::from(stream), Protocol::Http1, source))
                        }
                        Ok(Err(e)) => e,
                        Err(_) => std::io::ErrorKind::TimedOut.into(),
                    };
                    let (reason, certificate) = match noted {
                        Some((reason, certificate)) => (reason, certificate),
                        None if error.kind() == std::io::ErrorKind::TimedOut => {
                            ("handshake_timeout", None)
                        }
                        None => (refusals::reason_of_failure(&error), None),
                    };
                    refused.record(Refusal {
                        reason,
                        source: source.map(|s| s.ip()),
                        certificate,
                    });
                    Err(actix_http::error::DispatchError::Io(error))
                }
            });
            let peer_app = app()
                .into_factory()
                .map_err(|e: actix_web::Error| e.error_response());
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .keep_alive(settings.keep_alive)
                .client_request_timeout(settings.client_request_timeout)
                .on_connect_ext(crate::peer::server::capture_client_certificate)
                .finish(map_config(peer_app, move |_| {
                    // Semver-exempt constructor (actix-test uses it): the
                    // public one is crate-private in actix-web 4.
                    AppConfig::__priv_test_new(true, addr.to_string(), addr)
                }));
            handshake.and_then(http)
        })
        .map(|b| b.run())
}

/// Writes, every `interval`, one audit entry per reason and source of the
/// handshakes refused since the last time (the node writes what is left when
/// it stops; a crash loses at most one interval's entries, never the metric).
pub async fn audit_refusals(db: Db, refused: RefusalLog, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        write_tallies(&db, refused.take()).await;
    }
}

/// Writes the tallies of refused handshakes to the audit log.
pub async fn write_tallies(db: &Db, tallies: Vec<Tally>) {
    if tallies.is_empty() {
        return;
    }
    let entries: Vec<crate::audit::Entry> = tallies.iter().map(entry_of).collect();
    let count = entries.len();
    let result = db
        .write(move |c| {
            for e in entries {
                crate::app::audit::record(c, e)?;
            }
            Ok::<_, crate::store::DbError>(())
        })
        .await;
    match result {
        Ok(()) => tracing::warn!(
            entries = count,
            refused = tallies.iter().map(|t| t.count).sum::<u64>(),
            "refused peer connections written to the audit log"
        ),
        Err(e) => {
            tracing::error!(error = %e, "refused peer connections not written to the audit log")
        }
    }
}

/// The audit entry of one tally.
fn entry_of(t: &Tally) -> crate::audit::Entry {
    let actor = match &t.certificate {
        Some(c) => format!("certificate:{}", c.subject),
        None => "anonymous".into(),
    };
    let mut e = crate::audit::Entry::new(crate::audit::kinds::REFUSAL, actor, "TLS handshake");
    e.outcome = "refused".into();
    e.code = Some(t.reason.to_owned());
    e.digest = t.certificate.as_ref().map(|c| c.fingerprint.clone());
    e.source = Some(
        t.source
            .map_or_else(|| "(other sources)".into(), |s| s.to_string()),
    );
    e.occurrences = Some(i64::try_from(t.count).unwrap_or(i64::MAX));
    e
}
