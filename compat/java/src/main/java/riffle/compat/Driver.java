package riffle.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewPartitionReassignment;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.PartitionReassignment;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java client (kafka-clients) driver of Riffle's compatibility suite.
 *
 * <pre>java -cp 'target/kafka-VERSION/lib/*' riffle.compat.Driver COMMAND</pre>
 *
 * The request is one JSON object on stdin; the answer is exactly one JSON object on
 * stdout: {"ok": true, ...} or {"ok": false, "error": ..., "type": ...}. Client logs go to
 * stderr. Keys, values and header values are base64. Every error the client reports to
 * the driver is counted under its Kafka error name in "errors" (the harness lists them).
 *
 * Commands: version, create-topic, delete-topic, produce, offsets, offsets-by-timestamp,
 * metadata, describe-configs, read (assigned consumer, no group), admin (see Admin.java),
 * txn-produce, txn-fence, txn-ctp (transactions, see Txn.java), describe-groups, list-groups
 * (consumer groups of both protocols, see GroupAdmin.java),
 * acls, auth-probe (ACLs and what a principal may do, see Acls.java),
 * quotas, quota-produce, quota-consume (client quotas and throttled clients, see Quotas.java),
 * group-worker (a long-running group member, see GroupWorker.java).
 */
public final class Driver {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Error name -> how often the client reported it to the driver. */
    static final Map<String, Integer> ERRORS = new TreeMap<>();

    private Driver() {}

    public static void main(String[] args) throws Exception {
        String cmd = args.length > 0 ? args[0] : "";
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        // Nothing but the answer (and progress lines) may reach stdout.
        System.setOut(System.err);
        answer = out;
        if (cmd.equals("group-worker")) {
            System.exit(GroupWorker.run(out));
        }
        ObjectNode res;
        int code = 0;
        try {
            JsonNode req = readRequest(System.in);
            ObjectNode body = dispatch(cmd, req);
            res = JSON.createObjectNode();
            res.put("ok", true);
            res.setAll(body);
        } catch (Throwable e) {
            Throwable c = cause(e);
            res = JSON.createObjectNode();
            res.put("ok", false);
            res.put("error", String.valueOf(c.getMessage()));
            res.put("type", c.getClass().getSimpleName());
            res.put("code", Errors.forException(c).code());
            code = 1;
        }
        res.set("errors", JSON.valueToTree(ERRORS));
        synchronized (Driver.class) {
            out.println(JSON.writeValueAsString(res));
            out.flush();
        }
        System.exit(code);
    }

    static JsonNode readRequest(InputStream in) throws Exception {
        byte[] all = in.readAllBytes();
        String text = new String(all, StandardCharsets.UTF_8).trim();
        return JSON.readTree(text.isEmpty() ? "{}" : text);
    }

    static ObjectNode dispatch(String cmd, JsonNode req) throws Exception {
        switch (cmd) {
            case "version": return version();
            case "create-topic": return createTopic(req);
            case "delete-topic": return deleteTopic(req);
            case "produce": return produce(req);
            case "offsets": return offsets(req);
            case "offsets-by-timestamp": return offsetsByTimestamp(req);
            case "metadata": return metadata(req);
            case "describe-configs": return describeConfigs(req);
            case "read": return read(req);
            case "admin": return AdminTour.run(req);
            case "txn-produce": return Txn.produce(req);
            case "txn-fence": return Txn.fence(req);
            case "txn-ctp": return Txn.ctp(req);
            case "describe-quorum": return describeQuorum(req);
            case "reassign": return reassign(req);
            case "list-reassignments": return listReassignments(req);
            case "unregister-broker": return unregisterBroker(req);
            case "alter-configs": return alterConfigs(req);
            case "describe-groups": return GroupAdmin.describe(req);
            case "list-groups": return GroupAdmin.list(req);
            case "acls": return Acls.acls(req);
            case "auth-probe": return Acls.probe(req);
            case "quotas": return Quotas.quotas(req);
            case "quota-produce": return Quotas.produce(req);
            case "quota-consume": return Quotas.consume(req);
            case "reauth-produce": return Quotas.reauthProduce(req);
            default: throw new IllegalArgumentException("unknown command " + cmd);
        }
    }

