//! Time-window API sources (`cloudwatch_alarms`, `redshift_events`): which span a run reads
//! ([`read_window`]: `since`/`until`, the API's horizon, a settle margin), and a cursor that
//! says exactly what of it is taken ([`SliceCursor`]), whatever order the API pages in.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The first second a lane without a cursor reads and the last second any lane reads: from
/// `since` (config, or `--since`, default `default_since`), at most `horizon_days` back — older
/// is clamped to the horizon with a warning naming `api` — to the end of `until` or
/// `settle_seconds` ago, whichever is earlier.
#[allow(clippy::too_many_arguments)]
pub fn read_window(
    api: &str,
    since_cfg: Option<&str>,
    until_cfg: Option<&str>,
    since_flag: Option<NaiveDate>,
    until_flag: Option<NaiveDate>,
    default_since: &str,
    horizon_days: u64,
    settle_seconds: u64,
    now: i64,
) -> Result<(i64, i64), String> {
    let today = chrono::DateTime::from_timestamp(now, 0).expect("valid").date_naive();
    let days = super::days::DayRange::resolve(since_cfg, until_cfg, since_flag, until_flag, default_since, today)?;
    let horizon = now - (horizon_days * 86_400) as i64;
    let mut first = days.first.and_hms_opt(0, 0, 0).expect("valid").and_utc().timestamp();
    if first < horizon {
        tracing::warn!(since = %days.first, "{api} keeps {horizon_days} days of events; starting {horizon_days} days ago instead");
        first = horizon;
    }
    let end_of_until = days.last.and_hms_opt(23, 59, 59).expect("valid").and_utc().timestamp();
    Ok((first, end_of_until.min(now - settle_seconds as i64)))
}

/// How far a lane is, in milliseconds: every item before `time` is taken, and those at `time`
/// whose keys are in `keys`. While a slice `[time, end]` is being read, `slice` lists the keys
/// taken in it so far, so pages may come in any order and a rerun from any page's cursor takes
/// each item once. A key is what identifies an item among those of its millisecond (an event
/// id, or a digest of the item's content when the API gives none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceCursor {
    /// Epoch milliseconds.
    pub time: i64,
    /// Keys of the items at `time` already taken.
    pub keys: Vec<String>,
    /// The slice in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<SliceTaken>,
}

/// What of the slice ending at `end` is taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliceTaken {
    /// The slice's last millisecond.
    pub end: i64,
    /// Keys of every item of the slice taken so far.
    pub keys: Vec<String>,
    /// Of those, the keys of items at `end` (the next slice starts there).
    pub end_keys: Vec<String>,
}

impl SliceCursor {
    /// A lane that starts at `time` (ms) with nothing taken.
    pub fn starting_at(time: i64) -> Self {
        SliceCursor { time, keys: Vec::new(), slice: None }
    }

    /// The slice to read next, `[from, to]` in ms, given the slice length and where reading
    /// stops; `None` when the lane is done through `stop`. `from` is a second before the
    /// cursor, so an API that takes its start as exclusive still returns the items at it (they
    /// are told apart by key).
    pub fn next_slice(&self, slice_ms: i64, stop: i64) -> Option<(i64, i64)> {
        match &self.slice {
            Some(s) => Some((self.time - 1000, s.end)),
            None if self.time < stop => Some((self.time - 1000, (self.time + slice_ms).min(stop))),
            None => None,
        }
    }

    /// Whether the item at `time` with `key` was taken already.
    pub fn taken(&self, time: i64, key: &str) -> bool {
        time < self.time
            || (time == self.time && self.keys.iter().any(|k| k == key))
            || self.slice.as_ref().is_some_and(|s| s.keys.iter().any(|k| k == key))
    }

    /// Takes the item at `time` with `key`, read in the slice ending at `end`, unless it was
    /// taken already or lies after `end` (the next slice reads it): whether it is new.
    pub fn admit(&mut self, end: i64, time: i64, key: &str) -> bool {
        if time > end || self.taken(time, key) {
            return false;
        }
        let s = self.slice.get_or_insert_with(|| SliceTaken { end, ..SliceTaken::default() });
        s.keys.push(key.to_string());
        if time == s.end {
            s.end_keys.push(key.to_string());
        }
        true
    }

