//! The command line (clap derive). The help texts are the tool's manual: `vcsm-tool man` turns
//! them into man pages, `vcsm-tool completions` into shell completions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::bench::What;
use crate::pattern::Pattern;
use crate::source::{parse_nonzero_size, parse_u32_size, FdSpec, HeapSize};

/// Exit statuses, for every help page.
pub const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  the operation failed (an ioctl, mmap or a pattern check); the message names the file, the
     ioctl and what the errno means
  2  usage error (bad arguments)
  3  a device, heap, debugfs file or the driver is missing or not ready: no /dev/vcsm-cma
     (vc-sm-cma.ko not loaded or not connected to the VPU), no such /dev/dma_heap entry, no
     debugfs state file";

const LONG_ABOUT: &str = "\
Inspect and exercise VideoCore shared memory on a Raspberry Pi: the vcsm dma-heaps
(vcsm-cma-heap.ko) and the VPU import interface /dev/vcsm-cma (vc-sm-cma.ko). List the heaps and
how full their CMA pool is, allocate dma-bufs, hand them to the VPU the way MMAL does and see the
VPU handle and bus address, write and check data patterns with the checksum the VPU side
computes, show what the driver holds, and measure import and allocation latency.

Sizes take binary suffixes: 4096, 64K, 8M, 1G. Buffers live as long as vcsm-tool runs: use
--hold SECS to keep them while another program (or the VPU) looks at them. Every error names the
file, the ioctl and what the errno means.";

const TOP_EXAMPLES: &str = "\
Examples:
  vcsm-tool heaps
  vcsm-tool import --alloc vcsm-uncached:8M
  vcsm-tool fill --alloc vcsm-uncached:1M --pattern xorshift:0x1234 --import --hold 60
  vcsm-tool status --json
  vcsm-tool bench --what import --size 1M --threads 4";

/// The whole command line.
#[derive(Debug, Parser)]
#[command(
    name = "vcsm-tool",
    version,
    about = "Inspect and exercise VideoCore shared memory: dma-heaps, /dev/vcsm-cma, the VPU's view",
    long_about = LONG_ABOUT,
    after_help = TOP_EXAMPLES,
    after_long_help = format!("{TOP_EXAMPLES}\n\n{EXIT_STATUS}"),
    propagate_version = true,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    Heaps(HeapsArgs),
    Alloc(AllocArgs),
    Import(ImportArgs),
    AllocVpu(AllocVpuArgs),
    Fill(FillArgs),
    Verify(VerifyArgs),
    Status(StatusArgs),
    Bench(BenchArgs),
    Stream(StreamArgs),
    Man(ManArgs),
    Completions(CompletionsArgs),
}

/// `--json`.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Print JSON (one object) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--hold`.
#[derive(Debug, Clone, Copy, Args)]
pub struct HoldArgs {
    /// Keep the buffers (and the VPU's handles to them) for SECS seconds before exiting. The
    /// output is printed first, so another program can use what it shows; interrupt (Ctrl-C)
    /// or kill vcsm-tool to release them earlier.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub hold: u64,
}

/// List the dma-heaps and how full their memory is.
#[derive(Debug, Args)]
#[command(
    long_about = "\
List /dev/dma_heap: every heap (and alias, such as the vidbuf_cached symlink the vcsm udev rule
creates), what memory backs it, and for heaps on a CMA area its physical base address, size, use
and largest free run.

