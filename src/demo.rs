//! `passerelle demo`: both nodes on loopback over the real mTLS channel,
//! one referral walked from Niamey to Abuja through the whole SOP, then the
//! nodes keep serving so the API can be tried.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::app::accounts as users;
use crate::config::{
    DatabaseSettings, HttpSettings, LogSettings, NodeSettings, PeerSettings, Settings,
};
use crate::domain::ids::NodeId;
use crate::domain::roles::Role;
use crate::startup::Application;
use crate::tls::pki;

/// Options of the demo.
pub struct DemoOptions {
    /// Where the two SQLite databases go (a fresh temporary directory if `None`).
    pub dir: Option<PathBuf>,
    /// The development certificates.
    pub certs: PathBuf,
    /// First of four consecutive ports: Niamey API, Abuja API, Niamey peer, Abuja peer.
    pub base_port: u16,
    /// Stop after the walk-through instead of serving.
    pub exit: bool,
}

struct DemoNode {
    name: &'static str,
    node: NodeId,
    url: String,
    http: reqwest::Client,
    tokens: HashMap<Role, String>,
}

pub(crate) fn settings(
    node: NodeId,
    dir: &Path,
    certs: &Path,
    api: u16,
    peer: u16,
    other_peer: u16,
) -> Settings {
    Settings {
        node: NodeSettings {
            id: node,
            agency: if node == NodeId::NeAnltp {
                "ANLTP/TIM"
            } else {
                "NAPTIP"
            }
            .into(),
            country: node.country().into(),
            data_dir: dir.to_path_buf(),
        },
        http: HttpSettings {
            listen: ([127, 0, 0, 1], api).into(),
            ..Default::default()
        },
        database: DatabaseSettings {
            url: Some(SecretString::from(format!(
                "sqlite://{}",
                dir.join(format!("{node}.db")).display()
            ))),
            key_dir: Some(dir.join(format!("{node}-keys"))),
            ..Default::default()
        },
        log: LogSettings {
            filter: "warn".into(),
            ..Default::default()
        },
        deadlines: Default::default(),
        tokens: Default::default(),
        audit: Default::default(),
        console: Default::default(),
        replica: Default::default(),
        peer: PeerSettings {
            url: format!("https://127.0.0.1:{other_peer}"),
            listen: ([127, 0, 0, 1], peer).into(),
            retry_initial_ms: 100,
            retry_max_ms: 60_000,
            poll_interval_ms: 500,
            ..Default::default()
        },
        tls: pki::dev_tls_settings(certs, node),
    }
}

