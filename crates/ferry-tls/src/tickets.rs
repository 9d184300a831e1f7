//! Session tickets: off, per-process keys (rustls), or keys shared through a file.
//!
//! # Shared ticket key file
//!
//! Several processes (instances behind a load balancer) resume each other's sessions when they
//! read the same key file. The file format is: **the whole file is the secret**, byte for byte,
//! at least [`MIN_TICKET_KEY_LEN`] (32) and at most 4096 bytes, binary or text (no trimming, so
//! copy the file, do not retype it). Create one with
//! `head -c 48 /dev/urandom > ticket.key && chmod 600 ticket.key`, or
//! [`SharedTicketer::write_new_key_file`]. On Unix the file is rejected when other users may read
//! or write it (any of the mode bits `0o006`).
//!
//! **Rotation needs no coordination.** Time is cut into periods of `rotation` (default 6 h)
//! counted from the Unix epoch; the key of period `n` is
//! `HKDF-SHA256(salt = "ferry-tls ticket key v1", ikm = file).expand(info = n as u64 big-endian)`,
//! a ChaCha20-Poly1305 key. A ticket is sealed with the current period's key and a random nonce,
//! and opens while the opener's current period is `n - 1`, `n` or `n + 1` of the ticket's `n`
//! (the `+ 1` absorbs small clock differences between instances). So every ticket is accepted for
//! at least one full period and at most two; the lifetime hint sent to clients is one period.
//! Old keys cannot be recomputed from a new period (HKDF is one-way), but the file itself is
//! long-lived: replace it (and reload) to cut every outstanding ticket off, at the price of one
//! full handshake per client.
//!
//! Ticket layout: `version (1 byte, = 1) || period n (8 bytes, big-endian) || nonce (12 bytes)
//! || ChaCha20-Poly1305(plaintext) with tag (16 bytes)`; the first 9 bytes are associated data.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;
use rustls::time_provider::{DefaultTimeProvider, TimeProvider};

use crate::error::{Origin, TlsConfigError};
use crate::pem::read_bounded;

/// Shortest accepted ticket key file, in bytes.
pub const MIN_TICKET_KEY_LEN: usize = 32;
/// Longest accepted ticket key file, in bytes.
const MAX_TICKET_KEY_LEN: u64 = 4096;
/// Default rotation period of shared ticket keys: 6 hours (rustls rotates its own keys as often).
pub const DEFAULT_TICKET_ROTATION: Duration = Duration::from_secs(6 * 60 * 60);

const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 8;
const NONCE_LEN: usize = aead::NONCE_LEN;
const SALT: &[u8] = b"ferry-tls ticket key v1";

/// How TLS session tickets are issued (TLS 1.2 RFC 5077 tickets and TLS 1.3 stateless tickets).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Tickets {
    /// No tickets. Resumption then relies on the stateful session cache alone (TLS 1.3 still
    /// sends "tickets", which are only cache identifiers).
    Off,
    /// rustls' ticketer: random keys private to this process, rotated every 6 hours, tickets
    /// valid up to 12 hours. Survives [`reload`](crate::TlsAcceptor::reload). **The default.**
    #[default]
    PerProcess,
    /// Keys derived from a shared key file (see the [module docs](self) for format and
    /// rotation), so several processes accept each other's tickets. The file is read again on
    /// every reload.
    SharedKeyFile {
        /// The key file.
        path: PathBuf,
        /// Rotation period (default [`DEFAULT_TICKET_ROTATION`]); every instance must use the
        /// same value.
        rotation: Duration,
    },
}

impl Tickets {
    /// [`Tickets::SharedKeyFile`] with the default rotation period.
    pub fn shared_key_file(path: impl Into<PathBuf>) -> Self {
        Self::SharedKeyFile {
            path: path.into(),
            rotation: DEFAULT_TICKET_ROTATION,
        }
    }

    pub(crate) fn build(&self) -> Result<Option<Arc<dyn ProducesTickets>>, TlsConfigError> {
        match self {
            Self::Off => Ok(None),
            Self::PerProcess => rustls::crypto::aws_lc_rs::Ticketer::new()
                .map(Some)
                .map_err(|_rng_failed| TlsConfigError::Random),
            Self::SharedKeyFile { path, rotation } => {
                let ticketer = SharedTicketer::from_file(path, *rotation)?;
                Ok(Some(Arc::new(ticketer)))
            }
        }
    }
}