vcsm-uncached and vcsm-cached share one pool, the CMA area vcsm-cma-pool that the vcsm-cma-heap
overlay reserves; the in-kernel CMA heap is named after its area (often \"reserved\" or
\"linux,cma\"). Sizes come from /sys/kernel/debug/cma/AREA/{count,used,maxchunk}, which need
CONFIG_CMA_DEBUGFS and root; otherwise they show as unknown, with the reason.",
    after_help = "\
Examples:
  vcsm-tool heaps
  sudo vcsm-tool heaps --json | jq '.heaps[] | select(.name == \"vcsm-cached\") | .free'

Exit status: 0 ok, 1 failed, 2 usage, 3 no /dev/dma_heap or no heap in it."
)]
pub struct HeapsArgs {
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Allocate dma-bufs from a dma-heap.
#[derive(Debug, Args)]
#[command(
    long_about = "\
Allocate COUNT buffers of SIZE bytes from /dev/dma_heap/HEAP (DMA_HEAP_IOCTL_ALLOC) and print one
line per buffer: its fd in this process, its size (as the kernel rounded it), the heap and
vcsm-tool's pid. With --hold they stay allocated that long: watch `vcsm-tool heaps`, or take a
buffer into another process with `vcsm-tool import --fd PID:FD`.",
    after_help = "\
Examples:
  vcsm-tool alloc --heap vcsm-uncached --size 8M
  vcsm-tool alloc --heap vcsm-cached --size 1M --count 16 --name frames --hold 30 &
  vcsm-tool heaps

Exit status: 0 ok, 1 allocation failed, 2 usage, 3 no such heap."
)]
pub struct AllocArgs {
    /// The heap: a name under /dev/dma_heap.
    #[arg(long, value_name = "NAME", default_value = "vcsm-uncached")]
    pub heap: String,

    /// Bytes per buffer (K/M/G suffixes); the heap rounds it up to whole pages.
    #[arg(long, value_name = "SIZE", value_parser = parse_nonzero_size)]
    pub size: u64,

    /// How many buffers.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub count: u32,

    /// Name the buffers (DMA_BUF_SET_NAME, at most 31 bytes), as shown in
    /// /sys/kernel/debug/dma_buf/bufinfo.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    #[command(flatten)]
    pub hold: HoldArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where `import` gets its buffer.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct ImportSource {
    /// Import a dma-buf file descriptor: FD inherited from the parent process, or PID:FD to
    /// take fd FD of process PID (pidfd_getfd: needs ptrace access to it, e.g. root).
    #[arg(long, value_name = "[PID:]FD")]
    pub fd: Option<FdSpec>,

    /// Allocate the buffer first: SIZE bytes from /dev/dma_heap/HEAP.
    #[arg(long, value_name = "HEAP:SIZE")]
    pub alloc: Option<HeapSize>,
}

/// Share a dma-buf with the VPU (VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF), as MMAL does.
#[derive(Debug, Args)]
#[command(
    long_about = "\
Import a dma-buf into the VPU with VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF on /dev/vcsm-cma, the path
bcm2835-mmal-vchiq takes for zero-copy buffers. Prints the VPU handle (vc_handle), the bus
address without the VPU's cache alias (dma_addr), the size of the VPU's mapping and the fd of the
wrapper dma-buf the driver returns.

The buffer must be physically contiguous (one DMA segment): allocate it from vcsm-uncached or
vcsm-cached. Closing the wrapper (vcsm-tool exiting) sends FREE; the driver keeps the memory
until the VPU answers RELEASED. Watch it with `vcsm-tool status`.",
    after_help = "\
Examples:
  vcsm-tool import --alloc vcsm-uncached:8M
  vcsm-tool import --alloc vcsm-cached:1M --hold 30 & sleep 1; sudo vcsm-tool status
  vcsm-tool alloc --size 1M --hold 60 &     # prints fd=3 ... pid=1234
  sudo vcsm-tool import --fd 1234:3

Exit status: 0 ok, 1 import failed, 2 usage, 3 no /dev/vcsm-cma (vc-sm-cma.ko not loaded or not
connected to the VPU) or no such heap."
)]
pub struct ImportArgs {
    #[command(flatten)]
    pub source: ImportSource,

