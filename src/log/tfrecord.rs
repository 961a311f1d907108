//! TFRecord framing, the container of TensorBoard's event files: each record is its length (u64,
//! little-endian), the masked CRC-32C of those 8 bytes, the payload, and the payload's masked
//! CRC-32C.

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum TFRecord uses.
pub fn crc32c(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = table();
    let mut crc = !0u32;
    for &b in bytes {
        crc = TABLE[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

/// TFRecord's masked CRC-32C: rotated and offset, so that a CRC of data that itself holds
/// CRCs stays well distributed.
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    let c = crc32c(bytes);
    c.rotate_right(15).wrapping_add(0xA282_EAD8)
}

/// `payload` framed as one record.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
    out
}

/// Why a record could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes end inside a record (a writer stopped mid-write).
    #[error("the last record is cut short at byte {offset}")]
    Truncated {
        /// Where the cut record starts.
        offset: usize,
    },
    /// A length or payload does not match its CRC.
    #[error("the record at byte {offset} fails its CRC check")]
    Checksum {
        /// Where the record starts.
        offset: usize,
    },
}

/// The payloads of the complete, intact records at the start of `bytes`, and the first problem
/// after them, if any (a cut or corrupt record ends the readable part).
pub fn records(bytes: &[u8]) -> (Vec<&[u8]>, Option<RecordError>) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + 12) else {
            return (out, Some(RecordError::Truncated { offset: at }));
        };
        let len_bytes = &head[..8];
        let len_crc = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        if masked_crc32c(len_bytes) != len_crc {
            return (out, Some(RecordError::Checksum { offset: at }));
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        let end = usize::try_from(len)
            .ok()
            .and_then(|n| (at + 12).checked_add(n))
            .and_then(|e| e.checked_add(4));
        let Some(body) = end.and_then(|e| bytes.get(at + 12..e)) else {
            return (out, Some(RecordError::Truncated { offset: at }));
        };
        let (payload, crc) = body.split_at(body.len() - 4);
        if masked_crc32c(payload) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return (out, Some(RecordError::Checksum { offset: at }));
        }
        out.push(payload);
        at += 16 + payload.len();
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_published_check_values() {
        // The CRC catalogue's check value, and RFC 3720 (iSCSI) appendix B.4.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        let descending: Vec<u8> = (0..32).rev().collect();
        assert_eq!(crc32c(&descending), 0x113F_DB5C);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn masked_crc32c_matches_tensorboards_own() {
        // Values printed by tensorboard 2.21's
        // tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c.
        assert_eq!(masked_crc32c(b""), 0xA282_EAD8);
        assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
        assert_eq!(masked_crc32c(&0u64.to_le_bytes()), 0x0798_0329);
        assert_eq!(masked_crc32c(&24u64.to_le_bytes()), 0x224B_7FA3);
    }

    #[test]
    fn framed_records_read_back_and_damage_is_detected() {
        let mut file = frame(b"first");
        file.extend(frame(b""));
        file.extend(frame(&[7u8; 300]));
        let (got, err) = records(&file);
        assert_eq!(err, None);
        assert_eq!(got, [&b"first"[..], b"", &[7u8; 300][..]]);
        // Layout: length, its masked CRC, payload, its masked CRC.
        assert_eq!(&file[..8], &5u64.to_le_bytes());
        assert_eq!(
            &file[8..12],
            &masked_crc32c(&5u64.to_le_bytes()).to_le_bytes()
        );
        assert_eq!(&file[12..17], b"first");
        assert_eq!(&file[17..21], &masked_crc32c(b"first").to_le_bytes());

        // A writer killed mid-record: the records before it survive.
        let cut = &file[..file.len() - 10];
        let (got, err) = records(cut);
        assert_eq!(got.len(), 2);
        assert_eq!(err, Some(RecordError::Truncated { offset: 37 }));
        // A flipped payload byte fails its CRC.
        let mut bad = file.clone();
        bad[13] ^= 1;
        let (got, err) = records(&bad);
        assert!(got.is_empty());
        assert_eq!(err, Some(RecordError::Checksum { offset: 0 }));
        // So does a flipped length byte (the length CRC guards against reading a wild length).
        let mut bad = file;
        bad[21] ^= 0x40;
        let (got, err) = records(&bad);
        assert_eq!(got.len(), 1);
        assert_eq!(err, Some(RecordError::Checksum { offset: 21 }));
    }
}
