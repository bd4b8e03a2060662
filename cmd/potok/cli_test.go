package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/potok-io/potok"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cli runs potok in-process and returns its exit code and output.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func startBroker(t *testing.T) string {
	t.Helper()
	b, err := potok.Start(context.Background(), potok.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addr()
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
}

func TestTopicCommands(t *testing.T) {
	bs := startBroker(t)
	b := "--bootstrap-server=" + bs
	code, out, errOut := cli(t, "", "topic", "create", "orders", b, "--partitions", "3", "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact")
	if code != 0 || !strings.Contains(out, "Created topic orders with 3 partitions") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	if code, _, errOut = cli(t, "", "topic", "create", "orders", b); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("duplicate create: %d %q", code, errOut)
	}
	if code, _, _ = cli(t, "", "topic", "create", "orders", b, "--if-not-exists"); code != 0 {
		t.Fatalf("create --if-not-exists: %d", code)
	}
	if code, _, errOut = cli(t, "", "topic", "create", "bad", b, "--config", "retention.ms=soon"); code != 1 || !strings.Contains(errOut, "retention.ms") {
		t.Fatalf("bad config: %d %q", code, errOut)
	}

	code, out, _ = cli(t, "", "topic", "list", b, "--format", "json")
	var listed []struct {
		Topic      string `json:"topic"`
		Partitions int    `json:"partitions"`
	}
	mustJSON(t, out, &listed)
	if code != 0 || len(listed) != 1 || listed[0].Topic != "orders" || listed[0].Partitions != 3 {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, out, _ = cli(t, "", "topic", "list", b); code != 0 || !strings.Contains(out, "TOPIC") || !strings.Contains(out, "orders") {
		t.Fatalf("list table: %q", out)
	}

	code, out, errOut = cli(t, "", "topic", "alter", "orders", b, "--partitions", "5", "--config", "retention.ms=7200000", "--delete-config", "cleanup.policy")
	if code != 0 {
		t.Fatalf("alter: %d %q %q", code, out, errOut)
	}
	code, out, _ = cli(t, "", "topic", "describe", "orders", b, "--format", "json")
	var described []describedTopic
	mustJSON(t, out, &described)
	if code != 0 || len(described) != 1 || len(described[0].Partitions) != 5 || len(described[0].Configs) != 1 ||
		described[0].Configs[0].Name != "retention.ms" || *described[0].Configs[0].Value != "7200000" {
		t.Fatalf("describe after alter: %d %s", code, out)
	}
	if code, out, _ = cli(t, "", "topic", "describe", "orders", b, "--all-configs"); code != 0 ||
		!strings.Contains(out, "segment.bytes") || !strings.Contains(out, "DEFAULT_CONFIG") || !strings.Contains(out, "PartitionCount: 5") {
		t.Fatalf("describe --all-configs: %q", out)
	}
	if code, _, errOut = cli(t, "", "topic", "describe", "nope", b); code != 1 || !strings.Contains(errOut, "nope does not exist") {
		t.Fatalf("describe missing: %d %q", code, errOut)
	}

	if code, out, _ = cli(t, "", "topic", "delete", "orders", b); code != 0 || !strings.Contains(out, "Deleted topic orders") {
		t.Fatalf("delete: %d %q", code, out)
	}
	if code, _, _ = cli(t, "", "topic", "delete", "orders", b); code != 1 {
		t.Fatalf("delete twice: %d", code)
	}
	if code, _, _ = cli(t, "", "topic", "delete", "orders", b, "--if-exists"); code != 0 {
		t.Fatalf("delete --if-exists: %d", code)
	}
}

func TestUsageErrorsAndExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"nonsense"}, 2, "unknown command"},
		{[]string{"topic"}, 2, "usage: potok topic"},
		{[]string{"topic", "frobnicate"}, 2, "unknown command"},
		{[]string{"topic", "create"}, 2, "name at least one topic"},
		{[]string{"topic", "list", "--format", "yaml"}, 2, "--format"},
		{[]string{"topic", "create", "x", "--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"group", "reset-offsets", "g", "--topic", "t"}, 2, "exactly one of"},
		{[]string{"topic", "list", "--bootstrap-server", "127.0.0.1:1", "--timeout", "5s"}, 1, "connection refused"},
		{[]string{"topic", "create", "-h"}, 0, "--partitions"},
	} {
		code, _, errOut := cli(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d %q, want %d mentioning %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}

func TestProduceAndConsume(t *testing.T) {
	bs := startBroker(t)
	b := "--bootstrap-server=" + bs
	if code, _, errOut := cli(t, "", "topic", "create", "events", b, "--partitions", "2"); code != 0 {
		t.Fatal(errOut)
	}
	// Text lines with keys and a header on every record.
	code, _, errOut := cli(t, "user-1:hello\nuser-2:world\n", "produce", "events", b, "--key-separator", ":", "--header", "source=cli")
	if code != 0 {
		t.Fatalf("produce: %d %s", code, errOut)
	}
	// JSON lines: per-record headers, partition and binary values.
	code, _, errOut = cli(t, `{"key":"k3","value":"v3","headers":{"h":"x"},"partition":1}
{"value_b64":"/wA=","partition":0}
`, "produce", "events", b, "--format", "json")
	if code != 0 {
		t.Fatalf("produce json: %d %s", code, errOut)
	}
	code, out, errOut := cli(t, "", "consume", "events", b, "--from-beginning", "--max-messages", "4", "--format", "json")
	if code != 0 {
		t.Fatalf("consume: %d %s", code, errOut)
	}
	seen := map[string]jsonRecord{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r jsonRecord
		mustJSON(t, line, &r)
		key := "(none)"
		if r.Key != nil {
			key = *r.Key
		}
		seen[key] = r
	}
	if r := seen["user-1"]; r.Value == nil || *r.Value != "hello" || r.Headers["source"] != "cli" {
		t.Errorf("user-1: %+v", r)
	}
	if r := seen["k3"]; r.Value == nil || *r.Value != "v3" || r.Headers["h"] != "x" || *r.Partition != 1 {
		t.Errorf("k3: %+v", r)
	}
	if r := seen["(none)"]; r.ValueB64 == nil || *r.ValueB64 != "/wA=" || *r.Partition != 0 {
		t.Errorf("binary value: %+v", r)
	}
	// Text output with keys, one partition from an offset.
	code, out, _ = cli(t, "", "consume", "events", b, "--partition", "1", "--offset", "0", "--max-messages", "1", "--print-key")
	if code != 0 || !strings.HasSuffix(out, "\n") || strings.Count(out, "\t") != 1 {
		t.Fatalf("consume text: %d %q", code, out)
	}
	// An idle timeout ends a consumer with nothing left to read.
	if code, _, errOut = cli(t, "", "consume", "events", b, "--idle-timeout", "300ms"); code != 0 || !strings.Contains(errOut, "Processed a total of 0 messages") {
		t.Fatalf("idle consume: %d %q", code, errOut)
	}
}

func TestClusterInfo(t *testing.T) {
	bs := startBroker(t)
	code, out, errOut := cli(t, "", "cluster", "info", "--bootstrap-server", bs, "--format", "json")
	var info struct {
		ClusterID string `json:"cluster_id"`
		Brokers   []struct {
			ID   int32 `json:"id"`
			APIs int   `json:"apis"`
		} `json:"brokers"`
		Features []struct {
			Name string `json:"name"`
		} `json:"features"`
	}
	mustJSON(t, out, &info)
	if code != 0 || info.ClusterID == "" || len(info.Brokers) != 1 || info.Brokers[0].APIs < 10 || len(info.Features) == 0 {
		t.Fatalf("cluster info: %d %s %s", code, out, errOut)
	}
	if code, out, _ = cli(t, "", "cluster", "info", "--bootstrap-server", bs); code != 0 || !strings.Contains(out, "BROKER") {
		t.Fatalf("cluster info table: %q", out)
	}
}

// The group commands need the group coordinator; they run wherever the
// broker serves consumer groups.
func TestGroupCommands(t *testing.T) {
	bs := startBroker(t)
	b := "--bootstrap-server=" + bs
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	vs, err := adm.ApiVersions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if _, _, ok := v.KeyVersions(16); !ok { // ListGroups
			code, _, errOut := cli(t, "", "group", "list", b)
			if code != 1 {
				t.Errorf("group list against a broker without groups: exit %d %q", code, errOut)
			}
			t.Skip("this broker does not serve consumer groups yet (no ListGroups)")
		}
	}
	if code, _, errOut := cli(t, "", "topic", "create", "work", b, "--partitions", "2"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := cli(t, "a\nb\nc\nd\n", "produce", "work", b); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := cli(t, "", "consume", "work", b, "--group", "readers", "--from-beginning", "--max-messages", "3"); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := cli(t, "", "group", "list", b, "--format", "json")
	if code != 0 || !strings.Contains(out, `"readers"`) {
		t.Fatalf("group list: %d %s %s", code, out, errOut)
	}
	code, out, errOut = cli(t, "", "group", "lag", "readers", b, "--format", "json")
	var rows []lagRow
	mustJSON(t, out, &rows)
	var total int64
	for _, r := range rows {
		total += r.Lag
	}
	if code != 0 || total != 1 {
		t.Fatalf("lag: %d %s %s", code, out, errOut)
	}
	if code, out, _ = cli(t, "", "group", "describe", "readers", b); code != 0 || !strings.Contains(out, "total lag 1") {
		t.Fatalf("describe: %d %q", code, out)
	}
	code, out, errOut = cli(t, "", "group", "reset-offsets", "readers", b, "--topic", "work", "--to-earliest", "--execute")
	if code != 0 {
		t.Fatalf("reset: %d %s %s", code, out, errOut)
	}
	if code, out, errOut = cli(t, "", "group", "lag", "readers", b, "--format", "json"); code != 0 {
		t.Fatalf("lag after reset: %d %s", code, errOut)
	}
	mustJSON(t, out, &rows)
	total = 0
	for _, r := range rows {
		total += r.Lag
	}
	if total != 4 {
		t.Fatalf("lag after reset to earliest: %s", out)
	}
	if code, out, errOut = cli(t, "", "group", "delete", "readers", b); code != 0 {
		t.Fatalf("delete: %d %s %s", code, out, errOut)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, errOut := cli(t, "", "completion", shell)
		if code != 0 || !strings.Contains(out, "reset-offsets") || !strings.Contains(out, "bootstrap-server") {
			t.Fatalf("%s: %d %s", shell, code, errOut)
		}
		if shell == "bash" {
			if _, err := exec.LookPath("bash"); err == nil {
				cmd := exec.Command("bash", "-n")
				cmd.Stdin = strings.NewReader(out)
				if msg, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("bash -n: %v %s", err, msg)
				}
			}
		}
	}
}
