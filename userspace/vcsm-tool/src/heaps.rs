//! `vcsm-tool heaps`: the dma-heaps in `/dev/dma_heap` and, for heaps on a CMA area, how much
//! of the area is in use (from `/sys/kernel/debug/cma/AREA/{count,used,maxchunk}`, which need
//! CONFIG_CMA_DEBUGFS and root), and whether the VPU can reach each heap's memory (from the
//! `vpu_window` line of the heap module's statistics or of the driver's state).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use dmabuf::describe_io_error;

use crate::error::{Error, Result};
use crate::json::{JsonExt, Value};
use crate::output::{human_size, Align, Table};
use crate::paths::{Paths, HEAP_MODULE, VCSM_STATE};

/// The CMA area (reserved-memory node) the vcsm heaps allocate from with the dedicated-pool
/// overlay; used when the heap module's statistics cannot say which area it is on.
pub const VCSM_POOL: &str = "vcsm-cma-pool";
/// vcsm-cma-heap.ko's statistics in debugfs; their `region base=0x... size=N` line names the
/// heaps' CMA area by address (the dedicated pool, or the system `linux,cma` pool).
pub const VCSM_HEAP_STATS: &str = "/sys/kernel/debug/vcsm-cma-heap/stats";
/// Our heaps.
pub const VCSM_HEAPS: [&str; 2] = ["vcsm-uncached", "vcsm-cached"];

/// Where a heap's memory comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// A CMA area, by name (the vcsm heaps' pool, or the kernel's default area for the
    /// in-kernel CMA heap, which is named after it).
    Cma(String),
    /// The page allocator (the in-kernel `system` heaps): not contiguous, not for the VPU.
    System,
    /// A heap vcsm-tool does not know.
    Unknown,
}

/// Usage of a CMA area, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmaUsage {
    pub total: u64,
    pub used: u64,
    /// The largest free contiguous run (`maxchunk`), if the kernel reports it.
    pub largest_free: Option<u64>,
    /// The physical address of the area (`base_pfn`), if the kernel reports it: whether a
    /// device can reach the pool depends on it (the VPU sees only the first GiB on a Pi 4).
    pub base: Option<u64>,
}

impl CmaUsage {
    /// Bytes not in use.
    pub fn free(&self) -> u64 {
        self.total.saturating_sub(self.used)
    }
}

/// Whether the VPU can be handed a heap's buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// All of the heap's memory is inside the VPU's window.
    Yes,
    /// It is not (why).
    No(String),
    /// Cannot tell (why).
    Unknown(String),
}

/// The VPU's window as ARM physical `[start, end)`: the `vpu_window cpu_base=.. cpu_end=..`
/// line of the heap module's statistics, else of the driver's state. `None` when neither
/// module reports one.
pub fn vpu_window(paths: &Paths) -> Option<(u64, u64)> {
    [VCSM_HEAP_STATS, VCSM_STATE].iter().find_map(|f| {
        let text = fs::read_to_string(paths.join(f)).ok()?;
        parse_window(&text)
    })
}

fn hex(v: &str) -> Option<u64> {
    u64::from_str_radix(v.strip_prefix("0x")?, 16).ok()
}

/// The value of `key=value` in the first line of `text` that starts with `word` and a space.
fn line_field<'a>(text: &'a str, word: &str, key: &str) -> Option<&'a str> {
    let line = text.lines().find(|l| l.strip_prefix(word).is_some_and(|r| r.starts_with(' ')))?;
    line.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// `cpu_base` and `cpu_end` of a `vpu_window` line.
fn parse_window(text: &str) -> Option<(u64, u64)> {
    let field = |key| line_field(text, "vpu_window", key);
    Some((hex(field("cpu_base")?)?, hex(field("cpu_end")?)?))
}

