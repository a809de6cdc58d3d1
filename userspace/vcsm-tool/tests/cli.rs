//! The built `vcsm-tool` binary, end to end on the host: exit statuses, messages, output
//! formats, man pages and completions. Kernel interfaces are faked with trees under
//! `$VCSM_TOOL_SYSROOT`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_vcsm-tool");

struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Tree {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "vcsm-tool-cli-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        Tree(p)
    }

    fn write(&self, rel: &str, text: &str) -> &Tree {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
        self
    }

    fn mkdir(&self, rel: &str) -> &Tree {
        fs::create_dir_all(self.0.join(rel)).unwrap();
        self
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap()
}

fn run_in(tree: &Tree, args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("VCSM_TOOL_SYSROOT", tree.path()).stdin(Stdio::null()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

const STATE: &str = "\
buffer id=3 origin=import name=sm-host-resource size=65536 exporter=vcsm-uncached dma=0x7e000000 vpu_addr=0xfe000000 vc_handle=0x5 vpu=mapped pid=77 wrapped=yes
buffers=1 bytes=65536 mapped=1 unmapping=0 released=0 importing=0 wrapped=1
phase=Ready protocol=2 timeout_ms=3000
transactions pending=0 abandoned=0 timeouts=0 interrupted=0 late_replies=0
";

#[test]
fn help_and_usage_errors() {
    let o = run(&["--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("Exit status:"));
    let o = run(&["--version"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("vcsm-tool "));
    for bad in [
        &[][..],
        &["nope"],
        &["alloc"],
        &["alloc", "--size", "1Q"],
        &["import", "--fd", "x"],
        &["bench", "--threads", "0"],
    ] {
        let o = run(bad);
        assert_eq!(code(&o), 2, "{bad:?}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty());
    }
}

#[test]
fn missing_device_and_heaps_exit_3() {
    let t = Tree::new("missing");
    let o = run_in(&t, &["import", "--alloc", "vcsm-uncached:1M"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("dev/vcsm-cma: is vc-sm-cma.ko loaded?"), "{}", stderr(&o));
    let o = run_in(&t, &["alloc-vpu", "--size", "4K"]);
    assert_eq!(code(&o), 3);
    let o = run_in(&t, &["heaps"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("dev/dma_heap"), "{}", stderr(&o));

    t.write("dev/dma_heap/vcsm-cached", "").write("dev/dma_heap/system", "");
    let o = run_in(&t, &["alloc", "--heap", "foo", "--size", "1M"]);
    assert_eq!(code(&o), 3);
    assert!(
        stderr(&o).contains("dev/dma_heap/foo: no such heap (available: system, vcsm-cached)"),
        "{}",
        stderr(&o)
    );
    // A "heap" that is a plain file: the ioctl is refused, named, and it is a failure (1).
    let o = run_in(&t, &["alloc", "--heap", "system", "--size", "1M"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("DMA_HEAP_IOCTL_ALLOC failed: ENOTTY"), "{}", stderr(&o));
}

#[test]
fn not_a_dmabuf() {
    let o = run(&["verify", "--fd", "0", "--pattern", "zero"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("fd 0 is not a dma-buf (it is /dev/null)"), "{}", stderr(&o));
    let o = run(&["fill", "--fd", "999"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("EBADF"), "{}", stderr(&o));
}

#[test]
fn heaps_table_and_json() {
    let t = Tree::new("heaps");
    t.write("dev/dma_heap/vcsm-uncached", "")
        .write("dev/dma_heap/vcsm-cached", "")
        .write("sys/kernel/debug/cma/vcsm-cma-pool/count", "32768\n")
        .write("sys/kernel/debug/cma/vcsm-cma-pool/used", "256\n")
        .write("sys/kernel/debug/cma/vcsm-cma-pool/maxchunk", "32512\n");
    std::os::unix::fs::symlink("vcsm-cached", t.path().join("dev/dma_heap/vidbuf_cached")).unwrap();
    let o = run_in(&t, &["heaps"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("HEAP"), "{text}");
    assert!(text.contains("vcsm-cached    CMA vcsm-cma-pool  ?    -     128 MiB  1 MiB  127 MiB"), "{text}");
    assert!(text.contains("alias of vcsm-cached"), "{text}");
    assert_eq!(stderr(&o), "", "our heaps are there: no note");
    let o = run_in(&t, &["heaps", "--json"]);
    assert_eq!(code(&o), 0);
    let j = stdout(&o);
    assert!(j.starts_with(r#"{"heaps":[{"name":"vcsm-cached""#), "{j}");
    assert!(j.contains(r#""used":1048576"#), "{j}");
    assert!(j.ends_with("}\n"));
}

#[test]
fn status_from_a_file_and_from_debugfs() {
    let t = Tree::new("status");
    t.write("state.txt", STATE);
    let file = t.path().join("state.txt");
    let file = file.to_str().unwrap();
    let o = run(&["status", "--file", file]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("ID  ORIGIN  NAME") && header.ends_with("WRAPPED"), "{header}");
    let row = lines.next().unwrap();
    assert!(row.contains("64 KiB") && row.contains("0x5") && row.contains("mapped"), "{row}");
    assert!(text.contains("\ntransactions: pending=0"), "{text}");

    let o = run(&["status", "--file", file, "--json"]);
    let j = stdout(&o);
    assert!(j.starts_with(r#"{"buffers":[{"id":3,"#), "{j}");
    assert!(j.contains(r#""summary":{"buffers":1,"#), "{j}");

    let o = run(&["status", "--file", file, "--raw"]);
    assert_eq!(stdout(&o), STATE);

    let o = run(&["status", "--file", "/nonexistent/state"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("/nonexistent/state: ENOENT"), "{}", stderr(&o));

    // From the (fake) debugfs: each missing piece is named.
    let root = Tree::new("status-root");
    root.mkdir("sys/kernel/debug");
    let o = run_in(&root, &["status"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("debugfs is not mounted"), "{}", stderr(&o));
    root.mkdir("sys/kernel/debug/dma_buf");
    let o = run_in(&root, &["status"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("vc-sm-cma.ko is not loaded"), "{}", stderr(&o));
    root.mkdir("sys/module/vc_sm_cma");
    let o = run_in(&root, &["status"]);
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("has not connected to the VPU yet"), "{}", stderr(&o));
    root.write("sys/kernel/debug/vcsm-cma/state", STATE);
    let o = run_in(&root, &["status"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("sm-host-resource"));
}

#[test]
fn man_pages_and_completions() {
    let o = run(&["man"]);
    assert_eq!(code(&o), 0);
    let page = stdout(&o);
    assert!(page.contains(".TH vcsm-tool 1"), "{}", &page[..page.len().min(300)]);
    for sub in ["heaps", "import", "alloc\\-vpu", "bench"] {
        assert!(page.contains(sub), "man page lacks {sub}");
    }
    assert!(page.contains(".SH \"EXIT STATUS\""), "man page lacks the exit statuses");
    assert!(page.contains(".SH \"EXAMPLES\""), "man page lacks the examples");

    let t = Tree::new("man");
    let dir = t.path().join("man1");
    let o = run(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for p in ["vcsm-tool.1", "vcsm-tool-import.1", "vcsm-tool-alloc-vpu.1", "vcsm-tool-status.1"] {
        let text = fs::read_to_string(dir.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(text.contains(".TH"), "{p}");
        assert!(stdout(&o).contains(p));
    }

    for (shell, marker) in [
        ("bash", "complete -F _vcsm__tool"),
        ("zsh", "#compdef vcsm-tool"),
        ("fish", "complete -c vcsm-tool"),
    ] {
        let o = run(&["completions", shell]);
        assert_eq!(code(&o), 0);
        let script = stdout(&o);
        assert!(script.contains(marker), "{shell}");
        assert!(script.contains("alloc-vpu") && script.contains("pattern"), "{shell}");
    }
}