    // --- helpers ---------------------------------------------------------------

    static Throwable cause(Throwable e) {
        while ((e instanceof ExecutionException || e instanceof java.util.concurrent.CompletionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    /** Counts an error the client reported, under its Kafka name. */
    static void noteError(Throwable e) {
        Throwable c = cause(e);
        Errors err = Errors.forException(c);
        String name = err == Errors.UNKNOWN_SERVER_ERROR ? c.getClass().getSimpleName() : err.name();
        synchronized (ERRORS) {
            ERRORS.merge(name, 1, Integer::sum);
        }
    }

    /** Waits for a future, counting its error if it fails. */
    static <T> T get(KafkaFuture<T> f) throws Exception {
        try {
            return f.get();
        } catch (Exception e) {
            noteError(e);
            throw e;
        }
    }

    static byte[] unb64(JsonNode n) {
        return n == null || n.isNull() ? null : Base64.getDecoder().decode(n.asText());
    }

    static String b64(byte[] b) {
        return b == null ? null : Base64.getEncoder().encodeToString(b);
    }

    static Properties common(JsonNode req) {
        Properties p = new Properties();
        p.put("bootstrap.servers", req.get("bootstrap").asText());
        p.put("client.id", req.path("clientId").asText("riffle-compat-java"));
        // TLS / SASL (security.protocol, ssl.*, sasl.*), as the harness spells them for
        // this client (harness/security.py java_conf)
        req.path("clientConfig").fields().forEachRemaining(e -> p.put(e.getKey(), e.getValue().asText()));
        return p;
    }

    static Admin admin(JsonNode req) {
        Properties p = common(req);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "30000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        return Admin.create(p);
    }

    static ObjectNode obj() {
        return JSON.createObjectNode();
    }

    // --- commands --------------------------------------------------------------

    static ObjectNode version() throws Exception {
        ObjectNode o = obj();
        // kafka-clients' own version file (AppInfoParser moved between 3.x and 4.x)
        Properties v = new Properties();
        try (InputStream in = KafkaProducer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            if (in != null) {
                v.load(in);
            }
        }
        o.put("kafka_clients", v.getProperty("version", "unknown"));
        o.put("java", System.getProperty("java.version"));
        return o;
    }

    static ObjectNode createTopic(JsonNode req) throws Exception {
        try (Admin a = admin(req)) {
            NewTopic t = new NewTopic(req.get("topic").asText(), req.path("partitions").asInt(3), (short) req.path("replicationFactor").asInt(1));
            Map<String, String> configs = new HashMap<>();
            req.path("configs").fields().forEachRemaining(e -> configs.put(e.getKey(), e.getValue().asText()));
            t.configs(configs);
            get(a.createTopics(List.of(t)).all());
        }
        return obj();
    }

    static ObjectNode deleteTopic(JsonNode req) throws Exception {
        try (Admin a = admin(req)) {
            get(a.deleteTopics(List.of(req.get("topic").asText())).all());
        }
        return obj();
    }

    static ObjectNode produce(JsonNode req) throws Exception {
        Properties p = common(req);
        p.put(ProducerConfig.ACKS_CONFIG, req.path("acks").asText("all"));
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, String.valueOf(req.path("idempotent").asBoolean(false)));
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, req.path("compression").asText("none"));
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        String topic = req.get("topic").asText();
        // progressEvery: print {"progress": acknowledged, "failed": n} lines before the
        // answer (the harness injects faults at given points); maxInFlight bounds the
        // unacknowledged sends, so that producing spreads over the whole run.
        int progressEvery = req.path("progressEvery").asInt(0);
        java.util.concurrent.Semaphore inFlight = new java.util.concurrent.Semaphore(req.path("maxInFlight").asInt(Integer.MAX_VALUE));
        java.util.concurrent.atomic.AtomicLong done = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicLong failures = new java.util.concurrent.atomic.AtomicLong();
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            for (JsonNode m : req.get("messages")) {
                inFlight.acquireUninterruptibly();
                RecordHeaders headers = new RecordHeaders();
                for (JsonNode h : m.path("headers")) {
                    headers.add(h.get(0).asText(), unb64(h.get(1)));
                }
                Integer partition = m.hasNonNull("partition") ? m.get("partition").asInt() : null;
                Long ts = m.hasNonNull("timestamp") ? m.get("timestamp").asLong() : null;
                sent.add(producer.send(new ProducerRecord<>(topic, partition, ts, unb64(m.get("key")), unb64(m.get("value")), headers), (md, e) -> {
                    inFlight.release();
                    if (e != null) {
                        noteError(e);
                        failures.incrementAndGet();
                    }
                    long n = done.incrementAndGet();
                    if (progressEvery > 0 && n % progressEvery == 0) {
                        progress(n - failures.get(), failures.get());
                    }
                }));
            }
            producer.flush();
        }
        ArrayNode acks = JSON.createArrayNode();
        ArrayNode failed = JSON.createArrayNode();
        for (int i = 0; i < sent.size(); i++) {
            try {
                RecordMetadata md = sent.get(i).get();
                acks.add(JSON.createArrayNode().add(md.partition()).add(md.offset()));
            } catch (ExecutionException e) {
                Throwable c = cause(e);
                acks.addNull();
                failed.add(JSON.createArrayNode().add(i).add(Errors.forException(c).name()).add(String.valueOf(c.getMessage())));
            }
        }
        ObjectNode o = obj();
        o.set("acks", acks);
        o.set("failed", failed);
        return o;
    }

