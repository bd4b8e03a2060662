package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The scale scenarios run on Potok alone (kfake keeps every record in
// memory and has no data directory to start from):
//   - idle partitions: 10,000 partitions, one record each, then idle;
//     RSS, open files and memory maps;
//   - connections: 1,000 clients connected at once, each producing, then
//     all producing together; RSS and produce latency;
//   - startup: 1,000 partitions holding 10 GiB, restarted after a clean
//     shutdown and after a crash (SIGKILL); time from exec to the first
//     answered Metadata request.

type scaleReport struct {
	Machine machine        `json:"machine"`
	Started time.Time      `json:"started"`
	Results []*scaleResult `json:"results"`
}

type scaleResult struct {
	Name    string             `json:"name"`
	Values  map[string]float64 `json:"values"`
	Units   map[string]string  `json:"units"`
	Err     string             `json:"error,omitempty"`
	Seconds float64            `json:"seconds"`
}

func (r *scaleResult) set(key string, v float64, unit string) {
	if r.Values == nil {
		r.Values, r.Units = map[string]float64{}, map[string]string{}
	}
	r.Values[key], r.Units[key] = v, unit
	fmt.Fprintf(os.Stderr, "  %-40s %12.2f %s\n", key, v, unit)
}

var (
	scalePartitions = 10000
	scaleConns      = 1000
	scaleStartParts = 1000
	scaleStartBytes = int64(10 << 30)
)

func runScale(ctx context.Context, o *options) error {
	rep := &scaleReport{Machine: describeMachine(o.dir), Started: time.Now().UTC()}
	pk, _ := kindByName("potok")
	for _, s := range []struct {
		name string
		run  func(context.Context, *options, brokerKind, *scaleResult) error
	}{
		{fmt.Sprintf("%d idle partitions", scalePartitions), scaleIdle},
		{fmt.Sprintf("%d connections", scaleConns), scaleConnections},
		{fmt.Sprintf("startup with %d partitions and %d GiB", scaleStartParts, scaleStartBytes>>30), scaleStartup},
	} {
		if o.only != nil && !o.only.MatchString(s.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "%s\n", s.name)
		res := &scaleResult{Name: s.name}
		start := time.Now()
		if err := s.run(ctx, o, pk, res); err != nil {
			res.Err = err.Error()
			fmt.Fprintf(os.Stderr, "  ERROR %v\n", err)
		}
		res.Seconds = time.Since(start).Seconds()
		rep.Results = append(rep.Results, res)
	}
	fmt.Print(rep.table())
	js, _ := json.MarshalIndent(rep, "", "  ")
	return os.WriteFile(o.jsonPath, append(js, '\n'), 0o644)
}

func (rep *scaleReport) table() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Machine: %s\n\n", rep.Machine)
	sb.WriteString("| scenario | measure | value |\n|---|---|---:|\n")
	for _, r := range rep.Results {
		keys := make([]string, 0, len(r.Values))
		for k := range r.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		name := r.Name
		if r.Err != "" {
			fmt.Fprintf(&sb, "| %s | error | %s |\n", name, r.Err)
			name = ""
		}
		for _, k := range keys {
			fmt.Fprintf(&sb, "| %s | %s | %.2f %s |\n", name, k, r.Values[k], r.Units[k])
			name = ""
		}
	}
	return sb.String()
}

// procStats records the broker's memory, files and maps.
func procStats(b *brokerProc, res *scaleResult, prefix string) {
	res.set(prefix+"RSS", float64(b.memStatus("VmRSS"))/1e6, "MB")
	res.set(prefix+"peak RSS", float64(b.memStatus("VmHWM"))/1e6, "MB")
	res.set(prefix+"anonymous RSS", float64(b.memStatus("RssAnon"))/1e6, "MB")
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.cmd.Process.Pid)); err == nil {
		res.set(prefix+"open files", float64(len(ents)), "")
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", b.cmd.Process.Pid)); err == nil {
		res.set(prefix+"memory maps", float64(strings.Count(string(data), "\n")), "")
	}
}

// createTopics creates topics of parts partitions each, several per
// request, and waits until the last has leaders.
func createTopics(ctx context.Context, addr string, names []string, parts int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestTimeoutOverhead(time.Minute))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(120000)
	for i := 0; i < len(names); i += 20 {
		batch := names[i:min(i+20, len(names))]
		resps, err := adm.CreateTopics(ctx, int32(parts), 1, nil, batch...)
		if err != nil {
			return err
		}
		for _, r := range resps {
			if r.Err != nil {
				return fmt.Errorf("create %s: %w", r.Topic, r.Err)
			}
		}
	}
	return nil
}

func scaleIdle(ctx context.Context, o *options, k brokerKind, res *scaleResult) error {
	b, err := startBroker(k, &o.bins, o.dir, "")
	if err != nil {
		return err
	}
	defer b.stop(false)
	procStats(b, res, "empty broker: ")
	const perTopic = 100
	var names []string
	for i := 0; i < scalePartitions/perTopic; i++ {
		names = append(names, fmt.Sprintf("idle-%03d", i))
	}
	t0 := time.Now()
	if err := createTopics(ctx, b.addr, names, perTopic); err != nil {
		return err
	}
	res.set("create partitions", time.Since(t0).Seconds(), "s")
	procStats(b, res, "created: ")
	// One record to every partition, so that every log has a segment
	// with data, then nothing.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(scalePartitions+1))
	if err != nil {
		return err
	}
	t0 = time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	for _, n := range names {
		for p := 0; p < perTopic; p++ {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: n, Partition: int32(p), Value: []byte("x")}, func(_ *kgo.Record, err error) {
				if err != nil && failed.Add(1) == 1 {
					firstErr.Store(err)
				}
				wg.Done()
			})
		}
	}
	wg.Wait()
	cl.Close()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d records failed: %v", n, scalePartitions, firstErr.Load())
	}
	res.set("produce one record to each", time.Since(t0).Seconds(), "s")
	sleepCtx(ctx, 5*time.Second)
	procStats(b, res, "idle after writes: ")
	return nil
}

