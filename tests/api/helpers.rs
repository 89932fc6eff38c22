use std::collections::HashMap;
use std::sync::Once;

use chrono::{NaiveDateTime, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use passerelle::config::{DatabaseSettings, HttpSettings, LogSettings, NodeSettings, Settings};
use passerelle::db::cases::{self as repo, Case};
use passerelle::db::{users, Db};
use passerelle::domain::case::{CaseDetailsInput, IdentityInput};
use passerelle::domain::ids::{CaseReference, NodeId, ReferralId};
use passerelle::domain::lifecycle::{Action, TransitionParams};
use passerelle::domain::roles::Role;
use passerelle::startup::Application;
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
    fn create() -> Self {
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

    fn url(&self) -> String {
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

pub struct TestNode {
    pub address: String,
    pub client: reqwest::Client,
    pub tokens: HashMap<Role, String>,
    pub db: Db,
    pub node: NodeId,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    _pg: Option<PgDatabase>,
}

pub fn settings(node: NodeId, dir: &std::path::Path, database_url: &str) -> Settings {
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
            listen: "127.0.0.1:0".parse().unwrap(),
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
    }
}

/// Starts a node with a fresh database and one user (and token) per role.
pub async fn spawn_node(node: NodeId) -> TestNode {
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
    let app = Application::build(settings(node, dir.path(), &database_url))
        .await
        .expect("node starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    tokio::spawn(app.run_until_stopped());
    let mut tokens = HashMap::new();
    for role in Role::ALL {
        let name = role.as_str().replace('_', "-");
        let now = now();
        let token = db
            .write_blocking(|c| {
                users::create_user(c, &name, &format!("Test {name}"), role, "test agency", now)?;
                users::issue_token(c, &name, "test", 30, now)
            })
            .unwrap();
        tokens.insert(role, token.secret);
    }
    TestNode {
        address,
        client: reqwest::Client::new(),
        tokens,
        db,
        node,
        database_url,
        dir,
        _pg: pg,
    }
}

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

impl TestNode {
    pub fn request(&self, method: Method, path: &str, role: Role) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(&self.tokens[&role])
    }

    pub fn get(&self, path: &str, role: Role) -> RequestBuilder {
        self.request(Method::GET, path, role)
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

    /// What the other node would do on receiving a referral: create this node's copy.
    pub async fn receive_referral(&self, details: Value, identity: Option<Value>) -> Case {
        let details: CaseDetailsInput = serde_json::from_value(details).unwrap();
        let details = details.parse("").unwrap();
        let identity = identity.and_then(|i| {
            serde_json::from_value::<IdentityInput>(i)
                .unwrap()
                .parse("")
                .unwrap()
        });
        let from = self.node.counterpart();
        let mut random = [0u8; 6];
        random.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..6]);
        let reference = CaseReference::generate(from, 2026, random);
        let now = now();
        self.db
            .write(move |c| {
                repo::insert_incoming(
                    c,
                    ReferralId::new(),
                    reference,
                    from,
                    details,
                    identity,
                    &Default::default(),
                    now,
                )
            })
            .await
            .unwrap()
    }

    /// What the other node's message would do: apply its side's action here.
    pub async fn peer_applies(&self, referral_id: ReferralId, action: Action) -> Case {
        let now = now();
        self.db
            .write(move |c| {
                repo::apply_from_peer(
                    c,
                    referral_id,
                    action,
                    TransitionParams {
                        reason_code: None,
                        outcome: None,
                        comment: None,
                    },
                    &Default::default(),
                    now,
                )
            })
            .await
            .unwrap()
    }
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