    /// For an API that returns items oldest first (CloudWatch Logs' FilterLogEvents), no slice
    /// is kept: the cursor moves to each item as it is taken, so the cursor saved with any item
    /// says exactly what is taken. Whether the item at `time` with `key` moved the cursor:
    /// `false` for an item taken already or older than the cursor (out of order).
    pub fn advance(&mut self, time: i64, key: &str) -> bool {
        if self.taken(time, key) {
            return false;
        }
        if time > self.time {
            self.time = time;
            self.keys.clear();
        }
        self.keys.push(key.to_string());
        true
    }

    /// An oldest-first read is complete through `end`: nothing at or before it is left.
    pub fn advance_to(&mut self, end: i64) {
        if end > self.time {
            *self = SliceCursor::starting_at(end);
        }
    }

    /// The slice is read: the lane is done through its end.
    pub fn finish_slice(&mut self, end: i64) {
        let keys = match self.slice.take() {
            Some(s) if s.end == end => s.end_keys,
            _ => Vec::new(),
        };
        *self = SliceCursor { time: end, keys, slice: None };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages in any order, cut after any page: resuming from the cursor saved with the last
    /// page takes every item once, and the next slice does not take the boundary items again.
    #[test]
    fn a_cursor_saved_after_any_page_resumes_without_loss_or_repeat() {
        // (time, key) in the slice [1000, 5000]; several per millisecond, some on both edges.
        let items: Vec<(i64, String)> = [1000, 1000, 1500, 3000, 3000, 3000, 4999, 5000, 5000].iter().enumerate().map(|(i, t)| (*t, format!("k{i}"))).collect();
        let orders: Vec<Vec<(i64, String)>> = vec![items.clone(), items.iter().rev().cloned().collect(), items.iter().step_by(2).chain(items.iter().skip(1).step_by(2)).cloned().collect()];
        // The API returns the slice's items in its own order; a resumed query returns the same.
        for order in &orders {
            for page_size in 1..=4 {
                for stop_after in 0..=items.len() {
                    let mut got: Vec<String> = Vec::new();
                    let mut cursor = SliceCursor { time: 1000, keys: vec!["before".into()], slice: None };
                    let mut saved = cursor.clone();
                    let (from, to) = cursor.next_slice(10_000, 5000).unwrap();
                    assert_eq!((from, to), (0, 5000));
                    let pages: Vec<&[(i64, String)]> = order.chunks(page_size).collect();
                    for (n, page) in pages.iter().enumerate().take(stop_after) {
                        for (t, k) in page.iter() {
                            if cursor.admit(to, *t, k) {
                                got.push(k.clone());
                            }
                        }
                        if n + 1 == pages.len() {
                            cursor.finish_slice(to);
                        }
                        saved = cursor.clone();
                    }
                    let mut cursor = saved;
                    if let Some((_, to)) = cursor.next_slice(10_000, 5000) {
                        for (t, k) in order.iter().chain(&[(6000, "later".to_string())]) {
                            if cursor.admit(to, *t, k) {
                                got.push(k.clone());
                            }
                        }
                        cursor.finish_slice(to);
                    }
                    got.sort();
                    let mut want: Vec<String> = items.iter().map(|i| i.1.clone()).collect();
                    want.sort();
                    assert_eq!(got, want, "page size {page_size}, stopped after {stop_after} pages");
                    assert_eq!(cursor.next_slice(10_000, 5000), None, "done through the stop");
                    assert!(cursor.taken(5000, "k7") && cursor.taken(5000, "k8") && !cursor.taken(5000, "new") && cursor.taken(4999, "k6"));
                }
            }
        }
    }

    #[test]
    fn the_window_is_clamped_to_the_horizon_and_ends_settle_seconds_ago() {
        let now = 1_700_000_000;
        let (first, end) = read_window("DescribeEvents", Some("2020-01-01"), None, None, None, "1d", 14, 300, now).unwrap();
        assert_eq!((first, end), (now - 14 * 86_400, now - 300));
        let (first, _) = read_window("DescribeEvents", Some("2d"), None, None, None, "1d", 14, 300, now).unwrap();
        assert_eq!(first, chrono::DateTime::from_timestamp(now - 2 * 86_400, 0).unwrap().date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp());
        assert!(read_window("x", Some("soon"), None, None, None, "1d", 14, 0, now).unwrap_err().contains("since"));
    }
}
