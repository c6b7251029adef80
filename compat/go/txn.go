package main

// Transactions (scenarios/transactions.py), for franz-go and sarama:
//
//   - txn-produce: one transactional producer, one transaction after the other, each
//     committed, aborted or left open ("open": the driver answers and exits without
//     ending it or closing the producer). Answers every message's [partition, offset].
//   - txn-fence: producer A begins and writes First; producer B with the same
//     transactional id initialises (fencing A); A sends After and commits (both must
//     fail); B writes Second and commits.
//   - txn-ctp: consume (group, read_committed, no auto commit) - transform - produce,
//     the consumed offsets committed through each transaction; batch AbortBatch is
//     aborted and reprocessed from the committed positions. franz-go: a
//     GroupTransactSession (it rewinds to the committed offsets after an abort);
//     sarama: a consumer group whose session ends after the abort, so that the next
//     one starts at the committed offsets. Both libraries send the consumed offsets
//     (AddOffsetsToTxn, TxnOffsetCommit) only when committing.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TxnSpec is one transaction of txn-produce: its outcome (commit, abort, open) and messages.
type TxnSpec struct {
	Outcome  string    `json:"outcome"`
	Messages []Message `json:"messages"`
}

type transactor interface {
	TxnProduce(r *Request) (acks [][2]int64, leftOpen bool, err error)
	TxnFence(r *Request) (map[string]any, error)
	TxnCTP(r *Request) (map[string]any, error)
}

// txnErrName names an error by Kafka's name when it has one (franz-go's kerr, sarama's
// KError), else by its type and text.
func txnErrName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	if code, ok := saramaCode(err); ok {
		var k *kerr.Error
		if errors.As(kerr.ErrorForCode(code), &k) {
			return k.Message
		}
	}
	return fmt.Sprintf("%T: %v", err, err)
}

func errOrNil(err error) any {
	if err == nil {
		return nil
	}
	return txnErrName(err)
}

func partitionKeys(m map[int32]int64) map[string]int64 {
	out := map[string]int64{}
	for p, o := range m {
		out[fmt.Sprint(p)] = o
	}
	return out
}

func transform(v []byte) []byte { return append([]byte("out|"), v...) }

// committedAtLeast polls the group's committed offsets of the input's partitions until each
// is at least what the committed transactions stored (a fetch without require_stable may
// still show an older offset while markers are written), or 60 s: the last answer.
func committedAtLeast(fetch func() (map[int32]int64, error), parts []int32, committed map[int32]int64) map[string]int64 {
	deadline := time.Now().Add(60 * time.Second)
	got := map[int32]int64{}
	for {
		v, err := fetch()
		if err == nil {
			got = v
			ok := true
			for _, p := range parts {
				want, had := committed[p]
				if !had {
					want = -1
				}
				if at, has := got[p]; (has && at < want) || (!has && want >= 0) {
					ok = false
				}
			}
			if ok {
				break
			}
		} else {
			noteError(err)
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := map[string]int64{}
	for _, p := range parts {
		at, has := got[p]
		if !has {
			at = -1
		}
		out[fmt.Sprint(p)] = at
	}
	return out
}

// --- franz-go ---------------------------------------------------------------

func franzTxnOpts(r *Request) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.TransactionalID(r.TransactionalID),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if r.TransactionTimeoutMs > 0 {
		opts = append(opts, kgo.TransactionTimeout(time.Duration(r.TransactionTimeoutMs)*time.Millisecond))
	}
	return opts
}

func franzRecords(topic string, msgs []Message) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, 0, len(msgs))
	for _, m := range msgs {
		hs, err := m.headers()
		if err != nil {
			return nil, err
		}
		rec := &kgo.Record{Topic: topic, Key: m.Key, Value: m.Value}
		for _, h := range hs {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		if m.Timestamp != nil {
			rec.Timestamp = time.UnixMilli(*m.Timestamp)
		}
		if m.Partition != nil {
			rec.Partition = *m.Partition
		}
		out = append(out, rec)
	}
	return out, nil
}

// franzSendAll produces the records and waits for all of them: their [partition, offset],
// in the order of recs (ProduceSync's results come in the order the sends completed; the
// records themselves carry where they were written).
func franzSendAll(ctx context.Context, produce func(context.Context, ...*kgo.Record) kgo.ProduceResults, recs []*kgo.Record) ([][2]int64, error) {
	for _, pr := range produce(ctx, recs...) {
		if pr.Err != nil {
			noteError(pr.Err)
			return nil, pr.Err
		}
	}
	acks := make([][2]int64, 0, len(recs))
	for _, rec := range recs {
		acks = append(acks, [2]int64{int64(rec.Partition), rec.Offset})
	}
	return acks, nil
}

