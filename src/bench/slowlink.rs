//! A small userspace TCP proxy that simulates a poor long-distance link
//! (VSAT, congested 3G) between two nodes, for the benchmark's slow-link
//! figures and the integration tests.
//!
//! Kernel traffic shaping (tc/netem) is not available where the tests run, so
//! the proxy does the shaping itself. It only forwards bytes and never looks
//! inside them (the nodes talk mTLS through it), with one exception: to make
//! [`SlowLink::cut_after_request`] useful on fresh TLS connections, it checks
//! whether the first byte a client sends is a TLS handshake record.
//!
//! What it simulates, per direction of every connection:
//!
//! * **Latency**: every chunk read at time `t` is written to the other side
//!   at `t + delay`. Each direction is a pipe (a queue of `(deliver_at,
//!   bytes)` with a reader task and a writer task), so many chunks can be in
//!   flight at once: delay adds latency, it does not limit throughput.
//! * **Bandwidth**: an optional byte rate per direction, shared by all
//!   connections of the proxy in that direction. Reading from the source is
//!   paced (at most about `bytes_per_sec / 20` bytes per 50 ms slice, and at
//!   most 4 KiB per read) before the data is queued, so backpressure reaches
//!   the sender through the normal TCP window.
//! * **Outages**: [`SlowLink::set_down`] closes every connection and refuses
//!   new ones until the link is brought up again.
//! * **Lost answers**: [`SlowLink::cut_after_request`] drops a connection
//!   after the request reached the server but before any byte of the answer
//!   reaches the client; the server still sees its answer go out.
//!
//! Half-closes are forwarded (after pending data has been delivered), and any
//! I/O error closes both sides of the connection. Every task ends with its
//! connection; dropping the last [`SlowLink`] handle stops the listener and
//! closes the remaining connections.
//!
//! Typical use: start node B, then
//! `SlowLink::start(node_b_port, LinkConfig { delay: Duration::from_millis(300),
//! bytes_per_sec: Some(8_000) }).await`, and give node A
//! `127.0.0.1:{link.port()}` as node B's address.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

/// Largest single read from a socket.
const MAX_CHUNK: usize = 4096;
/// Pacing slices per second (one slice is 50 ms).
const SLICES_PER_SEC: u64 = 20;
/// Chunks that may wait in one direction's pipe before the reader stops reading.
const PIPE_CHUNKS: usize = 1024;
/// Longest time the server side of a cut connection is kept open (reading and
/// discarding the server's answer) before it is closed.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// Pause after a failed `accept` (for example when out of file descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// Shape of the simulated link. Applies to each direction separately.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkConfig {
    /// One-way latency added to every chunk, in each direction (for example 300 ms).
    pub delay: Duration,
    /// Bandwidth cap per direction, shared by all connections of the proxy in
    /// that direction; `None` means unlimited. `Some(0)` is treated as 1 byte/s.
    pub bytes_per_sec: Option<u64>,
}

/// Handle to a running slow-link proxy. Cheap to clone; the proxy stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct SlowLink {
    handle: Arc<Handle>,
}

