//! Handshake and authentication of one incoming agent connection, under one deadline.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use quinn::{Connection, Incoming, SendStream, VarInt};
use rustls::pki_types::CertificateDer;
use tokio::time::{Instant, timeout_at};

use super::Inner;
use super::held::HeldCredential;
use crate::agent_id::AgentId;
use crate::metrics::AGENT_AUTH;
use crate::quic::has_alpn;
use crate::read::{ReadError, read_message};
use crate::verifier::AgentRejected;
use crate::wire::{
    AuthReply, MAX_AUTH_LEN, RejectReason, WireError, close_code, decode_auth, encode_auth_reply,
};

/// Decrements the pending-authentication count when dropped.
struct Pending(Arc<Inner>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

fn count(result: &'static str) {
    metrics::counter!(AGENT_AUTH, "result" => result).increment(1);
}

/// Starts handling `incoming`, or refuses it when too many are pending.
pub(super) fn spawn(inner: &Arc<Inner>, incoming: Incoming) {
    let pending = inner.pending.fetch_add(1, Ordering::SeqCst);
    let guard = Pending(Arc::clone(inner));
    if pending >= inner.config.max_pending_auth || inner.draining.load(Ordering::SeqCst) {
        incoming.refuse();
        count("refused");
        return;
    }
    inner
        .tasks
        .spawn(handle(Arc::clone(inner), incoming, guard));
}

/// Why authentication failed: the close code and the metric label.
struct Failed(u32, &'static str);

async fn handle(inner: Arc<Inner>, incoming: Incoming, _pending: Pending) {
    let remote = incoming.remote_address();
    let deadline = Instant::now() + inner.config.auth_timeout;
    let Ok(connecting) = incoming.accept() else {
        count("handshake");
        return;
    };
    let conn = match timeout_at(deadline, connecting).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "agent handshake failed");
            count("handshake");
            return;
        }
        Err(_elapsed) => {
            tracing::debug!(%remote, "agent handshake timed out");
            count("timeout");
            return;
        }
    };
    if !has_alpn(&conn) {
        conn.close(close_code::PROTOCOL.into(), b"alpn");
        count("alpn");
        return;
    }
    let outcome = match timeout_at(deadline, authenticate(&inner, &conn)).await {
        Ok(outcome) => outcome,
        Err(_elapsed) => Err(Failed(close_code::AUTH_TIMEOUT, "timeout")),
    };
    match outcome {
        Ok((id, credential, checked_in)) => {
            count("ok");
            tracing::info!(agent = %id, %remote, "agent authenticated");
            super::agents::register(&inner, id, conn, credential, checked_in);
        }
        Err(Failed(code, label)) => {
            tracing::info!(%remote, reason = label, "agent authentication failed");
            count(label);
            conn.close(VarInt::from_u32(code), label.as_bytes());
        }
    }
}

/// The agent's id, its credential (kept for [`super::Gateway::revalidate`]) and the
/// revalidation round current before it was verified.
type Authenticated = (AgentId, HeldCredential, u64);

async fn authenticate(inner: &Inner, conn: &Connection) -> Result<Authenticated, Failed> {
    let (mut send, mut recv) = conn
        .accept_bi()
        .await
        .map_err(|_lost| Failed(close_code::PROTOCOL, "handshake"))?;
    let malformed = Failed(close_code::AUTH_MALFORMED, "malformed");
    let request = match read_message(&mut recv, MAX_AUTH_LEN, decode_auth).await {
        Ok((request, rest)) if rest.is_empty() => request,
        Ok(_) => {
            reject(&mut send, RejectReason::Malformed).await;
            return Err(malformed);
        }
        Err(ReadError::Wire(WireError::UnsupportedVersion(_))) => {
            reject(&mut send, RejectReason::UnsupportedVersion).await;
            return Err(malformed);
        }
        Err(ReadError::Wire(_) | ReadError::TooLarge(_)) => {
            reject(&mut send, RejectReason::Malformed).await;
            return Err(malformed);
        }
        Err(ReadError::Eof | ReadError::Io(_)) => return Err(malformed),
    };
    if inner.draining.load(Ordering::SeqCst) {
        reject(&mut send, RejectReason::Unavailable).await;
        return Err(Failed(close_code::SHUTDOWN, "unavailable"));
    }
    let checked_in = inner.revalidations.load(Ordering::SeqCst);
    let now = (inner.clock)();
    let certificates = peer_certificates(conn);
    let verdict = inner.verifier.verify_with_certificates(
        &request.agent_id,
        request.credential.as_str(),
        &certificates,
        now,
    );
    match verdict {
        Ok(()) => {
            let mut buf = Vec::with_capacity(2);
            encode_auth_reply(AuthReply::Ok, &mut buf);
            send.write_all(&buf)
                .await
                .map_err(|_lost| Failed(close_code::PROTOCOL, "handshake"))?;
            let _ = send.finish();
            let credential = HeldCredential::new(request.credential.as_str(), certificates);
            Ok((request.agent_id, credential, checked_in))
        }
        Err(AgentRejected::BadCredential) => {
            reject(&mut send, RejectReason::BadCredential).await;
            Err(Failed(close_code::AUTH_REJECTED, "bad_credential"))
        }
        Err(AgentRejected::Unavailable) => {
            reject(&mut send, RejectReason::Unavailable).await;
            Err(Failed(close_code::AUTH_REJECTED, "unavailable"))
        }
    }
}

/// The TLS client certificate chain the agent presented (end-entity first), empty for none.
fn peer_certificates(conn: &Connection) -> Vec<CertificateDer<'static>> {
    conn.peer_identity()
        .and_then(|identity| identity.downcast::<Vec<CertificateDer<'static>>>().ok())
        .map(|chain| *chain)
        .unwrap_or_default()
}

/// Sends a rejection and waits until the agent has it (or stops the stream), so the close
/// that follows does not discard it. Bounded by the caller's deadline.
async fn reject(send: &mut SendStream, reason: RejectReason) {
    let mut buf = Vec::with_capacity(2);
    encode_auth_reply(AuthReply::Rejected(reason), &mut buf);
    if send.write_all(&buf).await.is_ok() && send.finish().is_ok() {
        let _ = send.stopped().await;
    }
}
