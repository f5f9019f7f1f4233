//! Statements with owned arguments, run either inside a job on a connection (synchronously) or
//! sent to a [`Worker`] as a job of their own (asynchronously), and rows with owned values.
//!
//! Placeholders are `?NNN` (or `$NNN`, read the same way: the number is the argument's position).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::Value;

use crate::worker::{Worker, WorkerError};

/// A statement and its arguments, owned so that it can be sent to a connection's thread.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    sql: Cow<'static, str>,
    args: Vec<Value>,
    /// Built by [`QueryBuilder`]: its placeholders are `?1` to `?N` in order, one per argument.
    numbered_in_order: bool,
}

/// A statement's failure: from SQLite, or from the worker that should have run it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SqlError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Worker(#[from] WorkerError),
}

/// What a statement that returns no rows did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    rows_affected: u64,
}

impl Done {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

pub(crate) fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
        numbered_in_order: false,
    }
}

impl Query {
    /// Another statement with the same arguments; its numbered placeholders take those it needs.
    pub(crate) fn with_sql(&self, sql: impl Into<Cow<'static, str>>) -> Self {
        Self {
            sql: sql.into(),
            args: self.args.clone(),
            numbered_in_order: false,
        }
    }

    pub(crate) fn bind(mut self, value: impl Arg) -> Self {
        self.args.push(value.into_value());
        self
    }

    /// Runs the statement on `c`.
    pub(crate) fn run(&self, c: &Connection) -> rusqlite::Result<Done> {
        let mut statement = c.prepare_cached(&self.sql)?;
        self.bind_to(&mut statement)?;
        let changed = statement.raw_execute()?;
        Ok(Done {
            rows_affected: u64::try_from(changed).unwrap_or(u64::MAX),
        })
    }

    /// Every row the statement returns.
    pub(crate) fn all(&self, c: &Connection) -> rusqlite::Result<Vec<Row>> {
        self.rows(c, usize::MAX)
    }

    /// The first row, if any.
    pub(crate) fn optional(&self, c: &Connection) -> rusqlite::Result<Option<Row>> {
        Ok(self.rows(c, 1)?.pop())
    }

    /// The first row; none is `QueryReturnedNoRows`.
    pub(crate) fn one(&self, c: &Connection) -> rusqlite::Result<Row> {
        self.optional(c)?
            .ok_or(rusqlite::Error::QueryReturnedNoRows)
    }

    fn rows(&self, c: &Connection, limit: usize) -> rusqlite::Result<Vec<Row>> {
        let mut statement = c.prepare_cached(&self.sql)?;
        let names = match self.bind_to(&mut statement)? {
            Some(shape) => Arc::clone(&shape.names),
            None => column_names(&statement),
        };
        let width = names.len();
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(Value::from(row.get_ref(i)?));
            }
            out.push(Row {
                names: Arc::clone(&names),
                values,
            });
            if out.len() == limit {
                // Step the statement to its end anyway: a RETURNING clause or a write that
                // yields rows is done only when its statement is.
                while rows.next()?.is_some() {}
                break;
            }
        }
        Ok(out)
    }

    pub(crate) async fn execute(self, w: &Worker) -> Result<Done, SqlError> {
        Ok(w.run(move |c| self.run(c)).await??)
    }

    pub(crate) async fn fetch_all(self, w: &Worker) -> Result<Vec<Row>, SqlError> {
        Ok(w.run(move |c| self.all(c)).await??)
    }

    pub(crate) async fn fetch_optional(self, w: &Worker) -> Result<Option<Row>, SqlError> {
        Ok(w.run(move |c| self.optional(c)).await??)
    }

    pub(crate) async fn fetch_one(self, w: &Worker) -> Result<Row, SqlError> {
        Ok(w.run(move |c| self.one(c)).await??)
    }

    /// [`Query::fetch_all`] for an indexed read of a few rows: on the calling thread when a lent
    /// connection is idle ([`Worker::run_now`]).
    pub(crate) async fn fetch_all_now(self, w: &Worker) -> Result<Vec<Row>, SqlError> {
        Ok(w.run_now(move |c| self.all(c)).await??)
    }

    /// [`Query::fetch_optional`] for an indexed read of one row ([`Worker::run_now`]).
    pub(crate) async fn fetch_optional_now(self, w: &Worker) -> Result<Option<Row>, SqlError> {
        Ok(w.run_now(move |c| self.optional(c)).await??)
    }
}

/// The first row of each of `queries`, indexed reads run in one read transaction ([`Worker::run_now`]):
/// one snapshot, and one start of a read instead of one per query (a read that begins after
/// another connection committed re-reads every page it touches).
pub(crate) async fn fetch_optional_together_now(
    w: &Worker,
    queries: Vec<Query>,
) -> Result<Vec<Option<Row>>, SqlError> {
    Ok(w.run_now(move |c| {
        let snapshot = c.unchecked_transaction()?;
        let rows = queries
            .iter()
            .map(|q| q.optional(&snapshot))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        snapshot.commit()?;
        Ok::<_, rusqlite::Error>(rows)
    })
    .await??)
}