/// Whether the VPU reaches a heap backed by `backing` whose usage is `usage`.
fn reach_of(
    backing: &Backing,
    usage: &std::result::Result<CmaUsage, String>,
    window: Option<(u64, u64)>,
) -> Reach {
    match backing {
        Backing::System => return Reach::No("not physically contiguous".to_owned()),
        Backing::Unknown => return Reach::Unknown("unknown heap type".to_owned()),
        Backing::Cma(_) => {}
    }
    let Some((start, end)) = window else {
        return Reach::Unknown(
            "no VPU window reported (vc-sm-cma or vcsm-cma-heap not loaded, or not a Pi)".to_owned(),
        );
    };
    let Some((base, total)) = usage.as_ref().ok().and_then(|u| Some((u.base?, u.total))) else {
        return Reach::Unknown("the CMA area's address is unknown".to_owned());
    };
    if base >= start && base.saturating_add(total) <= end {
        Reach::Yes
    } else {
        Reach::No(format!(
            "{:#x}..{:#x} is outside the VPU's window {:#x}..{:#x}",
            base,
            base.saturating_add(total),
            start,
            end
        ))
    }
}

/// One entry of `/dev/dma_heap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapInfo {
    pub name: String,
    pub path: PathBuf,
    /// For a symlink (such as the `vidbuf_cached` alias the udev rule makes): the heap it
    /// points to.
    pub alias_of: Option<String>,
    pub backing: Backing,
    /// The CMA area's usage, or why it is not known.
    pub usage: std::result::Result<CmaUsage, String>,
    /// Whether the VPU can be handed its buffers.
    pub vpu: Reach,
}

/// `base` and `size` of the `region` line of the heap module's statistics.
fn parse_region(stats: &str) -> Option<(u64, u64)> {
    let field = |key| line_field(stats, "region", key);
    let base = field("base")?;
    let base = u64::from_str_radix(base.strip_prefix("0x").unwrap_or(base), 16).ok()?;
    let size = field("size")?.parse().ok()?;
    Some((base, size))
}

/// The CMA area our heaps allocate from: the one whose base and size are the region the heap
/// module reports. `None` if the module's statistics or the CMA debugfs cannot be read.
fn vcsm_area(paths: &Paths, page_size: u64) -> Option<String> {
    let stats = fs::read_to_string(paths.join(VCSM_HEAP_STATS)).ok()?;
    let (base, size) = parse_region(&stats)?;
    fs::read_dir(paths.cma_debugfs()).ok()?.flatten().find_map(|e| {
        let u = read_cma_area(&e.path(), page_size).ok()?;
        (u.base == Some(base) && u.total == size).then(|| e.file_name().to_string_lossy().into_owned())
    })
}

/// The heap a name refers to, and where its memory comes from.
fn backing_of(paths: &Paths, heap: &str, page_size: u64) -> Backing {
    if VCSM_HEAPS.contains(&heap) {
        return Backing::Cma(vcsm_area(paths, page_size).unwrap_or_else(|| VCSM_POOL.to_owned()));
    }
    if heap == "system" || heap.starts_with("system-") {
        return Backing::System;
    }
    // The in-kernel CMA heap is named after its CMA area ("reserved", "linux,cma", ...).
    if paths.cma_debugfs().join(heap).is_dir() || paths.join("/sys/kernel/mm/cma").join(heap).is_dir() {
        return Backing::Cma(heap.to_owned());
    }
    Backing::Unknown
}

/// Read `count`, `used`, `maxchunk` and `base_pfn` (all in pages) of a CMA area directory in
/// debugfs.
pub fn read_cma_area(dir: &Path, page_size: u64) -> std::result::Result<CmaUsage, String> {
    let read = |file: &str| -> std::result::Result<u64, String> {
        let path = dir.join(file);
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("{}: {}", path.display(), describe_io_error(&e)))?;
        text.trim().parse::<u64>().map_err(|_| format!("{}: not a number: {:?}", path.display(), text.trim()))
    };
    let count = read("count")?;
    let used = read("used")?;
    let largest_free = read("maxchunk").ok();
    let base = read("base_pfn").ok();
    Ok(CmaUsage {
        total: count.saturating_mul(page_size),
        used: used.saturating_mul(page_size),
        largest_free: largest_free.map(|p| p.saturating_mul(page_size)),
        base: base.map(|p| p.saturating_mul(page_size)),
    })
}

