//! Real third-party proxies on loopback, from Debian's packages (scripts/test.sh installs
//! them): tinyproxy (HTTP CONNECT, Basic auth), Dante's danted (SOCKS5) and microsocks
//! (SOCKS5 with username/password). Each runs in the foreground with its config in a temp
//! directory, on a port picked free just before (none of them reports a port bound for `:0`),
//! and is killed on drop.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// A port free right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ferry-egress-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A third-party proxy process, killed (and its directory removed) on drop.
pub struct Daemon {
    child: Child,
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    dir: PathBuf,
    /// Its stdout and stderr lines, as they come (after the one that said it was ready).
    log: mpsc::Receiver<String>,
}

impl Daemon {
    /// Waits (at most 20 s) until a line containing `needle` is logged (stdout or stderr),
    /// and returns every line logged since the previous call, up to and including that one.
    /// Panics when the daemon exits or stays silent first.
    pub fn wait_logged(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.log.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    seen.push(line);
                    if hit {
                        return seen;
                    }
                }
                Err(e) => panic!("{needle:?} not logged ({e}); logged: {seen:?}"),
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How a daemon says it listens.
enum Ready<'a> {
    /// A line containing this on its stdout or stderr.
    Logged(&'a str),
    /// Nothing: wait (bounded) until it accepts a connection.
    Accepts,
}

/// Sends the lines `reader` yields to `tx`, read on a thread of their own (kept draining, so
/// the daemon never blocks on a full pipe).
fn lines(reader: impl std::io::Read + Send + 'static, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
}

/// Starts `program` on a free port: `setup(port, dir)` writes its config and gives its
/// arguments. When it exits before it is ready (the port was taken between the pick and its
/// bind), it is started again on another port, up to five times.
fn start(
    program: &str,
    name: &str,
    ready: Ready<'_>,
    setup: impl Fn(u16, &Path) -> Vec<String>,
) -> Daemon {
    for _ in 0..5 {
        let dir = scratch(name);
        let port = free_port();
        let args = setup(port, &dir);
        let mut child = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test.sh does): {e}"));
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let (tx, log) = mpsc::channel();
        lines(child.stdout.take().unwrap(), tx.clone());
        lines(child.stderr.take().unwrap(), tx);
        let mut daemon = Daemon {
            child,
            addr,
            dir,
            log,
        };
        let up = match ready {
            Ready::Logged(needle) => logged(&daemon.log, needle),
            Ready::Accepts => answers_socks5(&mut daemon),
        };
        if up {
            return daemon;
        }
    }
    panic!("{program} did not start on any of five free ports");
}

/// Whether a line containing `needle` comes before the stream ends (the program exited).
fn logged(log: &mpsc::Receiver<String>, needle: &str) -> bool {
    loop {
        match log.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains(needle) => return true,
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return false,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no {needle:?} logged within 20 s"),
        }
    }
}

/// Bounded wait until the daemon answers a SOCKS5 greeting (so a listener of another test
/// that took the port is not mistaken for it); false when it exited first.
fn answers_socks5(daemon: &mut Daemon) -> bool {
    crate::blocking::poll("a SOCKS5 answer", || {
        if !matches!(daemon.child.try_wait(), Ok(None)) {
            return Some(false);
        }
        let mut s = TcpStream::connect(daemon.addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(&[5, 1, 0]).ok()?;
        let mut reply = [0u8; 2];
        s.read_exact(&mut reply).ok()?;
        // An echo would answer 05 01.
        Some(reply[0] == 5 && reply[1] != 1)
    })
}

/// tinyproxy: HTTP CONNECT to any port (or only `connect_port`), Basic auth when `auth` is
/// given.
pub fn tinyproxy(auth: Option<(&str, &str)>, connect_port: Option<u16>) -> Daemon {
    start(
        "tinyproxy",
        "tinyproxy",
        Ready::Logged("Accepting connections"),
        |port, dir| {
            let mut cfg = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\n\
                 LogLevel Info\n"
            );
            if let Some((user, pass)) = auth {
                cfg.push_str(&format!("BasicAuth {user} {pass}\n"));
            }
            if let Some(p) = connect_port {
                cfg.push_str(&format!("ConnectPort {p}\n"));
            }
            let file = dir.join("tinyproxy.conf");
            std::fs::write(&file, cfg).unwrap();
            vec!["-d".into(), "-c".into(), file.to_str().unwrap().into()]
        },
    )
}

/// Dante's danted: SOCKS5 without authentication for loopback clients; connections to
/// `blocked` are refused by a `socks block` rule (reply 0x02).
pub fn danted(blocked: Option<SocketAddr>) -> Daemon {
    let block = blocked.map_or(String::new(), |b| {
        format!(
            "socks block {{ from: 0.0.0.0/0 to: {}/32 port = {} }}\n",
            b.ip(),
            b.port()
        )
    });
    // Debian installs it in /usr/sbin, which a non-login PATH may lack.
    let program = if Path::new("/usr/sbin/danted").exists() {
        "/usr/sbin/danted"
    } else {
        "danted"
    };
    start(program, "danted", Ready::Logged("running"), |port, dir| {
        let cfg = format!(
            "logoutput: stderr\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
             socksmethod: none\nclientmethod: none\n\
             user.privileged: root\nuser.unprivileged: nobody\n\
             client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n{block}\
             socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n"
        );
        let file = dir.join("danted.conf");
        std::fs::write(&file, cfg).unwrap();
        let pid = dir.join("danted.pid");
        vec![
            "-f".into(),
            file.to_str().unwrap().into(),
            "-p".into(),
            pid.to_str().unwrap().into(),
            "-N".into(),
            "1".into(),
        ]
    })
}

/// microsocks: SOCKS5 with username/password (RFC 1929) when `auth` is given.
pub fn microsocks(auth: Option<(&str, &str)>) -> Daemon {
    start("microsocks", "microsocks", Ready::Accepts, |port, _| {
        let mut args = vec![
            "-i".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        if let Some((user, pass)) = auth {
            args.extend(["-u".into(), user.into(), "-P".into(), pass.into()]);
        }
        args
    })
}
