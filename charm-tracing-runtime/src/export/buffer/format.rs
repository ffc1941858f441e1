//! The buffer file's bytes: a header, then framed records. No in-band separators.
//!
//! ```text
//! header:  b"CHTRBUF\n"  version: u32 LE (= 1)                  12 bytes
//! record:  length: u32 LE  crc32(payload): u32 LE  payload       8 + length bytes
//! ```
//!
//! A record is one hook's encoded `ExportTraceServiceRequest`.

/// The file's first bytes.
pub const MAGIC: &[u8; 8] = b"CHTRBUF\n";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// Header length: magic and version.
pub const HEADER_LEN: usize = 12;
/// Frame header length: payload length and checksum.
pub const FRAME_HEADER_LEN: usize = 8;

/// The file header.
pub fn header() -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&VERSION.to_le_bytes());
    header
}

/// Whether `bytes` start with a header this code reads.
pub fn header_ok(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN && &bytes[..8] == MAGIC && bytes[8..12] == VERSION.to_le_bytes()
}

/// One record, framed. `None` if the payload is too long for the length field.
///
/// ```
/// use charm_tracing_runtime::buffer::format;
///
/// let framed = format::frame(b"record").unwrap();
/// assert_eq!(framed.len(), format::FRAME_HEADER_LEN + 6);
/// assert_eq!(framed[..format::FRAME_HEADER_LEN], format::frame_header_for(b"record").unwrap());
/// ```
pub fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    let header = frame_header_for(payload)?;
    let mut framed = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    framed.extend_from_slice(&header);
    framed.extend_from_slice(payload);
    Some(framed)
}

/// The frame header of `payload` (its length and checksum), to write in front of it without
/// copying it. `None` if the payload is too long for the length field.
///
/// ```
/// use charm_tracing_runtime::buffer::format;
///
/// let header = format::frame_header_for(b"record").unwrap();
/// assert_eq!(format::frame_header(&header).0, 6);
/// ```
pub fn frame_header_for(payload: &[u8]) -> Option<[u8; FRAME_HEADER_LEN]> {
    let length = u32::try_from(payload.len()).ok()?;
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[..4].copy_from_slice(&length.to_le_bytes());
    header[4..].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    Some(header)
}

/// Reads a frame header: (payload length, checksum).
pub fn frame_header(bytes: &[u8; FRAME_HEADER_LEN]) -> (u64, u32) {
    let length = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let checksum = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    (u64::from(length), checksum)
}

/// What is wrong with a buffer file, from the first bad byte on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// Not a charm-tracing buffer (another format, random bytes, a newer version).
    ForeignHeader,
    /// A record runs past the end of the file (a write cut short).
    TornTail,
    /// A record's checksum does not match its payload.
    BadChecksum,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Damage::ForeignHeader => "not a charm-tracing buffer",
            Damage::TornTail => "a record was cut short",
            Damage::BadChecksum => "a record failed its checksum",
        })
    }
}

/// A parsed buffer: the valid records, and the damaged bytes if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// Valid records, oldest first.
    pub records: Vec<&'a [u8]>,
    /// Where the readable frames end: past it is a torn tail or foreign bytes.
    pub valid_len: usize,
    /// The first problem found.
    pub damage: Option<Damage>,
    /// Byte ranges that are not valid records: frames that failed their checksum (their
    /// length was sound, so parsing goes on past them) and the unreadable tail.
    pub bad: Vec<std::ops::Range<usize>>,
}

