//! `SCAN`, `HSCAN`, `SSCAN`, `ZSCAN` as async streams.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use corelane_redis_proto::{Cmd, ToArg, Value};
use futures_lite::Stream;

use crate::call::Call;
use crate::handle::Client;
use crate::{Error, FromValue};

/// The items of a `SCAN`-family iteration, fetched page by page as the stream is read.
///
/// Redis guarantees every element present for the whole iteration is returned at least once;
/// elements may repeat, and ones added or removed meanwhile may or may not appear. An error
/// ends the stream after yielding it.
#[must_use = "streams do nothing unless polled"]
pub struct Scan<T> {
    client: Client,
    command: &'static str,
    key: Option<Bytes>,
    pattern: Option<Bytes>,
    count: Option<usize>,
    cursor: Option<Bytes>,
    buffered: VecDeque<T>,
    page: Option<Call<Value>>,
    done: bool,
    /// The key was not one argument (a collection passed as a key): reported by the first poll.
    invalid_key: Option<Error>,
}

impl<T> std::fmt::Debug for Scan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("command", &self.command)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<T> Scan<T> {
    /// `key`: the arguments a key wrote (exactly one is a key), or `None` for `SCAN`.
    fn new(client: &Client, command: &'static str, key: Option<Vec<Bytes>>) -> Self {
        let (key, invalid_key) = match key {
            None => (None, None),
            Some(mut args) if args.len() == 1 => (args.pop(), None),
            Some(args) => (
                None,
                Some(Error::type_mismatch(format!(
                    "{command} takes one key, but the key given writes {} arguments",
                    args.len()
                ))),
            ),
        };
        Scan {
            client: client.clone(),
            command,
            key,
            pattern: None,
            count: None,
            cursor: None,
            buffered: VecDeque::new(),
            page: None,
            done: false,
            invalid_key,
        }
    }

    /// Only items matching the glob `pattern` (`MATCH`).
    pub fn matching(mut self, pattern: impl Into<Bytes>) -> Self {
        self.pattern = Some(pattern.into());
        self
    }

    /// A hint of how many items each page should hold (`COUNT`).
    pub fn count(mut self, count: usize) -> Self {
        self.count = Some(count);
        self
    }

    fn next_page(&self) -> Cmd {
        let mut cmd = Cmd::new(self.command);
        if let Some(key) = &self.key {
            cmd = cmd.arg(key);
        }
        cmd = cmd.arg(
            self.cursor
                .clone()
                .unwrap_or_else(|| Bytes::from_static(b"0")),
        );
        if let Some(pattern) = &self.pattern {
            cmd = cmd.arg("MATCH").arg(pattern);
        }
        if let Some(count) = self.count {
            cmd = cmd.arg("COUNT").arg(count);
        }
        cmd
    }
}

impl<T: FromValue + Unpin> Stream for Scan<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(e) = this.invalid_key.take() {
            this.done = true;
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            if let Some(item) = this.buffered.pop_front() {
                return Poll::Ready(Some(Ok(item)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            if this.page.is_none() {
                this.page = Some(this.client.query(this.next_page()));
            }
            let Some(page) = this.page.as_mut() else {
                return Poll::Ready(None);
            };
            let reply = match Pin::new(page).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(reply) => reply,
            };
            this.page = None;
            let (cursor, items): (Bytes, Value) = match reply.and_then(FromValue::from_value) {
                Ok(page) => page,
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            };
            match Vec::<T>::from_value(items) {
                Ok(items) => this.buffered.extend(items),
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            this.done = &cursor[..] == b"0";
            this.cursor = Some(cursor);
        }
    }
}

impl Client {
    /// `SCAN`: every key, page by page (`.matching(glob)`, `.count(n)` to tune).
    pub fn scan<T: FromValue>(&self) -> Scan<T> {
        Scan::new(self, "SCAN", None)
    }

    /// `HSCAN key`: the hash's fields and values, as `(field, value)` items.
    pub fn hscan<T: FromValue>(&self, key: impl ToArg) -> Scan<T> {
        Scan::new(self, "HSCAN", Some(key_args(key)))
    }

    /// `SSCAN key`: the set's members.
    pub fn sscan<T: FromValue>(&self, key: impl ToArg) -> Scan<T> {
        Scan::new(self, "SSCAN", Some(key_args(key)))
    }

    /// `ZSCAN key`: the sorted set's members and scores, as `(member, score)` items.
    pub fn zscan<T: FromValue>(&self, key: impl ToArg) -> Scan<T> {
        Scan::new(self, "ZSCAN", Some(key_args(key)))
    }
}

/// The arguments a key writes (what `Cmd::arg` would send: one for a key, several for a
/// collection), kept for every page's command.
fn key_args(key: impl ToArg) -> Vec<Bytes> {
    struct Collect(Vec<Bytes>);
    impl corelane_redis_proto::ArgSink for Collect {
        fn push_arg(&mut self, arg: &[u8]) {
            self.0.push(Bytes::copy_from_slice(arg));
        }
    }
    let mut sink = Collect(Vec::new());
    key.write_args(&mut sink);
    sink.0
}
