package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Franz drives franz-go: kgo for producing and consuming, kadm for administration.
type Franz struct{}

func ctxTimeout(ms int64) (context.Context, context.CancelFunc) {
	if ms <= 0 {
		ms = 60_000
	}
	return context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
}

// franzLogger: franz-go's own log on stderr, at warn (COMPAT_GO_LOG=debug for more).
func franzLogger() kgo.Opt {
	level := kgo.LogLevelWarn
	switch os.Getenv("COMPAT_GO_LOG") {
	case "debug":
		level = kgo.LogLevelDebug
	case "info":
		level = kgo.LogLevelInfo
	}
	return kgo.WithLogger(kgo.BasicLogger(os.Stderr, level, nil))
}

func franzClient(r *Request, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(strings.Split(r.Bootstrap, ",")...), kgo.ClientID("riffle-compat-franz-go"), franzLogger()}
	sec, err := franzSecurityOpts()
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(append(append(base, sec...), opts...)...)
}

func franzAdmin(r *Request) (*kadm.Client, func(), error) {
	cl, err := franzClient(r)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// withAdmin runs fn with a kadm client and a context bounded by timeoutMs.
func withAdmin[T any](r *Request, timeoutMs int64, fn func(context.Context, *kadm.Client) (T, error)) (T, error) {
	adm, done, err := franzAdmin(r)
	if err != nil {
		var zero T
		return zero, err
	}
	defer done()
	ctx, cancel := ctxTimeout(timeoutMs)
	defer cancel()
	return fn(ctx, adm)
}

func (f *Franz) Version() map[string]any {
	return map[string]any{"franz_go": moduleVersion("github.com/twmb/franz-go"), "kadm": moduleVersion("github.com/twmb/franz-go/pkg/kadm")}
}

func (f *Franz) CreateTopic(r *Request) error {
	_, err := withAdmin(r, 60_000, func(ctx context.Context, adm *kadm.Client) (struct{}, error) {
		configs := map[string]*string{}
		for k, v := range r.Configs {
			configs[k] = ptr(v)
		}
		res, err := adm.CreateTopic(ctx, r.Partitions, r.replicationFactor(), configs, r.Topic)
		if err == nil {
			err = res.Err
		}
		return struct{}{}, err
	})
	return err
}

func (f *Franz) DeleteTopic(r *Request) error {
	_, err := withAdmin(r, 60_000, func(ctx context.Context, adm *kadm.Client) (struct{}, error) {
		res, err := adm.DeleteTopic(ctx, r.Topic)
		if err == nil {
			err = res.Err
		}
		return struct{}{}, err
	})
	return err
}

func franzCodec(name string) []kgo.CompressionCodec {
	switch name {
	case "gzip":
		return []kgo.CompressionCodec{kgo.GzipCompression()}
	case "snappy":
		return []kgo.CompressionCodec{kgo.SnappyCompression()}
	case "lz4":
		return []kgo.CompressionCodec{kgo.Lz4Compression()}
	case "zstd":
		return []kgo.CompressionCodec{kgo.ZstdCompression()}
	}
	return []kgo.CompressionCodec{kgo.NoCompression()}
}

func (f *Franz) Produce(r *Request) ([][2]int64, [][3]any, error) {
	opts := []kgo.Opt{
		kgo.ProducerBatchCompression(franzCodec(r.Compression)...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
		// no RecordDeliveryTimeout: franz-go counts it from each record's Timestamp,
		// and these records carry explicit (often hours-old) CreateTimes
	}
	if !r.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	// Explicit partitions win over the key's hash.
	for _, m := range r.Messages {
		if m.Partition != nil {
			opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			break
		}
	}
	cl, err := franzClient(r, opts...)
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	acks := make([][2]int64, len(r.Messages))
	errs := make([]error, len(r.Messages))
	fl := newFlight(r)
	var wg sync.WaitGroup
	ctx := context.Background()
	for i, m := range r.Messages {
		hs, err := m.headers()
		if err != nil {
			return nil, nil, err
		}
		rec := &kgo.Record{Topic: r.Topic, Key: m.Key, Value: m.Value}
		for _, h := range hs {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if m.Timestamp != nil {
			rec.Timestamp = time.UnixMilli(*m.Timestamp)
		}
		if m.Partition != nil {
			rec.Partition = *m.Partition
		}
		wg.Add(1)
		i := i
		fl.acquire()
		cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
			defer wg.Done()
			defer fl.complete(err)
			if err != nil {
				noteError(err)
				errs[i] = err
				return
			}
			acks[i] = [2]int64{int64(rec.Partition), rec.Offset}
		})
	}
	wg.Wait()
	var failed [][3]any
	for i, err := range errs {
		if err != nil {
			failed = append(failed, [3]any{i, errName(err), err.Error()})
		}
	}
	return acks, failed, nil
}

func errName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return fmt.Sprintf("%T", err)
}

