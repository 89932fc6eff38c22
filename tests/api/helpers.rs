use std::collections::HashMap;
use std::sync::Once;

use crate::fake_peer::PeerCase;
use chrono::{NaiveDateTime, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use passerelle::config::{
    DatabaseSettings, HttpSettings, LogSettings, NodeSettings, PeerSettings, Settings, TlsSettings,
};
use passerelle::domain::ids::{NodeId, ReferralId};
use passerelle::domain::lifecycle::Action;
use passerelle::domain::roles::Role;
use passerelle::startup::{Application, StopHandle};
use passerelle::store::{users, Db};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

static TRACING: Once = Once::new();

/// Logs are quiet unless `TEST_LOG` is set.
fn init_logs() {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            passerelle::telemetry::init(&LogSettings {
                filter: "debug".into(),
                ..Default::default()
            });
        }
    });
}

/// Which backend the suite runs against.
pub fn backend() -> String {
    std::env::var("PASSERELLE_TEST_BACKEND").unwrap_or_else(|_| "sqlite".into())
}

/// A fresh PostgreSQL database, dropped with the guard.
pub struct PgDatabase {
    admin_url: String,
    pub name: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        openssl::init();
        let admin_url = std::env::var("PASSERELLE_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("passerelle_t_{}", uuid::Uuid::new_v4().simple());
        let mut c = PgConnection::establish(&admin_url).expect("PostgreSQL reachable for tests");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .expect("create test database");
        Self { admin_url, name }
    }

    pub fn url(&self) -> String {
        match self.admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{}", self.name),
            None => panic!("bad PASSERELLE_TEST_PG_URL"),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c);
        }
    }
}

/// Changes a node's settings before it starts (kept for restarts).
pub type Tweak = std::sync::Arc<dyn Fn(&mut Settings) + Send + Sync>;

pub fn no_tweak() -> Tweak {
    std::sync::Arc::new(|_| {})
}

pub struct TestNode {
    pub tweak: Tweak,
    pub address: String,
    pub client: reqwest::Client,
    pub tokens: HashMap<Role, String>,
    pub db: Db,
    pub ctx: std::sync::Arc<passerelle::app::NodeCtx>,
    pub node: NodeId,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    pub stop: StopHandle,
    pub ports: Ports,
    pub wake: std::sync::Arc<tokio::sync::Notify>,
    /// The node's run, until it has stopped.
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
    /// The fake other node, made on first use (single-node tests only).
    fake_peer: std::sync::OnceLock<crate::fake_peer::FakePeer>,
    _pg: Option<PgDatabase>,
}

/// The ports of a node: its caseworker API, its peer listener, and the peer
/// listener of the other node it talks to.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub api: u16,
    pub peer: u16,
    pub other_peer: u16,
}

