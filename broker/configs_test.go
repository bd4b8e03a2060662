package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/potok-io/potok/config"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func strp(s string) *string { return &s }

// noise returns n incompressible bytes, so a record's size on the wire is
// its size (franz-go compresses batches by default).
func noise(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// configOf finds one config in a kadm describe result.
func configOf(t testing.TB, rc kadm.ResourceConfigs, resource, name string) kadm.Config {
	t.Helper()
	r, err := rc.On(resource, nil)
	if err != nil {
		t.Fatalf("%s: %v", resource, err)
	}
	for _, c := range r.Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("%s has no config %s", resource, name)
	return kadm.Config{}
}

func TestDescribeTopicConfigsListsEveryConfig(t *testing.T) {
	b := testBroker(t, "log.retention.hours=2")
	createTopic(t, b, "described", 1, map[string]*string{"cleanup.policy": strp("compact")})
	adm := kadm.NewClient(newClient(t, b))
	rc, err := adm.DescribeTopicConfigs(ctxT(t), "described")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := rc.On("described", nil)
	if len(r.Configs) != len(config.Topic.All()) {
		t.Fatalf("%d configs, want every topic config (%d)", len(r.Configs), len(config.Topic.All()))
	}
	for _, tc := range []struct {
		name, value string
		source      kmsg.ConfigSource
		synonyms    []string
	}{
		{"cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig, []string{"cleanup.policy", "log.cleanup.policy"}},
		{"retention.ms", "7200000", kmsg.ConfigSourceStaticBrokerConfig, []string{"log.retention.hours", "log.retention.hours"}},
		{"segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig, []string{"log.segment.bytes"}},
		{"remote.storage.enable", "false", kmsg.ConfigSourceDefaultConfig, nil},
	} {
		c := configOf(t, rc, "described", tc.name)
		if c.Value == nil || *c.Value != tc.value || c.Source != tc.source {
			t.Errorf("%s = %v from %v, want %s from %v", tc.name, c.MaybeValue(), c.Source, tc.value, tc.source)
		}
		var syns []string
		for _, s := range c.Synonyms {
			syns = append(syns, s.Key)
		}
		if strings.Join(syns, ",") != strings.Join(tc.synonyms, ",") {
			t.Errorf("%s synonyms %v, want %v", tc.name, syns, tc.synonyms)
		}
	}

	// Documentation and types come with v3+, and a key filter.
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "described"
	res.ConfigNames = []string{"max.message.bytes", "no.such.config"}
	req.Resources = append(req.Resources, res)
	req.IncludeDocumentation = true
	resp, err := req.RequestWith(ctxT(t), newClient(t, b))
	if err != nil {
		t.Fatal(err)
	}
	got := resp.Resources[0].Configs
	if len(got) != 1 || got[0].ConfigType != kmsg.ConfigTypeInt || got[0].Documentation == nil || *got[0].Documentation == "" {
		t.Fatalf("filtered describe: %+v", got)
	}

	for name, want := range map[string]error{"missing": kerr.UnknownTopicOrPartition, "bad/name": kerr.InvalidTopicException} {
		rc, err := adm.DescribeTopicConfigs(ctxT(t), name)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := rc.On(name, nil); !errors.Is(r.Err, want) {
			t.Errorf("describe %s: %v, want %v", name, r.Err, want)
		}
	}
}

func TestAlterTopicConfigsTakeEffect(t *testing.T) {
	b := testBroker(t)
	ctx := ctxT(t)
	createTopic(t, b, "live", 1, nil)
	adm := kadm.NewClient(newClient(t, b))
	cl := newClient(t, b, kgo.DefaultProduceTopic("live"), kgo.ProducerBatchMaxBytes(4<<20), kgo.RecordRetries(0))
	big := &kgo.Record{Value: noise(20_000)}
	if err := cl.ProduceSync(ctx, big).FirstErr(); err != nil {
		t.Fatalf("20 kB record before the change: %v", err)
	}

	// A lowered max.message.bytes rejects a larger batch at once.
	alter := func(ops ...kadm.AlterConfig) error {
		t.Helper()
		rs, err := adm.AlterTopicConfigs(ctx, ops, "live")
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Err
	}
	if err := alter(kadm.AlterConfig{Name: "max.message.bytes", Value: strp("10000")}); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: noise(20_000)}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("20 kB record with max.message.bytes=10000: %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: noise(1000)}).FirstErr(); err != nil {
		t.Fatalf("small record: %v", err)
	}
	// DELETE restores the default.
	if err := alter(kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "max.message.bytes"}); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: noise(20_000)}).FirstErr(); err != nil {
		t.Fatalf("20 kB record after DELETE: %v", err)
	}

	// LogAppendTime: the broker stamps its own time.
	if err := alter(kadm.AlterConfig{Name: "message.timestamp.type", Value: strp("LogAppendTime")}); err != nil {
		t.Fatal(err)
	}
	r := &kgo.Record{Value: []byte("stamped"), Timestamp: time.Unix(1000, 0)}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consume(t, b, "live", 4)
	if last := got[len(got)-1]; string(last.Value) != "stamped" || last.Timestamp.Unix() == 1000 {
		t.Fatalf("LogAppendTime topic kept the producer's timestamp: %s at %v", last.Value, last.Timestamp)
	}

	// cleanup.policy APPEND compact: keyless records are refused.
	if err := alter(kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: strp("compact")}); err != nil {
		t.Fatal(err)
	}
	rc, _ := adm.DescribeTopicConfigs(ctx, "live")
	if c := configOf(t, rc, "live", "cleanup.policy"); c.MaybeValue() != "delete,compact" {
		t.Fatalf("cleanup.policy after APPEND: %q", c.MaybeValue())
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record on a compacted topic: %v", err)
	}
	if err := alter(kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: strp("compact")}); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); err != nil {
		t.Fatalf("keyless record after SUBTRACT: %v", err)
	}

	// min.insync.replicas above the ISR refuses acks=all writes, not acks=1.
	if err := alter(kadm.AlterConfig{Name: "min.insync.replicas", Value: strp("2")}); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with min.insync.replicas=2 on one replica: %v", err)
	}
	one := newClient(t, b, kgo.DefaultProduceTopic("live"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("acks=1 with min.insync.replicas=2: %v", err)
	}

	// The log itself gets the new settings.
	if err := alter(kadm.AlterConfig{Name: "segment.ms", Value: strp("60000")}, kadm.AlterConfig{Name: "retention.bytes", Value: strp("5000000")}); err != nil {
		t.Fatal(err)
	}
	lc := b.topic("live").partition(0).log.Config()
	if lc.SegmentMs != 60000 || lc.RetentionBytes != 5000000 {
		t.Fatalf("log config after alter: %+v", lc)
	}
}

