package main

// Partition reassignment (KIP-455) through kadm: the reassign and list-reassignments
// and unregister-broker commands. Only franz-go has them: the cluster scenarios run the Java client and
// franz-go.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// reassigner is what a client needs for the reassignment commands.
type reassigner interface {
	Reassign(r *Request) (map[string]string, error)
	ListReassignments(r *Request) (map[string]map[string][]int32, error)
	UnregisterBroker(r *Request) (string, error)
}

// UnregisterBroker sends UnregisterBroker for r.Broker (kadm has no helper: the raw
// request through the client) and answers its Kafka error name.
func (f *Franz) UnregisterBroker(r *Request) (string, error) {
	cl, err := franzClient(r)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = r.Broker
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		noteError(err)
		return errName(err), nil
	}
	return "NONE", nil
}

// Reassign asks for each partition of r.Targets (null: cancel its reassignment) and
// answers each partition's outcome by its Kafka error name ("NONE" on success).
func (f *Franz) Reassign(r *Request) (map[string]string, error) {
	return withAdmin(r, 60_000, func(ctx context.Context, adm *kadm.Client) (map[string]string, error) {
		var req kadm.AlterPartitionAssignmentsReq
		for p, target := range r.Targets {
			idx, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("partition %q: %w", p, err)
			}
			if target == nil {
				req.CancelAssign(r.Topic, int32(idx))
			} else {
				req.Assign(r.Topic, int32(idx), *target)
			}
		}
		res, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, ps := range res {
			for p, pr := range ps {
				out[strconv.Itoa(int(p))] = "NONE"
				if pr.Err != nil {
					noteError(pr.Err)
					out[strconv.Itoa(int(p))] = errName(pr.Err)
				}
			}
		}
		return out, nil
	})
}

// ListReassignments answers the ongoing reassignments of the topic's partitions 0 to
// r.Partitions-1 (a topic named without partitions lists none, in Kafka as here):
// partition → {"replicas", "adding", "removing"}.
func (f *Franz) ListReassignments(r *Request) (map[string]map[string][]int32, error) {
	return withAdmin(r, 60_000, func(ctx context.Context, adm *kadm.Client) (map[string]map[string][]int32, error) {
		var set kadm.TopicsSet
		for p := int32(0); p < r.Partitions; p++ {
			set.Add(r.Topic, p)
		}
		res, err := adm.ListPartitionReassignments(ctx, set)
		if err != nil {
			return nil, err
		}
		out := map[string]map[string][]int32{}
		for _, pr := range res[r.Topic] {
			out[strconv.Itoa(int(pr.Partition))] = map[string][]int32{"replicas": pr.Replicas, "adding": pr.AddingReplicas, "removing": pr.RemovingReplicas}
		}
		return out, nil
	})
}
