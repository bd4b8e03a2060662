package coordinator

import "testing"

func TestPartitionForMatchesJava(t *testing.T) {
	// Java String.hashCode values: "hello" 99162322, "Aa" and "BB" 2112,
	// "my-group" -1906497762, "polygenelubricants" Integer.MIN_VALUE (which
	// Kafka's Utils.abs maps to 0).
	for key, want := range map[string]int32{
		"":                   0,
		"hello":              99162322 % 50,
		"Aa":                 2112 % 50,
		"BB":                 2112 % 50,
		"my-group":           1906497762 % 50,
		"polygenelubricants": 0,
	} {
		if got := PartitionFor(key, 50); got != want {
			t.Errorf("%q: %d, want %d", key, got, want)
		}
	}
	// Java hashes UTF-16 code units: a supplementary character counts as
	// its surrogate pair.
	if got, want := PartitionFor("𝄞", 1<<30), int32((0xD834*31+0xDD1E)%(1<<30)); got != want {
		t.Errorf("supplementary character: %d, want %d", got, want)
	}
}