func listed(l kadm.ListedOffsets, err error) (map[int32]kadm.ListedOffset, error) {
	if err != nil {
		return nil, err
	}
	out := map[int32]kadm.ListedOffset{}
	var first error
	l.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && first == nil {
			first = o.Err
		}
		out[o.Partition] = o
	})
	return out, first
}

func (f *Franz) Offsets(r *Request) ([]map[string]int64, error) {
	return withAdmin(r, 60_000, func(ctx context.Context, adm *kadm.Client) ([]map[string]int64, error) {
		low, err := listed(adm.ListStartOffsets(ctx, r.Topic))
		if err != nil {
			return nil, err
		}
		// read_committed: the last stable offsets (ListOffsets with isolation READ_COMMITTED)
		list := adm.ListEndOffsets
		if r.Isolation == "read_committed" {
			list = adm.ListCommittedOffsets
		}
		high, err := listed(list(ctx, r.Topic))
		if err != nil {
			return nil, err
		}
		out := []map[string]int64{}
		for _, p := range sortedKeys(low) {
			out = append(out, map[string]int64{"partition": int64(p), "low": low[p].Offset, "high": high[p].Offset})
		}
		return out, nil
	})
}

func (f *Franz) OffsetsByTimestamp(r *Request) ([]map[string]int64, error) {
	return withAdmin(r, 60_000, func(ctx context.Context, adm *kadm.Client) ([]map[string]int64, error) {
		var res map[int32]kadm.ListedOffset
		var err error
		switch r.Spec {
		case "earliest":
			res, err = listed(adm.ListStartOffsets(ctx, r.Topic))
		case "latest":
			res, err = listed(adm.ListEndOffsets(ctx, r.Topic))
		case "max-timestamp":
			res, err = listed(adm.ListMaxTimestampOffsets(ctx, r.Topic))
		case "":
			res, err = listed(adm.ListOffsetsAfterMilli(ctx, r.Timestamp, r.Topic))
		default:
			err = fmt.Errorf("unknown offset spec %q", r.Spec)
		}
		if err != nil {
			return nil, err
		}
		out := []map[string]int64{}
		for _, p := range sortedKeys(res) {
			out = append(out, map[string]int64{"partition": int64(p), "offset": res[p].Offset, "timestamp": res[p].Timestamp})
		}
		return out, nil
	})
}

func (f *Franz) Metadata(r *Request) (map[string]any, error) {
	return withAdmin(r, 60_000, func(ctx context.Context, adm *kadm.Client) (map[string]any, error) {
		md, err := adm.Metadata(ctx, r.Topic)
		if err != nil {
			return nil, err
		}
		brokers := [][4]any{}
		for _, b := range md.Brokers {
			brokers = append(brokers, [4]any{b.NodeID, b.Host, b.Port, b.Rack})
		}
		topics := map[string]any{}
		if td, ok := md.Topics[r.Topic]; ok && td.Err == nil {
			parts := map[string]any{}
			for p, pd := range td.Partitions {
				parts[fmt.Sprint(p)] = map[string]any{"leader": pd.Leader, "replicas": pd.Replicas, "isr": pd.ISR}
			}
			topics[r.Topic] = parts
		} else if ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return nil, td.Err
		}
		all, err := adm.ListTopics(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]any{"brokers": brokers, "cluster_id": md.Cluster, "controller": md.Controller, "topics": topics, "listed": all.Names()}, nil
	})
}

