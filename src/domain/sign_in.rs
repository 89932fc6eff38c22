//! The rules of signing in to the console: what a password must be, and
//! how repeated failures slow a username down and then lock it for a while.

use chrono::{Duration, NaiveDateTime};

use super::FieldError;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;
/// Longest password accepted (argon2 hashes anything, but a limit keeps a
/// request from costing the server more than a sign-in should).
pub const MAX_PASSWORD: usize = 128;

/// Failures in a row after which each further attempt must wait.
pub const DELAY_AFTER: i64 = 3;
/// Failures in a row after which the username is locked.
pub const LOCK_AFTER: i64 = 10;
/// How long a lock lasts.
pub const LOCK_MINUTES: i64 = 15;

/// Checks a new password: 12 to 128 characters, not the username.
pub fn check_password(password: &str, username: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&n) {
        return Err(FieldError::new(
            "new_password",
            "invalid_length",
            format!("a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters"),
        ));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(FieldError::new(
            "new_password",
            "invalid",
            "a password is not the username",
        ));
    }
    Ok(())
}

/// Whether a username may try to sign in now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Too many failures in a row: the next attempt waits until then.
    Wait(NaiveDateTime),
    /// Locked until then.
    Locked(NaiveDateTime),
}

/// The wait after `failures` failures in a row: none up to `DELAY_AFTER`,
/// then 1, 2, 4 … seconds, at most a minute.
pub fn delay(failures: i64) -> Duration {
    if failures < DELAY_AFTER {
        return Duration::zero();
    }
    let exp = (failures - DELAY_AFTER).min(6) as u32;
    Duration::seconds(2i64.pow(exp).min(60))
}

/// The gate for a username with `failures` failures in a row, the last at
/// `last`, locked until `locked_until`.
pub fn gate(
    failures: i64,
    last: NaiveDateTime,
    locked_until: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Gate {
    if let Some(until) = locked_until.filter(|u| *u > now) {
        return Gate::Locked(until);
    }
    let until = last + delay(failures);
    if until > now {
        Gate::Wait(until)
    } else {
        Gate::Open
    }
}

/// After one more failure (`failures` in a row now): until when the
/// username is locked, if it is.
pub fn lock_after_failure(failures: i64, now: NaiveDateTime) -> Option<NaiveDateTime> {
    (failures >= LOCK_AFTER && failures % LOCK_AFTER == 0)
        .then(|| now + Duration::minutes(LOCK_MINUTES))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn failures_slow_down_then_lock() {
        assert_eq!(gate(2, t(0), None, t(0)), Gate::Open);
        assert_eq!(gate(3, t(0), None, t(0)), Gate::Wait(t(1)));
        assert_eq!(gate(3, t(0), None, t(1)), Gate::Open);
        assert_eq!(gate(5, t(0), None, t(1)), Gate::Wait(t(4)));
        assert_eq!(delay(40), Duration::seconds(60));
        assert_eq!(lock_after_failure(9, t(0)), None);
        assert_eq!(lock_after_failure(10, t(0)), Some(t(900)));
        assert_eq!(gate(10, t(0), Some(t(900)), t(899)), Gate::Locked(t(900)));
        assert_eq!(gate(10, t(0), Some(t(900)), t(900)), Gate::Open);
    }

    #[test]
    fn passwords_are_long_enough_and_not_the_username() {
        assert!(check_password("short", "amina").is_err());
        assert!(check_password("amina.garba1", "amina.garba1").is_err());
        assert!(check_password("correct horse battery", "amina").is_ok());
        assert!(check_password(&"x".repeat(129), "amina").is_err());
    }
}
