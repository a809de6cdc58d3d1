//! The raw SMEM round trip, as a baseline for the driver's import (`make bench`): through the
//! vchiq test client's debugfs `ping` file (tests/kmod/vchiq_test_client.rs), each of
//! `--threads` threads runs `--iters` IMPORT round trips against the simulated VPU, one after
//! the other, timed here around the one `write("once")` that does each (as `vcsm-tool bench`
//! times the import ioctl), then frees it with an untimed `write("free")` (as it closes the
//! import's fd). Prints
//!
//! ```text
//! @@VCSM BENCH smem-ping threads=<t> count=<n> p50_us=<x> p99_us=<y> mean_us=<m> rate_per_s=<r> kernel_p50_us=<k>
//! ```
//!
//! `rate_per_s` is round trips (with their FREE) per second of wall time over all threads;
//! `kernel_p50_us` is the client's own timing of the same round trips, from the send to the
//! reply (without the system call around it). Load `vchiq_test_client.ko` instead of
//! `vc-sm-cma.ko` (both bind the vchiq device `vcsm-cma`).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use dmabuf::Summary;
use vcsm_tests::emit;

const PING: &str = "/sys/kernel/debug/vchiq-test-client/ping";

#[derive(Parser, Debug)]
#[command(about = "raw SMEM IMPORT round trips through the vchiq test client")]
struct Args {
    /// Threads pinging at once; repeat for several runs (e.g. --threads 1 --threads 2).
    #[arg(long, value_name = "N", required = true, value_parser = clap::value_parser!(u32).range(1..=64))]
    threads: Vec<u32>,

    /// Timed round trips per thread.
    #[arg(long, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    iters: u32,

    /// Untimed round trips per thread first (the first allocates the client's ping page).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=1000))]
    warmup: u32,
}

fn write(file: &mut File, what: &str) -> Result<(), String> {
    file.write_all(what.as_bytes()).map_err(|e| format!("{PING}: {what}: {e}"))
}

/// One thread's round trips, in µs.
fn pinger(iters: u32, warmup: u32) -> Result<Vec<f64>, String> {
    let mut file = OpenOptions::new().write(true).open(PING).map_err(|e| format!("{PING}: {e}"))?;
    let mut samples = Vec::with_capacity(iters as usize);
    for i in 0..warmup + iters {
        let t0 = Instant::now();
        write(&mut file, "once")?;
        let dt = t0.elapsed();
        write(&mut file, "free")?;
        if i >= warmup {
            samples.push(dt.as_secs_f64() * 1e6);
        }
    }
    Ok(samples)
}

fn run(threads: u32, iters: u32, warmup: u32) -> Result<String, String> {
    fs::write(PING, "reset").map_err(|e| format!("{PING}: reset: {e}"))?;
    let start = Instant::now();
    let results: Vec<Result<Vec<f64>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(move || pinger(iters, warmup))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a ping thread panicked".into())))
            .collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    let sum = Summary::of(&all).ok_or("no round trips")?;
    let total = u64::from(threads) * u64::from(warmup + iters);
    let text = fs::read_to_string(PING).map_err(|e| format!("{PING}: {e}"))?;
    // The file reads "count N p50_ns P p99_ns Q mean_ns M": pairs of words.
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let get = |k: &str| words.windows(2).find(|w| w[0] == k).and_then(|w| w[1].parse::<f64>().ok());
    match (get("count"), get("p50_ns")) {
        (Some(n), Some(kp50)) if n as u64 == total => Ok(format!(
            "@@VCSM BENCH smem-ping threads={threads} count={} p50_us={:.1} p99_us={:.1} mean_us={:.1} rate_per_s={:.0} kernel_p50_us={:.1}",
            sum.count,
            sum.p50,
            sum.p99,
            sum.mean,
            total as f64 / wall,
            kp50 / 1e3
        )),
        _ => Err(format!("{PING} reads '{}', expected {total} round trips", text.trim())),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut ok = true;
    for &t in &args.threads {
        match run(t, args.iters, args.warmup) {
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
