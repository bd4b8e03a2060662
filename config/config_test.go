package config

import (
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	in := `# a comment
! another
listeners=PLAINTEXT://:9092
log.dirs = /tmp/a,\
   /tmp/b
num.partitions: 3
auto.create.topics.enable false
empty=
path=C\:\\data
`
	v, err := ParseProperties(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"listeners": "PLAINTEXT://:9092", "log.dirs": "/tmp/a,/tmp/b", "num.partitions": "3",
		"auto.create.topics.enable": "false", "empty": "", "path": `C:\data`,
	}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("%s = %q, want %q", k, v[k], w)
		}
	}
	if len(v) != len(want) {
		t.Errorf("got %d keys: %v", len(v), v)
	}
}

func TestTopicResolution(t *testing.T) {
	s := Sources{
		Topic:         map[string]string{"cleanup.policy": "compact"},
		DynamicBroker: map[string]string{"log.segment.bytes": "2097152"},
		Static:        map[string]string{"log.retention.hours": "1", "message.max.bytes": "500000"},
	}
	check := func(name, value string, src Source) {
		t.Helper()
		d, _ := Topic.Lookup(name)
		r := s.TopicValue(d)
		if r.Value != value || r.Source != src {
			t.Errorf("%s = %q from %d, want %q from %d", name, r.Value, r.Source, value, src)
		}
	}
	check("cleanup.policy", "compact", SourceTopic)
	check("segment.bytes", "2097152", SourceDynamicBroker)
	check("retention.ms", "3600000", SourceStatic)
	check("max.message.bytes", "500000", SourceStatic)
	check("segment.ms", "604800000", SourceDefault)
	check("flush.ms", maxLong, SourceDefault)
	check("flush.messages", "1", SourceDefault)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"cleanup.policy", "compact,delete", true},
		{"cleanup.policy", "compact,archive", false},
		{"retention.ms", "-1", true},
		{"retention.ms", "-5", false},
		{"retention.ms", "ten", false},
		{"min.cleanable.dirty.ratio", "1.5", false},
		{"message.timestamp.type", "LogAppendTime", true},
		{"segment.bytes", "100", false},
		{"max.message.bytes", "99999999999", false},
		{"remote.storage.enable", "true", false},
	} {
		d, _ := Topic.Lookup(tc.name)
		if err := d.Check(tc.value); (err == nil) != tc.ok {
			t.Errorf("%s=%s: %v", tc.name, tc.value, err)
		}
	}
}

func TestSynonyms(t *testing.T) {
	s := Sources{
		Topic:          map[string]string{"retention.ms": "1000"},
		DynamicDefault: map[string]string{"log.retention.minutes": "5"},
		Static:         map[string]string{"log.retention.hours": "1", "log.retention.ms": "7200000"},
	}
	d, _ := Topic.Lookup("retention.ms")
	got := s.TopicSynonyms(d)
	want := []Synonym{
		{Name: "retention.ms", Value: "1000", Source: SourceTopic},
		{Name: "log.retention.minutes", Value: "5", Source: SourceDynamicDefault},
		{Name: "log.retention.ms", Value: "7200000", Source: SourceStatic},
		{Name: "log.retention.hours", Value: "1", Source: SourceStatic},
		{Name: "log.retention.hours", Value: "168", Source: SourceDefault},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("synonym %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// Without the override, log.retention.ms wins over its alternatives
	// whatever their level: Kafka merges the levels into one set of
	// properties, then prefers .ms over .minutes over .hours.
	s.Topic = nil
	if r := s.TopicValue(d); r.Value != "7200000" || r.Source != SourceStatic {
		t.Errorf("retention.ms resolves to %+v", r)
	}
}
