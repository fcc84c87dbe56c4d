//! chrono (feature `chrono`): `NaiveDate` ↔ `date`, `NaiveTime` ↔ `time`, `NaiveDateTime` ↔
//! `timestamp`, `DateTime<Utc>`, `DateTime<FixedOffset>` and `DateTime<Local>` ↔ `timestamptz`.
//!
//! Sub-microsecond nanoseconds are dropped (floored: the microsecond at or before the
//! value, also before 2000). A value outside PostgreSQL's range (before 4714-11-24 BC) is
//! [`TypeError::OutOfRange`] before anything is sent, as is a PostgreSQL value beyond chrono's
//! (past year 262142) or `24:00:00` when read. chrono has no infinities: reading `infinity` or
//! `-infinity` is [`TypeError::NotFinite`] (the bundled [`super::Date`], [`super::Timestamp`]
//! and [`super::TimestampTz`] hold them). A leap second carries into the next second, so
//! `23:59:60.5` as a `time` is past `24:00:00` and refused.

use bytes::BytesMut;
use chrono::{
    DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};

use super::datetime::{
    get_date_days, get_time_micros, get_timestamp_micros, put_date_days, put_time_micros,
    put_timestamp_micros, EPOCH_MICROS_FROM_UNIX,
};
use super::oid::{DATE, TIME, TIMESTAMP, TIMESTAMPTZ};
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// 2000-01-01, PostgreSQL's epoch.
fn pg_epoch() -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(2000, 1, 1)
}

/// Microseconds since 2000-01-01 00:00 of a naive (or UTC) date-time, floored.
fn micros_since_epoch(dt: &NaiveDateTime) -> Option<i64> {
    let utc = dt.and_utc();
    let unix = utc
        .timestamp()
        .checked_mul(1_000_000)?
        .checked_add(i64::from(utc.timestamp_subsec_micros()))?;
    unix.checked_sub(EPOCH_MICROS_FROM_UNIX)
}

/// The naive date-time `micros` microseconds after 2000-01-01 00:00.
fn from_micros(micros: i64, what: &'static str) -> Result<NaiveDateTime, TypeError> {
    micros
        .checked_add(EPOCH_MICROS_FROM_UNIX)
        .and_then(DateTime::from_timestamp_micros)
        .map(|d| d.naive_utc())
        .ok_or(TypeError::OutOfRange(what))
}

impl ToSql for NaiveDate {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let epoch = pg_epoch().ok_or(TypeError::OutOfRange("date"))?;
        put_date_days(self.signed_duration_since(epoch).num_days(), out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == DATE
    }
    to_sql_checked!();
}

impl FromSql<'_> for NaiveDate {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let days = get_date_days(raw, "chrono::NaiveDate")?;
        pg_epoch()
            .and_then(|e| e.checked_add_signed(chrono::TimeDelta::try_days(days)?))
            .ok_or(TypeError::OutOfRange("date"))
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == DATE
    }
}

impl ToSql for NaiveTime {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        // A leap second's nanoseconds are 1_000_000_000 and up: they carry past :59.
        let micros = i64::from(self.num_seconds_from_midnight()) * 1_000_000
            + i64::from(self.nanosecond() / 1_000);
        put_time_micros(micros, out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIME
    }
    to_sql_checked!();
}

impl FromSql<'_> for NaiveTime {
    /// `24:00:00` has no `NaiveTime`: [`TypeError::OutOfRange`].
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let micros = get_time_micros(raw)?;
        let secs = u32::try_from(micros / 1_000_000).map_err(|_| TypeError::OutOfRange("time"))?;
        let nanos =
            u32::try_from(micros % 1_000_000 * 1_000).map_err(|_| TypeError::OutOfRange("time"))?;
        NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
            .filter(|_| secs < 86_400)
            .ok_or(TypeError::OutOfRange("time"))
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIME
    }
}

impl ToSql for NaiveDateTime {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let micros = micros_since_epoch(self).ok_or(TypeError::OutOfRange("timestamp"))?;
        put_timestamp_micros(micros, "timestamp", out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMP
    }
    to_sql_checked!();
}

