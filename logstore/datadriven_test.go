package logstore

import (
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/potok-io/potok/records"
)

// Transcript tests: testdata/*.txt hold commands and their expected output;
// `go test -run TestTranscripts -rewrite` regenerates the output.
//
// Commands (arguments key=value):
//
//	open [segment-bytes= index-interval= index-bytes= flush-messages= retention-ms=
//	      retention-bytes= compact delete=false log-append-time delete-retention-ms=
//	      min-compaction-lag-ms= segment-ms= dirty-ratio=]
//	                        create the log, or change its config
//	append [epoch=] [durable] [follower]
//	  <batch> per line: n= [pid= pe= seq=] [txn] [ts=] [keys=a,b] [values=x,y]
//	                    [codec=gzip] [base= lepoch=] (follower)
//	marker pid= pe= commit|abort [coord=]
//	read off= [max=] [bytes=] [min-one]
//	records [off=]           every record from off: offset key=value ts
//	state | segments | files | epochs | producers
//	end-offset epoch=        OffsetForLeaderEpoch
//	list-offsets ts= [max=]  | max-timestamp [max=]
//	aborted from= to=
//	roll | flush | retention | compact | crash | reopen | advance ms=
//	truncate to= | truncate-fully at= | delete-records before= | hw off=
//	corrupt file= at= [hex=] flip (or overwrite with) bytes of a file
//	fault kind=nospace|write|short|sync [match=] | clear-fault
type transcript struct {
	t   *testing.T
	mem *MemFS
	ffs *FaultFS
	clk *clock
	mgr *Manager
	l   *Log
	cfg Config
}

const t0 = 1_000_000 // transcript clock start (ms)

func TestTranscripts(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatal("no transcripts", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) { runTranscript(t, path) })
	}
}

func runTranscript(t *testing.T, path string) {
	{
		tr := &transcript{t: t, mem: NewMemFS(), clk: &clock{t: time.UnixMilli(t0)}}
		tr.ffs = NewFaultFS(tr.mem)
		defer func() {
			if tr.mgr != nil {
				tr.mgr.Close()
			}
		}()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := tr.run(d)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			if out != "" && !strings.HasSuffix(out, "\n") {
				out += "\n"
			}
			return out
		})
	}
}

func (tr *transcript) openMgr() error {
	m, err := Open(ManagerOptions{Dirs: []string{"/data"}, FS: tr.ffs, Now: tr.clk.Now,
		RetentionCheckInterval: -1, CleanerInterval: -1, CheckpointInterval: -1,
		LogConfig: func(TopicPartition) Config { return tr.cfg }})
	if err != nil {
		return err
	}
	tr.mgr = m
	tr.l = m.Get(testTP)
	if tr.l != nil {
		tr.l.SetConfig(tr.cfg)
	}
	return nil
}

func argInt(d *datadriven.TestData, key string, def int64) int64 {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			switch a.Vals[0] {
			case "max":
				return math.MaxInt64
			}
			v, err := strconv.ParseInt(a.Vals[0], 10, 64)
			if err != nil {
				panic(fmt.Sprintf("bad %s: %v", key, err))
			}
			return v
		}
	}
	return def
}

