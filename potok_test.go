package potok_test

import (
	"context"
	"testing"
	"time"

	"github.com/potok-io/potok"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestEmbeddedBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := potok.Start(ctx, potok.Config{Settings: map[string]string{"num.partitions": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("embedded"), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics("embedded"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollFetches(ctx)
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "hello" {
		t.Fatalf("read back %v (%v)", recs, fs.Errors())
	}
}

func TestEmbeddedBrokerBadSetting(t *testing.T) {
	_, err := potok.Start(context.Background(), potok.Config{Settings: map[string]string{"num.partitions": "zero"}})
	if err == nil {
		t.Fatal("a bad setting started a broker")
	}
}
