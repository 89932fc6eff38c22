//! Configuration: built-in defaults, then a TOML file, then environment
//! variables `PASSERELLE__SECTION__KEY` (e.g. `PASSERELLE__DATABASE__URL`),
//! each layer overriding the one before. Every setting is documented on its
//! field below; the README carries the same reference as a table.
//!
//! Secrets (the database URL may hold a password) are wrapped in
//! [`SecretString`] and never printed: `Debug` shows `[REDACTED]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::ids::NodeId;

mod peer;
pub use peer::PeerSettings;

/// Everything a node needs to run.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Who this node is.
    pub node: NodeSettings,
    /// The caseworker HTTP API.
    #[serde(default)]
    pub http: HttpSettings,
    /// Storage.
    #[serde(default)]
    pub database: DatabaseSettings,
    /// Logging.
    #[serde(default)]
    pub log: LogSettings,
    /// Time limits per lifecycle step (hours), used for `due_at` and the overdue filter.
    #[serde(default)]
    pub deadlines: DeadlineSettings,
    /// API tokens.
    #[serde(default)]
    pub tokens: TokenSettings,
    /// The audit log: checkpoints, witnessing, the JTWG's statistics.
    #[serde(default)]
    pub audit: AuditSettings,
    /// Console sessions.
    #[serde(default)]
    pub console: ConsoleSettings,
    /// This process as one of the node's replicas.
    #[serde(default)]
    pub replica: ReplicaSettings,
    /// The other node and how to reach it.
    pub peer: PeerSettings,
    /// Certificates and keys.
    pub tls: TlsSettings,
}

/// `[node]`: identity of this node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// `node.id`: `ne-anltp` (Niamey) or `ng-naptip` (Abuja). Required.
    pub id: NodeId,
    /// `node.agency`: display name of the agency running the node; users belong to it.
    pub agency: String,
    /// `node.country`: ISO 3166-1 alpha-2 country; must match the node id (`NE` or `NG`).
    pub country: String,
    /// `node.data_dir`: directory for the embedded SQLite database and other
    /// local state (default `data`). Created if missing.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

/// `[http]`: the caseworker API listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// `http.listen`: address and port to listen on (default `127.0.0.1:8080`;
    /// port 0 picks a free port).
    pub listen: SocketAddr,
    /// `http.body_limit_bytes`: largest accepted request body (default 65536).
    pub body_limit_bytes: usize,
    /// `http.workers`: worker threads (default: one per CPU).
    pub workers: Option<usize>,
    /// `http.shutdown_timeout_secs`: how long in-flight requests may finish
    /// after SIGINT/SIGTERM (default 30).
    pub shutdown_timeout_secs: u64,
    /// `http.behind_tls_proxy`: serve plain HTTP because a TLS-terminating
    /// proxy sits in front (default false: the listener serves HTTPS with
    /// `tls.server_cert`).
    pub behind_tls_proxy: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit_bytes: 64 * 1024,
            workers: None,
            shutdown_timeout_secs: 30,
            behind_tls_proxy: false,
        }
    }
}

/// `[database]`: storage backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `database.url`: `sqlite://PATH`, a plain file path, or
    /// `postgres://user:password@host/db`. Default: SQLite at
    /// `{data_dir}/passerelle.db`. Secret: never printed.
    pub url: Option<SecretString>,
    /// `database.max_connections`: size of the read pool (SQLite) or of the
    /// whole pool (PostgreSQL) (default 8). SQLite always has exactly one writer.
    pub max_connections: u32,
    /// `database.busy_timeout_ms`: SQLite busy timeout (default 5000). On
    /// PostgreSQL, a transaction whose client stays silent for twice this
    /// long is ended by the server (`idle_in_transaction_session_timeout`):
    /// a replica paused or cut off in the middle of one lets go of its locks.
    pub busy_timeout_ms: u64,
    /// `database.purge_interval_secs`: how often the node begins a new key
    /// epoch after a person's data key was destroyed (and destroys the
    /// superseded key-encryption key one interval later; see
    /// `database.key_dir`); SQLite: for a day after an erasure, how often
    /// the write-ahead log is checkpointed and truncated, so that its old
    /// pages go too (default 60).
    pub purge_interval_secs: u64,
    /// `database.key_dir`: directory of the key ring — the key-encryption
    /// keys that personal data at rest is sealed under (default
    /// `{data_dir}/keys`). Keep it out of database backups (a backup must
    /// not carry the key that opens it) and back it up on its own, like the
    /// TLS keys; several replicas share it. After a consent withdrawal the
    /// node begins a new key epoch within one `purge_interval_secs` and
    /// destroys the old key at the next, so that nothing the withdrawn
    /// person's data key sealed can be read from any copy of the database.
    pub key_dir: Option<PathBuf>,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            key_dir: None,
            url: None,
            max_connections: 8,
            busy_timeout_ms: 5000,
            purge_interval_secs: 60,
        }
    }
}

