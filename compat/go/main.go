// The Go client driver of Riffle's compatibility suite: franz-go (kgo, kadm) and
// sarama behind one command protocol, the one compat/java's driver speaks.
//
//	driver <franz-go|sarama> <command>
//
// The request is one JSON object on stdin; the answer exactly one JSON object on
// stdout: {"ok": true, ...} or {"ok": false, "error": ..., "type": ...}, with "errors":
// every Kafka error the client reported to the driver, counted by name. Keys, values
// and header values are base64 (encoding/json's []byte).
//
// Commands: version, create-topic, delete-topic, produce, offsets, offsets-by-timestamp,
// metadata, describe-configs, read, admin, txn-produce, txn-fence, txn-ctp (txn.go),
// reassign, list-reassignments and unregister-broker (franz-go),
// group-worker (long-running, JSON lines; see worker.go).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Request is every command's request; each uses the fields it needs.
type Request struct {
	Bootstrap  string `json:"bootstrap"`
	Topic      string `json:"topic"`
	Partitions int32  `json:"partitions"`
	// ReplicationFactor of create-topic (1 when absent)
	ReplicationFactor int16             `json:"replicationFactor"`
	Configs           map[string]string `json:"configs"`
	Compression       string            `json:"compression"`
	Idempotent        bool              `json:"idempotent"`
	Messages          []Message         `json:"messages"`
	Timestamp         int64             `json:"timestamp"`
	// offsets-by-timestamp: earliest, latest or max-timestamp instead of Timestamp
	// (franz-go; sarama's ListOffsets stops at v6, before max-timestamp)
	Spec      string `json:"spec"`
	TimeoutMs int64  `json:"timeoutMs"`
	Group     string `json:"group"`
	// produce: print {"progress": acknowledged, "failed": n} lines before the answer
	// every ProgressEvery completions, with at most MaxInFlight unacknowledged sends
	ProgressEvery int64 `json:"progressEvery"`
	MaxInFlight   int   `json:"maxInFlight"`
	// reassign: partition → target replicas (null cancels its reassignment)
	Targets map[string]*[]int32 `json:"targets"`
	// unregister-broker: the broker to unregister
	Broker int32 `json:"broker"`
	// read, offsets: read_uncommitted (default) or read_committed
	Isolation string `json:"isolation"`
	// read: {partition: offset}: read only these partitions, each until the record
	// before that offset has been delivered (instead of up to the high watermark)
	Until map[string]int64 `json:"until"`
	// txn-produce, txn-fence, txn-ctp (txn.go)
	TransactionalID      string    `json:"transactionalId"`
	TransactionTimeoutMs int64     `json:"transactionTimeoutMs"`
	Transactions         []TxnSpec `json:"transactions"`
	First                []Message `json:"first"`
	After                []Message `json:"after"`
	Second               []Message `json:"second"`
	Input                string    `json:"input"`
	Output               string    `json:"output"`
	Expected             int       `json:"expected"`
	MaxPoll              int       `json:"maxPoll"`
	AbortBatch           int       `json:"abortBatch"`
	// TLS / SASL (security.go)
	Security *Security `json:"security"`
}

var stdoutMu sync.Mutex

// progress reports produce progress on stdout (the harness injects faults at given points).
func progress(acked, failed int64) {
	stdoutMu.Lock()
	fmt.Fprintf(os.Stdout, "{\"progress\": %d, \"failed\": %d}\n", acked, failed)
	stdoutMu.Unlock()
}

// flight bounds unacknowledged sends and counts completions for progress lines.
type flight struct {
	slots        chan struct{}
	every        int64
	done, failed int64
	mu           sync.Mutex
}

func newFlight(r *Request) *flight {
	n := r.MaxInFlight
	if n <= 0 {
		n = 1 << 30
	}
	return &flight{slots: make(chan struct{}, min(n, 1<<20)), every: r.ProgressEvery}
}

func (f *flight) acquire() { f.slots <- struct{}{} }

