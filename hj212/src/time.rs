//! Times in packets: `YYYYMMDDhhmmss` (DataTime) and `YYYYMMDDhhmmsszzz`
//! (QN), local time of the monitor — Beijing time, UTC+8, in China.

/// Which of the standard's two time shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// `YYYYMMDDhhmmss`.
    Seconds,
    /// `YYYYMMDDhhmmsszzz`.
    WithMillis,
}

/// Beijing time's offset from UTC, in milliseconds.
pub const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;

/// Why a time field is not a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a time in the form {0}")]
pub struct TimeError(&'static str);

/// Milliseconds since the Unix epoch of a Beijing-time field.
pub fn parse_local_time(text: &str, format: TimeFormat) -> Result<i64, TimeError> {
    let (len, shape) = match format {
        TimeFormat::Seconds => (14, "YYYYMMDDhhmmss"),
        TimeFormat::WithMillis => (17, "YYYYMMDDhhmmsszzz"),
    };
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimeError(shape));
    }
    let number = |from: usize, to: usize| -> i64 {
        text[from..to]
            .bytes()
            .fold(0i64, |sum, digit| sum * 10 + i64::from(digit - b'0'))
    };
    let (year, month, day) = (number(0, 4), number(4, 6), number(6, 8));
    let (hour, minute, second) = (number(8, 10), number(10, 12), number(12, 14));
    let millis = if len == 17 { number(14, 17) } else { 0 };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(TimeError(shape));
    }
    let days = days_from_civil(year, month, day);
    Ok(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis - BEIJING_OFFSET_MS)
}

/// The Beijing-time field for a moment (ms since the Unix epoch).
pub fn format_local_time(at_ms: i64, format: TimeFormat) -> String {
    let local = at_ms + BEIJING_OFFSET_MS;
    let days = local.div_euclid(86_400_000);
    let in_day = local.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (second, millis) = (in_day / 1000 % 60, in_day % 1000);
    match format {
        TimeFormat::Seconds => format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}"),
        TimeFormat::WithMillis => {
            format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}{millis:03}")
        }
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_time_to_utc_and_back() {
        // 2016-08-01 08:58:57.223 in Beijing is 00:58:57.223 UTC.
        let ms = parse_local_time("20160801085857223", TimeFormat::WithMillis).unwrap();
        assert_eq!(ms, 1_470_013_137_223);
        assert_eq!(format_local_time(ms, TimeFormat::WithMillis), "20160801085857223");
        assert_eq!(format_local_time(ms, TimeFormat::Seconds), "20160801085857");
        let leap = parse_local_time("20240229235959", TimeFormat::Seconds).unwrap();
        assert_eq!(format_local_time(leap, TimeFormat::Seconds), "20240229235959");
    }

    #[test]
    fn impossible_times_are_refused() {
        for bad in [
            "20230229000000",
            "20161301000000",
            "20160132000000",
            "20160101240000",
            "2016010100000",
            "2016010100000x",
        ] {
            assert!(parse_local_time(bad, TimeFormat::Seconds).is_err(), "{bad}");
        }
    }
}
