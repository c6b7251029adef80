package riffle.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Client quotas (scenarios/quotas.py).
 *
 * <ul>
 * <li>quotas: Admin.alterClientQuotas / describeClientQuotas, one after the other as
 * "ops" lists them. {"op": "alter", "alterations": [{"entity": {"user": "alice",
 * "client-id": null}, "ops": {"producer_byte_rate": 1024, "consumer_byte_rate": null}}],
 * "validateOnly": false}: an entity is its types and names (null: the default entity), an
 * op's value null removes the key; answers "results", one {"result", "message"} per
 * alteration (NONE or the Kafka error name). {"op": "describe", "filter": {"components":
 * [{"entityType": "user", "match": "exact", "name": "alice"}, {"entityType": "client-id",
 * "match": "default"}, {"entityType": "ip", "match": "specified"}], "strict": false}}
 * (no components, not strict: ClientQuotaFilter.all()): answers "result", "message" and
 * "entries", [{"entity": {...}, "quotas": {...}}].</li>
 * <li>quota-produce: produces "bytes" of random values in records of "recordSize" with
 * client id "clientId" (one producer); answers the records and bytes acknowledged, the
 * time from the first send to the end of flush ("elapsedMs") and the producer's
 * throttle and byte-rate metrics ("metrics", NaN as null).</li>
 * <li>quota-consume: reads "count" records from the beginning of every partition of
 * "topic" (assigned consumer, no group) with client id "clientId", at most
 * "maxFetchBytes" a fetch; answers the records and value bytes read, "elapsedMs" and the
 * consumer's fetch throttle and byte-rate metrics.</li>
 * </ul>
 */
final class Quotas {
    private Quotas() {}

    static ClientQuotaEntity entity(JsonNode e) {
        Map<String, String> m = new HashMap<>();
        e.fields().forEachRemaining(f -> m.put(f.getKey(), f.getValue().isNull() ? null : f.getValue().asText()));
        return new ClientQuotaEntity(m);
    }

    static ObjectNode entityJson(ClientQuotaEntity e) {
        ObjectNode o = Driver.obj();
        for (Map.Entry<String, String> x : new TreeMap<>(e.entries()).entrySet()) {
            o.put(x.getKey(), x.getValue());
        }
        return o;
    }

    static ClientQuotaFilter filter(JsonNode f) {
        List<ClientQuotaFilterComponent> cs = new ArrayList<>();
        for (JsonNode c : f.path("components")) {
            String type = c.get("entityType").asText();
            switch (c.path("match").asText("exact")) {
                case "exact": cs.add(ClientQuotaFilterComponent.ofEntity(type, c.get("name").asText())); break;
                case "default": cs.add(ClientQuotaFilterComponent.ofDefaultEntity(type)); break;
                case "specified": cs.add(ClientQuotaFilterComponent.ofEntityType(type)); break;
                default: throw new IllegalArgumentException("match: exact, default or specified");
            }
        }
        if (f.path("strict").asBoolean(false)) {
            return ClientQuotaFilter.containsOnly(cs);
        }
        return cs.isEmpty() ? ClientQuotaFilter.all() : ClientQuotaFilter.contains(cs);
    }

    static void putError(ObjectNode o, Throwable e) {
        if (e == null) {
            o.put("result", "NONE");
            return;
        }
        Driver.noteError(e);
        Throwable c = Driver.cause(e);
        Errors err = Errors.forException(c);
        o.put("result", err == Errors.UNKNOWN_SERVER_ERROR ? c.getClass().getSimpleName() : err.name());
        o.put("exception", c.getClass().getSimpleName());
        o.put("message", String.valueOf(c.getMessage()));
    }

    static ObjectNode quotas(JsonNode req) throws Exception {
        ArrayNode answers = Driver.JSON.createArrayNode();
        try (Admin a = Driver.admin(req)) {
            for (JsonNode op : req.get("ops")) {
                ObjectNode ans = Driver.obj();
                switch (op.get("op").asText()) {
                    case "alter": {
                        List<ClientQuotaAlteration> alts = new ArrayList<>();
                        for (JsonNode x : op.get("alterations")) {
                            List<ClientQuotaAlteration.Op> ops = new ArrayList<>();
                            x.get("ops").fields().forEachRemaining(f -> ops.add(new ClientQuotaAlteration.Op(
                                    f.getKey(), f.getValue().isNull() ? null : f.getValue().asDouble())));
                            alts.add(new ClientQuotaAlteration(entity(x.get("entity")), ops));
                        }
                        Map<ClientQuotaEntity, KafkaFuture<Void>> fs = a.alterClientQuotas(alts,
                                new AlterClientQuotasOptions().validateOnly(op.path("validateOnly").asBoolean(false))).values();
                        ArrayNode results = Driver.JSON.createArrayNode();
                        for (ClientQuotaAlteration alt : alts) {
                            ObjectNode r = Driver.obj();
                            Throwable err = null;
                            try {
                                fs.get(alt.entity()).get();
                            } catch (Exception e) {
                                err = e;
                            }
                            putError(r, err);
                            results.add(r);
                        }
                        ans.set("results", results);
                        break;
                    }
                    case "describe": {
                        Throwable err = null;
                        Map<ClientQuotaEntity, Map<String, Double>> found = Map.of();
                        try {
                            found = a.describeClientQuotas(filter(op.get("filter"))).entities().get();
                        } catch (Exception e) {
                            err = e;
                        }
                        putError(ans, err);
                        ArrayNode entries = Driver.JSON.createArrayNode();
                        for (Map.Entry<ClientQuotaEntity, Map<String, Double>> e : found.entrySet()) {
                            ObjectNode en = Driver.obj();
                            en.set("entity", entityJson(e.getKey()));
                            en.set("quotas", Driver.JSON.valueToTree(new TreeMap<>(e.getValue())));
                            entries.add(en);
                        }
                        ans.set("entries", entries);
                        break;
                    }
                    default:
                        throw new IllegalArgumentException("op: alter or describe");
                }
                answers.add(ans);
            }
        }
        ObjectNode o = Driver.obj();
        o.set("answers", answers);
        return o;
    }

