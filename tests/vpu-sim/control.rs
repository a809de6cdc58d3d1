// SPDX-License-Identifier: GPL-2.0

//! debugfs `vpu-sim/`: observe and steer the simulated VPU. Every bad input is refused with
//! `EINVAL` and a kernel log line saying what was wrong.
//!
//! | file | write | read |
//! |---|---|---|
//! | `state` | | instances, services, handles, pending releases, counters, last mem request |
//! | `hold` / `drop` | `HANDLE`: take / drop a VPU reference | usage |
//! | `release_delay_ms`, `reply_delay_ms` | `N` | value |
//! | `reorder`, `duplicate`, `hang` | `on` / `off` | value |
//! | `fail_next` | `N`: the next N IMPORT sends fail (`EIO`) | value |
//! | `zero_handle_next` | `N`: the next N IMPORTs get handle 0 | value |
//! | `protocol` | `1` / `2` | value |
//! | `mem_request` | `SIZE ALIGN NAME`: send a VC_MEM_REQUEST | last outcome |
//! | `fill` | `HANDLE SEED`: the VPU writes the test pattern | last fill |
//! | `checksum` | `HANDLE`: the VPU checksums the buffer | last checksum |
//! | `connected` | `on` / `off`: VCHIQ connected (deferred callbacks run) / not yet | value |

use crate::{
    kext::{debugfs::StoreFops, miscdev::this_module},
    sim::Sim,
    support::debugfs::{on_off, parse_on_off, parse_u32, Control, File, FileOf, SeqFile},
};
use kernel::{c_str, prelude::*, sync::Arc};

const STATE: usize = 0;
const HOLD: usize = 1;
const DROP: usize = 2;
const RELEASE_DELAY: usize = 3;
const REPLY_DELAY: usize = 4;
const REORDER: usize = 5;
const DUPLICATE: usize = 6;
const FAIL_NEXT: usize = 7;
const ZERO_HANDLE_NEXT: usize = 8;
const HANG: usize = 9;
const PROTOCOL: usize = 10;
const MEM_REQUEST: usize = 11;
const FILL: usize = 12;
const CHECKSUM: usize = 13;
const CONNECTED: usize = 14;

/// The longest accepted delay, in milliseconds.
const MAX_DELAY_MS: u32 = 60_000;

/// The files of `vpu-sim/`.
pub(crate) const FILES: [File; 15] = [
    File {
        name: c_str!("state"),
        mode: 0o444,
        id: STATE,
    },
    File {
        name: c_str!("hold"),
        mode: 0o644,
        id: HOLD,
    },
    File {
        name: c_str!("drop"),
        mode: 0o644,
        id: DROP,
    },
    File {
        name: c_str!("release_delay_ms"),
        mode: 0o644,
        id: RELEASE_DELAY,
    },
    File {
        name: c_str!("reply_delay_ms"),
        mode: 0o644,
        id: REPLY_DELAY,
    },
    File {
        name: c_str!("reorder"),
        mode: 0o644,
        id: REORDER,
    },
    File {
        name: c_str!("duplicate"),
        mode: 0o644,
        id: DUPLICATE,
    },
    File {
        name: c_str!("fail_next"),
        mode: 0o644,
        id: FAIL_NEXT,
    },
    File {
        name: c_str!("zero_handle_next"),
        mode: 0o644,
        id: ZERO_HANDLE_NEXT,
    },
    File {
        name: c_str!("hang"),
        mode: 0o644,
        id: HANG,
    },
    File {
        name: c_str!("protocol"),
        mode: 0o644,
        id: PROTOCOL,
    },
    File {
        name: c_str!("mem_request"),
        mode: 0o644,
        id: MEM_REQUEST,
    },
    File {
        name: c_str!("fill"),
        mode: 0o644,
        id: FILL,
    },
    File {
        name: c_str!("checksum"),
        mode: 0o644,
        id: CHECKSUM,
    },
    File {
        name: c_str!("connected"),
        mode: 0o644,
        id: CONNECTED,
    },
];

/// The file names, for messages.
fn name(file: usize) -> &'static str {
    FILES
        .get(file)
        .and_then(|f| f.name.to_str().ok())
        .unwrap_or("?")
}

/// The debugfs side of a simulator.
pub(crate) struct SimControl {
    sim: Arc<Sim>,
}

impl SimControl {
    pub(crate) fn new(sim: Arc<Sim>) -> Self {
        Self { sim }
    }
}

/// Logs why `input` is refused for `file` and returns `EINVAL`.
fn bad(file: usize, input: &str, why: &str) -> Error {
    pr_err!("debugfs {}: '{}' refused: {}\n", name(file), input, why);
    EINVAL
}

fn number(file: usize, input: &str) -> Result<u32> {
    parse_u32(input).ok_or_else(|| bad(file, input, "expected a number (decimal or 0x hex)"))
}

fn delay(file: usize, input: &str) -> Result<u32> {
    let ms = number(file, input)?;
    if ms > MAX_DELAY_MS {
        return Err(bad(file, input, "delay over 60000 ms"));
    }
    Ok(ms)
}

fn switch(file: usize, input: &str) -> Result<bool> {
    parse_on_off(input).ok_or_else(|| bad(file, input, "expected on or off"))
}

fn handle(file: usize, input: &str) -> Result<u32> {
    let h = number(file, input)?;
    if h == 0 {
        return Err(bad(file, input, "handle 0 is never valid"));
    }
    Ok(h)
}