impl Query {
    /// Binds the arguments to `statement`; returns its [`Shape`] when that had to be worked out.
    fn bind_to(
        &self,
        statement: &mut rusqlite::Statement<'_>,
    ) -> rusqlite::Result<Option<Rc<Shape>>> {
        if self.numbered_in_order {
            debug_assert_eq!(
                Shape::of(statement).positions,
                (1..=self.args.len()).collect(),
                "a built statement numbers its placeholders in order: {}",
                self.sql
            );
            bind_all(statement, 1..=self.args.len(), &self.args)?;
            return Ok(None);
        }
        let shape = self.shape(statement);
        bind_all(statement, shape.positions.iter().copied(), &self.args)?;
        Ok(Some(shape))
    }

    /// The statement's [`Shape`]: worked out once per thread for a statement whose text is a
    /// `'static` string (nearly all of them; asking SQLite for the names and copying them cost
    /// about a fifth of a point read), every time for one built at run time.
    fn shape(&self, statement: &rusqlite::Statement<'_>) -> Rc<Shape> {
        thread_local! {
            // Keyed by the text's address and length: a `'static` string is never freed, so no
            // other text can ever have the same key.
            static SHAPES: RefCell<HashMap<(usize, usize), Rc<Shape>>> = RefCell::new(HashMap::new());
        }
        let Cow::Borrowed(text) = self.sql else {
            return Rc::new(Shape::of(statement));
        };
        let key = (text.as_ptr() as usize, text.len());
        SHAPES.with_borrow_mut(|shapes| {
            Rc::clone(
                shapes
                    .entry(key)
                    .or_insert_with(|| Rc::new(Shape::of(statement))),
            )
        })
    }
}

/// What a statement's text alone decides: the names of its columns, and which argument each of
/// its placeholders takes.
#[derive(Debug)]
struct Shape {
    names: Arc<[Box<str>]>,
    /// For placeholder `i + 1`, the 1-based position of its argument.
    positions: Box<[usize]>,
}

impl Shape {
    fn of(statement: &rusqlite::Statement<'_>) -> Self {
        let positions = (1..=statement.parameter_count())
            .map(|index| match statement.parameter_name(index) {
                // `?NNN` and `$NNN` name the argument by its position; a bare `?` takes the next.
                Some(name) => name[1..].parse::<usize>().unwrap_or(index),
                None => index,
            })
            .collect();
        Self {
            names: column_names(statement),
            positions,
        }
    }
}

fn column_names(statement: &rusqlite::Statement<'_>) -> Arc<[Box<str>]> {
    statement
        .column_names()
        .into_iter()
        .map(Box::from)
        .collect()
}

/// Binds placeholder `i + 1` to the argument at the `i`-th of `positions` (1-based).
fn bind_all(
    statement: &mut rusqlite::Statement<'_>,
    positions: impl IntoIterator<Item = usize>,
    args: &[Value],
) -> rusqlite::Result<()> {
    statement.clear_bindings();
    for (index, position) in (1..).zip(positions) {
        let value = args
            .get(position.wrapping_sub(1))
            .ok_or(rusqlite::Error::InvalidParameterCount(position, args.len()))?;
        statement.raw_bind_parameter(index, value)?;
    }
    Ok(())
}

/// A value a statement can take as an argument.
pub(crate) trait Arg {
    fn into_value(self) -> Value;
}

impl Arg for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl Arg for String {
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}

impl Arg for &String {
    fn into_value(self) -> Value {
        Value::Text(self.clone())
    }
}

impl Arg for &str {
    fn into_value(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl Arg for Vec<u8> {
    fn into_value(self) -> Value {
        Value::Blob(self)
    }
}

impl Arg for &Vec<u8> {
    fn into_value(self) -> Value {
        Value::Blob(self.clone())
    }
}

impl Arg for &[u8] {
    fn into_value(self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl Arg for i64 {
    fn into_value(self) -> Value {
        Value::Integer(self)
    }
}

impl Arg for i32 {
    fn into_value(self) -> Value {
        Value::Integer(i64::from(self))
    }
}

impl Arg for u32 {
    fn into_value(self) -> Value {
        Value::Integer(i64::from(self))
    }
}

impl Arg for bool {
    fn into_value(self) -> Value {
        Value::Integer(i64::from(self))
    }
}

impl<T: Arg> Arg for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, Arg::into_value)
    }
}

impl<'a, T> Arg for &'a Option<T>
where
    &'a T: Arg,
{
    fn into_value(self) -> Value {
        self.as_ref().map_or(Value::Null, Arg::into_value)
    }
}

/// A row with owned values, looked up by column name.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    names: Arc<[Box<str>]>,
    values: Vec<Value>,
}

impl Row {
    /// The value of column `name`, if the row has one.
    pub(crate) fn value(&self, name: &str) -> Option<&Value> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .and_then(|i| self.values.get(i))
    }
}

