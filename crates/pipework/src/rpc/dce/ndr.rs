//! NDR20 (the DCE/RPC transfer syntax, little-endian): a writer, a reader that checks every
//! length against the bytes it has, and the [`Ndr`] trait that types implement to travel as
//! arguments.
//!
//! Alignment is relative to the start of the stub, as C706 14.2.2 counts it (a stub begins
//! 8-aligned in its PDU). Top-level `[out]` reference pointers (`uint32 *out`) carry no bytes of
//! their own: declare the pointee's type. [`Unique`] writes its referent right after its
//! referent id, which is the order for top-level parameters and for chains of pointers; a
//! structure with embedded pointers, or with a conformant array as its last member (whose size
//! NDR hoists before the structure), implements [`Ndr`] by hand with the writer's primitives.
//!
//! ```
//! use pipework::rpc::dce::ndr::{Conformant, Ndr, NdrReader, NdrWriter, WString};
//!
//! let mut w = NdrWriter::new();
//! 5u32.encode(&mut w);
//! Conformant(vec![1u8, 2, 3]).encode(&mut w);
//! WString("hi".into()).encode(&mut w);
//! let bytes = w.into_bytes();
//!
//! let mut r = NdrReader::new(&bytes);
//! assert_eq!(u32::decode(&mut r)?, 5);
//! assert_eq!(Conformant::<u8>::decode(&mut r)?.0, [1, 2, 3]);
//! assert_eq!(WString::decode(&mut r)?.0, "hi");
//! r.finish()?;
//! # Ok::<(), pipework::rpc::dce::ndr::NdrError>(())
//! ```

use std::fmt;

/// Stub data that does not decode: too short, a length beyond the bytes there are, a bad
/// string, bytes left over. A server answers it with
/// [`Fault::BAD_STUB_DATA`](super::Fault::BAD_STUB_DATA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NdrError(pub String);

impl fmt::Display for NdrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NDR: {}", self.0)
    }
}

impl std::error::Error for NdrError {}

