//! Outages that cost a deadline once per backoff, not once per hook: a hook whose delivery
//! ran into the deadline writes a small state file next to the buffer
//! (`<buffer>.state`), and later hooks with the same endpoint keep their trace in the buffer
//! without touching the network until the backoff expires. The backoff doubles while the
//! backend stays away (5 s, 10 s, ... up to 5 min); a delivery that goes through, or another
//! endpoint, ends it. A state file that does not parse is ignored (and replaced).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The state file: `<buffer>` + this.
pub(crate) const SUFFIX: &str = ".state";
const MAGIC: &str = "charm-tracing outage v1";
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A backend that did not answer within the deadline, and until when not to try it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outage {
    /// The URL that timed out.
    pub endpoint: String,
    /// Not before this (ms since the Unix epoch).
    pub until_unix_ms: u64,
    /// The backoff that set `until_unix_ms`.
    pub backoff_ms: u64,
    /// What the last attempt ran into.
    pub error: String,
}

/// Now, in ms since the Unix epoch.
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Outage {
    /// Reads a state file's text; `None` for anything that is not one.
    pub(crate) fn parse(text: &str) -> Option<Outage> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let (mut endpoint, mut until, mut backoff, mut error) = (None, None, None, None);
        for line in lines {
            let (key, value) = line.split_once('=')?;
            match key {
                "endpoint" => endpoint = Some(value.to_owned()),
                "until_unix_ms" => until = Some(value.parse().ok()?),
                "backoff_ms" => backoff = Some(value.parse().ok()?),
                "error" => error = Some(value.to_owned()),
                _ => {}
            }
        }
        Some(Outage {
            endpoint: endpoint?,
            until_unix_ms: until?,
            backoff_ms: backoff?,
            error: error.unwrap_or_default(),
        })
    }

    /// The state file's text.
    pub(crate) fn render(&self) -> String {
        format!(
            "{MAGIC}\nendpoint={}\nuntil_unix_ms={}\nbackoff_ms={}\nerror={}\n",
            self.endpoint,
            self.until_unix_ms,
            self.backoff_ms,
            self.error.replace('\n', " ")
        )
    }

    /// Whether a hook sending to `endpoint` at `now_ms` should stay off the network.
    pub(crate) fn holds(&self, endpoint: &str, now_ms: u64) -> bool {
        self.endpoint == endpoint && now_ms < self.until_unix_ms
    }

    /// The outage after an attempt on `endpoint` at `now_ms` timed out with `error`: the
    /// backoff doubles if the last outage was this endpoint's, else starts again.
    pub(crate) fn after_timeout(
        previous: Option<&Outage>,
        endpoint: &str,
        error: String,
        now_ms: u64,
    ) -> Outage {
        let first = u64::try_from(FIRST_BACKOFF.as_millis()).unwrap_or(5_000);
        let most = u64::try_from(MAX_BACKOFF.as_millis()).unwrap_or(300_000);
        let backoff_ms = match previous {
            Some(previous) if previous.endpoint == endpoint => {
                previous.backoff_ms.saturating_mul(2).clamp(first, most)
            }
            _ => first,
        };
        Outage {
            endpoint: endpoint.to_owned(),
            until_unix_ms: now_ms.saturating_add(backoff_ms),
            backoff_ms,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_round_trips_and_anything_else_is_ignored() {
        let outage = Outage::after_timeout(None, "http://t/v1/traces", "no answer".into(), 1000);
        assert_eq!(Outage::parse(&outage.render()), Some(outage.clone()));
        assert_eq!(Outage::parse("garbage"), None);
        assert_eq!(Outage::parse(""), None);
        assert_eq!(
            Outage::parse(&outage.render().replace("until_unix_ms=", "until_unix_ms=x")),
            None
        );
    }

    #[test]
    fn the_backoff_doubles_for_one_endpoint_up_to_a_cap_and_restarts_for_another() {
        let first = Outage::after_timeout(None, "a", String::new(), 0);
        assert_eq!(first.backoff_ms, 5_000);
        assert!(first.holds("a", 4_999) && !first.holds("a", 5_000) && !first.holds("b", 1));
        let second = Outage::after_timeout(Some(&first), "a", String::new(), 5_000);
        assert_eq!((second.backoff_ms, second.until_unix_ms), (10_000, 15_000));
        let mut outage = second;
        for _ in 0..20 {
            outage = Outage::after_timeout(Some(&outage), "a", String::new(), 0);
        }
        assert_eq!(outage.backoff_ms, 300_000);
        assert_eq!(
            Outage::after_timeout(Some(&outage), "b", String::new(), 0).backoff_ms,
            5_000
        );
    }
}