func scaleConnections(ctx context.Context, o *options, k brokerKind, res *scaleResult) error {
	b, err := startBroker(k, &o.bins, o.dir, "")
	if err != nil {
		return err
	}
	defer b.stop(false)
	if err := createTopic(ctx, b.addr, "conns", 16); err != nil {
		return err
	}
	procStats(b, res, "before: ")
	clients := make([]*kgo.Client, scaleConns)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	t0 := time.Now()
	produceAll := func() ([]time.Duration, error) {
		lat := make([]time.Duration, len(clients))
		errs := make(chan error, len(clients))
		var wg sync.WaitGroup
		for i, cl := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := time.Now()
				if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
					errs <- err
				}
				lat[i] = time.Since(s)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return nil, err
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat, nil
	}
	for i := range clients {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DefaultProduceTopic("conns"))
		if err != nil {
			return err
		}
		clients[i] = cl
	}
	if _, err := produceAll(); err != nil {
		return err
	}
	res.set("connect and produce once", time.Since(t0).Seconds(), "s")
	procStats(b, res, "connected: ")
	lat, err := produceAll()
	if err != nil {
		return err
	}
	res.set("all produce at once: p50", float64(lat[len(lat)/2])/1e6, "ms")
	res.set("all produce at once: max", float64(lat[len(lat)-1])/1e6, "ms")
	procStats(b, res, "after: ")
	return nil
}

func scaleStartup(ctx context.Context, o *options, k brokerKind, res *scaleResult) error {
	dir, err := os.MkdirTemp(o.dir, "startup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := startBroker(k, &o.bins, o.dir, dir)
	if err != nil {
		return err
	}
	const perTopic = 100
	var names []string
	for i := 0; i < scaleStartParts/perTopic; i++ {
		names = append(names, fmt.Sprintf("big-%02d", i))
	}
	if err := createTopics(ctx, b.addr, names, perTopic); err != nil {
		b.stop(true)
		return err
	}
	// Fill: 1 KiB records spread over every partition.
	t0 := time.Now()
	var acked atomic.Int64
	var wg sync.WaitGroup
	var prodErr atomic.Value
	per := scaleStartBytes / int64(len(names))
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DefaultProduceTopic(n),
				kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
			if err != nil {
				prodErr.Store(err)
				return
			}
			defer cl.Close()
			for sent := int64(0); sent < per && ctx.Err() == nil; sent += 1024 {
				off := int(sent) % (len(valuePool) - 1024)
				cl.Produce(ctx, &kgo.Record{Value: valuePool[off : off+1024]}, func(_ *kgo.Record, err error) {
					if err != nil {
						prodErr.Store(err)
					} else {
						acked.Add(1024)
					}
				})
			}
			cl.Flush(ctx)
		}()
	}
	wg.Wait()
	if err, ok := prodErr.Load().(error); ok {
		b.stop(true)
		return fmt.Errorf("fill: %w", err)
	}
	res.set("fill", time.Since(t0).Seconds(), "s")
	res.set("data written", float64(acked.Load())/(1<<30), "GiB")
	res.set("data directory", float64(dirSize(dir))/(1<<30), "GiB")
	t0 = time.Now()
	if err := b.stop(true); err != nil {
		return err
	}
	res.set("clean shutdown", time.Since(t0).Seconds(), "s")
	// Drop the page cache? Not ours to drop on a shared machine: the
	// restarts below read what the kernel still holds.
	for i := 0; i < 3; i++ {
		b, err = startBroker(k, &o.bins, o.dir, dir)
		if err != nil {
			return err
		}
		res.set(fmt.Sprintf("restart after clean shutdown #%d: exec to serving", i+1), b.ready.Seconds(), "s")
		if i == 0 {
			procStats(b, res, "restarted: ")
			if err := checkPartitions(ctx, b.addr, names, perTopic); err != nil {
				b.stop(true)
				return err
			}
		}
		if err := b.stop(true); err != nil {
			return err
		}
	}
	b, err = startBroker(k, &o.bins, o.dir, dir)
	if err != nil {
		return err
	}
	b.kill()
	b, err = startBroker(k, &o.bins, o.dir, dir)
	if err != nil {
		return err
	}
	res.set("restart after SIGKILL: exec to serving", b.ready.Seconds(), "s")
	return b.stop(true)
}

// checkPartitions checks that the restarted broker serves every partition
// with its data.
func checkPartitions(ctx context.Context, addr string, names []string, parts int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return err
	}
	n := 0
	var bad error
	ends.Each(func(o kadm.ListedOffset) {
		n++
		if o.Err != nil || o.Offset <= 0 {
			bad = fmt.Errorf("%s/%d after restart: offset %d, %v", o.Topic, o.Partition, o.Offset, o.Err)
		}
	})
	if bad != nil {
		return bad
	}
	if n != len(names)*parts {
		return fmt.Errorf("%d partitions listed after restart, want %d", n, len(names)*parts)
	}
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
