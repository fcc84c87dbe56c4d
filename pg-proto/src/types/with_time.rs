//! time (feature `time`): `Date` ↔ `date`, `Time` ↔ `time`, `PrimitiveDateTime` ↔
//! `timestamp`, `OffsetDateTime` ↔ `timestamptz`.
//!
//! Sub-microsecond nanoseconds are dropped (floored). A value outside PostgreSQL's range is
//! [`TypeError::OutOfRange`] before anything is sent, as is a PostgreSQL value beyond the
//! time crate's (±9999 years unless its `large-dates` feature is on) or `24:00:00` when read.
//! `infinity`/`-infinity` read into these types is [`TypeError::NotFinite`] (the bundled
//! [`super::Date`], [`super::Timestamp`] and [`super::TimestampTz`] hold them). An
//! `OffsetDateTime` is sent as its instant and read back with offset UTC.

use bytes::BytesMut;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use super::datetime::{
    get_date_days, get_time_micros, get_timestamp_micros, put_date_days, put_time_micros,
    put_timestamp_micros, EPOCH_JULIAN_DAY, EPOCH_MICROS_FROM_UNIX, MICROS_PER_DAY,
};
use super::oid::{DATE, TIME, TIMESTAMP, TIMESTAMPTZ};
use super::{FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

fn date_from_days(days: i64) -> Result<Date, TypeError> {
    days.checked_add(EPOCH_JULIAN_DAY)
        .and_then(|j| i32::try_from(j).ok())
        .and_then(|j| Date::from_julian_day(j).ok())
        .ok_or(TypeError::OutOfRange("date"))
}

fn time_micros(t: Time) -> i64 {
    let (h, m, s, us) = t.as_hms_micro();
    ((i64::from(h) * 60 + i64::from(m)) * 60 + i64::from(s)) * 1_000_000 + i64::from(us)
}

fn time_from_micros(micros: i64) -> Result<Time, TypeError> {
    let err = TypeError::OutOfRange("time");
    let secs = micros / 1_000_000;
    let h = u8::try_from(secs / 3600).map_err(|_| err.clone())?;
    let m = u8::try_from(secs / 60 % 60).map_err(|_| err.clone())?;
    let s = u8::try_from(secs % 60).map_err(|_| err.clone())?;
    let us = u32::try_from(micros % 1_000_000).map_err(|_| err.clone())?;
    Time::from_hms_micro(h, m, s, us).map_err(|_| err)
}

fn primitive_micros(dt: PrimitiveDateTime) -> Option<i64> {
    let days = i64::from(dt.date().to_julian_day()) - EPOCH_JULIAN_DAY;
    days.checked_mul(MICROS_PER_DAY)?
        .checked_add(time_micros(dt.time()))
}

fn primitive_from_micros(micros: i64, what: &'static str) -> Result<PrimitiveDateTime, TypeError> {
    let date = date_from_days(micros.div_euclid(MICROS_PER_DAY))
        .map_err(|_| TypeError::OutOfRange(what))?;
    let time = time_from_micros(micros.rem_euclid(MICROS_PER_DAY))?;
    Ok(PrimitiveDateTime::new(date, time))
}

impl ToSql for Date {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        put_date_days(i64::from(self.to_julian_day()) - EPOCH_JULIAN_DAY, out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == DATE
    }
    to_sql_checked!();
}

impl FromSql<'_> for Date {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        date_from_days(get_date_days(raw, "time::Date")?)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == DATE
    }
}

impl ToSql for Time {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        put_time_micros(time_micros(*self), out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIME
    }
    to_sql_checked!();
}

impl FromSql<'_> for Time {
    /// `24:00:00` has no `time::Time`: [`TypeError::OutOfRange`].
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        time_from_micros(get_time_micros(raw)?)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIME
    }
}

impl ToSql for PrimitiveDateTime {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let micros = primitive_micros(*self).ok_or(TypeError::OutOfRange("timestamp"))?;
        put_timestamp_micros(micros, "timestamp", out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMP
    }
    to_sql_checked!();
}

impl FromSql<'_> for PrimitiveDateTime {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let micros = get_timestamp_micros(raw, "timestamp", "time::PrimitiveDateTime")?;
        primitive_from_micros(micros, "timestamp")
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMP
    }
}

