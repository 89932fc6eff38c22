//! Logging (tracing, with a request id per request) and Prometheus metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};
use tracing_actix_web::RequestId;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global tracing subscriber. `RUST_LOG` overrides the
/// configured filter. Safe to call more than once (later calls do nothing).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match settings.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
}

/// HTTP metrics of this node.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// TLS handshakes refused on the peer listener, by reason.
    pub tls_refusals: IntCounterVec,
    /// Messages per delivery request.
    pub peer_batch_messages: Histogram,
    /// Bytes sent per delivery request.
    pub peer_batch_bytes: Histogram,
    /// Throughput measured on the link to the peer, bytes per second.
    pub peer_throughput: Gauge,
    /// Byte budget of the next request to the peer.
    pub peer_link_budget: Gauge,
    /// Age of the oldest message not yet delivered to the peer, seconds.
    pub peer_oldest_undelivered: IntGauge,
    /// Failed deliveries, by cause.
    pub peer_delivery_failures: IntCounterVec,
    /// Shared cases on which the two nodes disagree (at the last comparison).
    pub peer_disagreements: IntGauge,
    /// 1 while delivery to the peer is held because this node is behind the
    /// peer's copies (restored from an older backup), else 0.
    pub peer_delivery_held: IntGauge,
}

fn metric<T>(m: Result<T, prometheus::Error>) -> T {
    m.unwrap_or_else(|e| panic!("metric definition: {e}"))
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "passerelle_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "passerelle_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route", "method"],
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        let tls_refusals = IntCounterVec::new(
            Opts::new(
                "passerelle_peer_tls_refusals_total",
                "Peer client certificates refused in the TLS handshake, by reason",
            ),
            &["reason"],
        )
        .unwrap_or_else(|e| panic!("metric definition: {e}"));
        let peer_batch_messages = metric(Histogram::with_opts(
            HistogramOpts::new(
                "passerelle_peer_batch_messages",
                "Messages per delivery request to the peer",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
            ]),
        ));
        let peer_batch_bytes = metric(Histogram::with_opts(
            HistogramOpts::new(
                "passerelle_peer_batch_bytes",
                "Bytes sent per delivery request to the peer",
            )
            .buckets(prometheus::exponential_buckets(1024.0, 4.0, 8).unwrap_or_default()),
        ));
        let peer_throughput = metric(Gauge::new(
            "passerelle_peer_link_bytes_per_second",
            "Throughput measured on the link to the peer (smoothed)",
        ));
        let peer_link_budget = metric(Gauge::new(
            "passerelle_peer_link_budget_bytes",
            "Byte budget of the next request to the peer",
        ));
        let peer_delivery_held = metric(IntGauge::new(
            "passerelle_peer_delivery_held",
            "1 while delivery is held: this node is behind the peer's copies (restored from an older backup)",
        ));
        let peer_oldest_undelivered = metric(IntGauge::new(
            "passerelle_peer_oldest_undelivered_seconds",
            "Age of the oldest message not yet delivered to the peer (0: none)",
        ));
        let peer_delivery_failures = metric(IntCounterVec::new(
            Opts::new(
                "passerelle_peer_delivery_failures_total",
                "Failed deliveries to the peer, by cause",
            ),
            &["cause"],
        ));
        let peer_disagreements = metric(IntGauge::new(
            "passerelle_peer_disagreements",
            "Shared cases on which the two nodes disagree, at the last comparison",
        ));
        // Registration only fails on duplicate names, which a fresh registry cannot have.
        let _ = registry.register(Box::new(requests.clone()));
        let _ = registry.register(Box::new(latency.clone()));
        let _ = registry.register(Box::new(tls_refusals.clone()));
        let _ = registry.register(Box::new(peer_batch_messages.clone()));
        let _ = registry.register(Box::new(peer_batch_bytes.clone()));
        let _ = registry.register(Box::new(peer_throughput.clone()));
        let _ = registry.register(Box::new(peer_link_budget.clone()));
        let _ = registry.register(Box::new(peer_oldest_undelivered.clone()));
        let _ = registry.register(Box::new(peer_delivery_failures.clone()));
        let _ = registry.register(Box::new(peer_disagreements.clone()));
        let _ = registry.register(Box::new(peer_delivery_held.clone()));
        Self {
            registry,
            requests,
            latency,
            tls_refusals,
            peer_batch_messages,
            peer_batch_bytes,
            peer_throughput,
            peer_link_budget,
            peer_oldest_undelivered,
            peer_delivery_failures,
            peer_disagreements,
            peer_delivery_held,
        }
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware: records metrics and returns the request id in `X-Request-Id`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req
        .app_data::<actix_web::web::Data<crate::api::AppState>>()
        .map(|s| s.metrics.clone());
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let method = req.method().to_string();
    let mut res = next.call(req).await?;
    // Unmatched paths share one label so that scanners cannot blow up the series count.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    if let Some(m) = metrics {
        m.requests
            .with_label_values(&[route.as_str(), method.as_str(), res.status().as_str()])
            .inc();
        m.latency
            .with_label_values(&[route.as_str(), method.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), id);
    }
    Ok(res)
}

/// The root span of every HTTP request, without anything a person could be
/// identified by: method, route pattern (never the path's values or the
/// query string, which may hold a name), request id, status and problem code
/// (never the error's text, which may quote the body).
pub struct PrivateRootSpan;

impl tracing_actix_web::RootSpanBuilder for PrivateRootSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = tracing::field::Empty,
            http.status_code = tracing::field::Empty,
            problem.code = tracing::field::Empty,
            request_id = %request_id,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: tracing::Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        match outcome {
            Ok(res) => {
                let route = res
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".into());
                span.record("http.route", route.as_str());
                span.record("http.status_code", res.status().as_u16());
                if let Some(code) = res
                    .response()
                    .extensions()
                    .get::<crate::api::error::AnsweredCode>()
                {
                    span.record("problem.code", code.0.as_str());
                }
            }
            Err(e) => {
                span.record(
                    "http.status_code",
                    e.as_response_error().status_code().as_u16(),
                );
            }
        }
    }
}
