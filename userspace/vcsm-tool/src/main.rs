//! `vcsm-tool`: see `vcsm-tool --help`, or the crate documentation.
//!
//! Exit status: 0 success, 1 operation failed, 2 usage error, 3 device or driver missing.

use std::process::ExitCode;

use clap::Parser;
use vcsm_tool::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (status 0) and usage errors to stderr (2).
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match vcsm_tool::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vcsm-tool: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