func (f *Franz) DescribeConfigs(r *Request) (map[string][2]any, error) {
	return withAdmin(r, 60_000, func(ctx context.Context, adm *kadm.Client) (map[string][2]any, error) {
		rcs, err := adm.DescribeTopicConfigs(ctx, r.Topic)
		if err != nil {
			return nil, err
		}
		rc, err := rcs.On(r.Topic, nil)
		if err != nil {
			return nil, err
		}
		if rc.Err != nil {
			return nil, rc.Err
		}
		out := map[string][2]any{}
		for _, c := range rc.Configs {
			var v any
			if c.Value != nil {
				v = *c.Value
			}
			out[c.Key] = [2]any{v, c.Source.String()}
		}
		return out, nil
	})
}

// untilOffsets: a read's Until as {partition: offset}.
func untilOffsets(r *Request) (map[int32]int64, error) {
	out := map[int32]int64{}
	for p, o := range r.Until {
		var pi int32
		if _, err := fmt.Sscan(p, &pi); err != nil {
			return nil, fmt.Errorf("until: partition %q: %w", p, err)
		}
		out[pi] = o
	}
	return out, nil
}

// Read reads every partition up to its high watermark, or, with Until, the partitions
// named there until each has delivered the record before its offset; with isolation
// read_committed.
func (f *Franz) Read(r *Request) ([]Record, error) {
	ctx, cancel := ctxTimeout(r.TimeoutMs)
	defer cancel()
	end := map[int32]kadm.ListedOffset{}
	if r.Until != nil {
		until, err := untilOffsets(r)
		if err != nil {
			return nil, err
		}
		for p, o := range until {
			end[p] = kadm.ListedOffset{Topic: r.Topic, Partition: p, Offset: o}
		}
	} else {
		adm, done, err := franzAdmin(r)
		if err != nil {
			return nil, err
		}
		end, err = listed(adm.ListEndOffsets(ctx, r.Topic))
		done()
		if err != nil {
			return nil, err
		}
	}
	start := map[int32]kgo.Offset{}
	left := 0
	for p, o := range end {
		start[p] = kgo.NewOffset().AtStart()
		if o.Offset > 0 {
			left++
		}
	}
	opts := []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{r.Topic: start}), kgo.FetchMaxWait(500 * time.Millisecond)}
	if r.Isolation == "read_committed" {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := franzClient(r, opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []Record
	reached := map[int32]bool{}
	for len(reached) < left {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("read did not reach the high watermarks in time (%d records)", len(out))
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			noteError(err)
			ferr = err
		})
		if ferr != nil {
			return out, ferr
		}
		fs.EachRecord(func(rec *kgo.Record) {
			hw := end[rec.Partition].Offset
			if rec.Offset >= hw {
				return
			}
			hs := make([]Header, 0, len(rec.Headers))
			for _, h := range rec.Headers {
				hs = append(hs, Header{h.Key, h.Value})
			}
			tt := "create"
			if rec.Attrs.TimestampType() == 1 {
				tt = "logappend"
			}
			out = append(out, Record{Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Value: rec.Value,
				Headers: headerPairs(hs), Timestamp: rec.Timestamp.UnixMilli(), TimestampType: tt})
			if rec.Offset+1 >= hw {
				reached[rec.Partition] = true
			}
		})
	}
	return out, nil
}