func (f *Franz) TxnProduce(r *Request) ([][2]int64, bool, error) {
	cl, err := franzClient(r, franzTxnOpts(r)...)
	if err != nil {
		return nil, false, err
	}
	open := false
	defer func() {
		if !open {
			cl.Close()
		}
	}()
	ctx, cancel := ctxTimeout(120_000)
	defer cancel()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return nil, false, err
	}
	acks := [][2]int64{}
	for _, t := range r.Transactions {
		if err := cl.BeginTransaction(); err != nil {
			return acks, false, err
		}
		recs, err := franzRecords(r.Topic, t.Messages)
		if err != nil {
			return acks, false, err
		}
		a, err := franzSendAll(ctx, cl.ProduceSync, recs)
		acks = append(acks, a...)
		if err != nil {
			return acks, false, err
		}
		switch t.Outcome {
		case "commit":
			err = cl.EndTransaction(ctx, kgo.TryCommit)
		case "abort":
			err = cl.EndTransaction(ctx, kgo.TryAbort)
		case "open":
			open = true // main answers and exits: nothing ends the transaction
			return acks, true, nil
		default:
			err = fmt.Errorf("unknown outcome %q", t.Outcome)
		}
		if err != nil {
			return acks, false, err
		}
	}
	return acks, false, nil
}

func (f *Franz) TxnFence(r *Request) (map[string]any, error) {
	ctx, cancel := ctxTimeout(120_000)
	defer cancel()
	out := map[string]any{}
	a, err := franzClient(r, franzTxnOpts(r)...)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	if _, _, err := a.ProducerID(ctx); err != nil {
		return nil, err
	}
	if err := a.BeginTransaction(); err != nil {
		return nil, err
	}
	recs, err := franzRecords(r.Topic, r.First)
	if err != nil {
		return nil, err
	}
	if out["first"], err = franzSendAll(ctx, a.ProduceSync, recs); err != nil {
		return out, err
	}
	b, err := franzClient(r, franzTxnOpts(r)...)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	// the producer id of B: InitProducerId fences A, whose open transaction the coordinator aborts
	if _, _, err := b.ProducerID(ctx); err != nil {
		return out, err
	}
	actx, acancel := context.WithTimeout(ctx, 30*time.Second)
	defer acancel()
	if recs, err = franzRecords(r.Topic, r.After); err != nil {
		return nil, err
	}
	res := a.ProduceSync(actx, recs...)
	out["sendError"], out["afterAcked"] = errOrNil(res.FirstErr()), res.FirstErr() == nil
	if err := res.FirstErr(); err != nil {
		noteError(err)
		fmt.Fprintln(os.Stderr, "A's send after the fencing:", err)
	}
	cerr := a.EndTransaction(actx, kgo.TryCommit)
	if cerr != nil {
		noteError(cerr)
		fmt.Fprintln(os.Stderr, "A's commit after the fencing:", cerr)
	}
	out["commitError"] = errOrNil(cerr)
	if err := b.BeginTransaction(); err != nil {
		return out, err
	}
	if recs, err = franzRecords(r.Topic, r.Second); err != nil {
		return nil, err
	}
	if out["second"], err = franzSendAll(ctx, b.ProduceSync, recs); err != nil {
		return out, err
	}
	return out, b.EndTransaction(ctx, kgo.TryCommit)
}

