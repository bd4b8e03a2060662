package metadata

import (
	"testing"
)

func TestClientQuotasPersistAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenController(dir)
	if err != nil {
		t.Fatal(err)
	}
	alice := "alice"
	userAlice := []QuotaEntityPart{{Type: QuotaUser, Name: &alice}}
	clientDefault := []QuotaEntityPart{{Type: QuotaClientID}}
	both := []QuotaEntityPart{{Type: QuotaClientID, Name: &alice}, {Type: QuotaUser}}
	commit(t, c, []Record{
		&ClientQuotaRecord{Entity: userAlice, Key: "producer_byte_rate", Value: 1024},
		&ClientQuotaRecord{Entity: userAlice, Key: "consumer_byte_rate", Value: 2048},
		&ClientQuotaRecord{Entity: clientDefault, Key: "request_percentage", Value: 50},
		&ClientQuotaRecord{Entity: both, Key: "producer_byte_rate", Value: 10},
	})
	commit(t, c, []Record{&ClientQuotaRecord{Entity: userAlice, Key: "consumer_byte_rate", Remove: true}})
	c.Close()

	check := func(im *Image) {
		t.Helper()
		e, _ := QuotaEntityOf(userAlice)
		if q := im.ClientQuotas(e); len(q) != 1 || q["producer_byte_rate"] != 1024 {
			t.Errorf("user alice: %v", q)
		}
		e, _ = QuotaEntityOf(clientDefault)
		if q := im.ClientQuotas(e); q["request_percentage"] != 50 {
			t.Errorf("client default: %v", q)
		}
		e, _ = QuotaEntityOf(both)
		if !e.User.Default || e.ClientID.Name != "alice" || e.String() != "user=<default>,client-id=alice" {
			t.Errorf("entity %+v %s", e, e)
		}
		if q := im.ClientQuotas(e); q["producer_byte_rate"] != 10 {
			t.Errorf("user default + client alice: %v", q)
		}
		if n := len(im.AllClientQuotas()); n != 3 {
			t.Errorf("%d entities", n)
		}
	}
	c, err = OpenController(dir)
	if err != nil {
		t.Fatal(err)
	}
	check(c.Image())
	c.Close()

	// A snapshot (Records) rebuilds the same quotas.
	im, err := EmptyImage().Apply(0, c.Image().Records())
	if err != nil {
		t.Fatal(err)
	}
	check(im)

	if _, err := QuotaEntityOf([]QuotaEntityPart{{Type: "group"}}); err == nil {
		t.Error("unknown entity type accepted")
	}
	if _, err := QuotaEntityOf([]QuotaEntityPart{{Type: QuotaUser}, {Type: QuotaUser}}); err == nil {
		t.Error("duplicate entity type accepted")
	}
}
