package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A broker under test runs as its own process, so its CPU time and memory
// can be read from /proc without counting the benchmark's clients.
type brokerKind struct {
	name  string // column name in the report
	label string // what it is, for the legend
	// args returns the command line for a broker listening on port with its
	// data in dir.
	args func(b *binaries, port int, dir string) []string
}

type binaries struct{ potok, kfake string }

var brokerKinds = []brokerKind{
	{"potok", "Potok, durable: acks=all answered after fdatasync (default flush.messages=1)",
		func(b *binaries, port int, dir string) []string {
			return []string{b.potok, "serve", "--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", port),
				"--log-dirs", dir, "--log-level", "warn"}
		}},
	{"kfake-mem", "kfake in memory",
		func(b *binaries, port int, dir string) []string {
			return []string{b.kfake, "-port", strconv.Itoa(port)}
		}},
	{"kfake-disk", "kfake persisted (DataDir), no fsync before acks",
		func(b *binaries, port int, dir string) []string {
			return []string{b.kfake, "-port", strconv.Itoa(port), "-data", dir}
		}},
	{"kfake-sync", "kfake persisted with SyncWrites: fsync per batch",
		func(b *binaries, port int, dir string) []string {
			return []string{b.kfake, "-port", strconv.Itoa(port), "-data", dir, "-sync"}
		}},
}

func kindByName(name string) (brokerKind, bool) {
	for _, k := range brokerKinds {
		if k.name == name {
			return k, true
		}
	}
	return brokerKind{}, false
}

// keepLogs keeps every broker's output file (-keep-logs).
var keepLogs bool

// brokerProc is one running broker process.
type brokerProc struct {
	kind    string
	cmd     *exec.Cmd
	addr    string
	dir     string // data directory, removed by stop
	logPath string
	waited  chan error
	started time.Time
	ready   time.Duration // from exec to the first answered Metadata request
}

// startBroker starts a broker of the given kind with a fresh data directory
// under root (or keepDir, when set: an existing directory to start from).
func startBroker(k brokerKind, bins *binaries, root, keepDir string) (*brokerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := keepDir
	if dir == "" {
		if dir, err = os.MkdirTemp(root, k.name+"-"); err != nil {
			return nil, err
		}
	}
	logPath := filepath.Join(root, fmt.Sprintf("%s-%d.log", k.name, port))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := k.args(bins, port, dir)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &brokerProc{kind: k.name, cmd: cmd, addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, logPath: logPath,
		waited: make(chan error, 1)}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { p.waited <- cmd.Wait(); logf.Close() }()
	if err := p.waitReady(60 * time.Second); err != nil {
		p.kill()
		return nil, fmt.Errorf("%s: %w (log: %s)", k.name, err, logPath)
	}
	return p, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls until the broker answers a Metadata request.
func (p *brokerProc) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.waited:
			p.waited <- err
			return fmt.Errorf("exited before serving: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
		if err != nil {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		c.Close()
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.RetryTimeout(time.Second))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = cl.Ping(ctx)
			cancel()
			cl.Close()
			if err == nil {
				p.ready = time.Since(p.started)
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("not serving in time")
}

// stop asks the broker to shut down cleanly, kills it if it does not, and
// removes its data directory unless keep is set.
func (p *brokerProc) stop(keep bool) error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-p.waited:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		err = <-p.waited
		err = fmt.Errorf("%s did not stop in 60 s: %v", p.kind, err)
	}
	if !keep {
		os.RemoveAll(p.dir)
		if !keepLogs {
			os.Remove(p.logPath)
		}
	}
	return err
}

// kill stops the broker at once (a crash), keeping its data directory.
func (p *brokerProc) kill() {
	p.cmd.Process.Kill()
	<-p.waited
}

// cpu returns the process's user + system CPU seconds so far (all threads).
func (p *brokerProc) cpu() float64 {
	u, s := p.cpuSplit()
	return u + s
}

// cpuSplit returns the process's user and system CPU seconds so far.
func (p *brokerProc) cpuSplit() (user, sys float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return ut / clockTicks, st / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// memStatus returns a value in bytes from /proc/<pid>/status (VmHWM, VmRSS,
// RssAnon, RssFile).
func (p *brokerProc) memStatus(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

// resetPeakRSS restarts VmHWM from the current RSS (clear_refs 5).
func (p *brokerProc) resetPeakRSS() {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}

// createTopic creates a topic and waits until every partition has a leader.
func createTopic(ctx context.Context, addr, topic string, partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, topic)
	if err != nil {
		return err
	}
	if resp.Err != nil {
		return resp.Err
	}
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Err == nil && len(t.Partitions) == partitions {
				ok := true
				for _, p := range t.Partitions {
					ok = ok && p.Leader >= 0 && p.Err == nil
				}
				if ok {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s not ready: %w", topic, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
