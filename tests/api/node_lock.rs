//! One node process per database, on both backends: a second node started
//! on a database that a node serves is refused with a clear error (two
//! dispatchers over one hash chain would send out of order), and starts
//! once the first has stopped.

use passerelle::domain::ids::NodeId;
use passerelle::domain::roles::Role::*;
use passerelle::startup::Application;

use crate::helpers::*;

#[tokio::test]
async fn a_second_node_on_a_served_database_is_refused_until_the_first_stops() {
    let n = spawn_node(NodeId::NeAnltp).await;
    let ports = Ports {
        api: 0,
        peer: 0,
        other_peer: n.ports.other_peer,
    };
    let second = settings(NodeId::NeAnltp, n.dir.path(), &n.database_url, ports);
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
