package broker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// metricValue finds `name{labels} value` in a Prometheus text page; labels
// as Prometheus writes them, e.g. `topic="a"`, or "" for none.
func metricValue(page, name, labels string) (float64, bool) {
	prefix := name + " "
	if labels != "" {
		prefix = name + "{" + labels + "} "
	}
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

func TestMetricsAndHealth(t *testing.T) {
	b := testBroker(t, "potok.http.listener=127.0.0.1:0")
	ctx := ctxT(t)
	base := "http://" + b.HTTPAddr().String()
	if code, body := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz %d %s", code, body)
	}

	createTopic(t, b, "measured", 1, nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic("measured"))
	const n = 50
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint("value ", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	consume(t, b, "measured", n)
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "measured", Partition: 0, At: 20, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "lagging", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	var page string
	eventually(t, 10*time.Second, "the condition", func() error {
		_, page = httpGet(t, base+"/metrics")
		// Written responses are counted once written; the last fetch
		// may still be on its way.
		if v, _ := metricValue(page, "potok_topic_records_out_total", `topic="measured"`); v < n {
			return fmt.Errorf("records out %v", v)
		}
		return nil
	})
	for _, c := range []struct {
		name, labels string
		min, max     float64
	}{
		{"potok_topic_records_in_total", `topic="measured"`, n, n},
		{"potok_topic_bytes_in_total", `topic="measured"`, n * 60, n * 200},
		{"potok_topic_bytes_out_total", `topic="measured"`, n * 60, 1e9},
		{"potok_request_duration_seconds_count", `api="Produce"`, n, 1e9},
		{"potok_request_duration_seconds_count", `api="Fetch"`, 1, 1e9},
		{"potok_request_duration_seconds_count", `api="ApiVersions"`, 1, 1e9},
		{"potok_connections_opened_total", `listener="PLAINTEXT"`, 2, 1e9},
		{"potok_connections", `listener="PLAINTEXT"`, 1, 1e9},
		{"potok_partition_log_end_offset", `partition="0",topic="measured"`, n, n},
		{"potok_partition_high_watermark", `partition="0",topic="measured"`, n, n},
		{"potok_partition_log_segments", `partition="0",topic="measured"`, 1, 1e9},
		{"potok_partition_log_size_bytes", `partition="0",topic="measured"`, 0, 1e9},
		{"potok_under_replicated_partitions", "", 0, 0},
		{"potok_offline_partitions", "", 0, 0},
		{"potok_consumer_group_lag", `group="lagging",partition="0",topic="measured"`, n - 20, n - 20},
		{"potok_log_fsync_duration_seconds_count", "", 1, 1e9},
		{"potok_log_direct_reads_total", "", 0, 0}, // the page-cache tail is off
		{"go_goroutines", "", 1, 1e9},
	} {
		v, ok := metricValue(page, c.name, c.labels)
		if !ok || v < c.min || v > c.max {
			t.Errorf("%s{%s} = %v (found %v), want [%v, %v]", c.name, c.labels, v, ok, c.min, c.max)
		}
	}
	if !strings.Contains(page, `potok_request_duration_seconds_bucket{api="Metadata",le=`) {
		t.Error("no latency histogram for Metadata")
	}

	// A deleted topic's series go away.
	if _, err := adm.DeleteTopics(ctx, "measured"); err != nil {
		t.Fatal(err)
	}
	_, page = httpGet(t, base+"/metrics")
	if strings.Contains(page, `topic="measured"`) {
		t.Error("series of a deleted topic remain")
	}

	// Log levels over HTTP.
	req, _ := http.NewRequest(http.MethodPut, base+"/loggers?name="+loggerBroker+"&level=debug", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT /loggers: %v %v", err, resp)
	}
	resp.Body.Close()
	if _, body := httpGet(t, base+"/loggers"); !strings.Contains(body, `"`+loggerBroker+`":"DEBUG"`) {
		t.Fatalf("GET /loggers: %s", body)
	}
	req, _ = http.NewRequest(http.MethodPut, base+"/loggers?name=root&level=loud", nil)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Fatalf("bad level: %v %v", err, resp)
	}
	resp.Body.Close()

	// Shutting down: not ready, and the listener closes.
	b.Shutdown(context.Background())
	if err := b.readiness(); err == nil {
		t.Error("ready after shutdown")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("http listener still open after shutdown")
	}
}

func TestHTTPListenerOffByDefault(t *testing.T) {
	b := testBroker(t)
	if b.HTTPAddr() != nil {
		t.Fatalf("http listener on %v without potok.http.listener", b.HTTPAddr())
	}
}