impl ToSql for OffsetDateTime {
    /// Sent as the instant (in UTC); PostgreSQL does not store the offset.
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let unix = self.unix_timestamp_nanos().div_euclid(1_000);
        let micros = i64::try_from(unix)
            .ok()
            .and_then(|u| u.checked_sub(EPOCH_MICROS_FROM_UNIX))
            .ok_or(TypeError::OutOfRange("timestamptz"))?;
        put_timestamp_micros(micros, "timestamptz", out)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMPTZ
    }
    to_sql_checked!();
}

impl FromSql<'_> for OffsetDateTime {
    /// The instant with offset UTC.
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let micros = get_timestamp_micros(raw, "timestamptz", "time::OffsetDateTime")?;
        primitive_from_micros(micros, "timestamptz").map(PrimitiveDateTime::assume_utc)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIMESTAMPTZ
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::ty::{DATE, TIME, TIMESTAMP, TIMESTAMPTZ};
    use super::super::tests_support::{dec, enc, enc_err, rt};
    use super::super::Timestamp;
    use super::*;
    use time::{Month, UtcOffset};

    fn date(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap()
    }

    fn dt(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) -> PrimitiveDateTime {
        PrimitiveDateTime::new(date(y, mo, d), Time::from_hms_micro(h, mi, s, us).unwrap())
    }

    #[test]
    fn dates() {
        assert_eq!(enc(&date(2000, 1, 1), DATE), 0i32.to_be_bytes());
        assert_eq!(enc(&date(1999, 12, 31), DATE), (-1i32).to_be_bytes());
        assert_eq!(enc(&date(1970, 1, 1), DATE), (-10_957i32).to_be_bytes());
        for d in [
            date(2000, 1, 1),
            date(1, 1, 1),
            date(0, 2, 29),
            date(-4713, 11, 24),
            Date::MAX,
        ] {
            assert_eq!(rt(d, DATE), d, "{d}");
            let bundled =
                super::super::Date::from_ymd(d.year(), u8::from(d.month()).into(), d.day().into())
                    .unwrap();
            assert_eq!(enc(&d, DATE), enc(&bundled, DATE));
        }
        assert_eq!(
            enc_err(&date(-4713, 11, 23), DATE),
            TypeError::OutOfRange("date")
        );
        assert_eq!(enc_err(&Date::MIN, DATE), TypeError::OutOfRange("date"));
        assert_eq!(
            dec::<Date>(DATE, &i32::MIN.to_be_bytes()),
            Err(TypeError::NotFinite {
                what: "date",
                value: "-infinity",
                rust: "time::Date"
            })
        );
        // Year 10000: valid in PostgreSQL, past the time crate's default range.
        assert_eq!(
            dec::<Date>(DATE, &3_000_000i32.to_be_bytes()),
            Err(TypeError::OutOfRange("date"))
        );
    }

    #[test]
    fn times() {
        let t = Time::from_hms_micro(13, 14, 15, 123_456).unwrap();
        assert_eq!(enc(&t, TIME), 47_655_123_456i64.to_be_bytes());
        for t in [
            Time::MIDNIGHT,
            t,
            Time::from_hms_micro(23, 59, 59, 999_999).unwrap(),
        ] {
            assert_eq!(rt(t, TIME), t);
        }
        let nanos = Time::from_hms_nano(1, 2, 3, 4_005_006).unwrap();
        assert_eq!(
            rt(nanos, TIME),
            Time::from_hms_micro(1, 2, 3, 4_005).unwrap()
        );
        assert_eq!(
            dec::<Time>(TIME, &86_400_000_000i64.to_be_bytes()),
            Err(TypeError::OutOfRange("time"))
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            enc(&dt(2000, 1, 1, 0, 0, 0, 0), TIMESTAMP),
            0i64.to_be_bytes()
        );
        assert_eq!(
            enc(&dt(1999, 12, 31, 23, 59, 59, 999_999), TIMESTAMP),
            (-1i64).to_be_bytes()
        );
        for v in [
            dt(2000, 1, 1, 0, 0, 0, 0),
            dt(1970, 1, 1, 0, 0, 0, 0),
            dt(-4713, 11, 24, 0, 0, 0, 0),
            dt(-1, 3, 1, 12, 30, 0, 999_999),
            PrimitiveDateTime::MAX
                .replace_nanosecond(999_999_000)
                .unwrap(),
        ] {
            assert_eq!(rt(v, TIMESTAMP), v, "{v}");
            let p = Timestamp::from_parts(super::super::DateTimeParts {
                year: v.year(),
                month: u8::from(v.month()).into(),
                day: v.day().into(),
                hour: v.hour().into(),
                minute: v.minute().into(),
                second: v.second().into(),
                microsecond: v.microsecond(),
            })
            .unwrap();
            assert_eq!(enc(&v, TIMESTAMP), enc(&p, TIMESTAMP), "{v}");
        }
        assert_eq!(
            enc_err(&PrimitiveDateTime::MIN, TIMESTAMP),
            TypeError::OutOfRange("timestamp")
        );
        assert_eq!(
            dec::<PrimitiveDateTime>(TIMESTAMP, &i64::MAX.to_be_bytes()),
            Err(TypeError::NotFinite {
                what: "timestamp",
                value: "infinity",
                rust: "time::PrimitiveDateTime"
            })
        );
        assert_eq!(
            dec::<PrimitiveDateTime>(TIMESTAMP, &9_000_000_000_000_000_000i64.to_be_bytes()),
            Err(TypeError::OutOfRange("timestamp"))
        );
    }

    #[test]
    fn offset_date_times() {
        let utc = dt(2021, 6, 1, 12, 0, 0, 250).assume_utc();
        let bytes = enc(&utc, TIMESTAMPTZ);
        assert_eq!(bytes, enc(&dt(2021, 6, 1, 12, 0, 0, 250), TIMESTAMP));
        assert_eq!(rt(utc, TIMESTAMPTZ), utc);
        let shifted = utc.to_offset(UtcOffset::from_hms(-7, -30, 0).unwrap());
        assert_eq!(enc(&shifted, TIMESTAMPTZ), bytes);
        let back: OffsetDateTime = dec(TIMESTAMPTZ, &bytes).unwrap();
        assert_eq!(back, shifted);
        assert_eq!(back.offset(), UtcOffset::UTC);
        // Before 2000 with nanoseconds: floored.
        let n = date(1999, 12, 31)
            .with_hms_nano(23, 59, 59, 999_999_500)
            .unwrap()
            .assume_utc();
        assert_eq!(enc(&n, TIMESTAMPTZ), (-1i64).to_be_bytes());
        assert_eq!(
            dec::<OffsetDateTime>(TIMESTAMPTZ, &i64::MIN.to_be_bytes()),
            Err(TypeError::NotFinite {
                what: "timestamptz",
                value: "-infinity",
                rust: "time::OffsetDateTime"
            })
        );
        assert!(matches!(
            dec::<OffsetDateTime>(TIMESTAMP, &bytes),
            Err(TypeError::WrongType { .. })
        ));
    }

    proptest::proptest! {
        /// Any PostgreSQL timestamp the time crate can hold: same bytes back, same calendar
        /// as the bundled type.
        #[test]
        fn any_timestamp(micros in -211_813_488_000_000_000i64..252_000_000_000_000_000) {
            let bytes = micros.to_be_bytes();
            let v: PrimitiveDateTime = dec(TIMESTAMP, &bytes).unwrap();
            proptest::prop_assert_eq!(enc(&v, TIMESTAMP), bytes);
            let p = Timestamp::Micros(micros).to_parts().unwrap();
            proptest::prop_assert_eq!(
                (v.year(), u32::from(u8::from(v.month())), u32::from(v.day())),
                (p.year, p.month, p.day)
            );
            proptest::prop_assert_eq!(
                (u32::from(v.hour()), u32::from(v.minute()), u32::from(v.second()), v.microsecond()),
                (p.hour, p.minute, p.second, p.microsecond)
            );
            let tz: OffsetDateTime = dec(TIMESTAMPTZ, &bytes).unwrap();
            proptest::prop_assert_eq!(enc(&tz, TIMESTAMPTZ), bytes);
        }

        #[test]
        fn any_time(micros in 0i64..86_400_000_000) {
            let bytes = micros.to_be_bytes();
            let v: Time = dec(TIME, &bytes).unwrap();
            proptest::prop_assert_eq!(enc(&v, TIME), bytes);
        }
    }
}
