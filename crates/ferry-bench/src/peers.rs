//! Other proxies measured in the same run as ferry-proxy: HAProxy (`mode tcp`, with and without
//! splice) and nginx (`stream` module, `proxy_half_close on`). Each run writes the peer's config
//! into a temporary directory of its own (removed afterwards), and the peer runs in the
//! foreground as the current user, with its logs in that directory.
//!
//! | peer | config |
//! |---|---|
//! | `haproxy` | `nbthread N`, `mode tcp`, one frontend and one backend server, no logging |
//! | `haproxy-splice` | the same with `option splice-auto` (HAProxy's own choice of when to splice) |
//! | `nginx` | `worker_processes N`, `stream { server { proxy_pass ...; proxy_half_close on; } }` |
//!
//! `N` is `--threads` (default 1, the same for ferry-proxy and the naive proxy through
//! `TOKIO_WORKER_THREADS`), so every proxy gets the same number of workers.
//!
//! `compare-tls` runs the same two as TLS terminators ([`TlsPeer`]), with their TLS defaults
//! plus a session cache and session tickets, and the bench's certificate and key:
//!
//! | peer | config |
//! |---|---|
//! | `haproxy` | as above, `bind ADDR ssl crt FILE` (FILE: certificate and key in one PEM), `tune.ssl.cachesize 20000` (its default, stated) and its default TLS tickets (random keys per start) |
//! | `nginx` | as above, `listen ADDR ssl`, `ssl_protocols TLSv1.2 TLSv1.3` (1.22's default lacks TLS 1.3), `ssl_certificate`, `ssl_certificate_key`, `ssl_session_cache shared:SSL:10m`, `ssl_session_tickets on` |

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Target;

/// The nginx stream module shipped by Debian's `libnginx-mod-stream`.
const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// A directory removed (with its contents) when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> io::Result<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ferry-bench-{}-{name}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A peer proxy kind.
#[derive(Clone, Debug)]
pub(crate) enum Peer {
    Haproxy { path: PathBuf, splice: bool },
    Nginx { path: PathBuf },
}

impl Peer {
    /// The name in the tables.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Haproxy { splice: false, .. } => "haproxy",
            Self::Haproxy { splice: true, .. } => "haproxy-splice",
            Self::Nginx { .. } => "nginx",
        }
    }

    /// Writes the config for `listen` → `upstream` with `threads` workers into `dir` and
    /// returns the command that runs the peer in the foreground.
    pub(crate) fn command(
        &self,
        dir: &Path,
        listen: SocketAddr,
        upstream: SocketAddr,
        threads: usize,
    ) -> io::Result<Vec<String>> {
        match self {
            Self::Haproxy { path, splice } => haproxy_command(
                path,
                dir,
                &haproxy_config(listen, upstream, threads, *splice),
            ),
            Self::Nginx { path } => {
                nginx_command(path, dir, &nginx_config(dir, listen, upstream, threads))
            }
        }
    }
}

/// Writes `config` into `dir` and returns the command that runs HAProxy (`path`) on it in the
/// foreground.
fn haproxy_command(path: &Path, dir: &Path, config: &str) -> io::Result<Vec<String>> {
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, config)?;
    Ok(vec![
        path.display().to_string(),
        "-db".into(),
        "-f".into(),
        file.display().to_string(),
    ])
}

/// Writes `config` into `dir` and returns the command that runs nginx (`path`) on it, with
/// `dir` as its prefix and its error log there.
fn nginx_command(path: &Path, dir: &Path, config: &str) -> io::Result<Vec<String>> {
    let file = dir.join("nginx.conf");
    std::fs::write(&file, config)?;
    Ok(vec![
        path.display().to_string(),
        "-p".into(),
        dir.display().to_string(),
        "-e".into(),
        dir.join("error.log").display().to_string(),
        "-c".into(),
        file.display().to_string(),
    ])
}

/// What the plain and the TLS nginx configs share before their `stream` block: the stream
/// module, the foreground master with `threads` workers, the files in `dir`, and room for the
/// idle-memory run's connections.
fn nginx_head(dir: &Path, threads: usize) -> String {
    let dir = dir.display();
    format!(
        "load_module {NGINX_STREAM_MODULE};\n\
         daemon off;\nmaster_process on;\nworker_processes {threads};\n\
         worker_rlimit_nofile 19500;\n\
         pid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
         events {{\n    worker_connections 19000;\n}}\n"
    )
}

