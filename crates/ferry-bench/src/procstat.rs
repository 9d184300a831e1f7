//! CPU time and resident memory of another process, read from `/proc` (Linux only).
//!
//! The `tree_*` functions cover the process and all its descendants, for programs that do their
//! work in child processes (nginx's master forks its workers, which do the relaying): the
//! bench only knows the pid it started.

use std::time::Duration;

/// CPU time (user + system) a process has used so far.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let (user, system) = cpu_times(pid)?;
    Some(user + system)
}

/// User and system (kernel) CPU time a process has used so far.
pub(crate) fn cpu_times(pid: u32) -> Option<(Duration, Duration)> {
    let f = stat_fields(pid)?;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    Some((
        Duration::from_secs_f64(f.utime as f64 / ticks),
        Duration::from_secs_f64(f.stime as f64 / ticks),
    ))
}

/// The fields of `/proc/PID/stat` the bench uses (times in clock ticks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    ppid: u32,
    utime: u64,
    stime: u64,
    /// CPU time of children that exited and were waited for (it moves to the parent then).
    cutime: u64,
    cstime: u64,
}

fn stat_fields(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_stat(stat: &str) -> Option<Stat> {
    // Fields after the command name (which may hold spaces or parentheses) start after the
    // last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // ppid is field 4 of the whole line (index 1 after ") "); utime, stime, cutime and cstime
    // are fields 14 to 17 (indexes 11 to 14).
    let num = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(Stat {
        ppid: u32::try_from(num(1)?).ok()?,
        utime: num(11)?,
        stime: num(12)?,
        cutime: num(13)?,
        cstime: num(14)?,
    })
}

/// `pid` and every live descendant of it (children, their children, ...), `pid` first; empty
/// when `pid` is gone. Scans `/proc` once.
pub(crate) fn tree(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, stat_fields(p)?.ppid)))
        .collect();
    descendants(pid, &parents)
}

/// `root` (if in `parents`) and its descendants in the `(pid, ppid)` list, `root` first.
fn descendants(root: u32, parents: &[(u32, u32)]) -> Vec<u32> {
    if !parents.iter().any(|&(p, _)| p == root) {
        return Vec::new();
    }
    let mut out = vec![root];
    let mut i = 0;
    while let Some(&parent) = out.get(i) {
        out.extend(
            parents
                .iter()
                .filter(|&&(p, pp)| pp == parent && p != root)
                .map(|&(p, _)| p),
        );
        i += 1;
    }
    out
}

/// CPU time (user + system) used so far by `pid` and its descendants: the live ones, and those
/// that exited and were waited for by a process of the tree (counted in the waiter's
/// `cutime`/`cstime`). For a single process without children this is [`cpu_time`].
pub(crate) fn tree_cpu_time(pid: u32) -> Option<Duration> {
    let pids = tree(pid);
    if pids.is_empty() {
        return None;
    }
    let ticks: u64 = pids
        .iter()
        .filter_map(|&p| stat_fields(p))
        .map(|s| s.utime + s.stime + s.cutime + s.cstime)
        .sum();
    Some(Duration::from_secs_f64(
        ticks as f64 / rustix::param::clock_ticks_per_second() as f64,
    ))
}

/// Resident set size in bytes of `pid` and its live descendants, summed (pages shared between
/// them, such as a forked worker's copy of its master's, count once per process; the bench
/// reads differences, to which only newly touched pages contribute). For a single process
/// this is [`rss_bytes`].
pub(crate) fn tree_rss_bytes(pid: u32) -> Option<u64> {
    let pids = tree(pid);
    if pids.is_empty() {
        return None;
    }
    Some(pids.iter().filter_map(|&p| rss_bytes(p)).sum())
}

