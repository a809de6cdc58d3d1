// SPDX-License-Identifier: GPL-2.0

//! Host tests for the firmware property layouts: byte-exact tags written out by hand from the
//! wire format, answers as the firmware writes them, real board revision codes from the
//! Raspberry Pi documentation's tables, and malformed answers.

use crate::rpi_fw::*;

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ---- Requests, byte for byte ---------------------------------------------------------------

#[test]
fn firmware_revision_request_bytes() {
    let tag = encode(&GetFirmwareRevision);
    assert_eq!(
        tag.as_bytes(),
        cat(&[
            &[0x01, 0x00, 0x00, 0x00], // tag GET_FIRMWARE_REVISION
            &[0x04, 0x00, 0x00, 0x00], // value buffer: 4 bytes (the response's u32)
            &[0x00, 0x00, 0x00, 0x00], // request: bit 31 clear
            &[0x00, 0x00, 0x00, 0x00], // value buffer, zeroed
        ])
    );
    assert_eq!(tag.len(), 16);
}

#[test]
fn board_revision_request_bytes() {
    assert_eq!(
        encode(&GetBoardRevision).as_bytes(),
        cat(&[
            &[0x02, 0x00, 0x01, 0x00],
            &[0x04, 0x00, 0x00, 0x00],
            &[0x00; 4],
            &[0x00; 4],
        ])
    );
}

#[test]
fn memory_requests_bytes() {
    let arm = encode(&GetArmMemory);
    assert_eq!(
        arm.as_bytes(),
        cat(&[
            &[0x05, 0x00, 0x01, 0x00], // tag GET_ARM_MEMORY
            &[0x08, 0x00, 0x00, 0x00], // value buffer: base and size
            &[0x00; 4],
            &[0x00; 8],
        ])
    );
    let vc = encode(&GetVcMemory);
    assert_eq!(
        vc.as_bytes(),
        cat(&[
            &[0x06, 0x00, 0x01, 0x00],
            &[0x08, 0, 0, 0],
            &[0x00; 4],
            &[0x00; 8]
        ])
    );
    assert_eq!(arm.len(), 20);
    assert_eq!(arm.len() % 4, 0);
}

#[test]
fn tag_values_and_constants() {
    // The values of enum rpi_firmware_property_tag / enum rpi_firmware_property_status.
    assert_eq!(tag::GET_FIRMWARE_REVISION, 0x0000_0001);
    assert_eq!(tag::GET_BOARD_REVISION, 0x0001_0002);
    assert_eq!(tag::GET_ARM_MEMORY, 0x0001_0005);
    assert_eq!(tag::GET_VC_MEMORY, 0x0001_0006);
    assert_eq!(tag::VCHIQ_INIT, 0x0004_8010);
    assert_eq!(STATUS_SUCCESS, 0x8000_0000);
    assert_eq!(STATUS_ERROR, 0x8000_0001);
    assert_eq!(TAG_HEADER_LEN, 12);
    assert_eq!(value_buf_len::<GetArmMemory>(), 8);
    assert_eq!(tag_len::<GetFirmwareRevision>(), 16);
}

// ---- Answers ------------------------------------------------------------------------------

/// An answer to `tag` with value buffer size `buf`, code word `code` and `value` after it.
fn answer(tag: u32, buf: u32, code: u32, value: &[u8]) -> Vec<u8> {
    cat(&[
        &tag.to_le_bytes(),
        &buf.to_le_bytes(),
        &code.to_le_bytes(),
        value,
    ])
}

#[test]
fn firmware_revision_answer() {
    // What QEMU's raspi machines answer (346337), as the firmware writes it in place.
    let bytes = cat(&[
        &[0x01, 0x00, 0x00, 0x00],
        &[0x04, 0x00, 0x00, 0x00],
        &[0x04, 0x00, 0x00, 0x80], // response, 4 bytes
        &[0xe1, 0x48, 0x05, 0x00], // 0x000548e1
    ]);
    assert_eq!(
        decode::<GetFirmwareRevision>(&bytes),
        Ok(FirmwareRevision(346_337))
    );
}

