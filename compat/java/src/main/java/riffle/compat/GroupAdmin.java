package riffle.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberAssignment;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.protocol.Errors;

/**
 * Group administration for the consumer group protocol (KIP-848), driver commands:
 *
 * <ul>
 * <li>{@code describe-groups} {bootstrap, groups}: Admin.describeConsumerGroups (ConsumerGroupDescribe
 * for a consumer group, DescribeGroups for a classic one): per group its type, state, assignor,
 * group epoch, target assignment epoch and members (member id, instance id, client id, host,
 * assignment, target assignment, member epoch, upgraded), or its error name;</li>
 * <li>{@code list-groups} {bootstrap, types}: the groups Admin.listGroups and
 * Admin.listConsumerGroups list with {@code withTypes(types)} (ListGroups with a type filter):
 * group id, type, protocol, state.</li>
 * </ul>
 *
 * The accessors kafka-clients 3.9 lacks (member epochs, target assignments, group epochs,
 * listGroups) are called reflectively, so that the file compiles against both client
 * versions; a value the client does not know is left out, an empty Optional is null.
 */
final class GroupAdmin {
    private GroupAdmin() {}

    /** A getter's value (an Optional unwrapped: empty is null), or NONE if the client has no such method. */
    private static final Object NONE = new Object();

    private static Object get(Object target, String method) throws Exception {
        Method m;
        try {
            m = target.getClass().getMethod(method);
        } catch (NoSuchMethodException e) {
            return NONE;
        }
        Object v;
        try {
            v = m.invoke(target);
        } catch (InvocationTargetException e) {
            throw e.getCause() instanceof Exception c ? c : e;
        }
        if (v instanceof Optional<?> o) {
            return o.orElse(null);
        }
        return v;
    }

    private static void put(ObjectNode o, String key, Object v) {
        if (v == NONE) {
            return;
        }
        if (v == null) {
            o.putNull(key);
        } else if (v instanceof Integer i) {
            o.put(key, i);
        } else if (v instanceof Boolean b) {
            o.put(key, b);
        } else if (v instanceof Enum<?> e) {
            o.put(key, e.name());  // GroupType.CONSUMER, GroupState.STABLE (toString says "Consumer", "Stable")
        } else if (v instanceof MemberAssignment ma) {
            o.set(key, parts(ma.topicPartitions()));
        } else {
            o.put(key, String.valueOf(v));
        }
    }

    private static ArrayNode parts(Collection<TopicPartition> tps) {
        ArrayNode arr = Driver.JSON.createArrayNode();
        List<TopicPartition> sorted = new ArrayList<>(tps);
        sorted.sort((x, y) -> x.topic().equals(y.topic()) ? Integer.compare(x.partition(), y.partition())
            : x.topic().compareTo(y.topic()));
        for (TopicPartition tp : sorted) {
            arr.add(Driver.JSON.createArrayNode().add(tp.topic()).add(tp.partition()));
        }
        return arr;
    }

    static ObjectNode describe(JsonNode req) throws Exception {
        List<String> ids = new ArrayList<>();
        req.get("groups").forEach(g -> ids.add(g.asText()));
        ObjectNode groups = Driver.obj();
        try (Admin a = Driver.admin(req)) {
            var res = a.describeConsumerGroups(ids).describedGroups();
            for (String id : ids) {
                ObjectNode g = Driver.obj();
                try {
                    ConsumerGroupDescription d = res.get(id).get();
                    put(g, "type", get(d, "type"));
                    Object state = get(d, "groupState");
                    put(g, "state", state == NONE ? get(d, "state") : state);
                    g.put("assignor", d.partitionAssignor());
                    put(g, "group_epoch", get(d, "groupEpoch"));
                    put(g, "target_assignment_epoch", get(d, "targetAssignmentEpoch"));
                    g.put("coordinator", d.coordinator() == null ? -1 : d.coordinator().id());
                    ArrayNode members = Driver.JSON.createArrayNode();
                    for (MemberDescription m : d.members()) {
                        ObjectNode o = Driver.obj();
                        o.put("member_id", m.consumerId());
                        o.put("instance_id", m.groupInstanceId().orElse(null));
                        o.put("client_id", m.clientId());
                        o.put("host", m.host());
                        o.set("assignment", parts(m.assignment().topicPartitions()));
                        put(o, "target_assignment", get(m, "targetAssignment"));
                        put(o, "member_epoch", get(m, "memberEpoch"));
                        put(o, "upgraded", get(m, "upgraded"));
                        members.add(o);
                    }
                    g.set("members", members);
                } catch (Exception e) {
                    Throwable c = Driver.cause(e);
                    Driver.noteError(c);
                    g.put("error", Errors.forException(c).name());
                    g.put("message", String.valueOf(c.getMessage()));
                }
                groups.set(id, g);
            }
        }
        ObjectNode o = Driver.obj();
        o.set("groups", groups);
        return o;
    }

    static ObjectNode list(JsonNode req) throws Exception {
        Set<GroupType> types = new HashSet<>();
        req.path("types").forEach(t -> types.add(GroupType.parse(t.asText())));
        ObjectNode o = Driver.obj();
        try (Admin a = Driver.admin(req)) {
            // Admin.listGroups(ListGroupsOptions.withTypes) (kafka-clients 4.x)
            try {
                Class<?> optsClass = Class.forName("org.apache.kafka.clients.admin.ListGroupsOptions");
                Object opts = optsClass.getConstructor().newInstance();
                opts = optsClass.getMethod("withTypes", Set.class).invoke(opts, types);
                Object result = Admin.class.getMethod("listGroups", optsClass).invoke(a, opts);
                Object all = result.getClass().getMethod("all").invoke(result);
                o.set("list_groups", listings((Collection<?>) Driver.get((org.apache.kafka.common.KafkaFuture<?>) all)));
            } catch (ClassNotFoundException e) {
                // kafka-clients 3.x: no listGroups
            } catch (InvocationTargetException e) {
                throw e.getCause() instanceof Exception c ? c : e;
            }
            var opts = new org.apache.kafka.clients.admin.ListConsumerGroupsOptions().withTypes(types);
            o.set("list_consumer_groups", listings(Driver.get(a.listConsumerGroups(opts).all())));
        }
        return o;
    }

    private static ArrayNode listings(Collection<?> ls) throws Exception {
        ArrayNode arr = Driver.JSON.createArrayNode();
        for (Object l : ls) {
            ObjectNode g = Driver.obj();
            put(g, "group_id", get(l, "groupId"));
            put(g, "type", get(l, "type"));
            put(g, "protocol", get(l, "protocol"));
            Object state = get(l, "groupState");
            put(g, "state", state == NONE ? get(l, "state") : state);
            arr.add(g);
        }
        return arr;
    }
}
