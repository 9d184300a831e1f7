//! CPU time and resident memory of another process, read from `/proc` (Linux only).

use std::time::Duration;

/// CPU time (user + system) a process has used so far.
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let (user, system) = cpu_times(pid)?;
    Some(user + system)
}

/// User and system (kernel) CPU time a process has used so far.
pub(crate) fn cpu_times(pid: u32) -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ") ".
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    Some((
        Duration::from_secs_f64(utime as f64 / ticks),
        Duration::from_secs_f64(stime as f64 / ticks),
    ))
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
