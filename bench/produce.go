package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceSpec is one produce-then-consume scenario.
type produceSpec struct {
	RecordBytes int    `json:"record_bytes"`
	Partitions  int    `json:"partitions"`
	Compression string `json:"compression"` // "none" or "lz4"
	Producers   int    `json:"producers"`
	// Window is how long throughput is measured, after Warmup; TotalBytes,
	// when set, replaces the window: produce that much and measure it all.
	Warmup     time.Duration `json:"warmup_ns"`
	Window     time.Duration `json:"window_ns"`
	TotalBytes int64         `json:"total_bytes,omitempty"`
	Consume    bool          `json:"consume"`
}

func (s produceSpec) name() string {
	size := fmt.Sprintf("%dB", s.RecordBytes)
	if s.RecordBytes%1024 == 0 {
		size = fmt.Sprintf("%dKiB", s.RecordBytes/1024)
	}
	return fmt.Sprintf("%s/p%d/%s", size, s.Partitions, s.Compression)
}

// produceResult is what one run measured (per broker, per repeat).
type produceResult struct {
	Records     int64   `json:"records"`       // acknowledged in the window
	Seconds     float64 `json:"seconds"`       // window length
	RecordsPerS float64 `json:"records_per_s"` // in the window
	MBPerS      float64 `json:"mb_per_s"`      // record values, 10^6 bytes/s
	CPUSeconds  float64 `json:"cpu_s"`         // broker user+system in the window
	CPUPerGB    float64 `json:"cpu_s_per_gb"`  // broker CPU seconds per 10^9 value bytes
	SysPerGB    float64 `json:"sys_s_per_gb"`  // the part of it spent in the kernel
	// OtherPerGB is the CPU the machine spent in the window outside the
	// broker and this process (whose clients produce): kernel threads
	// working for the broker, such as writeback workers and the completion
	// of its writes. A broker that leaves its pages dirty shows next to none:
	// the kernel writes them back after the window.
	OtherPerGB float64 `json:"other_cpu_s_per_gb"`
	PeakRSS    int64   `json:"peak_rss"` // broker VmHWM at the end of producing
	Errors     int64   `json:"errors"`
	TotalAcked int64   `json:"total_acked"` // everything acknowledged, warm-up included

	ConsumeRecordsPerS float64 `json:"consume_records_per_s,omitempty"`
	ConsumeMBPerS      float64 `json:"consume_mb_per_s,omitempty"`
	ConsumeCPUPerGB    float64 `json:"consume_cpu_s_per_gb,omitempty"`
	ConsumePeakRSS     int64   `json:"consume_peak_rss,omitempty"`
	// ConsumeClientCPU is the consuming clients' CPU (this process's,
	// nothing else runs in it then) as a percentage of one core: near 100
	// with one client, the client, not the broker, bounds the figure.
	ConsumeClientCPU float64 `json:"consume_client_cpu_percent,omitempty"`
}

// valuePool is text-like data (words from a small vocabulary) that record
// values are cut from at random positions, so that lz4 finds what it finds
// in real payloads (about 2:1) and not the repeats of one value.
var valuePool = func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := make([][]byte, 512)
	for i := range words {
		w := make([]byte, 3+r.IntN(8))
		for j := range w {
			w[j] = 'a' + byte(r.IntN(26))
		}
		words[i] = w
	}
	pool := make([]byte, 0, 32<<20)
	for len(pool) < 32<<20-16 {
		pool = append(pool, words[r.IntN(len(words))]...)
		pool = append(pool, ' ')
	}
	return pool
}()

func codecOf(name string) kgo.CompressionCodec {
	switch name {
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	case "snappy":
		return kgo.SnappyCompression()
	}
	return kgo.NoCompression()
}

