//! One request and its answer as frames: what a client encodes and decodes (the admin
//! commands, a broker's own connections to other brokers), and the answer a server
//! encodes for a request it read. Frames here are bodies without the length prefix.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion, Request, StrBytes};

use super::{decode_response, decode_response_header, WireError};

/// A request frame body (header + request).
pub fn encode_request<R: Request>(correlation_id: i32, client_id: &'static str, version: i16, req: &R) -> Result<BytesMut, WireError> {
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str(client_id));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(version)).map_err(WireError::Encode)?;
    req.encode(&mut buf, version).map_err(WireError::Encode)?;
    Ok(buf)
}

/// A response frame (without its length prefix) for request type `R`, its correlation
/// id checked and nothing left over.
pub fn decode_response_frame<R: Request>(correlation_id: i32, version: i16, mut frame: Bytes) -> Result<R::Response, WireError> {
    let header = decode_response_header(&mut frame, R::Response::header_version(version))?;
    if header.correlation_id != correlation_id {
        return Err(WireError::Exchange(format!("correlation id {} for request {correlation_id}", header.correlation_id)));
    }
    let resp = decode_response::<R>(&mut frame, version)?;
    if !frame.is_empty() {
        return Err(WireError::Exchange(format!("{} bytes after the response", frame.len())));
    }
    Ok(resp)
}

/// A response frame, length prefix included, answering request `correlation_id`.
pub fn encode_response<R: Request>(correlation_id: i32, version: i16, resp: &R::Response) -> Result<Bytes, WireError> {
    let mut buf = BytesMut::from(&[0u8; 4][..]);
    ResponseHeader::default().with_correlation_id(correlation_id).encode(&mut buf, R::Response::header_version(version)).map_err(WireError::Encode)?;
    resp.encode(&mut buf, version).map_err(WireError::Encode)?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

    use super::*;

    #[test]
    fn a_response_round_trips_and_a_wrong_correlation_id_is_refused() {
        let resp = SaslHandshakeResponse::default().with_error_code(33);
        let frame = encode_response::<SaslHandshakeRequest>(7, 1, &resp).unwrap();
        let body = frame.slice(4..);
        assert_eq!(decode_response_frame::<SaslHandshakeRequest>(7, 1, body.clone()).unwrap().error_code, 33);
        assert!(matches!(decode_response_frame::<SaslHandshakeRequest>(8, 1, body), Err(WireError::Exchange(_))));
        assert!(!encode_request(1, "t", 1, &SaslHandshakeRequest::default()).unwrap().is_empty());
    }
}
