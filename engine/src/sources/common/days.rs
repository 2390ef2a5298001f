//! Day ranges: what `since`/`until` and `--since`/`--until` select.

use chrono::NaiveDate;

/// An inclusive range of UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// First day.
    pub first: NaiveDate,
    /// Last day.
    pub last: NaiveDate,
}

impl DayRange {
    /// Every day, in order.
    pub fn iter(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.first.iter_days().take_while(|d| d <= &self.last)
    }

    /// The range from config values (`since` default `default_since`, `until` default
    /// today), with `--since`/`--until` taking precedence.
    pub fn resolve(
        since_cfg: Option<&str>,
        until_cfg: Option<&str>,
        since_flag: Option<NaiveDate>,
        until_flag: Option<NaiveDate>,
        default_since: &str,
        today: NaiveDate,
    ) -> Result<DayRange, String> {
        let first = match since_flag {
            Some(d) => d,
            None => parse_day(since_cfg.unwrap_or(default_since), today).map_err(|e| format!("since: {e}"))?,
        };
        let last = match until_flag {
            Some(d) => d,
            None => match until_cfg {
                Some(u) => parse_day(u, today).map_err(|e| format!("until: {e}"))?,
                None => today,
            },
        };
        if first > last {
            return Err(format!("since ({first}) is after until ({last})"));
        }
        Ok(DayRange { first, last })
    }
}

/// The first millisecond a cursor lane without a cursor reads: midnight UTC of `--since`, else
/// of the config's `since`, else of `default_since` (API sources that start at a day and then
/// follow their cursor).
pub fn first_ms(since_cfg: Option<&str>, since_flag: Option<NaiveDate>, default_since: &str, now_ms: i64) -> Result<i64, String> {
    let today = chrono::DateTime::from_timestamp_millis(now_ms).ok_or_else(|| format!("{now_ms} is not a time"))?.date_naive();
    let days = DayRange::resolve(since_cfg, None, since_flag, None, default_since, today)?;
    Ok(days.first.and_hms_opt(0, 0, 0).expect("valid").and_utc().timestamp_millis())
}

/// A day: `YYYY-MM-DD`, or `<N>d` for N days before `today`.
pub fn parse_day(s: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    if let Some(n) = s.strip_suffix('d').and_then(|n| n.parse::<u32>().ok()) {
        return today.checked_sub_days(chrono::Days::new(n.into())).ok_or_else(|| format!("{s:?} is too far back"));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{s:?} is not a day: use YYYY-MM-DD or <N>d (N days ago)"))
}
