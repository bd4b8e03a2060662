package logstore

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Per data directory checkpoint files (Kafka's LogManager and
// ReplicaManager): "0\n<count>\n<topic> <partition> <offset>\n...".
const (
	recoveryPointFile = "recovery-point-offset-checkpoint"
	logStartFile      = "log-start-offset-checkpoint"
	replicationFile   = "replication-offset-checkpoint"
	cleanerFile       = "cleaner-offset-checkpoint"
	cleanShutdownFile = ".kafka_cleanshutdown"
	partitionMetaFile = "partition.metadata"
	epochFile         = "leader-epoch-checkpoint"
)

func encodeOffsets(m map[TopicPartition]int64) []byte {
	tps := make([]TopicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, m[tp])
	}
	return b.Bytes()
}

func decodeOffsets(data []byte) (map[TopicPartition]int64, error) {
	lines, err := checkpointLines(data)
	if err != nil {
		return nil, err
	}
	m := make(map[TopicPartition]int64, len(lines))
	for _, f := range lines {
		if len(f) != 3 {
			return nil, fmt.Errorf("logstore: checkpoint: bad line %q", bytes.Join(f, []byte(" ")))
		}
		p, err1 := strconv.ParseInt(string(f[1]), 10, 32)
		off, err2 := strconv.ParseInt(string(f[2]), 10, 64)
		if err1 != nil || err2 != nil || p < 0 {
			return nil, fmt.Errorf("logstore: checkpoint: bad line %q", bytes.Join(f, []byte(" ")))
		}
		m[TopicPartition{string(f[0]), int32(p)}] = off
	}
	return m, nil
}

// readOffsets reads a checkpoint file; a missing or unreadable one is empty
// (recovery then starts from the beginning, which is always safe).
func readOffsets(fsys FS, dir, name string) (map[TopicPartition]int64, error) {
	data, err := readFile(fsys, filepath.Join(dir, name))
	if err != nil {
		if isNotExist(err) {
			return map[TopicPartition]int64{}, nil
		}
		return map[TopicPartition]int64{}, err
	}
	return decodeOffsets(data)
}

// encodePartitionMeta writes partition.metadata (Kafka's
// PartitionMetadataFile): the topic id in base64url without padding.
func encodePartitionMeta(id [16]byte) []byte {
	return []byte("version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n")
}

func decodePartitionMeta(data []byte) ([16]byte, error) {
	var id [16]byte
	var version, topicID string
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "version":
			version = strings.TrimSpace(v)
		case "topic_id":
			topicID = strings.TrimSpace(v)
		}
	}
	if version != "0" {
		return id, fmt.Errorf("logstore: partition.metadata: version %q", version)
	}
	raw, err := base64.RawURLEncoding.DecodeString(topicID)
	if err != nil || len(raw) != 16 {
		return id, fmt.Errorf("logstore: partition.metadata: topic id %q", topicID)
	}
	copy(id[:], raw)
	return id, nil
}

// parsePartitionDir splits "<topic>-<partition>" (topics may contain '-').
// metadataTopic is the directory prefix of the cluster metadata log.
const metadataTopic = "__cluster_metadata"

func parsePartitionDir(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.Itoa(int(p)) != name[i+1:] {
		return TopicPartition{}, false
	}
	if name[:i] == metadataTopic {
		// The metadata log lives beside the partitions but is not one
		// (Kafka's LogManager skips it the same way).
		return TopicPartition{}, false
	}
	return TopicPartition{name[:i], int32(p)}, true
}

func (tp TopicPartition) dirName() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

func (tp TopicPartition) String() string { return tp.dirName() }

// parseSegmentName returns the base offset of "<20 digits><suffix>".
func parseSegmentName(name, suffix string) (int64, bool) {
	if !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	num := strings.TrimSuffix(name, suffix)
	if len(num) != 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 {
		return 0, false
	}
	return v, true
}
