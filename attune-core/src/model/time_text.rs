//! Times in the records' JSON: RFC 3339 text in UTC.
//!
//! Written exactly as chrono's own `Serialize` for `DateTime<Utc>` writes them
//! (`2026-12-07T22:14:03.123456Z`: the fraction has 0, 3, 6 or 9 digits, as few as the
//! nanoseconds need; `Z` for the offset), but without going through `std::fmt` digit by
//! digit, which was half the cost of serializing an execution. Read with a fast path for
//! that same form; any other text (another offset, a lower-case `t`, a leap second, a
//! year outside 0–9999) goes to chrono's parser, as before, so what is accepted, what it
//! means and the error for bad text are chrono's.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde::{Deserializer, Serializer, de};
use std::fmt;

/// The longest text [`format`] writes: `9999-12-31T23:59:59.999999999Z`.
const MAX_LEN: usize = 30;

/// Writes `t` into `buf` as chrono's `Serialize` does; `None` for a year outside 0–9999
/// (chrono writes those with a sign: left to it).
fn format(t: &DateTime<Utc>, buf: &mut [u8; MAX_LEN]) -> Option<usize> {
    let dt = t.naive_utc();
    let year = dt.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (mut sec, mut nano) = (dt.second(), dt.nanosecond());
    if nano >= 1_000_000_000 {
        // A leap second: chrono writes it as second 60.
        sec += 1;
        nano -= 1_000_000_000;
    }
    let two = |buf: &mut [u8; MAX_LEN], at: usize, v: u32| {
        buf[at] = b'0' + (v / 10) as u8;
        buf[at + 1] = b'0' + (v % 10) as u8;
    };
    two(buf, 0, year as u32 / 100);
    two(buf, 2, year as u32 % 100);
    buf[4] = b'-';
    two(buf, 5, dt.month());
    buf[7] = b'-';
    two(buf, 8, dt.day());
    buf[10] = b'T';
    two(buf, 11, dt.hour());
    buf[13] = b':';
    two(buf, 14, dt.minute());
    buf[16] = b':';
    two(buf, 17, sec);
    let mut len = 19;
    let (digits, mut frac) = if nano == 0 {
        (0, 0)
    } else if nano % 1_000_000 == 0 {
        (3, nano / 1_000_000)
    } else if nano % 1_000 == 0 {
        (6, nano / 1_000)
    } else {
        (9, nano)
    };
    if digits > 0 {
        buf[len] = b'.';
        for i in (0..digits).rev() {
            buf[len + 1 + i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        len += 1 + digits;
    }
    buf[len] = b'Z';
    Some(len + 1)
}

/// Reads the form [`format`] writes (`YYYY-MM-DDTHH:MM:SS[.f…]Z`, 1 to 9 fraction
/// digits); `None` for anything else, valid or not.
fn parse_plain(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > MAX_LEN || b[b.len() - 1] != b'Z' {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<u32> {
        b[from..from + len].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let nano = match b.len() - 20 {
        0 => 0,
        1 => return None,
        n => {
            let digits = n - 1;
            if b[19] != b'.' {
                return None;
            }
            num(20, digits)? * 10u32.pow(9 - digits as u32)
        }
    };
    let date = NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(num(11, 2)?, num(14, 2)?, num(17, 2)?, nano)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// Reads RFC 3339 text as chrono's `Deserialize` for `DateTime<Utc>` does.
pub(crate) fn parse(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_plain(s) {
        Some(t) => Ok(t),
        None => s
            .parse::<DateTime<FixedOffset>>()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// `#[serde(serialize_with)]` for a `DateTime<Utc>`.
pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match format(t, &mut buf) {
        // Only ASCII was written.
        Some(len) => s.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
        None => serde::Serialize::serialize(t, s),
    }
}

/// `#[serde(deserialize_with)]` for a `DateTime<Utc>`.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(TextVisitor)
}

/// Reads a time from a JSON string.
struct TextVisitor;

impl de::Visitor<'_> for TextVisitor {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse(v).map_err(E::custom)
    }
}

/// The same for an `Option<DateTime<Utc>>` (with `#[serde(default)]`: absent is `None`).
pub(crate) mod opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// A time written by [`super::serialize`].
    struct Text<'a>(&'a DateTime<Utc>);

    impl Serialize for Text<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(self.0, s)
        }
    }

    /// A time read by [`super::deserialize`].
    struct Read(DateTime<Utc>);

    impl<'de> Deserialize<'de> for Read {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::deserialize(d).map(Read)
        }
    }

    /// `#[serde(serialize_with)]` for an `Option<DateTime<Utc>>`.
    pub(crate) fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&Text(t)),
            None => s.serialize_none(),
        }
    }

    /// `#[serde(deserialize_with)]` for an `Option<DateTime<Utc>>`.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Read>::deserialize(d)?.map(|r| r.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// What chrono's own serde writes.
    fn chrono_text(t: &DateTime<Utc>) -> String {
        serde_json::to_string(t).unwrap()
    }

    fn ours(t: &DateTime<Utc>) -> String {
        let mut out = Vec::new();
        serialize(t, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn read(json: &str) -> Result<DateTime<Utc>, String> {
        deserialize(&mut serde_json::Deserializer::from_str(json)).map_err(|e| e.to_string())
    }

    fn chrono_read(json: &str) -> Result<DateTime<Utc>, String> {
        serde_json::from_str::<DateTime<Utc>>(json).map_err(|e| e.to_string())
    }

    /// Times across the whole range chrono writes, with fractions of every length.
    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        (
            -1_000_000_000_000i64..300_000_000_000i64,
            prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|m| m * 1_000_000),
                (0u32..1_000_000).prop_map(|u| u * 1000),
                0u32..1_000_000_000,
            ],
        )
            .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn written_as_chrono_writes_and_read_back(t in any_time()) {
            let text = ours(&t);
            prop_assert_eq!(&text, &chrono_text(&t));
            prop_assert_eq!(read(&text), Ok(t));
        }

        #[test]
        fn valid_text_with_any_fraction_read_as_chrono_reads_it(
            t in any_time(),
            digits in 0usize..=12,
            zulu in any::<bool>(),
        ) {
            // What a client may send: 0 to 12 fraction digits, `Z` or `+00:00`.
            let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            let nanos = format!("{:09}", t.timestamp_subsec_nanos());
            let fraction = match digits {
                0 => String::new(),
                d if d <= 9 => format!(".{}", &nanos[..d]),
                d => format!(".{nanos}{}", "7".repeat(d - 9)),
            };
            let text = format!("{base}{fraction}{}", if zulu { "Z" } else { "+00:00" });
            let json = serde_json::to_string(&text).unwrap();
            prop_assert_eq!(read(&json), chrono_read(&json));
        }

        #[test]
        fn arbitrary_text_read_as_chrono_reads_it(s in "\\PC{0,40}") {
            // No panic on any text (multi-byte characters where digits belong included).
            let json = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(read(&json), chrono_read(&json));
        }

        #[test]
        fn any_text_read_as_chrono_reads_it(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?(Z|z|[+-][0-9]{2}:[0-9]{2})?") {
            let json = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(read(&json), chrono_read(&json));
        }
    }

    #[test]
    fn edges_as_chrono() {
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let far = Utc.timestamp_opt(-100_000_000_000, 7).unwrap();
        for t in [
            leap,
            far,
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ] {
            assert_eq!(ours(&t), chrono_text(&t));
            assert_eq!(read(&ours(&t)), Ok(t));
        }
        for text in [
            "\"2026-02-30T00:00:00Z\"",
            "\"2026-12-07T24:00:00Z\"",
            "\"2026-12-07T10:00:00.Z\"",
            "\"2026-12-07T10:00:00\"",
            "\"2026-12-07\"",
            "\"\"",
        ] {
            assert_eq!(read(text), chrono_read(text), "{text}");
            assert!(read(text).is_err(), "{text}");
        }
        // Longer than the fast path reads: chrono's answer, whatever it is.
        let long = "\"2026-12-07T10:00:00.1234567890Z\"";
        assert_eq!(read(long), chrono_read(long));
        assert_eq!(read("12"), chrono_read("12"));
        assert_eq!(
            read("\"2026-12-07T10:00:00+02:00\""),
            Ok(Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap())
        );
    }
}
