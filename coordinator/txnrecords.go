package coordinator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/potok-io/potok/records"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// __transaction_state records use Kafka's TransactionLogKey (version 0) and
// TransactionLogValue (version 1, flexible, with the previous producer id as
// a tagged field), so Kafka's tools can read them.

const txnValueVersion = 1

// encodeTxnBatch builds the batch recording t's state.
func encodeTxnBatch(t *txnState, now int64) ([]byte, error) {
	val := kmsg.NewTxnMetadataValue()
	val.Version = txnValueVersion
	val.ProducerID, val.ProducerEpoch = t.pid, t.epoch
	val.TimeoutMillis = t.timeoutMs
	val.State = t.state
	val.LastUpdateTimestamp = now
	val.StartTimestamp = t.startTS
	val.PreviousProducerID = t.prevPid
	byTopic := map[string][]int32{}
	for tp := range t.parts {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	names := make([]string, 0, len(byTopic))
	for n := range byTopic {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ps := byTopic[n]
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		vt := kmsg.NewTxnMetadataValueTopic()
		vt.Topic, vt.Partitions = n, ps
		val.Topics = append(val.Topics, vt)
	}
	return stateBatch(now, []records.Record{{Key: txnKey(t.id), Value: val.AppendTo(nil)}})
}

// encodeTxnTombstone builds the batch that forgets a transactional id.
func encodeTxnTombstone(id string, now int64) ([]byte, error) {
	return stateBatch(now, []records.Record{{Key: txnKey(id)}})
}

// txnKey is the __transaction_state key of a transactional id.
func txnKey(id string) []byte {
	key := kmsg.NewTxnMetadataKey()
	key.Version, key.TransactionalID = 0, id
	return key.AppendTo(nil)
}

// decodeTxnRecord reads one record; a nil state is a tombstone.
func decodeTxnRecord(k, v []byte) (string, *txnState, error) {
	if len(k) < 2 {
		return "", nil, errors.New("short key")
	}
	if kv := int16(binary.BigEndian.Uint16(k)); kv != 0 {
		return "", nil, fmt.Errorf("unknown key version %d", kv)
	}
	var key kmsg.TxnMetadataKey
	if err := key.ReadFrom(k); err != nil {
		return "", nil, err
	}
	if v == nil {
		return key.TransactionalID, nil, nil
	}
	if len(v) < 2 {
		return "", nil, errors.New("short value")
	}
	var val kmsg.TxnMetadataValue
	if err := val.ReadFrom(v); err != nil {
		return "", nil, err
	}
	if val.State > kmsg.TransactionStatePrepareEpochFence || val.State < 0 {
		return "", nil, fmt.Errorf("unknown state %d", val.State)
	}
	t := &txnState{id: key.TransactionalID, pid: val.ProducerID, prevPid: val.PreviousProducerID, epoch: val.ProducerEpoch,
		lastEpoch: -1, timeoutMs: val.TimeoutMillis, state: val.State, startTS: val.StartTimestamp,
		updateTS: val.LastUpdateTimestamp, parts: map[TopicPartition]struct{}{}}
	for _, vt := range val.Topics {
		for _, p := range vt.Partitions {
			t.parts[TopicPartition{vt.Topic, p}] = struct{}{}
		}
	}
	return key.TransactionalID, t, nil
}
