//! Messages built from the schemas, for tests and fuzzing: a well-formed sample of any
//! message at any version, one whose first array or string claims a length it does not
//! carry (the shape of a frame that once aborted the broker), and mutations of frames.

use kafka_protocol::messages::ApiKey;

use super::schema::{schemas, Field, Message, Type};

/// How much a sample holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Zeros, empty strings and arrays, no tagged fields.
    Minimal,
    /// One element in every array, one-byte strings and bytes, non-null nullables and
    /// every tagged field the version knows.
    Full,
}

/// Which length a hostile sample lies about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    Array,
    String,
}

/// A well-formed `message` at `version`.
pub fn message(m: &Message, version: i16, fill: Fill) -> Vec<u8> {
    let mut e = Encoder { out: Vec::new(), version, flexible: m.flexible.contains(version), fill, lie: None, lied: false };
    e.fields(&m.fields);
    e.out
}

/// `message` up to its first field of kind `lie`, which claims `claim` elements or bytes
/// and is followed by nothing. `None` when the version has no such field outside tags.
pub fn hostile(m: &Message, version: i16, lie: Lie, claim: u32) -> Option<Vec<u8>> {
    let mut e = Encoder { out: Vec::new(), version, flexible: m.flexible.contains(version), fill: Fill::Full, lie: Some((lie, claim)), lied: false };
    e.fields(&m.fields);
    e.lied.then_some(e.out)
}

/// A whole request frame body (header + request) for `api` at `version`, without the
/// length prefix, with `body` as the request.
pub fn request_frame(api: ApiKey, version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 32);
    out.extend((api as i16).to_be_bytes());
    out.extend(version.to_be_bytes());
    out.extend(correlation_id.to_be_bytes());
    let client_id = b"riffle-sample";
    out.extend((client_id.len() as i16).to_be_bytes());
    out.extend(client_id);
    if api.request_header_version(version) >= 2 {
        out.push(0); // no tagged fields
    }
    out.extend_from_slice(body);
    out
}