/// The usage of CMA area `area`, or a sentence saying why it cannot be known.
fn cma_usage(paths: &Paths, area: &str, page_size: u64) -> std::result::Result<CmaUsage, String> {
    let debugfs = paths.debugfs();
    match fs::read_dir(&debugfs) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(format!("{} needs root", debugfs.display()));
        }
        Err(e) => return Err(format!("{}: {}", debugfs.display(), describe_io_error(&e))),
        Ok(mut entries) => {
            if entries.next().is_none() {
                return Err(format!("debugfs is not mounted on {}", debugfs.display()));
            }
        }
    }
    let dir = paths.cma_debugfs().join(area);
    if !dir.is_dir() {
        return Err(format!("no {} (kernel without CONFIG_CMA_DEBUGFS?)", dir.display()));
    }
    read_cma_area(&dir, page_size)
}

/// Every entry of `/dev/dma_heap`, sorted by name. Fails (exit status 3) when there is none.
pub fn list(paths: &Paths, page_size: u64) -> Result<Vec<HeapInfo>> {
    let dir = paths.heap_dir();
    let entries = fs::read_dir(&dir).map_err(|e| {
        Error::missing(format!(
            "{}: {}: the kernel has registered no dma-heap (CONFIG_DMABUF_HEAPS, or load \
             vcsm-cma-heap.ko with the vcsm-cma-heap overlay applied)",
            dir.display(),
            describe_io_error(&e)
        ))
    })?;
    let window = vpu_window(paths);
    let mut heaps = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| Error::failed(format!("{}: {}", dir.display(), describe_io_error(&e))))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let alias_of = fs::symlink_metadata(&path)
            .ok()
            .filter(|m| m.file_type().is_symlink())
            .and_then(|_| fs::read_link(&path).ok())
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
        let target = alias_of.as_deref().unwrap_or(&name);
        let backing = backing_of(paths, target, page_size);
        let usage = match &backing {
            Backing::Cma(area) => cma_usage(paths, area, page_size),
            Backing::System => Err("system memory (page allocator)".to_owned()),
            Backing::Unknown => Err("unknown heap type".to_owned()),
        };
        let vpu = reach_of(&backing, &usage, window);
        heaps.push(HeapInfo { name, path, alias_of, backing, usage, vpu });
    }
    if heaps.is_empty() {
        return Err(Error::missing(format!(
            "{}: no heaps: load vcsm-cma-heap.ko (with the vcsm-cma-heap overlay applied)",
            dir.display()
        )));
    }
    heaps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(heaps)
}

/// A note for stderr when our heaps are not among `heaps`.
pub fn missing_vcsm_note(paths: &Paths, heaps: &[HeapInfo]) -> Option<String> {
    let have = |n: &str| heaps.iter().any(|h| h.name == n);
    if VCSM_HEAPS.iter().all(|n| have(n)) {
        return None;
    }
    let why = if paths.module_loaded(HEAP_MODULE) {
        "vcsm-cma-heap.ko is loaded but found no pool: is the board's vcsm-cma-heap overlay \
         applied (dtoverlay=vcsm-cma-heap-pi4, -pi3 or -system in config.txt)? see dmesg"
    } else {
        "vcsm-cma-heap.ko is not loaded (modprobe vcsm_cma_heap)"
    };
    Some(format!("note: no {} heaps: {why}", VCSM_HEAPS.join("/")))
}