    /** The real stdout (System.out is stderr here, see main). */
    static PrintStream answer;

    static synchronized void progress(long acked, long failed) {
        answer.println("{\"progress\": " + acked + ", \"failed\": " + failed + "}");
        answer.flush();
    }

    static Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> listOffsets(Admin a, String topic, OffsetSpec spec) throws Exception {
        return listOffsets(a, topic, spec, IsolationLevel.READ_UNCOMMITTED);
    }

    static Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> listOffsets(Admin a, String topic, OffsetSpec spec, IsolationLevel isolation) throws Exception {
        TopicDescription d = get(a.describeTopics(List.of(topic)).allTopicNames()).get(topic);
        Map<TopicPartition, OffsetSpec> q = new HashMap<>();
        for (TopicPartitionInfo pi : d.partitions()) {
            q.put(new TopicPartition(topic, pi.partition()), spec);
        }
        return get(a.listOffsets(q, new ListOffsetsOptions(isolation)).all());
    }

    static ObjectNode offsets(JsonNode req) throws Exception {
        String topic = req.get("topic").asText();
        ArrayNode parts = JSON.createArrayNode();
        // isolation read_committed: "high" is the last stable offset
        IsolationLevel isolation = req.path("isolation").asText("read_uncommitted").equals("read_committed")
                ? IsolationLevel.READ_COMMITTED : IsolationLevel.READ_UNCOMMITTED;
        try (Admin a = admin(req)) {
            var low = listOffsets(a, topic, OffsetSpec.earliest(), isolation);
            var high = listOffsets(a, topic, OffsetSpec.latest(), isolation);
            for (var e : new TreeMap<Integer, TopicPartition>(toIndex(low.keySet())).entrySet()) {
                ObjectNode o = obj();
                o.put("partition", e.getKey());
                o.put("low", low.get(e.getValue()).offset());
                o.put("high", high.get(e.getValue()).offset());
                parts.add(o);
            }
        }
        ObjectNode o = obj();
        o.set("partitions", parts);
        return o;
    }

