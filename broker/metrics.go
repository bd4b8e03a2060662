package broker

// Gauges computed when Prometheus scrapes, from the broker's state: nothing
// on the request path maintains them.

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descLogSize = prometheus.NewDesc("potok_partition_log_size_bytes",
		"Bytes of a partition's log on disk (segments and indexes).", []string{"topic", "partition"}, nil)
	descSegments = prometheus.NewDesc("potok_partition_log_segments",
		"Segments in a partition's log.", []string{"topic", "partition"}, nil)
	descLogStart = prometheus.NewDesc("potok_partition_log_start_offset",
		"First offset a partition still holds.", []string{"topic", "partition"}, nil)
	descLogEnd = prometheus.NewDesc("potok_partition_log_end_offset",
		"Offset the next record appended to a partition gets.", []string{"topic", "partition"}, nil)
	descHW = prometheus.NewDesc("potok_partition_high_watermark",
		"Offset up to which a partition's records are committed and visible to consumers.", []string{"topic", "partition"}, nil)
	descGroupLag = prometheus.NewDesc("potok_consumer_group_lag",
		"Records between a group's committed offset and the partition's high watermark.", []string{"group", "topic", "partition"}, nil)
	descUnderReplicated = prometheus.NewDesc("potok_under_replicated_partitions",
		"Partitions this broker leads whose ISR is smaller than their replica set.", nil, nil)
	descOffline = prometheus.NewDesc("potok_offline_partitions",
		"Partitions whose log could not be opened (answered KAFKA_STORAGE_ERROR).", nil, nil)
	descInFlight = prometheus.NewDesc("potok_request_bytes_in_flight",
		"Bytes of requests read and not yet answered (bounded by queued.max.request.bytes).", nil, nil)
	descPanics = prometheus.NewDesc("potok_handler_panics_total",
		"Request handler panics recovered; each is a bug.", nil, nil)
	descDirectReads = prometheus.NewDesc("potok_log_direct_reads_total",
		"Log reads served around the page cache with O_DIRECT (potok.log.page.cache.tail.bytes; 0 while it is off).", nil, nil)
)

// stateCollector reports the broker's state as gauges.
type stateCollector struct{ b *Broker }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogSize, descSegments, descLogStart, descLogEnd, descHW,
		descUnderReplicated, descOffline, descInFlight, descPanics, descGroupLag, descDirectReads} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	im := b.ctrl.Image()
	table := b.topics.Load()
	var under, offline float64
	for _, name := range im.TopicNames() {
		t, _ := im.Topic(name)
		for _, mp := range t.Partitions {
			if mp.Leader == b.nodeID && len(mp.ISR) < len(mp.Replicas) {
				under++
			}
		}
		ts := table.byName[name]
		if ts == nil {
			continue
		}
		for _, p := range ts.parts {
			if p.log == nil {
				offline++
				continue
			}
			part := strconv.Itoa(int(p.index))
			gauge := func(d *prometheus.Desc, v float64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name, part)
			}
			gauge(descLogSize, float64(p.log.Size()))
			gauge(descSegments, float64(p.log.NumSegments()))
			gauge(descLogStart, float64(p.log.LogStartOffset()))
			gauge(descLogEnd, float64(p.log.LogEndOffset()))
			gauge(descHW, float64(p.log.HighWatermark()))
		}
	}
	if b.groups != nil {
		b.groups.EachCommittedOffset(func(group, topic string, partition int32, offset int64) {
			p := table.byName[topic].partition(partition)
			if p == nil || p.log == nil {
				return
			}
			lag := max(p.log.HighWatermark()-offset, 0)
			ch <- prometheus.MustNewConstMetric(descGroupLag, prometheus.GaugeValue, float64(lag), group, topic, strconv.Itoa(int(partition)))
		})
	}
	ch <- prometheus.MustNewConstMetric(descUnderReplicated, prometheus.GaugeValue, under)
	ch <- prometheus.MustNewConstMetric(descOffline, prometheus.GaugeValue, offline)
	if b.logs != nil {
		ch <- prometheus.MustNewConstMetric(descDirectReads, prometheus.CounterValue, float64(b.logs.DirectReads()))
	}
	if b.server != nil {
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(b.server.InFlightBytes()))
		ch <- prometheus.MustNewConstMetric(descPanics, prometheus.CounterValue, float64(b.server.HandlerPanics()))
	}
}
