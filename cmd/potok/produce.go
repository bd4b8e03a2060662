package main

// potok produce and potok consume: kafka-console-producer.sh and
// kafka-console-consumer.sh, over kgo.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// jsonRecord is a record as JSON Lines carry it, in and out. Values that
// are not UTF-8 travel as base64 in value_b64 (key_b64).
type jsonRecord struct {
	Topic     string            `json:"topic,omitempty"`
	Partition *int32            `json:"partition,omitempty"`
	Offset    *int64            `json:"offset,omitempty"`
	Timestamp string            `json:"timestamp,omitempty"`
	Key       *string           `json:"key,omitempty"`
	KeyB64    *string           `json:"key_b64,omitempty"`
	Value     *string           `json:"value,omitempty"`
	ValueB64  *string           `json:"value_b64,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
}

func decodeField(text, b64 *string, name string) ([]byte, error) {
	switch {
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("%s_b64: %v", name, err)
		}
		return b, nil
	case text != nil:
		return []byte(*text), nil
	}
	return nil, nil
}

func encodeField(b []byte) (text, b64 *string) {
	if b == nil {
		return nil, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

func produceCmd(e *cliEnv, args []string) error {
	fs := e.flags("TOPIC < records")
	keySep := fs.String("key-separator", "", "split each line into key and value at the first occurrence of this string")
	var headers multiFlag
	fs.Var(&headers, "header", "a header `name=value` added to every record; repeatable")
	partition := fs.Int("partition", -1, "write every record to this partition (default: by key hash, or spread)")
	acks := fs.String("acks", "all", "acknowledgements to wait for: all, 1 or 0")
	compression := fs.String("compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, `usage: potok produce [flags] TOPIC < records

Reads one record a line from standard input. With --format table (the
default) a line is the value, or key<separator>value with --key-separator.
With --format json a line is a JSON object:
  {"key": "k", "value": "v", "headers": {"h": "x"}, "partition": 0}
(key_b64 and value_b64 carry bytes that are not UTF-8).

flags:
`)
		printDefaults(e.stderr, fs)
	}
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("name exactly one topic")
	}
	topic := pos[0]
	hdrs, err := keyValues("header", headers)
	if err != nil {
		return err
	}
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic)}
	switch *acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return usagef("--acks must be all, 1 or 0")
	}
	codecs := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	codec, ok := codecs[*compression]
	if !ok {
		return usagef("--compression must be none, gzip, snappy, lz4 or zstd")
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	cl, err := e.client(append(opts, kgo.RecordPartitioner(partitionerFor()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	var (
		mu       sync.Mutex
		firstErr error
		n        int
	)
	done := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if err == nil {
			n++
		}
	}
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		r := &kgo.Record{Partition: int32(*partition)}
		text := sc.Text()
		if e.format == "json" {
			if strings.TrimSpace(text) == "" {
				continue
			}
			var jr jsonRecord
			if err := json.Unmarshal([]byte(text), &jr); err != nil {
				return fmt.Errorf("line %d: not a JSON record: %v", line, err)
			}
			if r.Key, err = decodeField(jr.Key, jr.KeyB64, "key"); err != nil {
				return fmt.Errorf("line %d: %v", line, err)
			}
			if r.Value, err = decodeField(jr.Value, jr.ValueB64, "value"); err != nil {
				return fmt.Errorf("line %d: %v", line, err)
			}
			for k, v := range jr.Headers {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
			if jr.Partition != nil {
				r.Partition = *jr.Partition
			}
		} else {
			r.Value = []byte(text)
			if *keySep != "" {
				k, v, found := strings.Cut(text, *keySep)
				if !found {
					return fmt.Errorf("line %d has no key separator %q", line, *keySep)
				}
				r.Key, r.Value = []byte(k), []byte(v)
			}
		}
		for _, k := range sortedHeaderNames(hdrs) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(hdrs[k])})
		}
		cl.Produce(ctx, r, done)
		mu.Lock()
		err := firstErr
		mu.Unlock()
		if err != nil {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading standard input: %v", err)
	}
	flushCtx, cancelFlush := context.WithTimeout(ctx, e.timeout)
	defer cancelFlush()
	if err := cl.Flush(flushCtx); err != nil {
		return fmt.Errorf("flushing: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return fmt.Errorf("producing to %s: %w", topic, firstErr)
	}
	if e.format == "json" {
		return e.json(map[string]any{"topic": topic, "records": n})
	}
	return nil
}

// partitionerFor sends a record to its Partition field when it is set
// (--partition, or "partition" in JSON), by Kafka's key hash when it has a
// key, and round robin otherwise.
func partitionerFor() kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(r *kgo.Record, n int) int {
		keyed := kgo.StickyKeyPartitioner(nil).ForTopic("")
		next := 0
		return func(r *kgo.Record, n int) int {
			switch {
			case r.Partition >= 0:
				return int(r.Partition)
			case r.Key != nil:
				return keyed.Partition(r, n)
			}
			next++
			return next % n
		}
	})
}

func sortedHeaderNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func consumeCmd(e *cliEnv, args []string) error {
	fs := e.flags("TOPIC...")
	group := fs.String("group", "", "consume as this consumer group, committing offsets (default: no group, nothing committed)")
	fromBeginning := fs.Bool("from-beginning", false, "start at the log start when there is no committed offset (default: the end)")
	partition := fs.Int("partition", -1, "read only this partition")
	offset := fs.Int64("offset", -1, "with --partition: start at this offset")
	maxMessages := fs.Int("max-messages", 0, "exit after this many records (0: no limit)")
	idle := fs.Duration("idle-timeout", 0, "exit when no record arrives for this long (0: wait for ever)")
	printKey := fs.Bool("print-key", false, "table format: print key<TAB>value")
	printHeaders := fs.Bool("print-headers", false, "table format: print the headers before the value")
	printOffset := fs.Bool("print-offset", false, "table format: print partition:offset before the value")
	topics, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(topics) == 0 {
		return usagef("name at least one topic")
	}
	if *offset >= 0 && *partition < 0 {
		return usagef("--offset needs --partition")
	}
	if *partition >= 0 && (*group != "" || len(topics) != 1) {
		return usagef("--partition reads one topic without a group")
	}
	start := kgo.NewOffset().AtEnd()
	if *fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	var opts []kgo.Opt
	switch {
	case *partition >= 0:
		at := start
		if *offset >= 0 {
			at = kgo.NewOffset().At(*offset)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topics[0]: {int32(*partition): at}}))
	default:
		opts = append(opts, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(start))
		if *group != "" {
			opts = append(opts, kgo.ConsumerGroup(*group))
		}
	}
	// A short long-poll: closing the client waits for the fetch in flight.
	opts = append(opts, kgo.FetchMaxWait(500*time.Millisecond))
	cl, err := e.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	n := 0
	for *maxMessages == 0 || n < *maxMessages {
		pctx := ctx
		var pcancel context.CancelFunc = func() {}
		if *idle > 0 {
			pctx, pcancel = context.WithTimeout(ctx, *idle)
		}
		fetches := cl.PollRecords(pctx, *maxMessages-n)
		pcancel()
		if ctx.Err() != nil || (*idle > 0 && pctx.Err() != nil && fetches.NumRecords() == 0) {
			break
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = errors.Join(ferr, fmt.Errorf("%s/%d: %w", t, p, err))
			}
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fetches.Records() {
			if e.format == "json" {
				p, o := r.Partition, r.Offset
				jr := jsonRecord{Topic: r.Topic, Partition: &p, Offset: &o, Timestamp: r.Timestamp.UTC().Format(time.RFC3339Nano)}
				jr.Key, jr.KeyB64 = encodeField(r.Key)
				jr.Value, jr.ValueB64 = encodeField(r.Value)
				if len(r.Headers) > 0 {
					jr.Headers = map[string]string{}
					for _, h := range r.Headers {
						jr.Headers[h.Key] = string(h.Value)
					}
				}
				if err := enc.Encode(jr); err != nil {
					return err
				}
			} else {
				if *printOffset {
					fmt.Fprintf(out, "%d:%d\t", r.Partition, r.Offset)
				}
				if *printHeaders {
					var hs []string
					for _, h := range r.Headers {
						hs = append(hs, h.Key+"="+string(h.Value))
					}
					fmt.Fprintf(out, "%s\t", strings.Join(hs, ","))
				}
				if *printKey {
					fmt.Fprintf(out, "%s\t", r.Key)
				}
				out.Write(r.Value)
				out.WriteByte('\n')
			}
			n++
		}
		out.Flush()
	}
	out.Flush()
	if *group != "" {
		cctx, ccancel := context.WithTimeout(context.Background(), e.timeout)
		defer ccancel()
		if err := cl.CommitUncommittedOffsets(cctx); err != nil {
			return fmt.Errorf("committing offsets of group %s: %w", *group, err)
		}
	}
	if e.format != "json" {
		fmt.Fprintf(e.stderr, "Processed a total of %d messages\n", n)
	}
	return nil
}
