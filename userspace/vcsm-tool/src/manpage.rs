//! Man pages from the clap definitions: clap_mangen renders the title, name, synopsis,
//! description, options and subcommands; the `Examples:` and `Exit status:` blocks of the help
//! text become EXAMPLES and EXIT STATUS sections set without filling, so command lines and
//! tables keep their shape (clap_mangen's own EXTRA section would reflow them).

use std::io;

use clap::Command;
use clap_mangen::Man;

/// Escape one line of text for roff: backslashes, a leading control character, hyphens.
fn escape(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 4);
    if line.starts_with('.') || line.starts_with('\'') {
        out.push_str("\\&");
    }
    for c in line.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            c => out.push(c),
        }
    }
    out
}

/// A section whose lines are set as they are (`.nf` ... `.fi`).
fn nofill_section(title: &str, lead: Option<&str>, lines: &[&str]) -> String {
    let mut out = format!(".SH \"{title}\"\n");
    if let Some(lead) = lead {
        out.push_str(&escape(lead));
        out.push('\n');
    }
    if !lines.is_empty() {
        out.push_str(".nf\n");
        for line in lines {
            out.push_str(&escape(line.strip_prefix("  ").unwrap_or(line)));
            out.push('\n');
        }
        out.push_str(".fi\n");
    }
    out
}

/// The EXAMPLES / EXIT STATUS / NOTES sections from a help epilogue.
pub fn epilogue_sections(text: &str) -> String {
    let mut out = String::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        let Some(first) = lines.next() else { continue };
        let rest: Vec<&str> = lines.collect();
        let (title, lead) = if let Some(lead) = first.strip_prefix("Examples:") {
            ("EXAMPLES", lead.trim())
        } else if let Some(lead) = first.strip_prefix("Exit status:") {
            ("EXIT STATUS", lead.trim())
        } else {
            out.push_str(&nofill_section("NOTES", None, &block.lines().collect::<Vec<_>>()));
            continue;
        };
        // A one-line "Exit status: 0 ok, 1 ..." continues on the next lines as prose.
        if rest.iter().all(|l| !l.starts_with("  ")) && !lead.is_empty() {
            let prose =
                std::iter::once(lead).chain(rest.iter().map(|l| l.trim())).collect::<Vec<_>>().join(" ");
            out.push_str(&nofill_section(title, Some(&prose), &[]));
        } else {
            out.push_str(&nofill_section(title, (!lead.is_empty()).then_some(lead), &rest));
        }
    }
    out
}

/// One man page for `cmd` (built: `Command::build` has run on its root).
pub fn render(cmd: &Command) -> io::Result<Vec<u8>> {
    let man = Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut page)?;
    }
    if let Some(text) = cmd.get_after_long_help().or(cmd.get_after_help()) {
        page.extend_from_slice(epilogue_sections(&text.to_string()).as_bytes());
    }
    if cmd.get_version().is_some() {
        man.render_version_section(&mut page)?;
    }
    Ok(page)
}

/// Every page: `vcsm-tool.1` and `vcsm-tool-SUB.1` for each subcommand, as (file name,
/// contents).
pub fn pages(root: Command) -> io::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &Command, out: &mut Vec<(String, Vec<u8>)>) -> io::Result<()> {
        let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name()).to_owned();
        out.push((format!("{name}.1"), render(cmd)?));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out)?;
        }
        Ok(())
    }
    let mut root = root.disable_help_subcommand(true);
    root.build();
    let mut out = Vec::new();
    walk(&root, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::CommandFactory;

    #[test]
    fn escaping() {
        assert_eq!(escape("vcsm-tool --help"), "vcsm\\-tool \\-\\-help");
        assert_eq!(escape(".hidden"), "\\&.hidden");
        assert_eq!(escape("'q"), "\\&'q");
        assert_eq!(escape("a\\b"), "a\\eb");
    }

    #[test]
    fn epilogues() {
        let s = epilogue_sections(
            "Examples:\n  vcsm-tool heaps\n  x --y\n\nExit status: 0 ok, 1 failed,\n2 usage.",
        );
        assert_eq!(
            s,
            ".SH \"EXAMPLES\"\n.nf\nvcsm\\-tool heaps\nx \\-\\-y\n.fi\n\
             .SH \"EXIT STATUS\"\n0 ok, 1 failed, 2 usage.\n"
        );
        let s = epilogue_sections("Exit status:\n  0  success\n  1  failed\n\nSomething else\n  more");
        assert_eq!(
            s,
            ".SH \"EXIT STATUS\"\n.nf\n0  success\n1  failed\n.fi\n.SH \"NOTES\"\n.nf\nSomething else\nmore\n.fi\n"
        );
    }

    #[test]
    fn all_pages() {
        let pages = pages(Cli::command()).unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "vcsm-tool.1",
                "vcsm-tool-heaps.1",
                "vcsm-tool-alloc.1",
                "vcsm-tool-import.1",
                "vcsm-tool-alloc-vpu.1",
                "vcsm-tool-fill.1",
                "vcsm-tool-verify.1",
                "vcsm-tool-status.1",
                "vcsm-tool-bench.1",
                "vcsm-tool-stream.1",
                "vcsm-tool-man.1",
                "vcsm-tool-completions.1",
            ]
        );
        for (name, page) in &pages {
            let text = String::from_utf8(page.clone()).unwrap();
            assert!(text.starts_with(".ie \\n(.g .ds Aq \\(aq") || text.contains(".TH"), "{name}");
            assert!(text.contains(".SH \"EXAMPLES\"\n.nf\n"), "{name} has no examples");
            assert!(!text.contains(".SH EXTRA"), "{name}");
        }
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        assert!(main.contains(".SH \"EXIT STATUS\"\n.nf\n0  success\n"), "{main}");
        let import = String::from_utf8(pages[3].1.clone()).unwrap();
        assert!(import.contains(".TH vcsm-tool-import 1"), "{import}");
        assert!(import.contains("vcsm\\-tool import \\-\\-alloc vcsm\\-uncached:8M\n"), "{import}");
    }
}
