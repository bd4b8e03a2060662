package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a client process a test started: a kcat, a node script, or the
// test binary itself running a child role (see Child). Its stdout and
// stderr are handed to the test line by line; it is killed in t.Cleanup,
// and its stderr is written to the test log when the test failed.
type Proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd

	exited chan struct{} // closed when the process has been waited for and its output read

	mu     sync.Mutex
	stderr bytes.Buffer // guarded by mu
}

// StartProc starts cmd. onStdout and onStderr (either may be nil) get each
// line of the process's stdout and stderr, each from its own goroutine, in
// order; stderr is also kept for Stderr and the failure log.
func StartProc(t testing.TB, name string, cmd *exec.Cmd, onStdout, onStderr func(line string)) *Proc {
	t.Helper()
	p := &Proc{t: t, name: name, cmd: cmd, exited: make(chan struct{})}
	// The process dies with the test binary even if the test binary is
	// killed before its cleanups run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	scan := func(r io.Reader, keep bool, on func(string)) {
		defer readers.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			if keep {
				p.mu.Lock()
				p.stderr.WriteString(line + "\n")
				p.mu.Unlock()
			}
			if on != nil {
				on(line)
			}
		}
	}
	go scan(stdout, false, onStdout)
	go scan(stderr, true, onStderr)
	go func() {
		readers.Wait()
		cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s (pid %d) stderr:\n%s", name, cmd.Process.Pid, p.Stderr())
		}
	})
	return p
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stderr returns what the process wrote to stderr so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Exited is closed once the process has exited and all its output has
// been handed over.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// ExitCode returns the exit code once the process has exited (-1 if a
// signal ended it).
func (p *Proc) ExitCode() int {
	<-p.exited
	return p.cmd.ProcessState.ExitCode()
}

// Stop sends SIGTERM and waits for the process to exit, failing the test
// (and killing the process) if it takes longer than timeout.
func (p *Proc) Stop(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Errorf("%s did not exit within %v of SIGTERM; killing it", p.name, timeout)
		p.Kill()
	}
}

// Kill sends SIGKILL and waits until the process is gone and its output
// read.
func (p *Proc) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// childEnv names the environment variable that makes a test binary run a
// child role instead of its tests.
const childEnv = "POTOK_COMPAT_CHILD"

// ChildCommand returns a command that runs this test binary as the child
// role, given args as JSON (see Child).
func ChildCommand(t testing.TB, role string, args any) *exec.Cmd {
	t.Helper()
	a, err := json.Marshal(args)
	if err != nil {
		t.Fatalf("child arguments: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, childEnv+"_ARGS="+string(a))
	return cmd
}

// Child runs a child role if this process was started by ChildCommand and
// exits with its result; otherwise it returns. Call it first in TestMain.
// A role decodes its arguments with ChildArgs.
func Child(roles map[string]func() error) {
	role := os.Getenv(childEnv)
	if role == "" {
		return
	}
	f, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown child role %q\n", role)
		os.Exit(2)
	}
	if err := f(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// ChildArgs decodes the arguments ChildCommand passed to this child.
func ChildArgs(v any) error {
	return json.Unmarshal([]byte(os.Getenv(childEnv+"_ARGS")), v)
}
