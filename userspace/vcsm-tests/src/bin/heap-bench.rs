//! Allocation latency of dma-heaps compared with a baseline heap, run in the guest:
//!
//! ```text
//! heap-bench --heap vcsm-uncached --heap vcsm-cached --baseline linux,cma [--iters N]
//! ```
//!
//! For each heap and size it times (CLOCK_MONOTONIC) the `DMA_HEAP_IOCTL_ALLOC` ioctl alone;
//! "ready": the allocation plus its first use by the CPU (`mmap` of the whole buffer, one write
//! to every page, `munmap`), which is where a heap that defers work to the first mapping pays
//! for it; and, separately, the `close` that frees the buffer. The allocations are timed in a
//! pass of their own (allocate, free), before the first-use pass: under QEMU TCG a `munmap` of
//! 1 MiB or more flushes the vCPU's whole software TLB, and the allocation after it, of any
//! heap, spends about 80 µs refilling it. Prints a table and one line per result:
//!
//! ```text
//! @@VCSM BENCH heap=<h> size=<bytes> alloc_p50_us=<x> alloc_p99_us=<y> ready_p50_us=<u> free_p50_us=<z> ratio_p50=<r> ratio_ready_p50=<q> [label=<l>]
//! @@VCSM BENCH-ERROR heap=<h> size=<bytes|-> error=<reason>
//! ```
//!
//! `ratio_p50` is this heap's alloc p50 over the baseline's for the same size, `ratio_ready_p50`
//! the same for "ready" (`NaN` if the baseline has no result). `--label` names the run (e.g.
//! `cold`, `warm`); `--json` adds one `@@VCSM BENCH-JSON heap {...}` line per heap and size with
//! every sample, for the host's report (scripts/bench-report.py). Exits 1 if any heap or size
//! could not be measured.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use dmabuf::{describe_io_error, format_size, page_size, Heap, Prot, Summary};
use serde::Serialize;
use vcsm_tests::{emit, one_line};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;

#[derive(Parser, Debug)]
#[command(about = "dma-heap allocation latency, relative to a baseline heap")]
struct Args {
    /// Heap to measure (a name under /dev/dma_heap); repeat for several.
    #[arg(long = "heap", value_name = "NAME", required = true)]
    heaps: Vec<String>,

    /// Heap the ratios are computed against (measured too, even if not given with --heap).
    #[arg(long, value_name = "NAME")]
    baseline: String,

    /// Timed iterations per heap and size [default: 200 for 4K and 1M, 40 for 8M].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    iters: Option<u32>,

    /// Untimed allocations before the timed ones.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    warmup: u32,

    /// Measure only this size (bytes, K/M suffixes; repeatable) [default: 4K, 1M, 8M and 12M].
    #[arg(long = "size", value_name = "SIZE", value_parser = parse_size)]
    sizes: Vec<u64>,

    /// A name for this run in the result lines (e.g. cold, warm).
    #[arg(long, value_name = "TEXT")]
    label: Option<String>,

    /// Also print every sample as JSON (`@@VCSM BENCH-JSON heap {...}` lines).
    #[arg(long)]
    json: bool,

    /// Wait this long after every sample (untimed, spinning: a sleep would idle the CPU and
    /// make the next sample pay the wakeup), so that background work a free started (a
    /// pool's zeroing) is over before the next allocation: separates an allocation's own cost
    /// from its competition with that work.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1000))]
    gap_ms: u32,
}

/// Sizes and their default iteration counts: a page, 1 MiB, 8 MiB and a 12 MP frame (12 MiB).
const SIZES: [(u64, u32); 4] = [(4 * KIB, 200), (MIB, 200), (8 * MIB, 40), (12 * MIB, 30)];

