package txn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/potok-io/potok/compat-tests/harness"
)

func TestSarama(t *testing.T) {
	t.Parallel()
	runScenarios(t, saramaClient(sarama.V3_6_0_0))
}

// TestSaramaV2_1 speaks the transaction APIs at the versions of Kafka 2.1:
// InitProducerId v1, AddPartitionsToTxn v1, AddOffsetsToTxn v1, EndTxn v1
// (no PRODUCER_FENCED yet), TxnOffsetCommit v1 (no group metadata).
func TestSaramaV2_1(t *testing.T) {
	t.Parallel()
	runScenarios(t, saramaClient(sarama.V2_1_0_0))
}

func saramaClient(v sarama.KafkaVersion) txnClient {
	return txnClient{
		name: "sarama " + v.String(),
		producer: func(t *testing.T, addr, id string, timeout time.Duration) producer {
			t.Helper()
			p, err := sarama.NewAsyncProducer([]string{addr}, saramaProducerConfig(v, id, timeout))
			if err != nil {
				t.Fatalf("NewAsyncProducer %s: %v", id, err)
			}
			return saramaTxn{p}
		},
		read: func(t *testing.T, addr, topic string, partitions int32, committed bool, sentinel string) []rec {
			return saramaRead(t, v, addr, topic, partitions, committed, sentinel)
		},
		// EndTxn v2+ answers PRODUCER_FENCED, v0-v1
		// INVALID_PRODUCER_EPOCH, as does a Produce with the old epoch.
		fenced: func(at string, err error) bool {
			if at == "commit" && v.IsAtLeast(sarama.V2_7_0_0) {
				return errors.Is(err, sarama.ErrProducerFenced)
			}
			return errors.Is(err, sarama.ErrInvalidProducerEpoch)
		},
		pipeline: func(t *testing.T, a pipelineArgs) *exec.Cmd {
			a.Version = v.String()
			return harness.ChildCommand(t, "sarama-pipeline", a)
		},
	}
}

func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = v
	c.ClientID = "potok-compat"
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Return.Errors = true
	return c
}

func saramaProducerConfig(v sarama.KafkaVersion, id string, timeout time.Duration) *sarama.Config {
	c := saramaConfig(v)
	c.Producer.Idempotent = true
	c.Producer.Transaction.ID = id
	c.Producer.Transaction.Timeout = timeout
	c.Producer.Transaction.Retry.Backoff = 100 * time.Millisecond
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	c.Net.MaxOpenRequests = 1
	return c
}

// saramaTxn is a transactional AsyncProducer; NewAsyncProducer
// initialises its transactions.
type saramaTxn struct{ p sarama.AsyncProducer }

func (s saramaTxn) begin() error { return s.p.BeginTxn() }

// produce sends messages and waits for each to succeed or fail.
func saramaSend(p sarama.AsyncProducer, msgs []*sarama.ProducerMessage) error {
	for _, m := range msgs {
		p.Input() <- m
	}
	var first error
	timeout := time.After(30 * time.Second)
	for range msgs {
		select {
		case <-p.Successes():
		case err := <-p.Errors():
			if first == nil {
				first = err
			}
		case <-timeout:
			return errors.New("no answer for every message within 30s")
		}
	}
	return first
}

func (s saramaTxn) send(topic string, recs []rec) error {
	var msgs []*sarama.ProducerMessage
	for _, r := range recs {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: r.P, Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)})
	}
	return saramaSend(s.p, msgs)
}

func (s saramaTxn) sendOffsets(group, topic string, offsets map[int32]int64) error {
	var ps []*sarama.PartitionOffsetMetadata
	for p, o := range offsets {
		ps = append(ps, &sarama.PartitionOffsetMetadata{Partition: p, Offset: o})
	}
	return s.p.AddOffsetsToTxn(map[string][]*sarama.PartitionOffsetMetadata{topic: ps}, group)
}

func (s saramaTxn) commit() error { return s.p.CommitTxn() }
func (s saramaTxn) abort() error  { return s.p.AbortTxn() }
func (s saramaTxn) close()        { s.p.Close() }