/// A free port on loopback, for a node whose port the other must know
/// before it starts. Drawn below the kernel's ephemeral range (32768 and up
/// on Linux), where port-0 listeners and outgoing connections take theirs:
/// a port picked there could be taken by one of those before the node binds
/// it (seen: "address already in use").
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Each test process walks its own stretch, starting from its id.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 6_000) as u16;
    loop {
        let port = 20_000 + (start - 20_000 + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn certs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("certs-dev")
}

pub fn tls_settings(node: NodeId) -> TlsSettings {
    passerelle::tls::pki::dev_tls_settings(&certs_dir(), node)
}

pub fn settings(node: NodeId, dir: &std::path::Path, database_url: &str, ports: Ports) -> Settings {
    Settings {
        node: NodeSettings {
            id: node,
            agency: match node {
                NodeId::NeAnltp => "ANLTP/TIM".into(),
                NodeId::NgNaptip => "NAPTIP".into(),
            },
            country: node.country().into(),
            data_dir: dir.to_path_buf(),
        },
        http: HttpSettings {
            listen: format!("127.0.0.1:{}", ports.api).parse().unwrap(),
            body_limit_bytes: 16 * 1024,
            workers: Some(2),
            ..Default::default()
        },
        database: DatabaseSettings {
            url: Some(SecretString::from(database_url.to_owned())),
            ..Default::default()
        },
        log: LogSettings::default(),
        deadlines: Default::default(),
        tokens: Default::default(),
        audit: Default::default(),
        console: Default::default(),
        // A replica that dies is replaced within 1.5 s (6 s by default).
        replica: passerelle::config::ReplicaSettings {
            lease_ttl_ms: 1500,
            ..Default::default()
        },
        peer: PeerSettings {
            url: format!("https://127.0.0.1:{}", ports.other_peer),
            listen: format!("127.0.0.1:{}", ports.peer).parse().unwrap(),
            batch_size: 64,
            retry_initial_ms: 50,
            retry_max_ms: 1600,
            probe_interval_ms: 500,
            poll_interval_ms: 100,
            stall_timeout_secs: 5,
            refusal_audit_interval_secs: 1,
            ..Default::default()
        },
        tls: tls_settings(node),
    }
}

/// HTTPS client for a node's caseworker API (trusts that node's dev CA).
pub fn api_client(node: NodeId) -> reqwest::Client {
    passerelle::tls::https_client(&passerelle::tls::pki::node_files(&certs_dir(), node).ca_cert)
        .unwrap()
}

/// Starts a node with a fresh database and one user (and token) per role.
/// Its peer is expected at `ports.other_peer` (nothing need listen there).
pub async fn spawn_node(node: NodeId) -> TestNode {
    spawn_node_with(node, no_tweak()).await
}

/// Starts a node with its settings changed by `tweak`.
pub async fn spawn_node_with(node: NodeId, tweak: Tweak) -> TestNode {
    spawn_with_ports(
        node,
        Ports {
            api: 0,
            peer: 0,
            other_peer: free_port(),
        },
        tweak,
    )
    .await
}

/// The message types a node sent about a case, in order (through the API).
pub async fn sent_types(n: &TestNode, case_id: &str) -> Vec<String> {
    let mut sent: Vec<(i64, String)> = crate::exchange::messages(n, case_id)
        .await
        .iter()
        .filter(|m| m["direction"] == "outgoing")
        .map(|m| {
            (
                m["seq"].as_i64().unwrap(),
                m["message_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    sent.sort();
    sent.into_iter().map(|(_, t)| t).collect()
}

/// Two nodes, Niamey and Abuja, talking to each other over mTLS.
pub async fn spawn_pair() -> (TestNode, TestNode) {
    spawn_pair_with(no_tweak(), no_tweak()).await
}

/// Two nodes with their settings changed by `ne` and `ng`.
pub async fn spawn_pair_with(ne: Tweak, ng: Tweak) -> (TestNode, TestNode) {
    let (ne_peer, ng_peer) = (free_port(), free_port());
    let a = spawn_with_ports(
        NodeId::NeAnltp,
        Ports {
            api: 0,
            peer: ne_peer,
            other_peer: ng_peer,
        },
        ne,
    )
    .await;
    let b = spawn_with_ports(
        NodeId::NgNaptip,
        Ports {
            api: 0,
            peer: ng_peer,
            other_peer: ne_peer,
        },
        ng,
    )
    .await;
    (a, b)
}

/// Two nodes whose every byte to each other goes through a slow-link proxy,
/// one per direction of connection: `to_ng` carries Niamey's requests to
/// Abuja (and their answers), `to_ne` Abuja's requests to Niamey.
pub struct LinkedPair {
    pub ne: TestNode,
    pub ng: TestNode,
    pub to_ng: passerelle::bench::slowlink::SlowLink,
    pub to_ne: passerelle::bench::slowlink::SlowLink,
}

impl LinkedPair {
    /// Cuts (or restores) the link both ways.
    pub fn set_down(&self, down: bool) {
        self.to_ng.set_down(down);
        self.to_ne.set_down(down);
    }
}

pub async fn spawn_linked_pair(
    link: passerelle::bench::slowlink::LinkConfig,
    ne: Tweak,
    ng: Tweak,
) -> LinkedPair {
    let (ne_peer, ng_peer) = (free_port(), free_port());
    let to_ng = passerelle::bench::slowlink::SlowLink::start(ng_peer, link)
        .await
        .unwrap();
    let to_ne = passerelle::bench::slowlink::SlowLink::start(ne_peer, link)
        .await
        .unwrap();
    let a = spawn_with_ports(
        NodeId::NeAnltp,
        Ports {
            api: 0,
            peer: ne_peer,
            other_peer: to_ng.port(),
        },
        ne,
    )
    .await;
    let b = spawn_with_ports(
        NodeId::NgNaptip,
        Ports {
            api: 0,
            peer: ng_peer,
            other_peer: to_ne.port(),
        },
        ng,
    )
    .await;
    LinkedPair {
        ne: a,
        ng: b,
        to_ng,
        to_ne,
    }
}

/// The peer settings a deployment gets when it sets nothing but the URL and
/// the listener (the test defaults retry and poll faster).
pub fn production_peer_defaults() -> Tweak {
    std::sync::Arc::new(|s: &mut Settings| {
        s.peer = PeerSettings {
            url: s.peer.url.clone(),
            listen: s.peer.listen,
            ..Default::default()
        };
    })
}

async fn spawn_with_ports(node: NodeId, ports: Ports, tweak: Tweak) -> TestNode {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let (database_url, pg) = if backend() == "postgres" {
        let pg = PgDatabase::create();
        (pg.url(), Some(pg))
    } else {
        (
            format!("sqlite://{}", dir.path().join("node.db").display()),
            None,
        )
    };
    let mut node = start(node, dir, database_url, pg, ports, tweak).await;
    let mut tokens = HashMap::new();
    for role in Role::ALL {
        let name = role.as_str().replace('_', "-");
        let now = now();
        let token = node
            .db
            .write_blocking(|c| {
                users::create_user(c, &name, &format!("Test {name}"), role, "test agency", now)?;
                users::issue_token(c, &name, "test", 30, now)
            })
            .unwrap();
        tokens.insert(role, token.secret);
    }
    node.tokens = tokens;
    node
}

async fn start(
    node: NodeId,
    dir: tempfile::TempDir,
    database_url: String,
    pg: Option<PgDatabase>,
    ports: Ports,
    tweak: Tweak,
) -> TestNode {
    let mut s = settings(node, dir.path(), &database_url, ports);
    tweak(&mut s);
    let app = Application::build(s).await.expect("node starts");
    let address = app.api_url();
    let ports = Ports {
        api: app.api_port(),
        peer: app.peer_port(),
        other_peer: ports.other_peer,
    };
    let db = app.db().clone();
    let ctx = app.ctx();
    let stop = app.stop_handle();
    let wake = app.wake();
    let task = tokio::spawn(app.run_until_stopped());
    TestNode {
        task: tokio::sync::Mutex::new(Some(task)),
        tweak,
        address,
        client: api_client(node),
        tokens: HashMap::new(),
        db,
        ctx,
        node,
        database_url,
        dir,
        stop,
        ports,
        wake,
        fake_peer: std::sync::OnceLock::new(),
        _pg: pg,
    }
}

impl TestNode {
    /// Stops the node (as if it went down); its database stays.
    /// Returns once it has let go of its database.
    pub async fn shut_down(&self) {
        self.stop.stop(false).await;
        if let Some(task) = self.task.lock().await.take() {
            tokio::time::timeout(std::time::Duration::from_secs(30), task)
                .await
                .expect("the node stops within 30 s")
                .expect("the node's task ends")
                .expect("the node stops cleanly");
        }
    }

    /// Starts the node again on the same database and ports.
    pub async fn restart(self) -> TestNode {
        let tweak = self.tweak.clone();
        self.restart_with(tweak).await
    }

    /// Starts the node again on the same database and ports, with its
    /// settings changed by `tweak` (e.g. new certificates).
    pub async fn restart_with(self, tweak: Tweak) -> TestNode {
        let TestNode {
            node,
            dir,
            database_url,
            _pg,
            ports,
            tokens,
            ..
        } = self;
        let mut n = start(node, dir, database_url, _pg, ports, tweak).await;
        n.tokens = tokens;
        n
    }
}

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// A request to a node's API whose request and response are checked
/// against `openapi/openapi.json` when it is sent (see `spec.rs`).
pub struct Call {
    client: reqwest::Client,
    inner: RequestBuilder,
}

impl Call {
    /// A request made with `client` (for nodes the tests did not start
    /// in-process, such as replicas behind a proxy).
    pub fn new(client: &reqwest::Client, method: Method, url: &str) -> Self {
        Self {
            client: client.clone(),
            inner: client.request(method, url),
        }
    }

    pub fn json<T: serde::Serialize + ?Sized>(self, body: &T) -> Self {
        Self {
            inner: self.inner.json(body),
            ..self
        }
    }

    pub fn header(self, name: &str, value: impl AsRef<str>) -> Self {
        Self {
            inner: self.inner.header(name, value.as_ref()),
            ..self
        }
    }

    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        Self {
            inner: self.inner.body(body),
            ..self
        }
    }

    pub fn bearer_auth(self, token: impl std::fmt::Display) -> Self {
        Self {
            inner: self.inner.bearer_auth(token),
            ..self
        }
    }

    /// Sends it; the exchange must keep the spec's word.
    pub async fn send(self) -> Result<Response, reqwest::Error> {
        let req = self.inner.build()?;
        let method = req.method().to_string();
        let url = req.url().clone();
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let sent_body = req.body().and_then(|b| b.as_bytes()).map(<[u8]>::to_vec);
        let res = self.client.execute(req).await?;
        let status = res.status();
        let version = res.version();
        let headers = res.headers().clone();
        let bytes = res.bytes().await?;
        crate::spec::check(
            &crate::spec::SentRequest {
                method: &method,
                url: &url,
                content_type: content_type.as_deref(),
                body: sent_body.as_deref(),
            },
            status.as_u16(),
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            &bytes,
        );
        let mut rebuilt = http::Response::builder().status(status).version(version);
        if let Some(h) = rebuilt.headers_mut() {
            *h = headers;
        }
        Ok(Response::from(rebuilt.body(bytes).expect("a response")))
    }
}

impl TestNode {
    pub fn request(&self, method: Method, path: &str, role: Role) -> Call {
        Call {
            client: self.client.clone(),
            inner: self
                .client
                .request(method, format!("{}{path}", self.address))
                .bearer_auth(&self.tokens[&role]),
        }
    }

    /// A request without a token (checked against the spec all the same).
    pub fn anonymous(&self, method: Method, path: &str) -> Call {
        Call {
            client: self.client.clone(),
            inner: self
                .client
                .request(method, format!("{}{path}", self.address)),
        }
    }

    pub fn get(&self, path: &str, role: Role) -> Call {
        self.request(Method::GET, path, role)
    }

    /// `GET path` as `role`, which must answer 200: the JSON body.
    pub async fn get_ok(&self, path: &str, role: Role) -> Value {
        let res = self.get(path, role).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        res.json().await.unwrap()
    }

    /// The node's Prometheus metrics, as text.
    pub async fn metrics(&self) -> String {
        self.anonymous(Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn create_case(&self, role: Role, body: &Value) -> Response {
        self.request(Method::POST, "/api/v1/cases", role)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a draft and returns `(id, etag)`.
    pub async fn draft(&self, body: &Value) -> (String, String) {
        let res = self.create_case(Role::Caseworker, body).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let etag = etag(&res);
        let v: Value = res.json().await.unwrap();
        (v["id"].as_str().unwrap().to_owned(), etag)
    }

    pub async fn transition(&self, role: Role, id: &str, etag: &str, body: Value) -> Response {
        self.request(
            Method::POST,
            &format!("/api/v1/cases/{id}/transitions"),
            role,
        )
        .header("If-Match", etag)
        .json(&body)
        .send()
        .await
        .unwrap()
    }

    /// Applies a transition and expects success; returns the new ETag and state.
    pub async fn step(&self, role: Role, id: &str, etag: &str, body: Value) -> (String, Value) {
        let res = self.transition(role, id, etag, body.clone()).await;
        let status = res.status();
        let tag = etag_opt(&res);
        let v: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body} as {role}: {v}");
        (tag.unwrap(), v)
    }

    pub async fn read(&self, role: Role, id: &str) -> (StatusCode, Value, Option<String>) {
        let res = self
            .get(&format!("/api/v1/cases/{id}"), role)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let tag = etag_opt(&res);
        (status, res.json().await.unwrap(), tag)
    }

    /// The node's audit log, through the API (as the JTWG reads it).
    pub async fn audit_log(&self) -> Vec<passerelle::audit::Entry> {
        let mut entries = Vec::new();
        let mut from = 0;
        loop {
            let v = self
                .get_ok(
                    &format!("/api/v1/audit/entries?from={from}&limit=1000"),
                    Role::JtwgReviewer,
                )
                .await;
            entries.extend(
                serde_json::from_value::<Vec<passerelle::audit::Entry>>(v["items"].clone())
                    .unwrap(),
            );
            match v["next_from"].as_u64() {
                Some(next) => from = next,
                None => return entries,
            }
        }
    }

    /// The fake other node of this one (see `fake_peer.rs`).
    pub fn fake_peer(&self) -> &crate::fake_peer::FakePeer {
        self.fake_peer
            .get_or_init(|| crate::fake_peer::FakePeer::of(self))
    }

    /// The other node refers a person to this one (over the peer protocol).
    pub async fn receive_referral(&self, details: Value, identity: Option<Value>) -> PeerCase {
        self.fake_peer().refer(self, details, identity).await
    }

    /// The other node's user took `action` (its message arrives here).
    pub async fn peer_applies(&self, referral_id: ReferralId, action: Action) -> PeerCase {
        self.fake_peer()
            .act(self, referral_id, action, Value::Null)
            .await
    }

    /// Like [`TestNode::peer_applies`], with the action's parameters.
    pub async fn peer_applies_with(
        &self,
        referral_id: ReferralId,
        action: Action,
        parameters: Value,
    ) -> PeerCase {
        self.fake_peer()
            .act(self, referral_id, action, parameters)
            .await
    }

    /// The other node accepts the handover plan this node proposed.
    pub async fn peer_accepts_handover(&self, referral_id: ReferralId) -> PeerCase {
        self.fake_peer().accept_handover(self, referral_id, 1).await
    }
}

/// A handover plan for `schedule_handover` (a window from tomorrow).
pub fn handover_plan() -> Value {
    let from = Utc::now().date_naive() + chrono::Duration::days(1);
    json!({
        "crossing_point": "maradi_jibia",
        "window_from": from,
        "window_to": from + chrono::Duration::days(3),
        "escorts": ["naptip", "dst_police"],
    })
}

pub fn etag_opt(res: &Response) -> Option<String> {
    res.headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned())
}

pub fn etag(res: &Response) -> String {
    etag_opt(res).expect("ETag header")
}

/// Asserts a problem+json response with this status and code; returns the body.
pub async fn assert_problem(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status for expected `{code}`");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["status"], status.as_u16());
    assert_eq!(v["type"], format!("urn:passerelle:problem:{code}"));
    v
}

/// Coded data of a case ready to submit: a 16-year-old girl from Kano.
pub fn ready_details() -> Value {
    json!({
        "person_status": "presumed_victim_trafficking",
        "sex": "female",
        "age_band": "15_17",
        "minor": true,
        "citizenship": "NG",
        "languages": ["hau"],
        "origin": { "country": "NG", "region": "Kano", "district": "Dala" },
        "exploitation_types": ["domestic_servitude"],
        "risk_level": "high",
        "risk_flags": ["unaccompanied_minor"],
        "urgent_needs": ["safe_shelter"],
        "dependants_count": 0,
        "travel_document_status": "no_document",
        "requested_services": ["family_tracing", "repatriation"],
        "consent": {
            "scope": ["referral", "data_sharing"],
            "purpose": "voluntary_return",
            "given_on": "2026-11-02",
            "given_by": "guardian",
            "interpreter_language": "hau"
        }
    })
}

pub fn identity() -> Value {
    json!({ "given_name": "Zainab", "family_name": "Qwertyson", "phone": "+2348012345678", "family_address": "Kofar Mata" })
}

pub fn ready_case() -> Value {
    json!({ "details": ready_details(), "identity": identity() })
}

/// A configuration file for `node`, with the dev certificates, for the CLI.
pub fn config_toml(node: NodeId, data_dir: &std::path::Path, extra: &str) -> String {
    let tls = tls_settings(node);
    format!(
        "[node]\nid = \"{id}\"\nagency = \"{agency}\"\ncountry = \"{country}\"\ndata_dir = \"{data}\"\n\
         [peer]\nurl = \"https://127.0.0.1:{other}\"\nlisten = \"127.0.0.1:0\"\n\
         [tls]\nserver_cert = \"{sc}\"\nserver_key = \"{sk}\"\nclient_cert = \"{cc}\"\nclient_key = \"{ck}\"\npeer_ca = [\"{ca}\"]\n{extra}",
        id = node.as_str(),
        agency = if node == NodeId::NeAnltp { "ANLTP/TIM" } else { "NAPTIP" },
        country = node.country(),
        data = data_dir.display(),
        other = free_port(),
        sc = tls.server_cert.display(),
        sk = tls.server_key.display(),
        cc = tls.client_cert.display(),
        ck = tls.client_key.display(),
        ca = tls.peer_ca[0].display(),
    )
}

/// The kinds of the alerts `n` raised, as an administrator reads them.
pub async fn alert_kinds(n: &TestNode) -> Vec<String> {
    n.get_ok("/api/v1/admin/alerts", Role::Admin).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap().to_owned())
        .collect()
}