/// Parses a whole buffer file. Never panics, whatever the bytes. An empty input is an empty
/// buffer.
pub fn parse(bytes: &[u8]) -> Parsed<'_> {
    let mut parsed = Parsed {
        records: Vec::new(),
        valid_len: 0,
        damage: None,
        bad: Vec::new(),
    };
    if bytes.is_empty() {
        return parsed;
    }
    if !header_ok(bytes) {
        parsed.damage = Some(Damage::ForeignHeader);
        parsed.bad.push(0..bytes.len());
        return parsed;
    }
    let mut offset = HEADER_LEN;
    while offset < bytes.len() {
        let end = bytes
            .get(offset..offset + FRAME_HEADER_LEN)
            .and_then(|h| <&[u8; FRAME_HEADER_LEN]>::try_from(h).ok())
            .and_then(|head| {
                let (length, checksum) = frame_header(head);
                let start = offset + FRAME_HEADER_LEN;
                let end = usize::try_from(length)
                    .ok()
                    .and_then(|l| start.checked_add(l))?;
                (end <= bytes.len()).then_some((start, end, checksum))
            });
        let Some((start, end, checksum)) = end else {
            parsed.damage.get_or_insert(Damage::TornTail);
            parsed.bad.push(offset..bytes.len());
            break;
        };
        let payload = &bytes[start..end];
        if crc32fast::hash(payload) == checksum {
            parsed.records.push(payload);
        } else {
            parsed.damage.get_or_insert(Damage::BadChecksum);
            parsed.bad.push(offset..end);
        }
        offset = end;
    }
    parsed.valid_len = parsed
        .bad
        .last()
        .filter(|range| range.end == bytes.len() && parsed.damage != Some(Damage::BadChecksum))
        .map_or(offset, |range| range.start);
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(records: &[&[u8]]) -> Vec<u8> {
        let mut bytes = header().to_vec();
        for record in records {
            bytes.extend(frame(record).unwrap());
        }
        bytes
    }

    #[test]
    fn round_trip() {
        let bytes = file(&[b"one", b"", b"three"]);
        let parsed = parse(&bytes);
        assert_eq!(parsed.records, vec![&b"one"[..], b"", b"three"]);
        assert_eq!(parsed.valid_len, bytes.len());
        assert_eq!(parsed.damage, None);
    }

    #[test]
    fn header_only_and_empty_are_empty_buffers() {
        assert_eq!(parse(&header()).records.len(), 0);
        assert_eq!(parse(&header()).damage, None);
        assert_eq!(parse(b"").damage, None);
    }

    #[test]
    fn every_truncation_keeps_the_whole_records_before_it() {
        let bytes = file(&[b"first record", b"second record"]);
        let first_end = HEADER_LEN + FRAME_HEADER_LEN + 12;
        for cut in HEADER_LEN + 1..bytes.len() {
            let parsed = parse(&bytes[..cut]);
            let damage = (cut != first_end).then_some(Damage::TornTail);
            assert_eq!(parsed.damage, damage, "cut at {cut}");
            let expected = usize::from(cut >= first_end);
            assert_eq!(parsed.records.len(), expected, "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_byte_is_caught_by_the_checksum() {
        let mut bytes = file(&[b"first", b"second"]);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let parsed = parse(&bytes);
        assert_eq!(parsed.records, vec![&b"first"[..]]);
        assert_eq!(parsed.damage, Some(Damage::BadChecksum));
    }

    #[test]
    fn a_bad_record_in_the_middle_does_not_take_the_later_ones_with_it() {
        let mut bytes = file(&[b"first", b"second", b"third"]);
        bytes[HEADER_LEN + FRAME_HEADER_LEN] ^= 0x01;
        let parsed = parse(&bytes);
        assert_eq!(parsed.records, vec![&b"second"[..], b"third"]);
        assert_eq!(parsed.damage, Some(Damage::BadChecksum));
        assert_eq!(
            parsed.bad,
            vec![HEADER_LEN..HEADER_LEN + FRAME_HEADER_LEN + 5]
        );
    }

    #[test]
    fn foreign_files_are_recognised() {
        let python = b"\n\x8a\x02\n\x1f__CHARM_TRACING_BUFFER_SPAN_SEP__\n\x12";
        assert_eq!(parse(python).damage, Some(Damage::ForeignHeader));
        assert_eq!(
            parse(b"CHTRBUF\n\x02\x00\x00\x00").damage,
            Some(Damage::ForeignHeader)
        );
        assert_eq!(parse(b"CHT").damage, Some(Damage::ForeignHeader));
    }

    #[test]
    fn a_huge_length_is_a_torn_tail_not_an_allocation() {
        let mut bytes = header().to_vec();
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(b"short");
        assert_eq!(parse(&bytes).damage, Some(Damage::TornTail));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any bytes at all: no panic, and every byte is either a record or reported bad.
            #[test]
            fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let parsed = parse(&bytes);
                let bad: usize = parsed.bad.iter().map(|r| r.len()).sum();
                let good: usize = parsed.records.iter().map(|r| r.len() + FRAME_HEADER_LEN).sum();
                let header = if header_ok(&bytes) { HEADER_LEN } else { 0 };
                prop_assert_eq!(header + good + bad, bytes.len());
            }

            /// A valid file with its bytes flipped or cut: the untouched records survive.
            #[test]
            fn damage_only_costs_the_records_it_touches(
                records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8),
                flip in any::<prop::sample::Index>(),
                cut in any::<prop::sample::Index>(),
            ) {
                let mut bytes = header().to_vec();
                let mut spans = Vec::new();
                for record in &records {
                    let start = bytes.len();
                    bytes.extend(frame(record).unwrap());
                    spans.push(start..bytes.len());
                }
                let flip_at = HEADER_LEN + flip.index(bytes.len() - HEADER_LEN);
                let cut_at = HEADER_LEN + cut.index(bytes.len() - HEADER_LEN + 1);
                let mut damaged = bytes.clone();
                damaged[flip_at] ^= 0x5a;
                damaged.truncate(cut_at);
                let parsed = parse(&damaged);
                for (record, span) in records.iter().zip(&spans) {
                    let untouched = span.end <= cut_at && !span.contains(&flip_at);
                    let flipped_frame_before = spans.iter().any(|s| s.start < span.start
                        && s.contains(&flip_at) && flip_at < s.start + 4);
                    if untouched && !flipped_frame_before {
                        prop_assert!(parsed.records.contains(&record.as_slice()));
                    }
                }
                for record in &parsed.records {
                    prop_assert!(records.iter().any(|r| r == record), "no invented records");
                }
            }
        }
    }
}
