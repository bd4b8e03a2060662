package metadata

import (
	"os"
	"path/filepath"
	"testing"
)

func topicRecords(name string, id byte, parts int) []Record {
	tid := Uuid{id}
	recs := []Record{&TopicRecord{Name: name, ID: tid}}
	for p := 0; p < parts; p++ {
		recs = append(recs, &PartitionRecord{TopicID: tid, Partition: int32(p), Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})
	}
	return recs
}

func commit(t *testing.T, c *Controller, recs []Record) *Image {
	t.Helper()
	im, err := c.Commit(func(*Image) ([]Record, error) { return recs, nil })
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestControllerReplaysAfterRestart(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenController(dir)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, c, topicRecords("a", 1, 3))
	commit(t, c, topicRecords("b", 2, 1))
	v := "compact"
	commit(t, c, []Record{&ConfigRecord{ResourceType: ResourceTopic, ResourceName: "a", Name: "cleanup.policy", Value: &v}})
	leader := int32(1)
	commit(t, c, []Record{&PartitionChangeRecord{TopicID: Uuid{1}, Partition: 2, Leader: &leader, ISR: []int32{1}}})
	commit(t, c, []Record{&RemoveTopicRecord{TopicID: Uuid{2}}})
	want := c.Image()
	c.Close()

	c2, err := OpenController(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	got := c2.Image()
	if got.Offset() != want.Offset() || got.NumTopics() != 1 {
		t.Fatalf("offset %d vs %d, %d topics", got.Offset(), want.Offset(), got.NumTopics())
	}
	a, _ := got.Topic("a")
	if len(a.Partitions) != 3 || a.Partitions[2].PartitionEpoch != 1 || got.TopicConfigs("a")["cleanup.policy"] != "compact" {
		t.Fatalf("topic a after replay: %+v %v", a, got.TopicConfigs("a"))
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	dir := t.TempDir()
	c, _ := OpenController(dir)
	commit(t, c, topicRecords("a", 1, 1))
	c.Close()
	path := filepath.Join(dir, logName)
	good, _ := os.ReadFile(path)
	// A crash mid-append leaves half a frame.
	extra, _ := appendFrame(nil, topicRecords("b", 2, 1))
	os.WriteFile(path, append(good, extra[:len(extra)-3]...), 0o644)

	c, err := OpenController(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Image().Topic("b"); ok {
		t.Fatal("torn record applied")
	}
	commit(t, c, topicRecords("c", 3, 1))
	c.Close()
	c, err = OpenController(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.Image().Topic("c"); !ok || c.Image().NumTopics() != 2 {
		t.Fatal("append after truncation lost")
	}
}

func TestRewriteKeepsOffsets(t *testing.T) {
	dir := t.TempDir()
	c, _ := OpenController(dir)
	for i := 0; i < 700; i++ {
		commit(t, c, topicRecords("churn", byte(i%200+10), 1))
		im := c.Image()
		tp, _ := im.Topic("churn")
		commit(t, c, []Record{&RemoveTopicRecord{TopicID: tp.ID}})
	}
	commit(t, c, topicRecords("kept", 1, 2))
	off := c.Image().Offset()
	c.Close()
	before, _ := os.Stat(filepath.Join(dir, logName))

	c, err := OpenController(dir) // rewrites: 2,800 records for an image of 3
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(filepath.Join(dir, logName))
	if after.Size() >= before.Size()/10 {
		t.Fatalf("log not rewritten: %d -> %d bytes", before.Size(), after.Size())
	}
	commit(t, c, topicRecords("new", 2, 1))
	if c.Image().Offset() != off+2 {
		t.Fatalf("offsets moved: %d then %d", off, c.Image().Offset())
	}
	c.Close()
	c, err = OpenController(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Image().Offset() != off+2 || c.Image().NumTopics() != 2 {
		t.Fatalf("after reopen: offset %d, %d topics", c.Image().Offset(), c.Image().NumTopics())
	}
}

func TestInvalidRecordsNeverReachTheLog(t *testing.T) {
	dir := t.TempDir()
	c, _ := OpenController(dir)
	defer c.Close()
	commit(t, c, topicRecords("a", 1, 1))
	size := c.log.Size()
	if _, err := c.Commit(func(*Image) ([]Record, error) { return topicRecords("a", 2, 1), nil }); err == nil {
		t.Fatal("duplicate topic committed")
	}
	if c.log.Size() != size {
		t.Fatal("rejected records were written")
	}
}

func FuzzLocalLog(f *testing.F) {
	seed, _ := appendFrame(nil, topicRecords("a", 1, 2))
	seed, _ = appendFrame(seed, []Record{&ConfigRecord{ResourceType: 2, ResourceName: "a", Name: "x"}})
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, logName), data, 0o644)
		c, err := OpenController(dir)
		if err != nil {
			return // a record that decodes but does not apply is reported, not served
		}
		off := c.Image().Offset()
		c.Close()
		c, err = OpenController(dir)
		if err != nil {
			t.Fatalf("second open failed after a successful first: %v", err)
		}
		if c.Image().Offset() != off {
			t.Fatal("reopening changed the log")
		}
		c.Close()
	})
}
