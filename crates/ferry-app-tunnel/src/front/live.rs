//! The live tunnels remembered with the client credential that opened them, for
//! [`RevokedClientTunnels::Cut`](super::RevokedClientTunnels::Cut): in memory only, never
//! logged, overwritten when the tunnel ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ferry_auth::{Authenticator, Role};
use tokio_util::sync::CancellationToken;

/// A secret overwritten with zeros when dropped; `Debug` does not show it.
struct Secret(Vec<u8>);

impl Drop for Secret {
    fn drop(&mut self) {
        for b in &mut self.0 {
            *b = 0;
        }
        std::hint::black_box(&self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

struct Entry {
    agent: String,
    secret: Secret,
    cut: CancellationToken,
}

/// The remembered live tunnels of one front.
#[derive(Default)]
pub(crate) struct LiveTunnels {
    next: AtomicU64,
    map: Arc<Mutex<HashMap<u64, Entry>>>,
}

/// Forgets its tunnel (and overwrites the secret) when dropped.
pub(crate) struct LiveGuard {
    id: u64,
    map: Arc<Mutex<HashMap<u64, Entry>>>,
    cut: CancellationToken,
}

impl LiveGuard {
    /// Cancelled when a reload revokes the credential that opened the tunnel.
    pub(crate) fn revoked(&self) -> &CancellationToken {
        &self.cut
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl LiveTunnels {
    /// Remembers a tunnel opened by `agent`'s client credential `secret`.
    pub(crate) fn add(&self, agent: &str, secret: &str) -> LiveGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let cut = CancellationToken::new();
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Entry {
                    agent: agent.to_owned(),
                    secret: Secret(secret.as_bytes().to_vec()),
                    cut: cut.clone(),
                },
            );
        LiveGuard {
            id,
            map: Arc::clone(&self.map),
            cut,
        }
    }

    /// Cuts every remembered tunnel whose credential `auth` refuses now; returns how many.
    pub(crate) fn cut_revoked(&self, auth: &Authenticator, now_unix: u64) -> usize {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let mut cut = 0;
        for e in map.values() {
            let secret = std::str::from_utf8(&e.secret.0).unwrap_or("");
            if auth
                .verify(Role::Client, &e.agent, secret, now_unix)
                .is_err()
            {
                e.cut.cancel();
                cut += 1;
            }
        }
        cut
    }

    /// Tunnels remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use ferry_auth::{TokenStore, generate_token, token_line};

    use super::*;

    fn auth(lines: &[String]) -> Authenticator {
        Authenticator::new().with_tokens(TokenStore::parse(&lines.join("\n")).unwrap())
    }

    #[test]
    fn cuts_only_the_tunnels_whose_credential_no_longer_verifies() {
        let rng = ring::rand::SystemRandom::new();
        let (a, b) = (generate_token(&rng).unwrap(), generate_token(&rng).unwrap());
        let line_a = token_line(Role::Client, "edge-1", &a).unwrap();
        let line_b = token_line(Role::Client, "edge-1", &b).unwrap();
        let live = LiveTunnels::default();
        let ga = live.add("edge-1", &a);
        let gb = live.add("edge-1", &b);
        assert_eq!(live.cut_revoked(&auth(&[line_a.clone(), line_b]), 0), 0);
        assert!(!ga.revoked().is_cancelled());
        // b's line removed: only b's tunnel is cut.
        assert_eq!(live.cut_revoked(&auth(&[line_a]), 0), 1);
        assert!(!ga.revoked().is_cancelled());
        assert!(gb.revoked().is_cancelled());
        assert!(format!("{:?}", Secret(b.as_bytes().to_vec())).starts_with("Secret(<"));
        drop(gb);
        assert_eq!(live.len(), 1);
        drop(ga);
        assert_eq!(live.len(), 0);
    }
}