/// `[log]`: logging.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `log.format`: `pretty` (default) or `json`.
    pub format: LogFormat,
    /// `log.filter`: tracing filter, e.g. `info,passerelle=debug` (default
    /// `info`). `RUST_LOG`, when set, wins.
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Pretty,
    Json,
}

pub use crate::domain::deadlines::DeadlineSettings;

/// `[tokens]`: API bearer tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    /// `tokens.default_ttl_days`: lifetime of a token when none is given (default 90).
    pub default_ttl_days: u32,
    /// `tokens.max_ttl_days`: longest lifetime a token may be issued with (default 365).
    pub max_ttl_days: u32,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            default_ttl_days: 90,
            max_ttl_days: 365,
        }
    }
}

/// `[console]`: sessions opened by signing in with a password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// `console.session_idle_minutes`: a session unused this long ends
    /// (default 30; 1 to 1440).
    pub session_idle_minutes: u32,
    /// `console.session_hours`: a session ends this long after sign-in,
    /// however used (default 12; 1 to 72).
    pub session_hours: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            session_hours: 12,
        }
    }
}

impl ConsoleSettings {
    /// The limits the sessions run under.
    pub fn limits(&self) -> crate::app::sign_in::SessionLimits {
        crate::app::sign_in::SessionLimits {
            idle: chrono::Duration::minutes(i64::from(self.session_idle_minutes)),
            absolute: chrono::Duration::hours(i64::from(self.session_hours)),
        }
    }
}

/// `[replica]`: this process as one of several replicas of the node over
/// one PostgreSQL database (a node on SQLite is one process: it has one
/// replica). The dispatcher and the timers run on one replica at a time,
/// under a lease in the database (see [`crate::app::leases`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicaSettings {
    /// `replica.name`: how this replica is named in leases, `/readyz` and
    /// logs (default: the host name and process id). A random suffix is
    /// added, so that a restarted replica never passes for the one before.
    pub name: Option<String>,
    /// `replica.lease_ttl_ms`: how long a lease lasts unless renewed
    /// (default 6000; 500 to 600000). It is renewed every third of that; a
    /// replica that dies holding it is replaced after at most this long.
    pub lease_ttl_ms: u64,
}

impl Default for ReplicaSettings {
    fn default() -> Self {
        Self {
            name: None,
            lease_ttl_ms: 6000,
        }
    }
}

/// `[audit]`: the tamper-evident log.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// `audit.checkpoint_interval_secs`: how often the node signs its tree
    /// head (when the log grew) and sends it to the peer to cosign (default 60).
    pub checkpoint_interval_secs: u64,
    /// `audit.witness_batch`: most leaf hashes sent with one checkpoint; a
    /// longer backlog is witnessed in several checkpoints (default 2000: the
    /// other node stores them in one transaction, which its people's
    /// requests wait behind).
    pub witness_batch: u64,
    /// `audit.watch_leaves_per_round`: after each witnessing round, this
    /// many leaves of the other node's log are re-checked against its
    /// entries as they are now, from where the last round stopped, wrapping
    /// around (default 10000: at the default interval a log of a million
    /// entries is re-checked every 100 minutes). A mismatch suspends
    /// cosigning until an administrator acknowledges it.
    pub watch_leaves_per_round: u64,
    /// `audit.min_cell_count`: statistics counts below this are suppressed
    /// (shown as null) so that no victim can be singled out (default 5).
    pub min_cell_count: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            checkpoint_interval_secs: 60,
            witness_batch: 2_000,
            watch_leaves_per_round: 10_000,
            min_cell_count: 5,
        }
    }
}