// Admin runs the kadm calls the admin scenarios check, each reported on its own.
func (f *Franz) Admin(r *Request) (map[string]any, error) {
	cl, err := franzClient(r)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := ctxTimeout(120_000)
	defer cancel()
	calls := Calls{}
	calls.Step("describeLogDirs", func() (any, error) {
		all, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		all.Each(func(d kadm.DescribedLogDir) {
			sizes := map[string]int64{}
			d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
				if p.Topic == r.Topic {
					sizes[fmt.Sprint(p.Partition)] = p.Size
				}
			})
			errn := "NONE"
			if d.Err != nil {
				errn = errName(d.Err)
			}
			out[d.Dir] = map[string]any{"error": errn, "totalBytes": d.TotalBytes, "usableBytes": d.UsableBytes, "replicas": sizes}
		})
		return out, nil
	})
	calls.Step("describeFeatures", func() (any, error) {
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName = "riffle-compat"
		req.ClientSoftwareVersion = "1"
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return nil, err
		}
		fin := map[string]int16{}
		for _, f := range resp.FinalizedFeatures {
			fin[f.Name] = f.MaxVersionLevel
		}
		sup := map[string][2]int16{}
		for _, f := range resp.SupportedFeatures {
			sup[f.Name] = [2]int16{f.MinVersion, f.MaxVersion}
		}
		return map[string]any{"finalized": fin, "supported": sup, "epoch": resp.FinalizedFeaturesEpoch}, nil
	})
	calls.Step("describeProducers", func() (any, error) {
		ps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{r.Topic: {0: {}}})
		if err != nil {
			return nil, err
		}
		out := [][3]int64{}
		var perr error
		ps.EachPartition(func(p kadm.DescribedProducersPartition) {
			if p.Err != nil {
				perr = p.Err
			}
			p.ActiveProducers.Each(func(s kadm.DescribedProducer) {
				out = append(out, [3]int64{s.ProducerID, int64(s.ProducerEpoch), int64(s.LastSequence)})
			})
		})
		return out, perr
	})
	calls.Step("listGroups", func() (any, error) {
		gs, err := adm.ListGroups(ctx)
		if err != nil {
			return nil, err
		}
		return gs.Groups(), nil
	})
	calls.Step("fetchOffsets", func() (any, error) {
		os, err := adm.FetchOffsets(ctx, r.Group)
		if err != nil {
			return nil, err
		}
		out := map[string]int64{}
		os.Each(func(o kadm.OffsetResponse) {
			out[fmt.Sprintf("%s:%d", o.Topic, o.Partition)] = o.At
		})
		return out, os.Error()
	})
	calls.Step("deleteRecords", func() (any, error) {
		o := kadm.Offsets{}
		o.AddOffset(r.Topic, 0, 1, -1)
		res, err := adm.DeleteRecords(ctx, o)
		if err != nil {
			return nil, err
		}
		if err := res.Error(); err != nil {
			return nil, err
		}
		low, err := listed(adm.ListStartOffsets(ctx, r.Topic))
		if err != nil {
			return nil, err
		}
		return low[0].Offset, nil
	})
	calls.Step("createPartitions", func() (any, error) {
		res, err := adm.UpdatePartitions(ctx, 4, r.Topic)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return nil, err
		}
		return settle(20*time.Second, func() (any, bool, error) {
			md, err := adm.Metadata(ctx, r.Topic)
			if err != nil {
				return nil, false, err
			}
			n := len(md.Topics[r.Topic].Partitions)
			return n, n == 4, nil
		})
	})
	calls.Step("alterTopicConfigs", func() (any, error) {
		res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("86400000")}}, r.Topic)
		if err != nil {
			return nil, err
		}
		for _, a := range res {
			if a.Err != nil {
				return nil, a.Err
			}
		}
		return settle(20*time.Second, func() (any, bool, error) {
			rcs, err := adm.DescribeTopicConfigs(ctx, r.Topic)
			if err != nil {
				return nil, false, err
			}
			rc, err := rcs.On(r.Topic, nil)
			if err != nil {
				return nil, false, err
			}
			for _, c := range rc.Configs {
				if c.Key == "retention.ms" && c.Value != nil {
					v := *c.Value + "/" + c.Source.String()
					return v, v == "86400000/DYNAMIC_TOPIC_CONFIG", nil
				}
			}
			return nil, false, errors.New("retention.ms not described")
		})
	})
	calls.Step("describeGroups", func() (any, error) {
		ds, err := adm.DescribeGroups(ctx, r.Group)
		if err != nil {
			return nil, err
		}
		d := ds[r.Group]
		return map[string]any{"state": d.State, "members": len(d.Members)}, d.Err
	})
	calls.Step("alterGroupOffsets", func() (any, error) {
		o := kadm.Offsets{}
		o.AddOffset(r.Topic, 0, 2, -1)
		res, err := adm.CommitOffsets(ctx, r.Group, o)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return nil, err
		}
		got, err := adm.FetchOffsets(ctx, r.Group)
		if err != nil {
			return nil, err
		}
		at, _ := got.Lookup(r.Topic, 0)
		return at.At, at.Err
	})
	calls.Step("deleteGroups", func() (any, error) {
		res, err := adm.DeleteGroups(ctx, r.Group)
		if err != nil {
			return nil, err
		}
		return nil, res.Error()
	})
	return calls, nil
}

