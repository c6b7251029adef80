package riffle.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.LinkedBlockingQueue;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One consumer-group member, as harness/group_worker.py is for the Python clients: the
 * first stdin line is its configuration (bootstrap, group, topics, client_id,
 * session_timeout_ms, heartbeat_ms, strategy, instance_id, max_poll, stop_after,
 * after_stop, commit_every, batch_delay_ms, offset_reset, group_protocol, remote_assignor,
 * pattern); later lines
 * are commands ("ids", "close", "exit"). Events are JSON lines on stdout: started,
 * assign, revoke, lost, recs, commit, commit_failed, error, stopped_after, ids, closed,
 * fatal. Every record handed to the application is reported, and its offset committed
 * synchronously after the batch and when its partition is revoked.
 *
 * <p>With group_protocol "consumer" (KIP-848) the session timeout, heartbeat interval and
 * assignor are the broker's (remote_assignor sets group.remote.assignor) and rebalances are
 * incremental; pattern subscribes to a regular expression the broker resolves
 * (subscribe(SubscriptionPattern), kafka-clients 4.x: called reflectively, so that this
 * file still compiles against 3.9).
 */
final class GroupWorker {
    private final PrintStream out;
    private final JsonNode cfg;
    private final Map<TopicPartition, Long> processed = new HashMap<>();
    private final Set<TopicPartition> uncommitted = new HashSet<>();
    private final LinkedBlockingQueue<String> commands = new LinkedBlockingQueue<>();
    private final boolean incremental;
    private final Long stopAfter;
    private final int commitEvery;
    private final long delayMs;
    private KafkaConsumer<byte[], byte[]> consumer;
    private long count;
    private long batches;

    private GroupWorker(PrintStream out, JsonNode cfg) {
        this.out = out;
        this.cfg = cfg;
        this.incremental = cfg.path("strategy").asText("range").equals("cooperative-sticky")
            || cfg.path("group_protocol").asText("classic").equals("consumer");
        this.stopAfter = cfg.hasNonNull("stop_after") ? cfg.get("stop_after").asLong() : null;
        this.commitEvery = Math.max(1, cfg.path("commit_every").asInt(1));
        this.delayMs = cfg.path("batch_delay_ms").asLong(0);
    }

    static int run(PrintStream out) {
        GroupWorker w = null;
        try {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String first = in.readLine();
            w = new GroupWorker(out, Driver.JSON.readTree(first));
            GroupWorker self = w;
            Thread reader = new Thread(() -> {
                try {
                    String line;
                    while ((line = in.readLine()) != null) {
                        if (!line.isBlank()) {
                            self.commands.add(line.trim());
                        }
                    }
                } catch (Exception e) {
                    // stdin gone: treated as end of input
                }
                self.commands.add("eof");
            });
            reader.setDaemon(true);
            reader.start();
            return w.loop();
        } catch (Throwable e) {
            ObjectNode o = Driver.obj();
            o.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
            emit(out, "fatal", o);
            return 2;
        }
    }

    private static synchronized void emit(PrintStream out, String ev, ObjectNode o) {
        o.put("ev", ev);
        o.put("t", System.currentTimeMillis() / 1000.0);
        out.println(o.toString());
        out.flush();
    }

    private void emit(String ev, ObjectNode o) {
        emit(out, ev, o);
    }

    private ArrayNode parts(Collection<TopicPartition> tps) {
        ArrayNode arr = Driver.JSON.createArrayNode();
        TreeSet<String> sorted = new TreeSet<>();
        Map<String, TopicPartition> byKey = new HashMap<>();
        for (TopicPartition tp : tps) {
            String k = tp.topic() + "\t" + String.format("%09d", tp.partition());
            sorted.add(k);
            byKey.put(k, tp);
        }
        for (String k : sorted) {
            TopicPartition tp = byKey.get(k);
            arr.add(Driver.JSON.createArrayNode().add(tp.topic()).add(tp.partition()));
        }
        return arr;
    }

    private ObjectNode ids() {
        ObjectNode o = Driver.obj();
        try {
            var meta = consumer.groupMetadata();
            o.put("member_id", meta.memberId());
            o.put("generation", meta.generationId());
        } catch (Exception e) {
            // not in a group yet
        }
        return o;
    }

