//! The one place where a player's id ([`PlayerId`], a `u64` everywhere
//! else) meets SQLite's signed `INTEGER` row ids: [`SqlId`] converts both
//! ways, checked. Row ids are positive `AUTOINCREMENT` values, so a zero or
//! negative id read back means a corrupt database ([`InvalidId::NotPositive`]),
//! and an id beyond `i64::MAX` cannot name a row ([`InvalidId::TooLarge`]):
//! both surface as [`StoreError::InvalidId`](super::StoreError::InvalidId),
//! never as a silent wrap.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::game::PlayerId;

/// A [`PlayerId`] as SQLite reads and writes it (`accounts.id` and the
/// columns that reference it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SqlId(pub PlayerId);

/// A player id that cannot be a row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    /// Read from the database, yet not a positive row id.
    #[error("player id {0} in the database is not a positive row id (corrupt database?)")]
    NotPositive(i64),
    /// Given by a caller, beyond SQLite's largest row id.
    #[error("player id {0} is beyond the largest database row id")]
    TooLarge(PlayerId),
}

impl ToSql for SqlId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        i64::try_from(self.0).map(ToSqlOutput::from).map_err(|_| {
            rusqlite::Error::ToSqlConversionFailure(Box::new(InvalidId::TooLarge(self.0)))
        })
    }
}

impl FromSql for SqlId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let raw = i64::column_result(value)?;
        row_id(raw)
            .map(SqlId)
            .map_err(|invalid| FromSqlError::Other(Box::new(invalid)))
    }
}

/// The player id of row id `raw` (as `last_insert_rowid` or a column gives it).
pub(crate) fn row_id(raw: i64) -> Result<PlayerId, InvalidId> {
    match PlayerId::try_from(raw) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(InvalidId::NotPositive(raw)),
    }
}

/// The [`InvalidId`] behind a rusqlite conversion error, if that is what it is.
pub(crate) fn invalid_id(err: &rusqlite::Error) -> Option<InvalidId> {
    let source: &(dyn std::error::Error + Send + Sync + 'static) = match err {
        rusqlite::Error::FromSqlConversionFailure(_, _, source) => source.as_ref(),
        rusqlite::Error::ToSqlConversionFailure(source) => source.as_ref(),
        _ => return None,
    };
    source.downcast_ref::<InvalidId>().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// `i64::MAX`, the largest row id.
    const LARGEST: PlayerId = 0x7fff_ffff_ffff_ffff;

    fn read(conn: &Connection, raw: i64) -> rusqlite::Result<SqlId> {
        conn.query_row("SELECT ?1", [raw], |row| row.get(0))
    }

    #[test]
    fn positive_ids_round_trip() {
        let conn = Connection::open_in_memory().unwrap();
        for id in [1, 42, LARGEST] {
            let back: SqlId = conn
                .query_row("SELECT ?1", [SqlId(id)], |row| row.get(0))
                .unwrap();
            assert_eq!(back, SqlId(id));
        }
    }

    #[test]
    fn zero_and_negative_ids_read_back_are_invalid() {
        let conn = Connection::open_in_memory().unwrap();
        for raw in [0, -1, i64::MIN] {
            let err = read(&conn, raw).unwrap_err();
            assert_eq!(invalid_id(&err), Some(InvalidId::NotPositive(raw)), "{raw}");
        }
    }

    #[test]
    fn ids_beyond_i64_cannot_be_written() {
        let conn = Connection::open_in_memory().unwrap();
        let too_large = LARGEST + 1;
        let err = conn
            .query_row("SELECT ?1", [SqlId(too_large)], |row| row.get::<_, i64>(0))
            .unwrap_err();
        assert_eq!(invalid_id(&err), Some(InvalidId::TooLarge(too_large)));
    }
}