func (f *flight) complete(err error) {
	<-f.slots
	f.mu.Lock()
	f.done++
	if err != nil {
		f.failed++
	}
	done, failed := f.done, f.failed
	f.mu.Unlock()
	if f.every > 0 && done%f.every == 0 {
		progress(done-failed, failed)
	}
}

type Message struct {
	Key       []byte       `json:"key"`
	Value     []byte       `json:"value"`
	Headers   [][2]*string `json:"headers"` // [name, base64 value or null]
	Timestamp *int64       `json:"timestamp"`
	Partition *int32       `json:"partition"`
}

type Header struct {
	Key   string
	Value []byte
}

func (m Message) headers() ([]Header, error) {
	out := make([]Header, 0, len(m.Headers))
	for _, h := range m.Headers {
		if h[0] == nil {
			return nil, errors.New("header without a name")
		}
		var v []byte
		if h[1] != nil {
			if err := json.Unmarshal([]byte(fmt.Sprintf("%q", *h[1])), &v); err != nil {
				return nil, err
			}
		}
		out = append(out, Header{*h[0], v})
	}
	return out, nil
}

// Record is one record read back.
type Record struct {
	Partition     int32    `json:"partition"`
	Offset        int64    `json:"offset"`
	Key           []byte   `json:"key"`
	Value         []byte   `json:"value"`
	Headers       [][2]any `json:"headers"`
	Timestamp     int64    `json:"timestamp"`
	TimestampType string   `json:"timestampType"`
}

// Client is what each library implements.
type Client interface {
	Version() map[string]any
	CreateTopic(r *Request) error
	DeleteTopic(r *Request) error
	Produce(r *Request) (acks [][2]int64, failed [][3]any, err error)
	Offsets(r *Request) ([]map[string]int64, error)
	OffsetsByTimestamp(r *Request) ([]map[string]int64, error)
	Metadata(r *Request) (map[string]any, error)
	DescribeConfigs(r *Request) (map[string][2]any, error)
	Read(r *Request) ([]Record, error)
	Admin(r *Request) (map[string]any, error)
	GroupWorker(cfg *WorkerConfig, w *Worker) error
}

var (
	errorsMu   sync.Mutex
	errorsSeen = map[string]int{}
)

// noteError counts an error the client reported, under its Kafka name when it has one.
func noteError(err error) {
	if err == nil {
		return
	}
	name := fmt.Sprintf("%T", err)
	var ke *kerr.Error
	if errors.As(err, &ke) {
		name = ke.Message
	} else if code, ok := saramaCode(err); ok {
		if e := kerr.ErrorForCode(code); e != nil {
			var k *kerr.Error
			if errors.As(e, &k) {
				name = k.Message
			}
		}
	}
	errorsMu.Lock()
	errorsSeen[name]++
	errorsMu.Unlock()
}

func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}

func sortedKeys[V any](m map[int32]V) []int32 {
	ks := make([]int32, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: driver <franz-go|sarama> <command>")
		os.Exit(2)
	}
	var c Client
	switch os.Args[1] {
	case "franz-go":
		c = &Franz{}
	case "sarama":
		c = &Sarama{}
	default:
		fmt.Fprintln(os.Stderr, "unknown client", os.Args[1])
		os.Exit(2)
	}
	cmd := os.Args[2]
	if cmd == "group-worker" {
		os.Exit(runWorker(c))
	}
	res := map[string]any{}
	var r Request
	body, err := io.ReadAll(os.Stdin)
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &r)
	}
	security = r.Security
	if err == nil {
		err = dispatch(c, cmd, &r, res)
	}
	code := 0
	if err != nil {
		noteError(err)
		res = map[string]any{"ok": false, "error": err.Error(), "type": fmt.Sprintf("%T", err)}
		code = 1
	} else {
		res["ok"] = true
	}
	errorsMu.Lock()
	res["errors"] = errorsSeen
	out, _ := json.Marshal(res)
	errorsMu.Unlock()
	stdoutMu.Lock()
	os.Stdout.Write(append(out, '\n'))
	stdoutMu.Unlock()
	os.Exit(code)
}

