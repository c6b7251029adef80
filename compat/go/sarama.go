package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sarama drives IBM/sarama: its sync producer, partition consumer, consumer group
// and cluster admin, at the newest protocol version it knows.
type Sarama struct{}

func saramaCode(err error) (int16, bool) {
	var ke sarama.KError
	if errors.As(err, &ke) {
		return int16(ke), true
	}
	var pe *sarama.ProducerError
	if errors.As(err, &pe) {
		return saramaCode(pe.Err)
	}
	return 0, false
}

func saramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.MaxVersion
	c.ClientID = "riffle-compat-sarama"
	c.Metadata.AllowAutoTopicCreation = false
	c.Admin.Timeout = 60 * time.Second
	saramaSecurity(c)
	return c
}

func saramaAdmin(r *Request) (sarama.ClusterAdmin, error) {
	return sarama.NewClusterAdmin(strings.Split(r.Bootstrap, ","), saramaConfig())
}

func (s *Sarama) Version() map[string]any {
	return map[string]any{"sarama": moduleVersion("github.com/IBM/sarama"), "protocol": sarama.MaxVersion.String()}
}

func (s *Sarama) CreateTopic(r *Request) error {
	a, err := saramaAdmin(r)
	if err != nil {
		return err
	}
	defer a.Close()
	configs := map[string]*string{}
	for k, v := range r.Configs {
		configs[k] = ptr(v)
	}
	return a.CreateTopic(r.Topic, &sarama.TopicDetail{NumPartitions: r.Partitions, ReplicationFactor: r.replicationFactor(), ConfigEntries: configs}, false)
}

func (s *Sarama) DeleteTopic(r *Request) error {
	a, err := saramaAdmin(r)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.DeleteTopic(r.Topic)
}

func saramaCodec(name string) sarama.CompressionCodec {
	switch name {
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	return sarama.CompressionNone
}

func (s *Sarama) Produce(r *Request) ([][2]int64, [][3]any, error) {
	c := saramaConfig()
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Compression = saramaCodec(r.Compression)
	c.Producer.Retry.Max = 10
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	if r.Idempotent {
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
	}
	explicit := false
	for _, m := range r.Messages {
		if m.Partition != nil {
			explicit = true
		}
	}
	if explicit {
		c.Producer.Partitioner = sarama.NewManualPartitioner
	}
	p, err := sarama.NewAsyncProducer(strings.Split(r.Bootstrap, ","), c)
	if err != nil {
		return nil, nil, err
	}
	acks := make([][2]int64, len(r.Messages))
	var failed [][3]any
	fl := newFlight(r)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for left := len(r.Messages); left > 0; left-- {
			select {
			case m := <-p.Successes():
				i := m.Metadata.(int)
				acks[i] = [2]int64{int64(m.Partition), m.Offset}
				fl.complete(nil)
			case e := <-p.Errors():
				noteError(e.Err)
				failed = append(failed, [3]any{e.Msg.Metadata.(int), errName(e.Err), e.Err.Error()})
				fl.complete(e.Err)
			}
		}
	}()
	for i, m := range r.Messages {
		hs, err := m.headers()
		if err != nil {
			return nil, nil, err
		}
		msg := &sarama.ProducerMessage{Topic: r.Topic, Metadata: i}
		if m.Key != nil {
			msg.Key = sarama.ByteEncoder(m.Key)
		}
		if m.Value != nil {
			msg.Value = sarama.ByteEncoder(m.Value)
		}
		for _, h := range hs {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		if m.Timestamp != nil {
			msg.Timestamp = time.UnixMilli(*m.Timestamp)
		}
		if m.Partition != nil {
			msg.Partition = *m.Partition
		}
		fl.acquire()
		p.Input() <- msg
	}
	wg.Wait()
	return acks, failed, p.Close()
}

func saramaClient(r *Request) (sarama.Client, error) {
	return sarama.NewClient(strings.Split(r.Bootstrap, ","), saramaConfig())
}

func (s *Sarama) offsets(r *Request, at func(p int32) (int64, error), partitions []int32) ([]map[string]int64, error) {
	out := []map[string]int64{}
	for _, p := range partitions {
		o, err := at(p)
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]int64{"partition": int64(p), "offset": o})
	}
	return out, nil
}

