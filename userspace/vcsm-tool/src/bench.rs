//! `vcsm-tool bench`: latency and rate of import/free (`VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF`
//! and closing the wrapper, which sends FREE), alloc/free (`VC_SM_CMA_IOCTL_MEM_ALLOC` and
//! close) and, as a baseline, dma-heap alloc/free, from one or several threads at once; and the
//! per-frame import cost of a streaming pipeline (`--what frames`): a ring of frame buffers
//! imported on every frame (bcm2835-isp's lens-shading table, imported each time it is set)
//! against imported once and reused (MMAL's zero-copy ports, vcsm-tool stream).

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use dmabuf::Summary;

use crate::error::{Error, Result};
use crate::json::{JsonExt, Value};
use crate::output::{human_size, Align, Table};
use crate::paths::Paths;
use crate::source::{alloc_from_heap, open_heap};
use crate::vcsm::Vcsm;

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    /// Import a dma-heap buffer into the VPU, then close the wrapper (FREE).
    Import,
    /// VC_SM_CMA_IOCTL_MEM_ALLOC, then close the buffer (FREE).
    Alloc,
    /// DMA_HEAP_IOCTL_ALLOC from --heap, then close (no VPU involved: the baseline).
    Heap,
    /// A ring of --buffers frame buffers of --size from --heap: each frame imported and freed
    /// again (import every frame), against each buffer imported once, on first use, and reused.
    Frames,
}

impl What {
    /// The two timed operations of one iteration.
    pub fn ops(self) -> [&'static str; 2] {
        match self {
            What::Import => ["import", "free"],
            What::Alloc => ["alloc", "free"],
            What::Heap => ["heap-alloc", "close"],
            What::Frames => ["import-every-frame", "import-once-reuse"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            What::Import => "import",
            What::Alloc => "alloc",
            What::Heap => "heap",
            What::Frames => "frames",
        }
    }
}

/// A benchmark run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub what: What,
    pub size: u64,
    /// Timed iterations per thread.
    pub iters: usize,
    /// Untimed iterations per thread first.
    pub warmup: usize,
    pub threads: usize,
    /// The heap the import source buffers (or the baseline's buffers) come from.
    pub heap: String,
    /// Frame buffers in the ring of `--what frames` (a camera queue's depth).
    pub buffers: usize,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub config: Config,
    /// Latency summaries (microseconds) of the two operations.
    pub ops: [(&'static str, Summary); 2],
    /// Wall-clock time of the timed part.
    pub wall: Duration,
}

impl Report {
    /// Completed iterations (both operations) per second, over all threads.
    pub fn rate(&self) -> f64 {
        let n = self.ops[0].1.count as f64;
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            n / secs
        } else {
            f64::NAN
        }
    }

    /// The text report.
    pub fn render(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "bench {}: {} buffers, {} thread{} x {} iterations{}\n",
            c.what.name(),
            human_size(c.size),
            c.threads,
            if c.threads == 1 { "" } else { "s" },
            c.iters,
            match c.what {
                What::Alloc => String::new(),
                _ => format!(", heap {}", c.heap),
            }
        );
        let mut t = Table::new(&[
            ("OP", Align::Left),
            ("COUNT", Align::Right),
            ("P50 us", Align::Right),
            ("P99 us", Align::Right),
            ("MIN us", Align::Right),
            ("MAX us", Align::Right),
            ("MEAN us", Align::Right),
        ]);
        for (name, s) in &self.ops {
            t.row(vec![
                (*name).to_owned(),
                s.count.to_string(),
                format!("{:.1}", s.p50),
                format!("{:.1}", s.p99),
                format!("{:.1}", s.min),
                format!("{:.1}", s.max),
                format!("{:.1}", s.mean),
            ]);
        }
        out.push_str(&t.render());
        if c.what == What::Frames {
            let (every, once) = (self.ops[0].1.mean, self.ops[1].1.mean);
            out.push_str(&format!(
                "per frame: importing every frame costs {every:.1} us, importing once and reusing {once:.2} us ({:.0}x less); at 30 fps importing every frame takes {:.2}% of each 33.3 ms frame interval\n",
                if once > 0.0 { every / once } else { f64::INFINITY },
                every / 33_333.3 * 100.0
            ));
            return out;
        }
        out.push_str(&format!(
            "rate: {:.0} {}+{} per second ({:.3} s wall)\n",
            self.rate(),
            self.ops[0].0,
            self.ops[1].0,
            self.wall.as_secs_f64()
        ));
        out
    }