impl SlowLink {
    /// Binds 127.0.0.1:0 and forwards every accepted connection to
    /// 127.0.0.1:`target_port`.
    pub async fn start(target_port: u16, config: LinkConfig) -> std::io::Result<SlowLink> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let (kill, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            target_port,
            port,
            config: Mutex::new(config),
            up: Pacer::new(config.bytes_per_sec),
            down: Pacer::new(config.bytes_per_sec),
            is_down: AtomicBool::new(false),
            kill,
            cuts_armed: AtomicUsize::new(0),
            cuts_done: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        });
        let listener_task = tokio::spawn(accept_loop(listener, inner.clone())).abort_handle();
        Ok(SlowLink {
            handle: Arc::new(Handle {
                inner,
                listener: listener_task,
            }),
        })
    }

    /// The proxy's listening port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.inner().port
    }

    /// Changes delay and bandwidth at run time. Chunks already queued keep the
    /// delivery time they were given; new chunks use the new settings.
    pub fn set_config(&self, config: LinkConfig) {
        let inner = self.inner();
        *lock(&inner.config) = config;
        inner.up.set_rate(config.bytes_per_sec);
        inner.down.set_rate(config.bytes_per_sec);
    }

    /// Current link settings.
    pub fn config(&self) -> LinkConfig {
        self.inner().config()
    }

    /// `true`: closes every current connection and refuses new ones (they are
    /// accepted and dropped at once). `false`: forwards new connections again.
    pub fn set_down(&self, down: bool) {
        let inner = self.inner();
        inner.is_down.store(down, Ordering::SeqCst);
        if down {
            inner.close_all();
        }
    }

    /// Arms `n` "request delivered, answer lost" failures.
    ///
    /// While armed, the first time the server starts a new answer on any
    /// connection, that connection is cut and uses up one of the `n`:
    ///
    /// * the client side is closed at once; the client sees end of stream (or
    ///   a reset) and no byte of the answer;
    /// * the server side behaves as if the answer were lost in transit: it
    ///   still gets everything the client had already sent, its answer is read
    ///   and thrown away, and it is only closed once the server closes it
    ///   itself (for example at its keep-alive timeout), after 30 s, or when
    ///   the link is taken down or dropped. So the server finishes handling
    ///   the request undisturbed.
    ///
    /// "Starts a new answer" means: the server sends data after client data
    /// was delivered to it since the server last sent anything, and nothing
    /// read from the client is still waiting in the pipe. On a connection that
    /// begins with a TLS handshake record, the server's first answer (its
    /// handshake reply) is never cut, so with TLS 1.3 the cut lands after the
    /// client's last handshake flight and request have been delivered.
    ///
    /// Calling this again replaces the number of pending cuts.
    pub fn cut_after_request(&self, n: usize) {
        self.inner().cuts_armed.store(n, Ordering::SeqCst);
    }

    /// Number of cuts armed by [`Self::cut_after_request`] not used yet.
    pub fn cuts_pending(&self) -> usize {
        self.inner().cuts_armed.load(Ordering::SeqCst)
    }

    /// Number of connections cut by [`Self::cut_after_request`] so far.
    pub fn cuts_done(&self) -> u64 {
        self.inner().cuts_done.load(Ordering::SeqCst)
    }

    /// Total client-to-server bytes delivered to servers.
    pub fn bytes_up(&self) -> u64 {
        self.inner().bytes_up.load(Ordering::SeqCst)
    }

    /// Total server-to-client bytes delivered to clients.
    pub fn bytes_down(&self) -> u64 {
        self.inner().bytes_down.load(Ordering::SeqCst)
    }

    /// Connections accepted so far, including those refused while down.
    pub fn connections(&self) -> u64 {
        self.inner().connections.load(Ordering::SeqCst)
    }

    fn inner(&self) -> &Inner {
        &self.handle.inner
    }
}

/// Shared by all clones of a [`SlowLink`]; stops the proxy when dropped.
struct Handle {
    inner: Arc<Inner>,
    listener: AbortHandle,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.listener.abort();
        self.inner.is_down.store(true, Ordering::SeqCst);
        self.inner.close_all();
    }
}

/// State shared by the handle, the listener and every connection.
struct Inner {
    target_port: u16,
    port: u16,
    config: Mutex<LinkConfig>,
    /// Client-to-server pacing.
    up: Pacer,
    /// Server-to-client pacing.
    down: Pacer,
    is_down: AtomicBool,
    /// Bumped to make every live connection close itself.
    kill: watch::Sender<u64>,
    cuts_armed: AtomicUsize,
    cuts_done: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    connections: AtomicU64,
}

impl Inner {
    fn config(&self) -> LinkConfig {
        *lock(&self.config)
    }

    fn pacer(&self, dir: Dir) -> &Pacer {
        match dir {
            Dir::Up => &self.up,
            Dir::Down => &self.down,
        }
    }

    fn close_all(&self) {
        self.kill
            .send_modify(|epoch| *epoch = epoch.wrapping_add(1));
    }

    /// Uses up one armed cut, if any.
    fn take_cut(&self) -> bool {
        let taken = self
            .cuts_armed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if taken {
            self.cuts_done.fetch_add(1, Ordering::SeqCst);
        }
        taken
    }
}

/// Locks a mutex, ignoring poisoning (the data stays consistent here).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    /// Client to server.
    Up,
    /// Server to client.
    Down,
}

