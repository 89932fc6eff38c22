//! High availability on PostgreSQL: three replicas of Abuja and two of
//! Niamey, each a `passerelle serve` process, behind round-robin TCP
//! proxies (the caseworker API of Niamey, and each node's peer listener).
//! 1,000 referrals are made through the proxy; in the middle of their
//! delivery the replica holding Niamey's dispatcher is killed (SIGKILL).
//! The other takes the dispatcher over within seconds, and in the end every
//! referral made was delivered and received exactly once, in a gapless
//! chain, and both audit logs verify and reconcile.
//!
//! A replica paused in the middle of a transaction keeps its locks until
//! the server ends its session (`idle_in_transaction_session_timeout`), and
//! its other sessions, queued for the same rows, then take them in turn: the
//! other replicas' writes wait meanwhile, and the paused one's answer 503
//! when it resumes. The lease holder renews its lease on a connection of its
//! own, so the dispatcher stays where it is.
//!
//! Replicas need PostgreSQL: this test runs in the suite's PostgreSQL pass
//! (on SQLite a second process is refused, see `node_lock.rs`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use passerelle::bench::balancer::Balancer;
use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role;
use passerelle::store::{users, Db};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

use crate::helpers::*;

const REFERRALS: usize = 1_000;
/// Kill Niamey's dispatcher once this many referrals were delivered.
const KILL_AFTER: i64 = 150;
/// Referrals made after the killed replica came back.
const MORE: usize = 200;

/// A replica's process, killed if the test ends early.
struct Replica {
    name: String,
    api: u16,
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One node: its database, its replicas and the tokens of its users.
struct Node {
    id: NodeId,
    db: PgDatabase,
    dir: tempfile::TempDir,
    replicas: Vec<Replica>,
    tokens: std::collections::HashMap<Role, String>,
}

fn config(
    node: NodeId,
    dir: &Path,
    url: &str,
    name: &str,
    api: u16,
    peer: u16,
    other: u16,
) -> String {
    let tls = tls_settings(node);
    format!(
        "[node]\nid = \"{id}\"\nagency = \"{agency}\"\ncountry = \"{country}\"\ndata_dir = \"{data}\"\n\
         [http]\nlisten = \"127.0.0.1:{api}\"\nworkers = 2\n\
         [database]\nurl = \"{url}\"\nmax_connections = 6\nbusy_timeout_ms = 1500\n\
         [replica]\nname = \"{name}\"\nlease_ttl_ms = 2000\n\
         [peer]\nurl = \"https://127.0.0.1:{other}\"\nlisten = \"127.0.0.1:{peer}\"\nbatch_size = 10\n\
         retry_initial_ms = 50\nretry_max_ms = 400\nprobe_interval_ms = 200\npoll_interval_ms = 100\nstall_timeout_secs = 5\n\
         [log]\nfilter = \"info\"\n\
         [tls]\nserver_cert = \"{sc}\"\nserver_key = \"{sk}\"\nclient_cert = \"{cc}\"\nclient_key = \"{ck}\"\npeer_ca = [\"{ca}\"]\n",
        id = node.as_str(),
        agency = if node == NodeId::NeAnltp { "ANLTP/TIM" } else { "NAPTIP" },
        country = node.country(),
        data = dir.display(),
        sc = tls.server_cert.display(),
        sk = tls.server_key.display(),
        cc = tls.client_cert.display(),
        ck = tls.client_key.display(),
        ca = tls.peer_ca[0].display(),
    )
}

impl Node {
    /// A fresh database with one user and token per role.
    fn new(id: NodeId) -> Node {
        let db = PgDatabase::create();
        let dir = tempfile::tempdir().unwrap();
        let url = SecretString::from(db.url());
        let store = Db::open(&url, &dir.path().join("keys"), 2, 5_000).unwrap();
        let mut tokens = std::collections::HashMap::new();
        for role in Role::ALL {
            let name = role.as_str().replace('_', "-");
            let token = store
                .write_blocking(|c| {
                    users::create_user(
                        c,
                        &name,
                        &format!("Test {name}"),
                        role,
                        "test agency",
                        now(),
                    )?;
                    users::issue_token(c, &name, "test", 30, now())
                })
                .unwrap();
            tokens.insert(role, token.secret);
        }
        Node {
            id,
            db,
            dir,
            replicas: Vec::new(),
            tokens,
        }
    }