/// The `file_operations` of the control files.
pub(crate) static FOPS: StoreFops = StoreFops::new::<FileOf<SimControl>>(this_module!());

impl Control for SimControl {
    fn show(&self, file: usize, out: &mut SeqFile<'_>) -> Result {
        match file {
            STATE => self.sim.show(out),
            HOLD | DROP => out.fmt(format_args!("write a VPU handle (see state)\n")),
            FILL => {
                let mut last = None;
                self.sim.record(|fw| last = fw.last_fill);
                match last {
                    Some((h, seed)) => out.fmt(format_args!("handle {:#x} seed {:#x}\n", h, seed)),
                    None => out.fmt(format_args!("none\n")),
                }
            }
            CHECKSUM => {
                let mut last = None;
                self.sim.record(|fw| last = fw.last_checksum);
                match last {
                    Some((h, size, sum)) => out.fmt(format_args!(
                        "handle {:#x} size {:#x} checksum {:#010x}\n",
                        h, size, sum
                    )),
                    None => out.fmt(format_args!("none\n")),
                }
            }
            MEM_REQUEST => {
                let mut result = Ok(());
                self.sim.record(|fw| result = fw.show_mem_request(out));
                result
            }
            CONNECTED => out.fmt(format_args!(
                "{}\n",
                on_off(self.sim.connection().connected())
            )),
            _ => {
                let mut line = Ok(());
                self.sim.record(|fw| {
                    let s = &fw.settings;
                    line = match file {
                        RELEASE_DELAY => out.fmt(format_args!("{}\n", s.release_delay_ms)),
                        REPLY_DELAY => out.fmt(format_args!("{}\n", s.reply_delay_ms)),
                        REORDER => out.fmt(format_args!("{}\n", on_off(s.reorder))),
                        DUPLICATE => out.fmt(format_args!("{}\n", on_off(s.duplicate))),
                        FAIL_NEXT => out.fmt(format_args!("{}\n", s.fail_next)),
                        ZERO_HANDLE_NEXT => out.fmt(format_args!("{}\n", s.zero_handle_next)),
                        HANG => out.fmt(format_args!("{}\n", on_off(s.hang))),
                        PROTOCOL => out.fmt(format_args!("{}\n", s.protocol)),
                        _ => Err(EINVAL),
                    };
                });
                line
            }
        }
    }

    fn store(&self, file: usize, input: &str) -> Result {
        let sim = &self.sim;
        match file {
            HOLD => sim.hold(handle(file, input)?),
            DROP => sim.drop_ref(handle(file, input)?),
            RELEASE_DELAY => {
                let ms = delay(file, input)?;
                sim.configure(|fw| {
                    fw.settings.release_delay_ms = ms;
                    Ok(())
                })
            }
            REPLY_DELAY => {
                let ms = delay(file, input)?;
                sim.configure(|fw| {
                    fw.settings.reply_delay_ms = ms;
                    Ok(())
                })
            }
            REORDER | DUPLICATE | HANG => {
                let on = switch(file, input)?;
                sim.configure(|fw| {
                    let s = &mut fw.settings;
                    match file {
                        REORDER => s.reorder = on,
                        DUPLICATE => s.duplicate = on,
                        _ => s.hang = on,
                    }
                    Ok(())
                })
            }
            FAIL_NEXT | ZERO_HANDLE_NEXT => {
                let n = number(file, input)?;
                sim.configure(|fw| {
                    if file == FAIL_NEXT {
                        fw.settings.fail_next = n;
                    } else {
                        fw.settings.zero_handle_next = n;
                    }
                    Ok(())
                })
            }
            PROTOCOL => {
                let v = number(file, input)?;
                if v != 1 && v != 2 {
                    return Err(bad(file, input, "protocol is 1 or 2"));
                }
                sim.configure(|fw| {
                    fw.settings.protocol = v;
                    Ok(())
                })
            }
            MEM_REQUEST => {
                let mut words = input.split_ascii_whitespace();
                let (Some(size), Some(align), Some(req_name), None) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    return Err(bad(file, input, "expected SIZE ALIGN NAME"));
                };
                let size = number(file, size)?;
                let align = number(file, align)?;
                if size == 0 {
                    return Err(bad(file, input, "size 0"));
                }
                if align != 0 && !align.is_power_of_two() {
                    return Err(bad(file, input, "alignment is not a power of two"));
                }
                sim.mem_request(size, align, req_name.as_bytes())
            }
            FILL => {
                let mut words = input.split_ascii_whitespace();
                let (Some(h), Some(seed), None) = (words.next(), words.next(), words.next()) else {
                    return Err(bad(file, input, "expected HANDLE SEED"));
                };
                let h = handle(file, h)?;
                let seed = number(file, seed)?;
                sim.vpu_dma(h, |w| w.fill(seed))?;
                sim.record(|fw| fw.last_fill = Some((h, seed)));
                Ok(())
            }
            CHECKSUM => {
                let h = handle(file, input)?;
                let (size, sum) = sim.vpu_dma(h, |w| (w.len(), w.checksum()))?;
                sim.record(|fw| fw.last_checksum = Some((h, size, sum)));
                Ok(())
            }
            // Not under the simulator's lock: deferred callbacks run now and may call back in.
            CONNECTED => sim.connection().set(switch(file, input)?),
            _ => Err(bad(file, input, "the file is read-only")),
        }
    }
}
