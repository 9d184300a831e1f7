//! Byte-exact transfer of 256 MiB each way at once, through the copy and the splice paths.

use std::time::Duration;

use ferry_bridge::{Bridge, BridgeConfig, End, Outcome, Session, SplicePolicy};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::util::{GUARD, recv_hash, send_random, tcp_bridge_ends};

const SIZE: u64 = 256 << 20;

struct Run {
    outcome: Outcome,
    sent_up: [u8; 32],
    got_up: (u64, [u8; 32]),
    sent_down: [u8; 32],
    got_down: (u64, [u8; 32]),
}

async fn run_both_ways(policy: SplicePolicy) -> Run {
    let bridge = Bridge::new(BridgeConfig::default().splice(policy));
    let (client, a, b, upstream) = tcp_bridge_ends().await;
    let (client_r, client_w) = client.into_split();
    let (upstream_r, upstream_w) = upstream.into_split();
    let start = Instant::now();
    let ((outcome, cpu), sent_up, got_up, sent_down, got_down) = timeout(GUARD, async {
        tokio::join!(
            run_on_own_thread(bridge, a, b),
            tokio::spawn(send_random(client_w, 1, SIZE)),
            tokio::spawn(recv_hash(upstream_r)),
            tokio::spawn(send_random(upstream_w, 2, SIZE)),
            tokio::spawn(recv_hash(client_r)),
        )
    })
    .await
    .expect("transfer finished in time");
    let elapsed = start.elapsed();
    let mib = (2 * SIZE) as f64 / f64::from(1 << 20);
    println!(
        "{policy:?}: 2 x {} MiB in {elapsed:.2?} ({:.0} MiB/s total); bridge thread CPU \
         {cpu:.2?} ({:.2} s/GiB); spliced = {}",
        SIZE >> 20,
        mib / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1024.0 / mib,
        outcome.spliced
    );
    Run {
        outcome,
        sent_up: sent_up.unwrap(),
        got_up: got_up.unwrap(),
        sent_down: sent_down.unwrap(),
        got_down: got_down.unwrap(),
    }
}

/// Runs the session on a thread of its own (with its own runtime) and measures that thread's
/// CPU time, which is what splice is meant to save.
async fn run_on_own_thread(bridge: Bridge, a: TcpStream, b: TcpStream) -> (Outcome, Duration) {
    let (a, b) = (a.into_std().unwrap(), b.into_std().unwrap());
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let before = thread_cpu();
        let outcome = runtime.block_on(async {
            let a = TcpStream::from_std(a).unwrap();
            let b = TcpStream::from_std(b).unwrap();
            bridge.run_tcp(a, b, Session::new()).await
        });
        (outcome, thread_cpu().saturating_sub(before))
    })
    .await
    .unwrap()
}

/// CPU time (user + system) of the calling thread, from `/proc` (zero where unavailable).
fn thread_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return Duration::ZERO;
    };
    // After the command name (which may contain spaces), utime and stime are the 12th and 13th
    // fields, in clock ticks of 1/100 s.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn check(run: &Run) {
    assert!(
        matches!(run.outcome.end, End::Closed),
        "{:?}",
        run.outcome.end
    );
    assert_eq!(
        run.got_up,
        (SIZE, run.sent_up),
        "client -> upstream bytes differ"
    );
    assert_eq!(
        run.got_down,
        (SIZE, run.sent_down),
        "upstream -> client bytes differ"
    );
    assert_eq!(run.outcome.a_to_b, SIZE);
    assert_eq!(run.outcome.b_to_a, SIZE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_splice_paths_move_256_mib_each_way_identically() {
    let copy = run_both_ways(SplicePolicy::Off).await;
    check(&copy);
    assert!(!copy.outcome.spliced);

    let spliced = run_both_ways(SplicePolicy::Auto).await;
    check(&spliced);
    assert_eq!(spliced.outcome.spliced, cfg!(target_os = "linux"));

    // Differential: same payload, same bytes out, same counts.
    assert_eq!(copy.got_up, spliced.got_up);
    assert_eq!(copy.got_down, spliced.got_down);
    assert_eq!(
        (copy.outcome.a_to_b, copy.outcome.b_to_a),
        (spliced.outcome.a_to_b, spliced.outcome.b_to_a)
    );
}
