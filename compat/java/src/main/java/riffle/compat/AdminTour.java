package riffle.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeProducersResult;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.FeatureUpdate;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.admin.SupportedVersionRange;
import org.apache.kafka.clients.admin.UpdateFeaturesOptions;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.ElectionType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionReplica;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.quota.ClientQuotaFilter;

/**
 * The `admin` command: one AdminClient call after another on the request's topic (which
 * holds records of an idempotent producer) and group (which has committed offsets and no
 * members). Each call's outcome is reported as {"ok": true, "value": ...} or
 * {"ok": false, "error": KAFKA_ERROR_NAME, "type": exception, "message": ...}; the
 * harness decides what each must be.
 */
final class AdminTour {
    private AdminTour() {}

    interface Call {
        Object run() throws Exception;
    }

    static ObjectNode run(JsonNode req) throws Exception {
        String topic = req.get("topic").asText();
        String group = req.get("group").asText();
        int brokerId = req.path("broker").asInt(1);
        TopicPartition tp0 = new TopicPartition(topic, 0);
        ObjectNode calls = Driver.obj();
        try (Admin a = Driver.admin(req)) {
            step(calls, "describeCluster", () -> {
                var c = a.describeCluster();
                ObjectNode o = Driver.obj();
                o.put("clusterId", c.clusterId().get());
                o.put("controller", c.controller().get().id());
                o.put("nodes", c.nodes().get().size());
                return o;
            });
            step(calls, "describeFeatures", () -> {
                FeatureMetadata f = a.describeFeatures().featureMetadata().get();
                ObjectNode o = Driver.obj();
                ObjectNode fin = o.putObject("finalized");
                for (Map.Entry<String, FinalizedVersionRange> e : f.finalizedFeatures().entrySet()) {
                    fin.put(e.getKey(), e.getValue().maxVersionLevel());
                }
                ObjectNode sup = o.putObject("supported");
                for (Map.Entry<String, SupportedVersionRange> e : f.supportedFeatures().entrySet()) {
                    sup.set(e.getKey(), Driver.JSON.createArrayNode().add(e.getValue().minVersion()).add(e.getValue().maxVersion()));
                }
                o.put("epoch", f.finalizedFeaturesEpoch().orElse(-1L));
                return o;
            });
            step(calls, "describeLogDirs", () -> {
                Map<Integer, Map<String, LogDirDescription>> dirs = a.describeLogDirs(List.of(brokerId)).allDescriptions().get();
                ObjectNode o = Driver.obj();
                for (var d : dirs.get(brokerId).entrySet()) {
                    ObjectNode dir = o.putObject(d.getKey());
                    LogDirDescription desc = d.getValue();
                    dir.put("error", desc.error() == null ? "NONE" : Errors.forException(desc.error()).name());
                    dir.put("totalBytes", desc.totalBytes().orElse(-1));
                    dir.put("usableBytes", desc.usableBytes().orElse(-1));
                    ObjectNode reps = dir.putObject("replicas");
                    for (Map.Entry<TopicPartition, ReplicaInfo> r : desc.replicaInfos().entrySet()) {
                        if (r.getKey().topic().equals(topic)) {
                            reps.put(String.valueOf(r.getKey().partition()), r.getValue().size());
                        }
                    }
                }
                return o;
            });
            step(calls, "describeReplicaLogDirs", () -> {
                var r = a.describeReplicaLogDirs(List.of(new TopicPartitionReplica(topic, 0, brokerId))).all().get();
                var info = r.values().iterator().next();
                return info.getCurrentReplicaLogDir();
            });
            step(calls, "alterReplicaLogDirs", () -> {
                String dir = a.describeReplicaLogDirs(List.of(new TopicPartitionReplica(topic, 0, brokerId))).all().get()
                    .values().iterator().next().getCurrentReplicaLogDir();
                a.alterReplicaLogDirs(Map.of(new TopicPartitionReplica(topic, 0, brokerId), dir)).all().get();
                return dir;
            });
            step(calls, "alterReplicaLogDirsUnknownDir", () -> {
                a.alterReplicaLogDirs(Map.of(new TopicPartitionReplica(topic, 0, brokerId), "/no/such/log/dir")).all().get();
                return "moved";
            });
            step(calls, "describeTopicsPaged", () -> {
                // one partition per DescribeTopicPartitions answer: the client follows the cursor
                var d = a.describeTopics(List.of(topic), new DescribeTopicsOptions().partitionSizeLimitPerResponse(1))
                    .allTopicNames().get().get(topic);
                ArrayNode arr = Driver.JSON.createArrayNode();
                d.partitions().forEach(p -> arr.add(p.partition()));
                return arr;
            });
            step(calls, "updateFeatures", () -> {
                short level = a.describeFeatures().featureMetadata().get().finalizedFeatures().get("metadata.version").maxVersionLevel();
                a.updateFeatures(Map.of("metadata.version", new FeatureUpdate(level, FeatureUpdate.UpgradeType.UPGRADE)),
                    new UpdateFeaturesOptions()).all().get();
                return level;
            });
            step(calls, "updateFeaturesUnsupportedLevel", () -> {
                a.updateFeatures(Map.of("metadata.version", new FeatureUpdate((short) 999, FeatureUpdate.UpgradeType.UPGRADE)),
                    new UpdateFeaturesOptions()).all().get();
                return 999;
            });
            step(calls, "alterPartitionReassignments", () -> {
                // the only broker there is: the partition stays where it is
                a.alterPartitionReassignments(Map.of(tp0, Optional.of(new NewPartitionReassignment(List.of(brokerId))))).all().get();
                return a.listPartitionReassignments().reassignments().get().size();
            });
            step(calls, "alterPartitionReassignmentsUnknownBroker", () -> {
                a.alterPartitionReassignments(Map.of(tp0, Optional.of(new NewPartitionReassignment(List.of(brokerId, 999))))).all().get();
                return "moved";
            });
            step(calls, "listClientMetricsResources", () -> a.listClientMetricsResources().all().get().size());
            step(calls, "brokerLoggers", () -> {
                // the root logger set to the level it has (INFO by default), then described
                ConfigResource loggers = new ConfigResource(ConfigResource.Type.BROKER_LOGGER, String.valueOf(brokerId));
                AlterConfigOp op = new AlterConfigOp(new ConfigEntry("root", "INFO"), AlterConfigOp.OpType.SET);
                a.incrementalAlterConfigs(Map.of(loggers, List.of(op))).all().get();
                return a.describeConfigs(List.of(loggers)).all().get().get(loggers).get("root").value();
            });
            step(calls, "describeDelegationToken", () -> a.describeDelegationToken().delegationTokens().get().size());
            step(calls, "describeProducers", () -> {
                DescribeProducersResult r = a.describeProducers(List.of(tp0));
                ArrayNode arr = Driver.JSON.createArrayNode();
                for (ProducerState p : r.partitionResult(tp0).get().activeProducers()) {
                    arr.add(Driver.JSON.createArrayNode().add(p.producerId()).add(p.producerEpoch()).add(p.lastSequence()));
                }
                return arr;
            });
            step(calls, "listPartitionReassignments", () -> a.listPartitionReassignments().reassignments().get().size());
            step(calls, "describeAcls", () -> a.describeAcls(AclBindingFilter.ANY).values().get().size());
            step(calls, "electLeaders", () -> {
                var r = a.electLeaders(ElectionType.PREFERRED, Set.of(tp0)).partitions().get();
                return r.get(tp0).map(e -> Errors.forException(e).name()).orElse("NONE");
            });
            step(calls, "createPartitions", () -> {
                a.createPartitions(Map.of(topic, NewPartitions.increaseTo(req.path("partitionsTo").asInt(4)))).all().get();
                return a.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
            });
            step(calls, "incrementalAlterConfigs", () -> {
                ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
                AlterConfigOp op = new AlterConfigOp(new ConfigEntry("retention.ms", "86400000"), AlterConfigOp.OpType.SET);
                a.incrementalAlterConfigs(Map.of(r, List.of(op))).all().get();
                ConfigEntry e = a.describeConfigs(List.of(r)).all().get().get(r).get("retention.ms");
                return e.value() + "/" + e.source().name();
            });
            step(calls, "deleteRecords", () -> {
                a.deleteRecords(Map.of(tp0, RecordsToDelete.beforeOffset(req.path("deleteBefore").asLong(1)))).all().get();
                return a.listOffsets(Map.of(tp0, OffsetSpec.earliest())).all().get().get(tp0).offset();
            });
            step(calls, "listOffsetsMaxTimestamp", () -> a.listOffsets(Map.of(tp0, OffsetSpec.maxTimestamp())).all().get().get(tp0).offset());
            step(calls, "listConsumerGroups", () -> {
                ArrayNode arr = Driver.JSON.createArrayNode();
                a.listConsumerGroups().all().get().forEach(g -> arr.add(g.groupId()));
                return arr;
            });
            step(calls, "describeConsumerGroups", () -> {
                ConsumerGroupDescription d = a.describeConsumerGroups(List.of(group)).describedGroups().get(group).get();
                ObjectNode o = Driver.obj();
                o.put("state", state(d));
                o.put("members", d.members().size());
                o.put("coordinator", d.coordinator().id());
                return o;
            });
            step(calls, "listConsumerGroupOffsets", () -> offsets(a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()));
            step(calls, "alterConsumerGroupOffsets", () -> {
                a.alterConsumerGroupOffsets(group, Map.of(tp0, new OffsetAndMetadata(2))).all().get();
                return offsets(a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get());
            });
            step(calls, "deleteConsumerGroupOffsets", () -> {
                a.deleteConsumerGroupOffsets(group, Set.of(tp0)).all().get();
                return offsets(a.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get());
            });
            step(calls, "deleteConsumerGroups", () -> {
                a.deleteConsumerGroups(List.of(group)).all().get();
                ArrayNode arr = Driver.JSON.createArrayNode();
                a.listConsumerGroups().all().get().forEach(g -> arr.add(g.groupId()));
                return arr;
            });
            step(calls, "describeClientQuotas", () -> a.describeClientQuotas(ClientQuotaFilter.all()).entities().get().size());
            step(calls, "describeUserScramCredentials", () -> a.describeUserScramCredentials().all().get().size());
            step(calls, "describeMetadataQuorum", () -> a.describeMetadataQuorum().quorumInfo().get().leaderId());
            step(calls, "listTransactions", () -> a.listTransactions().all().get().size());
            // A transaction left open, described (DescribeTransactions), then aborted.
            step(calls, "describeTransactions", () -> {
                String txnId = "compat-admin-txn-" + topic;
                java.util.Properties p = new java.util.Properties();
                p.put("bootstrap.servers", req.get("bootstrap").asText());
                p.put("transactional.id", txnId);
                p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
                p.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
                try (var producer = new org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]>(p)) {
                    producer.initTransactions();
                    producer.beginTransaction();
                    producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, 0, null, "open".getBytes())).get();
                    var d = a.describeTransactions(List.of(txnId)).description(txnId).get();
                    producer.abortTransaction();
                    return d.state() + ":" + d.topicPartitions() + ":" + (d.producerId() >= 0);
                }
            });
        }
        ObjectNode o = Driver.obj();
        o.set("calls", calls);
        return o;
    }

    /** The group's state: `groupState()` in 4.x clients, `state()` in 3.x. */
    static String state(ConsumerGroupDescription d) throws Exception {
        for (String m : new String[] {"groupState", "state"}) {
            try {
                return String.valueOf(ConsumerGroupDescription.class.getMethod(m).invoke(d));
            } catch (NoSuchMethodException e) {
                // the other name
            }
        }
        return "?";
    }

    static ObjectNode offsets(Map<TopicPartition, OffsetAndMetadata> m) {
        ObjectNode o = Driver.obj();
        for (var e : m.entrySet()) {
            o.put(e.getKey().topic() + ":" + e.getKey().partition(), e.getValue() == null ? -1 : e.getValue().offset());
        }
        return o;
    }

    static void step(ObjectNode calls, String name, Call c) {
        ObjectNode o = Driver.obj();
        try {
            Object v = c.run();
            o.put("ok", true);
            o.set("value", Driver.JSON.valueToTree(v));
        } catch (Exception e) {
            Throwable t = Driver.cause(e);
            Driver.noteError(t);
            o.put("ok", false);
            o.put("error", Errors.forException(t).name());
            o.put("type", t.getClass().getSimpleName());
            o.put("message", String.valueOf(t.getMessage()));
        }
        calls.set(name, o);
    }
}
