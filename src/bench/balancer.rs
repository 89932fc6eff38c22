//! A round-robin TCP proxy in front of a node's replicas, as a load
//! balancer in TCP mode would be (TLS passes through it untouched): each
//! new connection goes to the next replica, and to the one after it when
//! that one does not accept (a replica that died).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// A running proxy; stops when dropped.
pub struct Balancer {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long a replica may take to accept before the next one is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl Balancer {
    /// Listens on `port` of loopback (0: any free port) and spreads the
    /// connections over the replicas listening on `backends`.
    pub async fn start(port: u16, backends: Vec<u16>) -> std::io::Result<Balancer> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        let next = Arc::new(AtomicUsize::new(0));
        let backends = Arc::new(backends);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (next, backends) = (next.clone(), backends.clone());
                tokio::spawn(async move {
                    let _ = client.set_nodelay(true);
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for i in 0..backends.len() {
                        let port = backends[(first + i) % backends.len()];
                        let connect = TcpStream::connect(("127.0.0.1", port));
                        if let Ok(Ok(server)) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await
                        {
                            let _ = server.set_nodelay(true);
                            let (mut client, mut server) = (client, server);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            return;
                        }
                    }
                });
            }
        });
        Ok(Balancer { port, task })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }
}