    /// Starts a replica listening on `api` and `peer`, reaching the other
    /// node at `other` (its proxy).
    fn start(&mut self, name: &str, api: u16, peer: u16, other: u16) {
        let file = self.dir.path().join(format!("{name}.toml"));
        let text = config(
            self.id,
            self.dir.path(),
            &self.db.url(),
            name,
            api,
            peer,
            other,
        );
        std::fs::write(&file, text).unwrap();
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["serve", "--config"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.replicas.push(Replica {
            name: name.to_owned(),
            api,
            child,
        });
    }

    fn log_of(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    fn sql(&self) -> PgConnection {
        PgConnection::establish(&self.db.url()).unwrap()
    }
}

/// How many of Niamey's messages are in one status.
#[derive(QueryableByName, Debug)]
struct Status {
    #[diesel(sql_type = diesel::sql_types::Text)]
    #[allow(dead_code)] // read through Debug
    status: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    #[allow(dead_code)] // read through Debug
    n: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, query: &str) -> i64 {
    diesel::sql_query(query)
        .get_result::<Count>(conn)
        .unwrap()
        .n
}

/// The readiness of the replica answering on `port`, if it answers.
pub async fn readiness(client: &reqwest::Client, port: u16) -> Option<Value> {
    let url = format!("https://127.0.0.1:{port}/readyz");
    let res = Call::new(client, Method::GET, &url).send().await.ok()?;
    (res.status() == StatusCode::OK).then_some(())?;
    res.json().await.ok()
}

/// Makes one referral through `api`: a case created, submitted and
/// approved. A request cut by a replica dying is tried again, and an
/// approve whose answer was lost is found done by reading the case.
async fn refer(
    client: &reqwest::Client,
    api: &str,
    tokens: &std::collections::HashMap<Role, String>,
) {
    let key = uuid::Uuid::new_v4().to_string();
    let case: Value = loop {
        let res = Call::new(client, Method::POST, &format!("{api}/api/v1/cases"))
            .bearer_auth(&tokens[&Role::Caseworker])
            .header("Idempotency-Key", &key)
            .json(&ready_case())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => break r.json().await.unwrap(),
            // The replica lost its database connection (a replica paused
            // past its idle timeout has its session ended): nothing was
            // made, and the same key makes the case once.
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Ok(r) => panic!("create answered {}", r.status()),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let id = case["id"].as_str().unwrap().to_owned();
    for (role, action, before) in [
        (Role::Caseworker, "submit", "draft"),
        (Role::Supervisor, "approve", "submitted"),
    ] {
        loop {
            let res = Call::new(client, Method::GET, &format!("{api}/api/v1/cases/{id}"))
                .bearer_auth(&tokens[&role])
                .send()
                .await;
            let res = match res {
                Ok(r) if r.status() != StatusCode::SERVICE_UNAVAILABLE => r,
                _ => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            assert_eq!(res.status(), StatusCode::OK);
            let tag = etag(&res);
            let now: Value = res.json().await.unwrap();
            if now["state"] != before {
                break;
            }
            let url = format!("{api}/api/v1/cases/{id}/transitions");
            let res = Call::new(client, Method::POST, &url)
                .bearer_auth(&tokens[&role])
                .header("If-Match", &tag)
                .json(&json!({ "action": action }))
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => break,
                // Another try crossed this one, or it was not made: read again.
                Ok(r)
                    if [
                        StatusCode::PRECONDITION_FAILED,
                        StatusCode::SERVICE_UNAVAILABLE,
                    ]
                    .contains(&r.status()) => {}
                Ok(r) => panic!("{action} answered {}", r.status()),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_replicas_lose_nothing_when_the_dispatcher_holder_is_killed_mid_delivery() {
    if backend() != "postgres" {
        return;
    }
    let client = api_client(NodeId::NeAnltp);
    let mut ne = Node::new(NodeId::NeAnltp);
    let mut ng = Node::new(NodeId::NgNaptip);
    let ne_ports: Vec<(u16, u16)> = (0..2).map(|_| (free_port(), free_port())).collect();
    let ng_ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let to_ne = Balancer::start(0, ne_ports.iter().map(|p| p.1).collect())
        .await
        .unwrap();
    let to_ng = Balancer::start(0, ng_ports.iter().map(|p| p.1).collect())
        .await
        .unwrap();
    let ne_api = Balancer::start(0, ne_ports.iter().map(|p| p.0).collect())
        .await
        .unwrap();
    for (i, (api, peer)) in ne_ports.iter().enumerate() {
        ne.start(&format!("ne-{}", i + 1), *api, *peer, to_ng.port());
    }
    for (i, (api, peer)) in ng_ports.iter().enumerate() {
        ng.start(&format!("ng-{}", i + 1), *api, *peer, to_ne.port());
    }
    // Every replica is ready, and one of each node's holds the dispatcher.
    let started = Instant::now();
    for node in [&ne, &ng] {
        loop {
            let mut ready = 0;
            let mut holders = 0;
            let client = api_client(node.id);
            for r in &node.replicas {
                if let Some(v) = readiness(&client, r.api).await {
                    ready += 1;
                    holders += usize::from(v["dispatcher"] == true);
                }
            }
            if ready == node.replicas.len() && holders == 1 {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                for r in &node.replicas {
                    let log = std::fs::read_to_string(node.log_of(&r.name)).unwrap_or_default();
                    eprintln!("--- {}:\n{log}", r.name);
                }
                panic!("replicas not ready");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A token works on every replica (sessions and tokens live in the database).
    for r in &ne.replicas {
        let url = format!("https://127.0.0.1:{}/api/v1/me", r.api);
        let res = Call::new(&client, Method::GET, &url)
            .bearer_auth(&ne.tokens[&Role::Caseworker])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", r.name);
    }

    // 1,000 referrals through the proxy, 16 at a time.
    let api = format!("https://127.0.0.1:{}", ne_api.port());
    let workers = make(REFERRALS, &client, &api, &ne.tokens);

    // In the middle of delivery, the replica holding Niamey's dispatcher dies.
    let mut ne_sql = ne.sql();
    let mut ng_sql = ng.sql();
    while count(&mut ne_sql, DELIVERED) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let holder = holder_of(&ne, &client).await;
    let killed = &mut ne.replicas[holder];
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let killed_at = Instant::now();
    let at_kill = count(&mut ne_sql, DELIVERED);
    assert!(
        at_kill < REFERRALS as i64,
        "delivery was over before the kill"
    );
    let survivor = 1 - holder;
    takes_over(&client, ne.replicas[survivor].api).await;
    let took_over = killed_at.elapsed();
    for w in workers {
        w.await.unwrap();
    }
    delivered_exactly_once([&ne, &ng], &mut ne_sql, &mut ng_sql, REFERRALS).await;
    eprintln!(
        "replicas: killed {} after {at_kill} deliveries; the other held the dispatcher {:.1} s later",
        ne.replicas[holder].name,
        took_over.as_secs_f64()
    );

    // The killed replica comes back; then the one delivering is paused
    // (SIGSTOP) past its lease in the middle of more deliveries, and
    // resumes (SIGCONT) after the other took over: it delivers nothing
    // behind it (fenced), and stops delivering.
    let (api_port, peer_port) = ne_ports[holder];
    ne.replicas.remove(holder);
    ne.start("ne-back", api_port, peer_port, to_ng.port());
    let back = ne.replicas.len() - 1;
    let paused = 0; // the survivor, now first
    while readiness(&client, api_port).await.is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(holder_of(&ne, &client).await, paused);
    let workers = make(MORE, &client, &api, &ne.tokens);
    while count(&mut ne_sql, DELIVERED) < (REFERRALS + MORE / 5) as i64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = ne.replicas[paused].child.id().to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    takes_over(&client, ne.replicas[back].api).await;
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .unwrap()
        .success());
    for w in workers {
        w.await.unwrap();
    }
    delivered_exactly_once([&ne, &ng], &mut ne_sql, &mut ng_sql, REFERRALS + MORE).await;
    let again = readiness(&client, ne.replicas[paused].api).await.unwrap();
    assert_eq!(
        again["dispatcher"], false,
        "the paused replica delivers no more: {again}"
    );
    let log = std::fs::read_to_string(ne.log_of(&ne.replicas[paused].name)).unwrap();
    let fenced = log.contains("this dispatcher stops");
    assert!(
        fenced || log.contains("the job stops here"),
        "the paused replica did not stop delivering: {log}"
    );
    eprintln!(
        "replicas: the paused replica stopped delivering when {}",
        if fenced {
            "Abuja refused its batch (stale_dispatcher)"
        } else {
            "it found its lease taken over"
        }
    );

    // Both audit logs verify, and reconcile with each other.
    let mut bundles = Vec::new();
    for node in [&ne, &ng] {
        let file = node.dir.path().join("export.json");
        let config = node
            .dir
            .path()
            .join(format!("{}.toml", node.replicas[0].name));
        let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["audit", "export"])
            .arg(&file)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&file).unwrap();
        crate::audit::verify(&bytes).expect("the audit log verifies");
        bundles.push(file);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["audit", "reconcile"])
        .args(&bundles)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("RECONCILED"),
        "{stdout}"
    );
}

/// Referrals made once each through `api`, 16 at a time, from now on.
fn make(
    n: usize,
    client: &reqwest::Client,
    api: &str,
    tokens: &std::collections::HashMap<Role, String>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let tokens = Arc::new(tokens.clone());
    let next = Arc::new(AtomicUsize::new(0));
    (0..16)
        .map(|_| {
            let (client, api, tokens, next) =
                (client.clone(), api.to_owned(), tokens.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    refer(&client, &api, &tokens).await;
                }
            })
        })
        .collect()
}

/// Which of the node's replicas holds the dispatcher.
async fn holder_of(node: &Node, client: &reqwest::Client) -> usize {
    for (i, r) in node.replicas.iter().enumerate() {
        if readiness(client, r.api)
            .await
            .is_some_and(|v| v["dispatcher"] == true)
        {
            return i;
        }
    }
    panic!("no replica holds the dispatcher");
}

/// Waits until the replica answering on `port` holds the dispatcher: at
/// most 10 s (the lease lasts 2 s).
async fn takes_over(client: &reqwest::Client, port: u16) {
    let since = Instant::now();
    while !readiness(client, port)
        .await
        .is_some_and(|v| v["dispatcher"] == true)
    {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "no replica took the dispatcher over within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const DELIVERED: &str = "SELECT count(*) AS n FROM outbox_messages WHERE status = 'delivered'";

/// Waits until Niamey has delivered `n` referrals, then checks that each
/// was made once, delivered once and received once, in a gapless chain,
/// and that Abuja took in the current term's batches last.
async fn delivered_exactly_once(
    [ne, ng]: [&Node; 2],
    ne_sql: &mut PgConnection,
    ng_sql: &mut PgConnection,
    n: usize,
) {
    let n = n as i64;
    let deadline = Instant::now() + Duration::from_secs(180);
    while count(ne_sql, DELIVERED) < n {
        if Instant::now() >= deadline {
            // The replicas' logs go with the test's directories: what they
            // warned of is printed here.
            for node in [ne, ng] {
                for r in &node.replicas {
                    let log = std::fs::read_to_string(node.log_of(&r.name)).unwrap_or_default();
                    for line in log
                        .lines()
                        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                    {
                        eprintln!("{}: {line}", r.name);
                    }
                }
            }
            let pending: Vec<Status> = diesel::sql_query(
                "SELECT status, count(*) AS n FROM outbox_messages GROUP BY status",
            )
            .load(ne_sql)
            .unwrap();
            panic!(
                "only {} of {n} delivered; Niamey's outbox: {pending:?}",
                count(ne_sql, DELIVERED)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let made = [
        "SELECT count(*) AS n FROM cases WHERE direction = 'outgoing' AND state <> 'draft' AND state <> 'submitted'",
        "SELECT count(*) AS n FROM outbox_messages WHERE message_type = 'referral_request'",
        "SELECT count(*) AS n FROM outbox_messages",
        DELIVERED,
    ];
    for q in made {
        assert_eq!(count(ne_sql, q), n, "{q}");
    }
    // Received once each, in a gapless chain.
    let received = [
        "SELECT count(*) AS n FROM inbox_messages",
        "SELECT count(DISTINCT id) AS n FROM inbox_messages",
        "SELECT count(DISTINCT seq) AS n FROM inbox_messages",
        "SELECT max(seq) AS n FROM inbox_messages",
        "SELECT last_seq AS n FROM peer_channels WHERE direction = 'incoming'",
        "SELECT count(*) AS n FROM cases WHERE direction = 'incoming'",
    ];
    for q in received {
        assert_eq!(count(ng_sql, q), n, "{q}");
    }
    let fence = count(
        ng_sql,
        "SELECT fence AS n FROM peer_channels WHERE direction = 'incoming'",
    );
    let term = count(
        ne_sql,
        "SELECT term AS n FROM leases WHERE name = 'dispatcher'",
    );
    assert_eq!(fence, term, "Abuja took in the batches of the current term");
}

/// A referral approved on a replica that does not deliver is delivered at
/// once by the one that does: the queuing transaction notifies the other
/// replicas (PostgreSQL `NOTIFY`), instead of waiting for the dispatcher's
/// next look at the outbox (a minute here).
#[tokio::test]
async fn a_message_queued_on_one_replica_wakes_the_dispatcher_of_another() {
    if backend() != "postgres" {
        return;
    }
    let slow_poll: Tweak = Arc::new(|s: &mut passerelle::config::Settings| {
        s.peer.poll_interval_ms = 60_000;
    });
    let (ne, ng) = spawn_pair_with(slow_poll.clone(), no_tweak()).await;
    let ports = Ports {
        api: 0,
        peer: 0,
        other_peer: ne.ports.other_peer,
    };
    let mut second = settings(NodeId::NeAnltp, ne.dir.path(), &ne.database_url, ports);
    slow_poll(&mut second);
    let app = passerelle::startup::Application::build(second)
        .await
        .unwrap();
    let api = app.api_url();
    let stop = app.stop_handle();
    let task = tokio::spawn(app.run_until_stopped());
    let ready = readiness(&ne.client, port_of(&api)).await.unwrap();
    assert_eq!(ready["dispatcher"], false, "{ready}");

    // The whole referral is made on the second replica.
    let (id, tag) = ne.draft(&ready_case()).await;
    let mut tag = tag;
    for (role, action) in [(Role::Caseworker, "submit"), (Role::Supervisor, "approve")] {
        let res = Call::new(
            &ne.client,
            Method::POST,
            &format!("{api}/api/v1/cases/{id}/transitions"),
        )
        .bearer_auth(&ne.tokens[&role])
        .header("If-Match", &tag)
        .json(&json!({ "action": action }))
        .send()
        .await
        .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{action}");
        tag = etag(&res);
    }
    let approved = Instant::now();
    while crate::exchange::received_seqs(&ng).await != vec![1] {
        assert!(
            approved.elapsed() < Duration::from_secs(5),
            "not delivered within 5 s of the approval"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.stop(true).await;
    task.await.unwrap().unwrap();
}

pub fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

/// Batches from the other node that reach two replicas at once are taken
/// in one after the other: the same message sent to both at the same
/// moment (a sender retrying through the proxy) is taken in once, and both
/// answers carry the same receipt.
#[tokio::test]
async fn the_same_batch_at_two_replicas_at_once_is_taken_in_once() {
    if backend() != "postgres" {
        return;
    }
    let ng = spawn_node(NodeId::NgNaptip).await;
    let (other, second) = second_replica(&ng).await;
    let ne = ng.fake_peer();
    let mut prev = passerelle::domain::envelope::GENESIS_HASH.to_owned();
    for seq in 1..=20 {
        let signed = ne.sign(&ne.referral_envelope(seq, &prev, "referral_request"));
        prev = signed.hash();
        let batch = std::slice::from_ref(&signed);
        let (a, b) = tokio::join!(
            ne.post_batch_to(ng.ports.peer, batch),
            ne.post_batch_to(other, batch)
        );
        let mut receipts = Vec::new();
        for res in [a, b] {
            assert_eq!(res.status(), StatusCode::OK, "message {seq}");
            let body: Value = res.json().await.unwrap();
            assert!(body["refusal"].is_null(), "message {seq}: {body}");
            receipts.push(body["receipts"][0]["body"].clone());
        }
        assert_eq!(receipts[0], receipts[1], "message {seq}: one receipt");
        assert_eq!(receipts[0]["status"], "accepted");
    }
    let seqs = crate::exchange::received_seqs(&ng).await;
    assert_eq!(seqs, (1..=20).collect::<Vec<i64>>());
    second.stop().await;
}

/// Two replicas of Abuja handed the same checkpoint of Niamey's log at
/// once: one cosigns it, the other refuses it as already past (judged
/// against what the first kept), neither answers 500, and Abuja keeps the
/// witnessed leaves once.
#[tokio::test]
async fn the_same_checkpoint_at_two_replicas_at_once_is_cosigned_once() {
    if backend() != "postgres" {
        return;
    }
    // Niamey's log: the entries of a few cases, and a signed checkpoint.
    let ne = spawn_node(NodeId::NeAnltp).await;
    for _ in 0..3 {
        ne.draft(&ready_case()).await;
    }
    let ctx = ne.ctx.clone();
    let (cp, proof, leaves) = ne
        .db
        .write(move |c| {
            let now = chrono::Utc::now().naive_utc();
            let (_, cp) = passerelle::app::witness::prepare_submission(c, &ctx, 0, 1_000, now)?
                .expect("entries to cosign");
            let (proof, leaves) = passerelle::app::witness::submission_body(c, 0, cp.size as u64)?;
            Ok::<_, passerelle::store::DbError>((cp, proof, leaves))
        })
        .await
        .unwrap();
    let submission = json!({
        "checkpoint": cp.note,
        "from_size": 0,
        "consistency": proof.iter().map(|h| passerelle::audit::to_hex(h)).collect::<Vec<_>>(),
        "leaves": leaves.into_iter().map(|(_, h)| h).collect::<Vec<_>>(),
    });
    // Abuja, two replicas on one database.
    let ng = spawn_node(NodeId::NgNaptip).await;
    let (other, second) = second_replica(&ng).await;
    let peer = ng.fake_peer();
    let (a, b) = tokio::join!(
        peer.post_to(ng.ports.peer, "/peer/v1/checkpoints", &submission),
        peer.post_to(other, "/peer/v1/checkpoints", &submission)
    );
    let mut answers = Vec::new();
    for res in [a, b] {
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        answers.push((status, body));
    }
    answers.sort_by_key(|(s, _)| *s);
    assert_eq!(answers[0].0, StatusCode::OK, "{answers:?}");
    assert!(
        answers[1].0 == StatusCode::OK || answers[1].0.is_client_error(),
        "the second submission: {answers:?}"
    );
    if answers[1].0 != StatusCode::OK {
        assert_eq!(
            answers[1].1["code"], "consistency_base_mismatch",
            "{answers:?}"
        );
    }
    // The checkpoint is Abuja's latest of Niamey's log.
    let latest = peer.get("/peer/v1/checkpoints/latest").await;
    assert_eq!(latest["size"], cp.size, "{latest}");
    second.stop().await;
}

/// A second replica of the node `n`, in this process, on its database: its
/// peer listener's port, and the replica (to stop it).
async fn second_replica(n: &TestNode) -> (u16, SecondReplica) {
    let ports = Ports {
        api: 0,
        peer: 0,
        other_peer: n.ports.other_peer,
    };
    let second = settings(n.node, n.dir.path(), &n.database_url, ports);
    let app = passerelle::startup::Application::build(second)
        .await
        .unwrap();
    let port = app.peer_port();
    let stop = app.stop_handle();
    let task = tokio::spawn(app.run_until_stopped());
    (port, SecondReplica { stop, task })
}

/// A replica started by [`second_replica`].
struct SecondReplica {
    stop: passerelle::startup::StopHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SecondReplica {
    async fn stop(self) {
        self.stop.stop(true).await;
        self.task.await.unwrap().unwrap();
    }
}
