//! `vcsm-tool`: a command-line tool for VideoCore shared memory on Raspberry Pi (the vcsm
//! dma-heaps and `/dev/vcsm-cma`), for camera, codec and ISP developers.
//!
//! The binary (`src/main.rs`) only parses the command line and maps errors to exit statuses;
//! everything else lives here so it can be unit-tested on the host:
//!
//! * [`cli`]: the clap definitions (also the source of the man pages and completions);
//! * [`commands`]: the subcommands;
//! * [`vcsm`]: `/dev/vcsm-cma` ioctls; [`source`]: heaps, fds, `PID:FD`;
//! * [`bufops`]: pattern fill and read-back through mmap + `DMA_BUF_IOCTL_SYNC`;
//! * [`pattern`]: patterns and the simulated VPU's checksum (FNV-1a);
//! * [`heaps`], [`status`], [`bench`]: the listing, the debugfs state parser, the benchmark;
//! * [`output`], [`json`]: `key=value` lines, tables, JSON; [`manpage`]: man pages;
//! * [`error`]: errors naming file, ioctl and errno, and the exit statuses.

pub mod bench;
pub mod bufops;
pub mod cli;
pub mod commands;
pub mod error;
pub mod heaps;
pub mod json;
pub mod manpage;
pub mod output;
pub mod paths;
pub mod pattern;
pub mod source;
pub mod status;
pub mod stream;
pub mod vcsm;

#[cfg(test)]
mod testutil;

pub use cli::Cli;
pub use commands::run;
pub use error::{Error, Kind, Result};
