//! An explicit batch: many requests in one write, the replies read by direct index when the
//! connection is idle.

use bytes::{Bytes, BytesMut};

use crate::conn::Pipe;
use crate::outcome::Options;
use crate::proto::encode::{self, check_key, InvalidRequest, Store};
use crate::proto::{key_hash, Expect, Reply};
use crate::Error;

/// Requests sent together by [`Client::pipeline`](crate::Client::pipeline), which returns one
/// [`Reply`] per request that gets one, in order (`*_no_reply` requests get none). A server
/// error is a [`Reply::Error`] value in its own place; the others are unaffected.
///
/// A bad key is reported when the pipeline is run, and nothing is sent.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    bytes: BytesMut,
    expects: Vec<Expect>,
    invalid: Option<InvalidRequest>,
    largest_value: usize,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replies the pipeline will get.
    pub fn len(&self) -> usize {
        self.expects.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn add(
        &mut self,
        expect: Option<Expect>,
        keys: &[&[u8]],
        encode: impl FnOnce(&mut BytesMut),
    ) -> &mut Self {
        if let Some(e) = keys.iter().find_map(|k| check_key(k).err()) {
            self.invalid.get_or_insert(e);
            return self;
        }
        encode(&mut self.bytes);
        self.expects.extend(expect);
        self
    }

    /// `get` of one key: [`Reply::Values`] with zero or one item.
    pub fn get(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        let key = key.as_ref();
        let expect = Expect::Values {
            keys: 1,
            cas: false,
            key_hash: Some(key_hash(key)),
        };
        self.add(Some(expect), &[key], |b| encode::retrieve(b, false, &[key]))
    }

    /// `gets` of one key (values carry their CAS unique).
    pub fn gets(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        let key = key.as_ref();
        let expect = Expect::Values {
            keys: 1,
            cas: true,
            key_hash: Some(key_hash(key)),
        };
        self.add(Some(expect), &[key], |b| encode::retrieve(b, true, &[key]))
    }

    /// A storage command (`set`, `add`, `replace`, `cas`): `Stored`, `NotStored`, `Exists` or
    /// `NotFound`.
    pub fn store(
        &mut self,
        cmd: Store,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: Options,
    ) -> &mut Self {
        self.store_inner(cmd, key.as_ref(), value.as_ref(), opts, false)
    }

    /// A storage command with `noreply`: no reply, no slot.
    pub fn store_no_reply(
        &mut self,
        cmd: Store,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        opts: Options,
    ) -> &mut Self {
        self.store_inner(cmd, key.as_ref(), value.as_ref(), opts, true)
    }

    fn store_inner(
        &mut self,
        cmd: Store,
        key: &[u8],
        value: &[u8],
        opts: Options,
        noreply: bool,
    ) -> &mut Self {
        self.largest_value = self.largest_value.max(value.len());
        let expect = (!noreply).then_some(Expect::Store);
        self.add(expect, &[key], |b| {
            encode::store(b, cmd, key, opts.flags, opts.exptime, value, noreply)
        })
    }

    /// `set` with default [`Options`].
    pub fn set(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        self.store(Store::Set, key, value, Options::default())
    }

    /// `delete`: `Deleted` or `NotFound`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        let key = key.as_ref();
        self.add(Some(Expect::Delete), &[key], |b| {
            encode::delete(b, key, false)
        })
    }

    /// `incr` (or `decr` when `incr` is false): `Number` or `NotFound`.
    pub fn arith(&mut self, incr: bool, key: impl AsRef<[u8]>, delta: u64) -> &mut Self {
        let key = key.as_ref();
        self.add(Some(Expect::Arith), &[key], |b| {
            encode::arith(b, incr, key, delta, false)
        })
    }

    /// `touch`: `Touched` or `NotFound`.
    pub fn touch(&mut self, key: impl AsRef<[u8]>, exptime: u32) -> &mut Self {
        let key = key.as_ref();
        self.add(Some(Expect::Touch), &[key], |b| {
            encode::touch(b, key, exptime, false)
        })
    }

    /// What to send, once checked against the client's value limit.
    pub(crate) fn prepared(&self, max_value: usize) -> Result<(Bytes, Vec<Expect>), Error> {
        if let Some(e) = &self.invalid {
            return Err(e.clone().into());
        }
        if self.largest_value > max_value {
            let (len, limit) = (self.largest_value, max_value);
            return Err(InvalidRequest::ValueTooLarge { len, limit }.into());
        }
        Ok((Bytes::copy_from_slice(&self.bytes), self.expects.clone()))
    }
}

/// Runs a prepared pipeline on `pipe` as one batch.
pub(crate) async fn run(
    pipe: &Pipe,
    bytes: &[u8],
    expects: &[Expect],
) -> Result<Vec<Reply>, Error> {
    let mut batch = pipe.take_batch();
    // All the bytes at once, then one reply slot per expecting request: the batch writes its
    // bytes in one piece anyway, and slots follow the order of the requests that get a reply.
    batch.push_no_reply(|b| b.extend_from_slice(bytes));
    for &expect in expects {
        batch.push(expect, |_| {});
    }
    let outcome = pipe.run(&mut batch).await;
    let replies = outcome.map_err(Error::from).and_then(|()| {
        batch
            .take_all()
            .into_iter()
            .map(|r| r.map_err(Error::from))
            .collect()
    });
    pipe.recycle_batch(batch);
    replies
}