func (f *Franz) TxnCTP(r *Request) (map[string]any, error) {
	ctx, cancel := ctxTimeout(r.TimeoutMs)
	defer cancel()
	adm, done, err := franzAdmin(r)
	if err != nil {
		return nil, err
	}
	defer done()
	ends, err := listed(adm.ListEndOffsets(ctx, r.Input))
	if err != nil {
		return nil, err
	}
	parts := sortedKeys(ends)
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(strings.Split(r.Bootstrap, ",")...), kgo.ClientID("riffle-compat-franz-go"), franzLogger(),
		kgo.ConsumerGroup(r.Group), kgo.ConsumeTopics(r.Input),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, franzTxnOpts(r)...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	outputs, aborted := [][3]any{}, [][3]any{}
	committed := map[int32]int64{}
	out := map[string]any{"committedBefore": map[string]int64{}, "committedAfterAbort": map[string]int64{},
		"abortedBatch": r.AbortBatch}
	batches, processed := 0, 0
	fetch := func() (map[int32]int64, error) {
		offs, err := adm.FetchOffsets(ctx, r.Group)
		if err != nil {
			return nil, err
		}
		got := map[int32]int64{}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == r.Input && o.Err == nil {
				got[o.Partition] = o.At
			}
		})
		return got, offs.Error()
	}
	for processed < r.Expected {
		if ctx.Err() != nil {
			return out, fmt.Errorf("consume-transform-produce: %d of %d processed in time", processed, r.Expected)
		}
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := sess.PollRecords(pctx, r.MaxPoll)
		pcancel()
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			noteError(err)
			ferr = fmt.Errorf("poll %s[%d]: %w", t, p, err)
		})
		if ferr != nil {
			return out, ferr
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		n := batches
		batches++
		if err := sess.Begin(); err != nil {
			return out, err
		}
		outs := make([]*kgo.Record, len(recs))
		next := map[int32]int64{}
		for i, rec := range recs {
			outs[i] = &kgo.Record{Topic: r.Output, Partition: rec.Partition, Key: rec.Key, Value: transform(rec.Value)}
			next[rec.Partition] = rec.Offset + 1
		}
		acks, err := franzSendAll(ctx, sess.ProduceSync, outs)
		if err != nil {
			return out, err
		}
		acked := make([][3]any, len(outs))
		for i, a := range acks {
			acked[i] = [3]any{a[0], a[1], outs[i].Value}
		}
		if n == r.AbortBatch {
			if _, err := sess.End(ctx, kgo.TryAbort); err != nil {
				return out, err
			}
			aborted = append(aborted, acked...)
			out["committedBefore"] = partitionKeys(committed)
			out["committedAfterAbort"] = committedAtLeast(fetch, parts, committed)
			continue // the session has rewound to the committed offsets
		}
		ok, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return out, err
		}
		if !ok {
			// the session aborted instead (a rebalance): reprocessed, counted with the aborted outputs
			fmt.Fprintf(os.Stderr, "batch %d: the session aborted instead of committing\n", n)
			aborted = append(aborted, acked...)
			continue
		}
		for p, o := range next {
			committed[p] = o
		}
		outputs = append(outputs, acked...)
		processed += len(recs)
	}
	out["outputs"], out["aborted"], out["batches"] = outputs, aborted, batches
	return out, nil
}

// --- sarama -----------------------------------------------------------------

func saramaTxnConfig(r *Request) *sarama.Config {
	c := saramaConfig()
	c.Producer.Idempotent = true
	c.Producer.Transaction.ID = r.TransactionalID
	if r.TransactionTimeoutMs > 0 {
		c.Producer.Transaction.Timeout = time.Duration(r.TransactionTimeoutMs) * time.Millisecond
	}
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	c.Net.MaxOpenRequests = 1
	return c
}

