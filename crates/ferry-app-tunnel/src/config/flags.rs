//! The command-line form of the configs: what `ferry-gateway` and `ferry-agent` accept as
//! flags, validated by the same rules as the files ([`GatewayConfig::from_flags`],
//! [`AgentConfig::from_flags`]); errors name the file key the flag stands for.

use std::path::PathBuf;

#[cfg(doc)]
use super::{AgentConfig, GatewayConfig};

/// The gateway's flags. Everything not here takes its file default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayFlags {
    /// `--listen ADDR`: client front (`listen`).
    pub listen: String,
    /// `--agent-listen ADDR`: QUIC for agents (`agent_listen`).
    pub agent_listen: String,
    /// `--agent-listen-tcp ADDR|off`: the TCP transport for agents (`agent_listen_tcp`).
    /// Default: `agent_listen`'s address on TCP.
    pub agent_listen_tcp: Option<String>,
    /// `--tls-cert PEM` (`tls.cert`).
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key PEM` (`tls.key`).
    pub tls_key: Option<PathBuf>,
    /// `--tls-self-signed` (`tls.self_signed`): development only. Default `false`.
    pub tls_self_signed: bool,
    /// `--token-file FILE` (`auth.tokens`).
    pub tokens: Option<PathBuf>,
    /// `--jwt-public-key PEM`, repeatable (`auth.jwt_keys`, no `kid`).
    pub jwt_public_keys: Vec<PathBuf>,
    /// `--jwt-audience AUD` (`auth.audience`). Default none.
    pub jwt_audience: Option<String>,
    /// `--allow PATTERNS` (`allow`): required, like in the file.
    pub allow: Vec<String>,
    /// `--allow-special-addresses` (`allow_special_addresses`). Default `false`.
    pub allow_special_addresses: bool,
    /// `--metrics ADDR` (`metrics`). Default none.
    pub metrics: Option<String>,
}

/// The agent's flags. Everything not here takes its file default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentFlags {
    /// `--gateway HOST:PORT` (`gateway`).
    pub gateway: String,
    /// `--server-name NAME` (`server_name`). Default: the gateway's host.
    pub server_name: Option<String>,
    /// `--tls-ca PEM` (`ca`).
    pub ca: PathBuf,
    /// `--tls-cert PEM` (`cert`): client certificate for a gateway requiring one. Default none.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key PEM` (`key`). Default none.
    pub tls_key: Option<PathBuf>,
    /// `--agent-id AGENT_ID` (`agent_id`).
    pub id: String,
    /// `--token-file FILE` (`token_file`), used as given.
    pub token_file: Option<PathBuf>,
    /// `--token-env VAR` (`token_env`).
    pub token_env: Option<String>,
    /// `--insecure-no-auth` (`insecure_no_auth`). Default `false`.
    pub insecure_no_auth: bool,
    /// `--allow PATTERNS` (`allow`): required.
    pub allow: Vec<String>,
    /// `--allow-special-addresses` (`allow_special_addresses`). Default `false`.
    pub allow_special_addresses: bool,
    /// `--transport auto|quic|tcp` (`transport`). Default `auto`.
    pub transport: Option<String>,
    /// `--proxy URL` (`proxy`): the egress proxy to the gateway. Default: from the
    /// environment (`HTTPS_PROXY`, ...).
    pub proxy: Option<String>,
    /// `--no-proxy LIST` (`no_proxy`). Default: from the environment (`NO_PROXY`).
    pub no_proxy: Option<String>,
    /// `--connections N` (`connections`). Default: 4 on the TCP transport, 1 on QUIC.
    pub connections: Option<u8>,
}