#[test]
fn memory_answers() {
    let bytes = cat(&[
        &[0x05, 0x00, 0x01, 0x00],
        &[0x08, 0x00, 0x00, 0x00],
        &[0x08, 0x00, 0x00, 0x80],
        &[0x00, 0x00, 0x00, 0x00], // base 0
        &[0x00, 0x00, 0x40, 0x3b], // size 0x3b400000 (948 MiB, a Pi 3 with gpu_mem=76)
    ]);
    let arm = decode::<GetArmMemory>(&bytes).expect("valid answer");
    assert_eq!(
        arm,
        MemoryRange {
            base: 0,
            size: 0x3b40_0000
        }
    );
    assert_eq!(arm.end(), 0x3b40_0000);
    let vc = answer(
        tag::GET_VC_MEMORY,
        8,
        RESPONSE_BIT | 8,
        &cat(&[&0x3c00_0000u32.to_le_bytes(), &0x0400_0000u32.to_le_bytes()]),
    );
    assert_eq!(
        decode::<GetVcMemory>(&vc),
        Ok(MemoryRange {
            base: 0x3c00_0000,
            size: 0x0400_0000
        })
    );
    // A range that ends exactly at 4 GiB is fine.
    let top = answer(
        tag::GET_VC_MEMORY,
        8,
        RESPONSE_BIT | 8,
        &cat(&[&0xf000_0000u32.to_le_bytes(), &0x1000_0000u32.to_le_bytes()]),
    );
    assert_eq!(decode::<GetVcMemory>(&top).map(|r| r.end()), Ok(1u64 << 32));
}

#[test]
fn round_trips() {
    // Request encoded, answered in place as the firmware does, decoded.
    fn answer_in_place<R: Request>(req: &R, value: &[u8]) -> Result<R::Response, ReplyError> {
        let mut tag = encode(req);
        let bytes = tag.as_mut_bytes();
        let code = RESPONSE_BIT | value.len() as u32;
        bytes[8..12].copy_from_slice(&code.to_le_bytes());
        bytes[12..12 + value.len()].copy_from_slice(value);
        decode::<R>(tag.as_bytes())
    }
    assert_eq!(
        answer_in_place(&GetBoardRevision, &0x00a0_2082u32.to_le_bytes()),
        Ok(BoardRevision(0x00a0_2082))
    );
    for (base, size) in [(0u32, 0x3b40_0000u32), (0x3c00_0000, 0x0400_0000), (0, 0)] {
        let value = cat(&[&base.to_le_bytes(), &size.to_le_bytes()]);
        assert_eq!(
            answer_in_place(&GetArmMemory, &value),
            Ok(MemoryRange { base, size })
        );
        // encode_answer builds the same bytes a firmware writes.
        let ans = encode_answer::<GetArmMemory>(&value).expect("fits");
        assert_eq!(
            decode::<GetArmMemory>(ans.as_bytes()),
            Ok(MemoryRange { base, size })
        );
    }
    for rev in [0u32, 1, 0x5f1a_0000, u32::MAX] {
        let ans = encode_answer::<GetFirmwareRevision>(&rev.to_le_bytes()).expect("fits");
        assert_eq!(
            decode::<GetFirmwareRevision>(ans.as_bytes()),
            Ok(FirmwareRevision(rev))
        );
    }
    // A value larger than the value buffer cannot be an answer.
    assert_eq!(encode_answer::<GetBoardRevision>(&[0; 8]), None);
}

#[test]
fn trailing_bytes_are_ignored() {
    // rpi_firmware_property_list copies back exactly the tags; a caller with a larger buffer
    // (or the end tag after it) must still decode.
    let mut bytes = answer(
        tag::GET_BOARD_REVISION,
        4,
        RESPONSE_BIT | 4,
        &0x00c0_3111u32.to_le_bytes(),
    );
    bytes.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff]);
    assert_eq!(
        decode::<GetBoardRevision>(&bytes),
        Ok(BoardRevision(0x00c0_3111))
    );
}

// ---- Malformed answers --------------------------------------------------------------------

#[test]
fn short_answers_are_refused() {
    let full = answer(tag::GET_ARM_MEMORY, 8, RESPONSE_BIT | 8, &[0; 8]);
    for len in 0..full.len() {
        assert_eq!(
            decode::<GetArmMemory>(&full[..len]),
            Err(ReplyError::TooShort { need: 20, got: len }),
            "length {len}"
        );
    }
    assert!(decode::<GetArmMemory>(&full).is_ok());
}

