//! The frame checker: walks a message's bytes by its schema and checks every length
//! (arrays, compact arrays, strings, bytes, records, tagged fields) against the bytes
//! that actually remain, without allocating anything. A message it accepts can be
//! decoded by `kafka-protocol` with allocations bounded by the frame's own size.
//!
//! The walk mirrors `kafka-protocol`'s decoders: what they read, in their order, with
//! their rules (a nullable struct is present only when its marker byte is 1; a known tag
//! outside its tagged versions is an error). Where Kafka is stricter, so is this (an
//! array count larger than the bytes left is malformed: every element takes a byte).

use std::cell::RefCell;

use thiserror::Error;

use super::schema::{Field, Message, Type};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckError {
    #[error("{message} has no version {version}")]
    NoSuchVersion { message: &'static str, version: i16 },
    #[error("field {field}: needs {need} bytes, {left} left")]
    Truncated { field: &'static str, need: usize, left: usize },
    #[error("field {field}: length {len} is negative")]
    NegativeLength { field: &'static str, len: i64 },
    #[error("field {field}: {count} elements claimed, {left} bytes left")]
    TooManyElements { field: &'static str, count: usize, left: usize },
    #[error("field {field} is null, which version {version} does not allow")]
    NotNullable { field: &'static str, version: i16 },
    #[error("field {field} is not valid UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("tagged field {tag} ({field}) is not valid in version {version}")]
    TagNotInVersion { field: &'static str, tag: u32, version: i16 },
    #[error("tagged field {tag} ({field}) claims {size} bytes and holds {used}")]
    TagSizeMismatch { field: &'static str, tag: u32, size: usize, used: usize },
    #[error("{tags} tagged fields claimed, {left} bytes left")]
    TooManyTags { tags: usize, left: usize },
}

/// Checks the message at the front of `buf` at `version`; returns the bytes it takes.
pub fn check(message: &'static Message, version: i16, buf: &[u8]) -> Result<usize, CheckError> {
    walk(message, version, buf, None)
}

/// Where a length (or count) sits in a message: its position and how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthField {
    pub pos: usize,
    /// Bytes the length takes: 2 or 4 (big-endian, classic) or 1-5 (compact varint).
    pub width: usize,
    pub compact: bool,
}

/// The lengths of a well-formed message, in order (for fuzzers that lie about them).
pub fn length_fields(message: &'static Message, version: i16, buf: &[u8]) -> Result<Vec<LengthField>, CheckError> {
    let found = RefCell::new(Vec::new());
    walk(message, version, buf, Some(&found))?;
    Ok(found.into_inner())
}

fn walk(message: &'static Message, version: i16, buf: &[u8], lengths: Option<&RefCell<Vec<LengthField>>>) -> Result<usize, CheckError> {
    if !message.valid.contains(version) {
        return Err(CheckError::NoSuchVersion { message: &message.name, version });
    }
    let mut r = Reader { buf, pos: 0, base: 0 };
    let walk = Walk { version, flexible: message.flexible.contains(version), lengths };
    walk.fields(&mut r, &message.fields)?;
    Ok(r.pos)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Where `buf` starts in the whole message (a tagged field's bytes are read apart).
    base: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CheckError> {
        if n > self.left() {
            return Err(CheckError::Truncated { field, need: n, left: self.left() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn i8(&mut self, field: &'static str) -> Result<i8, CheckError> {
        Ok(self.take(1, field)?[0] as i8)
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, CheckError> {
        let b = self.take(2, field)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, CheckError> {
        let b = self.take(4, field)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An unsigned varint as `kafka-protocol` reads it: at most five bytes, the bits
    /// past 32 dropped.
    fn uvarint(&mut self, field: &'static str) -> Result<u32, CheckError> {
        let mut value = 0u32;
        for i in 0..5 {
            let b = self.take(1, field)?[0] as u32;
            value |= (b & 0x7f).wrapping_shl(i * 7);
            if b < 0x80 {
                break;
            }
        }
        Ok(value)
    }
}

/// A length as the field's encoding carries it: `None` for null.
enum Length {
    Null,
    Len(usize),
}

struct Walk<'a> {
    version: i16,
    /// Whether this version of the message is flexible (compact lengths, tagged fields).
    flexible: bool,
    /// Where lengths are found, when asked.
    lengths: Option<&'a RefCell<Vec<LengthField>>>,
}

impl Walk<'_> {
    fn fields(&self, r: &mut Reader, fields: &'static [Field]) -> Result<(), CheckError> {
        for f in fields {
            if f.tag.is_some() || !f.versions.contains(self.version) {
                continue;
            }
            self.field(r, f)?;
        }
        if self.flexible {
            self.tagged_fields(r, fields)?;
        }
        Ok(())
    }

    fn tagged_fields(&self, r: &mut Reader, fields: &'static [Field]) -> Result<(), CheckError> {
        let count = r.uvarint("tagged fields")? as usize;
        // Each tagged field takes at least two bytes (its tag and its size).
        if count > r.left() / 2 {
            return Err(CheckError::TooManyTags { tags: count, left: r.left() });
        }
        for _ in 0..count {
            let tag = r.uvarint("tag")?;
            let size = r.uvarint("tag size")? as usize;
            let base = r.base + r.pos;
            let data = r.take(size, "tagged field")?;
            let Some(f) = fields.iter().find(|f| f.tag == Some(tag)) else {
                continue; // unknown tags are kept as opaque bytes
            };
            if !f.tagged.contains(self.version) || !f.versions.contains(self.version) {
                return Err(CheckError::TagNotInVersion { field: &f.name, tag, version: self.version });
            }
            let mut inner = Reader { buf: data, pos: 0, base };
            self.field(&mut inner, f)?;
            if inner.pos != size {
                return Err(CheckError::TagSizeMismatch { field: &f.name, tag, size, used: inner.pos });
            }
        }
        Ok(())
    }

    fn field(&self, r: &mut Reader, f: &'static Field) -> Result<(), CheckError> {
        let compact = match f.flexible {
            Some(v) => v.contains(self.version),
            None => self.flexible,
        };
        self.value(r, &f.ty, f, compact, f.nullable.contains(self.version))
    }

    fn value(&self, r: &mut Reader, ty: &'static Type, f: &'static Field, compact: bool, nullable: bool) -> Result<(), CheckError> {
        let name = f.name.as_str();
        match ty {
            Type::Bool | Type::Int8 => drop(r.take(1, name)?),
            Type::Int16 | Type::UInt16 => drop(r.take(2, name)?),
            Type::Int32 | Type::UInt32 => drop(r.take(4, name)?),
            Type::Int64 | Type::Float64 => drop(r.take(8, name)?),
            Type::Uuid => drop(r.take(16, name)?),
            Type::String => {
                let len = self.length(r, compact, 2, name)?;
                if let Length::Len(n) = self.nullable(len, nullable, name)? {
                    std::str::from_utf8(r.take(n, name)?).map_err(|_| CheckError::NotUtf8 { field: name })?;
                }
            }
            Type::Bytes | Type::Records => {
                let len = self.length(r, compact, 4, name)?;
                if let Length::Len(n) = self.nullable(len, nullable, name)? {
                    r.take(n, name)?;
                }
            }
            Type::Array(element) => {
                let len = self.length(r, compact, 4, name)?;
                if let Length::Len(count) = self.nullable(len, nullable, name)? {
                    if count > r.left() {
                        return Err(CheckError::TooManyElements { field: name, count, left: r.left() });
                    }
                    for _ in 0..count {
                        self.value(r, element, f, compact, false)?;
                    }
                }
            }
            Type::Struct(fields) => {
                // kafka-protocol's nullable struct: a marker byte, present only when 1.
                if nullable && r.i8(name)? != 1 {
                    return Ok(());
                }
                self.fields(r, fields)?;
            }
        }
        Ok(())
    }

    /// Reads a length: a compact varint, or a big-endian integer of `width` bytes.
    fn length(&self, r: &mut Reader, compact: bool, width: usize, name: &'static str) -> Result<Length, CheckError> {
        let pos = r.pos;
        let len = match (compact, width) {
            (true, _) => compact_length(r, name)?,
            (false, 2) => length(r.i16(name)? as i64, name)?,
            (false, _) => length(r.i32(name)? as i64, name)?,
        };
        if let Some(found) = self.lengths {
            found.borrow_mut().push(LengthField { pos: r.base + pos, width: r.pos - pos, compact });
        }
        Ok(len)
    }

    fn nullable(&self, len: Length, nullable: bool, field: &'static str) -> Result<Length, CheckError> {
        match len {
            Length::Null if !nullable => Err(CheckError::NotNullable { field, version: self.version }),
            other => Ok(other),
        }
    }
}

/// A classic length: -1 is null, below that is malformed.
fn length(n: i64, field: &'static str) -> Result<Length, CheckError> {
    match n {
        -1 => Ok(Length::Null),
        n if n < 0 => Err(CheckError::NegativeLength { field, len: n }),
        n => Ok(Length::Len(n as usize)),
    }
}

/// A compact length: an unsigned varint of length + 1, 0 being null.
fn compact_length(r: &mut Reader, field: &'static str) -> Result<Length, CheckError> {
    Ok(match r.uvarint(field)? {
        0 => Length::Null,
        n => Length::Len(n as usize - 1),
    })
}