/// HAProxy in TCP mode, no logging, long client and server timeouts (the idle-memory figure
/// holds connections open), and enough connections for the idle-memory run (within a 20,000
/// open-file limit, pipes for splicing included).
fn haproxy_config(
    listen: SocketAddr,
    upstream: SocketAddr,
    threads: usize,
    splice: bool,
) -> String {
    let splice = if splice {
        "    option splice-auto\n"
    } else {
        ""
    };
    format!(
        "global\n    nbthread {threads}\n    maxconn 9000\n    maxpipes 256\n\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n{splice}\n\
         frontend bench\n    bind {listen}\n    default_backend upstream\n\n\
         backend upstream\n    server up {upstream}\n"
    )
}

/// nginx with only the stream module: one server, half-close propagated, no access log.
fn nginx_config(dir: &Path, listen: SocketAddr, upstream: SocketAddr, threads: usize) -> String {
    let head = nginx_head(dir, threads);
    format!(
        "{head}\
         stream {{\n    server {{\n        listen {listen};\n        proxy_pass {upstream};\n        proxy_half_close on;\n    }}\n}}\n"
    )
}

/// A peer measured as a TLS terminator by `compare-tls`.
#[derive(Clone, Debug)]
pub(crate) enum TlsPeer {
    Haproxy { path: PathBuf },
    Nginx { path: PathBuf },
}

impl TlsPeer {
    /// The name in the tables.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Haproxy { .. } => "haproxy",
            Self::Nginx { .. } => "nginx",
        }
    }

    /// Writes the config for TLS on `listen` → plain TCP to `upstream`, with `threads` workers
    /// and the certificate chain `cert` and private key `key` (PEM), into `dir`, and returns
    /// the command that runs the peer in the foreground.
    pub(crate) fn command(
        &self,
        dir: &Path,
        listen: SocketAddr,
        upstream: SocketAddr,
        threads: usize,
        cert: &Path,
        key: &Path,
    ) -> io::Result<Vec<String>> {
        match self {
            Self::Haproxy { path } => {
                // HAProxy reads the certificate and its key from one file.
                let pem = dir.join("haproxy.pem");
                let mut both = std::fs::read(cert)?;
                if !both.ends_with(b"\n") {
                    both.push(b'\n');
                }
                both.extend(std::fs::read(key)?);
                std::fs::write(&pem, both)?;
                haproxy_command(
                    path,
                    dir,
                    &haproxy_tls_config(listen, upstream, threads, &pem),
                )
            }
            Self::Nginx { path } => nginx_command(
                path,
                dir,
                &nginx_tls_config(dir, listen, upstream, threads, cert, key),
            ),
        }
    }
}

/// HAProxy's session cache size, set explicitly: 20,000 sessions, its documented default.
const HAPROXY_SSL_CACHESIZE: u32 = 20_000;

/// [`haproxy_config`] terminating TLS with `pem` (certificate and key): HAProxy's TLS defaults
/// (TLS 1.2 and 1.3, its default ciphers and groups, TLS tickets with keys made at start-up)
/// and its session cache, sized explicitly.
fn haproxy_tls_config(
    listen: SocketAddr,
    upstream: SocketAddr,
    threads: usize,
    pem: &Path,
) -> String {
    let pem = pem.display();
    format!(
        "global\n    nbthread {threads}\n    maxconn 9000\n    tune.ssl.cachesize {HAPROXY_SSL_CACHESIZE}\n\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n\n\
         frontend bench\n    bind {listen} ssl crt {pem}\n    default_backend upstream\n\n\
         backend upstream\n    server up {upstream}\n"
    )
}

/// [`nginx_config`] terminating TLS with `cert` and `key`: nginx's TLS defaults plus a shared
/// session cache of 10 MB (about 40,000 sessions) and session tickets (on by default; stated),
/// and `ssl_protocols TLSv1.2 TLSv1.3`: nginx before 1.23.4 (Debian bookworm has 1.22) leaves
/// TLS 1.3 out of its default protocols.
fn nginx_tls_config(
    dir: &Path,
    listen: SocketAddr,
    upstream: SocketAddr,
    threads: usize,
    cert: &Path,
    key: &Path,
) -> String {
    let head = nginx_head(dir, threads);
    let (cert, key) = (cert.display(), key.display());
    format!(
        "{head}\
         stream {{\n    server {{\n        listen {listen} ssl;\n\
         \x20       ssl_protocols TLSv1.2 TLSv1.3;\n\
         \x20       ssl_certificate {cert};\n        ssl_certificate_key {key};\n\
         \x20       ssl_session_cache shared:SSL:10m;\n        ssl_session_tickets on;\n\
         \x20       proxy_pass {upstream};\n        proxy_half_close on;\n    }}\n}}\n"
    )
}

