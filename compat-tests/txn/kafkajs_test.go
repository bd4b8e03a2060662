package txn

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
)

func TestKafkajs(t *testing.T) {
	t.Parallel()
	runScenarios(t, kafkajsClient())
}

func kafkajsClient() txnClient {
	return txnClient{
		name:     "kafkajs",
		producer: kafkajsProducer,
		read: func(t *testing.T, addr, topic string, partitions int32, committed bool, sentinel string) []rec {
			t.Helper()
			d := newKafkajsDriver(t, addr)
			defer d.close()
			var got []rec
			if err := d.call(map[string]any{"op": "read", "topic": topic, "partitions": partitions, "committed": committed, "sentinel": sentinel}, &got); err != nil {
				t.Fatalf("kafkajs read (committed %v): %v", committed, err)
			}
			return byPartition(got)
		},
		// kafkajs speaks EndTxn v1 and Produce v7, which know no
		// PRODUCER_FENCED: both answer INVALID_PRODUCER_EPOCH.
		fenced: func(_ string, err error) bool {
			e, ok := err.(*jsError)
			return ok && e.Type != nil && *e.Type == "INVALID_PRODUCER_EPOCH"
		},
		pipeline: func(t *testing.T, a pipelineArgs) *exec.Cmd { return kafkajsCommand(t, "pipeline", a) },
	}
}

// jsDir is compat-tests/js, where npm ci installs kafkajs.
func jsDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "js")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		t.Fatalf("kafkajs is not installed in %s (run make deps, or npm ci there): %v", dir, err)
	}
	return dir
}

func kafkajsCommand(t *testing.T, mode string, args any) *exec.Cmd {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	dir := jsDir(t)
	a, _ := json.Marshal(args)
	cmd := exec.Command(node, filepath.Join(dir, "kafkajs-txn.js"), mode, string(a))
	cmd.Dir = dir
	return cmd
}

// jsError is how kafkajs-txn.js describes a thrown error.
type jsError struct {
	Name    string     `json:"name"`
	Type    *string    `json:"type"`
	Message string     `json:"message"`
	Errors  []*jsError `json:"errors"`
	Cause   *jsError   `json:"cause"`
}

func (e *jsError) Error() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// kafkajsDriver is one "node kafkajs-txn.js driver" process.
type kafkajsDriver struct {
	t       *testing.T
	proc    *harness.Proc
	stdin   io.WriteCloser
	replies chan string
}

func newKafkajsDriver(t *testing.T, addr string) *kafkajsDriver {
	t.Helper()
	cmd := kafkajsCommand(t, "driver", map[string]string{"Addr": addr})
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &kafkajsDriver{t: t, stdin: stdin, replies: make(chan string, 16)}
	d.proc = harness.StartProc(t, "kafkajs driver", cmd, func(line string) {
		// Never block the output reader (a late answer to a call that
		// timed out stays unread).
		select {
		case d.replies <- line:
		default:
			t.Logf("kafkajs driver: unread answer %s", line)
		}
	}, nil)
	return d
}

// call runs one operation and decodes its result into v (if not nil).
func (d *kafkajsDriver) call(op map[string]any, v any) error {
	b, _ := json.Marshal(op)
	if _, err := d.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing to kafkajs: %w", err)
	}
	select {
	case line := <-d.replies:
		var r struct {
			Ok    json.RawMessage `json:"ok"`
			Error *jsError        `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("kafkajs answered %q: %v", line, err)
		}
		if r.Error != nil {
			return r.Error
		}
		if v != nil {
			return json.Unmarshal(r.Ok, v)
		}
		return nil
	case <-d.proc.Exited():
		return fmt.Errorf("kafkajs exited:\n%s", d.proc.Stderr())
	case <-time.After(60 * time.Second):
		return fmt.Errorf("kafkajs did not answer %v within 60s", op["op"])
	}
}

func (d *kafkajsDriver) close() {
	d.stdin.Close()
	select {
	case <-d.proc.Exited():
	case <-time.After(10 * time.Second):
		d.proc.Kill()
	}
}

type kafkajsTxn struct{ d *kafkajsDriver }

func kafkajsProducer(t *testing.T, addr, id string, timeout time.Duration) producer {
	t.Helper()
	d := newKafkajsDriver(t, addr)
	if err := d.call(map[string]any{"op": "init", "id": id, "timeoutMs": timeout.Milliseconds()}, nil); err != nil {
		d.close()
		t.Fatalf("kafkajs producer %s: %v", id, err)
	}
	return kafkajsTxn{d}
}

func (k kafkajsTxn) begin() error  { return k.d.call(map[string]any{"op": "begin"}, nil) }
func (k kafkajsTxn) commit() error { return k.d.call(map[string]any{"op": "commit"}, nil) }
func (k kafkajsTxn) abort() error  { return k.d.call(map[string]any{"op": "abort"}, nil) }

func (k kafkajsTxn) send(topic string, recs []rec) error {
	return k.d.call(map[string]any{"op": "send", "topic": topic, "records": recs}, nil)
}

// sendOffsets retries CONCURRENT_TRANSACTIONS, as an application using
// kafkajs has to: kafkajs retries it from AddPartitionsToTxn but not from
// AddOffsetsToTxn (eosManager.sendOffsets), and a coordinator answers it
// while the previous transaction's markers are being written (Kafka's
// TransactionCoordinator does the same), which is when a transaction of
// offsets only, begun right after a commit, sends it.
func (k kafkajsTxn) sendOffsets(group, topic string, offsets map[int32]int64) error {
	var err error
	harness.Poll(10*time.Second, func() error {
		err = k.d.call(map[string]any{"op": "sendOffsets", "group": group, "topic": topic, "offsets": offsets}, nil)
		if e, ok := err.(*jsError); ok && e.Type != nil && *e.Type == "CONCURRENT_TRANSACTIONS" {
			return err
		}
		return nil
	})
	return err
}

func (k kafkajsTxn) close() {
	k.d.call(map[string]any{"op": "close"}, nil)
	k.d.close()
}
