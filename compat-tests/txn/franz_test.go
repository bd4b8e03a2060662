package txn

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The broker's own tests run franz-go's transactions in one process
// (broker/txn_test.go); here only its GroupTransactSession runs, across
// processes.
func TestFranzPipeline(t *testing.T) {
	t.Parallel()
	c := franzClient()
	t.Run("pipeline", func(t *testing.T) { pipeline(t, c) })
	t.Run("pipeline-broker-kill", func(t *testing.T) { pipelineBrokerKill(t, c) })
}

// franzClient has only a pipeline.
func franzClient() txnClient {
	return txnClient{
		name:     "franz-go",
		pipeline: func(t *testing.T, a pipelineArgs) *exec.Cmd { return harness.ChildCommand(t, "franz-pipeline", a) },
	}
}

// franzPipeline is the pipeline process (pipelineArgs) with franz-go's
// GroupTransactSession, which sends the offsets at End. It pauses with the
// transaction's records produced, before End.
func franzPipeline() error {
	var a pipelineArgs
	if err := harness.ChildArgs(&a); err != nil {
		return err
	}
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(a.Addr),
		kgo.TransactionalID(a.TxnID),
		kgo.ConsumerGroup(a.Group),
		kgo.ConsumeTopics(a.In),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(time.Duration(a.SessionMs)*time.Millisecond),
		kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		return err
	}
	defer sess.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	done, txns := 0, 0
	for {
		fs := sess.PollRecords(ctx, 20)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) { fmt.Fprintf(os.Stderr, "fetch %s/%d: %v\n", topic, p, err) })
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("Begin: %w", err)
		}
		var rs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			rs = append(rs, &kgo.Record{Topic: a.Out, Partition: r.Partition, Key: r.Key, Value: append([]byte("out-"), r.Value...)})
		})
		if err := sess.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			return fmt.Errorf("producing: %w", err)
		}
		if txns++; txns == a.PauseAt {
			fmt.Println("paused")
			<-ctx.Done()
			return nil
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return fmt.Errorf("End: %w", err)
		}
		if committed {
			done += len(rs)
			fmt.Printf("committed %d\n", done)
		}
	}
}
