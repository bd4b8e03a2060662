// Package records reads, checks and builds Kafka record batches (magic 2), the
// unit in which Potok receives, stores and serves data.
//
// A batch travels through the broker as the bytes a producer sent. Only the
// fields outside the CRC are ever patched in place (base offset and partition
// leader epoch); everything else is read through Batch's accessors, which index
// straight into the byte slice and allocate nothing.
//
//	offset  size  field                  in CRC  patched by the broker
//	     0     8  baseOffset             no      yes, on append
//	     8     4  batchLength            no      no  (bytes after this field)
//	    12     4  partitionLeaderEpoch   no      yes, on append
//	    16     1  magic (= 2)            no      no
//	    17     4  crc (CRC-32C)          -       only with maxTimestamp
//	    21     2  attributes             yes     LogAppendTime bit
//	    23     4  lastOffsetDelta        yes     no
//	    27     8  baseTimestamp          yes     no
//	    35     8  maxTimestamp           yes     LogAppendTime topics
//	    43     8  producerId             yes     no
//	    51     2  producerEpoch          yes     no
//	    53     4  baseSequence           yes     no
//	    57     4  recordCount            yes     no
//	    61     -  records (one compressed blob when the codec is not none)
//
// attributes: bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd), bit 3
// timestamp type (1 = LogAppendTime), bit 4 transactional, bit 5 control, bit 6
// delete horizon set (compaction, KIP-534).
//
// A record inside the records section is, with every integer a zigzag varint:
//
//	length, attributes (int8), timestampDelta, offsetDelta, keyLength, key,
//	valueLength, value, headerCount, [headerKeyLength, headerKey,
//	headerValueLength, headerValue]...
//
// with -1 as the length of a null key, value or header value. Source: Kafka's
// DefaultRecordBatch.java and DefaultRecord.java.
package records