    private void open() throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", cfg.get("bootstrap").asText());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, cfg.get("group").asText());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, cfg.path("client_id").asText("compat-java-group-worker"));
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, cfg.path("offset_reset").asText("earliest"));
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, String.valueOf(cfg.path("max_poll").asInt(200)));
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "100");
        p.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, "2000");
        String protocol = cfg.path("group_protocol").asText("classic");
        if (!protocol.equals("classic")) {
            p.put("group.protocol", protocol);
        } else {
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, String.valueOf(cfg.path("session_timeout_ms").asInt(6000)));
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, String.valueOf(cfg.path("heartbeat_ms").asInt(500)));
            String assignor = switch (cfg.path("strategy").asText("range")) {
                case "roundrobin" -> RoundRobinAssignor.class.getName();
                case "cooperative-sticky" -> CooperativeStickyAssignor.class.getName();
                default -> RangeAssignor.class.getName();
            };
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignor);
        }
        if (cfg.hasNonNull("instance_id")) {
            p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, cfg.get("instance_id").asText());
        }
        if (cfg.hasNonNull("remote_assignor")) {
            p.put("group.remote.assignor", cfg.get("remote_assignor").asText());
        }
        consumer = new KafkaConsumer<>(p);
        List<String> topics = new ArrayList<>();
        cfg.get("topics").forEach(t -> topics.add(t.asText()));
        ConsumerRebalanceListener listener = new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> revoked) {
                commitPending(new HashSet<>(revoked), "revoke");
                for (TopicPartition tp : revoked) {
                    uncommitted.remove(tp);
                    processed.remove(tp);
                }
                ObjectNode o = Driver.obj();
                o.set("parts", parts(revoked));
                o.put("incremental", incremental);
                // what stays assigned (inside the callback assignment() still holds the revoked ones)
                Set<TopicPartition> left = new HashSet<>(consumer.assignment());
                left.removeAll(revoked);
                o.set("assignment", parts(left));
                emit("revoke", o);
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> assigned) {
                ObjectNode o = ids();
                o.set("parts", parts(assigned));
                o.put("incremental", incremental);
                o.set("assignment", parts(consumer.assignment()));
                emit("assign", o);
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> lost) {
                for (TopicPartition tp : lost) {
                    uncommitted.remove(tp);
                    processed.remove(tp);
                }
                ObjectNode o = Driver.obj();
                o.set("parts", parts(lost));
                emit("lost", o);
            }
        };
        if (cfg.hasNonNull("pattern")) {
            // subscribe(SubscriptionPattern, listener): a regex resolved by the broker (KIP-848)
            Class<?> sp = Class.forName("org.apache.kafka.clients.consumer.SubscriptionPattern");
            Object pattern = sp.getConstructor(String.class).newInstance(cfg.get("pattern").asText());
            try {
                KafkaConsumer.class.getMethod("subscribe", sp, ConsumerRebalanceListener.class).invoke(consumer, pattern, listener);
            } catch (java.lang.reflect.InvocationTargetException e) {
                throw e.getCause() instanceof Exception c ? c : e;
            }
        } else {
            consumer.subscribe(topics, listener);
        }
    }

    private boolean commitPending(Set<TopicPartition> only, String where) {
        Map<TopicPartition, OffsetAndMetadata> offs = new HashMap<>();
        for (TopicPartition tp : uncommitted) {
            if (only == null || only.contains(tp)) {
                offs.put(tp, new OffsetAndMetadata(processed.get(tp)));
            }
        }
        if (offs.isEmpty()) {
            return true;
        }
        ArrayNode list = Driver.JSON.createArrayNode();
        offs.forEach((tp, o) -> list.add(Driver.JSON.createArrayNode().add(tp.topic()).add(tp.partition()).add(o.offset())));
        try {
            consumer.commitSync(offs);
        } catch (KafkaException e) {
            Driver.noteError(e);
            ObjectNode o = Driver.obj();
            o.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
            o.put("where", where);
            o.set("offsets", list);
            emit("commit_failed", o);
            return false;
        }
        offs.forEach((tp, o) -> {
            if (processed.get(tp) == o.offset()) {
                uncommitted.remove(tp);
            }
        });
        ObjectNode o = Driver.obj();
        o.put("where", where);
        o.set("offsets", list);
        emit("commit", o);
        return true;
    }

    /** Processes records up to stop_after; true if some were left unprocessed. */
    private boolean process(ConsumerRecords<byte[], byte[]> recs) {
        ArrayNode out = Driver.JSON.createArrayNode();
        int total = 0;
        for (ConsumerRecord<byte[], byte[]> r : recs) {
            total++;
            if (stopAfter != null && count >= stopAfter) {
                continue;
            }
            TopicPartition tp = new TopicPartition(r.topic(), r.partition());
            out.add(Driver.JSON.createArrayNode().add(r.topic()).add(r.partition()).add(r.offset())
                .add(r.value() == null ? null : new String(r.value(), StandardCharsets.UTF_8)));
            processed.put(tp, r.offset() + 1);
            uncommitted.add(tp);
            count++;
        }
        if (!out.isEmpty()) {
            ObjectNode o = Driver.obj();
            o.set("recs", out);
            emit("recs", o);
        }
        return out.size() < total;
    }

    /** Moves every partition back to its processed position, so nothing beyond it is read or committed. */
    private void rewind() {
        for (TopicPartition tp : consumer.assignment()) {
            Long next = processed.get(tp);
            if (next != null) {
                consumer.seek(tp, next);
            }
        }
    }

    private int loop() throws Exception {
        open();
        emit("started", ids());
        boolean holding = false;
        while (true) {
            String cmd = commands.poll();
            if ("exit".equals(cmd)) {
                Runtime.getRuntime().halt(3);
            }
            if ("close".equals(cmd) || "eof".equals(cmd)) {
                break;
            }
            if ("ids".equals(cmd)) {
                emit("ids", ids());
            }
            ConsumerRecords<byte[], byte[]> recs;
            try {
                recs = consumer.poll(Duration.ofMillis(100));
            } catch (WakeupException e) {
                continue;
            } catch (KafkaException e) {
                Driver.noteError(e);
                ObjectNode o = Driver.obj();
                o.put("error", "poll: " + e.getClass().getSimpleName() + ": " + e.getMessage());
                emit("error", o);
                continue;
            }
            if (holding) {
                consumer.pause(consumer.assignment());
                continue;
            }
            if (recs.isEmpty()) {
                continue;
            }
            boolean cut = process(recs);
            batches++;
            boolean reached = stopAfter != null && count >= stopAfter;
            if (batches % commitEvery == 0 || cut || reached) {
                commitPending(null, "batch");
            }
            if (cut || reached) {
                rewind();
                ObjectNode o = Driver.obj();
                o.put("count", count);
                emit("stopped_after", o);
                if (cfg.path("after_stop").asText("").equals("hold")) {
                    consumer.pause(consumer.assignment());
                    holding = true;
                    continue;
                }
                break;
            }
            if (delayMs > 0) {
                Thread.sleep(delayMs);
            }
        }
        commitPending(null, "close");
        consumer.close(Duration.ofSeconds(30));
        ObjectNode o = Driver.obj();
        o.put("count", count);
        emit("closed", o);
        return 0;
    }
}
