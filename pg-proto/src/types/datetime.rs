//! `date`, `time`, `timestamp`, `timestamptz` and `interval`.
//!
//! PostgreSQL counts from 2000-01-01 (its epoch), in days for `date` and microseconds for
//! timestamps. `date` and the timestamps have `-infinity`/`infinity`, sent as the minimum and
//! maximum of their integer. Calendar conversions use the proleptic Gregorian calendar with
//! astronomical years (year 0 is 1 BC) and floor division, so values before 2000 (negative
//! counts) convert correctly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

use super::oid::{DATE, INTERVAL, TIME, TIMESTAMP, TIMESTAMPTZ};
use super::{fixed, FromSql, IsNull, ToSql, Type, TypeError};
use crate::to_sql_checked;

/// Days from 1970-01-01 to 2000-01-01.
const EPOCH_DAYS_FROM_UNIX: i64 = 10_957;
pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;
pub(crate) const EPOCH_MICROS_FROM_UNIX: i64 = EPOCH_DAYS_FROM_UNIX * MICROS_PER_DAY;

/// Julian day number of 2000-01-01 (`POSTGRES_EPOCH_JDATE`).
pub(crate) const EPOCH_JULIAN_DAY: i64 = 2_451_545;
/// The first valid `date` (4714-11-24 BC, Julian day 0) in days since 2000-01-01.
const MIN_DATE: i64 = -EPOCH_JULIAN_DAY;
/// One past the last valid `date` (5874898-01-01), in days since 2000-01-01.
const END_DATE: i64 = 2_147_483_494 - EPOCH_JULIAN_DAY;
/// The first valid timestamp (4714-11-24 00:00 BC) in microseconds since 2000-01-01.
const MIN_TIMESTAMP: i64 = MIN_DATE * MICROS_PER_DAY;
/// One past the last valid timestamp (294277-01-01 00:00), in microseconds since 2000-01-01.
const END_TIMESTAMP: i64 = 9_223_371_331_200_000_000;

/// Writes a finite `date` (days since 2000-01-01), checked against PostgreSQL's range.
#[cfg_attr(not(any(feature = "chrono", feature = "time")), allow(dead_code))]
pub(crate) fn put_date_days(days: i64, out: &mut BytesMut) -> Result<IsNull, TypeError> {
    if !(MIN_DATE..END_DATE).contains(&days) {
        return Err(TypeError::OutOfRange("date"));
    }
    out.put_i32(i32::try_from(days).map_err(|_| TypeError::OutOfRange("date"))?);
    Ok(IsNull::No)
}

/// Reads a finite `date` (days since 2000-01-01); an infinity is [`TypeError::NotFinite`].
#[cfg_attr(not(any(feature = "chrono", feature = "time")), allow(dead_code))]
pub(crate) fn get_date_days(raw: &[u8], rust: &'static str) -> Result<i64, TypeError> {
    match i32::from_be_bytes(fixed(raw, "date")?) {
        i32::MIN => Err(not_finite("date", "-infinity", rust)),
        i32::MAX => Err(not_finite("date", "infinity", rust)),
        d => Ok(i64::from(d)),
    }
}

/// Writes a `time` (microseconds since midnight, `0..=24:00:00`).
#[cfg_attr(not(any(feature = "chrono", feature = "time")), allow(dead_code))]
pub(crate) fn put_time_micros(micros: i64, out: &mut BytesMut) -> Result<IsNull, TypeError> {
    if !(0..=MICROS_PER_DAY).contains(&micros) {
        return Err(TypeError::OutOfRange("time"));
    }
    out.put_i64(micros);
    Ok(IsNull::No)
}

/// Reads a `time` (microseconds since midnight).
#[cfg_attr(not(any(feature = "chrono", feature = "time")), allow(dead_code))]
pub(crate) fn get_time_micros(raw: &[u8]) -> Result<i64, TypeError> {
    let v = i64::from_be_bytes(fixed(raw, "time")?);
    if !(0..=MICROS_PER_DAY).contains(&v) {
        return Err(TypeError::OutOfRange("time"));
    }
    Ok(v)
}

/// Writes a finite `timestamp`/`timestamptz` (microseconds since 2000-01-01 00:00 UTC),
/// checked against PostgreSQL's range.
#[cfg_attr(not(any(feature = "chrono", feature = "time")), allow(dead_code))]
pub(crate) fn put_timestamp_micros(
    micros: i64,
    what: &'static str,
    out: &mut BytesMut,
) -> Result<IsNull, TypeError> {
    if !(MIN_TIMESTAMP..END_TIMESTAMP).contains(&micros) {
        return Err(TypeError::OutOfRange(what));
    }
    out.put_i64(micros);
    Ok(IsNull::No)
}