impl From<NdrError> for std::io::Error {
    fn from(e: NdrError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

fn err(text: impl Into<String>) -> NdrError {
    NdrError(text.into())
}

/// Builds NDR20 stub data.
#[derive(Debug, Default, Clone)]
pub struct NdrWriter {
    buf: Vec<u8>,
    next_referent: u32,
}

impl NdrWriter {
    /// An empty stub.
    pub fn new() -> NdrWriter {
        NdrWriter {
            buf: Vec::new(),
            next_referent: 0x0002_0000,
        }
    }

    /// Pads with zeros to a multiple of `n` (1, 2, 4 or 8) from the start of the stub.
    pub fn align(&mut self, n: usize) {
        while !self.buf.len().is_multiple_of(n.max(1)) {
            self.buf.push(0);
        }
    }

    /// A `u8`.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// A `u16`, 2-aligned.
    pub fn u16(&mut self, v: u16) {
        self.align(2);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `u32`, 4-aligned.
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `u64` (`hyper`), 8-aligned.
    pub fn u64(&mut self, v: u64) {
        self.align(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// Raw bytes, unaligned.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// A fresh non-zero referent id for a non-null [`Unique`] pointer.
    pub fn referent(&mut self) -> u32 {
        let id = self.next_referent;
        self.next_referent = self.next_referent.wrapping_add(4).max(4);
        id
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The stub.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads NDR20 stub data; every read checks the bytes left first, so no input makes it panic
/// or allocate beyond the input's size.
#[derive(Debug, Clone)]
pub struct NdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> NdrReader<'a> {
    /// A reader over a whole stub.
    pub fn new(buf: &'a [u8]) -> NdrReader<'a> {
        NdrReader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Where the next read starts, from the start of the stub.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Skips padding to a multiple of `n` from the start of the stub.
    pub fn align(&mut self, n: usize) -> Result<(), NdrError> {
        let n = n.max(1);
        let pad = (n - self.pos % n) % n;
        self.take(pad).map(|_| ())
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], NdrError> {
        if n > self.remaining() {
            return Err(err(format!(
                "{n} bytes needed at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], NdrError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A `u8`.
    pub fn u8(&mut self) -> Result<u8, NdrError> {
        Ok(self.array::<1>()?[0])
    }

    /// A 2-aligned `u16`.
    pub fn u16(&mut self) -> Result<u16, NdrError> {
        self.align(2)?;
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// A 4-aligned `u32`.
    pub fn u32(&mut self) -> Result<u32, NdrError> {
        self.align(4)?;
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// An 8-aligned `u64`.
    pub fn u64(&mut self) -> Result<u64, NdrError> {
        self.align(8)?;
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// An element count that is about to be read: refused when `count` elements of at least
    /// `min_size` bytes each cannot fit in what is left.
    pub fn count(&mut self, count: u32, min_size: usize) -> Result<usize, NdrError> {
        let count = count as usize;
        if count.saturating_mul(min_size.max(1)) > self.remaining() {
            return Err(err(format!(
                "{count} elements announced at offset {}, only {} bytes left",
                self.pos,
                self.remaining()
            )));
        }
        Ok(count)
    }

    /// Succeeds when every byte was read (padding to 8 at the end is allowed).
    pub fn finish(self) -> Result<(), NdrError> {
        let left = &self.buf[self.pos..];
        if left.len() < 8 && left.iter().all(|&b| b == 0) {
            Ok(())
        } else {
            Err(err(format!("{} bytes left over", left.len())))
        }
    }
}

/// A type that travels in NDR20.
pub trait Ndr: Sized {
    /// Its alignment: the largest of its members'.
    const ALIGN: usize;
    /// Its smallest encoding in bytes (bounds element counts before they are read).
    const MIN_SIZE: usize;
    /// Appends it.
    fn encode(&self, w: &mut NdrWriter);
    /// Reads it.
    fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError>;
}

macro_rules! primitive {
    ($($t:ty, $n:literal;)*) => {$(
        impl Ndr for $t {
            const ALIGN: usize = $n;
            const MIN_SIZE: usize = $n;
            fn encode(&self, w: &mut NdrWriter) {
                w.align($n);
                w.bytes(&self.to_le_bytes());
            }
            fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
                r.align($n)?;
                Ok(<$t>::from_le_bytes(r.array()?))
            }
        }
    )*};
}

primitive! {
    u8, 1; i8, 1; u16, 2; i16, 2; u32, 4; i32, 4; u64, 8; i64, 8; f32, 4; f64, 8;
}

impl Ndr for () {
    const ALIGN: usize = 1;
    const MIN_SIZE: usize = 0;
    fn encode(&self, _: &mut NdrWriter) {}
    fn decode(_: &mut NdrReader<'_>) -> Result<(), NdrError> {
        Ok(())
    }
}

/// The larger of two alignments (for [`Ndr::ALIGN`] of composite types).
pub const fn max_align(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

macro_rules! tuple {
    ($($name:ident)+) => {
        impl<$($name: Ndr),+> Ndr for ($($name,)+) {
            const ALIGN: usize = { let mut a = 1; $(a = max_align(a, $name::ALIGN);)+ a };
            const MIN_SIZE: usize = 0 $(+ $name::MIN_SIZE)+;
            #[allow(non_snake_case)]
            fn encode(&self, w: &mut NdrWriter) {
                w.align(Self::ALIGN);
                let ($($name,)+) = self;
                $($name.encode(w);)+
            }
            fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
                r.align(Self::ALIGN)?;
                Ok(($($name::decode(r)?,)+))
            }
        }
    };
}

tuple!(A);
tuple!(A B);
tuple!(A B C);
tuple!(A B C D);
tuple!(A B C D E);
tuple!(A B C D E F);

/// A conformant array (`[size_is(n)] T a[]`): its count (`u32`), then its elements.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Conformant<T>(pub Vec<T>);

impl<T: Ndr> Ndr for Conformant<T> {
    const ALIGN: usize = max_align(4, T::ALIGN);
    const MIN_SIZE: usize = 4;
    fn encode(&self, w: &mut NdrWriter) {
        w.u32(self.0.len() as u32);
        encode_elements(&self.0, w);
    }
    fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
        let max = r.u32()?;
        let n = r.count(max, T::MIN_SIZE)?;
        Ok(Conformant(decode_elements(r, n)?))
    }
}

fn encode_elements<T: Ndr>(items: &[T], w: &mut NdrWriter) {
    w.align(T::ALIGN);
    for item in items {
        item.encode(w);
    }
}

fn decode_elements<T: Ndr>(r: &mut NdrReader<'_>, n: usize) -> Result<Vec<T>, NdrError> {
    r.align(T::ALIGN)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(T::decode(r)?);
    }
    Ok(out)
}

/// A conformant varying array (`[size_is(m), length_is(n)] T a[]`): maximum count, offset and
/// actual count (`u32` each), then the actual elements. Encoded with offset 0 and the maximum
/// equal to the length; a decoded one holds the transmitted elements.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Varying<T>(pub Vec<T>);

/// Reads a conformant varying array's three counts and checks them against each other;
/// returns the actual count.
fn varying_counts(r: &mut NdrReader<'_>, min_size: usize) -> Result<usize, NdrError> {
    let max = r.u32()?;
    let offset = r.u32()?;
    let actual = r.u32()?;
    if offset > max || actual > max - offset {
        return Err(err(format!(
            "varying array: offset {offset} + length {actual} beyond its maximum {max}"
        )));
    }
    r.count(actual, min_size)
}

impl<T: Ndr> Ndr for Varying<T> {
    const ALIGN: usize = max_align(4, T::ALIGN);
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut NdrWriter) {
        let n = self.0.len() as u32;
        w.u32(n);
        w.u32(0);
        w.u32(n);
        encode_elements(&self.0, w);
    }
    fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
        let n = varying_counts(r, T::MIN_SIZE)?;
        Ok(Varying(decode_elements(r, n)?))
    }
}

/// A UTF-16 string (`[string, charset(UTF16)] uint16 *`, `wchar_t *`): a conformant varying
/// array of 16-bit units ending in a NUL, which this type adds and strips.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct WString(pub String);

impl Ndr for WString {
    const ALIGN: usize = 4;
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut NdrWriter) {
        let units: Vec<u16> = self.0.encode_utf16().chain(std::iter::once(0)).collect();
        let n = units.len() as u32;
        w.u32(n);
        w.u32(0);
        w.u32(n);
        for u in units {
            w.bytes(&u.to_le_bytes());
        }
    }
    fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
        let n = varying_counts(r, 2)?;
        let raw = r.take(n * 2)?;
        let mut units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        if units.last() == Some(&0) {
            units.pop();
        }
        String::from_utf16(&units)
            .map(WString)
            .map_err(|_| err("string: not valid UTF-16"))
    }
}

/// An 8-bit string (`[string] char *`): a conformant varying array of bytes ending in a NUL,
/// which this type adds and strips.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AString(pub String);

impl Ndr for AString {
    const ALIGN: usize = 4;
    const MIN_SIZE: usize = 12;
    fn encode(&self, w: &mut NdrWriter) {
        let n = self.0.len() as u32 + 1;
        w.u32(n);
        w.u32(0);
        w.u32(n);
        w.bytes(self.0.as_bytes());
        w.u8(0);
    }
    fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
        let n = varying_counts(r, 1)?;
        let mut raw = r.take(n)?;
        if let [rest @ .., 0] = raw {
            raw = rest;
        }
        String::from_utf8(raw.to_vec())
            .map(AString)
            .map_err(|_| err("string: not valid UTF-8"))
    }
}

/// A `[unique]` pointer: a referent id (`u32`, 0 for null), then the referent.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Unique<T>(pub Option<T>);

impl<T: Ndr> Ndr for Unique<T> {
    const ALIGN: usize = 4;
    const MIN_SIZE: usize = 4;
    fn encode(&self, w: &mut NdrWriter) {
        match &self.0 {
            None => w.u32(0),
            Some(v) => {
                let id = w.referent();
                w.u32(id);
                v.encode(w);
            }
        }
    }
    fn decode(r: &mut NdrReader<'_>) -> Result<Self, NdrError> {
        match r.u32()? {
            0 => Ok(Unique(None)),
            _ => Ok(Unique(Some(T::decode(r)?))),
        }
    }
}

/// Declares a structure whose members travel in order, aligned to its largest member
/// (members may be any [`Ndr`] type without embedded pointers or a trailing conformant array).
///
/// ```
/// pipework::ndr_struct! {
///     /// Samba's `echo_info5`.
///     #[derive(Debug, PartialEq)]
///     pub struct Info5 { pub v1: u8, pub v2: u64 }
/// }
/// let mut w = pipework::rpc::dce::ndr::NdrWriter::new();
/// pipework::rpc::dce::ndr::Ndr::encode(&Info5 { v1: 1, v2: 2 }, &mut w);
/// assert_eq!(w.len(), 16);
/// ```
#[macro_export]
macro_rules! ndr_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)? }
    ) => {
        $(#[$meta])*
        $vis struct $name { $($(#[$fmeta])* $fvis $field: $ty),* }

        impl $crate::rpc::dce::ndr::Ndr for $name {
            const ALIGN: usize = {
                let mut a = 1;
                $(a = $crate::rpc::dce::ndr::max_align(
                    a, <$ty as $crate::rpc::dce::ndr::Ndr>::ALIGN);)*
                a
            };
            const MIN_SIZE: usize = 0 $(+ <$ty as $crate::rpc::dce::ndr::Ndr>::MIN_SIZE)*;
            fn encode(&self, w: &mut $crate::rpc::dce::ndr::NdrWriter) {
                w.align(<Self as $crate::rpc::dce::ndr::Ndr>::ALIGN);
                $($crate::rpc::dce::ndr::Ndr::encode(&self.$field, w);)*
            }
            fn decode(
                r: &mut $crate::rpc::dce::ndr::NdrReader<'_>,
            ) -> ::std::result::Result<Self, $crate::rpc::dce::ndr::NdrError> {
                r.align(<Self as $crate::rpc::dce::ndr::Ndr>::ALIGN)?;
                Ok($name { $($field: <$ty as $crate::rpc::dce::ndr::Ndr>::decode(r)?),* })
            }
        }
    };
}

/// Encodes `value` alone as a stub.
pub fn to_stub<T: Ndr>(value: &T) -> Vec<u8> {
    let mut w = NdrWriter::new();
    value.encode(&mut w);
    w.into_bytes()
}

/// Decodes a whole stub as `T`, refusing bytes left over.
pub fn from_stub<T: Ndr>(stub: &[u8]) -> Result<T, NdrError> {
    let mut r = NdrReader::new(stub);
    let v = T::decode(&mut r)?;
    r.finish()?;
    Ok(v)
}
