package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// latencySpec is the end-to-end latency scenario: a fixed rate of records,
// each stamped with the time it was due to be sent.
type latencySpec struct {
	Rate        int           `json:"rate"` // records per second
	RecordBytes int           `json:"record_bytes"`
	Partitions  int           `json:"partitions"`
	Linger      time.Duration `json:"linger_ns"`
	Warmup      time.Duration `json:"warmup_ns"`
	Window      time.Duration `json:"window_ns"`
}

func (s latencySpec) name() string {
	return fmt.Sprintf("%d/s %dB p%d linger %v", s.Rate, s.RecordBytes, s.Partitions, s.Linger)
}

type latencyResult struct {
	Samples    int     `json:"samples"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	P999       float64 `json:"p999_ms"`
	Max        float64 `json:"max_ms"`
	CPUPerGB   float64 `json:"cpu_s_per_gb"`
	CPUPercent float64 `json:"cpu_percent"` // broker CPU over the window, % of one core
}

// runLatency produces at a fixed rate and consumes at the same time. A
// record's latency runs from when it was due to be sent, not from when the
// producer got to it, so a stall that delays sending counts in full
// (coordinated omission): the schedule is fixed in advance.
func runLatency(ctx context.Context, b *brokerProc, s latencySpec) (latencyResult, error) {
	var res latencyResult
	const topic = "latency"
	if err := createTopic(ctx, b.addr, topic, s.Partitions); err != nil {
		return res, err
	}
	offsets := map[int32]kgo.Offset{}
	for p := 0; p < s.Partitions; p++ {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		return res, err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(s.Linger),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return res, err
	}
	defer prod.Close()
	// Both clients connect and learn metadata before the clock starts.
	if err := prod.Ping(ctx); err != nil {
		return res, err
	}

	base := time.Now().Add(100 * time.Millisecond)
	total := int(int64(s.Rate) * int64(s.Warmup+s.Window) / int64(time.Second))
	interval := time.Second / time.Duration(s.Rate)
	warmEnd := s.Warmup
	var prodErr error
	var perr sync.Once
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	pace, err := newPacer(base, interval)
	if err != nil {
		return res, err
	}
	go func() {
		defer pace.close()
		for i := 0; i < total && pctx.Err() == nil; i++ {
			due := time.Duration(i) * interval
			for time.Until(base.Add(due)) > 0 {
				if err := pace.wait(); err != nil {
					perr.Do(func() { prodErr = err })
					return
				}
			}
			v := make([]byte, s.RecordBytes)
			copy(v[8:], valuePool[i%(len(valuePool)-s.RecordBytes):])
			binary.BigEndian.PutUint64(v, uint64(due))
			prod.Produce(pctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
				if err != nil && !errors.Is(err, context.Canceled) {
					perr.Do(func() { prodErr = err })
				}
			})
		}
	}()

	lat := make([]time.Duration, 0, total)
	var c0, c1 float64
	var got int
	deadline := base.Add(s.Warmup + s.Window + 30*time.Second)
	cctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for got < total {
		fs := cons.PollFetches(cctx)
		now := time.Since(base)
		if cctx.Err() != nil {
			return res, fmt.Errorf("latency: consumed %d of %d: %w (producer: %v)", got, total, cctx.Err(), prodErr)
		}
		for _, e := range fs.Errors() {
			return res, fmt.Errorf("latency: consume: %v", e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			due := time.Duration(binary.BigEndian.Uint64(r.Value))
			if due >= warmEnd {
				if len(lat) == 0 {
					c0 = b.cpu()
				}
				lat = append(lat, now-due)
			}
		})
	}
	c1 = b.cpu()
	if prodErr != nil {
		return res, fmt.Errorf("latency: produce: %w", prodErr)
	}
	slices.Sort(lat)
	pct := func(q float64) float64 {
		i := int(q*float64(len(lat))+0.5) - 1
		i = min(max(i, 0), len(lat)-1)
		return float64(lat[i]) / 1e6
	}
	res.Samples = len(lat)
	res.P50, res.P99, res.P999, res.Max = pct(0.50), pct(0.99), pct(0.999), pct(1)
	res.CPUPercent = 100 * (c1 - c0) / s.Window.Seconds()
	res.CPUPerGB = (c1 - c0) / (float64(len(lat)*s.RecordBytes) / 1e9)
	return res, nil
}