    #[command(flatten)]
    pub hold: HoldArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Allocate a buffer shared with the VPU (VC_SM_CMA_IOCTL_MEM_ALLOC).
#[derive(Debug, Args)]
#[command(
    long_about = "\
Allocate SIZE bytes (rounded up to pages) with the legacy VC_SM_CMA_IOCTL_MEM_ALLOC on
/dev/vcsm-cma, as libvcsm does: contiguous, uncached, already imported into the VPU. Prints the
VPU handle, the bus address, the size and the dma-buf fd. New code should allocate from a
dma-heap and import instead.",
    after_help = "\
Examples:
  vcsm-tool alloc-vpu --size 4M --name qpu-code
  vcsm-tool alloc-vpu --size 64K --hold 30

Exit status: 0 ok, 1 allocation failed, 2 usage, 3 no /dev/vcsm-cma."
)]
pub struct AllocVpuArgs {
    /// Bytes (K/M/G suffixes), at most 4G - 1 (the size field is 32-bit).
    #[arg(long, value_name = "SIZE", value_parser = parse_u32_size)]
    pub size: u32,

    /// The resource name the VPU sees (at most 31 bytes).
    #[arg(long, value_name = "NAME", default_value = "vcsm-tool")]
    pub name: String,

    #[command(flatten)]
    pub hold: HoldArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// The buffer `fill` and `verify` work on.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct BufferSource {
    /// Allocate SIZE bytes from /dev/dma_heap/HEAP.
    #[arg(long, value_name = "HEAP:SIZE")]
    pub alloc: Option<HeapSize>,

    /// A dma-buf fd: inherited (FD) or taken from process PID (PID:FD, needs ptrace access).
    #[arg(long, value_name = "[PID:]FD")]
    pub fd: Option<FdSpec>,

    /// Allocate SIZE bytes with VC_SM_CMA_IOCTL_MEM_ALLOC (already shared with the VPU).
    #[arg(long, value_name = "SIZE", value_parser = parse_u32_size)]
    pub alloc_vpu: Option<u32>,
}

const PATTERN_HELP: &str = "\
Patterns: zero | byte:VALUE | counter (word i holds i) | xorshift:SEED (the simulated VPU's
xorshift32 stream; what /sys/kernel/debug/vpu-sim/fill writes). Words are 32-bit little-endian.
The checksum is 32-bit FNV-1a over every byte of the buffer, the algorithm of the simulated VPU's
/sys/kernel/debug/vpu-sim/checksum (tests/vpu-sim), so VPU-side and CPU-side views can be
compared.";

/// Write a pattern into a buffer through mmap and read it back.
#[derive(Debug, Args)]
#[command(
    long_about = format!("\
Write PATTERN over the whole buffer through a CPU mapping (bracketed by DMA_BUF_IOCTL_SYNC
START/END for writing), read it back (SYNC for reading) and print the checksum.

With --import the buffer is first imported into the VPU (VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF) and
written through the wrapper dma-buf the driver returns; vcsm-tool prints the VPU handle and the
checksum the VPU must compute over its mapping. Keep it with --hold and compare from the VPU side.

{PATTERN_HELP}"),
    after_help = "\
Examples:
  vcsm-tool fill --alloc vcsm-cached:4M --pattern counter
  vcsm-tool fill --alloc vcsm-uncached:64K --pattern xorshift:0x1234 --import --hold 30 &
  # it prints checksum=0x410963ee ... vc_handle=0x5; the simulated VPU must agree:
  echo 0x5 > /sys/kernel/debug/vpu-sim/checksum; cat /sys/kernel/debug/vpu-sim/checksum

Exit status: 0 ok, 1 failed (or the read-back differs), 2 usage, 3 device or heap missing."
)]
pub struct FillArgs {
    #[command(flatten)]
    pub source: BufferSource,

    /// The data to write.
    #[arg(long, value_name = "PATTERN", default_value = "xorshift:1")]
    pub pattern: Pattern,

    /// Import the buffer into the VPU first and write through the wrapper.
    #[arg(long, conflicts_with = "alloc_vpu")]
    pub import: bool,