impl DemoNode {
    async fn call(
        &self,
        role: Role,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> anyhow::Result<(Value, Option<String>)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.tokens[&role]);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = if_match {
            req = req.header("If-Match", t);
        }
        let res = req.send().await?;
        let status = res.status();
        let etag = res
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{} {path} answered {status}: {v}", self.name);
        }
        Ok((v, etag))
    }

    /// Waits until this node's board shows the plan in `status` at `crossing`.
    async fn wait_for_plan(&self, status: &str, crossing: &str) -> anyhow::Result<()> {
        for _ in 0..500 {
            let (board, _) = self
                .call(
                    Role::Liaison,
                    reqwest::Method::GET,
                    "/api/v1/handovers",
                    None,
                    None,
                )
                .await?;
            let item = &board["items"][0];
            if item["plan_status"] == status && item["plan"]["crossing_point"] == crossing {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("{}: the handover plan did not become {status}", self.name)
    }

    /// Waits until the other side's confirmation of the handover is here.
    async fn wait_for_confirmation(&self) -> anyhow::Result<()> {
        for _ in 0..500 {
            let (board, _) = self
                .call(
                    Role::Liaison,
                    reqwest::Method::GET,
                    "/api/v1/handovers",
                    None,
                    None,
                )
                .await?;
            if board["items"][0]["receiving_confirmation"].is_object() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!(
            "{}: the other side's confirmation did not arrive",
            self.name
        )
    }

    async fn case(&self, id: &str) -> anyhow::Result<(Value, String)> {
        let (v, tag) = self
            .call(
                Role::Supervisor,
                reqwest::Method::GET,
                &format!("/api/v1/cases/{id}"),
                None,
                None,
            )
            .await?;
        Ok((v, tag.unwrap_or_default()))
    }

    async fn act(&self, role: Role, id: &str, body: Value) -> anyhow::Result<()> {
        let (_, tag) = self.case(id).await?;
        let action = body["action"].as_str().unwrap_or("").to_owned();
        self.call(
            role,
            reqwest::Method::POST,
            &format!("/api/v1/cases/{id}/transitions"),
            Some(body),
            Some(&tag),
        )
        .await?;
        println!("  {:<7} {:<12} {action}", self.name, role.as_str());
        Ok(())
    }

    /// Waits until this node's copy of `referral` is in `state`; returns its id.
    async fn wait_for(&self, referral: &str, state: &str) -> anyhow::Result<String> {
        for _ in 0..300 {
            let (list, _) = self
                .call(
                    Role::Supervisor,
                    reqwest::Method::GET,
                    "/api/v1/cases?limit=200",
                    None,
                    None,
                )
                .await?;
            let found = list["items"]
                .as_array()
                .and_then(|items| {
                    items
                        .iter()
                        .find(|c| c["referral_id"] == referral && c["state"] == state)
                })
                .and_then(|c| c["id"].as_str().map(str::to_owned));
            if let Some(id) = found {
                return Ok(id);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("{} never reached `{state}`", self.name)
    }

    async fn print_timeline(&self, id: &str) -> anyhow::Result<()> {
        let (events, _) = self
            .call(
                Role::Supervisor,
                reqwest::Method::GET,
                &format!("/api/v1/cases/{id}/events"),
                None,
                None,
            )
            .await?;
        let (messages, _) = self
            .call(
                Role::Supervisor,
                reqwest::Method::GET,
                &format!("/api/v1/cases/{id}/messages"),
                None,
                None,
            )
            .await?;
        println!("\n{} ({}) — timeline of case {id}", self.name, self.node);
        for e in events["items"].as_array().into_iter().flatten() {
            println!(
                "  v{:<3} {}  {:<32} {:>22} → {:<25} by {}",
                e["version"],
                e["at"].as_str().unwrap_or("").get(..19).unwrap_or(""),
                e["kind"].as_str().unwrap_or(""),
                e["from_state"].as_str().unwrap_or("-"),
                e["to_state"].as_str().unwrap_or(""),
                e["actor_role"]
                    .as_str()
                    .unwrap_or(e["actor_kind"].as_str().unwrap_or("")),
            );
        }
        println!("  messages:");
        for m in messages["items"].as_array().into_iter().flatten() {
            println!(
                "    {:<8} #{:<3} {:<24} {:<10} {}…",
                m["direction"].as_str().unwrap_or(""),
                m["seq"],
                m["message_type"].as_str().unwrap_or(""),
                m["status"].as_str().unwrap_or(""),
                m["hash"].as_str().unwrap_or("").get(..16).unwrap_or(""),
            );
        }
        Ok(())
    }
}

/// Runs the demo.
pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    if !pki::node_files(&opts.certs, NodeId::NeAnltp)
        .client_cert
        .is_file()
    {
        bail!(
            "no development certificates in {} (run `passerelle certs init {}`)",
            opts.certs.display(),
            opts.certs.display()
        );
    }
    let (_temp, dir) = match &opts.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (None, d.clone())
        }
        None => {
            let t = tempfile_dir()?;
            let p = t.clone();
            (Some(t), p)
        }
    };
    let p = opts.base_port;
    let (ne_api, ng_api, ne_peer, ng_peer) = (p, p + 1, p + 2, p + 3);
    let ne_app = Application::build(settings(
        NodeId::NeAnltp,
        &dir,
        &opts.certs,
        ne_api,
        ne_peer,
        ng_peer,
    ))
    .await?;
    let ng_app = Application::build(settings(
        NodeId::NgNaptip,
        &dir,
        &opts.certs,
        ng_api,
        ng_peer,
        ne_peer,
    ))
    .await?;

    let mut nodes = Vec::new();
    println!(
        "Passerelle demo — DEVELOPMENT certificates from {}, data in {}\n",
        opts.certs.display(),
        dir.display()
    );
    for (app, name, node) in [
        (&ne_app, "Niamey", NodeId::NeAnltp),
        (&ng_app, "Abuja", NodeId::NgNaptip),
    ] {
        let now = chrono::Utc::now().naive_utc();
        let mut tokens = HashMap::new();
        let agency = if node == NodeId::NeAnltp {
            "ANLTP/TIM"
        } else {
            "NAPTIP"
        };
        println!(
            "{name} ({node}, {agency}): console {}/  API {}/api/v1  (CA: {})",
            app.api_url(),
            app.api_url(),
            pki::node_files(&opts.certs, node).ca_cert.display()
        );
        println!(
            "  {:<14} {:<22} {:<22} API token",
            "role", "username", "console password"
        );
        for role in Role::ALL {
            let username = format!("demo-{}", role.as_str().replace('_', "-"));
            let password = crate::app::sign_in::random_password()?;
            let token = app
                .db()
                .write_blocking(|c| {
                    if users::list_users(c)?.iter().all(|u| u.username != username) {
                        users::create_user(
                            c,
                            &username,
                            &format!("Demo {role}"),
                            role,
                            agency,
                            now,
                        )?;
                    }
                    crate::app::sign_in::set_password(c, &username, &password, now)?
                        .map_err(|e| users::UserError::Invalid(e.message))?;
                    users::issue_token(c, &username, "demo", 7, now)
                })
                .context("cannot create the demo users")?;
            println!(
                "  {:<14} {:<22} {:<22} {}",
                role.as_str(),
                username,
                password,
                token.secret
            );
            tokens.insert(role, token.secret);
        }
        nodes.push(DemoNode {
            name,
            node,
            url: app.api_url(),
            http: crate::tls::https_client(&pki::node_files(&opts.certs, node).ca_cert)?,
            tokens,
        });
    }
    let stops = [ne_app.stop_handle(), ng_app.stop_handle()];
    let ne_run = tokio::spawn(ne_app.run_until_stopped());
    let ng_run = tokio::spawn(ng_app.run_until_stopped());
    let (ne, ng) = (&nodes[0], &nodes[1]);

    println!("\nWalking one referral from Niamey to Abuja over mutually authenticated TLS:");
    let case = json!({
        "details": {
            "person_status": "presumed_victim_trafficking", "sex": "female", "age_band": "15_17", "minor": true,
            "citizenship": "NG", "languages": ["hau"], "origin": { "country": "NG", "region": "Kano", "district": "Dala" },
            "exploitation_types": ["domestic_servitude"], "risk_level": "high", "risk_flags": ["unaccompanied_minor"],
            "urgent_needs": ["safe_shelter"], "dependants_count": 0, "travel_document_status": "no_document",
            "requested_services": ["family_tracing", "repatriation", "reintegration_support"],
            "consent": { "scope": ["referral", "data_sharing", "repatriation"], "purpose": "voluntary_return",
                         "given_on": chrono::Utc::now().date_naive(), "given_by": "guardian", "interpreter_language": "hau" }
        },
        "identity": { "given_name": "Demo", "family_name": "Person" }
    });
    let (created, _) = ne
        .call(
            Role::Caseworker,
            reqwest::Method::POST,
            "/api/v1/cases",
            Some(case),
            None,
        )
        .await?;
    let ne_id = created["id"].as_str().context("no case id")?.to_owned();
    let referral = created["referral_id"]
        .as_str()
        .context("no referral id")?
        .to_owned();
    println!(
        "  Niamey  caseworker   create draft {} (consent by guardian, risk assessed)",
        created["reference"].as_str().unwrap_or("")
    );
    ne.act(Role::Caseworker, &ne_id, json!({ "action": "submit" }))
        .await?;
    ne.act(Role::Supervisor, &ne_id, json!({ "action": "approve" }))
        .await?;
    let ng_id = ng.wait_for(&referral, "received").await?;
    ne.wait_for(&referral, "received").await?;
    let steps: [(&DemoNode, &str, Role, Value, &str); 8] = [
        (
            ng,
            &ng_id,
            Role::Supervisor,
            json!({ "action": "accept" }),
            "accepted",
        ),
        (
            ng,
            &ng_id,
            Role::Liaison,
            json!({ "action": "schedule_handover", "handover": {
                "crossing_point": "maradi_jibia",
                "window_from": chrono::Utc::now().date_naive(),
                "window_to": chrono::Utc::now().date_naive() + chrono::Duration::days(4),
                "escorts": ["naptip", "dst_police"] } }),
            "handover_scheduled",
        ),
        (
            ne,
            &ne_id,
            Role::Liaison,
            json!({ "action": "depart" }),
            "in_transit",
        ),
        (
            ng,
            &ng_id,
            Role::Liaison,
            json!({ "action": "confirm_handover" }),
            "in_transit",
        ),
        (
            ne,
            &ne_id,
            Role::Liaison,
            json!({ "action": "confirm_handover" }),
            "handed_over",
        ),
        (
            ng,
            &ng_id,
            Role::Caseworker,
            json!({ "action": "start_assistance" }),
            "in_assistance",
        ),
        (
            ng,
            &ng_id,
            Role::Caseworker,
            json!({ "action": "start_reintegration_monitoring" }),
            "reintegration_monitoring",
        ),
        (
            ng,
            &ng_id,
            Role::Supervisor,
            json!({ "action": "close", "reason_code": "reintegrated", "outcome": "successful" }),
            "closed",
        ),
    ];
    for (node, id, role, body, state) in steps {
        if body["action"] == "confirm_handover" && node.node == NodeId::NeAnltp {
            // Niamey's liaison confirms once Abuja's confirmation has arrived.
            ne.wait_for_confirmation().await?;
        }
        node.act(role, id, body).await?;
        ne.wait_for(&referral, state).await?;
        ng.wait_for(&referral, state).await?;
        if state == "handover_scheduled" {
            // Niamey counter-proposes another crossing; Abuja accepts it.
            let plan = json!({
                "crossing_point": "konni_illela",
                "window_from": chrono::Utc::now().date_naive(),
                "window_to": chrono::Utc::now().date_naive() + chrono::Duration::days(5),
                "escorts": ["anltp_tim", "dst_police", "naptip"],
            });
            let read = format!("/api/v1/cases/{ne_id}");
            let (_, tag) = ne
                .call(Role::Liaison, reqwest::Method::GET, &read, None, None)
                .await?;
            let path = format!("/api/v1/cases/{ne_id}/handover/counter-proposal");
            ne.call(
                Role::Liaison,
                reqwest::Method::POST,
                &path,
                Some(plan),
                tag.as_deref(),
            )
            .await?;
            ng.wait_for_plan("proposed", "konni_illela").await?;
            let read = format!("/api/v1/cases/{ng_id}");
            let (_, tag) = ng
                .call(Role::Liaison, reqwest::Method::GET, &read, None, None)
                .await?;
            let path = format!("/api/v1/cases/{ng_id}/handover/acceptance");
            ng.call(
                Role::Liaison,
                reqwest::Method::POST,
                &path,
                None,
                tag.as_deref(),
            )
            .await?;
            ne.wait_for_plan("agreed", "konni_illela").await?;
        }
    }
    // Let the last receipts come back before printing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ne.print_timeline(&ne_id).await?;
    ng.print_timeline(&ng_id).await?;
    println!("\nBoth nodes agree: the referral is closed (successful).");
    // Each audit log checkpointed and cosigned by the other node, and the
    // JTWG's reconciliation of the exchange.
    for n in [&ne, &ng] {
        let (round, _) = n
            .call(
                Role::Admin,
                reqwest::Method::POST,
                "/api/v1/audit/checkpoints",
                None,
                None,
            )
            .await?;
        let (report, _) = n
            .call(
                Role::JtwgReviewer,
                reqwest::Method::GET,
                "/api/v1/jtwg/reconciliation",
                None,
                None,
            )
            .await?;
        println!(
            "{}: audit log of {} entries, cosigned by the other node up to {}; JTWG reconciliation: {}",
            n.name, round["size"], round["cosigned"], report["counts"]
        );
    }

    if opts.exit {
        for s in &stops {
            s.stop(true).await;
        }
    } else {
        println!(
            "\nThe nodes keep serving. Sign in to a console (Niamey {}/ or Abuja {}/) with a username and console password above; \
             the browser will warn about the development certificate.\nOr try for example\n  curl --cacert {} -H 'Authorization: Bearer {}' {}/api/v1/cases\nSwagger UI: {}/swagger-ui/   Ctrl-C stops.",
            ne.url,
            ng.url,
            pki::node_files(&opts.certs, NodeId::NeAnltp).ca_cert.display(),
            ne.tokens[&Role::Supervisor],
            ne.url,
            ne.url
        );
    }
    let (a, b) = futures_util::future::join(ne_run, ng_run).await;
    a??;
    b??;
    if let Some(t) = _temp {
        let _ = std::fs::remove_dir_all(t);
    }
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir =
        std::env::temp_dir().join(format!("passerelle-demo-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