/// The request frames recorded from real clients under `fixtures` (one folder per
/// client, one `.bin` per frame), named by path, in a stable order.
pub fn recorded_frames(fixtures: &std::path::Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for client in std::fs::read_dir(fixtures)? {
        for f in std::fs::read_dir(client?.path())? {
            let path = f?.path();
            if path.extension().is_some_and(|x| x == "bin") {
                out.push((path.display().to_string(), std::fs::read(&path)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A full sample of every API and version in `apis` (what the broker advertises), as
/// `kafka-protocol` encodes it, each as a request frame (header and body, no length
/// prefix).
pub fn encoded_requests(apis: &[(ApiKey, kafka_protocol::protocol::VersionRange)]) -> Vec<(ApiKey, i16, Vec<u8>)> {
    let mut out = Vec::new();
    for &(api, range) in apis {
        let Some(m) = request_schema(api) else { continue };
        for v in range.min..=range.max {
            let body = bytes::Bytes::from(message(m, v, Fill::Full));
            let Ok(req) = kafka_protocol::messages::RequestKind::decode(api, &mut body.clone(), v) else { continue };
            let mut encoded = bytes::BytesMut::new();
            if req.encode(&mut encoded, v).is_ok() {
                out.push((api, v, request_frame(api, v, 1, &encoded)));
            }
        }
    }
    out
}

/// The request schema of `api`, if Kafka defines one.
pub fn request_schema(api: ApiKey) -> Option<&'static Message> {
    schemas().request(api as i16)
}

struct Encoder {
    out: Vec<u8>,
    version: i16,
    flexible: bool,
    fill: Fill,
    lie: Option<(Lie, u32)>,
    lied: bool,
}

impl Encoder {
    fn full(&self) -> bool {
        self.fill == Fill::Full
    }

    fn fields(&mut self, fields: &[Field]) {
        let version = self.version;
        for f in fields.iter().filter(|f| f.tag.is_none() && f.versions.contains(version)) {
            if self.lied {
                return;
            }
            self.field(f);
        }
        if self.lied || !self.flexible {
            return;
        }
        let mut tagged: Vec<&Field> = if self.full() && self.lie.is_none() {
            fields.iter().filter(|f| f.tag.is_some() && f.tagged.contains(self.version) && f.versions.contains(self.version)).collect()
        } else {
            Vec::new()
        };
        tagged.sort_by_key(|f| f.tag);
        uvarint(&mut self.out, tagged.len() as u32);
        for f in tagged {
            let mut inner = Encoder { out: Vec::new(), version: self.version, flexible: self.flexible, fill: self.fill, lie: None, lied: false };
            inner.field(f);
            uvarint(&mut self.out, f.tag.expect("tagged"));
            uvarint(&mut self.out, inner.out.len() as u32);
            self.out.extend(inner.out);
        }
    }

    fn field(&mut self, f: &Field) {
        let compact = f.flexible.map_or(self.flexible, |v| v.contains(self.version));
        self.value(&f.ty, compact, f.nullable.contains(self.version));
    }

    fn length(&mut self, compact: bool, wide: bool, n: u32) {
        match (compact, wide) {
            (true, _) => uvarint(&mut self.out, n.saturating_add(1)),
            (false, true) => self.out.extend((n.min(i32::MAX as u32) as i32).to_be_bytes()),
            (false, false) => self.out.extend((n.min(i16::MAX as u32) as i16).to_be_bytes()),
        }
    }

    fn lie_about(&mut self, kind: Lie, compact: bool, wide: bool) -> bool {
        match self.lie {
            Some((lie, claim)) if lie == kind && !self.lied => {
                self.length(compact, wide, claim);
                self.lied = true;
                true
            }
            _ => false,
        }
    }

    fn value(&mut self, ty: &Type, compact: bool, nullable: bool) {
        let one = self.full() as u8;
        match ty {
            Type::Bool | Type::Int8 => self.out.push(one),
            Type::Int16 | Type::UInt16 => self.out.extend([0, one]),
            Type::Int32 | Type::UInt32 => self.out.extend([0, 0, 0, one]),
            Type::Int64 | Type::Float64 => self.out.extend([0, 0, 0, 0, 0, 0, 0, one]),
            Type::Uuid => self.out.extend([one; 16]),
            Type::String => {
                if !self.lie_about(Lie::String, compact, false) {
                    self.length(compact, false, one as u32);
                    self.out.extend(std::iter::repeat_n(b'a', one as usize));
                }
            }
            Type::Bytes | Type::Records => {
                self.length(compact, true, one as u32);
                self.out.extend(std::iter::repeat_n(0, one as usize));
            }
            Type::Array(element) => {
                if !self.lie_about(Lie::Array, compact, true) {
                    self.length(compact, true, one as u32);
                    for _ in 0..one {
                        self.value(element, compact, false);
                    }
                }
            }
            Type::Struct(fields) => {
                if nullable {
                    self.out.push(1);
                }
                self.fields(fields);
            }
        }
    }
}

fn uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A small deterministic generator: the mutation tests must be repeatable.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Mutates a request frame (header and body, no length prefix) as a fuzzer would:
/// flipped bytes, cuts, appended garbage, and above all lengths (found through the
/// schemas) replaced by 0, -1, 2^31-1 or a random value.
pub fn mutate(rng: &mut XorShift, frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    for _ in 0..1 + rng.below(3) {
        if f.is_empty() {
            f.push(0);
        }
        let at = rng.below(f.len());
        match rng.below(7) {
            0 => f[at] ^= 1 << rng.below(8),
            1 => f[at] = rng.next() as u8,
            2 => {
                let value = lying_length(rng);
                for (i, b) in value.to_be_bytes().iter().enumerate() {
                    if let Some(x) = f.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            3 => f[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            4 => f.truncate(at),
            5 => f.extend((0..1 + rng.below(16)).map(|_| rng.next() as u8)),
            _ => {
                if let Some(lied) = lie_about_a_length(rng, &f) {
                    f = lied;
                }
            }
        }
    }
    f
}

fn lying_length(rng: &mut XorShift) -> i32 {
    match rng.below(4) {
        0 => 0,
        1 => -1,
        2 => i32::MAX,
        _ => rng.next() as i32,
    }
}

/// `frame` with one of its lengths (array, string, bytes, records) replaced, if the
/// frame is a request the schemas know.
fn lie_about_a_length(rng: &mut XorShift, frame: &[u8]) -> Option<Vec<u8>> {
    let api = ApiKey::try_from(i16::from_be_bytes([*frame.first()?, *frame.get(1)?])).ok()?;
    let version = i16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]);
    let header = schemas().header("RequestHeader")?;
    let at = super::check::check(header, api.request_header_version(version), frame).ok()?;
    let body = request_schema(api)?;
    let lengths = super::check::length_fields(body, version, &frame[at..]).ok()?;
    let field = lengths.get(rng.below(lengths.len()))?;
    let value = lying_length(rng);
    let mut encoded = Vec::new();
    match (field.compact, field.width) {
        (true, _) => uvarint(&mut encoded, value as u32),
        (false, 2) => encoded.extend((value as i16).to_be_bytes()),
        (false, _) => encoded.extend(value.to_be_bytes()),
    }
    let pos = at + field.pos;
    let mut out = frame[..pos].to_vec();
    out.extend(encoded);
    out.extend_from_slice(&frame[pos + field.width..]);
    Some(out)
}