impl FromSql<'_> for NaiveDateTime {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let micros = get_timestamp_micros(raw, "timestamp", "chrono::NaiveDateTime")?;
        from_micros(micros, "timestamp")
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMP
    }
}

impl<Tz: TimeZone> ToSql for DateTime<Tz> {
    /// Sent as the instant (in UTC); the offset is not stored by PostgreSQL.
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let micros =
            micros_since_epoch(&self.naive_utc()).ok_or(TypeError::OutOfRange("timestamptz"))?;
        put_timestamp_micros(micros, "timestamptz", out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMPTZ
    }
    to_sql_checked!();
}

fn utc_from_sql(raw: &[u8], rust: &'static str) -> Result<DateTime<Utc>, TypeError> {
    let micros = get_timestamp_micros(raw, "timestamptz", rust)?;
    from_micros(micros, "timestamptz").map(|n| n.and_utc())
}

impl FromSql<'_> for DateTime<Utc> {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        utc_from_sql(raw, "chrono::DateTime<Utc>")
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMPTZ
    }
}

impl FromSql<'_> for DateTime<FixedOffset> {
    /// The instant with offset `+00:00` (the wire format carries no offset).
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        utc_from_sql(raw, "chrono::DateTime<FixedOffset>").map(|d| d.fixed_offset())
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMPTZ
    }
}