func TestAlterConfigsErrors(t *testing.T) {
	b := testBroker(t)
	ctx := ctxT(t)
	createTopic(t, b, "strict", 1, nil)
	adm := kadm.NewClient(newClient(t, b))
	for _, tc := range []struct {
		op   kadm.AlterConfig
		want error
		msg  string
	}{
		{kadm.AlterConfig{Name: "no.such.config", Value: strp("1")}, kerr.InvalidConfig, "no.such.config"},
		{kadm.AlterConfig{Name: "retention.ms", Value: strp("ten")}, kerr.InvalidConfig, "retention.ms"},
		{kadm.AlterConfig{Name: "segment.bytes", Value: strp("100")}, kerr.InvalidConfig, "segment.bytes"},
		{kadm.AlterConfig{Name: "cleanup.policy", Value: strp("archive")}, kerr.InvalidConfig, "archive"},
		{kadm.AlterConfig{Op: kadm.AppendConfig, Name: "retention.ms", Value: strp("1")}, kerr.InvalidConfig, "not a list"},
		{kadm.AlterConfig{Name: "min.compaction.lag.ms", Value: strp("100")}, nil, ""},
		{kadm.AlterConfig{Name: "max.compaction.lag.ms", Value: strp("10")}, kerr.InvalidConfig, "min.compaction.lag.ms"},
	} {
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{tc.op}, "strict")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rs[0].Err, tc.want) || !strings.Contains(rs[0].ErrMessage, tc.msg) {
			t.Errorf("%s=%v: %v %q, want %v mentioning %q", tc.op.Name, tc.op.Value, rs[0].Err, rs[0].ErrMessage, tc.want, tc.msg)
		}
	}
	rs, _ := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: strp("1")}}, "missing")
	if !errors.Is(rs[0].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("missing topic: %v", rs[0].Err)
	}
	// validate_only changes nothing.
	rs, _ = adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: strp("1234")}}, "strict")
	if rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	rc, _ := adm.DescribeTopicConfigs(ctx, "strict")
	if c := configOf(t, rc, "strict", "retention.ms"); c.MaybeValue() == "1234" {
		t.Error("validate_only changed retention.ms")
	}
	// Broker settings: read-only ones and unknown ones are refused.
	brs, _ := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.dirs", Value: strp("/tmp/x")}}, b.NodeID())
	if !errors.Is(brs[0].Err, kerr.InvalidRequest) || !strings.Contains(brs[0].ErrMessage, "log.dirs") {
		t.Errorf("read-only broker config: %v %q", brs[0].Err, brs[0].ErrMessage)
	}
	brs, _ = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: strp("1")}}, b.NodeID())
	if !errors.Is(brs[0].Err, kerr.InvalidConfig) {
		t.Errorf("topic config on a broker: %v %q", brs[0].Err, brs[0].ErrMessage)
	}
}

