//! What other nodes send: controller RPC frames (the quorum's requests and answers), and
//! the responses a follower reads from a leader (Fetch, OffsetForLeaderEpoch) and the
//! admin client from any broker.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::{FetchRequest, ListOffsetsRequest, MetadataRequest, OffsetForLeaderEpochRequest};
use kafka_protocol::protocol::Request;
use libfuzzer_sys::fuzz_target;
use riffle::controller::network::{RpcRequest, RpcResponse};

fn response<R: Request>(data: &[u8]) {
    let Some((&version, frame)) = data.split_first() else { return };
    let version = (version as i16) % 20;
    let _ = riffle::admin::client::decode_response::<R>(0, version, Bytes::copy_from_slice(frame));
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<RpcRequest>(data);
    let _ = serde_json::from_slice::<RpcResponse>(data);
    let Some((&which, rest)) = data.split_first() else { return };
    match which % 4 {
        0 => response::<FetchRequest>(rest),
        1 => response::<OffsetForLeaderEpochRequest>(rest),
        2 => response::<MetadataRequest>(rest),
        _ => response::<ListOffsetsRequest>(rest),
    }
});
