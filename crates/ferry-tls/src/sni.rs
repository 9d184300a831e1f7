//! Certificate selection by SNI: exact names, `*.` wildcards, then a default.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::TlsConfigError;

/// A configured SNI name, normalised: ASCII lowercase, no trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SniName {
    /// `example.com`.
    Exact(String),
    /// `*.example.com`, stored as `example.com`: matches exactly one more label.
    Wildcard(String),
}

impl SniName {
    /// Parse `name` (an exact DNS name or `*.` followed by one).
    pub(crate) fn parse(name: &str) -> Result<Self, TlsConfigError> {
        let invalid = || TlsConfigError::InvalidServerName {
            name: name.to_owned(),
        };
        let lower = normalise(name);
        let (wildcard, base) = match lower.strip_prefix("*.") {
            Some(base) => (true, base),
            None => (false, lower.as_str()),
        };
        // An IP address is a valid DnsName syntactically for some inputs; SNI never carries one.
        if base.is_empty() || base.contains('*') || base.parse::<std::net::IpAddr>().is_ok() {
            return Err(invalid());
        }
        rustls_pki_types::DnsName::try_from(base).map_err(|_invalid| invalid())?;
        Ok(if wildcard {
            Self::Wildcard(base.to_owned())
        } else {
            Self::Exact(base.to_owned())
        })
    }
}

impl std::fmt::Display for SniName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(name) => f.write_str(name),
            Self::Wildcard(base) => write!(f, "*.{base}"),
        }
    }
}

fn normalise(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Picks a certificate from the `ClientHello`'s server name.
///
/// Order: exact name, then a wildcard for the name's parent (`*.example.com` covers
/// `a.example.com` but neither `example.com` nor `a.b.example.com`, as certificate wildcards
/// do), then the default. With no match and no default, the handshake fails (rustls sends an
/// alert).
#[derive(Debug, Default)]
pub(crate) struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    pub(crate) fn new(default: Option<Arc<CertifiedKey>>) -> Self {
        Self {
            default,
            ..Self::default()
        }
    }

    /// Add `key` under `name`.
    pub(crate) fn add(
        &mut self,
        name: SniName,
        key: Arc<CertifiedKey>,
    ) -> Result<(), TlsConfigError> {
        let duplicate = || TlsConfigError::DuplicateServerName {
            name: name.to_string(),
        };
        let (map, base) = match &name {
            SniName::Exact(base) => (&mut self.exact, base),
            SniName::Wildcard(base) => (&mut self.wildcard, base),
        };
        if map.contains_key(base) {
            return Err(duplicate());
        }
        map.insert(base.clone(), key);
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.default.is_none() && self.exact.is_empty() && self.wildcard.is_empty()
    }

    /// The certificate for `server_name` (`None`: the client sent no SNI).
    pub(crate) fn select(&self, server_name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let by_name = server_name.and_then(|raw| {
            let name = normalise(raw);
            if let Some(key) = self.exact.get(&name) {
                return Some(key);
            }
            let (_, parent) = name.split_once('.')?;
            self.wildcard.get(parent)
        });
        by_name.or(self.default.as_ref()).cloned()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.select(client_hello.server_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalises_and_rejects() {
        assert_eq!(
            SniName::parse("Example.COM.").unwrap(),
            SniName::Exact("example.com".into())
        );
        assert_eq!(
            SniName::parse("*.Example.com").unwrap(),
            SniName::Wildcard("example.com".into())
        );
        for bad in ["", "*.", "a.*.com", "**.x", "127.0.0.1", "bad name", "*"] {
            assert!(SniName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
