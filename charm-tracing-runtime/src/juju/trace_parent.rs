//! Juju's trace parent: with its own tracing on, Juju sets the W3C `TRACEPARENT`
//! (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`) and the trio `JUJU_TRACE_ID`,
//! `JUJU_SPAN_ID`, `JUJU_TRACE_FLAGS` on every hook.
//!
//! The parent is used only when every value given is valid, they agree with each other, and
//! the sampled flag (bit 0) is set. `JUJU_TRACE_FLAGS` may be missing (older Juju sets only
//! the ids, and only when its tracing is on): the ids alone count as sampled. Empty variables
//! count as unset. Anything else (malformed, all-zero ids, version `ff`, upper-case hex,
//! `TRACEPARENT` and the trio naming different spans, unsampled): no parent, silently.

use opentelemetry::trace::{SpanId, TraceId};

/// Juju's span, which the hook's root joins (or links to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub flags: u8,
}

fn hex_field(text: &str, len: usize) -> Option<&str> {
    (text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some(text)
}

fn ids(trace: &str, span: &str) -> Option<(TraceId, SpanId)> {
    let trace_id = TraceId::from_hex(hex_field(trace, 32)?).ok()?;
    let span_id = SpanId::from_hex(hex_field(span, 16)?).ok()?;
    (trace_id != TraceId::INVALID && span_id != SpanId::INVALID).then_some((trace_id, span_id))
}

/// Parses a W3C `traceparent` header value.
fn parse_traceparent(value: &str) -> Option<TraceParent> {
    let value = value.trim();
    let mut fields = value.split('-');
    let version = hex_field(fields.next()?, 2)?;
    let (trace, span, flags) = (fields.next()?, fields.next()?, fields.next()?);
    // Version 00 has exactly four fields; later versions may add some; ff is invalid.
    if version == "ff" || (version == "00" && fields.next().is_some()) {
        return None;
    }
    let (trace_id, span_id) = ids(trace, span)?;
    let flags = u8::from_str_radix(hex_field(flags, 2)?, 16).ok()?;
    Some(TraceParent {
        trace_id,
        span_id,
        flags,
    })
}

/// Parses the `JUJU_TRACE_ID` / `JUJU_SPAN_ID` / `JUJU_TRACE_FLAGS` trio; `Err` when it is
/// given but unusable. Flags are one or two hex digits (`1`, `01`).
fn parse_trio(
    trace: Option<String>,
    span: Option<String>,
    flags: Option<String>,
) -> Result<Option<TraceParent>, ()> {
    if trace.is_none() && span.is_none() && flags.is_none() {
        return Ok(None);
    }
    let (Some(trace), Some(span)) = (trace, span) else {
        return Err(());
    };
    let (trace_id, span_id) = ids(trace.trim(), span.trim()).ok_or(())?;
    let flags = match flags {
        None => 1,
        Some(flags) => {
            let flags = flags.trim();
            if flags.is_empty() || flags.len() > 2 || !flags.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(());
            }
            u8::from_str_radix(flags, 16).map_err(|_| ())?
        }
    };
    Ok(Some(TraceParent {
        trace_id,
        span_id,
        flags,
    }))
}

/// Juju's sampled span from the environment `env` reads, if there is a usable one.
pub(crate) fn from_env(env: impl Fn(&str) -> Option<String>) -> Option<TraceParent> {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let header = match get("TRACEPARENT") {
        Some(value) => Some(parse_traceparent(&value)?),
        None => None,
    };
    let trio = parse_trio(
        get("JUJU_TRACE_ID"),
        get("JUJU_SPAN_ID"),
        get("JUJU_TRACE_FLAGS"),
    )
    .ok()?;
    let parent = match (header, trio) {
        (Some(header), Some(trio)) => {
            let agree = header.trace_id == trio.trace_id
                && header.span_id == trio.span_id
                && (header.flags & 1) == (trio.flags & 1);
            if !agree {
                return None;
            }
            header
        }
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => return None,
    };
    (parent.flags & 1 == 1).then_some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn header(flags: &str) -> String {
        format!("00-{TRACE}-{SPAN}-{flags}")
    }

    #[test]
    fn a_sampled_traceparent_is_joined() {
        let value = header("01");
        let parent = from_env(env(&[("TRACEPARENT", &value)])).unwrap();
        assert_eq!(parent.trace_id.to_string(), TRACE);
        assert_eq!(parent.span_id.to_string(), SPAN);
        assert_eq!(parent.flags, 1);
        assert!(from_env(env(&[("TRACEPARENT", &header("03"))])).is_some());
    }

    #[test]
    fn the_trio_alone_is_joined() {
        let trio = [
            ("JUJU_TRACE_ID", TRACE),
            ("JUJU_SPAN_ID", SPAN),
            ("JUJU_TRACE_FLAGS", "1"),
        ];
        assert!(from_env(env(&trio)).is_some());
        assert!(from_env(env(&trio[..2])).is_some(), "flags may be missing");
        let unsampled = [trio[0], trio[1], ("JUJU_TRACE_FLAGS", "00")];
        assert!(from_env(env(&unsampled)).is_none());
        assert!(from_env(env(&trio[..1])).is_none(), "a trace id alone");
    }

    #[test]
    fn unusable_values_are_no_parent() {
        let zero_trace = format!("00-{}-{SPAN}-01", "0".repeat(32));
        let zero_span = format!("00-{TRACE}-{}-01", "0".repeat(16));
        let upper = header("01").to_uppercase();
        let extra = format!("{}-00", header("01"));
        let ff = format!("ff-{TRACE}-{SPAN}-01");
        for bad in [
            header("00"),
            zero_trace,
            zero_span,
            upper,
            extra,
            ff,
            "garbage".to_owned(),
            format!("00-{TRACE}-{SPAN}"),
            format!("00-{TRACE}-{SPAN}-1"),
        ] {
            assert_eq!(from_env(env(&[("TRACEPARENT", &bad)])), None, "{bad}");
        }
        assert_eq!(from_env(env(&[("TRACEPARENT", "")])), None);
    }

    #[test]
    fn future_versions_are_read_by_their_first_fields() {
        let future = format!("01-{TRACE}-{SPAN}-01-extra");
        assert!(from_env(env(&[("TRACEPARENT", &future)])).is_some());
    }

    #[test]
    fn traceparent_and_trio_must_agree() {
        let value = header("01");
        let other_span = "1111111111111111";
        let mismatched = [
            ("TRACEPARENT", value.as_str()),
            ("JUJU_TRACE_ID", TRACE),
            ("JUJU_SPAN_ID", other_span),
            ("JUJU_TRACE_FLAGS", "01"),
        ];
        assert_eq!(from_env(env(&mismatched)), None);
        let agreeing = [mismatched[0], mismatched[1], ("JUJU_SPAN_ID", SPAN)];
        assert!(from_env(env(&agreeing)).is_some());
        let bad_header_good_trio = [
            ("TRACEPARENT", "nonsense"),
            ("JUJU_TRACE_ID", TRACE),
            ("JUJU_SPAN_ID", SPAN),
        ];
        assert_eq!(from_env(env(&bad_header_good_trio)), None);
    }
}