func (tr *transcript) run(d *datadriven.TestData) (string, error) {
	l := tr.l
	switch d.Cmd {
	case "open":
		c := testConfig()
		if tr.l != nil {
			c = tr.cfg
		}
		c.SegmentBytes = argInt(d, "segment-bytes", c.SegmentBytes)
		c.IndexIntervalBytes = int32(argInt(d, "index-interval", int64(c.IndexIntervalBytes)))
		c.SegmentIndexBytes = int32(argInt(d, "index-bytes", int64(c.SegmentIndexBytes)))
		c.FlushMessages = argInt(d, "flush-messages", c.FlushMessages)
		c.RetentionMs = argInt(d, "retention-ms", c.RetentionMs)
		c.RetentionBytes = argInt(d, "retention-bytes", c.RetentionBytes)
		c.SegmentMs = argInt(d, "segment-ms", c.SegmentMs)
		c.DeleteRetentionMs = argInt(d, "delete-retention-ms", c.DeleteRetentionMs)
		c.MinCompactionLagMs = argInt(d, "min-compaction-lag-ms", c.MinCompactionLagMs)
		c.ProducerIDExpirationMs = argInt(d, "producer-expiration-ms", c.ProducerIDExpirationMs)
		if d.HasArg("compact") {
			c.Compact = true
			c.Delete = false
		}
		if d.HasArg("compact-delete") {
			c.Compact, c.Delete = true, true
		}
		if d.HasArg("dirty-ratio") {
			var r float64
			d.ScanArgs(tr.t, "dirty-ratio", &r)
			c.MinCleanableDirtyRatio = r
		}
		c.LogAppendTime = d.HasArg("log-append-time")
		tr.cfg = c
		if tr.mgr == nil {
			if err := tr.openMgr(); err != nil {
				return "", err
			}
		}
		if tr.l == nil {
			var err error
			if tr.l, err = tr.mgr.Create(testTP, testID, c); err != nil {
				return "", err
			}
			return "", nil
		}
		tr.l.SetConfig(c)
		return "", nil

	case "append":
		var buf []byte
		for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
			b, err := tr.parseBatch(line)
			if err != nil {
				return "", err
			}
			buf = append(buf, b...)
		}
		r, err := l.Append(buf, AppendOptions{LeaderEpoch: int32(argInt(d, "epoch", 0)), Durable: d.HasArg("durable"), AsFollower: d.HasArg("follower")})
		if err != nil {
			return "", err
		}
		out := fmt.Sprintf("offsets %d-%d log-start %d", r.FirstOffset, r.LastOffset, r.LogStartOffset)
		if r.LogAppendTime >= 0 {
			out += fmt.Sprintf(" log-append-time %d", r.LogAppendTime)
		}
		if r.Duplicate {
			out += " duplicate"
		}
		return out, nil

	case "marker":
		commit := d.HasArg("commit")
		b := records.AppendControlBatch(nil, argInt(d, "pid", 0), int16(argInt(d, "pe", 0)), commit, int32(argInt(d, "coord", 0)), tr.clk.Now().UnixMilli())
		r, err := l.Append(b, AppendOptions{LeaderEpoch: int32(argInt(d, "epoch", 0))})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("offsets %d-%d", r.FirstOffset, r.LastOffset), nil

	case "read":
		maxOff := argInt(d, "max", math.MaxInt64)
		c, err := l.Read(argInt(d, "off", 0), ReadOptions{MaxOffset: maxOff, MaxBytes: int(argInt(d, "bytes", 1<<20)), MinOneBatch: d.HasArg("min-one")})
		if err != nil {
			return "", err
		}
		defer c.Release()
		var parts []string
		for _, b := range batchList(c.Data) {
			parts = append(parts, fmt.Sprintf("%d-%d", b[0], b[1]))
		}
		return fmt.Sprintf("batches [%s] first %d next %d bytes %d", strings.Join(parts, " "), c.FirstOffset, c.NextOffset, len(c.Data)), nil

	case "records":
		return tr.dumpRecords(argInt(d, "off", l.LogStartOffset()))

	case "state":
		settle(tr.t, tr.mgr)
		return fmt.Sprintf("start %d end %d hw %d lso %d durable %d segments %d epoch %d",
			l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(), l.LastStableOffset(), l.DurableOffset(), l.NumSegments(), l.LatestEpoch()), nil

	case "segments":
		l.mu.RLock()
		defer l.mu.RUnlock()
		var b strings.Builder
		for _, s := range l.segs {
			fmt.Fprintf(&b, "%020d offsets [%d, %d) bytes %d index %d timeindex %d txns %d\n", s.base, s.base, s.next, s.log.size, s.idx.size/offsetEntrySize, s.tidx.size/timeEntrySize, s.txnCount)
		}
		return b.String(), nil

	case "files":
		var b strings.Builder
		var walk func(dir, indent string)
		walk = func(dir, indent string) {
			ents, _ := tr.mem.ReadDir(dir)
			for _, e := range ents {
				if e.IsDir {
					fmt.Fprintf(&b, "%s%s/\n", indent, e.Name)
					walk(filepath.Join(dir, e.Name), indent+"  ")
					continue
				}
				fi, _ := tr.mem.Stat(filepath.Join(dir, e.Name))
				fmt.Fprintf(&b, "%s%s %d\n", indent, e.Name, fi.Size)
			}
		}
		walk(argStr(d, "dir", "/data"), "")
		return b.String(), nil

	case "cat":
		data, err := readFile(tr.mem, argStr(d, "file", ""))
		if err != nil {
			return "", err
		}
		return string(data), nil

	case "epochs":
		l.mu.RLock()
		defer l.mu.RUnlock()
		var parts []string
		for _, e := range l.epochs.entries {
			parts = append(parts, fmt.Sprintf("%d@%d", e.epoch, e.start))
		}
		return "epochs [" + strings.Join(parts, " ") + "]", nil

	case "end-offset":
		e, off := l.EndOffsetForEpoch(int32(argInt(d, "epoch", 0)))
		return fmt.Sprintf("epoch %d end %d", e, off), nil

	case "producers":
		var b strings.Builder
		for _, p := range l.Producers() {
			fmt.Fprintf(&b, "pid %d epoch %d last-seq %d last-ts %d coord %d txn-start %d\n", p.ProducerID, p.Epoch, p.LastSequence, p.LastTimestamp, p.CoordinatorEpoch, p.TxnStartOffset)
		}
		return b.String(), nil

	case "list-offsets":
		off, ts, ep, ok := l.OffsetForTimestamp(argInt(d, "ts", 0), argInt(d, "max", math.MaxInt64))
		if !ok {
			return "none", nil
		}
		return fmt.Sprintf("offset %d timestamp %d epoch %d", off, ts, ep), nil

	case "max-timestamp":
		ts, off, ep, ok := l.MaxTimestamp(argInt(d, "max", math.MaxInt64))
		if !ok {
			return "none", nil
		}
		return fmt.Sprintf("offset %d timestamp %d epoch %d", off, ts, ep), nil

	case "aborted":
		var b strings.Builder
		aborted, err := l.AbortedTxns(argInt(d, "from", 0), argInt(d, "to", math.MaxInt64))
		if err != nil {
			return "", err
		}
		for _, a := range aborted {
			fmt.Fprintf(&b, "pid %d first %d last %d lso %d\n", a.ProducerID, a.FirstOffset, a.LastOffset, a.LastStableOffset)
		}
		return b.String(), nil

	case "roll":
		return "", l.Roll()
	case "flush":
		return "", l.Flush()
	case "retention":
		n, err := l.ApplyRetention()
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("deleted %d segments", n), nil
	case "compact":
		st, err := l.Compact()
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("cleaned %d segments, %d -> %d bytes, %d records removed", st.SegmentsCleaned, st.BytesBefore, st.BytesAfter, st.RecordsRemoved), nil
	case "advance":
		tr.clk.Advance(time.Duration(argInt(d, "ms", 0)) * time.Millisecond)
		return "", nil
	case "truncate":
		return "", l.TruncateTo(argInt(d, "to", 0))
	case "truncate-fully":
		return "", l.TruncateFullyAndStartAt(argInt(d, "at", 0))
	case "delete-records":
		ls, err := l.DeleteRecordsBefore(argInt(d, "before", 0))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("log start %d", ls), nil
	case "hw":
		l.SetHighWatermark(argInt(d, "off", 0))
		return fmt.Sprintf("hw %d", l.HighWatermark()), nil

	case "crash":
		// Background syncs in flight are settled first so the transcript
		// does not depend on timing; what was never synced is lost.
		settle(tr.t, tr.mgr)
		crashed := tr.mem.Crash()
		tr.mgr.Close()
		tr.mem = crashed
		tr.ffs = NewFaultFS(crashed)
		return "", tr.openMgr()
	case "reopen":
		if err := tr.mgr.Close(); err != nil {
			return "", err
		}
		return "", tr.openMgr()
	case "close":
		err := tr.mgr.Close()
		tr.mgr, tr.l = nil, nil
		return "", err
	case "start":
		return "", tr.openMgr()

	case "corrupt":
		name := argStr(d, "file", "")
		if !strings.HasPrefix(name, "/") {
			name = filepath.Join(l.Dir(), name)
		}
		f, err := tr.mem.OpenFile(name, 2 /* O_RDWR */, 0)
		if err != nil {
			return "", err
		}
		defer f.Close()
		at := argInt(d, "at", 0)
		var data []byte
		if h := argStr(d, "hex", ""); h != "" {
			if data, err = hex.DecodeString(h); err != nil {
				return "", err
			}
		} else {
			data = make([]byte, 1)
			if _, err := f.ReadAt(data, at); err != nil {
				return "", err
			}
			data[0] ^= 0xff
		}
		if _, err := f.WriteAt(data, at); err != nil {
			return "", err
		}
		return "", f.Sync()
	case "write-file":
		return "", writeFileAtomic(tr.mem, argStr(d, "file", ""), []byte(d.Input))
	case "remove":
		name := argStr(d, "file", "")
		if !strings.HasPrefix(name, "/") {
			name = filepath.Join(l.Dir(), name)
		}
		if err := tr.mem.Remove(name); err != nil {
			return "", err
		}
		return "", tr.mem.SyncDir(filepath.Dir(name))

	case "fault":
		kinds := map[string]Fault{"nospace": FaultNoSpace, "write": FaultWriteError, "short": FaultShortWrite, "sync": FaultSyncError}
		k, ok := kinds[argStr(d, "kind", "")]
		if !ok {
			return "", fmt.Errorf("unknown fault")
		}
		tr.ffs.SetFault(k, argStr(d, "match", ""))
		return "", nil
	case "clear-fault":
		tr.ffs.Clear()
		return "", nil
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

func argStr(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return a.Vals[0]
		}
	}
	return def
}

