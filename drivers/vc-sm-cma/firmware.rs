// SPDX-License-Identifier: GPL-2.0

//! What the Raspberry Pi firmware says about the board, asked once at probe: the firmware
//! revision, the board revision code (decoded), the ARM's memory and the VideoCore's memory.
//! Shown as the `firmware` line of debugfs `vcsm-cma/state`; the ARM memory also bounds the
//! VPU's window (`window.rs`).

use crate::{
    rpi_firmware::{Firmware, PropertyError},
    rpi_fw::{
        Board, BoardRevision, FirmwareRevision, GetArmMemory, GetBoardRevision,
        GetFirmwareRevision, GetVcMemory, MemoryRange,
    },
};
use core::fmt::{self, Write};
use kernel::prelude::*;

/// The answers of a firmware that is present; each property may have failed on its own.
pub(crate) struct Facts {
    revision: Result<FirmwareRevision, PropertyError>,
    board: Result<Board, PropertyError>,
    arm: Result<MemoryRange, PropertyError>,
    vc: Result<MemoryRange, PropertyError>,
}

/// Whether there is a firmware, and what it said.
pub(crate) enum FirmwareInfo {
    /// No firmware node in the device tree: not a Raspberry Pi (QEMU `virt`).
    Absent,
    /// A firmware node, but the firmware cannot be asked (the errno of [`Firmware::find`]).
    Unusable(Error),
    /// The firmware's answers.
    Present(Facts),
}

/// Looks for the firmware and asks it. Returns the reference to keep while the device is
/// bound (`None` without a usable firmware) and what it said.
pub(crate) fn probe() -> (Option<Firmware>, FirmwareInfo) {
    let fw = match Firmware::find() {
        Ok(Some(fw)) => fw,
        Ok(None) => return (None, FirmwareInfo::Absent),
        Err(e) => {
            pr_info!(
                "the device tree has a Raspberry Pi firmware node, but the firmware cannot be used (error {}): no board facts\n",
                e.to_errno()
            );
            return (None, FirmwareInfo::Unusable(e));
        }
    };
    let facts = Facts {
        revision: fw.property(&GetFirmwareRevision),
        board: fw.property(&GetBoardRevision).map(BoardRevision::decode),
        arm: fw.property(&GetArmMemory),
        vc: fw.property(&GetVcMemory),
    };
    let info = FirmwareInfo::Present(facts);
    pr_info!("Raspberry Pi firmware: {}\n", Summary(&info));
    (Some(fw), info)
}

/// A failed property, as a value: `error:<errno>` for a failed call, `error:reply` for an
/// answer that was not a valid response.
struct Failed(PropertyError);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            PropertyError::Call(e) => write!(f, "error:{}", e.to_errno()),
            PropertyError::Reply(_) => f.write_str("error:reply"),
        }
    }
}
crate::kext::compat::kext_impl_display!(Failed);

/// An optional decoded value, `unknown` when the code does not say.
struct Opt<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// The `key=value` pairs after `firmware` (also the probe's log line).
struct Summary<'a>(&'a FirmwareInfo);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let facts = match self.0 {
            FirmwareInfo::Absent => return f.write_str("present=no"),
            FirmwareInfo::Unusable(e) => {
                return write!(f, "present=unusable error={}", e.to_errno())
            }
            FirmwareInfo::Present(facts) => facts,
        };
        f.write_str("present=yes")?;
        match facts.revision {
            Ok(FirmwareRevision(r)) => write!(f, " revision={:#x}", r)?,
            Err(e) => write!(f, " revision={}", Failed(e))?,
        }
        match &facts.board {
            Ok(b) => write!(
                f,
                " board={:#x} model={} board_rev={} ram_mb={} processor={} manufacturer={}",
                b.code,
                b.model.name(),
                Opt(b.revision.map(|r| Rev(r.major, r.minor))),
                Opt(b.memory_mb),
                Opt(b.processor.map(|p| p.name())),
                Opt(b.manufacturer.map(|m| m.name())),
            )?,
            Err(e) => write!(f, " board={}", Failed(*e))?,
        }
        for (name, range) in [("arm", &facts.arm), ("vc", &facts.vc)] {
            match range {
                Ok(r) => write!(f, " {name}_base={:#x} {name}_size={}", r.base, r.size)?,
                Err(e) => write!(f, " {name}_base={}", Failed(*e))?,
            }
        }
        Ok(())
    }
}
crate::kext::compat::kext_impl_display!(Summary<'_>);

/// A board revision `major.minor`.
struct Rev(u8, u8);

impl fmt::Display for Rev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}
crate::kext::compat::kext_impl_display!(Rev);

impl FirmwareInfo {
    /// The firmware's ARM memory as `(base, size)`, if it answered.
    pub(crate) fn arm_memory(&self) -> Option<(u64, u64)> {
        match self {
            Self::Present(Facts { arm: Ok(m), .. }) => Some((u64::from(m.base), u64::from(m.size))),
            _ => None,
        }
    }

    /// Writes the debugfs line: `firmware present=...` and the facts.
    pub(crate) fn write_line(&self, w: &mut impl Write) -> fmt::Result {
        writeln!(w, "firmware {}", Summary(self))
    }
}
