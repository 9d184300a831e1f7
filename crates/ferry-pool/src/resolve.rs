//! Name resolution behind a trait, so tests (and callers with their own resolver) can inject
//! answers.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

/// The future a [`Resolver`] returns.
pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>>;

/// Resolves a host name and port to socket addresses.
pub trait Resolver: Send + Sync + fmt::Debug + 'static {
    /// All addresses of `host` with `port`. The pool removes duplicates and sorts them.
    ///
    /// # Errors
    ///
    /// Resolution failure; the pool keeps the previous addresses and logs.
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