/// The table `vcsm-tool heaps` prints.
pub fn table(heaps: &[HeapInfo]) -> Table {
    let mut t = Table::new(&[
        ("HEAP", Align::Left),
        ("BACKING", Align::Left),
        ("VPU", Align::Left),
        ("BASE", Align::Left),
        ("SIZE", Align::Right),
        ("USED", Align::Right),
        ("FREE", Align::Right),
        ("LARGEST FREE", Align::Right),
        ("NOTE", Align::Left),
    ]);
    for h in heaps {
        let backing = match &h.backing {
            Backing::Cma(area) => format!("CMA {area}"),
            Backing::System => "system".to_owned(),
            Backing::Unknown => "?".to_owned(),
        };
        let mut note = Vec::new();
        if let Some(target) = &h.alias_of {
            note.push(format!("alias of {target}"));
        }
        let vpu = match &h.vpu {
            Reach::Yes => "yes".to_owned(),
            Reach::No(why) => {
                note.push(why.clone());
                "no".to_owned()
            }
            Reach::Unknown(why) => {
                note.push(why.clone());
                "?".to_owned()
            }
        };
        let cells = match &h.usage {
            Ok(u) => vec![
                u.base.map_or_else(|| "-".to_owned(), |b| format!("{b:#x}")),
                human_size(u.total),
                human_size(u.used),
                human_size(u.free()),
                u.largest_free.map_or_else(|| "-".to_owned(), human_size),
            ],
            Err(why) => {
                note.push(why.clone());
                vec!["-".to_owned(), "unknown".to_owned(), "-".to_owned(), "-".to_owned(), "-".to_owned()]
            }
        };
        let mut row = vec![h.name.clone(), backing, vpu];
        row.extend(cells);
        row.push(note.join("; "));
        t.row(row);
    }
    t
}

