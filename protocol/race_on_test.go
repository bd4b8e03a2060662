//go:build race

package protocol

// raceEnabled: the race detector changes what allocations cost, so
// allocation measurements skip under it.
const raceEnabled = true