// listOffset is Client.GetOffset with an isolation level (GetOffset always lists
// read_uncommitted): with ReadCommitted, OffsetNewest is the last stable offset.
func listOffset(c sarama.Client, topic string, p int32, at int64, isolation sarama.IsolationLevel) (int64, error) {
	b, err := c.Leader(topic, p)
	if err != nil {
		return -1, err
	}
	req := sarama.NewOffsetRequest(sarama.MaxVersion)
	req.IsolationLevel = isolation
	req.AddBlock(topic, p, at, 1)
	resp, err := b.GetAvailableOffsets(req)
	if err != nil {
		return -1, err
	}
	block := resp.GetBlock(topic, p)
	if block == nil {
		return -1, sarama.ErrIncompleteResponse
	}
	if !errors.Is(block.Err, sarama.ErrNoError) {
		return -1, block.Err
	}
	if len(block.Offsets) == 1 {
		return block.Offsets[0], nil
	}
	return block.Offset, nil
}

func (s *Sarama) Offsets(r *Request) ([]map[string]int64, error) {
	c, err := saramaClient(r)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ps, err := c.Partitions(r.Topic)
	if err != nil {
		return nil, err
	}
	out := []map[string]int64{}
	for _, p := range ps {
		low, err := c.GetOffset(r.Topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		var high int64
		if r.Isolation == "read_committed" {
			high, err = listOffset(c, r.Topic, p, sarama.OffsetNewest, sarama.ReadCommitted)
		} else {
			high, err = c.GetOffset(r.Topic, p, sarama.OffsetNewest)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]int64{"partition": int64(p), "low": low, "high": high})
	}
	return out, nil
}

func (s *Sarama) OffsetsByTimestamp(r *Request) ([]map[string]int64, error) {
	c, err := saramaClient(r)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ps, err := c.Partitions(r.Topic)
	if err != nil {
		return nil, err
	}
	return s.offsets(r, func(p int32) (int64, error) { return c.GetOffset(r.Topic, p, r.Timestamp) }, ps)
}

func (s *Sarama) Metadata(r *Request) (map[string]any, error) {
	a, err := saramaAdmin(r)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	bs, controller, err := a.DescribeCluster()
	if err != nil {
		return nil, err
	}
	brokers := [][4]any{}
	for _, b := range bs {
		host, port, _ := strings.Cut(b.Addr(), ":")
		var p int
		fmt.Sscan(port, &p)
		var rack any
		if b.Rack() != "" {
			rack = b.Rack()
		}
		brokers = append(brokers, [4]any{b.ID(), host, p, rack})
	}
	topics := map[string]any{}
	md, err := a.DescribeTopics([]string{r.Topic})
	if err != nil {
		return nil, err
	}
	for _, t := range md {
		if t.Err == sarama.ErrUnknownTopicOrPartition {
			continue
		}
		if t.Err != sarama.ErrNoError {
			return nil, t.Err
		}
		parts := map[string]any{}
		for _, p := range t.Partitions {
			parts[fmt.Sprint(p.ID)] = map[string]any{"leader": p.Leader, "replicas": p.Replicas, "isr": p.Isr}
		}
		topics[t.Name] = parts
	}
	all, err := a.ListTopics()
	if err != nil {
		return nil, err
	}
	listed := []string{}
	for name := range all {
		listed = append(listed, name)
	}
	// sarama does not expose the cluster id of a metadata response
	return map[string]any{"brokers": brokers, "cluster_id": nil, "controller": controller, "topics": topics, "listed": listed}, nil
}

func (s *Sarama) DescribeConfigs(r *Request) (map[string][2]any, error) {
	a, err := saramaAdmin(r)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	es, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: r.Topic})
	if err != nil {
		return nil, err
	}
	out := map[string][2]any{}
	for _, e := range es {
		// sarama's sources are Kafka's numbers; kmsg names them as Kafka does
		out[e.Name] = [2]any{e.Value, kmsg.ConfigSource(e.Source).String()}
	}
	return out, nil
}