/// The heaps as JSON: `{"heaps": [...]}`; sizes in bytes, `null` where unknown.
pub fn to_json(heaps: &[HeapInfo]) -> Value {
    let items = heaps
        .iter()
        .map(|h| {
            let (backing, area) = match &h.backing {
                Backing::Cma(area) => ("cma", Some(area.clone())),
                Backing::System => ("system", None),
                Backing::Unknown => ("unknown", None),
            };
            let usage = h.usage.as_ref().ok();
            let (reachable, vpu_note) = match &h.vpu {
                Reach::Yes => (Some(true), None),
                Reach::No(why) => (Some(false), Some(why.clone())),
                Reach::Unknown(why) => (None, Some(why.clone())),
            };
            Value::object()
                .with("name", h.name.as_str())
                .with("path", h.path.display().to_string())
                .with("alias_of", h.alias_of.clone())
                .with("backing", backing)
                .with("cma_area", area)
                .with("base", usage.and_then(|u| u.base))
                .with("size", usage.map(|u| u.total))
                .with("used", usage.map(|u| u.used))
                .with("free", usage.map(CmaUsage::free))
                .with("largest_free", usage.and_then(|u| u.largest_free))
                .with("unknown_because", h.usage.as_ref().err().cloned())
                .with("vpu_reachable", reachable)
                .with("vpu_note", vpu_note)
        })
        .collect::<Vec<_>>();
    Value::object().with("heaps", Value::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn fake_system(t: &TempDir) -> Paths {
        t.write("dev/dma_heap/vcsm-uncached", "");
        t.write("dev/dma_heap/vcsm-cached", "");
        t.write("dev/dma_heap/system", "");
        t.write("dev/dma_heap/reserved", "");
        t.write("dev/dma_heap/odd", "");
        t.symlink("vcsm-cached", "dev/dma_heap/vidbuf_cached");
        // 128 MiB pool, 8 MiB used, 100 MiB largest free run (4 KiB pages).
        t.write("sys/kernel/debug/cma/vcsm-cma-pool/count", "32768\n");
        t.write("sys/kernel/debug/cma/vcsm-cma-pool/used", "2048\n");
        t.write("sys/kernel/debug/cma/vcsm-cma-pool/maxchunk", "25600\n");
        t.write("sys/kernel/debug/cma/vcsm-cma-pool/base_pfn", "245760\n");
        // The default area: no maxchunk file.
        t.write("sys/kernel/debug/cma/reserved/count", "16384\n");
        t.write("sys/kernel/debug/cma/reserved/used", "0\n");
        Paths::new(t.path())
    }

    #[test]
    fn vcsm_heaps_on_the_area_the_module_reports() {
        let t = TempDir::new("heaps-area");
        let paths = fake_system(&t);
        // The heaps on the system pool: the module's region is linux,cma.
        t.write("sys/kernel/debug/cma/linux,cma/count", "16384\n");
        t.write("sys/kernel/debug/cma/linux,cma/used", "192\n");
        t.write("sys/kernel/debug/cma/linux,cma/base_pfn", "507904\n");
        t.write(
            "sys/kernel/debug/vcsm-cma-heap/stats",
            "region base=0x7c000000 size=67108864\nbuffers=0 bytes=0\n",
        );
        let heaps = list(&paths, 4096).unwrap();
        let by = |n: &str| heaps.iter().find(|h| h.name == n).unwrap();
        assert_eq!(by("vcsm-uncached").backing, Backing::Cma("linux,cma".into()));
        assert_eq!(
            by("vcsm-cached").usage,
            Ok(CmaUsage { total: 64 << 20, used: 192 * 4096, largest_free: None, base: Some(0x7c00_0000) })
        );
        // A region no area matches (or no statistics at all): the dedicated pool's name.
        t.write("sys/kernel/debug/vcsm-cma-heap/stats", "region base=0x1000 size=4096\n");
        assert_eq!(backing_of(&paths, "vcsm-uncached", 4096), Backing::Cma(VCSM_POOL.into()));
        assert_eq!(parse_region("region base=0x48000000 size=134217728\n"), Some((0x4800_0000, 128 << 20)));
        assert_eq!(parse_region("buffers=1\n"), None);
    }

    #[test]
    fn lists_heaps_with_cma_usage() {
        let t = TempDir::new("heaps");
        let paths = fake_system(&t);
        let heaps = list(&paths, 4096).unwrap();
        let names: Vec<&str> = heaps.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["odd", "reserved", "system", "vcsm-cached", "vcsm-uncached", "vidbuf_cached"]);

        let pool = CmaUsage {
            total: 128 << 20,
            used: 8 << 20,
            largest_free: Some(100 << 20),
            base: Some(0x3c00_0000),
        };
        let by = |n: &str| heaps.iter().find(|h| h.name == n).unwrap();
        assert_eq!(by("vcsm-cached").usage, Ok(pool));
        assert_eq!(by("vcsm-uncached").backing, Backing::Cma(VCSM_POOL.into()));
        assert_eq!(by("vidbuf_cached").alias_of.as_deref(), Some("vcsm-cached"));
        assert_eq!(by("vidbuf_cached").usage, Ok(pool));
        assert_eq!(by("reserved").backing, Backing::Cma("reserved".into()));
        assert_eq!(
            by("reserved").usage,
            Ok(CmaUsage { total: 64 << 20, used: 0, largest_free: None, base: None })
        );
        assert_eq!(by("system").backing, Backing::System);
        assert!(by("system").usage.is_err());
        assert_eq!(by("odd").backing, Backing::Unknown);
        assert!(missing_vcsm_note(&paths, &heaps).is_none());

        // No module reports a window here.
        assert!(matches!(&by("vcsm-cached").vpu, Reach::Unknown(w) if w.contains("no VPU window")));
        assert_eq!(by("system").vpu, Reach::No("not physically contiguous".into()));

        let text = table(&heaps).render();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("HEAP"));
        let cached = lines.iter().find(|l| l.starts_with("vcsm-cached ")).unwrap();
        assert!(cached.contains("CMA vcsm-cma-pool  ?    0x3c000000"), "{cached}");
        assert!(
            cached.contains("128 MiB") && cached.contains("8 MiB") && cached.contains("120 MiB"),
            "{cached}"
        );
        assert!(cached.contains("100 MiB"), "{cached}");
        let alias = lines.iter().find(|l| l.starts_with("vidbuf_cached")).unwrap();
        assert!(alias.contains("alias of vcsm-cached"), "{alias}");
        let system = lines.iter().find(|l| l.starts_with("system")).unwrap();
        assert!(system.contains("unknown") && system.contains("page allocator"), "{system}");

        let json = to_json(&heaps).to_json();
        assert!(json.starts_with(r#"{"heaps":[{"name":"odd""#), "{json}");
        assert!(json.contains(r#""name":"vcsm-cached","path":""#), "{json}");
        assert!(json.contains(r#""backing":"cma","cma_area":"vcsm-cma-pool","base":1006632960,"size":134217728,"used":8388608,"free":125829120,"largest_free":104857600,"unknown_because":null"#), "{json}");
        assert!(json.contains(r#""alias_of":"vcsm-cached""#), "{json}");
    }

    #[test]
    fn reachability_from_the_window() {
        let t = TempDir::new("heaps-window");
        let paths = fake_system(&t);
        // The driver's window (Pi 3 under QEMU: ARM 0 .. 0x3c000000); the pool at 0x3c000000
        // is just past it, the default area has no address.
        t.write(
            "sys/kernel/debug/vcsm-cma/state",
            "buffers=0\nvpu_window cpu_base=0x0 cpu_end=0x3c000000 bus_base=0xc0000000 size=1006632960 source=dma-ranges+firmware refused_outside=0\n",
        );
        assert_eq!(vpu_window(&paths), Some((0, 0x3c00_0000)));
        let heaps = list(&paths, 4096).unwrap();
        let by = |n: &str| heaps.iter().find(|h| h.name == n).unwrap();
        assert!(matches!(&by("vcsm-cached").vpu, Reach::No(w) if w.contains("0x3c000000..0x44000000")));
        assert!(matches!(&by("reserved").vpu, Reach::Unknown(w) if w.contains("address")));
        // The heap module's own line wins over the driver's.
        t.write(
            "sys/kernel/debug/vcsm-cma-heap/stats",
            "region base=0x3c000000 size=134217728\nvpu_window cpu_base=0x0 cpu_end=0x80000000 bus_base=0xc0000000 size=2147483648 source=dma-ranges reachable=yes\n",
        );
        let heaps = list(&paths, 4096).unwrap();
        let by = |n: &str| heaps.iter().find(|h| h.name == n).unwrap();
        assert_eq!(by("vcsm-uncached").vpu, Reach::Yes);
        assert_eq!(by("vidbuf_cached").vpu, Reach::Yes);
        let text = table(&heaps).render();
        let line = text.lines().find(|l| l.starts_with("vcsm-cached ")).unwrap();
        assert!(line.contains(" yes "), "{line}");
        let json = to_json(&heaps).to_json();
        assert!(json.contains(r#""vpu_reachable":true,"vpu_note":null"#), "{json}");
        assert!(json.contains(r#""vpu_reachable":false,"vpu_note":"not physically contiguous""#), "{json}");
        assert_eq!(parse_window("vpu_window unknown reason=no-vpu reachable=unknown\n"), None);
    }

    #[test]
    fn unknown_sizes_say_why() {
        let t = TempDir::new("heaps-nodebugfs");
        t.write("dev/dma_heap/vcsm-uncached", "");
        t.write("sys/kernel/debug/something", "");
        let paths = Paths::new(t.path());
        let heaps = list(&paths, 4096).unwrap();
        let why = heaps[0].usage.clone().unwrap_err();
        assert!(why.contains("CONFIG_CMA_DEBUGFS"), "{why}");
        // vcsm-cached is missing, and the module is not loaded.
        let note = missing_vcsm_note(&paths, &heaps).unwrap();
        assert!(note.contains("vcsm-cma-heap.ko is not loaded"), "{note}");

        // debugfs not mounted: an empty directory.
        let t = TempDir::new("heaps-unmounted");
        t.write("dev/dma_heap/vcsm-uncached", "");
        t.mkdir("sys/kernel/debug");
        let heaps = list(&Paths::new(t.path()), 4096).unwrap();
        assert!(heaps[0].usage.clone().unwrap_err().contains("not mounted"));

        // A garbage count file.
        let t = TempDir::new("heaps-garbage");
        t.write("count", "lots\n");
        t.write("used", "1\n");
        let e = read_cma_area(t.path(), 4096).unwrap_err();
        assert!(e.contains("not a number"), "{e}");
    }

    #[test]
    fn no_heaps_is_a_missing_device() {
        let t = TempDir::new("heaps-none");
        let e = list(&Paths::new(t.path()), 4096).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("dev/dma_heap"), "{e}");
        t.mkdir("dev/dma_heap");
        let e = list(&Paths::new(t.path()), 4096).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("no heaps"), "{e}");
    }
}
