//! Name resolution behind a trait, so that tests (and callers with their own resolver) can
//! inject answers. Every Ferry program that turns a name into addresses goes through a
//! [`Resolver`]: `ferry-pool`'s upstream pools, the hop's and the agent's dial paths, `check`'s
//! explanations.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

/// The future a [`Resolver`] returns.
pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>>;

/// A resolver shared by every connection of a program. Default: [`SystemResolver`]
/// ([`system`]).
pub type SharedResolver = Arc<dyn Resolver>;

/// Resolves a host name and port to socket addresses.
///
/// A caller that checks the answer against a policy must connect only to addresses it
/// checked, and ask once per request: asking again after the check would let a name that
/// changes its answer (DNS rebinding) reach an address that was never checked.
pub trait Resolver: Send + Sync + fmt::Debug + 'static {
    /// All addresses of `host` with `port`, in the resolver's order.
    ///
    /// # Errors
    ///
    /// Resolution failure (no such name, no answer, the resolver's own I/O error).
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> ResolveFuture<'a>;
}

/// The system resolver ([`tokio::net::lookup_host`], i.e. `getaddrinfo` on a blocking thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> ResolveFuture<'a> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// A shared [`SystemResolver`], the default wherever a [`SharedResolver`] is taken.
#[must_use]
pub fn system() -> SharedResolver {
    Arc::new(SystemResolver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_system_resolver_passes_ip_literals_through_with_the_port() {
        let found = SystemResolver
            .resolve("127.0.0.1", 7)
            .await
            .unwrap_or_default();
        assert_eq!(found, vec![SocketAddr::from(([127, 0, 0, 1], 7))]);
    }
}
