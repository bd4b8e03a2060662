package broker

// DescribeLogDirs (key 35), v1-v4 (Kafka 4 dropped v0).
//
// Every data directory of this broker with the partitions it holds and
// their size on disk (logstore.Log.Size: segments and indexes), for the
// topics asked, or all when the list is null. offset_lag is 0 (no future
// replicas: AlterReplicaLogDirs is not served). v4 adds the directory's
// total and usable bytes, from statfs. A directory that cannot be read
// reports KAFKA_STORAGE_ERROR.

import (
	"path/filepath"

	"github.com/potok-io/potok/protocol"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"
)

func (b *Broker) handleDescribeLogDirs(r *protocol.Request) {
	req := r.Msg.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	// Which partitions are asked: nil means all.
	var wanted map[string]map[int32]bool
	if req.Topics != nil {
		wanted = map[string]map[int32]bool{}
		for _, t := range req.Topics {
			if wanted[t.Topic] == nil {
				wanted[t.Topic] = map[int32]bool{}
			}
			for _, p := range t.Partitions {
				wanted[t.Topic][p] = true
			}
		}
	}
	type dirData struct {
		topics map[string]*kmsg.DescribeLogDirsResponseDirTopic
		order  []string
	}
	dirs := make(map[string]*dirData, len(b.logDirs))
	for _, d := range b.logDirs {
		dirs[absDir(d)] = &dirData{topics: map[string]*kmsg.DescribeLogDirsResponseDirTopic{}}
	}
	table := b.topics.Load()
	for _, name := range b.ctrl.Image().TopicNames() {
		ts := table.byName[name]
		if ts == nil || wanted != nil && wanted[name] == nil {
			continue
		}
		for _, p := range ts.parts {
			if p.log == nil || wanted != nil && !wanted[name][p.index] {
				continue
			}
			dir := absDir(b.logDirs[0])
			if pd := p.log.Dir(); pd != "" {
				dir = absDir(filepath.Dir(pd))
			}
			dd := dirs[dir]
			if dd == nil {
				continue
			}
			dt := dd.topics[name]
			if dt == nil {
				t := kmsg.NewDescribeLogDirsResponseDirTopic()
				t.Topic = name
				dt = &t
				dd.topics[name] = dt
				dd.order = append(dd.order, name)
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = p.index
			dp.Size = p.log.Size()
			dt.Partitions = append(dt.Partitions, dp)
		}
	}
	for _, d := range b.logDirs {
		abs := absDir(d)
		dd := dirs[abs]
		rd := kmsg.NewDescribeLogDirsResponseDir()
		rd.Dir = abs
		var st unix.Statfs_t
		if err := unix.Statfs(abs, &st); err != nil {
			rd.ErrorCode = kerr.KafkaStorageError.Code
		} else {
			rd.TotalBytes = int64(st.Blocks) * st.Bsize
			rd.UsableBytes = int64(st.Bavail) * st.Bsize
		}
		for _, name := range dd.order {
			rd.Topics = append(rd.Topics, *dd.topics[name])
		}
		resp.Dirs = append(resp.Dirs, rd)
	}
	r.Respond(resp)
}

// absDir is a data directory as Kafka reports it: absolute and clean.
func absDir(d string) string {
	if a, err := filepath.Abs(d); err == nil {
		return a
	}
	return filepath.Clean(d)
}
