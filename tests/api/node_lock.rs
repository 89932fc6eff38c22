//! Who may serve a database. On SQLite one process serves it: a second node
//! started on a database that a node serves is refused with a clear error
//! (two dispatchers over one hash chain would send out of order), and starts
//! once the first has stopped. On PostgreSQL a second process starts as a
//! replica of the node, and only one of them delivers (see `replicas.rs`).

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::*;
use passerelle::startup::Application;
use serde_json::Value;

use crate::helpers::*;

async fn readiness(url: &str) -> Value {
    let client = api_client(NodeId::NeAnltp);
    crate::replicas::readiness(&client, crate::replicas::port_of(url))
        .await
        .expect("the replica is ready")
}

#[tokio::test]
async fn a_second_process_on_a_served_database_is_refused_on_sqlite_and_a_replica_on_postgres() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let ports = Ports {
        api: 0,
        peer: 0,
        other_peer: n.ports.other_peer,
    };
    let second = settings(NodeId::NeAnltp, n.dir.path(), &n.database_url, ports);
    if backend() == "postgres" {
        let app = Application::build(second).await.expect("a replica starts");
        let url = app.api_url();
        let stop = app.stop_handle();
        let task = tokio::spawn(app.run_until_stopped());
        // Exactly one of the two delivers, and it is the first.
        let first = readiness(&n.address).await;
        let other = readiness(&url).await;
        assert_ne!(first["replica"], other["replica"]);
        assert_eq!(
            (&first["dispatcher"], &other["dispatcher"]),
            (&Value::Bool(true), &Value::Bool(false)),
            "{first} {other}"
        );
        // A restore is refused while a replica serves.
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("node.toml");
        let toml = config_toml(
            NodeId::NeAnltp,
            dir.path(),
            &format!("[database]\nurl = \"{}\"\n", n.database_url),
        );
        std::fs::write(&config, toml).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["restore", "--config", config.to_str().unwrap()])
            .arg(dir.path().join("none.dump"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("stop every replica"), "{err}");
        // The first stops: the second takes the dispatcher over at once.
        n.shut_down().await;
        let mut took = false;
        for _ in 0..100 {
            if readiness(&url).await["dispatcher"] == true {
                took = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(took, "the replica left did not take the dispatcher over");
        stop.stop(true).await;
        task.await.unwrap().unwrap();
        return;
    }
    let err = match Application::build(second).await {
        Ok(_) => panic!("a second node started on a database a node serves"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("another node"), "{err}");
    assert!(err.contains("stop it first"), "{err}");
    // The first node still serves.
    n.get_ok("/api/v1/cases", Caseworker).await;
    // Once it has stopped, a node starts on the database again.
    n.shut_down().await;
    let n = n.restart().await;
    n.get_ok("/api/v1/cases", Caseworker).await;
}
