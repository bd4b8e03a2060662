// Package logstore is Potok's partition log on disk: Kafka's layout and
// semantics (segments, sparse indexes, checkpoints, recovery, retention,
// compaction, producer state, transaction index), written through file
// descriptors and read through read-only memory maps.
//
// # Files
//
// A data directory (one of log.dirs) holds one directory per partition and
// the per-directory checkpoints, each written to a .tmp file, fsynced,
// renamed and the directory fsynced:
//
//	/data/
//	  recovery-point-offset-checkpoint   0\n<count>\n<topic> <partition> <offset>\n...
//	  log-start-offset-checkpoint        same layout: log start offsets
//	  replication-offset-checkpoint      same layout: high watermarks
//	  cleaner-offset-checkpoint          same layout: where compaction stopped
//	  .kafka_cleanshutdown               present only between Close and Open
//	  orders-0/
//	    00000000000000000000.log         batches, exactly as produced (offsets patched)
//	    00000000000000000000.index       sparse offset index
//	    00000000000000000000.timeindex   sparse time index
//	    00000000000000000000.txnindex    aborted transactions (only if any)
//	    00000000000000000367.log         next segment: named by its base offset, 20 digits
//	    00000000000000000367.index
//	    00000000000000000367.timeindex
//	    00000000000000000367.snapshot    producer state as of offset 367
//	    leader-epoch-checkpoint          0\n<count>\n<epoch> <start offset>\n...
//	    partition.metadata               version: 0\ntopic_id: <base64url uuid>
//
// # Segment and indexes
//
// A segment holds whole batches back to back. A batch (see package records)
// carries its base offset and length in its first 12 bytes; the last offset
// is base + lastOffsetDelta. Offsets only grow; compaction leaves gaps.
//
//	00000000000000000367.log
//	pos 0           pos 4123          pos 8260             pos 12391
//	+---------------+-----------------+--------------------+------ ...
//	| batch 367-369 | batch 370-370   | batch 371-380      | batch 381-...
//	+---------------+-----------------+--------------------+------ ...
//
// Every index.interval.bytes (4096) of appended data, the batch being
// appended gets an offset index entry (its last offset relative to the
// segment base, and its position) and, if the largest timestamp grew, a
// time index entry (that timestamp and the relative last offset of the batch
// that carries it). The first batch of a segment gets none: position 0 is
// implied.
//
//	.index (8-byte entries)           .timeindex (12-byte entries)
//	+----------+----------+           +-------------------+----------+
//	| int32 rel| int32 pos|           | int64 timestamp   | int32 rel|
//	+----------+----------+           +-------------------+----------+
//	|    3     |   4123   |  370      | 1700000000120     |    3     |
//	|   13     |   8260   |  380      | 1700000000350     |   13     |
//	+----------+----------+           +-------------------+----------+
//
// To read offset 375: binary-search the greatest entry at or below 375-367=8
// (rel 3, position 4123), check that the batch at 4123 really ends at 370
// (indexes carry no checksum), then step over batch headers to the first
// batch whose last offset is >= 375: the batch 371-380 at 8260, returned
// whole. A time lookup finds the greatest time entry at or below the
// timestamp, maps its offset through the offset index, and scans from there,
// record by record inside the batch found.
//
// A transaction index entry is Kafka's AbortedTxn: int16 version (0), int64
// producer id, int64 first offset, int64 last offset (the abort marker),
// int64 last stable offset when the abort was written (34 bytes).
//
// # Appending and reading
//
// Append patches baseOffset and partitionLeaderEpoch (outside the CRC) in the
// caller's buffer and writes it with one pwrite at the end of the active
// segment, then the index entries, and only then publishes the new end under
// the log's mutex, so a reader never sees part of a batch. Reads return
// slices of a read-only MAP_SHARED map of the segment. The active segment is
// mapped with room to grow (segment.bytes + 1 MiB), so appended bytes show
// through the same map; a larger map replaces it when needed. Every map is
// reference counted: a Chunk holds one until Release, so a map is unmapped
// only when its last reader is done, whatever rolls, deletions or swaps
// happen meanwhile (a map outlives the file it was made from). There are no
// writable maps: a full disk must be an error from write(2), not a SIGBUS.
//
// Optionally (ManagerOptions.PageCacheTail, the broker's
// potok.log.page.cache.tail.bytes; off by default) the page cache holds
// only each log's tail: what a sync made durable and lies further behind
// is dropped from the cache, and a read that starts in a dropped range is
// served with an O_DIRECT read into a buffer the Manager reuses, returning
// the same batches the map would (direct.go), reading the next window
// ahead for a reader catching up (readahead.go). It trades reads of old data
// from disk for appends into pages the kernel has just freed; see
// docs/performance.md for when that pays.
//
// # File descriptors
//
// A segment's files are opened when first used, not when the log is
// loaded, and a Manager keeps at most ManagerOptions.MaxOpenFiles of them
// open (half of RLIMIT_NOFILE by default), closing the least recently used
// ones, so 10,000 partitions fit in a 20,000-descriptor limit with room for
// the clients. A file with unsynced writes stays open (a writeback error on
// a closed file would never reach the fdatasync that claims durability),
// except an offset or time index, which is synced and then closed; maps
// outlive their descriptors.
//
// # Durability
//
// One flusher per Manager syncs logs with unsynced data: an append queues
// its log and wakes one of a few sync workers, which fdatasyncs the log's
// dirty files (segments rolled since the last sync with their indexes
// first, then the active segment's data), then advances the log's durable
// offset, wakes appenders waiting for it, and calls
// ManagerOptions.OnDurable. Appends made while their log is being synced
// queue it again and are covered by the next sync, so concurrent appenders
// share syncs (group commit); a worker takes the next queued log as soon as
// it is done, with no cycle to wait for. With flush.messages = 1 (Potok's
// default) every append is queued at once; with Kafka's settings a log is
// queued after flush.messages records or flush.ms.
// A directory is fsynced whenever a segment or checkpoint file is created,
// renamed or removed.
//
// Write-ahead padding: fdatasync after an append that lengthens the file
// makes the new size durable too (a journal transaction on ext4 with a
// journal, a synchronous inode write without one) on top of writing the
// data; into blocks already written and synced it writes the
// data and flushes the disk cache. So when a log syncs by message count, a
// small append (under 64 KiB) is followed by zeros, 16 times its size
// (32-256 KiB, not past segment.bytes), which the next small appends
// overwrite: most of their syncs are of the cheaper kind. The active
// segment's file is then longer than its log:
//
//	[batches ........][zeros written ahead]
//	0             size                  length on disk
//
// The zeros are cut off (ftruncate) when the segment is sealed and when the
// log is closed, so sealed segments and a clean shutdown leave each file
// exactly its log. After a crash, recovery takes an all-zero tail for the
// end of the data (below).
//
// # Truncation
//
// TruncateTo(o) drops every batch whose last offset is >= o. With segments
// 0 (batches 0-2, 3-5, 6-8) and 9 (batches 9-14, 15-15):
//
//	before      [0-2][3-5][6-8] | [9-14][15-15]      log end 16
//	TruncateTo(9)  -> [0-2][3-5][6-8] |              segment 9 deleted, end 9
//	TruncateTo(4)  -> [0-2]                          batch 3-5 holds 4: it goes,
//	                                                 end 3 (where the data ends)
//
// The segment keeping the prefix is cut with ftruncate while no reader holds
// a map of it; if one does, the kept prefix is copied to <base>.log.trunc,
// synced, and renamed over the segment, so that reader's pages stay valid.
// Index entries past the cut go, leader epochs starting at or after the new
// end go, the producer state is rebuilt from the latest snapshot at or below
// the end plus a replay, and the cut, the directory and the recovery point
// checkpoint are synced before the next append.
//
// # Recovery
//
// After a clean shutdown (marker present) the files are trusted: each
// segment's end is found from its last offset index entry and the few batch
// headers after it, and the producer state comes from the snapshot at the
// log end. Opening a 1 GiB log takes a few milliseconds.
//
// Otherwise recovery starts at the segment holding the recovery point and
// checks every batch from there: length, magic, CRC-32C, offsets increasing.
// The first bad byte ends the log:
//
//	recovery point 9, segment 9 on disk:
//	pos 0          pos 151      pos 221
//	[9-14 ok]      [15-15 ok]   [16-18 torn: only 40 of 88 bytes]
//	-> segment 9 cut at 221, log end 16; later segments deleted;
//	   its indexes and transaction index rebuilt from the batches.
//
// Bytes from the first bad batch to the end of the file that are all zeros
// are not damage but write-ahead padding never cut off (a crash before the
// close, or between a roll and the sync of the sealed file's new length):
// the file is cut there and nothing after it is dropped for that reason.
//
// Segments are contiguous (a roll starts the next one at the log end), so a
// recovered segment that ends before the next one begins lost its unsynced
// tail: everything after it goes too. Earlier segments are trusted after a
// sanity check of their indexes (whole entries, increasing, inside the log);
// one that fails is recovered like the rest. Corruption inside a trusted
// sealed segment is found when it is read: reads check the CRC of every
// batch not yet verified and report "corrupt data" with the file and
// position instead of serving it.
//
// # Retention, DeleteRecords, compaction
//
// Retention deletes whole sealed segments, oldest first, while their
// largest timestamp is older than retention.ms or the log exceeds
// retention.bytes, never past the high watermark. DeleteRecords moves the
// log start offset, possibly inside a segment, and deletes the segments
// wholly below it. Deleted files are renamed to .deleted and removed.
//
// Compaction (cleanup.policy=compact) keeps the latest record per key below
// the first uncleanable offset (active segment, high watermark, first open
// transaction, recovery point on disk, min.compaction.lag.ms). Offsets never
// move: a cleaned batch keeps its base and last offset. Tombstones and
// transaction markers get a delete horizon (KIP-534: attribute bit 6 and
// baseTimestamp = cleaning time + delete.retention.ms) and are dropped on a
// later pass once it has passed; aborted transactional data is dropped. The
// cleaned segments are written as .cleaned, synced, renamed to .swap (the
// commit point: recovery completes a swap it finds), and swapped in under
// the append lock.
//
// # Locks
//
// Per log, in the order they are taken: cleanMu (one compaction pass),
// appendMu (every writer), syncMu (whoever syncs or closes files), mu (the
// log's state; readers share it), then a segment's mapMu (its maps). dmu
// guards durable waiters and is never held with the others. The Manager's
// ckptMu (checkpoint files) may be taken with a log's append and sync locks
// held, and then takes every log's mu; the Manager's mu (its map of logs) is
// taken last and briefly, never held while a log's lock is taken.
package logstore
