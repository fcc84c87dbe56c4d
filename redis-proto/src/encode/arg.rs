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
pub trait ToArg {
    /// Writes this value's argument(s) into `sink`.
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S);
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        (**self).write_args(sink);
    }
}

impl ToArg for [u8] {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(self);
    }
}

impl<const N: usize> ToArg for [u8; N] {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(self);
    }
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

impl ToArg for Vec<u8> {
    fn write_args<S: ArgSink + ?Sized>(&self, sink: &mut S) {
        sink.push_arg(self);
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

int_args!(i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize);

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
