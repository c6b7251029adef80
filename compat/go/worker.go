package main

// One consumer-group member, as harness/group_worker.py is for the Python clients:
// the first stdin line is its configuration, later lines are commands ("ids", "close",
// "exit"); events are JSON lines on stdout (started, assign, revoke, lost, recs, commit,
// commit_failed, error, stopped_after, ids, closed, fatal). Every record handed to the
// application is reported, and its offset committed synchronously after the batch and
// when its partition is revoked. The library-specific loops are in franz.go and
// sarama.go; this file holds what they share.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

type WorkerConfig struct {
	Bootstrap        string   `json:"bootstrap"`
	Group            string   `json:"group"`
	Topics           []string `json:"topics"`
	ClientID         string   `json:"client_id"`
	SessionTimeoutMs int      `json:"session_timeout_ms"`
	HeartbeatMs      int      `json:"heartbeat_ms"`
	Strategy         string   `json:"strategy"`
	InstanceID       string   `json:"instance_id"`
	MaxPoll          int      `json:"max_poll"`
	StopAfter        *int     `json:"stop_after"`
	AfterStop        string   `json:"after_stop"`
	CommitEvery      int      `json:"commit_every"`
	BatchDelayMs     int      `json:"batch_delay_ms"`
	OffsetReset      string   `json:"offset_reset"`
	// "classic" (default) or "consumer" (KIP-848: ConsumerGroupHeartbeat, server-side
	// assignment with RemoteAssignor, "uniform" or "range"; franz-go only)
	GroupProtocol  string `json:"group_protocol"`
	RemoteAssignor string `json:"remote_assignor"`
	// a regex subscription instead of Topics (franz-go's ConsumeRegex; with the consumer
	// protocol the broker resolves it: SubscribedTopicRegex)
	Pattern string `json:"pattern"`
}

type TP struct {
	Topic     string
	Partition int32
}

type WRec struct {
	TP
	Offset int64
	Value  []byte
}

// Worker is the state every library's loop shares.
type Worker struct {
	cfg         *WorkerConfig
	mu          sync.Mutex
	outMu       sync.Mutex
	processed   map[TP]int64 // next offset to commit
	uncommitted map[TP]bool
	count       int
	batches     int
	Commands    chan string
}

func (w *Worker) Emit(ev string, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["ev"] = ev
	fields["t"] = float64(time.Now().UnixMilli()) / 1000
	b, _ := json.Marshal(fields)
	w.outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	w.outMu.Unlock()
}

func Parts(tps []TP) [][2]any {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	out := make([][2]any, 0, len(tps))
	for _, tp := range tps {
		out = append(out, [2]any{tp.Topic, tp.Partition})
	}
	return out
}

// Process reports records up to stop_after; true if some were left unprocessed.
func (w *Worker) Process(recs []WRec) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := [][4]any{}
	for _, r := range recs {
		if w.cfg.StopAfter != nil && w.count >= *w.cfg.StopAfter {
			break
		}
		var v any
		if r.Value != nil {
			v = string(r.Value)
		}
		out = append(out, [4]any{r.Topic, r.Partition, r.Offset, v})
		w.processed[r.TP] = r.Offset + 1
		w.uncommitted[r.TP] = true
		w.count++
	}
	if len(out) > 0 {
		w.Emit("recs", map[string]any{"recs": out})
		w.batches++
	}
	return len(out) < len(recs)
}

// Pending is what is processed and not committed (of `only`'s partitions, if given).
func (w *Worker) Pending(only map[TP]bool) map[TP]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[TP]int64{}
	for tp := range w.uncommitted {
		if only == nil || only[tp] {
			out[tp] = w.processed[tp]
		}
	}
	return out
}

// CommitPending commits what is pending with `commit`, and reports it.
func (w *Worker) CommitPending(only map[TP]bool, where string, commit func(map[TP]int64) error) bool {
	offs := w.Pending(only)
	if len(offs) == 0 {
		return true
	}
	list := [][3]any{}
	for tp, o := range offs {
		list = append(list, [3]any{tp.Topic, tp.Partition, o})
	}
	if err := commit(offs); err != nil {
		noteError(err)
		w.Emit("commit_failed", map[string]any{"error": err.Error(), "where": where, "offsets": list})
		return false
	}
	w.mu.Lock()
	for tp, o := range offs {
		if w.processed[tp] == o {
			delete(w.uncommitted, tp)
		}
	}
	w.mu.Unlock()
	w.Emit("commit", map[string]any{"where": where, "offsets": list})
	return true
}

// Forget drops the progress on partitions this member no longer owns.
func (w *Worker) Forget(tps []TP) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, tp := range tps {
		delete(w.uncommitted, tp)
		delete(w.processed, tp)
	}
}

// Processed is the next offset of each partition processed so far.
func (w *Worker) Processed() map[TP]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[TP]int64{}
	for k, v := range w.processed {
		out[k] = v
	}
	return out
}

// AfterBatch decides, after a processed batch: commit now? stop now?
func (w *Worker) AfterBatch(cut bool) (commit, stop bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	reached := w.cfg.StopAfter != nil && w.count >= *w.cfg.StopAfter
	every := w.cfg.CommitEvery
	if every < 1 {
		every = 1
	}
	return w.batches%every == 0 || cut || reached, cut || reached
}

func (w *Worker) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

func (w *Worker) Delay() {
	if w.cfg.BatchDelayMs > 0 {
		time.Sleep(time.Duration(w.cfg.BatchDelayMs) * time.Millisecond)
	}
}

func runWorker(c Client) int {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	w := &Worker{processed: map[TP]int64{}, uncommitted: map[TP]bool{}, Commands: make(chan string, 16)}
	if !in.Scan() {
		w.Emit("fatal", map[string]any{"error": "no configuration on stdin"})
		return 2
	}
	var cfg WorkerConfig
	if err := json.Unmarshal(in.Bytes(), &cfg); err != nil {
		w.Emit("fatal", map[string]any{"error": fmt.Sprintf("configuration: %v", err)})
		return 2
	}
	if cfg.SessionTimeoutMs == 0 {
		cfg.SessionTimeoutMs = 6000
	}
	if cfg.HeartbeatMs == 0 {
		cfg.HeartbeatMs = 500
	}
	if cfg.MaxPoll == 0 {
		cfg.MaxPoll = 200
	}
	if cfg.OffsetReset == "" {
		cfg.OffsetReset = "earliest"
	}
	w.cfg = &cfg
	go func() {
		for in.Scan() {
			if line := string(in.Bytes()); line != "" {
				if line == "exit" {
					os.Exit(3)
				}
				w.Commands <- line
			}
		}
		w.Commands <- "eof"
	}()
	if err := c.GroupWorker(&cfg, w); err != nil {
		w.Emit("fatal", map[string]any{"error": err.Error()})
		return 2
	}
	return 0
}