/// Starts `command` (a peer's, or `COMMAND --listen --upstream` for ferry-proxy and naive),
/// prefixed by `wrapper` (valgrind in `--callgrind` mode), with `env` set.
pub(crate) fn spawn(
    name: &str,
    addr: SocketAddr,
    wrapper: &[String],
    command: &[String],
    env: &[(String, String)],
) -> io::Result<Target> {
    let mut all = wrapper.iter().chain(command);
    let Some(program) = all.next() else {
        return Err(io::Error::other(format!("{name}: empty command")));
    };
    let child = Command::new(program)
        .args(all)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| io::Error::other(format!("{name}: cannot start {program}: {e}")))?;
    Ok(Target {
        name: name.to_owned(),
        addr,
        child: Some(child),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_config_splices_only_when_asked() {
        let l: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let u: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let plain = haproxy_config(l, u, 1, false);
        assert!(
            plain.contains("bind 127.0.0.1:1000") && plain.contains("server up 127.0.0.1:2000")
        );
        assert!(!plain.contains("splice"));
        assert!(haproxy_config(l, u, 1, true).contains("option splice-auto"));
    }

    #[test]
    fn nginx_config_half_closes() {
        let l: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let u: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let c = nginx_config(Path::new("/tmp/x"), l, u, 2);
        assert!(c.contains("proxy_half_close on;") && c.contains("worker_processes 2;"));
        assert!(c.contains("listen 127.0.0.1:1000;") && c.contains("proxy_pass 127.0.0.1:2000;"));
    }

    #[test]
    fn haproxy_tls_config_has_cert_cache_and_workers() {
        let l: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let u: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let c = haproxy_tls_config(l, u, 3, Path::new("/tmp/x/haproxy.pem"));
        assert!(
            c.contains("bind 127.0.0.1:1000 ssl crt /tmp/x/haproxy.pem\n"),
            "{c}"
        );
        assert!(c.contains("tune.ssl.cachesize 20000\n") && c.contains("nbthread 3\n"));
        assert!(c.contains("mode tcp") && c.contains("server up 127.0.0.1:2000\n"));
        // Tickets are HAProxy's default: nothing may turn them off.
        assert!(!c.contains("no-tls-tickets"));
    }

    #[test]
    fn nginx_tls_config_has_cert_cache_tickets_and_workers() {
        let l: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let u: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let c = nginx_tls_config(
            Path::new("/tmp/x"),
            l,
            u,
            2,
            Path::new("/tmp/c/rsa.pem"),
            Path::new("/tmp/c/rsa.key"),
        );
        for line in [
            "worker_processes 2;",
            "listen 127.0.0.1:1000 ssl;",
            "ssl_protocols TLSv1.2 TLSv1.3;",
            "ssl_certificate /tmp/c/rsa.pem;",
            "ssl_certificate_key /tmp/c/rsa.key;",
            "ssl_session_cache shared:SSL:10m;",
            "ssl_session_tickets on;",
            "proxy_pass 127.0.0.1:2000;",
            "proxy_half_close on;",
        ] {
            assert!(c.lines().any(|l| l.trim() == line), "{line} in\n{c}");
        }
        assert!(c.starts_with(&format!("load_module {NGINX_STREAM_MODULE};")));
    }

    /// The written files: HAProxy's PEM holds the certificate, then the key.
    #[test]
    fn tls_peer_commands_write_their_files() {
        let dir = TempDir::new("tls-peer-test").unwrap();
        let (cert, key) = (dir.0.join("c.pem"), dir.0.join("c.key"));
        std::fs::write(&cert, "CERT").unwrap();
        std::fs::write(&key, "KEY\n").unwrap();
        let l: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let u: SocketAddr = "127.0.0.1:2000".parse().unwrap();
        let h = TlsPeer::Haproxy {
            path: "/usr/sbin/haproxy".into(),
        };
        let cmd = h.command(&dir.0, l, u, 1, &cert, &key).unwrap();
        assert_eq!(cmd[..3], ["/usr/sbin/haproxy", "-db", "-f"]);
        let pem = std::fs::read_to_string(dir.0.join("haproxy.pem")).unwrap();
        assert_eq!(pem, "CERT\nKEY\n");
        let cfg = std::fs::read_to_string(&cmd[3]).unwrap();
        assert!(cfg.contains(&format!("ssl crt {}", dir.0.join("haproxy.pem").display())));
        let n = TlsPeer::Nginx {
            path: "/usr/sbin/nginx".into(),
        };
        let cmd = n.command(&dir.0, l, u, 1, &cert, &key).unwrap();
        let cfg = std::fs::read_to_string(cmd.last().unwrap()).unwrap();
        assert!(cfg.contains(&format!("ssl_certificate {};", cert.display())));
        assert_eq!((h.name(), n.name()), ("haproxy", "nginx"));
    }
}