    #[command(flatten)]
    pub hold: HoldArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Check that a buffer holds a pattern.
#[derive(Debug, Args)]
#[command(
    long_about = format!("\
Read the buffer through a CPU mapping (bracketed by DMA_BUF_IOCTL_SYNC for reading), compare it
with PATTERN and print its checksum; on a difference, say how many 32-bit words differ and where
the first one is.

Use it on a fresh allocation with --pattern zero (heaps must hand out zeroed memory), on a buffer
another process filled (--fd PID:FD), or, with --import --wait SECS, on a buffer the VPU writes:
vcsm-tool imports it, prints the handle and re-reads until the pattern appears or SECS pass.

{PATTERN_HELP}"),
    after_help = "\
Examples:
  vcsm-tool verify --alloc vcsm-uncached:8M --pattern zero
  vcsm-tool verify --fd 1234:3 --pattern counter
  vcsm-tool verify --alloc vcsm-uncached:64K --import --pattern xorshift:0x1234 --wait 10 &
  # the VPU (here the simulator) writes the pattern into handle 0x5:
  echo '0x5 0x1234' > /sys/kernel/debug/vpu-sim/fill

Exit status: 0 the buffer holds the pattern, 1 it does not (or an operation failed), 2 usage,
3 device or heap missing."
)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub source: BufferSource,

    /// The data expected.
    #[arg(long, value_name = "PATTERN", default_value = "xorshift:1")]
    pub pattern: Pattern,

    /// Import the buffer into the VPU first and read through the wrapper.
    #[arg(long, conflicts_with = "alloc_vpu")]
    pub import: bool,

    /// Re-read every 100 ms until the pattern appears, for at most SECS seconds (for a buffer
    /// something else, such as the VPU, is writing).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub wait: u64,

    #[command(flatten)]
    pub hold: HoldArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Show what vc-sm-cma holds: its debugfs state as a table.
#[derive(Debug, Args)]
#[command(
    long_about = "\
Render /sys/kernel/debug/vcsm-cma/state (root only): one row per buffer the driver knows (id,
origin import/alloc/vpu-request, name, size, exporter, DMA and VPU addresses, VPU handle, VPU
state mapped/unmapping/released/importing, creating pid, whether a dma-buf still exposes it),
then the totals, the driver's phase, protocol and timeout, and its transaction counters.

Lines vcsm-tool does not recognise are printed after the table, marked with '?'.",
    after_help = "\
Examples:
  sudo vcsm-tool status
  sudo vcsm-tool status --json
  vcsm-tool status --file state-from-a-bug-report.txt

Exit status: 0 ok, 1 cannot read the file, 2 usage, 3 no state file (debugfs not mounted,
vc-sm-cma.ko not loaded or not connected)."
)]
pub struct StatusArgs {
    /// Read a saved copy of the state file instead.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Print the file as it is.
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Measure import/free or alloc/free latency and rate.
#[derive(Debug, Args)]
#[command(
    long_about = "\
Time ITERS iterations per thread of one of: import (VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF of a
buffer from --heap, then closing the wrapper, which sends FREE), alloc (VC_SM_CMA_IOCTL_MEM_ALLOC,
then closing the buffer) or heap (DMA_HEAP_IOCTL_ALLOC from --heap, then closing it: no VPU, the
baseline). Each operation's latency is reported as p50/p99 (nearest rank), min, max and mean, and
the rate as iterations per second over all threads. --threads N runs N threads on one open
/dev/vcsm-cma, the concurrent-import case that used to crash the downstream driver. A progress bar
is drawn on stderr when it is a terminal.",
    after_help = "\
Examples:
  vcsm-tool bench --what import --size 1M --iters 200
  vcsm-tool bench --what import --threads 8 --iters 500 --json
  vcsm-tool bench --what heap --heap vcsm-cached --size 8M

Exit status: 0 ok, 1 an operation failed, 2 usage, 3 device or heap missing."
)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = What::Import)]
    pub what: What,

    /// Buffer size (K/M/G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_nonzero_size)]
    pub size: u64,

    /// Timed iterations per thread.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub iters: u32,

    /// Untimed iterations per thread first.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub warmup: u32,

    /// Threads running at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,

    /// The heap source buffers come from (import, heap, frames).
    #[arg(long, value_name = "NAME", default_value = "vcsm-uncached")]
    pub heap: String,

    /// Frame buffers in the ring of --what frames (a camera queue's depth).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub buffers: u32,

    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Stream frames from a V4L2 capture device into heap buffers shared with the VPU.