// runProduce produces to a fresh topic with several idempotent acks=all
// producers, measures the window, then (if asked) consumes everything
// acknowledged with one consumer.
func runProduce(ctx context.Context, b *brokerProc, s produceSpec) (produceResult, error) {
	var res produceResult
	const topic = "bench"
	if err := createTopic(ctx, b.addr, topic, s.Partitions); err != nil {
		return res, err
	}
	var acked, ackedBytes, errs atomic.Int64
	var firstErr atomic.Value
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	var clients []*kgo.Client
	for i := 0; i < s.Producers; i++ {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(b.addr),
			kgo.DefaultProduceTopic(topic),
			kgo.RequiredAcks(kgo.AllISRAcks()), // also the default: idempotent needs it
			kgo.ProducerBatchCompression(codecOf(s.Compression)),
			kgo.RecordDeliveryTimeout(2*time.Minute),
		)
		if err != nil {
			return res, err
		}
		clients = append(clients, cl)
	}
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	var budget atomic.Int64 // bytes still to produce when TotalBytes is set
	budget.Store(s.TotalBytes)
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			// Records are reused once acknowledged: the benchmark's own
			// allocations would otherwise take CPU from the broker.
			free := make(chan *kgo.Record, 1<<14)
			promise := func(r *kgo.Record, err error) {
				switch {
				case errors.Is(err, context.Canceled):
					// Cut off by the end of the run.
				case err != nil:
					if errs.Add(1) == 1 {
						firstErr.Store(err)
					}
				default:
					acked.Add(1)
					ackedBytes.Add(int64(len(r.Value)))
				}
				select {
				case free <- r:
				default:
				}
			}
			for pctx.Err() == nil {
				if s.TotalBytes > 0 && budget.Add(-int64(s.RecordBytes)) < 0 {
					return
				}
				var r *kgo.Record
				select {
				case r = <-free:
					*r = kgo.Record{}
				default:
					r = new(kgo.Record)
				}
				off := rng.IntN(len(valuePool) - s.RecordBytes)
				r.Value = valuePool[off : off+s.RecordBytes : off+s.RecordBytes]
				cl.Produce(pctx, r, promise)
			}
		}()
	}

	var t0 time.Time
	var a0, by0 int64
	var cpu0 cpuSample
	if s.TotalBytes > 0 {
		t0, cpu0 = time.Now(), sampleCPU(b)
		wg.Wait()
		for _, cl := range clients {
			cl.Flush(ctx)
		}
	} else {
		sleepCtx(ctx, s.Warmup)
		t0, a0, by0, cpu0 = time.Now(), acked.Load(), ackedBytes.Load(), sampleCPU(b)
		sleepCtx(ctx, s.Window)
	}
	t1, a1, bytes1, cpu1 := time.Now(), acked.Load(), ackedBytes.Load(), sampleCPU(b)
	res.PeakRSS = b.memStatus("VmHWM")
	stop()
	wg.Wait()
	for _, cl := range clients {
		// Records cut off by the stop fail with context.Canceled; the
		// rest finish.
		cl.Flush(ctx)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Records = a1 - a0
	res.Seconds = t1.Sub(t0).Seconds()
	res.RecordsPerS = float64(res.Records) / res.Seconds
	bytes := float64(bytes1 - by0)
	res.MBPerS = bytes / 1e6 / res.Seconds
	res.CPUSeconds = (cpu1.user + cpu1.sys) - (cpu0.user + cpu0.sys)
	res.CPUPerGB = res.CPUSeconds / (bytes / 1e9)
	res.SysPerGB = (cpu1.sys - cpu0.sys) / (bytes / 1e9)
	res.OtherPerGB = max(0, (cpu1.machine-cpu0.machine)-res.CPUSeconds-(cpu1.self-cpu0.self)) / (bytes / 1e9)
	res.TotalAcked = acked.Load()
	res.Errors = errs.Load()
	if e, ok := firstErr.Load().(error); ok && res.Records == 0 {
		return res, fmt.Errorf("produce: %w", e)
	}
	if !s.Consume {
		return res, nil
	}
	b.resetPeakRSS()
	cres, err := consumeAll(ctx, b, topic, s.Partitions, s.Producers, res.TotalAcked)
	if err != nil {
		return res, err
	}
	res.ConsumeRecordsPerS, res.ConsumeMBPerS, res.ConsumeCPUPerGB = cres.recordsPerS, cres.mbPerS, cres.cpuPerGB
	res.ConsumeClientCPU = cres.clientCPU
	res.ConsumePeakRSS = b.memStatus("VmHWM")
	return res, nil
}

type consumeResult struct{ recordsPerS, mbPerS, cpuPerGB, clientCPU float64 }

// consumeAll reads want records from the start of every partition with up
// to `consumers` clients, the partitions dealt out round-robin (no group:
// direct assignment, as a replayer does). One client decompressing and counting a broker's whole output
// saturates its core before a fast broker does, so, as on the produce side,
// several clients share the work.
func consumeAll(ctx context.Context, b *brokerProc, topic string, partitions, consumers int, want int64) (consumeResult, error) {
	var res consumeResult
	n := max(1, min(consumers, partitions))
	c0, t0, self0 := b.cpu(), time.Now(), selfCPU()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var got, bytes atomic.Int64
	var firstErr error
	var once sync.Once
	fail := func(err error) {
		once.Do(func() { firstErr = err })
		cancel()
	}
	var wg sync.WaitGroup
	for k := 0; k < n; k++ {
		offsets := map[int32]kgo.Offset{}
		for p := k; p < partitions; p += n {
			offsets[int32(p)] = kgo.NewOffset().AtStart()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
		if err != nil {
			fail(err)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			for got.Load() < want && cctx.Err() == nil {
				fs := cl.PollFetches(cctx)
				for _, e := range fs.Errors() {
					if !errors.Is(e.Err, context.Canceled) && !errors.Is(e.Err, context.DeadlineExceeded) {
						fail(fmt.Errorf("consume: %v", e.Err))
						return
					}
				}
				var g, nb int64
				fs.EachRecord(func(r *kgo.Record) {
					g++
					nb += int64(len(r.Value))
				})
				bytes.Add(nb)
				if got.Add(g) >= want {
					cancel() // the others are done too
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(t0).Seconds()
	if firstErr != nil {
		return res, firstErr
	}
	if g := got.Load(); g < want {
		return res, fmt.Errorf("consume: %d of %d records: %w", g, want, cctx.Err())
	}
	cpu := b.cpu() - c0
	res.clientCPU = 100 * (selfCPU() - self0) / secs
	res.recordsPerS = float64(got.Load()) / secs
	res.mbPerS = float64(bytes.Load()) / 1e6 / secs
	res.cpuPerGB = cpu / (float64(bytes.Load()) / 1e9)
	return res, nil
}

// selfCPU is this process's CPU time (user + system) in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// machineCPU is the CPU seconds every core of the machine has spent busy
// (user, nice, system, irq, softirq; not idle, iowait or steal), from
// /proc/stat, whose unit is USER_HZ, 100 on Linux.
func machineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks float64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system (idle iowait) irq softirq
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	return ticks / 100
}

// cpuSample is the CPU seconds spent so far by the broker (user and
// system), by this process and by the whole machine.
type cpuSample struct{ user, sys, self, machine float64 }

func sampleCPU(b *brokerProc) cpuSample {
	u, s := b.cpuSplit()
	return cpuSample{user: u, sys: s, self: selfCPU(), machine: machineCPU()}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
