//! Refused connections on the peer port: counted at once, logged once per
//! reason and source per interval, and tallied so that the audit log gets
//! one entry per reason and source per interval with a count.
//!
//! A flood of bad handshakes from anywhere can therefore add at most
//! [`MAX_SOURCES`] + 1 audit entries and log lines per reason per interval,
//! however many connections it opens.
//!
//! The certificate verifier runs inside rustls and does not know the
//! connection it checks; the peer listener runs each handshake inside
//! [`in_handshake`], where the verifier leaves the reason and the presented
//! certificate with [`note`], and the listener adds the source address.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use openssl::x509::X509;
use prometheus::IntCounterVec;

/// Distinct sources tallied per interval; refusals from further sources are
/// tallied together under no source.
pub const MAX_SOURCES: usize = 1000;

/// Longest certificate subject kept (characters).
const MAX_SUBJECT: usize = 256;

/// The certificate a refused client presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// SHA-256 of the certificate's DER, lower-case hex.
    pub fingerprint: String,
    /// Its subject, OpenSSL one-line form, cut at 256 characters.
    pub subject: String,
}

impl Presented {
    /// What is shown of a DER certificate (the fingerprint even when it does
    /// not parse).
    pub fn of(der: &[u8]) -> Presented {
        let subject = X509::from_der(der)
            .ok()
            .map(|c| {
                c.subject_name()
                    .entries()
                    .map(|e| {
                        let key = e.object().nid().short_name().unwrap_or("?");
                        let value = e.data().to_string().unwrap_or_default();
                        format!("{key}={value}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "(unreadable certificate)".into());
        Presented {
            fingerprint: crate::audit::to_hex(&openssl::sha::sha256(der)),
            subject: subject
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_SUBJECT)
                .collect(),
        }
    }
}

/// One refused connection.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Stable reason code (`no_certificate`, `unknown_ca`, `expired`, …).
    pub reason: &'static str,
    /// Where the connection came from.
    pub source: Option<IpAddr>,
    /// The client certificate, when one was presented.
    pub certificate: Option<Presented>,
}

/// The refusals of one reason from one source during an interval.
#[derive(Debug, Clone)]
pub struct Tally {
    pub reason: &'static str,
    /// `None`: the source was not known, or past [`MAX_SOURCES`].
    pub source: Option<IpAddr>,
    pub count: u64,
    /// The last certificate presented, if any.
    pub certificate: Option<Presented>,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// The interval's tallies by reason and source.
type Tallies = HashMap<(&'static str, Option<IpAddr>), Tally>;

/// Counts, logs and tallies refusals; shared by every listener worker.
#[derive(Clone)]
pub struct RefusalLog {
    counter: IntCounterVec,
    tallies: Arc<Mutex<Tallies>>,
}

impl std::fmt::Debug for RefusalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefusalLog")
    }
}

impl RefusalLog {
    /// A log counting into `counter` (label `reason`).
    pub fn new(counter: IntCounterVec) -> Self {
        Self {
            counter,
            tallies: Default::default(),
        }
    }

    /// Counts a refusal; the first of its reason and source in this
    /// interval is logged, the others only tallied.
    pub fn record(&self, refusal: Refusal) {
        self.counter.with_label_values(&[refusal.reason]).inc();
        let now = Utc::now();
        let mut tallies = match self.tallies.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut source = refusal.source;
        if source.is_some()
            && tallies.len() >= MAX_SOURCES
            && !tallies.contains_key(&(refusal.reason, source))
        {
            source = None;
        }
        let tally = tallies.entry((refusal.reason, source)).or_insert_with(|| {
            let (fingerprint, subject) = match &refusal.certificate {
                Some(c) => (c.fingerprint.as_str(), c.subject.as_str()),
                None => ("", ""),
            };
            tracing::warn!(
                reason = refusal.reason,
                source = ?refusal.source,
                fingerprint,
                subject,
                "peer connection refused in the TLS handshake (more of the same are \
                 counted and written once per interval)"
            );
            Tally {
                reason: refusal.reason,
                source,
                count: 0,
                certificate: None,
                first: now,
                last: now,
            }
        });
        tally.count += 1;
        tally.last = now;
        if refusal.certificate.is_some() {
            tally.certificate = refusal.certificate;
        }
    }

    /// The interval's tallies, oldest first; the next interval starts empty.
    pub fn take(&self) -> Vec<Tally> {
        let taken = match self.tallies.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        let mut tallies: Vec<Tally> = taken.into_values().collect();
        tallies.sort_by_key(|t| (t.first, t.reason, t.source));
        tallies
    }
}

/// What the verifier found wrong in the handshake under way.
type Noted = Option<(&'static str, Option<Presented>)>;

tokio::task_local! {
    static HANDSHAKE: RefCell<Noted>;
}

/// Runs a handshake, returning its outcome and what the certificate
/// verifier noted while it ran (see [`note`]).
pub async fn in_handshake<F: Future>(handshake: F) -> (F::Output, Noted) {
    HANDSHAKE
        .scope(RefCell::new(None), async {
            let out = handshake.await;
            let noted = HANDSHAKE.with(|n| n.borrow_mut().take());
            (out, noted)
        })
        .await
}

/// Called by the certificate verifier when it refuses `certificate`; a no-op
/// outside [`in_handshake`].
pub fn note(reason: &'static str, certificate: &[u8]) {
    let _ =
        HANDSHAKE.try_with(|n| *n.borrow_mut() = Some((reason, Some(Presented::of(certificate)))));
}

/// The reason for a handshake that failed without the verifier refusing a
/// certificate.
pub fn reason_of_failure(e: &std::io::Error) -> &'static str {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::NoCertificatesPresented) => "no_certificate",
        Some(rustls::Error::InvalidCertificate(_)) => "invalid_certificate",
        Some(rustls::Error::PeerIncompatible(_)) => "incompatible_client",
        Some(rustls::Error::InvalidMessage(_)) => "not_tls",
        Some(rustls::Error::AlertReceived(_)) => "client_aborted",
        Some(_) => "handshake_failed",
        None => match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => "client_aborted",
            std::io::ErrorKind::InvalidData => "not_tls",
            _ => "handshake_failed",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> RefusalLog {
        RefusalLog::new(IntCounterVec::new(prometheus::Opts::new("t", "t"), &["reason"]).unwrap())
    }

    #[test]
    fn a_flood_is_one_tally_per_reason_and_source() {
        let log = log();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for i in 0..10_000 {
            let source = if i % 2 == 0 { a } else { b };
            log.record(Refusal {
                reason: "no_certificate",
                source: Some(source),
                certificate: None,
            });
        }
        log.record(Refusal {
            reason: "unknown_ca",
            source: Some(a),
            certificate: Some(Presented::of(b"not a certificate")),
        });
        let tallies = log.take();
        assert_eq!(tallies.len(), 3);
        assert_eq!(tallies.iter().map(|t| t.count).sum::<u64>(), 10_001);
        assert!(log.take().is_empty(), "each interval starts empty");
    }

    #[test]
    fn sources_past_the_limit_are_tallied_together() {
        let log = log();
        for i in 0..(MAX_SOURCES as u32 + 500) {
            log.record(Refusal {
                reason: "no_certificate",
                source: Some(IpAddr::from(i.to_be_bytes())),
                certificate: None,
            });
        }
        let tallies = log.take();
        assert_eq!(tallies.len(), MAX_SOURCES + 1);
        let other = tallies.iter().find(|t| t.source.is_none()).unwrap();
        assert_eq!(other.count, 500);
    }
}
