//! ListPartitionReassignments: the ongoing reassignments. Riffle's controller never moves
//! replicas (AlterPartitionReassignments is not served), so none is ever in progress and
//! the answer lists none, as Kafka's does when nothing is being reassigned.

use kafka_protocol::messages::{ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse};

use super::RequestContext;

pub async fn handle(_ctx: &RequestContext<'_>, _req: ListPartitionReassignmentsRequest) -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default()
}
