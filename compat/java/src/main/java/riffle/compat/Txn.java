package riffle.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The transactional commands of the driver (scenarios/transactions.py):
 *
 * <ul>
 * <li>txn-produce: one transactional producer, one transaction after the other, each
 * committed, aborted or left open ("open": the driver answers and exits without ending
 * it or closing the producer). Answers every message's [partition, offset].</li>
 * <li>txn-fence: producer A begins and writes "first"; producer B with the same
 * transactional.id initialises (fencing A); A sends "after" and commits (both must fail);
 * B writes "second" and commits.</li>
 * <li>txn-ctp: consume (group, read_committed, no auto commit) - transform - produce, the
 * consumed offsets sent to each transaction; batch "abortBatch" is aborted and
 * reprocessed from the positions before it.</li>
 * </ul>
 */
final class Txn {
    private Txn() {}

    static Properties producerProps(JsonNode req, String transactionalId) {
        Properties p = Driver.common(req);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        if (req.hasNonNull("transactionTimeoutMs")) {
            p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, req.get("transactionTimeoutMs").asText());
        }
        return p;
    }

    static ProducerRecord<byte[], byte[]> record(String topic, JsonNode m) {
        RecordHeaders headers = new RecordHeaders();
        for (JsonNode h : m.path("headers")) {
            headers.add(h.get(0).asText(), Driver.unb64(h.get(1)));
        }
        Integer partition = m.hasNonNull("partition") ? m.get("partition").asInt() : null;
        Long ts = m.hasNonNull("timestamp") ? m.get("timestamp").asLong() : null;
        return new ProducerRecord<>(topic, partition, ts, Driver.unb64(m.get("key")), Driver.unb64(m.get("value")), headers);
    }

    /** Sends the messages, flushes, and answers their [partition, offset] (throws on a failed send). */
    static ArrayNode sendAll(KafkaProducer<byte[], byte[]> producer, String topic, JsonNode messages) throws Exception {
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (JsonNode m : messages) {
            sent.add(producer.send(record(topic, m)));
        }
        producer.flush();
        ArrayNode acks = Driver.JSON.createArrayNode();
        for (Future<RecordMetadata> f : sent) {
            try {
                RecordMetadata md = f.get();
                acks.add(Driver.JSON.createArrayNode().add(md.partition()).add(md.offset()));
            } catch (ExecutionException e) {
                Driver.noteError(e);
                throw e;
            }
        }
        return acks;
    }

    /** The Kafka name of an error: the first cause with one, else the class name. */
    static String errorName(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            Errors err = Errors.forException(c);
            if (err != Errors.UNKNOWN_SERVER_ERROR) {
                return err.name();
            }
        }
        return Driver.cause(e).getClass().getSimpleName();
    }

    static ObjectNode produce(JsonNode req) throws Exception {
        String topic = req.get("topic").asText();
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(req, req.get("transactionalId").asText()));
        boolean open = false;
        ArrayNode acks = Driver.JSON.createArrayNode();
        try {
            producer.initTransactions();
            for (JsonNode t : req.get("transactions")) {
                producer.beginTransaction();
                acks.addAll(sendAll(producer, topic, t.get("messages")));
                switch (t.get("outcome").asText()) {
                    case "commit" -> producer.commitTransaction();
                    case "abort" -> producer.abortTransaction();
                    case "open" -> open = true;
                    default -> throw new IllegalArgumentException("unknown outcome " + t.get("outcome"));
                }
                if (open) {
                    break;
                }
            }
        } catch (Exception e) {
            Driver.noteError(e);
            throw e;
        } finally {
            // an open transaction stays open: main() answers and exits, nothing ends it
            if (!open) {
                producer.close(Duration.ofSeconds(30));
            }
        }
        ObjectNode o = Driver.obj();
        o.set("acks", acks);
        o.put("leftOpen", open);
        return o;
    }

    static ObjectNode fence(JsonNode req) throws Exception {
        String topic = req.get("topic").asText();
        String id = req.get("transactionalId").asText();
        ObjectNode o = Driver.obj();
        KafkaProducer<byte[], byte[]> a = new KafkaProducer<>(producerProps(req, id));
        KafkaProducer<byte[], byte[]> b = null;
        try {
            a.initTransactions();
            a.beginTransaction();
            o.set("first", sendAll(a, topic, req.get("first")));
            b = new KafkaProducer<>(producerProps(req, id));
            b.initTransactions(); // fences A, whose open transaction the coordinator aborts
            String sendError = null;
            boolean afterAcked = false;
            try {
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                for (JsonNode m : req.get("after")) {
                    sent.add(a.send(record(topic, m)));
                }
                a.flush();
                for (Future<RecordMetadata> f : sent) {
                    f.get();
                }
                afterAcked = true;
            } catch (Exception e) {
                Driver.noteError(e);
                sendError = errorName(e);
                System.err.println("A's send after the fencing: " + e);
            }
            o.put("sendError", sendError);
            o.put("afterAcked", afterAcked);
            String commitError = null;
            try {
                a.commitTransaction();
            } catch (Exception e) {
                Driver.noteError(e);
                commitError = errorName(e);
                System.err.println("A's commit after the fencing: " + e);
            }
            o.put("commitError", commitError);
            b.beginTransaction();
            o.set("second", sendAll(b, topic, req.get("second")));
            b.commitTransaction();
        } catch (Exception e) {
            Driver.noteError(e);
            throw e;
        } finally {
            a.close(Duration.ofSeconds(5));
            if (b != null) {
                b.close(Duration.ofSeconds(30));
            }
        }
        return o;
    }

    static byte[] transform(byte[] v) {
        byte[] prefix = "out|".getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[prefix.length + v.length];
        System.arraycopy(prefix, 0, out, 0, prefix.length);
        System.arraycopy(v, 0, out, prefix.length, v.length);
        return out;
    }

    static ObjectNode ctp(JsonNode req) throws Exception {
        String input = req.get("input").asText();
        String output = req.get("output").asText();
        int expected = req.get("expected").asInt();
        int abortBatch = req.path("abortBatch").asInt(2);
        long deadline = System.currentTimeMillis() + req.path("timeoutMs").asLong(180_000);
        Properties cp = Driver.common(req);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, req.get("group").asText());
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, req.path("maxPoll").asText("20"));
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        ObjectNode o = Driver.obj();
        ArrayNode outputs = o.putArray("outputs");
        ArrayNode aborted = o.putArray("aborted");
        Map<Integer, Long> committed = new TreeMap<>();
        int batches = 0;
        int processed = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cp);
             KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(req, req.get("transactionalId").asText()))) {
            producer.initTransactions();
            consumer.subscribe(List.of(input));
            Set<TopicPartition> all = new HashSet<>();
            consumer.partitionsFor(input, Duration.ofSeconds(30)).forEach(pi -> all.add(new TopicPartition(input, pi.partition())));
            while (processed < expected) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("consume-transform-produce: " + processed + " of " + expected + " processed in time");
                }
                ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(500));
                if (recs.isEmpty()) {
                    continue;
                }
                int n = batches++;
                producer.beginTransaction();
                Map<TopicPartition, Long> first = new LinkedHashMap<>();
                Map<TopicPartition, OffsetAndMetadata> next = new LinkedHashMap<>();
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                List<byte[]> values = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    byte[] v = transform(r.value());
                    values.add(v);
                    sent.add(producer.send(new ProducerRecord<>(output, r.partition(), r.key(), v)));
                    first.putIfAbsent(tp, r.offset());
                    next.put(tp, new OffsetAndMetadata(r.offset() + 1));
                }
                producer.sendOffsetsToTransaction(next, consumer.groupMetadata());
                producer.flush();
                ArrayNode acked = Driver.JSON.createArrayNode();
                for (int i = 0; i < sent.size(); i++) {
                    RecordMetadata md = sent.get(i).get();
                    acked.add(Driver.JSON.createArrayNode().add(md.partition()).add(md.offset()).add(Driver.b64(values.get(i))));
                }
                if (n == abortBatch) {
                    producer.abortTransaction();
                    aborted.addAll(acked);
                    ObjectNode before = o.putObject("committedBefore");
                    committed.forEach((p, off) -> before.put(String.valueOf(p), off));
                    o.set("committedAfterAbort", committedAtLeast(consumer, all, committed));
                    // reprocess from the positions before the aborted batch
                    first.forEach(consumer::seek);
                } else {
                    producer.commitTransaction();
                    next.forEach((tp, om) -> committed.put(tp.partition(), om.offset()));
                    outputs.addAll(acked);
                    processed += recs.count();
                }
            }
        } catch (Exception e) {
            Driver.noteError(e);
            throw e;
        }
        o.put("batches", batches);
        o.put("abortedBatch", abortBatch);
        if (!o.has("committedBefore")) {
            o.putObject("committedBefore");
            o.putObject("committedAfterAbort");
        }
        return o;
    }

    /**
     * The group's committed offsets (KafkaConsumer.committed: with read_committed it asks
     * for stable offsets), once each is at least what the committed transactions stored.
     */
    static ObjectNode committedAtLeast(KafkaConsumer<byte[], byte[]> consumer, Set<TopicPartition> all, Map<Integer, Long> committed) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 60_000;
        Map<Integer, Long> got = new TreeMap<>();
        while (true) {
            got.clear();
            Map<TopicPartition, OffsetAndMetadata> c = consumer.committed(all, Duration.ofSeconds(30));
            boolean ok = true;
            for (TopicPartition tp : all) {
                OffsetAndMetadata om = c.get(tp);
                long v = om == null ? -1 : om.offset();
                got.put(tp.partition(), v);
                if (v < committed.getOrDefault(tp.partition(), -1L)) {
                    ok = false;
                }
            }
            if (ok || System.currentTimeMillis() > deadline) {
                break;
            }
            Thread.sleep(200);
        }
        ObjectNode out = Driver.obj();
        got.forEach((p, v) -> out.put(String.valueOf(p), v));
        return out;
    }
}
