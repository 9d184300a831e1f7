//! The access reloader: validated first, listener changes refused, credentials and routes
//! swapped for new connections.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_app_core::reload::ReloadError;

use super::Access;
use crate::{AccessConfig, UserPass};

struct Files {
    keys: std::path::PathBuf,
    toml: std::path::PathBuf,
}

impl Files {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir();
        let keys = dir.join(format!(
            "ferry-app-hop-access-{}-{name}.keys",
            std::process::id()
        ));
        std::fs::write(&keys, format!("1 {}\n", "01".repeat(32))).unwrap();
        let toml = dir.join(format!(
            "ferry-app-hop-access-{}-{name}.toml",
            std::process::id()
        ));
        Self { keys, toml }
    }

    /// A config: chain `a` over hop 127.0.0.1:7000, a SOCKS5 listener with `password` on
    /// `bind`, and `extra` appended.
    fn write(&self, bind: &str, password: &str, extra: &str) -> AccessConfig {
        let text = format!(
            "[keys]\nfile = {:?}\n[[chain]]\nname = \"a\"\nhops = [{{ address = \"127.0.0.1:7000\", key_id = 1 }}]\n\
             [[listener]]\nmode = \"socks5\"\nbind = {bind:?}\nusername = \"u\"\npassword = {password:?}\n{extra}",
            self.keys.display()
        );
        std::fs::write(&self.toml, &text).unwrap();
        AccessConfig::from_toml(&text).unwrap()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.keys);
        let _ = std::fs::remove_file(&self.toml);
    }
}

#[test]
fn credentials_and_routes_apply_to_the_next_generation() {
    let f = Files::new("apply");
    let access = Access::new(f.write("127.0.0.1:0", "old", ""));
    let r = access.reloader();
    let before = access.shared.current.load_full();
    f.write(
        "127.0.0.1:0",
        "new",
        "[[route]]\ndestinations = [\"10.0.0.0/8\"]\nvia = \"block\"\n",
    );
    let done = r.reload_file(&f.toml).unwrap();
    assert!(
        done.applied.iter().any(|a| a == "listener[0] credentials"),
        "{done:?}"
    );
    let after = access.shared.current.load_full();
    let auth = after.listeners[0].auth.as_ref().unwrap();
    assert!(auth.matches("u", "new") && !auth.matches("u", "old"));
    assert_eq!(after.config.routes.len(), 1);
    // A connection that started before keeps the old generation.
    assert_eq!(before.listeners[0].auth, Some(UserPass::new("u", "old")));
    assert!(std::sync::Arc::ptr_eq(&before.stats, &after.stats));
}

#[test]
fn listener_changes_need_a_restart_and_change_nothing() {
    let f = Files::new("restart");
    let access = Access::new(f.write("127.0.0.1:0", "old", ""));
    let r = access.reloader();
    f.write("127.0.0.1:1080", "new", "");
    match r.reload_file(&f.toml) {
        Err(ReloadError::NeedsRestart { key, .. }) => assert_eq!(key, "listener[0].bind"),
        other => panic!("{other:?}"),
    }
    f.write(
        "127.0.0.1:0",
        "new",
        "[[listener]]\nmode = \"http\"\nbind = \"127.0.0.1:0\"\n",
    );
    match r.reload_file(&f.toml) {
        Err(ReloadError::NeedsRestart { key, .. }) => assert_eq!(key, "listener"),
        other => panic!("{other:?}"),
    }
    let text = std::fs::read_to_string(&f.toml)
        .unwrap()
        .replace("\"socks5\"", "\"http\"");
    std::fs::write(&f.toml, text).unwrap();
    assert!(matches!(
        r.reload_file(&f.toml),
        Err(ReloadError::NeedsRestart { .. })
    ));
    let auth = access.config().listeners[0].auth.clone().unwrap();
    assert!(auth.matches("u", "old"));
}

#[test]
fn a_bad_file_changes_nothing() {
    let f = Files::new("bad");
    let access = Access::new(f.write("127.0.0.1:0", "old", ""));
    std::fs::write(&f.toml, "[[chain]]\nname = \"a\"\nhops = 3\n").unwrap();
    assert!(matches!(
        access.reloader().reload_file(&f.toml),
        Err(ReloadError::Config(_))
    ));
    assert!(
        access.config().listeners[0]
            .auth
            .as_ref()
            .unwrap()
            .matches("u", "old")
    );
}
