package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type brokerInfo struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

type machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryGiB  int    `json:"memory_gib"`
	Kernel     string `json:"kernel"`
	Filesystem string `json:"filesystem"` // of the data directory
	Go         string `json:"go"`
	// FreePageReporting is whether the machine is a virtual one whose
	// balloon device hands the memory the guest frees back to the host
	// (virtio-balloon free page reporting). There, a page the kernel
	// allocates afresh, as the page cache does for every new byte of a log,
	// costs a fault on the host when first touched: docs/performance.md.
	FreePageReporting bool `json:"free_page_reporting"`
}

func (m machine) String() string {
	s := fmt.Sprintf("%s, %d cores, %d GiB, Linux %s, data on %s, %s", m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Filesystem, m.Go)
	if m.FreePageReporting {
		s += ", virtio-balloon free page reporting on"
	}
	return s
}

type report struct {
	Machine   machine      `json:"machine"`
	Started   time.Time    `json:"started"`
	Finished  time.Time    `json:"finished"`
	Reps      int          `json:"reps"`
	Window    string       `json:"window"`
	Producers int          `json:"producers"`
	Brokers   []brokerInfo `json:"brokers"`
	Scenarios []string     `json:"scenarios"`
	Loopback  []float64    `json:"loopback_mb_per_s"`
	Runs      []*runRecord `json:"runs"`
	Medians   []medianRow  `json:"medians"`
}

// medianRow is one metric of one scenario: the median per broker and the
// ratio of Potok's median to each other broker's.
type medianRow struct {
	Scenario string             `json:"scenario"`
	Metric   string             `json:"metric"`
	Better   string             `json:"better"` // "higher" or "lower"
	Median   map[string]float64 `json:"median"`
	N        map[string]int     `json:"n"`
	Ratio    map[string]float64 `json:"potok_ratio,omitempty"`
}

type metric struct {
	name   string
	higher bool
	format string
	get    func(*runRecord) (float64, bool)
}

func produceMetric(name string, higher bool, format string, f func(*produceResult) float64) metric {
	return metric{name, higher, format, func(r *runRecord) (float64, bool) {
		if r.Produce == nil {
			return 0, false
		}
		v := f(r.Produce)
		return v, v != 0
	}}
}

func latencyMetric(name string, f func(*latencyResult) float64) metric {
	return metric{name, false, "%.2f", func(r *runRecord) (float64, bool) {
		if r.Latency == nil {
			return 0, false
		}
		return f(r.Latency), true
	}}
}