    static Map<Integer, TopicPartition> toIndex(Iterable<TopicPartition> tps) {
        Map<Integer, TopicPartition> m = new TreeMap<>();
        for (TopicPartition tp : tps) {
            m.put(tp.partition(), tp);
        }
        return m;
    }

    static ObjectNode offsetsByTimestamp(JsonNode req) throws Exception {
        String topic = req.get("topic").asText();
        String which = req.path("spec").asText("timestamp");
        OffsetSpec spec = switch (which) {
            case "earliest" -> OffsetSpec.earliest();
            case "latest" -> OffsetSpec.latest();
            case "max-timestamp" -> OffsetSpec.maxTimestamp();
            default -> OffsetSpec.forTimestamp(req.get("timestamp").asLong());
        };
        ArrayNode parts = JSON.createArrayNode();
        try (Admin a = admin(req)) {
            var res = listOffsets(a, topic, spec);
            for (var e : toIndex(res.keySet()).entrySet()) {
                ObjectNode o = obj();
                o.put("partition", e.getKey());
                o.put("offset", res.get(e.getValue()).offset());
                o.put("timestamp", res.get(e.getValue()).timestamp());
                parts.add(o);
            }
        }
        ObjectNode o = obj();
        o.set("partitions", parts);
        return o;
    }

    static ObjectNode metadata(JsonNode req) throws Exception {
        String topic = req.get("topic").asText();
        ObjectNode o = obj();
        try (Admin a = admin(req)) {
            DescribeClusterResult c = a.describeCluster();
            ArrayNode brokers = JSON.createArrayNode();
            for (Node n : get(c.nodes())) {
                brokers.add(JSON.createArrayNode().add(n.id()).add(n.host()).add(n.port()).add(n.rack()));
            }
            o.set("brokers", brokers);
            o.put("cluster_id", get(c.clusterId()));
            Node controller = get(c.controller());
            o.put("controller", controller == null ? -1 : controller.id());
            ObjectNode topics = obj();
            o.set("topics", topics);
            ArrayNode listed = o.putArray("listed");
            for (String name : get(a.listTopics().names())) {
                listed.add(name);
            }
            TopicDescription d;
            try {
                d = a.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            } catch (ExecutionException e) {
                if (cause(e) instanceof org.apache.kafka.common.errors.UnknownTopicOrPartitionException) {
                    return o; // not (or no longer) there: no partitions
                }
                noteError(e);
                throw e;
            }
            ObjectNode parts = obj();
            for (TopicPartitionInfo pi : d.partitions()) {
                ObjectNode po = obj();
                po.put("leader", pi.leader() == null ? -1 : pi.leader().id());
                ArrayNode replicas = po.putArray("replicas");
                pi.replicas().forEach(n -> replicas.add(n.id()));
                ArrayNode isr = po.putArray("isr");
                pi.isr().forEach(n -> isr.add(n.id()));
                parts.set(String.valueOf(pi.partition()), po);
            }
            topics.set(topic, parts);
            o.put("topic_id", d.topicId().toString());
        }
        return o;
    }

    static ObjectNode describeConfigs(JsonNode req) throws Exception {
        String type = req.path("type").asText("topic");
        String name = type.equals("broker") ? req.path("broker").asText("1") : req.get("topic").asText();
        ConfigResource r = new ConfigResource(type.equals("broker") ? ConfigResource.Type.BROKER : ConfigResource.Type.TOPIC, name);
        ObjectNode configs = obj();
        try (Admin a = admin(req)) {
            Config c = get(a.describeConfigs(List.of(r)).all()).get(r);
            for (ConfigEntry e : c.entries()) {
                configs.set(e.name(), JSON.createArrayNode().add(e.value()).add(e.source().name()));
            }
        }
        ObjectNode o = obj();
        o.set("configs", configs);
        return o;
    }