// parseBatch builds a batch from "n=3 pid=1 pe=0 seq=0 txn ts=5 keys=a,b
// values=x,y codec=gzip base=10 lepoch=2". Values "-" are null.
func (tr *transcript) parseBatch(line string) ([]byte, error) {
	args := map[string]string{}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		args[k] = v
	}
	num := func(k string, def int64) int64 {
		if v, ok := args[k]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				panic(fmt.Sprintf("bad %s=%s", k, v))
			}
			return n
		}
		return def
	}
	var keys, values []string
	if v, ok := args["keys"]; ok {
		keys = strings.Split(v, ",")
	}
	if v, ok := args["values"]; ok {
		values = strings.Split(v, ",")
	}
	n := int(num("n", int64(max(len(keys), len(values), 1))))
	ts := num("ts", tr.clk.Now().UnixMilli())
	recs := make([]records.Record, n)
	for i := range recs {
		recs[i] = records.Record{TimestampDelta: num("ts-step", 0) * int64(i), OffsetDelta: int32(i), Value: []byte(fmt.Sprintf("v%d", i))}
		if i < len(keys) && keys[i] != "-" {
			recs[i].Key = []byte(keys[i])
		}
		if i < len(values) {
			recs[i].Value = []byte(values[i])
			if values[i] == "-" {
				recs[i].Value = nil
			}
		}
	}
	h := records.BatchHeader{BaseTimestamp: ts, PartitionLeaderEpoch: int32(num("lepoch", -1)), BaseOffset: num("base", 0)}
	h.NoProducer()
	if _, ok := args["pid"]; ok {
		h.ProducerID, h.ProducerEpoch, h.BaseSequence = num("pid", 0), int16(num("pe", 0)), int32(num("seq", 0))
	}
	if _, ok := args["txn"]; ok {
		h.Attributes |= records.AttrTransactional
	}
	codec := records.CodecNone
	if c, ok := args["codec"]; ok {
		codec, _ = records.ParseCodec(c)
	}
	return records.AppendBatch(nil, h, codec, recs)
}

