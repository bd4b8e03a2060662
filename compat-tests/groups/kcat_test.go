package groups

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/potok-io/potok/compat-tests/harness"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kcatRebalance matches kcat's report of a rebalance on stderr:
//
//	% Group g rebalanced (memberid rdkafka-…): assigned: t [0], t [2]
//	% Group g rebalanced (memberid rdkafka-…): revoked: t [0], t [2]
var kcatRebalance = regexp.MustCompile(`^% Group \S+ rebalanced \(memberid [^)]*\): (assigned|revoked): (.*)$`)
var kcatPartition = regexp.MustCompile(`\[(\d+)\]`)

func kcatPath(t *testing.T) string {
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (make deps installs it): %v", err)
	}
	return path
}

// kcatMember is a kcat -G consumer. kcat commits automatically (every
// 100ms here, and on revocation and close) what it has printed; -u keeps
// its output unbuffered, so nothing printed is lost to a SIGKILL.
func kcatMember(t *testing.T, a memberArgs) *exec.Cmd {
	var static []string
	if a.InstanceID != "" {
		static = []string{"-X", "group.instance.id=" + a.InstanceID}
	}
	// -E: a broker restart is no reason to exit.
	return exec.Command(kcatPath(t), append([]string{"-b", a.Addr, "-G", a.Group, a.Topic, "-u", "-E",
		"-f", "record %p %o %s\n",
		"-X", "client.id=" + a.Name,
		// Not -o beginning: in -G mode kcat applies -o to every assigned
		// partition, ignoring the committed offsets.
		"-X", "auto.offset.reset=earliest",
		"-X", "partition.assignment.strategy=" + a.Strategy,
		"-X", "session.timeout.ms=" + strconv.Itoa(a.SessionMs),
		"-X", "heartbeat.interval.ms=" + strconv.Itoa(a.HeartMs),
		"-X", "fetch.wait.max.ms=100",
		"-X", "auto.commit.interval.ms=100"}, static...)...)
}

func kcatAssignment() func(string) string {
	var owned []int
	return func(line string) string {
		m := kcatRebalance.FindStringSubmatch(line)
		if m == nil {
			return ""
		}
		if m[1] == "revoked" {
			owned = nil
		} else {
			owned = nil
			for _, p := range kcatPartition.FindAllStringSubmatch(m[2], -1) {
				n, _ := strconv.Atoi(p[1])
				owned = append(owned, n)
			}
		}
		slices.Sort(owned)
		s := make([]string, len(owned))
		for i, p := range owned {
			s[i] = strconv.Itoa(p)
		}
		return "assignment " + strings.Join(s, ",")
	}
}

func TestKcat(t *testing.T) {
	t.Parallel()
	runScenarios(t, client{name: "kcat", strategy: "range", reportsAssignment: true, quiescent: true, static: true, command: kcatMember, stderrParser: kcatAssignment})
}

// TestKcatGroupOutput checks what kcat -G -e (exit once every assigned
// partition is at its end) prints, byte for byte: a new group reads from
// the beginning (auto.offset.reset=earliest), a second run finds nothing
// new, and after more records a third run prints exactly those; the
// group's committed offsets follow each run.
func TestKcatGroupOutput(t *testing.T) {
	t.Parallel()
	b := harness.Start(t, harness.Options{Settings: brokerSettings(sessionMs)})
	topic, group := harness.Topic(t, ""), harness.Topic(t, "group")
	harness.CreateTopic(t, b.Addr(), topic, 1, nil)
	cl := harness.Client(t, b.Addr(), kgo.DefaultProduceTopic(topic))
	produce := func(from, to int) {
		t.Helper()
		var rs []*kgo.Record
		for i := from; i < to; i++ {
			rs = append(rs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "value %d", i)})
		}
		if err := cl.ProduceSync(harness.Ctx(t, 10*time.Second), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	memberID := regexp.MustCompile(`\(memberid [^)]*\)`)
	run := func(wantOut string, end int64) {
		t.Helper()
		cmd := exec.Command(kcatPath(t), "-b", b.Addr(), "-G", group, topic, "-e",
			"-f", "%t %p %o %k=%s\n",
			"-X", "auto.offset.reset=earliest",
			"-X", "session.timeout.ms=3000",
			"-X", "heartbeat.interval.ms=100",
			"-X", "fetch.wait.max.ms=100")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("kcat -G -e: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("kcat -G -e did not exit within 30s:\n%s", stderr.String())
		}
		if got := stdout.String(); got != wantOut {
			t.Errorf("kcat -G -e printed\n%s\nwant\n%s", got, wantOut)
		}
		wantErr := fmt.Sprintf(`%% Waiting for group rebalance
%% Group %[1]s rebalanced (memberid X): assigned: %[2]s [0]
%% Reached end of topic %[2]s [0] at offset %[3]d: exiting
%% Group %[1]s rebalanced (memberid X): revoked: %[2]s [0]
`, group, topic, end)
		if got := memberID.ReplaceAllString(stderr.String(), "(memberid X)"); got != wantErr {
			t.Errorf("kcat -G -e wrote to stderr\n%s\nwant\n%s", got, wantErr)
		}
		// kcat commits what it printed when it closes the consumer.
		offs, err := harness.Admin(t, b.Addr()).FetchOffsets(harness.Ctx(t, 10*time.Second), group)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := offs.Lookup(topic, 0); !ok || o.At != end || o.Err != nil {
			t.Errorf("committed offset after the run: %+v (found %v), want %d", o, ok, end)
		}
	}
	produce(0, 5)
	var want strings.Builder
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&want, "%s 0 %d k%d=value %d\n", topic, i, i, i)
	}
	run(want.String(), 5)
	run("", 5)
	produce(5, 8)
	want.Reset()
	for i := 5; i < 8; i++ {
		fmt.Fprintf(&want, "%s 0 %d k%d=value %d\n", topic, i, i, i)
	}
	run(want.String(), 8)
}
