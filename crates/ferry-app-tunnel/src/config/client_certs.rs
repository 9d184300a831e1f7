//! Client certificates (mTLS) in the gateway's config: `[auth] agent_auth`, `agent_ca`,
//! `agent_crl`, `agent_revoked_serials` for agents; `[client_tls] client_auth`, `client_ca`,
//! `client_crl`, `client_revoked_serials` for the client front.

use std::fmt;
use std::path::PathBuf;

use ferry_app_core::ConfigError;
use ferry_app_core::error::error_line;
use ferry_tls::{ClientCertChecker, ClientCertPolicy, PemInput, RevokedSerials};
use serde::Deserialize;

use super::{CertFile, CertSpec};

/// How the gateway authenticates agents (`auth.agent_auth`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentAuthMode {
    /// `"token"`: a static token or JWT in the auth message; no certificate asked for. **The
    /// default.**
    #[default]
    Token,
    /// `"certificate"`: a TLS client certificate from `auth.agent_ca` whose one DNS
    /// subjectAltName is the agent id; the auth message's token is not checked.
    Certificate,
    /// `"token+certificate"`: both, for the same agent id.
    TokenAndCertificate,
}

impl AgentAuthMode {
    /// Whether the token (or JWT) is checked.
    #[must_use]
    pub fn token(self) -> bool {
        matches!(self, Self::Token | Self::TokenAndCertificate)
    }

    /// Whether a client certificate is required.
    #[must_use]
    pub fn certificate(self) -> bool {
        matches!(self, Self::Certificate | Self::TokenAndCertificate)
    }

    fn parse(text: &str) -> Result<Self, ConfigError> {
        match text {
            "token" => Ok(Self::Token),
            "certificate" => Ok(Self::Certificate),
            "token+certificate" => Ok(Self::TokenAndCertificate),
            other => Err(ConfigError::invalid(
                "auth.agent_auth",
                format!("{other:?}: expected \"token\", \"certificate\" or \"token+certificate\""),
            )),
        }
    }
}

impl fmt::Display for AgentAuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Token => "token",
            Self::Certificate => "certificate",
            Self::TokenAndCertificate => "token+certificate",
        })
    }
}

/// Which client certificates are accepted: the CA file, CRL files and revoked serials, and
/// whether one is required. Read again at every reload.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientCertSettings {
    /// The config key of the CA file (`auth.agent_ca`, `client_tls.client_ca`), for messages.
    pub key: &'static str,
    /// CA certificates (PEM) client certificates must chain to.
    pub ca: PathBuf,
    /// CRL files (PEM or DER). With any, every CA needs its CRL: a certificate whose issuer
    /// has none is refused. Default none.
    pub crls: Vec<PathBuf>,
    /// Serials refused whatever else is true. Default none.
    pub revoked_serials: RevokedSerials,
    /// The serials as written in the config, for `check`.
    pub revoked_serials_text: Vec<String>,
    /// Whether a client without a certificate is refused. Always `true` for agents; for the
    /// client front, `client_auth = "required"` (the default) or `"optional"`.
    pub required: bool,
}

impl ClientCertSettings {
    /// Reads the CA and CRL files into a checker.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the key (`auth.agent_ca`, `auth.agent_crl`, ...) and,
    /// through the TLS error, the file.
    pub fn load(&self) -> Result<ClientCertChecker, ConfigError> {
        let mut policy = ClientCertPolicy::new(vec![PemInput::file(self.ca.clone())]);
        policy
            .revoked_serials(self.revoked_serials.clone())
            .required(self.required)
            .trusted_as(format!("{} {}", self.key, self.ca.display()));
        for crl in &self.crls {
            policy.crl(PemInput::file(crl.clone()));
        }
        policy.build().map_err(|e| {
            let key = match e {
                ferry_tls::TlsConfigError::NoCrl { .. }
                | ferry_tls::TlsConfigError::BadCrl { .. } => crl_key(self.key),
                _ => self.key.to_owned(),
            };
            ConfigError::invalid(key, error_line(&e))
        })
    }

