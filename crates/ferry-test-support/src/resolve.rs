//! A scripted [`Resolver`]: the answers a test wants, in order, and how often it was asked.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_base::resolve::{ResolveFuture, Resolver};

/// Answers the n-th lookup (of any name) with the n-th script entry, each address with the
/// port asked for; after the script, the last entry again. An empty entry is "no such name".
/// Counts the lookups.
#[derive(Debug)]
pub struct Scripted {
    script: Vec<Vec<IpAddr>>,
    calls: AtomicUsize,
    names: Mutex<Vec<String>>,
    hang: bool,
}

impl Scripted {
    /// Answers `script[0]` first, then `script[1]`, ...
    pub fn new<const N: usize>(script: [&[&str]; N]) -> Self {
        Self {
            script: script
                .iter()
                .map(|answer| answer.iter().map(|ip| ip.parse().unwrap()).collect())
                .collect(),
            calls: AtomicUsize::new(0),
            names: Mutex::new(Vec::new()),
            hang: false,
        }
    }

    /// A resolver that never answers (a hung DNS server): every lookup is counted and stays
    /// pending until the caller gives up.
    pub fn never_answering() -> Self {
        Self {
            hang: true,
            ..Self::new([])
        }
    }

    /// Lookups so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The names looked up so far, in order.
    pub fn names(&self) -> Vec<String> {
        self.names.lock().unwrap().clone()
    }
}

impl Resolver for Scripted {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> ResolveFuture<'a> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.names.lock().unwrap().push(host.to_owned());
        let answer = self
            .script
            .get(n)
            .or_else(|| self.script.last())
            .cloned()
            .unwrap_or_default();
        let hang = self.hang;
        Box::pin(async move {
            if hang {
                std::future::pending::<()>().await;
            }
            if answer.is_empty() {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no such name"));
            }
            Ok(answer
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect())
        })
    }
}