#[test]
fn wrong_tag_is_refused() {
    // A board revision answer is not an ARM memory answer, even with enough bytes.
    let bytes = answer(tag::GET_BOARD_REVISION, 8, RESPONSE_BIT | 8, &[0; 8]);
    assert_eq!(
        decode::<GetArmMemory>(&bytes),
        Err(ReplyError::WrongTag {
            expected: tag::GET_ARM_MEMORY,
            got: tag::GET_BOARD_REVISION
        })
    );
}

#[test]
fn changed_buffer_size_is_refused() {
    let bytes = answer(tag::GET_VC_MEMORY, 16, RESPONSE_BIT | 8, &[0; 16]);
    assert_eq!(
        decode::<GetVcMemory>(&bytes),
        Err(ReplyError::WrongBufferSize {
            expected: 8,
            got: 16
        })
    );
}

#[test]
fn unanswered_tag_is_refused() {
    // The request as sent, untouched: bit 31 clear.
    let tag = encode(&GetFirmwareRevision);
    assert_eq!(
        decode::<GetFirmwareRevision>(tag.as_bytes()),
        Err(ReplyError::NotAnswered)
    );
}

#[test]
fn short_response_is_refused() {
    // The response bit with length 0: what a firmware that does not know the tag may write.
    let bytes = answer(tag::GET_ARM_MEMORY, 8, RESPONSE_BIT, &[0; 8]);
    assert_eq!(
        decode::<GetArmMemory>(&bytes),
        Err(ReplyError::ResponseTooShort { need: 8, got: 0 })
    );
    let bytes = answer(tag::GET_ARM_MEMORY, 8, RESPONSE_BIT | 4, &[0; 8]);
    assert_eq!(
        decode::<GetArmMemory>(&bytes),
        Err(ReplyError::ResponseTooShort { need: 8, got: 4 })
    );
}

#[test]
fn truncated_response_is_refused() {
    let bytes = answer(tag::GET_BOARD_REVISION, 4, RESPONSE_BIT | 8, &[0; 4]);
    assert_eq!(
        decode::<GetBoardRevision>(&bytes),
        Err(ReplyError::Truncated {
            len: 8,
            buf_size: 4
        })
    );
    // The largest length the header can carry.
    let bytes = answer(tag::GET_BOARD_REVISION, 4, u32::MAX, &[0; 4]);
    assert!(matches!(
        decode::<GetBoardRevision>(&bytes),
        Err(ReplyError::Truncated { .. })
    ));
}

#[test]
fn range_beyond_4g_is_refused() {
    let value = cat(&[&0xf000_0000u32.to_le_bytes(), &0x1000_0001u32.to_le_bytes()]);
    let bytes = answer(tag::GET_ARM_MEMORY, 8, RESPONSE_BIT | 8, &value);
    assert_eq!(
        decode::<GetArmMemory>(&bytes),
        Err(ReplyError::BadRange {
            base: 0xf000_0000,
            size: 0x1000_0001
        })
    );
}

#[test]
fn no_input_makes_decode_panic() {
    // Every 20-byte pattern of a few interesting words, at every length: an error or a value,
    // never a panic.
    let words = [
        0u32,
        4,
        8,
        RESPONSE_BIT,
        RESPONSE_BIT | 4,
        RESPONSE_BIT | 8,
        u32::MAX,
        tag::GET_ARM_MEMORY,
    ];
    for a in words {
        for b in words {
            for c in words {
                let bytes = cat(&[
                    &tag::GET_ARM_MEMORY.to_le_bytes(),
                    &a.to_le_bytes(),
                    &b.to_le_bytes(),
                    &c.to_le_bytes(),
                    &a.to_le_bytes(),
                ]);
                for len in 0..=bytes.len() {
                    let _ = decode::<GetArmMemory>(&bytes[..len]);
                    let _ = decode::<GetBoardRevision>(&bytes[..len]);
                    let _ = decode::<GetFirmwareRevision>(&bytes[..len]);
                    let _ = decode::<GetVcMemory>(&bytes[..len]);
                }
            }
        }
    }
}

// ---- Board revision codes -----------------------------------------------------------------

fn board(code: u32) -> Board {
    BoardRevision(code).decode()
}

fn rev(major: u8, minor: u8) -> Option<PcbRevision> {
    Some(PcbRevision { major, minor })
}

