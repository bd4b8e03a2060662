package txn

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/potok-io/potok/compat-tests/harness"
)

// TestPipelineCrashLoop: each client's pipeline works through 3000 records
// while the test SIGKILLs the pipeline process three times and the broker
// twice, at random points; a pipeline process that exits is replaced. The
// output still holds each input exactly once. With POTOK_COMPAT_LONG set
// (make compat-crash) it is 30000 records and 20 kills.
func TestPipelineCrashLoop(t *testing.T) {
	n, kills := 3000, []string{"pipeline", "broker", "pipeline", "broker", "pipeline"}
	if os.Getenv("POTOK_COMPAT_LONG") != "" {
		n, kills = 30000, nil
		for i := 0; i < 10; i++ {
			kills = append(kills, "pipeline", "broker")
		}
	}
	for _, c := range []txnClient{confluentClient(), saramaClient(sarama.V3_6_0_0), kafkajsClient(), franzClient()} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			crashLoop(t, c, n, kills)
		})
	}
}

func crashLoop(t *testing.T, c txnClient, n int, kills []string) {
	b := start(t)
	a := pipelineSetup(t, b, n)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)

	var pp pipelineProgress
	var procs []*harness.Proc
	startOne := func() {
		procs = append(procs, harness.StartProc(t, fmt.Sprintf("%s pipeline %d", c.name, len(procs)+1), c.pipeline(t, a), pp.line, nil))
	}
	// supervise replaces a pipeline process that exited.
	supervise := func() error {
		select {
		case <-procs[len(procs)-1].Exited():
			if len(procs) >= 20 {
				return fmt.Errorf("%d pipeline processes so far; giving up", len(procs))
			}
			last := procs[len(procs)-1]
			lines := strings.Split(strings.TrimSpace(last.Stderr()), "\n")
			t.Logf("pipeline %d exited with %d (%s); starting another", len(procs), last.ExitCode(), lines[len(lines)-1])
			startOne()
		default:
		}
		return nil
	}
	startOne()
	adm := harness.Admin(t, b.Addr())
	for i, what := range kills {
		// Somewhere in the i-th of len(kills)+1 equal stretches.
		at := int64(n) * int64(2*i+1+rng.IntN(2)) / int64(2*(len(kills)+1))
		var done int64
		harness.Eventually(t, 120*time.Second, func() error {
			if err := supervise(); err != nil {
				t.Fatal(err)
			}
			os, err := adm.FetchOffsets(harness.Ctx(t, 5*time.Second), a.Group)
			if err != nil {
				return err
			}
			done = 0
			for _, ps := range os {
				for _, o := range ps {
					done += o.At
				}
			}
			if done < at {
				return fmt.Errorf("%d of %d records done, killing the %s at %d", done, n, what, at)
			}
			return nil
		})
		t.Logf("killing the %s with %d records done", what, done)
		if what == "broker" {
			b.Kill()
			b.Restart()
		} else {
			procs[len(procs)-1].Kill()
			startOne()
		}
	}
	pipelineOutput(t, b, a, n, supervise)
	procs[len(procs)-1].Stop(30 * time.Second)
	t.Logf("%d pipeline processes", len(procs))
}
