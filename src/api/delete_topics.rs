//! DeleteTopics, by name (v1+) or by topic id (v6+).

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::{op, TOPIC};
use super::RequestContext;
use super::topic_admin;

pub async fn handle(ctx: &RequestContext<'_>, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let topics = &ctx.services.topics;
    // v0-5 send names; v6 sends (name or id) states.
    let wanted: Vec<(Option<TopicName>, uuid::Uuid)> = if req.topics.is_empty() {
        req.topic_names.into_iter().map(|n| (Some(n), uuid::Uuid::nil())).collect()
    } else {
        req.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    };
    // delete.topic.enable=false: Kafka refuses every deletion
    let deletion_enabled = !ctx.services.config.get("delete.topic.enable").is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
    let quota = ctx.mutation_quota(5, false);
    let mut resp = DeleteTopicsResponse::default();
    for (name, id) in wanted {
        let mut out = DeletableTopicResult::default();
        out.name = name.clone();
        out.topic_id = id;
        let found = match &name {
            Some(n) => topics.get(n).ok_or(E::UnknownTopicOrPartition),
            None => topics.get_by_id(&id).ok_or(E::UnknownTopicId),
        };
        // DELETE on the topic; an unknown name is refused the same way when denied.
        let denied = match (&found, &name) {
            (Ok(topic), _) => !ctx.authorized(op::DELETE, TOPIC, &topic.name),
            (Err(_), Some(n)) => !ctx.authorized(op::DELETE, TOPIC, n),
            (Err(_), None) => false,
        };
        match found {
            _ if denied => out.error_code = E::TopicAuthorizationFailed.code(),
            Err(e) => out.error_code = e.code(),
            Ok(_) if !deletion_enabled => out.error_code = E::TopicDeletionDisabled.code(),
            Ok(topic) if name.is_some() && !id.is_nil() && topic.id != id => {
                out.error_code = E::InvalidRequest.code();
            }
            Ok(topic) => {
                out.name = Some(TopicName(StrBytes::from_string(topic.name.to_string())));
                if ctx.version >= 6 {
                    out.topic_id = topic.id;
                }
                let deleted = match quota.admit(topic.partitions.len() as i64) {
                    Err(throttled) => Err(throttled),
                    Ok(()) => topic_admin::delete_topic(ctx.services, &topic.name).await.map_err(|e| e.failure()),
                };
                if let Err((code, message)) = deleted {
                    out.error_code = code;
                    if ctx.version >= 5 {
                        out.error_message = Some(StrBytes::from_string(message));
                    }
                }
            }
        }
        resp.responses.push(out);
    }
    resp.throttle_time_ms = quota.throttle_time_ms();
    resp
}
