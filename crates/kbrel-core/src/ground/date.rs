//! Release timestamps: parsed from `--date` / `SOURCE_DATE_EPOCH` (the binary reads those and
//! the clock; the library only receives a [`Timestamp`]). UTC, second precision, RFC 3339.

use crate::error::{Error, Result};

/// Seconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parse `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS±HH:MM`.
    pub fn parse(s: &str) -> Result<Timestamp> {
        let bad = |reason: &str| Error::InvalidDate {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let t = s.trim();
        let num = |r: std::ops::Range<usize>| -> Result<i64> {
            t.get(r)
                .filter(|x| x.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| bad("expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"))
        };
        if t.len() < 10 || t.as_bytes()[4] != b'-' || t.as_bytes()[7] != b'-' {
            return Err(bad("expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"));
        }
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return Err(bad("no such day"));
        }
        let mut secs = days_from_civil(y, m, d) * 86_400;
        if t.len() > 10 {
            let b = t.as_bytes();
            if !matches!(b[10], b'T' | b't' | b' ')
                || t.len() < 19
                || b[13] != b':'
                || b[16] != b':'
            {
                return Err(bad("expected a time like T08:15:00Z"));
            }
            let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
            if hh > 23 || mm > 59 || ss > 60 {
                return Err(bad("no such time"));
            }
            secs += hh * 3600 + mm * 60 + ss;
            let mut rest = &t[19..];
            if let Some(r) = rest.strip_prefix('.') {
                rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
            }
            match rest {
                "Z" | "z" => {}
                _ if rest.len() == 6
                    && matches!(rest.as_bytes()[0], b'+' | b'-')
                    && rest.as_bytes()[3] == b':' =>
                {
                    let oh: i64 = rest[1..3].parse().map_err(|_| bad("bad offset"))?;
                    let om: i64 = rest[4..6].parse().map_err(|_| bad("bad offset"))?;
                    let off = oh * 3600 + om * 60;
                    secs -= if rest.starts_with('+') { off } else { -off };
                }
                _ => return Err(bad("expected a UTC offset such as Z or +08:00")),
            }
        }
        Ok(Timestamp(secs))
    }

    /// `SOURCE_DATE_EPOCH`-style integer seconds.
    /// Only the years RFC 3339 can write (0000 to 9999) are accepted.
    pub fn from_epoch_str(s: &str) -> Result<Timestamp> {
        let bad = |reason: &str| Error::InvalidDate {
            value: s.to_string(),
            reason: reason.into(),
        };
        let secs = s
            .trim()
            .parse::<i64>()
            .map_err(|_| bad("SOURCE_DATE_EPOCH must be an integer number of seconds"))?;
        // 0000-01-01T00:00:00Z ..= 9999-12-31T23:59:59Z
        if !(-62_167_219_200..=253_402_300_799).contains(&secs) {
            return Err(bad("outside the years 0000 to 9999"));
        }
        Ok(Timestamp(secs))
    }

    /// `2026-11-25T08:15:00Z`
    pub fn rfc3339(self) -> String {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    /// `2026-11-25`
    pub fn date(self) -> String {
        self.rfc3339()[..10].to_string()
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let t = Timestamp::parse("1985-10-26T08:15:00Z").unwrap();
        assert_eq!(t.0, 499_162_500);
        assert_eq!(t.rfc3339(), "1985-10-26T08:15:00Z");
        assert_eq!(Timestamp::parse("2024-02-29").unwrap().date(), "2024-02-29");
        assert_eq!(
            Timestamp::parse("2026-11-25T08:00:00+08:00")
                .unwrap()
                .rfc3339(),
            "2026-11-25T00:00:00Z"
        );
    }

    #[test]
    fn rejects_nonsense() {
        for s in [
            "2023-02-29",
            "2026-13-01",
            "yesterday",
            "2026-1-1",
            "2026-11-25T25:00:00Z",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s}");
        }
    }
}