func franzBalancer(s string) kgo.GroupBalancer {
	switch s {
	case "roundrobin":
		return kgo.RoundRobinBalancer()
	case "cooperative-sticky":
		return kgo.CooperativeStickyBalancer()
	}
	return kgo.RangeBalancer()
}

func tps(m map[string][]int32) []TP {
	out := []TP{}
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, TP{t, p})
		}
	}
	return out
}

func (f *Franz) GroupWorker(cfg *WorkerConfig, w *Worker) error {
	consumerProtocol := cfg.GroupProtocol == "consumer"
	if cfg.GroupProtocol != "" && cfg.GroupProtocol != "classic" && !consumerProtocol {
		return fmt.Errorf("unknown group protocol %q", cfg.GroupProtocol)
	}
	// the consumer protocol (KIP-848) rebalances incrementally, like cooperative-sticky
	incremental := cfg.Strategy == "cooperative-sticky" || consumerProtocol
	var cl *kgo.Client
	var assignedMu sync.Mutex
	assigned := map[TP]bool{}
	assignment := func() [][2]any {
		assignedMu.Lock()
		defer assignedMu.Unlock()
		out := []TP{}
		for tp := range assigned {
			out = append(out, tp)
		}
		return Parts(out)
	}
	commit := func(offs map[TP]int64) error {
		m := map[string]map[int32]kgo.EpochOffset{}
		for tp, o := range offs {
			if m[tp.Topic] == nil {
				m[tp.Topic] = map[int32]kgo.EpochOffset{}
			}
			m[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
		var cerr error
		ctx, cancel := ctxTimeout(30_000)
		defer cancel()
		cl.CommitOffsetsSync(ctx, m, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				cerr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
						cerr = e
					}
				}
			}
		})
		return cerr
	}
	ids := func() map[string]any {
		if cl == nil {
			return map[string]any{}
		}
		id, gen := cl.GroupMetadata()
		if id == "" {
			return map[string]any{}
		}
		return map[string]any{"member_id": id, "generation": gen}
	}
	reset := kgo.NewOffset().AtStart()
	if cfg.OffsetReset == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	balancer := franzBalancer(cfg.Strategy)
	if consumerProtocol {
		// kgo runs KIP-848 with ServerSideBalancer and a range or sticky balancer first:
		// it asks the broker for "range" or "uniform" (ServerAssignor). If the broker has no
		// ConsumerGroupHeartbeat v1, kgo silently falls back to the classic protocol (the
		// scenarios check the group's type).
		balancer = kgo.CooperativeStickyBalancer()
		if cfg.RemoteAssignor == "range" {
			balancer = kgo.RangeBalancer()
		} else if cfg.RemoteAssignor != "" && cfg.RemoteAssignor != "uniform" {
			return fmt.Errorf("franz-go asks for the server assignors range and uniform only, not %q", cfg.RemoteAssignor)
		}
	}
	topics := cfg.Topics
	if cfg.Pattern != "" {
		topics = []string{cfg.Pattern}
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(topics...),
		kgo.ClientID(cfg.ClientID),
		kgo.DisableAutoCommit(),
		kgo.Balancers(balancer),
		kgo.SessionTimeout(time.Duration(cfg.SessionTimeoutMs) * time.Millisecond),
		kgo.HeartbeatInterval(time.Duration(cfg.HeartbeatMs) * time.Millisecond),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.MetadataMinAge(time.Second),
		kgo.MetadataMaxAge(2 * time.Second),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			assignedMu.Lock()
			if !incremental {
				assigned = map[TP]bool{}
			}
			for _, tp := range tps(m) {
				assigned[tp] = true
			}
			assignedMu.Unlock()
			ev := ids()
			ev["parts"], ev["incremental"], ev["assignment"] = Parts(tps(m)), incremental, assignment()
			w.Emit("assign", ev)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gone := tps(m)
			only := map[TP]bool{}
			for _, tp := range gone {
				only[tp] = true
			}
			w.CommitPending(only, "revoke", commit)
			w.Forget(gone)
			assignedMu.Lock()
			for _, tp := range gone {
				delete(assigned, tp)
			}
			assignedMu.Unlock()
			w.Emit("revoke", map[string]any{"parts": Parts(gone), "incremental": incremental, "assignment": assignment()})
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			gone := tps(m)
			w.Forget(gone)
			assignedMu.Lock()
			for _, tp := range gone {
				delete(assigned, tp)
			}
			assignedMu.Unlock()
			w.Emit("lost", map[string]any{"parts": Parts(gone)})
		}),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	if consumerProtocol {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	if cfg.Pattern != "" {
		opts = append(opts, kgo.ConsumeRegex())
	}
	var err error
	cl, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(cfg.Bootstrap, ",")...), franzLogger()}, opts...)...)
	if err != nil {
		return err
	}
	w.Emit("started", ids())
	holding := false
