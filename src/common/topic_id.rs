//! Topic ids: random v4 UUIDs written the way Kafka prints them (URL-safe base64,
//! no padding), as in `partition.metadata` and `meta.properties`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

/// A new topic id. Like Kafka, never the zero id or the reserved metadata id, and never
/// one whose string form starts with '-' (it would read as a command-line flag).
pub fn generate() -> Uuid {
    loop {
        let id = Uuid::new_v4();
        if id.as_u128() > 1 && !to_string(&id).starts_with('-') {
            return id;
        }
    }
}

pub fn to_string(id: &Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn parse(s: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let id = super::generate();
        let s = super::to_string(&id);
        assert_eq!(s.len(), 22);
        assert_eq!(super::parse(&s), Some(id));
        assert_eq!(super::parse("not base64!"), None);
    }
}
