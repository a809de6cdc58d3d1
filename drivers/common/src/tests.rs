// SPDX-License-Identifier: GPL-2.0

//! Host tests for the SMEM protocol: byte-exact vectors written out by hand from the wire
//! layout, round trips, and malformed input.

use crate::smem::*;

/// Concatenates byte strings; each part in the vectors below is one field at its offset.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Encodes a host message and returns exactly the bytes written.
fn enc_host(msg: &HostMsg) -> Vec<u8> {
    let mut out = [0xAAu8; MAX_MSG_LEN];
    let len = msg.encode(&mut out);
    out[..len].to_vec()
}

/// Encodes a VPU message and returns exactly the bytes written.
fn enc_vpu(msg: &VpuMsg) -> Vec<u8> {
    let mut out = [0xAAu8; MAX_MSG_LEN];
    let len = msg.encode(&mut out);
    out[..len].to_vec()
}

/// A 32-byte name field holding `s` followed by NULs.
fn name32(s: &[u8]) -> [u8; NAME_LEN] {
    let mut n = [0u8; NAME_LEN];
    n[..s.len()].copy_from_slice(s);
    n
}

const NAME_FIELD: &[u8; 32] = b"sm-host-resource\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

fn sample_import() -> HostMsg {
    HostMsg::new(
        0x1234_5678,
        HostBody::Import(Import {
            alloc_type: AllocType::NonCached,
            addr: 0xC000_1000,
            size: 0x0010_0000,
            kernel_id: 7,
            allocator: 1234,
            name: name_from_bytes(HOST_RESOURCE_NAME),
        }),
    )
}

fn import_vector() -> Vec<u8> {
    cat(&[
        &[0x08, 0, 0, 0],          // 0: type = IMPORT
        &[0x78, 0x56, 0x34, 0x12], // 4: trans_id
        &[0x01, 0, 0, 0],          // 8: alloc type = NON_CACHED
        &[0x00, 0x10, 0x00, 0xC0], // 12: addr
        &[0x00, 0x00, 0x10, 0x00], // 16: size
        &[0x07, 0, 0, 0],          // 20: kernel_id
        &[0xD2, 0x04, 0, 0],       // 24: allocator
        NAME_FIELD,                // 28: name[32]
    ])
}

fn sample_vc_mem_request() -> VcMemRequest {
    VcMemRequest {
        trans_id: 0x0000_0101,
        size: 0x0002_0000,
        align: 0x1000,
        name: name32(b"vpu-heap"),
        vc_handle: 0xDEAD_BEEF,
    }
}

fn vc_mem_request_vector() -> Vec<u8> {
    cat(&[
        &[0x0C, 0, 0, 0x80],       // 0: cmd = ASYNC | VC_MEM_REQUEST
        &[0x01, 0x01, 0, 0],       // 4: trans_id (the VPU's)
        &[0x00, 0x00, 0x02, 0x00], // 8: size
        &[0x00, 0x10, 0x00, 0x00], // 12: align
        b"vpu-heap\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", // 16: name[32]
        &[0xEF, 0xBE, 0xAD, 0xDE], // 48: vc_handle
    ])
}

// ---- Constants and enums. ----

#[test]
fn constants_match_spec() {
    assert_eq!(SERVICE_FOURCC, 0x534D_454D);
    assert_eq!(make_fourcc(b'S', b'M', b'E', b'M'), 0x534D_454D);
    assert_eq!(SERVICE_VERSION, 1);
    assert_eq!(SERVICE_VERSION_MIN, 0);
    assert_eq!(PROTOCOL_VERSION, 2);
    assert_eq!(MAX_MSG_LEN, 60);
    assert_eq!(HDR_LEN, 8);
    assert_eq!(ASYNC_BIT, 0x8000_0000);
    assert_eq!(TRANS_ID_MASK, 0x7fff_ffff);
    assert_eq!(NAME_LEN, 32);
    assert_eq!(IMPORT_LEN, 60);
    assert_eq!(FREE_LEN, 16);
    assert_eq!(CLIENT_VERSION_LEN, 12);
    assert_eq!(VC_MEM_REQUEST_REPLY_LEN, 20);
    assert_eq!(RELEASED_LEN, 20);
    assert_eq!(VC_MEM_REQUEST_LEN, 52);
    assert_eq!(IMPORT_RESULT_LEN, 8);
    assert_eq!(GENERIC_RESULT_LEN, 8);
}

