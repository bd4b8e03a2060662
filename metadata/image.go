package metadata

import (
	"fmt"
	"maps"
	"slices"
	"sort"
)

// Image is the metadata at one offset of the log. It is immutable: Apply
// returns a new Image and shares every part that did not change.
type Image struct {
	offset   int64 // offset of the last record applied; -1 for none
	topics   map[string]*Topic
	byID     map[Uuid]*Topic
	brokers  map[int32]*Broker
	configs  map[ConfigResource]map[string]string
	nextPID  int64
	features map[string]int16
	quotas   map[QuotaEntity]map[string]float64
}

// ConfigResource names a resource that has configs.
type ConfigResource struct {
	Type int8
	Name string
}

// Topic is a topic and its partitions; callers must not modify it.
type Topic struct {
	Name       string
	ID         Uuid
	Partitions []Partition
}

// Partition is the replication state of one partition.
type Partition struct {
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
}

// Broker is a registered broker.
type Broker struct {
	ID        int32
	Epoch     int64
	Endpoints []Endpoint
	Rack      *string
}

// Endpoint returns the broker's endpoint for a listener name.
func (b *Broker) Endpoint(listener string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}

// EmptyImage is the image before any record.
func EmptyImage() *Image {
	return &Image{
		offset:   -1,
		topics:   map[string]*Topic{},
		byID:     map[Uuid]*Topic{},
		brokers:  map[int32]*Broker{},
		configs:  map[ConfigResource]map[string]string{},
		features: map[string]int16{},
	}
}

// Offset is the log offset of the last record in the image.
func (im *Image) Offset() int64 { return im.offset }

// Topic returns a topic by name.
func (im *Image) Topic(name string) (*Topic, bool) {
	t, ok := im.topics[name]
	return t, ok
}

// TopicByID returns a topic by id.
func (im *Image) TopicByID(id Uuid) (*Topic, bool) {
	t, ok := im.byID[id]
	return t, ok
}

// TopicNames returns every topic name, sorted.
func (im *Image) TopicNames() []string {
	names := slices.Collect(maps.Keys(im.topics))
	sort.Strings(names)
	return names
}

// NumTopics returns the number of topics.
func (im *Image) NumTopics() int { return len(im.topics) }

// Brokers returns the registered brokers sorted by id.
func (im *Image) Brokers() []*Broker {
	bs := slices.Collect(maps.Values(im.brokers))
	slices.SortFunc(bs, func(a, b *Broker) int { return int(a.ID - b.ID) })
	return bs
}

// Broker returns a broker by id.
func (im *Image) Broker(id int32) (*Broker, bool) {
	b, ok := im.brokers[id]
	return b, ok
}

// Configs returns the explicitly set configs of a resource (nil if none).
func (im *Image) Configs(r ConfigResource) map[string]string { return im.configs[r] }

// TopicConfigs returns the explicitly set configs of a topic.
func (im *Image) TopicConfigs(topic string) map[string]string {
	return im.configs[ConfigResource{ResourceTopic, topic}]
}

// NextProducerID is the first producer id not yet reserved.
func (im *Image) NextProducerID() int64 { return im.nextPID }

// Feature returns the finalized level of a feature (0 if not finalized).
func (im *Image) Feature(name string) int16 { return im.features[name] }

// Features returns every finalized feature.
func (im *Image) Features() map[string]int16 { return im.features }

// Apply returns the image after records, the first at offset first.
func (im *Image) Apply(first int64, recs []Record) (*Image, error) {
	next := *im
	d := delta{im: &next}
	for i, r := range recs {
		if err := d.apply(r); err != nil {
			return nil, fmt.Errorf("metadata: record %d (%T): %w", first+int64(i), r, err)
		}
	}
	next.offset = first + int64(len(recs)) - 1
	return &next, nil
}

// delta copies each map of the image the first time it changes.
type delta struct {
	im                                                  *Image
	topicsCopied, brokersCopied, configsCopied, fCopied bool
	quotasCopied                                        bool
}

func (d *delta) topics() {
	if !d.topicsCopied {
		d.im.topics = maps.Clone(d.im.topics)
		d.im.byID = maps.Clone(d.im.byID)
		d.topicsCopied = true
	}
}

