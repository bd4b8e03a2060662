package metadata

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// Uuid is a Kafka UUID (topic ids, directory ids).
type Uuid [16]byte

// String is Kafka's text form: base64url without padding.
func (u Uuid) String() string { return base64.RawURLEncoding.EncodeToString(u[:]) }

// IsZero reports whether u is the zero UUID (Kafka's "no id").
func (u Uuid) IsZero() bool { return u == Uuid{} }

// ParseUuid parses Kafka's text form.
func ParseUuid(s string) (Uuid, error) {
	var u Uuid
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("metadata: invalid uuid %q", s)
	}
	copy(u[:], b)
	return u, nil
}

func (u Uuid) MarshalText() ([]byte, error) { return []byte(u.String()), nil }
func (u *Uuid) UnmarshalText(b []byte) error {
	v, err := ParseUuid(string(b))
	*u = v
	return err
}

// RecordType identifies a record kind in the log, with Kafka's numbering
// where Kafka has the record.
type RecordType uint8

const (
	TypeRegisterBroker  RecordType = 0
	TypeTopic           RecordType = 2
	TypePartition       RecordType = 3
	TypeConfig          RecordType = 4
	TypePartitionChange RecordType = 5
	TypeProducerIDs     RecordType = 15
	TypeRemoveTopic     RecordType = 9
	TypeFeatureLevel    RecordType = 12
	// typeLogStart is Potok's own: the first frame of a rewritten log
	// gives the offset of the record after it, so offsets stay monotonic
	// across snapshots.
	typeLogStart RecordType = 254
)

// Record is one metadata record.
type Record interface {
	Type() RecordType
}

// TopicRecord creates a topic.
type TopicRecord struct {
	Name string `json:"name"`
	ID   Uuid   `json:"id"`
}

// PartitionRecord creates a partition of a topic.
type PartitionRecord struct {
	TopicID        Uuid    `json:"topicId"`
	Partition      int32   `json:"partition"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
}

// PartitionChangeRecord changes the leader, ISR or replicas of a partition.
// Nil fields are unchanged; a leader change bumps the leader epoch, every
// change bumps the partition epoch.
type PartitionChangeRecord struct {
	TopicID   Uuid    `json:"topicId"`
	Partition int32   `json:"partition"`
	Leader    *int32  `json:"leader,omitempty"`
	ISR       []int32 `json:"isr,omitempty"`
	Replicas  []int32 `json:"replicas,omitempty"`
}

// RemoveTopicRecord deletes a topic and all its partitions.
type RemoveTopicRecord struct {
	TopicID Uuid `json:"topicId"`
}

// Config resource types, as Kafka's ConfigResource.Type.
const (
	ResourceTopic  int8 = 2
	ResourceBroker int8 = 4
)

// ConfigRecord sets (Value non-nil) or deletes one config of a resource.
// Broker resource name "" is the cluster-wide default.
type ConfigRecord struct {
	ResourceType int8    `json:"resourceType"`
	ResourceName string  `json:"resourceName"`
	Name         string  `json:"name"`
	Value        *string `json:"value"`
}

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Name string `json:"name"`
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// RegisterBrokerRecord records a broker and where clients reach it.
type RegisterBrokerRecord struct {
	BrokerID    int32      `json:"brokerId"`
	Incarnation Uuid       `json:"incarnationId"`
	Epoch       int64      `json:"brokerEpoch"`
	Endpoints   []Endpoint `json:"endpoints"`
	Rack        *string    `json:"rack,omitempty"`
}

// ProducerIdsRecord reserves producer ids below NextProducerID for a broker.
type ProducerIdsRecord struct {
	BrokerID       int32 `json:"brokerId"`
	BrokerEpoch    int64 `json:"brokerEpoch"`
	NextProducerID int64 `json:"nextProducerId"`
}

// FeatureLevelRecord finalizes a feature at a level (0 removes it).
type FeatureLevelRecord struct {
	Name  string `json:"name"`
	Level int16  `json:"featureLevel"`
}

// logStartRecord is the first record of a rewritten log.
type logStartRecord struct {
	BaseOffset int64 `json:"baseOffset"`
}

func (*logStartRecord) Type() RecordType        { return typeLogStart }
func (*TopicRecord) Type() RecordType           { return TypeTopic }
func (*PartitionRecord) Type() RecordType       { return TypePartition }
func (*PartitionChangeRecord) Type() RecordType { return TypePartitionChange }
func (*RemoveTopicRecord) Type() RecordType     { return TypeRemoveTopic }
func (*ConfigRecord) Type() RecordType          { return TypeConfig }
func (*RegisterBrokerRecord) Type() RecordType  { return TypeRegisterBroker }
func (*ProducerIdsRecord) Type() RecordType     { return TypeProducerIDs }
func (*FeatureLevelRecord) Type() RecordType    { return TypeFeatureLevel }

const recordVersion = 0

// EncodeRecord appends a record's payload (type, version, body) to dst.
func EncodeRecord(dst []byte, r Record) ([]byte, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("metadata: encode %T: %w", r, err)
	}
	dst = append(dst, byte(r.Type()), recordVersion)
	return append(dst, body...), nil
}

// DecodeRecord parses a payload written by EncodeRecord.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("metadata: record of %d bytes", len(b))
	}
	var r Record
	switch RecordType(b[0]) {
	case TypeTopic:
		r = new(TopicRecord)
	case TypePartition:
		r = new(PartitionRecord)
	case TypePartitionChange:
		r = new(PartitionChangeRecord)
	case TypeRemoveTopic:
		r = new(RemoveTopicRecord)
	case TypeConfig:
		r = new(ConfigRecord)
	case TypeRegisterBroker:
		r = new(RegisterBrokerRecord)
	case TypeProducerIDs:
		r = new(ProducerIdsRecord)
	case TypeFeatureLevel:
		r = new(FeatureLevelRecord)
	case TypeClientQuota:
		r = new(ClientQuotaRecord)
	case typeLogStart:
		r = new(logStartRecord)
	default:
		return nil, fmt.Errorf("metadata: unknown record type %d", b[0])
	}
	if b[1] != recordVersion {
		return nil, fmt.Errorf("metadata: record type %d version %d not understood", b[0], b[1])
	}
	if err := json.Unmarshal(b[2:], r); err != nil {
		return nil, fmt.Errorf("metadata: decode record type %d: %w", b[0], err)
	}
	return r, nil
}