#[test]
fn msg_type_values() {
    let all = [
        (0, MsgType::Alloc),
        (1, MsgType::Lock),
        (2, MsgType::Unlock),
        (3, MsgType::UnlockNoAns),
        (4, MsgType::Free),
        (5, MsgType::Resize),
        (6, MsgType::WalkAlloc),
        (7, MsgType::ActionClean),
        (8, MsgType::Import),
        (9, MsgType::ClientVersion),
        (10, MsgType::VcMemRequestReply),
        (11, MsgType::Released),
        (12, MsgType::VcMemRequest),
        (13, MsgType::Max),
    ];
    for (value, ty) in all {
        assert_eq!(MsgType::from_u32(value), Some(ty));
        assert_eq!(MsgType::try_from(value), Ok(ty));
        assert_eq!(ty.as_u32(), value);
        assert_eq!(ty as u32, value);
    }
}

#[test]
fn msg_type_unknown_values() {
    for value in [14, 15, 0xff, 0x8000_0009, u32::MAX] {
        assert_eq!(MsgType::from_u32(value), None);
        assert_eq!(
            MsgType::try_from(value),
            Err(DecodeError::UnknownType(value))
        );
    }
}

#[test]
fn alloc_type_values() {
    assert_eq!(AllocType::Cached.as_u32(), 0);
    assert_eq!(AllocType::NonCached.as_u32(), 1);
    assert_eq!(AllocType::from_u32(0), Some(AllocType::Cached));
    assert_eq!(AllocType::from_u32(1), Some(AllocType::NonCached));
    assert_eq!(AllocType::from_u32(2), None);
    assert_eq!(AllocType::try_from(5), Err(DecodeError::BadAllocType(5)));
    assert_eq!(AllocType::default(), AllocType::NonCached);
}

// ---- Host to VPU: byte-exact vectors. ----

#[test]
fn import_encodes_byte_exact() {
    let bytes = enc_host(&sample_import());
    assert_eq!(bytes.len(), 60);
    assert_eq!(bytes, import_vector());
    assert_eq!(&bytes[28..60], NAME_FIELD);
    assert_eq!(sample_import().body.msg_len(), bytes.len());
}

#[test]
fn import_decodes_from_vector() {
    assert_eq!(HostMsg::decode(&import_vector()), Ok(sample_import()));
}

#[test]
fn import_cached_and_unterminated_name() {
    let msg = HostMsg::new(
        1,
        HostBody::Import(Import {
            alloc_type: AllocType::Cached,
            addr: 0,
            size: 4096,
            kernel_id: 0x7fff_ffff,
            allocator: 0,
            name: [b'x'; NAME_LEN],
        }),
    );
    let bytes = enc_host(&msg);
    assert_eq!(&bytes[8..12], &[0, 0, 0, 0]);
    assert_eq!(&bytes[20..24], &[0xff, 0xff, 0xff, 0x7f]);
    assert_eq!(&bytes[28..60], &[b'x'; 32]);
    assert_eq!(HostMsg::decode(&bytes), Ok(msg));
}

#[test]
fn free_encodes_byte_exact() {
    let msg = HostMsg::new(
        0x42,
        HostBody::Free(Free {
            res_handle: 0xA1B2_C3D4,
            res_mem: 0,
        }),
    );
    let expected = cat(&[
        &[0x04, 0, 0, 0],          // 0: type = FREE
        &[0x42, 0, 0, 0],          // 4: trans_id
        &[0xD4, 0xC3, 0xB2, 0xA1], // 8: res_handle
        &[0, 0, 0, 0],             // 12: res_mem
    ]);
    assert_eq!(enc_host(&msg), expected);
    assert_eq!(HostMsg::decode(&expected), Ok(msg));
}

#[test]
fn client_version_encodes_byte_exact() {
    let msg = HostMsg::new(
        3,
        HostBody::ClientVersion {
            version: PROTOCOL_VERSION,
        },
    );
    let expected = cat(&[
        &[0x09, 0, 0, 0], // 0: type = CLIENT_VERSION
        &[0x03, 0, 0, 0], // 4: trans_id
        &[0x02, 0, 0, 0], // 8: version
    ]);
    assert_eq!(enc_host(&msg), expected);
    assert_eq!(HostMsg::decode(&expected), Ok(msg));
}