loop:
	for {
		select {
		case cmd := <-w.Commands:
			switch cmd {
			case "close", "eof":
				break loop
			case "ids":
				w.Emit("ids", ids())
			}
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		fs := cl.PollRecords(ctx, cfg.MaxPoll)
		cancel()
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				return
			}
			noteError(err)
			w.Emit("error", map[string]any{"error": fmt.Sprintf("poll %s[%d]: %v", t, p, err)})
		})
		var recs []WRec
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, WRec{TP{r.Topic, r.Partition}, r.Offset, r.Value})
		})
		if holding || len(recs) == 0 {
			cl.AllowRebalance()
			continue
		}
		cut := w.Process(recs)
		doCommit, stop := w.AfterBatch(cut)
		if doCommit {
			w.CommitPending(nil, "batch", commit)
		}
		if stop {
			// nothing beyond the processed records is read or committed
			for tp, next := range w.Processed() {
				cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{tp.Topic: {tp.Partition: {Epoch: -1, Offset: next}}})
			}
			w.Emit("stopped_after", map[string]any{"count": w.Count()})
			if cfg.AfterStop == "hold" {
				cl.PauseFetchTopics(cfg.Topics...)
				holding = true
				cl.AllowRebalance()
				continue
			}
			cl.AllowRebalance()
			break loop
		}
		cl.AllowRebalance()
		w.Delay()
	}
	cl.AllowRebalance()
	w.CommitPending(nil, "close", commit)
	// Close leaves the group (a static member stays in it, as in Kafka).
	cl.Close()
	w.Emit("closed", map[string]any{"count": w.Count()})
	return nil
}
