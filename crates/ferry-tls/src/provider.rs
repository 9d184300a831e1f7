//! The one crypto provider every Ferry TLS and QUIC endpoint uses: rustls on **aws-lc-rs**,
//! named explicitly (never the process-default provider), with the key-exchange groups in a
//! stated order.
//!
//! | [`KeyExchange`]            | groups offered (client) and accepted (server), preferred first |
//! |----------------------------|-----------------------------------------------------------------|
//! | `PostQuantum` (default)    | `X25519MLKEM768`, `X25519`, `secp256r1`, `secp384r1`            |
//! | `Classical`                | `X25519`, `secp256r1`, `secp384r1`                              |
//!
//! `X25519MLKEM768` is the hybrid of X25519 and ML-KEM-768 (FIPS 203) that current browsers and
//! OpenSSL 3.5 offer: the session keys stay secret unless both X25519 and ML-KEM are broken, so
//! traffic recorded today cannot be decrypted later with a quantum computer. A client with
//! `PostQuantum` sends two key shares, the hybrid one (1216 bytes) and a plain X25519 one, so a
//! classical-only server answers without a HelloRetryRequest. A server with `PostQuantum` picks
//! the hybrid group when the client offers it and a classical group otherwise. Cipher suites
//! and signature algorithms are aws-lc-rs' defaults (TLS 1.3: AES-256-GCM, AES-128-GCM,
//! ChaCha20-Poly1305; ECDSA P-256/P-384/P-521, Ed25519, RSA).
//!
//! Why aws-lc-rs and not ring: ring has no ML-KEM, and aws-lc-rs is also faster per handshake
//! and for bulk AES-GCM on x86_64 (figures and build times in `docs/benchmarks.md`,
//! "TLS crypto provider").

use std::sync::Arc;

use rustls::crypto::aws_lc_rs::{self, kx_group};
use rustls::crypto::{CryptoProvider, SupportedKxGroup};

/// Which key-exchange groups a TLS endpoint offers or accepts (see the [module](self) table).
///
/// Default: [`KeyExchange::PostQuantum`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyExchange {
    /// Hybrid post-quantum first: `X25519MLKEM768`, then `X25519`, `secp256r1`, `secp384r1`.
    #[default]
    PostQuantum,
    /// Classical groups only: `X25519`, `secp256r1`, `secp384r1`.
    Classical,
}

static POST_QUANTUM: [&dyn SupportedKxGroup; 4] = [
    kx_group::X25519MLKEM768,
    kx_group::X25519,
    kx_group::SECP256R1,
    kx_group::SECP384R1,
];

static CLASSICAL: [&dyn SupportedKxGroup; 3] =
    [kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];

impl KeyExchange {
    /// The groups, preferred first.
    #[must_use]
    pub fn groups(self) -> &'static [&'static dyn SupportedKxGroup] {
        match self {
            Self::PostQuantum => &POST_QUANTUM,
            Self::Classical => &CLASSICAL,
        }
    }

    /// The groups' IANA names, preferred first (`X25519MLKEM768`, `X25519`, `secp256r1`, ...).
    #[must_use]
    pub fn group_names(self) -> Vec<&'static str> {
        self.groups()
            .iter()
            .map(|g| g.name().as_str().unwrap_or("unknown"))
            .collect()
    }
}

/// The aws-lc-rs provider with the key-exchange groups of `key_exchange`, in that order; the
/// cipher suites and signature algorithms are aws-lc-rs' defaults.
#[must_use]
pub fn provider(key_exchange: KeyExchange) -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        kx_groups: key_exchange.groups().to_vec(),
        ..aws_lc_rs::default_provider()
    })
}