#[test]
fn vc_mem_request_reply_encodes_byte_exact() {
    let msg = HostMsg::new(
        0x7fff_ffff,
        HostBody::VcMemRequestReply(VcMemRequestReply {
            trans_id: 0x0000_0101,
            addr: 0xC123_4000,
            kernel_id: 9,
        }),
    );
    let expected = cat(&[
        &[0x0A, 0, 0, 0],          // 0: type = VC_MEM_REQUEST_REPLY
        &[0xff, 0xff, 0xff, 0x7f], // 4: trans_id (the host's)
        &[0x01, 0x01, 0, 0],       // 8: trans_id (the VPU's, echoed)
        &[0x00, 0x40, 0x23, 0xC1], // 12: addr
        &[0x09, 0, 0, 0],          // 16: kernel_id
    ]);
    assert_eq!(expected.len(), 8 + 12);
    assert_eq!(enc_host(&msg), expected);
    assert_eq!(HostMsg::decode(&expected), Ok(msg));
}

#[test]
fn vc_mem_request_reply_failure_is_zeroes() {
    let msg = HostMsg::new(
        5,
        HostBody::VcMemRequestReply(VcMemRequestReply {
            trans_id: 77,
            addr: 0,
            kernel_id: 0,
        }),
    );
    let bytes = enc_host(&msg);
    assert_eq!(&bytes[8..], &[77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn host_msg_type_and_len_helpers() {
    let bodies = [
        (sample_import().body, MsgType::Import, 60),
        (
            HostBody::Free(Free {
                res_handle: 1,
                res_mem: 0,
            }),
            MsgType::Free,
            16,
        ),
        (
            HostBody::ClientVersion { version: 2 },
            MsgType::ClientVersion,
            12,
        ),
        (
            HostBody::VcMemRequestReply(VcMemRequestReply {
                trans_id: 1,
                addr: 2,
                kernel_id: 3,
            }),
            MsgType::VcMemRequestReply,
            20,
        ),
    ];
    for (body, ty, len) in bodies {
        assert_eq!(body.msg_type(), ty);
        assert_eq!(body.msg_len(), len);
        let bytes = enc_host(&HostMsg::new(9, body));
        assert_eq!(bytes.len(), len);
        assert_eq!(&bytes[0..4], &ty.as_u32().to_le_bytes());
        assert_eq!(HostMsg::decode(&bytes), Ok(HostMsg::new(9, body)));
    }
}

// ---- Host to VPU: malformed input. ----

#[test]
fn host_decode_rejects_short_input() {
    assert_eq!(HostMsg::decode(&[]), Err(DecodeError::TooShort));
    assert_eq!(HostMsg::decode(&[9, 0, 0]), Err(DecodeError::TooShort));
    assert_eq!(
        HostMsg::decode(&[9, 0, 0, 0, 1, 0, 0]),
        Err(DecodeError::TooShort)
    );
}

#[test]
fn host_decode_rejects_long_input() {
    let mut bytes = import_vector();
    bytes.push(0);
    assert_eq!(bytes.len(), 61);
    assert_eq!(HostMsg::decode(&bytes), Err(DecodeError::TooLong));
    assert_eq!(HostMsg::decode(&[0u8; 4096]), Err(DecodeError::TooLong));
}

#[test]
fn host_decode_rejects_unknown_types() {
    for ty in [13u32, 14, 0x100, 0x8000_0008, u32::MAX] {
        let mut bytes = cat(&[&ty.to_le_bytes(), &[1, 0, 0, 0], &[0; 4]]);
        let expected = match MsgType::from_u32(ty) {
            Some(t) => DecodeError::UnsupportedType(t),
            None => DecodeError::UnknownType(ty),
        };
        assert_eq!(HostMsg::decode(&bytes), Err(expected));
        bytes.truncate(8);
        assert_eq!(HostMsg::decode(&bytes), Err(expected));
    }
}

#[test]
fn host_decode_rejects_legacy_and_vpu_types() {
    let types = [
        MsgType::Alloc,
        MsgType::Lock,
        MsgType::Unlock,
        MsgType::UnlockNoAns,
        MsgType::Resize,
        MsgType::WalkAlloc,
        MsgType::ActionClean,
        MsgType::Released,
        MsgType::VcMemRequest,
        MsgType::Max,
    ];
    for ty in types {
        // Legacy bodies were at most 52 bytes; try a few plausible lengths.
        for len in [8usize, 12, 16, 20, 52, 60] {
            let mut bytes = vec![0u8; len];
            bytes[..4].copy_from_slice(&ty.as_u32().to_le_bytes());
            assert_eq!(
                HostMsg::decode(&bytes),
                Err(DecodeError::UnsupportedType(ty))
            );
        }
    }
}

#[test]
fn host_decode_rejects_wrong_body_lengths() {
    let cases = [
        (MsgType::Import, 60),
        (MsgType::Free, 16),
        (MsgType::ClientVersion, 12),
        (MsgType::VcMemRequestReply, 20),
    ];
    for (ty, good) in cases {
        for len in (8..=MAX_MSG_LEN).filter(|&l| l != good) {
            let mut bytes = vec![0u8; len];
            bytes[..4].copy_from_slice(&ty.as_u32().to_le_bytes());
            if ty == MsgType::Import && len >= 12 {
                bytes[8] = 1;
            }
            assert_eq!(
                HostMsg::decode(&bytes),
                Err(DecodeError::BadLength {
                    expected: good,
                    actual: len
                }),
                "{ty:?} with {len} bytes"
            );
        }
    }
}

#[test]
fn host_decode_rejects_async_trans_id() {
    let mut bytes = import_vector();
    bytes[4..8].copy_from_slice(&0x8000_0001u32.to_le_bytes());
    assert_eq!(
        HostMsg::decode(&bytes),
        Err(DecodeError::BadTransId(0x8000_0001))
    );
}

#[test]
fn host_decode_rejects_bad_alloc_type() {
    let mut bytes = import_vector();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(HostMsg::decode(&bytes), Err(DecodeError::BadAllocType(2)));
}

// ---- VPU to host: byte-exact vectors. ----

#[test]
fn released_encodes_byte_exact() {
    let msg = VpuMsg::Released(Released {
        addr: 0xC010_0000,
        size: 0x0000_8000,
        kernel_id: 3,
        vc_handle: 0x1122_3344,
    });
    let expected = cat(&[
        &[0x0B, 0, 0, 0x80],       // 0: cmd = ASYNC | RELEASED
        &[0x00, 0x00, 0x10, 0xC0], // 4: addr
        &[0x00, 0x80, 0x00, 0x00], // 8: size
        &[0x03, 0, 0, 0],          // 12: kernel_id
        &[0x44, 0x33, 0x22, 0x11], // 16: vc_handle
    ]);
    assert_eq!(expected.len(), 20);
    assert_eq!(enc_vpu(&msg), expected);
    assert_eq!(VpuMsg::decode(&expected), Ok(msg));
}

#[test]
fn vc_mem_request_encodes_byte_exact() {
    let msg = VpuMsg::VcMemRequest(sample_vc_mem_request());
    let expected = vc_mem_request_vector();
    assert_eq!(expected.len(), 52);
    assert_eq!(enc_vpu(&msg), expected);
    assert_eq!(VpuMsg::decode(&expected), Ok(msg));
    if let Ok(VpuMsg::VcMemRequest(req)) = VpuMsg::decode(&expected) {
        assert_eq!(name_bytes(&req.name), b"vpu-heap");
    }
}

#[test]
fn vc_mem_request_with_unterminated_name() {
    let mut bytes = vc_mem_request_vector();
    bytes[16..48].copy_from_slice(&[b'N'; 32]);
    let Ok(VpuMsg::VcMemRequest(req)) = VpuMsg::decode(&bytes) else {
        panic!("decode failed");
    };
    assert_eq!(req.name, [b'N'; 32]);
    assert_eq!(name_bytes(&req.name), &[b'N'; 32][..]);
    assert_eq!(req.vc_handle, 0xDEAD_BEEF);
    // Re-encoding keeps all 32 bytes and puts vc_handle right after them.
    assert_eq!(enc_vpu(&VpuMsg::VcMemRequest(req)), bytes);
}

#[test]
fn client_version_ack() {
    let expected = [0x09, 0, 0, 0x80];
    assert_eq!(enc_vpu(&VpuMsg::ClientVersionAck), expected);
    assert_eq!(VpuMsg::decode(&expected), Ok(VpuMsg::ClientVersionAck));
    // Firmware may append a body; it is ignored.
    assert_eq!(
        VpuMsg::decode(&[0x09, 0, 0, 0x80, 2, 0, 0, 0]),
        Ok(VpuMsg::ClientVersionAck)
    );
    let mut long = [0u8; MAX_MSG_LEN];
    long[..4].copy_from_slice(&expected);
    assert_eq!(VpuMsg::decode(&long), Ok(VpuMsg::ClientVersionAck));
}

#[test]
fn import_result_encodes_byte_exact() {
    let result = ImportResult {
        trans_id: 0x1234_5678,
        res_handle: 0x0000_ABCD,
    };
    let expected = [0x78, 0x56, 0x34, 0x12, 0xCD, 0xAB, 0, 0];
    let mut out = [0u8; MAX_MSG_LEN];
    let len = result.encode(&mut out);
    assert_eq!(&out[..len], &expected);
    assert_eq!(ImportResult::decode(&expected), Ok(result));

    // The same bytes through the generic path.
    let Ok(VpuMsg::Reply(reply)) = VpuMsg::decode(&expected) else {
        panic!("not a reply");
    };
    assert_eq!(reply.trans_id(), 0x1234_5678);
    assert_eq!(reply.payload(), &[0xCD, 0xAB, 0, 0]);
    assert_eq!(reply.msg_len(), 8);
    assert_eq!(reply.import_result(), Ok(result));
    assert_eq!(enc_vpu(&VpuMsg::Reply(reply)), expected);
}

#[test]
fn import_result_failure_handle_zero() {
    let result = ImportResult::decode(&[5, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        result,
        Ok(ImportResult {
            trans_id: 5,
            res_handle: 0
        })
    );
}

#[test]
fn generic_result_encodes_byte_exact() {
    let result = GenericResult {
        trans_id: 0x10,
        success: -22,
    };
    let expected = [0x10, 0, 0, 0, 0xEA, 0xFF, 0xFF, 0xFF];
    let mut out = [0u8; MAX_MSG_LEN];
    let len = result.encode(&mut out);
    assert_eq!(&out[..len], &expected);
    assert_eq!(GenericResult::decode(&expected), Ok(result));
    let Ok(VpuMsg::Reply(reply)) = VpuMsg::decode(&expected) else {
        panic!("not a reply");
    };
    assert_eq!(reply.generic_result(), Ok(result));
    assert_eq!(
        GenericResult::decode(&[1, 0, 0, 0, 0, 0, 0, 0]),
        Ok(GenericResult {
            trans_id: 1,
            success: 0
        })
    );
}

#[test]
fn reply_lengths() {
    // A bare trans_id word is a reply with an empty payload.
    let Ok(VpuMsg::Reply(reply)) = VpuMsg::decode(&[1, 2, 3, 4]) else {
        panic!("not a reply");
    };
    assert_eq!(reply.trans_id(), 0x0403_0201);
    assert!(reply.payload().is_empty());
    assert_eq!(
        reply.import_result(),
        Err(DecodeError::BadLength {
            expected: 8,
            actual: 4
        })
    );

    // The largest reply: 60 bytes, 56 of payload.
    let mut max = [0u8; MAX_MSG_LEN];
    for (i, b) in max.iter_mut().enumerate() {
        *b = i as u8;
    }
    max[3] = 0x7f;
    let Ok(VpuMsg::Reply(reply)) = VpuMsg::decode(&max) else {
        panic!("not a reply");
    };
    assert_eq!(reply.payload(), &max[4..]);
    assert_eq!(reply.msg_len(), 60);
    assert_eq!(enc_vpu(&VpuMsg::Reply(reply)), max);
    assert_eq!(
        reply.generic_result(),
        Err(DecodeError::BadLength {
            expected: 8,
            actual: 60
        })
    );
}

#[test]
fn reply_new_validates() {
    assert!(Reply::new(1, &[0; MAX_REPLY_PAYLOAD]).is_some());
    assert!(Reply::new(1, &[0; MAX_REPLY_PAYLOAD + 1]).is_none());
    assert!(Reply::new(ASYNC_BIT | 1, &[]).is_none());
    let reply = Reply::new(0x55, &[1, 0, 0, 0]).unwrap();
    assert_eq!(
        reply.import_result(),
        Ok(ImportResult {
            trans_id: 0x55,
            res_handle: 1
        })
    );
}

// ---- VPU to host: malformed input. ----

#[test]
fn vpu_decode_rejects_bad_sizes() {
    assert_eq!(VpuMsg::decode(&[]), Err(DecodeError::TooShort));
    assert_eq!(VpuMsg::decode(&[1, 0, 0]), Err(DecodeError::TooShort));
    assert_eq!(VpuMsg::decode(&[0x0B, 0, 0]), Err(DecodeError::TooShort));
    assert_eq!(VpuMsg::decode(&[1u8; 61]), Err(DecodeError::TooLong));
    let mut ack = [0u8; 61];
    ack[..4].copy_from_slice(&[0x09, 0, 0, 0x80]);
    assert_eq!(VpuMsg::decode(&ack), Err(DecodeError::TooLong));
}

#[test]
fn vpu_decode_rejects_unknown_async_types() {
    for word in [0x8000_000Du32, 0x8000_000E, 0x8000_0109, 0xFFFF_FFFF] {
        let mut bytes = [0u8; 20];
        bytes[..4].copy_from_slice(&word.to_le_bytes());
        let raw = word & TRANS_ID_MASK;
        let expected = match MsgType::from_u32(raw) {
            Some(t) => DecodeError::UnsupportedType(t),
            None => DecodeError::UnknownType(raw),
        };
        assert_eq!(VpuMsg::decode(&bytes), Err(expected), "{word:#x}");
    }
    assert_eq!(
        VpuMsg::decode(&[0x0E, 0, 0, 0x80]),
        Err(DecodeError::UnknownType(14))
    );
}

#[test]
fn vpu_decode_rejects_host_and_legacy_async_types() {
    for ty in 0..=13u32 {
        if matches!(ty, 9 | 11 | 12) {
            continue;
        }
        let mut bytes = [0u8; 20];
        bytes[..4].copy_from_slice(&(ASYNC_BIT | ty).to_le_bytes());
        let expected = DecodeError::UnsupportedType(MsgType::from_u32(ty).unwrap());
        assert_eq!(VpuMsg::decode(&bytes), Err(expected));
    }
}

#[test]
fn vpu_decode_rejects_wrong_event_lengths() {
    for len in (4..=MAX_MSG_LEN).filter(|&l| l != RELEASED_LEN) {
        let mut bytes = vec![0u8; len];
        bytes[..4].copy_from_slice(&[0x0B, 0, 0, 0x80]);
        assert_eq!(
            VpuMsg::decode(&bytes),
            Err(DecodeError::BadLength {
                expected: 20,
                actual: len
            })
        );
    }
    for len in (4..=MAX_MSG_LEN).filter(|&l| l != VC_MEM_REQUEST_LEN) {
        let mut bytes = vec![0u8; len];
        bytes[..4].copy_from_slice(&[0x0C, 0, 0, 0x80]);
        assert_eq!(
            VpuMsg::decode(&bytes),
            Err(DecodeError::BadLength {
                expected: 52,
                actual: len
            })
        );
    }
}

#[test]
fn typed_reply_decoders_reject_malformed() {
    for decode in [
        |d: &[u8]| ImportResult::decode(d).map(|_| ()),
        |d: &[u8]| GenericResult::decode(d).map(|_| ()),
    ] {
        assert_eq!(decode(&[]), Err(DecodeError::TooShort));
        assert_eq!(decode(&[1, 0, 0]), Err(DecodeError::TooShort));
        assert_eq!(
            decode(&[1, 0, 0, 0]),
            Err(DecodeError::BadLength {
                expected: 8,
                actual: 4
            })
        );
        assert_eq!(
            decode(&[1, 0, 0, 0, 0, 0, 0]),
            Err(DecodeError::BadLength {
                expected: 8,
                actual: 7
            })
        );
        assert_eq!(
            decode(&[0; 12]),
            Err(DecodeError::BadLength {
                expected: 8,
                actual: 12
            })
        );
        assert_eq!(decode(&[0; 61]), Err(DecodeError::TooLong));
        // Word 0 with bit 31 set is an event, not a reply.
        assert_eq!(
            decode(&[0x0B, 0, 0, 0x80, 0, 0, 0, 0]),
            Err(DecodeError::BadTransId(0x8000_000B))
        );
    }
}

// ---- Names and transaction ids. ----

#[test]
fn name_bytes_stops_at_nul_or_end() {
    assert_eq!(name_bytes(NAME_FIELD), HOST_RESOURCE_NAME);
    assert_eq!(name_bytes(&[0; NAME_LEN]), b"");
    assert_eq!(name_bytes(&[b'a'; NAME_LEN]), &[b'a'; 32][..]);
    let mut n = [b'b'; NAME_LEN];
    n[31] = 0;
    assert_eq!(name_bytes(&n).len(), 31);
    n[3] = 0;
    assert_eq!(name_bytes(&n), b"bbb");
}

#[test]
fn name_from_bytes_truncates_and_terminates() {
    assert_eq!(name_from_bytes(b""), [0; NAME_LEN]);
    assert_eq!(name_from_bytes(b"abc"), name32(b"abc"));
    let exact31 = [b'c'; 31];
    assert_eq!(name_from_bytes(&exact31), name32(&exact31));
    let n = name_from_bytes(&[b'd'; 40]);
    assert_eq!(&n[..31], &[b'd'; 31]);
    assert_eq!(n[31], 0);
    assert_eq!(name_bytes(&n).len(), 31);
    assert_eq!(name_from_bytes(&[b'e'; 32])[31], 0);
    // Stops at an embedded NUL and zero-fills after it.
    assert_eq!(name_from_bytes(b"ab\0cd"), name32(b"ab"));
}

#[test]
fn trans_ids_wrap_within_31_bits_and_skip_zero() {
    assert_eq!(next_trans_id(0), 1);
    assert_eq!(next_trans_id(1), 2);
    assert_eq!(next_trans_id(0xffff), 0x1_0000);
    assert_eq!(next_trans_id(0x7fff_fffe), 0x7fff_ffff);
    assert_eq!(next_trans_id(0x7fff_ffff), 1);
    assert_eq!(next_trans_id(0xffff_ffff), 1);
    assert_eq!(next_trans_id(0x8000_0005), 6);
    let mut id = 0x7fff_fff0;
    for _ in 0..64 {
        id = next_trans_id(id);
        assert_ne!(id, 0);
        assert_eq!(id & ASYNC_BIT, 0);
    }
}

// ---- Robustness. ----

/// Deterministic pseudo-random bytes (xorshift32).
fn noise(seed: &mut u32) -> u8 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    *seed as u8
}

#[test]
fn decoders_survive_arbitrary_input() {
    let mut seed = 0x1234_5678;
    let words: [u32; 8] = [0, 4, 8, 9, 10, 0x8000_0009, 0x8000_000B, 0x8000_000C];
    for round in 0..4000 {
        let len = round % 70;
        let mut data: Vec<u8> = (0..len).map(|_| noise(&mut seed)).collect();
        // Often start with a plausible word 0 so the deeper paths run too.
        if len >= 4 && round % 2 == 0 {
            let w = words[(round / 2) % words.len()];
            data[..4].copy_from_slice(&w.to_le_bytes());
        }
        if let Ok(msg) = HostMsg::decode(&data) {
            assert_eq!(enc_host(&msg), data);
        }
        match VpuMsg::decode(&data) {
            Ok(VpuMsg::ClientVersionAck) => assert_eq!(&data[..4], &[9, 0, 0, 0x80]),
            Ok(msg) => assert_eq!(enc_vpu(&msg), data),
            Err(_) => {}
        }
        let _ = ImportResult::decode(&data);
        let _ = GenericResult::decode(&data);
    }
}

#[test]
fn every_encoding_fits_and_round_trips() {
    let host = [
        sample_import(),
        HostMsg::new(
            1,
            HostBody::Free(Free {
                res_handle: 2,
                res_mem: 0,
            }),
        ),
        HostMsg::new(2, HostBody::ClientVersion { version: 2 }),
        HostMsg::new(
            3,
            HostBody::VcMemRequestReply(VcMemRequestReply {
                trans_id: 4,
                addr: 5,
                kernel_id: 6,
            }),
        ),
    ];
    for msg in host {
        let bytes = enc_host(&msg);
        assert!(bytes.len() <= MAX_MSG_LEN);
        assert_eq!(HostMsg::decode(&bytes), Ok(msg));
    }
    let vpu = [
        VpuMsg::ClientVersionAck,
        VpuMsg::Released(Released {
            addr: 1,
            size: 2,
            kernel_id: 3,
            vc_handle: 4,
        }),
        VpuMsg::VcMemRequest(sample_vc_mem_request()),
        VpuMsg::Reply(Reply::new(7, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap()),
    ];
    for msg in vpu {
        let bytes = enc_vpu(&msg);
        assert!(bytes.len() <= MAX_MSG_LEN);
        assert_eq!(VpuMsg::decode(&bytes), Ok(msg));
    }
}