    /** Admin.describeMetadataQuorum: leader, epoch, high watermark, voters and observers. */
    static ObjectNode describeQuorum(JsonNode req) throws Exception {
        ObjectNode o = obj();
        try (Admin a = admin(req)) {
            org.apache.kafka.clients.admin.QuorumInfo q = get(a.describeMetadataQuorum().quorumInfo());
            o.put("leaderId", q.leaderId());
            o.put("leaderEpoch", q.leaderEpoch());
            o.put("highWatermark", q.highWatermark());
            ArrayNode voters = o.putArray("voters");
            for (org.apache.kafka.clients.admin.QuorumInfo.ReplicaState v : q.voters()) {
                voters.add(JSON.createArrayNode().add(v.replicaId()).add(v.logEndOffset()));
            }
            o.put("observers", q.observers().size());
        }
        return o;
    }

    /**
     * Admin.alterPartitionReassignments: each partition of "targets" to its replicas (null
     * cancels its reassignment); answers each partition's outcome by Kafka error name.
     */
    static ObjectNode reassign(JsonNode req) throws Exception {
        String topic = req.get("topic").asText();
        Map<TopicPartition, Optional<NewPartitionReassignment>> targets = new HashMap<>();
        req.get("targets").fields().forEachRemaining(e -> {
            TopicPartition tp = new TopicPartition(topic, Integer.parseInt(e.getKey()));
            if (e.getValue().isNull()) {
                targets.put(tp, Optional.empty());
            } else {
                List<Integer> replicas = new ArrayList<>();
                e.getValue().forEach(b -> replicas.add(b.asInt()));
                targets.put(tp, Optional.of(new NewPartitionReassignment(replicas)));
            }
        });
        ObjectNode o = obj();
        ObjectNode results = o.putObject("results");
        try (Admin a = admin(req)) {
            Map<TopicPartition, KafkaFuture<Void>> done = a.alterPartitionReassignments(targets).values();
            for (Map.Entry<TopicPartition, KafkaFuture<Void>> e : done.entrySet()) {
                String outcome = "NONE";
                try {
                    get(e.getValue());
                } catch (ExecutionException ex) {
                    outcome = Errors.forException(cause(ex)).name();
                }
                results.put(String.valueOf(e.getKey().partition()), outcome);
            }
        }
        return o;
    }

    /**
     * Admin.incrementalAlterConfigs of one resource ("broker" or "topic"; a broker named ""
     * is the cluster-wide default): SET each of "set", DELETE each of "delete". Answers
     * the outcome by Kafka error name.
     */
    static ObjectNode alterConfigs(JsonNode req) throws Exception {
        ConfigResource.Type type = req.path("resourceType").asText("topic").equals("broker") ? ConfigResource.Type.BROKER : ConfigResource.Type.TOPIC;
        ConfigResource resource = new ConfigResource(type, req.get("name").asText());
        List<AlterConfigOp> ops = new ArrayList<>();
        req.path("set").fields().forEachRemaining(e -> ops.add(new AlterConfigOp(new ConfigEntry(e.getKey(), e.getValue().asText()), AlterConfigOp.OpType.SET)));
        req.path("delete").forEach(k -> ops.add(new AlterConfigOp(new ConfigEntry(k.asText(), null), AlterConfigOp.OpType.DELETE)));
        ObjectNode o = obj();
        try (Admin a = admin(req)) {
            get(a.incrementalAlterConfigs(Map.of(resource, ops)).all());
            o.put("result", "NONE");
        } catch (ExecutionException e) {
            o.put("result", Errors.forException(cause(e)).name());
        }
        return o;
    }

    /** Admin.unregisterBroker: answers the outcome by Kafka error name. */
    static ObjectNode unregisterBroker(JsonNode req) throws Exception {
        ObjectNode o = obj();
        try (Admin a = admin(req)) {
            get(a.unregisterBroker(req.get("broker").asInt()).all());
            o.put("result", "NONE");
        } catch (ExecutionException e) {
            o.put("result", Errors.forException(cause(e)).name());
        }
        return o;
    }

