package riffle.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DeleteAclsResult;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * ACLs (scenarios/acls.py).
 *
 * <ul>
 * <li>acls: Admin.createAcls / describeAcls / deleteAcls, one after the other as "ops"
 * lists them ({"op": "create", "bindings": [...]}, {"op": "describe", "filter": {...}},
 * {"op": "delete", "filters": [...]}). A binding is {resourceType, name, patternType,
 * principal, host, operation, permission} under Kafka's enum names; a filter the same with
 * ANY / MATCH and nulls. Each op answers "result" (NONE or the Kafka error name; create:
 * one per binding) and what it found.</li>
 * <li>auth-probe: one thing a principal may or may not be allowed to do ("probe": produce
 * (optionally idempotent or transactional), group-consume (subscribe, poll, commitSync),
 * describe-group (Admin.describeConsumerGroups),
 * describe-topic, describe-log-dirs, alter-broker-config). Answers "result": NONE or the
 * Kafka error name of the first error, and "exception" (its class).</li>
 * </ul>
 */
final class Acls {
    private Acls() {}

    // --- bindings <-> JSON -------------------------------------------------------

    static String text(JsonNode n, String key, String dflt) {
        JsonNode v = n.get(key);
        return v == null || v.isNull() ? dflt : v.asText();
    }

    static AclBinding binding(JsonNode b) {
        return new AclBinding(
                new ResourcePattern(ResourceType.valueOf(b.get("resourceType").asText()), b.get("name").asText(),
                        PatternType.valueOf(text(b, "patternType", "LITERAL"))),
                new AccessControlEntry(b.get("principal").asText(), text(b, "host", "*"),
                        AclOperation.valueOf(b.get("operation").asText()),
                        AclPermissionType.valueOf(text(b, "permission", "ALLOW"))));
    }

    static AclBindingFilter filter(JsonNode f) {
        return new AclBindingFilter(
                new ResourcePatternFilter(ResourceType.valueOf(text(f, "resourceType", "ANY")), text(f, "name", null),
                        PatternType.valueOf(text(f, "patternType", "ANY"))),
                new AccessControlEntryFilter(text(f, "principal", null), text(f, "host", null),
                        AclOperation.valueOf(text(f, "operation", "ANY")),
                        AclPermissionType.valueOf(text(f, "permission", "ANY"))));
    }

    static ObjectNode json(AclBinding b) {
        ObjectNode o = Driver.obj();
        o.put("resourceType", b.pattern().resourceType().name());
        o.put("name", b.pattern().name());
        o.put("patternType", b.pattern().patternType().name());
        o.put("principal", b.entry().principal());
        o.put("host", b.entry().host());
        o.put("operation", b.entry().operation().name());
        o.put("permission", b.entry().permissionType().name());
        return o;
    }

    static ArrayNode json(Collection<AclBinding> bs) {
        ArrayNode a = Driver.JSON.createArrayNode();
        bs.forEach(b -> a.add(json(b)));
        return a;
    }

    static String errorName(Throwable e) {
        Throwable c = Driver.cause(e);
        Errors err = Errors.forException(c);
        return err == Errors.UNKNOWN_SERVER_ERROR ? c.getClass().getSimpleName() : err.name();
    }

    /** Waits for f; null when it succeeded, else its error's Kafka name (counted). */
    static String outcome(KafkaFuture<?> f) {
        try {
            Driver.get(f);
            return null;
        } catch (Exception e) {
            return errorName(e);
        }
    }

    // --- acls --------------------------------------------------------------------

    static ObjectNode acls(JsonNode req) throws Exception {
        ArrayNode answers = Driver.JSON.createArrayNode();
        try (Admin a = Driver.admin(req)) {
            for (JsonNode op : req.get("ops")) {
                ObjectNode r = Driver.obj();
                switch (op.get("op").asText()) {
                    case "create": {
                        List<AclBinding> bs = new ArrayList<>();
                        op.get("bindings").forEach(b -> bs.add(binding(b)));
                        Map<AclBinding, KafkaFuture<Void>> fs = a.createAcls(bs).values();
                        ArrayNode results = r.putArray("results");
                        for (AclBinding b : bs) {
                            String e = outcome(fs.get(b));
                            results.add(e == null ? "NONE" : e);
                        }
                        break;
                    }
                    case "describe": {
                        try {
                            r.set("bindings", json(Driver.get(a.describeAcls(filter(op.get("filter"))).values())));
                            r.put("result", "NONE");
                        } catch (Exception e) {
                            r.put("result", errorName(e));
                        }
                        break;
                    }
                    case "delete": {
                        List<AclBindingFilter> fl = new ArrayList<>();
                        op.get("filters").forEach(f -> fl.add(filter(f)));
                        Map<AclBindingFilter, KafkaFuture<DeleteAclsResult.FilterResults>> fs = a.deleteAcls(fl).values();
                        ArrayNode results = r.putArray("results");
                        for (AclBindingFilter f : fl) {
                            ObjectNode fr = Driver.obj();
                            try {
                                DeleteAclsResult.FilterResults res = Driver.get(fs.get(f));
                                fr.put("result", "NONE");
                                ArrayNode matches = fr.putArray("matches");
                                for (DeleteAclsResult.FilterResult m : res.values()) {
                                    if (m.exception() != null) {
                                        matches.add(Driver.obj().put("result", errorName(m.exception())));
                                    } else {
                                        matches.add(json(m.binding()));
                                    }
                                }
                            } catch (Exception e) {
                                fr.put("result", errorName(e));
                            }
                            results.add(fr);
                        }
                        break;
                    }
                    default:
                        throw new IllegalArgumentException("unknown acls op " + op.get("op").asText());
                }
                answers.add(r);
            }
        }
        ObjectNode o = Driver.obj();
        o.set("answers", answers);
        return o;
    }

