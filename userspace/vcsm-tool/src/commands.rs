//! The subcommands.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use clap::CommandFactory;
use dmabuf::{describe_io_error, DmaBuf};

use crate::bench;
use crate::bufops::{self, Readback};
use crate::cli::{
    AllocArgs, AllocVpuArgs, BenchArgs, BufferSource, Cli, Command, CompletionsArgs, FillArgs, HeapsArgs,
    ImportArgs, ManArgs, OutputArgs, StatusArgs, StreamArgs, VerifyArgs,
};
use crate::error::{op_error, Error, Op, Result};
use crate::heaps;
use crate::json::{JsonExt, Value};
use crate::output::{hex32, Record};
use crate::paths::{Paths, VCSM_MODULE};
use crate::pattern::Pattern;
use crate::source::{alloc_from_heap, buf_size, check_dmabuf, exporter, take_fd};
use crate::status;
use crate::vcsm::Vcsm;

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let paths = Paths::from_env();
    match cli.command {
        Command::Heaps(a) => cmd_heaps(&paths, &a),
        Command::Stream(a) => cmd_stream(&paths, &a),
        Command::Alloc(a) => cmd_alloc(&paths, &a),
        Command::Import(a) => cmd_import(&paths, &a),
        Command::AllocVpu(a) => cmd_alloc_vpu(&paths, &a),
        Command::Fill(a) => cmd_fill(&paths, &a),
        Command::Verify(a) => cmd_verify(&paths, &a),
        Command::Status(a) => cmd_status(&paths, &a),
        Command::Bench(a) => cmd_bench(&paths, &a),
        Command::Man(a) => cmd_man(&a),
        Command::Completions(a) => cmd_completions(&a),
    }
}

