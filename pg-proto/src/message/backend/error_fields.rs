//! The fields of ErrorResponse (`E`) and NoticeResponse (`N`).

use super::reader::Reader;
use crate::error::Error;
use crate::sqlstate::SqlState;

/// Every field of an ErrorResponse or NoticeResponse.
///
/// Strings are decoded lossily (invalid UTF-8 becomes U+FFFD): an error message must never
/// turn into a second, protocol-level error. Unknown field types are ignored, as the protocol
/// asks of clients.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ErrorFields {
    /// `S`: severity, possibly localized (`ERROR`, `FATAL`, `PANIC`, `WARNING`, `NOTICE`, …).
    /// Falls back to `V` when `S` is absent.
    pub severity: String,
    /// `V`: severity, never localized (PostgreSQL 9.6+).
    pub severity_nonlocalized: Option<String>,
    /// `C`: the SQLSTATE code.
    pub code: SqlState,
    /// `M`: the primary message.
    pub message: String,
    /// `D`: detail.
    pub detail: Option<String>,
    /// `H`: hint.
    pub hint: Option<String>,
    /// `P`: 1-based character position in the query string.
    pub position: Option<u32>,
    /// `p`: 1-based character position in an internally generated query.
    pub internal_position: Option<u32>,
    /// `q`: the internally generated query.
    pub internal_query: Option<String>,
    /// `W`: context (call stack).
    pub where_: Option<String>,
    /// `s`: schema name.
    pub schema: Option<String>,
    /// `t`: table name.
    pub table: Option<String>,
    /// `c`: column name.
    pub column: Option<String>,
    /// `d`: data type name.
    pub datatype: Option<String>,
    /// `n`: constraint name.
    pub constraint: Option<String>,
    /// `F`: source file name.
    pub file: Option<String>,
    /// `L`: source line number.
    pub line: Option<u32>,
    /// `R`: source routine name.
    pub routine: Option<String>,
}

impl Default for SqlState {
    fn default() -> Self {
        SqlState::SUCCESSFUL_COMPLETION
    }
}

impl ErrorFields {
    pub(crate) fn parse(mut r: Reader) -> Result<ErrorFields, Error> {
        let mut f = ErrorFields::default();
        let (mut has_s, mut has_c, mut has_m) = (false, false, false);
        loop {
            let kind = r.u8("error field type")?;
            if kind == 0 {
                break;
            }
            let raw = r.cbytes("error field value")?;
            let value = String::from_utf8_lossy(&raw).into_owned();
            let number = |what| value.parse::<u32>().map_err(|_| r.invalid(what));
            match kind {
                b'S' => {
                    has_s = true;
                    f.severity = value;
                }
                b'V' => f.severity_nonlocalized = Some(value),
                b'C' => {
                    has_c = true;
                    f.code = SqlState::from_code(&value).ok_or_else(|| r.invalid("SQLSTATE"))?;
                }
                b'M' => {
                    has_m = true;
                    f.message = value;
                }
                b'D' => f.detail = Some(value),
                b'H' => f.hint = Some(value),
                b'P' => f.position = Some(number("error position")?),
                b'p' => f.internal_position = Some(number("internal position")?),
                b'q' => f.internal_query = Some(value),
                b'W' => f.where_ = Some(value),
                b's' => f.schema = Some(value),
                b't' => f.table = Some(value),
                b'c' => f.column = Some(value),
                b'd' => f.datatype = Some(value),
                b'n' => f.constraint = Some(value),
                b'F' => f.file = Some(value),
                b'L' => f.line = Some(number("error line")?),
                b'R' => f.routine = Some(value),
                _ => {}
            }
        }
        r.finish()?;
        if !has_s {
            f.severity = f
                .severity_nonlocalized
                .clone()
                .ok_or(Error::MissingErrorField('S'))?;
        }
        if !has_c {
            return Err(Error::MissingErrorField('C'));
        }
        if !has_m {
            return Err(Error::MissingErrorField('M'));
        }
        Ok(f)
    }
}