    /** The metrics of one group whose names contain one of the words; NaN / infinite as null. */
    static ObjectNode metrics(Map<MetricName, ? extends Metric> all, String group, String... words) {
        TreeMap<String, Object> out = new TreeMap<>();
        for (Map.Entry<MetricName, ? extends Metric> e : all.entrySet()) {
            MetricName n = e.getKey();
            if (!n.group().equals(group) || !n.tags().keySet().stream().allMatch(k -> k.equals("client-id"))) {
                continue;
            }
            for (String w : words) {
                if (n.name().contains(w)) {
                    Object v = e.getValue().metricValue();
                    if (v instanceof Double && (((Double) v).isNaN() || ((Double) v).isInfinite())) {
                        v = null;
                    }
                    out.put(n.name(), v);
                }
            }
        }
        return Driver.JSON.valueToTree(out);
    }

    static ObjectNode produce(JsonNode req) throws Exception {
        Properties p = Driver.common(req);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "300000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "60000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        String topic = req.get("topic").asText();
        long total = req.get("bytes").asLong();
        int size = req.path("recordSize").asInt(1024);
        Random rnd = new Random(42);
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        ObjectNode o = Driver.obj();
        long t0;
        long t1;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            producer.partitionsFor(topic);  // metadata first: the clock starts with the first send
            t0 = System.nanoTime();
            for (long done = 0; done < total; done += size) {
                byte[] v = new byte[size];
                rnd.nextBytes(v);
                sent.add(producer.send(new ProducerRecord<>(topic, null, v)));
            }
            producer.flush();
            t1 = System.nanoTime();
            o.set("metrics", metrics(producer.metrics(), "producer-metrics", "throttle", "byte-rate", "byte-total"));
        }
        long acked = 0;
        ArrayNode failed = Driver.JSON.createArrayNode();
        for (Future<RecordMetadata> f : sent) {
            try {
                f.get();
                acked++;
            } catch (Exception e) {
                Driver.noteError(e);
                if (failed.size() < 10) {
                    failed.add(Errors.forException(Driver.cause(e)).name());
                }
            }
        }
        o.put("records", acked);
        o.put("bytes", acked * size);
        o.put("elapsedMs", (t1 - t0) / 1_000_000.0);
        o.set("failed", failed);
        return o;
    }

    /**
     * KIP-368: records sent one every {@code intervalMs} for {@code seconds}, each
     * acknowledged before the next, on a listener whose sessions expire
     * (connections.max.reauth.ms); the producer's (re-)authentication and connection
     * metrics tell whether it re-authenticated on its connections or lost them.
     */
    static ObjectNode reauthProduce(JsonNode req) throws Exception {
        Properties p = Driver.common(req);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        String topic = req.get("topic").asText();
        long until = System.nanoTime() + req.path("seconds").asLong(10) * 1_000_000_000L;
        long interval = req.path("intervalMs").asLong(100);
        ObjectNode o = Driver.obj();
        long acked = 0;
        ArrayNode failed = Driver.JSON.createArrayNode();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            while (System.nanoTime() < until) {
                try {
                    producer.send(new ProducerRecord<>(topic, null, ("reauth-" + acked).getBytes())).get();
                    acked++;
                } catch (Exception e) {
                    Driver.noteError(e);
                    if (failed.size() < 10) {
                        failed.add(Errors.forException(Driver.cause(e)).name());
                    }
                }
                Thread.sleep(interval);
            }
            o.set("metrics", metrics(producer.metrics(), "producer-metrics", "authentication", "connection-close-total",
                    "connection-creation-total"));
        }
        o.put("records", acked);
        o.set("failed", failed);
        return o;
    }

    static ObjectNode consume(JsonNode req) throws Exception {
        Properties p = Driver.common(req);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        int maxFetch = req.path("maxFetchBytes").asInt(65536);
        p.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, String.valueOf(maxFetch));
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, String.valueOf(maxFetch));
        String topic = req.get("topic").asText();
        long count = req.get("count").asLong();
        long timeoutMs = req.path("timeoutMs").asLong(120_000);
        ObjectNode o = Driver.obj();
        long n = 0;
        long bytes = 0;
        long t0;
        long t1;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo pi : c.partitionsFor(topic)) {
                tps.add(new TopicPartition(topic, pi.partition()));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            t0 = System.nanoTime();
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (n < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    n++;
                    bytes += r.value() == null ? 0 : r.value().length;
                }
            }
            t1 = System.nanoTime();
            o.set("metrics", metrics(c.metrics(), "consumer-fetch-manager-metrics", "throttle", "bytes-consumed-rate",
                    "bytes-consumed-total"));
        }
        o.put("records", n);
        o.put("bytes", bytes);
        o.put("elapsedMs", (t1 - t0) / 1_000_000.0);
        return o;
    }
}