#[test]
fn pi3b_sony_uk() {
    let b = board(0x00a0_2082);
    assert_eq!(b.scheme, Scheme::New);
    assert_eq!(b.model, Model::Pi3B);
    assert_eq!(b.model.name(), "Pi 3 B");
    assert_eq!(b.memory_mb, Some(1024));
    assert_eq!(b.processor, Some(Processor::Bcm2837));
    assert_eq!(b.manufacturer, Some(Manufacturer::SonyUk));
    assert_eq!(b.revision, rev(1, 2));
    assert!(!b.warranty_voided && !b.overvoltage_disallowed);
}

#[test]
fn pi4b_4gb() {
    let b = board(0x00c0_3111);
    assert_eq!((b.model, b.memory_mb), (Model::Pi4B, Some(4096)));
    assert_eq!(b.processor.map(Processor::name), Some("BCM2711"));
    assert_eq!(b.manufacturer, Some(Manufacturer::SonyUk));
    assert_eq!(b.revision, rev(1, 1));
}

#[test]
fn zero2w() {
    let b = board(0x0090_2120);
    assert_eq!(b.model, Model::Zero2W);
    assert_eq!(b.model.name(), "Pi Zero 2 W");
    assert_eq!(b.memory_mb, Some(512));
    assert_eq!(b.processor, Some(Processor::Bcm2837));
    assert_eq!(b.revision, rev(1, 0));
}

#[test]
fn pi5_8gb() {
    let b = board(0x00d0_4170);
    assert_eq!((b.model, b.memory_mb), (Model::Pi5, Some(8192)));
    assert_eq!(b.processor, Some(Processor::Bcm2712));
    assert_eq!(b.revision, rev(1, 0));
}

#[test]
fn more_codes_from_the_documentation() {
    // (code, model, RAM MiB, processor, manufacturer, revision) from the table of new-style
    // codes in use.
    use Manufacturer::*;
    use Model::*;
    use Processor::*;
    let table = [
        (0x0090_0021, APlus, 512, Bcm2835, SonyUk, 1),
        (0x0090_0032, BPlus, 512, Bcm2835, SonyUk, 2),
        (0x00a0_1041, Pi2B, 1024, Bcm2836, SonyUk, 1),
        (0x00a2_1041, Pi2B, 1024, Bcm2836, Embest, 1),
        (0x00a2_2042, Pi2B, 1024, Bcm2837, Embest, 2),
        (0x0090_0061, Cm1, 512, Bcm2835, SonyUk, 1),
        (0x00a3_2082, Pi3B, 1024, Bcm2837, SonyJapan, 2),
        (0x00a5_2082, Pi3B, 1024, Bcm2837, Stadium, 2),
        (0x0092_0093, Zero, 512, Bcm2835, Embest, 3),
        (0x00a2_20a0, Cm3, 1024, Bcm2837, Embest, 0),
        (0x0090_00c1, ZeroW, 512, Bcm2835, SonyUk, 1),
        (0x00a0_20d4, Pi3BPlus, 1024, Bcm2837, SonyUk, 4),
        (0x0090_20e1, Pi3APlus, 512, Bcm2837, SonyUk, 1),
        (0x00a0_2100, Cm3Plus, 1024, Bcm2837, SonyUk, 0),
        (0x00a0_3111, Pi4B, 1024, Bcm2711, SonyUk, 1),
        (0x00b0_3115, Pi4B, 2048, Bcm2711, SonyUk, 5),
        (0x00d0_3114, Pi4B, 8192, Bcm2711, SonyUk, 4),
        (0x00c0_3130, Pi400, 4096, Bcm2711, SonyUk, 0),
        (0x00d0_3140, Cm4, 8192, Bcm2711, SonyUk, 0),
        (0x00e0_4171, Pi5, 16384, Bcm2712, SonyUk, 1),
        (0x00e0_4180, Cm5, 16384, Bcm2712, SonyUk, 0),
        (0x00d0_4190, Pi500, 8192, Bcm2712, SonyUk, 0),
        (0x00b0_41a0, Cm5Lite, 2048, Bcm2712, SonyUk, 0),
    ];
    for (code, model, mem, cpu, maker, r) in table {
        let b = board(code);
        assert_eq!(
            (
                b.scheme,
                b.model,
                b.memory_mb,
                b.processor,
                b.manufacturer,
                b.revision
            ),
            (
                Scheme::New,
                model,
                Some(mem),
                Some(cpu),
                Some(maker),
                rev(1, r)
            ),
            "{code:#x}"
        );
    }
}

