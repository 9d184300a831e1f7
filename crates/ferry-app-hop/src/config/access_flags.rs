//! `ferry-hop access` from flags alone, like gost's one-liners: one or more SOCKS5 / HTTP
//! listeners over one chain, without a TOML file.
//!
//! ```text
//! ferry-hop access --listen socks5://127.0.0.1:1080 --listen http://127.0.0.1:3128 \
//!     --hop hop1.example.net:7000#1 --hop hop2.example.net:7000#2 --key-file client.keys
//! ```

use std::path::PathBuf;

use ferry_app_core::ConfigError;

use super::access_file::{AccessFile, ChainFile, HopFile, ListenerFile};
use super::{AccessConfig, KeySource, KeysFile};

/// The flags of a one-chain `ferry-hop access`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessFlags {
    /// `socks5://ADDR` or `http://ADDR` (repeatable). At least one.
    pub listen: Vec<String>,
    /// The chain's hops in order, `HOST:PORT#KEY_ID`. At least one.
    pub hops: Vec<String>,
    /// Where the client's hop keys are (a file or a variable; never the command line).
    pub keys: Option<KeySource>,
}

impl AccessFlags {
    /// No listener, no hop, no keys.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl AccessConfig {
    /// One chain named `flags` over `flags.hops`, every connection routed over it, one listener
    /// per `flags.listen`; every other setting at its default. Validated exactly as a file is
    /// (the keys are read now).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `--listen`, `--hop` or `--key-file` for a malformed or
    /// missing value, or the key the validation names (`chain[0].hops[1].key_id`, ...).
    pub fn from_flags(flags: &AccessFlags) -> Result<Self, ConfigError> {
        if flags.listen.is_empty() {
            return Err(ConfigError::invalid(
                "--listen",
                "give at least one, e.g. socks5://127.0.0.1:1080 or http://127.0.0.1:3128",
            ));
        }
        if flags.hops.is_empty() {
            return Err(ConfigError::invalid(
                "--hop",
                "give the chain's hops in order, e.g. --hop hop1.example.net:7000#1",
            ));
        }
        let keys = match &flags.keys {
            Some(KeySource::File(f)) => KeysFile::from_parts(Some(PathBuf::clone(f)), None),
            Some(KeySource::Env(v)) => KeysFile::from_parts(None, Some(v.clone())),
            None => {
                return Err(ConfigError::invalid(
                    "--key-file",
                    "required (or --key-env VAR); keys are never taken on the command line",
                ));
            }
        };
        let mut listener = Vec::with_capacity(flags.listen.len());
        for (i, l) in flags.listen.iter().enumerate() {
            let (mode, bind) = l
                .split_once("://")
                .filter(|(m, _)| matches!(*m, "socks5" | "http"))
                .ok_or_else(|| {
                    ConfigError::invalid(
                        format!("--listen[{i}]"),
                        format!("{l:?}: expected socks5://ADDR or http://ADDR"),
                    )
                })?;
            listener.push(ListenerFile::new(mode, bind));
        }
        let mut hops = Vec::with_capacity(flags.hops.len());
        for (i, h) in flags.hops.iter().enumerate() {
            let bad = || {
                ConfigError::invalid(
                    format!("--hop[{i}]"),
                    format!("{h:?}: expected HOST:PORT#KEY_ID, e.g. hop1.example.net:7000#1"),
                )
            };
            let (address, id) = h.rsplit_once('#').ok_or_else(bad)?;
            let key_id: u16 = id.parse().map_err(|_not_a_number| bad())?;
            hops.push(HopFile::new(address, key_id));
        }
        AccessFile::one_chain(keys, ChainFile::new("flags", hops), listener).validate()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::AccessMode;

    /// A key file in a directory of the test's own (`test`): the tests run in parallel and
    /// each removes its directory at the end.
    fn keys(test: &str) -> (PathBuf, KeySource) {
        let dir =
            std::env::temp_dir().join(format!("ferry-access-flags-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("client.keys");
        std::fs::write(
            &f,
            format!("1 {}\n2 {}\n", "11".repeat(32), "22".repeat(32)),
        )
        .unwrap();
        (dir, KeySource::File(f))
    }

    #[test]
    fn one_chain_two_listeners_from_flags() {
        let (dir, keys) = keys("two-listeners");
        let mut f = AccessFlags::new();
        f.listen = vec![
            "socks5://127.0.0.1:1080".into(),
            "http://127.0.0.1:3128".into(),
        ];
        f.hops = vec!["127.0.0.1:7000#1".into(), "hop2.example.net:7000#2".into()];
        f.keys = Some(keys);
        let c = AccessConfig::from_flags(&f).unwrap();
        assert_eq!(c.chains.len(), 1);
        assert_eq!(c.chains[0].chain.len(), 2);
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[0].mode, AccessMode::Socks5);
        assert_eq!(c.listeners[1].mode, AccessMode::HttpConnect);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_flags_name_the_flag() {
        let (dir, keys) = keys("bad-flags");
        let base = || {
            let mut f = AccessFlags::new();
            f.listen = vec!["socks5://127.0.0.1:1080".into()];
            f.hops = vec!["127.0.0.1:7000#1".into()];
            f.keys = Some(keys.clone());
            f
        };
        let key_of = |f: &AccessFlags| match AccessConfig::from_flags(f).unwrap_err() {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("{other}"),
        };
        let mut f = base();
        f.listen = vec!["tcp://127.0.0.1:1".into()];
        assert_eq!(key_of(&f), "--listen[0]");
        let mut f = base();
        f.hops = vec!["127.0.0.1:7000".into()];
        assert_eq!(key_of(&f), "--hop[0]");
        let mut f = base();
        f.hops = vec!["127.0.0.1:7000#x".into()];
        assert_eq!(key_of(&f), "--hop[0]");
        let mut f = base();
        f.keys = None;
        assert_eq!(key_of(&f), "--key-file");
        let mut f = base();
        f.listen.clear();
        assert_eq!(key_of(&f), "--listen");
        let mut f = base();
        f.hops = vec!["127.0.0.1:7000#9".into()];
        assert!(
            key_of(&f).starts_with("chain[0].hops[0]"),
            "a key id not in the key file"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
