//! Handshake and authentication of one incoming agent connection, under one deadline.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use quinn::{Connection, Incoming, SendStream, VarInt};
use rustls::pki_types::CertificateDer;
use tokio::time::{Instant, timeout_at};

use super::Inner;
use super::conn::Conn;
use super::held::HeldCredential;
use crate::agent_id::AgentId;
use crate::metrics::AGENT_AUTH;
use crate::quic::has_alpn;
use crate::read::{ReadError, read_message};
use crate::transport::TransportKind;
use crate::verifier::AgentRejected;
use crate::wire::{
    AuthReply, AuthRequest, GroupMember, MAX_AUTH_LEN, RejectReason, WireError, close_code,
    decode_auth, encode_auth_reply,
};

/// Decrements the pending-authentication count when dropped.
pub(super) struct Pending(Arc<Inner>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(super) fn count_as(result: &'static str, transport: TransportKind) {
    metrics::counter!(AGENT_AUTH, "result" => result, "transport" => transport.label())
        .increment(1);
}

fn count(result: &'static str) {
    count_as(result, TransportKind::Quic);
}

/// Takes a pending-authentication slot, or `None` when too many are pending or the gateway
/// drains (shared by both transports).
pub(super) fn take_pending(inner: &Arc<Inner>) -> Option<Pending> {
    let pending = inner.pending.fetch_add(1, Ordering::SeqCst);
    let guard = Pending(Arc::clone(inner));
    if pending >= inner.config.max_pending_auth || inner.draining.load(Ordering::SeqCst) {
        return None;
    }
    Some(guard)
}

/// Starts handling `incoming`, or refuses it when too many are pending.
pub(super) fn spawn(inner: &Arc<Inner>, incoming: Incoming) {
    let Some(guard) = take_pending(inner) else {
        incoming.refuse();
        count("refused");
        return;
    };
    inner
        .tasks
        .spawn(handle(Arc::clone(inner), incoming, guard));
}

/// Why authentication failed: the close code and the metric label.
pub(super) struct Failed(pub(super) u32, pub(super) &'static str);

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
        Ok((id, member, credential, checked_in)) => {
            count("ok");
            tracing::info!(agent = %id, %remote, member = member.map(|m| m.index), "agent authenticated");
            super::agents::register(&inner, id, member, Conn::Quic(conn), credential, checked_in);
        }
        Err(Failed(code, label)) => {
            if label == "probe" {
                tracing::debug!(%remote, "agent quic probe");
            } else {
                tracing::info!(%remote, reason = label, "agent authentication failed");
            }
            count(label);
            conn.close(VarInt::from_u32(code), label.as_bytes());
        }
    }
}

/// The agent's id, which member of its connection group the connection is (none: an agent
/// with one connection), its credential (kept for [`super::Gateway::revalidate`]) and the
/// revalidation round current before it was verified.
pub(super) type Authenticated = (AgentId, Option<GroupMember>, HeldCredential, u64);

/// What the gateway does with an auth message it read (either transport).
pub(super) enum Verdict {
    /// Reply `ok` and register the agent.
    Accept(Authenticated),
    /// Reply with the rejection, then close.
    Reject(RejectReason, Failed),
    /// Close without a reply (the stream ended inside the message).
    Close(Failed),
}

/// Decides on an auth message read off the first stream (QUIC) or the TLS stream (TCP):
/// malformed, too large, trailing bytes, draining, then the verifier (with the TLS client
/// certificate chain the agent presented, end-entity first, empty for none).
pub(super) fn decide(
    inner: &Inner,
    read: Result<(AuthRequest, Bytes), ReadError>,
    certificates: Vec<CertificateDer<'static>>,
) -> Verdict {
    let malformed = || Failed(close_code::AUTH_MALFORMED, "malformed");
    let request = match read {
        Ok((request, rest)) if rest.is_empty() => request,
        Err(ReadError::Wire(WireError::UnsupportedVersion(_))) => {
            return Verdict::Reject(RejectReason::UnsupportedVersion, malformed());
        }
        Ok(_) | Err(ReadError::Wire(_) | ReadError::TooLarge(_)) => {
            return Verdict::Reject(RejectReason::Malformed, malformed());
        }
        Err(ReadError::Eof | ReadError::Io(_)) => return Verdict::Close(malformed()),
    };
    if inner.draining.load(Ordering::SeqCst) {
        return Verdict::Reject(
            RejectReason::Unavailable,
            Failed(close_code::SHUTDOWN, "unavailable"),
        );
    }
    let checked_in = inner.revalidations.load(Ordering::SeqCst);
    let now = (inner.clock)();
    let verdict = inner.verifier.verify_with_certificates(
        &request.agent_id,
        request.credential.as_str(),
        &certificates,
        now,
    );
    match verdict {
        Ok(()) => match super::agents::admit(inner, &request.agent_id, request.member) {
            Ok(()) => {
                let credential = HeldCredential::new(request.credential.as_str(), certificates);
                Verdict::Accept((request.agent_id, request.member, credential, checked_in))
            }
            Err(reason @ RejectReason::GroupFull) => {
                Verdict::Reject(reason, Failed(close_code::AUTH_REJECTED, "group_full"))
            }
            Err(reason) => Verdict::Reject(reason, Failed(close_code::AUTH_REJECTED, "no_group")),
        },
        Err(AgentRejected::BadCredential) => Verdict::Reject(
            RejectReason::BadCredential,
            Failed(close_code::AUTH_REJECTED, "bad_credential"),
        ),
        Err(AgentRejected::Unavailable) => Verdict::Reject(
            RejectReason::Unavailable,
            Failed(close_code::AUTH_REJECTED, "unavailable"),
        ),
    }
}

async fn authenticate(inner: &Inner, conn: &Connection) -> Result<Authenticated, Failed> {
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|lost| match lost {
        // An agent on the TCP transport checking whether QUIC works again.
        quinn::ConnectionError::ApplicationClosed(c)
            if c.error_code == close_code::SHUTDOWN.into() && c.reason.as_ref() == b"probe" =>
        {
            Failed(close_code::SHUTDOWN, "probe")
        }
        _ => Failed(close_code::PROTOCOL, "handshake"),
    })?;
    let read = read_message(&mut recv, MAX_AUTH_LEN, decode_auth).await;
    match decide(inner, read, peer_certificates(conn)) {
        Verdict::Accept(authenticated) => {
            let mut buf = Vec::with_capacity(2);
            encode_auth_reply(AuthReply::Ok, &mut buf);
            send.write_all(&buf)
                .await
                .map_err(|_lost| Failed(close_code::PROTOCOL, "handshake"))?;
            let _ = send.finish();
            Ok(authenticated)
        }
        Verdict::Reject(reason, failed) => {
            reject(&mut send, reason).await;
            Err(failed)
        }
        Verdict::Close(failed) => Err(failed),
    }
}

/// The TLS client certificate chain the agent presented on QUIC (end-entity first), empty for
/// none.
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