    // --- auth-probe ----------------------------------------------------------------

    static ObjectNode probe(JsonNode req) throws Exception {
        ObjectNode o = Driver.obj();
        try {
            switch (req.get("probe").asText()) {
                case "produce": produce(req, o); break;
                case "group-consume": groupConsume(req, o); break;
                case "describe-group":
                    try (Admin a = Driver.admin(req)) {
                        Driver.get(a.describeConsumerGroups(List.of(req.get("group").asText())).all());
                    }
                    break;
                case "describe-topic":
                    try (Admin a = Driver.admin(req)) {
                        Driver.get(a.describeTopics(List.of(req.get("topic").asText())).allTopicNames());
                    }
                    break;
                case "describe-log-dirs":
                    try (Admin a = Driver.admin(req)) {
                        List<Integer> ids = new ArrayList<>();
                        for (Node n : Driver.get(a.describeCluster().nodes())) {
                            ids.add(n.id());
                        }
                        Driver.get(a.describeLogDirs(ids).allDescriptions());
                    }
                    break;
                case "alter-broker-config":
                    try (Admin a = Driver.admin(req)) {
                        ConfigResource r = new ConfigResource(ConfigResource.Type.BROKER, req.path("broker").asText(""));
                        Driver.get(a.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(
                                new ConfigEntry("log.cleaner.threads", "1"), AlterConfigOp.OpType.SET)))).all());
                    }
                    break;
                default:
                    throw new IllegalArgumentException("unknown probe " + req.get("probe").asText());
            }
            if (!o.has("result")) {
                o.put("result", "NONE");
            }
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (Exception e) {
            Driver.noteError(e);
            Throwable c = Driver.cause(e);
            o.put("result", errorName(c));
            o.put("exception", c.getClass().getSimpleName());
            o.put("message", String.valueOf(c.getMessage()));
        }
        return o;
    }

    static void produce(JsonNode req, ObjectNode o) throws Exception {
        Properties p = Driver.common(req);
        String txnId = text(req, "transactionalId", null);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, String.valueOf(txnId != null || req.path("idempotent").asBoolean(false)));
        if (txnId != null) {
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        }
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        String topic = req.get("topic").asText();
        ArrayNode acks = o.putArray("acks");
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            if (txnId != null) {
                producer.initTransactions();
                producer.beginTransaction();
            }
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (JsonNode m : req.get("messages")) {
                sent.add(producer.send(Txn.record(topic, m)));
            }
            producer.flush();
            for (Future<RecordMetadata> f : sent) {
                RecordMetadata md = f.get();
                acks.add(Driver.JSON.createArrayNode().add(md.partition()).add(md.offset()));
            }
            if (txnId != null) {
                producer.commitTransaction();
            }
        }
    }

    static void groupConsume(JsonNode req, ObjectNode o) throws Exception {
        Properties p = Driver.common(req);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, req.get("group").asText());
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        int n = req.get("count").asInt();
        long deadline = System.currentTimeMillis() + req.path("timeoutMs").asLong(60_000);
        ArrayNode records = o.putArray("records");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(req.get("topic").asText()));
            while (records.size() < n) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("group-consume: " + records.size() + " of " + n + " records in time");
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    ObjectNode ro = Driver.obj();
                    ro.put("partition", r.partition());
                    ro.put("offset", r.offset());
                    ro.put("key", Driver.b64(r.key()));
                    ro.put("value", Driver.b64(r.value()));
                    ArrayNode hs = ro.putArray("headers");
                    r.headers().forEach(h -> hs.add(Driver.JSON.createArrayNode().add(h.key()).add(Driver.b64(h.value()))));
                    ro.put("timestamp", r.timestamp());
                    records.add(ro);
                }
            }
            c.commitSync(Duration.ofSeconds(60));
            o.put("committed", true);
        }
    }
}
