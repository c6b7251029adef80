//! DescribeTopicPartitions (KIP-966): the partitions of the named topics (or of every
//! topic, by name), paginated — at most `response_partition_limit` partitions (bounded
//! by `max.request.partition.size.limit`) per answer, with a cursor where the next one
//! starts. The Java AdminClient describes topics with it when the broker offers it.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_topic_partitions_response::{Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic};
use kafka_protocol::messages::{BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, TOPIC};
use super::metadata::partition_views;
use super::RequestContext;

/// Kafka's default of `max.request.partition.size.limit`.
const DEFAULT_PARTITION_LIMIT: i32 = 2000;

pub async fn handle(ctx: &RequestContext<'_>, req: DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    let broker = ctx.services;
    let mut resp = DescribeTopicPartitionsResponse::default();
    let configured = broker.config.get("max.request.partition.size.limit").and_then(|v| v.parse::<i32>().ok()).unwrap_or(DEFAULT_PARTITION_LIMIT);
    let limit = req.response_partition_limit.min(configured).max(1) as usize;
    let fetch_all = req.topics.is_empty();
    let mut names: Vec<String> = if fetch_all {
        broker.topics.all().iter().map(|t| t.name.to_string()).filter(|n| ctx.authorized(op::DESCRIBE, TOPIC, n)).collect()
    } else {
        req.topics.iter().map(|t| t.name.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let (first_topic, first_partition) = match &req.cursor {
        Some(c) => {
            if !fetch_all && !names.iter().any(|n| n.as_str() == c.topic_name.as_str()) {
                // Kafka refuses a cursor outside the topics asked for: the request fails,
                // every topic with INVALID_REQUEST.
                resp.topics = names.into_iter().map(|n| error_topic(n, E::InvalidRequest.code())).collect();
                return resp;
            }
            (c.topic_name.to_string(), c.partition_index.max(0))
        }
        None => (String::new(), 0),
    };
    let image = broker.cluster().map(|rm| rm.image());
    let node_id = broker.config.node_id;
    let mut left = limit;
    for name in names.into_iter().filter(|n| *n >= first_topic) {
        if !ctx.authorized(op::DESCRIBE, TOPIC, &name) {
            resp.topics.push(error_topic(name, E::TopicAuthorizationFailed.code()));
            continue;
        }
        let Some(topic) = broker.topics.get(&name) else {
            resp.topics.push(error_topic(name, E::UnknownTopicOrPartition.code()));
            continue;
        };
        if left == 0 {
            // The page is full: the next one starts at this topic.
            resp.next_cursor = Some(cursor(&name, 0));
            break;
        }
        let start = if name == first_topic { first_partition } else { 0 };
        let views: Vec<_> = partition_views(&topic, image.as_deref(), node_id).into_iter().filter(|v| v.index >= start).collect();
        let total = views.len();
        let partitions: Vec<DescribeTopicPartitionsResponsePartition> = views
            .into_iter()
            .take(left)
            .map(|v| {
                DescribeTopicPartitionsResponsePartition::default()
                    .with_error_code(v.error_code)
                    .with_partition_index(v.index)
                    .with_leader_id(BrokerId(v.leader))
                    .with_leader_epoch(v.leader_epoch)
                    .with_replica_nodes(v.replicas)
                    .with_isr_nodes(v.isr)
                    .with_eligible_leader_replicas(Some(vec![]))
                    .with_last_known_elr(Some(vec![]))
                    .with_offline_replicas(v.offline)
            })
            .collect();
        let next = partitions.last().map(|p| p.partition_index + 1);
        let cut = partitions.len() < total;
        left -= partitions.len();
        resp.topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                .with_topic_id(topic.id)
                .with_is_internal(topic.is_internal())
                .with_partitions(partitions)
                .with_topic_authorized_operations(ctx.authorized_operations(TOPIC, &name)),
        );
        if cut {
            resp.next_cursor = Some(cursor(&name, next.unwrap_or(start)));
            break;
        }
    }
    resp
}

fn cursor(topic: &str, partition: i32) -> Cursor {
    Cursor::default().with_topic_name(TopicName(StrBytes::from_string(topic.to_string()))).with_partition_index(partition)
}

fn error_topic(name: String, code: i16) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default().with_name(Some(TopicName(StrBytes::from_string(name)))).with_error_code(code)
}