/// Bandwidth pacing for one direction, shared by all connections.
///
/// A token bucket holding at most one slice worth of bytes; it may go into
/// debt, and a reader that leaves it in debt waits until the debt is paid
/// before queueing its chunk. Readers therefore get through in turn and the
/// total rate stays at the configured value.
struct Pacer {
    state: Mutex<PacerState>,
}

struct PacerState {
    rate: Option<u64>,
    /// Available bytes; negative while in debt.
    level: f64,
    last: Instant,
}

impl Pacer {
    fn new(rate: Option<u64>) -> Pacer {
        let rate = rate.map(|r| r.max(1));
        Pacer {
            state: Mutex::new(PacerState {
                rate,
                level: rate.map_or(0.0, slice_bytes),
                last: Instant::now(),
            }),
        }
    }

    fn set_rate(&self, rate: Option<u64>) {
        let rate = rate.map(|r| r.max(1));
        let mut state = lock(&self.state);
        state.refill(Instant::now());
        match (state.rate, rate) {
            (None, Some(new)) => state.level = slice_bytes(new),
            (Some(_), Some(new)) => state.level = state.level.min(slice_bytes(new)),
            (_, None) => state.level = 0.0,
        }
        state.rate = rate;
    }

    /// Largest read allowed at the current rate.
    fn chunk_size(&self) -> usize {
        match lock(&self.state).rate {
            None => MAX_CHUNK,
            Some(rate) => {
                let slice = usize::try_from(rate / SLICES_PER_SEC).unwrap_or(MAX_CHUNK);
                slice.clamp(1, MAX_CHUNK)
            }
        }
    }

    /// Takes `n` bytes from the bucket and returns how long the caller must
    /// wait before passing them on.
    fn charge(&self, n: usize) -> Duration {
        let mut state = lock(&self.state);
        let Some(rate) = state.rate else {
            return Duration::ZERO;
        };
        state.refill(Instant::now());
        state.level -= n as f64;
        if state.level >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-state.level / rate as f64)
                .unwrap_or(Duration::from_secs(3600))
        }
    }
}

impl PacerState {
    fn refill(&mut self, now: Instant) {
        if let Some(rate) = self.rate {
            let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
            self.level = (self.level + elapsed * rate as f64).min(slice_bytes(rate));
        }
        self.last = now;
    }
}

/// Bytes in one 50 ms slice at `rate` bytes per second (at least one byte).
fn slice_bytes(rate: u64) -> f64 {
    (rate as f64 / SLICES_PER_SEC as f64).max(1.0)
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        inner.connections.fetch_add(1, Ordering::SeqCst);
        // Subscribe before checking the flag so that a `set_down(true)`
        // racing with this accept is never missed.
        let kill = inner.kill.subscribe();
        if inner.is_down.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        tokio::spawn(run_connection(inner.clone(), client, kill));
    }
}

/// One item in a direction's pipe.
enum Chunk {
    Data(Instant, Vec<u8>),
    /// The source closed its write half; shut down the destination's at this time.
    Eof(Instant),
}

/// Why a pipe task ended early.
enum End {
    /// An I/O error: the whole connection is closed.
    Io,
    /// The server-to-client reader hit an armed cut; it hands back the
    /// server's read half so that the answer can be drained.
    Cut(OwnedReadHalf),
}

/// Per-connection bookkeeping used to find where the server starts answering.
#[derive(Default)]
struct ConnState {
    /// Client bytes read from the client so far.
    up_read: AtomicU64,
    /// Client bytes written to the server so far.
    up_delivered: AtomicU64,
    /// The client's first byte was a TLS handshake record.
    tls: AtomicBool,
}

