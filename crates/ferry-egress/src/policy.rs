//! Which proxy, if any, a destination is reached through: a configured proxy or the standard
//! environment variables, and `NO_PROXY`.

use ferry_front::Address;

use crate::{EgressProxy, NoProxy, NoProxyError, ProxyUrlError};

/// The variables read for the proxy, in order; the first one set to a non-blank value wins.
/// Lowercase before uppercase, as curl reads them; the connection to the gateway is TLS, so
/// `https_proxy` applies (never `http_proxy`), then `all_proxy`.
pub const PROXY_VARIABLES: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];

/// The variables read for the bypass list, in order (curl's order).
pub const NO_PROXY_VARIABLES: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// Where the proxy (or the bypass list) of an [`EgressPolicy`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// Given by the program's configuration.
    Config,
    /// Read from this environment variable.
    Env(&'static str),
    /// Not set anywhere.
    Unset,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config => f.write_str("configuration"),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::Unset => f.write_str("unset"),
        }
    }
}

/// An environment variable holds a value that is not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A proxy variable is not a proxy URL.
    #[error("environment variable {variable} is not a valid proxy URL")]
    Proxy {
        /// The variable.
        variable: &'static str,
        /// Why.
        #[source]
        source: ProxyUrlError,
    },
    /// A bypass variable is not a valid list.
    #[error("environment variable {variable} is not a valid NO_PROXY list")]
    NoProxy {
        /// The variable.
        variable: &'static str,
        /// Why.
        #[source]
        source: NoProxyError,
    },
}

/// The proxy to use and the destinations that bypass it.
///
/// Default: no proxy (every destination is reached directly).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressPolicy {
    proxy: Option<EgressProxy>,
    proxy_source: Source,
    no_proxy: NoProxy,
    no_proxy_source: Source,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            proxy: None,
            proxy_source: Source::Unset,
            no_proxy: NoProxy::none(),
            no_proxy_source: Source::Unset,
        }
    }
}

impl EgressPolicy {
    /// A policy from configuration alone: `proxy` for every destination not in `no_proxy`.
    #[must_use]
    pub fn new(proxy: Option<EgressProxy>, no_proxy: NoProxy) -> Self {
        Self {
            proxy_source: if proxy.is_some() {
                Source::Config
            } else {
                Source::Unset
            },
            proxy,
            no_proxy_source: if no_proxy.is_empty() {
                Source::Unset
            } else {
                Source::Config
            },
            no_proxy,
        }
    }

