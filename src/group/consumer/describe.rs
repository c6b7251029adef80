//! ConsumerGroupDescribe: a consumer group's epochs, members and their current and
//! target assignments.

use kafka_protocol::error::ResponseError as E;
use uuid::Uuid;

use super::member::TargetPartitions;
use crate::group::coordinator::GroupCoordinator;

/// (topic id, topic name, partitions)
pub type DescribedPartitions = Vec<(Uuid, String, Vec<i32>)>;

pub struct DescribedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub assignment: DescribedPartitions,
    pub target_assignment: DescribedPartitions,
    /// A member of the classic protocol (after an online upgrade).
    pub classic: bool,
}

pub struct ConsumerGroupDescription {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: String,
    pub members: Vec<DescribedMember>,
}

impl GroupCoordinator {
    fn described(&self, parts: &TargetPartitions) -> DescribedPartitions {
        parts.iter().map(|(id, ps)| (*id, self.topics.get_by_id(id).map(|t| t.name.to_string()).unwrap_or_default(), ps.iter().copied().collect())).collect()
    }

    /// A consumer group's description, or GROUP_ID_NOT_FOUND (also for a classic group).
    pub fn describe_consumer_group(&self, group_id: &str) -> Result<ConsumerGroupDescription, (i16, String)> {
        let not_found = |what: &str| (E::GroupIdNotFound.code(), format!("Group {group_id} {what}."));
        let group = self.group(group_id).ok_or_else(|| not_found("not found"))?;
        let g = group.lock();
        let cg = g.consumer.as_ref().ok_or_else(|| not_found("is not a consumer group"))?;
        let members = cg
            .members
            .values()
            .map(|m| DescribedMember {
                member_id: m.member_id.clone(),
                instance_id: m.metadata.instance_id.clone(),
                rack_id: m.metadata.rack_id.clone(),
                member_epoch: m.epoch(),
                client_id: m.metadata.client_id.clone(),
                client_host: m.metadata.client_host.clone(),
                subscribed_topic_names: m.metadata.subscribed_topic_names.clone(),
                subscribed_topic_regex: m.metadata.subscribed_topic_regex.clone(),
                assignment: self.described(&m.assigned_sets()),
                target_assignment: self.described(cg.target.get(&m.member_id).unwrap_or(&Default::default())),
                classic: m.metadata.classic.is_some(),
            })
            .collect();
        Ok(ConsumerGroupDescription {
            state: cg.state().name(),
            group_epoch: cg.group_epoch(),
            assignment_epoch: cg.assignment_epoch,
            assignor_name: self.preferred_assignor(cg),
            members,
        })
    }
}