func TestLegacyAlterConfigsReplacesTheSet(t *testing.T) {
	b := testBroker(t)
	ctx := ctxT(t)
	createTopic(t, b, "legacy", 1, map[string]*string{"retention.ms": strp("1000"), "segment.ms": strp("2000")})
	adm := kadm.NewClient(newClient(t, b))
	rs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: strp("3000")}}, "legacy")
	if err != nil || rs[0].Err != nil {
		t.Fatal(err, rs[0].Err)
	}
	rc, _ := adm.DescribeTopicConfigs(ctx, "legacy")
	if c := configOf(t, rc, "legacy", "retention.ms"); c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms not named by AlterConfigs kept %v from %v", c.MaybeValue(), c.Source)
	}
	if c := configOf(t, rc, "legacy", "segment.ms"); c.MaybeValue() != "3000" {
		t.Errorf("segment.ms = %v", c.MaybeValue())
	}
}

func TestDynamicBrokerConfigs(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, dir)
	ctx := ctxT(t)
	createTopic(t, b, "inherits", 1, nil)
	adm := kadm.NewClient(newClient(t, b))

	// A cluster-wide default reaches every topic without an override.
	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: strp("3600000")}})
	if err != nil || rs[0].Err != nil {
		t.Fatal(err, rs[0].Err)
	}
	rc, _ := adm.DescribeTopicConfigs(ctx, "inherits")
	if c := configOf(t, rc, "inherits", "retention.ms"); c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("retention.ms = %v from %v", c.MaybeValue(), c.Source)
	}
	if got := b.topic("inherits").partition(0).log.Config().RetentionMs; got != 3600000 {
		t.Errorf("log retention %d", got)
	}
	// The per-broker value wins over the default and limits produce.
	rs, _ = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "message.max.bytes", Value: strp("5000")}}, b.NodeID())
	if rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	cl := newClient(t, b, kgo.DefaultProduceTopic("inherits"), kgo.RecordRetries(0))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: noise(8000)}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("8 kB record with message.max.bytes=5000: %v", err)
	}
	// num.partitions as a dynamic default shapes new topics.
	rs, _ = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: strp("3")}})
	if rs[0].Err != nil {
		t.Fatal(rs[0].Err)
	}
	if res, err := adm.CreateTopic(ctx, -1, -1, nil, "three"); err != nil || res.NumPartitions != 3 {
		t.Fatalf("create with defaults: %v %+v", err, res)
	}

	// Describe: the broker lists every setting, the default resource only
	// what was set there.
	brc, err := adm.DescribeBrokerConfigs(ctx, b.NodeID())
	if err != nil {
		t.Fatal(err)
	}
	name := brc[0].Name
	if c := configOf(t, brc, name, "message.max.bytes"); c.MaybeValue() != "5000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Errorf("message.max.bytes = %v from %v", c.MaybeValue(), c.Source)
	}
	if c := configOf(t, brc, name, "log.dirs"); c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("log.dirs from %v", c.Source)
	}
	drc, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := drc.On("", nil); len(r.Configs) != 2 {
		t.Errorf("cluster default lists %d configs, want the 2 set", len(r.Configs))
	}

	// Dynamic configs survive a restart.
	b.Shutdown(context.Background())
	b = startBroker(t, dir)
	adm = kadm.NewClient(newClient(t, b))
	rc, _ = adm.DescribeTopicConfigs(ctx, "inherits")
	if c := configOf(t, rc, "inherits", "retention.ms"); c.MaybeValue() != "3600000" {
		t.Errorf("after restart retention.ms = %v", c.MaybeValue())
	}
	if c := configOf(t, rc, "inherits", "max.message.bytes"); c.MaybeValue() != "5000" {
		t.Errorf("after restart max.message.bytes = %v", c.MaybeValue())
	}
}

