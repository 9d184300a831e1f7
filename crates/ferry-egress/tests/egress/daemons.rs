//! Real third-party proxies on loopback, from Debian's packages (scripts/test.sh installs
//! them): tinyproxy (HTTP CONNECT, Basic auth), Dante's danted (SOCKS5) and microsocks
//! (SOCKS5 with username/password). Each runs in the foreground with its config in a temp
//! directory, on a port picked free just before (none of them reports a port bound for `:0`),
//! and is killed on drop.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
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

/// A third-party proxy process.
pub(crate) struct Daemon {
    child: Child,
    pub(crate) addr: SocketAddr,
    dir: PathBuf,
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
    /// A line containing this on its stdout.
    Stdout(&'a str),
    /// A line containing this on its stderr.
    Stderr(&'a str),
    /// Nothing: wait (bounded) until it accepts a connection.
    Accepts,
}

/// The lines `reader` yields, read on a thread of their own (kept draining, so the daemon
/// never blocks on a full pipe).
fn lines(reader: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

fn spawn(program: &str, args: &[&str], dir: PathBuf, port: u16, ready: Ready<'_>) -> Daemon {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test.sh does): {e}"));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let daemon = Daemon { child, addr, dir };
    let (log, needle) = match ready {
        Ready::Stdout(needle) => (&out, needle),
        Ready::Stderr(needle) => (&err, needle),
        Ready::Accepts => {
            ferry_test_support::blocking::poll(program, || TcpStream::connect(addr).ok());
            return daemon;
        }
    };
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{program} did not log {needle:?} within 20 s"));
        if line.contains(needle) {
            return daemon;
        }
    }
}

/// tinyproxy: HTTP CONNECT to any port (or only `connect_port`), Basic auth when `auth` is
/// given.
pub(crate) fn tinyproxy(auth: Option<(&str, &str)>, connect_port: Option<u16>) -> Daemon {
    let dir = scratch("tinyproxy");
    let port = free_port();
    let mut cfg = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\nLogLevel Info\n"
    );
    if let Some((user, pass)) = auth {
        cfg.push_str(&format!("BasicAuth {user} {pass}\n"));
    }
    if let Some(p) = connect_port {
        cfg.push_str(&format!("ConnectPort {p}\n"));
    }
    let file = dir.join("tinyproxy.conf");
    std::fs::write(&file, cfg).unwrap();
    let file = file.to_str().unwrap().to_owned();
    spawn(
        "tinyproxy",
        &["-d", "-c", &file],
        dir,
        port,
        Ready::Stdout("Accepting connections"),
    )
}

/// Dante's danted: SOCKS5 without authentication for loopback clients; connections to
/// `blocked` are refused by a `socks block` rule (reply 0x02).
pub(crate) fn danted(blocked: Option<SocketAddr>) -> Daemon {
    let dir = scratch("danted");
    let port = free_port();
    let block = blocked.map_or(String::new(), |b| {
        format!(
            "socks block {{ from: 0.0.0.0/0 to: {}/32 port = {} }}\n",
            b.ip(),
            b.port()
        )
    });
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
    let (file, pid) = (
        file.to_str().unwrap().to_owned(),
        pid.to_str().unwrap().to_owned(),
    );
    // Debian installs it in /usr/sbin, which a non-login PATH may lack.
    let program = if std::path::Path::new("/usr/sbin/danted").exists() {
        "/usr/sbin/danted"
    } else {
        "danted"
    };
    spawn(
        program,
        &["-f", &file, "-p", &pid, "-N", "1"],
        dir,
        port,
        Ready::Stderr("running"),
    )
}

/// microsocks: SOCKS5 with username/password (RFC 1929) when `auth` is given.
pub(crate) fn microsocks(auth: Option<(&str, &str)>) -> Daemon {
    let dir = scratch("microsocks");
    let port = free_port().to_string();
    let mut args = vec!["-i", "127.0.0.1", "-p", &port];
    if let Some((user, pass)) = auth {
        args.extend(["-u", user, "-P", pass]);
    }
    let port_num = port.parse().unwrap();
    spawn("microsocks", &args, dir, port_num, Ready::Accepts)
}