/// Builds a statement from pieces, numbering each bound argument.
#[derive(Debug)]
pub(crate) struct QueryBuilder {
    sql: String,
    args: Vec<Value>,
}

impl QueryBuilder {
    pub(crate) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    pub(crate) fn push_bind(&mut self, value: impl Arg) -> &mut Self {
        use std::fmt::Write as _;
        self.args.push(value.into_value());
        // Writing into the string itself: `to_string` would allocate one per argument.
        let _ = write!(self.sql, "?{}", self.args.len());
        self
    }

    /// A list whose items are separated by `separator`.
    pub(crate) fn separated<'b>(&'b mut self, separator: &'static str) -> Separated<'b> {
        Separated {
            builder: self,
            separator,
            first: true,
        }
    }

    /// `VALUES (..), (..)`, one parenthesised tuple per item.
    pub(crate) fn push_values<I, F>(&mut self, items: I, mut each: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_>, I::Item),
    {
        self.sql.push_str("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.sql.push('(');
            each(
                Separated {
                    builder: self,
                    separator: ", ",
                    first: true,
                },
                item,
            );
            self.sql.push(')');
        }
        self
    }

    pub(crate) fn build(self) -> Query {
        Query {
            sql: Cow::Owned(self.sql),
            args: self.args,
            numbered_in_order: true,
        }
    }
}

/// Items of a list, separated as they are pushed.
#[derive(Debug)]
pub(crate) struct Separated<'b> {
    builder: &'b mut QueryBuilder,
    separator: &'static str,
    first: bool,
}

impl Separated<'_> {
    pub(crate) fn push_bind(&mut self, value: impl Arg) -> &mut Self {
        if !self.first {
            self.builder.sql.push_str(self.separator);
        }
        self.first = false;
        self.builder.push_bind(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_take_arguments_by_position() {
        let c = Connection::open_in_memory().unwrap();
        let row = query("SELECT ?2 AS b, ?1 AS a, ?2 AS b2")
            .bind("first")
            .bind(2_i64)
            .one(&c)
            .unwrap();
        assert_eq!(row.value("a"), Some(&Value::Text("first".into())));
        assert_eq!(row.value("b"), Some(&Value::Integer(2)));
        assert_eq!(row.value("b2"), Some(&Value::Integer(2)));
    }

    #[test]
    fn builder_numbers_its_arguments() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (a TEXT, b INTEGER)")
            .unwrap();
        let mut qb = QueryBuilder::new("INSERT INTO t (a, b) ");
        qb.push_values([("x", 1_i64), ("y", 2)], |mut b, (a, n)| {
            b.push_bind(a).push_bind(n);
        });
        assert_eq!(qb.build().run(&c).unwrap().rows_affected(), 2);
        let mut qb = QueryBuilder::new("SELECT a FROM t WHERE b IN (");
        let mut list = qb.separated(", ");
        list.push_bind(2_i64);
        list.push_bind(3_i64);
        qb.push(") ORDER BY a");
        let rows = qb.build().all(&c).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].value("a"), Some(&Value::Text("y".into())));
    }

    #[test]
    fn another_statement_takes_the_arguments_it_names() {
        let c = Connection::open_in_memory().unwrap();
        let both = query("SELECT ?1 AS a, ?3 AS c")
            .bind("a")
            .bind("b")
            .bind("c");
        let row = both.with_sql("SELECT ?3 AS c, ?2 AS b").one(&c).unwrap();
        assert_eq!(row.value("c"), Some(&Value::Text("c".into())));
        assert_eq!(row.value("b"), Some(&Value::Text("b".into())));
        let row = both.one(&c).unwrap();
        assert_eq!(row.value("a"), Some(&Value::Text("a".into())));
    }

    #[test]
    fn a_missing_argument_is_an_error() {
        let c = Connection::open_in_memory().unwrap();
        assert!(query("SELECT ?1, ?2").bind(1_i64).one(&c).is_err());
    }

    #[test]
    fn a_remembered_shape_serves_the_same_text_on_every_connection() {
        const SQL: &str = "SELECT ?2 AS second, ?1 AS first";
        for _ in 0..2 {
            let c = Connection::open_in_memory().unwrap();
            for (a, b) in [("a", "b"), ("c", "d")] {
                let row = query(SQL).bind(a).bind(b).one(&c).unwrap();
                assert_eq!(row.value("first"), Some(&Value::Text(a.into())));
                assert_eq!(row.value("second"), Some(&Value::Text(b.into())));
            }
        }
        // The same words built at run time are not looked up by address: a different text with
        // other names still gets its own.
        let c = Connection::open_in_memory().unwrap();
        let built = format!("SELECT ?1 AS {}, ?2 AS other", "first");
        let row = query(built).bind("x").bind("y").one(&c).unwrap();
        assert_eq!(row.value("first"), Some(&Value::Text("x".into())));
        assert_eq!(row.value("other"), Some(&Value::Text("y".into())));
        assert_eq!(row.value("second"), None);
    }
}
