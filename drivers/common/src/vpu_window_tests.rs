// SPDX-License-Identifier: GPL-2.0

//! Host tests for the VPU window: the `dma-ranges` of the Raspberry Pi trees and of the test
//! bed, byte for byte as dtc writes them, the window they give with and without the
//! firmware's ARM memory (QEMU raspi3b's answer and real boards'), and malformed properties.

use crate::vpu_window::*;

/// Big-endian cells, as a device-tree property holds them.
fn cells(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn parse(words: &[u32], bus: u32, cpu: u32, size: u32) -> Result<Vec<DmaRange>, WindowError> {
    let mut out = [DmaRange::default(); MAX_RANGES];
    let n = parse_dma_ranges(&cells(words), bus, cpu, size, &mut out)?;
    Ok(out[..n].to_vec())
}

const MIB: u64 = 1 << 20;

// The Pi 3 / Zero 2 W `/soc` (1 address cell each side, 1 size cell): RAM, then peripherals.
const PI3_SOC: &[u32] = &[
    0xc000_0000,
    0x0,
    0x3f00_0000,
    0x7e00_0000,
    0x3f00_0000,
    0x0100_0000,
];
// The Pi 4 `/soc` (1 bus cell, 2 ARM cells, 1 size cell).
const PI4_SOC: &[u32] = &[
    0xc000_0000,
    0x0,
    0x0,
    0x4000_0000,
    0x7c00_0000,
    0x0,
    0xfc00_0000,
    0x0380_0000,
];
// The Pi 5 `/soc`: peripherals above 64 GiB.
const PI5_SOC: &[u32] = &[
    0xc000_0000,
    0x0,
    0x0,
    0x4000_0000,
    0x7c00_0000,
    0x10,
    0x7c00_0000,
    0x0400_0000,
];
// The test bed's vpu-sim node on QEMU virt (1 bus cell, 2 ARM cells, 1 size cell).
const VIRT_SIM: &[u32] = &[0xc000_0000, 0x0, 0x4000_0000, 0x4000_0000];

#[test]
fn pi3_soc_parses_to_ram_and_peripherals() {
    let r = parse(PI3_SOC, 1, 1, 1).unwrap();
    assert_eq!(
        r,
        vec![
            DmaRange {
                cpu: 0,
                bus: 0xc000_0000,
                size: 0x3f00_0000
            },
            DmaRange {
                cpu: 0x3f00_0000,
                bus: 0x7e00_0000,
                size: 16 * MIB
            },
        ]
    );
}

#[test]
fn pi3_window_without_firmware_is_the_ram_entry() {
    let w = Window::from_ranges(&parse(PI3_SOC, 1, 1, 1).unwrap(), None).unwrap();
    assert_eq!((w.cpu, w.bus, w.size), (0, 0xc000_0000, 0x3f00_0000));
    assert_eq!(w.source, Source::DmaRanges);
}

#[test]
fn qemu_raspi3b_window_is_cut_to_the_firmware_arm_memory() {
    // QEMU's raspi3b answers GET_ARM_MEMORY with base 0, size 1 GiB - 64 MiB (its vcram).
    let w = Window::from_ranges(&parse(PI3_SOC, 1, 1, 1).unwrap(), Some((0, 0x3c00_0000))).unwrap();
    assert_eq!((w.cpu, w.bus, w.size), (0, 0xc000_0000, 0x3c00_0000));
    assert_eq!(w.source, Source::DmaRangesAndFirmware);
    assert!(w.contains_cpu(0x3bc0_0000, 4 * MIB));
    assert!(!w.contains_cpu(0x3bc0_0000, 4 * MIB + 1));
    assert!(w.contains_bus(0xfbff_f000, 0x1000));
    assert!(!w.contains_bus(0xfc00_0000, 0x1000));
    assert_eq!(w.cpu_end(), 0x3c00_0000);
    assert_eq!(w.bus_end(), 0xfc00_0000);
}

#[test]
fn pi4_8gb_window_is_the_first_gib_cut_to_arm_memory() {
    let r = parse(PI4_SOC, 1, 2, 1).unwrap();
    assert_eq!(
        r[1],
        DmaRange {
            cpu: 0xfc00_0000,
            bus: 0x7c00_0000,
            size: 0x0380_0000
        }
    );
    // A Pi 4 with 76 MiB gpu_mem: ARM memory is 0 .. 0x3b400000.
    let w = Window::from_ranges(&r, Some((0, 0x3b40_0000))).unwrap();
    assert_eq!((w.cpu, w.bus, w.size), (0, 0xc000_0000, 0x3b40_0000));
    // A pool placed top-down from the end of 8 GiB (D1) is far outside it.
    assert!(!w.contains_cpu(0x1_f800_0000, 128 * MIB));
    // One placed by alloc-ranges in the first 768 MiB is inside.
    assert!(w.contains_cpu(0x2800_0000, 128 * MIB));
}

#[test]
fn pi5_picks_the_ram_entry_not_the_high_peripherals() {
    let w = Window::from_ranges(&parse(PI5_SOC, 1, 2, 1).unwrap(), None).unwrap();
    assert_eq!((w.cpu, w.bus, w.size), (0, 0xc000_0000, 0x4000_0000));
}

#[test]
fn virt_test_bed_window_starts_at_virt_ram() {
    let w = Window::from_ranges(&parse(VIRT_SIM, 1, 2, 1).unwrap(), None).unwrap();
    assert_eq!(
        (w.cpu, w.bus, w.size),
        (0x4000_0000, 0xc000_0000, 0x4000_0000)
    );
    assert!(w.contains_cpu(0x4000_0000, 0x4000_0000));
    assert!(!w.contains_cpu(0x8000_0000, 0x1000));
    assert!(!w.contains_cpu(0x3fff_f000, 0x2000));
    assert_eq!(
        format!("{w}"),
        "cpu_base=0x40000000 cpu_end=0x80000000 bus_base=0xc0000000 size=1073741824 source=dma-ranges"
    );
}

#[test]
fn firmware_memory_starting_above_the_ram_entry_moves_the_bus_base() {
    let r = [DmaRange {
        cpu: 0,
        bus: 0xc000_0000,
        size: 0x4000_0000,
    }];
    let w = Window::from_ranges(&r, Some((0x100_0000, 0x1000_0000))).unwrap();
    assert_eq!(
        (w.cpu, w.bus, w.size),
        (0x100_0000, 0xc100_0000, 0x1000_0000)
    );
}

#[test]
fn disjoint_firmware_memory_is_an_error() {
    let r = [DmaRange {
        cpu: 0x4000_0000,
        bus: 0xc000_0000,
        size: 0x4000_0000,
    }];
    assert_eq!(
        Window::from_ranges(&r, Some((0, 0x3c00_0000))),
        Err(WindowError::Disjoint)
    );
    assert_eq!(
        Window::from_ranges(&r, Some((0x8000_0000, 0x1000))),
        Err(WindowError::Disjoint)
    );
}

#[test]
fn two_cell_everything_parses() {
    let r = parse(&[0x0, 0xc000_0000, 0x1, 0x0, 0x0, 0x4000_0000], 2, 2, 2).unwrap();
    assert_eq!(
        r,
        vec![DmaRange {
            cpu: 0x1_0000_0000,
            bus: 0xc000_0000,
            size: 0x4000_0000
        }]
    );
}

#[test]
fn malformed_properties_are_refused() {
    // Not a whole entry.
    assert_eq!(
        parse(&[0xc000_0000, 0x0], 1, 1, 1),
        Err(WindowError::Length)
    );
    // Empty `dma-ranges;` (1:1) says nothing about the window.
    assert_eq!(parse(&[], 1, 1, 1), Err(WindowError::Empty));
    // Cell counts.
    assert_eq!(parse(PI3_SOC, 0, 1, 1), Err(WindowError::Cells));
    assert_eq!(parse(PI3_SOC, 1, 3, 1), Err(WindowError::Cells));
    assert_eq!(parse(PI3_SOC, 1, 1, 0), Err(WindowError::Cells));
    // Size 0, and ranges that wrap.
    assert_eq!(
        parse(&[0xc000_0000, 0x0, 0x0], 1, 1, 1),
        Err(WindowError::BadEntry)
    );
    assert_eq!(
        parse(&[0xffff_ffff, 0xffff_ffff, 0x0, 0x0, 0x1], 2, 1, 2),
        Err(WindowError::BadEntry)
    );
    // More entries than we read.
    let many: Vec<u32> = (0..9)
        .flat_map(|i| [i * 0x1000, i * 0x1000, 0x1000])
        .collect();
    assert_eq!(parse(&many, 1, 1, 1), Err(WindowError::TooMany));
    assert_eq!(parse(&many[..24], 1, 1, 1).unwrap().len(), 8);
    assert_eq!(Window::from_ranges(&[], None), Err(WindowError::Empty));
}

#[test]
fn containment_does_not_overflow() {
    let w = Window {
        cpu: u64::MAX - 0xfff,
        bus: 0,
        size: 0x1000,
        source: Source::DmaRanges,
    };
    // The window's own end is 2^64: nothing is "inside" rather than wrapping to 0.
    assert!(!w.contains_cpu(u64::MAX - 0xfff, 0x1000));
    assert!(!w.contains_cpu(u64::MAX, 2));
    assert!(!w.contains_bus(0, u64::MAX));
    assert_eq!(w.cpu_end(), u64::MAX);
}