/// Reads a finite `timestamp`/`timestamptz`; an infinity is [`TypeError::NotFinite`].
#[cfg_attr(not(any(feature = "chrono", feature = "time")), allow(dead_code))]
pub(crate) fn get_timestamp_micros(
    raw: &[u8],
    what: &'static str,
    rust: &'static str,
) -> Result<i64, TypeError> {
    match i64::from_be_bytes(fixed(raw, what)?) {
        i64::MIN => Err(not_finite(what, "-infinity", rust)),
        i64::MAX => Err(not_finite(what, "infinity", rust)),
        m => Ok(m),
    }
}

pub(crate) fn not_finite(what: &'static str, value: &'static str, rust: &'static str) -> TypeError {
    TypeError::NotFinite { what, value, rust }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // In range by construction: 1..=31 and 1..=12.
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 2000-01-01, if the date is valid.
fn pg_days(year: i32, month: u32, day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day) - EPOCH_DAYS_FROM_UNIX;
    // Reject 02-30 and the like: the date must round-trip.
    let (y, m, d) = civil_from_days(days + EPOCH_DAYS_FROM_UNIX);
    (y == i64::from(year) && m == month && d == day).then_some(days)
}

/// A `date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Date {
    /// `-infinity`.
    NegInfinity,
    /// Days since 2000-01-01 (negative before). `i32::MIN`/`i32::MAX` are reserved for the
    /// infinities and cannot be sent.
    Days(i32),
    /// `infinity`.
    PosInfinity,
}

impl Date {
    /// The date `year-month-day`, or `None` if invalid or out of range.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        let days = i32::try_from(pg_days(year, month, day)?).ok()?;
        (days != i32::MIN && days != i32::MAX).then_some(Date::Days(days))
    }

    /// `(year, month, day)`, or `None` for an infinity.
    pub fn to_ymd(self) -> Option<(i32, u32, u32)> {
        let Date::Days(days) = self else { return None };
        let (y, m, d) = civil_from_days(i64::from(days) + EPOCH_DAYS_FROM_UNIX);
        Some((i32::try_from(y).ok()?, m, d))
    }
}

impl ToSql for Date {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        let v = match *self {
            Date::NegInfinity => i32::MIN,
            Date::PosInfinity => i32::MAX,
            Date::Days(d) if d == i32::MIN || d == i32::MAX => {
                return Err(TypeError::OutOfRange("date"))
            }
            Date::Days(d) => d,
        };
        out.put_i32(v);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == DATE
    }
    to_sql_checked!();
}

impl FromSql<'_> for Date {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        Ok(match i32::from_be_bytes(fixed(raw, "date")?) {
            i32::MIN => Date::NegInfinity,
            i32::MAX => Date::PosInfinity,
            d => Date::Days(d),
        })
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == DATE
    }
}

/// A `time` (without time zone): microseconds since midnight, `0..=86_400_000_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Time(pub i64);

impl Time {
    /// `hour:minute:second.micro`, or `None` if out of range (24:00:00 is allowed).
    pub fn from_hms_micro(hour: u32, minute: u32, second: u32, micro: u32) -> Option<Time> {
        if minute > 59 || second > 59 || micro > 999_999 {
            return None;
        }
        let v = ((i64::from(hour) * 60 + i64::from(minute)) * 60 + i64::from(second)) * 1_000_000
            + i64::from(micro);
        (v <= MICROS_PER_DAY).then_some(Time(v))
    }
}

impl ToSql for Time {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        if !(0..=MICROS_PER_DAY).contains(&self.0) {
            return Err(TypeError::OutOfRange("time"));
        }
        out.put_i64(self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIME
    }
    to_sql_checked!();
}

impl FromSql<'_> for Time {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let v = i64::from_be_bytes(fixed(raw, "time")?);
        if !(0..=MICROS_PER_DAY).contains(&v) {
            return Err(TypeError::OutOfRange("time"));
        }
        Ok(Time(v))
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == TIME
    }
}

/// A broken-down date and time (proleptic Gregorian, astronomical years).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTimeParts {
    /// Year (0 is 1 BC).
    pub year: i32,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=59.
    pub second: u32,
    /// 0..=999_999.
    pub microsecond: u32,
}

