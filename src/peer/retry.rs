//! When a failed delivery is tried again: the backoff between tries, and
//! which refusals by the peer a resend can cure.

/// A random factor in [1 - jitter, 1 + jitter].
fn jitter_factor(jitter: f64) -> f64 {
    let mut b = [0u8; 4];
    if openssl::rand::rand_bytes(&mut b).is_err() {
        return 1.0;
    }
    let unit = f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX);
    1.0 + jitter * (2.0 * unit - 1.0)
}

/// Delay before the next try after `attempts` failed ones: `initial_ms`
/// doubled per failure up to `max_ms`, then varied by `jitter`. There is
/// always a next try.
pub fn backoff(initial_ms: u64, max_ms: u64, jitter: f64, attempts: i64) -> chrono::Duration {
    let doublings = u32::try_from(attempts.clamp(0, 40)).unwrap_or(40);
    let base = initial_ms
        .saturating_mul(1u64 << doublings.min(40))
        .min(max_ms);
    let ms = (base as f64 * jitter_factor(jitter.clamp(0.0, 1.0))).round() as i64;
    chrono::Duration::milliseconds(ms.max(0))
}

/// Refusals a resend can cure without an administrator.
pub fn is_transient_refusal(code: &str) -> bool {
    matches!(
        code,
        "database_unavailable"
            | "database_busy"
            | "awaiting_receipts"
            | "payload_too_large"
            | "sequence_ahead"
            // Another replica of this node took over delivery: the message
            // is its to send, never suspended for it.
            | "stale_dispatcher"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling_with_jitter_and_never_ends() {
        for (attempts, base) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (5, 3200),
            (6, 5000),
            (60, 5000),
        ] {
            for _ in 0..50 {
                let d = backoff(100, 5000, 0.2, attempts).num_milliseconds();
                assert!(
                    (base * 8 / 10..=base * 12 / 10).contains(&d),
                    "{d} for {base}"
                );
            }
        }
        assert_eq!(
            backoff(100, 5000, 0.0, i64::MAX),
            chrono::Duration::milliseconds(5000)
        );
    }
}
