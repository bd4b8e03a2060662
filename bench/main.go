// Command bench measures Potok against franz-go's kfake with unmodified kgo
// clients. Every broker runs as its own process, started fresh for each
// scenario, so its CPU time and peak RSS are its own; scenarios are
// interleaved across brokers and repeats, and the report gives medians over
// the repeats and the ratios of Potok's medians to each peer's from the
// same run.
//
//	go run . -potok ../bin/potok -kfake ../bin/kfakebroker   (what `make bench` runs)
//
// Scenarios:
//   - produce: 100 B and 1 KiB records, 1 and 16 partitions, no compression
//     and lz4; acks=all, idempotent, several producer clients; records/s, MB/s
//     of record values, broker CPU seconds per GB of values, the machine's
//     CPU outside the broker and the clients per GB (kernel threads working
//     for the broker), peak RSS;
//   - consume: everything a produce run acknowledged, read back by one
//     consumer from the start of every partition;
//   - latency: 10,000 records/s of 1 KiB, linger 1 ms, end to end (sent due
//     -> consumed), corrected for coordinated omission;
//   - rss: 4 GiB produced to one broker, its peak RSS;
//   - loopback: one TCP connection over loopback, the ceiling for everything.
//
// Potok runs with its defaults: an acks=all write is acknowledged once it
// is fdatasynced. kfake runs in memory, persisted (written through the page
// cache, synced at roll and close), and persisted with SyncWrites (fsync per
// batch).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bins      binaries
	brokers   []brokerKind
	reps      int
	warmup    time.Duration
	window    time.Duration
	producers int
	only      *regexp.Regexp
	latency   bool
	rssBytes  int64
	rssOn     []string
	dir       string
	jsonPath  string
	mdPath    string
}