func dispatch(c Client, cmd string, r *Request, res map[string]any) error {
	switch cmd {
	case "version":
		for k, v := range c.Version() {
			res[k] = v
		}
		return nil
	case "create-topic":
		return c.CreateTopic(r)
	case "delete-topic":
		return c.DeleteTopic(r)
	case "produce":
		acks, failed, err := c.Produce(r)
		res["acks"], res["failed"] = acks, failed
		if failed == nil {
			res["failed"] = [][3]any{}
		}
		return err
	case "offsets":
		ps, err := c.Offsets(r)
		res["partitions"] = ps
		return err
	case "offsets-by-timestamp":
		ps, err := c.OffsetsByTimestamp(r)
		res["partitions"] = ps
		return err
	case "metadata":
		md, err := c.Metadata(r)
		for k, v := range md {
			res[k] = v
		}
		return err
	case "describe-configs":
		cs, err := c.DescribeConfigs(r)
		res["configs"] = cs
		return err
	case "read":
		recs, err := c.Read(r)
		if recs == nil {
			recs = []Record{}
		}
		res["records"] = recs
		return err
	case "admin":
		calls, err := c.Admin(r)
		res["calls"] = calls
		return err
	case "txn-produce", "txn-fence", "txn-ctp":
		t, ok := c.(transactor)
		if !ok {
			return fmt.Errorf("%s: not supported by this client's driver", cmd)
		}
		switch cmd {
		case "txn-produce":
			acks, open, err := t.TxnProduce(r)
			if acks == nil {
				acks = [][2]int64{}
			}
			res["acks"], res["leftOpen"] = acks, open
			return err
		case "txn-fence":
			out, err := t.TxnFence(r)
			for k, v := range out {
				res[k] = v
			}
			return err
		}
		out, err := t.TxnCTP(r)
		for k, v := range out {
			res[k] = v
		}
		return err
	case "reassign", "list-reassignments", "unregister-broker":
		ra, ok := c.(reassigner)
		if !ok {
			return fmt.Errorf("%s: not supported by this client's driver", cmd)
		}
		if cmd == "reassign" {
			out, err := ra.Reassign(r)
			res["results"] = out
			return err
		}
		if cmd == "unregister-broker" {
			out, err := ra.UnregisterBroker(r)
			res["result"] = out
			return err
		}
		out, err := ra.ListReassignments(r)
		res["ongoing"] = out
		return err
	}
	return fmt.Errorf("unknown command %s", cmd)
}

func ptr[T any](v T) *T { return &v }

// settle calls get until it reports done, or until d has passed: then it returns the
// last value (the scenario reports it). Kafka (KRaft) answers an admin change once its
// controller has committed it, and its broker's metadata shows it a little later: a
// describe right after an alter may still show the previous state.
func settle(d time.Duration, get func() (value any, done bool, err error)) (any, error) {
	deadline := time.Now().Add(d)
	for {
		v, done, err := get()
		if done || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (r *Request) replicationFactor() int16 {
	if r.ReplicationFactor <= 0 {
		return 1
	}
	return r.ReplicationFactor
}

func headerPairs(hs []Header) [][2]any {
	out := make([][2]any, 0, len(hs))
	for _, h := range hs {
		var v any
		if h.Value != nil {
			v = h.Value // []byte: base64 in JSON
		}
		out = append(out, [2]any{h.Key, v})
	}
	return out
}

// Calls records each admin call's outcome on its own: {"ok": true, "value": ...} or
// {"ok": false, "error": KAFKA_ERROR_NAME, "message": ...}.
type Calls map[string]any

func (c Calls) Step(name string, fn func() (any, error)) {
	v, err := fn()
	if err != nil {
		noteError(err)
		c[name] = map[string]any{"ok": false, "error": errName(err), "message": err.Error()}
		return
	}
	c[name] = map[string]any{"ok": true, "value": v}
}