macro_rules! timestamp {
    ($name:ident, $oid:expr, $what:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            /// `-infinity`.
            NegInfinity,
            /// Microseconds since 2000-01-01 00:00:00 (negative before). `i64::MIN`/`i64::MAX`
            /// are reserved for the infinities and cannot be sent.
            Micros(i64),
            /// `infinity`.
            PosInfinity,
        }

        impl $name {
            /// From microseconds since 1970-01-01 00:00:00, or `None` on overflow.
            pub fn from_unix_micros(micros: i64) -> Option<$name> {
                micros
                    .checked_sub(EPOCH_MICROS_FROM_UNIX)
                    .map($name::Micros)
            }

            /// Microseconds since 1970-01-01 00:00:00, or `None` for an infinity or overflow.
            pub fn to_unix_micros(self) -> Option<i64> {
                match self {
                    $name::Micros(m) => m.checked_add(EPOCH_MICROS_FROM_UNIX),
                    _ => None,
                }
            }

            /// From calendar parts, or `None` if invalid or out of range.
            pub fn from_parts(p: DateTimeParts) -> Option<$name> {
                let days = pg_days(p.year, p.month, p.day)?;
                let time = Time::from_hms_micro(p.hour, p.minute, p.second, p.microsecond)?;
                if p.hour > 23 {
                    return None;
                }
                days.checked_mul(MICROS_PER_DAY)?
                    .checked_add(time.0)
                    .map($name::Micros)
            }

            /// Calendar parts, or `None` for an infinity.
            pub fn to_parts(self) -> Option<DateTimeParts> {
                let $name::Micros(m) = self else { return None };
                let days = m.div_euclid(MICROS_PER_DAY);
                let rem = m.rem_euclid(MICROS_PER_DAY);
                let (y, month, day) = civil_from_days(days + EPOCH_DAYS_FROM_UNIX);
                let secs = rem / 1_000_000;
                Some(DateTimeParts {
                    year: i32::try_from(y).ok()?,
                    month,
                    day,
                    hour: u32::try_from(secs / 3600).ok()?,
                    minute: u32::try_from(secs / 60 % 60).ok()?,
                    second: u32::try_from(secs % 60).ok()?,
                    microsecond: u32::try_from(rem % 1_000_000).ok()?,
                })
            }
        }

        impl ToSql for $name {
            fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
                let v = match *self {
                    $name::NegInfinity => i64::MIN,
                    $name::PosInfinity => i64::MAX,
                    $name::Micros(m) if m == i64::MIN || m == i64::MAX => {
                        return Err(TypeError::OutOfRange($what))
                    }
                    $name::Micros(m) => m,
                };
                out.put_i64(v);
                Ok(IsNull::No)
            }
            fn accepts(ty: &Type) -> bool {
                ty.oid() == $oid
            }
            to_sql_checked!();
        }

        impl FromSql<'_> for $name {
            fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
                Ok(match i64::from_be_bytes(fixed(raw, $what)?) {
                    i64::MIN => $name::NegInfinity,
                    i64::MAX => $name::PosInfinity,
                    m => $name::Micros(m),
                })
            }
            fn accepts(ty: &Type) -> bool {
                ty.oid() == $oid
            }
        }
    };
}

timestamp!(
    Timestamp,
    TIMESTAMP,
    "timestamp",
    "A `timestamp` (without time zone)."
);
timestamp!(
    TimestampTz,
    TIMESTAMPTZ,
    "timestamptz",
    "A `timestamptz`: an instant, sent and received in UTC."
);

impl TimestampTz {
    /// From a `SystemTime`, or `None` if out of range.
    pub fn from_system_time(t: SystemTime) -> Option<TimestampTz> {
        let micros = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).ok()?,
            Err(e) => {
                let d = e.duration();
                // Floor to whole microseconds before the epoch.
                let m = i64::try_from(d.as_micros()).ok()?;
                let extra = i64::from(d.subsec_nanos() % 1000 != 0);
                m.checked_add(extra)?.checked_neg()?
            }
        };
        TimestampTz::from_unix_micros(micros)
    }

    /// To a `SystemTime`, or `None` for an infinity or out of range.
    pub fn to_system_time(self) -> Option<SystemTime> {
        let m = self.to_unix_micros()?;
        let d = Duration::from_micros(m.unsigned_abs());
        if m >= 0 {
            UNIX_EPOCH.checked_add(d)
        } else {
            UNIX_EPOCH.checked_sub(d)
        }
    }
}

/// An `interval`: months, days and microseconds, kept separate as PostgreSQL does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interval {
    /// Months.
    pub months: i32,
    /// Days.
    pub days: i32,
    /// Microseconds.
    pub microseconds: i64,
}

impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, TypeError> {
        out.put_i64(self.microseconds);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == INTERVAL
    }
    to_sql_checked!();
}

impl FromSql<'_> for Interval {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, TypeError> {
        let b: [u8; 16] = fixed(raw, "interval")?;
        let mut micros = [0u8; 8];
        micros.copy_from_slice(&b[..8]);
        Ok(Interval {
            microseconds: i64::from_be_bytes(micros),
            days: i32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            months: i32::from_be_bytes([b[12], b[13], b[14], b[15]]),
        })
    }
    fn accepts(ty: &Type) -> bool {
        ty.oid() == INTERVAL
    }
}