/// Runs one proxied connection until both directions are finished, an I/O
/// error occurs, or the link is taken down.
async fn run_connection(inner: Arc<Inner>, client: TcpStream, mut kill: watch::Receiver<u64>) {
    let server = tokio::select! {
        connected = TcpStream::connect((Ipv4Addr::LOCALHOST, inner.target_port)) => match connected {
            Ok(server) => server,
            // The target refused: close the client side too.
            Err(_) => return,
        },
        _ = kill.changed() => return,
    };
    // Small writes must not wait for Nagle; the link itself adds the delay.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);

    let conn = Arc::new(ConnState::default());
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (up_tx, up_rx) = mpsc::channel(PIPE_CHUNKS);
    let (down_tx, down_rx) = mpsc::channel(PIPE_CHUNKS);

    // Dropping the set aborts every task still running, which drops their
    // socket halves and so closes both sockets.
    let mut tasks = JoinSet::new();
    let up_reader = tasks.spawn(read_side(
        inner.clone(),
        conn.clone(),
        Dir::Up,
        client_read,
        up_tx,
    ));
    tasks.spawn(write_side(
        inner.clone(),
        conn.clone(),
        Dir::Up,
        up_rx,
        server_write,
    ));
    tasks.spawn(read_side(
        inner.clone(),
        conn.clone(),
        Dir::Down,
        server_read,
        down_tx,
    ));
    let down_writer = tasks.spawn(write_side(
        inner.clone(),
        conn,
        Dir::Down,
        down_rx,
        client_write,
    ));

    loop {
        tokio::select! {
            _ = kill.changed() => return,
            joined = tasks.join_next() => match joined {
                // Every direction has finished normally.
                None => return,
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(End::Cut(server_read)))) => {
                    // Close the client side now. The client-to-server writer
                    // keeps running: it delivers what is already queued and
                    // then leaves the server side open for `drain`.
                    up_reader.abort();
                    down_writer.abort();
                    tasks.spawn(drain(server_read));
                }
                // One of the client-side tasks aborted after a cut.
                Some(Err(err)) if err.is_cancelled() => {}
                Some(Ok(Err(End::Io))) | Some(Err(_)) => return,
            },
        }
    }
}

/// Reads chunks from `src`, paces them and queues them with their delivery time.
async fn read_side(
    inner: Arc<Inner>,
    conn: Arc<ConnState>,
    dir: Dir,
    mut src: OwnedReadHalf,
    tx: mpsc::Sender<Chunk>,
) -> Result<(), End> {
    let pacer = inner.pacer(dir);
    // Value of `conn.up_delivered` when the server last sent data.
    let mut delivered_at_last_answer: Option<u64> = None;
    let mut answers: u64 = 0;
    let mut first = true;
    loop {
        let mut buf = vec![0u8; pacer.chunk_size()];
        let n = src.read(&mut buf).await.map_err(|_| End::Io)?;
        if n == 0 {
            let at = Instant::now() + inner.config().delay;
            // If the writer is gone the connection is closing anyway.
            let _ = tx.send(Chunk::Eof(at)).await;
            return Ok(());
        }
        buf.truncate(n);
        match dir {
            Dir::Up => {
                if first && buf[0] == 0x16 && buf.get(1).is_none_or(|&b| b == 0x03) {
                    conn.tls.store(true, Ordering::SeqCst);
                }
                conn.up_read.fetch_add(n as u64, Ordering::SeqCst);
            }
            Dir::Down => {
                let delivered = conn.up_delivered.load(Ordering::SeqCst);
                let drained = delivered == conn.up_read.load(Ordering::SeqCst);
                let new_answer = drained && delivered_at_last_answer != Some(delivered);
                delivered_at_last_answer = Some(delivered);
                if new_answer {
                    answers += 1;
                    let handshake_reply = answers == 1 && conn.tls.load(Ordering::SeqCst);
                    if !handshake_reply && inner.take_cut() {
                        // `buf` (the start of the answer) is discarded here.
                        return Err(End::Cut(src));
                    }
                }
            }
        }
        first = false;

        let wait = pacer.charge(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let at = Instant::now() + inner.config().delay;
        if tx.send(Chunk::Data(at, buf)).await.is_err() {
            return Ok(());
        }
    }
}

/// Writes queued chunks to `dst` at their delivery time, then forwards the
/// half-close.
async fn write_side(
    inner: Arc<Inner>,
    conn: Arc<ConnState>,
    dir: Dir,
    mut rx: mpsc::Receiver<Chunk>,
    mut dst: OwnedWriteHalf,
) -> Result<(), End> {
    let counter = match dir {
        Dir::Up => &inner.bytes_up,
        Dir::Down => &inner.bytes_down,
    };
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Chunk::Data(at, bytes) => {
                tokio::time::sleep_until(at).await;
                dst.write_all(&bytes).await.map_err(|_| End::Io)?;
                let n = bytes.len() as u64;
                counter.fetch_add(n, Ordering::SeqCst);
                if dir == Dir::Up {
                    conn.up_delivered.fetch_add(n, Ordering::SeqCst);
                }
            }
            Chunk::Eof(at) => {
                tokio::time::sleep_until(at).await;
                // The peer may already be gone; that is not worth tearing
                // down the other direction for.
                let _ = dst.shutdown().await;
                return Ok(());
            }
        }
    }
    // The reader went away without an end of stream: the connection was cut
    // or is being torn down. Do not send an end of stream; the socket closes
    // when its read half is dropped as well.
    dst.forget();
    Ok(())
}

