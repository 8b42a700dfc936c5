//! Civil-time conversions (proleptic Gregorian, UTC) for the formats the
//! wire and the audit log use. Pure arithmetic, no clock.

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The civil date `(year, month, day)` of a day number.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn split(epoch_secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (y, m, d) = civil_from_days(epoch_secs.div_euclid(86400));
    let s = epoch_secs.rem_euclid(86400);
    (y, m, d, s / 3600, s / 60 % 60, s % 60)
}

/// `YYYYMMDDTHHMMSSZ` (SigV4's `x-amz-date`).
pub fn amz_date(epoch_secs: i64) -> String {
    let (y, m, d, hh, mm, ss) = split(epoch_secs);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

/// `YYYY-MM-DDTHH:MM:SSZ` (CloudTrail's `eventTime`).
pub fn rfc3339(epoch_ms: i64) -> String {
    let (y, m, d, hh, mm, ss) = split(epoch_ms.div_euclid(1000));
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(amz_date(1440938160), "20150830T123600Z");
        assert_eq!(rfc3339(1_795_459_255_661), "2026-11-23T18:40:55Z");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        for z in [-1000, 0, 59, 60, 365, 11016, 20000, 100000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