    /// The JSON report.
    pub fn to_json(&self) -> Value {
        let c = &self.config;
        let mut ops = Value::object();
        for (name, s) in &self.ops {
            ops.push(
                name,
                Value::object()
                    .with("count", s.count)
                    .with("p50_us", s.p50)
                    .with("p99_us", s.p99)
                    .with("min_us", s.min)
                    .with("max_us", s.max)
                    .with("mean_us", s.mean),
            );
        }
        Value::object()
            .with("what", c.what.name())
            .with("size", c.size)
            .with("threads", c.threads)
            .with("iters", c.iters)
            .with("heap", if c.what == What::Alloc { None } else { Some(c.heap.clone()) })
            .with("ops", ops)
            .with("rate_per_s", self.rate())
            .with("wall_s", self.wall.as_secs_f64())
    }
}

/// `[#####.....]  50/100` for a progress bar `width` characters wide inside the brackets.
pub fn progress_line(done: usize, total: usize, width: usize) -> String {
    let filled = (done.min(total) * width).checked_div(total).unwrap_or(width);
    format!("[{}{}] {done}/{total}", "#".repeat(filled), ".".repeat(width - filled))
}

/// Whether stderr is a terminal (the progress bar is shown only then).
pub fn stderr_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// Samples of one thread: microseconds of each of the two operations.
type Samples = (Vec<f64>, Vec<f64>);

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One thread of `--what frames`: `cfg.iters` frames over a ring of `cfg.buffers` buffers,
/// first importing and freeing each frame's buffer (after `cfg.warmup` untimed frames), then
/// importing each buffer on its first frame and reusing the import; the one-time imports and
/// the final frees are counted in the frames where they happen.
fn frames_worker(
    cfg: &Config,
    paths: &Paths,
    dev: &Vcsm,
    done: &AtomicUsize,
    stop: &AtomicBool,
) -> Result<Samples> {
    let ring =
        (0..cfg.buffers).map(|_| alloc_from_heap(paths, &cfg.heap, cfg.size)).collect::<Result<Vec<_>>>()?;
    let mut every = Vec::with_capacity(cfg.iters);
    for i in 0..cfg.warmup + cfg.iters {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let t0 = Instant::now();
        let imported = dev.import(ring[i % cfg.buffers].as_fd())?;
        drop(imported);
        if i >= cfg.warmup {
            every.push(micros(t0.elapsed()));
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
    let mut once = Vec::with_capacity(cfg.iters);
    let mut handles: Vec<Option<crate::vcsm::VcsmBuf>> = (0..cfg.buffers).map(|_| None).collect();
    for i in 0..cfg.iters {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let t0 = Instant::now();
        let slot = &mut handles[i % cfg.buffers];
        if slot.is_none() {
            *slot = Some(dev.import(ring[i % cfg.buffers].as_fd())?);
        }
        // The frame's message to the VPU carries the handle (MMAL's buffer header).
        std::hint::black_box(slot.as_ref().map(|h| h.vc_handle));
        if i + 1 == cfg.iters {
            handles.clear();
        }
        once.push(micros(t0.elapsed()));
    }
    Ok((every, once))
}

/// One thread's iterations. `done` counts finished timed iterations; `stop` is set by a
/// failing thread so the others finish early.
fn worker(
    cfg: &Config,
    paths: &Paths,
    dev: Option<&Vcsm>,
    done: &AtomicUsize,
    stop: &AtomicBool,
) -> Result<Samples> {
    let mut first = Vec::with_capacity(cfg.iters);
    let mut second = Vec::with_capacity(cfg.iters);
    let need_dev = || dev.ok_or_else(|| Error::failed("bench: no /dev/vcsm-cma handle (a vcsm-tool bug)"));
    if cfg.what == What::Frames {
        return frames_worker(cfg, paths, need_dev()?, done, stop);
    }
    // The import source: one buffer per thread, imported over and over.
    let source = match cfg.what {
        What::Import => Some(alloc_from_heap(paths, &cfg.heap, cfg.size)?),
        _ => None,
    };
    let heap = match cfg.what {
        What::Heap => Some(open_heap(paths, &cfg.heap)?),
        _ => None,
    };
    let size32 =
        u32::try_from(cfg.size).map_err(|_| Error::usage("bench --what alloc: size above 4G - 1"))?;
    for i in 0..cfg.warmup + cfg.iters {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let t0 = Instant::now();
        let held = match (cfg.what, &source, &heap) {
            (What::Import, Some(src), _) => need_dev()?.import(src.as_fd())?.buf,
            (What::Alloc, _, _) => need_dev()?.alloc(size32, "vcsm-tool-bench")?.buf,
            (What::Heap, _, Some(heap)) => heap.allocate(cfg.size).map_err(|e| {
                crate::error::op_error(&heap.path().display().to_string(), crate::error::Op::HeapAlloc, &e)
            })?,
            _ => return Err(Error::failed("bench: inconsistent set-up (a vcsm-tool bug)")),
        };
        let t1 = Instant::now();
        drop(held);
        let t2 = Instant::now();
        if i >= cfg.warmup {
            first.push(micros(t1 - t0));
            second.push(micros(t2 - t1));
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok((first, second))
}

/// Run the benchmark. `progress` shows a bar on stderr while it runs.
pub fn run(paths: &Paths, cfg: &Config, progress: bool) -> Result<Report> {
    if cfg.threads == 0 || cfg.iters == 0 {
        return Err(Error::usage("bench: --threads and --iters must be at least 1"));
    }
    let dev = match cfg.what {
        What::Import | What::Alloc | What::Frames => Some(Vcsm::open(paths)?),
        What::Heap => None,
    };
    let total = cfg.iters * cfg.threads;
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let finished = AtomicBool::new(false);
    let start = Instant::now();
    let results: Vec<Result<Samples>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.threads)
            .map(|_| {
                s.spawn(|| {
                    let r = worker(cfg, paths, dev.as_ref(), &done, &stop);
                    if r.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        let bar = progress.then(|| {
            s.spawn(|| {
                let mut err = std::io::stderr();
                while !finished.load(Ordering::Relaxed) {
                    let _ = write!(err, "\r{}", progress_line(done.load(Ordering::Relaxed), total, 40));
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = write!(err, "\r{}\n", progress_line(done.load(Ordering::Relaxed), total, 40));
            })
        });
        let results = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::failed("bench: a worker thread panicked"))))
            .collect();
        finished.store(true, Ordering::Relaxed);
        if let Some(bar) = bar {
            let _ = bar.join();
        }
        results
    });
    let wall = start.elapsed();
    let mut first = Vec::with_capacity(total);
    let mut second = Vec::with_capacity(total);
    for r in results {
        let (a, b) = r?;
        first.extend(a);
        second.extend(b);
    }
    let [op1, op2] = cfg.what.ops();
    let (Some(s1), Some(s2)) = (Summary::of(&first), Summary::of(&second)) else {
        return Err(Error::failed("bench: no samples"));
    };
    Ok(Report { config: cfg.clone(), ops: [(op1, s1), (op2, s2)], wall })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn progress_bar() {
        assert_eq!(progress_line(0, 10, 10), "[..........] 0/10");
        assert_eq!(progress_line(5, 10, 10), "[#####.....] 5/10");
        assert_eq!(progress_line(10, 10, 4), "[####] 10/10");
        assert_eq!(progress_line(12, 10, 4), "[####] 12/10");
        assert_eq!(progress_line(0, 0, 3), "[###] 0/0");
    }

    fn cfg(what: What) -> Config {
        Config { what, size: 4096, iters: 3, warmup: 1, threads: 2, heap: "vcsm-uncached".into(), buffers: 4 }
    }

    #[test]
    fn report_formats() {
        let s = Summary::of(&[10.0, 20.0, 30.0, 40.0]).unwrap();
        let r = Report {
            config: cfg(What::Import),
            ops: [("import", s), ("free", s)],
            wall: Duration::from_millis(2),
        };
        assert_eq!(r.rate(), 2000.0);
        let text = r.render();
        assert!(
            text.starts_with("bench import: 4 KiB buffers, 2 threads x 3 iterations, heap vcsm-uncached\n"),
            "{text}"
        );
        assert!(text.contains("OP      COUNT  P50 us  P99 us  MIN us  MAX us  MEAN us\n"), "{text}");
        assert!(text.contains("import      4    20.0    40.0    10.0    40.0     25.0\n"), "{text}");
        assert!(text.ends_with("rate: 2000 import+free per second (0.002 s wall)\n"), "{text}");
        let j = r.to_json().to_json();
        assert!(j.starts_with(r#"{"what":"import","size":4096,"threads":2,"iters":3,"heap":"vcsm-uncached","ops":{"import":{"count":4,"p50_us":20.0,"p99_us":40.0,"#), "{j}");
        assert!(j.ends_with(r#""rate_per_s":2000.0,"wall_s":0.002}"#), "{j}");
        let r = Report { config: cfg(What::Alloc), ops: [("alloc", s), ("free", s)], wall: Duration::ZERO };
        assert!(r.rate().is_nan());
        assert!(r.render().starts_with("bench alloc: 4 KiB buffers, 2 threads x 3 iterations\n"));
        assert!(r.to_json().to_json().contains(r#""heap":null"#));
    }

    #[test]
    fn frames_report_compares_the_two_patterns() {
        let every = Summary::of(&[100.0, 300.0]).unwrap();
        let once = Summary::of(&[0.0, 4.0]).unwrap();
        let r = Report {
            config: cfg(What::Frames),
            ops: [("import-every-frame", every), ("import-once-reuse", once)],
            wall: Duration::from_millis(1),
        };
        let text = r.render();
        assert!(
            text.starts_with("bench frames: 4 KiB buffers, 2 threads x 3 iterations, heap vcsm-uncached\n"),
            "{text}"
        );
        assert!(
            text.ends_with("per frame: importing every frame costs 200.0 us, importing once and reusing 2.00 us (100x less); at 30 fps importing every frame takes 0.60% of each 33.3 ms frame interval\n"),
            "{text}"
        );
        assert!(r.to_json().to_json().contains(r#""ops":{"import-every-frame":{"count":2,"p50_us":"#));
    }

    #[test]
    fn failures_are_reported_not_hidden() {
        let t = TempDir::new("bench");
        let paths = Paths::new(t.path());
        // No /dev/vcsm-cma.
        let e = run(&paths, &cfg(What::Import), false).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        // No heap.
        let e = run(&paths, &cfg(What::Heap), false).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("no such heap"), "{e}");
        // A "heap" that is a plain file: every thread fails its first allocation.
        t.write("dev/dma_heap/vcsm-uncached", "");
        let e = run(&paths, &cfg(What::Heap), false).unwrap_err();
        assert!(e.to_string().contains("DMA_HEAP_IOCTL_ALLOC failed: ENOTTY"), "{e}");
        let mut c = cfg(What::Heap);
        c.threads = 0;
        assert_eq!(run(&paths, &c, false).unwrap_err().exit_code(), 2);
    }
}
