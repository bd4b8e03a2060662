package groups

// The group members the scenarios run, one process each: sarama,
// kafka-go and confluent-kafka-go run in this test binary re-executed as a
// child (harness.Child), kafkajs in node (js/kafkajs-member.js), kcat as
// itself. Every member prints the same lines on stdout:
//
//	assignment 0,2,4          its whole current assignment (empty: none)
//	record <p> <offset> <value>
//	uncommitted <p> <offset>  the commit after processing that record failed
//
// and processes a record by printing it, then commits its offset
// synchronously, so a record is committed only once it was printed. A
// commit can fail while the group rebalances (ILLEGAL_GENERATION,
// REBALANCE_IN_PROGRESS: a cooperative member keeps consuming during a
// rebalance); the record is then processed again by whoever owns its
// partition next, as at-least-once consumers do. A
// member stops on SIGTERM: it finishes the record in hand, leaves the group
// as its client does on close, and exits 0.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/potok-io/potok/compat-tests/harness"
	kafkago "github.com/segmentio/kafka-go"
)

// memberArgs are what a child member is told.
type memberArgs struct {
	Addr, Group, Topic, Name string
	// Strategy is the assignor: "range" or "cooperative-sticky"; for
	// confluent "consumer" means group.protocol=consumer (KIP-848).
	Strategy  string
	SessionMs int
	HeartMs   int
	// Version is the protocol version sarama speaks ("" for 3.6.0).
	Version string
	// InstanceID makes the member static (KIP-345).
	InstanceID string
}

var childRoles = map[string]func() error{
	"sarama":    saramaMember,
	"kafkago":   kafkagoMember,
	"confluent": confluentMember,
}

// out prints protocol lines for the test, one whole line at a time.
var outMu sync.Mutex

func out(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

func printAssignment(parts []int32) {
	parts = slices.Clone(parts)
	slices.Sort(parts)
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = fmt.Sprint(p)
	}
	out("assignment %s", strings.Join(s, ","))
}

func sigterm() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM)
}

// saramaMember runs a sarama ConsumerGroup with the range assignor.
func saramaMember() error {
	var a memberArgs
	if err := harness.ChildArgs(&a); err != nil {
		return err
	}
	c := sarama.NewConfig()
	c.Version = sarama.V3_6_0_0
	if a.Version != "" {
		v, err := sarama.ParseKafkaVersion(a.Version)
		if err != nil {
			return err
		}
		c.Version = v
	}
	c.ClientID = a.Name
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = false
	c.Consumer.Group.Session.Timeout = time.Duration(a.SessionMs) * time.Millisecond
	c.Consumer.Group.Heartbeat.Interval = time.Duration(a.HeartMs) * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	c.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	c.Consumer.Group.InstanceId = a.InstanceID
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Retry.Backoff = 100 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{a.Addr}, a.Group, c)
	if err != nil {
		return err
	}
	go func() {
		for err := range cg.Errors() {
			fmt.Fprintf(os.Stderr, "sarama: %v\n", err)
		}
	}()
	ctx, stop := sigterm()
	defer stop()
	h := saramaHandler{topic: a.Topic}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{a.Topic}, h); err != nil {
			fmt.Fprintf(os.Stderr, "sarama Consume: %v\n", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return cg.Close()
}

type saramaHandler struct{ topic string }

func (h saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	printAssignment(s.Claims()[h.topic])
	return nil
}

func (h saramaHandler) Cleanup(sarama.ConsumerGroupSession) error {
	printAssignment(nil)
	return nil
}

// ConsumeClaim processes what the claim has, then commits it, one batch at
// a time: a commit waits behind the fetch in flight on the same
// connection (up to MaxWaitTime), so a commit per record would be slow.
func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			for ok {
				out("record %d %d %s", m.Partition, m.Offset, m.Value)
				s.MarkMessage(m, "")
				select {
				case m, ok = <-claim.Messages():
				default:
					ok = false
				}
			}
			s.Commit()
		case <-s.Context().Done():
			return nil
		}
	}
}

// kafkaGoSubscribed matches a partition in kafka-go's log line
// "subscribed to topics and partitions: map[{topic:t partition:0}:12 ...]".
var kafkaGoSubscribed = regexp.MustCompile(`partition:(\d+)\}`)