// Read reads every partition up to its high watermark, or, with Until, the partitions
// named there until each has delivered the record before its offset; with isolation
// read_committed.
func (s *Sarama) Read(r *Request) ([]Record, error) {
	conf := saramaConfig()
	if r.Isolation == "read_committed" {
		conf.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	c, err := sarama.NewClient(strings.Split(r.Bootstrap, ","), conf)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ps, err := c.Partitions(r.Topic)
	if err != nil {
		return nil, err
	}
	var until map[int32]int64
	if r.Until != nil {
		if until, err = untilOffsets(r); err != nil {
			return nil, err
		}
	}
	cons, err := sarama.NewConsumerFromClient(c)
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	timeout := time.Duration(r.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 90 * time.Second
	}
	deadline := time.After(timeout)
	var out []Record
	for _, p := range ps {
		var hw int64
		if until != nil {
			o, ok := until[p]
			if !ok {
				continue
			}
			hw = o
		} else if hw, err = c.GetOffset(r.Topic, p, sarama.OffsetNewest); err != nil {
			return nil, err
		}
		low, err := c.GetOffset(r.Topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		if hw <= low {
			continue
		}
		pc, err := cons.ConsumePartition(r.Topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
	partition:
		for {
			select {
			case m := <-pc.Messages():
				if m.Offset >= hw {
					break partition
				}
				hs := make([]Header, 0, len(m.Headers))
				for _, h := range m.Headers {
					hs = append(hs, Header{string(h.Key), h.Value})
				}
				// sarama does not tell the timestamp type of a v2 batch record:
				// "create" unless the batch said LogAppendTime (BlockTimestamp)
				tt := "create"
				if !m.BlockTimestamp.IsZero() && m.BlockTimestamp.Equal(m.Timestamp) && logAppend(m) {
					tt = "logappend"
				}
				out = append(out, Record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value,
					Headers: headerPairs(hs), Timestamp: m.Timestamp.UnixMilli(), TimestampType: tt})
				if m.Offset+1 >= hw {
					break partition
				}
			case e := <-pc.Errors():
				noteError(e.Err)
				pc.Close()
				return out, e
			case <-deadline:
				pc.Close()
				return out, fmt.Errorf("read did not reach the high watermark of partition %d in time (%d records)", p, len(out))
			}
		}
		pc.Close()
	}
	return out, nil
}

// logAppend: sarama gives every record of a LogAppendTime batch the batch's max
// timestamp; it keeps no flag, so the driver cannot tell for sure (see the client notes).
func logAppend(m *sarama.ConsumerMessage) bool { return false }

func (s *Sarama) Admin(r *Request) (map[string]any, error) {
	a, err := saramaAdmin(r)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	calls := Calls{}
	calls.Step("describeLogDirs", func() (any, error) {
		bs, _, err := a.DescribeCluster()
		if err != nil {
			return nil, err
		}
		ids := []int32{}
		for _, b := range bs {
			ids = append(ids, b.ID())
		}
		dirs, err := a.DescribeLogDirs(ids)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		for _, ds := range dirs {
			for _, d := range ds {
				sizes := map[string]int64{}
				for _, t := range d.Topics {
					if t.Topic == r.Topic {
						for _, p := range t.Partitions {
							sizes[fmt.Sprint(p.PartitionID)] = p.Size
						}
					}
				}
				errn := "NONE"
				if d.ErrorCode != sarama.ErrNoError {
					errn = errName(d.ErrorCode)
				}
				out[d.Path] = map[string]any{"error": errn, "totalBytes": d.TotalBytes, "usableBytes": d.UsableBytes, "replicas": sizes}
			}
		}
		return out, nil
	})
	calls.Step("listGroups", func() (any, error) {
		gs, err := a.ListConsumerGroups()
		out := []string{}
		for g := range gs {
			out = append(out, g)
		}
		return out, err
	})
	calls.Step("fetchOffsets", func() (any, error) {
		res, err := a.ListConsumerGroupOffsets(r.Group, nil)
		if err != nil {
			return nil, err
		}
		out := map[string]int64{}
		for t, ps := range res.Blocks {
			for p, b := range ps {
				out[fmt.Sprintf("%s:%d", t, p)] = b.Offset
			}
		}
		return out, nil
	})
	calls.Step("deleteRecords", func() (any, error) {
		if err := a.DeleteRecords(r.Topic, map[int32]int64{0: 1}); err != nil {
			return nil, err
		}
		c, err := saramaClient(r)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.GetOffset(r.Topic, 0, sarama.OffsetOldest)
	})
	calls.Step("createPartitions", func() (any, error) {
		if err := a.CreatePartitions(r.Topic, 4, nil, false); err != nil {
			return nil, err
		}
		return settle(20*time.Second, func() (any, bool, error) {
			md, err := a.DescribeTopics([]string{r.Topic})
			if err != nil || len(md) == 0 {
				return nil, false, err
			}
			n := len(md[0].Partitions)
			return n, n == 4, nil
		})
	})
	calls.Step("alterTopicConfigs", func() (any, error) {
		set := map[string]sarama.IncrementalAlterConfigsEntry{"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: ptr("86400000")}}
		if err := a.IncrementalAlterConfig(sarama.TopicResource, r.Topic, set, false); err != nil {
			return nil, err
		}
		return settle(20*time.Second, func() (any, bool, error) {
			es, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: r.Topic})
			if err != nil {
				return nil, false, err
			}
			for _, e := range es {
				if e.Name == "retention.ms" {
					v := e.Value + "/" + kmsg.ConfigSource(e.Source).String()
					return v, v == "86400000/DYNAMIC_TOPIC_CONFIG", nil
				}
			}
			return nil, false, errors.New("retention.ms not described")
		})
	})
	calls.Step("describeGroups", func() (any, error) {
		ds, err := a.DescribeConsumerGroups([]string{r.Group})
		if err != nil || len(ds) == 0 {
			return nil, err
		}
		return map[string]any{"state": ds[0].State, "members": len(ds[0].Members)}, nil
	})
	calls.Step("alterGroupOffsets", func() (any, error) {
		_, err := a.AlterConsumerGroupOffsets(r.Group, map[string]map[int32]sarama.OffsetAndMetadata{r.Topic: {0: {Offset: 2}}}, nil)
		if err != nil {
			return nil, err
		}
		res, err := a.ListConsumerGroupOffsets(r.Group, map[string][]int32{r.Topic: {0}})
		if err != nil {
			return nil, err
		}
		return res.Blocks[r.Topic][0].Offset, nil
	})
	calls.Step("deleteGroups", func() (any, error) { return nil, a.DeleteConsumerGroup(r.Group) })
	return calls, nil
}

// saramaHandler is a sarama consumer-group handler over the shared worker state.
type saramaHandler struct {
	cfg      *WorkerConfig
	w        *Worker
	group    sarama.ConsumerGroup
	stopped  chan struct{}
	stopOnce sync.Once
	holding  bool
	mu       sync.Mutex
	assigned map[TP]bool
}

func claims(s sarama.ConsumerGroupSession) []TP {
	out := []TP{}
	for t, ps := range s.Claims() {
		for _, p := range ps {
			out = append(out, TP{t, p})
		}
	}
	return out
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	parts := claims(s)
	h.mu.Lock()
	h.assigned = map[TP]bool{}
	for _, tp := range parts {
		h.assigned[tp] = true
	}
	h.mu.Unlock()
	h.w.Emit("assign", map[string]any{"parts": Parts(parts), "incremental": false, "assignment": Parts(claims(s)),
		"member_id": s.MemberID(), "generation": s.GenerationID()})
	return nil
}

func (h *saramaHandler) commitFn(s sarama.ConsumerGroupSession) func(map[TP]int64) error {
	return func(offs map[TP]int64) error {
		for tp, o := range offs {
			s.MarkOffset(tp.Topic, tp.Partition, o, "")
		}
		s.Commit()
		// sarama reports commit errors on the group's error channel, not here
		return nil
	}
}

func (h *saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	parts := claims(s)
	h.w.CommitPending(nil, "revoke", h.commitFn(s))
	h.w.Forget(parts)
	h.w.Emit("revoke", map[string]any{"parts": Parts(parts), "incremental": false, "assignment": [][2]any{}})
	return nil
}

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	commit := h.commitFn(s)
	for {
		select {
		case <-s.Context().Done():
			return nil
		case <-h.stopped:
			return nil
		case m, ok := <-c.Messages():
			if !ok {
				return nil
			}
			h.mu.Lock()
			holding := h.holding
			h.mu.Unlock()
			if holding {
				continue
			}
			// one record per batch: sarama hands records over one at a time
			cut := h.w.Process([]WRec{{TP{m.Topic, m.Partition}, m.Offset, m.Value}})
			doCommit, stop := h.w.AfterBatch(cut)
			if doCommit {
				h.w.CommitPending(nil, "batch", commit)
			}
			if stop {
				h.stopOnce.Do(func() {
					h.w.Emit("stopped_after", map[string]any{"count": h.w.Count()})
					if h.cfg.AfterStop == "hold" {
						h.mu.Lock()
						h.holding = true
						h.mu.Unlock()
						return
					}
					close(h.stopped)
				})
				continue
			}
			h.w.Delay()
		}
	}
}