/// Reads and discards the server's answer on a cut connection until the
/// server closes its side (or `DRAIN_LIMIT` passes); dropping `src` then
/// closes the socket.
async fn drain(mut src: OwnedReadHalf) -> Result<(), End> {
    let mut buf = vec![0u8; MAX_CHUNK];
    let _ = tokio::time::timeout(DRAIN_LIMIT, async {
        while let Ok(n) = src.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    async fn start(port: u16, config: LinkConfig) -> SlowLink {
        SlowLink::start(port, config).await.unwrap()
    }

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    /// What the echo server has seen.
    #[derive(Default)]
    struct EchoLog {
        /// Everything received, over all connections.
        received: Mutex<Vec<u8>>,
        /// Bytes echoed back successfully (written to the socket).
        echoed: AtomicU64,
        /// Connections that reached end of stream from the client.
        clean_eofs: AtomicU64,
        /// Connections that ended (for any reason).
        ended: AtomicU64,
    }

    /// A TCP echo server on 127.0.0.1: echoes everything and closes its write
    /// half when the client closes its own. With `close_after_echo` it closes
    /// the connection after its first echo, like a server that answers one
    /// request per connection.
    async fn echo_server_with(close_after_echo: bool) -> (u16, Arc<EchoLog>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(EchoLog::default());
        let log2 = log.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = log2.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    loop {
                        match sock.read(&mut buf).await {
                            Ok(0) => {
                                log.clean_eofs.fetch_add(1, Ordering::SeqCst);
                                let _ = sock.shutdown().await;
                                break;
                            }
                            Ok(n) => {
                                lock(&log.received).extend_from_slice(&buf[..n]);
                                if sock.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                                log.echoed.fetch_add(n as u64, Ordering::SeqCst);
                                if close_after_echo {
                                    break;
                                }
                            }
                            Err(_) => break,
                        }
                    }
                    log.ended.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        (port, log)
    }

    async fn echo_server() -> (u16, Arc<EchoLog>) {
        echo_server_with(false).await
    }

    async fn connect(link: &SlowLink) -> TcpStream {
        let sock = TcpStream::connect((Ipv4Addr::LOCALHOST, link.port()))
            .await
            .unwrap();
        sock.set_nodelay(true).unwrap();
        sock
    }

    /// Sends `msg` and reads back exactly as many bytes; returns the round trip.
    async fn round_trip(sock: &mut TcpStream, msg: &[u8]) -> Duration {
        let start = Instant::now();
        sock.write_all(msg).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        tokio::time::timeout(WAIT, sock.read_exact(&mut back))
            .await
            .expect("echo timed out")
            .unwrap();
        assert_eq!(back, msg);
        start.elapsed()
    }

    /// Reads until end of stream or error; returns the bytes received.
    async fn read_to_close(sock: &mut TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(WAIT, sock.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return got,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => panic!("connection was not closed"),
            }
        }
    }

    async fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn delay_adds_round_trip_latency_not_throughput_limit() {
        let (port, _) = echo_server().await;
        let delay = Duration::from_millis(100);
        let link = start(
            port,
            LinkConfig {
                delay,
                bytes_per_sec: None,
            },
        )
        .await;
        let mut sock = connect(&link).await;

        let rtt = round_trip(&mut sock, b"ping").await;
        assert!(rtt >= 2 * delay, "round trip {rtt:?} shorter than 2x delay");
        assert!(
            rtt < 2 * delay + Duration::from_millis(150),
            "round trip {rtt:?}"
        );

        // Twenty messages sent 5 ms apart are all in flight at once: the last
        // echo comes back about 2x delay after it was sent, not 20 x 2x delay.
        let start = Instant::now();
        let (mut rd, mut wr) = sock.into_split();
        let sender = tokio::spawn(async move {
            for i in 0..20u8 {
                wr.write_all(&[i; 100]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            wr
        });
        let mut back = vec![0u8; 2000];
        tokio::time::timeout(WAIT, rd.read_exact(&mut back))
            .await
            .unwrap()
            .unwrap();
        let elapsed = start.elapsed();
        assert!(
            elapsed < 2 * delay + Duration::from_millis(250),
            "pipelined echoes took {elapsed:?}"
        );
        for (i, part) in back.chunks(100).enumerate() {
            assert!(part.iter().all(|&b| usize::from(b) == i), "order kept");
        }
        drop(sender.await.unwrap());
        assert_eq!(link.bytes_up(), 2004);
        assert_eq!(link.bytes_down(), 2004);
        assert_eq!(link.connections(), 1);
    }

    #[tokio::test]
    async fn bandwidth_cap_paces_a_transfer() {
        let (port, log) = echo_server().await;
        let link = start(
            port,
            LinkConfig {
                delay: Duration::from_millis(10),
                bytes_per_sec: Some(32 * 1024),
            },
        )
        .await;
        let sock = connect(&link).await;
        let (mut rd, mut wr) = sock.into_split();
        let data: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();

        let start = Instant::now();
        let sender = tokio::spawn(async move {
            wr.write_all(&data).await.unwrap();
            // Half-close: the echo server answers with its own end of stream,
            // which must come back through the proxy after the data.
            wr.shutdown().await.unwrap();
            wr
        });
        let mut back = Vec::new();
        tokio::time::timeout(WAIT, rd.read_to_end(&mut back))
            .await
            .expect("transfer timed out")
            .unwrap();
        let elapsed = start.elapsed();
        drop(sender.await.unwrap());

        assert_eq!(back, expected);
        assert!(
            elapsed >= Duration::from_millis(1500) && elapsed <= Duration::from_millis(2500),
            "64 KiB at 32 KiB/s took {elapsed:?}, expected about 2 s"
        );
        assert_eq!(link.bytes_up(), 64 * 1024);
        assert_eq!(link.bytes_down(), 64 * 1024);
        wait_until("server EOF", || log.clean_eofs.load(Ordering::SeqCst) == 1).await;
    }

    #[tokio::test]
    async fn set_down_closes_and_refuses_then_recovers() {
        let (port, _) = echo_server().await;
        let link = start(port, LinkConfig::default()).await;
        let mut before = connect(&link).await;
        round_trip(&mut before, b"hello").await;

        link.set_down(true);
        assert!(read_to_close(&mut before).await.is_empty());

        // While down, connections are accepted and closed straight away.
        let mut refused = connect(&link).await;
        let _ = refused.write_all(b"anyone?").await;
        assert!(read_to_close(&mut refused).await.is_empty());

        link.set_down(false);
        let mut after = connect(&link).await;
        round_trip(&mut after, b"back again").await;
        assert_eq!(link.connections(), 3);
        assert_eq!(link.bytes_down(), 15);
    }

    #[tokio::test]
    async fn cut_after_request_delivers_request_and_loses_answer() {
        let (port, log) = echo_server().await;
        let link = start(
            port,
            LinkConfig {
                delay: Duration::from_millis(20),
                bytes_per_sec: None,
            },
        )
        .await;
        link.cut_after_request(1);

        let mut sock = connect(&link).await;
        sock.write_all(b"POST /request").await.unwrap();
        assert!(
            read_to_close(&mut sock).await.is_empty(),
            "no answer byte may reach the client"
        );
        wait_until("request at server", || {
            lock(&log.received).as_slice() == b"POST /request"
        })
        .await;
        // For the server the answer went out fine, and its side of the
        // connection stays open.
        wait_until("answer written", || log.echoed.load(Ordering::SeqCst) == 13).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(log.ended.load(Ordering::SeqCst), 0);
        assert_eq!(link.bytes_up(), 13);
        assert_eq!(link.bytes_down(), 0);
        assert_eq!(link.cuts_done(), 1);
        assert_eq!(link.cuts_pending(), 0);

        // The cut is used up: the next exchange goes through.
        let mut again = connect(&link).await;
        round_trip(&mut again, b"retry").await;
    }

    #[tokio::test]
    async fn cut_after_request_spares_a_tls_handshake_reply() {
        let (port, log) = echo_server().await;
        let link = start(port, LinkConfig::default()).await;
        let mut sock = connect(&link).await;
        link.cut_after_request(1);

        // Looks like a TLS ClientHello record: the server's first reply (the
        // echo here) is its handshake flight and passes through.
        let hello = [0x16, 0x03, 0x01, 0x00, 0x02, 0xAA, 0xBB];
        round_trip(&mut sock, &hello).await;
        assert_eq!(link.cuts_pending(), 1);

        // The next answer is the one that gets lost.
        sock.write_all(b"request").await.unwrap();
        assert!(read_to_close(&mut sock).await.is_empty());
        wait_until("request at server", || {
            lock(&log.received).ends_with(b"request")
        })
        .await;
        assert_eq!(link.cuts_done(), 1);
    }

    #[tokio::test]
    async fn set_config_applies_at_run_time() {
        let (port, _) = echo_server().await;
        let link = start(port, LinkConfig::default()).await;
        let mut sock = connect(&link).await;
        assert!(round_trip(&mut sock, b"fast").await < Duration::from_millis(100));

        let slow = LinkConfig {
            delay: Duration::from_millis(100),
            bytes_per_sec: Some(1_000_000),
        };
        link.set_config(slow);
        assert_eq!(link.config(), slow);
        assert!(round_trip(&mut sock, b"slow").await >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn tasks_end_with_their_connections() {
        let alive = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        let (port, _) = echo_server().await;
        let link = start(
            port,
            LinkConfig {
                delay: Duration::from_millis(10),
                bytes_per_sec: Some(1_000_000),
            },
        )
        .await;
        // The echo server's accept loop and the proxy's listener.
        wait_until("idle", || alive() == 2).await;
        // (A second echo server and proxy, used for a cut below, add two more.)

        // Normal exchange ended by a half-close from the client.
        let mut sock = connect(&link).await;
        round_trip(&mut sock, b"one").await;
        sock.shutdown().await.unwrap();
        assert!(read_to_close(&mut sock).await.is_empty());
        drop(sock);
        wait_until("tasks of a closed connection", || alive() == 2).await;

        // Cut connection, held open until the server closes it.
        let (one_shot_port, one_shot_log) = echo_server_with(true).await;
        let one_shot = start(one_shot_port, LinkConfig::default()).await;
        wait_until("idle", || alive() == 4).await;
        one_shot.cut_after_request(1);
        let mut sock = connect(&one_shot).await;
        sock.write_all(b"two").await.unwrap();
        assert!(read_to_close(&mut sock).await.is_empty());
        drop(sock);
        wait_until("server closing", || {
            one_shot_log.ended.load(Ordering::SeqCst) == 1
        })
        .await;
        wait_until("tasks of a cut connection", || alive() == 4).await;
        assert_eq!(one_shot.cuts_done(), 1);
        drop(one_shot);
        wait_until("second listener", || alive() == 3).await;

        // Cut connection whose server side is still held open: taking the
        // link down ends it.
        link.cut_after_request(1);
        let mut sock = connect(&link).await;
        sock.write_all(b"two").await.unwrap();
        assert!(read_to_close(&mut sock).await.is_empty());
        link.set_down(true);
        link.set_down(false);
        wait_until("tasks of a held connection", || alive() == 3).await;

        // Connection killed by set_down, client keeps its socket open.
        let mut sock = connect(&link).await;
        round_trip(&mut sock, b"three").await;
        link.set_down(true);
        assert!(read_to_close(&mut sock).await.is_empty());
        wait_until("tasks of a killed connection", || alive() == 3).await;
        link.set_down(false);

        // Client vanishes without a half-close.
        let mut sock = connect(&link).await;
        round_trip(&mut sock, b"four").await;
        drop(sock);
        wait_until("tasks of an abandoned connection", || alive() == 3).await;

        drop(link);
        wait_until("listener", || alive() == 2).await;
    }

    #[tokio::test]
    async fn dropping_the_last_handle_stops_the_proxy() {
        let (port, _) = echo_server().await;
        let link = start(port, LinkConfig::default()).await;
        let clone = link.clone();
        let proxy_port = link.port();
        let mut sock = connect(&link).await;
        round_trip(&mut sock, b"x").await;

        drop(link);
        // A clone keeps it running.
        round_trip(&mut sock, b"y").await;
        drop(clone);

        assert!(read_to_close(&mut sock).await.is_empty());
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, proxy_port))
            .await
            .is_ok()
        {
            assert!(Instant::now() < deadline, "listener still accepting");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
