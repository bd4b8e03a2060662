package broker

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Offsets whose commit was acknowledged survive a SIGKILL of the broker
// process. Runs the real binary; skipped while partition logs do not
// survive restarts (logstore is the in-memory stand-in) and with -short.
func TestGroupOffsetsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the potok binary")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "potok")
	build := exec.Command("go", "build", "-o", bin, "../cmd/potok")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir := filepath.Join(tmp, "data")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--listeners", "PLAINTEXT://"+addr, "--log-dirs", dataDir,
			"--set", "group.initial.rebalance.delay.ms=0", "--set", "offsets.topic.num.partitions=4")
		if testing.Verbose() {
			cmd.Stderr = os.Stderr
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		return cmd
	}
	client := func() (*kgo.Client, *kadm.Client) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("killed"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		adm := kadm.NewClient(cl)
		eventually(t, 20*time.Second, "the broker to serve", func() error {
			_, err := adm.BrokerMetadata(context.Background())
			return err
		})
		return cl, adm
	}

	cmd := start()
	cl, adm := client()
	if _, err := adm.CreateTopic(ctxT(t), 1, 1, nil, "killed"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctxT(t), &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	offs := kadm.Offsets{}
	offs.AddOffset("killed", 0, 7, -1)
	if resp, err := adm.CommitOffsets(ctxT(t), "killed-group", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	cmd.Process.Kill() // SIGKILL: no shutdown, no flush
	cmd.Wait()
	cl.Close()

	start()
	_, adm = client()
	var end int64
	eventually(t, 20*time.Second, "the topic after the restart", func() error {
		ends, err := adm.ListEndOffsets(context.Background(), "killed")
		if err != nil {
			return err
		}
		o, _ := ends.Lookup("killed", 0)
		end = o.Offset
		return o.Err
	})
	if end == 0 {
		t.Skip("partition logs do not survive a restart yet (logstore is the in-memory stand-in)")
	}
	var got kadm.OffsetResponses
	eventually(t, 20*time.Second, "the group's offsets after the restart", func() error {
		got, err = adm.FetchOffsets(context.Background(), "killed-group")
		if err != nil {
			return err
		}
		return got.Error()
	})
	if o, ok := got.Lookup("killed", 0); !ok || o.At != 7 {
		t.Fatalf("committed offset after SIGKILL: %+v", o)
	}
}