    /// One line for `check`.
    pub(crate) fn explain(&self) -> String {
        let crls: Vec<String> = self.crls.iter().map(|p| p.display().to_string()).collect();
        format!(
            "ca={} crl=[{}] revoked_serials=[{}] required={}",
            self.ca.display(),
            crls.join(", "),
            self.revoked_serials_text.join(", "),
            self.required
        )
    }
}

/// `auth.agent_ca` → `auth.agent_crl`.
fn crl_key(ca_key: &str) -> String {
    ca_key.replace("_ca", "_crl")
}

/// The revoked serials of `key`, parsed.
fn serials(key: &str, texts: &[String]) -> Result<RevokedSerials, ConfigError> {
    RevokedSerials::parse(texts)
        .map_err(|(i, e)| ConfigError::invalid(format!("{key}[{i}]"), e.to_string()))
}

/// The certificate settings of `[auth]`: the mode and, for a mode with certificates, the
/// settings (`agent_ca` required then, and refused otherwise).
pub(super) fn agent(
    mode: Option<&str>,
    ca: Option<PathBuf>,
    crls: Vec<PathBuf>,
    revoked: Vec<String>,
) -> Result<(AgentAuthMode, Option<ClientCertSettings>), ConfigError> {
    let mode = mode
        .map(AgentAuthMode::parse)
        .transpose()?
        .unwrap_or_default();
    if !mode.certificate() {
        for (key, set) in [
            ("auth.agent_ca", ca.is_some()),
            ("auth.agent_crl", !crls.is_empty()),
            ("auth.agent_revoked_serials", !revoked.is_empty()),
        ] {
            if set {
                return Err(ConfigError::invalid(
                    key,
                    "set only with agent_auth = \"certificate\" or \"token+certificate\"",
                ));
            }
        }
        return Ok((mode, None));
    }
    let Some(ca) = ca else {
        return Err(ConfigError::invalid(
            "auth.agent_ca",
            format!("missing: agent_auth = \"{mode}\" needs the CA agent certificates chain to"),
        ));
    };
    Ok((
        mode,
        Some(ClientCertSettings {
            key: "auth.agent_ca",
            ca,
            crls,
            revoked_serials: serials("auth.agent_revoked_serials", &revoked)?,
            revoked_serials_text: revoked,
            required: true,
        }),
    ))
}

/// `[client_tls]` in a file: the certificate (as `[tls]`) and client certificates.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientTlsFile {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    #[serde(default)]
    self_signed: bool,
    client_ca: Option<PathBuf>,
    #[serde(default)]
    client_crl: Vec<PathBuf>,
    #[serde(default)]
    client_revoked_serials: Vec<String>,
    client_auth: Option<String>,
}

impl ClientTlsFile {
    pub(super) fn validate(self) -> Result<(CertSpec, Option<ClientCertSettings>), ConfigError> {
        let spec = CertFile {
            cert: self.cert,
            key: self.key,
            self_signed: self.self_signed,
        }
        .validate("client_tls")?;
        let required = match self.client_auth.as_deref() {
            None | Some("required") => true,
            Some("optional") => false,
            Some(other) => {
                return Err(ConfigError::invalid(
                    "client_tls.client_auth",
                    format!("{other:?}: expected \"required\" or \"optional\""),
                ));
            }
        };
        let Some(ca) = self.client_ca else {
            for (key, set) in [
                ("client_tls.client_auth", self.client_auth.is_some()),
                ("client_tls.client_crl", !self.client_crl.is_empty()),
                (
                    "client_tls.client_revoked_serials",
                    !self.client_revoked_serials.is_empty(),
                ),
            ] {
                if set {
                    return Err(ConfigError::invalid(
                        key,
                        "set only with client_tls.client_ca",
                    ));
                }
            }
            return Ok((spec, None));
        };
        Ok((
            spec,
            Some(ClientCertSettings {
                key: "client_tls.client_ca",
                ca,
                crls: self.client_crl,
                revoked_serials: serials(
                    "client_tls.client_revoked_serials",
                    &self.client_revoked_serials,
                )?,
                revoked_serials_text: self.client_revoked_serials,
                required,
            }),
        ))
    }
}