#[test]
fn new_style_flags_and_unknown_fields() {
    // Warranty (bit 25) and the N/O/Q bits on a Pi 3 B code.
    let b = board(0x00a0_2082 | 1 << 25 | 1 << 31 | 1 << 30 | 1 << 29);
    assert_eq!(b.model, Model::Pi3B);
    assert!(
        b.warranty_voided
            && b.overvoltage_disallowed
            && b.otp_program_disallowed
            && b.otp_read_disallowed
    );
    // Memory "other" (7), a type, processor and manufacturer beyond the tables.
    let b = board(REV_NEW_STYLE | 7 << 20 | 9 << 16 | 7 << 12 | 0xfe << 4 | 3);
    assert_eq!(b.memory_mb, None);
    assert_eq!(b.model, Model::Unknown(0xfe));
    assert_eq!(b.model.name(), "unknown");
    assert_eq!(b.processor, Some(Processor::Other(7)));
    assert_eq!(b.manufacturer, Some(Manufacturer::Other(9)));
    assert_eq!(b.revision, rev(1, 3));
    // Type 0x0f: internal.
    assert_eq!(
        board(REV_NEW_STYLE | 0x0f << 4).model,
        Model::Internal(0x0f)
    );
    // Every memory field value.
    let sizes: Vec<_> = (0..8)
        .map(|m| board(REV_NEW_STYLE | m << 20).memory_mb)
        .collect();
    assert_eq!(
        sizes,
        [
            Some(256),
            Some(512),
            Some(1024),
            Some(2048),
            Some(4096),
            Some(8192),
            Some(16384),
            None
        ]
    );
}

#[test]
fn old_style_codes() {
    let b = board(0x0000_000e);
    assert_eq!(b.scheme, Scheme::Old);
    assert_eq!((b.model, b.memory_mb), (Model::B, Some(512)));
    assert_eq!(b.model.name(), "Pi 1 B");
    assert_eq!(b.processor, Some(Processor::Bcm2835));
    assert_eq!(b.manufacturer, Some(Manufacturer::SonyUk));
    assert_eq!(b.revision, rev(2, 0));
    assert!(!b.warranty_voided);

    let b = board(0x0000_0005);
    assert_eq!(
        (b.model, b.memory_mb, b.manufacturer),
        (Model::B, Some(256), Some(Manufacturer::Qisda))
    );
    let b = board(0x0000_0010);
    assert_eq!((b.model, b.revision), (Model::BPlus, rev(1, 2)));
    let b = board(0x0000_0014);
    assert_eq!(
        (b.model, b.manufacturer),
        (Model::Cm1, Some(Manufacturer::Embest))
    );
    // 0015 was made with 256 and with 512 MB: the code does not say.
    let b = board(0x0000_0015);
    assert_eq!((b.model, b.memory_mb), (Model::APlus, None));
    // An over-volted old board: bit 24 set.
    let b = board(0x0100_0002);
    assert_eq!(
        (b.model, b.memory_mb, b.revision),
        (Model::B, Some(256), rev(1, 0))
    );
    assert!(b.warranty_voided);
    assert_eq!(b.scheme, Scheme::Old);
}

#[test]
fn unknown_old_style_codes() {
    for code in [0u32, 1, 0x0a, 0x0b, 0x0c, 0x16, 0x7f_ffff] {
        let b = board(code);
        assert_eq!(b.scheme, Scheme::Old, "{code:#x}");
        assert_eq!(b.model, Model::Unknown(code), "{code:#x}");
        assert_eq!(
            (b.memory_mb, b.processor, b.manufacturer, b.revision),
            (None, None, None, None)
        );
    }
}

#[test]
fn every_code_decodes() {
    // No code panics; spot-check a spread of the 2^32 values.
    let mut code = 0u32;
    loop {
        let b = board(code);
        assert_eq!(b.code, code);
        assert_eq!(b.scheme == Scheme::New, code & REV_NEW_STYLE != 0);
        match code.checked_add(0x0001_0001) {
            Some(next) => code = next,
            None => break,
        }
    }
}
