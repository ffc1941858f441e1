//! A sealed session's spans in the order they are sent: the span table's records where the
//! seal left them, and the fold spans, put in end order (the root last) by sorting small
//! keys, so that no record is copied or moved.

use crate::collect::clock::Converter;
use crate::collect::record::SpanRecord;
use crate::collect::table::SpanTable;
use opentelemetry::trace::SpanId;
use std::cmp::Reverse;

/// Marks an entry of a fold span (in `folds`), not of a table slot.
const FOLD: u32 = 1 << 31;

/// One span's place in the order: what it is sorted by, and where it is.
#[derive(Clone, Copy)]
struct Entry {
    root: bool,
    end_nanos: u64,
    /// A table slot, or `FOLD | i` for `folds[i]`.
    at: u32,
}

/// The spans of a sealed trace, in end order. Iterate with [`SealedSpans::iter`].
pub(crate) struct SealedSpans<'a> {
    table: Option<&'a SpanTable>,
    folds: Vec<SpanRecord>,
    order: Vec<Entry>,
}

impl<'a> SealedSpans<'a> {
    /// The sealed records of `table` (its first `taken` slots) and `folds`, in end order,
    /// the span `root` last. On a tie the span that came later comes first (a fold span
    /// before the calls it follows, a child opened after its parent before it).
    pub(crate) fn new(
        table: &'a SpanTable,
        taken: usize,
        folds: Vec<SpanRecord>,
        root: SpanId,
        clock: &Converter,
    ) -> Self {
        let key = |span: &SpanRecord, at: u32| Entry {
            root: span.span_id == root,
            end_nanos: match span.end.ticks_or_unix() {
                Ok(ticks) => clock.unix_nanos(ticks),
                Err(nanos) => nanos,
            },
            at,
        };
        let mut order = Vec::with_capacity(taken + folds.len());
        // Slot numbers stay below 2^28 (the table's counter), so below `FOLD`.
        for index in 0..taken.min(FOLD as usize) {
            if let Some(span) = table.sealed(index) {
                order.push(key(span, index as u32));
            }
        }
        for (i, fold) in folds.iter().enumerate().take(FOLD as usize) {
            order.push(key(fold, FOLD | i as u32));
        }
        order.sort_unstable_by_key(|e| (e.root, e.end_nanos, Reverse(e.at)));
        SealedSpans {
            table: Some(table),
            folds,
            order,
        }
    }

    /// `spans` as they are, in this order (a trace built by hand, in tests).
    #[cfg(test)]
    pub(crate) fn from_vec(spans: Vec<SpanRecord>) -> SealedSpans<'static> {
        let order = (0..spans.len())
            .map(|i| Entry {
                root: false,
                end_nanos: 0,
                at: FOLD | i as u32,
            })
            .collect();
        SealedSpans {
            table: None,
            folds: spans,
            order,
        }
    }

    /// How many spans there are.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// The spans, in end order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &SpanRecord> + '_ {
        self.order.iter().filter_map(|entry| {
            if entry.at & FOLD != 0 {
                self.folds.get((entry.at & !FOLD) as usize)
            } else {
                self.table?.sealed(entry.at as usize)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::clock::Anchor;
    use crate::collect::record::Stamp;
    use crate::collect::table::Budget;
    use std::borrow::Cow;

    fn span(name: &'static str, id: u8, end: u64) -> SpanRecord {
        let mut span = SpanRecord::open(
            Cow::Borrowed(name),
            SpanId::from_bytes([id; 8]),
            SpanId::INVALID,
        );
        span.end = Stamp::unix(end);
        span
    }

    #[test]
    fn spans_come_in_end_order_the_root_last_later_ones_first_on_a_tie() {
        let root = span("root", 9, 10);
        let table = SpanTable::new(root.clone(), Budget::for_record(1 << 20), 0, 1);
        for (name, end) in [("a", 5), ("b", 3), ("c", 5)] {
            let mut record = Some(span(name, 0, end));
            let placed = table.open(&mut record, 100).unwrap();
            table.end(placed.index, Stamp::unix(end));
        }
        let taken = table.seal(Stamp::unix(10));
        let folds = vec![span("fold", 7, 5)];
        let clock = Converter::new(Anchor::now(), Anchor::now());
        let root_id = table.sealed(0).unwrap().span_id;
        let sealed = SealedSpans::new(&table, taken, folds, root_id, &clock);
        let names: Vec<&str> = sealed.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names, ["b", "fold", "c", "a", "root"]);
        assert_eq!(sealed.len(), 5);
    }
}
