//! Typed condition values: numbers, dates, booleans, base64 binaries and IP
//! ranges. Each parser reads both the policy's operand and the request's
//! value, so the two are always read the same way.

use std::net::IpAddr;

use base64::Engine as _;

/// A finite decimal number (`NumericEquals` and friends).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `true` / `false`, in any letter case (`Bool`, `Null`).
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Standard base64 with padding (`BinaryEquals`).
pub(crate) fn parse_binary(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// An IP address; IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) are read
/// as the IPv4 address they carry.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// An IPv4 or IPv6 range in CIDR notation; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u32,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (a.parse::<IpAddr>().ok()?, p.parse::<u32>().ok()?)
            }
            Some(_) => return None,
            None => {
                let a = s.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Is `ip` inside the range? IPv4 ranges hold only IPv4 addresses
    /// (including IPv4-mapped ones, see [`parse_ip`]), IPv6 ranges only IPv6.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                (u32::from(net) ^ u32::from(a)) & mask == 0
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                (u128::from(net) ^ u128::from(a)) & mask == 0
            }
            _ => false,
        }
    }
}

const NANOS: i128 = 1_000_000_000;

/// A point in time, as nanoseconds since the Unix epoch. Accepted forms:
/// epoch seconds (`1767225600`, `1767225600.5`) and ISO 8601 dates
/// `YYYY-MM-DD`, optionally followed by `THH:MM[:SS[.fraction]]` and a zone
/// (`Z`, `+hh:mm`, `-hhmm`, `+hh`). A time without a zone is UTC.
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    parse_epoch(s).or_else(|| parse_iso8601(s))
}

fn parse_epoch(s: &str) -> Option<i128> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 12 {
        return None;
    }
    if s.contains('.') && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let secs: i128 = whole.parse().ok()?;
    let n = secs * NANOS + fraction_nanos(frac);
    Some(if neg { -n } else { n })
}

/// The first nine digits of a decimal fraction, as nanoseconds.
fn fraction_nanos(digits: &str) -> i128 {
    digits.bytes().chain(std::iter::repeat(b'0')).take(9).fold(0, |n, d| n * 10 + i128::from(d - b'0'))
}

/// A cursor over the bytes of an ISO 8601 string.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let s = self.b.get(self.i..self.i + n)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(s.iter().fold(0, |v, d| v * 10 + i64::from(d - b'0')))
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

fn parse_iso8601(s: &str) -> Option<i128> {
    let mut c = Cursor { b: s.as_bytes(), i: 0 };
    let year = c.digits(4)?;
    c.eat(b'-').then_some(())?;
    let month = c.digits(2)?;
    c.eat(b'-').then_some(())?;
    let day = c.digits(2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (mut secs, mut nanos, mut offset) = (0i64, 0i128, 0i64);
    if c.eat(b'T') || c.eat(b't') || c.eat(b' ') {
        let hour = c.digits(2)?;
        c.eat(b':').then_some(())?;
        let minute = c.digits(2)?;
        let mut second = 0;
        if c.eat(b':') {
            second = c.digits(2)?;
            if c.eat(b'.') || c.eat(b',') {
                let start = c.i;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.i += 1;
                }
                let frac = s.get(start..c.i)?;
                if frac.is_empty() {
                    return None;
                }
                nanos = fraction_nanos(frac);
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        secs = hour * 3600 + minute * 60 + second;
        if !(c.eat(b'Z') || c.eat(b'z')) {
            if let Some(sign @ (b'+' | b'-')) = c.peek() {
                c.i += 1;
                let oh = c.digits(2)?;
                let om = if c.eat(b':') { c.digits(2)? } else { c.digits(2).unwrap_or(0) };
                if oh > 23 || om > 59 {
                    return None;
                }
                offset = (oh * 3600 + om * 60) * if sign == b'-' { -1 } else { 1 };
            }
        }
    }
    if !c.done() {
        return None;
    }
    let total = days_from_civil(year, month, day) * 86_400 + secs - offset;
    Some(i128::from(total) * NANOS + nanos)
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

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_1_2026: i128 = 1_767_225_600 * NANOS;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("2026-01-01T00:00:00Z"), Some(JAN_1_2026));
        assert_eq!(parse_date("2026-01-01"), Some(JAN_1_2026));
        assert_eq!(parse_date("2026-01-01T00:00"), Some(JAN_1_2026));
        assert_eq!(parse_date("1767225600"), Some(JAN_1_2026));
        assert_eq!(parse_date("2026-01-01T01:30:00+01:30"), Some(JAN_1_2026));
        assert_eq!(parse_date("2025-12-31T19:00:00-0500"), Some(JAN_1_2026));
        assert_eq!(parse_date("2025-12-31T22:00:00-02"), Some(JAN_1_2026));
        assert_eq!(parse_date("2026-01-01T00:00:00.25Z"), Some(JAN_1_2026 + NANOS / 4));
        assert_eq!(parse_date("1767225600.000000001"), Some(JAN_1_2026 + 1));
        assert_eq!(parse_date("2024-02-29T12:00:00Z"), Some(1_709_208_000 * NANOS));
        assert_eq!(parse_date("1969-12-31T23:59:59Z"), Some(-NANOS));
        for bad in [
            "",
            "2026",
            "2026-13-01",
            "2025-02-29",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00Zjunk",
            "2026-01-01T00:00:00+25:00",
            "1.",
            "abc",
        ] {
            if bad == "2026" {
                // Bare digits are epoch seconds.
                assert_eq!(parse_date(bad), Some(2026 * NANOS));
                continue;
            }
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cidrs() {
        let ip = |s| parse_ip(s).unwrap();
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains(ip("203.0.113.255")));
        assert!(!c.contains(ip("203.0.114.0")));
        assert!(c.contains(ip("::ffff:203.0.113.9")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        assert!(!Cidr::parse("192.0.2.7").unwrap().contains(ip("192.0.2.8")));
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains(ip("2001:db8:1::5")));
        assert!(!c.contains(ip("2001:db9::")));
        assert!(!c.contains(ip("203.0.113.1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        for bad in ["203.0.113.0/33", "2001:db8::/129", "1.2.3.4/", "1.2.3/8", "x/8", "1.2.3.4/+8"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-1.5e2"), Some(-150.0));
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("no"), None);
        assert_eq!(parse_binary("QUJD"), Some(b"ABC".to_vec()));
        assert_eq!(parse_binary("QUJD!"), None);
    }
}