impl FromSql<'_> for DateTime<Local> {
    /// The instant in the process's local time zone.
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        utc_from_sql(raw, "chrono::DateTime<Local>").map(|d| d.with_timezone(&Local))
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMPTZ
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::ty::{DATE, TIME, TIMESTAMP, TIMESTAMPTZ};
    use super::super::tests_support::{dec, enc, enc_err, rt};
    use super::super::{Date, Timestamp, TimestampTz};
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn dt(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> NaiveDateTime {
        date(y, mo, d).and_hms_micro_opt(h, mi, s, us).unwrap()
    }

    #[test]
    fn dates() {
        assert_eq!(enc(&date(2000, 1, 1), DATE), 0i32.to_be_bytes());
        assert_eq!(enc(&date(1999, 12, 31), DATE), (-1i32).to_be_bytes());
        assert_eq!(enc(&date(1970, 1, 1), DATE), (-10_957i32).to_be_bytes());
        for d in [
            date(2000, 1, 1),
            date(1970, 1, 1),
            date(1, 1, 1),
            date(0, 2, 29),
            date(-4713, 11, 24), // PostgreSQL's first date
            date(2024, 2, 29),
            NaiveDate::MAX,
        ] {
            assert_eq!(rt(d, DATE), d, "{d}");
            // Same bytes as the bundled type.
            let (y, m, dd) = (
                chrono::Datelike::year(&d),
                chrono::Datelike::month(&d),
                chrono::Datelike::day(&d),
            );
            assert_eq!(enc(&d, DATE), enc(&Date::from_ymd(y, m, dd).unwrap(), DATE));
        }
        // Before 4714-11-24 BC: refused here, not by the server.
        assert_eq!(
            enc_err(&date(-4713, 11, 23), DATE),
            TypeError::OutOfRange("date")
        );
        assert_eq!(
            enc_err(&NaiveDate::MIN, DATE),
            TypeError::OutOfRange("date")
        );
        // Infinities cannot be read into a NaiveDate.
        for (v, name) in [(i32::MAX, "infinity"), (i32::MIN, "-infinity")] {
            assert_eq!(
                dec::<NaiveDate>(DATE, &v.to_be_bytes()),
                Err(TypeError::NotFinite {
                    what: "date",
                    value: name,
                    rust: "chrono::NaiveDate"
                })
            );
        }
        // A PostgreSQL date beyond chrono's range.
        assert_eq!(
            dec::<NaiveDate>(DATE, &2_000_000_000i32.to_be_bytes()),
            Err(TypeError::OutOfRange("date"))
        );
        assert!(matches!(
            dec::<NaiveDate>(DATE, &[0, 0, 0]),
            Err(TypeError::InvalidLength { .. })
        ));
    }

    #[test]
    fn times() {
        let t = NaiveTime::from_hms_micro_opt(13, 14, 15, 123_456).unwrap();
        assert_eq!(enc(&t, TIME), 47_655_123_456i64.to_be_bytes());
        for t in [
            NaiveTime::MIN,
            t,
            NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap(),
        ] {
            assert_eq!(rt(t, TIME), t);
        }
        // Nanoseconds are truncated to microseconds.
        let nanos = NaiveTime::from_hms_nano_opt(1, 2, 3, 4_005_006).unwrap();
        assert_eq!(
            rt(nanos, TIME),
            NaiveTime::from_hms_micro_opt(1, 2, 3, 4_005).unwrap()
        );
        // 24:00:00 is a PostgreSQL time but not a NaiveTime.
        assert_eq!(
            dec::<NaiveTime>(TIME, &86_400_000_000i64.to_be_bytes()),
            Err(TypeError::OutOfRange("time"))
        );
        assert_eq!(
            dec::<NaiveTime>(TIME, &(-1i64).to_be_bytes()),
            Err(TypeError::OutOfRange("time"))
        );
        // A leap second at the end of the day would be past 24:00:00.
        let leap = NaiveTime::from_hms_milli_opt(23, 59, 59, 1_500).unwrap();
        assert_eq!(enc_err(&leap, TIME), TypeError::OutOfRange("time"));
    }

    #[test]
    fn timestamps() {
        let epoch = dt(2000, 1, 1, 0, 0, 0, 0);
        assert_eq!(enc(&epoch, TIMESTAMP), 0i64.to_be_bytes());
        assert_eq!(
            enc(&dt(1999, 12, 31, 23, 59, 59, 999_999), TIMESTAMP),
            (-1i64).to_be_bytes()
        );
        assert_eq!(
            enc(&dt(2000, 1, 2, 0, 0, 1, 5), TIMESTAMP),
            86_401_000_005i64.to_be_bytes()
        );
        for v in [
            epoch,
            dt(1970, 1, 1, 0, 0, 0, 0),
            dt(1, 1, 1, 0, 0, 0, 1),
            dt(-4713, 11, 24, 0, 0, 0, 0),
            dt(-1, 3, 1, 12, 30, 0, 999_999),
            dt(9999, 12, 31, 23, 59, 59, 999_999),
            dt(262_142, 12, 31, 23, 59, 59, 999_999),
        ] {
            assert_eq!(rt(v, TIMESTAMP), v, "{v}");
            let p = Timestamp::from_parts(super::super::DateTimeParts {
                year: chrono::Datelike::year(&v),
                month: chrono::Datelike::month(&v),
                day: chrono::Datelike::day(&v),
                hour: v.hour(),
                minute: v.minute(),
                second: v.second(),
                microsecond: v.nanosecond() / 1000,
            })
            .unwrap();
            assert_eq!(enc(&v, TIMESTAMP), enc(&p, TIMESTAMP), "{v}");
        }
        // Negative instants with nanoseconds floor to the microsecond before.
        let n = date(1999, 12, 31)
            .and_hms_nano_opt(23, 59, 59, 999_999_500)
            .unwrap();
        assert_eq!(enc(&n, TIMESTAMP), (-1i64).to_be_bytes());
        assert_eq!(
            enc_err(&dt(-4713, 11, 23, 23, 59, 59, 0), TIMESTAMP),
            TypeError::OutOfRange("timestamp")
        );
        assert_eq!(
            enc_err(&NaiveDateTime::MIN, TIMESTAMP),
            TypeError::OutOfRange("timestamp")
        );
        for (v, name) in [(i64::MAX, "infinity"), (i64::MIN, "-infinity")] {
            assert_eq!(
                dec::<NaiveDateTime>(TIMESTAMP, &v.to_be_bytes()),
                Err(TypeError::NotFinite {
                    what: "timestamp",
                    value: name,
                    rust: "chrono::NaiveDateTime"
                })
            );
        }
        // Valid in PostgreSQL (year 294276) but past chrono's range.
        assert_eq!(
            dec::<NaiveDateTime>(TIMESTAMP, &9_223_371_331_199_999_999i64.to_be_bytes()),
            Err(TypeError::OutOfRange("timestamp"))
        );
        // Wrong OID: a NaiveDateTime is not a timestamptz.
        assert!(matches!(
            dec::<NaiveDateTime>(TIMESTAMPTZ, &0i64.to_be_bytes()),
            Err(TypeError::WrongType { .. })
        ));
    }

    #[test]
    fn timestamptz() {
        let utc = dt(2021, 6, 1, 12, 0, 0, 250).and_utc();
        let bytes = enc(&utc, TIMESTAMPTZ);
        let tz = TimestampTz::from_unix_micros(utc.timestamp_micros()).unwrap();
        assert_eq!(bytes, enc(&tz, TIMESTAMPTZ));
        assert_eq!(rt(utc, TIMESTAMPTZ), utc);

        // A fixed offset is sent as its instant and read back in UTC.
        let off = FixedOffset::east_opt(5 * 3600 + 30 * 60).unwrap();
        let local = off.from_utc_datetime(&utc.naive_utc());
        assert_eq!(enc(&local, TIMESTAMPTZ), bytes);
        let back: DateTime<FixedOffset> = dec(TIMESTAMPTZ, &bytes).unwrap();
        assert_eq!(back, local);
        assert_eq!(back.offset().local_minus_utc(), 0);

        let l: DateTime<Local> = dec(TIMESTAMPTZ, &bytes).unwrap();
        assert_eq!(l, utc);
        assert_eq!(enc(&l, TIMESTAMPTZ), bytes);

        let epoch = dt(2000, 1, 1, 0, 0, 0, 0).and_utc();
        assert_eq!(enc(&epoch, TIMESTAMPTZ), 0i64.to_be_bytes());
        assert_eq!(
            dec::<DateTime<Utc>>(TIMESTAMPTZ, &i64::MAX.to_be_bytes()),
            Err(TypeError::NotFinite {
                what: "timestamptz",
                value: "infinity",
                rust: "chrono::DateTime<Utc>"
            })
        );
        assert!(matches!(
            dec::<DateTime<Utc>>(TIMESTAMP, &0i64.to_be_bytes()),
            Err(TypeError::WrongType { .. })
        ));
    }

    #[test]
    fn arrays_and_options() {
        let v = vec![date(2000, 1, 1), date(1900, 6, 15)];
        assert_eq!(
            rt(v.clone(), super::super::tests_support::ty::DATE_ARRAY),
            v
        );
        let o: Option<NaiveDate> = None;
        assert_eq!(
            Option::<NaiveDate>::from_sql_nullable(DATE, None).unwrap(),
            o
        );
    }

    proptest::proptest! {
        /// Any PostgreSQL timestamp chrono can hold: same bytes back, same calendar as the
        /// bundled type.
        #[test]
        fn any_timestamp(micros in -211_813_488_000_000_000i64..8_000_000_000_000_000_000) {
            let bytes = micros.to_be_bytes();
            let v: NaiveDateTime = dec(TIMESTAMP, &bytes).unwrap();
            proptest::prop_assert_eq!(enc(&v, TIMESTAMP), bytes);
            let p = Timestamp::Micros(micros).to_parts().unwrap();
            proptest::prop_assert_eq!(
                (chrono::Datelike::year(&v), chrono::Datelike::month(&v), chrono::Datelike::day(&v)),
                (p.year, p.month, p.day)
            );
            proptest::prop_assert_eq!(
                (v.hour(), v.minute(), v.second(), v.nanosecond() / 1000),
                (p.hour, p.minute, p.second, p.microsecond)
            );
            let tz: DateTime<Utc> = dec(TIMESTAMPTZ, &bytes).unwrap();
            proptest::prop_assert_eq!(tz.naive_utc(), v);
        }

        #[test]
        fn any_date(days in -2_451_545i32..90_000_000) {
            let bytes = days.to_be_bytes();
            let v: NaiveDate = dec(DATE, &bytes).unwrap();
            proptest::prop_assert_eq!(enc(&v, DATE), bytes);
            let (y, m, d) = Date::Days(days).to_ymd().unwrap();
            proptest::prop_assert_eq!(
                (chrono::Datelike::year(&v), chrono::Datelike::month(&v), chrono::Datelike::day(&v)),
                (y, m, d)
            );
        }
    }
}