// saramaRead reads every partition with a partition consumer from the
// oldest offset.
func saramaRead(t *testing.T, v sarama.KafkaVersion, addr, topic string, partitions int32, committed bool, sentinel string) []rec {
	t.Helper()
	c := saramaConfig(v)
	c.Consumer.IsolationLevel = sarama.ReadUncommitted
	if committed {
		c.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	cons, err := sarama.NewConsumer([]string{addr}, c)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer cons.Close()
	var out []rec
	timeout := time.After(30 * time.Second)
	for p := int32(0); p < partitions; p++ {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition %d: %v", p, err)
		}
		for seen := false; !seen; {
			select {
			case m := <-pc.Messages():
				out = append(out, rec{P: p, Key: string(m.Key), Value: string(m.Value)})
				seen = string(m.Value) == sentinel
			case err := <-pc.Errors():
				t.Fatalf("sarama reading %s/%d: %v", topic, p, err)
			case <-timeout:
				t.Fatalf("sarama (%v): no sentinel in partition %d within 30s; read %v", c.Consumer.IsolationLevel, p, out)
			}
		}
		pc.Close()
	}
	return out
}

// saramaPipeline is the pipeline process (pipelineArgs) with sarama: a
// read_committed ConsumerGroup and a transactional AsyncProducer; the
// consumed offsets go into the transaction with the group's generation and
// member id (TxnOffsetCommit v3, KIP-447, from Kafka 2.5's versions).
func saramaPipeline() error {
	var a pipelineArgs
	if err := harness.ChildArgs(&a); err != nil {
		return err
	}
	v, err := sarama.ParseKafkaVersion(a.Version)
	if err != nil {
		return err
	}
	p, err := sarama.NewAsyncProducer([]string{a.Addr}, saramaProducerConfig(v, a.TxnID, time.Minute))
	if err != nil {
		return fmt.Errorf("NewAsyncProducer: %w", err)
	}
	c := saramaConfig(v)
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = false
	c.Consumer.Group.Session.Timeout = time.Duration(a.SessionMs) * time.Millisecond
	c.Consumer.Group.Heartbeat.Interval = 100 * time.Millisecond
	c.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{a.Addr}, a.Group, c)
	if err != nil {
		return err
	}
	go func() {
		for err := range cg.Errors() {
			fmt.Fprintf(os.Stderr, "sarama: %v\n", err)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	h := &saramaPipe{a: a, p: p, failed: make(chan error, 1)}
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{a.In}, h); err != nil {
				fmt.Fprintf(os.Stderr, "sarama Consume: %v\n", err)
			}
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-h.failed:
		return err
	}
	cg.Close()
	return p.Close()
}

type saramaPipe struct {
	a      pipelineArgs
	p      sarama.AsyncProducer
	failed chan error

	mu   sync.Mutex // one transaction at a time, whatever the partition
	done int        // guarded by mu
	txns int        // guarded by mu
}

func (h *saramaPipe) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaPipe) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaPipe) fail(err error) error {
	select {
	case h.failed <- err:
	default:
	}
	return err
}

func (h *saramaPipe) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		var batch []*sarama.ConsumerMessage
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch = append(batch, m)
		case <-s.Context().Done():
			return nil
		}
		for more := true; more && len(batch) < 20; {
			select {
			case m, ok := <-claim.Messages():
				if ok {
					batch = append(batch, m)
				}
				more = ok
			default:
				more = false
			}
		}
		if err := h.process(s, batch); err != nil {
			return h.fail(err)
		}
	}
}

func (h *saramaPipe) process(s sarama.ConsumerGroupSession, batch []*sarama.ConsumerMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.p.BeginTxn(); err != nil {
		return fmt.Errorf("BeginTxn: %w", err)
	}
	var msgs []*sarama.ProducerMessage
	for _, m := range batch {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: h.a.Out, Partition: m.Partition,
			Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(append([]byte("out-"), m.Value...))})
	}
	if err := saramaSend(h.p, msgs); err != nil {
		return fmt.Errorf("producing: %w", err)
	}
	last := batch[len(batch)-1]
	meta := &sarama.ConsumerGroupMetadata{GroupID: h.a.Group, GenerationID: s.GenerationID(), MemberID: s.MemberID()}
	offsets := map[string][]*sarama.PartitionOffsetMetadata{last.Topic: {{Partition: last.Partition, Offset: last.Offset + 1}}}
	if err := h.p.AddOffsetsToTxnWithGroupMetadata(offsets, meta); err != nil {
		return fmt.Errorf("AddOffsetsToTxn: %w", err)
	}
	if h.txns++; h.txns == h.a.PauseAt {
		fmt.Println("paused")
		select {} // until killed
	}
	if err := h.p.CommitTxn(); err != nil {
		return fmt.Errorf("CommitTxn: %w", err)
	}
	h.done += len(batch)
	fmt.Printf("committed %d\n", h.done)
	return nil
}
