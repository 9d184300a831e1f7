//! A program under test run as a child process, its stderr read line by line: the process
//! harness every CLI test uses.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The lines `child` writes to its (piped) stderr, read on a thread of their own.
pub fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    log
}

/// A running program and its stderr, line by line. Killed on drop if still running; when the
/// test is failing, the log lines it had not read yet are printed then (libtest shows them
/// with the failure).
pub struct Program {
    /// `None` once waited for by [`Program::terminate`].
    child: Option<Child>,
    log: mpsc::Receiver<String>,
}

impl Program {
    /// Starts `bin args --log info`.
    pub fn spawn(bin: &str, args: &[&str]) -> Self {
        Self::spawn_env(bin, args, &[])
    }

    /// [`Program::spawn`] with `env` added to its environment.
    pub fn spawn_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(bin)
            .args(args)
            .args(["--log", "info"])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = stderr_lines(&mut child);
        Self {
            child: Some(child),
            log,
        }
    }

    /// The next log line (bounded wait).
    pub fn next_line(&self) -> String {
        self.log
            .recv_timeout(Duration::from_secs(30))
            .expect("no log line within 30 s")
    }

    /// Waits (bounded) for a log line containing `needle`; earlier lines are consumed.
    pub fn wait_for(&self, needle: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no log line containing {needle:?}"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The `addr=` value of the next line containing `needle`.
    pub fn addr(&self, needle: &str) -> SocketAddr {
        let line = self.wait_for(needle);
        let at = line.find("addr=").unwrap() + 5;
        let rest = &line[at..];
        rest[..rest.find(' ').unwrap_or(rest.len())]
            .parse()
            .unwrap()
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits (bounded, 30 s) for the process to exit by itself; its exit code.
    pub fn wait_exit(mut self) -> Option<i32> {
        wait_child(self.child.take().unwrap())
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().unwrap()
    }

    /// SIGTERM, then the exit code (bounded wait).
    pub fn terminate(mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait().map(|s| s.code()));
        });
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(code) => code.unwrap(),
            Err(_) => {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                panic!("did not exit within 15 s of SIGTERM");
            }
        }
    }

    /// SIGKILL (a crash: nothing is cleaned up), then reaps the process.
    pub fn kill(mut self) {
        self.child().kill().unwrap();
        self.child().wait().unwrap();
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child
            && matches!(child.try_wait(), Ok(None))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            // The reader ends at the exited program's end of stderr (bounded wait).
            while let Ok(line) = self.log.recv_timeout(Duration::from_secs(5)) {
                eprintln!("program: {line}");
            }
        }
    }
}

/// Waits (bounded, 30 s) for `child` to exit; its exit code. Killed if it does not.
pub fn wait_child(mut child: Child) -> Option<i32> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().map(|s| s.code()));
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(code) => code.unwrap(),
        Err(_) => {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            panic!("did not exit within 30 s");
        }
    }
}