fn parse_size(s: &str) -> Result<u64, String> {
    match dmabuf::parse_size(s) {
        Ok(0) => Err("the size must not be 0".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// One heap and size, every sample (µs), for `--json`.
#[derive(Serialize)]
struct JsonResult<'a> {
    label: Option<&'a str>,
    heap: &'a str,
    size: u64,
    baseline: &'a str,
    alloc_us: Vec<f64>,
    ready_us: Vec<f64>,
    free_us: Vec<f64>,
}

struct Measurement {
    heap: String,
    size: u64,
    alloc: Summary,
    ready: Summary,
    free: Summary,
}

/// One heap's numbers of one round, in µs: `alloc` and `free` from the round's allocation
/// pass, `ready` from its first-use pass.
struct Sample {
    alloc: f64,
    ready: f64,
    free: f64,
}

fn micros(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One allocation of the allocation pass: the `DMA_HEAP_IOCTL_ALLOC` ioctl and the `close` that
/// frees the buffer, each timed; returns both.
fn sample_alloc(heap: &Heap, size: u64) -> Result<(f64, f64), String> {
    let t0 = Instant::now();
    let res = heap.allocate(size);
    let t_alloc = t0.elapsed();
    let buf = res.map_err(|e| format!("alloc: {}", describe_io_error(&e)))?;
    let t1 = Instant::now();
    drop(buf); // close(2): frees the buffer, its only reference
    Ok((micros(t_alloc), micros(t1.elapsed())))
}

/// One allocation of the first-use pass: allocation, `mmap` of the whole buffer, one write to
/// every page and `munmap`, timed together ("ready"); then the free, untimed.
fn sample_ready(heap: &Heap, size: u64) -> Result<f64, String> {
    let t0 = Instant::now();
    let buf = heap.allocate(size).map_err(|e| format!("alloc: {}", describe_io_error(&e)))?;
    let len = usize::try_from(size).map_err(|_| format!("{size} bytes do not fit in memory"))?;
    let mut map =
        buf.mmap(0, len, Prot::READ_WRITE).map_err(|e| format!("mmap: {}", describe_io_error(&e)))?;
    for word in (0..map.words()).step_by(page_size() / 4) {
        map.write_u32(word, 0x5a5a_5a5a).map_err(|e| format!("write: {e}"))?;
    }
    drop(map); // munmap(2)
    let t_ready = t0.elapsed();
    drop(buf);
    Ok(micros(t_ready))
}

/// Takes a heap's sample of round `i` into `samples` (`measure_size`).
type TakeSample<'a> = dyn Fn(usize, &Heap, &mut Vec<Sample>) -> Result<(), String> + 'a;

/// One heap's samples for one size, or why it failed.
type Samples = Result<Vec<Sample>, String>;

/// The order in which round `round` visits `n` heaps: the rows of a Williams design (a Latin
/// square balanced for the previous heap), so that over `n` rounds (`2n` for odd `n`) every
/// heap runs in every position once and after every other heap once. What the previous
/// sample leaves behind (per-CPU page lists the next CMA allocation must drain, freed pages
/// still being zeroed, cache state) then hits every heap alike; a plain rotation puts the same
/// heap after the same one in most rounds.
fn round_order(round: usize, n: usize) -> Vec<usize> {
    // 0, 1, n-1, 2, n-2, ...: consecutive differences cover every non-zero residue once.
    let base: Vec<usize> = (0..n).map(|j| if j % 2 == 1 { j.div_ceil(2) } else { (n - j / 2) % n }).collect();
    let row = round % n;
    let mut order: Vec<usize> = base.iter().map(|b| (b + row) % n).collect();
    if n % 2 == 1 && (round / n) % 2 == 1 {
        // Odd n needs the mirrored square too.
        order.reverse();
    }
    order
}

/// Per-heap samples for one size, taken in rounds: round `i` visits every heap once, in the
/// order [`round_order`] gives, so drift in the machine (other load, page-cache state,
/// migration of movable pages) spreads evenly over every heap instead of favouring whichever
/// runs first, and sample `i` of every heap is from round `i` (the host's report pairs them).
fn measure_size(heaps: &[(String, Heap)], size: u64, iters: u32, warmup: u32, gap_ms: u32) -> Vec<Samples> {
    let gap = || {
        let t0 = Instant::now();
        while t0.elapsed().as_millis() < u128::from(gap_ms) {
            std::hint::spin_loop();
        }
    };
    let n = heaps.len();
    let mut out: Vec<Samples> = heaps.iter().map(|_| Ok(Vec::new())).collect();
    let warm_up = |out: &mut Vec<Samples>| {
        for w in 0..warmup {
            for (k, (_, heap)) in heaps.iter().enumerate() {
                if let Err(e) = sample_alloc(heap, size) {
                    out[k] = Err(format!("warm-up {w}: {e}"));
                }
                gap();
            }
        }
    };
    // Runs `iters` rounds; `take(i, heap, samples)` takes the heap's sample of round `i`. A heap
    // that fails is left out of the later rounds.
    let rounds = |out: &mut Vec<Samples>, pass: &str, take: &TakeSample<'_>| {
        for i in 0..iters as usize {
            for k in round_order(i, n) {
                let Ok(samples) = &mut out[k] else { continue };
                if let Err(e) = take(i, &heaps[k].1, samples) {
                    out[k] = Err(format!("{pass}iteration {i}: {e}"));
                }
                gap();
            }
        }
    };
    // The allocation pass: allocations and frees only. A sample's `munmap` would flush TLB
    // entries (under QEMU TCG the whole software TLB of the vCPU, for a range of 256 pages or
    // more), and the next allocation, of whichever heap, would pay for refilling it.
    warm_up(&mut out);
    rounds(&mut out, "", &|_, heap, samples| {
        let (alloc, free) = sample_alloc(heap, size)?;
        samples.push(Sample { alloc, ready: f64::NAN, free });
        Ok(())
    });
    // The first-use pass, the same rounds again; sample `i` gets round `i`'s "ready".
    warm_up(&mut out);
    rounds(&mut out, "first use, ", &|i, heap, samples| {
        let ready = sample_ready(heap, size)?;
        if let Some(s) = samples.get_mut(i) {
            s.ready = ready;
        }
        Ok(())
    });
    out
}

fn error_line(heap: &str, size: Option<u64>, reason: &str) {
    let size = size.map_or_else(|| "-".to_owned(), |s| s.to_string());
    emit(&format!("@@VCSM BENCH-ERROR heap={heap} size={size} error={}", one_line(reason)));
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut names: Vec<String> = Vec::new();
    for h in args.heaps.iter().chain(std::iter::once(&args.baseline)) {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }

    let mut ok = true;
    let mut heaps: Vec<(String, Heap)> = Vec::new();
    for name in &names {
        match Heap::open(name) {
            Ok(h) => heaps.push((name.clone(), h)),
            Err(e) => {
                error_line(name, None, &e.to_string());
                ok = false;
            }
        }
    }
    let mut results: Vec<Measurement> = Vec::new();
    let sizes: Vec<(u64, u32)> = if args.sizes.is_empty() {
        SIZES.to_vec()
    } else {
        args.sizes.iter().map(|&s| (s, SIZES.iter().find(|(z, _)| *z >= s).map_or(30, |(_, n)| *n))).collect()
    };
    for (size, default_iters) in sizes {
        let iters = args.iters.unwrap_or(default_iters);
        for ((name, _), res) in heaps.iter().zip(measure_size(&heaps, size, iters, args.warmup, args.gap_ms))
        {
            // iters >= 1 (enforced by the argument parser) and durations are never NaN.
            let summarize = |samples: Vec<Sample>| {
                let of = |f: fn(&Sample) -> f64| Summary::of(&samples.iter().map(f).collect::<Vec<_>>());
                match (of(|s| s.alloc), of(|s| s.ready), of(|s| s.free)) {
                    (Some(alloc), Some(ready), Some(free)) => Ok((alloc, ready, free)),
                    _ => Err("no samples".to_owned()),
                }
            };
            if args.json {
                if let Ok(samples) = &res {
                    let take = |f: fn(&Sample) -> f64| {
                        samples.iter().map(f).map(|x| (x * 10.0).round() / 10.0).collect()
                    };
                    let j = JsonResult {
                        label: args.label.as_deref(),
                        heap: name,
                        size,
                        baseline: &args.baseline,
                        alloc_us: take(|s| s.alloc),
                        ready_us: take(|s| s.ready),
                        free_us: take(|s| s.free),
                    };
                    match serde_json::to_string(&j) {
                        Ok(text) => emit(&format!("@@VCSM BENCH-JSON heap {text}")),
                        Err(e) => error_line(name, Some(size), &format!("json: {e}")),
                    }
                }
            }
            match res.and_then(summarize) {
                Ok((alloc, ready, free)) => {
                    results.push(Measurement { heap: name.clone(), size, alloc, ready, free })
                }
                Err(e) => {
                    error_line(name, Some(size), &e);
                    ok = false;
                }
            }
        }
    }
    results.sort_by_key(|r| names.iter().position(|n| *n == r.heap));

    let baseline = |size: u64| results.iter().find(|r| r.heap == args.baseline && r.size == size);
    let ratio = |x: f64, base: Option<f64>| match base {
        Some(b) if b > 0.0 => x / b,
        _ => f64::NAN,
    };
    let width = names.iter().map(String::len).max().unwrap_or(4).max(4);
    emit(&format!(
        "{:<width$}  {:>6}  {:>12}  {:>12}  {:>12}  {:>11}  {:>9}  {:>11}",
        "heap",
        "size",
        "alloc_p50_us",
        "alloc_p99_us",
        "ready_p50_us",
        "free_p50_us",
        "ratio_p50",
        "ratio_ready"
    ));
    let mut lines = Vec::new();
    for r in &results {
        let ratio_alloc = ratio(r.alloc.p50, baseline(r.size).map(|b| b.alloc.p50));
        let ratio_ready = ratio(r.ready.p50, baseline(r.size).map(|b| b.ready.p50));
        emit(&format!(
            "{:<width$}  {:>6}  {:>12.1}  {:>12.1}  {:>12.1}  {:>11.1}  {:>9.3}  {:>11.3}",
            r.heap,
            format_size(r.size),
            r.alloc.p50,
            r.alloc.p99,
            r.ready.p50,
            r.free.p50,
            ratio_alloc,
            ratio_ready
        ));
        lines.push(format!(
            "@@VCSM BENCH heap={} size={} alloc_p50_us={:.1} alloc_p99_us={:.1} ready_p50_us={:.1} free_p50_us={:.1} ratio_p50={:.3} ratio_ready_p50={:.3}{}",
            r.heap,
            r.size,
            r.alloc.p50,
            r.alloc.p99,
            r.ready.p50,
            r.free.p50,
            ratio_alloc,
            ratio_ready,
            args.label.as_deref().map(|l| format!(" label={l}")).unwrap_or_default()
        ));
    }
    for line in &lines {
        emit(line);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::round_order;

    /// Every heap once per round, and over a full design every heap after every other once
    /// per row set.
    #[test]
    fn williams_design_is_balanced() {
        for n in 1..=6 {
            let rows = if n % 2 == 1 { 2 * n } else { n };
            let mut after = vec![vec![0usize; n]; n];
            for r in 0..rows {
                let o = round_order(r, n);
                let mut seen = o.clone();
                seen.sort_unstable();
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "n={n} round {r}: {o:?}");
                for w in o.windows(2) {
                    after[w[0]][w[1]] += 1;
                }
            }
            let want = if n % 2 == 1 { 2 } else { 1 };
            for (a, row) in after.iter().enumerate() {
                for (b, &count) in row.iter().enumerate() {
                    if a != b {
                        assert_eq!(count, want, "n={n}: {b} after {a}");
                    }
                }
            }
        }
    }
}
