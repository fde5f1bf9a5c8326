//! Canonical encoding of serde values, for hashing.
//!
//! A self-delimiting binary form: every value starts with a one-byte tag, strings and
//! bytes carry a LEB128 length prefix, containers an explicit end marker. Two values
//! encode to the same bytes only if they are equal, whatever their contents (no escaping
//! to get wrong), and the encoding depends only on the value: struct fields by position
//! in declaration order (a struct's shape is fixed by its type; changing it is a key
//! format change), maps in their iteration order (use `BTreeMap`s). It is compact because
//! blake3's cost per key is proportional to it. It is never parsed back.
//!
//! JSON would do, but it is slower to produce and its `Value` type's key order depends
//! on a cargo feature any crate in the build can switch on.

use std::io::Write;

use serde::ser::{self, Serialize};

#[derive(Debug)]
pub struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.to_string())
    }
}

/// Write the canonical encoding of `value` to `out`.
pub fn write<W: Write, T: Serialize + ?Sized>(out: W, value: &T) -> Result<(), Error> {
    value.serialize(&mut Encoder { out })
}

/// A blake3 hasher in derive-key mode for one context, derived once: deriving the
/// context key is itself a hash, and keys are computed by the thousand.
pub struct Context {
    name: &'static str,
    hasher: std::sync::OnceLock<blake3::Hasher>,
}

impl Context {
    pub const fn new(name: &'static str) -> Context {
        Context {
            name,
            hasher: std::sync::OnceLock::new(),
        }
    }

    /// blake3 of the canonical encoding of `value`. The encoding goes through a reused
    /// per-thread buffer into the hasher in one update: blake3's per-call overhead would
    /// dominate token-by-token writes.
    pub fn hash<T: Serialize + ?Sized>(&self, value: &T) -> blake3::Hash {
        thread_local! {
            static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUFFER.with_borrow_mut(|buffer| {
            buffer.clear();
            write(&mut *buffer, value).expect("encoding into memory cannot fail");
            let mut hasher = self
                .hasher
                .get_or_init(|| blake3::Hasher::new_derive_key(self.name))
                .clone();
            hasher.update(buffer);
            hasher.finalize()
        })
    }
}

mod tag {
    pub const FALSE: u8 = b'f';
    pub const TRUE: u8 = b't';
    pub const INT: u8 = b'i';
    pub const UINT: u8 = b'u';
    pub const FLOAT: u8 = b'd';
    pub const STR: u8 = b's';
    pub const BYTES: u8 = b'b';
    pub const NONE: u8 = b'n';
    pub const SOME: u8 = b'o';
    pub const UNIT: u8 = b'_';
    pub const SEQ: u8 = b'[';
    pub const MAP: u8 = b'{';
    pub const STRUCT: u8 = b'(';
    pub const VARIANT: u8 = b'v';
    pub const END: u8 = b'.';
}

struct Encoder<W> {
    out: W,
}

impl<W: Write> Encoder<W> {
    fn tag(&mut self, t: u8) -> Result<(), Error> {
        Ok(self.out.write_all(&[t])?)
    }

    fn bytes(&mut self, t: u8, b: &[u8]) -> Result<(), Error> {
        // Tag and LEB128 length in one write.
        let mut head = [0u8; 11];
        head[0] = t;
        let mut n = b.len() as u64;
        let mut i = 1;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                head[i] = byte;
                i += 1;
                break;
            }
            head[i] = byte | 0x80;
            i += 1;
        }
        self.out.write_all(&head[..i])?;
        Ok(self.out.write_all(b)?)
    }

    fn variant(&mut self, name: &str) -> Result<(), Error> {
        self.bytes(tag::VARIANT, name.as_bytes())
    }
}

impl<W: Write> ser::Serializer for &mut Encoder<W> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.tag(if v { tag::TRUE } else { tag::FALSE })
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.tag(tag::INT)?;
        Ok(self.out.write_all(&v.to_le_bytes())?)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.tag(tag::UINT)?;
        Ok(self.out.write_all(&v.to_le_bytes())?)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.tag(tag::FLOAT)?;
        Ok(self.out.write_all(&v.to_bits().to_le_bytes())?)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.bytes(tag::STR, v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.bytes(tag::BYTES, v)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.tag(tag::NONE)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.tag(tag::SOME)?;
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.tag(tag::UNIT)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.tag(tag::UNIT)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.variant(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.variant(variant)?;
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, Error> {
        self.tag(tag::SEQ)?;
        Ok(self)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, Error> {
        self.tag(tag::SEQ)?;
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        self.tag(tag::SEQ)?;
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Error> {
        self.variant(variant)?;
        self.tag(tag::SEQ)?;
        Ok(self)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self, Error> {
        self.tag(tag::MAP)?;
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        self.tag(tag::STRUCT)?;
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Error> {
        self.variant(variant)?;
        self.tag(tag::STRUCT)?;
        Ok(self)
    }
}

impl<W: Write> ser::SerializeSeq for &mut Encoder<W> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(tag::END)
    }
}

impl<W: Write> ser::SerializeTuple for &mut Encoder<W> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(tag::END)
    }
}

impl<W: Write> ser::SerializeTupleStruct for &mut Encoder<W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(tag::END)
    }
}

impl<W: Write> ser::SerializeTupleVariant for &mut Encoder<W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(tag::END)
    }
}

impl<W: Write> ser::SerializeMap for &mut Encoder<W> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(tag::END)
    }
}

impl<W: Write> ser::SerializeStruct for &mut Encoder<W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(tag::END)
    }
}

impl<W: Write> ser::SerializeStructVariant for &mut Encoder<W> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        self.tag(tag::END)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn enc<T: Serialize>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, v).unwrap();
        out
    }

    #[test]
    fn strings_are_length_prefixed_so_boundaries_cannot_shift() {
        assert_ne!(enc(&("ab", "c")), enc(&("a", "bc")));
        assert_ne!(enc(&vec!["a,b"]), enc(&vec!["a", "b"]));
        assert_eq!(enc(&"x"), [b's', 1, b'x']);
        let long = "y".repeat(300);
        assert_eq!(
            &enc(&long.as_str())[..3],
            [b's', 0xac, 0x02],
            "LEB128 of 300"
        );
    }

    #[test]
    fn options_and_containers_are_distinguished() {
        assert_ne!(enc(&Some("")), enc(&None::<&str>));
        assert_ne!(
            enc(&Vec::<String>::new()),
            enc(&BTreeMap::<String, String>::new())
        );
        assert_ne!(enc(&vec![vec!["a"]]), enc(&vec!["a"]));
        let m = BTreeMap::from([("k", "v")]);
        assert_eq!(enc(&m), enc(&BTreeMap::from([("k", "v")])));
        assert_ne!(enc(&m), enc(&BTreeMap::from([("k", "w")])));
    }

    #[test]
    fn structs_are_positional_and_delimited() {
        #[derive(serde::Serialize)]
        struct A {
            x: u32,
            y: Option<String>,
        }
        assert_eq!(enc(&A { x: 1, y: None }), enc(&A { x: 1, y: None }));
        assert_ne!(
            enc(&A { x: 1, y: None }),
            enc(&A {
                x: 1,
                y: Some(String::new())
            })
        );
        assert_ne!(
            enc(&(A { x: 1, y: None }, 2u32)),
            enc(&(1u32, A { x: 2, y: None }))
        );
    }
}
