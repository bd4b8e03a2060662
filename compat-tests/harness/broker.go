// Package harness runs a real potok process for the compatibility tests:
// it builds (or finds) the binary, starts it on a free loopback port with a
// temporary data directory, waits until it serves, and stops, kills and
// restarts it. Every process it starts is killed in t.Cleanup, also when
// the test fails, and the broker's stderr is written to the test log when
// the test failed.
package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configure a broker. The zero value starts a broker with Potok's
// defaults except auto.create.topics.enable, which Start turns off unless
// Settings names it (tests create their topics explicitly, so a typo
// surfaces as UNKNOWN_TOPIC_OR_PARTITION instead of a fresh topic).
type Options struct {
	// Settings are broker settings with Kafka's names, passed as --set.
	Settings map[string]string
	// ErrorsExpected is for tests that provoke errors on purpose (a full
	// disk): the broker's ERROR lines do not fail them, panics and races
	// still do.
	ErrorsExpected bool
}

// Broker is one running (or stopped) potok process.
type Broker struct {
	t    testing.TB
	bin  string
	dir  string // data directory, kept across restarts
	opts Options

	mu     sync.Mutex
	port   int           // guarded by mu; 0 until the first start
	cmd    *exec.Cmd     // guarded by mu; nil when not running
	exited chan struct{} // guarded by mu; closed when cmd has been waited for
	log    bytes.Buffer  // guarded by mu; stderr of every run
	runs   int           // guarded by mu
}

// startTimeout bounds how long a broker may take to say it is ready.
const startTimeout = 30 * time.Second

// Start starts a broker on a free loopback port with a data directory under
// t.TempDir(). It fails the test if the broker does not become ready.
func Start(t testing.TB, opts Options) *Broker {
	t.Helper()
	b := &Broker{t: t, bin: Binary(t), dir: filepath.Join(t.TempDir(), "data"), opts: opts}
	t.Cleanup(func() {
		b.Kill()
		// A client must never make the broker log an error or panic.
		for _, line := range strings.Split(b.Log(), "\n") {
			if strings.Contains(line, "level=ERROR") && !opts.ErrorsExpected || strings.HasPrefix(line, "panic:") || strings.Contains(line, "DATA RACE") {
				t.Errorf("potok logged: %s", line)
			}
		}
		if t.Failed() {
			b.mu.Lock()
			out := b.log.String()
			b.mu.Unlock()
			t.Logf("potok stderr (%s):\n%s", b.dir, out)
		}
	})
	b.start()
	return b
}

// Addr returns host:port of the broker's PLAINTEXT listener.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("127.0.0.1:%d", b.port)
}

// Dir returns the broker's data directory.
func (b *Broker) Dir() string { return b.dir }

// Log returns what the broker wrote to stderr so far, over all its runs.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after 30s,
// which fails the test: a clean shutdown must not hang).
func (b *Broker) Stop() {
	b.t.Helper()
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		b.t.Errorf("potok did not stop within 30s of SIGTERM; killing it")
		b.Kill()
		return
	}
	b.mu.Lock()
	b.cmd = nil
	b.mu.Unlock()
}

// Kill sends SIGKILL and waits for the process to be gone.
func (b *Broker) Kill() {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Restart starts the broker again on the same port and data directory
// after Stop or Kill (or stops it first if it is running).
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start()
}

var readyLine = regexp.MustCompile(`potok is ready.*listeners=PLAINTEXT://[^ ,]*:(\d+)`)

// start runs the process and waits for its "potok is ready" line. The first
// run binds port 0 and learns the port from that line, so no other process
// can take it between choosing and binding; later runs reuse the port.
func (b *Broker) start() {
	b.t.Helper()
	b.mu.Lock()
	port := b.port
	b.runs++
	fmt.Fprintf(&b.log, "=== start %d\n", b.runs)
	b.mu.Unlock()

	args := []string{"serve",
		"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", port),
		"--log-dirs", b.dir,
	}
	settings := map[string]string{"auto.create.topics.enable": "false"}
	for k, v := range b.opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--set", k+"="+settings[k])
	}

	if port != 0 {
		// A restart reuses the port: wait until the old process has let
		// go of it, so a failure to bind is a real failure.
		Eventually(b.t, 10*time.Second, func() error {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				return err
			}
			return l.Close()
		})
	}
	port, err := b.run(args)
	if err != nil {
		b.t.Fatalf("starting potok: %v", err)
	}
	b.mu.Lock()
	b.port = port
	b.mu.Unlock()
	waitDial(b.t, fmt.Sprintf("127.0.0.1:%d", port))
}

// run starts one process and returns the port it reports as ready.
func (b *Broker) run(args []string) (int, error) {
	cmd := exec.Command(b.bin, args...)
	// potok reads POTOK_* variables as settings (POTOK_LOG_DIRS is
	// log.dirs); the test's own, such as POTOK_BIN, are not for it.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "POTOK_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GOTRACEBACK=all")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan struct{})
	ready := make(chan int, 1)
	var tail bytes.Buffer // this run's output, for the error message
	var tailMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.log.WriteString(line)
			b.log.WriteByte('\n')
			b.mu.Unlock()
			tailMu.Lock()
			tail.WriteString(line + "\n")
			tailMu.Unlock()
			if m := readyLine.FindStringSubmatch(line); m != nil && !sent {
				var p int
				fmt.Sscan(m[1], &p)
				ready <- p
				sent = true
			}
		}
		cmd.Wait()
		close(exited)
	}()
	b.mu.Lock()
	b.cmd, b.exited = cmd, exited
	b.mu.Unlock()
	select {
	case p := <-ready:
		return p, nil
	case <-exited:
		b.mu.Lock()
		b.cmd = nil
		b.mu.Unlock()
		tailMu.Lock()
		defer tailMu.Unlock()
		return 0, fmt.Errorf("potok exited before it was ready (%v):\n%s", cmd.ProcessState, tail.String())
	case <-time.After(startTimeout):
		b.Kill()
		return 0, fmt.Errorf("potok was not ready within %v", startTimeout)
	}
}

// waitDial waits until addr accepts a TCP connection.
func waitDial(t testing.TB, addr string) {
	t.Helper()
	Eventually(t, 10*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

var (
	binOnce sync.Once
	binPath string
	binDir  string
	binErr  error
)

// Binary returns the potok binary: $POTOK_BIN if set, else one built once
// per test binary from the repository's ./cmd/potok.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("POTOK_BIN"); p != "" {
			binPath, binErr = filepath.Abs(p)
			if binErr == nil {
				_, binErr = os.Stat(binPath)
			}
			return
		}
		root, err := repoRoot()
		if err != nil {
			binErr = err
			return
		}
		binDir, err = os.MkdirTemp("", "potok-compat-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(binDir, "potok")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/potok")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/potok: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatalf("potok binary: %v", binErr)
	}
	return binPath
}

// repoRoot is the directory above compat-tests, found from this file's
// path so that it does not depend on the test's working directory.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the harness source")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "cmd", "potok")); err != nil {
		return "", fmt.Errorf("cannot find cmd/potok above %s: %w", file, err)
	}
	return root, nil
}

// Main runs a package's tests and removes the binary built for them. Call
// it from TestMain: func TestMain(m *testing.M) { harness.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
