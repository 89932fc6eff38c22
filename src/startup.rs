//! Building and running the node's HTTP server.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, AppState};
use crate::config::{redact_url, Settings};
use crate::db::Db;
use crate::error::problem_fallback;
use crate::telemetry::{self, Metrics};

/// A node, bound to its port and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    db: Db,
}

impl Application {
    /// Opens (and migrates) the database and binds the listener. With
    /// `http.listen` on port 0 the OS picks a free port: see [`Self::port`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let url = settings.database_url();
        let (max, busy) = (
            settings.database.max_connections,
            settings.database.busy_timeout_ms,
        );
        let db = actix_web::rt::task::spawn_blocking(move || Db::open(&url, max, busy))
            .await
            .context("database start-up task failed")??;
        Self::with_db(settings, db)
    }

    /// Builds the server over an already opened database.
    pub fn with_db(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.http.listen)
            .with_context(|| format!("cannot listen on {}", settings.http.listen))?;
        let port = listener.local_addr()?.port();
        tracing::info!(
            node = %settings.node.id,
            backend = db.backend(),
            database = %redact_url(&settings.database_url()),
            address = %listener.local_addr()?,
            "Passerelle node listening"
        );
        let state = web::Data::new(AppState {
            db: db.clone(),
            node: settings.node.id,
            agency: settings.node.agency.clone(),
            deadlines: settings.deadlines.clone(),
            metrics: Metrics::new(),
        });
        let body_limit = settings.http.body_limit_bytes;
        let (json, path, query) = api::extractor_config(body_limit);
        let spec = api::openapi();
        let mut server = HttpServer::new(move || {
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
            .wrap(ErrorHandlers::new().default_handler(problem_fallback))
            .wrap(from_fn(telemetry::observe))
            .wrap(TracingLogger::default())
        })
        .shutdown_timeout(settings.http.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_secs(30))
        .listen(listener)?;
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            db,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