func (s *Sarama) GroupWorker(cfg *WorkerConfig, w *Worker) error {
	if cfg.GroupProtocol != "" && cfg.GroupProtocol != "classic" || cfg.Pattern != "" {
		return errors.New("sarama has no consumer group protocol (KIP-848) and no regex subscription")
	}
	c := saramaConfig()
	c.ClientID = cfg.ClientID
	c.Consumer.Offsets.AutoCommit.Enable = false
	c.Consumer.Return.Errors = true
	c.Consumer.Group.Session.Timeout = time.Duration(cfg.SessionTimeoutMs) * time.Millisecond
	c.Consumer.Group.Heartbeat.Interval = time.Duration(cfg.HeartbeatMs) * time.Millisecond
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Metadata.RefreshFrequency = 2 * time.Second
	if cfg.OffsetReset == "latest" {
		c.Consumer.Offsets.Initial = sarama.OffsetNewest
	} else {
		c.Consumer.Offsets.Initial = sarama.OffsetOldest
	}
	switch cfg.Strategy {
	case "roundrobin":
		c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	case "cooperative-sticky":
		return errors.New("sarama has no cooperative rebalancing")
	default:
		c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	}
	if cfg.InstanceID != "" {
		c.Consumer.Group.InstanceId = cfg.InstanceID
	}
	g, err := sarama.NewConsumerGroup(strings.Split(cfg.Bootstrap, ","), cfg.Group, c)
	if err != nil {
		return err
	}
	h := &saramaHandler{cfg: cfg, w: w, group: g, stopped: make(chan struct{})}
	go func() {
		for err := range g.Errors() {
			noteError(err)
			w.Emit("error", map[string]any{"error": err.Error()})
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := g.Consume(ctx, cfg.Topics, h); err != nil {
				noteError(err)
				w.Emit("error", map[string]any{"error": err.Error()})
				time.Sleep(200 * time.Millisecond)
			}
			select {
			case <-h.stopped:
				done <- nil
				return
			default:
			}
		}
		done <- nil
	}()
	w.Emit("started", map[string]any{})
loop:
	for {
		select {
		case cmd := <-w.Commands:
			switch cmd {
			case "close", "eof":
				break loop
			case "ids":
				w.Emit("ids", map[string]any{})
			}
		case <-h.stopped:
			break loop
		}
	}
	cancel()
	<-done
	err = g.Close()
	w.Emit("closed", map[string]any{"count": w.Count()})
	return err
}