/// `[tls]`: certificates and keys (PEM). Development set: `certs-dev/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// `tls.server_cert`: this node's server certificate chain; DNS SANs: the
    /// node id and the host names the caseworker and peer URLs use.
    pub server_cert: PathBuf,
    /// `tls.server_key`: its private key (also signs receipts). Secret: keep readable by the service only.
    pub server_key: PathBuf,
    /// `tls.client_cert`: this node's client certificate (DNS SAN = node id),
    /// presented to the peer.
    pub client_cert: PathBuf,
    /// `tls.client_key`: its private key (also signs outgoing messages). Secret.
    pub client_key: PathBuf,
    /// `tls.peer_ca`: CA certificate files trusted for the peer (several at
    /// once during a rotation).
    pub peer_ca: Vec<PathBuf>,
    /// `tls.key_passphrase_file`: a file holding the passphrase of the two
    /// private keys when they are encrypted PEM (PKCS#8 `ENCRYPTED PRIVATE
    /// KEY` or legacy `Proc-Type: 4,ENCRYPTED`); its trailing newline is
    /// ignored. Like the keys, it must not be readable by other users.
    #[serde(default)]
    pub key_passphrase_file: Option<PathBuf>,
    /// `tls.key_passphrase` (better from the environment:
    /// `PASSERELLE__TLS__KEY_PASSPHRASE`): the passphrase itself, when no
    /// file gives it. Never printed.
    #[serde(default)]
    pub key_passphrase: Option<SecretString>,
}