func saramaMessages(topic string, msgs []Message) ([]*sarama.ProducerMessage, error) {
	out := make([]*sarama.ProducerMessage, 0, len(msgs))
	for i, m := range msgs {
		hs, err := m.headers()
		if err != nil {
			return nil, err
		}
		pm := &sarama.ProducerMessage{Topic: topic, Metadata: i}
		if m.Key != nil {
			pm.Key = sarama.ByteEncoder(m.Key)
		}
		if m.Value != nil {
			pm.Value = sarama.ByteEncoder(m.Value)
		}
		for _, h := range hs {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		if m.Timestamp != nil {
			pm.Timestamp = time.UnixMilli(*m.Timestamp)
		}
		if m.Partition != nil {
			pm.Partition = *m.Partition
		}
		out = append(out, pm)
	}
	return out, nil
}

// saramaSendAll sends the messages (Metadata: their index) through the async producer and
// waits for every success or error, at most d: their [partition, offset], or the first error.
func saramaSendAll(p sarama.AsyncProducer, msgs []*sarama.ProducerMessage, d time.Duration) ([][2]int64, error) {
	go func() {
		for _, m := range msgs {
			p.Input() <- m
		}
	}()
	acks := make([][2]int64, len(msgs))
	var first error
	timeout := time.After(d)
	for left := len(msgs); left > 0; left-- {
		select {
		case m := <-p.Successes():
			acks[m.Metadata.(int)] = [2]int64{int64(m.Partition), m.Offset}
		case e := <-p.Errors():
			noteError(e.Err)
			if first == nil {
				first = e.Err
			}
		case <-timeout:
			return acks, fmt.Errorf("%d of %d sends not answered within %s", left, len(msgs), d)
		}
	}
	return acks, first
}

func (s *Sarama) TxnProduce(r *Request) ([][2]int64, bool, error) {
	p, err := sarama.NewAsyncProducer(strings.Split(r.Bootstrap, ","), saramaTxnConfig(r))
	if err != nil {
		return nil, false, err
	}
	acks := [][2]int64{}
	for _, t := range r.Transactions {
		if err := p.BeginTxn(); err != nil {
			return acks, false, err
		}
		msgs, err := saramaMessages(r.Topic, t.Messages)
		if err != nil {
			return acks, false, err
		}
		a, err := saramaSendAll(p, msgs, 60*time.Second)
		acks = append(acks, a...)
		if err != nil {
			return acks, false, err
		}
		switch t.Outcome {
		case "commit":
			err = p.CommitTxn()
		case "abort":
			err = p.AbortTxn()
		case "open":
			return acks, true, nil // main answers and exits: nothing ends the transaction
		default:
			err = fmt.Errorf("unknown outcome %q", t.Outcome)
		}
		if err != nil {
			return acks, false, err
		}
	}
	return acks, false, p.Close()
}

func (s *Sarama) TxnFence(r *Request) (map[string]any, error) {
	out := map[string]any{}
	brokers := strings.Split(r.Bootstrap, ",")
	a, err := sarama.NewAsyncProducer(brokers, saramaTxnConfig(r))
	if err != nil {
		return nil, err
	}
	defer a.Close()
	if err := a.BeginTxn(); err != nil {
		return nil, err
	}
	msgs, err := saramaMessages(r.Topic, r.First)
	if err != nil {
		return nil, err
	}
	if out["first"], err = saramaSendAll(a, msgs, 60*time.Second); err != nil {
		return out, err
	}
	// B's InitProducerId (in NewAsyncProducer) fences A, whose open transaction the coordinator aborts
	b, err := sarama.NewAsyncProducer(brokers, saramaTxnConfig(r))
	if err != nil {
		return out, err
	}
	defer b.Close()
	if msgs, err = saramaMessages(r.Topic, r.After); err != nil {
		return nil, err
	}
	_, serr := saramaSendAll(a, msgs, 30*time.Second)
	out["sendError"], out["afterAcked"] = errOrNil(serr), serr == nil
	if serr != nil {
		fmt.Fprintln(os.Stderr, "A's send after the fencing:", serr)
	}
	cerr := a.CommitTxn()
	if cerr != nil {
		noteError(cerr)
		fmt.Fprintln(os.Stderr, "A's commit after the fencing:", cerr)
	}
	out["commitError"] = errOrNil(cerr)
	if err := b.BeginTxn(); err != nil {
		return out, err
	}
	if msgs, err = saramaMessages(r.Topic, r.Second); err != nil {
		return nil, err
	}
	if out["second"], err = saramaSendAll(b, msgs, 60*time.Second); err != nil {
		return out, err
	}
	return out, b.CommitTxn()
}

// saramaCTP is the consume-transform-produce loop as a consumer-group handler: one batch
// (the records a claim has ready, at most MaxPoll) per transaction, one at a time.
type saramaCTP struct {
	r         *Request
	p         sarama.AsyncProducer
	admin     sarama.ClusterAdmin
	parts     []int32
	mu        sync.Mutex
	endSess   context.CancelFunc
	batches   int
	processed int
	committed map[int32]int64
	outputs   [][3]any
	aborted   [][3]any
	before    map[string]int64
	after     map[string]int64
	finished  bool
	failure   error
}

func (h *saramaCTP) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaCTP) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaCTP) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch := []*sarama.ConsumerMessage{m}
		drain:
			for len(batch) < h.r.MaxPoll {
				select {
				case m2, ok := <-claim.Messages():
					if !ok {
						break drain
					}
					batch = append(batch, m2)
				default:
					break drain
				}
			}
			if err := h.process(sess, batch); err != nil {
				h.mu.Lock()
				if h.failure == nil {
					h.failure = err
				}
				h.endSess()
				h.mu.Unlock()
				return err
			}
		}
	}
}