func TestBrokerLoggers(t *testing.T) {
	b := testBroker(t)
	ctx := ctxT(t)
	cl := newClient(t, b)
	id := fmt.Sprint(b.NodeID())
	describe := func() map[string]string {
		req := kmsg.NewPtrDescribeConfigsRequest()
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, id
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.Resources[0].ErrorCode != 0 {
			t.Fatalf("describe loggers: %v %+v", err, resp)
		}
		out := map[string]string{}
		for _, c := range resp.Resources[0].Configs {
			out[c.Name] = *c.Value
		}
		return out
	}
	levels := describe()
	if levels["root"] == "" || levels[loggerBroker] == "" || levels[loggerProtocol] == "" {
		t.Fatalf("loggers: %v", levels)
	}
	alter := func(name string, op kmsg.IncrementalAlterConfigOp, value *string) (int16, string) {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, id
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = name, op, value
		res.Configs = append(res.Configs, c)
		req.Resources = append(req.Resources, res)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources[0].ErrorCode, deref(resp.Resources[0].ErrorMessage)
	}
	if code, msg := alter(loggerBroker, kmsg.IncrementalAlterConfigOpSet, strp("WARN")); code != 0 {
		t.Fatal(msg)
	}
	if code, msg := alter("root", kmsg.IncrementalAlterConfigOpSet, strp("error")); code != 0 {
		t.Fatal(msg)
	}
	levels = describe()
	if levels[loggerBroker] != "WARN" || levels["root"] != "ERROR" || levels[loggerProtocol] != "ERROR" {
		t.Fatalf("after SET: %v", levels)
	}
	lg := b.ops.levels.Logger(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug - 4}), loggerBroker)
	if lg.Enabled(ctx, slog.LevelInfo) || !lg.Enabled(ctx, slog.LevelWarn) {
		t.Error("broker logger does not follow its level")
	}
	if code, _ := alter(loggerBroker, kmsg.IncrementalAlterConfigOpDelete, nil); code != 0 {
		t.Fatal(code)
	}
	if levels = describe(); levels[loggerBroker] != "ERROR" {
		t.Errorf("after DELETE the logger follows root: %v", levels)
	}
	for _, tc := range []struct {
		name  string
		op    kmsg.IncrementalAlterConfigOp
		value *string
		want  int16
	}{
		{"no.such.logger", kmsg.IncrementalAlterConfigOpSet, strp("INFO"), kerr.InvalidConfig.Code},
		{loggerBroker, kmsg.IncrementalAlterConfigOpSet, strp("LOUD"), kerr.InvalidConfig.Code},
		{"root", kmsg.IncrementalAlterConfigOpDelete, nil, kerr.InvalidConfig.Code},
		{loggerBroker, kmsg.IncrementalAlterConfigOpAppend, strp("INFO"), kerr.InvalidRequest.Code},
	} {
		if code, _ := alter(tc.name, tc.op, tc.value); code != tc.want {
			t.Errorf("%s op %d %v: code %d, want %d", tc.name, tc.op, deref(tc.value), code, tc.want)
		}
	}
}

// requireRealLog skips a test that needs the durable logstore (retention,
// segments, sizes) while the branch still runs on its in-memory stand-in,
// which reports no directory.
func requireRealLog(t *testing.T, b *Broker, topic string) {
	t.Helper()
	if b.topic(topic).partition(0).log.Dir() == "" {
		t.Skip("needs the durable logstore: the in-memory stand-in has no segments, sizes or retention")
	}
}

func TestLoweredRetentionDeletesOldSegments(t *testing.T) {
	b := testBroker(t, "log.retention.check.interval.ms=50")
	ctx := ctxT(t)
	createTopic(t, b, "aging", 1, map[string]*string{"segment.bytes": strp("1048576"), "file.delete.delay.ms": strp("0")})
	requireRealLog(t, b, "aging")
	cl := newClient(t, b, kgo.DefaultProduceTopic("aging"))
	for i := 0; i < 40; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: noise(100_000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	l := b.topic("aging").partition(0).log
	before := l.NumSegments()
	if before < 3 {
		t.Fatalf("4 MB in 1 MiB segments made %d segments", before)
	}
	adm := kadm.NewClient(cl)
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: strp("1")}}, "aging")
	if err != nil || rs[0].Err != nil {
		t.Fatal(err, rs[0].Err)
	}
	eventually(t, 10*time.Second, "the condition", func() error {
		starts, err := adm.ListStartOffsets(ctx, "aging")
		if err != nil {
			return err
		}
		o, _ := starts.Lookup("aging", 0)
		if o.Offset == 0 || l.NumSegments() >= before {
			return fmt.Errorf("log start %d, %d segments (was %d)", o.Offset, l.NumSegments(), before)
		}
		return nil
	})
}