func (d *delta) apply(r Record) error {
	im := d.im
	switch r := r.(type) {
	case *TopicRecord:
		if _, ok := im.topics[r.Name]; ok {
			return fmt.Errorf("topic %q exists", r.Name)
		}
		if _, ok := im.byID[r.ID]; ok || r.ID.IsZero() {
			return fmt.Errorf("topic id %s in use or zero", r.ID)
		}
		d.topics()
		t := &Topic{Name: r.Name, ID: r.ID}
		im.topics[r.Name], im.byID[r.ID] = t, t
	case *PartitionRecord:
		t, ok := im.byID[r.TopicID]
		if !ok {
			return fmt.Errorf("unknown topic id %s", r.TopicID)
		}
		if int(r.Partition) != len(t.Partitions) {
			return fmt.Errorf("partition %d of %s out of order (have %d)", r.Partition, t.Name, len(t.Partitions))
		}
		d.topics()
		nt := *t
		nt.Partitions = append(slices.Clip(t.Partitions), Partition{
			Replicas: r.Replicas, ISR: r.ISR, Leader: r.Leader, LeaderEpoch: r.LeaderEpoch, PartitionEpoch: r.PartitionEpoch,
		})
		im.topics[nt.Name], im.byID[nt.ID] = &nt, &nt
	case *PartitionChangeRecord:
		t, ok := im.byID[r.TopicID]
		if !ok || r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
			return fmt.Errorf("unknown partition %s/%d", r.TopicID, r.Partition)
		}
		d.topics()
		nt := *t
		nt.Partitions = slices.Clone(t.Partitions)
		p := &nt.Partitions[r.Partition]
		if r.Leader != nil && *r.Leader != p.Leader {
			p.Leader = *r.Leader
			p.LeaderEpoch++
		}
		if r.ISR != nil {
			p.ISR = r.ISR
		}
		if r.Replicas != nil {
			p.Replicas = r.Replicas
		}
		p.PartitionEpoch++
		im.topics[nt.Name], im.byID[nt.ID] = &nt, &nt
	case *RemoveTopicRecord:
		t, ok := im.byID[r.TopicID]
		if !ok {
			return fmt.Errorf("unknown topic id %s", r.TopicID)
		}
		d.topics()
		delete(im.topics, t.Name)
		delete(im.byID, t.ID)
		key := ConfigResource{ResourceTopic, t.Name}
		if _, ok := im.configs[key]; ok {
			d.copyConfigs()
			delete(im.configs, key)
		}
	case *ConfigRecord:
		d.copyConfigs()
		key := ConfigResource{r.ResourceType, r.ResourceName}
		m := maps.Clone(im.configs[key])
		if m == nil {
			m = map[string]string{}
		}
		if r.Value == nil {
			delete(m, r.Name)
		} else {
			m[r.Name] = *r.Value
		}
		if len(m) == 0 {
			delete(im.configs, key)
		} else {
			im.configs[key] = m
		}
	case *RegisterBrokerRecord:
		if !d.brokersCopied {
			im.brokers = maps.Clone(im.brokers)
			d.brokersCopied = true
		}
		im.brokers[r.BrokerID] = &Broker{ID: r.BrokerID, Epoch: r.Epoch, Endpoints: r.Endpoints, Rack: r.Rack}
	case *ProducerIdsRecord:
		if r.NextProducerID < im.nextPID {
			return fmt.Errorf("producer id block moves back from %d to %d", im.nextPID, r.NextProducerID)
		}
		im.nextPID = r.NextProducerID
	case *FeatureLevelRecord:
		if !d.fCopied {
			im.features = maps.Clone(im.features)
			d.fCopied = true
		}
		if r.Level == 0 {
			delete(im.features, r.Name)
		} else {
			im.features[r.Name] = r.Level
		}
	case *ClientQuotaRecord:
		return d.applyClientQuota(r)
	default:
		return fmt.Errorf("unknown record %T", r)
	}
	return nil
}

func (d *delta) copyConfigs() {
	if !d.configsCopied {
		d.im.configs = maps.Clone(d.im.configs)
		d.configsCopied = true
	}
}

// Records returns records that rebuild this image from an empty one: the
// content of a metadata snapshot.
func (im *Image) Records() []Record {
	var recs []Record
	for _, b := range im.Brokers() {
		recs = append(recs, &RegisterBrokerRecord{BrokerID: b.ID, Epoch: b.Epoch, Endpoints: b.Endpoints, Rack: b.Rack})
	}
	for _, name := range im.TopicNames() {
		t := im.topics[name]
		recs = append(recs, &TopicRecord{Name: t.Name, ID: t.ID})
		for i, p := range t.Partitions {
			recs = append(recs, &PartitionRecord{TopicID: t.ID, Partition: int32(i), Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch})
		}
	}
	keys := slices.Collect(maps.Keys(im.configs))
	slices.SortFunc(keys, func(a, b ConfigResource) int {
		if a.Type != b.Type {
			return int(a.Type) - int(b.Type)
		}
		return compareStrings(a.Name, b.Name)
	})
	for _, k := range keys {
		m := im.configs[k]
		names := slices.Sorted(maps.Keys(m))
		for _, n := range names {
			v := m[n]
			recs = append(recs, &ConfigRecord{ResourceType: k.Type, ResourceName: k.Name, Name: n, Value: &v})
		}
	}
	if im.nextPID > 0 {
		recs = append(recs, &ProducerIdsRecord{NextProducerID: im.nextPID})
	}
	for _, n := range slices.Sorted(maps.Keys(im.features)) {
		recs = append(recs, &FeatureLevelRecord{Name: n, Level: im.features[n]})
	}
	recs = append(recs, im.quotaRecords()...)
	return recs
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
