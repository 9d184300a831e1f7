//! Reach a destination through an egress proxy: HTTP CONNECT with Basic credentials, or SOCKS5
//! with username/password authentication, chosen by a proxy URL or the standard
//! environment variables.
//!
//! # What it does
//!
//! - [`EgressProxy`]: a proxy parsed from `http://[user:password@]host[:port]`,
//!   `socks5://...` (the destination's name is resolved here) or `socks5h://...` (the proxy
//!   resolves it); credentials are percent-decoded and never shown by `Display` or `Debug`.
//! - [`NoProxy`]: a `NO_PROXY` list with curl's rules (`*`, domains and their subdomains,
//!   addresses, CIDRs) plus optional ports.
//! - [`EgressPolicy`]: the proxy from configuration, else from `https_proxy`, `HTTPS_PROXY`,
//!   `all_proxy`, `ALL_PROXY`; the bypass list from configuration, else `no_proxy`,
//!   `NO_PROXY`; [`EgressPolicy::proxy_for`] says which proxy, if any, a destination takes.
//!   The environment is read through a closure, so tests never touch the process's.
//! - [`connect_via`]: dials the proxy (its name through a [`ferry_base::resolve::Resolver`])
//!   and opens the tunnel, within a connect timeout (default 5 s) and one handshake deadline
//!   (default 10 s), reading at most 8 KiB of HTTP reply head; returns the stream positioned
//!   after the proxy's reply, with any bytes that came after it served first. [`handshake`]
//!   does the same on a connection the caller opened.
//! - [`EgressError`] says which side failed and what to fix: `the egress proxy
//!   http://proxy.example:3128 refused CONNECT to gw.example:443 with 403 Forbidden`.
//!
//! The wire formats are ferry-front's: its HTTP CONNECT request writer and reply parser, its
//! SOCKS5 client encoders and reply parsers.
//!
//! # What it does not do
//!
//! No TLS to the proxy (`https://` proxies), no SOCKS4, no NTLM, Digest or Negotiate proxy
//! authentication (only Basic), no UDP through the proxy. It does not decide whether a
//! destination is allowed: callers check their allowlists first.
//!
//! # Example
//!
//! ```
//! use ferry_egress::{ConnectConfig, EgressPolicy, ProxyKind, connect_via};
//! use ferry_front::Address;
//!
//! let env = |name: &str| match name {
//!     "HTTPS_PROXY" => Some("socks5h://agent:s3cret@proxy.corp.example:1080".to_owned()),
//!     "NO_PROXY" => Some("localhost,.internal.example,10.0.0.0/8".to_owned()),
//!     _ => None,
//! };
//! let policy = EgressPolicy::from_env(env)?;
//! let proxy = policy.proxy_for(&"gw.example.net:443".parse()?).expect("proxied");
//! assert_eq!(proxy.kind(), ProxyKind::Socks5h);
//! assert_eq!(proxy.to_string(), "socks5h://agent:***@proxy.corp.example:1080");
//! assert!(policy.proxy_for(&"gw.internal.example:443".parse()?).is_none());
//! assert!(policy.proxy_for(&"10.1.2.3:443".parse()?).is_none());
//!
//! /// The gateway, through the proxy the policy gives it, or directly.
//! async fn reach(policy: &EgressPolicy, gateway: &Address) -> Result<(), Box<dyn std::error::Error>> {
//!     if let Some(proxy) = policy.proxy_for(gateway) {
//!         let _tunnel = connect_via(proxy, gateway, &ConnectConfig::default()).await?;
//!         // ... TLS to the gateway over `_tunnel`
//!     }
//!     Ok(())
//! }
//! # let _ = reach;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![doc(test(attr(deny(warnings))))]

mod connect;
mod error;
// Fuzz harnesses: a panic there is a finding.
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod no_proxy;
mod policy;
mod socks5;
mod url;

pub use connect::{
    ConnectConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HEAD,
    ProxiedStream, connect_via, handshake,
};
pub use error::{EgressError, Offered};
pub use no_proxy::{NoProxy, NoProxyEntry, NoProxyError, NoProxyReason};
pub use policy::{EgressPolicy, EnvError, NO_PROXY_VARIABLES, PROXY_VARIABLES, Source};
pub use url::{
    DEFAULT_HTTP_PORT, DEFAULT_SOCKS_PORT, EgressProxy, MAX_URL_LEN, ProxyCredentials, ProxyKind,
    ProxyUrlError,
};

// The README's examples are compiled and run as doctests (the README is the package's front
// page); the rendered crate docs are the `//!` text above.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