/// A [`ProducesTickets`] whose keys derive from a shared secret and the time period (see the
/// [module docs](self)). Normally built through [`Tickets::SharedKeyFile`]; public so it can be
/// used in a hand-built `rustls::ServerConfig` and tested with a fake clock.
pub struct SharedTicketer {
    prk: hkdf::Prk,
    period_secs: u64,
    time: Arc<dyn TimeProvider>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SharedTicketer {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTicketer")
            .field("period_secs", &self.period_secs)
            .finish_non_exhaustive()
    }
}

impl SharedTicketer {
    /// Read the key file at `path` and rotate keys every `rotation`, using the system clock.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::Read`] or [`TlsConfigError::TooLarge`] if the file cannot be read or is
    /// over 4096 bytes, [`TlsConfigError::TicketKeyTooShort`] below [`MIN_TICKET_KEY_LEN`] bytes,
    /// [`TlsConfigError::TicketKeyPermissions`] if other users can access it (Unix), and
    /// [`TlsConfigError::TicketPeriod`] if `rotation` is under 1 s or over `u32::MAX` s.
    pub fn from_file(path: &Path, rotation: Duration) -> Result<Self, TlsConfigError> {
        let origin = || Origin::File(path.to_path_buf());
        check_permissions(path)?;
        let secret = read_bounded(path, MAX_TICKET_KEY_LEN)?;
        if secret.len() < MIN_TICKET_KEY_LEN {
            return Err(TlsConfigError::TicketKeyTooShort {
                origin: origin(),
                len: secret.len(),
                min: MIN_TICKET_KEY_LEN,
            });
        }
        Self::from_secret(&secret, rotation)
    }