func main() {
	var o options
	brokers := flag.String("brokers", "potok,kfake-mem,kfake-disk,kfake-sync", "brokers to run, comma-separated")
	flag.StringVar(&o.bins.potok, "potok", "../bin/potok", "Potok binary")
	flag.StringVar(&o.bins.kfake, "kfake", "../bin/kfakebroker", "kfake broker binary (go build ./kfakebroker)")
	flag.IntVar(&o.reps, "reps", 3, "repeats of every scenario")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "produce warm-up before the measured window")
	flag.DurationVar(&o.window, "window", 5*time.Second, "measured produce window")
	flag.IntVar(&o.producers, "producers", 4, "producer clients in the throughput scenarios")
	only := flag.String("only", "", "run only scenarios whose name matches this regexp")
	flag.BoolVar(&o.latency, "latency", true, "run the latency scenario")
	rss := flag.Int64("rss-bytes", 4<<30, "bytes produced in the peak RSS scenario (0: skip)")
	rssOn := flag.String("rss-brokers", "potok", "brokers the peak RSS scenario runs on")
	flag.StringVar(&o.dir, "dir", os.TempDir(), "where brokers keep their data (each run gets a fresh directory)")
	flag.StringVar(&o.jsonPath, "json", "bench-results.json", "JSON output")
	flag.StringVar(&o.mdPath, "md", "", "also write the table (Markdown) to this file")
	flag.BoolVar(&keepLogs, "keep-logs", false, "keep every broker's output file in -dir")
	quick := flag.Bool("quick", false, "one repeat, 2 s windows, no RSS scenario: a smoke test")
	probe := flag.Int64("probe", 0, "measure the machine instead: page-cache, O_DIRECT and fdatasync costs, writing this many bytes per step in -dir")
	scale := flag.Bool("scale", false, "run the scale scenarios (Potok only) instead: idle partitions, connections, startup")
	alt := flag.String("alt", "", "an alternative Potok binary, run as broker \"potok-alt\" (A/B comparisons: -brokers potok,potok-alt)")
	flag.Parse()

	if *alt != "" {
		path := *alt
		brokerKinds = append(brokerKinds, brokerKind{"potok-alt", "Potok, alternative binary " + path,
			func(b *binaries, port int, dir string) []string {
				args := brokerKinds[0].args(&binaries{potok: path}, port, dir)
				return args
			}})
	}
	for _, n := range strings.Split(*brokers, ",") {
		k, ok := kindByName(strings.TrimSpace(n))
		if !ok {
			fatalf("unknown broker %q", n)
		}
		o.brokers = append(o.brokers, k)
	}
	if *only != "" {
		o.only = regexp.MustCompile(*only)
	}
	o.rssBytes = *rss
	o.rssOn = strings.Split(*rssOn, ",")
	if *quick {
		o.reps, o.window, o.warmup, o.rssBytes = 1, 2*time.Second, 500*time.Millisecond, 0
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if *probe > 0 {
		if err := runProbe(o.dir, *probe); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if *scale {
		if err := runScale(ctx, &o); err != nil {
			fatalf("%v", err)
		}
		return
	}
	rep := run(ctx, &o)
	table := rep.table()
	fmt.Print(table)
	if o.mdPath != "" {
		if err := os.WriteFile(o.mdPath, []byte(table), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(o.jsonPath, append(js, '\n'), 0o644); err != nil {
		fatalf("%v", err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", o.jsonPath)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// scenario is one thing measured on every broker in every repeat.
type scenario struct {
	name    string
	brokers []brokerKind
	run     func(ctx context.Context, b *brokerProc) (*runRecord, error)
}

// runRecord is one scenario on one broker in one repeat.
type runRecord struct {
	Scenario string         `json:"scenario"`
	Broker   string         `json:"broker"`
	Rep      int            `json:"rep"`
	Produce  *produceResult `json:"produce,omitempty"`
	Latency  *latencyResult `json:"latency,omitempty"`
	Err      string         `json:"error,omitempty"`
}

func (o *options) scenarios() []scenario {
	var out []scenario
	for _, size := range []int{100, 1024} {
		for _, parts := range []int{1, 16} {
			for _, codec := range []string{"none", "lz4"} {
				s := produceSpec{RecordBytes: size, Partitions: parts, Compression: codec, Producers: o.producers,
					Warmup: o.warmup, Window: o.window, Consume: true}
				out = append(out, scenario{name: "produce " + s.name(), brokers: o.brokers,
					run: func(ctx context.Context, b *brokerProc) (*runRecord, error) {
						r, err := runProduce(ctx, b, s)
						return &runRecord{Produce: &r}, err
					}})
			}
		}
	}
	if o.latency {
		s := latencySpec{Rate: 10000, RecordBytes: 1024, Partitions: 16, Linger: time.Millisecond,
			Warmup: 2 * time.Second, Window: 2 * o.window}
		out = append(out, scenario{name: "latency " + s.name(), brokers: o.brokers,
			run: func(ctx context.Context, b *brokerProc) (*runRecord, error) {
				r, err := runLatency(ctx, b, s)
				return &runRecord{Latency: &r}, err
			}})
	}
	if o.rssBytes > 0 {
		s := produceSpec{RecordBytes: 1024, Partitions: 16, Compression: "none", Producers: o.producers, TotalBytes: o.rssBytes}
		var on []brokerKind
		for _, k := range o.brokers {
			for _, n := range o.rssOn {
				if k.name == n {
					on = append(on, k)
				}
			}
		}
		out = append(out, scenario{name: fmt.Sprintf("rss %d MiB %s", o.rssBytes>>20, s.name()), brokers: on,
			run: func(ctx context.Context, b *brokerProc) (*runRecord, error) {
				r, err := runProduce(ctx, b, s)
				return &runRecord{Produce: &r}, err
			}})
	}
	if o.only != nil {
		kept := out[:0]
		for _, s := range out {
			if o.only.MatchString(s.name) {
				kept = append(kept, s)
			}
		}
		out = kept
	}
	return out
}

// run runs every scenario on every broker, reps times, interleaved: each
// repeat goes through all scenarios, and each scenario through all brokers
// in an order that rotates, so drift in the machine's load spreads over
// every broker alike.
func run(ctx context.Context, o *options) *report {
	rep := &report{Machine: describeMachine(o.dir), Started: time.Now().UTC(), Reps: o.reps,
		Window: o.window.String(), Producers: o.producers}
	for _, k := range o.brokers {
		rep.Brokers = append(rep.Brokers, brokerInfo{Name: k.name, Label: k.label})
	}
	scens := o.scenarios()
	for _, s := range scens {
		rep.Scenarios = append(rep.Scenarios, s.name)
	}
	total := 0
	for _, s := range scens {
		total += len(s.brokers) * o.reps
	}
	done := 0
	for r := 0; r < o.reps && ctx.Err() == nil; r++ {
		mb, err := loopbackMBps(2 * time.Second)
		if err == nil {
			rep.Loopback = append(rep.Loopback, mb)
		}
		for si, s := range scens {
			n := len(s.brokers)
			for i := 0; i < n && ctx.Err() == nil; i++ {
				k := s.brokers[(i+r+si)%n]
				done++
				fmt.Fprintf(os.Stderr, "[%d/%d] rep %d  %-40s %-10s ", done, total, r+1, s.name, k.name)
				rec := runOne(ctx, o, s, k)
				rec.Scenario, rec.Broker, rec.Rep = s.name, k.name, r
				rep.Runs = append(rep.Runs, rec)
				fmt.Fprintln(os.Stderr, rec.summary())
			}
		}
	}
	rep.Finished = time.Now().UTC()
	return rep
}

func runOne(ctx context.Context, o *options, s scenario, k brokerKind) *runRecord {
	b, err := startBroker(k, &o.bins, o.dir, "")
	if err != nil {
		return &runRecord{Err: err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	rec, err := s.run(rctx, b)
	cancel()
	if rec == nil {
		rec = &runRecord{}
	}
	failed := err != nil
	if err != nil {
		rec.Err = err.Error()
	}
	if err := b.stop(failed); err != nil && rec.Err == "" {
		rec.Err = "stop: " + err.Error()
	}
	if failed {
		rec.Err += " (data and log kept in " + b.dir + ", " + b.logPath + ")"
	}
	return rec
}

func (r *runRecord) summary() string {
	switch {
	case r.Err != "":
		return "ERROR " + r.Err
	case r.Produce != nil:
		p := r.Produce
		s := fmt.Sprintf("%9.0f rec/s %7.1f MB/s cpu %5.2f s/GB (sys %4.2f, elsewhere %4.2f) rss %4d MB", p.RecordsPerS, p.MBPerS, p.CPUPerGB, p.SysPerGB, p.OtherPerGB, p.PeakRSS>>20)
		if p.ConsumeMBPerS > 0 {
			s += fmt.Sprintf(" | consume %7.1f MB/s cpu %5.2f s/GB client %3.0f%%", p.ConsumeMBPerS, p.ConsumeCPUPerGB, p.ConsumeClientCPU)
		}
		return s
	case r.Latency != nil:
		l := r.Latency
		return fmt.Sprintf("p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms (n=%d, cpu %.0f%%)", l.P50, l.P99, l.P999, l.Max, l.Samples, l.CPUPercent)
	}
	return ""
}