    /// A policy from the configuration, falling back to the environment for what it leaves
    /// unset: the proxy is `proxy`, else the first of [`PROXY_VARIABLES`] with a non-blank
    /// value; the bypass list is `no_proxy`, else the first of [`NO_PROXY_VARIABLES`] with a
    /// non-blank value. The environment's bypass list applies to a configured proxy too (as
    /// curl's does to `-x`). `lookup` reads a variable (`|name| std::env::var(name).ok()`
    /// in a program; a map in tests).
    ///
    /// # Errors
    ///
    /// [`EnvError`] naming the variable whose value is refused; a variable that the
    /// configuration overrides is not read.
    pub fn from_config_and_env(
        proxy: Option<EgressProxy>,
        no_proxy: Option<NoProxy>,
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<Self, EnvError> {
        let mut first = |names: &[&'static str]| {
            names.iter().find_map(|&name| {
                lookup(name)
                    .filter(|v| !v.trim_ascii().is_empty())
                    .map(|v| (name, v))
            })
        };
        let (proxy, proxy_source) = match proxy {
            Some(p) => (Some(p), Source::Config),
            None => match first(&PROXY_VARIABLES) {
                Some((variable, value)) => {
                    let p = EgressProxy::parse(&value)
                        .map_err(|source| EnvError::Proxy { variable, source })?;
                    (Some(p), Source::Env(variable))
                }
                None => (None, Source::Unset),
            },
        };
        let (no_proxy, no_proxy_source) = match no_proxy {
            Some(n) => (n, Source::Config),
            None => match first(&NO_PROXY_VARIABLES) {
                Some((variable, value)) => {
                    let n = NoProxy::parse(&value)
                        .map_err(|source| EnvError::NoProxy { variable, source })?;
                    (n, Source::Env(variable))
                }
                None => (NoProxy::none(), Source::Unset),
            },
        };
        Ok(Self {
            proxy,
            proxy_source,
            no_proxy,
            no_proxy_source,
        })
    }

    /// [`EgressPolicy::from_config_and_env`] with nothing configured.
    ///
    /// # Errors
    ///
    /// As [`EgressPolicy::from_config_and_env`].
    pub fn from_env(lookup: impl FnMut(&str) -> Option<String>) -> Result<Self, EnvError> {
        Self::from_config_and_env(None, None, lookup)
    }

    /// The proxy for `target`: `None` when no proxy is set or `target` is in the bypass list.
    #[must_use]
    pub fn proxy_for(&self, target: &Address) -> Option<&EgressProxy> {
        self.proxy
            .as_ref()
            .filter(|_| !self.no_proxy.matches(target))
    }

    /// The proxy, whatever the destination.
    #[must_use]
    pub fn proxy(&self) -> Option<&EgressProxy> {
        self.proxy.as_ref()
    }

    /// Where the proxy came from.
    #[must_use]
    pub fn proxy_source(&self) -> Source {
        self.proxy_source
    }

    /// The bypass list.
    #[must_use]
    pub fn no_proxy(&self) -> &NoProxy {
        &self.no_proxy
    }

    /// Where the bypass list came from.
    #[must_use]
    pub fn no_proxy_source(&self) -> Source {
        self.no_proxy_source
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl FnMut(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn variables_in_curl_order() {
        let p = EgressPolicy::from_env(env(&[
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:1"),
            ("ALL_PROXY", "socks5://all:1"),
        ]))
        .unwrap();
        assert_eq!(p.proxy().unwrap().to_string(), "http://lower:1");
        assert_eq!(p.proxy_source(), Source::Env("https_proxy"));

        // Blank counts as unset; ALL_PROXY is the fallback; http_proxy is never read.
        let p = EgressPolicy::from_env(env(&[
            ("https_proxy", "  "),
            ("http_proxy", "http://plain:1"),
            ("ALL_PROXY", "socks5h://all:1"),
            ("NO_PROXY", ".internal"),
        ]))
        .unwrap();
        assert_eq!(p.proxy().unwrap().to_string(), "socks5h://all:1");
        let gw: Address = "gw.internal:443".parse().unwrap();
        assert!(p.proxy_for(&gw).is_none());
        let gw: Address = "gw.example:443".parse().unwrap();
        assert!(p.proxy_for(&gw).is_some());

        assert_eq!(
            EgressPolicy::from_env(env(&[])).unwrap(),
            EgressPolicy::default()
        );
    }

    #[test]
    fn config_wins_and_the_env_bypass_list_still_applies() {
        let configured = EgressProxy::parse("http://cfg:3128").unwrap();
        let p = EgressPolicy::from_config_and_env(
            Some(configured.clone()),
            None,
            env(&[
                ("HTTPS_PROXY", "not a url at all"),
                ("no_proxy", "gw.example"),
            ]),
        )
        .unwrap();
        assert_eq!(p.proxy(), Some(&configured));
        assert_eq!(p.proxy_source(), Source::Config);
        assert_eq!(p.no_proxy_source(), Source::Env("no_proxy"));
        assert!(p.proxy_for(&"gw.example:443".parse().unwrap()).is_none());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = EgressPolicy::from_env(env(&[("ALL_PROXY", "https://p:1")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable ALL_PROXY is not a valid proxy URL"
        );
        let err = EgressPolicy::from_env(env(&[("NO_PROXY", "a,b*")])).unwrap_err();
        assert!(matches!(
            err,
            EnvError::NoProxy {
                variable: "NO_PROXY",
                ..
            }
        ));
    }
}
