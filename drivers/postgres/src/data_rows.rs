//! The rows of one reply as the codec collects them, the first kept inline.

use corelane_pg_proto::message::backend::DataRow;

/// The rows of one reply, in order.
///
/// A single-row result (`query_one`, `SELECT $1`) is the common case on the hot path: its row
/// is kept inline, so collecting it allocates nothing. A second row starts the vector; a large
/// result pays one extra branch per row, nothing more.
#[derive(Debug, Default)]
pub(crate) struct DataRows {
    /// The first row; `None` only while there are no rows at all.
    first: Option<DataRow>,
    /// Every row after the first.
    rest: Vec<DataRow>,
}

impl DataRows {
    /// Appends a row.
    pub(crate) fn push(&mut self, row: DataRow) {
        if self.first.is_none() {
            self.first = Some(row);
        } else {
            self.rest.push(row);
        }
    }

    /// How many rows.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// The only row, if there is at most one; `Err(n)` with the count if there are more.
    pub(crate) fn at_most_one(self) -> Result<Option<DataRow>, usize> {
        match self.len() {
            0 | 1 => Ok(self.first),
            n => Err(n),
        }
    }
}

impl IntoIterator for DataRows {
    type Item = DataRow;
    type IntoIter = std::iter::Chain<std::option::IntoIter<DataRow>, std::vec::IntoIter<DataRow>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use corelane_pg_proto::message::backend::Message;

    fn row(v: i32) -> DataRow {
        let mut b = BytesMut::new();
        b.put_u8(b'D');
        b.put_i32(4 + 2 + 4 + 4);
        b.put_i16(1);
        b.put_i32(4);
        b.put_i32(v);
        match Message::parse(&mut b) {
            Ok(Some(Message::DataRow(r))) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn order_and_counts() {
        let mut rows = DataRows::default();
        assert_eq!(rows.len(), 0);
        assert!(matches!(DataRows::default().at_most_one(), Ok(None)));
        rows.push(row(1));
        assert_eq!(rows.len(), 1);
        let mut one = DataRows::default();
        one.push(row(1));
        assert_eq!(one.at_most_one().ok().flatten(), Some(row(1)));
        for v in 2..=5 {
            rows.push(row(v));
        }
        assert_eq!(rows.len(), 5);
        let got: Vec<DataRow> = rows.into_iter().collect();
        assert_eq!(got, (1..=5).map(row).collect::<Vec<_>>());
        let mut two = DataRows::default();
        two.push(row(1));
        two.push(row(2));
        assert_eq!(two.at_most_one().err(), Some(2));
    }
}
