//! Reading traces from a file: a charm-tracing buffer, its `.corrupt` file, or one OTLP
//! request body (protobuf or JSON, as `receive --out` saves them).

use charm_tracing_runtime::buffer::format::{self, FRAME_HEADER_LEN};
use charm_tracing_runtime::testing::Trace;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::path::Path;

/// What [`Loaded::kind`] says of a charm-tracing buffer.
pub const BUFFER: &str = "charm-tracing buffer";

/// The most a file is read into memory: a buffer is at most a few tens of MiB.
const READ_LIMIT: u64 = 256 * 1024 * 1024;

/// What a file held: its records (one OTLP request each) and what could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The readable records, in file order.
    pub records: Vec<ExportTraceServiceRequest>,
    /// What kind of file it was.
    pub kind: &'static str,
    /// One line about the bytes that could not be read, if any.
    pub damage: Option<String>,
    /// The file's size.
    pub bytes: u64,
}

impl Loaded {
    /// Every trace of every record, in file order.
    pub fn traces(&self) -> Vec<Trace> {
        self.records
            .iter()
            .flat_map(Trace::all_from_request)
            .collect()
    }
}

/// Reads `path`; an error only when nothing at all can be read from it.
pub fn load(path: &Path) -> Result<Loaded, String> {
    let bytes = read_bounded(path)?;
    let size = bytes.len() as u64;
    if format::header_ok(&bytes) {
        let parsed = format::parse(&bytes);
        let records = decode_all(parsed.records.iter().copied());
        let unreadable: usize = parsed.bad.iter().map(|range| range.len()).sum();
        let damage = parsed.damage.map(|damage| {
            format!("{damage}: {unreadable} byte(s) after the valid records are not readable")
        });
        return Ok(Loaded {
            records: records.0,
            kind: BUFFER,
            damage: join(damage, records.1),
            bytes: size,
        });
    }
    if let Some(request) = decode_body(&bytes) {
        return Ok(Loaded {
            records: vec![request],
            kind: "OTLP request body",
            damage: None,
            bytes: size,
        });
    }
    // A `.corrupt` file: the damaged frames a buffer moved aside, without a header.
    let (frames, rest) = frames_without_header(&bytes);
    let records = decode_all(frames.into_iter());
    if !records.0.is_empty() {
        let damage = (rest > 0).then(|| format!("{rest} byte(s) are not readable records"));
        return Ok(Loaded {
            records: records.0,
            kind: "damaged records (a .corrupt file)",
            damage: join(damage, records.1),
            bytes: size,
        });
    }
    Err(format!(
        "{}: neither a charm-tracing buffer nor an OTLP trace request ({size} bytes, none readable)",
        path.display()
    ))
}

fn join(first: Option<String>, undecodable: usize) -> Option<String> {
    let second =
        (undecodable > 0).then(|| format!("{undecodable} record(s) are not OTLP trace requests"));
    match (first, second) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let metadata = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !metadata.is_file() {
        // A FIFO or a device would block or never end.
        return Err(format!("{}: not a regular file", path.display()));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(READ_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > READ_LIMIT {
        return Err(format!(
            "{}: larger than {} MiB, not a charm-tracing buffer",
            path.display(),
            READ_LIMIT >> 20
        ));
    }
    Ok(bytes)
}

/// The decodable records, and how many were not.
fn decode_all<'a>(
    payloads: impl Iterator<Item = &'a [u8]>,
) -> (Vec<ExportTraceServiceRequest>, usize) {
    let mut records = Vec::new();
    let mut failed = 0;
    for payload in payloads {
        match decode_protobuf(payload) {
            Some(request) => records.push(request),
            None => failed += 1,
        }
    }
    (records, failed)
}

/// A whole OTLP request body, protobuf or JSON.
pub fn decode_body(bytes: &[u8]) -> Option<ExportTraceServiceRequest> {
    if bytes.first() == Some(&b'{') {
        return decode_json(bytes);
    }
    decode_protobuf(bytes)
}

/// An OTLP/JSON request body.
pub fn decode_json(bytes: &[u8]) -> Option<ExportTraceServiceRequest> {
    serde_json::from_slice::<ExportTraceServiceRequest>(bytes)
        .ok()
        .filter(has_spans)
}

/// A protobuf request that holds at least one span with valid ids: random bytes can decode
/// as an (empty) protobuf message, so an empty result is not taken for a trace.
pub fn decode_protobuf(bytes: &[u8]) -> Option<ExportTraceServiceRequest> {
    ExportTraceServiceRequest::decode(bytes)
        .ok()
        .filter(has_spans)
}

fn has_spans(request: &ExportTraceServiceRequest) -> bool {
    let spans: Vec<_> = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    !spans.is_empty()
        && spans
            .iter()
            .all(|s| s.trace_id.len() == 16 && s.span_id.len() == 8)
}

/// Frames (length, checksum, payload) laid end to end, as a `.corrupt` file holds them; and
/// how many bytes were left over. The checksum is not required to match: the file holds the
/// frames that failed it, and what still decodes is shown.
fn frames_without_header(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut frames = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= FRAME_HEADER_LEN {
        let mut header = [0u8; FRAME_HEADER_LEN];
        header.copy_from_slice(&bytes[at..at + FRAME_HEADER_LEN]);
        let (length, _checksum) = format::frame_header(&header);
        let start = at + FRAME_HEADER_LEN;
        let Some(end) = usize::try_from(length)
            .ok()
            .and_then(|length| start.checked_add(length))
            .filter(|end| *end <= bytes.len())
        else {
            break;
        };
        frames.push(&bytes[start..end]);
        at = end;
    }
    (frames, bytes.len() - at)
}
