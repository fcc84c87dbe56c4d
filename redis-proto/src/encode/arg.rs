//! What can be sent as a command argument.

use bytes::{Bytes, BytesMut};

use crate::wire::{format_f32, format_f64};

/// Receives the arguments a [`ToArg`] value produces, one byte string per argument.
///
/// [`Cmd`](crate::Cmd) is the sink the crate provides; a driver can implement it to write
/// arguments somewhere else (e.g. straight into a connection buffer, or to count them).
pub trait ArgSink {
    /// Appends one argument.
    fn push_arg(&mut self, arg: &[u8]);
}

/// A value that can be sent as Redis command arguments.
///
/// Most types write exactly one argument. Integers are written in decimal (via `itoa`), floats
/// in the shortest form that round-trips, with `inf`, `-inf` and `nan` spelled the way Redis
/// parses them (`ZADD key inf member`). `bool` is deliberately not implemented: Redis has no
/// boolean argument type, and commands disagree on `1`/`0` versus words.
///
/// Collections write one argument per element, in order: `Vec<T>`, `&[T]`, `[T; N]`, and
/// tuples of 2 to 4 values (so `Cmd::new("DEL").arg(vec!["a", "b"])` sends two keys, and
/// `arg(("field", 1))` a field and its value). Bytes stay one argument: `Vec<u8>`, `&[u8]` and
/// `[u8; N]` are a single binary string, as before.
///
/// ```
/// use corelane_redis_proto::Cmd;
///
/// let cmd = Cmd::new("HSET").arg("h").arg([("a", 1), ("b", 2)]);
/// assert_eq!(cmd.argc(), 6);
/// let cmd = Cmd::new("SET").arg("k").arg(b"binary".to_vec());
/// assert_eq!(cmd.argc(), 3);
/// ```
pub trait ToArg {
    /// Writes this value's argument(s) into `sink`.
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S);

    /// Writes the arguments of a slice of values (what `Vec<Self>`, `[Self]` and `[Self; N]`
    /// write): each element's arguments in turn. `u8` overrides it to write the bytes as one
    /// argument, so `Vec<u8>` stays a single binary string.
    fn write_slice_args<S: ArgSink + ?Sized>(items: &[Self], sink: &mut S)
    where
        Self: Sized,
    {
        for item in items {
            item.write_args(sink);
        }
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        (**self).write_args(sink);
    }
}

impl<T: ToArg> ToArg for [T] {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        T::write_slice_args(self, sink);
    }
}

impl<T: ToArg, const N: usize> ToArg for [T; N] {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        T::write_slice_args(self, sink);
    }
}

impl<T: ToArg> ToArg for Vec<T> {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        T::write_slice_args(self, sink);
    }
}

macro_rules! tuple_args {
    ($( ($($t:ident $v:ident),+) )*) => {$(
        impl<$($t: ToArg),+> ToArg for ($($t,)+) {
            fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
                let ($($v,)+) = self;
                $($v.write_args(sink);)+
            }
        }
    )*};
}

tuple_args! {
    (A a, B b)
    (A a, B b, C c)
    (A a, B b, C c, D d)
}

impl ToArg for str {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(self.as_bytes());
    }
}

impl ToArg for String {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(self.as_bytes());
    }
}

impl ToArg for Bytes {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(self);
    }
}

impl ToArg for BytesMut {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(self);
    }
}

macro_rules! int_args {
    ($($t:ty)*) => {$(
        impl ToArg for $t {
            fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
                sink.push_arg(itoa::Buffer::new().format(*self).as_bytes());
            }
        }
    )*};
}

int_args!(i8 i16 i32 i64 i128 isize u16 u32 u64 u128 usize);

/// A lone `u8` is a number (`b'7'` is sent as `55`); a slice of them is one binary string.
impl ToArg for u8 {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(itoa::Buffer::new().format(*self).as_bytes());
    }

    fn write_slice_args<S: ArgSink + ?Sized>(items: &[Self], sink: &mut S) {
        sink.push_arg(items);
    }
}

impl ToArg for f64 {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(format_f64(&mut ryu::Buffer::new(), *self).as_bytes());
    }
}

impl ToArg for f32 {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(format_f32(&mut ryu::Buffer::new(), *self).as_bytes());
    }
}

/// The 36-character hyphenated lowercase form (`67e55044-10b1-426f-9247-bb680e5fe0c8`), what
/// `Uuid::to_string` gives and what Redis users usually store.
#[cfg(feature = "uuid")]
impl ToArg for uuid::Uuid {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        let mut buf = uuid::Uuid::encode_buffer();
        sink.push_arg(self.hyphenated().encode_lower(&mut buf).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects the arguments written.
    #[derive(Default)]
    struct Args(Vec<Vec<u8>>);

    impl ArgSink for Args {
        fn push_arg(&mut self, arg: &[u8]) {
            self.0.push(arg.to_vec());
        }
    }

    fn args(value: impl ToArg) -> Vec<Vec<u8>> {
        let mut sink = Args::default();
        value.write_args(&mut sink);
        sink.0
    }

    fn strs(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn single_values_stay_one_argument() {
        assert_eq!(args("a b"), strs(&["a b"]));
        assert_eq!(args(String::from("x")), strs(&["x"]));
        assert_eq!(args(vec![0u8, 1, 2]), vec![vec![0u8, 1, 2]]);
        assert_eq!(args(&[0u8, 1][..]), vec![vec![0u8, 1]]);
        assert_eq!(args(*b"raw"), strs(&["raw"]));
        assert_eq!(args(b"raw"), strs(&["raw"]));
        assert_eq!(args(Vec::<u8>::new()), vec![Vec::<u8>::new()]);
        assert_eq!(args(7u8), strs(&["7"]));
        assert_eq!(args(Bytes::from_static(b"b")), strs(&["b"]));
    }

    #[test]
    fn collections_are_one_argument_per_element() {
        assert_eq!(args(vec!["a", "b"]), strs(&["a", "b"]));
        assert_eq!(args(&["a", "b", "c"][..]), strs(&["a", "b", "c"]));
        assert_eq!(args(["a", "b"]), strs(&["a", "b"]));
        let list = vec![1i64, -2];
        assert_eq!(args(&list), strs(&["1", "-2"]));
        assert_eq!(args(Vec::<String>::new()), Vec::<Vec<u8>>::new());
        // Binary strings inside a collection: one argument each.
        assert_eq!(
            args(vec![b"x".to_vec(), b"yz".to_vec()]),
            vec![b"x".to_vec(), b"yz".to_vec()]
        );
        assert_eq!(args([1.5f64, f64::INFINITY]), strs(&["1.5", "inf"]));
    }

    #[test]
    fn tuples_and_nesting() {
        assert_eq!(args(("f", 1)), strs(&["f", "1"]));
        assert_eq!(args(("a", 2u32, 3.5f64)), strs(&["a", "2", "3.5"]));
        assert_eq!(args(("a", "b", "c", 4)), strs(&["a", "b", "c", "4"]));
        assert_eq!(args(vec![("a", 1), ("b", 2)]), strs(&["a", "1", "b", "2"]));
        assert_eq!(args((vec!["k1", "k2"], ["v"])), strs(&["k1", "k2", "v"]));
    }

    #[cfg(feature = "uuid")]
    #[test]
    fn uuid_is_hyphenated_text() {
        let id = uuid::Uuid::from_u128(0x67e5_5044_10b1_426f_9247_bb68_0e5f_e0c8);
        assert_eq!(args(id), strs(&["67e55044-10b1-426f-9247-bb680e5fe0c8"]));
        assert_eq!(args([id, id]).len(), 2);
    }
}