/// Write `text` to stdout (a closed stdout is not worth a panic).
fn out(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Print records: one `key=value` line each, or JSON (one object, or `{"buffers": [...]}` for
/// several).
fn print_records(output: &OutputArgs, records: &[Record]) {
    if output.json {
        let value = match records {
            [one] => one.to_value(),
            many => {
                Value::object().with("buffers", Value::Array(many.iter().map(Record::to_value).collect()))
            }
        };
        out(&format!("{}\n", value.to_json()));
    } else {
        let mut text = String::new();
        for r in records {
            text.push_str(&r.to_line());
            text.push('\n');
        }
        out(&text);
    }
}

/// Keep everything alive for `secs` seconds (after the output is out).
fn hold(secs: u64, what: &str) {
    if secs == 0 {
        return;
    }
    eprintln!(
        "vcsm-tool: holding {what} for {secs} s (pid {}); interrupt or kill to release",
        std::process::id()
    );
    thread::sleep(Duration::from_secs(secs));
}

fn pid() -> u32 {
    std::process::id()
}

fn cmd_heaps(paths: &Paths, a: &HeapsArgs) -> Result<()> {
    let list = heaps::list(paths, dmabuf::page_size() as u64)?;
    if a.output.json {
        out(&format!("{}\n", heaps::to_json(&list).to_json()));
    } else {
        out(&heaps::table(&list).render());
        if let Some(note) = heaps::missing_vcsm_note(paths, &list) {
            eprintln!("{note}");
        }
    }
    Ok(())
}

fn cmd_alloc(paths: &Paths, a: &AllocArgs) -> Result<()> {
    if let Some(name) = &a.name {
        if name.len() > 31 {
            return Err(Error::usage(format!("--name {name:?}: dma-buf names are at most 31 bytes")));
        }
    }
    let mut bufs = Vec::with_capacity(a.count as usize);
    let mut records = Vec::with_capacity(a.count as usize);
    for _ in 0..a.count {
        let buf = alloc_from_heap(paths, &a.heap, a.size)?;
        let what = format!("{} (fd {})", paths.heap(&a.heap).display(), buf.as_raw_fd());
        if let Some(name) = &a.name {
            buf.set_name(name).map_err(|e| op_error(&what, Op::DmaBufSetName, &e))?;
        }
        let size = buf_size(&buf, &what)?;
        records.push(
            Record::new()
                .with("fd", buf.as_raw_fd())
                .with("size", size)
                .with("heap", a.heap.as_str())
                .with("name", a.name.clone())
                .with("pid", pid()),
        );
        bufs.push(buf);
    }
    print_records(&a.output, &records);
    hold(a.hold.hold, &format!("{} buffer(s)", bufs.len()));
    Ok(())
}

/// The buffer a command works on, and how to describe it.
struct Source {
    buf: DmaBuf,
    /// `vcsm-uncached:64K`, `fd 5`, `pid 123 fd 5`, `alloc-vpu:64K`.
    label: String,
    /// For messages: the file (heap device) or fd it came from.
    what: String,
}

fn import_source(
    paths: &Paths,
    fd: Option<crate::source::FdSpec>,
    alloc: Option<&crate::source::HeapSize>,
) -> Result<Source> {
    match (fd, alloc) {
        (Some(spec), _) => {
            let buf = take_fd(spec)?;
            let label = match spec.pid {
                Some(p) => format!("pid {p} fd {}", spec.fd),
                None => format!("fd {}", spec.fd),
            };
            check_dmabuf(&buf, &label)?;
            Ok(Source { what: label.clone(), label, buf })
        }
        (None, Some(hs)) => {
            let buf = alloc_from_heap(paths, &hs.heap, hs.size)?;
            let what = format!("{} (fd {})", paths.heap(&hs.heap).display(), buf.as_raw_fd());
            Ok(Source { buf, label: hs.to_string(), what })
        }
        (None, None) => Err(Error::usage("give --fd or --alloc")),
    }
}

fn cmd_import(paths: &Paths, a: &ImportArgs) -> Result<()> {
    // The device first: without the driver there is no point in allocating.
    let dev = Vcsm::open(paths)?;
    let src = import_source(paths, a.source.fd, a.source.alloc.as_ref())?;
    let imp = dev.import(src.buf.as_fd()).map_err(|e| e.context(format!("importing {}", src.label)))?;
    let record = Record::new()
        .with("vc_handle", format!("{:#x}", imp.vc_handle))
        .with("dma_addr", hex32(imp.dma_addr))
        .with("size", imp.size)
        .with("wrapper_fd", imp.buf.as_raw_fd())
        .with("source", src.label.as_str())
        .with("exporter", exporter(&src.buf))
        .with("source_fd", src.buf.as_raw_fd())
        .with("pid", pid());
    print_records(&a.output, &[record]);
    hold(a.hold.hold, &format!("VPU handle {:#x}", imp.vc_handle));
    // The wrapper goes first (FREE), then the source.
    drop(imp);
    drop(src);
    Ok(())
}

fn cmd_alloc_vpu(paths: &Paths, a: &AllocVpuArgs) -> Result<()> {
    if a.name.len() > 31 {
        return Err(Error::usage(format!("--name {:?}: resource names are at most 31 bytes", a.name)));
    }
    let dev = Vcsm::open(paths)?;
    let got = dev.alloc(a.size, &a.name)?;
    let size = buf_size(&got.buf, &dev.path())?;
    let record = Record::new()
        .with("vc_handle", format!("{:#x}", got.vc_handle))
        .with("dma_addr", hex32(got.dma_addr))
        .with("size", size)
        .with("fd", got.buf.as_raw_fd())
        .with("name", a.name.as_str())
        .with("pid", pid());
    print_records(&a.output, &[record]);
    hold(a.hold.hold, &format!("VPU handle {:#x}", got.vc_handle));
    Ok(())
}

/// The buffer of `fill`/`verify`, after an optional import: what the CPU maps, and the VPU's
/// view of it (if the VPU has one).
struct Prepared {
    source: Source,
    /// The wrapper from an import (kept open: it holds the VPU's handle).
    wrapper: Option<DmaBuf>,
    /// VPU handle, bus address, mapping length.
    vpu: Option<(u32, u64, u64)>,
    len: usize,
}

impl Prepared {
    /// The dma-buf the CPU accesses: the wrapper after an import, else the buffer itself.
    fn cpu_buf(&self) -> &DmaBuf {
        self.wrapper.as_ref().unwrap_or(&self.source.buf)
    }

    fn what(&self) -> String {
        match &self.wrapper {
            Some(w) => format!("wrapper of {} (fd {})", self.source.what, w.as_raw_fd()),
            None => self.source.what.clone(),
        }
    }
}

fn prepare(paths: &Paths, src: &BufferSource, import: bool) -> Result<Prepared> {
    let dev = if import || src.alloc_vpu.is_some() { Some(Vcsm::open(paths)?) } else { None };
    let (source, mut vpu) = match (&dev, src.alloc_vpu) {
        (Some(dev), Some(size)) => {
            let got = dev.alloc(size, "vcsm-tool")?;
            let what = format!("{} (fd {})", dev.path(), got.buf.as_raw_fd());
            let len = buf_size(&got.buf, &what)?;
            let source = Source {
                buf: got.buf,
                label: format!("alloc-vpu:{}", dmabuf::format_size(size.into())),
                what,
            };
            (source, Some((got.vc_handle, got.dma_addr, len)))
        }
        _ => (import_source(paths, src.fd, src.alloc.as_ref())?, None),
    };
    let size = buf_size(&source.buf, &source.what)?;
    if size == 0 {
        return Err(Error::failed(format!("{}: size 0: nothing to map", source.what)));
    }
    let len = usize::try_from(size)
        .map_err(|_| Error::failed(format!("{}: size {size} too large to map", source.what)))?;
    let wrapper = match (&dev, import) {
        (Some(dev), true) => {
            let imp = dev
                .import(source.buf.as_fd())
                .map_err(|e| e.context(format!("importing {}", source.label)))?;
            vpu = Some((imp.vc_handle, imp.dma_addr, imp.size.into()));
            Some(imp.buf)
        }
        _ => None,
    };
    Ok(Prepared { source, wrapper, vpu, len })
}

/// The fields `fill` and `verify` print.
fn pattern_record(p: &Prepared, pattern: Pattern, contents: &Readback) -> Record {
    let mut r = Record::new()
        .with("fd", p.cpu_buf().as_raw_fd())
        .with("size", p.len)
        .with("pattern", pattern.to_string())
        .with("checksum", hex32(contents.checksum.into()))
        .with("algo", "fnv1a32");
    if let Some((handle, dma, vpu_len)) = p.vpu {
        r.push("vc_handle", format!("{handle:#x}"));
        r.push("dma_addr", hex32(dma));
        r.push("vpu_size", vpu_len);
        // What the VPU computes over its mapping, if that is not the whole buffer.
        if vpu_len != p.len as u64 {
            let n = usize::try_from(vpu_len).unwrap_or(p.len).min(p.len);
            r.push("vpu_checksum", hex32(pattern.checksum(n).into()));
        }
    }
    r.push("source", p.source.label.as_str());
    r.push("pid", pid());
    r
}

fn cmd_fill(paths: &Paths, a: &FillArgs) -> Result<()> {
    let p = prepare(paths, &a.source, a.import)?;
    let what = p.what();
    bufops::fill(p.cpu_buf(), p.len, a.pattern, &what)?;
    let back = bufops::read_back(p.cpu_buf(), p.len, a.pattern, &what)?;
    if !back.matches() {
        return Err(Error::failed(format!(
            "{what}: read-back after writing {} differs: {}",
            a.pattern,
            back.describe(p.len / 4)
        )));
    }
    print_records(&a.output, &[pattern_record(&p, a.pattern, &back)]);
    hold(a.hold.hold, &held_what(&p));
    Ok(())
}

fn held_what(p: &Prepared) -> String {
    match p.vpu {
        Some((h, _, _)) => format!("the buffer (VPU handle {h:#x})"),
        None => "the buffer".to_owned(),
    }
}

fn cmd_verify(paths: &Paths, a: &VerifyArgs) -> Result<()> {
    let p = prepare(paths, &a.source, a.import)?;
    let what = p.what();
    if a.wait > 0 {
        // Tell whoever writes the buffer which one it is before waiting for it.
        if let Some((h, dma, _)) = p.vpu {
            eprintln!(
                "vcsm-tool: waiting up to {} s for {} in VPU handle {h:#x} (dma_addr {}, pid {})",
                a.wait,
                a.pattern,
                hex32(dma),
                pid()
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(a.wait);
    let back = loop {
        let back = bufops::read_back(p.cpu_buf(), p.len, a.pattern, &what)?;
        if back.matches() || Instant::now() >= deadline {
            break back;
        }
        thread::sleep(Duration::from_millis(100));
    };
    if !back.matches() {
        return Err(Error::failed(format!(
            "{what}: does not hold {}: {} (checksum of the contents {}{})",
            a.pattern,
            back.describe(p.len / 4),
            hex32(back.checksum.into()),
            if a.wait > 0 { format!(", after waiting {} s", a.wait) } else { String::new() }
        )));
    }
    print_records(&a.output, &[pattern_record(&p, a.pattern, &back)]);
    hold(a.hold.hold, &held_what(&p));
    Ok(())
}

/// Why the state file cannot be read.
fn state_error(paths: &Paths, path: &Path, err: &io::Error, explicit: bool) -> Error {
    let file = path.display();
    match err.raw_os_error() {
        Some(libc::ENOENT) if !explicit => {
            let debugfs = paths.debugfs();
            let mounted = fs::read_dir(&debugfs).map(|mut d| d.next().is_some()).unwrap_or(true);
            let why = if !mounted {
                format!("debugfs is not mounted (mount -t debugfs debugfs {})", debugfs.display())
            } else if !paths.module_loaded(VCSM_MODULE) {
                "vc-sm-cma.ko is not loaded (modprobe vc_sm_cma)".to_owned()
            } else {
                "vc-sm-cma.ko is loaded but has not connected to the VPU yet (the file appears with \
                 /dev/vcsm-cma); see dmesg | grep vc_sm_cma"
                    .to_owned()
            };
            Error::missing(format!("{file}: {}: {why}", describe_io_error(err)))
        }
        Some(libc::EACCES | libc::EPERM) => {
            Error::failed(format!("{file}: {}: debugfs is readable by root only", describe_io_error(err)))
        }
        _ => Error::failed(format!("{file}: {}", describe_io_error(err))),
    }
}

fn cmd_status(paths: &Paths, a: &StatusArgs) -> Result<()> {
    let path = a.file.clone().unwrap_or_else(|| paths.vcsm_state());
    let text = fs::read_to_string(&path).map_err(|e| state_error(paths, &path, &e, a.file.is_some()))?;
    if a.raw {
        out(&text);
    } else if a.output.json {
        out(&format!("{}\n", status::to_json(&status::parse(&text)).to_json()));
    } else {
        out(&status::render(&status::parse(&text)));
    }
    Ok(())
}

fn cmd_bench(paths: &Paths, a: &BenchArgs) -> Result<()> {
    let cfg = bench::Config {
        what: a.what,
        size: a.size,
        iters: a.iters as usize,
        warmup: a.warmup as usize,
        threads: a.threads as usize,
        heap: a.heap.clone(),
        buffers: a.buffers as usize,
    };
    if cfg.what == bench::What::Alloc && u32::try_from(cfg.size).is_err() {
        return Err(Error::usage("bench --what alloc: VC_SM_CMA_IOCTL_MEM_ALLOC sizes are at most 4G - 1"));
    }
    let progress = !a.no_progress && !a.output.json && bench::stderr_is_tty();
    let report = bench::run(paths, &cfg, progress)?;
    if a.output.json {
        out(&format!("{}\n", report.to_json().to_json()));
    } else {
        out(&report.render());
    }
    Ok(())
}

fn cmd_stream(paths: &Paths, a: &StreamArgs) -> Result<()> {
    let (width, height, fourcc) = a.format;
    let cfg = crate::stream::Config {
        device: a.device.clone(),
        heap: a.heap.clone(),
        frames: a.frames,
        width,
        height,
        fourcc,
        buffers: a.buffers,
    };
    let progress = !a.no_progress && !a.output.json && bench::stderr_is_tty();
    let report = crate::stream::run(paths, &cfg, progress)?;
    if a.output.json {
        out(&format!("{}\n", report.to_json().to_json()));
    } else {
        out(&report.render());
    }
    if report.mismatches > 0 {
        return Err(Error::failed(format!(
            "{} frames differed between the CPU and the VPU",
            report.mismatches
        )));
    }
    Ok(())
}

fn cmd_man(a: &ManArgs) -> Result<()> {
    let pages = crate::manpage::pages(Cli::command())
        .map_err(|e| Error::failed(format!("rendering the man pages: {}", describe_io_error(&e))))?;
    match &a.dir {
        None => {
            // vcsm-tool.1 comes first.
            if let Some((_, page)) = pages.first() {
                out(&String::from_utf8_lossy(page));
            }
        }
        Some(dir) => {
            let fail = |e: io::Error| Error::failed(format!("{}: {}", dir.display(), describe_io_error(&e)));
            fs::create_dir_all(dir).map_err(fail)?;
            let mut written = String::new();
            for (name, page) in &pages {
                let path = dir.join(name);
                fs::write(&path, page)
                    .map_err(|e| Error::failed(format!("{}: {}", path.display(), describe_io_error(&e))))?;
                written.push_str(&format!("{}\n", path.display()));
            }
            out(&written);
        }
    }
    Ok(())
}

fn cmd_completions(a: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "vcsm-tool", &mut script);
    out(&String::from_utf8_lossy(&script));
    Ok(())
}
