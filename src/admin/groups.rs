//! `riffle groups list|describe`: consumer groups, and per partition the committed
//! offset, log end offset and lag, in the columns of `kafka-consumer-groups.sh`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bytes::Buf;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::client::{Client, ClientError};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn fail(what: &str, code: i16) -> ClientError {
    let name = kafka_protocol::error::ResponseError::try_from_code(code).map(|e| format!("{e:?}")).unwrap_or_default();
    ClientError::Protocol(format!("{what}: error {code} {name}"))
}

/// Connects to the coordinator of `group`, found through `bootstrap`.
fn coordinator(bootstrap: &str, group: &str) -> Result<Client, ClientError> {
    let mut c = Client::connect(bootstrap)?;
    let mut req = FindCoordinatorRequest::default();
    req.key = s(group);
    let resp = c.call(3, &req)?;
    if resp.error_code != 0 {
        return Err(fail("FindCoordinator", resp.error_code));
    }
    Client::connect((resp.host.as_str(), resp.port as u16))
}

/// One line per group: name, state, protocol type and group type (classic or
/// consumer).
pub fn list(bootstrap: &str) -> Result<String, ClientError> {
    let mut c = Client::connect(bootstrap)?;
    let resp = c.call(5, &ListGroupsRequest::default())?;
    if resp.error_code != 0 {
        return Err(fail("ListGroups", resp.error_code));
    }
    let mut out = String::new();
    let mut groups: Vec<_> = resp.groups.iter().collect();
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    for g in groups {
        let _ = writeln!(out, "{:<40} {:<20} {:<12} {}", g.group_id.as_str(), g.group_state.as_str(), g.protocol_type.as_str(), g.group_type.as_str());
    }
    Ok(out)
}

/// A row of the describe table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagRow {
    pub topic: String,
    pub partition: i32,
    pub committed: Option<i64>,
    pub log_end_offset: i64,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

impl LagRow {
    pub fn lag(&self) -> Option<i64> {
        self.committed.map(|c| (self.log_end_offset - c).max(0))
    }
}

/// A member of a consumer group (KIP-848), as ConsumerGroupDescribe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberRow {
    pub member_id: String,
    pub member_epoch: i32,
    pub client_id: String,
    pub host: String,
    /// topic-partition, ...
    pub assignment: Vec<(String, i32)>,
}

/// What `describe` shows of a group.
pub struct GroupView {
    pub state: String,
    /// For a consumer group: (group epoch, assignment epoch, assignor) and its members.
    pub consumer: Option<((i32, i32, String), Vec<ConsumerMemberRow>)>,
    pub rows: Vec<LagRow>,
}

/// A consumer group's description, or `None` for a classic group.
fn describe_consumer(c: &mut Client, group: &str) -> Result<Option<ConsumerGroupDescribeResponse>, ClientError> {
    let mut req = ConsumerGroupDescribeRequest::default();
    req.group_ids = vec![GroupId(s(group))];
    let resp = c.call(0, &req)?;
    let found = resp.groups.first().is_some_and(|g| g.error_code == 0);
    Ok(found.then_some(resp))
}

/// The group's state and, per partition it has committed or is assigned, its offsets.
pub fn describe_rows(bootstrap: &str, group: &str) -> Result<(String, Vec<LagRow>), ClientError> {
    describe_view(bootstrap, group).map(|v| (v.state, v.rows))
}

/// The group, classic or consumer, with its offsets and lag.
pub fn describe_view(bootstrap: &str, group: &str) -> Result<GroupView, ClientError> {
    let mut c = coordinator(bootstrap, group)?;
    // partition -> (consumer id, host, client id), from each member's assignment.
    let mut owners: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    let mut consumer = None;
    let state;
    if let Some(desc) = describe_consumer(&mut c, group)? {
        let g = &desc.groups[0];
        state = g.group_state.to_string();
        let mut members = Vec::new();
        for m in &g.members {
            let assignment: Vec<(String, i32)> = m.assignment.topic_partitions.iter().flat_map(|tp| tp.partitions.iter().map(move |p| (tp.topic_name.to_string(), *p))).collect();
            for tp in &assignment {
                owners.insert(tp.clone(), (m.member_id.to_string(), m.client_host.to_string(), m.client_id.to_string()));
            }
            members.push(ConsumerMemberRow { member_id: m.member_id.to_string(), member_epoch: m.member_epoch, client_id: m.client_id.to_string(), host: m.client_host.to_string(), assignment });
        }
        consumer = Some(((g.group_epoch, g.assignment_epoch, g.assignor_name.to_string()), members));
    } else {
        let mut dreq = DescribeGroupsRequest::default();
        dreq.groups = vec![GroupId(s(group))];
        let desc = c.call(5, &dreq)?;
        let g = desc.groups.first().ok_or_else(|| ClientError::Protocol("empty DescribeGroups response".into()))?;
        if g.error_code != 0 {
            return Err(fail("DescribeGroups", g.error_code));
        }
        state = g.group_state.to_string();
        classic_owners(g, &mut owners);
    }
    let rows = lag_rows(&mut c, bootstrap, group, &owners)?;
    Ok(GroupView { state, consumer, rows })
}

