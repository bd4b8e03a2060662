package txn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/potok-io/potok/compat-tests/harness"
)

func TestConfluent(t *testing.T) {
	t.Parallel()
	runScenarios(t, confluentClient())
}

func confluentClient() txnClient {
	return txnClient{
		name:     "confluent",
		producer: confluentProducer,
		read:     confluentRead,
		// librdkafka raises its fatal _FENCED for PRODUCER_FENCED from
		// EndTxn; a Produce rejected with INVALID_PRODUCER_EPOCH fails
		// the message with that code (and fences the producer).
		fenced: func(at string, err error) bool {
			var kerr kafka.Error
			if !errors.As(err, &kerr) {
				return false
			}
			if at == "commit" {
				return kerr.Code() == kafka.ErrFenced && kerr.IsFatal()
			}
			return kerr.Code() == kafka.ErrInvalidProducerEpoch
		},
		pipeline: func(t *testing.T, a pipelineArgs) *exec.Cmd { return harness.ChildCommand(t, "confluent-pipeline", a) },
	}
}

type confluentTxn struct{ p *kafka.Producer }

func confluentProducer(t *testing.T, addr, id string, timeout time.Duration) producer {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":      addr,
		"transactional.id":       id,
		"transaction.timeout.ms": int(timeout / time.Millisecond),
		"linger.ms":              5,
	})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.InitTransactions(ctx); err != nil {
		p.Close()
		t.Fatalf("InitTransactions %s: %v", id, err)
	}
	return confluentTxn{p}
}

func (c confluentTxn) begin() error { return c.p.BeginTransaction() }

func (c confluentTxn) send(topic string, recs []rec) error {
	reports := make(chan kafka.Event, len(recs))
	for _, r := range recs {
		m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: r.P}, Key: []byte(r.Key), Value: []byte(r.Value)}
		if err := c.p.Produce(m, reports); err != nil {
			return err
		}
	}
	timeout := time.After(30 * time.Second)
	for range recs {
		select {
		case e := <-reports:
			if m, ok := e.(*kafka.Message); !ok {
				return fmt.Errorf("unexpected event %v", e)
			} else if m.TopicPartition.Error != nil {
				return m.TopicPartition.Error
			}
		case <-timeout:
			return errors.New("no delivery report within 30s")
		}
	}
	return nil
}

func (c confluentTxn) sendOffsets(group, topic string, offsets map[int32]int64) error {
	meta, err := kafka.NewTestConsumerGroupMetadata(group)
	if err != nil {
		return err
	}
	var tps []kafka.TopicPartition
	for p, o := range offsets {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.Offset(o)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.p.SendOffsetsToTransaction(ctx, tps, meta)
}

func (c confluentTxn) commit() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.p.CommitTransaction(ctx)
}

func (c confluentTxn) abort() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.p.AbortTransaction(ctx)
}

func (c confluentTxn) close() { c.p.Close() }

// confluentRead assigns every partition (no subscription; librdkafka
// still wants a group.id) and reads until each has shown the sentinel.
func confluentRead(t *testing.T, addr, topic string, partitions int32, committed bool, sentinel string) []rec {
	t.Helper()
	iso := "read_uncommitted"
	if committed {
		iso = "read_committed"
	}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  addr,
		"group.id":           "reader",
		"isolation.level":    iso,
		"enable.auto.commit": false,
		"fetch.wait.max.ms":  100,
	})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer c.Close()
	var tps []kafka.TopicPartition
	for p := int32(0); p < partitions; p++ {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		t.Fatalf("Assign: %v", err)
	}
	done := map[int32]bool{}
	var out []rec
	deadline := time.Now().Add(30 * time.Second)
	for len(done) < int(partitions) {
		if time.Now().After(deadline) {
			t.Fatalf("confluent %s: sentinel seen in %d of %d partitions after 30s; read %v", iso, len(done), partitions, out)
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			p := e.TopicPartition.Partition
			if done[p] {
				t.Errorf("confluent %s read %s at %d/%d after the sentinel", iso, e.Value, p, e.TopicPartition.Offset)
			}
			out = append(out, rec{P: p, Key: string(e.Key), Value: string(e.Value)})
			if string(e.Value) == sentinel {
				done[p] = true
			}
		case kafka.Error:
			t.Fatalf("confluent %s: %v", iso, e)
		}
	}
	return byPartition(out)
}

// confluentPipeline is the pipeline process (pipelineArgs) with
// confluent-kafka-go: a subscribed read_committed consumer and a
// transactional producer, SendOffsetsToTransaction with the consumer's
// group metadata (KIP-447).
func confluentPipeline() error {
	var a pipelineArgs
	if err := harness.ChildArgs(&a); err != nil {
		return err
	}
	cons, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":     a.Addr,
		"group.id":              a.Group,
		"isolation.level":       "read_committed",
		"enable.auto.commit":    false,
		"auto.offset.reset":     "earliest",
		"session.timeout.ms":    a.SessionMs,
		"heartbeat.interval.ms": 100,
		"fetch.wait.max.ms":     100,
	})
	if err != nil {
		return err
	}
	// No delivery reports: nothing reads them, and Flush waits for
	// unread ones too.
	prod, err := kafka.NewProducer(&kafka.ConfigMap{"bootstrap.servers": a.Addr, "transactional.id": a.TxnID, "linger.ms": 5,
		"go.delivery.reports": false})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := prod.InitTransactions(ctx); err != nil {
		return fmt.Errorf("InitTransactions: %w", err)
	}
	if err := cons.Subscribe(a.In, nil); err != nil {
		return err
	}
	done, txns := 0, 0
	for ctx.Err() == nil {
		var batch []*kafka.Message
		for wait := 100; len(batch) < 20; wait = 0 {
			ev := cons.Poll(wait)
			if ev == nil {
				break
			}
			switch e := ev.(type) {
			case *kafka.Message:
				batch = append(batch, e)
			case kafka.Error:
				fmt.Fprintf(os.Stderr, "consumer: %v\n", e)
			}
		}
		if len(batch) == 0 {
			continue
		}
		if err := prod.BeginTransaction(); err != nil {
			return fmt.Errorf("BeginTransaction: %w", err)
		}
		for _, m := range batch {
			out := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &a.Out, Partition: m.TopicPartition.Partition},
				Key: m.Key, Value: append([]byte("out-"), m.Value...)}
			if err := prod.Produce(out, nil); err != nil {
				return fmt.Errorf("Produce: %w", err)
			}
		}
		assigned, err := cons.Assignment()
		if err != nil {
			return err
		}
		positions, err := cons.Position(assigned)
		if err != nil {
			return err
		}
		var offsets []kafka.TopicPartition
		for _, p := range positions {
			if p.Offset >= 0 {
				offsets = append(offsets, p)
			}
		}
		meta, err := cons.GetConsumerGroupMetadata()
		if err != nil {
			return err
		}
		if err := prod.SendOffsetsToTransaction(ctx, offsets, meta); err != nil {
			return fmt.Errorf("SendOffsetsToTransaction: %w", err)
		}
		if txns++; txns == a.PauseAt {
			prod.Flush(10000)
			fmt.Println("paused")
			<-ctx.Done()
			return nil
		}
		if err := prod.CommitTransaction(ctx); err != nil {
			return fmt.Errorf("CommitTransaction: %w", err)
		}
		done += len(batch)
		fmt.Printf("committed %d\n", done)
	}
	prod.Close()
	return cons.Close()
}