// dumpRecords prints every record from off to the end.
func (tr *transcript) dumpRecords(off int64) (string, error) {
	var b strings.Builder
	l := tr.l
	for {
		c, err := l.Read(off, ReadOptions{MaxOffset: math.MaxInt64, MaxBytes: 1 << 20, MinOneBatch: true})
		if err != nil {
			return "", err
		}
		if len(c.Data) == 0 {
			c.Release()
			break
		}
		for rest := c.Data; len(rest) > 0; {
			bt, r, err := records.Next(rest)
			if err != nil {
				c.Release()
				return "", err
			}
			rest = r
			attrs := []string{}
			if bt.IsControl() {
				attrs = append(attrs, "control")
			}
			if bt.IsTransactional() {
				attrs = append(attrs, "txn")
			}
			if bt.HasDeleteHorizon() {
				attrs = append(attrs, fmt.Sprintf("horizon=%d", bt.BaseTimestamp()))
			}
			if bt.HasProducerID() {
				attrs = append(attrs, fmt.Sprintf("pid=%d", bt.ProducerID()))
			}
			if bt.IsLogAppendTime() {
				attrs = append(attrs, fmt.Sprintf("log-append-time=%d", bt.MaxTimestamp()))
			}
			fmt.Fprintln(&b, strings.TrimSpace(fmt.Sprintf("batch %d-%d %s", bt.BaseOffset(), bt.LastOffset(), strings.Join(attrs, " "))))
			var lines []string
			_, err = readBatchRecordsFull(bt, func(off int64, rec *records.Record) {
				k, v := "-", "-"
				if rec.Key != nil {
					k = string(rec.Key)
					if bt.IsControl() {
						k = hex.EncodeToString(rec.Key)
					}
				}
				if rec.Value != nil {
					v = string(rec.Value)
					if bt.IsControl() {
						v = hex.EncodeToString(rec.Value)
					}
				}
				lines = append(lines, fmt.Sprintf("  %d %s=%s", off, k, v))
			})
			if err != nil {
				c.Release()
				return "", err
			}
			for _, x := range lines {
				b.WriteString(x + "\n")
			}
		}
		off = c.NextOffset
		c.Release()
	}
	return b.String(), nil
}

func readBatchRecordsFull(b records.Batch, fn func(off int64, rec *records.Record)) ([]byte, error) {
	raw := b.Records()
	if b.Codec() != records.CodecNone {
		var err error
		if raw, err = records.Decompress(b.Codec(), raw, nil, 1<<26); err != nil {
			return nil, err
		}
	}
	r := records.NewRecordReader(raw, b.NumRecords())
	var rec records.Record
	for {
		ok, err := r.Next(&rec)
		if err != nil || !ok {
			return nil, err
		}
		fn(b.BaseOffset()+int64(rec.OffsetDelta), &rec)
	}
}