/// The owners of partitions in a classic group of the consumer protocol type.
fn classic_owners(g: &describe_groups_response::DescribedGroup, owners: &mut BTreeMap<(String, i32), (String, String, String)>) {
    for m in &g.members {
        let mut a = m.member_assignment.clone();
        if g.protocol_type.as_str() != "consumer" || a.remaining() < 2 {
            continue;
        }
        let version = a.get_i16();
        let Ok(assignment) = ConsumerProtocolAssignment::decode(&mut a, version) else { continue };
        for tp in assignment.assigned_partitions {
            for p in tp.partitions {
                owners.insert((tp.topic.to_string(), p), (m.member_id.to_string(), m.client_host.to_string(), m.client_id.to_string()));
            }
        }
    }
}

/// Per partition the group committed or owns: committed offset, log end offset, owner.
fn lag_rows(c: &mut Client, bootstrap: &str, group: &str, owners: &BTreeMap<(String, i32), (String, String, String)>) -> Result<Vec<LagRow>, ClientError> {
    let mut freq = OffsetFetchRequest::default();
    freq.group_id = GroupId(s(group));
    freq.topics = None;
    let fetched = c.call(7, &freq)?;
    if fetched.error_code != 0 {
        return Err(fail("OffsetFetch", fetched.error_code));
    }
    let mut committed: BTreeMap<(String, i32), Option<i64>> = BTreeMap::new();
    for t in &fetched.topics {
        for p in &t.partitions {
            committed.insert((t.name.to_string(), p.partition_index), (p.committed_offset >= 0).then_some(p.committed_offset));
        }
    }
    for key in owners.keys() {
        committed.entry(key.clone()).or_insert(None);
    }

    // Log end offsets (the high watermark, as consumers see it).
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in committed.keys() {
        by_topic.entry(t.clone()).or_default().push(*p);
    }
    let mut lreq = ListOffsetsRequest::default();
    lreq.replica_id = BrokerId(-1);
    lreq.topics = by_topic
        .iter()
        .map(|(t, ps)| {
            let mut lt = ListOffsetsTopic::default();
            lt.name = TopicName(s(t));
            lt.partitions = ps
                .iter()
                .map(|p| {
                    let mut lp = ListOffsetsPartition::default();
                    lp.partition_index = *p;
                    lp.timestamp = -1;
                    lp
                })
                .collect();
            lt
        })
        .collect();
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    if !lreq.topics.is_empty() {
        let mut b = Client::connect(bootstrap)?;
        for t in b.call(5, &lreq)?.topics {
            for p in t.partitions {
                ends.insert((t.name.to_string(), p.partition_index), if p.error_code == 0 { p.offset } else { -1 });
            }
        }
    }
    let rows = committed
        .into_iter()
        .map(|((topic, partition), off)| {
            let owner = owners.get(&(topic.clone(), partition));
            LagRow {
                log_end_offset: ends.get(&(topic.clone(), partition)).copied().unwrap_or(-1),
                topic,
                partition,
                committed: off,
                consumer_id: owner.map(|o| o.0.clone()),
                host: owner.map(|o| o.1.clone()),
                client_id: owner.map(|o| o.2.clone()),
            }
        })
        .collect();
    Ok(rows)
}

/// The table `kafka-consumer-groups.sh --describe --group G` prints.
pub fn describe(bootstrap: &str, group: &str) -> Result<String, ClientError> {
    let GroupView { state, consumer, rows } = describe_view(bootstrap, group)?;
    let mut out = String::new();
    if let Some(((group_epoch, assignment_epoch, assignor), members)) = &consumer {
        let _ = writeln!(out, "\nConsumer group '{group}' (consumer protocol): state {state}, group epoch {group_epoch}, assignment epoch {assignment_epoch}, assignor {assignor}\n");
        let _ = writeln!(out, "{:<32} {:>6} {:<24} {:<16} {}", "MEMBER-ID", "EPOCH", "CLIENT-ID", "HOST", "ASSIGNMENT");
        for m in members {
            let parts: Vec<String> = m.assignment.iter().map(|(t, p)| format!("{t}-{p}")).collect();
            let _ = writeln!(out, "{:<32} {:>6} {:<24} {:<16} {}", m.member_id, m.member_epoch, m.client_id, m.host, parts.join(","));
        }
        let _ = writeln!(out);
    }
    if rows.iter().all(|r| r.consumer_id.is_none()) {
        let _ = writeln!(out, "\nConsumer group '{group}' has no active members (state {state}).\n");
    }
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let _ = writeln!(out, "{:<24} {:<24} {:>9} {:>15} {:>15} {:>8} {:<48} {:<16} {}", "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID");
    for r in rows {
        let _ = writeln!(
            out,
            "{:<24} {:<24} {:>9} {:>15} {:>15} {:>8} {:<48} {:<16} {}",
            group,
            r.topic,
            r.partition,
            dash(r.committed.map(|c| c.to_string())),
            r.log_end_offset,
            dash(r.lag().map(|l| l.to_string())),
            dash(r.consumer_id.clone()),
            dash(r.host.clone()),
            dash(r.client_id.clone())
        );
    }
    Ok(out)
}