impl TlsSettings {
    /// The private keys' passphrase, from `key_passphrase_file` or
    /// `key_passphrase`, if either is set.
    pub fn passphrase(&self) -> anyhow::Result<Option<SecretString>> {
        if let Some(file) = &self.key_passphrase_file {
            crate::tls::refuse_shared_secret_file(file)?;
            let text = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            return Ok(Some(SecretString::from(text.to_owned())));
        }
        Ok(self.key_passphrase.clone())
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// Configuration errors, reported at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} not found")]
    FileNotFound(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Loads defaults, then `file` (if given; it must exist), then `PASSERELLE__…` variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::FileNotFound(file.to_path_buf()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let settings: Settings = figment
            .merge(Env::prefixed("PASSERELLE__").split("__"))
            .extract()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.node.country != self.node.id.country() {
            return Err(ConfigError::Invalid(format!(
                "node.country is `{}` but node `{}` is in `{}`",
                self.node.country,
                self.node.id,
                self.node.id.country()
            )));
        }
        if self.node.agency.trim().is_empty() {
            return Err(ConfigError::Invalid("node.agency must not be empty".into()));
        }
        if self.deadlines.check_interval_secs == 0 || self.deadlines.check_interval_secs > 86_400 {
            return Err(ConfigError::Invalid(
                "deadlines.check_interval_secs must be between 1 and 86400".into(),
            ));
        }
        if self.deadlines.follow_up_months.len() > 24
            || self
                .deadlines
                .follow_up_months
                .iter()
                .any(|m| *m == 0 || *m > 120)
        {
            return Err(ConfigError::Invalid(
                "deadlines.follow_up_months: at most 24 follow-ups, each 1 to 120 months".into(),
            ));
        }
        if !(1..=1440).contains(&self.console.session_idle_minutes)
            || !(1..=72).contains(&self.console.session_hours)
        {
            return Err(ConfigError::Invalid(
                "console.session_idle_minutes must be 1 to 1440 and console.session_hours 1 to 72"
                    .into(),
            ));
        }
        if !(500..=600_000).contains(&self.replica.lease_ttl_ms) {
            return Err(ConfigError::Invalid(
                "replica.lease_ttl_ms must be between 500 and 600000".into(),
            ));
        }
        if self.audit.checkpoint_interval_secs == 0 || self.audit.checkpoint_interval_secs > 86_400
        {
            return Err(ConfigError::Invalid(
                "audit.checkpoint_interval_secs must be between 1 and 86400".into(),
            ));
        }
        if self.audit.witness_batch == 0 || self.audit.witness_batch > 100_000 {
            return Err(ConfigError::Invalid(
                "audit.witness_batch must be between 1 and 100000".into(),
            ));
        }
        if self.tokens.default_ttl_days == 0
            || self.tokens.default_ttl_days > self.tokens.max_ttl_days
        {
            return Err(ConfigError::Invalid(
                "tokens.default_ttl_days must be between 1 and tokens.max_ttl_days".into(),
            ));
        }
        if !(self.peer.url.starts_with("https://")) {
            return Err(ConfigError::Invalid(
                "peer.url must be an https:// URL".into(),
            ));
        }
        let p = &self.peer;
        if p.batch_size == 0
            || p.pipeline == 0
            || p.min_batch_bytes == 0
            || p.min_batch_bytes > p.max_batch_bytes
            || p.max_batch_bytes > p.body_limit_bytes
            || !(p.min_batch_bytes..=p.max_batch_bytes).contains(&p.initial_batch_bytes)
        {
            return Err(ConfigError::Invalid(
                "peer: batch_size ≥ 1, pipeline ≥ 1 and min_batch_bytes ≤ initial_batch_bytes ≤ max_batch_bytes ≤ body_limit_bytes".into(),
            ));
        }
        if !(p.target_request_secs > 0.0 && p.target_request_secs <= 600.0)
            || p.stall_timeout_secs == 0
            || p.retry_initial_ms == 0
            || p.retry_initial_ms > p.retry_max_ms
            || p.probe_interval_ms == 0
            || p.compare_interval_secs == 0
        {
            return Err(ConfigError::Invalid(
                "peer: target_request_secs in (0, 600], stall_timeout_secs, probe_interval_ms and compare_interval_secs ≥ 1, retry_initial_ms ≤ retry_max_ms".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.peer.jitter) {
            return Err(ConfigError::Invalid(
                "peer.jitter must be between 0 and 1".into(),
            ));
        }
        let too_long = [
            self.deadlines.submitted_hours,
            self.deadlines.approved_hours,
            self.deadlines.received_hours,
            self.deadlines.info_requested_hours,
            self.deadlines.accepted_hours,
            self.deadlines.handover_scheduled_hours,
            self.deadlines.in_transit_hours,
            self.deadlines.handed_over_hours,
        ]
        .into_iter()
        .flatten()
        .any(|h| h > 24 * 3660);
        if too_long || self.tokens.max_ttl_days > 3660 {
            return Err(ConfigError::Invalid(
                "time limits and token lifetimes must be under ten years".into(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Invalid(
                "database.max_connections must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The database URL to use: the configured one or SQLite in the data directory.
    /// The key ring's directory (`database.key_dir`, default `{data_dir}/keys`).
    pub fn key_dir(&self) -> PathBuf {
        self.database
            .key_dir
            .clone()
            .unwrap_or_else(|| self.node.data_dir.join("keys"))
    }

    pub fn database_url(&self) -> SecretString {
        match &self.database.url {
            Some(url) => url.clone(),
            None => {
                let path = self.node.data_dir.join("passerelle.db");
                SecretString::from(format!("sqlite://{}", path.display()))
            }
        }
    }
}

/// The database URL with any password masked, for logs: the password of
/// the user-info part and every query parameter value but a few harmless ones.
pub fn redact_url(url: &SecretString) -> String {
    let url = url.expose_secret();
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &base[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &base[..scheme_end], user, &base[at + 1..])
        }
        _ => base.to_owned(),
    };
    match query {
        None => base,
        Some(q) => {
            let params: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, v))
                        if matches!(
                            k,
                            "sslmode"
                                | "connect_timeout"
                                | "application_name"
                                | "host"
                                | "port"
                                | "dbname"
                                | "user"
                        ) =>
                    {
                        format!("{k}={v}")
                    }
                    Some((k, _)) => format!("{k}=***"),
                    None => kv.to_owned(),
                })
                .collect();
            format!("{base}?{}", params.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let u = SecretString::from("postgres://app:s3cret@db.example/passerelle".to_string());
        assert_eq!(redact_url(&u), "postgres://app:***@db.example/passerelle");
        assert!(!format!("{u:?}").contains("s3cret"));
        let q = SecretString::from(
            "postgres://db/passerelle?user=app&password=s3cret&sslmode=require".to_string(),
        );
        assert_eq!(
            redact_url(&q),
            "postgres://db/passerelle?user=app&password=***&sslmode=require"
        );
        let s = SecretString::from("sqlite://data/x.db".to_string());
        assert_eq!(redact_url(&s), "sqlite://data/x.db");
    }

    #[test]
    fn deadlines_cover_only_active_states() {
        let d = DeadlineSettings::default();
        assert_eq!(
            d.limit(crate::domain::lifecycle::State::Received),
            Some(chrono::Duration::hours(120))
        );
        assert_eq!(d.limit(crate::domain::lifecycle::State::Closed), None);
        assert_eq!(d.limit(crate::domain::lifecycle::State::Draft), None);
    }
}