#[derive(Debug, Args)]
#[command(
    long_about = "\
Stream frames from a V4L2 capture device into dma-heap buffers, zero copy: the buffers are
allocated from --heap, queued to the device as V4L2_MEMORY_DMABUF buffers, and each is imported
into the VPU once (VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF), so every frame the device writes is
already where the VPU can read it. This is what a libcamera or picamera2 pipeline does when it
hands its capture buffers to the codec: picamera2 and rpicam-apps allocate from
/dev/dma_heap/vidbuf_cached (linux,cma), libcamera from linux,cma, and bcm2835-codec imports each
buffer once through vc_sm_cma_import_dmabuf; --heap linux,cma reproduces their memory, --heap
vcsm-uncached the MMAL way.

Where the simulated VPU is present (the project's test bed), every frame is checked on the VPU
side: the VPU's checksum through the buffer's handle must equal the CPU's over the heap mapping
(read inside DMA_BUF_IOCTL_SYNC). On a Pi the frames are counted. The report gives frames per
second, the pipeline's own cost per frame (dequeue to requeue), the buffers imported and the
bytes that were not copied.

Exit status: 0 ok, 1 failed (or a frame differed on the VPU side), 2 usage, 3 no device.",
    after_help = "\
Examples:
  vcsm-tool stream --frames 300
  vcsm-tool stream --device /dev/video0 --heap linux,cma --format 1920x1080:YUYV --json"
)]
pub struct StreamArgs {
    /// The V4L2 capture device (default: the first streaming capture device).
    #[arg(long, value_name = "PATH")]
    pub device: Option<String>,

    /// The heap the capture buffers come from.
    #[arg(long, value_name = "NAME", default_value = "vcsm-uncached")]
    pub heap: String,

    /// Frames to stream.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub frames: u32,

    /// Frame format, WIDTHxHEIGHT[:FOURCC] (FOURCC default YUYV).
    #[arg(long, value_name = "FORMAT", default_value = "640x480:YUYV", value_parser = crate::stream::parse_format)]
    pub format: (u32, u32, u32),

    /// Capture buffers in the queue.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..=32))]
    pub buffers: u32,

    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Print the man page (or write all of them).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  vcsm-tool man | man -l -
  vcsm-tool man --dir /usr/share/man/man1")]
pub struct ManArgs {
    /// Write vcsm-tool.1 and one page per subcommand (vcsm-tool-import.1, ...) into DIR.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Print shell completions.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  vcsm-tool completions bash > /usr/share/bash-completion/completions/vcsm-tool
  vcsm-tool completions zsh > /usr/share/zsh/vendor-completions/_vcsm-tool
  vcsm-tool completions fish > /usr/share/fish/vendor_completions.d/vcsm-tool.fish")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("vcsm-tool").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn alloc_args() {
        let cli = parse(&["alloc", "--size", "8M", "--count", "3", "--hold", "5"]).unwrap();
        let Command::Alloc(a) = cli.command else { panic!("not alloc") };
        assert_eq!(a.heap, "vcsm-uncached");
        assert_eq!(a.size, 8 << 20);
        assert_eq!(a.count, 3);
        assert_eq!(a.hold.hold, 5);
        assert!(!a.output.json);

