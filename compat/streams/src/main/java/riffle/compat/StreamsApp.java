package riffle.compat;

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/**
 * A stateful Kafka Streams application for the compatibility suite:
 *
 * <pre>java -cp 'target/kafka-VERSION/lib/*' riffle.compat.StreamsApp BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR GUARANTEE [REPLICATION_FACTOR [ECHO]]</pre>
 *
 * Input records: key "k&lt;n&gt;", value "&lt;sequence&gt;" (the key's own counter). The
 * application regroups them by "g&lt;n mod 10&gt;" (a repartition topic) and aggregates each
 * group into "count,max" (a state store backed by a compacted changelog topic): how many
 * records the group has seen, and the highest sequence among them. Every update goes to
 * OUTPUT as "count,max". The max is unchanged by reprocessing, so it is exact even under
 * at-least-once after a crash; the count is exact when no instance died.
 *
 * REPLICATION_FACTOR (default 1) is that of the internal topics (repartition, changelog;
 * above 1 they also get min.insync.replicas=2), for a cluster. With ECHO, every input
 * record is also written to ECHO unchanged (key "k&lt;n&gt;", value "&lt;sequence&gt;"),
 * so that each input's own result can be found there.
 *
 * Prints "state RUNNING" etc. on stdout as the state changes, and once RUNNING "producers "
 * with the client ids of its producers; closes cleanly (exit 0) when stdin says "stop" or ends.
 */
public final class StreamsApp {
    private StreamsApp() {}

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String appId = args[1];
        String input = args[2];
        String output = args[3];
        String stateDir = args[4];
        String guarantee = args[5];
        int replicationFactor = args.length > 6 ? Integer.parseInt(args[6]) : 1;
        String echo = args.length > 7 ? args[7] : null;

        StreamsBuilder b = new StreamsBuilder();
        org.apache.kafka.streams.kstream.KStream<String, String> source =
            b.stream(input, Consumed.with(Serdes.String(), Serdes.String()));
        if (echo != null) {
            source.to(echo, Produced.with(Serdes.String(), Serdes.String()));
        }
        source
            .map((k, v) -> KeyValue.pair("g" + (Integer.parseInt(k.substring(1)) % 10), v))
            .groupByKey(Grouped.with("by-group", Serdes.String(), Serdes.String()))
            .aggregate(() -> "0,-1",
                (group, seq, agg) -> {
                    String[] a = agg.split(",");
                    long count = Long.parseLong(a[0]) + 1;
                    long max = Math.max(Long.parseLong(a[1]), Long.parseLong(seq));
                    return count + "," + max;
                },
                Materialized.<String, String, org.apache.kafka.streams.state.KeyValueStore<org.apache.kafka.common.utils.Bytes, byte[]>>as("group-aggregate")
                    .withKeySerde(Serdes.String()).withValueSerde(Serdes.String()))
            .toStream()
            .to(output, Produced.with(Serdes.String(), Serdes.String()));

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, replicationFactor);
        if (replicationFactor > 1) {
            p.put(StreamsConfig.topicPrefix("min.insync.replicas"), "2");
        }
        // purge consumed repartition records often (DeleteRecords), not every 30 s
        p.put(StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, 1000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 500);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.METADATA_MAX_AGE_CONFIG), 2000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            System.out.println("state " + now);
            if (now == KafkaStreams.State.RUNNING) {
                // the client ids of its producers (exactly-once: one transactional producer per thread)
                try {
                    java.util.List<String> ids = new java.util.ArrayList<>();
                    streams.metadataForLocalThreads().forEach(t -> ids.addAll(t.producerClientIds()));
                    System.out.println("producers " + String.join(",", ids));
                } catch (IllegalStateException e) {
                    // no longer running: nothing to name
                }
            }
            System.out.flush();
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                done.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.out.println("error " + e);
            System.out.flush();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Thread stdin = new Thread(() -> {
            try {
                java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));
                String line;
                while ((line = in.readLine()) != null && !line.trim().equals("stop")) {
                    // only "stop" means anything
                }
            } catch (java.io.IOException e) {
                // stdin gone: stop as well
            }
            done.countDown();
        });
        stdin.setDaemon(true);
        stdin.start();
        streams.start();
        done.await();
        boolean closed = streams.close(Duration.ofSeconds(30));
        System.out.println("closed " + closed);
        System.out.flush();
        System.exit(closed && streams.state() == KafkaStreams.State.NOT_RUNNING ? 0 : 1);
    }
}