    /** Admin.listPartitionReassignments of one topic: partition → replicas, adding, removing. */
    static ObjectNode listReassignments(JsonNode req) throws Exception {
        String topic = req.get("topic").asText();
        ObjectNode o = obj();
        ObjectNode ongoing = o.putObject("ongoing");
        try (Admin a = admin(req)) {
            for (Map.Entry<TopicPartition, PartitionReassignment> e : get(a.listPartitionReassignments().reassignments()).entrySet()) {
                if (!e.getKey().topic().equals(topic)) {
                    continue;
                }
                ObjectNode p = ongoing.putObject(String.valueOf(e.getKey().partition()));
                p.set("replicas", JSON.valueToTree(e.getValue().replicas()));
                p.set("adding", JSON.valueToTree(e.getValue().addingReplicas()));
                p.set("removing", JSON.valueToTree(e.getValue().removingReplicas()));
            }
        }
        return o;
    }

    /**
     * Reads every partition from its log start to its end offset (the high watermark; with
     * isolation read_committed, the last stable offset), with an assigned consumer. With
     * "until" ({partition: offset}) it reads the partitions named there until its position
     * reaches that offset instead (records from there on are left out).
     */
    static ObjectNode read(JsonNode req) throws Exception {
        String topic = req.get("topic").asText();
        long deadline = System.currentTimeMillis() + req.path("timeoutMs").asLong(90_000);
        Properties p = common(req);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, req.path("offsetReset").asText("earliest"));
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, req.path("isolation").asText("read_uncommitted"));
        p.put(ConsumerConfig.CHECK_CRCS_CONFIG, "true");
        ArrayNode records = JSON.createArrayNode();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            Map<TopicPartition, Long> until = new HashMap<>();
            if (req.hasNonNull("until")) {
                req.get("until").fields().forEachRemaining(e -> {
                    TopicPartition tp = new TopicPartition(topic, Integer.parseInt(e.getKey()));
                    tps.add(tp);
                    until.put(tp, e.getValue().asLong());
                });
            } else {
                c.partitionsFor(topic, Duration.ofSeconds(30)).forEach(pi -> tps.add(new TopicPartition(topic, pi.partition())));
            }
            c.assign(tps);
            if (req.hasNonNull("from")) {
                for (TopicPartition tp : tps) {
                    c.seek(tp, req.get("from").asLong());
                }
            } else {
                c.seekToBeginning(tps);
            }
            Map<TopicPartition, Long> end = req.hasNonNull("until") ? until : c.endOffsets(tps);
            while (true) {
                boolean done = true;
                for (TopicPartition tp : tps) {
                    if (c.position(tp) < end.get(tp)) {
                        done = false;
                    }
                }
                if (done) {
                    break;
                }
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("read did not reach the high watermarks " + end + " in time (" + records.size() + " records)");
                }
                try {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                        if (r.offset() >= end.get(new TopicPartition(r.topic(), r.partition()))) {
                            continue;
                        }
                        ObjectNode o = obj();
                        o.put("partition", r.partition());
                        o.put("offset", r.offset());
                        o.put("key", b64(r.key()));
                        o.put("value", b64(r.value()));
                        ArrayNode hs = o.putArray("headers");
                        for (Header h : r.headers()) {
                            hs.add(JSON.createArrayNode().add(h.key()).add(b64(h.value())));
                        }
                        o.put("timestamp", r.timestamp());
                        o.put("timestampType", r.timestampType() == TimestampType.LOG_APPEND_TIME ? "logappend" : "create");
                        records.add(o);
                    }
                } catch (org.apache.kafka.common.KafkaException e) {
                    noteError(e);
                    throw e;
                }
            }
        }
        ObjectNode o = obj();
        o.set("records", records);
        return o;
    }
}