    /// Use `secret` (at least [`MIN_TICKET_KEY_LEN`] bytes) directly.
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::TicketKeyTooShort`] or [`TlsConfigError::TicketPeriod`].
    pub fn from_secret(secret: &[u8], rotation: Duration) -> Result<Self, TlsConfigError> {
        if secret.len() < MIN_TICKET_KEY_LEN {
            return Err(TlsConfigError::TicketKeyTooShort {
                origin: Origin::Memory("ticket key"),
                len: secret.len(),
                min: MIN_TICKET_KEY_LEN,
            });
        }
        let period_secs = rotation.as_secs();
        if period_secs == 0 || period_secs > u64::from(u32::MAX) {
            return Err(TlsConfigError::TicketPeriod(rotation));
        }
        Ok(Self {
            prk: hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(secret),
            period_secs,
            time: Arc::new(DefaultTimeProvider),
            rng: SystemRandom::new(),
        })
    }

    /// Replace the clock (for tests of rotation). Default: the system clock.
    #[must_use]
    pub fn with_time_provider(mut self, time: Arc<dyn TimeProvider>) -> Self {
        self.time = time;
        self
    }

    /// Create `path` (which must not exist) holding 48 random bytes, readable only by the
    /// owner (mode 0600 on Unix).
    ///
    /// # Errors
    ///
    /// [`TlsConfigError::Create`] if the file cannot be created or written (including when it
    /// exists), [`TlsConfigError::Random`] if the system RNG fails.
    pub fn write_new_key_file(path: &Path) -> Result<(), TlsConfigError> {
        use std::io::Write;
        let mut secret = [0u8; 48];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_rng_failed| TlsConfigError::Random)?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(path)
            .and_then(|mut file| file.write_all(&secret).and_then(|()| file.sync_all()))
            .map_err(|source| TlsConfigError::Create {
                origin: Origin::File(path.to_path_buf()),
                source,
            })
    }

    fn current_period(&self) -> Option<u64> {
        let now = self.time.current_time()?;
        Some(now.as_secs() / self.period_secs)
    }

    fn key(&self, period: u64) -> Option<LessSafeKey> {
        let info = period.to_be_bytes();
        let info = [&info[..]];
        let okm = self.prk.expand(&info, &aead::CHACHA20_POLY1305).ok()?;
        Some(LessSafeKey::new(UnboundKey::from(okm)))
    }
}

impl ProducesTickets for SharedTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.period_secs).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let period = self.current_period()?;
        let key = self.key(period)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut out =
            Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + key.algorithm().tag_len());
        out.push(VERSION);
        out.extend_from_slice(&period.to_be_bytes());
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        let aad = Aad::from(&out[..HEADER_LEN]);
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad, &mut body)
            .ok()?;
        out.extend_from_slice(&body);
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let (header, rest) = cipher.split_at_checked(HEADER_LEN)?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        let (&version, period) = header.split_first()?;
        if version != VERSION {
            return None;
        }
        let period = u64::from_be_bytes(period.try_into().ok()?);
        let current = self.current_period()?;
        if period.saturating_add(1) < current || period > current.saturating_add(1) {
            return None;
        }
        let key = self.key(period)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = sealed.to_vec();
        let plain_len = key
            .open_in_place(nonce, Aad::from(header), &mut body)
            .ok()?
            .len();
        body.truncate(plain_len);
        Some(body)
    }
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), TlsConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| TlsConfigError::Read {
        origin: Origin::File(path.to_path_buf()),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o006 != 0 {
        return Err(TlsConfigError::TicketKeyPermissions {
            origin: Origin::File(path.to_path_buf()),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), TlsConfigError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::UnixTime;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Debug)]
    struct FakeTime(Arc<AtomicU64>);
    impl TimeProvider for FakeTime {
        fn current_time(&self) -> Option<UnixTime> {
            Some(UnixTime::since_unix_epoch(Duration::from_secs(
                self.0.load(Ordering::SeqCst),
            )))
        }
    }

    fn ticketer(secret: &[u8], now: &Arc<AtomicU64>) -> SharedTicketer {
        SharedTicketer::from_secret(secret, Duration::from_secs(100))
            .unwrap()
            .with_time_provider(Arc::new(FakeTime(Arc::clone(now))))
    }

    #[test]
    fn same_secret_opens_across_instances_and_periods() {
        let now = Arc::new(AtomicU64::new(1_000_050));
        let a = ticketer(&[7; 32], &now);
        let b = ticketer(&[7; 32], &now);
        let ticket = a.encrypt(b"session state").unwrap();
        assert_eq!(b.decrypt(&ticket).unwrap(), b"session state");
        // Next period: still accepted. Two periods later: rejected.
        now.store(1_000_150, Ordering::SeqCst);
        assert_eq!(b.decrypt(&ticket).unwrap(), b"session state");
        now.store(1_000_200, Ordering::SeqCst);
        assert!(b.decrypt(&ticket).is_none());
        // A clock one period behind still accepts (skew between instances).
        now.store(1_000_000 - 50, Ordering::SeqCst);
        assert_eq!(b.decrypt(&ticket).unwrap(), b"session state");
        now.store(1_000_000 - 150, Ordering::SeqCst);
        assert!(b.decrypt(&ticket).is_none());
    }

    #[test]
    fn other_secret_tampering_and_junk_are_rejected() {
        let now = Arc::new(AtomicU64::new(5_000));
        let a = ticketer(&[1; 32], &now);
        let other = ticketer(&[2; 32], &now);
        let ticket = a.encrypt(b"x").unwrap();
        assert!(other.decrypt(&ticket).is_none());
        for i in 0..ticket.len() {
            let mut bad = ticket.clone();
            bad[i] ^= 1;
            assert!(a.decrypt(&bad).is_none(), "flip at {i} accepted");
        }
        for len in 0..ticket.len() {
            assert!(a.decrypt(&ticket[..len]).is_none());
        }
        assert!(a.decrypt(&[]).is_none());
        assert_ne!(a.encrypt(b"x").unwrap(), ticket, "nonces must differ");
    }

    #[test]
    fn short_secret_and_bad_period_are_rejected() {
        assert!(matches!(
            SharedTicketer::from_secret(&[0; 31], Duration::from_secs(60)),
            Err(TlsConfigError::TicketKeyTooShort { len: 31, .. })
        ));
        assert!(matches!(
            SharedTicketer::from_secret(&[0; 32], Duration::from_millis(500)),
            Err(TlsConfigError::TicketPeriod(_))
        ));
    }
}