func (h *saramaCTP) process(sess sarama.ConsumerGroupSession, batch []*sarama.ConsumerMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sess.Context().Err() != nil || h.finished || h.failure != nil {
		return nil // this session is ending: the next one rereads from the committed offsets
	}
	n := h.batches
	h.batches++
	if err := h.p.BeginTxn(); err != nil {
		return err
	}
	msgs := make([]*sarama.ProducerMessage, len(batch))
	for i, m := range batch {
		msgs[i] = &sarama.ProducerMessage{Topic: h.r.Output, Partition: m.Partition, Key: sarama.ByteEncoder(m.Key),
			Value: sarama.ByteEncoder(transform(m.Value)), Metadata: i}
	}
	acks, err := saramaSendAll(h.p, msgs, 60*time.Second)
	if err != nil {
		return err
	}
	acked := make([][3]any, len(batch))
	for i, a := range acks {
		acked[i] = [3]any{a[0], a[1], transform(batch[i].Value)}
	}
	last := batch[len(batch)-1]
	offsets := map[string][]*sarama.PartitionOffsetMetadata{h.r.Input: {{Partition: last.Partition, Offset: last.Offset + 1}}}
	if err := h.p.AddOffsetsToTxnWithGroupMetadata(offsets, sarama.NewConsumerGroupMetadataFromSession(sess, h.r.Group, nil)); err != nil {
		return err
	}
	if n == h.r.AbortBatch {
		if err := h.p.AbortTxn(); err != nil {
			return err
		}
		h.aborted = append(h.aborted, acked...)
		h.before = partitionKeys(h.committed)
		h.after = committedAtLeast(h.fetchCommitted, h.parts, h.committed)
		h.endSess() // the next session starts at the committed offsets
		return nil
	}
	if err := h.p.CommitTxn(); err != nil {
		return err
	}
	h.committed[last.Partition] = last.Offset + 1
	h.outputs = append(h.outputs, acked...)
	h.processed += len(batch)
	if h.processed >= h.r.Expected {
		h.finished = true
		h.endSess()
	}
	return nil
}

func (h *saramaCTP) fetchCommitted() (map[int32]int64, error) {
	res, err := h.admin.ListConsumerGroupOffsets(h.r.Group, map[string][]int32{h.r.Input: h.parts})
	if err != nil {
		return nil, err
	}
	got := map[int32]int64{}
	for p, b := range res.Blocks[h.r.Input] {
		if b.Err != sarama.ErrNoError {
			return nil, b.Err
		}
		got[p] = b.Offset
	}
	return got, nil
}

func (s *Sarama) TxnCTP(r *Request) (map[string]any, error) {
	brokers := strings.Split(r.Bootstrap, ",")
	admin, err := saramaAdmin(r)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	md, err := admin.DescribeTopics([]string{r.Input})
	if err != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError {
		return nil, fmt.Errorf("describe %s: %v %v", r.Input, err, md)
	}
	parts := []int32{}
	for _, p := range md[0].Partitions {
		parts = append(parts, p.ID)
	}
	p, err := sarama.NewAsyncProducer(brokers, saramaTxnConfig(r))
	if err != nil {
		return nil, err
	}
	defer p.Close()
	c := saramaConfig()
	c.ClientID = "riffle-compat-sarama-ctp"
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	c.Consumer.Offsets.AutoCommit.Enable = false
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	g, err := sarama.NewConsumerGroup(brokers, r.Group, c)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	go func() {
		for err := range g.Errors() {
			noteError(err)
			fmt.Fprintln(os.Stderr, "sarama consumer group:", err)
		}
	}()
	h := &saramaCTP{r: r, p: p, admin: admin, parts: parts, committed: map[int32]int64{},
		outputs: [][3]any{}, aborted: [][3]any{}, before: map[string]int64{}, after: map[string]int64{}}
	ctx, cancel := ctxTimeout(r.TimeoutMs)
	defer cancel()
	for {
		sctx, scancel := context.WithCancel(ctx)
		h.mu.Lock()
		h.endSess = scancel
		h.mu.Unlock()
		err := g.Consume(sctx, []string{r.Input}, h)
		scancel()
		h.mu.Lock()
		finished, failure := h.finished, h.failure
		h.mu.Unlock()
		if failure != nil {
			return nil, failure
		}
		if finished {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("consume-transform-produce: %d of %d processed in time", h.processed, r.Expected)
		}
		if err != nil {
			noteError(err)
			fmt.Fprintln(os.Stderr, "sarama Consume:", err)
			time.Sleep(200 * time.Millisecond)
		}
	}
	return map[string]any{"outputs": h.outputs, "aborted": h.aborted, "batches": h.batches,
		"abortedBatch": r.AbortBatch, "committedBefore": h.before, "committedAfterAbort": h.after}, nil
}
