package coordinator

// Transcript tests of the transaction coordinator: testdata_txn/*.txt hold
// commands and the expected output, with logical time. Regenerate with
// `go test ./coordinator -run TestTxnTranscripts -rewrite`.
//
//	init id=ID [timeout=ms] [version=v] [pid=P epoch=E]   InitProducerId
//	add id=ID pid=P epoch=E parts=t/0,t/1 [version=v]      AddPartitionsToTxn
//	end id=ID pid=P epoch=E commit|abort [version=v]       EndTxn
//	verify id=ID pid=P epoch=E part=t/0                   a transactional produce's check
//	hold-markers / release-markers                        keep markers in flight, then let them land
//	advance d=duration                                    move the clock and abort timed-out transactions
//	describe id=ID                                        the transaction's state
//	markers                                               markers written since the last "markers"
//	reload                                                a new coordinator replaying __transaction_state

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTxnTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata_txn", func(t *testing.T, path string) {
		h, clk := newFakeTxnHost(), &clock{now: time.Unix(1_700_000_000, 0)}
		c := newTxnCoord(h, clk)
		seen := 0
		var pendingEnd chan *kerr.Error // an EndTxn waiting for held markers
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			str := func(k string) string {
				var v string
				if d.HasArg(k) {
					d.ScanArgs(t, k, &v)
				}
				return v
			}
			num := func(k string, def int64) int64 {
				if !d.HasArg(k) {
					return def
				}
				n, err := strconv.ParseInt(str(k), 10, 64)
				if err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				return n
			}
			code := func(e *kerr.Error) string {
				if e == nil {
					return "ok"
				}
				return e.Message
			}
			version := int16(num("version", 4))
			id := str("id")
			switch d.Cmd {
			case "init":
				req := kmsg.NewPtrInitProducerIDRequest()
				req.Version, req.TransactionalID = version, &id
				req.TransactionTimeoutMillis = int32(num("timeout", 60_000))
				req.ProducerID, req.ProducerEpoch = num("pid", -1), int16(num("epoch", -1))
				ch := make(chan *kmsg.InitProducerIDResponse, 1)
				c.InitProducerID(req, func(r *kmsg.InitProducerIDResponse) { ch <- r })
				var r *kmsg.InitProducerIDResponse
				select {
				case r = <-ch:
				case <-time.After(5 * time.Second):
					t.Fatal("InitProducerId not answered")
				}
				settle(t, c, h)
				if r.ErrorCode != 0 {
					return kerr.ErrorForCode(r.ErrorCode).(*kerr.Error).Message + "\n"
				}
				return fmt.Sprintf("pid %d epoch %d\n", r.ProducerID, r.ProducerEpoch)
			case "add":
				var parts []TopicPartition
				for _, p := range strings.Split(str("parts"), ",") {
					topic, n, _ := strings.Cut(p, "/")
					i, _ := strconv.Atoi(n)
					parts = append(parts, TopicPartition{topic, int32(i)})
				}
				e := wait(t, func(f func(*kerr.Error)) {
					c.AddPartitions(id, num("pid", 0), int16(num("epoch", 0)), parts, version >= 2, f)
				})
				return code(e) + "\n"
			case "end":
				h.mu.Lock()
				held := h.hold
				h.mu.Unlock()
				if held {
					// EndTxn is answered once the markers are
					// written: release-markers prints the answer.
					ch := make(chan *kerr.Error, 1)
					c.EndTxn(id, num("pid", 0), int16(num("epoch", 0)), d.HasArg("commit"), version >= 2, func(e *kerr.Error) { ch <- e })
					settle(t, c, h)
					select {
					case e := <-ch: // refused at once
						return code(e) + "\n"
					default:
					}
					pendingEnd = ch
					return "pending until the markers are written\n"
				}
				e := wait(t, func(f func(*kerr.Error)) {
					c.EndTxn(id, num("pid", 0), int16(num("epoch", 0)), d.HasArg("commit"), version >= 2, f)
				})
				settle(t, c, h)
				return code(e) + "\n"
			case "verify":
				topic, n, _ := strings.Cut(str("part"), "/")
				i, _ := strconv.Atoi(n)
				return code(c.VerifyPartition(id, num("pid", 0), int16(num("epoch", 0)), TopicPartition{topic, int32(i)})) + "\n"
			case "hold-markers":
				h.mu.Lock()
				h.hold = true
				h.mu.Unlock()
				return "ok\n"
			case "release-markers":
				h.release()
				settle(t, c, h)
				if pendingEnd != nil {
					ch := pendingEnd
					pendingEnd = nil
					select {
					case e := <-ch:
						return "ok\nend answered: " + code(e) + "\n"
					case <-time.After(5 * time.Second):
						t.Fatal("EndTxn not answered once the markers were written")
					}
				}
				return "ok\n"
			case "advance":
				dur, err := time.ParseDuration(str("d"))
				if err != nil {
					t.Fatal(err)
				}
				clk.advance(dur)
				c.AbortTimedOut()
				settle(t, c, h)
				return "ok\n"
			case "describe":
				s, ok := c.Describe(id)
				if !ok {
					return "unknown\n"
				}
				var parts []string
				for _, p := range s.Partitions {
					parts = append(parts, fmt.Sprintf("%s/%d", p.Topic, p.Partition))
				}
				return fmt.Sprintf("%s pid %d epoch %d partitions [%s]\n", s.State, s.ProducerID, s.Epoch, strings.Join(parts, " "))
			case "markers":
				h.mu.Lock()
				ms := h.markers[seen:]
				seen = len(h.markers)
				h.mu.Unlock()
				if len(ms) == 0 {
					return "none\n"
				}
				var out []string
				for _, m := range ms {
					kind := "ABORT"
					if m.commit {
						kind = "COMMIT"
					}
					out = append(out, fmt.Sprintf("%s pid %d epoch %d on %s/%d", kind, m.pid, m.epoch, m.tp.Topic, m.tp.Partition))
				}
				sort.Strings(out)
				return strings.Join(out, "\n") + "\n"
			case "expire":
				c.ExpireIdle()
				settle(t, c, h)
				return "ok\n"
			case "reload":
				h2 := newFakeTxnHost()
				h2.logs, h2.nextPID = h.logs, h.nextPID
				h, seen = h2, 0
				c = newTxnCoord(h, clk)
				for p, l := range h.logs {
					if err := c.Load(p, l); err != nil {
						return "error: " + err.Error() + "\n"
					}
				}
				settle(t, c, h)
				return "ok\n"
			}
			t.Fatalf("unknown command %s", d.Cmd)
			return ""
		})
	})
}

// settle waits until no transition is being written and no markers that
// are not held are in flight.
func settle(t *testing.T, c *TxnCoordinator, h *fakeTxnHost) {
	t.Helper()
	eventually(t, func() bool {
		h.mu.Lock()
		held := len(h.held)
		h.mu.Unlock()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, s := range c.txns {
			if s.pending && held == 0 {
				return false
			}
			if (s.state == kmsg.TransactionStatePrepareCommit || s.state == kmsg.TransactionStatePrepareAbort) && held == 0 {
				return false
			}
		}
		return true
	})
}
