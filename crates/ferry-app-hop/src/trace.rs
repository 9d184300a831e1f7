//! `trace` mode: probe a chain and report each hop's status and the time its answer took.

use std::time::Duration;

use ferry_chain::client::ClientConfig;
use ferry_chain::{
    Address, Chain, Decoded, Host, RESPONSE_RECORD_LEN, SealOptions, Status, decode_response,
};
use ring::rand::SystemRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One hop's answer to a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HopTrace {
    /// 1-based hop index.
    pub hop: u8,
    /// The hop's address.
    pub address: Address,
    /// Its status; `None` when it did not answer (closed, deadline, or an earlier hop failed).
    pub status: Option<Status>,
    /// Time from sending the records until this hop's status arrived (it includes the earlier
    /// hops' connects); `None` without a status.
    pub rtt: Option<Duration>,
}

impl std::fmt::Display for HopTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.status, self.rtt) {
            (Some(s), Some(rtt)) => write!(
                f,
                "hop {} {}: {s} in {:.1} ms",
                self.hop,
                self.address,
                rtt.as_secs_f64() * 1000.0
            ),
            _ => write!(f, "hop {} {}: no answer", self.hop, self.address),
        }
    }
}

/// Probes `chain` towards `destination`: connects to hop 1, sends every record, and times
/// each hop's status as it arrives, within `config.handshake_timeout`. The last hop connects
/// to `destination` (so it must be allowed there); the probe then closes.
///
/// Returns one [`HopTrace`] per hop, hop 1 first; hops after the first failure have no
/// status.
///
/// # Errors
///
/// An I/O error when hop 1 cannot be reached or the records cannot be sealed.
pub async fn trace(
    chain: &Chain,
    destination: &Address,
    config: &ClientConfig,
) -> std::io::Result<Vec<HopTrace>> {
    let mut out: Vec<HopTrace> = chain
        .hops()
        .iter()
        .enumerate()
        .map(|(i, h)| HopTrace {
            hop: u8::try_from(i + 1).unwrap_or(u8::MAX),
            address: h.address.clone(),
            status: None,
            rtt: None,
        })
        .collect();
    let sealed = chain
        .seal(
            destination,
            &SealOptions {
                now_unix_ms: (config.clock)(),
                ..SealOptions::default()
            },
            &SystemRandom::new(),
        )
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let first = chain
        .first()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    let started = tokio::time::Instant::now();
    let probe = async {
        let mut tcp = match (first.address.socket_addr(), first.address.host()) {
            (Some(sa), _) => TcpStream::connect(sa).await?,
            (None, Host::Domain(d)) => {
                TcpStream::connect((d.as_str(), first.address.port())).await?
            }
            (None, _) => return Err(std::io::ErrorKind::InvalidInput.into()),
        };
        let _ = tcp.set_nodelay(true);
        tcp.write_all(&sealed.bytes).await?;
        let mut buf = Vec::with_capacity(chain.responses_len());
        let mut next = 0usize;
        while next < out.len() {
            if tcp.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
            while let (Some(entry), Some(nonce), Some(hop)) = (
                out.get_mut(next),
                sealed.nonces.get(next),
                chain.hops().get(next),
            ) {
                let at = next * RESPONSE_RECORD_LEN;
                let rest = buf.get(at..).unwrap_or_default();
                match decode_response(rest, &hop.key, entry.hop, nonce) {
                    Ok(Decoded::Done { value, .. }) => {
                        entry.status = Some(value.status);
                        entry.rtt = Some(started.elapsed());
                        next += 1;
                        if !value.status.is_ok() {
                            return Ok(());
                        }
                    }
                    Ok(Decoded::NeedMore { .. }) => break,
                    Err(_) => return Ok(()),
                }
            }
        }
        Ok(())
    };
    match tokio::time::timeout(config.handshake_timeout, probe).await {
        Ok(Err(e)) if out.first().is_some_and(|h| h.status.is_none()) => Err(e),
        _ => Ok(out),
    }
}

/// A probe ready to run (`ferry-hop trace`): a chain of an access config, the destination and
/// the answer deadline.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TracePlan {
    /// The chain to probe.
    pub chain: Chain,
    /// The destination the last hop connects to.
    pub destination: Address,
    /// The client settings (the deadline is `handshake_timeout`).
    pub client: ClientConfig,
}

impl TracePlan {
    /// Reads the access config at `config`, picks the chain named `chain` (default: the
    /// first), and parses `destination` (HOST:PORT) and `timeout` (e.g. `10s`).
    ///
    /// # Errors
    ///
    /// [`ConfigError`](crate::ConfigError) naming the file, `--chain`, `chain`,
    /// `--destination` or `--timeout`.
    pub fn from_file(
        config: &std::path::Path,
        chain: Option<&str>,
        destination: &str,
        timeout: &str,
    ) -> Result<Self, crate::ConfigError> {
        use crate::ConfigError;
        let config = crate::AccessConfig::from_file(config)?;
        let picked = match chain {
            Some(name) => config.chain(name).ok_or_else(|| {
                ConfigError::invalid("--chain", format!("no [[chain]] named {name:?}"))
            })?,
            None => config
                .chains
                .first()
                .ok_or_else(|| ConfigError::invalid("chain", "the config defines no [[chain]]"))?,
        };
        let destination = destination
            .parse()
            .map_err(|e| ConfigError::invalid("--destination", format!("{destination:?}: {e}")))?;
        let timeout = ferry_app_core::duration::parse_duration(timeout)
            .map_err(|e| ConfigError::invalid("--timeout", e))?;
        Ok(Self {
            chain: picked.chain.clone(),
            destination,
            client: ClientConfig {
                handshake_timeout: timeout,
                ..ClientConfig::default()
            },
        })
    }
}