/// Resident set size in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// UDP datagrams the kernel dropped so far because a socket's receive buffer was full
/// (`RcvbufErrors` in `/proc/net/snmp`), for every socket on the host.
pub(crate) fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let column = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// Voluntary context switches so far of every thread of `pid` and its live descendants: how
/// often they went to sleep waiting for something (each one a wake-up later), from
/// `voluntary_ctxt_switches` in `/proc/PID/task/TID/status`. Threads that ended are not
/// counted. `None` when `pid` is gone.
pub(crate) fn tree_wakeups(pid: u32) -> Option<u64> {
    let pids = tree(pid);
    if pids.is_empty() {
        return None;
    }
    let mut sum = 0;
    for p in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.filter_map(Result::ok) {
            sum += task_wakeups(&task.path()).unwrap_or(0);
        }
    }
    Some(sum)
}

/// `voluntary_ctxt_switches` of the thread whose `/proc` directory is `task`.
fn task_wakeups(task: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(task.join("status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
        .trim()
        .parse()
        .ok()
}

/// The whole machine's CPU ticks so far, from the first line of `/proc/stat`: busy (every
/// field but idle and iowait) and total, summed over all cores; and the cores (`cpuN` lines).
pub(crate) fn machine_ticks() -> Option<MachineTicks> {
    parse_machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// Busy and total CPU ticks of the machine (see [`machine_ticks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MachineTicks {
    pub(crate) busy: u64,
    pub(crate) total: u64,
    pub(crate) cores: usize,
}

impl MachineTicks {
    /// Cores kept busy on average from `self` to `later`.
    pub(crate) fn cores_busy(self, later: Self) -> Option<f64> {
        let total = later.total.checked_sub(self.total).filter(|&t| t > 0)?;
        let busy = later.busy.checked_sub(self.busy)?;
        Some(busy as f64 / total as f64 * later.cores as f64)
    }
}

fn parse_machine_ticks(stat: &str) -> Option<MachineTicks> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    let cores = stat
        .lines()
        .filter(|l| {
            l.strip_prefix("cpu")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    Some(MachineTicks {
        busy: total.checked_sub(idle)?,
        total,
        cores: cores.max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn wakeups_count_a_threads_sleeps() {
        // This thread's own count: other test threads ending would lower the process's sum.
        let me = std::path::Path::new("/proc/thread-self");
        let before = task_wakeups(me).unwrap();
        // Each park blocks this thread in the kernel (no unpark token is set): one
        // voluntary switch each.
        for _ in 0..5 {
            std::thread::park_timeout(Duration::from_millis(1));
        }
        let after = task_wakeups(me).unwrap();
        assert!(after >= before + 5, "{before} then {after}");
        assert!(tree_wakeups(std::process::id()).is_some_and(|n| n >= after));
        assert!(tree_wakeups(u32::MAX).is_none());
    }

    #[test]
    fn machine_ticks_leave_idle_and_iowait_out_of_busy() {
        let stat = "cpu  100 5 50 800 40 3 2 0 7 0\n\
                    cpu0 50 2 25 400 20 1 1 0 3 0\n\
                    cpu1 50 3 25 400 20 2 1 0 4 0\n\
                    intr 1 2\n";
        let t = parse_machine_ticks(stat).unwrap();
        // guest (7) is already counted in user: not added again.
        assert_eq!(
            t,
            MachineTicks {
                busy: 160,
                total: 1000,
                cores: 2
            }
        );
        let later = MachineTicks {
            busy: 260,
            total: 1200,
            cores: 2,
        };
        assert_eq!(t.cores_busy(later), Some(1.0));
        assert_eq!(t.cores_busy(t), None);
        assert!(parse_machine_ticks("intr 1 2 3\n").is_none());
        assert!(machine_ticks().is_some(), "this machine has /proc/stat");
    }

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = "42 (a) b (c)) S 7 42 42 0 -1 4194304 100 0 0 0 11 22 33 44 20 0 1 0 5 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            Stat {
                ppid: 7,
                utime: 11,
                stime: 22,
                cutime: 33,
                cstime: 44
            }
        );
        assert!(parse_stat("42 (truncated").is_none());
    }

    #[test]
    fn descendants_walks_the_whole_tree() {
        // 1 -> 10 -> {11, 12}, 12 -> 13; 20 is unrelated; 30's parent is 13.
        let parents = [
            (1, 0),
            (10, 1),
            (11, 10),
            (12, 10),
            (13, 12),
            (20, 1),
            (30, 13),
        ];
        let mut d = descendants(10, &parents);
        assert_eq!(d[0], 10);
        d.sort_unstable();
        assert_eq!(d, [10, 11, 12, 13, 30]);
        assert_eq!(descendants(11, &parents), [11]);
        assert!(descendants(99, &parents).is_empty());
    }

    /// Kills `pids` (children first), then waits for `sh`.
    fn kill_all(sh: &mut std::process::Child, pids: &[u32]) {
        for &p in pids.iter().rev() {
            if let Some(pid) = i32::try_from(p)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = sh.wait();
    }

    /// `sh -c script`, started.
    fn sh(script: &str) -> std::process::Child {
        Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Polls `/proc` (no sleeping) until `done` holds for `tree(pid)`, for at most 10 s.
    fn poll_tree(pid: u32, done: impl Fn(&[u32]) -> bool) -> Vec<u32> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let t = tree(pid);
            if done(&t) || tokio::time::Instant::now() >= deadline {
                return t;
            }
            std::thread::yield_now();
        }
    }

    /// A real process tree: `sh` starting two `sleep`s in the background and waiting for them,
    /// as nginx's master waits for its workers.
    #[test]
    fn tree_finds_real_children() {
        let mut sh = sh("sleep 30 & sleep 30 & wait");
        let pid = sh.id();
        let found = poll_tree(pid, |t| t.len() >= 3);
        kill_all(&mut sh, &found);
        assert_eq!(found.len(), 3, "sh and its two sleeps: {found:?}");
        assert_eq!(found[0], pid);
        assert!(!found.contains(&std::process::id()));
    }

    /// The CPU time of a busy child is counted for its parent's tree, not for the parent.
    #[test]
    fn tree_cpu_time_counts_children() {
        let mut sh = sh("while :; do :; done & wait");
        let pid = sh.id();
        let found = poll_tree(pid, |t| {
            t.len() >= 2
                && matches!(
                    (tree_cpu_time(pid), cpu_time(pid)),
                    (Some(all), Some(own)) if all > own
                )
        });
        let (all, own) = (tree_cpu_time(pid), cpu_time(pid));
        let (all_rss, own_rss) = (tree_rss_bytes(pid), rss_bytes(pid));
        kill_all(&mut sh, &found);
        assert_eq!(found.len(), 2, "sh and its busy subshell: {found:?}");
        assert!(all.unwrap() > own.unwrap(), "{all:?} {own:?}");
        assert!(
            all_rss.unwrap() > own_rss.unwrap(),
            "{all_rss:?} {own_rss:?}"
        );
    }

    /// For a process without children the tree figures are the process's own.
    #[test]
    fn tree_figures_of_a_single_process() {
        let mut sleep = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = sleep.id();
        // Until it runs `sleep` and sleeps (after the exec, so its memory no longer changes).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.contains("(sleep) S"))
            && tokio::time::Instant::now() < deadline
        {
            std::thread::yield_now();
        }
        let t = tree(pid);
        let (all, own) = (tree_cpu_time(pid), cpu_time(pid));
        let (all_rss, own_rss) = (tree_rss_bytes(pid), rss_bytes(pid));
        kill_all(&mut sleep, &[pid]);
        assert_eq!(t, [pid]);
        assert_eq!(all, own);
        assert!(all.is_some());
        assert_eq!(all_rss, own_rss);
        assert!(tree(u32::MAX).is_empty());
        assert!(tree_cpu_time(u32::MAX).is_none() && tree_rss_bytes(u32::MAX).is_none());
    }
}