var metrics = []metric{
	produceMetric("produce records/s", true, "%.0f", func(p *produceResult) float64 { return p.RecordsPerS }),
	produceMetric("produce MB/s", true, "%.1f", func(p *produceResult) float64 { return p.MBPerS }),
	produceMetric("produce CPU s/GB", false, "%.2f", func(p *produceResult) float64 { return p.CPUPerGB }),
	produceMetric("produce CPU elsewhere s/GB", false, "%.2f", func(p *produceResult) float64 { return p.OtherPerGB }),
	produceMetric("produce peak RSS MB", false, "%.0f", func(p *produceResult) float64 { return float64(p.PeakRSS) / 1e6 }),
	produceMetric("consume MB/s", true, "%.1f", func(p *produceResult) float64 { return p.ConsumeMBPerS }),
	produceMetric("consume records/s", true, "%.0f", func(p *produceResult) float64 { return p.ConsumeRecordsPerS }),
	produceMetric("consume CPU s/GB", false, "%.2f", func(p *produceResult) float64 { return p.ConsumeCPUPerGB }),
	produceMetric("consume client CPU % of a core", false, "%.0f", func(p *produceResult) float64 { return p.ConsumeClientCPU }),
	latencyMetric("e2e p50 ms", func(l *latencyResult) float64 { return l.P50 }),
	latencyMetric("e2e p99 ms", func(l *latencyResult) float64 { return l.P99 }),
	latencyMetric("e2e p99.9 ms", func(l *latencyResult) float64 { return l.P999 }),
	latencyMetric("e2e max ms", func(l *latencyResult) float64 { return l.Max }),
	latencyMetric("broker CPU % of a core", func(l *latencyResult) float64 { return l.CPUPercent }),
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medians fills rep.Medians from the runs.
func (rep *report) medians() {
	rep.Medians = nil
	for _, sc := range rep.Scenarios {
		for _, m := range metrics {
			row := medianRow{Scenario: sc, Metric: m.name, Better: "lower", Median: map[string]float64{}, N: map[string]int{}}
			if m.higher {
				row.Better = "higher"
			}
			for _, b := range rep.Brokers {
				var vals []float64
				for _, r := range rep.Runs {
					if r.Scenario == sc && r.Broker == b.Name && r.Err == "" {
						if v, ok := m.get(r); ok {
							vals = append(vals, v)
						}
					}
				}
				if len(vals) > 0 {
					row.Median[b.Name] = median(vals)
					row.N[b.Name] = len(vals)
				}
			}
			if len(row.Median) == 0 {
				continue
			}
			if p, ok := row.Median["potok"]; ok {
				row.Ratio = map[string]float64{}
				for name, v := range row.Median {
					if name != "potok" && v != 0 {
						row.Ratio[name] = p / v
					}
				}
			}
			rep.Medians = append(rep.Medians, row)
		}
	}
}

// table renders the medians as Markdown.
func (rep *report) table() string {
	rep.medians()
	var sb strings.Builder
	fmt.Fprintf(&sb, "Machine: %s\n", rep.Machine)
	fmt.Fprintf(&sb, "Run: %s, %d repeats interleaved, medians; %d producer clients, %s windows; loopback TCP ceiling %.0f MB/s (median)\n\n",
		rep.Started.Format("2006-01-02 15:04 UTC"), rep.Reps, rep.Producers, rep.Window, median(rep.Loopback))
	var others []string
	for _, b := range rep.Brokers {
		if b.Name != "potok" {
			others = append(others, b.Name)
		}
	}
	sb.WriteString("| scenario | metric |")
	for _, b := range rep.Brokers {
		fmt.Fprintf(&sb, " %s |", b.Name)
	}
	for _, o := range others {
		fmt.Fprintf(&sb, " potok/%s |", o)
	}
	sb.WriteString("\n|---|---|")
	for range len(rep.Brokers) + len(others) {
		sb.WriteString("---:|")
	}
	sb.WriteString("\n")
	format := map[string]string{}
	for _, m := range metrics {
		format[m.name] = m.format
	}
	last := ""
	for _, row := range rep.Medians {
		sc := row.Scenario
		if sc == last {
			sc = ""
		}
		last = row.Scenario
		arrow := "↑"
		if row.Better == "lower" {
			arrow = "↓"
		}
		fmt.Fprintf(&sb, "| %s | %s %s |", sc, row.Metric, arrow)
		for _, b := range rep.Brokers {
			if v, ok := row.Median[b.Name]; ok {
				fmt.Fprintf(&sb, " "+format[row.Metric]+" |", v)
			} else {
				sb.WriteString(" – |")
			}
		}
		for _, o := range others {
			if v, ok := row.Ratio[o]; ok {
				fmt.Fprintf(&sb, " %.2f× |", v)
			} else {
				sb.WriteString(" – |")
			}
		}
		sb.WriteString("\n")
	}
	sb.WriteString("\n")
	for _, b := range rep.Brokers {
		fmt.Fprintf(&sb, "- %s: %s\n", b.Name, b.Label)
	}
	var errs []string
	for _, r := range rep.Runs {
		if r.Err != "" {
			errs = append(errs, fmt.Sprintf("- %s on %s, repeat %d: %s", r.Scenario, r.Broker, r.Rep+1, r.Err))
		}
	}
	if len(errs) > 0 {
		sb.WriteString("\nFailed runs (left out of the medians):\n" + strings.Join(errs, "\n") + "\n")
	}
	return sb.String()
}

func describeMachine(dir string) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	var si syscall.Sysinfo_t
	if syscall.Sysinfo(&si) == nil {
		m.MemoryGiB = int((uint64(si.Totalram)*uint64(si.Unit) + 1<<29) >> 30)
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var sb strings.Builder
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			sb.WriteByte(byte(c))
		}
		m.Kernel = sb.String()
	}
	if out, err := exec.Command("df", "--output=fstype,source", dir).Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 4 {
			m.Filesystem = f[2] + " (" + f[3] + ")"
		}
	}
	m.FreePageReporting = freePageReporting()
	return m
}

// freePageReporting reads the feature bits a virtio-balloon device
// negotiated (a string of 0s and 1s, bit 0 first) for
// VIRTIO_BALLOON_F_REPORTING, bit 5.
func freePageReporting() bool {
	const reporting = 5
	devs, _ := filepath.Glob("/sys/bus/virtio/drivers/virtio_balloon/virtio*/features")
	for _, d := range devs {
		if b, err := os.ReadFile(d); err == nil && len(b) > reporting && b[reporting] == '1' {
			return true
		}
	}
	return false
}