        for bad in [
            &["alloc"][..],
            &["alloc", "--size", "0"],
            &["alloc", "--size", "8X"],
            &["alloc", "--size", "1M", "--count", "0"],
            &["alloc", "--size", "1M", "--hold", "-1"],
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn import_needs_exactly_one_source() {
        let cli = parse(&["import", "--alloc", "vcsm-cached:1M"]).unwrap();
        let Command::Import(a) = cli.command else { panic!("not import") };
        assert_eq!(a.source.alloc, Some(HeapSize { heap: "vcsm-cached".into(), size: 1 << 20 }));
        let cli = parse(&["import", "--fd", "123:4", "--json"]).unwrap();
        let Command::Import(a) = cli.command else { panic!("not import") };
        assert_eq!(a.source.fd, Some(FdSpec { pid: Some(123), fd: 4 }));
        assert!(a.output.json);
        assert!(parse(&["import"]).is_err());
        assert!(parse(&["import", "--fd", "3", "--alloc", "h:1M"]).is_err());
        assert!(parse(&["import", "--alloc", "nosize"]).is_err());
    }

    #[test]
    fn fill_and_verify_args() {
        let cli =
            parse(&["fill", "--alloc", "vcsm-uncached:64K", "--pattern", "xorshift:0x1234", "--import"])
                .unwrap();
        let Command::Fill(a) = cli.command else { panic!("not fill") };
        assert_eq!(a.pattern, Pattern::Xorshift(0x1234));
        assert!(a.import);
        let cli = parse(&["verify", "--alloc-vpu", "4K"]).unwrap();
        let Command::Verify(a) = cli.command else { panic!("not verify") };
        assert_eq!(a.source.alloc_vpu, Some(4096));
        assert_eq!(a.pattern, Pattern::Xorshift(1));
        assert_eq!(a.wait, 0);
        // --import makes no sense for a buffer that is already the VPU's.
        assert!(parse(&["fill", "--alloc-vpu", "4K", "--import"]).is_err());
        assert!(parse(&["fill", "--alloc-vpu", "4G"]).is_err());
        assert!(parse(&["verify", "--fd", "3", "--pattern", "ones"]).is_err());
        assert!(parse(&["verify"]).is_err());
    }

    #[test]
    fn other_commands() {
        let cli = parse(&["alloc-vpu", "--size", "64K"]).unwrap();
        let Command::AllocVpu(a) = cli.command else { panic!("not alloc-vpu") };
        assert_eq!((a.size, a.name.as_str()), (65536, "vcsm-tool"));
        let cli = parse(&["bench", "--what", "alloc", "--threads", "4"]).unwrap();
        let Command::Bench(a) = cli.command else { panic!("not bench") };
        assert_eq!((a.what, a.size, a.iters, a.threads), (What::Alloc, 1 << 20, 100, 4));
        assert!(parse(&["bench", "--what", "nothing"]).is_err());
        assert!(parse(&["bench", "--threads", "0"]).is_err());
        let cli = parse(&["status", "--json", "--file", "/tmp/x"]).unwrap();
        let Command::Status(a) = cli.command else { panic!("not status") };
        assert!(a.output.json && !a.raw);
        assert!(parse(&["status", "--json", "--raw"]).is_err());
        assert!(parse(&["completions", "bash"]).is_ok());
        assert!(parse(&["completions", "tcsh"]).is_err());
        assert!(matches!(parse(&["man"]).unwrap().command, Command::Man(ManArgs { dir: None })));
        assert!(parse(&["--sysroot", "/tmp/r", "heaps"]).is_err());
        assert!(parse(&["frobnicate"]).is_err());
    }

    #[test]
    fn help_teaches() {
        let mut cmd = Cli::command();
        let long = cmd.render_long_help().to_string();
        assert!(long.contains("Exit status:") && long.contains("3  a device, heap"), "{long}");
        assert!(long.contains("Examples:"));
        for name in [
            "heaps",
            "alloc",
            "import",
            "alloc-vpu",
            "fill",
            "verify",
            "status",
            "bench",
            "man",
            "completions",
        ] {
            let sub = cmd.find_subcommand_mut(name).unwrap_or_else(|| panic!("no {name}"));
            let help = sub.render_long_help().to_string();
            assert!(help.contains("Examples:"), "{name} help has no examples");
        }
        // Every buffer-making subcommand documents its exit statuses.
        for name in ["heaps", "alloc", "import", "alloc-vpu", "fill", "verify", "status", "bench"] {
            let help = cmd.find_subcommand_mut(name).unwrap().render_long_help().to_string();
            assert!(help.contains("Exit status:"), "{name}");
        }
    }
}
