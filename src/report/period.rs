//! Report periods: a quarter (`2027Q1`), a run of months (`2027-01..2027-03`, or one month
//! `2027-02`), or dates (`--from 2027-01-15 --to 2027-02-14`, both days included).

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use chrono::{Datelike, Days, Months, NaiveDate};
use serde::Serialize;

/// A span of whole days, `start` included and `end` excluded, in UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// How the user named it (`2027Q1`), or how a derived period is named.
    pub label: String,
    /// First day.
    pub start: NaiveDate,
    /// The day after the last day.
    pub end: NaiveDate,
    /// Whole months covered, when the period was given in months or quarters: the previous period
    /// is then the same number of calendar months before (so Q1 follows Q4, not 90 days before).
    #[serde(skip)]
    months: Option<u32>,
}

impl Period {
    /// The period from `from` to `to`, both days included.
    pub fn from_dates(from: NaiveDate, to: NaiveDate) -> Result<Self> {
        if to < from {
            bail!("the period ends ({to}) before it starts ({from}): swap --from and --to");
        }
        Ok(Period {
            label: format!("{from}..{to}"),
            start: from,
            end: to + Days::new(1),
            months: None,
        })
    }

    /// The period of the same length just before this one.
    pub fn previous(&self) -> Period {
        match self.months {
            Some(n) => months_period(self.start - Months::new(n), n),
            None => {
                let days = (self.end - self.start).num_days() as u64;
                let start = self.start - Days::new(days);
                Period {
                    label: format!("{start}..{}", self.start - Days::new(1)),
                    start,
                    end: self.start,
                    months: None,
                }
            }
        }
    }

    /// The first instant of the period as stored timestamps compare (RFC 3339 text, UTC).
    pub fn start_key(&self) -> String {
        self.start.to_string()
    }

    /// The first instant after the period, in the same form.
    pub fn end_key(&self) -> String {
        self.end.to_string()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

/// `n` months from `start` (the first of a month), named as a quarter when it is one.
fn months_period(start: NaiveDate, n: u32) -> Period {
    let end = start + Months::new(n);
    let last = end - Months::new(1);
    let label = if n == 3 && matches!(start.month0(), 0 | 3 | 6 | 9) {
        format!("{}Q{}", start.year(), start.month0() / 3 + 1)
    } else if n == 1 {
        start.format("%Y-%m").to_string()
    } else {
        format!("{}..{}", start.format("%Y-%m"), last.format("%Y-%m"))
    };
    Period {
        label,
        start,
        end,
        months: Some(n),
    }
}

/// `2027-03` → the first of that month.
fn month(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d")
        .with_context(|| format!("{s:?} is not a month: write it as 2027-03"))
}

impl FromStr for Period {
    type Err = anyhow::Error;

    /// Parses `2027Q1`, `2027-01..2027-03` or `2027-02`.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some((year, q)) = s.split_once(['Q', 'q']) {
            let (Ok(year), Ok(q @ 1..=4)) = (year.parse::<i32>(), q.parse::<u32>()) else {
                bail!("{s:?} is not a quarter: write it as 2027Q1 (Q1 to Q4)");
            };
            let start = NaiveDate::from_ymd_opt(year, (q - 1) * 3 + 1, 1)
                .with_context(|| format!("year {year} is out of range"))?;
            return Ok(months_period(start, 3));
        }
        let (first, last) = match s.split_once("..") {
            Some((a, b)) => (month(a)?, month(b)?),
            None => (month(s)?, month(s)?),
        };
        if last < first {
            bail!("{s:?} ends before it starts: write the earlier month first");
        }
        let n = (last.year() - first.year()) * 12 + last.month() as i32 - first.month() as i32 + 1;
        Ok(months_period(first, n as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn quarters_and_their_previous_quarter() {
        let q1: Period = "2027Q1".parse().unwrap();
        assert_eq!((q1.start, q1.end), (day("2027-01-01"), day("2027-04-01")));
        let q4 = q1.previous();
        assert_eq!(q4.label, "2026Q4");
        assert_eq!((q4.start, q4.end), (day("2026-10-01"), day("2027-01-01")));
    }

    #[test]
    fn month_ranges_name_quarters_and_single_months() {
        let p: Period = "2027-01..2027-03".parse().unwrap();
        assert_eq!(p, "2027q1".parse().unwrap());
        assert_eq!(p.label, "2027Q1");
        let two: Period = "2027-02..2027-03".parse().unwrap();
        assert_eq!(two.previous().label, "2026-12..2027-01");
        let one: Period = "2027-02".parse().unwrap();
        assert_eq!(
            (one.end, one.previous().label.as_str()),
            (day("2027-03-01"), "2027-01")
        );
    }

    #[test]
    fn dates_include_both_days_and_step_back_by_length() {
        let p = Period::from_dates(day("2027-01-15"), day("2027-01-24")).unwrap();
        assert_eq!(p.end, day("2027-01-25"));
        let prev = p.previous();
        assert_eq!(
            (prev.start, prev.end),
            (day("2027-01-05"), day("2027-01-15"))
        );
        assert_eq!(prev.label, "2027-01-05..2027-01-14");
    }

    #[test]
    fn bad_periods_say_how_to_write_them() {
        for (s, hint) in [
            ("2027Q5", "2027Q1"),
            ("2027-13", "2027-03"),
            ("2027-03..2027-01", "earlier"),
        ] {
            let err = s.parse::<Period>().unwrap_err();
            assert!(format!("{err:#}").contains(hint), "{s}: {err:#}");
        }
        assert!(Period::from_dates(day("2027-02-01"), day("2027-01-01")).is_err());
    }
}
