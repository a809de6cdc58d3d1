//! The raw SMEM round trip, as a baseline for the driver's import (`make bench`): through the
//! vchiq test client's debugfs `ping` file (tests/kmod/vchiq_test_client.rs), each of
//! `--threads` threads runs `--iters` IMPORT round trips against the simulated VPU, one after
//! the other; the client times each from the send to the reply, in the kernel. Prints
//!
//! ```text
//! @@VCSM BENCH smem-ping threads=<t> count=<n> p50_us=<x> p99_us=<y> mean_us=<m> rate_per_s=<r>
//! ```
//!
//! `rate_per_s` is round trips per second of wall time over all threads (each round trip also
//! sends an untimed FREE, as an import is later freed). Load `vchiq_test_client.ko` instead of
//! `vc-sm-cma.ko` (both bind the vchiq device `vcsm-cma`).

use std::fs;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use vcsm_tests::emit;

const PING: &str = "/sys/kernel/debug/vchiq-test-client/ping";

#[derive(Parser, Debug)]
#[command(about = "raw SMEM IMPORT round trips through the vchiq test client")]
struct Args {
    /// Threads pinging at once; repeat for several runs (e.g. --threads 1 --threads 2).
    #[arg(long, value_name = "N", required = true, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: Vec<u32>,

    /// Round trips per thread.
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    iters: u32,
}

fn run(threads: u32, iters: u32) -> Result<String, String> {
    fs::write(PING, "reset").map_err(|e| format!("{PING}: reset: {e}"))?;
    let start = Instant::now();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    fs::write(PING, iters.to_string()).map_err(|e| format!("{PING}: ping {iters}: {e}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a ping thread panicked".into())))
            .collect()
    });
    let wall = start.elapsed().as_secs_f64();
    for r in results {
        r?;
    }
    let text = fs::read_to_string(PING).map_err(|e| format!("{PING}: {e}"))?;
    // The file reads "count N p50_ns P p99_ns Q mean_ns M": pairs of words.
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let get = |k: &str| words.windows(2).find(|w| w[0] == k).and_then(|w| w[1].parse::<f64>().ok());
    match (get("count"), get("p50_ns"), get("p99_ns"), get("mean_ns")) {
        (Some(n), Some(p50), Some(p99), Some(mean)) if n as u64 == u64::from(threads) * u64::from(iters) => Ok(format!(
            "@@VCSM BENCH smem-ping threads={threads} count={n} p50_us={:.1} p99_us={:.1} mean_us={:.1} rate_per_s={:.0}",
            p50 / 1e3,
            p99 / 1e3,
            mean / 1e3,
            n / wall
        )),
        _ => Err(format!("{PING} reads '{}', expected {} round trips", text.trim(), threads * iters)),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut ok = true;
    for &t in &args.threads {
        match run(t, args.iters) {
            Ok(line) => emit(&line),
            Err(e) => {
                emit(&format!("@@VCSM BENCH-ERROR smem-ping threads={t} error={e}"));
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