// kafkagoMember runs a kafka-go Reader with a GroupID and the range
// balancer, committing each message with CommitMessages (CommitInterval 0
// makes commits synchronous). The Reader has no callbacks; its log says
// when it joined a generation and what it was assigned, and this member
// prints that as "generation N" and its assignment.
func kafkagoMember() error {
	var a memberArgs
	if err := harness.ChildArgs(&a); err != nil {
		return err
	}
	logf := kafkago.LoggerFunc(func(f string, args ...any) { fmt.Fprintf(os.Stderr, "kafka-go: "+f+"\n", args...) })
	info := kafkago.LoggerFunc(func(f string, args ...any) {
		switch {
		case strings.HasPrefix(f, "joined group") && len(args) == 3:
			out("generation %v", args[2])
		case strings.HasPrefix(f, "subscribed to topics and partitions"):
			var parts []int32
			for _, m := range kafkaGoSubscribed.FindAllStringSubmatch(fmt.Sprintf(f, args...), -1) {
				p, _ := strconv.Atoi(m[1])
				parts = append(parts, int32(p))
			}
			printAssignment(parts)
		}
	})
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: []string{a.Addr}, GroupID: a.Group, Topic: a.Topic,
		Dialer:            &kafkago.Dialer{ClientID: a.Name, Timeout: 10 * time.Second},
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: time.Duration(a.HeartMs) * time.Millisecond,
		SessionTimeout:    time.Duration(a.SessionMs) * time.Millisecond,
		RebalanceTimeout:  5 * time.Second,
		JoinGroupBackoff:  100 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    100 * time.Millisecond,
		StartOffset:       kafkago.FirstOffset,
		GroupBalancers:    []kafkago.GroupBalancer{kafkago.RangeGroupBalancer{}},
		ErrorLogger:       logf,
		Logger:            info,
	})
	ctx, stop := sigterm()
	defer stop()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fmt.Fprintf(os.Stderr, "kafka-go FetchMessage: %v\n", err)
			continue
		}
		out("record %d %d %s", m.Partition, m.Offset, m.Value)
		// Commit even when SIGTERM came meanwhile: the record is
		// processed.
		if err := r.CommitMessages(context.Background(), m); err != nil {
			fmt.Fprintf(os.Stderr, "kafka-go CommitMessages: %v\n", err)
			out("uncommitted %d %d", m.Partition, m.Offset)
		}
	}
	return r.Close()
}

// confluentMember runs a confluent-kafka-go consumer that subscribes:
// the classic protocol with the range or cooperative-sticky assignor, or
// group.protocol=consumer (KIP-848).
func confluentMember() error {
	var a memberArgs
	if err := harness.ChildArgs(&a); err != nil {
		return err
	}
	cfg := kafka.ConfigMap{
		"bootstrap.servers":  a.Addr,
		"group.id":           a.Group,
		"client.id":          a.Name,
		"auto.offset.reset":  "earliest",
		"enable.auto.commit": false,
		"fetch.wait.max.ms":  100,
	}
	if d := os.Getenv("POTOK_RDKAFKA_DEBUG"); d != "" {
		cfg["debug"] = d // e.g. cgrp,fetch,topic; goes to stderr
	}
	if a.InstanceID != "" {
		cfg["group.instance.id"] = a.InstanceID
	}
	if a.Strategy == "consumer" {
		cfg["group.protocol"] = "consumer"
	} else {
		cfg["partition.assignment.strategy"] = a.Strategy
		cfg["session.timeout.ms"] = a.SessionMs
		cfg["heartbeat.interval.ms"] = a.HeartMs
	}
	c, err := kafka.NewConsumer(&cfg)
	if err != nil {
		return err
	}
	var owned []int32
	rebalance := func(c *kafka.Consumer, ev kafka.Event) error {
		incremental := c.GetRebalanceProtocol() == "COOPERATIVE"
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			var err error
			if incremental {
				err = c.IncrementalAssign(e.Partitions)
			} else {
				owned = nil
				err = c.Assign(e.Partitions)
			}
			for _, tp := range e.Partitions {
				owned = append(owned, tp.Partition)
			}
			printAssignment(owned)
			return err
		case kafka.RevokedPartitions:
			var err error
			if incremental {
				err = c.IncrementalUnassign(e.Partitions)
				owned = slices.DeleteFunc(owned, func(p int32) bool {
					return slices.ContainsFunc(e.Partitions, func(tp kafka.TopicPartition) bool { return tp.Partition == p })
				})
			} else {
				err = c.Unassign()
				owned = nil
			}
			printAssignment(owned)
			return err
		}
		return nil
	}
	if err := c.SubscribeTopics([]string{a.Topic}, rebalance); err != nil {
		return err
	}
	ctx, stop := sigterm()
	defer stop()
	for ctx.Err() == nil {
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				fmt.Fprintf(os.Stderr, "confluent: %v\n", e.TopicPartition.Error)
				continue
			}
			if !slices.Contains(owned, e.TopicPartition.Partition) {
				// librdkafka (2.11.1) can deliver a record of a
				// partition revoked while its start offset was being
				// looked up: the stale ListOffsets reply restarts the
				// lookup, and the resume that follows the revoke bumped
				// the version the reply is checked against. The member
				// neither processes nor commits such a record (committing
				// it could move the new owner's offset back).
				out("stray %d %d", e.TopicPartition.Partition, e.TopicPartition.Offset)
				continue
			}
			out("record %d %d %s", e.TopicPartition.Partition, e.TopicPartition.Offset, e.Value)
			if _, err := c.CommitMessage(e); err != nil {
				fmt.Fprintf(os.Stderr, "confluent CommitMessage: %v\n", err)
				out("uncommitted %d %d", e.TopicPartition.Partition, e.TopicPartition.Offset)
			}
		case kafka.Error:
			fmt.Fprintf(os.Stderr, "confluent: %v\n", e)
			if e.IsFatal() {
				return e
			}
		}
	}
	err = c.Close()
	var kerr kafka.Error
	if errors.As(err, &kerr) && kerr.Code() == kafka.ErrNoError {
		return nil
	}
	return err
}
